/* The throughput workload: one sender thread and one or more competing receiver threads.
 *
 * The sender first sends warm-up values and waits until they have been received and flushed.
 * The clock then starts, and the sender sends values for config->seconds, each carrying its index
 * in its first 8 bytes, and flushes. The clock stops at the latest of: the sender's flush
 * returned, the receivers took the last value, and the system's settle step confirmed every
 * acknowledgement. The rate is the values sent after the warm-up divided by that time. */
#define _GNU_SOURCE

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"

/* The sender reads the clock once per this many values. */
#define CLOCK_STRIDE 64

typedef struct receiver_arg {
    run_t *run;
    const system_ops_t *ops;
    int index;
} receiver_arg_t;

typedef struct sender_arg {
    run_t *run;
    const system_ops_t *ops;
    uint64_t warmup;
    uint64_t sent; /* values sent after the warm-up */
} sender_arg_t;

/* Records that every value sent has been received, once both counts are known. */
static void check_done(run_t *run)
{
    uint64_t target = atomic_load(&run->target);
    if (atomic_load(&run->received) < target) {
        return;
    }
    bool expected = false;
    if (atomic_compare_exchange_strong(&run->done, &expected, true)) {
        pthread_mutex_lock(&run->lock);
        run->receiver_end_ns = now_ns();
        pthread_mutex_unlock(&run->lock);
    }
}

static void *receiver_thread(void *arg)
{
    receiver_arg_t *receiver = arg;
    run_t *run = receiver->run;
    while (!atomic_load(&run->done) && !atomic_load(&run->failed)) {
        int count = receiver->ops->receive(run, receiver->index, POLL_TIMEOUT_MS);
        if (count < 0) {
            atomic_store(&run->failed, true);
            break;
        }
        if (count > 0) {
            atomic_fetch_add(&run->received, (uint64_t)count);
            check_done(run);
        }
    }
    return NULL;
}

/* Waits until the receivers have taken count values. */
static bool wait_received(run_t *run, uint64_t count)
{
    int64_t deadline = now_ns() + (int64_t)IO_TIMEOUT_MS * 1000000;
    while (atomic_load(&run->received) < count) {
        if (atomic_load(&run->failed)) {
            return false;
        }
        if (now_ns() > deadline) {
            run_fail(run,
                     "the warm-up values did not arrive within %d ms (%" PRIu64 " of %" PRIu64 ")",
                     IO_TIMEOUT_MS, (uint64_t)atomic_load(&run->received), count);
            return false;
        }
        sleep_ms(1);
    }
    return true;
}

static void *sender_thread(void *arg)
{
    sender_arg_t *sender = arg;
    run_t *run = sender->run;
    const system_ops_t *ops = sender->ops;
    uint8_t *payload = new_payload(run->size);
    if (payload == NULL) {
        run_fail(run, "out of memory for a payload of %zu bytes", run->size);
        return NULL;
    }

    uint64_t index = 0;
    bool ok = true;
    for (; ok && index < sender->warmup; index++) {
        stamp_index(payload, run->size, index);
        ok = ops->send(run, payload, run->size);
    }
    ok = ok && ops->flush(run) && wait_received(run, sender->warmup);
    if (!ok) {
        atomic_store(&run->failed, true);
        free(payload);
        return NULL;
    }

    run->start_ns = now_ns();
    int64_t deadline = run->start_ns + (int64_t)(run->config->seconds * 1e9);
    while (index < run->max_values) {
        stamp_index(payload, run->size, index);
        if (!ops->send(run, payload, run->size)) {
            ok = false;
            break;
        }
        index++;
        if (index % CLOCK_STRIDE == 0 && now_ns() >= deadline) {
            break;
        }
    }
    ok = ok && ops->flush(run);
    run->sender_end_ns = now_ns();
    free(payload);
    if (!ok) {
        atomic_store(&run->failed, true);
        return NULL;
    }
    sender->sent = index - sender->warmup;
    atomic_store(&run->target, index);
    check_done(run);
    return NULL;
}

/* Waits until the run is done or failed, or until the receivers made no progress for
 * IO_TIMEOUT_MS after the sender finished. */
static bool wait_done(run_t *run, pthread_t sender)
{
    pthread_join(sender, NULL);
    uint64_t last = atomic_load(&run->received);
    int64_t last_progress = now_ns();
    while (!atomic_load(&run->done) && !atomic_load(&run->failed)) {
        sleep_ms(1);
        uint64_t received = atomic_load(&run->received);
        if (received != last) {
            last = received;
            last_progress = now_ns();
        } else if (now_ns() - last_progress > (int64_t)IO_TIMEOUT_MS * 1000000) {
            run_fail(run,
                     "the receivers took %" PRIu64 " of %" PRIu64 " values and then nothing for "
                     "%d ms",
                     received, (uint64_t)atomic_load(&run->target), IO_TIMEOUT_MS);
        }
    }
    return !atomic_load(&run->failed);
}

/* Picks the warm-up count: enough values to open connections and fill caches, about 16 MB at
 * most. */
static uint64_t warmup_for(size_t size)
{
    uint64_t count = (16u << 20) / size;
    if (count > 20000) {
        return 20000;
    }
    if (count < 200) {
        return 200;
    }
    return count;
}

int run_throughput(const system_ops_t *ops, const config_t *config)
{
    run_t *run = calloc(1, sizeof(*run));
    if (run == NULL) {
        fprintf(stderr, "netchan-bench-peers: out of memory\n");
        return 1;
    }
    run->config = config;
    run->size = config->size;
    run->receivers = config->receivers;
    run->max_values = config->max_values;
    run->seen = calloc((run->max_values + 63) / 64, sizeof(*run->seen));
    atomic_init(&run->received, 0);
    atomic_init(&run->target, UINT64_MAX);
    pthread_mutex_init(&run->lock, NULL);
    if (run->seen == NULL) {
        fprintf(stderr, "netchan-bench-peers: out of memory for %" PRIu64 " values\n",
                run->max_values);
        return 1;
    }

    sender_arg_t sender = {run, ops, warmup_for(run->size), 0};
    receiver_arg_t receivers[MAX_RECEIVERS];
    pthread_t receiver_threads[MAX_RECEIVERS];
    pthread_t sender_thread_id;
    int started = 0;
    bool ok = ops->setup(run);
    for (int i = 0; ok && i < run->receivers; i++) {
        receivers[i] = (receiver_arg_t){run, ops, i};
        ok = pthread_create(&receiver_threads[i], NULL, receiver_thread, &receivers[i]) == 0;
        started += ok ? 1 : 0;
    }
    if (ok && pthread_create(&sender_thread_id, NULL, sender_thread, &sender) == 0) {
        ok = wait_done(run, sender_thread_id);
    } else {
        run_fail(run, "setup failed or a thread could not start");
        ok = false;
    }

    int64_t end_ns =
        run->sender_end_ns > run->receiver_end_ns ? run->sender_end_ns : run->receiver_end_ns;
    if (ok && ops->settle != NULL) {
        ok = ops->settle(run);
        end_ns = now_ns();
    }
    atomic_store(&run->done, true);
    for (int i = 0; i < started; i++) {
        pthread_join(receiver_threads[i], NULL);
    }
    ops->teardown(run);

    bool failed = !ok || atomic_load(&run->failed);
    if (failed) {
        fprintf(stderr, "netchan-bench-peers: %s throughput run with %zu-byte values failed: %s\n",
                ops->label, run->size, run->error[0] != '\0' ? run->error : "unknown error");
    }
    double seconds = (double)(end_ns - run->start_ns) / 1e9;
    double rate = (double)sender.sent / seconds;
    size_t size = run->size;
    int receiver_count = run->receivers;
    free(run->seen);
    free(run);
    if (failed) {
        return 1;
    }
    printf("{\"workload\": \"throughput\", \"system\": \"%s\", \"size\": %zu, \"receivers\": %d, "
           "\"values\": %" PRIu64 ", \"warmup\": %" PRIu64 ", \"seconds\": %.6f, "
           "\"values_per_second\": %.1f, \"megabytes_per_second\": %.3f}\n",
           ops->name, size, receiver_count, sender.sent, sender.warmup, seconds, rate,
           rate * (double)size / 1e6);
    return 0;
}
