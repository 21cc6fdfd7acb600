/* Input normalisation inside a model: y = (x - mean[c]) / std[c] per channel with constants
 * (torchvision's Normalize as a layer, as the RobustBench models carry it). Attacks see the
 * model on [0, 1] images, so the gradient dx = dy / std[c] must flow through it. */
#include <math.h>

#include "thinice/ops.h"
#include "internal.h"

/* The node's saved data: the constants, copied so that the caller's arrays may go away. */
typedef struct norm_saved {
    int C, HW;
    size_t planes;                /* N * C */
    float *mean, *std, *inv_std; /* (C) each, in the arena */
} norm_saved;

static void normalize_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const norm_saved *s = n->saved;
    const float *gy = n->out->grad;
    float *gx = n->in[0]->grad;
    for (size_t p = 0; p < s->planes; p++) {
        float a = s->inv_std[p % s->C];
        const float *g = gy + p * s->HW;
        float *d = gx + p * s->HW;
        for (int i = 0; i < s->HW; i++)
            d[i] += a * g[i];
    }
}

static const ti_op_def op_normalize = {"normalize", normalize_backward};

ti_tensor *ti_normalize(ti_tape *tape, ti_tensor *x, const float *mean, const float *std)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    char sx[64];
    if (x->ndim < 2)
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "normalize: x must be (N, C, ...) with a channel dimension, got %s",
                             ti_shape_str(x, sx, sizeof sx));
    if (!mean || !std)
        return ti__tape_fail(tape, TI_ERR_ARG, "normalize: mean and std must not be NULL");
    int C = x->shape[1];
    int HW = (int)ti_shape_size(x->ndim - 2, x->shape + 2);
    for (int c = 0; c < C; c++)
        if (!(std[c] > 0.0f) || !isfinite(std[c]) || !isfinite(mean[c]))
            return ti__tape_fail(tape, TI_ERR_ARG,
                                 "normalize: channel %d has mean %g and std %g (std must be "
                                 "finite and positive)",
                                 c, mean[c], std[c]);
    ti_tensor *y = ti__tape_like(tape, x);
    norm_saved *s = ti__tape_alloc(tape, sizeof *s);
    float *consts = ti__tape_alloc(tape, 3 * (size_t)C * sizeof(float) + 1);
    if (!y || !s || !consts)
        return NULL;
    s->C = C;
    s->HW = HW;
    s->planes = (size_t)x->shape[0] * C;
    s->mean = consts;
    s->std = consts + C;
    s->inv_std = consts + 2 * C;
    for (int c = 0; c < C; c++) {
        s->mean[c] = mean[c];
        s->std[c] = std[c];
        s->inv_std[c] = 1.0f / std[c];
    }
    /* one contiguous H*W plane per (n, c), constants hoisted out of the inner loop; a true
     * division (not a multiplication by 1/std) gives PyTorch's bits */
    for (size_t p = 0; p < s->planes; p++) {
        float m = s->mean[p % C], sd = s->std[p % C];
        const float *xs = x->data + p * HW;
        float *ys = y->data + p * HW;
        for (int i = 0; i < HW; i++)
            ys[i] = (xs[i] - m) / sd;
    }
    ti_node *n = ti__tape_record(tape, &op_normalize, y, 1, &x);
    if (n)
        n->saved = s;
    return y;
}
