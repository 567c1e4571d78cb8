/* Sending and receiving loops and the event watch; see peers.h. */
#define _GNU_SOURCE

#include "peers.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How often a sender writes a mark line. */
#define MARK_EVERY 256
/* How long one wait for a value lasts before the loop looks at its stop flag. */
#define POLL_MS 100

static bool stopped(atomic_bool *stop)
{
    return stop != NULL && atomic_load(stop);
}

/* Waits until the absolute CLOCK_MONOTONIC time start + index / rate, to pace a sender. */
static void pace(int64_t start_ns, uint64_t index, double rate)
{
    int64_t due = start_ns + (int64_t)((double)index * 1e9 / rate);
    struct timespec until = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) != 0) {
    }
}

netchan_err rel_run_sender(netchan_chan_t *chan, rel_record_t *record,
                           const rel_sender_config_t *config)
{
    size_t size = config->size < REL_MIN_VALUE_SIZE ? REL_MIN_VALUE_SIZE : config->size;
    uint8_t *buffer = malloc(size);
    if (buffer == NULL) {
        return NETCHAN_ENOMEM;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int64_t start_ns = (int64_t)start.tv_sec * 1000000000 + start.tv_nsec;

    netchan_err err = NETCHAN_OK;
    uint64_t sent = 0;
    while (sent < config->count && !stopped(config->stop)) {
        if (config->rate > 0) {
            pace(start_ns, sent, config->rate);
        }
        rel_payload_fill(buffer, size, config->id, sent + 1);
        err = netchan_send_bytes(chan, buffer, size, REL_STALL_MS);
        if (err != NETCHAN_OK) {
            fprintf(stderr, "sender %" PRIu32 ": send of value %" PRIu64 " failed: %s: %s\n",
                    config->id, sent + 1, netchan_strerror(err), netchan_chan_error(chan));
            break;
        }
        sent++;
        if (config->progress != NULL) {
            atomic_store(config->progress, sent);
        }
        if (sent % MARK_EVERY == 0) {
            rel_record_line(record, "mark %" PRIu32 " %" PRIu64 " %" PRId64, config->id, sent,
                            rel_now_ms());
        }
    }
    free(buffer);
    rel_record_line(record, "sent %" PRIu32 " %" PRIu64 " %" PRId64, config->id, sent,
                    rel_now_ms());
    rel_record_flush(record);
    if (config->print_sent) {
        printf("sent %" PRIu64 "\n", sent);
        fflush(stdout);
    }

    netchan_close(chan);
    uint64_t pending = 0;
    netchan_err drained = netchan_drain(chan, config->drain_timeout_ms, &pending);
    /* The result is one word: "ok", or "error" and the netchan_err code. */
    rel_record_line(record, "drain %" PRIu32 " %s%.0d %" PRIu64 " %" PRId64, config->id,
                    drained == NETCHAN_OK ? "ok" : "error", (int)drained, pending, rel_now_ms());
    rel_record_flush(record);
    if (drained != NETCHAN_OK) {
        fprintf(stderr, "sender %" PRIu32 ": drain: %s, %" PRIu64 " pending: %s\n", config->id,
                netchan_strerror(drained), pending, netchan_chan_error(chan));
    }
    return err != NETCHAN_OK ? err : drained;
}

void rel_receiver_begin(rel_record_t *record, const rel_receiver_config_t *config)
{
    rel_record_line(record, "receiver %" PRIu32 " %s", config->id,
                    config->explicit_ack ? "explicit" : "auto");
    rel_record_flush(record);
}

rel_recv_end_t rel_run_receiver(netchan_chan_t *chan, rel_record_t *record,
                                const rel_receiver_config_t *config, uint64_t *taken_p,
                                uint64_t *acked_p)
{
    uint64_t taken = 0;
    uint64_t acked = 0;
    int64_t last_value = rel_now_ms();
    rel_recv_end_t end = REL_RECV_STOPPED;

    while (!stopped(config->stop)) {
        if (config->take_limit > 0 && taken >= config->take_limit) {
            end = REL_RECV_LIMIT;
            break;
        }
        netchan_msg_t *msg = NULL;
        netchan_err err = netchan_recv_msg(chan, POLL_MS, &msg);
        if (err == NETCHAN_ETIMEDOUT || err == NETCHAN_EAGAIN) {
            rel_record_flush(record);
            if (rel_now_ms() - last_value > REL_STALL_MS) {
                end = REL_RECV_STALLED;
                break;
            }
            continue;
        }
        if (err == NETCHAN_ECLOSED) {
            end = REL_RECV_ENDED;
            break;
        }
        if (err != NETCHAN_OK) {
            fprintf(stderr, "receiver %" PRIu32 ": receive failed: %s: %s\n", config->id,
                    netchan_strerror(err), netchan_chan_error(chan));
            end = REL_RECV_FAILED;
            break;
        }
        last_value = rel_now_ms();

        uint32_t sender = 0;
        uint64_t seq = 0;
        if (rel_payload_parse(netchan_msg_data(msg), netchan_msg_size(msg), &sender, &seq)) {
            rel_record_line(record,
                            "take %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIu32 " %" PRId64 " %d",
                            config->id, sender, seq, netchan_msg_attempts(msg), last_value,
                            netchan_msg_redelivered(msg) ? 1 : 0);
        } else {
            rel_record_line(record, "corrupt %" PRIu32 " a value of %zu bytes starting '%.24s'",
                            config->id, netchan_msg_size(msg), (const char *)netchan_msg_data(msg));
        }
        taken++;
        if (config->delay_us > 0) {
            usleep(config->delay_us);
        }
        if (config->explicit_ack && acked < config->ack_limit) {
            rel_record_line(record, "ack %" PRIu32 " %" PRIu32 " %" PRIu64, config->id, sender,
                            seq);
            rel_record_flush(record);
            err = netchan_msg_ack(msg);
            if (err != NETCHAN_OK) {
                fprintf(stderr,
                        "receiver %" PRIu32 ": acknowledging value %" PRIu64 " failed: %s\n",
                        config->id, seq, netchan_strerror(err));
            } else {
                acked++;
            }
        } else if (config->explicit_ack) {
            rel_record_flush(record);
        } else if (taken % MARK_EVERY == 0) {
            rel_record_flush(record);
        }
        netchan_msg_destroy(&msg);
        if (config->progress != NULL) {
            atomic_fetch_add(config->progress, 1);
        }
    }
    rel_record_flush(record);
    if (taken_p != NULL) {
        *taken_p = taken;
    }
    if (acked_p != NULL) {
        *acked_p = config->explicit_ack ? acked : taken;
    }
    return end;
}

bool rel_finish_receiver(netchan_chan_t *chan, rel_record_t *record, uint32_t id, bool all_acked,
                         int timeout_ms)
{
    uint64_t pending = 0;
    netchan_err err = netchan_drain(chan, timeout_ms, &pending);
    if (err != NETCHAN_OK) {
        fprintf(stderr, "receiver %" PRIu32 ": drain: %s, %" PRIu64 " unconfirmed\n", id,
                netchan_strerror(err), pending);
    }
    if (err == NETCHAN_OK && all_acked) {
        rel_record_line(record, "done %" PRIu32, id);
    }
    rel_record_flush(record);
    return err == NETCHAN_OK && all_acked;
}

/* ---- the event watch ---- */

struct rel_watch {
    pthread_t thread;
    netchan_exporter_t *exporter;
    netchan_importer_t *importer;
    rel_record_t *record;
    bool print;
    int stop_fds[2]; /* rel_watch_stop() writes to stop_fds[1] */
    _Atomic uint64_t counts[8];
};

/* Records every event that waits now. */
static void take_events(rel_watch_t *watch)
{
    const char *who = watch->exporter != NULL ? "exporter" : "importer";
    for (;;) {
        netchan_event_t *event = NULL;
        netchan_err err =
            watch->exporter != NULL
                ? netchan_exporter_next_event(watch->exporter, NETCHAN_NOWAIT, &event)
                : netchan_importer_next_event(watch->importer, NETCHAN_NOWAIT, &event);
        if (err != NETCHAN_OK) {
            return;
        }
        netchan_event_type type = netchan_event_type_of(event);
        const char *type_name = netchan_event_type_name(type);
        const char *reason = netchan_event_reason_name(netchan_event_reason_of(event));
        uint64_t count = netchan_event_count(event);
        rel_record_line(watch->record, "event %s %s %s %" PRIu64 " %" PRId64, who, type_name,
                        reason[0] ? reason : "none", count, rel_now_ms());
        rel_record_flush(watch->record);
        if (watch->print) {
            printf("event %s %s %s %" PRIu64 "\n", who, type_name, reason[0] ? reason : "none",
                   count);
            fflush(stdout);
        }
        if ((unsigned)type < 8) {
            atomic_fetch_add(&watch->counts[type], 1);
        }
        netchan_event_destroy(&event);
    }
}

static void *watch_thread(void *arg)
{
    rel_watch_t *watch = arg;
    int event_fd = watch->exporter != NULL ? netchan_exporter_event_fd(watch->exporter)
                                           : netchan_importer_event_fd(watch->importer);
    for (;;) {
        struct pollfd fds[2] = {{.fd = event_fd, .events = POLLIN},
                                {.fd = watch->stop_fds[0], .events = POLLIN}};
        /* Without a descriptor the watch falls back to looking every POLL_MS. */
        int ready = poll(fds, 2, event_fd >= 0 ? -1 : POLL_MS);
        take_events(watch);
        if (ready > 0 && (fds[1].revents & POLLIN)) {
            return NULL;
        }
    }
}

static rel_watch_t *watch_start(netchan_exporter_t *exporter, netchan_importer_t *importer,
                                rel_record_t *record, bool print)
{
    rel_watch_t *watch = calloc(1, sizeof(*watch));
    if (watch == NULL) {
        return NULL;
    }
    watch->exporter = exporter;
    watch->importer = importer;
    watch->record = record;
    watch->print = print;
    if (pipe2(watch->stop_fds, O_CLOEXEC) != 0) {
        free(watch);
        return NULL;
    }
    if (pthread_create(&watch->thread, NULL, watch_thread, watch) != 0) {
        close(watch->stop_fds[0]);
        close(watch->stop_fds[1]);
        free(watch);
        return NULL;
    }
    return watch;
}

rel_watch_t *rel_watch_exporter(netchan_exporter_t *exporter, rel_record_t *record, bool print)
{
    return watch_start(exporter, NULL, record, print);
}

rel_watch_t *rel_watch_importer(netchan_importer_t *importer, rel_record_t *record, bool print)
{
    return watch_start(NULL, importer, record, print);
}

uint64_t rel_watch_count(rel_watch_t *watch, netchan_event_type type)
{
    return watch != NULL && (unsigned)type < 8 ? atomic_load(&watch->counts[type]) : 0;
}

void rel_watch_stop(rel_watch_t **watch_p)
{
    if (watch_p == NULL || *watch_p == NULL) {
        return;
    }
    rel_watch_t *watch = *watch_p;
    (void)!write(watch->stop_fds[1], "x", 1);
    pthread_join(watch->thread, NULL);
    close(watch->stop_fds[0]);
    close(watch->stop_fds[1]);
    free(watch);
    *watch_p = NULL;
}

uint64_t rel_record_sender_stats(rel_record_t *record, netchan_chan_t *chan, const char *who,
                                 bool print)
{
    uint64_t redelivered = netchan_chan_stat(chan, NETCHAN_STAT_REDELIVERED);
    char line[256];
    snprintf(line, sizeof(line),
             "stats %s sent %" PRIu64 " delivered %" PRIu64 " acknowledged %" PRIu64
             " redelivered %" PRIu64 " taken_back %" PRIu64 " pending %" PRIu64,
             who, netchan_chan_stat(chan, NETCHAN_STAT_SENT),
             netchan_chan_stat(chan, NETCHAN_STAT_DELIVERED),
             netchan_chan_stat(chan, NETCHAN_STAT_ACKNOWLEDGED), redelivered,
             netchan_chan_stat(chan, NETCHAN_STAT_TAKEN_BACK),
             netchan_chan_stat(chan, NETCHAN_STAT_PENDING));
    rel_record_line(record, "%s", line);
    rel_record_flush(record);
    if (print) {
        printf("%s\n", line);
        fflush(stdout);
    }
    return redelivered;
}
