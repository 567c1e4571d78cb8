/* A fault-injecting TCP proxy for the reliability tests.
 *
 * The proxy listens on 127.0.0.1 with a port the system picks and forwards every connection it
 * accepts to one upstream address, usually an exporter. It runs on its own thread; the test
 * switches its mode with faultproxy_set_mode() while traffic flows. The modes:
 *
 * FAULTPROXY_PASS
 *     Forwards bytes both ways, and a FIN from one peer as a FIN to the other. A connection
 *     that a reset peer drops is reset on the other side too. Connections that lost bytes in
 *     blackhole mode stay blackholed (a byte stream with a hole cannot go on); only connections
 *     accepted from then on pass.
 * FAULTPROXY_BLACKHOLE
 *     Bytes vanish: the proxy reads and discards everything from both peers of every open
 *     connection and sends nothing, no FIN and no RST. When one peer closes, the proxy closes
 *     only its own socket to that peer and keeps the other peer's connection open and silent.
 *     New connections are not accepted. The kernel completes their TCP handshake and keeps
 *     what the client sends in the accept queue, as a SYN would wait for a retransmission
 *     during a partition. The proxy accepts and forwards them once the mode is pass again.
 * FAULTPROXY_RESET
 *     On entering: every open connection is closed with SO_LINGER 0 on both sides, so that each
 *     peer receives an RST. While the mode lasts, every new connection is accepted and reset at
 *     once.
 * FAULTPROXY_PAUSE
 *     Nothing moves: the proxy stops reading and writing, so the peers' kernel buffers fill and
 *     their writes block; new connections wait in the accept queue. Bytes the proxy already
 *     holds are kept, and forwarding resumes intact when the mode is pass again.
 * FAULTPROXY_KILL
 *     On entering: every open connection is dropped without a FIN or RST, as by a host that
 *     lost power. With CAP_NET_ADMIN the proxy puts each socket in TCP_REPAIR mode and closes
 *     it, which removes the connection from the kernel silently; each peer notices only when it
 *     next sends, because the kernel then answers with an RST. Without CAP_NET_ADMIN the proxy
 *     resets the client side and keeps the upstream side open and silent until the proxy
 *     stops. While the mode lasts, new connections are accepted and dropped the same way.
 */
#ifndef NETCHAN_FAULTPROXY_H
#define NETCHAN_FAULTPROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum faultproxy_mode {
    FAULTPROXY_PASS = 0,
    FAULTPROXY_BLACKHOLE = 1,
    FAULTPROXY_RESET = 2,
    FAULTPROXY_PAUSE = 3,
    FAULTPROXY_KILL = 4,
} faultproxy_mode_t;

typedef struct faultproxy faultproxy_t;

/* Counters of a proxy since it started. */
typedef struct faultproxy_stats {
    uint64_t accepted;         /* connections accepted from clients */
    uint64_t open;             /* connections open now */
    uint64_t bytes_upstream;   /* bytes forwarded from clients to the upstream */
    uint64_t bytes_downstream; /* bytes forwarded from the upstream to clients */
    uint64_t bytes_discarded;  /* bytes read and dropped in blackhole mode */
    uint64_t resets;           /* connections reset by the proxy (RESET mode or a peer's RST) */
    uint64_t kills;            /* connections dropped in KILL mode */
    bool kill_silent;          /* KILL used TCP_REPAIR, so no peer saw a FIN or RST */
} faultproxy_stats_t;

/* Starts a proxy in pass mode that forwards to upstream, an endpoint "tcp://HOST:PORT" with a
 * numeric IPv4 host. Returns NULL with a message on stderr when it cannot listen or start. */
faultproxy_t *faultproxy_start(const char *upstream);

/* Copies "tcp://127.0.0.1:PORT", the address clients connect to, into buffer. */
void faultproxy_endpoint(const faultproxy_t *proxy, char *buffer, size_t size);

/* Switches the mode and returns once the proxy thread has applied it, so that the connections
 * of the old mode are already reset or dropped when the call returns. */
void faultproxy_set_mode(faultproxy_t *proxy, faultproxy_mode_t mode);

faultproxy_mode_t faultproxy_mode(faultproxy_t *proxy);
faultproxy_stats_t faultproxy_stats(faultproxy_t *proxy);
const char *faultproxy_mode_name(faultproxy_mode_t mode);

/* Stops the thread, closes every connection with an RST and frees the proxy. Accepts NULL. */
void faultproxy_stop(faultproxy_t **proxy_p);

#endif
