/*
 * ct_layers.h - the structs of the layer kinds (private to src/nn/), shared
 * by their C implementations (ct_linear.c, ct_conv.c, ct_norm.c, ct_act.c,
 * ct_upsample.c, ct_attn.c) and the CUDA plugin (src/nn/cuda/), which reads
 * the same fields.  Valid C11 and C++17: the plugin includes it from .cu
 * files.
 *
 * Each struct starts with a ct_layer, so a ct_layer * whose ops->kind names
 * the kind can be cast to it.  The fields are configuration (set by the
 * constructor, read-only afterwards) unless said otherwise.
 *
 * Below each struct, the device-independent start of the kind's forward
 * and backward: the input checks (with their messages), the output shape
 * and the outputs' allocation on the input's device.  The CPU functions
 * and the plugin's both call them (through ct_nn_forward_begin /
 * ct_nn_backward_begin, ct_nn_impl.h), so the two accept the same inputs
 * and fail with the same errors.  The shape functions are ct_nn_shape_fn's.
 */
#ifndef CT_LAYERS_H
#define CT_LAYERS_H

#ifdef __cplusplus
extern "C" {
#endif

#include "ct_nn.h"

/* linear (ct_linear.c) */
typedef struct {
    ct_layer base;
    int in, out;
} ct_linear;

/* x N×in -> N×out. */
int ct_linear_shape(const ct_layer *l, const ct_tensor *x, int *ndim, int64_t *shape,
                    ct_error *err);

/* conv2d, conv3d, convtranspose2d, convtranspose3d (ct_conv.c); for dims 2
   the depth entries of cfg are neutral (k 1, stride 1, padding 0). */
typedef struct {
    ct_layer base;
    ct_conv_cfg cfg;
    float *wino_v;          /* the Winograd input transform forward kept for backward, */
    size_t wino_v_n;        /* its floats (0: none kept), */
    const float *wino_x;    /* and the input it is of */
} ct_conv;

/* batchnorm, groupnorm, layernorm (ct_norm.c). */
typedef enum { NORM_BATCH, NORM_GROUP, NORM_LAYER } norm_kind;

typedef struct {
    ct_layer base;
    norm_kind kind;
    int c, groups;
    float eps, momentum;
    int batch_stats;       /* the last forward normalised with batch statistics */
    float *invstd;         /* per group, from the last CPU forward (host memory) */
    size_t ninvstd;
    /* groupnorm_silu (GroupNorm + SiLU with an optional N×C shift of the
       input): set around one forward / backward by
       ct_groupnorm_silu_forward / _backward. */
    const ct_tensor *add;  /* the N×C shift of the forward running, or NULL */
    int had_add;           /* the last forward had one */
    ct_tensor **gadd;      /* where the backward running returns its gradient */
    const ct_tensor *gres; /* added to the input gradient of the backward running, or NULL */
} ct_norm;

/* The start of a norm's forward: check x (and the shift, when set), then
   *xhat and *y, new uninitialised tensors of x's shape on x's device.  The
   caller keeps *xhat in l->x (backward's input). */
int ct_norm_forward_begin(ct_norm *nm, const ct_tensor *x, ct_tensor **xhat, ct_tensor **y,
                          ct_error *err);

/* relu, leaky_relu, silu, sigmoid, tanh (ct_act.c) */
typedef struct {
    ct_layer base;
    ct_act_kind kind;
    float slope;
} ct_act;

/* upsample (ct_upsample.c) */
typedef struct {
    ct_layer base;
    int factor;
} ct_upsample;

/* N×C×(spatial) -> each spatial size times factor. */
int ct_upsample_shape(const ct_layer *l, const ct_tensor *x, int *ndim, int64_t *shape,
                      ct_error *err);

/* time_embedding (ct_act.c) */
typedef struct {
    ct_layer base;
    int dim;
    float max_period;
} ct_timeembed;

/* N timesteps -> N×dim. */
int ct_timeembed_shape(const ct_layer *l, const ct_tensor *t, int *ndim, int64_t *shape,
                       ct_error *err);

/* attention (ct_attn.c).  The caches are tensors on the device of the last
   forward's input (the CUDA plugin allocates device tensors there). */
typedef struct {
    ct_layer base;
    int c;
    ct_tensor *qkv, *attn, *o;   /* N×3c×P, N×P×P, N×c×P from the last forward */
} ct_attn;

/* N×c×(spatial) -> the same shape. */
int ct_attn_shape(const ct_layer *l, const ct_tensor *x, int *ndim, int64_t *shape, ct_error *err);

/* ct_nn_forward_begin with ct_attn_shape, then the caches (qkv, attn, o:
   new, uninitialised) on x's device. */
int ct_attn_forward_begin(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
