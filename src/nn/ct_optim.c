/*
 * ct_optim.c - Adam/AdamW, gradient clipping and the EMA of weights, each one
 * loop over the flat buffers of ct_params_flatten (see ct_nn.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_backend.h"
#include "ct_nn_impl.h"
#include "ct_parallel.h"

ct_adam *ct_adam_new(const ct_adam_cfg *cfg, size_t n, ct_error *err)
{
    if (!(cfg->lr >= 0) || !(cfg->beta1 >= 0 && cfg->beta1 < 1) ||
        !(cfg->beta2 >= 0 && cfg->beta2 < 1) || !(cfg->eps > 0) || !(cfg->weight_decay >= 0)) {
        ct_fail(err, CT_EINVAL, "adam: need lr >= 0, betas in [0, 1), eps > 0, weight_decay >= 0; "
                "got lr %g, betas %g %g, eps %g, weight_decay %g", (double)cfg->lr,
                (double)cfg->beta1, (double)cfg->beta2, (double)cfg->eps, (double)cfg->weight_decay);
        return NULL;
    }
    ct_adam *a = calloc(1, sizeof *a);
    int64_t shape[1] = {(int64_t)n};
    if (!a || !(a->m = ct_tensor_new(1, shape, err)) || !(a->v = ct_tensor_new(1, shape, err))) {
        ct_adam_free(a);
        ct_fail(err, CT_ENOMEM, "out of memory for the state of %zu parameters", n);
        return NULL;
    }
    a->cfg = *cfg;
    return a;
}

int ct_adam_to(ct_adam *a, int device, ct_error *err)
{
    if (a->m->device == device) return CT_OK;
    ct_tensor *m = ct_tensor_to(a->m, device, err);
    ct_tensor *v = m ? ct_tensor_to(a->v, device, err) : NULL;
    if (!v) {
        ct_tensor_free(m);
        return CT_ENOMEM;
    }
    ct_tensor_free(a->m);
    ct_tensor_free(a->v);
    a->m = m;
    a->v = v;
    return CT_OK;
}

void ct_adam_free(ct_adam *a)
{
    if (!a) return;
    ct_tensor_free(a->m);
    ct_tensor_free(a->v);
    free(a);
}

/* Element-wise work is split into shares of at least this many elements. */
enum { ADAM_SHARE = 1 << 16 };

typedef struct {
    float b1, b2, lr, inv_bc2, decay, l2, eps;
    float *W, *M, *V;
    const float *G;
} adam_job;

/* VL = 16 elements at once with GCC's vector extensions (one AVX-512
   register, two AVX2 ones; built for each, ct_nn_impl.h), each lane doing
   the scalar operations of its element, so the values do not depend on the
   CPU; the square roots stay scalar (sqrtf may set errno, so GCC does not
   vectorise it). */
#pragma GCC diagnostic ignored "-Wpsabi"   /* vf never crosses a call: all inline */
enum { VL = CT_VL };
typedef ct_vf vf;


CT_SIMD_CLONES static void adam_range(void *ctx, size_t i0, size_t i1)
{
    const adam_job *j = ctx;
    float *W = j->W, *M = j->M, *V = j->V;
    for (size_t i = i0; i < i1; i += VL) {
        size_t k = i1 - i < VL ? i1 - i : VL;
        vf w = ct_loadv(W + i, k), gi = ct_loadv(j->G + i, k) + j->l2 * w;
        vf m = j->b1 * ct_loadv(M + i, k) + (1.0f - j->b1) * gi;
        vf v = j->b2 * ct_loadv(V + i, k) + (1.0f - j->b2) * gi * gi;
        vf r = v * j->inv_bc2;
        for (int l = 0; l < VL; l++) r[l] = sqrtf(r[l]);
        ct_storev(M + i, m, k);
        ct_storev(V + i, v, k);
        ct_storev(W + i, w * j->decay - j->lr * m / (r + j->eps), k);
    }
}

int ct_adam_step(ct_adam *a, ct_tensor *w, const ct_tensor *g, ct_error *err)
{
    if (w->numel != a->m->numel || g->numel != w->numel)
        return ct_fail(err, CT_EINVAL, "adam: the model has %zu parameters, the optimizer %zu "
                       "(was the model recomposed after the optimizer was made?)",
                       w->numel, a->m->numel);
    if (w->device != a->m->device || g->device != w->device)
        return ct_fail(err, CT_EINVAL, "adam: weights on %s, gradients on %s, moments on %s "
                       "(move the optimizer with the model)", ct_device_name(w->device),
                       ct_device_name(g->device), ct_device_name(a->m->device));
    const ct_adam_cfg *c = &a->cfg;
    a->step++;
    float b1 = c->beta1, b2 = c->beta2;
    float bc1 = (float)(1.0 - pow((double)b1, (double)a->step));
    float bc2 = (float)(1.0 - pow((double)b2, (double)a->step));
    float wd = c->weight_decay;
    adam_job j = {b1, b2, c->lr / bc1, 1.0f / bc2, c->decoupled ? 1.0f - c->lr * wd : 1.0f,
                  c->decoupled ? 0.0f : wd, c->eps, w->data, a->m->data, a->v->data, g->data};
    if (w->device == CT_DEV_CUDA) {
        const float coef[7] = {j.b1, j.b2, j.lr, j.inv_bc2, j.decay, j.l2, j.eps};
        int rc = ct_cuda_loaded()->adam_step(w->data, g->data, a->m->data, a->v->data, w->numel,
                                             coef, err);
        if (rc != CT_OK) a->step--;
        return rc;
    }
    ct_parallel_for(w->numel, ct_num_threads(w->numel, ADAM_SHARE), adam_range, &j);
    return CT_OK;
}

double ct_clip_grad_norm(ct_tensor *g, double max_norm)
{
    double s = 0;
    if (g->device == CT_DEV_CUDA)
        return ct_cuda_loaded()->clip_grad_norm(g->data, g->numel, max_norm, &s, NULL) == CT_OK
                   ? s : (double)NAN;
    for (size_t i = 0; i < g->numel; i++) s += (double)g->data[i] * (double)g->data[i];
    double norm = sqrt(s);
    if (norm > max_norm && norm > 0) {
        float k = (float)(max_norm / norm);
        for (size_t i = 0; i < g->numel; i++) g->data[i] *= k;
    }
    return norm;
}

int ct_ema_update(ct_tensor *ema, const ct_tensor *w, float decay, ct_error *err)
{
    if (ema->numel != w->numel)
        return ct_fail(err, CT_EINVAL, "ema: %zu averaged values for %zu parameters",
                       ema->numel, w->numel);
    if (!(decay >= 0 && decay <= 1))
        return ct_fail(err, CT_EINVAL, "ema: decay %g outside [0, 1]", (double)decay);
    if (ema->device != w->device)
        return ct_fail(err, CT_EINVAL, "ema: the average is on %s, the weights on %s",
                       ct_device_name(ema->device), ct_device_name(w->device));
    if (w->device == CT_DEV_CUDA)
        return ct_cuda_loaded()->ema_update(ema->data, w->data, w->numel, decay, err);
    for (size_t i = 0; i < w->numel; i++) ema->data[i] = decay * ema->data[i] + (1.0f - decay) * w->data[i];
    return CT_OK;
}
