// cu_tensor.cu - the tensor ops of ct_tensor_ops.h on the GPU: element-wise
// ops with broadcasting, reductions, cat/slice, matmul, random fills and
// statistics.  The core (ct_tensor_ops.c) checks shapes and devices first;
// these functions see valid device tensors only.
//
// Reductions (sum, dot, stats, and those of cu_loss.cu / cu_optim.cu) are
// two-pass and deterministic: each block writes a partial in double, the
// partials come back to the host (one small copy, which synchronises) and
// are added there in block order.
#include "cu_ops.h"

#include "ct_tensor_ops_impl.h"

#include <math.h>
#include <stdint.h>
#include <vector>

enum { THREADS = 256 };

/* ---- Element-wise --------------------------------------------------------- */

__global__ void k_fill(float *p, size_t n, float v)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        p[i] = v;
}

int cu_fill(ct_tensor *t, float v, ct_error *err)
{
    if (t->numel == 0) return CT_OK;
    if (v == 0.0f) {
        CU_CHECK(cudaMemsetAsync(t->data, 0, t->numel * sizeof(float), cu_stream()), err);
        return CT_OK;
    }
    k_fill<<<cu_blocks(t->numel, THREADS), THREADS, 0, cu_stream()>>>(t->data, t->numel, v);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

/* b's strides over a's shape (0 where broadcast), a's shape, aligned. */
struct bcast {
    int nd;
    long long shape[CT_MAXDIM];
    long long bstride[CT_MAXDIM];
};

/* Four elements a thread where the three arrays are 16-byte aligned and n
   a multiple of 4 (the residual adds of a network: every tensor the
   caching allocator gives is aligned), else one. */
template <int OP>
__global__ void k_binary_same(float *out, const float *a, const float *b, size_t n)
{
    size_t i0 = blockIdx.x * (size_t)blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    if (n % 4 == 0 && !(((uintptr_t)out | (uintptr_t)a | (uintptr_t)b) & 15)) {
        for (size_t i = i0; i < n / 4; i += step) {
            float4 x = ((const float4 *)a)[i], y = ((const float4 *)b)[i];
            ((float4 *)out)[i] = make_float4(ct_binop_apply(x.x, y.x, OP), ct_binop_apply(x.y, y.y, OP),
                                             ct_binop_apply(x.z, y.z, OP), ct_binop_apply(x.w, y.w, OP));
        }
    } else {
        for (size_t i = i0; i < n; i += step) out[i] = ct_binop_apply(a[i], b[i], OP);
    }
}

__global__ void k_binary_bcast(float *out, const float *a, const float *b, size_t n, int op,
                               bcast bc)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t rest = i, off = 0;
        for (int d = bc.nd - 1; d >= 0; d--) {
            size_t idx = rest % (size_t)bc.shape[d];
            rest /= (size_t)bc.shape[d];
            off += idx * (size_t)bc.bstride[d];
        }
        out[i] = ct_binop_apply(a[i], b[off], op);
    }
}

/* A scalar b broadcast to everything: the common "x * per-sample factor"
   has its own path only when b is one value. */
__global__ void k_binary_scalar_dev(float *out, const float *a, const float *b, size_t n, int op)
{
    float y = b[0];
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = ct_binop_apply(a[i], y, op);
}

/* b repeated in blocks: element i of a meets b[(i / inner) % bn], when b's
   dimensions of full size are one run of a's, with only broadcast ones
   before and after it (N×C×1×1, C×1×1, N×1×1×1 or a row over N×C×H×W):
   two 32-bit divisions per element instead of one per dimension. */
template <int OP>
__global__ void k_binary_blocks(float *out, const float *a, const float *b, unsigned n,
                                unsigned inner, unsigned bn)
{
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        out[i] = ct_binop_apply(a[i], b[(i / inner) % bn], OP);
}

/* Whether b repeats in blocks over a (see k_binary_blocks); *inner, *bn. */
static int blocks_of(const ct_tensor *a, const ct_tensor *b, unsigned *inner, unsigned *bn)
{
    if (a->numel > 0xffffffffu) return 0;
    int d = a->ndim - 1;
    size_t in = 1, nb = 1;
    auto bsize = [&](int dim) -> int64_t {
        int db = dim - (a->ndim - b->ndim);
        return db >= 0 ? b->shape[db] : 1;
    };
    for (; d >= 0 && bsize(d) == 1; d--) in *= (size_t)a->shape[d];
    for (; d >= 0 && bsize(d) == a->shape[d]; d--) nb *= (size_t)a->shape[d];
    for (; d >= 0; d--)
        if (bsize(d) != 1) return 0;
    *inner = (unsigned)in;
    *bn = (unsigned)nb;
    return in > 0 && nb > 0;
}

static void strides_of(const ct_tensor *a, const ct_tensor *b, bcast *bc)
{
    bc->nd = a->ndim;
    size_t s = 1;
    for (int d = a->ndim - 1; d >= 0; d--) {
        int db = d - (a->ndim - b->ndim);
        int64_t nb = db >= 0 ? b->shape[db] : 1;
        bc->shape[d] = a->shape[d];
        bc->bstride[d] = nb == 1 ? 0 : (long long)s;
        s *= (size_t)nb;
    }
}

int cu_binary(ct_tensor *out, const ct_tensor *a, const ct_tensor *b, int op, ct_error *err)
{
    size_t n = a->numel;
    if (n == 0) return CT_OK;
    unsigned g = cu_blocks(n, THREADS), inner, bn;
    cudaStream_t s = cu_stream();
    if (b->numel == n) {
        g = cu_blocks(n % 4 ? n : n / 4, THREADS);   /* k_binary_same's float4 items */
        switch (op) {
        case CT_OP_ADD: k_binary_same<CT_OP_ADD><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, n); break;
        case CT_OP_SUB: k_binary_same<CT_OP_SUB><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, n); break;
        case CT_OP_MUL: k_binary_same<CT_OP_MUL><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, n); break;
        case CT_OP_DIV: k_binary_same<CT_OP_DIV><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, n); break;
        case CT_OP_MAX: k_binary_same<CT_OP_MAX><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, n); break;
        case CT_OP_MIN: k_binary_same<CT_OP_MIN><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, n); break;
        default: k_binary_same<CT_OP_POW><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, n); break;
        }
    } else if (b->numel == 1) {
        k_binary_scalar_dev<<<g, THREADS, 0, s>>>(out->data, a->data, b->data, n, op);
    } else if (blocks_of(a, b, &inner, &bn)) {
        unsigned nn = (unsigned)n;
        switch (op) {
        case CT_OP_ADD: k_binary_blocks<CT_OP_ADD><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, nn, inner, bn); break;
        case CT_OP_SUB: k_binary_blocks<CT_OP_SUB><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, nn, inner, bn); break;
        case CT_OP_MUL: k_binary_blocks<CT_OP_MUL><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, nn, inner, bn); break;
        case CT_OP_DIV: k_binary_blocks<CT_OP_DIV><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, nn, inner, bn); break;
        case CT_OP_MAX: k_binary_blocks<CT_OP_MAX><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, nn, inner, bn); break;
        case CT_OP_MIN: k_binary_blocks<CT_OP_MIN><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, nn, inner, bn); break;
        default: k_binary_blocks<CT_OP_POW><<<g, THREADS, 0, s>>>(out->data, a->data, b->data, nn, inner, bn); break;
        }
    } else {
        bcast bc;
        strides_of(a, b, &bc);
        k_binary_bcast<<<g, THREADS, 0, s>>>(out->data, a->data, b->data, n, op, bc);
    }
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

__global__ void k_scalar(float *out, const float *a, size_t n, float y, int op, int first)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = first ? ct_binop_apply(y, a[i], op) : ct_binop_apply(a[i], y, op);
}

int cu_scalar(ct_tensor *out, const ct_tensor *a, float v, int op, int first, ct_error *err)
{
    if (a->numel == 0) return CT_OK;
    k_scalar<<<cu_blocks(a->numel, THREADS), THREADS, 0, cu_stream()>>>(out->data, a->data,
                                                                       a->numel, v, op, first);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

__global__ void k_unary(float *out, const float *a, size_t n, int op)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = ct_unop_apply(a[i], op);
}

int cu_unary(ct_tensor *out, const ct_tensor *a, int op, ct_error *err)
{
    if (a->numel == 0) return CT_OK;
    k_unary<<<cu_blocks(a->numel, THREADS), THREADS, 0, cu_stream()>>>(out->data, a->data,
                                                                      a->numel, op);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

__global__ void k_clamp(float *out, const float *a, size_t n, float lo, float hi)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = a[i];
        out[i] = x < lo ? lo : x > hi ? hi : x;
    }
}

int cu_clamp(ct_tensor *out, const ct_tensor *a, float lo, float hi, ct_error *err)
{
    if (a->numel == 0) return CT_OK;
    k_clamp<<<cu_blocks(a->numel, THREADS), THREADS, 0, cu_stream()>>>(out->data, a->data,
                                                                      a->numel, lo, hi);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

/* ---- Reductions -------------------------------------------------------------- */

enum { RED_BLOCKS = 512 };

__global__ void k_sum_partial(const float *a, const float *b, size_t n, double *part)
{
    double s = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        s += b ? (double)a[i] * (double)b[i] : (double)a[i];
    s = block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

/* The nb per-block partials at part, copied into h on the host; this
   synchronises, so it reports the errors of the kernels that wrote them. */
template <class T>
static int partials_to_host(const T *part, int nb, std::vector<T> &h, ct_error *err)
{
    h.resize((size_t)nb);
    CU_CHECK(cudaMemcpyAsync(h.data(), part, (size_t)nb * sizeof(T), cudaMemcpyDeviceToHost,
                             cu_stream()),
             err);
    return cu_sync(err);
}

int cu_partials_total(const double *part, int nblocks, double *total, ct_error *err)
{
    std::vector<double> h;
    int rc = partials_to_host(part, nblocks, h, err);
    if (rc != CT_OK) return rc;
    double s = 0;
    for (int i = 0; i < nblocks; i++) s += h[(size_t)i];
    *total = s;
    return CT_OK;
}

int cu_reduce_blocks(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    return b < 1 ? 1 : b > RED_BLOCKS ? RED_BLOCKS : (int)b;
}

static int sum_dot(const float *a, const float *b, size_t n, double *s, ct_error *err)
{
    int nb = cu_reduce_blocks(n);
    double *part = cu_scratch_doubles((size_t)nb, err);
    if (!part) return CT_ENOMEM;
    k_sum_partial<<<nb, THREADS, 0, cu_stream()>>>(a, b, n, part);
    CU_CHECK_LAUNCH(err);
    return cu_partials_total(part, nb, s, err);
}

int cu_sum(const ct_tensor *t, double *s, ct_error *err)
{
    return sum_dot(t->data, NULL, t->numel, s, err);
}

int cu_dot(const ct_tensor *a, const ct_tensor *b, double *s, ct_error *err)
{
    return sum_dot(a->data, b->data, a->numel < b->numel ? a->numel : b->numel, s, err);
}

/* out[o] = the sum of a over the dimensions where out has size 1: one
   block per output element, its threads striding over the reduced
   indices (rshape/rstride: the reduced dimensions of a, their strides). */
struct sumto {
    int nkeep, nred, contiguous;   // contiguous: the reduced indices are one run of a
    long long kshape[CT_MAXDIM], kstride[CT_MAXDIM];   // kept dims of a: sizes, a's strides
    long long rshape[CT_MAXDIM], rstride[CT_MAXDIM];
    long long rtotal;
};

__global__ void k_sum_to(float *out, const float *a, size_t nout, sumto st)
{
    for (size_t o = blockIdx.x; o < nout; o += gridDim.x) {
        size_t rest = o, base = 0;
        for (int d = st.nkeep - 1; d >= 0; d--) {
            base += rest % (size_t)st.kshape[d] * (size_t)st.kstride[d];
            rest /= (size_t)st.kshape[d];
        }
        double s = 0;
        if (st.contiguous) {
            for (long long r = threadIdx.x; r < st.rtotal; r += blockDim.x) s += (double)a[base + (size_t)r];
        } else
        for (long long r = threadIdx.x; r < st.rtotal; r += blockDim.x) {
            size_t rr = (size_t)r, off = base;
            for (int d = st.nred - 1; d >= 0; d--) {
                off += rr % (size_t)st.rshape[d] * (size_t)st.rstride[d];
                rr /= (size_t)st.rshape[d];
            }
            s += (double)a[off];
        }
        s = block_sum(s);
        if (threadIdx.x == 0) out[o] = (float)s;
        __syncthreads();
    }
}

int cu_sum_to(ct_tensor *out, const ct_tensor *a, ct_error *err)
{
    sumto st = {};
    size_t stride = 1;
    long long astride[CT_MAXDIM];
    for (int d = a->ndim - 1; d >= 0; d--) {
        astride[d] = (long long)stride;
        stride *= (size_t)a->shape[d];
    }
    st.rtotal = 1;
    for (int d = 0; d < a->ndim; d++) {
        int dout = d - (a->ndim - out->ndim);
        int64_t no = dout >= 0 ? out->shape[dout] : 1;
        if (no == 1 && a->shape[d] != 1) {
            st.rshape[st.nred] = a->shape[d];
            st.rstride[st.nred++] = astride[d];
            st.rtotal *= a->shape[d];
        } else {
            st.kshape[st.nkeep] = a->shape[d];
            st.kstride[st.nkeep++] = astride[d];
        }
    }
    /* The reduced dimensions are the trailing ones of a: each output element
       sums one contiguous run. */
    st.contiguous = 1;
    long long want = 1;
    for (int d = st.nred - 1; d >= 0; d--) {
        if (st.rstride[d] != want) st.contiguous = 0;
        want *= st.rshape[d];
    }
    for (int d = 0; d < st.nkeep; d++)
        if (st.kshape[d] != 1 && st.kstride[d] < want) st.contiguous = 0;
    if (out->numel == 0) return CT_OK;
    if (a->numel == 0) return cu_fill(out, 0.0f, err);
    unsigned threads = st.rtotal >= 256 ? 256 : st.rtotal >= 64 ? 64 : 32;
    unsigned blocks = out->numel < 65535u * 4 ? (unsigned)out->numel : 65535u * 4;
    k_sum_to<<<blocks, threads, 0, cu_stream()>>>(out->data, a->data, out->numel, st);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

/* ---- Joins --------------------------------------------------------------- */

static void split_at(const ct_tensor *t, int dim, size_t *outer, size_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= (size_t)t->shape[d];
    for (int d = dim + 1; d < t->ndim; d++) *inner *= (size_t)t->shape[d];
}

int cu_cat(ct_tensor *out, const ct_tensor *const *ts, int n, int dim, ct_error *err)
{
    size_t outer, inner;
    split_at(out, dim, &outer, &inner);
    size_t out_row = (size_t)out->shape[dim] * inner, at = 0;
    for (int i = 0; i < n; i++) {
        size_t row = (size_t)ts[i]->shape[dim] * inner;
        if (row && outer)
            CU_CHECK(cudaMemcpy2DAsync(out->data + at, out_row * sizeof(float), ts[i]->data,
                                       row * sizeof(float), row * sizeof(float), outer,
                                       cudaMemcpyDeviceToDevice, cu_stream()),
                     err);
        at += row;
    }
    return CT_OK;
}

int cu_slice(ct_tensor *out, const ct_tensor *t, int dim, int64_t start, ct_error *err)
{
    size_t outer, inner;
    split_at(t, dim, &outer, &inner);
    size_t src_row = (size_t)t->shape[dim] * inner, row = (size_t)out->shape[dim] * inner;
    if (row && outer)
        CU_CHECK(cudaMemcpy2DAsync(out->data, row * sizeof(float),
                                   t->data + (size_t)start * inner, src_row * sizeof(float),
                                   row * sizeof(float), outer, cudaMemcpyDeviceToDevice,
                                   cu_stream()),
                 err);
    return CT_OK;
}

int cu_matmul(ct_tensor *out, const ct_tensor *a, const ct_tensor *b, ct_error *err)
{
    int m = (int)a->shape[0], k = (int)a->shape[1], n = (int)b->shape[1];
    if (k == 0) return cu_fill(out, 0.0f, err);
    return cu_gemm(0, 0, m, n, k, 1.0f, a->data, k, b->data, n, 0.0f, out->data, n, err);
}

/* ---- Random: Philox4x32-10 (Salmon et al., "Parallel random numbers: as
   easy as 1, 2, 3"), counter = element index / 4, key = the seed: every
   element's draw depends on the seed and its index only, so a fill is
   the same whatever the launch shape. */

__device__ __forceinline__ void philox(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        uint32_t hi0 = __umulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        uint32_t hi1 = __umulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0;
        c[1] = lo1;
        c[2] = n2;
        c[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

/* (0, 1]: never 0, so log is finite. */
__device__ __forceinline__ float u01(uint32_t x)
{
    return ((float)(x >> 8) + 1.0f) * (1.0f / 16777216.0f);
}

__global__ void k_random(float *p, size_t n, uint64_t seed, int normal, float a, float b)
{
    size_t groups = (n + 3) / 4;
    for (size_t gi = blockIdx.x * (size_t)blockDim.x + threadIdx.x; gi < groups;
         gi += (size_t)gridDim.x * blockDim.x) {
        uint32_t c[4] = {(uint32_t)gi, (uint32_t)(gi >> 32), 0u, 0u};
        philox(c, (uint32_t)seed, (uint32_t)(seed >> 32));
        float v[4];
        if (normal) {
            for (int j = 0; j < 4; j += 2) {
                float r = sqrtf(-2.0f * logf(u01(c[j])));
                float s, co;
                sincospif(2.0f * u01(c[j + 1]), &s, &co);
                v[j] = a + b * r * co;
                v[j + 1] = a + b * r * s;
            }
        } else {
            for (int j = 0; j < 4; j++) v[j] = a + (b - a) * (u01(c[j]) - 1.0f / 16777216.0f);
        }
        for (int j = 0; j < 4 && gi * 4 + j < n; j++) p[gi * 4 + j] = v[j];
    }
}

int cu_random(ct_tensor *t, uint64_t seed, int normal, float a, float b, ct_error *err)
{
    if (t->numel == 0) return CT_OK;
    k_random<<<cu_blocks((t->numel + 3) / 4, THREADS), THREADS, 0, cu_stream()>>>(
        t->data, t->numel, seed, normal, a, b);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

/* ---- Statistics ---------------------------------------------------------------- */

struct stat_part {
    float min, max;
    double sum, finite, nonfinite;
};

__global__ void k_stats(const float *a, size_t n, stat_part *part)
{
    float mn = INFINITY, mx = -INFINITY;
    double s = 0, fin = 0, nf = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = a[i];
        if (!isfinite(v)) {
            nf += 1;
            continue;
        }
        mn = fminf(mn, v);
        mx = fmaxf(mx, v);
        s += (double)v;
        fin += 1;
    }
    __shared__ float smin[THREADS], smax[THREADS];
    smin[threadIdx.x] = mn;
    smax[threadIdx.x] = mx;
    __syncthreads();
    for (int o = THREADS / 2; o > 0; o >>= 1) {
        if (threadIdx.x < (unsigned)o) {
            smin[threadIdx.x] = fminf(smin[threadIdx.x], smin[threadIdx.x + o]);
            smax[threadIdx.x] = fmaxf(smax[threadIdx.x], smax[threadIdx.x + o]);
        }
        __syncthreads();
    }
    s = block_sum(s);
    fin = block_sum(fin);
    nf = block_sum(nf);
    if (threadIdx.x == 0) part[blockIdx.x] = {smin[0], smax[0], s, fin, nf};
}

int cu_stats(const ct_tensor *t, ct_tensor_stats *st, ct_error *err)
{
    int nb = cu_reduce_blocks(t->numel);
    size_t words = ((size_t)nb * sizeof(stat_part) + sizeof(double) - 1) / sizeof(double);
    stat_part *part = (stat_part *)cu_scratch_doubles(words, err);
    if (!part) return CT_ENOMEM;
    k_stats<<<nb, THREADS, 0, cu_stream()>>>(t->data, t->numel, part);
    CU_CHECK_LAUNCH(err);
    std::vector<stat_part> h;
    int rc = partials_to_host(part, nb, h, err);
    if (rc != CT_OK) return rc;
    float mn = INFINITY, mx = -INFINITY;
    double s = 0, fin = 0, nf = 0;
    for (const stat_part &p : h) {
        mn = fminf(mn, p.min);
        mx = fmaxf(mx, p.max);
        s += p.sum;
        fin += p.finite;
        nf += p.nonfinite;
    }
    st->min = fin > 0 ? mn : NAN;
    st->max = fin > 0 ? mx : NAN;
    st->mean = fin > 0 ? s / fin : (double)NAN;
    st->nonfinite = (size_t)nf;
    return CT_OK;
}
