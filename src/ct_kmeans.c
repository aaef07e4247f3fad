/*
 * ct_kmeans.c - K-means: exact 1-D dynamic programming (linear and
 * periodic), Lloyd's algorithm from k-means++ seeds, and the separation
 * criterion that chooses K.  See ct_kmeans.h for the definitions.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_kmeans.h"

/* ---- A seeded generator ---------------------------------------------------
 * splitmix64: a few lines, full period, and well mixed even from seeds 0, 1,
 * 2 -- all k-means++ needs, and it keeps this module self-contained. */
typedef struct {
    uint64_t s;
} km_rng;

static uint64_t rng_next(km_rng *g)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A uniform double in [0, 1). */
static double rng_uniform(km_rng *g)
{
    return (double)(rng_next(g) >> 11) * 0x1.0p-53;
}

/* ---- Shared helpers ------------------------------------------------------- */

/* Wrap v into [0, 1); floor can leave exactly 1.0 for tiny negatives. */
static double wrap01(double v)
{
    double w = v - floor(v);
    return w >= 1.0 ? 0.0 : w;
}

/* Squared distance between two d-vectors, on the unit circle if periodic. */
static double dist2(const double *a, const double *b, int d, int periodic)
{
    double s = 0;
    for (int j = 0; j < d; j++) {
        double t = fabs(a[j] - b[j]);
        if (periodic) {
            t = fmod(t, 1.0);
            if (t > 0.5) t = 1.0 - t;
        }
        s += t * t;
    }
    return s;
}

static double inertia_of(const double *x, int n, int d, const int *lab, const double *c,
                         int periodic)
{
    double w = 0;
    for (int i = 0; i < n; i++) w += dist2(x + (size_t)i * d, c + (size_t)lab[i] * d, d, periodic);
    return w;
}

/* qsort context: C11 qsort has none, so the comparators read these; one
   per thread, as reconstruction clusters on all cores at once. */
static _Thread_local const double *sort_keys;
static _Thread_local int sort_dim;

static int cmp_rows(const void *pa, const void *pb)
{
    const double *a = sort_keys + (size_t)*(const int *)pa * sort_dim;
    const double *b = sort_keys + (size_t)*(const int *)pb * sort_dim;
    for (int j = 0; j < sort_dim; j++)
        if (a[j] != b[j]) return a[j] < b[j] ? -1 : 1;
    return (*(const int *)pa > *(const int *)pb) - (*(const int *)pa < *(const int *)pb);
}

/* Fill idx with 0..n-1 ordered by the rows of keys (n x d, lexicographic). */
static void sort_rows(const double *keys, int n, int d, int *idx)
{
    for (int i = 0; i < n; i++) idx[i] = i;
    sort_keys = keys;
    sort_dim = d;
    qsort(idx, (size_t)n, sizeof *idx, cmp_rows);
}

/* Number clusters by ascending centroid (lexicographic), relabelling the
   points, so that equal clusterings read the same whatever the solver. */
static int canonical_order(int n, int d, int k, int *lab, double *c, ct_error *err)
{
    int *idx = malloc((size_t)k * sizeof *idx), *rank = malloc((size_t)k * sizeof *rank);
    double *copy = malloc((size_t)k * d * sizeof *copy);
    if (!idx || !rank || !copy) {
        free(idx), free(rank), free(copy);
        return ct_fail(err, CT_ENOMEM, "kmeans: out of memory");
    }
    memcpy(copy, c, (size_t)k * d * sizeof *copy);
    sort_rows(copy, k, d, idx);
    for (int r = 0; r < k; r++) {
        rank[idx[r]] = r;
        memcpy(c + (size_t)r * d, copy + (size_t)idx[r] * d, (size_t)d * sizeof *c);
    }
    for (int i = 0; i < n; i++) lab[i] = rank[lab[i]];
    free(idx), free(rank), free(copy);
    return CT_OK;
}

/* ---- Exact 1-D: dynamic programming over contiguous runs -------------------
 * D[k][i] is the least inertia of the first i sorted values in k clusters,
 * T[k][i] where its last cluster starts.  The best start is non-decreasing in
 * i (the run cost obeys the quadrangle inequality), so each row is filled by
 * divide and conquer in O(n log n) instead of O(n^2). */
typedef struct {
    int n, kmax;
    double *p1, *p2;   /* prefix sums of the values and their squares, n + 1 */
    double *D;         /* (kmax + 1) x (n + 1) */
    int *T;            /* (kmax + 1) x (n + 1) */
} km_dp;

#define DP_AT(a, s, k, i) ((a)[(size_t)(k) * ((s)->n + 1) + (i)])

/* Inertia of the run of sorted values j .. i-1. */
static double run_cost(const km_dp *s, int j, int i)
{
    double m = i - j, a = s->p1[i] - s->p1[j];
    double c = (s->p2[i] - s->p2[j]) - a * a / m;
    return c > 0 ? c : 0;
}

static void dp_row(km_dp *s, int k, int lo, int hi, int optlo, int opthi)
{
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, best_j = optlo;
        double best = INFINITY;
        for (int j = optlo; j <= opthi && j < mid; j++) {
            double v = DP_AT(s->D, s, k - 1, j) + run_cost(s, j, mid);
            if (v < best) best = v, best_j = j;
        }
        DP_AT(s->D, s, k, mid) = best;
        DP_AT(s->T, s, k, mid) = best_j;
        dp_row(s, k, lo, mid - 1, optlo, best_j);
        lo = mid + 1;   /* the right half, as a loop: recursion depth stays log n */
        optlo = best_j;
    }
}

/* Run the programme on the sorted values y[0..n-1] for 1..s->kmax clusters. */
static void dp_run(km_dp *s, const double *y)
{
    int n = s->n;
    double pivot = y[n / 2];   /* centre the sums: less cancellation in run_cost */
    s->p1[0] = s->p2[0] = 0;
    for (int i = 0; i < n; i++) {
        double v = y[i] - pivot;
        s->p1[i + 1] = s->p1[i] + v;
        s->p2[i + 1] = s->p2[i] + v * v;
    }
    DP_AT(s->D, s, 0, 0) = 0;
    for (int i = 1; i <= n; i++) {
        DP_AT(s->D, s, 1, i) = run_cost(s, 0, i);
        DP_AT(s->T, s, 1, i) = 0;
    }
    for (int k = 2; k <= s->kmax; k++) dp_row(s, k, k, n, k - 1, n - 1);
}

/* Write the run index of each sorted position for k clusters into run. */
static void dp_backtrack(const km_dp *s, int k, int *run)
{
    int i = s->n;
    for (int c = k; c >= 1; c--) {
        int j = DP_AT(s->T, s, c, i);
        for (int t = j; t < i; t++) run[t] = c - 1;
        i = j;
    }
}

/* ---- The solver context ---------------------------------------------------- */
typedef struct {
    const double *x;
    int n, d, periodic, exact;
    const ct_kmeans_params *p;
    /* exact 1-D */
    int *order;          /* sorted position -> point index */
    double *v;           /* sorted values (wrapped into [0, 1) when periodic) */
    double *y;           /* the values the programme runs on (a rotation when periodic) */
    int *run;            /* run index of each sorted position */
    km_dp dp;
    int *best_rot;       /* periodic: the cut giving the least inertia, per K */
    /* Lloyd */
    km_rng rng;
    double *dist, *c_try;
    int *lab_try, *count;
} km_ctx;

static void ctx_free(km_ctx *c)
{
    free(c->order), free(c->v), free(c->y), free(c->run);
    free(c->dp.p1), free(c->dp.p2), free(c->dp.D), free(c->dp.T);
    free(c->best_rot);
    free(c->dist), free(c->c_try), free(c->lab_try), free(c->count);
}

/* Rotation r of the sorted circle, unrolled so that it increases. */
static void rotate(km_ctx *c, int r)
{
    for (int t = 0; t < c->n; t++) {
        int s = (r + t) % c->n;
        c->y[t] = c->v[s] + (r + t >= c->n ? 1.0 : 0.0);
    }
}

/* Prepare the exact 1-D solver for up to kmax clusters. */
static int exact_setup(km_ctx *c, int kmax, ct_error *err)
{
    int n = c->n;
    size_t cells = (size_t)(kmax + 1) * (size_t)(n + 1);
    if (cells > ((size_t)1 << 28))
        return ct_fail(err, CT_ENOMEM, "kmeans: %d values x %d clusters is too large for the "
                       "exact solver (use exact = false)", n, kmax);
    c->order = malloc((size_t)n * sizeof *c->order);
    c->v = malloc((size_t)n * sizeof *c->v);
    c->y = malloc((size_t)n * sizeof *c->y);
    c->run = malloc((size_t)n * sizeof *c->run);
    c->dp = (km_dp){n, kmax, malloc((size_t)(n + 1) * sizeof(double)),
                    malloc((size_t)(n + 1) * sizeof(double)),
                    malloc(cells * sizeof(double)), malloc(cells * sizeof(int))};
    c->best_rot = malloc((size_t)(kmax + 1) * sizeof *c->best_rot);
    if (!c->order || !c->v || !c->y || !c->run || !c->dp.p1 || !c->dp.p2 || !c->dp.D ||
        !c->dp.T || !c->best_rot)
        return ct_fail(err, CT_ENOMEM, "kmeans: out of memory");
    double *w = c->y;   /* wrapped copy to sort; y is free until the first run */
    for (int i = 0; i < n; i++) w[i] = c->periodic ? wrap01(c->x[i]) : c->x[i];
    sort_rows(w, n, 1, c->order);
    for (int t = 0; t < n; t++) c->v[t] = w[c->order[t]];
    if (!c->periodic) {
        dp_run(&c->dp, c->v);
        return CT_OK;
    }
    /* Periodic: some cluster boundary falls before each optimal arc, so the
       best over all cut points is exact; cuts between equal values repeat. */
    double *best = malloc((size_t)(kmax + 1) * sizeof *best);
    if (!best) return ct_fail(err, CT_ENOMEM, "kmeans: out of memory");
    for (int k = 0; k <= kmax; k++) best[k] = INFINITY, c->best_rot[k] = 0;
    for (int r = 0; r < n; r++) {
        if (r > 0 && c->v[r] == c->v[r - 1]) continue;
        if (ct_interrupted()) {
            free(best);
            return ct_fail(err, CT_EINTR, "interrupted");
        }
        rotate(c, r);
        dp_run(&c->dp, c->y);
        for (int k = 1; k <= kmax; k++)
            if (DP_AT(c->dp.D, &c->dp, k, n) < best[k])
                best[k] = DP_AT(c->dp.D, &c->dp, k, n), c->best_rot[k] = r;
    }
    free(best);
    return CT_OK;
}

/* The optimal k-clustering from the exact solver: labels and centroids. */
static void exact_solve(km_ctx *c, int k, int *lab, double *cent)
{
    int n = c->n, r = 0;
    if (c->periodic) {
        r = c->best_rot[k];
        rotate(c, r);
        dp_run(&c->dp, c->y);
    } else {
        memcpy(c->y, c->v, (size_t)n * sizeof *c->y);
    }
    dp_backtrack(&c->dp, k, c->run);
    for (int j = 0; j < k; j++) cent[j] = 0;
    int *cnt = c->count;
    for (int j = 0; j < k; j++) cnt[j] = 0;
    for (int t = 0; t < n; t++) {
        cent[c->run[t]] += c->y[t];
        cnt[c->run[t]]++;
        lab[c->order[(r + t) % n]] = c->run[t];
    }
    for (int j = 0; j < k; j++) {
        cent[j] /= cnt[j];
        if (c->periodic) cent[j] = wrap01(cent[j]);
    }
}

/* ---- Lloyd's algorithm from k-means++ seeds ------------------------------- */

/* k-means++: each next seed is drawn with probability proportional to its
   squared distance from the nearest seed already chosen. */
static void seed_plusplus(km_ctx *c, int k, double *cent)
{
    int n = c->n, d = c->d;
    const double *x = c->x;
    int first = (int)(rng_uniform(&c->rng) * n);
    memcpy(cent, x + (size_t)first * d, (size_t)d * sizeof *cent);
    for (int i = 0; i < n; i++) c->dist[i] = dist2(x + (size_t)i * d, cent, d, 0);
    for (int j = 1; j < k; j++) {
        double total = 0;
        for (int i = 0; i < n; i++) total += c->dist[i];
        int pick = n - 1;
        if (total > 0) {
            double u = rng_uniform(&c->rng) * total, acc = 0;
            for (int i = 0; i < n; i++)
                if ((acc += c->dist[i]) > u) { pick = i; break; }
        } else {
            pick = (int)(rng_uniform(&c->rng) * n);   /* all points coincide */
        }
        double *cj = cent + (size_t)j * d;
        memcpy(cj, x + (size_t)pick * d, (size_t)d * sizeof *cj);
        for (int i = 0; i < n; i++) {
            double t = dist2(x + (size_t)i * d, cj, d, 0);
            if (t < c->dist[i]) c->dist[i] = t;
        }
    }
}

/* Assign each point to its nearest centroid; return how many moved. */
static int assign(km_ctx *c, int k, const double *cent, int *lab)
{
    int moved = 0;
    for (int i = 0; i < c->n; i++) {
        const double *xi = c->x + (size_t)i * c->d;
        int best = 0;
        double bd = INFINITY;
        for (int j = 0; j < k; j++) {
            double t = dist2(xi, cent + (size_t)j * c->d, c->d, 0);
            if (t < bd) bd = t, best = j;
        }
        c->dist[i] = bd;
        if (lab[i] != best) lab[i] = best, moved++;
    }
    return moved;
}

/* Move each centroid to the mean of its points.  An emptied cluster takes
   the point farthest from its centroid, so k clusters stay k; the cluster
   that point leaves is corrected by the next assignment. */
static void update(km_ctx *c, int k, double *cent, int *lab)
{
    int n = c->n, d = c->d;
    memset(cent, 0, (size_t)k * d * sizeof *cent);
    memset(c->count, 0, (size_t)k * sizeof *c->count);
    for (int i = 0; i < n; i++) {
        c->count[lab[i]]++;
        for (int t = 0; t < d; t++) cent[(size_t)lab[i] * d + t] += c->x[(size_t)i * d + t];
    }
    for (int j = 0; j < k; j++)
        for (int t = 0; c->count[j] && t < d; t++) cent[(size_t)j * d + t] /= c->count[j];
    for (int j = 0; j < k; j++) {
        if (c->count[j]) continue;
        int far = 0;
        for (int i = 1; i < n; i++) if (c->dist[i] > c->dist[far]) far = i;
        c->dist[far] = 0;
        lab[far] = j;
        memcpy(cent + (size_t)j * d, c->x + (size_t)far * d, (size_t)d * sizeof *cent);
    }
}

/* Best of p->restarts Lloyd runs for k clusters; return its inertia. */
static int lloyd_solve(km_ctx *c, int k, int *lab, double *cent, ct_error *err)
{
    double best = INFINITY;
    for (int r = 0; r < c->p->restarts; r++) {
        seed_plusplus(c, k, c->c_try);
        for (int i = 0; i < c->n; i++) c->lab_try[i] = -1;
        for (int it = 0; it < c->p->max_iter; it++) {
            if (ct_interrupted()) return ct_fail(err, CT_EINTR, "interrupted");
            if (assign(c, k, c->c_try, c->lab_try) == 0 && it > 0) break;
            update(c, k, c->c_try, c->lab_try);
        }
        double w = inertia_of(c->x, c->n, c->d, c->lab_try, c->c_try, 0);
        if (w < best) {
            best = w;
            memcpy(lab, c->lab_try, (size_t)c->n * sizeof *lab);
            memcpy(cent, c->c_try, (size_t)k * c->d * sizeof *cent);
        }
    }
    return CT_OK;
}

/* ---- The separation criterion --------------------------------------------- */

/* score(K) of ct_kmeans.h for centroids in canonical order; +inf for K = 1. */
static double separation(const km_ctx *c, int k, const double *cent, double w, double noise)
{
    int n = c->n, d = c->d;
    double s = n > k ? sqrt(w / ((double)d * (n - k))) : 0;
    if (s < noise) s = noise;
    double dmin = INFINITY;
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++) {
            if (d == 1 && b != a + 1 && !(c->periodic && a == 0 && b == k - 1)) continue;
            double t = sqrt(dist2(cent + (size_t)a * d, cent + (size_t)b * d, d, c->periodic));
            if (t < dmin) dmin = t;
        }
    return dmin / s;
}

/* Whether two centroids round to the same integer point. */
static int rounds_together(const double *cent, int k, int d)
{
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++) {
            int same = 1;
            for (int t = 0; t < d && same; t++)
                same = nearbyint(cent[(size_t)a * d + t]) == nearbyint(cent[(size_t)b * d + t]);
            if (same) return 1;
        }
    return 0;
}

/* ---- The driver ------------------------------------------------------------ */

void ct_kmeans_params_init(ct_kmeans_params *p)
{
    *p = (ct_kmeans_params){.k = 0, .max_k = 0, .restarts = 10, .max_iter = 300, .seed = 1,
                            .periodic = 0, .exact = 1, .integer = 0,
                            .sep = CT_KMEANS_SEP, .noise = -1};
}

void ct_kmeans_result_free(ct_kmeans_result *r)
{
    free(r->labels), free(r->centroids), free(r->scores), free(r->inertias);
    r->labels = NULL, r->centroids = r->scores = r->inertias = NULL;
}

static int check_input(const double *x, int n, int d, const ct_kmeans_params *p, ct_error *err)
{
    if (n < 1) return ct_fail(err, CT_EINVAL, "kmeans: no values to cluster");
    if (d < 1) return ct_fail(err, CT_EINVAL, "kmeans: points need at least one dimension");
    for (size_t i = 0; i < (size_t)n * d; i++)
        if (!isfinite(x[i]))
            return ct_fail(err, CT_EINVAL, "kmeans: value %zu is %s", i / d + 1,
                           isnan(x[i]) ? "NaN" : "infinite");
    if (p->k < 0 || p->k > n)
        return ct_fail(err, CT_EINVAL, "kmeans: k = %d is not in 1..%d", p->k, n);
    if (p->k > CT_KMEANS_MAXK || p->max_k > CT_KMEANS_MAXK || p->max_k < 0)
        return ct_fail(err, CT_EINVAL, "kmeans: at most %d clusters", CT_KMEANS_MAXK);
    if (p->periodic && d != 1)
        return ct_fail(err, CT_EINVAL, "kmeans: periodic clustering is 1-D only, got %d-D", d);
    if (p->restarts < 1 || p->max_iter < 1)
        return ct_fail(err, CT_EINVAL, "kmeans: restarts and max_iter must be positive");
    if (!(p->sep > 0)) return ct_fail(err, CT_EINVAL, "kmeans: sep must be positive");
    return CT_OK;
}

/* Number of distinct points (rows) of x, up to limit. */
static int count_distinct(const km_ctx *c, int limit, ct_error *err, int *out)
{
    int n = c->n, d = c->d, *idx = malloc((size_t)n * sizeof *idx);
    double *w = malloc((size_t)n * d * sizeof *w);
    if (!idx || !w) {
        free(idx), free(w);
        return ct_fail(err, CT_ENOMEM, "kmeans: out of memory");
    }
    for (size_t i = 0; i < (size_t)n * d; i++) w[i] = c->periodic ? wrap01(c->x[i]) : c->x[i];
    sort_rows(w, n, d, idx);
    int m = 1;
    for (int i = 1; i < n && m < limit; i++)
        if (memcmp(w + (size_t)idx[i] * d, w + (size_t)idx[i - 1] * d, (size_t)d * sizeof *w))
            m++;
    free(idx), free(w);
    *out = m;
    return CT_OK;
}

/* The clustering of k clusters in canonical order, its inertia and score. */
static int solve(km_ctx *c, int k, double noise, int *lab, double *cent, double *w,
                 double *score, ct_error *err)
{
    int rc = CT_OK;
    if (c->exact) exact_solve(c, k, lab, cent);
    else rc = lloyd_solve(c, k, lab, cent, err);
    if (rc == CT_OK) rc = canonical_order(c->n, c->d, k, lab, cent, err);
    if (rc != CT_OK) return rc;
    *w = inertia_of(c->x, c->n, c->d, lab, cent, c->periodic);
    *score = k == 1 ? (double)INFINITY : separation(c, k, cent, *w, noise);
    return CT_OK;
}

static double default_noise(const double *x, size_t len, int periodic)
{
    double m = 1;
    for (size_t i = 0; !periodic && i < len; i++) if (fabs(x[i]) > m) m = fabs(x[i]);
    return 1e-6 * m;
}

static int run_all(km_ctx *c, const ct_kmeans_params *p, ct_kmeans_result *r, ct_error *err)
{
    int n = c->n, d = c->d, rc, distinct = 0;
    if ((rc = count_distinct(c, CT_KMEANS_MAXK + 1, err, &distinct)) != CT_OK) return rc;
    int auto_k = p->k == 0;
    int kmax = auto_k ? (p->max_k ? p->max_k : 16) : p->k;
    if (auto_k && kmax > distinct) kmax = distinct;
    if (kmax > n) kmax = n;
    double noise = p->noise >= 0 ? p->noise : default_noise(c->x, (size_t)n * d, c->periodic);

    r->max_k = kmax;
    r->sep = p->sep;
    r->noise = noise;
    r->labels = malloc((size_t)n * sizeof *r->labels);
    r->centroids = malloc((size_t)kmax * d * sizeof *r->centroids);
    r->scores = malloc((size_t)(kmax + 1) * sizeof *r->scores);
    r->inertias = malloc((size_t)(kmax + 1) * sizeof *r->inertias);
    c->dist = malloc((size_t)n * sizeof *c->dist);
    c->count = malloc((size_t)(kmax + 1) * sizeof *c->count);
    c->lab_try = malloc((size_t)n * sizeof *c->lab_try);
    c->c_try = malloc((size_t)kmax * d * sizeof *c->c_try);
    int *lab = malloc((size_t)n * sizeof *lab);
    double *cent = malloc((size_t)kmax * d * sizeof *cent);
    if (!r->labels || !r->centroids || !r->scores || !r->inertias || !c->dist || !c->count ||
        !c->lab_try || !c->c_try || !lab || !cent) {
        free(lab), free(cent);
        return ct_fail(err, CT_ENOMEM, "kmeans: out of memory");
    }
    for (int k = 0; k <= kmax; k++) r->scores[k] = r->inertias[k] = NAN;
    if (c->exact && (rc = exact_setup(c, kmax, err)) != CT_OK) goto done;

    /* Fixed K solves once; automatic K keeps the largest acceptable K. */
    for (int k = auto_k ? 1 : kmax; k <= kmax; k++) {
        double w, score;
        if ((rc = solve(c, k, noise, lab, cent, &w, &score, err)) != CT_OK) goto done;
        r->scores[k] = score;
        r->inertias[k] = w;
        int accept = !auto_k || k == 1 ||
                     (score > p->sep && !(p->integer && rounds_together(cent, k, d)));
        if (accept) {
            r->k = k;
            r->inertia = w;
            memcpy(r->labels, lab, (size_t)n * sizeof *lab);
            memcpy(r->centroids, cent, (size_t)k * d * sizeof *cent);
        }
    }
done:
    free(lab), free(cent);
    return rc;
}

int ct_kmeans(const double *x, int n, int d, const ct_kmeans_params *p,
              ct_kmeans_result *r, ct_error *err)
{
    memset(r, 0, sizeof *r);
    int rc = check_input(x, n, d, p, err);
    if (rc != CT_OK) return rc;
    km_ctx c = {.x = x, .n = n, .d = d, .periodic = p->periodic, .p = p,
                .exact = d == 1 && (p->exact || p->periodic), .rng = {p->seed}};
    r->n = n, r->d = d;
    r->criterion = p->k ? "fixed" : "separation";
    rc = run_all(&c, p, r, err);
    ctx_free(&c);
    if (rc != CT_OK) ct_kmeans_result_free(r);
    return rc;
}
