/*
 * ct_recon.h - reconstruction of a generated CrysTens (spec section 2): a
 * noisy, not quite self-consistent 4×S×S tensor back to a crystal, with the
 * diagnostics the paper's Tables 1 and 2 are made of.
 *
 *     ct_recon_opts o;
 *     ct_recon_defaults(&o);                  // automatic K, spglib check
 *     ct_recon_diag d;
 *     ct_error err;
 *     ct_structure *s = ct_recon(t->data, 64, &o, &d, &err);
 *     if (!s) printf("no crystal: %s\n", err.msg);
 *
 * The steps, in order (each a crystens choice where the paper is silent):
 *
 *  1. Atom count.  For every slot j the 8 copies of each header row are
 *     averaged.  Slots whose Z average is >= 0.5 are candidates; the median
 *     of the candidates' lattice averages gives reference values g_r.  The
 *     evidence of slot j is (clamp(Z_j) + sum_r clamp(m_rj / g_r)) / 7 over
 *     Z and the six lattice rows (clamp to [0, 1]); a slot is an atom when
 *     its evidence is >= occupancy (0.5), wherever it lies, and its Z
 *     average is at least 0.5 (a slot whose Z names no element is empty:
 *     consistent tensors carry every lattice copy in the slots the scaler
 *     calls occupied, including those whose Z lies below the data's range).  The margin is
 *     the smallest |evidence - occupancy| / occupancy over all slots: 1 for
 *     an exact tensor, near 0 when some slot is a toss-up.
 *  2. Globals: the 8A copies of a, b, c, α, β, γ and SG are averaged; SG is
 *     rounded and must lie in 1-230; the cell must have positive lengths
 *     below CT_RECON_MAX_LENGTH and angles that close a cell.
 *  3. Per atom: Z_j is the mean of its 8 copies; each coordinate the mean of
 *     its 8 copies on the circle (offsets from the first copy, wrapped into
 *     [-1/2, 1/2)).
 *  4. Voting (the paper's Fig. 3): atom i's guess for atom j is
 *     x_i - (Δ[i][j] - Δ[j][i]) / 2 (both antisymmetric copies), atom j's
 *     own coordinate is the guess i = j; the A guesses are averaged on the
 *     circle around x_j.  vote_spread is their RMS deviation.  The average
 *     is weighted by inverse variance: the own coordinate by 8 / spread_coord²
 *     (the error of a mean of 8 copies), every other guess by
 *     1 / vote_spread².  Where the copies are much tighter than the graphs
 *     (a generator, or the scaler: a coordinate spans 1, a difference 2)
 *     the own coordinate deserves more than 1/A of the say: on noisy
 *     mpts_52 tensors this reconstructs more crystals than the plain mean,
 *     which plain_vote keeps.  On an exact tensor both are the same.
 *  5. K-means on the A averaged Z (ct_kmeans, exact 1-D).  Automatic K is
 *     ct_kmeans' separation criterion with integer set (centroids must round
 *     to distinct elements) and the noise floor set to the standard error of
 *     the averages, spread_z / sqrt(8) (at least CT_RECON_Z_FLOOR).  The
 *     paper's example (12.2, 12.6, 12.4, 12.5, 7.7, 7.4, 8.4, 8.5) gives
 *     K = 2 and (12, 12, 12, 12, 8, 8, 8, 8).
 *  6. K-means on the 3A pooled coordinates, on the circle.  Automatic K is
 *     the largest K whose clusters stay separated by more than a tolerance:
 *     the sorted values are cut at every circular gap wider than
 *     tol = coord_sep × max(se, CT_RECON_COORD_FLOOR), se the standard
 *     error of a voted coordinate (vote_spread / sqrt(A) for the plain
 *     mean, 1 / sqrt(sum of the weights) for the weighted one), and a run that
 *     still spans more than tol is cut again at its widest gap (so noise
 *     cannot chain distinct values into one cluster); each run is one
 *     cluster, replaced by its mean (the K-means centroid of that
 *     partition).  Coarser clusterings hold two values more than tol apart,
 *     finer ones split a run whose values agree within tol.  This costs
 *     O(A log A), so K can reach 3A (an exact tensor of a low-symmetry
 *     crystal has as many distinct coordinates).  Why coord_sep = 2 and
 *     not 4: two estimates of one value differ by about 1.4 standard
 *     errors, so 2 merges most true coincidences, while wider merging
 *     moves distinct nearby coordinates; on noisy mpts_52 tensors (tests/c/
 *     test_recon.c) 4 reconstructs fewer crystals than 2, and 1 about as
 *     many (it snaps half the true coincidences only).
 *     Fixed K (k_coords > 0) is the paper's mode: one exact 1-D K-means over
 *     the 3A values in [0, 1), not periodic, as scikit-learn saw them.
 *     Species per atom: when the Z copies agree (their standard error
 *     spread_z / sqrt(8) below CT_RECON_Z_AGREE, as in the tensors of a
 *     consistent model, ct_consist.h) pooling the atoms into clusters only
 *     loses information, so each atom's averaged Z is rounded on its own
 *     (species = "auto"; "atom" always, "kmeans" never).  Fixed K always
 *     clusters.  A tensor of the periodic species encoding (row 11 holds
 *     columns, ct_crystens.h) names each atom's element by the nearest
 *     (Z, column) pair instead of the rounded Z.  species_tol > 0 first
 *     groups the atoms whose species lie within it of each other (complete
 *     linkage, so no chain of near neighbours joins distant elements; the
 *     distance is ct_crystens_species' metric, |ΔZ|/3 and Δcolumn) and
 *     gives each group one element: a generator's spread around one
 *     element then names that element once, not its neighbours too.  An
 *     atom whose (Z, column) already names an element (within
 *     CT_RECON_Z_AGREE; an encoded crystal's atoms) is never grouped, and
 *     tensors of Z alone never are: Z cannot tell a near miss from the
 *     neighbouring element.
 *  6b. Collisions.  Snapping must never put atoms on top of each other: if
 *     after step 6 two atoms are closer than min_distance (0.5 Å, the
 *     structural-validity bound) that were not before, the snap is undone
 *     for the whole crystal (snap_reverted).  Pairs that are still closer
 *     are the generator's: atoms of the same element are merged (the later
 *     slot dropped, counted in merged), atoms of different elements fail
 *     the item with both named and their distance.  min_distance = 0 keeps
 *     every atom where it lands.
 *  7. The structure (coordinates wrapped into [0, 1)), its spacegroup field
 *     the carried group; with symmetry set spglib's group of the result is
 *     reported, and with symmetrize set the result is replaced by spglib's
 *     refined conventional cell.
 *
 * Failures (no crystal, err says why, never a crash): a NaN or infinite
 * value anywhere in the tensor, no atoms, SG outside 1-230, a cell that
 * cannot be built (lengths, angles, volume), a Z that rounds to no element.
 *
 * Ownership: returned structures belong to the caller.  Safe to call from
 * several threads (spglib included, as structure.spacegroups does).
 */
#ifndef CT_RECON_H
#define CT_RECON_H

#include <stddef.h>

#include "ct_common.h"
#include "ct_structure.h"

/* Lattice lengths above this (Å) are refused as garbage. */
#define CT_RECON_MAX_LENGTH 1000.0

/* Floors of the noise estimates of automatic K: float32 rounding of an
   exact tensor stays far below them, real neighbouring values far above. */
#define CT_RECON_Z_FLOOR 0.01

/* Standard error of the averaged Z below which species are read per atom
   (species = "auto"): a tenth of the gap between two elements. */
#define CT_RECON_Z_AGREE 0.05

enum { CT_RECON_SPECIES_AUTO, CT_RECON_SPECIES_ATOM, CT_RECON_SPECIES_KMEANS };

/* Default grouping distance of per-atom species (step 5): chosen on the
   samples of an earlier stage of the shipped model against its training
   crystals, where it brought the mean number of elements from 5.0 to 3.5
   (the data's: 3.2) and raised the SMACT-valid share (share/models/MODEL.md). */
#define CT_RECON_SPECIES_TOL 2.5
#define CT_RECON_COORD_FLOOR 1e-7

typedef struct {
    int k_species;      /* clusters of Z; 0 chooses automatically (paper: 3) */
    int k_coords;       /* clusters of coordinates; 0 automatic (paper: 6) */
    double occupancy;   /* evidence for an occupied slot (0.5) */
    double sep;         /* automatic K of Z: separation in standard errors (4) */
    double coord_sep;   /* automatic K of coordinates: tol in standard errors (2) */
    int plain_vote;     /* unweighted Fig. 3 mean of the votes (0) */
    int fractional;     /* layer 0 holds fractional distances (for pdm_delta) */
    int symmetry;       /* report spglib's group of the result (1) */
    double symprec;     /* spglib tolerance in Å (0.1) */
    int symmetrize;     /* return spglib's refined cell instead (0) */
    int species;        /* CT_RECON_SPECIES_*: per atom or clustered (auto) */
    double min_distance;/* closer atoms are merged or fail the item, Å (0.5) */
    double species_tol; /* per atom: group species this close first (2.5; 0: off) */
} ct_recon_opts;

/* What reconstruction saw; the spreads are RMS deviations of the copies from
   their mean (square them for the paper's Table 1 variances). */
typedef struct {
    int natoms;               /* occupied slots */
    double occupancy_margin;  /* 0..1, see step 1 */
    double sg_mean;           /* averaged SG before rounding */
    int spacegroup;           /* the carried group, rounded */
    int spacegroup_detected;  /* spglib's on the result; 0 if not asked or none */
    double spread_z, spread_coord, spread_length, spread_angle, spread_sg;
    double vote_spread;       /* RMS deviation of the votes from their mean */
    double coord_delta;       /* Table 2 Δcoord/atom: mean |header - voted| */
    double pdm_delta;         /* Table 2 ΣΔPDM/atom: Σ|d(result) - layer 0| / A */
    double snap_max;          /* largest coordinate move by the K-means snap */
    int k_species, k_coords;  /* K used */
    int species_per_atom;     /* 1 when species were read per atom */
    int periodic;             /* 1 when they were read from (Z, column) */
    int snap_reverted;        /* 1 when the coordinate snap was undone (step 6b) */
    int merged;               /* atoms merged into an atom of their element (6b) */
    double min_distance;      /* shortest interatomic distance of the result, Å
                                 (NaN for one atom; 0 when step 6b did not run) */
} ct_recon_diag;

/* Fill o with the defaults. */
void ct_recon_defaults(ct_recon_opts *o);

/* Reconstruct one 4×size×size tensor (C order).  diag (if non-NULL) is
   filled as far as the steps got, also on failure. */
ct_structure *ct_recon(const float *t, int size, const ct_recon_opts *o, ct_recon_diag *diag,
                       ct_error *err);

/* Reconstruct n tensors (n×4×size×size) over all cores: out[i] is NULL
   where sample i failed, errs[i] (if non-NULL) its reason, diag[i] (if
   non-NULL) its diagnostics.  Returns the number reconstructed, or
   CT_EINTR when interrupted (then out holds nothing). */
long ct_recon_batch(const float *t, size_t n, int size, const ct_recon_opts *o,
                    ct_structure **out, ct_recon_diag *diag, ct_error *errs);

#endif
