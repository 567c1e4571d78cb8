/* Integration tests of importers replaced within one process: an importer that ends gracefully
 * hands back what its application had not taken, and the next importer continues the stream
 * with nothing lost, nothing duplicated and nothing out of order. */
#include "rawpeer.h"

/* Takes count Points, checks that x runs from first and stores the delivery attempts of each
 * in attempts (may be NULL). Returns the number received in order. */
static int take_in_order(netchan_chan_t *in, int first, int count, uint32_t *attempts)
{
    for (int i = 0; i < count; i++) {
        netchan_msg_t *msg = NULL;
        int x = 0;
        uint32_t tries = 0;
        netchan_err err = recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, &tries);
        if (err != NETCHAN_OK) {
            printf("# receive of x=%d failed: %s\n", first + i, netchan_strerror(err));
            return i;
        }
        netchan_msg_destroy(&msg);
        if (x != first + i) {
            printf("# expected x=%d, got %d\n", first + i, x);
            return i;
        }
        if (attempts != NULL) {
            attempts[i] = tries;
        }
    }
    return count;
}

TEST(restart_importer_takes_the_rest)
{
    enum { COUNT = 200, TAKEN = 50, CAPACITY = 16 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 1024);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, CAPACITY) : NULL;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    CHECK_ERR(netchan_close(out), NETCHAN_OK);
    CHECK_EQ_U64(take_in_order(in, 1, TAKEN, NULL), TAKEN);
    /* The importer's inbox is full of values it never hands to the application. */
    CHECK(WAIT_UNTIL(netchan_pending(in) == CAPACITY, 5000));
    netchan_importer_destroy(&importer);
    CHECK(WAIT_UNTIL(netchan_pending(out) == COUNT - TAKEN, 5000));

    importer = start_importer(endpoint);
    in = importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, CAPACITY) : NULL;
    if (in == NULL) {
        CHECK(!"importing again failed");
        goto out;
    }
    CHECK_EQ_U64(take_in_order(in, TAKEN + 1, COUNT - TAKEN, NULL), COUNT - TAKEN);
    CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, NULL, NULL), NETCHAN_ECLOSED);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* Values handed back unseen by a graceful end did not reach an application, so their next
 * delivery counts as the first attempt. */
TEST(restart_returned_values_first_attempt)
{
    enum { COUNT = 40, TAKEN = 5, CAPACITY = 10 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, CAPACITY) : NULL;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    CHECK_EQ_U64(take_in_order(in, 1, TAKEN, NULL), TAKEN);
    CHECK(WAIT_UNTIL(netchan_pending(in) == CAPACITY, 5000));
    netchan_importer_destroy(&importer);

    importer = start_importer(endpoint);
    in = importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, CAPACITY) : NULL;
    if (in == NULL) {
        CHECK(!"importing again failed");
        goto out;
    }
    uint32_t attempts[COUNT] = {0};
    CHECK_EQ_U64(take_in_order(in, TAKEN + 1, COUNT - TAKEN, attempts), COUNT - TAKEN);
    int repeated = 0;
    for (int i = 0; i < COUNT - TAKEN; i++) {
        if (attempts[i] != 1) {
            printf("# x=%d arrived with attempts %u\n", TAKEN + 1 + i, attempts[i]);
            repeated++;
        }
    }
    CHECK_EQ_U64(repeated, 0);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* With explicit acknowledgement, values the application took but never acknowledged are
 * redelivered to the next importer, marked with a second attempt, before any newer value. */
TEST(restart_unacked_values_redelivered)
{
    enum { COUNT = 30, TAKEN = 10, ACKED = 7, CAPACITY = 12 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in = importer != NULL
                             ? import_points_with(importer, "jobs", NETCHAN_RECV, CAPACITY, true)
                             : NULL;
    netchan_msg_t *msgs[TAKEN] = {0};
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    for (int i = 0; i < TAKEN; i++) {
        int x = 0;
        CHECK_ERR(recv_point_msg(in, RECV_TIMEOUT_MS, &msgs[i], &x, NULL), NETCHAN_OK);
        CHECK(x == i + 1);
    }
    for (int i = 0; i < ACKED; i++) {
        CHECK_ERR(netchan_msg_ack(msgs[i]), NETCHAN_OK);
    }
    CHECK(WAIT_UNTIL(netchan_pending(out) == COUNT - ACKED, 5000));
    /* Wait until the values in flight have arrived, so that every value the importer holds
     * when it ends is either taken or in its inbox. Values still on the wire when an importer
     * ends count as an attempt, because the exporter cannot tell whether they arrived. */
    CHECK(WAIT_UNTIL(netchan_pending(in) == CAPACITY - (TAKEN - ACKED), 5000));
    /* Releasing an unacknowledged message leaves its value pending at the sender. */
    for (int i = 0; i < TAKEN; i++) {
        netchan_msg_destroy(&msgs[i]);
    }
    netchan_importer_destroy(&importer);

    importer = start_importer(endpoint);
    in = importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, CAPACITY) : NULL;
    if (in == NULL) {
        CHECK(!"importing again failed");
        goto out;
    }
    uint32_t attempts[COUNT] = {0};
    CHECK_EQ_U64(take_in_order(in, ACKED + 1, COUNT - ACKED, attempts), COUNT - ACKED);
    for (int i = 0; i < COUNT - ACKED; i++) {
        int x = ACKED + 1 + i;
        uint32_t expected = x <= TAKEN ? 2 : 1;
        if (attempts[i] != expected) {
            printf("# x=%d arrived with attempts %u, expected %u\n", x, attempts[i], expected);
            CHECK(attempts[i] == expected);
        }
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    for (int i = 0; i < TAKEN; i++) {
        netchan_msg_destroy(&msgs[i]);
    }
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* Five importers one after another each take a share of one stream. */
TEST(restart_many_importers_in_turn)
{
    enum { COUNT = 100, ROUNDS = 5, CAPACITY = 8 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 128);
    REQUIRE(out != NULL);
    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    CHECK_ERR(netchan_close(out), NETCHAN_OK);

    int next = 1;
    for (int round = 0; round < ROUNDS; round++) {
        netchan_importer_t *importer = start_importer(endpoint);
        netchan_chan_t *in =
            importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, CAPACITY) : NULL;
        if (in == NULL) {
            CHECK(!"importing failed");
            netchan_importer_destroy(&importer);
            break;
        }
        int share = COUNT / ROUNDS;
        CHECK_EQ_U64(take_in_order(in, next, share, NULL), share);
        next += share;
        if (round == ROUNDS - 1) {
            CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, NULL, NULL), NETCHAN_ECLOSED);
        }
        netchan_importer_destroy(&importer);
    }
    CHECK_EQ_U64(next, COUNT + 1);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    netchan_exporter_destroy(&exporter);
}

/* Importers one after another send, drain and end gracefully. The exporter's receiving
 * channel gets every value once, in order. */
TEST(restart_sending_importers_in_turn)
{
    enum { ROUNDS = 4, EACH = 25 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *in = export_points(exporter, "uploads", NETCHAN_RECV, 256);
    REQUIRE(in != NULL);
    for (int round = 0; round < ROUNDS; round++) {
        netchan_importer_t *importer = start_importer(endpoint);
        netchan_chan_t *out =
            importer != NULL ? import_points(importer, "uploads", NETCHAN_SEND, 64) : NULL;
        if (out == NULL) {
            CHECK(!"importing failed");
            netchan_importer_destroy(&importer);
            break;
        }
        CHECK_ERR(send_points(out, round * EACH + 1, (round + 1) * EACH, round), NETCHAN_OK);
        /* The exporter takes as the importer sends, so drain can finish. */
        for (int x = round * EACH + 1; x <= (round + 1) * EACH; x++) {
            int got = 0;
            CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &got, NULL), NETCHAN_OK);
            CHECK(got == x);
        }
        CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
        netchan_importer_destroy(&importer);
    }
    CHECK_ERR(recv_point(in, 100, NULL, NULL), NETCHAN_ETIMEDOUT);
    netchan_exporter_destroy(&exporter);
}

/* A receiver that closes its channel must unbind before it hands its untaken values back,
 * because the sender may send handed-back values again to any link still bound. Values in
 * flight to an importer that then ends count as a delivery attempt. A raw ROUTER plays the
 * exporter and records the order of the frames. */
TEST(restart_close_unbinds_before_returning)
{
    enum { COUNT = 8 };
    raw_peer_t peer;
    REQUIRE(raw_open(&peer, ZMQ_ROUTER, 100));
    REQUIRE(zmq_bind(peer.socket, "tcp://127.0.0.1:*") == 0);
    char endpoint[ENDPOINT_SIZE];
    size_t size = sizeof(endpoint);
    REQUIRE(zmq_getsockopt(peer.socket, ZMQ_LAST_ENDPOINT, endpoint, &size) == 0);
    raw_import_t call = {start_importer(endpoint), "jobs", COUNT, false, NULL};
    REQUIRE(call.importer != NULL);
    pthread_t thread;
    bool joined = false;
    REQUIRE(pthread_create(&thread, NULL, raw_import_main, &call) == 0);

    int errors = 0;
    Netchan__Wire__Frame *hello = raw_expect(&peer, NETCHAN__WIRE__FRAME__BODY_HELLO, 5000, NULL);
    if (hello == NULL) {
        CHECK(!"no Hello from the importer");
        goto out;
    }
    CHECK(raw_welcome(&peer, 0x55, hello->hello->connection, false, false));
    nc_frame_free(hello);
    Netchan__Wire__Frame *bind = raw_expect_bind(&peer, &errors);
    if (bind == NULL) {
        CHECK(!"no Bind from the importer");
        goto out;
    }
    uint32_t link = bind->bind->link;
    uint32_t epoch = bind->bind->epoch;
    nc_frame_free(bind);
    CHECK(raw_bound(&peer, link, epoch));
    pthread_join(thread, NULL);
    joined = true;
    if (call.chan == NULL) {
        CHECK(!"the import failed");
        goto out;
    }

    CHECK(raw_send_points_in_epoch(&peer, link, epoch, 1, COUNT));
    CHECK(WAIT_UNTIL(netchan_pending(call.chan) == COUNT, 5000));
    CHECK_ERR(netchan_close(call.chan), NETCHAN_OK);

    /* Frame positions after the close: the Unbind, and the Ack that hands values back. */
    int position = 0;
    int unbind_at = -1;
    int returned_at = -1;
    uint64_t returned = 0;
    int64_t deadline = harness_now_ms() + 2000;
    while ((unbind_at < 0 || returned < COUNT) && harness_now_ms() < deadline) {
        Netchan__Wire__Frame *frame = raw_recv_frame(&peer);
        if (frame == NULL) {
            continue;
        }
        position++;
        if (frame->body_case == NETCHAN__WIRE__FRAME__BODY_UNBIND && frame->unbind->link == link &&
            unbind_at < 0) {
            unbind_at = position;
        }
        if (frame->body_case == NETCHAN__WIRE__FRAME__BODY_ACK && frame->ack->n_returned > 0) {
            if (returned_at < 0) {
                returned_at = position;
            }
            for (size_t i = 0; i < frame->ack->n_returned; i++) {
                returned += frame->ack->returned[i]->last - frame->ack->returned[i]->first + 1;
            }
        }
        nc_frame_free(frame);
    }
    printf("# after the close: Unbind at frame %d, the first returning Ack at frame %d\n",
           unbind_at, returned_at);
    CHECK_EQ_U64(returned, COUNT);
    CHECK(unbind_at > 0);
    CHECK(returned_at > 0);
    CHECK(unbind_at < returned_at);
out:
    if (!joined) {
        pthread_join(thread, NULL);
    }
    netchan_importer_destroy(&call.importer);
    raw_close(&peer);
}

int main(void)
{
    RUN(restart_importer_takes_the_rest);
    RUN(restart_returned_values_first_attempt);
    RUN(restart_unacked_values_redelivered);
    RUN(restart_many_importers_in_turn);
    RUN(restart_sending_importers_in_turn);
    RUN(restart_close_unbinds_before_returning);
    return harness_done();
}
