/*
 * ct_csv.c - an RFC 4180 CSV reader in one pass over the text.
 *
 * Fields are unquoted into one buffer as large as the input: a field's
 * terminating NUL takes the place of the comma or newline after it, and
 * quotes are dropped, so the unquoted text never outgrows the original.
 */
#include <stdlib.h>
#include <string.h>

#include "ct_csv.h"
#include "ct_file.h"

/* A CSV file larger than this is refused (bytes). */
#define CSV_MAX_FILE ((size_t)1 << 32)

/* Growable arrays (ct_reserve) of field pointers and record lines. */
typedef struct {
    char **fields;
    size_t nfields;
    size_t *lines;
    size_t nrec;
} grow;

static int push_field(grow *g, char *f)
{
    if (!ct_reserve((void **)&g->fields, g->nfields, sizeof *g->fields)) return 0;
    g->fields[g->nfields++] = f;
    return 1;
}

static int push_line(grow *g, size_t line)
{
    if (!ct_reserve((void **)&g->lines, g->nrec, sizeof *g->lines)) return 0;
    g->lines[g->nrec++] = line;
    return 1;
}

typedef struct {
    const char *text;
    size_t len, pos, line;
    char *buf;
    size_t out;
    const char *source;
} scanner;

/* Is pos at the end of a field: the text's end, a comma, LF or CRLF?  A
   lone CR is not a line end (it is text inside a field): records and line
   numbers count LF only. */
static int at_field_end(const scanner *s)
{
    if (s->pos >= s->len) return 1;
    char c = s->text[s->pos];
    if (c == ',' || c == '\n') return 1;
    return c == '\r' && (s->pos + 1 == s->len || s->text[s->pos + 1] == '\n');
}

/* Scan a quoted field (pos at the opening quote) into the buffer. */
static int scan_quoted(scanner *s, ct_error *err)
{
    size_t start_line = s->line;
    s->pos++;
    for (;;) {
        if (s->pos >= s->len)
            return ct_fail(err, CT_EFORMAT, "%s:%zu: quoted field never closed", s->source,
                           start_line);
        char c = s->text[s->pos];
        if (c == '"') {
            if (s->pos + 1 < s->len && s->text[s->pos + 1] == '"') {
                s->buf[s->out++] = '"';
                s->pos += 2;
                continue;
            }
            s->pos++;
            break;
        }
        if (c == '\n') s->line++;
        s->buf[s->out++] = c;
        s->pos++;
    }
    if (!at_field_end(s))
        return ct_fail(err, CT_EFORMAT, "%s:%zu: text after a closing quote", s->source, s->line);
    return CT_OK;
}

/* Scan an unquoted field up to the next comma or end of line. */
static void scan_plain(scanner *s)
{
    while (!at_field_end(s)) s->buf[s->out++] = s->text[s->pos++];
}

/* Scan one record; return the number of fields in *nf. */
static int scan_record(scanner *s, grow *g, size_t *nf, ct_error *err)
{
    *nf = 0;
    for (;;) {
        char *field = s->buf + s->out;
        if (s->pos < s->len && s->text[s->pos] == '"') {
            int rc = scan_quoted(s, err);
            if (rc != CT_OK) return rc;
        } else {
            scan_plain(s);
        }
        s->buf[s->out++] = 0;
        if (!push_field(g, field)) return ct_fail(err, CT_ENOMEM, "%s: out of memory", s->source);
        (*nf)++;
        if (s->pos < s->len && s->text[s->pos] == ',') {
            s->pos++;
            continue;
        }
        if (s->pos < s->len && s->text[s->pos] == '\r') s->pos++;
        if (s->pos < s->len && s->text[s->pos] == '\n') {
            s->pos++;
            s->line++;
        }
        return CT_OK;
    }
}

/* Skip an empty line at pos; return 1 if there was one. */
static int skip_blank(scanner *s)
{
    size_t p = s->pos;
    if (p < s->len && s->text[p] == '\r') p++;
    if (p < s->len && s->text[p] == '\n') {
        s->pos = p + 1;
        s->line++;
        return 1;
    }
    return 0;
}

static int scan_all(scanner *s, grow *g, size_t *ncols, ct_error *err)
{
    *ncols = 0;
    while (s->pos < s->len) {
        if (skip_blank(s)) continue;
        size_t line = s->line, nf;
        int rc = scan_record(s, g, &nf, err);
        if (rc != CT_OK) return rc;
        if (!push_line(g, line)) return ct_fail(err, CT_ENOMEM, "%s: out of memory", s->source);
        if (g->nrec == 1) *ncols = nf;
        else if (nf != *ncols)
            return ct_fail(err, CT_EFORMAT, "%s:%zu: %zu fields where the header has %zu",
                           s->source, line, nf, *ncols);
    }
    if (g->nrec == 0) return ct_fail(err, CT_EFORMAT, "%s: empty CSV file", s->source);
    return CT_OK;
}

int ct_csv_parse(const char *text, size_t len, const char *source, ct_csv *out, ct_error *err)
{
    memset(out, 0, sizeof *out);
    if (memchr(text, '\0', len))
        return ct_fail(err, CT_EFORMAT, "%s: not a CSV file (binary data)", source);
    /* A UTF-8 byte order mark (Excel writes one) is not part of the first
       column's name. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    scanner s = {text, len, 0, 1, malloc(len + 1), 0, source};
    grow g = {0};
    if (!s.buf) return ct_fail(err, CT_ENOMEM, "%s: out of memory", source);
    size_t ncols;
    int rc = scan_all(&s, &g, &ncols, err);
    if (rc != CT_OK) {
        free(s.buf);
        free(g.fields);
        free(g.lines);
        return rc;
    }
    out->buf = s.buf;
    out->ncols = ncols;
    out->nrows = g.nrec - 1;
    out->header = g.fields;
    out->cells = g.fields + ncols;
    memmove(g.lines, g.lines + 1, out->nrows * sizeof *g.lines);
    out->line = g.lines;
    return CT_OK;
}

int ct_csv_read(const char *path, ct_csv *out, ct_error *err)
{
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = ct_file_read_text(path, CSV_MAX_FILE, CT_FILE_MAX_LINE, &len, err);
    if (!text) return CT_EIO;
    int rc = ct_csv_parse(text, len, path, out, err);
    free(text);
    return rc;
}

int ct_csv_find(char *const *names, size_t n, const char *name)
{
    for (size_t c = 0; c < n; c++)
        if (strcmp(names[c], name) == 0) return (int)c;
    return -1;
}

int ct_csv_column(const ct_csv *csv, const char *name)
{
    return ct_csv_find(csv->header, csv->ncols, name);
}

void ct_csv_free(ct_csv *csv)
{
    free(csv->buf);
    free(csv->header);   /* the field array; cells point into it */
    free(csv->line);
    memset(csv, 0, sizeof *csv);
}
