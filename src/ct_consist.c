/*
 * ct_consist.c - the consistency projection of scaled CrysTens tensors and
 * its transpose (see ct_consist.h for the steps).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_consist.h"
#include "ct_crystens.h"
#include "ct_structure.h"

#define HB CT_CRYSTENS_HEADER
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

/* Offsets of the 8 copies of header row r of slot j in one tensor. */
static void copies(int S, int r, int j, size_t at[8])
{
    size_t plane = (size_t)S * S;
    for (int l = 0; l < 4; l++) {
        at[2 * l] = l * plane + (size_t)r * S + HB + j;
        at[2 * l + 1] = l * plane + (size_t)(HB + j) * S + r;
    }
}

static double mean8(const float *x, const size_t at[8])
{
    double s = 0;
    for (int k = 0; k < 8; k++) s += (double)x[at[k]];
    return s / 8;
}

static double sum8(const float *g, const size_t at[8])
{
    double s = 0;
    for (int k = 0; k < 8; k++) s += (double)g[at[k]];
    return s;
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
                    y[(size_t)(HB + slot[i]) * S + HB + slot[j]] =
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
    int S = sc->size, ns = S - HB;
    size_t plane = (size_t)S * S;
    double a[CT_SCALE_NQ], b[CT_SCALE_NQ];
    ct_scale_coefficients(sc, a, b);
    double (*m)[NROWS] = malloc((size_t)ns * sizeof *m);
    int *slot = malloc((size_t)ns * sizeof *slot);
    if (!m || !slot) {   /* no memory for two small arrays: leave x as it is */
        memcpy(y, x, 4 * plane * sizeof *y);
        memset(state, 0, CT_CONSIST_STATE(S));
        state[ns + 1] = natoms >= 0;
        free(m), free(slot);
        return;
    }
    for (size_t k = 0; k < 4 * plane; k++) y[k] = (float)CT_SCALE_EMPTY;
    int n = 0, nr = nrows(sc);
    double g[NROWS] = {0};
    for (int j = 0; j < ns; j++) {
        size_t at[8];
        for (int r = 0; r < nr; r++) {
            copies(S, r, j, at);
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
        size_t at[8];
        int rows = state[j] ? nr : natoms >= 0 ? 0 : 1;
        for (int r = 0; r < rows; r++) {
            copies(S, r, j, at);
            for (int k = 0; k < 8; k++) y[at[k]] = (float)m[j][r];
        }
    }
    double c = a[CT_SCALE_DELTA] / a[CT_SCALE_COORD];
    for (int ii = 0; ii < n; ii++)
        for (int jj = 0; jj < n; jj++) {
            int i = slot[ii], j = slot[jj];
            size_t at = (size_t)(HB + i) * S + HB + j;
            for (int k = 0; k < 3; k++)
                y[(k + 1) * plane + at] =
                    (float)(c * (m[i][CT_CRYSTENS_X + k] - m[j][CT_CRYSTENS_X + k]) + b[CT_SCALE_DELTA]);
        }
    int derived = n > 0 && derive_layer0(sc, fractional, (const double (*)[NROWS])m, slot, n, a, b, y);
    if (!derived)
        for (int ii = 0; ii < n; ii++)
            for (int jj = 0; jj < n; jj++) {
                size_t p = (size_t)(HB + slot[ii]) * S + HB + slot[jj];
                size_t q = (size_t)(HB + slot[jj]) * S + HB + slot[ii];
                y[p] = 0.5f * (x[p] + x[q]);
            }
    state[ns] = (unsigned char)derived;
    state[ns + 1] = natoms >= 0;
    free(m), free(slot);
}

static void backward_one(const ct_scale *sc, const unsigned char *state, const float *gy,
                         float *gx)
{
    int S = sc->size, ns = S - HB;
    size_t plane = (size_t)S * S;
    double a[CT_SCALE_NQ], b[CT_SCALE_NQ];
    ct_scale_coefficients(sc, a, b);
    double c = a[CT_SCALE_DELTA] / a[CT_SCALE_COORD];
    memset(gx, 0, 4 * plane * sizeof *gx);
    int n = 0, nr = nrows(sc);
    double gg[NROWS] = {0};
    for (int j = 0; j < ns; j++)
        if (state[j]) {
            n++;
            size_t at[8];
            for (int r = CT_CRYSTENS_A; r <= CT_CRYSTENS_SG; r++) {
                copies(S, r, j, at);
                gg[r] += sum8(gy, at);
            }
        }
    for (int j = 0; j < ns; j++) {
        size_t at[8];
        if (!state[j] && state[ns + 1]) continue;   /* given empty: constant */
        copies(S, CT_CRYSTENS_Z, j, at);
        double gz = sum8(gy, at) / 8;
        for (int k = 0; k < 8; k++) gx[at[k]] = (float)gz;
        if (!state[j]) continue;
        for (int r = CT_CRYSTENS_X; r < nr; r++) {
            copies(S, r, j, at);
            double gm;
            if (r <= CT_CRYSTENS_ZC) {
                /* d y(k, j, i) / d m[k][j] = +c, d y(k, i, j) / d m[k][j] = -c */
                int layer = r - CT_CRYSTENS_X + 1;
                double gd = 0;
                for (int i = 0; i < ns; i++)
                    if (state[i])
                        gd += (double)gy[layer * plane + (size_t)(HB + j) * S + HB + i] -
                              (double)gy[layer * plane + (size_t)(HB + i) * S + HB + j];
                gm = sum8(gy, at) + c * gd;
            } else {
                gm = global_row(r) ? gg[r] / n : sum8(gy, at);
            }
            for (int k = 0; k < 8; k++) gx[at[k]] = (float)(gm / 8);
        }
    }
    if (!state[ns])
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < ns; j++)
                if (state[i] && state[j]) {
                    size_t p = (size_t)(HB + i) * S + HB + j, q = (size_t)(HB + j) * S + HB + i;
                    gx[p] = 0.5f * (gy[p] + gy[q]);
                }
}

void ct_consist_forward(const ct_scale *sc, int fractional, int clamp, const float *x,
                        float *y, unsigned char *state, const int *natoms, size_t n)
{
    size_t len = 4 * (size_t)sc->size * sc->size, st = CT_CONSIST_STATE(sc->size);
    for (size_t i = 0; i < n; i++)
        forward_one(sc, fractional, clamp, x + i * len, y + i * len, state + i * st,
                    natoms ? natoms[i] : -1);
}

void ct_consist_backward(const ct_scale *sc, const unsigned char *state, const float *gy,
                         float *gx, size_t n)
{
    size_t len = 4 * (size_t)sc->size * sc->size, st = CT_CONSIST_STATE(sc->size);
    for (size_t i = 0; i < n; i++)
        backward_one(sc, state + i * st, gy + i * len, gx + i * len);
}

void ct_consist_gather(int S, const float *x, float *feat, size_t n)
{
    int T = S - HB;
    size_t plane = (size_t)S * S;
    for (size_t i = 0; i < n; i++) {
        const float *t = x + i * 4 * plane;
        float *f = feat + i * (size_t)CT_CONSIST_FEATURES * T;
        for (int j = 0; j < T; j++) {
            size_t at[8];
            for (int r = 0; r < HB; r++) {
                copies(S, r, j, at);
                f[(size_t)r * T + j] = (float)mean8(t, at);
            }
            for (int l = 0; l < 4; l++) {
                double row = 0, col = 0;
                for (int k = 0; k < T; k++) {
                    row += (double)t[l * plane + (size_t)(HB + j) * S + HB + k];
                    col += (double)t[l * plane + (size_t)(HB + k) * S + HB + j];
                }
                f[(size_t)(HB + l) * T + j] = (float)(row / T);
                f[(size_t)(HB + 4 + l) * T + j] = (float)(col / T);
            }
        }
    }
}

void ct_consist_scatter(int S, const float *tok, float *y, size_t n)
{
    int T = S - HB;
    size_t plane = (size_t)S * S;
    memset(y, 0, n * 4 * plane * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        const float *v = tok + i * (size_t)CT_CONSIST_OUTPUTS * T;
        for (int j = 0; j < T; j++)
            for (int r = 0; r < HB; r++) {
                size_t at[8];
                copies(S, r, j, at);
                for (int k = 0; k < 8; k++) y[i * 4 * plane + at[k]] = v[(size_t)r * T + j];
            }
    }
}

void ct_consist_scatter_backward(int S, const float *gy, float *gtok, size_t n)
{
    int T = S - HB;
    size_t plane = (size_t)S * S;
    for (size_t i = 0; i < n; i++) {
        float *g = gtok + i * (size_t)CT_CONSIST_OUTPUTS * T;
        for (int j = 0; j < T; j++)
            for (int r = 0; r < HB; r++) {
                size_t at[8];
                copies(S, r, j, at);
                g[(size_t)r * T + j] = (float)sum8(gy + i * 4 * plane, at);
            }
    }
}
