/*
 * ct_coverage.c - COV-R / COV-P: the nearest fingerprint in the other set,
 * for every generated and every reference crystal, in one pass over the
 * distance matrix split by rows over threads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_coverage.h"
#include "ct_parallel.h"

/* References go in blocks of RB, stored dimension-major, so the inner
   loop runs over RB independent sums and vectorises without reordering
   any floating-point sum (the result is the plain left-to-right one). */
#define RB 16

/* The reference set as blocks: for block b, dimension k, slot t:
   blk[(b * dim + k) * RB + t]; padding slots repeat no reference and are
   masked by the caller. */
static double *blocked(const double *x, size_t n, int dim)
{
    size_t nb = (n + RB - 1) / RB;
    double *blk = calloc(nb * (size_t)dim * RB + 1, sizeof *blk);
    if (!blk) return NULL;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < dim; k++)
            blk[((i / RB) * (size_t)dim + (size_t)k) * RB + i % RB] = x[i * (size_t)dim + k];
    return blk;
}

/* Squared distances of g to the RB references of one block (restrict:
   the sums stay in registers and the t loop vectorises at -O2). */
static void block_dist2(const double *restrict g, const double *restrict blk, int dim,
                        double *restrict acc)
{
    double a[RB] = {0};
    for (int k = 0; k < dim; k++) {
        double gk = g[k];
        const double *restrict col = blk + (size_t)k * RB;
        for (int t = 0; t < RB; t++) {
            double d = gk - col[t];
            a[t] += d * d;
        }
    }
    memcpy(acc, a, sizeof a);
}

/* One thread's share: rows [g0, g1) of the generated set.  Row minima go
   straight to the shared arrays (each row belongs to one share); column
   minima into the share's own arrays, merged afterwards. */
typedef struct {
    const ct_coverage_set *gen, *ref;
    const double *blk_s, *blk_c;  /* the references, blocked */
    size_t nshares;
    double *row_s, *row_c;       /* ngen: min over t of D² */
    double *col_s, *col_c;       /* nshares × nref: min over the share's g */
} cov_job;

/* Fold one generated row into the minima of its row and of the columns. */
static void cov_row(const cov_job *job, size_t i, double *cs, double *cc)
{
    const ct_coverage_set *g = job->gen, *r = job->ref;
    double ms = INFINITY, mc = INFINITY, as[RB], ac[RB];
    const double *gs = g->s + i * (size_t)g->ds, *gc = g->c + i * (size_t)g->dc;
    for (size_t t0 = 0; t0 < r->n; t0 += RB) {
        size_t b = t0 / RB, nt = r->n - t0 < RB ? r->n - t0 : RB;
        block_dist2(gs, job->blk_s + b * (size_t)g->ds * RB, g->ds, as);
        block_dist2(gc, job->blk_c + b * (size_t)g->dc * RB, g->dc, ac);
        for (size_t t = 0; t < nt; t++) {
            if (r->ok && !r->ok[t0 + t]) continue;
            if (as[t] < ms) ms = as[t];
            if (ac[t] < mc) mc = ac[t];
            if (as[t] < cs[t0 + t]) cs[t0 + t] = as[t];
            if (ac[t] < cc[t0 + t]) cc[t0 + t] = ac[t];
        }
    }
    job->row_s[i] = ms;
    job->row_c[i] = mc;
}

static void cov_share(void *ctx, size_t begin, size_t end)
{
    cov_job *job = ctx;
    const ct_coverage_set *g = job->gen, *r = job->ref;
    for (size_t share = begin; share < end; share++) {
        size_t g0 = g->n * share / job->nshares, g1 = g->n * (share + 1) / job->nshares;
        double *cs = job->col_s + share * r->n, *cc = job->col_c + share * r->n;
        for (size_t t = 0; t < r->n; t++) cs[t] = cc[t] = INFINITY;
        for (size_t i = g0; i < g1 && !ct_interrupted(); i++)
            if (!g->ok || g->ok[i]) cov_row(job, i, cs, cc);
    }
}

static int check_set(const ct_coverage_set *x, const char *what, size_t *used, ct_error *err)
{
    *used = 0;
    for (size_t i = 0; i < x->n; i++) {
        if (x->ok && !x->ok[i]) continue;
        for (int k = 0; k < x->ds; k++)
            if (!isfinite(x->s[i * (size_t)x->ds + k]))
                return ct_fail(err, CT_EINVAL, "%s %zu: structure fingerprint is not finite",
                               what, i + 1);
        for (int k = 0; k < x->dc; k++)
            if (!isfinite(x->c[i * (size_t)x->dc + k]))
                return ct_fail(err, CT_EINVAL, "%s %zu: composition fingerprint is not finite",
                               what, i + 1);
        (*used)++;
    }
    if (!*used) return ct_fail(err, CT_EINVAL, "no %s crystal has fingerprints", what);
    return CT_OK;
}

/* Count and average the minima (squared distances) of the usable rows. */
static void tally(const double *ms, const double *mc, const unsigned char *ok, size_t n,
                  double delta_s, double delta_c, size_t *hits, double *sum_s, double *sum_c)
{
    *hits = 0;
    *sum_s = *sum_c = 0;
    for (size_t i = 0; i < n; i++) {
        if (ok && !ok[i]) continue;
        double s = sqrt(ms[i]), c = sqrt(mc[i]);
        *sum_s += s;
        *sum_c += c;
        if (s <= delta_s && c <= delta_c) (*hits)++;
    }
}

int ct_coverage(const ct_coverage_set *gen, const ct_coverage_set *ref, size_t n_total,
                double delta_s, double delta_c, ct_coverage_result *out, ct_error *err)
{
    if (gen->ds != ref->ds || gen->dc != ref->dc || gen->ds < 0 || gen->dc < 0)
        return ct_fail(err, CT_EINVAL, "fingerprint dimensions differ (%d+%d vs %d+%d)",
                       gen->ds, gen->dc, ref->ds, ref->dc);
    if (n_total < gen->n) return ct_fail(err, CT_EINVAL, "n_total is below the generated count");
    int st = check_set(gen, "generated", &out->n_gen_used, err);
    if (st == CT_OK) st = check_set(ref, "reference", &out->n_ref_used, err);
    if (st != CT_OK) return st;
    int nthreads = ct_num_threads(gen->n, 64);
    double *blk_s = blocked(ref->s, ref->n, ref->ds), *blk_c = blocked(ref->c, ref->n, ref->dc);
    cov_job job = {gen, ref, blk_s, blk_c, (size_t)nthreads, NULL, NULL, NULL, NULL};
    job.row_s = malloc(2 * gen->n * sizeof *job.row_s);
    job.col_s = malloc(2 * (size_t)nthreads * ref->n * sizeof *job.col_s);
    if (!job.row_s || !job.col_s || !blk_s || !blk_c) {
        free(job.row_s);
        free(job.col_s);
        free(blk_s);
        free(blk_c);
        return ct_fail(err, CT_ENOMEM, "out of memory for coverage");
    }
    job.row_c = job.row_s + gen->n;
    job.col_c = job.col_s + (size_t)nthreads * ref->n;
    ct_parallel_for((size_t)nthreads, nthreads, cov_share, &job);
    for (size_t k = 1; k < (size_t)nthreads; k++)
        for (size_t t = 0; t < ref->n; t++) {
            double s = job.col_s[k * ref->n + t], c = job.col_c[k * ref->n + t];
            if (s < job.col_s[t]) job.col_s[t] = s;
            if (c < job.col_c[t]) job.col_c[t] = c;
        }
    if (ct_interrupted()) st = ct_fail(err, CT_EINTR, "interrupted");
    size_t hits;
    tally(job.col_s, job.col_c, ref->ok, ref->n, delta_s, delta_c, &hits, &out->amsd_r,
          &out->amcd_r);
    out->cov_r = (double)hits / (double)out->n_ref_used;
    out->amsd_r /= (double)out->n_ref_used;
    out->amcd_r /= (double)out->n_ref_used;
    tally(job.row_s, job.row_c, gen->ok, gen->n, delta_s, delta_c, &hits, &out->amsd_p,
          &out->amcd_p);
    out->cov_p = (double)hits / (double)n_total;
    out->amsd_p /= (double)out->n_gen_used;
    out->amcd_p /= (double)out->n_gen_used;
    free(job.row_s);
    free(job.col_s);
    free(blk_s);
    free(blk_c);
    return st;
}
