/*
 * ct_cgcnn.h - a crystal-graph property model in the CGCNN family (Xie &
 * Grossman, PRL 120, 145301, 2018), forward and backward on the network
 * core of ct_nn.h.
 *
 *     ct_graph *g;
 *     ct_graph_build(s, &cfg, &g, &err);               // one crystal
 *     ct_graph *batch = ct_graph_batch(gs, n, &err);   // many, concatenated
 *     ct_cgcnn *m = ct_cgcnn_new(&cfg, mp, &rng, &err);
 *     ct_tensor *y;
 *     ct_cgcnn_forward(m, batch, &y, &err);            // ncrystals × ntargets
 *     ct_cgcnn_backward(m, gy, &err);                  // params' g += ...
 *
 * The graph.  Every atom of the cell is a node; its edges go to its
 * max_nbr nearest periodic images of any atom (itself included) closer than
 * cutoff, as CGCNN's radius graph.  An atom without any neighbour inside the
 * cutoff makes ct_graph_build fail with a message naming it: the model would
 * have nothing to say about its environment.
 *
 * The model.  Atom features are 22 Magpie element properties (standardised
 * over Z = 1..100, missing values 0), stored in the model so that a saved
 * model needs no tables; a Linear layer embeds them into atom_fea numbers.
 * Edge features are the distance expanded in ngauss Gaussians, centres
 * evenly spaced on [0, cutoff], width the spacing.  Each of nconv gated
 * convolutions updates atom i from its edges e = (i, j):
 *
 *     z_e = [v_i, v_j, u_e],  [f_e, s_e] = W z_e + b
 *     v_i' = softplus(v_i + mean_e sigmoid(f_e) ⊙ softplus(s_e))
 *
 * (CGCNN sums and batch-normalises; the mean keeps the scale without batch
 * statistics, so a prediction does not depend on its batch).  The crystal
 * is the mean of its atoms, then Linear → softplus → Linear gives ntargets
 * numbers, in standardised units: y·std + mean gives the property.
 *
 * Known elements.  ct_cgcnn_mark_known records the elements of the training
 * crystals; ct_cgcnn_check refuses a graph with any other, naming it.
 *
 * Ownership: graphs and models belong to the caller (ct_graph_free,
 * ct_cgcnn_free).  The model keeps a reference to the last forward's graph
 * until backward: do not free it in between.  Drive a model from one thread.
 */
#ifndef CT_CGCNN_H
#define CT_CGCNN_H

#include "ct_checkpoint.h"
#include "ct_magpie.h"
#include "ct_nn.h"
#include "ct_structure.h"

#define CT_CGCNN_MAXCONV 8
#define CT_CGCNN_MAXTARGETS 4
#define CT_CGCNN_NZ 119                  /* element rows, Z = 0..118 */
#define CT_CGCNN_NFEAT CT_MAGPIE_NPROP   /* element features per atom */

typedef struct {
    double cutoff;     /* Å; CGCNN: 8 */
    int max_nbr;       /* nearest neighbours kept per atom; CGCNN: 12 */
    int ngauss;        /* Gaussians of the distance expansion */
    int atom_fea;      /* atom feature width */
    int nconv;         /* gated convolutions, 1..CT_CGCNN_MAXCONV */
    int hidden;        /* width of the head's hidden layer */
    int ntargets;      /* outputs, 1..CT_CGCNN_MAXTARGETS */
} ct_cgcnn_cfg;

/* The defaults: cutoff 8, 12 neighbours, 41 Gaussians, 64 features,
   3 convolutions, hidden 128, ntargets 2. */
ct_cgcnn_cfg ct_cgcnn_cfg_default(void);

/* Fail unless every field of c is in range. */
int ct_cgcnn_cfg_check(const ct_cgcnn_cfg *c, ct_error *err);

/* Crystal graphs, one or concatenated; edges grouped by centre atom.  The
   arrays live in the graph's own allocation: change their values, never
   the pointers. */
typedef struct {
    int ncrystals, natoms, nedges;
    int *atom0;        /* ncrystals + 1: first atom of each crystal */
    int *crystal;      /* natoms: the crystal of each atom */
    int *z;            /* natoms: atomic numbers */
    int *edge0;        /* natoms + 1: first edge of each atom */
    int *nbr;          /* nedges: the neighbour atom (batch index) */
    float *dist;       /* nedges: its distance in Å */
} ct_graph;

/* Build the graph of s with c's cutoff and max_nbr. */
int ct_graph_build(const ct_structure *s, const ct_cgcnn_cfg *c, ct_graph **out, ct_error *err);

/* Concatenate n graphs into one new graph (crystal k is gs[k]). */
ct_graph *ct_graph_batch(const ct_graph *const *gs, int n, ct_error *err);

/* Release g.  NULL is a no-op. */
void ct_graph_free(ct_graph *g);

typedef struct ct_cgcnn ct_cgcnn;

/* A new model with freshly initialised weights; element features from the
   Magpie tables mp.  No element is known yet. */
ct_cgcnn *ct_cgcnn_new(const ct_cgcnn_cfg *c, const ct_magpie *mp, ct_rng *r, ct_error *err);

/* Release m.  NULL is a no-op. */
void ct_cgcnn_free(ct_cgcnn *m);

/* The configuration of m. */
const ct_cgcnn_cfg *ct_cgcnn_config(const ct_cgcnn *m);

/* The flat parameter values and gradients (ct_params_flatten). */
ct_tensor *ct_cgcnn_weights(ct_cgcnn *m);
ct_tensor *ct_cgcnn_grads(ct_cgcnn *m);

/* Target standardisation: property t = y·std[t] + mean[t]. */
void ct_cgcnn_set_scale(ct_cgcnn *m, const double *mean, const double *std);
void ct_cgcnn_get_scale(const ct_cgcnn *m, double *mean, double *std);

/* Record the elements of g as known. */
void ct_cgcnn_mark_known(ct_cgcnn *m, const ct_graph *g);

/* Whether element z is known. */
int ct_cgcnn_known(const ct_cgcnn *m, int z);

/* Fail, naming the element, if g holds an element m was not trained on. */
int ct_cgcnn_check(const ct_cgcnn *m, const ct_graph *g, ct_error *err);

/* Forward on g: *y (new) is ncrystals × ntargets, standardised units. */
int ct_cgcnn_forward(ct_cgcnn *m, const ct_graph *g, ct_tensor **y, ct_error *err);

/* Backward from gy = dLoss/dy of the last forward: gradients accumulate
   into ct_cgcnn_grads(m). */
int ct_cgcnn_backward(ct_cgcnn *m, const ct_tensor *gy, ct_error *err);

/* Masked mean absolute error of pred against target where mask is nonzero,
   over the masked entries; *grad (new) is its gradient.  With no masked
   entry the loss is 0 and the gradient zero. */
int ct_cgcnn_loss_l1(const ct_tensor *pred, const ct_tensor *target, const ct_tensor *mask,
                     double *loss, ct_tensor **grad, ct_error *err);

/* Save m with its known elements and scale; keys/values: extra metadata. */
int ct_cgcnn_save(const ct_cgcnn *m, const char *path, const char *const *keys,
                  const char *const *values, int nmeta, ct_error *err);

/* Load a model saved by ct_cgcnn_save; *meta (optional) receives the
   checkpoint for its metadata (caller frees with ct_checkpoint_free). */
ct_cgcnn *ct_cgcnn_load(const char *path, ct_checkpoint **meta, ct_error *err);

#endif
