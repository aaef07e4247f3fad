/*
 * ct_norm.c - BatchNorm, GroupNorm and LayerNorm (see ct_nn.h).
 *
 * The three differ only in which elements share statistics (a "group") and
 * in the shape of the affine parameters:
 *
 *   BatchNorm  one group per channel: N segments of S strided by C·S;
 *              weight/bias per channel
 *   GroupNorm  one group per sample and channel group: one segment of
 *              (C/G)·S; weight/bias per channel
 *   LayerNorm  one group per sample: one segment of all its elements;
 *              weight/bias per element
 *
 * Forward keeps the normalised input x̂ (in l->x: it is all backward needs)
 * and 1/σ per group.  Backward: with ĝ = gy·γ,
 * gx = (ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) / σ over each group, or ĝ / σ when
 * batchnorm used its running statistics.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_backend.h"
#include "ct_layers.h"
#include "ct_nn_impl.h"
#include "ct_parallel.h"

/* Where group i of x lies: nseg segments of len elements, stride apart,
   from base. */
typedef struct {
    size_t base, nseg, len, stride;
} group_span;

static size_t group_count(const ct_norm *nm, const ct_tensor *x)
{
    switch (nm->kind) {
    case NORM_BATCH: return (size_t)nm->c;
    case NORM_GROUP: return (size_t)x->shape[0] * (size_t)nm->groups;
    case NORM_LAYER: return (size_t)x->shape[0];
    }
    return 0;
}

static group_span group_of(const ct_norm *nm, const ct_tensor *x, size_t i)
{
    size_t N = (size_t)x->shape[0], per = N ? x->numel / N : 0;
    group_span s = {0, 1, per, 0};
    if (nm->kind == NORM_BATCH) {
        size_t S = per / (size_t)nm->c;
        s = (group_span){i * S, N, S, per};
    } else if (nm->kind == NORM_GROUP) {
        s.len = per / (size_t)nm->groups;
        s.base = i * s.len;
    } else {
        s.base = i * per;
    }
    return s;
}

/* GCC's vector extensions (-O2 leaves these loops scalar): element-wise
   loops take VL = 16 floats at once (one AVX-512 register, two AVX2 ones;
   the fused kernels below are built for each, ct_nn_impl.h), each lane
   doing the scalar operations of its element; the sums keep 8 interleaved
   partial sums in one vector of 8, so the values are those of the plain
   loops on every CPU. */
#pragma GCC diagnostic ignored "-Wpsabi"   /* vectors never cross a call: all inline */
enum { VL = 16 };
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef float v8f __attribute__((vector_size(8 * sizeof(float))));

static inline vf ldv(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void stv(float *p, vf v)
{
    memcpy(p, &v, sizeof v);
}

static inline v8f ld8(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Sum of p[0..n) in float with 8 interleaved partial sums (fast, and each
   partial sum covers only n/8 terms), returned as double. */
static inline double sum8(const float *p, size_t n)
{
    v8f a = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8) a += ld8(p + j);
    double s = 0;
    for (; j < n; j++) s += (double)p[j];
    for (int k = 0; k < 8; k++) s += (double)a[k];
    return s;
}

static inline double sumsq8(const float *p, size_t n, float m)
{
    v8f a = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        v8f d = ld8(p + j) - m;
        a += d * d;
    }
    double s = 0;
    for (; j < n; j++) s += (double)((p[j] - m) * (p[j] - m));
    for (int k = 0; k < 8; k++) s += (double)a[k];
    return s;
}

/* Σ p[i]·q[i] like sum8. */
static inline double dot8(const float *p, const float *q, size_t n)
{
    v8f a = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8) a += ld8(p + j) * ld8(q + j);
    double s = 0;
    for (; j < n; j++) s += (double)(p[j] * q[j]);
    for (int k = 0; k < 8; k++) s += (double)a[k];
    return s;
}

/* Mean and biased variance of a group, in double, two passes. */
static void group_moments(const float *x, group_span s, double *mean, double *var)
{
    double sum = 0, sq = 0;
    for (size_t k = 0; k < s.nseg; k++) sum += sum8(x + s.base + k * s.stride, s.len);
    double n = (double)(s.nseg * s.len), m = sum / n;
    for (size_t k = 0; k < s.nseg; k++) sq += sumsq8(x + s.base + k * s.stride, s.len, (float)m);
    *mean = m;
    *var = sq / n;
}

/* Affine parameters are per channel (batch, group) or per element (layer):
   return how many consecutive elements of a sample share one parameter. */
static size_t affine_run(const ct_norm *nm, size_t per)
{
    return nm->kind == NORM_LAYER ? 1 : per / (size_t)nm->c;
}

/* x suits nm (and the shift of groupnorm_silu, when set, x). */
static int check_input(const ct_norm *nm, const ct_tensor *x, ct_error *err)
{
    const ct_layer *l = &nm->base;
    if (nm->kind == NORM_LAYER) {
        const ct_tensor *wt = l->params[0].w;
        int ok = x->ndim == wt->ndim + 1;
        for (int i = 0; ok && i < wt->ndim; i++) ok = x->shape[i + 1] == wt->shape[i];
        if (ok && x->shape[0] > 0) return CT_OK;
        char want[112], s[96];
        snprintf(want, sizeof want, "%d-D tensor N×%s", wt->ndim + 1, ct_tensor_shape_str(wt, s, sizeof s));
        return ct_nn_shape_error(l, x, want, err);
    }
    if (x->ndim < 2 || x->shape[1] != nm->c || x->shape[0] < 1) {
        char want[64];
        snprintf(want, sizeof want, "tensor N×%d×... (2-D to 5-D)", nm->c);
        return ct_nn_shape_error(l, x, want, err);
    }
    if (nm->kind == NORM_BATCH && l->training && x->numel / (size_t)nm->c < 2)
        return ct_fail(err, CT_EINVAL, "batchnorm: training needs more than one value per "
                       "channel, got %zu", x->numel / (size_t)nm->c);
    const ct_tensor *a = nm->add;
    if (a && !(a->numel == (size_t)x->shape[0] * (size_t)nm->c && a->ndim >= 1 &&
               a->shape[0] == x->shape[0])) {
        char s[96], sx[96];
        return ct_fail(err, CT_EINVAL, "groupnorm_silu: the shift must be N×C (%lld×%d) for input "
                       "%s, got %s", (long long)x->shape[0], nm->c,
                       ct_tensor_shape_str(x, sx, sizeof sx), ct_tensor_shape_str(a, s, sizeof s));
    }
    return CT_OK;
}

int ct_norm_forward_begin(ct_norm *nm, const ct_tensor *x, ct_tensor **xhat, ct_tensor **y,
                          ct_error *err)
{
    *xhat = *y = NULL;
    if (check_input(nm, x, err) != CT_OK) return CT_EINVAL;
    *xhat = ct_tensor_empty_on(x->device, x->ndim, x->shape, err);
    *y = *xhat ? ct_tensor_empty_on(x->device, x->ndim, x->shape, err) : NULL;
    if (*y) return CT_OK;
    ct_tensor_free(*xhat);
    *xhat = NULL;
    return CT_ENOMEM;
}

/* Batch statistics (and the running-average update), or the running ones. */
static void norm_stats(ct_norm *nm, const ct_tensor *x, size_t g, double *mean, double *var)
{
    ct_layer *l = &nm->base;
    if (nm->kind == NORM_BATCH && !l->training) {
        *mean = (double)l->buffers[0].w->data[g];
        *var = (double)l->buffers[1].w->data[g];
        return;
    }
    group_span s = group_of(nm, x, g);
    group_moments(x->data, s, mean, var);
    if (nm->kind == NORM_BATCH) {
        double n = (double)(s.nseg * s.len), mom = (double)nm->momentum;
        float *rm = l->buffers[0].w->data, *rv = l->buffers[1].w->data;
        rm[g] = (float)((1 - mom) * (double)rm[g] + mom * *mean);
        rv[g] = (float)((1 - mom) * (double)rv[g] + mom * *var * n / (n - 1));
    }
}

/* Normalisation work is split into shares of at least this many elements. */
enum { NORM_SHARE = 1 << 15 };

/* t threads, or n if fewer: one item per thread at least. */
static int at_most(int t, size_t n)
{
    return (size_t)t < n ? t : (int)n;
}

typedef struct {
    ct_norm *nm;
    const ct_tensor *x;     /* the input (forward) or x̂ (backward) */
    const ct_tensor *xhat;  /* x̂ (forward writes its data) */
    ct_tensor *out;         /* y or gx */
    const ct_tensor *gy;
} norm_job;

/* x̂ = (x - μ)/σ for groups [g0, g1). */
static void normalize_groups(void *ctx, size_t g0, size_t g1)
{
    const norm_job *j = ctx;
    ct_norm *nm = j->nm;
    for (size_t g = g0; g < g1; g++) {
        double mean, var;
        norm_stats(nm, j->x, g, &mean, &var);
        float m = (float)mean, inv = (float)(1.0 / sqrt(var + (double)nm->eps));
        nm->invstd[g] = inv;
        group_span s = group_of(nm, j->x, g);
        for (size_t k = 0; k < s.nseg; k++) {
            size_t off = s.base + k * s.stride;
            for (size_t i = 0; i < s.len; i++) j->xhat->data[off + i] = (j->x->data[off + i] - m) * inv;
        }
    }
}

/* y = γ x̂ + β for samples [n0, n1). */
static void affine_samples(void *ctx, size_t n0, size_t n1)
{
    const norm_job *j = ctx;
    const ct_layer *l = &j->nm->base;
    size_t per = j->x->numel / (size_t)j->x->shape[0], S = affine_run(j->nm, per);
    const float *gam = l->params[0].w->data, *bet = l->params[1].w->data;
    for (size_t n = n0; n < n1; n++)
        for (size_t a = 0; a < per / S; a++) {
            const float *xh = j->xhat->data + n * per + a * S;
            float *yo = j->out->data + n * per + a * S, ga = gam[a], be = bet[a];
            for (size_t s = 0; s < S; s++) yo[s] = xh[s] * ga + be;
        }
}

/* For affine parameters [a0, a1): gγ += Σ gy·x̂, gβ += Σ gy, and
   ĝ = gy·γ into gx. */
static void affine_grads(void *ctx, size_t a0, size_t a1)
{
    const norm_job *j = ctx;
    const ct_layer *l = &j->nm->base;
    const ct_tensor *xhat = j->xhat;
    size_t N = (size_t)xhat->shape[0], per = xhat->numel / N, S = affine_run(j->nm, per);
    const float *gam = l->params[0].w->data;
    float *gg = l->params[0].g->data, *gb = l->params[1].g->data, *gh = j->out->data;
    for (size_t a = a0; a < a1; a++)
        for (size_t n = 0; n < N; n++) {
            size_t off = n * per + a * S;
            const float *g = j->gy->data + off, *xh = xhat->data + off;
            float ga = gam[a];
            for (size_t s = 0; s < S; s++) gh[off + s] = g[s] * ga;
            if (l->param_grads) {
                gg[a] += (float)dot8(g, xh, S);
                gb[a] += (float)sum8(g, S);
            }
        }
}

/* gx = (ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) / σ for groups [g0, g1). */
static void group_grads(void *ctx, size_t g0, size_t g1)
{
    const norm_job *j = ctx;
    const ct_norm *nm = j->nm;
    const ct_tensor *xhat = j->xhat;
    float *gh = j->out->data;
    for (size_t g = g0; g < g1; g++) {
        group_span s = group_of(nm, xhat, g);
        float inv = nm->invstd[g];
        double m1 = 0, m2 = 0;
        if (nm->batch_stats) {
            for (size_t k = 0; k < s.nseg; k++) {
                size_t off = s.base + k * s.stride;
                m1 += sum8(gh + off, s.len);
                m2 += dot8(gh + off, xhat->data + off, s.len);
            }
            m1 /= (double)(s.nseg * s.len);
            m2 /= (double)(s.nseg * s.len);
        }
        float f1 = (float)m1, f2 = (float)m2;
        for (size_t k = 0; k < s.nseg; k++) {
            size_t off = s.base + k * s.stride;
            for (size_t i = 0; i < s.len; i++)
                gh[off + i] = (gh[off + i] - f1 - xhat->data[off + i] * f2) * inv;
        }
    }
}

/* The buffers of a forward pass over x, after its checks: x̂, the output
   and the per-group 1/σ (kept for backward, grown as needed). */
static int norm_buffers(ct_norm *nm, const ct_tensor *x, ct_tensor **xhat, ct_tensor **y,
                        ct_error *err)
{
    int rc = ct_norm_forward_begin(nm, x, xhat, y, err);
    if (rc != CT_OK) return rc;
    size_t G = group_count(nm, x);
    if (G > nm->ninvstd) {
        float *p = realloc(nm->invstd, G * sizeof *p);
        if (!p) {
            ct_tensor_free(*xhat);
            ct_tensor_free(*y);
            *xhat = *y = NULL;
            return ct_fail(err, CT_ENOMEM, "out of memory");
        }
        nm->invstd = p;
        nm->ninvstd = G;
    }
    return CT_OK;
}

/* x -> x̂ = (x - μ)/σ per group, then y = γ x̂ + β. */
static int norm_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    ct_norm *nm = (ct_norm *)l;
    ct_tensor *xhat;
    int rc = norm_buffers(nm, x, &xhat, y, err);
    if (rc != CT_OK) return rc;
    size_t G = group_count(nm, x);
    nm->batch_stats = !(nm->kind == NORM_BATCH && !l->training);
    norm_job j = {nm, x, xhat, *y, NULL};
    int t = ct_num_threads(x->numel, NORM_SHARE);
    ct_parallel_for(G, at_most(t, G), normalize_groups, &j);
    ct_parallel_for((size_t)x->shape[0], at_most(t, (size_t)x->shape[0]), affine_samples, &j);
    ct_tensor_free(l->x);
    l->x = xhat;
    return CT_OK;
}

static int norm_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    ct_norm *nm = (ct_norm *)l;
    const ct_tensor *xhat = l->x;
    int rc = ct_nn_backward_begin(l, gy, NULL, 0, gx, err);
    if (rc != CT_OK) return rc;
    size_t N = (size_t)xhat->shape[0], per = xhat->numel / N, S = affine_run(nm, per), G = group_count(nm, xhat);
    norm_job j = {nm, xhat, xhat, *gx, gy};
    int t = ct_num_threads(xhat->numel, NORM_SHARE);
    /* Per channel (not per sample) so each parameter's gradient sums over
       the samples in the same order whatever the thread count. */
    ct_parallel_for(per / S, S >= 16 ? at_most(t, per / S) : 1, affine_grads, &j);
    ct_parallel_for(G, at_most(t, G), group_grads, &j);
    return CT_OK;
}

/* ---- GroupNorm + SiLU (+ a per-channel shift), fused ------------------------
 * Each group (one sample's C/G channels, contiguous) is done start to end
 * while it sits in cache: x + a, its moments, x̂, γ x̂ + β and the SiLU
 * forward; backward recomputes γ x̂ + β, then the SiLU gradient, the affine
 * gradients and the norm's gradient.  Every value is computed with the same
 * float operations in the same order as the composition x + a (in float),
 * groupnorm, silu does, so results equal that composition bit for bit. */

typedef struct {
    ct_norm *nm;
    const ct_tensor *x, *gy;
    const float *add;       /* N×C or NULL */
    float *xhat, *out;      /* x̂ (forward writes it), y or gx */
    double *pg, *pb;        /* N×C partial sums Σ gŷ·x̂ and Σ gŷ of backward */
    float *ga;              /* N×C gradient of the shift, or NULL */
    const float *res;       /* added to gx at the end (x's shape), or NULL */
} gns_job;

CT_SIMD_CLONES static void gns_forward_groups(void *ctx, size_t g0, size_t g1)
{
    const gns_job *j = ctx;
    const ct_norm *nm = j->nm;
    const ct_layer *l = &nm->base;
    size_t C = (size_t)nm->c, G = (size_t)nm->groups, len = j->x->numel / (size_t)j->x->shape[0] / G;
    size_t cpg = C / G, S = len / cpg;
    const float *gam = l->params[0].w->data, *bet = l->params[1].w->data;
    for (size_t g = g0; g < g1; g++) {
        size_t n = g / G, c0 = (g % G) * cpg, off = g * len;
        const float *h = j->x->data + off;
        float *y = j->out + off, *xh = j->xhat + off;
        if (j->add) {   /* x + a goes through y, which is free until the end */
            for (size_t k = 0; k < cpg; k++) {
                float a = j->add[n * C + c0 + k];
                size_t s = 0;
                for (; s + VL <= S; s += VL) stv(y + k * S + s, ldv(h + k * S + s) + a);
                for (; s < S; s++) y[k * S + s] = h[k * S + s] + a;
            }
            h = y;
        }
        double mean = sum8(h, len) / (double)len;
        double var = sumsq8(h, len, (float)mean) / (double)len;
        float m = (float)mean, inv = (float)(1.0 / sqrt(var + (double)nm->eps));
        nm->invstd[g] = inv;
        size_t i = 0;
        for (; i + VL <= len; i += VL) stv(xh + i, (ldv(h + i) - m) * inv);
        for (; i < len; i++) xh[i] = (h[i] - m) * inv;
        for (size_t k = 0; k < cpg; k++) {
            float ga = gam[c0 + k], be = bet[c0 + k];
            size_t s = 0;
            for (; s + VL <= S; s += VL) stv(y + k * S + s, ldv(xh + k * S + s) * ga + be);
            for (; s < S; s++) y[k * S + s] = xh[k * S + s] * ga + be;
        }
        ct_nn_silu(y, y, len);
    }
}

CT_SIMD_CLONES static void gns_backward_groups(void *ctx, size_t g0, size_t g1)
{
    const gns_job *j = ctx;
    const ct_norm *nm = j->nm;
    const ct_layer *l = &nm->base;
    size_t C = (size_t)nm->c, G = (size_t)nm->groups, len = j->gy->numel / (size_t)j->gy->shape[0] / G;
    size_t cpg = C / G, S = len / cpg;
    const float *gam = l->params[0].w->data, *bet = l->params[1].w->data;
    for (size_t g = g0; g < g1; g++) {
        size_t n = g / G, c0 = (g % G) * cpg, off = g * len;
        const float *xh = j->xhat + off, *gy = j->gy->data + off;
        float *gh = j->out + off;
        for (size_t k = 0; k < cpg; k++) {
            float ga = gam[c0 + k], be = bet[c0 + k];
            float *o = gh + k * S;
            const float *x = xh + k * S;
            size_t s = 0;
            for (; s + VL <= S; s += VL) stv(o + s, ldv(x + s) * ga + be);
            for (; s < S; s++) o[s] = x[s] * ga + be;
            ct_nn_silu_grad(o, gy + k * S, o, S);      /* o: the norm's output gradient */
            if (l->param_grads) {
                j->pg[n * C + c0 + k] = dot8(o, x, S);
                j->pb[n * C + c0 + k] = sum8(o, S);
            }
            for (s = 0; s + VL <= S; s += VL) stv(o + s, ldv(o + s) * ga);
            for (; s < S; s++) o[s] = o[s] * ga;
        }
        float f1 = (float)(sum8(gh, len) / (double)len), f2 = (float)(dot8(gh, xh, len) / (double)len);
        float inv = nm->invstd[g];
        size_t i = 0;
        for (; i + VL <= len; i += VL) stv(gh + i, (ldv(gh + i) - f1 - ldv(xh + i) * f2) * inv);
        for (; i < len; i++) gh[i] = (gh[i] - f1 - xh[i] * f2) * inv;
        /* The shift's gradient in float, element by element, as tensor
           sum_to adds; 8 channels' sums at a time, so 8 chains overlap. */
        for (size_t k0 = 0; j->ga && k0 < cpg; k0 += 8) {
            size_t kn = cpg - k0 < 8 ? cpg - k0 : 8;
            float acc[8] = {0};
            for (size_t s = 0; s < S; s++)
                for (size_t k = 0; k < kn; k++) acc[k] += gh[(k0 + k) * S + s];
            for (size_t k = 0; k < kn; k++) j->ga[n * C + c0 + k0 + k] = acc[k];
        }
        if (j->res) {   /* after the shift's gradient, which is the norm's alone */
            const float *r = j->res + off;
            for (i = 0; i + VL <= len; i += VL) stv(gh + i, ldv(gh + i) + ldv(r + i));
            for (; i < len; i++) gh[i] = gh[i] + r[i];
        }
    }
}

static int gns_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    ct_norm *nm = (ct_norm *)l;
    const ct_tensor *a = nm->add;
    ct_tensor *xhat;
    int rc = norm_buffers(nm, x, &xhat, y, err);
    if (rc != CT_OK) return rc;
    size_t G = group_count(nm, x);
    nm->batch_stats = 1;
    nm->had_add = a != NULL;
    gns_job j = {nm, x, NULL, a ? a->data : NULL, xhat->data, (*y)->data, NULL, NULL, NULL, NULL};
    ct_parallel_for(G, at_most(ct_num_threads(x->numel, NORM_SHARE), G), gns_forward_groups, &j);
    ct_tensor_free(l->x);
    l->x = xhat;
    return CT_OK;
}

static int gns_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    ct_norm *nm = (ct_norm *)l;
    const ct_tensor *xhat = l->x;
    if (ct_nn_check_grad(l, gy, xhat->ndim, xhat->shape, err) != CT_OK) return CT_EINVAL;
    size_t N = (size_t)xhat->shape[0], C = (size_t)nm->c, G = group_count(nm, xhat);
    int64_t gshape[2] = {(int64_t)N, (int64_t)C};
    ct_tensor *ga = NULL;
    double *part = NULL;
    if (l->param_grads && !(part = malloc(2 * N * C * sizeof *part)))
        return ct_fail(err, CT_ENOMEM, "out of memory");
    if (!(*gx = ct_tensor_empty(xhat->ndim, xhat->shape, err)) ||
        (nm->gadd && nm->had_add && !(ga = ct_tensor_empty(2, gshape, err)))) {
        free(part);
        ct_tensor_free(*gx);
        *gx = NULL;
        return CT_ENOMEM;
    }
    gns_job j = {nm, NULL, gy, NULL, xhat->data, (*gx)->data, part, part ? part + N * C : NULL,
                 ga ? ga->data : NULL, nm->gres ? nm->gres->data : NULL};
    ct_parallel_for(G, at_most(ct_num_threads(xhat->numel, NORM_SHARE), G), gns_backward_groups, &j);
    if (part) {   /* per channel, over the samples in order, as groupnorm does */
        float *gg = l->params[0].g->data, *gb = l->params[1].g->data;
        for (size_t c = 0; c < C; c++)
            for (size_t n = 0; n < N; n++) {
                gg[c] += (float)j.pg[n * C + c];
                gb[c] += (float)j.pb[n * C + c];
            }
        free(part);
    }
    if (nm->gadd) *nm->gadd = ga;
    return CT_OK;
}

static void norm_release(ct_layer *l);
static const ct_layer_ops groupnorm_silu_ops = {"groupnorm_silu", gns_forward, gns_backward,
                                                norm_release};

static ct_norm *as_gns(ct_layer *l, ct_error *err)
{
    if (l->ops == &groupnorm_silu_ops) return (ct_norm *)l;
    ct_fail(err, CT_EINVAL, "%s: a shift (second input) needs a groupnorm_silu layer", l->ops->kind);
    return NULL;
}

int ct_groupnorm_silu_forward(ct_layer *l, const ct_tensor *x, const ct_tensor *a, ct_tensor **y,
                              ct_error *err)
{
    *y = NULL;
    ct_norm *nm = as_gns(l, err);
    if (!nm) return CT_EINVAL;
    if (a && a->device != x->device)   /* either side would read the other's pointer */
        return ct_fail(err, CT_EINVAL, "groupnorm_silu: the shift is on %s but the input on %s",
                       ct_device_name(a->device), ct_device_name(x->device));
    nm->add = a;
    int rc = ct_layer_forward(l, x, y, err);
    nm->add = NULL;
    return rc;
}

int ct_groupnorm_silu_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_tensor **ga,
                               ct_error *err)
{
    return ct_groupnorm_silu_backward_add(l, gy, NULL, gx, ga, err);
}

int ct_groupnorm_silu_backward_add(ct_layer *l, const ct_tensor *gy, const ct_tensor *r,
                                   ct_tensor **gx, ct_tensor **ga, ct_error *err)
{
    *gx = *ga = NULL;
    ct_norm *nm = as_gns(l, err);
    if (!nm) return CT_EINVAL;
    if (r) {
        const ct_tensor *xh = l->x;
        int same = xh && r->ndim == xh->ndim;
        for (int d = 0; same && d < r->ndim; d++) same = r->shape[d] == xh->shape[d];
        char sr[96], sx[96];
        if (!xh)
            return ct_fail(err, CT_EINVAL, "groupnorm_silu: backward before a forward");
        if (!same)
            return ct_fail(err, CT_EINVAL, "groupnorm_silu: the gradient to add must have the "
                           "input's shape %s, got %s", ct_tensor_shape_str(xh, sx, sizeof sx),
                           ct_tensor_shape_str(r, sr, sizeof sr));
        if (r->device != gy->device)
            return ct_fail(err, CT_EINVAL, "groupnorm_silu: the gradient to add is on %s but the "
                           "output gradient on %s", ct_device_name(r->device),
                           ct_device_name(gy->device));
    }
    nm->gadd = ga;
    nm->gres = r;
    int rc = ct_layer_backward(l, gy, gx, err);
    nm->gadd = NULL;
    nm->gres = NULL;
    if (rc != CT_OK) {
        ct_tensor_free(*ga);
        *ga = NULL;
    }
    return rc;
}

static void norm_release(ct_layer *l)
{
    free(((ct_norm *)l)->invstd);
}

static const ct_layer_ops batchnorm_ops = {"batchnorm", norm_forward, norm_backward, norm_release};
static const ct_layer_ops groupnorm_ops = {"groupnorm", norm_forward, norm_backward, norm_release};
static const ct_layer_ops layernorm_ops = {"layernorm", norm_forward, norm_backward, norm_release};

/* A norm layer with weight 1 and bias 0 of the given shape. */
static ct_norm *norm_new(const ct_layer_ops *ops, norm_kind kind, int ndim, const int64_t *shape,
                         float eps, ct_error *err)
{
    if (!(eps > 0)) {
        ct_fail(err, CT_EINVAL, "%s: eps must be positive, got %g", ops->kind, (double)eps);
        return NULL;
    }
    ct_norm *nm = (ct_norm *)ct_nn_layer_alloc(sizeof *nm, ops, err);
    if (!nm) return NULL;
    nm->kind = kind;
    nm->eps = eps;
    float *w = ct_nn_add_param(&nm->base, "weight", ndim, shape, err);
    if (!w || !ct_nn_add_param(&nm->base, "bias", ndim, shape, err)) {
        ct_layer_free(&nm->base);
        return NULL;
    }
    for (size_t i = 0; i < nm->base.params[0].w->numel; i++) w[i] = 1.0f;
    return nm;
}

ct_layer *ct_batchnorm_new(int c, float eps, float momentum, ct_error *err)
{
    int64_t shape[1] = {c};
    if (c < 1 || !(momentum >= 0 && momentum <= 1)) {
        ct_fail(err, CT_EINVAL, "batchnorm: need channels >= 1 and momentum in [0, 1], got %d, %g",
                c, (double)momentum);
        return NULL;
    }
    ct_norm *nm = norm_new(&batchnorm_ops, NORM_BATCH, 1, shape, eps, err);
    if (!nm) return NULL;
    nm->c = c;
    nm->momentum = momentum;
    float *rv;
    if (!ct_nn_add_buffer(&nm->base, "running_mean", 1, shape, err) ||
        !(rv = ct_nn_add_buffer(&nm->base, "running_var", 1, shape, err))) {
        ct_layer_free(&nm->base);
        return NULL;
    }
    for (int i = 0; i < c; i++) rv[i] = 1.0f;
    return &nm->base;
}

/* A groupnorm or groupnorm_silu layer (ops). */
static ct_layer *group_norm_new(const ct_layer_ops *ops, int groups, int c, float eps,
                                ct_error *err)
{
    if (groups < 1 || c < 1 || c % groups) {
        ct_fail(err, CT_EINVAL, "%s: %d channels do not split into %d groups", ops->kind, c, groups);
        return NULL;
    }
    int64_t shape[1] = {c};
    ct_norm *nm = norm_new(ops, NORM_GROUP, 1, shape, eps, err);
    if (!nm) return NULL;
    nm->c = c;
    nm->groups = groups;
    return &nm->base;
}

ct_layer *ct_groupnorm_new(int groups, int c, float eps, ct_error *err)
{
    return group_norm_new(&groupnorm_ops, groups, c, eps, err);
}

ct_layer *ct_layernorm_new(int ndim, const int64_t *shape, float eps, ct_error *err)
{
    if (ndim < 1 || ndim > CT_MAXDIM - 1) {
        ct_fail(err, CT_EINVAL, "layernorm: normalised shape must have 1 to 4 dimensions, got %d", ndim);
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1) {
            ct_fail(err, CT_EINVAL, "layernorm: size %lld in dimension %d", (long long)shape[i], i + 1);
            return NULL;
        }
    ct_norm *nm = norm_new(&layernorm_ops, NORM_LAYER, ndim, shape, eps, err);
    return nm ? &nm->base : NULL;
}

ct_layer *ct_groupnorm_silu_new(int groups, int c, float eps, ct_error *err)
{
    return group_norm_new(&groupnorm_silu_ops, groups, c, eps, err);
}
