/* Scenario: an exporter process killed and started again on the same port while importers keep
 * sending on an exported receiving channel.
 *
 * The exporter is a relpeer process (explicit acknowledgement, each value recorded before it is
 * acknowledged). IMPORTERS importers in this process each send VALUES values at RATE values/s.
 * Once the exporter has taken KILL_AT values, the test kills it with SIGKILL, waits DOWN_MS and
 * starts a new exporter process bound to the same port.
 *
 * Checked: each importer reports the restart (a CONNECTED event with reason "restart"), and every
 * importer's drain returns ok. The oracle finds every value taken by one of the two exporters,
 * in order at each. A value taken by the killed exporter may reach the new one again only with
 * a higher delivery attempt, the documented duplicate case of an exporter restart. Values
 * pending at the restart are taken within RECOVERY_BOUND_MS of it. */
#include "scenario.h"

#define IMPORTERS         3
#define VALUES            20000
#define RATE              2000
#define KILL_AT           15000
#define DOWN_MS           2000
#define RECOVERY_BOUND_MS 20000

static scenario_t scenario;

/* Starts exporter generation (1 or 2) bound to bind_to. */
static bool start_exporter(rel_child_t *child, int generation, const char *bind_to)
{
    char name[32];
    char id[16];
    char record[256];
    snprintf(name, sizeof(name), "exporter %d", generation);
    snprintf(id, sizeof(id), "%d", generation);
    scenario_path(&scenario, record, sizeof(record), "exporter-%d.rec", generation);
    char *argv[] = {(char *)scenario.relpeer,
                    "export-recv",
                    "--bind",
                    (char *)bind_to,
                    "--id",
                    id,
                    "--progress",
                    "1000",
                    "--record",
                    record,
                    NULL};
    return rel_child_start(child, name, argv, true, NULL);
}

/* Waits until the exporter prints that it has taken at least count values. */
static bool wait_taken(rel_child_t *exporter, uint64_t count, int timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    char line[128];
    while (harness_now_ms() < deadline) {
        if (!rel_child_wait_line(exporter, "taken ", (int)(deadline - harness_now_ms()), line,
                                 sizeof(line))) {
            return false;
        }
        if (strtoull(line + strlen("taken "), NULL, 10) >= count) {
            return true;
        }
    }
    return false;
}

TEST(importers_survive_exporter_restart)
{
    rel_child_t first;
    char line[256];
    char endpoint[256] = "";
    REQUIRE(start_exporter(&first, 1, "tcp://127.0.0.1:*"));
    if (rel_child_wait_line(&first, "endpoint ", SCENARIO_STEP_MS, line, sizeof(line))) {
        snprintf(endpoint, sizeof(endpoint), "%s", line + strlen("endpoint "));
    }
    REQUIRE(endpoint[0] != '\0');

    static netchan_importer_t *importers[IMPORTERS];
    static netchan_chan_t *chans[IMPORTERS];
    static rel_record_t *records[IMPORTERS];
    static rel_watch_t *watches[IMPORTERS];
    static scenario_sender_t senders[IMPORTERS];
    for (int i = 0; i < IMPORTERS; i++) {
        char path[256];
        importers[i] = scenario_importer(endpoint, NETCHAN_SEND, VALUES, false, &chans[i]);
        REQUIRE(importers[i] != NULL);
        records[i] =
            rel_record_open(scenario_path(&scenario, path, sizeof(path), "importer-%d.rec", i + 1));
        REQUIRE(records[i] != NULL);
        watches[i] = rel_watch_importer(importers[i], records[i], false);
        rel_sender_config_t config = {.id = (uint32_t)i + 1,
                                      .count = VALUES,
                                      .size = 128,
                                      .rate = RATE,
                                      .drain_timeout_ms = 120000};
        REQUIRE(scenario_sender_start(&senders[i], chans[i], records[i], &config));
    }

    CHECK(wait_taken(&first, KILL_AT, SCENARIO_STEP_MS));
    scenario_fault(&scenario, "exporter killed");
    rel_child_signal(&first, SIGKILL);
    int status = 0;
    CHECK(rel_child_wait_exit(&first, SCENARIO_STEP_MS, &status));
    CHECK(WIFSIGNALED(status));
    struct timespec down = {DOWN_MS / 1000, (DOWN_MS % 1000) * 1000000L};
    nanosleep(&down, NULL); /* how long the exporter stays away */

    rel_child_t second;
    REQUIRE(start_exporter(&second, 2, endpoint));
    CHECK(rel_child_wait_line(&second, "ready", SCENARIO_STEP_MS, line, sizeof(line)));
    scenario_heal(&scenario);

    for (int i = 0; i < IMPORTERS; i++) {
        REQUIRE(scenario_join(senders[i].thread, &senders[i].finished, NULL, 120000, "a sender"));
        CHECK_ERR(senders[i].result, NETCHAN_OK);
        printf("# importer %d: %" PRIu64 " redelivered, %" PRIu64 " taken back, %" PRIu64
               " restarts seen\n",
               i + 1, netchan_chan_stat(chans[i], NETCHAN_STAT_REDELIVERED),
               netchan_chan_stat(chans[i], NETCHAN_STAT_TAKEN_BACK),
               rel_watch_count(watches[i], NETCHAN_EVENT_CONNECTED) - 1);
    }

    /* Every importer drained, so the new exporter has taken everything: let it finish. */
    close(second.in_fd);
    second.in_fd = -1;
    CHECK(scenario_exited_ok(&second, SCENARIO_STEP_MS));
    for (int i = 0; i < IMPORTERS; i++) {
        rel_watch_stop(&watches[i]);
        netchan_importer_destroy(&importers[i]);
        rel_record_close(&records[i]);
    }
    rel_child_cleanup(&first);
    rel_child_cleanup(&second);

    oracle_t *oracle = oracle_load(scenario.dir);
    REQUIRE(oracle != NULL);
    oracle_rules_t rules = {
        .senders = IMPORTERS,
        .strict_order = true,
        .lost_receivers_may_repeat = true,
        .require_drained = true,
        .recovery_bound_ms = RECOVERY_BOUND_MS,
    };
    oracle_result_t result;
    CHECK(oracle_check(oracle, &rules, &result));
    CHECK_EQ_U64(result.sent, (uint64_t)IMPORTERS * VALUES);
    uint64_t restarts =
        oracle_count_events(oracle, "importer", "connected", "restart", 0, INT64_MAX);
    printf("# importers that saw the restart: %" PRIu64 "\n", restarts);
    CHECK_EQ_U64(restarts, IMPORTERS);
    oracle_free(&oracle);
}

int main(int argc, char **argv)
{
    if (!scenario_begin(&scenario, argc, argv)) {
        return 1;
    }
    RUN(importers_survive_exporter_restart);
    scenario_end(&scenario);
    return harness_done();
}
