/*
 * ct_crystens.c - CrysTens encode and exact decode.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ct_crystens.h"
#include "ct_elements.h"
#include "ct_parallel.h"
#include "ct_symmetry.h"

void ct_crystens_defaults(ct_crystens_opts *o)
{
    o->size = 64;
    o->fractional = 0;
    o->reduce = 1;
    o->sort = 1;
    o->symprec = CT_SYMPREC;
    o->declared = 0;
    o->species = CT_CRYSTENS_SPECIES_Z;
}

void ct_crystens_paper(ct_crystens_opts *o)
{
    o->size = 64;
    o->fractional = 1;
    o->reduce = 0;
    o->sort = 0;
    o->symprec = 0.01;
    o->declared = 0;
    o->species = CT_CRYSTENS_SPECIES_Z;
}

int ct_crystens_column(int z)
{
    /* first Z of each period and where its d- and p-blocks begin */
    static const int start[8] = {1, 3, 11, 19, 37, 55, 87, 119};
    if (z < 1 || z > CT_MAX_Z) return 0;
    if (z == 1) return 1;
    if (z == 2) return 32;
    int p = 1;
    while (p < 7 && z >= start[p + 1]) p++;
    int k = z - start[p];                 /* 0-based position in its period */
    int len = start[p + 1] - start[p];    /* 8, 18 or 32 elements */
    if (k < 2) return k + 1;              /* s-block */
    if (len == 8) return 27 + (k - 2);    /* p-block of periods 2, 3 */
    if (len == 18) return k < 12 ? 17 + (k - 2) : 27 + (k - 12);
    return k < 16 ? 3 + (k - 2) : k < 26 ? 17 + (k - 16) : 27 + (k - 26);
}

int ct_crystens_species(double z, double column)
{
    int best = 1;
    double bd = INFINITY;
    for (int e = 1; e <= CT_MAX_Z; e++) {
        if (!ct_element_symbol(e)) continue;
        double dz = (z - e) / 3, dc = column - ct_crystens_column(e), d = dz * dz + dc * dc;
        if (d < bd) bd = d, best = e;
    }
    return best;
}

static int check_opts(const ct_crystens_opts *o, ct_error *err)
{
    return ct_layout_check_size(o->size, "CrysTens size", err);
}

/* The space group to encode: the one s carries, the declared one, or
   spglib's on s as given.  spglib is asked before reduction and sorting
   because near its tolerance its answer can depend on the atom order, and
   s.spacegroup in Lua asks it the same way. */
static int spacegroup_for(const ct_structure *s, const ct_crystens_opts *o, int *sg,
                          ct_error *err)
{
    *sg = s->spacegroup;
    if (*sg) return CT_OK;
    if (!o->declared) return ct_symmetry_spacegroup(s, o->symprec, sg, NULL, err);
    *sg = s->declared_spacegroup;
    return *sg ? CT_OK : ct_fail(err, CT_EINVAL, "structure %s declares no space group", s->name);
}

ct_structure *ct_crystens_prepare(const ct_structure *s, const ct_crystens_opts *o,
                                  ct_error *err)
{
    if (check_opts(o, err) != CT_OK) return NULL;
    int cap = ct_layout_slots(o->size), sg;
    if (s->natoms > cap) {
        ct_fail(err, CT_EINVAL, "structure %s%shas %d atoms; a CrysTens of size %d holds at "
                "most %d", s->name, *s->name ? " " : "", s->natoms, o->size, cap);
        return NULL;
    }
    if (spacegroup_for(s, o, &sg, err) != CT_OK) return NULL;
    ct_structure *p = o->reduce ? ct_structure_niggli(s, err) : ct_structure_clone(s, err);
    if (!p) return NULL;
    p->spacegroup = sg;
    if (o->sort && ct_structure_sort(p, err) != CT_OK) {
        ct_structure_free(p);
        return NULL;
    }
    return p;
}

/* The header values of atom j, rows 0..11. */
static void header_values(const ct_structure *s, int j, int species, double v[CT_CRYSTENS_HEADER])
{
    v[CT_CRYSTENS_Z] = s->z[j];
    for (int k = 0; k < 3; k++) v[CT_CRYSTENS_X + k] = s->frac[j][k];
    for (int k = 0; k < 6; k++) v[CT_CRYSTENS_A + k] = s->cell[k];
    v[CT_CRYSTENS_SG] = s->spacegroup;
    v[CT_CRYSTENS_PAD] = species == CT_CRYSTENS_SPECIES_PERIODIC ? ct_crystens_column(s->z[j]) : 0;
}

void ct_crystens_layer0(const ct_structure *s, int fractional, double *d)
{
    int n = s->natoms;
    if (!fractional) {
        ct_structure_distance_matrix(s, d);
        return;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double q = 0;
            for (int k = 0; k < 3; k++) {
                double dx = s->frac[i][k] - s->frac[j][k];
                q += dx * dx;
            }
            d[(size_t)i * n + j] = sqrt(q);
        }
}

/* Write a prepared structure into out (4×S×S), which is zero: a fresh
   calloc'd batch, whose untouched pages are left alone (that saves most of
   the page faults of a large batch). */
static int fill(const ct_structure *p, const ct_crystens_opts *o, float *out, ct_error *err)
{
    int S = o->size, n = p->natoms;
    double *d = malloc((size_t)n * n * sizeof *d);
    if (!d) return ct_fail(err, CT_ENOMEM, "out of memory");
    ct_crystens_layer0(p, o->fractional, d);
    for (int j = 0; j < n; j++) {
        double v[CT_CRYSTENS_HEADER];
        header_values(p, j, o->species, v);
        for (int r = 0; r < CT_CRYSTENS_HEADER; r++) {
            size_t at[CT_CRYSTENS_COPIES];
            ct_layout_copies(S, r, j, at);
            for (int k = 0; k < CT_CRYSTENS_COPIES; k++) out[at[k]] = (float)v[r];
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            out[ct_layout_pair(S, 0, i, j)] = (float)d[(size_t)i * n + j];
            for (int k = 0; k < 3; k++)
                out[ct_layout_pair(S, k + 1, i, j)] = (float)(p->frac[i][k] - p->frac[j][k]);
        }
    free(d);
    return CT_OK;
}

/* Encode s into out (zero, 4×S×S); a failure keeps prepare's status. */
static int encode_into(const ct_structure *s, const ct_crystens_opts *o, float *out,
                       ct_error *err)
{
    ct_structure *p = ct_crystens_prepare(s, o, err);
    if (!p) return err->status;
    int rc = fill(p, o, out, err);
    ct_structure_free(p);
    return rc;
}

/* A batch being encoded over threads.  Each share stops at its first
   failure; the lowest failing index wins, so the message does not depend
   on the thread count. */
typedef struct {
    ct_structure *const *s;
    const ct_crystens_opts *o;
    float *out;
    pthread_mutex_t lock;
    size_t failed;      /* lowest failing index so far; n if none */
    int status;
    ct_error err;
} encode_job;

static void encode_share(void *ctx, size_t begin, size_t end)
{
    encode_job *job = ctx;
    size_t per = ct_layout_len(job->o->size);
    for (size_t i = begin; i < end; i++) {
        ct_error e;
        int rc = ct_interrupted() ? ct_fail(&e, CT_EINTR, "interrupted")
                                  : encode_into(job->s[i], job->o, job->out + i * per, &e);
        if (rc == CT_OK) continue;
        pthread_mutex_lock(&job->lock);
        if (i < job->failed) {
            job->failed = i;
            job->status = rc;
            job->err = e;
        }
        pthread_mutex_unlock(&job->lock);
        return;
    }
}

/* Encode s[0..n) into out, the batch split over threads (a thread for
   every 64 structures at most, as starting one costs about as much as
   encoding a few). */
static int encode_batch(ct_structure *const *s, size_t n, int batch, const ct_crystens_opts *o,
                        float *out, ct_error *err)
{
    encode_job job = {.s = s, .o = o, .out = out, .failed = n, .status = CT_OK};
    pthread_mutex_init(&job.lock, NULL);
    ct_parallel_for(n, ct_num_threads(n, 64), encode_share, &job);
    pthread_mutex_destroy(&job.lock);
    if (job.status == CT_OK) return CT_OK;
    if (job.status == CT_EINTR || !batch) *err = job.err;
    else ct_fail(err, job.status, "structure %zu: %s", job.failed + 1, job.err.msg);
    return job.status;
}

ct_tensor *ct_crystens_encode(ct_structure *const *s, size_t n, int batch,
                              const ct_crystens_opts *o, ct_error *err)
{
    if (check_opts(o, err) != CT_OK) return NULL;
    if (!batch && n != 1) {
        ct_fail(err, CT_EINVAL, "a single CrysTens needs exactly one structure, got %zu", n);
        return NULL;
    }
    int64_t shape[4] = {(int64_t)n, 4, o->size, o->size};
    ct_tensor *t = batch ? ct_tensor_new(4, shape, err) : ct_tensor_new(3, shape + 1, err);
    if (!t) return NULL;
    if (encode_batch(s, n, batch, o, t->data, err) != CT_OK) {
        ct_tensor_free(t);
        return NULL;
    }
    return t;
}

/* Decoding ---------------------------------------------------------------- */

/* Largest distance of any copy of header row r (slots 0..n-1) from mean m
   (m < 0 means: each slot against its own mean). */
static double header_spread(const ct_layout *v, int r, int n, double m)
{
    double worst = 0;
    for (int j = 0; j < n; j++) {
        double mj = m >= 0 ? m : ct_layout_mean(v, r, j), x[CT_CRYSTENS_COPIES];
        ct_layout_read(v, r, j, x);
        for (int k = 0; k < CT_CRYSTENS_COPIES; k++)
            if (fabs(x[k] - mj) > worst) worst = fabs(x[k] - mj);
    }
    return worst;
}

/* Largest |value| in the rows and columns of slots n..S-13. */
static double empty_max(const ct_layout *v, int n)
{
    double worst = 0;
    for (int l = 0; l < CT_CRYSTENS_LAYERS; l++)
        for (int j = CT_CRYSTENS_HEADER + n; j < v->S; j++)
            for (int k = 0; k < v->S; k++) {
                double a = fabs(ct_layout_at(v, l, j, k)), b = fabs(ct_layout_at(v, l, k, j));
                if (a > worst) worst = a;
                if (b > worst) worst = b;
            }
    return worst;
}

/* Read the global header values, averaged over all 8n copies. */
static void read_globals(const ct_layout *v, int n, double cell[6], double *sg, double *spread)
{
    for (int r = CT_CRYSTENS_A; r <= CT_CRYSTENS_SG; r++) {
        double sum = 0;
        for (int j = 0; j < n; j++) sum += ct_layout_mean(v, r, j);
        double m = sum / n;
        if (r == CT_CRYSTENS_SG) *sg = m;
        else cell[r - CT_CRYSTENS_A] = m;
        double s = header_spread(v, r, n, m);
        if (s > *spread) *spread = s;
    }
}

/* Fill diag's graph and distance errors against the decoded structure. */
static int check_block(const ct_layout *v, const ct_structure *s, const ct_crystens_opts *o,
                       ct_crystens_diag *diag, ct_error *err)
{
    int n = s->natoms;
    double *d = malloc((size_t)n * n * sizeof *d);
    if (!d) return ct_fail(err, CT_ENOMEM, "out of memory");
    ct_crystens_layer0(s, o->fractional, d);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double e0 = fabs(ct_layout_block(v, 0, i, j) - d[(size_t)i * n + j]);
            if (e0 > diag->distance_error) diag->distance_error = e0;
            for (int k = 0; k < 3; k++) {
                double want = ct_layout_mean(v, CT_CRYSTENS_X + k, i) -
                              ct_layout_mean(v, CT_CRYSTENS_X + k, j);
                double e = fabs(ct_layout_block(v, k + 1, i, j) - want);
                if (e > diag->graph_error) diag->graph_error = e;
            }
        }
    free(d);
    return CT_OK;
}

static ct_structure *decode_atoms(const ct_layout *v, int n, const double cell[6],
                                  ct_crystens_diag *diag, ct_error *err)
{
    int *z = malloc((size_t)n * sizeof *z);
    double (*f)[3] = malloc((size_t)n * sizeof *f);
    ct_structure *s = NULL;
    if (!z || !f) {
        ct_fail(err, CT_ENOMEM, "out of memory");
        goto done;
    }
    for (int j = 0; j < n; j++) {
        z[j] = (int)lround(ct_layout_mean(v, CT_CRYSTENS_Z, j));
        if (!ct_element_symbol(z[j])) {
            ct_fail(err, CT_EINVAL, "slot %d: Z = %g is not a known element", j + 1,
                    ct_layout_mean(v, CT_CRYSTENS_Z, j));
            goto done;
        }
        for (int k = 0; k < 3; k++) f[j][k] = ct_layout_mean(v, CT_CRYSTENS_X + k, j);
    }
    for (int r = CT_CRYSTENS_Z; r <= CT_CRYSTENS_ZC; r++) {
        double sp = header_spread(v, r, n, -1);
        if (sp > diag->header_spread) diag->header_spread = sp;
    }
    s = ct_structure_new(cell, n, z, (const double (*)[3])f, err);
done:
    free(z);
    free(f);
    return s;
}

ct_structure *ct_crystens_decode(const float *t, int size, const ct_crystens_opts *o,
                                 ct_crystens_diag *diag, ct_error *err)
{
    ct_crystens_diag local;
    if (!diag) diag = &local;
    memset(diag, 0, sizeof *diag);
    if (ct_layout_check_size(size, "CrysTens size", err) != CT_OK) return NULL;
    ct_layout v = {t, size};
    int n = 0;
    while (n < ct_layout_slots(size) && ct_layout_mean(&v, CT_CRYSTENS_Z, n) >= 0.5) n++;
    diag->natoms = n;
    diag->empty_max = empty_max(&v, n);
    if (n == 0) {
        ct_fail(err, CT_EINVAL, "the tensor holds no atoms (every Z slot is below 0.5)");
        return NULL;
    }
    double cell[6], sg;
    read_globals(&v, n, cell, &sg, &diag->header_spread);
    long sgn = isfinite(sg) && fabs(sg) < 1e6 ? lround(sg) : 0;
    if (!(sgn >= 1 && sgn <= 230)) {
        ct_fail(err, CT_EINVAL, "space group %g is outside 1-230", sg);
        return NULL;
    }
    ct_structure *s = decode_atoms(&v, n, cell, diag, err);
    if (!s) return NULL;
    s->spacegroup = (int)sgn;
    if (check_block(&v, s, o, diag, err) != CT_OK) {
        ct_structure_free(s);
        return NULL;
    }
    return s;
}
