/* Feature tests of statistics: the per-channel counters on both sides of a channel after
 * ordinary traffic, a killed receiver, a reconnect with duplicates and rejected values, the
 * names of the statistics, and the exporter's endpoint counters. */
#include "feature_support.h"

#include <zmq.h>

#include "faultproxy.h"

/* Prints every statistic of chan, so that a failing check shows the whole picture. */
static void print_stats(const char *side, netchan_chan_t *chan)
{
    printf("# %s '%s':", side, netchan_chan_name(chan));
    for (int stat = NETCHAN_STAT_SENT; stat <= NETCHAN_STAT_TAKEN_BACK; stat++) {
        printf(" %s=%" PRIu64, netchan_stat_name((netchan_stat)stat),
               netchan_chan_stat(chan, (netchan_stat)stat));
    }
    printf("\n");
}

/* Exporter sends, importer receives. While the importer takes nothing, its capacity is in
 * flight at the sender and pending at the receiver. After it took everything, every counter on
 * both sides matches the values sent. */
TEST(stats_exported_send_both_sides)
{
    enum { COUNT = 40, CAPACITY = 8 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, CAPACITY) : NULL;
    ENSURE(out != NULL);
    ENSURE(in != NULL);
    /* Both gauges follow the bind within an engine round. */
    CHECK(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_IMPORTERS) == 1, 5000));
    CHECK(WAIT_UNTIL(netchan_chan_stat(in, NETCHAN_STAT_IMPORTERS) == 1, 5000));

    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    CHECK(WAIT_UNTIL(netchan_chan_stat(in, NETCHAN_STAT_PENDING) == CAPACITY, 5000));
    CHECK(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_IN_FLIGHT) == CAPACITY, 5000));
    print_stats("exporter", out);
    print_stats("importer", in);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_SENT), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_DELIVERED), CAPACITY);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_PENDING), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_ACKNOWLEDGED), 0);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_RECEIVED), CAPACITY);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_TAKEN), 0);

    for (int expected = 1; expected <= COUNT; expected++) {
        int x = 0;
        CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK_EQ_U64(x, expected);
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_ERR(netchan_drain(in, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_IN_FLIGHT) == 0, 5000));
    print_stats("exporter", out);
    print_stats("importer", in);

    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_SENT), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_DELIVERED), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_ACKNOWLEDGED), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_REDELIVERED), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_REJECTED), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_DEAD_LETTERED), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_TAKEN_BACK), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_IMPORTERS), 1);

    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_RECEIVED), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_TAKEN), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_ACKNOWLEDGED), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_RETURNED), 0);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_REJECTED), 0);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_DUPLICATES), 0);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_IMPORTERS), 1);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* Importer sends, exporter receives: the same counters, with the roles swapped. */
TEST(stats_exported_recv_both_sides)
{
    enum { COUNT = 40 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *in = export_points(exporter, "up", NETCHAN_RECV, 64);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = importer != NULL ? import_points(importer, "up", NETCHAN_SEND, 64) : NULL;
    ENSURE(out != NULL);
    ENSURE(in != NULL);

    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    for (int expected = 1; expected <= COUNT; expected++) {
        int x = 0;
        CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK_EQ_U64(x, expected);
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_ERR(netchan_drain(in, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_IN_FLIGHT) == 0, 5000));
    CHECK(WAIT_UNTIL(netchan_chan_stat(in, NETCHAN_STAT_IMPORTERS) == 1, 5000));
    print_stats("importer", out);
    print_stats("exporter", in);

    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_SENT), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_DELIVERED), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_ACKNOWLEDGED), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_REDELIVERED), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_IMPORTERS), 1);

    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_RECEIVED), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_TAKEN), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_ACKNOWLEDGED), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_DUPLICATES), 0);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_IMPORTERS), 1);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* A receiver process is killed while values are in flight to it. The sender takes them back
 * and redelivers them to the next importer, and the counters show it. The child takes TAKE
 * values, acknowledges ACK of them and has CAPACITY values unacknowledged when it dies. */
TEST(stats_killed_receiver_counts_redelivery)
{
    enum { CAPACITY = 8, TAKE = 5, ACK = 2, TOTAL = 30 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    child_t child = CHILD_INIT;
    netchan_importer_t *importer = NULL;
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    ENSURE(out != NULL);
    CHECK_ERR(send_points(out, 1, TOTAL, 0), NETCHAN_OK);
    ENSURE(start_child_importer(&child, endpoint, "jobs", CAPACITY, TAKE, ACK));
    CHECK(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_IN_FLIGHT) == CAPACITY, 5000));
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_DELIVERED), ACK + CAPACITY);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_ACKNOWLEDGED), ACK);

    kill(child.pid, SIGKILL);
    CHECK(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_TAKEN_BACK) == CAPACITY, 5000));
    CHECK(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_IMPORTERS) == 0, 5000));

    importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, 64) : NULL;
    ENSURE(in != NULL);
    for (int expected = ACK + 1; expected <= TOTAL; expected++) {
        netchan_msg_t *msg = NULL;
        int x = 0;
        uint32_t attempts = 0;
        netchan_err err = recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, &attempts);
        CHECK_ERR(err, NETCHAN_OK);
        if (err != NETCHAN_OK) {
            break;
        }
        CHECK_EQ_U64(x, expected);
        CHECK_EQ_U64(attempts, expected <= ACK + CAPACITY ? 2 : 1);
        netchan_msg_destroy(&msg);
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_IN_FLIGHT) == 0, 5000));
    print_stats("exporter", out);
    print_stats("importer", in);

    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_SENT), TOTAL);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_DELIVERED), TOTAL + CAPACITY);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_REDELIVERED), CAPACITY);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_TAKEN_BACK), CAPACITY);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_ACKNOWLEDGED), TOTAL);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_IMPORTERS), 1);

    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_RECEIVED), TOTAL - ACK);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_TAKEN), TOTAL - ACK);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_DUPLICATES), 0);
out:
    child_stop(&child);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* An importer that took values without acknowledging them loses its connection (the proxy
 * resets it) and comes back within its session: the exporter sends those values again, and
 * the importer drops them as duplicates instead of delivering them twice. */
TEST(stats_reconnect_counts_duplicates)
{
    enum { COUNT = 3, CAPACITY = 4 };
    char endpoint[ENDPOINT_SIZE];
    char proxy_endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    netchan_msg_t *msgs[COUNT] = {0};
    netchan_event_t *resumed = NULL;
    faultproxy_t *proxy = faultproxy_start(endpoint);
    ENSURE(proxy != NULL);
    faultproxy_endpoint(proxy, proxy_endpoint, sizeof(proxy_endpoint));
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    importer = start_importer(proxy_endpoint);
    netchan_chan_t *in = importer != NULL
                             ? import_points_with(importer, "jobs", NETCHAN_RECV, CAPACITY, true)
                             : NULL;
    ENSURE(out != NULL);
    ENSURE(in != NULL);
    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    for (int i = 0; i < COUNT; i++) {
        int x = 0;
        CHECK_ERR(recv_point_msg(in, RECV_TIMEOUT_MS, &msgs[i], &x, NULL), NETCHAN_OK);
        CHECK_EQ_U64(x, i + 1);
    }

    faultproxy_set_mode(proxy, FAULTPROXY_RESET);
    faultproxy_set_mode(proxy, FAULTPROXY_PASS);
    resumed = wait_event(next_importer_event, importer, NETCHAN_EVENT_RESUMED, 5000);
    CHECK(resumed != NULL);
    CHECK(WAIT_UNTIL(netchan_chan_stat(in, NETCHAN_STAT_DUPLICATES) == COUNT, 5000));
    /* The application does not get them a second time. */
    netchan_msg_t *again = NULL;
    CHECK_ERR(netchan_recv_msg(in, 200, &again), NETCHAN_ETIMEDOUT);
    netchan_msg_destroy(&again);

    for (int i = 0; i < COUNT; i++) {
        if (msgs[i] != NULL) {
            CHECK_ERR(netchan_msg_ack(msgs[i]), NETCHAN_OK);
        }
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    print_stats("exporter", out);
    print_stats("importer", in);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_RECEIVED), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_TAKEN), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_DUPLICATES), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_ACKNOWLEDGED), COUNT);
out:
    for (int i = 0; i < COUNT; i++) {
        netchan_msg_destroy(&msgs[i]);
    }
    netchan_event_destroy(&resumed);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    faultproxy_stop(&proxy);
}

/* A value larger than the receiver's maximum value size is rejected: the sender counts it,
 * its drain returns NETCHAN_EREJECTED, and the other values arrive. */
TEST(stats_too_large_counts_rejected)
{
    enum { MAX_SIZE = 64 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    netchan_options_t *options = NULL;
    netchan_chan_t *out = NULL;
    netchan_chan_t *in = NULL;
    CHECK_ERR(netchan_export_bytes(exporter, "blobs", NETCHAN_SEND, NULL, NULL, NULL, &out),
              NETCHAN_OK);
    options = netchan_options_new();
    ENSURE(options != NULL);
    CHECK_ERR(netchan_options_set_max_value_size(options, MAX_SIZE), NETCHAN_OK);
    importer = start_importer(endpoint);
    ENSURE(importer != NULL);
    CHECK_ERR(netchan_import_bytes(importer, "blobs", NETCHAN_RECV, NULL, NULL, options,
                                   IMPORT_TIMEOUT_MS, &in),
              NETCHAN_OK);
    ENSURE(out != NULL);
    ENSURE(in != NULL);

    static const uint8_t big[200] = {1};
    static const uint8_t small[10] = {2};
    CHECK_ERR(netchan_send_bytes(out, small, sizeof(small), RECV_TIMEOUT_MS), NETCHAN_OK);
    CHECK_ERR(netchan_send_bytes(out, big, sizeof(big), RECV_TIMEOUT_MS), NETCHAN_OK);
    CHECK_ERR(netchan_send_bytes(out, small, sizeof(small), RECV_TIMEOUT_MS), NETCHAN_OK);
    for (int i = 0; i < 2; i++) {
        netchan_msg_t *msg = NULL;
        CHECK_ERR(netchan_recv_msg(in, RECV_TIMEOUT_MS, &msg), NETCHAN_OK);
        CHECK_EQ_U64(netchan_msg_size(msg), sizeof(small));
        netchan_msg_destroy(&msg);
    }
    netchan_msg_t *extra = NULL;
    CHECK_ERR(netchan_recv_msg(in, 200, &extra), NETCHAN_ETIMEDOUT);
    netchan_msg_destroy(&extra);

    uint64_t pending = 99;
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, &pending), NETCHAN_EREJECTED);
    CHECK_EQ_U64(pending, 0);
    printf("# sender error: %s\n", netchan_chan_error(out));
    CHECK(strstr(netchan_chan_error(out), "blobs") != NULL);
    print_stats("exporter", out);
    print_stats("importer", in);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_SENT), 3);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_REJECTED), 1);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_ACKNOWLEDGED), 2);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_RECEIVED), 2);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_TAKEN), 2);
out:
    netchan_options_destroy(&options);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* netchan_recv() rejects a value that does not decode as the receiver's type and goes on to the
 * next value. The receiver counts it as rejected and not as taken. The sender counts it as
 * rejected, and its drain returns NETCHAN_EREJECTED. The sender is a bytes
 * channel that names the Point type without a fingerprint, so it can send any bytes. */
TEST(stats_undecodable_counts_rejected)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    netchan_chan_t *out = NULL;
    CHECK_ERR(netchan_export_bytes(exporter, "points", NETCHAN_SEND,
                                   netchan__test__point__descriptor.name, NULL, NULL, &out),
              NETCHAN_OK);
    importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "points", NETCHAN_RECV, 16) : NULL;
    ENSURE(out != NULL);
    ENSURE(in != NULL);

    uint8_t packed[64];
    Netchan__Test__Point point = NETCHAN__TEST__POINT__INIT;
    point.x = 1;
    point.label = "p1";
    size_t size = protobuf_c_message_pack(&point.base, packed);
    /* Field 1 as a varint whose last byte is missing. */
    static const uint8_t truncated[] = {0x08, 0x80};
    CHECK_ERR(netchan_send_bytes(out, packed, size, RECV_TIMEOUT_MS), NETCHAN_OK);
    CHECK_ERR(netchan_send_bytes(out, truncated, sizeof(truncated), RECV_TIMEOUT_MS), NETCHAN_OK);
    point.x = 2;
    point.label = "p2";
    size = protobuf_c_message_pack(&point.base, packed);
    CHECK_ERR(netchan_send_bytes(out, packed, size, RECV_TIMEOUT_MS), NETCHAN_OK);

    int x = 0;
    CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 1);
    CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 2);
    CHECK_ERR(recv_point(in, 200, NULL, NULL), NETCHAN_ETIMEDOUT);

    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_EREJECTED);
    CHECK_ERR(netchan_drain(in, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    printf("# sender error: %s\n", netchan_chan_error(out));
    print_stats("exporter", out);
    print_stats("importer", in);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_REJECTED), 1);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_ACKNOWLEDGED), 2);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_RECEIVED), 3);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_REJECTED), 1);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_TAKEN), 2);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_ACKNOWLEDGED), 2);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* On an explicit-acknowledgement receiver, values released or returned by the application are
 * counted as returned, and values it acknowledged as acknowledged. */
TEST(stats_receiver_counts_returned)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points_with(importer, "jobs", NETCHAN_RECV, 16, true) : NULL;
    ENSURE(out != NULL);
    ENSURE(in != NULL);
    /* Value 1 is released and value 2 returned; each comes back and is acknowledged. Each
     * is sent only after the one before was settled, so that it is the next to arrive. */
    netchan_msg_t *msg = NULL;
    int x = 0;
    CHECK_ERR(send_points(out, 1, 1, 0), NETCHAN_OK);
    CHECK_ERR(recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 1);
    CHECK_ERR(netchan_msg_release(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);
    CHECK_ERR(recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 1);
    CHECK_ERR(netchan_msg_ack(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);
    CHECK_ERR(send_points(out, 2, 2, 0), NETCHAN_OK);
    CHECK_ERR(recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 2);
    CHECK_ERR(netchan_msg_return(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);
    CHECK_ERR(recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 2);
    CHECK_ERR(netchan_msg_ack(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);

    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_ERR(netchan_drain(in, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    print_stats("exporter", out);
    print_stats("importer", in);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_RECEIVED), 4);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_TAKEN), 4);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_RETURNED), 2);
    CHECK_EQ_U64(netchan_chan_stat(in, NETCHAN_STAT_ACKNOWLEDGED), 2);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_DELIVERED), 4);
    /* At least the released value; whether a returned value's second delivery counts is not
     * pinned down by the header. */
    CHECK(netchan_chan_stat(out, NETCHAN_STAT_REDELIVERED) >= 1);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_ACKNOWLEDGED), 2);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* netchan_chan_stat() returns 0 for a statistic that does not apply to the channel: the
 * sending-only ones on a receiver and the receiving-only ones on a sender, after traffic that
 * moved every counter of the other side. */
TEST(stats_other_side_reads_zero)
{
    static const netchan_stat sender_only[] = {NETCHAN_STAT_SENT,          NETCHAN_STAT_DELIVERED,
                                               NETCHAN_STAT_REDELIVERED,   NETCHAN_STAT_TAKEN_BACK,
                                               NETCHAN_STAT_DEAD_LETTERED, NETCHAN_STAT_IN_FLIGHT};
    /* RETURNED applies to both sides: values handed back, and values received back. */
    static const netchan_stat receiver_only[] = {NETCHAN_STAT_RECEIVED, NETCHAN_STAT_TAKEN,
                                                 NETCHAN_STAT_DUPLICATES};
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points_with(importer, "jobs", NETCHAN_RECV, 16, true) : NULL;
    ENSURE(out != NULL);
    ENSURE(in != NULL);

    CHECK_ERR(send_points(out, 1, 3, 0), NETCHAN_OK);
    for (int i = 0; i < 4; i++) {
        netchan_msg_t *msg = NULL;
        int x = 0;
        CHECK_ERR(recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, NULL), NETCHAN_OK);
        /* The first value is returned once, the others acknowledged. */
        if (i == 0) {
            CHECK_ERR(netchan_msg_return(msg), NETCHAN_OK);
        } else {
            CHECK_ERR(netchan_msg_ack(msg), NETCHAN_OK);
        }
        netchan_msg_destroy(&msg);
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_ERR(netchan_drain(in, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    print_stats("exporter", out);
    print_stats("importer", in);

    for (size_t i = 0; i < sizeof(sender_only) / sizeof(sender_only[0]); i++) {
        if (netchan_chan_stat(in, sender_only[i]) != 0) {
            printf("# receiver reports %s\n", netchan_stat_name(sender_only[i]));
            CHECK(netchan_chan_stat(in, sender_only[i]) == 0);
        }
    }
    for (size_t i = 0; i < sizeof(receiver_only) / sizeof(receiver_only[0]); i++) {
        if (netchan_chan_stat(out, receiver_only[i]) != 0) {
            printf("# sender reports %s\n", netchan_stat_name(receiver_only[i]));
            CHECK(netchan_chan_stat(out, receiver_only[i]) == 0);
        }
    }
    /* Values outside the enumeration read 0 too. */
    CHECK_EQ_U64(netchan_chan_stat(out, (netchan_stat)0), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, (netchan_stat)15), 0);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* Every statistic has its documented snake-case name; values outside the enumeration have
 * none. */
TEST(stats_names_cover_every_stat)
{
    static const struct {
        netchan_stat stat;
        const char *name;
    } names[] = {
        {NETCHAN_STAT_SENT, "sent"},
        {NETCHAN_STAT_DELIVERED, "delivered"},
        {NETCHAN_STAT_ACKNOWLEDGED, "acknowledged"},
        {NETCHAN_STAT_REDELIVERED, "redelivered"},
        {NETCHAN_STAT_PENDING, "pending"},
        {NETCHAN_STAT_REJECTED, "rejected"},
        {NETCHAN_STAT_IMPORTERS, "importers"},
        {NETCHAN_STAT_IN_FLIGHT, "in_flight"},
        {NETCHAN_STAT_RECEIVED, "received"},
        {NETCHAN_STAT_TAKEN, "taken"},
        {NETCHAN_STAT_RETURNED, "returned"},
        {NETCHAN_STAT_DUPLICATES, "duplicates"},
        {NETCHAN_STAT_DEAD_LETTERED, "dead_lettered"},
        {NETCHAN_STAT_TAKEN_BACK, "taken_back"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *name = netchan_stat_name(names[i].stat);
        if (name == NULL || strcmp(name, names[i].name) != 0) {
            printf("# stat %d is named '%s', expected '%s'\n", (int)names[i].stat,
                   name != NULL ? name : "(null)", names[i].name);
            CHECK(!"a statistic has the wrong name");
        }
    }
    CHECK(netchan_stat_name((netchan_stat)0) == NULL);
    CHECK(netchan_stat_name((netchan_stat)15) == NULL);
}

/* The exporter counts the importer sessions connected now, and frames it ignored as
 * malformed; a malformed frame costs the connected importer nothing. */
TEST(stats_exporter_endpoint_counts)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *first = NULL;
    netchan_importer_t *second = NULL;
    void *context = NULL;
    void *socket = NULL;
    CHECK_EQ_U64(netchan_exporter_stat(exporter, NETCHAN_ENDPOINT_SESSIONS), 0);
    CHECK_EQ_U64(netchan_exporter_stat(exporter, NETCHAN_ENDPOINT_PROTOCOL_ERRORS), 0);

    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    first = start_importer(endpoint);
    second = start_importer(endpoint);
    netchan_chan_t *in = first != NULL ? import_points(first, "jobs", NETCHAN_RECV, 16) : NULL;
    ENSURE(out != NULL);
    ENSURE(in != NULL);
    ENSURE(second != NULL);
    CHECK(WAIT_UNTIL(netchan_exporter_stat(exporter, NETCHAN_ENDPOINT_SESSIONS) == 2, 5000));

    /* A plain DEALER that sends bytes which are not a netchan frame. */
    context = zmq_ctx_new();
    ENSURE(context != NULL);
    socket = zmq_socket(context, ZMQ_DEALER);
    ENSURE(socket != NULL);
    int zero = 0;
    zmq_setsockopt(socket, ZMQ_LINGER, &zero, sizeof(zero));
    ENSURE(zmq_connect(socket, endpoint) == 0);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    CHECK(zmq_send(socket, garbage, sizeof(garbage), 0) == (int)sizeof(garbage));
    CHECK(WAIT_UNTIL(netchan_exporter_stat(exporter, NETCHAN_ENDPOINT_PROTOCOL_ERRORS) == 1, 5000));
    CHECK_EQ_U64(netchan_exporter_stat(exporter, NETCHAN_ENDPOINT_SESSIONS), 2);
    CHECK_EQ_U64(netchan_exporter_stat(exporter, NETCHAN_ENDPOINT_REFUSED), 0);

    CHECK_ERR(send_points(out, 1, 3, 0), NETCHAN_OK);
    for (int expected = 1; expected <= 3; expected++) {
        int x = 0;
        CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK_EQ_U64(x, expected);
    }

    netchan_importer_destroy(&second);
    CHECK(WAIT_UNTIL(netchan_exporter_stat(exporter, NETCHAN_ENDPOINT_SESSIONS) == 1, 5000));
    netchan_importer_destroy(&first);
    CHECK(WAIT_UNTIL(netchan_exporter_stat(exporter, NETCHAN_ENDPOINT_SESSIONS) == 0, 5000));
    /* Values outside the enumeration read 0. */
    CHECK_EQ_U64(netchan_exporter_stat(exporter, (netchan_endpoint_stat)0), 0);
    CHECK_EQ_U64(netchan_exporter_stat(exporter, (netchan_endpoint_stat)4), 0);
out:
    if (socket != NULL) {
        zmq_close(socket);
    }
    if (context != NULL) {
        zmq_ctx_term(context);
    }
    netchan_importer_destroy(&first);
    netchan_importer_destroy(&second);
    netchan_exporter_destroy(&exporter);
}

int main(int argc, char **argv)
{
    features_child_main(argc, argv);
    RUN(stats_exported_send_both_sides);
    RUN(stats_exported_recv_both_sides);
    RUN(stats_killed_receiver_counts_redelivery);
    RUN(stats_reconnect_counts_duplicates);
    RUN(stats_too_large_counts_rejected);
    RUN(stats_undecodable_counts_rejected);
    RUN(stats_receiver_counts_returned);
    RUN(stats_other_side_reads_zero);
    RUN(stats_names_cover_every_stat);
    RUN(stats_exporter_endpoint_counts);
    return harness_done();
}
