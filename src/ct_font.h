/*
 * ct_font.h - a small built-in bitmap font for labels in pictures: the 95
 * printable ASCII characters as 5×7 glyphs in 6×9 cells, drawn at an
 * integer scale, so pictures need no font files.
 *
 *     unsigned char red[3] = {200, 0, 0};
 *     int w = ct_font_width("NaCl", 2);                 // 48 pixels
 *     ct_font_draw(rgb, width, height, 10, 10, "NaCl", 2, red);
 *
 * Text is drawn into a caller's RGB buffer (3 bytes a pixel, rows top to
 * bottom); pixels outside the buffer are clipped.  A byte outside ASCII
 * 32..126 draws as '?', and a UTF-8 sequence ("Å") as one '?'.
 */
#ifndef CT_FONT_H
#define CT_FONT_H

/* Glyph size and the cell each character takes (a column and two rows of
   spacing), in font pixels; multiply by the scale for screen pixels. */
#define CT_FONT_GLYPH_W 5
#define CT_FONT_GLYPH_H 7
#define CT_FONT_CELL_W 6
#define CT_FONT_CELL_H 9

/* Return whether pixel (x, y) of character c's glyph is set (0 outside
   the glyph, '?' for characters the font lacks). */
int ct_font_pixel(int c, int x, int y);

/* Return the width in pixels of text at scale (scale ≥ 1): its characters
   times CT_FONT_CELL_W × scale, less the trailing spacing column. */
int ct_font_width(const char *text, int scale);

/* Draw text with its top-left corner at (x, y) in an RGB buffer of
   width × height pixels; each font pixel becomes a scale × scale block. */
void ct_font_draw(unsigned char *rgb, int width, int height, int x, int y, const char *text,
                  int scale, const unsigned char color[3]);

/* The same, drawing only inside the rectangle clip = {x0, y0, x1, y1}
   (x0 ≤ x < x1, y0 ≤ y < y1, within the buffer). */
void ct_font_draw_clip(unsigned char *rgb, int width, const int clip[4], int x, int y,
                       const char *text, int scale, const unsigned char color[3]);

#endif
