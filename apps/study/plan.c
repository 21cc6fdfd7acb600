/* thinice-study's models (steps.h): the networks and models a configuration asks for, and
 * the steps of the user's own models: each opened on the study's data before any work (shape,
 * classes, architecture, HYDRA's scores), its sparsity measured, and its reported accuracies
 * taken from the configuration or measured with thinice's PGD evaluation. */
#include <stdio.h>
#include <string.h>

#include "steps.h"
#include "thinice/advtrain.h"
#include "thinice/fileio.h"
#include "thinice/onnx.h"
#include "thinice/prune.h"

static void set_tag(study_model *m, const char *network, const char *method, double sparsity)
{
    snprintf(m->network, sizeof m->network, "%s", network);
    snprintf(m->method, sizeof m->method, "%s", method);
    m->sparsity = sparsity;
    if (!strcmp(method, "dense"))
        snprintf(m->tag, sizeof m->tag, "%s-dense", network);
    else
        snprintf(m->tag, sizeof m->tag, "%s-%s-%g", network, method, 100 * sparsity);
}

/* A model of this study's own: trained or pruned into <out>/models/<tag>.safetensors. */
static void plan_own(const study *st, study_model *m, const char *network, const char *method,
                     double sparsity)
{
    memset(m, 0, sizeof *m);
    set_tag(m, network, method, sparsity);
    snprintf(m->spec, sizeof m->spec, "%s", network);
    char tag[sizeof m->tag]; /* a copy: GCC fears m->tag overlaps m->path (-Wrestrict) */
    memcpy(tag, m->tag, sizeof tag);
    snprintf(m->path, sizeof m->path, "%s/models/%s.safetensors", st->out, tag);
}

/* A user's model: an ONNX file, or a safetensors file of the network's architecture. */
static void plan_user(study_model *m, const sc_external *e, const char *method,
                      double sparsity, const char *file, const sc_reported *rep)
{
    memset(m, 0, sizeof *m);
    set_tag(m, e->name, method, sparsity);
    m->external = 1;
    if (ti_onnx_is_spec(file))
        snprintf(m->spec, sizeof m->spec, "onnx:%s", ti_onnx_spec_path(file));
    else
        snprintf(m->spec, sizeof m->spec, "%s", e->model);
    snprintf(m->path, sizeof m->path, "%s", ti_onnx_spec_path(file));
    if (rep)
        m->reported = *rep;
}

void study_plan(const study *st, study_net *nets, int *n)
{
    const study_config *c = st->cfg;
    for (int k = 0; k < c->nexternal; k++) {
        const sc_external *e = &c->external[k];
        plan_user(&nets[k].dense, e, "dense", 0, e->dense, NULL);
        for (int i = 0; i < e->npruned; i++)
            plan_user(&nets[k].pruned[i], e, e->pruned[i].method, e->pruned[i].sparsity,
                      e->pruned[i].file, &e->pruned[i].reported);
        nets[k].np = e->npruned;
    }
    if (c->nexternal) {
        *n = c->nexternal;
        return;
    }
    for (int k = 0; k < c->nnet; k++) {
        const char *methods[SC_MAX_LIST];
        int nm = study_config_methods(c, k, methods);
        plan_own(st, &nets[k].dense, c->networks[k], "dense", 0);
        nets[k].np = 0;
        for (int m = 0; m < nm; m++)
            for (int q = 0; q < c->nsparsity; q++)
                plan_own(st, &nets[k].pruned[nets[k].np++], c->networks[k], methods[m],
                         c->sparsities[q]);
    }
    *n = c->nnet;
}

int study_plan_steps(const study_net *net)
{
    /* per model: its model step (training, pruning or the user's model's evaluation),
     * AutoAttack, and the samples with FMN */
    return 3 * (1 + net->np);
}

ti_status study_open_net(study *st, const study_model *sm, app_net *out)
{
    int onnx = ti_onnx_is_spec(sm->spec), layers = 0;
    ti_status s = app_net_open(st->ctx, sm->spec, onnx ? NULL : sm->path, st->test,
                               st->cfg->batch, out);
    if (s == TI_OK && sm->external && !onnx && !strcmp(sm->method, "hydra"))
        s = ti_prune_apply_scores(out->model, sm->path, sm->sparsity, &layers);
    if (s == TI_OK && out->model)
        s = ti_model_set_sparse(out->model, st->sparse);
    if (s == TI_OK && layers)
        ti_ctx_log(st->ctx, 0, "%s: HYDRA's popup_scores of %d layers applied as masks at "
                   "sparsity %g", sm->tag, layers, sm->sparsity);
    if (s != TI_OK)
        app_net_close(out);
    return s;
}

ti_status study_check_external(study *st, study_net *nets, int n)
{
    for (int k = 0; k < n; k++)
        for (int i = -1; i < nets[k].np; i++) {
            study_model *m = i < 0 ? &nets[k].dense : &nets[k].pruned[i];
            app_net net;
            ti_status s = study_open_net(st, m, &net);
            if (s != TI_OK) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", ti_ctx_errmsg(st->ctx));
                return ti_ctx_error(st->ctx, s, "%s (%s): %s", m->tag, m->path, msg);
            }
            m->sparsity_measured = app_net_sparsity(&net);
            app_net_close(&net);
            if (i >= 0 && m->sparsity_measured == 0)
                ti_ctx_log(st->ctx, 1, "%s (%s): a pruned model without a single zero weight: "
                           "the dense model by mistake, or a checkpoint whose masks were not "
                           "applied?", m->tag, m->path);
        }
    return TI_OK;
}

/* thinice's PGD evaluation of a user's model that nobody reported on: as the methods report
 * theirs, PGD-<pgd_steps> at the study's eps on the first attack.count test samples. */
static ti_status pgd_eval(study *st, const study_model *sm, double *clean, double *pgd)
{
    const study_config *c = st->cfg;
    int n = c->attack.count < st->test->N ? c->attack.count : st->test->N;
    ti_dataset *sub = NULL;
    app_net net;
    ti_status s = study_open_net(st, sm, &net);
    if (s != TI_OK)
        return s;
    if ((s = ti_dataset_slice(st->ctx, st->test, 0, n, &sub)) == TI_OK)
        s = ti_adv_evaluate(st->ctx, &net.f, sub, c->batch, c->eps, c->step,
                            c->attack.pgd_steps, c->seed ^ 0x5eed, clean, pgd);
    ti_dataset_free(sub);
    app_net_close(&net);
    return s;
}

ti_status study_step_external(study *st, study_model *sm)
{
    const study_config *c = st->cfg;
    uint64_t h;
    ti_status s = ti_file_fnv1a(st->ctx, sm->path, &h);
    if (s != TI_OK)
        return s;
    snprintf(sm->key, sizeof sm->key, "external %.600s fnv=%016llx %s sparsity=%g test=%d",
             sm->spec, (unsigned long long)h, sm->method, sm->sparsity, st->test->N);
    st->step++;
    if (sm->reported.given) {
        sm->clean = sm->reported.clean;
        sm->pgd = sm->reported.robust;
        snprintf(sm->reported_by, sizeof sm->reported_by, "%s (reported)", sm->reported.attack);
        study_say(st, "%s: %s, sparsity %.4f, reported clean %.4f, robust %.4f", sm->tag,
                  sm->path, sm->sparsity_measured, sm->clean, sm->pgd);
        return TI_OK;
    }
    char name[128], key[2400];
    snprintf(name, sizeof name, "%s-pgd", sm->tag);
    snprintf(key, sizeof key, "%.2000s | pgd eps=%g step=%g steps=%d count=%d seed=%llu",
             sm->key, c->eps, c->step, c->attack.pgd_steps, c->attack.count,
             (unsigned long long)c->seed);
    snprintf(sm->reported_by, sizeof sm->reported_by, "PGD-%d (thinice)", c->attack.pgd_steps);
    ti_json *rec = study_record_load(st, name, key);
    if (rec) {
        sm->clean = study_rec_num(rec, "clean");
        sm->pgd = study_rec_num(rec, "pgd");
        ti_json_free(rec);
        study_say(st, "%s: cached (clean %.4f, PGD %.4f)", sm->tag, sm->clean, sm->pgd);
        return TI_OK;
    }
    double t0 = ti_clock();
    if ((s = pgd_eval(st, sm, &sm->clean, &sm->pgd)) != TI_OK)
        return s;
    st->seconds += ti_clock() - t0;
    study_say(st, "%s: %s, sparsity %.4f: clean %.4f, PGD-%d %.4f (%.0f s)", sm->tag, sm->path,
              sm->sparsity_measured, sm->clean, c->attack.pgd_steps, sm->pgd, ti_clock() - t0);
    const char *names[2] = {"clean", "pgd"};
    double vals[2] = {sm->clean, sm->pgd};
    return study_record_save(st, name, key, 2, names, vals);
}
