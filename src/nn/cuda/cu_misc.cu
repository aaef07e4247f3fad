// cu_misc.cu - nearest upsampling and the sinusoidal time embedding on the
// GPU (see ct_act.c, their CPU twins).
#include "cu_layers.h"

#include <math.h>
#include <stdint.h>

/* Spatial sizes d×h×w (1 for absent leading dimensions) and per-dimension
   factors of an upsampling of x by f; the divisors of the index decoding;
   pair: factor 2 along w and the upsampled tensor (big) 8-byte aligned,
   so each run of 2 is one float2 access. */
typedef struct {
    int d, h, w, fd, fh, fw, pair;
    cu_fastdiv by_w, by_h, by_d;
} up_geom;

static up_geom up_of(const ct_tensor *x, int f, const float *big)
{
    int sd = x->ndim - 2;
    up_geom g = {1, 1, (int)x->shape[x->ndim - 1], 1, 1, f, f == 2 && ((uintptr_t)big & 7) == 0};
    if (sd >= 2) g.h = (int)x->shape[x->ndim - 2], g.fh = f;
    if (sd >= 3) g.d = (int)x->shape[x->ndim - 3], g.fd = f;
    g.by_w = cu_fastdiv_of((unsigned)g.w);
    g.by_h = cu_fastdiv_of((unsigned)g.h);
    g.by_d = cu_fastdiv_of((unsigned)g.d);
    return g;
}

/* Input element i as (plane r, zz, yy, xx), in 32-bit multiply-high
   divisions (FAST: every index below 2^32) or 64-bit ones. */
template <bool FAST>
static __device__ __forceinline__ size_t up_decode(size_t i, const up_geom &g, int *zz, int *yy,
                                                   int *xx)
{
    if (FAST) {
        unsigned r = (unsigned)i, q = cu_div(r, g.by_w);
        *xx = (int)(r - q * g.w);
        r = cu_div(q, g.by_h);
        *yy = (int)(q - r * g.h);
        q = cu_div(r, g.by_d);
        *zz = (int)(r - q * g.d);
        return q;
    }
    size_t r = i;
    *xx = (int)(r % g.w), r /= g.w;
    *yy = (int)(r % g.h), r /= g.h;
    *zz = (int)(r % g.d), r /= g.d;
    return r;
}

/* One thread per input element: its fd × fh runs of fw outputs (one
   8-byte store each for the usual factor 2). */
template <bool FAST>
__global__ void up_fwd_k(const float *x, float *y, up_geom g, size_t total)
{
    size_t ow = (size_t)g.w * g.fw, oh = (size_t)g.h * g.fh, od = (size_t)g.d * g.fd;
    CU_FOR(i, total) {
        int zz, yy, xx;
        size_t r = up_decode<FAST>(i, g, &zz, &yy, &xx);
        float v = x[i];
        for (int a = 0; a < g.fd; a++)
            for (int b = 0; b < g.fh; b++) {
                float *row = y + ((r * od + (size_t)zz * g.fd + a) * oh + (size_t)yy * g.fh + b) * ow +
                             (size_t)xx * g.fw;
                if (g.pair)
                    *(float2 *)row = make_float2(v, v);
                else
                    for (int e = 0; e < g.fw; e++) row[e] = v;
            }
    }
}

/* One thread per input element: the sum of the outputs it was copied to. */
template <bool FAST>
__global__ void up_bwd_k(const float *gy, float *gx, up_geom g, size_t total)
{
    size_t ow = (size_t)g.w * g.fw, oh = (size_t)g.h * g.fh, od = (size_t)g.d * g.fd;
    CU_FOR(i, total) {
        int zz, yy, xx;
        size_t r = up_decode<FAST>(i, g, &zz, &yy, &xx);
        float s = 0;
        for (int a = 0; a < g.fd; a++)
            for (int b = 0; b < g.fh; b++) {
                const float *row = gy + ((r * od + (size_t)zz * g.fd + a) * oh + (size_t)yy * g.fh + b) * ow +
                                   (size_t)xx * g.fw;
                if (g.pair) {
                    float2 q = *(const float2 *)row;
                    s += q.x;
                    s += q.y;
                } else {
                    for (int e = 0; e < g.fw; e++) s += row[e];
                }
            }
        gx[i] = s;
    }
}

int cu_upsample_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    int rc = ct_nn_forward_begin(l, x, ct_upsample_shape, 0, y, err);
    size_t total = *y ? x->numel : 0;
    if (rc != CT_OK || !total) return rc;
    up_geom g = up_of(x, ((ct_upsample *)l)->factor, (*y)->data);
    unsigned nb = cu_blocks(total, 256);
    if (total <= 0xffffffffu)
        up_fwd_k<true><<<nb, 256, 0, cu_stream()>>>(x->data, (*y)->data, g, total);
    else
        up_fwd_k<false><<<nb, 256, 0, cu_stream()>>>(x->data, (*y)->data, g, total);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

int cu_upsample_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    int rc = ct_nn_backward_begin(l, gy, ct_upsample_shape, 0, gx, err);
    const ct_tensor *x = l->x;
    size_t total = x->numel;
    if (rc != CT_OK || !total) return rc;
    up_geom g = up_of(x, ((ct_upsample *)l)->factor, gy->data);
    unsigned nb = cu_blocks(total, 256);
    if (total <= 0xffffffffu)
        up_bwd_k<true><<<nb, 256, 0, cu_stream()>>>(gy->data, (*gx)->data, g, total);
    else
        up_bwd_k<false><<<nb, 256, 0, cu_stream()>>>(gy->data, (*gx)->data, g, total);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

/* row n = [cos(t f_i), sin(t f_i)], in double like the CPU twin (t up to
   a thousand: the angle needs more than float's digits). */
__global__ void te_fwd_k(const float *t, float *y, int n, int half, double lmp)
{
    CU_FOR(i, (size_t)n * half) {
        int r = (int)(i / half), k = (int)(i % half);
        double f = exp(-lmp * k / half), a = (double)t[r] * f;
        y[(size_t)r * 2 * half + k] = (float)cos(a);
        y[(size_t)r * 2 * half + half + k] = (float)sin(a);
    }
}

int cu_timeembed_forward(ct_layer *l, const ct_tensor *t, ct_tensor **y, ct_error *err)
{
    ct_timeembed *te = (ct_timeembed *)l;
    int rc = ct_nn_forward_begin(l, t, ct_timeembed_shape, 0, y, err);
    int n = (int)t->shape[0], half = te->dim / 2;
    if (rc != CT_OK || !n) return rc;
    te_fwd_k<<<cu_blocks((size_t)n * half, 256), 256, 0, cu_stream()>>>(
        t->data, (*y)->data, n, half, log((double)te->max_period));
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

/* The timesteps are not differentiable: zeros, as on the CPU. */
int cu_timeembed_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    return ct_nn_backward_begin(l, gy, ct_timeembed_shape, 1, gx, err);
}
