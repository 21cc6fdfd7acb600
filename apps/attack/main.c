/* thinice-attack: evaluates a checkpoint or an imported ONNX model on samples [offset,
 * offset + count) of a data set with AutoAttack (standard, plus, a list of its attacks), PGD,
 * FGSM or FMN, through the library's evaluation harness (libattack eval.h): clean and robust
 * accuracy on stdout, a per-sample CSV, a JSON summary, a resumable state file. Thin:
 * options, library calls, printing. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "app_model.h"
#include "thinice/eval.h"
#include "thinice/fileio.h"

typedef struct opts {
    const char *model, *weights, *data, *attack, *csv, *json, *resume, *split_name;
    ti_split split;
    int offset, count, threads, batch, fmn_steps, pgd_steps, quiet, progress, eps_given;
    ti_norm norm;
    float eps;
    uint64_t seed;
} opts;

static void usage(void)
{
    printf("Usage: %s --weights FILE --eps X [OPTION]...\n"
           "       %s --model onnx:FILE --eps X [OPTION]...\n"
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
           "  -o, --output FILE     per-sample results as CSV (- for standard output); --csv\n"
           "                        FILE is the same\n"
           "  --json FILE           JSON summary (- for standard output)\n"
           "  --resume FILE         state file: continue a run interrupted with the same\n"
           "                        settings; written after every batch\n"
           "  --quiet               print only the final robust accuracy and errors\n"
           "  --no-progress         no progress on stderr (on a terminal a live line, in a\n"
           "                        pipe or file a line every 30 s)\n"
           "  -h, --help            this text\n"
           "  --version             version\n\n"
           "Exit status: 0 success, 1 runtime failure (files, data, model), 2 bad usage.\n",
           app_prog, app_prog, app_model_names(), TI_DATA_DEFAULT_DIR);
}

enum { O_MODEL = 256, O_WEIGHTS, O_DATA, O_TEST, O_TRAIN, O_OFFSET, O_COUNT, O_ATTACK, O_NORM,
       O_EPS, O_SEED, O_THREADS, O_BATCH, O_FMN_STEPS, O_PGD_STEPS, O_JSON, O_RESUME, O_QUIET,
       O_NOPROG, O_VERSION };

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
    int rc = app_parse_done(bad, argc, argv);
    if (rc >= 0)
        return rc;
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

/* What ties a state file to this run: the model, the exact weights, the data. */
static ti_status run_identity(ti_ctx *ctx, const opts *o, const app_net *n, ti_eval *ev)
{
    uint64_t h;
    ti_status s = ti_file_fnv1a(ctx, n->file, &h);
    char id[1024];
    snprintf(id, sizeof id, "model=%s weights_fnv=%016llx data=%s split=%s", o->model,
             (unsigned long long)h, o->data, o->split_name);
    return s == TI_OK ? ti_eval_set_run(ctx, ev, id) : s;
}

static void print_results(const opts *o, const ti_eval *ev, const ti_eval_summary *S)
{
    if (!o->quiet) {
        printf("clean accuracy:               %6.2f%%  (%.2f s)\n", 100 * S->clean_acc,
               ev->seconds_clean);
        for (int a = 0; a < ev->n_attacks; a++)
            printf("robust accuracy after %-8s %6.2f%%  (%.2f s)\n", ev->names[a],
                   100 * S->robust_acc[a], ev->seconds[a]);
        if (ev->p.kind == TI_EVAL_FMN)
            printf("FMN %s, %d steps: median norm %.6g (all samples), %.6g (correctly "
                   "classified); %d of %d points without an adversarial example\n",
                   ti_norm_name(o->norm), ev->p.fmn.steps, S->fmn_median_all,
                   S->fmn_median_correct, S->n_clean - S->fmn_found, S->n_clean);
        if (ev->n_check_failed)
            printf("%d adversarial examples failed the final check (counted robust)\n",
                   ev->n_check_failed);
    }
    printf("robust accuracy: %.2f%% (%d samples)\n", 100 * S->robust_final, S->n_done);
    fflush(stdout);
}

/* The JSON summary: the program, the model and data, then the evaluation's members. */
static ti_status write_json(ti_ctx *ctx, const opts *o, const ti_eval *ev, int resumed,
                            double wall)
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
    ti_jw_key(w, "threads");
    ti_jw_int(w, ti_ctx_threads(ctx));
    ti_jw_key(w, "resumed_samples");
    ti_jw_int(w, resumed);
    ti_jw_key(w, "wall_seconds");
    ti_jw_number(w, wall);
    ti_status s = ti_eval_json(ctx, ev, w);
    ti_jw_end_object(w);
    size_t len;
    const char *txt = ti_jw_text(w, &len);
    if (s == TI_OK)
        s = txt ? ti_write_file_atomic(ctx, o->json, txt, len)
                : ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", o->json);
    ti_jw_free(w);
    return s;
}

/* Everything after the options: data, model, the evaluation, the outputs. */
static int run(ti_ctx *ctx, const opts *o, const ti_eval_params *p, app_progress *pg)
{
    double t0 = ti_clock();
    ti_dataset *d = NULL;
    ti_eval *ev = NULL;
    app_net net = {0};
    char what[1400];
    int resumed = 0, found = 0;
    ti_status s = ti_data_load_range(ctx, o->data, o->split, o->offset, o->count, &d);
    if (s != TI_OK)
        return app_fail(ctx, s, "loading the data");
    if ((s = app_net_open(ctx, o->model, o->weights, d, o->batch, &net)) == TI_OK &&
        (s = ti_eval_new(ctx, p, o->offset, d->N, &ev)) == TI_OK &&
        (s = run_identity(ctx, o, &net, ev)) == TI_OK && o->resume &&
        (s = ti_eval_state_load(ctx, ev, o->resume, &found)) == TI_OK)
        s = ti_eval_state_save(ctx, ev, o->resume); /* a bad path fails now, not later */
    for (int i = 0; ev && i < ev->N; i++)
        resumed += ev->samples[i].done;
    if (s == TI_OK && !o->quiet) {
        app_net_describe(&net, o->model, what, sizeof what);
        if (found)
            printf("resuming from %s: %d of %d samples already done\n", o->resume, resumed,
                   d->N);
        printf("%s on %s %s [%d, %d): %s, %s eps %g, seed %llu, batch %d, %d threads\n", what,
               d->name, o->split_name, o->offset, o->offset + d->N, o->attack,
               ti_norm_name(o->norm), (double)o->eps, (unsigned long long)o->seed, o->batch,
               ti_ctx_threads(ctx));
        fflush(stdout);
    }
    pg->scale = 1.0 / (ev ? ev->n_attacks : 1);
    if (s == TI_OK)
        s = ti_eval_run(ctx, ev, &net.f, d->x, d->y, NULL, o->resume);
    app_progress_clear(pg);
    ti_eval_summary S;
    if (s == TI_OK && (s = ti_eval_summarize(ctx, ev, &S)) == TI_OK)
        print_results(o, ev, &S);
    if (s == TI_OK && o->csv)
        s = ti_eval_write_csv(ctx, ev, o->csv);
    if (s == TI_OK && o->json)
        s = write_json(ctx, o, ev, resumed, ti_clock() - t0);
    int rc = s == TI_OK ? APP_EXIT_OK : app_fail(ctx, s, "evaluation");
    ti_eval_free(ev);
    app_net_close(&net);
    ti_dataset_free(d);
    return rc;
}

int main(int argc, char **argv)
{
    app_init(argv[0]);
    opts o = {.model = "smallcnn", .data = TI_DATA_DEFAULT_DIR, .attack = "standard",
              .split = TI_SPLIT_TEST, .split_name = "test", .batch = 250, .fmn_steps = 1000,
              .pgd_steps = 20, .progress = 1, .norm = TI_NORM_LINF};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    ti_ctx *ctx = ti_ctx_new(o.seed, o.threads);
    if (!ctx)
        return app_fail(NULL, TI_ERR_NOMEM, "context");
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
        rc = run(ctx, &o, &p, &pg);
    ti_ctx_free(ctx);
    return rc;
}
