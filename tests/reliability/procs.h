/* Child processes and network namespaces for the reliability scenarios.
 *
 * A child's stdout comes back to the test through a pipe, line by line; every wait on a child
 * has a bound. Namespaces: two network namespaces joined by a veth pair act as two hosts whose
 * link the test takes down and brings back. They need root and iproute2. */
#ifndef NETCHAN_REL_PROCS_H
#define NETCHAN_REL_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct rel_child {
    char name[32];
    pid_t pid;
    int out_fd; /* read end of the child's stdout, or -1 */
    int in_fd;  /* write end of the child's stdin, or -1 */
    char partial[8192];
    size_t partial_used;
    char **lines;
    bool *consumed;
    size_t line_count;
    size_t line_cap;
    bool eof;
    bool reaped;
    int status;
    bool quiet; /* set after rel_child_start() to stop echoing its lines as TAP comments */
} rel_child_t;

/* Starts argv[0] (searched in PATH) with argv. Its stdout comes back through a pipe unless
 * output_path names a file to write it to; its stdin is a pipe when pipe_stdin, else
 * /dev/null. Prints the reason and returns false on failure. */
bool rel_child_start(rel_child_t *child, const char *name, char *const argv[], bool pipe_stdin,
                     const char *output_path);

/* Waits up to timeout_ms for a line that starts with prefix and was not returned before; copies
 * it into line. Returns false on timeout or when the child's output ended first. */
bool rel_child_wait_line(rel_child_t *child, const char *prefix, int timeout_ms, char *line,
                         size_t size);

/* Reads what the child printed, waiting up to timeout_ms for the first bytes. */
void rel_child_read(rel_child_t *child, int timeout_ms);

/* As rel_child_read(), but reads at most max_bytes, to make a slow reader. */
void rel_child_read_limited(rel_child_t *child, int timeout_ms, size_t max_bytes);

/* Returns true when the child has exited, reaping it without waiting. */
bool rel_child_exited(rel_child_t *child);

/* Waits up to timeout_ms for the child to exit; stores its wait status. */
bool rel_child_wait_exit(rel_child_t *child, int timeout_ms, int *status_p);

void rel_child_signal(rel_child_t *child, int signal_number);

/* Kills the child if it still runs, reaps it and frees what it holds. */
void rel_child_cleanup(rel_child_t *child);

/* Two namespaces joined by a veth pair: host a (address addr_a) and host b (addr_b). */
typedef struct rel_netns {
    char ns_a[32];
    char ns_b[32];
    char veth_a[16];
    char veth_b[16];
    char addr_a[32];
    char addr_b[32];
    bool created;
} rel_netns_t;

/* Creates the namespaces and the link, up. Returns 0, or 77 (skip) with the reason printed
 * when the test does not run as root or iproute2 cannot create them, or 1 on a later failure. */
int rel_netns_create(rel_netns_t *netns);

/* Takes host a's end of the link down or brings it back up. While it is down, host a has no
 * route to host b. Host b still routes to host a, but its packets are dropped for lack of
 * carrier, so b's connection attempts wait for SYN retransmissions as across a pulled cable. */
bool rel_netns_set_link(rel_netns_t *netns, bool up);

/* Writes the argv prefix that runs a command in host a or b: "ip netns exec NAME". */
void rel_netns_exec_prefix(const rel_netns_t *netns, char which, char **argv);

void rel_netns_destroy(rel_netns_t *netns);

#endif
