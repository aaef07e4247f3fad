/*
 * ct_structure.c - crystal structures: cell geometry, minimum-image
 * distances, Niggli reduction, formula and canonical order.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spglib.h>

#include "ct_elements.h"
#include "ct_structure.h"

#define DEG (M_PI / 180.0)

/* Avogadro's number scaled for g/mol per Å³ -> g/cm³. */
#define AMU_PER_A3_TO_G_PER_CM3 1.66053906660

double ct_wrap01(double x)
{
    double r = x - floor(x);
    return r >= 1.0 ? 0.0 : r;   /* -1e-17 - floor gives exactly 1.0 */
}

int ct_cell_to_matrix(const double cell[6], double m[3][3], ct_error *err)
{
    for (int i = 0; i < 6; i++)
        if (!isfinite(cell[i]))
            return ct_fail(err, CT_EINVAL, "cell parameter %d is not a finite number", i + 1);
    if (cell[0] <= 0 || cell[1] <= 0 || cell[2] <= 0)
        return ct_fail(err, CT_EINVAL, "cell lengths must be positive (a=%g b=%g c=%g)",
                       cell[0], cell[1], cell[2]);
    for (int i = 3; i < 6; i++)
        if (cell[i] <= 0 || cell[i] >= 180)
            return ct_fail(err, CT_EINVAL, "cell angle %g is not between 0 and 180 degrees",
                           cell[i]);
    double ca = cos(cell[3] * DEG), cb = cos(cell[4] * DEG);
    double cg = cos(cell[5] * DEG), sg = sin(cell[5] * DEG);
    double cy = (ca - cb * cg) / sg;
    double zz = 1.0 - cb * cb - cy * cy;
    if (!(zz > 1e-10))
        return ct_fail(err, CT_EINVAL,
                       "zero or negative cell volume (angles %g, %g, %g do not close a cell)",
                       cell[3], cell[4], cell[5]);
    double a = cell[0], b = cell[1], c = cell[2];
    double rows[3][3] = {{a, 0, 0}, {b * cg, b * sg, 0}, {c * cb, c * cy, c * sqrt(zz)}};
    memcpy(m, rows, sizeof rows);
    return CT_OK;
}

static double dot3(const double *u, const double *v)
{
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
}

static double angle_deg(const double *u, const double *v)
{
    double c = dot3(u, v) / sqrt(dot3(u, u) * dot3(v, v));
    if (c > 1) c = 1;
    if (c < -1) c = -1;
    return acos(c) / DEG;
}

void ct_cell_from_matrix(const double m[3][3], double cell[6])
{
    for (int i = 0; i < 3; i++) cell[i] = sqrt(dot3(m[i], m[i]));
    cell[3] = angle_deg(m[1], m[2]);
    cell[4] = angle_deg(m[0], m[2]);
    cell[5] = angle_deg(m[0], m[1]);
}

ct_structure *ct_structure_new(const double cell[6], int natoms, const int *z,
                               const double (*frac)[3], ct_error *err)
{
    double m[3][3];
    if (ct_cell_to_matrix(cell, m, err) != CT_OK) return NULL;
    if (natoms < 1 || natoms > CT_STRUCTURE_MAXATOMS) {
        ct_fail(err, CT_EINVAL, "a structure needs 1 to %d atoms, got %d",
                CT_STRUCTURE_MAXATOMS, natoms);
        return NULL;
    }
    for (int i = 0; i < natoms; i++) {
        if (!ct_element_symbol(z[i])) {
            ct_fail(err, CT_EINVAL, "atom %d: unknown element Z=%d", i + 1, z[i]);
            return NULL;
        }
        for (int k = 0; k < 3; k++)
            if (!isfinite(frac[i][k])) {
                ct_fail(err, CT_EINVAL, "atom %d: coordinate %d is not finite", i + 1, k + 1);
                return NULL;
            }
    }
    /* One block: the struct, its coordinates, its atomic numbers (the
       struct's size keeps the doubles aligned, and they the ints).  The
       name is apart: ct_structure_set_name replaces it. */
    size_t n = (size_t)natoms;
    ct_structure *s = calloc(1, sizeof *s + n * (sizeof *s->frac + sizeof *s->z));
    if (s) s->name = calloc(1, 1);
    if (!s || !s->name) {
        free(s);
        ct_fail(err, CT_ENOMEM, "out of memory for a structure of %d atoms", natoms);
        return NULL;
    }
    s->frac = (double (*)[3])(s + 1);
    s->z = (int *)(s->frac + n);
    memcpy(s->cell, cell, sizeof s->cell);
    memcpy(s->matrix, m, sizeof m);
    s->natoms = natoms;
    memcpy(s->z, z, (size_t)natoms * sizeof *z);
    for (int i = 0; i < natoms; i++)
        for (int k = 0; k < 3; k++) s->frac[i][k] = ct_wrap01(frac[i][k]);
    return s;
}

/* Make a structure of s's atoms, in s's order, at frac in the cell `cell`,
   with s's name and stored and declared space groups; with same_cell (a
   clone: the same atoms, the same group) spglib's cached group too. */
static ct_structure *derived(const ct_structure *s, const double cell[6],
                             const double (*frac)[3], int same_cell, ct_error *err)
{
    ct_structure *r = ct_structure_new(cell, s->natoms, s->z, frac, err);
    if (r && ct_structure_set_name(r, s->name, err) != CT_OK) {
        ct_structure_free(r);
        return NULL;
    }
    if (r) {
        r->spacegroup = s->spacegroup;
        r->declared_spacegroup = s->declared_spacegroup;
        if (same_cell) r->spacegroup_found = s->spacegroup_found;
    }
    return r;
}

ct_structure *ct_structure_clone(const ct_structure *s, ct_error *err)
{
    return derived(s, s->cell, (const double (*)[3])s->frac, 1, err);
}

void ct_structure_free(ct_structure *s)
{
    if (!s) return;
    free(s->name);
    free(s);   /* and the atoms, in its block */
}

int ct_structure_set_name(ct_structure *s, const char *name, ct_error *err)
{
    char *copy = strdup(name ? name : "");
    if (!copy) return ct_fail(err, CT_ENOMEM, "out of memory");
    free(s->name);
    s->name = copy;
    return CT_OK;
}

static double det3(const double m[3][3])
{
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
         - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
         + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

static void inv3(const double m[3][3], double r[3][3])
{
    double d = det3(m);
    r[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / d;
    r[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / d;
    r[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / d;
    r[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / d;
    r[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / d;
    r[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / d;
    r[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / d;
    r[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / d;
    r[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / d;
}

/* r = v · m for a row vector v. */
static void vecmat(const double v[3], const double m[3][3], double r[3])
{
    for (int k = 0; k < 3; k++) r[k] = v[0] * m[0][k] + v[1] * m[1][k] + v[2] * m[2][k];
}

static void matmul3(const double a[3][3], const double b[3][3], double r[3][3])
{
    for (int i = 0; i < 3; i++) vecmat(a[i], b, r[i]);
}

double ct_structure_volume(const ct_structure *s)
{
    return fabs(det3(s->matrix));
}

double ct_structure_density(const ct_structure *s)
{
    double mass = 0;
    for (int i = 0; i < s->natoms; i++) mass += ct_element_mass(s->z[i]);
    return mass * AMU_PER_A3_TO_G_PER_CM3 / ct_structure_volume(s);
}

/* A reduced basis for minimum-image searches: red holds the Niggli-reduced
   vectors (rows) and to_red maps fractional coordinates of the structure's
   cell into it.  The images searched are the lattice vectors n·red with n
   in -reach..reach (1 in a reduced basis, 2 if spglib could not reduce),
   kept with their squared lengths so each costs one dot product, and sorted
   by length so a search can stop early (see mic_distance). */
typedef struct {
    double red[3][3];
    double to_red[3][3];
    int nimg;
    double img[125][3];
    double img2[125];
    double len[125];
} mic_basis;

/* Niggli-reduce m (rows) into red (rows, right-handed); 0 on failure. */
static int niggli_rows(const double m[3][3], double red[3][3])
{
    double cols[3][3];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) cols[k][i] = m[i][k];
    if (!spg_niggli_reduce(cols, 1e-5)) return 0;
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) red[i][k] = cols[k][i];
    if (det3(red) < 0)   /* keep the hand: -a, -b, -c has the same metric */
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++) red[i][k] = -red[i][k];
    return 1;
}

/* Order the images by length (insertion sort: at most 125, once per
   structure); the zero vector comes first. */
static void sort_images(mic_basis *b)
{
    for (int m = 1; m < b->nimg; m++) {
        double v[3] = {b->img[m][0], b->img[m][1], b->img[m][2]}, v2 = b->img2[m];
        int k = m;
        for (; k > 0 && b->img2[k - 1] > v2; k--) {
            memcpy(b->img[k], b->img[k - 1], sizeof v);
            b->img2[k] = b->img2[k - 1];
        }
        memcpy(b->img[k], v, sizeof v);
        b->img2[k] = v2;
    }
    for (int m = 0; m < b->nimg; m++) b->len[m] = sqrt(b->img2[m]);
}

static void mic_init(const ct_structure *s, mic_basis *b)
{
    double inv[3][3];
    int reach = 1;
    if (!niggli_rows(s->matrix, b->red)) {
        memcpy(b->red, s->matrix, sizeof b->red);
        reach = 2;
    }
    inv3(b->red, inv);
    matmul3(s->matrix, inv, b->to_red);
    b->nimg = 0;
    for (int n0 = -reach; n0 <= reach; n0++)
        for (int n1 = -reach; n1 <= reach; n1++)
            for (int n2 = -reach; n2 <= reach; n2++) {
                double n[3] = {n0, n1, n2};
                vecmat(n, b->red, b->img[b->nimg]);
                b->img2[b->nimg] = dot3(b->img[b->nimg], b->img[b->nimg]);
                b->nimg++;
            }
    sort_images(b);
}

/* nearbyint without the library call (most of a distance's cost): the
   values are differences of wrapped coordinates, small unless the cell is
   absurd, and those take the slow path. */
static inline double round_small(double x)
{
    if (!(fabs(x) < 1e9)) return nearbyint(x);
    return (double)(long)(x + (x >= 0 ? 0.5 : -0.5));
}

/* |d + v|² = |d|² + 2 d·v + |v|² for each image v: one dot product each.
   Since |d + v| >= |v| - |d|, no image with |v| >= |d| + best can be closer,
   and the images come sorted by |v|: the search stops at the first such. */
static double mic_distance(const mic_basis *b, const double fi[3], const double fj[3])
{
    double df[3] = {fj[0] - fi[0], fj[1] - fi[1], fj[2] - fi[2]};
    double g[3], d[3];
    vecmat(df, b->to_red, g);
    for (int k = 0; k < 3; k++) g[k] -= round_small(g[k]);
    vecmat(g, b->red, d);
    double d2 = dot3(d, d), dn = sqrt(d2), best = d2, r = dn;
    for (int m = 1; m < b->nimg && b->len[m] < dn + r; m++) {
        double q = d2 + 2 * dot3(d, b->img[m]) + b->img2[m];
        if (q < best) {
            best = q > 0 ? q : 0;
            r = sqrt(best);
        }
    }
    return r;
}

double ct_structure_distance(const ct_structure *s, int i, int j)
{
    if (i < 0 || j < 0 || i >= s->natoms || j >= s->natoms) return NAN;
    mic_basis b;
    mic_init(s, &b);
    return mic_distance(&b, s->frac[i], s->frac[j]);
}

void ct_structure_distance_matrix(const ct_structure *s, double *out)
{
    mic_basis b;
    mic_init(s, &b);
    int n = s->natoms;
    for (int i = 0; i < n; i++) {
        out[(size_t)i * n + i] = 0;
        for (int j = i + 1; j < n; j++) {
            double d = mic_distance(&b, s->frac[i], s->frac[j]);
            out[(size_t)i * n + j] = d;
            out[(size_t)j * n + i] = d;
        }
    }
}

double ct_structure_closest_pair(const ct_structure *s, int *i, int *j)
{
    mic_basis b;
    mic_init(s, &b);
    double best = INFINITY;
    *i = *j = -1;
    for (int p = 0; p < s->natoms; p++)
        for (int q = p + 1; q < s->natoms; q++) {
            double d = mic_distance(&b, s->frac[p], s->frac[q]);
            if (d < best) best = d, *i = p, *j = q;
        }
    return best;
}

/* Whether za comes before zb in Hill order: with carbon, C then H then the
   rest alphabetically; without, all alphabetically. */
static int hill_before(int za, int zb, int carbon)
{
    if (carbon) {
        int ra = za == 6 ? 0 : za == 1 ? 1 : 2, rb = zb == 6 ? 0 : zb == 1 ? 1 : 2;
        if (ra != rb) return ra < rb;
    }
    return strcmp(ct_element_symbol(za), ct_element_symbol(zb)) < 0;
}

/* The formula of s in Hill order, every count divided by the counts' gcd
   when reduce is set. */
static char *formula_of(const ct_structure *s, int reduce, char *buf, size_t size)
{
    int count[CT_MAX_Z + 1] = {0}, zs[CT_MAX_Z + 1], n = 0, g = 0;
    for (int i = 0; i < s->natoms; i++)
        if (!count[s->z[i]]++) zs[n++] = s->z[i];
    for (int k = 0; k < n; k++) g = (int)ct_gcd(count[zs[k]], g);
    if (!reduce || g < 1) g = 1;
    for (int k = 1; k < n; k++)   /* insertion sort: a few distinct elements */
        for (int j = k; j > 0 && hill_before(zs[j], zs[j - 1], count[6] > 0); j--) {
            int t = zs[j];
            zs[j] = zs[j - 1];
            zs[j - 1] = t;
        }
    size_t len = 0;
    buf[0] = 0;
    for (int k = 0; k < n && len < size; k++) {
        int m = snprintf(buf + len, size - len, "%s%d", ct_element_symbol(zs[k]), count[zs[k]] / g);
        if (m < 0) break;
        len += (size_t)m;
    }
    return buf;
}

char *ct_structure_formula(const ct_structure *s, char *buf, size_t size)
{
    return formula_of(s, 0, buf, size);
}

char *ct_structure_reduced_formula(const ct_structure *s, char *buf, size_t size)
{
    return formula_of(s, 1, buf, size);
}

ct_structure *ct_structure_niggli(const ct_structure *s, ct_error *err)
{
    double red[3][3], inv[3][3], to_red[3][3], cell[6];
    if (!niggli_rows(s->matrix, red)) {
        ct_fail(err, CT_EINVAL, "spglib could not Niggli-reduce the cell");
        return NULL;
    }
    inv3(red, inv);
    matmul3(s->matrix, inv, to_red);
    ct_cell_from_matrix(red, cell);
    double (*f)[3] = malloc((size_t)s->natoms * sizeof *f);
    if (!f) {
        ct_fail(err, CT_ENOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < s->natoms; i++) vecmat(s->frac[i], to_red, f[i]);
    ct_structure *r = derived(s, cell, (const double (*)[3])f, 0, err);
    free(f);
    return r;
}

typedef struct {
    int z;
    double f[3];
} atom_key;

static int cmp_atom(const void *pa, const void *pb)
{
    const atom_key *a = pa, *b = pb;
    if (a->z != b->z) return a->z < b->z ? -1 : 1;
    for (int k = 0; k < 3; k++)
        if (a->f[k] != b->f[k]) return a->f[k] < b->f[k] ? -1 : 1;
    return 0;
}

int ct_structure_sort(ct_structure *s, ct_error *err)
{
    atom_key *keys = malloc((size_t)s->natoms * sizeof *keys);
    if (!keys) return ct_fail(err, CT_ENOMEM, "out of memory");
    for (int i = 0; i < s->natoms; i++) {
        keys[i].z = s->z[i];
        memcpy(keys[i].f, s->frac[i], sizeof keys[i].f);
    }
    qsort(keys, (size_t)s->natoms, sizeof *keys, cmp_atom);
    for (int i = 0; i < s->natoms; i++) {
        s->z[i] = keys[i].z;
        memcpy(s->frac[i], keys[i].f, sizeof keys[i].f);
    }
    free(keys);
    return CT_OK;
}
