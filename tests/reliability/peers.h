/* The sending and receiving loops of the reliability scenarios, shared by the tests (which run
 * them on threads) and by the relpeer helper program (which runs them in child processes), so
 * that every participant writes the same records (records.h). */
#ifndef NETCHAN_REL_PEERS_H
#define NETCHAN_REL_PEERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netchan.h"
#include "records.h"

/* Bound for one blocking send or a receiver waiting for its next value. It only stops a run
 * that hangs; a healthy one never comes close. */
#define REL_STALL_MS 120000

typedef struct rel_sender_config {
    uint32_t id;
    uint64_t count;
    size_t size;                /* bytes per value, at least REL_MIN_VALUE_SIZE */
    double rate;                /* values per second, 0 for as fast as credit allows */
    int drain_timeout_ms;       /* how long the final drain waits */
    bool print_sent;            /* print "sent N" on stdout once every value is sent */
    _Atomic uint64_t *progress; /* optional: values sent so far */
    atomic_bool *stop;          /* optional: ends sending early when set */
} rel_sender_config_t;

/* Sends config->count values on chan (a bytes channel), then closes the channel and drains it.
 * Writes mark lines every 256 values, then sent and drain lines. Returns the drain's result,
 * or the send's error when a send failed. */
netchan_err rel_run_sender(netchan_chan_t *chan, rel_record_t *record,
                           const rel_sender_config_t *config);

typedef enum rel_recv_end {
    REL_RECV_ENDED = 0,   /* the sender closed the channel */
    REL_RECV_LIMIT = 1,   /* took take_limit values */
    REL_RECV_STOPPED = 2, /* the stop flag was set */
    REL_RECV_STALLED = 3, /* nothing arrived for REL_STALL_MS */
    REL_RECV_FAILED = 4,  /* netchan_recv_msg() failed */
} rel_recv_end_t;

typedef struct rel_receiver_config {
    uint32_t id;
    bool explicit_ack;          /* the channel was opened for explicit acknowledgement */
    uint64_t take_limit;        /* stop after this many values, 0 for no limit */
    uint64_t ack_limit;         /* explicit: acknowledge only the first this many values */
    unsigned delay_us;          /* time spent on each value, to make a slow consumer */
    _Atomic uint64_t *progress; /* optional: counts each value taken */
    atomic_bool *stop;          /* optional: ends the loop when set */
} rel_receiver_config_t;

/* Writes the receiver line for config->id; call once before the first rel_run_receiver(). */
void rel_receiver_begin(rel_record_t *record, const rel_receiver_config_t *config);

/* Takes values from chan and writes take lines (and, for explicit acknowledgement, ack lines,
 * written to the file before netchan_msg_ack() is called). *taken_p and *acked_p, when given,
 * receive the counts. */
rel_recv_end_t rel_run_receiver(netchan_chan_t *chan, rel_record_t *record,
                                const rel_receiver_config_t *config, uint64_t *taken_p,
                                uint64_t *acked_p);

/* Ends a receiver cleanly: drains chan (the sender confirms every acknowledgement) and writes
 * the done line when that worked and every value taken was acknowledged. Returns true then. */
bool rel_finish_receiver(netchan_chan_t *chan, rel_record_t *record, uint32_t id, bool all_acked,
                         int timeout_ms);

/* A thread that takes an endpoint's events and writes each as an event line; children also
 * print it on stdout. */
typedef struct rel_watch rel_watch_t;

rel_watch_t *rel_watch_exporter(netchan_exporter_t *exporter, rel_record_t *record, bool print);
rel_watch_t *rel_watch_importer(netchan_importer_t *importer, rel_record_t *record, bool print);
/* Returns how many events of type the watch has seen so far. */
uint64_t rel_watch_count(rel_watch_t *watch, netchan_event_type type);
/* Stops the thread; call before destroying the endpoint. Accepts NULL. */
void rel_watch_stop(rel_watch_t **watch_p);

/* Writes the sending channel's statistics as a stats line, also on stdout when print is set,
 * and returns its redeliveries. */
uint64_t rel_record_sender_stats(rel_record_t *record, netchan_chan_t *chan, const char *who,
                                 bool print);

#endif
