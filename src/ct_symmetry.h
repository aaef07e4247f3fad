/*
 * ct_symmetry.h - space groups through spglib: detection with a tolerance,
 * and the refined (standardised conventional) cell with its symmetry
 * operations and asymmetric unit, for symmetrised CIF output.
 *
 *     int sg;
 *     char symbol[32];
 *     if (ct_symmetry_spacegroup(s, 0.1, &sg, symbol, &err) != CT_OK) ...
 *     // rock salt: sg == 225, symbol "Fm-3m"
 *
 *     ct_symmetrized sym;
 *     if (ct_symmetry_refine(s, 0.1, &sym, &err) != CT_OK) ...
 *     // sym.cell: conventional cell, all atoms; sym.asym: one atom per orbit
 *     ct_symmetrized_free(&sym);
 *
 *     ct_symmetrize_info info;
 *     ct_structure *t = ct_symmetry_symmetrize(noisy, 0.3, &info, &err);
 *     // t: noisy's cell and atoms, in its order, made exactly symmetric under
 *     // the group spglib finds at 0.3 Å; info.max_move: how far atoms moved
 *
 * symprec is spglib's distance tolerance in Å; crystens uses 0.1 Å for the
 * benchmark CIFs (the spec's choice) and pymatgen's 0.01 Å in the paper
 * preset.  Ownership: a ct_symmetrized owns its arrays and cell; release
 * them with ct_symmetrized_free.  spglib keeps global error state, so these
 * functions are not safe to call from several threads at once.
 */
#ifndef CT_SYMMETRY_H
#define CT_SYMMETRY_H

#include "ct_common.h"
#include "ct_structure.h"

/* Longest cell edge and shortest lattice translation (Å) the symmetry
   functions accept. */
#define CT_SYMMETRY_MAX_LENGTH 1000.0
#define CT_SYMMETRY_MIN_LENGTH 0.5

/* Most atoms in a cell the symmetry functions accept: spglib's search grows
   about as the square of the atoms (0.04 s for 500, 0.4 s for 2000, 24 s
   to refine 8000), with no cap of its own: printing a crystal of 100000
   atoms took 378 s, deaf to Ctrl-C.  Crystals past it are refused at once,
   naming their size. */
#define CT_SYMMETRY_MAX_ATOMS 5000

/* spglib's tolerance (Å) that crystens uses unless told otherwise. */
#define CT_SYMPREC 0.1

/* Find the space group of s: *number in 1–230 and, if symbol is non-NULL,
   the short Hermann–Mauguin symbol ("Fm-3m"). */
int ct_symmetry_spacegroup(const ct_structure *s, double symprec, int *number,
                           char symbol[32], ct_error *err);

/* The space group spglib finds for s at CT_SYMPREC, 1–230, or 0 when it
   finds none (atoms too close, a degenerate cell); computed once and cached
   in s->spacegroup_found, so s must not change afterwards.  Unlike
   s->spacegroup, the group a tensor stored, this is the crystal's symmetry. */
int ct_symmetry_found(ct_structure *s);

typedef struct ct_symmetrized {
    ct_structure *cell;     /* the standardised conventional cell */
    int number;             /* 1–230 */
    char hm[32];            /* full-spaced H-M symbol, "F m -3 m" */
    int nops;               /* symmetry operations in that setting */
    int (*rot)[3][3];       /* x' = rot · x + trans, on fractional columns */
    double (*trans)[3];
    int nasym;              /* atoms of the asymmetric unit ... */
    int *asym;              /* ... as indices into cell's atoms */
} ct_symmetrized;

/* Refine s with spglib: fill out with the conventional cell, its symmetry
   operations and one representative atom per orbit. */
int ct_symmetry_refine(const ct_structure *s, double symprec, ct_symmetrized *out,
                       ct_error *err);

/* Release what ct_symmetry_refine allocated in sym (not sym itself). */
void ct_symmetrized_free(ct_symmetrized *sym);

/* The most symmetry operations a ct_symmetrize_info keeps: 48 rotations
   times 8 lattice points, a cell of up to 8 primitive ones. */
#define CT_SYMMETRY_MAX_OPS 384

typedef struct ct_symmetrize_info {
    int number;             /* the group spglib found at symprec, 1–230 (0 when
                               the operations were given) */
    char symbol[32];        /* its short H-M symbol, "Fm-3m" */
    int nops;               /* its operations on the input cell (centring and
                               supercell translations included) ... */
    int rot[CT_SYMMETRY_MAX_OPS][3][3];   /* ... x' = rot·x + trans on the cell's */
    double trans[CT_SYMMETRY_MAX_OPS][3]; /* fractional columns (unset past the max) */
    double max_move;        /* the largest move of an atom (Å, minimum image,
                               measured in the new cell) */
    double max_length;      /* the largest change of a, b or c (Å) ... */
    double max_angle;       /* ... and of α, β or γ (degrees) */
} ct_symmetrize_info;

/* Make s exactly symmetric under the space group spglib finds in it at
   symprec, in place: the result keeps s's cell choice, its atoms and their
   order (spglib's refined cell, ct_symmetry_refine, is the conventional
   cell of the group instead, with atoms added for centred groups).  Each
   atom moves to the mean of its images under the group's operations (the
   operation maps atom j onto atom i, within the lattice translation nearest
   to it, and the inverse operation carries j back as an estimate of i), and
   the metric becomes the mean of Rᵀ·G·R over the rotations, so the result
   has the group exactly: spglib finds it at any tolerance.  A crystal that
   is already exactly symmetric comes back unchanged (to rounding); one in
   which spglib finds only P1 comes back as a copy.  Fails when spglib finds
   no group (atoms too close, a degenerate cell) or an operation that does not
   map the atoms of each element one to one.  info (non-NULL) gets the group
   and how far the atoms and the cell moved. */
ct_structure *ct_symmetry_symmetrize(const ct_structure *s, double symprec,
                                     ct_symmetrize_info *info, ct_error *err);

/* The same, under nops given operations (x' = rot·x + trans, in s's cell
   basis; a group, such as info.rot and info.trans of an earlier call on a
   crystal in the same cell) instead of the group spglib finds: a group
   found in one state of a crystal imposed on a later one.  Fails when a
   rotation's determinant is not ±1, or when an operation does not map the
   atoms of each element one to one.  info->number is 0; info must not
   be where rot and trans are. */
ct_structure *ct_symmetry_symmetrize_ops(const ct_structure *s, int nops,
                                         const int (*rot)[3][3], const double (*trans)[3],
                                         ct_symmetrize_info *info, ct_error *err);

#endif
