/*
 * ct_backend.h - devices and the CUDA backend plugin.
 *
 * crystens computes on the CPU; built with ./configure --with-cuda it can
 * also compute on an NVIDIA GPU through a plugin, crystens-cuda.so (nvcc +
 * cuBLAS, sources in src/nn/cuda/), that is loaded with dlopen the first
 * time a CUDA tensor is asked for.  The program itself never links CUDA, so
 * the same binary runs where there is no GPU, no driver or no plugin.
 *
 *     ct_error err;
 *     const ct_cuda_api *cu = ct_cuda(&err);       // NULL + err: why not
 *     ct_tensor *x = ct_tensor_new_on(CT_DEV_CUDA, 4, shape, &err);
 *
 * A CUDA tensor's data is a device pointer: the core never dereferences
 * it; ct_tensor.c, ct_tensor_ops.c and ct_nn.c hand such tensors to the
 * plugin's table below, and a CPU-only binding given one fails with a
 * clear error (ctL_checktensor).
 *
 * Where the plugin is looked for, in order: $CRYSTENS_CUDA_PLUGIN (a
 * path), the directory of the running executable (the build tree, or a
 * folder a built tree was copied to), then the directory given to
 * ct_backend_set_plugin_dir (the program gives pkglibdir).
 *
 * The plugin resolves its calls into the core (ct_fail, ct_tensor_*,
 * ct_nn_*) against the program, which is linked with -rdynamic for that.
 *
 * Errors say what is missing: "built without CUDA" (configure again with
 * --with-cuda), "no NVIDIA driver (libcuda.so.1)", "the plugin cannot be
 * loaded: <dlerror>", "no CUDA device".  Out of GPU memory is CT_ENOMEM
 * with the sizes; the caching allocator releases its cache and retries
 * once before failing.
 *
 * Threads: the backend uses one CUDA stream and one cuBLAS handle; drive it
 * from one thread, like the layers.  One GPU (device 0) for now; a model's
 * gradients are one flat device buffer (ct_params_flatten), which is what
 * a data-parallel version would all-reduce (NCCL) between its GPUs.
 */
#ifndef CT_BACKEND_H
#define CT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "ct_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Devices a tensor can live on (ct_tensor.device). */
enum { CT_DEV_CPU = 0, CT_DEV_CUDA = 1 };

/* GEMM precision on the GPU: fp32, TF32 tensor cores (fp32 storage), or
   bf16 inputs with fp32 accumulation and fp32 master weights. */
typedef enum { CT_PREC_FP32 = 0, CT_PREC_TF32 = 1, CT_PREC_BF16 = 2 } ct_precision;

typedef struct {
    char name[256];
    size_t total_bytes, free_bytes;
    int major, minor;          /* compute capability */
    int multiprocessors;
} ct_device_info;

/* Device memory of the caching allocator, in bytes. */
typedef struct {
    size_t in_use;             /* handed out and not yet freed */
    size_t peak;               /* the most in_use since the last reset */
    size_t cached;             /* freed, kept for reuse */
} ct_device_mem;

/* Declared here, defined in ct_tensor.h (which includes nothing of this
   file: tensors call the backend, the backend only names tensors). */
typedef struct ct_tensor ct_tensor;
typedef struct ct_tensor_stats ct_tensor_stats;
struct ct_layer;

/* The version of the table below; the plugin and the program must agree. */
#define CT_CUDA_ABI 1

/* What the plugin provides.  Every int function returns CT_OK or a
   ct_status with err filled.  The tensor functions have the contract of
   their twins in ct_tensor_ops.h and ct_nn.h, with every tensor on the
   device (the core checks devices and shapes before calling). */
typedef struct ct_cuda_api {
    int abi;

    /* ---- devices (cu_common.cu) ---- */
    int (*device_count)(int *n, ct_error *err);
    int (*device_info)(int i, ct_device_info *info, ct_error *err);
    int (*set_precision)(ct_precision p, ct_error *err);
    ct_precision (*precision)(void);
    int (*sync)(ct_error *err);              /* wait for the stream; report its errors */
    void (*mem_stats)(ct_device_mem *m);
    void (*mem_reset_peak)(void);
    void (*mem_release_cache)(void);         /* give cached blocks back to the driver */

    /* ---- memory ---- */
    void *(*alloc)(size_t bytes, ct_error *err);
    void (*free)(void *p);
    int (*memset_zero)(void *p, size_t bytes, ct_error *err);
    /* Copy bytes between host (CT_DEV_CPU) and device memory, any way. */
    int (*copy)(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes,
                ct_error *err);

    /* ---- tensor ops (cu_tensor.cu) ---- */
    int (*fill)(ct_tensor *t, float v, ct_error *err);
    int (*binary)(ct_tensor *out, const ct_tensor *a, const ct_tensor *b, int op, ct_error *err);
    int (*scalar)(ct_tensor *out, const ct_tensor *a, float s, int op, int scalar_first,
                  ct_error *err);
    int (*unary)(ct_tensor *out, const ct_tensor *a, int op, ct_error *err);
    int (*clamp)(ct_tensor *out, const ct_tensor *a, float lo, float hi, ct_error *err);
    int (*sum)(const ct_tensor *t, double *s, ct_error *err);
    int (*dot)(const ct_tensor *a, const ct_tensor *b, double *s, ct_error *err);
    int (*sum_to)(ct_tensor *out, const ct_tensor *a, ct_error *err);
    /* out (allocated by the caller) = the n tensors joined along dim. */
    int (*cat)(ct_tensor *out, const ct_tensor *const *ts, int n, int dim, ct_error *err);
    /* out = t's indices [start, start + out->shape[dim]) along dim. */
    int (*slice)(ct_tensor *out, const ct_tensor *t, int dim, int64_t start, ct_error *err);
    /* out (m×n) = a (m×k) · b (k×n). */
    int (*matmul)(ct_tensor *out, const ct_tensor *a, const ct_tensor *b, ct_error *err);
    /* Counter-based (Philox4x32-10) draws: element i of t gets the draw of
       counter i under key seed, uniform in [a, b) or normal N(a, b²). */
    int (*random)(ct_tensor *t, uint64_t seed, int normal, float a, float b, ct_error *err);
    /* Statistics of t over finite values, as ct_tensor_stats_of. */
    int (*stats)(const ct_tensor *t, ct_tensor_stats *s, ct_error *err);

    /* ---- losses (cu_loss.cu): loss is the mean, *grad is allocated ---- */
    int (*loss_mse)(const ct_tensor *pred, const ct_tensor *target, double *loss,
                    ct_tensor **grad, ct_error *err);
    int (*loss_bce_logits)(const ct_tensor *logits, const ct_tensor *target, double *loss,
                           ct_tensor **grad, ct_error *err);
    int (*loss_wasserstein)(const ct_tensor *scores, float sign, double *loss,
                            ct_tensor **grad, ct_error *err);

    /* ---- optimisation on the flat buffers (cu_optim.cu) ---- */
    /* One Adam/AdamW step over n elements, with ct_optim.c's coefficients
       {beta1, beta2, lr/bias_correction1, 1/bias_correction2, decay of the
       weights (AdamW), L2 factor (Adam), eps}. */
    int (*adam_step)(float *w, const float *g, float *m, float *v, size_t n, const float coef[7],
                     ct_error *err);
    /* *norm = the L2 norm of g (n elements); g scaled to max_norm if above. */
    int (*clip_grad_norm)(float *g, size_t n, double max_norm, double *norm, ct_error *err);
    int (*ema_update)(float *ema, const float *w, size_t n, float decay, ct_error *err);

    /* ---- layers (cu_layers.cu): dispatch on l->ops->kind ---- */
    int (*layer_forward)(struct ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);
    int (*layer_backward)(struct ct_layer *l, const ct_tensor *gy, ct_tensor **gx,
                          ct_error *err);
    /* Release the device-side state the plugin attached to l (may be NULL). */
    void (*layer_release)(struct ct_layer *l);
} ct_cuda_api;

/* The symbol the plugin exports: fill *api for the given ABI or fail. */
typedef int (*ct_cuda_plugin_fn)(int abi, const ct_cuda_api **api, ct_error *err);
#define CT_CUDA_PLUGIN_SYMBOL "ct_cuda_plugin"

/* Return the CUDA backend, loading the plugin and opening the device on
   first use; NULL with err saying what is missing.  A failure is
   remembered: later calls fail the same way without retrying. */
const ct_cuda_api *ct_cuda(ct_error *err);

/* The CUDA backend if it is already loaded, else NULL (never loads). */
const ct_cuda_api *ct_cuda_loaded(void);

/* Add dir to where the plugin is looked for (after the executable's own
   directory); the program gives pkglibdir.  The string is copied. */
void ct_backend_set_plugin_dir(const char *dir);

/* "cpu" or "cuda". */
const char *ct_device_name(int device);

/* Parse "cpu" / "cuda" / "cuda:0" into *device; CT_EINVAL otherwise. */
int ct_device_parse(const char *s, int *device, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
