/*
 * ct_crystens.h - the CrysTens encoding (Alverson et al., Digital Discovery
 * 2024): a crystal of A <= S-12 atoms as a 4×S×S float tensor, and its exact
 * inverse.  The layout is fixed by ../shared/spec/crystens.md section 1
 * (ct_layout.h says where each value stands):
 *
 *   header band, rows/columns 0..11, the same in all 4 layers and symmetric:
 *     (r, 12+j) = (12+j, r) = Z_j, x_j, y_j, z_j, a, b, c, α, β, γ, SG, 0
 *     for r = 0..11; the 12×12 corner and empty atom slots are 0; with
 *     the periodic species encoding row 11 holds the atom's column in the
 *     32-column periodic table instead of the padding 0 (see below)
 *   interatomic block, rows/columns 12..S-1:
 *     layer 0     distance between atoms i and j (Å, minimum image; or the
 *                 original code's non-periodic fractional norm)
 *     layers 1-3  x_i - x_j, y_i - y_j, z_i - z_j (fractional, not wrapped)
 *
 *     ct_crystens_opts o;
 *     ct_crystens_defaults(&o);                  // S=64, Å, Niggli, sorted
 *     ct_tensor *t = ct_crystens_encode(&s, 1, 0, &o, &err);     // 4×64×64
 *     ct_crystens_diag d;
 *     ct_structure *back = ct_crystens_decode(t->data, 64, &o, &d, &err);
 *
 * Before encoding, a structure is prepared (ct_crystens_prepare): its cell
 * Niggli-reduced, atoms sorted by Z then x, y, z, and its space group found
 * by spglib; decoding an encoded tensor gives back exactly that prepared
 * structure (float32 precision).  The "paper" preset (ct_crystens_paper)
 * keeps the file's cell and order and uses fractional layer-0 distances, as
 * the original code did.
 *
 * Species encodings.  The paper stores Z alone, one scalar whose elements
 * lie 1/93 of its range apart: a generator must hit Z to ±0.5 to name the
 * right element, and a near miss lands on an unrelated one.  The periodic
 * encoding (species = CT_CRYSTENS_SPECIES_PERIODIC, a crystens choice) also
 * writes the long-form periodic-table column (1-32, f-block inline) into
 * the padding row.  Elements of one column lie 8 to 32 apart in Z, so with
 * the column known Z needs only to land within a few units; and a column
 * error lands on a chemical neighbour.  Z stays in row 0, so everything that
 * reads Z (decode, metrics, pictures) is unchanged; reconstruction picks per
 * atom the element nearest to both (ct_crystens_species).
 *
 * Decoding reads the averages of the header copies and reports how far the
 * copies, the directional graphs and layer 0 stray from them; it is meant
 * for exact tensors (generated ones go through ct_recon).
 *
 * Ownership: returned tensors and structures belong to the caller.
 */
#ifndef CT_CRYSTENS_H
#define CT_CRYSTENS_H

#include <stddef.h>

#include "ct_common.h"
#include "ct_layout.h"
#include "ct_structure.h"
#include "ct_tensor.h"

/* What represents an atom's species (see above). */
enum { CT_CRYSTENS_SPECIES_Z, CT_CRYSTENS_SPECIES_PERIODIC };

typedef struct {
    int size;          /* S: tensors are 4×S×S and hold S-12 atoms (64) */
    int fractional;    /* layer 0 as the original code: |Δfrac|, not Å (0) */
    int reduce;        /* Niggli-reduce the cell first (1) */
    int sort;          /* order atoms by Z, x, y, z; 0 keeps the file's (1) */
    double symprec;    /* spglib tolerance (Å) for the space group (0.1) */
    int declared;      /* take the group the CIF declared, not spglib's (0) */
    int species;       /* CT_CRYSTENS_SPECIES_Z (the paper's) or _PERIODIC */
} ct_crystens_opts;

/* The long-form (32-column) periodic-table column of element z: H 1, He 32,
   Li 1, B 27, Sc 17, La 3, Lu 17; 0 for no element. */
int ct_crystens_column(int z);

/* The element nearest to an averaged (Z, column) pair: the smallest
   ((z - Z_e)/3)² + (column - column_e)², elements 1..CT_MAX_Z; the weights
   match the ranges the two rows are scaled from (about 93 and 31). */
int ct_crystens_species(double z, double column);

/* Fill o with the crystens defaults. */
void ct_crystens_defaults(ct_crystens_opts *o);

/* Fill o with the paper's choices: file cell and order, fractional layer 0,
   pymatgen's symmetry tolerance 0.01 Å; S = 64. */
void ct_crystens_paper(ct_crystens_opts *o);

/* Return the structure exactly as it will be encoded: reduced, sorted, with
   its space group set (kept if s has one, else spglib's or the declared
   one).  spglib is most of the cost of encoding: about 2 ms a structure on
   average, 30 ms for a cubic one. */
ct_structure *ct_crystens_prepare(const ct_structure *s, const ct_crystens_opts *o,
                                  ct_error *err);

/* Encode n structures into a new N×4×S×S tensor, or a 4×S×S one when
   batch is 0 (then n must be 1). */
ct_tensor *ct_crystens_encode(ct_structure *const *s, size_t n, int batch,
                              const ct_crystens_opts *o, ct_error *err);

/* Layer 0 of s as encode writes it, into d (natoms × natoms, double):
   minimum-image distances in Å, or with fractional set the original code's
   non-periodic norm of the fractional difference. */
void ct_crystens_layer0(const ct_structure *s, int fractional, double *d);

/* How well a tensor agrees with itself, from ct_crystens_decode. */
typedef struct {
    int natoms;              /* occupied slots (averaged Z >= 0.5) */
    double header_spread;    /* largest distance of a header copy from its mean */
    double graph_error;      /* largest |(x_i - x_j) - layer_k(i,j)| */
    double distance_error;   /* largest |d(i,j) - layer_0(i,j)|, d in o's mode */
    double empty_max;        /* largest |value| in the empty slots */
} ct_crystens_diag;

/* Decode one 4×size×size tensor (data in C order) into a structure; diag
   (if non-NULL) gets the consistency figures. */
ct_structure *ct_crystens_decode(const float *t, int size, const ct_crystens_opts *o,
                                 ct_crystens_diag *diag, ct_error *err);

#endif
