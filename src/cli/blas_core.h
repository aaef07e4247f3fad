/*
 * blas_core.h - the OpenBLAS kernel set (its "core") of the crystens
 * program, chosen once at start-up.
 *
 * OpenBLAS built with DYNAMIC_ARCH (as Debian ships it) picks its kernels
 * from the CPU when it loads, reading OPENBLAS_CORETYPE in its constructor,
 * before main.  Some releases do not know newer CPUs and fall back to an
 * older set: on a Sapphire Rapids CPU (AVX-512), 0.3.21's own choice made
 * the U-Net's training step (bench/unet.lua, 14 threads) take 0.48 s, its
 * SkylakeX kernels 0.32 s.  The choice cannot be changed once
 * made, so blas_core_select, first thing in main, re-executes the program
 * once with OPENBLAS_CORETYPE=SkylakeX when all of these hold:
 *   - the CPU has the AVX-512 subsets the SkylakeX kernels use (F, CD, BW,
 *     DQ, VL) and the system saves their registers;
 *   - OpenBLAS was built with DYNAMIC_ARCH (else the variable does nothing);
 *   - OpenBLAS chose a core without AVX-512 (not SkylakeX, Cooperlake or
 *     SapphireRapids);
 *   - the user did not set OPENBLAS_CORETYPE (an explicit setting, even a
 *     slower one, is always kept);
 *   - CT_BLAS_AUTOCORE is not "0" (the switch that turns this off).
 * The re-executed program finds its marker (CT_BLAS_AUTOCORE_FROM, the
 * core OpenBLAS chose first), so it never re-executes again, and removes
 * both variables, so the programs it starts see the user's environment.
 */
#ifndef BLAS_CORE_H
#define BLAS_CORE_H

/* The core to force with OPENBLAS_CORETYPE, or NULL to keep OpenBLAS's
   choice: coretype and autocore are the values of OPENBLAS_CORETYPE and
   CT_BLAS_AUTOCORE (NULL when unset), corename and config what
   openblas_get_corename() and openblas_get_config() report, avx512 whether
   the CPU runs the SkylakeX kernels.  Pure, for the tests. */
const char *blas_core_choice(const char *coretype, const char *autocore, const char *corename,
                             const char *config, int avx512);

/* Re-execute the program with a better OpenBLAS core where
   blas_core_choice gives one (argv: main's; the program continues as it
   is where exec fails); in the re-executed program, remember the first
   choice and restore the environment.  Call first in main, before any
   other thread or output. */
void blas_core_select(char **argv);

/* The core OpenBLAS chose by itself where blas_core_select replaced it,
   else NULL. */
const char *blas_core_replaced(void);

#endif
