/*
 * ct_consist.c - the consistency projection of scaled CrysTens tensors and
 * its transpose (see ct_consist.h for the steps).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_consist.h"
#include "ct_crystens.h"
#include "ct_layout.h"
#include "ct_structure.h"

#define NROWS CT_CRYSTENS_HEADER

/* Header rows that carry a value: Z .. SG, and the column where the
   periodic species encoding puts one in the padding row. */
static int nrows(const ct_scale *sc)
{
    return sc->column ? CT_CRYSTENS_COLUMN + 1 : CT_CRYSTENS_SG + 1;
}

/* One cell per crystal: the lattice and space-group rows are shared. */
static int global_row(int r)
{
    return r >= CT_CRYSTENS_A && r <= CT_CRYSTENS_SG;
}

static double sum8(const float *g, const size_t at[CT_CRYSTENS_COPIES])
{
    double s = 0;
    for (int k = 0; k < CT_CRYSTENS_COPIES; k++) s += (double)g[at[k]];
    return s;
}

static double mean8(const float *x, const size_t at[CT_CRYSTENS_COPIES])
{
    return sum8(x, at) / CT_CRYSTENS_COPIES;
}

/* Layer 0 of the occupied slots from the projected header (raw distances
   scaled); 0 if the cell closes no cell. */
static int derive_layer0(const ct_scale *sc, int fractional, const double (*m)[NROWS],
                         const int *slot, int n, const double *a, const double *b, float *y)
{
    int S = sc->size;
    double cell[6];
    for (int q = 0; q < 6; q++) {
        int r = CT_CRYSTENS_A + q, qq = q < 3 ? CT_SCALE_LENGTH : CT_SCALE_ANGLE;
        cell[q] = (m[slot[0]][r] - b[qq]) / a[qq];
    }
    int *z = malloc((size_t)n * sizeof *z);
    double (*f)[3] = malloc((size_t)n * sizeof *f);
    double *d = malloc((size_t)n * n * sizeof *d);
    int ok = 0;
    if (z && f && d) {
        for (int i = 0; i < n; i++) {
            z[i] = 1;   /* the species do not enter a distance */
            for (int k = 0; k < 3; k++)
                f[i][k] = (m[slot[i]][CT_CRYSTENS_X + k] - b[CT_SCALE_COORD]) / a[CT_SCALE_COORD];
        }
        ct_error err;
        ct_structure *s = ct_structure_new(cell, n, z, (const double (*)[3])f, &err);
        if (s) {
            ct_crystens_layer0(s, fractional, d);
            ct_structure_free(s);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    y[ct_layout_pair(S, 0, slot[i], slot[j])] =
                        (float)(a[CT_SCALE_DIST] * d[(size_t)i * n + j] + b[CT_SCALE_DIST]);
            ok = 1;
        }
    }
    free(z), free(f), free(d);
    return ok;
}

static void forward_one(const ct_scale *sc, int fractional, int clamp, const float *x,
                        float *y, unsigned char *state, int natoms)
{
    int S = sc->size, ns = ct_layout_slots(S);
    double a[CT_SCALE_NQ], b[CT_SCALE_NQ];
    ct_scale_coefficients(sc, a, b);
    double (*m)[NROWS] = malloc((size_t)ns * sizeof *m);
    int *slot = malloc((size_t)ns * sizeof *slot);
    if (!m || !slot) {   /* no memory for two small arrays: leave x as it is */
        memcpy(y, x, ct_layout_len(S) * sizeof *y);
        memset(state, 0, CT_CONSIST_STATE(S));
        state[ns + 1] = natoms >= 0;
        free(m), free(slot);
        return;
    }
    for (size_t k = 0; k < ct_layout_len(S); k++) y[k] = (float)CT_SCALE_EMPTY;
    int n = 0, nr = nrows(sc);
    double g[NROWS] = {0};
    for (int j = 0; j < ns; j++) {
        size_t at[CT_CRYSTENS_COPIES];
        for (int r = 0; r < nr; r++) {
            ct_layout_copies(S, r, j, at);
            m[j][r] = mean8(x, at);
        }
        state[j] = natoms >= 0 ? j < natoms : m[j][CT_CRYSTENS_Z] > (CT_SCALE_EMPTY + CT_SCALE_LO) / 2;
        if (state[j]) {
            slot[n++] = j;
            for (int r = CT_CRYSTENS_A; r <= CT_CRYSTENS_SG; r++) g[r] += m[j][r];
        }
    }
    for (int i = 0; i < n; i++)
        for (int r = CT_CRYSTENS_A; r <= CT_CRYSTENS_SG; r++) m[slot[i]][r] = g[r] / n;
    if (clamp)
        for (int i = 0; i < n; i++)
            for (int r = 0; r < nr; r++)
                m[slot[i]][r] = fmin(fmax(m[slot[i]][r], CT_SCALE_LO), CT_SCALE_HI);
    for (int j = 0; j < ns; j++) {
        size_t at[CT_CRYSTENS_COPIES];
        int rows = state[j] ? nr : natoms >= 0 ? 0 : 1;
        for (int r = 0; r < rows; r++) {
            ct_layout_copies(S, r, j, at);
            for (int k = 0; k < CT_CRYSTENS_COPIES; k++) y[at[k]] = (float)m[j][r];
        }
    }
    double c = a[CT_SCALE_DELTA] / a[CT_SCALE_COORD];
    for (int ii = 0; ii < n; ii++)
        for (int jj = 0; jj < n; jj++) {
            int i = slot[ii], j = slot[jj];
            for (int k = 0; k < 3; k++)
                y[ct_layout_pair(S, k + 1, i, j)] =
                    (float)(c * (m[i][CT_CRYSTENS_X + k] - m[j][CT_CRYSTENS_X + k]) + b[CT_SCALE_DELTA]);
        }
    int derived = n > 0 && derive_layer0(sc, fractional, (const double (*)[NROWS])m, slot, n, a, b, y);
    if (!derived)
        for (int ii = 0; ii < n; ii++)
            for (int jj = 0; jj < n; jj++) {
                size_t p = ct_layout_pair(S, 0, slot[ii], slot[jj]);
                size_t q = ct_layout_pair(S, 0, slot[jj], slot[ii]);
                y[p] = 0.5f * (x[p] + x[q]);
            }
    state[ns] = (unsigned char)derived;
    state[ns + 1] = natoms >= 0;
    free(m), free(slot);
}

static void backward_one(const ct_scale *sc, const unsigned char *state, const float *gy,
                         float *gx)
{
    int S = sc->size, ns = ct_layout_slots(S);
    double a[CT_SCALE_NQ], b[CT_SCALE_NQ];
    ct_scale_coefficients(sc, a, b);
    double c = a[CT_SCALE_DELTA] / a[CT_SCALE_COORD];
    memset(gx, 0, ct_layout_len(S) * sizeof *gx);
    int n = 0, nr = nrows(sc);
    double gg[NROWS] = {0};
    for (int j = 0; j < ns; j++)
        if (state[j]) {
            n++;
            size_t at[CT_CRYSTENS_COPIES];
            for (int r = CT_CRYSTENS_A; r <= CT_CRYSTENS_SG; r++) {
                ct_layout_copies(S, r, j, at);
                gg[r] += sum8(gy, at);
            }
        }
    for (int j = 0; j < ns; j++) {
        size_t at[CT_CRYSTENS_COPIES];
        if (!state[j] && state[ns + 1]) continue;   /* given empty: constant */
        ct_layout_copies(S, CT_CRYSTENS_Z, j, at);
        double gz = mean8(gy, at);
        for (int k = 0; k < CT_CRYSTENS_COPIES; k++) gx[at[k]] = (float)gz;
        if (!state[j]) continue;
        for (int r = CT_CRYSTENS_X; r < nr; r++) {
            ct_layout_copies(S, r, j, at);
            double gm;
            if (r <= CT_CRYSTENS_ZC) {
                /* d y(k, j, i) / d m[k][j] = +c, d y(k, i, j) / d m[k][j] = -c */
                int layer = r - CT_CRYSTENS_X + 1;
                double gd = 0;
                for (int i = 0; i < ns; i++)
                    if (state[i])
                        gd += (double)gy[ct_layout_pair(S, layer, j, i)] -
                              (double)gy[ct_layout_pair(S, layer, i, j)];
                gm = sum8(gy, at) + c * gd;
            } else {
                gm = global_row(r) ? gg[r] / n : sum8(gy, at);
            }
            for (int k = 0; k < CT_CRYSTENS_COPIES; k++)
                gx[at[k]] = (float)(gm / CT_CRYSTENS_COPIES);
        }
    }
    if (!state[ns])
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < ns; j++)
                if (state[i] && state[j]) {
                    size_t p = ct_layout_pair(S, 0, i, j), q = ct_layout_pair(S, 0, j, i);
                    gx[p] = 0.5f * (gy[p] + gy[q]);
                }
}

void ct_consist_forward(const ct_scale *sc, int fractional, int clamp, const float *x,
                        float *y, unsigned char *state, const int *natoms, size_t n)
{
    size_t len = ct_layout_len(sc->size), st = CT_CONSIST_STATE(sc->size);
    for (size_t i = 0; i < n; i++)
        forward_one(sc, fractional, clamp, x + i * len, y + i * len, state + i * st,
                    natoms ? natoms[i] : -1);
}

void ct_consist_backward(const ct_scale *sc, const unsigned char *state, const float *gy,
                         float *gx, size_t n)
{
    size_t len = ct_layout_len(sc->size), st = CT_CONSIST_STATE(sc->size);
    for (size_t i = 0; i < n; i++)
        backward_one(sc, state + i * st, gy + i * len, gx + i * len);
}

void ct_consist_gather(int S, const float *x, float *feat, size_t n)
{
    int T = ct_layout_slots(S), H = CT_CRYSTENS_HEADER;
    for (size_t i = 0; i < n; i++) {
        const float *t = x + i * ct_layout_len(S);
        float *f = feat + i * (size_t)CT_CONSIST_FEATURES * T;
        for (int j = 0; j < T; j++) {
            size_t at[CT_CRYSTENS_COPIES];
            for (int r = 0; r < H; r++) {
                ct_layout_copies(S, r, j, at);
                f[(size_t)r * T + j] = (float)mean8(t, at);
            }
            for (int l = 0; l < CT_CRYSTENS_LAYERS; l++) {
                double row = 0, col = 0;
                for (int k = 0; k < T; k++) {
                    row += (double)t[ct_layout_pair(S, l, j, k)];
                    col += (double)t[ct_layout_pair(S, l, k, j)];
                }
                f[(size_t)(H + l) * T + j] = (float)(row / T);
                f[(size_t)(H + CT_CRYSTENS_LAYERS + l) * T + j] = (float)(col / T);
            }
        }
    }
}

void ct_consist_scatter(int S, const float *tok, float *y, size_t n)
{
    int T = ct_layout_slots(S);
    size_t len = ct_layout_len(S);
    memset(y, 0, n * len * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        const float *v = tok + i * (size_t)CT_CONSIST_OUTPUTS * T;
        for (int j = 0; j < T; j++)
            for (int r = 0; r < CT_CRYSTENS_HEADER; r++) {
                size_t at[CT_CRYSTENS_COPIES];
                ct_layout_copies(S, r, j, at);
                for (int k = 0; k < CT_CRYSTENS_COPIES; k++)
                    y[i * len + at[k]] = v[(size_t)r * T + j];
            }
    }
}

void ct_consist_scatter_backward(int S, const float *gy, float *gtok, size_t n)
{
    int T = ct_layout_slots(S);
    for (size_t i = 0; i < n; i++) {
        float *g = gtok + i * (size_t)CT_CONSIST_OUTPUTS * T;
        for (int j = 0; j < T; j++)
            for (int r = 0; r < CT_CRYSTENS_HEADER; r++) {
                size_t at[CT_CRYSTENS_COPIES];
                ct_layout_copies(S, r, j, at);
                g[(size_t)r * T + j] = (float)sum8(gy + i * ct_layout_len(S), at);
            }
    }
}
