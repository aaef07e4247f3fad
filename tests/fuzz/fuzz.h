/*
 * fuzz.h - what the libFuzzer targets share.
 *
 * Each target defines LLVMFuzzerTestOneInput and nothing else; linked with
 * -fsanitize=fuzzer it is a fuzzer, linked with replay.c it is a regression
 * test that feeds it every file of its corpus (make check).
 */
#ifndef CT_FUZZ_H
#define CT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write data to a scratch file of this process (name ends in suffix, which
   the loaders may look at) and return its path; NULL if it cannot. */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/crystens-fuzz-%ld%s",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    int ok = fwrite(data, 1, size, f) == size;
    ok &= fclose(f) == 0;
    return ok ? path : NULL;
}

#endif
