/* ct_file.c - atomic writes and whole-file reads (see ct_file.h). */
#include "ct_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ct_file_open(ct_file *f, const char *path, ct_error *err)
{
    size_t n = strlen(path);
    f->fp = NULL;
    f->path = malloc(n + 1);
    f->tmppath = malloc(n + 16);
    if (!f->path || !f->tmppath) {
        free(f->path);
        free(f->tmppath);
        return ct_fail(err, CT_ENOMEM, "%s: out of memory", path);
    }
    memcpy(f->path, path, n + 1);
    snprintf(f->tmppath, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(f->tmppath);
    if (fd < 0 || !(f->fp = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) { close(fd); unlink(f->tmppath); }
        free(f->path);
        free(f->tmppath);
        return ct_fail(err, CT_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    /* mkstemp creates mode 0600; give the file the usual umask-based mode. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    return CT_OK;
}

static void file_release(ct_file *f)
{
    free(f->path);
    free(f->tmppath);
    f->path = f->tmppath = NULL;
    f->fp = NULL;
}

int ct_file_commit(ct_file *f, ct_error *err)
{
    int bad = ferror(f->fp);
    bad |= fflush(f->fp) != 0;
    bad |= fsync(fileno(f->fp)) != 0;
    int e = errno;
    bad |= fclose(f->fp) != 0;
    if (!bad && rename(f->tmppath, f->path) == 0) {
        file_release(f);
        return CT_OK;
    }
    if (!e) e = errno;
    unlink(f->tmppath);
    ct_fail(err, CT_EIO, "%s: write failed: %s", f->path, strerror(e));
    file_release(f);
    return CT_EIO;
}

void ct_file_abort(ct_file *f)
{
    if (f->fp) fclose(f->fp);
    if (f->tmppath) unlink(f->tmppath);
    file_release(f);
}

int ct_file_write_all(const char *path, const void *data, size_t size, ct_error *err)
{
    ct_file f;
    int rc = ct_file_open(&f, path, err);
    if (rc != CT_OK) return rc;
    if (size && fwrite(data, 1, size, f.fp) != size) {
        ct_fail(err, CT_EIO, "%s: write failed: %s", path, strerror(errno));
        ct_file_abort(&f);
        return CT_EIO;
    }
    return ct_file_commit(&f, err);
}

/* Open path for reading, refusing folders and regular files larger than
   max_size before reading anything; *length is the size the file claims
   (0 for pipes and devices). */
static FILE *open_limited(const char *path, size_t max_size, size_t *length, ct_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        ct_fail(err, CT_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || S_ISDIR(st.st_mode)) {
        ct_fail(err, CT_EIO, "%s: not a regular file", path);
        fclose(fp);
        return NULL;
    }
    *length = S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
    if (*length > max_size) {
        ct_fail(err, CT_ENOMEM, "%s: file of %zu bytes is over the limit of %zu", path,
                *length, max_size);
        fclose(fp);
        return NULL;
    }
    return fp;
}

char *ct_file_read_all(const char *path, size_t max_size, size_t *size, ct_error *err)
{
    size_t length;
    FILE *fp = open_limited(path, max_size, &length, err);
    if (!fp) return NULL;
    size_t cap = length + 1, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, fp);
        int c = n < cap - 1 ? EOF : fgetc(fp);
        if (c == EOF) break;
        /* The file grew while we read it: read on in larger steps. */
        char *nb = cap > max_size ? NULL : realloc(buf, cap * 2);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        buf[n++] = (char)c;
        cap *= 2;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (!buf || bad) {
        free(buf);
        ct_fail(err, bad ? CT_EIO : CT_ENOMEM, "%s: cannot read", path);
        return NULL;
    }
    buf[n] = '\0';
    if (size) *size = n;
    return buf;
}

/* The length of the line that ends at buf[n] (the last '\n' before it). */
static size_t tail_line(const char *buf, size_t n, size_t from, size_t *line_start,
                        size_t *lineno)
{
    for (size_t i = from; i < n; i++)
        if (buf[i] == '\n') {
            *line_start = i + 1;
            (*lineno)++;
        }
    return n - *line_start;
}

char *ct_file_read_text(const char *path, size_t max_size, size_t max_line, size_t *size,
                        ct_error *err)
{
    size_t length;
    FILE *fp = open_limited(path, max_size, &length, err);
    if (!fp) return NULL;
    /* Grow the buffer as text arrives, never to the file's claimed size. */
    size_t cap = 0, n = 0, line_start = 0, lineno = 1;
    char *buf = NULL;
    int status = CT_OK;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            size_t ncap = cap ? 2 * cap : 65536 + 1;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                status = ct_fail(err, CT_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, 65536, fp);
        size_t from = n;
        n += got;
        if (n > max_size) {
            ct_fail(err, CT_ENOMEM, "%s: over the limit of %zu bytes", path, max_size);
            status = CT_ENOMEM;
            break;
        }
        if (tail_line(buf, n, from, &line_start, &lineno) > max_line) {
            ct_fail(err, CT_EFORMAT, "%s:%zu: line longer than %zu bytes (not a text file?)",
                    path, lineno, max_line);
            status = CT_EFORMAT;
            break;
        }
        if (got < 65536) break;
    }
    if (status == CT_OK && ferror(fp)) status = ct_fail(err, CT_EIO, "%s: cannot read", path);
    fclose(fp);
    if (status != CT_OK) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (size) *size = n;
    return buf;
}
