/* ReLU: y = max(x, 0); dy/dx = 1 where x > 0 (0 at x = 0, as PyTorch). ti__relu_inplace
 * writes y over x's data (one activation fewer and no second buffer to stream through); the
 * models use it where nothing else reads x afterwards. */
#include "thinice/ops.h"
#include "internal.h"

/* Both passes over a range of elements, for the pool: y = max(x, 0), or gx += dy where
 * y > 0 (x may be y, in place). */
typedef struct relu_job {
    float *y;
    const float *x;
    float *gx;
    const float *gy;
} relu_job;

static void fwd_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const relu_job *j = arg;
    for (size_t i = lo; i < hi; i++)
        j->y[i] = j->x[i] > 0.0f ? j->x[i] : 0.0f;
}

static void bwd_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const relu_job *j = arg;
    for (size_t i = lo; i < hi; i++)
        j->gx[i] += j->y[i] > 0.0f ? j->gy[i] : 0.0f;
}

static void relu_backward(ti_tape *tape, ti_node *n)
{
    relu_job j = {.y = n->out->data, .gx = n->in[0]->grad, .gy = n->out->grad};
    ti__parallel_for(ti_tape_ctx(tape), n->out->size, TI_GRAIN_ELEMS, bwd_range, &j);
}

static const ti_op_def op_relu = {"relu", relu_backward};

ti_tensor *ti_relu(ti_tape *tape, ti_tensor *x)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    ti_tensor *y = ti__tape_like(tape, x);
    if (!y)
        return NULL;
    relu_job j = {.y = y->data, .x = x->data};
    ti__parallel_for(ti_tape_ctx(tape), x->size, TI_GRAIN_ELEMS, fwd_range, &j);
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
    relu_job j = {.y = y->data, .x = y->data};
    ti__parallel_for(ti_tape_ctx(tape), x->size, TI_GRAIN_ELEMS, fwd_range, &j);
    /* the backward reads y only, so x's values are not needed any more */
    ti__tape_record(tape, &op_relu, y, 1, &x);
    return y;
}
