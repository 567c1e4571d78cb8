/* Throughput of acknowledged netchan values against raw libzmq, over TCP loopback.
 *
 * For each value size, one process run measures two transports, interleaved so that the
 * machine's noise hits both:
 * - raw: a libzmq PUSH socket bound on tcp://127.0.0.1 and a PULL socket connected to it, one
 *   ZeroMQ message per value, sender and receiver on two threads;
 * - netchan: an exporter's bytes channel opened with NETCHAN_SEND and an importer's channel
 *   opened with NETCHAN_RECV and the default acknowledgement on receipt, sender and receiver
 *   on two threads.
 *
 * Each run first sends warm-up values and waits until they have arrived (and, for netchan, been
 * acknowledged). The clock then starts and stops once the receiver has taken the last value and
 * the sender has finished, which for netchan means that netchan_drain() has seen every value
 * acknowledged. Every value carries its index in its first 8 bytes. The receiver checks the
 * index and size of each value and then the end of stream, so a run fails unless the receiver got
 * each value exactly once and in order.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "netchan.h"

enum {
    IO_TIMEOUT_MS = 10000,      /* maximum wait for one send or receive before a run fails */
    IMPORT_TIMEOUT_MS = 5000,   /* maximum wait for the exporter to accept the bind */
    MAX_REPEAT = 100,           /* upper bound for --repeat */
    CALIBRATION_COUNT = 200000, /* values per calibration run, which sizes the default count */
    QUICK_CALIBRATION_COUNT = 20000,
    ERROR_SIZE = 512,                     /* one thread's failure message */
    RUN_ERROR_SIZE = 2 * ERROR_SIZE + 64, /* a run's failure message: both threads' */
};

#define LOOPBACK_ENDPOINT "tcp://127.0.0.1:*"
#define CHANNEL_NAME      "throughput"
#define TARGET_SECONDS    1.5 /* default count: the slower transport's run takes about this */
#define QUICK_SECONDS     0.2

static const size_t default_sizes[] = {64, 1024};
#define MAX_SIZES (sizeof(default_sizes) / sizeof(default_sizes[0]))
#define MIN_SIZE  8         /* room for the index that each value carries */
#define MAX_SIZE  (1 << 20) /* netchan's default maximum value size */

typedef enum transport {
    TRANSPORT_RAW = 0,
    TRANSPORT_NETCHAN = 1,
} transport_t;
#define TRANSPORT_COUNT 2

static const char *const transport_names[TRANSPORT_COUNT] = {
    "raw libzmq PUSH/PULL",
    "netchan acknowledged",
};

/* Names accepted by --transport, in transport_t order. */
static const char *const transport_options[TRANSPORT_COUNT] = {"raw", "netchan"};

/* ---- time and formatting ---- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Formats value with thousands separators into buffer. */
static const char *format_count(char *buffer, size_t size, uint64_t value)
{
    char digits[32];
    int length = snprintf(digits, sizeof(digits), "%" PRIu64, value);
    size_t out = 0;
    for (int i = 0; i < length && out + 2 < size; i++) {
        if (i > 0 && (length - i) % 3 == 0) {
            buffer[out++] = ',';
        }
        buffer[out++] = digits[i];
    }
    buffer[out] = '\0';
    return buffer;
}

/* Rounds count to two significant digits, so that default counts read well in the output. */
static uint64_t round_count(double count)
{
    if (count < 10000) {
        return 10000;
    }
    double scale = 1;
    while (count / scale >= 100) {
        scale *= 10;
    }
    return (uint64_t)(count / scale + 0.5) * (uint64_t)scale;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Returns the median of values[0..n), which it sorts in a copy of at most MAX_REPEAT items. */
static double median(const double *values, size_t n)
{
    double sorted[MAX_REPEAT];
    memcpy(sorted, values, n * sizeof(*values));
    qsort(sorted, n, sizeof(*sorted), compare_doubles);
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/* ---- one run ---- */

/* What the sender and receiver threads of one run share. */
typedef struct run {
    transport_t transport;
    size_t size;
    uint64_t warmup; /* values sent before the clock starts */
    uint64_t count;  /* values timed */

    void *push; /* raw */
    void *pull;
    netchan_chan_t *send_chan; /* netchan */
    netchan_chan_t *recv_chan;

    pthread_barrier_t warm; /* both threads pass it once the warm-up values have arrived */
    atomic_bool failed;
    double start;    /* set by the sender after the barrier */
    double sent;     /* sender finished: all sent (raw) or all acknowledged (netchan) */
    double received; /* receiver took the last timed value */
    char sender_error[ERROR_SIZE];
    char receiver_error[ERROR_SIZE];
} run_t;

static void fail(run_t *run, char *error, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first failure of one thread and marks the run as failed. */
static void fail(run_t *run, char *error, const char *format, ...)
{
    if (error[0] == '\0') {
        va_list args;
        va_start(args, format);
        vsnprintf(error, ERROR_SIZE, format, args);
        va_end(args);
    }
    atomic_store(&run->failed, true);
}

/* Writes index into the first bytes of payload, as far as they reach. */
static void stamp_index(uint8_t *payload, size_t size, uint64_t index)
{
    memcpy(payload, &index, size < sizeof(index) ? size : sizeof(index));
}

/* Checks that a received value has the expected size and index, and records a failure if not. */
static bool check_value(run_t *run, const uint8_t *data, size_t size, uint64_t expected)
{
    if (size != run->size) {
        fail(run, run->receiver_error, "value %" PRIu64 " has %zu bytes, expected %zu", expected,
             size, run->size);
        return false;
    }
    uint64_t index = 0;
    memcpy(&index, data, size < sizeof(index) ? size : sizeof(index));
    if (index != expected) {
        fail(run, run->receiver_error,
             "received value %" PRIu64 " where value %" PRIu64 " was expected (lost, "
             "duplicated or reordered)",
             index, expected);
        return false;
    }
    return true;
}

/* Fills a payload buffer of run->size bytes with a fixed pattern. */
static uint8_t *new_payload(run_t *run, char *error)
{
    uint8_t *payload = malloc(run->size);
    if (payload == NULL) {
        fail(run, error, "out of memory for a payload of %zu bytes", run->size);
        return NULL;
    }
    for (size_t i = 0; i < run->size; i++) {
        payload[i] = (uint8_t)(i * 31 + 7);
    }
    return payload;
}

/* ---- raw libzmq ---- */

static bool raw_send(run_t *run, const uint8_t *payload, size_t size)
{
    if (zmq_send(run->push, payload, size, 0) < 0) {
        fail(run, run->sender_error, "zmq_send failed: %s", zmq_strerror(zmq_errno()));
        return false;
    }
    return true;
}

static void *raw_sender(void *arg)
{
    run_t *run = arg;
    uint8_t *payload = new_payload(run, run->sender_error);
    uint64_t index = 0;
    for (; payload != NULL && index < run->warmup; index++) {
        stamp_index(payload, run->size, index);
        if (!raw_send(run, payload, run->size)) {
            break;
        }
    }
    pthread_barrier_wait(&run->warm);
    if (atomic_load(&run->failed)) {
        free(payload);
        return NULL;
    }

    run->start = now_seconds();
    uint64_t end = run->warmup + run->count;
    for (; index < end; index++) {
        stamp_index(payload, run->size, index);
        if (!raw_send(run, payload, run->size)) {
            break;
        }
    }
    run->sent = now_seconds();
    /* An empty message ends the stream, so the receiver can tell that nothing follows. */
    if (index == end) {
        (void)raw_send(run, payload, 0);
    }
    free(payload);
    return NULL;
}

/* Receives one message into msg. Records a failure and returns false on timeout or error. */
static bool raw_receive(run_t *run, zmq_msg_t *msg, uint64_t expected)
{
    if (zmq_msg_recv(msg, run->pull, 0) < 0) {
        fail(run, run->receiver_error, "receiving value %" PRIu64 " failed: %s", expected,
             zmq_strerror(zmq_errno()));
        return false;
    }
    return true;
}

static void *raw_receiver(void *arg)
{
    run_t *run = arg;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    uint64_t index = 0;
    for (; index < run->warmup; index++) {
        if (!raw_receive(run, &msg, index) ||
            !check_value(run, zmq_msg_data(&msg), zmq_msg_size(&msg), index)) {
            break;
        }
    }
    pthread_barrier_wait(&run->warm);
    if (atomic_load(&run->failed)) {
        zmq_msg_close(&msg);
        return NULL;
    }

    uint64_t end = run->warmup + run->count;
    for (; index < end; index++) {
        if (!raw_receive(run, &msg, index) ||
            !check_value(run, zmq_msg_data(&msg), zmq_msg_size(&msg), index)) {
            break;
        }
    }
    run->received = now_seconds();
    if (index == end && raw_receive(run, &msg, index) && zmq_msg_size(&msg) != 0) {
        fail(run, run->receiver_error, "received more than the %" PRIu64 " values sent", end);
    }
    zmq_msg_close(&msg);
    return NULL;
}

static void set_timeouts(void *socket)
{
    int timeout = IO_TIMEOUT_MS;
    int linger = 0;
    zmq_setsockopt(socket, ZMQ_SNDTIMEO, &timeout, sizeof(timeout));
    zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
    zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof(linger));
}

/* Creates the PUSH and PULL sockets in context. Returns false with the reason in error. */
static bool raw_setup(run_t *run, void *context, char *error)
{
    run->push = zmq_socket(context, ZMQ_PUSH);
    run->pull = zmq_socket(context, ZMQ_PULL);
    if (run->push == NULL || run->pull == NULL) {
        snprintf(error, RUN_ERROR_SIZE, "zmq_socket failed: %s", zmq_strerror(zmq_errno()));
        return false;
    }
    set_timeouts(run->push);
    set_timeouts(run->pull);
    if (zmq_bind(run->push, LOOPBACK_ENDPOINT) != 0) {
        snprintf(error, RUN_ERROR_SIZE, "binding PUSH to %s failed: %s", LOOPBACK_ENDPOINT,
                 zmq_strerror(zmq_errno()));
        return false;
    }
    char endpoint[256];
    size_t length = sizeof(endpoint);
    if (zmq_getsockopt(run->push, ZMQ_LAST_ENDPOINT, endpoint, &length) != 0) {
        snprintf(error, RUN_ERROR_SIZE, "reading the bound endpoint failed: %s",
                 zmq_strerror(zmq_errno()));
        return false;
    }
    if (zmq_connect(run->pull, endpoint) != 0) {
        snprintf(error, RUN_ERROR_SIZE, "connecting PULL to %s failed: %s", endpoint,
                 zmq_strerror(zmq_errno()));
        return false;
    }
    return true;
}

/* ---- netchan ---- */

static void *netchan_sender(void *arg)
{
    run_t *run = arg;
    uint8_t *payload = new_payload(run, run->sender_error);
    uint64_t index = 0;
    netchan_err err = NETCHAN_OK;
    uint64_t pending = 0;
    for (; payload != NULL && index < run->warmup; index++) {
        stamp_index(payload, run->size, index);
        err = netchan_send_bytes(run->send_chan, payload, run->size, IO_TIMEOUT_MS);
        if (err != NETCHAN_OK) {
            break;
        }
    }
    if (payload != NULL && err == NETCHAN_OK) {
        err = netchan_drain(run->send_chan, IO_TIMEOUT_MS, &pending);
    }
    if (err != NETCHAN_OK) {
        fail(run, run->sender_error, "warm-up: %s (%s, %" PRIu64 " values pending)",
             netchan_strerror(err), netchan_chan_error(run->send_chan), pending);
    }
    pthread_barrier_wait(&run->warm);
    if (atomic_load(&run->failed)) {
        free(payload);
        return NULL;
    }

    run->start = now_seconds();
    uint64_t end = run->warmup + run->count;
    for (; index < end; index++) {
        stamp_index(payload, run->size, index);
        err = netchan_send_bytes(run->send_chan, payload, run->size, IO_TIMEOUT_MS);
        if (err != NETCHAN_OK) {
            fail(run, run->sender_error, "sending value %" PRIu64 " failed: %s (%s)", index,
                 netchan_strerror(err), netchan_chan_error(run->send_chan));
            break;
        }
    }
    if (index == end) {
        err = netchan_drain(run->send_chan, IO_TIMEOUT_MS, &pending);
        if (err != NETCHAN_OK) {
            fail(run, run->sender_error, "draining failed: %s, %" PRIu64 " values unacknowledged",
                 netchan_strerror(err), pending);
        }
    }
    run->sent = now_seconds();
    /* Closing the channel delivers end of stream, so the receiver can tell that nothing
     * follows. */
    netchan_close(run->send_chan);
    free(payload);
    return NULL;
}

/* Takes one value and checks it. Records a failure and returns false if it is wrong. */
static bool netchan_receive(run_t *run, uint64_t expected)
{
    netchan_msg_t *msg = NULL;
    netchan_err err = netchan_recv_msg(run->recv_chan, IO_TIMEOUT_MS, &msg);
    if (err != NETCHAN_OK) {
        fail(run, run->receiver_error, "receiving value %" PRIu64 " failed: %s (%s)", expected,
             netchan_strerror(err), netchan_chan_error(run->recv_chan));
        return false;
    }
    bool ok = check_value(run, netchan_msg_data(msg), netchan_msg_size(msg), expected);
    netchan_msg_destroy(&msg);
    return ok;
}

static void *netchan_receiver(void *arg)
{
    run_t *run = arg;
    uint64_t index = 0;
    for (; index < run->warmup; index++) {
        if (!netchan_receive(run, index)) {
            break;
        }
    }
    pthread_barrier_wait(&run->warm);
    if (atomic_load(&run->failed)) {
        return NULL;
    }

    uint64_t end = run->warmup + run->count;
    for (; index < end; index++) {
        if (!netchan_receive(run, index)) {
            break;
        }
    }
    run->received = now_seconds();
    if (index < end) {
        return NULL;
    }
    netchan_msg_t *msg = NULL;
    netchan_err err = netchan_recv_msg(run->recv_chan, IO_TIMEOUT_MS, &msg);
    if (err == NETCHAN_OK) {
        netchan_msg_destroy(&msg);
        fail(run, run->receiver_error, "received more than the %" PRIu64 " values sent", end);
    } else if (err != NETCHAN_ECLOSED) {
        fail(run, run->receiver_error, "waiting for end of stream failed: %s (%s)",
             netchan_strerror(err), netchan_chan_error(run->recv_chan));
    }
    return NULL;
}

/* Creates an exporter and an importer bound to each other by one bytes channel. */
static bool netchan_setup(run_t *run, netchan_exporter_t **exporter_p,
                          netchan_importer_t **importer_p, char *error)
{
    netchan_err err = netchan_exporter_new(exporter_p);
    if (err != NETCHAN_OK) {
        snprintf(error, RUN_ERROR_SIZE, "creating the exporter failed: %s", netchan_strerror(err));
        return false;
    }
    netchan_exporter_t *exporter = *exporter_p;
    char endpoint[256];
    err = netchan_exporter_bind(exporter, LOOPBACK_ENDPOINT);
    if (err == NETCHAN_OK) {
        err = netchan_exporter_endpoint(exporter, endpoint, sizeof(endpoint));
    }
    if (err == NETCHAN_OK) {
        err = netchan_export_bytes(exporter, CHANNEL_NAME, NETCHAN_SEND, NULL, NULL, NULL,
                                   &run->send_chan);
    }
    if (err != NETCHAN_OK) {
        snprintf(error, RUN_ERROR_SIZE, "setting up the exporter failed: %s (%s)",
                 netchan_strerror(err), netchan_exporter_error(exporter));
        return false;
    }

    err = netchan_importer_new(importer_p);
    if (err != NETCHAN_OK) {
        snprintf(error, RUN_ERROR_SIZE, "creating the importer failed: %s", netchan_strerror(err));
        return false;
    }
    netchan_importer_t *importer = *importer_p;
    err = netchan_importer_connect(importer, endpoint);
    if (err == NETCHAN_OK) {
        err = netchan_import_bytes(importer, CHANNEL_NAME, NETCHAN_RECV, NULL, NULL, NULL,
                                   IMPORT_TIMEOUT_MS, &run->recv_chan);
    }
    if (err != NETCHAN_OK) {
        snprintf(error, RUN_ERROR_SIZE, "importing channel '%s' from %s failed: %s (%s)",
                 CHANNEL_NAME, endpoint, netchan_strerror(err), netchan_importer_error(importer));
        return false;
    }
    return true;
}

/* ---- running and reporting ---- */

/* Starts the sender and receiver threads of run and waits for both. */
static bool run_threads(run_t *run, void *(*sender)(void *), void *(*receiver)(void *), char *error)
{
    pthread_t sender_thread;
    pthread_t receiver_thread;
    if (pthread_barrier_init(&run->warm, NULL, 2) != 0) {
        snprintf(error, RUN_ERROR_SIZE, "pthread_barrier_init failed");
        return false;
    }
    if (pthread_create(&receiver_thread, NULL, receiver, run) != 0) {
        pthread_barrier_destroy(&run->warm);
        snprintf(error, RUN_ERROR_SIZE, "starting the receiver thread failed");
        return false;
    }
    if (pthread_create(&sender_thread, NULL, sender, run) != 0) {
        /* The receiver waits at the barrier forever without a sender; nothing can end it. */
        fprintf(stderr, "netchan-bench-throughput: starting the sender thread failed\n");
        exit(1);
    }
    pthread_join(sender_thread, NULL);
    pthread_join(receiver_thread, NULL);
    pthread_barrier_destroy(&run->warm);

    if (run->sender_error[0] != '\0' || run->receiver_error[0] != '\0') {
        snprintf(error, RUN_ERROR_SIZE, "sender: %s; receiver: %s",
                 run->sender_error[0] ? run->sender_error : "ok",
                 run->receiver_error[0] ? run->receiver_error : "ok");
        return false;
    }
    return true;
}

/* Measures count values of size bytes over transport after warmup values. Returns the elapsed
 * seconds, or a negative value after printing why the run failed. */
static double measure(transport_t transport, size_t size, uint64_t warmup, uint64_t count)
{
    run_t *run = calloc(1, sizeof(*run));
    if (run == NULL) {
        fprintf(stderr, "netchan-bench-throughput: out of memory\n");
        return -1;
    }
    run->transport = transport;
    run->size = size;
    run->warmup = warmup;
    run->count = count;
    atomic_init(&run->failed, false);
    char error[RUN_ERROR_SIZE] = "";
    bool ok;

    if (transport == TRANSPORT_RAW) {
        void *context = zmq_ctx_new();
        ok = context != NULL && raw_setup(run, context, error) &&
             run_threads(run, raw_sender, raw_receiver, error);
        if (context == NULL) {
            snprintf(error, RUN_ERROR_SIZE, "zmq_ctx_new failed: %s", zmq_strerror(zmq_errno()));
        }
        if (run->push != NULL) {
            zmq_close(run->push);
        }
        if (run->pull != NULL) {
            zmq_close(run->pull);
        }
        if (context != NULL) {
            zmq_ctx_term(context);
        }
    } else {
        netchan_exporter_t *exporter = NULL;
        netchan_importer_t *importer = NULL;
        ok = netchan_setup(run, &exporter, &importer, error) &&
             run_threads(run, netchan_sender, netchan_receiver, error);
        netchan_importer_destroy(&importer);
        netchan_exporter_destroy(&exporter);
    }

    double elapsed = (run->sent > run->received ? run->sent : run->received) - run->start;
    free(run);
    if (!ok) {
        fprintf(stderr, "netchan-bench-throughput: %s run with %zu-byte values failed: %s\n",
                transport_names[transport], size, error);
        return -1;
    }
    return elapsed;
}

/* Warm-up values sent before each timed run. */
static uint64_t warmup_for(uint64_t count)
{
    uint64_t warmup = count / 10;
    if (warmup < 1000) {
        return 1000;
    }
    return warmup > 100000 ? 100000 : warmup;
}

typedef struct options {
    uint64_t count; /* 0: size it from a calibration run */
    int repeat;
    bool quick;
    size_t sizes[MAX_SIZES];
    size_t size_count;
    bool transports[TRANSPORT_COUNT]; /* which transports to measure */
} options_t;

static void print_usage(FILE *out)
{
    fprintf(out,
            "Usage: netchan-bench-throughput [--count N] [--repeat R] [--quick] [--size BYTES]\n"
            "                                [--transport raw|netchan]\n"
            "\n"
            "Measures the throughput of raw libzmq PUSH/PULL and of acknowledged netchan\n"
            "values over tcp://127.0.0.1 for 64-byte and 1 KiB values (or --size), and\n"
            "prints a table.\n"
            "\n"
            "  --count N          values per timed run (default: sized by a calibration run\n"
            "                     so that the slower transport's run takes about %.1f s)\n"
            "  --repeat R         runs per transport and size; the median is reported\n"
            "                     (default 3, 1 with --quick; at most %d)\n"
            "  --quick            short runs for a smoke test: about %.1f s per run\n"
            "  --size BYTES       measure only values of this size, from %d to %d bytes\n"
            "  --transport NAME   measure only raw libzmq or only netchan, for profiling\n",
            TARGET_SECONDS, MAX_REPEAT, QUICK_SECONDS, MIN_SIZE, MAX_SIZE);
}

/* Parses a positive decimal integer. Returns false when text is not one. */
static bool parse_positive(const char *text, uint64_t *value)
{
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || parsed == 0) {
        return false;
    }
    *value = parsed;
    return true;
}

/* Parses the option at argv[*i] and its value, advancing *i past the value. */
static bool parse_option(int argc, char **argv, int *i, options_t *options)
{
    const char *arg = argv[*i];
    const char *next = *i + 1 < argc ? argv[*i + 1] : NULL;
    uint64_t value = 0;

    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        print_usage(stdout);
        exit(0);
    }
    if (strcmp(arg, "--quick") == 0) {
        options->quick = true;
        return true;
    }
    if (strcmp(arg, "--count") != 0 && strcmp(arg, "--repeat") != 0 && strcmp(arg, "--size") != 0 &&
        strcmp(arg, "--transport") != 0) {
        fprintf(stderr, "netchan-bench-throughput: unknown option '%s' (see --help)\n", arg);
        return false;
    }
    (*i)++;

    if (strcmp(arg, "--transport") == 0) {
        for (int t = 0; t < TRANSPORT_COUNT; t++) {
            options->transports[t] = next != NULL && strcmp(next, transport_options[t]) == 0;
        }
        if (!options->transports[TRANSPORT_RAW] && !options->transports[TRANSPORT_NETCHAN]) {
            fprintf(stderr,
                    "netchan-bench-throughput: --transport needs 'raw' or 'netchan', got '%s'\n",
                    next != NULL ? next : "");
            return false;
        }
        return true;
    }
    if (!parse_positive(next, &value)) {
        fprintf(stderr, "netchan-bench-throughput: %s needs a positive integer, got '%s'\n", arg,
                next != NULL ? next : "");
        return false;
    }
    if (strcmp(arg, "--count") == 0) {
        options->count = value;
    } else if (strcmp(arg, "--repeat") == 0) {
        if (value > MAX_REPEAT) {
            fprintf(stderr,
                    "netchan-bench-throughput: --repeat %" PRIu64 " is above the maximum of %d\n",
                    value, MAX_REPEAT);
            return false;
        }
        options->repeat = (int)value;
    } else {
        if (value < MIN_SIZE || value > MAX_SIZE) {
            fprintf(stderr,
                    "netchan-bench-throughput: --size %" PRIu64 " is outside %d to %d bytes\n",
                    value, MIN_SIZE, MAX_SIZE);
            return false;
        }
        options->sizes[0] = (size_t)value;
        options->size_count = 1;
    }
    return true;
}

static bool parse_options(int argc, char **argv, options_t *options)
{
    memset(options, 0, sizeof(*options));
    memcpy(options->sizes, default_sizes, sizeof(default_sizes));
    options->size_count = MAX_SIZES;
    options->transports[TRANSPORT_RAW] = true;
    options->transports[TRANSPORT_NETCHAN] = true;
    for (int i = 1; i < argc; i++) {
        if (!parse_option(argc, argv, &i, options)) {
            return false;
        }
    }
    if (options->repeat == 0) {
        options->repeat = options->quick ? 1 : 3;
    }
    return true;
}

/* Picks the count for size from one short run of each transport measured, which also warms up
 * the process. Returns 0 when a calibration run failed. */
static uint64_t calibrate(const options_t *options, size_t size)
{
    uint64_t count = options->quick ? QUICK_CALIBRATION_COUNT : CALIBRATION_COUNT;
    double slowest = 0;
    for (int t = 0; t < TRANSPORT_COUNT; t++) {
        if (!options->transports[t]) {
            continue;
        }
        double seconds = measure((transport_t)t, size, warmup_for(count), count);
        if (seconds < 0) {
            return 0;
        }
        slowest = seconds > slowest ? seconds : slowest;
    }
    double rate = (double)count / (slowest > 1e-6 ? slowest : 1e-6);
    return round_count(rate * (options->quick ? QUICK_SECONDS : TARGET_SECONDS));
}

/* Measured rates in values per second, by size, transport and repeat. */
typedef struct results {
    uint64_t counts[MAX_SIZES];
    double rates[MAX_SIZES][TRANSPORT_COUNT][MAX_REPEAT];
} results_t;

/* Runs every measurement. Returns false after a failed run, which has printed why. */
static bool run_all(const options_t *options, results_t *results)
{
    for (size_t s = 0; s < options->size_count; s++) {
        results->counts[s] =
            options->count != 0 ? options->count : calibrate(options, options->sizes[s]);
        if (results->counts[s] == 0) {
            return false;
        }
    }

    for (int r = 0; r < options->repeat; r++) {
        for (size_t s = 0; s < options->size_count; s++) {
            /* Alternate which transport runs first, so neither always follows the other. */
            for (int k = 0; k < TRANSPORT_COUNT; k++) {
                int t = (k + r) % TRANSPORT_COUNT;
                if (!options->transports[t]) {
                    continue;
                }
                uint64_t count = results->counts[s];
                double seconds =
                    measure((transport_t)t, options->sizes[s], warmup_for(count), count);
                if (seconds < 0) {
                    return false;
                }
                results->rates[s][t][r] = (double)count / seconds;
                char text[32];
                fprintf(stderr, "run %d/%d, %4zu B, %-20s %7.3f s  %s values/s\n", r + 1,
                        options->repeat, options->sizes[s], transport_names[t], seconds,
                        format_count(text, sizeof(text), (uint64_t)results->rates[s][t][r]));
            }
        }
    }
    return true;
}

/* Prints the table of medians and, when both transports ran, the ratios. */
static void print_report(const options_t *options, const results_t *results)
{
    bool both = options->transports[TRANSPORT_RAW] && options->transports[TRANSPORT_NETCHAN];
    int repeat = options->repeat;
    int major = 0;
    int minor = 0;
    int patch = 0;
    zmq_version(&major, &minor, &patch);
    printf("netchan %s against libzmq %d.%d.%d over TCP loopback (tcp://127.0.0.1)\n",
           netchan_version(), major, minor, patch);
    printf("median of %d run(s) per row; MB = 10^6 bytes of payload\n\n", repeat);
    printf("| value size | values per run | transport | values/s | MB/s | MB/s min-max "
           "| netchan/raw |\n");
    printf("|---:|---:|---|---:|---:|---:|---:|\n");

    for (size_t s = 0; s < options->size_count; s++) {
        double medians[TRANSPORT_COUNT] = {0};
        for (int t = 0; t < TRANSPORT_COUNT; t++) {
            if (options->transports[t]) {
                medians[t] = median(results->rates[s][t], (size_t)repeat);
            }
        }
        for (int t = 0; t < TRANSPORT_COUNT; t++) {
            if (!options->transports[t]) {
                continue;
            }
            const double *rates = results->rates[s][t];
            double low = rates[0];
            double high = rates[0];
            for (int r = 1; r < repeat; r++) {
                low = rates[r] < low ? rates[r] : low;
                high = rates[r] > high ? rates[r] : high;
            }
            double megabytes = (double)options->sizes[s] / 1e6;
            char count_text[32];
            char rate_text[32];
            char ratio_text[16] = "";
            if (both && t == TRANSPORT_NETCHAN) {
                snprintf(ratio_text, sizeof(ratio_text), "%.2f",
                         medians[TRANSPORT_NETCHAN] / medians[TRANSPORT_RAW]);
            }
            printf("| %zu B | %s | %s | %s | %.1f | %.1f-%.1f | %s |\n", options->sizes[s],
                   format_count(count_text, sizeof(count_text), results->counts[s]),
                   transport_names[t],
                   format_count(rate_text, sizeof(rate_text), (uint64_t)medians[t]),
                   medians[t] * megabytes, low * megabytes, high * megabytes, ratio_text);
        }
    }

    if (!both) {
        return;
    }
    printf("\nnetchan/raw per repeat:");
    for (size_t s = 0; s < options->size_count; s++) {
        printf(" %zu B:", options->sizes[s]);
        for (int r = 0; r < repeat; r++) {
            printf(" %.2f",
                   results->rates[s][TRANSPORT_NETCHAN][r] / results->rates[s][TRANSPORT_RAW][r]);
        }
        printf(s + 1 < options->size_count ? ";" : "\n");
    }
}

int main(int argc, char **argv)
{
    options_t options;
    if (!parse_options(argc, argv, &options)) {
        return 2;
    }
    static results_t results;
    if (!run_all(&options, &results)) {
        return 1;
    }
    print_report(&options, &results);
    return 0;
}
