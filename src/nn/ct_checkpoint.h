/*
 * ct_checkpoint.h - model checkpoints in the safetensors format, so that
 * Python users can open them with `safetensors.torch.load_file`.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON (padded
 * with spaces to a multiple of 8), then the raw little-endian float32 data:
 *
 *     {"__metadata__": {"kind": "diffusion", "step": "1200", ...},
 *      "down.0.conv1.weight": {"dtype": "F32", "shape": [64, 4, 3, 3],
 *                              "data_offsets": [0, 9216]}, ...}
 *
 * Offsets are relative to the end of the header.  Metadata is a map of
 * strings to strings (numbers and JSON configs go in as text).  Files are
 * written through ct_file (temporary file renamed into place); on reading,
 * every size is checked against the file before anything is allocated, and
 * a truncated or corrupt file gives an error naming the file and the fault.
 *
 *     const char *names[] = {"weight"}; ct_tensor *ts[] = {w};
 *     const char *keys[] = {"kind"}, *vals[] = {"mlp"};
 *     ct_checkpoint_save("m.safetensors", names, ts, 1, keys, vals, 1, &err);
 *     ct_checkpoint *ck = ct_checkpoint_load("m.safetensors", &err);
 *     ct_tensor *w2 = ck->tensors[0].t;   // owned by ck
 *     ct_checkpoint_free(ck);
 *
 * Ownership: ct_checkpoint_load returns a checkpoint owning its names,
 * tensors and strings; ct_checkpoint_free releases all of them.
 */
#ifndef CT_CHECKPOINT_H
#define CT_CHECKPOINT_H

#include "ct_tensor.h"

typedef struct {
    char *name;
    ct_tensor *t;
} ct_ckpt_tensor;

typedef struct {
    char *key, *value;
} ct_ckpt_meta;

typedef struct {
    int ntensors, nmeta;
    ct_ckpt_tensor *tensors;   /* in the order of their data in the file */
    ct_ckpt_meta *meta;
} ct_checkpoint;

/* Largest JSON header accepted, in bytes. */
#define CT_CKPT_MAX_HEADER ((size_t)100 << 20)

/* Write n named tensors and nmeta metadata strings to path. */
int ct_checkpoint_save(const char *path, const char *const *names, ct_tensor *const *ts, int n,
                       const char *const *keys, const char *const *values, int nmeta,
                       ct_error *err);

/* Read a checkpoint; NULL and err on failure. */
ct_checkpoint *ct_checkpoint_load(const char *path, ct_error *err);

/* Return the metadata value of key, or NULL. */
const char *ct_checkpoint_meta(const ct_checkpoint *ck, const char *key);

/* Free ck and everything it owns.  NULL is a no-op. */
void ct_checkpoint_free(ct_checkpoint *ck);

#endif
