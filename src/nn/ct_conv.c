/*
 * ct_conv.c - Conv2d, Conv3d, ConvTranspose2d and ConvTranspose3d (see ct_nn.h).
 *
 * All four are one code path.  A 2-D convolution is a 3-D one of depth 1.
 * A convolution lowers its input to columns (im2col: one row per input
 * channel and kernel offset, one column per output position) and multiplies
 * by the weight matrix with sgemm; its input gradient is the transpose
 * product followed by col2im.  A transposed convolution is the same pair run
 * the other way: its forward is a convolution's input gradient, its
 * backward a convolution's forward.
 *
 * Columns are built for a chunk of samples at once so each GEMM has at least
 * CHUNK_COLS columns (small feature maps deep in a U-Net would otherwise give
 * GEMMs too thin to be fast), in the one shared workspace.
 *
 * 3×3 stride-1 2-D convolutions (most of a U-Net's work) take Winograd's
 * F(4×4, 3×3) instead (ct_winograd.c), unless ct_conv_winograd(0).  In
 * training mode their forward keeps its input transform for backward,
 * within a budget over all layers (keep_v).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_layers.h"
#include "ct_nn_impl.h"
#include "ct_parallel.h"

enum { CHUNK_COLS = 1024 };

static int winograd_on = 1;

int ct_conv_winograd(int on)
{
    int was = winograd_on;
    if (on >= 0) winograd_on = on != 0;
    return was;
}

/* Winograd input transforms that forward keeps for backward (which would
   otherwise compute them again: about 5% of a U-Net step), in floats over
   all layers, at most KEEP_V_BUDGET (512 MB): a base-64 U-Net at batch 16
   keeps all of its ~240 MB; at larger batches (sampling many crystals) as
   many as fit, the others recomputed. */
enum { KEEP_V_BUDGET = 128 << 20 };
static size_t kept_v;

/* Room for forward's Winograd input transform of w, kept for backward; NULL
   (backward recomputes it) outside training, or where the budget or
   memory does not allow it. */
static float *keep_v(ct_conv *cv, const ct_wino *w)
{
    size_t need = cv->base.training ? ct_wino_v_size(w) : 0;
    if (need == cv->wino_v_n) return cv->wino_v;
    kept_v -= cv->wino_v_n;
    free(cv->wino_v);
    float *p = need && kept_v + need <= KEEP_V_BUDGET ? ct_nn_alloc_big(need) : NULL;
    if (!p) need = 0;
    cv->wino_v = p;
    cv->wino_v_n = need;
    kept_v += need;
    return p;
}

static void conv_release(ct_layer *l)
{
    ct_conv *cv = (ct_conv *)l;
    free(cv->wino_v);
    kept_v -= cv->wino_v_n;
}

/* The Winograd geometry of a convolution on x, or 0 when it does not apply. */
static int wino_of(const ct_conv *cv, const ct_tensor *x, const int op[3], ct_wino *w)
{
    if (!winograd_on || !ct_wino_applies(&cv->cfg)) return 0;
    *w = (ct_wino){(int)x->shape[0], cv->cfg.cin, cv->cfg.cout, (int)x->shape[2],
                   (int)x->shape[3], cv->cfg.pad[1], op[1], op[2]};
    return 1;
}

/* An im2col geometry: an image of c channels, d×h×w, read by a kernel at
   od×oh×ow positions. */
typedef struct {
    int c, d, h, w;
    int od, oh, ow;
    int k[3], s[3], p[3];
} geom;

static size_t geom_rows(const geom *g) { return (size_t)g->c * (size_t)(g->k[0] * g->k[1] * g->k[2]); }
static size_t geom_cols(const geom *g) { return (size_t)g->od * (size_t)g->oh * (size_t)g->ow; }
static size_t geom_pixels(const geom *g) { return (size_t)g->d * (size_t)g->h * (size_t)g->w; }

/* A 1×1 kernel of stride 1 and no padding: the columns are the image. */
static int geom_pointwise(const geom *g)
{
    return g->k[0] * g->k[1] * g->k[2] == 1 && g->s[0] * g->s[1] * g->s[2] == 1 &&
           !(g->p[0] | g->p[1] | g->p[2]);
}

/* The output columns x whose input column x·s - p + e lies inside the
   image: [x0, x1). */
static void valid_range(const geom *g, int e, int *x0, int *x1)
{
    int s = g->s[2], off = e - g->p[2];
    int lo = off >= 0 ? 0 : (-off + s - 1) / s;              /* first x with x·s + off >= 0 */
    int hi = g->w - off <= 0 ? 0 : (g->w - off - 1) / s + 1;  /* first x with x·s + off >= w */
    *x0 = lo < g->ow ? lo : g->ow;
    *x1 = hi < g->ow ? hi : g->ow;
    if (*x1 < *x0) *x1 = *x0;
}

/* Lower channel c of one sample's image into its rows of col (row stride
   ld). */
static void im2col(const float *img, const geom *g, int c, float *col, size_t ld)
{
    for (int a = 0; a < g->k[0]; a++)
    for (int b = 0; b < g->k[1]; b++)
    for (int e = 0; e < g->k[2]; e++) {
        size_t row = (((size_t)c * g->k[0] + a) * g->k[1] + b) * g->k[2] + e;
        float *dst = col + row * ld;
        for (int z = 0; z < g->od; z++) {
            int iz = z * g->s[0] - g->p[0] + a;
            for (int y = 0; y < g->oh; y++, dst += g->ow) {
                int iy = y * g->s[1] - g->p[1] + b;
                if (iz < 0 || iz >= g->d || iy < 0 || iy >= g->h) {
                    memset(dst, 0, (size_t)g->ow * sizeof(float));
                    continue;
                }
                const float *src = img + (((size_t)c * g->d + iz) * g->h + iy) * g->w;
                int x0, x1;
                valid_range(g, e, &x0, &x1);
                for (int x = 0; x < x0; x++) dst[x] = 0.0f;
                if (g->s[2] == 1)
                    memcpy(dst + x0, src + x0 - g->p[2] + e, (size_t)(x1 - x0) * sizeof(float));
                else
                    for (int x = x0; x < x1; x++) dst[x] = src[x * g->s[2] - g->p[2] + e];
                for (int x = x1; x < g->ow; x++) dst[x] = 0.0f;
            }
        }
    }
}

/* Add channel c's rows of col back into one sample's image: the adjoint
   of im2col. */
static void col2im(const float *col, const geom *g, int c, float *img, size_t ld)
{
    for (int a = 0; a < g->k[0]; a++)
    for (int b = 0; b < g->k[1]; b++)
    for (int e = 0; e < g->k[2]; e++) {
        size_t row = (((size_t)c * g->k[0] + a) * g->k[1] + b) * g->k[2] + e;
        const float *src = col + row * ld;
        for (int z = 0; z < g->od; z++) {
            int iz = z * g->s[0] - g->p[0] + a;
            for (int y = 0; y < g->oh; y++, src += g->ow) {
                int iy = y * g->s[1] - g->p[1] + b;
                if (iz < 0 || iz >= g->d || iy < 0 || iy >= g->h) continue;
                float *dst = img + (((size_t)c * g->d + iz) * g->h + iy) * g->w;
                int x0, x1;
                valid_range(g, e, &x0, &x1);
                if (g->s[2] == 1) {
                    float *d = dst - g->p[2] + e;
                    for (int x = x0; x < x1; x++) d[x] += src[x];
                } else {
                    for (int x = x0; x < x1; x++) dst[x * g->s[2] - g->p[2] + e] += src[x];
                }
            }
        }
    }
}

/* The copies between images and columns run over (sample, channel)
   units on ct_parallel's threads: each unit writes its own rows or its
   own channel plane, so the split does not change any value. */
typedef struct {
    const geom *g;
    int c, m;               /* channels; samples of the chunk */
    size_t P;               /* columns per sample */
    const float *src;
    float *dst;
} copy_job;

/* Shares of at least this many floats copied. */
enum { COPY_SHARE = 1 << 15 };

/* Threads for items holding floats values in all: one item each at least. */
static int threads_for(size_t floats, size_t items)
{
    int t = ct_num_threads(floats, COPY_SHARE);
    return (size_t)t < items ? t : (int)items;
}

static void run_units(copy_job *j, size_t per_unit, void (*fn)(void *, size_t, size_t))
{
    size_t units = (size_t)j->m * (size_t)j->c;
    ct_parallel_for(units, threads_for(units * per_unit, units), fn, j);
}

static void gather_units(void *ctx, size_t u0, size_t u1)
{
    const copy_job *j = ctx;
    for (size_t u = u0; u < u1; u++) {
        size_t s = u / (size_t)j->c, ch = u % (size_t)j->c;
        memcpy(j->dst + ch * (size_t)j->m * j->P + s * j->P, j->src + (s * (size_t)j->c + ch) * j->P,
               j->P * sizeof(float));
    }
}

static void scatter_units(void *ctx, size_t u0, size_t u1)
{
    const copy_job *j = ctx;
    for (size_t u = u0; u < u1; u++) {
        size_t s = u / (size_t)j->c, ch = u % (size_t)j->c;
        memcpy(j->dst + (s * (size_t)j->c + ch) * j->P, j->src + ch * (size_t)j->m * j->P + s * j->P,
               j->P * sizeof(float));
    }
}

/* Copy m samples of t (each c×P) into the c×(m·P) matrix dst, or back. */
static void gather(const float *t, int c, size_t P, int m, float *dst)
{
    copy_job j = {NULL, c, m, P, t, dst};
    run_units(&j, P, gather_units);
}

static void scatter(const float *src, int c, size_t P, int m, float *t)
{
    copy_job j = {NULL, c, m, P, src, t};
    run_units(&j, P, scatter_units);
}

static void im2col_units(void *ctx, size_t u0, size_t u1)
{
    const copy_job *j = ctx;
    const geom *g = j->g;
    for (size_t u = u0; u < u1; u++) {
        size_t s = u / (size_t)j->c;
        int ch = (int)(u % (size_t)j->c);
        im2col(j->src + s * (size_t)g->c * geom_pixels(g), g, ch, j->dst + s * j->P, (size_t)j->m * j->P);
    }
}

/* Build the columns of m samples of image t into col (K×m·P); for a
   pointwise kernel they are the image itself, gathered. */
static void lower(const float *t, const geom *g, int m, float *col)
{
    size_t P = geom_cols(g);
    if (geom_pointwise(g)) {
        gather(t, g->c, P, m, col);
        return;
    }
    copy_job j = {g, g->c, m, P, t, col};
    run_units(&j, P * (size_t)(g->k[0] * g->k[1] * g->k[2]), im2col_units);
}

/* The columns of m samples of t: t itself for one sample of a pointwise
   kernel (no copy), else lowered into col. */
static const float *columns(const float *t, const geom *g, int m, float *col)
{
    if (m == 1 && geom_pointwise(g)) return t;
    lower(t, g, m, col);
    return col;
}

static void raise_units(void *ctx, size_t u0, size_t u1)
{
    const copy_job *j = ctx;
    const geom *g = j->g;
    size_t ld = (size_t)j->m * j->P, pix = geom_pixels(g);
    for (size_t u = u0; u < u1; u++) {
        size_t s = u / (size_t)j->c;
        int ch = (int)(u % (size_t)j->c);
        float *img = j->dst + s * (size_t)g->c * pix;
        if (geom_pointwise(g)) {
            const float *src = j->src + (size_t)ch * ld + s * j->P;
            float *dst = img + (size_t)ch * pix;
            for (size_t i = 0; i < j->P; i++) dst[i] += src[i];
        } else {
            col2im(j->src + s * j->P, g, ch, img, ld);
        }
    }
}

/* Add columns back into m samples of image t; the adjoint of lower. */
static void raise_cols(const float *col, const geom *g, int m, float *t)
{
    size_t P = geom_cols(g);
    copy_job j = {g, g->c, m, P, col, t};
    run_units(&j, P * (size_t)(g->k[0] * g->k[1] * g->k[2]), raise_units);
}

/* Samples per chunk so that a GEMM has about CHUNK_COLS columns. */
static int chunk_samples(size_t positions, int n)
{
    size_t m = (CHUNK_COLS + positions - 1) / positions;
    return m > (size_t)n ? n : (int)(m ? m : 1);
}

/* Spatial sizes of x (depth 1 for 2-D), checking rank and channels. */
static int spatial_of(const ct_conv *cv, const ct_tensor *x, int sp[3], ct_error *err)
{
    const ct_conv_cfg *c = &cv->cfg;
    int nd = c->dims + 2;
    if (x->ndim != nd || x->shape[1] != c->cin) {
        char want[64];
        snprintf(want, sizeof want, "%d-D tensor N×%d×%s", nd, c->cin, c->dims == 3 ? "D×H×W" : "H×W");
        return ct_nn_shape_error(&cv->base, x, want, err);
    }
    sp[0] = c->dims == 3 ? (int)x->shape[2] : 1;
    sp[1] = (int)x->shape[nd - 2];
    sp[2] = (int)x->shape[nd - 1];
    return CT_OK;
}

/* Output spatial sizes for input sizes sp. */
static int out_spatial(const ct_conv *cv, const int sp[3], int out[3], ct_error *err)
{
    const ct_conv_cfg *c = &cv->cfg;
    for (int i = 0; i < 3; i++) {
        out[i] = c->transposed ? (sp[i] - 1) * c->stride[i] - 2 * c->pad[i] + c->k[i] + c->outpad[i]
                               : (sp[i] + 2 * c->pad[i] - c->k[i]) / c->stride[i] + 1;
        if (sp[i] < 1 || out[i] < 1 || (!c->transposed && sp[i] + 2 * c->pad[i] < c->k[i]))
            return ct_fail(err, CT_EINVAL, "%s: input size %d in spatial dimension %d is too small "
                           "for kernel %d, padding %d", cv->base.ops->kind, sp[i], i + 4 - c->dims,
                           c->k[i], c->pad[i]);
    }
    return CT_OK;
}

/* The im2col geometry of cv for input spatial sizes sp and output sizes op:
   a convolution lowers its input, a transposed one its output. */
static geom geom_of(const ct_conv *cv, const int sp[3], const int op[3])
{
    const ct_conv_cfg *c = &cv->cfg;
    const int *img = c->transposed ? op : sp, *pos = c->transposed ? sp : op;
    geom g = {c->transposed ? c->cout : c->cin, img[0], img[1], img[2], pos[0], pos[1], pos[2],
              {c->k[0], c->k[1], c->k[2]}, {c->stride[0], c->stride[1], c->stride[2]},
              {c->pad[0], c->pad[1], c->pad[2]}};
    return g;
}

int ct_conv_out_shape(const ct_layer *l, const ct_tensor *x, int64_t *shape, ct_error *err)
{
    const ct_conv *cv = (const ct_conv *)l;
    int sp[3], op[3];
    if (spatial_of(cv, x, sp, err) != CT_OK || out_spatial(cv, sp, op, err) != CT_OK)
        return CT_EINVAL;
    shape[0] = x->shape[0];
    shape[1] = cv->cfg.cout;
    for (int i = 0; i < cv->cfg.dims; i++) shape[2 + i] = op[3 - cv->cfg.dims + i];
    return CT_OK;
}

typedef struct {
    const ct_layer *l;
    const ct_tensor *t;     /* y (add_bias) or gy (bias_grad) */
} bias_job;

/* y += b over planes [p0, p1) of the N·C planes. */
static void bias_planes(void *ctx, size_t p0, size_t p1)
{
    const bias_job *j = ctx;
    size_t P = ct_nn_numel_from(j->t, 2), C = (size_t)j->t->shape[1];
    const float *b = j->l->params[1].w->data;
    for (size_t q = p0; q < p1; q++) {
        float *p = j->t->data + q * P, bc = b[q % C];
        for (size_t i = 0; i < P; i++) p[i] += bc;
    }
}

static void add_bias(const ct_layer *l, ct_tensor *y)
{
    if (l->nparams < 2) return;
    bias_job j = {l, y};
    size_t planes = (size_t)y->shape[0] * (size_t)y->shape[1];
    ct_parallel_for(planes, threads_for(y->numel, planes), bias_planes, &j);
}

/* gb[c] += Σ gy over channels [c0, c1), samples in order. */
static void bias_channels(void *ctx, size_t c0, size_t c1)
{
    const bias_job *j = ctx;
    size_t P = ct_nn_numel_from(j->t, 2), C = (size_t)j->t->shape[1];
    float *gb = j->l->params[1].g->data;
    for (size_t c = c0; c < c1; c++)
        for (int64_t n = 0; n < j->t->shape[0]; n++) {
            const float *p = j->t->data + ((size_t)n * C + c) * P;
            float acc[8] = {0};   /* 8 interleaved sums: vectorised, and no long chain */
            size_t i = 0;
            for (; i + 8 <= P; i += 8)
                for (int k = 0; k < 8; k++) acc[k] += p[i + (size_t)k];
            float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            for (; i < P; i++) s += p[i];
            gb[c] += s;
        }
}

static void bias_grad(ct_layer *l, const ct_tensor *gy)
{
    if (l->nparams < 2 || !l->param_grads) return;
    bias_job j = {l, gy};
    ct_parallel_for((size_t)gy->shape[1], threads_for(gy->numel, (size_t)gy->shape[1]), bias_channels, &j);
}

/* The tensors of one pass of the GEMMs over the batch.  Each product
   pairs the image side of the im2col geometry (lowered to columns: the
   input of a convolution, the output of a transposed one) with the flat
   side (the other tensor, `other` channels by the positions):
     flat_out = W · cols(img_in)            convolution forward; transposed input gradient
     img_out += col2im(Wᵀ · flat_in)        convolution input gradient; transposed forward
     gW += flat_in · cols(img_in)ᵀ          the weight gradient of both
   NULL where a pass does not use it.  img_out must start at zero. */
typedef struct {
    const float *img_in, *flat_in;
    float *img_out, *flat_out, *gW;
} conv_pass;

/* Run the products of p over the N samples, a chunk of samples at a time
   (the chunk's columns built once for both of its products). */
static int run_pass(ct_conv *cv, const geom *g, int N, const conv_pass *p, ct_error *err)
{
    int other = cv->cfg.transposed ? cv->cfg.cin : cv->cfg.cout, m = chunk_samples(geom_cols(g), N);
    size_t P = geom_cols(g), K = geom_rows(g), is = (size_t)g->c * geom_pixels(g), fs = (size_t)other * P;
    float *ws = ct_nn_workspace(K * m * P + (size_t)other * m * P, err);
    if (!ws) return CT_ENOMEM;
    float *flat = ws + K * m * P;   /* the chunk's flat side, channel-major */
    const float *W = cv->base.params[0].w->data;
    for (int n0 = 0; n0 < N; n0 += m) {
        int mm = N - n0 < m ? N - n0 : m;
        size_t cols = (size_t)mm * P;
        const float *B = p->img_in ? columns(p->img_in + n0 * is, g, mm, ws) : NULL;
        const float *F = NULL;
        if (p->flat_in) {
            F = p->flat_in + n0 * fs;
            if (mm > 1) {
                gather(F, other, P, mm, flat);
                F = flat;
            }
        }
        if (p->gW)
            ct_nn_gemm(0, 1, other, (int)K, (int)cols, 1.0f, F,
                       (int)cols, B, (int)cols, 1.0f, p->gW, (int)K);
        if (p->flat_out) {   /* one sample: straight into the tensor */
            float *out = mm == 1 ? p->flat_out + n0 * fs : flat;
            ct_nn_gemm(0, 0, other, (int)cols, (int)K, 1.0f, W,
                       (int)K, B, (int)cols, 0.0f, out, (int)cols);
            if (mm > 1) scatter(out, other, P, mm, p->flat_out + n0 * fs);
        }
        if (p->img_out) {
            /* One pointwise sample: the product is the image's share itself
               (img_out starts at 0). */
            int direct = mm == 1 && geom_pointwise(g);
            float *gcols = direct ? p->img_out + n0 * is : ws;
            ct_nn_gemm(1, 0, (int)K, (int)cols, other, 1.0f, W,
                       (int)K, F, (int)cols, 0.0f, gcols, (int)cols);
            if (!direct) raise_cols(ws, g, mm, p->img_out + n0 * is);
        }
    }
    return CT_OK;
}

/* Multiply-adds of one GEMM pass over the batch, times two. */
static double conv_flops(const ct_conv *cv, const geom *g, const ct_tensor *x)
{
    int other = cv->cfg.transposed ? cv->cfg.cin : cv->cfg.cout;
    return 2.0 * (double)other * (double)geom_rows(g) * (double)geom_cols(g) * (double)x->shape[0];
}

static int conv_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    ct_conv *cv = (ct_conv *)l;
    int sp[3], op[3];
    int64_t shape[CT_MAXDIM];
    if (ct_conv_out_shape(l, x, shape, err) != CT_OK) return CT_EINVAL;
    spatial_of(cv, x, sp, err);
    out_spatial(cv, sp, op, err);
    geom g = geom_of(cv, sp, op);
    /* A transposed convolution adds into its output; a convolution writes it. */
    *y = cv->cfg.transposed ? ct_tensor_new(x->ndim, shape, err) : ct_tensor_empty(x->ndim, shape, err);
    if (!*y || ct_nn_keep(l, x, err) != CT_OK) return CT_ENOMEM;
    ct_wino w;
    int wino = wino_of(cv, x, op, &w);
    float *V = wino ? keep_v(cv, &w) : NULL;
    cv->wino_x = NULL;
    int rc = wino                 ? ct_wino_forward(&w, l->params[0].w->data,
                                                    l->nparams > 1 ? l->params[1].w->data : NULL,
                                                    x->data, (*y)->data, V, err)
             : run_pass(cv, &g, (int)x->shape[0],
                        cv->cfg.transposed ? &(conv_pass){.flat_in = x->data, .img_out = (*y)->data}
                                           : &(conv_pass){.img_in = x->data, .flat_out = (*y)->data},
                        err);
    if (rc == CT_OK && !wino) add_bias(l, *y);   /* Winograd adds it in its output transform */
    if (rc == CT_OK && V) cv->wino_x = x->data;
    ct_nn_profile_flops(l, conv_flops(cv, &g, x), wino ? ct_wino_flops(&w) : conv_flops(cv, &g, x));
    return rc;
}

static int conv_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    ct_conv *cv = (ct_conv *)l;
    const ct_tensor *x = l->x;
    int sp[3], op[3];
    int64_t shape[CT_MAXDIM];
    ct_conv_out_shape(l, x, shape, err);
    if (ct_nn_check_grad(l, gy, x->ndim, shape, err) != CT_OK) return CT_EINVAL;
    spatial_of(cv, x, sp, err);
    out_spatial(cv, sp, op, err);
    geom g = geom_of(cv, sp, op);
    ct_wino w;
    int wino = wino_of(cv, x, op, &w), passes = l->param_grads ? 2 : 1;
    /* col2im adds into gx; Winograd and a transposed convolution write it. */
    *gx = wino || cv->cfg.transposed ? ct_tensor_empty(x->ndim, x->shape, err)
                                     : ct_tensor_new(x->ndim, x->shape, err);
    if (!*gx) return CT_ENOMEM;
    bias_grad(l, gy);
    ct_nn_profile_flops(l, conv_flops(cv, &g, x) * passes,
                        (wino ? ct_wino_flops(&w) : conv_flops(cv, &g, x)) * passes);
    if (wino)
        return ct_wino_backward(&w, l->params[0].w->data, x->data,
                                cv->wino_x == x->data ? cv->wino_v : NULL, gy->data, (*gx)->data,
                                l->param_grads ? l->params[0].g->data : NULL, err);
    float *gW = l->param_grads ? l->params[0].g->data : NULL;
    const float *xw = gW ? x->data : NULL;   /* x only for the weight gradient */
    conv_pass p = cv->cfg.transposed
                      ? (conv_pass){.img_in = gy->data, .flat_in = xw, .flat_out = (*gx)->data, .gW = gW}
                      : (conv_pass){.img_in = xw, .flat_in = gy->data, .img_out = (*gx)->data, .gW = gW};
    return run_pass(cv, &g, (int)x->shape[0], &p, err);
}

static const ct_layer_ops conv2d_ops = {"conv2d", conv_forward, conv_backward, conv_release};
static const ct_layer_ops conv3d_ops = {"conv3d", conv_forward, conv_backward, conv_release};
static const ct_layer_ops convt2d_ops = {"convtranspose2d", conv_forward, conv_backward, conv_release};
static const ct_layer_ops convt3d_ops = {"convtranspose3d", conv_forward, conv_backward, conv_release};

ct_conv_cfg ct_conv_cfg_2d(int cin, int cout, int k, int stride, int pad)
{
    ct_conv_cfg c = {2, 0, cin, cout, {1, k, k}, {1, stride, stride}, {0, pad, pad}, {0, 0, 0}, 1};
    return c;
}

static int check_cfg(const ct_conv_cfg *c, ct_error *err)
{
    if (c->dims != 2 && c->dims != 3)
        return ct_fail(err, CT_EINVAL, "convolution: dims must be 2 or 3, got %d", c->dims);
    if (c->cin < 1 || c->cout < 1)
        return ct_fail(err, CT_EINVAL, "convolution: channels must be positive, got %d -> %d",
                       c->cin, c->cout);
    for (int i = 3 - c->dims; i < 3; i++) {
        if (c->k[i] < 1 || c->stride[i] < 1 || c->pad[i] < 0 || c->outpad[i] < 0)
            return ct_fail(err, CT_EINVAL, "convolution: kernel %d, stride %d, padding %d: "
                           "kernel and stride must be positive, padding not negative",
                           c->k[i], c->stride[i], c->pad[i]);
        if (c->outpad[i] && (!c->transposed || c->outpad[i] >= c->stride[i]))
            return ct_fail(err, CT_EINVAL, "convolution: output padding %d must be smaller than "
                           "the stride %d (transposed convolutions only)", c->outpad[i], c->stride[i]);
    }
    return CT_OK;
}

ct_layer *ct_conv_new(const ct_conv_cfg *cfg, ct_rng *r, ct_error *err)
{
    if (check_cfg(cfg, err) != CT_OK) return NULL;
    const ct_layer_ops *ops = cfg->dims == 2 ? (cfg->transposed ? &convt2d_ops : &conv2d_ops)
                                             : (cfg->transposed ? &convt3d_ops : &conv3d_ops);
    ct_conv *cv = (ct_conv *)ct_nn_layer_alloc(sizeof *cv, ops, err);
    if (!cv) return NULL;
    cv->cfg = *cfg;
    if (cfg->dims == 2) {   /* depth 1: the first spatial entries are neutral */
        cv->cfg.k[0] = cv->cfg.stride[0] = 1;
        cv->cfg.pad[0] = cv->cfg.outpad[0] = 0;
    }
    const ct_conv_cfg *c = &cv->cfg;
    int64_t wshape[5] = {c->transposed ? c->cin : c->cout, c->transposed ? c->cout : c->cin};
    int taps = 1;
    for (int i = 0; i < c->dims; i++) {
        wshape[2 + i] = c->k[3 - c->dims + i];
        taps *= c->k[3 - c->dims + i];
    }
    int64_t bshape[1] = {c->cout};
    float *w = ct_nn_add_param(&cv->base, "weight", 2 + c->dims, wshape, err);
    float *b = w && c->bias ? ct_nn_add_param(&cv->base, "bias", 1, bshape, err) : NULL;
    if (!w || (c->bias && !b)) {
        ct_layer_free(&cv->base);
        return NULL;
    }
    /* PyTorch's fan_in is weight.size(1) * taps for both kinds. */
    int fan_in = (int)wshape[1] * taps;
    ct_nn_init_uniform(r, w, (size_t)(c->cin * c->cout) * (size_t)taps, fan_in);
    if (b) ct_nn_init_uniform(r, b, (size_t)c->cout, fan_in);
    return &cv->base;
}

/* Direct loops over every output (convolution) or input (transposed)
   position and kernel offset: slow and obviously right. */
int ct_conv_forward_naive(const ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    const ct_conv *cv = (const ct_conv *)l;
    const ct_conv_cfg *c = &cv->cfg;
    int64_t shape[CT_MAXDIM];
    int sp[3], op[3];
    *y = NULL;
    if (ct_conv_out_shape(l, x, shape, err) != CT_OK) return CT_EINVAL;
    spatial_of(cv, x, sp, err);
    out_spatial(cv, sp, op, err);
    if (!(*y = ct_tensor_new(x->ndim, shape, err))) return CT_ENOMEM;
    const float *W = l->params[0].w->data;
    const int *pin = sp, *pout = op;
    for (int64_t n = 0; n < x->shape[0]; n++)
    for (int co = 0; co < c->cout; co++)
    for (int ci = 0; ci < c->cin; ci++)
    for (int a = 0; a < c->k[0]; a++)
    for (int b = 0; b < c->k[1]; b++)
    for (int e = 0; e < c->k[2]; e++) {
        size_t widx = c->transposed ? ((((size_t)ci * c->cout + co) * c->k[0] + a) * c->k[1] + b) * c->k[2] + e
                                    : ((((size_t)co * c->cin + ci) * c->k[0] + a) * c->k[1] + b) * c->k[2] + e;
        /* Loop over the positions of the side the kernel slides on. */
        const int *pos = c->transposed ? pin : pout, *img = c->transposed ? pout : pin;
        for (int z = 0; z < pos[0]; z++)
        for (int yy = 0; yy < pos[1]; yy++)
        for (int xx = 0; xx < pos[2]; xx++) {
            int iz = z * c->stride[0] - c->pad[0] + a, iy = yy * c->stride[1] - c->pad[1] + b,
                ix = xx * c->stride[2] - c->pad[2] + e;
            if (iz < 0 || iz >= img[0] || iy < 0 || iy >= img[1] || ix < 0 || ix >= img[2]) continue;
            size_t ipos = ((size_t)iz * img[1] + iy) * img[2] + ix;
            size_t ppos = ((size_t)z * pos[1] + yy) * pos[2] + xx;
            if (c->transposed)
                (*y)->data[((size_t)n * c->cout + co) * (size_t)(img[0] * img[1] * img[2]) + ipos] +=
                    W[widx] * x->data[((size_t)n * c->cin + ci) * (size_t)(pos[0] * pos[1] * pos[2]) + ppos];
            else
                (*y)->data[((size_t)n * c->cout + co) * (size_t)(pos[0] * pos[1] * pos[2]) + ppos] +=
                    W[widx] * x->data[((size_t)n * c->cin + ci) * (size_t)(img[0] * img[1] * img[2]) + ipos];
        }
    }
    add_bias(l, *y);
    return CT_OK;
}
