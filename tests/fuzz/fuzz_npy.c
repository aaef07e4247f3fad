/*
 * fuzz_npy.c - libFuzzer target: arbitrary bytes as a .npy file.
 *
 * The loader must reject anything malformed with an error, never crash,
 * hang, leak, or allocate what the file does not hold.  The bytes go through
 * a real file, since the loader checks the claimed size against the file's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ct_tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/crystens-fuzz-npy-%ld", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    ct_error err;
    ct_tensor *t = ct_tensor_load_npy(path, &err);
    if (t) {
        /* A tensor that loads must be whole: touch every element. */
        ct_tensor_stats s;
        ct_tensor_stats_of(t, &s);
        ct_tensor_free(t);
    }
    return 0;
}
