/* libFuzzer target for the frame decoders: every byte an exporter or importer receives on its
 * session socket goes through nc_data_parse() (the fast path for Data frames) or
 * nc_frame_decode_in() (protobuf-c in the engine's arena), and tests and tools use
 * nc_frame_decode(). A frame that decodes must be safe to walk as the engine does, and any input
 * the fast path accepts must decode to the same Data frame through protobuf-c. */
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nc.h"

/* Touches what the handlers read, so that a decoder that returns inconsistent counts or
 * pointers shows up under AddressSanitizer. */
static size_t walk(const Netchan__Wire__Frame *frame)
{
    size_t sum = 0;
    switch (frame->body_case) {
    case NETCHAN__WIRE__FRAME__BODY_DATA:
        for (size_t i = 0; i < frame->data->n_values; i++) {
            const Netchan__Wire__Value *value = frame->data->values[i];
            sum += value->seq + value->attempts;
            if (value->payload.len > 0) {
                sum += value->payload.data[0] + value->payload.data[value->payload.len - 1];
            }
        }
        break;
    case NETCHAN__WIRE__FRAME__BODY_ACK: {
        const Netchan__Wire__Ack *ack = frame->ack;
        for (size_t i = 0; i < ack->n_acked; i++) {
            sum += ack->acked[i]->last - ack->acked[i]->first;
        }
        for (size_t i = 0; i < ack->n_released; i++) {
            sum += ack->released[i]->last - ack->released[i]->first;
        }
        sum += strlen(ack->reject_reason);
        break;
    }
    case NETCHAN__WIRE__FRAME__BODY_BIND:
        sum += strlen(frame->bind->channel) + strlen(frame->bind->type_name) +
               strlen(frame->bind->fingerprint);
        break;
    case NETCHAN__WIRE__FRAME__BODY_BOUND:
        sum += strlen(frame->bound->message) + strlen(frame->bound->data_endpoint);
        break;
    case NETCHAN__WIRE__FRAME__BODY_ERROR:
        sum += strlen(frame->error->message);
        break;
    case NETCHAN__WIRE__FRAME__BODY_HELLO:
        sum += frame->hello->session.data[0] + frame->hello->session.data[15];
        break;
    default:
        break;
    }
    return sum;
}

static nc_arena_t arena;
static nc_arena_t fast_arena;

/* Aborts, which libFuzzer reports as a crash, when the fast Data decoder and protobuf-c disagree
 * about an input the fast decoder accepted. */
static void check_fast_path(const uint8_t *data, size_t size)
{
    nc_data_t fast;
    if (!nc_data_parse(&fast_arena, data, size, &fast)) {
        return;
    }
    Netchan__Wire__Frame *frame = nc_frame_decode(data, size);
    if (frame == NULL || frame->body_case != NETCHAN__WIRE__FRAME__BODY_DATA ||
        frame->data->link != fast.link || frame->data->epoch != fast.epoch ||
        frame->data->n_values != fast.count) {
        abort();
    }
    for (size_t i = 0; i < fast.count; i++) {
        const Netchan__Wire__Value *slow = frame->data->values[i];
        const nc_wire_value_t *quick = &fast.values[i];
        if (slow->seq != quick->seq || slow->attempts != quick->attempts ||
            slow->payload.len != quick->size ||
            (quick->size > 0 && memcmp(slow->payload.data, quick->payload, quick->size) != 0)) {
            abort();
        }
    }
    nc_frame_free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_fast_path(data, size);
    Netchan__Wire__Frame *frame = nc_frame_decode(data, size);
    if (frame != NULL) {
        (void)walk(frame);
        nc_frame_free(frame);
    }
    Netchan__Wire__Frame *in_arena = nc_frame_decode_in(&arena, data, size);
    if (in_arena != NULL) {
        (void)walk(in_arena);
    }
    return 0;
}
