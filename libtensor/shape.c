/* Reshape and flatten: the same numbers under a new shape. The output is a view that shares
 * the input's data (no copy); its gradient has its own buffer, and backward adds it to the
 * input's gradient element by element, since row-major order is unchanged. */
#include <stdio.h>

#include "thinice/ops.h"
#include "internal.h"

/* dx += dy: the identity on the flat layout */
static void reshape_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const float *gy = n->out->grad;
    float *gx = n->in[0]->grad;
    for (size_t i = 0; i < n->out->size; i++)
        gx[i] += gy[i];
}

static const ti_op_def op_reshape = {"reshape", reshape_backward};

/* Makes the view of x with the (already checked) shape and records it. */
static ti_tensor *make_view(ti_tape *tape, ti_tensor *x, int ndim, const int *shape)
{
    ti_tensor *y = ti__tape_alloc(tape, sizeof *y);
    if (!y)
        return NULL;
    ti_tensor_view(y, x->data, NULL, ndim, shape);
    ti__tape_record(tape, &op_reshape, y, 1, &x);
    return y;
}

/* Writes "(2, -1, 4)" for a requested shape (which may hold -1) into buf. */
static const char *req_str(int ndim, const int *shape, char *buf, size_t len)
{
    ti_tensor t;
    ti_tensor_view(&t, NULL, NULL, 0, NULL);
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t.shape[i] = shape[i];
    return ti_shape_str(&t, buf, len);
}

ti_tensor *ti_reshape(ti_tape *tape, ti_tensor *x, int ndim, const int *shape)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    if (ndim < 0 || ndim > TI_MAX_DIMS || (ndim > 0 && !shape))
        return ti__tape_fail(tape, TI_ERR_SHAPE, "reshape: %d dimensions requested (0 to %d)",
                             ndim, TI_MAX_DIMS);
    char sx[64], sr[64];
    int out[TI_MAX_DIMS];
    int infer = -1;
    size_t known = 1;
    for (int i = 0; i < ndim; i++) {
        out[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0)
                return ti__tape_fail(tape, TI_ERR_SHAPE,
                                     "reshape: shape %s has more than one -1",
                                     req_str(ndim, shape, sr, sizeof sr));
            infer = i;
        } else if (shape[i] < 0) {
            return ti__tape_fail(tape, TI_ERR_SHAPE, "reshape: shape %s has a negative size",
                                 req_str(ndim, shape, sr, sizeof sr));
        } else {
            known *= (size_t)shape[i];
        }
    }
    if (infer >= 0) {
        /* the -1 takes whatever is left; with a zero among the known sizes it is ambiguous */
        if (known == 0 || x->size % known != 0 || x->size / known > (size_t)0x7fffffff)
            return ti__tape_fail(tape, TI_ERR_SHAPE,
                                 "reshape: cannot reshape %s (%zu elements) to %s",
                                 ti_shape_str(x, sx, sizeof sx), x->size,
                                 req_str(ndim, shape, sr, sizeof sr));
        out[infer] = (int)(x->size / known);
        known *= (size_t)out[infer];
    }
    if (known != x->size)
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "reshape: cannot reshape %s (%zu elements) to %s (%zu elements)",
                             ti_shape_str(x, sx, sizeof sx), x->size,
                             req_str(ndim, shape, sr, sizeof sr), known);
    return make_view(tape, x, ndim, out);
}

ti_tensor *ti_flatten(ti_tape *tape, ti_tensor *x)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    if (x->ndim < 1)
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "flatten: needs a batch dimension, got a scalar (shape ())");
    int shape[2] = {x->shape[0], (int)ti_shape_size(x->ndim - 1, x->shape + 1)};
    return make_view(tape, x, 2, shape);
}
