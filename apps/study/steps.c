/* thinice-study's model steps (see steps.h): dense adversarial training and pruning, each
 * cached under <out>/steps/<name>.json with the key of the configuration it ran with, and the
 * helpers every step shares. The evaluations are in evaluate.c. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "steps.h"
#include "thinice/advtrain.h"
#include "thinice/eval.h"
#include "thinice/fileio.h"
#include "thinice/json.h"
#include "thinice/prune.h"

/* ---- small helpers ---------------------------------------------------------------------- */

void study_say(study *st, const char *fmt, ...)
{
    if (st->quiet)
        return;
    app_progress_clear(st->progress);
    va_list ap;
    va_start(ap, fmt);
    printf("[%d/%d] ", st->step, st->nsteps);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* The per-epoch line of the dense training. */
static void say_epoch(void *user, const ti_adv_train_epoch *e)
{
    study *st = user;
    if (st->quiet)
        return;
    app_progress_clear(st->progress);
    printf("      epoch %d/%d: loss %.4f, train accuracy %.4f, %.0f img/s\n", e->epoch, e->epochs,
           e->train.loss, e->train.accuracy, e->train.images_per_s);
    fflush(stdout);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static ti_status make_dir(ti_ctx *ctx, const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return ti_ctx_error(ctx, TI_ERR_IO, "cannot create the directory %s: %s", path,
                            strerror(errno));
    return TI_OK;
}

/* The record of step `name` if it exists and ran with `key` (NULL otherwise). */
ti_json *study_record_load(study *st, const char *name, const char *key)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/steps/%s.json", st->out, name);
    if (!exists(path))
        return NULL;
    char *text;
    size_t len;
    ti_json *j = NULL;
    if (ti_read_file(st->ctx, path, &text, &len) != TI_OK)
        return NULL;
    if (ti_json_parse(st->ctx, text, len, &j) != TI_OK)
        j = NULL;
    free(text);
    const char *k = j ? ti_json_string(ti_json_get(j, "key")) : NULL;
    if (!k || strcmp(k, key) != 0) {
        ti_json_free(j);
        return NULL;
    }
    return j;
}

/* Writes the record {key, numbers...} of step `name` (names and values in pairs). */
int study_writer(const study *st)
{
    (void)st;
    return app_procs_rank() == 0;
}

ti_status study_record_save(study *st, const char *name, const char *key, int n,
                             const char *const *names, const double *values)
{
    if (!study_writer(st))
        return TI_OK;
    ti_jw *w = ti_jw_new();
    if (!w)
        return ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
    ti_jw_begin_object(w);
    ti_jw_key(w, "key");
    ti_jw_string(w, key);
    for (int i = 0; i < n; i++) {
        ti_jw_key(w, names[i]);
        ti_jw_number(w, values[i]);
    }
    ti_jw_end_object(w);
    char path[1400];
    snprintf(path, sizeof path, "%s/steps/%s.json", st->out, name);
    ti_status s = app_write_json(st->ctx, w, path);
    ti_jw_free(w);
    return s;
}

double study_rec_num(const ti_json *j, const char *name)
{
    return ti_json_number(ti_json_get(j, name));
}

static ti_status new_model(study *st, const char *network, ti_model **m)
{
    ti_model_config mc = {.C = st->test->C, .H = st->test->H, .W = st->test->W,
                          .M = st->test->M};
    return ti_model_new(st->ctx, network, &mc, m);
}

/* A zoo model of the study's own (trained mode), loaded from its checkpoint. */
static ti_status study_load_model(study *st, const study_model *sm, ti_model **m)
{
    ti_status s = new_model(st, sm->network, m);
    if (s == TI_OK && (s = ti_model_load(*m, sm->path)) != TI_OK) {
        ti_model_free(*m);
        *m = NULL;
    }
    return s;
}

/* ---- setup ------------------------------------------------------------------------------ */

ti_status study_open(study *st)
{
    static const char *const dirs[] = {"", "/steps", "/models", "/prune", "/samples"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s%s", st->out, dirs[i]);
        ti_status s = make_dir(st->ctx, path);
        if (s != TI_OK)
            return s;
    }
    const study_config *c = st->cfg;
    ti_status s = c->nexternal ? TI_OK /* the user's models: nothing to train */
                               : ti_data_load_range(st->ctx, c->data, TI_SPLIT_TRAIN, 0,
                                                    c->train_count, &st->train);
    if (s == TI_OK)
        s = ti_data_load_range(st->ctx, c->data, TI_SPLIT_TEST, 0, c->test_count, &st->test);
    return s;
}

void study_close(study *st)
{
    ti_dataset_free(st->train);
    ti_dataset_free(st->test);
    st->train = st->test = NULL;
}

/* The clean and PGD accuracy of m the way the methods report it: PGD-<pgd_steps> at the
 * training eps on the first attack.count test samples. */
static ti_status method_eval(study *st, ti_model *m, double *clean, double *pgd)
{
    const study_config *c = st->cfg;
    ti_dataset *sub = NULL;
    int n = c->attack.count < st->test->N ? c->attack.count : st->test->N;
    ti_classifier view;
    ti_status s = ti_dataset_slice(st->ctx, st->test, 0, n, &sub);
    if (s == TI_OK)
        s = ti_model_classifier(m, c->batch, &view);
    if (s == TI_OK)
        s = ti_adv_evaluate(st->ctx, &view, sub, c->batch, c->eps, c->step, c->attack.pgd_steps,
                            c->seed ^ 0x5eed, clean, pgd);
    ti_dataset_free(sub);
    return s;
}

/* ---- dense adversarial training ---------------------------------------------------------- */

/* The dense model's adversarial training: libprune's training run with the study's
 * settings (cosine schedule, augmentation on CIFAR-10, one seed for batches and adversary). */
static ti_status train_dense(study *st, ti_model *m)
{
    const study_config *c = st->cfg;
    ti_adv_train_params p = ti_adv_train_params_default();
    ti_adv_kind_parse(c->dense.loss, &p.adv.kind); /* checked with the configuration */
    p.adv = ti_adv_params_default(p.adv.kind);
    p.adv.eps = c->eps;
    p.adv.step = c->step;
    p.adv.steps = c->steps;
    p.adv.seed = c->seed;
    p.epochs = c->dense.epochs;
    p.batch = c->batch;
    p.lr = c->dense.lr;
    p.weight_decay = c->dense.weight_decay;
    p.augment = st->train->C == 3;
    p.seed = c->seed;
    p.on_epoch = say_epoch;
    p.user = st;
    p.reduce = app_procs_reducer();
    return ti_adv_train_run(st->ctx, m, st->train, NULL, &p, NULL);
}

/* The step's record, if cached: its accuracies and sparsity into m. */
static int cached(study *st, study_model *m)
{
    ti_json *rec = study_record_load(st, m->tag, m->key);
    int hit = rec && exists(m->path);
    if (hit) {
        m->clean = study_rec_num(rec, "clean");
        m->pgd = study_rec_num(rec, "pgd");
        m->sparsity_measured = study_rec_num(rec, "sparsity");
        study_say(st, "%s: cached (clean %.4f, PGD %.4f)", m->tag, m->clean, m->pgd);
    }
    ti_json_free(rec);
    return hit;
}

/* A shard run evaluates models that exist: it trains none (each shard would). */
static ti_status not_trained(study *st, const study_model *m)
{
    return ti_ctx_error(st->ctx, TI_ERR_ARG, "--shard: %s is not trained yet; run the study "
                        "once with --models-only (on one machine or under mpirun), then the "
                        "shards", m->tag);
}

/* Saves a trained model and its step's record. */
static ti_status finish(study *st, study_model *m, ti_model *net, double t0)
{
    m->sparsity_measured = ti_model_sparsity(net);
    ti_status s = study_writer(st) ? ti_model_save(net, m->path) : TI_OK;
    app_procs_barrier(); /* the next steps read the checkpoint on every process */
    if (s != TI_OK)
        return s;
    st->seconds += ti_clock() - t0;
    study_say(st, "%s: clean %.4f, PGD-%d %.4f, sparsity %.4f (%.0f s)", m->tag, m->clean,
              st->cfg->attack.pgd_steps, m->pgd, m->sparsity_measured, ti_clock() - t0);
    const char *names[3] = {"clean", "pgd", "sparsity"};
    double vals[3] = {m->clean, m->pgd, m->sparsity_measured};
    return study_record_save(st, m->tag, m->key, 3, names, vals);
}

ti_status study_step_dense(study *st, study_model *dense)
{
    const study_config *c = st->cfg;
    snprintf(dense->reported_by, sizeof dense->reported_by, "PGD-%d (method's evaluation)",
             c->attack.pgd_steps);
    snprintf(dense->key, sizeof dense->key,
             "dense net=%s data=%.900s train=%d test=%d epochs=%d lr=%g wd=%g loss=%s eps=%g "
             "step=%g steps=%d batch=%d seed=%llu eval=%d/%d",
             dense->network, c->data, st->train->N, st->test->N, c->dense.epochs, c->dense.lr,
             c->dense.weight_decay, c->dense.loss, c->eps, c->step, c->steps, c->batch,
             (unsigned long long)c->seed, c->attack.count, c->attack.pgd_steps);
    st->step++;
    if (cached(st, dense))
        return TI_OK;
    if (st->shards)
        return not_trained(st, dense);
    study_say(st, "dense %s: %s training, %d epochs on %d images", dense->network,
              c->dense.loss, c->dense.epochs, st->train->N);
    double t0 = ti_clock();
    ti_model *m = NULL;
    ti_status s = new_model(st, dense->network, &m);
    if (s == TI_OK)
        s = train_dense(st, m);
    if (s == TI_OK)
        s = method_eval(st, m, &dense->clean, &dense->pgd);
    if (s == TI_OK)
        s = finish(st, dense, m, t0);
    ti_model_free(m);
    return s;
}

/* ---- pruning ---------------------------------------------------------------------------- */

/* The method's settings at the study's threat model and schedule. */
static ti_prune_params prune_params(const study_config *c, ti_prune_method pm, double sparsity)
{
    ti_prune_params pp = ti_prune_params_default(pm);
    pp.sparsity = sparsity;
    pp.batch = c->batch;
    pp.adv.eps = c->eps;
    pp.adv.step = c->step;
    pp.adv.steps = c->steps;
    pp.adv.seed = c->seed;
    if (pm != TI_PRUNE_MAGNITUDE)
        pp.epochs_prune = c->prune.epochs_prune;
    if (pm != TI_PRUNE_ATMC)
        pp.epochs_finetune = c->prune.epochs_finetune;
    pp.eval_count = c->attack.count;
    pp.eval_steps = c->attack.pgd_steps;
    pp.seed = c->seed;
    pp.reduce = app_procs_reducer();
    return pp;
}

ti_status study_step_prune(study *st, const study_model *dense, study_model *pruned)
{
    const study_config *c = st->cfg;
    ti_prune_method pm;
    ti_prune_method_parse(pruned->method, &pm); /* checked with the configuration */
    ti_prune_params pp = prune_params(c, pm, pruned->sparsity);
    int ntrain = c->prune.train_count > 0 && c->prune.train_count < st->train->N
                     ? c->prune.train_count : st->train->N;
    snprintf(pruned->reported_by, sizeof pruned->reported_by, "PGD-%d (method's evaluation)",
             c->attack.pgd_steps);
    snprintf(pruned->key, sizeof pruned->key, "%.1800s | prune %s sparsity=%g epochs=%d+%d "
             "train=%d", dense->key, pruned->method, pruned->sparsity, pp.epochs_prune,
             pp.epochs_finetune, ntrain);
    st->step++;
    if (cached(st, pruned))
        return TI_OK;
    if (st->shards)
        return not_trained(st, pruned);
    study_say(st, "%s: %s pruning to %g%% sparsity (%d + %d epochs, %s loss)", pruned->tag,
              pruned->method, 100 * pruned->sparsity, pp.epochs_prune, pp.epochs_finetune,
              ti_adv_kind_name(pp.adv.kind));
    double t0 = ti_clock();
    ti_model *m = NULL;
    ti_dataset *train = NULL;
    ti_prune_report rep;
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/prune/%s", st->out, pruned->tag);
    ti_status s = study_load_model(st, dense, &m);
    if (s == TI_OK)
        s = ti_dataset_slice(st->ctx, st->train, 0, ntrain, &train);
    if (s == TI_OK)
        s = ti_prune_run(st->ctx, m, train, st->test, &pp, dir, &rep);
    if (s == TI_OK) {
        pruned->clean = rep.phases[rep.nphases - 1].clean_acc;
        pruned->pgd = rep.phases[rep.nphases - 1].pgd_acc;
        s = finish(st, pruned, m, t0);
    }
    ti_dataset_free(train);
    ti_model_free(m);
    return s;
}
