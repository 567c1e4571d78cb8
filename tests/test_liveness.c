/* Integration tests of lost peers. An exporter notices an importer process that was killed or
 * exited without a goodbye, or an importer that went silent, and redelivers what was in flight
 * to it. An importer notices a silent or vanished exporter and carries its pending values to
 * the exporter that replaces it.
 *
 * The importer processes are this program run again with "--child-importer": the parent forks
 * and the child execs at once, because a forked copy of a process with running libzmq threads
 * cannot use libzmq. */
#include "rawpeer.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

/* ---- the child importer ---- */

/* Runs in the child. Imports channel from endpoint with capacity and takes count values, of
 * which it acknowledges the first acked (all of them without explicit acknowledgement). Once
 * the sender confirmed the acknowledgements and the unacknowledged values fill the capacity, it
 * prints "ready". Then it either exits without ending its session when a byte arrives on its
 * stdin ("exit") or waits to be killed ("kill"). */
static int child_importer(const char *endpoint, const char *channel, int capacity, int count,
                          int acked, bool explicit_ack, const char *ending)
{
    /* Ends the child on its own if the parent never kills it. */
    alarm(30);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in = importer != NULL ? import_points_with(importer, channel, NETCHAN_RECV,
                                                               (uint32_t)capacity, explicit_ack)
                                          : NULL;
    if (in == NULL) {
        printf("failed import\n");
        fflush(stdout);
        _exit(2);
    }
    for (int i = 0; i < count; i++) {
        netchan_msg_t *msg = NULL;
        int x = 0;
        if (recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, NULL) != NETCHAN_OK || x != i + 1) {
            printf("failed receive %d\n", i + 1);
            fflush(stdout);
            _exit(2);
        }
        if (explicit_ack && i < acked) {
            netchan_msg_ack(msg);
        }
        /* Unacknowledged values stay pending after their message is released. */
        netchan_msg_destroy(&msg);
    }
    if (netchan_drain(in, DRAIN_TIMEOUT_MS, NULL) != NETCHAN_OK ||
        !WAIT_UNTIL(netchan_pending(in) == (uint64_t)(capacity - (count - acked)), 5000)) {
        printf("failed drain\n");
        fflush(stdout);
        _exit(2);
    }
    printf("ready\n");
    fflush(stdout);
    if (strcmp(ending, "exit") == 0) {
        char byte;
        while (read(STDIN_FILENO, &byte, 1) < 0) {
        }
        _exit(0);
    }
    for (;;) {
        pause();
    }
}

/* ---- the parent's side ---- */

typedef struct child {
    pid_t pid;
    int output; /* read end of the child's stdout */
    int input;  /* write end of the child's stdin */
} child_t;

/* Starts this program as a child importer, with the arguments of child_importer(). */
static bool child_start(child_t *child, const char *endpoint, const char *channel, int capacity,
                        int count, int acked, bool explicit_ack, const char *ending)
{
    char capacity_text[16];
    char count_text[16];
    char acked_text[16];
    snprintf(capacity_text, sizeof(capacity_text), "%d", capacity);
    snprintf(count_text, sizeof(count_text), "%d", count);
    snprintf(acked_text, sizeof(acked_text), "%d", acked);
    char *argv[] = {"test_liveness",  "--child-importer",
                    (char *)endpoint, (char *)channel,
                    capacity_text,    count_text,
                    acked_text,       explicit_ack ? "explicit" : "auto",
                    (char *)ending,   NULL};
    int out_fds[2];
    int in_fds[2];
    if (pipe(out_fds) != 0) {
        return false;
    }
    if (pipe(in_fds) != 0) {
        close(out_fds[0]);
        close(out_fds[1]);
        return false;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(out_fds[0]);
        close(out_fds[1]);
        close(in_fds[0]);
        close(in_fds[1]);
        return false;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls until exec. */
        dup2(out_fds[1], STDOUT_FILENO);
        dup2(in_fds[0], STDIN_FILENO);
        close(out_fds[0]);
        close(out_fds[1]);
        close(in_fds[0]);
        close(in_fds[1]);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(out_fds[1]);
    close(in_fds[0]);
    child->pid = pid;
    child->output = out_fds[0];
    child->input = in_fds[1];
    return true;
}

/* Reads the child's output until a line starting with "ready" or timeout_ms passes. */
static bool child_wait_ready(child_t *child, int timeout_ms)
{
    char line[256];
    size_t used = 0;
    int64_t deadline = harness_now_ms() + timeout_ms;
    while (harness_now_ms() < deadline) {
        struct pollfd fd = {child->output, POLLIN, 0};
        int left = (int)(deadline - harness_now_ms());
        if (poll(&fd, 1, left > 0 ? left : 0) <= 0) {
            continue;
        }
        ssize_t n = read(child->output, line + used, sizeof(line) - 1 - used);
        if (n <= 0) {
            break;
        }
        used += (size_t)n;
        line[used] = '\0';
        if (strstr(line, "ready\n") != NULL) {
            return true;
        }
        if (strstr(line, "failed") != NULL || used == sizeof(line) - 1) {
            break;
        }
    }
    line[used] = '\0';
    printf("# the child importer did not get ready; its output: %s\n", line);
    return false;
}

/* Kills the child (if still running) and reaps it. */
static void child_stop(child_t *child)
{
    if (child->pid > 0) {
        kill(child->pid, SIGKILL);
        waitpid(child->pid, NULL, 0);
        child->pid = 0;
    }
    if (child->output >= 0) {
        close(child->output);
        child->output = -1;
    }
    if (child->input >= 0) {
        close(child->input);
        child->input = -1;
    }
}

/* Checks the exporter side of a lost child importer. The child takes taken_count values and
 * acknowledges acked of them (all without explicit acknowledgement), and the exporter sends
 * exactly enough values for the unacknowledged ones to fill the child's capacity. A second
 * importer, bound before the loss so that only redelivery can feed it, must then get every
 * unacknowledged value in order, each marked as a second attempt, within two seconds. */
static void check_lost_child(const char *ending, bool explicit_ack, int taken_count, int acked)
{
    enum { CAPACITY = 8 };
    if (!explicit_ack) {
        acked = taken_count;
    }
    int total = acked + CAPACITY;
    int first_unacked = acked + 1;
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    child_t child = {0, -1, -1};
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    if (out == NULL) {
        CHECK(!"exporting the channel failed");
        goto out;
    }
    CHECK_ERR(send_points(out, 1, total, 0), NETCHAN_OK);
    if (!child_start(&child, endpoint, "jobs", CAPACITY, taken_count, acked, explicit_ack,
                     ending)) {
        CHECK(!"starting the child importer failed");
        goto out;
    }
    if (!child_wait_ready(&child, 15000)) {
        CHECK(!"the child importer did not get ready");
        goto out;
    }
    CHECK_EQ_U64(netchan_pending(out), CAPACITY);

    importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, 64) : NULL;
    if (in == NULL) {
        CHECK(!"importing the channel in the parent failed");
        goto out;
    }
    /* Every value is with the child, so nothing is left for this importer yet. */
    CHECK_ERR(recv_point(in, NETCHAN_NOWAIT, NULL, NULL), NETCHAN_EAGAIN);

    int64_t lost_at = harness_now_ms();
    if (strcmp(ending, "kill") == 0) {
        kill(child.pid, SIGKILL);
    } else {
        CHECK(write(child.input, "x", 1) == 1);
    }
    waitpid(child.pid, NULL, 0);
    child.pid = 0;

    for (int expected = first_unacked; expected <= total; expected++) {
        netchan_msg_t *msg = NULL;
        int x = 0;
        uint32_t attempts = 0;
        netchan_err err = recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, &attempts);
        CHECK_ERR(err, NETCHAN_OK);
        if (err != NETCHAN_OK) {
            break;
        }
        if (expected == first_unacked) {
            int64_t elapsed = harness_now_ms() - lost_at;
            printf("# the first value came back %" PRId64 " ms after the loss\n", elapsed);
            CHECK(elapsed <= 2000);
        }
        CHECK(x == expected);
        CHECK_EQ_U64(attempts, 2);
        netchan_msg_destroy(&msg);
    }
    CHECK_ERR(recv_point(in, 100, NULL, NULL), NETCHAN_ETIMEDOUT);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    child_stop(&child);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(liveness_killed_importer_redelivered)
{
    check_lost_child("kill", false, 20, 0);
}

TEST(liveness_exited_importer_redelivered)
{
    check_lost_child("exit", false, 20, 0);
}

TEST(liveness_killed_unacked_redelivered)
{
    check_lost_child("kill", true, 20, 17);
}

/* An importer that stays connected but stops sending (its libzmq still replies to ZMTP
 * heartbeats) is lost after the exporter's heartbeat timeout of 1000 ms, and its in-flight
 * values go to another importer. */
TEST(liveness_silent_importer_redelivered)
{
    enum { COUNT = 4 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    raw_peer_t peer;
    REQUIRE(raw_open(&peer, ZMQ_DEALER, 200));
    REQUIRE(zmq_connect(peer.socket, endpoint) == 0);
    static const uint8_t session[NC_SESSION_ID_SIZE] = {0x90, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    if (out == NULL || !raw_hello(&peer, session, 5000)) {
        CHECK(!"setting up failed");
        goto out;
    }
    Netchan__Wire__Frame *bound =
        raw_bind(&peer, 1, "jobs", NETCHAN__WIRE__DIRECTION__DIRECTION_RECV, COUNT, 5000);
    REQUIRE(bound != NULL);
    CHECK(bound->bound->error == NETCHAN__WIRE__ERROR_CODE__ERROR_NONE);
    nc_frame_free(bound);
    int64_t silent_from = harness_now_ms();

    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    Netchan__Wire__Frame *data = raw_expect(&peer, NETCHAN__WIRE__FRAME__BODY_DATA, 5000, NULL);
    CHECK(data != NULL);
    nc_frame_free(data);

    importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, 16) : NULL;
    if (in == NULL) {
        CHECK(!"importing the channel failed");
        goto out;
    }
    for (int expected = 1; expected <= COUNT; expected++) {
        netchan_msg_t *msg = NULL;
        int x = 0;
        uint32_t attempts = 0;
        netchan_err err = recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, &attempts);
        CHECK_ERR(err, NETCHAN_OK);
        if (err != NETCHAN_OK) {
            break;
        }
        if (expected == 1) {
            int64_t elapsed = harness_now_ms() - silent_from;
            printf("# redelivered %" PRId64 " ms after the importer fell silent\n", elapsed);
            CHECK(elapsed >= 900);
            CHECK(elapsed <= 2000);
        }
        CHECK(x == expected);
        CHECK_EQ_U64(attempts, 2);
        netchan_msg_destroy(&msg);
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    raw_close(&peer);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* An importer whose exporter welcomes it and then stops replying (while its libzmq still
 * replies to ZMTP heartbeats) counts the connection as lost after its heartbeat timeout and
 * sends Hello again. */
TEST(liveness_silent_exporter_noticed)
{
    enum { INTERVAL_MS = 100, TIMEOUT_MS = 500 };
    raw_peer_t peer;
    REQUIRE(raw_open(&peer, ZMQ_ROUTER, 100));
    REQUIRE(zmq_bind(peer.socket, "tcp://127.0.0.1:*") == 0);
    char endpoint[ENDPOINT_SIZE];
    size_t size = sizeof(endpoint);
    REQUIRE(zmq_getsockopt(peer.socket, ZMQ_LAST_ENDPOINT, endpoint, &size) == 0);

    netchan_importer_t *importer = NULL;
    REQUIRE(netchan_importer_new(&importer) == NETCHAN_OK);
    CHECK_ERR(netchan_importer_set_heartbeat(importer, INTERVAL_MS, TIMEOUT_MS), NETCHAN_OK);
    CHECK_ERR(netchan_importer_connect(importer, endpoint), NETCHAN_OK);

    Netchan__Wire__Frame *hello = raw_expect(&peer, NETCHAN__WIRE__FRAME__BODY_HELLO, 5000, NULL);
    REQUIRE(hello != NULL);
    CHECK_EQ_U64(hello->hello->version, NC_PROTOCOL_VERSION);
    CHECK_EQ_U64(hello->hello->session.len, NC_SESSION_ID_SIZE);
    nc_frame_free(hello);

    Netchan__Wire__Welcome welcome = NETCHAN__WIRE__WELCOME__INIT;
    welcome.version = NC_PROTOCOL_VERSION;
    welcome.instance = 0x1234;
    welcome.timeout_ms = TIMEOUT_MS;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_WELCOME;
    frame.welcome = &welcome;
    CHECK(raw_send_frame(&peer, &frame));
    int64_t welcomed_at = harness_now_ms();

    /* Pings arrive while the importer waits for replies, then a new Hello that names the
     * instance it was welcomed by. A Hello without it was sent before the Welcome arrived. */
    int pings = 0;
    int early_hellos = 0;
    Netchan__Wire__Frame *again = NULL;
    while (again == NULL && harness_now_ms() - welcomed_at < 5000) {
        Netchan__Wire__Frame *received = raw_recv_frame(&peer);
        if (received == NULL) {
            continue;
        }
        if (received->body_case == NETCHAN__WIRE__FRAME__BODY_PING) {
            pings++;
        } else if (received->body_case == NETCHAN__WIRE__FRAME__BODY_HELLO) {
            if (received->hello->known_instance == 0x1234) {
                again = received;
                continue;
            }
            early_hellos++;
        }
        nc_frame_free(received);
    }
    int64_t elapsed = harness_now_ms() - welcomed_at;
    printf("# a new Hello after %" PRId64 " ms, %d pings and %d Hellos sent before the Welcome\n",
           elapsed, pings, early_hellos);
    CHECK(again != NULL);
    CHECK(elapsed >= TIMEOUT_MS - 50);
    CHECK(elapsed <= 4 * TIMEOUT_MS);
    CHECK(pings >= 2);
    if (again != NULL) {
        nc_frame_free(again);
    }
    const char *error = netchan_importer_error(importer);
    printf("# importer error: %s\n", error);
    CHECK(strstr(error, "silent") != NULL);

    netchan_importer_destroy(&importer);
    raw_close(&peer);
}

/* An importer notices its exporter is gone (a new import times out), keeps the values it sends
 * meanwhile pending, and delivers them to a new exporter at the same endpoint without any
 * further send. */
TEST(liveness_exporter_replaced_values_kept)
{
    enum { BEFORE = 5, WHILE_DOWN = 5 };
    ipc_dir_t dir;
    REQUIRE(ipc_dir_create(&dir));
    char bind_to[ENDPOINT_SIZE];
    ipc_endpoint(&dir, "exporter", bind_to);
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter_at(bind_to, endpoint);
    netchan_importer_t *importer = NULL;
    if (exporter == NULL) {
        CHECK(!"starting the exporter failed");
        goto out;
    }
    netchan_chan_t *in = export_points(exporter, "up", NETCHAN_RECV, 64);
    importer = start_importer(endpoint);
    netchan_chan_t *out = importer != NULL ? import_points(importer, "up", NETCHAN_SEND, 64) : NULL;
    if (in == NULL || out == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    CHECK_ERR(send_points(out, 1, BEFORE, 0), NETCHAN_OK);
    for (int expected = 1; expected <= BEFORE; expected++) {
        int x = 0;
        CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK(x == expected);
    }
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    netchan_exporter_destroy(&exporter);

    netchan_chan_t *other = NULL;
    CHECK_ERR(netchan_import(importer, "other", NETCHAN_RECV, &netchan__test__point__descriptor,
                             NULL, 400, &other),
              NETCHAN_ETIMEDOUT);
    CHECK_ERR(send_points(out, BEFORE + 1, BEFORE + WHILE_DOWN, 0), NETCHAN_OK);
    CHECK_EQ_U64(netchan_pending(out), WHILE_DOWN);

    exporter = start_exporter_at(bind_to, endpoint);
    if (exporter == NULL) {
        CHECK(!"restarting the exporter failed");
        goto out;
    }
    in = export_points(exporter, "up", NETCHAN_RECV, 64);
    netchan_chan_t *other_out = export_points(exporter, "other", NETCHAN_SEND, 16);
    REQUIRE(in != NULL);
    REQUIRE(other_out != NULL);
    for (int expected = BEFORE + 1; expected <= BEFORE + WHILE_DOWN; expected++) {
        int x = 0;
        CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK(x == expected);
    }
    CHECK_ERR(recv_point(in, 100, NULL, NULL), NETCHAN_ETIMEDOUT);
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    other = import_points(importer, "other", NETCHAN_RECV, 16);
    CHECK(other != NULL);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    const char *names[] = {"exporter"};
    ipc_dir_remove(&dir, names, 1);
}

/* A raw ROUTER plays the exporter through a session that it lost and the importer resumes on
 * the same connection, as the real exporter does: it replies to the importer's next frame with
 * NO_SESSION, welcomes the new Hello as expired, and may still send values under the link's old
 * bind epoch before the new Bind reaches it. Then, after the new Bound, it sends the values it
 * took back and new ones up to the new credit. The importer must deliver every value in order
 * and raise no protocol error. */
TEST(liveness_resume_keeps_credit_aligned)
{
    raw_peer_t peer;
    REQUIRE(raw_open(&peer, ZMQ_ROUTER, 100));
    REQUIRE(zmq_bind(peer.socket, "tcp://127.0.0.1:*") == 0);
    char endpoint[ENDPOINT_SIZE];
    size_t size = sizeof(endpoint);
    REQUIRE(zmq_getsockopt(peer.socket, ZMQ_LAST_ENDPOINT, endpoint, &size) == 0);
    raw_import_t call = {start_importer(endpoint), "jobs", 8, false, NULL};
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
    uint32_t connection = hello->hello->connection;
    nc_frame_free(hello);
    CHECK(raw_welcome(&peer, 0x77, connection, false, false));
    Netchan__Wire__Frame *bind = raw_expect_bind(&peer, &errors);
    if (bind == NULL) {
        CHECK(!"no Bind from the importer");
        goto out;
    }
    uint32_t link = bind->bind->link;
    uint32_t old_epoch = bind->bind->epoch;
    CHECK_EQ_U64(bind->bind->credit, 8);
    nc_frame_free(bind);
    CHECK(raw_bound(&peer, link, old_epoch));
    pthread_join(thread, NULL);
    joined = true;
    if (call.chan == NULL) {
        CHECK(!"the import failed");
        goto out;
    }
    CHECK(raw_send_points_in_epoch(&peer, link, old_epoch, 1, 4));

    /* The exporter has lost the session and replies with NO_SESSION. */
    Netchan__Wire__Error no_session = NETCHAN__WIRE__ERROR__INIT;
    no_session.code = NETCHAN__WIRE__ERROR_CODE__ERROR_NO_SESSION;
    no_session.message = "no session for this connection; send Hello";
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_ERROR;
    frame.error = &no_session;
    CHECK(raw_send_frame(&peer, &frame));
    hello = raw_expect(&peer, NETCHAN__WIRE__FRAME__BODY_HELLO, 5000, NULL);
    if (hello == NULL) {
        CHECK(!"no Hello after NO_SESSION");
        goto out;
    }
    CHECK_EQ_U64(hello->hello->known_instance, 0x77);
    connection = hello->hello->connection;
    nc_frame_free(hello);

    /* The session comes back expired, with values 1 to 4 taken back. Before the new Bind
     * arrives, the exporter sends them again under the old epoch. */
    CHECK(raw_welcome(&peer, 0x77, connection, true, true));
    CHECK(raw_send_points_in_epoch(&peer, link, old_epoch, 1, 4));
    bind = raw_expect_bind(&peer, &errors);
    if (bind == NULL) {
        CHECK(!"no Bind after the resume");
        goto out;
    }
    CHECK(bind->bind->resume);
    CHECK(bind->bind->epoch != old_epoch);
    uint32_t epoch = bind->bind->epoch;
    uint64_t credit = bind->bind->credit;
    nc_frame_free(bind);
    printf("# the importer granted %" PRIu64 " values when it bound again\n", credit);
    CHECK(raw_bound(&peer, link, epoch));

    /* Values 1 to 4 are unacknowledged, so they go again first, then new ones up to the new
     * credit, in one batch as a sender may send them. */
    uint64_t last = credit >= 4 ? credit : 4;
    CHECK(raw_send_points_in_epoch(&peer, link, epoch, 1, last));

    /* The importer handles frames in order, so its Pong shows it has handled the batch, and any
     * Error about it came before. The application takes nothing before that, so no credit freed
     * by taking values can hide a miscount. */
    Netchan__Wire__Ping ping = NETCHAN__WIRE__PING__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_PING;
    frame.ping = &ping;
    CHECK(raw_collect_pong(&peer, &frame, &errors));

    for (uint64_t expected = 1; expected <= last; expected++) {
        int x = 0;
        netchan_err err = recv_point(call.chan, 2000, &x, NULL);
        CHECK_ERR(err, NETCHAN_OK);
        if (err != NETCHAN_OK) {
            printf("# value %" PRIu64 " of %" PRIu64 " did not arrive\n", expected, last);
            break;
        }
        CHECK_EQ_U64(x, expected);
    }
    CHECK_ERR(recv_point(call.chan, 100, NULL, NULL), NETCHAN_ETIMEDOUT);
    CHECK_EQ_U64(errors, 0);
out:
    if (!joined) {
        pthread_join(thread, NULL);
    }
    netchan_importer_destroy(&call.importer);
    raw_close(&peer);
}

int main(int argc, char **argv)
{
    if (argc == 9 && strcmp(argv[1], "--child-importer") == 0) {
        return child_importer(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
                              strcmp(argv[7], "explicit") == 0, argv[8]);
    }
    RUN(liveness_killed_importer_redelivered);
    RUN(liveness_exited_importer_redelivered);
    RUN(liveness_killed_unacked_redelivered);
    RUN(liveness_silent_importer_redelivered);
    RUN(liveness_silent_exporter_noticed);
    RUN(liveness_exporter_replaced_values_kept);
    RUN(liveness_resume_keeps_credit_aligned);
    return harness_done();
}
