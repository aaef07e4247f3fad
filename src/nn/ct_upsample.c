/*
 * ct_upsample.c - nearest-neighbour upsampling of the spatial dimensions
 * (2-D or 3-D), a layer without weights (see ct_nn.h).
 */
#include <string.h>

#include "ct_layers.h"
#include "ct_nn_impl.h"
#include "ct_parallel.h"

/* Each output row (last dimension) reads one input row; walk output rows
   with their input row index. */
static size_t up_src_row(const ct_tensor *x, int f, size_t orow)
{
    size_t src = 0, mul = 1, rest = orow;
    for (int d = x->ndim - 2; d >= 1; d--) {
        size_t osz = (size_t)x->shape[d] * (d >= 2 ? (size_t)f : 1);
        size_t i = rest % osz;
        rest /= osz;
        src += (d >= 2 ? i / (size_t)f : i) * mul;
        mul *= (size_t)x->shape[d];
    }
    return src + rest * mul;
}

/* Forward and backward split over the N·C planes: an output plane reads
   (and an input plane's gradient gathers from) only its own plane, in the
   same order whatever the split. */
typedef struct {
    const ct_tensor *x;
    const float *src;
    float *dst;
    int f;
    size_t w, ow, rows;     /* input width, output width, output rows per plane */
} up_job;

static void up_fwd_planes(void *ctx, size_t p0, size_t p1)
{
    const up_job *j = ctx;
    for (size_t r = p0 * j->rows; r < p1 * j->rows; r++) {
        const float *src = j->src + up_src_row(j->x, j->f, r) * j->w;
        float *dst = j->dst + r * j->ow;
        for (size_t i = 0; i < j->ow; i++) dst[i] = src[i / (size_t)j->f];
    }
}

static void up_bwd_planes(void *ctx, size_t p0, size_t p1)
{
    const up_job *j = ctx;
    for (size_t r = p0 * j->rows; r < p1 * j->rows; r++) {
        float *dst = j->dst + up_src_row(j->x, j->f, r) * j->w;
        const float *src = j->src + r * j->ow;
        for (size_t i = 0; i < j->ow; i++) dst[i / (size_t)j->f] += src[i];
    }
}

/* Shares of at least this many output values. */
enum { UP_SHARE = 1 << 15 };

static void up_run(up_job *j, size_t out_numel, void (*fn)(void *, size_t, size_t))
{
    size_t planes = (size_t)j->x->shape[0] * (size_t)j->x->shape[1];
    j->rows = planes ? out_numel / j->ow / planes : 0;
    int t = ct_num_threads(out_numel, UP_SHARE);
    ct_parallel_for(planes, (size_t)t < planes ? t : (int)planes, fn, j);
}

int ct_upsample_shape(const ct_layer *l, const ct_tensor *x, int *ndim, int64_t *shape,
                      ct_error *err)
{
    if (x->ndim < 3) return ct_nn_shape_error(l, x, "tensor N×C×H×W or N×C×D×H×W", err);
    *ndim = x->ndim;
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    for (int d = 2; d < x->ndim; d++) shape[d] *= ((const ct_upsample *)l)->factor;
    return CT_OK;
}

static int up_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    int rc = ct_nn_forward_begin(l, x, ct_upsample_shape, 0, y, err);
    if (rc != CT_OK) return rc;
    int f = ((ct_upsample *)l)->factor;
    size_t w = (size_t)x->shape[x->ndim - 1];
    up_job j = {x, x->data, (*y)->data, f, w, w * (size_t)f, 0};
    up_run(&j, (*y)->numel, up_fwd_planes);
    return CT_OK;
}

/* Backward adds into the zeroed input gradient. */
static int up_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    int rc = ct_nn_backward_begin(l, gy, ct_upsample_shape, 1, gx, err);
    if (rc != CT_OK) return rc;
    int f = ((ct_upsample *)l)->factor;
    const ct_tensor *x = l->x;
    size_t w = (size_t)x->shape[x->ndim - 1];
    up_job j = {x, gy->data, (*gx)->data, f, w, w * (size_t)f, 0};
    up_run(&j, gy->numel, up_bwd_planes);
    return CT_OK;
}

static const ct_layer_ops upsample_ops = {"upsample", up_forward, up_backward, NULL};

ct_layer *ct_upsample_new(int factor, ct_error *err)
{
    if (factor < 1) {
        ct_fail(err, CT_EINVAL, "upsample: factor must be positive, got %d", factor);
        return NULL;
    }
    ct_upsample *u = (ct_upsample *)ct_nn_layer_alloc(sizeof *u, &upsample_ops, err);
    if (u) u->factor = factor;
    return u ? &u->base : NULL;
}
