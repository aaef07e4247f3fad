/*
 * ct_png.c - CrysTens pictures through stb_image_write.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_file.h"
#include "ct_png.h"

/* stb's implementation lives here, static, and is not held to our warnings. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#define GAP 8   /* pixels between layers */

/* A viridis-like ramp through five anchors, v in [0, 1]. */
static void ramp(double v, unsigned char rgb[3])
{
    static const unsigned char anchors[5][3] = {
        {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    if (!(v >= 0)) v = 0;
    if (v > 1) v = 1;
    double x = v * 4;
    int i = x >= 4 ? 3 : (int)x;
    double f = x - i;
    for (int k = 0; k < 3; k++)
        rgb[k] = (unsigned char)lround(anchors[i][k] + f * (anchors[i + 1][k] - anchors[i][k]));
}

/* The value range of one region: the header band (block = 0) or layer l's
   interatomic block (block = 1). */
static void range_of(const float *t, int S, int l, int block, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int r = 0; r < S; r++)
        for (int c = 0; c < S; c++) {
            if ((r >= 12 && c >= 12) != block) continue;
            double v = t[((size_t)l * S + r) * S + c];
            if (!isfinite(v)) continue;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
}

/* Is slot k (row/column index k >= 12) without an atom?  Its header column
   in layer 0 is all zero then. */
static int empty_slot(const float *t, int S, int k)
{
    if (k < 12) return 0;
    for (int r = 0; r < 12; r++)
        if (t[(size_t)r * S + k] != 0) return 0;
    return 1;
}

static void paint(unsigned char *img, int width, int S, int scale, const float *t)
{
    for (int l = 0; l < 4; l++) {
        double lo[2], hi[2];
        range_of(t, S, l, 0, &lo[0], &hi[0]);
        range_of(t, S, l, 1, &lo[1], &hi[1]);
        for (int r = 0; r < S; r++)
            for (int c = 0; c < S; c++) {
                int b = r >= 12 && c >= 12;
                double v = t[((size_t)l * S + r) * S + c];
                unsigned char rgb[3] = {255, 0, 0};   /* NaN and Inf show red */
                if (empty_slot(t, S, r) || empty_slot(t, S, c)) memset(rgb, 232, 3);
                else if (isfinite(v)) ramp(hi[b] > lo[b] ? (v - lo[b]) / (hi[b] - lo[b]) : 0, rgb);
                for (int dy = 0; dy < scale; dy++)
                    for (int dx = 0; dx < scale; dx++) {
                        size_t x = (size_t)l * (S * scale + GAP) + (size_t)c * scale + dx;
                        size_t y = (size_t)r * scale + dy;
                        memcpy(img + (y * width + x) * 3, rgb, 3);
                    }
            }
    }
}

typedef struct {
    unsigned char *data;
    size_t len, cap;
    int failed;
} membuf;

static void collect(void *ctx, void *data, int size)
{
    membuf *m = ctx;
    if (m->failed) return;
    if (m->len + (size_t)size > m->cap) {
        size_t cap = (m->cap ? m->cap * 2 : 65536) + (size_t)size;
        unsigned char *p = realloc(m->data, cap);
        if (!p) {
            m->failed = 1;
            return;
        }
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, (size_t)size);
    m->len += (size_t)size;
}

int ct_png_write_rgb(const unsigned char *rgb, int width, int height, const char *path,
                     ct_error *err)
{
    if (width < 1 || height < 1 || width > 65535 || height > 65535)
        return ct_fail(err, CT_EINVAL, "%s: a %d×%d PNG is out of range", path, width, height);
    membuf m = {0};
    int ok = stbi_write_png_to_func(collect, &m, width, height, 3, rgb, width * 3);
    int rc = ok && !m.failed ? ct_file_write_all(path, m.data, m.len, err)
                             : ct_fail(err, CT_ENOMEM, "%s: could not encode the PNG", path);
    free(m.data);
    return rc;
}

int ct_png_write_crystens(const ct_tensor *t, const char *path, int scale, ct_error *err)
{
    int lead = t->ndim == 4 && t->shape[0] == 1;
    const int64_t *sh = t->shape + lead;
    if (t->ndim - lead != 3 || sh[0] != 4 || sh[1] != sh[2] || sh[1] <= 12 || sh[1] > 4096)
        return ct_fail(err, CT_EINVAL, "expected a 4×S×S CrysTens (S > 12)");
    if (scale < 1 || scale > 64) return ct_fail(err, CT_EINVAL, "scale must be 1 to 64");
    int S = (int)sh[1];
    int width = 4 * S * scale + 3 * GAP, height = S * scale;
    unsigned char *img = malloc((size_t)width * height * 3);
    if (!img) return ct_fail(err, CT_ENOMEM, "out of memory for a %dx%d picture", width, height);
    memset(img, 255, (size_t)width * height * 3);
    paint(img, width, S, scale, t->data);
    int rc = ct_png_write_rgb(img, width, height, path, err);
    free(img);
    return rc;
}
