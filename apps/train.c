/* thinice-train: trains a model of the zoo on Fashion-MNIST or CIFAR-10 with SGD and a
 * learning-rate schedule, prints per-epoch loss, accuracy and time, and saves the checkpoint
 * (safetensors) and a JSON summary. Thin: options, library calls, printing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "app_model.h"
#include "thinice/advtrain.h"
#include "thinice/data.h"
#include "thinice/fileio.h"
#include "thinice/json.h"
#include "thinice/model.h"
#include "thinice/optim.h"
#include "thinice/train.h"

typedef struct opts {
    const char *model, *data, *out, *json, *schedule, *adv;
    int epochs, batch, threads, train_count, test_count, augment, quiet, progress;
    float lr, momentum, wd, eps, step;
    int steps;
    uint64_t seed;
} opts;

static void usage(void)
{
    printf("Usage: %s [OPTION]...\n"
           "Train a model on Fashion-MNIST or CIFAR-10 with SGD; print per-epoch loss, test\n"
           "accuracy and time; save the weights as safetensors.\n\n"
           "  --model NAME          architecture (default smallcnn; also vgg16_bn, vgg16_admm,\n"
           "                        resnet18, resnet34, wrn_28_4, wrn_28_10)\n"
           "  --data DIR            data directory (default %s)\n"
           "  --epochs N            epochs (default 5)\n"
           "  --batch-size N        mini-batch size (default 128)\n"
           "  --lr X                initial learning rate (default 0.1)\n"
           "  --momentum X          SGD momentum (default 0.9)\n"
           "  --weight-decay X      weight decay (default 5e-4)\n"
           "  --schedule NAME       cosine (default), step (x0.1 at 50%% and 75%%) or constant\n"
           "  --adv KIND            natural (default), pgd (Madry PGD-AT), trades (beta 6) or\n"
           "                        mixed (1/2 clean + 1/2 PGD cross-entropy)\n"
           "  --eps X --step X --steps N  the training adversary (default 8/255, 2/255, 10;\n"
           "                        numbers or fractions such as 8/255)\n"
           "  --seed N              random seed (default 0)\n"
           "  --threads N           threads, 0 = all cores (default 0)\n"
           "  -o, --output FILE     write the trained weights (safetensors, atomically)\n"
           "      --json FILE       write a JSON summary (per epoch: loss, train and test\n"
           "                        accuracy, seconds, images/s)\n"
           "  --train-count N       use only the first N training images\n"
           "  --test-count N        use only the first N test images\n"
           "  --augment, --no-augment  pad-4 random crop and flip (default: on for CIFAR-10,\n"
           "                        off for Fashion-MNIST)\n"
           "  --quiet               print nothing but errors\n"
           "  --no-progress         no progress line on stderr\n"
           "  --help                this text\n"
           "  --version             version\n\n"
           "Exit status: 0 success, 1 runtime failure (e.g. missing or corrupt data), 2 bad "
           "usage.\n",
           app_prog, TI_DATA_DEFAULT_DIR);
}

enum { O_MODEL = 256, O_DATA, O_EPOCHS, O_BATCH, O_LR, O_MOM, O_WD, O_SCHED, O_SEED, O_THREADS,
       O_JSON, O_TRAINC, O_TESTC, O_AUG, O_NOAUG, O_QUIET, O_NOPROG, O_HELP, O_VERSION, O_ADV,
       O_EPS, O_STEP, O_STEPS };

/* Returns -1 to go on, else the exit code. */
static int parse(int argc, char **argv, opts *o)
{
    static const struct option lo[] = {
        {"model", required_argument, 0, O_MODEL}, {"data", required_argument, 0, O_DATA},
        {"epochs", required_argument, 0, O_EPOCHS}, {"batch-size", required_argument, 0, O_BATCH},
        {"lr", required_argument, 0, O_LR}, {"momentum", required_argument, 0, O_MOM},
        {"weight-decay", required_argument, 0, O_WD}, {"schedule", required_argument, 0, O_SCHED},
        {"seed", required_argument, 0, O_SEED}, {"threads", required_argument, 0, O_THREADS},
        {"output", required_argument, 0, 'o'}, {"json", required_argument, 0, O_JSON},
        {"train-count", required_argument, 0, O_TRAINC},
        {"test-count", required_argument, 0, O_TESTC}, {"augment", no_argument, 0, O_AUG},
        {"no-augment", no_argument, 0, O_NOAUG}, {"quiet", no_argument, 0, O_QUIET},
        {"no-progress", no_argument, 0, O_NOPROG}, {"help", no_argument, 0, O_HELP},
        {"version", no_argument, 0, O_VERSION}, {"adv", required_argument, 0, O_ADV},
        {"eps", required_argument, 0, O_EPS}, {"step", required_argument, 0, O_STEP},
        {"steps", required_argument, 0, O_STEPS}, {0, 0, 0, 0}};
    opterr = 0;
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, ":o:", lo, NULL)) != -1) {
        switch (c) {
        case O_MODEL: o->model = optarg; break;
        case O_DATA: o->data = optarg; break;
        case O_EPOCHS: bad |= app_parse_int("--epochs", optarg, 1, 100000, &o->epochs); break;
        case O_BATCH: bad |= app_parse_int("--batch-size", optarg, 1, 65536, &o->batch); break;
        case O_LR: bad |= app_parse_float("--lr", optarg, 0, 1e3, &o->lr); break;
        case O_MOM: bad |= app_parse_float("--momentum", optarg, 0, 0.999999, &o->momentum); break;
        case O_WD: bad |= app_parse_float("--weight-decay", optarg, 0, 1, &o->wd); break;
        case O_SCHED: o->schedule = optarg; break;
        case O_SEED: bad |= app_parse_u64("--seed", optarg, &o->seed); break;
        case O_THREADS: bad |= app_parse_int("--threads", optarg, 0, 1024, &o->threads); break;
        case 'o': o->out = optarg; break;
        case O_JSON: o->json = optarg; break;
        case O_TRAINC:
            bad |= app_parse_int("--train-count", optarg, 1, 1 << 30, &o->train_count);
            break;
        case O_TESTC:
            bad |= app_parse_int("--test-count", optarg, 1, 1 << 30, &o->test_count);
            break;
        case O_AUG: o->augment = 1; break;
        case O_NOAUG: o->augment = 0; break;
        case O_QUIET: o->quiet = 1; break;
        case O_NOPROG: o->progress = 0; break;
        case O_ADV: o->adv = optarg; break;
        case O_EPS: bad |= app_parse_fraction("--eps", optarg, 1, &o->eps); break;
        case O_STEP: bad |= app_parse_fraction("--step", optarg, 1, &o->step); break;
        case O_STEPS: bad |= app_parse_int("--steps", optarg, 0, 10000, &o->steps); break;
        case O_HELP: usage(); return APP_EXIT_OK;
        case O_VERSION: app_print_version(); return APP_EXIT_OK;
        default: return app_getopt_error(c, argv);
        }
    }
    int rc = app_parse_done(bad, argc, argv);
    if (rc >= 0)
        return rc;
    if (strcmp(o->schedule, "cosine") && strcmp(o->schedule, "step") &&
        strcmp(o->schedule, "constant"))
        return app_usage_error("--schedule: '%s' is not cosine, step or constant", o->schedule);
    ti_adv_kind kind;
    if (ti_adv_kind_parse(o->adv, &kind) != TI_OK)
        return app_usage_error("--adv: '%s' is not natural, pgd, trades or mixed", o->adv);
    if (app_model_refuse_onnx(o->model) >= 0)
        return APP_EXIT_USAGE;
    int known = 0;
    for (const char *const *a = ti_model_arch_names(); *a; a++)
        known |= strcmp(*a, o->model) == 0;
    if (!known)
        return app_usage_error("--model: unknown architecture '%s' (see --help)", o->model);
    return -1;
}

static ti_status make_schedule(ti_ctx *ctx, const opts *o, ti_schedule *s)
{
    if (!strcmp(o->schedule, "cosine"))
        return ti_schedule_cosine(ctx, s, o->lr, o->epochs, 0, 0);
    if (!strcmp(o->schedule, "step")) {
        double ms[2] = {0.5 * o->epochs, 0.75 * o->epochs};
        return ti_schedule_step(ctx, s, o->lr, 0.1f, ms[0] < ms[1] ? 2 : 0, ms);
    }
    return ti_schedule_constant(ctx, s, o->lr);
}

int main(int argc, char **argv)
{
    app_init(argv[0]);
    opts o = {.model = "smallcnn", .data = TI_DATA_DEFAULT_DIR, .schedule = "cosine",
              .epochs = 5, .batch = 128, .lr = 0.1f, .momentum = 0.9f, .wd = 5e-4f,
              .augment = -1, .progress = 1, .adv = "natural", .eps = 8.0f / 255,
              .step = 2.0f / 255, .steps = 10};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;

    ti_ctx *ctx = ti_ctx_new(o.seed, o.threads);
    if (!ctx) {
        app_error("out of memory");
        return APP_EXIT_FAIL;
    }
    ti_ctx_set_log(ctx, app_log, NULL);
    app_progress prog;
    app_progress_install(ctx, &prog, o.progress && !o.quiet, o.batch, "img");

    ti_dataset *train = NULL, *test = NULL;
    ti_model *m = NULL;
    ti_sgd *opt = NULL;
    ti_batcher *bt = NULL;
    ti_tape *tape = NULL;
    ti_jw *jw = NULL;
    ti_adv_trainer *adv = NULL;
    ti_train_hooks hooks = {0};
    ti_status s;
    rc = APP_EXIT_FAIL;
    double t_start = app_now();

    if ((s = ti_data_load_first(ctx, o.data, TI_SPLIT_TRAIN, o.train_count, &train)) != TI_OK ||
        (s = ti_data_load_first(ctx, o.data, TI_SPLIT_TEST, o.test_count, &test)) != TI_OK) {
        app_fail(ctx, s, "loading the data");
        goto done;
    }
    int augment = o.augment >= 0 ? o.augment : strcmp(train->name, "cifar10") == 0;
    ti_model_config cfg = {.C = train->C, .H = train->H, .W = train->W, .M = train->M};
    ti_sgd_params sp = {.lr = o.lr, .momentum = o.momentum, .weight_decay = o.wd,
                        .decay_bn_bias = 1};
    ti_schedule sched;
    if ((s = ti_model_new(ctx, o.model, &cfg, &m)) != TI_OK) {
        app_fail(ctx, s, "creating the model");
        goto done;
    }
    if ((s = ti_sgd_new(ctx, &sp, &opt)) != TI_OK || (s = ti_sgd_add_model(opt, m)) != TI_OK ||
        (s = make_schedule(ctx, &o, &sched)) != TI_OK ||
        (s = ti_batcher_new(ctx, train, o.batch, 1, augment, o.seed ^ 0x7261696eULL, &bt)) !=
            TI_OK) {
        app_fail(ctx, s, "setting up training");
        goto done;
    }
    /* adversarial training: libprune's adversary as the loop's inputs and loss hooks */
    ti_adv_params ap = ti_adv_params_default(TI_ADV_NATURAL);
    ti_adv_kind_parse(o.adv, &ap.kind);
    ap.eps = o.eps;
    ap.step = o.step;
    ap.steps = o.steps;
    ap.seed = o.seed ^ 0x616476ULL;
    if (ap.kind != TI_ADV_NATURAL) {
        ti_classifier view;
        if ((s = ti_model_classifier(m, o.batch, &view)) != TI_OK ||
            (s = ti_adv_trainer_new(ctx, m, &view, &ap, o.batch, &adv)) != TI_OK) {
            app_fail(ctx, s, "setting up adversarial training");
            goto done;
        }
        hooks = ti_adv_trainer_hooks(adv);
    }
    tape = ti_tape_new(ctx);
    jw = ti_jw_new();
    if (!tape || !jw) {
        app_error("out of memory");
        goto done;
    }
    if (!o.quiet)
        printf("%s on %s: %d train / %d test images %dx%dx%d, %zu parameters; SGD lr %g "
               "momentum %g wd %g, %s schedule, batch %d, %d epochs, %d threads%s\n",
               o.model, train->name, train->N, test->N, train->C, train->H, train->W,
               ti_model_count_trainable(m), o.lr, o.momentum, o.wd, o.schedule, o.batch,
               o.epochs, ti_ctx_threads(ctx), augment ? ", augmented" : "");
    if (!o.quiet && adv)
        printf("adversarial training: %s, eps %g, step %g, %d steps\n", o.adv, o.eps, o.step,
               o.steps);

    ti_jw_begin_object(jw);
    ti_jw_key(jw, "model");
    ti_jw_string(jw, o.model);
    ti_jw_key(jw, "data");
    ti_jw_string(jw, train->name);
    ti_jw_key(jw, "train_images");
    ti_jw_int(jw, train->N);
    ti_jw_key(jw, "test_images");
    ti_jw_int(jw, test->N);
    ti_jw_key(jw, "batch_size");
    ti_jw_int(jw, o.batch);
    ti_jw_key(jw, "lr");
    ti_jw_number(jw, o.lr);
    ti_jw_key(jw, "momentum");
    ti_jw_number(jw, o.momentum);
    ti_jw_key(jw, "weight_decay");
    ti_jw_number(jw, o.wd);
    ti_jw_key(jw, "schedule");
    ti_jw_string(jw, o.schedule);
    ti_jw_key(jw, "seed");
    ti_jw_int(jw, (long long)o.seed);
    ti_jw_key(jw, "threads");
    ti_jw_int(jw, ti_ctx_threads(ctx));
    ti_jw_key(jw, "adv");
    ti_jw_string(jw, o.adv);
    if (adv) {
        ti_jw_key(jw, "adv_eps");
        ti_jw_number(jw, o.eps);
        ti_jw_key(jw, "adv_step");
        ti_jw_number(jw, o.step);
        ti_jw_key(jw, "adv_steps");
        ti_jw_int(jw, o.steps);
    }
    ti_jw_key(jw, "epochs");
    ti_jw_begin_array(jw);

    ti_train_setup setup = {.model = m, .tape = tape, .opt = opt, .batcher = bt, .data = train,
                            .batch = o.batch, .schedule = &sched, .hooks = adv ? &hooks : NULL};
    double train_secs = 0, test_acc = 0;
    for (int e = 0; e < o.epochs; e++) {
        ti_train_stats ts;
        ti_eval_stats es;
        if ((s = ti_train_epoch(ctx, &setup, e, &ts)) != TI_OK) {
            app_progress_clear(&prog);
            app_fail(ctx, s, "training");
            goto done;
        }
        int eval_batch = o.batch < 256 ? 256 : o.batch;
        prog.scale = eval_batch;
        s = ti_evaluate(ctx, m, test, eval_batch, &es, NULL, NULL);
        prog.scale = o.batch;
        if (s != TI_OK) {
            app_progress_clear(&prog);
            app_fail(ctx, s, "evaluating");
            goto done;
        }
        train_secs += ts.seconds;
        test_acc = es.accuracy;
        if (!o.quiet) {
            printf("epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%%  %.1f s  %.0f img/s\n",
                   e + 1, o.epochs, ts.loss, 100 * ts.accuracy, 100 * es.accuracy,
                   ts.seconds + es.seconds, ts.images_per_s);
            fflush(stdout);
        }
        ti_jw_begin_object(jw);
        ti_jw_key(jw, "epoch");
        ti_jw_int(jw, e + 1);
        ti_jw_key(jw, "lr");
        ti_jw_number(jw, ts.last_lr);
        ti_jw_key(jw, "loss");
        ti_jw_number(jw, ts.loss);
        ti_jw_key(jw, "train_accuracy");
        ti_jw_number(jw, ts.accuracy);
        ti_jw_key(jw, "test_accuracy");
        ti_jw_number(jw, es.accuracy);
        ti_jw_key(jw, "test_loss");
        ti_jw_number(jw, es.loss);
        ti_jw_key(jw, "seconds");
        ti_jw_number(jw, ts.seconds + es.seconds);
        ti_jw_key(jw, "train_seconds");
        ti_jw_number(jw, ts.seconds);
        ti_jw_key(jw, "images_per_s");
        ti_jw_number(jw, ts.images_per_s);
        ti_jw_end_object(jw);
    }
    double total = app_now() - t_start;
    ti_jw_end_array(jw);
    ti_jw_key(jw, "test_accuracy");
    ti_jw_number(jw, test_acc);
    ti_jw_key(jw, "train_seconds");
    ti_jw_number(jw, train_secs);
    ti_jw_key(jw, "total_seconds");
    ti_jw_number(jw, total);
    ti_jw_end_object(jw);

    if (o.out && (s = ti_model_save(m, o.out)) != TI_OK) {
        app_fail(ctx, s, "saving the checkpoint");
        goto done;
    }
    if (o.json) {
        size_t len;
        const char *text = ti_jw_text(jw, &len);
        if (!text) {
            app_error("out of memory writing the JSON summary");
            goto done;
        }
        if ((s = ti_write_file_atomic(ctx, o.json, text, len)) != TI_OK) {
            app_fail(ctx, s, "writing the JSON summary");
            goto done;
        }
    }
    if (!o.quiet) {
        printf("test accuracy %.2f%% after %d epochs; training %.1f s, total %.1f s\n",
               100 * test_acc, o.epochs, train_secs, total);
        if (o.out)
            printf("weights written to %s\n", o.out);
    }
    rc = APP_EXIT_OK;
done:
    ti_jw_free(jw);
    ti_adv_trainer_free(adv);
    ti_tape_free(tape);
    ti_batcher_free(bt);
    ti_sgd_free(opt);
    ti_model_free(m);
    ti_dataset_free(test);
    ti_dataset_free(train);
    ti_ctx_free(ctx);
    return rc;
}
