/*
 * ct_stats.c - two-sample K-S, Wasserstein-1 and shared-bin histograms.
 *
 * Both distances walk the merged sorted samples once: between consecutive
 * distinct values the two empirical CDFs are constant, so the supremum (K-S)
 * and the integral (Wasserstein) of |F_a - F_b| are exact sums over those
 * steps.  |F_a - F_b| is formed as |i nb - j na| / (na nb) from the counts,
 * so equal CDF values compare equal without rounding noise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_stats.h"

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Check that sample `which` (1 or 2) is non-empty and finite. */
static int check_sample(const double *x, size_t n, int which, ct_error *err)
{
    if (n == 0) return ct_fail(err, CT_EINVAL, "sample %d is empty", which);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return ct_fail(err, CT_EINVAL, "sample %d holds %g at index %zu", which, x[i], i);
    return CT_OK;
}

/* Return a sorted private copy of x (NULL and err when out of memory). */
static double *sorted_copy(const double *x, size_t n, ct_error *err)
{
    double *s = malloc(n * sizeof *s);
    if (!s) {
        ct_fail(err, CT_ENOMEM, "out of memory sorting %zu values", n);
        return NULL;
    }
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    return s;
}

/* The walk over the merged sorted samples: after step_to(x), i and j count
   the values <= x, and cdf_gap() is |F_a(x) - F_b(x)|. */
typedef struct {
    double *a, *b;      /* sorted copies, owned by the walk */
    size_t na, nb, i, j;
} merge_walk;

/* Check both samples and start a walk over sorted copies of them (freed by
   walk_close). */
static int walk_open(merge_walk *w, const double *a, size_t na, const double *b, size_t nb,
                     ct_error *err)
{
    int st = check_sample(a, na, 1, err);
    if (st == CT_OK) st = check_sample(b, nb, 2, err);
    if (st != CT_OK) return st;
    *w = (merge_walk){sorted_copy(a, na, err), NULL, na, nb, 0, 0};
    w->b = w->a ? sorted_copy(b, nb, err) : NULL;
    if (!w->b) {
        free(w->a);
        return CT_ENOMEM;
    }
    return CT_OK;
}

static void walk_close(merge_walk *w)
{
    free(w->a);
    free(w->b);
}

static void step_to(merge_walk *w, double x)
{
    while (w->i < w->na && w->a[w->i] <= x) w->i++;
    while (w->j < w->nb && w->b[w->j] <= x) w->j++;
}

static double cdf_gap(const merge_walk *w)
{
    double u = (double)w->i * (double)w->nb, v = (double)w->j * (double)w->na;
    return fabs(u - v) / ((double)w->na * (double)w->nb);
}

/* Return the next value above the current position, or 0 with *done set. */
static double next_value(const merge_walk *w, int *done)
{
    int ha = w->i < w->na, hb = w->j < w->nb;
    *done = !ha && !hb;
    if (ha && hb) return fmin(w->a[w->i], w->b[w->j]);
    return ha ? w->a[w->i] : hb ? w->b[w->j] : 0.0;
}

double ct_stats_kolmogorov_q(double x)
{
    if (x <= 0.0) return 1.0;
    double sum = 0.0;
    if (x < 1.18) {
        /* The alternating series converges slowly for small x; use the
           theta-function form 1 - sqrt(2 pi)/x sum exp(-(2k-1)^2 pi^2 / 8x^2). */
        double f = -M_PI * M_PI / (8.0 * x * x);
        for (int k = 1; k <= 6; k++) sum += exp(f * (2 * k - 1) * (2 * k - 1));
        sum = 1.0 - sqrt(2.0 * M_PI) / x * sum;
    } else {
        for (int k = 1; k <= 100; k++) {
            double term = exp(-2.0 * k * k * x * x);
            sum += (k % 2 ? 2.0 : -2.0) * term;
            if (term < 1e-17) break;
        }
    }
    return fmin(1.0, fmax(0.0, sum));
}

/* Walk the merged samples once: *sup is the supremum and *area the integral
   of |F_a - F_b|, which is constant between consecutive distinct values. */
static int cdf_gaps(const double *a, size_t na, const double *b, size_t nb, double *sup,
                    double *area, ct_error *err)
{
    merge_walk w;
    int st = walk_open(&w, a, na, b, nb, err);
    if (st != CT_OK) return st;
    *sup = *area = 0.0;
    int done;
    double x = next_value(&w, &done);
    while (!done) {
        step_to(&w, x);
        double gap = cdf_gap(&w), next = next_value(&w, &done);
        *sup = fmax(*sup, gap);
        if (!done) *area += gap * (next - x);
        x = next;
    }
    walk_close(&w);
    return CT_OK;
}

int ct_stats_ks(const double *a, size_t na, const double *b, size_t nb,
                ct_ks_result *out, ct_error *err)
{
    double d, area;
    int st = cdf_gaps(a, na, b, nb, &d, &area, err);
    if (st != CT_OK) return st;
    double en = sqrt((double)na * (double)nb / ((double)na + (double)nb));
    out->statistic = d;
    out->pvalue = ct_stats_kolmogorov_q((en + 0.12 + 0.11 / en) * d);
    return CT_OK;
}

int ct_stats_wasserstein(const double *a, size_t na, const double *b, size_t nb,
                         double *out, ct_error *err)
{
    double sup;
    return cdf_gaps(a, na, b, nb, &sup, out, err);
}

int ct_stats_shared_range(const double *a, size_t na, const double *b, size_t nb,
                          double *lo, double *hi, ct_error *err)
{
    int st = check_sample(a, na, 1, err);
    if (st == CT_OK) st = check_sample(b, nb, 2, err);
    if (st != CT_OK) return st;
    double mn = a[0], mx = a[0];
    for (size_t i = 0; i < na; i++) mn = fmin(mn, a[i]), mx = fmax(mx, a[i]);
    for (size_t i = 0; i < nb; i++) mn = fmin(mn, b[i]), mx = fmax(mx, b[i]);
    if (mn == mx) mn -= 0.5, mx += 0.5;
    *lo = mn;
    *hi = mx;
    return CT_OK;
}

void ct_stats_edges(double lo, double hi, int nbins, double *edges)
{
    for (int k = 0; k < nbins; k++) edges[k] = lo + (hi - lo) * k / nbins;
    edges[nbins] = hi;
}

/* Return the bin of v among edges[0..nbins], or -1 if v lies outside. */
static int find_bin(double v, const double *edges, int nbins)
{
    if (v < edges[0] || v > edges[nbins]) return -1;
    if (v == edges[nbins]) return nbins - 1;
    int lo = 0, hi = nbins;   /* invariant: edges[lo] <= v < edges[hi] */
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (edges[mid] <= v) lo = mid;
        else hi = mid;
    }
    return lo;
}

int ct_stats_histogram(const double *x, size_t n, const double *edges, int nbins,
                       size_t *counts, ct_error *err)
{
    if (nbins < 1) return ct_fail(err, CT_EINVAL, "need at least one bin, got %d", nbins);
    for (int k = 0; k < nbins; k++)
        if (!(edges[k] < edges[k + 1]))
            return ct_fail(err, CT_EINVAL, "bin edges must increase (edge %d is %g, edge %d is %g)",
                           k, edges[k], k + 1, edges[k + 1]);
    memset(counts, 0, (size_t)nbins * sizeof *counts);
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i])) return ct_fail(err, CT_EINVAL, "sample holds NaN at index %zu", i);
        int k = find_bin(x[i], edges, nbins);
        if (k >= 0) counts[k]++;
    }
    return CT_OK;
}
