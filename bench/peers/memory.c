/* The memory workload: peak resident memory while values queue up for a slow receiver.
 *
 * This process sets up the sending side only and starts a receiving child process, which takes
 * its first value, prints "ready" and then takes one value per config->interval_ms. Once the
 * child is ready, this process notes its own resident size (VmRSS) and, for a broker, resets the
 * broker's peak (writing 5 to /proc/PID/clear_refs) and notes its resident size too. It then sends
 * config->memory_values values as fast as the system accepts them, flushes, and reads the peaks
 * (VmHWM). Memory of the receiving child is not counted. */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peers.h"

extern char **environ;

/* Time the sending side gets after the flush, for engine threads to finish their queues. */
#define SETTLE_MS 200

typedef struct process_memory {
    long rss_kb; /* VmRSS */
    long hwm_kb; /* VmHWM, the peak of VmRSS */
} process_memory_t;

/* Reads VmRSS and VmHWM of process pid (0: this process). Returns false when it cannot. */
static bool read_memory(pid_t pid, process_memory_t *memory)
{
    char path[64];
    if (pid == 0) {
        snprintf(path, sizeof(path), "/proc/self/status");
    } else {
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    }
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return false;
    }
    char line[256];
    memory->rss_kb = -1;
    memory->hwm_kb = -1;
    while (fgets(line, sizeof(line), file) != NULL) {
        sscanf(line, "VmRSS: %ld kB", &memory->rss_kb);
        sscanf(line, "VmHWM: %ld kB", &memory->hwm_kb);
    }
    fclose(file);
    return memory->rss_kb >= 0 && memory->hwm_kb >= 0;
}

/* Resets the peak resident size of pid to its current size (Linux 4.0 and later). */
static bool reset_peak(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
    FILE *file = fopen(path, "w");
    if (file == NULL) {
        return false;
    }
    bool ok = fputs("5", file) >= 0;
    return fclose(file) == 0 && ok;
}

/* Starts the receiving child with its stdout on a pipe. Returns its pid, or -1. */
static pid_t spawn_receiver(const system_ops_t *ops, const config_t *config, const char *endpoint,
                            int *stdout_fd)
{
    char size[32];
    char interval[32];
    char redis[ENDPOINT_SIZE + 16];
    snprintf(size, sizeof(size), "%zu", config->size);
    snprintf(interval, sizeof(interval), "%d", config->interval_ms);
    const char *argv[20] = {"/proc/self/exe"};
    int argc = 1;
    argv[argc++] = "--system";
    argv[argc++] = ops->name;
    argv[argc++] = "--workload";
    argv[argc++] = "memory-receiver";
    argv[argc++] = "--endpoint";
    argv[argc++] = endpoint;
    argv[argc++] = "--size";
    argv[argc++] = size;
    argv[argc++] = "--interval-ms";
    argv[argc++] = interval;
    if (config->nats_url != NULL) {
        argv[argc++] = "--nats";
        argv[argc++] = config->nats_url;
    }
    if (config->redis_host != NULL) {
        snprintf(redis, sizeof(redis), "%s:%d", config->redis_host, config->redis_port);
        argv[argc++] = "--redis";
        argv[argc++] = redis;
    }
    argv[argc] = NULL;

    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) {
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    pid_t pid = -1;
    int err = posix_spawn(&pid, "/proc/self/exe", &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    if (err != 0) {
        close(pipe_fds[0]);
        errno = err;
        return -1;
    }
    *stdout_fd = pipe_fds[0];
    return pid;
}

/* Waits for the child's "ready" line. */
static bool wait_ready(run_t *run, int fd)
{
    char buffer[64];
    size_t length = 0;
    int64_t deadline = now_ns() + (int64_t)IO_TIMEOUT_MS * 1000000;
    while (length < sizeof(buffer) - 1) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int remaining_ms = (int)((deadline - now_ns()) / 1000000);
        if (remaining_ms <= 0 || poll(&pfd, 1, remaining_ms) <= 0) {
            run_fail(run, "the receiving process did not take its first value within %d ms",
                     IO_TIMEOUT_MS);
            return false;
        }
        ssize_t n = read(fd, buffer + length, sizeof(buffer) - 1 - length);
        if (n <= 0) {
            run_fail(run, "the receiving process exited before it took its first value");
            return false;
        }
        length += (size_t)n;
        buffer[length] = '\0';
        if (strstr(buffer, "ready\n") != NULL) {
            return true;
        }
    }
    run_fail(run, "the receiving process printed '%s' instead of 'ready'", buffer);
    return false;
}

/* Sends values first..count-1 and flushes. */
static bool send_values(const system_ops_t *ops, run_t *run, uint8_t *payload, uint64_t first,
                        uint64_t count)
{
    for (uint64_t index = first; index < count; index++) {
        stamp_index(payload, run->size, index);
        if (!ops->send(run, payload, run->size)) {
            return false;
        }
    }
    return ops->flush(run);
}

int run_memory(const system_ops_t *ops, const config_t *config)
{
    run_t run = {.config = config, .size = config->size, .memory = true};
    run.max_values = config->memory_values;
    pthread_mutex_init(&run.lock, NULL);
    uint8_t *payload = new_payload(config->size);
    if (payload == NULL) {
        fprintf(stderr, "netchan-bench-peers: out of memory\n");
        return 1;
    }

    process_memory_t before = {0};
    process_memory_t after = {0};
    process_memory_t server_before = {-1, -1};
    process_memory_t server_after = {-1, -1};
    int child_stdout = -1;
    pid_t child = -1;
    int64_t start_ns = 0;
    int64_t end_ns = 0;
    bool ok = ops->setup(&run);
    if (ok) {
        child = spawn_receiver(ops, config, run.endpoint, &child_stdout);
        if (child < 0) {
            run_fail(&run, "starting the receiving process failed: %s", strerror(errno));
            ok = false;
        }
    }
    ok = ok && send_values(ops, &run, payload, 0, 1) && wait_ready(&run, child_stdout);
    if (ok && config->server_pid > 0 &&
        (!reset_peak(config->server_pid) || !read_memory(config->server_pid, &server_before))) {
        run_fail(&run, "cannot read or reset the memory of process %d", (int)config->server_pid);
        ok = false;
    }
    if (ok && !read_memory(0, &before)) {
        run_fail(&run, "cannot read /proc/self/status");
        ok = false;
    }
    if (ok) {
        start_ns = now_ns();
        ok = send_values(ops, &run, payload, 1, config->memory_values);
        end_ns = now_ns();
        sleep_ms(SETTLE_MS);
    }
    ok = ok && read_memory(0, &after);
    if (ok && config->server_pid > 0) {
        ok = read_memory(config->server_pid, &server_after);
    }

    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    if (child_stdout >= 0) {
        close(child_stdout);
    }
    ops->teardown(&run);
    free(payload);
    if (!ok || atomic_load(&run.failed)) {
        fprintf(stderr, "netchan-bench-peers: %s memory run failed: %s\n", ops->label,
                run.error[0] != '\0' ? run.error : "unknown error");
        return 1;
    }
    printf("{\"workload\": \"memory\", \"system\": \"%s\", \"size\": %zu, \"values\": %" PRIu64
           ", \"capacity\": %u, \"seconds\": %.3f, \"rss_before_kb\": %ld, \"hwm_kb\": %ld, "
           "\"server_rss_before_kb\": %ld, \"server_hwm_kb\": %ld}\n",
           ops->name, config->size, config->memory_values, config->capacity,
           (double)(end_ns - start_ns) / 1e9, before.rss_kb, after.hwm_kb, server_before.rss_kb,
           server_after.hwm_kb);
    return 0;
}
