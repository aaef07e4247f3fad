// cu_layers.cu - the layers on the GPU: dispatch on l->ops->kind (see
// cu_layers.h), the layer scratch, and the small kernels the kinds share.
#include "cu_layers.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *kind;
    cu_fwd_fn fwd;
    cu_bwd_fn bwd;
} kinds[] = {
    {"linear", cu_linear_forward, cu_linear_backward},
    {"conv2d", cu_conv_forward, cu_conv_backward},
    {"conv3d", cu_conv_forward, cu_conv_backward},
    {"convtranspose2d", cu_conv_forward, cu_conv_backward},
    {"convtranspose3d", cu_conv_forward, cu_conv_backward},
    {"batchnorm", cu_norm_forward, cu_norm_backward},
    {"groupnorm", cu_norm_forward, cu_norm_backward},
    {"groupnorm_silu", cu_norm_forward, cu_norm_backward},
    {"layernorm", cu_norm_forward, cu_norm_backward},
    {"relu", cu_act_forward, cu_act_backward},
    {"leaky_relu", cu_act_forward, cu_act_backward},
    {"silu", cu_act_forward, cu_act_backward},
    {"sigmoid", cu_act_forward, cu_act_backward},
    {"tanh", cu_act_forward, cu_act_backward},
    {"upsample", cu_upsample_forward, cu_upsample_backward},
    {"attention", cu_attn_forward, cu_attn_backward},
    {"time_embedding", cu_timeembed_forward, cu_timeembed_backward},
};

static int find_kind(const ct_layer *l, ct_error *err)
{
    for (size_t i = 0; i < CT_COUNTOF(kinds); i++)
        if (!strcmp(l->ops->kind, kinds[i].kind)) return (int)i;
    return ct_fail(err, CT_EINVAL, "layer kind %s has no CUDA kernel", l->ops->kind);
}

/* The parameters (values and gradients) and buffers must be on the GPU
   with the input: a host pointer would be dereferenced by a kernel. */
static int check_params(const ct_layer *l, ct_error *err)
{
    for (int i = 0; i < l->nparams; i++)
        if (l->params[i].w->device != CT_DEV_CUDA ||
            (l->params[i].g && l->params[i].g->device != CT_DEV_CUDA))
            return ct_fail(err, CT_EINVAL, "%s: the input is on cuda but parameter '%s' is on the "
                           "cpu (move the model with :to(\"cuda\"))", l->ops->kind, l->params[i].name);
    for (int i = 0; i < l->nbuffers; i++)
        if (l->buffers[i].w->device != CT_DEV_CUDA)
            return ct_fail(err, CT_EINVAL, "%s: the input is on cuda but buffer '%s' is on the "
                           "cpu (move the model with :to(\"cuda\"))", l->ops->kind, l->buffers[i].name);
    return CT_OK;
}

/* What forward and backward check before the kind runs: the entry of l's
   kind in kinds (or a negative status), with t (x or gy) and the
   parameters on the GPU. */
static int dispatch_entry(const ct_layer *l, const ct_tensor *t, ct_error *err)
{
    int k = find_kind(l, err);
    if (k < 0) return k;
    if (cu_expect_device(t, l->ops->kind, err) != CT_OK || check_params(l, err) != CT_OK)
        return CT_EINVAL;
    return k;
}

extern "C" int cu_layer_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    *y = NULL;
    int k = dispatch_entry(l, x, err);
    return k < 0 ? k : kinds[k].fwd(l, x, y, err);
}

extern "C" int cu_layer_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    *gx = NULL;
    int k = dispatch_entry(l, gy, err);
    return k < 0 ? k : kinds[k].bwd(l, gy, gx, err);
}

extern "C" void cu_layer_release(ct_layer *l)
{
    cu_layer_dev *d = (cu_layer_dev *)l->dev;
    if (!d) return;
    cu_free(d->p);
    ct_tensor_free(d->keep);
    free(d);
    l->dev = NULL;
}

cu_layer_dev *cu_layer_dev_of(ct_layer *l, ct_error *err)
{
    if (!l->dev && !(l->dev = calloc(1, sizeof(cu_layer_dev))))
        ct_fail(err, CT_ENOMEM, "out of memory for the device state of a %s layer", l->ops->kind);
    return (cu_layer_dev *)l->dev;
}

void *cu_layer_scratch(ct_layer *l, size_t bytes, ct_error *err)
{
    cu_layer_dev *d = cu_layer_dev_of(l, err);
    if (!d) return NULL;
    if (d->bytes >= bytes && d->p) return d->p;
    cu_free(d->p);
    d->p = NULL;
    d->bytes = 0;
    if (!(d->p = cu_alloc(bytes, err))) return NULL;
    d->bytes = bytes;
    return d->p;
}

ct_tensor *cu_empty(int ndim, const int64_t *shape, ct_error *err)
{
    return ct_tensor_empty_on(CT_DEV_CUDA, ndim, shape, err);
}

/* ---- Shared kernels ---------------------------------------------------------- */

/* Row r = n·C + c of t (P values) plus b[c]. */
__global__ void add_channel_bias_k(float *t, const float *b, int C, size_t P, size_t rows)
{
    CU_ROWS(r, rows) {
        float v = b[r % (size_t)C];
        float *row = t + r * P;
        CU_COLS(j, P) row[j] += v;
    }
}

int cu_add_channel_bias(float *t, const float *b, int N, int C, size_t P, ct_error *err)
{
    size_t rows = (size_t)N * (size_t)C;
    if (!rows || !P) return CT_OK;
    add_channel_bias_k<<<cu_grid2(rows, P), 256, 0, cu_stream()>>>(t, b, C, P, rows);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

/* Partial sums of channel c = blockIdx.x over the samples of slice
   blockIdx.y (per samples each) into part[c S + slice]: the slice's rows
   of P values (P4 float4 where vec) as one run of cnt items, 4 loads in
   flight per thread. */
template <bool VEC>
__global__ void channel_part_k(const float *t, int N, int C, int S, int per, cu_fastdiv by_row,
                               float *part)
{
    __shared__ float red[32];
    int c = blockIdx.x, sl = blockIdx.y;
    int n0 = sl * per, n1 = min(N, n0 + per);
    unsigned rowlen = by_row.d, cnt = n0 < n1 ? (unsigned)(n1 - n0) * rowlen : 0;
    size_t stride = (size_t)C * rowlen;   /* between samples, in items */
    float acc[4] = {0, 0, 0, 0};
    for (unsigned i0 = threadIdx.x; i0 < cnt; i0 += 4 * blockDim.x) {
        float v[4];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            unsigned i = i0 + u * blockDim.x, n = cu_div(i, by_row);
            size_t at = ((size_t)n0 + n) * stride + (size_t)c * rowlen + (i - n * rowlen);
            if (i >= cnt) {
                v[u] = 0.0f;
            } else if (VEC) {
                float4 q = ((const float4 *)t)[at];
                v[u] = (q.x + q.y) + (q.z + q.w);
            } else {
                v[u] = t[at];
            }
        }
#pragma unroll
        for (int u = 0; u < 4; u++) acc[u] += v[u];
    }
    float s = cu_block_sum((acc[0] + acc[1]) + (acc[2] + acc[3]), red);
    if (!threadIdx.x) part[(size_t)c * S + sl] = s;
}

/* out[c] += the S partials of channel c, in slice order. */
__global__ void channel_total_k(const float *part, int C, int S, float *out)
{
    CU_FOR(c, (size_t)C) {
        float s = 0;
        for (int k = 0; k < S; k++) s += part[c * S + k];
        out[c] += s;
    }
}

/* Two levels: the channels × slices of samples (about 2,048 blocks), then
   the slices' sums per channel in a fixed order. */
int cu_channel_sums_add(const float *t, int N, int C, size_t P, float *out, ct_error *err)
{
    if (!N || !C || !P) return CT_OK;
    int vec = P % 4 == 0 && ((uintptr_t)t & 15) == 0;
    size_t rowlen = vec ? P / 4 : P;
    /* a slice's items, cnt, stay below 2^30 (32-bit indices) */
    size_t S0 = ((size_t)N * rowlen + (1u << 30) - 1) >> 30, Sw = (2048 + (size_t)C - 1) / C;
    if (Sw < S0) Sw = S0;
    if (Sw > (size_t)N) Sw = (size_t)N;
    int per = (int)(((size_t)N + Sw - 1) / Sw), S = (N + per - 1) / per;
    if ((size_t)per * rowlen > (1u << 30) || S > 65535)
        return ct_fail(err, CT_EINVAL, "channel sums: %d samples of %zu values a channel are more "
                       "than the GPU kernel handles", N, P);
    float *part = (float *)cu_alloc((size_t)C * S * sizeof(float), err);
    if (!part) return CT_ENOMEM;
    dim3 grid((unsigned)C, (unsigned)S);
    cu_fastdiv by = cu_fastdiv_of((unsigned)rowlen);
    if (vec)
        channel_part_k<true><<<grid, 256, 0, cu_stream()>>>(t, N, C, S, per, by, part);
    else
        channel_part_k<false><<<grid, 256, 0, cu_stream()>>>(t, N, C, S, per, by, part);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) {
        channel_total_k<<<cu_blocks((size_t)C, 128), 128, 0, cu_stream()>>>(part, C, S, out);
        e = cudaGetLastError();
    }
    cu_free(part);   /* stream-ordered: a later user runs after the sum */
    return e == cudaSuccess ? CT_OK : cu_fail_cuda(e, "channel_part_k", __FILE__, __LINE__, err);
}

__global__ void sum_parts_k(const float *parts, int nb, size_t n, float *out)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float s = 0;
        for (int b = 0; b < nb; b++) s += parts[(size_t)b * n + i];
        out[i] += s;
    }
}

int cu_sum_parts_add(const float *parts, int nb, size_t n, float *out, ct_error *err)
{
    if (!n) return CT_OK;
    sum_parts_k<<<cu_blocks(n, 256), 256, 0, cu_stream()>>>(parts, nb, n, out);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}
