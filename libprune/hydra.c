/* HYDRA (Sehwag et al., NeurIPS 2020; docs/pruning.md#hydra). Every conv and linear weight W
 * gets an importance score S; the forward pass uses W * topk(|S|, k) per layer.
 *   prune phase:    S starts at the scaled init sqrt(6/fan_in) W / max|W| (so the first mask
 *                   is magnitude pruning), then S (and batch norm) are trained with the weights
 *                   frozen, through the straight-through gradient sign(S) W dL/dW~;
 *   finetune phase: the mask topk(|S|) is fixed and the weights are trained under it. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "thinice/ops.h"

void ti_prune_hydra_scaled_init(const float *W, size_t n, size_t fan_in, float *S)
{
    float mx = 0;
    for (size_t i = 0; i < n; i++)
        mx = fmaxf(mx, fabsf(W[i]));
    float scale = mx > 0 ? sqrtf(6.0f / (float)fan_in) / mx : 0.0f;
    for (size_t i = 0; i < n; i++)
        S[i] = W[i] * scale;
}

typedef struct hydra {
    ti__tp_run *r;
    int nl;
    ti_param *w[TP_MAX_LAYERS];
    ti_tensor *score[TP_MAX_LAYERS]; /* leaves with gradients, trained by SGD */
    float *mask[TP_MAX_LAYERS];      /* topk(|S|), recomputed before every step */
    float *scratch;                  /* the largest layer's magnitudes, reused every step */
    const ti_param *first;           /* ti_model_param(m, 0): maps a param to its index */
    int layer_of[1024];              /* parameter index -> layer, -1 for others */
} hydra;

static ti_tensor *hydra_weight(void *user, ti_tape *tape, ti_param *p)
{
    hydra *h = user;
    long i = p - h->first;
    int l = (i >= 0 && i < 1024) ? h->layer_of[i] : -1;
    if (l < 0)
        return &p->t;
    return ti_masked_weight(tape, &p->t, h->mask[l], h->score[l]);
}

static ti_status update_masks(hydra *h)
{
    for (int l = 0; l < h->nl; l++) {
        size_t n = h->w[l]->t.size;
        ti_status s = ti_prune_topk_mask(h->score[l]->data, n,
                                         ti_prune_keep_count(n, h->r->p.sparsity), h->mask[l],
                                         h->scratch);
        if (s != TI_OK)
            return ti_ctx_error(h->r->ctx, s, "hydra: out of memory computing masks");
    }
    return TI_OK;
}

/* The scores changed at the last step: the mask follows before the next forward. */
static ti_status hydra_inputs(void *user, ti_train_batch *b)
{
    hydra *h = user;
    ti_status s = update_masks(h);
    return s == TI_OK ? ti_adv_trainer_inputs(h->r->adv, b) : s;
}

static ti_status hydra_loss(void *user, ti_train_batch *b, ti_tensor **loss, ti_tensor **lg)
{
    return ti_adv_trainer_loss(((hydra *)user)->r->adv, b, loss, lg);
}

static void hydra_free(hydra *h)
{
    for (int l = 0; l < h->nl; l++) {
        ti_tensor_free(h->score[l]);
        free(h->mask[l]);
    }
    free(h->scratch);
}

static ti_status hydra_setup(ti__tp_run *r, hydra *h)
{
    h->r = r;
    h->nl = ti__tp_weights(r, h->w, TP_MAX_LAYERS);
    h->first = ti_model_param(r->m, 0);
    if (ti_model_nparams(r->m) > 1024)
        return ti_ctx_error(r->ctx, TI_ERR_UNSUPPORTED, "hydra: more than 1024 parameters");
    for (int i = 0; i < 1024; i++)
        h->layer_of[i] = -1;
    size_t largest = 1;
    for (int l = 0; l < h->nl; l++)
        largest = h->w[l]->t.size > largest ? h->w[l]->t.size : largest;
    if (!(h->scratch = malloc(largest * sizeof(float))))
        return ti_ctx_error(r->ctx, TI_ERR_NOMEM, "hydra: out of memory for masks");
    for (int l = 0; l < h->nl; l++) {
        ti_tensor *w = &h->w[l]->t;
        h->layer_of[h->w[l] - h->first] = l;
        h->score[l] = ti_tensor_new(w->ndim, w->shape);
        h->mask[l] = malloc(w->size * sizeof(float));
        if (!h->score[l] || !h->mask[l] || ti_tensor_alloc_grad(h->score[l]) != TI_OK)
            return ti_ctx_error(r->ctx, TI_ERR_NOMEM, "hydra: out of memory for scores");
        h->score[l]->requires_grad = 1;
        ti_prune_hydra_scaled_init(w->data, w->size, w->size / (size_t)w->shape[0],
                                   h->score[l]->data);
    }
    return update_masks(h);
}

/* Prune phase: SGD on the scores (and batch norm), weights and biases frozen. */
static ti_status prune_phase(ti__tp_run *r, hydra *h, double *loss)
{
    ti_sgd *opt = NULL;
    ti_status s = ti__tp_sgd(r, r->p.lr_prune, &opt);
    for (int l = 0; l < h->nl && s == TI_OK; l++)
        s = ti_sgd_add(opt, h->score[l], NULL, r->p.weight_decay, TI_SGD_GROUP_USER);
    if (s == TI_OK) {
        ti_sgd_set_group_frozen(opt, TI_SGD_GROUP_WEIGHTS, 1);
        ti_sgd_set_group_frozen(opt, TI_SGD_GROUP_BIASES, 1);
    }
    ti_schedule sched;
    if (s == TI_OK)
        s = ti__tp_schedule_cosine(r, &sched, r->p.lr_prune, r->p.epochs_prune);
    ti_train_hooks hooks = {.user = h, .inputs = hydra_inputs, .loss = hydra_loss};
    ti_model_set_weight_fn(r->m, hydra_weight, h);
    if (s == TI_OK)
        s = ti__tp_train(r, opt, &sched, &hooks, r->p.epochs_prune, loss);
    if (s == TI_OK)
        s = update_masks(h);
    ti_model_set_weight_fn(r->m, NULL, NULL);
    /* the learned mask becomes the model's: W * M written in, zeros as zeros */
    for (int l = 0; l < h->nl && s == TI_OK; l++)
        s = ti_model_set_mask(r->m, h->w[l], h->mask[l]);
    ti_sgd_free(opt);
    return s;
}

ti_status ti__tp_hydra(ti__tp_run *r)
{
    int resumed;
    double loss = 0;
    ti_status s = ti__tp_phase_begin(r, "hydra-prune", r->p.epochs_prune, &resumed);
    if (s == TI_OK && !resumed) {
        hydra h = {0};
        s = hydra_setup(r, &h);
        if (s == TI_OK)
            s = prune_phase(r, &h, &loss);
        hydra_free(&h);
        if (s == TI_OK)
            s = ti__tp_phase_end(r, loss);
    }
    if (s == TI_OK)
        s = ti__tp_phase_begin(r, "hydra-finetune", r->p.epochs_finetune, &resumed);
    ti_schedule sched;
    if (s == TI_OK && !resumed)
        s = ti__tp_schedule_cosine(r, &sched, r->p.lr_finetune, r->p.epochs_finetune);
    if (s == TI_OK && !resumed) {
        s = ti__tp_finetune(r, &sched, &loss);
        if (s == TI_OK)
            s = ti__tp_phase_end(r, loss);
    }
    return s;
}
