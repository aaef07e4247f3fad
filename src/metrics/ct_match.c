/*
 * ct_match.c - the simplified StructureMatcher of ct_match.h: composition,
 * Niggli lattices under signed axis permutations, then sites after an
 * origin shift.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_match.h"
#include "ct_parallel.h"

#define DEG (M_PI / 180.0)

struct ct_match_item {
    int natoms;
    int *z;
    double (*frac)[3];      /* in the reduced cell */
    double m[3][3];         /* the reduced cell, rows */
    double cell[6];
    double volume;
    int nel;                /* distinct elements, sorted by Z ... */
    int *el_z, *el_n;       /* ... and their counts */
    int rare;               /* index of an atom of the rarest element */
    uint64_t key;
};

void ct_match_item_free(ct_match_item *it)
{
    free(it);   /* the arrays live in its block (item_alloc) */
}

/* An item is one block: the struct, its n coordinates, then its three int
   arrays of n (the struct's size keeps the doubles aligned, and they the
   ints), so preparing a structure allocates once. */
static ct_match_item *item_alloc(size_t n)
{
    ct_match_item *it = malloc(sizeof *it + n * (sizeof *it->frac + 3 * sizeof(int)));
    if (!it) return NULL;
    it->frac = (double (*)[3])(it + 1);
    it->z = (int *)(it->frac + n);
    it->el_z = it->z + n;
    it->el_n = it->el_z + n;
    return it;
}

/* Distinct elements sorted by Z with counts, the FNV-1a key, and the rarest element's atom. */
static void composition_of(ct_match_item *it)
{
    it->nel = 0;
    for (int i = 0; i < it->natoms; i++) {
        int k = 0;
        while (k < it->nel && it->el_z[k] < it->z[i]) k++;
        if (k < it->nel && it->el_z[k] == it->z[i]) {
            it->el_n[k]++;
            continue;
        }
        memmove(it->el_z + k + 1, it->el_z + k, (size_t)(it->nel - k) * sizeof(int));
        memmove(it->el_n + k + 1, it->el_n + k, (size_t)(it->nel - k) * sizeof(int));
        it->el_z[k] = it->z[i];
        it->el_n[k] = 1;
        it->nel++;
    }
    uint64_t h = 1469598103934665603ULL;
    h = (h ^ (uint64_t)it->natoms) * 1099511628211ULL;
    int rare = 0;
    for (int k = 0; k < it->nel; k++) {
        h = (h ^ (uint64_t)it->el_z[k]) * 1099511628211ULL;
        h = (h ^ (uint64_t)it->el_n[k]) * 1099511628211ULL;
        if (it->el_n[k] < it->el_n[rare]) rare = k;
    }
    it->key = h;
    it->rare = 0;
    while (it->z[it->rare] != it->el_z[rare]) it->rare++;
}

ct_match_item *ct_match_prepare(const ct_structure *s, ct_error *err)
{
    ct_error ignored;
    ct_structure *r = ct_structure_niggli(s, &ignored);   /* else the cell as given */
    const ct_structure *use = r ? r : s;
    size_t n = (size_t)use->natoms;
    ct_match_item *it = item_alloc(n);
    if (!it) {
        ct_structure_free(r);
        ct_fail(err, CT_ENOMEM, "out of memory");
        return NULL;
    }
    it->natoms = use->natoms;
    memcpy(it->z, use->z, n * sizeof *it->z);
    memcpy(it->frac, use->frac, n * sizeof *it->frac);
    memcpy(it->m, use->matrix, sizeof it->m);
    memcpy(it->cell, use->cell, sizeof it->cell);
    it->volume = ct_structure_volume(use);
    ct_structure_free(r);
    composition_of(it);
    return it;
}

/* The signed permutation number q (0..47) as a matrix: row k of P has
   the sign s_k at column perm[k]. */
static void signed_perm(int q, int P[3][3])
{
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const int *p = perms[q / 8];
    memset(P, 0, 9 * sizeof(int));
    for (int k = 0; k < 3; k++) P[k][p[k]] = (q >> k) & 1 ? -1 : 1;
}

static double dot3(const double *u, const double *v)
{
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
}

/* Do the rows P·mb, scaled by f, have a's lengths and angles? */
static int lattice_fits(const ct_match_item *a, const double mb[3][3], const int P[3][3],
                        double f, const ct_match_opts *o)
{
    double v[3][3];
    for (int k = 0; k < 3; k++)
        for (int x = 0; x < 3; x++)
            v[k][x] = f * (P[k][0] * mb[0][x] + P[k][1] * mb[1][x] + P[k][2] * mb[2][x]);
    double len[3];
    for (int k = 0; k < 3; k++) {   /* pymatgen's test: 1/(1+ltol) < ratio < 1+ltol */
        len[k] = sqrt(dot3(v[k], v[k]));
        double q = len[k] / a->cell[k];
        if (!(q < 1 + o->ltol && q * (1 + o->ltol) > 1)) return 0;
    }
    static const int pair[3][2] = {{1, 2}, {0, 2}, {0, 1}};   /* alpha, beta, gamma */
    for (int k = 0; k < 3; k++) {
        double c = dot3(v[pair[k][0]], v[pair[k][1]]) / (len[pair[k][0]] * len[pair[k][1]]);
        double ang = acos(c > 1 ? 1 : c < -1 ? -1 : c) / DEG;
        if (fabs(ang - a->cell[3 + k]) > o->angle_tol) return 0;
    }
    return 1;
}

/* |(d - round d)·m|² for a fractional difference d. */
static double frac_dist2(const double d[3], const double m[3][3])
{
    double g[3], c[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) g[k] = d[k] - nearbyint(d[k]);
    for (int k = 0; k < 3; k++)
        for (int x = 0; x < 3; x++) c[x] += g[k] * m[k][x];
    return dot3(c, c);
}

/* Does every atom of a find its own atom of b (coordinates fb, already in
   a's setting) within tol after adding shift to b? */
static int sites_fit(const ct_match_item *a, const ct_match_item *b, const double (*fb)[3],
                     const double shift[3], double tol2, unsigned char *used)
{
    memset(used, 0, (size_t)b->natoms);
    for (int i = 0; i < a->natoms; i++) {
        int best = -1;
        double bd = tol2;
        for (int j = 0; j < b->natoms; j++) {
            if (used[j] || b->z[j] != a->z[i]) continue;
            double d[3] = {a->frac[i][0] - fb[j][0] - shift[0], a->frac[i][1] - fb[j][1] - shift[1],
                           a->frac[i][2] - fb[j][2] - shift[2]};
            double d2 = frac_dist2(d, a->m);
            if (d2 <= bd) {
                bd = d2;
                best = j;
            }
        }
        if (best < 0) return 0;
        used[best] = 1;
    }
    return 1;
}

/* Try every origin shift that puts a's rare atom on a b atom of its element. */
static int shifts_fit(const ct_match_item *a, const ct_match_item *b, const double (*fb)[3],
                      double tol2, unsigned char *used)
{
    const double *fr = a->frac[a->rare];
    for (int j = 0; j < b->natoms; j++) {
        if (b->z[j] != a->z[a->rare]) continue;
        double shift[3] = {fr[0] - fb[j][0], fr[1] - fb[j][1], fr[2] - fb[j][2]};
        if (sites_fit(a, b, fb, shift, tol2, used)) return 1;
    }
    return 0;
}

static int same_composition(const ct_match_item *a, const ct_match_item *b)
{
    return a->key == b->key && a->natoms == b->natoms && a->nel == b->nel &&
           !memcmp(a->el_z, b->el_z, (size_t)a->nel * sizeof(int)) &&
           !memcmp(a->el_n, b->el_n, (size_t)a->nel * sizeof(int));
}

int ct_match_items(const ct_match_item *a, const ct_match_item *b, const ct_match_opts *o)
{
    if (!same_composition(a, b)) return 0;
    double f = o->scale ? cbrt(a->volume / b->volume) : 1.0;
    double tol = o->stol * cbrt(a->volume / a->natoms);
    double (*fb)[3] = malloc((size_t)b->natoms * sizeof *fb);
    unsigned char *used = malloc((size_t)b->natoms);
    int found = 0;
    for (int q = 0; q < 48 && fb && used && !found; q++) {
        int P[3][3];
        signed_perm(q, P);
        if (!lattice_fits(a, b->m, P, f, o)) continue;
        /* b's rows become P·m_b, so coordinates become f·Pᵀ. */
        for (int j = 0; j < b->natoms; j++)
            for (int k = 0; k < 3; k++)
                fb[j][k] = P[k][0] * b->frac[j][0] + P[k][1] * b->frac[j][1] +
                           P[k][2] * b->frac[j][2];
        found = shifts_fit(a, b, (const double (*)[3])fb, tol * tol, used);
    }
    free(fb);
    free(used);
    return found;
}

int ct_match_structures(const ct_structure *a, const ct_structure *b, const ct_match_opts *o,
                        int *same, ct_error *err)
{
    ct_match_item *ia = ct_match_prepare(a, err);
    ct_match_item *ib = ia ? ct_match_prepare(b, err) : NULL;
    if (!ib) {
        ct_match_item_free(ia);
        return CT_ENOMEM;
    }
    *same = ct_match_items(ia, ib, o);
    ct_match_item_free(ia);
    ct_match_item_free(ib);
    return CT_OK;
}

/* ---- Lists ------------------------------------------------------------------ */

typedef struct {
    ct_structure *const *s;
    ct_match_item **items;
} prep_job;

static void prep_share(void *ctx, size_t begin, size_t end)
{
    prep_job *job = ctx;
    ct_error err;
    for (size_t i = begin; i < end && !ct_interrupted(); i++)
        job->items[i] = ct_match_prepare(job->s[i], &err);
}

static void free_items(ct_match_item **items, size_t n)
{
    if (!items) return;
    for (size_t i = 0; i < n; i++) ct_match_item_free(items[i]);
    free(items);
}

/* Prepare n structures over threads into *out. */
static int prepare_all(ct_structure *const *s, size_t n, ct_match_item ***out, ct_error *err)
{
    ct_match_item **items = calloc(n ? n : 1, sizeof *items);
    *out = NULL;
    if (!items) return ct_fail(err, CT_ENOMEM, "out of memory");
    prep_job job = {s, items};
    ct_parallel_for(n, ct_num_threads(n, 32), prep_share, &job);
    for (size_t i = 0; i < n; i++)
        if (!items[i]) {
            free_items(items, n);
            if (ct_interrupted()) return ct_fail(err, CT_EINTR, "interrupted");
            return ct_fail(err, CT_ENOMEM, "out of memory preparing structure %zu", i + 1);
        }
    *out = items;
    return CT_OK;
}

typedef struct {
    uint64_t key;
    size_t idx;
} key_idx;

static int cmp_key(const void *pa, const void *pb)
{
    const key_idx *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* The items' keys with their indices, sorted by key then index. */
static key_idx *sorted_keys(ct_match_item *const *items, size_t n, ct_error *err)
{
    key_idx *k = malloc((n ? n : 1) * sizeof *k);
    if (!k) {
        ct_fail(err, CT_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) k[i] = (key_idx){items[i]->key, i};
    qsort(k, n, sizeof *k, cmp_key);
    return k;
}

int ct_match_unique(ct_structure *const *s, size_t n, const ct_match_opts *o, size_t *cls,
                    size_t *nclass, ct_error *err)
{
    ct_match_item **items;
    int st = prepare_all(s, n, &items, err);
    if (st != CT_OK) return st;
    key_idx *k = sorted_keys(items, n, err);
    if (!k) {
        free_items(items, n);
        return CT_ENOMEM;
    }
    /* Within a run of equal keys, in index order: join the first earlier
       representative that matches, else become one. */
    *nclass = 0;
    for (size_t r0 = 0, r1; r0 < n; r0 = r1) {
        for (r1 = r0; r1 < n && k[r1].key == k[r0].key; r1++) {
            size_t i = k[r1].idx;
            cls[i] = i;
            for (size_t p = r0; p < r1 && cls[i] == i; p++) {
                size_t j = k[p].idx;
                if (cls[j] == j && ct_match_items(items[j], items[i], o)) cls[i] = j;
            }
            if (cls[i] == i) (*nclass)++;
            if (ct_interrupted()) break;
        }
    }
    free(k);
    free_items(items, n);
    if (ct_interrupted()) return ct_fail(err, CT_EINTR, "interrupted");
    return CT_OK;
}

typedef struct {
    ct_match_item **gen, **train;
    const key_idx *keys;
    size_t ntrain;
    const ct_match_opts *o;
    unsigned char *novel;
} novel_job;

static void novel_share(void *ctx, size_t begin, size_t end)
{
    novel_job *job = ctx;
    for (size_t i = begin; i < end && !ct_interrupted(); i++) {
        uint64_t key = job->gen[i]->key;
        size_t lo = 0, hi = job->ntrain;
        while (lo < hi) {   /* the first training key >= key */
            size_t mid = lo + (hi - lo) / 2;
            if (job->keys[mid].key < key) lo = mid + 1;
            else hi = mid;
        }
        job->novel[i] = 1;
        for (size_t p = lo; p < job->ntrain && job->keys[p].key == key && job->novel[i]; p++)
            if (ct_match_items(job->gen[i], job->train[job->keys[p].idx], job->o))
                job->novel[i] = 0;
    }
}

int ct_match_novel(ct_structure *const *gen, size_t ngen, ct_structure *const *train,
                   size_t ntrain, const ct_match_opts *o, unsigned char *novel, ct_error *err)
{
    ct_match_item **g, **t = NULL;
    key_idx *k = NULL;
    int st = prepare_all(gen, ngen, &g, err);
    if (st == CT_OK) st = prepare_all(train, ntrain, &t, err);
    if (st == CT_OK && !(k = sorted_keys(t, ntrain, err))) st = CT_ENOMEM;
    if (st == CT_OK) {
        novel_job job = {g, t, k, ntrain, o, novel};
        ct_parallel_for(ngen, ct_num_threads(ngen, 16), novel_share, &job);
        if (ct_interrupted()) st = ct_fail(err, CT_EINTR, "interrupted");
    }
    free(k);
    free_items(t, ntrain);
    free_items(g, ngen);
    return st;
}
