/*
 * ct_magpie.c - matminer's Magpie ElementProperty features and CDVAE's
 * CompScaler, for the composition half of the coverage metrics.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_file.h"
#include "ct_magpie.h"

const char *const CT_MAGPIE_PROPERTIES[CT_MAGPIE_NPROP] = {
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row",
    "CovalentRadius", "Electronegativity", "NsValence", "NpValence", "NdValence",
    "NfValence", "NValence", "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled",
    "NUnfilled", "GSvolume_pa", "GSbandgap", "GSmagmom", "SpaceGroupNumber"};

struct ct_magpie {
    double value[CT_MAGPIE_NPROP][CT_MAGPIE_MAXZ + 1];   /* [p][z], NaN if missing */
    int rows[CT_MAGPIE_NPROP];                          /* lines read per table */
    double mean[CT_MAGPIE_DIM], std[CT_MAGPIE_DIM];
};

/* Read one .table: one number or "Missing" per line, Z = line number. */
static int load_table(ct_magpie *mp, int p, const char *dir, ct_error *err)
{
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/%s.table", dir, CT_MAGPIE_PROPERTIES[p]);
    FILE *f = ct_file_open_read(path, err);
    if (!f) return CT_EIO;
    int z = 0;
    while (z < CT_MAGPIE_MAXZ && fgets(line, sizeof line, f)) {
        char *end;
        double v = strtod(line, &end);
        z++;
        if (end == line) {
            if (strncmp(line + strspn(line, " \t"), "Missing", 7) != 0) {
                fclose(f);
                return ct_fail(err, CT_EFORMAT, "%s:%d: expected a number or Missing", path, z);
            }
            v = NAN;
        }
        mp->value[p][z] = v;
    }
    fclose(f);
    if (z < 100) return ct_fail(err, CT_EFORMAT, "%s: only %d rows", path, z);
    mp->rows[p] = z;
    return CT_OK;
}

/* Read cdvae_comp_scaler.csv: a header, then CT_MAGPIE_DIM rows index,mean,std. */
static int load_scaler(ct_magpie *mp, const char *dir, ct_error *err)
{
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/cdvae_comp_scaler.csv", dir);
    FILE *f = ct_file_open_read(path, err);
    if (!f) return CT_EIO;
    int n = 0, row = 1;
    if (!fgets(line, sizeof line, f)) n = -1;
    while (n >= 0 && n < CT_MAGPIE_DIM && fgets(line, sizeof line, f)) {
        int idx;
        row++;
        if (sscanf(line, "%d,%lf,%lf", &idx, &mp->mean[n], &mp->std[n]) != 3 || idx != n ||
            !(mp->std[n] > 0)) {
            fclose(f);
            return ct_fail(err, CT_EFORMAT, "%s:%d: expected %d,mean,std with std > 0", path,
                           row, n);
        }
        n++;
    }
    fclose(f);
    if (n != CT_MAGPIE_DIM)
        return ct_fail(err, CT_EFORMAT, "%s: expected %d rows", path, CT_MAGPIE_DIM);
    return CT_OK;
}

ct_magpie *ct_magpie_load(const char *dir, ct_error *err)
{
    ct_magpie *mp = malloc(sizeof *mp);
    if (!mp) {
        ct_fail(err, CT_ENOMEM, "out of memory");
        return NULL;
    }
    for (int p = 0; p < CT_MAGPIE_NPROP; p++)
        for (int z = 0; z <= CT_MAGPIE_MAXZ; z++) mp->value[p][z] = NAN;
    for (int p = 0; p < CT_MAGPIE_NPROP; p++)
        if (load_table(mp, p, dir, err) != CT_OK) {
            free(mp);
            return NULL;
        }
    if (load_scaler(mp, dir, err) != CT_OK) {
        free(mp);
        return NULL;
    }
    return mp;
}

void ct_magpie_free(ct_magpie *mp)
{
    free(mp);
}

double ct_magpie_value(const ct_magpie *mp, int p, int z)
{
    if (p < 0 || p >= CT_MAGPIE_NPROP || z < 1 || z > mp->rows[p]) return NAN;
    return mp->value[p][z];
}

/* numpy.isclose(a, b) with its defaults (rtol 1e-5, atol 1e-8). */
static int isclose(double a, double b)
{
    return fabs(a - b) <= 1e-8 + 1e-5 * fabs(b);
}

/* The six statistics of x[0..n) with weights w (NaN propagates as in numpy). */
static void six_stats(int n, const double *x, const double *w, double out[CT_MAGPIE_NSTAT])
{
    double lo = x[0], hi = x[0], wsum = 0, mean = 0, dev = 0, wmax = w[0];
    int nan = 0;
    for (int i = 0; i < n; i++) {
        nan |= isnan(x[i]);
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        wsum += w[i];
        mean += w[i] * x[i];
        if (w[i] > wmax) wmax = w[i];
    }
    mean /= wsum;
    for (int i = 0; i < n; i++) dev += w[i] * fabs(x[i] - mean);
    double mode = INFINITY;
    for (int i = 0; i < n; i++)
        if (isclose(w[i], wmax) && (isnan(x[i]) || x[i] < mode)) mode = x[i];
    if (nan) lo = hi = NAN;
    out[0] = lo;
    out[1] = hi;
    out[2] = hi - lo;
    out[3] = mean;
    out[4] = dev / wsum;
    out[5] = mode;
}

int ct_magpie_features(const ct_magpie *mp, int n, const int *z, const double *amount,
                       double out[CT_MAGPIE_DIM], ct_error *err)
{
    if (n < 1 || n > CT_MAGPIE_MAXZ)
        return ct_fail(err, CT_EINVAL, "a composition needs 1 to %d elements", CT_MAGPIE_MAXZ);
    double x[CT_MAGPIE_MAXZ];
    for (int i = 0; i < n; i++) {
        if (z[i] < 1 || z[i] > mp->rows[0])
            return ct_fail(err, CT_EINVAL, "element Z=%d is beyond the Magpie tables", z[i]);
        if (!(amount[i] > 0)) return ct_fail(err, CT_EINVAL, "amounts must be positive");
    }
    for (int p = 0; p < CT_MAGPIE_NPROP; p++) {
        for (int i = 0; i < n; i++) x[i] = ct_magpie_value(mp, p, z[i]);
        six_stats(n, x, amount, out + p * CT_MAGPIE_NSTAT);
    }
    return CT_OK;
}

void ct_magpie_scale(const ct_magpie *mp, double v[CT_MAGPIE_DIM])
{
    for (int k = 0; k < CT_MAGPIE_DIM; k++) {
        double s = (v[k] - mp->mean[k]) / mp->std[k];
        v[k] = isnan(s) ? 0.0 : s;
    }
}

int ct_magpie_structure(const ct_magpie *mp, const ct_structure *s, double out[CT_MAGPIE_DIM],
                        ct_error *err)
{
    int z[CT_MAGPIE_MAXZ];
    double amount[CT_MAGPIE_MAXZ];
    int n = 0;
    for (int i = 0; i < s->natoms; i++) {
        int k = 0;
        while (k < n && z[k] != s->z[i]) k++;
        if (k == n) {
            if (n == CT_MAGPIE_MAXZ) return ct_fail(err, CT_EINVAL, "too many elements");
            z[n] = s->z[i];
            amount[n++] = 0;
        }
        amount[k] += 1;
    }
    int st = ct_magpie_features(mp, n, z, amount, out, err);
    if (st == CT_OK) ct_magpie_scale(mp, out);
    return st;
}
