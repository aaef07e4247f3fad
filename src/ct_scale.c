/*
 * ct_scale.c - per-quantity affine scaling of CrysTens tensors.
 */
#include <math.h>

#include "ct_layout.h"
#include "ct_scale.h"

const char *const ct_scale_names[CT_SCALE_NQ] = {
    "Z", "coord", "length", "angle", "sg", "dist", "delta", "column"
};

/* Quantity of each header row; -1 for the padding row. */
static const int header_q[CT_CRYSTENS_HEADER] = {
    CT_SCALE_Z, CT_SCALE_COORD, CT_SCALE_COORD, CT_SCALE_COORD,
    CT_SCALE_LENGTH, CT_SCALE_LENGTH, CT_SCALE_LENGTH,
    CT_SCALE_ANGLE, CT_SCALE_ANGLE, CT_SCALE_ANGLE, CT_SCALE_SG, -1
};

/* Mark the occupied slots of one tensor: the mean of the 8 Z copies of a
   slot against threshold. */
static void occupancy(const float *t, int S, double threshold, unsigned char *occ)
{
    ct_layout v = {t, S};
    for (int j = 0; j < ct_layout_slots(S); j++)
        occ[j] = ct_layout_mean(&v, CT_CRYSTENS_Z, j) > threshold;
}

/* The quantity of header row r: the padding row is one only with column. */
static int row_q(int r, int column)
{
    return r == CT_CRYSTENS_COLUMN && column ? CT_SCALE_COLUMN : header_q[r];
}

/* The quantity at (layer l, row r, column c), or -1 where nothing lives. */
static int quantity(int l, int r, int c, const unsigned char *occ, int column)
{
    int H = CT_CRYSTENS_HEADER;
    if (r < H && c < H) return -1;
    if (r < H) return occ[c - H] ? row_q(r, column) : -1;
    if (c < H) return occ[r - H] ? row_q(c, column) : -1;
    if (!occ[r - H] || !occ[c - H]) return -1;
    return l == 0 ? CT_SCALE_DIST : CT_SCALE_DELTA;
}

void ct_scale_coefficients(const ct_scale *sc, double *a, double *b)
{
    for (int q = 0; q < CT_SCALE_NQ; q++) {
        a[q] = (CT_SCALE_HI - CT_SCALE_LO) / (sc->max[q] - sc->min[q]);
        b[q] = CT_SCALE_LO - sc->min[q] * a[q];
    }
}

/* One tensor either way; the occupancy is read before anything is written,
   so in and out may be the same. */
static void map_one(const ct_scale *sc, const float *in, float *out, int inverse)
{
    int S = sc->size;
    unsigned char occ[CT_CRYSTENS_MAX_SIZE];
    double a[CT_SCALE_NQ], b[CT_SCALE_NQ];
    ct_scale_coefficients(sc, a, b);
    occupancy(in, S, inverse ? (CT_SCALE_EMPTY + CT_SCALE_LO) / 2 : 0.5, occ);
    for (int l = 0; l < CT_CRYSTENS_LAYERS; l++)
        for (int r = 0; r < S; r++)
            for (int c = 0; c < S; c++) {
                size_t k = ct_layout_index(S, l, r, c);
                int q = quantity(l, r, c, occ, sc->column);
                if (q < 0) out[k] = inverse ? 0.0f : (float)CT_SCALE_EMPTY;
                else if (inverse) out[k] = (float)(((double)in[k] - b[q]) / a[q]);
                else out[k] = (float)(a[q] * (double)in[k] + b[q]);
            }
}

void ct_scale_apply(const ct_scale *sc, const float *in, float *out, size_t n)
{
    size_t len = ct_layout_len(sc->size);
    for (size_t i = 0; i < n; i++) map_one(sc, in + i * len, out + i * len, 0);
}

void ct_scale_invert(const ct_scale *sc, const float *in, float *out, size_t n)
{
    size_t len = ct_layout_len(sc->size);
    for (size_t i = 0; i < n; i++) map_one(sc, in + i * len, out + i * len, 1);
}

int ct_scale_check_finite(const float *t, size_t n, int S, ct_error *err)
{
    size_t plane = ct_layout_plane(S), len = ct_layout_len(S);
    for (size_t i = 0; i < n * len; i++)
        if (!isfinite(t[i]))
            return ct_fail(err, CT_EINVAL, "tensor %zu holds %s at layer %zu, row %zu, column %zu",
                           i / len + 1, isnan(t[i]) ? "NaN" : "an infinite value",
                           i % len / plane + 1, i % plane / S + 1, i % S + 1);
    return CT_OK;
}

int ct_scale_check(const ct_scale *sc, ct_error *err)
{
    if (ct_layout_check_size(sc->size, "scaler size", err) != CT_OK) return CT_EINVAL;
    for (int q = 0; q < CT_SCALE_NQ; q++)
        if ((q != CT_SCALE_COLUMN || sc->column) &&
            (!isfinite(sc->min[q]) || !isfinite(sc->max[q]) || !(sc->min[q] < sc->max[q])))
            return ct_fail(err, CT_EINVAL, "scaler range of %s is not a finite min < max",
                           ct_scale_names[q]);
    return CT_OK;
}

/* Widen the running ranges by the present values of one tensor. */
static void fit_one(ct_scale *sc, const float *t, unsigned char *occ, int *any)
{
    int S = sc->size;
    occupancy(t, S, 0.5, occ);
    for (int l = 0; l < CT_CRYSTENS_LAYERS; l++)
        for (int r = 0; r < S; r++)
            for (int c = 0; c < S; c++) {
                int q = quantity(l, r, c, occ, sc->column);
                if (q < 0) continue;
                double v = t[ct_layout_index(S, l, r, c)];
                if (v < sc->min[q]) sc->min[q] = v;
                if (v > sc->max[q]) sc->max[q] = v;
                *any = 1;
            }
}

int ct_scale_fit(ct_scale *sc, const float *t, size_t n, int S, ct_error *err)
{
    if (ct_layout_check_size(S, "tensor size", err) != CT_OK) return CT_EINVAL;
    size_t len = ct_layout_len(S);
    if (!n) return ct_fail(err, CT_EINVAL, "no tensors (0 rows): nothing to fit");
    int rc = ct_scale_check_finite(t, n, S, err);
    if (rc != CT_OK) return rc;
    sc->size = S;
    for (int q = 0; q < CT_SCALE_NQ; q++) sc->min[q] = INFINITY, sc->max[q] = -INFINITY;
    unsigned char occ[CT_CRYSTENS_MAX_SIZE];
    sc->column = 0;
    for (size_t i = 0; i < n && !sc->column; i++) {
        const float *ti = t + i * len;
        occupancy(ti, S, 0.5, occ);
        for (int j = 0; j < ct_layout_slots(S) && !sc->column; j++)
            sc->column = occ[j] && ti[ct_layout_index(S, 0, CT_CRYSTENS_COLUMN,
                                                      CT_CRYSTENS_HEADER + j)] != 0;
    }
    int any = 0;
    for (size_t i = 0; i < n; i++) fit_one(sc, t + i * len, occ, &any);
    if (!any) return ct_fail(err, CT_EINVAL, "no tensor holds an atom: nothing to fit");
    for (int q = 0; q < CT_SCALE_NQ; q++) {
        if (isinf(sc->min[q])) sc->min[q] = sc->max[q] = 0;
        if (sc->max[q] - sc->min[q] < 1e-6) sc->min[q] -= 0.5, sc->max[q] += 0.5;
    }
    return CT_OK;
}
