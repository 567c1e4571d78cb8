/* The application side of channels: send, receive, acknowledge, close and drain. These run on
 * application threads and meet the engine only in the channel structure, under its mutex. */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nc.h"

nc_value_t *nc_value_new(const void *data, size_t size)
{
    nc_value_t *value = malloc(sizeof(*value) + size);
    if (value == NULL) {
        return NULL;
    }
    value->seq = 0;
    value->link_key = 0;
    value->attempts = 0;
    value->sent = false;
    value->redelivered = false;
    value->size = (uint32_t)size;
    if (size > 0) {
        memcpy(value->data, data, size);
    }
    return value;
}

netchan_chan_t *nc_chan_new(nc_endpoint_t *ep, const char *name, netchan_dir dir,
                            const ProtobufCMessageDescriptor *type, const char *type_name,
                            const char *fingerprint, const netchan_options_t *options)
{
    netchan_chan_t *chan = calloc(1, sizeof(*chan));
    if (chan == NULL) {
        return NULL;
    }
    chan->ep = ep;
    chan->dir = dir;
    chan->ready_fds[0] = chan->ready_fds[1] = -1;
    chan->type = type;
    chan->name = strdup(name);
    chan->type_name = strdup(type_name);
    if (fingerprint != NULL) {
        nc_format(chan->fingerprint, sizeof(chan->fingerprint), "%s", fingerprint);
    }
    if (options != NULL) {
        chan->options = *options;
    } else {
        nc_options_defaults(&chan->options);
    }
    pthread_mutex_init(&chan->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&chan->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (chan->name == NULL || chan->type_name == NULL) {
        nc_chan_destroy(chan);
        return NULL;
    }
    return chan;
}

void nc_chan_destroy(netchan_chan_t *chan)
{
    if (chan == NULL) {
        return;
    }
    while (chan->queue.count > 0) {
        free(nc_ring_pop_front(&chan->queue));
    }
    nc_ring_free(&chan->queue);
    while (chan->inbox.count > 0) {
        free(nc_ring_pop_front(&chan->inbox));
    }
    nc_ring_free(&chan->inbox);
    while (chan->held.count > 0) {
        nc_held_t *held = nc_ring_pop_front(&chan->held);
        if (--held->refs == 0) {
            free(held);
        }
    }
    nc_ring_free(&chan->held);
    for (int i = 0; i < 2; i++) {
        if (chan->ready_fds[i] >= 0) {
            close(chan->ready_fds[i]);
        }
    }
    free(chan->verdicts.items);
    free(chan->allowed_keys);
    free(chan->links);
    free(chan->name);
    free(chan->type_name);
    pthread_mutex_destroy(&chan->mu);
    pthread_cond_destroy(&chan->cond);
    free(chan);
}

/* Makes the readiness descriptor readable exactly while a call would not block; the caller
 * holds chan->mu. */
static void sync_ready_locked(netchan_chan_t *chan)
{
    if (chan->ready_fds[0] < 0) {
        return;
    }
    bool ready = chan->closed || chan->failure != NETCHAN_OK;
    if (chan->dir == NETCHAN_RECV) {
        ready = ready || chan->inbox.count > 0 || chan->eof;
    } else {
        ready = ready || chan->pending < chan->options.capacity;
    }
    char byte = 'r';
    if (ready && !chan->ready_signalled) {
        chan->ready_signalled = write(chan->ready_fds[1], &byte, 1) == 1;
    } else if (!ready && chan->ready_signalled) {
        chan->ready_signalled = !(read(chan->ready_fds[0], &byte, 1) == 1);
    }
}

void nc_chan_broadcast(netchan_chan_t *chan)
{
    if (chan->waiters > 0) {
        pthread_cond_broadcast(&chan->cond);
    }
    sync_ready_locked(chan);
}

void nc_chan_set_error(netchan_chan_t *chan, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    if (vsnprintf(chan->errmsg, sizeof(chan->errmsg), format, args) < 0) {
        chan->errmsg[0] = '\0';
    }
    va_end(args);
}

/* Records err and its detail on chan; the caller holds chan->mu. Returns err. */
static netchan_err chan_error_locked(netchan_chan_t *chan, netchan_err err, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static netchan_err chan_error_locked(netchan_chan_t *chan, netchan_err err, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    if (vsnprintf(chan->errmsg, sizeof(chan->errmsg), format, args) < 0) {
        chan->errmsg[0] = '\0';
    }
    va_end(args);
    return err;
}

netchan_err nc_chan_fail(netchan_chan_t *chan, netchan_err err, const char *format, ...)
{
    pthread_mutex_lock(&chan->mu);
    va_list args;
    va_start(args, format);
    if (vsnprintf(chan->errmsg, sizeof(chan->errmsg), format, args) < 0) {
        chan->errmsg[0] = '\0';
    }
    va_end(args);
    chan->failure = err;
    nc_chan_broadcast(chan);
    pthread_mutex_unlock(&chan->mu);
    return err;
}

/* Waits on chan->cond for up to timeout_ms in all, counted from the first wait of the call;
 * *deadline starts at 0 and holds the end on the monotonic clock once computed, so a call that
 * never waits never reads the clock. The caller holds chan->mu. Returns false when the time is
 * up. */
static bool chan_wait(netchan_chan_t *chan, int timeout_ms, int64_t *deadline)
{
    if (timeout_ms == 0) {
        return false;
    }
    chan->waiters++;
    if (timeout_ms < 0) {
        pthread_cond_wait(&chan->cond, &chan->mu);
        chan->waiters--;
        return true;
    }
    int64_t now = nc_now_ms();
    if (*deadline == 0) {
        *deadline = now + timeout_ms;
    }
    if (now >= *deadline) {
        chan->waiters--;
        return false;
    }
    struct timespec until;
    until.tv_sec = (time_t)(*deadline / 1000);
    until.tv_nsec = (long)(*deadline % 1000) * 1000000L;
    int rc = pthread_cond_timedwait(&chan->cond, &chan->mu, &until);
    chan->waiters--;
    return rc != ETIMEDOUT || nc_now_ms() < *deadline;
}

/* Returns the error for a blocking call that could not finish before its deadline. */
static netchan_err timed_out(netchan_chan_t *chan, int timeout_ms, const char *operation)
{
    if (timeout_ms == 0) {
        return chan_error_locked(chan, NETCHAN_EAGAIN, "%s on channel '%s' would block", operation,
                                 chan->name);
    }
    return chan_error_locked(chan, NETCHAN_ETIMEDOUT, "%s on channel '%s' timed out after %d ms",
                             operation, chan->name, timeout_ms);
}

/* ---- sending ---- */

static netchan_err send_value(netchan_chan_t *chan, nc_value_t *value, int timeout_ms)
{
    int64_t deadline = 0;
    netchan_err err = NETCHAN_OK;

    pthread_mutex_lock(&chan->mu);
    for (;;) {
        if (chan->failure != NETCHAN_OK) {
            err = chan->failure;
            break;
        }
        if (chan->closed) {
            err = chan_error_locked(chan, NETCHAN_ECLOSED, "channel '%s' is closed", chan->name);
            break;
        }
        if (chan->pending < chan->options.capacity) {
            break;
        }
        if (!chan_wait(chan, timeout_ms, &deadline)) {
            err = timed_out(chan, timeout_ms, "send");
            break;
        }
    }
    if (err != NETCHAN_OK) {
        pthread_mutex_unlock(&chan->mu);
        free(value);
        return err;
    }
    value->seq = ++chan->next_seq;
    bool was_empty = chan->queue.count == 0;
    if (nc_ring_push_back(&chan->queue, value) != 0) {
        chan->next_seq--;
        err = chan_error_locked(chan, NETCHAN_ENOMEM, "channel '%s': out of memory", chan->name);
        pthread_mutex_unlock(&chan->mu);
        free(value);
        return err;
    }
    chan->pending++;
    sync_ready_locked(chan);
    pthread_mutex_unlock(&chan->mu);
    nc_stat_add(chan, NETCHAN_STAT_SENT, 1);

    if (was_empty) {
        nc_endpoint_wake(chan->ep);
    }
    return NETCHAN_OK;
}

static netchan_err check_sendable(netchan_chan_t *chan, size_t size)
{
    if (chan->dir != NETCHAN_SEND) {
        pthread_mutex_lock(&chan->mu);
        netchan_err err = chan_error_locked(chan, NETCHAN_ESTATE,
                                            "channel '%s' receives; it cannot send", chan->name);
        pthread_mutex_unlock(&chan->mu);
        return err;
    }
    if (size > chan->options.max_value_size) {
        pthread_mutex_lock(&chan->mu);
        netchan_err err = chan_error_locked(
            chan, NETCHAN_ETOOBIG, "value of %zu bytes exceeds the maximum of %u on channel '%s'",
            size, chan->options.max_value_size, chan->name);
        pthread_mutex_unlock(&chan->mu);
        return err;
    }
    return NETCHAN_OK;
}

netchan_err netchan_send_bytes(netchan_chan_t *chan, const void *data, size_t size, int timeout_ms)
{
    if (chan == NULL || (data == NULL && size > 0)) {
        return NETCHAN_EINVAL;
    }
    netchan_err err = check_sendable(chan, size);
    if (err != NETCHAN_OK) {
        return err;
    }
    nc_value_t *value = nc_value_new(data, size);
    if (value == NULL) {
        return NETCHAN_ENOMEM;
    }
    return send_value(chan, value, timeout_ms);
}

netchan_err netchan_send(netchan_chan_t *chan, const ProtobufCMessage *msg, int timeout_ms)
{
    if (chan == NULL || msg == NULL) {
        return NETCHAN_EINVAL;
    }
    if (chan->type == NULL || msg->descriptor != chan->type) {
        pthread_mutex_lock(&chan->mu);
        netchan_err err =
            chan->type == NULL
                ? chan_error_locked(chan, NETCHAN_ESTATE,
                                    "channel '%s' carries bytes; use netchan_send_bytes()",
                                    chan->name)
                : chan_error_locked(chan, NETCHAN_EINVAL, "channel '%s' carries %s, not %s",
                                    chan->name, chan->type_name, msg->descriptor->name);
        pthread_mutex_unlock(&chan->mu);
        return err;
    }
    size_t size = protobuf_c_message_get_packed_size(msg);
    netchan_err err = check_sendable(chan, size);
    if (err != NETCHAN_OK) {
        return err;
    }
    nc_value_t *value = nc_value_new(NULL, 0);
    nc_value_t *sized = value != NULL ? realloc(value, sizeof(*value) + size) : NULL;
    if (sized == NULL) {
        free(value);
        return NETCHAN_ENOMEM;
    }
    sized->size = (uint32_t)protobuf_c_message_pack(msg, sized->data);
    return send_value(chan, sized, timeout_ms);
}

/* ---- receiving ---- */

/* Takes the next value from the inbox, waiting up to timeout_ms. */
static netchan_err take_value(netchan_chan_t *chan, int timeout_ms, nc_value_t **value_p)
{
    if (chan->dir != NETCHAN_RECV) {
        pthread_mutex_lock(&chan->mu);
        netchan_err err = chan_error_locked(chan, NETCHAN_ESTATE,
                                            "channel '%s' sends; it cannot receive", chan->name);
        pthread_mutex_unlock(&chan->mu);
        return err;
    }
    int64_t deadline = 0;
    netchan_err err = NETCHAN_OK;
    bool wake_engine = false;

    pthread_mutex_lock(&chan->mu);
    for (;;) {
        if (chan->closed) {
            err = chan_error_locked(chan, NETCHAN_ECLOSED, "channel '%s' is closed", chan->name);
            break;
        }
        if (chan->inbox.count > 0) {
            /* An unacknowledged channel stops reading its socket while the inbox is full. */
            wake_engine =
                chan->options.unacknowledged && chan->inbox.count >= chan->options.capacity;
            *value_p = nc_ring_pop_front(&chan->inbox);
            sync_ready_locked(chan);
            break;
        }
        if (chan->eof) {
            err = chan_error_locked(chan, NETCHAN_ECLOSED, "channel '%s' was closed by its sender",
                                    chan->name);
            break;
        }
        if (chan->failure != NETCHAN_OK) {
            err = chan->failure;
            break;
        }
        if (!chan_wait(chan, timeout_ms, &deadline)) {
            err = timed_out(chan, timeout_ms, "receive");
            break;
        }
    }
    pthread_mutex_unlock(&chan->mu);
    if (wake_engine) {
        nc_endpoint_wake(chan->ep);
    }
    return err;
}

/* Queues a verdict for value and wakes the engine if it is the first one waiting. */
static void settle(netchan_chan_t *chan, const nc_value_t *value, nc_verdict_kind_t kind)
{
    if (chan->options.unacknowledged) {
        return; /* nobody waits for a verdict */
    }
    pthread_mutex_lock(&chan->mu);
    bool was_empty = chan->verdicts.count == 0;
    nc_chan_add_verdict_locked(chan, value->link_key, value->seq, kind);
    pthread_mutex_unlock(&chan->mu);
    if (was_empty) {
        nc_endpoint_wake(chan->ep);
    }
}

netchan_err netchan_recv_msg(netchan_chan_t *chan, int timeout_ms, netchan_msg_t **msg_p)
{
    if (chan == NULL || msg_p == NULL) {
        return NETCHAN_EINVAL;
    }
    netchan_msg_t *msg = calloc(1, sizeof(*msg));
    if (msg == NULL) {
        return NETCHAN_ENOMEM;
    }
    nc_value_t *value = NULL;
    netchan_err err = take_value(chan, timeout_ms, &value);
    if (err != NETCHAN_OK) {
        free(msg);
        return err;
    }
    nc_stat_add(chan, NETCHAN_STAT_TAKEN, 1);
    if (chan->options.explicit_ack && !chan->options.unacknowledged) {
        nc_held_t *held = calloc(1, sizeof(*held));
        if (held == NULL) {
            /* Give the value back rather than hand out one that cannot be acknowledged. */
            settle(chan, value, NC_VERDICT_RETURN);
            free(value);
            free(msg);
            return NETCHAN_ENOMEM;
        }
        held->link_key = value->link_key;
        held->seq = value->seq;
        held->refs = 2;
        if (chan->options.ack_deadline_ms > 0) {
            held->deadline = nc_now_ms() + chan->options.ack_deadline_ms;
        }
        pthread_mutex_lock(&chan->mu);
        if (nc_ring_push_back(&chan->held, held) != 0) {
            held->refs = 1; /* not tracked: no deadline, acknowledged normally */
        }
        chan->taken_unacked++;
        pthread_mutex_unlock(&chan->mu);
        msg->held = held;
    } else {
        settle(chan, value, NC_VERDICT_ACK);
    }
    msg->chan = chan;
    msg->value = value;
    *msg_p = msg;
    return NETCHAN_OK;
}

netchan_err netchan_recv(netchan_chan_t *chan, int timeout_ms, ProtobufCMessage **msg_p)
{
    if (chan == NULL || msg_p == NULL) {
        return NETCHAN_EINVAL;
    }
    if (chan->type == NULL || chan->options.explicit_ack) {
        pthread_mutex_lock(&chan->mu);
        netchan_err err = chan_error_locked(
            chan, NETCHAN_ESTATE, "channel '%s' %s; use netchan_recv_msg()", chan->name,
            chan->type == NULL ? "carries bytes" : "uses explicit acknowledgement");
        pthread_mutex_unlock(&chan->mu);
        return err;
    }
    int64_t deadline = -1; /* computed only after a value failed to decode */
    for (;;) {
        int remaining = timeout_ms;
        if (deadline >= 0) {
            int64_t left = deadline - nc_now_ms();
            remaining = left > 0 ? (int)left : 0;
        }
        nc_value_t *value = NULL;
        netchan_err err = take_value(chan, remaining, &value);
        if (err != NETCHAN_OK) {
            return err;
        }
        ProtobufCMessage *unpacked =
            nc_value_nesting_ok(chan->type, value->data, value->size)
                ? protobuf_c_message_unpack(chan->type, NULL, value->size, value->data)
                : NULL;
        if (unpacked != NULL) {
            nc_stat_add(chan, NETCHAN_STAT_TAKEN, 1); /* undecodable values are never taken */
            settle(chan, value, NC_VERDICT_ACK);
            free(value);
            *msg_p = unpacked;
            return NETCHAN_OK;
        }
        /* Never delivered: the sender learns of it through the rejection. */
        pthread_mutex_lock(&chan->mu);
        chan->decode_failures++;
        nc_chan_set_error(chan, "channel '%s': rejected value seq %llu that is not a valid %s",
                          chan->name, (unsigned long long)value->seq, chan->type_name);
        pthread_mutex_unlock(&chan->mu);
        settle(chan, value, NC_VERDICT_REJECT);
        free(value);
        if (deadline < 0 && timeout_ms >= 0) {
            deadline = nc_now_ms() + timeout_ms;
        }
    }
}

const uint8_t *netchan_msg_data(const netchan_msg_t *msg)
{
    return msg != NULL ? msg->value->data : NULL;
}

size_t netchan_msg_size(const netchan_msg_t *msg)
{
    return msg != NULL ? msg->value->size : 0;
}

bool netchan_msg_redelivered(const netchan_msg_t *msg)
{
    return msg != NULL && (msg->value->redelivered || msg->value->attempts > 1);
}

uint32_t netchan_msg_attempts(const netchan_msg_t *msg)
{
    return msg != NULL ? msg->value->attempts : 0;
}

netchan_err netchan_msg_unpack(const netchan_msg_t *msg, ProtobufCMessage **out_p)
{
    if (msg == NULL || out_p == NULL) {
        return NETCHAN_EINVAL;
    }
    netchan_chan_t *chan = msg->chan;
    if (chan->type == NULL) {
        return NETCHAN_ESTATE;
    }
    ProtobufCMessage *unpacked =
        nc_value_nesting_ok(chan->type, msg->value->data, msg->value->size)
            ? protobuf_c_message_unpack(chan->type, NULL, msg->value->size, msg->value->data)
            : NULL;
    if (unpacked == NULL) {
        pthread_mutex_lock(&chan->mu);
        netchan_err err = chan_error_locked(
            chan, NETCHAN_EDECODE, "value seq %llu on channel '%s' is not a valid %s",
            (unsigned long long)msg->value->seq, chan->name, chan->type_name);
        pthread_mutex_unlock(&chan->mu);
        return err;
    }
    *out_p = unpacked;
    return NETCHAN_OK;
}

/* Settles an explicitly acknowledged message with kind (acknowledge or release). */
static netchan_err settle_held(netchan_msg_t *msg, nc_verdict_kind_t kind)
{
    if (msg == NULL) {
        return NETCHAN_EINVAL;
    }
    netchan_chan_t *chan = msg->chan;
    if (msg->held == NULL) {
        pthread_mutex_lock(&chan->mu);
        netchan_err err = chan_error_locked(
            chan, NETCHAN_ESTATE,
            "channel '%s' acknowledges values when they are taken; open it with "
            "netchan_options_set_explicit_ack() to acknowledge or release them yourself",
            chan->name);
        pthread_mutex_unlock(&chan->mu);
        return err;
    }
    netchan_err err = NETCHAN_OK;
    bool was_empty = false;
    pthread_mutex_lock(&chan->mu);
    nc_held_t *held = msg->held;
    if (held->expired) {
        err = chan_error_locked(chan, NETCHAN_ETIMEDOUT,
                                "value seq %llu on channel '%s' passed its acknowledgement "
                                "deadline of %u ms and was released for redelivery",
                                (unsigned long long)held->seq, chan->name,
                                chan->options.ack_deadline_ms);
    } else if (!held->settled) {
        held->settled = true;
        chan->taken_unacked--;
        was_empty = chan->verdicts.count == 0;
        nc_chan_add_verdict_locked(chan, held->link_key, held->seq, kind);
    }
    pthread_mutex_unlock(&chan->mu);
    if (was_empty) {
        nc_endpoint_wake(chan->ep);
    }
    return err;
}

netchan_err netchan_msg_ack(netchan_msg_t *msg)
{
    return settle_held(msg, NC_VERDICT_ACK);
}

netchan_err netchan_msg_release(netchan_msg_t *msg)
{
    return settle_held(msg, NC_VERDICT_RELEASE);
}

netchan_err netchan_msg_return(netchan_msg_t *msg)
{
    return settle_held(msg, NC_VERDICT_RETURN);
}

netchan_err netchan_msg_reject(netchan_msg_t *msg)
{
    return settle_held(msg, NC_VERDICT_REJECT);
}

void netchan_msg_destroy(netchan_msg_t **msg_p)
{
    if (msg_p == NULL || *msg_p == NULL) {
        return;
    }
    netchan_msg_t *msg = *msg_p;
    if (msg->held != NULL) {
        pthread_mutex_lock(&msg->chan->mu);
        if (--msg->held->refs == 0) {
            free(msg->held);
        }
        pthread_mutex_unlock(&msg->chan->mu);
    }
    free(msg->value);
    free(msg);
    *msg_p = NULL;
}

int64_t nc_chan_expire_held(netchan_chan_t *chan, int64_t now)
{
    int64_t next = -1;
    pthread_mutex_lock(&chan->mu);
    while (chan->held.count > 0) {
        nc_held_t *held = nc_ring_at(&chan->held, 0);
        if (!held->settled) {
            if (held->deadline == 0 || held->deadline > now) {
                break;
            }
            held->settled = true;
            held->expired = true;
            chan->taken_unacked--;
            nc_chan_add_verdict_locked(chan, held->link_key, held->seq, NC_VERDICT_RELEASE);
            nc_log(NETCHAN_LOG_WARNING,
                   "channel '%s': value seq %llu unacknowledged after %u ms; released for "
                   "redelivery",
                   chan->name, (unsigned long long)held->seq, chan->options.ack_deadline_ms);
        }
        (void)nc_ring_pop_front(&chan->held);
        if (--held->refs == 0) {
            free(held);
        }
    }
    /* Deadlines grow in take order, so the first unsettled entry has the nearest one. */
    for (size_t i = 0; i < chan->held.count; i++) {
        nc_held_t *held = nc_ring_at(&chan->held, i);
        if (!held->settled) {
            next = held->deadline > 0 ? held->deadline - now : -1;
            break;
        }
    }
    pthread_mutex_unlock(&chan->mu);
    return next;
}

/* ---- closing and draining ---- */

netchan_err netchan_close(netchan_chan_t *chan)
{
    if (chan == NULL) {
        return NETCHAN_EINVAL;
    }
    pthread_mutex_lock(&chan->mu);
    bool was_closed = chan->closed;
    chan->closed = true;
    nc_chan_broadcast(chan);
    pthread_mutex_unlock(&chan->mu);
    if (!was_closed) {
        nc_endpoint_wake(chan->ep);
    }
    return NETCHAN_OK;
}

netchan_err netchan_drain(netchan_chan_t *chan, int timeout_ms, uint64_t *pending_p)
{
    if (chan == NULL) {
        return NETCHAN_EINVAL;
    }
    int64_t deadline = 0;
    netchan_err err = NETCHAN_OK;

    pthread_mutex_lock(&chan->mu);
    uint64_t *count = chan->dir == NETCHAN_SEND ? &chan->pending : &chan->unconfirmed;
    while (*count > 0) {
        if (chan->failure != NETCHAN_OK && chan->failure != NETCHAN_ECLOSED) {
            err = chan->failure;
            break;
        }
        if (!chan_wait(chan, timeout_ms, &deadline)) {
            err = chan_error_locked(
                chan, NETCHAN_ETIMEDOUT, "channel '%s': %llu value(s) still %s after %d ms",
                chan->name, (unsigned long long)*count,
                chan->dir == NETCHAN_SEND ? "unacknowledged" : "unconfirmed by the sender",
                timeout_ms);
            break;
        }
    }
    if (err == NETCHAN_OK && chan->dir == NETCHAN_SEND && chan->rejected > 0) {
        err = NETCHAN_EREJECTED; /* chan->errmsg names the rejected values */
    }
    if (err == NETCHAN_OK && chan->dir == NETCHAN_SEND && chan->discarded > 0) {
        err = chan_error_locked(chan, NETCHAN_EDISCARDED,
                                "channel '%s': %llu value(s) discarded after %u delivery "
                                "attempts",
                                chan->name, (unsigned long long)chan->discarded,
                                chan->options.max_attempts);
    }
    if (pending_p != NULL) {
        *pending_p = *count;
    }
    pthread_mutex_unlock(&chan->mu);
    return err;
}

uint64_t netchan_pending(netchan_chan_t *chan)
{
    if (chan == NULL) {
        return 0;
    }
    pthread_mutex_lock(&chan->mu);
    uint64_t pending = chan->dir == NETCHAN_SEND ? chan->pending : chan->inbox.count;
    pthread_mutex_unlock(&chan->mu);
    return pending;
}

const char *netchan_chan_name(const netchan_chan_t *chan)
{
    return chan != NULL ? chan->name : NULL;
}

const char *netchan_chan_error(netchan_chan_t *chan)
{
    if (chan == NULL) {
        return nc_thread_copy("no channel given");
    }
    pthread_mutex_lock(&chan->mu);
    const char *copy = nc_thread_copy(chan->errmsg);
    pthread_mutex_unlock(&chan->mu);
    return copy;
}

int netchan_chan_fd(netchan_chan_t *chan)
{
    if (chan == NULL) {
        return -1;
    }
    pthread_mutex_lock(&chan->mu);
    if (chan->ready_fds[0] < 0) {
        if (pipe2(chan->ready_fds, O_NONBLOCK | O_CLOEXEC) != 0) {
            chan->ready_fds[0] = chan->ready_fds[1] = -1;
            chan_error_locked(chan, NETCHAN_ESYSTEM,
                              "cannot make a descriptor for channel '%s': %s", chan->name,
                              strerror(errno));
        }
        chan->ready_signalled = false;
        sync_ready_locked(chan);
    }
    int fd = chan->ready_fds[0];
    pthread_mutex_unlock(&chan->mu);
    return fd;
}

uint64_t netchan_chan_stat(netchan_chan_t *chan, netchan_stat stat)
{
    if (chan == NULL || stat < NETCHAN_STAT_SENT || stat >= NC_STAT_SLOTS) {
        return 0;
    }
    if (stat == NETCHAN_STAT_PENDING) {
        return netchan_pending(chan);
    }
    if (stat == NETCHAN_STAT_IN_FLIGHT && chan->dir == NETCHAN_SEND &&
        !chan->options.unacknowledged) {
        /* Exact at any moment: accepted and not acknowledged, minus what still waits to go. */
        pthread_mutex_lock(&chan->mu);
        uint64_t in_flight = chan->pending - chan->queue.count;
        pthread_mutex_unlock(&chan->mu);
        return in_flight;
    }
    return atomic_load_explicit(&chan->stats[stat], memory_order_relaxed);
}

const char *netchan_stat_name(netchan_stat stat)
{
    switch (stat) {
    case NETCHAN_STAT_SENT:
        return "sent";
    case NETCHAN_STAT_DELIVERED:
        return "delivered";
    case NETCHAN_STAT_ACKNOWLEDGED:
        return "acknowledged";
    case NETCHAN_STAT_REDELIVERED:
        return "redelivered";
    case NETCHAN_STAT_PENDING:
        return "pending";
    case NETCHAN_STAT_REJECTED:
        return "rejected";
    case NETCHAN_STAT_IMPORTERS:
        return "importers";
    case NETCHAN_STAT_IN_FLIGHT:
        return "in_flight";
    case NETCHAN_STAT_RECEIVED:
        return "received";
    case NETCHAN_STAT_TAKEN:
        return "taken";
    case NETCHAN_STAT_RETURNED:
        return "returned";
    case NETCHAN_STAT_DUPLICATES:
        return "duplicates";
    case NETCHAN_STAT_DEAD_LETTERED:
        return "dead_lettered";
    case NETCHAN_STAT_TAKEN_BACK:
        return "taken_back";
    }
    return NULL;
}

netchan_err netchan_chan_allow_key(netchan_chan_t *chan, const char *public_key)
{
    if (chan == NULL || public_key == NULL || strlen(public_key) != 40) {
        return NETCHAN_EINVAL;
    }
    pthread_mutex_lock(&chan->mu);
    char(*keys)[41] = realloc(chan->allowed_keys, (chan->allowed_count + 1) * sizeof(*keys));
    netchan_err err = NETCHAN_OK;
    if (keys == NULL) {
        err = chan_error_locked(chan, NETCHAN_ENOMEM, "out of memory");
    } else {
        chan->allowed_keys = keys;
        memcpy(keys[chan->allowed_count++], public_key, 41);
    }
    pthread_mutex_unlock(&chan->mu);
    return err;
}

bool nc_chan_admits_key(netchan_chan_t *chan, const char *public_key)
{
    pthread_mutex_lock(&chan->mu);
    bool allowed = chan->allowed_count == 0;
    for (size_t i = 0; i < chan->allowed_count && !allowed; i++) {
        allowed = strcmp(chan->allowed_keys[i], public_key) == 0;
    }
    pthread_mutex_unlock(&chan->mu);
    return allowed;
}
