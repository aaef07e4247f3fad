/*
 * test_fingerprint.c - the Voronoi cell, CrystalNN, the order parameters
 * and the CDVAE structure fingerprint: ideal lattices whose answers follow
 * from geometry, and, where Debian's python3-pymatgen is installed, the
 * fingerprints of mp_20 test crystals against pymatgen's own CrystalNN and
 * LocalStructOrderParams (tests/fingerprint_ref.py).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_crystalnn.h"
#include "ct_dataset.h"
#include "ct_fingerprint.h"
#include "ct_orderparams.h"
#include "ct_voronoi.h"
#include "tap.h"

static ct_structure *make(double a, double b, double c, double al, double be, double ga, int n,
                          const int *z, const double (*f)[3])
{
    double cell[6] = {a, b, c, al, be, ga};
    ct_error err;
    ct_structure *s = ct_structure_new(cell, n, z, f, &err);
    if (!s) printf("# %s\n", err.msg);
    return s;
}

static int label(const char *name)
{
    for (int i = 0; i < CT_FP_LEN; i++)
        if (!strcmp(ct_fingerprint_names[i], name)) return i;
    printf("# no feature %s\n", name);
    return 0;
}

static void fingerprint(const ct_structure *s, double fp[CT_FP_LEN])
{
    ct_error err;
    if (ct_fingerprint_structure(s, fp, &err) != CT_OK) {
        printf("# fingerprint failed: %s\n", err.msg);
        for (int i = 0; i < CT_FP_LEN; i++) fp[i] = NAN;
    }
}

/* Simple cubic: 6 square faces of solid angle 4π/6, CN 6 for sure, an
   octahedron. */
static void test_simple_cubic(void)
{
    int z[1] = {29};
    double f[1][3] = {{0, 0, 0}};
    ct_structure *s = make(2.5, 2.5, 2.5, 90, 90, 90, 1, z, (const double (*)[3])f);
    ct_voronoi_face *faces;
    int n = 0;
    ct_error err;
    double total = 0, vol = 0;
    if (ct_voronoi_cell(s, 0, 7.0, &faces, &n, NULL, &err) == CT_OK) {
        for (int i = 0; i < n; i++) {
            total += faces[i].solid_angle;
            vol += faces[i].volume;
        }
        near(faces[0].solid_angle, 4 * M_PI / 6, 1e-12, "simple cubic: face solid angle 4π/6");
        near(faces[0].area, 2.5 * 2.5, 1e-12, "simple cubic: face area a²");
        free(faces);
    }
    ok(n == 6, "simple cubic: 6 Voronoi faces (%d)", n);
    near(total, 4 * M_PI, 1e-12, "simple cubic: solid angles add up to 4π");
    near(vol, 2.5 * 2.5 * 2.5, 1e-12, "simple cubic: pyramids fill the cell");
    double fp[CT_FP_LEN];
    fingerprint(s, fp);
    near(fp[label("wt CN_6")], 1, 1e-12, "simple cubic: P(CN=6) = 1");
    near(fp[label("octahedral CN_6")], 1, 1e-9, "simple cubic: octahedral = 1");
    ct_structure_free(s);
}

static const ct_op_motif *motif(int cn, const char *name)
{
    for (int i = 0; i < CT_OP_NMOTIFS; i++)
        if (ct_op_motifs[i].cn == cn && !strcmp(ct_op_motifs[i].name, name))
            return &ct_op_motifs[i];
    printf("# no motif %s\n", name);
    return &ct_op_motifs[0];
}

/* Ideal polyhedra score 1 on their own motif; Steinhardt's q4, q6 of the
   cube and the cuboctahedron are the textbook bcc and fcc values. */
static void test_order_parameters(void)
{
    double t = 1 / sqrt(3.0);
    double tet[4][3] = {{t, t, t}, {t, -t, -t}, {-t, t, -t}, {-t, -t, t}};
    double oct[6][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
    double lin[2][3] = {{0, 0, 1.5}, {0, 0, -2}};
    double tri[3][3] = {{1, 0, 0}, {-0.5, sqrt(0.75), 0}, {-0.5, -sqrt(0.75), 0}};
    double sq[4][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}};
    double cube[8][3], cubo[12][3];
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 3; k++) cube[i][k] = (i >> k & 1) ? 1 : -1;
    for (int i = 0, n = 0; i < 3; i++)   /* (±1, ±1, 0) and permutations */
        for (int sa = -1; sa <= 1; sa += 2)
            for (int sb = -1; sb <= 1; sb += 2, n++) {
                cubo[n][i] = 0;
                cubo[n][(i + 1) % 3] = sa;
                cubo[n][(i + 2) % 3] = sb;
            }
    near(ct_order_parameter(motif(4, "tetrahedral"), (const double (*)[3])tet, 4), 1, 1e-12,
         "tetrahedron: tetrahedral = 1");
    near(ct_order_parameter(motif(6, "octahedral"), (const double (*)[3])oct, 6), 1, 1e-12,
         "octahedron: octahedral = 1");
    near(ct_order_parameter(motif(2, "linear"), (const double (*)[3])lin, 2), 1, 1e-12,
         "linear pair: linear = 1");
    near(ct_order_parameter(motif(3, "trigonal planar"), (const double (*)[3])tri, 3), 1, 1e-9,
         "triangle: trigonal planar = 1");
    near(ct_order_parameter(motif(4, "square co-planar"), (const double (*)[3])sq, 4), 1, 1e-12,
         "square: square co-planar = 1");
    near(ct_order_parameter(motif(8, "body-centered cubic"), (const double (*)[3])cube, 8), 1,
         1e-12, "cube: body-centred cubic = 1");
    near(ct_order_parameter(motif(12, "cuboctahedral"), (const double (*)[3])cubo, 12), 1, 1e-12,
         "cuboctahedron: cuboctahedral = 1");
    near(ct_order_parameter(motif(9, "q4"), (const double (*)[3])cube, 8), 0.50918, 1e-5,
         "cube: q4 = 0.50918 (bcc)");
    near(ct_order_parameter(motif(9, "q6"), (const double (*)[3])cube, 8), 0.62854, 1e-5,
         "cube: q6 = 0.62854 (bcc)");
    near(ct_order_parameter(motif(12, "q4"), (const double (*)[3])cubo, 12), 0.19094, 1e-5,
         "cuboctahedron: q4 = 0.19094 (fcc)");
    near(ct_order_parameter(motif(12, "q6"), (const double (*)[3])cubo, 12), 0.57452, 1e-5,
         "cuboctahedron: q6 = 0.57452 (fcc)");
    near(ct_order_parameter(motif(9, "q2"), (const double (*)[3])oct, 6), 0, 1e-12,
         "octahedron: q2 = 0 (cubic symmetry)");
    ok(isnan(ct_order_parameter(motif(8, "body-centered cubic"), (const double (*)[3])tet, 3)),
       "bcc of 3 neighbours is undefined (pymatgen's None)");
    double v[CT_OP_MAX_PER_CN];
    ok(ct_order_parameters(12, (const double (*)[3])cubo, v) == 4 && fabs(v[0] - 1) < 1e-12,
       "all CN-12 motifs at once: cuboctahedral first");
}

/* The most probable coordination number in a fingerprint. */
static int likeliest_cn(const double fp[CT_FP_LEN])
{
    int best = 0;
    double w = 0;
    for (int i = 0; i < CT_FP_LEN; i++)
        if (!strncmp(ct_fingerprint_names[i], "wt CN_", 6) && fp[i] > w) {
            w = fp[i];
            best = atoi(ct_fingerprint_names[i] + 6);
        }
    return best;
}

/* A motif's order parameter divided by its CN weight: the raw OP. */
static double raw_op(const double fp[CT_FP_LEN], const char *motif, int cn)
{
    char wt[32], name[96];
    snprintf(wt, sizeof wt, "wt CN_%d", cn);
    snprintf(name, sizeof name, "%s CN_%d", motif, cn);
    return fp[label(name)] / fp[label(wt)];
}

/* Ideal lattices: the likeliest CN and its motif. */
static void test_lattices(void)
{
    double fp[CT_FP_LEN];
    int fe[1] = {26}, cu[1] = {29}, nacl[8] = {11, 11, 11, 11, 17, 17, 17, 17}, si[2] = {14, 14};
    double origin[1][3] = {{0, 0, 0}};
    double rs[8][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0},
                       {.5, .5, .5}, {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}};
    double dia[2][3] = {{0, 0, 0}, {.25, .25, .25}};

    /* bcc as its primitive rhombohedral cell: 8 nearest neighbours at
       √3a/2, 6 more at a (their faces are smaller) */
    ct_structure *s = make(2.4855, 2.4855, 2.4855, 109.4712206, 109.4712206, 109.4712206, 1, fe,
                           (const double (*)[3])origin);
    fingerprint(s, fp);
    ok(likeliest_cn(fp) == 8, "bcc Fe: CN 8 is the likeliest (%d)", likeliest_cn(fp));
    near(raw_op(fp, "body-centered cubic", 8), 1, 1e-6, "bcc Fe: body-centred cubic motif");
    ok(fp[label("wt CN_8")] + fp[label("wt CN_14")] > 1 - 1e-9, "bcc Fe: CN 8 or 14 only");
    ct_structure_free(s);

    s = make(2.5527, 2.5527, 2.5527, 60, 60, 60, 1, cu, (const double (*)[3])origin);
    fingerprint(s, fp);
    near(fp[label("wt CN_12")], 1, 1e-12, "fcc Cu (primitive cell): P(CN=12) = 1");
    near(raw_op(fp, "cuboctahedral", 12), 1, 1e-6, "fcc Cu: cuboctahedral motif");
    ct_structure_free(s);

    s = make(5.64, 5.64, 5.64, 90, 90, 90, 8, nacl, (const double (*)[3])rs);
    fingerprint(s, fp);
    near(fp[label("wt CN_6")], 1, 1e-12, "rock salt: every ion 6-coordinated");
    near(raw_op(fp, "octahedral", 6), 1, 1e-6, "rock salt: octahedral motif");
    ct_structure_free(s);

    s = make(3.8396, 3.8396, 3.8396, 60, 60, 60, 2, si, (const double (*)[3])dia);
    fingerprint(s, fp);
    ok(likeliest_cn(fp) == 4, "diamond Si: CN 4 is the likeliest (%d)", likeliest_cn(fp));
    near(raw_op(fp, "tetrahedral", 4), 1, 1e-6, "diamond Si: tetrahedral motif");
    ct_structure_free(s);
}

/* Write s as one line of tests/fingerprint_ref.py's input. */
static void write_line(FILE *f, const ct_structure *s)
{
    for (int i = 0; i < 6; i++) fprintf(f, "%.17g ", s->cell[i]);
    fprintf(f, "%d", s->natoms);
    for (int i = 0; i < s->natoms; i++) fprintf(f, " %d", s->z[i]);
    for (int i = 0; i < s->natoms; i++)
        fprintf(f, " %.17g %.17g %.17g", s->frac[i][0], s->frac[i][1], s->frac[i][2]);
    fprintf(f, "\n");
}

#define NLIST 64

/* Compare with pymatgen on the ideal lattices and the first n crystals of
   the mp_20 test split. */
static void test_against_pymatgen(int n)
{
    const char *top = getenv("top_srcdir");
    char csv[4096], script[4096], cmd[8192], in[] = "/tmp/ct_fp_inXXXXXX";
    snprintf(csv, sizeof csv, "%s/../shared/data/mp_20_biternary/test.csv", top ? top : ".");
    snprintf(script, sizeof script, "%s/tests/fingerprint_ref.py", top ? top : ".");
    FILE *probe = fopen(csv, "r");
    if (!probe) {
        printf("ok %d # SKIP no ../shared/data/mp_20_biternary\n", ++tap_n);
        return;
    }
    fclose(probe);
    ct_dataset_opts o = {.limit = (size_t)n, .max_atoms = 4};
    ct_dataset *ds;
    ct_error err;
    if (!ok(ct_dataset_load(csv, &o, &ds, &err) == CT_OK, "mp_20 test split loads")) return;
    int fd = mkstemp(in);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    /* the lattices above, and atom pairs 5e-3 Å and 0 Å apart */
    int fe[1] = {26}, cu[1] = {29}, si[2] = {14, 14}, nacl[2] = {11, 17};
    double org[1][3] = {{0, 0, 0}}, dia[2][3] = {{0, 0, 0}, {.25, .25, .25}};
    double near_pair[2][3] = {{0, 0, 0}, {0, 0, 1e-3}}, same[2][3] = {{.3, .3, .3}, {.3, .3, .3}};
    ct_structure *list[NLIST];
    size_t n_all = 0;
    list[n_all++] = make(2.5, 2.5, 2.5, 90, 90, 90, 1, cu, (const double (*)[3])org);
    list[n_all++] = make(2.4855, 2.4855, 2.4855, 109.4712206, 109.4712206, 109.4712206, 1, fe,
                         (const double (*)[3])org);
    list[n_all++] = make(2.5527, 2.5527, 2.5527, 60, 60, 60, 1, cu, (const double (*)[3])org);
    list[n_all++] = make(3.8396, 3.8396, 3.8396, 60, 60, 60, 2, si, (const double (*)[3])dia);
    list[n_all++] = make(5, 5, 5, 90, 90, 90, 2, nacl, (const double (*)[3])near_pair);
    list[n_all++] = make(5, 5, 5, 90, 90, 90, 2, nacl, (const double (*)[3])same);
    int own = (int)n_all;
    for (size_t i = 0; i < ds->n && n_all < NLIST; i++) list[n_all++] = ds->items[i];
    for (size_t i = 0; f && i < n_all; i++) write_line(f, list[i]);
    if (f) fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' < '%s' 2>/dev/null", script, in);
    FILE *p = popen(cmd, "r");
    char first[512] = "";
    if (!p || !fgets(first, sizeof first, p) || strncmp(first, "ready", 5)) {
        first[strcspn(first, "\n")] = 0;
        printf("ok %d # SKIP %s\n", ++tap_n,
               first[0] ? first : "no reference (/usr/bin/python3 with python3-pymatgen)");
        if (p) pclose(p);
        unlink(in);
        for (int i = 0; i < own; i++) ct_structure_free(list[i]);
        ct_dataset_free(ds);
        return;
    }
    /* "body-centered cubic" alone depends on the order of the neighbours
       (its pole is the first of each pair), which pymatgen takes from
       rounding noise in tied weights: compare it apart, more loosely. */
    int bcc = label("body-centered cubic CN_8");
    double worst = 0, worst_bcc = 0, fp[CT_FP_LEN];
    int compared = 0, agree_fail = 1;
    for (size_t i = 0; p && i < n_all; i++) {
        double ref[CT_FP_LEN];
        int got = 0;
        for (int k = 0; k < CT_FP_LEN; k++) got += fscanf(p, "%lf", &ref[k]) == 1;
        int c_ok = ct_fingerprint_structure(list[i], fp, &err) == CT_OK;
        if (got != CT_FP_LEN) {   /* pymatgen failed: so must we */
            char line[1024];
            if (!fgets(line, sizeof line, p)) break;
            agree_fail &= !c_ok;
            printf("# crystal %zu: pymatgen: %s", i + 1, line);
            continue;
        }
        agree_fail &= c_ok;
        for (int k = 0; c_ok && k < CT_FP_LEN; k++) {
            double d = fabs(fp[k] - ref[k]), *w = k == bcc ? &worst_bcc : &worst;
            if (d > *w) *w = d;
            if (d > 1e-10)
                printf("# crystal %zu %s: C %.12g, pymatgen %.12g\n", i + 1,
                       ct_fingerprint_names[k], fp[k], ref[k]);
        }
        compared++;
    }
    if (p) pclose(p);
    unlink(in);
    printf("# %d crystals compared, max |C - pymatgen| = %.3g, bcc %.3g\n", compared, worst,
           worst_bcc);
    ok(compared == (int)n_all && agree_fail, "pymatgen fingerprints all %zu crystals (%d)",
       n_all, compared);
    ok(worst < 1e-7, "fingerprints agree with pymatgen (max diff %.3g)", worst);
    ok(worst_bcc < 1e-2, "bcc order parameter agrees with pymatgen (max diff %.3g)", worst_bcc);
    for (int i = 0; i < own; i++) ct_structure_free(list[i]);
    ct_dataset_free(ds);
}

int main(void)
{
    test_order_parameters();
    test_simple_cubic();
    test_lattices();
    test_against_pymatgen(30);
    return tap_done();
}
