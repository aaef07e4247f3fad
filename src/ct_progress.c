/*
 * ct_progress.c - the terminal progress bar.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ct_progress.h"

#define BAR_WIDTH 24

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int wanted(void)
{
    const char *env = getenv("CRYSTENS_PROGRESS");
    if (env && *env) return strcmp(env, "0") != 0;
    return isatty(STDERR_FILENO);
}

void ct_progress_start(ct_progress *p, const char *label, int64_t total)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total > 0 ? total : 0;
    p->start = now();
    p->enabled = wanted();
}

double ct_progress_elapsed(const ct_progress *p)
{
    return now() - p->start;
}

/* Format seconds as "42s", "3m05s" or "1h02m". */
static void fmt_time(char *buf, size_t size, double s)
{
    long t = (long)(s + 0.5);
    if (t < 60) snprintf(buf, size, "%lds", t);
    else if (t < 3600) snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
}

static void draw(ct_progress *p, const char *extra, int final)
{
    double el = now() - p->start;
    double rate = el > 0 ? (double)p->done / el : 0;
    char bar[BAR_WIDTH + 1] = "", tail[32] = "";
    if (p->total) {
        int fill = (int)((double)BAR_WIDTH * (double)p->done / (double)p->total);
        if (fill > BAR_WIDTH) fill = BAR_WIDTH;
        for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = 0;
    }
    if (final) {
        fmt_time(tail, sizeof tail, el);
    } else if (p->total && rate > 0) {
        strcpy(tail, "ETA ");
        fmt_time(tail + 4, sizeof tail - 4, (double)(p->total - p->done) / rate);
    }
    fprintf(stderr, "\r\033[K%s", p->label);
    if (p->total)
        fprintf(stderr, "  [%s]  %lld/%lld  %d%%", bar, (long long)p->done,
                (long long)p->total, (int)(100.0 * (double)p->done / (double)p->total));
    else
        fprintf(stderr, "  %lld", (long long)p->done);
    fprintf(stderr, "  %.0f/s  %s%s%s", rate, tail, extra && *extra ? "  " : "",
            extra ? extra : "");
    fflush(stderr);
    p->drawn = 1;
    p->last_draw = now();
}

void ct_progress_update(ct_progress *p, int64_t done, const char *extra)
{
    p->done = done;
    if (!p->enabled) return;
    if (p->drawn && now() - p->last_draw < 0.1) return;
    draw(p, extra, 0);
}

void ct_progress_finish(ct_progress *p)
{
    if (!p->enabled) return;
    draw(p, NULL, 1);
    fputc('\n', stderr);
    p->enabled = 0;
}
