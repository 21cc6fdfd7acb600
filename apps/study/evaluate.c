/* thinice-study's evaluation steps (see steps.h): AutoAttack on a model, and the per-sample
 * clean predictions, margins and FMN distances, through the library's evaluation harness
 * (whose state file caches and resumes each evaluation), each recorded under
 * <out>/steps/<name>.json with the key of the configuration it ran with. Every model opens
 * the same way, a zoo checkpoint or an ONNX file (study_open_net). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_procs.h"
#include "report.h"
#include "steps.h"
#include "thinice/audit.h"
#include "thinice/eval.h"
#include "thinice/fileio.h"

/* Shard K of N of ev (--shard K/N): its whole batches (ti_eval_shard_range), evaluated into
 * the state file <state>.shard<K>, which the study run without --shard takes in. */
static ti_status run_shard(study *st, const app_net *net, const char *state, const ti_eval *ev)
{
    int first, count, found;
    ti_eval_shard_range(ev->first, ev->N, ev->p.batch_size, st->shard, st->shards, &first,
                        &count);
    if (count == 0)
        return TI_OK; /* fewer batches than shards: nothing here */
    char part[1500];
    snprintf(part, sizeof part, "%s.shard%d", state, st->shard);
    size_t D = ti_classifier_dim(&net->f);
    ti_eval *sh = NULL;
    ti_status s = ti_eval_new(st->ctx, &ev->p, first, count, &sh);
    if (s == TI_OK && (s = ti_eval_set_run(st->ctx, sh, ev->run)) == TI_OK &&
        (s = app_procs_resume(st->ctx, sh, part, &found)) == TI_OK)
        s = app_procs_eval(st->ctx, sh, &net->f, st->test->x + (size_t)first * D,
                           st->test->y + first, part, st->progress);
    ti_eval_free(sh);
    return s;
}

/* Runs (or resumes) the evaluation ev of model sm on the first ev->N test samples, with its
 * state in <out>/samples/<name>.state and the per-sample CSV beside it; over the processes
 * of an MPI job (app_procs_eval). With --shard only the shard runs and *complete is 0. A run
 * without --shard first takes in what shards and processes left (app_procs_resume). With
 * audit (may be NULL) the finished evaluation is audited (*audit, the CSV's audit columns). */
static ti_status run_eval(study *st, const study_model *sm, const char *name, ti_eval *ev,
                          int *complete, ti_audit **audit)
{
    char state[1400], csv[1400], run[96];
    snprintf(state, sizeof state, "%s/samples/%s.state", st->out, name);
    snprintf(csv, sizeof csv, "%s/samples/%s.csv", st->out, name);
    app_net net = {0};
    int found;
    uint64_t h;
    *complete = st->shards == 0;
    ti_status s = ti_file_fnv1a(st->ctx, sm->path, &h);
    snprintf(run, sizeof run, "weights_fnv=%016llx sparse=%s", (unsigned long long)h,
             ti_sparse_mode_name(st->sparse));
    if (s == TI_OK)
        s = ti_eval_set_run(st->ctx, ev, run);
    if (s == TI_OK && !st->shards)
        s = app_procs_resume(st->ctx, ev, state, &found);
    if (s == TI_OK)
        s = study_open_net(st, sm, &net);
    if (s == TI_OK && st->shards)
        s = run_shard(st, &net, state, ev);
    else if (s == TI_OK)
        s = app_procs_eval(st->ctx, ev, &net.f, st->test->x, st->test->y, state, st->progress);
    if (s == TI_OK && audit && !st->shards)
        s = ti_audit_run(st->ctx, ev, &net.f, st->test->x, st->test->y, NULL, audit);
    if (s == TI_OK && !st->shards && study_writer(st))
        s = audit ? ti_audit_write_csv(st->ctx, ev, *audit, csv)
                  : ti_eval_write_csv(st->ctx, ev, csv);
    app_net_close(&net);
    return s;
}

/* The audit of a model's AutoAttack run: which checks fired, and its JSON beside the CSV. */
static ti_status save_audit(study *st, study_model *sm, const char *name, const ti_audit *a)
{
    sm->audit_fired = 0;
    for (int c = 0; c < TI_AUDIT_COUNT; c++)
        if (a->item[c].triggered)
            sm->audit_fired |= TI_AUDIT_BIT(c);
    ti_jw *w = ti_jw_new();
    if (!w)
        return ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
    ti_jw_begin_object(w);
    ti_jw_key(w, "model");
    ti_jw_string(w, sm->tag);
    ti_status s = ti_audit_json(st->ctx, a, w);
    ti_jw_end_object(w);
    size_t len;
    const char *text = ti_jw_text(w, &len);
    char file[300];
    snprintf(file, sizeof file, "samples/%s-audit.json", name);
    if (s == TI_OK)
        s = study_write_bytes(st, file, text, len, !text);
    ti_jw_free(w);
    return s;
}

static void take_aa(study_model *sm, double clean, double robust, int n)
{
    sm->aa_clean = clean;
    sm->aa_robust = robust;
    sm->aa_n = n;
    sm->aa_robust_n = (int)lround(robust * n);
}

ti_status study_step_autoattack(study *st, study_model *sm)
{
    const study_config *c = st->cfg;
    char name[128], key[2400];
    int n = c->attack.count < st->test->N ? c->attack.count : st->test->N;
    snprintf(name, sizeof name, "%s-autoattack", sm->tag);
    snprintf(key, sizeof key, "%.2000s | autoattack %s linf eps=%g count=%d seed=%llu", sm->key,
             c->attack.version, c->eps, n, (unsigned long long)c->seed);
    st->step++;
    ti_json *rec = study_record_load(st, name, key);
    if (rec) {
        take_aa(sm, study_rec_num(rec, "clean"), study_rec_num(rec, "robust"), n);
        double fired = study_rec_num(rec, "audit_fired");
        sm->audit_fired = fired == fired ? (unsigned)fired : 0; /* NaN: an older record */
        ti_json_free(rec);
        study_say(st, "%s: AutoAttack cached (robust %.4f)", sm->tag, sm->aa_robust);
        return TI_OK;
    }
    study_say(st, "%s: AutoAttack %s, L-inf eps %g, %d samples", sm->tag, c->attack.version,
              c->eps, n);
    double t0 = ti_clock();
    ti_eval_params p;
    ti_eval *ev = NULL;
    ti_eval_summary S;
    int complete = 0;
    ti_audit *audit = NULL;
    ti_status s = ti_eval_params_init(st->ctx, c->attack.version, TI_NORM_LINF, c->eps, &p);
    p.seed = c->seed;
    p.batch_size = c->batch; /* the unit of work of the processes and shards */
    if (s == TI_OK)
        s = ti_eval_new(st->ctx, &p, 0, n, &ev);
    if (s == TI_OK)
        s = run_eval(st, sm, name, ev, &complete, &audit);
    if (s == TI_OK && complete)
        s = ti_eval_summarize(st->ctx, ev, &S);
    if (s == TI_OK && audit)
        s = save_audit(st, sm, name, audit);
    ti_audit_free(audit);
    ti_eval_free(ev);
    if (s != TI_OK)
        return s;
    if (!complete) {
        study_say(st, "%s: AutoAttack shard %d of %d done (%.0f s)", sm->tag, st->shard,
                  st->shards, ti_clock() - t0);
        return TI_OK;
    }
    take_aa(sm, S.clean_acc, S.robust_final, n);
    st->seconds += ti_clock() - t0;
    study_say(st, "%s: AutoAttack clean %.4f, robust %.4f (%.0f s)", sm->tag, sm->aa_clean,
              sm->aa_robust, ti_clock() - t0);
    const char *names[3] = {"clean", "robust", "audit_fired"};
    double vals[3] = {sm->aa_clean, sm->aa_robust, sm->audit_fired};
    return study_record_save(st, name, key, 3, names, vals);
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

/* FMN's distance of each of the first nfmn test samples to the boundary of the model's
 * PREDICTED class, so that misclassified samples get one too (the paper's epsilon), through
 * the harness: its state is the cache, so a finished step only reloads it. */
static ti_status fmn_distances(study *st, const study_model *sm, const char *name, int nfmn,
                               double *eps, int *complete)
{
    const study_config *c = st->cfg;
    ti_eval_params p;
    ti_eval *ev = NULL;
    ti_norm norm;
    ti_norm_parse(c->fmn.norm, &norm); /* checked with the configuration */
    ti_status s = ti_eval_params_init(st->ctx, "fmn", norm, INFINITY, &p);
    p.fmn.steps = c->fmn.steps;
    p.fmn_predicted = 1;
    p.seed = c->seed;
    p.batch_size = c->batch;
    if (s == TI_OK)
        s = ti_eval_new(st->ctx, &p, 0, nfmn, &ev);
    if (s == TI_OK)
        s = run_eval(st, sm, name, ev, complete, NULL);
    for (int i = 0; s == TI_OK && *complete && i < ev->N; i++)
        eps[i] = ev->samples[i].min_norm;
    ti_eval_free(ev);
    return s;
}

/* Clean predictions and margins (logit of the label minus the largest other logit). */
static ti_status predictions(study *st, const study_model *sm, study_samples *out)
{
    int n = st->test->N, M = st->test->M;
    float *logits = malloc((size_t)n * M * sizeof *logits);
    app_net net;
    ti_status s = logits ? study_open_net(st, sm, &net)
                         : ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
    if (s == TI_OK) {
        s = ti_classifier_logits(&net.f, st->test->x, n, st->cfg->batch, logits);
        app_net_close(&net);
    }
    if (s == TI_OK)
        ti_argmax_rows(logits, n, M, out->pred);
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
    return s;
}

ti_status study_step_samples(study *st, const study_model *sm, int nfmn, study_samples *out)
{
    const study_config *c = st->cfg;
    int n = st->test->N;
    nfmn = nfmn < n ? nfmn : n;
    *out = (study_samples){.n = n, .nfmn = nfmn};
    out->pred = malloc((size_t)n * sizeof(int));
    out->right = malloc((size_t)n * sizeof(int));
    out->margin = malloc((size_t)n * sizeof(double));
    out->eps = malloc((size_t)(nfmn > 0 ? nfmn : 1) * sizeof(double));
    ti_status s = out->pred && out->right && out->margin && out->eps
                      ? predictions(st, sm, out)
                      : ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
    char name[128], key[2400];
    snprintf(name, sizeof name, "%s-fmn", sm->tag);
    snprintf(key, sizeof key, "%.2000s | fmn %s steps=%d n=%d", sm->key, c->fmn.norm,
             c->fmn.steps, nfmn);
    st->step++;
    ti_json *rec = s == TI_OK ? study_record_load(st, name, key) : NULL;
    if (s == TI_OK)
        study_say(st, rec ? "%s: FMN distances cached" : "%s: FMN %s distances to the "
                  "boundary, %d steps, %d samples", sm->tag, c->fmn.norm, c->fmn.steps, nfmn);
    double t0 = ti_clock();
    int complete = 0;
    if (s == TI_OK && !(rec && st->shards)) /* a shard of a finished step has nothing to do */
        s = fmn_distances(st, sm, name, nfmn, out->eps, &complete);
    if (s == TI_OK && !rec && !complete)
        study_say(st, "%s: FMN shard %d of %d done (%.0f s)", sm->tag, st->shard, st->shards,
                  ti_clock() - t0);
    if (s == TI_OK && !rec && complete) {
        st->seconds += ti_clock() - t0;
        study_say(st, "%s: FMN done (%.0f s)", sm->tag, ti_clock() - t0);
        s = study_record_save(st, name, key, 0, NULL, NULL);
    }
    ti_json_free(rec);
    if (s != TI_OK)
        study_samples_free(out);
    return s;
}
