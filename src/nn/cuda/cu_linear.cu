// cu_linear.cu - the fully connected layer on the GPU (see ct_linear.c,
// its CPU twin): y = x Wᵀ + b with cuBLAS.
#include "cu_layers.h"

/* y[i][j] = b[j] for the rows of y (n×out), before the GEMM adds x Wᵀ. */
__global__ void fill_rows_k(float *y, const float *b, int out, size_t total)
{
    CU_FOR(i, total) y[i] = b[i % (size_t)out];
}

int cu_linear_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    ct_linear *f = (ct_linear *)l;
    int rc = ct_nn_forward_begin(l, x, ct_linear_shape, 0, y, err);
    if (rc != CT_OK) return rc;
    int n = (int)x->shape[0];
    float *yd = (*y)->data;
    int bias = l->nparams > 1;
    if (bias && (*y)->numel) {
        fill_rows_k<<<cu_blocks((*y)->numel, 256), 256, 0, cu_stream()>>>(
            yd, l->params[1].w->data, f->out, (*y)->numel);
        CU_CHECK_LAUNCH(err);
    }
    if (!n) return CT_OK;
    return cu_gemm(0, 1, n, f->out, f->in, 1.0f, x->data, f->in, l->params[0].w->data, f->in,
                   bias ? 1.0f : 0.0f, yd, f->out, err);
}

/* gx = gy W; gW += gyᵀ x; gb += column sums of gy. */
int cu_linear_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    ct_linear *f = (ct_linear *)l;
    const ct_tensor *x = l->x;
    int rc = ct_nn_backward_begin(l, gy, ct_linear_shape, 0, gx, err);
    int n = (int)x->shape[0];
    if (rc != CT_OK || !n) return rc;
    rc = cu_gemm(0, 0, n, f->in, f->out, 1.0f, gy->data, f->out, l->params[0].w->data, f->in,
                 0.0f, (*gx)->data, f->in, err);
    if (rc != CT_OK || !l->param_grads) return rc;
    rc = cu_gemm(1, 0, f->out, f->in, n, 1.0f, gy->data, f->out, x->data, f->in, 1.0f,
                 l->params[0].g->data, f->in, err);
    if (rc != CT_OK || l->nparams < 2) return rc;
    /* gb: the column sums of gy, an n×out×1 tensor's channel sums (over
       slices of the rows, not one thread per column down all n rows) */
    return cu_channel_sums_add(gy->data, n, f->out, 1, l->params[1].g->data, err);
}
