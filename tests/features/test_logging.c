/* Feature tests of logging. The library is silent until an application installs a handler. A
 * handler at INFO receives starts, stops, connects and lost sessions with the peer and channel
 * named, and nothing per value. Removing the handler silences the library again. */
#include "feature_support.h"

#include <stdatomic.h>

/* A log handler that only counts lines. */
static void count_log(netchan_log_level level, const char *message, void *user)
{
    (void)level;
    (void)message;
    atomic_fetch_add((_Atomic uint64_t *)user, 1);
}

/* ---- the child that runs a noisy scenario ---- */

/* Runs a scenario in this process that makes the library log at every level once a handler is
 * installed. It has starts, connects, a refused bind, a passed acknowledgement deadline, a
 * value discarded after its attempts and an exporter that ends its importers' sessions.
 * Returns false when a step fails. */
static bool run_noisy_scenario(void)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    if (exporter == NULL) {
        return false;
    }
    bool ok = true;
    netchan_options_t *options = netchan_options_new();
    netchan_chan_t *out = NULL;
    ok = ok && options != NULL;
    ok = ok && netchan_options_set_max_attempts(options, 1) == NETCHAN_OK;
    ok = ok && netchan_export(exporter, "jobs", NETCHAN_SEND, &netchan__test__point__descriptor,
                              options, &out) == NETCHAN_OK;
    netchan_options_destroy(&options);

    netchan_importer_t *importer = start_importer(endpoint);
    ok = ok && importer != NULL;
    netchan_chan_t *missing = NULL;
    ok = ok && netchan_import(importer, "missing", NETCHAN_RECV, &netchan__test__point__descriptor,
                              NULL, IMPORT_TIMEOUT_MS, &missing) == NETCHAN_ENOTFOUND;

    options = options_with(16, true);
    ok = ok && options != NULL;
    ok = ok && netchan_options_set_ack_deadline(options, 50) == NETCHAN_OK;
    netchan_chan_t *in = NULL;
    ok = ok && netchan_import(importer, "jobs", NETCHAN_RECV, &netchan__test__point__descriptor,
                              options, IMPORT_TIMEOUT_MS, &in) == NETCHAN_OK;
    netchan_options_destroy(&options);
    ok = ok && send_points(out, 1, 1, 0) == NETCHAN_OK;

    /* The value passes its deadline, is released and, past its single attempt, discarded. */
    netchan_msg_t *msg = NULL;
    ok = ok && recv_point_msg(in, RECV_TIMEOUT_MS, &msg, NULL, NULL) == NETCHAN_OK;
    ok = ok && WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_DEAD_LETTERED) == 1, 5000);
    netchan_msg_destroy(&msg);
    ok = ok && netchan_drain(out, DRAIN_TIMEOUT_MS, NULL) == NETCHAN_EDISCARDED;

    netchan_exporter_destroy(&exporter);
    netchan_importer_destroy(&importer);
    return ok;
}

/* The child's side: runs the scenario with no handler ("silent") or with a counting handler
 * ("count", which then prints "lines N"). Writes nothing else, and exits 3 when a step fails. */
static int child_noisy_main(const char *mode)
{
    alarm(60);
    _Atomic uint64_t lines = 0;
    bool counting = strcmp(mode, "count") == 0;
    if (counting) {
        netchan_set_log_handler(count_log, NETCHAN_LOG_DEBUG, &lines);
    }
    bool ok = run_noisy_scenario();
    if (counting) {
        netchan_set_log_handler(NULL, NETCHAN_LOG_ERROR, NULL);
        printf("lines %" PRIu64 "\n", atomic_load(&lines));
        fflush(stdout);
    }
    return ok ? 0 : 3;
}

/* ---- the tests ---- */

/* With no handler installed the library writes nothing, to stdout or stderr, through a
 * scenario that logs at every level once a handler is installed. Both runs are child
 * processes without NETCHAN_TEST_LOG. */
TEST(logging_silent_by_default)
{
    child_t child = CHILD_INIT;
    const char *count_args[] = {"--child-noisy", "count", NULL};
    const char *silent_args[] = {"--child-noisy", "silent", NULL};
    char output[4096];

    /* The scenario does make the library log when a handler is installed. */
    ENSURE(child_start_with(&child, count_args, true, true));
    char lines_text[32] = "";
    CHECK(child_expect_line(&child, "lines ", lines_text, sizeof(lines_text), 20000));
    printf("# with a handler the scenario logged %s lines\n", lines_text);
    CHECK(atoi(lines_text) >= 5);
    int status = child_wait_exit(&child, 10000);
    CHECK(WIFEXITED(status));
    CHECK_EQ_U64(WEXITSTATUS(status), 0);
    child_stop(&child);

    ENSURE(child_start_with(&child, silent_args, true, true));
    size_t written = child_read_all(&child, output, sizeof(output), 20000);
    status = child_wait_exit(&child, 10000);
    CHECK(WIFEXITED(status));
    CHECK_EQ_U64(WEXITSTATUS(status), 0);
    if (written > 0) {
        printf("# the silent run wrote %zu bytes: %s\n", written, output);
    }
    CHECK_EQ_U64(written, 0);
out:
    child_stop(&child);
}

/* A handler installed at INFO receives the exporter's start with its endpoint, and each side's
 * connect with the peer: the importer's session id and address, or the exporter's instance.
 * When an importer with values of channel 'jobs' in flight is killed, the lost-session lines
 * name the session and the channel whose values were taken back. Nothing at DEBUG arrives. */
TEST(logging_info_names_peer_and_channel)
{
    static log_lines_t log = LOG_LINES_INIT;
    netchan_set_log_handler(collect_log, NETCHAN_LOG_INFO, &log);
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    netchan_importer_t *importer = NULL;
    child_t child = CHILD_INIT;
    netchan_event_t *exporter_connected = NULL;
    netchan_event_t *importer_connected = NULL;
    netchan_event_t *child_connected = NULL;
    netchan_event_t *lost = NULL;
    ENSURE(exporter != NULL);
    CHECK(log_find(&log, 0, "exporter", "listening on", endpoint) >= 0);

    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    ENSURE(out != NULL);
    CHECK_ERR(send_points(out, 1, 20, 0), NETCHAN_OK);
    importer = start_importer(endpoint);
    ENSURE(importer != NULL);
    exporter_connected = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_CONNECTED, 5000);
    importer_connected = wait_event(next_importer_event, importer, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(exporter_connected != NULL);
    ENSURE(importer_connected != NULL);
    CHECK(log_find(&log, 0, "importer", "connecting to", endpoint) >= 0);
    /* Each engine queues the event just before it logs the line. */
    CHECK(WAIT_UNTIL(
        log_find(&log, 0, netchan_event_peer(exporter_connected), "connected", "127.0.0.1") >= 0,
        1000));
    CHECK(WAIT_UNTIL(
        log_find(&log, 0, "importer", netchan_event_peer(importer_connected), endpoint) >= 0,
        1000));

    ENSURE(start_child_importer(&child, endpoint, "jobs", 8, 5, 2));
    child_connected = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(child_connected != NULL);
    const char *session = netchan_event_peer(child_connected);
    size_t before_loss = log_count(&log);
    kill(child.pid, SIGKILL);
    lost = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_LOST, 5000);
    ENSURE(lost != NULL);
    CHECK(WAIT_UNTIL(log_find(&log, before_loss, session, "lost", NULL) >= 0, 1000));
    CHECK(log_find(&log, before_loss, session, "lost", "127.0.0.1") >= 0);
    /* The values taken back belong to channel 'jobs'; some line about the loss names it. */
    CHECK(log_find(&log, before_loss, session, "'jobs'", NULL) >= 0);
    CHECK(log_find(&log, 0, "debug:", NULL, NULL) < 0);
out:
    log_print(&log, 0);
    netchan_event_destroy(&exporter_connected);
    netchan_event_destroy(&importer_connected);
    netchan_event_destroy(&child_connected);
    netchan_event_destroy(&lost);
    child_stop(&child);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    restore_test_log();
    log_clear(&log);
}

/* Both engines log their stop: an exporter and an importer that are destroyed each leave a
 * line at INFO. */
TEST(logging_reports_engine_stops)
{
    static log_lines_t log = LOG_LINES_INIT;
    netchan_set_log_handler(collect_log, NETCHAN_LOG_INFO, &log);
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    netchan_importer_t *importer = NULL;
    ENSURE(exporter != NULL);
    size_t before = log_count(&log);
    netchan_exporter_destroy(&exporter);
    size_t exporter_lines = log_count(&log) - before;
    printf("# destroying the exporter logged %zu lines\n", exporter_lines);
    CHECK(exporter_lines >= 1);

    /* An importer whose exporter is gone. */
    importer = start_importer(endpoint);
    ENSURE(importer != NULL);
    before = log_count(&log);
    netchan_importer_destroy(&importer);
    size_t importer_lines = log_count(&log) - before;
    printf("# destroying the importer logged %zu lines\n", importer_lines);
    CHECK(importer_lines >= 1);
out:
    log_print(&log, 0);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    restore_test_log();
    log_clear(&log);
}

typedef struct stream_sender {
    netchan_chan_t *chan;
    int count;
    netchan_err result;
} stream_sender_t;

static void *stream_sender_main(void *arg)
{
    stream_sender_t *sender = arg;
    sender->result = send_points(sender->chan, 1, sender->count, 0);
    return NULL;
}

/* A stream of 10,000 values logs nothing per value at INFO. A library that logged each value
 * would add 10,000 lines; the bound of 10 leaves room for a stray connection event on a loaded
 * machine. */
TEST(logging_no_line_per_value)
{
    enum { COUNT = 10000, MAX_LINES = 10 };
    static log_lines_t log = LOG_LINES_INIT;
    netchan_set_log_handler(collect_log, NETCHAN_LOG_INFO, &log);
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    netchan_importer_t *importer = NULL;
    ENSURE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "stream", NETCHAN_SEND, 256);
    importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "stream", NETCHAN_RECV, 256) : NULL;
    ENSURE(out != NULL);
    ENSURE(in != NULL);

    size_t before = log_count(&log);
    stream_sender_t sender = {out, COUNT, NETCHAN_OK};
    pthread_t thread;
    ENSURE(pthread_create(&thread, NULL, stream_sender_main, &sender) == 0);
    int received = 0;
    for (int expected = 1; expected <= COUNT; expected++) {
        int x = 0;
        netchan_err err = recv_point(in, RECV_TIMEOUT_MS, &x, NULL);
        if (err != NETCHAN_OK || x != expected) {
            printf("# value %d: %s, x=%d\n", expected, netchan_strerror(err), x);
            break;
        }
        received++;
    }
    pthread_join(thread, NULL);
    CHECK_ERR(sender.result, NETCHAN_OK);
    CHECK_EQ_U64(received, COUNT);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    size_t lines = log_count(&log) - before;
    printf("# %zu lines logged while %d values streamed\n", lines, COUNT);
    CHECK(lines <= MAX_LINES);
    if (lines > 0) {
        log_print(&log, before);
    }
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    restore_test_log();
    log_clear(&log);
}

/* Installing NULL removes the handler: a start, connect and end that logged lines before log
 * nothing after. */
TEST(logging_removed_handler_silent)
{
    _Atomic uint64_t lines = 0;
    char endpoint[ENDPOINT_SIZE];
    netchan_set_log_handler(count_log, NETCHAN_LOG_DEBUG, &lines);
    netchan_exporter_t *exporter = start_exporter(endpoint);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_event_t *event = NULL;
    ENSURE(exporter != NULL);
    ENSURE(importer != NULL);
    event = wait_event(next_importer_event, importer, NETCHAN_EVENT_CONNECTED, 5000);
    CHECK(event != NULL);
    netchan_event_destroy(&event);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    uint64_t with_handler = atomic_load(&lines);
    printf("# %" PRIu64 " lines with the handler installed\n", with_handler);
    CHECK(with_handler >= 3);

    netchan_set_log_handler(NULL, NETCHAN_LOG_DEBUG, &lines);
    exporter = start_exporter(endpoint);
    importer = start_importer(endpoint);
    ENSURE(exporter != NULL);
    ENSURE(importer != NULL);
    event = wait_event(next_importer_event, importer, NETCHAN_EVENT_CONNECTED, 5000);
    CHECK(event != NULL);
    netchan_event_destroy(&event);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    CHECK_EQ_U64(atomic_load(&lines), with_handler);
out:
    netchan_set_log_handler(NULL, NETCHAN_LOG_DEBUG, NULL);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    restore_test_log();
}

int main(int argc, char **argv)
{
    features_child_main(argc, argv);
    if (argc == 3 && strcmp(argv[1], "--child-noisy") == 0) {
        return child_noisy_main(argv[2]);
    }
    RUN(logging_silent_by_default);
    RUN(logging_info_names_peer_and_channel);
    RUN(logging_reports_engine_stops);
    RUN(logging_no_line_per_value);
    RUN(logging_removed_handler_silent);
    return harness_done();
}
