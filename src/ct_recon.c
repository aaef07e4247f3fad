/*
 * ct_recon.c - generated CrysTens back to crystals (see ct_recon.h for the
 * steps and the criteria).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_crystens.h"
#include "ct_elements.h"
#include "ct_kmeans.h"
#include "ct_layout.h"
#include "ct_parallel.h"
#include "ct_recon.h"
#include "ct_symmetry.h"

void ct_recon_defaults(ct_recon_opts *o)
{
    *o = (ct_recon_opts){.k_species = 0, .k_coords = 0, .occupancy = 0.5,
                         .sep = CT_KMEANS_SEP, .coord_sep = 2, .plain_vote = 0, .fractional = 0, .symmetry = 1,
                         .symprec = CT_SYMPREC, .symmetrize = 0,
                         .species = CT_RECON_SPECIES_AUTO, .min_distance = 0.5,
                         .species_tol = CT_RECON_SPECIES_TOL};
}

/* Nearest offset on the circle of period 1: d wrapped into [-1/2, 1/2]. */
static double wrap_half(double d)
{
    return d - nearbyint(d);
}

/* Sum of squared deviations of the 8 copies of (r, j) from m. */
static double copies_ss(const ct_layout *v, int r, int j, double m)
{
    double x[CT_CRYSTENS_COPIES], ss = 0;
    ct_layout_read(v, r, j, x);
    for (int l = 0; l < CT_CRYSTENS_LAYERS; l++) {
        double a = x[2 * l] - m, b = x[2 * l + 1] - m;
        ss += a * a + b * b;
    }
    return ss;
}

/* Mean of the 8 copies of coordinate row r of slot j on the circle (offsets
   from the first copy), in [0, 1); *ss gets their squared deviations. */
static double copies_circ_mean(const ct_layout *v, int r, int j, double *ss)
{
    double x[CT_CRYSTENS_COPIES], sum = 0, sq = 0;
    ct_layout_read(v, r, j, x);
    double ref = x[0];
    for (int l = 0; l < CT_CRYSTENS_LAYERS; l++) {
        double a = wrap_half(x[2 * l] - ref), b = wrap_half(x[2 * l + 1] - ref);
        sum += a + b;
        sq += a * a + b * b;
    }
    double m = sum / CT_CRYSTENS_COPIES;
    *ss = fmax(sq - CT_CRYSTENS_COPIES * m * m, 0);
    return ct_wrap01(ref + m);
}

/* One reconstruction in progress. */
typedef struct {
    ct_layout v;
    const ct_recon_opts *o;
    ct_recon_diag *d;
    int n;               /* atoms */
    int *slot;           /* their slot indices */
    double cell[6];
    double *zbar;        /* averaged Z */
    double *cbar;        /* averaged periodic column (row 11) */
    int *z;              /* Z after K-means */
    double (*xh)[3];     /* header coordinates */
    double (*xv)[3];     /* voted, then snapped coordinates */
    double (*xs)[3];     /* voted coordinates before the snap */
    double coord_se;     /* standard error of a voted coordinate */
} work;

static void work_free(work *w)
{
    free(w->slot), free(w->zbar), free(w->cbar), free(w->z), free(w->xh), free(w->xv), free(w->xs);
}

static int check_finite(const ct_layout *v, ct_error *err)
{
    size_t plane = ct_layout_plane(v->S);
    for (size_t i = 0; i < ct_layout_len(v->S); i++)
        if (!isfinite(v->t[i]))
            return ct_fail(err, CT_EINVAL, "%s at layer %zu, row %zu, column %zu",
                           isnan(v->t[i]) ? "NaN" : "infinite value", i / plane + 1,
                           i % plane / v->S + 1, i % v->S + 1);
    return CT_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Step 1: which slots hold atoms; m is nslots × 7 (Z, a, b, c, α, β, γ
   averages), tmp nslots scratch. */
static int pick_slots(work *w, int nslots, const double *m, double *tmp, ct_error *err)
{
    double g[7] = {1, 0, 0, 0, 0, 0, 0};
    for (int q = 1; q < 7; q++) {
        int c = 0;
        for (int j = 0; j < nslots; j++)
            if (m[j * 7] >= 0.5) tmp[c++] = m[j * 7 + q];
        if (!c) return ct_fail(err, CT_EINVAL, "no atoms: every slot's Z averages below 0.5");
        qsort(tmp, (size_t)c, sizeof *tmp, cmp_double);
        g[q] = tmp[c / 2];
    }
    double occ = w->o->occupancy, scale = fmax(occ, 1 - occ), margin = 1;
    w->n = 0;
    for (int j = 0; j < nslots; j++) {
        double e = 0;
        for (int q = 0; q < 7; q++)
            if (g[q] > 0) e += fmin(fmax(m[j * 7 + q] / g[q], 0), 1);
        e /= 7;
        margin = fmin(margin, fabs(e - occ) / scale);
        if (e >= occ && m[j * 7] >= 0.5) w->slot[w->n++] = j;
    }
    w->d->occupancy_margin = margin;
    w->d->natoms = w->n;
    return w->n ? CT_OK : ct_fail(err, CT_EINVAL, "no atoms: no slot has the evidence of one");
}

static int count_atoms(work *w, ct_error *err)
{
    int nslots = ct_layout_slots(w->v.S);
    double *m = malloc((size_t)nslots * 8 * sizeof *m);
    if (!m) return ct_fail(err, CT_ENOMEM, "out of memory");
    for (int j = 0; j < nslots; j++) {
        m[j * 7] = ct_layout_mean(&w->v, CT_CRYSTENS_Z, j);
        for (int q = 1; q < 7; q++) m[j * 7 + q] = ct_layout_mean(&w->v, CT_CRYSTENS_A + q - 1, j);
    }
    int rc = pick_slots(w, nslots, m, m + (size_t)nslots * 7, err);
    free(m);
    return rc;
}

/* Step 2: the averaged cell and space group, checked. */
static int read_globals(work *w, ct_error *err)
{
    double var[7];
    for (int r = CT_CRYSTENS_A; r <= CT_CRYSTENS_SG; r++) {
        double sum = 0, ss = 0;
        for (int i = 0; i < w->n; i++) sum += ct_layout_mean(&w->v, r, w->slot[i]);
        double mean = sum / w->n;
        for (int i = 0; i < w->n; i++) ss += copies_ss(&w->v, r, w->slot[i], mean);
        var[r - CT_CRYSTENS_A] = ss / ((double)CT_CRYSTENS_COPIES * w->n);
        if (r == CT_CRYSTENS_SG) w->d->sg_mean = mean;
        else w->cell[r - CT_CRYSTENS_A] = mean;
    }
    w->d->spread_length = sqrt((var[0] + var[1] + var[2]) / 3);
    w->d->spread_angle = sqrt((var[3] + var[4] + var[5]) / 3);
    w->d->spread_sg = sqrt(var[6]);
    double sg = w->d->sg_mean;
    if (!(sg >= 0.5 && sg < 230.5))
        return ct_fail(err, CT_EINVAL, "space group %.4g is outside 1-230", sg);
    w->d->spacegroup = (int)lround(sg);
    for (int k = 0; k < 3; k++)
        if (w->cell[k] > CT_RECON_MAX_LENGTH)
            return ct_fail(err, CT_EINVAL, "lattice length %.4g Å exceeds %g Å", w->cell[k],
                           CT_RECON_MAX_LENGTH);
    double mat[3][3];
    return ct_cell_to_matrix(w->cell, mat, err);
}

/* Step 3: per-atom averages. */
static void read_atoms(work *w)
{
    double ssz = 0, ssx = 0;
    for (int i = 0; i < w->n; i++) {
        w->zbar[i] = ct_layout_mean(&w->v, CT_CRYSTENS_Z, w->slot[i]);
        w->cbar[i] = ct_layout_mean(&w->v, CT_CRYSTENS_COLUMN, w->slot[i]);
        ssz += copies_ss(&w->v, CT_CRYSTENS_Z, w->slot[i], w->zbar[i]);
        for (int k = 0; k < 3; k++) {
            double ss;
            w->xh[i][k] = copies_circ_mean(&w->v, CT_CRYSTENS_X + k, w->slot[i], &ss);
            ssx += ss;
        }
    }
    w->d->spread_z = sqrt(ssz / ((double)CT_CRYSTENS_COPIES * w->n));
    w->d->spread_coord = sqrt(ssx / (24.0 * w->n));
}

/* Step 4: the relative-coordinate vote.  The first pass sums each atom's
   guesses (offsets from its own coordinate, on the circle) and measures
   their spread; the second weighs them (see ct_recon.h) and sets the
   standard error that coordinate K-means works with. */
static void vote(work *w)
{
    int n = w->n;
    double vss = 0, delta = 0;
    for (int j = 0; j < n; j++) {
        int sj = CT_CRYSTENS_HEADER + w->slot[j];
        for (int k = 0; k < 3; k++) {
            double ref = w->xh[j][k], sum = 0, sq = 0;
            for (int i = 0; i < n; i++) {
                int si = CT_CRYSTENS_HEADER + w->slot[i];
                double dx = 0.5 * (ct_layout_at(&w->v, k + 1, si, sj) -
                                   ct_layout_at(&w->v, k + 1, sj, si));
                double off = wrap_half(w->xh[i][k] - dx - ref);
                sum += off;
                sq += off * off;
            }
            vss += fmax(sq - sum * sum / n, 0);
            w->xv[j][k] = sum;   /* the own guess adds 0: Δ[j][j] - Δ[j][j] */
        }
    }
    double vg2 = vss / (3.0 * n * n);
    double sh2 = w->d->spread_coord * w->d->spread_coord / CT_CRYSTENS_COPIES;
    w->d->vote_spread = sqrt(vg2);
    double w0 = 1, w1 = 1;
    if (!w->o->plain_vote && vg2 > 1e-14 && sh2 > 1e-14) w0 = 1 / sh2, w1 = 1 / vg2;
    double norm = w0 + (n - 1) * w1;
    w->coord_se = w0 == w1 ? sqrt(vg2 / n) : sqrt(1 / norm);
    for (int j = 0; j < n; j++)
        for (int k = 0; k < 3; k++) {
            double mean = w1 * w->xv[j][k] / norm;
            delta += fabs(mean);
            w->xv[j][k] = ct_wrap01(w->xh[j][k] + mean);
        }
    w->d->coord_delta = delta / (3.0 * n);
}

/* The species distance of atoms i and j: |ΔZ| / 3 and the column
   difference (ct_crystens_species' metric). */
static double species_dist(const work *w, int i, int j)
{
    double dz = (w->zbar[i] - w->zbar[j]) / 3, dc = w->cbar[i] - w->cbar[j];
    return sqrt(dz * dz + dc * dc);
}

/* Step 5, species_tol > 0: complete-linkage clusters of the atoms whose
   species all lie within species_tol of each other, each replaced by its
   mean (Z, column).  Agglomerative, O(A^3) for A <= S-12 atoms. */
static int group_species(work *w, ct_error *err)
{
    int n = w->n;
    int *lab = malloc((size_t)n * sizeof *lab);
    unsigned char *exact = malloc((size_t)n);
    if (!lab || !exact) {
        free(lab), free(exact);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        lab[i] = i;
        /* an atom already on an element (an encoded crystal) keeps it */
        int e = (int)lround(w->zbar[i]);
        exact[i] = fabs(w->zbar[i] - e) < CT_RECON_Z_AGREE &&
                   fabs(w->cbar[i] - ct_crystens_column(e)) < CT_RECON_Z_AGREE;
    }
    for (;;) {
        int ba = -1, bb = -1;
        double best = w->o->species_tol;
        for (int a = 0; a < n; a++)
            for (int b = a + 1; b < n; b++) {
                if (lab[a] != a || lab[b] != b) continue;   /* cluster representatives */
                if (exact[a] || exact[b]) continue;
                double worst = 0;
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++)
                        if (lab[i] == a && lab[j] == b) worst = fmax(worst, species_dist(w, i, j));
                if (worst < best) best = worst, ba = a, bb = b;
            }
        if (ba < 0) break;
        for (int i = 0; i < n; i++)
            if (lab[i] == bb) lab[i] = ba;
    }
    for (int a = 0; a < n; a++) {
        if (lab[a] != a) continue;
        double z = 0, c = 0;
        int k = 0;
        for (int i = 0; i < n; i++)
            if (lab[i] == a) z += w->zbar[i], c += w->cbar[i], k++;
        for (int i = 0; i < n; i++)
            if (lab[i] == a) w->zbar[i] = z / k, w->cbar[i] = c / k;
    }
    free(lab), free(exact);
    return CT_OK;
}

/* Step 5, per atom: each averaged Z rounded on its own, or with the
   periodic encoding the element nearest to its (Z, column); grouped first
   where species_tol asks. */
static int round_species(work *w, ct_error *err)
{
    int distinct = 0;
    double cols = 0;
    for (int i = 0; i < w->n; i++) cols += w->cbar[i];
    w->d->species_per_atom = 1;
    w->d->periodic = cols / w->n >= 0.5;
    if (w->o->species_tol > 0 && w->d->periodic && group_species(w, err) != CT_OK) return CT_ENOMEM;
    for (int i = 0; i < w->n; i++) {
        double c = w->zbar[i];
        if (w->d->periodic && c > 0 && c < 1000) w->z[i] = ct_crystens_species(c, w->cbar[i]);
        else w->z[i] = fabs(c) < 1000 ? (int)lround(c) : 0;
        if (!ct_element_symbol(w->z[i]))
            return ct_fail(err, CT_EINVAL, "atom %d: Z = %.4g is no element", i + 1, c);
        int seen = 0;
        for (int k = 0; k < i && !seen; k++) seen = w->z[k] == w->z[i];
        distinct += !seen;
    }
    w->d->k_species = distinct;
    return CT_OK;
}

/* Step 5: K-means on the averaged Z, or per atom where the copies agree. */
static int cluster_species(work *w, ct_error *err)
{
    int mode = w->o->species;
    if (!w->o->k_species && (mode == CT_RECON_SPECIES_ATOM ||
                             (mode == CT_RECON_SPECIES_AUTO &&
                              w->d->spread_z / sqrt(CT_CRYSTENS_COPIES) < CT_RECON_Z_AGREE)))
        return round_species(w, err);
    ct_kmeans_params p;
    ct_kmeans_params_init(&p);
    p.integer = 1;
    p.sep = w->o->sep;
    p.noise = fmax(w->d->spread_z / sqrt(CT_CRYSTENS_COPIES), CT_RECON_Z_FLOOR);
    p.max_k = w->n < CT_KMEANS_MAXK ? w->n : CT_KMEANS_MAXK;   /* every atom its own element */
    if (w->o->k_species) p.k = w->o->k_species < w->n ? w->o->k_species : w->n;
    ct_kmeans_result r;
    int rc = ct_kmeans(w->zbar, w->n, 1, &p, &r, err);
    if (rc != CT_OK) return rc;
    w->d->k_species = r.k;
    for (int i = 0; i < w->n && rc == CT_OK; i++) {
        double c = r.centroids[r.labels[i]];
        w->z[i] = fabs(c) < 1000 ? (int)lround(c) : 0;
        if (!ct_element_symbol(w->z[i]))
            rc = ct_fail(err, CT_EINVAL, "atom %d: Z = %.4g (cluster mean %.4g) is no element",
                         i + 1, w->zbar[i], c);
    }
    ct_kmeans_result_free(&r);
    return rc;
}

/* Sort helper for the coordinate runs: values with their flat index. */
typedef struct {
    double v;
    int i;
} tagged;

static int cmp_tagged(const void *a, const void *b)
{
    const tagged *x = a, *y = b;
    return (x->v > y->v) - (x->v < y->v);
}

/* Replace u[beg..end) by its mean (one cluster); return 1. */
static int settle(double *x, const tagged *s, const double *u, int beg, int end)
{
    double sum = 0;
    for (int t = beg; t < end; t++) sum += u[t];
    double c = ct_wrap01(sum / (end - beg));
    for (int t = beg; t < end; t++) x[s[t].i] = c;
    return 1;
}

/* Clusters of the non-decreasing u[beg..end): cut at every gap wider than
   tol, and cut a run spanning more than tol again at its widest gap;
   stack holds up to end - beg ranges.  Return the number of clusters. */
static int split_runs(double *x, const tagged *s, const double *u, int beg, int end, double tol,
                      int *stack)
{
    int top = 0, k = 0;
    stack[top++] = beg, stack[top++] = end;
    while (top) {
        int e = stack[--top], b = stack[--top], cut = -1;
        double widest = 0;
        for (int t = b + 1; t < e; t++)
            if (u[t] - u[t - 1] > widest) widest = u[t] - u[t - 1], cut = t;
        if (cut < 0 || (widest <= tol && u[e - 1] - u[b] <= tol)) {
            k += settle(x, s, u, b, e);
            continue;
        }
        stack[top++] = b, stack[top++] = cut;
        stack[top++] = cut, stack[top++] = e;
    }
    return k;
}

/* Step 6, automatic K: the sorted circle, unrolled from just after its
   widest gap, split into runs; return K. */
static int snap_runs(double *x, int m, double tol, tagged *s, tagged *rot, double *u,
                     int *stack)
{
    for (int t = 0; t < m; t++) s[t] = (tagged){ct_wrap01(x[t]), t};
    qsort(s, (size_t)m, sizeof *s, cmp_tagged);
    int start = 0;
    double widest = -1;
    for (int t = 0; t < m; t++) {
        double gap = (t + 1 < m ? s[t + 1].v : s[0].v + 1) - s[t].v;
        if (gap > widest) widest = gap, start = (t + 1) % m;
    }
    for (int t = 0; t < m; t++) {
        rot[t] = s[(start + t) % m];
        u[t] = rot[t].v + (start + t >= m ? 1.0 : 0.0);
    }
    memcpy(s, rot, (size_t)m * sizeof *s);
    return split_runs(x, s, u, 0, m, tol, stack);
}

/* Step 6, fixed K: the paper's pooled 1-D K-means. */
static int snap_fixed(double *x, int m, int k, ct_error *err)
{
    ct_kmeans_params p;
    ct_kmeans_params_init(&p);
    p.k = k < m ? k : m;
    for (int t = 0; t < m; t++) x[t] = ct_wrap01(x[t]);
    ct_kmeans_result r;
    int rc = ct_kmeans(x, m, 1, &p, &r, err);
    if (rc != CT_OK) return -1;
    for (int t = 0; t < m; t++) x[t] = r.centroids[r.labels[t]];
    k = r.k;
    ct_kmeans_result_free(&r);
    return k;
}

static int cluster_coords(work *w, ct_error *err)
{
    int m = 3 * w->n;
    double *x = &w->xv[0][0];
    double *before = malloc((size_t)m * sizeof *before), *u = malloc((size_t)m * sizeof *u);
    tagged *s = malloc(2 * (size_t)m * sizeof *s);
    int *stack = malloc(2 * (size_t)m * sizeof *stack);
    if (!before || !u || !s || !stack) {
        free(before), free(u), free(s), free(stack);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    memcpy(before, x, (size_t)m * sizeof *x);
    memcpy(&w->xs[0][0], x, (size_t)m * sizeof *x);
    double tol = w->o->coord_sep * fmax(w->coord_se, CT_RECON_COORD_FLOOR);
    int k = w->o->k_coords ? snap_fixed(x, m, w->o->k_coords, err) : snap_runs(x, m, tol, s, s + m, u, stack);
    for (int t = 0; t < m; t++)
        w->d->snap_max = fmax(w->d->snap_max, fabs(wrap_half(x[t] - before[t])));
    free(before), free(u), free(s), free(stack);
    w->d->k_coords = k;
    return k < 0 ? CT_EINVAL : CT_OK;
}

/* The shortest distance between two of the n atoms at x (ignoring the
   ones marked dropped), and that pair. */
static double closest(const double cell[6], int n, const int *z, const double (*x)[3],
                      const unsigned char *dropped, int *pi, int *pj, ct_error *err)
{
    ct_structure *s = ct_structure_new(cell, n, z, x, err);
    if (!s) return -1;
    double best = INFINITY;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            if (dropped[i] || dropped[j]) continue;
            double d = ct_structure_distance(s, i, j);
            if (d < best) best = d, *pi = i, *pj = j;
        }
    ct_structure_free(s);
    return best;
}

/* Step 6b: no collision invented by the snap; same-element collisions
   merged, others fail the item. */
static int resolve_collisions(work *w, ct_error *err)
{
    double lim = w->o->min_distance;
    int n = w->n, i = 0, j = 0;
    unsigned char *dropped = calloc((size_t)n, 1);
    if (!dropped) return ct_fail(err, CT_ENOMEM, "out of memory");
    double d = closest(w->cell, n, w->z, (const double (*)[3])w->xv, dropped, &i, &j, err);
    if (d >= 0 && d < lim && w->d->snap_max > 0) {
        double before = closest(w->cell, n, w->z, (const double (*)[3])w->xs, dropped, &i, &j, err);
        if (before >= 0 && before > d) {
            memcpy(w->xv, w->xs, (size_t)n * sizeof *w->xv);
            w->d->snap_reverted = 1;
            d = before;
        } else {
            closest(w->cell, n, w->z, (const double (*)[3])w->xv, dropped, &i, &j, err);
        }
    }
    while (d >= 0 && d < lim) {
        if (w->z[i] != w->z[j]) {
            ct_fail(err, CT_EINVAL, "atoms %d (%s) and %d (%s) are %.3g Å apart, closer than %g Å",
                    i + 1, ct_element_symbol(w->z[i]), j + 1, ct_element_symbol(w->z[j]), d, lim);
            free(dropped);
            return CT_EINVAL;
        }
        dropped[j] = 1;
        w->d->merged++;
        d = closest(w->cell, n, w->z, (const double (*)[3])w->xv, dropped, &i, &j, err);
    }
    if (d < 0) {
        free(dropped);
        return CT_EINVAL;
    }
    int k = 0;
    for (int t = 0; t < n; t++)
        if (!dropped[t]) {
            w->slot[k] = w->slot[t], w->z[k] = w->z[t], w->zbar[k] = w->zbar[t];
            memcpy(w->xv[k], w->xv[t], sizeof w->xv[k]);
            k++;
        }
    w->n = k;
    w->d->min_distance = isinf(d) ? (double)NAN : d;   /* one atom: no pair */
    free(dropped);
    return CT_OK;
}

/* Table 2's ΣΔPDM/atom: the result's layer 0 against the tensor's. */
static int pdm_delta(work *w, const ct_structure *s, ct_error *err)
{
    int n = w->n;
    double *d = malloc((size_t)n * n * sizeof *d), sum = 0;
    if (!d) return ct_fail(err, CT_ENOMEM, "out of memory");
    ct_crystens_layer0(s, w->o->fractional, d);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            sum += fabs(d[(size_t)i * n + j] - ct_layout_block(&w->v, 0, w->slot[i], w->slot[j]));
    free(d);
    w->d->pdm_delta = sum / n;
    return CT_OK;
}

/* Step 7: spglib's view of the result; with symmetrize, its refined cell. */
static ct_structure *symmetry(work *w, ct_structure *s, ct_error *err)
{
    if (!w->o->symmetry && !w->o->symmetrize) return s;
    int sg = 0;
    if (ct_symmetry_spacegroup(s, w->o->symprec, &sg, NULL, NULL) != CT_OK) sg = 0;
    w->d->spacegroup_detected = sg;
    if (!w->o->symmetrize) return s;
    ct_symmetrized sym;
    if (ct_symmetry_refine(s, w->o->symprec, &sym, err) != CT_OK) {
        ct_structure_free(s);
        return NULL;
    }
    ct_structure *r = sym.cell;
    r->spacegroup = sym.number;
    sym.cell = NULL;
    ct_symmetrized_free(&sym);
    ct_structure_free(s);
    return r;
}

static ct_structure *build(work *w, ct_error *err)
{
    ct_structure *s = ct_structure_new(w->cell, w->n, w->z, (const double (*)[3])w->xv, err);
    if (!s) return NULL;
    s->spacegroup = w->d->spacegroup;
    if (pdm_delta(w, s, err) != CT_OK) {
        ct_structure_free(s);
        return NULL;
    }
    return symmetry(w, s, err);
}

static int work_alloc(work *w, ct_error *err)
{
    size_t ns = (size_t)ct_layout_slots(w->v.S);
    w->slot = malloc(ns * sizeof *w->slot);
    w->zbar = malloc(ns * sizeof *w->zbar);
    w->cbar = malloc(ns * sizeof *w->cbar);
    w->z = malloc(ns * sizeof *w->z);
    w->xh = malloc(ns * sizeof *w->xh);
    w->xv = malloc(ns * sizeof *w->xv);
    w->xs = malloc(ns * sizeof *w->xs);
    if (w->slot && w->zbar && w->cbar && w->z && w->xh && w->xv && w->xs) return CT_OK;
    return ct_fail(err, CT_ENOMEM, "out of memory");
}

ct_structure *ct_recon(const float *t, int size, const ct_recon_opts *o, ct_recon_diag *diag,
                       ct_error *err)
{
    ct_recon_diag local;
    if (!diag) diag = &local;
    memset(diag, 0, sizeof *diag);
    if (ct_layout_check_size(size, "CrysTens size", err) != CT_OK) return NULL;
    work w = {.v = {t, size}, .o = o, .d = diag};
    ct_structure *s = NULL;
    if (check_finite(&w.v, err) == CT_OK && work_alloc(&w, err) == CT_OK &&
        count_atoms(&w, err) == CT_OK && read_globals(&w, err) == CT_OK) {
        read_atoms(&w);
        vote(&w);
        if (cluster_species(&w, err) == CT_OK && cluster_coords(&w, err) == CT_OK &&
            (w.o->min_distance <= 0 || resolve_collisions(&w, err) == CT_OK))
            s = build(&w, err);
    }
    work_free(&w);
    return s;
}

/* A batch split over threads; every sample is independent. */
typedef struct {
    const float *t;
    int S;
    const ct_recon_opts *o;
    ct_structure **out;
    ct_recon_diag *diag;
    ct_error *errs;
} recon_job;

static void recon_share(void *ctx, size_t begin, size_t end)
{
    recon_job *job = ctx;
    size_t per = ct_layout_len(job->S);
    for (size_t i = begin; i < end && !ct_interrupted(); i++) {
        ct_error e;
        job->out[i] = ct_recon(job->t + i * per, job->S, job->o,
                               job->diag ? job->diag + i : NULL, job->errs ? job->errs + i : &e);
    }
}

long ct_recon_batch(const float *t, size_t n, int size, const ct_recon_opts *o,
                    ct_structure **out, ct_recon_diag *diag, ct_error *errs)
{
    for (size_t i = 0; i < n; i++) out[i] = NULL;
    recon_job job = {t, size, o, out, diag, errs};
    ct_parallel_for(n, ct_num_threads(n, 16), recon_share, &job);
    long ok = 0;
    for (size_t i = 0; i < n; i++) ok += out[i] != NULL;
    if (!ct_interrupted()) return ok;
    for (size_t i = 0; i < n; i++) ct_structure_free(out[i]), out[i] = NULL;
    return CT_EINTR;
}
