/* thinice-study's evaluation steps (see steps.h): AutoAttack on a model, and the per-sample
 * clean predictions, margins and FMN distances, through the library's evaluation harness
 * (whose state file caches and resumes each evaluation), each recorded under
 * <out>/steps/<name>.json with the key of the configuration it ran with. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steps.h"
#include "thinice/eval.h"
#include "thinice/fileio.h"
#include "thinice/train.h"

/* ---- evaluations through the harness ------------------------------------------------------ */

/* Runs (or resumes) the evaluation ev of model sm on the first ev->N test samples, with its
 * state in <out>/samples/<name>.state and the per-sample CSV beside it. */
static ti_status run_eval(study *st, const study_model *sm, const char *name, ti_eval *ev)
{
    char state[1400], csv[1400];
    snprintf(state, sizeof state, "%s/samples/%s.state", st->out, name);
    snprintf(csv, sizeof csv, "%s/samples/%s.csv", st->out, name);
    ti_model *m = NULL;
    ti_classifier view;
    int found;
    uint64_t h;
    char run[64];
    ti_status s = ti_file_fnv1a(st->ctx, sm->path, &h);
    snprintf(run, sizeof run, "weights_fnv=%016llx", (unsigned long long)h);
    if (s == TI_OK)
        s = ti_eval_set_run(st->ctx, ev, run);
    if (s == TI_OK)
        s = ti_eval_state_load(st->ctx, ev, state, &found);
    if (s == TI_OK)
        s = study_load_model(st, sm, &m);
    if (s == TI_OK)
        s = ti_model_classifier(m, st->cfg->batch, &view);
    if (s == TI_OK)
        s = ti_eval_run(st->ctx, ev, &view, st->test->x, st->test->y, NULL, state);
    if (s == TI_OK)
        s = ti_eval_write_csv(st->ctx, ev, csv);
    ti_model_free(m);
    return s;
}

ti_status study_step_autoattack(study *st, study_model *sm)
{
    const study_config *c = st->cfg;
    char name[128], key[2400];
    snprintf(name, sizeof name, "%s-autoattack", sm->tag);
    snprintf(key, sizeof key, "%.2000s | autoattack %s linf eps=%g count=%d seed=%llu", sm->key,
             c->attack.version, c->eps, c->attack.count, (unsigned long long)c->seed);
    st->step++;
    ti_json *rec = study_record_load(st, name, key);
    if (rec) {
        sm->aa_clean = study_rec_num(rec, "clean");
        sm->aa_robust = study_rec_num(rec, "robust");
        ti_json_free(rec);
        study_say(st, "%s: AutoAttack cached (robust %.4f)", sm->tag, sm->aa_robust);
        return TI_OK;
    }
    int n = c->attack.count < st->test->N ? c->attack.count : st->test->N;
    study_say(st, "%s: AutoAttack %s, L-inf eps %g, %d samples", sm->tag, c->attack.version, c->eps,
        n);
    double t0 = ti_clock();
    ti_eval_params p;
    ti_eval *ev = NULL;
    ti_eval_summary S;
    ti_status s = ti_eval_params_init(st->ctx, c->attack.version, TI_NORM_LINF, c->eps, &p);
    p.seed = c->seed;
    if (s == TI_OK)
        s = ti_eval_new(st->ctx, &p, 0, n, &ev);
    if (s == TI_OK)
        s = run_eval(st, sm, name, ev);
    if (s == TI_OK)
        s = ti_eval_summarize(st->ctx, ev, &S);
    ti_eval_free(ev);
    if (s != TI_OK)
        return s;
    sm->aa_clean = S.clean_acc;
    sm->aa_robust = S.robust_final;
    st->seconds += ti_clock() - t0;
    study_say(st, "%s: AutoAttack clean %.4f, robust %.4f (%.0f s)", sm->tag, sm->aa_clean,
        sm->aa_robust, ti_clock() - t0);
    const char *names[2] = {"clean", "robust"};
    double vals[2] = {sm->aa_clean, sm->aa_robust};
    return study_record_save(st, name, key, 2, names, vals);
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

/* FMN's distance of every test sample to the boundary of the model's PREDICTED class, so
 * that misclassified samples get one too (the paper's epsilon), through the harness: its
 * state is the cache, so a finished step only reloads it. */
static ti_status fmn_distances(study *st, const study_model *sm, const char *name, double *eps)
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
        s = ti_eval_new(st->ctx, &p, 0, st->test->N, &ev);
    if (s == TI_OK)
        s = run_eval(st, sm, name, ev);
    for (int i = 0; s == TI_OK && i < ev->N; i++)
        eps[i] = ev->samples[i].min_norm;
    ti_eval_free(ev);
    return s;
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
                      ? study_load_model(st, sm, &m)
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
    ti_model_free(m);
    m = NULL;
    if (s == TI_OK && fmn) {
        char name[128], key[2400];
        snprintf(name, sizeof name, "%s-fmn", sm->tag);
        snprintf(key, sizeof key, "%.2000s | fmn %s steps=%d n=%d", sm->key, c->fmn.norm,
                 c->fmn.steps, n);
        st->step++;
        ti_json *rec = study_record_load(st, name, key);
        study_say(st, rec ? "%s: FMN distances cached" : "%s: FMN %s distances to the boundary, "
            "%d steps, %d samples", sm->tag, c->fmn.norm, c->fmn.steps, n);
        double t0 = ti_clock();
        s = fmn_distances(st, sm, name, out->eps);
        if (s == TI_OK && !rec) {
            st->seconds += ti_clock() - t0;
            study_say(st, "%s: FMN done (%.0f s)", sm->tag, ti_clock() - t0);
            s = study_record_save(st, name, key, 0, NULL, NULL);
        }
        ti_json_free(rec);
    }
    ti_model_free(m);
    if (s != TI_OK)
        study_samples_free(out);
    return s;
}
