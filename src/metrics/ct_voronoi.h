/*
 * ct_voronoi.h - the Voronoi cell of one atom of a periodic crystal, face by
 * face, as pymatgen's VoronoiNN measures it (the input of CrystalNN).
 *
 *     ct_voronoi_face *f; int n; ct_error err;
 *     if (ct_voronoi_cell(s, 0, 7.0, &f, &n, &err) == CT_OK) {
 *         for (int k = 0; k < n; k++)
 *             printf("atom %d at %g Å: Ω = %g sr\n", f[k].site, f[k].dist, f[k].solid_angle);
 *         free(f);
 *     }
 *
 * The cell is the intersection of the half-spaces closer to the centre than
 * to each periodic image of every atom within the cutoff: exactly the cell
 * qhull builds from the same points, as VoronoiNN does.  If that cell is
 * not closed, the cutoff doubles until it reaches the cell's longest body
 * diagonal (pymatgen's rule).  Faces that merely touch the cell in a vertex
 * or an edge (zero solid angle) are not reported, as VoronoiNN drops them.
 *
 * Per face, as pymatgen's _extract_cell_info computes them: the solid angle
 * subtended at the centre (fan of triangles from the first vertex, Van
 * Oosterom–Strackee per triangle), the volume of the pyramid centre + face
 * and the area 3·volume / (d/2).
 */
#ifndef CT_VORONOI_H
#define CT_VORONOI_H

#include "ct_structure.h"

typedef struct ct_voronoi_face {
    int site;             /* the neighbouring atom (0-based index in s) */
    double pos[3];        /* Cartesian position of its periodic image, Å */
    double dist;          /* distance from the centre to that image, Å */
    double solid_angle;   /* sr */
    double volume;        /* of the pyramid centre + face, Å³ */
    double area;          /* 3 · volume / (dist / 2), Å² */
    int nverts;           /* vertices of the face polygon */
} ct_voronoi_face;

/* Compute the faces of atom `site`'s Voronoi cell, using the atoms within
   cutoff Å (pymatgen's search_cutoff, 7 in CrystalNN).  *faces gets a
   malloc'd array of *nfaces faces (the caller frees it) and, if centre is
   non-NULL, the Cartesian position of the atom itself.  An atom within
   1e-8 Å of the centre is ignored, as qhull merges it.  Fails with
   CT_EINVAL if the cell stays open. */
int ct_voronoi_cell(const ct_structure *s, int site, double cutoff, ct_voronoi_face **faces,
                    int *nfaces, double centre[3], ct_error *err);

#endif
