/* One pruning run: setup (the model's evaluation view, the adversarial trainer, a batcher),
 * the dispatch to the method, and the phase machinery the methods share: epochs of training,
 * a clean/PGD report after each phase, and a checkpoint per phase so that a killed run
 * resumes after its last finished phase. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "thinice/fileio.h"
#include "thinice/json.h"

static const char *const method_names[TI_PRUNE_METHOD_COUNT] = {"magnitude", "hydra", "admm",
                                                                "atmc"};

const char *ti_prune_method_name(ti_prune_method m)
{
    return (unsigned)m < TI_PRUNE_METHOD_COUNT ? method_names[m] : "?";
}

ti_status ti_prune_method_parse(const char *s, ti_prune_method *out)
{
    for (int i = 0; i < TI_PRUNE_METHOD_COUNT; i++)
        if (strcmp(s, method_names[i]) == 0) {
            *out = (ti_prune_method)i;
            return TI_OK;
        }
    return TI_ERR_ARG;
}

ti_prune_params ti_prune_params_default(ti_prune_method m)
{
    static const ti_adv_kind loss[TI_PRUNE_METHOD_COUNT] = {TI_ADV_PGD, TI_ADV_TRADES,
                                                            TI_ADV_PGD, TI_ADV_MIXED};
    ti_prune_params p = {.method = m, .sparsity = 0.9, .batch = 128, .epochs_prune = 2,
                         .epochs_finetune = 2, .lr_prune = 0.01f, .lr_finetune = 0.01f,
                         .momentum = 0.9f, .weight_decay = 1e-4f, .admm_period = 1,
                         .admm_rho = 1e-3f, .admm_rho_mult = 1.3f, .eval_count = 1000,
                         .eval_steps = 10, .seed = 0};
    if ((unsigned)m < TI_PRUNE_METHOD_COUNT)
        p.adv = ti_adv_params_default(loss[m]);
    if (m == TI_PRUNE_HYDRA)
        p.lr_prune = 0.1f;
    if (m == TI_PRUNE_MAGNITUDE)
        p.epochs_prune = 0;
    if (m == TI_PRUNE_ATMC)
        p.epochs_finetune = 0;
    return p;
}

int ti__tp_weights(ti__tp_run *r, ti_param **out, int cap)
{
    int n = 0;
    for (int i = 0; i < ti_model_nparams(r->m); i++) {
        ti_param *p = ti_model_param(r->m, i);
        if (p->kind == TI_PARAM_WEIGHT && n < cap)
            out[n++] = p;
    }
    return n;
}

ti_status ti__tp_sgd(ti__tp_run *r, float lr, ti_sgd **out)
{
    ti_sgd_params sp = ti_sgd_params_default();
    sp.lr = lr;
    sp.momentum = r->p.momentum;
    sp.weight_decay = r->p.weight_decay;
    ti_status s = ti_sgd_new(r->ctx, &sp, out);
    if (s == TI_OK && (s = ti_sgd_add_model(*out, r->m)) != TI_OK) {
        ti_sgd_free(*out);
        *out = NULL;
    }
    return s;
}

ti_status ti__tp_mask_by_magnitude(ti__tp_run *r, double sp, int global)
{
    ti_param *w[TP_MAX_LAYERS];
    int nl = ti__tp_weights(r, w, TP_MAX_LAYERS);
    const float *v[TP_MAX_LAYERS];
    size_t n[TP_MAX_LAYERS], total = 0;
    float *masks[TP_MAX_LAYERS] = {0};
    ti_status s = TI_OK;
    for (int l = 0; l < nl && s == TI_OK; l++) {
        v[l] = w[l]->t.data;
        n[l] = w[l]->t.size;
        total += n[l];
        masks[l] = malloc(n[l] * sizeof(float));
        if (!masks[l])
            s = ti_ctx_error(r->ctx, TI_ERR_NOMEM, "prune: out of memory for masks");
    }
    if (s == TI_OK && global)
        s = ti_prune_topk_mask_global(v, n, nl, ti_prune_keep_count(total, sp), masks, NULL);
    for (int l = 0; l < nl && s == TI_OK && !global; l++)
        s = ti_prune_topk_mask(v[l], n[l], ti_prune_keep_count(n[l], sp), masks[l], NULL);
    for (int l = 0; l < nl && s == TI_OK; l++)
        s = ti_model_set_mask(r->m, w[l], masks[l]);
    for (int l = 0; l < nl; l++)
        free(masks[l]);
    return s;
}

ti_status ti__tp_schedule_cosine(ti__tp_run *r, ti_schedule *s, float lr, int epochs)
{
    if (epochs == 0)
        return ti_schedule_constant(r->ctx, s, lr);
    return ti_schedule_cosine(r->ctx, s, lr, epochs, 0, 0);
}

ti_status ti__tp_schedule_step(ti__tp_run *r, ti_schedule *s, float lr, int epochs, int n,
                           const double *at)
{
    double ms[TI_SCHED_MAX_POINTS];
    if (epochs == 0 || n > TI_SCHED_MAX_POINTS)
        return ti_schedule_constant(r->ctx, s, lr);
    for (int i = 0; i < n; i++)
        ms[i] = at[i] * epochs;
    return ti_schedule_step(r->ctx, s, lr, 0.1f, n, ms);
}

ti_status ti__tp_train(ti__tp_run *r, ti_sgd *opt, const ti_schedule *sched, const ti_train_hooks *h,
                   int epochs, double *last_loss)
{
    ti_train_setup setup = {.model = r->m, .tape = r->tape, .opt = opt,
                            .batcher = r->batcher, .data = r->train, .batch = r->p.batch,
                            .schedule = sched, .hooks = h, .reduce = r->p.reduce};
    ti_status s = TI_OK;
    *last_loss = 0;
    for (int e = 0; e < epochs && s == TI_OK; e++) {
        ti_train_stats st;
        s = ti_train_epoch(r->ctx, &setup, e, &st);
        if (s == TI_OK) {
            *last_loss = st.loss;
            ti_ctx_log(r->ctx, 0, "%s epoch %d/%d: loss %.4f, train accuracy %.4f, %.1f s",
                       r->rep->phases[r->rep->nphases].name, e + 1, epochs, st.loss,
                       st.accuracy, st.seconds);
        }
    }
    return s;
}

ti_status ti__tp_finetune(ti__tp_run *r, const ti_schedule *sched, double *loss)
{
    ti_sgd *opt = NULL;
    ti_status s = ti__tp_sgd(r, sched->lr0, &opt);
    ti_train_hooks hooks = ti_adv_trainer_hooks(r->adv);
    if (s == TI_OK)
        s = ti__tp_train(r, opt, sched, &hooks, r->p.epochs_finetune, loss);
    ti_sgd_free(opt);
    return s;
}

/* ---- checkpoints ------------------------------------------------------------------------ */

static void phase_path(const ti__tp_run *r, const char *name, const char *ext, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s.%s", r->dir, name, ext);
}

static ti_status write_phase_json(ti__tp_run *r, const ti_prune_phase *ph)
{
    ti_jw *w = ti_jw_new();
    if (!w)
        return ti_ctx_error(r->ctx, TI_ERR_NOMEM, "prune: out of memory");
    ti_jw_begin_object(w);
    ti_jw_key(w, "config");
    ti_jw_string(w, r->config);
    ti_prune_phase_json(w, ph);
    ti_jw_end_object(w);
    size_t len;
    const char *text = ti_jw_text(w, &len);
    char path[4200];
    phase_path(r, ph->name, "json", path, sizeof path);
    ti_status s = text ? ti_write_file_atomic(r->ctx, path, text, len)
                       : ti_ctx_error(r->ctx, TI_ERR_NOMEM, "prune: out of memory");
    ti_jw_free(w);
    return s;
}

/* Loads "<name>.json" into ph if it exists and was written with the same settings. */
static ti_status read_phase_json(ti__tp_run *r, const char *name, ti_prune_phase *ph, int *found)
{
    char path[4200];
    phase_path(r, name, "json", path, sizeof path);
    *found = 0;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return TI_OK;
    char *text;
    size_t len;
    ti_json *j = NULL;
    ti_status s = ti_read_file(r->ctx, path, &text, &len);
    if (s != TI_OK)
        return s;
    s = ti_json_parse(r->ctx, text, len, &j);
    free(text);
    if (s != TI_OK)
        return s;
    const char *cfg = ti_json_string(ti_json_get(j, "config"));
    if (!cfg || strcmp(cfg, r->config) != 0) {
        s = ti_ctx_error(r->ctx, TI_ERR_STATE,
                         "%s was written by a run with other settings (%s); use another "
                         "checkpoint directory or remove it",
                         path, cfg ? cfg : "none");
    } else {
        ph->clean_acc = ti_json_number(ti_json_get(j, "clean_accuracy"));
        ph->pgd_acc = ti_json_number(ti_json_get(j, "pgd_accuracy"));
        ph->last_loss = ti_json_number(ti_json_get(j, "last_loss"));
        *found = 1;
    }
    ti_json_free(j);
    return s;
}

ti_status ti__tp_phase_begin(ti__tp_run *r, const char *name, int epochs, int *resumed)
{
    *resumed = 0;
    if (r->rep->nphases >= TI_PRUNE_MAX_PHASES)
        return ti_ctx_error(r->ctx, TI_ERR_STATE, "prune: too many phases");
    ti_prune_phase *ph = &r->rep->phases[r->rep->nphases];
    memset(ph, 0, sizeof *ph);
    snprintf(ph->name, sizeof ph->name, "%s", name);
    ph->epochs = epochs;
    r->t0 = ti_clock();
    /* every phase starts from a state that depends only on the settings and on where it is
     * in the run (the batcher at the epochs done so far, the adversary at a stream of its
     * own), so a phase after a resumed one trains exactly as in an uninterrupted run */
    ti_batcher_set_epoch(r->batcher, r->epochs_before);
    ti_adv_trainer_reseed(r->adv, r->p.seed * 0x9E3779B97F4A7C15ULL + r->p.adv.seed +
                                      (uint64_t)r->rep->nphases + 1);
    r->epochs_before += epochs;
    int found = 0;
    ti_status s = r->dir ? read_phase_json(r, name, ph, &found) : TI_OK;
    if (s != TI_OK)
        return s;
    if (!found) {
        ti_ctx_log(r->ctx, 0, "%s: %d epochs", name, epochs);
        return TI_OK;
    }
    char path[4200];
    phase_path(r, name, "safetensors", path, sizeof path);
    s = ti_model_load(r->m, path);
    if (s != TI_OK)
        return s;
    ph->resumed = 1;
    ph->sparsity = ti_model_sparsity(r->m);
    ti_ctx_log(r->ctx, 0, "%s: resumed from %s (clean %.4f, PGD-%d %.4f)", name, path,
               ph->clean_acc, r->p.eval_steps, ph->pgd_acc);
    r->rep->nphases++;
    *resumed = 1;
    return TI_OK;
}

static ti_status evaluate(ti__tp_run *r, ti_prune_phase *ph)
{
    const ti_adv_params *a = &r->p.adv;
    return ti_adv_evaluate(r->ctx, &r->view, r->test, r->p.batch, a->eps, a->step,
                           r->p.eval_steps, r->p.seed ^ 0x5eed, &ph->clean_acc, &ph->pgd_acc);
}

ti_status ti__tp_phase_end(ti__tp_run *r, double last_loss)
{
    ti_prune_phase *ph = &r->rep->phases[r->rep->nphases];
    ph->seconds = ti_clock() - r->t0;
    ph->last_loss = last_loss;
    ph->sparsity = ti_model_sparsity(r->m);
    ti_status s = evaluate(r, ph);
    if (s != TI_OK)
        return s;
    ti_ctx_log(r->ctx, 0, "%s: clean %.4f, PGD-%d %.4f, sparsity %.6f, %.1f s", ph->name,
               ph->clean_acc, r->p.eval_steps, ph->pgd_acc, ph->sparsity, ph->seconds);
    r->rep->nphases++;
    if (!r->dir || (r->p.reduce && r->p.reduce->rank != 0)) /* one writer per run */
        return TI_OK;
    char path[4200];
    phase_path(r, ph->name, "safetensors", path, sizeof path);
    s = ti_model_save(r->m, path);
    return s == TI_OK ? write_phase_json(r, ph) : s;
}

/* ---- the run ---------------------------------------------------------------------------- */

static ti_status check(ti_ctx *ctx, const ti_prune_params *p)
{
    if ((unsigned)p->method >= TI_PRUNE_METHOD_COUNT)
        return ti_ctx_error(ctx, TI_ERR_ARG, "prune: unknown method %d", (int)p->method);
    if (!(p->sparsity >= 0 && p->sparsity < 1))
        return ti_ctx_error(ctx, TI_ERR_ARG, "prune: sparsity %g is not in [0, 1)", p->sparsity);
    if (p->batch < 1 || p->epochs_prune < 0 || p->epochs_finetune < 0 || p->admm_period < 1)
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "prune: batch %d, epochs %d/%d and ADMM period %d must be positive",
                            p->batch, p->epochs_prune, p->epochs_finetune, p->admm_period);
    return TI_OK;
}

ti_status ti_prune_run(ti_ctx *ctx, ti_model *m, const ti_dataset *train,
                       const ti_dataset *test, const ti_prune_params *p, const char *ckpt_dir,
                       ti_prune_report *rep)
{
    ti_status s = check(ctx, p);
    if (s != TI_OK)
        return s;
    memset(rep, 0, sizeof *rep);
    ti__tp_run r = {.ctx = ctx, .m = m, .train = train, .p = *p, .dir = ckpt_dir, .rep = rep};
    /* everything that changes what a phase computes, so that a checkpoint directory is only
     * resumed by the same run (same settings, same starting weights) */
    snprintf(r.config, sizeof r.config,
             "%s sparsity=%.6g global=%d loss=%s eps=%.6g step=%.6g steps=%d start=%d "
             "beta=%.6g w=%.6g epochs=%d+%d lr=%g+%g mom=%g wd=%g admm=%d,%g,%g batch=%d "
             "train=%d eval=%d,%d seed=%llu,%llu weights=%016llx",
             ti_prune_method_name(p->method), p->sparsity, p->global,
             ti_adv_kind_name(p->adv.kind), p->adv.eps, p->adv.step, p->adv.steps,
             p->adv.random_start, p->adv.beta, p->adv.clean_weight, p->epochs_prune,
             p->epochs_finetune, p->lr_prune, p->lr_finetune, p->momentum, p->weight_decay,
             p->admm_period, p->admm_rho, p->admm_rho_mult, p->batch, train->N, p->eval_count,
             p->eval_steps, (unsigned long long)p->seed, (unsigned long long)p->adv.seed,
             (unsigned long long)ti_model_hash(m));
    ti_dataset *sub = NULL;
    if (p->eval_count > 0 && p->eval_count < test->N)
        s = ti_dataset_slice(ctx, test, 0, p->eval_count, &sub);
    r.test = sub ? sub : test;
    if (s == TI_OK && ckpt_dir && mkdir(ckpt_dir, 0777) != 0 && errno != EEXIST)
        s = ti_ctx_error(ctx, TI_ERR_IO, "prune: cannot create the directory %s", ckpt_dir);
    if (s == TI_OK)
        s = ti_model_classifier(m, p->batch, &r.view);
    if (s == TI_OK)
        s = ti_adv_trainer_new(ctx, m, &r.view, &p->adv, p->batch, &r.adv);
    if (s == TI_OK)
        s = ti_batcher_new(ctx, train, p->batch, 1, train->C == 3, p->seed, &r.batcher);
    if (s == TI_OK && !(r.tape = ti_tape_new(ctx)))
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "prune: out of memory");
    if (s == TI_OK) {
        snprintf(rep->start.name, sizeof rep->start.name, "dense");
        rep->start.sparsity = ti_model_sparsity(m);
        s = evaluate(&r, &rep->start);
        if (s == TI_OK)
            ti_ctx_log(ctx, 0, "%s: clean %.4f, PGD-%d %.4f, sparsity %.6f", rep->start.name,
                       rep->start.clean_acc, p->eval_steps, rep->start.pgd_acc,
                       rep->start.sparsity);
    }
    if (s == TI_OK) {
        static ti_status (*const run[TI_PRUNE_METHOD_COUNT])(ti__tp_run *) = {
            ti__tp_magnitude, ti__tp_hydra, ti__tp_admm, ti__tp_atmc};
        s = run[p->method](&r);
    }
    ti_tape_free(r.tape);
    ti_batcher_free(r.batcher);
    ti_adv_trainer_free(r.adv);
    ti_dataset_free(sub);
    return s;
}
