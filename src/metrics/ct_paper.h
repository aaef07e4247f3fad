/*
 * ct_paper.h - the paper's own quality measures of generated CrysTens
 * tensors (Alverson et al. 2024, Tables 1 and 2; spec section 3).
 *
 * A generated tensor repeats every value: each global value (a, b, c, α, β,
 * γ, space group) 8A times, each per-atom value 8 times, and each atom's
 * coordinates once more through the directional graphs.  How well a model
 * keeps the copies consistent is the paper's measure of whether it has
 * learnt the layout:
 *
 *   Table 1  var_lengths  variance of the 8A copies of a, of b and of c,
 *                         averaged over the three
 *            var_angles   the same for α, β, γ
 *            var_sg       variance of the 8A copies of the space group
 *            var_frac     variance of the 8 copies of each x, y, z, averaged
 *                         over atoms and axes
 *   Table 2  coord_agreement  mean |own coordinate - the coordinate the
 *                         directional graphs imply|, per atom and axis: atom
 *                         j's own x is the mean of its 8 copies, the implied
 *                         one the circular mean of x_i - Δx[i][j] over the
 *                         other atoms i (differences taken on the circle,
 *                         as coordinates are periodic)
 *            pdm_diff     Σ_j |d(i, j) - layer0(i, j)| per atom i, averaged
 *                         over atoms, d recomputed from the final crystal
 *                         (the reconstruction), in layer 0's units
 *
 * Each is computed per tensor and averaged over the tensors.  On an exact
 * tensor every measure is 0 to float32 precision.
 *
 * Atom count: the final crystal's when one is given, else the slots whose
 * averaged Z (8 copies) is at least 0.5.
 */
#ifndef CT_PAPER_H
#define CT_PAPER_H

#include "ct_common.h"
#include "ct_structure.h"

typedef struct {
    double var_lengths, var_angles, var_sg, var_frac;
    double coord_agreement;
    double pdm_diff;      /* NaN when no final crystal was given */
    int natoms;           /* 0: the tensor holds no atom (then all NaN) */
} ct_paper_row;

/* The measures of one 4×S×S tensor t (C order).  final (may be NULL) is
   its reconstruction; fractional says layer 0 holds fractional norms (the
   paper preset) rather than Å.  A tensor with a NaN or Inf in the slots it
   uses gives CT_EINVAL. */
int ct_paper_measures(const float *t, int S, const ct_structure *final, int fractional,
                      ct_paper_row *out, ct_error *err);

#endif
