/* thinice-study's steps (see study_steps.h): dense adversarial training, pruning, AutoAttack,
 * and the per-sample clean predictions, margins and FMN distances, each cached under
 * <out>/steps/<name>.json with the key of the configuration it ran with. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "study_steps.h"
#include "thinice/advtrain.h"
#include "thinice/autoattack.h"
#include "thinice/fileio.h"
#include "thinice/fmn.h"
#include "thinice/json.h"
#include "thinice/prune.h"
#include "thinice/stats.h"

/* ---- small helpers ---------------------------------------------------------------------- */

static void say(study *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(study *st, const char *fmt, ...)
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
static ti_json *record_load(study *st, const char *name, const char *key)
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
static ti_status record_save(study *st, const char *name, const char *key, int n,
                             const char *const *names, const double *values)
{
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
    size_t len;
    const char *text = ti_jw_text(w, &len);
    char path[1400];
    snprintf(path, sizeof path, "%s/steps/%s.json", st->out, name);
    ti_status s = text ? ti_write_file_atomic(st->ctx, path, text, len)
                       : ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
    ti_jw_free(w);
    return s;
}

static double rec_num(const ti_json *j, const char *name)
{
    return ti_json_number(ti_json_get(j, name));
}

static ti_status new_model(study *st, const char *network, ti_model **m)
{
    ti_model_config mc = {.C = st->test->C, .H = st->test->H, .W = st->test->W,
                          .M = st->test->M};
    return ti_model_new(st->ctx, network, &mc, m);
}

static ti_status load_model(study *st, const study_model *sm, ti_model **m)
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
    ti_status s = ti_data_load_first(st->ctx, st->cfg->data, TI_SPLIT_TRAIN, st->cfg->train_count,
                                     &st->train);
    if (s == TI_OK)
        s = ti_data_load_first(st->ctx, st->cfg->data, TI_SPLIT_TEST, st->cfg->test_count,
                               &st->test);
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

static ti_status train_dense(study *st, ti_model *m)
{
    const study_config *c = st->cfg;
    ti_adv_params ap = ti_adv_params_default(TI_ADV_PGD);
    if (ti_adv_kind_parse(c->dense.loss, &ap.kind) != TI_OK)
        return ti_ctx_error(st->ctx, TI_ERR_ARG,
                            "dense.loss \"%s\" is not natural, pgd, trades or mixed",
                            c->dense.loss);
    ap.eps = c->eps;
    ap.step = c->step;
    ap.steps = c->steps;
    ap.seed = c->seed;
    ti_classifier view;
    ti_adv_trainer *adv = NULL;
    ti_sgd *opt = NULL;
    ti_batcher *b = NULL;
    ti_tape *tape = ti_tape_new(st->ctx);
    ti_sgd_params sp = ti_sgd_params_default();
    sp.lr = c->dense.lr;
    sp.weight_decay = c->dense.weight_decay;
    ti_schedule sched;
    ti_status s = tape ? TI_OK : ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
    if (s == TI_OK)
        s = ti_model_classifier(m, c->batch, &view);
    if (s == TI_OK)
        s = ti_adv_trainer_new(st->ctx, m, &view, &ap, c->batch, &adv);
    if (s == TI_OK)
        s = ti_sgd_new(st->ctx, &sp, &opt);
    if (s == TI_OK)
        s = ti_sgd_add_model(opt, m);
    if (s == TI_OK)
        s = ti_schedule_cosine(st->ctx, &sched, c->dense.lr, c->dense.epochs, 0, 0);
    if (s == TI_OK)
        s = ti_batcher_new(st->ctx, st->train, c->batch, 1, st->train->C == 3, c->seed, &b);
    ti_train_hooks hooks = adv ? ti_adv_trainer_hooks(adv) : (ti_train_hooks){0};
    ti_train_setup setup = {.model = m, .tape = tape, .opt = opt, .batcher = b,
                            .data = st->train, .batch = c->batch, .schedule = &sched,
                            .hooks = &hooks};
    for (int e = 0; e < c->dense.epochs && s == TI_OK; e++) {
        ti_train_stats ts;
        s = ti_train_epoch(st->ctx, &setup, e, &ts);
        if (s == TI_OK && !st->quiet) {
            app_progress_clear(st->progress);
            printf("      epoch %d/%d: loss %.4f, train accuracy %.4f, %.0f img/s\n", e + 1,
                   c->dense.epochs, ts.loss, ts.accuracy, ts.images_per_s);
        }
    }
    ti_batcher_free(b);
    ti_sgd_free(opt);
    ti_adv_trainer_free(adv);
    ti_tape_free(tape);
    return s;
}

ti_status study_step_dense(study *st, const char *network, study_model *dense)
{
    const study_config *c = st->cfg;
    memset(dense, 0, sizeof *dense);
    snprintf(dense->network, sizeof dense->network, "%s", network);
    snprintf(dense->method, sizeof dense->method, "dense");
    snprintf(dense->tag, sizeof dense->tag, "%s-dense", network);
    snprintf(dense->path, sizeof dense->path, "%s/models/%s.safetensors", st->out, dense->tag);
    snprintf(dense->key, sizeof dense->key,
             "dense net=%s data=%.900s train=%d test=%d epochs=%d lr=%g wd=%g loss=%s eps=%g "
             "step=%g steps=%d batch=%d seed=%llu eval=%d/%d",
             network, c->data, st->train->N, st->test->N, c->dense.epochs, c->dense.lr,
             c->dense.weight_decay, c->dense.loss, c->eps, c->step, c->steps, c->batch,
             (unsigned long long)c->seed, c->attack.count, c->attack.pgd_steps);
    st->step++;
    ti_json *rec = record_load(st, dense->tag, dense->key);
    if (rec && exists(dense->path)) {
        dense->clean = rec_num(rec, "clean");
        dense->pgd = rec_num(rec, "pgd");
        ti_json_free(rec);
        say(st, "dense %s: cached (clean %.4f, PGD %.4f)", network, dense->clean, dense->pgd);
        return TI_OK;
    }
    ti_json_free(rec);
    say(st, "dense %s: %s training, %d epochs on %d images", network, c->dense.loss,
        c->dense.epochs, st->train->N);
    double t0 = app_now();
    ti_model *m = NULL;
    ti_status s = new_model(st, network, &m);
    if (s == TI_OK)
        s = train_dense(st, m);
    if (s == TI_OK)
        s = method_eval(st, m, &dense->clean, &dense->pgd);
    if (s == TI_OK)
        s = ti_model_save(m, dense->path);
    ti_model_free(m);
    if (s != TI_OK)
        return s;
    const char *names[2] = {"clean", "pgd"};
    double vals[2] = {dense->clean, dense->pgd};
    st->seconds += app_now() - t0;
    say(st, "dense %s: clean %.4f, PGD-%d %.4f (%.0f s)", network, dense->clean,
        c->attack.pgd_steps, dense->pgd, app_now() - t0);
    return record_save(st, dense->tag, dense->key, 2, names, vals);
}

/* ---- pruning ---------------------------------------------------------------------------- */

ti_status study_step_prune(study *st, const study_model *dense, const char *method,
                           double sparsity, study_model *pruned)
{
    const study_config *c = st->cfg;
    memset(pruned, 0, sizeof *pruned);
    ti_prune_params pp;
    ti_prune_method pm;
    if (ti_prune_method_parse(method, &pm) != TI_OK)
        return ti_ctx_error(st->ctx, TI_ERR_ARG,
                            "method \"%s\" is not magnitude, hydra, admm or atmc", method);
    pp = ti_prune_params_default(pm);
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
    snprintf(pruned->network, sizeof pruned->network, "%s", dense->network);
    snprintf(pruned->method, sizeof pruned->method, "%s", method);
    pruned->sparsity = sparsity;
    snprintf(pruned->tag, sizeof pruned->tag, "%s-%s-%g", dense->network, method,
             100 * sparsity);
    snprintf(pruned->path, sizeof pruned->path, "%s/models/%s.safetensors", st->out,
             pruned->tag);
    int ntrain = c->prune.train_count > 0 && c->prune.train_count < st->train->N
                     ? c->prune.train_count : st->train->N;
    snprintf(pruned->key, sizeof pruned->key, "%.1800s | prune %s sparsity=%g epochs=%d+%d train=%d",
             dense->key, method, sparsity, pp.epochs_prune, pp.epochs_finetune, ntrain);
    st->step++;
    ti_json *rec = record_load(st, pruned->tag, pruned->key);
    if (rec && exists(pruned->path)) {
        pruned->clean = rec_num(rec, "clean");
        pruned->pgd = rec_num(rec, "pgd");
        ti_json_free(rec);
        say(st, "%s: cached (clean %.4f, PGD %.4f)", pruned->tag, pruned->clean, pruned->pgd);
        return TI_OK;
    }
    ti_json_free(rec);
    say(st, "%s: %s pruning to %g%% sparsity (%d + %d epochs, %s loss)", pruned->tag, method,
        100 * sparsity, pp.epochs_prune, pp.epochs_finetune, ti_adv_kind_name(pp.adv.kind));
    double t0 = app_now();
    ti_model *m = NULL;
    ti_dataset *train = NULL;
    ti_prune_report rep;
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/prune/%s", st->out, pruned->tag);
    ti_status s = load_model(st, dense, &m);
    if (s == TI_OK)
        s = ti_dataset_slice(st->ctx, st->train, 0, ntrain, &train);
    if (s == TI_OK)
        s = ti_prune_run(st->ctx, m, train, st->test, &pp, dir, &rep);
    if (s == TI_OK) {
        const ti_prune_phase *last = &rep.phases[rep.nphases - 1];
        pruned->clean = last->clean_acc;
        pruned->pgd = last->pgd_acc;
        s = ti_model_save(m, pruned->path);
    }
    ti_dataset_free(train);
    ti_model_free(m);
    if (s != TI_OK)
        return s;
    st->seconds += app_now() - t0;
    say(st, "%s: clean %.4f, PGD-%d %.4f, sparsity %.4f (%.0f s)", pruned->tag, pruned->clean,
        c->attack.pgd_steps, pruned->pgd, rep.phases[rep.nphases - 1].sparsity,
        app_now() - t0);
    const char *names[2] = {"clean", "pgd"};
    double vals[2] = {pruned->clean, pruned->pgd};
    return record_save(st, pruned->tag, pruned->key, 2, names, vals);
}

/* ---- AutoAttack ---------------------------------------------------------------------------- */

static ti_status write_aa_csv(study *st, const study_model *sm, const ti_aa_result *r)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/samples/%s-autoattack.csv", st->out, sm->tag);
    ti_afile f;
    ti_status s = ti_afile_open(st->ctx, &f, path);
    if (s != TI_OK)
        return s;
    fprintf(f.fp, "index,label,clean_pred,adv_pred,robust,attack\n");
    for (int i = 0; i < r->N; i++) {
        const ti_aa_sample *a = &r->samples[i];
        const char *by = a->attack >= 0 ? ti_aa_attack_name(r->attacks[a->attack])
                                        : (a->attack == TI_AA_ROBUST ? "" : "clean");
        fprintf(f.fp, "%d,%d,%d,%d,%d,%s\n", i, a->label, a->clean_pred, a->adv_pred,
                a->attack == TI_AA_ROBUST, by);
    }
    return ti_afile_commit(st->ctx, &f);
}

ti_status study_step_autoattack(study *st, study_model *sm)
{
    const study_config *c = st->cfg;
    char name[128], key[2400];
    snprintf(name, sizeof name, "%s-autoattack", sm->tag);
    snprintf(key, sizeof key, "%.2000s | autoattack %s linf eps=%g count=%d seed=%llu", sm->key,
             c->attack.version, c->eps, c->attack.count, (unsigned long long)c->seed);
    st->step++;
    ti_json *rec = record_load(st, name, key);
    if (rec) {
        sm->aa_clean = rec_num(rec, "clean");
        sm->aa_robust = rec_num(rec, "robust");
        ti_json_free(rec);
        say(st, "%s: AutoAttack cached (robust %.4f)", sm->tag, sm->aa_robust);
        return TI_OK;
    }
    int n = c->attack.count < st->test->N ? c->attack.count : st->test->N;
    say(st, "%s: AutoAttack %s, L-inf eps %g, %d samples", sm->tag, c->attack.version, c->eps,
        n);
    double t0 = app_now();
    ti_model *m = NULL;
    ti_aa_params ap;
    ti_aa_result *res = NULL;
    ti_classifier view;
    ti_status s = load_model(st, sm, &m);
    if (s == TI_OK)
        s = ti_aa_params_version(st->ctx, c->attack.version, TI_NORM_LINF, c->eps, &ap);
    ap.seed = c->seed;
    ap.batch_size = c->batch > 250 ? c->batch : 250;
    if (s == TI_OK)
        s = ti_model_classifier(m, c->batch, &view);
    if (s == TI_OK)
        s = ti_aa_result_new(st->ctx, &ap, n, &res);
    if (s == TI_OK)
        s = ti_aa_run(st->ctx, &view, &ap, st->test->x, st->test->y, n, NULL, res);
    if (s == TI_OK) {
        sm->aa_clean = res->clean_acc;
        sm->aa_robust = res->n_attacks ? res->robust_acc[res->n_attacks - 1] : res->clean_acc;
        s = write_aa_csv(st, sm, res);
    }
    ti_aa_result_free(res);
    ti_model_free(m);
    if (s != TI_OK)
        return s;
    st->seconds += app_now() - t0;
    say(st, "%s: AutoAttack clean %.4f, robust %.4f (%.0f s)", sm->tag, sm->aa_clean,
        sm->aa_robust, app_now() - t0);
    const char *names[2] = {"clean", "robust"};
    double vals[2] = {sm->aa_clean, sm->aa_robust};
    return record_save(st, name, key, 2, names, vals);
}

/* ---- per-sample predictions, margins and FMN distances ------------------------------------- */

void study_samples_free(study_samples *s)
{
    free(s->pred);
    free(s->right);
    free(s->margin);
    free(s->eps);
    memset(s, 0, sizeof *s);
}

static ti_status write_fmn_csv(study *st, const char *path, const study_samples *s)
{
    ti_afile f;
    ti_status r = ti_afile_open(st->ctx, &f, path);
    if (r != TI_OK)
        return r;
    fprintf(f.fp, "index,label,pred,margin,eps\n");
    for (int i = 0; i < s->n; i++)
        fprintf(f.fp, "%d,%d,%d,%.9g,%.9g\n", i, st->test->y[i], s->pred[i], s->margin[i],
                s->eps[i]);
    return ti_afile_commit(st->ctx, &f);
}

static ti_status read_fmn_csv(study *st, const char *path, study_samples *s)
{
    ti_stats_csv *csv = NULL;
    ti_stats_err err = {0};
    if (ti_stats_csv_read(path, &csv, &err) != TI_STATS_OK)
        return ti_ctx_error(st->ctx, TI_ERR_FORMAT, "%s", err.msg);
    long col = ti_stats_csv_find(csv, "eps");
    ti_status r = TI_OK;
    if (col < 0 || (int)ti_stats_csv_nrows(csv) != s->n)
        r = ti_ctx_error(st->ctx, TI_ERR_FORMAT, "%s: no eps column or not %d rows", path, s->n);
    for (int i = 0; i < s->n && r == TI_OK; i++)
        if (ti_stats_csv_number(csv, (size_t)i, (size_t)col, &s->eps[i], &err) != TI_STATS_OK)
            r = ti_ctx_error(st->ctx, TI_ERR_FORMAT, "%s", err.msg);
    ti_stats_csv_free(csv);
    return r;
}

/* FMN distances to the boundary of the model's PREDICTED label, so that misclassified
 * samples get a distance too (the paper's epsilon). */
static ti_status run_fmn(study *st, ti_model *m, study_samples *s)
{
    const study_config *c = st->cfg;
    ti_fmn_params fp = ti_fmn_params_default();
    if (ti_norm_parse(c->fmn.norm, &fp.norm) != TI_OK)
        return ti_ctx_error(st->ctx, TI_ERR_ARG, "fmn.norm \"%s\" is not linf, l2, l1 or l0",
                            c->fmn.norm);
    fp.steps = c->fmn.steps;
    fp.seed = c->seed;
    ti_classifier view;
    ti_status r = ti_model_classifier(m, c->batch, &view);
    size_t D = ti_classifier_dim(&view);
    float *xa = malloc((size_t)c->batch * D * sizeof(float));
    float *norms = malloc((size_t)c->batch * sizeof(float));
    if (!xa || !norms)
        r = ti_ctx_error(st->ctx, TI_ERR_NOMEM, "fmn: out of memory");
    for (int o = 0; o < s->n && r == TI_OK; o += c->batch) {
        int n = s->n - o < c->batch ? s->n - o : c->batch;
        r = ti_atk_fmn(st->ctx, &view, &fp, st->test->x + (size_t)o * D, s->pred + o, n, xa,
                       norms, NULL);
        for (int i = 0; i < n && r == TI_OK; i++)
            s->eps[o + i] = norms[i];
        if (r == TI_OK)
            r = ti_ctx_progress(st->ctx, "fmn", o + n, s->n);
    }
    free(xa);
    free(norms);
    return r;
}

ti_status study_step_samples(study *st, const study_model *sm, int fmn, study_samples *out)
{
    const study_config *c = st->cfg;
    int n = st->test->N, M = st->test->M;
    *out = (study_samples){.n = n};
    out->pred = malloc((size_t)n * sizeof(int));
    out->right = malloc((size_t)n * sizeof(int));
    out->margin = malloc((size_t)n * sizeof(double));
    out->eps = fmn ? malloc((size_t)n * sizeof(double)) : NULL;
    float *logits = malloc((size_t)n * M * sizeof(float));
    ti_model *m = NULL;
    ti_status s = out->pred && out->right && out->margin && logits && (!fmn || out->eps)
                      ? load_model(st, sm, &m)
                      : ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
    ti_eval_stats es;
    if (s == TI_OK)
        s = ti_evaluate(st->ctx, m, st->test, c->batch, &es, logits, out->pred);
    for (int i = 0; i < n && s == TI_OK; i++) {
        const float *z = logits + (size_t)i * M;
        int y = st->test->y[i];
        float other = -INFINITY;
        for (int k = 0; k < M; k++)
            if (k != y && z[k] > other)
                other = z[k];
        out->margin[i] = (double)z[y] - other;
        out->right[i] = out->pred[i] == y;
    }
    free(logits);
    if (s == TI_OK && fmn) {
        char name[128], key[2400], path[1400];
        snprintf(name, sizeof name, "%s-fmn", sm->tag);
        snprintf(key, sizeof key, "%.2000s | fmn %s steps=%d n=%d", sm->key, c->fmn.norm,
                 c->fmn.steps, n);
        snprintf(path, sizeof path, "%s/samples/%s.csv", st->out, name);
        st->step++;
        ti_json *rec = record_load(st, name, key);
        if (rec && exists(path)) {
            s = read_fmn_csv(st, path, out);
            say(st, "%s: FMN distances cached", sm->tag);
        } else {
            say(st, "%s: FMN %s distances to the boundary, %d steps, %d samples", sm->tag,
                c->fmn.norm, c->fmn.steps, n);
            double t0 = app_now();
            s = run_fmn(st, m, out);
            if (s == TI_OK)
                s = write_fmn_csv(st, path, out);
            if (s == TI_OK) {
                st->seconds += app_now() - t0;
                say(st, "%s: FMN done (%.0f s)", sm->tag, app_now() - t0);
                s = record_save(st, name, key, 0, NULL, NULL);
            }
        }
        ti_json_free(rec);
    }
    ti_model_free(m);
    if (s != TI_OK)
        study_samples_free(out);
    return s;
}
