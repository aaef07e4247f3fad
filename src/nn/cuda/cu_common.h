/*
 * cu_common.h - what every .cu file of the CUDA plugin shares: error checks
 * that turn CUDA and cuBLAS failures into ct_error, the one stream and
 * cuBLAS handle, the caching device allocator, a scratch workspace, the
 * GEMM precision and cu_gemm that honours it.
 *
 * Errors: a function of the plugin returns CT_OK or a ct_status with err
 * filled, like the core; it never aborts.  Wrap each runtime call:
 *
 *     CU_CHECK(cudaMemcpyAsync(...), err);     // returns from the function
 *     kernel<<<cu_blocks(n, 256), 256, 0, cu_stream()>>>(...);
 *     CU_CHECK_LAUNCH(err);                    // launch errors (bad config)
 *
 * Errors inside a kernel are asynchronous: they surface at the next
 * synchronising call (a copy to the host, cu_sync), which reports them.
 * Out of memory is CT_ENOMEM with the sizes, after the allocator has given
 * its cache back and retried once; the device stays usable.
 *
 * Everything runs on one stream (cu_stream()), so the order of launches is
 * the order of the program and a block freed to the cache can be handed
 * out again at once: a later kernel on the stream runs after the last use.
 *
 * Memory: cu_alloc / cu_free are the caching allocator (blocks are kept by
 * size and reused; cu_free never synchronises).  $CRYSTENS_GPU_MEMORY_LIMIT
 * (MiB) caps what it holds, for a GPU shared with other jobs.  Tensors allocate through
 * it (ct_tensor_empty_on(CT_DEV_CUDA, ...)); layer scratch should too.
 */
#ifndef CU_COMMON_H
#define CU_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "ct_backend.h"
#include "ct_common.h"
#include "ct_nn.h"
#include "ct_nn_impl.h"
#include "ct_tensor.h"
#include "ct_tensor_ops.h"
}

/* Fail with "WHAT failed at FILE:LINE: <CUDA's message>"; out of memory is
   CT_ENOMEM, anything else CT_EIO.  Clears the non-sticky error state. */
int cu_fail_cuda(cudaError_t e, const char *what, const char *file, int line, ct_error *err);
int cu_fail_cublas(cublasStatus_t s, const char *what, const char *file, int line,
                   ct_error *err);

#define CU_CHECK(call, err)                                                        \
    do {                                                                           \
        cudaError_t cu_e_ = (call);                                                \
        if (cu_e_ != cudaSuccess) return cu_fail_cuda(cu_e_, #call, __FILE__, __LINE__, err); \
    } while (0)

#define CU_CHECK_LAUNCH(err) CU_CHECK(cudaGetLastError(), err)

#define CUBLAS_CHECK(call, err)                                                    \
    do {                                                                           \
        cublasStatus_t cu_s_ = (call);                                             \
        if (cu_s_ != CUBLAS_STATUS_SUCCESS)                                        \
            return cu_fail_cublas(cu_s_, #call, __FILE__, __LINE__, err);          \
    } while (0)

/* The stream every kernel and copy of the plugin runs on. */
cudaStream_t cu_stream(void);

/* The cuBLAS handle, bound to cu_stream(). */
cublasHandle_t cu_blas(void);

/* Wait for the stream; report an asynchronous error. */
int cu_sync(ct_error *err);

/* The caching allocator: device memory of at least bytes (256-byte
   aligned), NULL and CT_ENOMEM with the sizes when the GPU is full. */
void *cu_alloc(size_t bytes, ct_error *err);

/* Return p (from cu_alloc; NULL is a no-op) to the cache. */
void cu_free(void *p);

/* Give every cached block back to the driver. */
void cu_release_cache(void);

/* Allocator statistics (ct_device_mem) and the reset of its peak. */
void cu_mem_stats(ct_device_mem *m);
void cu_mem_reset_peak(void);

/* A scratch buffer of at least bytes, shared by every user: valid until
   the next cu_workspace call (one stream: no two kernels of different
   users overlap), never freed by the caller. */
void *cu_workspace(size_t bytes, ct_error *err);

/* A temporary device array of doubles for reductions, of n elements. */
double *cu_scratch_doubles(size_t n, ct_error *err);

/* The GEMM precision (ct.nn.precision) and its switch. */
ct_precision cu_precision(void);
int cu_set_precision(ct_precision p, ct_error *err);

/* C (m×n) = alpha·op(A)·op(B) + beta·C in row-major storage, like
   ct_nn_gemm (ta, tb: transpose A, B; lda, ldb, ldc: row strides), on
   cuBLAS in the current precision: fp32, TF32 tensor cores, or bf16
   tensor cores with fp32 accumulation (inputs and outputs stay fp32 in
   memory; cuBLAS rounds the inputs to bf16 on the fly). */
int cu_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
            const float *B, int ldb, float beta, float *C, int ldc, ct_error *err);

/* batch GEMMs of cu_gemm's shape, operand i at A + i·sA, B + i·sB, C + i·sC. */
int cu_gemm_batched(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                    long long sA, const float *B, int ldb, long long sB, float beta, float *C,
                    int ldc, long long sC, int batch, ct_error *err);

/* Blocks of threads covering n items (at least 1; capped for grid-stride loops). */
static inline unsigned cu_blocks(size_t n, unsigned threads)
{
    size_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > 65535u * 16u) b = 65535u * 16u;
    return (unsigned)b;
}

/* Fail unless t is on the GPU (a CPU tensor would be dereferenced there). */
int cu_expect_device(const ct_tensor *t, const char *what, ct_error *err);

/* The layers' side (cu_layers.cu, gpu-layers): forward, backward and the
   release of what the plugin attached to a layer.  Until a kind has its
   kernels, the weak defaults in cu_plugin.cu fail with "layer kind X has
   no CUDA kernel". */
extern "C" int cu_layer_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);
extern "C" int cu_layer_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx,
                                 ct_error *err);
extern "C" void cu_layer_release(ct_layer *l);

/* The device initialisation the plugin entry does once: pick device 0,
   create the stream and the cuBLAS handle; "no CUDA device" etc. */
int cu_init(ct_error *err);

#endif
