/*
 * ct_magpie.h - the Magpie composition fingerprint of the CDVAE evaluation
 * (matminer's ElementProperty.from_preset("magpie"), spec: metrics.md 4.5):
 * 22 element properties × 6 statistics = 132 numbers, then standardised
 * with CDVAE's fixed CompScaler constants.
 *
 *     ct_error err;
 *     ct_magpie *mp = ct_magpie_load("/usr/share/crystens/magpie", &err);
 *     double fp[CT_MAGPIE_DIM];
 *     int z[2] = {11, 17};
 *     double amount[2] = {1, 1};
 *     ct_magpie_features(mp, 2, z, amount, fp, &err);   // raw, NaN kept
 *     ct_magpie_scale(mp, fp);                          // (x - mean) / std, NaN -> 0
 *     ct_magpie_free(mp);
 *
 * Layout: property-major, in the order of CT_MAGPIE_PROPERTIES (Number,
 * MendeleevNumber, ..., SpaceGroupNumber), each with minimum, maximum,
 * range, mean, avg_dev, mode.  Weights are the element amounts.  minimum,
 * maximum and range ignore the weights; avg_dev is the weighted mean of
 * |x - weighted mean|; mode is the value of the element with the largest
 * amount, the smallest such value on ties (numpy.isclose).  A missing
 * table value ("Missing") makes every statistic that touches it NaN, as in
 * matminer 0.7.3 (no imputation).
 *
 * Data: ct_magpie_load reads dir/<Property>.table (matminer's files, one
 * value per line from Z = 1) and dir/cdvae_comp_scaler.csv (index,mean,std).
 * Ownership: the table belongs to the caller (ct_magpie_free); read-only
 * after loading, so threads may share it.
 */
#ifndef CT_MAGPIE_H
#define CT_MAGPIE_H

#include "ct_common.h"
#include "ct_structure.h"

#define CT_MAGPIE_NPROP 22
#define CT_MAGPIE_NSTAT 6
#define CT_MAGPIE_DIM (CT_MAGPIE_NPROP * CT_MAGPIE_NSTAT)
/* Rows read from each table (SpaceGroupNumber's 118; the others have 112). */
#define CT_MAGPIE_MAXZ 118

typedef struct ct_magpie ct_magpie;

/* The property names, in fingerprint order (also the table file names). */
extern const char *const CT_MAGPIE_PROPERTIES[CT_MAGPIE_NPROP];

/* Load the 22 tables and the scaler from dir. */
ct_magpie *ct_magpie_load(const char *dir, ct_error *err);

/* Release a table; NULL is a no-op. */
void ct_magpie_free(ct_magpie *mp);

/* Return property p (0-based) of element z, NaN when missing or beyond the table. */
double ct_magpie_value(const ct_magpie *mp, int p, int z);

/* Compute the raw 132 features of n (z[i], amount[i]) pairs (distinct
   elements, amounts > 0); CT_EINVAL for an element beyond the tables. */
int ct_magpie_features(const ct_magpie *mp, int n, const int *z, const double *amount,
                       double out[CT_MAGPIE_DIM], ct_error *err);

/* Standardise v in place with CDVAE's CompScaler: (v - mean) / std, then
   NaN -> 0. */
void ct_magpie_scale(const ct_magpie *mp, double v[CT_MAGPIE_DIM]);

/* The scaled fingerprint of the composition of s (atoms counted per element). */
int ct_magpie_structure(const ct_magpie *mp, const ct_structure *s, double out[CT_MAGPIE_DIM],
                        ct_error *err);

#endif
