/* ct_tensor_ops.c - element-wise ops, reductions, cat/slice (see ct_tensor_ops.h). */
#include "ct_tensor_ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "ct_parallel.h"
#include "ct_tensor_ops_impl.h"
#include "nn/ct_backend.h"

/* Element-wise work and copies of large tensors (a network's activations:
   residual sums, concatenations, zeroed gradients) run on ct_parallel's
   threads in contiguous shares of at least ELEM_SHARE values; each value
   is computed the same way whatever the split. */
enum { ELEM_SHARE = 1 << 16 };

typedef struct {
    float *out;
    const float *a, *b;
    float s;
    ct_binop op;
    size_t block, src_block, start;   /* cat/slice: floats per unit, source stride, offset */
} elem_job;

static void run_elems(size_t n, void (*fn)(void *, size_t, size_t), elem_job *j)
{
    ct_parallel_for(n, ct_num_threads(n, ELEM_SHARE), fn, j);
}

static void fill_range(void *ctx, size_t i0, size_t i1)
{
    const elem_job *j = ctx;
    for (size_t i = i0; i < i1; i++) j->out[i] = j->s;
}

static void copy_range(void *ctx, size_t i0, size_t i1)
{
    const elem_job *j = ctx;
    memcpy(j->out + i0, j->a + i0, (i1 - i0) * sizeof(float));
}

/* The CUDA table for an op whose tensors are all on the GPU (a CUDA
   tensor exists, so the backend is loaded), NULL for the CPU; *rc is
   CT_EINVAL with err set when the tensors are on different devices. */
static const ct_cuda_api *backend(const char *what, const ct_tensor *a, const ct_tensor *b,
                                  const ct_tensor *c, int *rc, ct_error *err)
{
    *rc = CT_OK;
    int dev = a->device;
    if ((b && b->device != dev) || (c && c->device != dev)) {
        *rc = ct_fail(err, CT_EINVAL, "%s: the tensors are on different devices (cpu and cuda); "
                      "move one with :to()", what);
        return NULL;
    }
    return dev == CT_DEV_CUDA ? ct_cuda_loaded() : NULL;
}

static int check_out(const ct_tensor *out, const ct_tensor *a, ct_error *err)
{
    if (out->numel == a->numel) return CT_OK;
    char so[96], sa[96];
    return ct_fail(err, CT_EINVAL, "output %s does not match input %s",
                   ct_tensor_shape_str(out, so, sizeof so), ct_tensor_shape_str(a, sa, sizeof sa));
}

void ct_tensor_fill(ct_tensor *t, float v)
{
    /* A failed launch on the GPU is sticky: the next op that returns a
       status reports it. */
    if (t->device == CT_DEV_CUDA) {
        ct_cuda_loaded()->fill(t, v, NULL);
        return;
    }
    elem_job j = {.out = t->data, .s = v};
    run_elems(t->numel, fill_range, &j);
}

int ct_tensor_copy(ct_tensor *dst, const ct_tensor *src, ct_error *err)
{
    int rc = check_out(dst, src, err);
    if (rc != CT_OK) return rc;
    if (dst->device != CT_DEV_CPU || src->device != CT_DEV_CPU)
        return ct_cuda_loaded()->copy(dst->data, dst->device, src->data, src->device,
                                      src->numel * sizeof(float), err);
    size_t n = src->numel;
    if (dst->data + n <= src->data || src->data + n <= dst->data) {   /* disjoint: in shares */
        elem_job j = {.out = dst->data, .a = src->data};
        run_elems(n, copy_range, &j);
    } else {
        memmove(dst->data, src->data, n * sizeof(float));
    }
    return CT_OK;
}

/* Strides of b over a's shape: 0 where b is broadcast.  Return -1 if b does
   not broadcast to a, else the number of dimensions aligned. */
static int broadcast_strides(const ct_tensor *a, const ct_tensor *b, size_t *bstride)
{
    if (b->ndim > a->ndim) return -1;
    size_t s = 1;
    for (int d = a->ndim - 1; d >= 0; d--) {
        int db = d - (a->ndim - b->ndim);
        int64_t nb = db >= 0 ? b->shape[db] : 1;
        if (nb != a->shape[d] && nb != 1) return -1;
        bstride[d] = nb == 1 ? 0 : s;
        s *= (size_t)nb;
    }
    return a->ndim;
}

static int broadcast_error(const ct_tensor *a, const ct_tensor *b, ct_error *err)
{
    char sa[96], sb[96];
    return ct_fail(err, CT_EINVAL, "shapes %s and %s do not broadcast (the second must "
                   "match the first or have size 1, aligned on the right)",
                   ct_tensor_shape_str(a, sa, sizeof sa), ct_tensor_shape_str(b, sb, sizeof sb));
}

/* Walk a's elements row by row (last dimension), with b's offset following
   its broadcast strides; a row is contiguous in b or one repeated value. */
/* out = a op b on equal shapes, over [i0, i1); the common ops get loops
   of their own (the switch out of the loop, so they vectorise). */
static void binary_range(void *ctx, size_t i0, size_t i1)
{
    const elem_job *j = ctx;
    float *o = j->out;
    const float *a = j->a, *b = j->b;
    switch (j->op) {
    case CT_OP_ADD: for (size_t i = i0; i < i1; i++) o[i] = a[i] + b[i]; break;
    case CT_OP_SUB: for (size_t i = i0; i < i1; i++) o[i] = a[i] - b[i]; break;
    case CT_OP_MUL: for (size_t i = i0; i < i1; i++) o[i] = a[i] * b[i]; break;
    default: for (size_t i = i0; i < i1; i++) o[i] = ct_binop_apply(a[i], b[i], j->op); break;
    }
}

int ct_tensor_binary(ct_tensor *out, const ct_tensor *a, const ct_tensor *b, ct_binop op,
                     ct_error *err)
{
    size_t bs[CT_MAXDIM];
    if (check_out(out, a, err) != CT_OK) return CT_EINVAL;
    if (broadcast_strides(a, b, bs) < 0) return broadcast_error(a, b, err);
    int rc;
    const ct_cuda_api *cu = backend("binary op", out, a, b, &rc, err);
    if (rc != CT_OK) return rc;
    if (cu) return cu->binary(out, a, b, (int)op, err);
    if (a->numel == 0) return CT_OK;
    if (b->numel == a->numel) {
        elem_job j = {.out = out->data, .a = a->data, .b = b->data, .op = op};
        run_elems(a->numel, binary_range, &j);
        return CT_OK;
    }
    int nd = a->ndim;
    size_t inner = nd ? (size_t)a->shape[nd - 1] : 1, binner = nd ? bs[nd - 1] : 0;
    int64_t idx[CT_MAXDIM] = {0};
    for (size_t row = 0; row < a->numel / inner; row++) {
        size_t boff = 0;
        for (int d = 0; d < nd - 1; d++) boff += (size_t)idx[d] * bs[d];
        const float *pa = a->data + row * inner, *pb = b->data + boff;
        float *po = out->data + row * inner;
        for (size_t i = 0; i < inner; i++) po[i] = ct_binop_apply(pa[i], pb[i * binner], op);
        for (int d = nd - 2; d >= 0 && ++idx[d] == a->shape[d]; d--) idx[d] = 0;
    }
    return CT_OK;
}

int ct_tensor_scalar(ct_tensor *out, const ct_tensor *a, float s, ct_binop op, int scalar_first,
                     ct_error *err)
{
    if (check_out(out, a, err) != CT_OK) return CT_EINVAL;
    int rc;
    const ct_cuda_api *cu = backend("scalar op", out, a, NULL, &rc, err);
    if (rc != CT_OK) return rc;
    if (cu) return cu->scalar(out, a, s, (int)op, scalar_first, err);
    if (scalar_first)
        for (size_t i = 0; i < a->numel; i++) out->data[i] = ct_binop_apply(s, a->data[i], op);
    else
        for (size_t i = 0; i < a->numel; i++) out->data[i] = ct_binop_apply(a->data[i], s, op);
    return CT_OK;
}

int ct_tensor_unary(ct_tensor *out, const ct_tensor *a, ct_unop op, ct_error *err)
{
    if (check_out(out, a, err) != CT_OK) return CT_EINVAL;
    int rc;
    const ct_cuda_api *cu = backend("unary op", out, a, NULL, &rc, err);
    if (rc != CT_OK) return rc;
    if (cu) return cu->unary(out, a, (int)op, err);
    for (size_t i = 0; i < a->numel; i++) out->data[i] = ct_unop_apply(a->data[i], op);
    return CT_OK;
}

int ct_tensor_clamp(ct_tensor *out, const ct_tensor *a, float lo, float hi, ct_error *err)
{
    if (check_out(out, a, err) != CT_OK) return CT_EINVAL;
    if (lo > hi) return ct_fail(err, CT_EINVAL, "clamp bounds %g > %g", (double)lo, (double)hi);
    int rc;
    const ct_cuda_api *cu = backend("clamp", out, a, NULL, &rc, err);
    if (rc != CT_OK) return rc;
    if (cu) return cu->clamp(out, a, lo, hi, err);
    for (size_t i = 0; i < a->numel; i++) {
        float x = a->data[i];
        out->data[i] = x < lo ? lo : x > hi ? hi : x;
    }
    return CT_OK;
}

double ct_tensor_sum(const ct_tensor *t)
{
    double s = 0;
    if (t->device == CT_DEV_CUDA) return ct_cuda_loaded()->sum(t, &s, NULL) == CT_OK ? s : (double)NAN;
    for (size_t i = 0; i < t->numel; i++) s += (double)t->data[i];
    return s;
}

double ct_tensor_dot(const ct_tensor *a, const ct_tensor *b)
{
    double s = 0;
    int rc;
    const ct_cuda_api *cu = backend("dot", a, b, NULL, &rc, NULL);
    if (rc != CT_OK) return NAN;
    if (cu) return cu->dot(a, b, &s, NULL) == CT_OK ? s : (double)NAN;
    size_t n = a->numel < b->numel ? a->numel : b->numel;
    for (size_t i = 0; i < n; i++) s += (double)a->data[i] * (double)b->data[i];
    return s;
}

int ct_tensor_sum_to(ct_tensor *out, const ct_tensor *a, ct_error *err)
{
    size_t bs[CT_MAXDIM];
    if (broadcast_strides(a, out, bs) < 0) return broadcast_error(a, out, err);
    int rc;
    const ct_cuda_api *cu = backend("sum_to", out, a, NULL, &rc, err);
    if (rc != CT_OK) return rc;
    if (cu) return cu->sum_to(out, a, err);
    ct_tensor_fill(out, 0.0f);
    int nd = a->ndim;
    int64_t idx[CT_MAXDIM] = {0};
    for (size_t i = 0; i < a->numel; i++) {
        size_t off = 0;
        for (int d = 0; d < nd; d++) off += (size_t)idx[d] * bs[d];
        out->data[off] += a->data[i];
        for (int d = nd - 1; d >= 0 && ++idx[d] == a->shape[d]; d--) idx[d] = 0;
    }
    return CT_OK;
}

/* Sizes of the blocks a join moves: outer = product of sizes before dim,
   inner = product after it. */
static void split_at(const ct_tensor *t, int dim, size_t *outer, size_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= (size_t)t->shape[d];
    for (int d = dim + 1; d < t->ndim; d++) *inner *= (size_t)t->shape[d];
}

/* Outer slices [o0, o1) of a cat (block floats from a, into slices of
   src_block floats of out) or of a slice (block floats at start of each
   src_block of a). */
static void cat_blocks(void *ctx, size_t o0, size_t o1)
{
    const elem_job *j = ctx;
    for (size_t o = o0; o < o1; o++)
        memcpy(j->out + o * j->src_block, j->a + o * j->block, j->block * sizeof(float));
}

static void slice_blocks(void *ctx, size_t o0, size_t o1)
{
    const elem_job *j = ctx;
    for (size_t o = o0; o < o1; o++)
        memcpy(j->out + o * j->block, j->a + o * j->src_block + j->start, j->block * sizeof(float));
}

/* Run fn over the outer slices of a cat or slice, j->block floats each. */
static void run_blocks(size_t outer, void (*fn)(void *, size_t, size_t), elem_job *j)
{
    int th = ct_num_threads(outer * j->block, ELEM_SHARE);
    ct_parallel_for(outer, (size_t)th < outer ? th : (int)outer, fn, j);
}

/* out when the GPU op that filled it returned rc == CT_OK, else NULL (out
   freed). */
static ct_tensor *filled_or_free(ct_tensor *out, int rc)
{
    if (rc == CT_OK) return out;
    ct_tensor_free(out);
    return NULL;
}

ct_tensor *ct_tensor_cat(const ct_tensor *const *ts, int n, int dim, ct_error *err)
{
    if (n < 1) {
        ct_fail(err, CT_EINVAL, "cat needs at least one tensor");
        return NULL;
    }
    const ct_tensor *t0 = ts[0];
    if (dim < 0 || dim >= t0->ndim) {
        ct_fail(err, CT_EINVAL, "cat dimension %d out of range 1..%d", dim + 1, t0->ndim);
        return NULL;
    }
    int64_t shape[CT_MAXDIM];
    memcpy(shape, t0->shape, sizeof shape);
    shape[dim] = 0;
    for (int i = 0; i < n; i++) {
        int same = ts[i]->ndim == t0->ndim;
        for (int d = 0; same && d < t0->ndim; d++)
            same = d == dim || ts[i]->shape[d] == t0->shape[d];
        if (!same) {
            char s0[96], si[96];
            ct_fail(err, CT_EINVAL, "cat: tensor %d is %s, tensor 1 is %s (only dimension %d may differ)",
                    i + 1, ct_tensor_shape_str(ts[i], si, sizeof si),
                    ct_tensor_shape_str(t0, s0, sizeof s0), dim + 1);
            return NULL;
        }
        if (ts[i]->device != t0->device) {
            ct_fail(err, CT_EINVAL, "cat: tensor %d is on %s, tensor 1 on %s", i + 1,
                    ct_device_name(ts[i]->device), ct_device_name(t0->device));
            return NULL;
        }
        shape[dim] += ts[i]->shape[dim];
    }
    ct_tensor *out = ct_tensor_empty_on(t0->device, t0->ndim, shape, err);
    if (!out) return NULL;
    if (out->device == CT_DEV_CUDA)
        return filled_or_free(out, ct_cuda_loaded()->cat(out, ts, n, dim, err));
    size_t outer, inner;
    split_at(out, dim, &outer, &inner);
    size_t off = 0;   /* tensor i fills a block of each outer slice, from off on */
    for (int i = 0; i < n; i++) {
        size_t block = (size_t)ts[i]->shape[dim] * inner;
        elem_job j = {.out = out->data + off, .a = ts[i]->data, .block = block,
                      .src_block = (size_t)shape[dim] * inner};
        run_blocks(outer, cat_blocks, &j);
        off += block;
    }
    return out;
}

ct_tensor *ct_tensor_slice(const ct_tensor *t, int dim, int64_t start, int64_t len,
                           ct_error *err)
{
    if (dim < 0 || dim >= t->ndim || start < 0 || len < 0 || start + len > t->shape[dim]) {
        ct_fail(err, CT_EINVAL, "slice %lld..%lld of dimension %d out of range",
                (long long)start + 1, (long long)(start + len), dim + 1);
        return NULL;
    }
    int64_t shape[CT_MAXDIM];
    memcpy(shape, t->shape, sizeof shape);
    shape[dim] = len;
    ct_tensor *out = ct_tensor_empty_on(t->device, t->ndim, shape, err);
    if (!out) return NULL;
    if (out->device == CT_DEV_CUDA)
        return filled_or_free(out, ct_cuda_loaded()->slice(out, t, dim, start, err));
    size_t outer, inner;
    split_at(t, dim, &outer, &inner);
    elem_job j = {.out = out->data, .a = t->data, .block = (size_t)len * inner,
                  .src_block = (size_t)t->shape[dim] * inner, .start = (size_t)start * inner};
    run_blocks(outer, slice_blocks, &j);
    return out;
}

ct_tensor *ct_tensor_matmul(const ct_tensor *a, const ct_tensor *b, ct_error *err)
{
    if (a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[0]) {
        char sa[96], sb[96];
        ct_fail(err, CT_EINVAL, "matmul needs m×k and k×n matrices, got %s and %s",
                ct_tensor_shape_str(a, sa, sizeof sa), ct_tensor_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    int rc;
    const ct_cuda_api *cu = backend("matmul", a, b, NULL, &rc, err);
    if (rc != CT_OK) return NULL;
    int64_t shape[2] = {a->shape[0], b->shape[1]};
    if (cu) {
        ct_tensor *o = ct_tensor_empty_on(CT_DEV_CUDA, 2, shape, err);
        return o ? filled_or_free(o, cu->matmul(o, a, b, err)) : NULL;
    }
    ct_tensor *c = ct_tensor_new(2, shape, err);
    if (c && c->numel && a->shape[1])
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)shape[0], (int)shape[1],
                    (int)a->shape[1], 1.0f, a->data, (int)a->shape[1], b->data, (int)shape[1],
                    0.0f, c->data, (int)shape[1]);
    return c;
}

void ct_tensor_rand(ct_tensor *t, ct_rng *r, float lo, float hi)
{
    if (t->device == CT_DEV_CUDA) {
        ct_cuda_loaded()->random(t, ct_rng_next(r), 0, lo, hi, NULL);
        return;
    }
    ct_rng_fill_uniform(r, t->data, t->numel, lo, hi);
}

void ct_tensor_randn(ct_tensor *t, ct_rng *r, float mean, float std)
{
    if (t->device == CT_DEV_CUDA) {
        ct_cuda_loaded()->random(t, ct_rng_next(r), 1, mean, std, NULL);
        return;
    }
    ct_rng_fill_normal(r, t->data, t->numel, mean, std);
}
