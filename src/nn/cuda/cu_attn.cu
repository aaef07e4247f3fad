// cu_attn.cu - single-head self-attention on the GPU (see ct_attn.c, its
// CPU twin, for the maths).  Every product is one strided-batched GEMM over
// the samples; the softmax and its gradient are one warp per row.  The
// weights' gradients are per-sample products summed over the samples in a
// fixed order (no atomics).  Forward keeps QKV, A and O as device tensors
// in the layer (at->qkv, at->attn, at->o), as the CPU keeps host ones.
#include "cu_layers.h"

#include <math.h>

/* Rows of s (rows × P) replaced by their softmax; one warp per row. */
__global__ void softmax_rows_k(float *s, size_t rows, int P)
{
    int lane = threadIdx.x & 31;
    size_t step = (size_t)gridDim.x * blockDim.x / 32;
    for (size_t r = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32; r < rows; r += step) {
        float *row = s + r * P, mx = -INFINITY, sum = 0;
        for (int j = lane; j < P; j += 32) mx = fmaxf(mx, row[j]);
        mx = cu_warp_max(mx);
        for (int j = lane; j < P; j += 32) {
            float e = expf(row[j] - mx);
            row[j] = e;
            sum += e;
        }
        float inv = 1.0f / cu_warp_sum(sum);
        for (int j = lane; j < P; j += 32) row[j] *= inv;
    }
}

/* g = a ⊙ (g - Σ g·a) · scale per row: back through the softmax and the
   scale of the scores. */
__global__ void softmax_grad_k(float *g, const float *a, size_t rows, int P, float scale)
{
    int lane = threadIdx.x & 31;
    size_t step = (size_t)gridDim.x * blockDim.x / 32;
    for (size_t r = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32; r < rows; r += step) {
        float *gr = g + r * P;
        const float *ar = a + r * P;
        float dot = 0;
        for (int j = lane; j < P; j += 32) dot += gr[j] * ar[j];
        dot = cu_warp_sum(dot);
        for (int j = lane; j < P; j += 32) gr[j] = ar[j] * (gr[j] - dot) * scale;
    }
}

int cu_attn_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    ct_attn *at = (ct_attn *)l;
    int rc = ct_attn_forward_begin(l, x, y, err);
    if (rc != CT_OK) return rc;
    int c = at->c, N = (int)x->shape[0], P = (int)ct_nn_numel_from(x, 2);
    if (!N || !P) return CT_OK;
    long long cP = (long long)c * P, PP = (long long)P * P;
    float *QKV = at->qkv->data, *A = at->attn->data, *O = at->o->data;
    const float *Q = QKV, *K = QKV + cP, *V = QKV + 2 * cP;
    const float *Wqkv = l->params[0].w->data, *bqkv = l->params[1].w->data;
    const float *Wo = l->params[2].w->data, *bo = l->params[3].w->data;
    float scale = 1.0f / sqrtf((float)c);
    rc = cu_gemm_batched(0, 0, 3 * c, P, c, 1.0f, Wqkv, c, 0, x->data, P, cP, 0.0f, QKV, P, 3 * cP,
                         N, err);
    if (rc == CT_OK) rc = cu_add_channel_bias(QKV, bqkv, N, 3 * c, (size_t)P, err);
    if (rc == CT_OK)
        rc = cu_gemm_batched(1, 0, P, P, c, scale, Q, P, 3 * cP, K, P, 3 * cP, 0.0f, A, P, PP, N, err);
    if (rc != CT_OK) return rc;
    size_t rows = (size_t)N * P;
    softmax_rows_k<<<cu_blocks(rows * 32, 256), 256, 0, cu_stream()>>>(A, rows, P);
    CU_CHECK_LAUNCH(err);
    rc = cu_gemm_batched(0, 1, c, P, P, 1.0f, V, P, 3 * cP, A, P, PP, 0.0f, O, P, cP, N, err);
    if (rc == CT_OK)
        rc = cu_gemm_batched(0, 0, c, P, c, 1.0f, Wo, c, 0, O, P, cP, 0.0f, (*y)->data, P, cP, N, err);
    if (rc == CT_OK) rc = cu_add_channel_bias((*y)->data, bo, N, c, (size_t)P, err);
    return rc;
}

int cu_attn_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    ct_attn *at = (ct_attn *)l;
    const ct_tensor *x = l->x;
    int c = at->c, N = (int)x->shape[0], P = (int)ct_nn_numel_from(x, 2);
    if (!at->qkv || at->qkv->device != CT_DEV_CUDA)
        return ct_fail(err, CT_EINVAL, "attention: backward before a forward on the GPU");
    int rc = ct_nn_backward_begin(l, gy, ct_attn_shape, 0, gx, err);
    if (rc != CT_OK || !N || !P) return rc;
    long long cP = (long long)c * P, PP = (long long)P * P;
    /* Workspace: gQKV (N·3cP), gO (N·cP), gA (N·PP), then the per-sample
       weight products (N·3c·c) once gO and gA are spent. */
    size_t nq = (size_t)N * 3 * cP, no = (size_t)N * cP, na = (size_t)N * PP;
    size_t nw = (size_t)N * 3 * c * c;
    size_t need = nq + (no + na > nw ? no + na : nw);
    float *ws = (float *)cu_workspace(need * sizeof(float), err);
    if (!ws) return CT_ENOMEM;
    float *gQKV = ws, *gO = ws + nq, *gA = gO + no, *parts = ws + nq;
    float *gQ = gQKV, *gK = gQKV + cP, *gV = gQKV + 2 * cP;
    const float *QKV = at->qkv->data, *A = at->attn->data, *O = at->o->data;
    const float *Q = QKV, *K = QKV + cP, *V = QKV + 2 * cP;
    const float *Wqkv = l->params[0].w->data, *Wo = l->params[2].w->data;
    float scale = 1.0f / sqrtf((float)c);
    rc = cu_gemm_batched(1, 0, c, P, c, 1.0f, Wo, c, 0, gy->data, P, cP, 0.0f, gO, P, cP, N, err);
    if (rc == CT_OK)
        rc = cu_gemm_batched(0, 0, c, P, P, 1.0f, gO, P, cP, A, P, PP, 0.0f, gV, P, 3 * cP, N, err);
    if (rc == CT_OK)
        rc = cu_gemm_batched(1, 0, P, P, c, 1.0f, gO, P, cP, V, P, 3 * cP, 0.0f, gA, P, PP, N, err);
    if (rc != CT_OK) return rc;
    size_t rows = (size_t)N * P;
    softmax_grad_k<<<cu_blocks(rows * 32, 256), 256, 0, cu_stream()>>>(gA, A, rows, P, scale);
    CU_CHECK_LAUNCH(err);
    rc = cu_gemm_batched(0, 1, c, P, P, 1.0f, K, P, 3 * cP, gA, P, PP, 0.0f, gQ, P, 3 * cP, N, err);
    if (rc == CT_OK)
        rc = cu_gemm_batched(0, 0, c, P, P, 1.0f, Q, P, 3 * cP, gA, P, PP, 0.0f, gK, P, 3 * cP, N, err);
    if (rc == CT_OK)
        rc = cu_gemm_batched(1, 0, c, P, 3 * c, 1.0f, Wqkv, c, 0, gQKV, P, 3 * cP, 0.0f,
                             (*gx)->data, P, cP, N, err);
    if (rc != CT_OK || !l->param_grads) return rc;
    /* gWo += Σ_n gY[n] O[n]ᵀ, gbo += row sums of gY; then the same for
       the qkv projection with gQKV and X. */
    long long cc = (long long)c * c;
    rc = cu_gemm_batched(0, 1, c, c, P, 1.0f, gy->data, P, cP, O, P, cP, 0.0f, parts, c, cc, N, err);
    if (rc == CT_OK) rc = cu_sum_parts_add(parts, N, (size_t)cc, l->params[2].g->data, err);
    if (rc == CT_OK) rc = cu_channel_sums_add(gy->data, N, c, (size_t)P, l->params[3].g->data, err);
    if (rc == CT_OK)
        rc = cu_gemm_batched(0, 1, 3 * c, c, P, 1.0f, gQKV, P, 3 * cP, x->data, P, cP, 0.0f, parts,
                             c, 3 * cc, N, err);
    if (rc == CT_OK) rc = cu_sum_parts_add(parts, N, (size_t)(3 * cc), l->params[0].g->data, err);
    if (rc == CT_OK) rc = cu_channel_sums_add(gQKV, N, 3 * c, (size_t)P, l->params[1].g->data, err);
    return rc;
}
