/*
 * fuzz_decode.c - libFuzzer target: arbitrary float tensors decoded into
 * structures, as a generated batch would be.
 *
 * Input: byte 0 picks the size S = 13 + b % 52; byte 1's bit 0 asks for
 * fractional layer-0 distances, bit 1 for a symmetric header band (the
 * values of layer 0's header rows copied to all 8 places, so that decoding
 * gets past its consistency checks), bit 2 for the paper's fixed K (3/6)
 * instead of the automatic choice, bit 3 for spglib on the result, bit 4
 * (with bit 3) for the symmetrized cell; the rest are float32s filling the
 * 4×S×S tensor in C order, cycled when short.  Both decoders run: the
 * reconstruction of generated tensors (ct_recon) and the exact inverse.
 */
#include <stdlib.h>
#include <string.h>

#include "ct_crystens.h"
#include "ct_recon.h"
#include "fuzz.h"

static void reconstruct(const float *t, int size, int flags)
{
    ct_recon_opts o;
    ct_recon_defaults(&o);
    o.fractional = flags & 1;
    if (flags & 4) o.k_species = 3, o.k_coords = 6;
    o.symmetry = (flags & 8) != 0;
    o.symmetrize = (flags & 8) && (flags & 16);
    ct_recon_diag diag;
    ct_error err;
    ct_structure_free(ct_recon(t, size, &o, &diag, &err));
}

static void exact(const float *t, int size, int fractional)
{
    ct_crystens_opts o;
    ct_crystens_defaults(&o);
    o.size = size;
    o.fractional = fractional;
    ct_error err;
    ct_structure_free(ct_crystens_decode(t, size, &o, NULL, &err));
}

/* Copy layer 0's header rows (r, 12+j) to the other 7 places. */
static void symmetrize(float *t, int S)
{
    size_t plane = (size_t)S * S;
    for (int r = 0; r < CT_CRYSTENS_HEADER; r++)
        for (int j = CT_CRYSTENS_HEADER; j < S; j++) {
            float v = t[(size_t)r * S + j];
            for (int l = 0; l < 4; l++) {
                t[l * plane + (size_t)r * S + j] = v;
                t[l * plane + (size_t)j * S + r] = v;
            }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 + sizeof(float)) return 0;
    int S = 13 + data[0] % 52, flags = data[1];
    size_t nin = (size - 2) / sizeof(float), n = 4 * (size_t)S * S;
    float *t = malloc(n * sizeof *t);
    if (!t) return 0;
    for (size_t i = 0; i < n; i++)
        memcpy(&t[i], data + 2 + (i % nin) * sizeof(float), sizeof(float));
    if (flags & 2) symmetrize(t, S);
    reconstruct(t, S, flags);
    exact(t, S, flags & 1);
    free(t);
    return 0;
}
