/* Feature tests of connection events: what an exporter and an importer report when a peer
 * connects, ends, is killed, freezes, reconnects or restarts, the readiness of the event
 * descriptor, and the overflow of a full event queue.
 *
 * Killed, frozen and restarted peers are real processes (see feature_support.h). Reconnects within
 * a session go through the fault-injecting proxy of the reliability suite. */
#include "feature_support.h"

#include "faultproxy.h"

/* An importer joining gives CONNECTED on the exporter, naming the importer's session id (32
 * hex digits) and its address, and on the importer, naming the exporter's instance id. A second
 * importer is a different session. */
TEST(events_connected_names_session)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *first = start_importer(endpoint);
    netchan_importer_t *second = NULL;
    netchan_event_t *exporter_event = NULL;
    netchan_event_t *importer_event = NULL;
    netchan_event_t *second_event = NULL;
    if (first == NULL) {
        CHECK(!"starting the importer failed");
        goto out;
    }

    exporter_event = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_CONNECTED, 5000);
    importer_event = wait_event(next_importer_event, first, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(exporter_event != NULL);
    ENSURE(importer_event != NULL);
    CHECK_EQ_U64(netchan_event_reason_of(exporter_event), NETCHAN_REASON_NONE);
    CHECK(is_hex(netchan_event_peer(exporter_event), 32));
    CHECK(strcmp(netchan_event_address(exporter_event), "127.0.0.1") == 0);
    CHECK(strcmp(netchan_event_channel(exporter_event), "") == 0);
    CHECK_EQ_U64(netchan_event_count(exporter_event), 0);

    CHECK_EQ_U64(netchan_event_reason_of(importer_event), NETCHAN_REASON_NONE);
    CHECK(is_hex(netchan_event_peer(importer_event), 16));
    CHECK(strcmp(netchan_event_channel(importer_event), "") == 0);

    second = start_importer(endpoint);
    ENSURE(second != NULL);
    second_event = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(second_event != NULL);
    CHECK(is_hex(netchan_event_peer(second_event), 32));
    CHECK(strcmp(netchan_event_peer(second_event), netchan_event_peer(exporter_event)) != 0);
out:
    netchan_event_destroy(&exporter_event);
    netchan_event_destroy(&importer_event);
    netchan_event_destroy(&second_event);
    netchan_importer_destroy(&second);
    netchan_importer_destroy(&first);
    netchan_exporter_destroy(&exporter);
}

/* An importer that ends gracefully gives ENDED for its session on the exporter, and an
 * exporter that ends gracefully gives ENDED on its importers. */
TEST(events_graceful_end_gives_ended)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *staying = NULL;
    netchan_event_t *connected = NULL;
    netchan_event_t *other = NULL;
    netchan_event_t *ended = NULL;
    netchan_importer_t *leaving = start_importer(endpoint);
    if (leaving == NULL) {
        CHECK(!"starting the first importer failed");
        goto out;
    }
    /* The leaving importer connects first, so that its session id is known. */
    connected = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(connected != NULL);
    staying = start_importer(endpoint);
    if (staying == NULL) {
        CHECK(!"starting the second importer failed");
        goto out;
    }
    other = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(other != NULL);
    netchan_event_destroy(&other);
    other = wait_event(next_importer_event, staying, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(other != NULL);
    CHECK(WAIT_UNTIL(netchan_exporter_stat(exporter, NETCHAN_ENDPOINT_SESSIONS) == 2, 5000));

    netchan_importer_destroy(&leaving);
    ended = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_ENDED, 5000);
    ENSURE(ended != NULL);
    CHECK_EQ_U64(netchan_event_reason_of(ended), NETCHAN_REASON_NONE);
    CHECK(strcmp(netchan_event_peer(ended), netchan_event_peer(connected)) == 0);
    CHECK(strcmp(netchan_event_address(ended), "127.0.0.1") == 0);
    CHECK_EQ_U64(netchan_event_count(ended), 0);
    CHECK(WAIT_UNTIL(netchan_exporter_stat(exporter, NETCHAN_ENDPOINT_SESSIONS) == 1, 5000));
    netchan_event_destroy(&ended);
    /* No LOST follows a graceful end. */
    netchan_event_t *after = NULL;
    CHECK_ERR(netchan_exporter_next_event(exporter, 300, &after), NETCHAN_ETIMEDOUT);
    netchan_event_destroy(&after);

    netchan_exporter_destroy(&exporter);
    ended = wait_event(next_importer_event, staying, NETCHAN_EVENT_ENDED, 5000);
    ENSURE(ended != NULL);
    CHECK(strcmp(netchan_event_peer(ended), netchan_event_peer(other)) == 0);
out:
    netchan_event_destroy(&connected);
    netchan_event_destroy(&other);
    netchan_event_destroy(&ended);
    netchan_importer_destroy(&leaving);
    netchan_importer_destroy(&staying);
    netchan_exporter_destroy(&exporter);
}

/* An importer process killed while values are in flight to it gives LOST with reason CLOSED on
 * the exporter. The event's count is the number of values taken back from it, which the
 * TAKEN_BACK statistic counts too. */
TEST(events_killed_importer_gives_lost)
{
    enum { CAPACITY = 8, TAKE = 5, ACK = 2, TOTAL = 30 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    child_t child = CHILD_INIT;
    netchan_event_t *connected = NULL;
    netchan_event_t *lost = NULL;
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    if (out == NULL || send_points(out, 1, TOTAL, 0) != NETCHAN_OK) {
        CHECK(!"exporting and sending failed");
        goto out;
    }
    if (!start_child_importer(&child, endpoint, "jobs", CAPACITY, TAKE, ACK)) {
        CHECK(!"the child importer did not get ready");
        goto out;
    }
    connected = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(connected != NULL);
    /* The child has TAKE - ACK values taken and unacknowledged, and a full inbox. */
    CHECK(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_IN_FLIGHT) == CAPACITY, 5000));
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_TAKEN_BACK), 0);

    int64_t killed_at = harness_now_ms();
    kill(child.pid, SIGKILL);
    lost = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_LOST, 5000);
    ENSURE(lost != NULL);
    printf("# LOST arrived %" PRId64 " ms after the kill\n", harness_now_ms() - killed_at);
    CHECK_EQ_U64(netchan_event_reason_of(lost), NETCHAN_REASON_CLOSED);
    CHECK(strcmp(netchan_event_peer(lost), netchan_event_peer(connected)) == 0);
    CHECK(strcmp(netchan_event_address(lost), "127.0.0.1") == 0);
    CHECK_EQ_U64(netchan_event_count(lost), CAPACITY);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_TAKEN_BACK), netchan_event_count(lost));
    /* The in-flight gauge is sampled on the engine's next round. */
    CHECK(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_IN_FLIGHT) == 0, 1000));
out:
    netchan_event_destroy(&connected);
    netchan_event_destroy(&lost);
    child_stop(&child);
    netchan_exporter_destroy(&exporter);
}

/* An importer process that freezes (SIGSTOP) stops responding to heartbeats. With a heartbeat
 * timeout of 300 ms the exporter reports LOST with reason TIMEOUT about that long after. */
TEST(events_frozen_importer_gives_timeout)
{
    enum { INTERVAL_MS = 50, TIMEOUT_MS = 300, CAPACITY = 4 };
    netchan_exporter_t *exporter = NULL;
    REQUIRE(netchan_exporter_new(&exporter) == NETCHAN_OK);
    child_t child = CHILD_INIT;
    netchan_event_t *connected = NULL;
    netchan_event_t *lost = NULL;
    char endpoint[ENDPOINT_SIZE];
    CHECK_ERR(netchan_exporter_set_heartbeat(exporter, INTERVAL_MS, TIMEOUT_MS), NETCHAN_OK);
    CHECK_ERR(netchan_exporter_bind(exporter, "tcp://127.0.0.1:*"), NETCHAN_OK);
    CHECK_ERR(netchan_exporter_endpoint(exporter, endpoint, sizeof(endpoint)), NETCHAN_OK);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    if (out == NULL || send_points(out, 1, CAPACITY, 0) != NETCHAN_OK) {
        CHECK(!"exporting and sending failed");
        goto out;
    }
    if (!start_child_importer(&child, endpoint, "jobs", CAPACITY, 0, 0)) {
        CHECK(!"the child importer did not get ready");
        goto out;
    }
    connected = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(connected != NULL);

    int64_t frozen_at = harness_now_ms();
    kill(child.pid, SIGSTOP);
    lost = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_LOST, 5000);
    int64_t elapsed = harness_now_ms() - frozen_at;
    ENSURE(lost != NULL);
    printf("# LOST arrived %" PRId64 " ms after the importer froze\n", elapsed);
    CHECK_EQ_U64(netchan_event_reason_of(lost), NETCHAN_REASON_TIMEOUT);
    CHECK(strcmp(netchan_event_peer(lost), netchan_event_peer(connected)) == 0);
    CHECK_EQ_U64(netchan_event_count(lost), CAPACITY);
    /* The importer's last ping can be up to a quarter of the timeout older than the freeze. */
    CHECK(elapsed >= TIMEOUT_MS - TIMEOUT_MS / 4 - 20);
    CHECK(elapsed <= 3 * TIMEOUT_MS);
out:
    netchan_event_destroy(&connected);
    netchan_event_destroy(&lost);
    child_stop(&child);
    netchan_exporter_destroy(&exporter);
}

/* An exporter process that freezes stops responding to the importer's heartbeats. With an
 * importer heartbeat timeout of 300 ms the importer reports LOST with reason TIMEOUT about that
 * long after. */
TEST(events_frozen_exporter_gives_timeout)
{
    enum { INTERVAL_MS = 50, TIMEOUT_MS = 300 };
    child_t child = CHILD_INIT;
    netchan_importer_t *importer = NULL;
    netchan_event_t *connected = NULL;
    netchan_event_t *lost = NULL;
    char endpoint[ENDPOINT_SIZE];
    if (!start_child_exporter(&child, "tcp://127.0.0.1:*", "jobs", endpoint)) {
        CHECK(!"the child exporter did not start");
        goto out;
    }
    ENSURE(netchan_importer_new(&importer) == NETCHAN_OK);
    CHECK_ERR(netchan_importer_set_heartbeat(importer, INTERVAL_MS, TIMEOUT_MS), NETCHAN_OK);
    CHECK_ERR(netchan_importer_connect(importer, endpoint), NETCHAN_OK);
    netchan_chan_t *in = import_points(importer, "jobs", NETCHAN_RECV, 16);
    CHECK(in != NULL);
    connected = wait_event(next_importer_event, importer, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(connected != NULL);

    int64_t frozen_at = harness_now_ms();
    kill(child.pid, SIGSTOP);
    lost = wait_event(next_importer_event, importer, NETCHAN_EVENT_LOST, 3000);
    int64_t elapsed = harness_now_ms() - frozen_at;
    kill(child.pid, SIGCONT);
    ENSURE(lost != NULL);
    printf("# LOST arrived %" PRId64 " ms after the exporter froze\n", elapsed);
    CHECK_EQ_U64(netchan_event_reason_of(lost), NETCHAN_REASON_TIMEOUT);
    CHECK(strcmp(netchan_event_peer(lost), netchan_event_peer(connected)) == 0);
    CHECK(elapsed <= 3 * TIMEOUT_MS);
out:
    netchan_event_destroy(&connected);
    netchan_event_destroy(&lost);
    netchan_importer_destroy(&importer);
    child_stop(&child);
}

/* A connection that breaks and comes back within the importer's session (the proxy resets it)
 * gives RESUMED on both sides, for the same session and the same exporter instance, and values
 * flow again afterwards. */
TEST(events_reconnect_gives_resumed)
{
    char endpoint[ENDPOINT_SIZE];
    char proxy_endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    netchan_event_t *exporter_connected = NULL;
    netchan_event_t *importer_connected = NULL;
    netchan_event_t *exporter_resumed = NULL;
    netchan_event_t *importer_resumed = NULL;
    faultproxy_t *proxy = faultproxy_start(endpoint);
    if (proxy == NULL) {
        CHECK(!"starting the proxy failed");
        goto out;
    }
    faultproxy_endpoint(proxy, proxy_endpoint, sizeof(proxy_endpoint));
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    importer = start_importer(proxy_endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, 16) : NULL;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel through the proxy failed");
        goto out;
    }
    exporter_connected = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_CONNECTED, 5000);
    importer_connected = wait_event(next_importer_event, importer, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(exporter_connected != NULL);
    ENSURE(importer_connected != NULL);

    faultproxy_set_mode(proxy, FAULTPROXY_RESET);
    faultproxy_set_mode(proxy, FAULTPROXY_PASS);

    exporter_resumed = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_RESUMED, 5000);
    importer_resumed = wait_event(next_importer_event, importer, NETCHAN_EVENT_RESUMED, 5000);
    ENSURE(exporter_resumed != NULL);
    ENSURE(importer_resumed != NULL);
    CHECK(strcmp(netchan_event_peer(exporter_resumed), netchan_event_peer(exporter_connected)) ==
          0);
    CHECK(strcmp(netchan_event_peer(importer_resumed), netchan_event_peer(importer_connected)) ==
          0);
    CHECK(netchan_event_reason_of(importer_resumed) == NETCHAN_REASON_NONE ||
          netchan_event_reason_of(importer_resumed) == NETCHAN_REASON_EXPIRED);
    /* Nothing was in flight, so nothing was taken back. */
    CHECK_EQ_U64(netchan_event_count(exporter_resumed), 0);
    CHECK_EQ_U64(netchan_event_count(importer_resumed), 0);

    CHECK_ERR(send_points(out, 1, 5, 0), NETCHAN_OK);
    for (int expected = 1; expected <= 5; expected++) {
        int x = 0;
        CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK_EQ_U64(x, expected);
    }
out:
    netchan_event_destroy(&exporter_connected);
    netchan_event_destroy(&importer_connected);
    netchan_event_destroy(&exporter_resumed);
    netchan_event_destroy(&importer_resumed);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    faultproxy_stop(&proxy);
}

/* When the exporter process is killed and a new one binds the same port, the importer reports
 * LOST (reason CLOSED) and then CONNECTED with reason RESTART, naming the new instance. */
TEST(events_exporter_restart_gives_restart)
{
    child_t first = CHILD_INIT;
    child_t second = CHILD_INIT;
    netchan_importer_t *importer = NULL;
    netchan_event_t *connected = NULL;
    netchan_event_t *lost = NULL;
    netchan_event_t *restarted = NULL;
    char endpoint[ENDPOINT_SIZE];
    char endpoint_again[ENDPOINT_SIZE];
    if (!start_child_exporter(&first, "tcp://127.0.0.1:*", "jobs", endpoint)) {
        CHECK(!"the first child exporter did not start");
        goto out;
    }
    importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, 16) : NULL;
    if (in == NULL) {
        CHECK(!"importing from the first exporter failed");
        goto out;
    }
    connected = wait_event(next_importer_event, importer, NETCHAN_EVENT_CONNECTED, 5000);
    ENSURE(connected != NULL);
    CHECK_EQ_U64(netchan_event_reason_of(connected), NETCHAN_REASON_NONE);

    kill(first.pid, SIGKILL);
    CHECK_ERR(netchan_importer_next_event(importer, 5000, &lost), NETCHAN_OK);
    ENSURE(lost != NULL);
    print_event("importer", lost);
    CHECK_EQ_U64(netchan_event_type_of(lost), NETCHAN_EVENT_LOST);
    CHECK_EQ_U64(netchan_event_reason_of(lost), NETCHAN_REASON_CLOSED);
    CHECK(strcmp(netchan_event_peer(lost), netchan_event_peer(connected)) == 0);

    if (!start_child_exporter(&second, endpoint, "jobs", endpoint_again)) {
        CHECK(!"the second child exporter did not start on the same port");
        goto out;
    }
    CHECK(strcmp(endpoint, endpoint_again) == 0);
    CHECK_ERR(netchan_importer_next_event(importer, 5000, &restarted), NETCHAN_OK);
    ENSURE(restarted != NULL);
    print_event("importer", restarted);
    CHECK_EQ_U64(netchan_event_type_of(restarted), NETCHAN_EVENT_CONNECTED);
    CHECK_EQ_U64(netchan_event_reason_of(restarted), NETCHAN_REASON_RESTART);
    CHECK(is_hex(netchan_event_peer(restarted), 16));
    CHECK(strcmp(netchan_event_peer(restarted), netchan_event_peer(connected)) != 0);

    /* The channel is bound to the new exporter: a value it sends arrives. */
    CHECK(write(second.input, "send 1\n", 7) == 7);
    int x = 0;
    CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 1);
out:
    netchan_event_destroy(&connected);
    netchan_event_destroy(&lost);
    netchan_event_destroy(&restarted);
    netchan_importer_destroy(&importer);
    child_stop(&first);
    child_stop(&second);
}

/* The exporter's event descriptor is readable exactly while events wait: not before the first
 * one, still after taking one of two, and no longer once the queue is empty. */
TEST(events_exporter_fd_tracks_queue)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *first = NULL;
    netchan_importer_t *second = NULL;
    netchan_event_t *event = NULL;
    int fd = netchan_exporter_event_fd(exporter);
    ENSURE(fd >= 0);
    CHECK(!fd_readable(fd, 0));

    first = start_importer(endpoint);
    ENSURE(first != NULL);
    CHECK(fd_readable(fd, 5000));
    /* The sessions gauge counts the second session after its CONNECTED event was queued. */
    second = start_importer(endpoint);
    ENSURE(second != NULL);
    CHECK(WAIT_UNTIL(netchan_exporter_stat(exporter, NETCHAN_ENDPOINT_SESSIONS) == 2, 5000));
    CHECK(fd_readable(fd, 0));
    CHECK_ERR(netchan_exporter_next_event(exporter, NETCHAN_NOWAIT, &event), NETCHAN_OK);
    netchan_event_destroy(&event);
    CHECK(fd_readable(fd, 0));
    CHECK_ERR(netchan_exporter_next_event(exporter, NETCHAN_NOWAIT, &event), NETCHAN_OK);
    netchan_event_destroy(&event);
    CHECK(!fd_readable(fd, 0));
    CHECK_ERR(netchan_exporter_next_event(exporter, NETCHAN_NOWAIT, &event), NETCHAN_EAGAIN);
    CHECK(event == NULL);

    netchan_importer_destroy(&first);
    CHECK(fd_readable(fd, 5000));
    CHECK_ERR(netchan_exporter_next_event(exporter, NETCHAN_NOWAIT, &event), NETCHAN_OK);
    CHECK(event != NULL);
    CHECK_EQ_U64(netchan_event_type_of(event), NETCHAN_EVENT_ENDED);
    netchan_event_destroy(&event);
    CHECK(!fd_readable(fd, 0));
    /* The same descriptor is returned every time. */
    CHECK(netchan_exporter_event_fd(exporter) == fd);
out:
    netchan_importer_destroy(&first);
    netchan_importer_destroy(&second);
    netchan_exporter_destroy(&exporter);
}

/* The importer's event descriptor follows its queue the same way. */
TEST(events_importer_fd_tracks_queue)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    netchan_event_t *event = NULL;
    ENSURE(netchan_importer_new(&importer) == NETCHAN_OK);
    int fd = netchan_importer_event_fd(importer);
    ENSURE(fd >= 0);
    CHECK(!fd_readable(fd, 0));

    CHECK_ERR(netchan_importer_connect(importer, endpoint), NETCHAN_OK);
    CHECK(fd_readable(fd, 5000));
    CHECK_ERR(netchan_importer_next_event(importer, NETCHAN_NOWAIT, &event), NETCHAN_OK);
    CHECK(event != NULL);
    CHECK_EQ_U64(netchan_event_type_of(event), NETCHAN_EVENT_CONNECTED);
    netchan_event_destroy(&event);
    CHECK(!fd_readable(fd, 0));

    netchan_exporter_destroy(&exporter);
    CHECK(fd_readable(fd, 5000));
    CHECK_ERR(netchan_importer_next_event(importer, NETCHAN_NOWAIT, &event), NETCHAN_OK);
    CHECK(event != NULL);
    CHECK_EQ_U64(netchan_event_type_of(event), NETCHAN_EVENT_ENDED);
out:
    netchan_event_destroy(&event);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* More than 1024 events without a reader: the queue keeps the newest, and an OVERFLOW event
 * counts the older ones it dropped, so that every event is either read or counted. The
 * events are DEAD_LETTER events: each value released by the importer is past its single
 * attempt. */
TEST(events_overflow_counts_dropped)
{
    enum { VALUES = 1100, QUEUE_LIMIT = 1024 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    netchan_options_t *options = netchan_options_new();
    ENSURE(options != NULL);
    CHECK_ERR(netchan_options_set_capacity(options, 2048), NETCHAN_OK);
    CHECK_ERR(netchan_options_set_max_attempts(options, 1), NETCHAN_OK);
    netchan_chan_t *out = NULL;
    CHECK_ERR(netchan_export(exporter, "jobs", NETCHAN_SEND, &netchan__test__point__descriptor,
                             options, &out),
              NETCHAN_OK);
    netchan_options_destroy(&options);
    importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points_with(importer, "jobs", NETCHAN_RECV, 64, true) : NULL;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    CHECK_ERR(send_points(out, 1, VALUES, 0), NETCHAN_OK);
    for (int i = 0; i < VALUES; i++) {
        netchan_msg_t *msg = NULL;
        netchan_err err = recv_point_msg(in, RECV_TIMEOUT_MS, &msg, NULL, NULL);
        CHECK_ERR(err, NETCHAN_OK);
        if (err != NETCHAN_OK) {
            break;
        }
        CHECK_ERR(netchan_msg_release(msg), NETCHAN_OK);
        netchan_msg_destroy(&msg);
    }
    CHECK(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_DEAD_LETTERED) == VALUES, 5000));

    /* One CONNECTED and VALUES DEAD_LETTER events were queued. */
    uint64_t read = 0;
    uint64_t overflow_events = 0;
    uint64_t dropped = 0;
    uint64_t last_seq = 0;
    netchan_event_t *event = NULL;
    while (netchan_exporter_next_event(exporter, NETCHAN_NOWAIT, &event) == NETCHAN_OK) {
        read++;
        if (netchan_event_type_of(event) == NETCHAN_EVENT_OVERFLOW) {
            print_event("exporter", event);
            overflow_events++;
            dropped += netchan_event_count(event);
        } else if (netchan_event_type_of(event) == NETCHAN_EVENT_DEAD_LETTER) {
            last_seq = netchan_event_count(event);
        }
        netchan_event_destroy(&event);
    }
    printf("# read %" PRIu64 " events, %" PRIu64 " of them OVERFLOW reporting %" PRIu64
           " dropped\n",
           read, overflow_events, dropped);
    CHECK(read <= QUEUE_LIMIT);
    CHECK(overflow_events >= 1);
    CHECK_EQ_U64(read - overflow_events + dropped, VALUES + 1);
    /* The newest event survives. */
    CHECK_EQ_U64(last_seq, VALUES);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

int main(int argc, char **argv)
{
    features_child_main(argc, argv);
    RUN(events_connected_names_session);
    RUN(events_graceful_end_gives_ended);
    RUN(events_killed_importer_gives_lost);
    RUN(events_frozen_importer_gives_timeout);
    RUN(events_frozen_exporter_gives_timeout);
    RUN(events_reconnect_gives_resumed);
    RUN(events_exporter_restart_gives_restart);
    RUN(events_exporter_fd_tracks_queue);
    RUN(events_importer_fd_tracks_queue);
    RUN(events_overflow_counts_dropped);
    return harness_done();
}
