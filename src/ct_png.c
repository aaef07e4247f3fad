/*
 * ct_png.c - CrysTens pictures through stb_image_write.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_file.h"
#include "ct_png.h"

/* stb writes the PNG container and chooses each row's filter; the deflate
   step is ours (fast_deflate below): stb's own compressor keeps hash
   chains and took ~4/5 of a structure picture's time. */
static unsigned char *fast_deflate(const unsigned char *data, int len, int *out_len);
#define STBIW_ZLIB_COMPRESS(data, len, out_len, quality) \
    ((void)(quality), fast_deflate(data, len, out_len))

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

/* Deflate (RFC 1951) -------------------------------------------------------
 * One block with the fixed Huffman codes, greedy LZ77 over a one-entry
 * hash of four bytes.  Pictures are mostly flat colour, which filters to
 * long runs that this finds at once; the files come out within ~10% of
 * stb's (which also uses the fixed codes) at a fraction of the time. */

typedef struct {
    unsigned char *out;
    size_t n;
    uint64_t bits;
    int nbits;
} bitwriter;

/* Append the low n bits of v, least significant first. */
static void put_bits(bitwriter *w, uint32_t v, int n)
{
    w->bits |= (uint64_t)v << w->nbits;
    w->nbits += n;
    while (w->nbits >= 8) {
        w->out[w->n++] = (unsigned char)w->bits;
        w->bits >>= 8;
        w->nbits -= 8;
    }
}

/* Append a Huffman code of n bits (written most significant first). */
static void put_code(bitwriter *w, uint32_t code, int n)
{
    uint32_t r = 0;
    for (int i = 0; i < n; i++) r |= (code >> i & 1) << (n - 1 - i);
    put_bits(w, r, n);
}

/* The fixed literal/length code of symbol 0..287 (RFC 1951, 3.2.6). */
static void put_symbol(bitwriter *w, int sym)
{
    if (sym <= 143) put_code(w, 0x30 + (uint32_t)sym, 8);
    else if (sym <= 255) put_code(w, 0x190 + (uint32_t)(sym - 144), 9);
    else if (sym <= 279) put_code(w, (uint32_t)(sym - 256), 7);
    else put_code(w, 0xC0 + (uint32_t)(sym - 280), 8);
}

static int floor_log2(unsigned x)
{
    int n = 0;
    while (x >>= 1) n++;
    return n;
}

/* A match of len 3..258 at distance 1..32768. */
static void put_match(bitwriter *w, int len, int dist)
{
    unsigned x = (unsigned)len - 3;
    if (len == 258) put_symbol(w, 285);
    else if (x < 8) put_symbol(w, 257 + (int)x);
    else {
        int nb = floor_log2(x);
        put_symbol(w, 257 + 4 * (nb - 1) + (int)(x >> (nb - 2) & 3));
        put_bits(w, x & ((1u << (nb - 2)) - 1), nb - 2);
    }
    x = (unsigned)dist - 1;
    if (x < 4) put_code(w, x, 5);
    else {
        int nb = floor_log2(x);
        put_code(w, (uint32_t)(2 * nb) + (x >> (nb - 1) & 1), 5);
        put_bits(w, x & ((1u << (nb - 1)) - 1), nb - 1);
    }
}

#define HASH_BITS 15

static uint32_t hash4(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

/* A zlib stream (RFC 1950) of data, malloc'd, for stb; NULL if out of
   memory. */
static unsigned char *fast_deflate(const unsigned char *data, int len, int *out_len)
{
    size_t n = (size_t)(len > 0 ? len : 0);
    bitwriter w = {malloc(n + n / 8 + 64), 0, 0, 0};   /* 9 bits a byte at worst */
    int *last = malloc(sizeof(int) << HASH_BITS);
    if (!w.out || !last) {
        free(w.out);
        free(last);
        return NULL;
    }
    for (size_t i = 0; i < (size_t)1 << HASH_BITS; i++) last[i] = -1;
    w.out[w.n++] = 0x78;   /* deflate, 32K window */
    w.out[w.n++] = 0x01;   /* fastest; header checksum */
    put_bits(&w, 1, 1);    /* BFINAL */
    put_bits(&w, 1, 2);    /* fixed Huffman codes */
    size_t i = 0;
    while (i + 4 <= n) {
        uint32_t h = hash4(data + i);
        int cand = last[h];
        last[h] = (int)i;
        size_t m = 0;
        if (cand >= 0 && i - (size_t)cand <= 32768 && !memcmp(data + cand, data + i, 4)) {
            size_t max = n - i < 258 ? n - i : 258;
            m = 4;
            while (m < max && data[cand + m] == data[i + m]) m++;
        }
        if (m) {
            put_match(&w, (int)m, (int)(i - (size_t)cand));
            i += m;
        } else {
            put_symbol(&w, data[i++]);
        }
    }
    while (i < n) put_symbol(&w, data[i++]);
    put_symbol(&w, 256);
    if (w.nbits) put_bits(&w, 0, 8 - w.nbits);
    uint32_t s1 = 1, s2 = 0;
    for (size_t j = 0; j < n;) {
        size_t end = j + 5552 < n ? j + 5552 : n;   /* sums stay below 2^32 */
        for (; j < end; j++) s2 += s1 += data[j];
        s1 %= 65521;
        s2 %= 65521;
    }
    for (int k = 3; k >= 0; k--) w.out[w.n++] = (unsigned char)((k >= 2 ? s2 : s1) >> (8 * (k & 1)));
    free(last);
    *out_len = (int)w.n;
    return w.out;
}

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
