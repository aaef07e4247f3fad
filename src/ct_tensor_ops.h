/*
 * ct_tensor_ops.h - element-wise arithmetic, reductions and joins on tensors:
 * what a user needs to script a loss, a noise schedule or a metric in Lua.
 *
 * Every op writes into an output tensor the caller provides, which may be one
 * of the inputs (in-place), so the Lua layer decides when to allocate:
 *
 *     ct_tensor_binary(out, a, b, CT_OP_ADD, &err);     // out = a + b
 *     ct_tensor_scalar(a, a, 2.0f, CT_OP_MUL, 0, &err); // a *= 2, in place
 *     double s = ct_tensor_sum(a);
 *
 * Broadcasting: in ct_tensor_binary, b may have fewer dimensions or sizes of
 * 1 (NumPy's rule, aligned on the right) and is repeated to a's shape; out
 * has a's shape.  A per-sample factor is an N×1×1×1 tensor; a per-channel
 * bias is a C×1×1 one.
 *
 * Devices: every op works on CPU tensors and on CUDA tensors (nn/ct_backend.h),
 * the tensors of one call on one device (else an error); ct_tensor_copy
 * alone copies across devices.  ops that return void or a number report
 * a GPU failure late: the next op returning a status does (sum and dot
 * return NaN).  Results are new tensors on the inputs' device.
 *
 * Ownership: no op keeps a tensor; ct_tensor_cat and ct_tensor_matmul return
 * new tensors the caller frees.
 */
#ifndef CT_TENSOR_OPS_H
#define CT_TENSOR_OPS_H

#include "ct_rng.h"
#include "ct_tensor.h"

typedef enum {
    CT_OP_ADD, CT_OP_SUB, CT_OP_MUL, CT_OP_DIV, CT_OP_MAX, CT_OP_MIN, CT_OP_POW
} ct_binop;

typedef enum {
    CT_OP_NEG, CT_OP_ABS, CT_OP_SQRT, CT_OP_EXP, CT_OP_LOG, CT_OP_SQUARE,
    CT_OP_SIGN, CT_OP_TANH, CT_OP_SIGMOID
} ct_unop;

/* Set every element of t to v. */
void ct_tensor_fill(ct_tensor *t, float v);

/* Copy src into dst, which must have as many elements (shapes may differ);
   they may be on different devices. */
int ct_tensor_copy(ct_tensor *dst, const ct_tensor *src, ct_error *err);

/* out = a op b, with b broadcast to a's shape; out has a's shape. */
int ct_tensor_binary(ct_tensor *out, const ct_tensor *a, const ct_tensor *b, ct_binop op,
                     ct_error *err);

/* out = a op s, or s op a when scalar_first; out has a's shape. */
int ct_tensor_scalar(ct_tensor *out, const ct_tensor *a, float s, ct_binop op, int scalar_first,
                     ct_error *err);

/* out = op(a); out has a's shape. */
int ct_tensor_unary(ct_tensor *out, const ct_tensor *a, ct_unop op, ct_error *err);

/* out = min(max(a, lo), hi). */
int ct_tensor_clamp(ct_tensor *out, const ct_tensor *a, float lo, float hi, ct_error *err);

/* Return the sum of t's elements, accumulated in double. */
double ct_tensor_sum(const ct_tensor *t);

/* Return the sum of a[i] * b[i] in double; a and b have as many elements. */
double ct_tensor_dot(const ct_tensor *a, const ct_tensor *b);

/* Sum a over the dimensions where out (broadcastable to a) has size 1 or is
   missing: the adjoint of broadcasting, the gradient of a bias. */
int ct_tensor_sum_to(ct_tensor *out, const ct_tensor *a, ct_error *err);

/* Return the n tensors joined along dim (0-based); other sizes must agree. */
ct_tensor *ct_tensor_cat(const ct_tensor *const *ts, int n, int dim, ct_error *err);

/* Return a copy of t's indices [start, start+len) along dim (0-based). */
ct_tensor *ct_tensor_slice(const ct_tensor *t, int dim, int64_t start, int64_t len,
                           ct_error *err);

/* Return the matrix product of 2-D a (m×k) and b (k×n), through sgemm. */
ct_tensor *ct_tensor_matmul(const ct_tensor *a, const ct_tensor *b, ct_error *err);

/* Fill t with uniform draws in [lo, hi) from r.  On the GPU the draws are
   Philox4x32-10 keyed by one 64-bit draw of r: reproducible for a seed,
   but not the numbers the CPU draws for it. */
void ct_tensor_rand(ct_tensor *t, ct_rng *r, float lo, float hi);

/* Fill t with normal draws N(mean, std²) from r. */
void ct_tensor_randn(ct_tensor *t, ct_rng *r, float mean, float std);

#endif
