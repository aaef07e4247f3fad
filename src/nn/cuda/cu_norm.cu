// cu_norm.cu - BatchNorm, GroupNorm, LayerNorm and the fused GroupNorm +
// SiLU (+ an N×C shift of the input) on the GPU (see ct_norm.c, their CPU
// twins, for the maths).
//
// One block per group (batchnorm: a channel; groupnorm: one sample's C/G
// channels; layernorm: a sample).  A group is nseg segments of S contiguous
// elements (batchnorm: one per sample; groupnorm: one per channel;
// layernorm: one), each with one channel (affine parameter, shift) and one
// sample.  The warps take (segment, slice) units, so a warp reads
// consecutive elements of one channel and keeps that channel's γ, β and
// shift in registers; reductions are warp shuffles, then fixed-order sums
// of the per-unit values (deterministic).
//
// Forward: the moments in two passes over the group (it sits in L2), then
// x̂ (kept in l->x for backward, as on the CPU) and y = γ x̂ + β, or its
// SiLU.  Backward: one pass for the sums Σ ĝ, Σ ĝ x̂ and the per-segment
// parameter sums, one for gx (and the shift's gradient, the per-segment
// sum of gx); groupnorm's parameter sums over the samples in a second
// small kernel, layernorm's (per element) in its own.
//
// GroupNorm (and the fused GroupNorm + SiLU) takes a faster path where it
// can (gn_plan): a group (one sample's C/G channels: contiguous) is split
// over a thread-block cluster of cl blocks, each holding whole channels of
// it in registers (float4 loads), and the group's sums are reduced over
// the cluster through distributed shared memory, every block adding the
// blocks' partial sums in rank order (deterministic).  The forward reads x
// once and writes x̂ and y (12 bytes an element), the backward reads x̂ and
// gy once and writes gx (12 bytes), where the path above reads the group
// two or three times, one block per group.
#include "cu_layers.h"

#include <cooperative_groups.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

namespace cg = cooperative_groups;

enum { NT = 256, NW = NT / 32 };

/* Where segment k of group g lies, its channel and sample. */
struct seg_geom {
    int mode;      /* NORM_BATCH, NORM_GROUP, NORM_LAYER */
    int N, C, G;   /* G: groups (groupnorm) */
    size_t S;      /* elements per segment */
    int nseg;      /* segments per group */
};

static __device__ __forceinline__ void seg_of(const seg_geom &q, int g, int k, size_t *off, int *ch,
                                              int *n)
{
    if (q.mode == NORM_BATCH) {
        *n = k, *ch = g;
    } else if (q.mode == NORM_GROUP) {
        int cpg = q.C / q.G;
        *n = g / q.G, *ch = (g % q.G) * cpg + k;
    } else {
        *n = g, *ch = 0;
    }
    *off = q.mode == NORM_LAYER ? (size_t)g * q.S : ((size_t)*n * q.C + *ch) * q.S;
}

static __device__ __forceinline__ float silu_f(float z) { return z / (1.0f + expf(-z)); }

static __device__ __forceinline__ float silu_grad(float z, float g)
{
    float s = 1.0f / (1.0f + expf(-z));
    return g * s * (1.0f + z * (1.0f - s));
}

/* Units: wps warps per segment when segments are fewer than warps. */
#define UNITS_BEGIN(q)                                                                         \
    {                                                                                          \
    int lane_ = threadIdx.x & 31, warp_ = threadIdx.x >> 5;                                    \
    int wps_ = (q).nseg < NW ? NW / (q).nseg : 1, units_ = (q).nseg * wps_;                    \
    for (int u_ = warp_; u_ < units_; u_ += NW) {                                              \
        int k_ = u_ / wps_, slice_ = u_ % wps_;                                                \
        size_t off_;                                                                           \
        int ch_, n_;                                                                           \
        seg_of(q, g, k_, &off_, &ch_, &n_);
#define UNITS_END }}
#define ELEMS_FOR(i, q) for (size_t i = (size_t)slice_ * 32 + lane_; i < (q).S; i += (size_t)32 * wps_)

/* Forward of group blockIdx.x.  add: N×C or NULL; running: batchnorm's
   running mean and variance (updated in training, used when use_running). */
template <bool SILU>
__global__ void norm_fwd_k(seg_geom q, const float *x, const float *add, const float *gam,
                           const float *bet, float *xhat, float *y, float *rstd_out, float *rmean,
                           float *rvar, float eps, float mom, int use_running)
{
    __shared__ float red[32];
    int g = blockIdx.x;
    float mean, rstd;
    if (use_running) {
        mean = rmean[g];
        rstd = (float)(1.0 / sqrt((double)rvar[g] + (double)eps));
    } else {
        double M = (double)q.nseg * (double)q.S;
        float s = 0;
        UNITS_BEGIN(q)
        float a = add ? add[(size_t)n_ * q.C + ch_] : 0.0f;
        ELEMS_FOR(i, q) s += x[off_ + i] + a;
        UNITS_END
        mean = (float)((double)cu_block_sum(s, red) / M);
        float v = 0;
        UNITS_BEGIN(q)
        float a = add ? add[(size_t)n_ * q.C + ch_] : 0.0f;
        ELEMS_FOR(i, q) {
            float d = x[off_ + i] + a - mean;
            v += d * d;
        }
        UNITS_END
        double var = (double)cu_block_sum(v, red) / M;
        rstd = (float)(1.0 / sqrt(var + (double)eps));
        if (rmean && !threadIdx.x) {   /* batchnorm in training: running averages */
            rmean[g] = (float)((1 - (double)mom) * (double)rmean[g] + (double)mom * mean);
            rvar[g] = (float)((1 - (double)mom) * (double)rvar[g] + (double)mom * var * M / (M - 1));
        }
    }
    if (!threadIdx.x) rstd_out[g] = rstd;
    UNITS_BEGIN(q)
    float a = add ? add[(size_t)n_ * q.C + ch_] : 0.0f;
    if (q.mode == NORM_LAYER) {
        ELEMS_FOR(i, q) {
            float h = (x[off_ + i] + a - mean) * rstd, z = h * gam[i] + bet[i];
            xhat[off_ + i] = h;
            y[off_ + i] = SILU ? silu_f(z) : z;
        }
    } else {
        float ga = gam[ch_], be = bet[ch_];
        ELEMS_FOR(i, q) {
            float h = (x[off_ + i] + a - mean) * rstd, z = h * ga + be;
            xhat[off_ + i] = h;
            y[off_ + i] = SILU ? silu_f(z) : z;
        }
    }
    UNITS_END
}

/* Backward of group blockIdx.x.  With SILU the output gradient first goes
   through the SiLU at z = γ x̂ + β.  part1/part2 (groupnorm, param sums):
   per (sample, channel) Σ gŷ and Σ gŷ x̂; batchnorm adds those of its
   channel to gb/gg itself.  ga (N×C or NULL): Σ gx per segment.
   Dynamic shared memory: 2 floats per unit. */
template <bool SILU>
__global__ void norm_bwd_k(seg_geom q, const float *xhat, const float *gy, const float *gam,
                           const float *bet, const float *rstd_in, float *gx, float *part1,
                           float *part2, float *gg, float *gb, float *ga, int batch_stats,
                           int param_grads)
{
    extern __shared__ float units[];   /* 2 × units_ */
    __shared__ float red[32];
    int g = blockIdx.x;
    float rstd = rstd_in[g];
    int wps = q.nseg < NW ? NW / q.nseg : 1, nunits = q.nseg * wps;
    float a1 = 0, a2 = 0;
    UNITS_BEGIN(q)
    float p1 = 0, p2 = 0;
    if (q.mode == NORM_LAYER) {
        ELEMS_FOR(i, q) {
            float h = xhat[off_ + i], gp = gy[off_ + i] * gam[i];
            a1 += gp;
            a2 += gp * h;
        }
    } else {
        float gm = gam[ch_], be = bet[ch_];
        ELEMS_FOR(i, q) {
            float h = xhat[off_ + i], gp = gy[off_ + i];
            if (SILU) gp = silu_grad(h * gm + be, gp);
            p1 += gp;
            p2 += gp * h;
        }
        a1 += gm * p1;   /* per segment: Σ ĝ = γ Σ gŷ */
        a2 += gm * p2;
    }
    p1 = cu_warp_sum(p1);
    p2 = cu_warp_sum(p2);
    if (!lane_) units[u_] = p1, units[nunits + u_] = p2;
    UNITS_END
    float M = (float)((double)q.nseg * (double)q.S);
    float m1 = cu_block_sum(a1, red) / M, m2 = cu_block_sum(a2, red) / M;   /* syncs */
    if (q.mode != NORM_LAYER && param_grads) {
        if (q.mode == NORM_GROUP) {
            for (int k = threadIdx.x; k < q.nseg; k += blockDim.x) {
                size_t off;
                int ch, n;
                seg_of(q, g, k, &off, &ch, &n);
                float s1 = 0, s2 = 0;
                for (int w = 0; w < wps; w++) s1 += units[k * wps + w], s2 += units[nunits + k * wps + w];
                part1[(size_t)n * q.C + ch] = s1;
                part2[(size_t)n * q.C + ch] = s2;
            }
        } else if (!threadIdx.x) {
            float s1 = 0, s2 = 0;
            for (int u = 0; u < nunits; u++) s1 += units[u], s2 += units[nunits + u];
            gb[g] += s1;
            gg[g] += s2;
        }
    }
    if (!batch_stats) m1 = m2 = 0;
    __syncthreads();   /* units is reused for the shift's gradient */
    UNITS_BEGIN(q)
    float sa = 0;
    if (q.mode == NORM_LAYER) {
        ELEMS_FOR(i, q) {
            float h = xhat[off_ + i], gp = gy[off_ + i] * gam[i];
            gx[off_ + i] = (gp - m1 - h * m2) * rstd;
        }
    } else {
        float gm = gam[ch_], be = bet[ch_];
        ELEMS_FOR(i, q) {
            float h = xhat[off_ + i], gp = gy[off_ + i];
            if (SILU) gp = silu_grad(h * gm + be, gp);
            float v = (gp * gm - m1 - h * m2) * rstd;
            gx[off_ + i] = v;
            sa += v;
        }
    }
    if (ga) {
        sa = cu_warp_sum(sa);
        if (!lane_) units[u_] = sa;
    }
    UNITS_END
    if (ga) {
        __syncthreads();
        for (int k = threadIdx.x; k < q.nseg; k += blockDim.x) {
            size_t off;
            int ch, n;
            seg_of(q, g, k, &off, &ch, &n);
            float s = 0;
            for (int w = 0; w < wps; w++) s += units[k * wps + w];
            ga[(size_t)n * q.C + ch] = s;
        }
    }
}

/* gx += r: the gradient to add, after the generic backward kernels. */
__global__ void add_into_k(float *gx, const float *r, size_t n)
{
    CU_FOR(i, n) gx[i] = gx[i] + r[i];
}

/* Groupnorm's parameter gradients: over the samples' partial sums. */
__global__ void gn_params_k(const float *part1, const float *part2, int N, int C, float *gg,
                            float *gb)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s1 = 0, s2 = 0;
    for (int n = 0; n < N; n++) s1 += part1[(size_t)n * C + c], s2 += part2[(size_t)n * C + c];
    gb[c] += s1;
    gg[c] += s2;
}

/* Layernorm's: per element i of a sample, over the samples. */
__global__ void ln_params_k(const float *xhat, const float *gy, int N, size_t per, float *gg,
                            float *gb)
{
    CU_FOR(i, per) {
        float s1 = 0, s2 = 0;
        for (int n = 0; n < N; n++) {
            float g = gy[(size_t)n * per + i];
            s1 += g;
            s2 += g * xhat[(size_t)n * per + i];
        }
        gb[i] += s1;
        gg[i] += s2;
    }
}

/* ---- GroupNorm over thread-block clusters ------------------------------------------ */

/* A group of cpg channels × hw pixels split over cl blocks of cpg/cl
   channels each (chunk floats), nf4 = chunk/4 float4 per block. */
struct gn_geom {
    int C, G, cpg, hw, cl, chunk;
};

enum { GN_VMAX = 8 };   /* float4 per thread at most */

/* Sum over the group of each of the block's NV values (every thread gets
   them): the block's sums, then with cl > 1 the cluster's blocks' sums in
   rank order.  slot: this round's NV floats of shared memory, never
   reused within the kernel (a remote block may still read it). */
template <int NV>
static __device__ __forceinline__ void gn_group_sum(float *v, float *red, float *slot, int cl)
{
    for (int i = 0; i < NV; i++) v[i] = cu_block_sum(v[i], red);
    if (cl == 1) return;
#if __CUDA_ARCH__ >= 900
    cg::cluster_group cluster = cg::this_cluster();
    if (!threadIdx.x)
        for (int i = 0; i < NV; i++) slot[i] = v[i];
    cluster.sync();
    for (int i = 0; i < NV; i++) v[i] = 0;
    for (int r = 0; r < cl; r++) {
        const float *o = cluster.map_shared_rank(slot, r);
        for (int i = 0; i < NV; i++) v[i] += o[i];
    }
#else
    __trap();   /* gn_plan keeps cl at 1 where clusters were not compiled in */
#endif
}

/* The end of a cluster kernel: no block leaves while another may read its
   shared memory. */
static __device__ __forceinline__ void gn_cluster_done(int cl)
{
#if __CUDA_ARCH__ >= 900
    if (cl > 1) cg::this_cluster().sync();
#endif
}

static __device__ __forceinline__ float4 f4_add(float4 v, float a)
{
    return make_float4(v.x + a, v.y + a, v.z + a, v.w + a);
}

/* Forward: block blockIdx.x % cl of group blockIdx.x / cl (= n G + group).
   add: N×C or NULL. */
template <bool SILU, int V, int T>
__global__ void __launch_bounds__(T) gn_fwd_k(gn_geom q, const float *x, const float *add,
                                              const float *gam, const float *bet, float *xhat,
                                              float *y, float *rstd_out, float eps)
{
    __shared__ float red[32], slots[2];
    int g = blockIdx.x / q.cl, rank = blockIdx.x % q.cl, n = g / q.G;
    int c0 = (g % q.G) * q.cpg + rank * (q.cpg / q.cl), nf4 = q.chunk / 4, hw4 = q.hw / 4;
    size_t base = (size_t)g * q.cpg * q.hw + (size_t)rank * q.chunk;
    const float4 *x4 = (const float4 *)(x + base);
    float4 v[V];
    float s[1] = {0};
#pragma unroll
    for (int k = 0; k < V; k++) {
        int f = k * T + threadIdx.x;
        if (f < nf4) {
            v[k] = x4[f];
            if (add) v[k] = f4_add(v[k], add[(size_t)n * q.C + c0 + f / hw4]);
            s[0] += (v[k].x + v[k].y) + (v[k].z + v[k].w);
        }
    }
    float M = (float)q.cpg * (float)q.hw;
    gn_group_sum<1>(s, red, slots, q.cl);
    float mean = s[0] / M, d[1] = {0};
#pragma unroll
    for (int k = 0; k < V; k++) {
        if (k * T + (int)threadIdx.x < nf4) {
            float a = v[k].x - mean, b = v[k].y - mean, c = v[k].z - mean, e = v[k].w - mean;
            d[0] += (a * a + b * b) + (c * c + e * e);
        }
    }
    gn_group_sum<1>(d, red, slots + 1, q.cl);
    float rstd = (float)(1.0 / sqrt((double)(d[0] / M) + (double)eps));
    if (!rank && !threadIdx.x) rstd_out[g] = rstd;
    float4 *h4 = (float4 *)(xhat + base), *y4 = (float4 *)(y + base);
#pragma unroll
    for (int k = 0; k < V; k++) {
        int f = k * T + threadIdx.x;
        if (f < nf4) {
            int c = c0 + f / hw4;
            float ga = gam[c], be = bet[c];
            float4 h = make_float4((v[k].x - mean) * rstd, (v[k].y - mean) * rstd,
                                   (v[k].z - mean) * rstd, (v[k].w - mean) * rstd);
            float4 z = make_float4(h.x * ga + be, h.y * ga + be, h.z * ga + be, h.w * ga + be);
            if (SILU) z = make_float4(silu_f(z.x), silu_f(z.y), silu_f(z.z), silu_f(z.w));
            h4[f] = h;
            y4[f] = z;
        }
    }
    gn_cluster_done(q.cl);
}

/* Per-channel sums of the block's per-float4 partials p (nf4 float2),
   written to cs (cpb float2): warp w takes channels w, w + T/32, ...,
   its lanes a fixed share each (deterministic). */
template <int T>
static __device__ __forceinline__ void gn_channel_sums(const float2 *p, float2 *cs, int cpb, int hw4)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int j = w; j < cpb; j += T / 32) {
        float a = 0, b = 0;
        for (int i = lane; i < hw4; i += 32) a += p[j * hw4 + i].x, b += p[j * hw4 + i].y;
        a = cu_warp_sum(a);
        b = cu_warp_sum(b);
        if (!lane) cs[j] = make_float2(a, b);
    }
}

/* Backward (groupnorm's batch statistics always).  part1/part2 (or NULL):
   per (sample, channel) Σ gŷ and Σ gŷ x̂; ga (or NULL): Σ gx per (sample,
   channel); res (or NULL): added to gx after that.  Dynamic shared memory:
   (nf4 + cpb) float2. */
template <bool SILU, int V, int T>
__global__ void __launch_bounds__(T) gn_bwd_k(gn_geom q, const float *xhat, const float *gy,
                                              const float *gam, const float *bet,
                                              const float *rstd_in, float *gx, float *part1,
                                              float *part2, float *ga, const float *res)
{
    extern __shared__ float2 sp[];   /* nf4 per-float4 partials, then cpb channel sums */
    __shared__ float red[32], slots[2];
    int g = blockIdx.x / q.cl, rank = blockIdx.x % q.cl, n = g / q.G, cpb = q.cpg / q.cl;
    int c0 = (g % q.G) * q.cpg + rank * cpb, nf4 = q.chunk / 4, hw4 = q.hw / 4;
    float2 *cs = sp + nf4;
    size_t base = (size_t)g * q.cpg * q.hw + (size_t)rank * q.chunk;
    const float4 *h4 = (const float4 *)(xhat + base), *g4 = (const float4 *)(gy + base);
    float4 h[V], gp[V];
#pragma unroll
    for (int k = 0; k < V; k++) {
        int f = k * T + threadIdx.x;
        if (f < nf4) h[k] = h4[f], gp[k] = g4[f];
    }
#pragma unroll
    for (int k = 0; k < V; k++) {
        int f = k * T + threadIdx.x;
        if (f < nf4) {
            if (SILU) {
                int c = c0 + f / hw4;
                float gm = gam[c], be = bet[c];
                gp[k] = make_float4(silu_grad(h[k].x * gm + be, gp[k].x), silu_grad(h[k].y * gm + be, gp[k].y),
                                    silu_grad(h[k].z * gm + be, gp[k].z), silu_grad(h[k].w * gm + be, gp[k].w));
            }
            sp[f] = make_float2((gp[k].x + gp[k].y) + (gp[k].z + gp[k].w),
                                (gp[k].x * h[k].x + gp[k].y * h[k].y) + (gp[k].z * h[k].z + gp[k].w * h[k].w));
        }
    }
    __syncthreads();
    gn_channel_sums<T>(sp, cs, cpb, hw4);
    __syncthreads();
    float a[2] = {0, 0};
    for (int j = threadIdx.x; j < cpb; j += T) {
        float gm = gam[c0 + j];
        a[0] += gm * cs[j].x;   /* Σ ĝ = γ Σ gŷ */
        a[1] += gm * cs[j].y;
        if (part1) part1[(size_t)n * q.C + c0 + j] = cs[j].x, part2[(size_t)n * q.C + c0 + j] = cs[j].y;
    }
    gn_group_sum<2>(a, red, slots, q.cl);   /* syncs: sp is free again */
    float M = (float)q.cpg * (float)q.hw, m1 = a[0] / M, m2 = a[1] / M, rstd = rstd_in[g];
    float4 *x4 = (float4 *)(gx + base);
#pragma unroll
    for (int k = 0; k < V; k++) {
        int f = k * T + threadIdx.x;
        if (f < nf4) {
            float gm = gam[c0 + f / hw4];
            float4 o = make_float4((gp[k].x * gm - m1 - h[k].x * m2) * rstd, (gp[k].y * gm - m1 - h[k].y * m2) * rstd,
                                   (gp[k].z * gm - m1 - h[k].z * m2) * rstd, (gp[k].w * gm - m1 - h[k].w * m2) * rstd);
            if (ga) sp[f] = make_float2((o.x + o.y) + (o.z + o.w), 0.0f);
            if (res) {
                float4 r = ((const float4 *)(res + base))[f];
                o = make_float4(o.x + r.x, o.y + r.y, o.z + r.z, o.w + r.w);
            }
            x4[f] = o;
        }
    }
    if (ga) {
        __syncthreads();
        gn_channel_sums<T>(sp, cs, cpb, hw4);
        __syncthreads();
        for (int j = threadIdx.x; j < cpb; j += T) ga[(size_t)n * q.C + c0 + j] = cs[j].x;
    }
    gn_cluster_done(q.cl);
}

/* The cluster path's launch: cl blocks of T threads per group, V float4
   per thread. */
struct gn_plan_t {
    gn_geom q;
    int T, V;
    size_t bwd_smem;
};

/* Whether the kernels were compiled with clusters (sm_90 and later). */
static int gn_clusters_compiled(void)
{
    static int known = -1;
    if (known < 0) {
        cudaFuncAttributes a;
        int dev = 0, major = 0;
        if (cudaFuncGetAttributes(&a, gn_fwd_k<true, 1, 256>) != cudaSuccess ||
            cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
            cudaGetLastError();   /* a failed query is only a no */
            known = 0;
        } else {
            known = a.binaryVersion >= 90 && major >= 9;
        }
    }
    return known;
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* The cluster path for groupnorm over N×C×(hw) with the given arrays, or 0
   where it does not apply (then the generic kernels run): hw a multiple
   of 4, the arrays 16-byte aligned, and a block's share (cpg/cl whole
   channels, cl ≤ 8 dividing cpg) at most 512 × 8 float4.  cl: the
   smallest divisor giving a share of at most 4,096 floats, or the largest
   fitting one; more blocks where the groups are few (small batches). */
static int gn_plan(const seg_geom &s, int ngroups, const void *const *ptrs, int nptrs, gn_plan_t *p)
{
    if (s.mode != NORM_GROUP || !ngroups || !s.S || s.S % 4 || s.S > (1u << 20)) return 0;
    for (int i = 0; i < nptrs; i++)
        if (ptrs[i] && !aligned16(ptrs[i])) return 0;
    int cpg = s.C / s.G, hw = (int)s.S, maxcl = gn_clusters_compiled() ? 8 : 1, cl = 0;
    size_t E = (size_t)cpg * hw;
    for (int d = 1; d <= maxcl && d <= cpg; d++) {
        if (cpg % d) continue;
        size_t chunk = E / d;
        if (chunk > (size_t)512 * GN_VMAX * 4) continue;
        if (!cl || chunk >= 1024) cl = d;   /* the largest with shares of at least 1,024 */
        if (chunk <= 4096 && (size_t)ngroups * d >= 1024) break;
    }
    if (!cl) return 0;
    int chunk = (int)(E / cl), nf4 = chunk / 4;
    p->q.C = s.C, p->q.G = s.G, p->q.cpg = cpg, p->q.hw = hw, p->q.cl = cl, p->q.chunk = chunk;
    if (nf4 <= 256 * GN_VMAX) {
        p->T = 256;
        p->V = 1;
        while (p->V * 256 < nf4) p->V *= 2;
    } else {
        p->T = 512, p->V = GN_VMAX;
    }
    p->bwd_smem = ((size_t)nf4 + (size_t)(cpg / cl)) * sizeof(float2);
    return p->bwd_smem <= 48 * 1024;
}

/* Launch kernel k over the plan's grid (a cluster launch where cl > 1). */
template <typename... KArgs, typename... Args>
static cudaError_t gn_launch(void (*k)(KArgs...), const gn_plan_t &p, int ngroups, size_t smem,
                             Args... args)
{
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    cfg.gridDim = dim3((unsigned)(ngroups * p.q.cl));
    cfg.blockDim = dim3((unsigned)p.T);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = cu_stream();
    if (p.q.cl > 1) {
        attr[0].id = cudaLaunchAttributeClusterDimension;
        attr[0].val.clusterDim.x = (unsigned)p.q.cl;
        attr[0].val.clusterDim.y = 1;
        attr[0].val.clusterDim.z = 1;
        cfg.attrs = attr;
        cfg.numAttrs = 1;
    }
    return cudaLaunchKernelEx(&cfg, k, ((KArgs)args)...);
}

template <bool SILU, int T, int V>
static cudaError_t gn_fwd_launch(const gn_plan_t &p, int ngroups, const float *x, const float *add,
                                 const float *gam, const float *bet, float *xhat, float *y,
                                 float *rstd, float eps)
{
    return gn_launch(gn_fwd_k<SILU, V, T>, p, ngroups, 0, p.q, x, add, gam, bet, xhat, y, rstd, eps);
}

template <bool SILU>
static cudaError_t gn_forward(const gn_plan_t &p, int ngroups, const float *x, const float *add,
                              const float *gam, const float *bet, float *xhat, float *y,
                              float *rstd, float eps)
{
#define GN_F(T_, V_) gn_fwd_launch<SILU, T_, V_>(p, ngroups, x, add, gam, bet, xhat, y, rstd, eps)
    if (p.T == 512) return GN_F(512, GN_VMAX);
    switch (p.V) {
    case 1: return GN_F(256, 1);
    case 2: return GN_F(256, 2);
    case 4: return GN_F(256, 4);
    default: return GN_F(256, GN_VMAX);
    }
#undef GN_F
}

template <bool SILU, int T, int V>
static cudaError_t gn_bwd_launch(const gn_plan_t &p, int ngroups, const float *xhat,
                                 const float *gy, const float *gam, const float *bet,
                                 const float *rstd, float *gx, float *p1, float *p2, float *ga,
                                 const float *res)
{
    return gn_launch(gn_bwd_k<SILU, V, T>, p, ngroups, p.bwd_smem, p.q, xhat, gy, gam, bet, rstd,
                     gx, p1, p2, ga, res);
}

template <bool SILU>
static cudaError_t gn_backward(const gn_plan_t &p, int ngroups, const float *xhat, const float *gy,
                               const float *gam, const float *bet, const float *rstd, float *gx,
                               float *p1, float *p2, float *ga, const float *res)
{
#define GN_B(T_, V_) gn_bwd_launch<SILU, T_, V_>(p, ngroups, xhat, gy, gam, bet, rstd, gx, p1, p2, ga, res)
    if (p.T == 512) return GN_B(512, GN_VMAX);
    switch (p.V) {
    case 1: return GN_B(256, 1);
    case 2: return GN_B(256, 2);
    case 4: return GN_B(256, 4);
    default: return GN_B(256, GN_VMAX);
    }
#undef GN_B
}

static int is_gns(const ct_layer *l) { return !strcmp(l->ops->kind, "groupnorm_silu"); }

static seg_geom geom_of(const ct_norm *nm, const ct_tensor *x, int *groups)
{
    seg_geom q;
    q.mode = nm->kind;
    q.N = (int)x->shape[0];
    q.C = nm->c;
    q.G = nm->groups;
    size_t per = x->numel / (size_t)q.N;
    if (nm->kind == NORM_BATCH) {
        q.S = per / (size_t)q.C, q.nseg = q.N, *groups = q.C;
    } else if (nm->kind == NORM_GROUP) {
        q.S = per / (size_t)q.C, q.nseg = q.C / q.G, *groups = q.N * q.G;
    } else {
        q.S = per, q.nseg = 1, *groups = q.N;
    }
    return q;
}

/* Shared memory of the backward kernel: 2 floats per unit. */
static size_t bwd_smem(const seg_geom &q)
{
    int wps = q.nseg < NW ? NW / q.nseg : 1;
    return 2 * (size_t)q.nseg * wps * sizeof(float);
}

/* Opt in to more than 48 KiB of dynamic shared memory where needed
   (batchnorm over a batch of more than 6,144 samples). */
template <bool SILU>
static int smem_ok(const ct_layer *l, size_t bytes, ct_error *err)
{
    if (bytes <= 48 * 1024) return CT_OK;
    if (bytes > 200 * 1024)
        return ct_fail(err, CT_EINVAL, "%s: %zu segments per group are more than the GPU kernel "
                       "handles", l->ops->kind, bytes / (2 * sizeof(float)));
    CU_CHECK(cudaFuncSetAttribute(norm_bwd_k<SILU>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  (int)bytes), err);
    return CT_OK;
}

int cu_norm_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err)
{
    ct_norm *nm = (ct_norm *)l;
    int silu = is_gns(l);
    const ct_tensor *a = silu ? nm->add : NULL;
    if (a && cu_expect_device(a, "groupnorm_silu shift", err) != CT_OK) return CT_EINVAL;
    ct_tensor *xhat;
    int rc = ct_norm_forward_begin(nm, x, &xhat, y, err);
    if (rc != CT_OK) return rc;
    int G;
    seg_geom q = geom_of(nm, x, &G);
    float *rstd = (float *)cu_layer_scratch(l, (size_t)G * sizeof(float), err);
    if (!rstd) {
        ct_tensor_free(xhat);
        ct_tensor_free(*y);
        *y = NULL;
        return CT_ENOMEM;
    }
    int running = nm->kind == NORM_BATCH && !l->training;
    nm->batch_stats = !running;
    if (silu) nm->had_add = a != NULL;
    float *rm = nm->kind == NORM_BATCH ? l->buffers[0].w->data : NULL;
    float *rv = nm->kind == NORM_BATCH ? l->buffers[1].w->data : NULL;
    const float *gam = l->params[0].w->data, *bet = l->params[1].w->data;
    gn_plan_t p;
    const void *ptrs[] = {x->data, xhat->data, (*y)->data};
    cudaError_t e = cudaSuccess;
    if (gn_plan(q, G, ptrs, 3, &p))
        e = silu ? gn_forward<true>(p, G, x->data, a ? a->data : NULL, gam, bet, xhat->data,
                                    (*y)->data, rstd, nm->eps)
                 : gn_forward<false>(p, G, x->data, NULL, gam, bet, xhat->data, (*y)->data, rstd,
                                     nm->eps);
    else if (silu)
        norm_fwd_k<true><<<G, NT, 0, cu_stream()>>>(q, x->data, a ? a->data : NULL, gam, bet,
                                                     xhat->data, (*y)->data, rstd, rm, rv, nm->eps,
                                                     nm->momentum, running);
    else
        norm_fwd_k<false><<<G, NT, 0, cu_stream()>>>(q, x->data, NULL, gam, bet, xhat->data,
                                                      (*y)->data, rstd, rm, rv, nm->eps,
                                                      nm->momentum, running);
    ct_tensor_free(l->x);
    l->x = xhat;
    CU_CHECK(e, err);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

static int launch_bwd(ct_norm *nm, const seg_geom &q, int G, const float *xhat, const float *gy,
                      const float *rstd, float *gx, float *ga, const ct_tensor *res, ct_error *err)
{
    ct_layer *l = &nm->base;
    int silu = is_gns(l), pg = l->param_grads;
    float *part = NULL;
    if (pg && nm->kind == NORM_GROUP &&
        !(part = (float *)cu_workspace(2 * (size_t)q.N * q.C * sizeof(float), err)))
        return CT_ENOMEM;
    size_t smem = bwd_smem(q);
    float *gg = l->params[0].g->data, *gb = l->params[1].g->data;
    const float *gam = l->params[0].w->data, *bet = l->params[1].w->data;
    float *p1 = part, *p2 = part ? part + (size_t)q.N * q.C : NULL;
    gn_plan_t p;
    const float *r = res ? res->data : NULL;
    const void *ptrs[] = {xhat, gy, gx, r};
    if (gn_plan(q, G, ptrs, 4, &p)) {
        cudaError_t e = silu ? gn_backward<true>(p, G, xhat, gy, gam, bet, rstd, gx, p1, p2, ga, r)
                             : gn_backward<false>(p, G, xhat, gy, gam, bet, rstd, gx, p1, p2, NULL, r);
        CU_CHECK(e, err);
        r = NULL;   /* added */
    } else if (silu) {
        if (smem_ok<true>(l, smem, err) != CT_OK) return CT_EINVAL;
        norm_bwd_k<true><<<G, NT, smem, cu_stream()>>>(q, xhat, gy, gam, bet, rstd, gx, p1, p2, gg,
                                                       gb, ga, nm->batch_stats, pg);
    } else {
        if (smem_ok<false>(l, smem, err) != CT_OK) return CT_EINVAL;
        norm_bwd_k<false><<<G, NT, smem, cu_stream()>>>(q, xhat, gy, gam, bet, rstd, gx, p1, p2, gg,
                                                        gb, NULL, nm->batch_stats, pg);
    }
    CU_CHECK_LAUNCH(err);
    if (part) {
        gn_params_k<<<(q.C + 255) / 256, 256, 0, cu_stream()>>>(p1, p2, q.N, q.C, gg, gb);
        CU_CHECK_LAUNCH(err);
    }
    if (pg && nm->kind == NORM_LAYER) {
        ln_params_k<<<cu_blocks(q.S, 256), 256, 0, cu_stream()>>>(xhat, gy, q.N, q.S, gg, gb);
        CU_CHECK_LAUNCH(err);
    }
    if (r) {
        add_into_k<<<cu_blocks(res->numel, 256), 256, 0, cu_stream()>>>(gx, r, res->numel);
        CU_CHECK_LAUNCH(err);
    }
    return CT_OK;
}

int cu_norm_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err)
{
    ct_norm *nm = (ct_norm *)l;
    const ct_tensor *xhat = l->x;
    if (ct_nn_check_grad(l, gy, xhat->ndim, xhat->shape, err) != CT_OK) return CT_EINVAL;
    int silu = is_gns(l), G;
    seg_geom q = geom_of(nm, xhat, &G);
    cu_layer_dev *d = (cu_layer_dev *)l->dev;
    if (!d || !d->p) return ct_fail(err, CT_EINVAL, "%s: backward before a forward on the GPU", l->ops->kind);
    int64_t gshape[2] = {q.N, q.C};
    ct_tensor *ga = NULL;
    if (!(*gx = cu_empty(xhat->ndim, xhat->shape, err)) ||
        (silu && nm->gadd && nm->had_add && !(ga = cu_empty(2, gshape, err)))) {
        ct_tensor_free(*gx);
        *gx = NULL;
        return CT_ENOMEM;
    }
    const ct_tensor *res = silu ? nm->gres : NULL;
    if (res && cu_expect_device(res, "groupnorm_silu gradient to add", err) != CT_OK) {
        ct_tensor_free(*gx);
        ct_tensor_free(ga);
        *gx = NULL;
        return CT_EINVAL;
    }
    int rc = launch_bwd(nm, q, G, xhat->data, gy->data, (const float *)d->p, (*gx)->data,
                        ga ? ga->data : NULL, res, err);
    if (rc != CT_OK) {
        ct_tensor_free(*gx);
        ct_tensor_free(ga);
        *gx = NULL;
        return rc;
    }
    if (silu && nm->gadd) *nm->gadd = ga;
    return CT_OK;
}
