/* thinice-prune: prunes a dense (adversarially trained) checkpoint with magnitude pruning,
 * HYDRA, ADMM or ATMC (libprune; docs/pruning.md) to a target sparsity, prints
 * each epoch and each phase (clean and PGD accuracy), and writes the pruned checkpoint
 * (safetensors with masks) and a JSON report. Thin: options, library calls, printing. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_cli.h"
#include "app_model.h"
#include "thinice/data.h"
#include "thinice/fileio.h"
#include "thinice/json.h"
#include "thinice/model.h"
#include "thinice/prune.h"
#include "thinice/safetensors.h"
#include "thinice/train.h"

typedef struct opts {
    const char *model, *weights, *data, *out, *json, *ckpt_dir, *method, *loss;
    double sparsity;
    int epochs, epochs_prune, epochs_finetune, steps, eval_steps, eval_count, train_count;
    int batch, threads, global, quiet, progress;
    float lr_prune, lr_finetune, eps, step;
    uint64_t seed;
} opts;

static void usage(void)
{
    printf("Usage: %s --weights FILE [OPTION]...\n"
           "Prune a dense checkpoint to a target sparsity with an adversarial pruning method;\n"
           "print per-epoch loss and per-phase clean and PGD accuracy; write the pruned\n"
           "checkpoint (safetensors with masks) and a JSON report.\n\n"
           "  --weights FILE        the dense checkpoint (safetensors state_dict; required)\n"
           "  --model NAME          its architecture (default smallcnn; also vgg16_bn,\n"
           "                        vgg16_admm, resnet18, resnet34, wrn_28_4, wrn_28_10)\n"
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
           "      --json FILE       write the JSON report\n"
           "  --quiet               print nothing but errors\n"
           "  --no-progress         no progress line on stderr\n"
           "  --help                this text\n"
           "  --version             version\n\n"
           "Exit status: 0 success, 1 runtime failure (missing or mismatched checkpoint,\n"
           "missing data), 2 bad usage.\n",
           app_prog, TI_DATA_DEFAULT_DIR);
}

enum { O_MODEL = 256, O_WEIGHTS, O_DATA, O_METHOD, O_SPARSITY, O_LOSS, O_EPOCHS, O_EPR, O_EFT,
       O_LRP, O_LRF, O_EPS, O_STEP, O_STEPS, O_ESTEPS, O_ECOUNT, O_TRAINC, O_GLOBAL, O_CKPT,
       O_BATCH, O_SEED, O_THREADS, O_JSON, O_QUIET, O_NOPROG, O_HELP, O_VERSION };

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
        {"no-progress", no_argument, 0, O_NOPROG}, {"help", no_argument, 0, O_HELP},
        {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    opterr = 0;
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, ":o:", lo, NULL)) != -1) {
        switch (c) {
        case O_MODEL: o->model = optarg; break;
        case O_WEIGHTS: o->weights = optarg; break;
        case O_DATA: o->data = optarg; break;
        case O_METHOD: o->method = optarg; break;
        case O_SPARSITY:
            /* 1 would remove every weight: the largest sparsity that keeps one is below it */
            bad |= app_parse_double("--sparsity", optarg, 0, 0.999999, &o->sparsity);
            break;
        case O_LOSS: o->loss = optarg; break;
        case O_EPOCHS: bad |= app_parse_int("--epochs", optarg, 0, 100000, &o->epochs); break;
        case O_EPR:
            bad |= app_parse_int("--epochs-prune", optarg, 0, 100000, &o->epochs_prune);
            break;
        case O_EFT:
            bad |= app_parse_int("--epochs-finetune", optarg, 0, 100000, &o->epochs_finetune);
            break;
        case O_LRP: bad |= app_parse_float("--lr-prune", optarg, 0, 1e3, &o->lr_prune); break;
        case O_LRF:
            bad |= app_parse_float("--lr-finetune", optarg, 0, 1e3, &o->lr_finetune);
            break;
        case O_EPS: bad |= app_parse_fraction("--eps", optarg, 1, &o->eps); break;
        case O_STEP: bad |= app_parse_fraction("--step", optarg, 1, &o->step); break;
        case O_STEPS: bad |= app_parse_int("--steps", optarg, 0, 10000, &o->steps); break;
        case O_ESTEPS:
            bad |= app_parse_int("--eval-steps", optarg, 0, 10000, &o->eval_steps);
            break;
        case O_ECOUNT:
            bad |= app_parse_int("--eval-count", optarg, 0, 1 << 30, &o->eval_count);
            break;
        case O_TRAINC:
            bad |= app_parse_int("--train-count", optarg, 1, 1 << 30, &o->train_count);
            break;
        case O_GLOBAL: o->global = 1; break;
        case O_CKPT: o->ckpt_dir = optarg; break;
        case O_BATCH: bad |= app_parse_int("--batch-size", optarg, 1, 65536, &o->batch); break;
        case O_SEED: bad |= app_parse_u64("--seed", optarg, &o->seed); break;
        case O_THREADS: bad |= app_parse_int("--threads", optarg, 0, 1024, &o->threads); break;
        case 'o': o->out = optarg; break;
        case O_JSON: o->json = optarg; break;
        case O_QUIET: o->quiet = 1; break;
        case O_NOPROG: o->progress = 0; break;
        case O_HELP: usage(); return APP_EXIT_OK;
        case O_VERSION: app_print_version(); return APP_EXIT_OK;
        default: return app_getopt_error(c, argv);
        }
    }
    int rc = app_parse_done(bad, argc, argv);
    if (rc >= 0)
        return rc;
    if (app_model_refuse_onnx(o->model) >= 0)
        return APP_EXIT_USAGE;
    if (!o->weights)
        return app_usage_error("--weights FILE is required (the dense checkpoint to prune)");
    ti_prune_method pm;
    if (ti_prune_method_parse(o->method, &pm) != TI_OK)
        return app_usage_error("--method: '%s' is not hydra, admm, atmc or magnitude",
                               o->method);
    ti_adv_kind k;
    if (o->loss && ti_adv_kind_parse(o->loss, &k) != TI_OK)
        return app_usage_error("--loss: '%s' is not pgd, trades, mixed or natural", o->loss);
    if (o->global && pm != TI_PRUNE_MAGNITUDE)
        return app_usage_error("--global applies to --method magnitude only (atmc is always "
                               "global, hydra and admm per layer)");
    int known = 0;
    for (const char *const *a = ti_model_arch_names(); *a; a++)
        known |= strcmp(*a, o->model) == 0;
    if (!known)
        return app_usage_error("--model: unknown architecture '%s' (see --help)", o->model);
    return -1;
}

/* Output state shared with the log and progress callbacks. */
typedef struct app_state {
    app_progress prog;
    int quiet, batch;
    const char *method;
} app_state;

/* The library's info lines (one per epoch and per phase) go to stdout, warnings to stderr. */
static void on_log(void *user, int level, const char *msg)
{
    app_state *st = user;
    app_progress_clear(&st->prog);
    if (level > 0) {
        fprintf(stderr, "%s: warning: %s\n", app_prog, msg);
    } else if (!st->quiet) {
        printf("%s\n", msg);
        fflush(stdout);
    }
}

/* Training counts batches, the PGD report counts images: the rate's unit follows the label,
 * which gets the method's name in front. */
static int on_progress(void *user, const char *label, long done, long total)
{
    app_state *st = user;
    char buf[64];
    int images = strncmp(label, "epoch", 5) != 0;
    st->prog.scale = images ? 1.0 : st->batch;
    snprintf(buf, sizeof buf, "%s %s", st->method, label);
    return app_progress_cb(&st->prog, buf, done, total);
}

/* After a failed load: if the file names another architecture, say which --model fits. */
static void arch_hint(ti_ctx *ctx, const char *path, const char *model)
{
    ti_st_file *f = NULL;
    if (ti_st_open(ctx, path, &f) != TI_OK)
        return;
    const char *arch = ti_st_metadata(f, "arch"), *in = ti_st_metadata(f, "input");
    if (arch && strcmp(arch, model) != 0)
        app_error("hint: %s holds a %s model (input %s); try --model %s", path, arch,
                  in ? in : "?", arch);
    ti_st_close(f);
}

/* Reloads the written checkpoint into a fresh model and compares its logits with the pruned
 * model's on the first test images: the file must reproduce the model exactly. */
static ti_status verify_reload(ti_ctx *ctx, ti_model *m, const char *arch,
                               const ti_model_config *cfg, const char *path,
                               const ti_dataset *test, int batch, double *max_diff, int *count)
{
    ti_model *m2 = NULL;
    ti_dataset *part = NULL;
    int n = test->N < 256 ? test->N : 256;
    float *a = malloc((size_t)n * cfg->M * sizeof(float));
    float *b = malloc((size_t)n * cfg->M * sizeof(float));
    ti_status s = a && b ? TI_OK : ti_ctx_error(ctx, TI_ERR_NOMEM, "verify: out of memory");
    if (s == TI_OK)
        s = ti_dataset_slice(ctx, test, 0, n, &part);
    if (s == TI_OK)
        s = ti_model_new(ctx, arch, cfg, &m2);
    if (s == TI_OK)
        s = ti_model_load(m2, path);
    if (s == TI_OK)
        s = ti_evaluate(ctx, m, part, batch, NULL, a, NULL);
    if (s == TI_OK)
        s = ti_evaluate(ctx, m2, part, batch, NULL, b, NULL);
    *max_diff = 0;
    for (size_t i = 0; s == TI_OK && i < (size_t)n * cfg->M; i++) {
        double d = fabs((double)a[i] - b[i]);
        *max_diff = d > *max_diff || d != d ? d : *max_diff;
    }
    if (s == TI_OK && fabs(ti_model_sparsity(m2) - ti_model_sparsity(m)) > 0)
        s = ti_ctx_error(ctx, TI_ERR_STATE, "verify: %s has sparsity %.8f, the model %.8f",
                         path, ti_model_sparsity(m2), ti_model_sparsity(m));
    *count = n;
    ti_model_free(m2);
    ti_dataset_free(part);
    free(a);
    free(b);
    return s;
}

static void json_phase(ti_jw *w, const ti_prune_phase *ph)
{
    ti_jw_begin_object(w);
    ti_prune_phase_json(w, ph);
    ti_jw_end_object(w);
}

typedef struct run_info {
    const ti_dataset *train, *test;
    const ti_prune_params *p;
    const ti_prune_report *rep;
    const ti_prune_layer *layers;
    int nl;
    double seconds, reload_diff;
    int reload_count, threads;
} run_info;

static ti_status write_json(ti_ctx *ctx, const opts *o, const run_info *ri)
{
    const ti_prune_params *p = ri->p;
    ti_jw *w = ti_jw_new();
    if (!w)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "json: out of memory");
    size_t zeros = 0, total = 0;
    for (int l = 0; l < ri->nl; l++) {
        zeros += ri->layers[l].zeros;
        total += ri->layers[l].n;
    }
    ti_jw_begin_object(w);
    ti_jw_key(w, "tool");
    ti_jw_string(w, "thinice-prune");
    ti_jw_key(w, "version");
    ti_jw_string(w, TI_VERSION);
    ti_jw_key(w, "method");
    ti_jw_string(w, ti_prune_method_name(p->method));
    ti_jw_key(w, "sparsity_target");
    ti_jw_number(w, p->sparsity);
    ti_jw_key(w, "sparsity");
    ti_jw_number(w, total ? (double)zeros / total : 0);
    ti_jw_key(w, "sparsity_layer_mean");
    ti_jw_number(w, ti_prune_layer_mean_sparsity(ri->layers, ri->nl));
    /* the final model's accuracy first; every phase's follows under "phases" */
    const ti_prune_phase *last = ri->rep->nphases ? &ri->rep->phases[ri->rep->nphases - 1]
                                                  : &ri->rep->start;
    ti_jw_key(w, "clean_accuracy");
    ti_jw_number(w, last->clean_acc);
    ti_jw_key(w, "pgd_accuracy");
    ti_jw_number(w, last->pgd_acc);
    ti_jw_key(w, "weights_total");
    ti_jw_int(w, (long long)total);
    ti_jw_key(w, "weights_zero");
    ti_jw_int(w, (long long)zeros);
    ti_jw_key(w, "layers");
    ti_jw_begin_array(w);
    for (int l = 0; l < ri->nl; l++) {
        ti_jw_begin_object(w);
        ti_jw_key(w, "name");
        ti_jw_string(w, ri->layers[l].name);
        ti_jw_key(w, "n");
        ti_jw_int(w, (long long)ri->layers[l].n);
        ti_jw_key(w, "zeros");
        ti_jw_int(w, (long long)ri->layers[l].zeros);
        ti_jw_key(w, "sparsity");
        ti_jw_number(w, ri->layers[l].n ? (double)ri->layers[l].zeros / ri->layers[l].n : 0);
        ti_jw_end_object(w);
    }
    ti_jw_end_array(w);
    ti_jw_key(w, "start");
    json_phase(w, &ri->rep->start);
    ti_jw_key(w, "phases");
    ti_jw_begin_array(w);
    for (int i = 0; i < ri->rep->nphases; i++)
        json_phase(w, &ri->rep->phases[i]);
    ti_jw_end_array(w);
    ti_jw_key(w, "total_seconds");
    ti_jw_number(w, ri->seconds);
    ti_jw_key(w, "reload_check");
    ti_jw_begin_object(w);
    ti_jw_key(w, "images");
    ti_jw_int(w, ri->reload_count);
    ti_jw_key(w, "max_abs_logit_diff");
    if (ri->reload_count > 0)
        ti_jw_number(w, ri->reload_diff);
    else
        ti_jw_null(w);
    ti_jw_end_object(w);

    ti_jw_key(w, "config");
    ti_jw_begin_object(w);
    ti_jw_key(w, "model");
    ti_jw_string(w, o->model);
    ti_jw_key(w, "weights");
    ti_jw_string(w, o->weights);
    ti_jw_key(w, "data");
    ti_jw_string(w, ri->train->name);
    ti_jw_key(w, "train_images");
    ti_jw_int(w, ri->train->N);
    ti_jw_key(w, "eval_images");
    ti_jw_int(w, p->eval_count > 0 && p->eval_count < ri->test->N ? p->eval_count
                                                                   : ri->test->N);
    ti_jw_key(w, "eval_pgd_steps");
    ti_jw_int(w, p->eval_steps);
    ti_jw_key(w, "global");
    ti_jw_bool(w, p->global);
    ti_jw_key(w, "loss");
    ti_jw_string(w, ti_adv_kind_name(p->adv.kind));
    ti_jw_key(w, "eps");
    ti_jw_number(w, p->adv.eps);
    ti_jw_key(w, "step");
    ti_jw_number(w, p->adv.step);
    ti_jw_key(w, "steps");
    ti_jw_int(w, p->adv.steps);
    ti_jw_key(w, "random_start");
    ti_jw_bool(w, p->adv.random_start);
    ti_jw_key(w, "trades_beta");
    ti_jw_number(w, p->adv.beta);
    ti_jw_key(w, "mixed_clean_weight");
    ti_jw_number(w, p->adv.clean_weight);
    ti_jw_key(w, "epochs_prune");
    ti_jw_int(w, p->epochs_prune);
    ti_jw_key(w, "epochs_finetune");
    ti_jw_int(w, p->epochs_finetune);
    ti_jw_key(w, "lr_prune");
    ti_jw_number(w, p->lr_prune);
    ti_jw_key(w, "lr_finetune");
    ti_jw_number(w, p->lr_finetune);
    ti_jw_key(w, "momentum");
    ti_jw_number(w, p->momentum);
    ti_jw_key(w, "weight_decay");
    ti_jw_number(w, p->weight_decay);
    if (p->method == TI_PRUNE_ADMM) {
        ti_jw_key(w, "admm_period");
        ti_jw_int(w, p->admm_period);
        ti_jw_key(w, "admm_rho");
        ti_jw_number(w, p->admm_rho);
        ti_jw_key(w, "admm_rho_mult");
        ti_jw_number(w, p->admm_rho_mult);
    }
    ti_jw_key(w, "batch_size");
    ti_jw_int(w, p->batch);
    ti_jw_key(w, "threads");
    ti_jw_int(w, ri->threads);
    ti_jw_key(w, "checkpoint_dir");
    if (o->ckpt_dir)
        ti_jw_string(w, o->ckpt_dir);
    else
        ti_jw_null(w);
    ti_jw_end_object(w);
    ti_jw_key(w, "seed");
    ti_jw_int(w, (long long)p->seed);
    ti_jw_end_object(w);
    size_t len;
    const char *text = ti_jw_text(w, &len);
    ti_status s = text ? ti_write_file_atomic(ctx, o->json, text, len)
                       : ti_ctx_error(ctx, TI_ERR_NOMEM, "json: out of memory");
    ti_jw_free(w);
    return s;
}

int main(int argc, char **argv)
{
    app_init(argv[0]);
    opts o = {.model = "smallcnn", .data = TI_DATA_DEFAULT_DIR, .method = "hydra",
              .sparsity = 0.9, .epochs = -1, .epochs_prune = -1, .epochs_finetune = -1,
              .lr_prune = -1, .lr_finetune = -1, .eps = -1, .step = -1, .steps = -1,
              .eval_steps = -1, .eval_count = -1, .batch = 128, .progress = 1};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;

    ti_ctx *ctx = ti_ctx_new(o.seed, o.threads);
    if (!ctx) {
        app_error("out of memory");
        return APP_EXIT_FAIL;
    }
    app_state st = {.quiet = o.quiet, .batch = o.batch, .method = o.method};
    app_progress_install(ctx, &st.prog, o.progress && !o.quiet, o.batch, "img");
    ti_ctx_set_progress(ctx, on_progress, &st);
    ti_ctx_set_log(ctx, on_log, &st);

    ti_dataset *train = NULL, *test = NULL;
    ti_model *m = NULL;
    ti_prune_layer *layers = NULL;
    ti_status s;
    rc = APP_EXIT_FAIL;
    double t_start = app_now();

    if ((s = ti_data_load_first(ctx, o.data, TI_SPLIT_TRAIN, o.train_count, &train)) != TI_OK ||
        (s = ti_data_load_first(ctx, o.data, TI_SPLIT_TEST, 0, &test)) != TI_OK) {
        app_fail(ctx, s, "loading the data");
        goto done;
    }
    ti_model_config cfg = {.C = train->C, .H = train->H, .W = train->W, .M = train->M};
    if ((s = ti_model_new(ctx, o.model, &cfg, &m)) != TI_OK) {
        app_fail(ctx, s, "creating the model");
        goto done;
    }
    if ((s = ti_model_load(m, o.weights)) != TI_OK) {
        app_fail(ctx, s, "loading the dense checkpoint");
        arch_hint(ctx, o.weights, o.model);
        goto done;
    }

    ti_prune_method pm;
    ti_prune_method_parse(o.method, &pm);
    ti_prune_params p = ti_prune_params_default(pm);
    int cifar = strcmp(train->name, "cifar10") == 0;
    p.sparsity = o.sparsity;
    p.global = o.global;
    p.batch = o.batch;
    p.seed = o.seed;
    p.adv.seed = o.seed;
    if (o.loss)
        ti_adv_kind_parse(o.loss, &p.adv.kind);
    p.adv.eps = o.eps >= 0 ? o.eps : cifar ? 8.0f / 255 : 0.1f;
    p.adv.step = o.step >= 0 ? o.step : cifar ? 2.0f / 255 : 0.025f;
    if (o.steps >= 0)
        p.adv.steps = o.steps;
    /* the methods' phases: magnitude has no pruning phase, ATMC no fine-tuning phase */
    if (o.epochs >= 0) {
        p.epochs_prune = pm == TI_PRUNE_MAGNITUDE ? 0 : o.epochs;
        p.epochs_finetune = pm == TI_PRUNE_ATMC ? 0 : o.epochs;
    }
    if (o.epochs_prune >= 0)
        p.epochs_prune = o.epochs_prune;
    if (o.epochs_finetune >= 0)
        p.epochs_finetune = o.epochs_finetune;
    if (o.lr_prune >= 0)
        p.lr_prune = o.lr_prune;
    if (o.lr_finetune >= 0)
        p.lr_finetune = o.lr_finetune;
    if (o.eval_steps >= 0)
        p.eval_steps = o.eval_steps;
    if (o.eval_count >= 0)
        p.eval_count = o.eval_count;

    if (!o.quiet) {
        printf("%s: %s of %s (%s, %zu parameters) on %s, %d train images; sparsity %g%s; "
               "loss %s (eps %g, step %g, %d steps); epochs %d prune + %d finetune, lr %g + "
               "%g; batch %d, seed %llu, %d threads\n",
               app_prog, ti_prune_method_name(pm), o.weights, o.model,
               ti_model_count_trainable(m), train->name, train->N, p.sparsity,
               pm == TI_PRUNE_ATMC || p.global ? " (global)" : " (per layer)",
               ti_adv_kind_name(p.adv.kind), p.adv.eps, p.adv.step, p.adv.steps,
               p.epochs_prune, p.epochs_finetune, p.lr_prune, p.lr_finetune, p.batch,
               (unsigned long long)p.seed, ti_ctx_threads(ctx));
        fflush(stdout);
    }

    ti_prune_report rep;
    s = ti_prune_run(ctx, m, train, test, &p, o.ckpt_dir, &rep);
    app_progress_clear(&st.prog);
    if (s != TI_OK) {
        app_fail(ctx, s, "pruning");
        goto done;
    }
    int nl = ti_prune_layers(m, NULL, 0);
    layers = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *layers);
    if (!layers) {
        app_error("out of memory");
        goto done;
    }
    ti_prune_layers(m, layers, nl);
    size_t zeros = 0, total = 0;
    for (int l = 0; l < nl; l++) {
        zeros += layers[l].zeros;
        total += layers[l].n;
    }
    /* a global threshold (ATMC, --global) can empty a whole layer, which cuts the network */
    for (int l = 0; l < nl; l++)
        if (layers[l].n > 0 && layers[l].zeros == layers[l].n)
            app_error("warning: every weight of %s is zero: the layer no longer passes any "
                      "signal (global pruning removed it)",
                      layers[l].name);
    if (!o.quiet) {
        printf("%-40s %12s %12s %10s\n", "layer", "weights", "zeros", "sparsity");
        for (int l = 0; l < nl; l++)
            printf("%-40s %12zu %12zu %9.5f%%\n", layers[l].name, layers[l].n, layers[l].zeros,
                   100.0 * layers[l].zeros / (layers[l].n ? layers[l].n : 1));
        printf("%-40s %12zu %12zu %9.5f%%  (per-layer mean %.5f%%)\n", "overall", total, zeros,
               100.0 * zeros / (total ? total : 1),
               100 * ti_prune_layer_mean_sparsity(layers, nl));
    }

    run_info ri = {.train = train, .test = test, .p = &p, .rep = &rep, .layers = layers,
                   .nl = nl, .threads = ti_ctx_threads(ctx)};
    if (o.out) {
        if ((s = ti_model_save(m, o.out)) != TI_OK) {
            app_fail(ctx, s, "saving the pruned checkpoint");
            goto done;
        }
        if ((s = verify_reload(ctx, m, o.model, &cfg, o.out, test, o.batch, &ri.reload_diff,
                               &ri.reload_count)) != TI_OK) {
            app_fail(ctx, s, "checking the written checkpoint");
            goto done;
        }
        if (ri.reload_diff != 0) {
            app_error("%s reloads with logits up to %g away from the pruned model's", o.out,
                      ri.reload_diff);
            goto done;
        }
        if (!o.quiet)
            printf("pruned checkpoint written to %s (reloaded: identical logits on %d test "
                   "images)\n",
                   o.out, ri.reload_count);
    }
    ri.seconds = app_now() - t_start;
    if (o.json && (s = write_json(ctx, &o, &ri)) != TI_OK) {
        app_fail(ctx, s, "writing the JSON report");
        goto done;
    }
    if (!o.quiet) {
        const ti_prune_phase *last = rep.nphases ? &rep.phases[rep.nphases - 1] : &rep.start;
        printf("%s at %.4f%% sparsity: clean %.2f%%, PGD-%d %.2f%% (dense: %.2f%%, %.2f%%); "
               "%.1f s\n",
               ti_prune_method_name(pm), 100.0 * zeros / (total ? total : 1),
               100 * last->clean_acc, p.eval_steps, 100 * last->pgd_acc,
               100 * rep.start.clean_acc, 100 * rep.start.pgd_acc, ri.seconds);
        if (o.json)
            printf("report written to %s\n", o.json);
    }
    rc = APP_EXIT_OK;
done:
    free(layers);
    ti_model_free(m);
    ti_dataset_free(test);
    ti_dataset_free(train);
    ti_ctx_free(ctx);
    return rc;
}
