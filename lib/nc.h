/* Internal declarations shared by the library's source files.
 *
 * Each exporter or importer (an endpoint) runs one engine thread that alone touches its ZeroMQ
 * sockets. Application threads meet the engine in the channel structure: a sending application
 * appends values to the channel's queue, a receiving application takes values from its inbox and
 * leaves verdicts (acknowledged, handed back, rejected) for the engine. Both sides hold the
 * channel mutex only to move values in and out, never while doing I/O.
 *
 * A link is one channel's association with one peer: the importer's channel has one link to the
 * exporter, and an exported channel has one link per importer session that bound it. Whichever
 * side sends values on a link keeps them in the link's in-flight list until the receiver's
 * acknowledgement arrives.
 */
#ifndef NC_H
#define NC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "netchan.h"
#include "netchan.pb-c.h"

#define NC_PROTOCOL_VERSION       1
#define NC_SESSION_ID_SIZE        16
#define NC_ERRMSG_SIZE            512
#define NC_DEFAULT_CAPACITY       1024
#define NC_MAX_CAPACITY           (1u << 20)
#define NC_DEFAULT_MAX_VALUE_SIZE (1u << 20)
#define NC_MAX_VALUE_SIZE_LIMIT   (16u << 20)
#define NC_DEFAULT_HEARTBEAT_MS   250
#define NC_DEFAULT_TIMEOUT_MS     1000

/* Largest ZeroMQ message an endpoint accepts; libzmq drops a peer that sends more before it
 * allocates the message. A batch of values never exceeds NC_BATCH_BYTES plus one value. */
#define NC_MAX_MESSAGE_SIZE ((int64_t)NC_MAX_VALUE_SIZE_LIMIT + (1 << 20))
/* Values of typed channels nested deeper than this are rejected before protobuf-c unpacks them,
 * because its unpacker recurses once per level. */
#define NC_MAX_VALUE_DEPTH 64
#define NC_BATCH_VALUES    512
#define NC_BATCH_BYTES     (256 * 1024)

/* ---- small containers (util.c) ---- */

/* A double-ended queue of pointers that grows by doubling. */
typedef struct nc_ring {
    void **items;
    size_t head;
    size_t count;
    size_t cap;
} nc_ring_t;

int nc_ring_push_back(nc_ring_t *ring, void *item);
int nc_ring_push_front(nc_ring_t *ring, void *item);
void *nc_ring_pop_front(nc_ring_t *ring);
void *nc_ring_at(const nc_ring_t *ring, size_t index);
void nc_ring_set(nc_ring_t *ring, size_t index, void *item);
void nc_ring_remove_at(nc_ring_t *ring, size_t index);
void nc_ring_free(nc_ring_t *ring);

/* A set of sequence numbers kept as sorted, disjoint, non-adjacent inclusive ranges. Values
 * mostly arrive in order, so inserting at the end and removing at the front are O(1). */
typedef struct nc_range {
    uint64_t first;
    uint64_t last;
} nc_range_t;

typedef struct nc_seqset {
    nc_range_t *ranges;
    size_t count;
    size_t cap;
} nc_seqset_t;

int nc_seqset_add(nc_seqset_t *set, uint64_t seq);
int nc_seqset_add_range(nc_seqset_t *set, uint64_t first, uint64_t last);
void nc_seqset_remove(nc_seqset_t *set, uint64_t seq);
void nc_seqset_remove_range(nc_seqset_t *set, uint64_t first, uint64_t last);
bool nc_seqset_contains(const nc_seqset_t *set, uint64_t seq);
uint64_t nc_seqset_size(const nc_seqset_t *set);
void nc_seqset_clear(nc_seqset_t *set);
void nc_seqset_free(nc_seqset_t *set);

/* A bump allocator for decoding frames on the engine thread without a malloc per field: a frame
 * decoded in it lives until the next nc_arena_reset(). */
typedef struct nc_arena_chunk nc_arena_chunk_t;
typedef struct nc_arena {
    nc_arena_chunk_t *chunks; /* newest first */
    size_t used_total;
} nc_arena_t;

int64_t nc_now_ms(void);

/* Fills buffer with random bytes from the kernel; returns 0, or -1 when none are available. */
int nc_random_bytes(void *buffer, size_t size);

/* Logging (log.c). */
bool nc_log_enabled(netchan_log_level level);
void nc_log(netchan_log_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* The event queue of an endpoint (event.c). */
typedef struct nc_events {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    nc_ring_t queue;
    uint64_t dropped;
    int fds[2];
    bool signalled;
} nc_events_t;

void nc_events_init(nc_events_t *events);
void nc_events_fini(nc_events_t *events);
void nc_events_push(nc_events_t *events, netchan_event_type type, netchan_event_reason reason,
                    const char *peer, const char *address, const char *channel, uint64_t count);
netchan_err nc_events_next(nc_events_t *events, int timeout_ms, netchan_event_t **event_p);
int nc_events_fd(nc_events_t *events);

/* Formats into buffer like snprintf but never fails; used for error details. */
void nc_format(char *buffer, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies message into a buffer owned by the calling thread and returns it. */
const char *nc_thread_copy(const char *message);

/* Computes the fingerprint of type into out (17 bytes). */
void nc_fingerprint(const ProtobufCMessageDescriptor *type, char out[17]);

/* ---- values ---- */

/* One value, allocated once with its payload. On the receiving side link_key names the link it
 * arrived on, so that its acknowledgement goes back there; on the sending side, the link it was
 * last sent on. */
typedef struct nc_value {
    uint64_t seq;
    uint64_t link_key;
    uint32_t attempts;
    uint32_t size;
    bool sent;        /* sending side: sent to a receiver at least once */
    bool redelivered; /* receiving side: the sender had sent it to a receiver before */
    uint8_t data[];
} nc_value_t;

nc_value_t *nc_value_new(const void *data, size_t size);

/* A Data frame as the link code reads it, decoded either way: its values point into the
 * received bytes or the decoded frame, and live as long as those. */
typedef struct nc_wire_value {
    uint64_t seq;
    uint32_t attempts;
    bool redelivered;
    const uint8_t *payload;
    size_t size;
} nc_wire_value_t;

typedef struct nc_data {
    uint32_t link;
    uint32_t epoch;
    size_t count;
    nc_wire_value_t *values; /* in the arena */
} nc_data_t;

/* A value taken from an explicit-acknowledgement channel, shared by the application's message
 * handle and the channel's list of values awaiting acknowledgement; freed when both let go. */
typedef struct nc_held {
    uint64_t link_key;
    uint64_t seq;
    int64_t deadline; /* monotonic ms, 0 for none */
    int refs;
    bool settled; /* acknowledged, released or expired */
    bool expired;
} nc_held_t;

/* The application's handle on a received value. */
struct netchan_msg {
    netchan_chan_t *chan;
    nc_value_t *value;
    nc_held_t *held; /* explicit acknowledgement only */
};

/* ---- channel options ---- */

struct netchan_options {
    uint32_t capacity;
    uint32_t max_value_size;
    uint32_t ack_deadline_ms;
    uint32_t max_attempts;
    char dead_letter[256];
    bool explicit_ack;
    bool unacknowledged;
};

void nc_options_defaults(netchan_options_t *options);

#define NC_STAT_SLOTS 16

/* ---- verdicts: what a receiving application decided about a value ---- */

typedef enum nc_verdict_kind {
    NC_VERDICT_ACK = 1,
    NC_VERDICT_RETURN = 2,
    NC_VERDICT_REJECT = 3,
    NC_VERDICT_RELEASE = 4,
} nc_verdict_kind_t;

typedef struct nc_verdict {
    uint64_t link_key;
    uint64_t seq;
    nc_verdict_kind_t kind;
    bool repeat; /* sent again for a duplicate; the value was already counted */
} nc_verdict_t;

typedef struct nc_verdicts {
    nc_verdict_t *items;
    size_t count;
    size_t cap;
} nc_verdicts_t;

/* ---- endpoints, links and channels ---- */

typedef struct nc_endpoint nc_endpoint_t;
typedef struct nc_session nc_session_t;

/* One Ack sent by a receiver and not yet confirmed by the sender. */
typedef struct nc_ack_record {
    uint64_t ack_no;
    nc_seqset_t acked; /* these two stay in the duplicate set until confirmed */
    nc_seqset_t rejected;
    uint64_t count; /* every value the Ack settled, handed-back ones included */
    struct nc_ack_record *next;
} nc_ack_record_t;

typedef struct nc_link {
    uint64_t key; /* slot in the endpoint's link table, with a generation above bit 32 */
    uint32_t id;  /* the wire link id, chosen by the importer */
    netchan_chan_t *chan;
    nc_session_t *session; /* exporter side only */
    bool sending;          /* this side sends values on the link */
    bool bound;            /* the bind has been accepted */
    bool unbound;          /* the receiver no longer takes values on this link */
    uint32_t epoch;        /* the link's bind epoch: both sides count credit within one */

    /* sender role */
    nc_ring_t inflight;  /* values sent and not acknowledged, in send order */
    size_t resend_index; /* inflight[resend_index..] must be sent again on this connection */
    uint64_t credit;     /* values the receiver allowed since the link was last bound */
    uint64_t sent;       /* values sent since then, resends included */
    uint32_t peer_max_value_size;
    bool peer_explicit_ack; /* the receiving importer acknowledges explicitly */
    uint64_t last_ack_no;   /* the last Ack applied */
    bool confirm_due;
    bool end_sent;
    int64_t retry_at; /* after a full socket queue, when to try sending again */

    /* receiver role */
    nc_seqset_t seen;     /* received, and acknowledgement not yet confirmed: duplicates */
    uint64_t granted;     /* credit given since the link was last bound */
    uint64_t arrived;     /* values arrived since then, duplicates included */
    uint64_t outstanding; /* values accepted and their verdict not yet sent */
    uint64_t next_ack_no;
    nc_ack_record_t *records; /* unconfirmed Acks, oldest first */
    nc_ack_record_t *records_tail;
    uint64_t unconfirmed; /* values acknowledged, returned or rejected and not yet confirmed */
    bool end_received;
} nc_link_t;

struct netchan_chan {
    nc_endpoint_t *ep;
    char *name;
    netchan_dir dir;
    const ProtobufCMessageDescriptor *type; /* NULL for bytes channels */
    char *type_name;
    char fingerprint[17]; /* empty when names alone are compared */
    netchan_options_t options;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* broadcast on every change an application thread may wait for */
    unsigned waiters;

    /* sending side */
    nc_ring_t queue; /* accepted and not yet sent, sorted by seq */
    uint64_t next_seq;
    uint64_t pending;  /* accepted and not yet acknowledged or rejected */
    uint64_t rejected; /* rejected by a receiver */
    bool closed;       /* netchan_close() was called */

    /* receiving side */
    nc_ring_t inbox; /* received and not yet taken */
    nc_verdicts_t verdicts;
    uint64_t taken_unacked; /* explicit acknowledgement: taken, not yet acknowledged */
    uint64_t unconfirmed;   /* verdicts sent or queued, not yet confirmed by the sender */
    bool eof;               /* no value will arrive any more */
    uint64_t decode_failures;

    nc_ring_t held;     /* explicit acknowledgement: nc_held_t in take order */
    uint64_t discarded; /* values dropped after their maximum attempts */

    /* statistics, indexed by netchan_stat; written by either side without the mutex */
    _Atomic uint64_t stats[NC_STAT_SLOTS];

    /* the readiness descriptor of netchan_chan_fd(), made on first use */
    int ready_fds[2];
    bool ready_signalled;

    /* both: a failure that ends the channel, such as a bind the exporter rejected */
    netchan_err failure;
    bool bind_done; /* importer: the first bind was answered */
    netchan_err bind_result;

    /* exporter: importer keys allowed to bind, z85; none means any */
    char (*allowed_keys)[41];
    size_t allowed_count;

    char errmsg[NC_ERRMSG_SIZE];

    /* engine only */
    nc_link_t **links;
    size_t link_count;
    size_t link_cap;
    size_t rr_next;       /* round-robin position among links */
    uint64_t ended_links; /* receiving: links that sent end of stream, departed ones included */
    bool engine_closed_seen;

    /* engine only, unacknowledged channels: the PUSH or PULL socket that carries the values */
    void *data_socket;
    char data_endpoint[256];
    int64_t end_at;   /* receiving: end of stream arrived; eof once data is quiet until then */
    int64_t retry_at; /* sending: after a full socket, when to try again */
};

void nc_chan_set_error(netchan_chan_t *chan, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
netchan_err nc_chan_fail(netchan_chan_t *chan, netchan_err err, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
netchan_chan_t *nc_chan_new(nc_endpoint_t *ep, const char *name, netchan_dir dir,
                            const ProtobufCMessageDescriptor *type, const char *type_name,
                            const char *fingerprint, const netchan_options_t *options);
void nc_chan_destroy(netchan_chan_t *chan);
/* Returns true when chan admits an importer with this z85 public key: when the channel lists no
 * keys, or lists this one. */
bool nc_chan_admits_key(netchan_chan_t *chan, const char *public_key);
/* Wakes application threads waiting on chan and updates its readiness descriptor; the caller
 * holds chan->mu. */
void nc_chan_broadcast(netchan_chan_t *chan);

static inline void nc_stat_add(netchan_chan_t *chan, netchan_stat stat, uint64_t n)
{
    atomic_fetch_add_explicit(&chan->stats[stat], n, memory_order_relaxed);
}

static inline void nc_stat_set(netchan_chan_t *chan, netchan_stat stat, uint64_t n)
{
    atomic_store_explicit(&chan->stats[stat], n, memory_order_relaxed);
}

/* Engine side, for receiving channels with explicit acknowledgement: frees settled entries of
 * chan->held and releases values past their deadline. Returns the ms until the next deadline,
 * or -1 for none. */
int64_t nc_chan_expire_held(netchan_chan_t *chan, int64_t now);
/* Engine side: moves or discards a value past its channel's maximum attempts. */
void nc_chan_dead_letter(netchan_chan_t *chan, nc_value_t *value);

/* An endpoint's security settings, written by the application before binding or connecting
 * (under cmd_mu) and read by the engine when it binds or connects. */
typedef struct nc_security {
    bool curve;
    uint8_t public_key[32];
    uint8_t secret_key[32];
    uint8_t server_key[32]; /* importer: the exporter's public key */
    char domain[64];        /* exporter: its ZAP domain when it has a policy, else empty */
} nc_security_t;

typedef enum nc_role {
    NC_EXPORTER = 1,
    NC_IMPORTER = 2,
} nc_role_t;

struct nc_endpoint {
    nc_role_t role;
    zactor_t *actor;
    pthread_mutex_t cmd_mu; /* serializes commands on the actor pipe */
    int wake_fds[2];        /* application threads write here to wake the engine */
    atomic_int wake_pending;

    pthread_mutex_t err_mu;
    char errmsg[NC_ERRMSG_SIZE];
    nc_events_t events;
    nc_security_t security;
    _Atomic uint64_t stats[4]; /* indexed by netchan_endpoint_stat */

    uint32_t heartbeat_ms;
    uint32_t timeout_ms;

    /* channels, owned by the endpoint; guarded by chans_mu for lookups from the API */
    pthread_mutex_t chans_mu;
    netchan_chan_t **chans;
    size_t chan_count;
    size_t chan_cap;
    char last_endpoint[256];
    char last_endpoint_connected[256]; /* importer: the exporter's endpoint, for messages */

    /* engine only */
    zsock_t *pipe;
    bool terminated; /* the engine received $TERM from zactor_destroy() */
    nc_arena_t arena;
    void *socket;
    void *monitor;
    nc_link_t **link_table;
    uint32_t *link_generation;
    size_t link_table_cap;
    uint64_t instance; /* exporter: random per process */
    void *role_state;  /* nc_exporter_state_t or nc_importer_state_t */
};

/* Application side helpers (endpoint.c). */
netchan_err nc_endpoint_init(nc_endpoint_t *ep, nc_role_t role);
void nc_endpoint_fini(nc_endpoint_t *ep);
netchan_err nc_endpoint_error(nc_endpoint_t *ep, netchan_err err, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
const char *nc_endpoint_error_text(nc_endpoint_t *ep);
void nc_endpoint_wake(nc_endpoint_t *ep);
/* Sends a command to the engine and waits for its result; see engine.c for the commands. */
netchan_err nc_endpoint_command(nc_endpoint_t *ep, const char *command, const char *text,
                                void *pointer);
/* Engine side: appends chan to the endpoint's channels. */
netchan_err nc_endpoint_add_channel(nc_endpoint_t *ep, netchan_chan_t *chan);
/* Engine side: removes chan from the endpoint's channels without freeing it. */
void nc_endpoint_remove_channel(nc_endpoint_t *ep, netchan_chan_t *chan);
netchan_err nc_endpoint_set_heartbeat(nc_endpoint_t *ep, uint32_t interval_ms, uint32_t timeout_ms);
netchan_err nc_endpoint_last(nc_endpoint_t *ep, char *buffer, size_t size);
/* Engine side: sets the socket's ZMTP heartbeat, handshake and connect timeouts from the
 * endpoint's heartbeat settings, before it binds or connects. */
void nc_endpoint_set_socket_timeouts(nc_endpoint_t *ep);
/* Validates a channel name and direction, recording the detail on ep. */
netchan_err nc_check_channel_args(nc_endpoint_t *ep, const char *name, netchan_dir direction);

/* Engine side (engine.c): the loop common to both roles. */
typedef struct nc_role_ops {
    int (*start)(nc_endpoint_t *ep);
    void (*stop)(nc_endpoint_t *ep);
    /* Handles one message from the socket; parts[0] is the routing id on the exporter. */
    void (*on_message)(nc_endpoint_t *ep, zmq_msg_t *parts, int count);
    void (*on_monitor_event)(nc_endpoint_t *ep, uint16_t event, uint32_t value,
                             const char *address);
    /* Handles a command and returns its result, or -1 to answer later with
     * nc_engine_reply(). */
    int (*on_command)(nc_endpoint_t *ep, const char *command, const char *text, void *pointer);
    /* Runs timers and moves values; returns the ms until it wants to run again. */
    int64_t (*tick)(nc_endpoint_t *ep, int64_t now);
} nc_role_ops_t;

void nc_engine_actor(zsock_t *pipe, void *args);
/* Answers a command whose handler deferred its result. */
void nc_engine_reply(nc_endpoint_t *ep, netchan_err result);
extern const nc_role_ops_t nc_exporter_ops;
extern const nc_role_ops_t nc_importer_ops;

/* Link table (engine.c). */
nc_link_t *nc_link_new(nc_endpoint_t *ep, netchan_chan_t *chan, uint32_t id, bool sending);
void nc_link_free(nc_endpoint_t *ep, nc_link_t *link);
nc_link_t *nc_link_lookup(nc_endpoint_t *ep, uint64_t key);
/* Gives the link a new key, so that verdicts on values received under the old key are dropped. */
void nc_link_rekey(nc_endpoint_t *ep, nc_link_t *link);

/* Link protocol (link.c), shared by both roles. Each send function writes one Frame to the peer
 * through the role's transmit function and returns 0, or -1 with errno from libzmq. */
typedef int (*nc_transmit_fn)(nc_endpoint_t *ep, nc_session_t *session, zmq_msg_t *msg);

typedef struct nc_transport {
    nc_endpoint_t *ep;
    nc_session_t *session;
    nc_transmit_fn transmit;
} nc_transport_t;

int nc_send_frame(const nc_transport_t *tx, const Netchan__Wire__Frame *frame);

/* Sender role. */
void nc_link_on_ack(nc_link_t *link, const Netchan__Wire__Ack *ack);
/* Puts every in-flight value of link back at the front of its channel's queue. */
void nc_link_take_back(nc_link_t *link, bool count_attempt);
/* Sends queued values to link while it has credit; returns the number sent, -1 on an error
 * that lost the peer. */
int nc_link_pump(const nc_transport_t *tx, nc_link_t *link, int64_t now);
/* Sends every in-flight value again, after a reconnect. */
int nc_link_resend(const nc_transport_t *tx, nc_link_t *link);
int nc_link_send_confirm(const nc_transport_t *tx, nc_link_t *link);
bool nc_link_end_due(nc_link_t *link);
int nc_link_send_end(const nc_transport_t *tx, nc_link_t *link);

/* Receiver role. */
void nc_link_on_data(const nc_transport_t *tx, nc_link_t *link, const nc_data_t *data);
void nc_link_on_confirm(nc_link_t *link, uint64_t ack_no);
void nc_link_on_end(nc_link_t *link);
/* Recomputes whether chan will receive any further value. */
void nc_chan_update_eof(netchan_chan_t *chan);
/* Queues a verdict from the engine itself (a value returned or rejected on arrival). */
void nc_chan_add_verdict_locked(netchan_chan_t *chan, uint64_t link_key, uint64_t seq,
                                nc_verdict_kind_t kind);
/* Sends the verdicts queued by the application for every receiving link of chan. */
int nc_chan_flush_verdicts(nc_endpoint_t *ep, netchan_chan_t *chan,
                           int (*tx_for)(nc_endpoint_t *, nc_link_t *, nc_transport_t *));
/* Resends every unconfirmed verdict of link under a new ack number, after a reconnect. */
int nc_link_resend_records(const nc_transport_t *tx, nc_link_t *link);
/* Forgets what link has received, after the sender lost its state (an exporter restart). */
void nc_link_reset_receiver(nc_endpoint_t *ep, nc_link_t *link);
/* Starts a sender's credit afresh when the link is bound again, with the receiver's initial
 * credit; everything in flight goes out again. */
void nc_link_start_sending(nc_link_t *link, uint64_t credit);
/* Starts a receiver's credit afresh when the link is bound again; returns the initial credit
 * to announce in Bind or Bound. */
uint64_t nc_link_start_receiving(nc_link_t *link);
/* Ends the receiver's credit when the connection is gone: nothing more can arrive on it. */
void nc_link_stop_receiving(nc_link_t *link);
/* Grants credit to the receiving links of chan that run low, keeping every value that is held
 * or may still arrive within the channel's capacity (plus at least one value per link, so that
 * no sender starves). */
void nc_chan_grant(nc_endpoint_t *ep, netchan_chan_t *chan,
                   int (*tx_for)(nc_endpoint_t *, nc_link_t *, nc_transport_t *));

/* Detaches link from its channel's link array. */
void nc_chan_remove_link(netchan_chan_t *chan, nc_link_t *link);
int nc_chan_add_link(netchan_chan_t *chan, nc_link_t *link);

/* Unacknowledged channels over PUSH/PULL (unacked.c). */
/* Exporter: makes the channel's data socket on first bind; writes the endpoint for Bound, or
 * the reason into message and returns the error. */
netchan_err nc_unacked_open_exporter(nc_endpoint_t *ep, netchan_chan_t *chan, char *message,
                                     size_t size);
/* Importer: connects the channel's data socket to the endpoint from Bound. */
netchan_err nc_unacked_open_importer(nc_endpoint_t *ep, netchan_chan_t *chan,
                                     const char *data_endpoint, char *message, size_t size);
/* Reads values waiting on a receiving channel's data socket. */
void nc_unacked_receive(netchan_chan_t *chan, int64_t now);
/* Sends queued values of a sending channel; returns the ms until it wants to run again, 0 when
 * more is queued, or -1. */
int64_t nc_unacked_pump(netchan_chan_t *chan, int64_t now);
/* Receiving side: end of stream arrived over the control connection. */
void nc_unacked_on_end(netchan_chan_t *chan, int64_t now);
/* Receiving side: sets eof once the data socket was quiet since end of stream; returns the ms
 * until it should be checked again, or -1. */
int64_t nc_unacked_check_end(netchan_chan_t *chan, int64_t now);
/* True when the engine should poll the channel's data socket for input. */
bool nc_unacked_wants_input(netchan_chan_t *chan);
void nc_unacked_close(netchan_chan_t *chan);

/* Security (security.c). */
netchan_err nc_security_set_server(nc_endpoint_t *ep, const char *secret_cert);
netchan_err nc_security_allow_certs(nc_endpoint_t *ep, const char *directory);
netchan_err nc_security_allow_address(nc_endpoint_t *ep, const char *address);
netchan_err nc_security_set_client(nc_endpoint_t *ep, const char *secret_cert,
                                   const char *server_public);
/* Engine side: sets the CURVE and ZAP options of socket before it binds or connects. */
void nc_security_apply(nc_endpoint_t *ep, void *socket, bool server);
/* As nc_security_apply(), for an unacknowledged channel's data socket: on the exporter it also
 * admits only the keys the channel allows. */
void nc_security_apply_channel(nc_endpoint_t *ep, netchan_chan_t *chan, void *socket, bool server);
/* Unregisters the endpoint's admission policy; called when the exporter is destroyed. */
void nc_security_release(nc_endpoint_t *ep);

/* Wire helpers (wire.c). */
Netchan__Wire__Frame *nc_frame_decode(const void *data, size_t size);
void nc_frame_free(Netchan__Wire__Frame *frame);

Netchan__Wire__Frame *nc_frame_decode_in(nc_arena_t *arena, const void *data, size_t size);

size_t nc_data_encoded_size(uint32_t link, uint32_t epoch, nc_value_t *const *values, size_t n);
void nc_data_encode(uint8_t *out, uint32_t link, uint32_t epoch, nc_value_t *const *values,
                    size_t n);
/* Decodes a Data frame in the canonical form nc_data_encode() writes; returns false for any
 * other input, which then goes to nc_frame_decode_in(). The reset arena holds the values. */
bool nc_data_parse(nc_arena_t *arena, const uint8_t *data, size_t size, nc_data_t *out);
bool nc_data_from_frame(nc_arena_t *arena, const Netchan__Wire__Data *data, nc_data_t *out);
void nc_arena_reset(nc_arena_t *arena);
void nc_arena_free(nc_arena_t *arena);
Netchan__Wire__Direction nc_dir_to_wire(netchan_dir dir);
netchan_err nc_err_from_wire(Netchan__Wire__ErrorCode code);
/* Returns true when data is well-formed enough, and nested at most NC_MAX_VALUE_DEPTH levels,
 * for protobuf-c to unpack it as type without exhausting the stack. */
bool nc_value_nesting_ok(const ProtobufCMessageDescriptor *type, const uint8_t *data, size_t size);

#endif /* NC_H */
