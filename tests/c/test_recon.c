/*
 * test_recon.c - reconstruction of generated CrysTens (ct_recon): every
 * mpts_52 test crystal from its exact tensor, the same tensors with
 * Gaussian noise (automatic K against the paper's fixed K), the paper's Z
 * example, and degenerate tensors.
 *
 * Noise is added in the networks' scaled units: ct_scale fitted on the
 * test set, applied, noise added to every element, inverted.
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
#include "ct_scale.h"
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

enum { MISS_ATOMS = 1, MISS_SPECIES = 2, MISS_POSITIONS = 4, MISS_LATTICE = 8 };

/* How a differs from b (atoms in the same order): MISS_ATOMS if either is
   missing or the counts differ, else the bits of species, positions (more
   than ptol in a fractional coordinate after the best origin shift, if
   shift is set, else without one) and lattice (a parameter more than ltol
   off, relative). */
static int mismatch(const ct_structure *a, const ct_structure *b, int shift, double ptol,
                    double ltol)
{
    if (!a || !b || a->natoms != b->natoms) return MISS_ATOMS;
    int n = a->natoms, miss = 0;
    for (int k = 0; k < 6; k++)
        if (fabs(a->cell[k] - b->cell[k]) > ltol * fabs(b->cell[k])) miss |= MISS_LATTICE;
    for (int i = 0; i < n; i++)
        if (a->z[i] != b->z[i]) miss |= MISS_SPECIES;
    for (int k = 0; k < 3; k++) {
        /* the least-squares shift: the mean offset on the circle */
        double ref = wrap_half(a->frac[0][k] - b->frac[0][k]), sum = 0;
        for (int i = 0; i < n; i++) sum += wrap_half(a->frac[i][k] - b->frac[i][k] - ref);
        double off = shift ? ref + sum / n : 0;
        for (int i = 0; i < n; i++)
            if (fabs(wrap_half(a->frac[i][k] - b->frac[i][k] - off)) > ptol) miss |= MISS_POSITIONS;
    }
    return miss;
}

static int same_structure(const ct_structure *a, const ct_structure *b, int shift, double ptol,
                          double ltol)
{
    return mismatch(a, b, shift, ptol, ltol) == 0;
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

/* The tensors as a network would give them back: scaled with sc, N(0,
   sigma) added to every element in the scaled units, scaled back. */
static void add_noise(const ct_scale *sc, const float *x, size_t n, double sigma, float *out,
                      uint64_t seed)
{
    ct_rng g;
    ct_rng_seed(&g, seed);
    ct_scale_apply(sc, x, out, n);
    for (size_t i = 0; i < n * 4 * PLANE; i++) out[i] += (float)(sigma * ct_rng_normal(&g));
    ct_scale_invert(sc, out, out, n);
}

/* Fractions of n noisy tensors reconstructed to the same structure (all),
   and with the right atom count and species, positions or lattice. */
typedef struct {
    double all, species, positions, lattice, rate;
} outcome;

static outcome matched(const float *x, ct_structure **truth, size_t n, int ks, int kx)
{
    ct_recon_opts o;
    ct_recon_defaults(&o);
    o.symmetry = 0;
    o.k_species = ks;
    o.k_coords = kx;
    ct_structure **out = calloc(n, sizeof *out);
    double t0 = now();
    ct_recon_batch(x, n, S, &o, out, NULL, NULL);
    outcome r = {.rate = n / (now() - t0)};
    for (size_t i = 0; i < n; i++) {
        int miss = mismatch(out[i], truth[i], 1, 0.01, 0.01);
        r.all += miss == 0;
        r.species += !(miss & (MISS_ATOMS | MISS_SPECIES));
        r.positions += !(miss & (MISS_ATOMS | MISS_POSITIONS));
        r.lattice += !(miss & (MISS_ATOMS | MISS_LATTICE));
    }
    r.all /= n, r.species /= n, r.positions /= n, r.lattice /= n;
    free_all(out, n);
    return r;
}

static void test_noise(ct_structure **p, size_t n, const ct_tensor *t)
{
    ct_scale sc;
    ct_error err;
    if (!ok(ct_scale_fit(&sc, t->data, n, S, &err) == CT_OK, "scaler fitted on the set")) return;
    size_t stride = 8, m = (n + stride - 1) / stride;
    ct_structure **sub = malloc(m * sizeof *sub);
    for (size_t i = 0; i < m; i++) sub[i] = p[i * stride];
    ct_tensor *ts = encode_prepared(sub, m);
    float *noisy = malloc(m * 4 * PLANE * sizeof *noisy);
    static const double sigmas[] = {0.002, 0.005, 0.01, 0.05, 0.1};
    double prev = 1.1, at01 = 0;
    int monotone = 1, beats = 1, beats_positions = 1;
    printf("# noise in scaled units; fractions over %zu crystals, auto K / fixed K=3,6:\n"
           "#  sigma   same structure   species       positions     lattice     recon/s\n", m);
    for (size_t s = 0; s < CT_COUNTOF(sigmas); s++) {
        add_noise(&sc, ts->data, m, sigmas[s], noisy, 42 + s);
        outcome a = matched(noisy, sub, m, 0, 0), f = matched(noisy, sub, m, 3, 6);
        printf("#  %.3f   %.3f / %.3f    %.3f / %.3f   %.3f / %.3f   %.3f / %.3f   %.0f\n",
               sigmas[s], a.all, f.all, a.species, f.species, a.positions, f.positions,
               a.lattice, f.lattice, a.rate);
        if (a.all > prev) monotone = 0;
        if (a.all < f.all || (a.all == f.all && a.all > 0)) beats = 0;
        if (sigmas[s] <= 0.01 && !(a.positions > f.positions)) beats_positions = 0;
        if (sigmas[s] == 0.01) at01 = a.all;
        prev = a.all;
    }
    ok(at01 >= 0.85, "sigma 0.01: at least 85 %% reconstructed to the same structure (%.3f)",
       at01);
    ok(monotone, "the fraction falls as the noise grows");
    ok(beats, "automatic K beats the paper's fixed K=3/6 wherever either gets any right");
    /* beyond 0.01 the noise (over 0.03 in a coordinate copy) hides the
       positions from both modes alike */
    ok(beats_positions, "automatic K keeps more positions than fixed K=6 up to sigma 0.01");
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
    o.species = CT_RECON_SPECIES_KMEANS;   /* the copies agree: auto would read per atom */
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
    ct_error err = {0};
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
        o.min_distance = 0;   /* random positions: collisions are not what this checks */
        ct_recon_diag d;
        ct_error err;
        ct_structure *r = ct_recon(e->data, S, &o, &d, &err);
        ok(same_structure(r, p, 0, 1e-5, 1e-5) && d.natoms == n && d.spacegroup_detected > 0,
           "%d atom%s: reconstructed exactly, spglib group %d", n, n > 1 ? "s" : "",
           d.spacegroup_detected);
        ct_structure_free(r);
        o.symmetrize = 1;
        r = ct_recon(e->data, S, &o, &d, &err);
        ok(r && r->spacegroup == d.spacegroup_detected && r->spacegroup > 0,
           "%d atom%s, symmetrized: the refined cell carries spglib's group %d", n,
           n > 1 ? "s" : "", r ? r->spacegroup : -1);
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
    o.min_distance = 0;
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

/* Step 6b: a crystal with atoms 0.1 Å apart.  Same element: merged into
   one; different elements: the item fails naming both; with min_distance 0
   both stay.  And a snap that would stack two atoms is undone. */
static void test_collisions(void)
{
    double cell[6] = {5, 5, 5, 90, 90, 90};
    int z[3] = {8, 8, 26};
    double f[3][3] = {{0.10, 0.20, 0.30}, {0.12, 0.20, 0.30}, {0.6, 0.6, 0.6}};
    ct_structure *s = ct_structure_new(cell, 3, z, (const double (*)[3])f, NULL);
    s->spacegroup = 1;
    ct_tensor *t = encode_prepared(&s, 1);
    ct_recon_opts o;
    ct_recon_defaults(&o);
    o.k_coords = 0;
    ct_recon_diag d;
    ct_error err;
    ct_structure *r = ct_recon(t->data, S, &o, &d, &err);
    ok(r && r->natoms == 2 && d.merged == 1 && d.min_distance > 2,
       "two O atoms 0.1 Å apart are merged: %d atoms, %d merged, shortest %.3g Å",
       r ? r->natoms : -1, d.merged, d.min_distance);
    ct_structure_free(r);
    o.min_distance = 0;
    r = ct_recon(t->data, S, &o, &d, &err);
    ok(r && r->natoms == 3 && d.merged == 0, "min_distance 0 keeps both");
    ct_structure_free(r);
    ct_recon_defaults(&o);
    for (int l = 0; l < 4; l++) AT(t->data, l, CT_CRYSTENS_Z, HB + 1) = AT(t->data, l, HB + 1, CT_CRYSTENS_Z) = 9;
    r = ct_recon(t->data, S, &o, &d, &err);
    ok(!r && strstr(err.msg, "(O)") && strstr(err.msg, "(F)") && strstr(err.msg, "closer than 0.5"),
       "O and F 0.1 Å apart fail the item: %s", r ? "reconstructed" : err.msg);
    ct_structure_free(r);
    ct_tensor_free(t);
    ct_structure_free(s);

    /* Atoms 0.6 Å apart along x in a 5 Å cell: a fixed-K snap with K = 2
       puts them on one coordinate, so the snap is undone. */
    double g[2][3] = {{0.10, 0.5, 0.5}, {0.22, 0.5, 0.5}};
    int z2[2] = {8, 8};
    s = ct_structure_new(cell, 2, z2, (const double (*)[3])g, NULL);
    s->spacegroup = 1;
    t = encode_prepared(&s, 1);
    o.k_coords = 2;
    r = ct_recon(t->data, S, &o, &d, &err);
    ok(r && r->natoms == 2 && d.snap_reverted && d.min_distance > 0.55,
       "a snap that stacks two atoms is undone: %d atoms, shortest %.3g Å",
       r ? r->natoms : -1, d.min_distance);
    ct_structure_free(r);
    ct_tensor_free(t);
    ct_structure_free(s);
}

int main(void)
{
    test_paper_example();
    test_collisions();
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
