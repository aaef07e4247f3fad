/*
 * ct_fingerprint.c - matminer's CrystalNNFingerprint "ops" preset on top
 * of ct_crystalnn and ct_orderparams.
 */
#include <math.h>
#include <string.h>

#include "ct_crystalnn.h"
#include "ct_fingerprint.h"
#include "ct_orderparams.h"

const char *const ct_fingerprint_names[CT_FP_LEN] = {
    "wt CN_1", "sgl_bd CN_1",
    "wt CN_2", "L-shaped CN_2", "water-like CN_2", "bent 120 degrees CN_2",
    "bent 150 degrees CN_2", "linear CN_2",
    "wt CN_3", "trigonal planar CN_3", "trigonal non-coplanar CN_3", "T-shaped CN_3",
    "wt CN_4", "square co-planar CN_4", "tetrahedral CN_4", "rectangular see-saw-like CN_4",
    "see-saw-like CN_4", "trigonal pyramidal CN_4",
    "wt CN_5", "pentagonal planar CN_5", "square pyramidal CN_5", "trigonal bipyramidal CN_5",
    "wt CN_6", "hexagonal planar CN_6", "octahedral CN_6", "pentagonal pyramidal CN_6",
    "wt CN_7", "hexagonal pyramidal CN_7", "pentagonal bipyramidal CN_7",
    "wt CN_8", "body-centered cubic CN_8", "hexagonal bipyramidal CN_8",
    "wt CN_9", "q2 CN_9", "q4 CN_9", "q6 CN_9",
    "wt CN_10", "q2 CN_10", "q4 CN_10", "q6 CN_10",
    "wt CN_11", "q2 CN_11", "q4 CN_11", "q6 CN_11",
    "wt CN_12", "cuboctahedral CN_12", "q2 CN_12", "q4 CN_12", "q6 CN_12",
    "wt CN_13", "wt CN_14", "wt CN_15", "wt CN_16", "wt CN_17", "wt CN_18",
    "wt CN_19", "wt CN_20", "wt CN_21", "wt CN_22", "wt CN_23", "wt CN_24",
};

/* Append the motif values of coordination number cn, weighted by wt. */
static int motif_entries(const ct_crystalnn *nn, int cn, double wt, double *out)
{
    double r[CT_OP_MAX_CN][3], v[CT_OP_MAX_PER_CN];
    int count = 0;
    for (int i = 0; i < CT_OP_NMOTIFS; i++) count += ct_op_motifs[i].cn == cn;
    if (wt == 0) {
        memset(out, 0, (size_t)count * sizeof *out);
        return count;
    }
    for (int i = 0; i < cn; i++)
        for (int c = 0; c < 3; c++) r[i][c] = nn->nbr[i].pos[c] - nn->centre[c];
    ct_order_parameters(cn, (const double (*)[3])r, v);
    for (int i = 0; i < count; i++) out[i] = isnan(v[i]) ? 0.0 : wt * v[i];
    return count;
}

int ct_fingerprint_site(const ct_structure *s, int site, double out[CT_FP_LEN], ct_error *err)
{
    ct_crystalnn nn;
    int rc = ct_crystalnn_site(s, site, &nn, err);
    if (rc != CT_OK) {
        ct_crystalnn_free(&nn);
        return rc;
    }
    int k = 0;
    for (int cn = 1; cn <= CT_FP_MAX_CN; cn++) {
        double wt = cn <= nn.max_cn ? nn.cn_weight[cn] : 0.0;
        out[k++] = wt;
        if (cn <= CT_OP_MAX_CN) k += motif_entries(&nn, cn, wt, out + k);
    }
    ct_crystalnn_free(&nn);
    return CT_OK;
}

int ct_fingerprint_structure(const ct_structure *s, double out[CT_FP_LEN], ct_error *err)
{
    double site_fp[CT_FP_LEN];
    memset(out, 0, CT_FP_LEN * sizeof *out);
    if (s->natoms > CT_FP_MAX_ATOMS)
        return ct_fail(err, CT_EINVAL, "a crystal of %d atoms is too large for a fingerprint "
                       "(at most %d atoms)", s->natoms, CT_FP_MAX_ATOMS);
    for (int i = 0; i < s->natoms; i++) {
        if (ct_interrupted()) return ct_fail(err, CT_EINTR, "interrupted");
        int rc = ct_fingerprint_site(s, i, site_fp, err);
        if (rc != CT_OK) return rc;
        for (int k = 0; k < CT_FP_LEN; k++) out[k] += site_fp[k];
    }
    for (int k = 0; k < CT_FP_LEN; k++) out[k] /= s->natoms;
    return CT_OK;
}
