/*
 * ct_cif.h - Crystallographic Information Files in and out.
 *
 * Reading goes through gemmi's CIF parser (src/ct_cif.cc, the only C++ in
 * crystens, behind this C interface).  Every data block becomes a structure
 * with its full unit cell: the symmetry operations the block lists (or those
 * of its space-group symbol or number) are applied to each site, images
 * closer than CT_CIF_MERGE_TOL are merged, and coordinates are wrapped into
 * [0, 1).  Numbers with uncertainties, 5.6402(3), are read as 5.6402.
 *
 *     ct_cif_result r;
 *     if (ct_cif_read("NaCl.cif", &r, &err) != CT_OK) ...   // file unreadable
 *     for (size_t i = 0; i < r.n; i++) use(r.items[i]);
 *     for (size_t i = 0; i < r.nfailed; i++)
 *         printf("block %s: %s\n", r.failed[i].block, r.failed[i].reason);
 *     ct_cif_result_free(&r);
 *
 * A file that is not CIF (empty, binary, truncated inside a quoted value)
 * fails as a whole with CT_EFORMAT and a message naming file and line.  A
 * block that is CIF but not a usable crystal (no cell, no atoms, partial
 * occupancy, unknown element, zero volume, a cell length out of bounds)
 * lands in r.failed with its name and reason, so a data set can skip it
 * and say why.  Element symbols are read whole ("Og" is refused, not read
 * as O); without _atom_site_type_symbol the element comes from the label
 * as pymatgen derives it ("Wat5" as O), and each block whose elements were
 * guessed gets a line in r.warnings.  A leading UTF-8 byte order mark is
 * skipped.
 *
 * Writing (src/ct_cif_write.c) produces P1 CIF that gemmi, pymatgen and
 * VESTA read back, or a symmetrised CIF of the spglib-refined cell.
 *
 * Ownership: a ct_cif_result owns its structures and strings until
 * ct_cif_result_free; take a structure out by setting its slot to NULL.
 */
#ifndef CT_CIF_H
#define CT_CIF_H

#include <stddef.h>

#include "ct_common.h"
#include "ct_structure.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Images of one site closer than this (Å) are the same atom. */
#define CT_CIF_MERGE_TOL 0.05

/* Cell lengths outside [CT_CIF_MIN_LENGTH, CT_CIF_MAX_LENGTH] Å are refused
   with the value (1e10 or 1e-200 Å cells gave NaN densities later, and
   binned duplicate merging needs cells of a sane size). */
#define CT_CIF_MIN_LENGTH 0.1
#define CT_CIF_MAX_LENGTH 10000.0

/* Files larger than this are refused before reading (bytes). */
#define CT_CIF_MAX_FILE ((size_t)1 << 31)

typedef struct {
    char *block;     /* the data block's name */
    char *reason;    /* why it gave no structure */
} ct_cif_failure;

typedef struct {
    ct_structure **items;    /* one per usable block, in file order */
    size_t n;
    ct_cif_failure *failed;  /* one per unusable block */
    size_t nfailed;
    char **warnings;         /* "block x: elements guessed from atom labels ...: Wat5 as O" */
    size_t nwarnings;
} ct_cif_result;

/* Parse CIF text of len bytes; source names it in messages. */
int ct_cif_parse(const char *text, size_t len, const char *source, ct_cif_result *out,
                 ct_error *err);

/* Read and parse the CIF file at path. */
int ct_cif_read(const char *path, ct_cif_result *out, ct_error *err);

/* Release everything r holds and zero it. */
void ct_cif_result_free(ct_cif_result *r);

struct ct_symmetrized;

/* Format s as one CIF data block in P1 (all atoms, identity operation only);
   return malloc'd text. */
char *ct_cif_format(const ct_structure *s, ct_error *err);

/* Format a refined cell as one symmetrised data block: its space group,
   the operations and only the asymmetric unit; return malloc'd text. */
char *ct_cif_format_symmetrized(const struct ct_symmetrized *sym, const char *name,
                                ct_error *err);

/* Write n structures as consecutive data blocks to path, through a
   temporary file renamed into place; symprec > 0 writes each block
   symmetrised with that spglib tolerance, 0 writes P1. */
int ct_cif_write(ct_structure *const *s, size_t n, const char *path, double symprec,
                 ct_error *err);

/* Write each non-NULL s[i] to its own file in folder dir (made if
   missing): NNNN_name.cif, NNNN its 1-based index in s, so the files of a
   batch with failures still line up with the batch; *written counts them. */
int ct_cif_write_dir(ct_structure *const *s, size_t n, const char *dir, double symprec,
                     size_t *written, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
