/* thinice-study: the whole thin-ice study in one command, on models it trains (dense
 * adversarial training, pruning by each method at each sparsity) or on the user's own dense
 * and pruned models; AutoAttack and FMN distances on every model, the statistics, Tables 1-2,
 * Figure 2, the security curves and report.md, each step cached in the output directory so
 * that a re-run skips what is done and a killed run resumes. Thin: options, the order of the
 * steps, printing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "app_procs.h"
#include "config.h"
#include "report.h"
#include "steps.h"

/* The options; the overrides are applied over the configuration (negative / NULL: not
 * given). */
typedef struct opts {
    const char *config, *out, *data, *attack;
    const char *dense, *model, *pruned[SC_MAX_PRUNED]; /* the user's models */
    int npruned;
    int threads, quiet, progress, print_config, models_only, shard, shards;
    ti_sparse_mode sparse;
    int test_count, attack_count, fmn_steps, seed_given;
    float eps;
    uint64_t seed;
} opts;

static void usage(void)
{
    printf("Usage: %s [OPTION]...\n"
           "Run the thin-ice study: adversarially train a dense model, prune it with each\n"
           "method at each sparsity, evaluate every model with AutoAttack, measure each test\n"
           "sample's distance to the dense decision boundary with FMN, and write Tables 1-2,\n"
           "Figure 2 and report.md. Finished steps are cached in the output directory.\n\n"
           "  --config FILE       the study's configuration (JSON; default: the built-in\n"
           "                      default, the same as configs/default.json)\n"
           "  -o, --output DIR    output directory (default thinice-study)\n"
           "  --print-config      print the configuration that would run (JSON) and exit\n"
           "Your own models instead of training them (docs/app-study.md#your-own-models):\n"
           "  --dense FILE        the dense model: a safetensors checkpoint (of --model's\n"
           "                      architecture) or an ONNX file\n"
           "  --model ARCH        the architecture of the safetensors files (smallcnn,\n"
           "                      vgg16_bn, vgg16_admm, resnet18, resnet34, wrn_28_4, ...)\n"
           "  --pruned M:S:FILE   a pruned version of it: method, sparsity and file, e.g.\n"
           "                      hydra:0.9:resnet18_hydra90.safetensors (repeatable)\n"
           "Overrides of the configuration, for quick runs:\n"
           "  --data DIR          data directory\n"
           "  --seed N            random seed\n"
           "  --eps X             the threat model's radius (e.g. 0.1 or 8/255)\n"
           "  --attack NAME       AutoAttack version (standard, plus) or list of its attacks\n"
           "  --attack-count N    test samples AutoAttack evaluates\n"
           "  --test-count N      test samples of the study (FMN distances, statistics)\n"
           "  --fmn-steps N       FMN iterations\n"
           "  --threads N         threads, 0 = all cores (default 0)\n"
           "  --sparse MODE       auto (default), on or off: pruned layers evaluated as\n"
           "                      sparse products (results agree to rounding)\n"
           "Spread over machines (docs/distributed.md; under mpirun the MPI build shares\n"
           "every step among the ranks):\n"
           "  --models-only       the model steps (training, pruning, checks), then stop\n"
           "  --shard K/N         the evaluation steps' shard K (0 .. N-1) of N, recording\n"
           "                      nothing else; the models must exist (--models-only). The\n"
           "                      study run without --shard then merges the shards\n"
           "  --quiet             print nothing but errors\n"
           "  --no-progress       no progress on stderr\n"
           "  -h, --help          this text\n"
           "  --version           version\n\n"
           "Exit status: 0 success, 1 runtime failure, 2 bad usage (or a bad configuration).\n",
           app_prog);
}

enum { O_CONFIG = 256, O_DATA, O_THREADS, O_PRINT, O_QUIET, O_NOPROG, O_VERSION, O_SEED,
       O_EPS, O_ATTACK, O_ACOUNT, O_TCOUNT, O_FMN, O_DENSE, O_MODEL, O_PRUNED, O_MODELS_ONLY,
       O_SHARD, O_SPARSE };

static int parse_one(int c, opts *o)
{
    switch (c) {
    case O_CONFIG: o->config = optarg; return 0;
    case 'o': o->out = optarg; return 0;
    case O_DATA: o->data = optarg; return 0;
    case O_THREADS: return app_parse_int("--threads", optarg, 0, 1024, &o->threads);
    case O_PRINT: o->print_config = 1; return 0;
    case O_QUIET: o->quiet = 1; return 0;
    case O_NOPROG: o->progress = 0; return 0;
    case O_SEED: o->seed_given = 1; return app_parse_u64("--seed", optarg, &o->seed);
    case O_EPS: return app_parse_fraction("--eps", optarg, 1, &o->eps);
    case O_ATTACK: o->attack = optarg; return 0;
    case O_ACOUNT: return app_parse_int("--attack-count", optarg, 1, 1 << 30, &o->attack_count);
    case O_TCOUNT: return app_parse_int("--test-count", optarg, 1, 1 << 30, &o->test_count);
    case O_FMN: return app_parse_int("--fmn-steps", optarg, 1, 1000000, &o->fmn_steps);
    case O_MODELS_ONLY: o->models_only = 1; return 0;
    case O_SPARSE: return app_parse_sparse(optarg, &o->sparse);
    case O_SHARD: return app_parse_shard(optarg, &o->shard, &o->shards);
    case O_DENSE: o->dense = optarg; return 0;
    case O_MODEL: o->model = optarg; return 0;
    case O_PRUNED:
        if (o->npruned < SC_MAX_PRUNED) {
            o->pruned[o->npruned++] = optarg;
            return 0;
        }
        app_error("--pruned: at most %d pruned models", SC_MAX_PRUNED);
        return -1;
    }
    return -1;
}

static int parse(int argc, char **argv, opts *o)
{
    static const struct option lo[] = {
        {"config", required_argument, 0, O_CONFIG}, {"output", required_argument, 0, 'o'},
        {"data", required_argument, 0, O_DATA},     {"threads", required_argument, 0, O_THREADS},
        {"print-config", no_argument, 0, O_PRINT},  {"quiet", no_argument, 0, O_QUIET},
        {"no-progress", no_argument, 0, O_NOPROG},  {"seed", required_argument, 0, O_SEED},
        {"eps", required_argument, 0, O_EPS},       {"attack", required_argument, 0, O_ATTACK},
        {"attack-count", required_argument, 0, O_ACOUNT},
        {"test-count", required_argument, 0, O_TCOUNT},
        {"fmn-steps", required_argument, 0, O_FMN}, {"dense", required_argument, 0, O_DENSE},
        {"model", required_argument, 0, O_MODEL}, {"pruned", required_argument, 0, O_PRUNED},
        {"models-only", no_argument, 0, O_MODELS_ONLY}, {"shard", required_argument, 0, O_SHARD},
        {"sparse", required_argument, 0, O_SPARSE},
        {"help", no_argument, 0, 'h'},              {"version", no_argument, 0, O_VERSION},
        {0, 0, 0, 0}};
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
    int rc = app_parse_done(bad, argc, argv);
    if (rc < 0 && !o->dense && (o->npruned || o->model))
        return app_usage_error("--pruned and --model go with --dense (your own models)");
    if (rc < 0 && o->dense && !o->npruned)
        return app_usage_error("--dense needs at least one --pruned METHOD:SPARSITY:FILE");
    if (rc < 0 && o->models_only && o->shards)
        return app_usage_error("--models-only and --shard: run the model steps first, then the "
                               "shards");
    return rc;
}

/* The configuration: the defaults, the file, the command line's overrides, then the check of
 * the whole (a bad configuration is a usage error, before any work). */
static int load_config(ti_ctx *ctx, const opts *o, study_config *c)
{
    study_config_default(c);
    if (o->config && study_config_load(ctx, o->config, c) != TI_OK)
        return app_usage_error("--config %s: %s", o->config, ti_ctx_errmsg(ctx));
    if (o->data)
        snprintf(c->data, sizeof c->data, "%s", o->data);
    if (o->attack)
        snprintf(c->attack.version, sizeof c->attack.version, "%s", o->attack);
    c->seed = o->seed_given ? o->seed : c->seed;
    c->eps = o->eps >= 0 ? o->eps : c->eps;
    c->attack.count = o->attack_count > 0 ? o->attack_count : c->attack.count;
    c->test_count = o->test_count > 0 ? o->test_count : c->test_count;
    c->fmn.steps = o->fmn_steps > 0 ? o->fmn_steps : c->fmn.steps;
    if (o->dense &&
        study_config_set_external(ctx, c, o->dense, o->model, o->pruned, o->npruned) != TI_OK)
        return app_usage_error("%s", ti_ctx_errmsg(ctx));
    if (study_config_check(ctx, c) != TI_OK)
        return app_usage_error("configuration%s%s: %s", o->config ? " " : "",
                               o->config ? o->config : "", ti_ctx_errmsg(ctx));
    return -1;
}

/* A network's steps: its models (trained, or the user's checked and evaluated), AutoAttack
 * on each, then each one's predictions and FMN distances (all test samples for the dense
 * model, the Table 2 study; the security curves' count for the pruned ones). */
static ti_status run_network(study *st, study_net *net, study_net_samples *smp)
{
    int ext = net->dense.external, nfmn = st->cfg->curves.count;
    ti_status s = ext ? study_step_external(st, &net->dense) : study_step_dense(st, &net->dense);
    for (int i = 0; i < net->np && s == TI_OK; i++)
        s = ext ? study_step_external(st, &net->pruned[i])
                : study_step_prune(st, &net->dense, &net->pruned[i]);
    if (s != TI_OK || st->models_only)
        return s;
    if (s == TI_OK)
        s = study_step_autoattack(st, &net->dense);
    for (int i = 0; i < net->np && s == TI_OK; i++)
        s = study_step_autoattack(st, &net->pruned[i]);
    if (s == TI_OK)
        s = study_step_samples(st, &net->dense, st->test->N, &smp->dense);
    for (int i = 0; i < net->np && s == TI_OK; i++)
        s = study_step_samples(st, &net->pruned[i], nfmn, &smp->pruned[i]);
    return s;
}

static ti_status run_study(study *st, study_net *nets, study_net_samples *smp, int *n)
{
    ti_status s = study_open(st);
    if (s == TI_OK)
        study_plan(st, nets, n);
    for (int k = 0; s == TI_OK && k < *n; k++)
        st->nsteps += study_plan_steps(&nets[k]);
    if (s == TI_OK && st->cfg->nexternal) /* every model opens before any work */
        s = study_check_external(st, nets, *n);
    for (int k = 0; k < *n && s == TI_OK; k++)
        s = run_network(st, &nets[k], &smp[k]);
    if (st->models_only || st->shards) /* no results to report yet */
        return s;
    char *cj = s == TI_OK ? study_config_json(st->cfg) : NULL;
    if (s == TI_OK)
        s = study_write_report(st, nets, smp, *n, cj ? cj : "{}");
    free(cj);
    return s;
}

static int run(ti_ctx *ctx, const opts *o, const study_config *cfg)
{
    app_progress prog;
    app_logger lg = {o->quiet, &prog};
    app_progress_install(ctx, &prog, o->progress && !o->quiet, 1, "img");
    ti_ctx_set_log(ctx, app_logger_cb, &lg);
    study st = {.ctx = ctx, .cfg = cfg, .out = o->out, .progress = &prog, .quiet = o->quiet,
                .models_only = o->models_only, .shard = o->shard, .shards = o->shards,
                .sparse = o->sparse};
    double t0 = ti_clock();
    study_net *nets = calloc(SC_MAX_LIST, sizeof *nets);
    study_net_samples *smp = calloc(SC_MAX_LIST, sizeof *smp);
    int n = 0;
    ti_status s = nets && smp ? run_study(&st, nets, smp, &n)
                              : ti_ctx_error(ctx, TI_ERR_NOMEM, "out of memory");
    app_progress_clear(&prog);
    int rc = APP_EXIT_OK;
    if (s != TI_OK)
        rc = app_fail(ctx, s, "study");
    else if (!o->quiet && (o->models_only || o->shards))
        printf("%s done in %.0f s; run the study without %s to %s\n",
               o->shards ? "shard" : "model steps", ti_clock() - t0,
               o->shards ? "--shard" : "--models-only",
               o->shards ? "merge the shards and report" : "evaluate");
    else if (!o->quiet)
        printf("study done in %.0f s (%.0f s of computing in this run): %s/report.md\n",
               ti_clock() - t0, st.seconds, o->out);
    for (int k = 0; smp && k < n; k++) {
        study_samples_free(&smp[k].dense);
        for (int i = 0; i < nets[k].np; i++)
            study_samples_free(&smp[k].pruned[i]);
    }
    free(nets);
    free(smp);
    study_close(&st);
    return rc;
}

int main(int argc, char **argv)
{
    app_procs_init(&argc, &argv);
    app_init(argv[0]);
    opts o = {.out = "thinice-study", .progress = 1, .eps = -1};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return app_procs_exit(rc);
    if (app_procs_rank() != 0) /* rank 0 speaks for the job; errors always pass */
        o.quiet = 1, o.progress = 0;
    ti_ctx *ctx = ti_ctx_new(0, app_procs_threads(o.threads));
    if (!ctx)
        return app_procs_exit(app_fail(NULL, TI_ERR_NOMEM, "context"));
    study_config cfg;
    rc = load_config(ctx, &o, &cfg);
    if (rc < 0 && o.print_config) {
        char *j = study_config_json(&cfg);
        rc = j ? (printf("%s\n", j), APP_EXIT_OK) : app_fail(NULL, TI_ERR_NOMEM, "configuration");
        free(j);
    }
    if (rc < 0 && app_check_output_dir(ctx, "--output", o.out))
        rc = APP_EXIT_FAIL;
    if (rc < 0)
        rc = run(ctx, &o, &cfg);
    ti_ctx_free(ctx);
    return app_procs_exit(rc);
}
