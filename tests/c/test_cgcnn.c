/*
 * test_cgcnn.c - the crystal-graph property model: its graphs against
 * minimum-image distances found by brute force, its backward against central
 * finite differences (the method and tolerance of test_nn.c: float32
 * forward, f = Σ y·R in double, h = 1e-2, relative error under 1e-3), its
 * batching, files and refusals.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_cgcnn.h"
#include "ct_tensor_ops.h"
#include "tap.h"

static ct_rng rng;

/* Rock salt NaCl (8 atoms) and a distorted 3-atom triclinic cell. */
static ct_structure *nacl(void)
{
    double cell[6] = {5.64, 5.64, 5.64, 90, 90, 90};
    int z[8] = {11, 11, 11, 11, 17, 17, 17, 17};
    double f[8][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0},
                      {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}, {.5, .5, .5}};
    ct_error err;
    return ct_structure_new(cell, 8, z, (const double(*)[3])f, &err);
}

static ct_structure *triclinic(void)
{
    double cell[6] = {3.1, 4.2, 5.3, 72, 101, 83};
    int z[3] = {8, 22, 8};
    double f[3][3] = {{0.1, 0.2, 0.3}, {0.55, 0.45, 0.6}, {0.9, 0.75, 0.05}};
    ct_error err;
    return ct_structure_new(cell, 3, z, (const double(*)[3])f, &err);
}

/* Brute force: the smallest distance from atom i to any image of any atom
   over a generous block of images. */
static double nearest_brute(const ct_structure *s, int i)
{
    double best = INFINITY;
    for (int j = 0; j < s->natoms; j++)
        for (int a = -4; a <= 4; a++)
            for (int b = -4; b <= 4; b++)
                for (int c = -4; c <= 4; c++) {
                    double f[3] = {s->frac[j][0] - s->frac[i][0] + a, s->frac[j][1] - s->frac[i][1] + b,
                                   s->frac[j][2] - s->frac[i][2] + c}, d2 = 0;
                    for (int k = 0; k < 3; k++) {
                        double x = f[0] * s->matrix[0][k] + f[1] * s->matrix[1][k] + f[2] * s->matrix[2][k];
                        d2 += x * x;
                    }
                    if (d2 > 1e-12 && d2 < best * best) best = sqrt(d2);
                }
    return best;
}

static void test_graph(void)
{
    ct_error err;
    ct_cgcnn_cfg c = ct_cgcnn_cfg_default();
    ct_structure *s = nacl();
    ct_graph *g;
    ok(ct_graph_build(s, &c, &g, &err) == CT_OK, "NaCl graph builds");
    int all12 = 1, sorted = 1;
    for (int i = 0; i < g->natoms; i++) {
        all12 &= g->edge0[i + 1] - g->edge0[i] == 12;
        for (int e = g->edge0[i] + 1; e < g->edge0[i + 1]; e++) sorted &= g->dist[e] >= g->dist[e - 1];
    }
    ok(all12 && sorted, "every atom keeps its 12 nearest neighbours, nearest first");
    /* In rock salt the 6 nearest are the other element at a/2, the next 12 the same at a/√2. */
    int first6 = 1;
    for (int e = 0; e < 6; e++) first6 &= g->z[g->nbr[e]] == 17 && fabs((double)g->dist[e] - 2.82) < 1e-4;
    ok(first6 && fabs((double)g->dist[6] - 5.64 / sqrt(2)) < 1e-4, "Na: 6 Cl at 2.82 Å, then Na at 3.99 Å "
       "(got %g, %g)", (double)g->dist[0], (double)g->dist[6]);
    ct_graph_free(g);
    ct_structure_free(s);

    s = triclinic();
    c.max_nbr = 40;
    ok(ct_graph_build(s, &c, &g, &err) == CT_OK, "triclinic graph builds");
    double worst = 0;
    for (int i = 0; i < s->natoms; i++) {
        double d = fabs((double)g->dist[g->edge0[i]] - nearest_brute(s, i));
        if (d > worst) worst = d;
    }
    ok(worst < 1e-5, "triclinic: nearest neighbour as brute force over 9³ images (diff %.2g)", worst);
    ct_graph_free(g);
    ct_structure_free(s);

    /* Two atoms 15 Å apart in a 30 Å cell: nothing within 8 Å. */
    double cell[6] = {30, 30, 30, 90, 90, 90};
    int z[2] = {26, 8};
    double f[2][3] = {{0, 0, 0}, {0.5, 0, 0}};
    s = ct_structure_new(cell, 2, z, (const double(*)[3])f, &err);
    c = ct_cgcnn_cfg_default();
    int rc = ct_graph_build(s, &c, &g, &err);
    ok(rc == CT_EINVAL && strstr(err.msg, "atom 1 (Fe) has no neighbour within the 8 Å"),
       "an isolated atom is refused by name: %s", err.msg);
    ct_structure_free(s);
}

/* NaCl and the triclinic crystal, their graphs and the batch of both. */
typedef struct {
    ct_structure *s1, *s2;
    ct_graph *g1, *g2, *g;
} pair;

static void pair_build(const ct_cgcnn_cfg *c, pair *p)
{
    ct_error err;
    p->s1 = nacl(), p->s2 = triclinic();
    ct_graph_build(p->s1, c, &p->g1, &err);
    ct_graph_build(p->s2, c, &p->g2, &err);
    const ct_graph *gs[2] = {p->g1, p->g2};
    p->g = ct_graph_batch(gs, 2, &err);
}

static void pair_free(pair *p)
{
    ct_graph_free(p->g);
    ct_graph_free(p->g1);
    ct_graph_free(p->g2);
    ct_structure_free(p->s1);
    ct_structure_free(p->s2);
}

static double loss_of(ct_cgcnn *m, const ct_graph *g, const ct_tensor *R)
{
    ct_error err;
    ct_tensor *y;
    if (ct_cgcnn_forward(m, g, &y, &err) != CT_OK) return NAN;
    double f = ct_tensor_dot(y, R);
    ct_tensor_free(y);
    return f;
}

static void test_gradients(const ct_magpie *mp)
{
    ct_error err;
    ct_cgcnn_cfg c = {6.0, 5, 9, 6, 2, 7, 2};
    ct_cgcnn *m = ct_cgcnn_new(&c, mp, &rng, &err);
    ok(m != NULL, "a small model");
    pair p;
    pair_build(&c, &p);
    ct_graph *g = p.g, *g1 = p.g1, *g2 = p.g2;
    ok(g && g->ncrystals == 2 && g->natoms == 11 && g->nedges == g1->nedges + g2->nedges,
       "a batch of 2 crystals, 11 atoms");
    ct_tensor *y;
    ok(ct_cgcnn_forward(m, g, &y, &err) == CT_OK && y->shape[0] == 2 && y->shape[1] == 2,
       "forward gives 2×2");
    /* A prediction does not depend on its batch (beyond float rounding: the
       GEMMs block a batch of another size differently). */
    ct_tensor *y1;
    ct_cgcnn_forward(m, g2, &y1, &err);
    ok(fabsf(y1->data[0] - y->data[2]) < 1e-5f && fabsf(y1->data[1] - y->data[3]) < 1e-5f,
       "crystal 2 alone predicts what it does in the batch");
    ct_tensor_free(y1);
    ct_tensor *R = ct_tensor_new_like(y, &err);
    ct_tensor_randn(R, &rng, 0.0f, 1.0f);
    ct_tensor *w = ct_cgcnn_weights(m), *gr = ct_cgcnn_grads(m);
    ct_tensor_fill(gr, 0.0f);
    ct_cgcnn_forward(m, g, &y1, &err);
    ct_tensor_free(y1);
    ok(ct_cgcnn_backward(m, R, &err) == CT_OK, "backward runs");
    /* Every parameter tensor sampled: walk the flat buffer in 120 strided picks. */
    double h = 1e-2, maxdiff = 0, maxgrad = 1e-6;
    size_t n = w->numel;
    for (size_t k = 0; k < 120; k++) {
        size_t i = k * n / 120 + (size_t)ct_rng_below(&rng, n / 120);
        float save = w->data[i];
        w->data[i] = save + (float)h;
        double fp = loss_of(m, g, R);
        w->data[i] = save - (float)h;
        double fm = loss_of(m, g, R);
        w->data[i] = save;
        double num = (fp - fm) / (2 * h), d = fabs(num - (double)gr->data[i]);
        if (d > maxdiff) maxdiff = d;
        if (fabs(num) > maxgrad) maxgrad = fabs(num);
    }
    printf("# gradient check: %zu parameters, max |diff| %.3g, max |grad| %.3g\n", n, maxdiff, maxgrad);
    ok(maxdiff / maxgrad < 1e-3, "parameter gradients match central differences (rel. error %.2g)",
       maxdiff / maxgrad);

    /* The masked L1 loss and its gradient. */
    ct_tensor *t = ct_tensor_new_like(y, &err), *mask = ct_tensor_new_like(y, &err), *gl;
    mask->data[0] = mask->data[3] = 1;
    t->data[0] = y->data[0] - 0.5f;
    t->data[3] = y->data[3] + 0.25f;
    double loss;
    ct_cgcnn_loss_l1(y, t, mask, &loss, &gl, &err);
    ok(fabs(loss - 0.375) < 1e-6 && gl->data[0] == 0.5f && gl->data[3] == -0.5f && gl->data[1] == 0,
       "masked L1: mean of 0.5 and 0.25, gradient ±1/2 on the masked entries");
    ct_tensor_free(gl);
    ct_tensor_free(t);
    ct_tensor_free(mask);

    /* Known elements, then a file round trip. */
    ct_cgcnn_mark_known(m, g1);
    ok(ct_cgcnn_check(m, g1, &err) == CT_OK, "NaCl's elements are known after marking");
    int rc = ct_cgcnn_check(m, g2, &err);
    ok(rc == CT_EINVAL && strstr(err.msg, "element O (Z = 8) of atom 1 is absent"),
       "an unseen element is refused by name: %s", err.msg);
    double mean[2] = {-1.5, 0.2}, sd[2] = {0.8, 0.3};
    ct_cgcnn_set_scale(m, mean, sd);
    char path[64];
    snprintf(path, sizeof path, "test_cgcnn_%d.safetensors", (int)getpid());
    const char *k[1] = {"targets"}, *v[1] = {"a,b"};
    ok(ct_cgcnn_save(m, path, k, v, 1, &err) == CT_OK, "save");
    ct_checkpoint *meta;
    ct_cgcnn *m2 = ct_cgcnn_load(path, &meta, &err);
    ok(m2 && !strcmp(ct_checkpoint_meta(meta, "targets"), "a,b"), "load, with the extra metadata");
    ct_tensor *y2;
    ct_cgcnn_forward(m2, g, &y2, &err);
    int same = 1;
    for (size_t i = 0; i < y->numel; i++) same &= y->data[i] == y2->data[i];
    double m2mean[2], m2sd[2];
    ct_cgcnn_get_scale(m2, m2mean, m2sd);
    ok(same && ct_cgcnn_known(m2, 11) && !ct_cgcnn_known(m2, 8) && fabs(m2mean[0] + 1.5) < 1e-6 &&
       fabs(m2sd[1] - 0.3) < 1e-6, "the loaded model predicts the same, knows the same, same scale");
    ct_checkpoint_free(meta);
    ct_cgcnn_free(m2);
    remove(path);
    ok(ct_cgcnn_load("/nonexistent/m.safetensors", NULL, &err) == NULL, "a missing file fails: %s",
       err.msg);

    ct_tensor_free(y);
    ct_tensor_free(y2);
    ct_tensor_free(R);
    pair_free(&p);
    ct_cgcnn_free(m);
}

/* A few hundred Adam steps fit two crystals' targets. */
static void test_fit(const ct_magpie *mp)
{
    ct_error err;
    ct_cgcnn_cfg c = {6.0, 8, 13, 16, 2, 16, 2};
    ct_cgcnn *m = ct_cgcnn_new(&c, mp, &rng, &err);
    pair p;
    pair_build(&c, &p);
    ct_graph *g = p.g;
    ct_adam_cfg ac = {3e-3f, 0.9f, 0.999f, 1e-8f, 0, 0};
    ct_adam *opt = ct_adam_new(&ac, ct_cgcnn_weights(m)->numel, &err);
    int64_t shape[2] = {2, 2};
    ct_tensor *t = ct_tensor_new(2, shape, &err), *mask = ct_tensor_new(2, shape, &err);
    float want[4] = {-1.0f, 0.5f, 1.0f, -0.5f};
    memcpy(t->data, want, sizeof want);
    ct_tensor_fill(mask, 1.0f);
    double first = 0, loss = 0;
    for (int step = 0; step < 300; step++) {
        ct_tensor *y, *gy;
        ct_tensor_fill(ct_cgcnn_grads(m), 0.0f);
        ct_cgcnn_forward(m, g, &y, &err);
        ct_cgcnn_loss_l1(y, t, mask, &loss, &gy, &err);
        if (step == 0) first = loss;
        ct_cgcnn_backward(m, gy, &err);
        ct_adam_step(opt, ct_cgcnn_weights(m), ct_cgcnn_grads(m), &err);
        ct_tensor_free(y);
        ct_tensor_free(gy);
    }
    ok(loss < 0.05 && loss < first / 10, "300 Adam steps fit 4 targets (L1 %.3g -> %.3g)", first, loss);
    ct_adam_free(opt);
    ct_tensor_free(t);
    ct_tensor_free(mask);
    pair_free(&p);
    ct_cgcnn_free(m);
}

int main(void)
{
    unsigned seed = 20261206;
    printf("# seed %u\n", seed);
    ct_rng_seed(&rng, seed);
    const char *top = getenv("top_srcdir");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/share/magpie", top ? top : ".");
    ct_error err;
    ct_magpie *mp = ct_magpie_load(dir, &err);
    if (!ok(mp != NULL, "magpie tables from %s", dir)) {
        printf("#   %s\n", err.msg);
        return tap_done();
    }
    test_graph();
    test_gradients(mp);
    test_fit(mp);
    ct_magpie_free(mp);
    return tap_done();
}
