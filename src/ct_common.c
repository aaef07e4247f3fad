/* ct_common.c - the error helper and the interrupt flag of ct_common.h. */
#include "ct_common.h"

#include <stdarg.h>
#include <stdio.h>

volatile sig_atomic_t ct_interrupt_flag = 0;

int ct_fail(ct_error *err, int status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}
