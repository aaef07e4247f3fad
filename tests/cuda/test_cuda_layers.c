/*
 * test_cuda_layers.c - every layer kind on the GPU against its CPU twin:
 * forward output, input gradient, every parameter's gradient and the
 * buffers (batchnorm's running statistics), on random shapes from a
 * printed seed, in each GEMM precision the plugin offers (fp32, TF32,
 * bf16).  Parameters' gradients start from random values, so a kernel that
 * writes (=) where it must add (+=) fails; a second backward with
 * param_grads = 0 must leave them exactly as they were.
 *
 * Tolerance: the largest difference over the largest CPU value of each
 * tensor.  Both sides compute in float; the GPU sums in other orders
 * (~1e-6 relative), TF32 rounds GEMM inputs to 10 mantissa bits (~1e-3)
 * and bf16 to 7 (~1e-2).  A wrong index or a missing term is of order 1.
 *
 *     tests/cuda/test_cuda_layers [seed] [conv|norm]   (CT_TEST_SEED works too)
 *
 * "conv" runs the convolutions alone (a quick check of their kernels);
 * "norm" the norms, activations, upsample, attention, time embedding and
 * linear alone, in fp32 (quick enough for compute-sanitizer).
 *
 * Without a GPU (or a --with-cuda build) it skips everything, saying why.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_backend.h"
#include "ct_layers.h"
#include "ct_nn.h"
#include "ct_tensor_ops.h"
#include "../c/tap.h"

static ct_rng rng;
static const ct_cuda_api *cu;
static double tol;
static const char *prec_name;

static int rnd(int lo, int hi) { return lo + (int)ct_rng_below(&rng, (uint64_t)(hi - lo + 1)); }

static ct_tensor *randn(int ndim, const int64_t *shape)
{
    ct_error err;
    ct_tensor *t = ct_tensor_new(ndim, shape, &err);
    ct_tensor_randn(t, &rng, 0.0f, 1.0f);
    return t;
}

static ct_tensor *to_dev(const ct_tensor *t)
{
    ct_error err;
    ct_tensor *d = ct_tensor_to(t, CT_DEV_CUDA, &err);
    if (!d) printf("# to cuda: %s\n", err.msg);
    return d;
}

static ct_tensor *to_host(const ct_tensor *t)
{
    ct_error err;
    ct_tensor *h = ct_tensor_to(t, CT_DEV_CPU, &err);
    if (!h) printf("# to cpu: %s\n", err.msg);
    return h;
}

/* Compare a GPU tensor with its CPU twin: shapes, then the largest
   difference over the largest reference value. */
static void cmp(const char *name, const char *what, const ct_tensor *gpu, const ct_tensor *cpu)
{
    if (!gpu || !cpu) {
        ok(0, "%s: %s exists on both sides", name, what);
        return;
    }
    ct_tensor *h = to_host(gpu);
    if (!ok(h && ct_tensor_same_shape(h, cpu), "%s: %s has the CPU's shape", name, what)) {
        ct_tensor_free(h);
        return;
    }
    double d = 0, m = 1e-30;
    int finite = 1;
    for (size_t i = 0; i < h->numel; i++) {
        double a = h->data[i], b = cpu->data[i];
        if (!isfinite(a)) finite = 0;
        if (fabs(a - b) > d) d = fabs(a - b);
        if (fabs(b) > m) m = fabs(b);
    }
    double rel = d / m;
    ok(finite && rel <= tol, "%s [%s]: %s matches the CPU (rel. error %.2g)", name, prec_name, what, rel);
    ct_tensor_free(h);
}

/* Exact equality of a GPU tensor and a host one. */
static int same(const ct_tensor *gpu, const ct_tensor *cpu)
{
    ct_tensor *h = to_host(gpu);
    int eq = h && h->numel == cpu->numel && !memcmp(h->data, cpu->data, h->numel * sizeof(float));
    ct_tensor_free(h);
    return eq;
}

static ct_tensor *clone(const ct_tensor *t)
{
    ct_error err;
    return ct_tensor_clone(t, &err);
}

/* Put t (host) in place of *slot, freeing what was there. */
static void replace(ct_tensor **slot, ct_tensor *t)
{
    ct_tensor_free(*slot);
    *slot = t;
}

typedef struct {
    ct_tensor *y, *gx, *g[CT_MAXPARAMS], *b[CT_MAXBUFFERS], *ga;
} results;

static void results_free(results *r)
{
    ct_tensor_free(r->y);
    ct_tensor_free(r->gx);
    ct_tensor_free(r->ga);
    for (int i = 0; i < CT_MAXPARAMS; i++) ct_tensor_free(r->g[i]);
    for (int i = 0; i < CT_MAXBUFFERS; i++) ct_tensor_free(r->b[i]);
    memset(r, 0, sizeof *r);
}

/* Random starting gradients (so += is told from =), kept in g0; the
   buffers' starting values in b0. */
static void start_state(ct_layer *l, ct_tensor **g0, ct_tensor **b0)
{
    for (int p = 0; p < l->nparams; p++) {
        ct_tensor_randn(l->params[p].g, &rng, 0.0f, 1.0f);
        g0[p] = clone(l->params[p].g);
    }
    for (int b = 0; b < l->nbuffers; b++) b0[b] = clone(l->buffers[b].w);
}

/* Parameters (values, the gradients g0) and buffers b0 onto the GPU. */
static void move_to_gpu(ct_layer *l, ct_tensor **g0, ct_tensor **b0)
{
    for (int p = 0; p < l->nparams; p++) {
        replace(&l->params[p].w, to_dev(l->params[p].w));
        replace(&l->params[p].g, to_dev(g0[p]));
    }
    for (int b = 0; b < l->nbuffers; b++) replace(&l->buffers[b].w, to_dev(b0[b]));
}

static void compare_params(const char *name, ct_layer *l, const results *cpu)
{
    for (int p = 0; p < l->nparams; p++) {
        char what[64];
        snprintf(what, sizeof what, "%s gradient", l->params[p].name);
        cmp(name, what, l->params[p].g, cpu->g[p]);
    }
    for (int b = 0; b < l->nbuffers; b++) cmp(name, l->buffers[b].name, l->buffers[b].w, cpu->b[b]);
}

/* A second GPU pass with param_grads = 0: the same input gradient, and the
   parameters' gradients exactly as the first pass left them. */
static void input_grad_only(const char *name, ct_layer *l, const ct_tensor *xd, const ct_tensor *Rd,
                            const ct_tensor *gx_cpu, ct_tensor **b0)
{
    ct_error err;
    ct_tensor *before[CT_MAXPARAMS] = {0}, *y = NULL, *gx = NULL;
    for (int p = 0; p < l->nparams; p++) before[p] = to_host(l->params[p].g);
    for (int b = 0; b < l->nbuffers; b++) replace(&l->buffers[b].w, to_dev(b0[b]));
    l->param_grads = 0;
    int rc = ct_layer_forward(l, xd, &y, &err);
    if (rc == CT_OK) rc = ct_layer_backward(l, Rd, &gx, &err);
    l->param_grads = 1;
    if (ok(rc == CT_OK, "%s: GPU backward with param_grads = 0", name)) {
        cmp(name, "input gradient with param_grads = 0", gx, gx_cpu);
        int kept = 1;
        for (int p = 0; p < l->nparams; p++) kept &= same(l->params[p].g, before[p]);
        if (l->nparams) ok(kept, "%s: param_grads = 0 leaves the parameters' gradients alone", name);
    } else {
        printf("#   %s\n", err.msg);
    }
    for (int p = 0; p < l->nparams; p++) ct_tensor_free(before[p]);
    ct_tensor_free(y);
    ct_tensor_free(gx);
}

/* The whole comparison for layer l (host parameters) on host input x;
   frees both. */
static void layer_case(const char *name, ct_layer *l, ct_tensor *x)
{
    ct_error err;
    char sh[96];
    if (!ok(l != NULL, "%s: layer created", name)) {
        ct_tensor_free(x);
        return;
    }
    printf("# %s: input %s\n", name, ct_tensor_shape_str(x, sh, sizeof sh));
    ct_tensor *g0[CT_MAXPARAMS] = {0}, *b0[CT_MAXBUFFERS] = {0}, *R = NULL, *xd = NULL, *Rd = NULL;
    start_state(l, g0, b0);
    results cpu = {0}, gpu = {0};
    int rc = ct_layer_forward(l, x, &cpu.y, &err);
    if (rc == CT_OK) R = randn(cpu.y->ndim, cpu.y->shape);
    if (rc == CT_OK) rc = ct_layer_backward(l, R, &cpu.gx, &err);
    if (!ok(rc == CT_OK, "%s: CPU forward and backward", name)) {
        printf("#   %s\n", err.msg);
        goto done;
    }
    for (int p = 0; p < l->nparams; p++) cpu.g[p] = clone(l->params[p].g);
    for (int b = 0; b < l->nbuffers; b++) cpu.b[b] = clone(l->buffers[b].w);
    move_to_gpu(l, g0, b0);
    xd = to_dev(x);
    Rd = to_dev(R);
    rc = ct_layer_forward(l, xd, &gpu.y, &err);
    if (rc == CT_OK) rc = ct_layer_backward(l, Rd, &gpu.gx, &err);
    if (rc == CT_OK) rc = cu->sync(&err);
    if (!ok(rc == CT_OK, "%s [%s]: GPU forward and backward", name, prec_name)) {
        printf("#   %s\n", err.msg);
        goto done;
    }
    cmp(name, "output", gpu.y, cpu.y);
    cmp(name, "input gradient", gpu.gx, cpu.gx);
    compare_params(name, l, &cpu);
    input_grad_only(name, l, xd, Rd, cpu.gx, b0);
done:
    results_free(&cpu);
    results_free(&gpu);
    for (int p = 0; p < CT_MAXPARAMS; p++) ct_tensor_free(g0[p]);
    for (int b = 0; b < CT_MAXBUFFERS; b++) ct_tensor_free(b0[b]);
    ct_tensor_free(R);
    ct_tensor_free(xd);
    ct_tensor_free(Rd);
    ct_tensor_free(x);
    ct_layer_free(l);
}

/* GroupNorm + SiLU with an N×C shift of the input (groupnorm_silu): on the
   GPU one fused kernel each way; the CPU reference is the composition
   x + a, groupnorm, silu, and the shift's gradient the spatial sums of the
   norm's input gradient. */
static void gns_case(const char *name, int N, int C, int G, int H, int W, int with_add, int with_res)
{
    ct_error err;
    int64_t xs[4] = {N, C, H, W}, as[2] = {N, C};
    ct_layer *gn = ct_groupnorm_new(G, C, 1e-5f, &err), *act = ct_act_new(CT_ACT_SILU, 0, &err);
    ct_tensor_randn(gn->params[0].w, &rng, 1.0f, 0.3f);
    ct_tensor_randn(gn->params[1].w, &rng, 0.0f, 0.3f);
    ct_tensor *x = randn(4, xs), *a = with_add ? randn(2, as) : NULL, *h = clone(x);
    size_t S = (size_t)H * W;
    if (a)
        for (size_t i = 0; i < h->numel; i++) h->data[i] += a->data[i / S];
    printf("# %s: input %dx%dx%dx%d, %d groups%s\n", name, N, C, H, W, G, a ? ", shift" : "");
    ct_tensor *g0[CT_MAXPARAMS] = {0}, *b0[CT_MAXBUFFERS] = {0};
    start_state(gn, g0, b0);
    results cpu = {0}, gpu = {0};
    ct_tensor *z = NULL, *gz = NULL, *R = NULL;
    int rc = ct_layer_forward(gn, h, &z, &err);
    if (rc == CT_OK) rc = ct_layer_forward(act, z, &cpu.y, &err);
    if (rc == CT_OK) R = randn(4, xs);
    if (rc == CT_OK) rc = ct_layer_backward(act, R, &gz, &err);
    if (rc == CT_OK) rc = ct_layer_backward(gn, gz, &cpu.gx, &err);
    if (!ok(rc == CT_OK, "%s: CPU composition", name)) {
        printf("#   %s\n", err.msg);
        goto done;
    }
    if (a) {
        cpu.ga = ct_tensor_new(2, as, &err);
        for (size_t i = 0; i < cpu.gx->numel; i++) cpu.ga->data[i / S] += cpu.gx->data[i];
    }
    ct_tensor *res = with_res ? randn(4, xs) : NULL;   /* a gradient to add (a residual's) */
    for (size_t i = 0; res && i < cpu.gx->numel; i++) cpu.gx->data[i] += res->data[i];
    for (int p = 0; p < gn->nparams; p++) cpu.g[p] = clone(gn->params[p].g);

    /* The fused layer with the same parameters and starting gradients. */
    ct_layer *gns = ct_groupnorm_silu_new(G, C, 1e-5f, &err);
    for (int p = 0; p < gns->nparams; p++) {
        ct_tensor_copy(gns->params[p].w, gn->params[p].w, &err);
        ct_tensor_copy(gns->params[p].g, g0[p], &err);
    }
    move_to_gpu(gns, g0, b0);
    ct_tensor *xd = to_dev(x), *ad = a ? to_dev(a) : NULL, *Rd = to_dev(R), *resd = res ? to_dev(res) : NULL;
    rc = ct_groupnorm_silu_forward(gns, xd, ad, &gpu.y, &err);
    if (rc == CT_OK) rc = ct_groupnorm_silu_backward_add(gns, Rd, resd, &gpu.gx, &gpu.ga, &err);
    if (rc == CT_OK) rc = cu->sync(&err);
    if (ok(rc == CT_OK, "%s [%s]: GPU fused forward and backward", name, prec_name)) {
        cmp(name, "output", gpu.y, cpu.y);
        cmp(name, "input gradient", gpu.gx, cpu.gx);
        if (a) cmp(name, "shift gradient", gpu.ga, cpu.ga);
        else ok(!gpu.ga, "%s: no shift, no shift gradient", name);
        compare_params(name, gns, &cpu);
    } else {
        printf("#   %s\n", err.msg);
    }
    if (a) {   /* a shift on the CPU for an input on the GPU */
        ct_tensor *y = NULL;
        rc = ct_groupnorm_silu_forward(gns, xd, a, &y, &err);
        ok(rc == CT_EINVAL && !y, "%s: a CPU shift with a GPU input fails: %s", name, err.msg);
        ct_layer *host = ct_groupnorm_silu_new(G, C, 1e-5f, &err);
        rc = ct_groupnorm_silu_forward(host, x, ad, &y, &err);
        ok(rc == CT_EINVAL && !y, "%s: a GPU shift with a CPU input fails: %s", name, err.msg);
        ct_layer_free(host);
    }
    if (res) {   /* a gradient to add on the CPU for a backward on the GPU */
        ct_tensor *gx2 = NULL, *ga2 = NULL;
        rc = ct_groupnorm_silu_backward_add(gns, Rd, res, &gx2, &ga2, &err);
        ok(rc == CT_EINVAL && !gx2 && !ga2, "%s: a CPU gradient to add with a GPU backward fails: %s",
           name, err.msg);
    }
    ct_layer_free(gns);
    ct_tensor_free(xd);
    ct_tensor_free(ad);
    ct_tensor_free(Rd);
    ct_tensor_free(resd);
    ct_tensor_free(res);
done:
    results_free(&cpu);
    results_free(&gpu);
    for (int p = 0; p < CT_MAXPARAMS; p++) ct_tensor_free(g0[p]);
    ct_tensor_free(x);
    ct_tensor_free(a);
    ct_tensor_free(h);
    ct_tensor_free(z);
    ct_tensor_free(gz);
    ct_tensor_free(R);
    ct_layer_free(gn);
    ct_layer_free(act);
}

static ct_tensor *randn4(int n, int c, int h, int w)
{
    int64_t s[4] = {n, c, h, w};
    return randn(4, s);
}

static ct_tensor *randn5(int n, int c, int d, int h, int w)
{
    int64_t s[5] = {n, c, d, h, w};
    return randn(5, s);
}

static void conv_cases(void)
{
    ct_error err;
    char name[160];
    for (int t = 0; t < 6; t++) {   /* 2-D, random geometry */
        int k = rnd(1, 4), s = rnd(1, 2), p = rnd(0, k / 2), transposed = t % 2;
        ct_conv_cfg c = ct_conv_cfg_2d(rnd(1, 9), rnd(1, 9), k, s, p);
        c.bias = t != 4;
        c.transposed = transposed;
        if (transposed && s > 1) c.outpad[1] = c.outpad[2] = rnd(0, s - 1);
        snprintf(name, sizeof name, "conv%s2d %d->%d k%d s%d p%d op%d%s", transposed ? "transpose" : "",
                 c.cin, c.cout, k, s, p, c.outpad[1], c.bias ? "" : " no bias");
        layer_case(name, ct_conv_new(&c, &rng, &err), randn4(rnd(1, 5), c.cin, rnd(k, 12), rnd(k, 12)));
    }
    ct_conv_cfg c = ct_conv_cfg_2d(32, 48, 3, 1, 1);
    layer_case("conv2d 32->48 3x3 p1 (U-Net-like)", ct_conv_new(&c, &rng, &err), randn4(4, 32, 16, 16));
    c = ct_conv_cfg_2d(24, 40, 1, 1, 0);
    layer_case("conv2d 24->40 1x1 (one GEMM per sample)", ct_conv_new(&c, &rng, &err), randn4(3, 24, 9, 7));
    c = ct_conv_cfg_2d(16, 16, 3, 2, 1);
    layer_case("conv2d 16->16 3x3 s2 p1 (downsample)", ct_conv_new(&c, &rng, &err), randn4(3, 16, 16, 16));
    /* 3 × 7 × 143 = 3003 positions: the weight gradient in two parts and a rest. */
    c = ct_conv_cfg_2d(8, 4, 3, 1, 1);
    layer_case("conv2d 8->4 3x3 p1 (weight gradient in parts)", ct_conv_new(&c, &rng, &err), randn4(3, 8, 7, 143));
    c.transposed = 1;
    layer_case("convtranspose2d 8->4 3x3 p1 (weight gradient in parts)", ct_conv_new(&c, &rng, &err),
               randn4(3, 8, 7, 143));
    c = ct_conv_cfg_2d(12, 8, 1, 1, 0);
    c.transposed = 1;
    layer_case("convtranspose2d 12->8 1x1", ct_conv_new(&c, &rng, &err), randn4(2, 12, 5, 6));
    for (int t = 0; t < 4; t++) {   /* 3-D */
        ct_conv_cfg c3 = {3, t % 2, rnd(1, 6), rnd(1, 6), {rnd(1, 3), rnd(1, 3), rnd(1, 3)},
                          {rnd(1, 2), rnd(1, 2), rnd(1, 2)}, {0, 0, 0}, {0, 0, 0}, 1};
        for (int i = 0; i < 3; i++) {
            c3.pad[i] = rnd(0, c3.k[i] / 2);
            if (c3.transposed && c3.stride[i] > 1) c3.outpad[i] = rnd(0, c3.stride[i] - 1);
        }
        snprintf(name, sizeof name, "conv%s3d %d->%d k%dx%dx%d s%dx%dx%d p%dx%dx%d",
                 c3.transposed ? "transpose" : "", c3.cin, c3.cout, c3.k[0], c3.k[1], c3.k[2],
                 c3.stride[0], c3.stride[1], c3.stride[2], c3.pad[0], c3.pad[1], c3.pad[2]);
        layer_case(name, ct_conv_new(&c3, &rng, &err),
                   randn5(rnd(1, 3), c3.cin, rnd(3, 6), rnd(3, 7), rnd(3, 7)));
    }
    /* The paper GAN's shapes: a 4×4×4 transposed convolution, stride 2. */
    ct_conv_cfg g3 = {3, 1, 16, 8, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}, {0, 0, 0}, 1};
    layer_case("convtranspose3d 16->8 k4 s2 p1 (GAN)", ct_conv_new(&g3, &rng, &err), randn5(2, 16, 4, 4, 4));
    g3.transposed = 0;
    g3.cin = 8, g3.cout = 16;
    layer_case("conv3d 8->16 k4 s2 p1 (critic)", ct_conv_new(&g3, &rng, &err), randn5(2, 8, 8, 8, 8));
}

/* 2-D convolutions on the implicit-GEMM kernels (cu_conv_igemm.cu: FFMA
   in fp32, tensor cores in TF32 and bf16): the U-Net's shapes, with
   the weight gradient cut into parts; 4 channels in or out (16-row
   tiles); channel counts off the tiles (64 rows, 16 deep, 128 columns);
   the tap-major loads (channels a multiple of 16 for the forward and
   the input gradient, of 64 for the weight gradient) and the per-row
   ones; 128-row tiles (128 output channels and enough positions to keep
   the H100's 132 multiprocessors busy twice over); one sample; images smaller than the kernel's reach (down to
   1×1); 5×5, even and 1×3 kernels; strides 2 and 3, the input gradient
   by classes of pixels modulo the stride (1×1 and 4×4 kernels: classes no
   tap reaches, even taps; rows alone; stride 3 cropping the image), and
   past 16 classes from the columns.  The
   weight gradient's tiles 128 wide (K past 64) with 64 or 128 rows,
   tap-major in 64-row halves, gy in 16-byte copies where oh·ow is a
   multiple of 4: channels off the tiles, a last tile of positions cut
   short, K off the 128-wide tiles (64 channels: 576); from input row
   segments (3 kernel columns, channels in 64s): rows 16, 8 and 4 wide,
   output channels off the 64-row tiles, 5 kernel rows, a wide image. */
static void igemm_cases(const char *tag)
{
    ct_error err;
    char name[160];
    static const struct { int cin, cout, kh, kw, s, ph, pw, n, h, w; const char *what; } cs[] = {
        {64, 64, 3, 3, 1, 1, 1, 3, 32, 32, "U-Net level 1"},
        {4, 64, 3, 3, 1, 1, 1, 2, 32, 32, "U-Net input"},
        {64, 4, 3, 3, 1, 1, 1, 2, 32, 32, "U-Net output"},
        {128, 128, 3, 3, 1, 1, 1, 1, 8, 8, "U-Net level 3, one sample"},
        {256, 128, 3, 3, 1, 1, 1, 2, 8, 8, "U-Net skip concatenation"},
        {70, 37, 3, 3, 1, 1, 1, 2, 9, 11, "channels off the tiles"},
        {17, 130, 3, 3, 1, 1, 1, 1, 5, 3, "three row tiles, small image"},
        {5, 3, 3, 3, 1, 1, 1, 1, 1, 1, "1x1 image"},
        {3, 5, 5, 5, 1, 2, 2, 2, 6, 7, "5x5"},
        {9, 20, 3, 3, 1, 0, 0, 3, 4, 4, "no padding"},
        {6, 8, 2, 2, 1, 1, 1, 2, 7, 5, "even kernel, padded"},
        {7, 9, 1, 3, 1, 0, 1, 2, 6, 9, "1x3 kernel"},
        {48, 32, 3, 3, 1, 1, 1, 2, 6, 10, "tap-major forward, per-row weight gradient"},
        {16, 16, 5, 5, 1, 2, 2, 1, 9, 9, "tap-major 5x5"},
        {64, 20, 1, 3, 1, 0, 1, 2, 5, 7, "tap-major 1x3, two 16-row tiles"},
        {24, 128, 3, 3, 1, 1, 1, 34, 32, 32, "128-row tiles (enough of them), per-row loads"},
        {32, 128, 3, 3, 1, 1, 1, 34, 32, 32, "128-row tiles, tap-major"},
        /* the TF32 and bf16 forward: K rounded up to its 32-deep tiles, the
           patch gathered 16 channels of one tap at a time */
        {48, 160, 3, 3, 1, 1, 1, 66, 15, 17, "128-row tiles, a partial one, odd image"},
        {16, 24, 3, 3, 1, 1, 1, 1, 5, 13, "tap-major in 16-channel pieces, one sample"},
        {64, 64, 3, 3, 2, 1, 1, 2, 16, 16, "downsample"},
        {5, 6, 3, 3, 2, 1, 1, 3, 7, 9, "stride 2, odd image"},
        {48, 40, 3, 3, 1, 1, 1, 3, 6, 10, "wide weight-gradient tiles, 16-byte gy, per-row loads"},
        {24, 130, 3, 3, 1, 1, 1, 2, 4, 6, "wide weight-gradient tiles, 128 rows, two row tiles"},
        {64, 32, 3, 3, 1, 1, 1, 3, 3, 4, "16-byte gy, the last tile of positions cut short"},
        {128, 72, 3, 3, 2, 1, 1, 2, 10, 8, "stride 2, 16-byte gy, tap-major 128 wide"},
        {6, 8, 1, 1, 2, 0, 0, 2, 7, 6, "1x1 stride 2: classes no tap reaches"},
        {8, 12, 4, 4, 2, 1, 1, 2, 9, 8, "4x4 stride 2"},
        {5, 7, 3, 3, 3, 0, 0, 2, 10, 11, "stride 3, the last row and column cropped"},
        {24, 32, 5, 5, 2, 2, 2, 2, 11, 12, "5x5 stride 2, tap-major classes"},
        {3, 4, 5, 5, 5, 0, 0, 2, 15, 16, "stride 5: 25 classes, the column path"},
        {64, 64, 3, 3, 1, 1, 1, 3, 4, 4, "weight gradient from row segments 4 wide"},
        {128, 96, 3, 3, 1, 1, 1, 2, 16, 16, "row segments, two channel blocks, 96 rows"},
        {64, 64, 5, 3, 1, 2, 1, 2, 8, 8, "row segments, 5 kernel rows"},
        {64, 80, 3, 3, 1, 1, 1, 2, 6, 32, "row segments, 6x32 image"},
    };
    for (size_t i = 0; i < CT_COUNTOF(cs); i++) {
        /* The 34-sample cases (the forward's 128-row tiles, the weight
           gradient's wide ones by default anyway) once: the CPU twin's
           cost. */
        if (*tag && cs[i].n > 8) continue;
        ct_conv_cfg c = ct_conv_cfg_2d(cs[i].cin, cs[i].cout, cs[i].kh, cs[i].s, cs[i].ph);
        c.k[2] = cs[i].kw;
        c.pad[2] = cs[i].pw;
        snprintf(name, sizeof name, "conv2d %d->%d k%dx%d s%d p%dx%d (%s)%s", c.cin, c.cout, cs[i].kh,
                 cs[i].kw, cs[i].s, cs[i].ph, cs[i].pw, cs[i].what, tag);
        layer_case(name, ct_conv_new(&c, &rng, &err), randn4(cs[i].n, c.cin, cs[i].h, cs[i].w));
    }
    ct_conv_cfg c = ct_conv_cfg_2d(6, 16, 3, 2, 1);
    c.stride[2] = 1;
    snprintf(name, sizeof name, "conv2d 6->16 3x3 s2x1 p1 (classes by rows alone)%s", tag);
    layer_case(name, ct_conv_new(&c, &rng, &err), randn4(2, 6, 9, 7));
}

/* The convolutions again with columns cut into chunks of a few samples
   (CRYSTENS_CUDA_CONV_CHUNK, read at each call). */
static void chunked_cases(void)
{
    ct_error err;
    setenv("CRYSTENS_CUDA_CONV_CHUNK", "3000", 1);
    ct_conv_cfg c = ct_conv_cfg_2d(5, 7, 3, 1, 1);
    layer_case("conv2d 5->7 3x3 in chunks", ct_conv_new(&c, &rng, &err), randn4(7, 5, 8, 8));
    c.transposed = 1;
    c.stride[1] = c.stride[2] = 2;
    c.outpad[1] = c.outpad[2] = 1;
    layer_case("convtranspose2d 5->7 3x3 s2 in chunks", ct_conv_new(&c, &rng, &err), randn4(7, 5, 6, 6));
    c = ct_conv_cfg_2d(6, 4, 1, 1, 0);
    layer_case("conv2d 6->4 1x1 in chunks", ct_conv_new(&c, &rng, &err), randn4(9, 6, 10, 10));
    unsetenv("CRYSTENS_CUDA_CONV_CHUNK");
}

static void norm_cases(void)
{
    ct_error err;
    char name[128];
    /* At least 3 values share each statistic: with 2, the input gradient
       is exactly 0 and both sides give only rounding noise (~1e-7 of the
       terms that cancel), which no relative tolerance can compare. */
    int C = rnd(1, 12);
    layer_case("batchnorm (training), 2-D", ct_batchnorm_new(C, 1e-5f, 0.1f, &err), randn(2, (int64_t[]){rnd(3, 40), C}));
    C = rnd(1, 12);
    layer_case("batchnorm (training)", ct_batchnorm_new(C, 1e-5f, 0.1f, &err), randn4(rnd(1, 20), C, rnd(1, 9), rnd(3, 9)));
    ct_layer *bn = ct_batchnorm_new(6, 1e-5f, 0.2f, &err);
    ct_tensor_randn(bn->buffers[0].w, &rng, 0.0f, 0.5f);
    ct_tensor_rand(bn->buffers[1].w, &rng, 0.5f, 2.0f);
    ct_tensor_randn(bn->params[0].w, &rng, 1.0f, 0.3f);
    bn->training = 0;
    layer_case("batchnorm (eval: running statistics)", bn, randn4(5, 6, 4, 3));
    layer_case("batchnorm on 5-D", ct_batchnorm_new(3, 1e-5f, 0.1f, &err), randn5(2, 3, 3, 4, 5));
    layer_case("batchnorm, 40 samples (more segments than warps)", ct_batchnorm_new(2, 1e-5f, 0.1f, &err),
               randn4(40, 2, 5, 5));
    const int gc[][2] = {{8, 64}, {4, 4}, {3, 12}, {1, 5}, {16, 16}};
    for (size_t i = 0; i < CT_COUNTOF(gc); i++) {
        int G = gc[i][0], Cg = gc[i][1], H = rnd(1, 20), W = rnd(3, 20);
        snprintf(name, sizeof name, "groupnorm %d groups of %d", G, Cg / G);
        ct_layer *gn = ct_groupnorm_new(G, Cg, 1e-5f, &err);
        ct_tensor_randn(gn->params[0].w, &rng, 1.0f, 0.3f);
        ct_tensor_randn(gn->params[1].w, &rng, 0.0f, 0.3f);
        layer_case(name, gn, randn4(rnd(1, 4), Cg, H, W));
    }
    layer_case("groupnorm on 32x32 (U-Net level 1)", ct_groupnorm_new(8, 64, 1e-5f, &err), randn4(2, 64, 32, 32));
    for (int t = 0; t < 3; t++) {
        int64_t sh[3] = {rnd(1, 6), rnd(1, 6), rnd(3, 40)};
        int nd = t + 1;
        ct_layer *ln = ct_layernorm_new(nd, sh + 3 - nd, 1e-5f, &err);
        ct_tensor_randn(ln->params[0].w, &rng, 1.0f, 0.3f);
        ct_tensor_randn(ln->params[1].w, &rng, 0.0f, 0.3f);
        int64_t xs[4] = {rnd(1, 6)};
        memcpy(xs + 1, sh + 3 - nd, (size_t)nd * sizeof *xs);
        snprintf(name, sizeof name, "layernorm over %d dimension%s", nd, nd > 1 ? "s" : "");
        layer_case(name, ln, randn(nd + 1, xs));
    }
    gns_case("groupnorm_silu with shift", rnd(1, 4), 32, 8, rnd(2, 17), rnd(2, 17), 1, 0);
    gns_case("groupnorm_silu without shift, a gradient to add", 2, 12, 3, 5, 7, 0, 1);
    gns_case("groupnorm_silu with shift, 64 channels on 32x32", 2, 64, 8, 32, 32, 1, 0);
    /* The cluster path (gn_plan in cu_norm.cu): a group split over 8 blocks
       of 512 threads (the U-Net's widest group at S = 64, batch 1), over 5
       blocks (a cluster size not a power of 2), 2x2 pictures (3 float4 a
       block), and a group too large for it (the one-block-per-group
       kernels again). */
    gns_case("groupnorm_silu with shift, 24 channels a group on 64x64, batch 1", 1, 192, 8, 64, 64, 1, 0);
    gns_case("groupnorm_silu without shift, 5 channels a group on 64x64, a gradient to add", 3, 10, 2, 64, 64, 0, 1);
    gns_case("groupnorm_silu with shift, 32 channels a group on 8x8, a gradient to add", 3, 256, 8, 8, 8, 1, 1);
    gns_case("groupnorm_silu with shift on 2x2", 2, 12, 4, 2, 2, 1, 0);
    gns_case("groupnorm_silu with shift, a group of 2x128x160, a gradient to add", 1, 8, 4, 128, 160, 1, 1);
    layer_case("groupnorm on 32x32, batch 1", ct_groupnorm_new(8, 64, 1e-5f, &err), randn4(1, 64, 32, 32));
}

static void act_cases(void)
{
    ct_error err;
    static const char *names[] = {"relu", "leaky_relu", "silu", "sigmoid", "tanh"};
    for (int k = 0; k <= CT_ACT_TANH; k++)
        for (int v = 0; v < 2; v++) {   /* odd sizes: the scalar loop; multiples of 4: float4 */
            char name[64];
            int n = rnd(1, 9), m = v ? 4 * rnd(1, 300) : 2 * rnd(1, 300) + 1;
            snprintf(name, sizeof name, "%s on %dx%d", names[k], n, m);
            int64_t s[2] = {n, m};
            layer_case(name, ct_act_new((ct_act_kind)k, 0.1f, &err), randn(2, s));
        }
}

static void misc_cases(void)
{
    ct_error err;
    layer_case("upsample x2 (2-D)", ct_upsample_new(2, &err), randn4(rnd(1, 4), rnd(1, 6), rnd(1, 9), rnd(1, 9)));
    layer_case("upsample x2 (3-D)", ct_upsample_new(2, &err), randn5(2, 3, rnd(1, 4), rnd(1, 5), rnd(1, 5)));
    layer_case("upsample x3 (1-D)", ct_upsample_new(3, &err), randn(3, (int64_t[]){2, 3, rnd(1, 9)}));
    layer_case("upsample x2 (2-D, U-Net 16x16)", ct_upsample_new(2, &err), randn4(3, 32, 16, 16));
    for (int t = 0; t < 3; t++) {
        char name[64];
        int c = rnd(1, 24), h = rnd(1, 9), w = rnd(1, 9);
        snprintf(name, sizeof name, "attention c=%d over %dx%d", c, h, w);
        layer_case(name, ct_attention_new(c, &rng, &err), randn4(rnd(1, 4), c, h, w));
    }
    layer_case("attention c=64 over 8x8 (U-Net)", ct_attention_new(64, &rng, &err), randn4(3, 64, 8, 8));
    /* Bias gradients over slices of the samples (cu_channel_sums_add),
       float4 rows and odd ones. */
    layer_case("attention c=16 over 4x4, batch 200", ct_attention_new(16, &rng, &err), randn4(200, 16, 4, 4));
    layer_case("attention c=8 over 5x3, batch 301", ct_attention_new(8, &rng, &err), randn4(301, 8, 5, 3));
    for (int dim = 2; dim <= 64; dim *= 4) {
        char name[64];
        int n = rnd(1, 30);
        snprintf(name, sizeof name, "time_embedding dim %d, %d steps", dim, n);
        ct_tensor *t = ct_tensor_new(1, (int64_t[]){n}, &err);
        ct_tensor_rand(t, &rng, 0.0f, 1000.0f);
        layer_case(name, ct_timeembed_new(dim, 10000.0f, &err), t);
    }
    int64_t ls[2] = {rnd(1, 9), rnd(1, 70)};
    layer_case("linear", ct_linear_new((int)ls[1], rnd(1, 70), 1, &rng, &err), randn(2, ls));
    layer_case("linear without bias", ct_linear_new((int)ls[1], rnd(1, 70), 0, &rng, &err), randn(2, ls));
    layer_case("linear, batch 300 (bias sums over slices of the rows)", ct_linear_new(24, 40, 1, &rng, &err),
               randn(2, (int64_t[]){300, 24}));
}

/* The layer kinds' makers for same_errors. */
static ct_layer *mk_linear(ct_error *e) { return ct_linear_new(4, 3, 1, &rng, e); }
static ct_layer *mk_upsample(ct_error *e) { return ct_upsample_new(2, e); }
static ct_layer *mk_attention(ct_error *e) { return ct_attention_new(4, &rng, e); }
static ct_layer *mk_timeembed(ct_error *e) { return ct_timeembed_new(8, 1000.0f, e); }
static ct_layer *mk_batchnorm(ct_error *e) { return ct_batchnorm_new(4, 1e-5f, 0.1f, e); }
static ct_layer *mk_groupnorm(ct_error *e) { return ct_groupnorm_new(2, 4, 1e-5f, e); }
static ct_layer *mk_gns(ct_error *e) { return ct_groupnorm_silu_new(2, 4, 1e-5f, e); }
static ct_layer *mk_silu(ct_error *e) { return ct_act_new(CT_ACT_SILU, 0, e); }
static ct_layer *mk_layernorm(ct_error *e)
{
    return ct_layernorm_new(2, (int64_t[]){3, 4}, 1e-5f, e);
}

/* Layer make() on both devices: the input bad (bn dimensions; none when
   bn is 0), then a gradient one longer in the last dimension than the
   output of the input good, fail on the GPU with the CPU's status and
   message (both sides start from one function per kind, ct_layers.h). */
static void same_errors(const char *name, ct_layer *(*make)(ct_error *), int bn,
                        const int64_t *bad, int gn, const int64_t *good)
{
    ct_error cerr, gerr;
    ct_layer *lc = make(&cerr), *lg = make(&gerr);
    ct_tensor *g0[CT_MAXPARAMS] = {0}, *b0[CT_MAXBUFFERS] = {0}, *yc = NULL, *yg = NULL;
    start_state(lg, g0, b0);
    move_to_gpu(lg, g0, b0);
    if (bn) {
        ct_tensor *x = randn(bn, bad), *xd = to_dev(x);
        int rc = ct_layer_forward(lc, x, &yc, &cerr), rg = ct_layer_forward(lg, xd, &yg, &gerr);
        ok(rc == CT_EINVAL && rg == rc && !yg && !strcmp(cerr.msg, gerr.msg),
           "%s: a wrong input fails on the GPU as on the CPU: %s", name, gerr.msg);
        ct_tensor_free(x);
        ct_tensor_free(xd);
    }
    ct_tensor *x = randn(gn, good), *xd = to_dev(x);
    int rc = ct_layer_forward(lc, x, &yc, &cerr), rg = ct_layer_forward(lg, xd, &yg, &gerr);
    if (ok(rc == CT_OK && rg == CT_OK, "%s: forward on both devices", name)) {
        int64_t s[CT_MAXDIM];
        memcpy(s, yc->shape, sizeof s);
        s[yc->ndim - 1]++;
        ct_tensor *gy = randn(yc->ndim, s), *gyd = to_dev(gy), *gxc = NULL, *gxg = NULL;
        rc = ct_layer_backward(lc, gy, &gxc, &cerr);
        rg = ct_layer_backward(lg, gyd, &gxg, &gerr);
        ok(rc == CT_EINVAL && rg == rc && !gxg && !strcmp(cerr.msg, gerr.msg),
           "%s: a gradient of the wrong shape fails on the GPU as on the CPU: %s", name, gerr.msg);
        ct_tensor_free(gy);
        ct_tensor_free(gyd);
    }
    for (int p = 0; p < CT_MAXPARAMS; p++) ct_tensor_free(g0[p]);
    for (int b = 0; b < CT_MAXBUFFERS; b++) ct_tensor_free(b0[b]);
    ct_tensor_free(yc);
    ct_tensor_free(yg);
    ct_tensor_free(x);
    ct_tensor_free(xd);
    ct_layer_free(lc);
    ct_layer_free(lg);
}

static void same_error_cases(void)
{
    same_errors("linear", mk_linear, 2, (int64_t[]){2, 5}, 2, (int64_t[]){2, 4});
    same_errors("upsample", mk_upsample, 2, (int64_t[]){2, 3}, 4, (int64_t[]){1, 2, 3, 3});
    same_errors("attention", mk_attention, 4, (int64_t[]){1, 3, 2, 2}, 4, (int64_t[]){1, 4, 2, 2});
    same_errors("time_embedding", mk_timeembed, 2, (int64_t[]){2, 1}, 1, (int64_t[]){3});
    /* batchnorm in training: one value per channel is too few */
    same_errors("batchnorm", mk_batchnorm, 2, (int64_t[]){1, 4}, 3, (int64_t[]){2, 4, 3});
    same_errors("groupnorm", mk_groupnorm, 3, (int64_t[]){2, 3, 5}, 3, (int64_t[]){2, 4, 5});
    same_errors("groupnorm_silu", mk_gns, 3, (int64_t[]){2, 3, 5}, 4, (int64_t[]){2, 4, 2, 2});
    same_errors("layernorm", mk_layernorm, 3, (int64_t[]){2, 4, 3}, 3, (int64_t[]){2, 3, 4});
    same_errors("silu", mk_silu, 0, NULL, 2, (int64_t[]){3, 5});
}

/* What goes wrong says so, as on the CPU. */
static void error_cases(void)
{
    ct_error err, cerr;
    ct_layer *l = ct_linear_new(4, 3, 1, &rng, &err);
    ct_tensor *x = randn(2, (int64_t[]){2, 4}), *xd = to_dev(x), *y = NULL;
    int rc = ct_layer_forward(l, xd, &y, &err);
    ok(rc != CT_OK && !y && strstr(err.msg, "move the model"),
       "a GPU input to a layer whose parameters are on the CPU: %s", err.msg);
    for (int p = 0; p < l->nparams; p++) replace(&l->params[p].w, to_dev(l->params[p].w)),
                                         replace(&l->params[p].g, to_dev(l->params[p].g));
    ct_tensor *bad = randn(2, (int64_t[]){2, 5}), *badd = to_dev(bad);
    ct_layer *lc = ct_linear_new(4, 3, 1, &rng, &cerr);
    ct_layer_forward(lc, bad, &y, &cerr);
    rc = ct_layer_forward(l, badd, &y, &err);
    ok(rc == CT_EINVAL && !strcmp(err.msg, cerr.msg), "a wrong shape on the GPU: the CPU's message (%s)", err.msg);
    ct_conv_cfg c = ct_conv_cfg_2d(3, 4, 5, 1, 0);
    ct_layer *cv = ct_conv_new(&c, &rng, &err), *cc = ct_conv_new(&c, &rng, &cerr);
    for (int p = 0; p < cv->nparams; p++) replace(&cv->params[p].w, to_dev(cv->params[p].w)),
                                          replace(&cv->params[p].g, to_dev(cv->params[p].g));
    ct_tensor *small = randn4(1, 3, 3, 3), *smalld = to_dev(small);
    ct_layer_forward(cc, small, &y, &cerr);
    rc = ct_layer_forward(cv, smalld, &y, &err);
    ok(rc == CT_EINVAL && !strcmp(err.msg, cerr.msg), "an input smaller than the kernel: %s", err.msg);
    ct_tensor *gy = to_dev(x);
    rc = ct_layer_backward(cv, gy, &y, &err);
    ok(rc == CT_EINVAL, "backward before forward fails: %s", err.msg);
    ct_tensor *gyd = NULL;
    ct_tensor *ok_in = randn4(1, 3, 6, 6), *ok_ind = to_dev(ok_in);
    rc = ct_layer_forward(cv, ok_ind, &y, &err);
    gyd = to_dev(ok_in);
    ct_tensor *gx = NULL;
    int rc2 = ct_layer_backward(cv, gyd, &gx, &err);
    ok(rc == CT_OK && rc2 == CT_EINVAL && strstr(err.msg, "gradient is"),
       "a gradient of the wrong shape on the GPU: %s", err.msg);
    ct_tensor_free(y);
    ct_tensor_free(gx);
    ct_tensor_free(gyd);
    ct_tensor_free(ok_in);
    ct_tensor_free(ok_ind);
    ct_tensor_free(gy);
    ct_tensor_free(small);
    ct_tensor_free(smalld);
    ct_tensor_free(bad);
    ct_tensor_free(badd);
    ct_tensor_free(x);
    ct_tensor_free(xd);
    ct_layer_free(l);
    ct_layer_free(lc);
    ct_layer_free(cv);
    ct_layer_free(cc);
    same_error_cases();
}

int main(int argc, char **argv)
{
    ct_error err;
    const char *env = getenv("CT_TEST_SEED");
    unsigned long seed = argc > 1 ? strtoul(argv[1], NULL, 10) : env ? strtoul(env, NULL, 10) : 20261206;
    int conv_only = argc > 2 && !strcmp(argv[2], "conv");
    int norm_only = argc > 2 && !strcmp(argv[2], "norm");
    printf("# seed %lu (rerun with: test_cuda_layers %lu)\n", seed, seed);
    if (!(cu = ct_cuda(&err))) {
        printf("1..0 # SKIP %s\n", err.msg);
        return 0;
    }
    ct_device_info info;
    if (cu->device_info(0, &info, &err) == CT_OK)
        printf("# device: %s (sm_%d%d)\n", info.name, info.major, info.minor);
    static const struct { ct_precision p; const char *name; double tol; } precs[] = {
        {CT_PREC_FP32, "fp32", 1e-4}, {CT_PREC_TF32, "tf32", 1e-2}, {CT_PREC_BF16, "bf16", 5e-2}};
    for (size_t i = 0; i < CT_COUNTOF(precs); i++) {
        if (cu->set_precision(precs[i].p, &err) != CT_OK) {
            printf("# precision %s not offered: %s\n", precs[i].name, err.msg);
            continue;
        }
        prec_name = precs[i].name;
        tol = precs[i].tol;
        ct_rng_seed(&rng, seed + i);
        if (norm_only) {
            misc_cases();
            norm_cases();
            act_cases();
            break;
        }
        conv_cases();
        igemm_cases("");
        if (i > 0) {   /* the weight gradient's other kernels (fp32 has no others) */
            setenv("CRYSTENS_CUDA_CONV_WGRAD", "wide", 1);
            igemm_cases(", weight gradient without row segments");
            setenv("CRYSTENS_CUDA_CONV_WGRAD", "narrow", 1);
            igemm_cases(", narrow weight-gradient tiles");
            unsetenv("CRYSTENS_CUDA_CONV_WGRAD");
        }
        if (!conv_only) misc_cases();
        /* The column path of the 2-D convolutions (the implicit-GEMM
           kernels off); in fp32 also the other backward (columns of gx +
           col2im), which stride-1 convolutions otherwise skip, and columns
           cut into chunks: fp32 is enough for these two. */
        setenv("CRYSTENS_CUDA_CONV_IGEMM", "0", 1);
        conv_cases();
        if (i == 0) {
            setenv("CRYSTENS_CUDA_CONV_COL2IM", "1", 1);
            conv_cases();
            unsetenv("CRYSTENS_CUDA_CONV_COL2IM");
            chunked_cases();
        }
        unsetenv("CRYSTENS_CUDA_CONV_IGEMM");
        if (i == 0 && !conv_only) {   /* no GEMMs: once is enough */
            norm_cases();
            act_cases();
            error_cases();
        }
    }
    cu->set_precision(CT_PREC_FP32, &err);
    ct_nn_workspace_release();
    return tap_done();
}
