/* The context: error messages, the seeded generator, thread count, scratch workspace and
 * callbacks. Nothing here is global: two contexts in two threads never meet. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xmmintrin.h>
#include <pmmintrin.h>
#include <unistd.h>

#include "internal.h"

/* The cache of derived values (ti__ctx_derived): a few dozen entries, at most DERIVED_MAX
 * bytes in all, each at most DERIVED_MAX / 8 (8 MiB: the transformed weights of every
 * Winograd layer of ResNet-18 up to 256 channels, forward and input gradient, 52 MiB in all;
 * the 512-channel layers' 26 MiB each are not kept: see conv.c, frozen_prefers_other). */
#define DERIVED_SLOTS 48
#define DERIVED_MAX ((size_t)64 << 20)

struct ti_ctx {
    ti_rng rng;
    uint64_t seed;
    int threads;
    char errmsg[1024];
    void *work;
    size_t work_bytes;
    ti_log_fn log_fn;
    void *log_user;
    ti_progress_fn progress_fn;
    void *progress_user;
    ti__pool *pool; /* threads - 1 workers, started on the first parallel kernel */
    struct derived {
        int tag;
        const void *src;   /* the address the entry was made for */
        size_t src_bytes, bytes;
        void *copy;        /* src's contents then, followed by the derived values */
        unsigned long used; /* clock of the last hit, for eviction */
    } derived[DERIVED_SLOTS];
    size_t derived_bytes;
    unsigned long derived_clock;
};

static const char *const status_names[TI_STATUS_COUNT] = {
    [TI_OK] = "ok",
    [TI_ERR_NOMEM] = "out of memory",
    [TI_ERR_ARG] = "bad argument",
    [TI_ERR_SHAPE] = "shape mismatch",
    [TI_ERR_IO] = "input/output error",
    [TI_ERR_FORMAT] = "malformed or truncated file",
    [TI_ERR_NAN] = "NaN or infinity in the data",
    [TI_ERR_UNSUPPORTED] = "unsupported",
    [TI_ERR_CANCELLED] = "cancelled",
    [TI_ERR_STATE] = "call out of order",
};

const char *ti_status_str(ti_status s)
{
    if ((unsigned)s >= TI_STATUS_COUNT)
        return "unknown status";
    return status_names[s];
}

void *ti_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = 64;
    if (posix_memalign(&p, 64, (bytes + 63) & ~(size_t)63) != 0)
        return NULL;
    return p;
}

void *ti_calloc(size_t bytes)
{
    void *p = ti_alloc(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void ti_free(void *p)
{
    free(p);
}

ti_ctx *ti_ctx_new(uint64_t seed, int threads)
{
    ti_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->seed = seed;
    ti_rng_seed(&ctx->rng, seed);
    ti__blas_acquire();
    ti_ctx_set_threads(ctx, threads);
    return ctx;
}

void ti_ctx_free(ti_ctx *ctx)
{
    if (!ctx)
        return;
    for (int i = 0; i < DERIVED_SLOTS; i++)
        ti_free(ctx->derived[i].copy);
    ti__pool_free(ctx->pool);
    ti_free(ctx->work);
    free(ctx);
    ti__blas_release();
}

ti_rng *ti_ctx_rng(ti_ctx *ctx)
{
    return &ctx->rng;
}

uint64_t ti_ctx_seed(const ti_ctx *ctx)
{
    return ctx->seed;
}

int ti_ctx_threads(const ti_ctx *ctx)
{
    return ctx->threads;
}

void ti_ctx_set_threads(ti_ctx *ctx, int threads)
{
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (ctx->pool && threads == ctx->threads)
        return;
    ti__pool *p = ti__pool_new(threads);
    if (!p && !ctx->pool)
        threads = 1; /* out of memory: run serially */
    if (p) {
        ti__pool_free(ctx->pool);
        ctx->pool = p;
    }
    ctx->threads = ti__pool_threads(ctx->pool);
}

ti__pool *ti__ctx_pool(ti_ctx *ctx)
{
    return ctx ? ctx->pool : NULL;
}

int ti__ctx_pool_threads(ti_ctx *ctx)
{
    /* inside a job a kernel's own jobs run inline: it has one thread, and sizes its work
     * (groups of images, GEMM splits) as a one-thread context would */
    return ctx && !ti__in_parallel() ? ti__pool_threads(ctx->pool) : 1;
}

int ti__parallel_for(ti_ctx *ctx, size_t n, size_t grain, ti__range_fn fn, void *arg)
{
    return ti__pool_run(ti__ctx_pool(ctx), n, grain, fn, arg);
}

int ti_ctx_parallel_for(ti_ctx *ctx, size_t n, size_t grain, ti_range_fn fn, void *arg)
{
    return ti__parallel_for(ctx, n, grain, fn, arg);
}

const char *ti_ctx_errmsg(const ti_ctx *ctx)
{
    return ctx ? ctx->errmsg : "";
}

ti_status ti_ctx_error(ti_ctx *ctx, ti_status s, const char *fmt, ...)
{
    if (!ctx)
        return s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
    va_end(ap);
    return s;
}

void ti_ctx_clear_error(ti_ctx *ctx)
{
    if (ctx)
        ctx->errmsg[0] = '\0';
}

void *ti_ctx_workspace(ti_ctx *ctx, size_t bytes)
{
    if (bytes > ctx->work_bytes) {
        /* grow by half again so that a slowly rising demand does not reallocate each time */
        size_t want = bytes + bytes / 2;
        void *p = ti_alloc(want);
        if (!p)
            return NULL;
        ti_free(ctx->work);
        ctx->work = p;
        ctx->work_bytes = want;
    }
    return ctx->work;
}

int ti__ctx_derived_keeps(size_t bytes)
{
    return bytes <= DERIVED_MAX / 8;
}

void *ti__ctx_derived(ti_ctx *ctx, int tag, const void *src, size_t src_bytes, size_t bytes,
                      int *fresh)
{
    *fresh = 1;
    size_t need = src_bytes + bytes;
    if (!ctx || !ti__ctx_derived_keeps(need))
        return NULL;
    struct derived *e = NULL, *old = &ctx->derived[0];
    for (int i = 0; i < DERIVED_SLOTS; i++) {
        struct derived *d = &ctx->derived[i];
        if (d->copy && d->tag == tag && d->src == src && d->src_bytes == src_bytes &&
            d->bytes == bytes) {
            e = d;
            break;
        }
        if (!d->copy || (old->copy && d->used < old->used))
            old = d; /* an empty slot, else the least recently used */
    }
    ctx->derived_clock++;
    if (e && memcmp(e->copy, src, src_bytes) == 0) {
        e->used = ctx->derived_clock;
        *fresh = 0;
        return (char *)e->copy + src_bytes;
    }
    if (!e) { /* a new entry: evict until it fits */
        e = old;
        while (ctx->derived_bytes + need > DERIVED_MAX) {
            struct derived *v = NULL;
            for (int i = 0; i < DERIVED_SLOTS; i++)
                if (ctx->derived[i].copy && &ctx->derived[i] != e &&
                    (!v || ctx->derived[i].used < v->used))
                    v = &ctx->derived[i];
            if (!v)
                break;
            ctx->derived_bytes -= v->src_bytes + v->bytes;
            ti_free(v->copy);
            *v = (struct derived){0};
        }
        if (e->copy)
            ctx->derived_bytes -= e->src_bytes + e->bytes;
        ti_free(e->copy);
        *e = (struct derived){.tag = tag, .src = src, .src_bytes = src_bytes, .bytes = bytes,
                              .copy = ti_alloc(need)};
        if (!e->copy) {
            *e = (struct derived){0};
            return NULL;
        }
        ctx->derived_bytes += need;
    }
    memcpy(e->copy, src, src_bytes);
    e->used = ctx->derived_clock;
    return (char *)e->copy + src_bytes;
}

void ti_ctx_set_log(ti_ctx *ctx, ti_log_fn fn, void *user)
{
    ctx->log_fn = fn;
    ctx->log_user = user;
}

void ti_ctx_set_progress(ti_ctx *ctx, ti_progress_fn fn, void *user)
{
    ctx->progress_fn = fn;
    ctx->progress_user = user;
}

void ti_ctx_log(ti_ctx *ctx, int level, const char *fmt, ...)
{
    if (!ctx || !ctx->log_fn)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->log_fn(ctx->log_user, level, buf);
}

double ti_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

ti_status ti_ctx_progress(ti_ctx *ctx, const char *label, long done, long total)
{
    if (!ctx || !ctx->progress_fn)
        return TI_OK;
    if (ctx->progress_fn(ctx->progress_user, label, done, total))
        return ti_ctx_error(ctx, TI_ERR_CANCELLED, "%s: cancelled by the progress callback", label);
    return TI_OK;
}
