/*
 * ct_crystalnn.c - CrystalNN's weighting of Voronoi neighbours and its
 * coordination-number probabilities, step by step as pymatgen's
 * CrystalNN.get_nn_data (2022.11) does it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_crystalnn.h"
#include "ct_elements.h"
#include "ct_voronoi.h"

/* CrystalNN's settings in matminer's CrystalNNFingerprint. */
#define X_DIFF_WEIGHT 3.0
#define CUT_LOW 0.5
#define CUT_HIGH 1.0

/* {Pauling χ, radius} by Z, from Debian python3-pymatgen 2022.11:
   Element.X, and CovalentRadius.radius (Cordero et al. 2008) or, where it
   has none, Element.atomic_radius.  tests/c/test_fingerprint.c checks χ
   against share/elements.csv. */
static const double element_data[CT_MAX_Z][2] = {
    {2.2, 0.31}, {NAN, 0.28}, {0.98, 1.28}, {1.57, 0.96}, {2.04, 0.84},
    {2.55, 0.73}, {3.04, 0.71}, {3.44, 0.66}, {3.98, 0.57}, {NAN, 0.58},
    {0.93, 1.66}, {1.31, 1.41}, {1.61, 1.21}, {1.9, 1.11}, {2.19, 1.07},
    {2.58, 1.05}, {3.16, 1.02}, {NAN, 1.06}, {0.82, 2.03}, {1.0, 1.76},
    {1.36, 1.7}, {1.54, 1.6}, {1.63, 1.53}, {1.66, 1.39}, {1.55, 1.5},
    {1.83, 1.42}, {1.88, 1.38}, {1.91, 1.24}, {1.9, 1.32}, {1.65, 1.22},
    {1.81, 1.22}, {2.01, 1.2}, {2.18, 1.19}, {2.55, 1.2}, {2.96, 1.2},
    {3.0, 1.16}, {0.82, 2.2}, {0.95, 1.95}, {1.22, 1.9}, {1.33, 1.75},
    {1.6, 1.64}, {2.16, 1.54}, {1.9, 1.47}, {2.2, 1.46}, {2.28, 1.42},
    {2.2, 1.39}, {1.93, 1.45}, {1.69, 1.44}, {1.78, 1.42}, {1.96, 1.39},
    {2.05, 1.39}, {2.1, 1.38}, {2.66, 1.39}, {2.6, 1.4}, {0.79, 2.44},
    {0.89, 2.15}, {1.1, 2.07}, {1.12, 2.04}, {1.13, 2.03}, {1.14, 2.01},
    {1.13, 1.99}, {1.17, 1.98}, {1.2, 1.98}, {1.2, 1.96}, {1.1, 1.94},
    {1.22, 1.92}, {1.23, 1.92}, {1.24, 1.89}, {1.25, 1.9}, {1.1, 1.87},
    {1.27, 1.87}, {1.3, 1.75}, {1.5, 1.7}, {2.36, 1.62}, {1.9, 1.51},
    {2.2, 1.44}, {2.2, 1.41}, {2.28, 1.36}, {2.54, 1.36}, {2.0, 1.32},
    {1.62, 1.45}, {2.33, 1.46}, {2.02, 1.48}, {2.0, 1.4}, {2.2, 1.5},
    {2.2, 1.5}, {0.7, 2.6}, {0.9, 2.21}, {1.1, 2.15}, {1.3, 2.06},
    {1.5, 2.0}, {1.38, 1.96}, {1.36, 1.9}, {1.28, 1.87}, {1.3, 1.8},
    {1.3, 1.69}, {1.3, NAN}, {1.3, NAN}, {1.3, NAN}, {1.3, NAN},
    {1.3, NAN}, {1.3, NAN}, {1.3, NAN},
};

double ct_crystalnn_electronegativity(int z)
{
    return z >= 1 && z <= CT_MAX_Z ? element_data[z - 1][0] : (double)NAN;
}

double ct_crystalnn_radius(int z)
{
    return z >= 1 && z <= CT_MAX_Z ? element_data[z - 1][1] : (double)NAN;
}

void ct_crystalnn_free(ct_crystalnn *out)
{
    free(out->nbr);
    free(out->cn_weight);
    memset(out, 0, sizeof *out);
}

typedef struct {
    const ct_voronoi_face *face;
    double w;
    int order;   /* position before sorting: Python's sort is stable */
} entry;

static int by_weight(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->w != y->w) return x->w < y->w ? 1 : -1;
    return (x->order > y->order) - (x->order < y->order);
}

static void sort_entries(entry *e, int n)
{
    for (int i = 0; i < n; i++) e[i].order = i;
    qsort(e, (size_t)n, sizeof *e, by_weight);
}

/* Python's round(x, 3): the double nearest to x correctly rounded to three
   decimals, half to even.  x·1000 decides unless it is close to a half. */
static double round3(double x)
{
    double y = x * 1000.0, f = y - floor(y);
    if (fabs(f - 0.5) > 1e-6) return round(y) / 1000.0;
    char buf[64];
    snprintf(buf, sizeof buf, "%.3f", x);
    return strtod(buf, NULL);
}

/* pymatgen's _semicircle_integral: the area under the unit quarter circle
   between weights x2 < x1, as a fraction of π/4. */
static double semicircle(double x1, double x2)
{
    double a1 = x1 == 1 ? 0.25 * M_PI
                        : 0.5 * (x1 * sqrt(1 - x1 * x1) + atan(x1 / sqrt(1 - x1 * x1)));
    double a2 = 0.5 * (x2 * sqrt(1 - x2 * x2) + atan(x2 / sqrt(1 - x2 * x2)));
    return (a1 - a2) / (0.25 * M_PI);
}

/* Steps 2-3: porous adjustment and electronegativity difference. */
static void chemical_weights(const ct_structure *s, int site, entry *e, int n)
{
    double omax = 0;
    for (int i = 0; i < n; i++) omax = fmax(omax, e[i].face->solid_angle);
    double x1 = ct_crystalnn_electronegativity(s->z[site]);
    for (int i = 0; i < n; i++) {
        const ct_voronoi_face *f = e[i].face;
        double w = f->solid_angle / omax;
        w *= f->solid_angle / f->area;
        double x2 = ct_crystalnn_electronegativity(s->z[f->site]);
        double chem = isnan(x1) || isnan(x2) ? 1 : 1 + X_DIFF_WEIGHT * sqrt(fabs(x1 - x2) / 3.3);
        e[i].w = w * chem;
    }
}

/* Step 5: damp the weights of neighbours beyond the sum of radii + 0.5 Å. */
static int distance_weights(const ct_structure *s, int site, entry *e, int n, ct_error *err)
{
    double r1 = ct_crystalnn_radius(s->z[site]);
    for (int i = 0; i < n; i++) {
        int z2 = s->z[e[i].face->site];
        double r2 = ct_crystalnn_radius(z2);
        if (isnan(r1) || isnan(r2))
            return ct_fail(err, CT_EINVAL, "no covalent or atomic radius for %s",
                           ct_element_symbol(isnan(r1) ? s->z[site] : z2));
        double d = r1 + r2, dist = e[i].face->dist, lo = d + CUT_LOW, hi = d + CUT_HIGH;
        double f = dist <= lo ? 1 : dist < hi ? (cos((dist - lo) / (hi - lo) * M_PI) + 1) * 0.5 : 0;
        e[i].w *= f;
    }
    return CT_OK;
}

static int only_cn0(ct_crystalnn *out, ct_error *err)
{
    out->max_cn = 0;
    out->cn_weight = malloc(sizeof *out->cn_weight);
    if (!out->cn_weight) return ct_fail(err, CT_ENOMEM, "out of memory");
    out->cn_weight[0] = 1.0;
    return CT_OK;
}

/* Step 6: the CN levels from the distinct rounded weights. */
static int cn_levels(entry *e, int n, ct_crystalnn *out, ct_error *err)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        double w = round3(e[i].w);
        if (w > 0) {   /* the order holds: rounding is monotone */
            e[m] = e[i];
            e[m++].w = w;
        }
    }
    out->nbr = malloc((size_t)(m ? m : 1) * sizeof *out->nbr);
    out->cn_weight = calloc((size_t)m + 1, sizeof *out->cn_weight);
    if (!out->nbr || !out->cn_weight) return ct_fail(err, CT_ENOMEM, "out of memory");
    out->nn = out->max_cn = m;
    for (int i = 0; i < m; i++) {
        const ct_voronoi_face *f = e[i].face;
        out->nbr[i] = (ct_crystalnn_neighbor){f->site, {f->pos[0], f->pos[1], f->pos[2]},
                                              f->dist, e[i].w};
    }
    double total = 0;
    for (int i = 0; i < m; i++) {
        if (i + 1 < m && e[i + 1].w == e[i].w) continue;   /* not the last of its level */
        double next = i + 1 < m ? e[i + 1].w : 0.0, p = semicircle(e[i].w, next);
        out->cn_weight[i + 1] = p;
        total += p;
    }
    if (1.0 - total > 0) out->cn_weight[0] = 1.0 - total;
    return CT_OK;
}

static int weigh(const ct_structure *s, int site, entry *e, int n, ct_crystalnn *out,
                 ct_error *err)
{
    chemical_weights(s, site, e, n);
    sort_entries(e, n);
    if (e[0].w == 0) return only_cn0(out, err);
    double top = e[0].w;
    for (int i = 0; i < n; i++) e[i].w /= top;
    if (distance_weights(s, site, e, n, err) != CT_OK) return CT_EINVAL;
    sort_entries(e, n);
    if (e[0].w == 0) return only_cn0(out, err);
    return cn_levels(e, n, out, err);
}

int ct_crystalnn_site(const ct_structure *s, int site, ct_crystalnn *out, ct_error *err)
{
    memset(out, 0, sizeof *out);
    ct_voronoi_face *faces;
    int n;
    int rc = ct_voronoi_cell(s, site, CT_CRYSTALNN_CUTOFF, &faces, &n, out->centre, err);
    if (rc != CT_OK) return rc;
    if (n == 0) {
        free(faces);
        return ct_fail(err, CT_EINVAL, "site %d has no Voronoi neighbours", site + 1);
    }
    entry *e = malloc((size_t)n * sizeof *e);
    if (!e) {
        free(faces);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) e[i].face = &faces[i];
    rc = weigh(s, site, e, n, out, err);
    free(e);
    free(faces);
    return rc;
}
