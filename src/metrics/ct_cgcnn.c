/*
 * ct_cgcnn.c - crystal graphs and the gated graph-convolution property
 * model (see ct_cgcnn.h).  The dense parts are ct_nn Linear layers and
 * ct_nn_gemm; the gathers, gates, means and their gradients are written out
 * here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_cgcnn.h"
#include "ct_elements.h"
#include "ct_nn_impl.h"

/* ---- Configuration --------------------------------------------------------- */

ct_cgcnn_cfg ct_cgcnn_cfg_default(void)
{
    ct_cgcnn_cfg c = {8.0, 12, 41, 64, 3, 128, 2};
    return c;
}

int ct_cgcnn_cfg_check(const ct_cgcnn_cfg *c, ct_error *err)
{
    if (!(c->cutoff >= 1 && c->cutoff <= 20))
        return ct_fail(err, CT_EINVAL, "cgcnn: cutoff must be in [1, 20] Å, got %g", c->cutoff);
    if (c->max_nbr < 1 || c->max_nbr > 64)
        return ct_fail(err, CT_EINVAL, "cgcnn: max_nbr must be in 1..64, got %d", c->max_nbr);
    if (c->ngauss < 2 || c->ngauss > 256)
        return ct_fail(err, CT_EINVAL, "cgcnn: ngauss must be in 2..256, got %d", c->ngauss);
    if (c->atom_fea < 1 || c->atom_fea > 1024 || c->hidden < 1 || c->hidden > 4096)
        return ct_fail(err, CT_EINVAL, "cgcnn: atom_fea must be in 1..1024 and hidden in 1..4096, "
                       "got %d and %d", c->atom_fea, c->hidden);
    if (c->nconv < 1 || c->nconv > CT_CGCNN_MAXCONV)
        return ct_fail(err, CT_EINVAL, "cgcnn: nconv must be in 1..%d, got %d", CT_CGCNN_MAXCONV,
                       c->nconv);
    if (c->ntargets < 1 || c->ntargets > CT_CGCNN_MAXTARGETS)
        return ct_fail(err, CT_EINVAL, "cgcnn: ntargets must be in 1..%d, got %d",
                       CT_CGCNN_MAXTARGETS, c->ntargets);
    return CT_OK;
}

/* ---- Graphs ------------------------------------------------------------------ */

void ct_graph_free(ct_graph *g)
{
    free(g);   /* the arrays live in g's block (graph_alloc) */
}

/* A graph is one block: the struct, then its int arrays and the float one
   (the struct's size keeps them aligned), so one allocation can fail and
   one free releases it; training makes a batch graph every step. */
_Static_assert(sizeof(int) % _Alignof(float) == 0, "the float array follows the int ones");
static ct_graph *graph_alloc(int ncrystals, int natoms, int nedges, ct_error *err)
{
    size_t nc = (size_t)ncrystals + 1, na = (size_t)natoms + 1, ne = (size_t)nedges + 1;
    ct_graph *g = malloc(sizeof *g + (nc + 3 * na + ne) * sizeof(int) + ne * sizeof(float));
    if (!g) {
        ct_fail(err, CT_ENOMEM, "cgcnn: out of memory for a graph of %d atoms and %d edges",
                natoms, nedges);
        return NULL;
    }
    g->ncrystals = ncrystals;
    g->natoms = natoms;
    g->nedges = nedges;
    g->atom0 = (int *)(g + 1);
    g->crystal = g->atom0 + nc;
    g->z = g->crystal + na;
    g->edge0 = g->z + na;
    g->nbr = g->edge0 + na;
    g->dist = (float *)(g->nbr + ne);
    return g;
}

typedef struct {
    double d;
    int j, image;
} neighbour;

/* Nearest first; ties by atom, then image, so the kept set is reproducible. */
static int cmp_neighbour(const void *pa, const void *pb)
{
    const neighbour *a = pa, *b = pb;
    if (a->d != b->d) return a->d < b->d ? -1 : 1;
    if (a->j != b->j) return a->j < b->j ? -1 : 1;
    return (a->image > b->image) - (a->image < b->image);
}

static void cross3(const double a[3], const double b[3], double out[3])
{
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

int ct_graph_build(const ct_structure *s, const ct_cgcnn_cfg *c, ct_graph **out, ct_error *err)
{
    *out = NULL;
    if (ct_cgcnn_cfg_check(c, err) != CT_OK) return CT_EINVAL;
    int n = s->natoms;
    if (n < 1) return ct_fail(err, CT_EINVAL, "cgcnn: the structure has no atoms");
    const double (*M)[3] = s->matrix;
    double bc[3];
    cross3(M[1], M[2], bc);
    double vol = fabs(M[0][0] * bc[0] + M[0][1] * bc[1] + M[0][2] * bc[2]);
    /* Images along lattice vector k reach the sphere while |Δf_k + n_k| is
       below cutoff / (the spacing of the planes spanned by the other two). */
    int reach[3];
    for (int k = 0; k < 3; k++) {
        double cr[3];
        cross3(M[(k + 1) % 3], M[(k + 2) % 3], cr);
        double spacing = vol / sqrt(cr[0] * cr[0] + cr[1] * cr[1] + cr[2] * cr[2]);
        double r = ceil(c->cutoff / spacing) + 1;
        if (!(r <= 40))
            return ct_fail(err, CT_EINVAL, "cgcnn: the cell is too thin (%.3g Å between lattice "
                           "planes) for a %g Å cutoff", spacing, c->cutoff);
        reach[k] = (int)r;
    }
    size_t nimg = (size_t)(2 * reach[0] + 1) * (size_t)(2 * reach[1] + 1) * (size_t)(2 * reach[2] + 1);
    size_t cap = 256;
    neighbour *cand = malloc(cap * sizeof *cand);
    double (*shift)[3] = malloc(nimg * sizeof *shift);   /* Cartesian image translations */
    ct_graph *g = graph_alloc(1, n, n * c->max_nbr, err);
    if (!cand || !shift || !g) {
        free(cand);
        free(shift);
        ct_graph_free(g);
        return ct_fail(err, CT_ENOMEM, "cgcnn: out of memory for the neighbours of %d atoms", n);
    }
    size_t im = 0;
    for (int a = -reach[0]; a <= reach[0]; a++)
        for (int b = -reach[1]; b <= reach[1]; b++)
            for (int cc = -reach[2]; cc <= reach[2]; cc++, im++)
                for (int k = 0; k < 3; k++) shift[im][k] = a * M[0][k] + b * M[1][k] + cc * M[2][k];
    double cut2 = c->cutoff * c->cutoff;
    int ne = 0;
    g->atom0[0] = 0;
    g->atom0[1] = n;
    for (int i = 0; i < n; i++) {
        g->crystal[i] = 0;
        g->z[i] = s->z[i];
        g->edge0[i] = ne;
        size_t cnt = 0;
        for (int j = 0; j < n; j++) {
            double base[3], f0 = s->frac[j][0] - s->frac[i][0], f1 = s->frac[j][1] - s->frac[i][1],
                   f2 = s->frac[j][2] - s->frac[i][2];
            for (int k = 0; k < 3; k++) base[k] = f0 * M[0][k] + f1 * M[1][k] + f2 * M[2][k];
            for (im = 0; im < nimg; im++) {
                double x = base[0] + shift[im][0], y = base[1] + shift[im][1], z = base[2] + shift[im][2];
                double d2 = x * x + y * y + z * z;
                if (d2 >= cut2 || d2 < 1e-12) continue;
                if (cnt == cap) {
                    neighbour *bigger = realloc(cand, 2 * cap * sizeof *cand);
                    if (!bigger) {
                        free(cand);
                        free(shift);
                        ct_graph_free(g);
                        return ct_fail(err, CT_ENOMEM, "cgcnn: out of memory for neighbours");
                    }
                    cand = bigger;
                    cap *= 2;
                }
                cand[cnt++] = (neighbour){sqrt(d2), j, (int)im};
            }
        }
        if (cnt == 0) {
            free(cand);
            free(shift);
            ct_graph_free(g);
            return ct_fail(err, CT_EINVAL, "cgcnn: atom %d (%s) has no neighbour within the %g Å "
                           "cutoff: an isolated atom has no environment to predict from", i + 1,
                           ct_element_symbol(s->z[i]), c->cutoff);
        }
        qsort(cand, cnt, sizeof *cand, cmp_neighbour);
        for (size_t k = 0; k < cnt && k < (size_t)c->max_nbr; k++) {
            g->nbr[ne] = cand[k].j;
            g->dist[ne] = (float)cand[k].d;
            ne++;
        }
    }
    g->edge0[n] = ne;
    g->nedges = ne;
    free(cand);
    free(shift);
    *out = g;
    return CT_OK;
}

ct_graph *ct_graph_batch(const ct_graph *const *gs, int n, ct_error *err)
{
    long na = 0, ne = 0;
    for (int k = 0; k < n; k++) {
        na += gs[k]->natoms;
        ne += gs[k]->nedges;
    }
    if (n < 1 || na > 1L << 30 || ne > 1L << 30) {
        ct_fail(err, CT_EINVAL, "cgcnn: a batch needs 1 to 2^30 atoms and edges, got %d crystals, "
                "%ld atoms, %ld edges", n, na, ne);
        return NULL;
    }
    ct_graph *b = graph_alloc(n, (int)na, (int)ne, err);
    if (!b) return NULL;
    int a0 = 0, e0 = 0;
    for (int k = 0; k < n; k++) {
        const ct_graph *g = gs[k];
        b->atom0[k] = a0;
        for (int i = 0; i < g->natoms; i++) {
            b->crystal[a0 + i] = k;
            b->z[a0 + i] = g->z[i];
            b->edge0[a0 + i] = e0 + g->edge0[i];
        }
        for (int e = 0; e < g->nedges; e++) {
            b->nbr[e0 + e] = a0 + g->nbr[e];
            b->dist[e0 + e] = g->dist[e];
        }
        a0 += g->natoms;
        e0 += g->nedges;
    }
    b->atom0[n] = a0;
    b->edge0[a0] = e0;
    return b;
}

/* ---- The model ------------------------------------------------------------------ */

#define NPARAMS (2 * (CT_CGCNN_MAXCONV + 3))

/* A buffer kept from step to step: the per-edge arrays are megabytes, and
   fresh ones each step cost more in page faults than the GEMMs take. */
typedef struct {
    float *p;
    size_t cap;
} ct_buf;

static float *grow(ct_buf *b, size_t n, ct_error *err)
{
    if (n > b->cap) {
        free(b->p);
        b->cap = 0;
        if (!(b->p = malloc((n ? n : 1) * sizeof *b->p))) {
            ct_fail(err, CT_ENOMEM, "cgcnn: out of memory for %zu edge values", n);
            return NULL;
        }
        b->cap = n;
    }
    return b->p;
}

struct ct_cgcnn {
    ct_cgcnn_cfg c;
    ct_tensor *elem;                     /* NZ × NFEAT */
    unsigned char known[CT_CGCNN_NZ];
    double mean[CT_CGCNN_MAXTARGETS], std[CT_CGCNN_MAXTARGETS];
    ct_layer *embed, *conv[CT_CGCNN_MAXCONV], *fc1, *fc2;
    int nparams;
    ct_param *params[NPARAMS];
    char names[NPARAMS][32];
    ct_tensor *w, *g;                    /* flat values and gradients */
    /* What the last forward keeps for backward. */
    const ct_graph *graph;
    ct_tensor *v[CT_CGCNN_MAXCONV + 1];  /* atom features entering conv l; v[nconv] leaves */
    ct_buf h[CT_CGCNN_MAXCONV];          /* E × 2F: sigmoid(gate), softplus(core) */
    ct_tensor *pre[CT_CGCNN_MAXCONV];    /* N × F: v + mean message, before softplus */
    ct_buf u;                            /* E × G: the Gaussian-expanded distances */
    ct_buf gh;                           /* E × 2F: backward's scratch */
    ct_tensor *a1;                       /* C × hidden: the head before softplus */
};

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* log(1 + e^x) without overflow.  logf(1 + e^x) in place of log1pf (a
   sixth of the training time): below -9 the sum would round, and e^x is
   log(1 + e^x) to 6e-5 relative there. */
static float softplusf(float x)
{
    if (x > 20.0f) return x;
    float e = expf(x);
    return x < -9.0f ? e : logf(1.0f + e);
}

static void drop_cache(ct_cgcnn *m)
{
    for (int l = 0; l <= CT_CGCNN_MAXCONV; l++) {
        ct_tensor_free(m->v[l]);
        m->v[l] = NULL;
        if (l < CT_CGCNN_MAXCONV) {
            ct_tensor_free(m->pre[l]);
            m->pre[l] = NULL;
        }
    }
    ct_tensor_free(m->a1);
    m->a1 = NULL;
    m->graph = NULL;
}

void ct_cgcnn_free(ct_cgcnn *m)
{
    if (!m) return;
    drop_cache(m);
    for (int l = 0; l < CT_CGCNN_MAXCONV; l++) free(m->h[l].p);
    free(m->u.p);
    free(m->gh.p);
    ct_layer_free(m->embed);
    for (int l = 0; l < CT_CGCNN_MAXCONV; l++) ct_layer_free(m->conv[l]);
    ct_layer_free(m->fc1);
    ct_layer_free(m->fc2);
    ct_tensor_free(m->elem);
    ct_tensor_free(m->w);
    ct_tensor_free(m->g);
    free(m);
}

static void add_layer_params(ct_cgcnn *m, ct_layer *l, const char *prefix)
{
    for (int p = 0; p < l->nparams; p++) {
        snprintf(m->names[m->nparams], sizeof m->names[0], "%s.%s", prefix, l->params[p].name);
        m->params[m->nparams++] = &l->params[p];
    }
}

/* Standardise the Magpie properties over Z = 1..100; missing values 0. */
static void fill_elements(ct_cgcnn *m, const ct_magpie *mp)
{
    float *e = m->elem->data;
    for (int p = 0; p < CT_CGCNN_NFEAT; p++) {
        double s = 0, s2 = 0;
        int cnt = 0;
        for (int z = 1; z <= 100; z++) {
            double v = ct_magpie_value(mp, p, z);
            if (isnan(v)) continue;
            s += v;
            s2 += v * v;
            cnt++;
        }
        double mean = cnt ? s / cnt : 0, var = cnt ? s2 / cnt - mean * mean : 0;
        double sd = var > 1e-12 ? sqrt(var) : 1;
        for (int z = 0; z < CT_CGCNN_NZ; z++) {
            double v = z ? ct_magpie_value(mp, p, z) : (double)NAN;
            e[z * CT_CGCNN_NFEAT + p] = isnan(v) ? 0.0f : (float)((v - mean) / sd);
        }
    }
}

ct_cgcnn *ct_cgcnn_new(const ct_cgcnn_cfg *c, const ct_magpie *mp, ct_rng *r, ct_error *err)
{
    if (ct_cgcnn_cfg_check(c, err) != CT_OK) return NULL;
    ct_cgcnn *m = calloc(1, sizeof *m);
    if (!m) {
        ct_fail(err, CT_ENOMEM, "cgcnn: out of memory");
        return NULL;
    }
    m->c = *c;
    int F = c->atom_fea;
    int64_t eshape[2] = {CT_CGCNN_NZ, CT_CGCNN_NFEAT};
    if (!(m->elem = ct_tensor_new(2, eshape, err))) goto fail;
    if (mp) fill_elements(m, mp);
    for (int t = 0; t < CT_CGCNN_MAXTARGETS; t++) m->std[t] = 1;
    if (!(m->embed = ct_linear_new(CT_CGCNN_NFEAT, F, 1, r, err))) goto fail;
    add_layer_params(m, m->embed, "embed");
    for (int l = 0; l < c->nconv; l++) {
        char name[16];
        if (!(m->conv[l] = ct_linear_new(2 * F + c->ngauss, 2 * F, 1, r, err))) goto fail;
        snprintf(name, sizeof name, "conv.%d", l);
        add_layer_params(m, m->conv[l], name);
    }
    if (!(m->fc1 = ct_linear_new(F, c->hidden, 1, r, err))) goto fail;
    add_layer_params(m, m->fc1, "fc1");
    if (!(m->fc2 = ct_linear_new(c->hidden, c->ntargets, 1, r, err))) goto fail;
    add_layer_params(m, m->fc2, "fc2");
    if (ct_params_flatten(m->params, m->nparams, &m->w, &m->g, err) != CT_OK) goto fail;
    return m;
fail:
    ct_cgcnn_free(m);
    return NULL;
}

const ct_cgcnn_cfg *ct_cgcnn_config(const ct_cgcnn *m) { return &m->c; }
ct_tensor *ct_cgcnn_weights(ct_cgcnn *m) { return m->w; }
ct_tensor *ct_cgcnn_grads(ct_cgcnn *m) { return m->g; }

void ct_cgcnn_set_scale(ct_cgcnn *m, const double *mean, const double *std)
{
    /* Rounded to float, as a file stores them, so a saved model predicts
       exactly what the one in memory does. */
    for (int t = 0; t < m->c.ntargets; t++) {
        m->mean[t] = (float)mean[t];
        m->std[t] = (float)std[t];
    }
}

void ct_cgcnn_get_scale(const ct_cgcnn *m, double *mean, double *std)
{
    for (int t = 0; t < m->c.ntargets; t++) {
        mean[t] = m->mean[t];
        std[t] = m->std[t];
    }
}

void ct_cgcnn_mark_known(ct_cgcnn *m, const ct_graph *g)
{
    for (int i = 0; i < g->natoms; i++)
        if (g->z[i] > 0 && g->z[i] < CT_CGCNN_NZ) m->known[g->z[i]] = 1;
}

int ct_cgcnn_known(const ct_cgcnn *m, int z) { return z > 0 && z < CT_CGCNN_NZ && m->known[z]; }

int ct_cgcnn_check(const ct_cgcnn *m, const ct_graph *g, ct_error *err)
{
    for (int i = 0; i < g->natoms; i++)
        if (!ct_cgcnn_known(m, g->z[i]))
            return ct_fail(err, CT_EINVAL, "cgcnn: element %s (Z = %d) of atom %d is absent from "
                           "the model's training data", ct_element_symbol(g->z[i]), g->z[i],
                           i - g->atom0[g->crystal[i]] + 1);
    return CT_OK;
}

static ct_tensor *mat(int rows, int cols, int zero, ct_error *err)
{
    int64_t shape[2] = {rows, cols};
    return zero ? ct_tensor_new(2, shape, err) : ct_tensor_empty(2, shape, err);
}

/* One gated convolution: h_e = W [v_i, v_j, u_e] + b, then the mean gated
   message added to v_i; keeps h and pre, returns softplus(pre).  W's three
   column blocks act apart (W_s v_i + W_n v_j + W_u u_e), so the two atom
   blocks are GEMMs over atoms, not edges, and [v_i, v_j, u_e] is never
   built: about a third of the flops and none of its memory traffic.  conv[l]
   is a Linear layer only as the holder of W and b. */
static ct_tensor *conv_forward(ct_cgcnn *m, int l, const ct_tensor *v, ct_error *err)
{
    const ct_graph *g = m->graph;
    int F = m->c.atom_fea, G = m->c.ngauss, W = 2 * F + G, N = g->natoms;
    const float *w = m->conv[l]->params[0].w->data, *bias = m->conv[l]->params[1].w->data;
    ct_tensor *self = mat(N, 2 * F, 0, err), *nb = self ? mat(N, 2 * F, 0, err) : NULL;
    float *h = nb ? grow(&m->h[l], (size_t)g->nedges * 2 * F, err) : NULL;
    if (!h) {
        ct_tensor_free(self);
        ct_tensor_free(nb);
        return NULL;
    }
    ct_nn_gemm(0, 1, N, 2 * F, F, 1.0f, v->data, F, w, W, 0.0f, self->data, 2 * F);
    ct_nn_gemm(0, 1, N, 2 * F, F, 1.0f, v->data, F, w + F, W, 0.0f, nb->data, 2 * F);
    ct_nn_gemm(0, 1, g->nedges, 2 * F, G, 1.0f, m->u.p, G, w + 2 * F, W, 0.0f, h, 2 * F);
    /* h becomes [sigmoid(gate), softplus(core)]: all backward needs, as
       sigmoid(x) = -expm1(-softplus(x)). */
    for (int i = 0; i < N; i++) {
        const float *si = self->data + (size_t)i * 2 * F;
        for (int e = g->edge0[i]; e < g->edge0[i + 1]; e++) {
            float *he = h + (size_t)e * 2 * F;
            const float *nj = nb->data + (size_t)g->nbr[e] * 2 * F;
            for (int k = 0; k < F; k++) he[k] = sigmoidf(he[k] + si[k] + nj[k] + bias[k]);
            for (int k = F; k < 2 * F; k++) he[k] = softplusf(he[k] + si[k] + nj[k] + bias[k]);
        }
    }
    ct_tensor_free(self);
    ct_tensor_free(nb);
    ct_tensor *pre = m->pre[l] = mat(N, F, 0, err);
    ct_tensor *out = pre ? mat(N, F, 0, err) : NULL;
    if (!out) return NULL;
    for (int i = 0; i < N; i++) {
        float *p = pre->data + (size_t)i * F;
        memset(p, 0, (size_t)F * sizeof *p);
        int e0 = g->edge0[i], e1 = g->edge0[i + 1];
        for (int e = e0; e < e1; e++) {
            const float *he = h + (size_t)e * 2 * F;
            for (int k = 0; k < F; k++) p[k] += he[k] * he[F + k];
        }
        float inv = 1.0f / (float)(e1 - e0);
        const float *vi = v->data + (size_t)i * F;
        for (int k = 0; k < F; k++) {
            p[k] = vi[k] + p[k] * inv;
            out->data[(size_t)i * F + k] = softplusf(p[k]);
        }
    }
    return out;
}

int ct_cgcnn_forward(ct_cgcnn *m, const ct_graph *g, ct_tensor **y, ct_error *err)
{
    *y = NULL;
    drop_cache(m);
    if (g->natoms < 1 || g->edge0[0] != 0)
        return ct_fail(err, CT_EINVAL, "cgcnn: malformed graph (no atoms or edges)");
    for (int e = 0; e < g->nedges; e++)
        if (!(g->nbr[e] >= 0 && g->nbr[e] < g->natoms))
            return ct_fail(err, CT_EINVAL, "cgcnn: malformed graph (edge %d)", e);
    for (int i = 0; i < g->natoms; i++)
        if (g->edge0[i + 1] <= g->edge0[i] || g->z[i] < 1 || g->z[i] >= CT_CGCNN_NZ)
            return ct_fail(err, CT_EINVAL, "cgcnn: malformed graph (atom %d)", i);
    m->graph = g;
    const ct_cgcnn_cfg *c = &m->c;
    int N = g->natoms, F = c->atom_fea, G = c->ngauss, C = g->ncrystals;
    int rc = CT_ENOMEM;
    ct_tensor *x = mat(N, CT_CGCNN_NFEAT, 0, err), *pooled = NULL, *hs = NULL;
    if (!x) goto done;
    for (int i = 0; i < N; i++)
        memcpy(x->data + (size_t)i * CT_CGCNN_NFEAT, m->elem->data + (size_t)g->z[i] * CT_CGCNN_NFEAT,
               CT_CGCNN_NFEAT * sizeof(float));
    if ((rc = ct_layer_forward(m->embed, x, &m->v[0], err)) != CT_OK) goto done;
    rc = CT_ENOMEM;
    float *u = grow(&m->u, (size_t)g->nedges * G, err);
    if (!u) goto done;
    double step = c->cutoff / (G - 1);
    for (int e = 0; e < g->nedges; e++)
        for (int k = 0; k < G; k++) {
            double d = ((double)g->dist[e] - k * step) / step;
            u[(size_t)e * G + k] = (float)exp(-d * d);
        }
    for (int l = 0; l < c->nconv; l++)
        if (!(m->v[l + 1] = conv_forward(m, l, m->v[l], err))) goto done;
    if (!(pooled = mat(C, F, 1, err))) goto done;
    const float *vl = m->v[c->nconv]->data;
    for (int k = 0; k < C; k++) {
        float *p = pooled->data + (size_t)k * F;
        int a0 = g->atom0[k], a1 = g->atom0[k + 1];
        for (int i = a0; i < a1; i++)
            for (int f = 0; f < F; f++) p[f] += vl[(size_t)i * F + f];
        for (int f = 0; f < F; f++) p[f] /= (float)(a1 - a0);
    }
    if ((rc = ct_layer_forward(m->fc1, pooled, &m->a1, err)) != CT_OK) goto done;
    rc = CT_ENOMEM;
    if (!(hs = ct_tensor_empty(2, m->a1->shape, err))) goto done;
    for (size_t i = 0; i < hs->numel; i++) hs->data[i] = softplusf(m->a1->data[i]);
    rc = ct_layer_forward(m->fc2, hs, y, err);
done:
    ct_tensor_free(x);
    ct_tensor_free(pooled);
    ct_tensor_free(hs);
    if (rc != CT_OK) drop_cache(m);
    return rc;
}

/* The backward of conv_forward: from gout = dL/d(softplus(pre)) to dL/dv;
   the gradients of W's blocks and b accumulate when param_grads is on. */
static ct_tensor *conv_backward(ct_cgcnn *m, int l, const ct_tensor *gout, ct_error *err)
{
    const ct_graph *g = m->graph;
    int F = m->c.atom_fea, G = m->c.ngauss, W = 2 * F + G, N = g->natoms;
    ct_layer *lin = m->conv[l];
    const float *w = lin->params[0].w->data;
    ct_tensor *gpre = mat(N, F, 0, err);
    float *gh = gpre ? grow(&m->gh, (size_t)g->nedges * 2 * F, err) : NULL;
    ct_tensor *gself = gh ? mat(N, 2 * F, 1, err) : NULL, *gnb = gself ? mat(N, 2 * F, 1, err) : NULL;
    if (!gnb) {
        ct_tensor_free(gpre);
        ct_tensor_free(gself);
        return NULL;
    }
    for (size_t i = 0; i < gpre->numel; i++)
        gpre->data[i] = gout->data[i] * sigmoidf(m->pre[l]->data[i]);
    for (int i = 0; i < N; i++) {
        int e0 = g->edge0[i], e1 = g->edge0[i + 1];
        float inv = 1.0f / (float)(e1 - e0);
        const float *gp = gpre->data + (size_t)i * F;
        float *gs = gself->data + (size_t)i * 2 * F;
        for (int e = e0; e < e1; e++) {
            const float *h = m->h[l].p + (size_t)e * 2 * F;
            float *gr = gh + (size_t)e * 2 * F, *gn = gnb->data + (size_t)g->nbr[e] * 2 * F;
            for (int k = 0; k < F; k++) {
                float gm = gp[k] * inv, f = h[k], sp = h[F + k];
                gr[k] = gm * sp * f * (1.0f - f);
                gr[F + k] = -gm * f * expm1f(-sp);
            }
            for (int k = 0; k < 2 * F; k++) {
                gs[k] += gr[k];
                gn[k] += gr[k];
            }
        }
    }
    const float *v = m->v[l]->data;
    if (lin->param_grads) {
        float *gw = lin->params[0].g->data, *gb = lin->params[1].g->data;
        ct_nn_gemm(1, 0, 2 * F, F, N, 1.0f, gself->data, 2 * F, v, F, 1.0f, gw, W);
        ct_nn_gemm(1, 0, 2 * F, F, N, 1.0f, gnb->data, 2 * F, v, F, 1.0f, gw + F, W);
        ct_nn_gemm(1, 0, 2 * F, G, g->nedges, 1.0f, gh, 2 * F, m->u.p, G, 1.0f, gw + 2 * F, W);
        for (int i = 0; i < N; i++)
            for (int k = 0; k < 2 * F; k++) gb[k] += gself->data[(size_t)i * 2 * F + k];
    }
    /* The residual path carries gpre; each edge adds to its centre and its neighbour. */
    ct_nn_gemm(0, 0, N, F, 2 * F, 1.0f, gself->data, 2 * F, w, W, 1.0f, gpre->data, F);
    ct_nn_gemm(0, 0, N, F, 2 * F, 1.0f, gnb->data, 2 * F, w + F, W, 1.0f, gpre->data, F);
    ct_tensor_free(gself);
    ct_tensor_free(gnb);
    return gpre;
}

int ct_cgcnn_backward(ct_cgcnn *m, const ct_tensor *gy, ct_error *err)
{
    const ct_graph *g = m->graph;
    if (!g) return ct_fail(err, CT_EINVAL, "cgcnn: backward needs a forward first");
    const ct_cgcnn_cfg *c = &m->c;
    int F = c->atom_fea, C = g->ncrystals;
    if (gy->ndim != 2 || gy->shape[0] != C || gy->shape[1] != c->ntargets)
        return ct_fail(err, CT_EINVAL, "cgcnn: the output gradient must be %d×%d", C, c->ntargets);
    ct_tensor *gh, *gp = NULL, *gv = NULL;
    int rc = ct_layer_backward(m->fc2, gy, &gh, err);
    if (rc != CT_OK) return rc;
    for (size_t i = 0; i < gh->numel; i++) gh->data[i] *= sigmoidf(m->a1->data[i]);
    rc = ct_layer_backward(m->fc1, gh, &gp, err);
    ct_tensor_free(gh);
    if (rc != CT_OK) return rc;
    if (!(gv = mat(g->natoms, F, 0, err))) {
        ct_tensor_free(gp);
        return CT_ENOMEM;
    }
    for (int i = 0; i < g->natoms; i++) {
        int k = g->crystal[i];
        float inv = 1.0f / (float)(g->atom0[k + 1] - g->atom0[k]);
        for (int f = 0; f < F; f++) gv->data[(size_t)i * F + f] = gp->data[(size_t)k * F + f] * inv;
    }
    ct_tensor_free(gp);
    for (int l = c->nconv - 1; l >= 0; l--) {
        ct_tensor *next = conv_backward(m, l, gv, err);
        ct_tensor_free(gv);
        if (!(gv = next)) return CT_ENOMEM;
    }
    /* The element features are fixed: only the embedding's parameters learn. */
    ct_tensor *gx;
    rc = ct_layer_backward(m->embed, gv, &gx, err);
    ct_tensor_free(gv);
    if (rc == CT_OK) ct_tensor_free(gx);
    return rc;
}

int ct_cgcnn_loss_l1(const ct_tensor *pred, const ct_tensor *target, const ct_tensor *mask,
                     double *loss, ct_tensor **grad, ct_error *err)
{
    *grad = NULL;
    if (!ct_tensor_same_shape(pred, target) || !ct_tensor_same_shape(pred, mask))
        return ct_fail(err, CT_EINVAL, "cgcnn: prediction, target and mask differ in shape");
    if (!(*grad = ct_tensor_new_like(pred, err))) return CT_ENOMEM;
    size_t cnt = 0;
    double s = 0;
    for (size_t i = 0; i < pred->numel; i++)
        if (mask->data[i] != 0) {
            s += fabs((double)pred->data[i] - (double)target->data[i]);
            cnt++;
        }
    *loss = cnt ? s / (double)cnt : 0;
    for (size_t i = 0; i < pred->numel; i++) {
        float d = pred->data[i] - target->data[i];
        (*grad)->data[i] = mask->data[i] != 0 && d != 0 ? (d > 0 ? 1.0f : -1.0f) / (float)cnt : 0.0f;
    }
    return CT_OK;
}

/* ---- Files ------------------------------------------------------------------------ */

int ct_cgcnn_save(const ct_cgcnn *m, const char *path, const char *const *keys,
                  const char *const *values, int nmeta, ct_error *err)
{
    enum { NFIX = 9 };
    int T = m->c.ntargets;
    int n = m->nparams + 3;
    const char *names[NPARAMS + 3];
    ct_tensor *ts[NPARAMS + 3];
    for (int p = 0; p < m->nparams; p++) {
        names[p] = m->names[p];
        ts[p] = m->params[p]->w;
    }
    int64_t kshape[1] = {CT_CGCNN_NZ}, sshape[2] = {2, T};
    ct_tensor *known = ct_tensor_new(1, kshape, err);
    ct_tensor *scale = known ? ct_tensor_new(2, sshape, err) : NULL;
    if (!scale) {
        ct_tensor_free(known);
        return CT_ENOMEM;
    }
    for (int z = 0; z < CT_CGCNN_NZ; z++) known->data[z] = m->known[z];
    for (int t = 0; t < T; t++) {
        scale->data[t] = (float)m->mean[t];
        scale->data[T + t] = (float)m->std[t];
    }
    names[m->nparams] = "elements";
    ts[m->nparams] = m->elem;
    names[m->nparams + 1] = "known";
    ts[m->nparams + 1] = known;
    names[m->nparams + 2] = "scale";
    ts[m->nparams + 2] = scale;
    char buf[NFIX][32];
    snprintf(buf[0], sizeof buf[0], "cgcnn");
    snprintf(buf[1], sizeof buf[1], "%.17g", m->c.cutoff);
    snprintf(buf[2], sizeof buf[2], "%d", m->c.max_nbr);
    snprintf(buf[3], sizeof buf[3], "%d", m->c.ngauss);
    snprintf(buf[4], sizeof buf[4], "%d", m->c.atom_fea);
    snprintf(buf[5], sizeof buf[5], "%d", m->c.nconv);
    snprintf(buf[6], sizeof buf[6], "%d", m->c.hidden);
    snprintf(buf[7], sizeof buf[7], "%d", m->c.ntargets);
    snprintf(buf[8], sizeof buf[8], "%d", CT_CGCNN_NFEAT);
    static const char *fixkeys[NFIX] = {"kind", "cutoff", "max_nbr", "ngauss", "atom_fea",
                                        "nconv", "hidden", "ntargets", "nfeat"};
    const char **k = malloc(((size_t)nmeta + NFIX) * sizeof *k);
    const char **v = malloc(((size_t)nmeta + NFIX) * sizeof *v);
    int rc = CT_ENOMEM;
    if (k && v) {
        for (int i = 0; i < NFIX; i++) {
            k[i] = fixkeys[i];
            v[i] = buf[i];
        }
        for (int i = 0; i < nmeta; i++) {
            k[NFIX + i] = keys[i];
            v[NFIX + i] = values[i];
        }
        rc = ct_checkpoint_save(path, names, ts, n, k, v, nmeta + NFIX, err);
    } else {
        ct_fail(err, CT_ENOMEM, "out of memory");
    }
    free(k);
    free(v);
    ct_tensor_free(known);
    ct_tensor_free(scale);
    return rc;
}

static int meta_int(const ct_checkpoint *ck, const char *path, const char *key, double *out,
                    ct_error *err)
{
    const char *s = ct_checkpoint_meta(ck, key);
    char *end;
    *out = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end)
        return ct_fail(err, CT_EFORMAT, "%s: not a crystal-graph model (metadata '%s' %s)", path,
                       key, s ? "is not a number" : "missing");
    return CT_OK;
}

static const ct_tensor *find_tensor(const ct_checkpoint *ck, const char *name)
{
    for (int i = 0; i < ck->ntensors; i++)
        if (!strcmp(ck->tensors[i].name, name)) return ck->tensors[i].t;
    return NULL;
}

/* Copy checkpoint tensor name into dst, which it must match in size. */
static int load_into(const ct_checkpoint *ck, const char *path, const char *name, ct_tensor *dst,
                     ct_error *err)
{
    const ct_tensor *t = find_tensor(ck, name);
    if (!t) return ct_fail(err, CT_EFORMAT, "%s: tensor '%s' missing", path, name);
    if (!ct_tensor_same_shape(t, dst))
        return ct_fail(err, CT_EFORMAT, "%s: tensor '%s' has the wrong shape", path, name);
    memcpy(dst->data, t->data, t->numel * sizeof *t->data);
    return CT_OK;
}

ct_cgcnn *ct_cgcnn_load(const char *path, ct_checkpoint **meta, ct_error *err)
{
    if (meta) *meta = NULL;
    ct_checkpoint *ck = ct_checkpoint_load(path, err);
    if (!ck) return NULL;
    ct_cgcnn *m = NULL;
    const char *kind = ct_checkpoint_meta(ck, "kind");
    double v[8];
    static const char *keys[8] = {"cutoff", "max_nbr", "ngauss", "atom_fea", "nconv", "hidden",
                                  "ntargets", "nfeat"};
    if (!kind || strcmp(kind, "cgcnn")) {
        ct_fail(err, CT_EFORMAT, "%s: not a crystal-graph model (kind '%s', expected 'cgcnn')",
                path, kind ? kind : "");
        goto fail;
    }
    for (int i = 0; i < 8; i++)
        if (meta_int(ck, path, keys[i], &v[i], err) != CT_OK) goto fail;
    if (v[7] != CT_CGCNN_NFEAT) {
        ct_fail(err, CT_EFORMAT, "%s: %g element features, this crystens uses %d", path, v[7],
                CT_CGCNN_NFEAT);
        goto fail;
    }
    ct_cgcnn_cfg c = {v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4], (int)v[5], (int)v[6]};
    ct_rng r;
    ct_rng_seed(&r, 1);
    ct_error e2;
    if (!(m = ct_cgcnn_new(&c, NULL, &r, &e2))) {
        ct_fail(err, CT_EFORMAT, "%s: %s", path, e2.msg);
        goto fail;
    }
    for (int p = 0; p < m->nparams; p++)
        if (load_into(ck, path, m->names[p], m->params[p]->w, err) != CT_OK) goto fail;
    if (load_into(ck, path, "elements", m->elem, err) != CT_OK) goto fail;
    const ct_tensor *known = find_tensor(ck, "known"), *scale = find_tensor(ck, "scale");
    if (!known || known->numel != CT_CGCNN_NZ || !scale || scale->numel != 2 * (size_t)c.ntargets) {
        ct_fail(err, CT_EFORMAT, "%s: tensors 'known' (%d) and 'scale' (2×%d) missing or of the "
                "wrong size", path, CT_CGCNN_NZ, c.ntargets);
        goto fail;
    }
    for (int z = 0; z < CT_CGCNN_NZ; z++) m->known[z] = known->data[z] != 0;
    for (int t = 0; t < c.ntargets; t++) {
        m->mean[t] = scale->data[t];
        m->std[t] = scale->data[c.ntargets + t];
    }
    if (meta) *meta = ck;
    else ct_checkpoint_free(ck);
    return m;
fail:
    ct_cgcnn_free(m);
    ct_checkpoint_free(ck);
    return NULL;
}
