/* NATS JetStream through the C client libnats, against a nats-server started with -js.
 *
 * Throughput: a file-storage stream with work-queue retention (a value is removed once it is
 * acknowledged, as in a queue), one durable pull consumer with AckPolicy explicit and
 * MaxAckPending 4000, and one
 * connection per receiver, each fetching batches from that consumer and acknowledging every
 * message with natsMsg_Ack(). The sender publishes with js_PublishAsync() on its own connection
 * and flushes with js_PublishAsyncComplete(), so every value is stored when the flush returns.
 * The settle step polls the consumer until no message is pending or unacknowledged.
 *
 * Latency: streams for requests and replies, each with a durable push consumer (AckPolicy
 * explicit) that a synchronous subscription reads. Both connections set SendAsap, which the
 * client documents for request/reply connections, so a publish is written at once. */
#define _GNU_SOURCE

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"

#ifdef HAVE_NATS

#include <nats/nats.h>

#define STREAM       "NETCHAN_BENCH"
#define SUBJECT      "netchan-bench.values"
#define CONSUMER     "workers"
#define PING_STREAM  "NETCHAN_BENCH_PING"
#define PING_SUBJECT "netchan-bench.ping"
#define PONG_STREAM  "NETCHAN_BENCH_PONG"
#define PONG_SUBJECT "netchan-bench.pong"

/* Maximum messages per natsSubscription_Fetch(), and the consumer's maximum of delivered but
 * unacknowledged messages. The maximum leaves room for two batches per receiver, so that four
 * receivers never wait for each other's acknowledgements. The server's default of 1000 stalled
 * four receivers that fetch 500 each. Batches of 100, 250, 500 and 1000 were tried here. */
#define FETCH_BATCH     500
#define MAX_ACK_PENDING 4000
/* With 100 ms fetch timeouts and four receivers, libnats 3.4.1's natsSubscription_Fetch()
 * returned more messages than its batch, past the end of its array (seen with AddressSanitizer,
 * and as heap corruption without it). With 1000 ms, a fetch times out only at the end of a run,
 * and eight runs under AddressSanitizer were clean. NOTE: the cause inside libnats is a guess:
 * messages of a fetch that timed out arriving during the next one. */
#define FETCH_TIMEOUT_MS 1000
/* Maximum asynchronous publishes awaiting their acknowledgement, the Go client's default
 * (defaultAsyncPubAckInflight in nats.go). The C client leaves it at 0, no limit, when unset. */
#define PUBLISH_MAX_PENDING 4000

typedef struct jetstream_state {
    natsConnection *connection; /* the sender's, or the latency client's */
    jsCtx *js;
    natsConnection *receiver_connections[MAX_RECEIVERS];
    jsCtx *receiver_js[MAX_RECEIVERS];
    natsSubscription *subscriptions[MAX_RECEIVERS];
    /* For latency, the responder uses receiver_connections[0] and reads requests from
     * subscriptions[0]. */
    natsSubscription *pong_subscription;
} jetstream_state_t;

static atomic_int publish_errors;

static void on_publish_error(jsCtx *js, jsPubAckErr *error, void *closure)
{
    (void)js;
    (void)closure;
    if (atomic_fetch_add(&publish_errors, 1) == 0) {
        fprintf(stderr, "netchan-bench-peers: JetStream publish failed: %s (%s)\n",
                natsStatus_GetText(error->Err), error->ErrText != NULL ? error->ErrText : "");
    }
}

/* Returns the client's description of the last failure in this thread. */
static const char *last_error(natsStatus status)
{
    const char *text = nats_GetLastError(NULL);
    return text != NULL && text[0] != '\0' ? text : natsStatus_GetText(status);
}

static natsStatus connect_jetstream(const char *url, bool send_asap, natsConnection **connection,
                                    jsCtx **js)
{
    natsOptions *options = NULL;
    natsStatus status = natsOptions_Create(&options);
    if (status == NATS_OK) {
        status = natsOptions_SetURL(options, url);
    }
    if (status == NATS_OK && send_asap) {
        status = natsOptions_SetSendAsap(options, true);
    }
    if (status == NATS_OK) {
        status = natsConnection_Connect(connection, options);
    }
    natsOptions_Destroy(options);

    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.PublishAsync.MaxPending = PUBLISH_MAX_PENDING;
    js_options.PublishAsync.StallWait = IO_TIMEOUT_MS; /* block like the other senders */
    js_options.PublishAsync.ErrHandler = on_publish_error;
    if (status == NATS_OK) {
        status = natsConnection_JetStream(js, *connection, &js_options);
    }
    return status;
}

/* Creates a file-storage work-queue stream, deleting one left by an earlier run. */
static natsStatus create_stream(jsCtx *js, const char *name, const char *subject)
{
    js_DeleteStream(js, name, NULL, NULL);
    const char *subjects[1] = {subject};
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = name;
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Retention = js_WorkQueuePolicy;
    jsStreamInfo *info = NULL;
    natsStatus status = js_AddStream(&info, js, &config, NULL, NULL);
    jsStreamInfo_Destroy(info);
    return status;
}

static natsStatus create_pull_consumer(jsCtx *js)
{
    jsConsumerConfig config;
    jsConsumerConfig_Init(&config);
    config.Durable = CONSUMER;
    config.AckPolicy = js_AckExplicit;
    config.MaxAckPending = MAX_ACK_PENDING;
    jsConsumerInfo *info = NULL;
    natsStatus status = js_AddConsumer(&info, js, STREAM, &config, NULL, NULL);
    jsConsumerInfo_Destroy(info);
    return status;
}

static natsStatus pull_subscribe(jsCtx *js, natsSubscription **subscription)
{
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = STREAM;
    options.Consumer = CONSUMER;
    return js_PullSubscribe(subscription, js, SUBJECT, CONSUMER, NULL, &options, NULL);
}

static bool jetstream_setup(run_t *run)
{
    jetstream_state_t *state = calloc(1, sizeof(*state));
    run->state = state;
    const char *url = run->config->nats_url;
    const char *step = "connecting";
    natsStatus status = connect_jetstream(url, false, &state->connection, &state->js);
    if (status == NATS_OK) {
        step = "creating the stream";
        status = create_stream(state->js, STREAM, SUBJECT);
    }
    if (status == NATS_OK) {
        step = "creating the consumer";
        status = create_pull_consumer(state->js);
    }
    for (int i = 0; status == NATS_OK && i < run->receivers; i++) {
        step = "subscribing a receiver";
        status =
            connect_jetstream(url, false, &state->receiver_connections[i], &state->receiver_js[i]);
        if (status == NATS_OK) {
            status = pull_subscribe(state->receiver_js[i], &state->subscriptions[i]);
        }
    }
    if (status != NATS_OK) {
        run_fail(run, "JetStream setup at %s: %s, %s", url, step, last_error(status));
        return false;
    }
    snprintf(run->endpoint, sizeof(run->endpoint), "%s", STREAM);
    return true;
}

static bool jetstream_send(run_t *run, const uint8_t *data, size_t size)
{
    jetstream_state_t *state = run->state;
    natsStatus status = js_PublishAsync(state->js, SUBJECT, data, (int)size, NULL);
    if (status != NATS_OK) {
        run_fail(run, "js_PublishAsync failed: %s", last_error(status));
        return false;
    }
    return true;
}

static bool jetstream_flush(run_t *run)
{
    jetstream_state_t *state = run->state;
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MaxWait = IO_TIMEOUT_MS;
    natsStatus status = js_PublishAsyncComplete(state->js, &options);
    if (status != NATS_OK || atomic_load(&publish_errors) > 0) {
        run_fail(run, "js_PublishAsyncComplete failed: %s, %d publish errors", last_error(status),
                 atomic_load(&publish_errors));
        return false;
    }
    return true;
}

static int jetstream_receive(run_t *run, int receiver, int timeout_ms)
{
    (void)timeout_ms; /* FETCH_TIMEOUT_MS instead, to stay clear of the libnats bug above */
    jetstream_state_t *state = run->state;
    natsMsgList list = {NULL, 0};
    natsStatus status = natsSubscription_Fetch(&list, state->subscriptions[receiver], FETCH_BATCH,
                                               FETCH_TIMEOUT_MS, NULL);
    if (status != NATS_OK && status != NATS_TIMEOUT) {
        run_fail(run, "natsSubscription_Fetch failed: %s", last_error(status));
        return -1;
    }
    int count = 0;
    for (int i = 0; i < list.Count; i++) {
        natsMsg *msg = list.Msgs[i];
        if (!run_check_value(run, receiver, (const uint8_t *)natsMsg_GetData(msg),
                             (size_t)natsMsg_GetDataLength(msg))) {
            count = -1;
            break;
        }
        status = natsMsg_Ack(msg, NULL);
        if (status != NATS_OK) {
            run_fail(run, "natsMsg_Ack failed: %s", last_error(status));
            count = -1;
            break;
        }
        count++;
    }
    natsMsgList_Destroy(&list);
    return count;
}

/* Polls the consumer until the server has recorded every acknowledgement. */
static bool jetstream_settle(run_t *run)
{
    jetstream_state_t *state = run->state;
    int64_t deadline = now_ns() + (int64_t)IO_TIMEOUT_MS * 1000000;
    for (;;) {
        jsConsumerInfo *info = NULL;
        natsStatus status = js_GetConsumerInfo(&info, state->js, STREAM, CONSUMER, NULL, NULL);
        if (status != NATS_OK) {
            run_fail(run, "js_GetConsumerInfo failed: %s", last_error(status));
            return false;
        }
        bool settled = info->NumAckPending == 0 && info->NumPending == 0;
        int64_t unacknowledged = info->NumAckPending;
        jsConsumerInfo_Destroy(info);
        if (settled) {
            return true;
        }
        if (now_ns() > deadline) {
            run_fail(run, "%" PRId64 " messages still unacknowledged after %d ms", unacknowledged,
                     IO_TIMEOUT_MS);
            return false;
        }
        sleep_ms(1);
    }
}

static void destroy_state(jetstream_state_t *state, const char *const *streams, int stream_count)
{
    if (state == NULL) {
        return;
    }
    natsSubscription_Destroy(state->pong_subscription);
    for (int i = 0; i < MAX_RECEIVERS; i++) {
        natsSubscription_Destroy(state->subscriptions[i]);
        jsCtx_Destroy(state->receiver_js[i]);
        natsConnection_Destroy(state->receiver_connections[i]);
    }
    for (int i = 0; state->js != NULL && i < stream_count; i++) {
        js_DeleteStream(state->js, streams[i], NULL, NULL);
    }
    jsCtx_Destroy(state->js);
    natsConnection_Destroy(state->connection);
    free(state);
}

static void jetstream_teardown(run_t *run)
{
    const char *const streams[] = {STREAM};
    destroy_state(run->state, streams, 1);
    run->state = NULL;
}

static int jetstream_memory_receiver(const config_t *config, const char *endpoint)
{
    (void)endpoint; /* the stream and consumer names are fixed */
    natsConnection *connection = NULL;
    jsCtx *js = NULL;
    natsSubscription *subscription = NULL;
    natsMsgList list = {NULL, 0};
    natsStatus status = connect_jetstream(config->nats_url, false, &connection, &js);
    if (status == NATS_OK) {
        status = pull_subscribe(js, &subscription);
    }
    if (status == NATS_OK) {
        status = natsSubscription_Fetch(&list, subscription, 1, IO_TIMEOUT_MS, NULL);
    }
    if (status != NATS_OK || list.Count != 1) {
        fprintf(stderr, "netchan-bench-peers: JetStream receiver: %s\n", last_error(status));
        return 1;
    }
    natsMsg_Ack(list.Msgs[0], NULL);
    natsMsgList_Destroy(&list);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        sleep_ms(config->interval_ms);
        if (natsSubscription_Fetch(&list, subscription, 1, IO_TIMEOUT_MS, NULL) == NATS_OK) {
            natsMsg_Ack(list.Msgs[0], NULL);
        }
        natsMsgList_Destroy(&list);
    }
}

/* ---- latency ---- */

static natsStatus push_subscribe(jsCtx *js, const char *stream, const char *subject,
                                 const char *durable, natsSubscription **subscription)
{
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = stream;
    options.Config.Durable = durable;
    options.Config.AckPolicy = js_AckExplicit;
    return js_SubscribeSync(subscription, js, subject, NULL, &options, NULL);
}

static bool jetstream_latency_setup(latency_t *latency)
{
    jetstream_state_t *state = calloc(1, sizeof(*state));
    latency->state = state;
    const char *url = latency->config->nats_url;
    const char *step = "connecting";
    natsStatus status = connect_jetstream(url, true, &state->connection, &state->js);
    if (status == NATS_OK) {
        status =
            connect_jetstream(url, true, &state->receiver_connections[0], &state->receiver_js[0]);
    }
    if (status == NATS_OK) {
        step = "creating the streams";
        status = create_stream(state->js, PING_STREAM, PING_SUBJECT);
    }
    if (status == NATS_OK) {
        status = create_stream(state->js, PONG_STREAM, PONG_SUBJECT);
    }
    if (status == NATS_OK) {
        step = "subscribing";
        status = push_subscribe(state->receiver_js[0], PING_STREAM, PING_SUBJECT, "responder",
                                &state->subscriptions[0]);
    }
    if (status == NATS_OK) {
        status = push_subscribe(state->js, PONG_STREAM, PONG_SUBJECT, "client",
                                &state->pong_subscription);
    }
    if (status != NATS_OK) {
        latency_fail(latency, "JetStream latency setup at %s: %s, %s", url, step,
                     last_error(status));
        return false;
    }
    return true;
}

static int jetstream_echo(latency_t *latency, int timeout_ms)
{
    jetstream_state_t *state = latency->state;
    natsMsg *msg = NULL;
    natsStatus status = natsSubscription_NextMsg(&msg, state->subscriptions[0], timeout_ms);
    if (status == NATS_TIMEOUT) {
        return 0;
    }
    if (status == NATS_OK) {
        status = js_PublishAsync(state->receiver_js[0], PONG_SUBJECT, natsMsg_GetData(msg),
                                 natsMsg_GetDataLength(msg), NULL);
    }
    if (status == NATS_OK) {
        status = natsMsg_Ack(msg, NULL);
    }
    natsMsg_Destroy(msg);
    if (status != NATS_OK) {
        latency_fail(latency, "JetStream echo failed: %s", last_error(status));
        return -1;
    }
    return 1;
}

static bool jetstream_round_trip(latency_t *latency, const uint8_t *data, size_t size)
{
    jetstream_state_t *state = latency->state;
    natsMsg *msg = NULL;
    natsStatus status = js_PublishAsync(state->js, PING_SUBJECT, data, (int)size, NULL);
    if (status == NATS_OK) {
        status = natsSubscription_NextMsg(&msg, state->pong_subscription, IO_TIMEOUT_MS);
    }
    bool ok = status == NATS_OK &&
              latency_check_reply(latency, data, (const uint8_t *)natsMsg_GetData(msg), size,
                                  (size_t)natsMsg_GetDataLength(msg));
    if (ok) {
        status = natsMsg_Ack(msg, NULL);
        ok = status == NATS_OK;
    }
    natsMsg_Destroy(msg);
    if (status != NATS_OK) {
        latency_fail(latency, "JetStream round trip failed: %s", last_error(status));
    }
    return ok;
}

static void jetstream_latency_teardown(latency_t *latency)
{
    const char *const streams[] = {PING_STREAM, PONG_STREAM};
    destroy_state(latency->state, streams, 2);
    latency->state = NULL;
}

static void jetstream_client_version(char *buffer, size_t size)
{
    snprintf(buffer, size, "libnats %s", nats_GetVersion());
}

const system_ops_t jetstream_system = {
    .name = "jetstream",
    .label = "NATS JetStream",
    .client_version = jetstream_client_version,
    .setup = jetstream_setup,
    .send = jetstream_send,
    .flush = jetstream_flush,
    .receive = jetstream_receive,
    .settle = jetstream_settle,
    .teardown = jetstream_teardown,
    .memory_receiver = jetstream_memory_receiver,
    .latency_setup = jetstream_latency_setup,
    .echo = jetstream_echo,
    .round_trip = jetstream_round_trip,
    .latency_teardown = jetstream_latency_teardown,
};

#else

const system_ops_t jetstream_system = {
    .name = "jetstream",
    .label = "NATS JetStream",
    .missing = "built without the NATS C client (install Debian's libnats-dev and run meson "
               "setup again)",
};

#endif
