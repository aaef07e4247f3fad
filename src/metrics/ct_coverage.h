/*
 * ct_coverage.h - CDVAE's coverage metrics COV-R (recall) and COV-P
 * (precision) between generated and reference crystals, from their
 * structure and composition fingerprints (spec: metrics.md 4.5).
 *
 *     ct_coverage_set gen = {ngen, ds, dc, gen_s, gen_c, gen_ok};
 *     ct_coverage_set ref = {nref, ds, dc, ref_s, ref_c, NULL};
 *     ct_coverage_result r;
 *     if (ct_coverage(&gen, &ref, ngen, 0.4, 10, &r, &err) != CT_OK) ...
 *     printf("COV-R %.2f%%  COV-P %.2f%%\n", 100 * r.cov_r, 100 * r.cov_p);
 *
 * The fingerprints come in already as CDVAE compares them: the CrystalNN
 * site fingerprint averaged over sites (61 numbers, not scaled) and the
 * Magpie composition vector standardised with CompScaler (ct_magpie).
 * Any dimensions work, so tests and callers may substitute other vectors.
 *
 * With D_s, D_c the Euclidean distances of structure and composition
 * fingerprints, over generated g with fingerprints (ok[g] != 0) and
 * reference t with fingerprints:
 *   COV-R = #{t : min_g D_s <= δ_s and min_g D_c <= δ_c} / #refs used
 *   COV-P = #{g : min_t D_s <= δ_s and min_t D_c <= δ_c} / n_total
 * The minima are independent (the structure and the composition neighbour
 * may differ), and n_total counts every generated crystal, those without
 * fingerprints as misses, as in CDVAE's compute_cov.  AMSD/AMCD are the
 * means of the minima (precision ones over the generated with
 * fingerprints).  The work, O(ngen·nref·(ds + dc)), is split over threads.
 */
#ifndef CT_COVERAGE_H
#define CT_COVERAGE_H

#include <stddef.h>

#include "ct_common.h"

/* Fingerprints of n crystals: s is n × ds and c is n × dc, row-major;
   ok[i] == 0 marks a crystal without fingerprints (ok NULL: all have). */
typedef struct {
    size_t n;
    int ds, dc;
    const double *s;
    const double *c;
    const unsigned char *ok;
} ct_coverage_set;

typedef struct {
    double cov_r, cov_p;
    double amsd_r, amcd_r;     /* mean over references of the closest generated */
    double amsd_p, amcd_p;     /* mean over generated of the closest reference */
    size_t n_gen_used;         /* generated crystals with fingerprints */
    size_t n_ref_used;         /* references with fingerprints */
} ct_coverage_result;

/* Compute the coverage of ref by gen with thresholds delta_s, delta_c;
   n_total (>= gen->n) is the number of generated crystals COV-P divides
   by.  Fails when the dimensions differ, a value is not finite, or no
   reference or no generated crystal has fingerprints. */
int ct_coverage(const ct_coverage_set *gen, const ct_coverage_set *ref, size_t n_total,
                double delta_s, double delta_c, ct_coverage_result *out, ct_error *err);

#endif
