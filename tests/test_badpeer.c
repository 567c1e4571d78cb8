/* Integration tests of an exporter facing a raw ZeroMQ peer that breaks the protocol: garbage,
 * truncated and oversized frames, frames for links it never bound, undecodable values and
 * values beyond its credit. A real importer on the same exporter must lose nothing, and the
 * exporter must keep serving. */
#include "rawpeer.h"

static const uint8_t raw_session[NC_SESSION_ID_SIZE] = {0x81, 0x42, 3,  4,  5,  6,  7,  8,
                                                        9,    10,   11, 12, 13, 14, 15, 16};

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
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
    netchan_close(sender->chan);
    return NULL;
}

typedef struct stream_receiver {
    netchan_chan_t *chan;
    int received;     /* values that arrived in order from x=1 */
    int out_of_order; /* values that did not continue the sequence */
    netchan_err end;  /* the error that ended the stream, ECLOSED after the last value */
} stream_receiver_t;

static void *stream_receiver_main(void *arg)
{
    stream_receiver_t *receiver = arg;
    for (;;) {
        int x = 0;
        netchan_err err = recv_point(receiver->chan, 10000, &x, NULL);
        if (err != NETCHAN_OK) {
            receiver->end = err;
            return NULL;
        }
        if (x == receiver->received + 1) {
            receiver->received++;
        } else {
            receiver->out_of_order++;
        }
    }
}

/* Sends garbage of every kind from a raw peer that has not sent Hello. Returns the number of
 * messages sent. */
static int send_garbage(raw_peer_t *peer)
{
    int sent = 0;
    uint8_t buffer[512];

    /* Random bytes. */
    for (int i = 0; i < 500; i++) {
        size_t size = 1 + (size_t)(rng_next() % sizeof(buffer));
        for (size_t b = 0; b < size; b++) {
            buffer[b] = (uint8_t)rng_next();
        }
        sent += raw_send_bytes(peer, buffer, size);
    }

    /* Every prefix of a valid Data frame, the empty frame included. */
    Netchan__Wire__Value values[4];
    Netchan__Wire__Value *pointers[4];
    uint8_t payloads[4][64];
    for (int i = 0; i < 4; i++) {
        netchan__wire__value__init(&values[i]);
        values[i].seq = (uint64_t)i + 1;
        values[i].attempts = 1;
        values[i].payload.data = payloads[i];
        values[i].payload.len = pack_point(i + 1, payloads[i]);
        pointers[i] = &values[i];
    }
    Netchan__Wire__Data data = NETCHAN__WIRE__DATA__INIT;
    data.link = 1;
    data.n_values = 4;
    data.values = pointers;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_DATA;
    frame.data = &data;
    size_t size = netchan__wire__frame__get_packed_size(&frame);
    if (size <= sizeof(buffer)) {
        netchan__wire__frame__pack(&frame, buffer);
        for (size_t prefix = 0; prefix < size; prefix++) {
            sent += raw_send_bytes(peer, buffer, prefix);
        }
    }

    /* Messages of several frames. */
    static const char *const words[] = {"one", "two",   "three", "four", "five",
                                        "six", "seven", "eight", "nine", "ten"};
    const void *parts[10];
    size_t sizes[10];
    for (int i = 0; i < 10; i++) {
        parts[i] = words[i];
        sizes[i] = strlen(words[i]);
    }
    int counts[] = {2, 3, 5, 10};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        sent += raw_send_parts(peer, parts, sizes, counts[i]);
    }
    /* A valid frame split over two parts is not a valid message either. */
    const void *split[2] = {buffer, buffer + size / 2};
    size_t split_sizes[2] = {size / 2, size - size / 2};
    sent += raw_send_parts(peer, split, split_sizes, 2);

    /* 64 MiB of random bytes in one frame. */
    size_t huge_size = (size_t)64 << 20;
    uint8_t *huge = malloc(huge_size);
    if (huge != NULL) {
        for (size_t b = 0; b < huge_size; b += 8) {
            uint64_t word = rng_next();
            memcpy(huge + b, &word, 8);
        }
        sent += raw_send_bytes(peer, huge, huge_size);
        free(huge);
    }

    /* A well-formed Data frame from a peer without a session. */
    sent += raw_send_frame(peer, &frame);
    return sent;
}

TEST(badpeer_garbage_spares_importer)
{
    enum { COUNT = 3000 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_importer_t *later = NULL;
    netchan_chan_t *out = export_points(exporter, "stream", NETCHAN_SEND, 64);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "stream", NETCHAN_RECV, 16) : NULL;
    raw_peer_t peer;
    bool peer_open = false;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    peer_open = raw_open(&peer, ZMQ_DEALER, 200);
    REQUIRE(peer_open);
    REQUIRE(zmq_connect(peer.socket, endpoint) == 0);

    stream_sender_t sender = {.chan = out, .count = COUNT};
    stream_receiver_t receiver = {.chan = in};
    pthread_t sender_thread;
    pthread_t receiver_thread;
    REQUIRE(pthread_create(&sender_thread, NULL, stream_sender_main, &sender) == 0);
    REQUIRE(pthread_create(&receiver_thread, NULL, stream_receiver_main, &receiver) == 0);

    int sent = send_garbage(&peer);
    printf("# the raw peer sent %d bad messages\n", sent);
    CHECK(sent > 500);

    /* The exporter handles one peer's messages in order, so a Welcome shows that it has read
     * every bad message before the Hello. libzmq drops the connection of a peer that sends a
     * message above the exporter's maximum size, and the messages queued behind it. The DEALER
     * reconnects, so the Hello is repeated until a Welcome arrives. */
    bool welcomed = false;
    for (int attempt = 0; attempt < 20 && !welcomed; attempt++) {
        welcomed = raw_hello(&peer, raw_session, 1000);
    }
    CHECK(welcomed);

    pthread_join(sender_thread, NULL);
    pthread_join(receiver_thread, NULL);
    CHECK_ERR(sender.result, NETCHAN_OK);
    CHECK_EQ_U64(receiver.received, COUNT);
    CHECK_EQ_U64(receiver.out_of_order, 0);
    CHECK_ERR(receiver.end, NETCHAN_ECLOSED);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);

    /* The exporter still serves new importers. */
    netchan_chan_t *fresh = export_points(exporter, "after", NETCHAN_SEND, 16);
    later = start_importer(endpoint);
    netchan_chan_t *fresh_in =
        later != NULL ? import_points(later, "after", NETCHAN_RECV, 16) : NULL;
    if (fresh != NULL && fresh_in != NULL) {
        CHECK_ERR(send_point(fresh, 1, 0, NETCHAN_NOWAIT), NETCHAN_OK);
        int x = 0;
        CHECK_ERR(recv_point(fresh_in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK(x == 1);
    } else {
        CHECK(!"a new import after the garbage failed");
    }
out:
    if (peer_open) {
        raw_close(&peer);
    }
    netchan_importer_destroy(&later);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* A peer sending bytes that are not the protocol gets an Error naming the problem. */
TEST(badpeer_garbage_answered_with_error)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    raw_peer_t peer;
    REQUIRE(raw_open(&peer, ZMQ_DEALER, 200));
    CHECK(zmq_connect(peer.socket, endpoint) == 0);
    static const char text[] = "GET / HTTP/1.1\r\n\r\n";
    CHECK(raw_send_bytes(&peer, text, sizeof(text) - 1));
    Netchan__Wire__Frame *error = raw_expect(&peer, NETCHAN__WIRE__FRAME__BODY_ERROR, 5000, NULL);
    CHECK(error != NULL);
    if (error != NULL) {
        CHECK(error->error->code == NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL);
        printf("# error to the peer: %s\n", error->error->message);
        CHECK(strstr(error->error->message, "malformed") != NULL);
        nc_frame_free(error);
    }
    raw_close(&peer);
    netchan_exporter_destroy(&exporter);
}

TEST(badpeer_wrong_version_answered)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    raw_peer_t peer;
    REQUIRE(raw_open(&peer, ZMQ_DEALER, 200));
    CHECK(zmq_connect(peer.socket, endpoint) == 0);
    Netchan__Wire__Hello hello = NETCHAN__WIRE__HELLO__INIT;
    hello.version = NC_PROTOCOL_VERSION + 1;
    hello.session.data = (uint8_t *)raw_session;
    hello.session.len = NC_SESSION_ID_SIZE;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_HELLO;
    frame.hello = &hello;
    CHECK(raw_send_frame(&peer, &frame));
    int skipped = 0;
    Netchan__Wire__Frame *error =
        raw_expect(&peer, NETCHAN__WIRE__FRAME__BODY_ERROR, 5000, &skipped);
    CHECK(error != NULL);
    CHECK_EQ_U64(skipped, 0);
    if (error != NULL) {
        CHECK(error->error->code == NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL);
        printf("# error to the peer: %s\n", error->error->message);
        CHECK(strstr(error->error->message, "version") != NULL);
        nc_frame_free(error);
    }
    raw_close(&peer);
    netchan_exporter_destroy(&exporter);
}

/* Sends frame and expects exactly one Error about link in reply. */
static void expect_link_error(raw_peer_t *peer, const Netchan__Wire__Frame *frame, uint32_t link)
{
    CHECK(raw_send_frame(peer, frame));
    int skipped = 0;
    Netchan__Wire__Frame *error =
        raw_expect(peer, NETCHAN__WIRE__FRAME__BODY_ERROR, 5000, &skipped);
    CHECK(error != NULL);
    CHECK_EQ_U64(skipped, 0);
    if (error != NULL) {
        if (error->error->code != NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL ||
            error->error->link != link) {
            printf("# frame %d on link %u answered with: %s\n", (int)frame->body_case, link,
                   error->error->message);
        }
        CHECK(error->error->code == NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL);
        CHECK_EQ_U64(error->error->link, link);
        nc_frame_free(error);
    }
}

/* A peer with a session sends Data, Ack and the other link frames for link ids it never bound,
 * among them the ids the real importer uses in its own session. */
TEST(badpeer_unbound_links_rejected)
{
    enum { COUNT = 10, CAPACITY = 4 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *down = export_points(exporter, "down", NETCHAN_SEND, 100);
    netchan_chan_t *up = export_points(exporter, "up", NETCHAN_RECV, 100);
    netchan_chan_t *down_in =
        importer != NULL ? import_points(importer, "down", NETCHAN_RECV, CAPACITY) : NULL;
    netchan_chan_t *up_out =
        importer != NULL ? import_points(importer, "up", NETCHAN_SEND, 100) : NULL;
    raw_peer_t peer;
    bool peer_open = false;
    if (down == NULL || up == NULL || down_in == NULL || up_out == NULL) {
        CHECK(!"setting up the channels failed");
        goto out;
    }
    CHECK_ERR(send_points(down, 1, COUNT, 0), NETCHAN_OK);
    CHECK(WAIT_UNTIL(netchan_pending(down_in) == CAPACITY, 5000));

    peer_open = raw_open(&peer, ZMQ_DEALER, 200);
    REQUIRE(peer_open);
    REQUIRE(zmq_connect(peer.socket, endpoint) == 0);
    REQUIRE(raw_hello(&peer, raw_session, 5000));

    for (uint32_t link = 1; link <= 3; link++) {
        /* Values for a receiving link that does not exist. */
        Netchan__Wire__Value value = NETCHAN__WIRE__VALUE__INIT;
        uint8_t payload[64];
        value.seq = 1;
        value.attempts = 1;
        value.payload.data = payload;
        value.payload.len = pack_point(1000, payload);
        Netchan__Wire__Value *values[] = {&value};
        Netchan__Wire__Data data = NETCHAN__WIRE__DATA__INIT;
        data.link = link;
        data.n_values = 1;
        data.values = values;
        Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
        frame.body_case = NETCHAN__WIRE__FRAME__BODY_DATA;
        frame.data = &data;
        expect_link_error(&peer, &frame, link);

        /* Acknowledgement of every value the real importer holds. */
        Netchan__Wire__SeqRange range = NETCHAN__WIRE__SEQ_RANGE__INIT;
        range.first = 1;
        range.last = COUNT;
        Netchan__Wire__SeqRange *ranges[] = {&range};
        Netchan__Wire__Ack ack = NETCHAN__WIRE__ACK__INIT;
        ack.link = link;
        ack.ack_no = 1;
        ack.n_acked = 1;
        ack.acked = ranges;
        frame.body_case = NETCHAN__WIRE__FRAME__BODY_ACK;
        frame.ack = &ack;
        expect_link_error(&peer, &frame, link);

        /* Returning them too. */
        ack.n_acked = 0;
        ack.n_returned = 1;
        ack.returned = ranges;
        expect_link_error(&peer, &frame, link);

        Netchan__Wire__AckConfirm confirm = NETCHAN__WIRE__ACK_CONFIRM__INIT;
        confirm.link = link;
        confirm.ack_no = 100;
        frame.body_case = NETCHAN__WIRE__FRAME__BODY_ACK_CONFIRM;
        frame.ack_confirm = &confirm;
        expect_link_error(&peer, &frame, link);

        Netchan__Wire__Credit credit = NETCHAN__WIRE__CREDIT__INIT;
        credit.link = link;
        credit.total = 1000000;
        frame.body_case = NETCHAN__WIRE__FRAME__BODY_CREDIT;
        frame.credit = &credit;
        expect_link_error(&peer, &frame, link);

        Netchan__Wire__End end = NETCHAN__WIRE__END__INIT;
        end.link = link;
        frame.body_case = NETCHAN__WIRE__FRAME__BODY_END;
        frame.end = &end;
        expect_link_error(&peer, &frame, link);

        /* An importer unbinds links whose bind timed out and may never have been made, so an
         * Unbind of an unknown link is ignored without an Error. */
        Netchan__Wire__Unbind unbind = NETCHAN__WIRE__UNBIND__INIT;
        unbind.link = link;
        frame.body_case = NETCHAN__WIRE__FRAME__BODY_UNBIND;
        frame.unbind = &unbind;
        CHECK(raw_send_frame(&peer, &frame));
        int skipped = 0;
        CHECK(raw_round_trip(&peer, 5000, &skipped));
        CHECK_EQ_U64(skipped, 0);
    }

    /* Frames only an exporter sends. */
    Netchan__Wire__Welcome welcome = NETCHAN__WIRE__WELCOME__INIT;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_WELCOME;
    frame.welcome = &welcome;
    expect_link_error(&peer, &frame, 0);
    CHECK(raw_round_trip(&peer, 5000, NULL));

    /* Nothing changed for the real importer: every value is still pending, arrives in order as
     * a first delivery, and its own sending channel still works. */
    CHECK_EQ_U64(netchan_pending(down), COUNT);
    CHECK_ERR(recv_point(up, NETCHAN_NOWAIT, NULL, NULL), NETCHAN_EAGAIN);
    for (int expected = 1; expected <= COUNT; expected++) {
        netchan_msg_t *msg = NULL;
        int x = 0;
        uint32_t attempts = 0;
        CHECK_ERR(recv_point_msg(down_in, RECV_TIMEOUT_MS, &msg, &x, &attempts), NETCHAN_OK);
        CHECK(x == expected);
        CHECK_EQ_U64(attempts, 1);
        netchan_msg_destroy(&msg);
    }
    CHECK_ERR(netchan_drain(down, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_ERR(send_points(up_out, 1, 3, 0), NETCHAN_OK);
    for (int expected = 1; expected <= 3; expected++) {
        int x = 0;
        CHECK_ERR(recv_point(up, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK(x == expected);
    }
    CHECK_ERR(recv_point(up, 100, NULL, NULL), NETCHAN_ETIMEDOUT);
out:
    if (peer_open) {
        raw_close(&peer);
    }
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* Collects the verdicts in Acks from the exporter until seqs 1..count are all settled. */
typedef struct verdicts {
    bool acked[16];
    bool rejected[16];
} verdicts_t;

static bool collect_verdicts(raw_peer_t *peer, verdicts_t *verdicts, int count, int timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    while (harness_now_ms() < deadline) {
        Netchan__Wire__Frame *frame = raw_recv_frame(peer);
        if (frame == NULL) {
            continue;
        }
        if (frame->body_case == NETCHAN__WIRE__FRAME__BODY_ACK) {
            const Netchan__Wire__Ack *ack = frame->ack;
            for (size_t i = 0; i < ack->n_acked; i++) {
                for (uint64_t s = ack->acked[i]->first; s <= ack->acked[i]->last && s < 16; s++) {
                    verdicts->acked[s] = true;
                }
            }
            for (size_t i = 0; i < ack->n_rejected; i++) {
                for (uint64_t s = ack->rejected[i]->first; s <= ack->rejected[i]->last && s < 16;
                     s++) {
                    verdicts->rejected[s] = true;
                }
            }
        }
        nc_frame_free(frame);
        bool all = true;
        for (int s = 1; s <= count; s++) {
            all = all && (verdicts->acked[s] || verdicts->rejected[s]);
        }
        if (all) {
            return true;
        }
    }
    return false;
}

/* A bound peer sends a value that is not a Point and one above the channel's maximum size
 * between two valid ones: only the valid ones reach the application, and the exporter's Acks
 * name the rejected values. */
TEST(badpeer_invalid_values_rejected)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_options_t *options = options_with(16, false);
    REQUIRE(options != NULL);
    CHECK_ERR(netchan_options_set_max_value_size(options, 64), NETCHAN_OK);
    netchan_chan_t *up = NULL;
    CHECK_ERR(netchan_export(exporter, "up", NETCHAN_RECV, &netchan__test__point__descriptor,
                             options, &up),
              NETCHAN_OK);
    netchan_options_destroy(&options);
    raw_peer_t peer;
    REQUIRE(raw_open(&peer, ZMQ_DEALER, 200));
    REQUIRE(zmq_connect(peer.socket, endpoint) == 0);
    if (up == NULL || !raw_hello(&peer, raw_session, 5000)) {
        CHECK(!"setting up failed");
        goto out;
    }
    Netchan__Wire__Frame *bound =
        raw_bind(&peer, 7, "up", NETCHAN__WIRE__DIRECTION__DIRECTION_SEND, 0, 5000);
    REQUIRE(bound != NULL);
    CHECK(bound->bound->error == NETCHAN__WIRE__ERROR_CODE__ERROR_NONE);
    CHECK(bound->bound->credit > 0);
    nc_frame_free(bound);

    uint8_t first[64];
    uint8_t last[64];
    static const uint8_t not_a_point[] = {0x0f, 0xff, 0xff, 0xff};
    uint8_t oversized[100];
    memset(oversized, 0, sizeof(oversized));
    Netchan__Wire__Value values[4];
    Netchan__Wire__Value *pointers[4];
    for (int i = 0; i < 4; i++) {
        netchan__wire__value__init(&values[i]);
        values[i].seq = (uint64_t)i + 1;
        values[i].attempts = 1;
        pointers[i] = &values[i];
    }
    values[0].payload.data = first;
    values[0].payload.len = pack_point(1, first);
    values[1].payload.data = (uint8_t *)not_a_point;
    values[1].payload.len = sizeof(not_a_point);
    values[2].payload.data = oversized;
    values[2].payload.len = sizeof(oversized);
    values[3].payload.data = last;
    values[3].payload.len = pack_point(4, last);
    Netchan__Wire__Data data = NETCHAN__WIRE__DATA__INIT;
    data.link = 7;
    data.n_values = 4;
    data.values = pointers;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_DATA;
    frame.data = &data;
    CHECK(raw_send_frame(&peer, &frame));

    int x = 0;
    CHECK_ERR(recv_point(up, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
    CHECK(x == 1);
    CHECK_ERR(recv_point(up, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
    CHECK(x == 4);
    CHECK_ERR(recv_point(up, 100, &x, NULL), NETCHAN_ETIMEDOUT);

    verdicts_t verdicts;
    memset(&verdicts, 0, sizeof(verdicts));
    CHECK(collect_verdicts(&peer, &verdicts, 4, 5000));
    CHECK(verdicts.acked[1]);
    CHECK(verdicts.rejected[2]);
    CHECK(verdicts.rejected[3]);
    CHECK(verdicts.acked[4]);
out:
    raw_close(&peer);
    netchan_exporter_destroy(&exporter);
}

/* A bound peer that ignores its credit and sends far more values than the exported channel's
 * capacity: the channel still contains at most its capacity, what the application takes is in
 * order, and the peer receives an Error. */
TEST(badpeer_credit_overrun_bounded)
{
    enum { CAPACITY = 8, SENT = 200 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *up = export_points(exporter, "up", NETCHAN_RECV, CAPACITY);
    raw_peer_t peer;
    REQUIRE(raw_open(&peer, ZMQ_DEALER, 200));
    REQUIRE(zmq_connect(peer.socket, endpoint) == 0);
    if (up == NULL || !raw_hello(&peer, raw_session, 5000)) {
        CHECK(!"setting up failed");
        goto out;
    }
    Netchan__Wire__Frame *bound =
        raw_bind(&peer, 1, "up", NETCHAN__WIRE__DIRECTION__DIRECTION_SEND, 0, 5000);
    REQUIRE(bound != NULL);
    CHECK(bound->bound->error == NETCHAN__WIRE__ERROR_CODE__ERROR_NONE);
    CHECK(bound->bound->credit <= CAPACITY);
    nc_frame_free(bound);

    CHECK(raw_send_points(&peer, 1, 1, SENT / 2));
    CHECK(raw_send_points(&peer, 1, SENT / 2 + 1, SENT));
    int skipped = 0;
    Netchan__Wire__Frame *error =
        raw_expect(&peer, NETCHAN__WIRE__FRAME__BODY_ERROR, 5000, &skipped);
    CHECK(error != NULL);
    if (error != NULL) {
        CHECK(error->error->code == NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL);
        CHECK_EQ_U64(error->error->link, 1);
        printf("# error to the peer: %s\n", error->error->message);
        nc_frame_free(error);
    }
    CHECK(raw_round_trip(&peer, 5000, NULL));

    uint64_t untaken = netchan_pending(up);
    printf("# the exported channel of capacity %d contains %" PRIu64 " values\n", CAPACITY,
           untaken);
    CHECK(untaken <= CAPACITY);
    int expected = 1;
    int out_of_order = 0;
    for (uint64_t i = 0; i < untaken; i++) {
        int x = 0;
        if (recv_point(up, NETCHAN_NOWAIT, &x, NULL) != NETCHAN_OK) {
            break;
        }
        out_of_order += x != expected;
        expected = x + 1;
    }
    CHECK_EQ_U64(out_of_order, 0);
out:
    raw_close(&peer);
    netchan_exporter_destroy(&exporter);
}

int main(void)
{
    RUN(badpeer_garbage_spares_importer);
    RUN(badpeer_garbage_answered_with_error);
    RUN(badpeer_wrong_version_answered);
    RUN(badpeer_unbound_links_rejected);
    RUN(badpeer_invalid_values_rejected);
    RUN(badpeer_credit_overrun_bounded);
    return harness_done();
}
