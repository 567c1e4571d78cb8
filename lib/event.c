/* The per-endpoint event queue: bounded, readable with a timeout from any thread, and signalled
 * through a pipe whose read end is readable exactly while events wait. */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nc.h"

#define MAX_EVENTS 1024

struct netchan_event {
    netchan_event_type type;
    netchan_event_reason reason;
    uint64_t count;
    char peer[2 * NC_SESSION_ID_SIZE + 1];
    char address[64];
    char channel[256];
};

void nc_events_init(nc_events_t *events)
{
    memset(events, 0, sizeof(*events));
    events->fds[0] = events->fds[1] = -1;
    pthread_mutex_init(&events->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&events->cond, &attr);
    pthread_condattr_destroy(&attr);
}

void nc_events_fini(nc_events_t *events)
{
    while (events->queue.count > 0) {
        free(nc_ring_pop_front(&events->queue));
    }
    nc_ring_free(&events->queue);
    for (int i = 0; i < 2; i++) {
        if (events->fds[i] >= 0) {
            close(events->fds[i]);
        }
    }
    pthread_mutex_destroy(&events->mu);
    pthread_cond_destroy(&events->cond);
}

/* Makes the pipe's readability match whether events wait; the caller holds events->mu. */
static void sync_fd_locked(nc_events_t *events)
{
    if (events->fds[0] < 0) {
        return;
    }
    bool ready = events->queue.count > 0;
    char byte = 'e';
    if (ready && !events->signalled) {
        events->signalled = write(events->fds[1], &byte, 1) == 1;
    } else if (!ready && events->signalled) {
        events->signalled = !(read(events->fds[0], &byte, 1) == 1);
    }
}

void nc_events_push(nc_events_t *events, netchan_event_type type, netchan_event_reason reason,
                    const char *peer, const char *address, const char *channel, uint64_t count)
{
    netchan_event_t *event = calloc(1, sizeof(*event));
    if (event == NULL) {
        return;
    }
    event->type = type;
    event->reason = reason;
    event->count = count;
    nc_format(event->peer, sizeof(event->peer), "%s", peer != NULL ? peer : "");
    nc_format(event->address, sizeof(event->address), "%s", address != NULL ? address : "");
    nc_format(event->channel, sizeof(event->channel), "%s", channel != NULL ? channel : "");

    pthread_mutex_lock(&events->mu);
    /* Once events were dropped, one place stays free for the OVERFLOW event that the next read
     * returns first, so a reader never finds more than MAX_EVENTS events in all. */
    if (events->queue.count >= MAX_EVENTS) {
        free(nc_ring_pop_front(&events->queue));
        events->dropped++;
    }
    if (events->dropped > 0 && events->queue.count >= MAX_EVENTS - 1) {
        free(nc_ring_pop_front(&events->queue));
        events->dropped++;
    }
    if (nc_ring_push_back(&events->queue, event) != 0) {
        free(event);
        events->dropped++;
    }
    sync_fd_locked(events);
    pthread_cond_broadcast(&events->cond);
    pthread_mutex_unlock(&events->mu);
}

netchan_err nc_events_next(nc_events_t *events, int timeout_ms, netchan_event_t **event_p)
{
    int64_t deadline = timeout_ms < 0 ? -1 : nc_now_ms() + timeout_ms;
    netchan_err err = NETCHAN_OK;
    pthread_mutex_lock(&events->mu);
    while (events->queue.count == 0) {
        if (deadline < 0) {
            pthread_cond_wait(&events->cond, &events->mu);
            continue;
        }
        int64_t now = nc_now_ms();
        if (now >= deadline) {
            err = timeout_ms == 0 ? NETCHAN_EAGAIN : NETCHAN_ETIMEDOUT;
            break;
        }
        struct timespec until = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L};
        pthread_cond_timedwait(&events->cond, &events->mu, &until);
    }
    if (err == NETCHAN_OK && events->dropped > 0) {
        /* Events were dropped since the last read: say how many before the oldest kept one. */
        netchan_event_t *overflow = calloc(1, sizeof(*overflow));
        if (overflow != NULL) {
            overflow->type = NETCHAN_EVENT_OVERFLOW;
            overflow->count = events->dropped;
            events->dropped = 0;
            *event_p = overflow;
            pthread_mutex_unlock(&events->mu);
            return NETCHAN_OK;
        }
    }
    if (err == NETCHAN_OK) {
        *event_p = nc_ring_pop_front(&events->queue);
        sync_fd_locked(events);
    }
    pthread_mutex_unlock(&events->mu);
    return err;
}

int nc_events_fd(nc_events_t *events)
{
    pthread_mutex_lock(&events->mu);
    if (events->fds[0] < 0 && pipe2(events->fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        events->fds[0] = events->fds[1] = -1;
    }
    sync_fd_locked(events);
    int fd = events->fds[0];
    pthread_mutex_unlock(&events->mu);
    return fd;
}

netchan_event_type netchan_event_type_of(const netchan_event_t *event)
{
    return event != NULL ? event->type : 0;
}

netchan_event_reason netchan_event_reason_of(const netchan_event_t *event)
{
    return event != NULL ? event->reason : NETCHAN_REASON_NONE;
}

const char *netchan_event_peer(const netchan_event_t *event)
{
    return event != NULL ? event->peer : "";
}

const char *netchan_event_address(const netchan_event_t *event)
{
    return event != NULL ? event->address : "";
}

const char *netchan_event_channel(const netchan_event_t *event)
{
    return event != NULL ? event->channel : "";
}

uint64_t netchan_event_count(const netchan_event_t *event)
{
    return event != NULL ? event->count : 0;
}

void netchan_event_destroy(netchan_event_t **event_p)
{
    if (event_p != NULL) {
        free(*event_p);
        *event_p = NULL;
    }
}

const char *netchan_event_type_name(netchan_event_type type)
{
    switch (type) {
    case NETCHAN_EVENT_CONNECTED:
        return "connected";
    case NETCHAN_EVENT_RESUMED:
        return "resumed";
    case NETCHAN_EVENT_LOST:
        return "lost";
    case NETCHAN_EVENT_ENDED:
        return "ended";
    case NETCHAN_EVENT_DEAD_LETTER:
        return "dead_letter";
    case NETCHAN_EVENT_OVERFLOW:
        return "overflow";
    case NETCHAN_EVENT_REFUSED:
        return "refused";
    }
    return "unknown";
}

const char *netchan_event_reason_name(netchan_event_reason reason)
{
    switch (reason) {
    case NETCHAN_REASON_NONE:
        return "none";
    case NETCHAN_REASON_CLOSED:
        return "closed";
    case NETCHAN_REASON_TIMEOUT:
        return "timeout";
    case NETCHAN_REASON_PROTOCOL:
        return "protocol";
    case NETCHAN_REASON_RESTART:
        return "restart";
    case NETCHAN_REASON_EXPIRED:
        return "expired";
    case NETCHAN_REASON_AUTH:
        return "auth";
    }
    return "unknown";
}
