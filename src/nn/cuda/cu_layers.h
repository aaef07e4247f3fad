/*
 * cu_layers.h - the layers' side of the CUDA plugin (gpu-layers): the
 * forward and backward of each layer kind on device tensors, and what the
 * kinds share.  cu_layers.cu dispatches on l->ops->kind to the functions
 * below; each has the contract of its CPU twin in ct_nn.h (same shapes,
 * same errors, parameters' gradients accumulated unless l->param_grads is
 * 0), with x, gy and the layer's parameters on the device.  Every kernel
 * runs on cu_stream(); nothing here waits for the GPU.
 */
#ifndef CU_LAYERS_H
#define CU_LAYERS_H

#include "cu_common.h"

extern "C" {
#include "ct_layers.h"
}

typedef int (*cu_fwd_fn)(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);
typedef int (*cu_bwd_fn)(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err);

int cu_linear_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);
int cu_linear_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err);
int cu_conv_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);
int cu_conv_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err);
int cu_norm_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);
int cu_norm_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err);
int cu_act_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);
int cu_act_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err);
int cu_attn_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);
int cu_attn_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err);
int cu_upsample_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);
int cu_upsample_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err);
int cu_timeembed_forward(ct_layer *l, const ct_tensor *t, ct_tensor **y, ct_error *err);
int cu_timeembed_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err);

/* ---- Shared by the kinds (cu_layers.cu) ---------------------------------- */

/* The device scratch of a layer (l->dev): at least bytes of device memory,
   kept across calls (grown, contents lost, when too small), and one kept
   tensor reference (the fused input of a norm). */
typedef struct {
    void *p;
    size_t bytes;
    ct_tensor *keep;
} cu_layer_dev;

/* l's scratch with room for bytes; NULL and err when out of memory. */
void *cu_layer_scratch(ct_layer *l, size_t bytes, ct_error *err);

/* l's scratch record (made empty on first use). */
cu_layer_dev *cu_layer_dev_of(ct_layer *l, ct_error *err);

/* A new uninitialised device tensor. */
ct_tensor *cu_empty(int ndim, const int64_t *shape, ct_error *err);

/* t[n][c][p] += b[c] for t N×C×P. */
int cu_add_channel_bias(float *t, const float *b, int N, int C, size_t P, ct_error *err);

/* out[c] += Σ_n Σ_p t[n][c][p] for t N×C×P (bias gradients), in a fixed
   order (deterministic). */
int cu_channel_sums_add(const float *t, int N, int C, size_t P, float *out, ct_error *err);

/* out[i] += Σ_b parts[b·n + i] for b < nb (per-sample partial products
   summed into a parameter gradient). */
int cu_sum_parts_add(const float *parts, int nb, size_t n, float *out, ct_error *err);

/* ---- Device helpers ------------------------------------------------------- */

/* Sum of v over the warp; every lane gets it. */
static __device__ __forceinline__ float cu_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float cu_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum of v over the block (blockDim.x a multiple of 32); every thread gets
   it, summed in a fixed order.  red: 32 floats of shared memory. */
static __device__ __forceinline__ float cu_block_sum(float v, float *red)
{
    v = cu_warp_sum(v);
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();   /* red may still be read after a previous call */
    if (!lane) red[w] = v;
    __syncthreads();
    float s = 0;
    for (int i = 0; i < nw; i++) s += red[i];
    return s;
}

/* A 2-D launch for rows × cols work (rows of a matrix, cols within a
   row): blocks of 256 threads along the row, rows along y (capped at
   65,535; kernels loop with CU_ROWS / CU_COLS). */
static inline dim3 cu_grid2(size_t rows, size_t cols)
{
    size_t bx = (cols + 255) / 256, by = rows;
    if (bx < 1) bx = 1;
    if (bx > 4096) bx = 4096;
    if (by < 1) by = 1;
    if (by > 65535) by = 65535;
    return dim3((unsigned)bx, (unsigned)by);
}

#define CU_ROWS(r, rows) for (size_t r = blockIdx.y; r < (size_t)(rows); r += gridDim.y)
#define CU_COLS(j, cols)                                                               \
    for (unsigned j = blockIdx.x * blockDim.x + threadIdx.x; j < (unsigned)(cols);    \
         j += gridDim.x * blockDim.x)

/* Division by an invariant d of 32-bit n, as a multiply-high and shifts
   (Granlund and Montgomery 1994, fig. 4.1): index decoding in the
   memory-bound kernels, where a hardware-less 32-bit division per element
   would cost more than the memory traffic. */
typedef struct {
    unsigned d, m, s1, s2;
} cu_fastdiv;

static inline cu_fastdiv cu_fastdiv_of(unsigned d)
{
    int l = 0;
    while ((1ull << l) < d) l++;
    cu_fastdiv f;
    f.d = d;
    f.m = (unsigned)(((1ull << 32) * ((1ull << l) - d)) / d + 1);
    f.s1 = l < 1 ? l : 1;
    f.s2 = l > 1 ? l - 1 : 0;
    return f;
}

static __device__ __forceinline__ unsigned cu_div(unsigned n, cu_fastdiv f)
{
    unsigned t = __umulhi(f.m, n);
    return (t + ((n - t) >> f.s1)) >> f.s2;
}

/* Grid-stride loop over [0, n). */
#define CU_FOR(i, n)                                                                   \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)(n);   \
         i += (size_t)gridDim.x * blockDim.x)

#endif
