/*
 * ct_kmeans.h - K-means clustering in 1-D and n-D, with an automatic choice
 * of K.
 *
 * Reconstruction of a generated CrysTens uses it to snap averaged atomic
 * numbers and fractional coordinates onto a few values (12.2, 12.6, 12.4 ->
 * 12); users call it from the REPL as ct.kmeans.
 *
 *     ct_kmeans_params p;
 *     ct_kmeans_params_init(&p);          // k = 0: choose K automatically
 *     p.integer = 1;                      // the values are atomic numbers
 *     ct_kmeans_result r;
 *     if (ct_kmeans(z, n, 1, &p, &r, &err) != CT_OK) ...;
 *     for (int i = 0; i < n; i++) z[i] = round(r.centroids[r.labels[i]]);
 *     ct_kmeans_result_free(&r);
 *
 * Solvers.  1-D data are clustered exactly by default: the optimal clusters
 * of sorted values are contiguous runs, and dynamic programming over the
 * runs (with the divide-and-conquer speed-up that the monotone split points
 * allow) finds the least inertia in O(K n log n).  Periodic 1-D data (values
 * on a circle of period 1, such as fractional coordinates) are clustered into
 * arcs by the same dynamic programme run once per cut point of the circle,
 * O(K n^2 log n); distances are taken on the circle, so 0.99 and 0.01 are
 * 0.02 apart.  n-D data (and 1-D data with exact = 0) use Lloyd's algorithm
 * from k-means++ seeds, restarted several times, keeping the least inertia;
 * the generator is seeded, so a run is reproducible.
 *
 * Automatic K (k = 0): the separation criterion.  For each K from 1 to max_k
 * the best K-clustering is found and scored
 *
 *     score(K) = min over neighbouring clusters a, b of  |c_a - c_b| / s_K,
 *     s_K      = max(sqrt(W_K / (d (n - K))), noise),
 *
 * where c are centroids (neighbours: consecutive centroids in 1-D, around the
 * circle when periodic; every pair in n-D), W_K the inertia (within-cluster
 * sum of squares), so s_K is the pooled within-cluster standard deviation,
 * and noise a floor on it.  K is acceptable when score(K) > sep (default 4:
 * splitting one Gaussian cluster scores about 2.7, two clusters 10 standard
 * deviations apart score about 10) and, with integer set, when the centroids
 * round to distinct integers (two groups of atomic numbers that both round to
 * 8 are one element, however well separated).  The chosen K is the largest
 * acceptable one: too small a K merges clusters, which inflates s_K and
 * fails the test, too large a K splits a cluster, which puts two centroids
 * close together.  K = 1 is always acceptable (score +inf).
 * On exact data (distinct values repeated exactly) this recovers the number
 * of distinct values, since the true K has s_K = noise and any larger K puts
 * two centroids on the same value.  On noisy data the noise floor matters:
 * a K that leaves nearly every value alone has a pooled deviation measured
 * on almost nothing, so unless the floor stops it, the largest acceptable K
 * splits the noise into single values (7.4 and 7.7 may be two elements or
 * one: no statistic can tell without a scale).  The default floor, 1e-6
 * times the largest |value| (at least 1e-6), only absorbs rounding: set noise
 * to the expected standard deviation of the noise, or set integer for
 * integer-valued data such as atomic numbers.  Measured with them (tests/c/
 * test_kmeans.c prints the rates): Z-like values 1 apart with noise 0.1 and
 * integer set, over 99 % right; values 0.05 apart on the circle with noise
 * 0.005 and noise = 0.005, over 98 %.
 *
 * Ownership: a ct_kmeans_result owns its arrays; release them with
 * ct_kmeans_result_free.  Input arrays are only read.
 */
#ifndef CT_KMEANS_H
#define CT_KMEANS_H

#include <stdint.h>

#include "ct_common.h"

/* Largest number of clusters: the dynamic programme keeps K x n tables. */
#define CT_KMEANS_MAXK 256

/* The default separation threshold of the automatic choice of K. */
#define CT_KMEANS_SEP 4.0

typedef struct {
    int k;            /* number of clusters; 0 chooses it automatically */
    int max_k;        /* largest K tried by the automatic choice; 0: min(16, distinct values) */
    int restarts;     /* Lloyd: k-means++ restarts, best inertia kept (default 10) */
    int max_iter;     /* Lloyd: iterations per restart (default 300) */
    uint64_t seed;    /* seed of the k-means++ generator (default 1) */
    int periodic;     /* 1-D: values on a circle of period 1 (forces the exact solver) */
    int exact;        /* 1-D: dynamic programming (default 1); 0 uses Lloyd */
    int integer;      /* automatic K: centroids must round to distinct integers */
    double sep;       /* automatic K: separation threshold (default CT_KMEANS_SEP) */
    double noise;     /* automatic K: floor of the pooled standard deviation; < 0: default */
} ct_kmeans_params;

typedef struct {
    int n, d, k;        /* points, dimensions, clusters found */
    int *labels;        /* n cluster indices, 0-based, clusters in ascending centroid order */
    double *centroids;  /* k x d, row-major; periodic centroids lie in [0, 1) */
    double inertia;     /* sum of squared distances to the centroids */
    int max_k;          /* scores and inertias hold max_k + 1 entries; index 0 is unused */
    double *scores;     /* score(K) of each K evaluated (NAN where not evaluated) */
    double *inertias;   /* best inertia of each K evaluated (NAN where not evaluated) */
    double sep, noise;  /* the threshold and noise floor score(K) was judged with */
    const char *criterion;  /* "fixed" or "separation" */
} ct_kmeans_result;

/* Fill p with the defaults: automatic K, 10 restarts, seed 1, exact 1-D. */
void ct_kmeans_params_init(ct_kmeans_params *p);

/* Cluster n points of d dimensions (x is n x d, row-major) into r. */
int ct_kmeans(const double *x, int n, int d, const ct_kmeans_params *p,
              ct_kmeans_result *r, ct_error *err);

/* Release the arrays of r (safe on a zeroed or already released result). */
void ct_kmeans_result_free(ct_kmeans_result *r);

#endif
