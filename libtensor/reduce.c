/* Reductions to a scalar: sum and mean (accumulated in double, so a large tensor's sum does
 * not lose the small terms). */
#include "thinice/ops.h"
#include "internal.h"

/* y = s * sum(x): sum has s = 1, mean s = 1/size; fp[0] holds s */
static void sum_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    float g = n->out->grad[0] * n->fp[0];
    float *gx = n->in[0]->grad;
    for (size_t i = 0; i < n->in[0]->size; i++)
        gx[i] += g;
}

static const ti_op_def op_sum = {"sum", sum_backward};

static ti_tensor *scaled_sum(ti_tape *tape, ti_tensor *x, int mean)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    ti_tensor *y = ti_tape_tensor(tape, 0, NULL);
    if (!y)
        return NULL;
    float s = mean ? 1.0f / (float)(x->size ? x->size : 1) : 1.0f;
    double acc = 0;
    for (size_t i = 0; i < x->size; i++)
        acc += x->data[i];
    y->data[0] = (float)(acc * s);
    ti_node *n = ti__tape_record(tape, &op_sum, y, 1, &x);
    if (n)
        n->fp[0] = s;
    return y;
}

ti_tensor *ti_sum(ti_tape *tape, ti_tensor *x)
{
    return scaled_sum(tape, x, 0);
}

ti_tensor *ti_mean(ti_tape *tape, ti_tensor *x)
{
    return scaled_sum(tape, x, 1);
}
