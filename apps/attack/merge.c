/* thinice-attack --merge: the state files of a run's shards (--shard K/N, each with its
 * --resume file) put back together. The command line is the shards' own without --shard and
 * --resume, so that the merge checks the shards against it (the weights' hash, the attack,
 * eps, seed, step counts, the sample range) before writing the CSV and JSON one process would
 * have written. The model and the samples are loaded only for the audit (--no-audit: not
 * at all). */
#include <stdio.h>
#include <stdlib.h>

#include "attack.h"

/* The merged shards must be this command line's run, over its samples. */
static ti_status check_run(ti_ctx *ctx, const opts *o, const ti_eval_params *p,
                           const ti_eval *merged)
{
    const char *file = ti_onnx_is_spec(o->model) ? ti_onnx_spec_path(o->model) : o->weights;
    ti_eval *want = NULL;
    ti_status s = ti_eval_new(ctx, p, o->offset, merged->N, &want);
    if (s == TI_OK && (s = attack_identity(ctx, o, file, want)) == TI_OK)
        s = ti_eval_same_run(ctx, want, merged);
    ti_eval_free(want);
    if (s != TI_OK) {
        char why[1500]; /* the message is rewritten from itself: copy it first */
        snprintf(why, sizeof why, "%s", ti_ctx_errmsg(ctx));
        return ti_ctx_error(ctx, s, "the shards are of another run than this command line's: "
                            "%s", why);
    }
    int end = merged->first + merged->N;
    if (merged->first != o->offset || (o->count && merged->N != o->count))
        return ti_ctx_error(ctx, TI_ERR_ARG, "the shards cover samples [%d, %d), but this run "
                            "is [%d, %d)", merged->first, end, o->offset,
                            o->count ? o->offset + o->count : end);
    return TI_OK;
}

int attack_merge(ti_ctx *ctx, const opts *o, const ti_eval_params *p)
{
    double t0 = ti_clock();
    ti_eval **shards = calloc((size_t)o->n_merge, sizeof *shards), *merged = NULL;
    if (!shards)
        return app_fail(ctx, TI_ERR_NOMEM, "merge");
    ti_status s = TI_OK;
    int bad = -1;
    for (int i = 0; i < o->n_merge && s == TI_OK; i++)
        if ((s = ti_eval_state_read(ctx, o->merge[i], &shards[i])) != TI_OK)
            bad = i;
    if (s == TI_OK)
        s = ti_eval_merge(ctx, shards, o->n_merge, &merged);
    if (s == TI_OK)
        s = check_run(ctx, o, p, merged);
    if (s == TI_OK && !o->quiet)
        printf("merged %d shards: samples [%d, %d)\n", o->n_merge, merged->first,
               merged->first + merged->N);
    ti_dataset *d = NULL;
    ti_audit *a = NULL;
    app_net net = {0};
    if (s == TI_OK && o->audit && (s = attack_open(ctx, o, merged->first, merged->N, &d,
                                                    &net)) == TI_OK)
        s = attack_audit(ctx, o, merged, d, &net, &a);
    if (s == TI_OK)
        s = attack_outputs(ctx, o, merged, a, o->audit ? &net : NULL, 0, ti_clock() - t0);
    ti_audit_free(a);
    app_net_close(&net);
    ti_dataset_free(d);
    int rc = s == TI_OK ? APP_EXIT_OK
                        : app_fail(ctx, s, bad >= 0 ? o->merge[bad] : "merging the shards");
    for (int i = 0; i < o->n_merge; i++)
        ti_eval_free(shards[i]);
    free(shards);
    ti_eval_free(merged);
    return rc;
}
