/* test_stats.c - K-S, Wasserstein-1 and histograms: hand-worked cases, and
   random samples against brute-force twins written from the definitions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_stats.h"
#include "tap.h"

/* ---- brute-force twins -------------------------------------------------- */

/* Fraction of x[0..n) that is <= t, by counting. */
static double ecdf(const double *x, size_t n, double t)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += x[i] <= t;
    return (double)c / (double)n;
}

/* sup |F_a - F_b| is reached at one of the sample values: try them all. */
static double ks_brute(const double *a, size_t na, const double *b, size_t nb)
{
    double d = 0.0;
    for (size_t i = 0; i < na + nb; i++) {
        double t = i < na ? a[i] : b[i - na];
        d = fmax(d, fabs(ecdf(a, na, t) - ecdf(b, nb, t)));
    }
    return d;
}

static int cmp(const void *p, const void *q)
{
    double x = *(const double *)p, y = *(const double *)q;
    return (x > y) - (x < y);
}

/* Integrate |F_a - F_b| directly: the CDFs are constant between consecutive
   values of the pooled sample, so the midpoint rule on each gap is exact. */
static double w_integral(const double *a, size_t na, const double *b, size_t nb)
{
    size_t n = na + nb;
    double *u = malloc(n * sizeof *u);
    memcpy(u, a, na * sizeof *u);
    memcpy(u + na, b, nb * sizeof *u);
    qsort(u, n, sizeof *u, cmp);
    double w = 0.0;
    for (size_t k = 0; k + 1 < n; k++) {
        if (u[k + 1] == u[k]) continue;
        double mid = 0.5 * (u[k] + u[k + 1]);
        w += fabs(ecdf(a, na, mid) - ecdf(b, nb, mid)) * (u[k + 1] - u[k]);
    }
    free(u);
    return w;
}

/* The same distance from the other side: the integral over t in (0, 1) of
   |Q_a(t) - Q_b(t)|, with Q the quantile functions (step functions with
   breaks at i/na and j/nb). */
static double w_quantile(const double *a, size_t na, const double *b, size_t nb)
{
    double *sa = malloc(na * sizeof *sa), *sb = malloc(nb * sizeof *sb);
    memcpy(sa, a, na * sizeof *sa);
    memcpy(sb, b, nb * sizeof *sb);
    qsort(sa, na, sizeof *sa, cmp);
    qsort(sb, nb, sizeof *sb, cmp);
    double w = 0.0, t = 0.0;
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        double ta = (double)(i + 1) / (double)na, tb = (double)(j + 1) / (double)nb;
        double next = fmin(ta, tb);
        w += fabs(sa[i] - sb[j]) * (next - t);
        t = next;
        if (ta <= next) i++;
        if (tb <= next) j++;
    }
    free(sa);
    free(sb);
    return w;
}

/* ---- hand-worked cases -------------------------------------------------- */

static void test_ks_by_hand(void)
{
    ct_error err;
    ct_ks_result r;
    /* a = {1,2,3}, b = {4,5,6}: F_a reaches 1 at x = 3 where F_b is 0, so
       D = 1.  m = 3*3/6 = 1.5, sqrt(m) = 1.224745, lambda = (1.224745 + 0.12
       + 0.11/1.224745) * 1 = 1.434559; Q = 2(e^{-2 lambda^2} - e^{-8 lambda^2}
       + ...) = 2(0.0163109 - 1.2e-7) = 0.0326217. */
    double a[] = {3, 1, 2}, b[] = {6, 4, 5};
    ok(ct_stats_ks(a, 3, b, 3, &r, &err) == CT_OK, "ks of disjoint samples");
    near(r.statistic, 1.0, 1e-15, "disjoint samples: D = 1");
    near(r.pvalue, 0.0326217, 1e-6, "disjoint samples: asymptotic p = 0.0326217");

    /* Ties: a = {1,2,2,3}, b = {2,2,4}.  At x=1: 1/4 - 0 = 1/4; x=2: 3/4 -
       2/3 = 1/12; x=3: 1 - 2/3 = 1/3; x=4: 0.  D = 1/3.  Stepping through
       the 2s of a before those of b would wrongly see 3/4 - 0. */
    double c[] = {2, 1, 3, 2}, d[] = {4, 2, 2};
    ct_stats_ks(c, 4, d, 3, &r, &err);
    near(r.statistic, 1.0 / 3.0, 1e-15, "ties move both CDFs at once: D = 1/3");

    ct_stats_ks(c, 4, c, 4, &r, &err);
    ok(r.statistic == 0.0 && r.pvalue == 1.0, "a sample against itself: D = 0, p = 1");
}

static void test_kolmogorov_q(void)
{
    /* The tabulated critical values of the Kolmogorov distribution:
       P(K > 1.2238) = 0.10, P(K > 1.3581) = 0.05, P(K > 1.6276) = 0.01. */
    near(ct_stats_kolmogorov_q(1.2238), 0.10, 1e-4, "Q(1.2238) = 0.10");
    near(ct_stats_kolmogorov_q(1.3581), 0.05, 1e-4, "Q(1.3581) = 0.05");
    near(ct_stats_kolmogorov_q(1.6276), 0.01, 1e-4, "Q(1.6276) = 0.01");
    /* Two series meet at x = 1.18: they must agree there. */
    near(ct_stats_kolmogorov_q(1.18 - 1e-12), ct_stats_kolmogorov_q(1.18), 1e-10,
         "both series agree at the switch point");
    ok(ct_stats_kolmogorov_q(0.0) == 1.0 && ct_stats_kolmogorov_q(0.2) > 0.999999,
       "Q is 1 at and near 0");
    ok(ct_stats_kolmogorov_q(5.0) < 1e-20, "Q(5) is negligible");
}

static void test_wasserstein_by_hand(void)
{
    ct_error err;
    double w;
    /* u = {0,1,3}, v = {5,6,8}: |F_u - F_v| is 1/3 on [0,1), 2/3 on [1,3),
       1 on [3,5), 2/3 on [5,6), 1/3 on [6,8):
       W = 1/3 + 4/3 + 2 + 2/3 + 2/3 = 5. */
    double u[] = {0, 1, 3}, v[] = {5, 6, 8};
    ok(ct_stats_wasserstein(u, 3, v, 3, &w, &err) == CT_OK, "wasserstein runs");
    near(w, 5.0, 1e-12, "W({0,1,3}, {5,6,8}) = 5");
    /* Unequal sizes: u = {3.4,3.9,7.5,7.8}, v = {4.5,1.4}.  Gaps of the pooled
       sample and |F_u - F_v| on them: [1.4,3.4) 1/2 x 2.0 = 1.0; [3.4,3.9)
       1/4 x 0.5 = 0.125; [3.9,4.5) 0; [4.5,7.5) 1/2 x 3.0 = 1.5; [7.5,7.8)
       1/4 x 0.3 = 0.075.  W = 2.7. */
    double p[] = {3.4, 3.9, 7.5, 7.8}, q[] = {4.5, 1.4};
    ct_stats_wasserstein(p, 4, q, 2, &w, &err);
    near(w, 2.7, 1e-12, "W({3.4,3.9,7.5,7.8}, {4.5,1.4}) = 2.7");
    ct_stats_wasserstein(q, 2, p, 4, &w, &err);
    near(w, 2.7, 1e-12, "W is symmetric");
    ct_stats_wasserstein(u, 3, u, 3, &w, &err);
    ok(w == 0.0, "W of a sample with itself is 0");
    double one[] = {2.5};
    ct_stats_wasserstein(one, 1, u, 3, &w, &err);
    /* A point mass at 2.5 against {0,1,3}: the mean of |x - 2.5| = (2.5 + 1.5 + 0.5)/3. */
    near(w, 1.5, 1e-12, "W(point mass, sample) is the mean absolute deviation");
}

static void test_errors(void)
{
    ct_error err;
    ct_ks_result r;
    double w, a[] = {1, NAN, 3}, b[] = {1, 2}, inf[] = {1, INFINITY};
    ok(ct_stats_ks(a, 3, b, 2, &r, &err) == CT_EINVAL && strstr(err.msg, "index 1"),
       "NaN is refused, naming its index: %s", err.msg);
    ok(ct_stats_wasserstein(b, 2, inf, 2, &w, &err) == CT_EINVAL && strstr(err.msg, "sample 2"),
       "an infinity is refused, naming the sample: %s", err.msg);
    ok(ct_stats_ks(b, 0, b, 2, &r, &err) == CT_EINVAL && strstr(err.msg, "empty"),
       "an empty sample is refused: %s", err.msg);
    double edges[] = {0, 1, 1, 2};
    size_t counts[3];
    ok(ct_stats_histogram(b, 2, edges, 3, counts, &err) == CT_EINVAL,
       "histogram edges must increase: %s", err.msg);
    ok(ct_stats_histogram(a, 3, edges, 1, counts, &err) == CT_EINVAL &&
       strstr(err.msg, "NaN"), "histogram refuses NaN: %s", err.msg);
}

static void test_histogram_by_hand(void)
{
    ct_error err;
    /* [0, 2] in 4 bins: edges 0, .5, 1, 1.5, 2.  0 -> bin 0, .5 -> 1, 1 -> 2,
       1.5 -> 3, 2 -> 3 (the last bin is closed), -1 and 2.0001 are outside. */
    double x[] = {0, 0.5, 1, 1.5, 2, -1, 2.0001}, edges[5];
    size_t c[4];
    ct_stats_edges(0, 2, 4, edges);
    ok(edges[1] == 0.5 && edges[4] == 2.0, "edges of [0,2] in 4 bins");
    ct_stats_histogram(x, 7, edges, 4, c, &err);
    ok(c[0] == 1 && c[1] == 1 && c[2] == 1 && c[3] == 2,
       "counts {1,1,1,2}: got {%zu,%zu,%zu,%zu}", c[0], c[1], c[2], c[3]);
    double lo, hi, u[] = {3, 3}, v[] = {3};
    ct_stats_shared_range(u, 2, v, 1, &lo, &hi, &err);
    ok(lo == 2.5 && hi == 3.5, "a constant sample gets a range of width 1 around it");
    double p[] = {-2, 5}, q[] = {7, 1};
    ct_stats_shared_range(p, 2, q, 2, &lo, &hi, &err);
    ok(lo == -2 && hi == 7, "the shared range covers both samples");
}

/* ---- random samples against the twins ----------------------------------- */

static double uniform(void)
{
    return rand() / (RAND_MAX + 1.0);
}

/* Fill x with n values: continuous, or on a coarse grid to make ties. */
static void sample(double *x, size_t n, int ties, double shift)
{
    for (size_t i = 0; i < n; i++) {
        double v = 10.0 * uniform() + shift;
        x[i] = ties ? floor(v) / 2.0 : v;
    }
}

static void test_random(unsigned seed)
{
    srand(seed);
    int ks_ok = 1, w_ok = 1, wq_ok = 1, h_ok = 1, sort_ok = 1;
    double a[300], b[300], a0[300];
    for (int trial = 0; trial < 200; trial++) {
        size_t na = 1 + (size_t)(uniform() * 250), nb = 1 + (size_t)(uniform() * 250);
        int ties = trial % 2;
        sample(a, na, ties, 0.0);
        sample(b, nb, ties, 4.0 * uniform() - 2.0);
        memcpy(a0, a, sizeof a);
        ct_error err;
        ct_ks_result r;
        double w;
        ct_stats_ks(a, na, b, nb, &r, &err);
        ct_stats_wasserstein(a, na, b, nb, &w, &err);
        sort_ok &= memcmp(a, a0, sizeof a) == 0;
        double kb = ks_brute(a, na, b, nb), wi = w_integral(a, na, b, nb);
        double wq = w_quantile(a, na, b, nb);
        if (fabs(r.statistic - kb) > 1e-12) {
            ks_ok = 0;
            printf("#   trial %d: ks %.15g, brute force %.15g\n", trial, r.statistic, kb);
        }
        if (fabs(w - wi) > 1e-9 * (1 + wi)) {
            w_ok = 0;
            printf("#   trial %d: W %.15g, direct integral %.15g\n", trial, w, wi);
        }
        if (fabs(w - wq) > 1e-9 * (1 + wq)) {
            wq_ok = 0;
            printf("#   trial %d: W %.15g, quantile integral %.15g\n", trial, w, wq);
        }
        double lo, hi, edges[18];
        size_t c[17];
        int nbins = 1 + trial % 17;
        ct_stats_shared_range(a, na, b, nb, &lo, &hi, &err);
        ct_stats_edges(lo, hi, nbins, edges);
        ct_stats_histogram(a, na, edges, nbins, c, &err);
        size_t total = 0;
        for (int k = 0; k < nbins; k++) {
            size_t brute = 0;
            for (size_t i = 0; i < na; i++)
                brute += a[i] >= edges[k] && (a[i] < edges[k + 1] ||
                                              (k == nbins - 1 && a[i] == edges[k + 1]));
            h_ok &= brute == c[k];
            total += c[k];
        }
        h_ok &= total == na;   /* the shared range covers every value */
    }
    ok(ks_ok, "ks statistic equals the O(n^2) brute force on 200 random pairs (seed %u)", seed);
    ok(w_ok, "wasserstein equals direct integration of |F_a - F_b| (seed %u)", seed);
    ok(wq_ok, "wasserstein equals the quantile-function integral (seed %u)", seed);
    ok(h_ok, "histogram counts equal a linear scan over the edges (seed %u)", seed);
    ok(sort_ok, "the caller's arrays are left unsorted");
}

/* Shifting one sample by s moves W by exactly s when it clears the other. */
static void test_shift(void)
{
    ct_error err;
    double a[50], b[50], w;
    for (int i = 0; i < 50; i++) a[i] = sin(i * 1.7), b[i] = a[i] + 100.0;
    ct_stats_wasserstein(a, 50, b, 50, &w, &err);
    near(w, 100.0, 1e-9, "W(a, a + 100) = 100");
    ct_ks_result r;
    ct_stats_ks(a, 50, b, 50, &r, &err);
    ok(r.statistic == 1.0 && r.pvalue < 1e-15, "K-S of far-apart samples: D = 1, p ~ 0 (%g)",
       r.pvalue);
}

int main(int argc, char **argv)
{
    unsigned seed = argc > 1 ? (unsigned)atoi(argv[1]) : 20240607u;
    printf("# seed %u (rerun with: test_stats SEED)\n", seed);
    test_ks_by_hand();
    test_kolmogorov_q();
    test_wasserstein_by_hand();
    test_histogram_by_hand();
    test_errors();
    test_shift();
    test_random(seed);
    return tap_done();
}
