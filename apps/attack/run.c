/* thinice-attack's evaluation: the data (or its shard), the model, the harness run over
 * this process or the ranks of an MPI job (app_procs.h), then rank 0's outputs. */
#include <stdio.h>

#include "app_procs.h"
#include "attack.h"

/* The samples of this run: the options' range, or shard K of N of it. */
static ti_status load_samples(ti_ctx *ctx, const opts *o, ti_dataset **out, int *first)
{
    ti_dataset *d = NULL;
    *out = NULL;
    *first = o->offset;
    ti_status s = ti_data_load_range(ctx, o->data, o->split, o->offset, o->count, &d);
    if (s != TI_OK || o->shards == 0) {
        *out = d;
        return s;
    }
    int count;
    ti_eval_shard_range(o->offset, d->N, o->batch, o->shard, o->shards, first, &count);
    if (count == 0)
        s = ti_ctx_error(ctx, TI_ERR_ARG, "--shard %d/%d: %d samples are %d batches of %d, too "
                         "few for %d shards (shards are made of whole batches); use fewer "
                         "shards or a smaller --batch-size", o->shard, o->shards, d->N,
                         (d->N + o->batch - 1) / o->batch, o->batch, o->shards);
    else
        s = ti_dataset_slice(ctx, d, *first - o->offset, count, out);
    ti_dataset_free(d);
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
    app_net net = {0};
    int resumed = 0, found = 0, first;
    ti_status s = load_samples(ctx, o, &d, &first);
    if (s != TI_OK)
        return app_fail(ctx, s, "loading the data");
    if ((s = app_net_open(ctx, o->model, o->weights, d, o->batch, &net)) == TI_OK &&
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
    app_progress_clear(pg);
    if (s == TI_OK && app_procs_rank() == 0)
        s = attack_outputs(ctx, o, ev, resumed, ti_clock() - t0);
    int rc = s == TI_OK ? APP_EXIT_OK : app_fail(ctx, s, "evaluation");
    ti_eval_free(ev);
    app_net_close(&net);
    ti_dataset_free(d);
    return rc;
}
