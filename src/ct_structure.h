/*
 * ct_structure.h - a periodic crystal: a lattice and the atoms of one unit
 * cell.
 *
 *     ct_error err;
 *     double cell[6] = {5.64, 5.64, 5.64, 90, 90, 90};      // a, b, c, α, β, γ
 *     int z[2] = {11, 17};
 *     double frac[2][3] = {{0, 0, 0}, {0.5, 0.5, 0.5}};
 *     ct_structure *s = ct_structure_new(cell, 2, z, frac, &err);
 *     printf("%g Å³, %g g/cm³, d = %g Å\n", ct_structure_volume(s),
 *            ct_structure_density(s), ct_structure_distance(s, 0, 1));
 *     ct_structure_free(s);
 *
 * Conventions.  Lengths in Å, angles in degrees.  The lattice matrix holds
 * the cell vectors a, b, c as rows, in the standard crystallographic
 * orientation (a along x, b in the xy plane); it is always derived from the
 * six parameters, so the two never disagree.  Fractional coordinates are
 * wrapped into [0, 1) when a structure is made (a CIF's 1.0 becomes 0).
 *
 * Distances are minimum-image: the cell is Niggli-reduced (spglib) first and
 * the 27 images around the wrapped difference are searched in the reduced
 * basis, which is exact also for skewed cells where a search in the file's
 * basis misses the nearest image.
 *
 * Ownership: every ct_structure returned here belongs to the caller, who
 * releases it with ct_structure_free.  Functions never keep their arguments.
 */
#ifndef CT_STRUCTURE_H
#define CT_STRUCTURE_H

#include <stddef.h>

#include "ct_common.h"

/* The most atoms a structure may hold: far above any CrysTens size, low
   enough that a corrupt file cannot make us allocate gigabytes. */
#define CT_STRUCTURE_MAXATOMS 100000

typedef struct ct_structure {
    char *name;              /* the CIF data block name, or "" (owned) */
    double cell[6];          /* a, b, c (Å), alpha, beta, gamma (degrees) */
    double matrix[3][3];     /* rows: the vectors a, b, c in Å */
    int natoms;
    int *z;                  /* atomic numbers, natoms of them */
    double (*frac)[3];       /* fractional coordinates in [0, 1); both arrays
                                live in the structure's own allocation: change
                                their values, never the pointers */
    int spacegroup;          /* the group a decoded tensor stored, 1–230, else 0: what
                                the model wrote, not the crystal's symmetry */
    int declared_spacegroup; /* the number a CIF declared, else 0 */
    int spacegroup_found;    /* spglib's group at CT_SYMPREC as cached by
                                ct_symmetry_found: 1–230, -1 none, 0 not looked yet */
} ct_structure;

/* Make a structure; the cell must have positive lengths and volume, each z
   must be a known element, coordinates finite (they are wrapped). */
ct_structure *ct_structure_new(const double cell[6], int natoms, const int *z,
                               const double (*frac)[3], ct_error *err);

/* Make a deep copy of s. */
ct_structure *ct_structure_clone(const ct_structure *s, ct_error *err);

/* Release s.  NULL is a no-op. */
void ct_structure_free(ct_structure *s);

/* Replace s's name with a copy of name. */
int ct_structure_set_name(ct_structure *s, const char *name, ct_error *err);

/* Compute the lattice matrix (rows a, b, c) of cell parameters; fail with
   CT_EINVAL when the lengths are not positive or the angles give no volume. */
int ct_cell_to_matrix(const double cell[6], double m[3][3], ct_error *err);

/* Compute the six cell parameters of a lattice matrix (rows a, b, c). */
void ct_cell_from_matrix(const double m[3][3], double cell[6]);

/* Return the cell volume in Å³. */
double ct_structure_volume(const ct_structure *s);

/* Return the density in g/cm³. */
double ct_structure_density(const ct_structure *s);

/* Return the minimum-image distance between atoms i and j (0-based), in Å. */
double ct_structure_distance(const ct_structure *s, int i, int j);

/* Fill out (natoms × natoms, row-major) with all minimum-image distances. */
void ct_structure_distance_matrix(const ct_structure *s, double *out);

/* Return the shortest minimum-image distance (Å) between two distinct
   atoms of s and their indices (0-based, *i < *j); INFINITY, with -1s, for
   one atom. */
double ct_structure_closest_pair(const ct_structure *s, int *i, int *j);

/* Write the formula in Hill order (with carbon: C, H, then the rest
   alphabetically; without: all alphabetically, as CIF's _chemical_formula_sum
   wants) with explicit counts, "C6Cr1Cs1Mn1N6", into buf (truncated to
   size); return buf.  The order never depends on the order of the atoms. */
char *ct_structure_formula(const ct_structure *s, char *buf, size_t size);

/* Write the reduced formula, the counts divided by their greatest common
   divisor, in the same form: Ag4S8Sb4 gives "Ag1S2Sb1". */
char *ct_structure_reduced_formula(const ct_structure *s, char *buf, size_t size);

/* Return the same crystal in its Niggli-reduced cell (spglib), coordinates
   transformed and wrapped, atoms in the same order. */
ct_structure *ct_structure_niggli(const ct_structure *s, ct_error *err);

/* Sort the atoms of s by Z, then x, y, z: the canonical CrysTens order. */
int ct_structure_sort(ct_structure *s, ct_error *err);

/* Wrap a fractional coordinate into [0, 1). */
double ct_wrap01(double x);

#endif
