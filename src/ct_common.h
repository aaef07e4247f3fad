/*
 * ct_common.h - what every part of the crystens C core shares: the error
 * convention and the interrupt flag.
 *
 * Errors.  A core function that can fail returns CT_OK (0) or a negative
 * ct_status, and writes a one-line, human-readable reason into a ct_error the
 * caller owns.  The core never longjmps, exits or aborts: each of those would
 * end a user's REPL session.  The Lua bindings turn a failure into a Lua error
 * through ctL_raise (src/lua/lua_ct.h), which keeps what the status says
 * (CT_EINTR raises "interrupted!"):
 *
 *     ct_error err;
 *     int rc = ct_tensor_save_npy(t, path, &err);
 *     if (rc != CT_OK) return ctL_raise(L, &err, rc);
 *
 * Interruption.  Lua's hook cannot fire inside a long C call, so long loops in
 * the core poll ct_interrupted() (a flag the REPL's SIGINT handler sets) and
 * fail with CT_EINTR, like ggml's abort callback.
 */
#ifndef CT_COMMON_H
#define CT_COMMON_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CT_OK = 0,
    CT_EINVAL = -1,   /* bad argument: shape, range, NaN */
    CT_ENOMEM = -2,   /* allocation failed or a size is beyond reason */
    CT_EIO = -3,      /* a file could not be opened, read or written */
    CT_EFORMAT = -4,  /* a file or string is malformed */
    CT_EINTR = -5     /* the user pressed Ctrl-C */
} ct_status;

/* Why a call failed: the message, and the status that came with it, so a
   function that returns NULL still tells out-of-memory and Ctrl-C from
   bad input. */
typedef struct {
    char msg[512];
    int status;   /* a ct_status */
} ct_error;

/* Fill err (if non-NULL) with a printf-style message and status; return
   status. */
int ct_fail(ct_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The interrupt flag: set from a signal handler, polled by long loops. */
extern volatile sig_atomic_t ct_interrupt_flag;

/* Return non-zero if the user asked to interrupt the running work. */
static inline int ct_interrupted(void) { return ct_interrupt_flag != 0; }

/* The greatest common divisor of a and b (non-negative); gcd(a, 0) = a. */
int64_t ct_gcd(int64_t a, int64_t b);

/* Make room in *arr, a malloc'd array holding n items of elem bytes, for
   one more: it doubles when n is 0 or a power of two, so n pushes cost
   log2(n) reallocs and the array needs no separate capacity.  Return 0,
   *arr untouched, when out of memory or the size would overflow. */
int ct_reserve(void **arr, size_t n, size_t elem);

/* Number of elements in an array. */
#define CT_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

#endif
