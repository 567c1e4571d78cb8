/* A raw ZeroMQ peer for the tests: plain libzmq sockets that speak the netchan wire protocol by
 * hand, or send bytes that are not the protocol at all. The tests use it as a misbehaving
 * importer or a silent exporter against the real library. */
#ifndef NETCHAN_TEST_RAWPEER_H
#define NETCHAN_TEST_RAWPEER_H

#include "fixture.h"

#include <zmq.h>

#include "nc.h"

typedef struct raw_peer {
    void *context;
    void *socket;
    int type; /* ZMQ_DEALER (plays an importer) or ZMQ_ROUTER (plays an exporter) */
    /* ROUTER only: the routing id of the last peer heard from. */
    uint8_t routing_id[256];
    size_t routing_size;
} raw_peer_t;

/* Opens a socket of type with its own context. Receives time out after receive_timeout_ms. */
static inline bool raw_open(raw_peer_t *peer, int type, int receive_timeout_ms)
{
    memset(peer, 0, sizeof(*peer));
    peer->type = type;
    peer->context = zmq_ctx_new();
    if (peer->context == NULL) {
        return false;
    }
    peer->socket = zmq_socket(peer->context, type);
    if (peer->socket == NULL) {
        zmq_ctx_term(peer->context);
        peer->context = NULL;
        return false;
    }
    int zero = 0;
    zmq_setsockopt(peer->socket, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(peer->socket, ZMQ_RCVTIMEO, &receive_timeout_ms, sizeof(receive_timeout_ms));
    return true;
}

static inline void raw_close(raw_peer_t *peer)
{
    if (peer->socket != NULL) {
        zmq_close(peer->socket);
        peer->socket = NULL;
    }
    if (peer->context != NULL) {
        zmq_ctx_term(peer->context);
        peer->context = NULL;
    }
}

/* Sends one message of parts_count frames, each of the given bytes. Returns true on success. */
static inline bool raw_send_parts(raw_peer_t *peer, const void *const *parts, const size_t *sizes,
                                  int parts_count)
{
    for (int i = 0; i < parts_count; i++) {
        int flags = i + 1 < parts_count ? ZMQ_SNDMORE : 0;
        if (zmq_send(peer->socket, parts[i], sizes[i], flags) < 0) {
            printf("# raw send failed: %s\n", zmq_strerror(zmq_errno()));
            return false;
        }
    }
    return true;
}

/* Sends bytes as one frame, after the last heard routing id on a ROUTER. */
static inline bool raw_send_bytes(raw_peer_t *peer, const void *data, size_t size)
{
    if (peer->type == ZMQ_ROUTER) {
        const void *parts[2] = {peer->routing_id, data};
        size_t sizes[2] = {peer->routing_size, size};
        return raw_send_parts(peer, parts, sizes, 2);
    }
    const void *parts[1] = {data};
    size_t sizes[1] = {size};
    return raw_send_parts(peer, parts, sizes, 1);
}

static inline bool raw_send_frame(raw_peer_t *peer, const Netchan__Wire__Frame *frame)
{
    size_t size = netchan__wire__frame__get_packed_size(frame);
    uint8_t *buffer = malloc(size > 0 ? size : 1);
    if (buffer == NULL) {
        return false;
    }
    netchan__wire__frame__pack(frame, buffer);
    bool ok = raw_send_bytes(peer, buffer, size);
    free(buffer);
    return ok;
}

/* Receives one message and decodes its last frame. Returns NULL on timeout or on a frame that
 * does not decode. A ROUTER remembers the sender's routing id for raw_send_*. */
static inline Netchan__Wire__Frame *raw_recv_frame(raw_peer_t *peer)
{
    zmq_msg_t parts[4];
    int count = 0;
    bool more = true;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, peer->socket, 0) < 0) {
            zmq_msg_close(&part);
            for (int i = 0; i < count; i++) {
                zmq_msg_close(&parts[i]);
            }
            return NULL;
        }
        more = zmq_msg_more(&part);
        if (count < 4) {
            parts[count++] = part;
        } else {
            zmq_msg_close(&part);
        }
    }
    Netchan__Wire__Frame *frame = NULL;
    if (count > 0) {
        frame = nc_frame_decode(zmq_msg_data(&parts[count - 1]), zmq_msg_size(&parts[count - 1]));
    }
    if (peer->type == ZMQ_ROUTER && count == 2 && zmq_msg_size(&parts[0]) <= 256) {
        peer->routing_size = zmq_msg_size(&parts[0]);
        memcpy(peer->routing_id, zmq_msg_data(&parts[0]), peer->routing_size);
    }
    for (int i = 0; i < count; i++) {
        zmq_msg_close(&parts[i]);
    }
    return frame;
}

/* Receives until a frame with body arrives or timeout_ms passes. Frames of other kinds are
 * freed and counted in *skipped_p (may be NULL). */
static inline Netchan__Wire__Frame *
raw_expect(raw_peer_t *peer, Netchan__Wire__Frame__BodyCase body, int timeout_ms, int *skipped_p)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    while (harness_now_ms() < deadline) {
        Netchan__Wire__Frame *frame = raw_recv_frame(peer);
        if (frame == NULL) {
            continue;
        }
        if (frame->body_case == body) {
            return frame;
        }
        if (skipped_p != NULL) {
            (*skipped_p)++;
        }
        nc_frame_free(frame);
    }
    return NULL;
}

/* Sends Hello with session and waits for Welcome. Returns true when welcomed. */
static inline bool raw_hello(raw_peer_t *peer, const uint8_t session[NC_SESSION_ID_SIZE],
                             int timeout_ms)
{
    Netchan__Wire__Hello hello = NETCHAN__WIRE__HELLO__INIT;
    hello.version = NC_PROTOCOL_VERSION;
    hello.session.data = (uint8_t *)session;
    hello.session.len = NC_SESSION_ID_SIZE;
    hello.heartbeat_ms = 250;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_HELLO;
    frame.hello = &hello;
    if (!raw_send_frame(peer, &frame)) {
        return false;
    }
    Netchan__Wire__Frame *welcome =
        raw_expect(peer, NETCHAN__WIRE__FRAME__BODY_WELCOME, timeout_ms, NULL);
    nc_frame_free(welcome);
    return welcome != NULL;
}

/* Sends Bind for a Point channel (types compared by name), granting credit values when the peer
 * receives, and waits for Bound. Returns the Bound frame, which the caller frees, or NULL. */
static inline Netchan__Wire__Frame *raw_bind(raw_peer_t *peer, uint32_t link, const char *channel,
                                             Netchan__Wire__Direction direction, uint64_t credit,
                                             int timeout_ms)
{
    Netchan__Wire__Bind bind = NETCHAN__WIRE__BIND__INIT;
    bind.link = link;
    bind.channel = (char *)channel;
    bind.direction = direction;
    bind.type_name = "netchan.test.Point";
    bind.fingerprint = "";
    bind.credit = credit;
    bind.max_value_size = 1u << 20;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_BIND;
    frame.bind = &bind;
    if (!raw_send_frame(peer, &frame)) {
        return NULL;
    }
    return raw_expect(peer, NETCHAN__WIRE__FRAME__BODY_BOUND, timeout_ms, NULL);
}

/* Packs Point{x, 0, "p<x>"} into buffer (64 bytes) and returns the size. */
static inline size_t pack_point(int x, uint8_t *buffer)
{
    char label[32];
    snprintf(label, sizeof(label), "p%d", x);
    Netchan__Test__Point point = NETCHAN__TEST__POINT__INIT;
    point.x = x;
    point.label = label;
    return netchan__test__point__pack(&point, buffer);
}

/* Sends a Data frame on link, counted under the link's bind epoch (0 for none), with values
 * seq first..last, each a packed Point with x = seq. */
static inline bool raw_send_points_in_epoch(raw_peer_t *peer, uint32_t link, uint32_t epoch,
                                            uint64_t first, uint64_t last)
{
    size_t n = (size_t)(last - first + 1);
    Netchan__Wire__Value *values = calloc(n, sizeof(*values));
    Netchan__Wire__Value **pointers = calloc(n, sizeof(*pointers));
    uint8_t(*payloads)[64] = calloc(n, sizeof(*payloads));
    bool ok = values != NULL && pointers != NULL && payloads != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        netchan__wire__value__init(&values[i]);
        values[i].seq = first + i;
        values[i].attempts = 1;
        values[i].payload.data = payloads[i];
        values[i].payload.len = pack_point((int)(first + i), payloads[i]);
        pointers[i] = &values[i];
    }
    if (ok) {
        Netchan__Wire__Data data = NETCHAN__WIRE__DATA__INIT;
        data.link = link;
        data.epoch = epoch;
        data.n_values = n;
        data.values = pointers;
        Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
        frame.body_case = NETCHAN__WIRE__FRAME__BODY_DATA;
        frame.data = &data;
        ok = raw_send_frame(peer, &frame);
    }
    free(values);
    free(pointers);
    free(payloads);
    return ok;
}

/* Sends a Data frame on link without a bind epoch; see raw_send_points_in_epoch(). */
static inline bool raw_send_points(raw_peer_t *peer, uint32_t link, uint64_t first, uint64_t last)
{
    return raw_send_points_in_epoch(peer, link, 0, first, last);
}

/* Sends Ping and waits for Pong: the peer has handled everything sent before. */
static inline bool raw_round_trip(raw_peer_t *peer, int timeout_ms, int *skipped_p)
{
    Netchan__Wire__Ping ping = NETCHAN__WIRE__PING__INIT;
    ping.nonce = 0x5eed;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_PING;
    frame.ping = &ping;
    if (!raw_send_frame(peer, &frame)) {
        return false;
    }
    Netchan__Wire__Frame *pong =
        raw_expect(peer, NETCHAN__WIRE__FRAME__BODY_PONG, timeout_ms, skipped_p);
    bool ok = pong != NULL && pong->pong->nonce == 0x5eed;
    nc_frame_free(pong);
    return ok;
}

/* ---- playing the exporter ---- */

/* An import run on its own thread while the test plays the exporter on the main thread. */
typedef struct raw_import {
    netchan_importer_t *importer;
    const char *channel;
    uint32_t capacity;
    bool explicit_ack;
    netchan_chan_t *chan; /* the imported receiving channel, NULL when the import failed */
} raw_import_t;

static inline void *raw_import_main(void *arg)
{
    raw_import_t *call = arg;
    call->chan = import_points_with(call->importer, call->channel, NETCHAN_RECV, call->capacity,
                                    call->explicit_ack);
    return NULL;
}

/* Receives frames until a Bind arrives and returns it, or NULL after five seconds. Counts Error
 * frames from the importer in *errors_p. */
static inline Netchan__Wire__Frame *raw_expect_bind(raw_peer_t *peer, int *errors_p)
{
    int64_t deadline = harness_now_ms() + 5000;
    while (harness_now_ms() < deadline) {
        Netchan__Wire__Frame *frame = raw_recv_frame(peer);
        if (frame == NULL) {
            continue;
        }
        if (frame->body_case == NETCHAN__WIRE__FRAME__BODY_BIND) {
            return frame;
        }
        if (frame->body_case == NETCHAN__WIRE__FRAME__BODY_ERROR) {
            printf("# error from the importer: %s\n", frame->error->message);
            (*errors_p)++;
        }
        nc_frame_free(frame);
    }
    return NULL;
}

/* Sends ping (a Ping frame) and waits up to two seconds for the Pong, counting Error frames
 * from the importer in *errors_p. */
static inline bool raw_collect_pong(raw_peer_t *peer, const Netchan__Wire__Frame *ping,
                                    int *errors_p)
{
    if (!raw_send_frame(peer, ping)) {
        return false;
    }
    int64_t deadline = harness_now_ms() + 2000;
    while (harness_now_ms() < deadline) {
        Netchan__Wire__Frame *received = raw_recv_frame(peer);
        if (received == NULL) {
            continue;
        }
        bool pong = received->body_case == NETCHAN__WIRE__FRAME__BODY_PONG;
        if (received->body_case == NETCHAN__WIRE__FRAME__BODY_ERROR) {
            printf("# error from the importer: %s\n", received->error->message);
            (*errors_p)++;
        }
        nc_frame_free(received);
        if (pong) {
            return true;
        }
    }
    return false;
}

/* Accepts the bind of link with no error, in reply to the Bind of the given epoch. */
static inline bool raw_bound(raw_peer_t *peer, uint32_t link, uint32_t epoch)
{
    Netchan__Wire__Bound bound = NETCHAN__WIRE__BOUND__INIT;
    bound.link = link;
    bound.max_value_size = 1u << 20;
    bound.epoch = epoch;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_BOUND;
    frame.bound = &bound;
    return raw_send_frame(peer, &frame);
}

/* Welcomes the importer as exporter instance, in reply to the Hello of the given connection
 * number. resumed and expired are the Welcome's flags. */
static inline bool raw_welcome(raw_peer_t *peer, uint64_t instance, uint32_t connection,
                               bool resumed, bool expired)
{
    Netchan__Wire__Welcome welcome = NETCHAN__WIRE__WELCOME__INIT;
    welcome.version = NC_PROTOCOL_VERSION;
    welcome.instance = instance;
    welcome.resumed = resumed;
    welcome.expired = expired;
    welcome.timeout_ms = 1000;
    welcome.connection = connection;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_WELCOME;
    frame.welcome = &welcome;
    return raw_send_frame(peer, &frame);
}

#endif
