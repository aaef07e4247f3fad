/*
 * ct_dataset.h - many structures at once, from
 *   (a) a CSV file with a column of CIF texts (the benchmark files: one CIF
 *       per row; the other columns are kept as per-row properties),
 *   (b) a single CIF file of one or more data blocks, or
 *   (c) a folder of .cif files (read in name order).
 *
 *     ct_dataset_opts o = {.max_atoms = 52};
 *     ct_dataset *ds;
 *     if (ct_dataset_load("mpts_52/test.csv", &o, &ds, &err) != CT_OK) ...
 *     printf("%zu structures, %zu skipped\n", ds->n, ds->nskipped);
 *     const char *id = ct_dataset_prop(ds, 0, ct_dataset_column(ds, "material_id"));
 *     ct_dataset_free(ds);
 *
 * A row or block that yields no structure (bad CIF, partial occupancy, too
 * many atoms, an element outside the filter) is skipped and recorded with
 * its place and reason; only a source that cannot be read at all (missing,
 * empty, not CSV/CIF, a folder without .cif files, a CSV without the CIF
 * column) fails the load.  Long loads show a ct_progress bar on a terminal
 * and stop with CT_EINTR on Ctrl-C.
 *
 * Ownership: the dataset owns its structures and strings; ct_dataset_free
 * releases them.
 */
#ifndef CT_DATASET_H
#define CT_DATASET_H

#include <stddef.h>

#include "ct_common.h"
#include "ct_structure.h"

typedef struct {
    int max_atoms;          /* skip structures with more atoms (0: no limit) */
    const int *elements;    /* if non-NULL, skip structures with other elements */
    int nelements;
    const char *column;     /* the CSV column holding CIF text (NULL: "cif") */
    size_t limit;           /* stop after this many structures (0: all) */
    int progress;           /* show a progress bar (when stderr is a terminal) */
} ct_dataset_opts;

typedef struct {
    size_t row;             /* 1-based record or block number in the source */
    char *where;            /* "test.csv:1234" or "folder/x.cif block y" */
    char *reason;
} ct_dataset_skip;

typedef struct {
    char *source;           /* the path it was loaded from */
    size_t n;
    ct_structure **items;
    size_t ncols;           /* property columns ... */
    char **columns;         /* ... and their names */
    char **props;           /* n × ncols strings, row-major */
    size_t *rows;           /* the source row (1-based) of each structure */
    size_t nskipped;
    ct_dataset_skip *skipped;
    size_t nwarnings;       /* blocks read with a warning (elements guessed) ... */
    char *warning;          /* ... and the first one, "where: what" (NULL if none) */
} ct_dataset;

/* Load a data set from a CSV file, a CIF file or a folder of CIF files. */
int ct_dataset_load(const char *path, const ct_dataset_opts *o, ct_dataset **out,
                    ct_error *err);

/* Return the index of property column name, or -1. */
int ct_dataset_column(const ct_dataset *ds, const char *name);

/* Return property col of structure i (0-based). */
static inline const char *ct_dataset_prop(const ct_dataset *ds, size_t i, size_t col)
{
    return ds->props[i * ds->ncols + col];
}

/* Release ds and everything in it.  NULL is a no-op. */
void ct_dataset_free(ct_dataset *ds);

#endif
