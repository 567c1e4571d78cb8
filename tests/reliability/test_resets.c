/* Scenario: 100,000 values of 1 KiB from an exporter to one importer through the fault proxy,
 * with five one-second periods in the middle. During each, the proxy resets every connection,
 * so that both peers receive an RST, and resets every reconnection attempt too.
 *
 * Checked by the oracle: every value arrives, exactly once, in order (one importer session, so
 * no duplicate is allowed), and values sent before each heal arrive within RECOVERY_BOUND_MS of
 * it. Also: the importer saw the connection go and come back, and nothing stays pending. */
#include "scenario.h"

#define VALUES            100000
#define VALUE_SIZE        1024
#define RESETS            5
#define RESET_MS          1000
#define RECOVERY_BOUND_MS 20000
#define RUN_BOUND_MS      300000

static scenario_t scenario;

TEST(resets_lose_nothing)
{
    char exporter_endpoint[256];
    char proxy_endpoint[256];
    char path[256];
    netchan_chan_t *out = NULL;
    netchan_chan_t *in = NULL;
    netchan_exporter_t *exporter = scenario_exporter(exporter_endpoint, sizeof(exporter_endpoint),
                                                     NETCHAN_SEND, 0, false, &out);
    REQUIRE(exporter != NULL);
    faultproxy_t *proxy = faultproxy_start(exporter_endpoint);
    REQUIRE(proxy != NULL);
    faultproxy_endpoint(proxy, proxy_endpoint, sizeof(proxy_endpoint));
    netchan_importer_t *importer = scenario_importer(proxy_endpoint, NETCHAN_RECV, 0, false, &in);
    REQUIRE(importer != NULL);

    rel_record_t *sender_record =
        rel_record_open(scenario_path(&scenario, path, sizeof(path), "sender.rec"));
    rel_record_t *receiver_record =
        rel_record_open(scenario_path(&scenario, path, sizeof(path), "receiver.rec"));
    REQUIRE(sender_record != NULL);
    REQUIRE(receiver_record != NULL);
    rel_watch_t *exporter_watch = rel_watch_exporter(exporter, sender_record, false);
    rel_watch_t *importer_watch = rel_watch_importer(importer, receiver_record, false);

    int64_t start = harness_now_ms();
    static scenario_sender_t sender;
    static scenario_receiver_t receiver;
    rel_sender_config_t sender_config = {
        .id = 1, .count = VALUES, .size = VALUE_SIZE, .drain_timeout_ms = RUN_BOUND_MS};
    rel_receiver_config_t receiver_config = {.id = 1};
    REQUIRE(scenario_receiver_start(&receiver, in, receiver_record, &receiver_config));
    REQUIRE(scenario_sender_start(&sender, out, sender_record, &sender_config));

    /* Resets at 1/6, 2/6 ... 5/6 of the stream, counted at the receiver. */
    for (int i = 1; i <= RESETS; i++) {
        uint64_t milestone = (uint64_t)VALUES * (uint64_t)i / (RESETS + 1);
        bool reached = WAIT_UNTIL(atomic_load(&receiver.progress) >= milestone, RUN_BOUND_MS);
        CHECK(reached);
        if (!reached) {
            break;
        }
        scenario_fault(&scenario, "reset");
        faultproxy_set_mode(proxy, FAULTPROXY_RESET);
        struct timespec hold = {RESET_MS / 1000, (RESET_MS % 1000) * 1000000L};
        nanosleep(&hold, NULL); /* the fault's duration, not a wait for an event */
        faultproxy_set_mode(proxy, FAULTPROXY_PASS);
        scenario_heal(&scenario);
    }

    bool sent = scenario_join(sender.thread, &sender.finished, NULL, RUN_BOUND_MS, "the sender");
    bool received = scenario_join(receiver.thread, &receiver.finished, &receiver.stop, RUN_BOUND_MS,
                                  "the receiver");
    REQUIRE(sent);
    REQUIRE(received);
    int64_t elapsed = harness_now_ms() - start;
    CHECK_ERR(sender.result, NETCHAN_OK);
    CHECK_EQ_U64(receiver.end, REL_RECV_ENDED);
    CHECK(rel_finish_receiver(in, receiver_record, 1, true, SCENARIO_STEP_MS));

    faultproxy_stats_t stats = faultproxy_stats(proxy);
    printf("# %d values of %d bytes in %" PRId64 " ms (%.0f values/s); the proxy reset %" PRIu64
           " connections and accepted %" PRIu64 "\n",
           VALUES, VALUE_SIZE, elapsed, VALUES * 1000.0 / (double)elapsed, stats.resets,
           stats.accepted);
    printf("# importer events: %" PRIu64 " lost, %" PRIu64 " resumed; exporter events: %" PRIu64
           " lost, %" PRIu64 " resumed\n",
           rel_watch_count(importer_watch, NETCHAN_EVENT_LOST),
           rel_watch_count(importer_watch, NETCHAN_EVENT_RESUMED),
           rel_watch_count(exporter_watch, NETCHAN_EVENT_LOST),
           rel_watch_count(exporter_watch, NETCHAN_EVENT_RESUMED));
    CHECK(stats.resets >= RESETS);
    CHECK(rel_watch_count(importer_watch, NETCHAN_EVENT_LOST) >= RESETS);
    CHECK(rel_watch_count(importer_watch, NETCHAN_EVENT_RESUMED) >= RESETS);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_IN_FLIGHT), 0);
    CHECK_EQ_U64(netchan_pending(in), 0);
    rel_record_sender_stats(sender_record, out, "exporter", false);
    printf("# exporter: %" PRIu64 " deliveries, %" PRIu64 " redelivered, %" PRIu64
           " taken back; importer: %" PRIu64 " duplicates dropped\n",
           netchan_chan_stat(out, NETCHAN_STAT_DELIVERED),
           netchan_chan_stat(out, NETCHAN_STAT_REDELIVERED),
           netchan_chan_stat(out, NETCHAN_STAT_TAKEN_BACK),
           netchan_chan_stat(in, NETCHAN_STAT_DUPLICATES));

    rel_watch_stop(&importer_watch);
    rel_watch_stop(&exporter_watch);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    faultproxy_stop(&proxy);
    rel_record_close(&sender_record);
    rel_record_close(&receiver_record);

    oracle_t *oracle = oracle_load(scenario.dir);
    REQUIRE(oracle != NULL);
    oracle_rules_t rules = {
        .senders = 1,
        .strict_order = true,
        .require_drained = true,
        .recovery_bound_ms = RECOVERY_BOUND_MS,
    };
    oracle_result_t result;
    CHECK(oracle_check(oracle, &rules, &result));
    CHECK_EQ_U64(result.sent, VALUES);
    CHECK_EQ_U64(result.repeats, 0);
    oracle_free(&oracle);
}

int main(int argc, char **argv)
{
    if (!scenario_begin(&scenario, argc, argv)) {
        return 1;
    }
    RUN(resets_lose_nothing);
    scenario_end(&scenario);
    return harness_done();
}
