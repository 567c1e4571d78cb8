/* Helpers for the integration tests: exporters bound to loopback endpoints with ports the system
 * picks, importers connected to them, ipc:// endpoints in a private temporary directory, and
 * numbered Point values for checking order and completeness. */
#ifndef NETCHAN_TEST_FIXTURE_H
#define NETCHAN_TEST_FIXTURE_H

#include "harness.h"

#include <pthread.h>
#include <unistd.h>

#include "netchan.h"
#include "test_types.pb-c.h"

/* Bounds for blocking calls that should finish at once on a healthy loopback connection. They
 * only limit how long a broken run hangs. */
#define IMPORT_TIMEOUT_MS 5000
#define RECV_TIMEOUT_MS   5000
#define DRAIN_TIMEOUT_MS  5000

#define ENDPOINT_SIZE 256

/* Prints the library's log as TAP comments, with a millisecond clock, so that a failing run
 * shows what the engines did. */
static void fixture_log_to_tap(netchan_log_level level, const char *message, void *user)
{
    (void)user;
    printf("# %" PRId64 " %s: %s\n", harness_now_ms() % 100000, netchan_log_level_name(level),
           message);
}

/* Installs the log printer before main() when NETCHAN_TEST_LOG is set to a level from 1 (errors)
 * to 4 (debug). */
__attribute__((constructor)) static void fixture_setup_log(void)
{
    const char *level = getenv("NETCHAN_TEST_LOG");
    if (level != NULL && atoi(level) > 0) {
        netchan_set_log_handler(fixture_log_to_tap, (netchan_log_level)atoi(level), NULL);
    }
}

/* Creates an exporter bound to bind_to and copies the endpoint it resolved into endpoint.
 * Prints the reason and returns NULL on failure. */
static inline netchan_exporter_t *start_exporter_at(const char *bind_to, char *endpoint)
{
    netchan_exporter_t *exporter = NULL;
    netchan_err err = netchan_exporter_new(&exporter);
    if (err != NETCHAN_OK) {
        printf("# netchan_exporter_new failed: %s\n", netchan_strerror(err));
        return NULL;
    }
    err = netchan_exporter_bind(exporter, bind_to);
    if (err == NETCHAN_OK) {
        err = netchan_exporter_endpoint(exporter, endpoint, ENDPOINT_SIZE);
    }
    if (err != NETCHAN_OK) {
        printf("# binding the exporter to %s failed: %s: %s\n", bind_to, netchan_strerror(err),
               netchan_exporter_error(exporter));
        netchan_exporter_destroy(&exporter);
        return NULL;
    }
    return exporter;
}

/* Creates an exporter on tcp://127.0.0.1 with a port the system picks. */
static inline netchan_exporter_t *start_exporter(char *endpoint)
{
    return start_exporter_at("tcp://127.0.0.1:*", endpoint);
}

/* Creates an importer connected to endpoint. Prints the reason and returns NULL on failure. */
static inline netchan_importer_t *start_importer(const char *endpoint)
{
    netchan_importer_t *importer = NULL;
    netchan_err err = netchan_importer_new(&importer);
    if (err != NETCHAN_OK) {
        printf("# netchan_importer_new failed: %s\n", netchan_strerror(err));
        return NULL;
    }
    err = netchan_importer_connect(importer, endpoint);
    if (err != NETCHAN_OK) {
        printf("# connecting the importer to %s failed: %s: %s\n", endpoint, netchan_strerror(err),
               netchan_importer_error(importer));
        netchan_importer_destroy(&importer);
        return NULL;
    }
    return importer;
}

/* Returns new options with the given capacity and acknowledgement mode, or NULL on failure. */
static inline netchan_options_t *options_with(uint32_t capacity, bool explicit_ack)
{
    netchan_options_t *options = netchan_options_new();
    if (options == NULL) {
        return NULL;
    }
    if (netchan_options_set_capacity(options, capacity) != NETCHAN_OK ||
        netchan_options_set_explicit_ack(options, explicit_ack) != NETCHAN_OK) {
        netchan_options_destroy(&options);
    }
    return options;
}

/* Exports a Point channel with the given capacity. Prints the reason and returns NULL on
 * failure. */
static inline netchan_chan_t *export_points(netchan_exporter_t *exporter, const char *name,
                                            netchan_dir direction, uint32_t capacity)
{
    netchan_options_t *options = options_with(capacity, false);
    netchan_chan_t *chan = NULL;
    netchan_err err = netchan_export(exporter, name, direction, &netchan__test__point__descriptor,
                                     options, &chan);
    netchan_options_destroy(&options);
    if (err != NETCHAN_OK) {
        printf("# exporting '%s' failed: %s: %s\n", name, netchan_strerror(err),
               netchan_exporter_error(exporter));
        return NULL;
    }
    return chan;
}

/* Imports a Point channel. Prints the reason and returns NULL on failure. */
static inline netchan_chan_t *import_points_with(netchan_importer_t *importer, const char *name,
                                                 netchan_dir direction, uint32_t capacity,
                                                 bool explicit_ack)
{
    netchan_options_t *options = options_with(capacity, explicit_ack);
    netchan_chan_t *chan = NULL;
    netchan_err err = netchan_import(importer, name, direction, &netchan__test__point__descriptor,
                                     options, IMPORT_TIMEOUT_MS, &chan);
    netchan_options_destroy(&options);
    if (err != NETCHAN_OK) {
        printf("# importing '%s' failed: %s: %s\n", name, netchan_strerror(err),
               netchan_importer_error(importer));
        return NULL;
    }
    return chan;
}

static inline netchan_chan_t *import_points(netchan_importer_t *importer, const char *name,
                                            netchan_dir direction, uint32_t capacity)
{
    return import_points_with(importer, name, direction, capacity, false);
}

/* Sends Point{x, y, label "p<x>"}. */
static inline netchan_err send_point(netchan_chan_t *chan, int x, int y, int timeout_ms)
{
    char label[32];
    snprintf(label, sizeof(label), "p%d", x);
    Netchan__Test__Point point = NETCHAN__TEST__POINT__INIT;
    point.x = x;
    point.y = y;
    point.label = label;
    return netchan_send(chan, &point.base, timeout_ms);
}

/* Sends Points with x from first to last inclusive and returns the first failure. */
static inline netchan_err send_points(netchan_chan_t *chan, int first, int last, int y)
{
    for (int x = first; x <= last; x++) {
        netchan_err err = send_point(chan, x, y, RECV_TIMEOUT_MS);
        if (err != NETCHAN_OK) {
            printf("# sending x=%d on '%s' failed: %s: %s\n", x, netchan_chan_name(chan),
                   netchan_strerror(err), netchan_chan_error(chan));
            return err;
        }
    }
    return NETCHAN_OK;
}

/* Receives one Point and stores its x and y (either pointer may be NULL). Checks the label that
 * send_point() wrote, so that a corrupted value fails the test. */
static inline netchan_err recv_point(netchan_chan_t *chan, int timeout_ms, int *x_p, int *y_p)
{
    ProtobufCMessage *msg = NULL;
    netchan_err err = netchan_recv(chan, timeout_ms, &msg);
    if (err != NETCHAN_OK) {
        return err;
    }
    Netchan__Test__Point *point = (Netchan__Test__Point *)msg;
    char label[32];
    snprintf(label, sizeof(label), "p%d", point->x);
    if (point->label == NULL || strcmp(point->label, label) != 0) {
        printf("# Point x=%d arrived with label '%s'\n", point->x,
               point->label != NULL ? point->label : "(null)");
        protobuf_c_message_free_unpacked(msg, NULL);
        return NETCHAN_EDECODE;
    }
    if (x_p != NULL) {
        *x_p = point->x;
    }
    if (y_p != NULL) {
        *y_p = point->y;
    }
    protobuf_c_message_free_unpacked(msg, NULL);
    return NETCHAN_OK;
}

/* Receives a Point through netchan_recv_msg() and stores its x and the delivery attempts. On
 * success *msg_p keeps the message for netchan_msg_ack() and netchan_msg_destroy(). */
static inline netchan_err recv_point_msg(netchan_chan_t *chan, int timeout_ms,
                                         netchan_msg_t **msg_p, int *x_p, uint32_t *attempts_p)
{
    netchan_msg_t *msg = NULL;
    netchan_err err = netchan_recv_msg(chan, timeout_ms, &msg);
    if (err != NETCHAN_OK) {
        return err;
    }
    ProtobufCMessage *unpacked = NULL;
    err = netchan_msg_unpack(msg, &unpacked);
    if (err != NETCHAN_OK) {
        netchan_msg_destroy(&msg);
        return err;
    }
    if (x_p != NULL) {
        *x_p = ((Netchan__Test__Point *)unpacked)->x;
    }
    if (attempts_p != NULL) {
        *attempts_p = netchan_msg_attempts(msg);
    }
    protobuf_c_message_free_unpacked(unpacked, NULL);
    *msg_p = msg;
    return NETCHAN_OK;
}

/* A private directory for ipc:// endpoints, removed by ipc_dir_remove(). */
typedef struct ipc_dir {
    char path[128];
} ipc_dir_t;

static inline bool ipc_dir_create(ipc_dir_t *dir)
{
    snprintf(dir->path, sizeof(dir->path), "/tmp/netchan-test-XXXXXX");
    return mkdtemp(dir->path) != NULL;
}

/* Writes "ipc://<dir>/<name>" into endpoint. */
static inline void ipc_endpoint(const ipc_dir_t *dir, const char *name, char *endpoint)
{
    snprintf(endpoint, ENDPOINT_SIZE, "ipc://%s/%s", dir->path, name);
}

/* Removes the socket files named in names and the directory. */
static inline void ipc_dir_remove(ipc_dir_t *dir, const char *const *names, size_t count)
{
    char path[ENDPOINT_SIZE + 128];
    for (size_t i = 0; i < count; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir->path, names[i]);
        unlink(path);
    }
    rmdir(dir->path);
}

#endif
