// cu_misc.cu - nearest upsampling and the sinusoidal time embedding on the
// GPU (see ct_act.c, their CPU twins).
#include "cu_layers.h"

#include <math.h>

/* Spatial sizes d×h×w (1 for absent leading dimensions) and per-dimension
   factors of an upsampling of x by f. */
typedef struct {
    int d, h, w, fd, fh, fw;
} up_geom;

static up_geom up_of(const ct_tensor *x, int f)
{
    int sd = x->ndim - 2;
    up_geom g = {1, 1, (int)x->shape[x->ndim - 1], 1, 1, f};
    if (sd >= 2) g.h = (int)x->shape[x->ndim - 2], g.fh = f;
    if (sd >= 3) g.d = (int)x->shape[x->ndim - 3], g.fd = f;
    return g;
}

/* One thread per output element: read its source. */
__global__ void up_fwd_k(const float *x, float *y, up_geom g, size_t total)
{
    int ow = g.w * g.fw, oh = g.h * g.fh, od = g.d * g.fd;
    CU_FOR(i, total) {
        size_t r = i;
        int xx = (int)(r % ow); r /= ow;
        int yy = (int)(r % oh); r /= oh;
        int zz = (int)(r % od); r /= od;
        y[i] = x[((r * g.d + zz / g.fd) * g.h + yy / g.fh) * g.w + xx / g.fw];
    }
}

/* One thread per input element: the sum of the outputs it was copied to. */
__global__ void up_bwd_k(const float *gy, float *gx, up_geom g, size_t total)
{
    int ow = g.w * g.fw, oh = g.h * g.fh, od = g.d * g.fd;
    CU_FOR(i, total) {
        size_t r = i;
        int xx = (int)(r % g.w); r /= g.w;
        int yy = (int)(r % g.h); r /= g.h;
        int zz = (int)(r % g.d); r /= g.d;
        float s = 0;
        for (int a = 0; a < g.fd; a++)
            for (int b = 0; b < g.fh; b++) {
                const float *row = gy + ((r * od + (size_t)zz * g.fd + a) * oh + (size_t)yy * g.fh + b) * ow +
                                   (size_t)xx * g.fw;
                for (int e = 0; e < g.fw; e++) s += row[e];
            }
        gx[i] = s;
    }
}

int cu_upsample_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    int rc = ct_nn_forward_begin(l, x, ct_upsample_shape, 0, y, err);
    size_t total = *y ? (*y)->numel : 0;
    if (rc != CT_OK || !total) return rc;
    int f = ((ct_upsample *)l)->factor;
    up_fwd_k<<<cu_blocks(total, 256), 256, 0, cu_stream()>>>(x->data, (*y)->data, up_of(x, f), total);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

int cu_upsample_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    int rc = ct_nn_backward_begin(l, gy, ct_upsample_shape, 0, gx, err);
    const ct_tensor *x = l->x;
    size_t total = x->numel;
    if (rc != CT_OK || !total) return rc;
    int f = ((ct_upsample *)l)->factor;
    up_bwd_k<<<cu_blocks(total, 256), 256, 0, cu_stream()>>>(gy->data, (*gx)->data, up_of(x, f), total);
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
