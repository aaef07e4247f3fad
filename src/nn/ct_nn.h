/*
 * ct_nn.h - neural-network layers with explicit forward and backward passes,
 * in the spirit of llm.c: no graph engine, each layer a small struct.
 *
 * A layer maps one tensor to one tensor.  Forward returns a fresh output
 * and keeps what backward needs (usually a reference to its input); backward
 * takes the gradient of the loss with respect to the output, returns the
 * gradient with respect to the input, and adds (+=) the gradients of the
 * layer's parameters into their g tensors until someone zeroes them.
 *
 *     ct_rng r; ct_rng_seed(&r, 1);
 *     ct_conv_cfg cfg = ct_conv_cfg_2d(4, 64, 3, 1, 1);   // 4->64, 3x3, stride 1, pad 1
 *     ct_layer *conv = ct_conv_new(&cfg, &r, &err);
 *     ct_tensor *y, *gx;
 *     ct_layer_forward(conv, x, &y, &err);                // x: N×4×H×W
 *     ...                                                 // gy = dLoss/dy
 *     ct_layer_backward(conv, gy, &gx, &err);             // params' g += ...
 *
 * Parameters.  Each parameter is a pair of tensors, w (values) and g
 * (gradients).  A new layer holds its own; ct_params_flatten moves the
 * parameters of a whole model into one flat buffer of values and one of
 * gradients (each parameter's w and g become views into them), so the
 * optimizer, gradient clipping, the EMA copy and checkpoints are each one
 * loop over one array.  Shapes and names follow PyTorch (Linear weight is
 * out×in, Conv weight out×in×k×k, ConvTranspose in×out×k×k), so a
 * checkpoint maps one to one onto a PyTorch state_dict.
 *
 * Modes.  l->training selects batch statistics (batchnorm, default) or the
 * running ones; l->param_grads = 0 makes backward compute only the input
 * gradient (the gradient penalty of WGAN-GP needs ∇x D without touching
 * the parameters' gradients).
 *
 * Aliasing.  A layer keeps a reference to its input until the next forward:
 * changing that tensor in place before backward corrupts the gradients.
 * Outputs are fresh tensors, never overwritten by a later call.
 *
 * Threads.  Layers split their work, GEMMs included, over ct_parallel's
 * threads (CT_NUM_THREADS), with OpenBLAS held to one thread meanwhile.
 * Every split computes each value the same way whatever the thread count,
 * so results are identical for a given seed, whatever CT_NUM_THREADS and
 * OPENBLAS_NUM_THREADS (tests/c/test_nn.c compares 1 and 3 threads).
 * The convolution workspace is one buffer shared by all layers, so layers
 * must be driven from one thread.
 *
 * Ownership: ct_*_new return layers the caller frees with ct_layer_free;
 * tensors returned through y/gx belong to the caller.  Layers never keep
 * the output tensors they return.
 */
#ifndef CT_NN_H
#define CT_NN_H

#include "ct_rng.h"
#include "ct_tensor.h"

typedef struct {
    char name[24];     /* "weight", "bias", "running_mean", ... */
    ct_tensor *w;      /* values */
    ct_tensor *g;      /* gradients, same shape; NULL for buffers */
} ct_param;

typedef struct ct_layer ct_layer;

/* What each layer kind provides: forward, backward, and the release of its
   own fields (the shared ones are released by ct_layer_free). */
typedef struct {
    const char *kind;
    int (*forward)(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);
    int (*backward)(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err);
    void (*release)(ct_layer *l);
} ct_layer_ops;

#define CT_MAXPARAMS 4
#define CT_MAXBUFFERS 2

/* The header every layer struct starts with. */
struct ct_layer {
    const ct_layer_ops *ops;
    int nparams, nbuffers;
    ct_param params[CT_MAXPARAMS];
    ct_param buffers[CT_MAXBUFFERS];   /* saved, never trained: running statistics */
    int training;                      /* 1 (default): batch statistics */
    int param_grads;                   /* 1 (default): backward accumulates params' g */
    ct_tensor *x;                      /* the input forward kept for backward */
    /* Device-side scratch of the CUDA plugin (saved statistics and the
       like), NULL until it runs the layer; ct_layer_free has the plugin
       release it (ct_cuda_api.layer_release). */
    void *dev;
};

/* Run l forward on x; *y receives a new tensor. */
int ct_layer_forward(ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);

/* Run l backward from the output gradient gy; *gx receives a new tensor and
   the parameters' gradients are accumulated.  Needs a forward first. */
int ct_layer_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_error *err);

/* Free l, its parameters and caches.  NULL is a no-op. */
void ct_layer_free(ct_layer *l);

/* Move the values and gradients of n parameters into two new flat tensors
   (*w, *g, owned by the caller), in order; each parameter's w and g become
   views into them.  Values and gradients are kept. */
int ct_params_flatten(ct_param *const *ps, int n, ct_tensor **w, ct_tensor **g, ct_error *err);

/* Move the parameters and buffers of n layers to device (CT_DEV_CPU or
   CT_DEV_CUDA).  *w and *g (may be NULL) are the flat buffers of
   ct_params_flatten: they are replaced by copies on device, and the
   parameters that were views of them become views of the copies, so the
   layout stays one flat buffer.  The layers forget their kept input. */
int ct_layers_to(ct_layer *const *ls, int n, ct_tensor **w, ct_tensor **g, int device,
                 ct_error *err);

/* Free the convolution workspace (it is regrown on the next use). */
void ct_nn_workspace_release(void);

/* Time spent per layer kind, for benchmarks: forward and backward calls
   are timed while profiling is on; GEMM-heavy layers add their flops. */
typedef struct {
    const char *kind;
    double seconds, flops;  /* flops: of the direct algorithm (im2col + GEMM) */
    long calls;
    double work;            /* flops the GEMMs actually did (Winograd does fewer) */
} ct_nn_prof;

/* Turn profiling on or off (off by default); turning it on clears it. */
void ct_nn_profile_enable(int on);

/* Return the profile entries (one per layer kind seen) and their count. */
int ct_nn_profile(const ct_nn_prof **entries);

/* Record flops done by l in the profile (no-op when profiling is off):
   those of the direct algorithm, and those its GEMMs actually did. */
void ct_nn_profile_flops(const ct_layer *l, double flops, double work);

/* Measure cblas_sgemm on n×n×n matrices, best of reps runs, in GFLOP/s. */
double ct_nn_sgemm_gflops(int n, int reps, ct_error *err);

/* ---- Layer kinds ---------------------------------------------------------
 * Input shapes are N×features for Linear and N×C×H×W (2-D) or N×C×D×H×W
 * (3-D) for the others; the norms and activations take any of these. */

/* Linear: y = x Wᵀ + b, x N×in -> N×out.  Weight out×in, bias out. */
ct_layer *ct_linear_new(int in, int out, int bias, ct_rng *r, ct_error *err);

/* Convolution geometry: dims 2 or 3, transposed or not; k/stride/pad/outpad
   per spatial dimension, depth first (for dims 2 only [1] and [2] count). */
typedef struct {
    int dims, transposed;
    int cin, cout;
    int k[3], stride[3], pad[3], outpad[3];
    int bias;
} ct_conv_cfg;

/* A 2-D convolution configuration with square kernel, stride and padding. */
ct_conv_cfg ct_conv_cfg_2d(int cin, int cout, int k, int stride, int pad);

/* Conv2d/Conv3d (weight cout×cin×k..) or ConvTranspose2d/3d (weight
   cin×cout×k..), bias cout; im2col + sgemm, no im2col for 1×1 stride 1,
   Winograd F(4×4, 3×3) for 3×3 stride-1 2-D convolutions. */
ct_layer *ct_conv_new(const ct_conv_cfg *cfg, ct_rng *r, ct_error *err);

/* Turn the Winograd F(4×4, 3×3) path of 3×3 stride-1 2-D convolutions on
   (1, the default) or off (0: im2col + sgemm, for tests and benchmarks);
   on < 0 only asks.  Returns the previous setting.  Process-wide. */
int ct_conv_winograd(int on);

/* Compute the output shape of a convolution layer for input x. */
int ct_conv_out_shape(const ct_layer *l, const ct_tensor *x, int64_t *shape, ct_error *err);

/* The naive twin of the convolution forward: direct loops, for tests. */
int ct_conv_forward_naive(const ct_layer *l, const ct_tensor *x, ct_tensor **y, ct_error *err);

/* BatchNorm over N and the spatial dimensions, per channel; running mean
   and variance (unbiased) updated with momentum in training mode. */
ct_layer *ct_batchnorm_new(int c, float eps, float momentum, ct_error *err);

/* GroupNorm: per sample, statistics over groups of c/groups channels and
   the spatial dimensions; affine per channel. */
ct_layer *ct_groupnorm_new(int groups, int c, float eps, ct_error *err);

/* GroupNorm followed by SiLU in one pass: y = silu(groupnorm(x + a)), a an
   optional N×C shift of each sample's channels (the U-Net adds its time
   embedding there, before the norm).  Parameters as ct_groupnorm_new's
   ("weight", "bias", per channel), so checkpoints are interchangeable, and
   every value, gradients included, equals bit for bit that of the
   composition h = x + a (in float), groupnorm, silu (tests/c/test_nn.c
   checks).  Forward keeps x̂ (one tensor of x's size) and recomputes the
   norm's output in backward.  ct_layer_forward/backward run it without a. */
ct_layer *ct_groupnorm_silu_new(int groups, int c, float eps, ct_error *err);

/* Forward on x + a (a: N×C values, any shape with N first, or NULL); l must
   be a groupnorm_silu layer. */
int ct_groupnorm_silu_forward(ct_layer *l, const ct_tensor *x, const ct_tensor *a, ct_tensor **y,
                              ct_error *err);

/* Backward; *ga (new, N×C) receives dLoss/da when the last forward had a
   shift, else NULL.  dLoss/da[n][c] is Σ over the spatial positions of
   dLoss/dx[n][c], summed in float in order (as tensor sum_to does). */
int ct_groupnorm_silu_backward(ct_layer *l, const ct_tensor *gy, ct_tensor **gx, ct_tensor **ga,
                               ct_error *err);

/* Backward with r (x's shape, on gy's device; NULL: none) added to the
   input gradient: *gx = dLoss/dx + r in float, bit for bit what
   ct_tensor_add_ of r into the plain backward's gx gives, in one pass (a
   residual block's two input gradients joining).  *ga is the shift's
   gradient of the norm alone, as in ct_groupnorm_silu_backward. */
int ct_groupnorm_silu_backward_add(ct_layer *l, const ct_tensor *gy, const ct_tensor *r,
                                   ct_tensor **gx, ct_tensor **ga, ct_error *err);

/* LayerNorm over all dimensions but the first, which must equal shape;
   affine per element of shape. */
ct_layer *ct_layernorm_new(int ndim, const int64_t *shape, float eps, ct_error *err);

typedef enum {
    CT_ACT_RELU, CT_ACT_LEAKY_RELU, CT_ACT_SILU, CT_ACT_SIGMOID, CT_ACT_TANH
} ct_act_kind;

/* An element-wise activation; slope is LeakyReLU's negative slope. */
ct_layer *ct_act_new(ct_act_kind kind, float slope, ct_error *err);

/* Nearest-neighbour upsampling of every spatial dimension by factor. */
ct_layer *ct_upsample_new(int factor, ct_error *err);

/* Single-head self-attention over the spatial positions of N×C×(spatial):
   qkv 1×1 projection (weight 3c×c), softmax(QᵀK/√c), output projection
   (weight c×c).  No normalisation or residual: compose those around it. */
ct_layer *ct_attention_new(int c, ct_rng *r, ct_error *err);

/* Sinusoidal embedding of the timesteps t (a tensor of N values) into
   N×dim: [cos(t f_i), sin(t f_i)], f_i = max_period^(-i/(dim/2)).  Its
   input is not differentiable: backward gives zeros. */
ct_layer *ct_timeembed_new(int dim, float max_period, ct_error *err);

/* ---- Losses: mean over all elements; *grad (new) is dLoss/dpred ---------- */

/* Mean squared error. */
int ct_loss_mse(const ct_tensor *pred, const ct_tensor *target, double *loss, ct_tensor **grad,
                ct_error *err);

/* Binary cross-entropy on logits, computed stably. */
int ct_loss_bce_logits(const ct_tensor *logits, const ct_tensor *target, double *loss,
                       ct_tensor **grad, ct_error *err);

/* Wasserstein critic loss sign * mean(scores) (sign -1 for real samples). */
int ct_loss_wasserstein(const ct_tensor *scores, float sign, double *loss, ct_tensor **grad,
                        ct_error *err);

/* ---- Optimisation over flat buffers --------------------------------------- */

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    int decoupled;                     /* 1: AdamW (decay the weights directly) */
} ct_adam_cfg;

typedef struct {
    ct_adam_cfg cfg;
    int64_t step;
    ct_tensor *m, *v;                  /* moments, laid out like the flat weights */
} ct_adam;

/* Create Adam state for n parameters. */
ct_adam *ct_adam_new(const ct_adam_cfg *cfg, size_t n, ct_error *err);

/* Move the moments to device (CT_DEV_CPU or CT_DEV_CUDA), with the model. */
int ct_adam_to(ct_adam *a, int device, ct_error *err);

/* Free the optimizer.  NULL is a no-op. */
void ct_adam_free(ct_adam *a);

/* Take one step on flat weights w with gradients g. */
int ct_adam_step(ct_adam *a, ct_tensor *w, const ct_tensor *g, ct_error *err);

/* Scale g so its L2 norm is at most max_norm; return the norm before (NaN
   if the GPU failed). */
double ct_clip_grad_norm(ct_tensor *g, double max_norm);

/* ema = decay * ema + (1 - decay) * w. */
int ct_ema_update(ct_tensor *ema, const ct_tensor *w, float decay, ct_error *err);

#endif
