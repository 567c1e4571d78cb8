/* Prints "FULL_NAME FINGERPRINT" for each message type of the binding's test .proto files, as
 * netchan_type_fingerprint() computes it from the protobuf-c descriptors. The Python tests
 * compare these lines with the binding's own fingerprints. */
#include <stdio.h>

#include "bare.pb-c.h"
#include "legacy.pb-c.h"
#include "netchan.h"
#include "values.pb-c.h"

static const ProtobufCMessageDescriptor *const types[] = {
    &netchan__pytest__point__descriptor,
    &netchan__pytest__other__descriptor,
    &netchan__pytest__point_renamed__descriptor,
    &netchan__pytest__everything__descriptor,
    &netchan__pytest__everything__nested__descriptor,
    &netchan__pytest__everything__counts_entry__descriptor,
    &netchan__pytest__legacy__record__descriptor,
    &bare__descriptor,
};

int main(void)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char fingerprint[17];
        if (netchan_type_fingerprint(types[i], fingerprint, sizeof(fingerprint)) != NETCHAN_OK) {
            fprintf(stderr, "netchan_type_fingerprint failed for %s\n", types[i]->name);
            return 1;
        }
        printf("%s %s\n", types[i]->name, fingerprint);
    }
    return 0;
}
