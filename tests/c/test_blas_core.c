/*
 * test_blas_core.c - when the crystens program replaces OpenBLAS's kernels
 * (src/cli/blas_core.h): only on an AVX-512 CPU, only where OpenBLAS chose
 * a core without AVX-512, only with DYNAMIC_ARCH, never over an explicit
 * OPENBLAS_CORETYPE or with CT_BLAS_AUTOCORE=0.  tests/blas_core.test runs
 * the re-execution itself.
 */
#include <string.h>

#include "blas_core.h"
#include "tap.h"

#define DYN "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"

static int is(const char *got, const char *want)
{
    if (got == want || (got && want && strcmp(got, want) == 0)) return 1;
    printf("#   got %s, want %s\n", got ? got : "(keep)", want ? want : "(keep)");
    return 0;
}

int main(void)
{
    ok(is(blas_core_choice(NULL, NULL, "Haswell", DYN, 1), "SkylakeX"),
       "Haswell kernels on an AVX-512 CPU: SkylakeX");
    ok(is(blas_core_choice(NULL, NULL, "Zen", DYN, 1), "SkylakeX"), "Zen kernels too");
    ok(is(blas_core_choice(NULL, "1", "Prescott", DYN, 1), "SkylakeX"), "CT_BLAS_AUTOCORE=1 is the default");
    ok(is(blas_core_choice(NULL, NULL, "Haswell", DYN, 0), NULL), "a CPU without AVX-512 keeps them");
    ok(is(blas_core_choice("Haswell", NULL, "Haswell", DYN, 1), NULL), "an explicit OPENBLAS_CORETYPE is kept");
    ok(is(blas_core_choice("", NULL, "Haswell", DYN, 1), NULL), "even an empty one");
    ok(is(blas_core_choice(NULL, "0", "Haswell", DYN, 1), NULL), "CT_BLAS_AUTOCORE=0 turns it off");
    const char *avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids", "skylakex"};
    for (int i = 0; i < 4; i++)
        ok(is(blas_core_choice(NULL, NULL, avx512[i], DYN, 1), NULL), "%s is kept", avx512[i]);
    ok(is(blas_core_choice(NULL, NULL, "Haswell", "OpenBLAS 0.3.21 NO_LAPACKE Haswell MAX_THREADS=64", 1),
          NULL), "without DYNAMIC_ARCH the variable does nothing: kept");
    ok(is(blas_core_choice(NULL, NULL, NULL, NULL, 1), NULL), "nothing reported: kept");
    return tap_done();
}
