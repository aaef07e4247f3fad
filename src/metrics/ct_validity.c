/*
 * ct_validity.c - CDVAE's structural validity: the closest pair of distinct
 * sites under the minimum-image convention, and the cell volume.
 */
#include <math.h>
#include <stdlib.h>

#include "ct_validity.h"

/* Lattice vectors n·m (rows of m) for n in -reach..reach, zero included. */
static int lattice_images(const double m[3][3], int reach, double (*img)[3])
{
    int k = 0;
    for (int a = -reach; a <= reach; a++)
        for (int b = -reach; b <= reach; b++)
            for (int c = -reach; c <= reach; c++, k++)
                for (int x = 0; x < 3; x++)
                    img[k][x] = a * m[0][x] + b * m[1][x] + c * m[2][x];
    return k;
}

/* The shortest |(Δf - round Δf)·m + image| over the images. */
static double pair_distance(const double fi[3], const double fj[3], const double m[3][3],
                            const double (*img)[3], int nimg)
{
    double d[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        double df = fj[k] - fi[k];
        df -= nearbyint(df);
        for (int x = 0; x < 3; x++) d[x] += df * m[k][x];
    }
    double best = INFINITY;
    for (int q = 0; q < nimg; q++) {
        double v0 = d[0] + img[q][0], v1 = d[1] + img[q][1], v2 = d[2] + img[q][2];
        double r2 = v0 * v0 + v1 * v1 + v2 * v2;
        if (r2 < best) best = r2;
    }
    return sqrt(best);
}

double ct_validity_min_distance(const ct_structure *s, ct_error *err)
{
    if (s->natoms < 2) return INFINITY;
    /* The reduced cell makes the 27-image search exact; a cell spglib
       cannot reduce is searched two cells deep instead. */
    ct_error ignored;
    ct_structure *r = ct_structure_niggli(s, &ignored);
    const ct_structure *use = r ? r : s;
    int reach = r ? 1 : 2;
    double (*img)[3] = malloc(125 * sizeof *img);
    if (!img) {
        ct_structure_free(r);
        ct_fail(err, CT_ENOMEM, "out of memory");
        return NAN;
    }
    int nimg = lattice_images(use->matrix, reach, img);
    double best = INFINITY;
    for (int i = 0; i < use->natoms; i++)
        for (int j = i + 1; j < use->natoms; j++) {
            double d = pair_distance(use->frac[i], use->frac[j], use->matrix,
                                     (const double (*)[3])img, nimg);
            if (d < best) best = d;
        }
    free(img);
    ct_structure_free(r);
    return best;
}

int ct_validity_structural(const ct_structure *s, double cutoff, int *valid,
                           double *min_distance, ct_error *err)
{
    double d = ct_validity_min_distance(s, err);
    if (isnan(d)) return CT_ENOMEM;
    if (min_distance) *min_distance = d;
    /* CDVAE rejects when the smallest distance is strictly below the cutoff. */
    *valid = !(d < cutoff) && ct_structure_volume(s) >= CT_VALIDITY_MIN_VOLUME;
    return CT_OK;
}
