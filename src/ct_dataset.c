/*
 * ct_dataset.c - loading data sets of structures from CSV, CIF or folders.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ct_cif.h"
#include "ct_csv.h"
#include "ct_dataset.h"
#include "ct_elements.h"
#include "ct_parallel.h"
#include "ct_progress.h"

static int oom(ct_error *err)
{
    return ct_fail(err, CT_ENOMEM, "out of memory loading the data set");
}

static int add_skip(ct_dataset *ds, size_t row, const char *where, const char *reason,
                    ct_error *err)
{
    if (!ct_reserve((void **)&ds->skipped, ds->nskipped, sizeof *ds->skipped)) return oom(err);
    ct_dataset_skip k = {row, strdup(where), strdup(reason)};
    if (!k.where || !k.reason) {
        free(k.where);
        free(k.reason);
        return oom(err);
    }
    ds->skipped[ds->nskipped++] = k;
    return CT_OK;
}

/* Why s does not pass the filters, or NULL. */
static const char *filtered(const ct_structure *s, const ct_dataset_opts *o, char *why,
                            size_t size)
{
    if (o->max_atoms > 0 && s->natoms > o->max_atoms) {
        snprintf(why, size, "%d atoms (more than max_atoms %d)", s->natoms, o->max_atoms);
        return why;
    }
    for (int i = 0; o->elements && i < s->natoms; i++) {
        int ok = 0;
        for (int e = 0; e < o->nelements && !ok; e++) ok = o->elements[e] == s->z[i];
        if (!ok) {
            snprintf(why, size, "element %s is not in the allowed elements",
                     ct_element_symbol(s->z[i]));
            return why;
        }
    }
    return NULL;
}

/* Take s into ds with a copy of its properties (ds->ncols strings), or
   record why it is skipped; s is consumed either way. */
static int add_structure(ct_dataset *ds, ct_structure *s, size_t row, const char *where,
                         char *const *props, const ct_dataset_opts *o, ct_error *err)
{
    char why[128];
    if (filtered(s, o, why, sizeof why)) {
        ct_structure_free(s);
        return add_skip(ds, row, where, why, err);
    }
    /* props grows by rows of ncols pointers, in step with items */
    if (!ct_reserve((void **)&ds->items, ds->n, sizeof *ds->items) ||
        !ct_reserve((void **)&ds->rows, ds->n, sizeof *ds->rows) ||
        (ds->ncols && !ct_reserve((void **)&ds->props, ds->n, ds->ncols * sizeof *ds->props))) {
        ct_structure_free(s);
        return oom(err);
    }
    ds->items[ds->n] = s;
    ds->rows[ds->n] = row;
    size_t first = ds->n * ds->ncols;
    ds->n++;   /* counted first, so ct_dataset_free releases a partial copy */
    for (size_t c = 0; c < ds->ncols; c++) ds->props[first + c] = NULL;
    for (size_t c = 0; c < ds->ncols; c++)
        if (!(ds->props[first + c] = strdup(props[c]))) return oom(err);
    return CT_OK;
}

/* Take the structures and failures of one parsed CIF source. */
static int take_result(ct_dataset *ds, ct_cif_result *r, size_t row, const char *where,
                       char *const *props, const ct_dataset_opts *o, ct_error *err)
{
    int rc = CT_OK;
    char buf[1024];
    if (r->nwarnings && !ds->warning) {
        snprintf(buf, sizeof buf, "%s: %s", where, r->warnings[0]);
        if (!(ds->warning = strdup(buf))) rc = oom(err);
    }
    ds->nwarnings += r->nwarnings;
    for (size_t i = 0; i < r->nfailed && rc == CT_OK; i++) {
        snprintf(buf, sizeof buf, "block %s: %s", r->failed[i].block, r->failed[i].reason);
        rc = add_skip(ds, row, where, buf, err);
    }
    for (size_t i = 0; i < r->n && rc == CT_OK; i++) {
        if (o->limit && ds->n >= o->limit) break;
        rc = add_structure(ds, r->items[i], row, where, props, o, err);
        r->items[i] = NULL;
    }
    ct_cif_result_free(r);
    return rc;
}

static int set_columns(ct_dataset *ds, char *const *names, size_t n, ct_error *err)
{
    ds->columns = calloc(n ? n : 1, sizeof *ds->columns);
    if (!ds->columns) return oom(err);
    for (size_t c = 0; c < n; c++, ds->ncols++)
        if (!(ds->columns[c] = strdup(names[c]))) return oom(err);
    return CT_OK;
}

/* Copy all header names but the CIF column's. */
static int csv_columns(ct_dataset *ds, const ct_csv *csv, int cifcol, ct_error *err)
{
    char **names = malloc((csv->ncols ? csv->ncols : 1) * sizeof *names);
    if (!names) return oom(err);
    size_t n = 0;
    for (size_t c = 0; c < csv->ncols; c++)
        if ((int)c != cifcol) names[n++] = csv->header[c];
    int rc = set_columns(ds, names, n, err);
    free(names);
    return rc;
}

/* CSV rows are parsed in chunks, each chunk's CIFs over threads (gemmi's
   parser is most of a load), then taken in row order, so filters, limit and
   the skipped list come out as a sequential load would make them. */
#define CSV_CHUNK 512

typedef struct {
    const ct_csv *csv;
    int cifcol;
    const char *source;
    size_t first;                      /* the chunk's first row */
    char (*where)[600];
    ct_cif_result *res;
    int *rc;
    ct_error *err;
} csv_chunk;

static void parse_rows(void *ctx, size_t begin, size_t end)
{
    csv_chunk *c = ctx;
    for (size_t k = begin; k < end; k++) {
        size_t r = c->first + k;
        snprintf(c->where[k], sizeof c->where[k], "%s:%zu", c->source, c->csv->line[r]);
        const char *text = ct_csv_cell(c->csv, r, (size_t)c->cifcol);
        c->rc[k] = ct_cif_parse(text, strlen(text), c->where[k], &c->res[k], &c->err[k]);
    }
}

/* Take rows [c->first, c->first + n) of a parsed chunk; the results of rows
   not taken (after the limit or an error) are released. */
static int take_rows(ct_dataset *ds, csv_chunk *c, size_t n, char **props,
                     const ct_dataset_opts *o, ct_error *err)
{
    int rc = CT_OK;
    for (size_t k = 0; k < n; k++) {
        size_t r = c->first + k;
        int done = rc != CT_OK || (o->limit && ds->n >= o->limit);
        if (c->rc[k] != CT_OK) {
            if (!done) rc = add_skip(ds, r + 1, c->where[k], c->err[k].msg, err);
            continue;
        }
        if (done) {
            ct_cif_result_free(&c->res[k]);
            continue;
        }
        size_t m = 0;
        for (size_t col = 0; col < c->csv->ncols; col++)
            if ((int)col != c->cifcol) props[m++] = (char *)ct_csv_cell(c->csv, r, col);
        rc = take_result(ds, &c->res[k], r + 1, c->where[k], props, o, err);
    }
    return rc;
}

static int load_csv_rows(ct_dataset *ds, const ct_csv *csv, int cifcol,
                         const ct_dataset_opts *o, ct_progress *bar, ct_error *err)
{
    csv_chunk c = {csv, cifcol, ds->source, 0, malloc(CSV_CHUNK * sizeof *c.where),
                   malloc(CSV_CHUNK * sizeof *c.res), malloc(CSV_CHUNK * sizeof *c.rc),
                   malloc(CSV_CHUNK * sizeof *c.err)};
    char **props = malloc((csv->ncols ? csv->ncols : 1) * sizeof *props);
    int rc = c.where && c.res && c.rc && c.err && props ? CT_OK : oom(err);
    for (; c.first < csv->nrows && rc == CT_OK; c.first += CSV_CHUNK) {
        if (o->limit && ds->n >= o->limit) break;
        if (ct_interrupted()) {
            rc = ct_fail(err, CT_EINTR, "interrupted");
            break;
        }
        size_t n = csv->nrows - c.first < CSV_CHUNK ? csv->nrows - c.first : CSV_CHUNK;
        ct_parallel_for(n, ct_num_threads(n, 64), parse_rows, &c);
        rc = take_rows(ds, &c, n, props, o, err);
        if (o->progress) ct_progress_update(bar, (int64_t)(c.first + n), NULL);
    }
    free(props);
    free(c.where);
    free(c.res);
    free(c.rc);
    free(c.err);
    return rc;
}

static int load_csv(ct_dataset *ds, const ct_dataset_opts *o, ct_error *err)
{
    ct_csv csv;
    int rc = ct_csv_read(ds->source, &csv, err);
    if (rc != CT_OK) return rc;
    const char *colname = o->column ? o->column : "cif";
    int cifcol = ct_csv_column(&csv, colname);
    if (cifcol < 0) {
        ct_csv_free(&csv);
        return ct_fail(err, CT_EFORMAT, "%s: no column '%s' holding CIF text", ds->source,
                       colname);
    }
    rc = csv_columns(ds, &csv, cifcol, err);
    ct_progress bar;
    if (o->progress) ct_progress_start(&bar, "loading", (int64_t)csv.nrows);
    if (rc == CT_OK) rc = load_csv_rows(ds, &csv, cifcol, o, &bar, err);
    if (o->progress) ct_progress_finish(&bar);
    ct_csv_free(&csv);
    return rc;
}

/* Read one CIF file into ds; a file that is unreadable as a whole is an
   error when strict, else a skipped entry. */
static int load_cif_file(ct_dataset *ds, const char *path, const char *name, size_t row,
                         int strict, const ct_dataset_opts *o, ct_error *err)
{
    ct_cif_result res;
    ct_error e;
    int rc = ct_cif_read(path, &res, &e);
    if (rc != CT_OK) {
        if (strict) {
            *err = e;
            return rc;
        }
        return add_skip(ds, row, path, e.msg, err);
    }
    char *props[1] = {(char *)name};
    return take_result(ds, &res, row, path, props, o, err);
}

static int has_cif_ext(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".cif") == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the .cif files in folder path, sorted; NULL and *n = 0 if
   none (err set) or on failure. */
static char **list_cifs(const char *path, size_t *n, ct_error *err)
{
    *n = 0;
    DIR *d = opendir(path);
    if (!d) {
        ct_fail(err, CT_EIO, "%s: cannot open folder: %s", path, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    struct dirent *e;
    int failed = 0;
    while (!failed && (e = readdir(d))) {
        if (!has_cif_ext(e->d_name)) continue;
        char *copy = strdup(e->d_name);
        if (!copy || !ct_reserve((void **)&names, *n, sizeof *names)) {
            free(copy);
            failed = 1;
            break;
        }
        names[(*n)++] = copy;
    }
    closedir(d);
    if (!failed && *n) {
        qsort(names, *n, sizeof *names, cmp_str);
        return names;
    }
    for (size_t i = 0; i < *n; i++) free(names[i]);
    free(names);
    *n = 0;
    if (failed) oom(err);
    else ct_fail(err, CT_EFORMAT, "%s: no .cif files in this folder", path);
    return NULL;
}

static int load_folder(ct_dataset *ds, const ct_dataset_opts *o, ct_error *err)
{
    size_t n;
    char **names = list_cifs(ds->source, &n, err);
    if (!names) return CT_EFORMAT;
    char *colname = "file";
    int rc = set_columns(ds, &colname, 1, err);
    ct_progress bar;
    if (o->progress) ct_progress_start(&bar, "loading", (int64_t)n);
    for (size_t i = 0; i < n && rc == CT_OK; i++) {
        if (o->limit && ds->n >= o->limit) break;
        if (ct_interrupted()) {
            rc = ct_fail(err, CT_EINTR, "interrupted");
            break;
        }
        size_t len = strlen(ds->source) + strlen(names[i]) + 2;
        char *path = malloc(len);
        if (!path) {
            rc = oom(err);
            break;
        }
        snprintf(path, len, "%s/%s", ds->source, names[i]);
        /* Reading a FIFO would wait for a writer forever; a folder or
           device named .cif is no file of crystals either. */
        struct stat st;
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
            rc = add_skip(ds, i + 1, path, "not a regular file (a FIFO, device or folder)", err);
        else
            rc = load_cif_file(ds, path, names[i], i + 1, 0, o, err);
        free(path);
        if (o->progress) ct_progress_update(&bar, (int64_t)i + 1, NULL);
    }
    if (o->progress) ct_progress_finish(&bar);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int load_single_cif(ct_dataset *ds, const ct_dataset_opts *o, ct_error *err)
{
    const char *base = strrchr(ds->source, '/');
    char *colname = "file";
    int rc = set_columns(ds, &colname, 1, err);
    if (rc != CT_OK) return rc;
    return load_cif_file(ds, ds->source, base ? base + 1 : ds->source, 1, 1, o, err);
}

int ct_dataset_load(const char *path, const ct_dataset_opts *o, ct_dataset **out,
                    ct_error *err)
{
    static const ct_dataset_opts none = {0};
    if (!o) o = &none;
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return ct_fail(err, CT_EIO, "%s: cannot open: %s", path, strerror(errno));
    ct_dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->source = strdup(path))) {
        free(ds);
        return oom(err);
    }
    size_t len = strlen(path);
    int rc;
    if (S_ISDIR(st.st_mode)) rc = load_folder(ds, o, err);
    else if (len > 4 && strcasecmp(path + len - 4, ".csv") == 0) rc = load_csv(ds, o, err);
    else rc = load_single_cif(ds, o, err);
    if (rc != CT_OK) {
        ct_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return CT_OK;
}

int ct_dataset_column(const ct_dataset *ds, const char *name)
{
    return ct_csv_find(ds->columns, ds->ncols, name);
}

void ct_dataset_free(ct_dataset *ds)
{
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++) {
        ct_structure_free(ds->items[i]);
        for (size_t c = 0; c < ds->ncols; c++) free(ds->props[i * ds->ncols + c]);
    }
    for (size_t i = 0; i < ds->nskipped; i++) {
        free(ds->skipped[i].where);
        free(ds->skipped[i].reason);
    }
    for (size_t c = 0; c < ds->ncols; c++) free(ds->columns[c]);
    free(ds->items);
    free(ds->rows);
    free(ds->props);
    free(ds->skipped);
    free(ds->columns);
    free(ds->warning);
    free(ds->source);
    free(ds);
}
