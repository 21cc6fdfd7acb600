/* WideResNet-28-4 and 28-10 as HYDRA's wrn_cifar.py (docs/models.md#architectures): 3x3 stem, three groups
 * of four pre-activation BasicBlocks (widths 16w, 32w, 64w; strides 1, 2, 2), BN + ReLU,
 * global average pool, linear. A block whose widths differ takes its 1x1 shortcut from the
 * activated input. HYDRA also builds an unused "sub_block1": not built here (its keys are
 * accepted and reported by ti_model_load). Init: conv N(0, 2/(k k K)), BN 1/0, linear
 * weight PyTorch default, bias 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model_internal.h"

#define WRN_N 4 /* (28 - 4) / 6 blocks per group */

typedef struct block {
    ti__mi_bn bn1, bn2;
    ti__mi_conv conv1, conv2, sc;
    int equal; /* in == out: identity shortcut on the raw input */
} block;

typedef struct wrn {
    ti__mi_conv conv1;
    block blocks[3 * WRN_N];
    ti__mi_bn bn1;
    ti__mi_linear fc;
} wrn;

static ti__mi_init conv_init(int K, int k)
{
    return (ti__mi_init){MI_INIT_NORMAL, (float)sqrt(2.0 / (k * k * K))};
}

static ti_status build(ti_model *m, int widen)
{
    wrn *n = calloc(1, sizeof *n);
    if (!n)
        return ti_ctx_error(m->ctx, TI_ERR_NOMEM, "wrn: out of memory");
    m->net = n;
    int H = m->cfg.H, W = m->cfg.W, C = 16;
    ti_status s;
    if ((s = ti__mi_conv_add(m, &n->conv1, "conv1", m->cfg.C, 16, 3, 1, 1, 0, conv_init(16, 3), &H,
                         &W)) != TI_OK)
        return s;
    char pre[64];
    for (int g = 0; g < 3; g++) {
        int K = (16 << g) * widen;
        for (int i = 0; i < WRN_N; i++) {
            block *b = &n->blocks[g * WRN_N + i];
            int stride = (g > 0 && i == 0) ? 2 : 1, h = H, w = W;
            b->equal = C == K;
            snprintf(pre, sizeof pre, "block%d.layer.%d.bn1", g + 1, i);
            if ((s = ti__mi_bn_add(m, &b->bn1, pre, C)) != TI_OK)
                return s;
            snprintf(pre, sizeof pre, "block%d.layer.%d.conv1", g + 1, i);
            if ((s = ti__mi_conv_add(m, &b->conv1, pre, C, K, 3, stride, 1, 0, conv_init(K, 3), &H,
                                 &W)) != TI_OK)
                return s;
            snprintf(pre, sizeof pre, "block%d.layer.%d.bn2", g + 1, i);
            if ((s = ti__mi_bn_add(m, &b->bn2, pre, K)) != TI_OK)
                return s;
            snprintf(pre, sizeof pre, "block%d.layer.%d.conv2", g + 1, i);
            if ((s = ti__mi_conv_add(m, &b->conv2, pre, K, K, 3, 1, 1, 0, conv_init(K, 3), &H,
                                 &W)) != TI_OK)
                return s;
            if (!b->equal) {
                snprintf(pre, sizeof pre, "block%d.layer.%d.convShortcut", g + 1, i);
                if ((s = ti__mi_conv_add(m, &b->sc, pre, C, K, 1, stride, 0, 0, conv_init(K, 1), &h,
                                     &w)) != TI_OK)
                    return s;
            }
            C = K;
        }
    }
    if ((s = ti__mi_bn_add(m, &n->bn1, "bn1", C)) != TI_OK)
        return s;
    return ti__mi_linear_add(m, &n->fc, "fc", C, m->cfg.M, ti__mi_init_torch(C),
                         (ti__mi_init){MI_INIT_CONST, 0.0f});
}

static ti_status build4(ti_model *m)
{
    return build(m, 4);
}

static ti_status build10(ti_model *m)
{
    return build(m, 10);
}

static ti_tensor *forward(ti_model *m, ti_tape *tape, ti_tensor *x, int training)
{
    const wrn *n = m->net;
    x = ti__mi_conv_fwd(m, tape, &n->conv1, x);
    for (int i = 0; i < 3 * WRN_N; i++) {
        const block *b = &n->blocks[i];
        /* pre-activation BN + ReLU fused in one pass (x itself stays: it may be the
         * shortcut); conv1 + bn2 + ReLU folded in evaluation */
        ti_tensor *a = ti__mi_bn_relu_fwd(m, tape, &b->bn1, x, training);
        ti_tensor *o = ti__mi_conv_bn_fwd(m, tape, &b->conv1, &b->bn2, a, training, 1);
        o = ti__mi_conv_fwd(m, tape, &b->conv2, o);
        x = ti_add(tape, b->equal ? x : ti__mi_conv_fwd(m, tape, &b->sc, a), o);
    }
    x = ti__mi_bn_relu_fwd(m, tape, &n->bn1, x, training);
    /* HYDRA's avg_pool2d(8) on the 8x8 map, written as a global average for any input */
    x = ti_flatten(tape, ti_adaptive_avgpool2d(tape, x, 1, 1));
    return ti__mi_linear_fwd(m, tape, &n->fc, x);
}

const ti__mi_arch ti__mi_arch_wrn_28_4 = {"wrn_28_4", build4, forward};
const ti__mi_arch ti__mi_arch_wrn_28_10 = {"wrn_28_10", build10, forward};
