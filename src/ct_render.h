/*
 * ct_render.h - pictures of crystal structures with no external viewer:
 * the unit cell seen from an oblique direction, atoms as shaded balls
 * coloured by element, the twelve cell edges, a title, the crystal axes
 * and an element legend, written as PNG.
 *
 *     ct_render_opts o;
 *     ct_render_defaults(&o);            // 512 px, yaw -28°, pitch 18°
 *     o.title = "NaCl";
 *     if (ct_render_png(s, "nacl.png", &o, &err) != CT_OK) ...
 *
 * How it draws.  The Cartesian cell (a along x, c mostly up) is turned by
 * yaw about the vertical axis, then tilted by pitch towards the viewer,
 * and projected orthographically, scaled so that the cell and its atoms
 * fill the tile.  Atoms and cell edges (cut into short pieces) are sorted
 * by depth and painted back to front (the painter's algorithm); farther
 * ones fade towards the background, so depth reads at a glance.  Balls
 * and lines are anti-aliased by their pixel coverage.  Atoms on the cell's
 * faces, edges and corners are repeated at their periodic images on the
 * opposite sides (as VESTA draws a cell), unless images is 0.
 *
 * Colours follow Jmol's CPK scheme (ct_render_color; table in
 * ct_render.c).  Radii are the element table's atomic radii
 * (ct_element_atomic_radius), 0.75 × the van der Waals radius where that
 * is unknown (noble gases), else 1.5 Å, times radius_scale.
 *
 * A canvas is a plain RGB buffer the caller owns (ct_canvas_free).  The
 * drawing functions clip to it and never fail; only allocation and file
 * writing do.
 */
#ifndef CT_RENDER_H
#define CT_RENDER_H

#include "ct_common.h"
#include "ct_structure.h"

/* An RGB picture: 3 bytes a pixel, rows top to bottom. */
typedef struct {
    int width, height;
    unsigned char *rgb;
} ct_canvas;

/* Allocate a width × height canvas filled with bg (1..16384 a side). */
int ct_canvas_init(ct_canvas *c, int width, int height, const unsigned char bg[3],
                   ct_error *err);

/* Release the pixels (the struct itself is the caller's). */
void ct_canvas_free(ct_canvas *c);

/* Mix color into pixel (x, y) with weight alpha in [0, 1]; off-canvas
   pixels are ignored. */
void ct_canvas_blend(ct_canvas *c, int x, int y, const unsigned char color[3], double alpha);

/* Fill the rectangle with top-left (x, y), w × h pixels, clipped. */
void ct_canvas_rect(ct_canvas *c, int x, int y, int w, int h, const unsigned char color[3]);

/* Draw an anti-aliased segment width pixels wide (pixel centres at
   integer + 0.5 coordinates). */
void ct_canvas_line(ct_canvas *c, double x0, double y0, double x1, double y1, double width,
                    const unsigned char color[3], double alpha);

/* Draw a shaded ball of radius r pixels centred at (cx, cy): lit from the
   upper left with a highlight and a darker rim; fog in [0, 1] mixes it
   towards fog_color (depth cueing). */
void ct_canvas_ball(ct_canvas *c, double cx, double cy, double r, const unsigned char color[3],
                    double fog, const unsigned char fog_color[3]);

/* Draw text (ct_font) with its top-left corner at (x, y). */
void ct_canvas_text(ct_canvas *c, int x, int y, const char *text, int scale,
                    const unsigned char color[3]);

/* Write the canvas as a PNG through ct_png (temporary file + rename). */
int ct_canvas_write_png(const ct_canvas *c, const char *path, ct_error *err);

/* Options of a structure picture. */
typedef struct {
    int size;             /* width = height in pixels, 16..4096 (512) */
    double yaw, pitch;    /* view angles in degrees (-28, 18) */
    double radius_scale;  /* drawn radius = element radius × this, (0, 10] (0.5) */
    int images;           /* repeat atoms on faces, edges, corners (1) */
    int legend;           /* a band at the bottom: the a, b, c axes (red, green,
                             blue) and the elements; left out where it would
                             take over a third of the picture (1) */
    const char *title;    /* a line at the top; NULL or "" for none (NULL) */
} ct_render_opts;

/* Fill o with the defaults above. */
void ct_render_defaults(ct_render_opts *o);

/* Check o: the message names the bad field. */
int ct_render_check(const ct_render_opts *o, ct_error *err);

/* The view: Cartesian Å to pixels. */
typedef struct {
    double rot[3][3];   /* rows: screen right, screen up, towards the viewer */
    double scale;       /* pixels per Å */
    double x0, y0;      /* the pixel the Cartesian origin lands on */
} ct_projection;

/* Set p's rotation for yaw and pitch (degrees): yaw turns the crystal
   about its vertical (Cartesian z) axis, pitch then tips its top towards
   the viewer.  At yaw = pitch = 0 the viewer looks along +y: x is right,
   z up.  The scale is set to 1 and the origin to (0, 0). */
void ct_projection_view(ct_projection *p, double yaw, double pitch);

/* Project Cartesian point r: out[0], out[1] the pixel (x right, y down),
   out[2] the depth in Å (larger is nearer the viewer). */
void ct_project(const ct_projection *p, const double r[3], double out[3]);

/* The projection ct_render_structure uses for s in a tile of o->size
   pixels at (0, 0): o's view, scaled and centred so that the cell and the
   atoms' balls fit the area left by the title and legend. */
int ct_render_projection(const ct_structure *s, const ct_render_opts *o, ct_projection *p,
                         ct_error *err);

/* Draw s into the o->size square tile of c whose top-left is (x, y). */
int ct_render_structure(ct_canvas *c, int x, int y, const ct_structure *s,
                        const ct_render_opts *o, ct_error *err);

/* Draw an empty tile that says "failed" (a structure that did not decode). */
void ct_render_failed(ct_canvas *c, int x, int y, int size, const char *title);

/* Write the picture of s as a PNG at path. */
int ct_render_png(const ct_structure *s, const char *path, const ct_render_opts *o,
                  ct_error *err);

/* Write n pictures as a grid of cols columns (0: about square) of
   o->size tiles; a NULL structure draws a "failed" tile.  titles (NULL:
   o->title on every tile) gives tile i its own title, NULL for none.
   Tiles are drawn on all cores. */
int ct_render_grid_png(const ct_structure *const *s, int n, int cols, const char *const *titles,
                       const char *path, const ct_render_opts *o, ct_error *err);

/* The CPK/Jmol colour of element z (grey pink for unknown z). */
void ct_render_color(int z, unsigned char rgb[3]);

/* The radius of element z in Å before radius_scale (see above). */
double ct_render_radius(int z);

#endif
