/*
 * ct_smact.h - compositional validity by the rules of SMACT 2.2, as the
 * CDVAE evaluation applies them (spec: metrics.md section 4.4), so that
 * crystens' "comp. valid" rates sit in the same table as published ones.
 *
 *     ct_error err;
 *     ct_smact *tab = ct_smact_load("/usr/share/crystens/smact", &err);
 *     int z[2] = {11, 17};
 *     int64_t count[2] = {4, 4};            // Na4Cl4: reduced to NaCl
 *     ct_smact_verdict v;
 *     if (ct_smact_valid(tab, 2, z, count, &v, &err) != CT_OK) ...
 *     printf("%s: %s\n", v > 0 ? "valid" : "invalid", ct_smact_verdict_name(v));
 *     ct_smact_free(tab);
 *
 * The rules, in order (after merging repeated elements, sorting by Z and
 * dividing the counts by their gcd):
 *   1. an element outside SMACT's table (Z > 103) makes the composition
 *      invalid (CDVAE's script raises there before any rule applies);
 *   2. one distinct element is valid;
 *   3. all elements in SMACT's metals list is valid (the alloy rule);
 *   4. otherwise some combination of SMACT oxidation states, one per
 *      element, must be charge-neutral with the reduced counts and pass
 *      the Pauling electronegativity test (a cation strictly less
 *      electronegative than each anion; a missing electronegativity passes
 *      or fails according to the first pair that meets it, exactly as
 *      SMACT 2.2's eneg_states_test under CDVAE's `except TypeError`).
 *
 * The search visits the combinations depth-first, skipping branches that
 * can no longer be charge-neutral or that already hold a failing pair (the
 * verdict is the same as the full cartesian product's; the tests check it
 * against that product).  The cap: after CT_SMACT_MAX_NODES (2^24) visited
 * partial combinations, about 0.2 s, it gives up with CT_SMACT_TOO_MANY,
 * which counts as invalid.  The charge bounds keep real compositions far
 * below it; it takes about a dozen elements whose states straddle zero and
 * whose charges cannot balance (F C2 N2 Si2 P2 S2 Cl2 Ge2 Br2 I2 Se2 As2).
 *
 * Data: ct_smact_load reads oxidation_states.txt and element_data.txt from
 * a folder (the project installs SMACT 2.2's under $(pkgdatadir)/smact).
 * Ownership: the table belongs to the caller (ct_smact_free); it is
 * read-only after loading, so threads may share it.
 */
#ifndef CT_SMACT_H
#define CT_SMACT_H

#include <stdint.h>

#include "ct_common.h"

/* Largest atomic number with a symbol (Og). */
#define CT_SMACT_MAXZ 118

/* Cap on the partial combinations one composition may visit. */
#define CT_SMACT_MAX_NODES ((long)1 << 24)

typedef struct ct_smact ct_smact;

/* Why a composition is valid (> 0) or invalid (< 0). */
typedef enum {
    CT_SMACT_SINGLE = 1,           /* one distinct element */
    CT_SMACT_ALLOY = 2,            /* every element is a metal */
    CT_SMACT_BALANCED = 3,         /* a neutral combination passes Pauling */
    CT_SMACT_UNBALANCED = -1,      /* no charge-neutral combination */
    CT_SMACT_ELECTRONEG = -2,      /* neutral combinations all fail Pauling */
    CT_SMACT_UNKNOWN = -3,         /* an element outside SMACT's table */
    CT_SMACT_TOO_MANY = -4         /* the search reached CT_SMACT_MAX_NODES */
} ct_smact_verdict;

/* Load SMACT's tables from dir/oxidation_states.txt and dir/element_data.txt. */
ct_smact *ct_smact_load(const char *dir, ct_error *err);

/* Release a table; NULL is a no-op. */
void ct_smact_free(ct_smact *tab);

/* Judge the composition of n (z[i], count[i]) pairs (any order, repeats
   summed, counts >= 1) and store the verdict in *verdict. */
int ct_smact_valid(const ct_smact *tab, int n, const int *z, const int64_t *count,
                   ct_smact_verdict *verdict, ct_error *err);

/* Return a short English name of a verdict ("alloy", "electronegativity"). */
const char *ct_smact_verdict_name(ct_smact_verdict v);

/* Return the number of SMACT oxidation states of element z and point
   *states at them (ascending); 0 for an element without any. */
int ct_smact_states(const ct_smact *tab, int z, const int **states);

/* Return the Pauling electronegativity of z in SMACT's table, NaN if none. */
double ct_smact_electroneg(const ct_smact *tab, int z);

/* Return non-zero if z is in SMACT's element table (1..103). */
int ct_smact_known(const ct_smact *tab, int z);

/* Return non-zero if z is in SMACT 2.2's metals list. */
int ct_smact_is_metal(int z);

/* Return the symbol of element z (1..118), or NULL. */
const char *ct_smact_symbol(int z);

/* Return the Z of the element symbol s[0..len) (case as written: "Na"), or 0. */
int ct_smact_symbol_z(const char *s, size_t len);

/* Parse a formula such as "NaCl2", "Fe3Al" or "Ga4 Te4" into at most max
   (z, count) pairs in order of appearance (repeats kept); *n gets the
   number.  Counts are positive integers; parentheses are not accepted. */
int ct_smact_parse_formula(const char *formula, int max, int *z, int64_t *count, int *n,
                           ct_error *err);

#endif
