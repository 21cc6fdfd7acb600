/* HYDRA's published checkpoints (Sehwag et al., NeurIPS 2020; code: inspire-group/hydra):
 * every conv and linear layer keeps its dense weight W and a score tensor "<layer>.popup_scores"
 * of the same shape, and the network it evaluates uses W * topk(|S|) per layer, keeping the
 * same fraction of every layer (docs/pruning.md#hydra). Loading such a file for evaluation
 * turns the scores into masks, so that the model computes what HYDRA's did. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thinice/safetensors.h"

/* The scores of weight p in f ("conv1.weight" -> "conv1.popup_scores", also under
 * DataParallel's "module." prefix), or NULL. */
static const ti_st_entry *scores_of(const ti_st_file *f, const ti_param *p)
{
    char name[160];
    size_t n = strlen(p->name);
    if (n < 7 || strcmp(p->name + n - 7, ".weight") != 0 || n - 7 + 30 > sizeof name)
        return NULL;
    snprintf(name, sizeof name, "%.*s.popup_scores", (int)(n - 7), p->name);
    const ti_st_entry *e = ti_st_find(f, name);
    if (!e) {
        char prefixed[180];
        snprintf(prefixed, sizeof prefixed, "module.%s", name);
        e = ti_st_find(f, prefixed);
    }
    return e;
}

/* One layer's mask: the top ti_prune_keep_count(n, sparsity) scores by magnitude. */
static ti_status mask_layer(ti_ctx *ctx, ti_model *m, ti_param *p, const ti_st_file *f,
                            const ti_st_entry *e, double sparsity, const char *path)
{
    size_t n = p->t.size;
    if (e->nelem != n)
        return ti_ctx_error(ctx, TI_ERR_SHAPE, "%s: %s has %zu scores for %zu weights", path,
                            e->name, e->nelem, n);
    float *s = malloc(n * sizeof *s), *mask = malloc(n * sizeof *mask);
    ti_status st = s && mask ? ti_st_read_f32(ctx, f, e, s)
                             : ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", path);
    if (st == TI_OK)
        st = ti_prune_topk_mask(s, n, ti_prune_keep_count(n, sparsity), mask, NULL);
    if (st == TI_OK)
        st = ti_model_set_mask(m, p, mask);
    free(s);
    free(mask);
    return st;
}

ti_status ti_prune_apply_scores(ti_model *m, const char *path, double sparsity, int *layers)
{
    ti_ctx *ctx = ti_model_ctx(m);
    *layers = 0;
    if (!(sparsity >= 0 && sparsity < 1))
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: sparsity %g is not in [0, 1)", path, sparsity);
    ti_st_file *f;
    ti_status st = ti_st_open(ctx, path, &f);
    if (st != TI_OK)
        return st;
    for (int i = 0; st == TI_OK && i < ti_model_nparams(m); i++) {
        ti_param *p = ti_model_param(m, i);
        const ti_st_entry *e = p->kind == TI_PARAM_WEIGHT ? scores_of(f, p) : NULL;
        if (e && (st = mask_layer(ctx, m, p, f, e, sparsity, path)) == TI_OK)
            (*layers)++;
    }
    ti_st_close(f);
    return st;
}
