/* Scenario: importers with explicit acknowledgement that leave while holding values.
 *
 * An exporter in this process sends VALUES values. Importer A (a relpeer process, capacity 300)
 * takes 300 values, acknowledges the first 5, waits until the exporter confirmed those, and
 * exits without ending its session. Importer B (capacity 200) then takes 200, acknowledges 50,
 * waits for their confirmation and keeps the rest until the test kills it with SIGKILL.
 * Importers C and D then share the rest until the exporter closes the stream.
 *
 * Checked by the oracle: no value is lost, and the values A and B acknowledged are never
 * delivered again. Every value they held reaches C or D with a higher delivery attempt. C and D
 * take their values in order. */
#include "scenario.h"

#define VALUES       3000
#define A_TAKES      300
#define A_ACKS       5
#define B_TAKES      200
#define B_ACKS       50
#define RUN_BOUND_MS 120000

static scenario_t scenario;

/* Starts a relpeer importer. extra lists the options after the common ones, NULL-terminated. */
static bool start_importer(rel_child_t *child, const char *name, const char *endpoint, int id,
                           const char *const *extra)
{
    char record[256];
    char id_text[16];
    scenario_path(&scenario, record, sizeof(record), "importer-%s.rec", name);
    snprintf(id_text, sizeof(id_text), "%d", id);
    char *argv[32] = {(char *)scenario.relpeer,
                      "import-recv",
                      "--connect",
                      (char *)endpoint,
                      "--id",
                      id_text,
                      "--record",
                      record};
    size_t argc = 8;
    for (size_t i = 0; extra[i] != NULL && argc < 31; i++) {
        argv[argc++] = (char *)extra[i];
    }
    argv[argc] = NULL;
    return rel_child_start(child, name, argv, false, NULL);
}

TEST(lost_importers_hand_values_on)
{
    char endpoint[256];
    char path[256];
    netchan_chan_t *out = NULL;
    netchan_exporter_t *exporter =
        scenario_exporter(endpoint, sizeof(endpoint), NETCHAN_SEND, 0, false, &out);
    REQUIRE(exporter != NULL);
    rel_record_t *sender_record =
        rel_record_open(scenario_path(&scenario, path, sizeof(path), "sender.rec"));
    REQUIRE(sender_record != NULL);
    rel_watch_t *watch = rel_watch_exporter(exporter, sender_record, false);

    /* A: takes 300, acknowledges 5, exits after their confirmation. */
    rel_child_t a;
    const char *a_options[] = {"--explicit", "--capacity", "300",    "--take", "300",
                               "--ack",      "5",          "--then", "exit",   NULL};
    REQUIRE(start_importer(&a, "A", endpoint, 1, a_options));
    REQUIRE(rel_child_wait_line(&a, "ready", SCENARIO_STEP_MS, NULL, 0));

    static scenario_sender_t sender;
    rel_sender_config_t sender_config = {
        .id = 1, .count = VALUES, .size = 100, .drain_timeout_ms = RUN_BOUND_MS};
    REQUIRE(scenario_sender_start(&sender, out, sender_record, &sender_config));

    char line[256];
    CHECK(rel_child_wait_line(&a, "taken 300 acked 5", SCENARIO_STEP_MS, line, sizeof(line)));
    CHECK(rel_child_wait_line(&a, "exiting confirmed", SCENARIO_STEP_MS, line, sizeof(line)));
    CHECK(scenario_exited_ok(&a, SCENARIO_STEP_MS));
    CHECK(WAIT_UNTIL(rel_watch_count(watch, NETCHAN_EVENT_LOST) >= 1, SCENARIO_STEP_MS));

    /* B: takes 200, acknowledges 50, keeps the rest until it is killed. */
    rel_child_t b;
    const char *b_options[] = {"--explicit", "--capacity", "200",    "--take", "200",
                               "--ack",      "50",         "--then", "hold",   NULL};
    REQUIRE(start_importer(&b, "B", endpoint, 2, b_options));
    CHECK(rel_child_wait_line(&b, "taken 200 acked 50", SCENARIO_STEP_MS, line, sizeof(line)));
    CHECK(rel_child_wait_line(&b, "holding confirmed", SCENARIO_STEP_MS, line, sizeof(line)));
    rel_child_signal(&b, SIGKILL);
    int status = 0;
    CHECK(rel_child_wait_exit(&b, SCENARIO_STEP_MS, &status));
    CHECK(WIFSIGNALED(status));
    CHECK_EQ_U64(WTERMSIG(status), SIGKILL);
    CHECK(WAIT_UNTIL(rel_watch_count(watch, NETCHAN_EVENT_LOST) >= 2, SCENARIO_STEP_MS));

    /* C and D share the rest. */
    rel_child_t c;
    rel_child_t d;
    const char *cd_options[] = {"--capacity", "100", NULL};
    REQUIRE(start_importer(&c, "C", endpoint, 3, cd_options));
    REQUIRE(start_importer(&d, "D", endpoint, 4, cd_options));
    REQUIRE(scenario_join(sender.thread, &sender.finished, NULL, RUN_BOUND_MS, "the sender"));
    CHECK_ERR(sender.result, NETCHAN_OK);
    CHECK(scenario_exited_ok(&c, RUN_BOUND_MS));
    CHECK(scenario_exited_ok(&d, RUN_BOUND_MS));
    rel_record_sender_stats(sender_record, out, "exporter", false);
    printf("# exporter: %" PRIu64 " deliveries, %" PRIu64 " redelivered, %" PRIu64
           " taken back, %" PRIu64 " lost events\n",
           netchan_chan_stat(out, NETCHAN_STAT_DELIVERED),
           netchan_chan_stat(out, NETCHAN_STAT_REDELIVERED),
           netchan_chan_stat(out, NETCHAN_STAT_TAKEN_BACK),
           rel_watch_count(watch, NETCHAN_EVENT_LOST));

    rel_watch_stop(&watch);
    netchan_exporter_destroy(&exporter);
    rel_record_close(&sender_record);
    rel_child_cleanup(&a);
    rel_child_cleanup(&b);
    rel_child_cleanup(&c);
    rel_child_cleanup(&d);

    oracle_t *oracle = oracle_load(scenario.dir);
    REQUIRE(oracle != NULL);
    oracle_rules_t rules = {
        .senders = 1,
        .strict_order = true,
        .lost_receivers_may_repeat = true,
        .require_drained = true,
    };
    oracle_result_t result;
    CHECK(oracle_check(oracle, &rules, &result));
    CHECK_EQ_U64(result.sent, VALUES);
    /* A held 295 and B 150 values without acknowledging them; each comes back once more. */
    CHECK_EQ_U64(result.repeats, (A_TAKES - A_ACKS) + (B_TAKES - B_ACKS));
    CHECK_EQ_U64(result.receivers_lost, 2);
    oracle_free(&oracle);
}

int main(int argc, char **argv)
{
    if (!scenario_begin(&scenario, argc, argv)) {
        return 1;
    }
    RUN(lost_importers_hand_values_on);
    scenario_end(&scenario);
    return harness_done();
}
