/* Scenario: every fault mode in turn while values flow both ways over one importer session.
 *
 * An exporter in this process exports "down" (it sends) and "up" (it receives); one importer,
 * connected through the fault proxy, imports both. Each side sends VALUES values at RATE
 * values/s. While both streams run, the proxy goes through FAULTS: pause, kill, blackhole and
 * reset, each held for its duration and then healed, with HEALTHY_MS of pass between faults.
 *
 * Checked: the oracle finds both streams complete, in order and without a duplicate (one
 * importer session), with every value sent before each heal taken within RECOVERY_BOUND_MS of
 * it, and nothing stays pending or in flight at the end. */
#include "scenario.h"

#define VALUES            30000
#define RATE              1500
#define HEALTHY_MS        2000
#define RECOVERY_BOUND_MS 15000

typedef struct fault {
    faultproxy_mode_t mode;
    int hold_ms;
} fault_t;

static const fault_t FAULTS[] = {
    {FAULTPROXY_PAUSE, 3000},
    {FAULTPROXY_KILL, 500},
    {FAULTPROXY_BLACKHOLE, 3000},
    {FAULTPROXY_RESET, 1000},
};
#define FAULT_COUNT ((int)(sizeof(FAULTS) / sizeof(FAULTS[0])))

static scenario_t scenario;

static netchan_chan_t *export_one(netchan_exporter_t *exporter, const char *name, netchan_dir dir)
{
    netchan_chan_t *chan = NULL;
    if (netchan_export_bytes(exporter, name, dir, NULL, NULL, NULL, &chan) != NETCHAN_OK) {
        printf("# cannot export '%s': %s\n", name, netchan_exporter_error(exporter));
        return NULL;
    }
    return chan;
}

static netchan_chan_t *import_one(netchan_importer_t *importer, const char *name, netchan_dir dir)
{
    netchan_chan_t *chan = NULL;
    if (netchan_import_bytes(importer, name, dir, NULL, NULL, NULL, SCENARIO_STEP_MS, &chan) !=
        NETCHAN_OK) {
        printf("# cannot import '%s': %s\n", name, netchan_importer_error(importer));
        return NULL;
    }
    return chan;
}

static void hold(int ms)
{
    struct timespec duration = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&duration, NULL); /* a fault's or a healthy period's duration */
}

TEST(every_mode_both_directions)
{
    char exporter_endpoint[256];
    char proxy_endpoint[256];
    char path[256];
    netchan_exporter_t *exporter = NULL;
    REQUIRE(netchan_exporter_new(&exporter) == NETCHAN_OK);
    REQUIRE(netchan_exporter_bind(exporter, "tcp://127.0.0.1:*") == NETCHAN_OK);
    REQUIRE(netchan_exporter_endpoint(exporter, exporter_endpoint, sizeof(exporter_endpoint)) ==
            NETCHAN_OK);
    netchan_chan_t *down_out = export_one(exporter, "down", NETCHAN_SEND);
    netchan_chan_t *up_in = export_one(exporter, "up", NETCHAN_RECV);
    REQUIRE(down_out != NULL);
    REQUIRE(up_in != NULL);
    faultproxy_t *proxy = faultproxy_start(exporter_endpoint);
    REQUIRE(proxy != NULL);
    faultproxy_endpoint(proxy, proxy_endpoint, sizeof(proxy_endpoint));
    netchan_importer_t *importer = NULL;
    REQUIRE(netchan_importer_new(&importer) == NETCHAN_OK);
    REQUIRE(netchan_importer_connect(importer, proxy_endpoint) == NETCHAN_OK);
    netchan_chan_t *down_in = import_one(importer, "down", NETCHAN_RECV);
    netchan_chan_t *up_out = import_one(importer, "up", NETCHAN_SEND);
    REQUIRE(down_in != NULL);
    REQUIRE(up_out != NULL);

    rel_record_t *exporter_record =
        rel_record_open(scenario_path(&scenario, path, sizeof(path), "exporter.rec"));
    rel_record_t *importer_record =
        rel_record_open(scenario_path(&scenario, path, sizeof(path), "importer.rec"));
    REQUIRE(exporter_record != NULL);
    REQUIRE(importer_record != NULL);
    rel_watch_t *exporter_watch = rel_watch_exporter(exporter, exporter_record, false);
    rel_watch_t *importer_watch = rel_watch_importer(importer, importer_record, false);

    /* Sender 1 and receiver 1 carry "down"; sender 2 and receiver 2 carry "up". */
    static scenario_sender_t down_sender;
    static scenario_sender_t up_sender;
    static scenario_receiver_t down_receiver;
    static scenario_receiver_t up_receiver;
    rel_sender_config_t down_config = {
        .id = 1, .count = VALUES, .size = 200, .rate = RATE, .drain_timeout_ms = 120000};
    rel_sender_config_t up_config = {
        .id = 2, .count = VALUES, .size = 200, .rate = RATE, .drain_timeout_ms = 120000};
    rel_receiver_config_t down_receiver_config = {.id = 1};
    rel_receiver_config_t up_receiver_config = {.id = 2};
    REQUIRE(
        scenario_receiver_start(&down_receiver, down_in, importer_record, &down_receiver_config));
    REQUIRE(scenario_receiver_start(&up_receiver, up_in, exporter_record, &up_receiver_config));
    REQUIRE(scenario_sender_start(&down_sender, down_out, exporter_record, &down_config));
    REQUIRE(scenario_sender_start(&up_sender, up_out, importer_record, &up_config));

    for (int i = 0; i < FAULT_COUNT; i++) {
        hold(HEALTHY_MS);
        scenario_fault(&scenario, faultproxy_mode_name(FAULTS[i].mode));
        faultproxy_set_mode(proxy, FAULTS[i].mode);
        hold(FAULTS[i].hold_ms);
        faultproxy_set_mode(proxy, FAULTPROXY_PASS);
        scenario_heal(&scenario);
    }

    REQUIRE(scenario_join(down_sender.thread, &down_sender.finished, NULL, 120000, "down sender"));
    REQUIRE(scenario_join(up_sender.thread, &up_sender.finished, NULL, 120000, "up sender"));
    REQUIRE(scenario_join(down_receiver.thread, &down_receiver.finished, &down_receiver.stop,
                          120000, "down receiver"));
    REQUIRE(scenario_join(up_receiver.thread, &up_receiver.finished, &up_receiver.stop, 120000,
                          "up receiver"));
    CHECK_ERR(down_sender.result, NETCHAN_OK);
    CHECK_ERR(up_sender.result, NETCHAN_OK);
    CHECK_EQ_U64(down_receiver.end, REL_RECV_ENDED);
    CHECK_EQ_U64(up_receiver.end, REL_RECV_ENDED);
    CHECK(rel_finish_receiver(down_in, importer_record, 1, true, SCENARIO_STEP_MS));
    CHECK(rel_finish_receiver(up_in, exporter_record, 2, true, SCENARIO_STEP_MS));
    CHECK_EQ_U64(netchan_chan_stat(down_out, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(down_out, NETCHAN_STAT_IN_FLIGHT), 0);
    CHECK_EQ_U64(netchan_chan_stat(up_out, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(up_out, NETCHAN_STAT_IN_FLIGHT), 0);
    faultproxy_stats_t stats = faultproxy_stats(proxy);
    printf("# proxy: %" PRIu64 " connections accepted, %" PRIu64 " reset, %" PRIu64
           " killed, %" PRIu64 " bytes discarded\n",
           stats.accepted, stats.resets, stats.kills, stats.bytes_discarded);
    printf("# importer events: %" PRIu64 " lost, %" PRIu64 " resumed; exporter events: %" PRIu64
           " lost, %" PRIu64 " resumed\n",
           rel_watch_count(importer_watch, NETCHAN_EVENT_LOST),
           rel_watch_count(importer_watch, NETCHAN_EVENT_RESUMED),
           rel_watch_count(exporter_watch, NETCHAN_EVENT_LOST),
           rel_watch_count(exporter_watch, NETCHAN_EVENT_RESUMED));
    printf("# redelivered: %" PRIu64 " down, %" PRIu64 " up; duplicates dropped: %" PRIu64
           " down, %" PRIu64 " up\n",
           netchan_chan_stat(down_out, NETCHAN_STAT_REDELIVERED),
           netchan_chan_stat(up_out, NETCHAN_STAT_REDELIVERED),
           netchan_chan_stat(down_in, NETCHAN_STAT_DUPLICATES),
           netchan_chan_stat(up_in, NETCHAN_STAT_DUPLICATES));

    rel_watch_stop(&importer_watch);
    rel_watch_stop(&exporter_watch);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    faultproxy_stop(&proxy);
    rel_record_close(&exporter_record);
    rel_record_close(&importer_record);

    oracle_t *oracle = oracle_load(scenario.dir);
    REQUIRE(oracle != NULL);
    oracle_rules_t rules = {
        .senders = 2,
        .strict_order = true,
        .require_drained = true,
        .recovery_bound_ms = RECOVERY_BOUND_MS,
    };
    oracle_result_t result;
    CHECK(oracle_check(oracle, &rules, &result));
    CHECK_EQ_U64(result.sent, 2 * VALUES);
    CHECK_EQ_U64(result.repeats, 0);
    oracle_free(&oracle);
}

int main(int argc, char **argv)
{
    if (!scenario_begin(&scenario, argc, argv)) {
        return 1;
    }
    RUN(every_mode_both_directions);
    scenario_end(&scenario);
    return harness_done();
}
