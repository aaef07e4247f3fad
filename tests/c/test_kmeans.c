/*
 * test_kmeans.c - K-means: exact 1-D solver against brute force, periodic
 * clustering, seeded Lloyd runs, and the automatic choice of K on the
 * paper's example and on synthetic noisy data (rates printed).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_kmeans.h"
#include "tap.h"

/* The test's own generator (xorshift64*), independent of the module's. */
static uint64_t rs;
static double unif(void)
{
    rs ^= rs >> 12, rs ^= rs << 25, rs ^= rs >> 27;
    return (double)((rs * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
}
static double gauss(void)
{
    double u = unif(), v = unif();
    return sqrt(-2 * log(1 - u)) * cos(6.283185307179586 * v);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Inertia of the contiguous run y[j..i-1] about its own mean. */
static double sse(const double *y, int j, int i)
{
    double m = 0, s = 0;
    for (int t = j; t < i; t++) m += y[t];
    m /= i - j;
    for (int t = j; t < i; t++) s += (y[t] - m) * (y[t] - m);
    return s;
}

/* Least inertia of sorted y[0..n-1] in k contiguous runs, by enumeration. */
static double brute(const double *y, int n, int k, int start)
{
    if (k == 1) return sse(y, start, n);
    double best = INFINITY;
    for (int cut = start + 1; cut <= n - (k - 1); cut++) {
        double v = sse(y, start, cut) + brute(y, n, k - 1, cut);
        if (v < best) best = v;
    }
    return best;
}

static int cluster(const double *x, int n, int d, ct_kmeans_params *p, ct_kmeans_result *r)
{
    ct_error err;
    int rc = ct_kmeans(x, n, d, p, r, &err);
    if (rc != CT_OK) printf("# ct_kmeans: %s\n", err.msg);
    return rc;
}

static void test_paper_example(void)
{
    double z[] = {12.2, 12.6, 12.4, 12.5, 7.7, 7.4, 8.4, 8.5};
    int want[] = {12, 12, 12, 12, 8, 8, 8, 8};
    ct_kmeans_params p;
    ct_kmeans_params_init(&p);
    p.integer = 1;
    ct_kmeans_result r;
    if (cluster(z, 8, 1, &p, &r) != CT_OK) { ok(0, "paper example clusters"); return; }
    ok(r.k == 2, "paper example: automatic K with integer = 2 (got %d)", r.k);
    int same = 1;
    for (int i = 0; i < 8; i++) same &= (int)nearbyint(r.centroids[r.labels[i]]) == want[i];
    ok(same, "paper example snaps to (12,12,12,12,8,8,8,8)");
    ct_kmeans_result_free(&r);

    /* Without integer the three-group split {7.4,7.7} {8.4,8.5} {12.x} is
       statistically sound: its score, computed here by hand, passes sep, and
       with a noise scale of 0.1 (but no integrality) it is the choice. */
    p.integer = 0;
    p.noise = 0.1;
    if (cluster(z, 8, 1, &p, &r) != CT_OK) { ok(0, "paper example clusters"); return; }
    double w3 = sse((double[]){7.4, 7.7}, 0, 2) + sse((double[]){8.4, 8.5}, 0, 2) +
                sse((double[]){12.2, 12.4, 12.5, 12.6}, 0, 4);
    near(r.scores[3], (8.45 - 7.55) / sqrt(w3 / 5), 1e-9, "score(3) = min gap / pooled std");
    ok(r.k == 3, "noise 0.1 without integer keeps 3 groups (got %d)", r.k);
    printf("# paper example scores: K=2 %.2f, K=3 %.2f, K=4 %.2f (sep %g)\n",
           r.scores[2], r.scores[3], r.scores[4], r.sep);
    ct_kmeans_result_free(&r);
    p.noise = -1;   /* the default floor: no noise scale, so every value stands alone */
    if (cluster(z, 8, 1, &p, &r) != CT_OK) { ok(0, "paper example clusters"); return; }
    printf("# paper example with neither integer nor noise: K = %d\n", r.k);
    ct_kmeans_result_free(&r);
}

static void test_brute_force(void)
{
    int bad = 0, lloyd_worse = 0, lloyd_equal = 0, cases = 0;
    for (int trial = 0; trial < 200; trial++) {
        int n = 1 + trial % 9;
        double x[9], y[9];
        for (int i = 0; i < n; i++) y[i] = x[i] = trial % 3 ? floor(unif() * 5) : unif() * 10;
        qsort(y, (size_t)n, sizeof *y, cmp_dbl);
        for (int k = 1; k <= n; k++) {
            ct_kmeans_params p;
            ct_kmeans_params_init(&p);
            p.k = k;
            ct_kmeans_result r;
            if (cluster(x, n, 1, &p, &r) != CT_OK) { bad++; continue; }
            double want = brute(y, n, k, 0);
            if (fabs(r.inertia - want) > 1e-9 * (1 + want) || r.k != k) {
                if (!bad) printf("# trial %d n %d k %d: got %.12g, brute force %.12g\n",
                                 trial, n, k, r.inertia, want);
                bad++;
            }
            ct_kmeans_result_free(&r);
            p.exact = 0;
            p.seed = (uint64_t)trial;
            if (cluster(x, n, 1, &p, &r) != CT_OK) { bad++; continue; }
            if (r.inertia < want - 1e-9 * (1 + want)) bad++;   /* beating the optimum is a bug */
            if (r.inertia > want + 1e-9 * (1 + want)) lloyd_worse++;
            else lloyd_equal++;
            ct_kmeans_result_free(&r);
            cases++;
        }
    }
    ok(bad == 0, "exact 1-D inertia equals brute force over %d (n, k) cases (%d wrong)", cases, bad);
    printf("# Lloyd (10 restarts) reached the optimum in %d of %d cases\n", lloyd_equal, cases);
}

/* Periodic: data on [0.85, 1) u [0, 0.2), so every arc is shorter than half
   the circle and arc inertia is circular inertia; brute force over cuts. */
static void test_periodic_brute_force(void)
{
    int bad = 0, cases = 0;
    for (int trial = 0; trial < 120; trial++) {
        int n = 2 + trial % 7;
        double x[8], y[8], u[16];
        for (int i = 0; i < n; i++) {
            double v = unif() * 0.35 - 0.15;
            x[i] = v < 0 ? v + 1 : v;
        }
        memcpy(y, x, sizeof x);
        qsort(y, (size_t)n, sizeof *y, cmp_dbl);
        for (int k = 1; k <= n; k++) {
            double want = INFINITY;
            for (int cut = 0; cut < n; cut++) {
                for (int t = 0; t < n; t++) u[t] = y[(cut + t) % n] + (cut + t >= n);
                double v = brute(u, n, k, 0);
                if (v < want) want = v;
            }
            ct_kmeans_params p;
            ct_kmeans_params_init(&p);
            p.k = k;
            p.periodic = 1;
            ct_kmeans_result r;
            if (cluster(x, n, 1, &p, &r) != CT_OK) { bad++; continue; }
            if (fabs(r.inertia - want) > 1e-9) {
                if (!bad) printf("# trial %d n %d k %d: got %.12g, brute force %.12g\n",
                                 trial, n, k, r.inertia, want);
                bad++;
            }
            for (int j = 0; j < r.k; j++) bad += !(r.centroids[j] >= 0 && r.centroids[j] < 1);
            ct_kmeans_result_free(&r);
            cases++;
        }
    }
    ok(bad == 0, "periodic exact inertia equals brute force over %d cases (%d wrong)", cases, bad);
}

static void test_periodic_wrap(void)
{
    double x[] = {0.99, 0.01, 0.5, 0.51, 0.995};
    ct_kmeans_params p;
    ct_kmeans_params_init(&p);
    p.k = 2;
    p.periodic = 1;
    ct_kmeans_result r;
    if (cluster(x, 5, 1, &p, &r) != CT_OK) { ok(0, "periodic clusters"); return; }
    ok(r.labels[0] == r.labels[1] && r.labels[1] == r.labels[4] && r.labels[2] == r.labels[3] &&
       r.labels[0] != r.labels[2], "periodic: 0.99, 0.995 and 0.01 form one cluster");
    double c = r.centroids[r.labels[0]];
    near(fmin(c, 1 - c), 0.005 / 3, 1e-12, "its centroid is the mean on the circle, 1 - 0.005/3");
    near(r.inertia, 0.01 * 0.01 + 0.005 * 0.005 + 0.01 * 0.01 - 3 * pow((-0.01 - 0.005 + 0.01) / 3, 2)
         + 2 * 0.005 * 0.005, 1e-12, "periodic inertia uses circular distances");
    ct_kmeans_result_free(&r);
    p.periodic = 0;
    if (cluster(x, 5, 1, &p, &r) != CT_OK) { ok(0, "linear clusters"); return; }
    ok(r.labels[0] != r.labels[1], "linear: 0.99 and 0.01 are far apart");
    ct_kmeans_result_free(&r);
}

/* Three 2-D blobs: seeded Lloyd is reproducible and finds them. */
static void test_lloyd_seeded(void)
{
    double x[60 * 2];
    int truth[60];
    const double cx[3] = {0, 5, 0}, cy[3] = {0, 0, 5};
    for (int i = 0; i < 60; i++) {
        truth[i] = i % 3;
        x[2 * i] = cx[i % 3] + 0.3 * gauss();
        x[2 * i + 1] = cy[i % 3] + 0.3 * gauss();
    }
    ct_kmeans_params p;
    ct_kmeans_params_init(&p);
    p.k = 3;
    p.seed = 12345;
    p.restarts = 1;
    ct_kmeans_result a, b;
    if (cluster(x, 60, 2, &p, &a) != CT_OK || cluster(x, 60, 2, &p, &b) != CT_OK)
        { ok(0, "Lloyd runs"); return; }
    ok(!memcmp(a.labels, b.labels, 60 * sizeof(int)) &&
       !memcmp(a.centroids, b.centroids, 6 * sizeof(double)), "same seed, same clustering");
    ct_kmeans_result_free(&b);
    p.restarts = 10;
    if (cluster(x, 60, 2, &p, &b) != CT_OK) { ok(0, "Lloyd runs"); return; }
    int agree = 1;   /* same partition as the truth, up to renaming */
    for (int i = 0; i < 60; i++)
        for (int j = 0; j < i; j++)
            agree &= (b.labels[i] == b.labels[j]) == (truth[i] == truth[j]);
    ok(agree, "10 restarts recover three blobs 5 apart with noise 0.3");
    ok(b.inertia <= a.inertia + 1e-12, "restarts never worsen the inertia");
    ct_kmeans_result_free(&a);
    ct_kmeans_result_free(&b);

    ct_kmeans_params_init(&p);
    p.noise = 0.3;
    if (cluster(x, 60, 2, &p, &a) != CT_OK) { ok(0, "automatic 2-D runs"); return; }
    ok(a.k == 3, "automatic K on 2-D blobs with noise = 0.3: 3 (got %d)", a.k);
    ct_kmeans_result_free(&a);
}

/* Exact data: float32-rounded coordinates repeat; automatic K finds them. */
static void test_exact_recovery(void)
{
    int bad = 0;
    for (int trial = 0; trial < 200; trial++) {
        const double grid[] = {0, 0.125, 0.25, 1.0 / 3, 0.375, 0.5, 2.0 / 3, 0.75, 0.875};
        int k = 1 + trial % 9, n = 0;
        double x[128];
        int used[9] = {0};
        for (int j = 0; j < k; j++) {
            int g;
            do g = (int)(unif() * 9); while (used[g]);
            used[g] = 1;
            for (int m = 1 + (int)(unif() * 8); m > 0; m--) x[n++] = (float)grid[g];
        }
        ct_kmeans_params p;
        ct_kmeans_params_init(&p);
        p.periodic = trial % 2;
        ct_kmeans_result r;
        if (cluster(x, n, 1, &p, &r) != CT_OK || r.k != k) {
            if (!bad) printf("# trial %d: want K %d\n", trial, k);
            bad++;
        }
        ct_kmeans_result_free(&r);
    }
    ok(bad == 0, "exact coordinates: automatic K = number of distinct values (200 sets)");
}

/* One synthetic set: k distinct values, 1..6 noisy copies each. */
static int synth(int z_like, double sigma, double *x, int *k)
{
    double v[8];
    int n = 0;
    *k = 1 + (int)(unif() * (z_like ? 4 : 8));
    for (int j = 0; j < *k; j++) {
        int clash;
        do {
            v[j] = z_like ? 1 + floor(unif() * 40) : unif();
            clash = 0;
            for (int i = 0; i < j; i++) {
                double t = fabs(v[i] - v[j]);
                if (!z_like && t > 0.5) t = 1 - t;
                clash |= t < (z_like ? 1 : 0.05);
            }
        } while (clash);
        for (int m = 1 + (int)(unif() * 6); m > 0; m--) {
            double t = v[j] + sigma * gauss();
            x[n++] = z_like ? t : t - floor(t);
        }
    }
    return n;
}

static double auto_rate(int z_like, double sigma, int integer, double noise, int trials)
{
    int good = 0;
    for (int t = 0; t < trials; t++) {
        double x[64];
        int k, n = synth(z_like, sigma, x, &k);
        ct_kmeans_params p;
        ct_kmeans_params_init(&p);
        p.integer = integer;
        p.periodic = !z_like;
        p.noise = noise;
        ct_kmeans_result r;
        if (cluster(x, n, 1, &p, &r) == CT_OK) good += r.k == k;
        ct_kmeans_result_free(&r);
    }
    return (double)good / trials;
}

static void test_auto_rates(void)
{
    const int T = 400;
    double zs[] = {0, 0.05, 0.1, 0.2, 0.3};
    for (int i = 0; i < 5; i++) {
        double a = auto_rate(1, zs[i], 1, -1, T), b = auto_rate(1, zs[i], 0, zs[i], T);
        printf("# Z-like (1..40, spaced >= 1, 1-4 species), sigma %.2f: integer %.3f, "
               "noise=sigma %.3f\n", zs[i], a, b);
        if (zs[i] <= 0.1) ok(a >= 0.97, "Z-like, sigma %.2f, integer: rate %.3f >= 0.97", zs[i], a);
    }
    double cs[] = {0, 0.005, 0.01, 0.02};
    for (int i = 0; i < 4; i++) {
        double a = auto_rate(0, cs[i], 0, cs[i] > 0 ? cs[i] : -1, T);
        double b = auto_rate(0, cs[i], 0, -1, T);
        printf("# coordinates (periodic, spaced >= 0.05, 1-8 values), sigma %.3f: "
               "noise=sigma %.3f, default noise %.3f\n", cs[i], a, b);
        if (cs[i] <= 0.005)
            ok(a >= 0.95, "coordinates, sigma %.3f, noise=sigma: rate %.3f >= 0.95", cs[i], a);
    }
}

static void test_errors(void)
{
    double x[] = {1, 2, NAN};
    ct_kmeans_params p;
    ct_kmeans_params_init(&p);
    ct_kmeans_result r;
    ct_error err;
    ok(ct_kmeans(x, 3, 1, &p, &r, &err) == CT_EINVAL && strstr(err.msg, "value 3 is NaN"),
       "NaN is rejected, naming the value");
    ok(ct_kmeans(x, 0, 1, &p, &r, &err) == CT_EINVAL, "empty input is rejected");
    p.k = 3;
    ok(ct_kmeans(x, 2, 1, &p, &r, &err) == CT_EINVAL, "k > n is rejected");
    p.k = -1;
    ok(ct_kmeans(x, 2, 1, &p, &r, &err) == CT_EINVAL, "k < 0 is rejected");
    p.k = 1;
    p.periodic = 1;
    ok(ct_kmeans(x, 1, 2, &p, &r, &err) == CT_EINVAL, "periodic n-D is rejected");
    ct_kmeans_result_free(&r);   /* zeroed by the failed calls: a no-op */
}

int main(void)
{
    const char *s = getenv("CT_TEST_SEED");
    rs = s ? strtoull(s, NULL, 10) : 20240601;
    if (!rs) rs = 1;
    printf("# seed %llu (set CT_TEST_SEED to replay another)\n", (unsigned long long)rs);
    test_paper_example();
    test_brute_force();
    test_periodic_brute_force();
    test_periodic_wrap();
    test_lloyd_seeded();
    test_exact_recovery();
    test_auto_rates();
    test_errors();
    return tap_done();
}
