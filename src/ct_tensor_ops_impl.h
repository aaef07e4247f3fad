/*
 * ct_tensor_ops_impl.h - the scalar functions behind the element-wise ops of
 * ct_tensor_ops.h (ct_tensor_binary, _scalar, _unary): compiled into the
 * core (ct_tensor_ops.c) and into the CUDA plugin's kernels (cu_tensor.cu),
 * so a CPU tensor and a GPU tensor go through the same definition of each
 * op.  Private to those two files.
 */
#ifndef CT_TENSOR_OPS_IMPL_H
#define CT_TENSOR_OPS_IMPL_H

#include <math.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "ct_tensor_ops.h"
#ifdef __cplusplus
}
#endif

/* Host-only inline in C; host and device (and always inlined, so a switch
   on a constant op folds away in the kernels) under nvcc. */
#ifdef __CUDACC__
#define CT_ELEM static __host__ __device__ __forceinline__
#else
#define CT_ELEM static inline
#endif

/* x op y for op a ct_binop. */
CT_ELEM float ct_binop_apply(float x, float y, int op)
{
    switch (op) {
    case CT_OP_ADD: return x + y;
    case CT_OP_SUB: return x - y;
    case CT_OP_MUL: return x * y;
    case CT_OP_DIV: return x / y;
    case CT_OP_MAX: return x > y ? x : y;
    case CT_OP_MIN: return x < y ? x : y;
    case CT_OP_POW: return powf(x, y);
    }
    return x;
}

/* op(x) for op a ct_unop. */
CT_ELEM float ct_unop_apply(float x, int op)
{
    switch (op) {
    case CT_OP_NEG: return -x;
    case CT_OP_ABS: return fabsf(x);
    case CT_OP_SQRT: return sqrtf(x);
    case CT_OP_EXP: return expf(x);
    case CT_OP_LOG: return logf(x);
    case CT_OP_SQUARE: return x * x;
    case CT_OP_SIGN: return (float)((x > 0) - (x < 0));
    case CT_OP_TANH: return tanhf(x);
    case CT_OP_SIGMOID: return 1.0f / (1.0f + expf(-x));
    }
    return x;
}

#undef CT_ELEM

#endif
