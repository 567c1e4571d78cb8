/* Scenario: a slow importer flooded past its capacity while a fast importer shares the exporter.
 *
 * An exporter in this process sends 2 KiB values as fast as credit allows. The fast importer
 * (a thread of this process) takes them at full speed. After BASELINE_MS alone, the slow
 * importer joins: the netchan CLI with capacity SLOW_CAPACITY, whose stdout the test reads at
 * only SLOW_BYTES_PER_TICK bytes every TICK_MS, so the CLI spends most of its time blocked in
 * write(2) while values keep coming. After SHARED_MS the sender stops, closes the channel and
 * drains, and the test reads the rest of the CLI's output at full speed.
 *
 * Checked: the sender is held back by credit, so the exporter never has more than its capacity
 * unacknowledged, nor more in flight than the two importers' capacities. The exporter never
 * takes the blocked CLI for lost. The fast importer's rate while sharing stays at least
 * MIN_RATE_RATIO of its rate alone. The oracle finds every value delivered once, in order at
 * each importer. */
#include "scenario.h"

#define VALUE_SIZE          2048
#define EXPORTER_CAPACITY   1024
#define FAST_CAPACITY       1024
#define SLOW_CAPACITY       64
#define BASELINE_MS         3000
#define SHARED_MS           6000
#define TICK_MS             50
#define SLOW_BYTES_PER_TICK 8192
#define MIN_RATE_RATIO      0.5

static scenario_t scenario;

typedef struct samples {
    uint64_t max_pending;
    uint64_t max_in_flight;
} samples_t;

/* Reads the slow importer's output at its slow pace for duration_ms while sampling the
 * exporter's statistics every tick. */
static void run_slowly(rel_child_t *slow, netchan_chan_t *out, int duration_ms, samples_t *samples)
{
    int64_t end = harness_now_ms() + duration_ms;
    int64_t next = harness_now_ms();
    while (harness_now_ms() < end) {
        rel_child_read_limited(slow, 0, SLOW_BYTES_PER_TICK);
        uint64_t pending = netchan_chan_stat(out, NETCHAN_STAT_PENDING);
        uint64_t in_flight = netchan_chan_stat(out, NETCHAN_STAT_IN_FLIGHT);
        samples->max_pending = pending > samples->max_pending ? pending : samples->max_pending;
        samples->max_in_flight =
            in_flight > samples->max_in_flight ? in_flight : samples->max_in_flight;
        next += TICK_MS;
        struct timespec until = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL); /* the reader's pace */
    }
}

/* Records the CLI's output lines as take lines of receiver id; returns how many parsed. */
static uint64_t record_cli_output(rel_child_t *cli, rel_record_t *record, uint32_t id)
{
    uint64_t parsed = 0;
    rel_record_line(record, "receiver %" PRIu32 " auto", id);
    for (size_t i = 0; i < cli->line_count; i++) {
        uint32_t sender = 0;
        uint64_t seq = 0;
        const char *line = cli->lines[i];
        if (rel_payload_parse((const uint8_t *)line, strlen(line), &sender, &seq)) {
            rel_record_line(record, "take %" PRIu32 " %" PRIu32 " %" PRIu64 " 0 %" PRId64, id,
                            sender, seq, rel_now_ms());
            parsed++;
        } else {
            rel_record_line(record, "corrupt %" PRIu32 " the CLI printed '%.40s'", id, line);
        }
    }
    return parsed;
}

TEST(slow_importer_does_not_hold_back_fast_one)
{
    char endpoint[256];
    char path[256];
    netchan_chan_t *out = NULL;
    netchan_chan_t *in = NULL;
    netchan_exporter_t *exporter =
        scenario_exporter(endpoint, sizeof(endpoint), NETCHAN_SEND, EXPORTER_CAPACITY, false, &out);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer =
        scenario_importer(endpoint, NETCHAN_RECV, FAST_CAPACITY, false, &in);
    REQUIRE(importer != NULL);
    rel_record_t *sender_record =
        rel_record_open(scenario_path(&scenario, path, sizeof(path), "sender.rec"));
    rel_record_t *fast_record =
        rel_record_open(scenario_path(&scenario, path, sizeof(path), "fast.rec"));
    REQUIRE(sender_record != NULL);
    REQUIRE(fast_record != NULL);
    rel_watch_t *watch = rel_watch_exporter(exporter, sender_record, false);

    static scenario_sender_t sender;
    static scenario_receiver_t fast;
    static atomic_bool stop_sending;
    rel_sender_config_t sender_config = {.id = 1,
                                         .count = UINT64_MAX,
                                         .size = VALUE_SIZE,
                                         .drain_timeout_ms = 120000,
                                         .stop = &stop_sending};
    rel_receiver_config_t fast_config = {.id = 1};
    REQUIRE(scenario_receiver_start(&fast, in, fast_record, &fast_config));
    REQUIRE(scenario_sender_start(&sender, out, sender_record, &sender_config));

    /* The fast importer alone. */
    samples_t samples = {0};
    REQUIRE(WAIT_UNTIL(atomic_load(&fast.progress) > 0, SCENARIO_STEP_MS));
    uint64_t alone_start = atomic_load(&fast.progress);
    int64_t alone_started = harness_now_ms();
    struct timespec baseline = {BASELINE_MS / 1000, (BASELINE_MS % 1000) * 1000000L};
    nanosleep(&baseline, NULL); /* the measuring window */
    double alone_rate = (double)(atomic_load(&fast.progress) - alone_start) * 1000.0 /
                        (double)(harness_now_ms() - alone_started);

    /* The slow importer joins. */
    char capacity[16];
    snprintf(capacity, sizeof(capacity), "%d", SLOW_CAPACITY);
    char *cli_argv[] = {(char *)scenario.cli, "import", "--connect", endpoint, "--recv", "values",
                        "--capacity",         capacity, NULL};
    rel_child_t slow;
    REQUIRE(rel_child_start(&slow, "slow", cli_argv, false, NULL));
    slow.quiet = true;
    REQUIRE(WAIT_UNTIL(netchan_chan_stat(out, NETCHAN_STAT_IMPORTERS) == 2, SCENARIO_STEP_MS));
    uint64_t shared_start = atomic_load(&fast.progress);
    int64_t shared_started = harness_now_ms();
    run_slowly(&slow, out, SHARED_MS, &samples);
    double shared_rate = (double)(atomic_load(&fast.progress) - shared_start) * 1000.0 /
                         (double)(harness_now_ms() - shared_started);
    uint64_t slow_lines = slow.line_count;

    /* Stop sending and let both finish; the slow one's output is now read at full speed. */
    atomic_store(&stop_sending, true);
    CHECK(scenario_exited_ok(&slow, SCENARIO_STEP_MS));
    REQUIRE(scenario_join(sender.thread, &sender.finished, NULL, SCENARIO_STEP_MS, "the sender"));
    REQUIRE(scenario_join(fast.thread, &fast.finished, &fast.stop, SCENARIO_STEP_MS,
                          "the fast importer"));
    CHECK_ERR(sender.result, NETCHAN_OK);
    CHECK_EQ_U64(fast.end, REL_RECV_ENDED);
    CHECK(rel_finish_receiver(in, fast_record, 1, true, SCENARIO_STEP_MS));

    printf("# fast importer: %.0f values/s alone, %.0f values/s beside the slow one (ratio %.2f)"
           "\n",
           alone_rate, shared_rate, shared_rate / alone_rate);
    printf("# slow importer: %" PRIu64 " values read in %d ms; %zu in all\n", slow_lines, SHARED_MS,
           slow.line_count);
    printf("# exporter: at most %" PRIu64 " values unacknowledged (capacity %d) and %" PRIu64
           " in flight (importer capacities %d + %d); %" PRIu64 " lost events\n",
           samples.max_pending, EXPORTER_CAPACITY, samples.max_in_flight, FAST_CAPACITY,
           SLOW_CAPACITY, rel_watch_count(watch, NETCHAN_EVENT_LOST));
    CHECK(shared_rate >= MIN_RATE_RATIO * alone_rate);
    CHECK(samples.max_pending <= EXPORTER_CAPACITY);
    CHECK(samples.max_in_flight <= FAST_CAPACITY + SLOW_CAPACITY);
    CHECK_EQ_U64(rel_watch_count(watch, NETCHAN_EVENT_LOST), 0);
    CHECK_EQ_U64(netchan_chan_stat(out, NETCHAN_STAT_REDELIVERED), 0);

    char slow_path[256];
    rel_record_t *slow_record =
        rel_record_open(scenario_path(&scenario, slow_path, sizeof(slow_path), "slow.rec"));
    record_cli_output(&slow, slow_record, 2);
    rel_record_line(slow_record, "done 2");
    rel_record_close(&slow_record);
    rel_child_cleanup(&slow);
    rel_record_sender_stats(sender_record, out, "exporter", false);
    rel_watch_stop(&watch);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
    rel_record_close(&sender_record);
    rel_record_close(&fast_record);

    oracle_t *oracle = oracle_load(scenario.dir);
    REQUIRE(oracle != NULL);
    oracle_rules_t rules = {.senders = 1, .strict_order = true, .require_drained = true};
    oracle_result_t result;
    CHECK(oracle_check(oracle, &rules, &result));
    CHECK_EQ_U64(result.repeats, 0);
    oracle_free(&oracle);
}

int main(int argc, char **argv)
{
    if (!scenario_begin(&scenario, argc, argv)) {
        return 1;
    }
    if (scenario.cli == NULL) {
        printf("usage: test_slow_importer RELPEER NETCHAN_CLI\n");
        return 2;
    }
    RUN(slow_importer_does_not_hold_back_fast_one);
    scenario_end(&scenario);
    return harness_done();
}
