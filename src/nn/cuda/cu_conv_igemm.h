/*
 * cu_conv_igemm.h - implicit-GEMM 2-D convolutions for cu_conv.cu: on the
 * tensor cores in TF32 and bf16 (mma.sync, fp32 accumulation), on the CUDA
 * cores (FFMA) in fp32.
 *
 * No column buffer: each thread block gathers its tiles of the image
 * straight from the N×C×H×W tensor into shared memory (cp.async, three
 * stages) and multiplies them there, so the memory traffic is the input
 * and the output once, where im2col writes and reads k·k copies of the
 * input.  Inputs stay fp32 in memory; in TF32 and bf16 they are rounded
 * as the fragments are read.  Every sum runs in a fixed order (no atomics):
 * results are deterministic.
 */
#ifndef CU_CONV_IGEMM_H
#define CU_CONV_IGEMM_H

#include "cu_common.h"

/* A 2-D convolution: n images of c channels h×w, read by a kh×kw kernel at
   stride sh, sw with padding ph, pw (either may be negative: a crop), into
   m channels of oh×ow. */
typedef struct {
    int n, c, h, w;
    int m, oh, ow;
    int kh, kw, sh, sw, ph, pw;
} cu_igemm_geom;

/* Whether the kernels take g in precision p (fp32, TF32, bf16): every
   tensor under 2^31 elements. */
int cu_igemm_fits(const cu_igemm_geom *g, ct_precision p);

/* y (n×m×oh×ow) = W ⊛ x (+ bias[m] when bias is not NULL); W is m × c ×
   kh × kw (a Conv2d weight), or with flip c × m × kh × kw, the weight of
   the convolution whose input gradient this is (used transposed, its taps
   reversed).  Uses cu_workspace for the rearranged weights. */
int cu_igemm_conv(const cu_igemm_geom *g, ct_precision p, const float *x, const float *W, int flip,
                  const float *bias, float *y, ct_error *err);

/* The most classes (sh·sw) cu_igemm_dgrad takes. */
#define CU_IGEMM_MAX_CLASSES 16

/* gx (n×c×h×w) = the input gradient of the convolution g at any stride
   (sh·sw up to CU_IGEMM_MAX_CLASSES) from its output gradient gy
   (n×m×oh×ow) and weight W (m × c × kh × kw): gx's pixels in classes by
   row and column modulo the stride, each class a stride-1 convolution of
   gy with the taps that reach it, reversed, on the forward's kernels.
   Uses cu_workspace for the classes' outputs (gx's size in all) and
   weights. */
int cu_igemm_dgrad(const cu_igemm_geom *g, ct_precision p, const float *gy, const float *W,
                   float *gx, ct_error *err);

/* gW (m × c·kh·kw) += Σ over images and output positions of gy ⊗ the input
   patch: the weight gradient of the convolution g, from x and its output
   gradient gy.  Uses cu_workspace for per-part sums. */
int cu_igemm_wgrad(const cu_igemm_geom *g, ct_precision p, const float *x, const float *gy,
                   float *gW, ct_error *err);

#endif
