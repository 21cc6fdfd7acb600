/* thinice core: status codes, the context, and the seeded random generator.
 *
 * Every thinice function that can fail returns a ti_status (TI_OK is 0) and, when given a
 * context, leaves a detailed message of the failure in it (ti_ctx_errmsg). The library never
 * prints and never exits. All randomness comes from generators seeded explicitly. */
#ifndef THINICE_CORE_H
#define THINICE_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TI_VERSION "0.1.0"

typedef enum ti_status {
    TI_OK = 0,
    TI_ERR_NOMEM,       /* an allocation failed */
    TI_ERR_ARG,         /* a bad argument (NULL, out of range, bad option) */
    TI_ERR_SHAPE,       /* tensor shapes do not fit together */
    TI_ERR_IO,          /* a file could not be opened, read or written */
    TI_ERR_FORMAT,      /* a file's content is malformed or truncated */
    TI_ERR_NAN,         /* a NaN or infinity where finite numbers are required */
    TI_ERR_UNSUPPORTED, /* valid, but not something thinice implements */
    TI_ERR_CANCELLED,   /* a progress callback asked to stop */
    TI_ERR_STATE,       /* a call out of order (e.g. backward with nothing recorded) */
    TI_STATUS_COUNT
} ti_status;

/* A fixed English string per status code; never NULL. */
const char *ti_status_str(ti_status s);

/* ---- random numbers: xoshiro256** seeded through splitmix64 ----------------------------
 * The state is a plain struct so that callers can keep one stream per sample or per worker
 * and copy it; the same seed gives the same stream on every machine. */
typedef struct ti_rng {
    uint64_t s[4];
} ti_rng;

void ti_rng_seed(ti_rng *r, uint64_t seed);
/* A child stream derived from parent's current state and key, without advancing parent:
 * used to give each sample or each restart its own stream. */
void ti_rng_split(ti_rng *child, const ti_rng *parent, uint64_t key);
uint64_t ti_rng_u64(ti_rng *r);
double ti_rng_double(ti_rng *r);          /* uniform in [0, 1) */
float ti_rng_uniform(ti_rng *r, float lo, float hi); /* uniform in [lo, hi) */
float ti_rng_normal(ti_rng *r);            /* standard normal (Box-Muller, no cached value) */
uint64_t ti_rng_below(ti_rng *r, uint64_t n); /* uniform in [0, n), unbiased; n > 0 */
void ti_rng_shuffle(ti_rng *r, int *a, size_t n); /* Fisher-Yates */

/* ---- the context -----------------------------------------------------------------------
 * One per thread of work. It holds the seeded generator, the thread count given to OpenBLAS,
 * a reusable scratch workspace, the last error message, and optional log/progress callbacks.
 * Two contexts never share state. */
typedef struct ti_ctx ti_ctx;

/* Logging callback: level 0 = info, 1 = warning. The message has no trailing newline. */
typedef void (*ti_log_fn)(void *user, int level, const char *msg);
/* Progress callback for long work: done out of total units, with a short label. A call with
 * total = 0 is a heartbeat: the work goes on, with no count to show (the attacks send one
 * every few iterations, so that a long batch can still be cancelled and a display kept
 * alive). Return non-zero to cancel (the running call then returns TI_ERR_CANCELLED). */
typedef int (*ti_progress_fn)(void *user, const char *label, long done, long total);

/* Creates a context. threads <= 0 means "all cores": the kernels run on a pool of that many
 * threads (the caller and threads - 1 workers, started on first use).
 * Process-wide effects, and how they are undone: OpenBLAS's thread count is the process's;
 * while any context lives it is 1 (OpenBLAS's own threads would fight the pool), and the
 * caller's setting is restored when the last context is freed. Flush-to-zero and
 * denormals-are-zero (denormals make training up to 25x slower) are set on the pool's own
 * threads, and on the caller's thread only while it runs the library's parallel kernels: its
 * floating-point mode is restored before every call returns. A program that wants them
 * everywhere (the thinice apps do) sets them itself. Returns NULL only if memory is
 * exhausted. */
ti_ctx *ti_ctx_new(uint64_t seed, int threads);
void ti_ctx_free(ti_ctx *ctx);

ti_rng *ti_ctx_rng(ti_ctx *ctx);            /* borrowed; valid while ctx lives */
uint64_t ti_ctx_seed(const ti_ctx *ctx);
int ti_ctx_threads(const ti_ctx *ctx);
void ti_ctx_set_threads(ti_ctx *ctx, int threads);

/* Per-item work of other libraries on the context's threads (libattack's per-sample steps):
 * fn(arg, lo, hi, t) is called for contiguous ranges covering [0, n), each of at least
 * `grain` items, range t on thread t (0 is the caller), with denormals flushed as in the
 * library's own kernels. Returns the number of ranges, at most ti_ctx_threads(ctx): t is
 * below it, so fn can index per-thread scratch by t. Inside such a range (and inside the
 * library's kernels) the library's kernels run on the calling thread alone. */
typedef void (*ti_range_fn)(void *arg, size_t lo, size_t hi, int t);
int ti_ctx_parallel_for(ti_ctx *ctx, size_t n, size_t grain, ti_range_fn fn, void *arg);

/* The message of the last failure ("" if none). Valid until the next failing call. */
const char *ti_ctx_errmsg(const ti_ctx *ctx);
/* Records a failure: formats the message into ctx (printf-style) and returns s, so that
 * library code can write `return ti_ctx_error(ctx, TI_ERR_SHAPE, "...", ...);`.
 * ctx may be NULL (the message is then dropped). */
ti_status ti_ctx_error(ti_ctx *ctx, ti_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ti_ctx_clear_error(ti_ctx *ctx);

/* A scratch buffer of at least `bytes` bytes, 64-byte aligned, reused across calls (it only
 * grows). Valid until the next call of ti_ctx_workspace on the same ctx. NULL if out of
 * memory. */
void *ti_ctx_workspace(ti_ctx *ctx, size_t bytes);

void ti_ctx_set_log(ti_ctx *ctx, ti_log_fn fn, void *user);
void ti_ctx_set_progress(ti_ctx *ctx, ti_progress_fn fn, void *user);
/* Emits a log line through the callback, if any (printf-style). */
void ti_ctx_log(ti_ctx *ctx, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Reports progress; returns TI_ERR_CANCELLED (with a message) if the callback asks to stop. */
ti_status ti_ctx_progress(ti_ctx *ctx, const char *label, long done, long total);

/* Monotonic wall-clock seconds (CLOCK_MONOTONIC), for the timings the library reports. */
double ti_clock(void);

/* ---- data-parallel runs ----------------------------------------------------------------
 * Several processes (MPI ranks, say) share each global batch of a training run and sum
 * their gradients. The library knows nothing of MPI: the caller hands it the sum. */
typedef struct ti_reducer {
    int rank, size; /* this process, and how many take part */
    /* sums buf (n floats) over the processes in place, leaving the same bits on every one
     * (e.g. MPI_Reduce to one rank, then MPI_Bcast; a plain MPI_Allreduce need not) */
    ti_status (*sum)(void *user, float *buf, size_t n);
    /* may be NULL; else called after every step with the hash of the model (ti_model_hash):
     * returns an error if the processes' hashes differ, a check that they stay in step */
    ti_status (*check)(void *user, uint64_t model_hash);
    void *user;
} ti_reducer;

/* 64-byte aligned allocation helpers used across thinice (free with ti_free). */
void *ti_alloc(size_t bytes);
void *ti_calloc(size_t bytes);
void ti_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
