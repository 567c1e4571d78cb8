/* Raw libzmq, the ceiling: PUSH/PULL for throughput and memory, DEALER/ROUTER for latency.
 *
 * No acknowledgement of any kind: a value counts as delivered when a PULL socket returns it.
 * One ZeroMQ context with its default single I/O thread serves all sockets of a run, as czmq's
 * shared context serves netchan's exporter and importers. */
#define _GNU_SOURCE

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "peers.h"

#define LOOPBACK_ENDPOINT "tcp://127.0.0.1:*"
#define MONITOR_ENDPOINT  "inproc://netchan-bench-peers-monitor"

/* Messages a receiver takes without blocking after the first one of a batch. */
#define RECEIVE_BATCH 1024

typedef struct zmq_state {
    void *context;
    void *push;                /* the PUSH socket, or the ROUTER for latency */
    void *pull[MAX_RECEIVERS]; /* the PULL sockets, or the DEALER for latency in pull[0] */
    zmq_msg_t message[MAX_RECEIVERS];
} zmq_state_t;

static void set_common_options(void *socket, int timeout_ms)
{
    int linger = 0;
    zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(socket, ZMQ_SNDTIMEO, &timeout_ms, sizeof(timeout_ms));
    zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
}

/* Binds socket to a system-picked loopback port and copies the endpoint into endpoint. */
static bool bind_loopback(void *socket, char *endpoint, char *error, size_t size)
{
    size_t length = ENDPOINT_SIZE;
    if (zmq_bind(socket, LOOPBACK_ENDPOINT) != 0 ||
        zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint, &length) != 0) {
        snprintf(error, size, "binding to %s failed: %s", LOOPBACK_ENDPOINT,
                 zmq_strerror(zmq_errno()));
        return false;
    }
    return true;
}

/* Waits until socket has completed count handshakes, read from a monitor socket set up before
 * the peers connected. */
static bool wait_handshakes(void *monitor, int count, char *error, size_t size)
{
    for (int seen = 0; seen < count;) {
        zmq_msg_t event;
        zmq_msg_init(&event);
        if (zmq_msg_recv(&event, monitor, 0) < 0) {
            zmq_msg_close(&event);
            snprintf(error, size, "only %d of %d receivers connected within %d ms", seen, count,
                     IO_TIMEOUT_MS);
            return false;
        }
        uint16_t id = 0;
        memcpy(&id, zmq_msg_data(&event), sizeof(id));
        seen += id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? 1 : 0;
        zmq_msg_close(&event);
        zmq_msg_t address;
        zmq_msg_init(&address);
        zmq_msg_recv(&address, monitor, 0); /* the second frame names the endpoint */
        zmq_msg_close(&address);
    }
    return true;
}

static bool zmq_setup(run_t *run)
{
    zmq_state_t *state = calloc(1, sizeof(*state));
    run->state = state;
    char error[ERROR_SIZE] = "";
    char endpoint[ENDPOINT_SIZE];
    state->context = zmq_ctx_new();
    state->push = zmq_socket(state->context, ZMQ_PUSH);
    set_common_options(state->push, IO_TIMEOUT_MS);
    if (run->memory) {
        int hwm = (int)run->config->capacity;
        zmq_setsockopt(state->push, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    }
    void *monitor = NULL;
    if (zmq_socket_monitor(state->push, MONITOR_ENDPOINT, ZMQ_EVENT_HANDSHAKE_SUCCEEDED) == 0) {
        monitor = zmq_socket(state->context, ZMQ_PAIR);
        set_common_options(monitor, IO_TIMEOUT_MS);
        zmq_connect(monitor, MONITOR_ENDPOINT);
    }
    bool ok = monitor != NULL && bind_loopback(state->push, endpoint, error, sizeof(error));
    if (ok && run->memory) {
        snprintf(run->endpoint, sizeof(run->endpoint), "%s", endpoint);
    }
    for (int i = 0; ok && i < run->receivers; i++) {
        state->pull[i] = zmq_socket(state->context, ZMQ_PULL);
        set_common_options(state->pull[i], POLL_TIMEOUT_MS);
        zmq_msg_init(&state->message[i]);
        if (zmq_connect(state->pull[i], endpoint) != 0) {
            snprintf(error, sizeof(error), "connecting PULL to %s failed: %s", endpoint,
                     zmq_strerror(zmq_errno()));
            ok = false;
        }
    }
    ok = ok && wait_handshakes(monitor, run->receivers, error, sizeof(error));
    if (monitor != NULL) {
        zmq_socket_monitor(state->push, NULL, 0);
        zmq_close(monitor);
    }
    if (!ok) {
        run_fail(run, "raw libzmq setup: %s", error[0] ? error : zmq_strerror(zmq_errno()));
    }
    return ok;
}

static bool zmq_send_value(run_t *run, const uint8_t *data, size_t size)
{
    zmq_state_t *state = run->state;
    if (zmq_send(state->push, data, size, 0) < 0) {
        run_fail(run, "zmq_send failed: %s", zmq_strerror(zmq_errno()));
        return false;
    }
    return true;
}

static bool zmq_flush(run_t *run)
{
    (void)run; /* zmq_send has handed every value to libzmq already */
    return true;
}

static int zmq_receive(run_t *run, int receiver, int timeout_ms)
{
    (void)timeout_ms; /* the PULL socket's ZMQ_RCVTIMEO is POLL_TIMEOUT_MS */
    zmq_state_t *state = run->state;
    zmq_msg_t *message = &state->message[receiver];
    int count = 0;
    for (int flags = 0; count < RECEIVE_BATCH; flags = ZMQ_DONTWAIT) {
        if (zmq_msg_recv(message, state->pull[receiver], flags) < 0) {
            if (zmq_errno() == EAGAIN) {
                break;
            }
            run_fail(run, "zmq_msg_recv failed: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        if (!run_check_value(run, receiver, zmq_msg_data(message), zmq_msg_size(message))) {
            return -1;
        }
        count++;
    }
    return count;
}

static void zmq_teardown(run_t *run)
{
    zmq_state_t *state = run->state;
    if (state == NULL) {
        return;
    }
    for (int i = 0; i < MAX_RECEIVERS; i++) {
        if (state->pull[i] != NULL) {
            zmq_msg_close(&state->message[i]);
            zmq_close(state->pull[i]);
        }
    }
    if (state->push != NULL) {
        zmq_close(state->push);
    }
    if (state->context != NULL) {
        zmq_ctx_term(state->context);
    }
    free(state);
    run->state = NULL;
}

static int zmq_memory_receiver(const config_t *config, const char *endpoint)
{
    void *context = zmq_ctx_new();
    void *pull = zmq_socket(context, ZMQ_PULL);
    set_common_options(pull, IO_TIMEOUT_MS);
    zmq_msg_t message;
    zmq_msg_init(&message);
    if (zmq_connect(pull, endpoint) != 0 || zmq_msg_recv(&message, pull, 0) < 0) {
        fprintf(stderr, "netchan-bench-peers: raw libzmq receiver: %s\n",
                zmq_strerror(zmq_errno()));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        sleep_ms(config->interval_ms);
        zmq_msg_recv(&message, pull, 0);
    }
}

/* ---- latency: DEALER/ROUTER ---- */

static bool zmq_latency_setup(latency_t *latency)
{
    zmq_state_t *state = calloc(1, sizeof(*state));
    latency->state = state;
    char endpoint[ENDPOINT_SIZE];
    char error[ERROR_SIZE] = "";
    state->context = zmq_ctx_new();
    state->push = zmq_socket(state->context, ZMQ_ROUTER);
    state->pull[0] = zmq_socket(state->context, ZMQ_DEALER);
    set_common_options(state->push, POLL_TIMEOUT_MS);
    set_common_options(state->pull[0], IO_TIMEOUT_MS);
    zmq_msg_init(&state->message[0]);
    zmq_msg_init(&state->message[1]);
    if (!bind_loopback(state->push, endpoint, error, sizeof(error)) ||
        zmq_connect(state->pull[0], endpoint) != 0) {
        latency_fail(latency, "raw libzmq latency setup: %s",
                     error[0] ? error : zmq_strerror(zmq_errno()));
        return false;
    }
    return true;
}

static int zmq_echo(latency_t *latency, int timeout_ms)
{
    (void)timeout_ms; /* the ROUTER's ZMQ_RCVTIMEO is POLL_TIMEOUT_MS */
    zmq_state_t *state = latency->state;
    zmq_msg_t *routing_id = &state->message[0];
    zmq_msg_t *body = &state->message[1];
    if (zmq_msg_recv(routing_id, state->push, 0) < 0) {
        if (zmq_errno() == EAGAIN) {
            return 0;
        }
        latency_fail(latency, "ROUTER receive failed: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (zmq_msg_recv(body, state->push, 0) < 0 ||
        zmq_msg_send(routing_id, state->push, ZMQ_SNDMORE) < 0 ||
        zmq_msg_send(body, state->push, 0) < 0) {
        latency_fail(latency, "ROUTER echo failed: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 1;
}

static bool zmq_round_trip(latency_t *latency, const uint8_t *data, size_t size)
{
    zmq_state_t *state = latency->state;
    zmq_msg_t reply;
    zmq_msg_init(&reply);
    if (zmq_send(state->pull[0], data, size, 0) < 0 ||
        zmq_msg_recv(&reply, state->pull[0], 0) < 0) {
        latency_fail(latency, "DEALER round trip failed: %s", zmq_strerror(zmq_errno()));
        zmq_msg_close(&reply);
        return false;
    }
    bool ok = latency_check_reply(latency, data, zmq_msg_data(&reply), size, zmq_msg_size(&reply));
    zmq_msg_close(&reply);
    return ok;
}

static void zmq_latency_teardown(latency_t *latency)
{
    zmq_state_t *state = latency->state;
    if (state == NULL) {
        return;
    }
    zmq_msg_close(&state->message[0]);
    zmq_msg_close(&state->message[1]);
    zmq_close(state->push);
    zmq_close(state->pull[0]);
    zmq_ctx_term(state->context);
    free(state);
    latency->state = NULL;
}

static void zmq_client_version(char *buffer, size_t size)
{
    int major = 0;
    int minor = 0;
    int patch = 0;
    zmq_version(&major, &minor, &patch);
    snprintf(buffer, size, "libzmq %d.%d.%d", major, minor, patch);
}

const system_ops_t zmq_system = {
    .name = "zmq",
    .label = "raw libzmq",
    .client_version = zmq_client_version,
    .setup = zmq_setup,
    .send = zmq_send_value,
    .flush = zmq_flush,
    .receive = zmq_receive,
    .teardown = zmq_teardown,
    .memory_receiver = zmq_memory_receiver,
    .latency_setup = zmq_latency_setup,
    .echo = zmq_echo,
    .round_trip = zmq_round_trip,
    .latency_teardown = zmq_latency_teardown,
};
