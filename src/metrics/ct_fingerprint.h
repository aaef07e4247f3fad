/*
 * ct_fingerprint.h - the CDVAE structure fingerprint: matminer's
 * CrystalNNFingerprint.from_preset("ops") per site, averaged over sites
 * (SiteStatsFingerprint, stat "mean").
 *
 *     double fp[CT_FP_LEN]; ct_error err;
 *     if (ct_fingerprint_structure(s, fp, &err) == CT_OK)
 *         printf("%s = %g\n", ct_fingerprint_names[24], fp[24]);   // "octahedral CN_6"
 *
 * Layout (61 values): for CN = 1..24 the CrystalNN probability "wt CN_n",
 * then for CN <= 12 each motif order parameter of ct_op_motifs times that
 * probability, computed on the CN best neighbours.  An order parameter
 * pymatgen cannot compute (None) counts as 0.
 */
#ifndef CT_FINGERPRINT_H
#define CT_FINGERPRINT_H

#include "ct_structure.h"

#define CT_FP_LEN 61

/* Most atoms ct_fingerprint_structure takes: each site's neighbour search
   scans the cell, so the time grows as the square of the atoms (0.7 s for
   8000, 10 s for 30000, minutes for 100000). */
#define CT_FP_MAX_ATOMS 5000
/* The largest coordination number the fingerprint keeps. */
#define CT_FP_MAX_CN 24

/* matminer's feature labels, "wt CN_1", "sgl_bd CN_1", ... "wt CN_24". */
extern const char *const ct_fingerprint_names[CT_FP_LEN];

/* Compute the fingerprint of atom `site` (0-based). */
int ct_fingerprint_site(const ct_structure *s, int site, double out[CT_FP_LEN], ct_error *err);

/* Compute the mean of the site fingerprints over all atoms of s: the
   fingerprint CDVAE's coverage compares. */
int ct_fingerprint_structure(const ct_structure *s, double out[CT_FP_LEN], ct_error *err);

#endif
