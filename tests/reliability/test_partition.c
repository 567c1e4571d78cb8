/* Scenarios: a network partition in the middle of a stream.
 *
 * An exporter sends a paced stream to one importer. Once the importer has taken PARTITION_AT
 * values, the link is cut for the given number of seconds and then healed:
 *
 *   test_partition RELPEER CLI proxy SECONDS
 *       exporter and importer in this process, the importer connected through the fault proxy,
 *       which blackholes every connection during the partition;
 *   test_partition RELPEER CLI netns SECONDS
 *       exporter and importer as relpeer processes in two network namespaces joined by a veth
 *       pair, with the exporter's end of the link taken down during the partition (skipped
 *       unless the test runs as root with iproute2).
 *
 * Checked: both sides notice the partition (a LOST event on each side before the heal), and the
 * importer resumes its session after the heal (RESUMED). The oracle finds every value in order
 * and none twice, and the values sent before the heal taken within RECOVERY_BOUND_MS. */
#include "scenario.h"

#define RATE              1000
#define PARTITION_AT      5000
#define RECOVERY_BOUND_MS 15000

static scenario_t scenario;
static const char *kind = "proxy";
static int partition_seconds = 10;

/* Values sent in all: the stream runs PARTITION_AT values, the partition and ten seconds more. */
static uint64_t total_values(void)
{
    return PARTITION_AT + (uint64_t)(partition_seconds + 10) * RATE;
}

static void hold_partition(void)
{
    struct timespec hold = {partition_seconds, 0};
    nanosleep(&hold, NULL); /* the fault's duration, not a wait for an event */
}

/* Checks the events from the records: LOST on both sides during the partition, RESUMED at the
 * importer after it. */
static void check_events(oracle_t *oracle, int64_t fault_at, int64_t heal_at)
{
    uint64_t exporter_lost =
        oracle_count_events(oracle, "exporter", "lost", NULL, fault_at, heal_at);
    uint64_t importer_lost =
        oracle_count_events(oracle, "importer", "lost", NULL, fault_at, heal_at);
    uint64_t resumed = oracle_count_events(oracle, "importer", "resumed", NULL, heal_at, INT64_MAX);
    printf("# during the partition: exporter lost %" PRIu64 ", importer lost %" PRIu64
           "; after it the importer resumed %" PRIu64 " times\n",
           exporter_lost, importer_lost, resumed);
    CHECK(exporter_lost >= 1);
    CHECK(importer_lost >= 1);
    CHECK(resumed >= 1);
}

static void check_oracle(int64_t fault_at, int64_t heal_at)
{
    oracle_t *oracle = oracle_load(scenario.dir);
    if (oracle == NULL) {
        CHECK(oracle != NULL);
        return;
    }
    oracle_rules_t rules = {
        .senders = 1,
        .strict_order = true,
        .require_drained = true,
        .recovery_bound_ms = RECOVERY_BOUND_MS,
    };
    oracle_result_t result;
    CHECK(oracle_check(oracle, &rules, &result));
    CHECK_EQ_U64(result.sent, total_values());
    CHECK_EQ_U64(result.repeats, 0);
    check_events(oracle, fault_at, heal_at);
    oracle_free(&oracle);
}

TEST(partition_through_proxy)
{
    char exporter_endpoint[256];
    char proxy_endpoint[256];
    char path[256];
    netchan_chan_t *out = NULL;
    netchan_chan_t *in = NULL;
    uint32_t capacity = (uint32_t)total_values();
    netchan_exporter_t *exporter = scenario_exporter(exporter_endpoint, sizeof(exporter_endpoint),
                                                     NETCHAN_SEND, capacity, false, &out);
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

    static scenario_sender_t sender;
    static scenario_receiver_t receiver;
    rel_sender_config_t sender_config = {
        .id = 1, .count = total_values(), .size = 256, .rate = RATE, .drain_timeout_ms = 120000};
    rel_receiver_config_t receiver_config = {.id = 1};
    REQUIRE(scenario_receiver_start(&receiver, in, receiver_record, &receiver_config));
    REQUIRE(scenario_sender_start(&sender, out, sender_record, &sender_config));

    REQUIRE(WAIT_UNTIL(atomic_load(&receiver.progress) >= PARTITION_AT, SCENARIO_STEP_MS));
    int64_t fault_at = rel_now_ms();
    scenario_fault(&scenario, "blackhole");
    faultproxy_set_mode(proxy, FAULTPROXY_BLACKHOLE);
    hold_partition();
    uint64_t sent_during = atomic_load(&sender.progress);
    uint64_t taken_during = atomic_load(&receiver.progress);
    CHECK(rel_watch_count(exporter_watch, NETCHAN_EVENT_LOST) >= 1);
    CHECK(rel_watch_count(importer_watch, NETCHAN_EVENT_LOST) >= 1);
    faultproxy_set_mode(proxy, FAULTPROXY_PASS);
    int64_t heal_at = rel_now_ms();
    scenario_heal(&scenario);
    printf("# at the heal: %" PRIu64 " sent, %" PRIu64 " taken\n", sent_during, taken_during);

    int64_t resumed_within = -1;
    if (WAIT_UNTIL(rel_watch_count(importer_watch, NETCHAN_EVENT_RESUMED) >= 1, SCENARIO_STEP_MS)) {
        resumed_within = rel_now_ms() - heal_at;
    }
    printf("# the importer resumed %" PRId64 " ms after the heal\n", resumed_within);
    bool sent = scenario_join(sender.thread, &sender.finished, NULL, 120000, "the sender");
    bool received =
        scenario_join(receiver.thread, &receiver.finished, &receiver.stop, 120000, "the receiver");
    REQUIRE(sent);
    REQUIRE(received);
    CHECK_ERR(sender.result, NETCHAN_OK);
    CHECK_EQ_U64(receiver.end, REL_RECV_ENDED);
    CHECK(rel_finish_receiver(in, receiver_record, 1, true, SCENARIO_STEP_MS));
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_PENDING), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_IN_FLIGHT), 0);
    CHECK_EQ_U64(netchan_pending(in), 0);
    rel_record_sender_stats(sender_record, out, "exporter", false);
    printf("# exporter: %" PRIu64 " redelivered, %" PRIu64 " taken back; importer: %" PRIu64
           " duplicates dropped\n",
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
    check_oracle(fault_at, heal_at);
}

/* Runs the same stream between two namespaces; returns 77 to skip. */
static int partition_in_namespaces(void)
{
    rel_netns_t netns;
    int rc = rel_netns_create(&netns);
    if (rc != 0) {
        return rc;
    }
    char bind_to[64];
    char count[32];
    char capacity[32];
    char rate[32];
    char sender_record[256];
    char receiver_record[256];
    snprintf(bind_to, sizeof(bind_to), "tcp://%s:*", netns.addr_a);
    snprintf(count, sizeof(count), "%" PRIu64, total_values());
    snprintf(capacity, sizeof(capacity), "%" PRIu64, total_values());
    snprintf(rate, sizeof(rate), "%d", RATE);
    scenario_path(&scenario, sender_record, sizeof(sender_record), "sender.rec");
    scenario_path(&scenario, receiver_record, sizeof(receiver_record), "receiver.rec");

    char *exporter_argv[32];
    rel_netns_exec_prefix(&netns, 'a', exporter_argv);
    char *exporter_rest[] = {(char *)scenario.relpeer,
                             "export-send",
                             "--bind",
                             bind_to,
                             "--id",
                             "1",
                             "--count",
                             count,
                             "--capacity",
                             capacity,
                             "--size",
                             "256",
                             "--rate",
                             rate,
                             "--drain-timeout",
                             "120000",
                             "--record",
                             sender_record,
                             NULL};
    memcpy(exporter_argv + 4, exporter_rest, sizeof(exporter_rest));
    rel_child_t exporter;
    rel_child_t importer = {.pid = -1, .out_fd = -1, .in_fd = -1};
    char line[256];
    char endpoint[256] = "";
    int64_t fault_at = 0;
    int64_t heal_at = 0;
    bool started = rel_child_start(&exporter, "exporter", exporter_argv, false, NULL);
    CHECK(started);
    if (started &&
        rel_child_wait_line(&exporter, "endpoint ", SCENARIO_STEP_MS, line, sizeof(line))) {
        snprintf(endpoint, sizeof(endpoint), "%s", line + strlen("endpoint "));
    }
    CHECK(endpoint[0] != '\0');

    char *importer_argv[32];
    rel_netns_exec_prefix(&netns, 'b', importer_argv);
    char *importer_rest[] = {(char *)scenario.relpeer,
                             "import-recv",
                             "--connect",
                             endpoint,
                             "--id",
                             "1",
                             "--progress",
                             "1000",
                             "--record",
                             receiver_record,
                             NULL};
    memcpy(importer_argv + 4, importer_rest, sizeof(importer_rest));
    if (endpoint[0] != '\0' && rel_child_start(&importer, "importer", importer_argv, false, NULL)) {
        char milestone[32];
        snprintf(milestone, sizeof(milestone), "taken %d", PARTITION_AT);
        bool reached = false;
        while (rel_child_wait_line(&importer, "taken ", SCENARIO_STEP_MS, line, sizeof(line))) {
            if (strtoull(line + strlen("taken "), NULL, 10) >= PARTITION_AT) {
                reached = true;
                break;
            }
        }
        CHECK(reached);
        if (reached) {
            fault_at = rel_now_ms();
            scenario_fault(&scenario, "link down");
            CHECK(rel_netns_set_link(&netns, false));
            hold_partition();
            CHECK(rel_child_wait_line(&exporter, "event exporter lost", 0, line, sizeof(line)));
            CHECK(rel_child_wait_line(&importer, "event importer lost", 0, line, sizeof(line)));
            CHECK(rel_netns_set_link(&netns, true));
            heal_at = rel_now_ms();
            scenario_heal(&scenario);
            if (rel_child_wait_line(&importer, "event importer resumed", SCENARIO_STEP_MS, line,
                                    sizeof(line))) {
                printf("# the importer resumed %" PRId64 " ms after the heal\n",
                       rel_now_ms() - heal_at);
            }
        }
        CHECK(scenario_exited_ok(&exporter, 120000));
        CHECK(scenario_exited_ok(&importer, 120000));
    }
    rel_child_cleanup(&importer);
    rel_child_cleanup(&exporter);
    rel_netns_destroy(&netns);
    if (heal_at > 0) {
        check_oracle(fault_at, heal_at);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (!scenario_begin(&scenario, argc, argv)) {
        return 1;
    }
    kind = argc > 3 ? argv[3] : "proxy";
    partition_seconds = argc > 4 ? atoi(argv[4]) : 10;
    printf("# %s partition of %d s after %d values, at %d values/s\n", kind, partition_seconds,
           PARTITION_AT, RATE);
    if (strcmp(kind, "netns") == 0) {
        harness_current_failures = 0;
        if (partition_in_namespaces() == 77) {
            scenario_end(&scenario);
            printf("1..0 # SKIP network namespaces are not available\n");
            return 77;
        }
        harness_count++;
        printf("%s %d - partition_between_namespaces\n",
               harness_current_failures == 0 ? "ok" : "not ok", harness_count);
        harness_failed_tests += harness_current_failures != 0;
    } else {
        RUN(partition_through_proxy);
    }
    scenario_end(&scenario);
    return harness_done();
}
