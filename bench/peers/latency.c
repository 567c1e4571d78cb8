/* The latency workload: round trips of one value and its reply at a fixed offered rate.
 *
 * A responder thread echoes every request as its reply. The client starts round trip i at
 * start + i / rate (clock_nanosleep to an absolute time) and times it from just before the send
 * to the moment the reply was taken. A round trip that takes longer than the period delays the
 * next one, whose time is then measured from its late start, so the percentiles describe single
 * round trips on an otherwise idle connection. */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peers.h"

/* Unpaced round trips before the measured ones, to open connections and warm caches. */
#define WARMUP_ROUND_TRIPS 200

typedef struct responder_arg {
    latency_t *latency;
    const system_ops_t *ops;
} responder_arg_t;

static void *responder_thread(void *arg)
{
    responder_arg_t *responder = arg;
    latency_t *latency = responder->latency;
    while (!atomic_load(&latency->stop) && !atomic_load(&latency->failed)) {
        if (responder->ops->echo(latency, POLL_TIMEOUT_MS) < 0) {
            atomic_store(&latency->failed, true);
        }
    }
    return NULL;
}

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Returns the nearest-rank percentile of sorted[0..n), in microseconds. */
static double percentile_us(const int64_t *sorted, int n, double percent)
{
    int rank = (int)(percent / 100.0 * n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return (double)sorted[rank - 1] / 1e3;
}

static void sleep_until(int64_t when_ns)
{
    struct timespec ts = {when_ns / 1000000000, when_ns % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* Runs the warm-up and the paced round trips, storing each measured time in times_ns. */
static bool measure(const system_ops_t *ops, latency_t *latency, const uint8_t *payload,
                    int64_t *times_ns)
{
    const config_t *config = latency->config;
    uint8_t *request = malloc(config->size);
    if (request == NULL) {
        latency_fail(latency, "out of memory");
        return false;
    }
    memcpy(request, payload, config->size);
    for (int i = 0; i < WARMUP_ROUND_TRIPS; i++) {
        stamp_index(request, config->size, (uint64_t)i);
        if (!ops->round_trip(latency, request, config->size)) {
            free(request);
            return false;
        }
    }

    int64_t period_ns = 1000000000 / config->rate;
    int64_t start_ns = now_ns();
    for (int i = 0; i < config->samples; i++) {
        sleep_until(start_ns + (int64_t)i * period_ns);
        stamp_index(request, config->size, (uint64_t)(WARMUP_ROUND_TRIPS + i));
        int64_t sent_ns = now_ns();
        if (!ops->round_trip(latency, request, config->size)) {
            free(request);
            return false;
        }
        times_ns[i] = now_ns() - sent_ns;
    }
    free(request);
    return true;
}

int run_latency(const system_ops_t *ops, const config_t *config)
{
    latency_t latency = {.config = config};
    pthread_mutex_init(&latency.lock, NULL);
    int64_t *times_ns = calloc((size_t)config->samples, sizeof(*times_ns));
    uint8_t *payload = new_payload(config->size);
    if (times_ns == NULL || payload == NULL) {
        fprintf(stderr, "netchan-bench-peers: out of memory\n");
        return 1;
    }

    responder_arg_t responder = {&latency, ops};
    pthread_t responder_id;
    bool ok = ops->latency_setup(&latency);
    bool started = ok && pthread_create(&responder_id, NULL, responder_thread, &responder) == 0;
    ok = started && measure(ops, &latency, payload, times_ns);
    atomic_store(&latency.stop, true);
    if (started) {
        pthread_join(responder_id, NULL);
    }
    ops->latency_teardown(&latency);
    free(payload);

    if (!ok || atomic_load(&latency.failed)) {
        fprintf(stderr, "netchan-bench-peers: %s latency run failed: %s\n", ops->label,
                latency.error[0] != '\0' ? latency.error : "setup failed");
        free(times_ns);
        return 1;
    }
    int n = config->samples;
    qsort(times_ns, (size_t)n, sizeof(*times_ns), compare_int64);
    double total = 0;
    for (int i = 0; i < n; i++) {
        total += (double)times_ns[i];
    }
    printf("{\"workload\": \"latency\", \"system\": \"%s\", \"size\": %zu, \"rate\": %d, "
           "\"samples\": %d, \"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, "
           "\"mean_us\": %.2f, \"max_us\": %.2f}\n",
           ops->name, config->size, config->rate, n, percentile_us(times_ns, n, 50),
           percentile_us(times_ns, n, 99), percentile_us(times_ns, n, 99.9), total / n / 1e3,
           (double)times_ns[n - 1] / 1e3);
    free(times_ns);
    return 0;
}
