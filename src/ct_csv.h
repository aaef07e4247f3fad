/*
 * ct_csv.h - reading comma-separated files as RFC 4180 defines them:
 * fields in double quotes may hold commas, newlines and doubled quotes
 * (""), as the benchmark CSVs' cif column does.  CRLF and LF both end a
 * record (a lone CR is text, also after a closing quote, where it is an
 * error); a final newline is optional; blank lines are skipped.
 *
 *     ct_csv csv;
 *     if (ct_csv_read("mpts_52/test.csv", &csv, &err) != CT_OK) ...
 *     int col = ct_csv_column(&csv, "cif");
 *     for (size_t r = 0; r < csv.nrows; r++)
 *         use(ct_csv_cell(&csv, r, col), csv.line[r]);
 *     ct_csv_free(&csv);
 *
 * The first record is the header.  Every record must have as many fields
 * as the header; a ragged record or an unterminated quote is an error
 * naming the line.  Ownership: the ct_csv owns all its strings until
 * ct_csv_free.
 */
#ifndef CT_CSV_H
#define CT_CSV_H

#include <stddef.h>

#include "ct_common.h"

typedef struct {
    size_t ncols;      /* fields per record */
    size_t nrows;      /* records after the header */
    char **header;     /* ncols column names */
    char **cells;      /* nrows × ncols fields, row-major, NUL-terminated */
    size_t *line;      /* the line each record starts on (1-based) */
    char *buf;         /* the unquoted text all strings point into */
} ct_csv;

/* Parse len bytes of CSV text; source names it in messages. */
int ct_csv_parse(const char *text, size_t len, const char *source, ct_csv *out,
                 ct_error *err);

/* Read and parse the CSV file at path. */
int ct_csv_read(const char *path, ct_csv *out, ct_error *err);

/* Return the index of the column called name, or -1. */
int ct_csv_column(const ct_csv *csv, const char *name);

/* Return the index of name among names[0..n) (first match), or -1: the
   lookup behind ct_csv_column, for column lists kept elsewhere. */
int ct_csv_find(char *const *names, size_t n, const char *name);

/* Return the field of record row (0-based) in column col. */
static inline const char *ct_csv_cell(const ct_csv *csv, size_t row, size_t col)
{
    return csv->cells[row * csv->ncols + col];
}

/* Release what csv holds and zero it. */
void ct_csv_free(ct_csv *csv);

#endif
