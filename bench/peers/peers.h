/* netchan-bench-peers: one measurement of one system under one workload per process run.
 *
 * bench/peers.py starts the brokers, runs this program once per measurement in an interleaved
 * order, and turns the JSON line that each run prints into tables and a chart. Every system
 * implements the operations of system_ops_t. The workload drivers (throughput.c, latency.c,
 * memory.c) own the threads, the clock and the checks, so that every system is timed the same
 * way. */
#ifndef BENCH_PEERS_H
#define BENCH_PEERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
    ERROR_SIZE = 512,
    ENDPOINT_SIZE = 256,
    IO_TIMEOUT_MS = 10000, /* maximum wait for one send, receive or settle before a run fails */
    POLL_TIMEOUT_MS = 100, /* receive timeout after which a receiver checks whether the run ended */
    MAX_RECEIVERS = 16,
    MIN_VALUE_SIZE = 8, /* room for the index that each value carries */
    MAX_VALUE_SIZE = 1 << 20,
};

/* The command line of one run. */
typedef struct config {
    const char *system;
    const char *workload;
    size_t size;            /* bytes per value */
    int receivers;          /* throughput: competing receivers */
    double seconds;         /* throughput: how long the sender sends after the warm-up */
    uint64_t max_values;    /* throughput: the sender stops after this many values at the latest */
    int rate;               /* latency: round trips started per second */
    int samples;            /* latency: round trips measured */
    uint64_t memory_values; /* memory: values queued for the slow receiver */
    uint32_t capacity;      /* memory: netchan's channel capacity, raw libzmq's send HWM */
    int interval_ms;        /* memory: the slow receiver takes one value per interval */
    const char *nats_url;
    const char *redis_host;
    int redis_port;
    pid_t server_pid;     /* memory: the broker process, whose memory is reported too */
    const char *endpoint; /* memory receiver process: where to connect */
} config_t;

/* One throughput or memory run: what the sender thread, the receiver threads and the system's
 * operations share. */
typedef struct run {
    const config_t *config;
    size_t size;
    int receivers;
    bool memory;                  /* set up the sending side only; a child process receives */
    void *state;                  /* the system's own */
    char endpoint[ENDPOINT_SIZE]; /* memory: what the receiving process connects to */

    uint64_t max_values;                /* size of the seen bitmap, in values */
    _Atomic uint64_t *seen;             /* one bit per index received, to catch duplicates */
    uint64_t next_index[MAX_RECEIVERS]; /* per receiver: lowest index it may still receive */
    atomic_uint_fast64_t received;      /* values received and acknowledged, warm-up included */
    atomic_uint_fast64_t target;        /* values sent in all; UINT64_MAX while the sender runs */
    atomic_bool done;                   /* every value sent has been received */
    atomic_bool failed;
    pthread_mutex_t lock; /* guards error and the end times */
    char error[ERROR_SIZE];

    int64_t start_ns;        /* the timed part begins */
    int64_t sender_end_ns;   /* the sender's flush returned after the last value */
    int64_t receiver_end_ns; /* the receivers took the last value, or 0 */
} run_t;

/* One latency run. */
typedef struct latency {
    const config_t *config;
    void *state;
    atomic_bool stop;
    atomic_bool failed;
    pthread_mutex_t lock;
    char error[ERROR_SIZE];
} latency_t;

/* What a system implements. Operations return false, or a negative count, after recording the
 * reason with run_fail() or latency_fail(). */
typedef struct system_ops {
    const char *name;  /* as given to --system */
    const char *label; /* as printed in tables */
    /* Set when the system was left out of this build; the run prints it and exits with 3. */
    const char *missing;
    /* Writes the client library's name and version, such as "libzmq 4.3.4", into buffer. */
    void (*client_version)(char *buffer, size_t size);

    /* Throughput and memory. setup() builds the sender and run->receivers receivers (none for
     * memory, where it fills run->endpoint). send() queues one value on the sender thread.
     * flush() returns once everything sent so far is as settled as the system can tell the
     * sender: acknowledged for netchan, stored for the brokers, handed over for raw libzmq.
     * receive() takes up to a batch on receiver i, checks every value with run_check_value(),
     * acknowledges them and returns how many it took, 0 after timeout_ms without any. settle(),
     * which may be NULL, runs once every value was received and returns once the broker has
     * recorded every acknowledgement. */
    bool (*setup)(run_t *run);
    bool (*send)(run_t *run, const uint8_t *data, size_t size);
    bool (*flush)(run_t *run);
    int (*receive)(run_t *run, int receiver, int timeout_ms);
    bool (*settle)(run_t *run);
    void (*teardown)(run_t *run);

    /* Memory: the main function of the slow receiving process, which connects to endpoint,
     * prints "ready" once it has taken its first value and then takes one value per
     * config->interval_ms until it is killed. Returns an exit status. */
    int (*memory_receiver)(const config_t *config, const char *endpoint);

    /* Latency. echo() waits up to timeout_ms for one request and sends it back as the reply,
     * returning 1, or 0 when none came. round_trip() sends one request and waits for its
     * reply. */
    bool (*latency_setup)(latency_t *latency);
    int (*echo)(latency_t *latency, int timeout_ms);
    bool (*round_trip)(latency_t *latency, const uint8_t *data, size_t size);
    void (*latency_teardown)(latency_t *latency);
} system_ops_t;

extern const system_ops_t zmq_system;
extern const system_ops_t netchan_system;
extern const system_ops_t netchan_unacked_system;
extern const system_ops_t jetstream_system;
extern const system_ops_t redis_system;

/* Shared helpers (main.c). */
int64_t now_ns(void);
void sleep_ms(int milliseconds);
void run_fail(run_t *run, const char *format, ...) __attribute__((format(printf, 2, 3)));
void latency_fail(latency_t *latency, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* Checks the size and index of a value taken by receiver i, and that no receiver took that
 * index before. Records the failure and returns false otherwise. */
bool run_check_value(run_t *run, int receiver, const uint8_t *data, size_t size);
void stamp_index(uint8_t *payload, size_t size, uint64_t index);
/* Checks that a reply equals its request. Records the failure and returns false otherwise. */
bool latency_check_reply(latency_t *latency, const uint8_t *request, const uint8_t *reply,
                         size_t request_size, size_t reply_size);
uint8_t *new_payload(size_t size);

/* Workload drivers. Each prints one JSON line on success and returns the exit status. */
int run_throughput(const system_ops_t *ops, const config_t *config);
int run_latency(const system_ops_t *ops, const config_t *config);
int run_memory(const system_ops_t *ops, const config_t *config);

#endif
