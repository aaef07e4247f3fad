/*
 * ct_optim.c - Adam/AdamW, gradient clipping and the EMA of weights, each one
 * loop over the flat buffers of ct_params_flatten (see ct_nn.h).
 */
#include <math.h>
#include <stdlib.h>

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

static void adam_range(void *ctx, size_t i0, size_t i1)
{
    const adam_job *j = ctx;
    float *W = j->W, *M = j->M, *V = j->V;
    for (size_t i = i0; i < i1; i++) {
        float gi = j->G[i] + j->l2 * W[i];
        M[i] = j->b1 * M[i] + (1.0f - j->b1) * gi;
        V[i] = j->b2 * V[i] + (1.0f - j->b2) * gi * gi;
        W[i] = W[i] * j->decay - j->lr * M[i] / (sqrtf(V[i] * j->inv_bc2) + j->eps);
    }
}

int ct_adam_step(ct_adam *a, ct_tensor *w, const ct_tensor *g, ct_error *err)
{
    if (w->numel != a->m->numel || g->numel != w->numel)
        return ct_fail(err, CT_EINVAL, "adam: the model has %zu parameters, the optimizer %zu "
                       "(was the model recomposed after the optimizer was made?)",
                       w->numel, a->m->numel);
    const ct_adam_cfg *c = &a->cfg;
    a->step++;
    float b1 = c->beta1, b2 = c->beta2;
    float bc1 = (float)(1.0 - pow((double)b1, (double)a->step));
    float bc2 = (float)(1.0 - pow((double)b2, (double)a->step));
    float wd = c->weight_decay;
    adam_job j = {b1, b2, c->lr / bc1, 1.0f / bc2, c->decoupled ? 1.0f - c->lr * wd : 1.0f,
                  c->decoupled ? 0.0f : wd, c->eps, w->data, a->m->data, a->v->data, g->data};
    ct_parallel_for(w->numel, ct_num_threads(w->numel, ADAM_SHARE), adam_range, &j);
    return CT_OK;
}

double ct_clip_grad_norm(ct_tensor *g, double max_norm)
{
    double s = 0;
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
    for (size_t i = 0; i < w->numel; i++) ema->data[i] = decay * ema->data[i] + (1.0f - decay) * w->data[i];
    return CT_OK;
}
