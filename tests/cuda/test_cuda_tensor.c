/*
 * test_cuda_tensor.c - the CUDA backend's tensor ops, losses and optimizer
 * against their CPU twins, on random shapes (seed printed; CT_TEST_SEED
 * replays one), plus device memory, views, moves and the errors.
 *
 * Needs a GPU; without one (no CUDA build, no driver, no device) it plans
 * nothing and says why, so `make check-cuda` elsewhere reports 0 tests.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../c/tap.h"
#include "ct_backend.h"
#include "ct_nn.h"
#include "ct_tensor_ops.h"

static const ct_cuda_api *cu;
static ct_rng rng;

static int64_t rnd(int lo, int hi) { return lo + (int64_t)ct_rng_below(&rng, (uint64_t)(hi - lo + 1)); }

static ct_tensor *cpu_randn(int nd, const int64_t *shape)
{
    ct_error err;
    ct_tensor *t = ct_tensor_new(nd, shape, &err);
    ct_tensor_randn(t, &rng, 0.0f, 1.0f);
    return t;
}

static ct_tensor *to_gpu(const ct_tensor *t)
{
    ct_error err;
    ct_tensor *g = ct_tensor_to(t, CT_DEV_CUDA, &err);
    if (!g) {
        printf("# to_gpu: %s\n", err.msg);
        exit(1);
    }
    return g;
}

/* max |gpu - cpu| / (1 + |cpu|) over the elements; +inf on a shape mismatch. */
static double rel_diff(const ct_tensor *gpu, const ct_tensor *cpu)
{
    ct_error err;
    if (!gpu || !cpu || gpu->numel != cpu->numel) return INFINITY;
    ct_tensor *h = ct_tensor_to(gpu, CT_DEV_CPU, &err);
    if (!h) return INFINITY;
    double m = 0;
    for (size_t i = 0; i < h->numel; i++) {
        double a = h->data[i], b = cpu->data[i];
        if (isnan(a) != isnan(b)) {
            m = INFINITY;
            break;
        }
        if (isnan(a)) continue;
        double d = fabs(a - b) / (1 + fabs(b));
        if (d > m) m = d;
    }
    ct_tensor_free(h);
    return m;
}

#define CLOSE(gpu, cpu, tol, ...)                                                   \
    do {                                                                            \
        double d_ = rel_diff(gpu, cpu);                                             \
        if (!ok(d_ <= (tol), __VA_ARGS__)) printf("#   relative difference %g (tolerance %g)\n", d_, (double)(tol)); \
    } while (0)

/* vec: a size that is a multiple of 4 (same-shape ops take 4 elements a
   thread), else an odd one (one a thread). */
static void test_binary(int vec)
{
    ct_error err;
    int64_t n = 2 * rnd(0, 2) + 1, c = 2 * rnd(0, 3) + 1, h = 2 * rnd(0, 4) + 1;
    int64_t w = vec ? 4 * rnd(1, 8) : 2 * rnd(0, 16) + 1;
    int64_t s4[4] = {n, c, h, w};
    ct_tensor *a = cpu_randn(4, s4);
    /* b shapes: same, per channel, per sample, one value, one row, and one
       that repeats in no single block (the general path). */
    int64_t bs[7][4] = {{n, c, h, w}, {c, 1, 1}, {n, 1, 1, 1}, {1}, {w}, {1, c, 1, w}, {n, c, 1, 1}};
    int bnd[7] = {4, 3, 4, 1, 1, 4, 4};
    const char *bname[7] = {"same shape", "C×1×1", "N×1×1×1", "one value", "a row", "1×C×1×W",
                            "N×C×1×1"};
    for (int k = 0; k < 7; k++) {
        ct_tensor *b = cpu_randn(bnd[k], bs[k]);
        ct_tensor *ga = to_gpu(a), *gb = to_gpu(b);
        for (int op = CT_OP_ADD; op <= CT_OP_POW; op++) {
            ct_tensor *aa = a;
            ct_tensor *pa = NULL, *gpa = NULL;
            if (op == CT_OP_POW) {   /* positive bases only */
                pa = ct_tensor_clone(a, &err);
                ct_tensor_unary(pa, pa, CT_OP_ABS, &err);
                ct_tensor_scalar(pa, pa, 0.1f, CT_OP_ADD, 0, &err);
                gpa = to_gpu(pa);
                aa = pa;
            }
            ct_tensor *want = ct_tensor_new_like(a, &err);
            ct_tensor *got = ct_tensor_new_on(CT_DEV_CUDA, 4, s4, &err);
            ct_tensor_binary(want, aa, b, (ct_binop)op, &err);
            int rc = ct_tensor_binary(got, gpa ? gpa : ga, gb, (ct_binop)op, &err);
            ok(rc == CT_OK, "binary op %d, b %s: runs", op, bname[k]);
            CLOSE(got, want, 1e-5, "binary op %d on %lldx%lldx%lldx%lld, b %s", op,
                  (long long)n, (long long)c, (long long)h, (long long)w, bname[k]);
            ct_tensor_free(want);
            ct_tensor_free(got);
            ct_tensor_free(pa);
            ct_tensor_free(gpa);
        }
        ct_tensor_free(ga);
        ct_tensor_free(gb);
        ct_tensor_free(b);
    }
    /* In place, as t:add_(u) does. */
    ct_tensor *b = cpu_randn(4, s4), *ga = to_gpu(a), *gb = to_gpu(b), *want = ct_tensor_clone(a, &err);
    ct_tensor_binary(want, want, b, CT_OP_ADD, &err);
    ct_tensor_binary(ga, ga, gb, CT_OP_ADD, &err);
    CLOSE(ga, want, 1e-6, "in-place add");
    /* Devices mixed: an error, not a crash. */
    ok(ct_tensor_binary(ga, ga, b, CT_OP_ADD, &err) == CT_EINVAL && strstr(err.msg, "devices"),
       "cpu and cuda operands: %s", err.msg);
    ct_tensor_free(a);
    ct_tensor_free(b);
    ct_tensor_free(ga);
    ct_tensor_free(gb);
    ct_tensor_free(want);
}

static void test_elementwise(void)
{
    ct_error err;
    int64_t s[3] = {rnd(1, 9), rnd(1, 40), rnd(1, 300)};
    ct_tensor *a = cpu_randn(3, s), *b = cpu_randn(3, s);
    ct_tensor *ga = to_gpu(a), *gb = to_gpu(b);
    ct_tensor *want = ct_tensor_new_like(a, &err), *got = ct_tensor_new_like(ga, &err);
    ok(got->device == CT_DEV_CUDA, "new_like keeps the device");
    for (int op = CT_OP_ADD; op <= CT_OP_MIN; op++)
        for (int first = 0; first < 2; first++) {
            ct_tensor_scalar(want, a, 1.5f, (ct_binop)op, first, &err);
            ct_tensor_scalar(got, ga, 1.5f, (ct_binop)op, first, &err);
            CLOSE(got, want, 1e-6, "scalar op %d (scalar first %d)", op, first);
        }
    ct_tensor *pos = ct_tensor_clone(a, &err);
    ct_tensor_unary(pos, pos, CT_OP_ABS, &err);
    ct_tensor_scalar(pos, pos, 0.01f, CT_OP_ADD, 0, &err);
    ct_tensor *gpos = to_gpu(pos);
    for (int op = CT_OP_NEG; op <= CT_OP_SIGMOID; op++) {
        int needs_pos = op == CT_OP_SQRT || op == CT_OP_LOG;
        ct_tensor_unary(want, needs_pos ? pos : a, (ct_unop)op, &err);
        ct_tensor_unary(got, needs_pos ? gpos : ga, (ct_unop)op, &err);
        CLOSE(got, want, 2e-6, "unary op %d", op);
    }
    ct_tensor_clamp(want, a, -0.5f, 0.25f, &err);
    ct_tensor_clamp(got, ga, -0.5f, 0.25f, &err);
    CLOSE(got, want, 0, "clamp");
    ct_tensor_fill(want, 2.5f);
    ct_tensor_fill(got, 2.5f);
    CLOSE(got, want, 0, "fill");
    ct_tensor_fill(got, 0.0f);
    ct_tensor_fill(want, 0.0f);
    CLOSE(got, want, 0, "fill with 0");
    /* copy: host to device, device to device, device to host */
    ok(ct_tensor_copy(got, a, &err) == CT_OK, "copy cpu -> cuda");
    CLOSE(got, a, 0, "copy cpu -> cuda: the values");
    ct_tensor *g2 = ct_tensor_new_like(ga, &err);
    ct_tensor_copy(g2, got, &err);
    ct_tensor_copy(want, g2, &err);
    CLOSE(got, want, 0, "copy cuda -> cuda -> cpu");
    double ws = ct_tensor_sum(a), gs = ct_tensor_sum(ga);
    near(gs, ws, 1e-9 * (1 + fabs(ws)) + 1e-9 * (double)a->numel, "sum");
    double wd = ct_tensor_dot(a, b), gd = ct_tensor_dot(ga, gb);
    near(gd, wd, 1e-9 * (double)a->numel + 1e-9, "dot");
    ct_tensor_stats st_c, st_g;
    a->data[0] = NAN;
    a->data[a->numel - 1] = INFINITY;
    ct_tensor *gnan = to_gpu(a);
    ct_tensor_stats_of(a, &st_c);
    ct_tensor_stats_of(gnan, &st_g);
    ok(st_c.min == st_g.min && st_c.max == st_g.max && st_c.nonfinite == st_g.nonfinite &&
           fabs(st_c.mean - st_g.mean) < 1e-9,
       "stats with NaN and Inf: min %g/%g max %g/%g nonfinite %zu/%zu", (double)st_g.min,
       (double)st_c.min, (double)st_g.max, (double)st_c.max, st_g.nonfinite, st_c.nonfinite);
    ct_tensor *arr[] = {a, b, ga, gb, want, got, pos, gpos, g2, gnan};
    for (size_t i = 0; i < CT_COUNTOF(arr); i++) ct_tensor_free(arr[i]);
}

static void test_sum_to_cat_slice(void)
{
    ct_error err;
    int64_t n = rnd(1, 6), c = rnd(1, 9), h = rnd(1, 17), w = rnd(1, 17);
    int64_t s[4] = {n, c, h, w};
    ct_tensor *a = cpu_randn(4, s), *ga = to_gpu(a);
    int64_t outs[5][4] = {{n, c, 1, 1}, {c, 1, 1}, {1}, {n, 1, 1, 1}, {1, c, h, 1}};
    int ond[5] = {4, 3, 1, 4, 4};
    for (int k = 0; k < 5; k++) {
        ct_tensor *want = ct_tensor_new(ond[k], outs[k], &err);
        ct_tensor *got = ct_tensor_new_on(CT_DEV_CUDA, ond[k], outs[k], &err);
        ct_tensor_sum_to(want, a, &err);
        ok(ct_tensor_sum_to(got, ga, &err) == CT_OK, "sum_to %d runs", k);
        /* The CPU twin adds each output's terms in float, in order (the
           fused groupnorm_silu relies on that), the GPU in double: the
           reference's own rounding error grows with the terms per output
           (up to 15,606 here), a wrong or missing term is of order 1. */
        double terms = (double)a->numel / (double)want->numel;
        double tol = 1e-5 + terms * (double)FLT_EPSILON;
        CLOSE(got, want, tol, "sum_to shape %d of %lldx%lldx%lldx%lld", k, (long long)n,
              (long long)c, (long long)h, (long long)w);
        ct_tensor_free(want);
        ct_tensor_free(got);
    }
    for (int dim = 0; dim < 4; dim++) {
        const ct_tensor *cs[3], *gs[3];
        ct_tensor *own[6];
        for (int i = 0; i < 3; i++) {
            int64_t si[4] = {n, c, h, w};
            si[dim] = rnd(1, 5);
            own[i] = cpu_randn(4, si);
            own[3 + i] = to_gpu(own[i]);
            cs[i] = own[i];
            gs[i] = own[3 + i];
        }
        ct_tensor *want = ct_tensor_cat(cs, 3, dim, &err), *got = ct_tensor_cat(gs, 3, dim, &err);
        ok(got && got->device == CT_DEV_CUDA, "cat along %d on the GPU", dim + 1);
        CLOSE(got, want, 0, "cat along dimension %d", dim + 1);
        int64_t len = want->shape[dim] > 1 ? rnd(1, (int)want->shape[dim] - 1) : 1;
        int64_t start = rnd(0, (int)(want->shape[dim] - len));
        ct_tensor *sw = ct_tensor_slice(want, dim, start, len, &err);
        ct_tensor *sg = ct_tensor_slice(got, dim, start, len, &err);
        CLOSE(sg, sw, 0, "slice %lld+%lld of dimension %d", (long long)start, (long long)len,
              dim + 1);
        ct_tensor_free(want);
        ct_tensor_free(got);
        ct_tensor_free(sw);
        ct_tensor_free(sg);
        for (int i = 0; i < 6; i++) ct_tensor_free(own[i]);
    }
    ct_tensor_free(a);
    ct_tensor_free(ga);
}

static void test_matmul(void)
{
    ct_error err;
    const char *names[3] = {"fp32", "tf32", "bf16"};
    const double tol[3] = {1e-5, 3e-3, 2e-2};
    for (int p = 0; p < 3; p++) {
        int64_t m = rnd(1, 200), k = rnd(1, 300), n = rnd(1, 200);
        int64_t sa[2] = {m, k}, sb[2] = {k, n};
        ct_tensor *a = cpu_randn(2, sa), *b = cpu_randn(2, sb), *ga = to_gpu(a), *gb = to_gpu(b);
        ok(cu->set_precision((ct_precision)p, &err) == CT_OK, "precision %s", names[p]);
        ct_tensor *want = ct_tensor_matmul(a, b, &err), *got = ct_tensor_matmul(ga, gb, &err);
        /* Scale by sqrt(k): each entry sums k products of unit normals. */
        ct_tensor_scalar(want, want, 1.0f / sqrtf((float)k), CT_OP_MUL, 0, &err);
        ct_tensor_scalar(got, got, 1.0f / sqrtf((float)k), CT_OP_MUL, 0, &err);
        CLOSE(got, want, tol[p], "matmul %lldx%lld · %lldx%lld in %s", (long long)m, (long long)k,
              (long long)k, (long long)n, names[p]);
        ct_tensor *arr[] = {a, b, ga, gb, want, got};
        for (size_t i = 0; i < CT_COUNTOF(arr); i++) ct_tensor_free(arr[i]);
    }
    cu->set_precision(CT_PREC_FP32, &err);
}

static void test_random(void)
{
    ct_error err;
    int64_t s[1] = {1000003};
    ct_tensor *u = ct_tensor_new_on(CT_DEV_CUDA, 1, s, &err), *g = ct_tensor_new_on(CT_DEV_CUDA, 1, s, &err);
    ct_rng r1, r2;
    ct_rng_seed(&r1, 5);
    ct_rng_seed(&r2, 5);
    ct_tensor_rand(u, &r1, -2.0f, 3.0f);
    ct_tensor_stats st;
    ct_tensor_stats_of(u, &st);
    ok(st.min >= -2.0f && st.max < 3.0f && fabs(st.mean - 0.5) < 0.01,
       "uniform [-2, 3): min %g max %g mean %g", (double)st.min, (double)st.max, st.mean);
    ct_tensor_randn(g, &r1, 1.0f, 2.0f);
    ct_tensor_stats_of(g, &st);
    ct_tensor *sq = ct_tensor_new_like(g, &err);
    ct_tensor_scalar(sq, g, 1.0f, CT_OP_SUB, 0, &err);
    double var = ct_tensor_dot(sq, sq) / (double)g->numel;
    ok(fabs(st.mean - 1.0) < 0.01 && fabs(var - 4.0) < 0.05 && st.nonfinite == 0,
       "normal N(1, 4): mean %g variance %g", st.mean, var);
    ct_tensor *u2 = ct_tensor_new_like(u, &err), *hu = ct_tensor_to(u, CT_DEV_CPU, &err);
    ct_tensor_rand(u2, &r2, -2.0f, 3.0f);
    CLOSE(u2, hu, 0, "the same seed draws the same numbers");
    ct_tensor_rand(u2, &r2, -2.0f, 3.0f);
    ok(rel_diff(u2, hu) > 0.1, "the next draw differs");
    ct_tensor_free(hu);
    ct_tensor_free(u);
    ct_tensor_free(g);
    ct_tensor_free(u2);
    ct_tensor_free(sq);
}

static void test_losses(void)
{
    ct_error err;
    int64_t s[2] = {rnd(1, 64), rnd(1, 100)};
    ct_tensor *p = cpu_randn(2, s), *t = cpu_randn(2, s), *gp = to_gpu(p), *gt = to_gpu(t);
    double lw, lg;
    ct_tensor *dw, *dg;
    ct_loss_mse(p, t, &lw, &dw, &err);
    ok(ct_loss_mse(gp, gt, &lg, &dg, &err) == CT_OK, "mse runs");
    near(lg, lw, 1e-9 * (1 + lw), "mse loss");
    CLOSE(dg, dw, 1e-6, "mse gradient");
    ct_tensor_free(dw);
    ct_tensor_free(dg);
    ct_tensor_rand(t, &rng, 0.0f, 1.0f);
    ct_tensor_scalar(p, p, 8.0f, CT_OP_MUL, 0, &err);   /* logits up to saturation */
    ct_tensor_free(gt);
    ct_tensor_free(gp);
    gt = to_gpu(t);
    gp = to_gpu(p);
    ct_loss_bce_logits(p, t, &lw, &dw, &err);
    ok(ct_loss_bce_logits(gp, gt, &lg, &dg, &err) == CT_OK, "bce_logits runs");
    near(lg, lw, 1e-9 * (1 + lw), "bce_logits loss");
    CLOSE(dg, dw, 1e-6, "bce_logits gradient");
    ct_tensor_free(dw);
    ct_tensor_free(dg);
    ct_loss_wasserstein(p, -1.0f, &lw, &dw, &err);
    ok(ct_loss_wasserstein(gp, -1.0f, &lg, &dg, &err) == CT_OK, "wasserstein runs");
    near(lg, lw, 1e-9 * (1 + fabs(lw)), "wasserstein loss");
    CLOSE(dg, dw, 0, "wasserstein gradient");
    ct_tensor_free(dw);
    ct_tensor_free(dg);
    ok(ct_loss_mse(gp, t, &lg, &dg, &err) == CT_EINVAL, "mse of cuda and cpu: %s", err.msg);
    ct_tensor *arr[] = {p, t, gp, gt};
    for (size_t i = 0; i < CT_COUNTOF(arr); i++) ct_tensor_free(arr[i]);
}

static void test_optim(void)
{
    ct_error err;
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        /* a multiple of 4 (4 parameters a thread), then not */
        int64_t s[1] = {4 * rnd(250, 75000) + decoupled};
        ct_adam_cfg cfg = {1e-2f, 0.9f, 0.99f, 1e-8f, 0.05f, decoupled};
        ct_tensor *w = cpu_randn(1, s), *gw = to_gpu(w);
        ct_adam *a = ct_adam_new(&cfg, w->numel, &err), *ga = ct_adam_new(&cfg, w->numel, &err);
        ok(ct_adam_to(ga, CT_DEV_CUDA, &err) == CT_OK && ga->m->device == CT_DEV_CUDA,
           "adam moments to the GPU");
        for (int step = 0; step < 3; step++) {
            ct_tensor *g = cpu_randn(1, s), *gg = to_gpu(g);
            double nc = ct_clip_grad_norm(g, 100.0), ng = ct_clip_grad_norm(gg, 100.0);
            near(ng, nc, 1e-9 * nc, "clip_grad_norm: the norm");
            CLOSE(gg, g, 1e-6, "clip_grad_norm: the clipped gradient");
            ct_adam_step(a, w, g, &err);
            ok(ct_adam_step(ga, gw, gg, &err) == CT_OK, "adam step %d runs", step + 1);
            ct_tensor_free(g);
            ct_tensor_free(gg);
        }
        CLOSE(gw, w, 1e-5, "%s: weights after 3 steps", decoupled ? "AdamW" : "Adam");
        ct_tensor *m = ct_tensor_to(ga->m, CT_DEV_CPU, &err);
        CLOSE(m, a->m, 1e-5, "%s: first moments", decoupled ? "AdamW" : "Adam");
        ct_tensor_free(m);
        ct_tensor *cpu_w = cpu_randn(1, s);
        ok(ct_adam_step(ga, cpu_w, cpu_w, &err) == CT_EINVAL, "adam with cpu weights and cuda "
           "moments: %s", err.msg);
        ct_tensor_free(cpu_w);
        ct_tensor *e = cpu_randn(1, s), *ge = to_gpu(e);
        ct_ema_update(e, w, 0.9f, &err);
        ok(ct_ema_update(ge, gw, 0.9f, &err) == CT_OK, "ema runs");
        CLOSE(ge, e, 1e-6, "ema");
        ct_adam_free(a);
        ct_adam_free(ga);
        ct_tensor *arr[] = {w, gw, e, ge};
        for (size_t i = 0; i < CT_COUNTOF(arr); i++) ct_tensor_free(arr[i]);
    }
}

static void test_memory_views_moves(void)
{
    ct_error err;
    /* Out of memory: a clear error, and the device still works. */
    void *p = cu->alloc((size_t)1 << 46, &err);
    ok(!p && strstr(err.msg, "out of GPU memory"), "64 TiB: %s", err.msg);
    int64_t s[3] = {4, 5, 6};
    ct_tensor *a = cpu_randn(3, s), *ga = to_gpu(a);
    ok(ga != NULL, "an allocation after running out of memory works");
    ct_tensor *row = ct_tensor_select(ga, 2, &err), *crow = ct_tensor_select(a, 2, &err);
    ct_tensor *nar = ct_tensor_narrow(ga, 1, 2, &err), *cnar = ct_tensor_narrow(a, 1, 2, &err);
    int64_t rs[2] = {20, 6};
    ct_tensor *re = ct_tensor_reshape(ga, 2, rs, &err);
    ct_tensor_free(ga);   /* the views keep the storage */
    ok(row->device == CT_DEV_CUDA && nar->device == CT_DEV_CUDA, "views stay on the GPU");
    CLOSE(row, crow, 0, "select of a GPU tensor");
    CLOSE(nar, cnar, 0, "narrow of a GPU tensor");
    CLOSE(re, a, 0, "reshape of a GPU tensor");
    ct_device_mem m0, m1;
    cu->mem_stats(&m0);
    ct_tensor_free(row);
    ct_tensor_free(nar);
    ct_tensor_free(re);
    cu->mem_stats(&m1);
    ok(m1.in_use < m0.in_use, "freeing the last view returns the storage (%zu -> %zu bytes)",
       m0.in_use, m1.in_use);
    ct_tensor_free(crow);
    ct_tensor_free(cnar);

    /* A layer moved to the GPU and back keeps its values; its CPU forward
       refuses GPU parameters. */
    ct_layer *lin = ct_linear_new(6, 3, 1, &rng, &err);
    ct_tensor *w0 = ct_tensor_clone(lin->params[0].w, &err);
    ct_param *ps[2] = {&lin->params[0], &lin->params[1]};
    ct_tensor *fw, *fg;
    ct_params_flatten(ps, 2, &fw, &fg, &err);
    ok(ct_layers_to(&lin, 1, &fw, &fg, CT_DEV_CUDA, &err) == CT_OK && fw->device == CT_DEV_CUDA &&
           lin->params[0].w->device == CT_DEV_CUDA && lin->params[1].g->device == CT_DEV_CUDA &&
           lin->params[1].w->storage == fw->storage,
       "ct_layers_to: parameters are views of the flat buffer on the GPU");
    int64_t xs[2] = {2, 6};
    ct_tensor *x = cpu_randn(2, xs), *y = NULL;
    ok(ct_layer_forward(lin, x, &y, &err) == CT_EINVAL && strstr(err.msg, "cuda"),
       "cpu input, GPU layer: %s", err.msg);
    ct_layers_to(&lin, 1, &fw, &fg, CT_DEV_CPU, &err);
    CLOSE(lin->params[0].w, w0, 0, "to the GPU and back keeps the weights");
    ct_tensor_free(x);
    ct_tensor_free(w0);
    ct_tensor_free(fw);
    ct_tensor_free(fg);
    ct_layer_free(lin);
    ct_tensor_free(a);
}

int main(void)
{
    ct_error err;
    cu = ct_cuda(&err);
    if (!cu) {
        printf("1..0 # SKIP %s\n", err.msg);
        return 0;
    }
    const char *env = getenv("CT_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("# seed %llu (CT_TEST_SEED=%llu replays it)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    ct_rng_seed(&rng, seed);
    int n = 0;
    ct_device_info info;
    ok(cu->device_count(&n, &err) == CT_OK && n >= 1 && cu->device_info(0, &info, &err) == CT_OK,
       "device 0: %s, %.1f GiB", n ? info.name : "none", (double)info.total_bytes / 1073741824.0);
    for (int round = 0; round < 3; round++) {
        test_binary(1);
        test_binary(0);
        test_elementwise();
        test_sum_to_cat_slice();
    }
    test_matmul();
    test_random();
    test_losses();
    test_optim();
    test_memory_views_moves();
    ok(cu->sync(&err) == CT_OK, "no asynchronous error at the end");
    return tap_done();
}
