/*
 * ct_png.c - PNG files: CrysTens layer pictures, and a small PNG writer
 * (RFC 2083 container, "sub" row filter, our own fast deflate) for any RGB
 * picture.
 *
 * Why not a library: stb_image_write's compressor keeps hash chains and
 * tries five filters a row, and took most of a structure picture's time;
 * zlib is not a dependency.  Pictures are mostly flat colour, which the sub
 * filter turns into runs of zeros that a greedy one-entry-hash LZ77 finds
 * at once: files come out 10-15% larger than stb's (20% over zlib -1), and
 * a 512×512 structure picture takes half the time it did with stb.
 * tests/lua/picture.lua reads them back with Python's zlib and PIL.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_file.h"
#include "ct_layout.h"
#include "ct_png.h"

#define GAP 8   /* pixels between layers */

/* Deflate (RFC 1951): one block with the fixed Huffman codes ----------- */

typedef struct {
    unsigned char *out;
    size_t n;
    uint64_t bits;
    int nbits;
    uint16_t code[288];   /* fixed literal/length codes, bit-reversed */
    unsigned char len[288];
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

/* Huffman codes go most significant bit first: reverse n bits. */
static uint32_t reverse(uint32_t code, int n)
{
    uint32_t r = 0;
    for (int i = 0; i < n; i++) r |= (code >> i & 1) << (n - 1 - i);
    return r;
}

/* The fixed literal/length code (RFC 1951, 3.2.6). */
static void fixed_codes(bitwriter *w)
{
    for (int s = 0; s < 288; s++) {
        uint32_t c = s <= 143 ? 0x30 + (uint32_t)s : s <= 255 ? 0x190 + (uint32_t)(s - 144)
                   : s <= 279 ? (uint32_t)(s - 256) : 0xC0 + (uint32_t)(s - 280);
        w->len[s] = (unsigned char)(s <= 143 ? 8 : s <= 255 ? 9 : s <= 279 ? 7 : 8);
        w->code[s] = (uint16_t)reverse(c, w->len[s]);
    }
}

static void put_symbol(bitwriter *w, int sym) { put_bits(w, w->code[sym], w->len[sym]); }

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
    if (x < 4) put_bits(w, reverse(x, 5), 5);
    else {
        int nb = floor_log2(x);
        put_bits(w, reverse((uint32_t)(2 * nb) + (x >> (nb - 1) & 1), 5), 5);
        put_bits(w, x & ((1u << (nb - 1)) - 1), nb - 1);
    }
}

#define HASH_BITS 15
#define NO_POS UINT32_MAX   /* positions fit: pictures are at most 2^30 bytes */

static uint32_t hash4(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

/* Adler-32 in blocks: within a block of L bytes, s2 gains L·s1 plus
   Σ (L - k)·d[k], sums without a chain from byte to byte. */
static uint32_t adler32(const unsigned char *data, size_t n)
{
    uint64_t s1 = 1, s2 = 0;
    for (size_t j = 0; j < n;) {
        size_t len = n - j < 5552 ? n - j : 5552;
        uint32_t a = 0, b = 0;   /* b < 5552²/2 · 255 < 2^32 */
        for (size_t k = 0; k < len; k++) {
            a += data[j + k];
            b += (uint32_t)(len - k) * data[j + k];
        }
        s2 = (s2 + len * s1 + b) % 65521;
        s1 = (s1 + a) % 65521;
        j += len;
    }
    return (uint32_t)(s2 << 16 | s1);
}

/* How many of the first max bytes of a and b agree, given the first 4
   do; eight at a time. */
static size_t match_length(const unsigned char *a, const unsigned char *b, size_t max)
{
    size_t m = 4;
    while (m + 8 <= max) {
        uint64_t x, y;
        memcpy(&x, a + m, 8);
        memcpy(&y, b + m, 8);
        if (x != y) break;
        m += 8;
    }
    while (m < max && a[m] == b[m]) m++;
    return m;
}

/* A zlib stream (RFC 1950) of data into *out (malloc'd); 0 if out of
   memory.  Greedy LZ77: the last position of each 4-byte hash. */
static size_t zlib_compress(const unsigned char *data, size_t n, unsigned char **out)
{
    bitwriter w = {malloc(n + n / 8 + 64), 0, 0, 0, {0}, {0}};   /* 9 bits a byte at worst */
    uint32_t *last = malloc(sizeof *last << HASH_BITS);
    if (!w.out || !last) {
        free(w.out);
        free(last);
        return 0;
    }
    fixed_codes(&w);
    for (size_t i = 0; i < (size_t)1 << HASH_BITS; i++) last[i] = NO_POS;
    w.out[w.n++] = 0x78;   /* deflate, 32K window */
    w.out[w.n++] = 0x01;   /* fastest; header checksum */
    put_bits(&w, 1, 1);    /* BFINAL */
    put_bits(&w, 1, 2);    /* fixed Huffman codes */
    size_t i = 0;
    while (i + 4 <= n) {
        uint32_t h = hash4(data + i);
        size_t cand = last[h], m = 0;
        last[h] = (uint32_t)i;
        if (cand != NO_POS && i - cand <= 32768 && !memcmp(data + cand, data + i, 4)) {
            m = match_length(data + cand, data + i, n - i < 258 ? n - i : 258);
        }
        if (m) {
            put_match(&w, (int)m, (int)(i - cand));
            i += m;
        } else {
            put_symbol(&w, data[i++]);
        }
    }
    while (i < n) put_symbol(&w, data[i++]);
    put_symbol(&w, 256);
    if (w.nbits) put_bits(&w, 0, 8 - w.nbits);
    uint32_t a = adler32(data, n);
    for (int k = 24; k >= 0; k -= 8) w.out[w.n++] = (unsigned char)(a >> k);
    free(last);
    *out = w.out;
    return w.n;
}

/* PNG container (RFC 2083) ------------------------------------------------ */

static void put_be32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (24 - 8 * k));
}

/* Write a chunk of type and n data bytes at p (the data already at p + 8);
   return the bytes it takes. */
static size_t chunk(unsigned char *p, const char *type, size_t n, const uint32_t crc_table[256])
{
    put_be32(p, (uint32_t)n);
    memcpy(p + 4, type, 4);
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 4; i < n + 8; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ c >> 8;
    put_be32(p + 8 + n, c ^ 0xFFFFFFFFu);
    return n + 12;
}

/* PNG's "sub" filter of one RGB row: each byte less the one a pixel to
   the left (restrict lets the compiler vectorise it). */
static void sub_filter(unsigned char *restrict dst, const unsigned char *restrict src, size_t row)
{
    memcpy(dst, src, 3);
    for (size_t i = 3; i < row; i++) dst[i] = (unsigned char)(src[i] - src[i - 3]);
}

/* The PNG of an RGB image (malloc'd), 0 if out of memory. */
static size_t png_encode(const unsigned char *rgb, int width, int height, unsigned char **png)
{
    size_t row = (size_t)width * 3, n = (row + 1) * (size_t)height;
    unsigned char *filtered = malloc(n), *z = NULL;
    if (!filtered) return 0;
    for (size_t y = 0; y < (size_t)height; y++) {
        const unsigned char *src = rgb + y * row;
        unsigned char *dst = filtered + y * (row + 1);
        dst[0] = 1;   /* the row's filter: sub */
        sub_filter(dst + 1, src, row);
    }
    size_t zn = zlib_compress(filtered, n, &z);
    free(filtered);
    if (!zn) return 0;
    unsigned char *p = malloc(8 + 25 + 12 + zn + 12);
    if (!p) {
        free(z);
        return 0;
    }
    uint32_t crc_table[256];
    for (uint32_t k = 0; k < 256; k++) {
        uint32_t c = k;
        for (int b = 0; b < 8; b++) c = c & 1 ? 0xEDB88320u ^ c >> 1 : c >> 1;
        crc_table[k] = c;
    }
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    size_t at = 8;
    put_be32(p + at + 8, (uint32_t)width);
    put_be32(p + at + 12, (uint32_t)height);
    memcpy(p + at + 16, "\x08\x02\x00\x00\x00", 5);   /* 8-bit RGB, deflate, sub filters, no interlace */
    at += chunk(p + at, "IHDR", 13, crc_table);
    memcpy(p + at + 8, z, zn);
    free(z);
    at += chunk(p + at, "IDAT", zn, crc_table);
    at += chunk(p + at, "IEND", 0, crc_table);
    *png = p;
    return at;
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
            if ((r >= CT_CRYSTENS_HEADER && c >= CT_CRYSTENS_HEADER) != block) continue;
            double v = t[ct_layout_index(S, l, r, c)];
            if (!isfinite(v)) continue;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
}

/* Is row/column k the row/column of an empty slot?  Its header column in
   layer 0 is all zero then. */
static int empty_slot(const float *t, int S, int k)
{
    if (k < CT_CRYSTENS_HEADER) return 0;
    for (int r = 0; r < CT_CRYSTENS_HEADER; r++)
        if (t[ct_layout_index(S, 0, r, k)] != 0) return 0;
    return 1;
}

static void paint(unsigned char *img, int width, int S, int scale, const float *t)
{
    for (int l = 0; l < CT_CRYSTENS_LAYERS; l++) {
        double lo[2], hi[2];
        range_of(t, S, l, 0, &lo[0], &hi[0]);
        range_of(t, S, l, 1, &lo[1], &hi[1]);
        for (int r = 0; r < S; r++)
            for (int c = 0; c < S; c++) {
                int b = r >= CT_CRYSTENS_HEADER && c >= CT_CRYSTENS_HEADER;
                double v = t[ct_layout_index(S, l, r, c)];
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

int ct_png_write_rgb(const unsigned char *rgb, int width, int height, const char *path,
                     ct_error *err)
{
    /* The bound keeps the one IDAT chunk under PNG's 2^31 bytes. */
    if (width < 1 || height < 1 || (size_t)width * (size_t)height * 3 > (size_t)1 << 30)
        return ct_fail(err, CT_EINVAL, "%s: a %d×%d PNG is out of range (at most 2^30 bytes of "
                       "pixels)", path, width, height);
    unsigned char *png = NULL;
    size_t n = png_encode(rgb, width, height, &png);
    if (!n) return ct_fail(err, CT_ENOMEM, "%s: out of memory for a %d×%d PNG", path, width, height);
    int rc = ct_file_write_all(path, png, n, err);
    free(png);
    return rc;
}

int ct_png_write_crystens(const ct_tensor *t, const char *path, int scale, ct_error *err)
{
    int lead = t->ndim == 4 && t->shape[0] == 1;
    const int64_t *sh = t->shape + lead;
    if (t->ndim - lead != 3 || sh[0] != CT_CRYSTENS_LAYERS || sh[1] != sh[2] ||
        sh[1] <= CT_CRYSTENS_HEADER || sh[1] > CT_CRYSTENS_MAX_SIZE)
        return ct_fail(err, CT_EINVAL, "expected a 4×S×S CrysTens (%d <= S <= %d)",
                       CT_CRYSTENS_HEADER + 1, CT_CRYSTENS_MAX_SIZE);
    if (scale < 1 || scale > 64) return ct_fail(err, CT_EINVAL, "scale must be 1 to 64");
    int S = (int)sh[1];
    int width = CT_CRYSTENS_LAYERS * S * scale + (CT_CRYSTENS_LAYERS - 1) * GAP;
    int height = S * scale;
    unsigned char *img = malloc((size_t)width * height * 3);
    if (!img) return ct_fail(err, CT_ENOMEM, "out of memory for a %dx%d picture", width, height);
    memset(img, 255, (size_t)width * height * 3);
    paint(img, width, S, scale, t->data);
    int rc = ct_png_write_rgb(img, width, height, path, err);
    free(img);
    return rc;
}
