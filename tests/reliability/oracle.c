/* The oracle; see oracle.h for what it checks and records.h for the lines it reads. */
#define _GNU_SOURCE

#include "oracle.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many problems of one kind are printed before the rest are only counted. */
#define PRINT_LIMIT 10

/* The state of one value, collected from the records. */
typedef struct value_state {
    int64_t first_at; /* the time of the first take read, which need not be the earliest */
    int64_t last_at;  /* the latest take */
    uint32_t first_receiver;
    uint32_t acked_by; /* the last receiver that wrote an ack line for it, plus one */
    uint16_t takes;
    uint8_t first_attempts;
    bool delivered;
} value_state_t;

typedef struct mark {
    uint64_t seq;
    int64_t at;
} mark_t;

typedef struct sender_state {
    bool seen;
    bool finished;
    bool drained;
    bool drain_ok;
    uint64_t sent;
    uint64_t pending;
    value_state_t *values; /* indexed by seq - 1 */
    uint64_t value_cap;
    mark_t *marks;
    size_t mark_count;
    size_t mark_cap;
} sender_state_t;

typedef struct receiver_state {
    bool seen;
    bool explicit_ack;
    bool done;
    bool confirmed; /* the sender confirmed its acknowledgements ("confirmed" or "done") */
} receiver_state_t;

/* One take of a value that was taken more than once. */
typedef struct repeat {
    uint32_t sender;
    uint64_t seq;
    uint32_t receiver;
    uint32_t attempts;
    int64_t at;
} repeat_t;

/* A take that came after a newer value of the same sender at the same receiver. */
typedef struct order_sample {
    uint32_t receiver;
    uint32_t sender;
    uint64_t seq;
    uint64_t after;
    uint32_t attempts;
} order_sample_t;

typedef struct event_line {
    char who[16];
    char type[16];
    char reason[16];
    int64_t at;
} event_line_t;

/* The last seq a receiver took from a sender, in a hash table keyed by both ids. */
typedef struct order_slot {
    uint64_t key; /* receiver << 32 | sender, plus one so that zero marks a free slot */
    uint64_t last_seq;
} order_slot_t;

struct oracle {
    char directory[512];
    char **files;
    size_t file_count;

    sender_state_t *senders; /* indexed by sender id */
    size_t sender_cap;
    receiver_state_t *receivers; /* indexed by receiver id */
    size_t receiver_cap;

    repeat_t *repeats;
    size_t repeat_count;
    size_t repeat_cap;

    event_line_t *events;
    size_t event_count;
    size_t event_cap;

    int64_t *heals;
    size_t heal_count;
    size_t heal_cap;

    order_slot_t *order;
    size_t order_cap;
    size_t order_used;

    /* out-of-order takes: first attempts, and redeliveries (attempt above 1) */
    order_sample_t order_samples[PRINT_LIMIT];
    uint64_t order_errors;
    order_sample_t late_samples[PRINT_LIMIT];

    oracle_result_t result;
    unsigned printed_corrupt;
    unsigned printed_other;
};

/* ---- growing arrays ---- */

static bool grow(void **items, size_t *cap, size_t needed, size_t item_size)
{
    if (needed <= *cap) {
        return true;
    }
    size_t new_cap = *cap ? *cap : 16;
    while (new_cap < needed) {
        new_cap *= 2;
    }
    void *grown = realloc(*items, new_cap * item_size);
    if (grown == NULL) {
        return false;
    }
    memset((char *)grown + *cap * item_size, 0, (new_cap - *cap) * item_size);
    *items = grown;
    *cap = new_cap;
    return true;
}

static sender_state_t *sender_at(oracle_t *oracle, uint32_t id)
{
    if (!grow((void **)&oracle->senders, &oracle->sender_cap, (size_t)id + 1,
              sizeof(*oracle->senders))) {
        return NULL;
    }
    oracle->senders[id].seen = true;
    return &oracle->senders[id];
}

static receiver_state_t *receiver_at(oracle_t *oracle, uint32_t id)
{
    if (!grow((void **)&oracle->receivers, &oracle->receiver_cap, (size_t)id + 1,
              sizeof(*oracle->receivers))) {
        return NULL;
    }
    return &oracle->receivers[id];
}

static value_state_t *value_at(sender_state_t *sender, uint64_t seq)
{
    if (seq == 0 ||
        !grow((void **)&sender->values, &sender->value_cap, seq, sizeof(*sender->values))) {
        return NULL;
    }
    return &sender->values[seq - 1];
}

/* Returns the slot of the pair in the order table, adding it when absent. */
static order_slot_t *order_slot(oracle_t *oracle, uint32_t receiver, uint32_t sender)
{
    if (oracle->order_used * 2 >= oracle->order_cap) {
        size_t cap = oracle->order_cap ? oracle->order_cap * 2 : 1024;
        order_slot_t *slots = calloc(cap, sizeof(*slots));
        if (slots == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < oracle->order_cap; i++) {
            order_slot_t *old = &oracle->order[i];
            if (old->key == 0) {
                continue;
            }
            size_t j = (size_t)(old->key * 0x9e3779b97f4a7c15ull) & (cap - 1);
            while (slots[j].key != 0) {
                j = (j + 1) & (cap - 1);
            }
            slots[j] = *old;
        }
        free(oracle->order);
        oracle->order = slots;
        oracle->order_cap = cap;
    }
    uint64_t key = ((uint64_t)receiver << 32 | sender) + 1;
    size_t j = (size_t)(key * 0x9e3779b97f4a7c15ull) & (oracle->order_cap - 1);
    while (oracle->order[j].key != 0 && oracle->order[j].key != key) {
        j = (j + 1) & (oracle->order_cap - 1);
    }
    if (oracle->order[j].key == 0) {
        oracle->order[j].key = key;
        oracle->order_used++;
    }
    return &oracle->order[j];
}

/* ---- reading the records ---- */

static void problem(oracle_t *oracle, unsigned *printed, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(oracle_t *oracle, unsigned *printed, const char *format, ...)
{
    oracle->result.errors++;
    if ((*printed)++ >= PRINT_LIMIT) {
        return;
    }
    va_list args;
    va_start(args, format);
    printf("# oracle: ");
    vprintf(format, args);
    printf("\n");
    va_end(args);
}

static void read_take(oracle_t *oracle, const char *line)
{
    uint32_t receiver_id = 0;
    uint32_t sender_id = 0;
    uint64_t seq = 0;
    uint32_t attempts = 0;
    int64_t at = 0;
    int redelivered = 0; /* netchan_msg_redelivered(), where the taker records it */
    int fields = sscanf(line, "take %" SCNu32 " %" SCNu32 " %" SCNu64 " %" SCNu32 " %" SCNd64 " %d",
                        &receiver_id, &sender_id, &seq, &attempts, &at, &redelivered);
    if (fields < 5) {
        problem(oracle, &oracle->printed_other, "malformed line '%s'", line);
        return;
    }
    receiver_state_t *receiver = receiver_at(oracle, receiver_id);
    sender_state_t *sender = sender_at(oracle, sender_id);
    value_state_t *value = sender != NULL ? value_at(sender, seq) : NULL;
    if (receiver == NULL || value == NULL) {
        problem(oracle, &oracle->printed_other, "cannot keep the take '%s'", line);
        return;
    }
    if (!receiver->seen) {
        problem(oracle, &oracle->printed_other,
                "receiver %" PRIu32 " took a value before its "
                "receiver line",
                receiver_id);
    }
    oracle->result.takes++;
    oracle->result.redelivered_takes += attempts > 1;

    if (value->takes == 0) {
        value->first_at = at;
        value->first_receiver = receiver_id;
        value->first_attempts = attempts > 255 ? 255 : (uint8_t)attempts;
    } else {
        oracle->result.repeats++;
        if (value->takes == 1) {
            /* Keep the first take too, so that every take of the value can be compared. */
            repeat_t first = {sender_id, seq, value->first_receiver, value->first_attempts,
                              value->first_at};
            if (grow((void **)&oracle->repeats, &oracle->repeat_cap, oracle->repeat_count + 1,
                     sizeof(*oracle->repeats))) {
                oracle->repeats[oracle->repeat_count++] = first;
            }
        }
        repeat_t again = {sender_id, seq, receiver_id, attempts, at};
        if (grow((void **)&oracle->repeats, &oracle->repeat_cap, oracle->repeat_count + 1,
                 sizeof(*oracle->repeats))) {
            oracle->repeats[oracle->repeat_count++] = again;
        }
    }
    if (value->takes < UINT16_MAX) {
        value->takes++;
    }
    if (at > value->last_at) {
        value->last_at = at;
    }
    if (!receiver->explicit_ack) {
        value->delivered = true;
    }

    order_slot_t *slot = order_slot(oracle, receiver_id, sender_id);
    if (slot != NULL) {
        if (seq <= slot->last_seq) {
            /* Only a value handed to a receiver before may arrive after newer ones: one taken
             * back from a lost receiver, or handed back unseen by one that closed. */
            bool late_allowed = attempts > 1 || redelivered;
            order_sample_t sample = {receiver_id, sender_id, seq, slot->last_seq, attempts};
            uint64_t *count =
                late_allowed ? &oracle->result.late_redeliveries : &oracle->order_errors;
            order_sample_t *samples = late_allowed ? oracle->late_samples : oracle->order_samples;
            if (*count < PRINT_LIMIT) {
                samples[*count] = sample;
            }
            (*count)++;
        } else {
            slot->last_seq = seq;
        }
    }
}

static void read_line(oracle_t *oracle, const char *line, bool first_pass)
{
    char word[16] = "";
    if (sscanf(line, "%15s", word) != 1) {
        return;
    }
    uint32_t id = 0;
    if (first_pass) {
        char mode[16] = "";
        if (strcmp(word, "receiver") == 0 &&
            sscanf(line, "receiver %" SCNu32 " %15s", &id, mode) == 2) {
            receiver_state_t *receiver = receiver_at(oracle, id);
            if (receiver != NULL) {
                receiver->seen = true;
                receiver->explicit_ack = strcmp(mode, "explicit") == 0;
            }
        } else if (strcmp(word, "done") == 0 && sscanf(line, "done %" SCNu32, &id) == 1) {
            receiver_state_t *receiver = receiver_at(oracle, id);
            if (receiver != NULL) {
                receiver->done = true;
                receiver->confirmed = true;
            }
        } else if (strcmp(word, "confirmed") == 0 && sscanf(line, "confirmed %" SCNu32, &id) == 1) {
            receiver_state_t *receiver = receiver_at(oracle, id);
            if (receiver != NULL) {
                receiver->confirmed = true;
            }
        }
        return;
    }

    uint64_t seq = 0;
    uint64_t count = 0;
    int64_t at = 0;
    if (strcmp(word, "take") == 0) {
        read_take(oracle, line);
    } else if (strcmp(word, "ack") == 0) {
        uint32_t sender_id = 0;
        if (sscanf(line, "ack %" SCNu32 " %" SCNu32 " %" SCNu64, &id, &sender_id, &seq) == 3) {
            sender_state_t *sender = sender_at(oracle, sender_id);
            value_state_t *value = sender != NULL ? value_at(sender, seq) : NULL;
            if (value != NULL) {
                value->delivered = true;
                value->acked_by = id + 1;
            }
        }
    } else if (strcmp(word, "mark") == 0) {
        if (sscanf(line, "mark %" SCNu32 " %" SCNu64 " %" SCNd64, &id, &seq, &at) == 3) {
            sender_state_t *sender = sender_at(oracle, id);
            if (sender != NULL && grow((void **)&sender->marks, &sender->mark_cap,
                                       sender->mark_count + 1, sizeof(*sender->marks))) {
                sender->marks[sender->mark_count++] = (mark_t){seq, at};
            }
        }
    } else if (strcmp(word, "sent") == 0) {
        if (sscanf(line, "sent %" SCNu32 " %" SCNu64 " %" SCNd64, &id, &count, &at) == 3) {
            sender_state_t *sender = sender_at(oracle, id);
            if (sender != NULL) {
                sender->finished = true;
                sender->sent = count;
                if (grow((void **)&sender->marks, &sender->mark_cap, sender->mark_count + 1,
                         sizeof(*sender->marks))) {
                    sender->marks[sender->mark_count++] = (mark_t){count, at};
                }
            }
        }
    } else if (strcmp(word, "drain") == 0) {
        char result[32] = "";
        if (sscanf(line, "drain %" SCNu32 " %31s %" SCNu64, &id, result, &count) == 3) {
            sender_state_t *sender = sender_at(oracle, id);
            if (sender != NULL) {
                sender->drained = true;
                sender->drain_ok = strcmp(result, "ok") == 0;
                sender->pending = count;
            }
        }
    } else if (strcmp(word, "corrupt") == 0) {
        problem(oracle, &oracle->printed_corrupt, "%s", line);
    } else if (strcmp(word, "event") == 0) {
        event_line_t event = {0};
        if (sscanf(line, "event %15s %15s %15s %" SCNu64 " %" SCNd64, event.who, event.type,
                   event.reason, &count, &event.at) == 5 &&
            grow((void **)&oracle->events, &oracle->event_cap, oracle->event_count + 1,
                 sizeof(*oracle->events))) {
            oracle->events[oracle->event_count++] = event;
        }
    } else if (strcmp(word, "heal") == 0) {
        if (sscanf(line, "heal %" SCNd64, &at) == 1 &&
            grow((void **)&oracle->heals, &oracle->heal_cap, oracle->heal_count + 1,
                 sizeof(*oracle->heals))) {
            oracle->heals[oracle->heal_count++] = at;
        }
    }
}

static bool read_file(oracle_t *oracle, const char *path, bool first_pass)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        printf("# oracle: cannot read %s: %s\n", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t size = 0;
    ssize_t length;
    while ((length = getline(&line, &size, file)) > 0) {
        if (line[length - 1] != '\n') {
            continue; /* half a line from a killed process */
        }
        line[length - 1] = '\0';
        read_line(oracle, line, first_pass);
    }
    free(line);
    fclose(file);
    return true;
}

oracle_t *oracle_load(const char *directory)
{
    oracle_t *oracle = calloc(1, sizeof(*oracle));
    if (oracle == NULL) {
        return NULL;
    }
    snprintf(oracle->directory, sizeof(oracle->directory), "%s", directory);
    DIR *dir = opendir(directory);
    if (dir == NULL) {
        printf("# oracle: cannot open %s: %s\n", directory, strerror(errno));
        free(oracle);
        return NULL;
    }
    size_t cap = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        size_t length = strlen(entry->d_name);
        if (length < 5 || strcmp(entry->d_name + length - 4, ".rec") != 0) {
            continue;
        }
        char *path = NULL;
        if (asprintf(&path, "%s/%s", directory, entry->d_name) < 0 ||
            !grow((void **)&oracle->files, &cap, oracle->file_count + 1, sizeof(char *))) {
            free(path);
            break;
        }
        oracle->files[oracle->file_count++] = path;
    }
    closedir(dir);

    for (size_t i = 0; i < oracle->file_count; i++) {
        read_file(oracle, oracle->files[i], true);
    }
    for (size_t i = 0; i < oracle->file_count; i++) {
        read_file(oracle, oracle->files[i], false);
    }
    for (size_t id = 0; id < oracle->receiver_cap; id++) {
        if (oracle->receivers[id].seen) {
            oracle->result.receivers++;
            oracle->result.receivers_lost += !oracle->receivers[id].done;
        }
    }
    return oracle;
}

/* ---- the checks ---- */

static int compare_repeats(const void *a, const void *b)
{
    const repeat_t *x = a;
    const repeat_t *y = b;
    if (x->sender != y->sender) {
        return x->sender < y->sender ? -1 : 1;
    }
    if (x->seq != y->seq) {
        return x->seq < y->seq ? -1 : 1;
    }
    return (x->at > y->at) - (x->at < y->at);
}

/* Judges one value taken more than once. repeats[first..end) are its takes, sorted by time. */
static void check_repeated_value(oracle_t *oracle, const oracle_rules_t *rules, size_t first,
                                 size_t end, unsigned *printed)
{
    const repeat_t *takes = &oracle->repeats[first];
    size_t count = end - first;
    const value_state_t *value = &oracle->senders[takes[0].sender].values[takes[0].seq - 1];
    const char *reason = NULL;
    size_t clean = 0;
    for (size_t i = 0; i < count && reason == NULL; i++) {
        receiver_state_t *receiver = receiver_at(oracle, takes[i].receiver);
        clean += receiver != NULL && receiver->done;
        bool later = i + 1 < count;
        if (later && receiver != NULL && receiver->done) {
            reason = "it was taken again after a receiver that ended cleanly took it";
        } else if (later && receiver != NULL && receiver->confirmed &&
                   value->acked_by == takes[i].receiver + 1) {
            reason = "it was taken again after the sender confirmed its acknowledgement";
        }
        for (size_t j = 0; j < i; j++) {
            if (takes[j].receiver == takes[i].receiver) {
                reason = "one receiver took it twice";
            }
        }
        if (i > 0 && takes[i].attempts <= takes[i - 1].attempts) {
            reason = "a later take does not have a higher delivery attempt";
        }
    }
    if (reason == NULL && !rules->lost_receivers_may_repeat) {
        reason = "no receiver was lost in this scenario";
    }
    if (reason == NULL && clean > 1) {
        reason = "more than one receiver that ended cleanly took it";
    }
    if (reason == NULL) {
        return;
    }
    char detail[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < count && used < sizeof(detail) - 40; i++) {
        used += (size_t)snprintf(detail + used, sizeof(detail) - used,
                                 " [receiver %" PRIu32 " attempt %" PRIu32 " at %" PRId64 "]",
                                 takes[i].receiver, takes[i].attempts, takes[i].at);
    }
    problem(oracle, printed,
            "duplicate: value %" PRIu64 " of sender %" PRIu32 " taken %zu times, "
            "but %s:%s",
            takes[0].seq, takes[0].sender, count, reason, detail);
}

static void check_repeats(oracle_t *oracle, const oracle_rules_t *rules)
{
    if (oracle->repeat_count > 0) {
        qsort(oracle->repeats, oracle->repeat_count, sizeof(*oracle->repeats), compare_repeats);
    }
    unsigned printed = 0;
    size_t first = 0;
    while (first < oracle->repeat_count) {
        size_t end = first + 1;
        while (end < oracle->repeat_count &&
               oracle->repeats[end].sender == oracle->repeats[first].sender &&
               oracle->repeats[end].seq == oracle->repeats[first].seq) {
            end++;
        }
        check_repeated_value(oracle, rules, first, end, &printed);
        first = end;
    }
}

/* Returns the seq of sender's first mark at or after at, or everything it sent. */
static uint64_t sent_by(const sender_state_t *sender, int64_t at)
{
    for (size_t i = 0; i < sender->mark_count; i++) {
        if (sender->marks[i].at >= at) {
            return sender->marks[i].seq;
        }
    }
    return sender->sent;
}

static void check_senders(oracle_t *oracle, const oracle_rules_t *rules)
{
    oracle_result_t *result = &oracle->result;
    unsigned printed_loss = 0;
    unsigned printed_end = 0;
    for (size_t id = 0; id < oracle->sender_cap; id++) {
        sender_state_t *sender = &oracle->senders[id];
        if (!sender->seen) {
            continue;
        }
        result->senders++;
        if (!sender->finished || !sender->drained) {
            problem(oracle, &printed_end, "sender %zu recorded no %s: it crashed or hung", id,
                    sender->finished ? "drain" : "end of sending");
        } else if (rules->require_drained && !sender->drain_ok) {
            problem(oracle, &printed_end,
                    "sender %zu: drain did not return ok (%" PRIu64 " pending)", id,
                    sender->pending);
        }
        result->sent += sender->sent;
        result->reported_pending += sender->drain_ok ? 0 : sender->pending;

        uint64_t missing = 0;
        uint64_t first_missing = 0;
        for (uint64_t seq = 1; seq <= sender->sent; seq++) {
            value_state_t *value = seq <= sender->value_cap ? &sender->values[seq - 1] : NULL;
            if (value != NULL && value->delivered) {
                result->delivered++;
            } else {
                missing += 1;
                first_missing = first_missing ? first_missing : seq;
            }
        }
        for (uint64_t seq = sender->sent + 1; sender->finished && seq <= sender->value_cap; seq++) {
            if (sender->values[seq - 1].takes > 0) {
                problem(oracle, &printed_loss,
                        "sender %zu sent %" PRIu64 " values, yet value %" PRIu64 " was taken", id,
                        sender->sent, seq);
                break;
            }
        }
        result->missing += missing;
        uint64_t allowed = sender->drain_ok ? 0 : sender->pending;
        if (missing > allowed) {
            problem(oracle, &printed_loss,
                    "loss: sender %zu: %" PRIu64 " of %" PRIu64
                    " values never acknowledged (the first is %" PRIu64 "), but its drain "
                    "reported %" PRIu64 " pending",
                    id, missing, sender->sent, first_missing, allowed);
        }
    }
    if (rules->senders > 0 && result->senders != rules->senders) {
        problem(oracle, &printed_end, "%" PRIu64 " senders recorded, expected %" PRIu32,
                result->senders, rules->senders);
    }
}

static void check_recovery(oracle_t *oracle, const oracle_rules_t *rules)
{
    oracle_result_t *result = &oracle->result;
    result->recovery_ms = -1;
    if (rules->recovery_bound_ms <= 0) {
        return;
    }
    if (oracle->heal_count == 0) {
        problem(oracle, &oracle->printed_other, "no heal was recorded");
        return;
    }
    for (size_t h = 0; h < oracle->heal_count; h++) {
        int64_t heal = oracle->heals[h];
        int64_t recovery = 0;
        for (size_t id = 0; id < oracle->sender_cap; id++) {
            sender_state_t *sender = &oracle->senders[id];
            uint64_t last = sent_by(sender, heal);
            for (uint64_t seq = 1; seq <= last && seq <= sender->value_cap; seq++) {
                int64_t taken = sender->values[seq - 1].last_at;
                if (taken - heal > recovery) {
                    recovery = taken - heal;
                }
            }
        }
        if (recovery > result->recovery_ms) {
            result->recovery_ms = recovery;
        }
        if (recovery > rules->recovery_bound_ms) {
            problem(oracle, &oracle->printed_other,
                    "recovery: values sent before the heal at %" PRId64 " were taken up to %" PRId64
                    " ms after it; the bound is %" PRId64 " ms",
                    heal, recovery, rules->recovery_bound_ms);
        }
    }
}

static void print_order_samples(oracle_t *oracle, const order_sample_t *samples, uint64_t count,
                                const char *kind)
{
    for (uint64_t i = 0; i < count && i < PRINT_LIMIT; i++) {
        printf("# oracle: %s: receiver %" PRIu32 " took value %" PRIu64 " of sender %" PRIu32
               " (attempt %" PRIu32 ") after value %" PRIu64 "\n",
               kind, samples[i].receiver, samples[i].seq, samples[i].sender, samples[i].attempts,
               samples[i].after);
    }
    oracle->result.errors += count;
}

bool oracle_check(oracle_t *oracle, const oracle_rules_t *rules, oracle_result_t *result)
{
    oracle_result_t *r = &oracle->result;
    oracle_result_t loaded = *r;
    check_senders(oracle, rules);
    check_repeats(oracle, rules);
    check_recovery(oracle, rules);
    print_order_samples(oracle, oracle->order_samples, oracle->order_errors, "order");
    if (rules->strict_order) {
        print_order_samples(oracle, oracle->late_samples, r->late_redeliveries,
                            "order of a redelivered value");
    }

    printf("# oracle: %" PRIu64 " senders sent %" PRIu64 " values; %" PRIu64
           " acknowledged, %" PRIu64 " missing, %" PRIu64 " reported pending\n",
           r->senders, r->sent, r->delivered, r->missing, r->reported_pending);
    printf("# oracle: %" PRIu64 " receivers (%" PRIu64 " lost) made %" PRIu64 " takes: %" PRIu64
           " redelivered, %" PRIu64 " repeated, %" PRIu64 " redelivered after newer values\n",
           r->receivers, r->receivers_lost, r->takes, r->redelivered_takes, r->repeats,
           r->late_redeliveries);
    if (r->recovery_ms >= 0) {
        printf("# oracle: longest recovery after a heal: %" PRId64 " ms\n", r->recovery_ms);
    }
    printf("# oracle: %" PRIu64 " problems\n", r->errors);
    if (result != NULL) {
        *result = *r;
    }
    bool ok = r->errors == 0;
    *r = loaded; /* so that the checks may run again with other rules */
    return ok;
}

uint64_t oracle_count_events(const oracle_t *oracle, const char *who, const char *type,
                             const char *reason, int64_t since_ms, int64_t until_ms)
{
    uint64_t count = 0;
    for (size_t i = 0; i < oracle->event_count; i++) {
        const event_line_t *event = &oracle->events[i];
        count += strcmp(event->who, who) == 0 && strcmp(event->type, type) == 0 &&
                 (reason == NULL || strcmp(event->reason, reason) == 0) && event->at >= since_ms &&
                 event->at <= until_ms;
    }
    return count;
}

int64_t oracle_last_heal(const oracle_t *oracle)
{
    return oracle->heal_count > 0 ? oracle->heals[oracle->heal_count - 1] : -1;
}

void oracle_free(oracle_t **oracle_p)
{
    if (oracle_p == NULL || *oracle_p == NULL) {
        return;
    }
    oracle_t *oracle = *oracle_p;
    for (size_t i = 0; i < oracle->file_count; i++) {
        free(oracle->files[i]);
    }
    free(oracle->files);
    for (size_t id = 0; id < oracle->sender_cap; id++) {
        free(oracle->senders[id].values);
        free(oracle->senders[id].marks);
    }
    free(oracle->senders);
    free(oracle->receivers);
    free(oracle->repeats);
    free(oracle->events);
    free(oracle->heals);
    free(oracle->order);
    free(oracle);
    *oracle_p = NULL;
}
