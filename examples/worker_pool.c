/* A microservice worker pool on netchan.
 *
 * One dispatcher process exports two channels: "jobs", which it sends on, and "results", which
 * it receives on. Worker processes import both. Several workers compete for the jobs channel, so
 * each job goes to one of them, and their results merge into the results channel. While the
 * pool runs, the dispatcher kills workers with SIGKILL and starts new ones. No job is lost, and
 * the dispatcher prints the connection events and statistics it saw.
 *
 * Run: worker_pool [--jobs N] [--workers N] [--kills N]
 * The dispatcher starts its workers itself by running this program again with --worker.
 *
 * The worker's loop shows the pattern for at-least-once processing without losing work to a
 * crash: it takes jobs with explicit acknowledgement, sends their results, waits until the
 * dispatcher has acknowledged the results, and only then acknowledges the jobs. A worker killed
 * anywhere in that loop leaves its unacknowledged jobs to another worker. The price is that a
 * job whose result was delivered just before the kill can be answered twice; the dispatcher
 * keeps the first answer and counts the repeats. */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netchan.h>

#include "pool.pb-c.h"

#define MAX_WORKERS    64
#define JOBS_PER_BATCH 16

extern char **environ;

static uint64_t sum_of_squares(uint64_t n)
{
    return n * (n + 1) * (2 * n + 1) / 6;
}

/* ---- the worker ---- */

/* Acknowledges every job of a batch, once the batch's results are acknowledged. */
static void ack_batch(netchan_msg_t **batch, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        netchan_msg_ack(batch[i]);
        netchan_msg_destroy(&batch[i]);
    }
}

static int run_worker(const char *endpoint)
{
    netchan_importer_t *importer = NULL;
    netchan_chan_t *jobs = NULL;
    netchan_chan_t *results = NULL;
    netchan_options_t *explicit_ack = netchan_options_new();
    netchan_options_set_explicit_ack(explicit_ack, true);
    netchan_options_set_capacity(explicit_ack, JOBS_PER_BATCH);

    if (netchan_importer_new(&importer) != NETCHAN_OK ||
        netchan_importer_connect(importer, endpoint) != NETCHAN_OK ||
        netchan_import(importer, "jobs", NETCHAN_RECV, &pool__job__descriptor, explicit_ack, 10000,
                       &jobs) != NETCHAN_OK ||
        netchan_import(importer, "results", NETCHAN_SEND, &pool__result__descriptor, NULL, 10000,
                       &results) != NETCHAN_OK) {
        fprintf(stderr, "worker %d: cannot join the pool at %s: %s\n", (int)getpid(), endpoint,
                importer != NULL ? netchan_importer_error(importer) : "out of memory");
        netchan_options_destroy(&explicit_ack);
        netchan_importer_destroy(&importer);
        return 1;
    }
    netchan_options_destroy(&explicit_ack);

    netchan_msg_t *batch[JOBS_PER_BATCH];
    size_t count = 0;
    int status = 0;
    for (;;) {
        netchan_msg_t *msg = NULL;
        /* Wait briefly only while a batch is open, so a half-full batch is not held back. */
        netchan_err err = netchan_recv_msg(jobs, count > 0 ? 10 : 1000, &msg);
        if (err == NETCHAN_OK) {
            ProtobufCMessage *unpacked = NULL;
            if (netchan_msg_unpack(msg, &unpacked) != NETCHAN_OK) {
                netchan_msg_release(msg); /* the bind checked the type: a corrupt value */
                netchan_msg_destroy(&msg);
                continue;
            }
            Pool__Job *job = (Pool__Job *)unpacked;
            Pool__Result result = POOL__RESULT__INIT;
            result.job_id = job->id;
            result.output = sum_of_squares(job->input);
            result.worker_pid = (int32_t)getpid();
            result.attempts = netchan_msg_attempts(msg);
            protobuf_c_message_free_unpacked(unpacked, NULL);
            if (netchan_send(results, &result.base, NETCHAN_FOREVER) != NETCHAN_OK) {
                fprintf(stderr, "worker %d: cannot send a result: %s\n", (int)getpid(),
                        netchan_chan_error(results));
                netchan_msg_destroy(&msg);
                status = 1;
                break;
            }
            batch[count++] = msg;
        }
        bool ended = err == NETCHAN_ECLOSED;
        bool idle = err == NETCHAN_ETIMEDOUT || err == NETCHAN_EAGAIN;
        if (count == JOBS_PER_BATCH || ((ended || idle) && count > 0)) {
            if (netchan_drain(results, 10000, NULL) != NETCHAN_OK) {
                fprintf(stderr, "worker %d: results not acknowledged: %s\n", (int)getpid(),
                        netchan_chan_error(results));
                status = 1;
                break;
            }
            ack_batch(batch, count);
            count = 0;
        }
        if (ended) {
            break;
        }
        if (err != NETCHAN_OK && !idle) {
            fprintf(stderr, "worker %d: receiving jobs failed: %s\n", (int)getpid(),
                    netchan_chan_error(jobs));
            status = 1;
            break;
        }
    }
    for (size_t i = 0; i < count; i++) {
        netchan_msg_destroy(&batch[i]); /* unacknowledged: the dispatcher takes them back */
    }
    netchan_close(jobs);
    netchan_drain(jobs, 2000, NULL);
    netchan_importer_destroy(&importer);
    return status;
}

/* ---- the dispatcher ---- */

typedef struct pool {
    const char *program;
    char endpoint[256];
    pid_t workers[MAX_WORKERS];
    int worker_count;
    int started;
    int killed;
} pool_t;

static pid_t start_worker(pool_t *pool)
{
    char *argv[] = {(char *)pool->program, "--worker", pool->endpoint, NULL};
    pid_t pid = 0;
    int rc = posix_spawn(&pid, pool->program, NULL, NULL, argv, environ);
    if (rc != 0) {
        fprintf(stderr, "dispatcher: cannot start a worker from %s: %s\n", pool->program,
                strerror(rc));
        return -1;
    }
    pool->started++;
    return pid;
}

static void kill_and_replace(pool_t *pool, unsigned *seed)
{
    int index = (int)(rand_r(seed) % (unsigned)pool->worker_count);
    kill(pool->workers[index], SIGKILL);
    waitpid(pool->workers[index], NULL, 0);
    pool->killed++;
    printf("dispatcher: killed worker %d\n", (int)pool->workers[index]);
    pool->workers[index] = start_worker(pool);
}

typedef struct event_counts {
    uint64_t by_type[8];
    uint64_t taken_back;
} event_counts_t;

/* Prints and counts the exporter's connection events, waiting up to timeout_ms for the first. */
static void report_events(netchan_exporter_t *exporter, event_counts_t *counts, int timeout_ms)
{
    netchan_event_t *event = NULL;
    while (netchan_exporter_next_event(exporter, timeout_ms, &event) == NETCHAN_OK) {
        timeout_ms = NETCHAN_NOWAIT;
        netchan_event_type type = netchan_event_type_of(event);
        if (type < 8) {
            counts->by_type[type]++;
        }
        if (type == NETCHAN_EVENT_LOST) {
            counts->taken_back += netchan_event_count(event);
            printf("event: importer %.8s lost (%s), %llu job(s) taken back\n",
                   netchan_event_peer(event),
                   netchan_event_reason_name(netchan_event_reason_of(event)),
                   (unsigned long long)netchan_event_count(event));
        } else {
            printf("event: importer %.8s %s\n", netchan_event_peer(event),
                   netchan_event_type_name(type));
        }
        netchan_event_destroy(&event);
    }
}

typedef struct sender_args {
    netchan_chan_t *jobs;
    uint64_t count;
    int status;
} sender_args_t;

/* Sends every job, then closes the channel; runs on its own thread so that a full jobs channel
 * never stops the dispatcher from collecting results. */
static void *send_jobs(void *arg)
{
    sender_args_t *args = arg;
    for (uint64_t id = 1; id <= args->count; id++) {
        Pool__Job job = POOL__JOB__INIT;
        job.id = id;
        job.input = id % 1000;
        if (netchan_send(args->jobs, &job.base, NETCHAN_FOREVER) != NETCHAN_OK) {
            fprintf(stderr, "dispatcher: cannot send job %llu: %s\n", (unsigned long long)id,
                    netchan_chan_error(args->jobs));
            args->status = 1;
            break;
        }
    }
    netchan_close(args->jobs);
    return NULL;
}

static int run_dispatcher(const char *program, uint64_t job_count, int worker_count, int kills)
{
    pool_t pool = {.program = program, .worker_count = worker_count};
    netchan_exporter_t *exporter = NULL;
    netchan_chan_t *jobs = NULL;
    netchan_chan_t *results = NULL;
    netchan_options_t *options = netchan_options_new();
    netchan_options_set_capacity(options, 64);

    if (netchan_exporter_new(&exporter) != NETCHAN_OK ||
        netchan_exporter_bind(exporter, "tcp://127.0.0.1:*") != NETCHAN_OK ||
        netchan_exporter_endpoint(exporter, pool.endpoint, sizeof(pool.endpoint)) != NETCHAN_OK ||
        netchan_export(exporter, "jobs", NETCHAN_SEND, &pool__job__descriptor, options, &jobs) !=
            NETCHAN_OK ||
        netchan_export(exporter, "results", NETCHAN_RECV, &pool__result__descriptor, NULL,
                       &results) != NETCHAN_OK) {
        fprintf(stderr, "dispatcher: cannot export the pool's channels: %s\n",
                exporter != NULL ? netchan_exporter_error(exporter) : "out of memory");
        netchan_options_destroy(&options);
        netchan_exporter_destroy(&exporter);
        return 1;
    }
    netchan_options_destroy(&options);
    printf("dispatcher: %llu jobs for %d workers on %s, %d kills planned\n",
           (unsigned long long)job_count, worker_count, pool.endpoint, kills);

    for (int i = 0; i < worker_count; i++) {
        pool.workers[i] = start_worker(&pool);
    }
    sender_args_t sender = {jobs, job_count, 0};
    pthread_t sender_thread;
    pthread_create(&sender_thread, NULL, send_jobs, &sender);

    /* Collect results, and kill a worker each time another share of the jobs is done. */
    uint8_t *answered = calloc(job_count + 1, 1);
    uint64_t unique = 0;
    uint64_t repeats = 0;
    uint64_t wrong = 0;
    uint64_t redelivered_jobs = 0;
    uint64_t kill_every = job_count / (uint64_t)(kills + 1);
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    event_counts_t events = {0};
    int64_t idle_ms = 0;
    while (unique < job_count && idle_ms < 30000) {
        ProtobufCMessage *unpacked = NULL;
        netchan_err err = netchan_recv(results, 100, &unpacked);
        report_events(exporter, &events, NETCHAN_NOWAIT);
        if (err != NETCHAN_OK) {
            idle_ms += 100;
            continue;
        }
        idle_ms = 0;
        Pool__Result *result = (Pool__Result *)unpacked;
        if (result->job_id == 0 || result->job_id > job_count) {
            wrong++;
        } else if (answered[result->job_id]) {
            repeats++;
        } else {
            answered[result->job_id] = 1;
            unique++;
            wrong += result->output != sum_of_squares(result->job_id % 1000);
            redelivered_jobs += result->attempts > 1;
            if (kill_every > 0 && pool.killed < kills && unique % kill_every == 0) {
                kill_and_replace(&pool, &seed);
            }
        }
        protobuf_c_message_free_unpacked(unpacked, NULL);
    }
    pthread_join(sender_thread, NULL);

    /* Every job answered: the workers see the end of the jobs channel and leave. */
    uint64_t unacked = 0;
    netchan_err drained = netchan_drain(jobs, 10000, &unacked);
    for (int i = 0; i < worker_count; i++) {
        int status = 0;
        if (pool.workers[i] > 0 && waitpid(pool.workers[i], &status, 0) > 0 &&
            !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            fprintf(stderr, "dispatcher: worker %d did not exit cleanly\n", (int)pool.workers[i]);
        }
    }
    /* Every session that connected ends or is lost; wait briefly for the last of those events. */
    for (int attempt = 0; attempt < 30; attempt++) {
        if (events.by_type[NETCHAN_EVENT_LOST] + events.by_type[NETCHAN_EVENT_ENDED] >=
            events.by_type[NETCHAN_EVENT_CONNECTED]) {
            break;
        }
        report_events(exporter, &events, 100);
    }

    printf("statistics of 'jobs':");
    netchan_stat stats[] = {NETCHAN_STAT_SENT,         NETCHAN_STAT_DELIVERED,
                            NETCHAN_STAT_ACKNOWLEDGED, NETCHAN_STAT_REDELIVERED,
                            NETCHAN_STAT_TAKEN_BACK,   NETCHAN_STAT_PENDING};
    for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++) {
        printf(" %s=%llu", netchan_stat_name(stats[i]),
               (unsigned long long)netchan_chan_stat(jobs, stats[i]));
    }
    printf("\nstatistics of 'results': received=%llu taken=%llu\n",
           (unsigned long long)netchan_chan_stat(results, NETCHAN_STAT_RECEIVED),
           (unsigned long long)netchan_chan_stat(results, NETCHAN_STAT_TAKEN));
    printf("events: connected=%llu lost=%llu ended=%llu, jobs taken back=%llu\n",
           (unsigned long long)events.by_type[NETCHAN_EVENT_CONNECTED],
           (unsigned long long)events.by_type[NETCHAN_EVENT_LOST],
           (unsigned long long)events.by_type[NETCHAN_EVENT_ENDED],
           (unsigned long long)events.taken_back);
    printf("workers started %d, killed %d\n", pool.started, pool.killed);
    printf("jobs %llu, answered %llu, lost %llu, answered twice %llu, wrong answers %llu, "
           "first answers from redelivered jobs %llu\n",
           (unsigned long long)job_count, (unsigned long long)unique,
           (unsigned long long)(job_count - unique), (unsigned long long)repeats,
           (unsigned long long)wrong, (unsigned long long)redelivered_jobs);

    /* The example doubles as a test: the counts from events and statistics must equal the
     * dispatcher's own counts. */
    bool ok = unique == job_count && wrong == 0 && drained == NETCHAN_OK && sender.status == 0;
    struct {
        const char *what;
        uint64_t actual;
        uint64_t expected;
    } checks[] = {
        {"jobs sent", netchan_chan_stat(jobs, NETCHAN_STAT_SENT), job_count},
        {"jobs acknowledged", netchan_chan_stat(jobs, NETCHAN_STAT_ACKNOWLEDGED), job_count},
        {"jobs taken back", netchan_chan_stat(jobs, NETCHAN_STAT_TAKEN_BACK), events.taken_back},
        {"results taken", netchan_chan_stat(results, NETCHAN_STAT_TAKEN), unique + repeats + wrong},
        {"sessions lost or ended",
         events.by_type[NETCHAN_EVENT_LOST] + events.by_type[NETCHAN_EVENT_ENDED],
         events.by_type[NETCHAN_EVENT_CONNECTED]},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        if (checks[i].actual != checks[i].expected) {
            printf("mismatch: %s is %llu, expected %llu\n", checks[i].what,
                   (unsigned long long)checks[i].actual, (unsigned long long)checks[i].expected);
            ok = false;
        }
    }
    if (events.by_type[NETCHAN_EVENT_LOST] > (uint64_t)pool.killed ||
        events.by_type[NETCHAN_EVENT_CONNECTED] > (uint64_t)pool.started) {
        printf("mismatch: %llu sessions lost and %llu connected, for %d workers killed of %d "
               "started\n",
               (unsigned long long)events.by_type[NETCHAN_EVENT_LOST],
               (unsigned long long)events.by_type[NETCHAN_EVENT_CONNECTED], pool.killed,
               pool.started);
        ok = false;
    }
    if (drained != NETCHAN_OK) {
        printf("jobs channel did not drain: %llu unacknowledged\n", (unsigned long long)unacked);
    }

    free(answered);
    netchan_exporter_destroy(&exporter);
    printf("%s\n", ok ? "every job answered" : "FAILED");
    return ok ? 0 : 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: worker_pool [--jobs N] [--workers N] [--kills N]\n"
                 "       worker_pool --worker ENDPOINT\n");
}

int main(int argc, char **argv)
{
    uint64_t jobs = 2000;
    int workers = 4;
    int kills = 3;
    for (int i = 1; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--worker") == 0 && has_value) {
            return run_worker(argv[i + 1]);
        } else if (strcmp(argv[i], "--jobs") == 0 && has_value) {
            jobs = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--workers") == 0 && has_value) {
            workers = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--kills") == 0 && has_value) {
            kills = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (jobs == 0 || workers < 1 || workers > MAX_WORKERS || kills < 0) {
        fprintf(stderr,
                "worker_pool: --jobs must be positive, --workers 1 to %d, --kills 0 or "
                "more\n",
                MAX_WORKERS);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    return run_dispatcher(argv[0], jobs, workers, kills);
}
