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
#include "cu_layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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
    if (silu)
        norm_fwd_k<true><<<G, NT, 0, cu_stream()>>>(q, x->data, a ? a->data : NULL, gam, bet,
                                                     xhat->data, (*y)->data, rstd, rm, rv, nm->eps,
                                                     nm->momentum, running);
    else
        norm_fwd_k<false><<<G, NT, 0, cu_stream()>>>(q, x->data, NULL, gam, bet, xhat->data,
                                                      (*y)->data, rstd, rm, rv, nm->eps,
                                                      nm->momentum, running);
    ct_tensor_free(l->x);
    l->x = xhat;
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

static int launch_bwd(ct_norm *nm, const seg_geom &q, int G, const float *xhat, const float *gy,
                      const float *rstd, float *gx, float *ga, ct_error *err)
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
    if (silu) {
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
    int rc = launch_bwd(nm, q, G, xhat->data, gy->data, (const float *)d->p, (*gx)->data,
                        ga ? ga->data : NULL, err);
    if (rc != CT_OK) {
        ct_tensor_free(*gx);
        ct_tensor_free(ga);
        *gx = NULL;
        return rc;
    }
    if (silu && nm->gadd) *nm->gadd = ga;
    return CT_OK;
}
