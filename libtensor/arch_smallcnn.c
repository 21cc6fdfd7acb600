/* thinice's small CNN for Fashion-MNIST (PyTorch names conv1, conv2, fc1, fc2): two 3x3 conv +
 * ReLU + 2x2 max-pool stages (32 and 64 channels), then 128 hidden units and the logits.
 * PyTorch default initialisation (kaiming-uniform a = sqrt 5, docs/models.md#initialisation). */
#include <stdlib.h>

#include "model_internal.h"

typedef struct smallcnn {
    ti__mi_conv conv1, conv2;
    ti__mi_linear fc1, fc2;
} smallcnn;

static ti_status build(ti_model *m)
{
    smallcnn *n = calloc(1, sizeof *n);
    if (!n)
        return ti_ctx_error(m->ctx, TI_ERR_NOMEM, "smallcnn: out of memory");
    m->net = n;
    const ti_model_config *c = &m->cfg;
    int H = c->H, W = c->W;
    ti_status s;
    if ((s = ti__mi_conv_add(m, &n->conv1, "conv1", c->C, 32, 3, 1, 1, 1, ti__mi_init_torch(c->C * 9),
                         &H, &W)) != TI_OK ||
        (s = ti__mi_pool_check(m, "conv1", &H, &W)) != TI_OK ||
        (s = ti__mi_conv_add(m, &n->conv2, "conv2", 32, 64, 3, 1, 1, 1, ti__mi_init_torch(32 * 9), &H,
                         &W)) != TI_OK ||
        (s = ti__mi_pool_check(m, "conv2", &H, &W)) != TI_OK)
        return s;
    int F = 64 * H * W;
    if ((s = ti__mi_linear_add(m, &n->fc1, "fc1", F, 128, ti__mi_init_torch(F), ti__mi_init_torch(F))) !=
            TI_OK ||
        (s = ti__mi_linear_add(m, &n->fc2, "fc2", 128, c->M, ti__mi_init_torch(128),
                           ti__mi_init_torch(128))) != TI_OK)
        return s;
    return TI_OK;
}

static ti_tensor *forward(ti_model *m, ti_tape *tape, ti_tensor *x, int training)
{
    (void)training; /* no batch norm */
    const smallcnn *n = m->net;
    /* PyTorch's SmallCNN pools ReLU(conv); max-pooling commutes with ReLU (both are
     * monotone, and the first maximum of a window is the same before and after), so the
     * ReLU runs on the pooled map, a quarter of the values, in place (the pool's backward
     * reads only its argmax). Same values, same gradients. */
    x = ti__relu_inplace(tape, ti_maxpool2d(tape, ti__mi_conv_fwd(m, tape, &n->conv1, x), 2, 2));
    x = ti__relu_inplace(tape, ti_maxpool2d(tape, ti__mi_conv_fwd(m, tape, &n->conv2, x), 2, 2));
    x = ti_relu(tape, ti__mi_linear_fwd(m, tape, &n->fc1, ti_flatten(tape, x)));
    return ti__mi_linear_fwd(m, tape, &n->fc2, x);
}

const ti__mi_arch ti__mi_arch_smallcnn = {"smallcnn", build, forward};
