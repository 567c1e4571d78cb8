/* The endpoint: what exporters and importers share. The application side creates the engine
 * thread (a czmq actor), sends it commands over the actor pipe and wakes it through a
 * non-blocking pipe when values or verdicts wait. The engine side polls the actor pipe, the
 * ZeroMQ socket, the socket's monitor and the wake pipe, and hands each event to the role
 * (exporter.c or importer.c). */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nc.h"

/* ---- application side ---- */

static pthread_once_t czmq_setup_once = PTHREAD_ONCE_INIT;

/* czmq installs SIGINT and SIGTERM handlers on first use unless told not to; a library must
 * leave signals to the application. */
static void czmq_setup(void)
{
    zsys_handler_set(NULL);
}

netchan_err nc_endpoint_init(nc_endpoint_t *ep, nc_role_t role)
{
    pthread_once(&czmq_setup_once, czmq_setup);
    memset(ep, 0, sizeof(*ep));
    ep->role = role;
    ep->heartbeat_ms = NC_DEFAULT_HEARTBEAT_MS;
    ep->timeout_ms = NC_DEFAULT_TIMEOUT_MS;
    ep->wake_fds[0] = ep->wake_fds[1] = -1;
    pthread_mutex_init(&ep->cmd_mu, NULL);
    pthread_mutex_init(&ep->err_mu, NULL);
    pthread_mutex_init(&ep->chans_mu, NULL);
    nc_events_init(&ep->events);

    if (pipe2(ep->wake_fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        return NETCHAN_ESYSTEM;
    }
    ep->actor = zactor_new(nc_engine_actor, ep);
    if (ep->actor == NULL) {
        return NETCHAN_ESYSTEM;
    }
    return NETCHAN_OK;
}

/* Returns true while something still accepts TCP connections at the endpoint's address. */
static bool tcp_listening(const char *endpoint)
{
    if (strncmp(endpoint, "tcp://", 6) != 0) {
        return false;
    }
    const char *host = endpoint + 6;
    const char *colon = strrchr(host, ':');
    if (colon == NULL) {
        return false;
    }
    char address[128];
    nc_format(address, sizeof(address), "%.*s", (int)(colon - host), host);
    int port = atoi(colon + 1);

    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof(storage));
    socklen_t length = 0;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&storage;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&storage;
    if (address[0] == '[') {
        /* "[::]" listens on every IPv6 address; probe the loopback one. */
        char inner[128];
        nc_format(inner, sizeof(inner), "%.*s", (int)strlen(address) - 2, address + 1);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        if (strcmp(inner, "::") == 0 || inet_pton(AF_INET6, inner, &v6->sin6_addr) != 1) {
            v6->sin6_addr = in6addr_loopback;
        }
        length = sizeof(*v6);
    } else {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        if (strcmp(address, "0.0.0.0") == 0 || inet_pton(AF_INET, address, &v4->sin_addr) != 1) {
            v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        }
        length = sizeof(*v4);
    }
    int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    bool listening = connect(fd, (struct sockaddr *)&storage, length) == 0;
    close(fd);
    return listening;
}

void nc_endpoint_fini(nc_endpoint_t *ep)
{
    zactor_destroy(&ep->actor);

    /* libzmq closes a TCP listener in its own thread after the socket is closed, so a new
     * exporter could find the port still taken. Waiting here, for at most a second, lets an
     * application bind the same port again as soon as destroy returns. */
    for (int waited = 0; waited < 1000 && tcp_listening(ep->last_endpoint); waited++) {
        struct timespec pause = {0, 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    nc_security_release(ep);
    for (size_t i = 0; i < ep->chan_count; i++) {
        nc_chan_destroy(ep->chans[i]);
    }
    free(ep->chans);
    for (size_t i = 0; i < ep->link_table_cap; i++) {
        if (ep->link_table[i] != NULL) {
            nc_link_free(ep, ep->link_table[i]);
        }
    }
    free(ep->link_table);
    free(ep->link_generation);
    for (int i = 0; i < 2; i++) {
        if (ep->wake_fds[i] >= 0) {
            close(ep->wake_fds[i]);
        }
    }
    pthread_mutex_destroy(&ep->cmd_mu);
    pthread_mutex_destroy(&ep->err_mu);
    pthread_mutex_destroy(&ep->chans_mu);
    nc_events_fini(&ep->events);
}

netchan_err nc_endpoint_error(nc_endpoint_t *ep, netchan_err err, const char *format, ...)
{
    pthread_mutex_lock(&ep->err_mu);
    va_list args;
    va_start(args, format);
    if (vsnprintf(ep->errmsg, sizeof(ep->errmsg), format, args) < 0) {
        ep->errmsg[0] = '\0';
    }
    va_end(args);
    pthread_mutex_unlock(&ep->err_mu);
    return err;
}

const char *nc_endpoint_error_text(nc_endpoint_t *ep)
{
    pthread_mutex_lock(&ep->err_mu);
    const char *copy = nc_thread_copy(ep->errmsg);
    pthread_mutex_unlock(&ep->err_mu);
    return copy;
}

void nc_endpoint_wake(nc_endpoint_t *ep)
{
    if (atomic_exchange(&ep->wake_pending, 1) == 0) {
        /* A full pipe already holds a wake-up, so a failed write loses nothing. */
        ssize_t written = write(ep->wake_fds[1], "w", 1);
        (void)written;
    }
}

netchan_err nc_endpoint_command(nc_endpoint_t *ep, const char *command, const char *text,
                                void *pointer)
{
    pthread_mutex_lock(&ep->cmd_mu);
    int result = NETCHAN_ESYSTEM;
    if (zsock_send(ep->actor, "ssp", command, text != NULL ? text : "", pointer) == 0) {
        if (zsock_recv(ep->actor, "i", &result) != 0) {
            result = NETCHAN_ESYSTEM;
        }
    }
    pthread_mutex_unlock(&ep->cmd_mu);
    return (netchan_err)result;
}

netchan_err nc_endpoint_set_heartbeat(nc_endpoint_t *ep, uint32_t interval_ms, uint32_t timeout_ms)
{
    if (interval_ms == 0 || interval_ms >= timeout_ms) {
        return nc_endpoint_error(ep, NETCHAN_EINVAL,
                                 "heartbeat interval %u ms must be positive and below the "
                                 "timeout of %u ms",
                                 interval_ms, timeout_ms);
    }
    char text[32];
    nc_format(text, sizeof(text), "%u %u", interval_ms, timeout_ms);
    return nc_endpoint_command(ep, "HEARTBEAT", text, NULL);
}

netchan_err nc_endpoint_last(nc_endpoint_t *ep, char *buffer, size_t size)
{
    netchan_err err = NETCHAN_OK;
    pthread_mutex_lock(&ep->cmd_mu); /* the engine writes last_endpoint inside a command */
    if (ep->last_endpoint[0] == '\0') {
        err = NETCHAN_ESTATE;
    } else if (strlen(ep->last_endpoint) >= size) {
        err = NETCHAN_EINVAL;
    } else {
        memcpy(buffer, ep->last_endpoint, strlen(ep->last_endpoint) + 1);
    }
    pthread_mutex_unlock(&ep->cmd_mu);
    if (err == NETCHAN_ESTATE) {
        return nc_endpoint_error(ep, err, "no endpoint has been bound");
    }
    if (err == NETCHAN_EINVAL) {
        return nc_endpoint_error(ep, err, "buffer of %zu bytes is too small for '%s'", size,
                                 ep->last_endpoint);
    }
    return NETCHAN_OK;
}

netchan_err nc_check_channel_args(nc_endpoint_t *ep, const char *name, netchan_dir direction)
{
    if (name == NULL || name[0] == '\0') {
        return nc_endpoint_error(ep, NETCHAN_EINVAL, "channel name is empty");
    }
    if (strlen(name) > 255) {
        return nc_endpoint_error(ep, NETCHAN_EINVAL, "channel name of %zu bytes is longer than 255",
                                 strlen(name));
    }
    if (direction != NETCHAN_SEND && direction != NETCHAN_RECV) {
        return nc_endpoint_error(ep, NETCHAN_EINVAL,
                                 "direction %d of channel '%s' is neither NETCHAN_SEND nor "
                                 "NETCHAN_RECV",
                                 (int)direction, name);
    }
    return NETCHAN_OK;
}

netchan_err nc_endpoint_add_channel(nc_endpoint_t *ep, netchan_chan_t *chan)
{
    pthread_mutex_lock(&ep->chans_mu);
    if (ep->chan_count == ep->chan_cap) {
        size_t cap = ep->chan_cap ? ep->chan_cap * 2 : 8;
        netchan_chan_t **chans = realloc(ep->chans, cap * sizeof(*chans));
        if (chans == NULL) {
            pthread_mutex_unlock(&ep->chans_mu);
            return NETCHAN_ENOMEM;
        }
        ep->chans = chans;
        ep->chan_cap = cap;
    }
    ep->chans[ep->chan_count++] = chan;
    pthread_mutex_unlock(&ep->chans_mu);
    return NETCHAN_OK;
}

void nc_endpoint_remove_channel(nc_endpoint_t *ep, netchan_chan_t *chan)
{
    pthread_mutex_lock(&ep->chans_mu);
    for (size_t i = 0; i < ep->chan_count; i++) {
        if (ep->chans[i] == chan) {
            memmove(&ep->chans[i], &ep->chans[i + 1],
                    (ep->chan_count - i - 1) * sizeof(*ep->chans));
            ep->chan_count--;
            break;
        }
    }
    pthread_mutex_unlock(&ep->chans_mu);
}

void nc_endpoint_set_socket_timeouts(nc_endpoint_t *ep)
{
    /* libzmq drops a connection whose ZMTP heartbeats stop after twice the session timeout, so
     * that netchan's own heartbeat notices a silent peer first and reports it as a timeout. A
     * connection stuck in its handshake, or a TCP connect that gets no answer, is given up after
     * the session timeout, so that a reconnect after a partition does not wait out libzmq's
     * default of 30 s. */
    int interval = (int)ep->heartbeat_ms;
    int drop_after = 2 * (int)ep->timeout_ms;
    int timeout = (int)ep->timeout_ms;
    zmq_setsockopt(ep->socket, ZMQ_HEARTBEAT_IVL, &interval, sizeof(interval));
    zmq_setsockopt(ep->socket, ZMQ_HEARTBEAT_TIMEOUT, &drop_after, sizeof(drop_after));
    zmq_setsockopt(ep->socket, ZMQ_HEARTBEAT_TTL, &drop_after, sizeof(drop_after));
    zmq_setsockopt(ep->socket, ZMQ_HANDSHAKE_IVL, &timeout, sizeof(timeout));
    zmq_setsockopt(ep->socket, ZMQ_CONNECT_TIMEOUT, &timeout, sizeof(timeout));
}

/* ---- link table ---- */

nc_link_t *nc_link_new(nc_endpoint_t *ep, netchan_chan_t *chan, uint32_t id, bool sending)
{
    size_t slot = 0;
    while (slot < ep->link_table_cap && ep->link_table[slot] != NULL) {
        slot++;
    }
    if (slot == ep->link_table_cap) {
        size_t cap = ep->link_table_cap ? ep->link_table_cap * 2 : 16;
        nc_link_t **table = realloc(ep->link_table, cap * sizeof(*table));
        if (table == NULL) {
            return NULL;
        }
        ep->link_table = table;
        uint32_t *generation = realloc(ep->link_generation, cap * sizeof(*generation));
        if (generation == NULL) {
            return NULL;
        }
        ep->link_generation = generation;
        for (size_t i = ep->link_table_cap; i < cap; i++) {
            ep->link_table[i] = NULL;
            ep->link_generation[i] = 0;
        }
        ep->link_table_cap = cap;
    }

    nc_link_t *link = calloc(1, sizeof(*link));
    if (link == NULL) {
        return NULL;
    }
    ep->link_generation[slot]++;
    link->key = ((uint64_t)ep->link_generation[slot] << 32) | slot;
    link->id = id;
    link->chan = chan;
    link->sending = sending;
    ep->link_table[slot] = link;
    return link;
}

nc_link_t *nc_link_lookup(nc_endpoint_t *ep, uint64_t key)
{
    size_t slot = (size_t)(key & 0xffffffffu);
    if (slot >= ep->link_table_cap) {
        return NULL;
    }
    nc_link_t *link = ep->link_table[slot];
    return link != NULL && link->key == key ? link : NULL;
}

void nc_link_rekey(nc_endpoint_t *ep, nc_link_t *link)
{
    size_t slot = (size_t)(link->key & 0xffffffffu);
    ep->link_generation[slot]++;
    link->key = ((uint64_t)ep->link_generation[slot] << 32) | slot;
}

void nc_link_free(nc_endpoint_t *ep, nc_link_t *link)
{
    size_t slot = (size_t)(link->key & 0xffffffffu);
    if (slot < ep->link_table_cap && ep->link_table[slot] == link) {
        ep->link_table[slot] = NULL;
    }
    while (link->inflight.count > 0) {
        free(nc_ring_pop_front(&link->inflight));
    }
    nc_ring_free(&link->inflight);
    nc_seqset_free(&link->seen);
    while (link->records != NULL) {
        nc_ack_record_t *next = link->records->next;
        nc_seqset_free(&link->records->acked);
        nc_seqset_free(&link->records->rejected);
        free(link->records);
        link->records = next;
    }
    free(link);
}

/* ---- engine side ---- */

void nc_engine_reply(nc_endpoint_t *ep, netchan_err result)
{
    zsock_send(ep->pipe, "i", (int)result);
}

/* Reads one command from the pipe and runs it. Returns false on $TERM. */
static bool handle_command(nc_endpoint_t *ep, const nc_role_ops_t *ops)
{
    zmsg_t *msg = zmsg_recv(ep->pipe);
    if (msg == NULL) {
        return false;
    }
    char *command = zmsg_popstr(msg);
    if (command == NULL || strcmp(command, "$TERM") == 0) {
        ep->terminated = command != NULL;
        free(command);
        zmsg_destroy(&msg);
        return false;
    }
    char *text = zmsg_popstr(msg);
    zframe_t *pointer_frame = zmsg_pop(msg);
    void *pointer = NULL;
    if (pointer_frame != NULL && zframe_size(pointer_frame) == sizeof(void *)) {
        memcpy(&pointer, zframe_data(pointer_frame), sizeof(void *));
    }
    int result;
    unsigned interval = 0;
    unsigned timeout = 0;
    if (strcmp(command, "HEARTBEAT") == 0 && text != NULL &&
        sscanf(text, "%u %u", &interval, &timeout) == 2) {
        ep->heartbeat_ms = interval;
        ep->timeout_ms = timeout;
        result = NETCHAN_OK;
    } else {
        result = ops->on_command(ep, command, text != NULL ? text : "", pointer);
    }
    if (result >= 0) {
        nc_engine_reply(ep, (netchan_err)result);
    }
    zframe_destroy(&pointer_frame);
    free(text);
    free(command);
    zmsg_destroy(&msg);
    return true;
}

/* Receives every message waiting on the socket, up to a bound so that commands and timers are
 * not starved by a busy peer. */
static void handle_socket(nc_endpoint_t *ep, const nc_role_ops_t *ops)
{
    enum { MAX_PARTS = 4 };
    for (int n = 0; n < 4096; n++) {
        zmq_msg_t parts[MAX_PARTS];
        int count = 0;
        bool more = true;
        bool oversized = false;
        while (more) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, ep->socket, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part);
                for (int i = 0; i < count; i++) {
                    zmq_msg_close(&parts[i]);
                }
                return; /* EAGAIN: nothing more, or the context is ending */
            }
            more = zmq_msg_more(&part);
            if (count < MAX_PARTS) {
                parts[count++] = part;
            } else {
                oversized = true;
                zmq_msg_close(&part);
            }
        }
        if (!oversized) {
            ops->on_message(ep, parts, count);
        }
        for (int i = 0; i < count; i++) {
            zmq_msg_close(&parts[i]);
        }
    }
}

static void handle_monitor(nc_endpoint_t *ep, const nc_role_ops_t *ops)
{
    for (;;) {
        /* An event is two frames: 2 bytes of event and 4 of value, then the endpoint. */
        zmq_msg_t first;
        zmq_msg_init(&first);
        if (zmq_msg_recv(&first, ep->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&first);
            return;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&first) >= sizeof(event) + sizeof(value)) {
            memcpy(&event, zmq_msg_data(&first), sizeof(event));
            memcpy(&value, (uint8_t *)zmq_msg_data(&first) + sizeof(event), sizeof(value));
        }
        bool more = zmq_msg_more(&first);
        zmq_msg_close(&first);
        char address[256] = "";
        while (more) {
            zmq_msg_t rest;
            zmq_msg_init(&rest);
            if (zmq_msg_recv(&rest, ep->monitor, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&rest);
                break;
            }
            if (address[0] == '\0') {
                nc_format(address, sizeof(address), "%.*s", (int)zmq_msg_size(&rest),
                          (const char *)zmq_msg_data(&rest));
            }
            more = zmq_msg_more(&rest);
            zmq_msg_close(&rest);
        }
        ops->on_monitor_event(ep, event, value, address);
    }
}

static void drain_wake_pipe(nc_endpoint_t *ep)
{
    char buffer[64];
    while (read(ep->wake_fds[0], buffer, sizeof(buffer)) > 0) {
    }
    atomic_store(&ep->wake_pending, 0);
}

void nc_engine_actor(zsock_t *pipe, void *args)
{
    nc_endpoint_t *ep = args;
    const nc_role_ops_t *ops = ep->role == NC_EXPORTER ? &nc_exporter_ops : &nc_importer_ops;
    ep->pipe = pipe;
    if (ops->start(ep) != 0) {
        zsock_signal(pipe, 1);
        return;
    }
    zsock_signal(pipe, 0);

    int64_t wait_ms = 0;
    bool running = true;
    zmq_pollitem_t *items = NULL;
    netchan_chan_t **polled = NULL;
    size_t items_cap = 0;
    while (running) {
        /* The fixed sockets, then the data sockets of unacknowledged receiving channels with
         * room in their inbox. */
        size_t needed = 4 + ep->chan_count;
        if (needed > items_cap) {
            zmq_pollitem_t *more_items = realloc(items, needed * sizeof(*items));
            netchan_chan_t **more_polled = realloc(polled, needed * sizeof(*polled));
            if (more_items != NULL) {
                items = more_items;
            }
            if (more_polled != NULL) {
                polled = more_polled;
            }
            if (more_items == NULL || more_polled == NULL) {
                break; /* out of memory: stop the engine rather than spin */
            }
            items_cap = needed;
        }
        size_t count = 0;
        items[count++] = (zmq_pollitem_t){zsock_resolve(pipe), 0, ZMQ_POLLIN, 0};
        items[count++] = (zmq_pollitem_t){ep->socket, 0, ZMQ_POLLIN, 0};
        items[count++] = (zmq_pollitem_t){NULL, ep->wake_fds[0], ZMQ_POLLIN, 0};
        if (ep->monitor != NULL) {
            items[count++] = (zmq_pollitem_t){ep->monitor, 0, ZMQ_POLLIN, 0};
        }
        size_t first_data = count;
        for (size_t i = 0; i < ep->chan_count; i++) {
            if (nc_unacked_wants_input(ep->chans[i])) {
                polled[count - first_data] = ep->chans[i];
                items[count++] = (zmq_pollitem_t){ep->chans[i]->data_socket, 0, ZMQ_POLLIN, 0};
            }
        }

        /* Any failure but an interrupted wait ends the engine: the context is terminating,
         * or czmq's exit handler closed the actor pipe of a process that returned from main()
         * without destroying this endpoint. */
        if (zmq_poll(items, (int)count, (long)wait_ms) < 0 && errno != EINTR) {
            break;
        }
        if (items[2].revents & ZMQ_POLLIN) {
            drain_wake_pipe(ep);
        }
        if (items[0].revents & ZMQ_POLLIN) {
            running = handle_command(ep, ops);
        }
        handle_socket(ep, ops);
        if (ep->monitor != NULL) {
            handle_monitor(ep, ops);
        }
        int64_t now = nc_now_ms();
        for (size_t i = first_data; i < count && running; i++) {
            if (items[i].revents & ZMQ_POLLIN) {
                nc_unacked_receive(polled[i - first_data], now);
            }
        }
        if (running) {
            wait_ms = ops->tick(ep, now);
        }
    }
    free(items);
    free(polled);
    nc_arena_free(&ep->arena);
    for (size_t i = 0; i < ep->chan_count; i++) {
        nc_unacked_close(ep->chans[i]);
    }
    ops->stop(ep);
    if (!ep->terminated) {
        /* The pipe is gone without $TERM: the process is exiting and czmq's exit handler closed
         * it. The sockets are closed above, so libzmq's context can terminate; returning would
         * make czmq's actor wrapper use the closed pipe, so the thread ends here instead. */
        pthread_exit(NULL);
    }
}
