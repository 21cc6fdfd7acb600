/* What libtensor's own files share: the node layout, the op definition record, arena
 * allocation on the tape, and small helpers. Not installed. */
#ifndef THINICE_TENSOR_INTERNAL_H
#define THINICE_TENSOR_INTERNAL_H

#include <cblas.h>
#include <stdbool.h>
#include <string.h>

#include "thinice/core.h"
#include "thinice/tensor.h"

#define TI_NODE_MAX_IN 4

/* An op's definition: its name (for messages and the op table) and its backward. The backward
 * reads n->out->grad and ADDS into n->in[i]->grad for every input with requires_grad (the
 * tape has allocated and zeroed those buffers before the call). */
typedef struct ti_op_def {
    const char *name;
    void (*backward)(ti_tape *tape, ti_node *n);
} ti_op_def;

struct ti_node {
    const ti_op_def *def;
    ti_tensor *out;
    ti_tensor *in[TI_NODE_MAX_IN];
    int nin;
    int ip[8];    /* small integer parameters of the op (stride, padding, ...) */
    float fp[4];  /* small float parameters (eps, slope, ...) */
    void *saved;  /* op-specific saved data, in the tape's arena */
    int reached;  /* set during a backward when a gradient flows into out */
    ti_node *prev;
};

/* Memory from the tape's arena, 64-byte aligned, valid until ti_tape_reset. NULL (and a
 * sticky out-of-memory error) on failure. */
void *ti__tape_alloc(ti_tape *tape, size_t bytes);
/* Records the first error of the tape (and formats it into the context); returns NULL so
 * an op can `return ti__tape_fail(...)`. */
void *ti__tape_fail(ti_tape *tape, ti_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* True if any input is NULL or the tape already failed: the op must return NULL. */
bool ti__tape_bad(ti_tape *tape, int nin, ti_tensor *const *in);
/* If recording is on and some input requires a gradient, appends a node producing `out`
 * from the inputs and marks out->requires_grad; returns the node (to fill ip/fp/saved) or
 * NULL when nothing is recorded (not an error). */
ti_node *ti__tape_record(ti_tape *tape, const ti_op_def *def, ti_tensor *out, int nin,
                         ti_tensor *const *in);
/* Same shape as t on the tape. */
ti_tensor *ti__tape_like(ti_tape *tape, const ti_tensor *t);
bool ti__same_shape(const ti_tensor *a, const ti_tensor *b);

/* Fused ops for the model zoo (batchnorm.c, activation.c, elementwise.c). The in-place ones
 * overwrite their first input's data: use them only where nothing reads it afterwards (the
 * producing op's backward included; conv, batch norm and add do not read their output).
 *  ti__batchnorm2d_relu: ReLU(ti_batchnorm2d(...)) in one pass, one new tensor;
 *  ti__relu_inplace: ReLU over x's data; ti__add_relu: ReLU(a + b) over a's data. */
ti_tensor *ti__batchnorm2d_relu(ti_tape *tape, ti_tensor *x, ti_tensor *gamma, ti_tensor *beta,
                                ti_tensor *running_mean, ti_tensor *running_var, int training,
                                float momentum, float eps);
ti_tensor *ti__relu_inplace(ti_tape *tape, ti_tensor *x);
ti_tensor *ti__add_relu(ti_tape *tape, ti_tensor *a, ti_tensor *b);

/* parallel.c: the context's fork-join pool (see there for why thinice threads its kernels
 * itself and keeps OpenBLAS single-threaded). A job is [0, n) split into as many equal
 * contiguous ranges as there are threads, but none shorter than `grain` items (at least
 * one range); range t runs on worker t (0 is the caller) as fn(arg, lo, hi, t), and the
 * call returns when all have finished, with the number of ranges used. Inside a range, a
 * nested job runs as one range on the calling worker. */
typedef struct ti__pool ti__pool;
typedef void (*ti__range_fn)(void *arg, size_t lo, size_t hi, int worker);
ti__pool *ti__pool_new(int threads);
void ti__pool_free(ti__pool *p);
int ti__pool_threads(const ti__pool *p);
int ti__pool_run(ti__pool *p, size_t n, size_t grain, ti__range_fn fn, void *arg);
/* Is the calling thread inside a job's range? */
int ti__in_parallel(void);
/* Elements of an element-wise pass below which handing half of it to another thread costs
 * more than it saves (a hand-off is a few microseconds; this is about ten). */
#define TI_GRAIN_ELEMS ((size_t)32768)
/* context.c: the context's pool and its size (workers + the caller; 1 inside a job, where
 * nested jobs run inline). */
ti__pool *ti__ctx_pool(ti_ctx *ctx);
int ti__ctx_pool_threads(ti_ctx *ctx);
int ti__parallel_for(ti_ctx *ctx, size_t n, size_t grain, ti__range_fn fn, void *arg);
/* context.c: values derived from constant inputs, kept across calls (a convolution's
 * weights transformed for its kernel: recomputing them took 6-16% of a Square attack on a
 * small CIFAR ResNet, where each query is a forward of a few dozen images). Returns a
 * buffer of `bytes` bound to (tag, src, src_bytes) and sets *fresh: 1 when the caller must
 * fill it (first use, or src's contents changed: each entry keeps a copy of src and
 * compares it, so values derived from weights that changed in between are never served),
 * 0 when it holds what the caller derived from these very contents before. NULL when the
 * entry would be too large to keep (or memory ran out): compute into scratch instead.
 * Valid until the next ti__ctx_derived on ctx. */
void *ti__ctx_derived(ti_ctx *ctx, int tag, const void *src, size_t src_bytes, size_t bytes,
                      int *fresh);
/* Would ti__ctx_derived keep an entry of `bytes` (the source's copy and the derived values)? */
int ti__ctx_derived_keeps(size_t bytes);
/* Tags of ti__ctx_derived (one per kind of derived value). */
enum {
    TI__DERIVED_WINO = 1,
    TI__DERIVED_WINO_FLIP,
    TI__DERIVED_DIRECT,
    TI__DERIVED_DIRECT_FLIP
};

/* parallel.c: p[0 .. n) = 0 over the pool (zeroing a large gradient is a pass like any other) */
void ti__parallel_zero(ti_ctx *ctx, float *p, size_t n);

/* blas.c: OpenBLAS runs single-threaded while any context lives (acquire at ti_ctx_new,
 * release at ti_ctx_free restores the caller's setting after the last one); ti__sgemm is
 * cblas_sgemm in row-major order that, called outside a job, splits a large product over the
 * context's pool by columns or rows of C (inside a job, or when small, one plain call). */
void ti__blas_acquire(void);
void ti__blas_release(void);
void ti__sgemm(ti_ctx *ctx, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
               float alpha, const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc);

/* conv.c's naive 7-loop convolution (y (N, K, OH, OW) from x, w, b or NULL), for tests. */
void ti__conv2d_naive(float *y, const float *x, const float *w, const float *b, int N, int C,
                      int H, int W, int K, int KH, int KW, int stride, int pad);
/* conv_winograd.c: 3x3 stride-1 convolution by Winograd F(2x2, 3x3), y (N, K, OH, OW) set
 * (or, with accumulate, added to) from x (N, C, H, W) and w (K, C, 3, 3), or with flip from
 * w (C, K, 3, 3) rotated by 180 degrees (the input gradient); ws holds
 * ti__winograd_floats(..., threads) floats for a pool of `threads`. Split over ctx's pool by
 * images. */
size_t ti__winograd_floats(int N, int C, int H, int W, int K, int pad, int threads);
void ti__conv3x3_winograd(ti_ctx *ctx, float *y, int accumulate, float *ws, const float *x,
                          const float *w, int flip, const float *b, int N, int C, int H, int W,
                          int K, int pad);
/* The weight gradient of that convolution (not flipped): dw (K, C, 3, 3) += the gradient of
 * y = conv(x, w) given dy (N, K, OH, OW); ws holds ti__winograd_dw_floats(...) floats. */
size_t ti__winograd_dw_floats(int N, int C, int H, int W, int K, int pad, int threads);
void ti__conv3x3_winograd_dw(ti_ctx *ctx, float *dw, float *ws, const float *x, const float *dy,
                             int N, int C, int H, int W, int K, int pad);

#endif
