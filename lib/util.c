/* Small containers and helpers: the pointer ring used for channel queues, the sequence-number
 * range set used for duplicate detection and acknowledgements, clocks, error text, and the type
 * fingerprint. */
#define _GNU_SOURCE

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "nc.h"

/* ---- ring ---- */

static int ring_grow(nc_ring_t *ring)
{
    size_t cap = ring->cap ? ring->cap * 2 : 16;
    void **items = malloc(cap * sizeof(*items));
    if (items == NULL) {
        return -1;
    }
    for (size_t i = 0; i < ring->count; i++) {
        items[i] = ring->items[(ring->head + i) % ring->cap];
    }
    free(ring->items);
    ring->items = items;
    ring->head = 0;
    ring->cap = cap;
    return 0;
}

int nc_ring_push_back(nc_ring_t *ring, void *item)
{
    if (ring->count == ring->cap && ring_grow(ring) != 0) {
        return -1;
    }
    ring->items[(ring->head + ring->count) % ring->cap] = item;
    ring->count++;
    return 0;
}

int nc_ring_push_front(nc_ring_t *ring, void *item)
{
    if (ring->count == ring->cap && ring_grow(ring) != 0) {
        return -1;
    }
    ring->head = (ring->head + ring->cap - 1) % ring->cap;
    ring->items[ring->head] = item;
    ring->count++;
    return 0;
}

void *nc_ring_pop_front(nc_ring_t *ring)
{
    if (ring->count == 0) {
        return NULL;
    }
    void *item = ring->items[ring->head];
    ring->head = (ring->head + 1) % ring->cap;
    ring->count--;
    return item;
}

void *nc_ring_at(const nc_ring_t *ring, size_t index)
{
    return ring->items[(ring->head + index) % ring->cap];
}

void nc_ring_set(nc_ring_t *ring, size_t index, void *item)
{
    ring->items[(ring->head + index) % ring->cap] = item;
}

void nc_ring_remove_at(nc_ring_t *ring, size_t index)
{
    for (size_t i = index; i + 1 < ring->count; i++) {
        nc_ring_set(ring, i, nc_ring_at(ring, i + 1));
    }
    ring->count--;
}

void nc_ring_free(nc_ring_t *ring)
{
    free(ring->items);
    memset(ring, 0, sizeof(*ring));
}

/* ---- sequence sets ---- */

/* Returns the index of the first range whose last >= seq, or count. */
static size_t seqset_lower_bound(const nc_seqset_t *set, uint64_t seq)
{
    size_t low = 0;
    size_t high = set->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (set->ranges[mid].last < seq) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    return low;
}

static int seqset_insert_at(nc_seqset_t *set, size_t index, nc_range_t range)
{
    if (set->count == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 4;
        nc_range_t *ranges = realloc(set->ranges, cap * sizeof(*ranges));
        if (ranges == NULL) {
            return -1;
        }
        set->ranges = ranges;
        set->cap = cap;
    }
    memmove(&set->ranges[index + 1], &set->ranges[index],
            (set->count - index) * sizeof(*set->ranges));
    set->ranges[index] = range;
    set->count++;
    return 0;
}

static void seqset_erase(nc_seqset_t *set, size_t index, size_t n)
{
    memmove(&set->ranges[index], &set->ranges[index + n],
            (set->count - index - n) * sizeof(*set->ranges));
    set->count -= n;
}

int nc_seqset_add_range(nc_seqset_t *set, uint64_t first, uint64_t last)
{
    if (first > last) {
        return 0;
    }

    /* The common case: the range extends or follows the last one. */
    if (set->count > 0) {
        nc_range_t *tail = &set->ranges[set->count - 1];
        if (first > tail->last && first - 1 == tail->last) {
            tail->last = last;
            return 0;
        }
        if (first > tail->last) {
            return seqset_insert_at(set, set->count, (nc_range_t){first, last});
        }
    }

    /* General case: merge with every range that overlaps or touches [first, last]. */
    size_t index = seqset_lower_bound(set, first > 0 ? first - 1 : 0);
    size_t end = index;
    while (end < set->count && (last == UINT64_MAX || set->ranges[end].first <= last + 1)) {
        if (set->ranges[end].first < first) {
            first = set->ranges[end].first;
        }
        if (set->ranges[end].last > last) {
            last = set->ranges[end].last;
        }
        end++;
    }
    if (end > index) {
        set->ranges[index] = (nc_range_t){first, last};
        seqset_erase(set, index + 1, end - index - 1);
        return 0;
    }
    return seqset_insert_at(set, index, (nc_range_t){first, last});
}

int nc_seqset_add(nc_seqset_t *set, uint64_t seq)
{
    return nc_seqset_add_range(set, seq, seq);
}

void nc_seqset_remove_range(nc_seqset_t *set, uint64_t first, uint64_t last)
{
    if (first > last) {
        return;
    }
    size_t index = seqset_lower_bound(set, first);
    while (index < set->count && set->ranges[index].first <= last) {
        nc_range_t *range = &set->ranges[index];
        if (range->first >= first && range->last <= last) {
            seqset_erase(set, index, 1);
            continue;
        }
        if (range->first < first && range->last > last) {
            /* Split in two. On allocation failure the set keeps too much, which only makes a
             * later duplicate check stricter. */
            nc_range_t upper = {last + 1, range->last};
            range->last = first - 1;
            (void)seqset_insert_at(set, index + 1, upper);
            return;
        }
        if (range->first < first) {
            range->last = first - 1;
            index++;
        } else {
            range->first = last + 1;
            index++;
        }
    }
}

void nc_seqset_remove(nc_seqset_t *set, uint64_t seq)
{
    nc_seqset_remove_range(set, seq, seq);
}

bool nc_seqset_contains(const nc_seqset_t *set, uint64_t seq)
{
    size_t index = seqset_lower_bound(set, seq);
    return index < set->count && set->ranges[index].first <= seq;
}

uint64_t nc_seqset_size(const nc_seqset_t *set)
{
    uint64_t size = 0;
    for (size_t i = 0; i < set->count; i++) {
        size += set->ranges[i].last - set->ranges[i].first + 1;
    }
    return size;
}

void nc_seqset_clear(nc_seqset_t *set)
{
    set->count = 0;
}

void nc_seqset_free(nc_seqset_t *set)
{
    free(set->ranges);
    memset(set, 0, sizeof(*set));
}

/* ---- randomness ---- */

int nc_random_bytes(void *buffer, size_t size)
{
    /* Session and instance ids must differ between processes started in the same instant, so
     * they come from the kernel's entropy pool, never from a time-seeded generator. */
    uint8_t *out = buffer;
    while (size > 0) {
        ssize_t n = getrandom(out, size, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        out += n;
        size -= (size_t)n;
    }
    if (size == 0) {
        return 0;
    }
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    while (size > 0) {
        ssize_t n = read(fd, out, size);
        if (n <= 0 && errno != EINTR) {
            close(fd);
            return -1;
        }
        if (n > 0) {
            out += n;
            size -= (size_t)n;
        }
    }
    close(fd);
    return 0;
}

/* ---- time and text ---- */

int64_t nc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void nc_format(char *buffer, size_t size, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    if (vsnprintf(buffer, size, format, args) < 0 && size > 0) {
        buffer[0] = '\0';
    }
    va_end(args);
}

const char *nc_thread_copy(const char *message)
{
    static _Thread_local char copy[NC_ERRMSG_SIZE];
    nc_format(copy, sizeof(copy), "%s", message);
    return copy;
}

/* ---- type fingerprint ---- */

static const char *field_type_name(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
        return "int32";
    case PROTOBUF_C_TYPE_SINT32:
        return "sint32";
    case PROTOBUF_C_TYPE_SFIXED32:
        return "sfixed32";
    case PROTOBUF_C_TYPE_INT64:
        return "int64";
    case PROTOBUF_C_TYPE_SINT64:
        return "sint64";
    case PROTOBUF_C_TYPE_SFIXED64:
        return "sfixed64";
    case PROTOBUF_C_TYPE_UINT32:
        return "uint32";
    case PROTOBUF_C_TYPE_FIXED32:
        return "fixed32";
    case PROTOBUF_C_TYPE_UINT64:
        return "uint64";
    case PROTOBUF_C_TYPE_FIXED64:
        return "fixed64";
    case PROTOBUF_C_TYPE_FLOAT:
        return "float";
    case PROTOBUF_C_TYPE_DOUBLE:
        return "double";
    case PROTOBUF_C_TYPE_BOOL:
        return "bool";
    case PROTOBUF_C_TYPE_ENUM:
        return "enum";
    case PROTOBUF_C_TYPE_STRING:
        return "string";
    case PROTOBUF_C_TYPE_BYTES:
        return "bytes";
    case PROTOBUF_C_TYPE_MESSAGE:
        return "message";
    }
    return "unknown";
}

static const char *field_label_name(ProtobufCLabel label)
{
    /* proto3 fields without a label and explicit optional ones read the same in every runtime's
     * descriptors, so both count as "optional". */
    switch (label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return "required";
    case PROTOBUF_C_LABEL_REPEATED:
        return "repeated";
    case PROTOBUF_C_LABEL_OPTIONAL:
    case PROTOBUF_C_LABEL_NONE:
        return "optional";
    }
    return "optional";
}

static uint64_t fnv1a(uint64_t hash, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        hash ^= *p;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

void nc_fingerprint(const ProtobufCMessageDescriptor *type, char out[17])
{
    /* Fields are hashed in field-number order, which protobuf-c keeps in fields_sorted_by_name
     * only by name, so sort the indexes by number here. */
    unsigned n = type->n_fields;
    unsigned *order = malloc((n ? n : 1) * sizeof(*order));
    uint64_t hash = 0xcbf29ce484222325ULL;
    if (order == NULL) {
        nc_format(out, 17, "%016llx", 0ULL);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        order[i] = i;
    }
    for (unsigned i = 1; i < n; i++) {
        unsigned key = order[i];
        unsigned j = i;
        while (j > 0 && type->fields[order[j - 1]].id > type->fields[key].id) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = key;
    }

    /* The hashed text is the full name, then ";NUMBER NAME LABEL TYPE REFERENCE" per field;
     * it is fed in pieces, so names of any length hash the same as in other languages. */
    hash = fnv1a(hash, type->name);
    for (unsigned i = 0; i < n; i++) {
        const ProtobufCFieldDescriptor *field = &type->fields[order[i]];
        const char *reference = "";
        if (field->type == PROTOBUF_C_TYPE_MESSAGE && field->descriptor != NULL) {
            reference = ((const ProtobufCMessageDescriptor *)field->descriptor)->name;
        } else if (field->type == PROTOBUF_C_TYPE_ENUM && field->descriptor != NULL) {
            reference = ((const ProtobufCEnumDescriptor *)field->descriptor)->name;
        }
        char number[16];
        nc_format(number, sizeof(number), ";%u ", field->id);
        const char *pieces[] = {number, field->name,
                                " ",    field_label_name(field->label),
                                " ",    field_type_name(field->type),
                                " ",    reference};
        for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
            hash = fnv1a(hash, pieces[p]);
        }
    }
    free(order);
    nc_format(out, 17, "%016llx", (unsigned long long)hash);
}
