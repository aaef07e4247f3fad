/* ct_common.c - the error helper, the interrupt flag and the small helpers
   of ct_common.h. */
#include "ct_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

volatile sig_atomic_t ct_interrupt_flag = 0;

int ct_fail(ct_error *err, int status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* Messages quote names from files (tensor names, CSV headers,
           labels): a terminal control sequence in one must not reach the
           terminal raw.  C0 controls but newline and tab, DEL, and C1
           controls (U+0080-U+009F in UTF-8) become '?'. */
        for (unsigned char *p = (unsigned char *)err->msg; *p; p++) {
            if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f) *p = '?';
            else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) p[0] = p[1] = '?';
        }
        err->status = status;
    }
    return status;
}

int64_t ct_gcd(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int ct_reserve(void **arr, size_t n, size_t elem)
{
    if (n & (n - 1)) return 1;   /* not a power of two (nor 0): room left */
    size_t want = n ? 2 * n : 1;
    if (elem && want > SIZE_MAX / elem) return 0;
    void *p = realloc(*arr, want * elem);
    if (!p) return 0;
    *arr = p;
    return 1;
}
