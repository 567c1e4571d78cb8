/* Redis Streams through hiredis, against a redis-server without persistence.
 *
 * Throughput: the sender pipelines XADD commands, reading the replies once per batch, so every
 * value is stored when its batch's replies are read. Each receiver has its own connection and
 * consumer name in one consumer group. It reads batches with XREADGROUP ... COUNT n BLOCK ms
 * STREAMS key > and acknowledges each batch with one XACK naming every entry, whose reply it
 * reads before it counts the batch, so nothing needs settling at the end.
 *
 * Latency: request and reply streams, each with a consumer group. The responder pipelines the
 * reply's XADD with the request's XACK. The client pipelines the XACK of the previous reply with
 * the next request's XADD, so an acknowledgement never costs a round trip of its own. */
#define _GNU_SOURCE

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "peers.h"

#ifdef HAVE_HIREDIS

#include <hiredis/hiredis.h>

#define KEY      "netchan-bench:values"
#define GROUP    "workers"
#define PING_KEY "netchan-bench:ping"
#define PONG_KEY "netchan-bench:pong"
#define ID_SIZE  64

/* Commands per pipelined batch, and entries per XREADGROUP: at most this many, and at most
 * BATCH_BYTES of values. */
#define BATCH_VALUES 1000
#define BATCH_BYTES  (4 << 20)

/* One receiver's XACK command, reused per batch: XACK KEY GROUP id... */
typedef struct acks {
    const char **argv;
    size_t *lengths;
    char (*ids)[ID_SIZE];
} acks_t;

typedef struct redis_state {
    redisContext *sender;                   /* the sender's, or the latency client's */
    int pipelined;                          /* XADD commands whose replies are still unread */
    int batch;                              /* commands per batch and entries per read */
    redisContext *receivers[MAX_RECEIVERS]; /* latency: the responder uses receivers[0] */
    acks_t acks[MAX_RECEIVERS];
    char last_reply_id[ID_SIZE]; /* latency client: the reply to acknowledge with the next
                                  * request, or "" */
} redis_state_t;

/* Connects with timeouts long enough for the longest BLOCK of a run. */
static redisContext *connect_redis(const config_t *config, char *error, size_t size)
{
    struct timeval timeout = {IO_TIMEOUT_MS / 1000 + 5, 0};
    redisContext *context =
        redisConnectWithTimeout(config->redis_host, config->redis_port, timeout);
    if (context == NULL || context->err != 0) {
        snprintf(error, size, "connecting to redis at %s:%d failed: %s", config->redis_host,
                 config->redis_port, context != NULL ? context->errstr : "out of memory");
        redisFree(context);
        return NULL;
    }
    redisSetTimeout(context, timeout);
    return context;
}

/* Checks a reply. Returns false, with the reason in error, for a missing or error reply. */
static bool reply_ok(redisContext *context, redisReply *reply, const char *command, char *error,
                     size_t size)
{
    if (reply == NULL) {
        snprintf(error, size, "%s failed: %s", command, context->errstr);
        return false;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(error, size, "%s failed: %s", command, reply->str);
        return false;
    }
    return true;
}

/* Runs one command and checks its reply. */
static bool command_ok(redisContext *context, char *error, size_t size, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    redisReply *reply = redisvCommand(context, format, args);
    va_end(args);
    bool ok = reply_ok(context, reply, format, error, size);
    freeReplyObject(reply);
    return ok;
}

/* Deletes key and creates it as an empty stream with consumer group group. */
static bool create_stream(redisContext *context, const char *key, const char *group, char *error,
                          size_t size)
{
    return command_ok(context, error, size, "DEL %s", key) &&
           command_ok(context, error, size, "XGROUP CREATE %s %s $ MKSTREAM", key, group);
}

static bool redis_setup(run_t *run)
{
    redis_state_t *state = calloc(1, sizeof(*state));
    run->state = state;
    char error[ERROR_SIZE] = "";
    state->batch = (int)(BATCH_BYTES / run->size);
    if (state->batch > BATCH_VALUES) {
        state->batch = BATCH_VALUES;
    }
    if (state->batch < 1) {
        state->batch = 1;
    }
    state->sender = connect_redis(run->config, error, sizeof(error));
    bool ok =
        state->sender != NULL && create_stream(state->sender, KEY, GROUP, error, sizeof(error));
    for (int i = 0; ok && i < run->receivers; i++) {
        acks_t *acks = &state->acks[i];
        acks->argv = calloc((size_t)state->batch + 3, sizeof(*acks->argv));
        acks->lengths = calloc((size_t)state->batch + 3, sizeof(*acks->lengths));
        acks->ids = calloc((size_t)state->batch, sizeof(*acks->ids));
        if (acks->argv == NULL || acks->lengths == NULL || acks->ids == NULL) {
            snprintf(error, sizeof(error), "out of memory");
            ok = false;
            break;
        }
        state->receivers[i] = connect_redis(run->config, error, sizeof(error));
        ok = state->receivers[i] != NULL;
    }
    if (!ok) {
        run_fail(run, "Redis setup: %s", error);
        return false;
    }
    snprintf(run->endpoint, sizeof(run->endpoint), "%s", KEY);
    return true;
}

/* Reads the replies of every pipelined XADD. */
static bool read_pipelined(run_t *run, redis_state_t *state)
{
    char error[ERROR_SIZE];
    for (; state->pipelined > 0; state->pipelined--) {
        redisReply *reply = NULL;
        if (redisGetReply(state->sender, (void **)&reply) != REDIS_OK ||
            !reply_ok(state->sender, reply, "XADD", error, sizeof(error))) {
            freeReplyObject(reply);
            run_fail(run, "%s", reply == NULL ? state->sender->errstr : error);
            return false;
        }
        freeReplyObject(reply);
    }
    return true;
}

static bool redis_send(run_t *run, const uint8_t *data, size_t size)
{
    redis_state_t *state = run->state;
    if (redisAppendCommand(state->sender, "XADD %s * v %b", KEY, data, size) != REDIS_OK) {
        run_fail(run, "queueing XADD failed: %s", state->sender->errstr);
        return false;
    }
    state->pipelined++;
    return state->pipelined < state->batch || read_pipelined(run, state);
}

static bool redis_flush(run_t *run)
{
    return read_pipelined(run, run->state);
}

/* Returns the entries array of an XREADGROUP reply for one stream, or NULL for none. */
static redisReply *stream_entries(redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1) {
        return NULL;
    }
    redisReply *stream = reply->element[0];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 ||
        stream->element[1]->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }
    return stream->element[1];
}

/* Returns the value of entry [id, [field, value]], or NULL when it has another shape. */
static redisReply *entry_value(redisReply *entry)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING ||
        entry->element[1]->type != REDIS_REPLY_ARRAY || entry->element[1]->elements != 2 ||
        entry->element[1]->element[1]->type != REDIS_REPLY_STRING) {
        return NULL;
    }
    return entry->element[1]->element[1];
}

/* Acknowledges the count entries whose ids are in acks->ids. */
static bool acknowledge(run_t *run, acks_t *acks, redisContext *context, int count)
{
    acks->argv[0] = "XACK";
    acks->argv[1] = KEY;
    acks->argv[2] = GROUP;
    for (int i = 0; i < 3; i++) {
        acks->lengths[i] = strlen(acks->argv[i]);
    }
    for (int i = 0; i < count; i++) {
        acks->argv[3 + i] = acks->ids[i];
        acks->lengths[3 + i] = strlen(acks->ids[i]);
    }
    char error[ERROR_SIZE];
    redisReply *reply = redisCommandArgv(context, count + 3, acks->argv, acks->lengths);
    bool ok = reply_ok(context, reply, "XACK", error, sizeof(error));
    if (ok && (reply->type != REDIS_REPLY_INTEGER || reply->integer != count)) {
        snprintf(error, sizeof(error), "XACK acknowledged %lld of %d entries",
                 reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1LL, count);
        ok = false;
    }
    freeReplyObject(reply);
    if (!ok) {
        run_fail(run, "%s", error);
    }
    return ok;
}

static int redis_receive(run_t *run, int receiver, int timeout_ms)
{
    redis_state_t *state = run->state;
    redisContext *context = state->receivers[receiver];
    char error[ERROR_SIZE];
    redisReply *reply =
        redisCommand(context, "XREADGROUP GROUP %s c%d COUNT %d BLOCK %d STREAMS %s >", GROUP,
                     receiver, state->batch, timeout_ms, KEY);
    if (!reply_ok(context, reply, "XREADGROUP", error, sizeof(error))) {
        freeReplyObject(reply);
        run_fail(run, "%s", error);
        return -1;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        freeReplyObject(reply);
        return 0;
    }
    redisReply *entries = stream_entries(reply);
    int count = entries != NULL ? (int)entries->elements : -1;
    bool ok = count >= 0 && count <= state->batch;
    for (int i = 0; ok && i < count; i++) {
        redisReply *value = entry_value(entries->element[i]);
        ok = value != NULL;
        if (!ok) {
            break;
        }
        ok = run_check_value(run, receiver, (const uint8_t *)value->str, value->len);
        snprintf(state->acks[receiver].ids[i], ID_SIZE, "%s", entries->element[i]->element[0]->str);
    }
    freeReplyObject(reply);
    if (!ok) {
        run_fail(run, "XREADGROUP returned a reply of an unexpected shape");
        return -1;
    }
    return count == 0 || acknowledge(run, &state->acks[receiver], context, count) ? count : -1;
}

static void destroy_state(redis_state_t *state, const char *const *keys, int key_count)
{
    if (state == NULL) {
        return;
    }
    for (int i = 0; i < MAX_RECEIVERS; i++) {
        redisFree(state->receivers[i]);
        free(state->acks[i].argv);
        free(state->acks[i].lengths);
        free(state->acks[i].ids);
    }
    for (int i = 0; state->sender != NULL && i < key_count; i++) {
        freeReplyObject(redisCommand(state->sender, "DEL %s", keys[i]));
    }
    redisFree(state->sender);
    free(state);
}

static void redis_teardown(run_t *run)
{
    const char *const keys[] = {KEY};
    destroy_state(run->state, keys, 1);
    run->state = NULL;
}

/* Reads one entry of key as consumer of group, waiting up to block_ms, into *reply_p, which the
 * caller frees. Returns 1, 0 when none came, or -1 with the reason in error. */
static int read_one(redisContext *context, const char *key, const char *group, const char *consumer,
                    int block_ms, redisReply **reply_p, char *error, size_t size)
{
    redisReply *reply =
        redisCommand(context, "XREADGROUP GROUP %s %s COUNT 1 BLOCK %d STREAMS %s >", group,
                     consumer, block_ms, key);
    if (!reply_ok(context, reply, "XREADGROUP", error, size)) {
        freeReplyObject(reply);
        return -1;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        freeReplyObject(reply);
        return 0;
    }
    redisReply *entries = stream_entries(reply);
    if (entries == NULL || entries->elements != 1 || entry_value(entries->element[0]) == NULL) {
        snprintf(error, size, "XREADGROUP returned a reply of an unexpected shape");
        freeReplyObject(reply);
        return -1;
    }
    *reply_p = reply;
    return 1;
}

static int redis_memory_receiver(const config_t *config, const char *endpoint)
{
    char error[ERROR_SIZE] = "";
    redisContext *context = connect_redis(config, error, sizeof(error));
    redisReply *reply = NULL;
    if (context == NULL || read_one(context, endpoint, GROUP, "slow", IO_TIMEOUT_MS, &reply, error,
                                    sizeof(error)) != 1) {
        fprintf(stderr, "netchan-bench-peers: Redis receiver: %s\n",
                error[0] ? error : "no value within the timeout");
        return 1;
    }
    for (bool first = true;; first = false) {
        const char *id = stream_entries(reply)->element[0]->element[0]->str;
        freeReplyObject(redisCommand(context, "XACK %s %s %s", endpoint, GROUP, id));
        freeReplyObject(reply);
        reply = NULL;
        if (first) {
            printf("ready\n");
            fflush(stdout);
        }
        sleep_ms(config->interval_ms);
        while (read_one(context, endpoint, GROUP, "slow", IO_TIMEOUT_MS, &reply, error,
                        sizeof(error)) != 1) {
        }
    }
}

/* ---- latency ---- */

static bool redis_latency_setup(latency_t *latency)
{
    redis_state_t *state = calloc(1, sizeof(*state));
    latency->state = state;
    char error[ERROR_SIZE] = "";
    state->sender = connect_redis(latency->config, error, sizeof(error));
    state->receivers[0] =
        state->sender != NULL ? connect_redis(latency->config, error, sizeof(error)) : NULL;
    bool ok = state->receivers[0] != NULL &&
              create_stream(state->sender, PING_KEY, "responder", error, sizeof(error)) &&
              create_stream(state->sender, PONG_KEY, "client", error, sizeof(error));
    if (!ok) {
        latency_fail(latency, "Redis latency setup: %s", error);
    }
    return ok;
}

/* Reads the replies of count pipelined commands. */
static bool read_replies(redisContext *context, int count, const char *what, char *error,
                         size_t size)
{
    bool ok = true;
    for (int i = 0; i < count; i++) {
        redisReply *reply = NULL;
        if (redisGetReply(context, (void **)&reply) != REDIS_OK) {
            snprintf(error, size, "%s failed: %s", what, context->errstr);
            return false;
        }
        ok = reply_ok(context, reply, what, error, size) && ok;
        freeReplyObject(reply);
    }
    return ok;
}

static int redis_echo(latency_t *latency, int timeout_ms)
{
    redis_state_t *state = latency->state;
    redisContext *context = state->receivers[0];
    char error[ERROR_SIZE] = "";
    redisReply *reply = NULL;
    int got = read_one(context, PING_KEY, "responder", "responder", timeout_ms, &reply, error,
                       sizeof(error));
    if (got == 1) {
        redisReply *entry = stream_entries(reply)->element[0];
        redisReply *value = entry_value(entry);
        redisAppendCommand(context, "XADD %s * v %b", PONG_KEY, value->str, value->len);
        redisAppendCommand(context, "XACK %s responder %s", PING_KEY, entry->element[0]->str);
        freeReplyObject(reply);
        got = read_replies(context, 2, "XADD and XACK", error, sizeof(error)) ? 1 : -1;
    }
    if (got < 0) {
        latency_fail(latency, "Redis echo: %s", error);
    }
    return got;
}

static bool redis_round_trip(latency_t *latency, const uint8_t *data, size_t size)
{
    redis_state_t *state = latency->state;
    redisContext *context = state->sender;
    char error[ERROR_SIZE] = "";
    int commands = 1;
    if (state->last_reply_id[0] != '\0') {
        redisAppendCommand(context, "XACK %s client %s", PONG_KEY, state->last_reply_id);
        commands++;
    }
    redisAppendCommand(context, "XADD %s * v %b", PING_KEY, data, size);
    redisReply *reply = NULL;
    bool ok = read_replies(context, commands, "XACK and XADD", error, sizeof(error)) &&
              read_one(context, PONG_KEY, "client", "client", IO_TIMEOUT_MS, &reply, error,
                       sizeof(error)) == 1;
    if (!ok) {
        latency_fail(latency, "Redis round trip: %s", error[0] ? error : "no reply in time");
        return false;
    }
    redisReply *entry = stream_entries(reply)->element[0];
    redisReply *value = entry_value(entry);
    ok = latency_check_reply(latency, data, (const uint8_t *)value->str, size, value->len);
    snprintf(state->last_reply_id, sizeof(state->last_reply_id), "%s", entry->element[0]->str);
    freeReplyObject(reply);
    return ok;
}

static void redis_latency_teardown(latency_t *latency)
{
    const char *const keys[] = {PING_KEY, PONG_KEY};
    destroy_state(latency->state, keys, 2);
    latency->state = NULL;
}

static void redis_client_version(char *buffer, size_t size)
{
    snprintf(buffer, size, "hiredis %d.%d.%d", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
}

const system_ops_t redis_system = {
    .name = "redis",
    .label = "Redis Streams",
    .client_version = redis_client_version,
    .setup = redis_setup,
    .send = redis_send,
    .flush = redis_flush,
    .receive = redis_receive,
    .teardown = redis_teardown,
    .memory_receiver = redis_memory_receiver,
    .latency_setup = redis_latency_setup,
    .echo = redis_echo,
    .round_trip = redis_round_trip,
    .latency_teardown = redis_latency_teardown,
};

#else

const system_ops_t redis_system = {
    .name = "redis",
    .label = "Redis Streams",
    .missing = "built without hiredis (install Debian's libhiredis-dev and run meson setup "
               "again)",
};

#endif
