/*
 * ct_file.h - writing files so that nothing is lost.
 *
 * Every file crystens writes (CIF, .npy, checkpoints, reports) goes to a
 * temporary file in the same folder, is flushed to disk, and is renamed over
 * the target: a crash or Ctrl-C mid-write leaves the previous file intact.
 * A symbolic link is kept: the file it points to is replaced.  What is not
 * a regular file (a FIFO, /dev/null, a terminal) is written in place, never
 * replaced.  A temporary is named "<name>.tmp.<pid>.XXXXXX" (the name cut
 * short when the whole would pass NAME_MAX), and the temporaries that a
 * killed writer left beside a file are removed when it is next written.
 *
 *     ct_file f;
 *     if (ct_file_open(&f, "run/ckpt.safetensors", &err) != CT_OK) ...
 *     fwrite(buf, 1, n, f.fp);
 *     if (ct_file_commit(&f, &err) != CT_OK) ...   // or ct_file_abort(&f)
 */
#ifndef CT_FILE_H
#define CT_FILE_H

#include <stdio.h>

#include "ct_common.h"

typedef struct {
    FILE *fp;          /* write here */
    char *path;        /* the final name */
    char *tmppath;     /* the temporary name, in the same folder; NULL when
                          writing in place to a FIFO or device */
} ct_file;

/* Open a temporary file next to path (or next to the file a link at path
   points to) for writing; a FIFO or device at path is opened in place.
   A folder at path is an error. */
int ct_file_open(ct_file *f, const char *path, ct_error *err);

/* Flush, sync and rename the temporary file onto the final path. */
int ct_file_commit(ct_file *f, ct_error *err);

/* Close and delete the temporary file, leaving any previous file alone. */
void ct_file_abort(ct_file *f);

/* Write a whole buffer to path atomically (open + fwrite + commit). */
int ct_file_write_all(const char *path, const void *data, size_t size, ct_error *err);

/* Open path for reading (binary); NULL and a CT_EIO error naming the path
   and the system's reason when it cannot be opened. */
FILE *ct_file_open_read(const char *path, ct_error *err);

/* Read a whole file into a malloc'd, NUL-terminated buffer; *size excludes
   the NUL.  Files over max_size bytes are rejected before reading. */
char *ct_file_read_all(const char *path, size_t max_size, size_t *size, ct_error *err);

/* Longest line the text readers (CIF, CSV) accept, in bytes. */
#define CT_FILE_MAX_LINE ((size_t)1 << 20)

/* As ct_file_read_all, for text: reading stops with an error naming the
   line as soon as a line (up to '\n') exceeds max_line bytes, so a file
   that is one huge line costs about max_line bytes, not its size; and
   as soon as a NUL byte shows (binary data), naming its offset. */
char *ct_file_read_text(const char *path, size_t max_size, size_t max_line, size_t *size,
                        ct_error *err);

#endif
