/* Feature tests of unacknowledged channels, which carry values over a ZeroMQ PUSH/PULL pair
 * with no acknowledgement or redelivery. They deliver at most once: values in transit or
 * buffered at a receiver are lost with a connection or a receiver, as netchan.h and
 * docs/guarantees.md state. These tests run healthy connections only, where every value arrives. */
#include "feature_support.h"

/* Exports or imports a Point channel with the unacknowledged option set as given. Returns the
 * result of netchan_export() or netchan_import(). */
static netchan_err open_points(netchan_exporter_t *exporter, netchan_importer_t *importer,
                               const char *name, netchan_dir direction, bool unacknowledged,
                               netchan_chan_t **chan_p)
{
    netchan_options_t *options = options_with(1024, false);
    if (options == NULL ||
        netchan_options_set_unacknowledged(options, unacknowledged) != NETCHAN_OK) {
        netchan_options_destroy(&options);
        return NETCHAN_ENOMEM;
    }
    netchan_err err =
        exporter != NULL
            ? netchan_export(exporter, name, direction, &netchan__test__point__descriptor, options,
                             chan_p)
            : netchan_import(importer, name, direction, &netchan__test__point__descriptor, options,
                             IMPORT_TIMEOUT_MS, chan_p);
    netchan_options_destroy(&options);
    return err;
}

/* Receives Points x = first..last in order from in, then NETCHAN_ECLOSED. Returns the number
 * received in order. */
static int take_stream(netchan_chan_t *in, int first, int last)
{
    int taken = 0;
    for (int expected = first; expected <= last; expected++) {
        int x = 0;
        netchan_err err = recv_point(in, RECV_TIMEOUT_MS, &x, NULL);
        if (err != NETCHAN_OK || x != expected) {
            printf("# expected x=%d on '%s', got %s, x=%d\n", expected, netchan_chan_name(in),
                   netchan_strerror(err), x);
            return taken;
        }
        taken++;
    }
    return taken;
}

/* Sends 200 values each way over unacknowledged channels at bind_to and closes both senders.
 * Every value arrives in order, and each receiver then gets the end of stream. */
static void check_unacked_round_trip(const char *bind_to)
{
    enum { COUNT = 200 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter_at(bind_to, endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    netchan_chan_t *down = NULL;
    netchan_chan_t *up = NULL;
    netchan_chan_t *down_in = NULL;
    netchan_chan_t *up_out = NULL;
    CHECK_ERR(open_points(exporter, NULL, "down", NETCHAN_SEND, true, &down), NETCHAN_OK);
    CHECK_ERR(open_points(exporter, NULL, "up", NETCHAN_RECV, true, &up), NETCHAN_OK);
    importer = start_importer(endpoint);
    ENSURE(importer != NULL);
    CHECK_ERR(open_points(NULL, importer, "down", NETCHAN_RECV, true, &down_in), NETCHAN_OK);
    CHECK_ERR(open_points(NULL, importer, "up", NETCHAN_SEND, true, &up_out), NETCHAN_OK);
    ENSURE(down != NULL && up != NULL && down_in != NULL && up_out != NULL);

    CHECK_ERR(send_points(down, 1, COUNT, 0), NETCHAN_OK);
    CHECK_ERR(netchan_close(down), NETCHAN_OK);
    CHECK_EQ_U64(take_stream(down_in, 1, COUNT), COUNT);
    CHECK_ERR(recv_point(down_in, RECV_TIMEOUT_MS, NULL, NULL), NETCHAN_ECLOSED);

    CHECK_ERR(send_points(up_out, 1, COUNT, 0), NETCHAN_OK);
    CHECK_ERR(netchan_close(up_out), NETCHAN_OK);
    CHECK_EQ_U64(take_stream(up, 1, COUNT), COUNT);
    CHECK_ERR(recv_point(up, RECV_TIMEOUT_MS, NULL, NULL), NETCHAN_ECLOSED);

    CHECK_EQ_U64(netchan_chan_stat(down, NETCHAN_STAT_SENT), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(down, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(down_in, NETCHAN_STAT_RECEIVED), COUNT);
    CHECK_EQ_U64(netchan_chan_stat(up, NETCHAN_STAT_RECEIVED), COUNT);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(unacked_round_trip_tcp)
{
    check_unacked_round_trip("tcp://127.0.0.1:*");
}

TEST(unacked_round_trip_ipc)
{
    ipc_dir_t dir;
    REQUIRE(ipc_dir_create(&dir));
    char bind_to[ENDPOINT_SIZE];
    ipc_endpoint(&dir, "exporter", bind_to);
    check_unacked_round_trip(bind_to);
    const char *names[] = {"exporter", "exporter.down.data", "exporter.up.data"};
    ipc_dir_remove(&dir, names, 3);
}

/* Receives every value waiting on in without blocking and marks its x in seen; counts values
 * that arrive twice or out of order in *errors. Returns the number received. */
static int take_waiting(netchan_chan_t *in, bool *seen, int count, int *last, int *errors)
{
    int taken = 0;
    int x = 0;
    while (recv_point(in, NETCHAN_NOWAIT, &x, NULL) == NETCHAN_OK) {
        if (x < 1 || x > count || seen[x - 1] || x <= *last) {
            printf("# x=%d arrived twice or out of order on '%s'\n", x, netchan_chan_name(in));
            (*errors)++;
        } else {
            seen[x - 1] = true;
        }
        *last = x;
        taken++;
    }
    return taken;
}

/* Two importers of one unacknowledged send channel compete: once both are connected each gets
 * some of the values, together they get every value once, each in send order, and both see the
 * end of stream. The exporter sends in small rounds and waits for each round to arrive, so
 * that values spread once libzmq has connected both data sockets. */
TEST(unacked_competing_importers_share)
{
    enum { ROUND = 10, MAX_ROUNDS = 200, MAX_VALUES = ROUND * MAX_ROUNDS };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importers[2] = {NULL, NULL};
    netchan_chan_t *ins[2] = {NULL, NULL};
    netchan_chan_t *out = NULL;
    static bool seen[MAX_VALUES];
    memset(seen, 0, sizeof(seen));
    CHECK_ERR(open_points(exporter, NULL, "jobs", NETCHAN_SEND, true, &out), NETCHAN_OK);
    for (int i = 0; i < 2; i++) {
        importers[i] = start_importer(endpoint);
        ENSURE(importers[i] != NULL);
        CHECK_ERR(open_points(NULL, importers[i], "jobs", NETCHAN_RECV, true, &ins[i]), NETCHAN_OK);
    }
    ENSURE(out != NULL && ins[0] != NULL && ins[1] != NULL);

    int sent = 0;
    int taken[2] = {0, 0};
    int last[2] = {0, 0};
    int errors = 0;
    for (int round = 0; round < MAX_ROUNDS && (taken[0] == 0 || taken[1] == 0); round++) {
        CHECK_ERR(send_points(out, sent + 1, sent + ROUND, 0), NETCHAN_OK);
        sent += ROUND;
        bool arrived =
            WAIT_UNTIL((taken[0] += take_waiting(ins[0], seen, MAX_VALUES, &last[0], &errors),
                        taken[1] += take_waiting(ins[1], seen, MAX_VALUES, &last[1], &errors),
                        taken[0] + taken[1] >= sent),
                       5000);
        if (!arrived) {
            printf("# round %d: %d of %d values arrived\n", round, taken[0] + taken[1], sent);
            CHECK(arrived);
            break;
        }
    }
    CHECK_ERR(netchan_close(out), NETCHAN_OK);
    for (int i = 0; i < 2; i++) {
        int x = 0;
        netchan_err err;
        while ((err = recv_point(ins[i], RECV_TIMEOUT_MS, &x, NULL)) == NETCHAN_OK) {
            printf("# x=%d arrived after the last round\n", x);
            taken[i]++;
        }
        CHECK_ERR(err, NETCHAN_ECLOSED);
    }
    printf("# %d values sent; importer 1 took %d, importer 2 took %d\n", sent, taken[0], taken[1]);
    CHECK(taken[0] > 0);
    CHECK(taken[1] > 0);
    CHECK_EQ_U64(taken[0] + taken[1], sent);
    CHECK_EQ_U64(errors, 0);
    int missing = 0;
    for (int x = 1; x <= sent; x++) {
        missing += !seen[x - 1];
    }
    CHECK_EQ_U64(missing, 0);
out:
    netchan_importer_destroy(&importers[0]);
    netchan_importer_destroy(&importers[1]);
    netchan_exporter_destroy(&exporter);
}

/* Both sides must choose unacknowledged delivery: a mismatch either way fails the bind with
 * NETCHAN_ESTATE and a message that names the mismatch, and the matching import then succeeds. */
TEST(unacked_mismatch_fails_bind)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    netchan_chan_t *fast = NULL;
    netchan_chan_t *safe = NULL;
    netchan_chan_t *in = NULL;
    CHECK_ERR(open_points(exporter, NULL, "fast", NETCHAN_SEND, true, &fast), NETCHAN_OK);
    CHECK_ERR(open_points(exporter, NULL, "safe", NETCHAN_SEND, false, &safe), NETCHAN_OK);
    importer = start_importer(endpoint);
    ENSURE(importer != NULL);

    CHECK_ERR(open_points(NULL, importer, "fast", NETCHAN_RECV, false, &in), NETCHAN_ESTATE);
    printf("# importing 'fast' acknowledged: %s\n", netchan_importer_error(importer));
    CHECK(strstr(netchan_importer_error(importer), "unacknowledged") != NULL);
    CHECK(in == NULL);
    CHECK_ERR(open_points(NULL, importer, "safe", NETCHAN_RECV, true, &in), NETCHAN_ESTATE);
    printf("# importing 'safe' unacknowledged: %s\n", netchan_importer_error(importer));
    CHECK(strstr(netchan_importer_error(importer), "acknowledged") != NULL);
    CHECK(in == NULL);

    CHECK_ERR(open_points(NULL, importer, "fast", NETCHAN_RECV, true, &in), NETCHAN_OK);
    in = NULL;
    CHECK_ERR(open_points(NULL, importer, "safe", NETCHAN_RECV, false, &in), NETCHAN_OK);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* Closing an unacknowledged sender delivers end of stream after the last value, in both
 * directions. */
TEST(unacked_end_reaches_receiver)
{
    enum { COUNT = 50 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    netchan_chan_t *down = NULL;
    netchan_chan_t *up = NULL;
    netchan_chan_t *down_in = NULL;
    netchan_chan_t *up_out = NULL;
    CHECK_ERR(open_points(exporter, NULL, "down", NETCHAN_SEND, true, &down), NETCHAN_OK);
    CHECK_ERR(open_points(exporter, NULL, "up", NETCHAN_RECV, true, &up), NETCHAN_OK);
    importer = start_importer(endpoint);
    ENSURE(importer != NULL);
    CHECK_ERR(open_points(NULL, importer, "down", NETCHAN_RECV, true, &down_in), NETCHAN_OK);
    CHECK_ERR(open_points(NULL, importer, "up", NETCHAN_SEND, true, &up_out), NETCHAN_OK);
    ENSURE(down != NULL && up != NULL && down_in != NULL && up_out != NULL);

    /* Both senders close right after their last send, before anything was received. */
    CHECK_ERR(send_points(down, 1, COUNT, 0), NETCHAN_OK);
    CHECK_ERR(netchan_close(down), NETCHAN_OK);
    CHECK_ERR(send_points(up_out, 1, COUNT, 0), NETCHAN_OK);
    CHECK_ERR(netchan_close(up_out), NETCHAN_OK);

    CHECK_EQ_U64(take_stream(down_in, 1, COUNT), COUNT);
    CHECK_ERR(recv_point(down_in, RECV_TIMEOUT_MS, NULL, NULL), NETCHAN_ECLOSED);
    CHECK_ERR(recv_point(down_in, NETCHAN_NOWAIT, NULL, NULL), NETCHAN_ECLOSED);
    CHECK_EQ_U64(take_stream(up, 1, COUNT), COUNT);
    CHECK_ERR(recv_point(up, RECV_TIMEOUT_MS, NULL, NULL), NETCHAN_ECLOSED);
    CHECK_ERR(send_points(down, COUNT + 1, COUNT + 1, 0), NETCHAN_ECLOSED);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

int main(int argc, char **argv)
{
    features_child_main(argc, argv);
    RUN(unacked_round_trip_tcp);
    RUN(unacked_round_trip_ipc);
    RUN(unacked_competing_importers_share);
    RUN(unacked_mismatch_fails_bind);
    RUN(unacked_end_reaches_receiver);
    return harness_done();
}
