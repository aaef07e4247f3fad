/*
 * ct_stats.h - comparing two samples of a 1-D quantity: the two-sample
 * Kolmogorov-Smirnov test, the Wasserstein-1 distance and histograms with
 * shared bins.  The evaluation uses them to set generated crystals against
 * reference ones (lattice lengths, densities, space-group numbers, ...).
 *
 *     ct_error err;
 *     ct_ks_result ks;
 *     double w;
 *     if (ct_stats_ks(gen, ngen, ref, nref, &ks, &err) != CT_OK) ...
 *     printf("D = %.4f, p = %.3g\n", ks.statistic, ks.pvalue);
 *     ct_stats_wasserstein(gen, ngen, ref, nref, &w, &err);
 *
 *     double lo, hi, edges[21];
 *     size_t cg[20], cr[20];
 *     ct_stats_shared_range(gen, ngen, ref, nref, &lo, &hi, &err);
 *     ct_stats_edges(lo, hi, 20, edges);
 *     ct_stats_histogram(gen, ngen, edges, 20, cg, &err);
 *     ct_stats_histogram(ref, nref, edges, 20, cr, &err);
 *
 * Samples are plain double arrays that the caller owns; no function keeps
 * them or writes to them (sorting works on private copies, so each call is
 * O(n log n) time and O(n) memory).  The K-S, Wasserstein and range
 * functions refuse empty samples and non-finite values with CT_EINVAL (a
 * NaN has no place in a CDF, and an infinity makes the distance infinite);
 * the histogram refuses NaN and leaves out values beyond the edges.
 */
#ifndef CT_STATS_H
#define CT_STATS_H

#include <stddef.h>

#include "ct_common.h"

/* The two-sample K-S result: D = sup_x |F_a(x) - F_b(x)| over the
   right-continuous empirical CDFs, and its asymptotic two-sided p-value. */
typedef struct {
    double statistic;
    double pvalue;
} ct_ks_result;

/* Compute the two-sample Kolmogorov-Smirnov statistic of a and b (as
   scipy.stats.ks_2samp does, ties included) and its asymptotic p-value
   Q_KS((sqrt(m) + 0.12 + 0.11/sqrt(m)) D) with m = na nb / (na + nb),
   Stephens' approximation (Numerical Recipes' probks; scipy before 1.5). */
int ct_stats_ks(const double *a, size_t na, const double *b, size_t nb,
                ct_ks_result *out, ct_error *err);

/* Return the Kolmogorov survival function Q_KS(x) = P(K > x) =
   2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 x^2); 1 for x <= 0. */
double ct_stats_kolmogorov_q(double x);

/* Compute the Wasserstein-1 distance between the empirical distributions
   of a and b with equal weights, the integral of |F_a - F_b| over x (as
   scipy.stats.wasserstein_distance does). */
int ct_stats_wasserstein(const double *a, size_t na, const double *b, size_t nb,
                         double *out, ct_error *err);

/* Set [*lo, *hi] to the smallest range holding every value of a and b; if
   all values are equal, widen it to [v - 0.5, v + 0.5] so bins have width. */
int ct_stats_shared_range(const double *a, size_t na, const double *b, size_t nb,
                          double *lo, double *hi, ct_error *err);

/* Fill edges[0..nbins] with nbins equal bins over [lo, hi]; edges[nbins]
   is exactly hi. */
void ct_stats_edges(double lo, double hi, int nbins, double *edges);

/* Count x into the bins given by the increasing edges[0..nbins]: bin k
   holds edges[k] <= v < edges[k+1], and the last bin also holds v ==
   edges[nbins] (numpy.histogram's rule).  Values outside are not counted;
   counts[] is overwritten. */
int ct_stats_histogram(const double *x, size_t n, const double *edges, int nbins,
                       size_t *counts, ct_error *err);

#endif
