/* Child processes and network namespaces; see procs.h. */
#define _GNU_SOURCE

#include "procs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "records.h"

bool rel_child_start(rel_child_t *child, const char *name, char *const argv[], bool pipe_stdin,
                     const char *output_path)
{
    memset(child, 0, sizeof(*child));
    snprintf(child->name, sizeof(child->name), "%s", name);
    child->out_fd = -1;
    child->in_fd = -1;
    child->pid = -1;

    int out[2] = {-1, -1};
    int in[2] = {-1, -1};
    int output = -1;
    if (output_path != NULL) {
        output = open(output_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    } else if (pipe2(out, O_CLOEXEC) == 0) {
        output = out[1];
    }
    int input = -1;
    if (pipe_stdin && pipe2(in, O_CLOEXEC) == 0) {
        input = in[0];
    } else if (!pipe_stdin) {
        input = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (output < 0 || input < 0) {
        printf("# cannot make the pipes for %s: %s\n", name, strerror(errno));
        return false;
    }

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        printf("# cannot fork for %s: %s\n", name, strerror(errno));
        return false;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls until exec: the test process runs libzmq threads. */
        dup2(output, STDOUT_FILENO);
        dup2(input, STDIN_FILENO);
        execvp(argv[0], argv);
        _exit(127);
    }
    child->pid = pid;
    if (output_path != NULL) {
        close(output);
    } else {
        close(out[1]);
        child->out_fd = out[0];
        fcntl(child->out_fd, F_SETFL, O_NONBLOCK);
    }
    if (pipe_stdin) {
        close(in[0]);
        child->in_fd = in[1];
    } else {
        close(input);
    }
    return true;
}

static void keep_line(rel_child_t *child, const char *line)
{
    if (child->line_count == child->line_cap) {
        size_t cap = child->line_cap ? child->line_cap * 2 : 64;
        char **lines = realloc(child->lines, cap * sizeof(*lines));
        bool *consumed = realloc(child->consumed, cap * sizeof(*consumed));
        if (lines != NULL) {
            child->lines = lines;
        }
        if (consumed != NULL) {
            child->consumed = consumed;
        }
        if (lines == NULL || consumed == NULL) {
            return;
        }
        child->line_cap = cap;
    }
    char *copy = strdup(line);
    if (copy == NULL) {
        return;
    }
    child->lines[child->line_count] = copy;
    child->consumed[child->line_count] = false;
    child->line_count++;
    if (!child->quiet) {
        printf("# [%s] %s\n", child->name, line);
    }
}

void rel_child_read(rel_child_t *child, int timeout_ms)
{
    rel_child_read_limited(child, timeout_ms, SIZE_MAX);
}

void rel_child_read_limited(rel_child_t *child, int timeout_ms, size_t max_bytes)
{
    if (child->out_fd < 0 || child->eof) {
        return;
    }
    struct pollfd pfd = {.fd = child->out_fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) <= 0) {
        return;
    }
    size_t total = 0;
    while (total < max_bytes) {
        size_t room = sizeof(child->partial) - 1 - child->partial_used;
        if (room > max_bytes - total) {
            room = max_bytes - total;
        }
        ssize_t n = read(child->out_fd, child->partial + child->partial_used, room);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return; /* EAGAIN: nothing more for now */
        }
        if (n == 0) {
            child->eof = true;
            return;
        }
        child->partial_used += (size_t)n;
        total += (size_t)n;
        child->partial[child->partial_used] = '\0';
        char *start = child->partial;
        char *newline;
        while ((newline = strchr(start, '\n')) != NULL) {
            *newline = '\0';
            keep_line(child, start);
            start = newline + 1;
        }
        size_t rest = child->partial_used - (size_t)(start - child->partial);
        memmove(child->partial, start, rest);
        child->partial_used = rest;
        if (child->partial_used == sizeof(child->partial) - 1) {
            child->partial[child->partial_used] = '\0';
            keep_line(child, child->partial); /* an overlong line, kept in pieces */
            child->partial_used = 0;
        }
    }
}

bool rel_child_wait_line(rel_child_t *child, const char *prefix, int timeout_ms, char *line,
                         size_t size)
{
    int64_t deadline = rel_now_ms() + timeout_ms;
    size_t length = strlen(prefix);
    rel_child_read(child, 0);
    for (;;) {
        for (size_t i = 0; i < child->line_count; i++) {
            if (!child->consumed[i] && strncmp(child->lines[i], prefix, length) == 0) {
                child->consumed[i] = true;
                if (line != NULL) {
                    snprintf(line, size, "%s", child->lines[i]);
                }
                return true;
            }
        }
        int64_t left = deadline - rel_now_ms();
        if (left <= 0 || child->eof || child->out_fd < 0) {
            return false;
        }
        rel_child_read(child, left < 100 ? (int)left : 100);
    }
}

bool rel_child_exited(rel_child_t *child)
{
    if (child->reaped) {
        return true;
    }
    if (child->pid <= 0) {
        return true;
    }
    pid_t pid = waitpid(child->pid, &child->status, WNOHANG);
    if (pid == child->pid) {
        child->reaped = true;
    }
    return child->reaped;
}

bool rel_child_wait_exit(rel_child_t *child, int timeout_ms, int *status_p)
{
    int64_t deadline = rel_now_ms() + timeout_ms;
    while (!rel_child_exited(child)) {
        if (rel_now_ms() >= deadline) {
            return false;
        }
        if (child->out_fd >= 0 && !child->eof) {
            rel_child_read(child, 20); /* keeps the pipe from filling while waiting */
        } else {
            struct timespec pause = {0, 5 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    if (child->out_fd >= 0) {
        rel_child_read(child, 0);
    }
    if (status_p != NULL) {
        *status_p = child->status;
    }
    return true;
}

void rel_child_signal(rel_child_t *child, int signal_number)
{
    if (child->pid > 0 && !child->reaped) {
        kill(child->pid, signal_number);
    }
}

void rel_child_cleanup(rel_child_t *child)
{
    if (child->pid > 0 && !rel_child_exited(child)) {
        kill(child->pid, SIGKILL);
        waitpid(child->pid, &child->status, 0);
        child->reaped = true;
    }
    if (child->out_fd >= 0) {
        close(child->out_fd);
        child->out_fd = -1;
    }
    if (child->in_fd >= 0) {
        close(child->in_fd);
        child->in_fd = -1;
    }
    for (size_t i = 0; i < child->line_count; i++) {
        free(child->lines[i]);
    }
    free(child->lines);
    free(child->consumed);
    child->lines = NULL;
    child->consumed = NULL;
    child->line_count = child->line_cap = 0;
}

/* ---- network namespaces ---- */

/* Runs an ip(8) command given as a printf format; returns true when it exits with 0. */
static bool run_ip(const char *format, ...) __attribute__((format(printf, 1, 2)));

static bool run_ip(const char *format, ...)
{
    char command[512];
    va_list args;
    va_start(args, format);
    vsnprintf(command, sizeof(command), format, args);
    va_end(args);
    char full[600];
    snprintf(full, sizeof(full), "ip %s 2>&1", command);
    FILE *pipe = popen(full, "r");
    if (pipe == NULL) {
        return false;
    }
    char output[256];
    while (fgets(output, sizeof(output), pipe) != NULL) {
        printf("# ip %s: %s", command, output);
    }
    int status = pclose(pipe);
    return status == 0;
}

int rel_netns_create(rel_netns_t *netns)
{
    memset(netns, 0, sizeof(*netns));
    if (geteuid() != 0) {
        printf("# skipping: network namespaces need root, and this test runs as uid %d\n",
               (int)geteuid());
        return 77;
    }
    int id = (int)(getpid() % 100000);
    snprintf(netns->ns_a, sizeof(netns->ns_a), "ncrel-a-%d", id);
    snprintf(netns->ns_b, sizeof(netns->ns_b), "ncrel-b-%d", id);
    snprintf(netns->veth_a, sizeof(netns->veth_a), "ncra%d", id);
    snprintf(netns->veth_b, sizeof(netns->veth_b), "ncrb%d", id);
    /* 198.18.0.0/15 is reserved for network benchmark tests (RFC 2544); the two addresses
     * exist only inside these namespaces, which have no other link. */
    snprintf(netns->addr_a, sizeof(netns->addr_a), "198.18.0.1");
    snprintf(netns->addr_b, sizeof(netns->addr_b), "198.18.0.2");

    if (!run_ip("netns add %s", netns->ns_a)) {
        printf("# skipping: 'ip netns add' failed, so network namespaces are not available\n");
        return 77;
    }
    netns->created = true;
    if (!run_ip("netns add %s", netns->ns_b) ||
        !run_ip("-n %s link add %s type veth peer name %s netns %s", netns->ns_a, netns->veth_a,
                netns->veth_b, netns->ns_b) ||
        !run_ip("-n %s addr add %s/30 dev %s", netns->ns_a, netns->addr_a, netns->veth_a) ||
        !run_ip("-n %s addr add %s/30 dev %s", netns->ns_b, netns->addr_b, netns->veth_b) ||
        !run_ip("-n %s link set lo up", netns->ns_a) ||
        !run_ip("-n %s link set lo up", netns->ns_b) ||
        !run_ip("-n %s link set %s up", netns->ns_a, netns->veth_a) ||
        !run_ip("-n %s link set %s up", netns->ns_b, netns->veth_b)) {
        printf("# setting up the namespaces failed\n");
        rel_netns_destroy(netns);
        return 1;
    }
    return 0;
}

bool rel_netns_set_link(rel_netns_t *netns, bool up)
{
    return run_ip("-n %s link set %s %s", netns->ns_a, netns->veth_a, up ? "up" : "down");
}

void rel_netns_exec_prefix(const rel_netns_t *netns, char which, char **argv)
{
    argv[0] = "ip";
    argv[1] = "netns";
    argv[2] = "exec";
    argv[3] = (char *)(which == 'a' ? netns->ns_a : netns->ns_b);
}

void rel_netns_destroy(rel_netns_t *netns)
{
    if (!netns->created) {
        return;
    }
    (void)run_ip("netns del %s", netns->ns_a); /* deleting a's end removes the veth pair */
    (void)run_ip("netns del %s", netns->ns_b);
    netns->created = false;
}
