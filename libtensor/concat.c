/* Concatenation along one axis (torch.cat, ONNX Concat): the feature maps of DenseNet and
 * Inception blocks joined along the channels. Seen around the axis, every input is an
 * (outer, n_i inner) matrix and the output their side-by-side (outer, sum_i n_i inner); the
 * backward hands each input its columns of the output gradient back. */

#include "thinice/ops.h"
#include "internal.h"

/* The product of shape[a..b). */
static size_t span(const ti_tensor *t, int a, int b)
{
    size_t n = 1;
    for (int i = a; i < b; i++)
        n *= (size_t)t->shape[i];
    return n;
}

/* dx_i += its block of columns of dy, for every row of the outer dimensions */
static void concat_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    int axis = n->ip[0];
    const ti_tensor *y = n->out;
    size_t outer = span(y, 0, axis), row = span(y, axis, y->ndim), off = 0;
    for (int i = 0; i < n->nin; i++) {
        ti_tensor *x = n->in[i];
        size_t len = span(x, axis, x->ndim);
        if (x->requires_grad)
            for (size_t o = 0; o < outer; o++) {
                const float *g = y->grad + o * row + off;
                float *gx = x->grad + o * len;
                for (size_t k = 0; k < len; k++)
                    gx[k] += g[k];
            }
        off += len;
    }
}

static const ti_op_def op_concat = {"concat", concat_backward};

/* One node joins at most TI_NODE_MAX_IN inputs (the tape's limit). */
static ti_tensor *concat_node(ti_tape *tape, int n, ti_tensor *const *xs, int axis)
{
    int shape[TI_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    for (int i = 1; i < n; i++)
        shape[axis] += xs[i]->shape[axis];
    ti_tensor *y = ti_tape_tensor(tape, xs[0]->ndim, shape);
    if (!y)
        return NULL;
    size_t outer = span(y, 0, axis), row = span(y, axis, y->ndim), off = 0;
    for (int i = 0; i < n; i++) {
        size_t len = span(xs[i], axis, xs[i]->ndim);
        for (size_t o = 0; o < outer; o++)
            memcpy(y->data + o * row + off, xs[i]->data + o * len, len * sizeof(float));
        off += len;
    }
    ti_node *node = ti__tape_record(tape, &op_concat, y, n, xs);
    if (node)
        node->ip[0] = axis;
    return y;
}

ti_tensor *ti_concat(ti_tape *tape, int n, ti_tensor *const *xs, int axis)
{
    if (n < 1 || !xs)
        return ti__tape_fail(tape, TI_ERR_ARG, "concat: %d inputs (at least one needed)", n);
    if (ti__tape_bad(tape, n, xs))
        return NULL;
    int nd = xs[0]->ndim;
    int a = axis < 0 ? axis + nd : axis;
    if (a < 0 || a >= nd)
        return ti__tape_fail(tape, TI_ERR_ARG, "concat: axis %d is out of range for %d-D inputs",
                             axis, nd);
    long total = 0;
    for (int i = 0; i < n; i++) {
        char s0[64], si[64];
        int ok = xs[i]->ndim == nd;
        for (int d = 0; ok && d < nd; d++)
            ok = d == a || xs[i]->shape[d] == xs[0]->shape[d];
        if (!ok)
            return ti__tape_fail(tape, TI_ERR_SHAPE,
                                 "concat: input %d %s does not fit input 0 %s along axis %d", i,
                                 ti_shape_str(xs[i], si, sizeof si),
                                 ti_shape_str(xs[0], s0, sizeof s0), a);
        total += xs[i]->shape[a];
    }
    if (total > 0x7fffffff)
        return ti__tape_fail(tape, TI_ERR_SHAPE, "concat: the result is too large");
    /* more inputs than a node holds: join them a node's worth at a time, the partial result
     * being the first input of the next node (rare: Inception joins four branches) */
    ti_tensor *y = concat_node(tape, n < TI_NODE_MAX_IN ? n : TI_NODE_MAX_IN, xs, a);
    for (int i = TI_NODE_MAX_IN; i < n && y; i += TI_NODE_MAX_IN - 1) {
        ti_tensor *part[TI_NODE_MAX_IN] = {y};
        int k = n - i < TI_NODE_MAX_IN - 1 ? n - i : TI_NODE_MAX_IN - 1;
        memcpy(part + 1, xs + i, (size_t)k * sizeof *part);
        y = concat_node(tape, k + 1, part, a);
    }
    return y;
}
