/* netchan-bench-peers: the command line, the shared helpers and the list of systems.
 *
 * Each process run measures one system under one workload and prints one JSON line on stdout.
 * Progress and failures go to stderr. Exit status: 0 measured, 1 the run failed (lost,
 * duplicated or reordered values, a timeout, an error from the system), 2 usage error, 3 the
 * system was left out of this build. */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peers.h"

static const system_ops_t *const systems[] = {
    &zmq_system, &netchan_system, &netchan_unacked_system, &jetstream_system, &redis_system,
};
#define SYSTEM_COUNT (sizeof(systems) / sizeof(systems[0]))

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sleep_ms(int milliseconds)
{
    struct timespec ts = {milliseconds / 1000, (long)(milliseconds % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void record_error(pthread_mutex_t *lock, char *error, const char *format, va_list args)
{
    pthread_mutex_lock(lock);
    if (error[0] == '\0') {
        vsnprintf(error, ERROR_SIZE, format, args);
    }
    pthread_mutex_unlock(lock);
}

void run_fail(run_t *run, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    record_error(&run->lock, run->error, format, args);
    va_end(args);
    atomic_store(&run->failed, true);
}

void latency_fail(latency_t *latency, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    record_error(&latency->lock, latency->error, format, args);
    va_end(args);
    atomic_store(&latency->failed, true);
}

void stamp_index(uint8_t *payload, size_t size, uint64_t index)
{
    memcpy(payload, &index, size < sizeof(index) ? size : sizeof(index));
}

/* Returns a buffer of size bytes filled with a fixed pattern, or NULL when out of memory. */
uint8_t *new_payload(size_t size)
{
    uint8_t *payload = malloc(size);
    for (size_t i = 0; payload != NULL && i < size; i++) {
        payload[i] = (uint8_t)(i * 31 + 7);
    }
    return payload;
}

bool run_check_value(run_t *run, int receiver, const uint8_t *data, size_t size)
{
    if (size != run->size) {
        run_fail(run, "receiver %d took a value of %zu bytes, expected %zu", receiver, size,
                 run->size);
        return false;
    }
    uint64_t index = 0;
    memcpy(&index, data, sizeof(index));
    if (index >= run->max_values) {
        run_fail(run, "receiver %d took index %" PRIu64 ", beyond the %" PRIu64 " values sent",
                 receiver, index, run->max_values);
        return false;
    }
    /* One receiver must see every index in order. Competing receivers each see increasing
     * indexes, and the bitmap catches an index taken twice. */
    uint64_t expected = run->next_index[receiver];
    if (run->receivers == 1 ? index != expected : index < expected) {
        run_fail(run,
                 "receiver %d took index %" PRIu64 " where %s%" PRIu64 " was expected (lost, "
                 "duplicated or reordered)",
                 receiver, index, run->receivers == 1 ? "" : "at least ", expected);
        return false;
    }
    run->next_index[receiver] = index + 1;
    uint64_t bit = (uint64_t)1 << (index % 64);
    if (atomic_fetch_or(&run->seen[index / 64], bit) & bit) {
        run_fail(run, "index %" PRIu64 " was received twice", index);
        return false;
    }
    return true;
}

bool latency_check_reply(latency_t *latency, const uint8_t *request, const uint8_t *reply,
                         size_t request_size, size_t reply_size)
{
    if (reply_size != request_size || memcmp(request, reply, request_size) != 0) {
        uint64_t index = 0;
        memcpy(&index, request, sizeof(index));
        latency_fail(latency,
                     "the reply to request %" PRIu64 " differs from the request (%zu "
                     "bytes, expected %zu)",
                     index, reply_size, request_size);
        return false;
    }
    return true;
}

static void print_usage(FILE *out)
{
    fprintf(out,
            "Usage: netchan-bench-peers --system NAME --workload throughput|latency|memory\n"
            "                           [options]\n"
            "       netchan-bench-peers --list\n"
            "\n"
            "Measures one system under one workload over 127.0.0.1 and prints one JSON line.\n"
            "bench/peers.py runs it for every system and workload; see docs/benchmarks.md.\n"
            "\n"
            "Systems: zmq (raw libzmq), netchan, netchan-unacked, jetstream, redis.\n"
            "\n"
            "  --size BYTES        value size, %d to %d (default 64)\n"
            "  --receivers N       throughput: competing receivers, 1 to %d (default 1)\n"
            "  --seconds S         throughput: how long the sender sends (default 1.0)\n"
            "  --max-values N      throughput: values sent at most (default 50000000)\n"
            "  --rate N            latency: round trips started per second (default 1000)\n"
            "  --samples N         latency: round trips measured (default 5000)\n"
            "  --values N          memory: values queued for the slow receiver (default "
            "1000000)\n"
            "  --capacity N        memory: netchan channel capacity and raw libzmq send HWM\n"
            "                      (default 1048576)\n"
            "  --interval-ms N     memory: the receiver takes one value per N ms (default 5)\n"
            "  --nats URL          the nats-server to use (jetstream)\n"
            "  --redis HOST:PORT   the redis-server to use (redis)\n"
            "  --server-pid PID    memory: also report this broker process's peak memory\n"
            "  --list              print the systems of this build, one per line: name, label,\n"
            "                      available or missing, and the client library's version or\n"
            "                      why it is missing, separated by tabs\n",
            MIN_VALUE_SIZE, MAX_VALUE_SIZE, MAX_RECEIVERS);
}

/* Parses a positive decimal integer no larger than maximum. */
static bool parse_count(const char *option, const char *text, uint64_t maximum, uint64_t *value)
{
    char *end = NULL;
    errno = 0;
    unsigned long long parsed = text != NULL ? strtoull(text, &end, 10) : 0;
    if (text == NULL || text[0] < '0' || text[0] > '9' || errno != 0 || *end != '\0' ||
        parsed == 0 || parsed > maximum) {
        fprintf(stderr,
                "netchan-bench-peers: %s needs an integer from 1 to %" PRIu64 ", got '%s'\n",
                option, maximum, text != NULL ? text : "");
        return false;
    }
    *value = parsed;
    return true;
}

static bool parse_redis(const char *text, config_t *config)
{
    const char *colon = text != NULL ? strrchr(text, ':') : NULL;
    uint64_t port = 0;
    if (colon == NULL || colon == text || !parse_count("--redis port", colon + 1, 65535, &port)) {
        fprintf(stderr, "netchan-bench-peers: --redis needs HOST:PORT, got '%s'\n",
                text != NULL ? text : "");
        return false;
    }
    static char host[ENDPOINT_SIZE];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
    config->redis_host = host;
    config->redis_port = (int)port;
    return true;
}

/* Parses the option at argv[*i] and its value. */
static bool parse_option(int argc, char **argv, int *i, config_t *config)
{
    const char *option = argv[*i];
    const char *value = *i + 1 < argc ? argv[*i + 1] : NULL;
    uint64_t number = 0;
    (*i)++;

    if (strcmp(option, "--system") == 0) {
        config->system = value;
    } else if (strcmp(option, "--workload") == 0) {
        config->workload = value;
    } else if (strcmp(option, "--nats") == 0) {
        config->nats_url = value;
    } else if (strcmp(option, "--endpoint") == 0) {
        config->endpoint = value;
    } else if (strcmp(option, "--redis") == 0) {
        return parse_redis(value, config);
    } else if (strcmp(option, "--seconds") == 0) {
        char *end = NULL;
        config->seconds = value != NULL ? strtod(value, &end) : 0;
        if (value == NULL || *end != '\0' || !(config->seconds > 0 && config->seconds <= 600)) {
            fprintf(stderr, "netchan-bench-peers: --seconds needs 0 < S <= 600, got '%s'\n",
                    value != NULL ? value : "");
            return false;
        }
    } else if (strcmp(option, "--size") == 0) {
        if (!parse_count(option, value, MAX_VALUE_SIZE, &number) || number < MIN_VALUE_SIZE) {
            fprintf(stderr, "netchan-bench-peers: --size is at least %d bytes\n", MIN_VALUE_SIZE);
            return false;
        }
        config->size = number;
    } else if (strcmp(option, "--receivers") == 0) {
        if (!parse_count(option, value, MAX_RECEIVERS, &number)) {
            return false;
        }
        config->receivers = (int)number;
    } else if (strcmp(option, "--max-values") == 0) {
        if (!parse_count(option, value, (uint64_t)1 << 34, &config->max_values)) {
            return false;
        }
    } else if (strcmp(option, "--rate") == 0) {
        if (!parse_count(option, value, 1000000, &number)) {
            return false;
        }
        config->rate = (int)number;
    } else if (strcmp(option, "--samples") == 0) {
        if (!parse_count(option, value, 10000000, &number)) {
            return false;
        }
        config->samples = (int)number;
    } else if (strcmp(option, "--values") == 0) {
        if (!parse_count(option, value, (uint64_t)1 << 30, &config->memory_values)) {
            return false;
        }
    } else if (strcmp(option, "--capacity") == 0) {
        if (!parse_count(option, value, (uint64_t)1 << 30, &number)) {
            return false;
        }
        config->capacity = (uint32_t)number;
    } else if (strcmp(option, "--interval-ms") == 0) {
        if (!parse_count(option, value, 60000, &number)) {
            return false;
        }
        config->interval_ms = (int)number;
    } else if (strcmp(option, "--server-pid") == 0) {
        if (!parse_count(option, value, INT32_MAX, &number)) {
            return false;
        }
        config->server_pid = (pid_t)number;
    } else {
        fprintf(stderr, "netchan-bench-peers: unknown option '%s' (see --help)\n", option);
        return false;
    }
    if (value == NULL) {
        fprintf(stderr, "netchan-bench-peers: %s needs a value\n", option);
        return false;
    }
    return true;
}

static const system_ops_t *find_system(const char *name)
{
    for (size_t s = 0; s < SYSTEM_COUNT; s++) {
        if (name != NULL && strcmp(systems[s]->name, name) == 0) {
            return systems[s];
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    config_t config = {
        .size = 64,
        .receivers = 1,
        .seconds = 1.0,
        .max_values = 50000000,
        .rate = 1000,
        .samples = 5000,
        .memory_values = 1000000,
        .capacity = 1048576,
        .interval_ms = 5,
    };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--list") == 0) {
            for (size_t s = 0; s < SYSTEM_COUNT; s++) {
                char version[ENDPOINT_SIZE] = "";
                if (systems[s]->missing == NULL) {
                    systems[s]->client_version(version, sizeof(version));
                }
                printf("%s\t%s\t%s\t%s\n", systems[s]->name, systems[s]->label,
                       systems[s]->missing != NULL ? "missing" : "available",
                       systems[s]->missing != NULL ? systems[s]->missing : version);
            }
            return 0;
        }
        if (!parse_option(argc, argv, &i, &config)) {
            return 2;
        }
    }

    const system_ops_t *ops = find_system(config.system);
    if (ops == NULL) {
        fprintf(stderr, "netchan-bench-peers: --system needs one of zmq, netchan, "
                        "netchan-unacked, jetstream, redis (see --help)\n");
        return 2;
    }
    if (ops->missing != NULL) {
        fprintf(stderr, "netchan-bench-peers: %s skipped: %s\n", ops->label, ops->missing);
        return 3;
    }
    if (strcmp(ops->name, "jetstream") == 0 && config.nats_url == NULL) {
        fprintf(stderr, "netchan-bench-peers: jetstream needs --nats URL of a nats-server -js\n");
        return 2;
    }
    if (strcmp(ops->name, "redis") == 0 && config.redis_host == NULL) {
        fprintf(stderr, "netchan-bench-peers: redis needs --redis HOST:PORT\n");
        return 2;
    }

    const char *workload = config.workload != NULL ? config.workload : "";
    if (strcmp(workload, "throughput") == 0) {
        return run_throughput(ops, &config);
    }
    if (strcmp(workload, "latency") == 0) {
        return run_latency(ops, &config);
    }
    if (strcmp(workload, "memory") == 0) {
        return run_memory(ops, &config);
    }
    if (strcmp(workload, "memory-receiver") == 0 && config.endpoint != NULL) {
        return ops->memory_receiver(&config, config.endpoint);
    }
    fprintf(stderr,
            "netchan-bench-peers: --workload needs throughput, latency or memory, got "
            "'%s'\n",
            workload);
    return 2;
}
