/*
 * cu_ops.h - the tensor ops, losses and optimizer steps of the CUDA plugin
 * (cu_tensor.cu, cu_loss.cu, cu_optim.cu), as cu_plugin.cu puts them in
 * the ct_cuda_api table; each has the contract of its entry there.
 */
#ifndef CU_OPS_H
#define CU_OPS_H

#include "cu_common.h"

int cu_fill(ct_tensor *t, float v, ct_error *err);
int cu_binary(ct_tensor *out, const ct_tensor *a, const ct_tensor *b, int op, ct_error *err);
int cu_scalar(ct_tensor *out, const ct_tensor *a, float v, int op, int first, ct_error *err);
int cu_unary(ct_tensor *out, const ct_tensor *a, int op, ct_error *err);
int cu_clamp(ct_tensor *out, const ct_tensor *a, float lo, float hi, ct_error *err);
int cu_sum(const ct_tensor *t, double *s, ct_error *err);
int cu_dot(const ct_tensor *a, const ct_tensor *b, double *s, ct_error *err);
int cu_sum_to(ct_tensor *out, const ct_tensor *a, ct_error *err);
int cu_cat(ct_tensor *out, const ct_tensor *const *ts, int n, int dim, ct_error *err);
int cu_slice(ct_tensor *out, const ct_tensor *t, int dim, int64_t start, ct_error *err);
int cu_matmul(ct_tensor *out, const ct_tensor *a, const ct_tensor *b, ct_error *err);
int cu_random(ct_tensor *t, uint64_t seed, int normal, float a, float b, ct_error *err);
int cu_stats(const ct_tensor *t, ct_tensor_stats *st, ct_error *err);

/* Put the losses of cu_loss.cu (the entries loss_*) in api. */
void cu_loss_api(ct_cuda_api *api);

int cu_adam_step(float *w, const float *g, float *m, float *v, size_t n, const float coef[7],
                 ct_error *err);
int cu_clip_grad_norm(float *g, size_t n, double max_norm, double *norm, ct_error *err);
int cu_ema_update(float *ema, const float *w, size_t n, float decay, ct_error *err);

/* The reductions' two passes: how many blocks of 256 threads for n items,
   and the host-side total of nblocks device partials (synchronises). */
int cu_reduce_blocks(size_t n);
int cu_partials_total(const double *part, int nblocks, double *total, ct_error *err);

/* The sum of a double over a block (thread 0 holds it), for kernels; every
   thread of the block must call it. */
static __device__ __forceinline__ double block_sum(double v)
{
    __shared__ double sh[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    int nw = (blockDim.x + 31) >> 5;
    v = threadIdx.x < (unsigned)nw ? sh[threadIdx.x] : 0.0;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}


#endif
