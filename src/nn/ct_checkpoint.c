/* ct_checkpoint.c - safetensors writer and validating reader (see ct_checkpoint.h). */
#include "ct_checkpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ct_file.h"

/* ---- Writing ---------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + n;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, (size_t)n);
}

/* A JSON string literal: quotes, backslashes and control bytes escaped. */
static void sb_json_string(strbuf *b, const char *s)
{
    sb_puts(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_put(b, s, 1);
        }
    }
    sb_puts(b, "\"");
}

static void build_header(strbuf *b, const char *const *names, ct_tensor *const *ts, int n,
                         const char *const *keys, const char *const *values, int nmeta)
{
    sb_puts(b, "{\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
        if (i) sb_puts(b, ",");
        sb_json_string(b, keys[i]);
        sb_puts(b, ":");
        sb_json_string(b, values[i]);
    }
    sb_puts(b, "}");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        sb_puts(b, ",");
        sb_json_string(b, names[i]);
        sb_puts(b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < ts[i]->ndim; d++) sb_printf(b, "%s%lld", d ? "," : "", (long long)ts[i]->shape[d]);
        sb_printf(b, "],\"data_offsets\":[%lld,", (long long)off);
        off += ts[i]->numel * sizeof(float);
        sb_printf(b, "%lld]}", (long long)off);
    }
    sb_puts(b, "}");
    while (b->len % 8) sb_puts(b, " ");   /* keep the data 8-byte aligned */
}

int ct_checkpoint_save(const char *path, const char *const *names, ct_tensor *const *ts, int n,
                       const char *const *keys, const char *const *values, int nmeta,
                       ct_error *err)
{
    strbuf b = {0};
    build_header(&b, names, ts, n, keys, values, nmeta);
    if (b.oom) {
        free(b.s);
        return ct_fail(err, CT_ENOMEM, "%s: out of memory for the header", path);
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)b.len >> (8 * i));
    ct_file f;
    int rc = ct_file_open(&f, path, err);
    if (rc != CT_OK) {
        free(b.s);
        return rc;
    }
    int ok = fwrite(len8, 1, 8, f.fp) == 8 && fwrite(b.s, 1, b.len, f.fp) == b.len;
    for (int i = 0; ok && i < n; i++)
        ok = fwrite(ts[i]->data, sizeof(float), ts[i]->numel, f.fp) == ts[i]->numel;
    free(b.s);
    if (!ok) {
        ct_fail(err, CT_EIO, "%s: write failed: %s", path, strerror(errno));
        ct_file_abort(&f);
        return CT_EIO;
    }
    return ct_file_commit(&f, err);
}

/* ---- Reading: a JSON parser for exactly the safetensors header ------------- */

typedef struct {
    const char *p, *end;
    const char *path;
    ct_error *err;
    int failed;
} jparser;

static int jfail(jparser *j, const char *why)
{
    if (!j->failed)
        ct_fail(j->err, CT_EFORMAT, "%s: corrupt safetensors header: %s", j->path, why);
    j->failed = 1;
    return CT_EFORMAT;
}

static void jws(jparser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) j->p++;
}

static int jexpect(jparser *j, char c)
{
    jws(j);
    if (j->p >= j->end || *j->p != c) {
        char why[40];
        snprintf(why, sizeof why, "expected '%c'", c);
        return jfail(j, why);
    }
    j->p++;
    return CT_OK;
}

/* Peek at the next non-space byte (0 at the end). */
static char jpeek(jparser *j)
{
    jws(j);
    return j->p < j->end ? *j->p : 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Append code point cp as UTF-8. */
static void put_utf8(strbuf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xc0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
    }
    sb_put(b, u, n);
}

static int read_hex4(jparser *j, unsigned *cp)
{
    if (j->end - j->p < 4) return jfail(j, "truncated \\u escape");
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(*j->p++);
        if (h < 0) return jfail(j, "bad \\u escape");
        *cp = *cp << 4 | (unsigned)h;
    }
    return CT_OK;
}

/* Parse a string literal into a malloc'd C string (NULL when only skipping). */
static int jstring(jparser *j, char **out)
{
    if (jexpect(j, '"') != CT_OK) return CT_EFORMAT;
    strbuf b = {0};
    sb_puts(&b, "");
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if ((unsigned char)c < 0x20) break;
        if (c != '\\') {
            sb_put(&b, &c, 1);
            continue;
        }
        if (j->p >= j->end) break;
        char e = *j->p++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (simple && e) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            sb_put(&b, &map[simple - "\"\\/bfnrt"], 1);
        } else if (e == 'u') {
            unsigned cp, lo;
            if (read_hex4(j, &cp) != CT_OK) break;
            if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' &&
                j->p[1] == 'u') {
                j->p += 2;
                if (read_hex4(j, &lo) != CT_OK) break;
                if (lo < 0xdc00 || lo > 0xdfff) break;   /* not a surrogate pair */
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            put_utf8(&b, cp);
        } else {
            break;
        }
    }
    if (j->failed || j->p >= j->end || *j->p != '"' || b.oom) {
        free(b.s);
        return jfail(j, b.oom ? "out of memory" : "bad string");
    }
    j->p++;
    if (out) *out = b.s;
    else free(b.s);
    return CT_OK;
}

/* Parse a non-negative integer. */
static int juint(jparser *j, uint64_t *v)
{
    jws(j);
    const char *start = j->p;
    *v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (*v > (UINT64_MAX - 9) / 10) return jfail(j, "integer too large");
        *v = *v * 10 + (uint64_t)(*j->p++ - '0');
    }
    return j->p == start ? jfail(j, "expected a non-negative integer") : CT_OK;
}

/* Parse "[a, b, ...]" of at most max integers; return the count in *n. */
static int juint_array(jparser *j, uint64_t *vals, int max, int *n)
{
    *n = 0;
    if (jexpect(j, '[') != CT_OK) return CT_EFORMAT;
    if (jpeek(j) == ']') {
        j->p++;
        return CT_OK;
    }
    for (;;) {
        if (*n == max) return jfail(j, "array too long");
        if (juint(j, &vals[(*n)++]) != CT_OK) return CT_EFORMAT;
        if (jpeek(j) == ',') { j->p++; continue; }
        return jexpect(j, ']');
    }
}

/* Skip any JSON value (for keys we do not use), to a bounded depth. */
static int jskip(jparser *j, int depth)
{
    if (depth > 32) return jfail(j, "nested too deeply");
    char c = jpeek(j);
    if (c == '"') return jstring(j, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        if (jpeek(j) == close) { j->p++; return CT_OK; }
        for (;;) {
            if (c == '{' && (jstring(j, NULL) != CT_OK || jexpect(j, ':') != CT_OK)) return CT_EFORMAT;
            if (jskip(j, depth + 1) != CT_OK) return CT_EFORMAT;
            if (jpeek(j) == ',') { j->p++; continue; }
            return jexpect(j, close);
        }
    }
    const char *start = j->p;
    while (j->p < j->end && strchr("+-.0123456789eEtruefalsn", *j->p)) j->p++;
    return j->p == start ? jfail(j, "unexpected character") : CT_OK;
}

/* One tensor entry as the header describes it. */
typedef struct {
    char *name;
    int ndim;
    int64_t shape[CT_MAXDIM];
    uint64_t begin, end;
} entry;

/* Read an object's next key and its ':' into *key (the caller frees it). */
static int jkey(jparser *j, char **key)
{
    *key = NULL;
    if (jstring(j, key) == CT_OK && jexpect(j, ':') == CT_OK) return CT_OK;
    free(*key);
    *key = NULL;
    return CT_EFORMAT;
}

static int parse_entry(jparser *j, entry *e)
{
    int have_dtype = 0, have_shape = 0, have_off = 0;
    if (jexpect(j, '{') != CT_OK) return CT_EFORMAT;
    while (jpeek(j) != '}') {
        char *key;
        if (jkey(j, &key) != CT_OK) return CT_EFORMAT;
        int rc;
        if (strcmp(key, "dtype") == 0) {
            char *dt = NULL;
            rc = jstring(j, &dt);
            if (rc == CT_OK && strcmp(dt, "F32") != 0) {
                ct_fail(j->err, CT_EFORMAT, "%s: tensor '%s' has dtype %s; only F32 is supported",
                        j->path, e->name, dt);
                j->failed = 1;
                rc = CT_EFORMAT;
            }
            free(dt);
            have_dtype = 1;
        } else if (strcmp(key, "shape") == 0) {
            uint64_t v[CT_MAXDIM];
            rc = juint_array(j, v, CT_MAXDIM, &e->ndim);
            for (int d = 0; rc == CT_OK && d < e->ndim; d++) {
                if (v[d] > CT_MAXNUMEL) rc = jfail(j, "dimension too large");
                e->shape[d] = (int64_t)v[d];
            }
            have_shape = 1;
        } else if (strcmp(key, "data_offsets") == 0) {
            uint64_t v[2];
            int n;
            rc = juint_array(j, v, 2, &n);
            if (rc == CT_OK && n != 2) rc = jfail(j, "data_offsets needs two numbers");
            e->begin = v[0];
            e->end = v[1];
            have_off = 1;
        } else {
            rc = jskip(j, 1);
        }
        free(key);
        if (rc != CT_OK) return CT_EFORMAT;
        if (jpeek(j) == ',') j->p++;
        else if (jpeek(j) != '}') return jfail(j, "expected ',' or '}'");
    }
    j->p++;
    if (!have_dtype || !have_shape || !have_off) return jfail(j, "tensor entry lacks dtype, shape or data_offsets");
    return CT_OK;
}

static int parse_meta(jparser *j, ct_checkpoint *ck)
{
    if (jexpect(j, '{') != CT_OK) return CT_EFORMAT;
    while (jpeek(j) != '}') {
        ct_ckpt_meta m = {NULL, NULL};
        if (jstring(j, &m.key) != CT_OK || jexpect(j, ':') != CT_OK || jpeek(j) != '"' ||
            jstring(j, &m.value) != CT_OK) {
            free(m.key);
            free(m.value);
            return jfail(j, "__metadata__ must map strings to strings");
        }
        ct_ckpt_meta *p = realloc(ck->meta, (size_t)(ck->nmeta + 1) * sizeof *p);
        if (!p) {
            free(m.key);
            free(m.value);
            return jfail(j, "out of memory");
        }
        ck->meta = p;
        ck->meta[ck->nmeta++] = m;
        if (jpeek(j) == ',') j->p++;
        else if (jpeek(j) != '}') return jfail(j, "expected ',' or '}'");
    }
    j->p++;
    return CT_OK;
}

/* Parse the whole header into metadata (in ck) and entries. */
static int parse_header(jparser *j, ct_checkpoint *ck, entry **entries, int *n)
{
    *entries = NULL;
    *n = 0;
    if (jexpect(j, '{') != CT_OK) return CT_EFORMAT;
    while (jpeek(j) != '}') {
        char *key;
        if (jkey(j, &key) != CT_OK) return CT_EFORMAT;
        if (strcmp(key, "__metadata__") == 0) {
            free(key);
            if (parse_meta(j, ck) != CT_OK) return CT_EFORMAT;
        } else {
            entry *p = realloc(*entries, (size_t)(*n + 1) * sizeof *p);
            if (!p) {
                free(key);
                return jfail(j, "out of memory");
            }
            *entries = p;
            entry *e = &p[(*n)++];
            memset(e, 0, sizeof *e);
            e->name = key;
            if (parse_entry(j, e) != CT_OK) return CT_EFORMAT;
        }
        if (jpeek(j) == ',') j->p++;
        else if (jpeek(j) != '}') return jfail(j, "expected ',' or '}'");
    }
    return CT_OK;
}

/* Check an entry's extent against its shape and the data section. */
static int check_entry(const char *path, const entry *e, uint64_t data_size, ct_error *err)
{
    uint64_t numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        if (e->shape[d] && numel > CT_MAXNUMEL / (uint64_t)e->shape[d])
            return ct_fail(err, CT_EFORMAT, "%s: tensor '%s' is too large", path, e->name);
        numel *= (uint64_t)e->shape[d];
    }
    if (e->end < e->begin || e->end - e->begin != numel * 4)
        return ct_fail(err, CT_EFORMAT, "%s: tensor '%s' has data_offsets [%llu, %llu] for %llu floats",
                       path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                       (unsigned long long)numel);
    if (e->end > data_size)
        return ct_fail(err, CT_EFORMAT, "%s: truncated: tensor '%s' ends at byte %llu of a %llu-byte "
                       "data section", path, e->name, (unsigned long long)e->end,
                       (unsigned long long)data_size);
    return CT_OK;
}

static int by_offset(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Read the header text: length word checked against the file size. */
static char *read_header(FILE *fp, const char *path, uint64_t *hlen, uint64_t *data_size,
                         ct_error *err)
{
    struct stat st;
    unsigned char len8[8];
    if (fstat(fileno(fp), &st) != 0 || fread(len8, 1, 8, fp) != 8) {
        ct_fail(err, CT_EFORMAT, "%s: not a safetensors file: shorter than 8 bytes", path);
        return NULL;
    }
    *hlen = 0;
    for (int i = 7; i >= 0; i--) *hlen = *hlen << 8 | len8[i];
    uint64_t fsize = (uint64_t)st.st_size;
    if (*hlen < 2 || *hlen > CT_CKPT_MAX_HEADER || *hlen > fsize - 8) {
        ct_fail(err, CT_EFORMAT, "%s: not a safetensors file or truncated: header length %llu "
                "in a file of %llu bytes", path, (unsigned long long)*hlen, (unsigned long long)fsize);
        return NULL;
    }
    *data_size = fsize - 8 - *hlen;
    char *h = malloc((size_t)*hlen);
    if (!h) ct_fail(err, CT_ENOMEM, "%s: out of memory for the header", path);
    else if (fread(h, 1, (size_t)*hlen, fp) != *hlen) {
        ct_fail(err, CT_EFORMAT, "%s: truncated header", path);
        free(h);
        h = NULL;
    }
    return h;
}

/* Allocate and read every tensor the (validated) entries describe. */
static int read_tensors(FILE *fp, const char *path, uint64_t hlen, entry *es, int n,
                        ct_checkpoint *ck, ct_error *err)
{
    ck->tensors = calloc((size_t)(n ? n : 1), sizeof *ck->tensors);
    if (!ck->tensors) return ct_fail(err, CT_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        ct_tensor *t = ct_tensor_empty(es[i].ndim, es[i].shape, err);
        if (!t) return CT_ENOMEM;
        ck->tensors[i].t = t;
        ck->tensors[i].name = es[i].name;
        es[i].name = NULL;
        ck->ntensors = i + 1;
        if (fseeko(fp, (off_t)(8 + hlen + es[i].begin), SEEK_SET) != 0 ||
            fread(t->data, sizeof(float), t->numel, fp) != t->numel)
            return ct_fail(err, CT_EFORMAT, "%s: truncated data of tensor '%s'", path,
                           ck->tensors[i].name);
    }
    return CT_OK;
}

ct_checkpoint *ct_checkpoint_load(const char *path, ct_error *err)
{
    FILE *fp = ct_file_open_read(path, err);
    if (!fp) return NULL;
    uint64_t hlen, data_size;
    char *h = read_header(fp, path, &hlen, &data_size, err);
    ct_checkpoint *ck = h ? calloc(1, sizeof *ck) : NULL;
    entry *es = NULL;
    int n = 0, rc = h && !ck ? ct_fail(err, CT_ENOMEM, "out of memory") : h ? CT_OK : CT_EFORMAT;
    if (rc == CT_OK) {
        jparser j = {h, h + hlen, path, err, 0};
        rc = parse_header(&j, ck, &es, &n);
    }
    for (int i = 0; rc == CT_OK && i < n; i++) rc = check_entry(path, &es[i], data_size, err);
    if (rc == CT_OK) {
        if (n > 1) qsort(es, (size_t)n, sizeof *es, by_offset);   /* es is NULL when n == 0 */
        for (int i = 1; rc == CT_OK && i < n; i++)
            if (es[i].begin < es[i - 1].end)
                rc = ct_fail(err, CT_EFORMAT, "%s: tensors '%s' and '%s' overlap", path,
                             es[i - 1].name, es[i].name);
    }
    if (rc == CT_OK) rc = read_tensors(fp, path, hlen, es, n, ck, err);
    for (int i = 0; i < n; i++) free(es[i].name);
    free(es);
    free(h);
    fclose(fp);
    if (rc != CT_OK) {
        ct_checkpoint_free(ck);
        return NULL;
    }
    return ck;
}

const char *ct_checkpoint_meta(const ct_checkpoint *ck, const char *key)
{
    for (int i = 0; i < ck->nmeta; i++)
        if (strcmp(ck->meta[i].key, key) == 0) return ck->meta[i].value;
    return NULL;
}

void ct_checkpoint_free(ct_checkpoint *ck)
{
    if (!ck) return;
    for (int i = 0; i < ck->ntensors; i++) {
        free(ck->tensors[i].name);
        ct_tensor_free(ck->tensors[i].t);
    }
    for (int i = 0; i < ck->nmeta; i++) {
        free(ck->meta[i].key);
        free(ck->meta[i].value);
    }
    free(ck->tensors);
    free(ck->meta);
    free(ck);
}
