/*
 * ct_tensor.h - dense float32 N-d tensors (up to 5-d), the currency of crystens.
 *
 * A tensor is contiguous, C order (last index fastest).  Its bytes live in a
 * reference-counted ct_storage, so a view (a slice along the first dimension,
 * or a reshape) shares the bytes of its parent and keeps them alive: freeing
 * the parent first is safe.
 *
 *     ct_error err;
 *     int64_t shape[4] = {16, 4, 64, 64};
 *     ct_tensor *t = ct_tensor_new(4, shape, &err);   // zero-filled
 *     ct_tensor *row = ct_tensor_select(t, 3, &err);   // 4x64x64 view of t[3]
 *     ct_tensor_free(t);                               // row stays valid
 *     ct_tensor_free(row);
 *
 * Ownership: every ct_tensor returned by a function here belongs to the caller,
 * who releases it with ct_tensor_free.  Functions taking a tensor never keep it.
 *
 * Devices: a tensor lives on the CPU (device CT_DEV_CPU, the default) or, in
 * a build with --with-cuda, on the GPU (CT_DEV_CUDA, see nn/ct_backend.h),
 * where data is a device pointer the host never dereferences.  Views share
 * storage on either; ct_tensor_to copies between them.
 *
 * Files: ct_tensor_save_npy / ct_tensor_load_npy read and write NumPy .npy
 * (version 1.0/2.0, '<f4', C order; '<f8' is read and converted), so Python
 * users can np.load what crystens writes.
 */
#ifndef CT_TENSOR_H
#define CT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "ct_common.h"

#define CT_MAXDIM 5

/* Largest tensor crystens will allocate, in elements (16 GiB of float32):
   a file header claiming more is rejected before anything is allocated. */
#define CT_MAXNUMEL ((size_t)1 << 32)

typedef struct ct_storage {
    float *data;
    size_t numel;
    int refcount;
    int device;           /* CT_DEV_CPU (0) or CT_DEV_CUDA: who frees data */
} ct_storage;

typedef struct ct_tensor {
    int ndim;
    int64_t shape[CT_MAXDIM];
    size_t numel;
    float *data;          /* first element; points into storage */
    ct_storage *storage;
    int device;           /* the storage's device, copied here for the ops */
} ct_tensor;

/* Create a zero-filled tensor of the given shape; NULL and err on failure. */
ct_tensor *ct_tensor_new(int ndim, const int64_t *shape, ct_error *err);

/* Create a tensor whose elements are left uninitialised: for outputs that
   are about to be overwritten whole, where zeroing would be wasted work. */
ct_tensor *ct_tensor_empty(int ndim, const int64_t *shape, ct_error *err);

/* ct_tensor_new and ct_tensor_empty on a device (CT_DEV_CPU or CT_DEV_CUDA;
   the CUDA backend is loaded on first use, and its absence is the error). */
ct_tensor *ct_tensor_new_on(int device, int ndim, const int64_t *shape, ct_error *err);
ct_tensor *ct_tensor_empty_on(int device, int ndim, const int64_t *shape, ct_error *err);

/* Return a copy of t on device (a copy even when t is already there). */
ct_tensor *ct_tensor_to(const ct_tensor *t, int device, ct_error *err);

/* Create a tensor like t (same shape), zero-filled. */
ct_tensor *ct_tensor_new_like(const ct_tensor *t, ct_error *err);

/* Create a deep copy of t with its own storage (on t's device). */
ct_tensor *ct_tensor_clone(const ct_tensor *t, ct_error *err);

/* Release t; its storage goes when the last view of it does.  NULL is a no-op. */
void ct_tensor_free(ct_tensor *t);

/* Return a view of t[i] (0-based) along the first dimension: one dimension less. */
ct_tensor *ct_tensor_select(const ct_tensor *t, int64_t i, ct_error *err);

/* Return a view of rows [start, start+len) along the first dimension. */
ct_tensor *ct_tensor_narrow(const ct_tensor *t, int64_t start, int64_t len, ct_error *err);

/* Return a view of the given shape over t's elements from offset on (the
   flat parameter buffers of ct_nn hand out one view per parameter). */
ct_tensor *ct_tensor_view(const ct_tensor *t, size_t offset, int ndim, const int64_t *shape,
                          ct_error *err);

/* Return a view of t with another shape of the same number of elements. */
ct_tensor *ct_tensor_reshape(const ct_tensor *t, int ndim, const int64_t *shape, ct_error *err);

/* Return non-zero if a and b have the same shape. */
int ct_tensor_same_shape(const ct_tensor *a, const ct_tensor *b);

/* Write "AxBxC" into buf (for messages); return buf. */
char *ct_tensor_shape_str(const ct_tensor *t, char *buf, size_t size);

/* Summary statistics over finite elements; nonfinite counts NaN and Inf. */
typedef struct ct_tensor_stats {
    float min, max;
    double mean;
    size_t nonfinite;
} ct_tensor_stats;

/* Compute min, mean, max (over finite values) and the count of NaN/Inf;
   for a CUDA tensor whose statistics cannot be read, all NaN. */
void ct_tensor_stats_of(const ct_tensor *t, ct_tensor_stats *s);

/* Save t as a NumPy .npy file, through a temporary file renamed into place
   (a CUDA tensor is copied to the host first). */
int ct_tensor_save_npy(const ct_tensor *t, const char *path, ct_error *err);

/* Load a .npy file (float32 or float64, C order, up to 5-d). */
ct_tensor *ct_tensor_load_npy(const char *path, ct_error *err);

#endif
