/* Masked weights for pruning: W~ = W * M with a constant 0/1 mask, and HYDRA's
 * straight-through gradient to the importance scores (Sehwag et al. 2020; docs/pruning.md#hydra):
 * the top-k selection is treated as the identity, so dL/dS = sign(S) * W * dL/dW~. */
#include "thinice/ops.h"
#include "internal.h"

static void masked_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const float *g = n->out->grad, *mask = n->saved;
    ti_tensor *w = n->in[0], *score = n->nin > 1 ? n->in[1] : NULL;
    if (w->requires_grad)
        for (size_t i = 0; i < w->size; i++)
            w->grad[i] += mask[i] * g[i];
    if (score && score->requires_grad)
        for (size_t i = 0; i < w->size; i++) {
            float s = score->data[i];
            float sg = (float)((s > 0.0f) - (s < 0.0f));
            score->grad[i] += sg * w->data[i] * g[i];
        }
}

static const ti_op_def op_masked = {"masked_weight", masked_backward};

ti_tensor *ti_masked_weight(ti_tape *tape, ti_tensor *w, const float *mask, ti_tensor *score)
{
    if (ti__tape_bad(tape, 1, &w))
        return NULL;
    if (!mask)
        return ti__tape_fail(tape, TI_ERR_ARG, "masked_weight: the mask is NULL");
    if (score && !ti__same_shape(w, score)) {
        char a[64], b[64];
        return ti__tape_fail(tape, TI_ERR_SHAPE, "masked_weight: weight %s and score %s differ",
                             ti_shape_str(w, a, sizeof a), ti_shape_str(score, b, sizeof b));
    }
    ti_tensor *y = ti__tape_like(tape, w);
    if (!y)
        return NULL;
    for (size_t i = 0; i < w->size; i++)
        y->data[i] = w->data[i] * mask[i];
    ti_tensor *in[2] = {w, score};
    ti_node *n = ti__tape_record(tape, &op_masked, y, score ? 2 : 1, in);
    if (n) {
        /* the mask may change after this forward (HYDRA recomputes it per step): keep a copy */
        float *m = ti__tape_alloc(tape, w->size * sizeof(float));
        if (!m)
            return NULL;
        memcpy(m, mask, w->size * sizeof(float));
        n->saved = m;
    }
    return y;
}
