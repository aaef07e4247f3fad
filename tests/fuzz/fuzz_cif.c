/*
 * fuzz_cif.c - libFuzzer target: arbitrary bytes as CIF text.
 *
 * Through gemmi's parser, the shim's cell, site and symmetry-operation
 * reading, and the symmetry expansion; small structures that come out also
 * go through spglib's space-group search and the P1 writer, as a data set
 * load and ct.cif.write would take them.
 */
#include <stdlib.h>

#include "ct_cif.h"
#include "ct_symmetry.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ct_cif_result r;
    ct_error err;
    if (ct_cif_parse((const char *)data, size, "fuzz.cif", &r, &err) != CT_OK) return 0;
    for (size_t i = 0; i < r.n; i++) {
        const ct_structure *s = r.items[i];
        if (s->natoms > 64) continue;
        int sg;
        (void)ct_symmetry_spacegroup(s, CT_SYMPREC, &sg, NULL, &err);
        char *text = ct_cif_format(s, &err);
        free(text);
    }
    ct_cif_result_free(&r);
    return 0;
}
