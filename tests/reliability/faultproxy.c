/* The fault-injecting TCP proxy; faultproxy.h describes the modes.
 *
 * One thread polls the listening socket, a wake pipe and both sockets of every connection. Mode
 * changes arrive through the pipe and are applied between two polls, so a mode's effect on open
 * connections is complete when faultproxy_set_mode() returns. */
#define _GNU_SOURCE

#include "faultproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes the proxy buffers per direction of one connection, on top of the kernel's buffers. */
#define BUFFER_SIZE          (256 * 1024)
#define MAX_ACCEPTS_PER_POLL 16

enum { CLIENT = 0, UPSTREAM = 1 };

typedef struct buffer {
    uint8_t *data;
    size_t start;
    size_t end;
} buffer_t;

typedef struct conn {
    int fd[2];
    bool connecting; /* the upstream connect has not completed yet */
    bool eof[2];     /* side i sent a FIN */
    bool shut[2];    /* the proxy sent a FIN to side i */
    bool tainted;    /* lost bytes in blackhole mode: never forwards again */
    buffer_t buf[2]; /* buf[i] contains bytes read from side i for the other side */
    struct conn *next;
} conn_t;

struct faultproxy {
    pthread_t thread;
    int listen_fd;
    int wake[2];
    struct sockaddr_in upstream;
    int port;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    faultproxy_mode_t requested;
    uint64_t requested_generation;
    uint64_t applied_generation;
    bool stopping;

    /* proxy thread only */
    faultproxy_mode_t active;
    conn_t *conns;
    int *zombies; /* upstream sockets kept open and silent after a KILL without TCP_REPAIR */
    size_t zombie_count;
    size_t zombie_cap;

    _Atomic uint64_t accepted;
    _Atomic uint64_t open;
    _Atomic uint64_t bytes_upstream;
    _Atomic uint64_t bytes_downstream;
    _Atomic uint64_t bytes_discarded;
    _Atomic uint64_t resets;
    _Atomic uint64_t kills;
    _Atomic bool kill_silent;
};

const char *faultproxy_mode_name(faultproxy_mode_t mode)
{
    switch (mode) {
    case FAULTPROXY_PASS:
        return "pass";
    case FAULTPROXY_BLACKHOLE:
        return "blackhole";
    case FAULTPROXY_RESET:
        return "reset";
    case FAULTPROXY_PAUSE:
        return "pause";
    case FAULTPROXY_KILL:
        return "kill";
    }
    return "unknown";
}

/* ---- closing sockets in the ways the modes need ---- */

/* Closes fd so that the peer receives an RST. */
static void close_with_reset(int fd)
{
    if (fd < 0) {
        return;
    }
    struct linger linger = {.l_onoff = 1, .l_linger = 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof(linger));
    close(fd);
}

/* Closes fd without sending anything, through TCP_REPAIR mode. Returns false, with fd still
 * open, when the kernel refuses repair mode (it needs CAP_NET_ADMIN). */
static bool close_silently(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one)) != 0) {
        return false;
    }
    close(fd);
    return true;
}

static void keep_zombie(faultproxy_t *proxy, int fd)
{
    if (proxy->zombie_count == proxy->zombie_cap) {
        size_t cap = proxy->zombie_cap ? proxy->zombie_cap * 2 : 16;
        int *zombies = realloc(proxy->zombies, cap * sizeof(*zombies));
        if (zombies == NULL) {
            close_with_reset(fd);
            return;
        }
        proxy->zombies = zombies;
        proxy->zombie_cap = cap;
    }
    proxy->zombies[proxy->zombie_count++] = fd;
}

/* Drops one socket in KILL mode; the client side is reset when repair mode is refused. */
static void kill_socket(faultproxy_t *proxy, int fd, int side)
{
    if (fd < 0) {
        return;
    }
    if (close_silently(fd)) {
        atomic_store(&proxy->kill_silent, true);
        return;
    }
    if (side == CLIENT) {
        close_with_reset(fd);
    } else {
        keep_zombie(proxy, fd);
    }
}

/* ---- connections ---- */

static size_t buffered(const buffer_t *buffer)
{
    return buffer->end - buffer->start;
}

static void conn_free(faultproxy_t *proxy, conn_t *conn)
{
    for (int side = 0; side < 2; side++) {
        free(conn->buf[side].data);
    }
    free(conn);
    atomic_fetch_sub(&proxy->open, 1);
}

/* Unlinks and frees every connection whose two sockets are closed. */
static void remove_closed(faultproxy_t *proxy)
{
    conn_t **link = &proxy->conns;
    while (*link != NULL) {
        conn_t *conn = *link;
        if (conn->fd[CLIENT] < 0 && conn->fd[UPSTREAM] < 0) {
            *link = conn->next;
            conn_free(proxy, conn);
        } else {
            link = &conn->next;
        }
    }
}

static void conn_reset(faultproxy_t *proxy, conn_t *conn)
{
    close_with_reset(conn->fd[CLIENT]);
    close_with_reset(conn->fd[UPSTREAM]);
    conn->fd[CLIENT] = conn->fd[UPSTREAM] = -1;
    atomic_fetch_add(&proxy->resets, 1);
}

static void conn_kill(faultproxy_t *proxy, conn_t *conn)
{
    kill_socket(proxy, conn->fd[CLIENT], CLIENT);
    kill_socket(proxy, conn->fd[UPSTREAM], UPSTREAM);
    conn->fd[CLIENT] = conn->fd[UPSTREAM] = -1;
    atomic_fetch_add(&proxy->kills, 1);
}

static void conn_taint(faultproxy_t *proxy, conn_t *conn)
{
    conn->tainted = true;
    for (int side = 0; side < 2; side++) {
        atomic_fetch_add(&proxy->bytes_discarded, buffered(&conn->buf[side]));
        conn->buf[side].start = conn->buf[side].end = 0;
    }
}

static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Accepts waiting clients and, in pass mode, starts their upstream connections. */
static void accept_clients(faultproxy_t *proxy)
{
    for (int i = 0; i < MAX_ACCEPTS_PER_POLL; i++) {
        int fd = accept4(proxy->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        atomic_fetch_add(&proxy->accepted, 1);
        if (proxy->active == FAULTPROXY_RESET) {
            close_with_reset(fd);
            atomic_fetch_add(&proxy->resets, 1);
            continue;
        }
        if (proxy->active == FAULTPROXY_KILL) {
            kill_socket(proxy, fd, CLIENT);
            atomic_fetch_add(&proxy->kills, 1);
            continue;
        }
        set_nodelay(fd);
        int up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        conn_t *conn = calloc(1, sizeof(*conn));
        uint8_t *data0 = malloc(BUFFER_SIZE);
        uint8_t *data1 = malloc(BUFFER_SIZE);
        if (up < 0 || conn == NULL || data0 == NULL || data1 == NULL) {
            fprintf(stderr, "faultproxy: cannot set up a connection: %s\n", strerror(errno));
            close_with_reset(fd);
            if (up >= 0) {
                close(up);
            }
            free(conn);
            free(data0);
            free(data1);
            continue;
        }
        set_nodelay(up);
        int rc = connect(up, (struct sockaddr *)&proxy->upstream, sizeof(proxy->upstream));
        if (rc != 0 && errno != EINPROGRESS) {
            close_with_reset(fd);
            close(up);
            free(conn);
            free(data0);
            free(data1);
            atomic_fetch_add(&proxy->resets, 1);
            continue;
        }
        conn->fd[CLIENT] = fd;
        conn->fd[UPSTREAM] = up;
        conn->connecting = rc != 0;
        conn->buf[CLIENT].data = data0;
        conn->buf[UPSTREAM].data = data1;
        conn->next = proxy->conns;
        proxy->conns = conn;
        atomic_fetch_add(&proxy->open, 1);
    }
}

/* Reads and discards what side has sent; closes the proxy's socket to it when it closed. */
static void discard_from(faultproxy_t *proxy, conn_t *conn, int side)
{
    static uint8_t scratch[65536];
    for (;;) {
        ssize_t n = read(conn->fd[side], scratch, sizeof(scratch));
        if (n > 0) {
            atomic_fetch_add(&proxy->bytes_discarded, (uint64_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        /* The peer closed or reset its end: close ours toward it only. */
        close(conn->fd[side]);
        conn->fd[side] = -1;
        return;
    }
}

/* Moves bytes for one connection in pass mode after poll() reported revents for each side.
 * Returns false when the connection ended and its sockets are closed. */
static bool forward(faultproxy_t *proxy, conn_t *conn, const short revents[2])
{
    if (conn->connecting) {
        if (revents[UPSTREAM] == 0) {
            return true;
        }
        int error = 0;
        socklen_t size = sizeof(error);
        getsockopt(conn->fd[UPSTREAM], SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0) {
            conn_reset(proxy, conn);
            return false;
        }
        conn->connecting = false;
        return true;
    }

    for (int side = 0; side < 2; side++) {
        buffer_t *in = &conn->buf[side];
        if ((revents[side] & (POLLIN | POLLHUP | POLLERR)) && !conn->eof[side] &&
            in->end < BUFFER_SIZE) {
            ssize_t n = read(conn->fd[side], in->data + in->end, BUFFER_SIZE - in->end);
            if (n > 0) {
                in->end += (size_t)n;
            } else if (n == 0) {
                conn->eof[side] = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                conn_reset(proxy, conn); /* the peer reset: pass the reset on */
                return false;
            }
        }
    }
    for (int side = 0; side < 2; side++) {
        buffer_t *out = &conn->buf[1 - side];
        if ((revents[side] & (POLLOUT | POLLERR)) && buffered(out) > 0) {
            ssize_t n = write(conn->fd[side], out->data + out->start, buffered(out));
            if (n > 0) {
                out->start += (size_t)n;
                atomic_fetch_add(side == UPSTREAM ? &proxy->bytes_upstream
                                                  : &proxy->bytes_downstream,
                                 (uint64_t)n);
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                conn_reset(proxy, conn);
                return false;
            }
        }
        if (out->start == out->end) {
            out->start = out->end = 0;
        } else if (out->start > BUFFER_SIZE / 2) {
            memmove(out->data, out->data + out->start, buffered(out));
            out->end -= out->start;
            out->start = 0;
        }
    }
    for (int side = 0; side < 2; side++) {
        int other = 1 - side;
        if (conn->eof[side] && buffered(&conn->buf[side]) == 0 && !conn->shut[other]) {
            shutdown(conn->fd[other], SHUT_WR);
            conn->shut[other] = true;
        }
    }
    if (conn->shut[CLIENT] && conn->shut[UPSTREAM]) {
        close(conn->fd[CLIENT]);
        close(conn->fd[UPSTREAM]);
        conn->fd[CLIENT] = conn->fd[UPSTREAM] = -1;
        return false;
    }
    return true;
}

/* ---- the thread ---- */

static void apply_mode(faultproxy_t *proxy, faultproxy_mode_t mode)
{
    for (conn_t *conn = proxy->conns; conn != NULL; conn = conn->next) {
        switch (mode) {
        case FAULTPROXY_BLACKHOLE:
            conn_taint(proxy, conn);
            break;
        case FAULTPROXY_RESET:
            conn_reset(proxy, conn);
            break;
        case FAULTPROXY_KILL:
            conn_kill(proxy, conn);
            break;
        case FAULTPROXY_PASS:
        case FAULTPROXY_PAUSE:
            break;
        }
    }
    remove_closed(proxy);
    proxy->active = mode;
}

/* Returns the poll events one side of conn waits for in the active mode. */
static short poll_events(const faultproxy_t *proxy, const conn_t *conn, int side)
{
    if (conn->fd[side] < 0 || proxy->active == FAULTPROXY_PAUSE) {
        return 0;
    }
    if (conn->tainted || proxy->active == FAULTPROXY_BLACKHOLE) {
        return POLLIN;
    }
    if (conn->connecting) {
        return side == UPSTREAM ? POLLOUT : 0;
    }
    short events = 0;
    if (!conn->eof[side] && conn->buf[side].end < BUFFER_SIZE) {
        events |= POLLIN;
    }
    if (buffered(&conn->buf[1 - side]) > 0) {
        events |= POLLOUT;
    }
    return events;
}

static void *proxy_thread(void *arg)
{
    faultproxy_t *proxy = arg;
    struct pollfd *fds = NULL;
    conn_t **owners = NULL;
    size_t cap = 0;

    for (;;) {
        pthread_mutex_lock(&proxy->mu);
        bool stopping = proxy->stopping;
        uint64_t generation = proxy->requested_generation;
        faultproxy_mode_t mode = proxy->requested;
        pthread_mutex_unlock(&proxy->mu);
        if (stopping) {
            break;
        }
        if (generation != proxy->applied_generation) {
            apply_mode(proxy, mode);
            pthread_mutex_lock(&proxy->mu);
            proxy->applied_generation = generation;
            pthread_cond_broadcast(&proxy->cond);
            pthread_mutex_unlock(&proxy->mu);
        }

        size_t count = 0;
        for (conn_t *conn = proxy->conns; conn != NULL; conn = conn->next) {
            count++;
        }
        size_t needed = 2 + 2 * count;
        if (needed > cap) {
            size_t new_cap = needed * 2;
            struct pollfd *new_fds = realloc(fds, new_cap * sizeof(*fds));
            if (new_fds != NULL) {
                fds = new_fds;
            }
            conn_t **new_owners = realloc(owners, new_cap * sizeof(*owners));
            if (new_owners != NULL) {
                owners = new_owners;
            }
            if (new_fds == NULL || new_owners == NULL) {
                fprintf(stderr, "faultproxy: out of memory\n");
                break;
            }
            cap = new_cap;
        }
        fds[0] = (struct pollfd){.fd = proxy->wake[0], .events = POLLIN};
        bool accepting = proxy->active != FAULTPROXY_BLACKHOLE && proxy->active != FAULTPROXY_PAUSE;
        fds[1] = (struct pollfd){.fd = accepting ? proxy->listen_fd : -1, .events = POLLIN};
        size_t n = 2;
        for (conn_t *conn = proxy->conns; conn != NULL; conn = conn->next) {
            for (int side = 0; side < 2; side++) {
                short events = poll_events(proxy, conn, side);
                fds[n] = (struct pollfd){.fd = events != 0 ? conn->fd[side] : -1, .events = events};
                owners[n] = conn;
                n++;
            }
        }
        if (poll(fds, n, 1000) < 0 && errno != EINTR) {
            fprintf(stderr, "faultproxy: poll failed: %s\n", strerror(errno));
            break;
        }
        if (fds[0].revents & POLLIN) {
            char drain[64];
            while (read(proxy->wake[0], drain, sizeof(drain)) > 0) {
            }
        }
        for (size_t i = 2; i < n; i += 2) {
            conn_t *conn = owners[i];
            short revents[2] = {fds[i].revents, fds[i + 1].revents};
            if (revents[0] == 0 && revents[1] == 0) {
                continue;
            }
            if (conn->tainted || proxy->active == FAULTPROXY_BLACKHOLE) {
                for (int side = 0; side < 2; side++) {
                    if (revents[side] != 0 && conn->fd[side] >= 0) {
                        discard_from(proxy, conn, side);
                    }
                }
            } else if (proxy->active == FAULTPROXY_PASS) {
                (void)forward(proxy, conn, revents);
            }
        }
        remove_closed(proxy);
        if (fds[1].revents & POLLIN) {
            accept_clients(proxy);
        }
    }

    for (conn_t *conn = proxy->conns; conn != NULL; conn = conn->next) {
        conn_reset(proxy, conn);
    }
    remove_closed(proxy);
    for (size_t i = 0; i < proxy->zombie_count; i++) {
        close_with_reset(proxy->zombies[i]);
    }
    free(proxy->zombies);
    free(fds);
    free(owners);
    return NULL;
}

/* ---- the public functions ---- */

static bool parse_upstream(const char *endpoint, struct sockaddr_in *address)
{
    const char *prefix = "tcp://";
    if (strncmp(endpoint, prefix, strlen(prefix)) != 0) {
        return false;
    }
    char host[64];
    const char *rest = endpoint + strlen(prefix);
    const char *colon = strrchr(rest, ':');
    if (colon == NULL || (size_t)(colon - rest) >= sizeof(host)) {
        return false;
    }
    memcpy(host, rest, (size_t)(colon - rest));
    host[colon - rest] = '\0';
    int port = atoi(colon + 1);
    memset(address, 0, sizeof(*address));
    address->sin_family = AF_INET;
    address->sin_port = htons((uint16_t)port);
    return port > 0 && port < 65536 && inet_pton(AF_INET, host, &address->sin_addr) == 1;
}

faultproxy_t *faultproxy_start(const char *upstream)
{
    faultproxy_t *proxy = calloc(1, sizeof(*proxy));
    if (proxy == NULL) {
        return NULL;
    }
    proxy->listen_fd = -1;
    proxy->wake[0] = proxy->wake[1] = -1;
    if (!parse_upstream(upstream, &proxy->upstream)) {
        fprintf(stderr, "faultproxy: invalid upstream '%s': expected tcp://IPV4:PORT\n", upstream);
        free(proxy);
        return NULL;
    }
    proxy->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(address);
    if (proxy->listen_fd < 0 ||
        bind(proxy->listen_fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(proxy->listen_fd, 128) != 0 ||
        getsockname(proxy->listen_fd, (struct sockaddr *)&address, &size) != 0 ||
        pipe2(proxy->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        fprintf(stderr, "faultproxy: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        if (proxy->listen_fd >= 0) {
            close(proxy->listen_fd);
        }
        free(proxy);
        return NULL;
    }
    proxy->port = ntohs(address.sin_port);
    pthread_mutex_init(&proxy->mu, NULL);
    pthread_cond_init(&proxy->cond, NULL);
    proxy->active = FAULTPROXY_PASS;
    proxy->requested = FAULTPROXY_PASS;
    if (pthread_create(&proxy->thread, NULL, proxy_thread, proxy) != 0) {
        fprintf(stderr, "faultproxy: cannot start its thread\n");
        close(proxy->listen_fd);
        close(proxy->wake[0]);
        close(proxy->wake[1]);
        free(proxy);
        return NULL;
    }
    return proxy;
}

void faultproxy_endpoint(const faultproxy_t *proxy, char *buffer, size_t size)
{
    snprintf(buffer, size, "tcp://127.0.0.1:%d", proxy->port);
}

static void wake(faultproxy_t *proxy)
{
    char byte = 1;
    (void)!write(proxy->wake[1], &byte, 1);
}

void faultproxy_set_mode(faultproxy_t *proxy, faultproxy_mode_t mode)
{
    pthread_mutex_lock(&proxy->mu);
    proxy->requested = mode;
    uint64_t generation = ++proxy->requested_generation;
    wake(proxy);
    while (proxy->applied_generation < generation && !proxy->stopping) {
        pthread_cond_wait(&proxy->cond, &proxy->mu);
    }
    pthread_mutex_unlock(&proxy->mu);
}

faultproxy_mode_t faultproxy_mode(faultproxy_t *proxy)
{
    pthread_mutex_lock(&proxy->mu);
    faultproxy_mode_t mode = proxy->requested;
    pthread_mutex_unlock(&proxy->mu);
    return mode;
}

faultproxy_stats_t faultproxy_stats(faultproxy_t *proxy)
{
    return (faultproxy_stats_t){
        .accepted = atomic_load(&proxy->accepted),
        .open = atomic_load(&proxy->open),
        .bytes_upstream = atomic_load(&proxy->bytes_upstream),
        .bytes_downstream = atomic_load(&proxy->bytes_downstream),
        .bytes_discarded = atomic_load(&proxy->bytes_discarded),
        .resets = atomic_load(&proxy->resets),
        .kills = atomic_load(&proxy->kills),
        .kill_silent = atomic_load(&proxy->kill_silent),
    };
}

void faultproxy_stop(faultproxy_t **proxy_p)
{
    if (proxy_p == NULL || *proxy_p == NULL) {
        return;
    }
    faultproxy_t *proxy = *proxy_p;
    pthread_mutex_lock(&proxy->mu);
    proxy->stopping = true;
    wake(proxy);
    pthread_cond_broadcast(&proxy->cond);
    pthread_mutex_unlock(&proxy->mu);
    pthread_join(proxy->thread, NULL);
    close(proxy->listen_fd);
    close(proxy->wake[0]);
    close(proxy->wake[1]);
    pthread_mutex_destroy(&proxy->mu);
    pthread_cond_destroy(&proxy->cond);
    free(proxy);
    *proxy_p = NULL;
}
