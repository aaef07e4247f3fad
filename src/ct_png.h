/*
 * ct_png.h - a picture of a CrysTens: its four layers side by side, as in
 * Figs. 1-2 of Alverson et al. (2024), written as PNG.
 *
 *     if (ct_png_write_crystens(t, "nacl.png", 4, &err) != CT_OK) ...
 *
 * Each tensor element becomes a scale×scale block of pixels, coloured on a
 * viridis-like ramp.  The header band (rows and columns 0..11) and each
 * layer's interatomic block are scaled to their own ranges, so the
 * fractional differences (about ±1) stay visible next to space-group
 * numbers (up to 230).  Empty atom slots are light grey, NaN/Inf red, and
 * layers are separated by a white gap.  The file goes
 * through a temporary file renamed into place.
 *
 * ct_png_write_rgb writes any RGB picture the same way (structure
 * pictures, ct_render.h).
 */
#ifndef CT_PNG_H
#define CT_PNG_H

#include "ct_common.h"
#include "ct_tensor.h"

/* Write the 4×S×S tensor t (or 1×4×S×S) as a PNG picture at path. */
int ct_png_write_crystens(const ct_tensor *t, const char *path, int scale, ct_error *err);

/* Write a width × height RGB image (3 bytes a pixel, rows top to bottom)
   as a PNG at path, atomically like the above. */
int ct_png_write_rgb(const unsigned char *rgb, int width, int height, const char *path,
                     ct_error *err);

#endif
