/*
 * ct_layout.h - where things are in a CrysTens tensor: the one place that
 * knows its header rows, atom slots, the 8 copies of a header value and the
 * size bounds (../shared/spec/crystens.md section 1).  Everything that reads
 * or writes a tensor's header or slots (encode, decode, reconstruction, the
 * paper's measures, scaling, the consistency projection, pictures, the Lua
 * bindings) goes through here.
 *
 * A CrysTens of size S is 4×S×S floats in C order (layer, row, column).
 * Rows and columns 0..11 are the header band; atom slot j (0 <= j < S-12)
 * owns row and column 12+j.  Header value r of slot j stands 8 times: at
 * (l, r, 12+j) and (l, 12+j, r) in each layer l; the interatomic entry of
 * slots i, j in layer l is (l, 12+i, 12+j).
 *
 *     if (ct_layout_check_size(S, "CrysTens size", err) != CT_OK) return ...;
 *     ct_layout v = {t, S};
 *     double z = ct_layout_mean(&v, CT_CRYSTENS_Z, j);      // slot j's Z
 *     double d = ct_layout_at(&v, 0, CT_CRYSTENS_HEADER + i, CT_CRYSTENS_HEADER + j);
 *     size_t at[CT_CRYSTENS_COPIES];
 *     ct_layout_copies(S, CT_CRYSTENS_X, j, at);           // where to write x_j
 *
 * Ownership: a view borrows its floats.
 */
#ifndef CT_LAYOUT_H
#define CT_LAYOUT_H

#include <stddef.h>

#include "ct_common.h"

/* Rows/columns before the first atom slot. */
#define CT_CRYSTENS_HEADER 12

/* Layers (channels) of a CrysTens: distances, then Δx, Δy, Δz. */
#define CT_CRYSTENS_LAYERS 4

/* Copies of each header value of a slot: its row and its column in each layer. */
#define CT_CRYSTENS_COPIES (2 * CT_CRYSTENS_LAYERS)

/* The largest size S accepted anywhere (tensor, scaler, model): 4×S×S floats
   is 256 MiB at 4096.  The smallest is CT_CRYSTENS_HEADER + 1, one slot. */
#define CT_CRYSTENS_MAX_SIZE 4096

/* Header rows, in order. */
enum {
    CT_CRYSTENS_Z, CT_CRYSTENS_X, CT_CRYSTENS_Y, CT_CRYSTENS_ZC,
    CT_CRYSTENS_A, CT_CRYSTENS_B, CT_CRYSTENS_C,
    CT_CRYSTENS_ALPHA, CT_CRYSTENS_BETA, CT_CRYSTENS_GAMMA,
    CT_CRYSTENS_SG, CT_CRYSTENS_PAD,
    CT_CRYSTENS_COLUMN = CT_CRYSTENS_PAD   /* the periodic encoding's use of it */
};

/* A borrowed view of one 4×S×S tensor. */
typedef struct {
    const float *t;
    int S;
} ct_layout;

/* Fail with "WHAT must be 13 to 4096, got S" unless S is a valid size. */
int ct_layout_check_size(int S, const char *what, ct_error *err);

/* Atom slots of a tensor of size S: the most atoms it holds, S - 12. */
static inline int ct_layout_slots(int S)
{
    return S - CT_CRYSTENS_HEADER;
}

/* Floats in one layer (S×S) and in a whole tensor (4×S×S). */
static inline size_t ct_layout_plane(int S)
{
    return (size_t)S * S;
}

static inline size_t ct_layout_len(int S)
{
    return CT_CRYSTENS_LAYERS * ct_layout_plane(S);
}

/* Offset of (layer l, row r, column c). */
static inline size_t ct_layout_index(int S, int l, int r, int c)
{
    return ((size_t)l * S + r) * S + c;
}

/* Offset of the interatomic entry of slots i, j in layer l. */
static inline size_t ct_layout_pair(int S, int l, int i, int j)
{
    return ct_layout_index(S, l, CT_CRYSTENS_HEADER + i, CT_CRYSTENS_HEADER + j);
}

/* Offsets of the 8 copies of header value r of slot j: at[2l] in its row
   (l, r, 12+j), at[2l+1] in its column (l, 12+j, r). */
static inline void ct_layout_copies(int S, int r, int j, size_t at[CT_CRYSTENS_COPIES])
{
    for (int l = 0; l < CT_CRYSTENS_LAYERS; l++) {
        at[2 * l] = ct_layout_index(S, l, r, CT_CRYSTENS_HEADER + j);
        at[2 * l + 1] = ct_layout_index(S, l, CT_CRYSTENS_HEADER + j, r);
    }
}

/* The value at (l, r, c). */
static inline double ct_layout_at(const ct_layout *v, int l, int r, int c)
{
    return v->t[ct_layout_index(v->S, l, r, c)];
}

/* The interatomic value of slots i, j in layer l. */
static inline double ct_layout_block(const ct_layout *v, int l, int i, int j)
{
    return v->t[ct_layout_pair(v->S, l, i, j)];
}

/* The 8 copies of header value r of slot j, in ct_layout_copies' order. */
static inline void ct_layout_read(const ct_layout *v, int r, int j, double x[CT_CRYSTENS_COPIES])
{
    int c = CT_CRYSTENS_HEADER + j;
    for (int l = 0; l < CT_CRYSTENS_LAYERS; l++) {
        x[2 * l] = v->t[ct_layout_index(v->S, l, r, c)];
        x[2 * l + 1] = v->t[ct_layout_index(v->S, l, c, r)];
    }
}

/* Mean of the 8 copies of header value r of slot j. */
static inline double ct_layout_mean(const ct_layout *v, int r, int j)
{
    int c = CT_CRYSTENS_HEADER + j;
    double sum = 0;
    for (int l = 0; l < CT_CRYSTENS_LAYERS; l++)
        sum += (double)v->t[ct_layout_index(v->S, l, r, c)] +
               (double)v->t[ct_layout_index(v->S, l, c, r)];
    return sum / CT_CRYSTENS_COPIES;
}

#endif
