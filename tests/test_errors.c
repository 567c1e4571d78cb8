/* Integration tests of failed binds and invalid calls: type, name and direction mismatches
 * reported with messages that name the channel and the types, nothing delivered through a
 * failed bind, and argument checks on every handle. */
#include "fixture.h"

/* Receives count Points with explicit acknowledgement off and checks that x runs from 1 and
 * that every value arrives on its first attempt, which shows no failed bind received it. */
static void expect_first_deliveries(netchan_chan_t *in, int count)
{
    for (int expected = 1; expected <= count; expected++) {
        netchan_msg_t *msg = NULL;
        int x = 0;
        uint32_t attempts = 0;
        netchan_err err = recv_point_msg(in, RECV_TIMEOUT_MS, &msg, &x, &attempts);
        CHECK_ERR(err, NETCHAN_OK);
        if (err != NETCHAN_OK) {
            return;
        }
        CHECK(x == expected);
        CHECK_EQ_U64(attempts, 1);
        netchan_msg_destroy(&msg);
    }
}

TEST(errors_type_mismatch_names_types)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_importer_t *good = NULL;
    netchan_chan_t *out = export_points(exporter, "points", NETCHAN_SEND, 16);
    if (out == NULL || importer == NULL) {
        CHECK(!"setting up failed");
        goto out;
    }
    CHECK_ERR(send_points(out, 1, 3, 0), NETCHAN_OK);

    netchan_chan_t *wrong = NULL;
    CHECK_ERR(netchan_import(importer, "points", NETCHAN_RECV, &netchan__test__other__descriptor,
                             NULL, IMPORT_TIMEOUT_MS, &wrong),
              NETCHAN_ETYPE);
    CHECK(wrong == NULL);
    const char *error = netchan_importer_error(importer);
    printf("# importer error: %s\n", error);
    CHECK(strstr(error, "'points'") != NULL);
    CHECK(strstr(error, "netchan.test.Point") != NULL);
    CHECK(strstr(error, "netchan.test.Other") != NULL);

    /* Nothing went to the failed bind: a correct importer gets every value as a first
     * delivery. */
    CHECK_EQ_U64(netchan_pending(out), 3);
    good = start_importer(endpoint);
    netchan_chan_t *in = good != NULL ? import_points(good, "points", NETCHAN_RECV, 16) : NULL;
    if (in != NULL) {
        expect_first_deliveries(in, 3);
    } else {
        CHECK(!"importing with the right type failed");
    }
out:
    netchan_importer_destroy(&importer);
    netchan_importer_destroy(&good);
    netchan_exporter_destroy(&exporter);
}

/* The same type name with different fields, as a binding with an outdated schema would send, is
 * a mismatch whose message shows both fingerprints. Without a fingerprint, only the names are
 * compared. */
TEST(errors_fingerprint_mismatch_rejected)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = export_points(exporter, "points", NETCHAN_SEND, 16);
    if (out == NULL || importer == NULL) {
        CHECK(!"setting up failed");
        goto out;
    }
    char fingerprint[17];
    CHECK_ERR(netchan_type_fingerprint(&netchan__test__point__descriptor, fingerprint,
                                       sizeof(fingerprint)),
              NETCHAN_OK);

    netchan_chan_t *in = NULL;
    CHECK_ERR(netchan_import_bytes(importer, "points", NETCHAN_RECV, "netchan.test.Point",
                                   "0123456789abcdef", NULL, IMPORT_TIMEOUT_MS, &in),
              NETCHAN_ETYPE);
    CHECK(in == NULL);
    const char *error = netchan_importer_error(importer);
    printf("# importer error: %s\n", error);
    CHECK(strstr(error, "'points'") != NULL);
    CHECK(strstr(error, "0123456789abcdef") != NULL);
    CHECK(strstr(error, fingerprint) != NULL);

    CHECK_ERR(netchan_import_bytes(importer, "points", NETCHAN_RECV, "netchan.test.Point", NULL,
                                   NULL, IMPORT_TIMEOUT_MS, &in),
              NETCHAN_OK);
    CHECK(in != NULL);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* Untyped bytes and a protobuf type do not match: the exporter's type is named, the importer's
 * is "bytes". */
TEST(errors_bytes_against_typed_rejected)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = export_points(exporter, "points", NETCHAN_SEND, 16);
    if (out != NULL && importer != NULL) {
        netchan_chan_t *in = NULL;
        CHECK_ERR(netchan_import_bytes(importer, "points", NETCHAN_RECV, NULL, NULL, NULL,
                                       IMPORT_TIMEOUT_MS, &in),
                  NETCHAN_ETYPE);
        const char *error = netchan_importer_error(importer);
        printf("# importer error: %s\n", error);
        CHECK(strstr(error, "netchan.test.Point") != NULL);
        CHECK(strstr(error, "bytes") != NULL);
    } else {
        CHECK(!"setting up failed");
    }
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(errors_unknown_channel_not_found)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = export_points(exporter, "points", NETCHAN_SEND, 16);
    if (out != NULL && importer != NULL) {
        CHECK_ERR(send_points(out, 1, 2, 0), NETCHAN_OK);
        netchan_chan_t *in = NULL;
        CHECK_ERR(netchan_import(importer, "no-such-channel", NETCHAN_RECV,
                                 &netchan__test__point__descriptor, NULL, IMPORT_TIMEOUT_MS, &in),
                  NETCHAN_ENOTFOUND);
        CHECK(in == NULL);
        const char *error = netchan_importer_error(importer);
        printf("# importer error: %s\n", error);
        CHECK(strstr(error, "'no-such-channel'") != NULL);
        CHECK_EQ_U64(netchan_pending(out), 2);

        /* The importer still works for channels that exist. */
        in = import_points(importer, "points", NETCHAN_RECV, 16);
        if (in != NULL) {
            expect_first_deliveries(in, 2);
        } else {
            CHECK(!"importing an existing channel failed");
        }
    } else {
        CHECK(!"setting up failed");
    }
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(errors_wrong_direction_rejected)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *down = export_points(exporter, "down", NETCHAN_SEND, 16);
    netchan_chan_t *up = export_points(exporter, "up", NETCHAN_RECV, 16);
    if (down == NULL || up == NULL || importer == NULL) {
        CHECK(!"setting up failed");
        goto out;
    }
    CHECK_ERR(send_points(down, 1, 2, 0), NETCHAN_OK);

    /* Both sides sending. */
    netchan_chan_t *chan = NULL;
    CHECK_ERR(netchan_import(importer, "down", NETCHAN_SEND, &netchan__test__point__descriptor,
                             NULL, IMPORT_TIMEOUT_MS, &chan),
              NETCHAN_EDIRECTION);
    CHECK(chan == NULL);
    const char *error = netchan_importer_error(importer);
    printf("# importer error: %s\n", error);
    CHECK(strstr(error, "'down'") != NULL);

    /* Both sides receiving. */
    CHECK_ERR(netchan_import(importer, "up", NETCHAN_RECV, &netchan__test__point__descriptor, NULL,
                             IMPORT_TIMEOUT_MS, &chan),
              NETCHAN_EDIRECTION);
    CHECK(chan == NULL);
    error = netchan_importer_error(importer);
    printf("# importer error: %s\n", error);
    CHECK(strstr(error, "'up'") != NULL);

    /* Nothing crossed the failed binds. */
    CHECK_EQ_U64(netchan_pending(down), 2);
    CHECK_ERR(recv_point(up, 100, NULL, NULL), NETCHAN_ETIMEDOUT);
    chan = import_points(importer, "down", NETCHAN_RECV, 16);
    if (chan != NULL) {
        expect_first_deliveries(chan, 2);
    } else {
        CHECK(!"importing in the right direction failed");
    }
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* The detail of a failed import stays the importer's last error: nothing the engine does
 * afterwards on its own replaces it. */
TEST(errors_failed_import_message_kept)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = export_points(exporter, "points", NETCHAN_SEND, 16);
    if (out != NULL && importer != NULL) {
        netchan_chan_t *in = NULL;
        CHECK_ERR(netchan_import(importer, "points", NETCHAN_RECV,
                                 &netchan__test__other__descriptor, NULL, IMPORT_TIMEOUT_MS, &in),
                  NETCHAN_ETYPE);
        CHECK(strstr(netchan_importer_error(importer), "'points'") != NULL);
        /* Half a second for any frame the failed bind leaves behind to come and go. */
        CHECK(!WAIT_UNTIL(strstr(netchan_importer_error(importer), "'points'") == NULL, 500));
        printf("# importer error: %s\n", netchan_importer_error(importer));
    } else {
        CHECK(!"setting up failed");
    }
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

TEST(errors_duplicate_names_rejected)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *first = export_points(exporter, "twice", NETCHAN_SEND, 16);
    CHECK(first != NULL);
    netchan_chan_t *second = NULL;
    CHECK_ERR(netchan_export(exporter, "twice", NETCHAN_RECV, &netchan__test__point__descriptor,
                             NULL, &second),
              NETCHAN_EEXIST);
    CHECK(second == NULL);
    CHECK(strstr(netchan_exporter_error(exporter), "'twice'") != NULL);

    if (importer != NULL && first != NULL) {
        netchan_chan_t *in = import_points(importer, "twice", NETCHAN_RECV, 16);
        CHECK(in != NULL);
        netchan_chan_t *again = NULL;
        CHECK_ERR(netchan_import(importer, "twice", NETCHAN_RECV, &netchan__test__point__descriptor,
                                 NULL, IMPORT_TIMEOUT_MS, &again),
                  NETCHAN_EEXIST);
        CHECK(again == NULL);
        CHECK(strstr(netchan_importer_error(importer), "'twice'") != NULL);
    }
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* Without an exporter the import times out and binds nothing, so it can be repeated once the
 * exporter is there. */
TEST(errors_import_times_out_then_retries)
{
    ipc_dir_t dir;
    REQUIRE(ipc_dir_create(&dir));
    char endpoint[ENDPOINT_SIZE];
    ipc_endpoint(&dir, "later", endpoint);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_exporter_t *exporter = NULL;
    if (importer == NULL) {
        CHECK(!"starting the importer failed");
        goto out;
    }
    netchan_chan_t *in = NULL;
    int64_t start = harness_now_ms();
    CHECK_ERR(netchan_import(importer, "jobs", NETCHAN_RECV, &netchan__test__point__descriptor,
                             NULL, 200, &in),
              NETCHAN_ETIMEDOUT);
    CHECK(harness_now_ms() - start >= 200);
    CHECK(in == NULL);
    CHECK(strstr(netchan_importer_error(importer), "'jobs'") != NULL);

    char resolved[ENDPOINT_SIZE];
    exporter = start_exporter_at(endpoint, resolved);
    netchan_chan_t *out =
        exporter != NULL ? export_points(exporter, "jobs", NETCHAN_SEND, 16) : NULL;
    if (out == NULL) {
        CHECK(!"starting the exporter failed");
        goto out;
    }
    CHECK_ERR(send_point(out, 1, 0, NETCHAN_NOWAIT), NETCHAN_OK);
    in = import_points(importer, "jobs", NETCHAN_RECV, 16);
    if (in != NULL) {
        expect_first_deliveries(in, 1);
    } else {
        CHECK(!"importing once the exporter runs failed");
    }
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    const char *names[] = {"later"};
    ipc_dir_remove(&dir, names, 1);
}

TEST(errors_endpoint_argument_checks)
{
    netchan_exporter_t *exporter = NULL;
    REQUIRE(netchan_exporter_new(&exporter) == NETCHAN_OK);
    char buffer[ENDPOINT_SIZE];
    CHECK_ERR(netchan_exporter_endpoint(exporter, buffer, sizeof(buffer)), NETCHAN_ESTATE);
    CHECK_ERR(netchan_exporter_bind(exporter, "nonsense://x"), NETCHAN_EENDPOINT);
    CHECK(strstr(netchan_exporter_error(exporter), "nonsense://x") != NULL);
    CHECK_ERR(netchan_exporter_bind(exporter, NULL), NETCHAN_EINVAL);
    CHECK_ERR(netchan_exporter_set_heartbeat(exporter, 0, 1000), NETCHAN_EINVAL);
    CHECK_ERR(netchan_exporter_set_heartbeat(exporter, 1000, 1000), NETCHAN_EINVAL);
    CHECK_ERR(netchan_exporter_set_heartbeat(exporter, 2000, 1000), NETCHAN_EINVAL);
    CHECK_ERR(netchan_exporter_set_heartbeat(exporter, 100, 400), NETCHAN_OK);
    CHECK_ERR(netchan_exporter_bind(exporter, "tcp://127.0.0.1:*"), NETCHAN_OK);
    CHECK_ERR(netchan_exporter_endpoint(exporter, buffer, 5), NETCHAN_EINVAL);
    CHECK_ERR(netchan_exporter_endpoint(exporter, buffer, sizeof(buffer)), NETCHAN_OK);
    CHECK(strncmp(buffer, "tcp://127.0.0.1:", 16) == 0);
    CHECK(strcmp(buffer, "tcp://127.0.0.1:*") != 0);

    netchan_importer_t *importer = NULL;
    REQUIRE(netchan_importer_new(&importer) == NETCHAN_OK);
    CHECK_ERR(netchan_importer_set_heartbeat(importer, 0, 1000), NETCHAN_EINVAL);
    CHECK_ERR(netchan_importer_set_heartbeat(importer, 500, 500), NETCHAN_EINVAL);
    CHECK_ERR(netchan_importer_connect(importer, NULL), NETCHAN_EINVAL);
    CHECK_ERR(netchan_importer_connect(importer, buffer), NETCHAN_OK);
    CHECK_ERR(netchan_importer_connect(importer, buffer), NETCHAN_ESTATE);
    CHECK_ERR(netchan_importer_bind(importer, "tcp://127.0.0.1:*"), NETCHAN_ESTATE);

    netchan_exporter_t *none = NULL;
    netchan_importer_destroy(&importer);
    CHECK(importer == NULL);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    CHECK(exporter == NULL);
    netchan_exporter_destroy(&none);
    netchan_exporter_destroy(NULL);
    netchan_importer_destroy(NULL);
    CHECK_ERR(netchan_exporter_new(NULL), NETCHAN_EINVAL);
    CHECK_ERR(netchan_importer_new(NULL), NETCHAN_EINVAL);
}

TEST(errors_channel_argument_checks)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);

    /* An empty, missing or too long name, a missing type and an unknown direction. */
    netchan_chan_t *chan = NULL;
    CHECK_ERR(
        netchan_export(exporter, "", NETCHAN_SEND, &netchan__test__point__descriptor, NULL, &chan),
        NETCHAN_EINVAL);
    CHECK_ERR(netchan_export(exporter, NULL, NETCHAN_SEND, &netchan__test__point__descriptor, NULL,
                             &chan),
              NETCHAN_EINVAL);
    CHECK_ERR(netchan_export(exporter, "typeless", NETCHAN_SEND, NULL, NULL, &chan),
              NETCHAN_EINVAL);
    CHECK(strstr(netchan_exporter_error(exporter), "typeless") != NULL);
    CHECK_ERR(netchan_export(exporter, "sideways", (netchan_dir)3,
                             &netchan__test__point__descriptor, NULL, &chan),
              NETCHAN_EINVAL);
    CHECK(strstr(netchan_exporter_error(exporter), "sideways") != NULL);

    char long_name[300];
    memset(long_name, 'n', sizeof(long_name));
    long_name[256] = '\0';
    CHECK_ERR(netchan_export(exporter, long_name, NETCHAN_SEND, &netchan__test__point__descriptor,
                             NULL, &chan),
              NETCHAN_EINVAL);
    CHECK(chan == NULL);

    /* 255 bytes is the longest name accepted. */
    long_name[255] = '\0';
    CHECK_ERR(netchan_export(exporter, long_name, NETCHAN_SEND, &netchan__test__point__descriptor,
                             NULL, &chan),
              NETCHAN_OK);
    CHECK(chan != NULL);
    if (chan != NULL) {
        CHECK(strcmp(netchan_chan_name(chan), long_name) == 0);
    }
    netchan_exporter_destroy(&exporter);
}

TEST(errors_send_checks_type_and_size)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_options_t *options = options_with(16, false);
    REQUIRE(options != NULL);
    CHECK_ERR(netchan_options_set_max_value_size(options, 32), NETCHAN_OK);
    netchan_chan_t *out = NULL;
    CHECK_ERR(netchan_export(exporter, "small", NETCHAN_SEND, &netchan__test__point__descriptor,
                             options, &out),
              NETCHAN_OK);
    netchan_options_destroy(&options);
    netchan_chan_t *in = export_points(exporter, "in", NETCHAN_RECV, 16);
    if (out != NULL && in != NULL) {
        Netchan__Test__Other other = NETCHAN__TEST__OTHER__INIT;
        CHECK_ERR(netchan_send(out, &other.base, NETCHAN_NOWAIT), NETCHAN_EINVAL);
        CHECK(strstr(netchan_chan_error(out), "netchan.test.Other") != NULL);

        Netchan__Test__Point point = NETCHAN__TEST__POINT__INIT;
        point.label = "a label long enough to pass the limit of 32 bytes";
        CHECK_ERR(netchan_send(out, &point.base, NETCHAN_NOWAIT), NETCHAN_ETOOBIG);
        CHECK(strstr(netchan_chan_error(out), "small") != NULL);
        uint8_t bytes[33] = {0};
        CHECK_ERR(netchan_send_bytes(out, bytes, sizeof(bytes), NETCHAN_NOWAIT), NETCHAN_ETOOBIG);
        CHECK_ERR(netchan_send_bytes(out, bytes, 32, NETCHAN_NOWAIT), NETCHAN_OK);
        CHECK_ERR(netchan_send_bytes(out, NULL, 1, NETCHAN_NOWAIT), NETCHAN_EINVAL);
        CHECK_ERR(netchan_send(out, NULL, NETCHAN_NOWAIT), NETCHAN_EINVAL);
        CHECK_EQ_U64(netchan_pending(out), 1);

        CHECK_ERR(send_point(in, 1, 0, NETCHAN_NOWAIT), NETCHAN_ESTATE);
        CHECK(strstr(netchan_chan_error(in), "'in'") != NULL);
        ProtobufCMessage *msg = NULL;
        CHECK_ERR(netchan_recv(out, NETCHAN_NOWAIT, &msg), NETCHAN_ESTATE);
        CHECK_ERR(netchan_recv(in, NETCHAN_NOWAIT, NULL), NETCHAN_EINVAL);
        CHECK_ERR(netchan_recv(in, NETCHAN_NOWAIT, &msg), NETCHAN_EAGAIN);
        netchan_msg_t *raw = NULL;
        CHECK_ERR(netchan_recv_msg(out, NETCHAN_NOWAIT, &raw), NETCHAN_ESTATE);
    } else {
        CHECK(!"exporting the channels failed");
    }
    CHECK_ERR(netchan_close(NULL), NETCHAN_EINVAL);
    CHECK_ERR(netchan_drain(NULL, 0, NULL), NETCHAN_EINVAL);
    CHECK_EQ_U64(netchan_pending(NULL), 0);
    netchan_exporter_destroy(&exporter);
}

/* A receiver with a smaller maximum value size rejects larger values. The sender learns of it
 * from drain, and the values around the rejected one still arrive in order. */
TEST(errors_receiver_rejects_large_value)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = NULL;
    CHECK_ERR(netchan_export_bytes(exporter, "blobs", NETCHAN_SEND, NULL, NULL, NULL, &out),
              NETCHAN_OK);
    netchan_options_t *options = options_with(16, false);
    REQUIRE(options != NULL);
    CHECK_ERR(netchan_options_set_max_value_size(options, 100), NETCHAN_OK);
    netchan_chan_t *in = NULL;
    if (importer != NULL) {
        CHECK_ERR(netchan_import_bytes(importer, "blobs", NETCHAN_RECV, NULL, NULL, options,
                                       IMPORT_TIMEOUT_MS, &in),
                  NETCHAN_OK);
    }
    netchan_options_destroy(&options);
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    uint8_t small[100];
    uint8_t large[101];
    memset(small, 's', sizeof(small));
    memset(large, 'l', sizeof(large));
    CHECK_ERR(netchan_send_bytes(out, small, 10, NETCHAN_NOWAIT), NETCHAN_OK);
    CHECK_ERR(netchan_send_bytes(out, large, sizeof(large), NETCHAN_NOWAIT), NETCHAN_OK);
    CHECK_ERR(netchan_send_bytes(out, small, sizeof(small), NETCHAN_NOWAIT), NETCHAN_OK);

    size_t expected_sizes[] = {10, sizeof(small)};
    for (int i = 0; i < 2; i++) {
        netchan_msg_t *msg = NULL;
        CHECK_ERR(netchan_recv_msg(in, RECV_TIMEOUT_MS, &msg), NETCHAN_OK);
        if (msg != NULL) {
            CHECK_EQ_U64(netchan_msg_size(msg), expected_sizes[i]);
            netchan_msg_destroy(&msg);
        }
    }
    netchan_msg_t *msg = NULL;
    CHECK_ERR(netchan_recv_msg(in, 100, &msg), NETCHAN_ETIMEDOUT);

    uint64_t pending = 99;
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, &pending), NETCHAN_EREJECTED);
    CHECK_EQ_U64(pending, 0);
    const char *error = netchan_chan_error(out);
    printf("# sender error: %s\n", error);
    CHECK(strstr(error, "101") != NULL);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* netchan_recv() never returns a value that does not unpack as the channel's type. It rejects
 * the value back to the sender and returns the next value instead. */
TEST(errors_undecodable_value_rejected)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *out = NULL;
    CHECK_ERR(netchan_export_bytes(exporter, "points", NETCHAN_SEND, "netchan.test.Point", NULL,
                                   NULL, &out),
              NETCHAN_OK);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "points", NETCHAN_RECV, 16) : NULL;
    if (out == NULL || in == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    Netchan__Test__Point point = NETCHAN__TEST__POINT__INIT;
    point.x = 2;
    point.label = "p2";
    uint8_t packed[64];
    size_t size = netchan__test__point__pack(&point, packed);
    /* Field 1 with wire type 7, which protobuf does not define. */
    static const uint8_t garbage[] = {0x0f, 0xff, 0xff};
    CHECK_ERR(netchan_send_bytes(out, garbage, sizeof(garbage), NETCHAN_NOWAIT), NETCHAN_OK);
    CHECK_ERR(netchan_send_bytes(out, packed, size, NETCHAN_NOWAIT), NETCHAN_OK);

    int x = 0;
    CHECK_ERR(recv_point(in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
    CHECK(x == 2);
    CHECK(strstr(netchan_chan_error(in), "netchan.test.Point") != NULL);
    uint64_t pending = 99;
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, &pending), NETCHAN_EREJECTED);
    CHECK_EQ_U64(pending, 0);
    printf("# sender error: %s\n", netchan_chan_error(out));
    CHECK(strstr(netchan_chan_error(out), "rejected") != NULL);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* Appends a varint to out at *pos. */
static void put_varint(uint8_t *out, size_t *pos, uint64_t value)
{
    while (value >= 0x80) {
        out[(*pos)++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    out[(*pos)++] = (uint8_t)value;
}

/* Builds a Node nested depth levels deep (field 2 inside field 2 ...) into a new buffer, from
 * the innermost level outwards. */
static uint8_t *nested_node(size_t depth, size_t *size_p)
{
    size_t capacity = depth * 12 + 16;
    uint8_t *current = calloc(1, capacity);
    uint8_t *next = calloc(1, capacity);
    size_t size = 0;
    for (size_t level = 0; level < depth && current != NULL && next != NULL; level++) {
        size_t pos = 0;
        next[pos++] = (2 << 3) | 2; /* Node.child */
        put_varint(next, &pos, size);
        memcpy(next + pos, current, size);
        size += pos;
        uint8_t *swap = current;
        current = next;
        next = swap;
    }
    free(next);
    *size_p = size;
    return current;
}

/* protobuf-c unpacks nested messages by recursion, so a value nested deeply enough would
 * exhaust the receiver's stack. Such a value is rejected back to its sender; a value nested
 * within the limit is delivered. */
TEST(errors_deeply_nested_value_rejected)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = start_importer(endpoint);
    char fingerprint[17];
    REQUIRE(netchan_type_fingerprint(&netchan__test__node__descriptor, fingerprint,
                                     sizeof(fingerprint)) == NETCHAN_OK);
    netchan_chan_t *out = NULL;
    netchan_chan_t *in = NULL;
    CHECK_ERR(netchan_export_bytes(exporter, "nodes", NETCHAN_SEND, "netchan.test.Node",
                                   fingerprint, NULL, &out),
              NETCHAN_OK);
    if (importer != NULL) {
        CHECK_ERR(netchan_import(importer, "nodes", NETCHAN_RECV, &netchan__test__node__descriptor,
                                 NULL, IMPORT_TIMEOUT_MS, &in),
                  NETCHAN_OK);
    }
    size_t deep_size = 0;
    size_t shallow_size = 0;
    uint8_t *deep = nested_node(100000, &deep_size);
    uint8_t *shallow = nested_node(10, &shallow_size);
    if (out == NULL || in == NULL || deep == NULL || shallow == NULL) {
        CHECK(!"setting up the channel failed");
        goto out;
    }
    printf("# a value nested 100000 deep is %zu bytes\n", deep_size);
    CHECK(deep_size <= 1024 * 1024); /* within the default maximum value size */
    CHECK_ERR(netchan_send_bytes(out, deep, deep_size, NETCHAN_NOWAIT), NETCHAN_OK);
    CHECK_ERR(netchan_send_bytes(out, shallow, shallow_size, NETCHAN_NOWAIT), NETCHAN_OK);

    ProtobufCMessage *msg = NULL;
    CHECK_ERR(netchan_recv(in, RECV_TIMEOUT_MS, &msg), NETCHAN_OK);
    size_t depth = 0;
    for (const Netchan__Test__Node *node = (const Netchan__Test__Node *)msg; node != NULL;
         node = node->child) {
        depth++;
    }
    CHECK_EQ_U64(depth, 10 + 1); /* the outer message and its ten nested children */
    protobuf_c_message_free_unpacked(msg, NULL);
    CHECK(WAIT_UNTIL(netchan_chan_stat(in, NETCHAN_STAT_REJECTED) == 1, RECV_TIMEOUT_MS));
    uint64_t pending = 99;
    CHECK_ERR(netchan_drain(out, DRAIN_TIMEOUT_MS, &pending), NETCHAN_EREJECTED);
    CHECK_EQ_U64(pending, 0);
out:
    free(deep);
    free(shallow);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

int main(void)
{
    RUN(errors_type_mismatch_names_types);
    RUN(errors_fingerprint_mismatch_rejected);
    RUN(errors_bytes_against_typed_rejected);
    RUN(errors_unknown_channel_not_found);
    RUN(errors_wrong_direction_rejected);
    RUN(errors_failed_import_message_kept);
    RUN(errors_duplicate_names_rejected);
    RUN(errors_import_times_out_then_retries);
    RUN(errors_endpoint_argument_checks);
    RUN(errors_channel_argument_checks);
    RUN(errors_send_checks_type_and_size);
    RUN(errors_receiver_rejects_large_value);
    RUN(errors_undecodable_value_rejected);
    RUN(errors_deeply_nested_value_rejected);
    return harness_done();
}
