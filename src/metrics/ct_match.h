/*
 * ct_match.h - a simplified StructureMatcher: are two crystals the same
 * structure?  For uniqueness among generated crystals and novelty against
 * a training set.
 *
 *     ct_match_opts o = CT_MATCH_DEFAULTS;
 *     int same;
 *     if (ct_match_structures(a, b, &o, &same, &err) != CT_OK) ...
 *
 *     size_t *cls = malloc(n * sizeof *cls), nclass;
 *     ct_match_unique(list, n, &o, cls, &nclass, &err);  // uniqueness = nclass / n
 *     unsigned char *novel = malloc(n);
 *     ct_match_novel(list, n, train, ntrain, &o, novel, &err);
 *
 * The rule (documented so numbers can be read; pymatgen's StructureMatcher
 * defaults ltol 0.2, stol 0.3, angle_tol 5°, scale on, but neither
 * primitive reduction nor supercells):
 *   1. the same number of atoms and the same count of every element (the
 *      same reduced composition at the same N; a supercell never matches);
 *   2. both cells Niggli-reduced (spglib); with scale on, b's lattice is
 *      scaled to a's volume;
 *   3. the lattices agree under one of the 48 signed permutations of b's
 *      reduced vectors (mirror images included, as StructureMatcher): each
 *      length ratio b/a within (1/(1+ltol), 1+ltol), as pymatgen's
 *      find_all_mappings, and each angle within angle_tol;
 *   4. for that setting there is an origin shift, taken as one atom of a's
 *      rarest element onto each atom of that element in b, after which
 *      every atom of a has its own atom of the same element in b within
 *      stol · (V_a / N)^(1/3) Å (greedy nearest assignment, distances in a's
 *      reduced lattice).
 * Against pymatgen 2022.11's StructureMatcher() on 438 pairs of
 * mp_20_biternary test crystals (same composition and N, plus shifted and
 * 0-30 % strained copies) the verdicts agreed on 427 (431 with
 * primitive_cell=False); most differences are strained copies pymatgen
 * still maps through another lattice setting.
 * Differences from pymatgen: no primitive-cell reduction or supercell
 * search, lattice settings only among signed permutations of the Niggli
 * vectors (a nearly degenerate Niggli cell may take other vectors and then
 * fail to match), the site test is a maximum over atoms rather than an RMS
 * after the best-fit translation.
 *
 * Ownership: prepared items belong to the caller (ct_match_item_free).
 * The list functions never keep their arguments; they spread work over
 * threads (ct_parallel) and poll ct_interrupted.
 */
#ifndef CT_MATCH_H
#define CT_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "ct_common.h"
#include "ct_structure.h"

typedef struct {
    double ltol;         /* fractional length tolerance */
    double stol;         /* site tolerance in units of (V/N)^(1/3) */
    double angle_tol;    /* degrees */
    int scale;           /* compare at equal volume */
} ct_match_opts;

#define CT_MATCH_DEFAULTS {0.2, 0.3, 5.0, 1}

/* One crystal prepared for matching: its Niggli cell and composition key. */
typedef struct ct_match_item ct_match_item;

/* Prepare s (copies what it needs). */
ct_match_item *ct_match_prepare(const ct_structure *s, ct_error *err);

/* Release an item; NULL is a no-op. */
void ct_match_item_free(ct_match_item *it);

/* Return 1 if the prepared items match by the rule above, else 0. */
int ct_match_items(const ct_match_item *a, const ct_match_item *b, const ct_match_opts *o);

/* Set *same to whether structures a and b match. */
int ct_match_structures(const ct_structure *a, const ct_structure *b, const ct_match_opts *o,
                        int *same, ct_error *err);

/* Group the n structures: cls[i] gets the index of the first structure
   that i matches (i itself when none before it does), *nclass the number
   of groups. */
int ct_match_unique(ct_structure *const *s, size_t n, const ct_match_opts *o, size_t *cls,
                    size_t *nclass, ct_error *err);

/* novel[i] = 1 when gen[i] matches none of the ntrain training structures. */
int ct_match_novel(ct_structure *const *gen, size_t ngen, ct_structure *const *train,
                   size_t ntrain, const ct_match_opts *o, unsigned char *novel, ct_error *err);

#endif
