/* netchan, acknowledged (the default) and unacknowledged.
 *
 * Throughput: an exporter's bytes channel opened with NETCHAN_SEND and one importer per
 * receiver, each binding a NETCHAN_RECV channel of the same name, so the receivers compete for
 * the values. Default options (capacity 1024, acknowledgement on receipt) except that the
 * unacknowledged variant calls netchan_options_set_unacknowledged() on both sides, and the
 * memory workload gives the sending channel config->capacity. Latency: the exporter sends on
 * "ping" and receives on "pong"; one importer echoes. */
#define _GNU_SOURCE

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netchan.h"
#include "peers.h"

#define LOOPBACK_ENDPOINT "tcp://127.0.0.1:*"
#define CHANNEL_NAME      "values"
#define IMPORT_TIMEOUT_MS 5000

/* Values a receiver takes without waiting after the first one of a batch. */
#define RECEIVE_BATCH 1024

typedef struct netchan_state {
    netchan_exporter_t *exporter;
    netchan_chan_t *send_chan;
    netchan_importer_t *importers[MAX_RECEIVERS];
    netchan_chan_t *recv_chans[MAX_RECEIVERS];
    /* latency: the exporter's pong receiver and the importer's ping receiver and pong sender */
    netchan_chan_t *pong_recv;
    netchan_chan_t *ping_recv;
    netchan_chan_t *pong_send;
} netchan_state_t;

static void log_to_stderr(netchan_log_level level, const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "netchan %s: %s\n", netchan_log_level_name(level), message);
}

static netchan_options_t *new_options(bool unacknowledged, uint32_t capacity)
{
    netchan_options_t *options = netchan_options_new();
    if (options != NULL) {
        netchan_options_set_unacknowledged(options, unacknowledged);
        if (capacity > 0) {
            netchan_options_set_capacity(options, capacity);
        }
    }
    return options;
}

/* Creates an exporter bound to a system-picked loopback port and copies its endpoint. */
static netchan_err start_exporter(netchan_state_t *state, char *endpoint, char *error, size_t size)
{
    netchan_set_log_handler(log_to_stderr, NETCHAN_LOG_WARNING, NULL);
    netchan_err err = netchan_exporter_new(&state->exporter);
    if (err == NETCHAN_OK) {
        err = netchan_exporter_bind(state->exporter, LOOPBACK_ENDPOINT);
    }
    if (err == NETCHAN_OK) {
        err = netchan_exporter_endpoint(state->exporter, endpoint, ENDPOINT_SIZE);
    }
    if (err != NETCHAN_OK) {
        snprintf(error, size, "starting the exporter failed: %s (%s)", netchan_strerror(err),
                 state->exporter != NULL ? netchan_exporter_error(state->exporter) : "");
    }
    return err;
}

/* Binds channel name in direction on *importer_p, first creating the importer and connecting it
 * to endpoint when *importer_p is NULL. */
static netchan_err import_channel(netchan_importer_t **importer_p, const char *endpoint,
                                  const char *name, netchan_dir direction,
                                  const netchan_options_t *options, netchan_chan_t **chan_p,
                                  char *error, size_t size)
{
    netchan_err err = NETCHAN_OK;
    if (*importer_p == NULL) {
        err = netchan_importer_new(importer_p);
        if (err == NETCHAN_OK) {
            err = netchan_importer_connect(*importer_p, endpoint);
        }
    }
    if (err == NETCHAN_OK) {
        err = netchan_import_bytes(*importer_p, name, direction, NULL, NULL, options,
                                   IMPORT_TIMEOUT_MS, chan_p);
    }
    if (err != NETCHAN_OK) {
        snprintf(error, size, "importing '%s' from %s failed: %s (%s)", name, endpoint,
                 netchan_strerror(err),
                 *importer_p != NULL ? netchan_importer_error(*importer_p) : "");
    }
    return err;
}

static bool setup_common(run_t *run, bool unacknowledged)
{
    netchan_state_t *state = calloc(1, sizeof(*state));
    run->state = state;
    char endpoint[ENDPOINT_SIZE];
    char error[ERROR_SIZE] = "";
    netchan_options_t *send_options =
        new_options(unacknowledged, run->memory ? run->config->capacity : 0);
    netchan_options_t *recv_options = new_options(unacknowledged, 0);

    netchan_err err = start_exporter(state, endpoint, error, sizeof(error));
    if (err == NETCHAN_OK) {
        err = netchan_export_bytes(state->exporter, CHANNEL_NAME, NETCHAN_SEND, NULL, NULL,
                                   send_options, &state->send_chan);
        if (err != NETCHAN_OK) {
            snprintf(error, sizeof(error), "exporting '%s' failed: %s (%s)", CHANNEL_NAME,
                     netchan_strerror(err), netchan_exporter_error(state->exporter));
        }
    }
    for (int i = 0; err == NETCHAN_OK && i < run->receivers; i++) {
        err = import_channel(&state->importers[i], endpoint, CHANNEL_NAME, NETCHAN_RECV,
                             recv_options, &state->recv_chans[i], error, sizeof(error));
    }
    if (err == NETCHAN_OK && run->memory) {
        snprintf(run->endpoint, sizeof(run->endpoint), "%s", endpoint);
    }
    netchan_options_destroy(&send_options);
    netchan_options_destroy(&recv_options);
    if (err != NETCHAN_OK) {
        run_fail(run, "netchan setup: %s", error);
        return false;
    }
    return true;
}

static bool netchan_acked_setup(run_t *run)
{
    return setup_common(run, false);
}

static bool netchan_unacked_setup(run_t *run)
{
    return setup_common(run, true);
}

static bool netchan_send_value(run_t *run, const uint8_t *data, size_t size)
{
    netchan_state_t *state = run->state;
    netchan_err err = netchan_send_bytes(state->send_chan, data, size, IO_TIMEOUT_MS);
    if (err != NETCHAN_OK) {
        run_fail(run, "netchan_send_bytes failed: %s (%s)", netchan_strerror(err),
                 netchan_chan_error(state->send_chan));
        return false;
    }
    return true;
}

/* Waits until every value sent is acknowledged, or, unacknowledged, handed to libzmq. */
static bool netchan_flush(run_t *run)
{
    netchan_state_t *state = run->state;
    if (run->memory) {
        return true; /* the slow receiver could not acknowledge them in any useful time */
    }
    uint64_t pending = 0;
    netchan_err err = netchan_drain(state->send_chan, IO_TIMEOUT_MS, &pending);
    if (err != NETCHAN_OK) {
        run_fail(run, "netchan_drain failed: %s, %" PRIu64 " values pending (%s)",
                 netchan_strerror(err), pending, netchan_chan_error(state->send_chan));
        return false;
    }
    return true;
}

static int netchan_receive(run_t *run, int receiver, int timeout_ms)
{
    netchan_state_t *state = run->state;
    int count = 0;
    for (int wait = timeout_ms; count < RECEIVE_BATCH; wait = NETCHAN_NOWAIT) {
        netchan_msg_t *msg = NULL;
        netchan_err err = netchan_recv_msg(state->recv_chans[receiver], wait, &msg);
        if (err == NETCHAN_EAGAIN || err == NETCHAN_ETIMEDOUT) {
            break;
        }
        if (err != NETCHAN_OK) {
            run_fail(run, "netchan_recv_msg failed: %s (%s)", netchan_strerror(err),
                     netchan_chan_error(state->recv_chans[receiver]));
            return -1;
        }
        bool ok = run_check_value(run, receiver, netchan_msg_data(msg), netchan_msg_size(msg));
        netchan_msg_destroy(&msg);
        if (!ok) {
            return -1;
        }
        count++;
    }
    return count;
}

static void destroy_state(netchan_state_t *state)
{
    if (state == NULL) {
        return;
    }
    if (state->send_chan != NULL) {
        netchan_close(state->send_chan);
    }
    /* Importers first: each waits for the exporter to confirm the end of its session. */
    for (int i = 0; i < MAX_RECEIVERS; i++) {
        netchan_importer_destroy(&state->importers[i]);
    }
    netchan_exporter_destroy(&state->exporter);
    free(state);
}

static void netchan_teardown(run_t *run)
{
    destroy_state(run->state);
    run->state = NULL;
}

static int memory_receiver(const config_t *config, const char *endpoint, bool unacknowledged)
{
    netchan_importer_t *importer = NULL;
    netchan_chan_t *chan = NULL;
    netchan_msg_t *msg = NULL;
    char error[ERROR_SIZE];
    netchan_options_t *options = new_options(unacknowledged, 0);
    netchan_err err = import_channel(&importer, endpoint, CHANNEL_NAME, NETCHAN_RECV, options,
                                     &chan, error, sizeof(error));
    if (err == NETCHAN_OK) {
        err = netchan_recv_msg(chan, IO_TIMEOUT_MS, &msg);
        snprintf(error, sizeof(error), "the first value did not arrive: %s", netchan_strerror(err));
    }
    if (err != NETCHAN_OK) {
        fprintf(stderr, "netchan-bench-peers: netchan receiver: %s\n", error);
        return 1;
    }
    netchan_msg_destroy(&msg);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        sleep_ms(config->interval_ms);
        if (netchan_recv_msg(chan, IO_TIMEOUT_MS, &msg) == NETCHAN_OK) {
            netchan_msg_destroy(&msg);
        }
    }
}

static int netchan_acked_memory_receiver(const config_t *config, const char *endpoint)
{
    return memory_receiver(config, endpoint, false);
}

static int netchan_unacked_memory_receiver(const config_t *config, const char *endpoint)
{
    return memory_receiver(config, endpoint, true);
}

/* ---- latency ---- */

static bool latency_setup_common(latency_t *latency, bool unacknowledged)
{
    netchan_state_t *state = calloc(1, sizeof(*state));
    latency->state = state;
    char endpoint[ENDPOINT_SIZE];
    char error[ERROR_SIZE] = "";
    netchan_options_t *options = new_options(unacknowledged, 0);
    netchan_err err = start_exporter(state, endpoint, error, sizeof(error));
    if (err == NETCHAN_OK) {
        err = netchan_export_bytes(state->exporter, "ping", NETCHAN_SEND, NULL, NULL, options,
                                   &state->send_chan);
    }
    if (err == NETCHAN_OK) {
        err = netchan_export_bytes(state->exporter, "pong", NETCHAN_RECV, NULL, NULL, options,
                                   &state->pong_recv);
    }
    if (err != NETCHAN_OK && error[0] == '\0') {
        snprintf(error, sizeof(error), "exporting failed: %s (%s)", netchan_strerror(err),
                 netchan_exporter_error(state->exporter));
    }
    if (err == NETCHAN_OK) {
        err = import_channel(&state->importers[0], endpoint, "ping", NETCHAN_RECV, options,
                             &state->ping_recv, error, sizeof(error));
    }
    if (err == NETCHAN_OK) {
        err = import_channel(&state->importers[0], endpoint, "pong", NETCHAN_SEND, options,
                             &state->pong_send, error, sizeof(error));
    }
    netchan_options_destroy(&options);
    if (err != NETCHAN_OK) {
        latency_fail(latency, "netchan latency setup: %s", error);
        return false;
    }
    return true;
}

static bool netchan_acked_latency_setup(latency_t *latency)
{
    return latency_setup_common(latency, false);
}

static bool netchan_unacked_latency_setup(latency_t *latency)
{
    return latency_setup_common(latency, true);
}

static int netchan_echo(latency_t *latency, int timeout_ms)
{
    netchan_state_t *state = latency->state;
    netchan_msg_t *msg = NULL;
    netchan_err err = netchan_recv_msg(state->ping_recv, timeout_ms, &msg);
    if (err == NETCHAN_ETIMEDOUT || err == NETCHAN_EAGAIN) {
        return 0;
    }
    if (err == NETCHAN_OK) {
        err = netchan_send_bytes(state->pong_send, netchan_msg_data(msg), netchan_msg_size(msg),
                                 IO_TIMEOUT_MS);
        netchan_msg_destroy(&msg);
    }
    if (err != NETCHAN_OK) {
        latency_fail(latency, "echo failed: %s", netchan_strerror(err));
        return -1;
    }
    return 1;
}

static bool netchan_round_trip(latency_t *latency, const uint8_t *data, size_t size)
{
    netchan_state_t *state = latency->state;
    netchan_msg_t *msg = NULL;
    netchan_err err = netchan_send_bytes(state->send_chan, data, size, IO_TIMEOUT_MS);
    if (err == NETCHAN_OK) {
        err = netchan_recv_msg(state->pong_recv, IO_TIMEOUT_MS, &msg);
    }
    if (err != NETCHAN_OK) {
        latency_fail(latency, "round trip failed: %s", netchan_strerror(err));
        return false;
    }
    bool ok =
        latency_check_reply(latency, data, netchan_msg_data(msg), size, netchan_msg_size(msg));
    netchan_msg_destroy(&msg);
    return ok;
}

static void netchan_latency_teardown(latency_t *latency)
{
    destroy_state(latency->state);
    latency->state = NULL;
}

static void netchan_client_version(char *buffer, size_t size)
{
    snprintf(buffer, size, "netchan %s", netchan_version());
}

const system_ops_t netchan_system = {
    .name = "netchan",
    .label = "netchan acknowledged",
    .client_version = netchan_client_version,
    .setup = netchan_acked_setup,
    .send = netchan_send_value,
    .flush = netchan_flush,
    .receive = netchan_receive,
    .teardown = netchan_teardown,
    .memory_receiver = netchan_acked_memory_receiver,
    .latency_setup = netchan_acked_latency_setup,
    .echo = netchan_echo,
    .round_trip = netchan_round_trip,
    .latency_teardown = netchan_latency_teardown,
};

const system_ops_t netchan_unacked_system = {
    .name = "netchan-unacked",
    .label = "netchan unacknowledged",
    .client_version = netchan_client_version,
    .setup = netchan_unacked_setup,
    .send = netchan_send_value,
    .flush = netchan_flush,
    .receive = netchan_receive,
    .teardown = netchan_teardown,
    .memory_receiver = netchan_unacked_memory_receiver,
    .latency_setup = netchan_unacked_latency_setup,
    .echo = netchan_echo,
    .round_trip = netchan_round_trip,
    .latency_teardown = netchan_latency_teardown,
};
