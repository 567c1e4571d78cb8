/* Soak: 1,000,000 values through one exporter process while SLOTS importer processes connect,
 * disconnect and are killed at random, for about two minutes.
 *
 * The exporter (relpeer export-send) sends VALUES values of 64 bytes at RATE values/s with
 * capacity 4096, closes the channel and drains. Each of the SLOTS slots runs importer processes
 * (relpeer import-recv, explicit acknowledgement, a random capacity from 16 to 256) one after
 * another, each ending in one of three ways chosen at random:
 *   - graceful (40%): takes 100 to 5000 values, closes its channel and ends its session;
 *   - abrupt (20%): takes 100 to 5000 values and exits at once, without ending its session;
 *   - killed (40%): gets SIGKILL from the test 0.2 to 3 s after it started.
 * The next process of a slot starts 0 to 500 ms after the previous one ended. The random
 * choices come from a seed printed at the start (SOAK_SEED in the environment repeats a run).
 *
 * Checked: the exporter drains everything (lost = 0, by the oracle over every record),
 * duplicates only of values taken by importers that did not end cleanly, every graceful
 * importer exits 0, and the exporter's resident memory stays flat: the peak VmRSS of the second
 * half of the run is at most RSS_GROWTH_RATIO times the first half's peak plus RSS_SLACK_KIB.
 * Reported: values per second, redeliveries, duplicates, processes per ending, peak VmHWM. */
#include "scenario.h"

#define VALUES           1000000
#define RATE             10000
#define SLOTS            32
#define RUN_BOUND_MS     300000
#define TICK_MS          20
#define SAMPLE_MS        500
#define MAX_SAMPLES      2048
#define RSS_GROWTH_RATIO 1.25
#define RSS_SLACK_KIB    (8 * 1024)

typedef enum ending { GRACEFUL = 0, ABRUPT = 1, KILLED = 2 } ending_t;

typedef struct slot {
    rel_child_t child;
    bool running;
    ending_t ending;
    int64_t kill_at;
    int64_t next_start;
    uint32_t generation;
} slot_t;

static scenario_t scenario;
static uint64_t rng_state;

/* xorshift64*: a small generator whose sequence the printed seed repeats. */
static uint64_t next_random(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Returns a random integer in [low, high]. */
static int64_t random_between(int64_t low, int64_t high)
{
    return low + (int64_t)(next_random() % (uint64_t)(high - low + 1));
}

static bool start_importer(slot_t *slot, int index, const char *endpoint)
{
    char id[16];
    char capacity[16];
    char take[16];
    char record[256];
    char name[32];
    slot->generation++;
    snprintf(id, sizeof(id), "%d", (index + 1) * 100000 + (int)slot->generation);
    snprintf(capacity, sizeof(capacity), "%d", (int)random_between(16, 256));
    snprintf(take, sizeof(take), "%d", (int)random_between(100, 5000));
    scenario_path(&scenario, record, sizeof(record), "importer-%s.rec", id);
    snprintf(name, sizeof(name), "importer %s", id);

    int64_t draw = random_between(0, 99);
    if (draw < 40) {
        slot->ending = GRACEFUL;
    } else if (draw < 60) {
        slot->ending = ABRUPT;
    } else {
        slot->ending = KILLED;
    }
    char *argv[32] = {(char *)scenario.relpeer,
                      "import-recv",
                      "--connect",
                      (char *)endpoint,
                      "--id",
                      id,
                      "--capacity",
                      capacity,
                      "--explicit",
                      "--record",
                      record};
    size_t argc = 11;
    if (slot->ending != KILLED) {
        argv[argc++] = "--take";
        argv[argc++] = take;
        argv[argc++] = "--then";
        argv[argc++] = slot->ending == GRACEFUL ? "close" : "abort";
    }
    argv[argc] = NULL;
    slot->kill_at = slot->ending == KILLED ? harness_now_ms() + random_between(200, 3000) : 0;
    slot->running = rel_child_start(&slot->child, name, argv, false, "/dev/null");
    return slot->running;
}

TEST(soak_with_importer_churn)
{
    const char *seed_text = getenv("SOAK_SEED");
    rng_state = seed_text != NULL ? strtoull(seed_text, NULL, 10) : (uint64_t)time(NULL);
    rng_state = rng_state != 0 ? rng_state : 1;
    printf("# seed %" PRIu64 " (set SOAK_SEED to repeat it)\n", rng_state);

    char count[16];
    char rate[16];
    char record[256];
    snprintf(count, sizeof(count), "%d", VALUES);
    snprintf(rate, sizeof(rate), "%d", RATE);
    scenario_path(&scenario, record, sizeof(record), "exporter.rec");
    char *exporter_argv[] = {(char *)scenario.relpeer,
                             "export-send",
                             "--bind",
                             "tcp://127.0.0.1:*",
                             "--id",
                             "1",
                             "--count",
                             count,
                             "--rate",
                             rate,
                             "--capacity",
                             "4096",
                             "--drain-timeout",
                             "120000",
                             "--record",
                             record,
                             NULL};
    rel_child_t exporter;
    REQUIRE(rel_child_start(&exporter, "exporter", exporter_argv, false, NULL));
    char line[512];
    char endpoint[512] = "";
    if (rel_child_wait_line(&exporter, "endpoint ", SCENARIO_STEP_MS, line, sizeof(line))) {
        snprintf(endpoint, sizeof(endpoint), "%s", line + strlen("endpoint "));
    }
    REQUIRE(endpoint[0] != '\0');

    static slot_t slots[SLOTS];
    static uint64_t rss_kib[MAX_SAMPLES];
    size_t samples = 0;
    uint64_t started[3] = {0};
    uint64_t graceful_failures = 0;
    uint64_t hwm_kib = 0;
    int64_t start = harness_now_ms();
    int64_t next_sample = start;
    bool exporter_done = false;

    while (!exporter_done && harness_now_ms() - start < RUN_BOUND_MS) {
        int64_t now = harness_now_ms();
        for (int i = 0; i < SLOTS; i++) {
            slot_t *slot = &slots[i];
            if (slot->running && slot->kill_at > 0 && now >= slot->kill_at) {
                rel_child_signal(&slot->child, SIGKILL);
                slot->kill_at = 0;
            }
            if (slot->running && rel_child_exited(&slot->child)) {
                int status = slot->child.status;
                if (slot->ending == GRACEFUL && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                    graceful_failures++;
                    printf("# %s (graceful) ended with status %d\n", slot->child.name, status);
                }
                rel_child_cleanup(&slot->child);
                slot->running = false;
                slot->next_start = now + random_between(0, 500);
            }
            if (!slot->running && now >= slot->next_start) {
                CHECK(start_importer(slot, i, endpoint));
                started[slot->ending]++;
            }
        }
        if (now >= next_sample) {
            uint64_t rss = scenario_proc_kib(exporter.pid, "VmRSS:");
            uint64_t hwm = scenario_proc_kib(exporter.pid, "VmHWM:");
            hwm_kib = hwm > hwm_kib ? hwm : hwm_kib;
            if (rss > 0 && samples < MAX_SAMPLES) {
                rss_kib[samples++] = rss;
            }
            next_sample += SAMPLE_MS;
        }
        rel_child_read(&exporter, 0);
        exporter_done = rel_child_exited(&exporter);
        struct timespec tick = {0, TICK_MS * 1000000L};
        nanosleep(&tick, NULL); /* the controller's polling interval */
    }
    int64_t elapsed = harness_now_ms() - start;
    CHECK(exporter_done);
    CHECK(scenario_exited_ok(&exporter, SCENARIO_STEP_MS));
    CHECK(rel_child_wait_line(&exporter, "drained ok", 0, line, sizeof(line)));
    char stats[512] = "";
    if (rel_child_wait_line(&exporter, "stats ", 0, line, sizeof(line))) {
        snprintf(stats, sizeof(stats), "%s", line);
    }
    for (int i = 0; i < SLOTS; i++) {
        rel_child_cleanup(&slots[i].child); /* importers that started after the end */
    }

    /* Memory: the peak of each half of the samples. */
    uint64_t first_peak = 0;
    uint64_t second_peak = 0;
    for (size_t i = 0; i < samples; i++) {
        uint64_t *peak = i < samples / 2 ? &first_peak : &second_peak;
        *peak = rss_kib[i] > *peak ? rss_kib[i] : *peak;
    }
    printf("# %d values in %" PRId64 " ms: %.0f values/s\n", VALUES, elapsed,
           VALUES * 1000.0 / (double)elapsed);
    printf("# importer processes: %" PRIu64 " graceful, %" PRIu64 " abrupt, %" PRIu64
           " killed; %" PRIu64 " graceful ones failed\n",
           started[GRACEFUL], started[ABRUPT], started[KILLED], graceful_failures);
    printf("# exporter %s\n", stats);
    printf("# exporter memory: VmRSS peak %" PRIu64 " KiB in the first half, %" PRIu64
           " KiB in the second (%zu samples); VmHWM %" PRIu64 " KiB\n",
           first_peak, second_peak, samples, hwm_kib);
    CHECK_EQ_U64(graceful_failures, 0);
    CHECK(samples >= 4);
    CHECK((double)second_peak <= (double)first_peak * RSS_GROWTH_RATIO + RSS_SLACK_KIB);
    rel_child_cleanup(&exporter);

    oracle_t *oracle = oracle_load(scenario.dir);
    REQUIRE(oracle != NULL);
    oracle_rules_t rules = {
        .senders = 1, .lost_receivers_may_repeat = true, .require_drained = true};
    oracle_result_t result;
    CHECK(oracle_check(oracle, &rules, &result));
    CHECK_EQ_U64(result.sent, VALUES);
    CHECK_EQ_U64(result.missing, 0);
    printf("# lost %" PRIu64 ", redelivered %" PRIu64 " takes, duplicates %" PRIu64
           " (values taken again after an importer that did not end cleanly took them)\n",
           result.missing, result.redelivered_takes, result.repeats);
    oracle_free(&oracle);
}

int main(int argc, char **argv)
{
    if (!scenario_begin(&scenario, argc, argv)) {
        return 1;
    }
    RUN(soak_with_importer_churn);
    scenario_end(&scenario);
    return harness_done();
}
