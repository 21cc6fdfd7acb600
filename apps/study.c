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
#include "study_config.h"
#include "study_report.h"
#include "study_steps.h"

typedef struct opts {
    const char *config, *out, *data;
    int threads, quiet, progress, print_config;
} opts;

static void usage(void)
{
    printf("Usage: %s [OPTION]...\n"
           "Run the thin-ice study: adversarially train a dense model, prune it with each\n"
           "method at each sparsity, evaluate every model with AutoAttack, measure each test\n"
           "sample's distance to the dense decision boundary with FMN, and write Tables 1-2,\n"
           "Figure 2 and report.md. Finished steps are cached in the output directory.\n\n"
           "  --config FILE     the study's configuration (JSON; default: the built-in default,\n"
           "                    the same as configs/default.json)\n"
           "  -o, --output DIR  output directory (default thinice-study)\n"
           "  --data DIR        data directory (overrides the configuration's)\n"
           "  --threads N       threads, 0 = all cores (default 0)\n"
           "  --print-config    print the configuration that would run (JSON) and exit\n"
           "  --quiet           print nothing but errors\n"
           "  --no-progress     no progress line on stderr\n"
           "  --help            this text\n"
           "  --version         version\n\n"
           "Exit status: 0 success, 1 runtime failure, 2 bad usage.\n",
           app_prog);
}

enum { O_CONFIG = 256, O_DATA, O_THREADS, O_PRINT, O_QUIET, O_NOPROG, O_HELP, O_VERSION };

static int parse(int argc, char **argv, opts *o)
{
    static const struct option lo[] = {
        {"config", required_argument, 0, O_CONFIG}, {"output", required_argument, 0, 'o'},
        {"data", required_argument, 0, O_DATA},     {"threads", required_argument, 0, O_THREADS},
        {"print-config", no_argument, 0, O_PRINT},  {"quiet", no_argument, 0, O_QUIET},
        {"no-progress", no_argument, 0, O_NOPROG},
        {"help", no_argument, 0, O_HELP},           {"version", no_argument, 0, O_VERSION},
        {0, 0, 0, 0}};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":o:", lo, NULL)) != -1) {
        switch (c) {
        case O_CONFIG: o->config = optarg; break;
        case 'o': o->out = optarg; break;
        case O_DATA: o->data = optarg; break;
        case O_THREADS:
            if (app_parse_int("--threads", optarg, 0, 1024, &o->threads) != 0)
                return APP_EXIT_USAGE;
            break;
        case O_PRINT: o->print_config = 1; break;
        case O_QUIET: o->quiet = 1; break;
        case O_NOPROG: o->progress = 0; break;
        case O_HELP: usage(); return APP_EXIT_OK;
        case O_VERSION: app_print_version(); return APP_EXIT_OK;
        default: return app_getopt_error(c, argv);
        }
    }
    return app_parse_done(0, argc, argv);
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

static int run(const opts *o)
{
    ti_ctx *ctx = ti_ctx_new(0, o->threads);
    if (!ctx)
        return app_fail(NULL, TI_ERR_NOMEM, "context");
    study_config cfg;
    study_config_default(&cfg);
    ti_status s = o->config ? study_config_load(ctx, o->config, &cfg) : TI_OK;
    if (s != TI_OK) {
        int rc = app_fail(ctx, s, "configuration");
        ti_ctx_free(ctx);
        return rc;
    }
    if (o->data)
        snprintf(cfg.data, sizeof cfg.data, "%s", o->data);
    if (o->print_config) {
        char *j = study_config_json(&cfg);
        if (j)
            printf("%s\n", j);
        free(j);
        ti_ctx_free(ctx);
        return j ? APP_EXIT_OK : app_fail(NULL, TI_ERR_NOMEM, "configuration");
    }
    app_progress prog;
    app_progress_install(ctx, &prog, o->progress && !o->quiet, 1, "");
    if (!o->quiet)
        ti_ctx_set_log(ctx, app_log, NULL);
    study st = {.ctx = ctx, .cfg = &cfg, .out = o->out, .progress = &prog, .quiet = o->quiet};
    /* steps per network: dense, pruning, AutoAttack on each model, FMN */
    int per_net = 1 + cfg.nmethod * cfg.nsparsity;
    st.nsteps = cfg.nnet * (2 * per_net + 1);
    double t0 = app_now();
    net_run *runs = calloc((size_t)cfg.nnet, sizeof *runs);
    study_entry *entries = calloc((size_t)cfg.nnet * per_net, sizeof *entries);
    study_model *dense = calloc((size_t)cfg.nnet, sizeof *dense);
    s = runs && entries && dense ? study_open(&st) : ti_ctx_error(ctx, TI_ERR_NOMEM, "out of memory");
    int ne = 0;
    for (int k = 0; k < cfg.nnet && s == TI_OK; k++) {
        s = run_network(&st, cfg.networks[k], &runs[k]);
        dense[k] = runs[k].dense;
        for (int i = 0; i < runs[k].np && s == TI_OK; i++)
            entries[ne++] = (study_entry){&runs[k].dense, &runs[k].pruned[i],
                                          &runs[k].dense_s, &runs[k].pruned_s[i]};
    }
    char *cj = s == TI_OK ? study_config_json(&cfg) : NULL;
    if (s == TI_OK)
        s = study_write_report(&st, dense, cfg.nnet, entries, ne, cj ? cj : "{}");
    app_progress_clear(&prog);
    int rc = APP_EXIT_OK;
    if (s != TI_OK)
        rc = app_fail(ctx, s, "study");
    else if (!o->quiet)
        printf("study done in %.0f s (%.0f s of computing in this run): %s/report.md\n",
               app_now() - t0, st.seconds, o->out);
    for (int k = 0; runs && k < cfg.nnet; k++) {
        study_samples_free(&runs[k].dense_s);
        for (int i = 0; i < runs[k].np; i++)
            study_samples_free(&runs[k].pruned_s[i]);
    }
    free(cj);
    free(runs);
    free(entries);
    free(dense);
    study_close(&st);
    ti_ctx_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    app_init(argv[0]);
    opts o = {.out = "thinice-study", .progress = 1};
    int rc = parse(argc, argv, &o);
    return rc >= 0 ? rc : run(&o);
}
