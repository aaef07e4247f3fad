/*
 * ct_parallel.c - the thread helpers of ct_parallel.h.
 *
 * Shares run on a pool of persistent workers: a neural network calls
 * ct_parallel_for thousands of times per training step, and starting and
 * joining threads each time would cost more than many of the shares.
 * Workers spin, then sleep, between calls (see the pool below).  One call uses the
 * pool at a time; a call made meanwhile (from a share, or from another
 * thread) starts threads of its own, as this file did before the pool.
 */
#include "ct_parallel.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
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

/* The pool: worker w runs share w + 1 of the calls that have one.  A call
   hands each worker it needs a ticket (its own cache line): the workers a
   call does not need stay as they are.  Between calls a worker spins on
   its ticket for up to SPIN_NS, as the next call of a training step
   usually comes within microseconds, then sleeps on a condition variable;
   the caller likewise spins, then sleeps, until its shares are done. */
enum { SPIN_NS = 20000 };

typedef struct {
    unsigned long ticket;           /* bumped by each call that needs this worker */
    unsigned long born;             /* the ticket when the worker was started */
    char pad[64 - 2 * sizeof(unsigned long)];
} slot;

static struct {
    pthread_mutex_t busy;           /* held by the call using the pool */
    pthread_mutex_t lock;           /* guards sleeping and the waits */
    pthread_cond_t wake, done;
    int nworkers, sleeping;         /* workers started; those asleep on wake */
    const share *shares;
    int pending;                    /* shares of the call not finished (atomic) */
    slot slots[MAX_THREADS];
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER, 0, 0, NULL, 0, {{0, 0, {0}}}};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spin up to SPIN_NS until *p != v (atomic loads); return whether it did. */
static int spin_while(const unsigned long *p, unsigned long v)
{
    double t0 = 0;
    for (unsigned i = 1;; i++) {
        if (__atomic_load_n(p, __ATOMIC_ACQUIRE) != v) return 1;
        cpu_relax();
        if (i % 256 == 0) {
            double t = now_ns();
            if (t0 == 0) t0 = t;
            else if (t - t0 > SPIN_NS) return 0;
        }
    }
}

/* Wait until the workers have finished the call's shares: spin, then sleep. */
static void wait_done(void)
{
    double t0 = 0;
    for (unsigned i = 1; __atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE) > 0; i++) {
        cpu_relax();
        if (i % 256 == 0) {
            double t = now_ns();
            if (t0 == 0) t0 = t;
            else if (t - t0 > SPIN_NS) break;
        }
    }
    if (__atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE) == 0) return;
    pthread_mutex_lock(&pool.lock);
    while (__atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE) > 0) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

static void *worker(void *arg)
{
    int idx = (int)(size_t)arg + 1;
    slot *me = &pool.slots[idx];
    unsigned long seen = me->born;   /* a call may have ticketed it since */
    for (;;) {
        if (!spin_while(&me->ticket, seen)) {
            pthread_mutex_lock(&pool.lock);
            pool.sleeping++;
            while (__atomic_load_n(&me->ticket, __ATOMIC_ACQUIRE) == seen)
                pthread_cond_wait(&pool.wake, &pool.lock);
            pool.sleeping--;
            pthread_mutex_unlock(&pool.lock);
        }
        seen = __atomic_load_n(&me->ticket, __ATOMIC_ACQUIRE);
        run_share((share *)&pool.shares[idx]);
        if (__atomic_sub_fetch(&pool.pending, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
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
    pool.nworkers = pool.sleeping = pool.pending = 0;
}

static void pool_register_fork(void)
{
    pthread_atfork(NULL, NULL, pool_after_fork);
}

/* Grow the pool to n workers (fewer if threads cannot be started); called
   by the call holding busy. */
static void pool_grow(int n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, pool_register_fork);
    while (pool.nworkers < n) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pool.slots[pool.nworkers + 1].born = pool.slots[pool.nworkers + 1].ticket;
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
    pool_grow(nthreads - 1);
    int pooled = nthreads - 1 < pool.nworkers ? nthreads : pool.nworkers + 1;
    pool.shares = sh;
    __atomic_store_n(&pool.pending, pooled - 1, __ATOMIC_RELEASE);
    for (int k = 1; k < pooled; k++)
        __atomic_add_fetch(&pool.slots[k].ticket, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_lock(&pool.lock);
    if (pool.sleeping) pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    run_share(&sh[0]);
    for (int k = pooled; k < nthreads; k++) run_share(&sh[k]);   /* no worker for these */
    if (pooled > 1) wait_done();
    pthread_mutex_unlock(&pool.busy);
}
