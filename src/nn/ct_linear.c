/* ct_linear.c - the fully connected layer (see ct_nn.h). */
#include <stdio.h>

#include "ct_layers.h"
#include "ct_nn_impl.h"

int ct_linear_shape(const ct_layer *l, const ct_tensor *x, int *ndim, int64_t *shape,
                    ct_error *err)
{
    const ct_linear *f = (const ct_linear *)l;
    if (x->ndim != 2 || x->shape[1] != f->in) {
        char want[48];
        snprintf(want, sizeof want, "2-D tensor N×%d", f->in);
        return ct_nn_shape_error(l, x, want, err);
    }
    *ndim = 2;
    shape[0] = x->shape[0];
    shape[1] = f->out;
    return CT_OK;
}

/* x N×in -> y N×out: y = x Wᵀ + b. */
static int linear_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    ct_linear *f = (ct_linear *)l;
    int rc = ct_nn_forward_begin(l, x, ct_linear_shape, 0, y, err);
    if (rc != CT_OK) return rc;
    int n = (int)x->shape[0];
    float *yd = (*y)->data;
    if (l->nparams > 1)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < f->out; j++) yd[(size_t)i * f->out + j] = l->params[1].w->data[j];
    ct_nn_gemm(0, 1, n, f->out, f->in, 1.0f, x->data, f->in,
                l->params[0].w->data, f->in, l->nparams > 1 ? 1.0f : 0.0f, yd, f->out);
    return CT_OK;
}

/* gx = gy W; gW += gyᵀ x; gb += column sums of gy. */
static int linear_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    ct_linear *f = (ct_linear *)l;
    const ct_tensor *x = l->x;
    int rc = ct_nn_backward_begin(l, gy, ct_linear_shape, 0, gx, err);
    if (rc != CT_OK) return rc;
    int n = (int)x->shape[0];
    ct_nn_gemm(0, 0, n, f->in, f->out, 1.0f, gy->data,
                f->out, l->params[0].w->data, f->in, 0.0f, (*gx)->data, f->in);
    if (!l->param_grads) return CT_OK;
    ct_nn_gemm(1, 0, f->out, f->in, n, 1.0f, gy->data, f->out,
                x->data, f->in, 1.0f, l->params[0].g->data, f->in);
    if (l->nparams > 1) {
        float *gb = l->params[1].g->data;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < f->out; j++) gb[j] += gy->data[(size_t)i * f->out + j];
    }
    return CT_OK;
}

static const ct_layer_ops linear_ops = {"linear", linear_forward, linear_backward, NULL};

ct_layer *ct_linear_new(int in, int out, int bias, ct_rng *r, ct_error *err)
{
    if (in < 1 || out < 1) {
        ct_fail(err, CT_EINVAL, "linear: sizes must be positive, got %d -> %d", in, out);
        return NULL;
    }
    ct_linear *f = (ct_linear *)ct_nn_layer_alloc(sizeof *f, &linear_ops, err);
    if (!f) return NULL;
    f->in = in;
    f->out = out;
    int64_t wshape[2] = {out, in}, bshape[1] = {out};
    float *w = ct_nn_add_param(&f->base, "weight", 2, wshape, err);
    float *b = w && bias ? ct_nn_add_param(&f->base, "bias", 1, bshape, err) : NULL;
    if (!w || (bias && !b)) {
        ct_layer_free(&f->base);
        return NULL;
    }
    ct_nn_init_uniform(r, w, (size_t)in * (size_t)out, in);
    if (b) ct_nn_init_uniform(r, b, (size_t)out, in);
    return &f->base;
}
