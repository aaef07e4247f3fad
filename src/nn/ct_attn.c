/*
 * ct_attn.c - single-head self-attention over spatial positions (see ct_nn.h).
 *
 * Per sample, with X the c×P matrix of features at P positions:
 *   [Q; K; V] = Wqkv X + bqkv          (3c×P)
 *   A = softmax_rows(Qᵀ K / √c)        (P×P, row i attends over positions j)
 *   O = V Aᵀ                           (c×P)
 *   Y = Wo O + bo
 * Forward keeps QKV, A and O for backward; every product is an sgemm.
 * Samples are independent: they are spread over threads (ct_nn_parallel),
 * each running its own single-threaded GEMMs.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_layers.h"
#include "ct_nn_impl.h"
#include "ct_parallel.h"

/* C = op(A) op(B) (+ C when acc), row-major. */
static void gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* Rows of m (rows×cols) plus bias[row]. */
static void add_row_bias(float *m, const float *bias, int rows, size_t cols)
{
    for (int r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++) m[(size_t)r * cols + j] += bias[r];
}

static void softmax_rows(float *s, int rows, int cols)
{
    for (int i = 0; i < rows; i++) {
        float *r = s + (size_t)i * cols, mx = r[0], sum = 0;
        for (int j = 1; j < cols; j++) mx = r[j] > mx ? r[j] : mx;
        for (int j = 0; j < cols; j++) sum += (r[j] = expf(r[j] - mx));
        for (int j = 0; j < cols; j++) r[j] /= sum;
    }
}

static void release_cache(ct_attn *at)
{
    ct_tensor_free(at->qkv);
    ct_tensor_free(at->attn);
    ct_tensor_free(at->o);
    at->qkv = at->attn = at->o = NULL;
}

typedef struct {
    ct_attn *at;
    const ct_tensor *x, *gy;
    ct_tensor *y;           /* y (forward) or gx (backward) */
    float *gqkv, *scratch;  /* backward: N×3c×P, and gO + gA per share */
    int nshares;
} attn_job;

/* Forward of samples [n0, n1). */
static void fwd_samples(void *ctx, size_t n0, size_t n1)
{
    const attn_job *j = ctx;
    const ct_attn *at = j->at;
    const ct_layer *l = &at->base;
    int c = at->c, P = (int)ct_nn_numel_from(j->x, 2);
    const float *Wqkv = l->params[0].w->data, *bqkv = l->params[1].w->data;
    const float *Wo = l->params[2].w->data, *bo = l->params[3].w->data;
    float scale = 1.0f / sqrtf((float)c);
    for (size_t n = n0; n < n1; n++) {
        const float *X = j->x->data + n * (size_t)c * P;
        float *QKV = at->qkv->data + n * 3 * (size_t)c * P, *A = at->attn->data + n * (size_t)P * P;
        float *O = at->o->data + n * (size_t)c * P, *Y = j->y->data + n * (size_t)c * P;
        const float *Q = QKV, *K = QKV + (size_t)c * P, *V = QKV + (size_t)2 * c * P;
        gemm(0, 0, 3 * c, P, c, 1.0f, Wqkv, c, X, P, 0.0f, QKV, P);
        add_row_bias(QKV, bqkv, 3 * c, (size_t)P);
        gemm(1, 0, P, P, c, scale, Q, P, K, P, 0.0f, A, P);
        softmax_rows(A, P, P);
        gemm(0, 1, c, P, P, 1.0f, V, P, A, P, 0.0f, O, P);
        gemm(0, 0, c, P, c, 1.0f, Wo, c, O, P, 0.0f, Y, P);
        add_row_bias(Y, bo, c, (size_t)P);
    }
}

int ct_attn_shape(const ct_layer *l, const ct_tensor *x, int *ndim, int64_t *shape, ct_error *err)
{
    int c = ((const ct_attn *)l)->c;
    if (x->ndim < 3 || x->shape[1] != c) {
        char want[64];
        snprintf(want, sizeof want, "tensor N×%d×H×W (or N×%d×D×H×W)", c, c);
        return ct_nn_shape_error(l, x, want, err);
    }
    *ndim = x->ndim;
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    return CT_OK;
}

int ct_attn_forward_begin(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    ct_attn *at = (ct_attn *)l;
    int rc = ct_nn_forward_begin(l, x, ct_attn_shape, 0, y, err);
    if (rc != CT_OK) return rc;
    int64_t N = x->shape[0], P = (int64_t)ct_nn_numel_from(x, 2), c = at->c;
    int64_t sq[3] = {N, 3 * c, P}, sa[3] = {N, P, P}, so[3] = {N, c, P};
    release_cache(at);
    at->qkv = ct_tensor_empty_on(x->device, 3, sq, err);
    at->attn = at->qkv ? ct_tensor_empty_on(x->device, 3, sa, err) : NULL;
    at->o = at->attn ? ct_tensor_empty_on(x->device, 3, so, err) : NULL;
    if (at->o) return CT_OK;
    ct_tensor_free(*y);
    *y = NULL;
    return CT_ENOMEM;
}

static int attn_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    ct_attn *at = (ct_attn *)l;
    int rc = ct_attn_forward_begin(l, x, y, err);
    if (rc != CT_OK) return rc;
    int N = (int)x->shape[0];
    attn_job j = {at, x, NULL, *y, NULL, NULL, 1};
    ct_nn_parallel((size_t)N, ct_num_threads((size_t)N, 1), fwd_samples, &j);
    return CT_OK;
}

/* Row sums of m (rows×cols) added into out. */
static void add_row_sums(const float *m, int rows, size_t cols, float *out)
{
    for (int r = 0; r < rows; r++) {
        float s = 0;
        for (size_t j = 0; j < cols; j++) s += m[(size_t)r * cols + j];
        out[r] += s;
    }
}

/* Input gradients of samples [n0, n1), keeping gQKV for the weights; the
   share's gO and gA live in its own part of the scratch. */
static void bwd_samples(void *ctx, size_t n0, size_t n1)
{
    const attn_job *j = ctx;
    const ct_attn *at = j->at;
    const ct_layer *l = &at->base;
    int c = at->c, P = (int)ct_nn_numel_from(j->x, 2);
    size_t N = (size_t)j->x->shape[0], k = 0, S = (size_t)j->nshares;
    while (k + 1 < S && N * (k + 1) / S <= n0) k++;   /* this share's index */
    float *gO = j->scratch + k * ((size_t)c * P + (size_t)P * P), *gA = gO + (size_t)c * P;
    const float *Wqkv = l->params[0].w->data, *Wo = l->params[2].w->data;
    float scale = 1.0f / sqrtf((float)c);
    for (size_t n = n0; n < n1; n++) {
        const float *gY = j->gy->data + n * (size_t)c * P;
        const float *QKV = at->qkv->data + n * 3 * (size_t)c * P, *A = at->attn->data + n * (size_t)P * P;
        const float *Q = QKV, *K = QKV + (size_t)c * P, *V = QKV + (size_t)2 * c * P;
        float *gQKV = j->gqkv + n * 3 * (size_t)c * P;
        float *gQ = gQKV, *gK = gQKV + (size_t)c * P, *gV = gQKV + (size_t)2 * c * P;
        gemm(1, 0, c, P, c, 1.0f, Wo, c, gY, P, 0.0f, gO, P);
        gemm(0, 0, c, P, P, 1.0f, gO, P, A, P, 0.0f, gV, P);
        gemm(1, 0, P, P, c, 1.0f, gO, P, V, P, 0.0f, gA, P);
        for (int i = 0; i < P; i++) {   /* through the softmax, then the scale */
            float *g = gA + (size_t)i * P, dot = 0;
            const float *a = A + (size_t)i * P;
            for (int q = 0; q < P; q++) dot += g[q] * a[q];
            for (int q = 0; q < P; q++) g[q] = a[q] * (g[q] - dot) * scale;
        }
        gemm(0, 1, c, P, P, 1.0f, K, P, gA, P, 0.0f, gQ, P);
        gemm(0, 0, c, P, P, 1.0f, Q, P, gA, P, 0.0f, gK, P);
        gemm(1, 0, c, P, 3 * c, 1.0f, Wqkv, c, gQKV, P, 0.0f, j->y->data + n * (size_t)c * P, P);
    }
}

/* Samples are spread over threads for their input gradients; the weights'
   gradients then sum over the samples in order, on the calling thread, so
   they do not depend on the thread count. */
static int attn_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    ct_attn *at = (ct_attn *)l;
    const ct_tensor *x = l->x;
    int c = at->c, N = (int)x->shape[0], P = (int)ct_nn_numel_from(x, 2);
    int rc = ct_nn_backward_begin(l, gy, ct_attn_shape, 0, gx, err);
    if (rc != CT_OK) return rc;
    int shares = ct_num_threads((size_t)N, 1);
    size_t nq = (size_t)N * 3 * c * P, per = (size_t)c * P + (size_t)P * P;
    float *ws = ct_nn_workspace(nq + (size_t)shares * per, err);
    if (!ws) return CT_ENOMEM;
    attn_job j = {at, x, gy, *gx, ws, ws + nq, shares};
    ct_nn_parallel((size_t)N, shares, bwd_samples, &j);
    if (!l->param_grads) return CT_OK;
    for (int n = 0; n < N; n++) {
        const float *X = x->data + (size_t)n * c * P, *gY = gy->data + (size_t)n * c * P;
        const float *O = at->o->data + (size_t)n * c * P, *gQKV = ws + (size_t)n * 3 * c * P;
        ct_nn_gemm(0, 1, c, c, P, 1.0f, gY, P, O, P, 1.0f, l->params[2].g->data, c);
        add_row_sums(gY, c, (size_t)P, l->params[3].g->data);
        ct_nn_gemm(0, 1, 3 * c, c, P, 1.0f, gQKV, P, X, P, 1.0f, l->params[0].g->data, c);
        add_row_sums(gQKV, 3 * c, (size_t)P, l->params[1].g->data);
    }
    return CT_OK;
}

static void attn_release(ct_layer *l)
{
    release_cache((ct_attn *)l);
}

static const ct_layer_ops attention_ops = {"attention", attn_forward, attn_backward, attn_release};

ct_layer *ct_attention_new(int c, ct_rng *r, ct_error *err)
{
    if (c < 1) {
        ct_fail(err, CT_EINVAL, "attention: channels must be positive, got %d", c);
        return NULL;
    }
    ct_attn *at = (ct_attn *)ct_nn_layer_alloc(sizeof *at, &attention_ops, err);
    if (!at) return NULL;
    at->c = c;
    ct_layer *l = &at->base;
    int64_t wq[2] = {3 * c, c}, bq[1] = {3 * c}, wo[2] = {c, c}, bo[1] = {c};
    float *p[4] = {ct_nn_add_param(l, "qkv.weight", 2, wq, err), NULL, NULL, NULL};
    if (p[0]) p[1] = ct_nn_add_param(l, "qkv.bias", 1, bq, err);
    if (p[1]) p[2] = ct_nn_add_param(l, "proj.weight", 2, wo, err);
    if (p[2]) p[3] = ct_nn_add_param(l, "proj.bias", 1, bo, err);
    if (!p[3]) {
        ct_layer_free(l);
        return NULL;
    }
    for (int i = 0; i < 4; i++) ct_nn_init_uniform(r, p[i], l->params[i].w->numel, c);
    return l;
}
