/* Payloads and record files; see records.h for the formats. */
#define _GNU_SOURCE

#include "records.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t rel_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char fill_letter(uint64_t seq, size_t index)
{
    return (char)('a' + (seq * 7 + index) % 26);
}

void rel_payload_fill(uint8_t *buffer, size_t size, uint32_t sender, uint64_t seq)
{
    char head[48];
    int length = snprintf(head, sizeof(head), "%" PRIu32 " %" PRIu64 " ", sender, seq);
    size_t n = (size_t)length < size ? (size_t)length : size;
    memcpy(buffer, head, n);
    for (size_t i = n; i < size; i++) {
        buffer[i] = (uint8_t)fill_letter(seq, i);
    }
}

bool rel_payload_parse(const uint8_t *data, size_t size, uint32_t *sender_p, uint64_t *seq_p)
{
    char head[48];
    size_t n = size < sizeof(head) - 1 ? size : sizeof(head) - 1;
    memcpy(head, data, n);
    head[n] = '\0';
    unsigned long long sender = 0;
    unsigned long long seq = 0;
    int consumed = 0;
    if (sscanf(head, "%llu %llu %n", &sender, &seq, &consumed) != 2 || consumed == 0 ||
        sender > UINT32_MAX) {
        return false;
    }
    /* sscanf's trailing space also skipped any fill that started with a blank; there is none. */
    for (size_t i = (size_t)consumed; i < size; i++) {
        if (data[i] != (uint8_t)fill_letter(seq, i)) {
            return false;
        }
    }
    *sender_p = (uint32_t)sender;
    *seq_p = seq;
    return true;
}

rel_record_t *rel_record_open(const char *path)
{
    rel_record_t *record = calloc(1, sizeof(*record));
    if (record == NULL) {
        return NULL;
    }
    record->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (record->fd < 0) {
        fprintf(stderr, "cannot open record file %s: %s\n", path, strerror(errno));
        free(record);
        return NULL;
    }
    pthread_mutex_init(&record->mu, NULL);
    return record;
}

/* Writes the buffer; the caller holds record->mu. */
static void flush_locked(rel_record_t *record)
{
    size_t done = 0;
    while (done < record->used) {
        ssize_t n = write(record->fd, record->buffer + done, record->used - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fprintf(stderr, "cannot write a record file: %s\n", strerror(errno));
            break;
        }
        done += (size_t)n;
    }
    record->used = 0;
}

void rel_record_line(rel_record_t *record, const char *format, ...)
{
    if (record == NULL) {
        return;
    }
    char line[512];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(line, sizeof(line) - 1, format, args);
    va_end(args);
    if (length < 0) {
        return;
    }
    if ((size_t)length > sizeof(line) - 2) {
        length = (int)sizeof(line) - 2;
    }
    line[length++] = '\n';

    pthread_mutex_lock(&record->mu);
    if (record->used + (size_t)length > sizeof(record->buffer)) {
        flush_locked(record);
    }
    memcpy(record->buffer + record->used, line, (size_t)length);
    record->used += (size_t)length;
    pthread_mutex_unlock(&record->mu);
}

void rel_record_flush(rel_record_t *record)
{
    if (record == NULL) {
        return;
    }
    pthread_mutex_lock(&record->mu);
    flush_locked(record);
    pthread_mutex_unlock(&record->mu);
}

void rel_record_close(rel_record_t **record_p)
{
    if (record_p == NULL || *record_p == NULL) {
        return;
    }
    rel_record_t *record = *record_p;
    rel_record_flush(record);
    close(record->fd);
    pthread_mutex_destroy(&record->mu);
    free(record);
    *record_p = NULL;
}
