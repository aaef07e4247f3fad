/*
 * ct_symmetry.c - spglib behind crystens' error convention.
 *
 * spglib takes the lattice as columns (lattice[i][j] is component i of
 * vector j); ct_structure keeps rows, so every call transposes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spglib.h>

#include "ct_symmetry.h"

#define DEG (M_PI / 180.0)

/* Copy s's lattice into spglib's column layout. */
static void spg_lattice(const ct_structure *s, double cols[3][3])
{
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) cols[k][i] = s->matrix[i][k];
}

static int spg_failure(ct_error *err, const char *what)
{
    return ct_fail(err, CT_EINVAL, "spglib could not %s: %s", what,
                   spg_get_error_message(spg_get_error_code()));
}

/* s itself, or its Niggli-reduced copy (in *owned) when s is very flat:
   spglib 2.0's space-group search dereferences NULL on cells like γ = 1°
   (found by fuzzing), while the same lattice reduced is searched safely
   and has the same group.  Reduced cells have volume ≥ ~0.5·abc.  Cells
   longer than CT_SYMMETRY_MAX_LENGTH are refused: spglib's lattice search
   takes seconds on them (a = 6·10⁶ Å took 16 s, also found by fuzzing), and
   no crystal has such a cell; so are cells with a lattice translation
   shorter than CT_SYMMETRY_MIN_LENGTH (α = β = γ = 3° reduces to 0.16 Å
   vectors, another 16 s search), which no crystal has either. */
static const ct_structure *searchable(const ct_structure *s, ct_structure **owned,
                                      ct_error *err)
{
    *owned = NULL;
    if (s->natoms > CT_SYMMETRY_MAX_ATOMS) {
        ct_fail(err, CT_EINVAL, "a crystal of %d atoms is too large for a symmetry search (at "
                "most %d atoms)", s->natoms, CT_SYMMETRY_MAX_ATOMS);
        return NULL;
    }
    for (int k = 0; k < 3; k++)
        if (s->cell[k] > CT_SYMMETRY_MAX_LENGTH) {
            ct_fail(err, CT_EINVAL, "cell length %c = %g Å is too long for a symmetry search "
                    "(at most %g Å)", "abc"[k], s->cell[k], CT_SYMMETRY_MAX_LENGTH);
            return NULL;
        }
    const ct_structure *t = s;
    if (ct_structure_volume(s) < 0.2 * s->cell[0] * s->cell[1] * s->cell[2] &&
        !(t = *owned = ct_structure_niggli(s, err)))
        return NULL;
    for (int k = 0; k < 3; k++)
        if (t->cell[k] < CT_SYMMETRY_MIN_LENGTH) {
            ct_fail(err, CT_EINVAL, "the cell has a lattice translation of %g Å, too short "
                    "for a symmetry search (at least %g Å)", t->cell[k], CT_SYMMETRY_MIN_LENGTH);
            ct_structure_free(*owned);
            return *owned = NULL;
        }
    return t;
}

/* Run spglib's dataset search on s. */
static SpglibDataset *dataset_of(const ct_structure *s, double symprec, ct_error *err)
{
    if (!(symprec > 0)) {
        ct_fail(err, CT_EINVAL, "symprec must be positive, got %g", symprec);
        return NULL;
    }
    ct_structure *owned;
    const ct_structure *t = searchable(s, &owned, err);
    if (!t) return NULL;
    double cols[3][3];
    spg_lattice(t, cols);
    SpglibDataset *d = spg_get_dataset(cols, t->frac, t->z, t->natoms, symprec);
    ct_structure_free(owned);
    if (!d) spg_failure(err, "find the space group");
    return d;
}

int ct_symmetry_spacegroup(const ct_structure *s, double symprec, int *number,
                           char symbol[32], ct_error *err)
{
    if (!(symprec > 0)) return ct_fail(err, CT_EINVAL, "symprec must be positive, got %g", symprec);
    ct_error local;
    if (!err) err = &local;
    ct_structure *owned;
    const ct_structure *t = searchable(s, &owned, err);
    if (!t) return err->status;   /* bad input, or no memory for the reduced copy */
    double cols[3][3];
    char sym[11] = "";
    spg_lattice(t, cols);
    int n = spg_get_international(sym, cols, t->frac, t->z, t->natoms, symprec);
    ct_structure_free(owned);
    if (n <= 0) return spg_failure(err, "find the space group");
    *number = n;
    if (symbol) snprintf(symbol, 32, "%s", sym);
    return CT_OK;
}

int ct_symmetry_found(ct_structure *s)
{
    if (!s->spacegroup_found) {
        int n;
        s->spacegroup_found = ct_symmetry_spacegroup(s, CT_SYMPREC, &n, NULL, NULL) == CT_OK ? n : -1;
    }
    return s->spacegroup_found > 0 ? s->spacegroup_found : 0;
}

void ct_symmetrized_free(ct_symmetrized *sym)
{
    ct_structure_free(sym->cell);
    free(sym->rot);
    free(sym->trans);
    free(sym->asym);
    memset(sym, 0, sizeof *sym);
}

/* Build the conventional cell of dataset d as a ct_structure. */
static ct_structure *std_cell(const SpglibDataset *d, ct_error *err)
{
    double rows[3][3], cell[6];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) rows[i][k] = d->std_lattice[k][i];
    ct_cell_from_matrix(rows, cell);
    return ct_structure_new(cell, d->n_std_atoms, d->std_types,
                            (const double (*)[3])d->std_positions, err);
}

/* Pick one atom per orbit of the conventional cell. */
static int find_asym(ct_symmetrized *out, double symprec, ct_error *err)
{
    SpglibDataset *d = dataset_of(out->cell, symprec, err);
    if (!d) return CT_EINVAL;
    out->asym = malloc((size_t)d->n_atoms * sizeof *out->asym);
    if (!out->asym) {
        spg_free_dataset(d);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (int i = 0; i < d->n_atoms; i++)
        if (d->equivalent_atoms[i] == i) out->asym[out->nasym++] = i;
    spg_free_dataset(d);
    return CT_OK;
}

int ct_symmetry_refine(const ct_structure *s, double symprec, ct_symmetrized *out,
                       ct_error *err)
{
    memset(out, 0, sizeof *out);
    SpglibDataset *d = dataset_of(s, symprec, err);
    if (!d) return CT_EINVAL;
    SpglibSpacegroupType type = spg_get_spacegroup_type(d->hall_number);
    out->number = d->spacegroup_number;
    snprintf(out->hm, sizeof out->hm, "%s", type.international);
    out->cell = std_cell(d, err);
    int hall = d->hall_number;
    spg_free_dataset(d);
    if (!out->cell) return CT_EINVAL;
    out->rot = malloc(192 * sizeof *out->rot);
    out->trans = malloc(192 * sizeof *out->trans);
    if (!out->rot || !out->trans) {
        ct_symmetrized_free(out);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    out->nops = spg_get_symmetry_from_database(out->rot, out->trans, hall);
    out->cell->spacegroup = out->number;
    int rc = out->nops > 0 ? find_asym(out, symprec, err)
                           : spg_failure(err, "list the symmetry operations");
    if (rc != CT_OK) ct_symmetrized_free(out);
    return rc;
}

/* ---- In-place symmetrization ------------------------------------------------------------ */

/* The inverse of an integer matrix of determinant ±1 (a rotation of a
   space group in any lattice basis), by its adjugate. */
static void int_inverse(const int r[3][3], int inv[3][3])
{
    int det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) -
              r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0]) +
              r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int a = (j + 1) % 3, b = (j + 2) % 3, c = (i + 1) % 3, d = (i + 2) % 3;
            inv[i][j] = (r[a][c] * r[b][d] - r[a][d] * r[b][c]) * det;   /* det = ±1 */
        }
}

/* The 3×3 inverse of a real matrix (a lattice, rows a, b, c). */
static void real_inverse(const double m[3][3], double inv[3][3])
{
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                 m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int a = (j + 1) % 3, b = (j + 2) % 3, c = (i + 1) % 3, d = (i + 2) % 3;
            inv[i][j] = (m[a][c] * m[b][d] - m[a][d] * m[b][c]) / det;
        }
}

/* The length (Å) of the fractional difference d (a column) in the lattice
   m (rows), over its nearest lattice image: d is first wrapped into
   [-0.5, 0.5], then the 27 neighbouring images are tried, which is exact for
   reduced cells and a close bound for the rest.  *shift gets the lattice
   vector subtracted from d. */
static double image_distance(const double m[3][3], const double d[3], double shift[3])
{
    double w[3], best = INFINITY;
    for (int k = 0; k < 3; k++) w[k] = d[k] - nearbyint(d[k]);
    for (int a = -1; a <= 1; a++)
        for (int b = -1; b <= 1; b++)
            for (int c = -1; c <= 1; c++) {
                double f[3] = {w[0] + a, w[1] + b, w[2] + c}, x[3] = {0, 0, 0};
                for (int i = 0; i < 3; i++)
                    for (int k = 0; k < 3; k++) x[k] += f[i] * m[i][k];
                double len = sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
                if (len < best) {
                    best = len;
                    for (int k = 0; k < 3; k++) shift[k] = d[k] - f[k];
                }
            }
    return best;
}

/* spglib's operations on the cell it searched (t, which is s or s's
   Niggli-reduced copy) taken into s's basis: with s's fractional columns
   x = Q·x_t, an operation (R, τ) of t is (Q·R·Q⁻¹, Q·τ) on s. */
static void ops_to_basis(const ct_structure *s, const ct_structure *t, SpglibDataset *d)
{
    if (t == s) return;
    double inv[3][3];
    int q[3][3], qinv[3][3];
    real_inverse(s->matrix, inv);
    /* rows: t = P·s, so P = t·s⁻¹ and Q = Pᵀ */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double p = 0;
            for (int k = 0; k < 3; k++) p += t->matrix[i][k] * inv[k][j];
            q[j][i] = (int)lround(p);
        }
    int_inverse(q, qinv);
    for (int o = 0; o < d->n_operations; o++) {
        int rq[3][3], r[3][3];
        double tr[3] = {0, 0, 0};
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                rq[i][j] = 0;
                for (int k = 0; k < 3; k++) rq[i][j] += d->rotations[o][i][k] * qinv[k][j];
            }
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                r[i][j] = 0;
                for (int k = 0; k < 3; k++) r[i][j] += q[i][k] * rq[k][j];
                tr[i] += q[i][j] * d->translations[o][j];
            }
        memcpy(d->rotations[o], r, sizeof r);
        memcpy(d->translations[o], tr, sizeof tr);
    }
}

/* Fill acc (natoms × 3) with the sum over the operations of each atom's
   estimate from its image, and G with the sum of Rᵀ·G·R; fail when an
   operation does not map the atoms of each element one to one. */
static int average_images(const ct_structure *s, int nops, const int (*rots)[3][3],
                          const double (*trans)[3], double (*acc)[3], double g[3][3], int *used,
                          ct_error *err)
{
    int n = s->natoms;
    double g0[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            g0[i][j] = 0;
            for (int k = 0; k < 3; k++) g0[i][j] += s->matrix[i][k] * s->matrix[j][k];
        }
    memset(g, 0, 9 * sizeof(double));
    memset(acc, 0, (size_t)n * sizeof *acc);
    for (int o = 0; o < nops; o++) {
        const int (*r)[3] = rots[o];
        const double *tr = trans[o];
        int inv[3][3];
        int_inverse(r, inv);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 3; k++)
                    for (int l = 0; l < 3; l++) g[i][j] += r[k][i] * g0[k][l] * r[l][j];
        memset(used, 0, (size_t)n * sizeof *used);
        for (int i = 0; i < n; i++) {
            double y[3];   /* the image of atom i, near the atom it lands on */
            for (int k = 0; k < 3; k++)
                y[k] = r[k][0] * s->frac[i][0] + r[k][1] * s->frac[i][1] +
                       r[k][2] * s->frac[i][2] + tr[k];
            int best = -1;
            double bestd = INFINITY, bests[3] = {0, 0, 0};
            for (int j = 0; j < n; j++) {
                if (s->z[j] != s->z[i]) continue;
                double dd[3] = {y[0] - s->frac[j][0], y[1] - s->frac[j][1], y[2] - s->frac[j][2]};
                double sh[3], len = image_distance(s->matrix, dd, sh);
                if (len < bestd) {
                    bestd = len, best = j;
                    memcpy(bests, sh, sizeof sh);
                }
            }
            if (used[best]++)
                return ct_fail(err, CT_EINVAL, "symmetry operation %d does not map the atoms "
                               "one to one (atoms %d and another land on atom %d)",
                               o + 1, i + 1, best + 1);
            /* x_j plus the lattice vector taking it next to y, carried back by
               the inverse operation: an estimate of x_i itself, unwrapped */
            double back[3];
            for (int k = 0; k < 3; k++) back[k] = s->frac[best][k] + bests[k] - tr[k];
            for (int k = 0; k < 3; k++)
                acc[i][k] += inv[k][0] * back[0] + inv[k][1] * back[1] + inv[k][2] * back[2];
        }
    }
    return CT_OK;
}

/* s with every atom moved to the mean of its images under the nops
   operations (in s's basis) and the metric averaged over their rotations;
   info gets the moves. */
static ct_structure *average(const ct_structure *s, int nops, const int (*rots)[3][3],
                             const double (*trans)[3], ct_symmetrize_info *info, ct_error *err)
{
    int n = s->natoms;
    double (*acc)[3] = malloc((size_t)n * sizeof *acc);
    int *used = malloc((size_t)n * sizeof *used);
    ct_structure *out = NULL;
    double g[3][3];
    if (!acc || !used) ct_fail(err, CT_ENOMEM, "out of memory");
    else if (average_images(s, nops, rots, trans, acc, g, used, err) == CT_OK) {
        double k = 1.0 / nops, cell[6];
        for (int i = 0; i < 3; i++) cell[i] = sqrt(g[i][i] * k);
        cell[3] = acos(fmax(-1, fmin(1, g[1][2] * k / (cell[1] * cell[2])))) / DEG;
        cell[4] = acos(fmax(-1, fmin(1, g[0][2] * k / (cell[0] * cell[2])))) / DEG;
        cell[5] = acos(fmax(-1, fmin(1, g[0][1] * k / (cell[0] * cell[1])))) / DEG;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) acc[i][c] *= k;
        out = ct_structure_new(cell, n, s->z, (const double (*)[3])acc, err);
        if (out && ct_structure_set_name(out, s->name ? s->name : "", err) != CT_OK) {
            ct_structure_free(out);
            out = NULL;
        }
    }
    if (out) {
        out->spacegroup = s->spacegroup;
        out->declared_spacegroup = s->declared_spacegroup;
        info->nops = nops;
        for (int i = 0; i < n; i++) {
            double dd[3], sh[3];
            for (int c = 0; c < 3; c++) dd[c] = acc[i][c] - s->frac[i][c];
            info->max_move = fmax(info->max_move, image_distance(out->matrix, dd, sh));
        }
        for (int c = 0; c < 3; c++) {
            info->max_length = fmax(info->max_length, fabs(out->cell[c] - s->cell[c]));
            info->max_angle = fmax(info->max_angle, fabs(out->cell[3 + c] - s->cell[3 + c]));
        }
    }
    free(acc);
    free(used);
    return out;
}

ct_structure *ct_symmetry_symmetrize(const ct_structure *s, double symprec,
                                     ct_symmetrize_info *info, ct_error *err)
{
    ct_symmetrize_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    if (!(symprec > 0)) {
        ct_fail(err, CT_EINVAL, "symprec must be positive, got %g", symprec);
        return NULL;
    }
    ct_structure *owned;
    const ct_structure *t = searchable(s, &owned, err);
    if (!t) return NULL;
    double cols[3][3];
    spg_lattice(t, cols);
    SpglibDataset *d = spg_get_dataset(cols, t->frac, t->z, t->natoms, symprec);
    if (!d || d->n_operations < 1) {
        if (d) spg_free_dataset(d);
        ct_structure_free(owned);
        spg_failure(err, "find the space group");
        return NULL;
    }
    ops_to_basis(s, t, d);
    ct_structure_free(owned);
    ct_structure *out = average(s, d->n_operations, (const int (*)[3][3])d->rotations,
                                (const double (*)[3])d->translations, info, err);
    if (out) {
        info->number = d->spacegroup_number;
        snprintf(info->symbol, sizeof info->symbol, "%s", d->international_symbol);
        if (d->n_operations <= CT_SYMMETRY_MAX_OPS) {
            memcpy(info->rot, d->rotations, (size_t)d->n_operations * sizeof info->rot[0]);
            memcpy(info->trans, d->translations, (size_t)d->n_operations * sizeof info->trans[0]);
        }
    }
    spg_free_dataset(d);
    return out;
}

ct_structure *ct_symmetry_symmetrize_ops(const ct_structure *s, int nops,
                                         const int (*rot)[3][3], const double (*trans)[3],
                                         ct_symmetrize_info *info, ct_error *err)
{
    ct_symmetrize_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    if (nops < 1 || nops > CT_SYMMETRY_MAX_OPS) {
        ct_fail(err, CT_EINVAL, "a symmetrization needs 1 to %d operations, got %d",
                CT_SYMMETRY_MAX_OPS, nops);
        return NULL;
    }
    for (int o = 0; o < nops; o++) {
        const int (*r)[3] = rot[o];
        int det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) -
                  r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0]) +
                  r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
        if (det != 1 && det != -1) {
            ct_fail(err, CT_EINVAL, "operation %d: a rotation of determinant %d (±1 expected)",
                    o + 1, det);
            return NULL;
        }
        for (int k = 0; k < 3; k++)
            if (!isfinite(trans[o][k])) {
                ct_fail(err, CT_EINVAL, "operation %d: a translation that is not finite", o + 1);
                return NULL;
            }
    }
    ct_structure *out = average(s, nops, rot, trans, info, err);
    if (out) {
        memcpy(info->rot, rot, (size_t)nops * sizeof info->rot[0]);
        memcpy(info->trans, trans, (size_t)nops * sizeof info->trans[0]);
    }
    return out;
}
