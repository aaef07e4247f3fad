// cu_plugin.cu - the plugin's entry point: opens the device and fills the
// ct_cuda_api table (ct_backend.h) with the functions of the other .cu files.
#include "cu_ops.h"

#include <stdio.h>
#include <string.h>

static int device_count(int *n, ct_error *err)
{
    CU_CHECK(cudaGetDeviceCount(n), err);
    return CT_OK;
}

static int device_info(int i, ct_device_info *info, ct_error *err)
{
    cudaDeviceProp p;
    CU_CHECK(cudaGetDeviceProperties(&p, i), err);
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", p.name);
    info->major = p.major;
    info->minor = p.minor;
    info->multiprocessors = p.multiProcessorCount;
    int cur = 0;
    CU_CHECK(cudaGetDevice(&cur), err);
    if (cur == i) {
        CU_CHECK(cudaMemGetInfo(&info->free_bytes, &info->total_bytes), err);
    } else {
        info->total_bytes = p.totalGlobalMem;
    }
    return CT_OK;
}

static void *api_alloc(size_t bytes, ct_error *err) { return cu_alloc(bytes, err); }
static void api_free(void *p) { cu_free(p); }

static int memset_zero(void *p, size_t bytes, ct_error *err)
{
    CU_CHECK(cudaMemsetAsync(p, 0, bytes, cu_stream()), err);
    return CT_OK;
}

static int copy(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes,
                ct_error *err)
{
    if (bytes == 0) return CT_OK;
    cudaMemcpyKind kind = dst_dev == CT_DEV_CUDA
                              ? (src_dev == CT_DEV_CUDA ? cudaMemcpyDeviceToDevice
                                                        : cudaMemcpyHostToDevice)
                              : (src_dev == CT_DEV_CUDA ? cudaMemcpyDeviceToHost
                                                        : cudaMemcpyHostToHost);
    CU_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, cu_stream()), err);
    // The host side must be complete when this returns: the caller reads
    // (or frees) its buffer next.
    if (kind == cudaMemcpyDeviceToHost) return cu_sync(err);
    return CT_OK;
}

static ct_precision get_precision(void) { return cu_precision(); }

/* Weak defaults of the layers' side, replaced by cu_layers.cu's. */
extern "C" __attribute__((weak)) int cu_layer_forward(ct_layer *l, const ct_tensor *, ct_tensor **,
                                                      ct_error *err)
{
    return ct_fail(err, CT_EINVAL, "layer kind %s has no CUDA kernel", l->ops->kind);
}

extern "C" __attribute__((weak)) int cu_layer_backward(ct_layer *l, const ct_tensor *,
                                                       ct_tensor **, ct_error *err)
{
    return ct_fail(err, CT_EINVAL, "layer kind %s has no CUDA kernel", l->ops->kind);
}

extern "C" __attribute__((weak)) void cu_layer_release(ct_layer *) {}

static ct_cuda_api api;

extern "C" __attribute__((visibility("default"))) int ct_cuda_plugin(int abi,
                                                                    const ct_cuda_api **out,
                                                                    ct_error *err)
{
    if (abi != CT_CUDA_ABI)
        return ct_fail(err, CT_EINVAL, "the CUDA plugin is of another crystens (interface %d, "
                       "this program %d): rebuild it with this crystens", CT_CUDA_ABI, abi);
    int rc = cu_init(err);
    if (rc != CT_OK) return rc;
    api.abi = CT_CUDA_ABI;
    api.device_count = device_count;
    api.device_info = device_info;
    api.set_precision = cu_set_precision;
    api.precision = get_precision;
    api.sync = cu_sync;
    api.mem_stats = cu_mem_stats;
    api.mem_reset_peak = cu_mem_reset_peak;
    api.mem_release_cache = cu_release_cache;
    api.alloc = api_alloc;
    api.free = api_free;
    api.memset_zero = memset_zero;
    api.copy = copy;
    api.fill = cu_fill;
    api.binary = cu_binary;
    api.scalar = cu_scalar;
    api.unary = cu_unary;
    api.clamp = cu_clamp;
    api.sum = cu_sum;
    api.dot = cu_dot;
    api.sum_to = cu_sum_to;
    api.cat = cu_cat;
    api.slice = cu_slice;
    api.matmul = cu_matmul;
    api.random = cu_random;
    api.stats = cu_stats;
    cu_loss_api(&api);
    api.adam_step = cu_adam_step;
    api.clip_grad_norm = cu_clip_grad_norm;
    api.ema_update = cu_ema_update;
    api.layer_forward = cu_layer_forward;
    api.layer_backward = cu_layer_backward;
    api.layer_release = cu_layer_release;
    *out = &api;
    return CT_OK;
}
