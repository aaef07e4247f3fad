// cu_optim.cu - Adam/AdamW, gradient clipping and the EMA of weights on the
// flat device buffers, the twins of ct_optim.c (same formulas, same float
// arithmetic order).
#include "cu_ops.h"

#include <math.h>
#include <stdint.h>

enum { THREADS = 256 };

/* One parameter's update: w, m, v in place from its gradient g. */
static __device__ __forceinline__ void adam1(float &w, float g, float &m, float &v, float b1, float b2,
                                             float lr, float inv_bc2, float decay, float l2, float eps)
{
    float gi = g + l2 * w;
    m = b1 * m + (1.0f - b1) * gi;
    v = b2 * v + (1.0f - b2) * gi * gi;
    w = w * decay - lr * m / (sqrtf(v * inv_bc2) + eps);
}

/* Four parameters a thread where the buffers allow (16-byte aligned, n a
   multiple of 4), else one. */
__global__ void k_adam(float *W, const float *G, float *M, float *V, size_t n, float b1, float b2,
                       float lr, float inv_bc2, float decay, float l2, float eps)
{
    size_t i0 = blockIdx.x * (size_t)blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    if (n % 4 == 0 && !(((uintptr_t)W | (uintptr_t)G | (uintptr_t)M | (uintptr_t)V) & 15)) {
        for (size_t i = i0; i < n / 4; i += step) {
            float4 w = ((float4 *)W)[i], g = ((const float4 *)G)[i], m = ((float4 *)M)[i], v = ((float4 *)V)[i];
            adam1(w.x, g.x, m.x, v.x, b1, b2, lr, inv_bc2, decay, l2, eps);
            adam1(w.y, g.y, m.y, v.y, b1, b2, lr, inv_bc2, decay, l2, eps);
            adam1(w.z, g.z, m.z, v.z, b1, b2, lr, inv_bc2, decay, l2, eps);
            adam1(w.w, g.w, m.w, v.w, b1, b2, lr, inv_bc2, decay, l2, eps);
            ((float4 *)M)[i] = m;
            ((float4 *)V)[i] = v;
            ((float4 *)W)[i] = w;
        }
    } else {
        for (size_t i = i0; i < n; i += step) {
            float w = W[i], m = M[i], v = V[i];
            adam1(w, G[i], m, v, b1, b2, lr, inv_bc2, decay, l2, eps);
            M[i] = m;
            V[i] = v;
            W[i] = w;
        }
    }
}

int cu_adam_step(float *w, const float *g, float *m, float *v, size_t n, const float c[7],
                 ct_error *err)
{
    if (n == 0) return CT_OK;
    k_adam<<<cu_blocks(n % 4 ? n : n / 4, THREADS), THREADS, 0, cu_stream()>>>(
        w, g, m, v, n, c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

__global__ void k_sumsq(const float *g, size_t n, double *part)
{
    double s = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        s += (double)g[i] * (double)g[i];
    s = block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void k_scale(float *g, size_t n, float k)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        g[i] *= k;
}

int cu_clip_grad_norm(float *g, size_t n, double max_norm, double *norm, ct_error *err)
{
    int nb = cu_reduce_blocks(n);
    double *part = cu_scratch_doubles((size_t)nb, err), s = 0;
    if (!part) return CT_ENOMEM;
    k_sumsq<<<nb, THREADS, 0, cu_stream()>>>(g, n, part);
    CU_CHECK_LAUNCH(err);
    int rc = cu_partials_total(part, nb, &s, err);
    if (rc != CT_OK) return rc;
    *norm = sqrt(s);
    if (*norm > max_norm && *norm > 0) {
        k_scale<<<cu_blocks(n, THREADS), THREADS, 0, cu_stream()>>>(g, n,
                                                                   (float)(max_norm / *norm));
        CU_CHECK_LAUNCH(err);
    }
    return CT_OK;
}

__global__ void k_ema(float *e, const float *w, size_t n, float decay)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        e[i] = decay * e[i] + (1.0f - decay) * w[i];
}

int cu_ema_update(float *ema, const float *w, size_t n, float decay, ct_error *err)
{
    if (n == 0) return CT_OK;
    k_ema<<<cu_blocks(n, THREADS), THREADS, 0, cu_stream()>>>(ema, w, n, decay);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}
