/*
 * test_recon.c - reconstruction of generated CrysTens (ct_recon): every
 * mpts_52 test crystal from its exact tensor, the same tensors with
 * Gaussian noise (automatic K against the paper's fixed K), the paper's Z
 * example, and degenerate tensors.
 *
 * Noise is added in the networks' scaled units.  Provisional scale (until
 * ct.crystens.scaler fits the real constants): one scaled unit of a
 * quantity is its standard deviation over the data set (Z; the pooled
 * coordinates; the pooled lengths; the pooled angles; SG; layer 0; the
 * pooled directional graphs), as a mean/std standardisation gives.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ct_crystens.h"
#include "ct_dataset.h"
#include "ct_parallel.h"
#include "ct_recon.h"
#include "ct_rng.h"
#include "tap.h"

#define S 64
#define HB CT_CRYSTENS_HEADER
#define PLANE ((size_t)S * S)
#define AT(t, l, r, c) ((t)[(size_t)(l) * PLANE + (size_t)(r) * S + (c)])

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double wrap_half(double d)
{
    return d - nearbyint(d);
}

/* Whether b is a (same atoms, same order) within ptol per fractional
   coordinate after the best origin shift (shift set; else none) and within
   ltol relative on each lattice parameter. */
static int same_structure(const ct_structure *a, const ct_structure *b, int shift, double ptol,
                          double ltol)
{
    if (!a || !b || a->natoms != b->natoms) return 0;
    for (int k = 0; k < 6; k++)
        if (fabs(a->cell[k] - b->cell[k]) > ltol * fabs(b->cell[k])) return 0;
    int n = a->natoms;
    for (int k = 0; k < 3; k++) {
        double sum = 0;   /* the least-squares shift: the mean offset on the circle */
        for (int i = 0; shift && i < n; i++)
            sum += wrap_half(a->frac[i][k] - b->frac[i][k] - wrap_half(a->frac[0][k] - b->frac[0][k]));
        double off = shift ? wrap_half(a->frac[0][k] - b->frac[0][k]) + sum / n : 0;
        for (int i = 0; i < n; i++)
            if (a->z[i] != b->z[i] || fabs(wrap_half(a->frac[i][k] - b->frac[i][k] - off)) > ptol)
                return 0;
    }
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Distinct elements and distinct coordinate values of s (as float32 holds
   them: values within 2e-7 on the circle are one; CIF values are written
   to 1e-6, so nothing lies near that line). */
static void count_distinct(const ct_structure *s, int *nz, int *nx)
{
    int n = s->natoms, m = 3 * n;
    double v[3 * 64];
    *nz = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= s->z[j] == s->z[i];
        *nz += !seen;
        for (int k = 0; k < 3; k++) v[3 * i + k] = ct_wrap01((float)s->frac[i][k]);
    }
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    *nx = 0;
    for (int t = 0; t < m; t++) *nx += (t + 1 < m ? v[t + 1] : v[0] + 1) - v[t] > 2 * CT_RECON_COORD_FLOOR;
    if (!*nx) *nx = 1;
}

/* The data set, prepared (reduced, sorted) in parallel.  Space groups are
   set by hand: spglib would cost most of the test's time and the number is
   only carried through. */
typedef struct {
    ct_structure **in, **out;
    ct_crystens_opts *o;
} prep_job;

static void prep_share(void *ctx, size_t begin, size_t end)
{
    prep_job *j = ctx;
    for (size_t i = begin; i < end; i++) {
        j->in[i]->spacegroup = 1 + (int)(i % 230);
        j->out[i] = ct_crystens_prepare(j->in[i], j->o, NULL);
    }
}

static ct_structure **load_prepared(const char *path, size_t *n)
{
    ct_dataset_opts dopts = {.max_atoms = 52};
    ct_dataset *ds;
    ct_error err;
    if (ct_dataset_load(path, &dopts, &ds, &err) != CT_OK) return NULL;
    ct_crystens_opts o;
    ct_crystens_defaults(&o);
    ct_structure **p = calloc(ds->n, sizeof *p);
    prep_job job = {ds->items, p, &o};
    ct_parallel_for(ds->n, ct_num_threads(ds->n, 64), prep_share, &job);
    *n = ds->n;
    ct_dataset_free(ds);
    return p;
}

/* Encode prepared structures as they are. */
static ct_tensor *encode_prepared(ct_structure **p, size_t n)
{
    ct_crystens_opts o;
    ct_crystens_defaults(&o);
    o.reduce = 0;
    o.sort = 0;
    ct_error err;
    ct_tensor *t = ct_crystens_encode(p, n, 1, &o, &err);
    if (!t) printf("# encode: %s\n", err.msg);
    return t;
}

static void free_all(ct_structure **s, size_t n)
{
    for (size_t i = 0; i < n; i++) ct_structure_free(s[i]);
    free(s);
}

/* ---- Exact tensors of every test crystal ------------------------------- */

static void test_exact(ct_structure **p, size_t n, const ct_tensor *t)
{
    ct_recon_opts o;
    ct_recon_defaults(&o);
    o.symmetry = 0;
    ct_structure **out = calloc(n, sizeof *out);
    ct_recon_diag *d = calloc(n, sizeof *d);
    ct_error *errs = calloc(n, sizeof *errs);
    double t0 = now();
    long got = ct_recon_batch(t->data, n, S, &o, out, d, errs);
    double dt = now() - t0;
    size_t same = 0, kz = 0, kx = 0, sg = 0, first_bad = n;
    double margin = 1;
    for (size_t i = 0; i < n; i++) {
        int nz, nx;
        count_distinct(p[i], &nz, &nx);
        int ok_i = same_structure(out[i], p[i], 0, 1e-4, 1e-6);
        same += ok_i;
        kz += d[i].k_species == nz;
        kx += d[i].k_coords == nx;
        sg += d[i].spacegroup == p[i]->spacegroup;
        if (d[i].occupancy_margin < margin) margin = d[i].occupancy_margin;
        if (getenv("RECON_DEBUG") && (!ok_i || d[i].k_species != nz))
        {
            printf("# %zu: n %d/%d K %d/%d %d/%d vs %g\n", i + 1, p[i]->natoms, d[i].natoms,
                   d[i].k_species, nz, d[i].k_coords, nx, d[i].vote_spread);
            for (int a = 0; a < p[i]->natoms; a++) for (int k = 0; k < 3; k++)
                if (fabs(wrap_half(out[i]->frac[a][k] - p[i]->frac[a][k])) > 1e-4 || out[i]->z[a] != p[i]->z[a])
                    printf("#   atom %d z %d/%d axis %d %.9f %.9f\n", a, out[i]->z[a], p[i]->z[a], k, out[i]->frac[a][k], p[i]->frac[a][k]);
            for (int k = 0; k < 6; k++) printf("#  %.9g %.9g\n", out[i]->cell[k], p[i]->cell[k]);
        }
        if ((!ok_i || d[i].k_species != nz || d[i].k_coords != nx) && first_bad == n) {
            first_bad = i;
            printf("# first miss: crystal %zu (%d atoms): %s; K %d/%d want %d/%d\n", i + 1,
                   p[i]->natoms, out[i] ? "reconstructed" : errs[i].msg, d[i].k_species,
                   d[i].k_coords, nz, nx);
        }
    }
    printf("# exact: %zu crystals in %.2f s (%.0f/s), %zu identical, K right %zu/%zu\n", n, dt,
           n / dt, same, kz, kx);
    ok(got == (long)n, "every exact tensor reconstructs (%ld of %zu)", got, n);
    ok(same == n, "each to the identical crystal (%zu of %zu)", same, n);
    ok(kz == n, "automatic K = the number of distinct elements (%zu of %zu)", kz, n);
    ok(kx == n, "automatic K = the number of distinct coordinates (%zu of %zu)", kx, n);
    ok(sg == n && margin == 1, "space group carried; every slot decided with margin 1 (%g)",
       margin);
    free_all(out, n);
    free(d), free(errs);
}

/* ---- Noise ------------------------------------------------------------- */

enum { Q_L0 = CT_CRYSTENS_PAD + 1, Q_DELTA, NQ };

/* The quantity a header row stands for: coordinates, lengths and angles
   pooled. */
static int header_q(int r)
{
    if (r >= CT_CRYSTENS_X && r <= CT_CRYSTENS_ZC) return CT_CRYSTENS_X;
    if (r >= CT_CRYSTENS_A && r <= CT_CRYSTENS_C) return CT_CRYSTENS_A;
    if (r >= CT_CRYSTENS_ALPHA && r <= CT_CRYSTENS_GAMMA) return CT_CRYSTENS_ALPHA;
    return r;
}

static int element_q(int l, int r, int c)
{
    if (r < HB && c < HB) return -1;
    if (r < HB || c < HB) return header_q(r < HB ? r : c);
    return l ? Q_DELTA : Q_L0;
}

/* The provisional scale: each quantity's standard deviation over the
   present atoms of the data set. */
static void fit_scale(ct_structure **p, size_t n, const ct_tensor *t, double scale[NQ])
{
    double s1[NQ] = {0}, s2[NQ] = {0}, cnt[NQ] = {0};
    for (size_t i = 0; i < n; i++) {
        const float *x = t->data + i * 4 * PLANE;
        int a = p[i]->natoms;
        for (int l = 0; l < 4; l++)
            for (int r = 0; r < HB + a; r++)
                for (int c = HB; c < HB + a; c++) {
                    int q = element_q(l, r, c);
                    if (q < 0 || q == CT_CRYSTENS_PAD) continue;
                    double v = AT(x, l, r, c);
                    s1[q] += v, s2[q] += v * v, cnt[q]++;
                }
    }
    for (int q = 0; q < NQ; q++)
        scale[q] = cnt[q] > 1 ? sqrt(fmax(s2[q] / cnt[q] - pow(s1[q] / cnt[q], 2), 0)) : 1;
    scale[CT_CRYSTENS_PAD] = 1;
}

static void add_noise(const ct_tensor *t, size_t n, double sigma, const double scale[NQ],
                      float *out, uint64_t seed)
{
    ct_rng g;
    ct_rng_seed(&g, seed);
    for (size_t i = 0; i < n; i++) {
        const float *x = t->data + i * 4 * PLANE;
        float *y = out + i * 4 * PLANE;
        for (int l = 0; l < 4; l++)
            for (int r = 0; r < S; r++)
                for (int c = 0; c < S; c++) {
                    int q = element_q(l, r, c);
                    double sd = sigma * (q < 0 ? 1 : scale[q]);
                    AT(y, l, r, c) = (float)((double)AT(x, l, r, c) + sd * ct_rng_normal(&g));
                }
    }
}

/* Fraction of n noisy tensors reconstructed to the same structure. */
static double matched(const float *x, ct_structure **truth, size_t n, int ks, int kx,
                      double *rate)
{
    ct_recon_opts o;
    ct_recon_defaults(&o);
    o.symmetry = 0;
    o.k_species = ks;
    o.k_coords = kx;
    ct_structure **out = calloc(n, sizeof *out);
    double t0 = now();
    ct_recon_batch(x, n, S, &o, out, NULL, NULL);
    *rate = n / (now() - t0);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += same_structure(out[i], truth[i], 1, 0.01, 0.01);
    if (getenv("RECON_DEBUG")) {
        int fail_n = 0, fail_z = 0, fail_x = 0, fail_l = 0, none = 0;
        for (size_t i = 0; i < n; i++) {
            if (!out[i]) { none++; continue; }
            if (out[i]->natoms != truth[i]->natoms) { fail_n++; continue; }
            int zb = 0; for (int a = 0; a < truth[i]->natoms; a++) zb |= out[i]->z[a] != truth[i]->z[a];
            fail_z += zb;
            if (!zb && !same_structure(out[i], truth[i], 1, 0.01, 1)) fail_x++;
            if (!same_structure(out[i], truth[i], 1, 1, 0.01)) fail_l++;
        }
        printf("# none %d natoms %d Z %d coords %d lattice %d\n", none, fail_n, fail_z, fail_x, fail_l);
    }
    free_all(out, n);
    return (double)same / n;
}

static void test_noise(ct_structure **p, size_t n, const ct_tensor *t)
{
    double scale[NQ];
    fit_scale(p, n, t, scale);
    printf("# provisional scale: Z %.3g, coordinate %.3g, length %.3g, angle %.3g, SG %.3g, "
           "layer 0 %.3g, graphs %.3g\n", scale[0], scale[1], scale[4], scale[7], scale[10],
           scale[Q_L0], scale[Q_DELTA]);
    size_t stride = 8, m = (n + stride - 1) / stride;
    ct_structure **sub = malloc(m * sizeof *sub);
    ct_tensor *ts = NULL;
    for (size_t i = 0; i < m; i++) sub[i] = p[i * stride];
    ts = encode_prepared(sub, m);
    float *noisy = malloc(m * 4 * PLANE * sizeof *noisy);
    static const double sigmas[] = {0.01, 0.05, 0.1};
    double prev = 1.1;
    int monotone = 1, beats = 1;
    double first = 0;
    for (size_t s = 0; s < CT_COUNTOF(sigmas); s++) {
        add_noise(ts, m, sigmas[s], scale, noisy, 42 + s);
        double r_auto, r_fixed;
        double f_auto = matched(noisy, sub, m, 0, 0, &r_auto);
        double f_fixed = matched(noisy, sub, m, 3, 6, &r_fixed);
        printf("# sigma %.2f: same structure auto K %.3f, fixed K=3/6 %.3f (%zu crystals; "
               "%.0f and %.0f recon/s)\n", sigmas[s], f_auto, f_fixed, m, r_auto, r_fixed);
        if (f_auto > prev) monotone = 0;
        if (!(f_auto > f_fixed)) beats = 0;
        if (s == 0) first = f_auto;
        prev = f_auto;
    }
    ok(first >= 0.95, "sigma 0.01: at least 95 %% reconstructed to the same structure (%.3f)",
       first);
    ok(monotone, "the fraction falls as the noise grows");
    ok(beats, "automatic K beats the paper's fixed K=3/6 at every sigma");
    free(noisy);
    free(sub);
    ct_tensor_free(ts);
}

/* ---- Small cases ------------------------------------------------------- */

static ct_structure *make(int n, const int *z, unsigned seed)
{
    ct_rng g;
    ct_rng_seed(&g, seed);
    double cell[6] = {4 + n * 0.3, 5.5, 6.1, 80, 95, 105};
    double (*f)[3] = malloc((size_t)n * sizeof *f);
    int *zz = malloc((size_t)n * sizeof *zz);
    for (int i = 0; i < n; i++) {
        zz[i] = z ? z[i] : 1 + (int)ct_rng_below(&g, 80);
        for (int k = 0; k < 3; k++) f[i][k] = ct_rng_uniform(&g);
    }
    ct_structure *s = ct_structure_new(cell, n, zz, (const double (*)[3])f, NULL);
    s->spacegroup = 2;
    free(f), free(zz);
    return s;
}

static ct_tensor *encode_one(const ct_structure *s, ct_structure **prepared)
{
    ct_crystens_opts o;
    ct_crystens_defaults(&o);
    ct_error err;
    *prepared = ct_crystens_prepare(s, &o, &err);
    return encode_prepared(prepared, 1);
}

/* Set all 8 copies of header row r of slot j to v. */
static void set_copies(float *t, int r, int j, float v)
{
    for (int l = 0; l < 4; l++) AT(t, l, r, HB + j) = AT(t, l, HB + j, r) = v;
}

static void test_paper_example(void)
{
    static const int z[8] = {12, 12, 12, 12, 8, 8, 8, 8};
    static const double mg[4] = {12.2, 12.6, 12.4, 12.5}, o8[4] = {7.7, 7.4, 8.4, 8.5};
    ct_structure *s = make(8, z, 7), *p;
    ct_tensor *t = encode_one(s, &p);
    for (int j = 0, a = 0, b = 0; j < 8; j++)
        set_copies(t->data, CT_CRYSTENS_Z, j, (float)(p->z[j] == 12 ? mg[a++] : o8[b++]));
    ct_recon_opts o;
    ct_recon_defaults(&o);
    ct_recon_diag d;
    ct_error err;
    ct_structure *r = ct_recon(t->data, S, &o, &d, &err);
    int right = r && r->natoms == 8;
    for (int j = 0; right && j < 8; j++) right = r->z[j] == p->z[j];
    ok(right && d.k_species == 2, "the paper's Z averages become (12,12,12,12, 8,8,8,8): K = %d",
       d.k_species);
    int naive = 0;   /* rounding each alone would not */
    for (int j = 0; j < 8; j++) naive += lround((double)AT(t->data, 0, CT_CRYSTENS_Z, HB + j)) != p->z[j];
    ok(naive == 4, "plain rounding gets 4 of them wrong");
    ct_structure_free(r);
    o.k_species = 3;
    o.k_coords = 6;
    r = ct_recon(t->data, S, &o, &d, &err);
    ok(r && d.k_species == 3 && d.k_coords == 6, "fixed mode uses K = 3 and 6");
    double v[24];
    int distinct = 0;
    for (int i = 0; r && i < 24; i++) {
        v[i] = r->frac[i / 3][i % 3];
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= fabs(wrap_half(v[j] - v[i])) < 1e-9;
        distinct += !seen;
    }
    ok(distinct <= 6, "fixed mode leaves at most 6 distinct coordinates (%d)", distinct);
    ct_structure_free(r);
    ct_tensor_free(t);
    ct_structure_free(p);
    ct_structure_free(s);
}

/* Reconstruct t; check failure and that the reason contains want. */
static void expect_fail(const float *t, const char *want, const char *name)
{
    ct_recon_opts o;
    ct_recon_defaults(&o);
    ct_error err = {""};
    ct_structure *r = ct_recon(t, S, &o, NULL, &err);
    ok(!r && strstr(err.msg, want), "%s: nil, \"%s\"", name, err.msg);
    ct_structure_free(r);
}

static void test_degenerate(void)
{
    float *t = calloc(4 * PLANE, sizeof *t);
    expect_fail(t, "no atoms", "all zero");
    for (size_t i = 0; i < 4 * PLANE; i++) t[i] = NAN;
    expect_fail(t, "NaN", "all NaN");
    for (size_t i = 0; i < 4 * PLANE; i++) t[i] = 1e30f;
    expect_fail(t, "outside 1-230", "all 1e30");
    for (size_t i = 0; i < 4 * PLANE; i++) t[i] = INFINITY;
    expect_fail(t, "infinite", "all infinite");
    free(t);

    for (int n = 1; n <= 52; n += 51) {
        ct_structure *s = make(n, NULL, 11 + n), *p;
        ct_tensor *e = encode_one(s, &p);
        ct_recon_opts o;
        ct_recon_defaults(&o);
        ct_recon_diag d;
        ct_error err;
        ct_structure *r = ct_recon(e->data, S, &o, &d, &err);
        ok(same_structure(r, p, 0, 1e-5, 1e-5) && d.natoms == n && d.spacegroup_detected > 0,
           "%d atom%s: reconstructed exactly, spglib group %d", n, n > 1 ? "s" : "",
           d.spacegroup_detected);
        ct_structure_free(r);
        float *x = e->data;
        float keep = AT(x, 0, CT_CRYSTENS_SG, HB);
        for (int j = 0; j < n; j++) set_copies(x, CT_CRYSTENS_SG, j, 240);
        expect_fail(x, "outside 1-230", "SG 240");
        for (int j = 0; j < n; j++) set_copies(x, CT_CRYSTENS_SG, j, keep);
        for (int j = 0; j < n; j++)
            for (int r2 = CT_CRYSTENS_ALPHA; r2 <= CT_CRYSTENS_GAMMA; r2++)
                set_copies(x, r2, j, 120);
        expect_fail(x, "volume", "angles 120, 120, 120");
        for (int j = 0; j < n; j++) set_copies(x, CT_CRYSTENS_ALPHA, j, 200);
        expect_fail(x, "between 0 and 180", "alpha 200");
        ct_tensor_free(e);
        ct_structure_free(p);
        ct_structure_free(s);
    }
}

/* A batch with failures: per-sample reasons, the others reconstructed. */
static void test_batch(void)
{
    ct_structure *s = make(5, NULL, 3), *p;
    ct_tensor *e = encode_one(s, &p);
    float *t = calloc(3 * 4 * PLANE, sizeof *t);
    memcpy(t, e->data, 4 * PLANE * sizeof *t);
    memcpy(t + 8 * PLANE, e->data, 4 * PLANE * sizeof *t);
    t[8 * PLANE + 5 * S + 20] = NAN;
    ct_recon_opts o;
    ct_recon_defaults(&o);
    ct_structure *out[3];
    ct_error errs[3];
    long got = ct_recon_batch(t, 3, S, &o, out, NULL, errs);
    ok(got == 1 && out[0] && !out[1] && !out[2] && strstr(errs[1].msg, "no atoms") &&
       strstr(errs[2].msg, "NaN at layer 1, row 6, column 21"),
       "batch: one crystal, two failures with their reasons (%s; %s)", errs[1].msg, errs[2].msg);
    for (int i = 0; i < 3; i++) ct_structure_free(out[i]);
    free(t);
    ct_tensor_free(e);
    ct_structure_free(p);
    ct_structure_free(s);
}

int main(void)
{
    test_paper_example();
    test_degenerate();
    test_batch();
    const char *top = getenv("top_srcdir");
    char path[4096];
    snprintf(path, sizeof path, "%s/../shared/data/mpts_52/test.csv", top ? top : ".");
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("ok %d - # SKIP mpts_52 test crystals: ../shared/data not found\n", ++tap_n);
        return tap_done();
    }
    fclose(f);
    double t0 = now();
    size_t n = 0;
    ct_structure **p = load_prepared(path, &n);
    ct_tensor *t = p ? encode_prepared(p, n) : NULL;
    printf("# loaded, prepared and encoded %zu crystals in %.1f s\n", n, now() - t0);
    if (ok(t && n > 8000, "mpts_52 test set encoded (%zu)", n)) {
        test_exact(p, n, t);
        test_noise(p, n, t);
    }
    ct_tensor_free(t);
    if (p) free_all(p, n);
    return tap_done();
}
