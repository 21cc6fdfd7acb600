/* thinice tensors and the autodiff tape.
 *
 * A tensor is float32, row-major, at most 4-D (NCHW for images). Two kinds exist:
 *  - leaves owned by the caller (model parameters, buffers): ti_tensor_new / ti_tensor_free,
 *    or ti_tensor_view over memory the caller owns;
 *  - activations made by ops on a tape: they live in the tape's arena until ti_tape_reset.
 *
 * Reverse-mode autodiff (see docs/autodiff.md): each differentiable op computes its forward at
 * once and, when recording is on and some input requires a gradient, appends a node to the tape.
 * ti_tape_backward walks the nodes in reverse and calls each op's backward, which ADDS into
 * the gradients of the inputs that require one. Nothing is computed for inputs that do not ask
 * (an attack asks for the image's gradient only, training for the parameters' only).
 *
 * Errors are sticky: an op that fails (bad shapes, out of memory) records the first error in
 * the tape and in its context and returns NULL; every later op given a NULL input returns NULL
 * too. Build the whole graph, then check ti_tape_status() once. */
#ifndef THINICE_TENSOR_H
#define THINICE_TENSOR_H

#include "thinice/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TI_MAX_DIMS 4

typedef struct ti_node ti_node;
typedef struct ti_tape ti_tape;

typedef struct ti_tensor {
    int ndim;
    int shape[TI_MAX_DIMS];
    size_t size;       /* product of the shape */
    float *data;       /* (size) */
    float *grad;       /* NULL, or (size): dLoss/dtensor, accumulated by backward */
    int requires_grad; /* leaves: set by the caller; activations: derived from the inputs */
    ti_node *node;     /* producing op on a tape; NULL for leaves and unrecorded results */
} ti_tensor;

/* ---- leaves ---------------------------------------------------------------------------- */

/* A new zero-filled leaf with its own data (grad stays NULL until ti_tensor_alloc_grad). */
ti_tensor *ti_tensor_new(int ndim, const int *shape);
/* Frees a leaf made by ti_tensor_new, with its data and grad. NULL is fine. */
void ti_tensor_free(ti_tensor *t);
/* Allocates a zeroed gradient buffer for a ti_tensor_new leaf (no-op if it has one). */
ti_status ti_tensor_alloc_grad(ti_tensor *t);
/* Fills *t as a view of memory the caller owns (data, and grad which may be NULL). */
void ti_tensor_view(ti_tensor *t, float *data, float *grad, int ndim, const int *shape);
/* Number of elements of a shape (1 for ndim 0). */
size_t ti_shape_size(int ndim, const int *shape);
/* Writes "(2, 3, 32, 32)" into buf; returns buf. */
const char *ti_shape_str(const ti_tensor *t, char *buf, size_t len);
/* TI_OK if every element is finite, else TI_ERR_NAN with a message naming `what`. */
ti_status ti_tensor_check_finite(ti_ctx *ctx, const ti_tensor *t, const char *what);

/* ---- the tape -------------------------------------------------------------------------- */

ti_tape *ti_tape_new(ti_ctx *ctx);
void ti_tape_free(ti_tape *tape);
ti_ctx *ti_tape_ctx(ti_tape *tape);
/* Forgets every node and activation, keeping the memory for the next batch (no allocation
 * in steady state). Also clears the sticky error. Leaf gradients are NOT touched. */
void ti_tape_reset(ti_tape *tape);
/* With recording off, ops compute their forward only (evaluation, attacks' forward passes). */
void ti_tape_set_recording(ti_tape *tape, int on);
int ti_tape_recording(const ti_tape *tape);
/* The first error since the last reset (TI_OK if none); the message is in the context. */
ti_status ti_tape_status(const ti_tape *tape);
/* Bytes the arena holds (for peak-memory reports). */
size_t ti_tape_arena_bytes(const ti_tape *tape);

/* An uninitialised activation on the tape. NULL (sticky error) on failure. */
ti_tensor *ti_tape_tensor(ti_tape *tape, int ndim, const int *shape);
/* An input leaf on the tape holding a copy of data; with requires_grad its gradient buffer
 * is allocated and zeroed, and holds dLoss/dinput after backward. */
ti_tensor *ti_tape_input(ti_tape *tape, const float *data, int ndim, const int *shape,
                         int requires_grad);

/* Backward from a scalar (size 1) loss, seeding dloss = 1. The tape stays intact, so backward
 * may run again from another output (or seed) of the same forward: activation gradients are
 * zeroed at the start of each backward, while leaf gradients (inputs, parameters) ACCUMULATE
 * across calls; zero them yourself when you want a fresh one. */
ti_status ti_tape_backward(ti_tape *tape, ti_tensor *loss);
/* Backward from any tensor with a given seed gradient (size out->size): a vector-Jacobian
 * product. Used for per-sample losses and for the Jacobian rows FAB needs. */
ti_status ti_tape_backward_seed(ti_tape *tape, ti_tensor *out, const float *seed);

#ifdef __cplusplus
}
#endif
#endif
