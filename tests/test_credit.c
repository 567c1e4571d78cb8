/* Integration tests of capacity and credit: a full channel makes send fail at once, time out or
 * block until the receiver takes a value, and neither side ever holds more values than its
 * capacity. */
#include "fixture.h"

#include <stdatomic.h>

TEST(credit_full_channel_nowait_eagain)
{
    enum { CAPACITY = 4 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "full", NETCHAN_SEND, CAPACITY);
    if (out != NULL) {
        for (int x = 1; x <= CAPACITY; x++) {
            CHECK_ERR(send_point(out, x, 0, NETCHAN_NOWAIT), NETCHAN_OK);
            CHECK_EQ_U64(netchan_pending(out), x);
        }
        CHECK_ERR(send_point(out, CAPACITY + 1, 0, NETCHAN_NOWAIT), NETCHAN_EAGAIN);
        CHECK(strstr(netchan_chan_error(out), "full") != NULL);
        CHECK_EQ_U64(netchan_pending(out), CAPACITY);
    } else {
        CHECK(!"exporting the channel failed");
    }
    netchan_exporter_destroy(&exporter);
}

TEST(credit_full_channel_send_times_out)
{
    enum { CAPACITY = 4 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "full", NETCHAN_SEND, CAPACITY);
    if (out != NULL) {
        CHECK_ERR(send_points(out, 1, CAPACITY, 0), NETCHAN_OK);
        int64_t start = harness_now_ms();
        CHECK_ERR(send_point(out, CAPACITY + 1, 0, 100), NETCHAN_ETIMEDOUT);
        int64_t elapsed = harness_now_ms() - start;
        printf("# the send returned after %" PRId64 " ms\n", elapsed);
        CHECK(elapsed >= 100);
        CHECK(elapsed < 2000);
        CHECK_EQ_U64(netchan_pending(out), CAPACITY);
    } else {
        CHECK(!"exporting the channel failed");
    }
    netchan_exporter_destroy(&exporter);
}

/* The same limit on an importer's sending channel, whose receiver keeps the values untaken. */
TEST(credit_importer_send_full_eagain)
{
    enum { CAPACITY = 3 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in = export_points(exporter, "uploads", NETCHAN_RECV, 100);
    netchan_chan_t *out =
        importer != NULL ? import_points(importer, "uploads", NETCHAN_SEND, CAPACITY) : NULL;
    if (in != NULL && out != NULL) {
        CHECK_ERR(send_points(out, 1, CAPACITY, 0), NETCHAN_OK);
        CHECK(WAIT_UNTIL(netchan_pending(in) == CAPACITY, 5000));
        CHECK_ERR(send_point(out, CAPACITY + 1, 0, NETCHAN_NOWAIT), NETCHAN_EAGAIN);
        CHECK_ERR(send_point(out, CAPACITY + 1, 0, 100), NETCHAN_ETIMEDOUT);
        CHECK_EQ_U64(netchan_pending(out), CAPACITY);

        /* Taking one frees one unit of credit. */
        int x = 0;
        CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK(x == 1);
        CHECK(WAIT_UNTIL(netchan_pending(out) == CAPACITY - 1, 5000));
        CHECK_ERR(send_point(out, CAPACITY + 1, 0, NETCHAN_NOWAIT), NETCHAN_OK);
    } else {
        CHECK(!"setting up the channel failed");
    }
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

typedef struct blocked_send {
    netchan_chan_t *chan;
    int x;
    atomic_bool done;
    netchan_err result;
} blocked_send_t;

static void *blocked_send_main(void *arg)
{
    blocked_send_t *send = arg;
    send->result = send_point(send->chan, send->x, 0, NETCHAN_FOREVER);
    atomic_store(&send->done, true);
    return NULL;
}

TEST(credit_blocked_send_resumes_after_take)
{
    enum { CAPACITY = 4, RECEIVER_CAPACITY = 2 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, CAPACITY);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, RECEIVER_CAPACITY) : NULL;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    CHECK_ERR(send_points(out, 1, CAPACITY, 0), NETCHAN_OK);
    CHECK(WAIT_UNTIL(netchan_pending(in) == RECEIVER_CAPACITY, 5000));

    blocked_send_t send = {.chan = out, .x = CAPACITY + 1};
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, blocked_send_main, &send) == 0);
    /* The send stays blocked while the receiver takes nothing. */
    CHECK(!WAIT_UNTIL(atomic_load(&send.done), 300));

    int x = 0;
    CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
    CHECK(x == 1);
    CHECK(WAIT_UNTIL(atomic_load(&send.done), 5000));
    if (!atomic_load(&send.done)) {
        /* Unblock the thread so that it can be joined. */
        netchan_close(out);
    }
    pthread_join(thread, NULL);
    CHECK_ERR(send.result, NETCHAN_OK);

    for (int expected = 2; expected <= CAPACITY + 1; expected++) {
        CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK(x == expected);
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

typedef struct stream_sender {
    netchan_chan_t *chan;
    int count;
    uint32_t capacity;
    atomic_int over_capacity; /* pending() seen above capacity right after a send */
    netchan_err result;
} stream_sender_t;

static void *stream_sender_main(void *arg)
{
    stream_sender_t *sender = arg;
    sender->result = NETCHAN_OK;
    for (int x = 1; x <= sender->count; x++) {
        netchan_err err = send_point(sender->chan, x, 0, RECV_TIMEOUT_MS);
        if (err != NETCHAN_OK) {
            sender->result = err;
            return NULL;
        }
        if (netchan_pending(sender->chan) > sender->capacity) {
            atomic_fetch_add(&sender->over_capacity, 1);
        }
    }
    return NULL;
}

/* While a sender streams into a slow receiver, neither side's pending count passes its
 * capacity. */
TEST(credit_pending_within_capacity)
{
    enum { COUNT = 300, SENDER_CAPACITY = 8, RECEIVER_CAPACITY = 3 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = export_points(exporter, "stream", NETCHAN_SEND, SENDER_CAPACITY);
    netchan_chan_t *in = importer != NULL
                             ? import_points(importer, "stream", NETCHAN_RECV, RECEIVER_CAPACITY)
                             : NULL;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    stream_sender_t sender = {.chan = out, .count = COUNT, .capacity = SENDER_CAPACITY};
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, stream_sender_main, &sender) == 0);

    int sender_over = 0;
    int receiver_over = 0;
    int out_of_order = 0;
    for (int expected = 1; expected <= COUNT; expected++) {
        if (netchan_pending(out) > SENDER_CAPACITY) {
            sender_over++;
        }
        if (netchan_pending(in) > RECEIVER_CAPACITY) {
            receiver_over++;
        }
        int x = 0;
        netchan_err err = recv_point(in, RECV_TIMEOUT_MS, &x, NULL);
        if (err != NETCHAN_OK) {
            CHECK_ERR(err, NETCHAN_OK);
            break;
        }
        out_of_order += x != expected;
    }
    pthread_join(thread, NULL);
    CHECK_ERR(sender.result, NETCHAN_OK);
    CHECK_EQ_U64(sender_over, 0);
    CHECK_EQ_U64(atomic_load(&sender.over_capacity), 0);
    CHECK_EQ_U64(receiver_over, 0);
    CHECK_EQ_U64(out_of_order, 0);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* An exported receiving channel contains at most its capacity of untaken values, however many
 * the importer has queued. The rest wait at the importer. */
TEST(credit_exporter_inbox_bounded)
{
    enum { COUNT = 50, CAPACITY = 5 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in = export_points(exporter, "uploads", NETCHAN_RECV, CAPACITY);
    netchan_chan_t *out =
        importer != NULL ? import_points(importer, "uploads", NETCHAN_SEND, 100) : NULL;
    if (in == NULL || out == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    for (int x = 1; x <= COUNT; x++) {
        CHECK_ERR(send_point(out, x, 0, NETCHAN_NOWAIT), NETCHAN_OK);
    }
    CHECK(WAIT_UNTIL(netchan_pending(in) == CAPACITY, 5000));
    CHECK_EQ_U64(netchan_pending(out), COUNT);

    int over = 0;
    int out_of_order = 0;
    for (int expected = 1; expected <= COUNT; expected++) {
        if (netchan_pending(in) > CAPACITY) {
            over++;
        }
        int x = 0;
        netchan_err err = recv_point(in, RECV_TIMEOUT_MS, &x, NULL);
        if (err != NETCHAN_OK) {
            CHECK_ERR(err, NETCHAN_OK);
            break;
        }
        out_of_order += x != expected;
    }
    CHECK_EQ_U64(over, 0);
    CHECK_EQ_U64(out_of_order, 0);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* An imported receiving channel contains at most its capacity, and the exporter keeps the
 * rest. */
TEST(credit_importer_inbox_bounded)
{
    enum { COUNT = 50, CAPACITY = 5 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 100);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, CAPACITY) : NULL;
    if (in == NULL || out == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    CHECK(WAIT_UNTIL(netchan_pending(in) == CAPACITY, 5000));
    CHECK_EQ_U64(netchan_pending(out), COUNT);

    int over = 0;
    int out_of_order = 0;
    for (int expected = 1; expected <= COUNT; expected++) {
        if (netchan_pending(in) > CAPACITY) {
            over++;
        }
        int x = 0;
        netchan_err err = recv_point(in, RECV_TIMEOUT_MS, &x, NULL);
        if (err != NETCHAN_OK) {
            CHECK_ERR(err, NETCHAN_OK);
            break;
        }
        out_of_order += x != expected;
    }
    CHECK_EQ_U64(over, 0);
    CHECK_EQ_U64(out_of_order, 0);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* Three importers feeding one exported receiving channel share its capacity between them; the
 * channel may hold one value more per importer, since each always has credit for one. */
TEST(credit_fan_in_shares_capacity)
{
    enum { IMPORTERS = 3, EACH = 20, CAPACITY = 6 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *in = export_points(exporter, "merge", NETCHAN_RECV, CAPACITY);
    netchan_importer_t *importers[IMPORTERS] = {0};
    netchan_chan_t *outs[IMPORTERS] = {0};
    bool ready = in != NULL;
    for (int i = 0; i < IMPORTERS && ready; i++) {
        importers[i] = start_importer(endpoint);
        outs[i] =
            importers[i] != NULL ? import_points(importers[i], "merge", NETCHAN_SEND, 100) : NULL;
        ready = outs[i] != NULL;
    }
    if (!ready) {
        CHECK(!"setting up the channels failed");
        goto out;
    }

    for (int i = 0; i < IMPORTERS; i++) {
        for (int x = 1; x <= EACH; x++) {
            CHECK_ERR(send_point(outs[i], x, i, NETCHAN_NOWAIT), NETCHAN_OK);
        }
    }
    CHECK(WAIT_UNTIL(netchan_pending(in) >= CAPACITY, 5000));

    int over = 0;
    for (int n = 0; n < IMPORTERS * EACH; n++) {
        if (netchan_pending(in) > CAPACITY + IMPORTERS) {
            over++;
        }
        netchan_err err = recv_point(in, RECV_TIMEOUT_MS, NULL, NULL);
        if (err != NETCHAN_OK) {
            CHECK_ERR(err, NETCHAN_OK);
            break;
        }
    }
    CHECK_EQ_U64(over, 0);

    for (int i = 0; i < IMPORTERS; i++) {
        CHECK_ERR(netchan_drain(outs[i], DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    }
out:
    for (int i = 0; i < IMPORTERS; i++) {
        netchan_importer_destroy(&importers[i]);
    }
    netchan_exporter_destroy(&exporter);
}

/* An importer that binds to an exported receiving channel whose capacity other importers
 * already fill pushes it past its capacity by at most one value per importer. */
TEST(credit_late_importer_within_capacity)
{
    enum { EACH = 20, CAPACITY = 6 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *in = export_points(exporter, "merge", NETCHAN_RECV, CAPACITY);
    netchan_importer_t *early = start_importer(endpoint);
    netchan_importer_t *late = NULL;
    netchan_chan_t *early_out =
        early != NULL ? import_points(early, "merge", NETCHAN_SEND, 100) : NULL;
    if (in == NULL || early_out == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    for (int x = 1; x <= EACH; x++) {
        CHECK_ERR(send_point(early_out, x, 0, NETCHAN_NOWAIT), NETCHAN_OK);
    }
    CHECK(WAIT_UNTIL(netchan_pending(in) == CAPACITY, 5000));

    late = start_importer(endpoint);
    netchan_chan_t *late_out =
        late != NULL ? import_points(late, "merge", NETCHAN_SEND, 100) : NULL;
    if (late_out == NULL) {
        CHECK(!"importing the channel a second time failed");
        goto out;
    }
    for (int x = 1; x <= EACH; x++) {
        CHECK_ERR(send_point(late_out, x, 1, NETCHAN_NOWAIT), NETCHAN_OK);
    }
    /* Give the late importer's values time to arrive if the exporter lets them. */
    CHECK(!WAIT_UNTIL(netchan_pending(in) > CAPACITY + 2, 1000));
    printf("# the channel of capacity %d holds %" PRIu64 " values\n", CAPACITY,
           netchan_pending(in));

    int last[2] = {0, 0};
    int out_of_order = 0;
    int over = 0;
    for (int n = 0; n < 2 * EACH; n++) {
        if (netchan_pending(in) > CAPACITY + 2) {
            over++;
        }
        int x = 0;
        int y = -1;
        netchan_err err = recv_point(in, RECV_TIMEOUT_MS, &x, &y);
        if (err != NETCHAN_OK) {
            CHECK_ERR(err, NETCHAN_OK);
            break;
        }
        if (y < 0 || y > 1) {
            CHECK(!"value from an unknown importer");
            continue;
        }
        out_of_order += x != last[y] + 1;
        last[y] = x;
    }
    CHECK_EQ_U64(over, 0);
    CHECK_EQ_U64(out_of_order, 0);
    CHECK_EQ_U64(last[0], EACH);
    CHECK_EQ_U64(last[1], EACH);
out:
    netchan_importer_destroy(&early);
    netchan_importer_destroy(&late);
    netchan_exporter_destroy(&exporter);
}

int main(void)
{
    RUN(credit_full_channel_nowait_eagain);
    RUN(credit_full_channel_send_times_out);
    RUN(credit_importer_send_full_eagain);
    RUN(credit_blocked_send_resumes_after_take);
    RUN(credit_pending_within_capacity);
    RUN(credit_exporter_inbox_bounded);
    RUN(credit_importer_inbox_bounded);
    RUN(credit_fan_in_shares_capacity);
    RUN(credit_late_importer_within_capacity);
    return harness_done();
}
