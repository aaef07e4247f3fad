/*
 * ct_validity.h - structural validity as the CDVAE evaluation judges it
 * (spec: metrics.md 4.2-4.3): every pair of distinct sites at least 0.5 Å
 * apart (minimum image) and a cell volume of at least 0.1 Å³.
 *
 *     ct_error err;
 *     double dmin;
 *     int valid;
 *     if (ct_validity_structural(s, CT_VALIDITY_CUTOFF, &valid, &dmin, &err) != CT_OK) ...
 *     printf("%s, closest pair %.3f Å\n", valid ? "valid" : "invalid", dmin);
 *
 * The distance of a site to its own periodic images is not checked (a
 * one-atom cell with a 0.3 Å lattice vector passes unless its volume is
 * below 0.1 Å³), exactly as CDVAE's structure_validity.  Minimum images
 * are searched among the 27 neighbouring cells of the Niggli-reduced cell
 * (125 cells if spglib cannot reduce it), which is exact in a reduced
 * basis.  A crystal whose cell cannot be built (negative length, no volume)
 * is never a ct_structure: callers count it as invalid themselves.
 */
#ifndef CT_VALIDITY_H
#define CT_VALIDITY_H

#include "ct_common.h"
#include "ct_structure.h"

/* CDVAE's distance cutoff (Å) and smallest cell volume (Å³). */
#define CT_VALIDITY_CUTOFF 0.5
#define CT_VALIDITY_MIN_VOLUME 0.1

/* Set *valid to 1 when every distinct pair of s is at least cutoff apart
   and the volume is at least CT_VALIDITY_MIN_VOLUME, else 0; *min_distance
   (if non-NULL) gets the smallest pair distance (INFINITY for one atom). */
int ct_validity_structural(const ct_structure *s, double cutoff, int *valid,
                           double *min_distance, ct_error *err);

/* Return the smallest minimum-image distance between distinct atoms of s
   (INFINITY for one atom), or NAN with err set if memory runs out. */
double ct_validity_min_distance(const ct_structure *s, ct_error *err);

#endif
