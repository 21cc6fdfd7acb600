/* ATMC at 32 bits (Gui et al., NeurIPS 2019; docs/pruning.md#atmc): projected adversarial
 * SGD with a GLOBAL l0 constraint. After every step all conv and linear weights are projected
 * on {at most keep non-zeros over the whole network} (iterative hard thresholding: a pruned
 * weight can come back if a step makes it large enough), on the 50/50 clean/adversarial
 * loss. The final support becomes the mask. The abc factorisation and quantisation are not
 * implemented. */
#include <stdlib.h>

#include "internal.h"

typedef struct atmc {
    ti__tp_run *r;
    int nl;
    ti_param *w[TP_MAX_LAYERS];
    const float *v[TP_MAX_LAYERS];
    size_t n[TP_MAX_LAYERS];
    float *mask[TP_MAX_LAYERS];
    float *scratch; /* all the magnitudes: the projection runs every step, allocation-free */
    size_t keep;
} atmc;

/* W <- P_k(W): the global top-k by magnitude, the rest set to zero. */
static ti_status project(atmc *a)
{
    ti_status s = ti_prune_topk_mask_global(a->v, a->n, a->nl, a->keep, a->mask, a->scratch);
    if (s != TI_OK)
        return ti_ctx_error(a->r->ctx, s, "atmc: out of memory in the projection");
    for (int l = 0; l < a->nl; l++)
        for (size_t i = 0; i < a->n[l]; i++)
            a->w[l]->t.data[i] *= a->mask[l][i];
    ti_model_weights_changed(a->r->m);
    return TI_OK;
}

/* Projecting before each forward is projecting after each step (the last one is done at the
 * end of the phase). */
static ti_status atmc_inputs(void *user, ti_train_batch *b)
{
    atmc *a = user;
    ti_status s = project(a);
    return s == TI_OK ? ti_adv_trainer_inputs(a->r->adv, b) : s;
}

static ti_status atmc_loss(void *user, ti_train_batch *b, ti_tensor **loss, ti_tensor **lg)
{
    return ti_adv_trainer_loss(((atmc *)user)->r->adv, b, loss, lg);
}

ti_status ti__tp_atmc(ti__tp_run *r)
{
    int resumed;
    ti_status s = ti__tp_phase_begin(r, "atmc", r->p.epochs_prune, &resumed);
    if (s != TI_OK || resumed)
        return s;
    atmc a = {.r = r};
    a.nl = ti__tp_weights(r, a.w, TP_MAX_LAYERS);
    size_t total = 0;
    for (int l = 0; l < a.nl && s == TI_OK; l++) {
        a.v[l] = a.w[l]->t.data;
        a.n[l] = a.w[l]->t.size;
        total += a.n[l];
        if (!(a.mask[l] = malloc(a.n[l] * sizeof(float))))
            s = ti_ctx_error(r->ctx, TI_ERR_NOMEM, "atmc: out of memory for masks");
    }
    a.keep = ti_prune_keep_count(total, r->p.sparsity);
    if (s == TI_OK && !(a.scratch = malloc(total * sizeof(float))))
        s = ti_ctx_error(r->ctx, TI_ERR_NOMEM, "atmc: out of memory for the projection");
    ti_sgd *opt = NULL;
    ti_schedule sched;
    /* the reference's x0.1 at epochs 30/60/90/120 of 200, scaled to the schedule's length */
    static const double at[4] = {0.15, 0.3, 0.45, 0.6};
    if (s == TI_OK)
        s = project(&a); /* up front, so that no batch sees the dense weights */
    if (s == TI_OK)
        s = ti__tp_sgd(r, r->p.lr_prune, &opt);
    if (s == TI_OK)
        s = ti__tp_schedule_step(r, &sched, r->p.lr_prune, r->p.epochs_prune, 4, at);
    ti_train_hooks hooks = {.user = &a, .inputs = atmc_inputs, .loss = atmc_loss};
    double loss = 0;
    if (s == TI_OK)
        s = ti__tp_train(r, opt, &sched, &hooks, r->p.epochs_prune, &loss);
    if (s == TI_OK)
        s = project(&a);
    for (int l = 0; l < a.nl && s == TI_OK; l++)
        s = ti_model_set_mask(r->m, a.w[l], a.mask[l]);
    ti_sgd_free(opt);
    for (int l = 0; l < a.nl; l++)
        free(a.mask[l]);
    free(a.scratch);
    return s == TI_OK ? ti__tp_phase_end(r, loss) : s;
}
