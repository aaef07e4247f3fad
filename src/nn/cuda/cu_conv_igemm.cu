// cu_conv_igemm.cu - implicit-GEMM 2-D convolutions on the tensor cores
// (see cu_conv_igemm.h).
//
// Forward: C (m × n·oh·ow) = A (m × K) · B, K = c·kh·kw, where column j of
// B is the input patch of output position j, gathered as the tile is
// loaded: each thread owns one column of the block's tile (its image,
// output row and column decoded once) and walks the K rows in order,
// counting (channel, kernel row, kernel column) up without divisions.
// Where c is a multiple of the tile depth the rows run tap-major instead,
// k = (kernel row, kernel column, channel): a tile's rows are then
// channels of one tap, checked against the image's bounds once per tile
// (the U-Net's 64 to 256 channels).  A is the weight in the rows' order
// (rearranged in the workspace where that is not its own).  The input
// gradient of a stride-1 convolution is the same product on gy, with the
// weights transposed and their taps reversed, and padding k - 1 - p.
//
// Weight gradient: C (m × K) = Σ_positions gy (m × positions) · Bᵀ, a
// small output and a long reduction; the positions are cut into parts
// (blockIdx.z), each part's product written to a workspace, and the parts
// summed in order into the gradient (in the weight's own order).
//
// Tiles are BK = 16 deep, three cp.async stages, four warps a block.  The
// forward's block is 128 positions wide and 64 rows high (warps of 32×64),
// 128 high (64×64) for 128 output channels or more where that still gives
// two blocks per multiprocessor, 16 high for a handful; the weight
// gradient's is 128, 64 or 16 channels high and, on the tensor cores, 128
// patch rows wide (64 in fp32, for 16 channels, or for K up to 64), its
// gy tile copied 16 bytes at a time where the images allow, its parts as
// many as fill the multiprocessors once; on the tensor cores a 3-column
// kernel at stride 1 (the U-Net's 3×3) copies the input row segments
// under a tile's positions once for its 3 kernel columns instead
// (wgrad_rows_k: 64 rows by 64 channels × 3 columns).  The
// tensor cores multiply m16n8k8 TF32 or m16n8k16 bf16 mma.sync fragments;
// in fp32 the same tiles are multiplied with FFMA, each thread a block of
// up to 16×4 or 8×8, which keeps the products and sums exact fp32.
// Shared memory holds fp32 (cp.async copies 4-byte elements: the patches
// are not 16-byte aligned); fragments are rounded to TF32 or packed to
// bf16 when read.  Row strides of the tiles are padded so that fragment
// reads hit 32 distinct banks.
//
// The forward in TF32 and bf16 (fwds_k) stores its tiles rounded instead:
// 32 deep, two stages, A rounded once into the workspace, B gathered into
// registers a tile ahead and stored as TF32 or bf16, so that the fragments
// are plain 8-byte shared loads (bf16 tiles are half the bytes).
#include "cu_conv_igemm.h"
#include "cu_layers.h"

#include <cuda_bf16.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

namespace {

constexpr int BK = 16, STAGES = 3;

struct Geo {
    int C, H, W, M, OH, OW, KH, KW, sh, sw, ph, pw, K;
    unsigned npos;   // n·oh·ow
    cu_fastdiv by_P, by_OW;
};

// Output column pos of the forward's product: its image's input and the
// top-left corner of its patch; ok is false past the last column.
struct Col {
    const float *xi;
    int ih0, iw0;
    bool ok;
};

__device__ __forceinline__ Col col_of(const Geo &g, const float *x, unsigned pos)
{
    Col c = {x, 0, 0, pos < g.npos};
    if (c.ok) {
        unsigned img = cu_div(pos, g.by_P), p = pos - img * g.by_P.d;
        unsigned oh = cu_div(p, g.by_OW), ow = p - oh * g.by_OW.d;
        c.xi = x + (size_t)img * g.C * g.H * g.W;
        c.ih0 = (int)oh * g.sh - g.ph;
        c.iw0 = (int)ow * g.sw - g.pw;
    }
    return c;
}

__device__ __forceinline__ uint32_t tf32_of(float f)
{
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(f));
    return r;
}

__device__ __forceinline__ uint32_t bf2_of(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);   // .x (lo) in the low half
    return *reinterpret_cast<uint32_t *>(&v);
}

__device__ __forceinline__ void cp_async4(float *dst, const float *src, bool valid)
{
    unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(src),
                 "r"(valid ? 4 : 0));
}

__device__ __forceinline__ void cp_async16(float *dst, const float *src, bool valid)
{
    unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src),
                 "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N> __device__ __forceinline__ void cp_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Fragments of mma.sync (PTX ISA, "Matrix fragments for mma.m16n8k8 /
// m16n8k16"): g = lane / 4, t = lane % 4.  A tile [row][k] of row stride
// ld (k fastest), a B tile either [k][col] (col fastest, b_kn) or
// [col][k] (b_nk).  LDK: the padded row stride of [.][k] tiles; PADN: the
// padding of [k][col] rows.
struct TF32 {
    static constexpr bool SIMT = false;
    static constexpr int KSTEP = 8, LDK = BK + 4, PADN = 8;
    static __device__ __forceinline__ void a(uint32_t f[4], const float *s, int ld, int lane)
    {
        const float *p = s + (lane >> 2) * ld + (lane & 3);
        f[0] = tf32_of(p[0]);
        f[1] = tf32_of(p[8 * ld]);
        f[2] = tf32_of(p[4]);
        f[3] = tf32_of(p[8 * ld + 4]);
    }
    static __device__ __forceinline__ void b_kn(uint32_t f[2], const float *s, int ld, int lane)
    {
        const float *p = s + (lane & 3) * ld + (lane >> 2);
        f[0] = tf32_of(p[0]);
        f[1] = tf32_of(p[4 * ld]);
    }
    static __device__ __forceinline__ void b_nk(uint32_t f[2], const float *s, int ld, int lane)
    {
        const float *p = s + (lane >> 2) * ld + (lane & 3);
        f[0] = tf32_of(p[0]);
        f[1] = tf32_of(p[4]);
    }
    static __device__ __forceinline__ void mma(float c[4], const uint32_t a[4], const uint32_t b[2])
    {
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, "
                     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
};

// TF32 for the weight gradient, whose tiles are both [row][position]:
// the k = t and t + 4 of a fragment (A's a0, a2 and a1, a3; B's b0, b1)
// read from positions 2t and 2t + 1 of the step's 8, one 8-byte read
// each, in A and B alike, which only reorders the sum.  Rows 24 floats
// apart: the 8-byte reads of 8 rows × 4 lanes hit distinct banks.
struct TF32W {
    static constexpr bool SIMT = false;
    static constexpr int KSTEP = 8, LDK = BK + 8;
    static __device__ __forceinline__ void a(uint32_t f[4], const float *s, int ld, int lane)
    {
        const float *p = s + (lane >> 2) * ld + 2 * (lane & 3);
        float2 v0 = *(const float2 *)p, v1 = *(const float2 *)(p + 8 * ld);
        f[0] = tf32_of(v0.x);
        f[1] = tf32_of(v1.x);
        f[2] = tf32_of(v0.y);
        f[3] = tf32_of(v1.y);
    }
    static __device__ __forceinline__ void b_nk(uint32_t f[2], const float *s, int ld, int lane)
    {
        float2 v = *(const float2 *)(s + (lane >> 2) * ld + 2 * (lane & 3));
        f[0] = tf32_of(v.x);
        f[1] = tf32_of(v.y);
    }
    static __device__ __forceinline__ void mma(float c[4], const uint32_t a[4], const uint32_t b[2])
    {
        TF32::mma(c, a, b);
    }
};

struct BF16 {
    static constexpr bool SIMT = false;
    static constexpr int KSTEP = 16, LDK = BK + 8, PADN = 4;
    static __device__ __forceinline__ void a(uint32_t f[4], const float *s, int ld, int lane)
    {
        const float *p = s + (lane >> 2) * ld + 2 * (lane & 3);
        float2 v0 = *(const float2 *)p, v1 = *(const float2 *)(p + 8 * ld);
        float2 v2 = *(const float2 *)(p + 8), v3 = *(const float2 *)(p + 8 * ld + 8);
        f[0] = bf2_of(v0.x, v0.y);
        f[1] = bf2_of(v1.x, v1.y);
        f[2] = bf2_of(v2.x, v2.y);
        f[3] = bf2_of(v3.x, v3.y);
    }
    static __device__ __forceinline__ void b_kn(uint32_t f[2], const float *s, int ld, int lane)
    {
        const float *p = s + 2 * (lane & 3) * ld + (lane >> 2);
        f[0] = bf2_of(p[0], p[ld]);
        f[1] = bf2_of(p[8 * ld], p[9 * ld]);
    }
    static __device__ __forceinline__ void b_nk(uint32_t f[2], const float *s, int ld, int lane)
    {
        const float *p = s + (lane >> 2) * ld + 2 * (lane & 3);
        float2 v0 = *(const float2 *)p, v1 = *(const float2 *)(p + 8);
        f[0] = bf2_of(v0.x, v0.y);
        f[1] = bf2_of(v1.x, v1.y);
    }
    static __device__ __forceinline__ void mma(float c[4], const uint32_t a[4], const uint32_t b[2])
    {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
};

// fp32 on the CUDA cores (FFMA, exact fp32 products and sums): no
// fragments; tiles are stored k-major ([k][row], LDK unused) and each of
// the 128 threads holds a BM/8 × BN/16 block of the product (rows tm·BM/8
// on, columns tn·4 on in each 64-wide group), read as float4.
struct F32 {
    static constexpr bool SIMT = true;
    static constexpr int LDK = BK, PADN = 4;
};

// SIMT product of one BK-deep tile: acc[i][c] += Σ_k A[k][tm·RT + i] ·
// B[k][c / 4 · 64 + tn · 4 + c % 4], A and B k-major with row strides lda,
// ldb.
template <int RT, int CG>
__device__ __forceinline__ void simt_tile(float (&acc)[RT][CG * 4], const float *a, int lda,
                                          const float *b, int ldb)
{
#pragma unroll
    for (int k = 0; k < BK; k++) {
        float av[RT], bv[CG * 4];
        if constexpr (RT % 4 == 0) {
#pragma unroll
            for (int i = 0; i < RT; i += 4) {
                float4 v = *(const float4 *)(a + k * lda + i);
                av[i] = v.x, av[i + 1] = v.y, av[i + 2] = v.z, av[i + 3] = v.w;
            }
        } else {
#pragma unroll
            for (int i = 0; i < RT; i++) av[i] = a[k * lda + i];
        }
#pragma unroll
        for (int c = 0; c < CG; c++) {
            float4 v = *(const float4 *)(b + k * ldb + 64 * c);
            bv[4 * c] = v.x, bv[4 * c + 1] = v.y, bv[4 * c + 2] = v.z, bv[4 * c + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < RT; i++)
#pragma unroll
            for (int j = 0; j < CG * 4; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
}

// Forward: WM × WN warps, each MI m16 by NI n8 fragments (with F32, the
// same BM × BN tile by 128 threads); one thread per column of the BN-wide
// tile (BN = threads).
template <class P, int WM, int WN, int MI, int NI, bool TAPMAJOR>
__global__ void __launch_bounds__(WM *WN * 32)
fwd_k(const float *__restrict__ x, const float *__restrict__ Wt, const float *__restrict__ bias,
      float *__restrict__ y, Geo g)
{
    constexpr int NT = WM * WN * 32, BM = WM * MI * 16, BN = WN * NI * 8;
    constexpr int LDA = P::SIMT ? BM + 4 : P::LDK, LDB = BN + P::PADN;
    constexpr int A_RS = P::SIMT ? 1 : LDA, A_KS = P::SIMT ? LDA : 1;   // A (row, k) strides
    static_assert(BN == NT, "one B column per thread");
    static_assert((BM * BK) % NT == 0, "whole A tile loads");
    static_assert(!P::SIMT || (NT == 128 && BN % 64 == 0), "the SIMT threads' layout");
    // Dynamic shared memory (sized by fwd_launch): the 128-row tiles need more
    // than the 48 KiB of a static array.
    constexpr int A_SZ = P::SIMT ? BK * LDA : BM * LDA, B_SZ = BK * LDB;
    extern __shared__ __align__(16) float smem[];
    float(*sA)[A_SZ] = reinterpret_cast<float(*)[A_SZ]>(smem);
    float(*sB)[B_SZ] = reinterpret_cast<float(*)[B_SZ]>(smem + STAGES * A_SZ);

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp % WM, wn = warp / WM;
    const int m0 = blockIdx.y * BM;
    const unsigned n0 = blockIdx.x * (unsigned)BN;
    const int HW = g.H * g.W;

    // This thread's column: its image and the top-left of its patch.
    const Col pc = col_of(g, x, n0 + tid);
    const bool pok = pc.ok;
    const float *xi = pc.xi;
    const int ih0 = pc.ih0, iw0 = pc.iw0;
    // The next B row this thread loads: k = (ci · KH + r) · KW + s, or
    // with TAPMAJOR k = (r · KW + s) · C + ci, C a multiple of BK: a tile's
    // rows are BK channels of one tap, whose bounds check is the tile's.
    int kb = 0, ci = 0, r = 0, s = 0;

    auto load = [&](int stage, int kt) {
        const int k0 = kt * BK;
        float *a = sA[stage];
        if constexpr (TAPMAJOR && !P::SIMT) {   // K % BK == 0, K % 4 == 0: whole 16-byte pieces
            constexpr int PIECES = BM * BK / 4;
#pragma unroll
            for (int e = tid; e < PIECES; e += NT) {
                int row = e / (BK / 4), c4 = e % (BK / 4);
                int m = m0 + row;
                bool v = m < g.M;
                cp_async16(a + row * LDA + 4 * c4, v ? Wt + (size_t)m * g.K + k0 + 4 * c4 : Wt, v);
            }
        } else {
#pragma unroll
            for (int i = 0; i < BM * BK / NT; i++) {
                int e = tid + i * NT, row = e / BK, kk = e % BK;
                int m = m0 + row, k = k0 + kk;
                bool v = m < g.M && k < g.K;
                cp_async4(a + row * A_RS + kk * A_KS, v ? Wt + (size_t)m * g.K + k : Wt, v);
            }
        }
        float *b = sB[stage] + tid;
        if constexpr (TAPMAJOR) {
            int ih = ih0 + r, iw = iw0 + s;
            bool v = pok && (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W;
            const float *src = v ? xi + ci * HW + ih * g.W + iw : x;
#pragma unroll
            for (int kk = 0; kk < BK; kk++) cp_async4(b + kk * LDB, v ? src + kk * HW : x, v);
            if ((ci += BK) == g.C) {
                ci = 0;
                if (++s == g.KW) s = 0, r++;
            }
        } else {
#pragma unroll
            for (int kk = 0; kk < BK; kk++, kb++) {
                int ih = ih0 + r, iw = iw0 + s;
                bool v = pok && kb < g.K && (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W;
                cp_async4(b + kk * LDB, v ? xi + ci * HW + ih * g.W + iw : x, v);
                if (++s == g.KW) {
                    s = 0;
                    if (++r == g.KH) r = 0, ci++;
                }
            }
        }
    };

    const int KT = (g.K + BK - 1) / BK;
#pragma unroll
    for (int st = 0; st < STAGES - 1; st++) {
        if (st < KT) load(st, st);
        cp_commit();
    }
    const unsigned P_ = g.by_P.d;
    if constexpr (P::SIMT) {
        constexpr int RT = BM / 8, CG = BN / 64;
        const int tn = tid % 16, tm = tid / 16;
        float acc[RT][CG * 4];
#pragma unroll
        for (int i = 0; i < RT; i++)
#pragma unroll
            for (int j = 0; j < CG * 4; j++) acc[i][j] = 0.0f;
        for (int kt = 0; kt < KT; kt++) {
            cp_wait<STAGES - 2>();
            __syncthreads();
            if (kt + STAGES - 1 < KT) load((kt + STAGES - 1) % STAGES, kt + STAGES - 1);
            cp_commit();
            simt_tile<RT, CG>(acc, sA[kt % STAGES] + tm * RT, LDA, sB[kt % STAGES] + tn * 4, LDB);
        }
        cp_wait<0>();
        size_t col[CG * 4];
        bool cok[CG * 4];
#pragma unroll
        for (int j = 0; j < CG * 4; j++) {
            unsigned n = n0 + 64 * (j / 4) + tn * 4 + j % 4;
            cok[j] = n < g.npos;
            unsigned img = cu_div(n, g.by_P);
            col[j] = (size_t)img * g.M * P_ + (n - img * P_);
        }
        // With P a multiple of 4, a thread's 4 columns of a group are 4
        // neighbours of one image: one 16-byte store.
        const bool vec = P_ % 4 == 0;
#pragma unroll
        for (int i = 0; i < RT; i++) {
            int m = m0 + tm * RT + i;
            if (m >= g.M) continue;
            float bv = bias ? bias[m] : 0.0f;
            float *ym = y + (size_t)m * P_;
#pragma unroll
            for (int c = 0; c < CG; c++) {
                if (vec && cok[4 * c + 3]) {
                    *(float4 *)(ym + col[4 * c]) = make_float4(acc[i][4 * c] + bv, acc[i][4 * c + 1] + bv,
                                                               acc[i][4 * c + 2] + bv, acc[i][4 * c + 3] + bv);
                    continue;
                }
#pragma unroll
                for (int j = 4 * c; j < 4 * c + 4; j++)
                    if (cok[j]) ym[col[j]] = acc[i][j] + bv;
            }
        }
    } else {
        float acc[MI][NI][4];
#pragma unroll
        for (int i = 0; i < MI; i++)
#pragma unroll
            for (int j = 0; j < NI; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.0f;
        for (int kt = 0; kt < KT; kt++) {
            cp_wait<STAGES - 2>();
            __syncthreads();
            if (kt + STAGES - 1 < KT) load((kt + STAGES - 1) % STAGES, kt + STAGES - 1);
            cp_commit();
            const float *a = sA[kt % STAGES] + wm * MI * 16 * LDA;
            const float *b = sB[kt % STAGES] + wn * NI * 8;
#pragma unroll
            for (int ks = 0; ks < BK; ks += P::KSTEP) {
                uint32_t fa[MI][4], fb[NI][2];
#pragma unroll
                for (int i = 0; i < MI; i++) P::a(fa[i], a + i * 16 * LDA + ks, LDA, lane);
#pragma unroll
                for (int j = 0; j < NI; j++) P::b_kn(fb[j], b + ks * LDB + j * 8, LDB, lane);
#pragma unroll
                for (int i = 0; i < MI; i++)
#pragma unroll
                    for (int j = 0; j < NI; j++) P::mma(acc[i][j], fa[i], fb[j]);
            }
        }
        cp_wait<0>();

        // Fragment element (i, j, h·2 + e) is row g + 8h of m16 tile i, column
        // 2t + e of n8 tile j.
        const bool vec = P_ % 2 == 0;
        size_t col[NI][2];
        bool cok[NI][2];
#pragma unroll
        for (int j = 0; j < NI; j++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                unsigned n = n0 + wn * NI * 8 + j * 8 + 2 * (lane & 3) + e;
                cok[j][e] = n < g.npos;
                unsigned img = cu_div(n, g.by_P);
                col[j][e] = (size_t)img * g.M * P_ + (n - img * P_);
            }
#pragma unroll
        for (int i = 0; i < MI; i++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int m = m0 + wm * MI * 16 + i * 16 + (lane >> 2) + 8 * h;
                if (m >= g.M) continue;
                float bv = bias ? bias[m] : 0.0f;
                float *ym = y + (size_t)m * P_;
#pragma unroll
                for (int j = 0; j < NI; j++) {
                    if (vec && cok[j][1]) {   // columns 2t, 2t + 1: neighbours in one image
                        *(float2 *)(ym + col[j][0]) =
                            make_float2(acc[i][j][2 * h] + bv, acc[i][j][2 * h + 1] + bv);
                        continue;
                    }
#pragma unroll
                    for (int e = 0; e < 2; e++)
                        if (cok[j][e]) ym[col[j][e]] = acc[i][j][2 * h + e] + bv;
                }
            }
    }
}

// Forward on the tensor cores with the tiles rounded once, as they are
// stored: P::BK deep, two stages.  A (the weights) comes from the
// workspace already rounded (TF32) or packed (bf16) by prep_a_k, its rows
// zero-padded to a multiple of P::BK, and is copied with 16-byte cp.async;
// each thread gathers its column of B into registers (a tile ahead, over
// the product of the current one, CH rows at a time), rounds or packs it
// and stores it in 8-byte units of KU consecutive k.  The mma's k slots are permuted so
// that a thread's fragment elements are neighbours in k: slots t and t + 4
// (TF32) or 2t, 2t + 1 and 2t + 8, 2t + 9 (bf16) are k = KU·t to KU·t +
// KU - 1 of the step, the same permutation for A and B, so that every
// fragment register pair is one 8-byte shared load and nothing is
// converted when read.
constexpr int CH = 16;

// BK: the tile depth; ROWB: A's row stride in bytes, 32 past the row: the
// 8-byte reads of a half warp (rows g + 0..3, 8 bytes t apart) then fall
// on distinct banks.
struct TF32S {
    using T = float;   // the storage of A (rounded to TF32)
    static constexpr int KU = 2, KSTEP = 8, BK = 32;
    static constexpr int ROWB = BK * 4 + 32;
    static __device__ __forceinline__ T of(float f) { return __uint_as_float(tf32_of(f)); }
    static __device__ __forceinline__ uint2 unit(const float *v) { return make_uint2(tf32_of(v[0]), tf32_of(v[1])); }
    static __device__ __forceinline__ void mma(float c[4], const uint32_t a[4], const uint32_t b[2])
    {
        TF32::mma(c, a, b);
    }
};

struct BF16S {
    using T = __nv_bfloat16;
    static constexpr int KU = 4, KSTEP = 16, BK = 32;
    static constexpr int ROWB = BK * 2 + 32;
    static __device__ __forceinline__ T of(float f) { return __float2bfloat16_rn(f); }
    static __device__ __forceinline__ uint2 unit(const float *v)
    {
        return make_uint2(bf2_of(v[0], v[1]), bf2_of(v[2], v[3]));
    }
    static __device__ __forceinline__ void mma(float c[4], const uint32_t a[4], const uint32_t b[2])
    {
        BF16::mma(c, a, b);
    }
};

template <class P, int WM, int WN, int MI, int NI> struct FwdS {
    static constexpr int NT = WM * WN * 32, BM = WM * MI * 16, BN = WN * NI * 8;
    static constexpr int UPT = P::BK / P::KU;   // B units per column of a tile
    static constexpr int LDBU = BN + 4;       // B row stride in units: 8-byte reads on distinct banks
    static constexpr int A_BYTES = BM * P::ROWB, B_BYTES = UPT * LDBU * 8;
    static constexpr int bytes = 2 * (A_BYTES + B_BYTES);
};

template <class P, int WM, int WN, int MI, int NI, bool TAPMAJOR>
__global__ void __launch_bounds__(WM *WN * 32, MI >= 4 ? 2 : 3)
fwds_k(const float *__restrict__ x, const typename P::T *__restrict__ Wt, const float *__restrict__ bias,
       float *__restrict__ y, Geo g, int Kp)
{
    using S = FwdS<P, WM, WN, MI, NI>;
    constexpr int NT = S::NT, BM = S::BM, BN = S::BN, KU = P::KU, ESZ = (int)sizeof(typename P::T);
    constexpr int BK = P::BK, CPR = BK * ESZ / 16, CHUNKS = BM * CPR;   // 16-byte pieces of A per row, per tile
    static_assert(BN == NT, "one B column per thread");
    static_assert(KU * ESZ == 8 && BK % CH == 0 && CH % P::KSTEP == 0, "8-byte units, whole steps");
    extern __shared__ __align__(16) unsigned char smem_s[];
    unsigned char *sA[2] = {smem_s, smem_s + S::A_BYTES};
    uint2 *sB[2] = {reinterpret_cast<uint2 *>(smem_s + 2 * S::A_BYTES),
                    reinterpret_cast<uint2 *>(smem_s + 2 * S::A_BYTES + S::B_BYTES)};

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp % WM, wn = warp / WM;
    const int m0 = blockIdx.y * BM;
    const unsigned n0 = blockIdx.x * (unsigned)BN;
    const int HW = g.H * g.W;

    const Col pc = col_of(g, x, n0 + tid);
    const bool pok = pc.ok;
    const float *xi = pc.xi;
    const int ih0 = pc.ih0, iw0 = pc.iw0;
    // The next k this thread gathers, as in fwd_k, CH rows at a time
    // (TAPMAJOR: C a multiple of CH, CH channels of one tap).
    int kb = 0, ci = 0, r = 0, s = 0;
    auto gather = [&](float(&v)[CH]) {
        if constexpr (TAPMAJOR) {
            int ih = ih0 + r, iw = iw0 + s;   // r = KH: the zero rows past K
            bool ok = pok && r < g.KH && (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W;
            const float *src = ok ? xi + (size_t)ci * HW + ih * g.W + iw : x;
#pragma unroll
            for (int kk = 0; kk < CH; kk++) v[kk] = ok ? __ldg(src + kk * HW) : 0.0f;
            if ((ci += CH) == g.C) {
                ci = 0;
                if (++s == g.KW) s = 0, r++;
            }
        } else {
#pragma unroll
            for (int kk = 0; kk < CH; kk++, kb++) {
                int ih = ih0 + r, iw = iw0 + s;
                bool ok = pok && kb < g.K && (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W;
                v[kk] = ok ? __ldg(xi + (size_t)ci * HW + ih * g.W + iw) : 0.0f;
                if (++s == g.KW) {
                    s = 0;
                    if (++r == g.KH) r = 0, ci++;
                }
            }
        }
    };
    auto stash = [&](int stage, int h, const float(&v)[CH]) {   // rows h·CH on
#pragma unroll
        for (int u = 0; u < CH / KU; u++) sB[stage][(h * CH / KU + u) * S::LDBU + tid] = P::unit(v + KU * u);
    };
    auto load_a = [&](int stage, int kt) {
        const char *src = reinterpret_cast<const char *>(Wt) + (size_t)kt * BK * ESZ;
#pragma unroll
        for (int i = 0; i < (CHUNKS + NT - 1) / NT; i++) {
            int e = tid + i * NT;
            if (CHUNKS % NT != 0 && e >= CHUNKS) break;
            int row = e / CPR, c = e % CPR, m = m0 + row;
            bool ok = m < g.M;
            cp_async16(reinterpret_cast<float *>(sA[stage] + row * P::ROWB + 16 * c),
                       reinterpret_cast<const float *>(ok ? src + (size_t)m * Kp * ESZ + 16 * c
                                                          : reinterpret_cast<const char *>(Wt)),
                       ok);
        }
    };

    float acc[MI][NI][4];
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NI; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.0f;

    const int KT = Kp / BK;
    float v[CH];
    load_a(0, 0);
    cp_commit();
#pragma unroll
    for (int h = 0; h < BK / CH; h++) {
        gather(v);
        stash(0, h, v);
    }
    cp_wait<0>();
    __syncthreads();
    const int g4 = lane >> 2, t4 = lane & 3;
    for (int kt = 0; kt < KT; kt++) {
        const int cur = kt & 1;
        const bool more = kt + 1 < KT;
        if (more) {   // the next tile, over this one's product, CH rows at a time (fewer registers)
            load_a(cur ^ 1, kt + 1);
            cp_commit();
            gather(v);
        }
        const unsigned char *a = sA[cur] + (wm * MI * 16 + g4) * P::ROWB + 8 * t4;
        const uint2 *b = sB[cur] + t4 * S::LDBU + wn * NI * 8 + g4;
#pragma unroll
        for (int ks = 0; ks < BK; ks += P::KSTEP) {
            if (ks % CH == 0 && ks > 0 && more) {
                stash(cur ^ 1, ks / CH - 1, v);
                gather(v);
            }
            uint32_t fa[MI][4], fb[NI][2];
#pragma unroll
            for (int i = 0; i < MI; i++) {
                const unsigned char *p = a + i * 16 * P::ROWB + ks * ESZ;
                uint2 lo = *reinterpret_cast<const uint2 *>(p), hi = *reinterpret_cast<const uint2 *>(p + 8 * P::ROWB);
                fa[i][0] = lo.x, fa[i][1] = hi.x, fa[i][2] = lo.y, fa[i][3] = hi.y;
            }
#pragma unroll
            for (int j = 0; j < NI; j++) {
                uint2 u = b[(ks / KU) * S::LDBU + j * 8];
                fb[j][0] = u.x, fb[j][1] = u.y;
            }
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NI; j++) P::mma(acc[i][j], fa[i], fb[j]);
        }
        if (more) {
            stash(cur ^ 1, BK / CH - 1, v);
            cp_wait<0>();
        }
        __syncthreads();
    }

    // Fragment element (i, j, h·2 + e) is row g + 8h of m16 tile i, column
    // 2t + e of n8 tile j.
    const unsigned P_ = g.by_P.d;
    const bool vec = P_ % 2 == 0;
    size_t col[NI][2];
    bool cok[NI][2];
#pragma unroll
    for (int j = 0; j < NI; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            unsigned n = n0 + wn * NI * 8 + j * 8 + 2 * t4 + e;
            cok[j][e] = n < g.npos;
            unsigned img = cu_div(n, g.by_P);
            col[j][e] = (size_t)img * g.M * P_ + (n - img * P_);
        }
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int m = m0 + wm * MI * 16 + i * 16 + g4 + 8 * h;
            if (m >= g.M) continue;
            float bv = bias ? bias[m] : 0.0f;
            float *ym = y + (size_t)m * P_;
#pragma unroll
            for (int j = 0; j < NI; j++) {
                if (vec && cok[j][1]) {   // columns 2t, 2t + 1: neighbours in one image
                    *(float2 *)(ym + col[j][0]) = make_float2(acc[i][j][2 * h] + bv, acc[i][j][2 * h + 1] + bv);
                    continue;
                }
#pragma unroll
                for (int e = 0; e < 2; e++)
                    if (cok[j][e]) ym[col[j][e]] = acc[i][j][2 * h + e] + bv;
            }
        }
}

// Weight gradient: C (M × K) over the positions of part blockIdx.z (tiles
// kt0 .. kt1 of BK positions), into parts + z·M·K.  A tile: gy rows (one
// output channel each) × BK positions; B tile: BN patch rows (channel,
// kernel row, kernel column) × BK positions, both [row][position].  With
// TAPMAJOR (k = tap · C + ci, C a multiple of 64) every 64 rows of the B
// tile are channels of one tap, one bounds check each.  With VECA (tensor
// cores, oh·ow a multiple of 4, gy 16-byte aligned) the gy tile is copied
// in 16-byte pieces: 4 positions of one image, never split by the tile.
template <class P, int WM, int WN, int MI, int NI, bool TAPMAJOR, bool VECA>
__global__ void __launch_bounds__(WM *WN * 32)
wgrad_k(const float *__restrict__ x, const float *__restrict__ gy, float *__restrict__ parts,
        Geo g, int tiles_per_part)
{
    constexpr int NT = WM * WN * 32, BM = WM * MI * 16, BN = WN * NI * 8;
    constexpr int LD = P::LDK;
    // (row, position) strides of the tiles: [row][position] for the
    // fragments, [position][row] for SIMT
    constexpr int LDAT = BM + 4, LDBT = BN + 4;
    constexpr int A_RS = P::SIMT ? 1 : LD, A_KS = P::SIMT ? LDAT : 1;
    constexpr int B_RS = P::SIMT ? 1 : LD, B_KS = P::SIMT ? LDBT : 1;
    static_assert(NT % BK == 0 && (BM * BK) % NT == 0 && (BN * BK) % NT == 0, "whole tiles");
    static_assert(!P::SIMT || (NT == 128 && BN % 64 == 0), "the SIMT threads' layout");
    static_assert(!TAPMAJOR || (BN % 64 == 0 && 64 * BK == 8 * NT), "64-row taps, 8 rows a thread");
    static_assert(!VECA || (!P::SIMT && (BM * BK / 4) % NT == 0 && NT % (BK / 4) == 0 && LD % 4 == 0),
                  "whole 16-byte pieces");
    // Dynamic shared memory (sized by wgrad_launch), as in fwd_k.
    constexpr int A_SZ = P::SIMT ? BK * LDAT : BM * LD, B_SZ = P::SIMT ? BK * LDBT : BN * LD;
    extern __shared__ __align__(16) float smem[];
    float(*sA)[A_SZ] = reinterpret_cast<float(*)[A_SZ]>(smem);
    float(*sB)[B_SZ] = reinterpret_cast<float(*)[B_SZ]>(smem + STAGES * A_SZ);
    __shared__ int4 rows[BN];   // per B row: channel offset, kernel row - ph, column - pw, valid

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp % WM, wn = warp / WM;
    const int m0 = blockIdx.y * BM, k0 = blockIdx.x * BN;
    const int HW = g.H * g.W, taps = g.KH * g.KW;
    const unsigned P_ = g.by_P.d;
    for (int i = tid; i < BN; i += NT) {
        int k = k0 + i, ci, t;
        if (TAPMAJOR) t = k / g.C, ci = k - t * g.C;
        else ci = k / taps, t = k - ci * taps;
        int r = t / g.KW;
        rows[i] = make_int4(ci * HW, r - g.ph, t - r * g.KW - g.pw, k < g.K);
    }
    __syncthreads();

    const int kk = tid % BK, row0 = tid / BK;
    const int kt0 = blockIdx.z * tiles_per_part;
    const int ntiles = (int)((g.npos + BK - 1) / BK);
    const int kt1 = min(kt0 + tiles_per_part, ntiles);

    auto load = [&](int stage, int kt) {
        unsigned pos = (unsigned)kt * BK + kk;
        bool pok = pos < g.npos;
        unsigned img = 0, p = 0, oh = 0, ow = 0;
        if (pok) {
            img = cu_div(pos, g.by_P), p = pos - img * P_;
            oh = cu_div(p, g.by_OW), ow = p - oh * g.by_OW.d;
        }
        if constexpr (VECA) {
            constexpr int Q = BK / 4;   // pieces a row
            unsigned pa = (unsigned)kt * BK + 4 * (tid % Q);
            bool aok = pa < g.npos;   // npos is a multiple of 4: the whole piece
            unsigned ia = aok ? cu_div(pa, g.by_P) : 0;
            const float *gya = gy + (size_t)ia * g.M * P_ + (pa - ia * P_);
            float *a = sA[stage] + 4 * (tid % Q);
#pragma unroll
            for (int i = 0; i < BM * Q / NT; i++) {
                int row = tid / Q + i * (NT / Q), m = m0 + row;
                bool v = aok && m < g.M;
                cp_async16(a + row * LD, v ? gya + (size_t)m * P_ : gy, v);
            }
        } else {
            const float *gyi = gy + (size_t)img * g.M * P_ + p;
            float *a = sA[stage] + kk * A_KS;
#pragma unroll
            for (int i = 0; i < BM * BK / NT; i++) {
                int row = row0 + i * (NT / BK), m = m0 + row;
                bool v = pok && m < g.M;
                cp_async4(a + row * A_RS, v ? gyi + (size_t)m * P_ : gy, v);
            }
        }
        const float *xi = x + (size_t)img * g.C * HW;
        int ihs = (int)oh * g.sh, iws = (int)ow * g.sw;
        float *b = sB[stage] + kk * B_KS;
        if constexpr (TAPMAJOR) {   // 64 rows of one tap: one bounds check, rows a channel apart
#pragma unroll
            for (int j = 0; j < BN / 64; j++) {
                int4 q = rows[64 * j + row0];
                int ih = ihs + q.y, iw = iws + q.z;
                bool v = pok && q.w && (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W;
                const float *src = v ? xi + q.x + ih * g.W + iw : x;
#pragma unroll
                for (int i = 0; i < 64 * BK / NT; i++)
                    cp_async4(b + (64 * j + row0 + i * (NT / BK)) * B_RS, v ? src + i * (NT / BK) * HW : x, v);
            }
        } else {
#pragma unroll 4
            for (int i = 0; i < BN * BK / NT; i++) {
                int row = row0 + i * (NT / BK);
                int4 q = rows[row];
                int ih = ihs + q.y, iw = iws + q.z;
                bool v = pok && q.w && (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W;
                cp_async4(b + row * B_RS, v ? xi + q.x + ih * g.W + iw : x, v);
            }
        }
    };

#pragma unroll
    for (int st = 0; st < STAGES - 1; st++) {
        if (kt0 + st < kt1) load(st, kt0 + st);
        cp_commit();
    }
    if constexpr (P::SIMT) {
        constexpr int RT = BM / 8, CG = BN / 64;
        const int tn = tid % 16, tm = tid / 16;
        float acc[RT][CG * 4];
#pragma unroll
        for (int i = 0; i < RT; i++)
#pragma unroll
            for (int j = 0; j < CG * 4; j++) acc[i][j] = 0.0f;
        for (int kt = kt0; kt < kt1; kt++) {
            cp_wait<STAGES - 2>();
            __syncthreads();
            int nk = kt + STAGES - 1;
            if (nk < kt1) load((nk - kt0) % STAGES, nk);
            cp_commit();
            simt_tile<RT, CG>(acc, sA[(kt - kt0) % STAGES] + tm * RT, LDAT,
                              sB[(kt - kt0) % STAGES] + tn * 4, LDBT);
        }
        cp_wait<0>();
        float *out = parts + (size_t)blockIdx.z * g.M * g.K;
#pragma unroll
        for (int i = 0; i < RT; i++) {
            int m = m0 + tm * RT + i;
            if (m >= g.M) continue;
#pragma unroll
            for (int j = 0; j < CG * 4; j++) {
                int k = k0 + 64 * (j / 4) + tn * 4 + j % 4;
                if (k < g.K) out[(size_t)m * g.K + k] = acc[i][j];
            }
        }
    } else {
        float acc[MI][NI][4];
#pragma unroll
        for (int i = 0; i < MI; i++)
#pragma unroll
            for (int j = 0; j < NI; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.0f;
        for (int kt = kt0; kt < kt1; kt++) {
            cp_wait<STAGES - 2>();
            __syncthreads();
            int nk = kt + STAGES - 1;
            if (nk < kt1) load((nk - kt0) % STAGES, nk);
            cp_commit();
            const float *a = sA[(kt - kt0) % STAGES] + wm * MI * 16 * LD;
            const float *b = sB[(kt - kt0) % STAGES] + wn * NI * 8 * LD;
#pragma unroll
            for (int ks = 0; ks < BK; ks += P::KSTEP) {
                uint32_t fa[MI][4], fb[NI][2];
#pragma unroll
                for (int i = 0; i < MI; i++) P::a(fa[i], a + i * 16 * LD + ks, LD, lane);
#pragma unroll
                for (int j = 0; j < NI; j++) P::b_nk(fb[j], b + j * 8 * LD + ks, LD, lane);
#pragma unroll
                for (int i = 0; i < MI; i++)
#pragma unroll
                    for (int j = 0; j < NI; j++) P::mma(acc[i][j], fa[i], fb[j]);
            }
        }
        cp_wait<0>();

        float *out = parts + (size_t)blockIdx.z * g.M * g.K;
#pragma unroll
        for (int i = 0; i < MI; i++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int m = m0 + wm * MI * 16 + i * 16 + (lane >> 2) + 8 * h;
                if (m >= g.M) continue;
#pragma unroll
                for (int j = 0; j < NI; j++)
#pragma unroll
                    for (int e = 0; e < 2; e++) {
                        int k = k0 + wn * NI * 8 + j * 8 + 2 * (lane & 3) + e;
                        if (k < g.K) out[(size_t)m * g.K + k] = acc[i][j][2 * h + e];
                    }
            }
    }
}

// Weight gradient of a stride-1 convolution with 3 kernel columns and
// padding 1 across (the U-Net's 3×3), C a multiple of 64, M from 64 on,
// tiles of 16 positions in whole rows of one image (ow a multiple of 16,
// or 4 or 8 with oh·ow a multiple of 16): a block's 192 patch rows are
// 64 channels × the 3 kernel columns of one kernel row r, whose B rows at
// a position are the input row's elements at ow - 1, ow, ow + 1.  So
// each tile copies, per channel, the input row segments under its
// positions once (4 on each side, 16-byte pieces, zeros off the image)
// and the fragments of kernel column s read them shifted by s - 1: 3, 4
// or 6 16-byte copies a thread and tile for its 192 B rows (TW 16, 8, 4)
// where wgrad_k copies 24 single elements.  64 gy rows (A, 16-byte
// pieces) by 192, four warps of 64 × 48.  TW: the positions of one row
// in a tile (16, or ow), R = 16 / TW rows.
constexpr int ROWS_LDX = 52;   // the widest channel row of the segments (R·(TW + 8) + 4, TW = 4)

template <class P, int TW>
__global__ void __launch_bounds__(128)
wgrad_rows_k(const float *__restrict__ x, const float *__restrict__ gy, float *__restrict__ parts, Geo g,
             int tiles_per_part)
{
    constexpr int NT = 128, BM = 64, NCH = 64, MI = 4, NI = 6, LD = P::LDK;
    constexpr int A_SZ = BM * LD, X_SZ = NCH * ROWS_LDX;
    static_assert(LD % 4 == 0, "16-byte pieces");
    extern __shared__ __align__(16) float smem[];
    float(*sA)[A_SZ] = reinterpret_cast<float(*)[A_SZ]>(smem);
    float(*sX)[X_SZ] = reinterpret_cast<float(*)[X_SZ]>(smem + STAGES * A_SZ);

    const int tid = threadIdx.x, lane = tid & 31, wn = tid >> 5;
    constexpr int R = BK / TW, SW = TW + 8, SEGP = SW / 4, PPC = R * SEGP;
    // Channel rows R·SW + 4 floats apart: 28, 36 or 52, 4 mod 8 banks, so
    // that a fragment's 8 rows × 4 positions hit distinct banks.
    constexpr int LDX = R * SW + 4, NPIECES = NCH * PPC / NT;
    static_assert(BK % TW == 0 && LDX <= ROWS_LDX && NCH * PPC % NT == 0, "whole pieces");
    const int r = blockIdx.x % g.KH, ci0 = blockIdx.x / g.KH * NCH, m0 = blockIdx.y * BM;
    const int HW = g.H * g.W;
    const unsigned P_ = g.by_P.d;

    // The positions this lane's B fragments read (of the 16-deep tile:
    // 2t, 2t + 1, 2t + 8, 2t + 9 with bf16 and TF32W), as offsets in a
    // channel row, plus 3 (the segment's 4 floats left of ow0, less the
    // padding); kernel column s reads s further.
    static_assert(P::KSTEP == 16 || P::LDK == BK + 8, "paired positions (BF16, TF32W)");
    int po[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int k = 2 * (lane & 3) + (i & 1) + 8 * (i >> 1);
        po[i] = k / TW * SW + k % TW + 3;
    }

    const int kt0 = blockIdx.z * tiles_per_part;
    const int ntiles = (int)((g.npos + BK - 1) / BK);
    const int kt1 = min(kt0 + tiles_per_part, ntiles);

    auto load = [&](int stage, int kt) {
        unsigned pos0 = (unsigned)kt * BK;   // one image: oh·ow is a multiple of 16
        bool tok = pos0 < g.npos;
        unsigned img = 0, p0 = 0, oh0 = 0, ow0 = 0;
        if (tok) {
            img = cu_div(pos0, g.by_P), p0 = pos0 - img * P_;
            oh0 = cu_div(p0, g.by_OW), ow0 = p0 - oh0 * g.by_OW.d;
        }
        const float *gyi = gy + (size_t)img * g.M * P_ + p0;
        float *a = sA[stage];
#pragma unroll
        for (int i = 0; i < BM * 4 / NT; i++) {
            int e = tid + i * NT, row = e >> 2, q = e & 3, m = m0 + row;
            bool v = tok && m < g.M;
            cp_async16(a + row * LD + 4 * q, v ? gyi + (size_t)m * P_ + 4 * q : gy, v);
        }
        const int ih0 = (int)oh0 + r - g.ph, iw0 = (int)ow0;
        const float *xc = x + ((size_t)img * g.C + ci0) * HW + (ptrdiff_t)ih0 * g.W + iw0;
        float *xs = sX[stage];
#pragma unroll
        for (int i = 0; i < NPIECES; i++) {   // piece e: channel, segment row, 4 columns from ow0 - 4
            int e = tid + i * NT, ch = e / PPC, q = e % PPC, rho = q / SEGP, c4 = q % SEGP;
            int ih = ih0 + rho, iw = iw0 + 4 * c4 - 4;
            bool v = tok && (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W;
            cp_async16(xs + ch * LDX + rho * SW + 4 * c4, v ? xc + ch * HW + rho * g.W + 4 * c4 - 4 : x, v);
        }
    };

#pragma unroll
    for (int st = 0; st < STAGES - 1; st++) {
        if (kt0 + st < kt1) load(st, kt0 + st);
        cp_commit();
    }
    float acc[MI][NI][4];
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NI; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.0f;
    for (int kt = kt0; kt < kt1; kt++) {
        cp_wait<STAGES - 2>();
        __syncthreads();
        int nk = kt + STAGES - 1;
        if (nk < kt1) load((nk - kt0) % STAGES, nk);
        cp_commit();
        const float *a = sA[(kt - kt0) % STAGES];
        const float *xs = sX[(kt - kt0) % STAGES] + (lane >> 2) * LDX;
#pragma unroll
        for (int ks = 0; ks < BK; ks += P::KSTEP) {
            uint32_t fa[MI][4], fb[NI][2];
#pragma unroll
            for (int i = 0; i < MI; i++) P::a(fa[i], a + i * 16 * LD + ks, LD, lane);
#pragma unroll
            for (int j = 0; j < NI; j++) {
                const int c0 = wn * (NI * 8) + j * 8;   // column c: kernel column c / 64, channel c % 64
                const float *b = xs + (c0 & 63) * LDX + (c0 >> 6);
                if constexpr (P::KSTEP == 8) {
                    fb[j][0] = tf32_of(b[po[ks / 4]]);
                    fb[j][1] = tf32_of(b[po[ks / 4 + 1]]);
                } else {
                    fb[j][0] = bf2_of(b[po[0]], b[po[1]]);
                    fb[j][1] = bf2_of(b[po[2]], b[po[3]]);
                }
            }
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NI; j++) P::mma(acc[i][j], fa[i], fb[j]);
        }
    }
    cp_wait<0>();

    // Column c of the block is k = (r·3 + c / 64)·C + ci0 + c % 64 (tap-major).
    float *out = parts + (size_t)blockIdx.z * g.M * g.K;
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int m = m0 + i * 16 + (lane >> 2) + 8 * h;
            if (m >= g.M) continue;
#pragma unroll
            for (int j = 0; j < NI; j++) {
                int c = wn * (NI * 8) + j * 8 + 2 * (lane & 3);
                int k = (r * 3 + (c >> 6)) * g.C + ci0 + (c & 63);
                *(float2 *)(out + (size_t)m * g.K + k) = make_float2(acc[i][j][2 * h], acc[i][j][2 * h + 1]);
            }
        }
}

Geo geo_of(const cu_igemm_geom *c)
{
    Geo g;
    g.C = c->c, g.H = c->h, g.W = c->w, g.M = c->m, g.OH = c->oh, g.OW = c->ow;
    g.KH = c->kh, g.KW = c->kw, g.sh = c->sh, g.sw = c->sw, g.ph = c->ph, g.pw = c->pw;
    g.K = c->c * c->kh * c->kw;
    g.npos = (unsigned)((size_t)c->n * c->oh * c->ow);
    g.by_P = cu_fastdiv_of((unsigned)(c->oh * c->ow));
    g.by_OW = cu_fastdiv_of((unsigned)c->ow);
    return g;
}

// A (M × K) from the weights W: the convolution's own (M × C × taps) or,
// with flip, the transpose with the taps reversed of a convolution whose
// input gradient this is (W: C × M × taps); K in the order (ci, tap), or
// with tapmajor (tap, ci).
__global__ void prep_weights_k(const float *W, int M, int C, int taps, bool flip, bool tapmajor,
                               float *A)
{
    CU_FOR(i, (size_t)M * C * taps) {
        int m = (int)(i / ((size_t)C * taps)), k = (int)(i - (size_t)m * C * taps), ci, t;
        if (tapmajor) t = k / C, ci = k - t * C;
        else ci = k / taps, t = k - ci * taps;
        A[i] = flip ? W[((size_t)ci * M + m) * taps + (taps - 1 - t)] : W[((size_t)m * C + ci) * taps + t];
    }
}

// A for fwds_k: prep_weights_k's rearrangement, stored as P's A (rounded
// to TF32 or bf16 once), each row zero-padded from K to Kp (a multiple of
// P::BK, so that every tile of A is whole 16-byte pieces).
template <class P>
__global__ void prep_a_k(const float *W, int M, int C, int taps, bool flip, bool tapmajor, int Kp,
                         typename P::T *A)
{
    const int K = C * taps;
    CU_FOR(i, (size_t)M * Kp) {
        int m = (int)(i / Kp), k = (int)(i - (size_t)m * Kp), ci, t;
        float w = 0.0f;
        if (k < K) {
            if (tapmajor) t = k / C, ci = k - t * C;
            else ci = k / taps, t = k - ci * taps;
            w = flip ? W[((size_t)ci * M + m) * taps + (taps - 1 - t)] : W[((size_t)m * C + ci) * taps + t];
        }
        A[i] = P::of(w);
    }
}

// gW[m][ci·taps + t] += Σ_b parts[b][m][k], k the (tap, ci) order's index
// of (ci, t) with tapmajor, else ci·taps + t; parts in order (deterministic).
// One thread a k of the parts' order, so that the parts are read in whole
// lines and gW written once.
__global__ void sum_parts_k(const float *parts, int nparts, int M, int C, int taps, bool tapmajor,
                            float *gW)
{
    size_t n = (size_t)M * C * taps;
    int K = C * taps;
    CU_FOR(i, n) {
        int m = (int)(i / K), k = (int)(i - (size_t)m * K);
        size_t dst = i;
        if (tapmajor) {
            int t = k / C, ci = k - t * C;
            dst = (size_t)m * K + ci * taps + t;
        }
        float acc = 0;
        for (int b = 0; b < nparts; b++) acc += parts[(size_t)b * n + i];
        gW[dst] += acc;
    }
}

// One forward configuration: its shared memory (allowed past 48 KiB the
// first time), its grid of BN-wide column tiles by BM-row tiles.
template <class P, int WM, int WN, int MI, int NI, bool TM>
cudaError_t fwd_launch(const Geo &g, const float *x, const float *A, const float *bias, float *y)
{
    constexpr int BM = WM * MI * 16, BN = WN * NI * 8;
    constexpr int LDA = P::SIMT ? BM + 4 : P::LDK, LDB = BN + P::PADN;
    constexpr int bytes = STAGES * ((P::SIMT ? BK * LDA : BM * LDA) + BK * LDB) * (int)sizeof(float);
    static bool opted;
    if (bytes > 48 * 1024 && !opted) {
        cudaError_t e = cudaFuncSetAttribute(fwd_k<P, WM, WN, MI, NI, TM>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
        if (e != cudaSuccess) return e;
        opted = true;
    }
    dim3 grid((g.npos + BN - 1) / BN, (g.M + BM - 1) / BM);
    fwd_k<P, WM, WN, MI, NI, TM><<<grid, WM * WN * 32, bytes, cu_stream()>>>(x, A, bias, y, g);
    return cudaGetLastError();
}

int sm_count();

// 128-row tiles (warps of 64×64) where the output channels fill them, on
// the tensor cores: twice the products per gathered column; unless that
// leaves fewer than two blocks per multiprocessor (small images), where
// 64-row tiles keep more of them busy.
template <class P, bool TM>
cudaError_t launch_fwd(const Geo &g, const float *x, const float *A, const float *bias, float *y)
{
    if constexpr (!P::SIMT)
        if (g.M >= 128 && (long long)((g.npos + 127) / 128) * ((g.M + 127) / 128) >= 2LL * sm_count())
            return fwd_launch<P, 2, 2, 4, 8, TM>(g, x, A, bias, y);
    if (g.M >= 32) return fwd_launch<P, 2, 2, 2, 8, TM>(g, x, A, bias, y);
    return fwd_launch<P, 1, 4, 1, 4, TM>(g, x, A, bias, y);
}

// The device's multiprocessors (one device), asked once.
int sm_count()
{
    static int sms;
    if (!sms) {
        int dev, n = 0;
        if (cudaGetDevice(&dev) == cudaSuccess)
            cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
        sms = n > 0 ? n : 132;
    }
    return sms;
}

template <class P, int WM, int WN, int MI, int NI, bool TM>
cudaError_t fwds_launch(const Geo &g, const float *x, const typename P::T *A, int Kp, const float *bias,
                        float *y)
{
    using S = FwdS<P, WM, WN, MI, NI>;
    static bool opted;
    if (S::bytes > 48 * 1024 && !opted) {
        cudaError_t e = cudaFuncSetAttribute(fwds_k<P, WM, WN, MI, NI, TM>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, S::bytes);
        if (e != cudaSuccess) return e;
        opted = true;
    }
    dim3 grid((g.npos + S::BN - 1) / S::BN, (g.M + S::BM - 1) / S::BM);
    fwds_k<P, WM, WN, MI, NI, TM><<<grid, S::NT, S::bytes, cu_stream()>>>(x, A, bias, y, g, Kp);
    return cudaGetLastError();
}

// 128-row tiles (warps of 64×64) where the output channels fill them: twice
// the products per gathered column; unless that leaves fewer than two
// blocks per multiprocessor (small images), where 64-row tiles keep more
// of them busy.
template <class P, bool TM>
cudaError_t launch_fwds(const Geo &g, const float *x, const typename P::T *A, int Kp, const float *bias,
                        float *y)
{
    if (g.M >= 128 && (long long)((g.npos + 127) / 128) * ((g.M + 127) / 128) >= 2LL * sm_count())
        return fwds_launch<P, 2, 2, 4, 8, TM>(g, x, A, Kp, bias, y);
    if (g.M >= 32) return fwds_launch<P, 2, 2, 2, 8, TM>(g, x, A, Kp, bias, y);
    return fwds_launch<P, 1, 4, 1, 4, TM>(g, x, A, Kp, bias, y);
}

// The forward on the tensor cores (fwds_k): A rounded into the workspace.
template <class P>
int conv_tc(const Geo &g, const float *x, const float *W, int flip, const float *bias, float *y,
            ct_error *err)
{
    using T = typename P::T;
    bool tm = g.C % CH == 0;
    int taps = g.KH * g.KW, Kp = (g.K + P::BK - 1) / P::BK * P::BK;
    T *A = (T *)cu_workspace((size_t)g.M * Kp * sizeof(T), err);
    if (!A) return CT_ENOMEM;
    prep_a_k<P><<<cu_blocks((size_t)g.M * Kp, 256), 256, 0, cu_stream()>>>(W, g.M, g.C, taps, flip, tm, Kp, A);
    CU_CHECK_LAUNCH(err);
    cudaError_t e = tm ? launch_fwds<P, true>(g, x, A, Kp, bias, y) : launch_fwds<P, false>(g, x, A, Kp, bias, y);
    CU_CHECK(e, err);
    return CT_OK;
}

// TF32 and bf16 on fwds_k; fp32 on fwd_k, its A the weights themselves
// where they already are in its layout, else rearranged in the workspace.
// $CRYSTENS_CUDA_CONV_FWD=fwd_k sends TF32 and bf16 to fwd_k too (their
// previous kernel): for timings and tests.
int conv_any(const Geo &g, ct_precision p, const float *x, const float *W, int flip,
             const float *bias, float *y, ct_error *err)
{
    const char *env = getenv("CRYSTENS_CUDA_CONV_FWD");
    bool tc = !(env && !strcmp(env, "fwd_k"));
    if (tc && p == CT_PREC_BF16) return conv_tc<BF16S>(g, x, W, flip, bias, y, err);
    if (tc && p == CT_PREC_TF32) return conv_tc<TF32S>(g, x, W, flip, bias, y, err);
    bool tm = g.C % BK == 0;
    int taps = g.KH * g.KW;
    const float *A = W;
    if (tm || flip) {
        float *ws = (float *)cu_workspace((size_t)g.M * g.K * sizeof(float), err);
        if (!ws) return CT_ENOMEM;
        prep_weights_k<<<cu_blocks((size_t)g.M * g.K, 256), 256, 0, cu_stream()>>>(W, g.M, g.C, taps,
                                                                                  flip, tm, ws);
        CU_CHECK_LAUNCH(err);
        A = ws;
    }
    cudaError_t e;
    if (p == CT_PREC_BF16)
        e = tm ? launch_fwd<BF16, true>(g, x, A, bias, y) : launch_fwd<BF16, false>(g, x, A, bias, y);
    else if (p == CT_PREC_TF32)
        e = tm ? launch_fwd<TF32, true>(g, x, A, bias, y) : launch_fwd<TF32, false>(g, x, A, bias, y);
    else
        e = tm ? launch_fwd<F32, true>(g, x, A, bias, y) : launch_fwd<F32, false>(g, x, A, bias, y);
    CU_CHECK(e, err);
    return CT_OK;
}

// The input gradient of a strided convolution, by classes of gx's
// pixels: those of rows a + sh·i and columns b + sw·j (0 ≤ a < sh,
// 0 ≤ b < sw) are reached by the taps r ≡ a + ph, s ≡ b + pw (mod the
// stride) alone, and with those taps, reversed, they are a stride-1
// convolution of gy (khc × kwc taps, khc = ceil((KH - r0) / sh), padding
// khc - 1 - (a + ph - r0) / sh, r0 the first tap; the same across).  Each
// class runs on the forward's kernels into its own block of the
// workspace, and interleave_k puts the blocks in place, a class that no
// tap reaches as zeros.
struct Classes {
    int sh, sw;
    long long off[CU_IGEMM_MAX_CLASSES];   // a class's block in the workspace, in floats
    int ohc[CU_IGEMM_MAX_CLASSES], owc[CU_IGEMM_MAX_CLASSES];
    bool empty[CU_IGEMM_MAX_CLASSES];
};

// A (C × K) of one class, taps rr < khc, ss < kwc: A[ci][k] =
// W[m][ci][r0 + sh·(khc - 1 - rr)][s0 + sw·(kwc - 1 - ss)], k = (rr·kwc +
// ss)·M + m with tapmajor, else (m·khc + rr)·kwc + ss.
__global__ void prep_class_weights_k(const float *W, int M, int C, int KH, int KW, int r0, int s0,
                                     int sh, int sw, int khc, int kwc, bool tapmajor, float *A)
{
    const int tc = khc * kwc;
    const size_t K = (size_t)M * tc;
    CU_FOR(i, (size_t)C * K) {
        int ci = (int)(i / K), k = (int)(i - (size_t)ci * K), m, t;
        if (tapmajor) t = k / M, m = k - t * M;
        else m = k / tc, t = k - m * tc;
        int rr = t / kwc, ss = t - rr * kwc;
        int r = r0 + sh * (khc - 1 - rr), sc = s0 + sw * (kwc - 1 - ss);
        A[i] = W[(((size_t)m * C + ci) * KH + r) * KW + sc];
    }
}

// gx[img][c][ih][iw] = the output of class (ih % sh, iw % sw) at
// (ih / sh, iw / sw); NC = images · channels, a plane along blockIdx.y.
__global__ void interleave_k(const float *cls, Classes cs, size_t NC, unsigned HW, cu_fastdiv by_W,
                             cu_fastdiv by_sh, cu_fastdiv by_sw, float *gx)
{
    CU_ROWS(nc, NC) {
        float *g = gx + nc * HW;
        CU_COLS(p, HW) {
            unsigned ih = cu_div(p, by_W), iw = p - ih * by_W.d;
            unsigned i = cu_div(ih, by_sh), j = cu_div(iw, by_sw);
            int c = (int)((ih - i * by_sh.d) * by_sw.d + iw - j * by_sw.d);
            g[p] = cs.empty[c] ? 0.0f : cls[cs.off[c] + ((long long)nc * cs.ohc[c] + i) * cs.owc[c] + j];
        }
    }
}

// A class's taps along one axis: the first r0, their count (0: none), the
// padding of its stride-1 convolution; a the class, n its rows (or columns)
// of gx, 0 where the image has none.
struct Axis {
    int r0, kc, pad, n;
};
Axis axis_of(int a, int s, int k, int p, int size)
{
    Axis x;
    x.r0 = ((a + p) % s + s) % s;
    x.kc = x.r0 < k ? (k - x.r0 + s - 1) / s : 0;
    x.pad = x.kc - 1 - (a + p - x.r0) / s;
    x.n = a < size ? (size - a + s - 1) / s : 0;
    return x;
}

template <class P>
int dgrad_any(const cu_igemm_geom *c, const float *gy, const float *W, float *gx, ct_error *err)
{
    Classes cs;
    cs.sh = c->sh, cs.sw = c->sw;
    const int ncls = c->sh * c->sw;
    size_t total = 0, amax = 0;
    for (int a = 0; a < c->sh; a++)
        for (int b = 0; b < c->sw; b++) {
            Axis r = axis_of(a, c->sh, c->kh, c->ph, c->h), s = axis_of(b, c->sw, c->kw, c->pw, c->w);
            int i = a * c->sw + b;
            cs.ohc[i] = r.n, cs.owc[i] = s.n, cs.off[i] = (long long)total;
            cs.empty[i] = !r.kc || !s.kc || !r.n || !s.n;
            if (cs.empty[i]) continue;
            // Blocks (and A after them) on 16 bytes: the forward's vector
            // stores and copies.
            total += ((size_t)c->n * c->c * r.n * s.n + 3) & ~(size_t)3;
            size_t asz = (size_t)c->c * c->m * r.kc * s.kc;
            if (asz > amax) amax = asz;
        }
    float *cls = (float *)cu_workspace((total + amax) * sizeof(float), err);
    if (!cls) return CT_ENOMEM;
    float *A = cls + total;
    for (int i = 0; i < ncls; i++) {
        if (cs.empty[i]) continue;
        int a = i / c->sw, b = i - a * c->sw;
        Axis r = axis_of(a, c->sh, c->kh, c->ph, c->h), s = axis_of(b, c->sw, c->kw, c->pw, c->w);
        cu_igemm_geom d = {c->n, c->m, c->oh, c->ow, c->c, r.n, s.n, r.kc, s.kc, 1, 1, r.pad, s.pad};
        Geo g = geo_of(&d);
        bool tm = g.C % BK == 0;
        size_t asz = (size_t)g.M * g.K;
        prep_class_weights_k<<<cu_blocks(asz, 256), 256, 0, cu_stream()>>>(
            W, c->m, c->c, c->kh, c->kw, r.r0, s.r0, c->sh, c->sw, r.kc, s.kc, tm, A);
        CU_CHECK_LAUNCH(err);
        CU_CHECK((tm ? launch_fwd<P, true>(g, gy, A, NULL, cls + cs.off[i])
                     : launch_fwd<P, false>(g, gy, A, NULL, cls + cs.off[i])),
                 err);
    }
    size_t nc = (size_t)c->n * c->c;
    unsigned hw = (unsigned)c->h * c->w;
    interleave_k<<<cu_grid2(nc, hw), 256, 0, cu_stream()>>>(cls, cs, nc, hw, cu_fastdiv_of((unsigned)c->w),
                                                            cu_fastdiv_of((unsigned)c->sh),
                                                            cu_fastdiv_of((unsigned)c->sw), gx);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

// The parts of the positions for mn blocks a part: as many as fill the
// device's resident blocks once, each at least 16 tiles long; *per the
// tiles of a part.
int wgrad_nparts(const Geo &g, long long mn, int resident, int *per)
{
    int ntiles = (int)((g.npos + BK - 1) / BK);
    long long want = (long long)resident * sm_count() / mn, most = ntiles / 16;
    int nparts = (int)(want < most ? want : most);
    if (nparts < 1) nparts = 1;
    if (nparts > 256) nparts = 256;
    *per = (ntiles + nparts - 1) / nparts;
    return (ntiles + *per - 1) / *per;
}

// Whether wgrad_rows_k takes g, with x and gy where they are.
bool rows_fit(const Geo &g, const float *x, const float *gy)
{
    const unsigned OW = g.by_OW.d;
    return g.KW == 3 && g.pw == 1 && g.sh == 1 && g.sw == 1 && g.W == (int)OW && g.C % 64 == 0 &&
           g.M >= 64 && g.by_P.d % 16 == 0 && (OW % 16 == 0 || OW == 4 || OW == 8) &&
           ((uintptr_t)x & 15) == 0 && ((uintptr_t)gy & 15) == 0;
}

template <class P, int TW>
int wgrad_rows_run(const Geo &g, const float *x, const float *gy, float *gW, ct_error *err)
{
    constexpr int bytes = STAGES * (64 * P::LDK + 64 * ROWS_LDX) * (int)sizeof(float);
    auto kern = wgrad_rows_k<P, TW>;
    static int resident;
    if (!resident) {
        if (bytes > 48 * 1024)
            CU_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), err);
        int r = 0;
        CU_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&r, kern, 128, bytes), err);
        resident = r > 0 ? r : 1;
    }
    dim3 grid((unsigned)(g.C / 64 * g.KH), (unsigned)((g.M + 63) / 64));
    int per;
    grid.z = (unsigned)wgrad_nparts(g, (long long)grid.x * grid.y, resident, &per);
    size_t mk = (size_t)g.M * g.K;
    float *parts = (float *)cu_workspace(mk * grid.z * sizeof(float), err);
    if (!parts) return CT_ENOMEM;
    kern<<<grid, 128, bytes, cu_stream()>>>(x, gy, parts, g, per);
    CU_CHECK_LAUNCH(err);
    sum_parts_k<<<cu_blocks(mk, 256), 256, 0, cu_stream()>>>(parts, (int)grid.z, g.M, g.C, g.KH * g.KW,
                                                            true, gW);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

// One weight-gradient configuration of wgrad_k, all of it: the parts, the
// kernel, their sum.
template <class P, int WM, int WN, int MI, int NI, bool TM, bool VA>
int wgrad_run(const Geo &g, const float *x, const float *gy, float *gW, ct_error *err)
{
    constexpr int NT = WM * WN * 32, BM = WM * MI * 16, BN = WN * NI * 8;
    constexpr int bytes = STAGES * (P::SIMT ? BK * (BM + 4 + BN + 4) : (BM + BN) * P::LDK) * (int)sizeof(float);
    auto kern = wgrad_k<P, WM, WN, MI, NI, TM, VA>;
    static int resident;
    if (!resident) {
        if (bytes > 48 * 1024)
            CU_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), err);
        int r = 0;
        CU_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&r, kern, NT, bytes), err);
        resident = r > 0 ? r : 1;
    }
    int per, nparts = wgrad_nparts(g, (long long)((g.M + BM - 1) / BM) * ((g.K + BN - 1) / BN), resident, &per);
    size_t mk = (size_t)g.M * g.K;
    float *parts = (float *)cu_workspace(mk * nparts * sizeof(float), err);
    if (!parts) return CT_ENOMEM;
    dim3 grid((g.K + BN - 1) / BN, (g.M + BM - 1) / BM, nparts);
    kern<<<grid, NT, bytes, cu_stream()>>>(x, gy, parts, g, per);
    CU_CHECK_LAUNCH(err);
    sum_parts_k<<<cu_blocks(mk, 256), 256, 0, cu_stream()>>>(parts, nparts, g.M, g.C, g.KH * g.KW,
                                                            TM, gW);
    CU_CHECK_LAUNCH(err);
    return CT_OK;
}

// The weight gradient's tiles: 128 rows from 128 output channels on, 64
// from 32 (warps of 64 or 32 rows), else 16; 64 patch rows wide (warps of
// 32), with WIDE 128 (warps of 64) where K is past 64: the gy tile, which
// the wider tile reads once for twice the products, is most of the copies.
template <class P, bool TM, bool VA, bool WIDE>
int wgrad_tiles(const Geo &g, const float *x, const float *gy, float *gW, ct_error *err)
{
    if constexpr (WIDE)
        if (g.K > 64 && g.M >= 32)
            return g.M >= 128 ? wgrad_run<P, 2, 2, 4, 8, TM, VA>(g, x, gy, gW, err)
                              : wgrad_run<P, 2, 2, 2, 8, TM, VA>(g, x, gy, gW, err);
    if (g.M >= 128) return wgrad_run<P, 2, 2, 4, 4, TM, VA>(g, x, gy, gW, err);
    if (g.M >= 32) return wgrad_run<P, 2, 2, 2, 4, TM, VA>(g, x, gy, gW, err);
    return wgrad_run<P, 1, 4, 1, 2, TM, false>(g, x, gy, gW, err);
}

// wgrad_k with 64-wide tiles and 4-byte copies: fp32 (FFMA), and the
// kernel as it was in TF32 and bf16; tap-major where the channels come in
// 64s.
template <class P>
int wgrad_narrow(const Geo &g, const float *x, const float *gy, float *gW, ct_error *err)
{
    return g.C % 64 == 0 ? wgrad_tiles<P, true, false, false>(g, x, gy, gW, err)
                         : wgrad_tiles<P, false, false, false>(g, x, gy, gW, err);
}

// On the tensor cores: wgrad_rows_k where it fits (unless rows is
// false), else wgrad_k with wide tiles, tap-major where the channels come
// in 64s, gy in 16-byte copies where its images are whole pieces of 4
// positions and it is aligned.
template <class P>
int wgrad_mma(const Geo &g, bool rows, const float *x, const float *gy, float *gW, ct_error *err)
{
    if (rows && rows_fit(g, x, gy)) {
        const unsigned OW = g.by_OW.d;
        return OW % 16 == 0 ? wgrad_rows_run<P, 16>(g, x, gy, gW, err)
               : OW == 8    ? wgrad_rows_run<P, 8>(g, x, gy, gW, err)
                            : wgrad_rows_run<P, 4>(g, x, gy, gW, err);
    }
    bool tm = g.C % 64 == 0, va = g.by_P.d % 4 == 0 && ((uintptr_t)gy & 15) == 0;
    if (va)
        return tm ? wgrad_tiles<P, true, true, true>(g, x, gy, gW, err)
                  : wgrad_tiles<P, false, true, true>(g, x, gy, gW, err);
    return tm ? wgrad_tiles<P, true, false, true>(g, x, gy, gW, err)
              : wgrad_tiles<P, false, false, true>(g, x, gy, gW, err);
}

// $CRYSTENS_CUDA_CONV_WGRAD=wide skips wgrad_rows_k, =narrow takes
// wgrad_narrow (with TF32's own fragments): for timings and tests.
int wgrad_any(const Geo &g, ct_precision p, const float *x, const float *gy, float *gW, ct_error *err)
{
    const char *e = getenv("CRYSTENS_CUDA_CONV_WGRAD");
    bool narrow = e && !strcmp(e, "narrow"), rows = !(e && !strcmp(e, "wide"));
    if (p == CT_PREC_BF16)
        return narrow ? wgrad_narrow<BF16>(g, x, gy, gW, err) : wgrad_mma<BF16>(g, rows, x, gy, gW, err);
    if (p == CT_PREC_TF32)
        return narrow ? wgrad_narrow<TF32>(g, x, gy, gW, err) : wgrad_mma<TF32W>(g, rows, x, gy, gW, err);
    return wgrad_narrow<F32>(g, x, gy, gW, err);
}

}   // namespace

int cu_igemm_fits(const cu_igemm_geom *g, ct_precision p)
{
    if (p != CT_PREC_FP32 && p != CT_PREC_TF32 && p != CT_PREC_BF16) return 0;
    const size_t lim = 0x7fffffffu;
    size_t in = (size_t)g->n * g->c * g->h * g->w, out = (size_t)g->n * g->m * g->oh * g->ow;
    return g->n > 0 && g->c > 0 && g->m > 0 && g->oh > 0 && g->ow > 0 && in < lim && out < lim &&
           (size_t)g->m * g->c * g->kh * g->kw < lim;
}

int cu_igemm_conv(const cu_igemm_geom *c, ct_precision p, const float *x, const float *W, int flip,
                  const float *bias, float *y, ct_error *err)
{
    return conv_any(geo_of(c), p, x, W, flip, bias, y, err);
}

int cu_igemm_dgrad(const cu_igemm_geom *c, ct_precision p, const float *gy, const float *W,
                   float *gx, ct_error *err)
{
    if (c->sh < 1 || c->sw < 1 || c->sh * c->sw > CU_IGEMM_MAX_CLASSES)
        return ct_fail(err, CT_EINVAL, "cu_igemm_dgrad: stride %dx%d, more than %d classes", c->sh, c->sw,
                       CU_IGEMM_MAX_CLASSES);
    if (p == CT_PREC_BF16) return dgrad_any<BF16>(c, gy, W, gx, err);
    if (p == CT_PREC_TF32) return dgrad_any<TF32>(c, gy, W, gx, err);
    return dgrad_any<F32>(c, gy, W, gx, err);
}

int cu_igemm_wgrad(const cu_igemm_geom *c, ct_precision p, const float *x, const float *gy,
                   float *gW, ct_error *err)
{
    return wgrad_any(geo_of(c), p, x, gy, gW, err);
}
