/*
 * ct_voronoi.c - one atom's Voronoi cell in a periodic crystal, built by
 * clipping a large box with the bisector planes of its neighbours, nearest
 * first.  A plane farther than the cell's farthest vertex cannot cut it, so
 * the loop stops early: the cell of a typical site is final after a few
 * dozen of the hundreds of images within 7 Å.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_voronoi.h"

/* A vertex this close to a plane lies on it (Å): far above the rounding of
   coordinates of order 10 Å, far below any real geometric feature. */
#define ON_PLANE 1e-10
/* Two vertices this close are one (Å). */
#define SAME_POINT 1e-9
/* An image closer than this to the centre is the centre to qhull, which
   merges it (pymatgen then sees one atom there): it makes no face. */
#define COINCIDE 1e-8
/* The most periodic images one neighbour search may visit. */
#define MAX_IMAGES 2e7
/* Label of the faces of the starting box. */
#define BOX (-1)

typedef struct {
    double r[3];   /* position relative to the centre */
    double d2;     /* squared distance */
    int site;
} candidate;

/* A convex polyhedron: face k has label[k] and the vertices
   v[start[k] .. start[k+1]-1] in cyclic order. */
typedef struct {
    int nf, cap_f, nv, cap_v;
    int *label, *start;
    double (*v)[3];
} polyhedron;

static double dot3(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static void cross3(const double *a, const double *b, double *out)
{
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

static void poly_free(polyhedron *p)
{
    free(p->label);
    free(p->start);
    free(p->v);
}

static int poly_add_vertex(polyhedron *p, const double *x)
{
    if (p->nv == p->cap_v) {
        int cap = p->cap_v ? 2 * p->cap_v : 256;
        double (*v)[3] = realloc(p->v, (size_t)cap * sizeof *v);
        if (!v) return CT_ENOMEM;
        p->v = v;
        p->cap_v = cap;
    }
    memcpy(p->v[p->nv++], x, sizeof p->v[0]);
    return CT_OK;
}

/* Open face number p->nf; its vertices are those added until poly_end_face. */
static int poly_begin_face(polyhedron *p, int label)
{
    if (p->nf + 1 >= p->cap_f) {
        int cap = p->cap_f ? 2 * p->cap_f : 64;
        int *l = realloc(p->label, (size_t)cap * sizeof *l);
        if (!l) return CT_ENOMEM;
        p->label = l;
        int *s = realloc(p->start, (size_t)(cap + 1) * sizeof *s);
        if (!s) return CT_ENOMEM;
        p->start = s;
        p->cap_f = cap;
    }
    p->label[p->nf] = label;
    p->start[p->nf] = p->nv;
    return CT_OK;
}

/* Close the open face, or drop it if it has fewer than 3 vertices. */
static void poly_end_face(polyhedron *p)
{
    if (p->nv - p->start[p->nf] >= 3) {
        p->nf++;
    } else {
        p->nv = p->start[p->nf];
    }
    p->start[p->nf] = p->nv;
}

/* The cube of half-width b around the origin, all faces labelled BOX. */
static int poly_box(polyhedron *p, double b)
{
    static const int faces[6][4] = {
        {0, 2, 3, 1}, {4, 5, 7, 6}, {0, 1, 5, 4}, {2, 6, 7, 3}, {0, 4, 6, 2}, {1, 3, 7, 5}};
    p->nf = p->nv = 0;
    for (int f = 0; f < 6; f++) {
        if (poly_begin_face(p, BOX) != CT_OK) return CT_ENOMEM;
        for (int k = 0; k < 4; k++) {
            int c = faces[f][k];
            double x[3] = {c & 4 ? b : -b, c & 2 ? b : -b, c & 1 ? b : -b};
            if (poly_add_vertex(p, x) != CT_OK) return CT_ENOMEM;
        }
        poly_end_face(p);
    }
    return CT_OK;
}

/* Add x to the cap points unless it is already there. */
static int add_cap_point(polyhedron *cap, const double *x)
{
    for (int i = 0; i < cap->nv; i++) {
        double d[3] = {cap->v[i][0] - x[0], cap->v[i][1] - x[1], cap->v[i][2] - x[2]};
        if (dot3(d, d) < SAME_POINT * SAME_POINT) return CT_OK;
    }
    return poly_add_vertex(cap, x);
}

/* Order the cap points cyclically around their centroid in the plane with
   normal n and append them to out as a face. */
static int add_cap_face(polyhedron *out, polyhedron *cap, const double *n, int label)
{
    int m = cap->nv;
    if (m < 3) return CT_OK;
    double g[3] = {0, 0, 0};
    for (int i = 0; i < m; i++)
        for (int k = 0; k < 3; k++) g[k] += cap->v[i][k] / m;
    double u[3], w[3], axis[3] = {0, 0, 0};
    axis[fabs(n[0]) < 0.6 ? 0 : fabs(n[1]) < 0.6 ? 1 : 2] = 1;
    cross3(n, axis, u);
    cross3(n, u, w);
    double ang[64], *angle = m <= 64 ? ang : malloc((size_t)m * sizeof *angle);
    if (!angle) return CT_ENOMEM;
    for (int i = 0; i < m; i++) {
        double d[3] = {cap->v[i][0] - g[0], cap->v[i][1] - g[1], cap->v[i][2] - g[2]};
        angle[i] = atan2(dot3(d, w), dot3(d, u));
    }
    for (int i = 1; i < m; i++) {   /* insertion sort: caps are small */
        double a = angle[i], x[3];
        memcpy(x, cap->v[i], sizeof x);
        int j = i - 1;
        for (; j >= 0 && angle[j] > a; j--) {
            angle[j + 1] = angle[j];
            memcpy(cap->v[j + 1], cap->v[j], sizeof x);
        }
        angle[j + 1] = a;
        memcpy(cap->v[j + 1], x, sizeof x);
    }
    if (angle != ang) free(angle);
    if (poly_begin_face(out, label) != CT_OK) return CT_ENOMEM;
    for (int i = 0; i < m; i++)
        if (poly_add_vertex(out, cap->v[i]) != CT_OK) return CT_ENOMEM;
    poly_end_face(out);
    return CT_OK;
}

/* Clip face f of in by the half-space n·x <= h into out (Sutherland–
   Hodgman), collecting the points on the plane into cap. */
static int clip_face(const polyhedron *in, int f, const double *n, double h, polyhedron *out,
                     polyhedron *cap)
{
    int b = in->start[f], e = in->start[f + 1];
    if (poly_begin_face(out, in->label[f]) != CT_OK) return CT_ENOMEM;
    for (int i = b; i < e; i++) {
        const double *p = in->v[i], *q = in->v[i + 1 < e ? i + 1 : b];
        double sp = dot3(n, p) - h, sq = dot3(n, q) - h;
        if (sp <= ON_PLANE && poly_add_vertex(out, p) != CT_OK) return CT_ENOMEM;
        if (fabs(sp) <= ON_PLANE && add_cap_point(cap, p) != CT_OK) return CT_ENOMEM;
        if ((sp < -ON_PLANE && sq > ON_PLANE) || (sp > ON_PLANE && sq < -ON_PLANE)) {
            double t = sp / (sp - sq), x[3];
            for (int k = 0; k < 3; k++) x[k] = p[k] + t * (q[k] - p[k]);
            if (poly_add_vertex(out, x) != CT_OK || add_cap_point(cap, x) != CT_OK)
                return CT_ENOMEM;
        }
    }
    poly_end_face(out);
    return CT_OK;
}

/* Cut in by the bisector plane of the centre (origin) and the point r,
   writing the result to out; *cut = 0 (out untouched) if the plane misses
   the cell. */
static int clip(const polyhedron *in, const double *r, int label, polyhedron *out,
                polyhedron *cap, int *cut)
{
    double rr = dot3(r, r), len = sqrt(rr);
    double n[3] = {r[0] / len, r[1] / len, r[2] / len}, h = 0.5 * len;
    *cut = 0;
    for (int i = 0; i < in->nv && !*cut; i++) *cut = dot3(n, in->v[i]) - h > ON_PLANE;
    if (!*cut) return CT_OK;
    out->nf = out->nv = 0;
    cap->nv = 0;
    for (int f = 0; f < in->nf; f++)
        if (clip_face(in, f, n, h, out, cap) != CT_OK) return CT_ENOMEM;
    return add_cap_face(out, cap, n, label);
}

static int by_distance(const void *a, const void *b)
{
    double x = ((const candidate *)a)->d2, y = ((const candidate *)b)->d2;
    return (x > y) - (x < y);
}

/* All periodic images of all atoms within cutoff of the centre (itself
   excluded), nearest first. */
static int gather(const ct_structure *s, int site, double cutoff, const double centre[3],
                  candidate **out, int *nout, ct_error *err)
{
    const double (*m)[3] = s->matrix;
    double vol = fabs(dot3(m[0], (double[3]){m[1][1] * m[2][2] - m[1][2] * m[2][1],
                                             m[1][2] * m[2][0] - m[1][0] * m[2][2],
                                             m[1][0] * m[2][1] - m[1][1] * m[2][0]}));
    /* A point within the cutoff differs from the centre by at most
       cutoff / height_i in fractional coordinate i. */
    double reach[3];
    for (int i = 0; i < 3; i++) {
        double c[3];
        cross3(m[(i + 1) % 3], m[(i + 2) % 3], c);
        reach[i] = cutoff * sqrt(dot3(c, c)) / vol + 1e-9;
    }
    /* A cell far smaller than the sphere would need millions of images:
       refuse it rather than run for minutes. */
    double boxes = 1;
    for (int i = 0; i < 3; i++) boxes *= 2 * reach[i] + 1;
    if (boxes * s->natoms > MAX_IMAGES)
        return ct_fail(err, CT_EINVAL, "cell too small for a %g Å neighbour search (%.3g images)",
                       cutoff, boxes * s->natoms);
    size_t cap = 256, n = 0;
    candidate *c = malloc(cap * sizeof *c);
    if (!c) return ct_fail(err, CT_ENOMEM, "out of memory");
    for (int j = 0; j < s->natoms; j++) {
        int lo[3], hi[3];
        for (int i = 0; i < 3; i++) {
            double d = s->frac[j][i] - s->frac[site][i];
            lo[i] = (int)ceil(-reach[i] - d);
            hi[i] = (int)floor(reach[i] - d);
        }
        for (int a = lo[0]; a <= hi[0]; a++)
            for (int b = lo[1]; b <= hi[1]; b++)
                for (int k = lo[2]; k <= hi[2]; k++) {
                    double f[3] = {s->frac[j][0] + a, s->frac[j][1] + b, s->frac[j][2] + k}, r[3];
                    for (int x = 0; x < 3; x++)
                        r[x] = f[0] * m[0][x] + f[1] * m[1][x] + f[2] * m[2][x] - centre[x];
                    double d2 = dot3(r, r);
                    if (d2 > cutoff * cutoff || (j == site && a == 0 && b == 0 && k == 0))
                        continue;
                    if (d2 < COINCIDE * COINCIDE) continue;   /* qhull merges it */
                    if (n == cap) {
                        candidate *g = realloc(c, 2 * cap * sizeof *c);
                        if (!g) {
                            free(c);
                            return ct_fail(err, CT_ENOMEM, "out of memory");
                        }
                        c = g;
                        cap *= 2;
                    }
                    c[n++] = (candidate){{r[0], r[1], r[2]}, d2, j};
                }
    }
    qsort(c, n, sizeof *c, by_distance);
    *out = c;
    *nout = (int)n;
    return CT_OK;
}

static double max_radius2(const polyhedron *p)
{
    double r2 = 0;
    for (int i = 0; i < p->nv; i++) {
        double d = dot3(p->v[i], p->v[i]);
        if (d > r2) r2 = d;
    }
    return r2;
}

/* pymatgen's solid_angle(): the face as a fan of triangles from its first
   vertex, each by the Van Oosterom–Strackee formula. */
static double face_solid_angle(const double (*v)[3], int n)
{
    double angle = 0, n0 = sqrt(dot3(v[0], v[0]));
    for (int i = 1; i + 1 < n; i++) {
        const double *a = v[0], *b = v[i], *c = v[i + 1];
        double bc[3], nb = sqrt(dot3(b, b)), nc = sqrt(dot3(c, c));
        cross3(b, c, bc);
        double tp = fabs(dot3(a, bc));
        double de = n0 * nb * nc + nc * dot3(a, b) + nb * dot3(a, c) + n0 * dot3(b, c);
        double my = de == 0 ? (tp > 0 ? 0.5 * M_PI : -0.5 * M_PI) : atan(tp / de);
        angle += (my > 0 ? my : my + M_PI) * 2;
    }
    return angle;
}

/* Volume of the pyramid apex (origin) + face, as a fan of tetrahedra. */
static double face_volume(const double (*v)[3], int n)
{
    double vol = 0;
    for (int i = 1; i + 1 < n; i++) {
        double a[3], b[3], c[3], bc[3];
        for (int k = 0; k < 3; k++) {
            a[k] = v[0][k];
            b[k] = v[i][k];
            c[k] = v[i + 1][k];
        }
        cross3(b, c, bc);
        vol += fabs(dot3(a, bc)) / 6.0;
    }
    return vol;
}

/* Build the cell from the candidates; *open = 1 if a box face survives. */
static int build_cell(const candidate *c, int n, double cutoff, polyhedron *cell,
                      polyhedron *tmp, polyhedron *cap, int *open)
{
    if (poly_box(cell, 4.0 * cutoff) != CT_OK) return CT_ENOMEM;
    double r2 = max_radius2(cell);
    for (int i = 0; i < n; i++) {
        if (c[i].d2 > 4.0 * r2 + ON_PLANE) break;   /* bisector beyond every vertex */
        int cut;
        if (clip(cell, c[i].r, i, tmp, cap, &cut) != CT_OK) return CT_ENOMEM;
        if (!cut) continue;
        polyhedron t = *cell;
        *cell = *tmp;
        *tmp = t;
        r2 = max_radius2(cell);
    }
    *open = 0;
    for (int f = 0; f < cell->nf; f++)
        if (cell->label[f] == BOX) *open = 1;
    return CT_OK;
}

static int emit_faces(const polyhedron *cell, const candidate *c, const double centre[3],
                      ct_voronoi_face **faces, int *nfaces, ct_error *err)
{
    ct_voronoi_face *out = malloc((size_t)(cell->nf ? cell->nf : 1) * sizeof *out);
    if (!out) return ct_fail(err, CT_ENOMEM, "out of memory");
    int m = 0;
    for (int f = 0; f < cell->nf; f++) {
        const double (*v)[3] = (const double (*)[3])cell->v[cell->start[f]];
        int nv = cell->start[f + 1] - cell->start[f];
        const candidate *nb = &c[cell->label[f]];
        double omega = face_solid_angle(v, nv);
        if (!(omega > 0)) continue;
        ct_voronoi_face *o = &out[m++];
        o->site = nb->site;
        o->dist = sqrt(nb->d2);
        for (int k = 0; k < 3; k++) o->pos[k] = centre[k] + nb->r[k];
        o->solid_angle = omega;
        o->volume = face_volume(v, nv);
        o->area = 3.0 * o->volume / (0.5 * o->dist);
        o->nverts = nv;
    }
    *faces = out;
    *nfaces = m;
    return CT_OK;
}

/* pymatgen's largest cutoff: the longest body diagonal of the cell + 0.01. */
static double max_cutoff(const ct_structure *s)
{
    static const int corners[4][3] = {{1, 1, 1}, {-1, 1, 1}, {1, -1, 1}, {1, 1, -1}};
    double best = 0;
    for (int i = 0; i < 4; i++) {
        double x[3];
        for (int k = 0; k < 3; k++)
            x[k] = corners[i][0] * s->matrix[0][k] + corners[i][1] * s->matrix[1][k] +
                   corners[i][2] * s->matrix[2][k];
        best = fmax(best, sqrt(dot3(x, x)));
    }
    return best + 0.01;
}

int ct_voronoi_cell(const ct_structure *s, int site, double cutoff, ct_voronoi_face **faces,
                    int *nfaces, double centre[3], ct_error *err)
{
    if (site < 0 || site >= s->natoms)
        return ct_fail(err, CT_EINVAL, "site %d out of range 1..%d", site + 1, s->natoms);
    if (!(cutoff > 0)) return ct_fail(err, CT_EINVAL, "cutoff must be positive");
    double c0[3];
    for (int k = 0; k < 3; k++)
        c0[k] = s->frac[site][0] * s->matrix[0][k] + s->frac[site][1] * s->matrix[1][k] +
                s->frac[site][2] * s->matrix[2][k];
    if (centre) memcpy(centre, c0, sizeof c0);
    double limit = max_cutoff(s);
    polyhedron cell = {0}, tmp = {0}, cap = {0};
    int rc;
    for (;;) {
        candidate *c = NULL;
        int n = 0, open = 0;
        rc = gather(s, site, cutoff, c0, &c, &n, err);
        if (rc != CT_OK) break;
        rc = build_cell(c, n, cutoff, &cell, &tmp, &cap, &open);
        if (rc != CT_OK) {
            rc = ct_fail(err, rc, "out of memory");
        } else if (!open) {
            rc = emit_faces(&cell, c, c0, faces, nfaces, err);
        } else if (cutoff >= limit) {
            rc = ct_fail(err, CT_EINVAL,
                         "site %d: Voronoi cell not closed within the maximum cutoff %g Å",
                         site + 1, limit);
        } else {
            cutoff = fmin(cutoff * 2, limit + 0.001);
            free(c);
            continue;
        }
        free(c);
        break;
    }
    poly_free(&cell);
    poly_free(&tmp);
    poly_free(&cap);
    return rc;
}
