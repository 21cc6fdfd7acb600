/* thinice-attack's evaluation: the data (or its shard), the model, the harness run over
 * this process or the ranks of an MPI job (app_procs.h), then rank 0's outputs. */
#include <stdio.h>

#include "app_procs.h"
#include "attack.h"

ti_status attack_open(ti_ctx *ctx, const opts *o, int first, int count, ti_dataset **d,
                      app_net *net)
{
    ti_status s = ti_data_load_range(ctx, o->data, o->split, first, count, d);
    if (s == TI_OK && (s = app_net_open(ctx, o->model, o->weights, *d, o->batch, net)) ==
                          TI_OK && net->model)
        s = ti_model_set_sparse(net->model, o->sparse);
    return s;
}

ti_status attack_audit(ti_ctx *ctx, const opts *o, const ti_eval *ev, const ti_dataset *d,
                       const app_net *net, ti_audit **a)
{
    *a = NULL;
    if (!o->audit)
        return TI_OK;
    ti_audit_params ap = ti_audit_params_default();
    ap.unstable = ap.unconstrained = o->audit == 2;
    return ti_audit_run(ctx, ev, &net->f, d->x, d->y, &ap, a);
}

/* The samples of this run: the options' range, or shard K of N of it (whole batches). */
static ti_status shard_range(ti_ctx *ctx, const opts *o, int *first, int *count)
{
    ti_dataset *all = NULL; /* the range's size, when --count is not given */
    ti_status s = ti_data_load_range(ctx, o->data, o->split, o->offset, o->count, &all);
    int n = all ? all->N : 0;
    ti_dataset_free(all);
    *first = o->offset;
    *count = n;
    if (s != TI_OK || o->shards == 0)
        return s;
    ti_eval_shard_range(o->offset, n, o->batch, o->shard, o->shards, first, count);
    if (*count == 0)
        s = ti_ctx_error(ctx, TI_ERR_ARG, "--shard %d/%d: %d samples are %d batches of %d, too "
                         "few for %d shards (shards are made of whole batches); use fewer "
                         "shards or a smaller --batch-size", o->shard, o->shards, n,
                         (n + o->batch - 1) / o->batch, o->batch, o->shards);
    return s;
}

static void print_start(ti_ctx *ctx, const opts *o, const app_net *net, const ti_dataset *d,
                        int first, int resumed, int found)
{
    char what[1400];
    app_net_describe(net, o->model, what, sizeof what);
    if (found)
        printf("resuming from %s: %d of %d samples already done\n", o->resume, resumed, d->N);
    if (o->shards)
        printf("shard %d of %d (0-based): ", o->shard, o->shards);
    printf("%s on %s %s [%d, %d): %s, %s eps %g, seed %llu, batch %d, ", what, d->name,
           o->split_name, first, first + d->N, o->attack, ti_norm_name(o->norm),
           (double)o->eps, (unsigned long long)o->seed, o->batch);
    if (app_procs_size() > 1)
        printf("%d processes x ", app_procs_size());
    printf("%d threads\n", ti_ctx_threads(ctx));
    fflush(stdout);
}

int attack_run(ti_ctx *ctx, const opts *o, const ti_eval_params *p, app_progress *pg)
{
    double t0 = ti_clock();
    ti_dataset *d = NULL;
    ti_eval *ev = NULL;
    ti_audit *a = NULL;
    app_net net = {0};
    int resumed = 0, found = 0, first, count;
    ti_status s = shard_range(ctx, o, &first, &count);
    if (s != TI_OK)
        return app_fail(ctx, s, "loading the data");
    if ((s = attack_open(ctx, o, first, count, &d, &net)) == TI_OK &&
        (s = ti_eval_new(ctx, p, first, d->N, &ev)) == TI_OK &&
        (s = attack_identity(ctx, o, net.file, ev)) == TI_OK)
        s = app_procs_resume(ctx, ev, o->resume, &found);
    for (int i = 0; ev && i < ev->N; i++)
        resumed += ev->samples[i].done;
    if (s == TI_OK && !o->quiet && app_procs_rank() == 0)
        print_start(ctx, o, &net, d, first, resumed, found);
    pg->scale = 1.0 / (ev ? ev->n_attacks : 1);
    if (s == TI_OK)
        s = app_procs_eval(ctx, ev, &net.f, d->x, d->y, o->resume, pg);
    if (s == TI_OK) /* every rank audits alike: none waits for rank 0 */
        s = attack_audit(ctx, o, ev, d, &net, &a);
    app_progress_clear(pg);
    if (s == TI_OK && app_procs_rank() == 0)
        s = attack_outputs(ctx, o, ev, a, &net, resumed, ti_clock() - t0);
    int rc = s == TI_OK ? APP_EXIT_OK : app_fail(ctx, s, "evaluation");
    ti_audit_free(a);
    ti_eval_free(ev);
    app_net_close(&net);
    ti_dataset_free(d);
    return rc;
}
