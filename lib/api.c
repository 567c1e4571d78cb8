/* Library-wide functions: error texts, the version, channel options and type fingerprints. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "nc.h"

const char *netchan_strerror(netchan_err err)
{
    switch (err) {
    case NETCHAN_OK:
        return "success";
    case NETCHAN_EINVAL:
        return "invalid argument";
    case NETCHAN_ENOMEM:
        return "out of memory";
    case NETCHAN_ETIMEDOUT:
        return "timed out";
    case NETCHAN_EAGAIN:
        return "operation would block";
    case NETCHAN_ECLOSED:
        return "channel closed";
    case NETCHAN_ENOTFOUND:
        return "channel not found";
    case NETCHAN_ETYPE:
        return "value type mismatch";
    case NETCHAN_EDIRECTION:
        return "channel direction mismatch";
    case NETCHAN_EEXIST:
        return "channel name already in use";
    case NETCHAN_EENDPOINT:
        return "endpoint could not be bound or connected";
    case NETCHAN_EPROTO:
        return "protocol error";
    case NETCHAN_ETOOBIG:
        return "value too large";
    case NETCHAN_EDECODE:
        return "value could not be decoded";
    case NETCHAN_ESTATE:
        return "operation not valid in this state";
    case NETCHAN_ESYSTEM:
        return "system error";
    case NETCHAN_EREJECTED:
        return "rejected by the receiver";
    case NETCHAN_EDISCARDED:
        return "value discarded";
    case NETCHAN_EAUTH:
        return "authentication failed";
    }
    return "unknown error";
}

const char *netchan_version(void)
{
    return NETCHAN_VERSION_STRING;
}

void nc_options_defaults(netchan_options_t *options)
{
    options->capacity = NC_DEFAULT_CAPACITY;
    options->max_value_size = NC_DEFAULT_MAX_VALUE_SIZE;
    options->explicit_ack = false;
    options->ack_deadline_ms = 0;
    options->max_attempts = 0;
    options->dead_letter[0] = '\0';
    options->unacknowledged = false;
}

netchan_options_t *netchan_options_new(void)
{
    netchan_options_t *options = malloc(sizeof(*options));
    if (options != NULL) {
        nc_options_defaults(options);
    }
    return options;
}

void netchan_options_destroy(netchan_options_t **options_p)
{
    if (options_p != NULL) {
        free(*options_p);
        *options_p = NULL;
    }
}

netchan_err netchan_options_set_capacity(netchan_options_t *options, uint32_t capacity)
{
    if (options == NULL || capacity == 0 || capacity > NC_MAX_CAPACITY) {
        return NETCHAN_EINVAL;
    }
    options->capacity = capacity;
    return NETCHAN_OK;
}

netchan_err netchan_options_set_explicit_ack(netchan_options_t *options, bool explicit_ack)
{
    if (options == NULL) {
        return NETCHAN_EINVAL;
    }
    options->explicit_ack = explicit_ack;
    return NETCHAN_OK;
}

netchan_err netchan_options_set_max_value_size(netchan_options_t *options, uint32_t max_size)
{
    if (options == NULL || max_size == 0 || max_size > NC_MAX_VALUE_SIZE_LIMIT) {
        return NETCHAN_EINVAL;
    }
    options->max_value_size = max_size;
    return NETCHAN_OK;
}

netchan_err netchan_options_set_ack_deadline(netchan_options_t *options, uint32_t deadline_ms)
{
    if (options == NULL) {
        return NETCHAN_EINVAL;
    }
    options->ack_deadline_ms = deadline_ms;
    return NETCHAN_OK;
}

netchan_err netchan_options_set_max_attempts(netchan_options_t *options, uint32_t max_attempts)
{
    if (options == NULL) {
        return NETCHAN_EINVAL;
    }
    options->max_attempts = max_attempts;
    return NETCHAN_OK;
}

netchan_err netchan_options_set_dead_letter(netchan_options_t *options, const char *channel)
{
    if (options == NULL || (channel != NULL && strlen(channel) >= sizeof(options->dead_letter))) {
        return NETCHAN_EINVAL;
    }
    nc_format(options->dead_letter, sizeof(options->dead_letter), "%s",
              channel != NULL ? channel : "");
    return NETCHAN_OK;
}

netchan_err netchan_options_set_unacknowledged(netchan_options_t *options, bool unacknowledged)
{
    if (options == NULL) {
        return NETCHAN_EINVAL;
    }
    options->unacknowledged = unacknowledged;
    return NETCHAN_OK;
}

netchan_err netchan_type_fingerprint(const ProtobufCMessageDescriptor *type, char *buffer,
                                     size_t size)
{
    if (type == NULL || buffer == NULL || size < 17) {
        return NETCHAN_EINVAL;
    }
    nc_fingerprint(type, buffer);
    return NETCHAN_OK;
}
