/* thinice-attack: evaluates a checkpoint or an imported ONNX model on samples [offset,
 * offset + count) of a data set with AutoAttack (standard, plus, a list of its attacks), PGD,
 * FGSM or FMN, through the library's evaluation harness (libattack eval.h): clean and robust
 * accuracy on stdout, a per-sample CSV, a JSON summary, a resumable state file; over the
 * ranks of an MPI job, as shards of a job array, and shards merged. This file: the options. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_procs.h"
#include "attack.h"

static void usage(void)
{
    printf("Usage: %s --weights FILE --eps X [OPTION]...\n"
           "       %s --model onnx:FILE --eps X [OPTION]...\n"
           "       %s [the shards' options] --merge STATE... (without --shard, --resume)\n"
           "Evaluate a model under attack: clean accuracy, robust accuracy after each\n"
           "attack, a per-sample CSV and a JSON summary; resumable.\n\n"
           "  --model NAME          architecture (default smallcnn; %s), or an ONNX\n"
           "                        model: onnx:FILE or a file name ending in .onnx\n"
           "  --weights FILE        the checkpoint (safetensors; not with an ONNX model)\n"
           "  --data PATH           data directory (default %s)\n"
           "  --test-split, --train-split  which split (default test)\n"
           "  --offset N            first sample (default 0)\n"
           "  --count N             samples (default: all from the offset)\n"
           "  --attack NAME         standard (default), plus, one of apgd-ce, apgd-dlr,\n"
           "                        apgd-t, fab, fab-t, square, pgd, fgsm, fmn, or a\n"
           "                        comma-separated list of the AutoAttack ones\n"
           "  --norm linf|l2|l1|l0  threat model (default linf; AutoAttack, PGD and FGSM:\n"
           "                        linf or l2; lists of the APGD attacks also l1; FMN: all)\n"
           "  --eps X               radius, e.g. 0.1 or 8/255 (required, except for fmn where\n"
           "                        it only sets the success radius); 0 runs no attack\n"
           "  --seed N              random seed (default 0)\n"
           "  --threads N           threads, 0 = all cores (default 0)\n"
           "  --batch-size N        samples per batch (default 250); results do not depend\n"
           "                        on it\n"
           "  --fmn-steps N         FMN iterations (default 1000, as the paper's study)\n"
           "  --pgd-steps N         PGD iterations, step eps/4 (default 20)\n"
           "  --sparse MODE         auto (default): a pruned model's sparse enough layers run\n"
           "                        as sparse products; on: all of them; off: none\n"
           "  --no-audit            skip the audit of the evaluation (AutoAttack's checks and\n"
           "                        the indicators of attack failure; docs/audit.md)\n"
           "  --audit-full          the audit with its costly indicators too (unstable\n"
           "                        predictions, unconstrained attack)\n"
           "  -o, --output FILE     per-sample results as CSV (- for standard output); --csv\n"
           "                        FILE is the same\n"
           "  --json FILE           JSON summary (- for standard output)\n"
           "  --resume FILE         state file: continue a run interrupted with the same\n"
           "                        settings; written after every batch (an MPI rank k\n"
           "                        writes FILE.rank<k>; the whole run's goes to FILE)\n"
           "  --shard K/N           evaluate only shard K (0 .. N-1) of N contiguous shards\n"
           "                        of the samples, e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_\n"
           "                        TASK_COUNT; its records go to the --resume file\n"
           "  --merge STATE...      merge the shards' state files into the CSV and JSON of\n"
           "                        the whole run, checked against the other options\n"
           "  --quiet               print only the final robust accuracy and errors\n"
           "  --no-progress         no progress on stderr (on a terminal a live line, in a\n"
           "                        pipe or file a line every 30 s)\n"
           "  -h, --help            this text\n"
           "  --version             version\n\n"
           "Under mpirun (the MPI build, make MPI=1) the ranks share the samples in small\n"
           "chunks; rank 0 prints and writes the outputs, the same bytes as one process.\n\n"
           "Exit status: 0 success, 1 runtime failure (files, data, model), 2 bad usage.\n",
           app_prog, app_prog, app_prog, app_model_names(), TI_DATA_DEFAULT_DIR);
}

enum { O_MODEL = 256, O_WEIGHTS, O_DATA, O_TEST, O_TRAIN, O_OFFSET, O_COUNT, O_ATTACK, O_NORM,
       O_EPS, O_SEED, O_THREADS, O_BATCH, O_FMN_STEPS, O_PGD_STEPS, O_JSON, O_RESUME, O_QUIET,
       O_NOPROG, O_VERSION, O_SHARD, O_MERGE, O_NO_AUDIT, O_AUDIT_FULL, O_SPARSE };

static int parse_one(int c, opts *o)
{
    switch (c) {
    case O_MODEL: o->model = optarg; return 0;
    case O_WEIGHTS: o->weights = optarg; return 0;
    case O_DATA: o->data = optarg; return 0;
    case O_TEST: o->split = TI_SPLIT_TEST; o->split_name = "test"; return 0;
    case O_TRAIN: o->split = TI_SPLIT_TRAIN; o->split_name = "train"; return 0;
    case O_OFFSET: return app_parse_int("--offset", optarg, 0, 1 << 30, &o->offset);
    case O_COUNT: return app_parse_int("--count", optarg, 1, 1 << 30, &o->count);
    case O_ATTACK: o->attack = optarg; return 0;
    case O_NORM:
        if (ti_norm_parse(optarg, &o->norm) == TI_OK)
            return 0;
        app_error("--norm: '%s' is not linf, l2, l1 or l0", optarg);
        return -1;
    case O_EPS: o->eps_given = 1; return app_parse_fraction("--eps", optarg, 1e6, &o->eps);
    case O_SEED: return app_parse_u64("--seed", optarg, &o->seed);
    case O_THREADS: return app_parse_int("--threads", optarg, 0, 1024, &o->threads);
    case O_BATCH: return app_parse_int("--batch-size", optarg, 1, 65536, &o->batch);
    case O_FMN_STEPS: return app_parse_int("--fmn-steps", optarg, 1, 1000000, &o->fmn_steps);
    case O_PGD_STEPS: return app_parse_int("--pgd-steps", optarg, 1, 1000000, &o->pgd_steps);
    case 'o': o->csv = optarg; return 0;
    case O_JSON: o->json = optarg; return 0;
    case O_RESUME: o->resume = optarg; return 0;
    case O_SHARD: return app_parse_shard(optarg, &o->shard, &o->shards);
    case O_MERGE: o->n_merge = -1; return 0;
    case O_NO_AUDIT: o->audit = 0; return 0;
    case O_AUDIT_FULL: o->audit = 2; return 0;
    case O_SPARSE: return app_parse_sparse(optarg, &o->sparse);
    case O_QUIET: o->quiet = 1; return 0;
    case O_NOPROG: o->progress = 0; return 0;
    }
    return -1;
}

/* Returns -1 to go on, else the exit code. */
static int parse(int argc, char **argv, opts *o)
{
    static const struct option lo[] = {
        {"model", required_argument, 0, O_MODEL}, {"weights", required_argument, 0, O_WEIGHTS},
        {"data", required_argument, 0, O_DATA}, {"test-split", no_argument, 0, O_TEST},
        {"train-split", no_argument, 0, O_TRAIN}, {"offset", required_argument, 0, O_OFFSET},
        {"count", required_argument, 0, O_COUNT}, {"attack", required_argument, 0, O_ATTACK},
        {"norm", required_argument, 0, O_NORM}, {"eps", required_argument, 0, O_EPS},
        {"seed", required_argument, 0, O_SEED}, {"threads", required_argument, 0, O_THREADS},
        {"batch-size", required_argument, 0, O_BATCH},
        {"fmn-steps", required_argument, 0, O_FMN_STEPS},
        {"pgd-steps", required_argument, 0, O_PGD_STEPS}, {"output", required_argument, 0, 'o'},
        {"csv", required_argument, 0, 'o'},
        {"json", required_argument, 0, O_JSON}, {"resume", required_argument, 0, O_RESUME},
        {"quiet", no_argument, 0, O_QUIET}, {"no-progress", no_argument, 0, O_NOPROG},
        {"shard", required_argument, 0, O_SHARD}, {"merge", no_argument, 0, O_MERGE},
        {"no-audit", no_argument, 0, O_NO_AUDIT}, {"audit-full", no_argument, 0, O_AUDIT_FULL},
        {"sparse", required_argument, 0, O_SPARSE},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    opterr = 0;
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, ":ho:", lo, NULL)) != -1) {
        if (c == 'h')
            return usage(), APP_EXIT_OK;
        if (c == O_VERSION)
            return app_print_version(), APP_EXIT_OK;
        if (c == ':' || c == '?')
            return app_getopt_error(c, argv);
        bad |= parse_one(c, o) != 0;
    }
    if (o->n_merge) { /* --merge: the arguments left are its files */
        o->merge = argv + optind;
        o->n_merge = argc - optind;
        optind = argc;
    }
    int rc = app_parse_done(bad, argc, argv);
    if (rc >= 0)
        return rc;
    if (o->n_merge == 0 && o->merge)
        return app_usage_error("--merge needs the shards' state files");
    if (o->merge && (o->shards || o->resume))
        return app_usage_error("--merge reads the shards' state files: give it neither --shard "
                               "nor --resume");
    if (o->shards && !o->resume)
        return app_usage_error("--shard %d/%d: give --resume FILE, the shard's records that "
                               "--merge reads", o->shard, o->shards);
    if (ti_onnx_is_spec(o->model)) {
        if (o->weights)
            return app_usage_error("--weights: an ONNX model (%s) carries its weights; give "
                                   "--model onnx:FILE alone", o->model);
        if (!ti_onnx_spec_path(o->model)[0])
            return app_usage_error("--model onnx: needs a file name (onnx:FILE)");
    } else if (!app_model_known(o->model)) {
        return app_usage_error("--model: unknown architecture '%s' (one of %s, or onnx:FILE)",
                               o->model, app_model_names());
    } else if (!o->weights) {
        return app_usage_error("--weights FILE is required (a safetensors checkpoint)");
    }
    if (strcmp(o->attack, "fmn") != 0 && !o->eps_given)
        return app_usage_error("--eps is required for --attack %s (e.g. 0.1 for Fashion-MNIST, "
                               "8/255 for CIFAR-10)", o->attack);
    if (!strcmp(o->attack, "fmn") && !o->eps_given)
        o->eps = INFINITY;
    return -1;
}

/* The evaluation's parameters from the options; a usage error (exit 2) if they do not fit. */
static int make_params(ti_ctx *ctx, const opts *o, ti_eval_params *p)
{
    if (ti_eval_params_init(ctx, o->attack, o->norm, o->eps, p) != TI_OK)
        return app_usage_error("--attack %s --norm %s: %s", o->attack, ti_norm_name(o->norm),
                               ti_ctx_errmsg(ctx));
    p->seed = o->seed;
    p->batch_size = o->batch;
    p->pgd.steps = p->kind == TI_EVAL_PGD ? o->pgd_steps : p->pgd.steps;
    p->fmn.steps = o->fmn_steps;
    return -1;
}

int main(int argc, char **argv)
{
    app_procs_init(&argc, &argv);
    app_init(argv[0]);
    opts o = {.model = "smallcnn", .data = TI_DATA_DEFAULT_DIR, .attack = "standard",
              .split = TI_SPLIT_TEST, .split_name = "test", .batch = 250, .fmn_steps = 1000,
              .pgd_steps = 20, .progress = 1, .norm = TI_NORM_LINF, .audit = 1};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return app_procs_exit(rc);
    if (app_procs_rank() != 0) /* rank 0 speaks for the job; errors always pass */
        o.quiet = 1, o.progress = 0;
    ti_ctx *ctx = ti_ctx_new(o.seed, app_procs_threads(o.threads));
    if (!ctx)
        return app_procs_exit(app_fail(NULL, TI_ERR_NOMEM, "context"));
    ti_eval_params p;
    app_progress pg;
    app_logger lg = {o.quiet, &pg};
    ti_ctx_set_log(ctx, app_logger_cb, &lg);
    app_progress_install(ctx, &pg, o.progress && !o.quiet, 1, "img");
    rc = make_params(ctx, &o, &p);
    if (rc < 0 && (app_check_output(ctx, "--output", o.csv) || app_check_output(ctx, "--json", o.json) ||
                   app_check_output(ctx, "--resume", o.resume)))
        rc = APP_EXIT_FAIL;
    if (rc < 0)
        rc = o.merge ? attack_merge(ctx, &o, &p) : attack_run(ctx, &o, &p, &pg);
    ti_ctx_free(ctx);
    return app_procs_exit(rc);
}
