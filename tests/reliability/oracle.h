/* The oracle that judges every reliability scenario from its record files (records.h).
 *
 * It checks, from the senders' and the receivers' records together:
 * - no loss: every value a sender counted as sent was acknowledged by a receiver (taken on an
 *   automatic-acknowledgement channel, or acknowledged on an explicit one). Only as many as the
 *   sender's drain reported still pending may be missing, and none after a drain that returned
 *   "ok";
 * - no unexplained duplicate: a value taken twice is an error unless the rules allow the
 *   documented case. There, every take but one is by a receiver that did not end cleanly, no
 *   receiver takes it twice, and each later take has a higher delivery attempt;
 * - order: each receiver takes each sender's values in increasing order, except that a
 *   redelivered value (attempt above 1) may follow newer ones where the rules allow it;
 * - integrity: no corrupted payload, no value that was never sent;
 * - no crash or hang of a sender: every sender recorded its end and its drain;
 * - recovery: after each heal, every value sent before it (up to the sender's first mark after
 *   the heal) was taken within the rules' bound.
 */
#ifndef NETCHAN_REL_ORACLE_H
#define NETCHAN_REL_ORACLE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct oracle_rules {
    uint32_t senders;               /* senders expected in the records, 0 for any number */
    bool strict_order;              /* redelivered values must keep the order too */
    bool lost_receivers_may_repeat; /* allow the documented duplicate case described above */
    bool require_drained;           /* every sender's drain must have returned "ok" */
    int64_t recovery_bound_ms;      /* 0: no heal to check */
} oracle_rules_t;

typedef struct oracle_result {
    uint64_t senders;
    uint64_t receivers;
    uint64_t receivers_lost; /* receivers without a "done" line */
    uint64_t sent;
    uint64_t delivered;
    uint64_t missing;          /* sent and never acknowledged */
    uint64_t reported_pending; /* the senders' drains reported this many as pending */
    uint64_t takes;
    uint64_t redelivered_takes; /* takes with a delivery attempt above 1 */
    uint64_t repeats;           /* takes of a value that had been taken before */
    uint64_t late_redeliveries; /* redelivered values that came after newer ones */
    int64_t recovery_ms;        /* the maximum recovery time after a heal, -1 without one */
    uint64_t errors;
} oracle_result_t;

typedef struct oracle oracle_t;

/* Reads every file ending in ".rec" in directory. Returns NULL with a message when it cannot. */
oracle_t *oracle_load(const char *directory);

/* Applies the checks, prints each problem (the first few of each kind) and a summary as TAP
 * comments, and fills result. Returns true when nothing is wrong. */
bool oracle_check(oracle_t *oracle, const oracle_rules_t *rules, oracle_result_t *result);

/* Counts the events recorded by who ("exporter" or "importer") of type ("lost", "resumed"...),
 * with any reason when reason is NULL, between since_ms and until_ms inclusive. */
uint64_t oracle_count_events(const oracle_t *oracle, const char *who, const char *type,
                             const char *reason, int64_t since_ms, int64_t until_ms);

/* Returns the time of the last heal line, or -1. */
int64_t oracle_last_heal(const oracle_t *oracle);

void oracle_free(oracle_t **oracle_p);

#endif
