/* The dense (fully connected) layer y = x w^T + b with one sgemm each way, as PyTorch's
 * nn.Linear. Backward: dx = dy w, dw = dy^T x, db = sum_n dy (see docs/batchnorm.md for the
 * conventions); each is computed only for an input that asks for it, so an attack (frozen
 * weights) pays for dx alone. */
#include "thinice/ops.h"
#include "internal.h"

/* in[0] = x viewed as (N, C), in[1] = w (K, C), in[2] = b (K) if any; ip[0..2] = N, C, K */
static void linear_backward(ti_tape *tape, ti_node *n)
{
    ti_ctx *ctx = ti_tape_ctx(tape);
    int N = n->ip[0], C = n->ip[1], K = n->ip[2];
    const float *gy = n->out->grad; /* (N, K) */
    ti_tensor *x = n->in[0], *w = n->in[1];
    if (N == 0 || C == 0 || K == 0)
        return; /* nothing to add (and BLAS dislikes zero leading dimensions) */
    if (x->requires_grad) /* dx (N, C) += dy (N, K) w (K, C) */
        ti__sgemm(ctx, CblasNoTrans, CblasNoTrans, N, C, K, 1.0f, gy, K, w->data, C, 1.0f,
                  x->grad, C);
    if (w->requires_grad) /* dw (K, C) += dy^T (K, N) x (N, C) */
        ti__sgemm(ctx, CblasTrans, CblasNoTrans, K, C, N, 1.0f, gy, K, x->data, C, 1.0f,
                  w->grad, C);
    if (n->nin == 3 && n->in[2]->requires_grad) {
        float *gb = n->in[2]->grad; /* (K) */
        for (int i = 0; i < N; i++)
            for (int k = 0; k < K; k++)
                gb[k] += gy[(size_t)i * K + k];
    }
}

static const ti_op_def op_linear = {"linear", linear_backward};

ti_tensor *ti_linear(ti_tape *tape, ti_tensor *x, ti_tensor *w, ti_tensor *b)
{
    ti_tensor *in[3] = {x, w, b};
    if (ti__tape_bad(tape, 2, in))
        return NULL;
    char sx[64], sw[64], sb[64];
    if (x->ndim < 2)
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "linear: x must be (N, C) or (N, ...), got %s",
                             ti_shape_str(x, sx, sizeof sx));
    if (w->ndim != 2)
        return ti__tape_fail(tape, TI_ERR_SHAPE, "linear: w must be (K, C), got %s",
                             ti_shape_str(w, sw, sizeof sw));
    int N = x->shape[0], K = w->shape[0];
    size_t C = ti_shape_size(x->ndim - 1, x->shape + 1);
    if (C != (size_t)w->shape[1])
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "linear: x %s has C=%zu features per sample but w %s expects C=%d "
                             "(a missing flatten, or a model for a different image size?)",
                             ti_shape_str(x, sx, sizeof sx), C, ti_shape_str(w, sw, sizeof sw),
                             w->shape[1]);
    if (b && (b->ndim != 1 || b->shape[0] != K))
        return ti__tape_fail(tape, TI_ERR_SHAPE, "linear: b must be (K) = (%d), got %s", K,
                             ti_shape_str(b, sb, sizeof sb));

    ti_tensor *y = ti_tape_tensor(tape, 2, (int[]){N, K}); /* (N, K) */
    if (!y)
        return NULL;
    /* start from the bias (or zero), then let sgemm add x w^T */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < K; k++)
            y->data[(size_t)i * K + k] = b ? b->data[k] : 0.0f;
    if (N > 0 && K > 0 && C > 0)
        ti__sgemm(ti_tape_ctx(tape), CblasNoTrans, CblasTrans, N, K, (int)C, 1.0f, x->data,
                  (int)C, w->data, (int)C, 1.0f, y->data, K);

    ti_node *n = ti__tape_record(tape, &op_linear, y, b ? 3 : 2, in);
    if (n) {
        n->ip[0] = N;
        n->ip[1] = (int)C;
        n->ip[2] = K;
    }
    return y;
}
