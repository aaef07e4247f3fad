/*
 * ct_scale.h - the affine scaling between raw CrysTens values and what the
 * networks see (spec section 1, "Scaling for the networks").
 *
 * Raw values span very different ranges (Z up to ~94, lengths 2-30 Å,
 * angles 30-150°, SG up to 230), so every quantity gets its own affine map,
 * fitted on the training tensors:
 *
 *   quantity   where it lives
 *   Z          header row 0 (and column 0) of an occupied slot, 4 layers
 *   coord      header rows 1-3: x, y, z
 *   length     header rows 4-6: a, b, c
 *   angle      header rows 7-9: α, β, γ
 *   sg         header row 10
 *   dist       layer 0 between two occupied slots (diagonal included)
 *   delta      layers 1-3 between two occupied slots
 *   column     header row 11 of an occupied slot, only in tensors of the
 *              periodic species encoding (ct_crystens.h); elsewhere row 11
 *              is padding
 *
 * A present value v of quantity q becomes lo + (v - min_q)·(hi - lo)/
 * (max_q - min_q) with [lo, hi] = [-0.8, 1], min/max from the training set;
 * everything that carries no value (empty slots, the 12×12 corner, the
 * padding row) is held at EMPTY = -1.  The gap between -1 and -0.8 lets the
 * inverse tell an empty slot from an occupied one: a slot is occupied when
 * the mean of its 8 scaled Z copies is above -0.9.  The inverse maps
 * occupied entries back and writes 0 elsewhere, so scaling an encoded
 * tensor and scaling it back gives it again to float32 rounding.
 *
 * The constants are a handful of numbers (ct_scale), stored by the models in
 * every checkpoint's metadata.
 */
#ifndef CT_SCALE_H
#define CT_SCALE_H

#include <stddef.h>

#include "ct_common.h"

enum { CT_SCALE_Z, CT_SCALE_COORD, CT_SCALE_LENGTH, CT_SCALE_ANGLE, CT_SCALE_SG,
       CT_SCALE_DIST, CT_SCALE_DELTA, CT_SCALE_COLUMN, CT_SCALE_NQ };

#define CT_SCALE_LO (-0.8)
#define CT_SCALE_HI 1.0
#define CT_SCALE_EMPTY (-1.0)

typedef struct {
    int size;                    /* S of the tensors it was fitted on */
    double min[CT_SCALE_NQ];     /* raw range of each quantity */
    double max[CT_SCALE_NQ];
    int column;                  /* row 11 holds the periodic column (fitted on
                                    tensors whose occupied slots have one) */
} ct_scale;

/* Names of the quantities, in enum order ("Z", "coord", ...). */
extern const char *const ct_scale_names[CT_SCALE_NQ];

/* Fit sc on n raw tensors of 4×S×S at t.  A quantity that takes one value
   only gets a unit-wide range around it.  column is set when any occupied
   slot has a non-zero row 11.  NaN/Inf, or no occupied slot in
   the whole set, gives CT_EINVAL. */
int ct_scale_fit(ct_scale *sc, const float *t, size_t n, int S, ct_error *err);

/* CT_EINVAL naming the first NaN or infinite value of n tensors of 4×S×S
   (tensor, layer, row, column): the maps would silently drop an atom
   whose Z copies hold one. */
int ct_scale_check_finite(const float *t, size_t n, int S, ct_error *err);

/* Check the constants read back from a file: finite, min < max, S > 12
   (the column range only where column is set). */
int ct_scale_check(const ct_scale *sc, ct_error *err);

/* The affine maps themselves: scaled = a[q]·raw + b[q] for a present value
   of quantity q. */
void ct_scale_coefficients(const ct_scale *sc, double *a, double *b);

/* Raw → scaled, n tensors of 4×S×S from in to out (may be the same). */
void ct_scale_apply(const ct_scale *sc, const float *in, float *out, size_t n);

/* Scaled → raw, n tensors, in to out (may be the same). */
void ct_scale_invert(const ct_scale *sc, const float *in, float *out, size_t n);

#endif
