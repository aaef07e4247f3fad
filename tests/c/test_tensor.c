/* test_tensor.c - the tensor core: shapes, views, statistics, .npy files,
   the seeded RNG and the element-wise ops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_rng.h"
#include "ct_tensor.h"
#include "ct_tensor_ops.h"
#include "tap.h"

static char tmpdir[] = "/tmp/ct_test_tensor_XXXXXX";

static void path_in_tmp(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_views(void)
{
    ct_error err;
    int64_t shape[3] = {3, 2, 5};
    ct_tensor *t = ct_tensor_new(3, shape, &err);
    ok(t && t->numel == 30, "new 3x2x5 has 30 elements");
    for (size_t i = 0; i < t->numel; i++) t->data[i] = (float)i;
    ct_tensor *row = ct_tensor_select(t, 2, &err);
    ok(row && row->ndim == 2 && row->shape[0] == 2 && row->data[0] == 20.0f,
       "select(2) is the third 2x5 block");
    ct_tensor *mid = ct_tensor_narrow(t, 1, 2, &err);
    ok(mid && mid->shape[0] == 2 && mid->data[0] == 10.0f, "narrow(1, 2) starts at row 1");
    ct_tensor_free(t);   /* views keep the storage alive */
    ok(row->data[9] == 29.0f && mid->data[19] == 29.0f, "views outlive their parent");
    ok(ct_tensor_select(row, 2, &err) == NULL && strstr(err.msg, "out of range"),
       "select past the end fails: %s", err.msg);
    int64_t bad[2] = {3, 4};
    ok(ct_tensor_reshape(row, 2, bad, &err) == NULL && strstr(err.msg, "reshape"),
       "reshape to another element count fails: %s", err.msg);
    int64_t flat[1] = {10};
    ct_tensor *r = ct_tensor_reshape(row, 1, flat, &err);
    ok(r && r->data[3] == 23.0f, "reshape is a view of the same bytes");
    ct_tensor_free(r);
    ct_tensor_free(row);
    ct_tensor_free(mid);
    int64_t huge[3] = {1 << 20, 1 << 20, 1 << 20};
    ok(ct_tensor_new(3, huge, &err) == NULL && strstr(err.msg, "too large"),
       "a tensor of 2^60 elements is refused before allocating: %s", err.msg);
    int64_t neg[1] = {-1};
    ok(ct_tensor_new(1, neg, &err) == NULL, "negative sizes are refused");
}

static void test_stats(void)
{
    ct_error err;
    int64_t shape[1] = {5};
    ct_tensor *t = ct_tensor_new(1, shape, &err);
    float v[5] = {1, -2, NAN, 4, INFINITY};
    memcpy(t->data, v, sizeof v);
    ct_tensor_stats s;
    ct_tensor_stats_of(t, &s);
    ok(s.min == -2 && s.max == 4 && s.nonfinite == 2, "stats skip NaN/Inf and count them");
    near(s.mean, 1.0, 1e-12, "mean over the finite values");
    ct_tensor_free(t);
}

static void test_npy_roundtrip(void)
{
    ct_error err;
    char path[256];
    path_in_tmp(path, sizeof path, "a.npy");
    int64_t shape[4] = {2, 3, 1, 7};
    ct_tensor *t = ct_tensor_new(4, shape, &err);
    srand(12345);
    for (size_t i = 0; i < t->numel; i++) t->data[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    ok(ct_tensor_save_npy(t, path, &err) == CT_OK, "save .npy");
    ct_tensor *u = ct_tensor_load_npy(path, &err);
    ok(u && ct_tensor_same_shape(t, u) && memcmp(t->data, u->data, t->numel * 4) == 0,
       "load gives back the same shape and bits");
    FILE *f = fopen(path, "rb");
    unsigned char head[10];
    ok(fread(head, 1, 10, f) == 10 && (10 + (head[8] | head[9] << 8)) % 64 == 0,
       "header is padded to a multiple of 64 bytes as NumPy requires");
    fclose(f);
    ct_tensor_free(t);
    ct_tensor_free(u);
}

static void test_npy_float64(void)
{
    /* A float64 file as NumPy writes it: np.save('b.npy', np.arange(3.0)) */
    char path[256];
    path_in_tmp(path, sizeof path, "b.npy");
    char head[128];
    memset(head, ' ', sizeof head);
    memcpy(head, "\x93NUMPY\x01\x00\x76\x00", 10);
    const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
    memcpy(head + 10, dict, strlen(dict));
    head[127] = '\n';
    double vals[3] = {0.0, 1.5, -2.25};
    FILE *f = fopen(path, "wb");
    fwrite(head, 1, 128, f);
    fwrite(vals, 8, 3, f);
    fclose(f);
    ct_error err;
    ct_tensor *t = ct_tensor_load_npy(path, &err);
    ok(t && t->ndim == 1 && t->shape[0] == 3 && t->data[1] == 1.5f && t->data[2] == -2.25f,
       "float64 .npy is read and converted");
    ct_tensor_free(t);
}

static void test_npy_bad(void)
{
    ct_error err;
    char path[256];
    path_in_tmp(path, sizeof path, "bad.npy");
    ok(ct_tensor_load_npy("/nonexistent/x.npy", &err) == NULL && strstr(err.msg, "cannot open"),
       "missing file: %s", err.msg);
    write_bytes(path, "hello world, not numpy", 22);
    ok(ct_tensor_load_npy(path, &err) == NULL && strstr(err.msg, "bad magic"),
       "garbage: %s", err.msg);
    /* Build a proper header claiming petabytes. */
    char big[128];
    memset(big, ' ', 128);
    memcpy(big, "\x93NUMPY\x01\x00\x76\x00", 10);
    const char *d3 = "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999, 99999999), }";
    memcpy(big + 10, d3, strlen(d3));
    big[127] = '\n';
    write_bytes(path, big, 128);
    ok(ct_tensor_load_npy(path, &err) == NULL &&
       (strstr(err.msg, "too large") || strstr(err.msg, "shorter")),
       "a header claiming 4e16 bytes is rejected before allocating: %s", err.msg);
    const char *d4 = "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }";
    memset(big + 10, ' ', 117);
    memcpy(big + 10, d4, strlen(d4));
    write_bytes(path, big, 128);
    ok(ct_tensor_load_npy(path, &err) == NULL && strstr(err.msg, "dtype"),
       "big-endian int32 is refused: %s", err.msg);
    const char *d5 = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }";
    memset(big + 10, ' ', 117);
    memcpy(big + 10, d5, strlen(d5));
    float two[2] = {1, 2};
    FILE *f = fopen(path, "wb");
    fwrite(big, 1, 128, f);
    fwrite(two, 4, 2, f);
    fclose(f);
    ok(ct_tensor_load_npy(path, &err) == NULL && strstr(err.msg, "shorter"),
       "truncated data is refused: %s", err.msg);
}


static void test_rng(void)
{
    ct_rng a, b;
    ct_error err;
    ct_rng_seed(&a, 42);
    ct_rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= ct_rng_next(&a) == ct_rng_next(&b);
    ok(same, "one seed gives one stream");
    char st[CT_RNG_STATE_LEN];
    ct_rng_state_str(&a, st);
    uint64_t want[5];
    for (int i = 0; i < 5; i++) want[i] = ct_rng_next(&a);
    ct_rng c;
    ct_rng_seed(&c, 1);
    ok(ct_rng_set_state_str(&c, st, &err) == CT_OK, "restore state %.24s...", st);
    same = 1;
    for (int i = 0; i < 5; i++) same &= ct_rng_next(&c) == want[i];
    ok(same, "a restored state continues the stream");
    ok(ct_rng_set_state_str(&c, "xoshiro256:12", &err) != CT_OK && strstr(err.msg, "64 hex"),
       "a short state string is refused: %s", err.msg);
    /* Moments of 200000 draws: the standard error of the mean is ~0.0022. */
    enum { N = 200000 };
    static float buf[N];
    ct_rng_fill_normal(&a, buf, N, 0, 1);
    double m = 0, v = 0;
    for (int i = 0; i < N; i++) m += (double)buf[i];
    m /= N;
    for (int i = 0; i < N; i++) v += ((double)buf[i] - m) * ((double)buf[i] - m);
    near(m, 0, 0.01, "normal draws have mean 0");
    near(sqrt(v / N), 1, 0.01, "normal draws have std 1");
    ct_rng_fill_uniform(&a, buf, N, -1, 3);
    float lo = 9, hi = -9;
    m = 0;
    for (int i = 0; i < N; i++) {
        m += (double)buf[i];
        lo = fminf(lo, buf[i]);
        hi = fmaxf(hi, buf[i]);
    }
    ok(lo >= -1 && hi < 3, "uniform draws stay in [-1, 3)");
    near(m / N, 1, 0.02, "uniform draws on [-1, 3) have mean 1");
    int inrange = 1;
    for (int i = 0; i < 1000; i++) inrange &= ct_rng_below(&a, 7) < 7;
    ok(inrange, "below(7) stays below 7");
}

static ct_tensor *from(int nd, const int64_t *shape, const float *v)
{
    ct_error err;
    ct_tensor *t = ct_tensor_new(nd, shape, &err);
    memcpy(t->data, v, t->numel * sizeof(float));
    return t;
}

static void test_ops(void)
{
    ct_error err;
    int64_t s23[2] = {2, 3}, s21[2] = {2, 1}, s3[1] = {3};
    float av[6] = {1, 2, 3, 4, 5, 6}, cv[2] = {10, 20}, rv[3] = {1, 2, 4};
    ct_tensor *a = from(2, s23, av), *col = from(2, s21, cv), *row = from(1, s3, rv);
    ct_tensor *o = ct_tensor_new(2, s23, &err);
    ct_tensor_binary(o, a, col, CT_OP_ADD, &err);
    ok(o->data[0] == 11 && o->data[2] == 13 && o->data[3] == 24 && o->data[5] == 26,
       "a 2x1 column broadcasts along rows");
    ct_tensor_binary(o, a, row, CT_OP_DIV, &err);
    ok(o->data[1] == 1 && o->data[2] == 0.75f && o->data[5] == 1.5f, "a 3-vector broadcasts along columns");
    ok(ct_tensor_binary(o, a, o, CT_OP_ADD, &err) == CT_OK, "same-shape operands, output aliased");
    int64_t s2[1] = {2};
    ct_tensor *bad = ct_tensor_new(1, s2, &err);
    ok(ct_tensor_binary(o, a, bad, CT_OP_ADD, &err) != CT_OK && strstr(err.msg, "2x3") &&
       strstr(err.msg, "broadcast"), "shapes that do not broadcast: %s", err.msg);
    ct_tensor *sum = ct_tensor_new(2, s21, &err);
    ct_tensor_sum_to(sum, a, &err);
    ok(sum->data[0] == 6 && sum->data[1] == 15, "sum_to 2x1 sums each row");
    ct_tensor *srow = ct_tensor_new(1, s3, &err);
    ct_tensor_sum_to(srow, a, &err);
    ok(srow->data[0] == 5 && srow->data[2] == 9, "sum_to 3 sums each column");
    ct_tensor_scalar(o, a, 2, CT_OP_SUB, 1, &err);
    ok(o->data[0] == 1 && o->data[5] == -4, "scalar first: 2 - a");
    ct_tensor_clamp(o, a, 2, 4.5f, &err);
    ok(o->data[0] == 2 && o->data[3] == 4 && o->data[5] == 4.5f, "clamp to [2, 4.5]");
    ct_tensor_unary(o, a, CT_OP_SQRT, &err);
    near(o->data[3], 2, 0, "sqrt 4 = 2");
    near(ct_tensor_sum(a), 21, 0, "sum");
    const ct_tensor *parts[2] = {a, col};
    ct_tensor *cat = ct_tensor_cat(parts, 2, 1, &err);
    ok(cat && cat->shape[1] == 4 && cat->data[3] == 10 && cat->data[4] == 4 && cat->data[7] == 20,
       "cat along dimension 2 interleaves the rows");
    ct_tensor *back = ct_tensor_slice(cat, 1, 0, 3, &err);
    ok(back && ct_tensor_same_shape(back, a) && memcmp(back->data, a->data, 24) == 0,
       "slice undoes cat");
    ok(ct_tensor_cat(parts, 2, 0, &err) == NULL && strstr(err.msg, "only dimension 1"),
       "cat of mismatched shapes: %s", err.msg);
    int64_t s32[2] = {3, 2};
    float bv[6] = {1, 0, 0, 1, 2, -1};
    ct_tensor *b = from(2, s32, bv), *m = ct_tensor_matmul(a, b, &err);
    ok(m && m->shape[0] == 2 && m->shape[1] == 2 && m->data[0] == 7 && m->data[1] == -1 &&
       m->data[2] == 16 && m->data[3] == -1, "matmul of 2x3 and 3x2");
    ct_tensor *t[] = {a, col, row, o, bad, sum, srow, cat, back, b, m};
    for (size_t i = 0; i < CT_COUNTOF(t); i++) ct_tensor_free(t[i]);
}

/* The ops that split large tensors over threads (sum, fill, copy, cat,
   slice) against element-by-element loops, on 3 threads and on sizes
   that leave uneven shares. */
static void test_threaded_ops(void)
{
    ct_error err;
    ct_rng r;
    ct_rng_seed(&r, 99);
    const char *saved = getenv("CT_NUM_THREADS");
    char *keep = saved ? strdup(saved) : NULL;
    setenv("CT_NUM_THREADS", "3", 1);
    int64_t sa[4] = {5, 7, 61, 67}, sb[4] = {5, 3, 61, 67};
    ct_tensor *a = ct_tensor_new(4, sa, &err), *b = ct_tensor_new(4, sb, &err);
    ct_tensor_randn(a, &r, 0.0f, 1.0f);
    ct_tensor_randn(b, &r, 0.0f, 1.0f);
    ct_tensor *sum = ct_tensor_new(4, sa, &err), *a2 = ct_tensor_clone(a, &err);
    ct_tensor_binary(sum, a, a2, CT_OP_MUL, &err);
    int bad = 0;
    for (size_t i = 0; i < a->numel; i++) bad += sum->data[i] != a->data[i] * a2->data[i];
    ok(!bad, "a * a over %zu values on 3 threads (%d wrong)", a->numel, bad);
    const ct_tensor *parts[2] = {a, b};
    ct_tensor *cat = ct_tensor_cat(parts, 2, 1, &err);
    ct_tensor *back = cat ? ct_tensor_slice(cat, 1, 7, 3, &err) : NULL;
    bad = !cat || !back;
    size_t P = 61 * 67;
    for (size_t n = 0; !bad && n < 5; n++)
        for (size_t c = 0; c < 10; c++)
            for (size_t i = 0; i < P; i++) {
                float want = c < 7 ? a->data[(n * 7 + c) * P + i] : b->data[(n * 3 + c - 7) * P + i];
                bad += cat->data[(n * 10 + c) * P + i] != want;
            }
    ok(!bad && !memcmp(back->data, b->data, b->numel * sizeof(float)),
       "cat along channels and the slice back, on 3 threads (%d wrong)", bad);
    ct_tensor_fill(sum, 2.5f);
    ct_tensor_copy(a2, sum, &err);
    bad = 0;
    for (size_t i = 0; i < a2->numel; i++) bad += a2->data[i] != 2.5f;
    ok(!bad, "fill and copy of %zu values on 3 threads (%d wrong)", a2->numel, bad);
    if (keep) setenv("CT_NUM_THREADS", keep, 1);
    else unsetenv("CT_NUM_THREADS");
    free(keep);
    ct_tensor *t[] = {a, b, sum, a2, cat, back};
    for (size_t i = 0; i < CT_COUNTOF(t); i++) ct_tensor_free(t[i]);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) return 99;
    test_views();
    test_stats();
    test_npy_roundtrip();
    test_npy_float64();
    test_npy_bad();
    test_rng();
    test_ops();
    test_threaded_ops();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return tap_done();
}
