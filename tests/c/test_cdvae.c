/* test_cdvae.c - the C half of the CDVAE metrics: structural validity on
   hand-worked cells, Magpie statistics by hand, coverage on small sets
   against a brute-force twin, and the structure matcher on shifted,
   permuted, re-based and strained copies. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_coverage.h"
#include "ct_magpie.h"
#include "ct_match.h"
#include "ct_rng.h"
#include "ct_validity.h"
#include "tap.h"

static ct_structure *make(const double cell[6], int n, const int *z, const double (*f)[3])
{
    ct_error err;
    ct_structure *s = ct_structure_new(cell, n, z, f, &err);
    if (!s) printf("#   %s\n", err.msg);
    return s;
}

static int valid_of(const ct_structure *s, double *dmin)
{
    ct_error err;
    int v = -1;
    if (ct_validity_structural(s, CT_VALIDITY_CUTOFF, &v, dmin, &err) != CT_OK) return -1;
    return v;
}

static void test_validity(void)
{
    double cubic[6] = {4, 4, 4, 90, 90, 90}, d;
    int z2[2] = {11, 17};
    /* 0.4 Å apart along x: invalid; exactly 0.5 Å: valid (strict "<" rejects). */
    double f04[2][3] = {{0, 0, 0}, {0.1, 0, 0}}, f05[2][3] = {{0, 0, 0}, {0.125, 0, 0}};
    ct_structure *s = make(cubic, 2, z2, (const double (*)[3])f04);
    int v = valid_of(s, &d);
    ok(v == 0 && fabs(d - 0.4) < 1e-12, "atoms 0.4 Å apart are invalid (d=%g)", d);
    ct_structure_free(s);
    s = make(cubic, 2, z2, (const double (*)[3])f05);
    ok(valid_of(s, &d) == 1 && fabs(d - 0.5) < 1e-12, "atoms exactly 0.5 Å apart are valid");
    ct_structure_free(s);
    /* Across the cell face: 0.98 and 0.02 are 0.16 Å apart through the image. */
    double fwrap[2][3] = {{0.98, 0.5, 0.5}, {0.02, 0.5, 0.5}};
    s = make(cubic, 2, z2, (const double (*)[3])fwrap);
    v = valid_of(s, &d);
    ok(v == 0 && fabs(d - 0.16) < 1e-9, "the minimum image is found across "
       "the face (d=%g)", d);
    ct_structure_free(s);
    /* A skewed cell (gamma 20°): fractional (0.5,0.5,0) and (0,0,0) look far
       apart in the file's basis but a - b is short. */
    double skew[6] = {3, 3, 10, 90, 90, 20};
    double fsk[2][3] = {{0, 0, 0}, {0.55, 0.45, 0}};
    s = make(skew, 2, z2, (const double (*)[3])fsk);
    double want = INFINITY;   /* brute force over a wide image range */
    for (int a = -4; a <= 4; a++)
        for (int b = -4; b <= 4; b++)
            for (int c = -1; c <= 1; c++) {
                double df[3] = {0.55 + a, 0.45 + b, c}, w[3] = {0, 0, 0};
                for (int k = 0; k < 3; k++)
                    for (int x = 0; x < 3; x++) w[x] += df[k] * s->matrix[k][x];
                double r = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
                if (r < want) want = r;
            }
    valid_of(s, &d);
    ok(fabs(d - want) < 1e-9, "skewed cell: %g Å, brute force %g Å", d, want);
    ct_structure_free(s);
    /* One atom: no pairs; a tiny cell fails on volume alone. */
    int z1 = 26;
    double f1[1][3] = {{0, 0, 0}}, small[6] = {0.3, 3, 3, 90, 90, 90}, tiny[6] = {0.4, 0.4, 0.4,
                                                                                 90, 90, 90};
    s = make(small, 1, &z1, (const double (*)[3])f1);
    ok(valid_of(s, &d) == 1 && isinf(d), "one atom, 0.3 Å vector, 2.7 Å³: valid (own images "
       "are not checked)");
    ct_structure_free(s);
    s = make(tiny, 1, &z1, (const double (*)[3])f1);
    ok(valid_of(s, &d) == 0, "one atom in 0.064 Å³: invalid by volume");
    ct_structure_free(s);
}

static void test_magpie(const ct_magpie *mp)
{
    ct_error err;
    double fp[CT_MAGPIE_DIM];
    int nacl[2] = {17, 11};
    double one[2] = {1, 1};
    ok(ct_magpie_features(mp, 2, nacl, one, fp, &err) == CT_OK, "NaCl features");
    /* Number: min 11, max 17, range 6, mean 14, avg_dev 3, mode 11 (a tie: the smaller). */
    double want[6] = {11, 17, 6, 14, 3, 11};
    int same = 1;
    for (int k = 0; k < 6; k++) same &= fabs(fp[k] - want[k]) < 1e-12;
    ok(same, "NaCl Number stats are 11 17 6 14 3 11 (got %g %g %g %g %g %g)", fp[0], fp[1],
       fp[2], fp[3], fp[4], fp[5]);
    /* Fe2O3 with amounts 2, 3: mean Z (2*26 + 3*8)/5 = 15.2, avg_dev
       (2*10.8 + 3*7.2)/5 = 8.64, mode O's 8. */
    int fe2o3[2] = {26, 8};
    double amt[2] = {2, 3};
    ct_magpie_features(mp, 2, fe2o3, amt, fp, &err);
    ok(fabs(fp[3] - 15.2) < 1e-12 && fabs(fp[4] - 8.64) < 1e-12 && fp[5] == 8,
       "Fe2O3 weighted mean 15.2, avg_dev 8.64, mode 8 (got %g %g %g)", fp[3], fp[4], fp[5]);
    /* He has no Electronegativity in Magpie: every statistic of it is NaN, then 0 scaled. */
    int hefe[2] = {2, 26};
    ct_magpie_features(mp, 2, hefe, one, fp, &err);
    int p = 7 * CT_MAGPIE_NSTAT;   /* Electronegativity */
    ok(isnan(fp[p]) && isnan(fp[p + 3]) && isnan(fp[p + 5]) && !isnan(fp[0]),
       "a missing value makes that property's statistics NaN");
    ct_magpie_scale(mp, fp);
    ok(fp[p] == 0 && fp[p + 3] == 0, "scaling turns NaN into 0");
    int big = 119;
    ok(ct_magpie_features(mp, 1, &big, one, fp, &err) == CT_EINVAL, "Z=119 is refused: %s",
       err.msg);
}

/* Brute-force coverage for the twin check. */
static void naive_cov(const ct_coverage_set *g, const ct_coverage_set *r, size_t ntot, double ds,
                      double dc, double *cr, double *cp)
{
    size_t hr = 0, hp = 0;
    for (size_t t = 0; t < r->n; t++) {
        double ms = INFINITY, mc = INFINITY;
        for (size_t i = 0; i < g->n; i++) {
            if (!g->ok[i]) continue;
            double s = 0, c = 0;
            for (int k = 0; k < g->ds; k++) s += pow(g->s[i * g->ds + k] - r->s[t * g->ds + k], 2);
            for (int k = 0; k < g->dc; k++) c += pow(g->c[i * g->dc + k] - r->c[t * g->dc + k], 2);
            ms = fmin(ms, sqrt(s));
            mc = fmin(mc, sqrt(c));
        }
        hr += ms <= ds && mc <= dc;
    }
    for (size_t i = 0; i < g->n; i++) {
        if (!g->ok[i]) continue;
        double ms = INFINITY, mc = INFINITY;
        for (size_t t = 0; t < r->n; t++) {
            double s = 0, c = 0;
            for (int k = 0; k < g->ds; k++) s += pow(g->s[i * g->ds + k] - r->s[t * g->ds + k], 2);
            for (int k = 0; k < g->dc; k++) c += pow(g->c[i * g->dc + k] - r->c[t * g->dc + k], 2);
            ms = fmin(ms, sqrt(s));
            mc = fmin(mc, sqrt(c));
        }
        hp += ms <= ds && mc <= dc;
    }
    *cr = (double)hr / (double)r->n;
    *cp = (double)hp / (double)ntot;
}

static void test_coverage(unsigned seed)
{
    /* By hand, 1-D fingerprints: refs s = {0, 1}, c = {0, 5}; gen (0.1, 4.9)
       covers ref 2 only by composition and ref 1 only by structure, so with
       independent minima both refs count as covered; gen 2 has none. */
    double gs[2] = {0.1, 0}, gc[2] = {4.9, 0}, rs[2] = {0, 1}, rc[2] = {0, 5};
    unsigned char gok[2] = {1, 0};
    ct_coverage_set g = {2, 1, 1, gs, gc, gok}, r = {2, 1, 1, rs, rc, NULL};
    ct_coverage_result out;
    ct_error err;
    ok(ct_coverage(&g, &r, 4, 0.2, 0.2, &out, &err) == CT_OK, "coverage runs");
    ok(out.cov_r == 0.0, "no ref has both neighbours close: COV-R 0 (got %g)", out.cov_r);
    int st = ct_coverage(&g, &r, 4, 1.0, 5.0, &out, &err);
    ok(st == CT_OK && out.cov_r == 1.0 &&
       out.cov_p == 0.25, "wide thresholds: COV-R 1, COV-P 1/4 over n_total 4 (got %g, %g)",
       out.cov_r, out.cov_p);
    ok(fabs(out.amsd_p - 0.1) < 1e-12 && fabs(out.amcd_p - 0.1) < 1e-12, "AMSD/AMCD precision");
    /* Random sets against the brute-force twin. */
    ct_rng rng;
    ct_rng_seed(&rng, seed);
    size_t ng = 37, nr = 53;
    int ds = 5, dc = 7;
    double *v = malloc((ng + nr) * (size_t)(ds + dc) * sizeof *v);
    unsigned char ok2[37];
    for (size_t i = 0; i < (ng + nr) * (size_t)(ds + dc); i++) v[i] = ct_rng_uniform(&rng);
    for (size_t i = 0; i < ng; i++) ok2[i] = ct_rng_below(&rng, 5) != 0;
    ct_coverage_set g2 = {ng, ds, dc, v, v + ng * ds, ok2};
    ct_coverage_set r2 = {nr, ds, dc, v + ng * (ds + dc), v + ng * (ds + dc) + nr * ds, NULL};
    double cr, cp;
    naive_cov(&g2, &r2, 40, 0.5, 0.6, &cr, &cp);
    st = ct_coverage(&g2, &r2, 40, 0.5, 0.6, &out, &err);
    ok(st == CT_OK && out.cov_r == cr &&
       out.cov_p == cp, "random sets: COV-R %g, COV-P %g as the naive loops (%g, %g)",
       out.cov_r, out.cov_p, cr, cp);
    ok(ct_coverage(&g2, &r2, 10, 0.5, 0.6, &out, &err) == CT_EINVAL,
       "n_total below the count is refused");
    free(v);
}

static int matches(const ct_structure *a, const ct_structure *b)
{
    ct_match_opts o = CT_MATCH_DEFAULTS;
    ct_error err;
    int same = -1;
    if (ct_match_structures(a, b, &o, &same, &err) != CT_OK) printf("#   %s\n", err.msg);
    return same;
}

static void test_match(void)
{
    /* A ternary in a monoclinic cell. */
    double cell[6] = {5.1, 6.3, 7.2, 90, 104, 90};
    int z[6] = {3, 3, 26, 8, 8, 8};
    double f[6][3] = {{0.1, 0.2, 0.3}, {0.6, 0.7, 0.8}, {0.35, 0.05, 0.55},
                      {0.8, 0.4, 0.1}, {0.2, 0.9, 0.65}, {0.5, 0.3, 0.95}};
    ct_structure *a = make(cell, 6, z, (const double (*)[3])f);
    /* Shifted origin and permuted atoms. */
    int zp[6];
    double fp[6][3];
    static const int perm[6] = {4, 2, 0, 5, 1, 3};
    for (int i = 0; i < 6; i++) {
        zp[i] = z[perm[i]];
        for (int k = 0; k < 3; k++) fp[i][k] = f[perm[i]][k] + (k == 0 ? 0.37 : k == 1 ? -0.21 : 0.6);
    }
    ct_structure *b = make(cell, 6, zp, (const double (*)[3])fp);
    ok(matches(a, b) == 1, "a shifted, permuted copy matches");
    /* The same lattice in another basis: a' = a, b' = b + a, c' = c + b
       (unimodular); coordinates f' = f · M⁻¹. */
    double m2[3][3], c2[6], f2[6][3];
    for (int x = 0; x < 3; x++) {
        m2[0][x] = a->matrix[0][x];
        m2[1][x] = a->matrix[1][x] + a->matrix[0][x];
        m2[2][x] = a->matrix[2][x] + a->matrix[1][x];
    }
    ct_cell_from_matrix(m2, c2);
    for (int i = 0; i < 6; i++) {   /* f = f'·M with M = [[1,0,0],[1,1,0],[0,1,1]] */
        double c = a->frac[i][2], bb = a->frac[i][1] - c, aa = a->frac[i][0] - bb;
        f2[i][0] = aa;
        f2[i][1] = bb;
        f2[i][2] = c;
    }
    ct_structure *c = make(c2, 6, z, (const double (*)[3])f2);
    /* The rebuilt cell sits in a rotated frame; distances prove it is the same crystal. */
    double dmin_a = ct_validity_min_distance(a, NULL), dmin_c = ct_validity_min_distance(c, NULL);
    ok(fabs(dmin_a - dmin_c) < 1e-9, "re-based copy keeps its distances (%g vs %g)", dmin_a, dmin_c);
    ok(matches(a, c) == 1, "the same crystal in a sheared basis matches");
    /* Uniform scaling is forgiven (scale on); a 40% stretch of a is not. */
    double big[6] = {5.1 * 1.05, 6.3 * 1.05, 7.2 * 1.05, 90, 104, 90};
    ct_structure *d = make(big, 6, z, (const double (*)[3])f);
    ok(matches(a, d) == 1, "a uniformly expanded copy matches (scale on)");
    double strained[6] = {5.1 * 1.4, 6.3, 7.2, 90, 104, 90};
    ct_structure *e = make(strained, 6, z, (const double (*)[3])f);
    ok(matches(a, e) == 0, "a copy strained 40%% along a does not match");
    /* One atom moved by 1 Å: beyond stol·(V/N)^(1/3) ≈ 0.3 · 3.9 Å. */
    f[2][0] += 1.5 / 5.1;
    ct_structure *g = make(cell, 6, z, (const double (*)[3])f);
    ok(matches(a, g) == 0, "a copy with one atom moved 1.5 Å does not match");
    f[2][0] -= 1.5 / 5.1;
    /* Other composition at the same N. */
    int z3[6] = {3, 3, 27, 8, 8, 8};
    ct_structure *h = make(cell, 6, z3, (const double (*)[3])f);
    ok(matches(a, h) == 0, "another element does not match");
    /* Groups and novelty. */
    ct_structure *list[5] = {a, b, e, c, h};
    size_t cls[5], nclass;
    ct_match_opts o = CT_MATCH_DEFAULTS;
    ct_error err;
    int st = ct_match_unique(list, 5, &o, cls, &nclass, &err);
    ok(st == CT_OK && nclass == 3 && cls[1] == 0 &&
       cls[3] == 0 && cls[2] == 2 && cls[4] == 4, "unique: 3 classes {a,b,c} {e} {h} (got %zu)",
       nclass);
    unsigned char novel[3];
    ct_structure *train[2] = {h, b};
    ok(ct_match_novel(list + 1, 3, train, 2, &o, novel, &err) == CT_OK && !novel[0] &&
       novel[1] && !novel[2], "novel: only the strained copy is new");
    ct_structure *all[] = {a, b, c, d, e, g, h};
    for (size_t i = 0; i < CT_COUNTOF(all); i++) ct_structure_free(all[i]);
}

int main(int argc, char **argv)
{
    unsigned seed = argc > 1 ? (unsigned)atoi(argv[1]) : 7u;
    printf("# seed %u (rerun with: test_cdvae SEED)\n", seed);
    test_validity();
    test_coverage(seed);
    test_match();
    const char *top = getenv("top_srcdir");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/share/magpie", top ? top : ".");
    ct_error err;
    ct_magpie *mp = ct_magpie_load(dir, &err);
    if (ok(mp != NULL, "load the Magpie tables from %s", dir)) test_magpie(mp);
    else printf("#   %s\n", err.msg);
    ct_magpie_free(mp);
    /* A missing table is named with the system's reason (ct_file_open_read). */
    char want[256];
    snprintf(want, sizeof want, "/nonexistent/magpie/%s.table: cannot open: %s",
             CT_MAGPIE_PROPERTIES[0], strerror(ENOENT));
    ok(ct_magpie_load("/nonexistent/magpie", &err) == NULL && err.status == CT_EIO &&
       strcmp(err.msg, want) == 0, "missing Magpie folder: %s", err.msg);
    return tap_done();
}
