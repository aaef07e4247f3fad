/*
 * ct_act.c - element-wise activations and the sinusoidal time embedding,
 * layers without weights (see ct_nn.h; nearest upsampling is ct_upsample.c).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ct_layers.h"
#include "ct_nn_impl.h"
#include "ct_parallel.h"

/* The SiLU and sigmoid loops for AVX-512 and AVX2 too, where GCC picks at
   load time (ct_nn_impl.h). */
#define SIMD_CLONES CT_SIMD_CLONES

/* SiLU and sigmoid on VL = 16 values at once with GCC's vector extensions
   (libm's expf is one call per value): one 512-bit register with AVX-512,
   two with AVX2; each lane does the same operations, so every variant
   gives the same bits.  e^x = 2^n · p(r), n = round(x/ln 2),
   r = x - n ln 2 (ln 2 in two parts), p Cephes' degree-7 polynomial for
   expf; x clamped to [-87, 88] (e^-87 ≈ 1.6e-38), NaN kept.  Relative error
   below 3e-7 (tests/c/test_nn.c measures it against exp). */
#pragma GCC diagnostic ignored "-Wpsabi"   /* vf never crosses a call: all inline */
enum { VL = CT_VL };
typedef ct_vf vf;
typedef int32_t vi __attribute__((vector_size(VL * sizeof(float))));
typedef uint32_t vu __attribute__((vector_size(VL * sizeof(float))));

static inline vf selectv(vi mask, vf a, vf b)
{
    return (vf)(((vi)a & mask) | ((vi)b & ~mask));
}

__attribute__((always_inline)) static inline vf expv(vf x)
{
    const vf hi = (vf){0} + 88.0f, lo = hi * 0.0f - 87.0f;
    x = selectv(x > hi, hi, x);
    x = selectv(x < lo, lo, x);
    vf t = x * 1.44269504088896341f + 12582912.0f;   /* + 1.5·2^23 rounds to an integer */
    vf n = t - 12582912.0f;
    vf r = x - n * 0.693359375f + n * 2.12194440e-4f;
    vf p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    vu e = ((vu)t - 0x4B400000u + 127u) << 23;    /* t's low mantissa bits hold n */
    return p * (vf)e;
}

float ct_nn_exp_vec(float x)
{
    vf v = (vf){0} + x;
    return expv(v)[0];
}


/* SiLU or sigmoid forward (silu = 1 or 0) of values [i0, i1). */
SIMD_CLONES static void sig_fwd(const float *xd, float *yd, size_t i0, size_t i1, int silu)
{
    for (size_t i = i0; i < i1; i += VL) {
        size_t k = i1 - i < VL ? i1 - i : VL;
        vf x = ct_loadv(xd + i, k), sg = 1.0f / (1.0f + expv(-x));
        ct_storev(yd + i, silu ? x * sg : sg, k);
    }
}

/* Their gradients: gy·σ(1 + x(1 - σ)) and gy·σ(1 - σ). */
SIMD_CLONES static void sig_bwd(const float *xd, const float *g, float *o, size_t i0, size_t i1,
                                int silu)
{
    for (size_t i = i0; i < i1; i += VL) {
        size_t k = i1 - i < VL ? i1 - i : VL;
        vf x = ct_loadv(xd + i, k), sg = 1.0f / (1.0f + expv(-x)), gy = ct_loadv(g + i, k);
        ct_storev(o + i, silu ? gy * sg * (1.0f + x * (1.0f - sg)) : gy * sg * (1.0f - sg), k);
    }
}

void ct_nn_silu(const float *x, float *y, size_t n)
{
    sig_fwd(x, y, 0, n, 1);
}

void ct_nn_silu_grad(const float *x, const float *gy, float *gx, size_t n)
{
    sig_bwd(x, gy, gx, 0, n, 1);
}

typedef struct {
    const ct_act *a;
    const float *x, *g;     /* input, and the output gradient in backward */
    float *out;
} act_job;

static void act_fwd_range(void *ctx, size_t i0, size_t i1)
{
    const act_job *j = ctx;
    const float *restrict xd = j->x;
    float *restrict yd = j->out, s = j->a->slope;
    switch (j->a->kind) {
    case CT_ACT_RELU: for (size_t i = i0; i < i1; i++) yd[i] = xd[i] > 0 ? xd[i] : 0.0f; break;
    case CT_ACT_LEAKY_RELU: for (size_t i = i0; i < i1; i++) yd[i] = xd[i] > 0 ? xd[i] : s * xd[i]; break;
    case CT_ACT_SILU: sig_fwd(xd, yd, i0, i1, 1); break;
    case CT_ACT_SIGMOID: sig_fwd(xd, yd, i0, i1, 0); break;
    case CT_ACT_TANH: for (size_t i = i0; i < i1; i++) yd[i] = tanhf(xd[i]); break;
    }
}

/* gx = gy · f'(x). */
static void act_bwd_range(void *ctx, size_t i0, size_t i1)
{
    const act_job *j = ctx;
    const float *restrict xd = j->x, *restrict g = j->g;
    float *restrict o = j->out, s = j->a->slope;
    switch (j->a->kind) {
    case CT_ACT_RELU: for (size_t i = i0; i < i1; i++) o[i] = xd[i] > 0 ? g[i] : 0.0f; break;
    case CT_ACT_LEAKY_RELU: for (size_t i = i0; i < i1; i++) o[i] = xd[i] > 0 ? g[i] : s * g[i]; break;
    case CT_ACT_SILU: sig_bwd(xd, g, o, i0, i1, 1); break;
    case CT_ACT_SIGMOID: sig_bwd(xd, g, o, i0, i1, 0); break;
    case CT_ACT_TANH:
        for (size_t i = i0; i < i1; i++) {
            float t = tanhf(xd[i]);
            o[i] = g[i] * (1.0f - t * t);
        }
        break;
    }
}

/* Element-wise work is split into contiguous shares of at least this many
   elements (below that, waking a thread costs more than it saves). */
enum { ACT_SHARE = 1 << 15 };

static int act_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    int rc = ct_nn_forward_begin(l, x, NULL, 0, y, err);
    if (rc != CT_OK) return rc;
    act_job j = {(const ct_act *)l, x->data, NULL, (*y)->data};
    ct_parallel_for(x->numel, ct_num_threads(x->numel, ACT_SHARE), act_fwd_range, &j);
    return CT_OK;
}

static int act_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    const ct_tensor *x = l->x;
    int rc = ct_nn_backward_begin(l, gy, NULL, 0, gx, err);
    if (rc != CT_OK) return rc;
    act_job j = {(const ct_act *)l, x->data, gy->data, (*gx)->data};
    ct_parallel_for(x->numel, ct_num_threads(x->numel, ACT_SHARE), act_bwd_range, &j);
    return CT_OK;
}

static const ct_layer_ops act_ops[] = {
    {"relu", act_forward, act_backward, NULL},
    {"leaky_relu", act_forward, act_backward, NULL},
    {"silu", act_forward, act_backward, NULL},
    {"sigmoid", act_forward, act_backward, NULL},
    {"tanh", act_forward, act_backward, NULL},
};

ct_layer *ct_act_new(ct_act_kind kind, float slope, ct_error *err)
{
    if ((unsigned)kind >= CT_COUNTOF(act_ops)) {
        ct_fail(err, CT_EINVAL, "unknown activation %d", (int)kind);
        return NULL;
    }
    ct_act *a = (ct_act *)ct_nn_layer_alloc(sizeof *a, &act_ops[kind], err);
    if (!a) return NULL;
    a->kind = kind;
    a->slope = slope;
    return &a->base;
}

/* ---- Sinusoidal time embedding -------------------------------------------- */

int ct_timeembed_shape(const ct_layer *l, const ct_tensor *t, int *ndim, int64_t *shape,
                       ct_error *err)
{
    if (t->ndim != 1) return ct_nn_shape_error(l, t, "1-D tensor of N timesteps", err);
    *ndim = 2;
    shape[0] = t->shape[0];
    shape[1] = ((const ct_timeembed *)l)->dim;
    return CT_OK;
}

static int te_forward(ct_layer *l, const ct_tensor *t, ct_tensor **y, ct_error *err)
{
    ct_timeembed *te = (ct_timeembed *)l;
    int rc = ct_nn_forward_begin(l, t, ct_timeembed_shape, 0, y, err);
    if (rc != CT_OK) return rc;
    int half = te->dim / 2;
    for (int64_t n = 0; n < t->shape[0]; n++) {
        float *row = (*y)->data + n * te->dim;
        for (int i = 0; i < half; i++) {
            double f = exp(-log((double)te->max_period) * i / half);
            double a = (double)t->data[n] * f;
            row[i] = (float)cos(a);
            row[half + i] = (float)sin(a);
        }
    }
    return CT_OK;
}

/* The timesteps are not differentiable: zeros. */
static int te_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    return ct_nn_backward_begin(l, gy, ct_timeembed_shape, 1, gx, err);
}

static const ct_layer_ops timeembed_ops = {"time_embedding", te_forward, te_backward, NULL};

ct_layer *ct_timeembed_new(int dim, float max_period, ct_error *err)
{
    if (dim < 2 || dim % 2 || !(max_period > 1)) {
        ct_fail(err, CT_EINVAL, "time_embedding: dim must be even and >= 2 and max_period > 1, "
                "got %d and %g", dim, (double)max_period);
        return NULL;
    }
    ct_timeembed *te = (ct_timeembed *)ct_nn_layer_alloc(sizeof *te, &timeembed_ops, err);
    if (!te) return NULL;
    te->dim = dim;
    te->max_period = max_period;
    return &te->base;
}
