/*
 * fuzz_safetensors.c - libFuzzer target: arbitrary bytes as a checkpoint.
 *
 * ct_checkpoint_load validates the JSON header and every tensor's extent
 * against the file before allocating; whatever loads must be whole.
 */
#include <string.h>

#include "ct_checkpoint.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".safetensors");
    if (!path) return 0;
    ct_error err;
    ct_checkpoint *ck = ct_checkpoint_load(path, &err);
    if (ck) {
        for (int i = 0; i < ck->ntensors; i++) {
            ct_tensor_stats s;
            ct_tensor_stats_of(ck->tensors[i].t, &s);
            (void)strlen(ck->tensors[i].name);
        }
        for (int i = 0; i < ck->nmeta; i++) (void)ct_checkpoint_meta(ck, ck->meta[i].key);
        ct_checkpoint_free(ck);
    }
    unlink(path);
    return 0;
}
