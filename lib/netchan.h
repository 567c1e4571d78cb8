/* netchan: reliable network channels over ZeroMQ.
 *
 * An exporter binds an endpoint and publishes named channels. Importers connect to it and bind
 * local channels to the exported ones by name. Values are protobuf messages (or raw bytes), and
 * every value stays pending at its sender until the receiving application has taken it (or, on
 * channels opened for explicit acknowledgement, acknowledged it), so values survive disconnects,
 * reconnects and crashed receivers.
 *
 * Conventions of this header:
 * - Every handle is opaque. Objects made by a _new function are released by the matching
 *   _destroy function, which takes the address of the pointer, accepts NULL and clears it.
 * - Functions that can fail return a netchan_err. NETCHAN_OK is zero. The detail of the last
 *   failure on a handle is available from netchan_exporter_error(), netchan_importer_error() or
 *   netchan_chan_error().
 * - Timeouts are in milliseconds: NETCHAN_FOREVER waits without limit, NETCHAN_NOWAIT fails at
 *   once with NETCHAN_EAGAIN, and a positive value waits up to that long before failing with
 *   NETCHAN_ETIMEDOUT.
 * - Unless a function says otherwise, it may be called from any thread.
 * - The header has no macros and no public structures, so that cffi and cgo can bind it as it is.
 *   The numeric values of the enums never change.
 */
#ifndef NETCHAN_H
#define NETCHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. Values are stable across releases; new codes are only appended. */
typedef enum netchan_err {
    NETCHAN_OK = 0,
    NETCHAN_EINVAL = 1,      /* an argument is invalid */
    NETCHAN_ENOMEM = 2,      /* out of memory */
    NETCHAN_ETIMEDOUT = 3,   /* the timeout ran out before the operation could complete */
    NETCHAN_EAGAIN = 4,      /* NETCHAN_NOWAIT was given and the operation would block */
    NETCHAN_ECLOSED = 5,     /* the channel is closed: end of stream, or closed by this side */
    NETCHAN_ENOTFOUND = 6,   /* the exporter has no channel of that name */
    NETCHAN_ETYPE = 7,       /* the value types of the two sides differ */
    NETCHAN_EDIRECTION = 8,  /* both sides of a channel send, or both receive */
    NETCHAN_EEXIST = 9,      /* a channel of that name is already exported or imported */
    NETCHAN_EENDPOINT = 10,  /* an endpoint could not be bound or connected */
    NETCHAN_EPROTO = 11,     /* the peer violated the wire protocol or speaks another version */
    NETCHAN_ETOOBIG = 12,    /* a value is larger than the channel's maximum value size */
    NETCHAN_EDECODE = 13,    /* a value could not be unpacked with the channel's type */
    NETCHAN_ESTATE = 14,     /* the call does not fit the handle's direction, mode or state */
    NETCHAN_ESYSTEM = 15,    /* a call into the operating system or libzmq failed */
    NETCHAN_EREJECTED = 16,  /* the receiving side rejected a value or a bind */
    NETCHAN_EDISCARDED = 17, /* a value was discarded after its maximum delivery attempts */
    NETCHAN_EAUTH = 18,      /* authentication or authorisation failed */
} netchan_err;

/* Direction of a channel, from the point of view of the side that opens it. An exporter's
 * NETCHAN_SEND channel pairs with importers' NETCHAN_RECV channels and the other way round. */
typedef enum netchan_dir {
    NETCHAN_SEND = 1,
    NETCHAN_RECV = 2,
} netchan_dir;

/* Special timeout values, in milliseconds. */
typedef enum netchan_timeout {
    NETCHAN_FOREVER = -1,
    NETCHAN_NOWAIT = 0,
} netchan_timeout;

typedef struct netchan_exporter netchan_exporter_t;
typedef struct netchan_importer netchan_importer_t;
typedef struct netchan_chan netchan_chan_t;
typedef struct netchan_options netchan_options_t;
typedef struct netchan_msg netchan_msg_t;

/* Returns a static English description of err. Never NULL; unknown codes get a generic text. */
const char *netchan_strerror(netchan_err err);

/* Returns the library version as "MAJOR.MINOR.PATCH", a static string. */
const char *netchan_version(void);

/* ---------------------------------------------------------------------------------------------
 * Channel options
 *
 * An options object collects the settings of one channel and is passed to netchan_export*() or
 * netchan_import*(), which copy it, so it may be destroyed or reused afterwards. Not thread-safe:
 * use one options object from one thread at a time.
 */

/* Creates an options object with the defaults: capacity 1024, acknowledgement on receipt,
 * maximum value size 1 MiB. Returns NULL when out of memory. */
netchan_options_t *netchan_options_new(void);
void netchan_options_destroy(netchan_options_t **options_p);

/* Sets the capacity: the maximum number of values the channel holds on this side. On a sending
 * side it bounds values accepted but not yet acknowledged, so a full channel makes send block;
 * on a receiving side it bounds values received but not yet taken (or, with explicit
 * acknowledgement, not yet acknowledged). An exported receiving channel that several importers
 * send into may hold one more value per importer, because each importer always has credit for
 * at least one value so that none waits forever behind an idle one. Returns NETCHAN_EINVAL for
 * 0 or more than 1048576. */
netchan_err netchan_options_set_capacity(netchan_options_t *options, uint32_t capacity);

/* Chooses explicit acknowledgement for a receiving channel: a value received with
 * netchan_recv_msg() stays pending at its sender until netchan_msg_ack() is called on it.
 * Without this, a value counts as acknowledged when the application takes it. */
netchan_err netchan_options_set_explicit_ack(netchan_options_t *options, bool explicit_ack);

/* Sets the maximum packed size of one value in bytes. A sender rejects larger values with
 * NETCHAN_ETOOBIG; a receiver rejects larger values from a peer and reports them to it.
 * Returns NETCHAN_EINVAL for 0 or more than 16 MiB. */
netchan_err netchan_options_set_max_value_size(netchan_options_t *options, uint32_t max_size);

/* Sets how long a value taken from an explicit-acknowledgement channel may stay unacknowledged.
 * When the deadline passes, the value is released back to its sender for redelivery and a later
 * netchan_msg_ack() on it returns NETCHAN_ETIMEDOUT. 0, the default, means no deadline. Applies
 * to receiving channels. */
netchan_err netchan_options_set_ack_deadline(netchan_options_t *options, uint32_t deadline_ms);

/* Sets how many times a sending channel hands one value to a receiver. A value that comes back
 * after its last attempt (released, past its deadline, or its receiver lost) is not sent again:
 * it moves to the dead-letter channel if one is set, and otherwise is discarded and reported
 * (a NETCHAN_EVENT_DEAD_LETTER event, the NETCHAN_STAT_DEAD_LETTERED count, and
 * NETCHAN_EDISCARDED from netchan_drain()). 0, the default, means no limit. */
netchan_err netchan_options_set_max_attempts(netchan_options_t *options, uint32_t max_attempts);

/* Names the dead-letter channel for values past their maximum attempts: another sending channel
 * of the same exporter or importer, opened before this one. NULL clears it. The name is copied. */
netchan_err netchan_options_set_dead_letter(netchan_options_t *options, const char *channel);

/* Opens the channel unacknowledged: values travel over a ZeroMQ PUSH/PULL pair with no
 * acknowledgement, redelivery or session resume. Faster, but AT MOST ONCE: values in transit or
 * buffered at a receiver are lost when the connection or receiver is. Never the default. Both
 * sides must choose it; a mismatch fails the bind with NETCHAN_ESTATE. */
netchan_err netchan_options_set_unacknowledged(netchan_options_t *options, bool unacknowledged);

/* ---------------------------------------------------------------------------------------------
 * Logging
 *
 * The library is silent by default. A log handler receives the engine's starts and stops,
 * reconnects, lost sessions and every error it handles without returning it to a caller, each
 * message naming the peer, channel and value sequence number where they apply. Nothing is logged
 * per value on the hot path.
 */

typedef enum netchan_log_level {
    NETCHAN_LOG_ERROR = 1,
    NETCHAN_LOG_WARNING = 2,
    NETCHAN_LOG_INFO = 3,
    NETCHAN_LOG_DEBUG = 4,
} netchan_log_level;

/* A log handler. message is valid only during the call. Called from the library's engine
 * threads, possibly several at once, so it must be thread-safe and return quickly. */
typedef void (*netchan_log_fn)(netchan_log_level level, const char *message, void *user);

/* Installs handler for messages at max_level and more severe; NULL restores silence. Affects
 * every exporter and importer of the process. */
void netchan_set_log_handler(netchan_log_fn handler, netchan_log_level max_level, void *user);

/* Returns "error", "warning", "info" or "debug", a static string. */
const char *netchan_log_level_name(netchan_log_level level);

/* ---------------------------------------------------------------------------------------------
 * Events
 *
 * Each exporter and importer keeps a queue of connection events for the application: a peer
 * session connects, resumes after a reconnect, is lost (and why, and how many values were taken
 * back from it for redelivery) or ends. The queue holds at most 1024 events; when it is full the
 * oldest is dropped and a NETCHAN_EVENT_OVERFLOW event counts how many were. Read it with
 * netchan_*_next_event(), or wait for its file descriptor to become readable in poll(), epoll,
 * asyncio or libuv.
 */

typedef enum netchan_event_type {
    NETCHAN_EVENT_CONNECTED = 1,   /* a new session started: an importer joined, or an importer
                                    * was welcomed by an exporter it had not met before */
    NETCHAN_EVENT_RESUMED = 2,     /* a known session came back after a reconnect */
    NETCHAN_EVENT_LOST = 3,        /* the peer was lost; see the reason and the count */
    NETCHAN_EVENT_ENDED = 4,       /* the peer ended its session gracefully */
    NETCHAN_EVENT_DEAD_LETTER = 5, /* a value passed its channel's maximum attempts */
    NETCHAN_EVENT_OVERFLOW = 6,    /* the count is the number of older events dropped */
    NETCHAN_EVENT_REFUSED = 7,     /* a connection failed its handshake or authentication; the
                                    * reason is NETCHAN_REASON_AUTH or NETCHAN_REASON_PROTOCOL */
} netchan_event_type;

typedef enum netchan_event_reason {
    NETCHAN_REASON_NONE = 0,
    NETCHAN_REASON_CLOSED = 1,   /* the peer's connection closed */
    NETCHAN_REASON_TIMEOUT = 2,  /* the peer stopped answering heartbeats */
    NETCHAN_REASON_PROTOCOL = 3, /* the peer broke the protocol */
    NETCHAN_REASON_RESTART = 4,  /* the exporter restarted and lost the session's state */
    NETCHAN_REASON_EXPIRED = 5,  /* the session had been lost before it resumed */
    NETCHAN_REASON_AUTH = 6,     /* the key or address was not allowed */
} netchan_event_reason;

typedef struct netchan_event netchan_event_t;

/* Takes the next event, waiting up to timeout_ms. On success *event_p receives an event that
 * the caller releases with netchan_event_destroy(). Returns NETCHAN_EAGAIN or NETCHAN_ETIMEDOUT
 * when none arrived. */
netchan_err netchan_exporter_next_event(netchan_exporter_t *exporter, int timeout_ms,
                                        netchan_event_t **event_p);
netchan_err netchan_importer_next_event(netchan_importer_t *importer, int timeout_ms,
                                        netchan_event_t **event_p);

/* Returns a file descriptor that is readable while events wait, or -1 with the detail in the
 * handle's error. Owned by the handle: do not read from it or close it. */
int netchan_exporter_event_fd(netchan_exporter_t *exporter);
int netchan_importer_event_fd(netchan_importer_t *importer);

netchan_event_type netchan_event_type_of(const netchan_event_t *event);
netchan_event_reason netchan_event_reason_of(const netchan_event_t *event);
/* The peer's session id as 32 hex digits (exporter side) or the exporter's instance id as 16
 * hex digits (importer side); owned by the event. */
const char *netchan_event_peer(const netchan_event_t *event);
/* The peer's network address as libzmq reports it, or "" when unknown; owned by the event. */
const char *netchan_event_address(const netchan_event_t *event);
/* The channel the event concerns, or "" for session events; owned by the event. */
const char *netchan_event_channel(const netchan_event_t *event);
/* LOST and RESUMED: values taken back for redelivery. DEAD_LETTER: the value's sequence number.
 * OVERFLOW: events dropped. Otherwise 0. */
uint64_t netchan_event_count(const netchan_event_t *event);
void netchan_event_destroy(netchan_event_t **event_p);
/* Returns the name of an event type or reason ("lost", "timeout"), a static string. */
const char *netchan_event_type_name(netchan_event_type type);
const char *netchan_event_reason_name(netchan_event_reason reason);

/* ---------------------------------------------------------------------------------------------
 * Exporter
 *
 * An exporter owns named channels and serves them on one or more endpoints. It runs one engine
 * thread, started by netchan_exporter_new(), that alone touches its ZeroMQ socket.
 */

/* Creates an exporter. On success *exporter_p receives the new handle, which the caller owns
 * and releases with netchan_exporter_destroy(). Returns NETCHAN_ENOMEM or NETCHAN_ESYSTEM. */
netchan_err netchan_exporter_new(netchan_exporter_t **exporter_p);

/* Stops the engine and frees the exporter and all its channels. Values still pending on send
 * channels are discarded; call netchan_drain() first to deliver them. No other thread may use
 * the exporter or its channels during or after this call. */
void netchan_exporter_destroy(netchan_exporter_t **exporter_p);

/* Sets how often the exporter expects to hear from each importer and how long a silent
 * importer is given before its session counts as lost and its unacknowledged values are taken
 * back for redelivery. Defaults: interval 250 ms, timeout 1000 ms. Applies to connections made
 * after the call. Returns NETCHAN_EINVAL unless 0 < interval_ms < timeout_ms. */
netchan_err netchan_exporter_set_heartbeat(netchan_exporter_t *exporter, uint32_t interval_ms,
                                           uint32_t timeout_ms);

/* Binds the exporter to endpoint ("tcp://127.0.0.1:*", "ipc:///tmp/x", "inproc://name"). May be
 * called several times. Returns NETCHAN_EENDPOINT with the libzmq reason when the endpoint
 * cannot be bound. */
netchan_err netchan_exporter_bind(netchan_exporter_t *exporter, const char *endpoint);

/* Connects the exporter out to an importer that has bound endpoint, for an exporter behind a
 * firewall. Succeeds even when no peer listens yet, because libzmq keeps retrying. */
netchan_err netchan_exporter_connect(netchan_exporter_t *exporter, const char *endpoint);

/* Copies the endpoint that the last netchan_exporter_bind() resolved (with the port the system
 * picked for "tcp://host:*") into buffer, NUL-terminated. Returns NETCHAN_EINVAL when the
 * buffer is too small and NETCHAN_ESTATE when nothing has been bound. */
netchan_err netchan_exporter_endpoint(netchan_exporter_t *exporter, char *buffer, size_t size);

/* Returns the detail of the last failure on this exporter, copied to a buffer owned by the
 * calling thread and valid until its next call of a netchan_*_error() function. Never NULL. */
const char *netchan_exporter_error(netchan_exporter_t *exporter);

/* Exports a channel of protobuf messages of the given type under name. On success *chan_p
 * receives a handle owned by the exporter, valid until the exporter is destroyed. options may
 * be NULL for the defaults. Returns NETCHAN_EEXIST when the name is taken, NETCHAN_EINVAL for an
 * empty name or a NULL type. */
netchan_err netchan_export(netchan_exporter_t *exporter, const char *name, netchan_dir direction,
                           const ProtobufCMessageDescriptor *type, const netchan_options_t *options,
                           netchan_chan_t **chan_p);

/* Exports a channel of packed values, for bindings whose own protobuf runtime packs them.
 * type_name is the message's full name, or NULL for untyped bytes (matched as "bytes").
 * fingerprint is the type's fingerprint from netchan_type_fingerprint() or the same algorithm
 * in another language (see docs/protocol.md), or NULL to compare names only. */
netchan_err netchan_export_bytes(netchan_exporter_t *exporter, const char *name,
                                 netchan_dir direction, const char *type_name,
                                 const char *fingerprint, const netchan_options_t *options,
                                 netchan_chan_t **chan_p);

/* ---------------------------------------------------------------------------------------------
 * Security
 *
 * CURVE encryption and authentication (libzmq's CurveZMQ), with keys in czmq's certificate format
 * (zcert). An exporter has a key pair; an importer has its own and must know the exporter's
 * public key. An endpoint given keys never falls back to plain connections. Keys are read from
 * files and never logged. Configure security before binding or connecting.
 *
 * The exporter checks importers through a ZAP handler that netchan runs once per process on
 * czmq's ZeroMQ context, so an application must not run its own ZAP handler (such as zauth) on
 * that context while CURVE exporters exist.
 */

/* Writes a new key pair in czmq's certificate format: the public certificate to path and the
 * secret one to path with "_secret" appended, readable by its owner only. Returns NETCHAN_ESYSTEM
 * when a file cannot be written. */
netchan_err netchan_keygen(const char *path);

/* Returns the z85 public key (40 characters) of the certificate at path, copied into buffer of
 * at least 41 bytes. Returns NETCHAN_EINVAL when the file is not a certificate. */
netchan_err netchan_cert_public_key(const char *path, char *buffer, size_t size);

/* Makes the exporter a CURVE server with the key pair in the secret certificate file (as
 * written by netchan_keygen(); the path of either file of the pair is accepted). By default any
 * importer with a valid key pair is admitted; netchan_exporter_curve_allow() restricts that.
 * Returns NETCHAN_EINVAL when the file holds no secret key. */
netchan_err netchan_exporter_set_curve(netchan_exporter_t *exporter, const char *secret_cert);

/* Admits only importers whose public certificates are in directory (files as written by
 * netchan_keygen(); secret files are ignored). The directory is read again when it changes, so
 * adding or removing a certificate takes effect for new connections. NULL admits any key. */
netchan_err netchan_exporter_curve_allow(netchan_exporter_t *exporter, const char *directory);

/* Admits connections only from the given IP address (repeat for several). With no call, any
 * address is admitted. Works for plain exporters too. */
netchan_err netchan_exporter_allow_address(netchan_exporter_t *exporter, const char *address);

/* Makes the importer a CURVE client with the key pair in secret_cert, talking to an exporter
 * whose public key is server_public: a z85 key of 40 characters, or the path of the exporter's
 * public certificate file. */
netchan_err netchan_importer_set_curve(netchan_importer_t *importer, const char *secret_cert,
                                       const char *server_public);

/* Restricts an exported channel to importers with the given z85 public key; repeat for several.
 * Once a key is added, a bind by any other importer fails with NETCHAN_EAUTH naming the channel,
 * which costs other importers nothing. Keys are only known on CURVE exporters. */
netchan_err netchan_chan_allow_key(netchan_chan_t *chan, const char *public_key);

/* Endpoint-wide statistics, read with netchan_exporter_stat() and netchan_importer_stat(). */
typedef enum netchan_endpoint_stat {
    NETCHAN_ENDPOINT_SESSIONS = 1,        /* exporter: importer sessions connected now */
    NETCHAN_ENDPOINT_REFUSED = 2,         /* connections refused by authentication or by a
                                           * security handshake that failed; libzmq drops peers
                                           * that do not speak ZMTP without an event, so those
                                           * are not counted */
    NETCHAN_ENDPOINT_PROTOCOL_ERRORS = 3, /* frames ignored as malformed or unexpected */
} netchan_endpoint_stat;

uint64_t netchan_exporter_stat(netchan_exporter_t *exporter, netchan_endpoint_stat stat);
uint64_t netchan_importer_stat(netchan_importer_t *importer, netchan_endpoint_stat stat);

/* ---------------------------------------------------------------------------------------------
 * Importer
 *
 * An importer connects to an exporter and binds local channels to exported ones. Its session
 * identity lives as long as the importer object, so a reconnect resumes the session.
 */

/* Creates an importer. On success *importer_p receives the new handle, owned by the caller. */
netchan_err netchan_importer_new(netchan_importer_t **importer_p);

/* Ends the session gracefully and frees the importer and its channels: acknowledgements are
 * flushed, received values the application has not taken are handed back to the exporter for
 * redelivery, and the exporter is notified that the session ends. Waits up to one second for the
 * exporter to confirm. Values still pending on send channels are discarded; call netchan_drain()
 * first. No other thread may use the importer or its channels during or after this call. */
void netchan_importer_destroy(netchan_importer_t **importer_p);

/* Sets how often the importer sends heartbeats and how long the exporter may stay silent before
 * the importer counts the connection as lost. Defaults: 250 ms and 1000 ms. Call before
 * connecting. Returns NETCHAN_EINVAL unless 0 < interval_ms < timeout_ms. */
netchan_err netchan_importer_set_heartbeat(netchan_importer_t *importer, uint32_t interval_ms,
                                           uint32_t timeout_ms);

/* Connects to the exporter at endpoint. Succeeds even when no exporter listens yet, because libzmq
 * keeps retrying; netchan_import() times out until an exporter replies. An importer talks to one
 * exporter; a second connect or bind returns NETCHAN_ESTATE. */
netchan_err netchan_importer_connect(netchan_importer_t *importer, const char *endpoint);

/* Binds the importer to endpoint so that an exporter can connect to it. */
netchan_err netchan_importer_bind(netchan_importer_t *importer, const char *endpoint);

/* Copies the endpoint resolved by netchan_importer_bind() into buffer, as for the exporter. */
netchan_err netchan_importer_endpoint(netchan_importer_t *importer, char *buffer, size_t size);

/* Returns the detail of the last failure on this importer, as netchan_exporter_error(). */
const char *netchan_importer_error(netchan_importer_t *importer);

/* Binds a local channel to the exporter's channel name. direction is this side's: NETCHAN_RECV
 * to receive from an exported send channel. Waits up to timeout_ms for the exporter to accept
 * the bind. On success *chan_p receives a handle owned by the importer. Returns
 * NETCHAN_ENOTFOUND, NETCHAN_ETYPE or NETCHAN_EDIRECTION as the exporter reports them, with a
 * message naming the channel and both types; NETCHAN_ETIMEDOUT when no exporter replied in
 * time (nothing is bound then, and the call may be repeated). */
netchan_err netchan_import(netchan_importer_t *importer, const char *name, netchan_dir direction,
                           const ProtobufCMessageDescriptor *type, const netchan_options_t *options,
                           int timeout_ms, netchan_chan_t **chan_p);

/* Binds a channel of packed values; type_name and fingerprint as for netchan_export_bytes(). */
netchan_err netchan_import_bytes(netchan_importer_t *importer, const char *name,
                                 netchan_dir direction, const char *type_name,
                                 const char *fingerprint, const netchan_options_t *options,
                                 int timeout_ms, netchan_chan_t **chan_p);

/* ---------------------------------------------------------------------------------------------
 * Channels
 */

/* Packs msg with the channel's type and queues it for delivery. Blocks while the channel holds
 * its capacity of unacknowledged values, up to timeout_ms. The caller keeps ownership of msg.
 * Returns NETCHAN_EINVAL when msg is not of the channel's type, NETCHAN_ESTATE on a receiving
 * or bytes channel, NETCHAN_ECLOSED after netchan_close(), NETCHAN_ETOOBIG, NETCHAN_EAGAIN or
 * NETCHAN_ETIMEDOUT. A value accepted with NETCHAN_OK is never dropped silently: it is
 * acknowledged, still pending (netchan_pending()), or reported by netchan_drain(). */
netchan_err netchan_send(netchan_chan_t *chan, const ProtobufCMessage *msg, int timeout_ms);

/* Queues a packed value of size bytes, copying it. As netchan_send() otherwise. */
netchan_err netchan_send_bytes(netchan_chan_t *chan, const void *data, size_t size, int timeout_ms);

/* Takes the next value and unpacks it with the channel's type. On success *msg_p receives a
 * message that the caller frees with protobuf_c_message_free_unpacked(*msg_p, NULL). Values
 * that fail to unpack, or that nest messages more than 64 levels deep (protobuf-c's unpacker
 * recurses once per level), are never returned: they are rejected back to their sender,
 * counted, and the call goes on to the next value. Returns NETCHAN_ECLOSED after the last value
 * once the sender has closed the channel, NETCHAN_ESTATE on a sending channel, on a bytes channel
 * or on a channel with explicit acknowledgement (use netchan_recv_msg() there), NETCHAN_EAGAIN or
 * NETCHAN_ETIMEDOUT. */
netchan_err netchan_recv(netchan_chan_t *chan, int timeout_ms, ProtobufCMessage **msg_p);

/* Takes the next value as packed bytes. On success *msg_p receives a value that the caller
 * releases with netchan_msg_destroy(). On an explicit-acknowledgement channel the value stays
 * pending at its sender until netchan_msg_ack(). Errors as for netchan_recv(). */
netchan_err netchan_recv_msg(netchan_chan_t *chan, int timeout_ms, netchan_msg_t **msg_p);

/* Returns the packed bytes of msg, owned by msg. */
const uint8_t *netchan_msg_data(const netchan_msg_t *msg);
size_t netchan_msg_size(const netchan_msg_t *msg);

/* Returns how many times the value has been handed to a receiver, counting this time. A value
 * with more than one attempt may have been seen before by a receiver that was lost. */
uint32_t netchan_msg_attempts(const netchan_msg_t *msg);

/* Returns true when the value was handed to a receiver before this delivery: one that was lost
 * (then netchan_msg_attempts() is above 1) or one that handed it back unseen. Such a value can
 * arrive after newer values from the same sender, when other importers compete for the
 * channel. */
bool netchan_msg_redelivered(const netchan_msg_t *msg);

/* Unpacks msg with its channel's type. On success *out_p receives a message that the caller
 * frees with protobuf_c_message_free_unpacked(). Returns NETCHAN_ESTATE on a bytes channel and
 * NETCHAN_EDECODE when the bytes are not a valid message of the type. */
netchan_err netchan_msg_unpack(const netchan_msg_t *msg, ProtobufCMessage **out_p);

/* Acknowledges msg on an explicit-acknowledgement channel, which ends its delivery. Idempotent.
 * Returns NETCHAN_ESTATE when the channel acknowledges on receipt, and NETCHAN_ETIMEDOUT when
 * the channel's acknowledgement deadline passed and the value was released for redelivery. */
netchan_err netchan_msg_ack(netchan_msg_t *msg);

/* Releases msg. On an explicit-acknowledgement channel an unacknowledged value stays pending at
 * its sender and is redelivered when this importer ends or is lost. Accepts NULL. Every message
 * must be destroyed before the exporter or importer it came from. */
void netchan_msg_destroy(netchan_msg_t **msg_p);

/* On a sending channel: accepts no further values and delivers end of stream after the last
 * pending one, so receivers see NETCHAN_ECLOSED. On a receiving channel: stops receiving, hands
 * values not yet taken back to the sender, and flushes acknowledgements. Wakes callers blocked
 * on the channel. Idempotent. */
netchan_err netchan_close(netchan_chan_t *chan);

/* On a sending channel: waits up to timeout_ms until every value sent has been acknowledged.
 * On a receiving channel: waits until the sender has confirmed every acknowledgement and every
 * value handed back. Returns NETCHAN_OK, or NETCHAN_ETIMEDOUT with the number of values still
 * unconfirmed in *pending_p (which may be NULL). */
netchan_err netchan_drain(netchan_chan_t *chan, int timeout_ms, uint64_t *pending_p);

/* Returns the number of values sent on this channel that are not acknowledged yet, or on a
 * receiving channel the number received and not yet taken. */
uint64_t netchan_pending(netchan_chan_t *chan);

/* Returns the channel's name, owned by the channel. */
const char *netchan_chan_name(const netchan_chan_t *chan);

/* Returns the detail of the last failure on this channel, as netchan_exporter_error(). */
const char *netchan_chan_error(netchan_chan_t *chan);

/* Returns a file descriptor for event loops, owned by the channel (do not read or close it):
 * on a receiving channel it is readable while netchan_recv*() would not block (a value waits,
 * or the channel ended or failed); on a sending channel, while netchan_send*() would not block.
 * Returns -1 when no descriptor can be made, with the detail in netchan_chan_error(). */
int netchan_chan_fd(netchan_chan_t *chan);

/* Per-channel statistics, read with netchan_chan_stat(). Sending side: SENT, DELIVERED,
 * ACKNOWLEDGED, REDELIVERED, TAKEN_BACK, RETURNED (values receivers handed back), PENDING,
 * REJECTED, DEAD_LETTERED, IMPORTERS and IN_FLIGHT. Receiving side: RECEIVED, TAKEN, ACKNOWLEDGED,
 * RETURNED, REJECTED, DUPLICATES, PENDING and IMPORTERS. Counters start at zero when the channel
 * opens. */
typedef enum netchan_stat {
    NETCHAN_STAT_SENT = 1,           /* values accepted by netchan_send*() */
    NETCHAN_STAT_DELIVERED = 2,      /* values handed to a receiver, redeliveries included */
    NETCHAN_STAT_ACKNOWLEDGED = 3,   /* values acknowledged (sender: by a receiver) */
    NETCHAN_STAT_REDELIVERED = 4,    /* deliveries of a value that had been delivered before */
    NETCHAN_STAT_PENDING = 5,        /* sender: not yet acknowledged; receiver: not yet taken */
    NETCHAN_STAT_REJECTED = 6,       /* values a receiver refused: too large or undecodable */
    NETCHAN_STAT_IMPORTERS = 7,      /* importer sessions bound and connected (importer: 0 or 1) */
    NETCHAN_STAT_IN_FLIGHT = 8,      /* credit in use: values delivered, not yet acknowledged */
    NETCHAN_STAT_RECEIVED = 9,       /* values that arrived, duplicates excluded */
    NETCHAN_STAT_TAKEN = 10,         /* values the application took */
    NETCHAN_STAT_RETURNED = 11,      /* values handed back to the sender, unseen or released */
    NETCHAN_STAT_DUPLICATES = 12,    /* values that arrived again and were dropped */
    NETCHAN_STAT_DEAD_LETTERED = 13, /* values past their maximum attempts */
    NETCHAN_STAT_TAKEN_BACK = 14,    /* values taken back from lost receivers */
} netchan_stat;

/* Returns the current value of a statistic, 0 for one that does not apply to the channel. */
uint64_t netchan_chan_stat(netchan_chan_t *chan, netchan_stat stat);

/* Returns the statistic's name in snake case ("in_flight"), a static string, or NULL. */
const char *netchan_stat_name(netchan_stat stat);

/* Hands msg back to its sender at once for redelivery, to this or another receiver, counting the
 * attempt; for a value the application cannot process now. Explicit-acknowledgement channels
 * only; returns NETCHAN_ESTATE otherwise and NETCHAN_ETIMEDOUT when the deadline already
 * released it. */
netchan_err netchan_msg_release(netchan_msg_t *msg);

/* Hands msg back to its sender unseen, without counting a delivery attempt: for a binding or an
 * application that took a value it will never show to anyone (it is shutting down, say).
 * Explicit-acknowledgement channels only; errors as netchan_msg_release(). */
netchan_err netchan_msg_return(netchan_msg_t *msg);

/* Rejects msg for good: its sender counts it as rejected and reports it (NETCHAN_STAT_REJECTED,
 * netchan_drain() returns NETCHAN_EREJECTED), and it is never delivered again. For a value the
 * application cannot decode or process. Explicit-acknowledgement channels only; errors as
 * netchan_msg_release(). */
netchan_err netchan_msg_reject(netchan_msg_t *msg);

/* ---------------------------------------------------------------------------------------------
 * Types
 */

/* Writes the fingerprint of type into buffer as 16 lowercase hex digits and a NUL: a 64-bit
 * FNV-1a hash over the type's fields (number, name, label, type and, for message and enum
 * fields, the referenced full name), as docs/protocol.md specifies. Returns NETCHAN_EINVAL
 * when size is less than 17. */
netchan_err netchan_type_fingerprint(const ProtobufCMessageDescriptor *type, char *buffer,
                                     size_t size);

#ifdef __cplusplus
}
#endif

#endif /* NETCHAN_H */
