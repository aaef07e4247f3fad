/*
 * test_render.c - structure pictures: the view's maths, what lands on
 * which pixel (ball colour, centre and radius, background, cell edges,
 * depth order), the font, PNG files, and bad arguments.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_csv.h"
#include "ct_elements.h"
#include "ct_font.h"
#include "ct_render.h"
#include "tap.h"

static const unsigned char WHITE[3] = {255, 255, 255};

static ct_structure *cubic(double a, int n, const int *z, const double (*f)[3])
{
    double cell[6] = {a, a, a, 90, 90, 90};
    ct_error err;
    ct_structure *s = ct_structure_new(cell, n, z, f, &err);
    if (!s) printf("#   %s\n", err.msg);
    return s;
}

static const unsigned char *px(const ct_canvas *c, double x, double y)
{
    return c->rgb + ((size_t)floor(y) * c->width + (size_t)floor(x)) * 3;
}

static int is_white(const unsigned char *p) { return p[0] == 255 && p[1] == 255 && p[2] == 255; }

/* Plain options: no title, legend or images, so only the cell and atoms draw. */
static ct_render_opts plain(int size)
{
    ct_render_opts o;
    ct_render_defaults(&o);
    o.size = size;
    o.legend = 0;
    o.images = 0;
    o.radius_scale = 1;
    return o;
}

static void test_projection(void)
{
    ct_projection p;
    ct_projection_view(&p, 0, 0);
    double x[3] = {1, 0, 0}, y[3] = {0, 1, 0}, z[3] = {0, 0, 1}, v[3];
    ct_project(&p, x, v);
    ok(v[0] == 1 && v[1] == 0 && v[2] == 0, "yaw 0 pitch 0: x is to the right");
    ct_project(&p, z, v);
    ok(fabs(v[0]) < 1e-12 && v[1] == -1 && fabs(v[2]) < 1e-12, "z is up (pixel y decreases)");
    ct_project(&p, y, v);
    ok(fabs(v[0]) < 1e-12 && fabs(v[1]) < 1e-12 && v[2] == -1, "y points away from the viewer");
    ct_projection_view(&p, 0, 90);
    ct_project(&p, z, v);
    ok(fabs(v[2] - 1) < 1e-12, "pitch 90 looks down on z");
    ct_projection_view(&p, 90, 0);
    ct_project(&p, y, v);
    ok(fabs(v[0] + 1) < 1e-12, "yaw 90 turns the crystal anticlockwise seen from above: y left");
    /* Any view is a rotation: orthonormal rows, determinant +1. */
    double worst = 0;
    for (int k = 0; k < 50; k++) {
        ct_projection_view(&p, -180 + 7.3 * k, -90 + 3.7 * k);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                double d = 0;
                for (int m = 0; m < 3; m++) d += p.rot[i][m] * p.rot[j][m];
                worst = fmax(worst, fabs(d - (i == j)));
            }
        double (*r)[3] = p.rot;
        double det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) -
                     r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0]) +
                     r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
        worst = fmax(worst, fabs(det - 1));
    }
    ok(worst < 1e-12, "views are rotations (worst error %g)", worst);
    p.scale = 10;
    p.x0 = 100;
    p.y0 = 50;
    ct_projection_view(&p, 0, 0);
    ok(p.scale == 1 && p.x0 == 0, "ct_projection_view resets scale and origin");
}

/* One oxygen at the centre of a cubic cell. */
static void test_single_atom(void)
{
    int z[1] = {8};
    double f[1][3] = {{0.5, 0.5, 0.5}};
    ct_structure *s = cubic(4, 1, z, f);
    ct_render_opts o = plain(256);
    ct_projection p;
    ct_error err;
    ct_canvas c;
    if (!s || ct_canvas_init(&c, 256, 256, WHITE, &err) != CT_OK) return;
    ok(ct_render_projection(s, &o, &p, &err) == CT_OK, "projection");
    ok(ct_render_structure(&c, 0, 0, s, &o, &err) == CT_OK, "render");
    double centre[3] = {2, 2, 2}, at[3];
    ct_project(&p, centre, at);
    near(at[0], 128, 1e-9, "the cell centre lands on the picture's centre (x)");
    near(at[1], 128, 1e-9, "the cell centre lands on the picture's centre (y)");
    const unsigned char *q = px(&c, at[0], at[1]);
    ok(q[0] > 180 && q[1] < q[0] - 80 && q[2] < q[0] - 80, "centre pixel is oxygen red (%d %d %d)",
       q[0], q[1], q[2]);
    /* The ball's radius: walk right from the centre to the last red pixel. */
    double want = ct_render_radius(8) * o.radius_scale * p.scale;
    int x = (int)at[0];
    while (x < 255 && px(&c, x + 1, at[1])[0] - px(&c, x + 1, at[1])[1] > 60) x++;
    near(x + 1 - at[0], want, 1.5, "ball radius in pixels");
    ok(is_white(px(&c, 2, 2)) && is_white(px(&c, 253, 128)), "background where nothing is");
    /* The nearest cell edge: from corner (0,0,0)... pick the corner nearest
       the viewer and its edge along x. */
    double best = -1e9, corner[3] = {0, 0, 0};
    for (int k = 0; k < 8; k++) {
        double r[3] = {4.0 * (k & 1), 4.0 * (k >> 1 & 1), 4.0 * (k >> 2 & 1)}, v[3];
        ct_project(&p, r, v);
        if (v[2] > best) best = v[2], memcpy(corner, r, sizeof r);
    }
    double other[3] = {4 - corner[0], corner[1], corner[2]}, a[3], b[3];
    ct_project(&p, corner, a);
    ct_project(&p, other, b);
    const unsigned char *e = px(&c, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2);
    ok(e[0] < 160 && e[0] == e[1] && e[1] == e[2], "a cell edge is drawn (grey %d)", e[0]);
    ct_canvas_free(&c);
    ct_structure_free(s);
}

/* Two atoms one behind the other along the line of sight: the nearer one
   shows whatever order they come in. */
static void test_depth_order(void)
{
    for (int order = 0; order < 2; order++) {
        int z[2] = {order ? 17 : 11, order ? 11 : 17};           /* Na near, Cl far */
        double f[2][3] = {{0.5, order ? 0.75 : 0.25, 0.5}, {0.5, order ? 0.25 : 0.75, 0.5}};
        ct_structure *s = cubic(6, 2, z, (const double (*)[3])f);
        ct_render_opts o = plain(200);
        o.yaw = o.pitch = 0;
        ct_canvas c;
        ct_error err;
        ct_projection p;
        if (!s || ct_canvas_init(&c, 200, 200, WHITE, &err) != CT_OK) return;
        ct_render_structure(&c, 0, 0, s, &o, &err);
        ct_render_projection(s, &o, &p, &err);
        double r[3] = {3, 3, 3}, v[3];
        ct_project(&p, r, v);
        const unsigned char *q = px(&c, v[0], v[1]);
        ok(q[2] > q[1] + 40, "the nearer atom (Na, purple) wins, atoms in order %d (%d %d %d)",
           order, q[0], q[1], q[2]);
        ct_canvas_free(&c);
        ct_structure_free(s);
    }
}

/* Periodic images: an atom at the origin of a cubic cell shows at all
   eight corners with images, at one without. */
static void test_images(void)
{
    int z[1] = {8};
    double f[1][3] = {{0, 0, 0}};
    ct_structure *s = cubic(4, 1, z, f);
    int counts[2];
    for (int images = 0; images < 2; images++) {
        ct_render_opts o = plain(200);
        o.images = images;
        o.radius_scale = 0.5;
        ct_canvas c;
        ct_error err;
        ct_projection p;
        if (!s || ct_canvas_init(&c, 200, 200, WHITE, &err) != CT_OK) return;
        ct_render_structure(&c, 0, 0, s, &o, &err);
        ct_render_projection(s, &o, &p, &err);
        counts[images] = 0;
        for (int k = 0; k < 8; k++) {
            double r[3] = {4.0 * (k & 1), 4.0 * (k >> 1 & 1), 4.0 * (k >> 2 & 1)}, v[3];
            ct_project(&p, r, v);
            const unsigned char *q = px(&c, v[0], v[1]);
            counts[images] += q[0] > q[1] + 60;
        }
        ct_canvas_free(&c);
    }
    ok(counts[0] == 1 && counts[1] == 8, "corner atom: %d corners without images, %d with",
       counts[0], counts[1]);
    ct_structure_free(s);
}

/* The legend band takes room from the crystal, except on small tiles. */
static void test_legend_room(void)
{
    int z[2] = {11, 17};
    double f[2][3] = {{0, 0, 0}, {0.5, 0.5, 0.5}};
    ct_structure *s = cubic(4, 2, z, (const double (*)[3])f);
    double scale[2][2];
    for (int big = 0; big < 2; big++)
        for (int legend = 0; legend < 2; legend++) {
            ct_render_opts o = plain(big ? 512 : 64);
            o.legend = legend;
            ct_projection p;
            ct_error err;
            ct_render_projection(s, &o, &p, &err);
            scale[big][legend] = p.scale;
        }
    ok(scale[1][1] < 0.95 * scale[1][0], "512 px: the legend takes room (%g < %g)", scale[1][1],
       scale[1][0]);
    ok(scale[0][1] == scale[0][0], "64 px: no legend, the crystal keeps its room");
    ct_structure_free(s);
}

static void test_font(void)
{
    int bits = 0;
    for (int y = 0; y < CT_FONT_GLYPH_H; y++)
        for (int x = 0; x < CT_FONT_GLYPH_W; x++) bits += ct_font_pixel('H', x, y);
    ok(bits == 7 + 7 + 3, "H has two bars and a crossbar (%d pixels)", bits);
    ok(ct_font_pixel('.', 2, 6) && !ct_font_pixel('.', 2, 0) && !ct_font_pixel(' ', 2, 3),
       "'.' sits on the baseline, space is empty");
    ok(ct_font_width("abc", 1) == 17 && ct_font_width("abc", 2) == 34 && ct_font_width("", 3) == 0,
       "text widths");
    ok(ct_font_width("\xc3\x85", 1) == 5, "a UTF-8 sequence is one character");
    unsigned char buf[20 * 20 * 3];
    memset(buf, 255, sizeof buf);
    unsigned char black[3] = {0, 0, 0};
    ct_font_draw(buf, 20, 20, 1, 1, "H", 2, black);
    int dark = 0;
    for (int i = 0; i < 20 * 20; i++) dark += buf[3 * i] == 0;
    ok(dark == 17 * 4, "H at scale 2 sets 4 pixels per font pixel (%d)", dark);
    ok(buf[(1 * 20 + 1) * 3] == 0 && buf[(1 * 20 + 3) * 3] == 255, "glyph at its corner");
    memset(buf, 255, sizeof buf);
    ct_font_draw(buf, 20, 20, 15, 15, "H", 2, black);   /* clipped, no overflow */
    dark = 0;
    for (int i = 0; i < 20 * 20; i++) dark += buf[3 * i] == 0;
    ok(dark > 0 && dark < 17 * 4, "text is clipped at the buffer's edge");
    ct_canvas c;
    ct_error err;
    if (ct_canvas_init(&c, 20, 20, WHITE, &err) == CT_OK) {
        ct_canvas_rect(&c, 18, 18, 10, 10, black);   /* clipped to 2×2 */
        ct_canvas_text(&c, 1, 1, "H", 2, black);
        dark = 0;
        for (int i = 0; i < 20 * 20; i++) dark += c.rgb[3 * i] == 0;
        ok(dark == 17 * 4 + 4, "canvas text and a clipped rectangle (%d dark pixels)", dark);
        ct_canvas_free(&c);
    }
    int same = 1;
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 5; x++) same &= ct_font_pixel(1, x, y) == ct_font_pixel('?', x, y);
    ok(same, "unknown characters draw as '?'");
}

static void test_tables(void)
{
    unsigned char c[3];
    ct_render_color(8, c);
    ok(c[0] == 0xFF && c[1] == 0x0D && c[2] == 0x0D, "oxygen is Jmol red");
    ct_render_color(1, c);
    ok(c[0] == 255 && c[1] == 255 && c[2] == 255, "hydrogen is white");
    ct_render_color(103, c);
    ok(c[0] == 0xC7 && c[1] == 0 && c[2] == 0x66, "the table reaches Lr");
    near(ct_render_radius(11), 1.8, 1e-12, "Na: the atomic radius");
    near(ct_render_radius(2), 0.75 * 1.4, 1e-12, "He: 0.75 × van der Waals");
    near(ct_render_radius(103), 1.5, 1e-12, "Lr: the fallback");
    const char *top = getenv("top_srcdir");
    char path[4096];
    snprintf(path, sizeof path, "%s/share/elements.csv", top ? top : ".");
    ct_csv csv;
    ct_error err;
    if (!ok(ct_csv_read(path, &csv, &err) == CT_OK, "read share/elements.csv")) return;
    int zc = ct_csv_column(&csv, "Z"), ac = ct_csv_column(&csv, "atomic_radius");
    int vc = ct_csv_column(&csv, "vdw_radius"), bad = 0;
    for (size_t r = 0; r < csv.nrows; r++) {
        int z = atoi(ct_csv_cell(&csv, r, (size_t)zc));
        const char *a = ct_csv_cell(&csv, r, (size_t)ac), *v = ct_csv_cell(&csv, r, (size_t)vc);
        double ra = ct_element_atomic_radius(z), rv = ct_element_vdw_radius(z);
        if ((*a ? ra != atof(a) : !isnan(ra)) || (*v ? rv != atof(v) : !isnan(rv))) bad++;
    }
    ok(csv.nrows == CT_MAX_Z && bad == 0, "radii match elements.csv (%d bad)", bad);
    ct_csv_free(&csv);
    ok(isnan(ct_element_atomic_radius(0)) && isnan(ct_element_vdw_radius(104)), "radii outside 1..103");
}

/* Read a PNG's signature and IHDR size; 0 if it is not one. */
static int png_size(const char *path, int *w, int *h)
{
    unsigned char b[24];
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    size_t n = fread(b, 1, sizeof b, fp);
    fclose(fp);
    if (n != 24 || memcmp(b, "\x89PNG\r\n\x1a\n", 8) || memcmp(b + 12, "IHDR", 4)) return 0;
    *w = b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19];
    *h = b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23];
    return 1;
}

static void test_files(void)
{
    char dir[] = "/tmp/test_render_XXXXXX", path[256];
    if (!mkdtemp(dir)) return;
    int z[2] = {11, 17}, w = 0, h = 0;
    double f[2][3] = {{0, 0, 0}, {0.5, 0.5, 0.5}};
    ct_structure *s = cubic(4, 2, z, (const double (*)[3])f);
    ct_render_opts o;
    ct_render_defaults(&o);
    o.size = 300;
    o.title = "NaCl \xc3\x85";
    ct_error err;
    snprintf(path, sizeof path, "%s/one.png", dir);
    ok(ct_render_png(s, path, &o, &err) == CT_OK && png_size(path, &w, &h) && w == 300 && h == 300,
       "ct_render_png writes a 300×300 PNG");
    const ct_structure *list[3] = {s, NULL, s};
    const char *titles[3] = {"first", NULL, "third"};
    o.size = 100;
    snprintf(path, sizeof path, "%s/grid.png", dir);
    ok(ct_render_grid_png(list, 3, 2, titles, path, &o, &err) == CT_OK &&
       png_size(path, &w, &h) && w == 204 && h == 204, "a 2-column grid of 3 (%d×%d)", w, h);
    ok(ct_render_grid_png(list, 3, 0, NULL, path, &o, &err) == CT_OK && png_size(path, &w, &h) &&
       w == 204, "cols 0: about square");
    ok(ct_render_grid_png(list, 1, 5, NULL, path, &o, &err) == CT_OK && png_size(path, &w, &h) &&
       w == 100 && h == 100, "more columns than pictures: one tile wide");
    int rc = ct_render_png(s, "/nonexistent/dir/x.png", &o, &err);
    ok(rc == CT_EIO && strstr(err.msg, "/nonexistent/dir/x.png"), "bad path: %s", err.msg);
    snprintf(path, sizeof path, "%s/one.png", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/grid.png", dir);
    remove(path);
    rmdir(dir);
    /* The failed tile: grey, with red text in the middle. */
    ct_canvas c;
    if (ct_canvas_init(&c, 120, 120, WHITE, &err) != CT_OK) return;
    ct_render_failed(&c, 0, 0, 120, NULL);
    int red = 0;
    for (int y = 40; y < 80; y++)
        for (int x = 0; x < 120; x++) red += px(&c, x, y)[0] > px(&c, x, y)[1] + 60;
    ok(red > 20 && px(&c, 10, 10)[0] < 255 && is_white(px(&c, 1, 1)), "a failed tile says so");
    ct_canvas_free(&c);
    ct_structure_free(s);
}

static void test_bad_args(void)
{
    ct_render_opts o;
    ct_error err;
    ct_render_defaults(&o);
    ok(ct_render_check(&o, &err) == CT_OK, "defaults are valid");
    o.size = 8;
    ok(ct_render_check(&o, &err) == CT_EINVAL && strstr(err.msg, "size"), "size 8: %s", err.msg);
    ct_render_defaults(&o);
    o.radius_scale = 0;
    ok(ct_render_check(&o, &err) == CT_EINVAL && strstr(err.msg, "radius_scale"), "radius_scale 0");
    ct_render_defaults(&o);
    o.yaw = NAN;
    ok(ct_render_check(&o, &err) == CT_EINVAL, "yaw NaN");
    ct_canvas c;
    ok(ct_canvas_init(&c, 0, 10, WHITE, &err) == CT_EINVAL && c.rgb == NULL, "a 0-wide canvas");
    ct_render_defaults(&o);
    ok(ct_render_grid_png(NULL, 0, 0, NULL, "x.png", &o, &err) == CT_EINVAL, "an empty grid");
    o.size = 4096;
    const ct_structure *many[5] = {NULL, NULL, NULL, NULL, NULL};
    ok(ct_render_grid_png(many, 5, 5, NULL, "x.png", &o, &err) == CT_EINVAL &&
       strstr(err.msg, "too large"), "a grid too large: %s", err.msg);
    remove("x.png");
    /* Primitives clip and ignore nonsense instead of crashing. */
    if (ct_canvas_init(&c, 10, 10, WHITE, &err) != CT_OK) return;
    unsigned char k[3] = {0, 0, 0};
    ct_canvas_ball(&c, -50, -50, 20, k, 0, WHITE);
    ct_canvas_ball(&c, NAN, 5, 3, k, 0, WHITE);
    ct_canvas_line(&c, 5, 5, 5, 5, 2, k, 1);
    ct_canvas_line(&c, -100, 5, 100, 5, 1, k, 1);
    ok(is_white(px(&c, 0, 0)) && !is_white(px(&c, 5, 5)), "primitives clip");
    ct_canvas_free(&c);
}

int main(void)
{
    test_projection();
    test_single_atom();
    test_depth_order();
    test_images();
    test_legend_room();
    test_font();
    test_tables();
    test_files();
    test_bad_args();
    return tap_done();
}
