/* Values and record files shared by every reliability scenario.
 *
 * A value's payload is text, so that the netchan CLI can carry it as one line:
 * "SENDER SEQ FILL", where SENDER and SEQ are decimal and FILL repeats letters chosen by SEQ up
 * to the value's size. A receiver checks the whole payload, so a corrupted or truncated value is
 * caught.
 *
 * Every participant (a sender, a receiver, the test's controller) appends lines to its own
 * record file, and the oracle (oracle.h) reads all the files of a run. Times are CLOCK_MONOTONIC
 * milliseconds, which every process of the machine shares. The lines:
 *
 *   mark S SEQ T            sender S had sent values 1..SEQ at time T
 *   sent S N T              sender S finished: N values were accepted, numbered 1..N
 *   drain S RESULT P T      sender S drained: RESULT "ok", or "error" and the netchan_err code
 *                           ("error3" for NETCHAN_ETIMEDOUT), with P values still pending
 *   receiver R MODE         receiver R starts; MODE "auto" (acknowledged when taken) or
 *                           "explicit"
 *   take R S SEQ A T        receiver R took value SEQ of sender S on delivery attempt A
 *                           (0 when the receiver cannot know, as with the CLI)
 *   ack R S SEQ             receiver R is about to acknowledge that value
 *   confirmed R             the sender confirmed every acknowledgement receiver R sent so far
 *   done R                  receiver R ended cleanly: every value it took is acknowledged and
 *                           the sender confirmed it
 *   corrupt R TEXT          receiver R took a value whose payload is wrong
 *   event WHO TYPE REASON COUNT T   a netchan event seen by WHO ("exporter", "importer")
 *   fault NAME T / heal T   the controller injected a fault or healed it
 *   stats TEXT / note TEXT  information for the report, ignored by the checks
 *
 * A receiver that may be killed writes its take and ack lines with write(2) before it
 * acknowledges, so its record never misses a value that its sender counts as acknowledged.
 */
#ifndef NETCHAN_REL_RECORDS_H
#define NETCHAN_REL_RECORDS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Smallest payload: room for two 10-digit numbers, two spaces and one fill letter. */
#define REL_MIN_VALUE_SIZE 24

int64_t rel_now_ms(void);

/* Writes the payload of value seq of sender into buffer (size bytes, no terminating NUL). */
void rel_payload_fill(uint8_t *buffer, size_t size, uint32_t sender, uint64_t seq);

/* Parses and checks a payload. Returns true and stores sender and seq when it is intact. */
bool rel_payload_parse(const uint8_t *data, size_t size, uint32_t *sender_p, uint64_t *seq_p);

/* A record file open for appending, safe to use from several threads. Lines are collected in
 * a buffer and written by rel_record_flush(), or when the buffer fills. */
typedef struct rel_record {
    int fd;
    pthread_mutex_t mu;
    char buffer[64 * 1024];
    size_t used;
} rel_record_t;

/* Opens path for appending, creating it. Returns NULL with a message on stderr on failure. */
rel_record_t *rel_record_open(const char *path);
void rel_record_close(rel_record_t **record_p);
void rel_record_line(rel_record_t *record, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void rel_record_flush(rel_record_t *record);

#endif
