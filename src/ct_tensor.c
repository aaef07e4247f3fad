/* ct_tensor.c - tensor storage, views, statistics and .npy files (see ct_tensor.h). */
#include "ct_tensor.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ct_file.h"
#include "nn/ct_backend.h"

static ct_tensor *tensor_alloc_header(int ndim, const int64_t *shape, size_t *numel,
                                      ct_error *err)
{
    if (ndim < 0 || ndim > CT_MAXDIM) {
        ct_fail(err, CT_EINVAL, "tensor of %d dimensions (at most %d)", ndim, CT_MAXDIM);
        return NULL;
    }
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            ct_fail(err, CT_EINVAL, "negative size %lld in dimension %d",
                    (long long)shape[i], i + 1);
            return NULL;
        }
        if (shape[i] && n > CT_MAXNUMEL / (size_t)shape[i]) {
            ct_fail(err, CT_ENOMEM, "tensor too large (over %zu elements)", CT_MAXNUMEL);
            return NULL;
        }
        n *= (size_t)shape[i];
    }
    ct_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        ct_fail(err, CT_ENOMEM, "out of memory");
        return NULL;
    }
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = n;
    *numel = n;
    return t;
}

/* Allocate a tensor with its own storage on the GPU, zeroed or not. */
static ct_tensor *tensor_alloc_cuda(ct_tensor *t, size_t n, int zero, ct_error *err)
{
    const ct_cuda_api *cu = ct_cuda(err);
    t->storage = cu ? malloc(sizeof *t->storage) : NULL;
    if (cu && !t->storage) ct_fail(err, CT_ENOMEM, "out of memory");
    float *data = t->storage ? cu->alloc((n ? n : 1) * sizeof(float), err) : NULL;
    if (data && zero && cu->memset_zero(data, n * sizeof(float), err) != CT_OK) {
        cu->free(data);
        data = NULL;
    }
    if (!data) {
        free(t->storage);
        free(t);
        return NULL;
    }
    t->storage->data = data;
    t->storage->numel = n;
    t->storage->refcount = 1;
    t->storage->device = t->device = CT_DEV_CUDA;
    t->data = data;
    return t;
}

/* Allocate a tensor with its own storage, zeroed or not. */
static ct_tensor *tensor_alloc(int device, int ndim, const int64_t *shape, int zero,
                               ct_error *err)
{
    size_t n;
    if (device != CT_DEV_CPU && device != CT_DEV_CUDA) {
        ct_fail(err, CT_EINVAL, "unknown device %d", device);
        return NULL;
    }
    ct_tensor *t = tensor_alloc_header(ndim, shape, &n, err);
    if (!t) return NULL;
    if (device == CT_DEV_CUDA) return tensor_alloc_cuda(t, n, zero, err);
    t->storage = malloc(sizeof *t->storage);
    /* One spare element so a 0-element tensor still has a valid pointer. */
    float *data = zero ? calloc(n ? n : 1, sizeof(float)) : malloc((n ? n : 1) * sizeof(float));
    if (!t->storage || !data) {
        free(t->storage);
        free(data);
        free(t);
        ct_fail(err, CT_ENOMEM, "out of memory for a tensor of %zu elements", n);
        return NULL;
    }
    t->storage->data = data;
    t->storage->numel = n;
    t->storage->refcount = 1;
    t->storage->device = CT_DEV_CPU;
    t->data = data;
    return t;
}

ct_tensor *ct_tensor_new(int ndim, const int64_t *shape, ct_error *err)
{
    return tensor_alloc(CT_DEV_CPU, ndim, shape, 1, err);
}

ct_tensor *ct_tensor_empty(int ndim, const int64_t *shape, ct_error *err)
{
    return tensor_alloc(CT_DEV_CPU, ndim, shape, 0, err);
}

ct_tensor *ct_tensor_new_on(int device, int ndim, const int64_t *shape, ct_error *err)
{
    return tensor_alloc(device, ndim, shape, 1, err);
}

ct_tensor *ct_tensor_empty_on(int device, int ndim, const int64_t *shape, ct_error *err)
{
    return tensor_alloc(device, ndim, shape, 0, err);
}

ct_tensor *ct_tensor_new_like(const ct_tensor *t, ct_error *err)
{
    return tensor_alloc(t->device, t->ndim, t->shape, 1, err);
}

ct_tensor *ct_tensor_to(const ct_tensor *t, int device, ct_error *err)
{
    ct_tensor *c = tensor_alloc(device, t->ndim, t->shape, 0, err);
    if (!c) return NULL;
    if (device == CT_DEV_CPU && t->device == CT_DEV_CPU) {
        memcpy(c->data, t->data, t->numel * sizeof(float));
        return c;
    }
    /* One side is on the GPU, so the backend is loaded. */
    const ct_cuda_api *cu = ct_cuda(err);
    if (!cu || cu->copy(c->data, device, t->data, t->device, t->numel * sizeof(float), err)
                   != CT_OK) {
        ct_tensor_free(c);
        return NULL;
    }
    return c;
}

ct_tensor *ct_tensor_clone(const ct_tensor *t, ct_error *err)
{
    return ct_tensor_to(t, t->device, err);
}

void ct_tensor_free(ct_tensor *t)
{
    if (!t) return;
    if (--t->storage->refcount == 0) {
        if (t->storage->device == CT_DEV_CUDA) ct_cuda_loaded()->free(t->storage->data);
        else free(t->storage->data);
        free(t->storage);
    }
    free(t);
}

/* Make a view of `numel` elements of t's storage starting at `data`. */
static ct_tensor *tensor_view(const ct_tensor *t, float *data, int ndim,
                              const int64_t *shape, ct_error *err)
{
    size_t n;
    ct_tensor *v = tensor_alloc_header(ndim, shape, &n, err);
    if (!v) return NULL;
    v->data = data;
    v->device = t->device;
    v->storage = t->storage;
    v->storage->refcount++;
    return v;
}

ct_tensor *ct_tensor_select(const ct_tensor *t, int64_t i, ct_error *err)
{
    if (t->ndim < 1) {
        ct_fail(err, CT_EINVAL, "cannot index a 0-d tensor");
        return NULL;
    }
    if (i < 0 || i >= t->shape[0]) {
        ct_fail(err, CT_EINVAL, "index %lld out of range 1..%lld",
                (long long)i + 1, (long long)t->shape[0]);
        return NULL;
    }
    size_t stride = t->shape[0] ? t->numel / (size_t)t->shape[0] : 0;
    return tensor_view(t, t->data + (size_t)i * stride, t->ndim - 1, t->shape + 1, err);
}

ct_tensor *ct_tensor_narrow(const ct_tensor *t, int64_t start, int64_t len, ct_error *err)
{
    if (t->ndim < 1 || start < 0 || len < 0 || start + len > t->shape[0]) {
        ct_fail(err, CT_EINVAL, "rows %lld..%lld out of range 1..%lld",
                (long long)start + 1, (long long)(start + len),
                t->ndim ? (long long)t->shape[0] : 0LL);
        return NULL;
    }
    int64_t shape[CT_MAXDIM];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = len;
    size_t stride = t->shape[0] ? t->numel / (size_t)t->shape[0] : 0;
    return tensor_view(t, t->data + (size_t)start * stride, t->ndim, shape, err);
}

ct_tensor *ct_tensor_view(const ct_tensor *t, size_t offset, int ndim, const int64_t *shape,
                          ct_error *err)
{
    size_t n = 1;
    for (int i = 0; i < ndim && i < CT_MAXDIM; i++) n *= shape[i] > 0 ? (size_t)shape[i] : 0;
    if (ndim > CT_MAXDIM || offset > t->numel || n > t->numel - offset) {
        ct_fail(err, CT_EINVAL, "view of %zu elements at offset %zu does not fit in %zu",
                n, offset, t->numel);
        return NULL;
    }
    return tensor_view(t, t->data + offset, ndim, shape, err);
}

ct_tensor *ct_tensor_reshape(const ct_tensor *t, int ndim, const int64_t *shape, ct_error *err)
{
    size_t n = 1;
    for (int i = 0; i < ndim && i < CT_MAXDIM; i++) n *= shape[i] > 0 ? (size_t)shape[i] : 0;
    if (ndim > CT_MAXDIM || n != t->numel) {
        char a[96];
        ct_fail(err, CT_EINVAL, "cannot reshape %s (%zu elements) to %d dimensions of %zu elements",
                ct_tensor_shape_str(t, a, sizeof a), t->numel, ndim, n);
        return NULL;
    }
    return tensor_view(t, t->data, ndim, shape, err);
}

int ct_tensor_same_shape(const ct_tensor *a, const ct_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

char *ct_tensor_shape_str(const ct_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    if (t->ndim == 0) {
        snprintf(buf, size, "scalar");
        return buf;
    }
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? "x%lld" : "%lld",
                                 (long long)t->shape[i]);
    return buf;
}

void ct_tensor_stats_of(const ct_tensor *t, ct_tensor_stats *s)
{
    if (t->device == CT_DEV_CUDA) {
        if (ct_cuda_loaded()->stats(t, s, NULL) != CT_OK) {
            s->min = s->max = NAN;
            s->mean = (double)NAN;
            s->nonfinite = 0;
        }
        return;
    }
    double sum = 0;
    size_t finite = 0;
    s->min = INFINITY;
    s->max = -INFINITY;
    s->nonfinite = 0;
    for (size_t i = 0; i < t->numel; i++) {
        float v = t->data[i];
        if (!isfinite(v)) { s->nonfinite++; continue; }
        if (v < s->min) s->min = v;
        if (v > s->max) s->max = v;
        sum += (double)v;
        finite++;
    }
    s->mean = finite ? sum / (double)finite : (double)NAN;
    if (!finite) s->min = s->max = NAN;
}

/* ---- NumPy .npy ------------------------------------------------------------
 * Layout: "\x93NUMPY", major, minor, header length (2 bytes in v1, 4 in v2,
 * little-endian), then a Python dict literal padded with spaces to a multiple
 * of 64 bytes and ending in '\n', then the raw data.                       */

int ct_tensor_save_npy(const ct_tensor *t, const char *path, ct_error *err)
{
    if (t->device != CT_DEV_CPU) {
        ct_tensor *h = ct_tensor_to(t, CT_DEV_CPU, err);
        if (!h) return CT_ENOMEM;
        int rc = ct_tensor_save_npy(h, path, err);
        ct_tensor_free(h);
        return rc;
    }
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < t->ndim; i++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld,%s",
                        (long long)t->shape[i], i + 1 < t->ndim ? " " : "");
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    /* Pad so that magic(6)+version(2)+hlen(2)+dict is a multiple of 64. */
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    unsigned char head[10 + 256];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    int hlen = len + pad + 1;
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)len);
    memset(head + 10 + len, ' ', (size_t)pad);
    head[10 + len + pad] = '\n';

    ct_file f;
    int rc = ct_file_open(&f, path, err);
    if (rc != CT_OK) return rc;
    size_t hsize = (size_t)(10 + hlen);
    if (fwrite(head, 1, hsize, f.fp) != hsize ||
        fwrite(t->data, sizeof(float), t->numel, f.fp) != t->numel) {
        ct_fail(err, CT_EIO, "%s: write failed: %s", path, strerror(errno));
        ct_file_abort(&f);
        return CT_EIO;
    }
    return ct_file_commit(&f, err);
}

/* The end of the Python literal at p in a .npy header: a quoted string
   (with backslash escapes), a parenthesised tuple (strings inside it
   skipped whole), or a bare word (True, 3); NULL if it is cut short. */
static const char *npy_skip_value(const char *p)
{
    int depth = 0;
    for (;; p++) {
        if (*p == '\'' || *p == '"') {
            char q = *p++;
            while (*p && *p != q) p += (*p == '\\' && p[1]) ? 2 : 1;
            if (!*p) return NULL;
            if (!depth) return p + 1;
            continue;   /* a string inside a tuple */
        }
        if (!*p) return NULL;
        if (*p == '(') {
            depth++;
        } else if (*p == ')') {
            if (--depth <= 0) return depth ? NULL : p + 1;
        } else if (!depth && (*p == ',' || *p == '}' || *p == ':')) {
            return p;
        }
    }
}

/* The value of key in a .npy header dict, found by reading the dict's
   keys in turn (not by searching its text: a key spelled inside another
   string, "{'x': \"'descr': '>f8'\", 'descr': '<f4'}", is not the key);
   NULL if absent or the dict is malformed. */
static const char *npy_field(const char *dict, const char *key)
{
    size_t keylen = strlen(key);
    const char *p = dict;
    while (*p == ' ') p++;
    if (*p++ != '{') return NULL;
    for (;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p != '\'' && *p != '"') return NULL;   /* '}', or not a key */
        const char *k = p + 1, *kend = npy_skip_value(p);
        if (!kend) return NULL;
        int match = (size_t)(kend - 1 - k) == keylen && strncmp(k, key, keylen) == 0;
        for (p = kend; *p == ' '; p++) {}
        if (*p++ != ':') return NULL;
        while (*p == ' ') p++;
        if (match) return p;
        if (!(p = npy_skip_value(p))) return NULL;
    }
}

/* Parse "(a, b, c)" into shape; return ndim or -1. */
static int npy_parse_shape(const char *p, int64_t *shape)
{
    if (*p != '(') return -1;
    int nd = 0;
    p++;
    for (;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') return nd;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || nd == CT_MAXDIM) return -1;
        shape[nd++] = v;
        p = end;
        while (*p == 'L') p++;   /* Python 2 long suffix */
    }
}

static ct_tensor *npy_fail(FILE *fp, ct_error *err, int status, const char *path,
                           const char *why)
{
    if (fp) fclose(fp);
    ct_fail(err, status, "%s: not a readable .npy file: %s", path, why);
    return NULL;
}

ct_tensor *ct_tensor_load_npy(const char *path, ct_error *err)
{
    FILE *fp = ct_file_open_read(path, err);
    if (!fp) return NULL;
    unsigned char pre[12];
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return npy_fail(fp, err, CT_EFORMAT, path, "bad magic");
    size_t hlen;
    if (pre[6] == 1) {
        hlen = pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, fp) != 2) return npy_fail(fp, err, CT_EFORMAT, path, "truncated header");
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        return npy_fail(fp, err, CT_EFORMAT, path, "unknown version");
    }
    if (hlen == 0 || hlen > 65536) return npy_fail(fp, err, CT_EFORMAT, path, "header size out of range");
    char *dict = malloc(hlen + 1);
    if (!dict) return npy_fail(fp, err, CT_ENOMEM, path, "out of memory");
    if (fread(dict, 1, hlen, fp) != hlen) {
        free(dict);
        return npy_fail(fp, err, CT_EFORMAT, path, "truncated header");
    }
    dict[hlen] = '\0';
    const char *descr = npy_field(dict, "descr");
    const char *order = npy_field(dict, "fortran_order");
    const char *shp = npy_field(dict, "shape");
    int64_t shape[CT_MAXDIM];
    int is_f8 = descr && strncmp(descr, "'<f8'", 5) == 0;
    int ok_descr = descr && (strncmp(descr, "'<f4'", 5) == 0 || is_f8);
    int ok_order = order && strncmp(order, "False", 5) == 0;
    int nd = shp ? npy_parse_shape(shp, shape) : -1;
    free(dict);
    if (!ok_descr) return npy_fail(fp, err, CT_EFORMAT, path, "dtype is not little-endian float32/float64");
    if (!ok_order) return npy_fail(fp, err, CT_EFORMAT, path, "Fortran order is not supported");
    if (nd < 0) return npy_fail(fp, err, CT_EFORMAT, path, "bad shape (at most 5 dimensions)");

    /* Check the claimed size against the file before allocating anything. */
    size_t numel = 1;
    for (int i = 0; i < nd; i++) {
        if (shape[i] && numel > CT_MAXNUMEL / (size_t)shape[i])
            return npy_fail(fp, err, CT_ENOMEM, path, "shape too large");
        numel *= (size_t)shape[i];
    }
    struct stat st;
    long pos = ftell(fp);
    if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) && pos >= 0 &&
        (size_t)(st.st_size - pos) < numel * (is_f8 ? 8 : 4))
        return npy_fail(fp, err, CT_EFORMAT, path, "file shorter than its shape says");
    ct_tensor *t = ct_tensor_new(nd, shape, err);
    if (!t) {
        fclose(fp);
        return NULL;
    }
    size_t got;
    if (is_f8) {
        got = 0;
        double buf[1024];
        while (got < t->numel) {
            size_t want = t->numel - got < 1024 ? t->numel - got : 1024;
            size_t r = fread(buf, sizeof(double), want, fp);
            for (size_t i = 0; i < r; i++) t->data[got + i] = (float)buf[i];
            got += r;
            if (r < want) break;
        }
    } else {
        got = fread(t->data, sizeof(float), t->numel, fp);
    }
    if (got != t->numel) {
        ct_tensor_free(t);
        return npy_fail(fp, err, CT_EFORMAT, path, "truncated data");
    }
    fclose(fp);
    return t;
}
