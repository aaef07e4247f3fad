/*
 * ct_crystalnn.h - pymatgen's CrystalNN near-neighbour algorithm (Pan,
 * Ganose, Horton, Aykol, Persson, Zimmermann, Jain, Inorg. Chem. 2021) with
 * the settings matminer's CrystalNNFingerprint uses: cation_anion off,
 * distance_cutoffs (0.5, 1.0), x_diff_weight 3, porous_adjustment on,
 * search_cutoff 7 Å.
 *
 *     ct_crystalnn nn; ct_error err;
 *     if (ct_crystalnn_site(s, 0, &nn, &err) == CT_OK) {
 *         for (int cn = 0; cn <= nn.max_cn; cn++)
 *             if (nn.cn_weight[cn] > 0) printf("P(CN=%d) = %g\n", cn, nn.cn_weight[cn]);
 *         ct_crystalnn_free(&nn);
 *     }
 *
 * For coordination number cn with cn_weight[cn] > 0, the neighbours are
 * nbr[0 .. cn-1]: the neighbours are sorted by weight, best first, and a CN
 * level takes every neighbour at or above its weight.
 *
 * Element data (pymatgen 2022.11): Pauling electronegativity (Element.X,
 * NaN for He, Ne, Ar) and the Cordero covalent radius, or the atomic
 * radius where pymatgen has no covalent one.  Bk..Lr have neither, so
 * pymatgen fails on them, and so does ct_crystalnn_site.
 */
#ifndef CT_CRYSTALNN_H
#define CT_CRYSTALNN_H

#include "ct_structure.h"

/* pymatgen's search_cutoff: the first radius for Voronoi neighbours, Å. */
#define CT_CRYSTALNN_CUTOFF 7.0

typedef struct {
    int site;          /* atom index in the structure */
    double pos[3];     /* Cartesian position of the periodic image, Å */
    double dist;       /* distance from the centre, Å */
    double weight;     /* final weight, rounded to 3 decimals, in (0, 1] */
} ct_crystalnn_neighbor;

typedef struct {
    double centre[3];               /* Cartesian position of the site */
    int nn;                         /* neighbours with non-zero weight */
    ct_crystalnn_neighbor *nbr;     /* nn of them, by weight, best first */
    int max_cn;                     /* cn_weight has max_cn + 1 entries */
    double *cn_weight;              /* probability of each CN 0..max_cn */
} ct_crystalnn;

/* Run CrystalNN for atom `site` of s and fill *out (free with
   ct_crystalnn_free, also after a failure). */
int ct_crystalnn_site(const ct_structure *s, int site, ct_crystalnn *out, ct_error *err);

/* Release what out holds and empty it. */
void ct_crystalnn_free(ct_crystalnn *out);

/* pymatgen's Pauling electronegativity of element z (NaN if none). */
double ct_crystalnn_electronegativity(int z);

/* The radius CrystalNN adds up for element z without oxidation state, Å
   (NaN if pymatgen has none). */
double ct_crystalnn_radius(int z);

#endif
