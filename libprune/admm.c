/* ADMM pruning (Ye et al., ICCV 2019; docs/pruning.md#admm): minimise the adversarial loss
 * subject to W_l in S_l = {||V||_0 <= keep_l} through the scaled augmented Lagrangian
 *   f_adv(W) + sum_l rho/2 ||W_l - Z_l + U_l||^2,
 * alternating SGD on W (the penalty adds rho (W - Z + U) to the gradient), the Z step
 * Z = Proj_S(W + U) and the dual step U += W - Z every `admm_period` epochs, with rho growing
 * by admm_rho_mult at each update. Then W is hard-pruned to its top-k and retrained with the
 * mask fixed. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

float ti_prune_admm_lr(float lr0, int epoch, int period)
{
    int o = epoch % period;
    return lr0 * powf(0.1f, floorf((float)o / ((float)period / 3.0f)));
}

typedef struct admm {
    ti__tp_run *r;
    ti_sgd *opt;
    int nl;
    ti_param *w[TP_MAX_LAYERS];
    float *Z[TP_MAX_LAYERS], *U[TP_MAX_LAYERS];
    float rho;
} admm;

/* Z = Proj_S(W + U), U = U + W - Z, layer by layer. */
static ti_status zu_step(admm *a)
{
    for (int l = 0; l < a->nl; l++) {
        const float *W = a->w[l]->t.data;
        size_t n = a->w[l]->t.size;
        for (size_t i = 0; i < n; i++)
            a->Z[l][i] = W[i] + a->U[l][i];
        ti_status s = ti_prune_project_l0(a->Z[l], n,
                                          ti_prune_keep_count(n, a->r->p.sparsity), a->Z[l]);
        if (s != TI_OK)
            return ti_ctx_error(a->r->ctx, s, "admm: out of memory in the Z step");
        for (size_t i = 0; i < n; i++)
            a->U[l][i] += W[i] - a->Z[l][i];
    }
    return TI_OK;
}

static ti_status admm_inputs(void *user, ti_train_batch *b)
{
    admm *a = user;
    int P = a->r->p.admm_period;
    if (b->batch == 0) {
        if (b->epoch > 0 && b->epoch % P == 0) {
            a->rho *= a->r->p.admm_rho_mult;
            ti_status s = zu_step(a);
            if (s != TI_OK)
                return s;
        }
        ti_sgd_set_lr(a->opt, ti_prune_admm_lr(a->r->p.lr_prune, b->epoch, P));
    }
    return ti_adv_trainer_inputs(a->r->adv, b);
}

static ti_status admm_loss(void *user, ti_train_batch *b, ti_tensor **loss, ti_tensor **lg)
{
    return ti_adv_trainer_loss(((admm *)user)->r->adv, b, loss, lg);
}

/* The penalty's gradient rho (W - Z + U) joins the loss's. */
static ti_status admm_after_backward(void *user, ti_train_batch *b)
{
    admm *a = user;
    for (int l = 0; l < a->nl; l++) {
        ti_tensor *w = &a->w[l]->t;
        for (size_t i = 0; i < w->size; i++)
            w->grad[i] += a->rho * (w->data[i] - a->Z[l][i] + a->U[l][i]);
    }
    return TI_OK;
}

static ti_status admm_phase(ti__tp_run *r, double *loss)
{
    admm a = {.r = r, .rho = r->p.admm_rho};
    a.nl = ti__tp_weights(r, a.w, TP_MAX_LAYERS);
    ti_status s = TI_OK;
    for (int l = 0; l < a.nl && s == TI_OK; l++) {
        a.Z[l] = malloc(a.w[l]->t.size * sizeof(float));
        a.U[l] = calloc(a.w[l]->t.size, sizeof(float));
        if (!a.Z[l] || !a.U[l])
            s = ti_ctx_error(r->ctx, TI_ERR_NOMEM, "admm: out of memory for Z and U");
    }
    /* initialisation: U = 0, Z = Proj_S(W) (zu_step with U = 0 then U = W - Z: undo that) */
    for (int l = 0; l < a.nl && s == TI_OK; l++) {
        size_t n = a.w[l]->t.size;
        s = ti_prune_project_l0(a.w[l]->t.data, n, ti_prune_keep_count(n, r->p.sparsity),
                                a.Z[l]);
    }
    if (s == TI_OK)
        s = ti__tp_sgd(r, r->p.lr_prune, &a.opt);
    ti_train_hooks hooks = {.user = &a, .inputs = admm_inputs, .loss = admm_loss,
                            .after_backward = admm_after_backward};
    if (s == TI_OK)
        s = ti__tp_train(r, a.opt, NULL, &hooks, r->p.epochs_prune, loss);
    ti_sgd_free(a.opt);
    for (int l = 0; l < a.nl; l++) {
        free(a.Z[l]);
        free(a.U[l]);
    }
    return s;
}

ti_status ti__tp_admm(ti__tp_run *r)
{
    int resumed;
    double loss = 0;
    ti_status s = ti__tp_phase_begin(r, "admm", r->p.epochs_prune, &resumed);
    if (s == TI_OK && !resumed) {
        s = admm_phase(r, &loss);
        if (s == TI_OK)
            s = ti__tp_phase_end(r, loss);
    }
    if (s == TI_OK)
        s = ti__tp_phase_begin(r, "admm-retrain", r->p.epochs_finetune, &resumed);
    if (s != TI_OK || resumed)
        return s;
    /* hard pruning: the weights themselves (not Z) projected, the support becomes the mask */
    s = ti__tp_mask_by_magnitude(r, r->p.sparsity, 0);
    ti_schedule sched;
    static const double at[2] = {0.4, 0.75};
    if (s == TI_OK)
        s = ti__tp_schedule_step(r, &sched, r->p.lr_finetune, r->p.epochs_finetune, 2, at);
    if (s == TI_OK)
        s = ti__tp_finetune(r, &sched, &loss);
    return s == TI_OK ? ti__tp_phase_end(r, loss) : s;
}
