/* Sparsity reports over a model's conv and linear weights (docs/pruning.md#counting-sparsity):
 * per layer,
 * global, and HYDRA's unweighted per-layer mean. */
#include "thinice/prune.h"

int ti_prune_layers(ti_model *m, ti_prune_layer *out, int cap)
{
    int nl = 0;
    for (int i = 0; i < ti_model_nparams(m); i++) {
        ti_param *p = ti_model_param(m, i);
        if (p->kind != TI_PARAM_WEIGHT)
            continue;
        if (nl < cap) {
            size_t z = 0;
            for (size_t j = 0; j < p->t.size; j++)
                z += p->t.data[j] == 0.0f;
            out[nl] = (ti_prune_layer){.name = p->name, .n = p->t.size, .zeros = z};
        }
        nl++;
    }
    return nl;
}

double ti_prune_layer_mean_sparsity(const ti_prune_layer *l, int nl)
{
    double s = 0;
    for (int i = 0; i < nl; i++)
        s += l[i].n ? (double)l[i].zeros / (double)l[i].n : 0.0;
    return nl ? s / nl : 0.0;
}
