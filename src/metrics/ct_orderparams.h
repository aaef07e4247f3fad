/*
 * ct_orderparams.h - local structure order parameters (Zimmermann et al.,
 * Front. Mater. 2017; pymatgen's LocalStructOrderParams) for the motifs of
 * matminer's CrystalNNFingerprint "ops" preset.
 *
 *     double r[6][3] = {{2,0,0}, {-2,0,0}, {0,2,0}, {0,-2,0}, {0,0,2}, {0,0,-2}};
 *     double v[CT_OP_MAX_PER_CN];
 *     int k = ct_order_parameters(6, r, v);   // hexagonal planar, octahedral,
 *                                             // pentagonal pyramidal: v[1] = 1
 *
 * Each motif is a pymatgen OP type with the parameters of pymatgen's
 * analysis/cn_opt_params.yaml, or of op_params.yaml where that file gives
 * none (a given parameter set replaces the defaults whole, as in pymatgen).
 * Neighbours are given as vectors from the central atom; the values do not
 * depend on their order or on a rotation of the set.
 */
#ifndef CT_ORDERPARAMS_H
#define CT_ORDERPARAMS_H

/* The largest coordination number with motif order parameters. */
#define CT_OP_MAX_CN 12
/* The most motifs one coordination number has (CN 2). */
#define CT_OP_MAX_PER_CN 5
/* Motifs over CN 1..12 together. */
#define CT_OP_NMOTIFS 37

typedef enum {
    CT_OP_SGL_BD, CT_OP_BENT, CT_OP_TRI_PLAN_MAX, CT_OP_TET_MAX, CT_OP_T, CT_OP_SQ_PLAN_MAX,
    CT_OP_SEE_SAW_RECT, CT_OP_TRI_BIPYR, CT_OP_TRI_PYR, CT_OP_PENT_PLAN_MAX, CT_OP_SQ_PYR,
    CT_OP_HEX_PLAN_MAX, CT_OP_OCT_MAX, CT_OP_PENT_PYR, CT_OP_HEX_PYR, CT_OP_PENT_BIPYR,
    CT_OP_BCC, CT_OP_HEX_BIPYR, CT_OP_Q2, CT_OP_Q4, CT_OP_Q6, CT_OP_CUBOCT_MAX
} ct_op_type;

/* One motif: its coordination number, matminer's name, the pymatgen type
   and parameters (pymatgen's names; angles in radians or in units of π as
   pymatgen has them; cuboct's numbered parameters are p2, p4, p5, p6). */
typedef struct {
    int cn;
    const char *name;
    ct_op_type type;
    double TA, IGW_TA, IGW_EP, IGW_SPP, min_SPP, w_SPP, fac_AA, exp_cos_AA;
    double p2, p4, p5, p6;
} ct_op_motif;

/* The 37 motifs in fingerprint order (by CN, then as matminer lists them). */
extern const ct_op_motif ct_op_motifs[CT_OP_NMOTIFS];

/* Compute the order parameter of motif m for a centre at the origin with n
   neighbours at r[0..n-1] (n <= CT_OP_MAX_CN, vectors non-zero).  Return
   the value, or NaN where pymatgen gives None (too few neighbours). */
double ct_order_parameter(const ct_op_motif *m, const double (*r)[3], int n);

/* Compute the order parameters of all motifs of coordination number n
   (1..12) for the n neighbours r, sharing the angle work between them;
   write them to out in ct_op_motifs order and return how many. */
int ct_order_parameters(int n, const double (*r)[3], double out[CT_OP_MAX_PER_CN]);

#endif
