/* Unacknowledged channels: values travel over a ZeroMQ PUSH/PULL pair beside the session's
 * ROUTER/DEALER connection, with no acknowledgement, redelivery or resume. The session still
 * carries the bind (with the type check) and end of stream.
 *
 * The exporter binds the data socket next to its own endpoint when the first importer binds the
 * channel: a PUSH for an exported send channel, whose round robin gives each value to one
 * importer, and a PULL for an exported receive channel, which merges the importers' PUSHes.
 * Values are batched into Data frames as on acknowledged channels. At most once: values queued
 * in libzmq or at a receiver are lost when a connection or a receiver is. */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nc.h"

/* End of stream travels on the session connection, which can overtake values still queued on
 * the data connection; the receiver ends the stream only once no data arrived for this long. */
#define END_QUIET_MS 50

static void *open_socket(netchan_chan_t *chan, bool exporter_side)
{
    /* The side that sends values holds the PUSH. */
    bool pushes = chan->dir == NETCHAN_SEND;
    void *socket = zmq_socket(zsys_init(), pushes ? ZMQ_PUSH : ZMQ_PULL);
    if (socket == NULL) {
        return NULL;
    }
    int zero = 0;
    int hwm = (int)chan->options.capacity;
    int64_t max_size = NC_MAX_MESSAGE_SIZE;
    zmq_setsockopt(socket, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(socket, pushes ? ZMQ_SNDHWM : ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(socket, ZMQ_MAXMSGSIZE, &max_size, sizeof(max_size));
    nc_security_apply_channel(chan->ep, chan, socket, exporter_side);
    return socket;
}

/* Derives the data endpoint from the exporter's own: the same host with a port the system picks,
 * or a sibling ipc path or inproc name. */
static int data_endpoint_for(const char *endpoint, const char *channel, char *out, size_t size)
{
    if (strncmp(endpoint, "tcp://", 6) == 0) {
        const char *colon = strrchr(endpoint, ':');
        if (colon == NULL || colon < endpoint + 6) {
            return -1;
        }
        nc_format(out, size, "%.*s:*", (int)(colon - endpoint), endpoint);
        return 0;
    }
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0) {
        nc_format(out, size, "%s.%s.data", endpoint, channel);
        return strlen(out) + 1 < size ? 0 : -1;
    }
    return -1;
}

netchan_err nc_unacked_open_exporter(nc_endpoint_t *ep, netchan_chan_t *chan, char *message,
                                     size_t size)
{
    if (chan->data_socket != NULL) {
        return NETCHAN_OK;
    }
    char endpoint[256];
    if (ep->last_endpoint[0] == '\0' ||
        data_endpoint_for(ep->last_endpoint, chan->name, endpoint, sizeof(endpoint)) != 0) {
        nc_format(message, size,
                  "unacknowledged channel '%s' needs the exporter to bind a tcp, ipc or inproc "
                  "endpoint",
                  chan->name);
        return NETCHAN_ESTATE;
    }
    void *socket = open_socket(chan, true);
    if (socket == NULL || zmq_bind(socket, endpoint) != 0) {
        nc_format(message, size, "cannot bind the data socket of channel '%s' to '%s': %s",
                  chan->name, endpoint, zmq_strerror(errno));
        if (socket != NULL) {
            zmq_close(socket);
        }
        return NETCHAN_EENDPOINT;
    }
    size_t length = sizeof(chan->data_endpoint);
    zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, chan->data_endpoint, &length);
    chan->data_socket = socket;
    nc_log(NETCHAN_LOG_INFO, "exporter: unacknowledged channel '%s' carries values on %s",
           chan->name, chan->data_endpoint);
    return NETCHAN_OK;
}

/* Replaces a wildcard host in data_endpoint by the host the importer reached the exporter at. */
static void resolve_host(const char *data_endpoint, const char *session_endpoint, char *out,
                         size_t size)
{
    nc_format(out, size, "%s", data_endpoint);
    if (strncmp(data_endpoint, "tcp://0.0.0.0:", 14) != 0 &&
        strncmp(data_endpoint, "tcp://[::]:", 11) != 0) {
        return;
    }
    const char *port = strrchr(data_endpoint, ':');
    const char *colon = strrchr(session_endpoint, ':');
    if (strncmp(session_endpoint, "tcp://", 6) == 0 && colon != NULL && port != NULL) {
        nc_format(out, size, "%.*s%s", (int)(colon - session_endpoint), session_endpoint, port);
    }
}

netchan_err nc_unacked_open_importer(nc_endpoint_t *ep, netchan_chan_t *chan,
                                     const char *data_endpoint, char *message, size_t size)
{
    if (chan->data_socket != NULL) {
        zmq_close(chan->data_socket);
        chan->data_socket = NULL;
    }
    char endpoint[256];
    resolve_host(data_endpoint, ep->last_endpoint_connected, endpoint, sizeof(endpoint));
    void *socket = open_socket(chan, false);
    if (socket == NULL || zmq_connect(socket, endpoint) != 0) {
        nc_format(message, size, "cannot connect the data socket of channel '%s' to '%s': %s",
                  chan->name, endpoint, zmq_strerror(errno));
        if (socket != NULL) {
            zmq_close(socket);
        }
        return NETCHAN_EENDPOINT;
    }
    nc_format(chan->data_endpoint, sizeof(chan->data_endpoint), "%s", endpoint);
    chan->data_socket = socket;
    return NETCHAN_OK;
}

bool nc_unacked_wants_input(netchan_chan_t *chan)
{
    if (chan->data_socket == NULL || chan->dir != NETCHAN_RECV) {
        return false;
    }
    /* A full inbox leaves values in libzmq's queue, whose high-water mark holds the sender. */
    pthread_mutex_lock(&chan->mu);
    bool room = chan->inbox.count < chan->options.capacity && !chan->closed;
    pthread_mutex_unlock(&chan->mu);
    return room;
}

void nc_unacked_receive(netchan_chan_t *chan, int64_t now)
{
    uint64_t received = 0;
    while (nc_unacked_wants_input(chan)) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, chan->data_socket, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            break;
        }
        nc_data_t data;
        bool decoded =
            nc_data_parse(&chan->ep->arena, zmq_msg_data(&msg), zmq_msg_size(&msg), &data);
        if (!decoded) {
            Netchan__Wire__Frame *frame =
                nc_frame_decode_in(&chan->ep->arena, zmq_msg_data(&msg), zmq_msg_size(&msg));
            decoded = frame != NULL && frame->body_case == NETCHAN__WIRE__FRAME__BODY_DATA &&
                      nc_data_from_frame(&chan->ep->arena, frame->data, &data);
        }
        if (!decoded) {
            zmq_msg_close(&msg);
            nc_log(NETCHAN_LOG_WARNING,
                   "channel '%s': ignored a malformed frame on the data socket", chan->name);
            continue;
        }
        pthread_mutex_lock(&chan->mu);
        for (size_t i = 0; i < data.count; i++) {
            const nc_wire_value_t *wire = &data.values[i];
            if (wire->size > chan->options.max_value_size) {
                nc_stat_add(chan, NETCHAN_STAT_REJECTED, 1);
                continue;
            }
            nc_value_t *value = nc_value_new(wire->payload, wire->size);
            if (value == NULL || nc_ring_push_back(&chan->inbox, value) != 0) {
                free(value); /* at most once: a value that cannot be held is dropped */
                continue;
            }
            value->seq = wire->seq;
            value->attempts = 1;
            received++;
        }
        nc_chan_broadcast(chan);
        pthread_mutex_unlock(&chan->mu);
        zmq_msg_close(&msg); /* the values above pointed into it */
        if (chan->end_at > 0) {
            chan->end_at = now + END_QUIET_MS;
        }
    }
    nc_stat_add(chan, NETCHAN_STAT_RECEIVED, received);
}

int64_t nc_unacked_pump(netchan_chan_t *chan, int64_t now)
{
    if (chan->data_socket == NULL || chan->retry_at > now) {
        return chan->data_socket == NULL ? -1 : chan->retry_at - now;
    }
    for (int round = 0; round < 64; round++) {
        nc_value_t *batch[NC_BATCH_VALUES];
        size_t n = 0;
        size_t bytes = 0;
        pthread_mutex_lock(&chan->mu);
        while (n < NC_BATCH_VALUES && bytes < NC_BATCH_BYTES && chan->queue.count > 0) {
            batch[n] = nc_ring_pop_front(&chan->queue);
            bytes += batch[n]->size;
            n++;
        }
        pthread_mutex_unlock(&chan->mu);
        if (n == 0) {
            return -1;
        }

        /* Values go out with their first attempt counted; no link or epoch applies. */
        for (size_t i = 0; i < n; i++) {
            batch[i]->attempts = 1;
        }
        size_t size = nc_data_encoded_size(1, 0, batch, n);
        zmq_msg_t msg;
        int rc = zmq_msg_init_size(&msg, size);
        if (rc == 0) {
            nc_data_encode(zmq_msg_data(&msg), 1, 0, batch, n);
            rc = zmq_msg_send(&msg, chan->data_socket, ZMQ_DONTWAIT) < 0 ? -1 : 0;
            if (rc != 0) {
                zmq_msg_close(&msg);
            }
        }
        if (rc != 0) {
            /* No receiver connected, or its queue is full: keep the values, in order. */
            pthread_mutex_lock(&chan->mu);
            for (size_t i = n; i > 0; i--) {
                (void)nc_ring_push_front(&chan->queue, batch[i - 1]);
            }
            pthread_mutex_unlock(&chan->mu);
            chan->retry_at = now + 2;
            return 2;
        }

        for (size_t i = 0; i < n; i++) {
            free(batch[i]);
        }
        pthread_mutex_lock(&chan->mu);
        chan->pending -= n;
        nc_chan_broadcast(chan);
        pthread_mutex_unlock(&chan->mu);
        nc_stat_add(chan, NETCHAN_STAT_DELIVERED, n);
    }
    return 0;
}

void nc_unacked_on_end(netchan_chan_t *chan, int64_t now)
{
    if (chan->end_at == 0) {
        chan->end_at = now + END_QUIET_MS;
    }
}

int64_t nc_unacked_check_end(netchan_chan_t *chan, int64_t now)
{
    if (chan->end_at == 0) {
        return -1;
    }
    if (now < chan->end_at) {
        return chan->end_at - now;
    }
    pthread_mutex_lock(&chan->mu);
    if (!chan->eof) {
        chan->eof = true;
        nc_chan_broadcast(chan);
    }
    pthread_mutex_unlock(&chan->mu);
    return -1;
}

void nc_unacked_close(netchan_chan_t *chan)
{
    if (chan->data_socket != NULL) {
        zmq_close(chan->data_socket);
        chan->data_socket = NULL;
    }
}
