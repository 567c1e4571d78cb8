/* Helpers shared by the reliability scenario programs: a private directory for the run's record
 * files, paths in it, the helper programs' paths and the controller's own record.
 *
 * Each scenario program takes the path of relpeer as its first argument and, where it uses the
 * CLI, the path of the netchan tool as its second. It prints TAP through harness.h. */
#ifndef NETCHAN_REL_SCENARIO_H
#define NETCHAN_REL_SCENARIO_H

#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultproxy.h"
#include "netchan.h"
#include "oracle.h"
#include "peers.h"
#include "procs.h"
#include "records.h"

typedef struct scenario {
    char dir[128];
    const char *relpeer;
    const char *cli;
    rel_record_t *control; /* the controller's record: fault and heal lines */
    int64_t started;
} scenario_t;

/* Installs the library's log as TAP comments when NETCHAN_TEST_LOG is a level from 1 to 4. */
static void scenario_log_to_tap(netchan_log_level level, const char *message, void *user)
{
    (void)user;
    printf("# %" PRId64 " %s: %s\n", harness_now_ms() % 1000000, netchan_log_level_name(level),
           message);
}

/* Sets up a run: parses argv, makes the record directory. Returns false on failure. */
static inline bool scenario_begin(scenario_t *scenario, int argc, char **argv)
{
    memset(scenario, 0, sizeof(*scenario));
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    const char *level = getenv("NETCHAN_TEST_LOG");
    if (level != NULL && atoi(level) > 0) {
        netchan_set_log_handler(scenario_log_to_tap, (netchan_log_level)atoi(level), NULL);
    }
    scenario->relpeer = argc > 1 ? argv[1] : NULL;
    scenario->cli = argc > 2 ? argv[2] : NULL;
    snprintf(scenario->dir, sizeof(scenario->dir), "/tmp/netchan-rel-XXXXXX");
    if (mkdtemp(scenario->dir) == NULL) {
        printf("# cannot make a record directory: %s\n", strerror(errno));
        return false;
    }
    char path[256];
    snprintf(path, sizeof(path), "%s/control.rec", scenario->dir);
    scenario->control = rel_record_open(path);
    scenario->started = harness_now_ms();
    printf("# records in %s\n", scenario->dir);
    return scenario->control != NULL;
}

/* Writes the path of a file in the run's directory into buffer. */
static inline const char *scenario_path(const scenario_t *scenario, char *buffer, size_t size,
                                        const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static inline const char *scenario_path(const scenario_t *scenario, char *buffer, size_t size,
                                        const char *format, ...)
{
    char name[128];
    va_list args;
    va_start(args, format);
    vsnprintf(name, sizeof(name), format, args);
    va_end(args);
    snprintf(buffer, size, "%s/%s", scenario->dir, name);
    return buffer;
}

static inline void scenario_fault(scenario_t *scenario, const char *name)
{
    printf("# %" PRId64 " ms: fault %s\n", harness_now_ms() - scenario->started, name);
    rel_record_line(scenario->control, "fault %s %" PRId64, name, rel_now_ms());
    rel_record_flush(scenario->control);
}

static inline void scenario_heal(scenario_t *scenario)
{
    printf("# %" PRId64 " ms: heal\n", harness_now_ms() - scenario->started);
    rel_record_line(scenario->control, "heal %" PRId64, rel_now_ms());
    rel_record_flush(scenario->control);
}

/* Removes the record directory unless the run failed, where it stays for a look. */
static inline void scenario_end(scenario_t *scenario)
{
    rel_record_close(&scenario->control);
    if (harness_failed_tests > 0 || getenv("NETCHAN_REL_KEEP") != NULL) {
        printf("# records kept in %s\n", scenario->dir);
        return;
    }
    DIR *dir = opendir(scenario->dir);
    if (dir != NULL) {
        struct dirent *entry;
        char path[512];
        while ((entry = readdir(dir)) != NULL) {
            if (entry->d_name[0] != '.') {
                snprintf(path, sizeof(path), "%s/%s", scenario->dir, entry->d_name);
                unlink(path);
            }
        }
        closedir(dir);
    }
    rmdir(scenario->dir);
}

/* Returns the VmRSS or VmHWM field ("VmRSS:") of a process in KiB, or 0. */
static inline uint64_t scenario_proc_kib(pid_t pid, const char *field)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return 0;
    }
    char line[256];
    uint64_t kib = 0;
    size_t length = strlen(field);
    while (fgets(line, sizeof(line), file) != NULL) {
        if (strncmp(line, field, length) == 0) {
            kib = strtoull(line + length, NULL, 10);
            break;
        }
    }
    fclose(file);
    return kib;
}

/* ---- exporters, importers and their loops on threads ---- */

/* Bound for imports and for the scenario's own waits on a healthy connection. */
#define SCENARIO_STEP_MS 30000

static inline netchan_options_t *scenario_options(uint32_t capacity, bool explicit_ack)
{
    netchan_options_t *options = netchan_options_new();
    if (options != NULL && capacity > 0) {
        (void)netchan_options_set_capacity(options, capacity);
    }
    if (options != NULL) {
        (void)netchan_options_set_explicit_ack(options, explicit_ack);
    }
    return options;
}

/* Creates an exporter on tcp://127.0.0.1 with a system-picked port, exporting the bytes channel
 * "values" in direction. Prints the reason and returns NULL on failure. */
static inline netchan_exporter_t *scenario_exporter(char *endpoint, size_t size, netchan_dir dir,
                                                    uint32_t capacity, bool explicit_ack,
                                                    netchan_chan_t **chan_p)
{
    netchan_exporter_t *exporter = NULL;
    netchan_options_t *options = scenario_options(capacity, explicit_ack);
    if (netchan_exporter_new(&exporter) != NETCHAN_OK || options == NULL ||
        netchan_exporter_bind(exporter, "tcp://127.0.0.1:*") != NETCHAN_OK ||
        netchan_exporter_endpoint(exporter, endpoint, size) != NETCHAN_OK ||
        netchan_export_bytes(exporter, "values", dir, NULL, NULL, options, chan_p) != NETCHAN_OK) {
        printf("# cannot start the exporter: %s\n", netchan_exporter_error(exporter));
        netchan_exporter_destroy(&exporter);
    }
    netchan_options_destroy(&options);
    return exporter;
}

/* Creates an importer connected to endpoint with the channel "values" imported in direction.
 * Prints the reason and returns NULL on failure. */
static inline netchan_importer_t *scenario_importer(const char *endpoint, netchan_dir dir,
                                                    uint32_t capacity, bool explicit_ack,
                                                    netchan_chan_t **chan_p)
{
    netchan_importer_t *importer = NULL;
    netchan_options_t *options = scenario_options(capacity, explicit_ack);
    if (netchan_importer_new(&importer) != NETCHAN_OK || options == NULL ||
        netchan_importer_connect(importer, endpoint) != NETCHAN_OK ||
        netchan_import_bytes(importer, "values", dir, NULL, NULL, options, SCENARIO_STEP_MS,
                             chan_p) != NETCHAN_OK) {
        printf("# cannot import from %s: %s\n", endpoint, netchan_importer_error(importer));
        netchan_importer_destroy(&importer);
    }
    netchan_options_destroy(&options);
    return importer;
}

/* A sender loop on a thread. */
typedef struct scenario_sender {
    pthread_t thread;
    netchan_chan_t *chan;
    rel_record_t *record;
    rel_sender_config_t config;
    _Atomic uint64_t progress;
    atomic_bool finished;
    netchan_err result;
} scenario_sender_t;

static void *scenario_sender_thread(void *arg)
{
    scenario_sender_t *sender = arg;
    sender->result = rel_run_sender(sender->chan, sender->record, &sender->config);
    atomic_store(&sender->finished, true);
    return NULL;
}

static inline bool scenario_sender_start(scenario_sender_t *sender, netchan_chan_t *chan,
                                         rel_record_t *record, const rel_sender_config_t *config)
{
    sender->chan = chan;
    sender->record = record;
    sender->config = *config;
    sender->config.progress = &sender->progress;
    atomic_store(&sender->progress, 0);
    atomic_store(&sender->finished, false);
    return pthread_create(&sender->thread, NULL, scenario_sender_thread, sender) == 0;
}

/* A receiver loop on a thread. */
typedef struct scenario_receiver {
    pthread_t thread;
    netchan_chan_t *chan;
    rel_record_t *record;
    rel_receiver_config_t config;
    _Atomic uint64_t progress;
    atomic_bool finished;
    atomic_bool stop;
    bool past_end; /* an exported channel with many senders: go on after end of stream */
    rel_recv_end_t end;
    uint64_t taken;
    uint64_t acked;
} scenario_receiver_t;

static void *scenario_receiver_thread(void *arg)
{
    scenario_receiver_t *receiver = arg;
    for (;;) {
        uint64_t taken = 0;
        uint64_t acked = 0;
        receiver->end =
            rel_run_receiver(receiver->chan, receiver->record, &receiver->config, &taken, &acked);
        receiver->taken += taken;
        receiver->acked += acked;
        if (receiver->end != REL_RECV_ENDED || !receiver->past_end ||
            atomic_load(&receiver->stop)) {
            break;
        }
        /* Every sender bound now has ended; look again once the next one may have bound. */
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    atomic_store(&receiver->finished, true);
    return NULL;
}

static inline bool scenario_receiver_start(scenario_receiver_t *receiver, netchan_chan_t *chan,
                                           rel_record_t *record,
                                           const rel_receiver_config_t *config)
{
    receiver->chan = chan;
    receiver->record = record;
    receiver->config = *config;
    receiver->config.progress = &receiver->progress;
    receiver->config.stop = &receiver->stop;
    atomic_store(&receiver->progress, 0);
    atomic_store(&receiver->finished, false);
    atomic_store(&receiver->stop, false);
    receiver->taken = 0;
    receiver->acked = 0;
    rel_receiver_begin(record, &receiver->config);
    return pthread_create(&receiver->thread, NULL, scenario_receiver_thread, receiver) == 0;
}

/* Waits up to timeout_ms for a loop's finished flag, then joins its thread. A loop that does
 * not finish is stopped (receivers) or left running (senders) and reported. Callers return at
 * once when this fails, because a thread may still be using the channel. */
static inline bool scenario_join(pthread_t thread, atomic_bool *finished, atomic_bool *stop,
                                 int timeout_ms, const char *what)
{
    if (!WAIT_UNTIL(atomic_load(finished), timeout_ms)) {
        printf("# %s did not finish within %d ms\n", what, timeout_ms);
        if (stop == NULL) {
            return false;
        }
        atomic_store(stop, true);
        if (!WAIT_UNTIL(atomic_load(finished), 5000)) {
            return false;
        }
    }
    pthread_join(thread, NULL);
    return atomic_load(finished);
}

/* Prints and checks a child's exit: it must have exited with status 0. */
static inline bool scenario_exited_ok(rel_child_t *child, int timeout_ms)
{
    int status = 0;
    if (!rel_child_wait_exit(child, timeout_ms, &status)) {
        printf("# %s did not exit within %d ms\n", child->name, timeout_ms);
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("# %s ended with %s %d\n", child->name, WIFEXITED(status) ? "status" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return false;
    }
    return true;
}

#endif
