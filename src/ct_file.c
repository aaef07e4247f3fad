/* ct_file.c - atomic writes and whole-file reads (see ct_file.h). */
#include "ct_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef NAME_MAX
#define NAME_MAX 255
#endif

/* Follow path through symbolic links (at most 40, as the kernel does) to the
   name a write should replace; the last target need not exist yet.  Returns
   a malloc'd path, or NULL with errno set. */
static char *follow_links(const char *path)
{
    char *cur = strdup(path);
    for (int hops = 0; cur; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
        if (hops == 40) {
            free(cur);
            errno = ELOOP;
            return NULL;
        }
        char target[PATH_MAX];
        ssize_t n = readlink(cur, target, sizeof target - 1);
        if (n < 0) {
            free(cur);
            return NULL;
        }
        target[n] = '\0';
        /* A relative target is relative to the link's folder. */
        const char *slash = strrchr(cur, '/');
        size_t dirlen = target[0] == '/' || !slash ? 0 : (size_t)(slash - cur) + 1;
        char *next = malloc(dirlen + (size_t)n + 1);
        if (next) {
            memcpy(next, cur, dirlen);
            memcpy(next + dirlen, target, (size_t)n + 1);
        }
        free(cur);
        cur = next;
    }
    errno = ENOMEM;
    return NULL;
}

/* The temporaries of path are named "<base>.tmp.<pid>.XXXXXX", base being
   the file name cut so that the whole name fits NAME_MAX.  Split path into
   its folder (with the slash; "" for the current one) and that stem. */
static void temp_stem(const char *path, size_t *dirlen, size_t *stemlen)
{
    const char *slash = strrchr(path, '/');
    *dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    size_t base = strlen(path) - *dirlen;
    /* ".tmp." + up to 10 pid digits + "." + 6 = 22 bytes of suffix. */
    *stemlen = base > NAME_MAX - 22 ? NAME_MAX - 22 : base;
}

/* Remove the temporaries a killed crystens left beside path: files named
   after path's stem whose writer (the pid in the name) no longer runs and
   that belong to us.  A temporary of a running writer is left alone. */
static void clean_stale(const char *path, size_t dirlen, size_t stemlen)
{
    char dir[PATH_MAX];
    if (dirlen >= sizeof dir) return;
    memcpy(dir, dirlen ? path : ".", dirlen ? dirlen : 2);
    if (dirlen) dir[dirlen] = '\0';
    const char *stem = path + dirlen;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (strncmp(name, stem, stemlen) != 0 || strncmp(name + stemlen, ".tmp.", 5) != 0)
            continue;
        char *end;
        errno = 0;
        long pid = strtol(name + stemlen + 5, &end, 10);
        if (errno || pid <= 0 || pid > INT_MAX || *end != '.' || strlen(end + 1) != 6) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char full[PATH_MAX];
        if ((size_t)snprintf(full, sizeof full, "%s%s", dirlen ? dir : "", name) >= sizeof full)
            continue;
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid())
            unlink(full);
    }
    closedir(d);
}

/* Open a target that is not a regular file (a FIFO, /dev/null, a
   terminal) for writing in place: replacing it would destroy it. */
static int open_through(ct_file *f, const char *path, ct_error *err)
{
    int fd = open(f->path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || S_ISREG(st.st_mode))) {
        /* Swapped for a regular file since we looked: not ours to truncate. */
        close(fd);
        fd = -1;
        errno = EAGAIN;
    }
    if (fd < 0 || !(f->fp = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) close(fd);
        return ct_fail(err, CT_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    return CT_OK;
}

int ct_file_open(ct_file *f, const char *path, ct_error *err)
{
    f->fp = NULL;
    f->tmppath = NULL;
    f->path = follow_links(path);
    if (!f->path) return ct_fail(err, CT_EIO, "%s: cannot write: %s", path, strerror(errno));
    struct stat st;
    int exists = stat(f->path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        free(f->path);
        f->path = NULL;
        return ct_fail(err, CT_EIO, "%s: cannot write: it is a folder", path);
    }
    if (exists && !S_ISREG(st.st_mode)) {
        int rc = open_through(f, path, err);
        if (rc != CT_OK) {
            free(f->path);
            f->path = NULL;
        }
        return rc;
    }
    size_t dirlen, stemlen;
    temp_stem(f->path, &dirlen, &stemlen);
    clean_stale(f->path, dirlen, stemlen);
    size_t cap = dirlen + stemlen + 32;
    f->tmppath = malloc(cap);
    if (!f->tmppath) {
        free(f->path);
        f->path = NULL;
        return ct_fail(err, CT_ENOMEM, "%s: out of memory", path);
    }
    snprintf(f->tmppath, cap, "%.*s.tmp.%ld.XXXXXX", (int)(dirlen + stemlen), f->path,
             (long)getpid());
    int fd = mkstemp(f->tmppath);
    if (fd < 0 || !(f->fp = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) { close(fd); unlink(f->tmppath); }
        free(f->path);
        free(f->tmppath);
        f->path = f->tmppath = NULL;
        return ct_fail(err, CT_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    /* mkstemp creates mode 0600: a file we replace keeps its permissions
       (a private file stays private), a new one gets the umask's. */
    mode_t mode;
    if (exists) {
        mode = st.st_mode & 07777;
    } else {
        mode_t mask = umask(0);
        umask(mask);
        mode = 0666 & ~mask;
    }
    fchmod(fd, mode);
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
    errno = 0;
    bad |= fflush(f->fp) != 0;
    /* A FIFO or device written through has nothing to sync or rename. */
    if (f->tmppath) bad |= fsync(fileno(f->fp)) != 0;
    int e = errno;
    bad |= fclose(f->fp) != 0;
    if (!e) e = errno;
    if (!bad && (!f->tmppath || rename(f->tmppath, f->path) == 0)) {
        file_release(f);
        return CT_OK;
    }
    if (!e) e = errno ? errno : EIO;
    if (f->tmppath) unlink(f->tmppath);
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

FILE *ct_file_open_read(const char *path, ct_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) ct_fail(err, CT_EIO, "%s: cannot open: %s", path, strerror(errno));
    return fp;
}

/* Open path for reading, refusing folders and regular files larger than
   max_size before reading anything; *length is the size the file claims
   (0 for pipes and devices). */
static FILE *open_limited(const char *path, size_t max_size, size_t *length, ct_error *err)
{
    FILE *fp = ct_file_open_read(path, err);
    if (!fp) return NULL;
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
        /* Binary data shows in the first block as a rule: refuse it then,
           not after reading gigabytes of it. */
        const char *nul = memchr(buf + from, '\0', got);
        if (nul) {
            status = ct_fail(err, CT_EFORMAT, "%s: binary data (a NUL byte at offset %zu): not "
                             "a text file", path, (size_t)(nul - buf));
            break;
        }
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
