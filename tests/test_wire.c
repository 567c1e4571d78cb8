/* Unit tests of the wire codec: every protocol message packed with the generated code and read
 * back with nc_frame_decode() and with the engines' arena decoder nc_frame_decode_in(), and
 * malformed input rejected by both. Also error texts, channel options and type fingerprints. */
#include "harness.h"

#include "nc.h"
#include "test_types.pb-c.h"

/* ---- helpers ---- */

/* A fixed-seed xorshift generator, so that every run feeds the decoder the same bytes. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint8_t *pack_frame(const Netchan__Wire__Frame *frame, size_t *size_p)
{
    size_t size = netchan__wire__frame__get_packed_size(frame);
    uint8_t *buffer = malloc(size > 0 ? size : 1);
    if (buffer != NULL) {
        netchan__wire__frame__pack(frame, buffer);
    }
    *size_p = size;
    return buffer;
}

/* The arena that nc_frame_decode_in() decodes into, as an engine keeps one. */
static nc_arena_t arena;

/* Returns true when frame packs to exactly size bytes equal to bytes. */
static bool packs_to(const Netchan__Wire__Frame *frame, const uint8_t *bytes, size_t size)
{
    size_t packed_size = 0;
    uint8_t *packed = pack_frame(frame, &packed_size);
    bool same = packed != NULL && packed_size == size && memcmp(packed, bytes, size) == 0;
    free(packed);
    return same;
}

/* Decodes bytes with both decoders, nc_frame_decode() and the engines' nc_frame_decode_in(),
 * and records a failure unless they agree: both reject, or both accept a frame that packs back
 * to the same bytes. Returns the heap-decoded frame, which the caller frees. */
static Netchan__Wire__Frame *decode_both(const uint8_t *bytes, size_t size)
{
    Netchan__Wire__Frame *heap = nc_frame_decode(bytes, size);
    Netchan__Wire__Frame *in_arena = nc_frame_decode_in(&arena, bytes, size);
    if ((heap != NULL) != (in_arena != NULL)) {
        printf("# nc_frame_decode %s and nc_frame_decode_in %s %zu bytes\n",
               heap != NULL ? "accepts" : "rejects", in_arena != NULL ? "accepts" : "rejects",
               size);
        harness_current_failures++;
    } else if (heap != NULL) {
        size_t heap_size = 0;
        uint8_t *heap_bytes = pack_frame(heap, &heap_size);
        if (heap_bytes == NULL || !packs_to(in_arena, heap_bytes, heap_size)) {
            printf("# the two decoders read %zu bytes differently\n", size);
            harness_current_failures++;
        }
        free(heap_bytes);
    }
    return heap;
}

/* Packs frame with the generated code and decodes it with both decoders. The decoded frame
 * must pack back to the same bytes. */
static Netchan__Wire__Frame *round_trip(const Netchan__Wire__Frame *frame)
{
    size_t size = 0;
    uint8_t *buffer = pack_frame(frame, &size);
    if (buffer == NULL) {
        return NULL;
    }
    Netchan__Wire__Frame *decoded = decode_both(buffer, size);
    if (decoded != NULL && !packs_to(decoded, buffer, size)) {
        printf("# a decoded frame of %zu bytes packs to different bytes\n", size);
        harness_current_failures++;
    }
    free(buffer);
    return decoded;
}

static bool decodes(const uint8_t *bytes, size_t size)
{
    Netchan__Wire__Frame *frame = decode_both(bytes, size);
    nc_frame_free(frame);
    return frame != NULL;
}

static bool frame_decodes(const Netchan__Wire__Frame *frame)
{
    Netchan__Wire__Frame *decoded = round_trip(frame);
    nc_frame_free(decoded);
    return decoded != NULL;
}

static bool ranges_valid(Netchan__Wire__SeqRange **ranges, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ranges[i]->first == 0 || ranges[i]->first > ranges[i]->last) {
            return false;
        }
    }
    return true;
}

/* Restates, from the comments in netchan.proto, what every accepted frame must carry: a body,
 * a 16-byte session in Hello, a nonzero link on link frames, nonzero sequence numbers and
 * ordered ranges. The fuzz test checks every frame the decoder accepts against these rules. */
static bool frame_follows_rules(const Netchan__Wire__Frame *frame)
{
    switch (frame->body_case) {
    case NETCHAN__WIRE__FRAME__BODY_HELLO:
        return frame->hello->session.len == NC_SESSION_ID_SIZE;
    case NETCHAN__WIRE__FRAME__BODY_BIND:
        return frame->bind->link != 0 && frame->bind->channel != NULL &&
               frame->bind->channel[0] != '\0' && frame->bind->type_name != NULL &&
               frame->bind->fingerprint != NULL;
    case NETCHAN__WIRE__FRAME__BODY_BOUND:
        return frame->bound->link != 0 && frame->bound->message != NULL;
    case NETCHAN__WIRE__FRAME__BODY_DATA:
        for (size_t i = 0; i < frame->data->n_values; i++) {
            if (frame->data->values[i]->seq == 0) {
                return false;
            }
        }
        return frame->data->link != 0;
    case NETCHAN__WIRE__FRAME__BODY_ACK:
        return frame->ack->link != 0 && frame->ack->reject_reason != NULL &&
               ranges_valid(frame->ack->acked, frame->ack->n_acked) &&
               ranges_valid(frame->ack->returned, frame->ack->n_returned) &&
               ranges_valid(frame->ack->rejected, frame->ack->n_rejected) &&
               ranges_valid(frame->ack->released, frame->ack->n_released);
    case NETCHAN__WIRE__FRAME__BODY_ACK_CONFIRM:
        return frame->ack_confirm->link != 0;
    case NETCHAN__WIRE__FRAME__BODY_CREDIT:
        return frame->credit->link != 0;
    case NETCHAN__WIRE__FRAME__BODY_END:
        return frame->end->link != 0;
    case NETCHAN__WIRE__FRAME__BODY_UNBIND:
        return frame->unbind->link != 0;
    case NETCHAN__WIRE__FRAME__BODY_ERROR:
        return frame->error->message != NULL;
    case NETCHAN__WIRE__FRAME__BODY_WELCOME:
    case NETCHAN__WIRE__FRAME__BODY_PING:
    case NETCHAN__WIRE__FRAME__BODY_PONG:
    case NETCHAN__WIRE__FRAME__BODY_BYE:
        return true;
    default:
        return false;
    }
}

static const uint8_t session_bytes[NC_SESSION_ID_SIZE] = {0x80, 1, 2,  3,  4,  5,  6,  7,
                                                          8,    9, 10, 11, 12, 13, 14, 0xff};

/* Storage for one valid frame of each body type, built by sample_frame(). */
typedef struct sample {
    Netchan__Wire__Frame frame;
    Netchan__Wire__Hello hello;
    Netchan__Wire__Welcome welcome;
    Netchan__Wire__Bind bind;
    Netchan__Wire__Bound bound;
    Netchan__Wire__Data data;
    Netchan__Wire__Value values[3];
    Netchan__Wire__Value *value_pointers[3];
    Netchan__Wire__Ack ack;
    Netchan__Wire__SeqRange ranges[4];
    Netchan__Wire__SeqRange *acked[1];
    Netchan__Wire__SeqRange *returned[1];
    Netchan__Wire__SeqRange *rejected[1];
    Netchan__Wire__SeqRange *released[1];
    Netchan__Wire__AckConfirm ack_confirm;
    Netchan__Wire__Credit credit;
    Netchan__Wire__End end;
    Netchan__Wire__Unbind unbind;
    Netchan__Wire__Ping ping;
    Netchan__Wire__Pong pong;
    Netchan__Wire__Bye bye;
    Netchan__Wire__Error error;
} sample_t;

/* Fills sample with a valid frame whose body is body_case, with every field set to a value
 * other than its default. */
static void sample_frame(sample_t *s, Netchan__Wire__Frame__BodyCase body_case)
{
    static uint8_t payloads[3][5] = {{1, 2, 3, 4, 5}, {0, 0, 0, 0, 0}, {0xff, 0, 0xff, 0, 0xff}};
    memset(s, 0, sizeof(*s));
    netchan__wire__frame__init(&s->frame);
    s->frame.body_case = body_case;
    switch (body_case) {
    case NETCHAN__WIRE__FRAME__BODY_HELLO:
        netchan__wire__hello__init(&s->hello);
        s->hello.version = 1;
        s->hello.session.data = (uint8_t *)session_bytes;
        s->hello.session.len = sizeof(session_bytes);
        s->hello.known_instance = 0x0123456789abcdefULL;
        s->hello.heartbeat_ms = 250;
        s->frame.hello = &s->hello;
        break;
    case NETCHAN__WIRE__FRAME__BODY_WELCOME:
        netchan__wire__welcome__init(&s->welcome);
        s->welcome.version = 1;
        s->welcome.instance = UINT64_MAX;
        s->welcome.resumed = true;
        s->welcome.expired = true;
        s->welcome.timeout_ms = 1000;
        s->frame.welcome = &s->welcome;
        break;
    case NETCHAN__WIRE__FRAME__BODY_BIND:
        netchan__wire__bind__init(&s->bind);
        s->bind.link = UINT32_MAX;
        s->bind.channel = "jobs";
        s->bind.direction = NETCHAN__WIRE__DIRECTION__DIRECTION_RECV;
        s->bind.type_name = "netchan.test.Point";
        s->bind.fingerprint = "0123456789abcdef";
        s->bind.credit = UINT64_MAX;
        s->bind.max_value_size = 1u << 20;
        s->bind.resume = true;
        s->bind.unacknowledged = true;
        s->bind.explicit_ack = true;
        s->frame.bind = &s->bind;
        break;
    case NETCHAN__WIRE__FRAME__BODY_BOUND:
        netchan__wire__bound__init(&s->bound);
        s->bound.link = 7;
        s->bound.error = NETCHAN__WIRE__ERROR_CODE__ERROR_TYPE;
        s->bound.message = "type mismatch";
        s->bound.credit = 33;
        s->bound.max_value_size = 4096;
        s->bound.data_endpoint = "tcp://127.0.0.1:5555";
        s->frame.bound = &s->bound;
        break;
    case NETCHAN__WIRE__FRAME__BODY_DATA:
        netchan__wire__data__init(&s->data);
        for (int i = 0; i < 3; i++) {
            netchan__wire__value__init(&s->values[i]);
            s->values[i].seq = i == 2 ? UINT64_MAX : (uint64_t)(i + 1);
            s->values[i].attempts = (uint32_t)(i + 1);
            s->values[i].payload.data = payloads[i];
            s->values[i].payload.len = sizeof(payloads[i]);
            s->value_pointers[i] = &s->values[i];
        }
        s->data.link = 3;
        s->data.n_values = 3;
        s->data.values = s->value_pointers;
        s->frame.data = &s->data;
        break;
    case NETCHAN__WIRE__FRAME__BODY_ACK:
        netchan__wire__ack__init(&s->ack);
        for (int i = 0; i < 4; i++) {
            netchan__wire__seq_range__init(&s->ranges[i]);
        }
        s->ranges[0].first = 1;
        s->ranges[0].last = 10;
        s->ranges[1].first = 11;
        s->ranges[1].last = 11;
        s->ranges[2].first = 12;
        s->ranges[2].last = 1000;
        s->ranges[3].first = 1001;
        s->ranges[3].last = UINT64_MAX;
        s->acked[0] = &s->ranges[0];
        s->returned[0] = &s->ranges[1];
        s->rejected[0] = &s->ranges[2];
        s->released[0] = &s->ranges[3];
        s->ack.link = 2;
        s->ack.ack_no = 99;
        s->ack.n_acked = 1;
        s->ack.acked = s->acked;
        s->ack.n_returned = 1;
        s->ack.returned = s->returned;
        s->ack.n_rejected = 1;
        s->ack.rejected = s->rejected;
        s->ack.n_released = 1;
        s->ack.released = s->released;
        s->ack.reject_code = NETCHAN__WIRE__ERROR_CODE__ERROR_REJECTED;
        s->ack.reject_reason = "not a valid netchan.test.Point";
        s->frame.ack = &s->ack;
        break;
    case NETCHAN__WIRE__FRAME__BODY_ACK_CONFIRM:
        netchan__wire__ack_confirm__init(&s->ack_confirm);
        s->ack_confirm.link = 5;
        s->ack_confirm.ack_no = UINT64_MAX;
        s->frame.ack_confirm = &s->ack_confirm;
        break;
    case NETCHAN__WIRE__FRAME__BODY_CREDIT:
        netchan__wire__credit__init(&s->credit);
        s->credit.link = 6;
        s->credit.total = (uint64_t)1 << 40;
        s->frame.credit = &s->credit;
        break;
    case NETCHAN__WIRE__FRAME__BODY_END:
        netchan__wire__end__init(&s->end);
        s->end.link = 8;
        s->frame.end = &s->end;
        break;
    case NETCHAN__WIRE__FRAME__BODY_UNBIND:
        netchan__wire__unbind__init(&s->unbind);
        s->unbind.link = 9;
        s->frame.unbind = &s->unbind;
        break;
    case NETCHAN__WIRE__FRAME__BODY_PING:
        netchan__wire__ping__init(&s->ping);
        s->ping.nonce = 0xfeedface;
        s->frame.ping = &s->ping;
        break;
    case NETCHAN__WIRE__FRAME__BODY_PONG:
        netchan__wire__pong__init(&s->pong);
        s->pong.nonce = UINT64_MAX;
        s->frame.pong = &s->pong;
        break;
    case NETCHAN__WIRE__FRAME__BODY_BYE:
        netchan__wire__bye__init(&s->bye);
        s->frame.bye = &s->bye;
        break;
    case NETCHAN__WIRE__FRAME__BODY_ERROR:
        netchan__wire__error__init(&s->error);
        s->error.code = NETCHAN__WIRE__ERROR_CODE__ERROR_NO_SESSION;
        s->error.message = "no session for this connection; send Hello";
        s->error.link = 4;
        s->frame.error = &s->error;
        break;
    default:
        break;
    }
}

static const Netchan__Wire__Frame__BodyCase all_bodies[] = {
    NETCHAN__WIRE__FRAME__BODY_HELLO,       NETCHAN__WIRE__FRAME__BODY_WELCOME,
    NETCHAN__WIRE__FRAME__BODY_BIND,        NETCHAN__WIRE__FRAME__BODY_BOUND,
    NETCHAN__WIRE__FRAME__BODY_DATA,        NETCHAN__WIRE__FRAME__BODY_ACK,
    NETCHAN__WIRE__FRAME__BODY_ACK_CONFIRM, NETCHAN__WIRE__FRAME__BODY_CREDIT,
    NETCHAN__WIRE__FRAME__BODY_END,         NETCHAN__WIRE__FRAME__BODY_UNBIND,
    NETCHAN__WIRE__FRAME__BODY_PING,        NETCHAN__WIRE__FRAME__BODY_PONG,
    NETCHAN__WIRE__FRAME__BODY_BYE,         NETCHAN__WIRE__FRAME__BODY_ERROR,
};
#define N_BODIES (sizeof(all_bodies) / sizeof(all_bodies[0]))

/* ---- round trips ---- */

TEST(wire_hello_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_HELLO);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_HELLO);
    CHECK_EQ_U64(frame->hello->version, 1);
    CHECK_EQ_U64(frame->hello->session.len, NC_SESSION_ID_SIZE);
    CHECK(memcmp(frame->hello->session.data, session_bytes, NC_SESSION_ID_SIZE) == 0);
    CHECK_EQ_U64(frame->hello->known_instance, 0x0123456789abcdefULL);
    CHECK_EQ_U64(frame->hello->heartbeat_ms, 250);
    nc_frame_free(frame);
}

TEST(wire_welcome_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_WELCOME);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_WELCOME);
    CHECK_EQ_U64(frame->welcome->version, 1);
    CHECK_EQ_U64(frame->welcome->instance, UINT64_MAX);
    CHECK(frame->welcome->resumed);
    CHECK(frame->welcome->expired);
    CHECK_EQ_U64(frame->welcome->timeout_ms, 1000);
    nc_frame_free(frame);
}

TEST(wire_bind_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_BIND);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_BIND);
    CHECK_EQ_U64(frame->bind->link, UINT32_MAX);
    CHECK(strcmp(frame->bind->channel, "jobs") == 0);
    CHECK(frame->bind->direction == NETCHAN__WIRE__DIRECTION__DIRECTION_RECV);
    CHECK(strcmp(frame->bind->type_name, "netchan.test.Point") == 0);
    CHECK(strcmp(frame->bind->fingerprint, "0123456789abcdef") == 0);
    CHECK_EQ_U64(frame->bind->credit, UINT64_MAX);
    CHECK_EQ_U64(frame->bind->max_value_size, 1u << 20);
    CHECK(frame->bind->resume);
    CHECK(frame->bind->unacknowledged);
    CHECK(frame->bind->explicit_ack);
    nc_frame_free(frame);
}

TEST(wire_bound_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_BOUND);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_BOUND);
    CHECK_EQ_U64(frame->bound->link, 7);
    CHECK(frame->bound->error == NETCHAN__WIRE__ERROR_CODE__ERROR_TYPE);
    CHECK(strcmp(frame->bound->message, "type mismatch") == 0);
    CHECK_EQ_U64(frame->bound->credit, 33);
    CHECK_EQ_U64(frame->bound->max_value_size, 4096);
    CHECK(strcmp(frame->bound->data_endpoint, "tcp://127.0.0.1:5555") == 0);
    nc_frame_free(frame);
}

TEST(wire_data_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_DATA);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_DATA);
    CHECK_EQ_U64(frame->data->link, 3);
    REQUIRE(frame->data->n_values == 3);
    for (size_t i = 0; i < 3; i++) {
        const Netchan__Wire__Value *value = frame->data->values[i];
        CHECK_EQ_U64(value->seq, s.values[i].seq);
        CHECK_EQ_U64(value->attempts, s.values[i].attempts);
        CHECK_EQ_U64(value->payload.len, s.values[i].payload.len);
        CHECK(memcmp(value->payload.data, s.values[i].payload.data, value->payload.len) == 0);
    }
    nc_frame_free(frame);
}

TEST(wire_data_empty_payload_round_trip)
{
    Netchan__Wire__Value value = NETCHAN__WIRE__VALUE__INIT;
    value.seq = 42;
    value.attempts = 1;
    Netchan__Wire__Value *values[] = {&value};
    Netchan__Wire__Data data = NETCHAN__WIRE__DATA__INIT;
    data.link = 1;
    data.n_values = 1;
    data.values = values;
    Netchan__Wire__Frame in = NETCHAN__WIRE__FRAME__INIT;
    in.body_case = NETCHAN__WIRE__FRAME__BODY_DATA;
    in.data = &data;

    Netchan__Wire__Frame *frame = round_trip(&in);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_DATA);
    REQUIRE(frame->data->n_values == 1);
    CHECK_EQ_U64(frame->data->values[0]->seq, 42);
    CHECK_EQ_U64(frame->data->values[0]->payload.len, 0);
    nc_frame_free(frame);
}

TEST(wire_ack_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_ACK);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_ACK);
    const Netchan__Wire__Ack *ack = frame->ack;
    CHECK_EQ_U64(ack->link, 2);
    CHECK_EQ_U64(ack->ack_no, 99);
    REQUIRE(ack->n_acked == 1);
    REQUIRE(ack->n_returned == 1);
    REQUIRE(ack->n_rejected == 1);
    REQUIRE(ack->n_released == 1);
    CHECK_EQ_U64(ack->acked[0]->first, 1);
    CHECK_EQ_U64(ack->acked[0]->last, 10);
    CHECK_EQ_U64(ack->returned[0]->first, 11);
    CHECK_EQ_U64(ack->returned[0]->last, 11);
    CHECK_EQ_U64(ack->rejected[0]->first, 12);
    CHECK_EQ_U64(ack->rejected[0]->last, 1000);
    CHECK_EQ_U64(ack->released[0]->first, 1001);
    CHECK_EQ_U64(ack->released[0]->last, UINT64_MAX);
    CHECK(ack->reject_code == NETCHAN__WIRE__ERROR_CODE__ERROR_REJECTED);
    CHECK(strcmp(ack->reject_reason, "not a valid netchan.test.Point") == 0);
    nc_frame_free(frame);
}

TEST(wire_ack_confirm_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_ACK_CONFIRM);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_ACK_CONFIRM);
    CHECK_EQ_U64(frame->ack_confirm->link, 5);
    CHECK_EQ_U64(frame->ack_confirm->ack_no, UINT64_MAX);
    nc_frame_free(frame);
}

TEST(wire_credit_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_CREDIT);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_CREDIT);
    CHECK_EQ_U64(frame->credit->link, 6);
    CHECK_EQ_U64(frame->credit->total, (uint64_t)1 << 40);
    nc_frame_free(frame);
}

TEST(wire_end_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_END);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_END);
    CHECK_EQ_U64(frame->end->link, 8);
    nc_frame_free(frame);
}

TEST(wire_unbind_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_UNBIND);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_UNBIND);
    CHECK_EQ_U64(frame->unbind->link, 9);
    nc_frame_free(frame);
}

TEST(wire_ping_pong_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_PING);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    CHECK(frame->body_case == NETCHAN__WIRE__FRAME__BODY_PING);
    if (frame->body_case == NETCHAN__WIRE__FRAME__BODY_PING) {
        CHECK_EQ_U64(frame->ping->nonce, 0xfeedface);
    }
    nc_frame_free(frame);

    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_PONG);
    frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    CHECK(frame->body_case == NETCHAN__WIRE__FRAME__BODY_PONG);
    if (frame->body_case == NETCHAN__WIRE__FRAME__BODY_PONG) {
        CHECK_EQ_U64(frame->pong->nonce, UINT64_MAX);
    }
    nc_frame_free(frame);
}

TEST(wire_bye_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_BYE);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    CHECK(frame->body_case == NETCHAN__WIRE__FRAME__BODY_BYE);
    CHECK(frame->bye != NULL);
    nc_frame_free(frame);
}

TEST(wire_error_round_trip)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_ERROR);
    Netchan__Wire__Frame *frame = round_trip(&s.frame);
    REQUIRE(frame != NULL);
    REQUIRE(frame->body_case == NETCHAN__WIRE__FRAME__BODY_ERROR);
    CHECK(frame->error->code == NETCHAN__WIRE__ERROR_CODE__ERROR_NO_SESSION);
    CHECK(strcmp(frame->error->message, "no session for this connection; send Hello") == 0);
    CHECK_EQ_U64(frame->error->link, 4);
    nc_frame_free(frame);
}

/* The packer omits fields left at their defaults, so the decoder must accept frames whose
 * optional fields are all absent. */
TEST(wire_default_fields_accepted)
{
    Netchan__Wire__Welcome welcome = NETCHAN__WIRE__WELCOME__INIT;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_WELCOME;
    frame.welcome = &welcome;
    CHECK(frame_decodes(&frame));

    Netchan__Wire__Error error = NETCHAN__WIRE__ERROR__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_ERROR;
    frame.error = &error;
    CHECK(frame_decodes(&frame));

    Netchan__Wire__Ack ack = NETCHAN__WIRE__ACK__INIT;
    ack.link = 1;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_ACK;
    frame.ack = &ack;
    CHECK(frame_decodes(&frame));

    Netchan__Wire__Data data = NETCHAN__WIRE__DATA__INIT;
    data.link = 1;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_DATA;
    frame.data = &data;
    CHECK(frame_decodes(&frame));
}

/* The arena grows for a large frame and is reused for the smaller frames after it, and a
 * rejected frame in between leaves it usable. */
TEST(wire_arena_reused_across_frames)
{
    size_t sizes[] = {10, 600 * 1024, 3, 2 * 1024 * 1024, 0, 100};
    for (size_t round = 0; round < sizeof(sizes) / sizeof(sizes[0]); round++) {
        size_t size = sizes[round];
        uint8_t *payload = malloc(size > 0 ? size : 1);
        REQUIRE(payload != NULL);
        for (size_t i = 0; i < size; i++) {
            payload[i] = (uint8_t)(i ^ round);
        }
        Netchan__Wire__Value value = NETCHAN__WIRE__VALUE__INIT;
        value.seq = round + 1;
        value.payload.data = payload;
        value.payload.len = size;
        Netchan__Wire__Value *values[] = {&value};
        Netchan__Wire__Data data = NETCHAN__WIRE__DATA__INIT;
        data.link = 1;
        data.n_values = 1;
        data.values = values;
        Netchan__Wire__Frame in = NETCHAN__WIRE__FRAME__INIT;
        in.body_case = NETCHAN__WIRE__FRAME__BODY_DATA;
        in.data = &data;
        size_t packed_size = 0;
        uint8_t *packed = pack_frame(&in, &packed_size);
        REQUIRE(packed != NULL);

        Netchan__Wire__Frame *frame = nc_frame_decode_in(&arena, packed, packed_size);
        CHECK(frame != NULL);
        if (frame != NULL) {
            CHECK(frame->body_case == NETCHAN__WIRE__FRAME__BODY_DATA);
            CHECK_EQ_U64(frame->data->n_values, 1);
            CHECK_EQ_U64(frame->data->values[0]->seq, round + 1);
            CHECK_EQ_U64(frame->data->values[0]->payload.len, size);
            if (frame->data->values[0]->payload.len == size && size > 0) {
                CHECK(memcmp(frame->data->values[0]->payload.data, payload, size) == 0);
            }
        }
        /* A rejected frame in between leaves the arena usable. */
        CHECK(nc_frame_decode_in(&arena, packed, packed_size > 0 ? packed_size - 1 : 0) == NULL);
        free(packed);
        free(payload);
    }
}

/* ---- malformed input ---- */

TEST(wire_frame_without_body_rejected)
{
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    size_t size = 0;
    uint8_t *bytes = pack_frame(&frame, &size);
    REQUIRE(bytes != NULL);
    CHECK_EQ_U64(size, 0);
    CHECK(!decodes(bytes, size));
    free(bytes);

    /* Only an unknown field (number 15, a varint): protobuf skips it, leaving no body. */
    static const uint8_t unknown_only[] = {0x78, 0x01};
    CHECK(!decodes(unknown_only, sizeof(unknown_only)));
}

TEST(wire_truncated_data_rejected)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_DATA);
    size_t size = 0;
    uint8_t *bytes = pack_frame(&s.frame, &size);
    REQUIRE(bytes != NULL);
    REQUIRE(size > 10);
    CHECK(decodes(bytes, size));
    for (size_t prefix = 0; prefix < size; prefix++) {
        /* A copy of exactly prefix bytes, so that a read past the end shows under ASan. */
        uint8_t *copy = malloc(prefix > 0 ? prefix : 1);
        REQUIRE(copy != NULL);
        memcpy(copy, bytes, prefix);
        if (decodes(copy, prefix)) {
            printf("# a prefix of %zu of %zu bytes was accepted\n", prefix, size);
            CHECK(!"truncated Data frame accepted");
        }
        free(copy);
    }
    free(bytes);
}

TEST(wire_truncated_frames_rejected)
{
    for (size_t b = 0; b < N_BODIES; b++) {
        sample_t s;
        sample_frame(&s, all_bodies[b]);
        size_t size = 0;
        uint8_t *bytes = pack_frame(&s.frame, &size);
        REQUIRE(bytes != NULL);
        CHECK(decodes(bytes, size));
        for (size_t prefix = 0; prefix < size; prefix++) {
            if (decodes(bytes, prefix)) {
                printf("# body %d: a prefix of %zu of %zu bytes was accepted\n", (int)all_bodies[b],
                       prefix, size);
                CHECK(!"truncated frame accepted");
            }
        }
        free(bytes);
    }
}

/* Random bytes whose first byte is a tag of wire type 7, which protobuf does not define, are
 * never a valid frame whatever follows. */
TEST(wire_random_bytes_rejected)
{
    uint8_t buffer[256];
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        size_t size = 1 + (size_t)(rng_next() % sizeof(buffer));
        for (size_t i = 0; i < size; i++) {
            buffer[i] = (uint8_t)rng_next();
        }
        buffer[0] = (uint8_t)(((rng_next() % 15 + 1) << 3) | 7);
        if (decodes(buffer, size)) {
            accepted++;
        }
    }
    CHECK_EQ_U64(accepted, 0);

    static const uint8_t all_ones[64] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK(!decodes(all_ones, sizeof(all_ones)));
    static const uint8_t zeros[16] = {0};
    CHECK(!decodes(zeros, sizeof(zeros)));
    static const char text[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    CHECK(!decodes((const uint8_t *)text, sizeof(text) - 1));
}

/* Random bytes may by chance form a frame, so any frame the decoder accepts must carry what the
 * engine relies on. Half the inputs are valid frames with random bits flipped. */
TEST(wire_fuzzed_frames_follow_rules)
{
    uint8_t buffer[512];
    int accepted = 0;
    int broken = 0;
    for (int round = 0; round < 50000; round++) {
        size_t size;
        if (round % 2 == 0) {
            size = (size_t)(rng_next() % 64);
            for (size_t i = 0; i < size; i++) {
                buffer[i] = (uint8_t)rng_next();
            }
        } else {
            sample_t s;
            sample_frame(&s, all_bodies[rng_next() % N_BODIES]);
            size = netchan__wire__frame__get_packed_size(&s.frame);
            REQUIRE(size <= sizeof(buffer));
            netchan__wire__frame__pack(&s.frame, buffer);
            int flips = 1 + (int)(rng_next() % 3);
            for (int f = 0; f < flips && size > 0; f++) {
                buffer[rng_next() % size] ^= (uint8_t)(1u << (rng_next() % 8));
            }
        }
        Netchan__Wire__Frame *frame = decode_both(buffer, size);
        if (frame != NULL) {
            accepted++;
            if (!frame_follows_rules(frame)) {
                broken++;
            }
            nc_frame_free(frame);
        }
    }
    CHECK_EQ_U64(broken, 0);
    printf("# %d of 50000 fuzzed inputs decoded as valid frames\n", accepted);
}

TEST(wire_hello_session_length_checked)
{
    uint8_t session[32];
    memset(session, 0x81, sizeof(session));
    size_t lengths[] = {0, 1, 15, 17, 32};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        Netchan__Wire__Hello hello = NETCHAN__WIRE__HELLO__INIT;
        hello.version = 1;
        hello.session.data = session;
        hello.session.len = lengths[i];
        Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
        frame.body_case = NETCHAN__WIRE__FRAME__BODY_HELLO;
        frame.hello = &hello;
        if (frame_decodes(&frame)) {
            printf("# Hello with a session of %zu bytes was accepted\n", lengths[i]);
            CHECK(!"Hello with a session of the wrong length accepted");
        }
    }

    Netchan__Wire__Hello hello = NETCHAN__WIRE__HELLO__INIT;
    hello.version = 1;
    hello.session.data = session;
    hello.session.len = NC_SESSION_ID_SIZE;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_HELLO;
    frame.hello = &hello;
    CHECK(frame_decodes(&frame));
}

TEST(wire_data_link_zero_rejected)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_DATA);
    s.data.link = 0;
    CHECK(!frame_decodes(&s.frame));

    s.data.n_values = 0;
    CHECK(!frame_decodes(&s.frame));
}

TEST(wire_data_seq_zero_rejected)
{
    for (int position = 0; position < 3; position++) {
        sample_t s;
        sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_DATA);
        s.values[position].seq = 0;
        if (frame_decodes(&s.frame)) {
            printf("# Data with seq 0 at position %d was accepted\n", position);
            CHECK(!"Data with seq 0 accepted");
        }
    }
}

TEST(wire_ack_inverted_range_rejected)
{
    /* The same inverted range in each of the four lists, then a range starting at 0. */
    for (int list = 0; list < 4; list++) {
        sample_t s;
        sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_ACK);
        s.ranges[list].first = 20;
        s.ranges[list].last = 19;
        if (frame_decodes(&s.frame)) {
            printf("# Ack with first > last in list %d was accepted\n", list);
            CHECK(!"Ack with first > last accepted");
        }
    }
    for (int list = 0; list < 4; list++) {
        sample_t s;
        sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_ACK);
        s.ranges[list].first = 0;
        if (frame_decodes(&s.frame)) {
            printf("# Ack with a range from 0 in list %d was accepted\n", list);
            CHECK(!"Ack with a range from seq 0 accepted");
        }
    }
}

TEST(wire_link_zero_rejected)
{
    static const Netchan__Wire__Frame__BodyCase link_bodies[] = {
        NETCHAN__WIRE__FRAME__BODY_BIND,   NETCHAN__WIRE__FRAME__BODY_BOUND,
        NETCHAN__WIRE__FRAME__BODY_ACK,    NETCHAN__WIRE__FRAME__BODY_ACK_CONFIRM,
        NETCHAN__WIRE__FRAME__BODY_CREDIT, NETCHAN__WIRE__FRAME__BODY_END,
        NETCHAN__WIRE__FRAME__BODY_UNBIND,
    };
    for (size_t i = 0; i < sizeof(link_bodies) / sizeof(link_bodies[0]); i++) {
        sample_t s;
        sample_frame(&s, link_bodies[i]);
        CHECK(frame_decodes(&s.frame));
        s.bind.link = 0;
        s.bound.link = 0;
        s.ack.link = 0;
        s.ack_confirm.link = 0;
        s.credit.link = 0;
        s.end.link = 0;
        s.unbind.link = 0;
        if (frame_decodes(&s.frame)) {
            printf("# body %d with link 0 was accepted\n", (int)link_bodies[i]);
            CHECK(!"frame with link 0 accepted");
        }
    }
}

TEST(wire_bind_empty_channel_rejected)
{
    sample_t s;
    sample_frame(&s, NETCHAN__WIRE__FRAME__BODY_BIND);
    s.bind.channel = "";
    CHECK(!frame_decodes(&s.frame));
}

/* Hand-written frames whose fields carry the wrong protobuf wire type. */
TEST(wire_wrong_field_types_rejected)
{
    /* Frame.hello (a message) sent as a varint. */
    static const uint8_t hello_as_varint[] = {0x08, 0x01};
    CHECK(!decodes(hello_as_varint, sizeof(hello_as_varint)));
    /* Frame.data (a message) sent as a 32-bit fixed value. */
    static const uint8_t data_as_fixed32[] = {0x2d, 0x01, 0x00, 0x00, 0x00};
    CHECK(!decodes(data_as_fixed32, sizeof(data_as_fixed32)));
    /* Hello.session (bytes) sent as a varint. */
    static const uint8_t session_as_varint[] = {0x0a, 0x04, 0x08, 0x01, 0x10, 0x05};
    CHECK(!decodes(session_as_varint, sizeof(session_as_varint)));
    /* Data.link (uint32) sent as bytes. */
    static const uint8_t link_as_bytes[] = {0x2a, 0x03, 0x0a, 0x01, 0x01};
    CHECK(!decodes(link_as_bytes, sizeof(link_as_bytes)));
    /* Value.seq (fixed64) sent as a varint, inside an otherwise valid Data frame. */
    static const uint8_t seq_as_varint[] = {0x2a, 0x06, 0x08, 0x01, 0x12, 0x02, 0x08, 0x01};
    CHECK(!decodes(seq_as_varint, sizeof(seq_as_varint)));
    /* SeqRange.first (fixed64) sent as a 32-bit fixed value in Ack.acked. */
    static const uint8_t first_as_fixed32[] = {0x32, 0x09, 0x08, 0x01, 0x1a, 0x05,
                                               0x0d, 0x01, 0x00, 0x00, 0x00};
    CHECK(!decodes(first_as_fixed32, sizeof(first_as_fixed32)));
    /* Bind.channel (string) sent as a varint. */
    static const uint8_t channel_as_varint[] = {0x1a, 0x04, 0x08, 0x01, 0x10, 0x01};
    CHECK(!decodes(channel_as_varint, sizeof(channel_as_varint)));

    /* The same shapes with the right wire types decode, so the checks above test the types. */
    static const uint8_t seq_as_fixed64[] = {0x2a, 0x0d, 0x08, 0x01, 0x12, 0x09, 0x09, 0x01,
                                             0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    CHECK(decodes(seq_as_fixed64, sizeof(seq_as_fixed64)));
    static const uint8_t first_as_fixed64[] = {0x32, 0x16, 0x08, 0x01, 0x1a, 0x12, 0x09, 0x01,
                                               0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11,
                                               0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    CHECK(decodes(first_as_fixed64, sizeof(first_as_fixed64)));
}

/* A length prefix that claims more bytes than the frame holds. */
TEST(wire_overlong_length_rejected)
{
    static const uint8_t claims_more[] = {0x2a, 0x7f, 0x08, 0x01};
    CHECK(!decodes(claims_more, sizeof(claims_more)));
    /* A ten-byte varint length that overflows 64 bits. */
    static const uint8_t huge_length[] = {0x2a, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0x7f, 0x08};
    CHECK(!decodes(huge_length, sizeof(huge_length)));
}

TEST(wire_error_codes_map_to_api)
{
    struct {
        Netchan__Wire__ErrorCode wire;
        netchan_err api;
    } cases[] = {
        {NETCHAN__WIRE__ERROR_CODE__ERROR_NONE, NETCHAN_OK},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_INVALID, NETCHAN_EINVAL},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_NOT_FOUND, NETCHAN_ENOTFOUND},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_TYPE, NETCHAN_ETYPE},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_DIRECTION, NETCHAN_EDIRECTION},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_EXISTS, NETCHAN_EEXIST},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL, NETCHAN_EPROTO},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_TOO_BIG, NETCHAN_ETOOBIG},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_DECODE, NETCHAN_EDECODE},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_STATE, NETCHAN_ESTATE},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_REJECTED, NETCHAN_EREJECTED},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_AUTH, NETCHAN_EAUTH},
        {NETCHAN__WIRE__ERROR_CODE__ERROR_NO_SESSION, NETCHAN_EPROTO},
        {(Netchan__Wire__ErrorCode)12345, NETCHAN_EPROTO},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_ERR(nc_err_from_wire(cases[i].wire), cases[i].api);
        /* The numbers match netchan_err wherever both define a code. */
        if (cases[i].wire < 100) {
            CHECK_EQ_U64(cases[i].wire, cases[i].api);
        }
    }
    CHECK(nc_dir_to_wire(NETCHAN_SEND) == NETCHAN__WIRE__DIRECTION__DIRECTION_SEND);
    CHECK(nc_dir_to_wire(NETCHAN_RECV) == NETCHAN__WIRE__DIRECTION__DIRECTION_RECV);
}

/* ---- error texts and version ---- */

/* The last code netchan.h defines. Codes are only appended, so a new one fails these tests
 * until its text is checked here too. */
#define LAST_CODE NETCHAN_EAUTH

TEST(strerror_every_code_distinct)
{
    const char *unknown = netchan_strerror((netchan_err)1000);
    REQUIRE(unknown != NULL);
    CHECK(unknown[0] != '\0');
    const char *texts[LAST_CODE + 1];
    for (int code = NETCHAN_OK; code <= LAST_CODE; code++) {
        texts[code] = netchan_strerror((netchan_err)code);
        REQUIRE(texts[code] != NULL);
        CHECK(texts[code][0] != '\0');
        if (strcmp(texts[code], unknown) == 0) {
            printf("# code %d has the text for unknown codes: %s\n", code, texts[code]);
            CHECK(!"known code described as unknown");
        }
        for (int other = 0; other < code; other++) {
            if (strcmp(texts[code], texts[other]) == 0) {
                printf("# codes %d and %d share the text '%s'\n", other, code, texts[code]);
                CHECK(!"two codes share a text");
            }
        }
    }
}

TEST(strerror_unknown_code_generic)
{
    int codes[] = {-1, LAST_CODE + 1, 100, 0x7fffffff};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *text = netchan_strerror((netchan_err)codes[i]);
        REQUIRE(text != NULL);
        CHECK(text[0] != '\0');
        CHECK(strcmp(text, netchan_strerror((netchan_err)1000)) == 0);
    }
}

TEST(strerror_codes_keep_numbers)
{
    /* The header promises stable numbers, because bindings hard-code them. */
    CHECK_EQ_U64(NETCHAN_OK, 0);
    CHECK_EQ_U64(NETCHAN_EINVAL, 1);
    CHECK_EQ_U64(NETCHAN_ETIMEDOUT, 3);
    CHECK_EQ_U64(NETCHAN_EAGAIN, 4);
    CHECK_EQ_U64(NETCHAN_ECLOSED, 5);
    CHECK_EQ_U64(NETCHAN_ENOTFOUND, 6);
    CHECK_EQ_U64(NETCHAN_ETYPE, 7);
    CHECK_EQ_U64(NETCHAN_EDIRECTION, 8);
    CHECK_EQ_U64(NETCHAN_EPROTO, 11);
    CHECK_EQ_U64(NETCHAN_EDISCARDED, 17);
    CHECK_EQ_U64(NETCHAN_EAUTH, 18);
    CHECK_EQ_U64(NETCHAN_SEND, 1);
    CHECK_EQ_U64(NETCHAN_RECV, 2);
    CHECK(NETCHAN_FOREVER == -1);
    CHECK_EQ_U64(NETCHAN_NOWAIT, 0);
}

TEST(version_has_three_numbers)
{
    const char *version = netchan_version();
    REQUIRE(version != NULL);
    unsigned major = 0;
    unsigned minor = 0;
    unsigned patch = 0;
    int end = 0;
    CHECK(sscanf(version, "%u.%u.%u%n", &major, &minor, &patch, &end) == 3);
    CHECK_EQ_U64(end, strlen(version));
}

/* ---- options ---- */

TEST(options_defaults)
{
    netchan_options_t *options = netchan_options_new();
    REQUIRE(options != NULL);
    CHECK_EQ_U64(options->capacity, 1024);
    CHECK_EQ_U64(options->max_value_size, 1u << 20);
    CHECK(!options->explicit_ack);
    netchan_options_destroy(&options);
    CHECK(options == NULL);
    netchan_options_destroy(&options);
    netchan_options_destroy(NULL);
}

TEST(options_capacity_bounds)
{
    netchan_options_t *options = netchan_options_new();
    REQUIRE(options != NULL);
    CHECK_ERR(netchan_options_set_capacity(options, 0), NETCHAN_EINVAL);
    CHECK_EQ_U64(options->capacity, 1024);
    CHECK_ERR(netchan_options_set_capacity(options, 1), NETCHAN_OK);
    CHECK_EQ_U64(options->capacity, 1);
    CHECK_ERR(netchan_options_set_capacity(options, 1048576), NETCHAN_OK);
    CHECK_EQ_U64(options->capacity, 1048576);
    CHECK_ERR(netchan_options_set_capacity(options, 1048577), NETCHAN_EINVAL);
    CHECK_ERR(netchan_options_set_capacity(options, UINT32_MAX), NETCHAN_EINVAL);
    CHECK_EQ_U64(options->capacity, 1048576);
    CHECK_ERR(netchan_options_set_capacity(NULL, 10), NETCHAN_EINVAL);
    netchan_options_destroy(&options);
}

TEST(options_max_value_size_bounds)
{
    netchan_options_t *options = netchan_options_new();
    REQUIRE(options != NULL);
    CHECK_ERR(netchan_options_set_max_value_size(options, 0), NETCHAN_EINVAL);
    CHECK_EQ_U64(options->max_value_size, 1u << 20);
    CHECK_ERR(netchan_options_set_max_value_size(options, 1), NETCHAN_OK);
    CHECK_EQ_U64(options->max_value_size, 1);
    CHECK_ERR(netchan_options_set_max_value_size(options, 16u << 20), NETCHAN_OK);
    CHECK_EQ_U64(options->max_value_size, 16u << 20);
    CHECK_ERR(netchan_options_set_max_value_size(options, (16u << 20) + 1), NETCHAN_EINVAL);
    CHECK_ERR(netchan_options_set_max_value_size(options, UINT32_MAX), NETCHAN_EINVAL);
    CHECK_EQ_U64(options->max_value_size, 16u << 20);
    CHECK_ERR(netchan_options_set_max_value_size(NULL, 10), NETCHAN_EINVAL);
    netchan_options_destroy(&options);
}

TEST(options_explicit_ack_toggles)
{
    netchan_options_t *options = netchan_options_new();
    REQUIRE(options != NULL);
    CHECK_ERR(netchan_options_set_explicit_ack(options, true), NETCHAN_OK);
    CHECK(options->explicit_ack);
    CHECK_ERR(netchan_options_set_explicit_ack(options, false), NETCHAN_OK);
    CHECK(!options->explicit_ack);
    CHECK_ERR(netchan_options_set_explicit_ack(NULL, true), NETCHAN_EINVAL);
    netchan_options_destroy(&options);
}

TEST(options_delivery_limits)
{
    netchan_options_t *options = netchan_options_new();
    REQUIRE(options != NULL);
    CHECK_EQ_U64(options->ack_deadline_ms, 0);
    CHECK_EQ_U64(options->max_attempts, 0);
    CHECK(options->dead_letter[0] == '\0');
    CHECK(!options->unacknowledged);

    CHECK_ERR(netchan_options_set_ack_deadline(options, 1500), NETCHAN_OK);
    CHECK_EQ_U64(options->ack_deadline_ms, 1500);
    CHECK_ERR(netchan_options_set_ack_deadline(NULL, 1500), NETCHAN_EINVAL);
    CHECK_ERR(netchan_options_set_max_attempts(options, 3), NETCHAN_OK);
    CHECK_EQ_U64(options->max_attempts, 3);
    CHECK_ERR(netchan_options_set_max_attempts(NULL, 3), NETCHAN_EINVAL);
    CHECK_ERR(netchan_options_set_unacknowledged(options, true), NETCHAN_OK);
    CHECK(options->unacknowledged);
    CHECK_ERR(netchan_options_set_unacknowledged(NULL, true), NETCHAN_EINVAL);
    netchan_options_destroy(&options);
}

TEST(options_dead_letter_name_bounds)
{
    netchan_options_t *options = netchan_options_new();
    REQUIRE(options != NULL);
    char name[300];
    memset(name, 'd', sizeof(name));
    name[255] = '\0';
    CHECK_ERR(netchan_options_set_dead_letter(options, name), NETCHAN_OK);
    CHECK(strcmp(options->dead_letter, name) == 0);
    name[255] = 'd';
    name[256] = '\0';
    CHECK_ERR(netchan_options_set_dead_letter(options, name), NETCHAN_EINVAL);
    CHECK_EQ_U64(strlen(options->dead_letter), 255);
    CHECK_ERR(netchan_options_set_dead_letter(options, NULL), NETCHAN_OK);
    CHECK(options->dead_letter[0] == '\0');
    CHECK_ERR(netchan_options_set_dead_letter(NULL, "dlq"), NETCHAN_EINVAL);
    netchan_options_destroy(&options);
}

/* ---- type fingerprints ---- */

static bool is_fingerprint(const char *text)
{
    if (strlen(text) != 16) {
        return false;
    }
    for (const char *p = text; *p != '\0'; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return false;
        }
    }
    return true;
}

static void fingerprint_of(const ProtobufCMessageDescriptor *type, char out[17])
{
    memset(out, 0, 17);
    if (netchan_type_fingerprint(type, out, 17) != NETCHAN_OK) {
        out[0] = '\0';
    }
}

/* A writable copy of a message descriptor and its fields, for building variants of a type. */
typedef struct descriptor_copy {
    ProtobufCMessageDescriptor descriptor;
    ProtobufCFieldDescriptor fields[8];
    unsigned sorted[8];
} descriptor_copy_t;

static void copy_descriptor(descriptor_copy_t *copy, const ProtobufCMessageDescriptor *type)
{
    copy->descriptor = *type;
    memcpy(copy->fields, type->fields, type->n_fields * sizeof(*type->fields));
    memcpy(copy->sorted, type->fields_sorted_by_name, type->n_fields * sizeof(unsigned));
    copy->descriptor.fields = copy->fields;
    copy->descriptor.fields_sorted_by_name = copy->sorted;
}

TEST(fingerprint_stable_and_hex)
{
    char first[17];
    char second[17];
    fingerprint_of(&netchan__test__point__descriptor, first);
    fingerprint_of(&netchan__test__point__descriptor, second);
    CHECK(is_fingerprint(first));
    CHECK(strcmp(first, second) == 0);

    /* Bindings in other languages compute the same value, so it must never change. It is the
     * 64-bit FNV-1a hash of "netchan.test.Point" followed by ";1 x optional int32 ",
     * ";2 y optional int32 " and ";3 label optional string ", computed outside this library. */
    CHECK(strcmp(first, "4abc22062a9b4d53") == 0);
}

TEST(fingerprint_differs_between_types)
{
    char point[17];
    char other[17];
    char hello[17];
    fingerprint_of(&netchan__test__point__descriptor, point);
    fingerprint_of(&netchan__test__other__descriptor, other);
    fingerprint_of(&netchan__wire__hello__descriptor, hello);
    CHECK(strcmp(point, other) != 0);
    CHECK(strcmp(point, hello) != 0);
    CHECK(strcmp(other, hello) != 0);
}

TEST(fingerprint_changes_with_field)
{
    char original[17];
    fingerprint_of(&netchan__test__point__descriptor, original);
    REQUIRE(netchan__test__point__descriptor.n_fields == 3);

    descriptor_copy_t copy;
    char changed[17];

    copy_descriptor(&copy, &netchan__test__point__descriptor);
    copy.fields[1].type = PROTOBUF_C_TYPE_SINT32;
    fingerprint_of(&copy.descriptor, changed);
    CHECK(strcmp(original, changed) != 0);

    copy_descriptor(&copy, &netchan__test__point__descriptor);
    copy.fields[1].name = "z";
    fingerprint_of(&copy.descriptor, changed);
    CHECK(strcmp(original, changed) != 0);

    copy_descriptor(&copy, &netchan__test__point__descriptor);
    copy.fields[2].id = 4;
    fingerprint_of(&copy.descriptor, changed);
    CHECK(strcmp(original, changed) != 0);

    copy_descriptor(&copy, &netchan__test__point__descriptor);
    copy.fields[0].label = PROTOBUF_C_LABEL_REPEATED;
    fingerprint_of(&copy.descriptor, changed);
    CHECK(strcmp(original, changed) != 0);

    copy_descriptor(&copy, &netchan__test__point__descriptor);
    copy.descriptor.n_fields = 2;
    fingerprint_of(&copy.descriptor, changed);
    CHECK(strcmp(original, changed) != 0);

    copy_descriptor(&copy, &netchan__test__point__descriptor);
    copy.descriptor.name = "netchan.test.Point2";
    fingerprint_of(&copy.descriptor, changed);
    CHECK(strcmp(original, changed) != 0);

    /* An unchanged copy hashes the same, so the differences above come from the changes. */
    copy_descriptor(&copy, &netchan__test__point__descriptor);
    fingerprint_of(&copy.descriptor, changed);
    CHECK(strcmp(original, changed) == 0);
}

/* Fields are hashed in field-number order, so the order of a descriptor's field array (which
 * differs between protobuf runtimes) does not matter. */
TEST(fingerprint_ignores_field_order)
{
    char original[17];
    fingerprint_of(&netchan__test__point__descriptor, original);

    descriptor_copy_t copy;
    copy_descriptor(&copy, &netchan__test__point__descriptor);
    ProtobufCFieldDescriptor first = copy.fields[0];
    copy.fields[0] = copy.fields[2];
    copy.fields[2] = first;
    char reordered[17];
    fingerprint_of(&copy.descriptor, reordered);
    CHECK(strcmp(original, reordered) == 0);
}

TEST(fingerprint_message_field_reference)
{
    /* Data contains repeated Value messages, so naming another message type there changes it. */
    char original[17];
    fingerprint_of(&netchan__wire__data__descriptor, original);
    CHECK(is_fingerprint(original));

    descriptor_copy_t copy;
    REQUIRE(netchan__wire__data__descriptor.n_fields <= 8);
    copy_descriptor(&copy, &netchan__wire__data__descriptor);
    for (unsigned i = 0; i < copy.descriptor.n_fields; i++) {
        if (copy.fields[i].type == PROTOBUF_C_TYPE_MESSAGE) {
            copy.fields[i].descriptor = &netchan__wire__seq_range__descriptor;
        }
    }
    char changed[17];
    fingerprint_of(&copy.descriptor, changed);
    CHECK(strcmp(original, changed) != 0);
}

TEST(fingerprint_argument_checks)
{
    char buffer[32];
    CHECK_ERR(netchan_type_fingerprint(&netchan__test__point__descriptor, buffer, 16),
              NETCHAN_EINVAL);
    CHECK_ERR(netchan_type_fingerprint(&netchan__test__point__descriptor, buffer, 0),
              NETCHAN_EINVAL);
    CHECK_ERR(netchan_type_fingerprint(NULL, buffer, sizeof(buffer)), NETCHAN_EINVAL);
    CHECK_ERR(netchan_type_fingerprint(&netchan__test__point__descriptor, NULL, 17),
              NETCHAN_EINVAL);
    memset(buffer, 'x', sizeof(buffer));
    CHECK_ERR(netchan_type_fingerprint(&netchan__test__point__descriptor, buffer, 17), NETCHAN_OK);
    CHECK_EQ_U64(strlen(buffer), 16);
}

int main(void)
{
    RUN(wire_hello_round_trip);
    RUN(wire_welcome_round_trip);
    RUN(wire_bind_round_trip);
    RUN(wire_bound_round_trip);
    RUN(wire_data_round_trip);
    RUN(wire_data_empty_payload_round_trip);
    RUN(wire_ack_round_trip);
    RUN(wire_ack_confirm_round_trip);
    RUN(wire_credit_round_trip);
    RUN(wire_end_round_trip);
    RUN(wire_unbind_round_trip);
    RUN(wire_ping_pong_round_trip);
    RUN(wire_bye_round_trip);
    RUN(wire_error_round_trip);
    RUN(wire_default_fields_accepted);
    RUN(wire_arena_reused_across_frames);
    RUN(wire_frame_without_body_rejected);
    RUN(wire_truncated_data_rejected);
    RUN(wire_truncated_frames_rejected);
    RUN(wire_random_bytes_rejected);
    RUN(wire_fuzzed_frames_follow_rules);
    RUN(wire_hello_session_length_checked);
    RUN(wire_data_link_zero_rejected);
    RUN(wire_data_seq_zero_rejected);
    RUN(wire_ack_inverted_range_rejected);
    RUN(wire_link_zero_rejected);
    RUN(wire_bind_empty_channel_rejected);
    RUN(wire_wrong_field_types_rejected);
    RUN(wire_overlong_length_rejected);
    RUN(wire_error_codes_map_to_api);
    RUN(strerror_every_code_distinct);
    RUN(strerror_unknown_code_generic);
    RUN(strerror_codes_keep_numbers);
    RUN(version_has_three_numbers);
    RUN(options_defaults);
    RUN(options_capacity_bounds);
    RUN(options_max_value_size_bounds);
    RUN(options_explicit_ack_toggles);
    RUN(options_delivery_limits);
    RUN(options_dead_letter_name_bounds);
    RUN(fingerprint_stable_and_hex);
    RUN(fingerprint_differs_between_types);
    RUN(fingerprint_changes_with_field);
    RUN(fingerprint_ignores_field_order);
    RUN(fingerprint_message_field_reference);
    RUN(fingerprint_argument_checks);
    nc_arena_free(&arena);
    return harness_done();
}
