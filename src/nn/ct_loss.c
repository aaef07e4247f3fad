/* ct_loss.c - MSE, BCE-with-logits and Wasserstein losses (see ct_nn.h). */
#include <math.h>

#include "ct_backend.h"
#include "ct_nn_impl.h"

static int check_pair(const char *what, const ct_tensor *a, const ct_tensor *b, ct_error *err)
{
    if (ct_tensor_same_shape(a, b) && a->numel > 0) return CT_OK;
    char sa[96], sb[96];
    return ct_fail(err, CT_EINVAL, "%s: prediction %s and target %s differ in shape (or are empty)",
                   what, ct_tensor_shape_str(a, sa, sizeof sa), ct_tensor_shape_str(b, sb, sizeof sb));
}

/* The start of every loss: fail unless the target (when given) has the
   prediction's shape and device and they are not empty (without a target:
   fail on no scores).  *cu: the CUDA table for GPU tensors, which runs the
   loss; NULL for CPU ones, and *grad (when asked) allocated for the CPU
   loop. */
static int loss_begin(const char *what, const ct_tensor *a, const ct_tensor *b, ct_tensor **grad,
                      const ct_cuda_api **cu, ct_error *err)
{
    *cu = NULL;
    if (b && check_pair(what, a, b, err) != CT_OK) return CT_EINVAL;
    if (!b && a->numel == 0) return ct_fail(err, CT_EINVAL, "%s: no scores", what);
    if (b && a->device != b->device)
        return ct_fail(err, CT_EINVAL, "%s: prediction on %s, target on %s", what,
                       ct_device_name(a->device), ct_device_name(b->device));
    if (a->device == CT_DEV_CUDA) {
        *cu = ct_cuda_loaded();
        return CT_OK;
    }
    if (grad && !(*grad = ct_tensor_empty(a->ndim, a->shape, err))) return CT_ENOMEM;
    return CT_OK;
}

int ct_loss_mse(const ct_tensor *pred, const ct_tensor *target, double *loss, ct_tensor **grad,
                ct_error *err)
{
    const ct_cuda_api *cu;
    int rc = loss_begin("mse", pred, target, grad, &cu, err);
    if (rc != CT_OK || cu) return rc != CT_OK ? rc : cu->loss_mse(pred, target, loss, grad, err);
    double s = 0, n = (double)pred->numel;
    float k = (float)(2.0 / n);
    for (size_t i = 0; i < pred->numel; i++) {
        float d = pred->data[i] - target->data[i];
        s += (double)d * (double)d;
        if (grad) (*grad)->data[i] = k * d;
    }
    *loss = s / n;
    return CT_OK;
}

/* max(x, 0) - x t + log(1 + e^-|x|): no overflow for any x. */
int ct_loss_bce_logits(const ct_tensor *logits, const ct_tensor *target, double *loss,
                       ct_tensor **grad, ct_error *err)
{
    const ct_cuda_api *cu;
    int rc = loss_begin("bce_logits", logits, target, grad, &cu, err);
    if (rc != CT_OK || cu) return rc != CT_OK ? rc : cu->loss_bce_logits(logits, target, loss, grad, err);
    double s = 0, n = (double)logits->numel;
    for (size_t i = 0; i < logits->numel; i++) {
        double x = (double)logits->data[i], t = (double)target->data[i];
        s += (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x)));
        if (grad) (*grad)->data[i] = (float)((1.0 / (1.0 + exp(-x)) - t) / n);
    }
    *loss = s / n;
    return CT_OK;
}

int ct_loss_wasserstein(const ct_tensor *scores, float sign, double *loss, ct_tensor **grad,
                        ct_error *err)
{
    const ct_cuda_api *cu;
    int rc = loss_begin("wasserstein", scores, NULL, grad, &cu, err);
    if (rc != CT_OK || cu) return rc != CT_OK ? rc : cu->loss_wasserstein(scores, sign, loss, grad, err);
    double s = 0, n = (double)scores->numel;
    for (size_t i = 0; i < scores->numel; i++) {
        s += (double)scores->data[i];
        if (grad) (*grad)->data[i] = (float)((double)sign / n);
    }
    *loss = (double)sign * s / n;
    return CT_OK;
}
