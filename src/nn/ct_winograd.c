/*
 * ct_winograd.c - 3×3 stride-1 2-D convolutions by Winograd's F(4×4, 3×3)
 * (Lavin & Gray, "Fast algorithms for convolutional neural networks", 2016).
 *
 * Each 4×4 output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for its 6×6 input patch
 * d, so with U = G g Gᵀ per filter and V = Bᵀ d B per tile a layer becomes
 * 36 independent GEMMs, one per point ξ of the 6×6 transform domain:
 *   M[ξ] (cout×tiles) = U[ξ] (cout×cin) · V[ξ] (cin×tiles)
 * doing 36 multiplies per 16 outputs instead of 144: 4× fewer than direct.
 * The tiles of all the samples go into one GEMM, so deep 8×8 maps still
 * give GEMMs of a useful width.
 *
 * Backward is the exact adjoint of this forward (not a Winograd transform
 * of a direct backward), so it is the gradient of what forward computed:
 * with GY = A gy Aᵀ per tile (the adjoint of the output transform),
 *   gU[ξ] = GY[ξ] · V[ξ]ᵀ,  gW += Gᵀ gU G
 *   GX[ξ] = U[ξ]ᵀ · GY[ξ],  gx += B GX Bᵀ   (overlapping patches add)
 * V (2.25× the input) is what forward leaves for backward where the caller
 * gives it room (ct_conv.c keeps it within a budget); else backward
 * recomputes it from x.
 *
 * Accuracy: the transform points 0, ±1, ±2, ±1/2 amplify rounding; on
 * inputs and weights of order 1 the outputs differ from the direct sum by
 * about 1e-6 relative to their scale (tests allow 1e-4).
 *
 * Transforms work on LANES tiles at once (the inner loops run over lanes,
 * which compilers vectorise): consecutive tiles of a channel, wrapping
 * from row to row and (except in input_bwd, whose tiles overlap) from
 * sample to sample, so narrow maps fill the lanes too.  They are split
 * over threads by samples (transforms) or by transform point and fixed
 * block of tiles or rows (GEMMs), each output element written by one thread
 * in a fixed order, so results do not depend on the thread count.  The GEMMs run
 * inside the shares with OpenBLAS held to one thread (ct_nn_parallel).
 * The tile transforms take about a third of the layer's time, the GEMMs
 * the rest.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "ct_nn_impl.h"
#include "ct_parallel.h"

enum { LANES = 8, ALPHA = 6, XI = 36 };   /* gather_lanes, scatter4, copy_lanes, add_patch_row assume 8 */
enum { PREFETCH_AHEAD = 128 };            /* see load_points */

/* The transforms are loops over lanes: built for AVX-512 and AVX2 too
   (ct_nn_impl.h), the same bits in each. */
#define SIMD_CLONES CT_SIMD_CLONES

/* Tile geometry of one layer call. */
typedef struct {
    const ct_wino *w;
    int th, tw, ph, pw;     /* tiles per column / row; padded plane size */
    size_t per, T;          /* tiles per sample, over the batch */
} tiling;

static tiling tiling_of(const ct_wino *w)
{
    tiling t = {w, (w->oh + 3) / 4, (w->ow + 3) / 4, 0, 0, 0, 0};
    t.ph = 4 * t.th + 2;
    t.pw = 4 * t.tw + 2;
    t.per = (size_t)t.th * (size_t)t.tw;
    t.T = (size_t)w->n * t.per;
    return t;
}

double ct_wino_flops(const ct_wino *w)
{
    tiling t = tiling_of(w);
    return 2.0 * XI * (double)w->cout * (double)w->cin * (double)t.T;
}

int ct_wino_applies(const ct_conv_cfg *c)
{
    return c->dims == 2 && !c->transposed && c->k[1] == 3 && c->k[2] == 3 && c->stride[1] == 1 &&
           c->stride[2] == 1 && c->pad[1] == c->pad[2] && c->pad[1] <= 2;
}

/* LANES floats as one vector (GCC's vector extensions). */
typedef float lanes_v __attribute__((vector_size(LANES * sizeof(float))));

/* o[l] = row[s l] for the LANES lanes.  The lanes are put together in a
   register and stored at once: stored one by one, the transforms' vector
   loads of o right after would wait for the small stores (a failed
   store-to-load forwarding). */
static inline void gather_lanes(float *restrict o, const float *restrict row, int s)
{
    lanes_v v = {row[0], row[s], row[2 * s], row[3 * s], row[4 * s], row[5 * s], row[6 * s], row[7 * s]};
    memcpy(o, &v, sizeof v);
}

/* o[l] = row[4 l], written out so no loop runs. */
static inline void gather4(float *restrict o, const float *restrict row)
{
    gather_lanes(o, row, 4);
}

/* row[4 l] = v[l], and row[4 l] += v[l]: the adjoints of gather4. */
static inline void scatter4(float *restrict row, const float *restrict v)
{
    row[0] = v[0], row[4] = v[1], row[8] = v[2], row[12] = v[3];
    row[16] = v[4], row[20] = v[5], row[24] = v[6], row[28] = v[7];
}

/* Shuffle masks of lanes_v. */
typedef int lanes_m __attribute__((vector_size(LANES * sizeof(int))));

/* Add one row of the 6×6 patches of a full row of LANES tiles, d[s][l]
   (column s of tile l), into the padded plane's row: row[4 l + s] +=
   d[s][l].  Neighbouring patches overlap by 2 columns, so columns s = 4, 5
   of tile l go where columns 0, 1 of tile l + 1 do: they are added to
   those first (shifted by a lane), the 4 columns then interleaved in
   registers into the 32 floats of the row (two rounds of shuffles) and
   added as vectors; the last tile's columns 4, 5 go to row[32], row[33]
   (row has room: the chunk is a full row of tiles, with 2 columns after).
   Than adding each d[s][l] in turn, a 64-channel 32×32 layer's backward
   ran 5% faster. */
static inline void add_patch_row(float *row, const float d[ALPHA][LANES])
{
    const lanes_v z = {-0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f};   /* x + -0 = x */
    const lanes_m up = {8, 0, 1, 2, 3, 4, 5, 6};   /* lane l from lane l - 1 */
    lanes_v e0, e1, e2, e3, e4, e5;
    memcpy(&e0, d[0], sizeof e0), memcpy(&e1, d[1], sizeof e1), memcpy(&e2, d[2], sizeof e2);
    memcpy(&e3, d[3], sizeof e3), memcpy(&e4, d[4], sizeof e4), memcpy(&e5, d[5], sizeof e5);
    e0 += __builtin_shuffle(e4, z, up);
    e1 += __builtin_shuffle(e5, z, up);
    const lanes_m lo = {0, 8, 1, 9, 2, 10, 3, 11}, hi = {4, 12, 5, 13, 6, 14, 7, 15};
    const lanes_m lo2 = {0, 1, 8, 9, 2, 3, 10, 11}, hi2 = {4, 5, 12, 13, 6, 7, 14, 15};
    lanes_v t0 = __builtin_shuffle(e0, e1, lo), t1 = __builtin_shuffle(e0, e1, hi);
    lanes_v t2 = __builtin_shuffle(e2, e3, lo), t3 = __builtin_shuffle(e2, e3, hi);
    lanes_v o[4] = {__builtin_shuffle(t0, t2, lo2), __builtin_shuffle(t0, t2, hi2),
                    __builtin_shuffle(t1, t3, lo2), __builtin_shuffle(t1, t3, hi2)};
    for (int i = 0; i < 4; i++) {
        lanes_v v;
        memcpy(&v, row + LANES * i, sizeof v);
        v += o[i];
        memcpy(row + LANES * i, &v, sizeof v);
    }
    row[4 * LANES] += d[4][LANES - 1];
    row[4 * LANES + 1] += d[5][LANES - 1];
}

/* ---- 1-D transforms over LANES lanes; in/out rows are is/os floats apart -- */

#define FOR_LANES for (int l = 0; l < LANES; l++)

/* Copy cnt <= LANES floats; a whole chunk with a constant size, which
   compiles to two vector moves instead of a loop. */
static inline void copy_lanes(float *restrict dst, const float *restrict src, int cnt)
{
    if (cnt == LANES) memcpy(dst, src, LANES * sizeof(float));
    else memcpy(dst, src, (size_t)cnt * sizeof(float));
}

/* out = Bᵀ in (6 -> 6). */
static inline void bt6(const float *restrict in, int is, float *restrict out, int os)
{
    const float *d0 = in, *d1 = in + is, *d2 = in + 2 * is, *d3 = in + 3 * is, *d4 = in + 4 * is,
                *d5 = in + 5 * is;
    float *o0 = out, *o1 = out + os, *o2 = out + 2 * os, *o3 = out + 3 * os, *o4 = out + 4 * os,
          *o5 = out + 5 * os;
    FOR_LANES {
        float a = d4[l] - 4.0f * d2[l], b = d3[l] - 4.0f * d1[l];
        float c = d4[l] - d2[l], e = 2.0f * (d3[l] - d1[l]);
        o0[l] = 4.0f * d0[l] - 5.0f * d2[l] + d4[l];
        o1[l] = a + b;
        o2[l] = a - b;
        o3[l] = c + e;
        o4[l] = c - e;
        o5[l] = 4.0f * d1[l] - 5.0f * d3[l] + d5[l];
    }
}

/* out = B in (6 -> 6), the adjoint of bt6. */
static inline void b6(const float *restrict in, int is, float *restrict out, int os)
{
    const float *v0 = in, *v1 = in + is, *v2 = in + 2 * is, *v3 = in + 3 * is, *v4 = in + 4 * is,
                *v5 = in + 5 * is;
    float *o0 = out, *o1 = out + os, *o2 = out + 2 * os, *o3 = out + 3 * os, *o4 = out + 4 * os,
          *o5 = out + 5 * os;
    FOR_LANES {
        float p12 = v1[l] + v2[l], m12 = v2[l] - v1[l], p34 = v3[l] + v4[l], m34 = v3[l] - v4[l];
        o0[l] = 4.0f * v0[l];
        o1[l] = 4.0f * m12 - 2.0f * m34 + 4.0f * v5[l];
        o2[l] = -5.0f * v0[l] - 4.0f * p12 - p34;
        o3[l] = -m12 + 2.0f * m34 - 5.0f * v5[l];
        o4[l] = v0[l] + p12 + p34;
        o5[l] = v5[l];
    }
}

/* out = Aᵀ in (6 -> 4). */
static inline void at4(const float *restrict in, int is, float *restrict out, int os)
{
    const float *m0 = in, *m1 = in + is, *m2 = in + 2 * is, *m3 = in + 3 * is, *m4 = in + 4 * is,
                *m5 = in + 5 * is;
    float *o0 = out, *o1 = out + os, *o2 = out + 2 * os, *o3 = out + 3 * os;
    FOR_LANES {
        float p12 = m1[l] + m2[l], d12 = m1[l] - m2[l], p34 = m3[l] + m4[l], d34 = m3[l] - m4[l];
        o0[l] = m0[l] + p12 + p34;
        o1[l] = d12 + 2.0f * d34;
        o2[l] = p12 + 4.0f * p34;
        o3[l] = d12 + 8.0f * d34 + m5[l];
    }
}

/* out = A in (4 -> 6), the adjoint of at4. */
static inline void a6(const float *restrict in, int is, float *restrict out, int os)
{
    const float *g0 = in, *g1 = in + is, *g2 = in + 2 * is, *g3 = in + 3 * is;
    float *o0 = out, *o1 = out + os, *o2 = out + 2 * os, *o3 = out + 3 * os, *o4 = out + 4 * os,
          *o5 = out + 5 * os;
    FOR_LANES {
        float e = g0[l] + g2[l], od = g1[l] + g3[l], e4 = g0[l] + 4.0f * g2[l],
              od2 = 2.0f * g1[l] + 8.0f * g3[l];
        o0[l] = g0[l];
        o1[l] = e + od;
        o2[l] = e - od;
        o3[l] = e4 + od2;
        o4[l] = e4 - od2;
        o5[l] = g3[l];
    }
}

/* ---- Weight transforms, LANES filters (k, c) at once ---------------------- */

/* out = G in (3 -> 6). */
static inline void g6(const float *restrict in, int is, float *restrict out, int os)
{
    const float *g0 = in, *g1 = in + is, *g2 = in + 2 * is;
    FOR_LANES {
        float e = g0[l] + g2[l], e4 = 0.25f * g0[l] + g2[l];
        out[l] = 0.25f * g0[l];
        out[os + l] = -(e + g1[l]) / 6.0f;
        out[2 * os + l] = -(e - g1[l]) / 6.0f;
        out[3 * os + l] = (e4 + 0.5f * g1[l]) / 6.0f;
        out[4 * os + l] = (e4 - 0.5f * g1[l]) / 6.0f;
        out[5 * os + l] = g2[l];
    }
}

/* out = Gᵀ in (6 -> 3), the adjoint of g6. */
static inline void gt3(const float *restrict in, int is, float *restrict out, int os)
{
    const float *u0 = in, *u1 = in + is, *u2 = in + 2 * is, *u3 = in + 3 * is, *u4 = in + 4 * is,
                *u5 = in + 5 * is;
    FOR_LANES {
        float p12 = -(u1[l] + u2[l]) / 6.0f, m12 = (u2[l] - u1[l]) / 6.0f;
        float p34 = (u3[l] + u4[l]) / 6.0f, m34 = (u3[l] - u4[l]) / 6.0f;
        out[l] = 0.25f * (u0[l] + p34) + p12;
        out[os + l] = m12 + 0.5f * m34;
        out[2 * os + l] = p12 + p34 + u5[l];
    }
}

typedef struct {
    const float *W;         /* weights (forward) or the gradient's transform gU */
    float *out;             /* U, or the weight gradient */
    size_t KC;
} weights_job;

/* U[ξ][kc] = (G g Gᵀ)[ξ] for the 3×3 filters g = W[kc], kc in [k0, k1). */
SIMD_CLONES static void weights_fwd(void *ctx, size_t k0, size_t k1)
{
    const weights_job *j = ctx;
    for (size_t kc = k0; kc < k1; kc += LANES) {
        size_t cnt = k1 - kc < LANES ? k1 - kc : LANES;
        float g[3][3][LANES] = {{{0}}}, t[ALPHA][3][LANES], u[ALPHA][ALPHA][LANES];
        if (cnt == LANES)
            for (int a = 0; a < 9; a++) gather_lanes(&g[a / 3][a % 3][0], j->W + 9 * kc + (size_t)a, 9);
        else
            for (size_t l = 0; l < cnt; l++)
                for (int a = 0; a < 9; a++) g[a / 3][a % 3][l] = j->W[9 * (kc + l) + (size_t)a];
        for (int b = 0; b < 3; b++) g6(&g[0][b][0], 3 * LANES, &t[0][b][0], 3 * LANES);
        for (int i = 0; i < ALPHA; i++) g6(&t[i][0][0], LANES, &u[i][0][0], LANES);
        for (int x = 0; x < XI; x++)
            copy_lanes(j->out + (size_t)x * j->KC + kc, &u[x / ALPHA][x % ALPHA][0], (int)cnt);
    }
}

/* gW[kc] += Gᵀ gU[kc] G, the adjoint of weights_fwd. */
SIMD_CLONES static void weights_bwd(void *ctx, size_t k0, size_t k1)
{
    const weights_job *j = ctx;
    for (size_t kc = k0; kc < k1; kc += LANES) {
        size_t cnt = k1 - kc < LANES ? k1 - kc : LANES;
        float u[ALPHA][ALPHA][LANES] = {{{0}}}, t[3][ALPHA][LANES], g[3][3][LANES];
        for (int x = 0; x < XI; x++)
            copy_lanes(&u[x / ALPHA][x % ALPHA][0], j->W + (size_t)x * j->KC + kc, (int)cnt);
        for (int b = 0; b < ALPHA; b++) gt3(&u[0][b][0], ALPHA * LANES, &t[0][b][0], ALPHA * LANES);
        for (int a = 0; a < 3; a++) gt3(&t[a][0][0], LANES, &g[a][0][0], LANES);
        for (size_t l = 0; l < cnt; l++)
            for (int a = 0; a < 9; a++) j->out[9 * (kc + l) + (size_t)a] += g[a / 3][a % 3][l];
    }
}

/* Run a weight transform over the cout·cin filters. */
static void over_filters(const ct_wino *w, const float *in, float *out,
                         void (*fn)(void *, size_t, size_t))
{
    size_t KC = (size_t)w->cout * (size_t)w->cin;
    weights_job j = {in, out, KC};
    ct_nn_parallel(KC, ct_num_threads(KC, 512), fn, &j);
}

/* ---- Tile transforms over a share of samples ----------------------------- */

typedef struct {
    const tiling *t;
    int C;                  /* channels of the planes walked */
    const float *src;       /* images (N×C×h×w or N×C×oh×ow) or transformed tiles */
    float *dst;
    float *P;               /* scratch: a padded plane (ph×pw) per sample; a share
                               of samples [s0, s1) uses the planes from s0 on */
    const float *bias;      /* output_fwd: added to each channel, or NULL */
} plane_job;

/* The forward transforms fill their LANES lanes with consecutive tiles of
   one channel, row after row and sample after sample (the order of the
   tiles in V and M), so narrow maps use every lane too: 16×16 has 4 tiles
   a row, 8×8 has 4 tiles a sample, 4×4 one.  A chunk of tiles g0 ..
   g0+cnt-1 (over the batch) of one channel: */
typedef struct {
    int cnt;                /* real tiles, at most LANES */
    int n[LANES];           /* each lane's sample, */
    int ti[LANES], tj[LANES];   /* and its tile's row and column there */
    int one_row;            /* all in one row of tiles of one sample */
    int full_row;           /* one_row with every lane real: stride-4 loads and stores */
} chunk;

/* The chunk from tile g0 on, stopping before g1.  Lanes past the last tile
   repeat the first. */
static chunk chunk_at(const tiling *t, size_t g0, size_t g1)
{
    size_t per = t->per;
    chunk ch;
    ch.cnt = g1 - g0 < LANES ? (int)(g1 - g0) : LANES;
    int n = (int)(g0 / per), k = (int)(g0 % per), ti = k / t->tw, tj = k % t->tw;
    for (int l = 0; l < ch.cnt; l++) {
        ch.n[l] = n, ch.ti[l] = ti, ch.tj[l] = tj;
        if (++tj == t->tw && (tj = 0, ++ti == t->th)) ti = 0, n++;
    }
    for (int l = ch.cnt; l < LANES; l++) ch.n[l] = ch.n[0], ch.ti[l] = ch.ti[0], ch.tj[l] = ch.tj[0];
    ch.one_row = ch.tj[0] + ch.cnt <= t->tw;
    ch.full_row = ch.one_row && ch.cnt == LANES;
    return ch;
}

/* The chunks a share of samples [s0, s1) walks for each of its channels,
   in order: per group of G samples, LANES tiles at a time.  Made once per
   share rather than once per channel (computing them took 5% of a U-Net
   step); NULL when out of memory, and the walk computes each again. */
static chunk *chunk_table(const tiling *t, size_t s0, size_t s1, size_t G)
{
    size_t per = t->per, n = 0;
    if (G == 0) G = 1;
    for (size_t n0 = s0; n0 < s1; n0 += G) {
        size_t n1 = n0 + G < s1 ? n0 + G : s1;
        n += ((n1 - n0) * per + LANES - 1) / LANES;
    }
    chunk *tab = malloc((n ? n : 1) * sizeof *tab);
    if (!tab) return NULL;
    size_t q = 0;
    for (size_t n0 = s0; n0 < s1; n0 += G) {
        size_t n1 = n0 + G < s1 ? n0 + G : s1;
        for (size_t g0 = n0 * per; g0 < n1 * per; g0 += LANES) tab[q++] = chunk_at(t, g0, n1 * per);
    }
    return tab;
}

/* Chunk q of a share's table tab, or where there is no table the chunk
   from tile g0 to g1, computed into *tmp.  A pointer, not a copy of the
   struct: reading the lanes of a fresh copy back as a vector waited on the
   copy's stores (perf put most of input_fwd's time there). */
static inline const chunk *chunk_get(const chunk *tab, size_t q, chunk *tmp, const tiling *t,
                                     size_t g0, size_t g1)
{
    if (tab) return &tab[q];
    *tmp = chunk_at(t, g0, g1);
    return tmp;
}

/* Each lane's offset of its tile's corner in padded planes that start
   with sample n0's. */
static void lane_offsets(const tiling *t, const chunk *ch, int n0, size_t off[LANES])
{
    size_t plane = (size_t)t->ph * (size_t)t->pw;
    for (int l = 0; l < LANES; l++)
        off[l] = (size_t)(ch->n[l] - n0) * plane + (size_t)(4 * ch->ti[l] * t->pw + 4 * ch->tj[l]);
}

/* Samples transformed together: enough to fill the lanes (one where a
   sample has LANES tiles or more, so its padded plane stays in L1). */
static size_t group_of(const tiling *t)
{
    return t->per >= LANES ? 1 : (LANES + t->per - 1) / t->per;
}

/* Copy channel c of samples [n0, n1) into zero-padded planes from P on. */
static void pad_planes(const plane_job *j, int c, size_t n0, size_t n1, float *P)
{
    const tiling *t = j->t;
    const ct_wino *w = t->w;
    size_t plane = (size_t)t->ph * (size_t)t->pw;
    for (size_t n = n0; n < n1; n++, P += plane) {
        const float *img = j->src + (n * (size_t)j->C + (size_t)c) * (size_t)w->h * (size_t)w->w;
        memset(P, 0, plane * sizeof(float));
        for (int y = 0; y < w->h; y++)
            memcpy(P + (size_t)(y + w->pad) * t->pw + w->pad, img + (size_t)y * w->w,
                   (size_t)w->w * sizeof(float));
    }
}

/* Where the output-sized plane (oh×ow) of sample n, channel k starts in y
   or gy (C channels). */
static size_t out_plane(const ct_wino *w, int C, int n, int k)
{
    return ((size_t)n * (size_t)C + (size_t)k) * (size_t)w->oh * (size_t)w->ow;
}

/* Write lane l of the 4×4 output tiles o, tile (ti, tj) of its plane img,
   cropped to the output size. */
static void put_tile(float *img, const ct_wino *w, int ti, int tj, float o[4][4][LANES], int l)
{
    int y = 4 * ti, x = 4 * tj;
    int rows = w->oh - y < 4 ? w->oh - y : 4, cols = w->ow - x < 4 ? w->ow - x : 4;
    for (int r = 0; r < rows; r++)
        for (int sx = 0; sx < cols; sx++) img[(y + r) * w->ow + x + sx] = o[r][sx][l];
}

/* Load the LANES lanes of the 36 transform points of tiles from in (points
   stride floats apart), cnt of them real, the rest 0.  The 36 planes are
   read as 36 streams at once, more than the hardware prefetchers follow:
   each load prefetches its stream PREFETCH_AHEAD floats (16 chunks) on
   (a 64-channel 32×32 layer ran about 5% faster; 64 or 256 floats ahead
   did less, and prefetching store_points' stores made them slower). */
static inline void load_points(float m[ALPHA][ALPHA][LANES], const float *in, size_t stride, int cnt)
{
    for (int x = 0; x < XI; x++) {
        float *lane = &m[x / ALPHA][x % ALPHA][0];
        __builtin_prefetch(in + (size_t)x * stride + PREFETCH_AHEAD);
        copy_lanes(lane, in + (size_t)x * stride, cnt);
        for (int l = cnt; l < LANES; l++) lane[l] = 0.0f;
    }
}

/* Store the first cnt lanes of the 36 transform points m to out (points
   stride floats apart): the adjoint of load_points. */
static inline void store_points(float *out, size_t stride, float m[ALPHA][ALPHA][LANES], int cnt)
{
    for (int x = 0; x < XI; x++) copy_lanes(out + (size_t)x * stride, &m[x / ALPHA][x % ALPHA][0], cnt);
}

/* V[ξ][c][tile] = (Bᵀ d B)[ξ] for the padded input patches d of samples
   [s0, s1). */
SIMD_CLONES static void input_fwd(void *ctx, size_t s0, size_t s1)
{
    const plane_job *j = ctx;
    const tiling *t = j->t;
    size_t CT = (size_t)j->C * t->T, per = t->per, G = group_of(t);
    float *P = j->P + s0 * (size_t)t->ph * (size_t)t->pw;
    chunk *tab = chunk_table(t, s0, s1, G);
    for (int c = 0; c < j->C; c++)
        for (size_t n0 = s0, q = 0; n0 < s1; n0 += G) {
            size_t n1 = n0 + G < s1 ? n0 + G : s1;
            pad_planes(j, c, n0, n1, P);
            for (size_t g0 = n0 * per; g0 < n1 * per; g0 += LANES, q++) {
                chunk tmp;
                const chunk *ch = chunk_get(tab, q, &tmp, t, g0, n1 * per);
                size_t off[LANES];
                lane_offsets(t, ch, (int)n0, off);
                float d[ALPHA][ALPHA][LANES], u[ALPHA][ALPHA][LANES];
                if (ch->full_row)   /* stride 4 along a row: faster loads */
                    for (int r = 0; r < ALPHA; r++)
                        for (int s = 0; s < ALPHA; s++) gather4(&d[r][s][0], P + off[0] + r * t->pw + s);
                else
                    for (int r = 0; r < ALPHA; r++)
                        for (int s = 0; s < ALPHA; s++) {
                            const float *p = P + r * t->pw + s;
                            lanes_v v = {p[off[0]], p[off[1]], p[off[2]], p[off[3]],
                                         p[off[4]], p[off[5]], p[off[6]], p[off[7]]};
                            memcpy(&d[r][s][0], &v, sizeof v);   /* at once, as gather_lanes */
                        }
                for (int s = 0; s < ALPHA; s++) bt6(&d[0][s][0], ALPHA * LANES, &u[0][s][0], ALPHA * LANES);
                for (int r = 0; r < ALPHA; r++) bt6(&u[r][0][0], LANES, &d[r][0][0], LANES);
                store_points(j->dst + (size_t)c * t->T + g0, CT, d, ch->cnt);
            }
        }
    free(tab);
}

/* gx = crop(Σ B GX Bᵀ) over the overlapping patches, for samples [s0,
   s1): the adjoint of input_fwd.  Lanes hold consecutive tiles of one
   sample (rows wrapped); their sums into the plane go in the same order
   whatever the threads' shares, so the result does not depend on them. */
SIMD_CLONES static void input_bwd(void *ctx, size_t s0, size_t s1)
{
    const plane_job *j = ctx;
    const tiling *t = j->t;
    const ct_wino *w = t->w;
    size_t CT = (size_t)j->C * t->T, per = t->per;
    float *P = j->P + s0 * (size_t)t->ph * (size_t)t->pw;   /* the share's first plane */
    chunk *tab = chunk_table(t, s0, s1, 1);
    size_t cps = (per + LANES - 1) / LANES;   /* chunks a sample */
    for (size_t n = s0; n < s1; n++)
        for (int c = 0; c < j->C; c++) {
            memset(P, 0, (size_t)t->ph * (size_t)t->pw * sizeof(float));
            for (size_t g0 = n * per, q = (n - s0) * cps; g0 < (n + 1) * per; g0 += LANES, q++) {
                chunk tmp;
                const chunk *ch = chunk_get(tab, q, &tmp, t, g0, (n + 1) * per);
                size_t off[LANES];
                lane_offsets(t, ch, (int)n, off);
                float d[ALPHA][ALPHA][LANES], u[ALPHA][ALPHA][LANES];
                load_points(d, j->src + (size_t)c * t->T + g0, CT, ch->cnt);
                for (int s = 0; s < ALPHA; s++) b6(&d[0][s][0], ALPHA * LANES, &u[0][s][0], ALPHA * LANES);
                for (int r = 0; r < ALPHA; r++) b6(&u[r][0][0], LANES, &d[r][0][0], LANES);
                for (int r = 0; r < ALPHA; r++)
                    if (ch->full_row)
                        add_patch_row(P + off[0] + r * t->pw, d[r]);
                    else
                        for (int s = 0; s < ALPHA; s++)
                            for (int l = 0; l < ch->cnt; l++) P[off[l] + (size_t)(r * t->pw + s)] += d[r][s][l];
            }
            float *img = j->dst + (n * (size_t)j->C + (size_t)c) * (size_t)w->h * (size_t)w->w;
            for (int y = 0; y < w->h; y++)
                memcpy(img + (size_t)y * w->w, P + (size_t)(y + w->pad) * t->pw + w->pad,
                       (size_t)w->w * sizeof(float));
        }
    free(tab);
}

/* The output transforms (forward and adjoint) walk the output-sized
   planes of samples [s0, s1) channel by channel, LANES tiles at a time:
   fn(j, k, g0, ch) for channel k and the chunk ch of tiles from g0. */
typedef void out_chunk_fn(const plane_job *j, int k, size_t g0, const chunk *ch);

static void over_out_chunks(const plane_job *j, size_t s0, size_t s1, out_chunk_fn *fn)
{
    const tiling *t = j->t;
    size_t per = t->per;
    chunk *tab = chunk_table(t, s0, s1, s1 - s0);
    for (int k = 0; k < j->C; k++)
        for (size_t g0 = s0 * per, q = 0; g0 < s1 * per; g0 += LANES, q++) {
            chunk tmp;
            const chunk *ch = chunk_get(tab, q, &tmp, t, g0, s1 * per);
            fn(j, k, g0, ch);
        }
    free(tab);
}

/* The rows of the tiles of a one_row chunk in channel k's output plane
   of C: where its row r0 of tiles starts, and how many columns are
   inside the output. */
static size_t row_span(const ct_wino *w, int C, const chunk *ch, int k, int *cols)
{
    int ti = ch->ti[0], tj = ch->tj[0];
    *cols = w->ow - 4 * tj < 4 * ch->cnt ? w->ow - 4 * tj : 4 * ch->cnt;
    return out_plane(w, C, ch->n[0], k) + (size_t)(4 * ti) * (size_t)w->ow + (size_t)(4 * tj);
}

/* y tile = Aᵀ M A + bias, cropped to the output, for channel k and the
   chunk ch: the bias is added here, while the tile is in registers,
   rather than in another pass over y. */
SIMD_CLONES static void output_fwd_chunk(const plane_job *j, int k, size_t g0, const chunk *ch)
{
    const tiling *t = j->t;
    const ct_wino *w = t->w;
    float m[ALPHA][ALPHA][LANES], u[4][ALPHA][LANES], o[4][4][LANES];
    load_points(m, j->src + (size_t)k * t->T + g0, (size_t)j->C * t->T, ch->cnt);
    for (int s = 0; s < ALPHA; s++) at4(&m[0][s][0], ALPHA * LANES, &u[0][s][0], ALPHA * LANES);
    for (int r = 0; r < 4; r++) at4(&u[r][0][0], LANES, &o[r][0][0], LANES);
    if (j->bias)
        for (int r = 0; r < 4; r++)
            for (int sx = 0; sx < 4; sx++) FOR_LANES o[r][sx][l] += j->bias[k];
    if (ch->one_row) {   /* whole rows of the tiles at once */
        int cols;
        float *img = j->dst + row_span(w, j->C, ch, k, &cols);
        for (int r = 0; r < 4 && 4 * ch->ti[0] + r < w->oh; r++) {
            float row[4 * LANES];
            for (int sx = 0; sx < 4; sx++) scatter4(row + sx, &o[r][sx][0]);
            memcpy(img + (size_t)r * w->ow, row, (size_t)cols * sizeof(float));
        }
    } else {
        for (int l = 0; l < ch->cnt; l++)
            put_tile(j->dst + out_plane(w, j->C, ch->n[l], k), w, ch->ti[l], ch->tj[l], o, l);
    }
}

/* y = the output tiles of samples [s0, s1). */
static void output_fwd(void *ctx, size_t s0, size_t s1)
{
    over_out_chunks(ctx, s0, s1, output_fwd_chunk);
}

/* Lane l of the 4×4 tiles g = tile (ti, tj) of img, zero outside the
   output: the adjoint of put_tile. */
static void get_tile(float g[4][4][LANES], const float *img, const ct_wino *w, int ti, int tj, int l)
{
    for (int r = 0; r < 4; r++)
        for (int sx = 0; sx < 4; sx++) {
            int y = 4 * ti + r, x = 4 * tj + sx;
            g[r][sx][l] = y < w->oh && x < w->ow ? img[y * w->ow + x] : 0.0f;
        }
}

/* GY[ξ][k][tile] = (A gy Aᵀ)[ξ], gy zero outside the output, for channel
   k and the chunk ch: the adjoint of output_fwd_chunk. */
SIMD_CLONES static void output_bwd_chunk(const plane_job *j, int k, size_t g0, const chunk *ch)
{
    const tiling *t = j->t;
    const ct_wino *w = t->w;
    float g[4][4][LANES], u[ALPHA][4][LANES], m[ALPHA][ALPHA][LANES];
    if (ch->one_row) {   /* whole rows of the tiles at once */
        int cols;
        const float *img = j->src + row_span(w, j->C, ch, k, &cols);
        for (int r = 0; r < 4; r++) {
            float row[4 * LANES] = {0};
            if (4 * ch->ti[0] + r < w->oh) memcpy(row, img + (size_t)r * w->ow, (size_t)cols * sizeof(float));
            for (int sx = 0; sx < 4; sx++) gather4(&g[r][sx][0], row + sx);
        }
    } else {
        FOR_LANES get_tile(g, j->src + out_plane(w, j->C, ch->n[l], k), w, ch->ti[l], ch->tj[l], l);
    }
    for (int s = 0; s < 4; s++) a6(&g[0][s][0], 4 * LANES, &u[0][s][0], 4 * LANES);
    for (int r = 0; r < ALPHA; r++) a6(&u[r][0][0], LANES, &m[r][0][0], LANES);
    store_points(j->dst + (size_t)k * t->T + g0, (size_t)j->C * t->T, m, ch->cnt);
}

/* GY of the output gradient's tiles of samples [s0, s1). */
static void output_bwd(void *ctx, size_t s0, size_t s1)
{
    over_out_chunks(ctx, s0, s1, output_bwd_chunk);
}

/* ---- Drivers: shares of samples (transforms) or of points ξ (GEMMs) ------ */

/* What one call shares with its threads. */
typedef struct {
    tiling t;
    float *U;
    float *V, *M;           /* M holds GY in backward; GX reuses V */
    const float *Vx;        /* backward: the input's transform (forward's, or V) */
    float *gU, *scratch;    /* scratch: a padded plane per sample */
    int nshares;
} call;

/* Run the tile transform fn over the samples, in shares: src and dst are
   its planes of C channels (images or transformed tiles); bias only for
   output_fwd. */
static void over_samples(const call *c, int C, const float *src, float *dst, const float *bias,
                         void (*fn)(void *, size_t, size_t))
{
    plane_job j = {&c->t, C, src, dst, c->scratch, bias};
    ct_nn_parallel((size_t)c->t.w->n, c->nshares, fn, &j);
}

/* The GEMMs run as units of one point ξ and one fixed block of its
   result (tiles, and rows on small maps; rows of cout for gU): many more units than
   the 36 points, for many threads, and each result element computed by one
   sgemm call whose sizes do not depend on the thread count. */
enum { WINO_COLS = 256, WINO_ROWS = 32, WINO_TROWS = 64 };

static int wino_block(int len, int block)
{
    return len >= 2 * block ? block : len;
}

/* A unit of a GEMM over tiles (m result rows by T columns): point x, rows
   [row, row + rows), columns [col, col + cols).  Columns are cut in
   blocks of WINO_COLS; where that gives fewer than 4 blocks (16×16 maps
   and smaller), rows are cut in blocks of WINO_TROWS too. */
typedef struct {
    size_t x;
    int row, rows, col, cols;
} tile_unit_t;

static void tile_grid(const call *c, int m, int *rb, int *nrb, int *cb, int *ncb)
{
    int T = (int)c->t.T;
    *cb = wino_block(T, WINO_COLS);
    *ncb = (T + *cb - 1) / *cb;
    *rb = *ncb < 4 ? wino_block(m, WINO_TROWS) : m;
    *nrb = (m + *rb - 1) / *rb;
}

static size_t tile_units(const call *c, int m)
{
    int rb, nrb, cb, ncb;
    tile_grid(c, m, &rb, &nrb, &cb, &ncb);
    return XI * (size_t)nrb * (size_t)ncb;
}

static tile_unit_t tile_unit(const call *c, int m, size_t u)
{
    int rb, nrb, cb, ncb, T = (int)c->t.T;
    tile_grid(c, m, &rb, &nrb, &cb, &ncb);
    tile_unit_t t;
    size_t per = (size_t)nrb * (size_t)ncb, r = u % per;
    t.x = u / per;
    t.row = (int)(r / (size_t)ncb) * rb;
    t.rows = m - t.row < rb ? m - t.row : rb;
    t.col = (int)(r % (size_t)ncb) * cb;
    t.cols = T - t.col < cb ? T - t.col : cb;
    return t;
}

/* Threads for units of GEMMs of flops in all: about 1 Mflop a unit at least. */
static int gemm_threads(size_t units, double flops)
{
    return ct_num_threads(units, (size_t)(1 + 1e6 * (double)units / (flops + 1)));
}

/* Units [u0, u1) of the products over tiles C[ξ] = op(U[ξ]) B[ξ], a block
   of rows and tiles each: op(U) = U in forward (M = U V, cout rows), Uᵀ in
   backward (GX = Uᵀ GY, cin rows). */
static void tile_gemms(const call *c, int trans, const float *B, float *C, size_t u0, size_t u1)
{
    const ct_wino *w = c->t.w;
    int m = trans ? w->cin : w->cout, k = trans ? w->cout : w->cin, T = (int)c->t.T;
    size_t KC = (size_t)w->cout * (size_t)w->cin, BT = (size_t)k * c->t.T, CT = (size_t)m * c->t.T;
    for (size_t u = u0; u < u1; u++) {
        tile_unit_t b = tile_unit(c, m, u);
        size_t a = trans ? (size_t)b.row : (size_t)b.row * (size_t)w->cin;   /* row b.row of op(U) */
        cblas_sgemm(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, CblasNoTrans, b.rows, b.cols, k, 1.0f,
                    c->U + b.x * KC + a, w->cin, B + b.x * BT + b.col, T,
                    0.0f, C + b.x * CT + (size_t)b.row * (size_t)T + b.col, T);
    }
}

/* Forward units [u0, u1): M[ξ] = U[ξ] V[ξ]. */
static void fwd_gemms(void *ctx, size_t u0, size_t u1)
{
    const call *c = ctx;
    tile_gemms(c, 0, c->V, c->M, u0, u1);
}

/* Backward units [u0, u1) of gU[ξ] = GY[ξ] V[ξ]ᵀ: a block of cout rows. */
static void bwd_gu(void *ctx, size_t u0, size_t u1)
{
    const call *c = ctx;
    const ct_wino *w = c->t.w;
    size_t KC = (size_t)w->cout * (size_t)w->cin, CT = (size_t)w->cin * c->t.T, KT = (size_t)w->cout * c->t.T;
    int T = (int)c->t.T, rb = wino_block(w->cout, WINO_ROWS), nb = (w->cout + rb - 1) / rb;
    for (size_t u = u0; u < u1; u++) {
        size_t x = u / (size_t)nb;
        int row = (int)(u % (size_t)nb) * rb, rows = w->cout - row < rb ? w->cout - row : rb;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, w->cin, T, 1.0f,
                    c->M + x * KT + (size_t)row * (size_t)T, T, c->Vx + x * CT, T, 0.0f,
                    c->gU + x * KC + (size_t)row * (size_t)w->cin, w->cin);
    }
}

/* Backward units [u0, u1) of GX[ξ] = U[ξ]ᵀ GY[ξ], written to V[ξ] (which
   bwd_gu, where it read V, has finished with). */
static void bwd_gx(void *ctx, size_t u0, size_t u1)
{
    const call *c = ctx;
    tile_gemms(c, 1, c->M, c->V, u0, u1);
}

/* Lay out the workspace of a call: U, [gU], V, M, scratch. */
static int call_init(call *c, const ct_wino *w, int with_gu, ct_error *err)
{
    memset(c, 0, sizeof *c);
    c->t = tiling_of(w);
    c->nshares = ct_num_threads((size_t)w->n, 1);
    size_t nu = XI * (size_t)w->cout * (size_t)w->cin, nv = XI * (size_t)w->cin * c->t.T;
    size_t nm = XI * (size_t)w->cout * c->t.T, np = (size_t)w->n * (size_t)c->t.ph * (size_t)c->t.pw;
    float *ws = ct_nn_workspace((with_gu ? 2 : 1) * nu + nv + nm + np, err);
    if (!ws) return CT_ENOMEM;
    c->U = ws;
    c->gU = with_gu ? ws + nu : NULL;
    c->V = ws + (with_gu ? 2 : 1) * nu;
    c->M = c->V + nv;
    c->scratch = c->M + nm;
    return CT_OK;
}

size_t ct_wino_v_size(const ct_wino *w)
{
    return XI * (size_t)w->cin * tiling_of(w).T;
}

int ct_wino_forward(const ct_wino *w, const float *W, const float *b, const float *x, float *y,
                    float *V, ct_error *err)
{
    call c;
    if (w->n == 0) return CT_OK;   /* an empty batch: GEMMs of width 0 are refused */
    if (call_init(&c, w, 0, err) != CT_OK) return CT_ENOMEM;
    if (V) c.V = V;
    over_filters(w, W, c.U, weights_fwd);
    over_samples(&c, w->cin, x, c.V, NULL, input_fwd);
    size_t units = tile_units(&c, w->cout);
    ct_nn_parallel(units, gemm_threads(units, ct_wino_flops(w)), fwd_gemms, &c);
    over_samples(&c, w->cout, c.M, y, b, output_fwd);
    return CT_OK;
}

int ct_wino_backward(const ct_wino *w, const float *W, const float *x, const float *V,
                     const float *gy, float *gx, float *gW, ct_error *err)
{
    call c;
    if (w->n == 0) return CT_OK;
    if (call_init(&c, w, gW != NULL, err) != CT_OK) return CT_ENOMEM;
    over_filters(w, W, c.U, weights_fwd);
    over_samples(&c, w->cout, gy, c.M, NULL, output_bwd);
    c.Vx = V ? V : c.V;
    if (gW) {
        if (!V) over_samples(&c, w->cin, x, c.V, NULL, input_fwd);
        int rb = wino_block(w->cout, WINO_ROWS);
        size_t gu = XI * (size_t)((w->cout + rb - 1) / rb);
        ct_nn_parallel(gu, gemm_threads(gu, ct_wino_flops(w)), bwd_gu, &c);
    }
    size_t units = tile_units(&c, w->cin);
    ct_nn_parallel(units, gemm_threads(units, ct_wino_flops(w)), bwd_gx, &c);
    if (gW) over_filters(w, c.gU, gW, weights_bwd);
    over_samples(&c, w->cin, c.V, gx, NULL, input_bwd);
    return CT_OK;
}
