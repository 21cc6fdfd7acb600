/* What libtensor's own files share: the node layout, the op definition record, arena
 * allocation on the tape, and small helpers. Not installed. */
#ifndef THINICE_TENSOR_INTERNAL_H
#define THINICE_TENSOR_INTERNAL_H

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

/* OpenBLAS thread count (context.c calls it; kernels never change it behind the context). */
void ti__blas_set_threads(int threads);

/* conv.c's naive 7-loop convolution (y (N, K, OH, OW) from x, w, b or NULL), for tests. */
void ti__conv2d_naive(float *y, const float *x, const float *w, const float *b, int N, int C,
                      int H, int W, int K, int KH, int KW, int stride, int pad);
/* conv_winograd.c: 3x3 stride-1 convolution by Winograd F(2x2, 3x3), y (N, K, OH, OW) set
 * (or, with accumulate, added to) from x (N, C, H, W) and w (K, C, 3, 3), or with flip from
 * w (C, K, 3, 3) rotated by 180 degrees (the input gradient); ws holds
 * ti__winograd_floats(...) floats. */
size_t ti__winograd_floats(int N, int C, int H, int W, int K, int pad);
void ti__conv3x3_winograd(float *y, int accumulate, float *ws, const float *x, const float *w,
                          int flip, const float *b, int N, int C, int H, int W, int K, int pad);

#endif
