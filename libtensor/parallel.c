/* The context's fork-join pool. thinice runs OpenBLAS single-threaded and does its own
 * threading here, at the level of whole kernels: a convolution hands each thread its own
 * images (im2col, GEMM and the copy back, no hand-off inside), batch norm its own channels,
 * an element-wise op its own slice. OpenBLAS's threads only parallelise its GEMMs, so every
 * other pass of a network (im2col, Winograd transforms, batch norm, ReLU, pooling) ran on one
 * core while the second spun in sched_yield: that was a third of the machine (the profile in
 * docs/PERFORMANCE.md). Two pools on two cores fight, so there is only this one.
 *
 * A job is split statically into contiguous ranges, range t always on worker t (worker 0 is
 * the calling thread): the same thread count gives the same partition, hence the same bits.
 * The workers are started on the first job and sleep on a condition variable between jobs,
 * after spinning briefly so that back-to-back kernels do not pay a wake-up each. */
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* How long a worker polls for the next job before it sleeps, in pause instructions (40 to
 * 140 cycles each, by CPU): some 50 microseconds, longer than the gap between two kernels
 * of a network's pass, short enough not to burn a core through the serial parts of an
 * attack. */
#define SPIN_ROUNDS 2000

struct ti__pool {
    int nthreads;       /* workers + the caller */
    int started;        /* workers actually running (pthread_create may fail) */
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_ulong gen;   /* bumped for every job; workers wait for a new value */
    atomic_int pending; /* workers that have not finished the current job */
    int sleepers;       /* workers waiting on `wake` (under mu) */
    atomic_int quit;
    /* the job in flight */
    ti__range_fn fn;
    void *arg;
    size_t n;
    int parts;
};

typedef struct worker_arg {
    ti__pool *pool;
    int id;
} worker_arg;

/* Set while a thread runs a range: a kernel that would open a parallel region inside one
 * runs it serially instead (nested jobs would deadlock the pool). */
static _Thread_local int tl_in_range;

int ti__in_parallel(void)
{
    return tl_in_range;
}

static void range_of(size_t n, int parts, int t, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)t / (size_t)parts;
    *hi = n * (size_t)(t + 1) / (size_t)parts;
}

static void run_part(ti__pool *p, int t)
{
    if (t >= p->parts)
        return;
    size_t lo, hi;
    range_of(p->n, p->parts, t, &lo, &hi);
    tl_in_range = 1;
    p->fn(p->arg, lo, hi, t);
    tl_in_range = 0;
}

static void *worker_main(void *v)
{
    worker_arg *wa = v;
    ti__pool *p = wa->pool;
    int id = wa->id;
    free(wa);
    /* flush-to-zero is per thread: the pool's own threads always run with it (the caller's
     * thread only inside ti__pool_run, which restores the caller's mode) */
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
    unsigned long seen = 0;
    for (;;) {
        unsigned long g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int i = 0; g == seen && i < SPIN_ROUNDS; i++) {
            _mm_pause();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while ((g = atomic_load(&p->gen)) == seen)
                pthread_cond_wait(&p->wake, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit))
            return NULL;
        seen = g;
        run_part(p, id);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

ti__pool *ti__pool_new(int nthreads)
{
    ti__pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->nthreads = nthreads < 1 ? 1 : nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, 0);
    return p;
}

/* Starts the workers; on failure the pool keeps those that started (maybe none). */
static void pool_start(ti__pool *p)
{
    p->tid = calloc((size_t)p->nthreads, sizeof *p->tid);
    if (!p->tid) {
        p->nthreads = 1;
        return;
    }
    for (int t = 1; t < p->nthreads; t++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa)
            break;
        *wa = (worker_arg){p, t};
        if (pthread_create(&p->tid[t], NULL, worker_main, wa) != 0) {
            free(wa);
            break;
        }
        p->started = t;
    }
    p->nthreads = p->started + 1;
}

void ti__pool_free(ti__pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t <= p->started; t++)
        pthread_join(p->tid[t], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->tid);
    free(p);
}

int ti__pool_threads(const ti__pool *p)
{
    return p ? p->nthreads : 1;
}

int ti__pool_run(ti__pool *p, size_t n, size_t grain, ti__range_fn fn, void *arg)
{
    if (n == 0)
        return 0;
    if (grain < 1)
        grain = 1;
    size_t parts = p && !tl_in_range ? (size_t)p->nthreads : 1;
    if (parts > n / grain)
        parts = n / grain;
    if (parts > 1 && !p->tid) {
        pool_start(p);
        if (parts > (size_t)p->nthreads)
            parts = (size_t)p->nthreads;
    }
    /* denormals slow float arithmetic by an order of magnitude and carry nothing a network
     * needs: flush them on the caller's thread too while it works for the library */
    unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040u); /* FTZ and DAZ */
    if (parts <= 1) {
        fn(arg, 0, n, 0);
        _mm_setcsr(csr);
        return 1;
    }
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->parts = (int)parts;
    atomic_store(&p->pending, p->started);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (p->sleepers)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_part(p, 0);
    /* wait for the others: poll first (they usually finish together), then sleep */
    for (int i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) && i < SPIN_ROUNDS;
         i++)
        _mm_pause();
    if (atomic_load_explicit(&p->pending, memory_order_acquire)) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending))
            pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    _mm_setcsr(csr);
    return (int)parts;
}

static void zero_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    memset((float *)arg + lo, 0, (hi - lo) * sizeof(float));
}

void ti__parallel_zero(ti_ctx *ctx, float *p, size_t n)
{
    ti__parallel_for(ctx, n, 4 * TI_GRAIN_ELEMS, zero_range, p);
}
