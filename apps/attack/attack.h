/* thinice-attack's parts: the options (main.c), one evaluation or one shard of it, on one
 * process or the ranks of an MPI job (run.c), shards merged (merge.c), and the outputs both
 * write (output.c). */
#ifndef THINICE_APP_ATTACK_H
#define THINICE_APP_ATTACK_H

#include "app_cli.h"
#include "app_model.h"
#include "thinice/audit.h"
#include "thinice/eval.h"

typedef struct opts {
    const char *model, *weights, *data, *attack, *csv, *json, *resume, *split_name;
    ti_split split;
    int offset, count, threads, batch, fmn_steps, pgd_steps, quiet, progress, eps_given;
    int shard, shards;    /* --shard K/N (shards 0: the whole run) */
    int audit;            /* 0 --no-audit, 1 the default audit, 2 --audit-full */
    ti_sparse_mode sparse;
    char **merge;         /* --merge: the shards' state files (n_merge of them) */
    int n_merge;
    ti_norm norm;
    float eps;
    uint64_t seed;
} opts;

/* The evaluation of the options' samples (or their shard): the exit code. */
int attack_run(ti_ctx *ctx, const opts *o, const ti_eval_params *p, app_progress *pg);
/* The shards' state files put back together into the CSV and JSON of one run. */
int attack_merge(ti_ctx *ctx, const opts *o, const ti_eval_params *p);

/* What ties a state file (and a shard) to this run: the model, the exact weights, the data. */
ti_status attack_identity(ti_ctx *ctx, const opts *o, const char *weights_file, ti_eval *ev);
/* The model and the samples [first, first + count) of the options' data, opened as the
 * evaluation needs them (with --sparse applied). */
ti_status attack_open(ti_ctx *ctx, const opts *o, int first, int count, ti_dataset **d,
                      app_net *net);
/* The audit of a finished evaluation (*a NULL with --no-audit). */
ti_status attack_audit(ti_ctx *ctx, const opts *o, const ti_eval *ev, const ti_dataset *d,
                       const app_net *net, ti_audit **a);
/* The results on stdout, then the CSV (-o) and the JSON (--json) if asked for; a (may be
 * NULL) adds the audit, net (may be NULL) the layers that ran sparse. */
ti_status attack_outputs(ti_ctx *ctx, const opts *o, const ti_eval *ev, const ti_audit *a,
                         const app_net *net, int resumed, double wall);

#endif
