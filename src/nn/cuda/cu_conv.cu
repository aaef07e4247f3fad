// cu_conv.cu - Conv2d, Conv3d, ConvTranspose2d and ConvTranspose3d on the
// GPU (see ct_conv.c, their CPU twin, for the maths).
//
// im2col + cuBLAS, one code path for all four: a 2-D convolution is a 3-D
// one of depth 1.  Columns are built for a chunk of samples at once in the
// layout K × (m·P) (row: input channel and kernel offset; column: sample s
// at s·P + output position), so that
//   - the forward product is one GEMM over the chunk, W · cols, scattered
//     into the N×C×(spatial) output with the bias added on the way;
//   - the weight gradient is one product over all m·P columns, G · colsᵀ,
//     with the output gradient gathered into C × (m·P) first (cut into
//     parts along the columns, see gemm_nt_acc);
//   - the input gradient is one GEMM, Wᵀ · G, followed by col2im; at
//     stride 1, when gy has no more channels than x, both gradients come
//     instead from one im2col of gy (see conv_bwd_s1;
//     $CRYSTENS_CUDA_CONV_COL2IM set keeps the col2im way, for tests).
// A transposed convolution runs the same pair the other way.  col2im sums
// over the kernel offsets that touch each image element (one thread each,
// no atomics: deterministic).  A pointwise (1×1, stride 1, no padding)
// convolution skips im2col: its columns are the image, and its forward and
// input gradient are one GEMM per sample (strided-batched), straight from
// and into the N×C×(spatial) tensors.  In the bf16 precision the columns
// and the gathered gradient are stored in bf16.
//
// A 2-D convolution that is not pointwise skips the columns:
// cu_conv_igemm.cu's implicit-GEMM kernels compute its forward, its
// weight gradient and its input gradient (strided: one stride-1
// convolution a class of pixels by their remainders modulo the stride),
// gathering the patches as they load their tiles (tensor cores in TF32
// and bf16, FFMA in fp32).  $CRYSTENS_CUDA_CONV_IGEMM=0 turns the kernels
// off (for tests and timings of the other way);
// $CRYSTENS_CUDA_CONV_WGRAD=wide keeps the weight gradient off its
// row-segment kernel, =narrow also gives it its former narrow tiles (the
// same).
#include "cu_conv_igemm.h"
#include "cu_layers.h"

#include <cuda_bf16.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns are floats, or bf16 in the bf16 precision (GEMM inputs in bf16,
   fp32 accumulation): half the bytes for im2col to write and the GEMM to
   read.  Products (outputs, gradients) stay fp32. */
typedef __nv_bfloat16 bf16;
template <typename T> static __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_float<bf16>(float v) { return __float2bfloat16(v); }

/* Columns (and the gathered gradient) of a chunk stay under this many
   floats (256 MiB), so a large batch runs in a few chunks;
   $CRYSTENS_CUDA_CONV_CHUNK (floats) overrides it, for tests of the
   chunked path on small tensors. */
static size_t chunk_floats(void)
{
    const char *e = getenv("CRYSTENS_CUDA_CONV_CHUNK");
    long long v = e ? atoll(e) : 0;
    return v > 0 ? (size_t)v : (size_t)64 << 20;
}

/* An im2col geometry: an image of c channels, d×h×w, read by a kernel at
   od×oh×ow positions; with the divisors the kernels decode indices by. */
typedef struct {
    int c, d, h, w;
    int od, oh, ow;
    int k0, k1, k2, s0, s1, s2, p0, p1, p2;
    cu_fastdiv by_P, by_ohow, by_ow, by_hw, by_w;
} geom;

static void geom_divisors(geom *g)
{
    g->by_P = cu_fastdiv_of((unsigned)(g->od * g->oh * g->ow));
    g->by_ohow = cu_fastdiv_of((unsigned)(g->oh * g->ow));
    g->by_ow = cu_fastdiv_of((unsigned)g->ow);
    g->by_hw = cu_fastdiv_of((unsigned)(g->h * g->w));
    g->by_w = cu_fastdiv_of((unsigned)g->w);
}

static size_t geom_rows(const geom *g) { return (size_t)g->c * (size_t)(g->k0 * g->k1 * g->k2); }
static size_t geom_cols(const geom *g) { return (size_t)g->od * (size_t)g->oh * (size_t)g->ow; }
static size_t geom_pixels(const geom *g) { return (size_t)g->d * (size_t)g->h * (size_t)g->w; }

static int geom_pointwise(const geom *g)
{
    return g->k0 * g->k1 * g->k2 == 1 && g->s0 * g->s1 * g->s2 == 1 && !(g->p0 | g->p1 | g->p2);
}

/* cols (K × m·P) of the m images from img (each c×d×h×w): one input
   channel per blockIdx.y, threads along the positions; each thread decodes
   its position once and writes its column entry of the channel's k0·k1·k2
   rows (each row's writes coalesced across the warp; the reads of
   neighbouring taps hit the same cache lines).  32-bit index arithmetic:
   m·P < 2^31, checked by im2col. */
template <typename T>
__global__ void im2col_k(const float *img, geom g, int m, T *col)
{
    unsigned P = g.by_P.d, ld = (unsigned)m * P;
    int taps = g.k0 * g.k1 * g.k2;
    CU_ROWS(c, g.c) {
        T *out = col + c * taps * (size_t)ld;
        CU_COLS(j, ld) {
            unsigned s = cu_div(j, g.by_P), pos = j - s * P, z = 0, rest = pos;
            if (g.od > 1) z = cu_div(pos, g.by_ohow), rest = pos - z * g.by_ohow.d;
            unsigned y = cu_div(rest, g.by_ow);
            int x = (int)(rest - y * g.ow);
            const float *src = img + (s * (size_t)g.c + c) * g.d * g.h * g.w;
            int z0 = (int)z * g.s0 - g.p0, y0 = (int)y * g.s1 - g.p1, x0 = x * g.s2 - g.p2;
            T *o = out + j;
            for (int a = 0; a < g.k0; a++) {
                int iz = z0 + a;
                bool zin = iz >= 0 && iz < g.d;
                for (int b = 0; b < g.k1; b++) {
                    int iy = y0 + b;
                    bool yin = zin && iy >= 0 && iy < g.h;
                    const float *row = src + ((size_t)iz * g.h + iy) * g.w;
                    for (int e = 0; e < g.k2; e++, o += ld) {
                        int ix = x0 + e;
                        *o = from_float<T>(yin && ix >= 0 && ix < g.w ? row[ix] : 0.0f);
                    }
                }
            }
        }
    }
}

/* Output position t / stride along one dimension, when the division is
   exact and the result inside [0, n): -1 otherwise.  UNIT: stride 1. */
template <bool UNIT>
static __device__ __forceinline__ int tap_pos(int t, int s, int n)
{
    if (UNIT) return t >= 0 && t < n ? t : -1;
    if (t < 0 || t % s) return -1;
    t /= s;
    return t < n ? t : -1;
}

/* The adjoint: each image element (of m images) is the sum of the column
   entries that read it; one image channel per blockIdx.y row. */
template <bool UNIT>
__global__ void col2im_k(const float *col, geom g, int m, float *img)
{
    unsigned P = g.by_P.d, ld = (unsigned)m * P;
    unsigned pix = (unsigned)g.d * g.h * g.w;
    CU_ROWS(r, (size_t)m * g.c) {
        size_t c = r % g.c, s = r / g.c;
        float *out = img + r * pix;
        CU_COLS(i, pix) {
            unsigned iz = 0, rest = i;
            if (g.d > 1) iz = cu_div(i, g.by_hw), rest = i - iz * g.by_hw.d;
            unsigned iy = cu_div(rest, g.by_w);
            int ix = (int)(rest - iy * g.w);
            float sum = 0;
            for (int a = 0; a < g.k0; a++) {
                int z = tap_pos<UNIT>((int)iz + g.p0 - a, g.s0, g.od);
                if (z < 0) continue;
                for (int b = 0; b < g.k1; b++) {
                    int y = tap_pos<UNIT>((int)iy + g.p1 - b, g.s1, g.oh);
                    if (y < 0) continue;
                    const float *src = col + (((c * g.k0 + a) * g.k1 + b) * g.k2) * ld + s * P +
                                       ((size_t)z * g.oh + y) * g.ow;
                    for (int e = 0; e < g.k2; e++) {
                        int x = tap_pos<UNIT>(ix + g.p2 - e, g.s2, g.ow);
                        if (x >= 0) sum += src[(size_t)e * ld + x];
                    }
                }
            }
            out[i] = sum;
        }
    }
}

/* m·P column indices must fit 31 bits for the kernels' arithmetic. */
static int check_cols(const geom *g, int m, ct_error *err)
{
    if ((size_t)m * geom_cols(g) <= 0x7fffffffu && geom_pixels(g) <= 0x7fffffffu) return CT_OK;
    return ct_fail(err, CT_EINVAL, "convolution: %zu positions per sample are too many for the GPU "
                   "kernels", geom_cols(g));
}

template <typename T>
static int im2col(const float *img, const geom *g, int m, T *col, ct_error *err)
{
    size_t K = geom_rows(g), cols = (size_t)m * geom_cols(g);
    if (!K || !cols) return CT_OK;
    if (check_cols(g, m, err) != CT_OK) return CT_EINVAL;
    im2col_k<T><<<cu_grid2((size_t)g->c, cols), 256, 0, cu_stream()>>>(img, *g, m, col);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

static int col2im(const float *col, const geom *g, int m, float *img, ct_error *err)
{
    size_t rows = (size_t)m * g->c, pix = geom_pixels(g);
    if (!rows || !pix) return CT_OK;
    if (check_cols(g, m, err) != CT_OK) return CT_EINVAL;
    if (g->s0 == 1 && g->s1 == 1 && g->s2 == 1)
        col2im_k<true><<<cu_grid2(rows, pix), 256, 0, cu_stream()>>>(col, *g, m, img);
    else
        col2im_k<false><<<cu_grid2(rows, pix), 256, 0, cu_stream()>>>(col, *g, m, img);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

/* Spatial sizes of x (depth 1 for 2-D), output sizes, and the geometry:
   the checks and messages of ct_conv.c (through ct_conv_out_shape). */
static int setup(const ct_conv *cv, const ct_tensor *x, int64_t *shape, geom *g, ct_error *err)
{
    if (ct_conv_out_shape(&cv->base, x, shape, err) != CT_OK) return CT_EINVAL;
    const ct_conv_cfg *c = &cv->cfg;
    int nd = x->ndim, sp[3], op[3];
    sp[0] = c->dims == 3 ? (int)x->shape[2] : 1;
    sp[1] = (int)x->shape[nd - 2];
    sp[2] = (int)x->shape[nd - 1];
    op[0] = c->dims == 3 ? (int)shape[2] : 1;
    op[1] = (int)shape[nd - 2];
    op[2] = (int)shape[nd - 1];
    const int *img = c->transposed ? op : sp, *pos = c->transposed ? sp : op;
    *g = (geom){c->transposed ? c->cout : c->cin, img[0], img[1], img[2], pos[0], pos[1], pos[2],
                c->k[0], c->k[1], c->k[2], c->stride[0], c->stride[1], c->stride[2],
                c->pad[0], c->pad[1], c->pad[2], {}, {}, {}, {}, {}};
    geom_divisors(g);
    return CT_OK;
}

/* Samples per chunk: the columns (K·P each) and the gathered side (o·P
   each) of a chunk fit chunk_floats(), at least one sample. */
static int chunk_samples(const geom *g, int o, int n)
{
    size_t per = (geom_rows(g) + (size_t)o) * geom_cols(g);
    size_t m = per ? chunk_floats() / per : (size_t)n;
    if (m < 1) m = 1;
    return m > (size_t)n ? n : (int)m;
}

static double conv_flops(const ct_conv *cv, const geom *g, const ct_tensor *x)
{
    int other = cv->cfg.transposed ? cv->cfg.cin : cv->cfg.cout;
    return 2.0 * (double)other * (double)geom_rows(g) * (double)geom_cols(g) * (double)x->shape[0];
}

/* Row-major C = op(A)·op(B) (+ beta C), batch products at strides sA, sB,
   sC, like cu_gemm_batched; with T = bf16 the inputs are bf16 (cuBLAS
   accumulates in fp32), with T = float it is cu_gemm_batched itself, in
   the current precision. */
template <typename T>
static int gemm_t(int ta, int tb, int m, int n, int k, const T *A, int lda, long long sA,
                  const T *B, int ldb, long long sB, float beta, float *C, int ldc, long long sC,
                  int batch, ct_error *err);

template <>
int gemm_t<float>(int ta, int tb, int m, int n, int k, const float *A, int lda, long long sA,
                  const float *B, int ldb, long long sB, float beta, float *C, int ldc,
                  long long sC, int batch, ct_error *err)
{
    if (batch == 1) return cu_gemm(ta, tb, m, n, k, 1.0f, A, lda, B, ldb, beta, C, ldc, err);
    return cu_gemm_batched(ta, tb, m, n, k, 1.0f, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, batch, err);
}

template <>
int gemm_t<bf16>(int ta, int tb, int m, int n, int k, const bf16 *A, int lda, long long sA,
                 const bf16 *B, int ldb, long long sB, float beta, float *C, int ldc,
                 long long sC, int batch, ct_error *err)
{
    if (m == 0 || n == 0 || batch == 0) return CT_OK;
    float one = 1.0f;
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(cu_blas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                            ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one, B,
                                            CUDA_R_16BF, ldb, sB, A, CUDA_R_16BF, lda, sA, &beta,
                                            C, CUDA_R_32F, ldc, sC, batch, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT),
                 err);
    return CT_OK;
}

/* Row ch of dst: the ch rows of the m samples of t (each c×P), side by side. */
template <typename T>
__global__ void gather_k(const float *t, int c, cu_fastdiv by_P, int m, T *dst)
{
    unsigned P = by_P.d, cols = (unsigned)m * P;
    CU_ROWS(ch, c) {
        T *out = dst + ch * cols;
        CU_COLS(j, cols) {
            unsigned s = cu_div(j, by_P), p = j - s * P;
            out[j] = from_float<T>(t[((size_t)s * c + ch) * P + p]);
        }
    }
}

template <typename T>
static int gather(const float *t, int c, size_t P, int m, T *dst, ct_error *err)
{
    if (!c || !P || !m) return CT_OK;
    if ((size_t)m * P > 0x7fffffffu)
        return ct_fail(err, CT_EINVAL, "convolution: %d samples of %zu positions are too many for "
                       "the GPU kernels", m, P);
    gather_k<T><<<cu_grid2((size_t)c, (size_t)m * P), 256, 0, cu_stream()>>>(
        t, c, cu_fastdiv_of((unsigned)P), m, dst);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

__global__ void to_bf16_k(const float *x, bf16 *y, size_t n)
{
    CU_FOR(i, n) y[i] = __float2bfloat16(x[i]);
}

/* The weights in the columns' type: W itself, or a bf16 copy in wb. */
template <typename T> static const T *weights_as(const float *W, size_t n, void *wb, ct_error *err);

template <> const float *weights_as<float>(const float *W, size_t, void *, ct_error *) { return W; }

template <> const bf16 *weights_as<bf16>(const float *W, size_t n, void *wb, ct_error *err)
{
    to_bf16_k<<<cu_blocks(n, 256), 256, 0, cu_stream()>>>(W, (bf16 *)wb, n);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        cu_fail_cuda(e, "to_bf16_k", __FILE__, __LINE__, err);
        return NULL;
    }
    return (const bf16 *)wb;
}

/* C (m×n) += A · Bᵀ, A m×cols and B n×cols (row-major, row stride cols):
   a weight gradient, whose reduction runs over every position of the
   chunk while its output is small (64×576 for a 64-channel 3×3
   convolution).  One GEMM would run on a handful of thread blocks, so the
   columns are cut into parts, multiplied at once (strided-batched) into
   per-part products, and summed into C in a fixed order. */
template <typename T>
static int gemm_nt_acc(int m, int n, int cols, const T *A, const T *B, float *C, ct_error *err)
{
    long long tiles = (long long)((m + 127) / 128) * ((n + 127) / 128);
    int parts = (int)((264 + tiles - 1) / tiles);
    if (parts > cols / 1024) parts = cols / 1024;
    if (parts > 64) parts = 64;
    if (parts < 2) return gemm_t<T>(0, 1, m, n, cols, A, cols, 0, B, cols, 0, 1.0f, C, n, 0, 1, err);
    int L = cols / parts, rest = cols - parts * L;
    size_t mn = (size_t)m * n;
    float *part = (float *)cu_alloc((size_t)parts * mn * sizeof(float), err);
    if (!part) return CT_ENOMEM;
    int rc = gemm_t<T>(0, 1, m, n, L, A, cols, L, B, cols, L, 0.0f, part, n, (long long)mn, parts, err);
    if (rc == CT_OK && rest)
        rc = gemm_t<T>(0, 1, m, n, rest, A + (size_t)parts * L, cols, 0, B + (size_t)parts * L,
                       cols, 0, 1.0f, C, n, 0, 1, err);
    if (rc == CT_OK) rc = cu_sum_parts_add(part, parts, mn, C, err);
    cu_free(part);   /* stream-ordered: the next user runs after the sum */
    return rc;
}

/* y[s][c][p] = Y[c][s·P + p] (+ b[c]): the product of a chunk back into
   the samples' layout, with the bias; one output row per blockIdx.y. */
__global__ void scatter_bias_k(const float *Y, const float *b, int cout, unsigned P, int m, float *y)
{
    CU_ROWS(r, (size_t)m * cout) {
        size_t s = r / cout, c = r % cout;
        const float *src = Y + c * ((size_t)m * P) + s * P;
        float v = b ? b[c] : 0.0f, *out = y + r * P;
        CU_COLS(j, P) out[j] = src[j] + v;
    }
}

/* Bytes of workspace, 256-aligned pieces. */
static size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

/* y = W · cols: one GEMM over the chunk's m·P columns, then scattered into
   y with the bias. */
template <typename T>
static int conv_fwd_cols(ct_conv *cv, const geom *g, const ct_tensor *x, ct_tensor *y, ct_error *err)
{
    int N = (int)x->shape[0], cout = cv->cfg.cout;
    size_t P = geom_cols(g), K = geom_rows(g), xs = (size_t)g->c * geom_pixels(g);
    const float *b = cv->base.nparams > 1 ? cv->base.params[1].w->data : NULL;
    int m = chunk_samples(g, cout, N);
    size_t ncol = align256(K * m * P * sizeof(T)), ny = align256((size_t)cout * m * P * sizeof(float));
    char *ws = (char *)cu_workspace(ncol + ny + (size_t)cout * K * sizeof(T), err);
    if (!ws) return CT_ENOMEM;
    T *col = (T *)ws;
    float *Y = (float *)(ws + ncol);
    const T *W = weights_as<T>(cv->base.params[0].w->data, (size_t)cout * K, ws + ncol + ny, err);
    if (!W) return CT_EIO;
    for (int n0 = 0; n0 < N; n0 += m) {
        int mm = N - n0 < m ? N - n0 : m, cols = (int)(mm * P);
        int rc = im2col<T>(x->data + n0 * xs, g, mm, col, err);
        if (rc == CT_OK)
            rc = gemm_t<T>(0, 0, cout, cols, (int)K, W, (int)K, 0, col, cols, 0, 0.0f, Y, cols, 0, 1, err);
        if (rc != CT_OK) return rc;
        scatter_bias_k<<<cu_grid2((size_t)mm * cout, P), 256, 0, cu_stream()>>>(
            Y, b, cout, (unsigned)P, mm, y->data + (size_t)n0 * cout * P);
        CU_CHECK_LAUNCH(err);
    }
    return CT_OK;
}

/* The implicit-GEMM geometry of a 2-D convolution of n samples, not
   transposed and not pointwise, when its kernels take it in the current
   precision (see cu_conv_igemm.h). */
static int igemm_of(const ct_conv *cv, const geom *g, int n, cu_igemm_geom *ig)
{
    if (cv->cfg.dims != 2 || cv->cfg.transposed || geom_pointwise(g)) return 0;
    const char *e = getenv("CRYSTENS_CUDA_CONV_IGEMM");
    if (e && !strcmp(e, "0")) return 0;
    *ig = (cu_igemm_geom){n, g->c, g->h, g->w, cv->cfg.cout, g->oh, g->ow,
                          g->k1, g->k2, g->s1, g->s2, g->p1, g->p2};
    return cu_igemm_fits(ig, cu_precision());
}

/* Forward: a pointwise kernel reads x in place, one GEMM per sample
   (batched), and the caller adds the bias; else conv_fwd_cols, with the
   bias.  *biased says whether the bias is in. */
static int conv_fwd(ct_conv *cv, const geom *g, const ct_tensor *x, ct_tensor *y, int *biased,
                    ct_error *err)
{
    int N = (int)x->shape[0], cout = cv->cfg.cout;
    size_t P = geom_cols(g), K = geom_rows(g), xs = (size_t)g->c * geom_pixels(g);
    *biased = 0;
    if (geom_pointwise(g))
        return cu_gemm_batched(0, 0, cout, (int)P, (int)K, 1.0f, cv->base.params[0].w->data, (int)K,
                               0, x->data, (int)P, (long long)xs, 0.0f, y->data, (int)P,
                               (long long)(cout * P), N, err);
    *biased = 1;
    cu_igemm_geom ig;
    if (igemm_of(cv, g, N, &ig))
        return cu_igemm_conv(&ig, cu_precision(), x->data, cv->base.params[0].w->data, 0,
                             cv->base.nparams > 1 ? cv->base.params[1].w->data : NULL, y->data, err);
    return cu_precision() == CT_PREC_BF16 ? conv_fwd_cols<bf16>(cv, g, x, y, err)
                                          : conv_fwd_cols<float>(cv, g, x, y, err);
}

/* gW += G · colsᵀ (G: gy gathered to cout × m·P); gx = col2im(Wᵀ · G), or
   for a pointwise kernel gx[s] = Wᵀ · gy[s] (batched).  Without parameter
   gradients (pg 0) nothing is gathered: Wᵀ · gy[s] per sample, batched. */
template <typename T>
static int conv_bwd_t(ct_conv *cv, const geom *g, const ct_tensor *x, const ct_tensor *gy,
                      ct_tensor *gx, int pg, ct_error *err)
{
    ct_layer *l = &cv->base;
    int N = (int)x->shape[0], cout = cv->cfg.cout;
    size_t P = geom_cols(g), K = geom_rows(g), xs = (size_t)g->c * geom_pixels(g);
    const float *W = l->params[0].w->data;
    int point = geom_pointwise(g);
    if (point && !pg)
        return cu_gemm_batched(1, 0, (int)K, (int)P, cout, 1.0f, W, (int)K, 0, gy->data, (int)P,
                               (long long)(cout * P), 0.0f, gx->data, (int)P, (long long)xs, N, err);
    int m = chunk_samples(g, cout, N);
    /* G (T), then the columns (T), which the float gradient of the
       columns overwrites once the weight gradient has them; then W in T. */
    size_t nG = align256((size_t)cout * m * P * sizeof(T)), ncol = align256(K * m * P * sizeof(float));
    char *ws = (char *)cu_workspace(nG + ncol + (size_t)cout * K * sizeof(T), err);
    if (!ws) return CT_ENOMEM;
    T *G = (T *)ws, *col = (T *)(ws + nG);
    float *gcol = (float *)(ws + nG);
    const T *Wt = pg ? weights_as<T>(W, (size_t)cout * K, ws + nG + ncol, err) : NULL;
    if (pg && !Wt) return CT_EIO;
    for (int n0 = 0; n0 < N; n0 += m) {
        int mm = N - n0 < m ? N - n0 : m, cols = (int)(mm * P);
        const float *gyn = gy->data + (size_t)n0 * cout * P;
        int rc = CT_OK;
        if (pg) {
            rc = gather<T>(gyn, cout, P, mm, G, err);
            if (rc == CT_OK) rc = point ? gather<T>(x->data + n0 * xs, (int)K, P, mm, col, err)
                                        : im2col<T>(x->data + n0 * xs, g, mm, col, err);
            if (rc == CT_OK) rc = gemm_nt_acc<T>(cout, (int)K, cols, G, col, l->params[0].g->data, err);
        }
        if (rc != CT_OK) return rc;
        if (point) {
            rc = cu_gemm_batched(1, 0, (int)K, (int)P, cout, 1.0f, W, (int)K, 0, gyn, (int)P,
                                 (long long)(cout * P), 0.0f, gx->data + n0 * xs, (int)P,
                                 (long long)xs, mm, err);
        } else {
            rc = pg
                     ? gemm_t<T>(1, 0, (int)K, cols, cout, Wt, (int)K, 0, G, cols, 0, 0.0f, gcol,
                                 cols, 0, 1, err)
                     : cu_gemm_batched(1, 0, (int)K, (int)P, cout, 1.0f, W, (int)K, 0, gyn, (int)P,
                                       (long long)(cout * P), 0.0f, gcol, cols, (long long)P, mm, err);
            if (rc == CT_OK) rc = col2im(gcol, g, mm, gx->data + n0 * xs, err);
        }
        if (rc != CT_OK) return rc;
    }
    return CT_OK;
}

/* W' (cin × cout·taps) = W (cout × cin × taps) with the taps reversed:
   the kernel of the input gradient of a stride-1 convolution. */
template <typename T>
__global__ void flip_weights_k(const float *W, int cout, int cin, int taps, T *Wf)
{
    CU_FOR(i, (size_t)cout * cin * taps) {
        size_t t = i % taps, ci = (i / taps) % cin, co = i / ((size_t)taps * cin);
        Wf[(ci * cout + co) * taps + (taps - 1 - t)] = from_float<T>(W[i]);
    }
}

/* gW[co][ci][t] += Gt[ci][co·taps + taps - 1 - t]. */
__global__ void unflip_add_k(const float *Gt, int cout, int cin, int taps, float *gW)
{
    CU_FOR(i, (size_t)cout * cin * taps) {
        size_t t = i % taps, ci = (i / taps) % cin, co = i / ((size_t)taps * cin);
        gW[i] += Gt[(ci * cout + co) * taps + (taps - 1 - t)];
    }
}

/* Whether the input gradient is a stride-1 convolution of gy: stride 1 and
   padding at most k - 1 in every dimension. */
static int stride1(const geom *g)
{
    return g->s0 == 1 && g->s1 == 1 && g->s2 == 1 && g->p0 <= g->k0 - 1 && g->p1 <= g->k1 - 1 &&
           g->p2 <= g->k2 - 1;
}

/* Backward of a stride-1 convolution from one im2col, of gy: with
   C = im2col(gy) at padding k - 1 - p over x's positions (rows: output
   channel and tap), gx[s] = W' · C[s] (W' the taps reversed; batched,
   straight into gx) and gW = (X · Cᵀ) with the taps reversed back (X: x
   gathered).  Against conv_bwd_t this writes the columns once, not twice
   (im2col of x and the columns of gx), and needs no col2im. */
template <typename T>
static int conv_bwd_s1(ct_conv *cv, const geom *g, const ct_tensor *x, const ct_tensor *gy,
                       ct_tensor *gx, ct_error *err)
{
    ct_layer *l = &cv->base;
    int N = (int)x->shape[0], cout = cv->cfg.cout, cin = cv->cfg.cin;
    int taps = g->k0 * g->k1 * g->k2;
    geom gg = *g;   /* gy as the image, x's positions as the positions */
    gg.c = cout;
    gg.d = g->od, gg.h = g->oh, gg.w = g->ow;
    gg.od = g->d, gg.oh = g->h, gg.ow = g->w;
    gg.p0 = g->k0 - 1 - g->p0, gg.p1 = g->k1 - 1 - g->p1, gg.p2 = g->k2 - 1 - g->p2;
    geom_divisors(&gg);
    size_t P = geom_cols(&gg), K = geom_rows(&gg), xs = (size_t)cin * P, ys = (size_t)cout * geom_pixels(&gg);
    int pg = l->param_grads, m = chunk_samples(&gg, pg ? cin : 0, N);
    size_t ncol = align256(K * m * P * sizeof(T)), nx = pg ? align256((size_t)cin * m * P * sizeof(T)) : 0;
    size_t nwf = align256((size_t)cin * K * sizeof(T));
    char *ws = (char *)cu_workspace(ncol + nx + nwf + (pg ? (size_t)cin * K * sizeof(float) : 0), err);
    if (!ws) return CT_ENOMEM;
    T *col = (T *)ws, *X = (T *)(ws + ncol), *Wf = (T *)(ws + ncol + nx);
    float *Gt = (float *)(ws + ncol + nx + nwf);
    size_t nw = (size_t)cout * cin * taps;
    flip_weights_k<T><<<cu_blocks(nw, 256), 256, 0, cu_stream()>>>(l->params[0].w->data, cout, cin, taps, Wf);
    CU_CHECK_LAUNCH(err);
    if (pg) CU_CHECK(cudaMemsetAsync(Gt, 0, (size_t)cin * K * sizeof(float), cu_stream()), err);
    for (int n0 = 0; n0 < N; n0 += m) {
        int mm = N - n0 < m ? N - n0 : m, cols = (int)(mm * P);
        int rc = im2col<T>(gy->data + n0 * ys, &gg, mm, col, err);
        if (rc == CT_OK)
            rc = gemm_t<T>(0, 0, cin, (int)P, (int)K, Wf, (int)K, 0, col, cols, (long long)P, 0.0f,
                           gx->data + n0 * xs, (int)P, (long long)xs, mm, err);
        if (rc == CT_OK && pg) {
            rc = gather<T>(x->data + n0 * xs, cin, P, mm, X, err);
            if (rc == CT_OK) rc = gemm_nt_acc<T>(cin, (int)K, cols, X, col, Gt, err);
        }
        if (rc != CT_OK) return rc;
    }
    if (pg) {
        unflip_add_k<<<cu_blocks(nw, 256), 256, 0, cu_stream()>>>(Gt, cout, cin, taps, l->params[0].g->data);
        CU_CHECK_LAUNCH(err);
    }
    return CT_OK;
}

/* Backward on the implicit-GEMM kernels: at stride 1 the input gradient
   is their forward on gy with W' (the taps reversed) and padding k - 1 - p;
   strided, their forward by classes of pixels (cu_igemm_dgrad), up to its
   number of classes, beyond that conv_bwd_t without parameter gradients.
   Then the weight gradient, from x and gy. */
static int conv_bwd_igemm(ct_conv *cv, const geom *g, const cu_igemm_geom *ig, const ct_tensor *x,
                          const ct_tensor *gy, ct_tensor *gx, ct_error *err)
{
    ct_layer *l = &cv->base;
    ct_precision p = cu_precision();
    int rc;
    if (ig->sh == 1 && ig->sw == 1) {
        cu_igemm_geom d = {ig->n, ig->m, ig->oh, ig->ow, ig->c, ig->h, ig->w, ig->kh, ig->kw, 1, 1,
                           ig->kh - 1 - ig->ph, ig->kw - 1 - ig->pw};
        rc = cu_igemm_conv(&d, p, gy->data, l->params[0].w->data, 1, NULL, gx->data, err);
    } else if (ig->sh * ig->sw <= CU_IGEMM_MAX_CLASSES) {
        rc = cu_igemm_dgrad(ig, p, gy->data, l->params[0].w->data, gx->data, err);
    } else {
        rc = p == CT_PREC_BF16 ? conv_bwd_t<bf16>(cv, g, x, gy, gx, 0, err)
                               : conv_bwd_t<float>(cv, g, x, gy, gx, 0, err);
    }
    if (rc == CT_OK && l->param_grads)
        rc = cu_igemm_wgrad(ig, p, x->data, gy->data, l->params[0].g->data, err);
    return rc;
}

static int conv_bwd(ct_conv *cv, const geom *g, const ct_tensor *x, const ct_tensor *gy,
                    ct_tensor *gx, ct_error *err)
{
    cu_igemm_geom ig;
    if (igemm_of(cv, g, (int)x->shape[0], &ig)) return conv_bwd_igemm(cv, g, &ig, x, gy, gx, err);
    int pg = cv->base.param_grads;
    int bf = cu_precision() == CT_PREC_BF16 && !geom_pointwise(g);
    /* From gy's columns (cout·taps rows) where they are no more than x's
       (cin·taps): measured on the H100, 64->64 3x3 at 32x32, batch 256,
       2.7 ms against 3.3; 4->64 1.4 against 0.9. */
    if (stride1(g) && !geom_pointwise(g) && cv->cfg.cout <= cv->cfg.cin &&
        !getenv("CRYSTENS_CUDA_CONV_COL2IM"))
        return bf ? conv_bwd_s1<bf16>(cv, g, x, gy, gx, err) : conv_bwd_s1<float>(cv, g, x, gy, gx, err);
    return bf ? conv_bwd_t<bf16>(cv, g, x, gy, gx, pg, err) : conv_bwd_t<float>(cv, g, x, gy, gx, pg, err);
}

/* Transposed: cols[s] = Wᵀ · x[s] per sample, batched; y = col2im(cols). */
static int convt_fwd(ct_conv *cv, const geom *g, const ct_tensor *x, ct_tensor *y, ct_error *err)
{
    int N = (int)x->shape[0], cin = cv->cfg.cin;
    size_t P = geom_cols(g), K = geom_rows(g), ys = (size_t)g->c * geom_pixels(g);
    const float *W = cv->base.params[0].w->data;
    if (geom_pointwise(g))
        return cu_gemm_batched(1, 0, (int)K, (int)P, cin, 1.0f, W, (int)K, 0, x->data, (int)P,
                               (long long)(cin * P), 0.0f, y->data, (int)P, (long long)ys, N, err);
    int m = chunk_samples(g, 0, N);
    float *col = (float *)cu_workspace(K * (size_t)m * P * sizeof(float), err);
    if (!col) return CT_ENOMEM;
    for (int n0 = 0; n0 < N; n0 += m) {
        int mm = N - n0 < m ? N - n0 : m;
        int rc = cu_gemm_batched(1, 0, (int)K, (int)P, cin, 1.0f, W, (int)K, 0,
                                 x->data + (size_t)n0 * cin * P, (int)P, (long long)(cin * P), 0.0f,
                                 col, (int)(mm * P), (long long)P, mm, err);
        if (rc == CT_OK) rc = col2im(col, g, mm, y->data + n0 * ys, err);
        if (rc != CT_OK) return rc;
    }
    return CT_OK;
}

/* Transposed backward: gcols = im2col(gy); gW += X · gcolsᵀ (X: x gathered
   to cin × m·P); gx[s] = W · gcols[s], batched. */
static int convt_bwd(ct_conv *cv, const geom *g, const ct_tensor *x, const ct_tensor *gy,
                     ct_tensor *gx, ct_error *err)
{
    ct_layer *l = &cv->base;
    int N = (int)x->shape[0], cin = cv->cfg.cin;
    size_t P = geom_cols(g), K = geom_rows(g), ys = (size_t)g->c * geom_pixels(g);
    const float *W = l->params[0].w->data;
    int point = geom_pointwise(g);
    int m = chunk_samples(g, cin, N);
    float *col = (float *)cu_workspace((K + (size_t)cin) * (size_t)m * P * sizeof(float), err);
    if (!col) return CT_ENOMEM;
    float *X = col + K * (size_t)m * P;
    for (int n0 = 0; n0 < N; n0 += m) {
        int mm = N - n0 < m ? N - n0 : m, cols = (int)(mm * P);
        const float *gyn = gy->data + n0 * ys;
        int rc = point ? gather<float>(gyn, (int)K, P, mm, col, err) : im2col<float>(gyn, g, mm, col, err);
        if (rc == CT_OK && l->param_grads) {
            rc = gather<float>(x->data + (size_t)n0 * cin * P, cin, P, mm, X, err);
            if (rc == CT_OK) rc = gemm_nt_acc<float>(cin, (int)K, cols, X, col, l->params[0].g->data, err);
        }
        if (rc == CT_OK)
            rc = cu_gemm_batched(0, 0, cin, (int)P, (int)K, 1.0f, W, (int)K, 0, col, cols,
                                 (long long)P, 0.0f, gx->data + (size_t)n0 * cin * P, (int)P,
                                 (long long)(cin * P), mm, err);
        if (rc != CT_OK) return rc;
    }
    return CT_OK;
}

/* The bias gradient, gb[c] += Σ_n Σ_p gy[n][c][p], in two passes: block
   (c, s) sums channel c over slice s of the samples (four loads in flight
   per thread) into part[c·S + s], then one thread per channel adds its S
   parts in order (deterministic).  One block per channel alone reads a
   whole channel (1 MiB of a 64-channel 32×32 layer at batch 256) with
   one load in flight per thread. */
__global__ void bias_part_k(const float *gy, int C, int S, int per, int N, cu_fastdiv by_P, float *part)
{
    __shared__ float red[32];
    int c = blockIdx.x, sl = blockIdx.y;
    int n0 = sl * per, n1 = min(N, n0 + per);
    unsigned P = by_P.d, cnt = n0 < n1 ? (unsigned)(n1 - n0) * P : 0;
    const float *base = gy + ((size_t)n0 * C + c) * P;
    size_t row = (size_t)C * P;
    float acc[4] = {0, 0, 0, 0};
    for (unsigned i0 = threadIdx.x; i0 < cnt; i0 += 4 * blockDim.x) {
        float v[4];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            unsigned i = i0 + u * blockDim.x;
            unsigned n = cu_div(i, by_P);
            v[u] = i < cnt ? base[n * row + (i - n * P)] : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < 4; u++) acc[u] += v[u];
    }
    float t = cu_block_sum((acc[0] + acc[1]) + (acc[2] + acc[3]), red);
    if (!threadIdx.x) part[(size_t)c * S + sl] = t;
}

__global__ void bias_sum_k(const float *part, int C, int S, float *gb)
{
    CU_FOR(c, (size_t)C) {
        float t = 0;
        for (int s = 0; s < S; s++) t += part[c * S + s];
        gb[c] += t;
    }
}

static int conv_bias_grad(const float *gy, int N, int C, size_t P, float *gb, ct_error *err)
{
    if (!N || !C || !P) return CT_OK;
    if ((size_t)N * P > 0x7fffffffu) return cu_channel_sums_add(gy, N, C, P, gb, err);
    int S = (1024 + C - 1) / C;   /* about 1024 blocks in all */
    if (S > N) S = N;
    int per = (N + S - 1) / S;
    S = (N + per - 1) / per;
    float *part = (float *)cu_alloc((size_t)C * S * sizeof(float), err);
    if (!part) return CT_ENOMEM;
    bias_part_k<<<dim3((unsigned)C, (unsigned)S), 256, 0, cu_stream()>>>(
        gy, C, S, per, N, cu_fastdiv_of((unsigned)P), part);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) {
        bias_sum_k<<<cu_blocks((size_t)C, 128), 128, 0, cu_stream()>>>(part, C, S, gb);
        e = cudaGetLastError();
    }
    cu_free(part);   /* stream-ordered: a later user runs after the sum */
    return e == cudaSuccess ? CT_OK : cu_fail_cuda(e, "bias_part_k", __FILE__, __LINE__, err);
}

int cu_conv_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    ct_conv *cv = (ct_conv *)l;
    int64_t shape[CT_MAXDIM];
    geom g;
    if (setup(cv, x, shape, &g, err) != CT_OK) return CT_EINVAL;
    if (!(*y = cu_empty(x->ndim, shape, err)) || ct_nn_keep(l, x, err) != CT_OK) return CT_ENOMEM;
    int biased = 0;
    int rc = cv->cfg.transposed ? convt_fwd(cv, &g, x, *y, err) : conv_fwd(cv, &g, x, *y, &biased, err);
    if (rc == CT_OK && l->nparams > 1 && !biased)
        rc = cu_add_channel_bias((*y)->data, l->params[1].w->data, (int)shape[0], cv->cfg.cout,
                                 ct_nn_numel_from(*y, 2), err);
    ct_nn_profile_flops(l, conv_flops(cv, &g, x), conv_flops(cv, &g, x));
    return rc;
}

int cu_conv_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    ct_conv *cv = (ct_conv *)l;
    const ct_tensor *x = l->x;
    int64_t shape[CT_MAXDIM];
    geom g;
    if (setup(cv, x, shape, &g, err) != CT_OK) return CT_EINVAL;
    if (ct_nn_check_grad(l, gy, x->ndim, shape, err) != CT_OK) return CT_EINVAL;
    if (!(*gx = cu_empty(x->ndim, x->shape, err))) return CT_ENOMEM;
    int rc = CT_OK;
    if (l->nparams > 1 && l->param_grads)
        rc = conv_bias_grad(gy->data, (int)gy->shape[0], cv->cfg.cout, ct_nn_numel_from(gy, 2),
                            l->params[1].g->data, err);
    if (rc != CT_OK) return rc;
    int passes = l->param_grads ? 2 : 1;
    ct_nn_profile_flops(l, conv_flops(cv, &g, x) * passes, conv_flops(cv, &g, x) * passes);
    return cv->cfg.transposed ? convt_bwd(cv, &g, x, gy, *gx, err)
                              : conv_bwd(cv, &g, x, gy, *gx, err);
}
