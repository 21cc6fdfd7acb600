/* thinice-train: trains a model of the zoo on Fashion-MNIST or CIFAR-10, naturally or
 * adversarially (libprune's ti_adv_train_run), prints per-epoch loss, accuracy and time,
 * and saves the checkpoint (safetensors) and a JSON summary. Thin: options, library calls,
 * printing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "app_procs.h"
#include "app_model.h"
#include "thinice/advtrain.h"
#include "thinice/fileio.h"

typedef struct opts {
    const char *model, *data, *out, *json, *schedule, *adv;
    int epochs, batch, threads, train_count, test_count, augment, quiet, progress, steps;
    float lr, momentum, wd, eps, step; /* eps, step < 0: the data set's defaults */
    uint64_t seed;
} opts;

static void usage(void)
{
    printf("Usage: %s [OPTION]...\n"
           "Train a model on Fashion-MNIST or CIFAR-10 with SGD, naturally or adversarially;\n"
           "print per-epoch loss, test accuracy and time; save the weights as safetensors.\n\n"
           "  --model NAME          architecture (default smallcnn; %s)\n"
           "  --data DIR            data directory (default %s)\n"
           "  --epochs N            epochs (default 5)\n"
           "  --batch-size N        mini-batch size (default 128)\n"
           "  --lr X                initial learning rate (default 0.1)\n"
           "  --momentum X          SGD momentum (default 0.9)\n"
           "  --weight-decay X      weight decay (default 5e-4)\n"
           "  --schedule NAME       cosine (default), step (x0.1 at 50%% and 75%%) or constant\n"
           "  --adv KIND            natural (default), pgd (Madry PGD-AT), trades (beta 6) or\n"
           "                        mixed (1/2 clean + 1/2 PGD cross-entropy)\n"
           "  --eps X               the training adversary's L-inf radius (default 0.1 on\n"
           "                        Fashion-MNIST, 8/255 on CIFAR-10; 8/255 style fractions ok)\n"
           "  --step X              its step size (default 0.025, or 2/255 on CIFAR-10)\n"
           "  --steps N             its steps (default 10)\n"
           "  --seed N              random seed (default 0)\n"
           "  --threads N           threads, 0 = all cores (default 0)\n"
           "  -o, --output FILE     write the trained weights (safetensors, atomically)\n"
           "  --json FILE           write a JSON summary (per epoch: loss, train and test\n"
           "                        accuracy, seconds, images/s)\n"
           "  --train-count N       use only the first N training images\n"
           "  --test-count N        use only the first N test images\n"
           "  --augment, --no-augment  pad-4 random crop and flip (default: on for CIFAR-10,\n"
           "                        off for Fashion-MNIST)\n"
           "  --quiet               print nothing but errors\n"
           "  --no-progress         no progress on stderr\n"
           "  -h, --help            this text\n"
           "  --version             version\n\n"
           "Exit status: 0 success, 1 runtime failure (e.g. missing or corrupt data), 2 bad "
           "usage.\n",
           app_prog, app_model_names(), TI_DATA_DEFAULT_DIR);
}

enum { O_MODEL = 256, O_DATA, O_EPOCHS, O_BATCH, O_LR, O_MOM, O_WD, O_SCHED, O_SEED, O_THREADS,
       O_JSON, O_TRAINC, O_TESTC, O_AUG, O_NOAUG, O_QUIET, O_NOPROG, O_VERSION, O_ADV, O_EPS,
       O_STEP, O_STEPS };

static int parse_one(int c, opts *o)
{
    switch (c) {
    case O_MODEL: o->model = optarg; return 0;
    case O_DATA: o->data = optarg; return 0;
    case O_EPOCHS: return app_parse_int("--epochs", optarg, 1, 100000, &o->epochs);
    case O_BATCH: return app_parse_int("--batch-size", optarg, 1, 65536, &o->batch);
    case O_LR: return app_parse_float("--lr", optarg, 0, 1e3, &o->lr);
    case O_MOM: return app_parse_float("--momentum", optarg, 0, 0.999999, &o->momentum);
    case O_WD: return app_parse_float("--weight-decay", optarg, 0, 1, &o->wd);
    case O_SCHED: o->schedule = optarg; return 0;
    case O_SEED: return app_parse_u64("--seed", optarg, &o->seed);
    case O_THREADS: return app_parse_int("--threads", optarg, 0, 1024, &o->threads);
    case 'o': o->out = optarg; return 0;
    case O_JSON: o->json = optarg; return 0;
    case O_TRAINC: return app_parse_int("--train-count", optarg, 1, 1 << 30, &o->train_count);
    case O_TESTC: return app_parse_int("--test-count", optarg, 1, 1 << 30, &o->test_count);
    case O_AUG: o->augment = 1; return 0;
    case O_NOAUG: o->augment = 0; return 0;
    case O_QUIET: o->quiet = 1; return 0;
    case O_NOPROG: o->progress = 0; return 0;
    case O_ADV: o->adv = optarg; return 0;
    case O_EPS: return app_parse_fraction("--eps", optarg, 1, &o->eps);
    case O_STEP: return app_parse_fraction("--step", optarg, 1, &o->step);
    case O_STEPS: return app_parse_int("--steps", optarg, 0, 10000, &o->steps);
    }
    return -1;
}

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
        {"no-progress", no_argument, 0, O_NOPROG}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, O_VERSION}, {"adv", required_argument, 0, O_ADV},
        {"eps", required_argument, 0, O_EPS}, {"step", required_argument, 0, O_STEP},
        {"steps", required_argument, 0, O_STEPS}, {0, 0, 0, 0}};
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
    ti_lr_schedule sc;
    ti_adv_kind kind;
    if (ti_lr_schedule_parse(o->schedule, &sc) != TI_OK)
        return app_usage_error("--schedule: '%s' is not cosine, step or constant", o->schedule);
    if (ti_adv_kind_parse(o->adv, &kind) != TI_OK)
        return app_usage_error("--adv: '%s' is not natural, pgd, trades or mixed", o->adv);
    if (app_model_refuse_onnx(o->model) >= 0)
        return APP_EXIT_USAGE;
    if (!app_model_known(o->model))
        return app_usage_error("--model: unknown architecture '%s' (one of %s)", o->model,
                               app_model_names());
    return -1;
}

/* The run's settings from the options and the data set's defaults. */
static ti_adv_train_params train_params(const opts *o, const ti_dataset *train)
{
    ti_adv_train_params p = ti_adv_train_params_default();
    ti_adv_kind kind;
    ti_adv_kind_parse(o->adv, &kind);
    p.adv = ti_adv_params_for_data(kind, train);
    p.adv.eps = o->eps >= 0 ? o->eps : p.adv.eps;
    p.adv.step = o->step >= 0 ? o->step : p.adv.step;
    p.adv.steps = o->steps;
    p.adv.seed = o->seed ^ 0x616476ULL;
    p.epochs = o->epochs;
    p.batch = o->batch;
    p.lr = o->lr;
    p.momentum = o->momentum;
    p.weight_decay = o->wd;
    ti_lr_schedule_parse(o->schedule, &p.schedule);
    p.augment = o->augment >= 0 ? o->augment : strcmp(train->name, "cifar10") == 0;
    p.eval_batch = o->batch < 256 ? 256 : o->batch;
    p.seed = o->seed ^ 0x7261696eULL;
    return p;
}

/* What the per-epoch callback needs: the options, the JSON array it fills, the progress. */
typedef struct epoch_out {
    const opts *o;
    ti_jw *w;
    app_progress *pg;
    double comm0; /* seconds in the gradient sums before this epoch (MPI) */
} epoch_out;

static void on_epoch(void *user, const ti_adv_train_epoch *e)
{
    epoch_out *out = user;
    double comm = app_procs_comm_seconds() - out->comm0, rate = e->train.images_per_s;
    out->comm0 += comm;
    if (!out->o->quiet) {
        app_progress_clear(out->pg);
        printf("epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%%  %.1f s  %.0f img/s",
               e->epoch, e->epochs, e->train.loss, 100 * e->train.accuracy,
               100 * e->test.accuracy, e->train.seconds + e->test.seconds, rate);
        if (app_procs_size() > 1)
            printf("  (%d processes; gradient sums %.1f s, %.1f%% of training)",
                   app_procs_size(), comm, 100 * comm / e->train.seconds);
        printf("\n");
        fflush(stdout);
    }
    ti_jw *w = out->w;
    ti_jw_begin_object(w);
    ti_jw_key(w, "epoch");
    ti_jw_int(w, e->epoch);
    ti_jw_key(w, "lr");
    ti_jw_float(w, e->train.last_lr);
    ti_jw_key(w, "loss");
    ti_jw_number(w, e->train.loss);
    ti_jw_key(w, "train_accuracy");
    ti_jw_number(w, e->train.accuracy);
    ti_jw_key(w, "test_accuracy");
    ti_jw_number(w, e->test.accuracy);
    ti_jw_key(w, "test_loss");
    ti_jw_number(w, e->test.loss);
    ti_jw_key(w, "seconds");
    ti_jw_number(w, e->train.seconds + e->test.seconds);
    ti_jw_key(w, "images_per_s");
    ti_jw_number(w, rate);
    ti_jw_key(w, "comm_seconds");
    ti_jw_number(w, comm);
    ti_jw_end_object(w);
}

static void json_start(ti_jw *w, const opts *o, const ti_dataset *train,
                       const ti_dataset *test, const ti_adv_train_params *p, int threads)
{
    ti_jw_begin_object(w);
    app_json_program(w);
    ti_jw_key(w, "model");
    ti_jw_string(w, o->model);
    ti_jw_key(w, "data");
    ti_jw_string(w, train->name);
    ti_jw_key(w, "train_images");
    ti_jw_int(w, train->N);
    ti_jw_key(w, "test_images");
    ti_jw_int(w, test->N);
    ti_jw_key(w, "batch_size");
    ti_jw_int(w, p->batch);
    ti_jw_key(w, "lr");
    ti_jw_float(w, p->lr);
    ti_jw_key(w, "momentum");
    ti_jw_float(w, p->momentum);
    ti_jw_key(w, "weight_decay");
    ti_jw_float(w, p->weight_decay);
    ti_jw_key(w, "schedule");
    ti_jw_string(w, ti_lr_schedule_name(p->schedule));
    ti_jw_key(w, "seed");
    ti_jw_int(w, (long long)o->seed);
    ti_jw_key(w, "processes");
    ti_jw_int(w, app_procs_size());
    ti_jw_key(w, "threads");
    ti_jw_int(w, threads);
    ti_jw_key(w, "adv");
    ti_jw_string(w, ti_adv_kind_name(p->adv.kind));
    if (p->adv.kind != TI_ADV_NATURAL) {
        ti_jw_key(w, "adv_eps");
        ti_jw_float(w, p->adv.eps);
        ti_jw_key(w, "adv_step");
        ti_jw_float(w, p->adv.step);
        ti_jw_key(w, "adv_steps");
        ti_jw_int(w, p->adv.steps);
    }
    ti_jw_key(w, "epochs");
    ti_jw_begin_array(w);
}

static ti_status train(ti_ctx *ctx, const opts *o, app_progress *pg, ti_jw *w)
{
    ti_dataset *tr = NULL, *te = NULL;
    ti_model *m = NULL;
    double t0 = ti_clock();
    ti_status s = ti_data_load_range(ctx, o->data, TI_SPLIT_TRAIN, 0, o->train_count, &tr);
    if (s == TI_OK)
        s = ti_data_load_range(ctx, o->data, TI_SPLIT_TEST, 0, o->test_count, &te);
    if (s == TI_OK)
        s = app_model_open_for(ctx, o->model, NULL, tr, &m);
    if (s != TI_OK)
        goto done;
    ti_adv_train_params p = train_params(o, tr);
    epoch_out out = {o, w, pg, app_procs_comm_seconds()};
    p.reduce = app_procs_reducer();
    p.on_epoch = on_epoch;
    p.user = &out;
    if (!o->quiet) {
        printf("%s on %s: %d train / %d test images %dx%dx%d, %zu parameters; SGD lr %g "
               "momentum %g wd %g, %s schedule, batch %d, %d epochs, %d processes x %d threads%s\n",
               o->model, tr->name, tr->N, te->N, tr->C, tr->H, tr->W,
               ti_model_count_trainable(m), o->lr, o->momentum, o->wd, o->schedule, o->batch,
               o->epochs, app_procs_size(), ti_ctx_threads(ctx),
               p.augment ? ", augmented" : "");
        if (p.adv.kind != TI_ADV_NATURAL)
            printf("adversarial training: %s, eps %g, step %g, %d steps\n", o->adv,
                   (double)p.adv.eps, (double)p.adv.step, p.adv.steps);
        fflush(stdout);
    }
    json_start(w, o, tr, te, &p, ti_ctx_threads(ctx));
    ti_adv_train_epoch last = {0};
    s = ti_adv_train_run(ctx, m, tr, te, &p, &last);
    app_progress_clear(pg);
    ti_jw_end_array(w);
    ti_jw_key(w, "test_accuracy");
    ti_jw_number(w, last.test.accuracy);
    ti_jw_key(w, "total_seconds");
    ti_jw_number(w, ti_clock() - t0);
    ti_jw_end_object(w);
    if (s == TI_OK && o->out && app_procs_rank() == 0)
        s = ti_model_save(m, o->out);
    if (s == TI_OK && !o->quiet)
        printf("test accuracy %.2f%% after %d epochs, %.1f s%s%s\n", 100 * last.test.accuracy,
               o->epochs, ti_clock() - t0, o->out ? "; weights written to " : "",
               o->out ? o->out : "");
done:
    ti_model_free(m);
    ti_dataset_free(te);
    ti_dataset_free(tr);
    return s;
}

int main(int argc, char **argv)
{
    app_procs_init(&argc, &argv);
    app_init(argv[0]);
    opts o = {.model = "smallcnn", .data = TI_DATA_DEFAULT_DIR, .schedule = "cosine",
              .epochs = 5, .batch = 128, .lr = 0.1f, .momentum = 0.9f, .wd = 5e-4f,
              .augment = -1, .progress = 1, .adv = "natural", .eps = -1, .step = -1,
              .steps = 10};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return app_procs_exit(rc);
    if (app_procs_rank() != 0) /* rank 0 speaks for the job; errors always pass */
        o.quiet = 1, o.progress = 0;
    ti_ctx *ctx = ti_ctx_new(o.seed, app_procs_threads(o.threads));
    ti_jw *w = ti_jw_new();
    if (!ctx || !w)
        return app_procs_exit(app_fail(NULL, TI_ERR_NOMEM, "setting up"));
    app_progress pg;
    app_logger lg = {o.quiet, &pg};
    ti_ctx_set_log(ctx, app_logger_cb, &lg);
    app_progress_install(ctx, &pg, o.progress && !o.quiet, 1, "img");
    rc = APP_EXIT_FAIL;
    if (!app_check_output(ctx, "--output", o.out) && !app_check_output(ctx, "--json", o.json)) {
        ti_status s = train(ctx, &o, &pg, w);
        if (s == TI_OK && o.json && app_procs_rank() == 0)
            s = app_write_json(ctx, w, o.json);
        rc = s == TI_OK ? APP_EXIT_OK : app_fail(ctx, s, "training");
    }
    ti_jw_free(w);
    ti_ctx_free(ctx);
    return app_procs_exit(rc);
}
