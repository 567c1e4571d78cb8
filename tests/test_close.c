/* Integration tests of closing and draining channels from either side: end of stream after the
 * last value, drain waiting for acknowledgements, and calls on closed channels. */
#include "fixture.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdatomic.h>

/* A connected exporter and importer with one Point channel each way. */
typedef struct pair {
    netchan_exporter_t *exporter;
    netchan_importer_t *importer;
    netchan_chan_t *exported_out; /* exporter sends, importer's imported_in receives */
    netchan_chan_t *imported_in;
    netchan_chan_t *imported_out; /* importer sends, exporter's exported_in receives */
    netchan_chan_t *exported_in;
} pair_t;

static bool pair_open(pair_t *pair, uint32_t capacity)
{
    char endpoint[ENDPOINT_SIZE];
    memset(pair, 0, sizeof(*pair));
    pair->exporter = start_exporter(endpoint);
    if (pair->exporter == NULL) {
        return false;
    }
    pair->importer = start_importer(endpoint);
    pair->exported_out = export_points(pair->exporter, "down", NETCHAN_SEND, capacity);
    pair->exported_in = export_points(pair->exporter, "up", NETCHAN_RECV, capacity);
    if (pair->importer == NULL || pair->exported_out == NULL || pair->exported_in == NULL) {
        return false;
    }
    pair->imported_in = import_points(pair->importer, "down", NETCHAN_RECV, capacity);
    pair->imported_out = import_points(pair->importer, "up", NETCHAN_SEND, capacity);
    return pair->imported_in != NULL && pair->imported_out != NULL;
}

static void pair_close(pair_t *pair)
{
    netchan_importer_destroy(&pair->importer);
    netchan_exporter_destroy(&pair->exporter);
}

/* Receives Points until the channel reports an error. Returns how many arrived in order from
 * x=1 and stores the error that ended the stream. */
static int recv_until_error(netchan_chan_t *in, netchan_err *end_p)
{
    int expected = 1;
    for (;;) {
        int x = 0;
        netchan_err err = recv_point(in, RECV_TIMEOUT_MS, &x, NULL);
        if (err != NETCHAN_OK) {
            *end_p = err;
            return expected - 1;
        }
        if (x != expected) {
            printf("# expected x=%d, got %d\n", expected, x);
            *end_p = NETCHAN_OK;
            return expected - 1;
        }
        expected++;
    }
}

typedef struct sender {
    netchan_chan_t *chan;
    int count;
    netchan_err result;
} sender_t;

/* Sends Points 1..count, blocking while the channel is full, then closes the channel. */
static void *sender_main(void *arg)
{
    sender_t *sender = arg;
    sender->result = send_points(sender->chan, 1, sender->count, 0);
    netchan_close(sender->chan);
    return NULL;
}

TEST(close_exporter_send_ends_stream)
{
    enum { COUNT = 100 };
    pair_t pair;
    if (!pair_open(&pair, 16)) {
        CHECK(!"setting up the channels failed");
        pair_close(&pair);
        return;
    }
    sender_t sender = {.chan = pair.exported_out, .count = COUNT};
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, sender_main, &sender) == 0);
    netchan_err end = NETCHAN_OK;
    CHECK_EQ_U64(recv_until_error(pair.imported_in, &end), COUNT);
    CHECK_ERR(end, NETCHAN_ECLOSED);
    pthread_join(thread, NULL);
    CHECK_ERR(sender.result, NETCHAN_OK);
    /* End of stream is sticky. */
    CHECK_ERR(recv_point(pair.imported_in, 100, NULL, NULL), NETCHAN_ECLOSED);
    CHECK_ERR(recv_point(pair.imported_in, NETCHAN_NOWAIT, NULL, NULL), NETCHAN_ECLOSED);
    CHECK_ERR(netchan_drain(pair.exported_out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    pair_close(&pair);
}

TEST(close_importer_send_ends_stream)
{
    enum { COUNT = 100 };
    pair_t pair;
    if (!pair_open(&pair, 128)) {
        CHECK(!"setting up the channels failed");
        pair_close(&pair);
        return;
    }
    CHECK_ERR(send_points(pair.imported_out, 1, COUNT, 0), NETCHAN_OK);
    CHECK_ERR(netchan_close(pair.imported_out), NETCHAN_OK);
    netchan_err end = NETCHAN_OK;
    CHECK_EQ_U64(recv_until_error(pair.exported_in, &end), COUNT);
    CHECK_ERR(end, NETCHAN_ECLOSED);
    CHECK(strstr(netchan_chan_error(pair.exported_in), "up") != NULL);
    CHECK_ERR(netchan_drain(pair.imported_out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    pair_close(&pair);
}

/* Closing before the importer binds: the importer still gets every value, then end of
 * stream. */
TEST(close_before_import_still_delivers)
{
    enum { COUNT = 10 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "late", NETCHAN_SEND, 16);
    netchan_importer_t *importer = NULL;
    if (out == NULL) {
        CHECK(!"exporting the channel failed");
        goto out;
    }
    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    CHECK_ERR(netchan_close(out), NETCHAN_OK);
    importer = start_importer(endpoint);
    netchan_chan_t *in = importer != NULL ? import_points(importer, "late", NETCHAN_RECV, 4) : NULL;
    if (in == NULL) {
        CHECK(!"importing the channel failed");
        goto out;
    }
    netchan_err end = NETCHAN_OK;
    CHECK_EQ_U64(recv_until_error(in, &end), COUNT);
    CHECK_ERR(end, NETCHAN_ECLOSED);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

typedef struct taker {
    netchan_chan_t *chan;
    int count;
    netchan_err result;
} taker_t;

static void *taker_main(void *arg)
{
    taker_t *taker = arg;
    taker->result = NETCHAN_OK;
    for (int i = 0; i < taker->count; i++) {
        netchan_err err = recv_point(taker->chan, RECV_TIMEOUT_MS, NULL, NULL);
        if (err != NETCHAN_OK) {
            taker->result = err;
            return NULL;
        }
    }
    return NULL;
}

TEST(close_drain_waits_for_acks)
{
    enum { COUNT = 50 };
    pair_t pair;
    if (!pair_open(&pair, 64)) {
        CHECK(!"setting up the channels failed");
        pair_close(&pair);
        return;
    }
    CHECK_ERR(send_points(pair.exported_out, 1, COUNT, 0), NETCHAN_OK);
    CHECK_ERR(send_points(pair.imported_out, 1, COUNT, 0), NETCHAN_OK);
    taker_t down = {.chan = pair.imported_in, .count = COUNT};
    taker_t up = {.chan = pair.exported_in, .count = COUNT};
    pthread_t down_thread;
    pthread_t up_thread;
    REQUIRE(pthread_create(&down_thread, NULL, taker_main, &down) == 0);
    REQUIRE(pthread_create(&up_thread, NULL, taker_main, &up) == 0);

    uint64_t pending = 99;
    CHECK_ERR(netchan_drain(pair.exported_out, DRAIN_TIMEOUT_MS, &pending), NETCHAN_OK);
    CHECK_EQ_U64(pending, 0);
    CHECK_EQ_U64(netchan_pending(pair.exported_out), 0);
    pending = 99;
    CHECK_ERR(netchan_drain(pair.imported_out, DRAIN_TIMEOUT_MS, &pending), NETCHAN_OK);
    CHECK_EQ_U64(pending, 0);
    pthread_join(down_thread, NULL);
    pthread_join(up_thread, NULL);
    CHECK_ERR(down.result, NETCHAN_OK);
    CHECK_ERR(up.result, NETCHAN_OK);

    /* On the receiving sides, drain waits until the senders confirmed the acknowledgements. */
    CHECK_ERR(netchan_drain(pair.imported_in, DRAIN_TIMEOUT_MS, &pending), NETCHAN_OK);
    CHECK_EQ_U64(pending, 0);
    CHECK_ERR(netchan_drain(pair.exported_in, DRAIN_TIMEOUT_MS, &pending), NETCHAN_OK);
    CHECK_EQ_U64(pending, 0);
    pair_close(&pair);
}

TEST(close_drain_without_receiver_times_out)
{
    enum { COUNT = 5 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "nobody", NETCHAN_SEND, 16);
    if (out != NULL) {
        CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
        uint64_t pending = 0;
        int64_t start = harness_now_ms();
        CHECK_ERR(netchan_drain(out, 150, &pending), NETCHAN_ETIMEDOUT);
        CHECK(harness_now_ms() - start >= 150);
        CHECK_EQ_U64(pending, COUNT);
        const char *error = netchan_chan_error(out);
        CHECK(strstr(error, "nobody") != NULL);
        CHECK(strstr(error, "5") != NULL);
        CHECK_ERR(netchan_drain(out, NETCHAN_NOWAIT, NULL), NETCHAN_ETIMEDOUT);
    } else {
        CHECK(!"exporting the channel failed");
    }
    netchan_exporter_destroy(&exporter);
}

/* Values delivered into an exporter's inbox but not taken stay unacknowledged at the importer,
 * so the importer's drain times out with all of them pending. */
TEST(close_drain_untaken_values_pending)
{
    enum { COUNT = 5 };
    pair_t pair;
    if (!pair_open(&pair, 16)) {
        CHECK(!"setting up the channels failed");
        pair_close(&pair);
        return;
    }
    CHECK_ERR(send_points(pair.imported_out, 1, COUNT, 0), NETCHAN_OK);
    CHECK(WAIT_UNTIL(netchan_pending(pair.exported_in) == COUNT, 5000));
    uint64_t pending = 0;
    CHECK_ERR(netchan_drain(pair.imported_out, 150, &pending), NETCHAN_ETIMEDOUT);
    CHECK_EQ_U64(pending, COUNT);
    pair_close(&pair);
}

TEST(close_send_after_close_fails)
{
    pair_t pair;
    if (!pair_open(&pair, 16)) {
        CHECK(!"setting up the channels failed");
        pair_close(&pair);
        return;
    }
    netchan_chan_t *senders[] = {pair.exported_out, pair.imported_out};
    for (int i = 0; i < 2; i++) {
        CHECK_ERR(netchan_close(senders[i]), NETCHAN_OK);
        CHECK_ERR(netchan_close(senders[i]), NETCHAN_OK);
        CHECK_ERR(send_point(senders[i], 1, 0, NETCHAN_NOWAIT), NETCHAN_ECLOSED);
        CHECK_ERR(send_point(senders[i], 1, 0, NETCHAN_FOREVER), NETCHAN_ECLOSED);
        CHECK(strstr(netchan_chan_error(senders[i]), "closed") != NULL);
        CHECK_EQ_U64(netchan_pending(senders[i]), 0);
    }
    /* Nothing sent, so both receivers see only the end of the stream. */
    CHECK_ERR(recv_point(pair.imported_in, RECV_TIMEOUT_MS, NULL, NULL), NETCHAN_ECLOSED);
    CHECK_ERR(recv_point(pair.exported_in, RECV_TIMEOUT_MS, NULL, NULL), NETCHAN_ECLOSED);
    pair_close(&pair);
}

typedef struct blocked_call {
    netchan_chan_t *chan;
    bool receive;
    atomic_bool done;
    netchan_err result;
} blocked_call_t;

static void *blocked_call_main(void *arg)
{
    blocked_call_t *call = arg;
    if (call->receive) {
        call->result = recv_point(call->chan, NETCHAN_FOREVER, NULL, NULL);
    } else {
        call->result = send_point(call->chan, 2, 0, NETCHAN_FOREVER);
    }
    atomic_store(&call->done, true);
    return NULL;
}

TEST(close_wakes_blocked_sender)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "one", NETCHAN_SEND, 1);
    if (out != NULL) {
        CHECK_ERR(send_point(out, 1, 0, NETCHAN_NOWAIT), NETCHAN_OK);
        blocked_call_t call = {.chan = out, .receive = false};
        pthread_t thread;
        REQUIRE(pthread_create(&thread, NULL, blocked_call_main, &call) == 0);
        CHECK(!WAIT_UNTIL(atomic_load(&call.done), 200));
        CHECK_ERR(netchan_close(out), NETCHAN_OK);
        CHECK(WAIT_UNTIL(atomic_load(&call.done), 5000));
        if (atomic_load(&call.done)) {
            pthread_join(thread, NULL);
            CHECK_ERR(call.result, NETCHAN_ECLOSED);
        } else {
            pthread_detach(thread);
        }
        CHECK_EQ_U64(netchan_pending(out), 1);
    } else {
        CHECK(!"exporting the channel failed");
    }
    netchan_exporter_destroy(&exporter);
}

TEST(close_wakes_blocked_receiver)
{
    pair_t pair;
    if (!pair_open(&pair, 16)) {
        CHECK(!"setting up the channels failed");
        pair_close(&pair);
        return;
    }
    blocked_call_t call = {.chan = pair.imported_in, .receive = true};
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, blocked_call_main, &call) == 0);
    CHECK(!WAIT_UNTIL(atomic_load(&call.done), 200));
    CHECK_ERR(netchan_close(pair.imported_in), NETCHAN_OK);
    CHECK(WAIT_UNTIL(atomic_load(&call.done), 5000));
    if (atomic_load(&call.done)) {
        pthread_join(thread, NULL);
        CHECK_ERR(call.result, NETCHAN_ECLOSED);
    } else {
        pthread_detach(thread);
    }
    pair_close(&pair);
}

/* A receiver that closes its channel hands back the values it had not taken. Another importer
 * then gets them in order, marked as first deliveries. */
TEST(close_receiver_hands_values_back)
{
    enum { COUNT = 20, CAPACITY = 8, TAKEN = 3 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *first = start_importer(endpoint);
    netchan_importer_t *second = NULL;
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    netchan_chan_t *in1 =
        first != NULL ? import_points(first, "jobs", NETCHAN_RECV, CAPACITY) : NULL;
    if (out == NULL || in1 == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    for (int expected = 1; expected <= TAKEN; expected++) {
        int x = 0;
        CHECK_ERR(recv_point(in1, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK(x == expected);
    }
    CHECK(WAIT_UNTIL(netchan_pending(in1) == CAPACITY, 5000));
    CHECK_ERR(netchan_close(in1), NETCHAN_OK);
    CHECK_ERR(recv_point(in1, NETCHAN_NOWAIT, NULL, NULL), NETCHAN_ECLOSED);
    CHECK_ERR(netchan_drain(in1, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK(WAIT_UNTIL(netchan_pending(out) == COUNT - TAKEN, 5000));

    second = start_importer(endpoint);
    netchan_chan_t *in2 =
        second != NULL ? import_points(second, "jobs", NETCHAN_RECV, CAPACITY) : NULL;
    if (in2 == NULL) {
        CHECK(!"importing the channel again failed");
        goto out;
    }
    for (int expected = TAKEN + 1; expected <= COUNT; expected++) {
        netchan_msg_t *msg = NULL;
        int x = 0;
        uint32_t attempts = 0;
        CHECK_ERR(recv_point_msg(in2, RECV_TIMEOUT_MS, &msg, &x, &attempts), NETCHAN_OK);
        CHECK(x == expected);
        CHECK_EQ_U64(attempts, 1);
        netchan_msg_destroy(&msg);
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    netchan_importer_destroy(&first);
    netchan_importer_destroy(&second);
    netchan_exporter_destroy(&exporter);
}

/* Runs in a child process: opens an exporter and an importer, then exits with both open. */
static int exit_without_destroy(void)
{
    netchan_exporter_t *exporter = NULL;
    netchan_importer_t *importer = NULL;
    netchan_chan_t *chan = NULL;
    char endpoint[ENDPOINT_SIZE];
    if (netchan_exporter_new(&exporter) != NETCHAN_OK ||
        netchan_exporter_bind(exporter, "tcp://127.0.0.1:*") != NETCHAN_OK ||
        netchan_exporter_endpoint(exporter, endpoint, sizeof(endpoint)) != NETCHAN_OK ||
        netchan_export_bytes(exporter, "left", NETCHAN_SEND, NULL, NULL, NULL, &chan) !=
            NETCHAN_OK ||
        netchan_importer_new(&importer) != NETCHAN_OK ||
        netchan_importer_connect(importer, endpoint) != NETCHAN_OK) {
        return 3;
    }
    return 0; /* main() returns, so the exit handlers run with both endpoints still open */
}

/* A process that returns from main() without destroying its exporter and importer must still
 * exit: czmq's exit handler closes their engines' pipes and terminates libzmq's context. The
 * child is this program run again, with LeakSanitizer off where it is built in, since the
 * handles it never frees are leaks by design. */
TEST(close_exit_without_destroy_terminates)
{
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        char *argv[] = {"test_close", "--exit-without-destroy", NULL};
        execv("/proc/self/exe", argv);
        _exit(4);
    }
    int status = 0;
    bool exited = WAIT_UNTIL(waitpid(child, &status, WNOHANG) == child, 10000);
    if (!exited) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
    }
    CHECK(exited);
    CHECK(exited && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--exit-without-destroy") == 0) {
        return exit_without_destroy();
    }
    RUN(close_exporter_send_ends_stream);
    RUN(close_importer_send_ends_stream);
    RUN(close_before_import_still_delivers);
    RUN(close_drain_waits_for_acks);
    RUN(close_drain_without_receiver_times_out);
    RUN(close_drain_untaken_values_pending);
    RUN(close_send_after_close_fails);
    RUN(close_wakes_blocked_sender);
    RUN(close_wakes_blocked_receiver);
    RUN(close_receiver_hands_values_back);
    RUN(close_exit_without_destroy_terminates);
    return harness_done();
}
