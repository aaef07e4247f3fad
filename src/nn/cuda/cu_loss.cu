// cu_loss.cu - MSE, BCE-with-logits and Wasserstein losses on the GPU, the
// twins of ct_loss.c: one kernel writes the gradient and per-block partial
// sums of the loss, which the host adds (cu_partials_total).  ct_loss.c
// checks the tensors first; these see valid device tensors only.
#include "cu_ops.h"

#include <math.h>

enum { THREADS = 256 };

enum { LOSS_MSE, LOSS_BCE, LOSS_WASS };

/* Element i's term of the loss's sum, and its gradient g[i] (when g):
   gscale is 2/n (mse, in float as on the CPU), 1/n (bce) or sign/n
   (wasserstein, whose gradient is that constant). */
template <int KIND>
__device__ __forceinline__ double loss_term(const float *x, const float *t, float *g, size_t i,
                                            double gscale)
{
    if (KIND == LOSS_MSE) {
        float d = x[i] - t[i];
        if (g) g[i] = (float)gscale * d;
        return (double)d * (double)d;
    }
    if (KIND == LOSS_BCE) {
        double xi = (double)x[i], ti = (double)t[i];
        if (g) g[i] = (float)((1.0 / (1.0 + exp(-xi)) - ti) * gscale);
        return (xi > 0 ? xi : 0) - xi * ti + log1p(exp(-fabs(xi)));
    }
    if (g) g[i] = (float)gscale;
    return (double)x[i];
}

template <int KIND>
__global__ void k_loss(const float *x, const float *t, float *g, size_t n, double gscale,
                       double *part)
{
    double s = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        s += loss_term<KIND>(x, t, g, i, gscale);
    s = block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

/* The loss KIND of x (and target t, or NULL): *grad (when asked) a new
   device tensor of x's shape, *loss the sum of the terms times scale. */
template <int KIND>
static int run_loss(const ct_tensor *x, const ct_tensor *t, double gscale, double scale,
                    double *loss, ct_tensor **grad, ct_error *err)
{
    size_t n = x->numel;
    int nb = cu_reduce_blocks(n);
    if (grad && !(*grad = ct_tensor_empty_on(CT_DEV_CUDA, x->ndim, x->shape, err)))
        return CT_ENOMEM;
    double *part = cu_scratch_doubles((size_t)nb, err);
    double s = 0;
    int rc = CT_ENOMEM;
    if (part) {
        k_loss<KIND><<<nb, THREADS, 0, cu_stream()>>>(x->data, t ? t->data : NULL,
                                                      grad ? (*grad)->data : NULL, n, gscale, part);
        rc = cudaGetLastError() == cudaSuccess ? cu_partials_total(part, nb, &s, err)
                                               : ct_fail(err, CT_EIO, "a loss kernel failed to launch");
    }
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

static int loss_mse(const ct_tensor *pred, const ct_tensor *target, double *loss,
                    ct_tensor **grad, ct_error *err)
{
    double n = (double)pred->numel;
    return run_loss<LOSS_MSE>(pred, target, (double)(float)(2.0 / n), 1.0 / n, loss, grad, err);
}

static int loss_bce_logits(const ct_tensor *logits, const ct_tensor *target, double *loss,
                           ct_tensor **grad, ct_error *err)
{
    double n = (double)logits->numel;
    return run_loss<LOSS_BCE>(logits, target, 1.0 / n, 1.0 / n, loss, grad, err);
}

static int loss_wasserstein(const ct_tensor *scores, float sign, double *loss, ct_tensor **grad,
                            ct_error *err)
{
    double k = (double)sign / (double)scores->numel;
    return run_loss<LOSS_WASS>(scores, NULL, k, k, loss, grad, err);
}

void cu_loss_api(ct_cuda_api *api)
{
    api->loss_mse = loss_mse;
    api->loss_bce_logits = loss_bce_logits;
    api->loss_wasserstein = loss_wasserstein;
}
