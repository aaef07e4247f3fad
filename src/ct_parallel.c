/* ct_parallel.c - the thread helpers of ct_parallel.h. */
#include "ct_parallel.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 64

int ct_num_threads(size_t n, size_t min_share)
{
    const char *env = getenv("CT_NUM_THREADS");
    long t = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    if (t > MAX_THREADS) t = MAX_THREADS;
    if (min_share && (size_t)t > n / min_share) t = (long)(n / min_share);
    return t < 1 ? 1 : (int)t;
}

typedef struct {
    void (*fn)(void *, size_t, size_t);
    void *ctx;
    size_t begin, end;
} share;

static void *run_share(void *arg)
{
    share *s = arg;
    s->fn(s->ctx, s->begin, s->end);
    return NULL;
}

void ct_parallel_for(size_t n, int nthreads, void (*fn)(void *ctx, size_t begin, size_t end),
                     void *ctx)
{
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
    share sh[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int running[MAX_THREADS] = {0};
    for (int k = 0; k < nthreads; k++)
        sh[k] = (share){fn, ctx, n * k / nthreads, n * (k + 1) / nthreads};
    for (int k = 1; k < nthreads; k++)
        running[k] = pthread_create(&tid[k], NULL, run_share, &sh[k]) == 0;
    for (int k = 0; k < nthreads; k++)
        if (!running[k]) run_share(&sh[k]);
    for (int k = 1; k < nthreads; k++)
        if (running[k]) pthread_join(tid[k], NULL);
}
