/* thinice-prune: prunes a dense (adversarially trained) checkpoint with magnitude pruning,
 * HYDRA, ADMM or ATMC (libprune's ti_prune_run; docs/pruning.md) to a target sparsity,
 * prints each epoch and each phase (clean and PGD accuracy), and writes the pruned checkpoint
 * (safetensors with masks, checked by reloading it) and a JSON report. Thin: options,
 * library calls, printing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "app_procs.h"
#include "app_model.h"
#include "thinice/fileio.h"
#include "thinice/prune.h"
#include "thinice/train.h"

typedef struct opts {
    const char *model, *weights, *data, *out, *json, *ckpt_dir, *method, *loss;
    double sparsity;
    int epochs, epochs_prune, epochs_finetune, steps, eval_steps, eval_count, train_count;
    int batch, threads, global, quiet, progress;
    float lr_prune, lr_finetune, eps, step; /* < 0: the method's or the data's default */
    uint64_t seed;
} opts;

static void usage(void)
{
    printf("Usage: %s --weights FILE [OPTION]...\n"
           "Prune a dense checkpoint to a target sparsity with an adversarial pruning method;\n"
           "print per-epoch loss and per-phase clean and PGD accuracy; write the pruned\n"
           "checkpoint (safetensors with masks) and a JSON report.\n\n"
           "  --weights FILE        the dense checkpoint (safetensors state_dict; required)\n"
           "  --model NAME          its architecture (default smallcnn; %s)\n"
           "  --data DIR            data directory (default %s)\n"
           "  --method NAME         hydra (default), admm, atmc or magnitude\n"
           "  --sparsity X          fraction of conv and linear weights removed, in [0, 1)\n"
           "                        (default 0.9); per layer, globally for atmc and --global\n"
           "  --loss KIND           pgd, trades, mixed or natural (default: the method's own:\n"
           "                        hydra trades, admm pgd, atmc mixed, magnitude pgd)\n"
           "  --epochs N            epochs of each phase (default 2)\n"
           "  --epochs-prune N      epochs of the pruning phase (hydra prune, admm, atmc)\n"
           "  --epochs-finetune N   epochs of the fine-tuning phase (hydra finetune, admm\n"
           "                        retrain, magnitude)\n"
           "  --lr-prune X          initial learning rate of the pruning phase (hydra 0.1,\n"
           "                        others 0.01)\n"
           "  --lr-finetune X       initial learning rate of the fine-tuning phase (0.01)\n"
           "  --eps X --step X      the L-inf adversary of training and of the report (default\n"
           "                        0.1 and 0.025 on Fashion-MNIST, 8/255 and 2/255 on CIFAR-10)\n"
           "  --steps N             its steps in training (default 10)\n"
           "  --eval-steps N        PGD steps of the per-phase report (default 10)\n"
           "  --eval-count N        test images of the per-phase report (default 1000; 0 = all)\n"
           "  --train-count N       use only the first N training images\n"
           "  --global              magnitude: one threshold over all layers\n"
           "  --checkpoint-dir DIR  write each finished phase there; re-running with the same\n"
           "                        arguments resumes after the last finished phase\n"
           "  --batch-size N        mini-batch size (default 128)\n"
           "  --seed N              random seed (default 0)\n"
           "  --threads N           threads, 0 = all cores (default 0)\n"
           "  -o, --output FILE     write the pruned checkpoint (safetensors, masks as\n"
           "                        \"<weight>_mask\", atomically)\n"
           "  --json FILE           write the JSON report\n"
           "  --quiet               print nothing but errors\n"
           "  --no-progress         no progress on stderr\n"
           "  -h, --help            this text\n"
           "  --version             version\n\n"
           "Exit status: 0 success, 1 runtime failure (missing or mismatched checkpoint,\n"
           "missing data), 2 bad usage.\n",
           app_prog, app_model_names(), TI_DATA_DEFAULT_DIR);
}

enum { O_MODEL = 256, O_WEIGHTS, O_DATA, O_METHOD, O_SPARSITY, O_LOSS, O_EPOCHS, O_EPR, O_EFT,
       O_LRP, O_LRF, O_EPS, O_STEP, O_STEPS, O_ESTEPS, O_ECOUNT, O_TRAINC, O_GLOBAL, O_CKPT,
       O_BATCH, O_SEED, O_THREADS, O_JSON, O_QUIET, O_NOPROG, O_VERSION };

static int parse_one(int c, opts *o)
{
    switch (c) {
    case O_MODEL: o->model = optarg; return 0;
    case O_WEIGHTS: o->weights = optarg; return 0;
    case O_DATA: o->data = optarg; return 0;
    case O_METHOD: o->method = optarg; return 0;
    case O_SPARSITY: /* 1 would remove every weight: the largest sparsity that keeps one is below */
        return app_parse_double("--sparsity", optarg, 0, 0.999999, &o->sparsity);
    case O_LOSS: o->loss = optarg; return 0;
    case O_EPOCHS: return app_parse_int("--epochs", optarg, 0, 100000, &o->epochs);
    case O_EPR: return app_parse_int("--epochs-prune", optarg, 0, 100000, &o->epochs_prune);
    case O_EFT: return app_parse_int("--epochs-finetune", optarg, 0, 100000, &o->epochs_finetune);
    case O_LRP: return app_parse_float("--lr-prune", optarg, 0, 1e3, &o->lr_prune);
    case O_LRF: return app_parse_float("--lr-finetune", optarg, 0, 1e3, &o->lr_finetune);
    case O_EPS: return app_parse_fraction("--eps", optarg, 1, &o->eps);
    case O_STEP: return app_parse_fraction("--step", optarg, 1, &o->step);
    case O_STEPS: return app_parse_int("--steps", optarg, 0, 10000, &o->steps);
    case O_ESTEPS: return app_parse_int("--eval-steps", optarg, 0, 10000, &o->eval_steps);
    case O_ECOUNT: return app_parse_int("--eval-count", optarg, 0, 1 << 30, &o->eval_count);
    case O_TRAINC: return app_parse_int("--train-count", optarg, 1, 1 << 30, &o->train_count);
    case O_GLOBAL: o->global = 1; return 0;
    case O_CKPT: o->ckpt_dir = optarg; return 0;
    case O_BATCH: return app_parse_int("--batch-size", optarg, 1, 65536, &o->batch);
    case O_SEED: return app_parse_u64("--seed", optarg, &o->seed);
    case O_THREADS: return app_parse_int("--threads", optarg, 0, 1024, &o->threads);
    case 'o': o->out = optarg; return 0;
    case O_JSON: o->json = optarg; return 0;
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
        {"data", required_argument, 0, O_DATA}, {"method", required_argument, 0, O_METHOD},
        {"sparsity", required_argument, 0, O_SPARSITY}, {"loss", required_argument, 0, O_LOSS},
        {"epochs", required_argument, 0, O_EPOCHS},
        {"epochs-prune", required_argument, 0, O_EPR},
        {"epochs-finetune", required_argument, 0, O_EFT},
        {"lr-prune", required_argument, 0, O_LRP}, {"lr-finetune", required_argument, 0, O_LRF},
        {"eps", required_argument, 0, O_EPS}, {"step", required_argument, 0, O_STEP},
        {"steps", required_argument, 0, O_STEPS}, {"eval-steps", required_argument, 0, O_ESTEPS},
        {"eval-count", required_argument, 0, O_ECOUNT},
        {"train-count", required_argument, 0, O_TRAINC}, {"global", no_argument, 0, O_GLOBAL},
        {"checkpoint-dir", required_argument, 0, O_CKPT},
        {"batch-size", required_argument, 0, O_BATCH}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"output", required_argument, 0, 'o'},
        {"json", required_argument, 0, O_JSON}, {"quiet", no_argument, 0, O_QUIET},
        {"no-progress", no_argument, 0, O_NOPROG}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
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
    ti_prune_method pm;
    ti_adv_kind k;
    if (app_model_refuse_onnx(o->model) >= 0)
        return APP_EXIT_USAGE;
    if (!o->weights)
        return app_usage_error("--weights FILE is required (the dense checkpoint to prune)");
    if (ti_prune_method_parse(o->method, &pm) != TI_OK)
        return app_usage_error("--method: '%s' is not hydra, admm, atmc or magnitude",
                               o->method);
    if (o->loss && ti_adv_kind_parse(o->loss, &k) != TI_OK)
        return app_usage_error("--loss: '%s' is not pgd, trades, mixed or natural", o->loss);
    if (o->global && pm != TI_PRUNE_MAGNITUDE)
        return app_usage_error("--global applies to --method magnitude only (atmc is always "
                               "global, hydra and admm per layer)");
    if (!app_model_known(o->model))
        return app_usage_error("--model: unknown architecture '%s' (one of %s)", o->model,
                               app_model_names());
    return -1;
}

/* The library's info lines (one per epoch and per phase) go to stdout, warnings to stderr. */
static void on_log(void *user, int level, const char *msg)
{
    app_logger *lg = user;
    app_progress_clear(lg->progress);
    if (level > 0)
        fprintf(stderr, "%s: warning: %s\n", app_prog, msg);
    else if (!lg->quiet)
        printf("%s\n", msg), fflush(stdout);
}

/* The method's settings: its defaults, the data set's threat model, the options. */
static ti_prune_params prune_params(const opts *o, const ti_dataset *train)
{
    ti_prune_method pm;
    ti_prune_method_parse(o->method, &pm);
    ti_prune_params p = ti_prune_params_default(pm);
    ti_adv_params d = ti_adv_params_for_data(p.adv.kind, train);
    p.sparsity = o->sparsity;
    p.global = o->global;
    p.batch = o->batch;
    p.seed = p.adv.seed = o->seed;
    if (o->loss)
        ti_adv_kind_parse(o->loss, &p.adv.kind);
    p.adv.eps = o->eps >= 0 ? o->eps : d.eps;
    p.adv.step = o->step >= 0 ? o->step : d.step;
    p.adv.steps = o->steps >= 0 ? o->steps : p.adv.steps;
    /* the methods' phases: magnitude has no pruning phase, ATMC no fine-tuning phase */
    if (o->epochs >= 0) {
        p.epochs_prune = pm == TI_PRUNE_MAGNITUDE ? 0 : o->epochs;
        p.epochs_finetune = pm == TI_PRUNE_ATMC ? 0 : o->epochs;
    }
    p.epochs_prune = o->epochs_prune >= 0 ? o->epochs_prune : p.epochs_prune;
    p.epochs_finetune = o->epochs_finetune >= 0 ? o->epochs_finetune : p.epochs_finetune;
    p.lr_prune = o->lr_prune >= 0 ? o->lr_prune : p.lr_prune;
    p.lr_finetune = o->lr_finetune >= 0 ? o->lr_finetune : p.lr_finetune;
    p.eval_steps = o->eval_steps >= 0 ? o->eval_steps : p.eval_steps;
    p.eval_count = o->eval_count >= 0 ? o->eval_count : p.eval_count;
    return p;
}

/* The layer table, and a warning for any layer a global threshold emptied (it no longer
 * passes any signal). */
static void print_layers(const opts *o, const ti_prune_layer *l, int nl)
{
    size_t zeros = 0, total = 0;
    for (int i = 0; i < nl; i++) {
        zeros += l[i].zeros;
        total += l[i].n;
        if (l[i].n > 0 && l[i].zeros == l[i].n)
            app_error("warning: every weight of %s is zero: the layer no longer passes any "
                      "signal (global pruning removed it)", l[i].name);
    }
    if (o->quiet)
        return;
    printf("%-40s %12s %12s %10s\n", "layer", "weights", "zeros", "sparsity");
    for (int i = 0; i < nl; i++)
        printf("%-40s %12zu %12zu %9.5f%%\n", l[i].name, l[i].n, l[i].zeros,
               100.0 * l[i].zeros / (l[i].n ? l[i].n : 1));
    printf("%-40s %12zu %12zu %9.5f%%  (per-layer mean %.5f%%)\n", "overall", total, zeros,
           100.0 * zeros / (total ? total : 1), 100 * ti_prune_layer_mean_sparsity(l, nl));
}

/* The JSON report: the program, the run's files, the library's report, the reload check. */
static ti_status write_json(ti_ctx *ctx, const opts *o, const ti_dataset *test,
                            const ti_prune_params *p, const ti_prune_report *rep,
                            const ti_prune_layer *l, int nl, double diff, int count,
                            double seconds)
{
    ti_jw *w = ti_jw_new();
    if (!w)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "json: out of memory");
    ti_jw_begin_object(w);
    app_json_program(w);
    ti_jw_key(w, "model");
    ti_jw_string(w, o->model);
    ti_jw_key(w, "weights");
    ti_jw_string(w, o->weights);
    ti_jw_key(w, "data");
    ti_jw_string(w, o->data);
    ti_jw_key(w, "dataset");
    ti_jw_string(w, test->name);
    ti_jw_key(w, "eval_images"); /* the report's accuracies are on the first ones */
    ti_jw_int(w, p->eval_count > 0 && p->eval_count < test->N ? p->eval_count : test->N);
    ti_jw_key(w, "threads");
    ti_jw_int(w, ti_ctx_threads(ctx));
    ti_prune_report_json(w, p, rep, l, nl);
    ti_jw_key(w, "reload_max_abs_logit_diff");
    if (count > 0)
        ti_jw_number(w, diff);
    else
        ti_jw_null(w);
    ti_jw_key(w, "total_seconds");
    ti_jw_number(w, seconds);
    ti_jw_end_object(w);
    ti_status s = app_write_json(ctx, w, o->json);
    ti_jw_free(w);
    return s;
}

/* Saves the pruned model and checks that the file reproduces it exactly. */
static ti_status save_checked(ti_ctx *ctx, const opts *o, ti_model *m, const ti_dataset *test,
                              double *diff, int *count)
{
    ti_status s = ti_model_save(m, o->out);
    if (s == TI_OK)
        s = ti_model_check_file(m, o->out, test, o->batch, diff, count);
    if (s == TI_OK && *diff != 0)
        s = ti_ctx_error(ctx, TI_ERR_STATE, "%s reloads with logits up to %g away from the "
                         "pruned model's", o->out, *diff);
    if (s == TI_OK && !o->quiet)
        printf("pruned checkpoint written to %s (reloaded: identical logits on %d test "
               "images)\n", o->out, *count);
    return s;
}

static ti_status prune(ti_ctx *ctx, const opts *o)
{
    double t0 = ti_clock(), diff = 0;
    int count = 0, nl = 0;
    ti_dataset *train = NULL, *test = NULL;
    ti_model *m = NULL;
    ti_prune_layer *layers = NULL;
    ti_prune_report rep;
    ti_status s = ti_data_load_range(ctx, o->data, TI_SPLIT_TRAIN, 0, o->train_count, &train);
    if (s == TI_OK)
        s = ti_data_load_range(ctx, o->data, TI_SPLIT_TEST, 0, 0, &test);
    if (s == TI_OK)
        s = app_model_open_for(ctx, o->model, o->weights, train, &m);
    if (s != TI_OK)
        goto done;
    ti_prune_params p = prune_params(o, train);
    p.reduce = app_procs_reducer();
    if (!o->quiet)
        printf("%s: %s of %s (%s, %zu parameters) on %s, %d train images; sparsity %g%s; "
               "loss %s (eps %g, step %g, %d steps); epochs %d prune + %d finetune, lr %g + "
               "%g; batch %d, seed %llu, %d processes x %d threads\n", app_prog,
               ti_prune_method_name(p.method), o->weights, o->model,
               ti_model_count_trainable(m), train->name, train->N, p.sparsity,
               p.method == TI_PRUNE_ATMC || p.global ? " (global)" : " (per layer)",
               ti_adv_kind_name(p.adv.kind), p.adv.eps, p.adv.step, p.adv.steps,
               p.epochs_prune, p.epochs_finetune, p.lr_prune, p.lr_finetune, p.batch,
               (unsigned long long)p.seed, app_procs_size(), ti_ctx_threads(ctx));
    fflush(stdout);
    if ((s = ti_prune_run(ctx, m, train, test, &p, o->ckpt_dir, &rep)) != TI_OK)
        goto done;
    nl = ti_prune_layers(m, NULL, 0);
    if (!(layers = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *layers))) {
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "out of memory");
        goto done;
    }
    ti_prune_layers(m, layers, nl);
    print_layers(o, layers, nl);
    if (app_procs_rank() != 0) /* rank 0 writes the job's outputs */
        goto done;
    if (o->out && (s = save_checked(ctx, o, m, test, &diff, &count)) != TI_OK)
        goto done;
    if (o->json && (s = write_json(ctx, o, test, &p, &rep, layers, nl, diff, count,
                                   ti_clock() - t0)) != TI_OK)
        goto done;
    const ti_prune_phase *last = rep.nphases ? &rep.phases[rep.nphases - 1] : &rep.start;
    if (!o->quiet)
        printf("%s at %.4f%% sparsity: clean %.2f%%, PGD-%d %.2f%% (dense: %.2f%%, %.2f%%); "
               "%.1f s\n", ti_prune_method_name(p.method), 100 * ti_model_sparsity(m),
               100 * last->clean_acc, p.eval_steps, 100 * last->pgd_acc,
               100 * rep.start.clean_acc, 100 * rep.start.pgd_acc, ti_clock() - t0);
done:
    free(layers);
    ti_model_free(m);
    ti_dataset_free(test);
    ti_dataset_free(train);
    return s;
}

int main(int argc, char **argv)
{
    app_procs_init(&argc, &argv);
    app_init(argv[0]);
    opts o = {.model = "smallcnn", .data = TI_DATA_DEFAULT_DIR, .method = "hydra",
              .sparsity = 0.9, .epochs = -1, .epochs_prune = -1, .epochs_finetune = -1,
              .lr_prune = -1, .lr_finetune = -1, .eps = -1, .step = -1, .steps = -1,
              .eval_steps = -1, .eval_count = -1, .batch = 128, .progress = 1};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return app_procs_exit(rc);
    if (app_procs_rank() != 0) /* rank 0 speaks for the job; errors always pass */
        o.quiet = 1, o.progress = 0;
    ti_ctx *ctx = ti_ctx_new(o.seed, app_procs_threads(o.threads));
    if (!ctx)
        return app_procs_exit(app_fail(NULL, TI_ERR_NOMEM, "context"));
    app_progress pg;
    app_logger lg = {o.quiet, &pg};
    app_progress_install(ctx, &pg, o.progress && !o.quiet, 1, "img");
    ti_ctx_set_log(ctx, on_log, &lg);
    rc = APP_EXIT_FAIL;
    if (!app_check_output(ctx, "--output", o.out) && !app_check_output(ctx, "--json", o.json) &&
        !(o.ckpt_dir && app_check_output_dir(ctx, "--checkpoint-dir", o.ckpt_dir))) {
        ti_status s = prune(ctx, &o);
        app_progress_clear(&pg);
        rc = s == TI_OK ? APP_EXIT_OK : app_fail(ctx, s, "pruning");
    }
    ti_ctx_free(ctx);
    return app_procs_exit(rc);
}
