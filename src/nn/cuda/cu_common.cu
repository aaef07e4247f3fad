// cu_common.cu - errors, stream, cuBLAS handle, caching allocator, workspace
// and the GEMM precision of the CUDA plugin (see cu_common.h).
#include "cu_common.h"

#include <stdlib.h>

#include <map>
#include <unordered_map>
#include <vector>

static cudaStream_t stream;
static cublasHandle_t blas;
static ct_precision precision = CT_PREC_FP32;

int cu_fail_cuda(cudaError_t e, const char *what, const char *file, int line, ct_error *err)
{
    cudaGetLastError();   // clear a non-sticky error so the next call starts clean
    if (e == cudaErrorMemoryAllocation)
        return ct_fail(err, CT_ENOMEM, "out of GPU memory (%s at %s:%d)", what, file, line);
    return ct_fail(err, CT_EIO, "CUDA error: %s (%s at %s:%d)", cudaGetErrorString(e), what,
                   file, line);
}

int cu_fail_cublas(cublasStatus_t s, const char *what, const char *file, int line,
                   ct_error *err)
{
    if (s == CUBLAS_STATUS_ALLOC_FAILED)
        return ct_fail(err, CT_ENOMEM, "out of GPU memory in cuBLAS (%s at %s:%d)", what, file,
                       line);
    return ct_fail(err, CT_EIO, "cuBLAS error: %s (%s at %s:%d)", cublasGetStatusString(s), what,
                   file, line);
}

cudaStream_t cu_stream(void) { return stream; }
cublasHandle_t cu_blas(void) { return blas; }

int cu_sync(ct_error *err)
{
    CU_CHECK(cudaStreamSynchronize(stream), err);
    CU_CHECK(cudaGetLastError(), err);
    return CT_OK;
}

int cu_expect_device(const ct_tensor *t, const char *what, ct_error *err)
{
    if (t->device == CT_DEV_CUDA) return CT_OK;
    return ct_fail(err, CT_EINVAL, "%s: the tensor is on %s, expected cuda", what,
                   ct_device_name(t->device));
}

/* ---- Device ---------------------------------------------------------------- */

int cu_init(ct_error *err)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorInsufficientDriver) {
        int drv = 0, rt = 0;
        cudaDriverGetVersion(&drv);
        cudaRuntimeGetVersion(&rt);
        return ct_fail(err, CT_EIO, "the NVIDIA driver (CUDA %d.%d) is older than the CUDA "
                       "runtime the plugin was built with (%d.%d)", drv / 1000, drv % 1000 / 10,
                       rt / 1000, rt % 1000 / 10);
    }
    if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0))
        return ct_fail(err, CT_EIO, "no CUDA device: the driver is there but sees no GPU");
    if (e != cudaSuccess) return cu_fail_cuda(e, "cudaGetDeviceCount", __FILE__, __LINE__, err);
    CU_CHECK(cudaSetDevice(0), err);
    CU_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), err);
    CUBLAS_CHECK(cublasCreate(&blas), err);
    CUBLAS_CHECK(cublasSetStream(blas, stream), err);
    return cu_set_precision(CT_PREC_FP32, err);
}

/* ---- Caching allocator ------------------------------------------------------
 * Blocks are rounded up (512 bytes below 1 MiB, 128 KiB above) and kept in
 * free lists by rounded size: a training step asks for the same sizes
 * every step, so after the first one it allocates nothing from the driver. */

static std::unordered_map<void *, size_t> live;            // pointer -> rounded size
static std::map<size_t, std::vector<void *>> cache;        // rounded size -> free blocks
static size_t bytes_live, bytes_peak, bytes_cached;
// $CRYSTENS_GPU_MEMORY_LIMIT (MiB): the most crystens holds, for a GPU
// shared with other jobs; 0 = the whole device.
static size_t bytes_limit;
static int limit_read;

static int over_limit(size_t size)
{
    if (!limit_read) {
        const char *e = getenv("CRYSTENS_GPU_MEMORY_LIMIT");
        bytes_limit = e && *e ? (size_t)strtoull(e, NULL, 10) << 20 : 0;
        limit_read = 1;
    }
    return bytes_limit && bytes_live + size > bytes_limit;
}

static size_t round_size(size_t b)
{
    if (b == 0) b = 1;
    size_t q = b < ((size_t)1 << 20) ? 512 : ((size_t)128 << 10);
    return (b + q - 1) / q * q;
}

void cu_release_cache(void)
{
    for (auto &kv : cache)
        for (void *p : kv.second) cudaFree(p);
    cache.clear();
    bytes_cached = 0;
}

void *cu_alloc(size_t bytes, ct_error *err)
{
    size_t size = round_size(bytes);
    auto it = cache.find(size);
    void *p = NULL;
    if (it != cache.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        bytes_cached -= size;
    } else {
        cudaError_t e = over_limit(size) ? cudaErrorMemoryAllocation : cudaMalloc(&p, size);
        if (e == cudaErrorMemoryAllocation && bytes_cached) {
            cudaGetLastError();
            cu_release_cache();
            e = over_limit(size) ? cudaErrorMemoryAllocation : cudaMalloc(&p, size);
        }
        if (e != cudaSuccess) {
            cudaGetLastError();
            size_t free_b = 0, total_b = 0;
            cudaMemGetInfo(&free_b, &total_b);
            if (e == cudaErrorMemoryAllocation)
                ct_fail(err, CT_ENOMEM, "out of GPU memory: %.1f MiB asked, %.1f MiB in use by "
                        "crystens%s, %.1f MiB free of %.1f MiB (a smaller batch needs less)",
                        (double)bytes / 1048576.0, (double)bytes_live / 1048576.0,
                        bytes_limit ? " (its limit: $CRYSTENS_GPU_MEMORY_LIMIT)" : "",
                        (double)free_b / 1048576.0, (double)total_b / 1048576.0);
            else
                cu_fail_cuda(e, "cudaMalloc", __FILE__, __LINE__, err);
            return NULL;
        }
    }
    live[p] = size;
    bytes_live += size;
    if (bytes_live > bytes_peak) bytes_peak = bytes_live;
    return p;
}

void cu_free(void *p)
{
    if (!p) return;
    auto it = live.find(p);
    if (it == live.end()) return;   // not ours: never happens through the tensor API
    size_t size = it->second;
    live.erase(it);
    bytes_live -= size;
    cache[size].push_back(p);
    bytes_cached += size;
}

void cu_mem_stats(ct_device_mem *m)
{
    m->in_use = bytes_live;
    m->peak = bytes_peak;
    m->cached = bytes_cached;
}

void cu_mem_reset_peak(void)
{
    bytes_peak = bytes_live;
}

static void *workspace;
static size_t workspace_size;

void *cu_workspace(size_t bytes, ct_error *err)
{
    if (bytes <= workspace_size && workspace) return workspace;
    // Back to the cache, not the driver: kernels still queued on the stream
    // may read the old buffer, and whoever gets it next runs after them.
    cu_free(workspace);
    workspace = NULL;
    workspace_size = 0;
    size_t want = bytes + bytes / 4;
    workspace = cu_alloc(want, err);
    if (!workspace) return NULL;
    workspace_size = want;
    return workspace;
}

static double *scratch;
static size_t scratch_n;

double *cu_scratch_doubles(size_t n, ct_error *err)
{
    if (n <= scratch_n && scratch) return scratch;
    cu_free(scratch);
    scratch = (double *)cu_alloc(n * sizeof(double), err);
    scratch_n = scratch ? n : 0;
    return scratch;
}

/* ---- Precision and GEMM ----------------------------------------------------- */

ct_precision cu_precision(void) { return precision; }

int cu_set_precision(ct_precision p, ct_error *err)
{
    if (p != CT_PREC_FP32 && p != CT_PREC_TF32 && p != CT_PREC_BF16)
        return ct_fail(err, CT_EINVAL, "unknown precision %d", (int)p);
    // TF32 and bf16 are chosen per GEMM by its compute type (cu_gemm); the
    // handle stays in the default math mode, where an fp32 GEMM is fp32.
    CUBLAS_CHECK(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH), err);
    precision = p;
    return CT_OK;
}

static cublasComputeType_t compute_type(void)
{
    switch (precision) {
    case CT_PREC_TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case CT_PREC_BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    default: return CUBLAS_COMPUTE_32F;
    }
}

// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the
// operands and the sizes, keep the transposes.
int cu_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
            const float *B, int ldb, float beta, float *C, int ldc, ct_error *err)
{
    if (m == 0 || n == 0) return CT_OK;
    CUBLAS_CHECK(cublasGemmEx(blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                              n, m, k, &alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, &beta, C,
                              CUDA_R_32F, ldc, compute_type(), CUBLAS_GEMM_DEFAULT),
                 err);
    return CT_OK;
}

int cu_gemm_batched(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                    long long sA, const float *B, int ldb, long long sB, float beta, float *C,
                    int ldc, long long sC, int batch, ct_error *err)
{
    if (m == 0 || n == 0 || batch == 0) return CT_OK;
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                            ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, B,
                                            CUDA_R_32F, ldb, sB, A, CUDA_R_32F, lda, sA, &beta, C,
                                            CUDA_R_32F, ldc, sC, batch, compute_type(),
                                            CUBLAS_GEMM_DEFAULT),
                 err);
    return CT_OK;
}
