// cu_layers.cu - the layers on the GPU: dispatch on l->ops->kind (see
// cu_layers.h), the layer scratch, and the small kernels the kinds share.
#include "cu_layers.h"

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

/* One block per channel c: threads stride over the samples' rows. */
__global__ void channel_sums_k(const float *t, int N, int C, size_t P, float *out)
{
    __shared__ float red[32];
    int c = blockIdx.x;
    float s = 0;
    if (P >= blockDim.x) {
        for (int n = 0; n < N; n++) {
            const float *row = t + ((size_t)n * C + c) * P;
            for (size_t p = threadIdx.x; p < P; p += blockDim.x) s += row[p];
        }
    } else {
        for (size_t i = threadIdx.x; i < (size_t)N * P; i += blockDim.x) {
            size_t n = i / P;
            s += t[(n * (size_t)C + (size_t)c) * P + (i - n * P)];
        }
    }
    s = cu_block_sum(s, red);
    if (!threadIdx.x) out[c] += s;
}

int cu_channel_sums_add(const float *t, int N, int C, size_t P, float *out, ct_error *err)
{
    if (!C) return CT_OK;
    channel_sums_k<<<C, 256, 0, cu_stream()>>>(t, N, C, P, out);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
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
