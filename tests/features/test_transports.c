/* Feature tests of transports: round trips over tcp://, ipc:// and inproc://, and the reverse
 * setup where the importer binds and the exporter connects out to it. In the reverse setup the
 * importer is also replaced at the same endpoint, in this process or as a killed and restarted
 * child process, and the exporter reconnects. */
#include "feature_support.h"

/* Sends count Points each way between an exporter and an importer that are already bound to
 * channels "down" (exporter sends) and "up" (importer sends), starting at x = first, and
 * checks that they arrive in order and are acknowledged. Every channel has room for count
 * values, so that all sends complete before the receives start. */
static void check_both_ways(netchan_chan_t *down, netchan_chan_t *down_in, netchan_chan_t *up,
                            netchan_chan_t *up_out, int first, int count)
{
    CHECK_ERR(send_points(down, first, first + count - 1, 0), NETCHAN_OK);
    CHECK_ERR(send_points(up_out, first, first + count - 1, 0), NETCHAN_OK);
    for (int expected = first; expected < first + count; expected++) {
        int x = 0;
        CHECK_ERR(recv_point(down_in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK_EQ_U64(x, expected);
        if (x != expected) {
            break;
        }
    }
    for (int expected = first; expected < first + count; expected++) {
        int x = 0;
        CHECK_ERR(recv_point(up, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
        CHECK_EQ_U64(x, expected);
        if (x != expected) {
            break;
        }
    }
    CHECK_ERR(netchan_drain(down, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_ERR(netchan_drain(up_out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
}

/* An exporter bound to bind_to and an importer connected to it exchange 100 values each way.
 * Then each sender closes and its receiver gets the end of stream. */
static void check_round_trip(const char *bind_to)
{
    enum { COUNT = 100 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter_at(bind_to, endpoint);
    REQUIRE(exporter != NULL);
    printf("# exporter bound to %s\n", endpoint);
    netchan_chan_t *down = export_points(exporter, "down", NETCHAN_SEND, 256);
    netchan_chan_t *up = export_points(exporter, "up", NETCHAN_RECV, 256);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *down_in =
        importer != NULL ? import_points(importer, "down", NETCHAN_RECV, 256) : NULL;
    netchan_chan_t *up_out =
        importer != NULL ? import_points(importer, "up", NETCHAN_SEND, 256) : NULL;
    ENSURE(down != NULL && up != NULL && down_in != NULL && up_out != NULL);

    check_both_ways(down, down_in, up, up_out, 1, COUNT);
    CHECK_ERR(netchan_close(down), NETCHAN_OK);
    CHECK_ERR(netchan_close(up_out), NETCHAN_OK);
    CHECK_ERR(recv_point(down_in, RECV_TIMEOUT_MS, NULL, NULL), NETCHAN_ECLOSED);
    CHECK_ERR(recv_point(up, RECV_TIMEOUT_MS, NULL, NULL), NETCHAN_ECLOSED);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(transport_tcp_round_trip)
{
    check_round_trip("tcp://127.0.0.1:*");
}

TEST(transport_ipc_round_trip)
{
    ipc_dir_t dir;
    REQUIRE(ipc_dir_create(&dir));
    char bind_to[ENDPOINT_SIZE];
    ipc_endpoint(&dir, "exporter", bind_to);
    check_round_trip(bind_to);
    const char *names[] = {"exporter"};
    ipc_dir_remove(&dir, names, 1);
}

TEST(transport_inproc_round_trip)
{
    char bind_to[ENDPOINT_SIZE];
    snprintf(bind_to, sizeof(bind_to), "inproc://netchan-features-%d", (int)getpid());
    check_round_trip(bind_to);
}

/* Creates an importer bound to bind_to and copies its resolved endpoint into endpoint.
 * Returns NULL on failure. */
static netchan_importer_t *start_bound_importer(const char *bind_to, char *endpoint)
{
    netchan_importer_t *importer = NULL;
    if (netchan_importer_new(&importer) != NETCHAN_OK) {
        return NULL;
    }
    netchan_err err = netchan_importer_bind(importer, bind_to);
    if (err == NETCHAN_OK) {
        err = netchan_importer_endpoint(importer, endpoint, ENDPOINT_SIZE);
    }
    if (err != NETCHAN_OK) {
        printf("# binding the importer to %s failed: %s: %s\n", bind_to, netchan_strerror(err),
               netchan_importer_error(importer));
        netchan_importer_destroy(&importer);
        return NULL;
    }
    return importer;
}

/* Imports "down" and "up" on an importer whose exporter connects to it. Returns false on
 * failure. */
static bool import_both(netchan_importer_t *importer, netchan_chan_t **down_in,
                        netchan_chan_t **up_out)
{
    *down_in = import_points(importer, "down", NETCHAN_RECV, 256);
    *up_out = import_points(importer, "up", NETCHAN_SEND, 256);
    return *down_in != NULL && *up_out != NULL;
}

/* The importer binds bind_to and the exporter connects out to it, and values flow both ways.
 * Then a new importer replaces it at the same endpoint. The exporter's connection comes back on
 * its own and the stream continues where it stopped. */
static void check_exporter_connects(const char *bind_to)
{
    enum { COUNT = 50 };
    char endpoint[ENDPOINT_SIZE];
    char endpoint_again[ENDPOINT_SIZE];
    netchan_chan_t *down_in = NULL;
    netchan_chan_t *up_out = NULL;
    netchan_exporter_t *exporter = NULL;
    netchan_event_t *event = NULL;
    netchan_importer_t *importer = start_bound_importer(bind_to, endpoint);
    REQUIRE(importer != NULL);
    printf("# importer bound to %s\n", endpoint);
    ENSURE(netchan_exporter_new(&exporter) == NETCHAN_OK);
    netchan_chan_t *down = export_points(exporter, "down", NETCHAN_SEND, 256);
    netchan_chan_t *up = export_points(exporter, "up", NETCHAN_RECV, 256);
    ENSURE(down != NULL && up != NULL);
    CHECK_ERR(netchan_exporter_connect(exporter, endpoint), NETCHAN_OK);
    ENSURE(import_both(importer, &down_in, &up_out));
    event = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_CONNECTED, 5000);
    CHECK(event != NULL);
    netchan_event_destroy(&event);
    check_both_ways(down, down_in, up, up_out, 1, COUNT);

    /* A new importer at the endpoint the first one resolved. NOTE: the bind is retried
     * because libzmq closes the old listening socket asynchronously after destroy returns;
     * transport_port_free_after_destroy shows that on its own. */
    netchan_importer_destroy(&importer);
    ENSURE(WAIT_UNTIL((importer = start_bound_importer(endpoint, endpoint_again)) != NULL, 2000));
    CHECK(strcmp(endpoint, endpoint_again) == 0);
    ENSURE(import_both(importer, &down_in, &up_out));
    event = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_CONNECTED, 5000);
    CHECK(event != NULL);
    netchan_event_destroy(&event);
    check_both_ways(down, down_in, up, up_out, COUNT + 1, COUNT);
    CHECK_EQ_U64(netchan_chan_stat(down, NETCHAN_STAT_ACKNOWLEDGED), 2 * COUNT);
    CHECK_EQ_U64(netchan_chan_stat(up, NETCHAN_STAT_RECEIVED), 2 * COUNT);
out:
    netchan_event_destroy(&event);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(transport_exporter_connects_tcp)
{
    check_exporter_connects("tcp://127.0.0.1:*");
}

TEST(transport_exporter_connects_ipc)
{
    ipc_dir_t dir;
    REQUIRE(ipc_dir_create(&dir));
    char bind_to[ENDPOINT_SIZE];
    ipc_endpoint(&dir, "importer", bind_to);
    check_exporter_connects(bind_to);
    const char *names[] = {"importer"};
    ipc_dir_remove(&dir, names, 1);
}

/* Destroying an exporter or importer frees its TCP port at once: a new one in the same process
 * can bind the port as soon as the destroy returns. Each round binds a port the system picks,
 * destroys the endpoint and binds the same port again, because the failure is a race. */
TEST(transport_port_free_after_destroy)
{
    enum { ROUNDS = 200 };
    int exporter_failures = 0;
    int importer_failures = 0;
    for (int round = 0; round < ROUNDS; round++) {
        char endpoint[ENDPOINT_SIZE];
        netchan_exporter_t *exporter = start_exporter(endpoint);
        if (exporter == NULL) {
            CHECK(!"starting an exporter failed");
            break;
        }
        netchan_exporter_destroy(&exporter);
        exporter = NULL;
        if (netchan_exporter_new(&exporter) != NETCHAN_OK) {
            CHECK(!"creating an exporter failed");
            break;
        }
        if (netchan_exporter_bind(exporter, endpoint) != NETCHAN_OK) {
            if (exporter_failures++ == 0) {
                printf("# exporter: %s\n", netchan_exporter_error(exporter));
            }
        }
        netchan_exporter_destroy(&exporter);

        netchan_importer_t *importer = start_bound_importer("tcp://127.0.0.1:*", endpoint);
        if (importer == NULL) {
            CHECK(!"starting an importer failed");
            break;
        }
        netchan_importer_destroy(&importer);
        if (netchan_importer_new(&importer) != NETCHAN_OK) {
            CHECK(!"creating an importer failed");
            break;
        }
        if (netchan_importer_bind(importer, endpoint) != NETCHAN_OK) {
            if (importer_failures++ == 0) {
                printf("# importer: %s\n", netchan_importer_error(importer));
            }
        }
        netchan_importer_destroy(&importer);
    }
    printf("# the port was still taken after %d of %d exporter and %d of %d importer destroys\n",
           exporter_failures, ROUNDS, importer_failures, ROUNDS);
    CHECK_EQ_U64(exporter_failures, 0);
    CHECK_EQ_U64(importer_failures, 0);
}

/* The child importer of the kill test: binds bind_to, prints "endpoint <resolved endpoint>",
 * imports channel for receiving and prints "value <x>" for each Point it takes, until the
 * channel ends or the parent kills it. */
static int child_bound_importer_main(const char *bind_to, const char *channel)
{
    alarm(60);
    char endpoint[ENDPOINT_SIZE];
    netchan_importer_t *importer = start_bound_importer(bind_to, endpoint);
    if (importer == NULL) {
        child_fail("bind");
    }
    printf("endpoint %s\n", endpoint);
    fflush(stdout);
    netchan_chan_t *in = import_points(importer, channel, NETCHAN_RECV, 16);
    if (in == NULL) {
        child_fail("import");
    }
    int x = 0;
    while (recv_point(in, 30000, &x, NULL) == NETCHAN_OK) {
        printf("value %d\n", x);
        fflush(stdout);
    }
    netchan_importer_destroy(&importer);
    return 0;
}

/* Starts a child importer bound to bind_to and copies its resolved endpoint into endpoint. */
static bool start_child_bound_importer(child_t *child, const char *bind_to, char *endpoint)
{
    const char *args[] = {"--child-bound-importer", bind_to, "jobs", NULL};
    if (!child_start(child, args)) {
        printf("# starting the child importer failed\n");
        return false;
    }
    return child_expect_line(child, "endpoint ", endpoint, ENDPOINT_SIZE, 15000);
}

/* Reads "value <x>" lines from the child and checks that they run from first to last. */
static bool child_takes(child_t *child, int first, int last)
{
    for (int expected = first; expected <= last; expected++) {
        char text[32] = "";
        if (!child_expect_line(child, "value ", text, sizeof(text), RECV_TIMEOUT_MS)) {
            return false;
        }
        if (atoi(text) != expected) {
            printf("# the child took x=%s, expected %d\n", text, expected);
            return false;
        }
    }
    return true;
}

/* The importer binds bind_to, the exporter connects out to it, and the importer process is
 * killed while the exporter keeps running. A new importer process bound to the same endpoint
 * gets the exporter's connection back and the rest of the stream. */
static void check_exporter_reconnects_after_kill(const char *bind_to)
{
    enum { COUNT = 5 };
    child_t first = CHILD_INIT;
    child_t second = CHILD_INIT;
    netchan_exporter_t *exporter = NULL;
    netchan_event_t *event = NULL;
    char endpoint[ENDPOINT_SIZE];
    char endpoint_again[ENDPOINT_SIZE];
    ENSURE(start_child_bound_importer(&first, bind_to, endpoint));
    ENSURE(netchan_exporter_new(&exporter) == NETCHAN_OK);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    ENSURE(out != NULL);
    CHECK_ERR(netchan_exporter_connect(exporter, endpoint), NETCHAN_OK);
    CHECK_ERR(send_points(out, 1, COUNT, 0), NETCHAN_OK);
    CHECK(child_takes(&first, 1, COUNT));
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);

    kill(first.pid, SIGKILL);
    event = wait_event(next_exporter_event, exporter, NETCHAN_EVENT_LOST, 5000);
    CHECK(event != NULL);
    netchan_event_destroy(&event);
    CHECK_ERR(send_points(out, COUNT + 1, 2 * COUNT, 0), NETCHAN_OK);

    ENSURE(start_child_bound_importer(&second, endpoint, endpoint_again));
    CHECK(strcmp(endpoint, endpoint_again) == 0);
    CHECK(child_takes(&second, COUNT + 1, 2 * COUNT));
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_ACKNOWLEDGED), 2 * COUNT);
out:
    netchan_event_destroy(&event);
    netchan_exporter_destroy(&exporter);
    child_stop(&first);
    child_stop(&second);
}

TEST(transport_reconnect_after_importer_kill_tcp)
{
    check_exporter_reconnects_after_kill("tcp://127.0.0.1:*");
}

TEST(transport_reconnect_after_importer_kill_ipc)
{
    ipc_dir_t dir;
    REQUIRE(ipc_dir_create(&dir));
    char bind_to[ENDPOINT_SIZE];
    ipc_endpoint(&dir, "importer", bind_to);
    check_exporter_reconnects_after_kill(bind_to);
    const char *names[] = {"importer"};
    ipc_dir_remove(&dir, names, 1);
}

int main(int argc, char **argv)
{
    features_child_main(argc, argv);
    if (argc == 4 && strcmp(argv[1], "--child-bound-importer") == 0) {
        return child_bound_importer_main(argv[2], argv[3]);
    }
    RUN(transport_tcp_round_trip);
    RUN(transport_ipc_round_trip);
    RUN(transport_inproc_round_trip);
    RUN(transport_exporter_connects_tcp);
    RUN(transport_exporter_connects_ipc);
    RUN(transport_reconnect_after_importer_kill_tcp);
    RUN(transport_reconnect_after_importer_kill_ipc);
    RUN(transport_port_free_after_destroy);
    return harness_done();
}
