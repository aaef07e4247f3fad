/*
 * fuzz_npy.c - libFuzzer target: arbitrary bytes as a .npy file.
 *
 * The loader must reject anything malformed with an error, never crash,
 * hang, leak, or allocate what the file does not hold.  The bytes go through
 * a real file, since the loader checks the claimed size against the file's.
 */
#include <stdlib.h>

#include "ct_tensor.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".npy");
    if (!path) return 0;
    ct_error err;
    ct_tensor *t = ct_tensor_load_npy(path, &err);
    if (t) {
        /* A tensor that loads must be whole: touch every element. */
        ct_tensor_stats s;
        ct_tensor_stats_of(t, &s);
        ct_tensor_free(t);
    }
    unlink(path);
    return 0;
}
