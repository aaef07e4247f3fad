// cu_loss.cu - MSE, BCE-with-logits and Wasserstein losses on the GPU, the
// twins of ct_loss.c: one kernel writes the gradient and per-block partial
// sums of the loss, which the host adds (cu_partials_total).
#include "cu_ops.h"

#include <math.h>

enum { THREADS = 256 };

__global__ void k_mse(const float *p, const float *t, float *g, size_t n, float k, double *part)
{
    double s = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float d = p[i] - t[i];
        s += (double)d * (double)d;
        if (g) g[i] = k * d;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void k_bce(const float *x, const float *t, float *g, size_t n, double inv_n,
                      double *part)
{
    double s = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        double xi = (double)x[i], ti = (double)t[i];
        s += (xi > 0 ? xi : 0) - xi * ti + log1p(exp(-fabs(xi)));
        if (g) g[i] = (float)((1.0 / (1.0 + exp(-xi)) - ti) * inv_n);
    }
    s = block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void k_wass(const float *x, float *g, size_t n, float gv, double *part)
{
    double s = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        s += (double)x[i];
        if (g) g[i] = gv;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

/* The gradient tensor (if asked) and the partials array. */
static int setup(const ct_tensor *like, ct_tensor **grad, int nb, double **part, ct_error *err)
{
    if (grad && !(*grad = ct_tensor_empty_on(CT_DEV_CUDA, like->ndim, like->shape, err)))
        return CT_ENOMEM;
    *part = cu_scratch_doubles((size_t)nb, err);
    if (!*part) {
        if (grad) {
            ct_tensor_free(*grad);
            *grad = NULL;
        }
        return CT_ENOMEM;
    }
    return CT_OK;
}

/* Add the partials into *loss (times scale); drop *grad on failure. */
static int finish(double *part, int nb, double scale, double *loss, ct_tensor **grad,
                  ct_error *err)
{
    double s = 0;
    int rc = cudaGetLastError() == cudaSuccess ? cu_partials_total(part, nb, &s, err)
                                               : ct_fail(err, CT_EIO, "a loss kernel failed to launch");
    if (rc != CT_OK) {
        if (grad) {
            ct_tensor_free(*grad);
            *grad = NULL;
        }
        return rc;
    }
    *loss = s * scale;
    return CT_OK;
}

int cu_loss_mse(const ct_tensor *pred, const ct_tensor *target, double *loss, ct_tensor **grad,
                ct_error *err)
{
    size_t n = pred->numel;
    int nb = cu_reduce_blocks(n);
    double *part;
    int rc = setup(pred, grad, nb, &part, err);
    if (rc != CT_OK) return rc;
    k_mse<<<nb, THREADS, 0, cu_stream()>>>(pred->data, target->data, grad ? (*grad)->data : NULL, n,
                                           (float)(2.0 / (double)n), part);
    return finish(part, nb, 1.0 / (double)n, loss, grad, err);
}

int cu_loss_bce_logits(const ct_tensor *logits, const ct_tensor *target, double *loss,
                       ct_tensor **grad, ct_error *err)
{
    size_t n = logits->numel;
    int nb = cu_reduce_blocks(n);
    double *part;
    int rc = setup(logits, grad, nb, &part, err);
    if (rc != CT_OK) return rc;
    k_bce<<<nb, THREADS, 0, cu_stream()>>>(logits->data, target->data,
                                           grad ? (*grad)->data : NULL, n, 1.0 / (double)n, part);
    return finish(part, nb, 1.0 / (double)n, loss, grad, err);
}

int cu_loss_wasserstein(const ct_tensor *scores, float sign, double *loss, ct_tensor **grad,
                        ct_error *err)
{
    size_t n = scores->numel;
    int nb = cu_reduce_blocks(n);
    double *part;
    int rc = setup(scores, grad, nb, &part, err);
    if (rc != CT_OK) return rc;
    k_wass<<<nb, THREADS, 0, cu_stream()>>>(scores->data, grad ? (*grad)->data : NULL, n,
                                            (float)((double)sign / (double)n), part);
    return finish(part, nb, (double)sign / (double)n, loss, grad, err);
}
