/*
 * ct_symmetry.c - spglib behind crystens' error convention.
 *
 * spglib takes the lattice as columns (lattice[i][j] is component i of
 * vector j); ct_structure keeps rows, so every call transposes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spglib.h>

#include "ct_symmetry.h"

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
