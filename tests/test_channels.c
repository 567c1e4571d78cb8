/* Integration tests of values crossing real libzmq connections: typed and bytes round trips over
 * tcp://, ipc:// and inproc://, explicit acknowledgement, order, and several importers on one
 * exported channel. */
#include "fixture.h"

/* ---- round trips ---- */

/* Sends a Point from an exported send channel and an Other from an imported send channel, and
 * checks every field on arrival. */
static void check_typed_round_trip(const char *bind_to)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter_at(bind_to, endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *points_out = export_points(exporter, "points", NETCHAN_SEND, 16);
    netchan_chan_t *others_in = NULL;
    CHECK_ERR(netchan_export(exporter, "others", NETCHAN_RECV, &netchan__test__other__descriptor,
                             NULL, &others_in),
              NETCHAN_OK);
    netchan_chan_t *points_in =
        importer != NULL ? import_points(importer, "points", NETCHAN_RECV, 16) : NULL;
    netchan_chan_t *others_out = NULL;
    if (importer != NULL) {
        CHECK_ERR(netchan_import(importer, "others", NETCHAN_SEND,
                                 &netchan__test__other__descriptor, NULL, IMPORT_TIMEOUT_MS,
                                 &others_out),
                  NETCHAN_OK);
    }
    if (points_out == NULL || points_in == NULL || others_in == NULL || others_out == NULL) {
        CHECK(!"setting up the channels failed");
        goto out;
    }

    Netchan__Test__Point point = NETCHAN__TEST__POINT__INIT;
    point.x = -123456;
    point.y = INT32_MAX;
    point.label = "north-east \xc3\xa9";
    CHECK_ERR(netchan_send(points_out, &point.base, RECV_TIMEOUT_MS), NETCHAN_OK);
    ProtobufCMessage *msg = NULL;
    CHECK_ERR(netchan_recv(points_in, RECV_TIMEOUT_MS, &msg), NETCHAN_OK);
    if (msg != NULL) {
        CHECK(msg->descriptor == &netchan__test__point__descriptor);
        Netchan__Test__Point *got = (Netchan__Test__Point *)msg;
        CHECK(got->x == -123456);
        CHECK(got->y == INT32_MAX);
        CHECK(strcmp(got->label, "north-east \xc3\xa9") == 0);
        protobuf_c_message_free_unpacked(msg, NULL);
        msg = NULL;
    }

    Netchan__Test__Other other = NETCHAN__TEST__OTHER__INIT;
    other.text = "from the importer";
    other.count = INT64_MIN;
    CHECK_ERR(netchan_send(others_out, &other.base, RECV_TIMEOUT_MS), NETCHAN_OK);
    CHECK_ERR(netchan_recv(others_in, RECV_TIMEOUT_MS, &msg), NETCHAN_OK);
    if (msg != NULL) {
        CHECK(msg->descriptor == &netchan__test__other__descriptor);
        Netchan__Test__Other *got = (Netchan__Test__Other *)msg;
        CHECK(strcmp(got->text, "from the importer") == 0);
        CHECK(got->count == INT64_MIN);
        protobuf_c_message_free_unpacked(msg, NULL);
    }

    CHECK_ERR(netchan_drain(points_out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_ERR(netchan_drain(others_out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(channels_typed_round_trip_tcp)
{
    check_typed_round_trip("tcp://127.0.0.1:*");
}

TEST(channels_typed_round_trip_ipc)
{
    ipc_dir_t dir;
    REQUIRE(ipc_dir_create(&dir));
    char bind_to[ENDPOINT_SIZE];
    ipc_endpoint(&dir, "exporter", bind_to);
    check_typed_round_trip(bind_to);
    const char *names[] = {"exporter"};
    ipc_dir_remove(&dir, names, 1);
}

TEST(channels_typed_round_trip_inproc)
{
    check_typed_round_trip("inproc://netchan-test-channels");
}

TEST(channels_bytes_round_trip)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = NULL;
    netchan_chan_t *in = NULL;
    CHECK_ERR(netchan_export_bytes(exporter, "raw", NETCHAN_SEND, NULL, NULL, NULL, &out),
              NETCHAN_OK);
    if (importer != NULL) {
        CHECK_ERR(netchan_import_bytes(importer, "raw", NETCHAN_RECV, NULL, NULL, NULL,
                                       IMPORT_TIMEOUT_MS, &in),
                  NETCHAN_OK);
    }
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the bytes channel failed");
        goto out;
    }

    /* An empty value, bytes with zeros, and a value larger than one batch of 256 KiB. */
    size_t sizes[] = {0, 7, 300 * 1024};
    uint8_t *big = malloc(sizes[2]);
    REQUIRE(big != NULL);
    for (size_t i = 0; i < sizes[2]; i++) {
        big[i] = (uint8_t)(i * 31 + 7);
    }
    static const uint8_t zeros[7] = {0, 1, 0, 0, 2, 0, 0};
    const uint8_t *payloads[] = {NULL, zeros, big};
    for (int i = 0; i < 3; i++) {
        CHECK_ERR(netchan_send_bytes(out, payloads[i], sizes[i], RECV_TIMEOUT_MS), NETCHAN_OK);
    }
    for (int i = 0; i < 3; i++) {
        netchan_msg_t *msg = NULL;
        CHECK_ERR(netchan_recv_msg(in, RECV_TIMEOUT_MS, &msg), NETCHAN_OK);
        if (msg == NULL) {
            break;
        }
        CHECK_EQ_U64(netchan_msg_size(msg), sizes[i]);
        if (netchan_msg_size(msg) == sizes[i] && sizes[i] > 0) {
            CHECK(memcmp(netchan_msg_data(msg), payloads[i], sizes[i]) == 0);
        }
        CHECK_EQ_U64(netchan_msg_attempts(msg), 1);
        netchan_msg_destroy(&msg);
        CHECK(msg == NULL);
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    free(big);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(channels_bytes_typed_calls_rejected)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = NULL;
    netchan_chan_t *in = NULL;
    CHECK_ERR(netchan_export_bytes(exporter, "raw-out", NETCHAN_SEND, NULL, NULL, NULL, &out),
              NETCHAN_OK);
    CHECK_ERR(netchan_export_bytes(exporter, "raw-in", NETCHAN_RECV, NULL, NULL, NULL, &in),
              NETCHAN_OK);
    if (out != NULL && in != NULL) {
        Netchan__Test__Point point = NETCHAN__TEST__POINT__INIT;
        CHECK_ERR(netchan_send(out, &point.base, NETCHAN_NOWAIT), NETCHAN_ESTATE);
        CHECK(strstr(netchan_chan_error(out), "raw-out") != NULL);
        ProtobufCMessage *msg = NULL;
        CHECK_ERR(netchan_recv(in, NETCHAN_NOWAIT, &msg), NETCHAN_ESTATE);
        CHECK(msg == NULL);
        CHECK_EQ_U64(netchan_pending(out), 0);
    }
    netchan_exporter_destroy(&exporter);
}

/* A binding packs values itself and exports them under a protobuf type name and fingerprint.
 * A C importer of that type receives them as typed messages. */
TEST(channels_bytes_sender_typed_receiver)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    char fingerprint[17];
    CHECK_ERR(netchan_type_fingerprint(&netchan__test__point__descriptor, fingerprint,
                                       sizeof(fingerprint)),
              NETCHAN_OK);
    netchan_chan_t *out = NULL;
    CHECK_ERR(netchan_export_bytes(exporter, "packed", NETCHAN_SEND, "netchan.test.Point",
                                   fingerprint, NULL, &out),
              NETCHAN_OK);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "packed", NETCHAN_RECV, 16) : NULL;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }

    for (int x = 1; x <= 3; x++) {
        char label[16];
        snprintf(label, sizeof(label), "p%d", x);
        Netchan__Test__Point point = NETCHAN__TEST__POINT__INIT;
        point.x = x;
        point.y = -x;
        point.label = label;
        uint8_t packed[64];
        size_t size = netchan__test__point__pack(&point, packed);
        CHECK_ERR(netchan_send_bytes(out, packed, size, RECV_TIMEOUT_MS), NETCHAN_OK);
    }
    for (int expected = 1; expected <= 3; expected++) {
        int x = 0;
        int y = 0;
        CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, &y), NETCHAN_OK);
        CHECK(x == expected);
        CHECK(y == -expected);
    }
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(channels_explicit_ack_round_trip)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 16);
    netchan_chan_t *in =
        importer != NULL ? import_points_with(importer, "jobs", NETCHAN_RECV, 16, true) : NULL;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }

    enum { COUNT = 5 };
    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    netchan_msg_t *msgs[COUNT] = {0};
    for (int i = 0; i < COUNT; i++) {
        int x = 0;
        uint32_t attempts = 0;
        CHECK_ERR(recv_point_msg(in, RECV_TIMEOUT_MS, &msgs[i], &x, &attempts), NETCHAN_OK);
        CHECK(x == i + 1);
        CHECK_EQ_U64(attempts, 1);
    }
    REQUIRE(msgs[COUNT - 1] != NULL);

    /* Taken but not acknowledged: every value stays pending at the sender. */
    uint64_t pending = 0;
    CHECK_ERR(netchan_drain(out, 200, &pending), NETCHAN_ETIMEDOUT);
    CHECK_EQ_U64(pending, COUNT);
    ProtobufCMessage *unpacked = NULL;
    CHECK_ERR(netchan_recv(in, NETCHAN_NOWAIT, &unpacked), NETCHAN_ESTATE);

    for (int i = 0; i < COUNT; i++) {
        CHECK_ERR(netchan_msg_ack(msgs[i]), NETCHAN_OK);
        CHECK_ERR(netchan_msg_ack(msgs[i]), NETCHAN_OK);
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, &pending), NETCHAN_OK);
    CHECK_EQ_U64(pending, 0);
    CHECK_ERR(netchan_drain(in, DRAIN_TIMEOUT_MS, &pending), NETCHAN_OK);
    CHECK_EQ_U64(pending, 0);
    for (int i = 0; i < COUNT; i++) {
        netchan_msg_destroy(&msgs[i]);
    }
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(channels_ack_on_receipt_rejects_msg_ack)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 16);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, 16) : NULL;
    if (out != NULL && in != NULL) {
        CHECK_ERR(send_point(out, 1, 0, RECV_TIMEOUT_MS), NETCHAN_OK);
        netchan_msg_t *msg = NULL;
        CHECK_ERR(recv_point_msg(in, RECV_TIMEOUT_MS, &msg, NULL, NULL), NETCHAN_OK);
        CHECK_ERR(netchan_msg_ack(msg), NETCHAN_ESTATE);
        netchan_msg_destroy(&msg);
        /* Taking it acknowledged it. */
        CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    } else {
        CHECK(!"setting up the channel failed");
    }
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* ---- order ---- */

/* Receives count Points and checks that x runs from 1 to count. */
static void expect_sequence(netchan_chan_t *in, int count)
{
    int next = 1;
    int wrong = 0;
    for (int i = 0; i < count; i++) {
        int x = 0;
        netchan_err err = recv_point(in, RECV_TIMEOUT_MS, &x, NULL);
        if (err != NETCHAN_OK) {
            printf("# receive %d of %d failed: %s\n", i + 1, count, netchan_strerror(err));
            CHECK_ERR(err, NETCHAN_OK);
            return;
        }
        if (x != next && wrong++ < 5) {
            printf("# expected x=%d, got %d\n", next, x);
        }
        next = x + 1;
    }
    CHECK_EQ_U64(wrong, 0);
}

typedef struct sender_args {
    netchan_chan_t *chan;
    int first;
    int last;
    int y;
    bool close_after;
    netchan_err result;
} sender_args_t;

static void *sender_main(void *arg)
{
    sender_args_t *args = arg;
    args->result = send_points(args->chan, args->first, args->last, args->y);
    if (args->close_after) {
        netchan_close(args->chan);
    }
    return NULL;
}

static void check_order(const char *bind_to, int count)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter_at(bind_to, endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = export_points(exporter, "stream", NETCHAN_SEND, 256);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "stream", NETCHAN_RECV, 64) : NULL;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    sender_args_t args = {.chan = out, .first = 1, .last = count};
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, sender_main, &args) == 0);
    expect_sequence(in, count);
    pthread_join(thread, NULL);
    CHECK_ERR(args.result, NETCHAN_OK);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(channels_values_in_order_tcp)
{
    check_order("tcp://127.0.0.1:*", 20000);
}

TEST(channels_values_in_order_ipc)
{
    ipc_dir_t dir;
    REQUIRE(ipc_dir_create(&dir));
    char bind_to[ENDPOINT_SIZE];
    ipc_endpoint(&dir, "exporter", bind_to);
    check_order(bind_to, 20000);
    const char *names[] = {"exporter"};
    ipc_dir_remove(&dir, names, 1);
}

TEST(channels_importer_sends_in_order)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in = export_points(exporter, "uploads", NETCHAN_RECV, 64);
    netchan_chan_t *out =
        importer != NULL ? import_points(importer, "uploads", NETCHAN_SEND, 256) : NULL;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    enum { COUNT = 20000 };
    sender_args_t args = {.chan = out, .first = 1, .last = COUNT};
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, sender_main, &args) == 0);
    expect_sequence(in, COUNT);
    pthread_join(thread, NULL);
    CHECK_ERR(args.result, NETCHAN_OK);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* ---- several importers ---- */

enum { MAX_RECEIVED = 4000 };

typedef struct receiver_args {
    netchan_chan_t *chan;
    int xs[MAX_RECEIVED];
    int ys[MAX_RECEIVED];
    int count;
    netchan_err result; /* the error that ended the loop, ECLOSED at end of stream */
} receiver_args_t;

/* Receives until the channel ends or a receive fails. */
static void *receiver_main(void *arg)
{
    receiver_args_t *args = arg;
    for (;;) {
        int x = 0;
        int y = 0;
        netchan_err err = recv_point(args->chan, RECV_TIMEOUT_MS, &x, &y);
        if (err != NETCHAN_OK) {
            args->result = err;
            return NULL;
        }
        if (args->count < MAX_RECEIVED) {
            args->xs[args->count] = x;
            args->ys[args->count] = y;
        }
        args->count++;
    }
}

TEST(channels_competing_importers_split_values)
{
    enum { COUNT = 3000 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *first = start_importer(endpoint);
    netchan_importer_t *second = start_importer(endpoint);
    netchan_chan_t *out = export_points(exporter, "work", NETCHAN_SEND, 64);
    netchan_chan_t *in1 = first != NULL ? import_points(first, "work", NETCHAN_RECV, 8) : NULL;
    netchan_chan_t *in2 = second != NULL ? import_points(second, "work", NETCHAN_RECV, 8) : NULL;
    receiver_args_t *r1 = calloc(1, sizeof(*r1));
    receiver_args_t *r2 = calloc(1, sizeof(*r2));
    if (out == NULL || in1 == NULL || in2 == NULL || r1 == NULL || r2 == NULL) {
        CHECK(!"setting up the channels failed");
        goto out;
    }
    r1->chan = in1;
    r2->chan = in2;
    pthread_t t1;
    pthread_t t2;
    REQUIRE(pthread_create(&t1, NULL, receiver_main, r1) == 0);
    REQUIRE(pthread_create(&t2, NULL, receiver_main, r2) == 0);
    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    CHECK_ERR(netchan_close(out), NETCHAN_OK);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);

    CHECK_ERR(r1->result, NETCHAN_ECLOSED);
    CHECK_ERR(r2->result, NETCHAN_ECLOSED);
    printf("# the importers received %d and %d values\n", r1->count, r2->count);
    CHECK(r1->count > 0);
    CHECK(r2->count > 0);
    CHECK_EQ_U64(r1->count + r2->count, COUNT);

    /* Each value arrives exactly once across both, and each importer gets its share in send
     * order. */
    static int seen[COUNT + 1];
    memset(seen, 0, sizeof(seen));
    receiver_args_t *receivers[] = {r1, r2};
    for (int r = 0; r < 2; r++) {
        int last = 0;
        int limit = receivers[r]->count < MAX_RECEIVED ? receivers[r]->count : MAX_RECEIVED;
        for (int i = 0; i < limit; i++) {
            int x = receivers[r]->xs[i];
            CHECK(x > last);
            last = x;
            if (x >= 1 && x <= COUNT) {
                seen[x]++;
            }
        }
    }
    int missing = 0;
    int duplicated = 0;
    for (int x = 1; x <= COUNT; x++) {
        missing += seen[x] == 0;
        duplicated += seen[x] > 1;
    }
    CHECK_EQ_U64(missing, 0);
    CHECK_EQ_U64(duplicated, 0);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    free(r1);
    free(r2);
    netchan_importer_destroy(&first);
    netchan_importer_destroy(&second);
    netchan_exporter_destroy(&exporter);
}

TEST(channels_fan_in_three_importers)
{
    enum { IMPORTERS = 3, EACH = 1000 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *in = export_points(exporter, "merge", NETCHAN_RECV, 32);
    netchan_importer_t *importers[IMPORTERS] = {0};
    netchan_chan_t *outs[IMPORTERS] = {0};
    sender_args_t senders[IMPORTERS];
    pthread_t threads[IMPORTERS];
    int started = 0;
    bool ready = in != NULL;
    for (int i = 0; i < IMPORTERS && ready; i++) {
        importers[i] = start_importer(endpoint);
        outs[i] =
            importers[i] != NULL ? import_points(importers[i], "merge", NETCHAN_SEND, 64) : NULL;
        ready = outs[i] != NULL;
    }
    if (!ready) {
        CHECK(!"setting up the channels failed");
        goto out;
    }
    for (int i = 0; i < IMPORTERS; i++) {
        senders[i] =
            (sender_args_t){.chan = outs[i], .first = 1, .last = EACH, .y = i, .close_after = true};
        if (pthread_create(&threads[i], NULL, sender_main, &senders[i]) == 0) {
            started++;
        }
    }
    REQUIRE(started == IMPORTERS);

    /* Every importer closes after its last value, so the merged channel ends after all. */
    int last_x[IMPORTERS] = {0};
    int received = 0;
    int out_of_order = 0;
    netchan_err err;
    for (;;) {
        int x = 0;
        int y = -1;
        err = recv_point(in, RECV_TIMEOUT_MS, &x, &y);
        if (err != NETCHAN_OK) {
            break;
        }
        received++;
        if (y < 0 || y >= IMPORTERS) {
            CHECK(!"value from an unknown importer");
            continue;
        }
        if (x != last_x[y] + 1) {
            out_of_order++;
        }
        last_x[y] = x;
    }
    CHECK_ERR(err, NETCHAN_ECLOSED);
    for (int i = 0; i < IMPORTERS; i++) {
        pthread_join(threads[i], NULL);
        CHECK_ERR(senders[i].result, NETCHAN_OK);
        CHECK_EQ_U64(last_x[i], EACH);
        CHECK_ERR(netchan_drain(outs[i], DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    }
    CHECK_EQ_U64(received, IMPORTERS * EACH);
    CHECK_EQ_U64(out_of_order, 0);
out:
    for (int i = 0; i < IMPORTERS; i++) {
        netchan_importer_destroy(&importers[i]);
    }
    netchan_exporter_destroy(&exporter);
}

int main(void)
{
    RUN(channels_typed_round_trip_tcp);
    RUN(channels_typed_round_trip_ipc);
    RUN(channels_typed_round_trip_inproc);
    RUN(channels_bytes_round_trip);
    RUN(channels_bytes_typed_calls_rejected);
    RUN(channels_bytes_sender_typed_receiver);
    RUN(channels_explicit_ack_round_trip);
    RUN(channels_ack_on_receipt_rejects_msg_ack);
    RUN(channels_values_in_order_tcp);
    RUN(channels_values_in_order_ipc);
    RUN(channels_importer_sends_in_order);
    RUN(channels_competing_importers_split_values);
    RUN(channels_fan_in_three_importers);
    return harness_done();
}
