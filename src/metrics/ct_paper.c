/*
 * ct_paper.c - Tables 1 and 2 of the paper, per tensor.
 */
#include <math.h>
#include <stdlib.h>

#include "ct_crystens.h"
#include "ct_layout.h"
#include "ct_paper.h"

/* Mean and population variance of the 8 copies of header row r for slot j. */
static void copies(const ct_layout *v, int r, int j, double *mean, double *var)
{
    double x[CT_CRYSTENS_COPIES], s = 0, ss = 0;
    ct_layout_read(v, r, j, x);
    for (int k = 0; k < CT_CRYSTENS_COPIES; k++) s += x[k];
    *mean = s / CT_CRYSTENS_COPIES;
    for (int k = 0; k < CT_CRYSTENS_COPIES; k++) ss += (x[k] - *mean) * (x[k] - *mean);
    *var = ss / CT_CRYSTENS_COPIES;
}

/* Variance of all 8A copies of a global header row r. */
static double global_var(const ct_layout *v, int r, int A)
{
    double s = 0, ss = 0, x[CT_CRYSTENS_COPIES];
    for (int j = 0; j < A; j++) {
        ct_layout_read(v, r, j, x);
        for (int l = 0; l < CT_CRYSTENS_LAYERS; l++) s += x[2 * l] + x[2 * l + 1];
    }
    double mean = s / ((double)CT_CRYSTENS_COPIES * A);
    for (int j = 0; j < A; j++) {
        ct_layout_read(v, r, j, x);
        for (int l = 0; l < CT_CRYSTENS_LAYERS; l++) {
            double a = x[2 * l] - mean, b = x[2 * l + 1] - mean;
            ss += a * a + b * b;
        }
    }
    return ss / ((double)CT_CRYSTENS_COPIES * A);
}

/* Distance between two fractional coordinates on the circle. */
static double circ_dist(double a, double b)
{
    double d = fabs(a - b);
    d -= floor(d);
    return d < 0.5 ? d : 1 - d;
}

/* Mean |own - implied| over atoms and axes, the implied coordinate of atom j
   on axis k being the circular mean of x_i - Δ[i][j] over all atoms i. */
static double coord_agreement(const ct_layout *v, int A)
{
    double total = 0;
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < A; j++) {
            double own, var, cs = 0, sn = 0;
            copies(v, CT_CRYSTENS_X + k, j, &own, &var);
            for (int i = 0; i < A; i++) {
                double own_i, var_i;
                copies(v, CT_CRYSTENS_X + k, i, &own_i, &var_i);
                double g = own_i - ct_layout_block(v, 1 + k, i, j);
                cs += cos(2 * M_PI * g), sn += sin(2 * M_PI * g);
            }
            total += circ_dist(own, atan2(sn, cs) / (2 * M_PI));
        }
    return total / (3.0 * A);
}

/* Σ_j |d(i,j) - layer0(i,j)| per atom of final, averaged over its atoms. */
static int pdm_diff(const ct_layout *v, const ct_structure *final, int fractional, double *out,
                    ct_error *err)
{
    int n = final->natoms;
    double *d = malloc((size_t)n * n * sizeof *d);
    if (!d) return ct_fail(err, CT_ENOMEM, "out of memory");
    ct_crystens_layer0(final, fractional, d);
    double total = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            total += fabs(d[(size_t)i * n + j] - ct_layout_block(v, 0, i, j));
    free(d);
    *out = total / n;
    return CT_OK;
}

/* Slots whose averaged Z copies reach 0.5, counted from the first. */
static int atom_count(const ct_layout *v)
{
    int A = 0;
    double z, var;
    while (A < ct_layout_slots(v->S) && (copies(v, CT_CRYSTENS_Z, A, &z, &var), z >= 0.5))
        A++;
    return A;
}

/* Every value the measures read is finite. */
static int finite_block(const ct_layout *v, int A)
{
    int end = CT_CRYSTENS_HEADER + A;
    for (int l = 0; l < CT_CRYSTENS_LAYERS; l++)
        for (int r = 0; r < end; r++)
            for (int c = 0; c < end; c++)
                if ((r >= CT_CRYSTENS_HEADER || c >= CT_CRYSTENS_HEADER) &&
                    !isfinite(ct_layout_at(v, l, r, c)))
                    return 0;
    return 1;
}

int ct_paper_measures(const float *t, int S, const ct_structure *final, int fractional,
                      ct_paper_row *out, ct_error *err)
{
    ct_layout v = {t, S};
    int A = final ? final->natoms : atom_count(&v);
    if (A > ct_layout_slots(S))
        return ct_fail(err, CT_EINVAL, "the crystal has %d atoms; a %d×%d tensor holds %d", A,
                       S, S, ct_layout_slots(S));
    *out = (ct_paper_row){NAN, NAN, NAN, NAN, NAN, NAN, A};
    if (A == 0) return CT_OK;
    if (!finite_block(&v, A))
        return ct_fail(err, CT_EINVAL, "the tensor holds NaN or Inf among its %d atoms", A);
    out->var_lengths = (global_var(&v, CT_CRYSTENS_A, A) + global_var(&v, CT_CRYSTENS_B, A) +
                        global_var(&v, CT_CRYSTENS_C, A)) / 3;
    out->var_angles = (global_var(&v, CT_CRYSTENS_ALPHA, A) +
                       global_var(&v, CT_CRYSTENS_BETA, A) +
                       global_var(&v, CT_CRYSTENS_GAMMA, A)) / 3;
    out->var_sg = global_var(&v, CT_CRYSTENS_SG, A);
    double vf = 0, mean, var;
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < A; j++) copies(&v, CT_CRYSTENS_X + k, j, &mean, &var), vf += var;
    out->var_frac = vf / (3.0 * A);
    out->coord_agreement = coord_agreement(&v, A);
    return final ? pdm_diff(&v, final, fractional, &out->pdm_diff, err) : CT_OK;
}
