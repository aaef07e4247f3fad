/*
 * blas_core.c - the OpenBLAS core of the crystens program (blas_core.h
 * says when and why it is replaced).
 */
#include "config.h"

#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "blas_core.h"

/* What the program sets, and the marker it leaves for its re-executed self. */
#define CORETYPE_VAR "OPENBLAS_CORETYPE"
#define SWITCH_VAR "CT_BLAS_AUTOCORE"
#define MARKER_VAR "CT_BLAS_AUTOCORE_FROM"
#define AVX512_CORE "SkylakeX"

static const char *replaced;   /* see blas_core_replaced */
static char replaced_buf[64];

const char *blas_core_choice(const char *coretype, const char *autocore, const char *corename,
                             const char *config, int avx512)
{
    /* OpenBLAS's cores with AVX-512 kernels (0.3.21 knows the first two). */
    static const char *const avx512_cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    if (coretype || (autocore && strcmp(autocore, "0") == 0) || !avx512) return NULL;
    if (!corename || !config || !strstr(config, "DYNAMIC_ARCH")) return NULL;
    for (size_t i = 0; i < sizeof avx512_cores / sizeof avx512_cores[0]; i++)
        if (strcasecmp(corename, avx512_cores[i]) == 0) return NULL;
    return AVX512_CORE;
}

/* Whether the CPU (and the system, which must save the registers: GCC's
   check includes that) runs the SkylakeX kernels. */
static int cpu_has_avx512(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

void blas_core_select(char **argv)
{
    const char *from = getenv(MARKER_VAR);
    if (from) {
        /* Re-executed: OpenBLAS has read the variable; hide both again. */
        strncpy(replaced_buf, from, sizeof replaced_buf - 1);
        replaced = replaced_buf;
        unsetenv(MARKER_VAR);
        unsetenv(CORETYPE_VAR);
        return;
    }
    const char *core = blas_core_choice(getenv(CORETYPE_VAR), getenv(SWITCH_VAR), openblas_get_corename(),
                                        openblas_get_config(), cpu_has_avx512());
    char exe[PATH_MAX];
    ssize_t n;
    if (!core || (n = readlink("/proc/self/exe", exe, sizeof exe - 1)) <= 0) return;
    exe[n] = '\0';
    if (setenv(MARKER_VAR, openblas_get_corename(), 1) == 0 && setenv(CORETYPE_VAR, core, 1) == 0)
        execv(exe, argv);
    /* Still here: run on as we are, in the user's environment. */
    unsetenv(MARKER_VAR);
    unsetenv(CORETYPE_VAR);
}

const char *blas_core_replaced(void)
{
    return replaced;
}
