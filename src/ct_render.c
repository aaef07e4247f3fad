/*
 * ct_render.c - structure pictures: canvas primitives, the view, and the
 * painter's-algorithm rendering of a unit cell (see ct_render.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_elements.h"
#include "ct_font.h"
#include "ct_parallel.h"
#include "ct_png.h"
#include "ct_render.h"

#define PI 3.14159265358979323846

static const unsigned char WHITE[3] = {255, 255, 255};
static const unsigned char INK[3] = {34, 34, 34};        /* text */
static const unsigned char EDGE[3] = {72, 72, 72};       /* cell edges */
static const double FOG_MAX = 0.35;   /* the farthest things are 35% background */
static const int EDGE_PIECES = 16;    /* an edge's pieces, each sorted on its own */
/* Atoms this close to a face (fractional) count as on it, for images. */
static const double FACE_TOL = 1e-3;

/* Jmol's CPK colours (jmol.sourceforge.net/jscolors), Z = 1..103. */
static const unsigned int cpk[CT_MAX_Z] = {
    0xFFFFFF, 0xD9FFFF, 0xCC80FF, 0xC2FF00, 0xFFB5B5, 0x909090, 0x3050F8, 0xFF0D0D, /* H-O */
    0x90E050, 0xB3E3F5, 0xAB5CF2, 0x8AFF00, 0xBFA6A6, 0xF0C8A0, 0xFF8000, 0xFFFF30, /* F-S */
    0x1FF01F, 0x80D1E3, 0x8F40D4, 0x3DFF00, 0xE6E6E6, 0xBFC2C7, 0xA6A6AB, 0x8A99C7, /* Cl-Cr */
    0x9C7AC7, 0xE06633, 0xF090A0, 0x50D050, 0xC88033, 0x7D80B0, 0xC28F8F, 0x668F8F, /* Mn-Ge */
    0xBD80E3, 0xFFA100, 0xA62929, 0x5CB8D1, 0x702EB0, 0x00FF00, 0x94FFFF, 0x94E0E0, /* As-Zr */
    0x73C2C9, 0x54B5B5, 0x3B9E9E, 0x248F8F, 0x0A7D8C, 0x006985, 0xC0C0C0, 0xFFD98F, /* Nb-Cd */
    0xA67573, 0x668080, 0x9E63B5, 0xD47A00, 0x940094, 0x429EB0, 0x57178F, 0x00C900, /* In-Ba */
    0x70D4FF, 0xFFFFC7, 0xD9FFC7, 0xC7FFC7, 0xA3FFC7, 0x8FFFC7, 0x61FFC7, 0x45FFC7, /* La-Gd */
    0x30FFC7, 0x1FFFC7, 0x00FF9C, 0x00E675, 0x00D452, 0x00BF38, 0x00AB24, 0x4DC2FF, /* Tb-Hf */
    0x4DA6FF, 0x2194D6, 0x267DAB, 0x266696, 0x175487, 0xD0D0E0, 0xFFD123, 0xB8B8D0, /* Ta-Hg */
    0xA6544D, 0x575961, 0x9E4FB5, 0xAB5C00, 0x754F45, 0x428296, 0x420066, 0x007D00, /* Tl-Ra */
    0x70ABFA, 0x00BAFF, 0x00A1FF, 0x008FFF, 0x0080FF, 0x006BFF, 0x545CF2, 0x785CE3, /* Ac-Cm */
    0x8A4FE3, 0xA136D4, 0xB31FD4, 0xB31FBA, 0xB30DA6, 0xBD0D87, 0xC70066,           /* Bk-Lr */
};

void ct_render_color(int z, unsigned char rgb[3])
{
    unsigned int c = z >= 1 && z <= CT_MAX_Z ? cpk[z - 1] : 0xFF1493;
    rgb[0] = (unsigned char)(c >> 16);
    rgb[1] = (unsigned char)(c >> 8);
    rgb[2] = (unsigned char)c;
}

double ct_render_radius(int z)
{
    double r = ct_element_atomic_radius(z);
    if (isnan(r)) r = 0.75 * ct_element_vdw_radius(z);
    return isnan(r) ? 1.5 : r;
}

/* Canvas ------------------------------------------------------------------ */

int ct_canvas_init(ct_canvas *c, int width, int height, const unsigned char bg[3],
                   ct_error *err)
{
    c->width = c->height = 0;
    c->rgb = NULL;
    if (width < 1 || height < 1 || width > 16384 || height > 16384)
        return ct_fail(err, CT_EINVAL, "a %d×%d picture: sides must be 1 to 16384", width, height);
    c->rgb = malloc((size_t)width * height * 3);
    if (!c->rgb) return ct_fail(err, CT_ENOMEM, "out of memory for a %d×%d picture", width, height);
    c->width = width;
    c->height = height;
    if (bg[0] == bg[1] && bg[1] == bg[2]) memset(c->rgb, bg[0], (size_t)width * height * 3);
    else for (size_t i = 0; i < (size_t)width * height; i++) memcpy(c->rgb + 3 * i, bg, 3);
    return CT_OK;
}

void ct_canvas_free(ct_canvas *c)
{
    free(c->rgb);
    c->rgb = NULL;
    c->width = c->height = 0;
}

void ct_canvas_blend(ct_canvas *c, int x, int y, const unsigned char color[3], double alpha)
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height || !(alpha > 0)) return;
    unsigned char *p = c->rgb + ((size_t)y * c->width + x) * 3;
    if (alpha >= 1) {
        memcpy(p, color, 3);
        return;
    }
    for (int k = 0; k < 3; k++) p[k] = (unsigned char)lrint(p[k] + alpha * (color[k] - p[k]));
}

void ct_canvas_rect(ct_canvas *c, int x, int y, int w, int h, const unsigned char color[3])
{
    for (int j = y < 0 ? 0 : y; j < y + h && j < c->height; j++)
        for (int i = x < 0 ? 0 : x; i < x + w && i < c->width; i++)
            memcpy(c->rgb + ((size_t)j * c->width + i) * 3, color, 3);
}

static double clamp01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

/* Where primitives draw: a clip rectangle [x0, x1) × [y0, y1) of a canvas
   and, for a structure's tile, a depth buffer over that rectangle (depth
   in pixels, larger nearer).  Painting back to front gets almost every
   pixel right; the buffer catches the rest: edge pieces inside a ball,
   balls that intersect. */
typedef struct {
    ct_canvas *c;
    int x0, y0, x1, y1;
    float *z;   /* NULL: no depth test */
} target;

static target whole(ct_canvas *c)
{
    target t = {c, 0, 0, c->width, c->height, NULL};
    return t;
}

/* The tile of size at (x, y), clipped to the canvas, without depth. */
static target tile(ct_canvas *c, int x, int y, int size)
{
    target t = {c, x < 0 ? 0 : x, y < 0 ? 0 : y, x + size, y + size, NULL};
    if (t.x1 > c->width) t.x1 = c->width;
    if (t.y1 > c->height) t.y1 = c->height;
    return t;
}

/* The pixel range [lo, hi) that covers [a - pad, b + pad], clipped to
   [min, max). */
static void span(double a, double b, double pad, int min, int max, int *lo, int *hi)
{
    double mn = a < b ? a : b, mx = a < b ? b : a;
    *lo = mn - pad < min ? min : (int)floor(mn - pad);
    *hi = mx + pad + 1 > max ? max : (int)ceil(mx + pad + 1);
}

/* The depth buffer cell of pixel (i, j), or NULL without one. */
static float *zcell(const target *t, int i, int j)
{
    return t->z ? t->z + (size_t)(j - t->y0) * (t->x1 - t->x0) + (i - t->x0) : NULL;
}

/* A segment at depths z0..z1.  Flat caps: a pixel belongs to it when its
   foot on the line lies in [0, 1) of it, so consecutive pieces of an edge
   never paint a pixel twice.  Lines test depth but do not write it. */
static void line(const target *t, const double a[3], const double b[3], double width,
                 const unsigned char color[3], double alpha)
{
    double dx = b[0] - a[0], dy = b[1] - a[1], len2 = dx * dx + dy * dy;
    if (!(len2 > 1e-12) || !isfinite(len2)) return;
    double len = sqrt(len2), half = width / 2;
    int i0, i1, j0, j1;
    span(a[0], b[0], half + 1, t->x0, t->x1, &i0, &i1);
    span(a[1], b[1], half + 1, t->y0, t->y1, &j0, &j1);
    for (int j = j0; j < j1; j++)
        for (int i = i0; i < i1; i++) {
            double px = i + 0.5 - a[0], py = j + 0.5 - a[1];
            double u = (px * dx + py * dy) / len2;
            if (u < 0 || u >= 1) continue;
            double cover = clamp01(half + 0.5 - fabs(px * dy - py * dx) / len);
            const float *z = zcell(t, i, j);
            if (cover > 0 && (!z || a[2] + u * (b[2] - a[2]) >= (double)*z - 0.5))
                ct_canvas_blend(t->c, i, j, color, cover * alpha);
        }
}

void ct_canvas_line(ct_canvas *c, double x0, double y0, double x1, double y1, double width,
                    const unsigned char color[3], double alpha)
{
    target t = whole(c);
    double a[3] = {x0, y0, 0}, b[3] = {x1, y1, 0};
    line(&t, a, b, width, color, alpha);
}

/* Light from the upper left and front; the highlight's half vector. */
static const double LIGHT[3] = {-0.4575, 0.5592, 0.6914};
static const double HALF[3] = {-0.2404, 0.2938, 0.9252};

/* The colour of a ball's pixel with unit normal n (screen axes), before
   the rim and fog. */
static void shade(const double n[3], const unsigned char base[3], double out[3])
{
    double diff = n[0] * LIGHT[0] + n[1] * LIGHT[1] + n[2] * LIGHT[2];
    double h = n[0] * HALF[0] + n[1] * HALF[1] + n[2] * HALF[2];
    if (diff < 0) diff = 0;
    if (h < 0) h = 0;
    for (int i = 0; i < 5; i++) h *= h;   /* h^32: a tight highlight */
    for (int k = 0; k < 3; k++) out[k] = base[k] * (0.32 + 0.68 * diff) + 255 * 0.45 * h;
}

/* A ball centred at p (pixels; p[2] the depth of its centre). */
static void ball(const target *t, const double p[3], double r, const unsigned char color[3],
                 double fog, const unsigned char fog_color[3])
{
    if (!(r > 0) || !isfinite(p[0]) || !isfinite(p[1])) return;
    int i0, i1, j0, j1;
    span(p[0], p[0], r + 1, t->x0, t->x1, &i0, &i1);
    span(p[1], p[1], r + 1, t->y0, t->y1, &j0, &j1);
    double rim = r < 4 ? r / 4 : 1.25;   /* the dark outline's width in pixels */
    for (int j = j0; j < j1; j++)
        for (int i = i0; i < i1; i++) {
            double dx = i + 0.5 - p[0], dy = j + 0.5 - p[1];
            double d2 = dx * dx + dy * dy;
            if (d2 > (r + 0.5) * (r + 0.5)) continue;
            double d = sqrt(d2), cover = clamp01(r + 0.5 - d);
            double n[3] = {dx / r, -dy / r, 0};
            double nz2 = 1 - n[0] * n[0] - n[1] * n[1];
            n[2] = nz2 > 0 ? sqrt(nz2) : 0;
            float *z = zcell(t, i, j);
            double depth = p[2] + n[2] * r;
            if (z) {
                if (depth < (double)*z - 0.5) continue;
                if (cover >= 0.5 && depth > (double)*z) *z = (float)depth;
            }
            double v[3];
            shade(n, color, v);
            double e = clamp01((d - (r - rim)) / rim) * 0.55;   /* darker towards the rim */
            unsigned char px[3];
            for (int k = 0; k < 3; k++) {
                double x = v[k] * (1 - e);
                x += fog * (fog_color[k] - x);
                px[k] = (unsigned char)(x > 255 ? 255 : x < 0 ? 0 : lrint(x));
            }
            ct_canvas_blend(t->c, i, j, px, cover);
        }
}

void ct_canvas_ball(ct_canvas *c, double cx, double cy, double r, const unsigned char color[3],
                    double fog, const unsigned char fog_color[3])
{
    target t = whole(c);
    double p[3] = {cx, cy, 0};
    ball(&t, p, r, color, fog, fog_color);
}

/* Text clipped to the target. */
static void text(const target *t, int x, int y, const char *s, int scale,
                 const unsigned char color[3])
{
    const int clip[4] = {t->x0, t->y0, t->x1, t->y1};
    ct_font_draw_clip(t->c->rgb, t->c->width, clip, x, y, s, scale, color);
}

void ct_canvas_text(ct_canvas *c, int x, int y, const char *text, int scale,
                    const unsigned char color[3])
{
    ct_font_draw(c->rgb, c->width, c->height, x, y, text, scale, color);
}

int ct_canvas_write_png(const ct_canvas *c, const char *path, ct_error *err)
{
    return ct_png_write_rgb(c->rgb, c->width, c->height, path, err);
}

/* View -------------------------------------------------------------------- */

void ct_projection_view(ct_projection *p, double yaw, double pitch)
{
    double s = sin(yaw * PI / 180), c = cos(yaw * PI / 180);
    double sp = sin(pitch * PI / 180), cp = cos(pitch * PI / 180);
    const double rot[3][3] = {{c, -s, 0}, {s * sp, c * sp, cp}, {-s * cp, -c * cp, sp}};
    memcpy(p->rot, rot, sizeof rot);
    p->scale = 1;
    p->x0 = p->y0 = 0;
}

void ct_project(const ct_projection *p, const double r[3], double out[3])
{
    double v[3];
    for (int i = 0; i < 3; i++) v[i] = p->rot[i][0] * r[0] + p->rot[i][1] * r[1] + p->rot[i][2] * r[2];
    out[0] = p->x0 + p->scale * v[0];
    out[1] = p->y0 - p->scale * v[1];
    out[2] = v[2];
}

void ct_render_defaults(ct_render_opts *o)
{
    o->size = 512;
    o->yaw = -28;
    o->pitch = 18;
    o->radius_scale = 0.5;
    o->images = 1;
    o->legend = 1;
    o->title = NULL;
}

int ct_render_check(const ct_render_opts *o, ct_error *err)
{
    if (o->size < 16 || o->size > 4096)
        return ct_fail(err, CT_EINVAL, "size must be 16 to 4096 pixels, not %d", o->size);
    if (!isfinite(o->yaw) || !isfinite(o->pitch))
        return ct_fail(err, CT_EINVAL, "yaw and pitch must be finite angles (degrees)");
    if (!(o->radius_scale > 0 && o->radius_scale <= 10))
        return ct_fail(err, CT_EINVAL, "radius_scale must be in (0, 10], not %g", o->radius_scale);
    return CT_OK;
}

/* Layout ------------------------------------------------------------------ */

/* The font scale of a tile: 1 up to 383 pixels, 2 at 512, 4 at 1024. */
static int font_scale(int size) { return size < 384 ? 1 : size / 256; }

static int margin(int size) { return size / 25 + 2; }

/* The distinct elements of s in order of first appearance; return count. */
static int elements_of(const ct_structure *s, int *zs)
{
    int n = 0;
    unsigned char seen[CT_MAX_Z + 1] = {0};
    for (int i = 0; i < s->natoms; i++) {
        int z = s->z[i] >= 1 && s->z[i] <= CT_MAX_Z ? s->z[i] : 0;
        if (!seen[z]) {
            seen[z] = 1;
            zs[n++] = s->z[i];
        }
    }
    return n;
}

/* A legend entry's width: ball, gap, symbol, spacing. */
static int legend_item_width(int z, int fs)
{
    const char *sym = ct_element_symbol(z);
    return 8 * fs + 3 * fs + ct_font_width(sym ? sym : "?", fs) + 8 * fs;
}

/* The crystal axes a, b, c as short red, green and blue lines from a
   common origin, in the view's directions, in a box × box square at
   (bx, by). */
static void axes(const target *t, const ct_projection *p, const ct_structure *s, int bx, int by,
                 int box, int fs)
{
    static const unsigned char col[3][3] = {{200, 40, 40}, {30, 140, 30}, {40, 70, 210}};
    static const char *const name[3] = {"a", "b", "c"};
    double o[3] = {bx + box / 2.0, by + box / 2.0, 0}, len = box * 0.34;
    for (int k = 0; k < 3; k++) {
        const double *v = s->matrix[k];
        double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]), d[3];
        for (int i = 0; i < 3; i++)
            d[i] = (p->rot[i][0] * v[0] + p->rot[i][1] * v[1] + p->rot[i][2] * v[2]) / n;
        double tip[3] = {o[0] + len * d[0], o[1] - len * d[1], 0};
        line(t, o, tip, fs < 2 ? 1.2 : fs, col[k], 1);
        /* The label sits past the tip, also for an axis seen end-on. */
        double d2 = hypot(d[0], d[1]), ux = d2 > 0.2 ? d[0] / d2 : 0.7, uy = d2 > 0.2 ? d[1] / d2 : 0.7;
        double lx = tip[0] + 5 * fs * ux, ly = tip[1] - 5 * fs * uy;
        text(t, (int)lrint(lx - 2.5 * fs), (int)lrint(ly - 3.5 * fs), name[k], fs, col[k]);
    }
}

/* Lay out (t = NULL: only measure) the legend band at the bottom of a tile
   of size at (x, y): the axes at the left, then the element rows centred
   in the rest; return the band's height. */
static int legend(const target *t, const ct_projection *p, int x, int y, int size,
                  const ct_structure *s)
{
    int zs[CT_MAX_Z + 1], n = elements_of(s, zs), fs = font_scale(size), m = margin(size);
    int row_h = 10 * fs, max_rows = 4, box = 30 * fs, left = m + box + 2 * fs;
    int avail = size - m - left, rows = 0, k = 0;
    /* Count the rows first so the band can sit on the tile's bottom. */
    for (int i = 0; i < n && rows < max_rows; rows++) {
        int w = 0;
        while (i < n && (w == 0 || w + legend_item_width(zs[i], fs) <= avail))
            w += legend_item_width(zs[i++], fs);
    }
    int body = rows * row_h > box ? rows * row_h : box;
    if (!t) return body + m / 2;
    int top = y + size - m - body;
    axes(t, p, s, x + m, top + body - box, box, fs);
    for (int r = 0; r < rows; r++) {
        int first = k, w = 0;
        while (k < n && (w == 0 || w + legend_item_width(zs[k], fs) <= avail))
            w += legend_item_width(zs[k++], fs);
        int px = x + left + (avail - w + 8 * fs) / 2;
        int py = top + (body - rows * row_h) / 2 + r * row_h + fs;
        for (int i = first; i < k; i++) {
            unsigned char col[3];
            const char *sym = ct_element_symbol(zs[i]);
            double centre[3] = {px + 4 * fs, py + 3.5 * fs, 0};
            ct_render_color(zs[i], col);
            ball(t, centre, 4 * fs, col, 0, WHITE);
            text(t, px + 11 * fs, py, sym ? sym : "?", fs, INK);
            px += legend_item_width(zs[i], fs);
        }
    }
    return body + m / 2;
}

/* The legend band's height, 0 when it is off or would take more than a
   third of the tile (small grid tiles keep their room for the crystal). */
static int legend_height(const ct_structure *s, const ct_render_opts *o)
{
    int h = o->legend ? legend(NULL, NULL, 0, 0, o->size, s) : 0;
    return h <= o->size / 3 ? h : 0;
}

/* The title's band height (0 without one), and drawing it centred. */
static int title_band(int size, const char *title)
{
    return title && *title ? 9 * font_scale(size) + margin(size) / 2 : 0;
}

static void draw_title(const target *t, int x, int y, int size, const char *title)
{
    if (!title || !*title) return;
    int fs = font_scale(size), avail = size - 2 * margin(size);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", title);
    size_t len = strlen(buf);
    /* Too long: cut and mark the cut with "..". */
    while (len > 3 && ct_font_width(buf, fs) > avail) {
        buf[--len] = 0;
        memcpy(buf + len - 2, "..", 2);
    }
    int w = ct_font_width(buf, fs);
    text(t, x + (size - w) / 2, y + margin(size), buf, fs, INK);
}

/* Geometry ---------------------------------------------------------------- */

/* What the painter sorts: a ball or a piece of an edge. */
typedef struct {
    double depth;
    int z;              /* element; 0 for an edge piece */
    double p[3], q[3];  /* ball: centre (Cartesian); piece: its two ends */
} item;

static void frac_to_cart(const ct_structure *s, const double f[3], double r[3])
{
    for (int k = 0; k < 3; k++)
        r[k] = f[0] * s->matrix[0][k] + f[1] * s->matrix[1][k] + f[2] * s->matrix[2][k];
}

/* Append atom i of s and, with images, its copies on the opposite faces
   (an atom on a corner appears at all eight); return the new count. */
static int add_atom(const ct_structure *s, int i, int images, item *it, int n)
{
    double base[3], alt[3];
    int on[3];
    for (int k = 0; k < 3; k++) {
        base[k] = s->frac[i][k];
        on[k] = 0;
        if (images && base[k] < FACE_TOL) on[k] = 1, alt[k] = base[k] + 1;
        else if (images && base[k] > 1 - FACE_TOL) on[k] = 1, alt[k] = base[k] - 1;
    }
    for (int mask = 0; mask < 8; mask++) {
        if ((mask & 1 && !on[0]) || (mask & 2 && !on[1]) || (mask & 4 && !on[2])) continue;
        double f[3];
        for (int k = 0; k < 3; k++) f[k] = mask >> k & 1 ? alt[k] : base[k];
        it[n].z = s->z[i];
        frac_to_cart(s, f, it[n].p);
        n++;
    }
    return n;
}

/* Append the twelve cell edges, each in EDGE_PIECES pieces. */
static int add_edges(const ct_structure *s, item *it, int n)
{
    for (int axis = 0; axis < 3; axis++)
        for (int corner = 0; corner < 4; corner++) {
            double f0[3], f1[3];
            int u = (axis + 1) % 3, v = (axis + 2) % 3;
            f0[axis] = 0;
            f0[u] = corner & 1;
            f0[v] = corner >> 1 & 1;
            for (int k = 0; k < EDGE_PIECES; k++) {
                memcpy(f1, f0, sizeof f1);
                double a[3], b[3];
                f1[axis] = (double)k / EDGE_PIECES;
                frac_to_cart(s, f1, a);
                f1[axis] = (double)(k + 1) / EDGE_PIECES;
                frac_to_cart(s, f1, b);
                it[n].z = 0;
                memcpy(it[n].p, a, sizeof a);
                memcpy(it[n].q, b, sizeof b);
                n++;
            }
        }
    return n;
}

static int by_depth(const void *a, const void *b)
{
    double x = ((const item *)a)->depth, y = ((const item *)b)->depth;
    return (x > y) - (x < y);
}

/* The atoms and edge pieces of s (malloc'd), depths unset; *n their count. */
static item *gather(const ct_structure *s, int images, int *n, ct_error *err)
{
    size_t cap = (size_t)s->natoms * (images ? 8 : 1) + 12 * EDGE_PIECES;
    item *it = malloc(cap * sizeof *it);
    if (!it) {
        ct_fail(err, CT_ENOMEM, "out of memory for a picture of %d atoms", s->natoms);
        return NULL;
    }
    int k = 0;
    for (int i = 0; i < s->natoms; i++) k = add_atom(s, i, images, it, k);
    *n = add_edges(s, it, k);
    return it;
}

/* Fit the view's bounding box of items (balls with their radii) into the
   area [ax0, ax1] × [ay0, ay1]. */
static void fit(ct_projection *p, const item *it, int n, double rscale, double ax0, double ax1,
                double ay0, double ay1)
{
    double lo[2] = {HUGE_VAL, HUGE_VAL}, hi[2] = {-HUGE_VAL, -HUGE_VAL};
    for (int i = 0; i < n; i++) {
        double r = it[i].z ? ct_render_radius(it[i].z) * rscale : 0, v[3];
        ct_project(p, it[i].p, v);
        double pts[2][2] = {{v[0] - r, -v[1] - r}, {v[0] + r, -v[1] + r}};
        if (!it[i].z) {   /* a piece: its far end counts too */
            ct_project(p, it[i].q, v);
            pts[1][0] = v[0];
            pts[1][1] = -v[1];
        }
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 2; k++) {
                if (pts[j][k] < lo[k]) lo[k] = pts[j][k];
                if (pts[j][k] > hi[k]) hi[k] = pts[j][k];
            }
    }
    double w = hi[0] - lo[0], h = hi[1] - lo[1];
    double sx = w > 0 ? (ax1 - ax0) / w : HUGE_VAL, sy = h > 0 ? (ay1 - ay0) / h : HUGE_VAL;
    p->scale = sx < sy ? sx : sy;
    if (!isfinite(p->scale)) p->scale = 1;
    p->x0 = (ax0 + ax1) / 2 - p->scale * (lo[0] + hi[0]) / 2;
    p->y0 = (ay0 + ay1) / 2 + p->scale * (lo[1] + hi[1]) / 2;
}

/* The projection for gathered items in a tile (legend band measured). */
static void layout(const ct_structure *s, const ct_render_opts *o, const item *it, int n,
                   ct_projection *p)
{
    int m = margin(o->size);
    int top = m + title_band(o->size, o->title);
    int bottom = o->size - m - legend_height(s, o);
    ct_projection_view(p, o->yaw, o->pitch);
    fit(p, it, n, o->radius_scale, m, o->size - m, top, bottom > top + 8 ? bottom : top + 8);
}

int ct_render_projection(const ct_structure *s, const ct_render_opts *o, ct_projection *p,
                         ct_error *err)
{
    int rc = ct_render_check(o, err), n;
    if (rc != CT_OK) return rc;
    item *it = gather(s, o->images, &n, err);
    if (!it) return CT_ENOMEM;
    layout(s, o, it, n, p);
    free(it);
    return CT_OK;
}

/* Drawing ----------------------------------------------------------------- */

static void paint(const target *t, const ct_projection *p, item *it, int n,
                  const ct_render_opts *o)
{
    double dmin = HUGE_VAL, dmax = -HUGE_VAL;
    for (int i = 0; i < n; i++) {
        double v[3];
        ct_project(p, it[i].p, v);
        it[i].depth = v[2];
        if (!it[i].z) {   /* a piece sorts by its middle */
            ct_project(p, it[i].q, v);
            it[i].depth = (it[i].depth + v[2]) / 2;
        }
        if (it[i].depth < dmin) dmin = it[i].depth;
        if (it[i].depth > dmax) dmax = it[i].depth;
    }
    qsort(it, (size_t)n, sizeof *it, by_depth);
    double range = dmax > dmin ? dmax - dmin : 1, lw = o->size / 340.0;
    if (lw < 1) lw = 1;
    for (int i = 0; i < n; i++) {
        double fog = FOG_MAX * (dmax - it[i].depth) / range, a[3], b[3];
        unsigned char col[3];
        ct_project(p, it[i].p, a);
        a[2] *= p->scale;   /* depths in pixels, like the radii */
        if (it[i].z) {
            ct_render_color(it[i].z, col);
            ball(t, a, ct_render_radius(it[i].z) * o->radius_scale * p->scale, col, fog, WHITE);
        } else {
            for (int k = 0; k < 3; k++) col[k] = (unsigned char)lrint(EDGE[k] + fog * (255 - EDGE[k]));
            ct_project(p, it[i].q, b);
            b[2] *= p->scale;
            line(t, a, b, lw, col, 1);
        }
    }
}

int ct_render_structure(ct_canvas *c, int x, int y, const ct_structure *s,
                        const ct_render_opts *o, ct_error *err)
{
    int rc = ct_render_check(o, err), n;
    if (rc != CT_OK) return rc;
    item *it = gather(s, o->images, &n, err);
    if (!it) return CT_ENOMEM;
    /* The tile's own clip and depth buffer: grid tiles draw in parallel. */
    target t = tile(c, x, y, o->size);
    if (t.x1 <= t.x0 || t.y1 <= t.y0) {
        free(it);
        return CT_OK;
    }
    size_t npx = (size_t)(t.x1 - t.x0) * (size_t)(t.y1 - t.y0);
    t.z = malloc(npx * sizeof *t.z);
    if (!t.z) {
        free(it);
        return ct_fail(err, CT_ENOMEM, "out of memory for a %d-pixel picture", o->size);
    }
    for (size_t i = 0; i < npx; i++) t.z[i] = -HUGE_VALF;
    ct_projection p;
    layout(s, o, it, n, &p);
    p.x0 += x;
    p.y0 += y;
    paint(&t, &p, it, n, o);
    free(t.z);
    t.z = NULL;   /* the legend draws over everything */
    if (legend_height(s, o)) legend(&t, &p, x, y, o->size, s);
    draw_title(&t, x, y, o->size, o->title);
    free(it);
    return CT_OK;
}

void ct_render_failed(ct_canvas *c, int x, int y, int size, const char *title)
{
    static const unsigned char grey[3] = {236, 236, 236}, red[3] = {170, 40, 40};
    static const char *const word = "failed";
    target t = tile(c, x, y, size);
    if (t.x1 <= t.x0 || t.y1 <= t.y0) return;
    int m = margin(size), fs = 2 * font_scale(size);
    ct_canvas_rect(c, x + m, y + m, size - 2 * m, size - 2 * m, grey);
    draw_title(&t, x, y, size, title);
    while (fs > 1 && ct_font_width(word, fs) > size - 2 * m) fs--;
    text(&t, x + (size - ct_font_width(word, fs)) / 2, y + (size - 7 * fs) / 2, word, fs, red);
}

int ct_render_png(const ct_structure *s, const char *path, const ct_render_opts *o,
                  ct_error *err)
{
    int rc = ct_render_check(o, err);
    if (rc != CT_OK) return rc;
    ct_canvas c;
    rc = ct_canvas_init(&c, o->size, o->size, WHITE, err);
    if (rc == CT_OK) rc = ct_render_structure(&c, 0, 0, s, o, err);
    if (rc == CT_OK) rc = ct_canvas_write_png(&c, path, err);
    ct_canvas_free(&c);
    return rc;
}

/* Grid -------------------------------------------------------------------- */

#define GRID_GAP 4   /* pixels between tiles */

typedef struct {
    ct_canvas *c;
    const ct_structure *const *s;
    const char *const *titles;
    const ct_render_opts *o;
    int cols;
    int *rc;   /* one per tile */
} grid_job;

static void grid_share(void *ctx, size_t begin, size_t end)
{
    grid_job *g = ctx;
    for (size_t i = begin; i < end; i++) {
        if (ct_interrupted()) {
            g->rc[i] = CT_EINTR;
            continue;
        }
        ct_render_opts o = *g->o;
        if (g->titles) o.title = g->titles[i];
        int x = (int)(i % (size_t)g->cols) * (o.size + GRID_GAP);
        int y = (int)(i / (size_t)g->cols) * (o.size + GRID_GAP);
        if (!g->s[i]) ct_render_failed(g->c, x, y, o.size, o.title);
        else g->rc[i] = ct_render_structure(g->c, x, y, g->s[i], &o, NULL);
    }
}

int ct_render_grid_png(const ct_structure *const *s, int n, int cols, const char *const *titles,
                       const char *path, const ct_render_opts *o, ct_error *err)
{
    int rc = ct_render_check(o, err);
    if (rc != CT_OK) return rc;
    if (n < 1) return ct_fail(err, CT_EINVAL, "a grid needs at least one picture");
    if (cols < 0) return ct_fail(err, CT_EINVAL, "cols must be positive, not %d", cols);
    if (cols == 0) cols = (int)ceil(sqrt((double)n));
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    long w = (long)cols * (o->size + GRID_GAP) - GRID_GAP;
    long h = (long)rows * (o->size + GRID_GAP) - GRID_GAP;
    if (w > 16384 || h > 16384)
        return ct_fail(err, CT_EINVAL, "a grid of %d×%d tiles of %d pixels is too large "
                       "(16384 pixels a side at most)", cols, rows, o->size);
    ct_canvas c;
    rc = ct_canvas_init(&c, (int)w, (int)h, WHITE, err);
    if (rc != CT_OK) return rc;
    int *rcs = calloc((size_t)n, sizeof *rcs);
    if (!rcs) {
        ct_canvas_free(&c);
        return ct_fail(err, CT_ENOMEM, "out of memory for a grid of %d pictures", n);
    }
    grid_job g = {&c, s, titles, o, cols, rcs};
    ct_parallel_for((size_t)n, ct_num_threads((size_t)n, 2), grid_share, &g);
    for (int i = 0; i < n && rc == CT_OK; i++)
        if (rcs[i] == CT_EINTR) rc = ct_fail(err, CT_EINTR, "interrupted");
        else if (rcs[i] != CT_OK) rc = ct_fail(err, rcs[i], "picture %d of the grid failed", i + 1);
    free(rcs);
    if (rc == CT_OK) rc = ct_canvas_write_png(&c, path, err);
    ct_canvas_free(&c);
    return rc;
}
