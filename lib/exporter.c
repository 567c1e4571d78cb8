/* The exporter: a ROUTER socket serving named channels to importer sessions.
 *
 * Each importer announces a session id in Hello. The session outlives its connection: when an
 * importer goes silent for the heartbeat timeout, or libzmq reports its connection gone, the
 * session is detached and every value in flight to it is taken back for redelivery. A detached
 * session is kept for a while so that a returning importer resumes it: the values it already
 * received are then recognised as duplicates instead of being delivered twice. */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nc.h"

/* How long a detached session is remembered, and how many at most. */
#define SESSION_TTL_MS        (10 * 60 * 1000)
#define MAX_DETACHED_SESSIONS 4096
#define MAX_LINKS_PER_SESSION 1024
#define MAX_ROUTING_ID        255

struct nc_session {
    uint8_t id[NC_SESSION_ID_SIZE];
    char key[2 * NC_SESSION_ID_SIZE + 1];
    uint32_t connection; /* Hello.connection of the importer's current connection */
    uint8_t routing_id[MAX_ROUTING_ID];
    size_t routing_size;
    char routing_key[2 * MAX_ROUTING_ID + 1];
    char address[64]; /* the importer's address as libzmq reports it, "" when unknown */
    char user_id[64]; /* the importer's z85 public key on CURVE exporters, else "" */
    bool attached;
    int64_t last_heard;
    int64_t detached_at;
    nc_link_t **links;
    size_t link_count;
    size_t link_cap;
};

typedef struct exporter_state {
    zhashx_t *by_session; /* session key -> nc_session_t, owns the sessions */
    zhashx_t *by_routing; /* routing key -> nc_session_t */
    size_t detached_count;
    int64_t probe_until; /* after a disconnect event, probe sessions until then */
    int64_t next_probe;
    int64_t probe_interval; /* doubles from 5 ms up to 80 ms */
    int64_t next_check;
    uint64_t protocol_errors;
} exporter_state_t;

netchan_err netchan_exporter_new(netchan_exporter_t **exporter_p);

struct netchan_exporter {
    nc_endpoint_t ep;
};

static exporter_state_t *state_of(nc_endpoint_t *ep)
{
    return ep->role_state;
}

static void hex_key(char *out, const uint8_t *bytes, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * size] = '\0';
}

/* ---- transmission ---- */

static int transmit_to(nc_endpoint_t *ep, const uint8_t *routing_id, size_t routing_size,
                       zmq_msg_t *msg)
{
    if (zmq_send(ep->socket, routing_id, routing_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        return -1;
    }
    return zmq_msg_send(msg, ep->socket, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

static int transmit(nc_endpoint_t *ep, nc_session_t *session, zmq_msg_t *msg)
{
    if (!session->attached) {
        errno = EHOSTUNREACH;
        return -1;
    }
    return transmit_to(ep, session->routing_id, session->routing_size, msg);
}

static nc_transport_t transport(nc_endpoint_t *ep, nc_session_t *session)
{
    return (nc_transport_t){ep, session, transmit};
}

static int transport_for_link(nc_endpoint_t *ep, nc_link_t *link, nc_transport_t *tx)
{
    if (link->session == NULL || !link->session->attached) {
        return -1;
    }
    *tx = transport(ep, link->session);
    return 0;
}

/* Sends an Error frame to a peer that may have no session. */
static void send_error_to(nc_endpoint_t *ep, const uint8_t *routing_id, size_t routing_size,
                          Netchan__Wire__ErrorCode code, uint32_t link, const char *message)
{
    Netchan__Wire__Error error = NETCHAN__WIRE__ERROR__INIT;
    error.code = code;
    error.message = (char *)message;
    error.link = link;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_ERROR;
    frame.error = &error;
    size_t size = netchan__wire__frame__get_packed_size(&frame);
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, size) != 0) {
        return;
    }
    netchan__wire__frame__pack(&frame, zmq_msg_data(&msg));
    if (transmit_to(ep, routing_id, routing_size, &msg) != 0) {
        zmq_msg_close(&msg);
    }
}

/* ---- sessions ---- */

/* Removes the session's links. Values still in flight go back to their queues; after a graceful
 * end they count as delivered only where the importer acknowledges explicitly, because an
 * importer that acknowledges on receipt acknowledged everything it took before saying Bye. */
static void session_drop_links(nc_endpoint_t *ep, nc_session_t *session, bool graceful)
{
    for (size_t i = 0; i < session->link_count; i++) {
        nc_link_t *link = session->links[i];
        netchan_chan_t *chan = link->chan;
        if (link->sending) {
            nc_link_take_back(link, !graceful || link->peer_explicit_ack);
        }
        nc_chan_remove_link(chan, link);
        nc_link_free(ep, link);
        if (chan->dir == NETCHAN_RECV) {
            nc_chan_update_eof(chan);
            nc_chan_grant(ep, chan, transport_for_link);
        }
    }
    free(session->links);
    session->links = NULL;
    session->link_count = 0;
}

static void session_destroy(nc_endpoint_t *ep, nc_session_t *session, bool graceful)
{
    exporter_state_t *state = state_of(ep);
    session_drop_links(ep, session, graceful);
    if (zhashx_lookup(state->by_routing, session->routing_key) == session) {
        zhashx_delete(state->by_routing, session->routing_key);
    }
    if (!session->attached) {
        state->detached_count--;
    }
    zhashx_delete(state->by_session, session->key);
    free(session);
}

/* Detaches a session whose importer is gone or silent: its in-flight values go back to the
 * front of their channels' queues, in order, for the remaining importers. */
static void session_lose(nc_endpoint_t *ep, nc_session_t *session, netchan_event_reason reason)
{
    exporter_state_t *state = state_of(ep);
    if (!session->attached) {
        return;
    }
    session->attached = false;
    session->detached_at = nc_now_ms();
    state->detached_count++;
    uint64_t taken_back = 0;
    char channels[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < session->link_count; i++) {
        nc_link_t *link = session->links[i];
        if (link->sending) {
            taken_back += link->inflight.count;
            if (link->inflight.count > 0 && used < sizeof(channels)) {
                int n = snprintf(channels + used, sizeof(channels) - used, "%s'%s' %zu",
                                 used > 0 ? ", " : "", link->chan->name, link->inflight.count);
                used += n > 0 ? (size_t)n : 0;
            }
            nc_link_take_back(link, true);
            link->end_sent = false;
        } else {
            nc_link_stop_receiving(link);
        }
        link->bound = false; /* until the importer binds the link again */
    }
    for (size_t i = 0; i < session->link_count; i++) {
        nc_link_t *link = session->links[i];
        if (!link->sending) {
            nc_chan_grant(ep, link->chan, transport_for_link); /* its share goes to others */
        }
    }
    nc_events_push(&ep->events, NETCHAN_EVENT_LOST, reason, session->key, session->address, "",
                   taken_back);
    nc_log(NETCHAN_LOG_WARNING,
           "exporter: importer session %s (%s) lost: %s; %llu value(s) taken back for "
           "redelivery%s%s",
           session->key, session->address[0] ? session->address : "address unknown",
           netchan_event_reason_name(reason), (unsigned long long)taken_back,
           used > 0 ? " from channels " : "", channels);
}

static nc_session_t *session_create(nc_endpoint_t *ep, const uint8_t *id)
{
    exporter_state_t *state = state_of(ep);
    nc_session_t *session = calloc(1, sizeof(*session));
    if (session == NULL) {
        return NULL;
    }
    memcpy(session->id, id, NC_SESSION_ID_SIZE);
    hex_key(session->key, id, NC_SESSION_ID_SIZE);
    session->attached = true;
    if (zhashx_insert(state->by_session, session->key, session) != 0) {
        free(session);
        return NULL;
    }
    return session;
}

static void session_set_routing(nc_endpoint_t *ep, nc_session_t *session, const uint8_t *routing_id,
                                size_t routing_size)
{
    exporter_state_t *state = state_of(ep);
    if (zhashx_lookup(state->by_routing, session->routing_key) == session) {
        zhashx_delete(state->by_routing, session->routing_key);
    }
    memcpy(session->routing_id, routing_id, routing_size);
    session->routing_size = routing_size;
    hex_key(session->routing_key, routing_id, routing_size);
    /* A previous session on the same routing id is superseded (ROUTER_HANDOVER). */
    nc_session_t *previous = zhashx_lookup(state->by_routing, session->routing_key);
    if (previous != NULL && previous != session) {
        session_lose(ep, previous, NETCHAN_REASON_CLOSED);
        zhashx_delete(state->by_routing, session->routing_key);
    }
    zhashx_insert(state->by_routing, session->routing_key, session);
}

static nc_link_t *session_find_link(nc_session_t *session, uint32_t id)
{
    for (size_t i = 0; i < session->link_count; i++) {
        if (session->links[i]->id == id) {
            return session->links[i];
        }
    }
    return NULL;
}

/* ---- message handlers ---- */

static void send_frame(nc_endpoint_t *ep, nc_session_t *session, Netchan__Wire__Frame *frame)
{
    nc_transport_t tx = transport(ep, session);
    if (nc_send_frame(&tx, frame) != 0 && errno == EHOSTUNREACH) {
        session_lose(ep, session, NETCHAN_REASON_CLOSED);
    }
}

static void on_hello(nc_endpoint_t *ep, const uint8_t *routing_id, size_t routing_size,
                     const char *address, const char *user_id, const Netchan__Wire__Hello *hello)
{
    exporter_state_t *state = state_of(ep);
    if (hello->version != NC_PROTOCOL_VERSION) {
        char message[160];
        nc_format(message, sizeof(message),
                  "protocol version %u is not supported; this exporter speaks version %u",
                  hello->version, NC_PROTOCOL_VERSION);
        send_error_to(ep, routing_id, routing_size, NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL, 0,
                      message);
        return;
    }

    char key[2 * NC_SESSION_ID_SIZE + 1];
    hex_key(key, hello->session.data, NC_SESSION_ID_SIZE);
    nc_session_t *session = zhashx_lookup(state->by_session, key);
    if (session != NULL && strcmp(session->user_id, user_id) != 0) {
        /* A session belongs to the key that started it; another key presenting its id would
         * take over its links, including those of channels that key may not bind. */
        atomic_fetch_add(&ep->stats[NETCHAN_ENDPOINT_REFUSED], 1);
        nc_events_push(&ep->events, NETCHAN_EVENT_REFUSED, NETCHAN_REASON_AUTH, key, address, "",
                       0);
        nc_log(NETCHAN_LOG_WARNING,
               "exporter: refused a Hello from %s presenting session %s, which belongs to "
               "another key",
               address[0] ? address : "an unknown address", key);
        send_error_to(ep, routing_id, routing_size, NETCHAN__WIRE__ERROR_CODE__ERROR_AUTH, 0,
                      "this session id belongs to another key");
        return;
    }
    bool resumed = session != NULL;
    bool expired = false;
    bool was_attached_before = false;
    bool duplicate = false;
    if (session == NULL) {
        session = session_create(ep, hello->session.data);
        if (session == NULL) {
            send_error_to(ep, routing_id, routing_size, NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL,
                          0, "exporter out of memory");
            return;
        }
    } else if (!session->attached) {
        expired = true;
        session->attached = true;
        state->detached_count--;
    } else if (hello->connection == session->connection) {
        /* A Hello retried on the connection the session already uses: reply with Welcome again, but
         * the links stay as they are. */
        resumed = false;
        duplicate = true;
    } else {
        /* A reconnect the exporter had not noticed: values in flight may have been lost with
         * the old connection, so they go out again after the next Bind and the importer drops
         * duplicates. */
        for (size_t i = 0; i < session->link_count; i++) {
            nc_link_t *link = session->links[i];
            if (!link->sending) {
                nc_link_stop_receiving(link);
            }
            link->bound = false; /* until the importer binds the link again */
        }
        was_attached_before = true;
    }
    session_set_routing(ep, session, routing_id, routing_size);
    session->last_heard = nc_now_ms();
    session->connection = hello->connection;
    nc_format(session->address, sizeof(session->address), "%s", address);
    nc_format(session->user_id, sizeof(session->user_id), "%s", user_id);
    netchan_event_type type = resumed ? NETCHAN_EVENT_RESUMED : NETCHAN_EVENT_CONNECTED;
    netchan_event_reason reason = expired ? NETCHAN_REASON_EXPIRED : NETCHAN_REASON_NONE;
    if (!duplicate && (!resumed || expired || was_attached_before)) {
        nc_events_push(&ep->events, type, reason, session->key, session->address, "", 0);
        nc_log(NETCHAN_LOG_INFO, "exporter: importer session %s (%s) %s%s", session->key,
               session->address[0] ? session->address : "address unknown",
               resumed ? "resumed" : "connected", expired ? " after it had been lost" : "");
    }

    Netchan__Wire__Welcome welcome = NETCHAN__WIRE__WELCOME__INIT;
    welcome.version = NC_PROTOCOL_VERSION;
    welcome.instance = ep->instance;
    welcome.resumed = resumed;
    welcome.expired = expired;
    welcome.timeout_ms = ep->timeout_ms;
    welcome.connection = hello->connection;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_WELCOME;
    frame.welcome = &welcome;
    send_frame(ep, session, &frame);
}

static netchan_chan_t *find_chan(nc_endpoint_t *ep, const char *name)
{
    for (size_t i = 0; i < ep->chan_count; i++) {
        if (strcmp(ep->chans[i]->name, name) == 0) {
            return ep->chans[i];
        }
    }
    return NULL;
}

static void send_bound(nc_endpoint_t *ep, nc_session_t *session, uint32_t link_id, uint32_t epoch,
                       Netchan__Wire__ErrorCode code, const char *message, nc_link_t *link)
{
    Netchan__Wire__Bound bound = NETCHAN__WIRE__BOUND__INIT;
    bound.link = link_id;
    bound.epoch = epoch;
    bound.error = code;
    bound.message = (char *)message;
    if (link != NULL) {
        netchan_chan_t *chan = link->chan;
        bound.max_value_size = chan->options.max_value_size;
        bound.data_endpoint = chan->data_endpoint;
        if (!link->sending) {
            bound.credit = nc_link_start_receiving(link);
        }
    }
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_BOUND;
    frame.bound = &bound;
    send_frame(ep, session, &frame);
}

/* Checks a Bind against the exported channel; on a mismatch writes the reason to message. */
static Netchan__Wire__ErrorCode check_bind(netchan_chan_t *chan, const nc_session_t *session,
                                           const Netchan__Wire__Bind *bind, char *message,
                                           size_t size)
{
    if (chan == NULL) {
        nc_format(message, size, "no channel named '%s' is exported at this endpoint",
                  bind->channel);
        return NETCHAN__WIRE__ERROR_CODE__ERROR_NOT_FOUND;
    }
    if (!nc_chan_admits_key(chan, session->user_id)) {
        nc_format(message, size, "importer key %s is not allowed to bind channel '%s'",
                  session->user_id[0] ? session->user_id : "(none: not a CURVE connection)",
                  chan->name);
        return NETCHAN__WIRE__ERROR_CODE__ERROR_AUTH;
    }
    Netchan__Wire__Direction wanted = chan->dir == NETCHAN_SEND
                                          ? NETCHAN__WIRE__DIRECTION__DIRECTION_RECV
                                          : NETCHAN__WIRE__DIRECTION__DIRECTION_SEND;
    if (bind->direction != wanted) {
        nc_format(message, size, "channel '%s' is exported for %s, so it must be imported for %s",
                  chan->name, chan->dir == NETCHAN_SEND ? "sending" : "receiving",
                  chan->dir == NETCHAN_SEND ? "receiving" : "sending");
        return NETCHAN__WIRE__ERROR_CODE__ERROR_DIRECTION;
    }
    bool names_differ = strcmp(chan->type_name, bind->type_name) != 0;
    bool fingerprints_differ = chan->fingerprint[0] != '\0' && bind->fingerprint[0] != '\0' &&
                               strcmp(chan->fingerprint, bind->fingerprint) != 0;
    if (names_differ || fingerprints_differ) {
        nc_format(message, size,
                  "type mismatch on channel '%s': the exporter has %s (fingerprint %s), the "
                  "importer has %s (fingerprint %s)",
                  chan->name, chan->type_name, chan->fingerprint[0] ? chan->fingerprint : "none",
                  bind->type_name, bind->fingerprint[0] ? bind->fingerprint : "none");
        return NETCHAN__WIRE__ERROR_CODE__ERROR_TYPE;
    }
    if (bind->unacknowledged != chan->options.unacknowledged) {
        nc_format(message, size, "channel '%s' is exported %s; import it %s too", chan->name,
                  chan->options.unacknowledged ? "unacknowledged" : "acknowledged",
                  chan->options.unacknowledged ? "unacknowledged" : "acknowledged");
        return NETCHAN__WIRE__ERROR_CODE__ERROR_STATE;
    }
    if (chan->dir == NETCHAN_RECV) {
        pthread_mutex_lock(&chan->mu);
        bool closed = chan->closed;
        pthread_mutex_unlock(&chan->mu);
        if (closed) {
            nc_format(message, size, "channel '%s' is closed by the exporter", chan->name);
            return NETCHAN__WIRE__ERROR_CODE__ERROR_STATE;
        }
    }
    return NETCHAN__WIRE__ERROR_CODE__ERROR_NONE;
}

static void on_bind(nc_endpoint_t *ep, nc_session_t *session, const Netchan__Wire__Bind *bind)
{
    nc_link_t *link = session_find_link(session, bind->link);
    if (link != NULL && !nc_chan_admits_key(link->chan, session->user_id)) {
        char message[NC_ERRMSG_SIZE];
        nc_format(message, sizeof(message), "importer key %s is not allowed to bind channel '%s'",
                  session->user_id[0] ? session->user_id : "(none)", link->chan->name);
        send_bound(ep, session, bind->link, bind->epoch, NETCHAN__WIRE__ERROR_CODE__ERROR_AUTH,
                   message, NULL);
        return;
    }
    if (link != NULL) {
        if (strcmp(link->chan->name, bind->channel) != 0) {
            send_bound(ep, session, bind->link, bind->epoch,
                       NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL,
                       "link id already bound to another channel", NULL);
            return;
        }
        /* A resumed link: send everything in flight again; the importer drops duplicates. */
        link->bound = true;
        link->epoch = bind->epoch;
        if (link->sending) {
            nc_link_start_sending(link, bind->credit);
            link->peer_max_value_size = bind->max_value_size;
            link->peer_explicit_ack = bind->explicit_ack;
        }
        send_bound(ep, session, bind->link, bind->epoch, NETCHAN__WIRE__ERROR_CODE__ERROR_NONE, "",
                   link);
        return;
    }

    char message[NC_ERRMSG_SIZE];
    netchan_chan_t *chan = find_chan(ep, bind->channel);
    Netchan__Wire__ErrorCode code = check_bind(chan, session, bind, message, sizeof(message));
    if (code == NETCHAN__WIRE__ERROR_CODE__ERROR_NONE && chan->options.unacknowledged &&
        nc_unacked_open_exporter(ep, chan, message, sizeof(message)) != NETCHAN_OK) {
        code = NETCHAN__WIRE__ERROR_CODE__ERROR_STATE;
    }
    if (code == NETCHAN__WIRE__ERROR_CODE__ERROR_NONE &&
        session->link_count >= MAX_LINKS_PER_SESSION) {
        nc_format(message, sizeof(message), "too many channels bound by one importer (max %d)",
                  MAX_LINKS_PER_SESSION);
        code = NETCHAN__WIRE__ERROR_CODE__ERROR_INVALID;
    }
    if (code != NETCHAN__WIRE__ERROR_CODE__ERROR_NONE) {
        nc_log(NETCHAN_LOG_WARNING, "exporter: refused bind from importer session %s: %s",
               session->key, message);
        send_bound(ep, session, bind->link, bind->epoch, code, message, NULL);
        return;
    }

    link = nc_link_new(ep, chan, bind->link, chan->dir == NETCHAN_SEND);
    if (link == NULL || nc_chan_add_link(chan, link) != 0) {
        if (link != NULL) {
            nc_link_free(ep, link);
        }
        send_bound(ep, session, bind->link, bind->epoch, NETCHAN__WIRE__ERROR_CODE__ERROR_INVALID,
                   "exporter out of memory", NULL);
        return;
    }
    if (session->link_count == session->link_cap) {
        size_t cap = session->link_cap ? session->link_cap * 2 : 4;
        nc_link_t **links = realloc(session->links, cap * sizeof(*links));
        if (links == NULL) {
            nc_chan_remove_link(chan, link);
            nc_link_free(ep, link);
            send_bound(ep, session, bind->link, bind->epoch,
                       NETCHAN__WIRE__ERROR_CODE__ERROR_INVALID, "exporter out of memory", NULL);
            return;
        }
        session->links = links;
        session->link_cap = cap;
    }
    session->links[session->link_count++] = link;
    link->session = session;
    link->bound = true;
    link->epoch = bind->epoch;
    if (link->sending) {
        nc_link_start_sending(link, bind->credit);
        link->peer_max_value_size = bind->max_value_size;
        link->peer_explicit_ack = bind->explicit_ack;
    }
    send_bound(ep, session, bind->link, bind->epoch, NETCHAN__WIRE__ERROR_CODE__ERROR_NONE, "",
               link);
    if (!link->sending) {
        nc_chan_update_eof(chan);
    }
}

static void protocol_error(nc_endpoint_t *ep, nc_session_t *session, uint32_t link,
                           const char *message)
{
    atomic_fetch_add(&ep->stats[NETCHAN_ENDPOINT_PROTOCOL_ERRORS], 1);
    nc_log(NETCHAN_LOG_WARNING, "exporter: protocol error from importer session %s (%s): %s",
           session->key, session->address[0] ? session->address : "address unknown", message);
    Netchan__Wire__Error error = NETCHAN__WIRE__ERROR__INIT;
    error.code = NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL;
    error.message = (char *)message;
    error.link = link;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_ERROR;
    frame.error = &error;
    send_frame(ep, session, &frame);
}

/* Returns the session's link id when it exists with the expected role, else reports it. */
static nc_link_t *expect_link(nc_endpoint_t *ep, nc_session_t *session, uint32_t id, bool sending)
{
    nc_link_t *link = session_find_link(session, id);
    if (link == NULL || link->sending != sending) {
        protocol_error(ep, session, id,
                       link == NULL ? "unknown link" : "frame does not fit the link's direction");
        return NULL;
    }
    return link;
}

static void on_frame(nc_endpoint_t *ep, nc_session_t *session, Netchan__Wire__Frame *frame)
{
    nc_transport_t tx = transport(ep, session);
    nc_link_t *link;
    switch (frame->body_case) {
    case NETCHAN__WIRE__FRAME__BODY_BIND:
        on_bind(ep, session, frame->bind);
        break;
    case NETCHAN__WIRE__FRAME__BODY_DATA:
        if ((link = expect_link(ep, session, frame->data->link, false)) != NULL) {
            nc_data_t data;
            if (nc_data_from_frame(&ep->arena, frame->data, &data)) {
                nc_link_on_data(&tx, link, &data);
            }
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_ACK:
        if ((link = expect_link(ep, session, frame->ack->link, true)) != NULL) {
            nc_link_on_ack(link, frame->ack);
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_ACK_CONFIRM:
        if ((link = expect_link(ep, session, frame->ack_confirm->link, false)) != NULL) {
            nc_link_on_confirm(link, frame->ack_confirm->ack_no);
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_CREDIT:
        if ((link = expect_link(ep, session, frame->credit->link, true)) != NULL &&
            frame->credit->total > link->credit) {
            link->credit = frame->credit->total;
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_END:
        if ((link = expect_link(ep, session, frame->end->link, false)) != NULL) {
            nc_link_on_end(link);
            nc_chan_grant(ep, link->chan, transport_for_link);
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_UNBIND:
        /* An importer unbinds links whose bind timed out, which may never have been made. */
        link = session_find_link(session, frame->unbind->link);
        if (link != NULL && link->sending) {
            link->unbound = true;
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_PING: {
        Netchan__Wire__Pong pong = NETCHAN__WIRE__PONG__INIT;
        pong.nonce = frame->ping->nonce;
        Netchan__Wire__Frame reply = NETCHAN__WIRE__FRAME__INIT;
        reply.body_case = NETCHAN__WIRE__FRAME__BODY_PONG;
        reply.pong = &pong;
        send_frame(ep, session, &reply);
        break;
    }
    case NETCHAN__WIRE__FRAME__BODY_PONG:
        break;
    case NETCHAN__WIRE__FRAME__BODY_BYE: {
        /* Reply first: destroying the session drops its routing id. */
        Netchan__Wire__Bye bye = NETCHAN__WIRE__BYE__INIT;
        Netchan__Wire__Frame reply = NETCHAN__WIRE__FRAME__INIT;
        reply.body_case = NETCHAN__WIRE__FRAME__BODY_BYE;
        reply.bye = &bye;
        send_frame(ep, session, &reply);
        nc_events_push(&ep->events, NETCHAN_EVENT_ENDED, NETCHAN_REASON_NONE, session->key,
                       session->address, "", 0);
        nc_log(NETCHAN_LOG_INFO, "exporter: importer session %s (%s) ended", session->key,
               session->address[0] ? session->address : "address unknown");
        session_destroy(ep, session, true);
        break;
    }
    case NETCHAN__WIRE__FRAME__BODY_ERROR:
        nc_endpoint_error(ep, NETCHAN_EPROTO, "importer reported: %s", frame->error->message);
        break;
    default:
        protocol_error(ep, session, 0, "frame not expected from an importer");
        break;
    }
}

static void exporter_on_message(nc_endpoint_t *ep, zmq_msg_t *parts, int count)
{
    exporter_state_t *state = state_of(ep);
    if (count != 2 || zmq_msg_size(&parts[0]) == 0 || zmq_msg_size(&parts[0]) > MAX_ROUTING_ID) {
        atomic_fetch_add(&ep->stats[NETCHAN_ENDPOINT_PROTOCOL_ERRORS], 1);
        return;
    }
    const uint8_t *routing_id = zmq_msg_data(&parts[0]);
    size_t routing_size = zmq_msg_size(&parts[0]);

    /* The fast path for values: a Data frame in the form netchan writes. */
    nc_data_t data;
    if (nc_data_parse(&ep->arena, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), &data)) {
        char key[2 * MAX_ROUTING_ID + 1];
        hex_key(key, routing_id, routing_size);
        nc_session_t *known = zhashx_lookup(state->by_routing, key);
        if (known != NULL && known->attached) {
            known->last_heard = nc_now_ms();
            nc_link_t *link = expect_link(ep, known, data.link, false);
            if (link != NULL) {
                nc_transport_t tx = transport(ep, known);
                nc_link_on_data(&tx, link, &data);
            }
            return;
        }
    }

    Netchan__Wire__Frame *frame =
        nc_frame_decode_in(&ep->arena, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]));
    if (frame == NULL) {
        atomic_fetch_add(&ep->stats[NETCHAN_ENDPOINT_PROTOCOL_ERRORS], 1);
        const char *address = zmq_msg_gets(&parts[1], "Peer-Address");
        if (nc_log_enabled(NETCHAN_LOG_WARNING)) {
            nc_log(NETCHAN_LOG_WARNING,
                   "exporter: ignored a malformed frame of %zu bytes from %s (%llu so far)",
                   zmq_msg_size(&parts[1]), address != NULL ? address : "an unknown peer",
                   (unsigned long long)atomic_load(&ep->stats[NETCHAN_ENDPOINT_PROTOCOL_ERRORS]));
        }
        send_error_to(ep, routing_id, routing_size, NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL, 0,
                      "malformed frame: not a netchan protocol message");
        return;
    }
    if (frame->body_case == NETCHAN__WIRE__FRAME__BODY_HELLO) {
        const char *address = zmq_msg_gets(&parts[1], "Peer-Address");
        const char *user_id = zmq_msg_gets(&parts[1], "User-Id");
        on_hello(ep, routing_id, routing_size, address != NULL ? address : "",
                 user_id != NULL ? user_id : "", frame->hello);
        return;
    }

    char routing_key[2 * MAX_ROUTING_ID + 1];
    hex_key(routing_key, routing_id, routing_size);
    nc_session_t *session = zhashx_lookup(state->by_routing, routing_key);
    if (session == NULL || !session->attached) {
        if (frame->body_case != NETCHAN__WIRE__FRAME__BODY_ERROR &&
            frame->body_case != NETCHAN__WIRE__FRAME__BODY_BYE) {
            send_error_to(ep, routing_id, routing_size, NETCHAN__WIRE__ERROR_CODE__ERROR_NO_SESSION,
                          0, "no session for this connection; send Hello");
        }
        return;
    }
    session->last_heard = nc_now_ms();
    on_frame(ep, session, frame);
}

static void exporter_on_monitor_event(nc_endpoint_t *ep, uint16_t event, uint32_t value,
                                      const char *address)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
        event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        /* A peer that is not a netchan importer with the right keys (ZAP refusals are counted
         * by the ZAP handler, which has the peer's address). */
        uint64_t refused = atomic_fetch_add(&ep->stats[NETCHAN_ENDPOINT_REFUSED], 1) + 1;
        nc_events_push(&ep->events, NETCHAN_EVENT_REFUSED, NETCHAN_REASON_PROTOCOL, "", "", "",
                       value);
        if (refused <= 10 || refused % 1000 == 0) {
            nc_log(NETCHAN_LOG_WARNING,
                   "exporter: a connection on %s failed its handshake (libzmq code 0x%x); %llu "
                   "refused so far",
                   address, value, (unsigned long long)refused);
        }
        return;
    }
    if (event == ZMQ_EVENT_DISCONNECTED) {
        /* A ROUTER does not say which peer left. Probing every session with a mandatory send
         * finds it: libzmq returns EHOSTUNREACH for a routing id whose connection is gone. The
         * pipe may be torn down a while after the event on a busy machine, so the probe
         * repeats at growing intervals for up to the session timeout. */
        exporter_state_t *state = state_of(ep);
        int64_t now = nc_now_ms();
        state->probe_until = now + ep->timeout_ms;
        state->probe_interval = 5;
        state->next_probe = now;
    }
}

static void probe_sessions(nc_endpoint_t *ep)
{
    exporter_state_t *state = state_of(ep);
    zlistx_t *keys = zhashx_keys(state->by_session);
    if (keys == NULL) {
        return;
    }
    for (const char *key = zlistx_first(keys); key != NULL; key = zlistx_next(keys)) {
        nc_session_t *session = zhashx_lookup(state->by_session, key);
        if (session != NULL && session->attached) {
            Netchan__Wire__Ping ping = NETCHAN__WIRE__PING__INIT;
            Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
            frame.body_case = NETCHAN__WIRE__FRAME__BODY_PING;
            frame.ping = &ping;
            send_frame(ep, session, &frame);
        }
    }
    zlistx_destroy(&keys);
}

/* Loses sessions silent past the timeout and forgets detached ones past their lifetime. */
static void check_sessions(nc_endpoint_t *ep, int64_t now)
{
    exporter_state_t *state = state_of(ep);
    zlistx_t *keys = zhashx_keys(state->by_session);
    if (keys == NULL) {
        return;
    }
    nc_session_t *oldest = NULL;
    uint64_t attached = 0;
    for (const char *key = zlistx_first(keys); key != NULL; key = zlistx_next(keys)) {
        nc_session_t *session = zhashx_lookup(state->by_session, key);
        if (session == NULL) {
            continue;
        }
        if (session->attached && now - session->last_heard > (int64_t)ep->timeout_ms) {
            session_lose(ep, session, NETCHAN_REASON_TIMEOUT);
        } else if (!session->attached && now - session->detached_at > SESSION_TTL_MS) {
            session_destroy(ep, session, false);
            continue;
        }
        if (!session->attached && (oldest == NULL || session->detached_at < oldest->detached_at)) {
            oldest = session;
        }
        attached += session->attached;
    }
    zlistx_destroy(&keys);
    atomic_store(&ep->stats[NETCHAN_ENDPOINT_SESSIONS], attached);
    if (state->detached_count > MAX_DETACHED_SESSIONS && oldest != NULL) {
        session_destroy(ep, oldest, false);
    }
}

/* Stops each sender of an exported receiving channel that the application closed, then hands
 * every value not taken back to its importer. Unbind goes first, so that no sender sends those
 * values here again. */
static void close_receiving(nc_endpoint_t *ep, netchan_chan_t *chan)
{
    for (size_t i = 0; i < chan->link_count; i++) {
        nc_link_t *link = chan->links[i];
        link->unbound = true;
        if (link->session->attached) {
            Netchan__Wire__Unbind unbind = NETCHAN__WIRE__UNBIND__INIT;
            unbind.link = link->id;
            Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
            frame.body_case = NETCHAN__WIRE__FRAME__BODY_UNBIND;
            frame.unbind = &unbind;
            send_frame(ep, link->session, &frame);
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

/* Updates the gauges of chan: bound importers and values in flight. */
static void update_gauges(netchan_chan_t *chan)
{
    uint64_t importers = 0;
    uint64_t in_flight = 0;
    for (size_t i = 0; i < chan->link_count; i++) {
        nc_link_t *link = chan->links[i];
        if (link->session->attached && link->bound && !link->unbound) {
            importers++;
        }
        in_flight += link->inflight.count;
    }
    nc_stat_set(chan, NETCHAN_STAT_IMPORTERS, importers);
    nc_stat_set(chan, NETCHAN_STAT_IN_FLIGHT, in_flight);
}

/* Services an exported receiving channel: verdicts out, deadlines, the application's close.
 * Returns the ms until it needs the engine again, or -1. */
static int64_t service_receiving(nc_endpoint_t *ep, netchan_chan_t *chan, int64_t now)
{
    if (chan->options.unacknowledged) {
        return nc_unacked_check_end(chan, now);
    }
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

/* Services an exported sending channel: queued values go round-robin to the links with credit,
 * then confirmations and end of stream. Returns true when values remain that the credit did not
 * let out this round. */
static bool service_sending(nc_endpoint_t *ep, netchan_chan_t *chan, int64_t now)
{
    bool busy = false;
    size_t count = chan->options.unacknowledged ? 0 : chan->link_count;
    if (chan->options.unacknowledged) {
        busy = nc_unacked_pump(chan, now) == 0;
    }
    for (size_t n = 0; n < count && n < chan->link_count; n++) {
        nc_link_t *link = chan->links[(chan->rr_next + n) % chan->link_count];
        if (!link->session->attached) {
            continue;
        }
        nc_transport_t tx = transport(ep, link->session);
        int sent = nc_link_pump(&tx, link, now);
        if (sent < 0) {
            session_lose(ep, link->session, NETCHAN_REASON_CLOSED);
            continue;
        }
        if (sent >= NC_BATCH_VALUES) {
            busy = true;
        }
        if (nc_link_send_confirm(&tx, link) != 0) {
            session_lose(ep, link->session, NETCHAN_REASON_CLOSED);
        }
    }
    if (chan->link_count > 0) {
        chan->rr_next = (chan->rr_next + 1) % chan->link_count;
    }
    for (size_t i = 0; i < chan->link_count; i++) {
        nc_link_t *link = chan->links[i];
        if (link->session->attached && nc_link_end_due(link)) {
            nc_transport_t tx = transport(ep, link->session);
            if (nc_link_send_end(&tx, link) != 0) {
                session_lose(ep, link->session, NETCHAN_REASON_CLOSED);
            }
        }
    }
    return busy;
}

static int64_t exporter_tick(nc_endpoint_t *ep, int64_t now)
{
    exporter_state_t *state = state_of(ep);
    if (state->probe_until > now && state->next_probe <= now) {
        probe_sessions(ep);
        state->next_probe = now + state->probe_interval;
        state->probe_interval = state->probe_interval < 80 ? state->probe_interval * 2 : 80;
    }
    if (now >= state->next_check) {
        check_sessions(ep, now);
        state->next_check = now + 20;
    }

    int64_t wait = state->probe_until > now ? 10 : 50;
    for (size_t i = 0; i < ep->chan_count; i++) {
        netchan_chan_t *chan = ep->chans[i];
        if (chan->dir == NETCHAN_RECV) {
            int64_t next = service_receiving(ep, chan, now);
            if (next >= 0 && next < wait) {
                wait = next;
            }
        } else if (service_sending(ep, chan, now)) {
            wait = 0;
        }
        update_gauges(chan);
    }
    return wait;
}

/* Ends every session gracefully before the exporter goes away: confirmations and verdicts go
 * out, then Bye, so importers stop waiting for this exporter at once. */
static void say_goodbye(nc_endpoint_t *ep)
{
    exporter_state_t *state = state_of(ep);
    for (size_t i = 0; i < ep->chan_count; i++) {
        netchan_chan_t *chan = ep->chans[i];
        if (chan->dir == NETCHAN_RECV) {
            nc_chan_flush_verdicts(ep, chan, transport_for_link);
            continue;
        }
        for (size_t j = 0; j < chan->link_count; j++) {
            nc_link_t *link = chan->links[j];
            if (link->session->attached) {
                nc_transport_t tx = transport(ep, link->session);
                (void)nc_link_send_confirm(&tx, link);
            }
        }
    }
    zlistx_t *keys = zhashx_keys(state->by_session);
    for (const char *key = keys ? zlistx_first(keys) : NULL; key != NULL; key = zlistx_next(keys)) {
        nc_session_t *session = zhashx_lookup(state->by_session, key);
        if (session != NULL && session->attached) {
            Netchan__Wire__Bye bye = NETCHAN__WIRE__BYE__INIT;
            Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
            frame.body_case = NETCHAN__WIRE__FRAME__BODY_BYE;
            frame.bye = &bye;
            send_frame(ep, session, &frame);
        }
    }
    zlistx_destroy(&keys);
    /* Let libzmq flush these frames for a moment after the socket closes. */
    int linger = 500;
    zmq_setsockopt(ep->socket, ZMQ_LINGER, &linger, sizeof(linger));
}

static int exporter_start(nc_endpoint_t *ep)
{
    exporter_state_t *state = calloc(1, sizeof(*state));
    if (state == NULL) {
        return -1;
    }
    state->by_session = zhashx_new();
    state->by_routing = zhashx_new();
    if (state->by_session == NULL || state->by_routing == NULL) {
        zhashx_destroy(&state->by_session);
        zhashx_destroy(&state->by_routing);
        free(state);
        return -1;
    }
    ep->role_state = state;
    if (nc_random_bytes(&ep->instance, sizeof(ep->instance)) != 0) {
        return -1;
    }
    if (ep->instance == 0) {
        ep->instance = 1;
    }

    ep->socket = zmq_socket(zsys_init(), ZMQ_ROUTER);
    if (ep->socket == NULL) {
        return -1;
    }
    int one = 1;
    int zero = 0;
    int hwm = 100000;
    int64_t max_size = NC_MAX_MESSAGE_SIZE;
    zmq_setsockopt(ep->socket, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
    zmq_setsockopt(ep->socket, ZMQ_ROUTER_HANDOVER, &one, sizeof(one));
    zmq_setsockopt(ep->socket, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(ep->socket, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(ep->socket, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(ep->socket, ZMQ_MAXMSGSIZE, &max_size, sizeof(max_size));

    char address[64];
    nc_format(address, sizeof(address), "inproc://netchan-monitor-%p", (void *)ep);
    int events = ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;
    if (zmq_socket_monitor(ep->socket, address, events) == 0) {
        ep->monitor = zmq_socket(zsys_init(), ZMQ_PAIR);
        if (ep->monitor != NULL && zmq_connect(ep->monitor, address) != 0) {
            zmq_close(ep->monitor);
            ep->monitor = NULL;
        }
    }
    return 0;
}

static void exporter_stop(nc_endpoint_t *ep)
{
    nc_log(NETCHAN_LOG_INFO, "exporter: stopping%s%s", ep->last_endpoint[0] ? " on " : "",
           ep->last_endpoint);
    exporter_state_t *state = state_of(ep);
    if (state != NULL) {
        zlistx_t *keys = zhashx_keys(state->by_session);
        for (const char *key = keys ? zlistx_first(keys) : NULL; key != NULL;
             key = zlistx_next(keys)) {
            nc_session_t *session = zhashx_lookup(state->by_session, key);
            if (session != NULL) {
                session_destroy(ep, session, false);
            }
        }
        zlistx_destroy(&keys);
        zhashx_destroy(&state->by_session);
        zhashx_destroy(&state->by_routing);
        free(state);
        ep->role_state = NULL;
    }
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

static int exporter_on_command(nc_endpoint_t *ep, const char *command, const char *text,
                               void *pointer)
{
    if (strcmp(command, "BIND") == 0 || strcmp(command, "CONNECT") == 0) {
        if (ep->security.curve && strncmp(text, "inproc://", 9) == 0) {
            return nc_endpoint_error(ep, NETCHAN_EENDPOINT,
                                     "cannot use '%s' on a CURVE exporter: libzmq does not "
                                     "encrypt or authenticate inproc connections",
                                     text);
        }
        nc_endpoint_set_socket_timeouts(ep);
        nc_security_apply(ep, ep->socket, true);
        bool bind = command[0] == 'B';
        int rc = bind ? zmq_bind(ep->socket, text) : zmq_connect(ep->socket, text);
        if (rc != 0) {
            return nc_endpoint_error(ep, NETCHAN_EENDPOINT, "cannot %s exporter to '%s': %s",
                                     bind ? "bind" : "connect", text, zmq_strerror(errno));
        }
        if (bind) {
            size_t size = sizeof(ep->last_endpoint);
            zmq_getsockopt(ep->socket, ZMQ_LAST_ENDPOINT, ep->last_endpoint, &size);
        }
        nc_log(NETCHAN_LOG_INFO, "exporter: %s %s", bind ? "listening on" : "connecting to",
               bind ? ep->last_endpoint : text);
        return NETCHAN_OK;
    }
    if (strcmp(command, "BYE") == 0) {
        say_goodbye(ep);
        return NETCHAN_OK;
    }
    if (strcmp(command, "EXPORT") == 0) {
        netchan_chan_t *chan = pointer;
        if (find_chan(ep, chan->name) != NULL) {
            return nc_endpoint_error(ep, NETCHAN_EEXIST, "channel '%s' is already exported",
                                     chan->name);
        }
        return nc_endpoint_add_channel(ep, chan) == NETCHAN_OK
                   ? NETCHAN_OK
                   : nc_endpoint_error(ep, NETCHAN_ENOMEM, "out of memory");
    }
    return nc_endpoint_error(ep, NETCHAN_EINVAL, "unknown engine command '%s'", command);
}

const nc_role_ops_t nc_exporter_ops = {
    .start = exporter_start,
    .stop = exporter_stop,
    .on_message = exporter_on_message,
    .on_monitor_event = exporter_on_monitor_event,
    .on_command = exporter_on_command,
    .tick = exporter_tick,
};

/* ---- public API ---- */

netchan_err netchan_exporter_new(netchan_exporter_t **exporter_p)
{
    if (exporter_p == NULL) {
        return NETCHAN_EINVAL;
    }
    netchan_exporter_t *exporter = calloc(1, sizeof(*exporter));
    if (exporter == NULL) {
        return NETCHAN_ENOMEM;
    }
    netchan_err err = nc_endpoint_init(&exporter->ep, NC_EXPORTER);
    if (err != NETCHAN_OK) {
        nc_endpoint_fini(&exporter->ep);
        free(exporter);
        return err;
    }
    *exporter_p = exporter;
    return NETCHAN_OK;
}

void netchan_exporter_destroy(netchan_exporter_t **exporter_p)
{
    if (exporter_p == NULL || *exporter_p == NULL) {
        return;
    }
    (void)nc_endpoint_command(&(*exporter_p)->ep, "BYE", NULL, NULL);
    nc_endpoint_fini(&(*exporter_p)->ep);
    free(*exporter_p);
    *exporter_p = NULL;
}

netchan_err netchan_exporter_set_heartbeat(netchan_exporter_t *exporter, uint32_t interval_ms,
                                           uint32_t timeout_ms)
{
    if (exporter == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_endpoint_set_heartbeat(&exporter->ep, interval_ms, timeout_ms);
}

netchan_err netchan_exporter_set_curve(netchan_exporter_t *exporter, const char *secret_cert)
{
    if (exporter == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_security_set_server(&exporter->ep, secret_cert);
}

netchan_err netchan_exporter_curve_allow(netchan_exporter_t *exporter, const char *directory)
{
    if (exporter == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_security_allow_certs(&exporter->ep, directory);
}

netchan_err netchan_exporter_allow_address(netchan_exporter_t *exporter, const char *address)
{
    if (exporter == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_security_allow_address(&exporter->ep, address);
}

uint64_t netchan_exporter_stat(netchan_exporter_t *exporter, netchan_endpoint_stat stat)
{
    if (exporter == NULL || stat < NETCHAN_ENDPOINT_SESSIONS ||
        stat > NETCHAN_ENDPOINT_PROTOCOL_ERRORS) {
        return 0;
    }
    return atomic_load(&exporter->ep.stats[stat]);
}

netchan_err netchan_exporter_bind(netchan_exporter_t *exporter, const char *endpoint)
{
    if (exporter == NULL || endpoint == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_endpoint_command(&exporter->ep, "BIND", endpoint, NULL);
}

netchan_err netchan_exporter_connect(netchan_exporter_t *exporter, const char *endpoint)
{
    if (exporter == NULL || endpoint == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_endpoint_command(&exporter->ep, "CONNECT", endpoint, NULL);
}

netchan_err netchan_exporter_endpoint(netchan_exporter_t *exporter, char *buffer, size_t size)
{
    if (exporter == NULL || buffer == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_endpoint_last(&exporter->ep, buffer, size);
}

netchan_err netchan_exporter_next_event(netchan_exporter_t *exporter, int timeout_ms,
                                        netchan_event_t **event_p)
{
    if (exporter == NULL || event_p == NULL) {
        return NETCHAN_EINVAL;
    }
    return nc_events_next(&exporter->ep.events, timeout_ms, event_p);
}

int netchan_exporter_event_fd(netchan_exporter_t *exporter)
{
    if (exporter == NULL) {
        return -1;
    }
    int fd = nc_events_fd(&exporter->ep.events);
    if (fd < 0) {
        nc_endpoint_error(&exporter->ep, NETCHAN_ESYSTEM, "cannot make the event descriptor");
    }
    return fd;
}

const char *netchan_exporter_error(netchan_exporter_t *exporter)
{
    return exporter != NULL ? nc_endpoint_error_text(&exporter->ep)
                            : nc_thread_copy("no exporter given");
}

/* Creates and registers an exported channel; type may be NULL for bytes channels. */
static netchan_err export_channel(netchan_exporter_t *exporter, const char *name,
                                  netchan_dir direction, const ProtobufCMessageDescriptor *type,
                                  const char *type_name, const char *fingerprint,
                                  const netchan_options_t *options, netchan_chan_t **chan_p)
{
    if (exporter == NULL || chan_p == NULL) {
        return NETCHAN_EINVAL;
    }
    nc_endpoint_t *ep = &exporter->ep;
    netchan_err err = nc_check_channel_args(ep, name, direction);
    if (err != NETCHAN_OK) {
        return err;
    }
    netchan_chan_t *chan = nc_chan_new(
        ep, name, direction, type, type_name != NULL ? type_name : "bytes", fingerprint, options);
    if (chan == NULL) {
        return nc_endpoint_error(ep, NETCHAN_ENOMEM, "out of memory");
    }
    err = nc_endpoint_command(ep, "EXPORT", NULL, chan);
    if (err != NETCHAN_OK) {
        nc_chan_destroy(chan);
        return err;
    }
    *chan_p = chan;
    return NETCHAN_OK;
}

netchan_err netchan_export_bytes(netchan_exporter_t *exporter, const char *name,
                                 netchan_dir direction, const char *type_name,
                                 const char *fingerprint, const netchan_options_t *options,
                                 netchan_chan_t **chan_p)
{
    return export_channel(exporter, name, direction, NULL, type_name, fingerprint, options, chan_p);
}

netchan_err netchan_export(netchan_exporter_t *exporter, const char *name, netchan_dir direction,
                           const ProtobufCMessageDescriptor *type, const netchan_options_t *options,
                           netchan_chan_t **chan_p)
{
    if (exporter == NULL) {
        return NETCHAN_EINVAL;
    }
    if (type == NULL) {
        return nc_endpoint_error(&exporter->ep, NETCHAN_EINVAL,
                                 "no type given for channel '%s'; use netchan_export_bytes() "
                                 "for untyped values",
                                 name != NULL ? name : "");
    }
    char fingerprint[17];
    nc_fingerprint(type, fingerprint);
    return export_channel(exporter, name, direction, type, type->name, fingerprint, options,
                          chan_p);
}
