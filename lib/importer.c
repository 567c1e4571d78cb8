/* The importer: a DEALER socket whose routing id is its session id, talking to one exporter.
 *
 * Every (re)connection starts with Hello. The Welcome tells whether the exporter knew the
 * session, whether the session had been lost meanwhile (its values taken back), and the
 * exporter's instance, which changes when the exporter process restarts. The importer then binds
 * every channel again, sends again the verdicts the exporter has not confirmed, and sends again
 * the values it has in flight; both sides drop what they already have. */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nc.h"

/* How long netchan_importer_destroy() waits for the exporter to confirm the end. */
#define BYE_TIMEOUT_MS 1000

typedef enum importer_phase {
    PHASE_IDLE = 0,       /* no endpoint yet */
    PHASE_CONNECTING = 1, /* waiting for Welcome */
    PHASE_READY = 2,
    PHASE_CLOSING = 3, /* Bye sent, waiting for the answer */
} importer_phase_t;

typedef struct importer_state {
    uint8_t session_id[NC_SESSION_ID_SIZE];
    importer_phase_t phase;
    uint64_t instance; /* the exporter instance of the last Welcome, 0 before */
    uint32_t exporter_timeout_ms;
    int64_t last_heard;
    int64_t last_ping;
    int64_t next_hello;
    uint32_t next_link_id;
    uint32_t connection; /* counts handshakes; 0 until the first connection is up */
    bool refused;        /* the last handshake failed; cleared by one that succeeds */
    char refusal[NC_ERRMSG_SIZE];
    uint32_t failed_handshakes; /* in a row, closed before completing */
    int64_t reconnect_at;       /* after a refusal, when to connect again; 0 for never */
    int64_t refusal_backoff_ms;
    bool connected_out; /* the importer connected (rather than bound) its endpoint */
    bool has_endpoint;
    bool ever_welcomed;
    int64_t bye_deadline;
    bool bye_reply_pending;
} importer_state_t;

struct netchan_importer {
    nc_endpoint_t ep;
};

static importer_state_t *state_of(nc_endpoint_t *ep)
{
    return ep->role_state;
}

static nc_link_t *chan_link(netchan_chan_t *chan)
{
    return chan->link_count > 0 ? chan->links[0] : NULL;
}

/* Writes the exporter instance id as hex, the peer name in the importer's events. */
static void instance_text(char out[17], uint64_t instance)
{
    nc_format(out, 17, "%016llx", (unsigned long long)instance);
}

static void push_event(nc_endpoint_t *ep, netchan_event_type type, netchan_event_reason reason,
                       uint64_t instance, uint64_t count)
{
    char peer[17];
    instance_text(peer, instance);
    nc_events_push(&ep->events, type, reason, peer, ep->last_endpoint_connected, "", count);
}

/* Fails every import still waiting for its bind with NETCHAN_EAUTH and reason. */
static void fail_waiting_imports(nc_endpoint_t *ep, const char *reason)
{
    for (size_t i = 0; i < ep->chan_count; i++) {
        netchan_chan_t *chan = ep->chans[i];
        pthread_mutex_lock(&chan->mu);
        if (!chan->bind_done) {
            chan->bind_done = true;
            chan->bind_result = NETCHAN_EAUTH;
            nc_chan_set_error(chan, "cannot bind channel '%s': %s", chan->name, reason);
            nc_chan_broadcast(chan);
        }
        pthread_mutex_unlock(&chan->mu);
    }
}

/* Marks the exporter as lost until it welcomes this importer again. */
static void lose_exporter(nc_endpoint_t *ep, netchan_event_reason reason)
{
    importer_state_t *state = state_of(ep);
    if (state->phase != PHASE_READY) {
        return;
    }
    state->phase = PHASE_CONNECTING;
    for (size_t i = 0; i < ep->chan_count; i++) {
        nc_link_t *link = chan_link(ep->chans[i]);
        if (link != NULL && !link->sending) {
            nc_link_stop_receiving(link);
        }
    }
    push_event(ep, NETCHAN_EVENT_LOST, reason, state->instance, 0);
    nc_log(NETCHAN_LOG_WARNING, "importer: exporter at %s lost: %s; reconnecting",
           ep->last_endpoint_connected, netchan_event_reason_name(reason));
}

/* ---- transmission ---- */

static int transmit(nc_endpoint_t *ep, nc_session_t *session, zmq_msg_t *msg)
{
    (void)session;
    return zmq_msg_send(msg, ep->socket, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

static nc_transport_t transport(nc_endpoint_t *ep)
{
    return (nc_transport_t){ep, NULL, transmit};
}

static int transport_for_link(nc_endpoint_t *ep, nc_link_t *link, nc_transport_t *tx)
{
    (void)link;
    if (state_of(ep)->phase != PHASE_READY) {
        return -1;
    }
    *tx = transport(ep);
    return 0;
}

static void send_frame(nc_endpoint_t *ep, Netchan__Wire__Frame *frame)
{
    nc_transport_t tx = transport(ep);
    (void)nc_send_frame(&tx, frame); /* a lost frame is repaired by the next resume */
}

/* Sends Hello. When the connection cannot carry it yet (libzmq attaches the pipe a moment after
 * the handshake), it is tried again within a few milliseconds, not a heartbeat later. */
static void send_hello(nc_endpoint_t *ep, int64_t now)
{
    importer_state_t *state = state_of(ep);
    Netchan__Wire__Hello hello = NETCHAN__WIRE__HELLO__INIT;
    hello.version = NC_PROTOCOL_VERSION;
    hello.session.data = state->session_id;
    hello.session.len = NC_SESSION_ID_SIZE;
    hello.known_instance = state->instance;
    hello.heartbeat_ms = ep->heartbeat_ms;
    hello.connection = state->connection;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_HELLO;
    frame.hello = &hello;
    nc_transport_t tx = transport(ep);
    bool sent = nc_send_frame(&tx, &frame) == 0;
    state->next_hello = now + (sent ? (int64_t)ep->heartbeat_ms : 5);
}

static void send_bind(nc_endpoint_t *ep, nc_link_t *link, bool resume)
{
    netchan_chan_t *chan = link->chan;
    Netchan__Wire__Bind bind = NETCHAN__WIRE__BIND__INIT;
    bind.link = link->id;
    bind.channel = chan->name;
    bind.direction = nc_dir_to_wire(chan->dir);
    bind.type_name = chan->type_name;
    bind.fingerprint = chan->fingerprint;
    bind.credit = chan->dir == NETCHAN_RECV ? nc_link_start_receiving(link) : 0;
    bind.max_value_size = chan->options.max_value_size;
    bind.resume = resume;
    bind.unacknowledged = chan->options.unacknowledged;
    bind.epoch = ++link->epoch;
    bind.explicit_ack = chan->options.explicit_ack;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_BIND;
    frame.bind = &bind;
    send_frame(ep, &frame);
}

static void send_unbind(nc_endpoint_t *ep, nc_link_t *link)
{
    Netchan__Wire__Unbind unbind = NETCHAN__WIRE__UNBIND__INIT;
    unbind.link = link->id;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_UNBIND;
    frame.unbind = &unbind;
    send_frame(ep, &frame);
}

static nc_link_t *find_link(nc_endpoint_t *ep, uint32_t id)
{
    for (size_t i = 0; i < ep->chan_count; i++) {
        nc_link_t *link = chan_link(ep->chans[i]);
        if (link != NULL && link->id == id) {
            return link;
        }
    }
    return NULL;
}

/* ---- session handling ---- */

/* Drops values the application has not taken from a link whose session the exporter lost: the
 * exporter took them back and delivers them again, here or to another importer. */
static uint64_t drop_untaken(nc_link_t *link)
{
    netchan_chan_t *chan = link->chan;
    uint64_t dropped = 0;
    pthread_mutex_lock(&chan->mu);
    size_t count = chan->inbox.count;
    for (size_t i = 0; i < count; i++) {
        nc_value_t *value = nc_ring_pop_front(&chan->inbox);
        if (value->link_key == link->key) {
            nc_seqset_remove(&link->seen, value->seq);
            free(value);
            dropped++;
            link->outstanding -= link->outstanding > 0 ? 1 : 0;
        } else {
            (void)nc_ring_push_back(&chan->inbox, value);
        }
    }
    nc_chan_broadcast(chan);
    pthread_mutex_unlock(&chan->mu);
    return dropped;
}

static void on_welcome(nc_endpoint_t *ep, const Netchan__Wire__Welcome *welcome)
{
    importer_state_t *state = state_of(ep);
    if (welcome->version != NC_PROTOCOL_VERSION) {
        nc_endpoint_error(ep, NETCHAN_EPROTO,
                          "the exporter speaks protocol version %u; this importer speaks %u",
                          welcome->version, NC_PROTOCOL_VERSION);
        return;
    }
    /* Connection 0 in a Welcome means the exporter does not say which Hello it answers. */
    bool other_connection = welcome->connection != 0 && welcome->connection != state->connection;
    if (state->phase == PHASE_CLOSING || other_connection ||
        (state->phase == PHASE_READY && welcome->instance == state->instance)) {
        return; /* an answer to a Hello retried on this connection, or sent on an older one */
    }
    bool restarted = state->instance != 0 && welcome->instance != state->instance;
    uint64_t taken_back = 0;
    for (size_t i = 0; i < ep->chan_count; i++) {
        nc_link_t *link = chan_link(ep->chans[i]);
        if (link == NULL) {
            continue;
        }
        if (link->sending) {
            if (restarted) {
                /* The new exporter knows nothing of what the old one received. */
                taken_back += link->inflight.count;
                nc_link_take_back(link, true);
            }
            link->resend_index = 0;
            link->end_sent = false;
            link->bound = false;
        } else if (restarted) {
            nc_link_reset_receiver(ep, link);
        } else if (welcome->expired) {
            taken_back += drop_untaken(link);
        }
    }
    if (!state->ever_welcomed || restarted) {
        push_event(ep, NETCHAN_EVENT_CONNECTED,
                   restarted ? NETCHAN_REASON_RESTART : NETCHAN_REASON_NONE, welcome->instance,
                   taken_back);
        nc_log(NETCHAN_LOG_INFO, "importer: session with exporter %016llx at %s %s",
               (unsigned long long)welcome->instance, ep->last_endpoint_connected,
               restarted ? "started again after the exporter restarted" : "started");
    } else {
        push_event(ep, NETCHAN_EVENT_RESUMED,
                   welcome->expired ? NETCHAN_REASON_EXPIRED : NETCHAN_REASON_NONE,
                   welcome->instance, taken_back);
        nc_log(NETCHAN_LOG_INFO, "importer: session with exporter at %s resumed%s",
               ep->last_endpoint_connected,
               welcome->expired ? "; the exporter had lost it and took its values back" : "");
    }
    state->instance = welcome->instance;
    state->exporter_timeout_ms = welcome->timeout_ms;
    state->phase = PHASE_READY;
    state->ever_welcomed = true;
    state->last_heard = nc_now_ms();

    nc_transport_t tx = transport(ep);
    for (size_t i = 0; i < ep->chan_count; i++) {
        nc_link_t *link = chan_link(ep->chans[i]);
        if (link == NULL) {
            continue;
        }
        send_bind(ep, link, link->bound && !restarted);
        if (!link->sending) {
            (void)nc_link_resend_records(&tx, link);
            if (link->unbound) {
                send_unbind(ep, link);
            }
        }
    }
}

static void on_bound(nc_endpoint_t *ep, const Netchan__Wire__Bound *bound)
{
    nc_link_t *link = find_link(ep, bound->link);
    if (link == NULL) {
        return; /* an import that timed out meanwhile */
    }
    if (bound->epoch != 0 && bound->epoch != link->epoch) {
        return; /* answers an earlier Bind of this link (0: the exporter does not say) */
    }
    netchan_chan_t *chan = link->chan;
    netchan_err err = nc_err_from_wire(bound->error);
    char message[NC_ERRMSG_SIZE];
    if (err == NETCHAN_OK && chan->options.unacknowledged) {
        err = bound->data_endpoint[0] == '\0'
                  ? NETCHAN_EPROTO
                  : nc_unacked_open_importer(ep, chan, bound->data_endpoint, message,
                                             sizeof(message));
        if (bound->data_endpoint[0] == '\0') {
            nc_format(message, sizeof(message),
                      "the exporter gave no data endpoint for unacknowledged channel '%s'",
                      chan->name);
        }
    }
    pthread_mutex_lock(&chan->mu);
    if (err != NETCHAN_OK) {
        nc_chan_set_error(chan, "%s", bound->error != 0 ? bound->message : message);
        chan->failure = err;
    } else {
        link->bound = true;
        if (link->sending) {
            nc_link_start_sending(link, bound->credit);
            link->peer_max_value_size = bound->max_value_size;
        }
    }
    chan->bind_done = true;
    chan->bind_result = err;
    nc_chan_broadcast(chan);
    pthread_mutex_unlock(&chan->mu);
}

/* The exporter ended gracefully: it confirmed what it had, and nothing it sent can come back,
 * so verdicts still unconfirmed need no confirmation. A restarted exporter is a new session. */
static void on_exporter_bye(nc_endpoint_t *ep)
{
    importer_state_t *state = state_of(ep);
    for (size_t i = 0; i < ep->chan_count; i++) {
        nc_link_t *link = chan_link(ep->chans[i]);
        if (link != NULL && !link->sending) {
            nc_link_on_confirm(link, UINT64_MAX);
        }
    }
    push_event(ep, NETCHAN_EVENT_ENDED, NETCHAN_REASON_NONE, state->instance, 0);
    nc_log(NETCHAN_LOG_INFO, "importer: exporter at %s ended the session",
           ep->last_endpoint_connected);
    state->phase = PHASE_CONNECTING;
}

static void on_error(nc_endpoint_t *ep, const Netchan__Wire__Error *error)
{
    importer_state_t *state = state_of(ep);
    if (error->code == NETCHAN__WIRE__ERROR_CODE__ERROR_NO_SESSION) {
        if (state->phase == PHASE_READY) {
            lose_exporter(ep, NETCHAN_REASON_EXPIRED);
            send_hello(ep, nc_now_ms());
        }
        return;
    }
    nc_link_t *link = error->link != 0 ? find_link(ep, error->link) : NULL;
    if (error->link != 0 && link == NULL) {
        /* About a link this importer already dropped, such as an import that timed out. */
        nc_log(NETCHAN_LOG_DEBUG, "importer: the exporter at %s reported on a dropped link: %s",
               ep->last_endpoint_connected, error->message);
        return;
    }
    if (link != NULL) {
        nc_chan_fail(link->chan, nc_err_from_wire(error->code), "exporter reported on '%s': %s",
                     link->chan->name, error->message);
    } else {
        nc_endpoint_error(ep, nc_err_from_wire(error->code), "exporter reported: %s",
                          error->message);
    }
    if (link == NULL && nc_err_from_wire(error->code) == NETCHAN_EAUTH) {
        /* The exporter refused this importer's Hello: imports waiting for a bind fail now. */
        char reason[NC_ERRMSG_SIZE];
        nc_format(reason, sizeof(reason), "the exporter at %s refused: %s",
                  ep->last_endpoint_connected, error->message);
        fail_waiting_imports(ep, reason);
    }
    nc_log(NETCHAN_LOG_ERROR, "importer: the exporter at %s reported an error%s%s: %s",
           ep->last_endpoint_connected, link != NULL ? " on channel " : "",
           link != NULL ? link->chan->name : "", error->message);
}

/* Returns the link for a frame when it exists with the expected role. */
static nc_link_t *expect_link(nc_endpoint_t *ep, uint32_t id, bool sending)
{
    nc_link_t *link = find_link(ep, id);
    return link != NULL && link->sending == sending ? link : NULL;
}

static void importer_on_message(nc_endpoint_t *ep, zmq_msg_t *parts, int count)
{
    importer_state_t *state = state_of(ep);
    if (count != 1) {
        return;
    }
    /* The fast path for values: a Data frame in the form netchan writes. */
    nc_data_t data;
    if (state->phase == PHASE_READY &&
        nc_data_parse(&ep->arena, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), &data)) {
        state->last_heard = nc_now_ms();
        nc_link_t *link = expect_link(ep, data.link, false);
        if (link != NULL) {
            nc_transport_t tx = transport(ep);
            nc_link_on_data(&tx, link, &data);
        }
        return;
    }

    Netchan__Wire__Frame *frame =
        nc_frame_decode_in(&ep->arena, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]));
    if (frame == NULL) {
        nc_endpoint_error(ep, NETCHAN_EPROTO, "malformed frame from the exporter ignored");
        return;
    }
    state->last_heard = nc_now_ms();
    if (state->phase != PHASE_READY && frame->body_case != NETCHAN__WIRE__FRAME__BODY_WELCOME &&
        frame->body_case != NETCHAN__WIRE__FRAME__BODY_BYE &&
        frame->body_case != NETCHAN__WIRE__FRAME__BODY_ERROR) {
        return; /* left from before the reconnect; the resume repeats it */
    }

    nc_transport_t tx = transport(ep);
    nc_link_t *link;
    switch (frame->body_case) {
    case NETCHAN__WIRE__FRAME__BODY_WELCOME:
        on_welcome(ep, frame->welcome);
        break;
    case NETCHAN__WIRE__FRAME__BODY_BOUND:
        on_bound(ep, frame->bound);
        break;
    case NETCHAN__WIRE__FRAME__BODY_DATA:
        if ((link = expect_link(ep, frame->data->link, false)) != NULL) {
            nc_data_t data;
            if (nc_data_from_frame(&ep->arena, frame->data, &data)) {
                nc_link_on_data(&tx, link, &data);
            }
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_ACK:
        if ((link = expect_link(ep, frame->ack->link, true)) != NULL) {
            nc_link_on_ack(link, frame->ack);
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_ACK_CONFIRM:
        if ((link = expect_link(ep, frame->ack_confirm->link, false)) != NULL) {
            nc_link_on_confirm(link, frame->ack_confirm->ack_no);
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_CREDIT:
        if ((link = expect_link(ep, frame->credit->link, true)) != NULL &&
            frame->credit->total > link->credit) {
            link->credit = frame->credit->total;
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_END:
        if ((link = expect_link(ep, frame->end->link, false)) != NULL) {
            nc_link_on_end(link);
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_UNBIND:
        if ((link = expect_link(ep, frame->unbind->link, true)) != NULL) {
            link->unbound = true;
            nc_chan_fail(link->chan, NETCHAN_ECLOSED, "the exporter closed channel '%s'",
                         link->chan->name);
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_PING: {
        Netchan__Wire__Pong pong = NETCHAN__WIRE__PONG__INIT;
        pong.nonce = frame->ping->nonce;
        Netchan__Wire__Frame reply = NETCHAN__WIRE__FRAME__INIT;
        reply.body_case = NETCHAN__WIRE__FRAME__BODY_PONG;
        reply.pong = &pong;
        send_frame(ep, &reply);
        break;
    }
    case NETCHAN__WIRE__FRAME__BODY_PONG:
        break;
    case NETCHAN__WIRE__FRAME__BODY_BYE:
        if (state->phase == PHASE_CLOSING) {
            if (state->bye_reply_pending) {
                state->bye_reply_pending = false;
                nc_engine_reply(ep, NETCHAN_OK);
            }
        } else {
            on_exporter_bye(ep);
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_ERROR:
        on_error(ep, frame->error);
        break;
    default:
        nc_endpoint_error(ep, NETCHAN_EPROTO, "unexpected frame from the exporter ignored");
        break;
    }
}

/* The handshake with the exporter failed: wrong keys, a plain side talking to a CURVE one, or a
 * peer that is not a netchan exporter. Imports waiting for their bind fail at once instead of
 * timing out, and the event and error say why. */
static void on_handshake_failed(nc_endpoint_t *ep, uint16_t event, uint32_t value)
{
    const char *why = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                          ? "the exporter rejected this importer's key or address"
                          : "the security handshake failed; check that both sides use CURVE and "
                            "that the importer has the exporter's public key";
    uint64_t refused = atomic_fetch_add(&ep->stats[NETCHAN_ENDPOINT_REFUSED], 1) + 1;
    importer_state_t *state = state_of(ep);
    state->refused = true;
    /* libzmq does not retry a connection whose handshake the exporter refused, so the importer
     * connects again itself, at growing intervals, in case its key is admitted later. */
    if (state->connected_out) {
        state->refusal_backoff_ms =
            state->refusal_backoff_ms == 0
                ? 1000
                : (state->refusal_backoff_ms * 2 > 30000 ? 30000 : state->refusal_backoff_ms * 2);
        state->reconnect_at = nc_now_ms() + state->refusal_backoff_ms;
    }
    nc_format(state->refusal, sizeof(state->refusal), "connection to %s refused: %s",
              ep->last_endpoint_connected, why);
    nc_endpoint_error(ep, NETCHAN_EAUTH, "%s", state->refusal);
    push_event(ep, NETCHAN_EVENT_REFUSED,
               event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? NETCHAN_REASON_AUTH
                                                        : NETCHAN_REASON_PROTOCOL,
               state_of(ep)->instance, value);
    if (refused <= 3 || refused % 100 == 0) {
        nc_log(NETCHAN_LOG_ERROR, "importer: connection to %s refused (%llu times): %s",
               ep->last_endpoint_connected, (unsigned long long)refused, why);
    }
    fail_waiting_imports(ep, state->refusal);
}

static void importer_on_monitor_event(nc_endpoint_t *ep, uint16_t event, uint32_t value,
                                      const char *address)
{
    importer_state_t *state = state_of(ep);
    (void)address;
    if (state->phase == PHASE_CLOSING) {
        return;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        on_handshake_failed(ep, event, value);
        return;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        /* The connection closed or timed out during the handshake: a network fault for a plain
         * importer, which libzmq retries. For a CURVE importer it is also how a wrong server key
         * shows (the exporter cannot decrypt the Hello and closes), so three in a row with no
         * success between count as a refusal. */
        state->failed_handshakes++;
        if (ep->security.curve && state->failed_handshakes >= 3) {
            on_handshake_failed(ep, event, value);
        }
        return;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        state->refused = false;
        state->failed_handshakes = 0;
        state->refusal_backoff_ms = 0;
        state->reconnect_at = 0;
        if (state->phase == PHASE_READY) {
            lose_exporter(ep, NETCHAN_REASON_CLOSED); /* a reconnect without a disconnect event */
        }
        state->connection++;
        state->phase = PHASE_CONNECTING;
        send_hello(ep, nc_now_ms());
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
        lose_exporter(ep, NETCHAN_REASON_CLOSED);
    }
}

/* Tells the exporter to stop sending on a closed receiving channel, then hands back the values
 * the application has not taken. Unbind goes first, so the exporter never sends the handed-back
 * values to this importer again. */
static void close_receiving(nc_endpoint_t *ep, netchan_chan_t *chan)
{
    nc_link_t *link = chan_link(chan);
    if (link != NULL) {
        link->unbound = true;
        if (state_of(ep)->phase == PHASE_READY) {
            send_unbind(ep, link);
        }
    }
    pthread_mutex_lock(&chan->mu);
    while (chan->inbox.count > 0) {
        nc_value_t *value = nc_ring_pop_front(&chan->inbox);
        if (!chan->options.unacknowledged) {
            nc_chan_add_verdict_locked(chan, value->link_key, value->seq, NC_VERDICT_RETURN);
        }
        free(value);
    }
    nc_chan_broadcast(chan);
    pthread_mutex_unlock(&chan->mu);
    nc_chan_flush_verdicts(ep, chan, transport_for_link);
}

/* Services one channel; returns the ms until it needs the engine again, 0 when values remain
 * that the window did not let out, or -1. */
static int64_t service_channel(nc_endpoint_t *ep, netchan_chan_t *chan, int64_t now)
{
    importer_state_t *state = state_of(ep);
    nc_link_t *link = chan_link(chan);
    if (link == NULL) {
        return -1;
    }
    nc_stat_set(chan, NETCHAN_STAT_IMPORTERS, state->phase == PHASE_READY && link->bound);
    nc_stat_set(chan, NETCHAN_STAT_IN_FLIGHT, link->inflight.count);
    if (!link->sending && chan->options.unacknowledged) {
        return nc_unacked_check_end(chan, now);
    }
    if (!link->sending) {
        int64_t next = chan->options.explicit_ack ? nc_chan_expire_held(chan, now) : -1;
        nc_chan_flush_verdicts(ep, chan, transport_for_link);
        pthread_mutex_lock(&chan->mu);
        bool closed = chan->closed;
        pthread_mutex_unlock(&chan->mu);
        if (closed && !chan->engine_closed_seen) {
            chan->engine_closed_seen = true;
            close_receiving(ep, chan);
        }
        return next;
    }
    if (state->phase != PHASE_READY) {
        return -1;
    }
    nc_transport_t tx = transport(ep);
    int64_t next = -1;
    int sent = 0;
    if (chan->options.unacknowledged) {
        next = link->bound ? nc_unacked_pump(chan, now) : -1;
    } else {
        sent = nc_link_pump(&tx, link, now);
    }
    (void)nc_link_send_confirm(&tx, link);
    if (nc_link_end_due(link)) {
        (void)nc_link_send_end(&tx, link);
    }
    return sent >= NC_BATCH_VALUES ? 0 : next;
}

/* Pings at the importer's own interval, or more often when the exporter drops silent sessions
 * sooner than four of those intervals. */
static int64_t ping_interval(nc_endpoint_t *ep)
{
    importer_state_t *state = state_of(ep);
    uint32_t interval = ep->heartbeat_ms;
    if (state->exporter_timeout_ms > 0 && state->exporter_timeout_ms / 4 < interval) {
        interval = state->exporter_timeout_ms / 4;
    }
    return interval > 0 ? interval : 1;
}

static int64_t importer_tick(nc_endpoint_t *ep, int64_t now)
{
    importer_state_t *state = state_of(ep);
    if (state->phase == PHASE_CLOSING) {
        if (state->bye_reply_pending && now >= state->bye_deadline) {
            state->bye_reply_pending = false;
            nc_engine_reply(ep, NETCHAN_ETIMEDOUT);
        }
        return 10;
    }
    if (state->reconnect_at != 0 && now >= state->reconnect_at) {
        state->reconnect_at = 0;
        zmq_disconnect(ep->socket, ep->last_endpoint_connected);
        if (zmq_connect(ep->socket, ep->last_endpoint_connected) != 0) {
            nc_log(NETCHAN_LOG_ERROR, "importer: cannot connect to %s again: %s",
                   ep->last_endpoint_connected, zmq_strerror(errno));
        }
    }
    if (state->has_endpoint) {
        if (state->phase == PHASE_CONNECTING && state->connection > 0 && now >= state->next_hello) {
            send_hello(ep, now);
        }
        if (state->phase == PHASE_READY) {
            if (now - state->last_ping >= ping_interval(ep)) {
                Netchan__Wire__Ping ping = NETCHAN__WIRE__PING__INIT;
                Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
                frame.body_case = NETCHAN__WIRE__FRAME__BODY_PING;
                frame.ping = &ping;
                send_frame(ep, &frame);
                state->last_ping = now;
            }
            if (now - state->last_heard > (int64_t)ep->timeout_ms) {
                nc_endpoint_error(ep, NETCHAN_ETIMEDOUT, "exporter silent for %u ms; reconnecting",
                                  ep->timeout_ms);
                lose_exporter(ep, NETCHAN_REASON_TIMEOUT);
            }
        }
    }

    int64_t wait = ping_interval(ep) / 2 > 0 ? ping_interval(ep) / 2 : 1;
    for (size_t i = 0; i < ep->chan_count; i++) {
        int64_t next = service_channel(ep, ep->chans[i], now);
        if (next >= 0 && next < wait) {
            wait = next;
        }
    }
    return wait;
}

static int importer_start(nc_endpoint_t *ep)
{
    importer_state_t *state = calloc(1, sizeof(*state));
    if (state == NULL) {
        return -1;
    }
    ep->role_state = state;
    if (nc_random_bytes(state->session_id, NC_SESSION_ID_SIZE) != 0) {
        return -1;
    }
    state->session_id[0] |= 0x80; /* libzmq reserves routing ids that start with a zero byte */
    state->next_link_id = 1;

    ep->socket = zmq_socket(zsys_init(), ZMQ_DEALER);
    if (ep->socket == NULL) {
        return -1;
    }
    int zero = 0;
    int hwm = 100000;
    int reconnect_max = 1000;
    int64_t max_size = NC_MAX_MESSAGE_SIZE;
    zmq_setsockopt(ep->socket, ZMQ_ROUTING_ID, state->session_id, NC_SESSION_ID_SIZE);
    zmq_setsockopt(ep->socket, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(ep->socket, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(ep->socket, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(ep->socket, ZMQ_MAXMSGSIZE, &max_size, sizeof(max_size));
    zmq_setsockopt(ep->socket, ZMQ_RECONNECT_IVL_MAX, &reconnect_max, sizeof(reconnect_max));

    char address[64];
    nc_format(address, sizeof(address), "inproc://netchan-monitor-%p", (void *)ep);
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(ep->socket, address, events) == 0) {
        ep->monitor = zmq_socket(zsys_init(), ZMQ_PAIR);
        if (ep->monitor != NULL && zmq_connect(ep->monitor, address) != 0) {
            zmq_close(ep->monitor);
            ep->monitor = NULL;
        }
    }
    return 0;
}

static void importer_stop(nc_endpoint_t *ep)
{
    nc_log(NETCHAN_LOG_INFO, "importer: stopping%s%s",
           ep->last_endpoint_connected[0] ? "; it was connected to " : "",
           ep->last_endpoint_connected);
    free(ep->role_state);
    ep->role_state = NULL;
    if (ep->monitor != NULL) {
        zmq_socket_monitor(ep->socket, NULL, 0);
        zmq_close(ep->monitor);
        ep->monitor = NULL;
    }
    if (ep->socket != NULL) {
        zmq_close(ep->socket);
        ep->socket = NULL;
    }
}

/* Starts the graceful end: values not taken go back, verdicts are flushed, Bye is sent. The
 * reply to the command comes when the exporter answers Bye or the wait runs out. */
static int begin_bye(nc_endpoint_t *ep)
{
    importer_state_t *state = state_of(ep);
    if (state->phase != PHASE_READY) {
        return NETCHAN_OK;
    }
    nc_transport_t tx = transport(ep);
    for (size_t i = 0; i < ep->chan_count; i++) {
        netchan_chan_t *chan = ep->chans[i];
        nc_link_t *link = chan_link(chan);
        if (link != NULL && !link->sending) {
            close_receiving(ep, chan);
        } else if (link != NULL) {
            /* A channel closed just before the end has not sent its end of stream yet. */
            (void)nc_link_send_confirm(&tx, link);
            if (nc_link_end_due(link)) {
                (void)nc_link_send_end(&tx, link);
            }
        }
    }
    Netchan__Wire__Bye bye = NETCHAN__WIRE__BYE__INIT;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_BYE;
    frame.bye = &bye;
    send_frame(ep, &frame);
    state->phase = PHASE_CLOSING;
    state->bye_deadline = nc_now_ms() + BYE_TIMEOUT_MS;
    state->bye_reply_pending = true;
    return -1;
}

static int importer_on_command(nc_endpoint_t *ep, const char *command, const char *text,
                               void *pointer)
{
    importer_state_t *state = state_of(ep);
    if (strcmp(command, "BIND") == 0 || strcmp(command, "CONNECT") == 0) {
        bool bind = command[0] == 'B';
        if (state->has_endpoint) {
            return nc_endpoint_error(ep, NETCHAN_ESTATE,
                                     "importer already has an endpoint; it talks to one exporter");
        }
        if (ep->security.curve && strncmp(text, "inproc://", 9) == 0) {
            return nc_endpoint_error(ep, NETCHAN_EENDPOINT,
                                     "cannot use '%s' on a CURVE importer: libzmq does not "
                                     "encrypt or authenticate inproc connections",
                                     text);
        }
        nc_endpoint_set_socket_timeouts(ep);
        nc_security_apply(ep, ep->socket, false);
        int rc = bind ? zmq_bind(ep->socket, text) : zmq_connect(ep->socket, text);
        if (rc != 0) {
            return nc_endpoint_error(ep, NETCHAN_EENDPOINT, "cannot %s importer to '%s': %s",
                                     bind ? "bind" : "connect", text, zmq_strerror(errno));
        }
        if (bind) {
            size_t size = sizeof(ep->last_endpoint);
            zmq_getsockopt(ep->socket, ZMQ_LAST_ENDPOINT, ep->last_endpoint, &size);
        }
        nc_format(ep->last_endpoint_connected, sizeof(ep->last_endpoint_connected), "%s",
                  bind ? ep->last_endpoint : text);
        nc_log(NETCHAN_LOG_INFO, "importer: %s %s", bind ? "listening on" : "connecting to",
               ep->last_endpoint_connected);
        state->has_endpoint = true;
        state->connected_out = !bind;
        state->phase = PHASE_CONNECTING;
        if (ep->monitor == NULL || strncmp(text, "inproc://", 9) == 0) {
            /* No handshake events (inproc has no handshake): Hello is retried until answered. */
            state->connection = 1;
        }
        return NETCHAN_OK;
    }
    if (strcmp(command, "IMPORT") == 0) {
        netchan_chan_t *chan = pointer;
        for (size_t i = 0; i < ep->chan_count; i++) {
            if (strcmp(ep->chans[i]->name, chan->name) == 0) {
                return nc_endpoint_error(ep, NETCHAN_EEXIST, "channel '%s' is already imported",
                                         chan->name);
            }
        }
        nc_link_t *link = nc_link_new(ep, chan, state->next_link_id++, chan->dir == NETCHAN_SEND);
        if (link == NULL || nc_chan_add_link(chan, link) != 0 ||
            nc_endpoint_add_channel(ep, chan) != NETCHAN_OK) {
            if (link != NULL) {
                nc_chan_remove_link(chan, link);
                nc_link_free(ep, link);
            }
            return nc_endpoint_error(ep, NETCHAN_ENOMEM, "out of memory");
        }
        if (state->phase == PHASE_READY) {
            send_bind(ep, link, false);
        } else if (state->refused) {
            /* The last handshake was refused: say so now rather than let the import time out.
             * The importer connects again at growing intervals, so a later import can succeed
             * once the keys are right. */
            pthread_mutex_lock(&chan->mu);
            chan->bind_done = true;
            chan->bind_result = NETCHAN_EAUTH;
            nc_chan_set_error(chan, "cannot bind channel '%s': %s", chan->name, state->refusal);
            pthread_mutex_unlock(&chan->mu);
        }
        return NETCHAN_OK;
    }
    if (strcmp(command, "UNIMPORT") == 0) {
        netchan_chan_t *chan = pointer;
        nc_link_t *link = chan_link(chan);
        pthread_mutex_lock(&chan->mu);
        bool rejected = chan->bind_done && chan->bind_result != NETCHAN_OK;
        pthread_mutex_unlock(&chan->mu);
        if (link != NULL) {
            /* A bind that timed out may still be accepted later; a rejected one never was. */
            if (state->phase == PHASE_READY && !rejected) {
                send_unbind(ep, link);
            }
            nc_chan_remove_link(chan, link);
            nc_link_free(ep, link);
        }
        nc_endpoint_remove_channel(ep, chan);
        return NETCHAN_OK;
    }
    if (strcmp(command, "BYE") == 0) {
        return begin_bye(ep);
    }
    return nc_endpoint_error(ep, NETCHAN_EINVAL, "unknown engine command '%s'", command);
}

const nc_role_ops_t nc_importer_ops = {
    .start = importer_start,
    .stop = importer_stop,
    .on_message = importer_on_message,
    .on_monitor_event = importer_on_monitor_event,
    .on_command = importer_on_command,
    .tick = importer_tick,
};

/* ---- public API ---- */

netchan_err netchan_importer_new(netchan_importer_t **importer_p)
{
    if (importer_p == NULL) {
        return NETCHAN_EINVAL;
    }
    netchan_importer_t *importer = calloc(1, sizeof(*importer));
    if (importer == NULL) {
        return NETCHAN_ENOMEM;
    }
    netchan_err err = nc_endpoint_init(&importer->ep, NC_IMPORTER);
    if (err != NETCHAN_OK) {
        nc_endpoint_fini(&importer->ep);
        free(importer);
        return err;
    }
    *importer_p = importer;
    return NETCHAN_OK;
}

void netchan_importer_destroy(netchan_importer_t **importer_p)
{
    if (importer_p == NULL || *importer_p == NULL) {
        return;
    }
    netchan_importer_t *importer = *importer_p;
    (void)nc_endpoint_command(&importer->ep, "BYE", NULL, NULL);
    nc_endpoint_fini(&importer->ep);
    free(importer);
    *importer_p = NULL;
}

netchan_err netchan_importer_set_heartbeat(netchan_importer_t *importer, uint32_t interval_ms,
                                           uint32_t timeout_ms)
{
    if (importer == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_endpoint_set_heartbeat(&importer->ep, interval_ms, timeout_ms);
}

netchan_err netchan_importer_set_curve(netchan_importer_t *importer, const char *secret_cert,
                                       const char *server_public)
{
    if (importer == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_security_set_client(&importer->ep, secret_cert, server_public);
}

uint64_t netchan_importer_stat(netchan_importer_t *importer, netchan_endpoint_stat stat)
{
    if (importer == NULL || stat < NETCHAN_ENDPOINT_SESSIONS ||
        stat > NETCHAN_ENDPOINT_PROTOCOL_ERRORS) {
        return 0;
    }
    return atomic_load(&importer->ep.stats[stat]);
}

netchan_err netchan_importer_connect(netchan_importer_t *importer, const char *endpoint)
{
    if (importer == NULL || endpoint == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_endpoint_command(&importer->ep, "CONNECT", endpoint, NULL);
}

netchan_err netchan_importer_bind(netchan_importer_t *importer, const char *endpoint)
{
    if (importer == NULL || endpoint == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_endpoint_command(&importer->ep, "BIND", endpoint, NULL);
}

netchan_err netchan_importer_endpoint(netchan_importer_t *importer, char *buffer, size_t size)
{
    if (importer == NULL || buffer == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_endpoint_last(&importer->ep, buffer, size);
}

netchan_err netchan_importer_next_event(netchan_importer_t *importer, int timeout_ms,
                                        netchan_event_t **event_p)
{
    if (importer == NULL || event_p == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_events_next(&importer->ep.events, timeout_ms, event_p);
}

int netchan_importer_event_fd(netchan_importer_t *importer)
{
    if (importer == NULL) {
        return -1;
    }
    int fd = nc_events_fd(&importer->ep.events);
    if (fd < 0) {
        nc_endpoint_error(&importer->ep, NETCHAN_ESYSTEM, "cannot make the event descriptor");
    }
    return fd;
}

const char *netchan_importer_error(netchan_importer_t *importer)
{
    return importer != NULL ? nc_endpoint_error_text(&importer->ep)
                            : nc_thread_copy("no importer given");
}

/* Creates a channel, registers it with the engine and waits for the exporter's answer. */
static netchan_err import_channel(netchan_importer_t *importer, const char *name,
                                  netchan_dir direction, const ProtobufCMessageDescriptor *type,
                                  const char *type_name, const char *fingerprint,
                                  const netchan_options_t *options, int timeout_ms,
                                  netchan_chan_t **chan_p)
{
    if (importer == NULL || chan_p == NULL) {
        return NETCHAN_EINVAL;
    }
    nc_endpoint_t *ep = &importer->ep;
    netchan_err err = nc_check_channel_args(ep, name, direction);
    if (err != NETCHAN_OK) {
        return err;
    }
    netchan_chan_t *chan = nc_chan_new(
        ep, name, direction, type, type_name != NULL ? type_name : "bytes", fingerprint, options);
    if (chan == NULL) {
        return nc_endpoint_error(ep, NETCHAN_ENOMEM, "out of memory");
    }
    err = nc_endpoint_command(ep, "IMPORT", NULL, chan);
    if (err != NETCHAN_OK) {
        nc_chan_destroy(chan);
        return err;
    }

    int64_t deadline = timeout_ms < 0 ? -1 : nc_now_ms() + timeout_ms;
    pthread_mutex_lock(&chan->mu);
    chan->waiters++;
    while (!chan->bind_done) {
        if (deadline < 0) {
            pthread_cond_wait(&chan->cond, &chan->mu);
            continue;
        }
        int64_t now = nc_now_ms();
        if (now >= deadline) {
            break;
        }
        struct timespec until = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L};
        pthread_cond_timedwait(&chan->cond, &chan->mu, &until);
    }
    chan->waiters--;
    bool done = chan->bind_done;
    err = done ? chan->bind_result : NETCHAN_ETIMEDOUT;
    if (err != NETCHAN_OK && done) {
        nc_endpoint_error(ep, err, "%s", chan->errmsg);
    }
    pthread_mutex_unlock(&chan->mu);

    if (err == NETCHAN_ETIMEDOUT) {
        nc_endpoint_error(ep, err,
                          "no exporter answered the bind of channel '%s' within %d ms; is an "
                          "exporter listening at the endpoint?",
                          name, timeout_ms);
    }
    if (err != NETCHAN_OK) {
        (void)nc_endpoint_command(ep, "UNIMPORT", NULL, chan);
        nc_chan_destroy(chan);
        return err;
    }
    *chan_p = chan;
    return NETCHAN_OK;
}

netchan_err netchan_import_bytes(netchan_importer_t *importer, const char *name,
                                 netchan_dir direction, const char *type_name,
                                 const char *fingerprint, const netchan_options_t *options,
                                 int timeout_ms, netchan_chan_t **chan_p)
{
    return import_channel(importer, name, direction, NULL, type_name, fingerprint, options,
                          timeout_ms, chan_p);
}

netchan_err netchan_import(netchan_importer_t *importer, const char *name, netchan_dir direction,
                           const ProtobufCMessageDescriptor *type, const netchan_options_t *options,
                           int timeout_ms, netchan_chan_t **chan_p)
{
    if (importer == NULL) {
        return NETCHAN_EINVAL;
    }
    if (type == NULL) {
        return nc_endpoint_error(&importer->ep, NETCHAN_EINVAL,
                                 "no type given for channel '%s'; use netchan_import_bytes() "
                                 "for untyped values",
                                 name != NULL ? name : "");
    }
    char fingerprint[17];
    nc_fingerprint(type, fingerprint);
    return import_channel(importer, name, direction, type, type->name, fingerprint, options,
                          timeout_ms, chan_p);
}
