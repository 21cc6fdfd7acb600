/* thinice-attack's outputs, the same for a run, an MPI job's rank 0 and a merge: the
 * results on stdout, the per-sample CSV, the JSON summary. */
#include <math.h>
#include <stdio.h>

#include "app_procs.h"
#include "attack.h"
#include "thinice/fileio.h"
#include "thinice/stats.h"

/* The exact (Clopper-Pearson) 95% interval of a fraction of the done samples. */
static void interval(double frac, int n, double *lo, double *hi)
{
    *lo = *hi = NAN;
    if (n > 0)
        ti_stats_proportion_ci((size_t)lround(frac * n), (size_t)n, 0.95,
                               TI_STATS_CI_CLOPPER_PEARSON, lo, hi, NULL);
}

/* "audit: no check fired" or the names of those that did (their warnings went to stderr). */
static void print_audit(const ti_audit *a)
{
    if (a->n_triggered == 0) {
        printf("audit: no check fired (%d samples checked, %d probed)\n", a->n_check,
               a->n_probe);
        return;
    }
    printf("audit: %d check%s fired:", a->n_triggered, a->n_triggered > 1 ? "s" : "");
    for (int c = 0; c < TI_AUDIT_COUNT; c++)
        if (a->item[c].triggered)
            printf(" %s", ti_audit_check_name((ti_audit_check)c));
    printf(" (docs/audit.md; the JSON has the numbers)\n");
}

static void print_results(const opts *o, const ti_eval *ev, const ti_eval_summary *S,
                          const ti_audit *a)
{
    if (!o->quiet) {
        printf("clean accuracy:               %6.2f%%  (%.2f s)\n", 100 * S->clean_acc,
               ev->seconds_clean);
        for (int k = 0; k < ev->n_attacks; k++)
            printf("robust accuracy after %-8s %6.2f%%  (%.2f s)\n", ev->names[k],
                   100 * S->robust_acc[k], ev->seconds[k]);
        if (ev->p.kind == TI_EVAL_FMN)
            printf("FMN %s, %d steps: median norm %.6g (all samples), %.6g (correctly "
                   "classified); %d of %d points without an adversarial example\n",
                   ti_norm_name(o->norm), ev->p.fmn.steps, S->fmn_median_all,
                   S->fmn_median_correct, S->n_clean - S->fmn_found, S->n_clean);
        if (ev->n_check_failed)
            printf("%d adversarial examples failed the final check (counted robust)\n",
                   ev->n_check_failed);
    }
    if (a && !o->quiet)
        print_audit(a);
    double lo, hi;
    interval(S->robust_final, S->n_done, &lo, &hi);
    printf("robust accuracy: %.2f%% (%d samples; 95%% interval %.2f-%.2f%%)\n",
           100 * S->robust_final, S->n_done, 100 * lo, 100 * hi);
    fflush(stdout);
}

/* The JSON summary: the program, the model and data, then the evaluation's members. */
/* "intervals": the exact 95% intervals of the clean and the final robust accuracy. */
static ti_status json_intervals(ti_ctx *ctx, const ti_eval *ev, ti_jw *w)
{
    ti_eval_summary S;
    ti_status s = ti_eval_summarize(ctx, ev, &S);
    if (s != TI_OK)
        return s;
    double v[2] = {S.clean_acc, S.robust_final};
    const char *names[2] = {"clean", "robust"};
    ti_jw_key(w, "intervals");
    ti_jw_begin_object(w);
    ti_jw_key(w, "method");
    ti_jw_string(w, "clopper-pearson");
    ti_jw_key(w, "level");
    ti_jw_number(w, 0.95);
    for (int k = 0; k < 2; k++) {
        double lo, hi;
        interval(v[k], S.n_done, &lo, &hi);
        ti_jw_key(w, names[k]);
        ti_jw_begin_array(w);
        ti_jw_number(w, lo);
        ti_jw_number(w, hi);
        ti_jw_end_array(w);
    }
    ti_jw_end_object(w);
    return TI_OK;
}

/* The sparse execution: the mode and, for a zoo model, how many layers ran sparse. */
static void json_sparse(ti_jw *w, const opts *o, const app_net *net)
{
    int sparse = 0, total = 0;
    if (net && net->model)
        ti_model_sparse_layers(net->model, &sparse, &total);
    ti_jw_key(w, "sparse");
    ti_jw_string(w, ti_sparse_mode_name(o->sparse));
    ti_jw_key(w, "sparse_layers");
    ti_jw_int(w, sparse);
    ti_jw_key(w, "layers");
    ti_jw_int(w, total);
}

static ti_status write_json(ti_ctx *ctx, const opts *o, const ti_eval *ev, const ti_audit *a,
                            const app_net *net, int resumed, double wall)
{
    ti_jw *w = ti_jw_new();
    if (!w)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", o->json);
    ti_jw_begin_object(w);
    app_json_program(w);
    ti_jw_key(w, "model");
    ti_jw_string(w, o->model);
    ti_jw_key(w, "weights");
    ti_jw_string(w, ti_onnx_is_spec(o->model) ? ti_onnx_spec_path(o->model) : o->weights);
    ti_jw_key(w, "data");
    ti_jw_string(w, o->data);
    ti_jw_key(w, "split");
    ti_jw_string(w, o->split_name);
    ti_jw_key(w, "processes");
    ti_jw_int(w, app_procs_size());
    ti_jw_key(w, "threads");
    ti_jw_int(w, ti_ctx_threads(ctx));
    ti_jw_key(w, "resumed_samples");
    ti_jw_int(w, resumed);
    ti_jw_key(w, "wall_seconds");
    ti_jw_number(w, wall);
    json_sparse(w, o, net);
    ti_status s = ti_eval_json(ctx, ev, w);
    if (s == TI_OK)
        s = json_intervals(ctx, ev, w);
    if (s == TI_OK && a)
        s = ti_audit_json(ctx, a, w);
    ti_jw_end_object(w);
    if (s == TI_OK)
        s = app_write_json(ctx, w, o->json);
    ti_jw_free(w);
    return s;
}

ti_status attack_outputs(ti_ctx *ctx, const opts *o, const ti_eval *ev, const ti_audit *a,
                         const app_net *net, int resumed, double wall)
{
    ti_eval_summary S;
    ti_status s = ti_eval_summarize(ctx, ev, &S);
    if (s == TI_OK)
        print_results(o, ev, &S, a);
    if (s == TI_OK && o->csv)
        s = a ? ti_audit_write_csv(ctx, ev, a, o->csv) : ti_eval_write_csv(ctx, ev, o->csv);
    if (s == TI_OK && o->json)
        s = write_json(ctx, o, ev, a, net, resumed, wall);
    return s;
}

ti_status attack_identity(ti_ctx *ctx, const opts *o, const char *weights_file, ti_eval *ev)
{
    uint64_t h;
    ti_status s = ti_file_fnv1a(ctx, weights_file, &h);
    char id[1024];
    snprintf(id, sizeof id, "model=%s weights_fnv=%016llx data=%s split=%s sparse=%s",
             o->model, (unsigned long long)h, o->data, o->split_name,
             ti_sparse_mode_name(o->sparse));
    return s == TI_OK ? ti_eval_set_run(ctx, ev, id) : s;
}
