/*
 * ct_nn_impl.h - what the layer files (ct_linear.c, ct_conv.c, ...) share;
 * not part of the public API.
 *
 * A layer kind defines a struct starting with a ct_layer, a ct_layer_ops
 * with its forward/backward, and a constructor that calls ct_nn_layer_init
 * and ct_nn_add_param.  Forward keeps its input with ct_nn_keep.
 */
#ifndef CT_NN_IMPL_H
#define CT_NN_IMPL_H

#include "ct_nn.h"

/* Put before a CPU kernel built on GCC's vector types: GCC then builds it
   for AVX-512 (x86-64-v4: F, BW, CD, DQ, VL), AVX2 and the baseline, and
   the dynamic loader picks the best the CPU runs.  Under -std=c11 GCC
   does not contract a * b + c into an FMA, so all variants give the same
   bits; a 16-float vector is one AVX-512 register, two AVX2 ones. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CT_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define CT_SIMD_CLONES
#endif

/* The 16-float vector those kernels work on, and its loads and stores of
   the first k ≤ CT_VL floats (zeros past k).  Inline only: a vector never
   crosses a call, so the ABI note GCC gives for 64-byte vectors (-Wpsabi)
   does not apply.  (CPU code only: the CUDA plugin's sources include this
   header for the layer structs.) */
#ifndef __CUDACC__
#include <string.h>
enum { CT_VL = 16 };
typedef float ct_vf __attribute__((vector_size(CT_VL * sizeof(float))));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
static inline ct_vf ct_loadv(const float *p, size_t k)
{
    ct_vf v = {0};
    if (k == CT_VL) memcpy(&v, p, sizeof v);
    else memcpy(&v, p, k * sizeof(float));
    return v;
}

static inline void ct_storev(float *p, ct_vf v, size_t k)
{
    if (k == CT_VL) memcpy(p, &v, sizeof v);
    else memcpy(p, &v, k * sizeof(float));
}
#pragma GCC diagnostic pop
#endif

/* Allocate a zeroed layer struct of size bytes with the given ops. */
ct_layer *ct_nn_layer_alloc(size_t size, const ct_layer_ops *ops, ct_error *err);

/* Add a parameter (with a gradient) or a buffer (without) of the given
   shape to l; return its values or NULL. */
float *ct_nn_add_param(ct_layer *l, const char *name, int ndim, const int64_t *shape,
                       ct_error *err);
float *ct_nn_add_buffer(ct_layer *l, const char *name, int ndim, const int64_t *shape,
                        ct_error *err);

/* Fill n values with U(-bound, bound): PyTorch's default initialisation
   with bound = 1/sqrt(fan_in). */
void ct_nn_init_uniform(ct_rng *r, float *w, size_t n, int fan_in);

/* Keep a reference to x in l->x (dropping the previous one). */
int ct_nn_keep(ct_layer *l, const ct_tensor *x, ct_error *err);

/* Fail with "KIND: expected DESC, got SHAPE" for input x. */
int ct_nn_shape_error(const ct_layer *l, const ct_tensor *x, const char *desc, ct_error *err);

/* Fail unless gy has the shape of the output forward produced for l->x. */
int ct_nn_check_grad(const ct_layer *l, const ct_tensor *gy, int ndim, const int64_t *shape,
                     ct_error *err);

/* A layer kind's shape function (ct_layers.h): fail with a message that
   names the layer and x's shape unless x is an input l accepts, else write
   the output's dimension count and sizes for input x. */
typedef int (*ct_nn_shape_fn)(const ct_layer *l, const ct_tensor *x, int *ndim, int64_t *shape,
                              ct_error *err);

/* The start of a forward, on either device: the CPU forward and the CUDA
   plugin's both begin here, so they accept the same inputs with the same
   messages.  Check x with shape_of (NULL: any x, the output of x's shape),
   then *y a new tensor of the output's shape on x's device (zeroed when
   zero, else uninitialised), and keep x in l->x. */
int ct_nn_forward_begin(ct_layer *l, const ct_tensor *x, ct_nn_shape_fn shape_of, int zero,
                        ct_tensor **y, ct_error *err);

/* The start of a backward, on either device: fail unless gy has the shape
   of the forward's output (shape_of applied to l->x, as forward did), then
   *gx a new tensor of l->x's shape on its device (zeroed when zero). */
int ct_nn_backward_begin(ct_layer *l, const ct_tensor *gy, ct_nn_shape_fn shape_of, int zero,
                         ct_tensor **gx, ct_error *err);

/* Return the shared workspace with room for n floats (grown as needed,
   from ct_nn_alloc_big; what it held is not kept when it grows). */
float *ct_nn_workspace(size_t n, ct_error *err);

/* n floats for a big buffer, or NULL: on 2 MB boundaries and marked for
   transparent huge pages where the system has them (in its madvise mode).
   The Winograd transforms read and write 36 streams at once; with 4 KB
   pages their TLB misses cost about 5% of a convolution's backward.  Free
   with free(). */
float *ct_nn_alloc_big(size_t n);

/* ct_parallel_for with OpenBLAS held to one thread meanwhile, so the
   shares can call cblas themselves: GEMMs split by the caller neither
   queue for OpenBLAS's pool nor oversubscribe the cores, and their
   results do not depend on OpenBLAS's thread count. */
void ct_nn_parallel(size_t n, int nthreads, void (*fn)(void *ctx, size_t begin, size_t end),
                    void *ctx);

/* The vectorised e^x of SiLU and sigmoid (ct_act.c) on one value, for tests:
   relative error below 3e-7 on [-87, 88], x clamped to it, NaN kept. */
float ct_nn_exp_vec(float x);

/* SiLU y = x·σ(x) and its gradient gx = gy·σ(1 + x(1 - σ)) over n values,
   as the silu layer computes them (ct_act.c); in place (y = x, gx = x or
   gy) is fine. */
void ct_nn_silu(const float *x, float *y, size_t n);
void ct_nn_silu_grad(const float *x, const float *gy, float *gx, size_t n);

/* C (m×n) = alpha·op(A)·op(B) + beta·C, row-major (ta, tb: transpose A,
   B), as cblas_sgemm, cut into a fixed grid of blocks of C's rows and
   columns run on ct_nn_parallel's threads.  The blocks depend only on
   the sizes, so the result does not depend on the thread count; and
   OpenBLAS's own threads, which spin for a while after each call they
   serve, stay idle. */
void ct_nn_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);

/* Product of the sizes of x from dimension d on. */
size_t ct_nn_numel_from(const ct_tensor *x, int d);

/* Winograd F(4×4, 3×3) convolution (ct_winograd.c) of input n×cin×h×w,
   padding pad, into output n×cout×oh×ow. */
typedef struct {
    int n, cin, cout, h, w, pad, oh, ow;
} ct_wino;

/* Whether a convolution configuration takes the Winograd path: 2-D, not
   transposed, 3×3, stride 1, equal padding of at most 2. */
int ct_wino_applies(const ct_conv_cfg *c);

/* The flops of the GEMMs of one pass (forward, or one of the gradients). */
double ct_wino_flops(const ct_wino *w);

/* The floats of the input's transform V of a call. */
size_t ct_wino_v_size(const ct_wino *w);

/* y = conv(x, W) + b (W cout×cin×3×3; no bias where b is NULL), using the
   shared workspace; the input's transform is left in V (ct_wino_v_size
   floats) for backward, unless V is NULL. */
int ct_wino_forward(const ct_wino *w, const float *W, const float *b, const float *x, float *y,
                    float *V, ct_error *err);

/* gx = the input gradient (written, not added); gW += the weight gradient
   unless gW is NULL.  V: what forward left from this x, or NULL, and it
   is computed again from x. */
int ct_wino_backward(const ct_wino *w, const float *W, const float *x, const float *V,
                     const float *gy, float *gx, float *gW, ct_error *err);

#endif
