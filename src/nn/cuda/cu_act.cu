// cu_act.cu - the element-wise activations on the GPU (see ct_act.c, their
// CPU twins): one grid-stride kernel each way, the kind a template argument.
#include "cu_layers.h"

template <int K>
static __device__ __forceinline__ float act_f(float x, float slope)
{
    switch (K) {
    case CT_ACT_RELU: return x > 0 ? x : 0.0f;
    case CT_ACT_LEAKY_RELU: return x > 0 ? x : slope * x;
    case CT_ACT_SILU: return x / (1.0f + expf(-x));
    case CT_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    default: return tanhf(x);
    }
}

/* gy · f'(x) */
template <int K>
static __device__ __forceinline__ float act_df(float x, float g, float slope)
{
    switch (K) {
    case CT_ACT_RELU: return x > 0 ? g : 0.0f;
    case CT_ACT_LEAKY_RELU: return x > 0 ? g : slope * g;
    case CT_ACT_SILU: {
        float s = 1.0f / (1.0f + expf(-x));
        return g * s * (1.0f + x * (1.0f - s));
    }
    case CT_ACT_SIGMOID: {
        float s = 1.0f / (1.0f + expf(-x));
        return g * s * (1.0f - s);
    }
    default: {
        float t = tanhf(x);
        return g * (1.0f - t * t);
    }
    }
}

/* Four values per thread where the tensor allows (16-byte aligned, a
   multiple of 4 long: the caching allocator's blocks are aligned). */
template <int K>
__global__ void act_fwd_k(const float *x, float *y, size_t n, float slope)
{
    if (n % 4 == 0 && !((uintptr_t)x % 16) && !((uintptr_t)y % 16)) {
        CU_FOR(i, n / 4) {
            float4 v = ((const float4 *)x)[i];
            v.x = act_f<K>(v.x, slope), v.y = act_f<K>(v.y, slope);
            v.z = act_f<K>(v.z, slope), v.w = act_f<K>(v.w, slope);
            ((float4 *)y)[i] = v;
        }
    } else {
        CU_FOR(i, n) y[i] = act_f<K>(x[i], slope);
    }
}

template <int K>
__global__ void act_bwd_k(const float *x, const float *g, float *gx, size_t n, float slope)
{
    if (n % 4 == 0 && !((uintptr_t)x % 16) && !((uintptr_t)g % 16) && !((uintptr_t)gx % 16)) {
        CU_FOR(i, n / 4) {
            float4 v = ((const float4 *)x)[i], w = ((const float4 *)g)[i];
            w.x = act_df<K>(v.x, w.x, slope), w.y = act_df<K>(v.y, w.y, slope);
            w.z = act_df<K>(v.z, w.z, slope), w.w = act_df<K>(v.w, w.w, slope);
            ((float4 *)gx)[i] = w;
        }
    } else {
        CU_FOR(i, n) gx[i] = act_df<K>(x[i], g[i], slope);
    }
}

static int launch_fwd(const ct_act *a, const float *x, float *y, size_t n, ct_error *err)
{
    if (!n) return CT_OK;
    unsigned b = cu_blocks((n + 3) / 4, 256);
    cudaStream_t s = cu_stream();
    switch (a->kind) {
    case CT_ACT_RELU: act_fwd_k<CT_ACT_RELU><<<b, 256, 0, s>>>(x, y, n, a->slope); break;
    case CT_ACT_LEAKY_RELU: act_fwd_k<CT_ACT_LEAKY_RELU><<<b, 256, 0, s>>>(x, y, n, a->slope); break;
    case CT_ACT_SILU: act_fwd_k<CT_ACT_SILU><<<b, 256, 0, s>>>(x, y, n, a->slope); break;
    case CT_ACT_SIGMOID: act_fwd_k<CT_ACT_SIGMOID><<<b, 256, 0, s>>>(x, y, n, a->slope); break;
    case CT_ACT_TANH: act_fwd_k<CT_ACT_TANH><<<b, 256, 0, s>>>(x, y, n, a->slope); break;
    }
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

static int launch_bwd(const ct_act *a, const float *x, const float *g, float *gx, size_t n,
                      ct_error *err)
{
    if (!n) return CT_OK;
    unsigned b = cu_blocks((n + 3) / 4, 256);
    cudaStream_t s = cu_stream();
    switch (a->kind) {
    case CT_ACT_RELU: act_bwd_k<CT_ACT_RELU><<<b, 256, 0, s>>>(x, g, gx, n, a->slope); break;
    case CT_ACT_LEAKY_RELU: act_bwd_k<CT_ACT_LEAKY_RELU><<<b, 256, 0, s>>>(x, g, gx, n, a->slope); break;
    case CT_ACT_SILU: act_bwd_k<CT_ACT_SILU><<<b, 256, 0, s>>>(x, g, gx, n, a->slope); break;
    case CT_ACT_SIGMOID: act_bwd_k<CT_ACT_SIGMOID><<<b, 256, 0, s>>>(x, g, gx, n, a->slope); break;
    case CT_ACT_TANH: act_bwd_k<CT_ACT_TANH><<<b, 256, 0, s>>>(x, g, gx, n, a->slope); break;
    }
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

int cu_act_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    int rc = ct_nn_forward_begin(l, x, NULL, 0, y, err);
    if (rc != CT_OK) return rc;
    return launch_fwd((const ct_act *)l, x->data, (*y)->data, x->numel, err);
}

int cu_act_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    const ct_tensor *x = l->x;
    int rc = ct_nn_backward_begin(l, gy, NULL, 0, gx, err);
    if (rc != CT_OK) return rc;
    return launch_bwd((const ct_act *)l, x->data, gy->data, (*gx)->data, x->numel, err);
}
