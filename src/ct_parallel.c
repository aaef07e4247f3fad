/*
 * ct_parallel.c - the thread helpers of ct_parallel.h.
 *
 * Shares run on a pool of persistent workers: a neural network calls
 * ct_parallel_for thousands of times per training step, and starting and
 * joining threads each time would cost more than many of the shares.
 * Workers sleep on a condition variable between calls.  One call uses the
 * pool at a time; a call made meanwhile (from a share, or from another
 * thread) starts threads of its own, as this file did before the pool.
 */
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

/* Without the pool: one new thread per share but the first. */
static void spawn_for(share *sh, int nthreads)
{
    pthread_t tid[MAX_THREADS];
    int running[MAX_THREADS] = {0};
    for (int k = 1; k < nthreads; k++)
        running[k] = pthread_create(&tid[k], NULL, run_share, &sh[k]) == 0;
    for (int k = 0; k < nthreads; k++)
        if (!running[k]) run_share(&sh[k]);
    for (int k = 1; k < nthreads; k++)
        if (running[k]) pthread_join(tid[k], NULL);
}

/* The pool: worker w runs share w + 1 of each call that has one. */
static struct {
    pthread_mutex_t busy;           /* held by the call using the pool */
    pthread_mutex_t lock;           /* guards what follows */
    pthread_cond_t wake, done;
    int nworkers;
    unsigned long generation;       /* bumped by each call */
    const share *shares;
    int nshares, pending;           /* shares of the call, those not finished */
    unsigned long born[MAX_THREADS];  /* the generation each worker started in */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER, 0, 0, NULL, 0, 0, {0}};

static void *worker(void *arg)
{
    int idx = (int)(size_t)arg + 1;
    pthread_mutex_lock(&pool.lock);
    unsigned long seen = pool.born[idx - 1];   /* a call may have begun since */
    for (;;) {
        while (pool.generation == seen) pthread_cond_wait(&pool.wake, &pool.lock);
        seen = pool.generation;
        if (idx >= pool.nshares) continue;
        share s = pool.shares[idx];
        pthread_mutex_unlock(&pool.lock);
        run_share(&s);
        pthread_mutex_lock(&pool.lock);
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* A child of fork has none of the workers: start afresh there. */
static void pool_after_fork(void)
{
    pthread_mutex_init(&pool.busy, NULL);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.nworkers = pool.nshares = pool.pending = 0;
}

static void pool_register_fork(void)
{
    pthread_atfork(NULL, NULL, pool_after_fork);
}

/* Grow the pool to n workers (fewer if threads cannot be started); called
   with pool.lock held, before the call bumps the generation. */
static void pool_grow(int n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, pool_register_fork);
    while (pool.nworkers < n) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pool.born[pool.nworkers] = pool.generation;
        int rc = pthread_create(&t, &attr, worker, (void *)(size_t)pool.nworkers);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        pool.nworkers++;
    }
}

void ct_parallel_for(size_t n, int nthreads, void (*fn)(void *ctx, size_t begin, size_t end),
                     void *ctx)
{
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
    if (nthreads == 1) {
        fn(ctx, 0, n);
        return;
    }
    share sh[MAX_THREADS];
    for (int k = 0; k < nthreads; k++)
        sh[k] = (share){fn, ctx, n * k / nthreads, n * (k + 1) / nthreads};
    if (pthread_mutex_trylock(&pool.busy) != 0) {
        spawn_for(sh, nthreads);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    pool_grow(nthreads - 1);
    int pooled = nthreads - 1 < pool.nworkers ? nthreads : pool.nworkers + 1;
    pool.shares = sh;
    pool.nshares = pooled;
    pool.pending = pooled - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    run_share(&sh[0]);
    for (int k = pooled; k < nthreads; k++) run_share(&sh[k]);   /* no worker for these */
    pthread_mutex_lock(&pool.lock);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.lock);
    pool.nshares = 0;
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
}
