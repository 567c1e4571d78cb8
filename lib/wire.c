/* Decoding of wire frames and mapping between wire and API codes. Every byte that arrives from
 * a peer passes through nc_frame_decode() before the engine looks at it. */
#define _POSIX_C_SOURCE 200809L

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
    case NETCHAN__WIRE__FRAME__BODY_WINDOW:
        return frame->window->link != 0;
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
    case NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL:
    case NETCHAN__WIRE__ERROR_CODE__ERROR_NO_SESSION:
    default:
        return NETCHAN_EPROTO;
    }
}
