/* Adversarial training as hooks of the training loop (docs/pruning.md#adversarial-training): the inputs hook
 * crafts x' in evaluation mode, the loss hook builds the outer objective in training mode:
 *   PGD (Madry):   CE(f(x'), y)                       (the default loss on replaced inputs)
 *   TRADES:        CE(f(x), y) + beta KL(p(x) || p(x')) (gradients through both branches)
 *   MIXED (ATMC):  w CE(f(x), y) + (1 - w) CE(f(x'), y) */
#include <stdlib.h>
#include <string.h>

#include "thinice/advtrain.h"
#include "thinice/ops.h"
#include "thinice/pgd.h"

static const char *const kind_names[TI_ADV_KIND_COUNT] = {"natural", "pgd", "trades", "mixed"};

const char *ti_adv_kind_name(ti_adv_kind k)
{
    return (unsigned)k < TI_ADV_KIND_COUNT ? kind_names[k] : "?";
}

ti_status ti_adv_kind_parse(const char *s, ti_adv_kind *out)
{
    for (int i = 0; i < TI_ADV_KIND_COUNT; i++)
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (ti_adv_kind)i;
            return TI_OK;
        }
    return TI_ERR_ARG;
}

ti_adv_params ti_adv_params_default(ti_adv_kind kind)
{
    return (ti_adv_params){.kind = kind, .eps = 8.0f / 255, .step = 2.0f / 255, .steps = 10,
                           .random_start = 1, .beta = 6.0f, .clean_weight = 0.5f, .seed = 0};
}

ti_adv_params ti_adv_params_for_data(ti_adv_kind kind, const ti_dataset *d)
{
    ti_adv_params p = ti_adv_params_default(kind);
    if (d && strcmp(d->name, "fashion-mnist") == 0) {
        p.eps = 0.1f;
        p.step = 0.025f;
    }
    return p;
}

struct ti_adv_trainer {
    ti_ctx *ctx;
    ti_model *model;
    ti_adv_params p;
    ti_classifier view; /* the model in evaluation mode, for the inner maximisation */
    ti_rng rng;
    float *x_adv;       /* (max_batch, C, H, W) */
    int max_batch;
};

ti_status ti_adv_trainer_new(ti_ctx *ctx, ti_model *m, const ti_classifier *view,
                             const ti_adv_params *p, int max_batch, ti_adv_trainer **out)
{
    *out = NULL;
    if ((unsigned)p->kind >= TI_ADV_KIND_COUNT || max_batch < 1)
        return ti_ctx_error(ctx, TI_ERR_ARG, "adversarial training: bad kind %d or batch %d",
                            (int)p->kind, max_batch);
    ti_adv_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "adversarial training: out of memory");
    t->ctx = ctx;
    t->model = m;
    t->p = *p;
    t->max_batch = max_batch;
    ti_rng_seed(&t->rng, p->seed);
    t->view = *view;
    t->x_adv = ti_alloc((size_t)max_batch * ti_classifier_dim(view) * sizeof(float));
    if (!t->x_adv) {
        ti_adv_trainer_free(t);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "adversarial training: out of memory");
    }
    *out = t;
    return TI_OK;
}

void ti_adv_trainer_free(ti_adv_trainer *t)
{
    if (!t)
        return;
    ti_free(t->x_adv);
    free(t);
}

void ti_adv_trainer_reseed(ti_adv_trainer *t, uint64_t seed)
{
    ti_rng_seed(&t->rng, seed);
}

ti_status ti_adv_trainer_inputs(void *user, ti_train_batch *b)
{
    ti_adv_trainer *t = user;
    if (b->n > t->max_batch)
        return ti_ctx_error(t->ctx, TI_ERR_ARG, "adversarial training: batch %d above %d",
                            b->n, t->max_batch);
    ti_status s = TI_OK;
    switch (t->p.kind) {
    case TI_ADV_NATURAL:
        return TI_OK;
    case TI_ADV_TRADES:
        s = ti_adv_trades_inner(t->ctx, &t->view, &t->p, b->x, b->n, &t->rng, t->x_adv);
        break;
    default:
        s = ti_adv_pgd(t->ctx, &t->view, &t->p, b->x, b->y, b->n, &t->rng, t->x_adv);
    }
    /* Madry's PGD-AT trains on x' alone: hand it to the default loss as the batch */
    if (s == TI_OK && t->p.kind == TI_ADV_PGD)
        memcpy(b->x, t->x_adv, (size_t)b->n * ti_classifier_dim(&t->view) * sizeof(float));
    return s;
}

ti_status ti_adv_trainer_loss(void *user, ti_train_batch *b, ti_tensor **loss,
                              ti_tensor **logits)
{
    ti_adv_trainer *t = user;
    ti_tape *tape = b->tape;
    ti_tensor *zc = ti_model_forward(t->model, tape, b->xt, 1);
    *logits = zc;
    ti_tensor *ce = ti_cross_entropy(tape, zc, b->y, TI_REDUCE_MEAN);
    if (t->p.kind == TI_ADV_NATURAL || t->p.kind == TI_ADV_PGD) {
        *loss = ce;
        return ti_tape_status(tape);
    }
    ti_tensor *xa = ti_tape_input(tape, t->x_adv, b->xt->ndim, b->xt->shape, 0);
    ti_tensor *za = ti_model_forward(t->model, tape, xa, 1);
    if (t->p.kind == TI_ADV_TRADES) {
        ti_tensor *kl = ti_kl_div(tape, zc, za, TI_REDUCE_MEAN);
        *loss = ti_add(tape, ce, ti_scale(tape, kl, t->p.beta));
    } else {
        ti_tensor *cea = ti_cross_entropy(tape, za, b->y, TI_REDUCE_MEAN);
        float w = t->p.clean_weight;
        *loss = ti_add(tape, ti_scale(tape, ce, w), ti_scale(tape, cea, 1.0f - w));
    }
    return ti_tape_status(tape);
}

ti_train_hooks ti_adv_trainer_hooks(ti_adv_trainer *t)
{
    return (ti_train_hooks){.user = t, .inputs = ti_adv_trainer_inputs,
                            .loss = ti_adv_trainer_loss, .after_backward = NULL};
}

ti_status ti_adv_evaluate(ti_ctx *ctx, const ti_classifier *fv, const ti_dataset *d, int batch,
                          float eps, float step, int steps, uint64_t seed, double *clean_acc,
                          double *pgd_acc)
{
    const ti_classifier f = *fv;
    ti_status s = TI_OK;
    size_t D = ti_classifier_dim(&f);
    if (batch < 1)
        return ti_ctx_error(ctx, TI_ERR_ARG, "evaluate: batch %d must be >= 1", batch);
    if ((size_t)d->C * d->H * d->W != D)
        return ti_ctx_error(ctx, TI_ERR_SHAPE, "evaluate: data %dx%dx%d, model input %zu values",
                            d->C, d->H, d->W, D);
    ti_pgd_params pp = ti_pgd_params_default();
    pp.eps = eps;
    pp.step = step;
    pp.steps = steps;
    pp.seed = seed;
    float *xa = ti_alloc((size_t)batch * D * sizeof(float));
    float *logits = malloc((size_t)batch * f.M * sizeof(float));
    int *pred = malloc((size_t)batch * sizeof(int));
    if (!xa || !logits || !pred)
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "evaluate: out of memory");
    long clean = 0, robust = 0;
    for (int o = 0; o < d->N && s == TI_OK; o += batch) {
        int n = d->N - o < batch ? d->N - o : batch;
        const float *x = d->x + (size_t)o * D;
        const int *y = d->y + o;
        s = f.forward(f.self, x, n, logits);
        ti_argmax_rows(logits, n, f.M, pred);
        for (int i = 0; s == TI_OK && i < n; i++)
            clean += pred[i] == y[i];
        if (s == TI_OK && steps > 0) {
            pp.seed = seed + (uint64_t)o; /* each batch its own stream, same for any batch */
            s = ti_atk_pgd(ctx, &f, &pp, x, y, n, xa, NULL);
        }
        if (s == TI_OK && steps > 0) {
            s = f.forward(f.self, xa, n, logits);
            ti_argmax_rows(logits, n, f.M, pred);
            for (int i = 0; s == TI_OK && i < n; i++)
                robust += pred[i] == y[i];
        }
        if (s == TI_OK)
            s = ti_ctx_progress(ctx, "pgd evaluation", o + n, d->N);
    }
    if (s == TI_OK) {
        *clean_acc = d->N ? (double)clean / d->N : 0;
        *pgd_acc = steps > 0 ? (d->N ? (double)robust / d->N : 0) : *clean_acc;
    }
    ti_free(xa);
    free(logits);
    free(pred);
    return s;
}
