/* VGG-16 in two forms (docs/models.md#architectures):
 *  - vgg16_bn, HYDRA's vgg_cifar.py: 13 conv3x3 (no bias) + BN + ReLU, four max-pools,
 *    adaptive average pool to 2x2, classifier 2048-256-256-M; HYDRA's init (Kaiming normal
 *    fan-out convs, N(0, 0.01^2) linears, zero biases);
 *  - vgg16_admm, kuangliu's VGG of the ADMM repository: conv3x3 with bias + BN + ReLU, five
 *    max-pools, one linear 512-M; PyTorch default init. The head is a global average pool
 *    (identity on the 1x1 map of a 32x32 input), and inputs smaller than 32 are zero-padded
 *    by the model (see model.c) so that five pools leave a map.
 * Module indices follow PyTorch's Sequential: each conv entry takes three slots (conv, bn,
 * relu), each pool one, so "features.N" names match the reference checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model_internal.h"

#define POOL (-1)
static const int cfg16[] = {64,  64,  POOL, 128, 128, POOL, 256, 256, 256, POOL,
                            512, 512, 512,  POOL, 512, 512, 512, POOL};
#define NCFG ((int)(sizeof cfg16 / sizeof cfg16[0]))

typedef struct vgg {
    int admm;                   /* 1: kuangliu/ADMM form, 0: HYDRA vgg16_bn */
    ti__mi_conv conv[13];
    ti__mi_bn bn[13];
    ti__mi_linear fc[3];            /* HYDRA: classifier.0/2/4; ADMM: classifier (fc[0]) */
} vgg;

static ti_status build(ti_model *m, int admm)
{
    vgg *n = calloc(1, sizeof *n);
    if (!n)
        return ti_ctx_error(m->ctx, TI_ERR_NOMEM, "vgg: out of memory");
    m->net = n;
    n->admm = admm;
    int C = m->cfg.C, H = m->cfg.H, W = m->cfg.W;
    if (admm) { /* the input is padded to at least 32 (model.c) */
        int pad = ti__mi_vgg_admm_pad(H, W);
        H += 2 * pad;
        W += 2 * pad;
    }
    int ncfg = admm ? NCFG : NCFG - 1; /* HYDRA's config has no final pool */
    int idx = 0, j = 0;
    ti_status s;
    char name[64];
    for (int i = 0; i < ncfg; i++) {
        if (cfg16[i] == POOL) {
            snprintf(name, sizeof name, "features.%d", idx - 3);
            if ((s = ti__mi_pool_check(m, name, &H, &W)) != TI_OK)
                return s;
            idx += 1;
            continue;
        }
        int K = cfg16[i];
        /* HYDRA: Kaiming normal, fan-out mode, ReLU gain: std sqrt(2 / (K 3 3)) */
        ti__mi_init wi = admm ? ti__mi_init_torch(C * 9)
                          : (ti__mi_init){MI_INIT_NORMAL, (float)sqrt(2.0 / (K * 9.0))};
        snprintf(name, sizeof name, "features.%d", idx);
        if ((s = ti__mi_conv_add(m, &n->conv[j], name, C, K, 3, 1, 1, admm, wi, &H, &W)) != TI_OK)
            return s;
        snprintf(name, sizeof name, "features.%d", idx + 1);
        if ((s = ti__mi_bn_add(m, &n->bn[j], name, K)) != TI_OK)
            return s;
        C = K;
        idx += 3;
        j++;
    }
    if (admm)
        return ti__mi_linear_add(m, &n->fc[0], "classifier", 512, m->cfg.M, ti__mi_init_torch(512),
                             ti__mi_init_torch(512));
    const ti__mi_init wi = {MI_INIT_NORMAL, 0.01f}, bi = {MI_INIT_CONST, 0.0f};
    const int in[3] = {512 * 2 * 2, 256, 256}, out[3] = {256, 256, m->cfg.M};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "classifier.%d", 2 * i);
        if ((s = ti__mi_linear_add(m, &n->fc[i], name, in[i], out[i], wi, bi)) != TI_OK)
            return s;
    }
    return TI_OK;
}

static ti_status build_bn(ti_model *m)
{
    return build(m, 0);
}

static ti_status build_admm(ti_model *m)
{
    return build(m, 1);
}

static ti_tensor *forward(ti_model *m, ti_tape *tape, ti_tensor *x, int training)
{
    const vgg *n = m->net;
    int j = 0, ncfg = n->admm ? NCFG : NCFG - 1;
    for (int i = 0; i < ncfg; i++) {
        if (cfg16[i] == POOL) {
            x = ti_maxpool2d(tape, x, 2, 2);
            continue;
        }
        /* folded into the conv in evaluation, BN + ReLU fused in training */
        x = ti__mi_conv_bn_fwd(m, tape, &n->conv[j], &n->bn[j], x, training, 1);
        j++;
    }
    if (n->admm)
        return ti__mi_linear_fwd(m, tape, &n->fc[0],
                             ti_flatten(tape, ti_adaptive_avgpool2d(tape, x, 1, 1)));
    x = ti_flatten(tape, ti_adaptive_avgpool2d(tape, x, 2, 2));
    x = ti__relu_inplace(tape, ti__mi_linear_fwd(m, tape, &n->fc[0], x));
    x = ti__relu_inplace(tape, ti__mi_linear_fwd(m, tape, &n->fc[1], x));
    return ti__mi_linear_fwd(m, tape, &n->fc[2], x);
}

const ti__mi_arch ti__mi_arch_vgg16_bn = {"vgg16_bn", build_bn, forward};
const ti__mi_arch ti__mi_arch_vgg16_admm = {"vgg16_admm", build_admm, forward};
