/* A whole training run (advtrain.h): SGD, a learning-rate schedule, shuffled mini-batches,
 * the adversary's hooks in the training loop (ti_train_epoch), and a test evaluation after
 * every epoch. thinice-train and the study's dense model both train through it. */
#include <math.h>
#include <string.h>

#include "thinice/advtrain.h"

static const char *const sched_names[TI_LR_SCHEDULE_COUNT] = {"cosine", "step", "constant"};

const char *ti_lr_schedule_name(ti_lr_schedule s)
{
    return (unsigned)s < TI_LR_SCHEDULE_COUNT ? sched_names[s] : "?";
}

ti_status ti_lr_schedule_parse(const char *s, ti_lr_schedule *out)
{
    for (int i = 0; i < TI_LR_SCHEDULE_COUNT; i++)
        if (s && strcmp(s, sched_names[i]) == 0) {
            *out = (ti_lr_schedule)i;
            return TI_OK;
        }
    return TI_ERR_ARG;
}

ti_adv_train_params ti_adv_train_params_default(void)
{
    return (ti_adv_train_params){.adv = ti_adv_params_default(TI_ADV_NATURAL), .epochs = 5,
                                 .batch = 128, .lr = 0.1f, .momentum = 0.9f,
                                 .weight_decay = 5e-4f, .schedule = TI_LR_COSINE,
                                 .eval_batch = 256};
}

static ti_status check(ti_ctx *ctx, const ti_adv_train_params *p, const ti_dataset *train)
{
    if (!train || train->N < 1)
        return ti_ctx_error(ctx, TI_ERR_ARG, "train: no training data");
    if (p->epochs < 0 || p->batch < 1 || p->eval_batch < 1)
        return ti_ctx_error(ctx, TI_ERR_ARG, "train: need epochs >= 0, batch >= 1 and an "
                            "evaluation batch >= 1 (got %d, %d, %d)", p->epochs, p->batch,
                            p->eval_batch);
    if (!(p->lr >= 0) || !isfinite(p->lr) || (unsigned)p->schedule >= TI_LR_SCHEDULE_COUNT)
        return ti_ctx_error(ctx, TI_ERR_ARG, "train: learning rate %g or schedule %d",
                            (double)p->lr, (int)p->schedule);
    if ((unsigned)p->adv.kind >= TI_ADV_KIND_COUNT)
        return ti_ctx_error(ctx, TI_ERR_ARG, "train: unknown adversary %d", (int)p->adv.kind);
    return TI_OK;
}

static ti_status make_schedule(ti_ctx *ctx, const ti_adv_train_params *p, ti_schedule *s)
{
    if (p->schedule == TI_LR_COSINE)
        return ti_schedule_cosine(ctx, s, p->lr, p->epochs, 0, 0);
    if (p->schedule == TI_LR_STEP) {
        double ms[2] = {0.5 * p->epochs, 0.75 * p->epochs};
        return ti_schedule_step(ctx, s, p->lr, 0.1f, ms[0] < ms[1] ? 2 : 0, ms);
    }
    return ti_schedule_constant(ctx, s, p->lr);
}

/* What the epochs train with. */
typedef struct run {
    ti_tape *tape;
    ti_sgd *opt;
    ti_batcher *batcher;
    ti_adv_trainer *adv;
    ti_train_hooks hooks;
    ti_schedule sched;
} run;

static ti_status run_open(ti_ctx *ctx, ti_model *m, const ti_dataset *train,
                          const ti_adv_train_params *p, run *r)
{
    ti_sgd_params sp = ti_sgd_params_default();
    sp.lr = p->lr;
    sp.momentum = p->momentum;
    sp.weight_decay = p->weight_decay;
    r->tape = ti_tape_new(ctx);
    ti_status s = r->tape ? TI_OK : ti_ctx_error(ctx, TI_ERR_NOMEM, "train: out of memory");
    if (s == TI_OK)
        s = ti_sgd_new(ctx, &sp, &r->opt);
    if (s == TI_OK)
        s = ti_sgd_add_model(r->opt, m);
    if (s == TI_OK)
        s = make_schedule(ctx, p, &r->sched);
    if (s == TI_OK)
        s = ti_batcher_new(ctx, train, p->batch, 1, p->augment, p->seed, &r->batcher);
    if (s == TI_OK && p->adv.kind != TI_ADV_NATURAL) {
        ti_classifier view;
        if ((s = ti_model_classifier(m, p->batch, &view)) == TI_OK &&
            (s = ti_adv_trainer_new(ctx, m, &view, &p->adv, p->batch, &r->adv)) == TI_OK)
            r->hooks = ti_adv_trainer_hooks(r->adv);
    }
    return s;
}

static void run_close(run *r)
{
    ti_adv_trainer_free(r->adv);
    ti_batcher_free(r->batcher);
    ti_sgd_free(r->opt);
    ti_tape_free(r->tape);
}

ti_status ti_adv_train_run(ti_ctx *ctx, ti_model *m, const ti_dataset *train,
                           const ti_dataset *test, const ti_adv_train_params *p,
                           ti_adv_train_epoch *last)
{
    ti_status s = check(ctx, p, train);
    if (s != TI_OK)
        return s;
    run r = {0};
    s = run_open(ctx, m, train, p, &r);
    ti_train_setup setup = {.model = m, .tape = r.tape, .opt = r.opt, .batcher = r.batcher,
                            .data = train, .batch = p->batch, .schedule = &r.sched,
                            .hooks = r.adv ? &r.hooks : NULL, .reduce = p->reduce};
    ti_adv_train_epoch e = {.epochs = p->epochs};
    for (int k = 0; k < p->epochs && s == TI_OK; k++) {
        e.epoch = k + 1;
        s = ti_train_epoch(ctx, &setup, k, &e.train);
        if (s == TI_OK && test)
            s = ti_evaluate(ctx, m, test, p->eval_batch, &e.test, NULL, NULL);
        if (s == TI_OK && p->on_epoch)
            p->on_epoch(p->user, &e);
    }
    if (s == TI_OK && last)
        *last = e;
    run_close(&r);
    return s;
}
