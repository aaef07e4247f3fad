/*
 * test_crystens.c - the CrysTens layout (spec section 1) checked element by
 * element, and exact decoding of random structures.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_crystens.h"
#include "ct_layout.h"
#include "tap.h"

static unsigned long long rng_state;

/* This test is linked with -Wl,--wrap=malloc: every malloc of the core
   comes here, and while malloc_countdown is k > 0 the k-th call fails. */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
static atomic_long malloc_countdown;

void *__wrap_malloc(size_t n)
{
    if (atomic_load(&malloc_countdown) > 0 && atomic_fetch_sub(&malloc_countdown, 1) == 1)
        return NULL;
    return __real_malloc(n);
}

static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static ct_structure *random_structure(int n)
{
    double cell[6], m[3][3];
    do {
        for (int i = 0; i < 3; i++) cell[i] = 3 + 9 * urand();
        for (int i = 3; i < 6; i++) cell[i] = 60 + 60 * urand();
    } while (ct_cell_to_matrix(cell, m, NULL) != CT_OK);
    double (*f)[3] = malloc((size_t)n * sizeof *f);
    int *z = malloc((size_t)n * sizeof *z);
    for (int i = 0; i < n; i++) {
        z[i] = 1 + (int)(urand() * 90);
        for (int k = 0; k < 3; k++) f[i][k] = urand();
    }
    ct_structure *s = ct_structure_new(cell, n, z, (const double (*)[3])f, NULL);
    free(f);
    free(z);
    return s;
}

#define AT(t, S, l, r, c) ((t)[((size_t)(l) * (S) + (r)) * (S) + (c)])

/* Check every element of t against the layout for prepared structure p. */
static int layout_errors(const float *t, int S, const ct_structure *p, int fractional)
{
    int bad = 0, n = p->natoms;
    for (int l = 0; l < 4; l++)
        for (int r = 0; r < S; r++)
            for (int c = 0; c < S; c++) {
                double want = 0;
                int hr = r < 12, hc = c < 12;
                int j = hr ? c - 12 : r - 12, h = hr ? r : c;
                if (hr && hc) want = 0;
                else if ((hr || hc) && j < n) {
                    double v[12] = {p->z[j], p->frac[j][0], p->frac[j][1], p->frac[j][2],
                                    p->cell[0], p->cell[1], p->cell[2], p->cell[3], p->cell[4],
                                    p->cell[5], p->spacegroup, 0};
                    want = v[h];
                } else if (!hr && !hc && r - 12 < n && c - 12 < n) {
                    int a = r - 12, b = c - 12;
                    if (l > 0) {
                        want = p->frac[a][l - 1] - p->frac[b][l - 1];
                    } else if (fractional) {
                        double q = 0;
                        for (int k = 0; k < 3; k++)
                            q += pow(p->frac[a][k] - p->frac[b][k], 2);
                        want = sqrt(q);
                    } else {
                        want = ct_structure_distance(p, a, b);
                    }
                }
                if (fabs((double)AT(t, S, l, r, c) - want) > 1e-5 * (1 + fabs(want))) bad++;
            }
    return bad;
}

static void test_layout(int S, int fractional)
{
    ct_crystens_opts o;
    ct_crystens_defaults(&o);
    o.size = S;
    o.fractional = fractional;
    int bad = 0, symmetric = 1;
    for (int trial = 0; trial < 10; trial++) {
        ct_structure *s = random_structure(1 + (int)(urand() * (S - 12)));
        ct_error err;
        ct_structure *p = ct_crystens_prepare(s, &o, &err);
        ct_tensor *t = ct_crystens_encode(&s, 1, 0, &o, &err);
        bad += layout_errors(t->data, S, p, fractional);
        for (int l = 0; l < 4; l++)
            for (int r = 0; r < S; r++)
                for (int c = 0; c < S; c++) {
                    float a = AT(t->data, S, l, r, c), b = AT(t->data, S, l, c, r);
                    int anti = l > 0 && r >= 12 && c >= 12;
                    if (anti ? a != -b : a != b) symmetric = 0;
                }
        ct_tensor_free(t);
        ct_structure_free(p);
        ct_structure_free(s);
    }
    ok(bad == 0, "S=%d %s: every element as the spec lays it out", S,
       fractional ? "fractional" : "angstrom");
    ok(symmetric, "S=%d: header and layer 0 symmetric, layers 1-3 antisymmetric", S);
}

static void test_roundtrip(void)
{
    ct_crystens_opts o;
    ct_crystens_defaults(&o);
    int worst_atoms = 0;
    double worst_coord = 0, worst_cell = 0, worst_diag = 0;
    for (int trial = 0; trial < 40; trial++) {
        ct_structure *s = random_structure(1 + (int)(urand() * 52));
        ct_error err;
        ct_structure *p = ct_crystens_prepare(s, &o, &err);
        ct_tensor *t = ct_crystens_encode(&s, 1, 0, &o, &err);
        ct_crystens_diag d;
        ct_structure *back = ct_crystens_decode(t->data, 64, &o, &d, &err);
        if (!back || back->natoms != p->natoms || back->spacegroup != p->spacegroup) {
            worst_atoms++;
        } else {
            for (int i = 0; i < p->natoms; i++) {
                if (back->z[i] != p->z[i]) worst_atoms++;
                for (int k = 0; k < 3; k++) {
                    double e = fabs(back->frac[i][k] - p->frac[i][k]);
                    e = fmin(e, 1 - e);
                    if (e > worst_coord) worst_coord = e;
                }
            }
            for (int k = 0; k < 6; k++) {
                double e = fabs(back->cell[k] - p->cell[k]);
                if (e > worst_cell) worst_cell = e;
            }
            worst_diag = fmax(worst_diag, fmax(d.header_spread, d.graph_error));
            worst_diag = fmax(worst_diag, d.empty_max);
        }
        ct_structure_free(back);
        ct_tensor_free(t);
        ct_structure_free(p);
        ct_structure_free(s);
    }
    ok(worst_atoms == 0, "decode(encode(s)) has prepare(s)'s atoms and space group (40 random)");
    ok(worst_coord < 1e-6, "coordinates within 1e-6 modulo 1 (worst %.2g)", worst_coord);
    ok(worst_cell < 1e-4, "lattice within 1e-4 (worst %.2g)", worst_cell);
    ok(worst_diag < 1e-5, "diagnostics of exact tensors near zero (worst %.2g)", worst_diag);
}

static void test_errors(void)
{
    ct_crystens_opts o;
    ct_crystens_defaults(&o);
    ct_structure *s = random_structure(53);
    ct_error err;
    ct_tensor *t = ct_crystens_encode(&s, 1, 0, &o, &err);
    ok(!t && strstr(err.msg, "53 atoms") && strstr(err.msg, "at most 52"),
       "53 atoms at S=64: %s", err.msg);
    ct_structure_free(s);
    float *zero = calloc(4 * 64 * 64, sizeof *zero);
    ok(!ct_crystens_decode(zero, 64, &o, NULL, &err) && strstr(err.msg, "no atoms"),
       "decoding an empty tensor: %s", err.msg);
    free(zero);
    o.size = 12;
    s = random_structure(1);
    ok(!ct_crystens_encode(&s, 1, 0, &o, &err) && strstr(err.msg, "size"), "S=12: %s", err.msg);
    ct_structure_free(s);
}

/* A batch split over threads gives the tensor a single thread gives, and
   the same message naming the first bad structure. */
static void test_threads(void)
{
    enum { N = 300, BAD1 = 170, BAD2 = 250 };
    ct_crystens_opts o;
    ct_crystens_defaults(&o);
    o.size = 32;
    o.declared = 1;   /* random cells: skip spglib, it is not what is tested */
    ct_structure *s[N];
    for (int i = 0; i < N; i++) {
        s[i] = random_structure(i == BAD1 || i == BAD2 ? 21 : 1 + i % 20);
        s[i]->declared_spacegroup = 1;
    }
    ct_error err;
    setenv("CT_NUM_THREADS", "1", 1);
    ct_structure *good[N - 2];
    for (int i = 0, k = 0; i < N; i++)
        if (i != BAD1 && i != BAD2) good[k++] = s[i];
    ct_tensor *one = ct_crystens_encode(good, N - 2, 1, &o, &err);
    ct_tensor *fail1 = ct_crystens_encode(s, N, 1, &o, &err);
    char msg1[512];
    snprintf(msg1, sizeof msg1, "%s", err.msg);
    setenv("CT_NUM_THREADS", "3", 1);
    ct_tensor *three = ct_crystens_encode(good, N - 2, 1, &o, &err);
    ct_tensor *fail3 = ct_crystens_encode(s, N, 1, &o, &err);
    unsetenv("CT_NUM_THREADS");
    ok(one && three && !memcmp(one->data, three->data, one->numel * sizeof(float)),
       "298 structures on 3 threads encode exactly as on 1");
    ok(!fail1 && !fail3 && !strcmp(msg1, err.msg) && strstr(err.msg, "structure 171:"),
       "the first bad structure is named whatever the threads: %s", err.msg);
    ct_tensor_free(one);
    ct_tensor_free(three);
    for (int i = 0; i < N; i++) ct_structure_free(s[i]);
}

/* ct_layout.h against the spec (section 1): S - 12 slots (52 at S = 64),
   header value r of slot j at (l, r, 12+j) and (l, 12+j, r) in all 4
   layers, slots i, j at (l, 12+i, 12+j); the header rows in the spec's
   order, read back from an encoded structure. */
static void test_accessor(void)
{
    ok(ct_layout_slots(64) == 52 && ct_layout_slots(32) == 20,
       "S - 12 slots: 52 at 64, 20 at 32");
    ok(ct_layout_len(32) == 4 * 32 * 32 && ct_layout_plane(32) == 32 * 32, "4×S×S floats");
    /* offsets as the spec's AT(t, S, l, r, c) finds them in a 4×20×20 tensor */
    static float t0[4 * 20 * 20];
    int S = 20, where = 1, pairs = 1;
    for (int r = 0; r < 12; r++)
        for (int j = 0; j < S - 12; j++) {
            size_t at[CT_CRYSTENS_COPIES];
            ct_layout_copies(S, r, j, at);
            for (int l = 0; l < 4; l++)
                where &= at[2 * l] == (size_t)(&AT(t0, S, l, r, 12 + j) - t0) &&
                         at[2 * l + 1] == (size_t)(&AT(t0, S, l, 12 + j, r) - t0);
        }
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < S - 12; i++)
            for (int j = 0; j < S - 12; j++)
                pairs &= ct_layout_pair(S, l, i, j) ==
                         (size_t)(&AT(t0, S, l, 12 + i, 12 + j) - t0);
    ok(where, "the 8 copies of each header value: its row and its column in every layer");
    ok(pairs, "slots i, j meet at (l, 12+i, 12+j)");

    ct_crystens_opts o;
    ct_crystens_defaults(&o);
    o.size = 32;
    o.species = CT_CRYSTENS_SPECIES_PERIODIC;
    ct_error err;
    ct_structure *s = random_structure(7);
    ct_structure *p = ct_crystens_prepare(s, &o, &err);
    ct_tensor *t = ct_crystens_encode(&s, 1, 0, &o, &err);
    ct_layout v = {t->data, 32};
    int rows = 1, copies = 1;
    for (int j = 0; j < p->natoms; j++) {
        double want[12] = {p->z[j], p->frac[j][0], p->frac[j][1], p->frac[j][2],
                           p->cell[0], p->cell[1], p->cell[2], p->cell[3], p->cell[4],
                           p->cell[5], p->spacegroup, ct_crystens_column(p->z[j])};
        for (int r = 0; r < 12; r++) {
            double x[CT_CRYSTENS_COPIES];
            ct_layout_read(&v, r, j, x);
            rows &= fabs(ct_layout_mean(&v, r, j) - want[r]) <= 1e-5 * (1 + fabs(want[r]));
            for (int k = 0; k < CT_CRYSTENS_COPIES; k++) copies &= x[k] == x[0];
        }
    }
    ok(rows, "header rows Z, x, y, z, a, b, c, α, β, γ, SG, column in the spec's order");
    ok(copies, "ct_layout_read gives the 8 equal copies of an encoded value");
    ok(ct_layout_block(&v, 2, 1, 3) == (double)AT(t->data, 32, 2, 13, 15),
       "ct_layout_block reads (l, 12+i, 12+j)");
    ct_tensor_free(t);
    ct_structure_free(p);
    ct_structure_free(s);

    ok(ct_layout_check_size(12, "size", &err) == CT_EINVAL &&
       strstr(err.msg, "size must be 13 to 4096, got 12"), "size 12 refused: %s", err.msg);
    ok(ct_layout_check_size(13, "size", &err) == CT_OK &&
       ct_layout_check_size(CT_CRYSTENS_MAX_SIZE, "size", &err) == CT_OK,
       "sizes 13 and 4096 accepted");
    ok(ct_layout_check_size(4097, "size", &err) == CT_EINVAL, "size 4097 refused");
}

/* Fail each allocation of an encode in turn (the structure's copy, its
   Niggli cell, the sort keys, the distances, the tensor): each failure is
   reported as out of memory, with the batch's item named, never as bad
   input; the sanitizer build checks that nothing leaks on the way. */
static void test_out_of_memory(void)
{
    ct_crystens_opts o;
    ct_crystens_defaults(&o);
    o.size = 32;
    ct_structure *s[2] = {random_structure(6), random_structure(9)};
    for (int batch = 0; batch <= 1; batch++) {
        int failures = 0, wrong = 0, named = 1;
        for (long k = 1; k < 1000; k++) {
            ct_error err = {0};
            atomic_store(&malloc_countdown, k);
            ct_tensor *t = ct_crystens_encode(s, batch ? 2 : 1, batch, &o, &err);
            long left = atomic_exchange(&malloc_countdown, 0);
            if (t) {
                ct_tensor_free(t);
                if (left > 0) break;   /* fewer than k allocations: all tried */
                continue;
            }
            failures++;
            if (err.status != CT_ENOMEM) {
                wrong++;
                printf("#   allocation %ld: status %d, %s\n", k, err.status, err.msg);
            }
            if (batch && !strstr(err.msg, "out of memory")) named = 0;
        }
        ok(failures > 3 && wrong == 0, "%s: each of %d failed allocations reports out of memory",
           batch ? "a batch of 2" : "one structure", failures);
        if (batch) ok(named, "the batch's message says out of memory");
    }
    ct_structure_free(s[0]);
    ct_structure_free(s[1]);
}

int main(void)
{
    rng_state = 777;
    printf("# seed %llu\n", rng_state);
    test_layout(64, 0);
    test_layout(32, 1);
    test_roundtrip();
    test_errors();
    test_threads();
    test_accessor();
    test_out_of_memory();
    return tap_done();
}
