/* Decoding of wire frames and mapping between wire and API codes. Every byte that arrives from
 * a peer passes through nc_frame_decode() before the engine looks at it. */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "nc.h"

/* Returns true when every message inside frame carries the fields its handler relies on. Field
 * types and lengths were already checked by protobuf-c while unpacking. */
static bool frame_is_complete(const Netchan__Wire__Frame *frame)
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
    case NETCHAN__WIRE__FRAME__BODY_ACK: {
        const Netchan__Wire__Ack *ack = frame->ack;
        Netchan__Wire__SeqRange **lists[4] = {ack->acked, ack->returned, ack->rejected,
                                              ack->released};
        size_t counts[4] = {ack->n_acked, ack->n_returned, ack->n_rejected, ack->n_released};
        for (int l = 0; l < 4; l++) {
            for (size_t i = 0; i < counts[l]; i++) {
                if (lists[l][i]->first == 0 || lists[l][i]->first > lists[l][i]->last) {
                    return false;
                }
            }
        }
        return ack->link != 0 && ack->reject_reason != NULL;
    }
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
    case NETCHAN__WIRE__FRAME__BODY__NOT_SET:
    default:
        return false;
    }
}

Netchan__Wire__Frame *nc_frame_decode(const void *data, size_t size)
{
    Netchan__Wire__Frame *frame = netchan__wire__frame__unpack(NULL, size, data);
    if (frame == NULL) {
        return NULL;
    }
    if (!frame_is_complete(frame)) {
        netchan__wire__frame__free_unpacked(frame, NULL);
        return NULL;
    }
    return frame;
}

/* ---- arena ---- */

struct nc_arena_chunk {
    nc_arena_chunk_t *next;
    size_t size;
    size_t used;
    max_align_t data[];
};

static nc_arena_chunk_t *chunk_new(size_t size)
{
    nc_arena_chunk_t *chunk = malloc(sizeof(*chunk) + size);
    if (chunk != NULL) {
        chunk->next = NULL;
        chunk->size = size;
        chunk->used = 0;
    }
    return chunk;
}

static void *arena_alloc(void *data, size_t size)
{
    nc_arena_t *arena = data;
    size_t aligned = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    nc_arena_chunk_t *chunk = arena->chunks;
    if (chunk == NULL || chunk->size - chunk->used < aligned) {
        size_t want = aligned > 64 * 1024 ? aligned : 64 * 1024;
        if (chunk != NULL && chunk->size * 2 > want) {
            want = chunk->size * 2;
        }
        nc_arena_chunk_t *fresh = chunk_new(want);
        if (fresh == NULL) {
            return NULL;
        }
        fresh->next = chunk;
        arena->chunks = fresh;
        chunk = fresh;
    }
    void *memory = (uint8_t *)chunk->data + chunk->used;
    chunk->used += aligned;
    arena->used_total += aligned;
    return memory;
}

static void arena_release(void *data, void *pointer)
{
    (void)data; /* freed all at once by nc_arena_reset() */
    (void)pointer;
}

void nc_arena_reset(nc_arena_t *arena)
{
    /* Keep one chunk, big enough for what the last frame needed, so that a steady stream of
     * frames of one size decodes without any malloc. */
    nc_arena_chunk_t *chunk = arena->chunks;
    if (chunk != NULL && chunk->next != NULL) {
        size_t needed = arena->used_total;
        nc_arena_free(arena);
        arena->chunks = chunk_new(needed);
        return;
    }
    if (chunk != NULL) {
        chunk->used = 0;
    }
    arena->used_total = 0;
}

void nc_arena_free(nc_arena_t *arena)
{
    while (arena->chunks != NULL) {
        nc_arena_chunk_t *next = arena->chunks->next;
        free(arena->chunks);
        arena->chunks = next;
    }
    arena->used_total = 0;
}

Netchan__Wire__Frame *nc_frame_decode_in(nc_arena_t *arena, const void *data, size_t size)
{
    ProtobufCAllocator allocator = {arena_alloc, arena_release, arena};
    nc_arena_reset(arena);
    Netchan__Wire__Frame *frame = netchan__wire__frame__unpack(&allocator, size, data);
    if (frame == NULL || !frame_is_complete(frame)) {
        nc_arena_reset(arena);
        return NULL;
    }
    return frame;
}

void nc_frame_free(Netchan__Wire__Frame *frame)
{
    if (frame != NULL) {
        netchan__wire__frame__free_unpacked(frame, NULL);
    }
}

Netchan__Wire__Direction nc_dir_to_wire(netchan_dir dir)
{
    return dir == NETCHAN_SEND ? NETCHAN__WIRE__DIRECTION__DIRECTION_SEND
                               : NETCHAN__WIRE__DIRECTION__DIRECTION_RECV;
}

netchan_err nc_err_from_wire(Netchan__Wire__ErrorCode code)
{
    switch (code) {
    case NETCHAN__WIRE__ERROR_CODE__ERROR_NONE:
        return NETCHAN_OK;
    case NETCHAN__WIRE__ERROR_CODE__ERROR_INVALID:
        return NETCHAN_EINVAL;
    case NETCHAN__WIRE__ERROR_CODE__ERROR_NOT_FOUND:
        return NETCHAN_ENOTFOUND;
    case NETCHAN__WIRE__ERROR_CODE__ERROR_TYPE:
        return NETCHAN_ETYPE;
    case NETCHAN__WIRE__ERROR_CODE__ERROR_DIRECTION:
        return NETCHAN_EDIRECTION;
    case NETCHAN__WIRE__ERROR_CODE__ERROR_EXISTS:
        return NETCHAN_EEXIST;
    case NETCHAN__WIRE__ERROR_CODE__ERROR_TOO_BIG:
        return NETCHAN_ETOOBIG;
    case NETCHAN__WIRE__ERROR_CODE__ERROR_DECODE:
        return NETCHAN_EDECODE;
    case NETCHAN__WIRE__ERROR_CODE__ERROR_STATE:
        return NETCHAN_ESTATE;
    case NETCHAN__WIRE__ERROR_CODE__ERROR_REJECTED:
        return NETCHAN_EREJECTED;
    case NETCHAN__WIRE__ERROR_CODE__ERROR_AUTH:
        return NETCHAN_EAUTH;
    case NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL:
    case NETCHAN__WIRE__ERROR_CODE__ERROR_NO_SESSION:
    default:
        return NETCHAN_EPROTO;
    }
}

/* ---- value nesting ---- */

/* Reads a varint at *pos, below end; returns false when it is truncated or too long. */
static bool read_varint(const uint8_t *data, size_t end, size_t *pos, uint64_t *value)
{
    uint64_t result = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= end) {
            return false;
        }
        uint8_t byte = data[(*pos)++];
        result |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            *value = result;
            return true;
        }
    }
    return false;
}

bool nc_value_nesting_ok(const ProtobufCMessageDescriptor *type, const uint8_t *data, size_t size)
{
    /* protobuf-c unpacks nested messages by recursion, so a value nested deeply enough exhausts
     * the receiving thread's stack. This walk follows the same nesting with an explicit stack. */
    struct level {
        const ProtobufCMessageDescriptor *type;
        size_t end;
    } stack[NC_MAX_VALUE_DEPTH + 1];
    size_t depth = 0;
    size_t pos = 0;
    stack[0] = (struct level){type, size};

    for (;;) {
        while (pos == stack[depth].end) {
            if (depth == 0) {
                return true;
            }
            depth--;
        }
        uint64_t key = 0;
        uint64_t length = 0;
        if (!read_varint(data, stack[depth].end, &pos, &key)) {
            return false;
        }
        switch (key & 7) {
        case 0: /* varint */
            if (!read_varint(data, stack[depth].end, &pos, &length)) {
                return false;
            }
            break;
        case 1: /* 64-bit */
        case 5: /* 32-bit */
            length = (key & 7) == 1 ? 8 : 4;
            if (stack[depth].end - pos < length) {
                return false;
            }
            pos += length;
            break;
        case 2: { /* length-delimited: bytes, string, packed numbers or a nested message */
            if (!read_varint(data, stack[depth].end, &pos, &length) ||
                stack[depth].end - pos < length) {
                return false;
            }
            const ProtobufCFieldDescriptor *field =
                protobuf_c_message_descriptor_get_field(stack[depth].type, (unsigned)(key >> 3));
            if (field != NULL && field->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth == NC_MAX_VALUE_DEPTH) {
                    return false;
                }
                stack[depth + 1] = (struct level){field->descriptor, pos + (size_t)length};
                depth++;
            } else {
                pos += (size_t)length;
            }
            break;
        }
        default: /* groups, which protobuf-c does not support, and invalid wire types */
            return false;
        }
    }
}

/* ---- Data frames by hand ----
 *
 * Data frames carry every value, so the engines encode them directly instead of building
 * protobuf-c structures, and decode the canonical form they produce without allocating per
 * value. The bytes are ordinary protobuf: Frame{data = 5} holding Data{link = 1, values = 2,
 * epoch = 3}, each Value{seq = 1 (fixed64), attempts = 2, payload = 3}, zero fields omitted as
 * proto3 does. The decoder accepts only that form; anything else (unknown or repeated fields,
 * other field orders) goes to protobuf-c, so both decoders agree on every input they accept. */

static size_t varint_size(uint64_t value)
{
    size_t size = 1;
    while (value >= 0x80) {
        value >>= 7;
        size++;
    }
    return size;
}

static uint8_t *put_varint(uint8_t *out, uint64_t value)
{
    while (value >= 0x80) {
        *out++ = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    *out++ = (uint8_t)value;
    return out;
}

static size_t value_body_size(const nc_value_t *value)
{
    size_t size = 1 + 8; /* seq */
    if (value->attempts != 0) {
        size += 1 + varint_size(value->attempts);
    }
    if (value->size != 0) {
        size += 1 + varint_size(value->size) + value->size;
    }
    if (value->sent) {
        size += 2; /* redelivered = true */
    }
    return size;
}

static size_t data_body_size(uint32_t link, uint32_t epoch, nc_value_t *const *values, size_t n)
{
    size_t size = 0;
    if (link != 0) {
        size += 1 + varint_size(link);
    }
    for (size_t i = 0; i < n; i++) {
        size_t body = value_body_size(values[i]);
        size += 1 + varint_size(body) + body;
    }
    if (epoch != 0) {
        size += 1 + varint_size(epoch);
    }
    return size;
}

size_t nc_data_encoded_size(uint32_t link, uint32_t epoch, nc_value_t *const *values, size_t n)
{
    size_t body = data_body_size(link, epoch, values, n);
    return 1 + varint_size(body) + body;
}

void nc_data_encode(uint8_t *out, uint32_t link, uint32_t epoch, nc_value_t *const *values,
                    size_t n)
{
    size_t body = data_body_size(link, epoch, values, n);
    *out++ = (5 << 3) | 2; /* Frame.data */
    out = put_varint(out, body);
    if (link != 0) {
        *out++ = (1 << 3) | 0; /* Data.link */
        out = put_varint(out, link);
    }
    for (size_t i = 0; i < n; i++) {
        const nc_value_t *value = values[i];
        *out++ = (2 << 3) | 2; /* Data.values */
        out = put_varint(out, value_body_size(value));
        *out++ = (1 << 3) | 1; /* Value.seq, little-endian fixed64 */
        for (int b = 0; b < 8; b++) {
            *out++ = (uint8_t)(value->seq >> (8 * b));
        }
        if (value->attempts != 0) {
            *out++ = (2 << 3) | 0; /* Value.attempts */
            out = put_varint(out, value->attempts);
        }
        if (value->size != 0) {
            *out++ = (3 << 3) | 2; /* Value.payload */
            out = put_varint(out, value->size);
            memcpy(out, value->data, value->size);
            out += value->size;
        }
        if (value->sent) {
            *out++ = (4 << 3) | 0; /* Value.redelivered */
            *out++ = 1;
        }
    }
    if (epoch != 0) {
        *out++ = (3 << 3) | 0; /* Data.epoch */
        put_varint(out, epoch);
    }
}

/* Parses one canonical Value at data[pos..end); fails on anything else. */
static bool parse_value(const uint8_t *data, size_t end, nc_wire_value_t *value)
{
    size_t pos = 0;
    uint64_t number = 0;
    memset(value, 0, sizeof(*value));
    if (end < 9 || data[0] != ((1 << 3) | 1)) {
        return false;
    }
    for (int b = 0; b < 8; b++) {
        value->seq |= (uint64_t)data[1 + b] << (8 * b);
    }
    pos = 9;
    if (pos < end && data[pos] == ((2 << 3) | 0)) {
        pos++;
        if (!read_varint(data, end, &pos, &number) || number == 0 || number > UINT32_MAX) {
            return false;
        }
        value->attempts = (uint32_t)number;
    }
    if (pos < end && data[pos] == ((3 << 3) | 2)) {
        pos++;
        if (!read_varint(data, end, &pos, &number) || number == 0 || end - pos != number) {
            return false;
        }
        value->payload = data + pos;
        value->size = (size_t)number;
        pos += (size_t)number;
    }
    if (pos + 2 <= end && data[pos] == ((4 << 3) | 0) && data[pos + 1] == 1) {
        value->redelivered = true;
        pos += 2;
    }
    return pos == end && value->seq != 0;
}

bool nc_data_parse(nc_arena_t *arena, const uint8_t *data, size_t size, nc_data_t *out)
{
    size_t pos = 0;
    uint64_t number = 0;
    if (size < 2 || data[0] != ((5 << 3) | 2)) {
        return false;
    }
    nc_arena_reset(arena);
    pos = 1;
    if (!read_varint(data, size, &pos, &number) || size - pos != number) {
        return false;
    }

    /* First pass: check the form and count the values. */
    size_t start = pos;
    size_t count = 0;
    memset(out, 0, sizeof(*out));
    if (pos < size && data[pos] == ((1 << 3) | 0)) {
        pos++;
        if (!read_varint(data, size, &pos, &number) || number == 0 || number > UINT32_MAX) {
            return false;
        }
        out->link = (uint32_t)number;
    }
    size_t values_start = pos;
    while (pos < size && data[pos] == ((2 << 3) | 2)) {
        pos++;
        if (!read_varint(data, size, &pos, &number) || size - pos < number) {
            return false;
        }
        pos += (size_t)number;
        count++;
    }
    size_t values_end = pos;
    if (pos < size && data[pos] == ((3 << 3) | 0)) {
        pos++;
        if (!read_varint(data, size, &pos, &number) || number == 0 || number > UINT32_MAX) {
            return false;
        }
        out->epoch = (uint32_t)number;
    }
    if (pos != size || out->link == 0 || start == size) {
        return false;
    }

    /* Second pass: the values, pointing into data. */
    out->values = count > 0 ? arena_alloc(arena, count * sizeof(*out->values)) : NULL;
    if (count > 0 && out->values == NULL) {
        return false;
    }
    pos = values_start;
    for (size_t i = 0; i < count; i++) {
        pos++;
        (void)read_varint(data, values_end, &pos, &number);
        if (!parse_value(data + pos, (size_t)number, &out->values[i])) {
            return false;
        }
        pos += (size_t)number;
    }
    out->count = count;
    return true;
}

bool nc_data_from_frame(nc_arena_t *arena, const Netchan__Wire__Data *data, nc_data_t *out)
{
    out->link = data->link;
    out->epoch = data->epoch;
    out->count = data->n_values;
    out->values =
        data->n_values > 0 ? arena_alloc(arena, data->n_values * sizeof(*out->values)) : NULL;
    if (data->n_values > 0 && out->values == NULL) {
        return false;
    }
    for (size_t i = 0; i < data->n_values; i++) {
        const Netchan__Wire__Value *value = data->values[i];
        out->values[i] = (nc_wire_value_t){.seq = value->seq,
                                           .attempts = value->attempts,
                                           .redelivered = value->redelivered,
                                           .payload = value->payload.data,
                                           .size = value->payload.len};
    }
    return true;
}
