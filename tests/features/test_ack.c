/* Feature tests of explicit acknowledgement: acknowledging, releasing, returning and rejecting
 * values, the acknowledgement deadline, and the maximum delivery attempts with and without a
 * dead-letter channel. */
#include "feature_support.h"

/* An exporter with a Point send channel "jobs" made with options, and an importer bound to it
 * with explicit acknowledgement. */
typedef struct ack_setup {
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter;
    netchan_importer_t *importer;
    netchan_chan_t *out;
    netchan_chan_t *in;
} ack_setup_t;

/* Makes the setup; receiver_options may set more than explicit acknowledgement, which it
 * always gets. Returns false, with the reason printed, when a step fails; ack_teardown() then
 * releases what was made. */
static bool ack_setup(ack_setup_t *setup, const netchan_options_t *sender_options,
                      netchan_options_t *receiver_options)
{
    memset(setup, 0, sizeof(*setup));
    setup->exporter = start_exporter(setup->endpoint);
    if (setup->exporter == NULL) {
        return false;
    }
    netchan_err err =
        netchan_export(setup->exporter, "jobs", NETCHAN_SEND, &netchan__test__point__descriptor,
                       sender_options, &setup->out);
    if (err != NETCHAN_OK) {
        printf("# exporting 'jobs' failed: %s: %s\n", netchan_strerror(err),
               netchan_exporter_error(setup->exporter));
        return false;
    }
    setup->importer = start_importer(setup->endpoint);
    if (setup->importer == NULL) {
        return false;
    }
    netchan_options_t *own = NULL;
    if (receiver_options == NULL) {
        own = options_with(16, true);
        receiver_options = own;
    }
    if (receiver_options == NULL ||
        netchan_options_set_explicit_ack(receiver_options, true) != NETCHAN_OK) {
        netchan_options_destroy(&own);
        return false;
    }
    err = netchan_import(setup->importer, "jobs", NETCHAN_RECV, &netchan__test__point__descriptor,
                         receiver_options, IMPORT_TIMEOUT_MS, &setup->in);
    netchan_options_destroy(&own);
    if (err != NETCHAN_OK) {
        printf("# importing 'jobs' failed: %s: %s\n", netchan_strerror(err),
               netchan_importer_error(setup->importer));
        return false;
    }
    return true;
}

static void ack_teardown(ack_setup_t *setup)
{
    netchan_importer_destroy(&setup->importer);
    netchan_exporter_destroy(&setup->exporter);
}

/* A value taken from an explicit-acknowledgement channel stays pending at its sender until
 * netchan_msg_ack(); a second ack is harmless. On a channel that acknowledges on receipt,
 * netchan_msg_ack() returns NETCHAN_ESTATE. */
TEST(ack_explicit_holds_until_ack)
{
    ack_setup_t setup = {.exporter = NULL};
    netchan_msg_t *msgs[3] = {NULL, NULL, NULL};
    netchan_importer_t *auto_importer = NULL;
    netchan_msg_t *auto_msg = NULL;
    ENSURE(ack_setup(&setup, NULL, NULL));
    CHECK_ERR(send_points(setup.out, 1, 3, 0), NETCHAN_OK);
    for (int i = 0; i < 3; i++) {
        int x = 0;
        CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msgs[i], &x, NULL), NETCHAN_OK);
        CHECK_EQ_U64(x, i + 1);
    }
    uint64_t pending = 0;
    CHECK_ERR(netchan_drain(setup.out, 300, &pending), NETCHAN_ETIMEDOUT);
    CHECK_EQ_U64(pending, 3);

    ENSURE(msgs[1] != NULL);
    CHECK_ERR(netchan_msg_ack(msgs[1]), NETCHAN_OK);
    CHECK(WAIT_UNTIL(netchan_pending(setup.out) == 2, 5000));
    CHECK_ERR(netchan_msg_ack(msgs[1]), NETCHAN_OK);
    for (int i = 0; i < 3; i++) {
        if (msgs[i] != NULL) {
            CHECK_ERR(netchan_msg_ack(msgs[i]), NETCHAN_OK);
        }
    }
    CHECK_ERR(netchan_drain(setup.out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_ACKNOWLEDGED), 3);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_REDELIVERED), 0);

    /* An importer that acknowledges on receipt has nothing to acknowledge by hand. */
    netchan_chan_t *plain = export_points(setup.exporter, "plain", NETCHAN_SEND, 16);
    auto_importer = start_importer(setup.endpoint);
    netchan_chan_t *plain_in =
        auto_importer != NULL ? import_points(auto_importer, "plain", NETCHAN_RECV, 16) : NULL;
    ENSURE(plain != NULL);
    ENSURE(plain_in != NULL);
    CHECK_ERR(send_points(plain, 1, 1, 0), NETCHAN_OK);
    CHECK_ERR(netchan_recv_msg(plain_in, RECV_TIMEOUT_MS, &auto_msg), NETCHAN_OK);
    CHECK_ERR(netchan_msg_ack(auto_msg), NETCHAN_ESTATE);
    CHECK_ERR(netchan_msg_release(auto_msg), NETCHAN_ESTATE);
    CHECK_ERR(netchan_msg_return(auto_msg), NETCHAN_ESTATE);
    CHECK_ERR(netchan_msg_reject(auto_msg), NETCHAN_ESTATE);
    CHECK_ERR(netchan_drain(plain, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
out:
    for (int i = 0; i < 3; i++) {
        netchan_msg_destroy(&msgs[i]);
    }
    netchan_msg_destroy(&auto_msg);
    netchan_importer_destroy(&auto_importer);
    ack_teardown(&setup);
}

/* A released value comes back at once, with one more attempt. */
TEST(ack_release_redelivers_next_attempt)
{
    ack_setup_t setup = {.exporter = NULL};
    netchan_msg_t *msg = NULL;
    ENSURE(ack_setup(&setup, NULL, NULL));
    CHECK_ERR(send_points(setup.out, 1, 1, 0), NETCHAN_OK);
    int x = 0;
    uint32_t attempts = 0;
    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, &x, &attempts), NETCHAN_OK);
    CHECK_EQ_U64(x, 1);
    CHECK_EQ_U64(attempts, 1);
    CHECK_ERR(netchan_msg_release(msg), NETCHAN_OK);
    /* Releasing twice changes nothing. */
    CHECK_ERR(netchan_msg_release(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);

    int64_t released_at = harness_now_ms();
    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, &x, &attempts), NETCHAN_OK);
    int64_t elapsed = harness_now_ms() - released_at;
    printf("# the released value came back after %" PRId64 " ms\n", elapsed);
    CHECK(elapsed < 1000);
    CHECK_EQ_U64(x, 1);
    CHECK_EQ_U64(attempts, 2);
    CHECK_ERR(netchan_msg_ack(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);
    CHECK_ERR(netchan_drain(setup.out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_REDELIVERED), 1);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_DELIVERED), 2);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_ACKNOWLEDGED), 1);
    /* Nothing else arrives. */
    CHECK_ERR(netchan_recv_msg(setup.in, 200, &msg), NETCHAN_ETIMEDOUT);
out:
    netchan_msg_destroy(&msg);
    ack_teardown(&setup);
}

/* After a release, the receiving side's drain still completes once the sender confirmed the
 * verdicts: the released value counts as handed back, and its acknowledgement after the
 * redelivery as acknowledged. */
TEST(ack_released_value_drains_receiver)
{
    ack_setup_t setup = {.exporter = NULL};
    netchan_msg_t *msg = NULL;
    ENSURE(ack_setup(&setup, NULL, NULL));
    CHECK_ERR(send_points(setup.out, 1, 1, 0), NETCHAN_OK);
    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, NULL, NULL), NETCHAN_OK);
    CHECK_ERR(netchan_msg_release(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);
    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, NULL, NULL), NETCHAN_OK);
    CHECK_ERR(netchan_msg_ack(msg), NETCHAN_OK);
    CHECK_ERR(netchan_drain(setup.out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    uint64_t unconfirmed = 99;
    CHECK_ERR(netchan_drain(setup.in, DRAIN_TIMEOUT_MS, &unconfirmed), NETCHAN_OK);
    CHECK_EQ_U64(unconfirmed, 0);
out:
    netchan_msg_destroy(&msg);
    ack_teardown(&setup);
}

/* A returned value comes back at once with the same attempt count: handing it back unseen
 * does not count as an attempt. */
TEST(ack_return_keeps_attempts)
{
    ack_setup_t setup = {.exporter = NULL};
    netchan_msg_t *msg = NULL;
    ENSURE(ack_setup(&setup, NULL, NULL));
    CHECK_ERR(send_points(setup.out, 1, 1, 0), NETCHAN_OK);
    int x = 0;
    uint32_t attempts = 0;
    for (int round = 0; round < 3; round++) {
        CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, &x, &attempts), NETCHAN_OK);
        CHECK_EQ_U64(x, 1);
        CHECK_EQ_U64(attempts, 1);
        CHECK_ERR(netchan_msg_return(msg), NETCHAN_OK);
        netchan_msg_destroy(&msg);
    }
    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, &x, &attempts), NETCHAN_OK);
    CHECK_EQ_U64(attempts, 1);
    CHECK_ERR(netchan_msg_ack(msg), NETCHAN_OK);
    CHECK_ERR(netchan_drain(setup.out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_ACKNOWLEDGED), 1);
out:
    netchan_msg_destroy(&msg);
    ack_teardown(&setup);
}

/* A rejected value is never delivered again; its sender counts it as rejected and its drain
 * returns NETCHAN_EREJECTED, while the other values are acknowledged. */
TEST(ack_reject_reaches_sender)
{
    ack_setup_t setup = {.exporter = NULL};
    netchan_msg_t *msg = NULL;
    ENSURE(ack_setup(&setup, NULL, NULL));
    CHECK_ERR(send_points(setup.out, 1, 3, 0), NETCHAN_OK);
    int x = 0;
    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 1);
    CHECK_ERR(netchan_msg_ack(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);
    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 2);
    CHECK_ERR(netchan_msg_reject(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);
    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 3);
    CHECK_ERR(netchan_msg_ack(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);

    uint64_t pending = 99;
    CHECK_ERR(netchan_drain(setup.out, DRAIN_TIMEOUT_MS, &pending), NETCHAN_EREJECTED);
    CHECK_EQ_U64(pending, 0);
    printf("# sender error: %s\n", netchan_chan_error(setup.out));
    CHECK(strstr(netchan_chan_error(setup.out), "seq 2") != NULL);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_REJECTED), 1);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_ACKNOWLEDGED), 2);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_PENDING), 0);
    CHECK_ERR(netchan_recv_msg(setup.in, 300, &msg), NETCHAN_ETIMEDOUT);
out:
    netchan_msg_destroy(&msg);
    ack_teardown(&setup);
}

/* A value held past the acknowledgement deadline is released for redelivery, comes back with
 * a second attempt, and a late ack on the old message returns NETCHAN_ETIMEDOUT. */
TEST(ack_deadline_releases_held_value)
{
    enum { DEADLINE_MS = 200 };
    ack_setup_t setup = {.exporter = NULL};
    netchan_msg_t *late = NULL;
    netchan_msg_t *again = NULL;
    netchan_options_t *options = options_with(16, true);
    ENSURE(options != NULL);
    CHECK_ERR(netchan_options_set_ack_deadline(options, DEADLINE_MS), NETCHAN_OK);
    ENSURE(ack_setup(&setup, NULL, options));
    CHECK_ERR(send_points(setup.out, 1, 1, 0), NETCHAN_OK);
    int x = 0;
    uint32_t attempts = 0;
    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &late, &x, &attempts), NETCHAN_OK);
    int64_t taken_at = harness_now_ms();
    CHECK_EQ_U64(attempts, 1);

    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &again, &x, &attempts), NETCHAN_OK);
    int64_t elapsed = harness_now_ms() - taken_at;
    printf("# redelivered %" PRId64 " ms after it was taken\n", elapsed);
    CHECK(elapsed >= DEADLINE_MS - 10);
    CHECK(elapsed <= DEADLINE_MS + 1000);
    CHECK_EQ_U64(x, 1);
    CHECK_EQ_U64(attempts, 2);
    ENSURE(late != NULL);
    CHECK_ERR(netchan_msg_ack(late), NETCHAN_ETIMEDOUT);
    CHECK_ERR(netchan_msg_release(late), NETCHAN_ETIMEDOUT);
    CHECK(strstr(netchan_chan_error(setup.in), "deadline") != NULL);
    ENSURE(again != NULL);
    CHECK_ERR(netchan_msg_ack(again), NETCHAN_OK);
    CHECK_ERR(netchan_drain(setup.out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_REDELIVERED), 1);
out:
    netchan_msg_destroy(&late);
    netchan_msg_destroy(&again);
    netchan_options_destroy(&options);
    ack_teardown(&setup);
}

/* A value released on its last attempt moves to the dead-letter channel: the exporter reports
 * a DEAD_LETTER event with the value's sequence number, counts it, and the value arrives on the
 * dead-letter channel. Nothing is discarded, so the source channel drains cleanly. */
TEST(ack_max_attempts_dead_letter_channel)
{
    enum { MAX_ATTEMPTS = 2 };
    ack_setup_t setup = {.exporter = NULL};
    netchan_msg_t *msg = NULL;
    netchan_event_t *event = NULL;
    netchan_options_t *options = netchan_options_new();
    ENSURE(options != NULL);
    setup.exporter = start_exporter(setup.endpoint);
    ENSURE(setup.exporter != NULL);
    /* The dead-letter channel is opened first, as the option requires. */
    netchan_chan_t *dead = export_points(setup.exporter, "dead", NETCHAN_SEND, 16);
    ENSURE(dead != NULL);
    CHECK_ERR(netchan_options_set_max_attempts(options, MAX_ATTEMPTS), NETCHAN_OK);
    CHECK_ERR(netchan_options_set_dead_letter(options, "dead"), NETCHAN_OK);
    CHECK_ERR(netchan_export(setup.exporter, "jobs", NETCHAN_SEND,
                             &netchan__test__point__descriptor, options, &setup.out),
              NETCHAN_OK);
    setup.importer = start_importer(setup.endpoint);
    ENSURE(setup.importer != NULL);
    setup.in = import_points_with(setup.importer, "jobs", NETCHAN_RECV, 16, true);
    netchan_chan_t *dead_in = import_points(setup.importer, "dead", NETCHAN_RECV, 16);
    ENSURE(setup.out != NULL);
    ENSURE(setup.in != NULL);
    ENSURE(dead_in != NULL);

    CHECK_ERR(send_points(setup.out, 1, 1, 0), NETCHAN_OK);
    int x = 0;
    uint32_t attempts = 0;
    for (uint32_t attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, &x, &attempts), NETCHAN_OK);
        CHECK_EQ_U64(x, 1);
        CHECK_EQ_U64(attempts, attempt);
        CHECK_ERR(netchan_msg_release(msg), NETCHAN_OK);
        netchan_msg_destroy(&msg);
    }
    /* Value 1 is gone from "jobs"; value 2, sent now, is next. */
    CHECK_ERR(send_points(setup.out, 2, 2, 0), NETCHAN_OK);
    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, &x, &attempts), NETCHAN_OK);
    CHECK_EQ_U64(x, 2);
    CHECK_ERR(netchan_msg_ack(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);

    CHECK_ERR(recv_point(dead_in, RECV_TIMEOUT_MS, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 1);
    event = wait_event(next_exporter_event, setup.exporter, NETCHAN_EVENT_DEAD_LETTER, 5000);
    ENSURE(event != NULL);
    CHECK(strcmp(netchan_event_channel(event), "jobs") == 0);
    CHECK_EQ_U64(netchan_event_count(event), 1);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_DEAD_LETTERED), 1);
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_PENDING), 0);
    CHECK_ERR(netchan_drain(setup.out, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_ERR(netchan_drain(dead, DRAIN_TIMEOUT_MS, NULL), NETCHAN_OK);
    CHECK_EQ_U64(netchan_chan_stat(dead, NETCHAN_STAT_SENT), 1);
out:
    netchan_msg_destroy(&msg);
    netchan_event_destroy(&event);
    netchan_options_destroy(&options);
    ack_teardown(&setup);
}

/* Without a dead-letter channel a value past its maximum attempts is discarded and reported:
 * a DEAD_LETTER event, the DEAD_LETTERED count, and NETCHAN_EDISCARDED from the drain. The
 * value is never delivered again. */
TEST(ack_max_attempts_discards_value)
{
    ack_setup_t setup = {.exporter = NULL};
    netchan_msg_t *msg = NULL;
    netchan_event_t *event = NULL;
    netchan_options_t *options = netchan_options_new();
    ENSURE(options != NULL);
    CHECK_ERR(netchan_options_set_max_attempts(options, 1), NETCHAN_OK);
    ENSURE(ack_setup(&setup, options, NULL));
    CHECK_ERR(send_points(setup.out, 1, 1, 0), NETCHAN_OK);
    int x = 0;
    CHECK_ERR(recv_point_msg(setup.in, RECV_TIMEOUT_MS, &msg, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 1);
    CHECK_ERR(netchan_msg_release(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);

    event = wait_event(next_exporter_event, setup.exporter, NETCHAN_EVENT_DEAD_LETTER, 5000);
    ENSURE(event != NULL);
    CHECK(strcmp(netchan_event_channel(event), "jobs") == 0);
    CHECK_EQ_U64(netchan_event_count(event), 1);
    /* The count includes the value by the time its event is read. */
    CHECK_EQ_U64(netchan_chan_stat(setup.out, NETCHAN_STAT_DEAD_LETTERED), 1);
    uint64_t pending = 99;
    CHECK_ERR(netchan_drain(setup.out, DRAIN_TIMEOUT_MS, &pending), NETCHAN_EDISCARDED);
    CHECK_EQ_U64(pending, 0);
    printf("# sender error: %s\n", netchan_chan_error(setup.out));
    CHECK(strstr(netchan_chan_error(setup.out), "discarded") != NULL);
    CHECK_ERR(netchan_recv_msg(setup.in, 300, &msg), NETCHAN_ETIMEDOUT);
out:
    netchan_msg_destroy(&msg);
    netchan_event_destroy(&event);
    netchan_options_destroy(&options);
    ack_teardown(&setup);
}

int main(int argc, char **argv)
{
    features_child_main(argc, argv);
    RUN(ack_explicit_holds_until_ack);
    RUN(ack_release_redelivers_next_attempt);
    RUN(ack_released_value_drains_receiver);
    RUN(ack_return_keeps_attempts);
    RUN(ack_reject_reaches_sender);
    RUN(ack_deadline_releases_held_value);
    RUN(ack_max_attempts_dead_letter_channel);
    RUN(ack_max_attempts_discards_value);
    return harness_done();
}
