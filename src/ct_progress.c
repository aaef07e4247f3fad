/*
 * ct_progress.c - the terminal progress bar.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

int ct_progress_columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *env = getenv("COLUMNS");
    int n = env ? atoi(env) : 0;
    return n > 1 ? n : 80;
}

/* Cut the UTF-8 text s to at most width characters.  A line as wide as the
   terminal wraps the cursor to the next line, and every redraw would then
   start a new line: the bar stays one column short. */
static void fit(char *s, int width)
{
    int chars = 0;
    for (char *c = s; *c; c++) {
        if (((unsigned char)*c & 0xC0) == 0x80) continue;   /* a continuation byte */
        if (chars++ == width) {
            *c = 0;
            return;
        }
    }
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
    char line[512];
    int len = snprintf(line, sizeof line, "%s", p->label);
    if (p->total)
        len += snprintf(line + len, sizeof line - (size_t)len, "  [%s]  %lld/%lld  %d%%", bar,
                        (long long)p->done, (long long)p->total,
                        (int)(100.0 * (double)p->done / (double)p->total));
    else
        len += snprintf(line + len, sizeof line - (size_t)len, "  %lld", (long long)p->done);
    snprintf(line + len, sizeof line - (size_t)len, "  %.0f/s  %s%s%s", rate, tail,
             extra && *extra ? "  " : "", extra ? extra : "");
    fit(line, ct_progress_columns() - 1);
    fprintf(stderr, "\r\033[K%s", line);
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
