/*
 * tap.h - a Test Anything Protocol emitter for the C unit tests.
 *
 *     int main(void) {
 *         ok(1 + 1 == 2, "addition");
 *         near(x, 0.5, 1e-6, "x is a half");
 *         return tap_done();
 *     }
 *
 * Each check prints "ok N - name" or "not ok N - name" with the values that
 * differed; tap_done prints the plan and returns the exit status.
 */
#ifndef TAP_H
#define TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

static int ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!cond) tap_failed++;
    fflush(stdout);
    return cond;
}

/* Check |got - want| <= tol, printing both on failure. */
#define near(got, want, tol, name) \
    (ok(fabs((double)(got) - (double)(want)) <= (tol), "%s", name) || \
     (printf("#   got %.9g, want %.9g (tolerance %g)\n", (double)(got), (double)(want), (double)(tol)), 0))

static int tap_done(void) __attribute__((unused));
static int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
