/* relpeer: one exporter or importer of the reliability scenarios, run as a child process so
 * that tests can kill it, restart it or start it in a network namespace.
 *
 *   relpeer export-send --bind EP ...     exports a sending channel and sends --count values
 *   relpeer export-recv --bind EP ...     exports a receiving channel (explicit acknowledgement)
 *                                         and takes values until its stdin closes
 *   relpeer import-recv --connect EP ...  imports a receiving channel and takes values
 *   relpeer import-send --connect EP ...  imports a sending channel and sends --count values
 *
 * It writes its record file (records.h) and prints on stdout, one line each: "endpoint EP"
 * (exporters), "ready" once the channel is open, "sent N" when asked, progress lines
 * "taken N", its events as "event ...", and at the end "drained RESULT PENDING" (senders) or
 * "finished" (receivers). Exit status: 0 on success, 1 when the run failed, 2 on a usage
 * error. */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netchan.h"
#include "peers.h"

/* How long an import waits for the exporter in one attempt, and in all. */
#define IMPORT_ATTEMPT_MS 1000
#define IMPORT_TOTAL_MS   60000

typedef enum then_action {
    THEN_CLOSE = 0, /* close the channel, drain, end the session gracefully */
    THEN_EXIT = 1,  /* drain the acknowledgements, then exit without ending the session */
    THEN_HOLD = 2,  /* drain the acknowledgements, then hold the rest until killed */
    THEN_ABORT = 3, /* exit at once without ending the session */
} then_action_t;

typedef struct config {
    const char *command;
    const char *endpoint;
    const char *channel;
    const char *record_path;
    uint32_t id;
    uint64_t count;
    size_t size;
    uint32_t capacity;
    double rate;
    int drain_timeout_ms;
    bool explicit_ack;
    uint64_t take_limit;
    uint64_t ack_limit;
    then_action_t then;
    unsigned delay_us;
    uint64_t progress_every;
    bool print_sent;
    uint32_t heartbeat_ms;
    uint32_t timeout_ms;
} config_t;

static int usage(const char *message)
{
    fprintf(stderr,
            "relpeer: %s\n"
            "usage: relpeer export-send|export-recv|import-recv|import-send\n"
            "  (--bind EP | --connect EP) --channel NAME --id N --record FILE\n"
            "  [--count N] [--size BYTES] [--capacity N] [--rate PER_SECOND]\n"
            "  [--drain-timeout MS] [--explicit] [--take N] [--ack N]\n"
            "  [--then close|exit|hold|abort] [--delay-us US] [--progress N] [--print-sent]\n"
            "  [--heartbeat INTERVAL_MS,TIMEOUT_MS]\n",
            message);
    return 2;
}

static int parse_config(int argc, char **argv, config_t *config)
{
    enum {
        OPT_BIND = 256,
        OPT_CONNECT,
        OPT_CHANNEL,
        OPT_ID,
        OPT_RECORD,
        OPT_COUNT,
        OPT_SIZE,
        OPT_CAPACITY,
        OPT_RATE,
        OPT_DRAIN,
        OPT_EXPLICIT,
        OPT_TAKE,
        OPT_ACK,
        OPT_THEN,
        OPT_DELAY,
        OPT_PROGRESS,
        OPT_PRINT_SENT,
        OPT_HEARTBEAT,
    };
    static const struct option options[] = {
        {"bind", required_argument, NULL, OPT_BIND},
        {"connect", required_argument, NULL, OPT_CONNECT},
        {"channel", required_argument, NULL, OPT_CHANNEL},
        {"id", required_argument, NULL, OPT_ID},
        {"record", required_argument, NULL, OPT_RECORD},
        {"count", required_argument, NULL, OPT_COUNT},
        {"size", required_argument, NULL, OPT_SIZE},
        {"capacity", required_argument, NULL, OPT_CAPACITY},
        {"rate", required_argument, NULL, OPT_RATE},
        {"drain-timeout", required_argument, NULL, OPT_DRAIN},
        {"explicit", no_argument, NULL, OPT_EXPLICIT},
        {"take", required_argument, NULL, OPT_TAKE},
        {"ack", required_argument, NULL, OPT_ACK},
        {"then", required_argument, NULL, OPT_THEN},
        {"delay-us", required_argument, NULL, OPT_DELAY},
        {"progress", required_argument, NULL, OPT_PROGRESS},
        {"print-sent", no_argument, NULL, OPT_PRINT_SENT},
        {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
        {NULL, 0, NULL, 0},
    };
    *config = (config_t){
        .channel = "values",
        .size = 64,
        .drain_timeout_ms = 60000,
        .ack_limit = UINT64_MAX,
    };
    if (argc < 2) {
        return usage("missing command");
    }
    config->command = argv[1];
    optind = 2;
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (option) {
        case OPT_BIND:
        case OPT_CONNECT:
            config->endpoint = optarg;
            break;
        case OPT_CHANNEL:
            config->channel = optarg;
            break;
        case OPT_ID:
            config->id = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case OPT_RECORD:
            config->record_path = optarg;
            break;
        case OPT_COUNT:
            config->count = strtoull(optarg, NULL, 10);
            break;
        case OPT_SIZE:
            config->size = strtoull(optarg, NULL, 10);
            break;
        case OPT_CAPACITY:
            config->capacity = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case OPT_RATE:
            config->rate = strtod(optarg, NULL);
            break;
        case OPT_DRAIN:
            config->drain_timeout_ms = atoi(optarg);
            break;
        case OPT_EXPLICIT:
            config->explicit_ack = true;
            break;
        case OPT_TAKE:
            config->take_limit = strtoull(optarg, NULL, 10);
            break;
        case OPT_ACK:
            config->ack_limit = strtoull(optarg, NULL, 10);
            break;
        case OPT_THEN:
            if (strcmp(optarg, "close") == 0) {
                config->then = THEN_CLOSE;
            } else if (strcmp(optarg, "exit") == 0) {
                config->then = THEN_EXIT;
            } else if (strcmp(optarg, "hold") == 0) {
                config->then = THEN_HOLD;
            } else if (strcmp(optarg, "abort") == 0) {
                config->then = THEN_ABORT;
            } else {
                return usage("invalid --then: expected close, exit, hold or abort");
            }
            break;
        case OPT_DELAY:
            config->delay_us = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case OPT_PROGRESS:
            config->progress_every = strtoull(optarg, NULL, 10);
            break;
        case OPT_PRINT_SENT:
            config->print_sent = true;
            break;
        case OPT_HEARTBEAT:
            if (sscanf(optarg, "%" SCNu32 ",%" SCNu32, &config->heartbeat_ms,
                       &config->timeout_ms) != 2) {
                return usage("invalid --heartbeat: expected INTERVAL_MS,TIMEOUT_MS");
            }
            break;
        default:
            return usage("unknown option");
        }
    }
    if (config->endpoint == NULL || config->record_path == NULL) {
        return usage("missing --bind/--connect or --record");
    }
    return 0;
}

static netchan_options_t *make_options(const config_t *config, bool explicit_ack)
{
    netchan_options_t *options = netchan_options_new();
    if (options != NULL && config->capacity > 0) {
        (void)netchan_options_set_capacity(options, config->capacity);
    }
    if (options != NULL) {
        (void)netchan_options_set_explicit_ack(options, explicit_ack);
    }
    return options;
}

/* ---- progress and stdin ---- */

typedef struct progress {
    pthread_t thread;
    _Atomic uint64_t value;
    atomic_bool stdin_closed;
    int stop_fds[2]; /* progress_stop() writes to stop_fds[1] */
    uint64_t every;
    bool watch_stdin;
} progress_t;

/* Prints "taken N" when the count passes a multiple of every, looking every 50 ms, and notices
 * stdin closing. */
static void *progress_thread(void *arg)
{
    progress_t *progress = arg;
    uint64_t printed = 0;
    for (;;) {
        struct pollfd fds[2] = {
            {.fd = progress->stop_fds[0], .events = POLLIN},
            {.fd = progress->watch_stdin ? STDIN_FILENO : -1, .events = POLLIN},
        };
        if (poll(fds, 2, 50) > 0) {
            if (fds[0].revents & POLLIN) {
                return NULL;
            }
            if (fds[1].revents & (POLLIN | POLLHUP)) {
                char buffer[64];
                if (read(STDIN_FILENO, buffer, sizeof(buffer)) <= 0) {
                    atomic_store(&progress->stdin_closed, true);
                    progress->watch_stdin = false;
                }
            }
        }
        uint64_t value = atomic_load(&progress->value);
        if (progress->every > 0 && value / progress->every > printed / progress->every) {
            printf("taken %" PRIu64 "\n", value);
            fflush(stdout);
            printed = value;
        }
    }
}

static void progress_start(progress_t *progress, uint64_t every, bool watch_stdin)
{
    memset(progress, 0, sizeof(*progress));
    progress->every = every;
    progress->watch_stdin = watch_stdin;
    if (pipe(progress->stop_fds) != 0) {
        progress->stop_fds[0] = progress->stop_fds[1] = -1;
    }
    pthread_create(&progress->thread, NULL, progress_thread, progress);
}

static void progress_stop(progress_t *progress)
{
    (void)!write(progress->stop_fds[1], "x", 1);
    pthread_join(progress->thread, NULL);
    close(progress->stop_fds[0]);
    close(progress->stop_fds[1]);
}

/* ---- the four commands ---- */

static int export_send(const config_t *config, rel_record_t *record)
{
    netchan_exporter_t *exporter = NULL;
    netchan_chan_t *chan = NULL;
    char endpoint[256];
    netchan_options_t *options = make_options(config, false);
    if (netchan_exporter_new(&exporter) != NETCHAN_OK || options == NULL ||
        (config->heartbeat_ms > 0 &&
         netchan_exporter_set_heartbeat(exporter, config->heartbeat_ms, config->timeout_ms) !=
             NETCHAN_OK) ||
        netchan_exporter_bind(exporter, config->endpoint) != NETCHAN_OK ||
        netchan_exporter_endpoint(exporter, endpoint, sizeof(endpoint)) != NETCHAN_OK ||
        netchan_export_bytes(exporter, config->channel, NETCHAN_SEND, NULL, NULL, options, &chan) !=
            NETCHAN_OK) {
        fprintf(stderr, "relpeer: cannot export '%s' on %s: %s\n", config->channel,
                config->endpoint, netchan_exporter_error(exporter));
        return 1;
    }
    netchan_options_destroy(&options);
    rel_watch_t *watch = rel_watch_exporter(exporter, record, true);
    printf("endpoint %s\nready\n", endpoint);
    fflush(stdout);

    rel_sender_config_t sender = {
        .id = config->id,
        .count = config->count,
        .size = config->size,
        .rate = config->rate,
        .drain_timeout_ms = config->drain_timeout_ms,
        .print_sent = config->print_sent,
    };
    netchan_err err = rel_run_sender(chan, record, &sender);
    uint64_t pending = netchan_pending(chan);
    rel_record_sender_stats(record, chan, "exporter", true);
    printf("drained %s %" PRIu64 "\n", err == NETCHAN_OK ? "ok" : netchan_strerror(err), pending);
    fflush(stdout);
    rel_watch_stop(&watch);
    netchan_exporter_destroy(&exporter);
    return err == NETCHAN_OK ? 0 : 1;
}

static int export_recv(const config_t *config, rel_record_t *record)
{
    netchan_exporter_t *exporter = NULL;
    netchan_chan_t *chan = NULL;
    char endpoint[256];
    netchan_options_t *options = make_options(config, true);
    if (netchan_exporter_new(&exporter) != NETCHAN_OK || options == NULL ||
        (config->heartbeat_ms > 0 &&
         netchan_exporter_set_heartbeat(exporter, config->heartbeat_ms, config->timeout_ms) !=
             NETCHAN_OK) ||
        netchan_exporter_bind(exporter, config->endpoint) != NETCHAN_OK ||
        netchan_exporter_endpoint(exporter, endpoint, sizeof(endpoint)) != NETCHAN_OK ||
        netchan_export_bytes(exporter, config->channel, NETCHAN_RECV, NULL, NULL, options, &chan) !=
            NETCHAN_OK) {
        fprintf(stderr, "relpeer: cannot export '%s' on %s: %s\n", config->channel,
                config->endpoint, netchan_exporter_error(exporter));
        return 1;
    }
    netchan_options_destroy(&options);
    rel_watch_t *watch = rel_watch_exporter(exporter, record, true);
    progress_t progress;
    progress_start(&progress, config->progress_every, true);
    printf("endpoint %s\nready\n", endpoint);
    fflush(stdout);

    /* Several importers send into the channel, and one of them may end its stream while
     * another has not bound yet, so end of stream does not end this loop: the test closes
     * stdin when every importer is done. */
    rel_receiver_config_t receiver = {
        .id = config->id,
        .explicit_ack = true,
        .ack_limit = UINT64_MAX,
        .delay_us = config->delay_us,
        .progress = &progress.value,
        .stop = &progress.stdin_closed,
    };
    rel_receiver_begin(record, &receiver);
    uint64_t total_taken = 0;
    uint64_t total_acked = 0;
    rel_recv_end_t end;
    do {
        uint64_t taken = 0;
        uint64_t acked = 0;
        end = rel_run_receiver(chan, record, &receiver, &taken, &acked);
        total_taken += taken;
        total_acked += acked;
        if (end == REL_RECV_ENDED) {
            usleep(10000); /* wait for a late importer to bind, then look again */
        }
    } while (end == REL_RECV_ENDED);
    bool clean = rel_finish_receiver(chan, record, config->id, total_taken == total_acked, 10000);
    progress_stop(&progress);
    printf("finished %" PRIu64 " %s\n", total_taken, clean ? "clean" : "unclean");
    fflush(stdout);
    rel_watch_stop(&watch);
    netchan_exporter_destroy(&exporter);
    return end == REL_RECV_STOPPED && clean ? 0 : 1;
}

/* Creates an importer connected to config's endpoint and imports its channel, retrying until
 * an exporter accepts the bind or IMPORT_TOTAL_MS pass. */
static netchan_importer_t *open_import(const config_t *config, netchan_dir direction,
                                       netchan_chan_t **chan_p)
{
    netchan_importer_t *importer = NULL;
    if (netchan_importer_new(&importer) != NETCHAN_OK ||
        (config->heartbeat_ms > 0 &&
         netchan_importer_set_heartbeat(importer, config->heartbeat_ms, config->timeout_ms) !=
             NETCHAN_OK) ||
        netchan_importer_connect(importer, config->endpoint) != NETCHAN_OK) {
        fprintf(stderr, "relpeer: cannot connect to %s: %s\n", config->endpoint,
                netchan_importer_error(importer));
        netchan_importer_destroy(&importer);
        return NULL;
    }
    netchan_options_t *options =
        make_options(config, direction == NETCHAN_RECV && config->explicit_ack);
    int64_t deadline = rel_now_ms() + IMPORT_TOTAL_MS;
    netchan_err err;
    do {
        err = netchan_import_bytes(importer, config->channel, direction, NULL, NULL, options,
                                   IMPORT_ATTEMPT_MS, chan_p);
    } while (err == NETCHAN_ETIMEDOUT && rel_now_ms() < deadline);
    netchan_options_destroy(&options);
    if (err != NETCHAN_OK) {
        fprintf(stderr, "relpeer: cannot import '%s' from %s: %s\n", config->channel,
                config->endpoint, netchan_importer_error(importer));
        netchan_importer_destroy(&importer);
        return NULL;
    }
    return importer;
}

static int import_recv(const config_t *config, rel_record_t *record)
{
    netchan_chan_t *chan = NULL;
    rel_receiver_config_t receiver = {
        .id = config->id,
        .explicit_ack = config->explicit_ack,
        .take_limit = config->take_limit,
        .ack_limit = config->ack_limit,
        .delay_us = config->delay_us,
    };
    rel_receiver_begin(record, &receiver);
    netchan_importer_t *importer = open_import(config, NETCHAN_RECV, &chan);
    if (importer == NULL) {
        return 1;
    }
    rel_watch_t *watch = rel_watch_importer(importer, record, true);
    progress_t progress;
    progress_start(&progress, config->progress_every, false);
    receiver.progress = &progress.value;
    printf("ready\n");
    fflush(stdout);

    uint64_t taken = 0;
    uint64_t acked = 0;
    rel_recv_end_t end = rel_run_receiver(chan, record, &receiver, &taken, &acked);
    progress_stop(&progress);
    printf("taken %" PRIu64 " acked %" PRIu64 "\n", taken, acked);
    fflush(stdout);
    rel_record_flush(record);

    if (config->then == THEN_ABORT) {
        _exit(0);
    }
    if (config->then == THEN_HOLD || config->then == THEN_EXIT) {
        /* The acknowledgements reach the sender and are confirmed first. Then the process
         * keeps the rest until it is killed, or exits without ending its session. */
        uint64_t pending = 0;
        netchan_err err = netchan_drain(chan, 10000, &pending);
        if (err == NETCHAN_OK) {
            rel_record_line(record, "confirmed %" PRIu32, config->id);
            rel_record_flush(record);
        }
        const char *result = err == NETCHAN_OK ? "confirmed" : netchan_strerror(err);
        if (config->then == THEN_EXIT) {
            printf("exiting %s\n", result);
            fflush(stdout);
            _exit(err == NETCHAN_OK ? 0 : 1);
        }
        printf("holding %s\n", result);
        fflush(stdout);
        for (;;) {
            pause();
        }
    }
    if (end == REL_RECV_LIMIT) {
        netchan_close(chan); /* values not taken go back to the sender */
    }
    bool clean = rel_finish_receiver(chan, record, config->id, taken == acked, 10000);
    printf("finished %" PRIu64 " %s\n", taken, clean ? "clean" : "unclean");
    fflush(stdout);
    rel_watch_stop(&watch);
    netchan_importer_destroy(&importer);
    return (end == REL_RECV_ENDED || end == REL_RECV_LIMIT) && clean ? 0 : 1;
}

static int import_send(const config_t *config, rel_record_t *record)
{
    netchan_chan_t *chan = NULL;
    netchan_importer_t *importer = open_import(config, NETCHAN_SEND, &chan);
    if (importer == NULL) {
        return 1;
    }
    rel_watch_t *watch = rel_watch_importer(importer, record, true);
    printf("ready\n");
    fflush(stdout);
    rel_sender_config_t sender = {
        .id = config->id,
        .count = config->count,
        .size = config->size,
        .rate = config->rate,
        .drain_timeout_ms = config->drain_timeout_ms,
        .print_sent = config->print_sent,
    };
    netchan_err err = rel_run_sender(chan, record, &sender);
    uint64_t pending = netchan_pending(chan);
    printf("drained %s %" PRIu64 "\n", err == NETCHAN_OK ? "ok" : netchan_strerror(err), pending);
    fflush(stdout);
    rel_watch_stop(&watch);
    netchan_importer_destroy(&importer);
    return err == NETCHAN_OK ? 0 : 1;
}

/* Prints the library's log on stderr with a millisecond clock. */
static void log_to_stderr(netchan_log_level level, const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "relpeer %d: %" PRId64 " %s: %s\n", (int)getpid(), rel_now_ms() % 1000000,
            netchan_log_level_name(level), message);
}

int main(int argc, char **argv)
{
    const char *level = getenv("NETCHAN_TEST_LOG");
    if (level != NULL && atoi(level) > 0) {
        netchan_set_log_handler(log_to_stderr, (netchan_log_level)atoi(level), NULL);
    }
    config_t config;
    int rc = parse_config(argc, argv, &config);
    if (rc != 0) {
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    rel_record_t *record = rel_record_open(config.record_path);
    if (record == NULL) {
        return 1;
    }
    if (strcmp(config.command, "export-send") == 0) {
        rc = export_send(&config, record);
    } else if (strcmp(config.command, "export-recv") == 0) {
        rc = export_recv(&config, record);
    } else if (strcmp(config.command, "import-recv") == 0) {
        rc = import_recv(&config, record);
    } else if (strcmp(config.command, "import-send") == 0) {
        rc = import_send(&config, record);
    } else {
        rc = usage("unknown command");
    }
    rel_record_close(&record);
    return rc;
}
