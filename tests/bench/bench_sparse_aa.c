/* AutoAttack standard on a 95%-pruned model, executed densely and sparsely (ti_model_set_sparse
 * off against auto), with the per-sample results compared (docs/PERFORMANCE.md, "Sparse
 * models"): clean logits must agree to 1e-5 relative (to each sample's largest |logit|),
 * and the program fails otherwise; where an attack's outcome differs the
 * sample is listed with the dense model's top-2 logit gap at its adversarial point (a near
 * tie that a rounding difference of the two executions can flip).
 * The model: the small CNN trained naturally on Fashion-MNIST for one epoch, pruned per layer
 * to 95% by magnitude (masks) and fine-tuned one epoch with the masks (about half a minute).
 * Usage: bench_sparse_aa [out.json]  (default build/bench_sparse_aa.json)
 * Environment: THINICE_THREADS (2), THINICE_DATA (Fashion-MNIST), THINICE_BENCH_N (test
 * images, 50), THINICE_BENCH_EPS (L-inf radius, 0.05), THINICE_BENCH_TRAIN (12000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "thinice/eval.h"
#include "thinice/data.h"
#include "thinice/json.h"
#include "thinice/model.h"
#include "thinice/optim.h"
#include "thinice/prune.h"
#include "thinice/train.h"

static double env_num(const char *name, double dflt)
{
    const char *s = getenv(name);
    return s && atof(s) > 0 ? atof(s) : dflt;
}

/* One epoch of plain SGD (lr 0.05, momentum 0.9, cosine) on train. */
static ti_status train_epoch(ti_ctx *ctx, ti_model *m, const ti_dataset *train)
{
    ti_tape *tape = ti_tape_new(ctx);
    ti_batcher *bt = NULL;
    ti_sgd *opt = NULL;
    ti_schedule sched;
    ti_sgd_params sp = {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f, .decay_bn_bias = 1};
    ti_status s = tape ? TI_OK : TI_ERR_NOMEM;
    if (s == TI_OK)
        s = ti_batcher_new(ctx, train, 128, 1, 0, 3, &bt);
    if (s == TI_OK)
        s = ti_sgd_new(ctx, &sp, &opt);
    if (s == TI_OK)
        s = ti_sgd_add_model(opt, m);
    if (s == TI_OK)
        s = ti_schedule_cosine(ctx, &sched, sp.lr, 1, 0, 0);
    ti_train_setup setup = {.model = m, .tape = tape, .opt = opt, .batcher = bt, .data = train,
                            .batch = 128, .schedule = &sched};
    ti_train_stats ts;
    if (s == TI_OK)
        s = ti_train_epoch(ctx, &setup, 0, &ts);
    ti_sgd_free(opt);
    ti_batcher_free(bt);
    ti_tape_free(tape);
    return s;
}

/* Every conv and linear weight keeps its 5% largest magnitudes (a mask each). */
static ti_status prune95(ti_model *m)
{
    for (int i = 0; i < ti_model_nparams(m); i++) {
        ti_param *p = ti_model_param(m, i);
        if (p->kind != TI_PARAM_WEIGHT)
            continue;
        float *mask = malloc(p->t.size * sizeof *mask);
        ti_status s = mask ? ti_prune_topk_mask(p->t.data, p->t.size,
                                                ti_prune_keep_count(p->t.size, 0.95), mask, NULL)
                           : TI_ERR_NOMEM;
        if (s == TI_OK)
            s = ti_model_set_mask(m, p, mask);
        free(mask);
        if (s != TI_OK)
            return s;
    }
    return TI_OK;
}

static double top2_gap(const float *z, int M)
{
    float a = -1e30f, b = -1e30f;
    for (int k = 0; k < M; k++) {
        if (z[k] > a) {
            b = a;
            a = z[k];
        } else if (z[k] > b) {
            b = z[k];
        }
    }
    return (double)a - b;
}

/* The largest over samples of max_k |a - b| / max_k |b|: each sample's logits (N, M)
 * relative to their own scale. */
static double max_rel(const float *a, const float *b, int N, int M)
{
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double d = 0, s = 1e-30;
        for (int k = 0; k < M; k++) {
            double e = (double)a[i * M + k] - b[i * M + k], v = b[i * M + k];
            d = (e < 0 ? -e : e) > d ? (e < 0 ? -e : e) : d;
            s = (v < 0 ? -v : v) > s ? (v < 0 ? -v : v) : s;
        }
        worst = d / s > worst ? d / s : worst;
    }
    return worst;
}

int main(int argc, char **argv)
{
    bu_args(argc, argv, 1, "[out.json]   (default build/bench_sparse_aa.json)");
    const char *out = argc > 1 ? argv[1] : "build/bench_sparse_aa.json";
    const char *data = getenv("THINICE_DATA") ? getenv("THINICE_DATA") : TI_DATA_DEFAULT_DIR;
    int threads = (int)env_num("THINICE_THREADS", 2), N = (int)env_num("THINICE_BENCH_N", 50);
    int ntrain = (int)env_num("THINICE_BENCH_TRAIN", 12000);
    float eps = (float)env_num("THINICE_BENCH_EPS", 0.05);
    ti_ctx *ctx = ti_ctx_new(5, threads);
    ti_dataset *all = NULL, *train = NULL, *test = NULL, *sub = NULL;
    ti_model *m = NULL;
    if (!ctx)
        return 1;
    if (ti_data_load(ctx, data, TI_SPLIT_TEST, &test) != TI_OK) {
        printf("bench_sparse_aa: skipped, no Fashion-MNIST (%s)\n", ti_ctx_errmsg(ctx));
        ti_ctx_free(ctx);
        return 0;
    }
    ti_model_config cfg = {.C = test->C, .H = test->H, .W = test->W, .M = test->M};
    double t0 = ti_clock();
    ti_status s = ti_data_load(ctx, data, TI_SPLIT_TRAIN, &all);
    if (s == TI_OK)
        s = ti_dataset_slice(ctx, all, 0, ntrain < all->N ? ntrain : all->N, &train);
    if (s == TI_OK)
        s = ti_model_new(ctx, "smallcnn", &cfg, &m);
    if (s == TI_OK)
        s = train_epoch(ctx, m, train);
    if (s == TI_OK)
        s = prune95(m);
    if (s == TI_OK)
        s = train_epoch(ctx, m, train);
    if (s == TI_OK)
        s = ti_dataset_slice(ctx, test, 0, N < test->N ? N : test->N, &sub);
    if (s != TI_OK) {
        fprintf(stderr, "bench_sparse_aa: %s\n", ti_ctx_errmsg(ctx));
        return 1;
    }
    N = sub->N;
    printf("small CNN, Fashion-MNIST: 1 epoch, pruned per layer to %.1f%% zeros, 1 epoch "
           "fine-tuned (%.0f s); AutoAttack standard L-inf eps %.3g on %d test images, %d "
           "threads\n",
           100 * ti_model_sparsity(m), ti_clock() - t0, (double)eps, N, threads);
    ti_classifier f;
    ti_eval_params ep;
    if ((s = ti_model_classifier(m, 250, &f)) != TI_OK ||
        (s = ti_eval_params_init(ctx, "standard", TI_NORM_LINF, eps, &ep)) != TI_OK) {
        fprintf(stderr, "bench_sparse_aa: %s\n", ti_ctx_errmsg(ctx));
        return 1;
    }
    size_t D = ti_classifier_dim(&f);
    int M = f.M;
    float *xadv[2], *clean[2], *at_dense_adv[2];
    ti_eval *res[2] = {NULL, NULL};
    ti_eval_summary sum[2];
    double secs[2];
    int sparse_layers = 0, layers = 0;
    for (int v = 0; v < 2; v++) { /* 0: dense, 1: sparse */
        xadv[v] = malloc((size_t)N * D * sizeof(float));
        clean[v] = malloc((size_t)N * M * sizeof(float));
        at_dense_adv[v] = malloc((size_t)N * M * sizeof(float));
        ti_model_set_sparse(m, v ? TI_SPARSE_AUTO : TI_SPARSE_OFF);
        if ((s = f.forward(f.self, sub->x, N, clean[v])) != TI_OK ||
            (s = ti_eval_new(ctx, &ep, 0, N, &res[v])) != TI_OK)
            break;
        if (v)
            ti_model_sparse_layers(m, &sparse_layers, &layers);
        double t = ti_clock();
        s = ti_eval_run(ctx, res[v], &f, sub->x, sub->y, xadv[v], NULL);
        secs[v] = ti_clock() - t;
        if (s != TI_OK || (s = ti_eval_summarize(ctx, res[v], &sum[v])) != TI_OK)
            break;
        printf("%-6s execution: clean %.1f%%, robust %.1f%%, %.1f s\n", v ? "sparse" : "dense",
               100 * sum[v].clean_acc, 100 * sum[v].robust_final, secs[v]);
        fflush(stdout);
    }
    if (s != TI_OK) {
        fprintf(stderr, "bench_sparse_aa: %s\n", ti_ctx_errmsg(ctx));
        return 1;
    }
    /* both executions at the dense run's adversarial points */
    for (int v = 0; v < 2; v++) {
        ti_model_set_sparse(m, v ? TI_SPARSE_AUTO : TI_SPARSE_OFF);
        if (f.forward(f.self, xadv[0], N, at_dense_adv[v]) != TI_OK)
            return 1;
    }
    double rel_clean = max_rel(clean[1], clean[0], N, M);
    double rel_adv = max_rel(at_dense_adv[1], at_dense_adv[0], N, M);
    int differ = 0;
    for (int i = 0; i < N; i++) {
        const ti_eval_sample *a = &res[0]->samples[i], *b = &res[1]->samples[i];
        if (a->clean_pred == b->clean_pred && a->adv_pred == b->adv_pred && a->attack == b->attack)
            continue;
        differ++;
        printf("  sample %d differs: dense attack %d -> class %d, sparse attack %d -> class %d "
               "(dense top-2 logit gap at its adversarial point %.2e)\n",
               i, a->attack, a->adv_pred, b->attack, b->adv_pred,
               top2_gap(at_dense_adv[0] + (size_t)i * M, M));
    }
    printf("%d of %d sparse layers; clean logits agree to %.1e relative, logits at the dense "
           "adversarial points to %.1e; %d of %d samples with a different outcome; time dense "
           "%.1f s, sparse %.1f s: %.2fx\n",
           sparse_layers, layers, rel_clean, rel_adv, differ, N, secs[0], secs[1],
           secs[0] / secs[1]);
    ti_jw *j = ti_jw_new();
    ti_jw_begin_object(j);
    ti_jw_key(j, "images");
    ti_jw_int(j, N);
    ti_jw_key(j, "eps");
    ti_jw_number(j, eps);
    ti_jw_key(j, "sparsity");
    ti_jw_number(j, ti_model_sparsity(m));
    ti_jw_key(j, "sparse_layers");
    ti_jw_int(j, sparse_layers);
    ti_jw_key(j, "layers");
    ti_jw_int(j, layers);
    ti_jw_key(j, "clean_logits_max_rel_diff");
    ti_jw_number(j, rel_clean);
    ti_jw_key(j, "adv_logits_max_rel_diff");
    ti_jw_number(j, rel_adv);
    ti_jw_key(j, "samples_differing");
    ti_jw_int(j, differ);
    ti_jw_key(j, "robust_dense");
    ti_jw_number(j, sum[0].robust_final);
    ti_jw_key(j, "robust_sparse");
    ti_jw_number(j, sum[1].robust_final);
    ti_jw_key(j, "seconds_dense");
    ti_jw_number(j, secs[0]);
    ti_jw_key(j, "seconds_sparse");
    ti_jw_number(j, secs[1]);
    ti_jw_end_object(j);
    size_t len = 0;
    const char *text = ti_jw_text(j, &len);
    FILE *fo = fopen(out, "w");
    if (!fo && argc <= 1) {
        mkdir("build", 0777);
        fo = fopen(out, "w");
    }
    if (!fo || !text || fwrite(text, 1, len, fo) != len || fputc('\n', fo) == EOF) {
        fprintf(stderr, "bench_sparse_aa: cannot write %s\n", out);
        return 1;
    }
    fclose(fo);
    ti_jw_free(j);
    int rc = rel_clean < 1e-5 ? 0 : 1;
    if (rc)
        fprintf(stderr, "bench_sparse_aa: the sparse logits differ by %.1e (> 1e-5)\n", rel_clean);
    for (int v = 0; v < 2; v++) {
        free(xadv[v]);
        free(clean[v]);
        free(at_dense_adv[v]);
        ti_eval_free(res[v]);
    }
    ti_dataset_free(sub);
    ti_dataset_free(train);
    ti_dataset_free(all);
    ti_dataset_free(test);
    ti_model_free(m);
    ti_ctx_free(ctx);
    return rc;
}
