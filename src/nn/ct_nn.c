/* ct_nn.c - the layer header, parameters, flat buffers and the workspace
   (see ct_nn.h). */
#include "ct_nn.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "ct_backend.h"
#include "ct_nn_impl.h"
#include "ct_tensor_ops.h"
#include "ct_parallel.h"

ct_layer *ct_nn_layer_alloc(size_t size, const ct_layer_ops *ops, ct_error *err)
{
    ct_layer *l = calloc(1, size);
    if (!l) {
        ct_fail(err, CT_ENOMEM, "out of memory for a %s layer", ops->kind);
        return NULL;
    }
    l->ops = ops;
    l->training = 1;
    l->param_grads = 1;
    return l;
}

static float *add_entry(ct_param *p, const char *name, int ndim, const int64_t *shape,
                        int with_grad, ct_error *err)
{
    snprintf(p->name, sizeof p->name, "%s", name);
    p->w = ct_tensor_new(ndim, shape, err);
    if (!p->w) return NULL;
    if (with_grad && !(p->g = ct_tensor_new(ndim, shape, err))) {
        ct_tensor_free(p->w);
        p->w = NULL;
        return NULL;
    }
    return p->w->data;
}

float *ct_nn_add_param(ct_layer *l, const char *name, int ndim, const int64_t *shape,
                       ct_error *err)
{
    float *w = add_entry(&l->params[l->nparams], name, ndim, shape, 1, err);
    if (w) l->nparams++;
    return w;
}

float *ct_nn_add_buffer(ct_layer *l, const char *name, int ndim, const int64_t *shape,
                        ct_error *err)
{
    float *w = add_entry(&l->buffers[l->nbuffers], name, ndim, shape, 0, err);
    if (w) l->nbuffers++;
    return w;
}

void ct_nn_init_uniform(ct_rng *r, float *w, size_t n, int fan_in)
{
    float bound = 1.0f / sqrtf((float)(fan_in > 0 ? fan_in : 1));
    ct_rng_fill_uniform(r, w, n, -bound, bound);
}

int ct_nn_keep(ct_layer *l, const ct_tensor *x, ct_error *err)
{
    ct_tensor *ref = ct_tensor_view(x, 0, x->ndim, x->shape, err);
    if (!ref) return CT_ENOMEM;
    ct_tensor_free(l->x);
    l->x = ref;
    return CT_OK;
}

int ct_nn_shape_error(const ct_layer *l, const ct_tensor *x, const char *desc, ct_error *err)
{
    char s[96];
    return ct_fail(err, CT_EINVAL, "%s: expected %s, got %d-D %s", l->ops->kind, desc, x->ndim,
                   ct_tensor_shape_str(x, s, sizeof s));
}

int ct_nn_check_grad(const ct_layer *l, const ct_tensor *gy, int ndim, const int64_t *shape,
                     ct_error *err)
{
    int same = gy->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = gy->shape[i] == shape[i];
    if (same) return CT_OK;
    ct_tensor want = {.ndim = ndim};
    memcpy(want.shape, shape, (size_t)ndim * sizeof *shape);
    char a[96], b[96];
    return ct_fail(err, CT_EINVAL, "%s backward: gradient is %s, the output was %s", l->ops->kind,
                   ct_tensor_shape_str(gy, a, sizeof a), ct_tensor_shape_str(&want, b, sizeof b));
}

/* The output shape of l for x: shape_of's, or x's own without one. */
static int out_shape(const ct_layer *l, const ct_tensor *x, ct_nn_shape_fn shape_of, int *ndim,
                     int64_t *shape, ct_error *err)
{
    if (shape_of) return shape_of(l, x, ndim, shape, err);
    *ndim = x->ndim;
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    return CT_OK;
}

/* A new tensor on device, zeroed or uninitialised. */
static ct_tensor *new_tensor(int device, int ndim, const int64_t *shape, int zero, ct_error *err)
{
    return zero ? ct_tensor_new_on(device, ndim, shape, err)
                : ct_tensor_empty_on(device, ndim, shape, err);
}

int ct_nn_forward_begin(ct_layer *l, const ct_tensor *x, ct_nn_shape_fn shape_of, int zero,
                        ct_tensor **y, ct_error *err)
{
    int ndim;
    int64_t shape[CT_MAXDIM];
    *y = NULL;
    if (out_shape(l, x, shape_of, &ndim, shape, err) != CT_OK) return CT_EINVAL;
    if (!(*y = new_tensor(x->device, ndim, shape, zero, err))) return CT_ENOMEM;
    if (ct_nn_keep(l, x, err) != CT_OK) {
        ct_tensor_free(*y);
        *y = NULL;
        return CT_ENOMEM;
    }
    return CT_OK;
}

int ct_nn_backward_begin(ct_layer *l, const ct_tensor *gy, ct_nn_shape_fn shape_of, int zero,
                         ct_tensor **gx, ct_error *err)
{
    const ct_tensor *x = l->x;
    int ndim;
    int64_t shape[CT_MAXDIM];
    *gx = NULL;
    if (out_shape(l, x, shape_of, &ndim, shape, err) != CT_OK ||
        ct_nn_check_grad(l, gy, ndim, shape, err) != CT_OK)
        return CT_EINVAL;
    *gx = new_tensor(x->device, x->ndim, x->shape, zero, err);
    return *gx ? CT_OK : CT_ENOMEM;
}

size_t ct_nn_numel_from(const ct_tensor *x, int d)
{
    size_t n = 1;
    for (; d < x->ndim; d++) n *= (size_t)x->shape[d];
    return n;
}

/* ---- Profile ---------------------------------------------------------------- */

enum { MAXPROF = 32 };
static ct_nn_prof prof[MAXPROF];
static int nprof, profiling;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ct_nn_prof *prof_entry(const char *kind)
{
    for (int i = 0; i < nprof; i++)
        if (prof[i].kind == kind) return &prof[i];
    if (nprof == MAXPROF) return NULL;
    prof[nprof].kind = kind;
    return &prof[nprof++];
}

void ct_nn_profile_enable(int on)
{
    profiling = on;
    nprof = 0;
    memset(prof, 0, sizeof prof);
}

int ct_nn_profile(const ct_nn_prof **entries)
{
    *entries = prof;
    return nprof;
}

void ct_nn_profile_flops(const ct_layer *l, double flops, double work)
{
    ct_nn_prof *p = profiling ? prof_entry(l->ops->kind) : NULL;
    if (!p) return;
    p->flops += flops;
    p->work += work;
}

static void prof_add(const ct_layer *l, double t0)
{
    ct_nn_prof *p = prof_entry(l->ops->kind);
    if (!p) return;
    p->seconds += now_seconds() - t0;
    p->calls++;
}

double ct_nn_sgemm_gflops(int n, int reps, ct_error *err)
{
    float *a = malloc((size_t)n * n * sizeof *a * 3);
    if (!a) return ct_fail(err, CT_ENOMEM, "out of memory for %d×%d matrices", n, n);
    float *b = a + (size_t)n * n, *c = b + (size_t)n * n;
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = c[i] = 1.0f / (float)(1 + i % 7);
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double gf = 2.0 * n * n * (double)n / (now_seconds() - t0) * 1e-9;
        if (gf > best) best = gf;
    }
    free(a);
    return best;
}

/* ---- Dispatch ------------------------------------------------------------- */

int ct_layer_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    *y = NULL;
    if (ct_interrupted()) return ct_fail(err, CT_EINTR, "interrupted");
    for (int i = 0; i < l->nparams + l->nbuffers; i++) {
        const ct_param *p = i < l->nparams ? &l->params[i] : &l->buffers[i - l->nparams];
        if (p->w->device != x->device)
            return ct_fail(err, CT_EINVAL, "%s: the input is on %s but the layer's %s is on %s "
                           "(move the model with :to(\"%s\"))", l->ops->kind,
                           ct_device_name(x->device), p->name, ct_device_name(p->w->device),
                           ct_device_name(x->device));
    }
    double t0 = profiling ? now_seconds() : 0;
    int rc;
    if (x->device == CT_DEV_CUDA) {
        const ct_cuda_api *cu = ct_cuda(err);
        rc = cu ? cu->layer_forward(l, x, y, err) : CT_EINVAL;
        if (profiling && rc == CT_OK) rc = cu->sync(err);   /* time the kernels, not launches */
    } else {
        rc = l->ops->forward(l, x, y, err);
    }
    if (profiling) prof_add(l, t0);
    return rc;
}

int ct_layer_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    *gx = NULL;
    if (ct_interrupted()) return ct_fail(err, CT_EINTR, "interrupted");
    if (!l->x) return ct_fail(err, CT_EINVAL, "%s: backward before forward", l->ops->kind);
    if (gy->device != l->x->device)
        return ct_fail(err, CT_EINVAL, "%s backward: the gradient is on %s, the input was on %s",
                       l->ops->kind, ct_device_name(gy->device), ct_device_name(l->x->device));
    double t0 = profiling ? now_seconds() : 0;
    int rc;
    if (gy->device == CT_DEV_CUDA) {
        const ct_cuda_api *cu = ct_cuda(err);
        rc = cu ? cu->layer_backward(l, gy, gx, err) : CT_EINVAL;
        if (profiling && rc == CT_OK) rc = cu->sync(err);
    } else {
        rc = l->ops->backward(l, gy, gx, err);
    }
    if (profiling) prof_add(l, t0);
    return rc;
}

void ct_layer_free(ct_layer *l)
{
    if (!l) return;
    if (ct_cuda_loaded()) ct_cuda_loaded()->layer_release(l);
    if (l->ops->release) l->ops->release(l);
    for (int i = 0; i < l->nparams; i++) {
        ct_tensor_free(l->params[i].w);
        ct_tensor_free(l->params[i].g);
    }
    for (int i = 0; i < l->nbuffers; i++) ct_tensor_free(l->buffers[i].w);
    ct_tensor_free(l->x);
    free(l);
}

/* Replace *view by a view of flat at off with the same shape, keeping values. */
static int rebind(ct_tensor **view, ct_tensor *flat, size_t off, ct_error *err)
{
    ct_tensor *v = ct_tensor_view(flat, off, (*view)->ndim, (*view)->shape, err);
    if (!v) return CT_ENOMEM;
    if (ct_tensor_copy(v, *view, err) != CT_OK) {
        ct_tensor_free(v);
        return CT_EINVAL;
    }
    ct_tensor_free(*view);
    *view = v;
    return CT_OK;
}

int ct_params_flatten(ct_param *const *ps, int n, ct_tensor **w, ct_tensor **g, ct_error *err)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) total += ps[i]->w->numel;
    int64_t shape[1] = {(int64_t)total};
    int device = n ? ps[0]->w->device : CT_DEV_CPU;
    for (int i = 1; i < n; i++)
        if (ps[i]->w->device != device)
            return ct_fail(err, CT_EINVAL, "flatten: parameters on both cpu and cuda (move the "
                           "parts of the model to one device first)");
    *w = ct_tensor_new_on(device, 1, shape, err);
    *g = *w ? ct_tensor_new_on(device, 1, shape, err) : NULL;
    if (!*g) {
        ct_tensor_free(*w);
        *w = NULL;
        return CT_ENOMEM;
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (rebind(&ps[i]->w, *w, off, err) != CT_OK || rebind(&ps[i]->g, *g, off, err) != CT_OK)
            return CT_ENOMEM;   /* the parameters already moved stay valid */
        off += ps[i]->w->numel;
    }
    return CT_OK;
}

/* *t replaced by a copy on device; the copy is a view of flat (at t's
   offset in old) when t is a view of old. */
static int move_tensor(ct_tensor **t, const ct_tensor *old, ct_tensor *flat, int device,
                       ct_error *err)
{
    ct_tensor *c;
    if (old && flat && (*t)->storage == old->storage)
        c = ct_tensor_view(flat, (size_t)((*t)->data - old->data), (*t)->ndim, (*t)->shape, err);
    else
        c = ct_tensor_to(*t, device, err);
    if (!c) return CT_ENOMEM;
    ct_tensor_free(*t);
    *t = c;
    return CT_OK;
}

int ct_layers_to(ct_layer *const *ls, int n, ct_tensor **w, ct_tensor **g, int device,
                 ct_error *err)
{
    ct_tensor *nw = NULL, *ng = NULL;
    if (w && *w && !(nw = ct_tensor_to(*w, device, err))) return CT_ENOMEM;
    if (g && *g && !(ng = ct_tensor_to(*g, device, err))) {
        ct_tensor_free(nw);
        return CT_ENOMEM;
    }
    int rc = CT_OK;
    for (int i = 0; i < n && rc == CT_OK; i++) {
        ct_layer *l = ls[i];
        for (int j = 0; j < l->nparams && rc == CT_OK; j++) {
            rc = move_tensor(&l->params[j].w, w ? *w : NULL, nw, device, err);
            if (rc == CT_OK && l->params[j].g)
                rc = move_tensor(&l->params[j].g, g ? *g : NULL, ng, device, err);
        }
        for (int j = 0; j < l->nbuffers && rc == CT_OK; j++)
            rc = move_tensor(&l->buffers[j].w, NULL, NULL, device, err);
        /* The kept input is on the old device: backward needs a new forward. */
        ct_tensor_free(l->x);
        l->x = NULL;
    }
    if (w && *w) {
        ct_tensor_free(*w);
        *w = nw;
    }
    if (g && *g) {
        ct_tensor_free(*g);
        *g = ng;
    }
    return rc;
}

static float *workspace;
static size_t workspace_size;

void ct_nn_parallel(size_t n, int nthreads, void (*fn)(void *ctx, size_t begin, size_t end),
                    void *ctx)
{
    int blas = openblas_get_num_threads();
    if (blas != 1) openblas_set_num_threads(1);
    ct_parallel_for(n, nthreads, fn, ctx);
    if (blas != 1) openblas_set_num_threads(blas);
}

/* Fixed GEMM blocks: a grid of row blocks (of C) by column blocks, each
   dimension cut only where it is long enough.  Enough blocks for many
   threads (a one-sample convolution at 32×32 is 64-128 rows by 1024
   columns: 16-32 blocks), each still a GEMM of at least 32×128. */
enum { GEMM_COLS = 256, GEMM_COLS_MIN = 128, GEMM_ROWS = 32 };

typedef struct {
    int ta, tb, m, n, k, lda, ldb, ldc, rb, cb, ncb;   /* row, column block; column blocks */
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job;

static void gemm_blocks(void *ctx, size_t b0, size_t b1)
{
    const gemm_job *j = ctx;
    for (size_t b = b0; b < b1; b++) {
        int r0 = (int)(b / (size_t)j->ncb) * j->rb, c0 = (int)(b % (size_t)j->ncb) * j->cb;
        int rows = j->m - r0 < j->rb ? j->m - r0 : j->rb, cols = j->n - c0 < j->cb ? j->n - c0 : j->cb;
        const float *A = j->A + (j->ta ? (size_t)r0 : (size_t)r0 * (size_t)j->lda);
        const float *B = j->B + (j->tb ? (size_t)c0 * (size_t)j->ldb : (size_t)c0);
        float *C = j->C + (size_t)r0 * (size_t)j->ldc + (size_t)c0;
        cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans,
                    rows, cols, j->k, j->alpha, A, j->lda, B, j->ldb, j->beta, C, j->ldc);
    }
}

/* A block length for a dimension of size len: len itself when short. */
static int block_len(int len, int block)
{
    return len >= 2 * block ? block : len > 0 ? len : 1;
}

void ct_nn_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc)
{
    gemm_job j = {ta, tb, m, n, k, lda, ldb, ldc, block_len(m, GEMM_ROWS),
                  n >= 2 * GEMM_COLS ? GEMM_COLS : block_len(n, GEMM_COLS_MIN), 0, alpha, beta, A, B, C};
    if (m <= 0 || n <= 0) return;
    j.ncb = (n + j.cb - 1) / j.cb;
    size_t blocks = (size_t)((m + j.rb - 1) / j.rb) * (size_t)j.ncb;
    double work = (double)m * (double)n * (double)k;
    /* Blocks below ~1 Mflop each are not worth a thread. */
    size_t per = (size_t)(1 + (1e6 * (double)blocks) / (work + 1));
    ct_nn_parallel(blocks, ct_num_threads(blocks, per), gemm_blocks, &j);
}

float *ct_nn_alloc_big(size_t n)
{
    enum { HUGE_PAGE = 2 << 20 };
    size_t bytes = (n * sizeof(float) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, bytes ? bytes : HUGE_PAGE) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);   /* a hint: without it, 4 KB pages */
#endif
    return p;
}

float *ct_nn_workspace(size_t n, ct_error *err)
{
    if (n <= workspace_size) return workspace;
    free(workspace);   /* nothing in it is kept between uses */
    workspace_size = 0;
    float *p = workspace = ct_nn_alloc_big(n);
    if (!p) {
        ct_fail(err, CT_ENOMEM, "out of memory for a workspace of %zu floats", n);
        return NULL;
    }
    workspace = p;
    workspace_size = n;
    return p;
}

void ct_nn_workspace_release(void)
{
    free(workspace);
    workspace = NULL;
    workspace_size = 0;
}
