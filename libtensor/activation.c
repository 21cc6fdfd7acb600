/* ReLU: y = max(x, 0); dy/dx = 1 where x > 0 (0 at x = 0, as PyTorch). ti__relu_inplace
 * writes y over x's data (one activation fewer and no second buffer to stream through); the
 * models use it where nothing else reads x afterwards. */
#include "thinice/ops.h"
#include "internal.h"

static void relu_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const float *y = n->out->data, *gy = n->out->grad;
    float *gx = n->in[0]->grad;
    for (size_t i = 0; i < n->out->size; i++)
        gx[i] += y[i] > 0.0f ? gy[i] : 0.0f;
}

static const ti_op_def op_relu = {"relu", relu_backward};

ti_tensor *ti_relu(ti_tape *tape, ti_tensor *x)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    ti_tensor *y = ti__tape_like(tape, x);
    if (!y)
        return NULL;
    for (size_t i = 0; i < x->size; i++)
        y->data[i] = x->data[i] > 0.0f ? x->data[i] : 0.0f;
    ti__tape_record(tape, &op_relu, y, 1, &x);
    return y;
}

ti_tensor *ti__relu_inplace(ti_tape *tape, ti_tensor *x)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    ti_tensor *y = ti__tape_alloc(tape, sizeof *y);
    if (!y)
        return NULL;
    ti_tensor_view(y, x->data, NULL, x->ndim, x->shape);
    for (size_t i = 0; i < x->size; i++)
        y->data[i] = y->data[i] > 0.0f ? y->data[i] : 0.0f;
    /* the backward reads y only, so x's values are not needed any more */
    ti__tape_record(tape, &op_relu, y, 1, &x);
    return y;
}
