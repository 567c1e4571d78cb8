/* Helpers shared by the feature tests. Child processes run this test program again in a child
 * role, as an importer or an exporter that the parent kills, freezes or replaces. Further
 * helpers wait for events of one type and collect log lines.
 *
 * A child is forked and execs /proc/self/exe at once, because a forked copy of a process with
 * running libzmq threads cannot use libzmq. Each test program passes its argv to
 * features_child_main() first; it runs the child role named there and never returns. */
#ifndef NETCHAN_FEATURE_SUPPORT_H
#define NETCHAN_FEATURE_SUPPORT_H

#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

extern char **environ;

/* Records a failure and jumps to the test's cleanup label `out`, for conditions after which
 * the test cannot go on but must still release what it made. */
#define ENSURE(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("# %s:%d: requirement failed: %s\n", __FILE__, __LINE__, #cond);                \
            harness_current_failures++;                                                            \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* ---- child processes ---- */

typedef struct child {
    pid_t pid;
    int output; /* read end of the child's stdout (and stderr, when captured) */
    int input;  /* write end of the child's stdin */
    char pending[4096];
    size_t used;
} child_t;

#define CHILD_INIT                                                                                 \
    {                                                                                              \
        0, -1, -1, {0}, 0                                                                          \
    }

/* Starts this program as a child with the given arguments (NULL-terminated, without the program
 * name). With capture_stderr the child's stderr joins its stdout pipe. With clean_environment
 * the child runs without NETCHAN_TEST_LOG, so that the library stays silent in it. */
static inline bool child_start_with(child_t *child, const char *const *args, bool capture_stderr,
                                    bool clean_environment)
{
    char *argv[16];
    size_t argc = 0;
    argv[argc++] = "feature-child";
    for (size_t i = 0; args[i] != NULL && argc < 15; i++) {
        argv[argc++] = (char *)args[i];
    }
    argv[argc] = NULL;

    /* The environment is built before fork, because only async-signal-safe calls may follow
     * it in the child. */
    size_t env_count = 0;
    while (environ[env_count] != NULL) {
        env_count++;
    }
    char **envp = calloc(env_count + 1, sizeof(*envp));
    if (envp == NULL) {
        return false;
    }
    size_t env_used = 0;
    for (size_t i = 0; i < env_count; i++) {
        if (!clean_environment || strncmp(environ[i], "NETCHAN_TEST_LOG=", 17) != 0) {
            envp[env_used++] = environ[i];
        }
    }

    int out_fds[2];
    int in_fds[2];
    if (pipe(out_fds) != 0) {
        free(envp);
        return false;
    }
    if (pipe(in_fds) != 0) {
        close(out_fds[0]);
        close(out_fds[1]);
        free(envp);
        return false;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(out_fds[0]);
        close(out_fds[1]);
        close(in_fds[0]);
        close(in_fds[1]);
        free(envp);
        return false;
    }
    if (pid == 0) {
        dup2(out_fds[1], STDOUT_FILENO);
        if (capture_stderr) {
            dup2(out_fds[1], STDERR_FILENO);
        }
        dup2(in_fds[0], STDIN_FILENO);
        close(out_fds[0]);
        close(out_fds[1]);
        close(in_fds[0]);
        close(in_fds[1]);
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    free(envp);
    close(out_fds[1]);
    close(in_fds[0]);
    child->pid = pid;
    child->output = out_fds[0];
    child->input = in_fds[1];
    child->used = 0;
    return true;
}

static inline bool child_start(child_t *child, const char *const *args)
{
    return child_start_with(child, args, false, false);
}

/* Reads the child's output until a line that starts with prefix, and copies the rest of that
 * line into rest (may be NULL). Lines before it are skipped; a line starting with "failed"
 * ends the wait. Returns false after timeout_ms or at the end of the output. */
static inline bool child_expect_line(child_t *child, const char *prefix, char *rest,
                                     size_t rest_size, int timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    for (;;) {
        char *newline = memchr(child->pending, '\n', child->used);
        while (newline != NULL) {
            *newline = '\0';
            bool match = strncmp(child->pending, prefix, strlen(prefix)) == 0;
            bool failed = strncmp(child->pending, "failed", 6) == 0;
            if (match && rest != NULL) {
                snprintf(rest, rest_size, "%s", child->pending + strlen(prefix));
            }
            if (failed) {
                printf("# the child reported: %s\n", child->pending);
            }
            size_t consumed = (size_t)(newline - child->pending) + 1;
            memmove(child->pending, newline + 1, child->used - consumed);
            child->used -= consumed;
            if (match) {
                return true;
            }
            if (failed) {
                return false;
            }
            newline = memchr(child->pending, '\n', child->used);
        }
        int left = (int)(deadline - harness_now_ms());
        if (left <= 0 || child->used == sizeof(child->pending)) {
            printf("# no line starting with '%s' from the child\n", prefix);
            return false;
        }
        struct pollfd fd = {child->output, POLLIN, 0};
        if (poll(&fd, 1, left) <= 0) {
            continue;
        }
        ssize_t n =
            read(child->output, child->pending + child->used, sizeof(child->pending) - child->used);
        if (n <= 0) {
            printf("# the child's output ended before a line starting with '%s'\n", prefix);
            return false;
        }
        child->used += (size_t)n;
    }
}

/* Reads everything the child writes until it closes its output or timeout_ms passes, into
 * buffer (NUL-terminated, truncated to size). Returns the number of bytes the child wrote. */
static inline size_t child_read_all(child_t *child, char *buffer, size_t size, int timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    size_t total = child->used;
    size_t stored = child->used < size - 1 ? child->used : size - 1;
    memcpy(buffer, child->pending, stored);
    child->used = 0;
    for (;;) {
        int left = (int)(deadline - harness_now_ms());
        if (left <= 0) {
            break;
        }
        struct pollfd fd = {child->output, POLLIN, 0};
        if (poll(&fd, 1, left) <= 0) {
            continue;
        }
        char chunk[1024];
        ssize_t n = read(child->output, chunk, sizeof(chunk));
        if (n <= 0) {
            break;
        }
        total += (size_t)n;
        size_t room = size - 1 - stored;
        size_t copy = (size_t)n < room ? (size_t)n : room;
        memcpy(buffer + stored, chunk, copy);
        stored += copy;
    }
    buffer[stored] = '\0';
    return total;
}

/* Waits up to timeout_ms for the child to exit and returns its wait status, or -1. */
static inline int child_wait_exit(child_t *child, int timeout_ms)
{
    int status = -1;
    bool exited = WAIT_UNTIL(waitpid(child->pid, &status, WNOHANG) == child->pid, timeout_ms);
    if (!exited) {
        return -1;
    }
    child->pid = 0;
    return status;
}

/* Kills the child (if still running), reaps it and closes its pipes. */
static inline void child_stop(child_t *child)
{
    if (child->pid > 0) {
        kill(child->pid, SIGKILL);
        waitpid(child->pid, NULL, 0);
        child->pid = 0;
    }
    if (child->output >= 0) {
        close(child->output);
        child->output = -1;
    }
    if (child->input >= 0) {
        close(child->input);
        child->input = -1;
    }
}

/* ---- child roles ---- */

/* Reports a failure in a child and exits. */
static inline void child_fail(const char *what)
{
    printf("failed %s\n", what);
    fflush(stdout);
    _exit(2);
}

/* The child importer: imports channel from endpoint with explicit acknowledgement and the
 * given capacity, takes `take` Points (checking x from 1) and acknowledges the first `ack` of
 * them. Once the exporter confirmed those acknowledgements and the capacity is full (taken but
 * unacknowledged values plus a full inbox), it prints "ready" and waits to be killed or frozen.
 * The parent must send at least ack + capacity values. */
static inline _Noreturn void child_importer_main(const char *endpoint, const char *channel,
                                                 int capacity, int take, int ack)
{
    alarm(60); /* ends the child if the parent never does */
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in = importer != NULL ? import_points_with(importer, channel, NETCHAN_RECV,
                                                               (uint32_t)capacity, true)
                                          : NULL;
    if (in == NULL) {
        child_fail("import");
    }
    for (int i = 0; i < take; i++) {
        netchan_msg_t *msg = NULL;
        int x = 0;
        if (recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, NULL) != NETCHAN_OK || x != i + 1) {
            child_fail("receive");
        }
        if (i < ack && netchan_msg_ack(msg) != NETCHAN_OK) {
            child_fail("ack");
        }
        netchan_msg_destroy(&msg);
    }
    uint64_t inbox = (uint64_t)(capacity - (take - ack));
    if (netchan_drain(in, DRAIN_TIMEOUT_MS, NULL) != NETCHAN_OK ||
        !WAIT_UNTIL(netchan_pending(in) == inbox, 5000)) {
        child_fail("waiting for a full inbox");
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        pause();
    }
}

/* The child exporter: binds bind_to, exports a Point send channel named channel with capacity
 * 64, prints "endpoint <resolved endpoint>", then sends the next N Points (x = 1, 2, ...) for each
 * line "send N" on its stdin. It ends gracefully when its stdin closes, unless killed first. */
static inline int child_exporter_main(const char *bind_to, const char *channel)
{
    alarm(60);
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter_at(bind_to, endpoint);
    netchan_chan_t *out =
        exporter != NULL ? export_points(exporter, channel, NETCHAN_SEND, 64) : NULL;
    if (out == NULL) {
        child_fail("export");
    }
    printf("endpoint %s\n", endpoint);
    fflush(stdout);
    char line[64];
    size_t used = 0;
    int next = 1;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, line + used, sizeof(line) - 1 - used);
        if (n <= 0) {
            break;
        }
        used += (size_t)n;
        line[used] = '\0';
        char *newline = strchr(line, '\n');
        if (newline == NULL) {
            continue;
        }
        int count = 0;
        if (sscanf(line, "send %d", &count) == 1 &&
            send_points(out, next, next + count - 1, 0) == NETCHAN_OK) {
            next += count;
        }
        used = 0;
    }
    netchan_exporter_destroy(&exporter);
    return 0;
}

/* Runs the child role named by argv[1] and exits, or returns when argv names none. */
static inline void features_child_main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "--child-importer") == 0) {
        child_importer_main(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    }
    if (argc == 4 && strcmp(argv[1], "--child-exporter") == 0) {
        exit(child_exporter_main(argv[2], argv[3]));
    }
}

/* Starts a child importer (see child_importer_main) and waits until it is ready. */
static inline bool start_child_importer(child_t *child, const char *endpoint, const char *channel,
                                        int capacity, int take, int ack)
{
    char capacity_text[16];
    char take_text[16];
    char ack_text[16];
    snprintf(capacity_text, sizeof(capacity_text), "%d", capacity);
    snprintf(take_text, sizeof(take_text), "%d", take);
    snprintf(ack_text, sizeof(ack_text), "%d", ack);
    const char *args[] = {"--child-importer", endpoint, channel, capacity_text,
                          take_text,          ack_text, NULL};
    if (!child_start(child, args)) {
        printf("# starting the child importer failed\n");
        return false;
    }
    return child_expect_line(child, "ready", NULL, 0, 15000);
}

/* Starts a child exporter bound to bind_to and copies its resolved endpoint into endpoint. */
static inline bool start_child_exporter(child_t *child, const char *bind_to, const char *channel,
                                        char *endpoint)
{
    const char *args[] = {"--child-exporter", bind_to, channel, NULL};
    if (!child_start(child, args)) {
        printf("# starting the child exporter failed\n");
        return false;
    }
    return child_expect_line(child, "endpoint ", endpoint, ENDPOINT_SIZE, 15000);
}

/* ---- descriptors and events ---- */

/* Returns true when fd becomes readable within timeout_ms. */
static inline bool fd_readable(int fd, int timeout_ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN) != 0;
}

static inline netchan_err next_exporter_event(void *handle, int timeout_ms,
                                              netchan_event_t **event_p)
{
    return netchan_exporter_next_event(handle, timeout_ms, event_p);
}

static inline netchan_err next_importer_event(void *handle, int timeout_ms,
                                              netchan_event_t **event_p)
{
    return netchan_importer_next_event(handle, timeout_ms, event_p);
}

typedef netchan_err (*next_event_fn)(void *handle, int timeout_ms, netchan_event_t **event_p);

static inline void print_event(const char *side, const netchan_event_t *event)
{
    printf("# %s event: %s, reason %s, peer '%s', address '%s', channel '%s', count %" PRIu64 "\n",
           side, netchan_event_type_name(netchan_event_type_of(event)),
           netchan_event_reason_name(netchan_event_reason_of(event)), netchan_event_peer(event),
           netchan_event_address(event), netchan_event_channel(event), netchan_event_count(event));
}

/* Takes events until one of type arrives and returns it, or NULL after timeout_ms. Events of
 * other types are printed as TAP comments and released. */
static inline netchan_event_t *wait_event(next_event_fn next, void *handle, netchan_event_type type,
                                          int timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    const char *side = next == next_exporter_event ? "exporter" : "importer";
    for (;;) {
        int left = (int)(deadline - harness_now_ms());
        netchan_event_t *event = NULL;
        if (next(handle, left > 0 ? left : 0, &event) != NETCHAN_OK) {
            printf("# no %s event of type %s within %d ms\n", side, netchan_event_type_name(type),
                   timeout_ms);
            return NULL;
        }
        print_event(side, event);
        if (netchan_event_type_of(event) == type) {
            return event;
        }
        netchan_event_destroy(&event);
    }
}

/* Returns true when text is count lowercase hex digits. */
static inline bool is_hex(const char *text, size_t count)
{
    if (strlen(text) != count) {
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* ---- logging ---- */

/* Lines collected by collect_log(), guarded by mu because engine threads log concurrently.
 * Initialise with LOG_LINES_INIT. */
typedef struct log_lines {
    pthread_mutex_t mu;
    char **lines;
    size_t count;
    size_t cap;
} log_lines_t;

#define LOG_LINES_INIT                                                                             \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0                                                      \
    }

static inline void collect_log(netchan_log_level level, const char *message, void *user)
{
    log_lines_t *log = user;
    char line[600];
    snprintf(line, sizeof(line), "%s: %s", netchan_log_level_name(level), message);
    pthread_mutex_lock(&log->mu);
    if (log->count == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 64;
        char **lines = realloc(log->lines, cap * sizeof(*lines));
        if (lines != NULL) {
            log->lines = lines;
            log->cap = cap;
        }
    }
    if (log->count < log->cap) {
        log->lines[log->count] = strdup(line);
        if (log->lines[log->count] != NULL) {
            log->count++;
        }
    }
    pthread_mutex_unlock(&log->mu);
}

static inline size_t log_count(log_lines_t *log)
{
    pthread_mutex_lock(&log->mu);
    size_t count = log->count;
    pthread_mutex_unlock(&log->mu);
    return count;
}

/* Returns the index of the first line from index `from` on that contains every non-NULL
 * needle, or -1. */
static inline long log_find(log_lines_t *log, size_t from, const char *a, const char *b,
                            const char *c)
{
    long found = -1;
    pthread_mutex_lock(&log->mu);
    for (size_t i = from; i < log->count && found < 0; i++) {
        const char *line = log->lines[i];
        if ((a == NULL || strstr(line, a) != NULL) && (b == NULL || strstr(line, b) != NULL) &&
            (c == NULL || strstr(line, c) != NULL)) {
            found = (long)i;
        }
    }
    pthread_mutex_unlock(&log->mu);
    return found;
}

/* Prints lines from index `from` on as TAP comments. */
static inline void log_print(log_lines_t *log, size_t from)
{
    pthread_mutex_lock(&log->mu);
    for (size_t i = from; i < log->count; i++) {
        printf("# log %zu: %s\n", i, log->lines[i]);
    }
    pthread_mutex_unlock(&log->mu);
}

static inline void log_clear(log_lines_t *log)
{
    pthread_mutex_lock(&log->mu);
    for (size_t i = 0; i < log->count; i++) {
        free(log->lines[i]);
    }
    free(log->lines);
    log->lines = NULL;
    log->count = 0;
    log->cap = 0;
    pthread_mutex_unlock(&log->mu);
}

/* Restores the log printer that NETCHAN_TEST_LOG selects, or silence, after a logging test
 * replaced the handler. */
static inline void restore_test_log(void)
{
    netchan_set_log_handler(NULL, NETCHAN_LOG_ERROR, NULL);
    fixture_setup_log();
}

#endif
