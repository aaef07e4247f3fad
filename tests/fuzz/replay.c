/*
 * replay.c - a fuzz target as a regression test: feed it every file of its
 * corpus, $top_srcdir/tests/fuzz/corpus/FUZZ_NAME (seeds and the inputs
 * that once crashed, hung or leaked: repro-*), or the files named on the
 * command line.  One TAP line per input; a crash ends the run before
 * the plan, which tests/run.sh counts as a failure, and under ASan a leak fails the exit.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "../c/tap.h"

#ifndef FUZZ_NAME
#error "compile with -DFUZZ_NAME=\"target\""
#endif

/* Read a whole file; NULL if it cannot. */
static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *nb = realloc(buf, cap *= 2);
        if (!nb) { free(buf); buf = NULL; }
        else buf = nb;
    }
    fclose(f);
    *size = n;
    return buf;
}

/* Run one input; a crash or hang never returns. */
static void replay(const char *path, const char *label)
{
    size_t size;
    uint8_t *data = slurp(path, &size);
    if (!data) {
        ok(0, "%s: readable", label);
        return;
    }
    clock_t t0 = clock();
    LLVMFuzzerTestOneInput(data, size);
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    free(data);
    /* libFuzzer's -timeout is 10 s on the fuzzing build; be as strict. */
    ok(s < 10, "%s: handled (%.3f s)", label, s);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int regular(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        for (int i = 1; i < argc; i++) replay(argv[i], argv[i]);
        return tap_done();
    }
    const char *top = getenv("top_srcdir");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", top ? top : ".", FUZZ_NAME);
    struct dirent **list;
    int n = scandir(dir, &list, regular, by_name);
    if (n < 0) {
        ok(0, "corpus %s is readable", dir);
        return tap_done();
    }
    for (int i = 0; i < n; i++) {
        char path[8192], label[512];
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        snprintf(label, sizeof label, "%s/%s", FUZZ_NAME, list[i]->d_name);
        replay(path, label);
        free(list[i]);
    }
    free(list);
    return tap_done();
}
