/*
 * ct_parallel.h - split independent work over threads.
 *
 * Encoding a dataset and parsing its CIFs are independent per structure;
 * these helpers cut the index range into one contiguous share per thread,
 * so results land where a sequential loop would put them and nothing
 * depends on the thread count but the wall time.
 *
 *     static void work(void *ctx, size_t begin, size_t end) { ... }
 *     ct_parallel_for(n, ct_num_threads(n, 64), work, ctx);
 *
 * Threads: CT_NUM_THREADS if set, else the number of online cores.
 */
#ifndef CT_PARALLEL_H
#define CT_PARALLEL_H

#include <stddef.h>

/* Threads worth using for n items when each thread should get at least
   min_share of them (at least 1). */
int ct_num_threads(size_t n, size_t min_share);

/* Call fn(ctx, begin, end) for nthreads contiguous shares of [0, n), the
   first on the calling thread; return when all are done.  A share whose
   thread cannot be started runs on the calling thread. */
void ct_parallel_for(size_t n, int nthreads, void (*fn)(void *ctx, size_t begin, size_t end),
                     void *ctx);

#endif
