/*
 * ct_progress.h - a progress bar with rate and time left, for long loops
 * (loading data sets, training).
 *
 *     ct_progress p;
 *     ct_progress_start(&p, "loading", n);
 *     for (i = 0; i < n; i++) {
 *         work(i);
 *         ct_progress_update(&p, i + 1, NULL);      // cheap: redraws 10×/s
 *     }
 *     ct_progress_finish(&p);
 *
 * It draws on stderr, and only when stderr is a terminal: redirected
 * output and test logs stay clean.  CRYSTENS_PROGRESS=1 in the environment
 * forces it on, =0 off.  The bar is one line, rewritten in place, cut to one
 * column less than the terminal is wide (stderr's width, else $COLUMNS):
 *
 *     loading  [#########.........]  4521/8096  56%  3012/s  ETA 1s  extra
 *
 * A ct_progress is a plain value the caller owns; nothing to free.
 */
#ifndef CT_PROGRESS_H
#define CT_PROGRESS_H

#include <stdint.h>

typedef struct {
    char label[48];
    int64_t total;      /* 0 when unknown: no bar, no ETA */
    int64_t done;
    double start;       /* monotonic seconds */
    double last_draw;
    int enabled;        /* stderr is a terminal (or forced) */
    int drawn;          /* something is on the line */
} ct_progress;

/* The terminal's width in columns: stderr's, else $COLUMNS, else 80. */
int ct_progress_columns(void);

/* Start a bar called label for total steps (0: unknown). */
void ct_progress_start(ct_progress *p, const char *label, int64_t total);

/* Record done steps, with optional extra text ("loss 0.31"); redraw at most
   ten times a second. */
void ct_progress_update(ct_progress *p, int64_t done, const char *extra);

/* Draw the final state with the total time and end the line. */
void ct_progress_finish(ct_progress *p);

/* Return the seconds since ct_progress_start. */
double ct_progress_elapsed(const ct_progress *p);

#endif
