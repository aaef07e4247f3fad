/*
 * ct_consist.h - the consistency projection: any 4×S×S tensor in the
 * networks' scaled units (ct_scale) onto the nearest tensor that a crystal
 * could have encoded, with its backward pass, so that a denoiser can take
 * its loss after it and can only ever emit consistent tensors.
 *
 * Why: the CrysTens tensor holds every per-atom value 8 times and every
 * global value 8A times, and its interatomic block follows from the header.
 * A plain U-Net never learns that redundancy (its bands disagree by tens of
 * Z and a quarter of a cell; reconstruction then averages unrelated
 * guesses).  Projecting after the network removes the disagreement by
 * construction; the loss taken after the projection trains the network for
 * what survives it.
 *
 *     unsigned char *occ = malloc(n * CT_CONSIST_STATE(S));
 *     ct_consist_forward(&sc, 0, x, y, occ, n);     // y = P(x)
 *     ...                                           // dL/dy into gy
 *     ct_consist_backward(&sc, occ, gy, gx, n);     // gx = J^T gy
 *
 * The projection, per tensor, in scaled units (spec section 1):
 *
 *  1. Per slot j and header row r = 0..10, m[r][j] is the mean of the 8
 *     copies (row r / column 12+j and row 12+j / column r, 4 layers).
 *  2. Slot j is occupied when m[0][j] > (EMPTY + LO) / 2 = -0.9, the rule the
 *     scaler's inverse uses, or when the caller says so (natoms below).  The
 *     decision is a step: no gradient flows through it.
 *  3. Z: all 8 copies of every slot, occupied or not, become m[0][j] (so a
 *     slot can be switched on or off by the gradient on its Z alone); where
 *     the caller gave the atom count, an empty slot's Z is EMPTY like the
 *     rest of it.
 *  4. Occupied slots: coordinate rows (and the periodic column where the
 *     scaler has one, ct_crystens.h) become m[r][j]; lattice and
 *     space-group rows become the mean of m[r][.] over the occupied slots
 *     (one cell per crystal); a padding row is EMPTY.
 *  5. Interatomic block between occupied slots i, j: layers 1-3 the scaled
 *     differences of the projected coordinates, a_Δ/a_x (m[k][i] - m[k][j])
 *     + b_Δ (exactly what encoding would write); layer 0 the distance of the
 *     projected atoms in the projected cell (minimum image in Å, or with
 *     fractional the original code's |Δfrac|), scaled.  Distances are a
 *     derived output: they pass no gradient back (stop-gradient), the
 *     coordinates learn through their copies and the difference layers.
 *     When the projected cell cannot be built (angles that close no cell),
 *     layer 0 is the symmetrised input instead (with its gradient).
 *  6. Everything else (empty slots' other rows, the 12×12 corner, blocks
 *     touching an empty slot) is EMPTY, constant.
 *
 * An exactly encoded and scaled tensor is a fixed point (to float32
 * rounding).  The projection is linear in x given the occupancy, except for
 * layer 0; the backward pass is the transpose of that linear map.
 */
#ifndef CT_CONSIST_H
#define CT_CONSIST_H

#include <stddef.h>

#include "ct_layout.h"
#include "ct_scale.h"

/* Bytes of state per tensor that the forward pass leaves for the backward
   one: S - 12 occupancy flags, whether layer 0 was derived and whether the
   occupancy was given. */
#define CT_CONSIST_STATE(S) ((size_t)(S) - CT_CRYSTENS_HEADER + 2)

/* y = P(x) for n tensors of 4×S×S (S = sc->size); x and y must not
   overlap.  state receives n × CT_CONSIST_STATE(S) bytes for the backward
   pass; fractional selects the layer-0 convention of the training data.
   natoms (NULL: step 2 decides) gives each tensor's atom count instead:
   slots 0..natoms[i]-1 are occupied, the rest empty, as encoding fills
   them.  A sampler that draws the count first (as CDVAE and DiffCSP do)
   needs this: while the noise is high a slot's Z estimate blends "empty"
   with an element and lies above the threshold of step 2 for nearly every
   slot, so step 2 alone fills them all.  clamp keeps every value of an
   occupied slot inside the range the training data spanned ([LO, HI]):
   for sampling, where a value outside it is a length below the shortest
   cell or a Z below hydrogen; training leaves it off, as a clamped value
   would pass no gradient. */
void ct_consist_forward(const ct_scale *sc, int fractional, int clamp, const float *x,
                        float *y, unsigned char *state, const int *natoms, size_t n);

/* gx = J^T gy, the gradient of P at the x whose forward pass wrote state.
   gy and gx must not overlap. */
void ct_consist_backward(const ct_scale *sc, const unsigned char *state, const float *gy,
                         float *gx, size_t n);

/* Per-slot views for networks that work on atoms rather than pixels (the
   "atoms" diffusion preset): a tensor's S - 12 slots as a sequence.

   ct_consist_gather writes, for n tensors of 4×S×S, n × CT_CONSIST_FEATURES
   × (S - 12) values: per slot j the means of the 8 copies of header rows
   0..11, then per layer the mean of row 12+j and of column 12+j over the
   interatomic block.  For Gaussian noise of equal variance on every copy
   the copies' mean is all a denoiser can use of them; the block means carry
   the difference layers' (and distances') view of each atom.

   ct_consist_scatter writes n × CT_CONSIST_OUTPUTS × (S - 12) per-slot values
   (header rows 0..11) into all 8 copies of each, zeros elsewhere; its
   backward sums the 8 copies' gradients. */
#define CT_CONSIST_FEATURES (CT_CRYSTENS_HEADER + 2 * CT_CRYSTENS_LAYERS)
#define CT_CONSIST_OUTPUTS CT_CRYSTENS_HEADER

void ct_consist_gather(int S, const float *x, float *feat, size_t n);

void ct_consist_scatter(int S, const float *tok, float *y, size_t n);
void ct_consist_scatter_backward(int S, const float *gy, float *gtok, size_t n);

#endif
