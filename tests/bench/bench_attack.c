/* Attack benchmark: AutoAttack standard (L-inf, eps 0.1) on the first 200 Fashion-MNIST test
 * images of a PGD-trained small CNN, the setting in which the reference PyTorch AutoAttack
 * takes 219 s on this machine with 2 threads (docs/PERFORMANCE.md#attacks). Prints clean accuracy, PGD-20 and
 * per-attack robust accuracy and times, and checks that AutoAttack is never weaker than PGD-20.
 *
 * The model is trained once with the library (PGD-AT of Madry et al.: eps 0.1, step 0.025,
 * 10 steps, random start; SGD with a cosine schedule) and cached as safetensors next to the
 * build's bin/ directory. Usage: bench_attack [out.json]  (default <build>/bench_attack.json).
 * Environment: THINICE_THREADS (2), THINICE_DATA (the Debian Fashion-MNIST directory),
 * THINICE_BENCH_MODEL (the cached model's path), THINICE_BENCH_EPOCHS (2),
 * THINICE_BENCH_TRAIN (training images, 15000), THINICE_BENCH_N (test images, 200). */
#include <libgen.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "thinice/advtrain.h"
#include "thinice/eval.h"
#include "thinice/data.h"
#include "thinice/fileio.h"
#include "thinice/json.h"
#include "thinice/model.h"
#include "thinice/pgd.h"
#include "thinice/train.h"

#define EPS 0.1f
#define BATCH 128

/* CPU seconds (user + system, all threads) of this process: on a shared machine the wall
 * time also counts the other processes; with 2 threads, an idle machine's wall time lies
 * between cpu/2 and cpu. */
static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

static void log_cb(void *user, int level, const char *msg)
{
    (void)user;
    if (level > 0) /* the per-chunk lines of the ensemble are level 0: keep the output short */
        fprintf(stderr, "bench_attack: %s\n", msg);
}

static void say_epoch(void *user, const ti_adv_train_epoch *e)
{
    (void)user;
    printf("  PGD-AT epoch %d/%d: loss %.4f, train accuracy (adversarial) %.2f%%, %.0f s\n",
           e->epoch, e->epochs, e->train.loss, 100 * e->train.accuracy, e->train.seconds);
    fflush(stdout);
}

/* PGD adversarial training of m on the first n_train images of train. */
static ti_status train_model(ti_ctx *ctx, ti_model *m, const ti_dataset *all, int n_train,
                             int epochs)
{
    ti_dataset *train = NULL;
    ti_adv_train_params p = ti_adv_train_params_default();
    p.adv = ti_adv_params_default(TI_ADV_PGD);
    p.adv.eps = EPS;
    p.adv.step = 0.025f;
    p.adv.steps = 10;
    p.adv.seed = 1;
    p.epochs = epochs;
    p.batch = BATCH;
    p.lr = 0.05f;
    p.seed = 7;
    p.on_epoch = say_epoch;
    ti_status s = ti_dataset_slice(ctx, all, 0, n_train < all->N ? n_train : all->N, &train);
    if (s == TI_OK)
        s = ti_adv_train_run(ctx, m, train, NULL, &p, NULL);
    ti_dataset_free(train);
    return s;
}

int main(int argc, char **argv)
{
    bu_args(argc, argv, 1, "[out.json]   (default <build>/bench_attack.json)");
    int threads = env_int("THINICE_THREADS", 2), N = env_int("THINICE_BENCH_N", 200);
    const char *data = getenv("THINICE_DATA") ? getenv("THINICE_DATA") : TI_DATA_DEFAULT_DIR;
    char bindir[4096], model_path[4096], json_path[4096];
    snprintf(bindir, sizeof bindir, "%s", argv[0]);
    char *dir = dirname(bindir); /* <build>/bin */
    snprintf(model_path, sizeof model_path, "%s/../fmnist_smallcnn_pgdat.safetensors", dir);
    if (getenv("THINICE_BENCH_MODEL"))
        snprintf(model_path, sizeof model_path, "%s", getenv("THINICE_BENCH_MODEL"));
    snprintf(json_path, sizeof json_path, "%s", argc > 1 ? argv[1] : "");
    if (argc <= 1)
        snprintf(json_path, sizeof json_path, "%s/../bench_attack.json", dir);

    ti_ctx *ctx = ti_ctx_new(0, threads);
    if (!ctx)
        return 1;
    ti_ctx_set_log(ctx, log_cb, NULL);
    ti_dataset *train = NULL, *test = NULL, *sub = NULL;
    ti_model *m = NULL;
    ti_eval *res = NULL;
    ti_eval_summary S;
    float *xadv = NULL;
    int rc = 1;
    ti_status s = ti_data_load(ctx, data, TI_SPLIT_TEST, &test);
    if (s != TI_OK) {
        printf("bench_attack: skipped, no Fashion-MNIST (%s)\n", ti_ctx_errmsg(ctx));
        ti_ctx_free(ctx);
        return 0;
    }
    ti_model_config cfg = {.C = test->C, .H = test->H, .W = test->W, .M = test->M};
    if ((s = ti_model_new(ctx, "smallcnn", &cfg, &m)) != TI_OK)
        goto fail;
    if (access(model_path, R_OK) == 0) {
        if ((s = ti_model_load(m, model_path)) != TI_OK)
            goto fail;
        printf("model: %s (cached)\n", model_path);
    } else {
        int epochs = env_int("THINICE_BENCH_EPOCHS", 2), ntr = env_int("THINICE_BENCH_TRAIN", 15000);
        printf("model: training a PGD-AT small CNN (eps %.2f, step 0.025, 10 steps) on %d "
               "Fashion-MNIST images for %d epochs, %d threads\n", (double)EPS, ntr, epochs,
               threads);
        double t0 = ti_clock();
        if ((s = ti_data_load(ctx, data, TI_SPLIT_TRAIN, &train)) != TI_OK ||
            (s = train_model(ctx, m, train, ntr, epochs)) != TI_OK ||
            (s = ti_model_save(m, model_path)) != TI_OK)
            goto fail;
        printf("model: trained in %.0f s, saved to %s\n", ti_clock() - t0, model_path);
    }
    if (N > test->N)
        N = test->N;
    if ((s = ti_dataset_slice(ctx, test, 0, N, &sub)) != TI_OK)
        goto fail;
    ti_classifier f;
    if ((s = ti_model_classifier(m, 256, &f)) != TI_OK)
        goto fail;
    size_t D = ti_classifier_dim(&f);
    xadv = malloc((size_t)N * D * sizeof *xadv);
    int *pred = malloc((size_t)N * sizeof *pred);
    float *logits = malloc((size_t)N * f.M * sizeof *logits);
    if (!xadv || !pred || !logits) {
        free(pred);
        free(logits);
        s = TI_ERR_NOMEM;
        goto fail;
    }

    /* PGD-20 (step eps/4, random start) on the same samples: the bar AutoAttack must clear */
    ti_pgd_params pp = ti_pgd_params_default();
    pp.eps = EPS;
    pp.step = EPS / 4;
    pp.steps = 20;
    double t0 = ti_clock();
    s = ti_atk_pgd(ctx, &f, &pp, sub->x, sub->y, N, xadv, NULL);
    if (s == TI_OK)
        s = f.forward(f.self, xadv, N, logits);
    double t_pgd = ti_clock() - t0;
    int pgd_robust = 0;
    if (s == TI_OK) {
        ti_argmax_rows(logits, N, f.M, pred);
        for (int i = 0; i < N; i++)
            pgd_robust += pred[i] == sub->y[i];
    }
    free(pred);
    free(logits);
    if (s != TI_OK)
        goto fail;

    ti_eval_params ep;
    if ((s = ti_eval_params_init(ctx, "standard", TI_NORM_LINF, EPS, &ep)) != TI_OK ||
        (s = ti_eval_new(ctx, &ep, 0, N, &res)) != TI_OK)
        goto fail;
    t0 = ti_clock();
    double c0 = cpu_now();
    if ((s = ti_eval_run(ctx, res, &f, sub->x, sub->y, xadv, NULL)) != TI_OK ||
        (s = ti_eval_summarize(ctx, res, &S)) != TI_OK)
        goto fail;
    double t_aa = ti_clock() - t0, cpu_aa = cpu_now() - c0;
    double load[1] = {0};
    getloadavg(load, 1);

    printf("AutoAttack standard, L-inf eps %.2f, first %d Fashion-MNIST test images, %d threads\n",
           (double)EPS, N, ti_ctx_threads(ctx));
    printf("  clean accuracy   %6.2f%%  (%.2f s)\n", 100 * S.clean_acc, res->seconds_clean);
    printf("  PGD-20           %6.2f%%  (%.2f s)\n", 100.0 * pgd_robust / N, t_pgd);
    for (int a = 0; a < res->n_attacks; a++)
        printf("  after %-10s %6.2f%%  (%.2f s)\n", res->names[a],
               100 * S.robust_acc[a], res->seconds[a]);
    printf("  total %.1f s wall, %.1f s CPU (load average %.1f on this machine); reference PyTorch "
           "AutoAttack: 219 s wall, so %.1fx faster by wall time\n", t_aa, cpu_aa, load[0],
           219.0 / t_aa);
    double robust = S.robust_final;
    int ok = robust <= (double)pgd_robust / N + 1e-12;
    printf("  check: AutoAttack robust accuracy <= PGD-20's: %s\n", ok ? "yes" : "NO");

    ti_jw *jw = ti_jw_new();
    if (jw) {
        ti_jw_begin_object(jw);
        ti_jw_key(jw, "model");
        ti_jw_string(jw, model_path);
        ti_jw_key(jw, "samples");
        ti_jw_int(jw, N);
        ti_jw_key(jw, "eps");
        ti_jw_number(jw, EPS);
        ti_jw_key(jw, "threads");
        ti_jw_int(jw, ti_ctx_threads(ctx));
        ti_jw_key(jw, "clean_accuracy");
        ti_jw_number(jw, S.clean_acc);
        ti_jw_key(jw, "pgd20_accuracy");
        ti_jw_number(jw, (double)pgd_robust / N);
        ti_jw_key(jw, "pgd20_seconds");
        ti_jw_number(jw, t_pgd);
        ti_jw_key(jw, "attacks");
        ti_jw_begin_array(jw);
        for (int a = 0; a < res->n_attacks; a++) {
            ti_jw_begin_object(jw);
            ti_jw_key(jw, "name");
            ti_jw_string(jw, res->names[a]);
            ti_jw_key(jw, "robust_accuracy");
            ti_jw_number(jw, S.robust_acc[a]);
            ti_jw_key(jw, "seconds");
            ti_jw_number(jw, res->seconds[a]);
            ti_jw_end_object(jw);
        }
        ti_jw_end_array(jw);
        ti_jw_key(jw, "total_seconds");
        ti_jw_number(jw, t_aa);
        ti_jw_key(jw, "total_cpu_seconds");
        ti_jw_number(jw, cpu_aa);
        ti_jw_key(jw, "load_average");
        ti_jw_number(jw, load[0]);
        ti_jw_key(jw, "reference_seconds");
        ti_jw_number(jw, 219.0);
        ti_jw_end_object(jw);
        size_t len;
        const char *txt = ti_jw_text(jw, &len);
        if (ti_write_file_atomic(ctx, json_path, txt, len) == TI_OK)
            printf("  summary: %s\n", json_path);
        ti_jw_free(jw);
    }
    rc = ok ? 0 : 1;
    goto done;
fail:
    fprintf(stderr, "bench_attack: %s\n", ti_ctx_errmsg(ctx)[0] ? ti_ctx_errmsg(ctx)
                                                              : ti_status_str(s));
done:
    free(xadv);
    ti_eval_free(res);
    ti_dataset_free(sub);
    ti_dataset_free(train);
    ti_dataset_free(test);
    ti_model_free(m);
    ti_ctx_free(ctx);
    return rc;
}
