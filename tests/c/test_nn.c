/*
 * test_nn.c - every layer's backward against central finite differences, and
 * the convolutions' fast forward against their naive twin.
 *
 * Gradient checks.  The layers compute in float32, so the reference is a
 * central difference of the float forward with the loss f = Σ y·R summed in
 * double (R a fixed random tensor).  With inputs of order 1 and h = 1e-2 the
 * truncation error is O(h²) ~ 1e-4 and the rounding error ~ 1e-7·|f|/h ~
 * 1e-5·|f|, so a relative error (largest difference over the largest
 * gradient) under 1e-3 separates a correct backward (seen 1e-7..1e-4) from
 * a wrong one (order 1: a missing term or a transposed index).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_nn.h"
#include "ct_nn_impl.h"
#include "ct_parallel.h"
#include "ct_tensor_ops.h"
#include "tap.h"

static ct_rng rng;

static ct_tensor *randn(int ndim, const int64_t *shape)
{
    ct_error err;
    ct_tensor *t = ct_tensor_new(ndim, shape, &err);
    ct_tensor_randn(t, &rng, 0.0f, 1.0f);
    return t;
}

/* The shift groupnorm_silu's forward gets in loss_of (NULL: none). */
static const ct_tensor *fd_shift;

/* f = Σ y·R in double, for the current x and parameters. */
static double loss_of(ct_layer *l, const ct_tensor *x, const ct_tensor *R)
{
    ct_error err;
    ct_tensor *y;
    int rc = fd_shift ? ct_groupnorm_silu_forward(l, x, fd_shift, &y, &err)
                      : ct_layer_forward(l, x, &y, &err);
    if (rc != CT_OK) return NAN;
    double f = ct_tensor_dot(y, R);
    ct_tensor_free(y);
    return f;
}

/* Compare analytic and numerical derivatives of f over up to 48 elements of
   v (chosen at random when v is larger); return the relative error. */
static double compare(ct_layer *l, ct_tensor *x, const ct_tensor *R, float *v, size_t n,
                      const float *analytic, double h)
{
    double maxdiff = 0, maxgrad = 1e-6;
    size_t count = n < 48 ? n : 48;
    for (size_t k = 0; k < count; k++) {
        size_t i = n <= 48 ? k : (size_t)ct_rng_below(&rng, n);
        float save = v[i];
        v[i] = save + (float)h;
        double fp = loss_of(l, x, R);
        v[i] = save - (float)h;
        double fm = loss_of(l, x, R);
        v[i] = save;
        double num = (fp - fm) / (2 * h);
        double d = fabs(num - (double)analytic[i]);
        if (d > maxdiff) maxdiff = d;
        if (fabs(num) > maxgrad) maxgrad = fabs(num);
    }
    return maxdiff / maxgrad;
}

/* Check the input gradient and every parameter's gradient of l at x. */
static void gradcheck(const char *name, ct_layer *l, ct_tensor *x)
{
    ct_error err;
    ct_tensor *y, *gx;
    int rc = ct_layer_forward(l, x, &y, &err);
    if (!ok(rc == CT_OK, "%s: forward", name)) {
        printf("#   %s\n", err.msg);
        return;
    }
    ct_tensor *R = randn(y->ndim, y->shape);
    for (int p = 0; p < l->nparams; p++) ct_tensor_fill(l->params[p].g, 0.0f);
    rc = ct_layer_backward(l, R, &gx, &err);
    ok(rc == CT_OK && ct_tensor_same_shape(gx, x), "%s: backward gives an input-shaped gradient", name);
    double h = 1e-2, e = compare(l, x, R, x->data, x->numel, gx->data, h);
    ok(e < 1e-3, "%s: input gradient matches central differences (rel. error %.2g)", name, e);
    for (int p = 0; p < l->nparams; p++) {
        ct_param *pp = &l->params[p];
        e = compare(l, x, R, pp->w->data, pp->w->numel, pp->g->data, h);
        ok(e < 1e-3, "%s: %s gradient matches central differences (rel. error %.2g)", name,
           pp->name, e);
    }
    ct_tensor_free(y);
    ct_tensor_free(gx);
    ct_tensor_free(R);
}

static void check_layer(const char *name, ct_layer *l, int ndim, const int64_t *shape)
{
    ct_tensor *x = randn(ndim, shape);
    gradcheck(name, l, x);
    ct_tensor_free(x);
    ct_layer_free(l);
}

static ct_conv_cfg conv_cfg(int dims, int transposed, int cin, int cout, const int k[3],
                            const int s[3], const int p[3], const int op[3])
{
    ct_conv_cfg c = {dims, transposed, cin, cout, {k[0], k[1], k[2]}, {s[0], s[1], s[2]},
                     {p[0], p[1], p[2]}, {op[0], op[1], op[2]}, 1};
    return c;
}

static void test_gradients(void)
{
    ct_error err;
    int64_t s2[2] = {3, 5};
    check_layer("linear 5->3", ct_linear_new(5, 3, 1, &rng, &err), 2, s2);

    const int k3[3] = {1, 3, 3}, k1[3] = {1, 1, 1}, s2x[3] = {1, 2, 2}, s1[3] = {1, 1, 1};
    const int p1[3] = {0, 1, 1}, p0[3] = {0, 0, 0}, op1[3] = {0, 1, 1}, op0[3] = {0, 0, 0};
    ct_conv_cfg c;
    int64_t xs[4] = {2, 3, 7, 6};
    c = conv_cfg(2, 0, 3, 4, k3, s2x, p1, op0);
    check_layer("conv2d k3 s2 p1 on 7x6", ct_conv_new(&c, &rng, &err), 4, xs);
    int64_t xs1[4] = {3, 3, 5, 5};
    c = conv_cfg(2, 0, 3, 2, k1, s1, p0, op0);
    check_layer("conv2d 1x1 (no im2col)", ct_conv_new(&c, &rng, &err), 4, xs1);
    int64_t xbig[4] = {2, 3, 33, 34};   /* one sample per GEMM: no copy at all */
    check_layer("conv2d 1x1, one sample per chunk", ct_conv_new(&c, &rng, &err), 4, xbig);
    int64_t xs2[4] = {2, 2, 4, 5};
    const int k5[3] = {1, 5, 2}, p2[3] = {0, 2, 0};
    c = conv_cfg(2, 0, 2, 3, k5, s1, p2, op0);
    check_layer("conv2d k5x2 p2x0", ct_conv_new(&c, &rng, &err), 4, xs2);
    /* 3×3 stride 1: the Winograd path, on sizes that leave partial tiles. */
    int64_t xw[4] = {2, 3, 7, 5};
    c = conv_cfg(2, 0, 3, 4, k3, s1, p1, op0);
    check_layer("conv2d k3 s1 p1 (Winograd) on 7x5", ct_conv_new(&c, &rng, &err), 4, xw);
    c = conv_cfg(2, 0, 3, 2, k3, s1, p0, op0);
    check_layer("conv2d k3 s1 p0 (Winograd) on 7x5", ct_conv_new(&c, &rng, &err), 4, xw);
    const int p22[3] = {0, 2, 2};
    c = conv_cfg(2, 0, 3, 2, k3, s1, p22, op0);
    check_layer("conv2d k3 s1 p2 (Winograd) on 7x5", ct_conv_new(&c, &rng, &err), 4, xw);
    int64_t xt[4] = {2, 3, 4, 5};
    c = conv_cfg(2, 1, 3, 2, k3, s2x, p1, op1);
    check_layer("convtranspose2d k3 s2 p1 op1", ct_conv_new(&c, &rng, &err), 4, xt);
    c = conv_cfg(2, 1, 3, 2, k1, s1, p0, op0);
    check_layer("convtranspose2d 1x1", ct_conv_new(&c, &rng, &err), 4, xt);
    int64_t x3[5] = {2, 2, 3, 5, 4};
    const int k333[3] = {3, 3, 3}, s122[3] = {1, 2, 2}, p111[3] = {1, 1, 1};
    c = conv_cfg(3, 0, 2, 3, k333, s122, p111, op0);
    check_layer("conv3d k3 s(1,2,2) p1", ct_conv_new(&c, &rng, &err), 5, x3);
    const int k233[3] = {2, 3, 3}, s222[3] = {2, 2, 2}, p011[3] = {0, 1, 1}, op101[3] = {1, 0, 1};
    c = conv_cfg(3, 1, 2, 3, k233, s222, p011, op101);
    check_layer("convtranspose3d k(2,3,3) s2 p(0,1,1) op(1,0,1)", ct_conv_new(&c, &rng, &err), 5, x3);

    int64_t xn[4] = {3, 4, 3, 3};
    check_layer("batchnorm (training)", ct_batchnorm_new(4, 1e-5f, 0.1f, &err), 4, xn);
    ct_layer *bn = ct_batchnorm_new(4, 1e-5f, 0.1f, &err);
    for (int i = 0; i < 4; i++) {
        bn->buffers[0].w->data[i] = 0.1f * (float)i;
        bn->buffers[1].w->data[i] = 0.5f + 0.3f * (float)i;
    }
    bn->training = 0;
    check_layer("batchnorm (eval)", bn, 4, xn);
    int64_t x5[5] = {2, 4, 2, 3, 3};
    check_layer("batchnorm on 5-D", ct_batchnorm_new(4, 1e-5f, 0.1f, &err), 5, x5);
    int64_t xg[4] = {2, 6, 3, 5};
    check_layer("groupnorm 3 groups of 2", ct_groupnorm_new(3, 6, 1e-5f, &err), 4, xg);
    check_layer("groupnorm_silu 3 groups of 2", ct_groupnorm_silu_new(3, 6, 1e-5f, &err), 4, xg);
    int64_t ln[2] = {3, 5}, xl[3] = {2, 3, 5};
    ct_layer *lnl = ct_layernorm_new(2, ln, 1e-5f, &err);
    for (int i = 0; i < 15; i++) {   /* non-trivial affine so its gradient shows */
        lnl->params[0].w->data[i] = 1.0f + 0.1f * (float)i;
        lnl->params[1].w->data[i] = 0.05f * (float)i;
    }
    check_layer("layernorm over 3x5", lnl, 3, xl);

    int64_t xa[2] = {3, 7};
    check_layer("silu", ct_act_new(CT_ACT_SILU, 0, &err), 2, xa);
    check_layer("sigmoid", ct_act_new(CT_ACT_SIGMOID, 0, &err), 2, xa);
    check_layer("tanh", ct_act_new(CT_ACT_TANH, 0, &err), 2, xa);
    /* Keep the kinks of ReLU at least 2h away from every input. */
    const char *names[2] = {"relu", "leaky_relu 0.2"};
    for (int k = 0; k < 2; k++) {
        ct_tensor *x = randn(2, xa);
        for (size_t i = 0; i < x->numel; i++) x->data[i] += x->data[i] > 0 ? 0.05f : -0.05f;
        ct_layer *l = ct_act_new(k ? CT_ACT_LEAKY_RELU : CT_ACT_RELU, 0.2f, &err);
        gradcheck(names[k], l, x);
        ct_layer_free(l);
        ct_tensor_free(x);
    }
    int64_t xu[4] = {2, 3, 3, 5};
    check_layer("upsample x2", ct_upsample_new(2, &err), 4, xu);
    int64_t xu3[5] = {1, 2, 2, 3, 2};
    check_layer("upsample x3 on 5-D", ct_upsample_new(3, &err), 5, xu3);
    int64_t xat[4] = {2, 5, 3, 3};
    check_layer("attention c=5 over 3x3", ct_attention_new(5, &rng, &err), 4, xat);
}

/* The fast path (im2col/col2im, chunks, pointwise) against direct loops. */
static void naive_case(const char *name, const ct_conv_cfg *c, int ndim, const int64_t *shape)
{
    ct_error err;
    ct_layer *l = ct_conv_new(c, &rng, &err);
    ct_tensor *x = randn(ndim, shape), *y = NULL, *yn = NULL;
    int rc = ct_layer_forward(l, x, &y, &err);
    int rn = ct_conv_forward_naive(l, x, &yn, &err);
    double maxd = 0;
    if (rc == CT_OK && rn == CT_OK && ct_tensor_same_shape(y, yn))
        for (size_t i = 0; i < y->numel; i++) {
            double d = fabs((double)y->data[i] - (double)yn->data[i]);
            if (d > maxd) maxd = d;
        }
    else
        maxd = INFINITY;
    ok(maxd < 1e-4, "%s: forward equals the naive loops (max diff %.2g)", name, maxd);
    ct_tensor_free(x);
    ct_tensor_free(y);
    ct_tensor_free(yn);
    ct_layer_free(l);
}

static void test_naive(void)
{
    const int k3[3] = {1, 3, 3}, k1[3] = {1, 1, 1}, s1[3] = {1, 1, 1}, s2[3] = {1, 2, 2};
    const int p1[3] = {0, 1, 1}, p0[3] = {0, 0, 0}, op0[3] = {0, 0, 0}, op1[3] = {0, 1, 1};
    ct_conv_cfg c = conv_cfg(2, 0, 3, 5, k3, s1, p1, op0);
    int64_t big[4] = {2, 3, 33, 34};   /* 1122 positions: one sample per GEMM */
    naive_case("conv2d 3x3, one sample per chunk", &c, 4, big);
    int64_t small[4] = {5, 3, 6, 7};   /* 42 positions: five samples per GEMM */
    naive_case("conv2d 3x3, five samples per chunk", &c, 4, small);
    c = conv_cfg(2, 0, 3, 4, k3, s2, p1, op0);
    naive_case("conv2d stride 2", &c, 4, small);
    c = conv_cfg(2, 0, 3, 4, k1, s1, p0, op0);
    naive_case("conv2d 1x1 pointwise", &c, 4, small);
    naive_case("conv2d 1x1 pointwise, one sample per chunk", &c, 4, big);
    c = conv_cfg(2, 1, 3, 4, k3, s2, p1, op1);
    naive_case("convtranspose2d k3 s2 p1 op1", &c, 4, small);
    int64_t tbig[4] = {2, 3, 40, 30};
    naive_case("convtranspose2d, one sample per chunk", &c, 4, tbig);
    const int k4[3] = {4, 4, 4}, s222[3] = {2, 2, 2}, p111[3] = {1, 1, 1}, k3d[3] = {3, 3, 3};
    c = conv_cfg(3, 0, 2, 3, k3d, s1, p111, op0);
    int64_t v[5] = {2, 2, 5, 6, 4};
    naive_case("conv3d k3 p1", &c, 5, v);
    c = conv_cfg(3, 1, 2, 3, k4, s222, p111, op0);
    naive_case("convtranspose3d k4 s2 p1 (the GAN's upsampler)", &c, 5, v);
}

/* Forward, input gradient and weight gradient of one conv layer on x. */
typedef struct {
    ct_tensor *y, *gx, *gw;
} conv_run;

static conv_run run_conv(ct_layer *l, const ct_tensor *x, const ct_tensor *R)
{
    ct_error err;
    conv_run r = {NULL, NULL, NULL};
    ct_tensor_fill(l->params[0].g, 0.0f);
    if (ct_layer_forward(l, x, &r.y, &err) != CT_OK || ct_layer_backward(l, R, &r.gx, &err) != CT_OK)
        return r;
    r.gw = ct_tensor_clone(l->params[0].g, &err);
    return r;
}

static void free_run(conv_run *r)
{
    ct_tensor_free(r->y);
    ct_tensor_free(r->gx);
    ct_tensor_free(r->gw);
}

/* Largest |a - b| over the largest |b|; infinity when either is missing. */
static double rel_diff(const ct_tensor *a, const ct_tensor *b)
{
    if (!a || !b || a->numel != b->numel) return INFINITY;
    double d = 0, m = 1e-12;
    for (size_t i = 0; i < a->numel; i++) {
        d = fmax(d, fabs((double)a->data[i] - (double)b->data[i]));
        m = fmax(m, fabs((double)b->data[i]));
    }
    return d / m;
}

/* Winograd F(4×4, 3×3) against im2col + sgemm: forward and both gradients,
   on sizes that leave partial tiles and on channel counts of a U-Net. */
static void test_winograd(void)
{
    ct_error err;
    const int k3[3] = {1, 3, 3}, s1[3] = {1, 1, 1}, op0[3] = {0, 0, 0};
    struct { int n, cin, cout, h, w, pad; } cases[] = {
        {3, 5, 7, 9, 11, 1}, {2, 3, 4, 6, 5, 0}, {1, 2, 3, 3, 3, 2}, {4, 32, 24, 8, 8, 1},
        {2, 16, 8, 13, 1, 1}, {2, 4, 6, 5, 40, 1}, {3, 8, 8, 16, 16, 1}, {1, 3, 2, 17, 33, 0},
        {5, 16, 16, 4, 4, 1},   /* one tile a sample: lanes hold several samples */
    };
    for (size_t i = 0; i < CT_COUNTOF(cases); i++) {
        const int p[3] = {0, cases[i].pad, cases[i].pad};
        ct_conv_cfg c = conv_cfg(2, 0, cases[i].cin, cases[i].cout, k3, s1, p, op0);
        ct_layer *l = ct_conv_new(&c, &rng, &err);
        int64_t xs[4] = {cases[i].n, cases[i].cin, cases[i].h, cases[i].w};
        ct_tensor *x = randn(4, xs);
        int64_t ys[4];
        ct_conv_out_shape(l, x, ys, &err);
        ct_tensor *R = randn(4, ys);
        int was = ct_conv_winograd(0);
        conv_run d = run_conv(l, x, R);
        ct_conv_winograd(1);
        conv_run w = run_conv(l, x, R);
        ct_conv_winograd(was);
        double ey = rel_diff(w.y, d.y), ex = rel_diff(w.gx, d.gx), ew = rel_diff(w.gw, d.gw);
        ok(ey < 1e-5 && ex < 1e-5 && ew < 1e-5,
           "Winograd = im2col on %dx%dx%dx%d -> %d, pad %d (rel. diffs y %.2g, gx %.2g, gW %.2g)",
           cases[i].n, cases[i].cin, cases[i].h, cases[i].w, cases[i].cout, cases[i].pad, ey, ex, ew);
        free_run(&d);
        free_run(&w);
        ct_tensor_free(x);
        ct_tensor_free(R);
        ct_layer_free(l);
    }
}

static int same_bits(const ct_tensor *a, const ct_tensor *b)
{
    return a && b && a->numel == b->numel && !memcmp(a->data, b->data, a->numel * sizeof(float));
}

/* The Winograd input transform that forward keeps for backward: a backward
   from it equals one that computes it again (in eval mode none is kept)
   bit for bit, on random shapes; and after a forward that did not take the
   Winograd path, backward does not use what an earlier one kept. */
static void test_winograd_kept(void)
{
    ct_error err;
    const int k3[3] = {1, 3, 3}, s1[3] = {1, 1, 1}, p1[3] = {0, 1, 1}, op0[3] = {0, 0, 0};
    for (int i = 0; i < 4; i++) {
        int n = 1 + (int)ct_rng_below(&rng, 4), cin = 1 + (int)ct_rng_below(&rng, 20),
            cout = 1 + (int)ct_rng_below(&rng, 20), h = 1 + (int)ct_rng_below(&rng, 19),
            w = 1 + (int)ct_rng_below(&rng, 19);
        ct_conv_cfg c = conv_cfg(2, 0, cin, cout, k3, s1, p1, op0);
        ct_layer *l = ct_conv_new(&c, &rng, &err);
        int64_t xs[4] = {n, cin, h, w};
        ct_tensor *x = randn(4, xs), *x2 = randn(4, xs);
        int64_t ys[4];
        ct_conv_out_shape(l, x, ys, &err);
        ct_tensor *R = randn(4, ys);
        conv_run kept = run_conv(l, x, R);
        l->training = 0;
        conv_run again = run_conv(l, x, R);
        l->training = 1;
        ok(same_bits(kept.y, again.y) && same_bits(kept.gx, again.gx) && same_bits(kept.gw, again.gw),
           "Winograd backward from forward's kept transform = recomputed, on %dx%dx%dx%d -> %d",
           n, cin, h, w, cout);
        /* forward x (kept), forward x2 by im2col, backward: the gradients of x2 */
        ct_tensor *y1, *y2, *gx;
        ct_tensor_fill(l->params[0].g, 0.0f);
        ct_layer_forward(l, x, &y1, &err);
        int was = ct_conv_winograd(0);
        ct_layer_forward(l, x2, &y2, &err);
        ct_conv_winograd(1);
        ct_layer_backward(l, R, &gx, &err);
        ct_conv_winograd(was);
        ct_tensor *gw = ct_tensor_clone(l->params[0].g, &err);
        conv_run fresh = run_conv(l, x2, R);
        ok(same_bits(gx, fresh.gx) && same_bits(gw, fresh.gw),
           "Winograd backward after an im2col forward uses that forward's input (%dx%dx%dx%d)", n, cin, h, w);
        ct_tensor_free(y1);
        ct_tensor_free(y2);
        ct_tensor_free(gx);
        ct_tensor_free(gw);
        free_run(&kept);
        free_run(&again);
        free_run(&fresh);
        ct_tensor_free(x);
        ct_tensor_free(x2);
        ct_tensor_free(R);
        ct_layer_free(l);
    }
}

/* groupnorm_silu's naive twin: silu(γ (h - μ)/σ + β), h = x + a, in double
   with direct loops. */
static ct_tensor *gns_naive(const ct_layer *l, const ct_tensor *x, const ct_tensor *a, int G)
{
    ct_error err;
    ct_tensor *y = ct_tensor_new(x->ndim, x->shape, &err);
    size_t N = (size_t)x->shape[0], C = (size_t)x->shape[1], S = x->numel / N / C, cpg = C / (size_t)G;
    const float *gam = l->params[0].w->data, *bet = l->params[1].w->data;
    for (size_t n = 0; n < N; n++)
        for (size_t g = 0; g < (size_t)G; g++) {
            double sum = 0, sq = 0, cnt = (double)(cpg * S);
            for (size_t c = g * cpg; c < (g + 1) * cpg; c++)
                for (size_t s = 0; s < S; s++)
                    sum += (double)x->data[(n * C + c) * S + s] + (a ? (double)a->data[n * C + c] : 0);
            double mu = sum / cnt;
            for (size_t c = g * cpg; c < (g + 1) * cpg; c++)
                for (size_t s = 0; s < S; s++) {
                    double d = (double)x->data[(n * C + c) * S + s] + (a ? (double)a->data[n * C + c] : 0) - mu;
                    sq += d * d;
                }
            double inv = 1 / sqrt(sq / cnt + 1e-5);
            for (size_t c = g * cpg; c < (g + 1) * cpg; c++)
                for (size_t s = 0; s < S; s++) {
                    size_t i = (n * C + c) * S + s;
                    double h = (double)x->data[i] + (a ? (double)a->data[n * C + c] : 0);
                    double v = (double)gam[c] * (h - mu) * inv + (double)bet[c];
                    y->data[i] = (float)(v / (1 + exp(-v)));
                }
        }
    return y;
}

/* Outputs and gradients of one run of groupnorm_silu or of its composition. */
typedef struct {
    ct_tensor *y, *gx, *ga, *gw, *gb;
} gns_run;

static void gns_run_free(gns_run *r)
{
    ct_tensor_free(r->y);
    ct_tensor_free(r->gx);
    ct_tensor_free(r->ga);
    ct_tensor_free(r->gw);
    ct_tensor_free(r->gb);
}

/* The fused layer f on x + a, threads "1" or "3". */
static gns_run gns_fused(ct_layer *f, const ct_tensor *x, const ct_tensor *a, const ct_tensor *R,
                         const char *threads)
{
    ct_error err;
    gns_run r = {0};
    setenv("CT_NUM_THREADS", threads, 1);
    for (int p = 0; p < 2; p++) ct_tensor_fill(f->params[p].g, 0.0f);
    if (ct_groupnorm_silu_forward(f, x, a, &r.y, &err) == CT_OK &&
        ct_groupnorm_silu_backward(f, R, &r.gx, &r.ga, &err) == CT_OK) {
        r.gw = ct_tensor_clone(f->params[0].g, &err);
        r.gb = ct_tensor_clone(f->params[1].g, &err);
    }
    unsetenv("CT_NUM_THREADS");
    return r;
}

/* The composition h = x + a, groupnorm gn, silu; ga = gx summed to N×C. */
static gns_run gns_composed(ct_layer *gn, const ct_tensor *x, const ct_tensor *a, const ct_tensor *R)
{
    ct_error err;
    gns_run r = {0};
    ct_layer *act = ct_act_new(CT_ACT_SILU, 0, &err);
    ct_tensor *h = ct_tensor_clone(x, &err), *t = NULL, *gt = NULL;
    size_t N = (size_t)x->shape[0], C = (size_t)x->shape[1], S = x->numel / N / C;
    for (size_t i = 0; i < x->numel; i++) h->data[i] += a->data[i / S];
    for (int p = 0; p < 2; p++) ct_tensor_fill(gn->params[p].g, 0.0f);
    int64_t gs[4] = {(int64_t)N, (int64_t)C, 1, 1};
    if (ct_layer_forward(gn, h, &t, &err) == CT_OK && ct_layer_forward(act, t, &r.y, &err) == CT_OK &&
        ct_layer_backward(act, R, &gt, &err) == CT_OK && ct_layer_backward(gn, gt, &r.gx, &err) == CT_OK &&
        (r.ga = ct_tensor_new(4, gs, &err)) && ct_tensor_sum_to(r.ga, r.gx, &err) == CT_OK) {
        r.gw = ct_tensor_clone(gn->params[0].g, &err);
        r.gb = ct_tensor_clone(gn->params[1].g, &err);
    }
    ct_tensor_free(h);
    ct_tensor_free(t);
    ct_tensor_free(gt);
    ct_layer_free(act);
    return r;
}

/* groupnorm_silu against the composition (bit for bit, on 1 and 3
   threads), its naive twin, and central differences with the shift. */
static void test_groupnorm_silu(void)
{
    ct_error err;
    const char *saved = getenv("CT_NUM_THREADS");
    char *keep = saved ? strdup(saved) : NULL;
    struct { int64_t n, c, h, w; int groups; } cases[] = {
        {5, 12, 7, 5, 4},     /* groups of 105 values: partial vectors everywhere */
        {6, 16, 32, 33, 8},   /* large enough to be split over threads */
        {2, 8, 1, 1, 8},      /* one value per group */
    };
    for (size_t k = 0; k < CT_COUNTOF(cases); k++) {
        int64_t xs[4] = {cases[k].n, cases[k].c, cases[k].h, cases[k].w}, as[2] = {cases[k].n, cases[k].c};
        int G = cases[k].groups;
        ct_layer *f = ct_groupnorm_silu_new(G, (int)cases[k].c, 1e-5f, &err);
        ct_layer *gn = ct_groupnorm_new(G, (int)cases[k].c, 1e-5f, &err);
        for (int p = 0; p < 2; p++) {
            ct_tensor_randn(f->params[p].w, &rng, p ? 0.0f : 1.0f, 0.5f);
            ct_tensor_copy(gn->params[p].w, f->params[p].w, &err);
        }
        ct_tensor *x = randn(4, xs), *a = randn(2, as), *R = randn(4, xs);
        gns_run one = gns_fused(f, x, a, R, "1"), three = gns_fused(f, x, a, R, "3");
        gns_run ref = gns_composed(gn, x, a, R);
        ok(same_bits(one.y, ref.y) && same_bits(one.gx, ref.gx) && same_bits(one.ga, ref.ga) &&
           same_bits(one.gw, ref.gw) && same_bits(one.gb, ref.gb),
           "groupnorm_silu %lldx%lldx%lldx%lld, %d groups, equals x + a, groupnorm, silu bit for bit "
           "(y, gx, ga, gweight, gbias)", (long long)xs[0], (long long)xs[1], (long long)xs[2],
           (long long)xs[3], G);
        ok(same_bits(one.y, three.y) && same_bits(one.gx, three.gx) && same_bits(one.ga, three.ga) &&
           same_bits(one.gw, three.gw) && same_bits(one.gb, three.gb),
           "groupnorm_silu: 1 and 3 threads bit-identical");
        /* A gradient to add joins gx in the same pass: gx + r bit for
           bit, the shift's and the parameters' gradients unchanged. */
        ct_tensor *Q = randn(4, xs), *want = ct_tensor_clone(one.gx, &err), *yq = NULL, *gq = NULL,
                  *gaq = NULL;
        for (size_t i = 0; want && i < want->numel; i++) want->data[i] = want->data[i] + Q->data[i];
        for (int p = 0; p < 2; p++) ct_tensor_fill(f->params[p].g, 0.0f);
        int rq = ct_groupnorm_silu_forward(f, x, a, &yq, &err);
        if (rq == CT_OK) rq = ct_groupnorm_silu_backward_add(f, R, Q, &gq, &gaq, &err);
        ok(rq == CT_OK && same_bits(gq, want) && same_bits(gaq, one.ga) &&
           same_bits(f->params[0].g, one.gw) && same_bits(f->params[1].g, one.gb),
           "groupnorm_silu backward with a gradient to add: gx + r bit for bit, the same ga, "
           "gweight, gbias");
        ct_tensor_free(Q);
        ct_tensor_free(want);
        ct_tensor_free(yq);
        ct_tensor_free(gq);
        ct_tensor_free(gaq);
        ct_tensor *yn = gns_naive(f, x, a, G);
        double e = rel_diff(one.y, yn);
        ok(e < 1e-5, "groupnorm_silu forward equals its naive twin in double (rel. diff %.2g)", e);
        ct_tensor_free(yn);
        gns_run_free(&one);
        gns_run_free(&three);
        gns_run_free(&ref);
        ct_tensor_free(x);
        ct_tensor_free(a);
        ct_tensor_free(R);
        ct_layer_free(f);
        ct_layer_free(gn);
    }
    if (keep) setenv("CT_NUM_THREADS", keep, 1);
    free(keep);

    /* Central differences on x, the shift and both parameters. */
    int64_t xs[4] = {2, 6, 3, 5}, as[2] = {2, 6};
    ct_layer *f = ct_groupnorm_silu_new(3, 6, 1e-5f, &err);
    for (int p = 0; p < 2; p++) ct_tensor_randn(f->params[p].w, &rng, p ? 0.0f : 1.0f, 0.5f);
    ct_tensor *x = randn(4, xs), *a = randn(2, as), *R = randn(4, xs), *y = NULL, *gx = NULL, *ga = NULL;
    int rc = ct_groupnorm_silu_forward(f, x, a, &y, &err);
    if (rc == CT_OK) rc = ct_groupnorm_silu_backward(f, R, &gx, &ga, &err);
    if (ok(rc == CT_OK && ga && ga->shape[0] == 2 && ga->shape[1] == 6,
           "groupnorm_silu with a shift: forward, backward, a 2x6 shift gradient")) {
        fd_shift = a;
        double h = 1e-2, ex = compare(f, x, R, x->data, x->numel, gx->data, h);
        double ea = compare(f, x, R, a->data, a->numel, ga->data, h);
        double ew = compare(f, x, R, f->params[0].w->data, 6, f->params[0].g->data, h);
        double eb = compare(f, x, R, f->params[1].w->data, 6, f->params[1].g->data, h);
        fd_shift = NULL;
        ok(ex < 1e-3 && ea < 1e-3 && ew < 1e-3 && eb < 1e-3,
           "groupnorm_silu gradients of x, shift, weight, bias match central differences "
           "(rel. errors %.2g %.2g %.2g %.2g)", ex, ea, ew, eb);
    }
    ct_tensor_free(y);
    ct_tensor_free(gx);
    ct_tensor_free(ga);
    /* Bad input: a gradient to add of another shape, or before a forward;
       a shift of the wrong size, a shift on another layer. */
    int64_t rs[4] = {2, 6, 3, 4};
    ct_tensor *rbad = ct_tensor_new(4, rs, &err);
    ok(ct_groupnorm_silu_backward_add(f, R, rbad, &gx, &ga, &err) != CT_OK && !gx && !ga &&
       strstr(err.msg, "gradient to add") && strstr(err.msg, "2x6x3x5") && strstr(err.msg, "2x6x3x4"),
       "a gradient to add of another shape is refused: %s", err.msg);
    ct_layer *fresh = ct_groupnorm_silu_new(3, 6, 1e-5f, &err);
    ok(ct_groupnorm_silu_backward_add(fresh, R, R, &gx, &ga, &err) != CT_OK && !gx &&
       strstr(err.msg, "before a forward"), "a gradient to add before a forward: %s", err.msg);
    ct_layer_free(fresh);
    ct_tensor_free(rbad);
    int64_t bs[2] = {2, 5};
    ct_tensor *bad = ct_tensor_new(2, bs, &err);
    ok(ct_groupnorm_silu_forward(f, x, bad, &y, &err) != CT_OK && strstr(err.msg, "2x5") &&
       strstr(err.msg, "N×C"), "a shift of the wrong shape is refused: %s", err.msg);
    ct_layer *gn = ct_groupnorm_new(3, 6, 1e-5f, &err);
    ok(ct_groupnorm_silu_forward(gn, x, a, &y, &err) != CT_OK && strstr(err.msg, "groupnorm:"),
       "a shift on a plain groupnorm is refused: %s", err.msg);
    ok(ct_groupnorm_silu_new(4, 6, 1e-5f, &err) == NULL && strstr(err.msg, "6 channels"),
       "groupnorm_silu with indivisible channels: %s", err.msg);
    ct_layer_free(gn);
    ct_tensor_free(bad);
    ct_tensor_free(x);
    ct_tensor_free(a);
    ct_tensor_free(R);
    ct_layer_free(f);
}

/* A stack of layers run twice, on 1 and on 3 threads (CT_NUM_THREADS),
   must give bit-identical outputs and gradients. */
static void test_thread_equality(void)
{
    ct_error err;
    const char *saved = getenv("CT_NUM_THREADS");
    char *keep = saved ? strdup(saved) : NULL;
    ct_conv_cfg c3 = ct_conv_cfg_2d(8, 16, 3, 1, 1), cd = ct_conv_cfg_2d(16, 16, 3, 2, 1);
    ct_layer *ls[6] = {ct_conv_new(&c3, &rng, &err), ct_groupnorm_new(4, 16, 1e-5f, &err),
                       ct_act_new(CT_ACT_SILU, 0, &err), ct_attention_new(16, &rng, &err),
                       ct_conv_new(&cd, &rng, &err), ct_act_new(CT_ACT_SILU, 0, &err)};
    int64_t xs[4] = {5, 8, 12, 12};
    ct_tensor *x = randn(4, xs), *out[2] = {NULL, NULL}, *gin[2] = {NULL, NULL};
    int64_t ys[4] = {5, 16, 6, 6};
    ct_tensor *R = randn(4, ys), *grads[2][6];
    for (int run = 0; run < 2; run++) {
        setenv("CT_NUM_THREADS", run ? "3" : "1", 1);
        ct_tensor *h = ct_tensor_clone(x, &err), *g = ct_tensor_clone(R, &err), *t;
        for (int i = 0; i < 6; i++) {
            ct_layer_forward(ls[i], h, &t, &err);
            ct_tensor_free(h);   /* the layer keeps a view, which keeps the storage */
            h = t;
        }
        for (int i = 5; i >= 0; i--) {
            for (int p = 0; p < ls[i]->nparams; p++) ct_tensor_fill(ls[i]->params[p].g, 0.0f);
            ct_layer_backward(ls[i], g, &t, &err);
            grads[run][i] = ls[i]->nparams ? ct_tensor_clone(ls[i]->params[0].g, &err) : NULL;
            ct_tensor_free(g);
            g = t;
        }
        out[run] = h;
        gin[run] = g;
    }
    int same = out[0]->numel == out[1]->numel &&
               !memcmp(out[0]->data, out[1]->data, out[0]->numel * sizeof(float)) &&
               !memcmp(gin[0]->data, gin[1]->data, gin[0]->numel * sizeof(float));
    for (int i = 0; i < 6; i++) {
        if (grads[0][i])
            same = same && !memcmp(grads[0][i]->data, grads[1][i]->data, grads[0][i]->numel * sizeof(float));
        ct_tensor_free(grads[0][i]);
        ct_tensor_free(grads[1][i]);
    }
    ok(same, "1 and 3 threads give bit-identical outputs and gradients");
    if (keep) setenv("CT_NUM_THREADS", keep, 1);
    else unsetenv("CT_NUM_THREADS");
    free(keep);
    for (int r = 0; r < 2; r++) {
        ct_tensor_free(out[r]);
        ct_tensor_free(gin[r]);
    }
    for (int i = 0; i < 6; i++) ct_layer_free(ls[i]);
    ct_tensor_free(x);
    ct_tensor_free(R);
}

/* Upsampling split over planes: forward against the index formula and
   backward against the sum of each input's f×f outputs, on 3 threads. */
static void test_upsample_threads(void)
{
    ct_error err;
    const char *saved = getenv("CT_NUM_THREADS");
    char *keep = saved ? strdup(saved) : NULL;
    setenv("CT_NUM_THREADS", "3", 1);
    int64_t xs[4] = {4, 6, 40, 37};
    ct_tensor *x = randn(4, xs), *y = NULL, *gx = NULL;
    ct_layer *l = ct_upsample_new(2, &err);
    int bad = ct_layer_forward(l, x, &y, &err) != CT_OK;
    for (size_t p = 0; !bad && p < 24; p++)
        for (size_t r = 0; r < 80; r++)
            for (size_t c = 0; c < 74; c++)
                bad += y->data[(p * 80 + r) * 74 + c] != x->data[(p * 40 + r / 2) * 37 + c / 2];
    ok(!bad, "upsample x2 of 4x6x40x37 on 3 threads: every output is its nearest input (%d wrong)", bad);
    bad = ct_layer_backward(l, y, &gx, &err) != CT_OK;
    for (size_t i = 0; !bad && i < x->numel; i++) {
        float e = 0.0f;   /* the four copies added in order, as backward does */
        for (int k = 0; k < 4; k++) e += x->data[i];
        bad += gx->data[i] != e;
    }
    ok(!bad, "and backward sums the four copies back (%d wrong)", bad);
    if (keep) setenv("CT_NUM_THREADS", keep, 1);
    else unsetenv("CT_NUM_THREADS");
    free(keep);
    ct_tensor_free(x);
    ct_tensor_free(y);
    ct_tensor_free(gx);
    ct_layer_free(l);
}

/* ct_parallel's pool: every index once per call, over many calls of
   varying thread counts, and calls made from inside a share. */
typedef struct {
    int *hits;
    int nested;
} visit_ctx;

static void visit(void *ctx, size_t b, size_t e)
{
    visit_ctx *v = ctx;
    for (size_t i = b; i < e; i++) v->hits[i]++;
}

static void visit_nested(void *ctx, size_t b, size_t e)
{
    visit_ctx *v = ctx;
    for (size_t i = b; i < e; i++) {
        visit_ctx inner = {v->hits + 64 * i, 0};
        ct_parallel_for(64, 3, visit, &inner);
    }
}

static void test_pool(void)
{
    static int hits[64 * 8];
    visit_ctx v = {hits, 0};
    int bad = 0;
    for (int call = 0; call < 2000; call++) {
        size_t n = (size_t)(call % 97) + 1;
        memset(hits, 0, sizeof hits);
        ct_parallel_for(n, 1 + call % 5, visit, &v);
        for (size_t i = 0; i < n; i++) bad += hits[i] != 1;
    }
    ok(!bad, "ct_parallel_for: 2000 calls on 1-5 threads visit every index once (%d misses)", bad);
    memset(hits, 0, sizeof hits);
    ct_parallel_for(8, 4, visit_nested, &v);
    bad = 0;
    for (int i = 0; i < 64 * 8; i++) bad += hits[i] != 1;
    ok(!bad, "ct_parallel_for called from inside shares (%d misses)", bad);
}

/* The vectorised exp of SiLU and sigmoid against libm's, in double. */
static void test_exp(void)
{
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -87.0f + 175.0f * (float)i / 200000.0f;
        double ref = exp((double)x), rel = fabs((double)ct_nn_exp_vec(x) - ref) / ref;
        if (rel > worst) worst = rel;
    }
    ok(worst < 3e-7, "SiLU's exp: relative error %.2g (< 3e-7) on [-87, 88]", worst);
    ok(ct_nn_exp_vec(-1000.0f) >= 0 && ct_nn_exp_vec(-1000.0f) < 2e-38f &&
       ct_nn_exp_vec(1000.0f) > 1e38f && isnan(ct_nn_exp_vec(NAN)),
       "SiLU's exp clamps far out and keeps NaN");
}

static void test_errors(void)
{
    ct_error err;
    ct_conv_cfg c = ct_conv_cfg_2d(4, 8, 3, 1, 1);
    ct_layer *l = ct_conv_new(&c, &rng, &err);
    int64_t bad[3] = {4, 64, 64};
    ct_tensor *x = ct_tensor_new(3, bad, &err), *y, *gx;
    ok(ct_layer_forward(l, x, &y, &err) != CT_OK && strstr(err.msg, "4-D tensor N×4×H×W") &&
       strstr(err.msg, "3-D 4x64x64"), "conv2d on a 3-D tensor names both shapes: %s", err.msg);
    ok(ct_layer_backward(l, x, &gx, &err) != CT_OK && strstr(err.msg, "before forward"),
       "backward before forward is refused: %s", err.msg);
    int64_t tiny[4] = {1, 4, 1, 1};
    ct_conv_cfg c5 = ct_conv_cfg_2d(4, 8, 5, 1, 0);
    ct_layer *l5 = ct_conv_new(&c5, &rng, &err);
    ct_tensor *t = ct_tensor_new(4, tiny, &err);
    ok(ct_layer_forward(l5, t, &y, &err) != CT_OK && strstr(err.msg, "too small"),
       "a kernel larger than the padded input is refused: %s", err.msg);
    ct_layer *lin = ct_linear_new(3, 2, 1, &rng, &err);
    int64_t s[2] = {2, 3}, gs[2] = {2, 5};
    ct_tensor *a = ct_tensor_new(2, s, &err), *g = ct_tensor_new(2, gs, &err);
    ct_layer_forward(lin, a, &y, &err);
    ok(ct_layer_backward(lin, g, &gx, &err) != CT_OK && strstr(err.msg, "2x5") && strstr(err.msg, "2x2"),
       "a gradient of the wrong shape is refused: %s", err.msg);
    ct_tensor_free(y);
    ok(ct_groupnorm_new(3, 8, 1e-5f, &err) == NULL && strstr(err.msg, "8 channels"),
       "groupnorm with indivisible channels: %s", err.msg);
    ct_conv_cfg co = ct_conv_cfg_2d(1, 1, 3, 2, 0);
    co.outpad[1] = 1;
    ok(ct_conv_new(&co, &rng, &err) == NULL && strstr(err.msg, "output padding"),
       "output padding on a plain convolution: %s", err.msg);
    ct_tensor_free(x);
    ct_tensor_free(t);
    ct_tensor_free(a);
    ct_tensor_free(g);
    ct_layer_free(l);
    ct_layer_free(l5);
    ct_layer_free(lin);
}

/* Losses: gradient by central differences of the loss itself. */
static void test_losses(void)
{
    ct_error err;
    int64_t s[2] = {3, 4};
    ct_tensor *p = randn(2, s), *t = randn(2, s), *g;
    for (size_t i = 0; i < t->numel; i++) t->data[i] = t->data[i] > 0 ? 1.0f : 0.0f;
    for (int kind = 0; kind < 3; kind++) {
        const char *name = kind == 0 ? "mse" : kind == 1 ? "bce_logits" : "wasserstein";
        double loss, lp, lm, maxd = 0;
        #define LOSS(out, gr) (kind == 0 ? ct_loss_mse(p, t, out, gr, &err) : \
                               kind == 1 ? ct_loss_bce_logits(p, t, out, gr, &err) : \
                               ct_loss_wasserstein(p, -1.0f, out, gr, &err))
        LOSS(&loss, &g);
        for (size_t i = 0; i < p->numel; i++) {
            float save = p->data[i];
            p->data[i] = save + 1e-2f;
            LOSS(&lp, NULL);
            p->data[i] = save - 1e-2f;
            LOSS(&lm, NULL);
            p->data[i] = save;
            double d = fabs((lp - lm) / 2e-2 - (double)g->data[i]);
            if (d > maxd) maxd = d;
        }
        #undef LOSS
        ok(maxd < 1e-4, "%s: gradient matches central differences (max diff %.2g)", name, maxd);
        ct_tensor_free(g);
    }
    double l1;
    ct_loss_bce_logits(p, t, &l1, NULL, &err);
    double ref = 0;
    for (size_t i = 0; i < p->numel; i++) {
        double sg = 1 / (1 + exp(-(double)p->data[i]));
        ref -= (double)t->data[i] * log(sg) + (1 - (double)t->data[i]) * log(1 - sg);
    }
    near(l1, ref / (double)p->numel, 1e-9, "bce_logits equals -t log σ - (1-t) log(1-σ)");
    int64_t s2[1] = {5};
    ct_tensor *q = ct_tensor_new(1, s2, &err);
    ok(ct_loss_mse(p, q, &l1, NULL, &err) != CT_OK && strstr(err.msg, "3x4") && strstr(err.msg, "5"),
       "mse of different shapes: %s", err.msg);
    ct_tensor_free(q);
    ct_tensor_free(p);
    ct_tensor_free(t);
}

static void test_timeembed(void)
{
    ct_error err;
    ct_layer *l = ct_timeembed_new(8, 10000.0f, &err);
    int64_t s[1] = {2};
    ct_tensor *t = ct_tensor_new(1, s, &err), *y;
    t->data[0] = 0;
    t->data[1] = 37;
    ct_layer_forward(l, t, &y, &err);
    ok(y->shape[0] == 2 && y->shape[1] == 8 && y->data[0] == 1.0f && y->data[4] == 0.0f,
       "time embedding of t=0 is cos 1, sin 0");
    near(y->data[8 + 1], cos(37.0 * pow(10000.0, -0.25)), 1e-6, "cos(t·10000^(-1/4))");
    near(y->data[8 + 4 + 3], sin(37.0 * pow(10000.0, -0.75)), 1e-6, "sin(t·10000^(-3/4))");
    ct_tensor_free(y);
    ct_tensor_free(t);
    ct_layer_free(l);
}

int main(void)
{
    unsigned seed = 20240;
    printf("# seed %u\n", seed);
    ct_rng_seed(&rng, seed);
    test_gradients();
    test_naive();
    test_winograd();
    test_winograd_kept();
    test_thread_equality();
    test_groupnorm_silu();
    test_upsample_threads();
    test_exp();
    test_pool();
    test_errors();
    test_losses();
    test_timeembed();
    ct_nn_workspace_release();
    return tap_done();
}
