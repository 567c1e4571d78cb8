/* libFuzzer target for the value decoder: a receiving channel checks each value's nesting and
 * unpacks it with the channel's protobuf-c type (netchan_recv(), netchan_msg_unpack()), and a
 * value that does not unpack must be rejected, never crash the receiver. The input is the
 * packed value itself; the type is recursive, so nesting depth is exercised. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_types.pb-c.h"
#include "nc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!nc_value_nesting_ok(&netchan__fuzz__tree__descriptor, data, size)) {
        return 0;
    }
    Netchan__Fuzz__Tree *tree = netchan__fuzz__tree__unpack(NULL, size, data);
    if (tree == NULL) {
        return 0;
    }
    /* Pack again: a decoded value must be a consistent message. */
    size_t packed_size = netchan__fuzz__tree__get_packed_size(tree);
    uint8_t *packed = malloc(packed_size > 0 ? packed_size : 1);
    if (packed != NULL) {
        netchan__fuzz__tree__pack(tree, packed);
        free(packed);
    }
    netchan__fuzz__tree__free_unpacked(tree, NULL);
    return 0;
}
