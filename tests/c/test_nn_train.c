/*
 * test_nn_train.c - flat parameter buffers, Adam, clipping, EMA, training a
 * tiny MLP and a tiny conv net to overfit a batch, and safetensors
 * checkpoints (round trip bit-exact; truncated or corrupt files refused).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_checkpoint.h"
#include "ct_nn.h"
#include "ct_tensor_ops.h"
#include "tap.h"

static ct_rng rng;
static char tmpdir[] = "/tmp/ct_test_nn_XXXXXX";

/* A chain of layers with one flat parameter buffer. */
typedef struct {
    ct_layer *l[8];
    int n;
    ct_tensor *w, *g;
} chain;

static void chain_flatten(chain *c)
{
    ct_param *ps[32];
    int np = 0;
    for (int i = 0; i < c->n; i++)
        for (int p = 0; p < c->l[i]->nparams; p++) ps[np++] = &c->l[i]->params[p];
    ct_error err;
    ct_params_flatten(ps, np, &c->w, &c->g, &err);
}

static ct_tensor *chain_forward(chain *c, const ct_tensor *x)
{
    ct_error err;
    ct_tensor *h = ct_tensor_clone(x, &err), *y;
    for (int i = 0; i < c->n; i++) {
        ct_layer_forward(c->l[i], h, &y, &err);
        ct_tensor_free(h);
        h = y;
    }
    return h;
}

static void chain_backward(chain *c, ct_tensor *gy)
{
    ct_error err;
    ct_tensor *g = gy, *gx;
    for (int i = c->n - 1; i >= 0; i--) {
        ct_layer_backward(c->l[i], g, &gx, &err);
        if (g != gy) ct_tensor_free(g);
        g = gx;
    }
    ct_tensor_free(g);
}

static void chain_free(chain *c)
{
    for (int i = 0; i < c->n; i++) ct_layer_free(c->l[i]);
    ct_tensor_free(c->w);
    ct_tensor_free(c->g);
}

static void test_flatten(void)
{
    ct_error err;
    chain c = {{ct_linear_new(3, 4, 1, &rng, &err), ct_linear_new(4, 2, 1, &rng, &err)}, 2, NULL, NULL};
    float w01 = c.l[0]->params[0].w->data[1], b1 = c.l[1]->params[1].w->data[1];
    chain_flatten(&c);
    ok(c.w->numel == 3 * 4 + 4 + 4 * 2 + 2, "flat buffer holds all %zu parameters", c.w->numel);
    ok(c.w->data[1] == w01 && c.w->data[12 + 4 + 8 + 1] == b1, "values keep their order in it");
    ok(c.l[1]->params[0].w->data == c.w->data + 16 && c.l[1]->params[0].g->data == c.g->data + 16,
       "parameters are views of the flat buffers");
    c.w->data[16] = 42.0f;
    ok(c.l[1]->params[0].w->data[0] == 42.0f, "writing the flat buffer changes the layer");
    chain_free(&c);
}

/* One Adam step against the update written out in double. */
static void test_adam(void)
{
    ct_error err;
    int64_t s[1] = {3};
    ct_tensor *w = ct_tensor_new(1, s, &err), *g = ct_tensor_new(1, s, &err);
    float w0[3] = {0.5f, -1.0f, 2.0f}, g0[3] = {0.1f, -0.2f, 0.3f};
    memcpy(w->data, w0, sizeof w0);
    memcpy(g->data, g0, sizeof g0);
    ct_adam_cfg cfg = {0.01f, 0.5f, 0.9f, 1e-8f, 0.1f, 1};
    ct_adam *a = ct_adam_new(&cfg, 3, &err);
    ct_adam_step(a, w, g, &err);
    ct_adam_step(a, w, g, &err);
    double maxd = 0;
    for (int i = 0; i < 3; i++) {
        double wi = (double)w0[i], m = 0, v = 0;
        for (int t = 1; t <= 2; t++) {
            wi *= 1 - 0.01 * 0.1;
            m = 0.5 * m + 0.5 * (double)g0[i];
            v = 0.9 * v + 0.1 * (double)g0[i] * (double)g0[i];
            wi -= 0.01 * (m / (1 - pow(0.5, t))) / (sqrt(v / (1 - pow(0.9, t))) + 1e-8);
        }
        maxd = fmax(maxd, fabs(wi - (double)w->data[i]));
    }
    ok(maxd < 1e-6, "two AdamW steps match the formula (max diff %.2g)", maxd);
    ct_tensor *w2 = ct_tensor_new(1, s, &err);
    ok(ct_adam_step(a, w2, g, &err) == CT_OK, "a step on another buffer of the same size runs");
    int64_t s4[1] = {4};
    ct_tensor *w4 = ct_tensor_new(1, s4, &err);
    ok(ct_adam_step(a, w4, w4, &err) != CT_OK && strstr(err.msg, "4 parameters"),
       "a step on a buffer of another size fails: %s", err.msg);
    double norm = ct_clip_grad_norm(g, 0.1);
    near(norm, sqrt(0.01 + 0.04 + 0.09), 1e-7, "clip returns the norm before clipping");
    near(sqrt(ct_tensor_dot(g, g)), 0.1, 1e-6, "and scales the gradient to the maximum");
    ct_tensor_fill(w2, 1.0f);
    ct_tensor *ema = ct_tensor_new(1, s, &err);
    ct_ema_update(ema, w2, 0.9f, &err);
    near(ema->data[2], 0.1, 1e-7, "ema moves a tenth of the way with decay 0.9");
    ct_adam_free(a);
    ct_tensor_free(w);
    ct_tensor_free(w2);
    ct_tensor_free(w4);
    ct_tensor_free(g);
    ct_tensor_free(ema);
}

/* Train c on (x, target) with MSE and Adam; return first and last loss. */
static void overfit(chain *c, const ct_tensor *x, const ct_tensor *target, int steps, float lr,
                    double *first, double *last)
{
    ct_error err;
    chain_flatten(c);
    ct_adam_cfg cfg = {lr, 0.9f, 0.999f, 1e-8f, 0, 0};
    ct_adam *a = ct_adam_new(&cfg, c->w->numel, &err);
    for (int s = 0; s < steps; s++) {
        ct_tensor *y = chain_forward(c, x), *gy;
        double loss;
        ct_loss_mse(y, target, &loss, &gy, &err);
        if (s == 0) *first = loss;
        *last = loss;
        ct_tensor_fill(c->g, 0.0f);
        chain_backward(c, gy);
        ct_adam_step(a, c->w, c->g, &err);
        ct_tensor_free(y);
        ct_tensor_free(gy);
    }
    ct_adam_free(a);
}

static void test_overfit(void)
{
    ct_error err;
    int64_t xs[2] = {16, 5}, ts[2] = {16, 3};
    ct_tensor *x = ct_tensor_new(2, xs, &err), *t = ct_tensor_new(2, ts, &err);
    ct_tensor_randn(x, &rng, 0, 1);
    ct_tensor_randn(t, &rng, 0, 1);
    chain mlp = {{ct_linear_new(5, 32, 1, &rng, &err), ct_act_new(CT_ACT_TANH, 0, &err),
                  ct_linear_new(32, 32, 1, &rng, &err), ct_act_new(CT_ACT_SILU, 0, &err),
                  ct_linear_new(32, 3, 1, &rng, &err)}, 5, NULL, NULL};
    double first, last;
    overfit(&mlp, x, t, 400, 1e-2f, &first, &last);
    ok(last < first / 100, "tiny MLP overfits 16 samples: loss %.3g -> %.3g", first, last);
    chain_free(&mlp);
    ct_tensor_free(x);
    ct_tensor_free(t);

    int64_t is[4] = {4, 2, 6, 6}, os[4] = {4, 1, 6, 6};
    x = ct_tensor_new(4, is, &err);
    t = ct_tensor_new(4, os, &err);
    ct_tensor_randn(x, &rng, 0, 1);
    ct_tensor_randn(t, &rng, 0, 1);
    ct_conv_cfg c1 = ct_conv_cfg_2d(2, 16, 3, 1, 1), c2 = ct_conv_cfg_2d(16, 16, 3, 1, 1),
                c3 = ct_conv_cfg_2d(16, 1, 3, 1, 1);
    chain cnn = {{ct_conv_new(&c1, &rng, &err), ct_groupnorm_new(4, 16, 1e-5f, &err),
                  ct_act_new(CT_ACT_SILU, 0, &err), ct_conv_new(&c2, &rng, &err),
                  ct_act_new(CT_ACT_SILU, 0, &err), ct_conv_new(&c3, &rng, &err)}, 6, NULL, NULL};
    overfit(&cnn, x, t, 300, 1e-2f, &first, &last);
    ok(last < first / 100, "tiny conv net overfits 4 images: loss %.3g -> %.3g", first, last);
    chain_free(&cnn);
    ct_tensor_free(x);
    ct_tensor_free(t);
}

static void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static char *read_file(const char *path, long *n)
{
    *n = file_size(path);
    char *buf = malloc((size_t)*n);
    FILE *f = fopen(path, "rb");
    if (fread(buf, 1, (size_t)*n, f) != (size_t)*n) *n = -1;
    fclose(f);
    return buf;
}

/* Write a file of 8-byte length + header text (+ data bytes of zeros). */
static void write_raw(const char *path, const char *header, size_t data_bytes)
{
    size_t h = strlen(header);
    unsigned char *buf = calloc(1, 8 + h + data_bytes);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    write_file(path, buf, 8 + h + data_bytes);
    free(buf);
}

static void test_checkpoint(void)
{
    ct_error err;
    char path[256], bad[256];
    tmp_path(path, sizeof path, "m.safetensors");
    tmp_path(bad, sizeof bad, "bad.safetensors");
    int64_t s1[4] = {3, 2, 3, 3}, s2[1] = {5}, s0[1] = {0};
    ct_tensor *ts[3] = {ct_tensor_new(4, s1, &err), ct_tensor_new(1, s2, &err), ct_tensor_new(1, s0, &err)};
    ct_tensor_randn(ts[0], &rng, 0, 1);
    ct_tensor_randn(ts[1], &rng, 0, 1);
    ts[1]->data[2] = NAN;
    const char *names[3] = {"conv.weight", "bias \"quoted\"", "empty"};
    const char *keys[3] = {"kind", "config", "rng"};
    const char *vals[3] = {"diffusion", "{\"size\": 32,\n \"mults\": [1, 2, 2]}", "xoshiro256:00ff"};
    ok(ct_checkpoint_save(path, names, ts, 3, keys, vals, 3, &err) == CT_OK, "save a checkpoint");
    ct_checkpoint *ck = ct_checkpoint_load(path, &err);
    int same = ck && ck->ntensors == 3;
    for (int i = 0; same && i < 3; i++)
        same = strcmp(ck->tensors[i].name, names[i]) == 0 &&
               ct_tensor_same_shape(ck->tensors[i].t, ts[i]) &&
               memcmp(ck->tensors[i].t->data, ts[i]->data, ts[i]->numel * 4) == 0;
    ok(same, "names, shapes and bits survive the round trip (NaN included)");
    ok(ck && ck->nmeta == 3 && strcmp(ct_checkpoint_meta(ck, "config"), vals[1]) == 0 &&
       strcmp(ct_checkpoint_meta(ck, "kind"), "diffusion") == 0,
       "metadata strings with quotes and newlines survive");
    ct_checkpoint_free(ck);

    long n;
    char *bytes = read_file(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | (unsigned char)bytes[i];
    ok((8 + hlen) % 8 == 0 && n == (long)(8 + hlen + (54 + 5) * 4),
       "header padded to 8 bytes, data is raw float32 (%ld bytes)", n);
    /* Every truncation is an error, never a crash. */
    int all_refused = 1;
    for (long cut = 0; cut < n; cut += cut < 16 ? 1 : 7) {
        write_file(bad, bytes, (size_t)cut);
        ct_checkpoint *t = ct_checkpoint_load(bad, &err);
        if (t) all_refused = 0;
        ct_checkpoint_free(t);
    }
    ok(all_refused, "a checkpoint cut at any length is refused");
    write_file(bad, bytes, (size_t)n - 3);
    ok(!ct_checkpoint_load(bad, &err) && strstr(err.msg, "truncated"), "last bytes missing: %s", err.msg);
    /* Corrupt headers. */
    bytes[8 + 5] = '#';
    write_file(bad, bytes, (size_t)n);
    ok(!ct_checkpoint_load(bad, &err) && strstr(err.msg, "corrupt"), "a garbled header: %s", err.msg);
    bytes[7] = 0x7f;
    write_file(bad, bytes, (size_t)n);
    ok(!ct_checkpoint_load(bad, &err) && strstr(err.msg, "header length"),
       "a header length beyond the file: %s", err.msg);
    free(bytes);
    write_raw(bad, "{\"x\":{\"dtype\":\"F32\",\"shape\":[4000000000,4000000000],\"data_offsets\":[0,16]}}", 16);
    ok(!ct_checkpoint_load(bad, &err) && strstr(err.msg, "too large"),
       "a shape of 1.6e19 elements is refused before allocating: %s", err.msg);
    write_raw(bad, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1000000],\"data_offsets\":[0,4000000]}}", 16);
    ok(!ct_checkpoint_load(bad, &err) && strstr(err.msg, "truncated"),
       "data offsets beyond the file: %s", err.msg);
    write_raw(bad, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 16);
    ok(!ct_checkpoint_load(bad, &err) && strstr(err.msg, "data_offsets"),
       "offsets that disagree with the shape: %s", err.msg);
    write_raw(bad, "{\"x\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 16);
    ok(!ct_checkpoint_load(bad, &err) && strstr(err.msg, "F16"), "another dtype: %s", err.msg);
    write_raw(bad, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16);
    ok(!ct_checkpoint_load(bad, &err) && strstr(err.msg, "overlap"), "overlapping tensors: %s", err.msg);
    write_raw(bad, "{\"__metadata__\":{\"step\":12}}", 0);
    ok(!ct_checkpoint_load(bad, &err) && strstr(err.msg, "strings"), "a non-string metadata value: %s", err.msg);
    ok(!ct_checkpoint_load("/nonexistent/m.safetensors", &err) && strstr(err.msg, "cannot open"),
       "a missing file: %s", err.msg);
    for (int i = 0; i < 3; i++) ct_tensor_free(ts[i]);
}

int main(void)
{
    unsigned seed = 777;
    printf("# seed %u\n", seed);
    ct_rng_seed(&rng, seed);
    if (!mkdtemp(tmpdir)) return 99;
    test_flatten();
    test_adam();
    test_overfit();
    test_checkpoint();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    ct_nn_workspace_release();
    return tap_done();
}
