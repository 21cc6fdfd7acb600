/* ResNet-18 and ResNet-34 in the CIFAR form of kuangliu/pytorch-cifar (used by HYDRA, ADMM,
 * ATMC; docs/models.md#architectures): 3x3 stem without max-pool, BasicBlocks [2,2,2,2] or [3,4,6,3] with
 * option-B (1x1 conv + BN) shortcuts, global average pool, one linear. Post-activation:
 * out = ReLU(BN2(conv2(ReLU(BN1(conv1 x)))) + shortcut x). PyTorch default init. */
#include <stdio.h>
#include <stdlib.h>

#include "model_internal.h"

typedef struct block {
    ti__mi_conv conv1, conv2, sc;
    ti__mi_bn bn1, bn2, scbn;
    int has_sc;
} block;

typedef struct resnet {
    ti__mi_conv conv1;
    ti__mi_bn bn1;
    int nblocks;
    block blocks[16];
    ti__mi_linear linear;
} resnet;

static ti_status build(ti_model *m, const int *per_stage)
{
    resnet *n = calloc(1, sizeof *n);
    if (!n)
        return ti_ctx_error(m->ctx, TI_ERR_NOMEM, "resnet: out of memory");
    m->net = n;
    int H = m->cfg.H, W = m->cfg.W, C = 64;
    ti_status s;
    if ((s = ti__mi_conv_add(m, &n->conv1, "conv1", m->cfg.C, 64, 3, 1, 1, 0,
                         ti__mi_init_torch(m->cfg.C * 9), &H, &W)) != TI_OK ||
        (s = ti__mi_bn_add(m, &n->bn1, "bn1", 64)) != TI_OK)
        return s;
    char pre[64];
    for (int st = 0; st < 4; st++) {
        int K = 64 << st;
        for (int i = 0; i < per_stage[st]; i++) {
            block *b = &n->blocks[n->nblocks++];
            int stride = (st > 0 && i == 0) ? 2 : 1, h = H, w = W;
            snprintf(pre, sizeof pre, "layer%d.%d.conv1", st + 1, i);
            if ((s = ti__mi_conv_add(m, &b->conv1, pre, C, K, 3, stride, 1, 0, ti__mi_init_torch(C * 9),
                                 &H, &W)) != TI_OK)
                return s;
            snprintf(pre, sizeof pre, "layer%d.%d.bn1", st + 1, i);
            if ((s = ti__mi_bn_add(m, &b->bn1, pre, K)) != TI_OK)
                return s;
            snprintf(pre, sizeof pre, "layer%d.%d.conv2", st + 1, i);
            if ((s = ti__mi_conv_add(m, &b->conv2, pre, K, K, 3, 1, 1, 0, ti__mi_init_torch(K * 9), &H,
                                 &W)) != TI_OK)
                return s;
            snprintf(pre, sizeof pre, "layer%d.%d.bn2", st + 1, i);
            if ((s = ti__mi_bn_add(m, &b->bn2, pre, K)) != TI_OK)
                return s;
            b->has_sc = stride != 1 || C != K;
            if (b->has_sc) {
                snprintf(pre, sizeof pre, "layer%d.%d.shortcut.0", st + 1, i);
                if ((s = ti__mi_conv_add(m, &b->sc, pre, C, K, 1, stride, 0, 0, ti__mi_init_torch(C),
                                     &h, &w)) != TI_OK)
                    return s;
                snprintf(pre, sizeof pre, "layer%d.%d.shortcut.1", st + 1, i);
                if ((s = ti__mi_bn_add(m, &b->scbn, pre, K)) != TI_OK)
                    return s;
            }
            C = K;
        }
    }
    return ti__mi_linear_add(m, &n->linear, "linear", 512, m->cfg.M, ti__mi_init_torch(512),
                         ti__mi_init_torch(512));
}

static ti_status build18(ti_model *m)
{
    static const int st[4] = {2, 2, 2, 2};
    return build(m, st);
}

static ti_status build34(ti_model *m)
{
    static const int st[4] = {3, 4, 6, 3};
    return build(m, st);
}

static ti_tensor *forward(ti_model *m, ti_tape *tape, ti_tensor *x, int training)
{
    const resnet *n = m->net;
    /* conv + BN (+ ReLU) through ti__mi_conv_bn_fwd: folded in evaluation, BN + ReLU fused in
     * training; the residual join ReLU(a + shortcut) runs in place over a */
    x = ti__mi_conv_bn_fwd(m, tape, &n->conv1, &n->bn1, x, training, 1);
    for (int i = 0; i < n->nblocks; i++) {
        const block *b = &n->blocks[i];
        ti_tensor *a = ti__mi_conv_bn_fwd(m, tape, &b->conv1, &b->bn1, x, training, 1);
        a = ti__mi_conv_bn_fwd(m, tape, &b->conv2, &b->bn2, a, training, 0);
        ti_tensor *sc = b->has_sc ? ti__mi_conv_bn_fwd(m, tape, &b->sc, &b->scbn, x, training, 0) : x;
        x = ti__add_relu(tape, a, sc);
    }
    /* kuangliu's avg_pool2d(4) on the 4x4 map, written as a global average for any input */
    x = ti_flatten(tape, ti_adaptive_avgpool2d(tape, x, 1, 1));
    return ti__mi_linear_fwd(m, tape, &n->linear, x);
}

const ti__mi_arch ti__mi_arch_resnet18 = {"resnet18", build18, forward};
const ti__mi_arch ti__mi_arch_resnet34 = {"resnet34", build34, forward};
