/* Scenario: a sending process that sends and closes at once, RUNS times in a row.
 *
 * An exporter in this process exports a receiving channel. Each run starts one relpeer process
 * that imports a sending channel, sends 1 to 10 values (the count follows the run's number),
 * closes the channel at once, drains it and ends its session. Every FAULT_EVERY-th run goes
 * through the fault proxy instead, which switches to a fault mode as soon as the process prints
 * "ready", so that the values race the fault. The modes take turns (blackhole, reset, pause,
 * kill). Half of the fault runs heal after FAULT_MS. The other half heal only after the process
 * has exited, so that its drain (at most FAULT_DRAIN_MS) has to report what stayed unconfirmed.
 *
 * Checked: a run without a fault exits 0 (its drain returned ok). The oracle checks that every
 * value a run sent reached the exporter's application, except at most as many as that run's
 * drain reported still unconfirmed, each once and in order. */
#include "scenario.h"

#define RUNS           1000
#define FAULT_EVERY    50
#define FAULT_MS       200
#define FAULT_DRAIN_MS 2000
#define RUN_BOUND_MS   30000

static const faultproxy_mode_t FAULT_MODES[] = {FAULTPROXY_BLACKHOLE, FAULTPROXY_RESET,
                                                FAULTPROXY_PAUSE, FAULTPROXY_KILL};

static scenario_t scenario;

/* Starts run i as a sending importer connected to endpoint. Only fault runs send their output
 * to the test, which waits for their "ready". */
static bool start_run(rel_child_t *child, int i, const char *endpoint, bool fault)
{
    int drain_timeout_ms = fault ? FAULT_DRAIN_MS : RUN_BOUND_MS;
    char name[32];
    char id[16];
    char count[16];
    char drain[16];
    char record[256];
    snprintf(name, sizeof(name), "run %d", i);
    snprintf(id, sizeof(id), "%d", i);
    snprintf(count, sizeof(count), "%d", 1 + (i + i / FAULT_EVERY) % 10);
    snprintf(drain, sizeof(drain), "%d", drain_timeout_ms);
    scenario_path(&scenario, record, sizeof(record), "run-%04d.rec", i);
    char *argv[] = {(char *)scenario.relpeer,
                    "import-send",
                    "--connect",
                    (char *)endpoint,
                    "--id",
                    id,
                    "--count",
                    count,
                    "--size",
                    "64",
                    "--drain-timeout",
                    drain,
                    "--record",
                    record,
                    NULL};
    return rel_child_start(child, name, argv, false, fault ? NULL : "/dev/null");
}

TEST(close_at_once_delivers_or_reports)
{
    char exporter_endpoint[256];
    char proxy_endpoint[256];
    char path[256];
    netchan_chan_t *in = NULL;
    netchan_exporter_t *exporter = scenario_exporter(exporter_endpoint, sizeof(exporter_endpoint),
                                                     NETCHAN_RECV, 0, false, &in);
    REQUIRE(exporter != NULL);
    faultproxy_t *proxy = faultproxy_start(exporter_endpoint);
    REQUIRE(proxy != NULL);
    faultproxy_endpoint(proxy, proxy_endpoint, sizeof(proxy_endpoint));
    rel_record_t *record =
        rel_record_open(scenario_path(&scenario, path, sizeof(path), "collector.rec"));
    REQUIRE(record != NULL);
    rel_watch_t *watch = rel_watch_exporter(exporter, record, false);

    static scenario_receiver_t receiver = {.past_end = true};
    rel_receiver_config_t receiver_config = {.id = 1};
    REQUIRE(scenario_receiver_start(&receiver, in, record, &receiver_config));

    int64_t start = harness_now_ms();
    int clean_failures = 0;
    int fault_runs = 0;
    int fault_reported = 0;
    int64_t slowest = 0;
    for (int i = 1; i <= RUNS; i++) {
        bool fault = i % FAULT_EVERY == 0;
        int turn = i / FAULT_EVERY;
        faultproxy_mode_t mode = FAULT_MODES[turn % 4];
        bool heal_late = turn % 8 >= 4;
        rel_child_t child;
        int64_t run_start = harness_now_ms();
        if (!start_run(&child, i, fault ? proxy_endpoint : exporter_endpoint, fault)) {
            CHECK(false);
            break;
        }
        if (fault) {
            fault_runs++;
            if (rel_child_wait_line(&child, "ready", RUN_BOUND_MS, NULL, 0)) {
                scenario_fault(&scenario, faultproxy_mode_name(mode));
                faultproxy_set_mode(proxy, mode);
                if (!heal_late) {
                    struct timespec hold = {0, FAULT_MS * 1000000L};
                    nanosleep(&hold, NULL); /* the fault's duration */
                    faultproxy_set_mode(proxy, FAULTPROXY_PASS);
                    scenario_heal(&scenario);
                }
            }
        }
        int status = 0;
        bool exited = rel_child_wait_exit(&child, RUN_BOUND_MS, &status);
        CHECK(exited);
        if (fault && heal_late) {
            faultproxy_set_mode(proxy, FAULTPROXY_PASS);
            scenario_heal(&scenario);
        }
        bool ok = exited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (fault) {
            char line[128];
            fault_reported += !ok;
            if (!ok && rel_child_wait_line(&child, "drained ", 0, line, sizeof(line))) {
                printf("# run %d (%s, healed %s): %s\n", i, faultproxy_mode_name(mode),
                       heal_late ? "after it exited" : "at once", line);
            }
        } else if (!ok) {
            clean_failures++;
            printf("# run %d without a fault failed\n", i);
        }
        int64_t took = harness_now_ms() - run_start;
        slowest = took > slowest ? took : slowest;
        rel_child_cleanup(&child);
        if (!exited) {
            break;
        }
    }
    int64_t elapsed = harness_now_ms() - start;
    CHECK_EQ_U64(clean_failures, 0);
    printf("# %d runs in %" PRId64 " ms (%.1f ms per run, slowest %" PRId64 " ms); %d of %d "
           "fault runs reported values unconfirmed\n",
           RUNS, elapsed, (double)elapsed / RUNS, slowest, fault_reported, fault_runs);

    /* Every run has ended, so everything that will arrive has arrived. */
    atomic_store(&receiver.stop, true);
    REQUIRE(scenario_join(receiver.thread, &receiver.finished, NULL, SCENARIO_STEP_MS,
                          "the collector"));
    rel_record_line(record, "done 1");
    printf("# the collector took %" PRIu64 " values; %" PRIu64 " duplicates dropped\n",
           receiver.taken, netchan_chan_stat(in, NETCHAN_STAT_DUPLICATES));
    rel_watch_stop(&watch);
    netchan_exporter_destroy(&exporter);
    faultproxy_stop(&proxy);
    rel_record_close(&record);

    oracle_t *oracle = oracle_load(scenario.dir);
    REQUIRE(oracle != NULL);
    oracle_rules_t rules = {.senders = RUNS, .strict_order = true};
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
    RUN(close_at_once_delivers_or_reports);
    scenario_end(&scenario);
    return harness_done();
}
