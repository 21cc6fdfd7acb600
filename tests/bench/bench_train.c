/* Training benchmark: small-CNN training images/s on 1x28x28 inputs at batch 128 (the whole
 * ti_train_epoch step: batch copy, forward, cross-entropy, backward, SGD with momentum and
 * weight decay), printed with the OpenBLAS sgemm GFLOP/s of the same run, since the machine is
 * shared and only ratios compare. PyTorch's figure comes from scripts/bench_pytorch_smallcnn.py.
 * Usage: bench_train [out.json]  (default build/bench_train.json); THINICE_THREADS overrides 2 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "thinice/fileio.h"
#include "thinice/json.h"
#include "thinice/train.h"

#define BATCH 128
#define NBATCH 40 /* images per timed epoch: 40 x 128 = 5120 */
#define REPS 3

/* Random images and labels in the Fashion-MNIST shape: the speed does not depend on them. */
static ti_dataset *random_data(ti_rng *r, int N)
{
    ti_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    strcpy(d->name, "random");
    d->N = N;
    d->C = 1;
    d->H = d->W = 28;
    d->M = 10;
    d->x = ti_alloc((size_t)N * 28 * 28 * sizeof(float));
    d->y = ti_alloc((size_t)N * sizeof(int));
    if (!d->x || !d->y) {
        ti_dataset_free(d);
        return NULL;
    }
    for (size_t i = 0; i < (size_t)N * 28 * 28; i++)
        d->x[i] = ti_rng_uniform(r, 0, 1);
    for (int i = 0; i < N; i++)
        d->y[i] = (int)ti_rng_below(r, 10);
    return d;
}

static int fail(ti_ctx *ctx, const char *what)
{
    fprintf(stderr, "bench_train: %s: %s\n", what, ti_ctx_errmsg(ctx));
    return 1;
}

int main(int argc, char **argv)
{
    bu_args(argc, argv, 1, "[out.json]   (default build/bench_train.json)");
    const char *out = argc > 1 ? argv[1] : "build/bench_train.json";
    const char *env = getenv("THINICE_THREADS");
    int threads = env ? atoi(env) : 2;
    ti_ctx *ctx = ti_ctx_new(1, threads);
    if (!ctx)
        return 1;
    double gemm = bu_sgemm_gflops(1024, 7, ti_ctx_threads(ctx));
    printf("sgemm 1024^3, %d threads: %.1f GFLOP/s\n", ti_ctx_threads(ctx), gemm);

    ti_model *m = NULL;
    ti_sgd *opt = NULL;
    ti_batcher *bt = NULL;
    ti_dataset *d = random_data(ti_ctx_rng(ctx), BATCH * NBATCH);
    ti_tape *tape = ti_tape_new(ctx);
    ti_model_config cfg = {.C = 1, .H = 28, .W = 28, .M = 10};
    ti_sgd_params sp = {.lr = 0.01f, .momentum = 0.9f, .weight_decay = 5e-4f,
                        .decay_bn_bias = 1};
    if (!d || !tape)
        return fail(ctx, "setup");
    if (ti_model_new(ctx, "smallcnn", &cfg, &m) != TI_OK || ti_sgd_new(ctx, &sp, &opt) != TI_OK ||
        ti_sgd_add_model(opt, m) != TI_OK ||
        ti_batcher_new(ctx, d, BATCH, 1, 0, 3, &bt) != TI_OK)
        return fail(ctx, "setup");
    ti_train_setup S = {.model = m, .tape = tape, .opt = opt, .batcher = bt, .data = d,
                        .batch = BATCH};
    double best = 0;
    size_t macs = ti_model_macs(m);
    for (int rep = 0; rep <= REPS; rep++) { /* rep 0 warms up the arena and the threads */
        ti_train_stats st;
        if (ti_train_epoch(ctx, &S, rep, &st) != TI_OK)
            return fail(ctx, "training");
        if (rep > 0 && st.images_per_s > best)
            best = st.images_per_s;
    }
    /* a training step is about 3x the forward multiply-adds (forward, input and weight
     * gradients), 2 flops each */
    double gflops = best * 3.0 * 2.0 * (double)macs * 1e-9;
    printf("smallcnn 1x28x28 train step, batch %d: %.0f images/s (%.1f GFLOP/s of conv+linear "
           "work, %.0f%% of sgemm)\n",
           BATCH, best, gflops, 100 * gflops / gemm);

    ti_jw *j = ti_jw_new();
    if (!j)
        return 1;
    ti_jw_begin_object(j);
    ti_jw_key(j, "threads");
    ti_jw_int(j, ti_ctx_threads(ctx));
    ti_jw_key(j, "sgemm_1024_gflops");
    ti_jw_number(j, gemm);
    ti_jw_key(j, "smallcnn_train_images_per_s");
    ti_jw_number(j, best);
    ti_jw_key(j, "smallcnn_train_gflops");
    ti_jw_number(j, gflops);
    ti_jw_key(j, "batch");
    ti_jw_int(j, BATCH);
    ti_jw_end_object(j);
    size_t len = 0;
    const char *text = ti_jw_text(j, &len);
    int rc = 0;
    if (!text || ti_write_file_atomic(ctx, out, text, len) != TI_OK) {
        fprintf(stderr, "bench_train: cannot write %s: %s\n", out, ti_ctx_errmsg(ctx));
        rc = 1;
    }
    ti_jw_free(j);
    ti_batcher_free(bt);
    ti_sgd_free(opt);
    ti_model_free(m);
    ti_dataset_free(d);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
    return rc;
}
