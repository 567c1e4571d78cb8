/* Scenario: a receiver that starts after the sender has sent everything.
 *
 * For each delay in DELAYS_MS, a relpeer process exports a sending channel, sends 100 values
 * with no pause, closes the channel and waits for the acknowledgements. Once it has printed that
 * all 100 are sent, the test waits the delay and starts the netchan CLI as the receiver
 * ("netchan import --recv"), which prints every value and exits at the end of the stream.
 *
 * Checked: each run's 100 values reach the CLI, each once and in order, the CLI exits 0 at the
 * end of the stream, and the sender's drain returns ok. The test records what the CLI printed
 * as that receiver's takes, so the oracle judges the runs. */
#include "scenario.h"

#define VALUES 100

static const int DELAYS_MS[] = {0, 500, 1000, 2000, 3500, 5000};
#define RUNS ((int)(sizeof(DELAYS_MS) / sizeof(DELAYS_MS[0])))

static scenario_t scenario;

/* Writes the CLI's output lines as take lines of receiver id; returns how many parsed. */
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

static void run_once(int run, int delay_ms)
{
    char record_path[256];
    char id[16];
    char count[16];
    snprintf(id, sizeof(id), "%d", run);
    snprintf(count, sizeof(count), "%d", VALUES);
    scenario_path(&scenario, record_path, sizeof(record_path), "sender-%d.rec", run);
    char *sender_argv[] = {(char *)scenario.relpeer,
                           "export-send",
                           "--bind",
                           "tcp://127.0.0.1:*",
                           "--id",
                           id,
                           "--count",
                           count,
                           "--print-sent",
                           "--record",
                           record_path,
                           NULL};
    rel_child_t sender;
    if (!rel_child_start(&sender, "sender", sender_argv, false, NULL)) {
        CHECK(false);
        return;
    }
    char line[256];
    char endpoint[256] = "";
    if (rel_child_wait_line(&sender, "endpoint ", SCENARIO_STEP_MS, line, sizeof(line))) {
        snprintf(endpoint, sizeof(endpoint), "%s", line + strlen("endpoint "));
    }
    bool sent = rel_child_wait_line(&sender, "sent 100", SCENARIO_STEP_MS, line, sizeof(line));
    CHECK(endpoint[0] != '\0');
    CHECK(sent);
    int64_t sent_at = harness_now_ms();
    if (endpoint[0] == '\0' || !sent) {
        rel_child_cleanup(&sender);
        return;
    }

    struct timespec delay = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    nanosleep(&delay, NULL); /* the scenario's parameter: how late the receiver starts */
    char *cli_argv[] = {
        (char *)scenario.cli, "import", "--connect", endpoint, "--recv", "values", NULL};
    rel_child_t cli;
    char name[32];
    snprintf(name, sizeof(name), "cli %d", run);
    if (!rel_child_start(&cli, name, cli_argv, false, NULL)) {
        CHECK(false);
        rel_child_cleanup(&sender);
        return;
    }
    cli.quiet = true;
    bool cli_ok = scenario_exited_ok(&cli, SCENARIO_STEP_MS);
    CHECK(cli_ok);
    bool sender_ok = scenario_exited_ok(&sender, SCENARIO_STEP_MS);
    CHECK(sender_ok);
    int64_t finished_at = harness_now_ms();

    char receiver_path[256];
    rel_record_t *record = rel_record_open(
        scenario_path(&scenario, receiver_path, sizeof(receiver_path), "cli-%d.rec", run));
    uint64_t parsed = record != NULL ? record_cli_output(&cli, record, (uint32_t)run) : 0;
    if (cli_ok) {
        rel_record_line(record, "done %d", run);
    }
    rel_record_close(&record);
    printf("# run %d: receiver started %d ms after the last send, got %" PRIu64
           " values; everything acknowledged %" PRId64 " ms after the last send\n",
           run, delay_ms, parsed, finished_at - sent_at);
    CHECK_EQ_U64(parsed, VALUES);
    rel_child_cleanup(&cli);
    rel_child_cleanup(&sender);
}

TEST(late_receiver_gets_everything)
{
    for (int run = 1; run <= RUNS; run++) {
        run_once(run, DELAYS_MS[run - 1]);
    }
    oracle_t *oracle = oracle_load(scenario.dir);
    REQUIRE(oracle != NULL);
    oracle_rules_t rules = {.senders = RUNS, .strict_order = true, .require_drained = true};
    oracle_result_t result;
    CHECK(oracle_check(oracle, &rules, &result));
    CHECK_EQ_U64(result.sent, (uint64_t)RUNS * VALUES);
    CHECK_EQ_U64(result.delivered, (uint64_t)RUNS * VALUES);
    CHECK_EQ_U64(result.repeats, 0);
    oracle_free(&oracle);
}

int main(int argc, char **argv)
{
    if (!scenario_begin(&scenario, argc, argv)) {
        return 1;
    }
    if (scenario.cli == NULL) {
        printf("usage: test_late_receiver RELPEER NETCHAN_CLI\n");
        return 2;
    }
    RUN(late_receiver_gets_everything);
    scenario_end(&scenario);
    return harness_done();
}
