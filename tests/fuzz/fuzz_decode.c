/*
 * fuzz_decode.c - libFuzzer target: arbitrary float tensors decoded into
 * structures, as a generated batch would be.
 *
 * Input: byte 0 picks the size S = 13 + b % 52; byte 1's bit 0 asks for
 * fractional layer-0 distances, bit 1 for a symmetric header band (the
 * values of layer 0's header rows copied to all 8 places, so that decoding
 * gets past its consistency checks); the rest are float32s filling the
 * 4×S×S tensor in C order, cycled when short.
 */
#include <stdlib.h>
#include <string.h>

#include "ct_crystens.h"
#include "fuzz.h"

/* The decoder under test: one call to switch to another.  With ct_recon
   (generated tensors) merged, the body becomes
       ct_recon_opts o;
       ct_recon_defaults(&o);
       o.fractional = fractional;
       return ct_recon(t, size, &o, NULL, err);
   and ct_recon.c joins the fuzz core by being in the library. */
static ct_structure *decode(const float *t, int size, int fractional, ct_error *err)
{
    ct_crystens_opts o;
    ct_crystens_defaults(&o);
    o.size = size;
    o.fractional = fractional;
    return ct_crystens_decode(t, size, &o, NULL, err);
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
    ct_error err;
    ct_structure *s = decode(t, S, flags & 1, &err);
    ct_structure_free(s);
    free(t);
    return 0;
}
