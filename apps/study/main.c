/* thinice-study: the whole thin-ice study in one command. Dense adversarial training, pruning
 * by each method at each sparsity, AutoAttack on every model, FMN distances on the dense
 * model, the statistics, Tables 1-2, Figure 2 and report.md, each step cached in the output
 * directory so that a re-run skips what is done and a killed run resumes. Thin: options,
 * the order of the steps, printing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "config.h"
#include "report.h"
#include "steps.h"

/* The options; the overrides are applied over the configuration (negative / NULL: not
 * given). */
typedef struct opts {
    const char *config, *out, *data, *attack;
    int threads, quiet, progress, print_config;
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
           "Overrides of the configuration, for quick runs:\n"
           "  --data DIR          data directory\n"
           "  --seed N            random seed\n"
           "  --eps X             the threat model's radius (e.g. 0.1 or 8/255)\n"
           "  --attack NAME       AutoAttack version (standard, plus) or list of its attacks\n"
           "  --attack-count N    test samples AutoAttack evaluates\n"
           "  --test-count N      test samples of the study (FMN distances, statistics)\n"
           "  --fmn-steps N       FMN iterations\n"
           "  --threads N         threads, 0 = all cores (default 0)\n"
           "  --quiet             print nothing but errors\n"
           "  --no-progress       no progress on stderr\n"
           "  -h, --help          this text\n"
           "  --version           version\n\n"
           "Exit status: 0 success, 1 runtime failure, 2 bad usage (or a bad configuration).\n",
           app_prog);
}

enum { O_CONFIG = 256, O_DATA, O_THREADS, O_PRINT, O_QUIET, O_NOPROG, O_VERSION, O_SEED,
       O_EPS, O_ATTACK, O_ACOUNT, O_TCOUNT, O_FMN };

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
        {"fmn-steps", required_argument, 0, O_FMN},
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
    return app_parse_done(bad, argc, argv);
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
    if (study_config_check(ctx, c) != TI_OK)
        return app_usage_error("configuration%s%s: %s", o->config ? " " : "",
                               o->config ? o->config : "", ti_ctx_errmsg(ctx));
    return -1;
}

/* The models of one network: dense first, then every (method, sparsity). */
typedef struct net_run {
    study_model dense;
    study_model pruned[SC_MAX_LIST * SC_MAX_LIST];
    study_samples dense_s, pruned_s[SC_MAX_LIST * SC_MAX_LIST];
    int np;
} net_run;

static ti_status run_network(study *st, const char *network, net_run *r)
{
    const study_config *c = st->cfg;
    ti_status s = study_step_dense(st, network, &r->dense);
    for (int m = 0; m < c->nmethod && s == TI_OK; m++)
        for (int q = 0; q < c->nsparsity && s == TI_OK; q++)
            s = study_step_prune(st, &r->dense, c->methods[m], c->sparsities[q],
                                 &r->pruned[r->np++]);
    if (s == TI_OK)
        s = study_step_autoattack(st, &r->dense);
    for (int i = 0; i < r->np && s == TI_OK; i++)
        s = study_step_autoattack(st, &r->pruned[i]);
    if (s == TI_OK)
        s = study_step_samples(st, &r->dense, 1, &r->dense_s);
    for (int i = 0; i < r->np && s == TI_OK; i++)
        s = study_step_samples(st, &r->pruned[i], 0, &r->pruned_s[i]);
    return s;
}

static int run(ti_ctx *ctx, const opts *o, const study_config *cfg)
{
    ti_status s;
    app_progress prog;
    app_logger lg = {o->quiet, &prog};
    app_progress_install(ctx, &prog, o->progress && !o->quiet, 1, "img");
    ti_ctx_set_log(ctx, app_logger_cb, &lg);
    study st = {.ctx = ctx, .cfg = cfg, .out = o->out, .progress = &prog, .quiet = o->quiet};
    /* steps per network: dense, pruning, AutoAttack on each model, FMN */
    int per_net = 1 + cfg->nmethod * cfg->nsparsity;
    st.nsteps = cfg->nnet * (2 * per_net + 1);
    double t0 = ti_clock();
    net_run *runs = calloc((size_t)cfg->nnet, sizeof *runs);
    study_entry *entries = calloc((size_t)cfg->nnet * per_net, sizeof *entries);
    study_model *dense = calloc((size_t)cfg->nnet, sizeof *dense);
    s = runs && entries && dense ? study_open(&st) : ti_ctx_error(ctx, TI_ERR_NOMEM, "out of memory");
    int ne = 0;
    for (int k = 0; k < cfg->nnet && s == TI_OK; k++) {
        s = run_network(&st, cfg->networks[k], &runs[k]);
        dense[k] = runs[k].dense;
        for (int i = 0; i < runs[k].np && s == TI_OK; i++)
            entries[ne++] = (study_entry){&runs[k].dense, &runs[k].pruned[i],
                                          &runs[k].dense_s, &runs[k].pruned_s[i]};
    }
    char *cj = s == TI_OK ? study_config_json(cfg) : NULL;
    if (s == TI_OK)
        s = study_write_report(&st, dense, cfg->nnet, entries, ne, cj ? cj : "{}");
    app_progress_clear(&prog);
    int rc = APP_EXIT_OK;
    if (s != TI_OK)
        rc = app_fail(ctx, s, "study");
    else if (!o->quiet)
        printf("study done in %.0f s (%.0f s of computing in this run): %s/report.md\n",
               ti_clock() - t0, st.seconds, o->out);
    for (int k = 0; runs && k < cfg->nnet; k++) {
        study_samples_free(&runs[k].dense_s);
        for (int i = 0; i < runs[k].np; i++)
            study_samples_free(&runs[k].pruned_s[i]);
    }
    free(cj);
    free(runs);
    free(entries);
    free(dense);
    study_close(&st);
    return rc;
}

int main(int argc, char **argv)
{
    app_init(argv[0]);
    opts o = {.out = "thinice-study", .progress = 1, .eps = -1};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    ti_ctx *ctx = ti_ctx_new(0, o.threads);
    if (!ctx)
        return app_fail(NULL, TI_ERR_NOMEM, "context");
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
    return rc;
}
