/* Kernel benchmark: OpenBLAS sgemm 1024^3 as the machine's practical ceiling, then conv2d
 * forward, backward-data and backward-weight GFLOP/s, each with its ratio to the sgemm figure
 * of the same run (the machine is shared and noisy: compare ratios). Best of several runs.
 * Usage: bench_kernels [out.json]  (default build/bench_kernels.json) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"
#include "thinice/json.h"
#include "thinice/ops.h"
#include "../../libtensor/internal.h"

#define REPS 5

typedef struct conv_result {
    double fwd, bwd_data, bwd_weight; /* GFLOP/s */
} conv_result;

/* Times one convolution layer: forward without recording; each backward alone by calling the
 * op's backward directly (so the tape's zeroing of activation gradients is not counted). */
static int bench_conv(ti_ctx *ctx, int N, int C, int H, int K, int KH, int stride, int pad,
                      conv_result *res)
{
    ti_rng *r = ti_ctx_rng(ctx);
    ti_tape *tape = ti_tape_new(ctx);
    ti_tensor *x = ti_tensor_new(4, (int[]){N, C, H, H});
    ti_tensor *w = ti_tensor_new(4, (int[]){K, C, KH, KH});
    ti_tensor *b = ti_tensor_new(1, (int[]){K});
    if (!tape || !x || !w || !b || ti_tensor_alloc_grad(x) || ti_tensor_alloc_grad(w))
        return 1;
    for (size_t i = 0; i < x->size; i++)
        x->data[i] = ti_rng_uniform(r, -1, 1);
    for (size_t i = 0; i < w->size; i++)
        w->data[i] = ti_rng_uniform(r, -0.1f, 0.1f);
    int OH = (H + 2 * pad - KH) / stride + 1;
    double flop = 2.0 * N * K * (double)OH * OH * (double)C * KH * KH;

    double best = 1e30;
    ti_tape_set_recording(tape, 0);
    for (int rep = 0; rep < REPS + 1; rep++) {
        ti_tape_reset(tape);
        double t0 = ti_clock();
        ti_tensor *y = ti_conv2d(tape, x, w, b, stride, pad);
        double t = ti_clock() - t0;
        if (!y)
            return 1;
        if (rep > 0 && t < best)
            best = t;
    }
    res->fwd = flop / best * 1e-9;

    ti_tape_set_recording(tape, 1);
    for (int which = 0; which < 2; which++) {
        x->requires_grad = which == 0;
        w->requires_grad = which == 1;
        ti_tape_reset(tape);
        ti_tensor *y = ti_conv2d(tape, x, w, b, stride, pad);
        if (!y)
            return 1;
        float *seed = malloc(y->size * sizeof(float));
        for (size_t i = 0; i < y->size; i++)
            seed[i] = ti_rng_uniform(r, -1, 1);
        if (ti_tape_backward_seed(tape, y, seed) != TI_OK) /* allocates, warms up */
            return 1;
        free(seed);
        best = 1e30;
        for (int rep = 0; rep < REPS; rep++) {
            double t0 = ti_clock();
            y->node->def->backward(tape, y->node);
            double t = ti_clock() - t0;
            if (t < best)
                best = t;
        }
        if (which == 0)
            res->bwd_data = flop / best * 1e-9;
        else
            res->bwd_weight = flop / best * 1e-9;
    }
    ti_tensor_free(x);
    ti_tensor_free(w);
    ti_tensor_free(b);
    ti_tape_free(tape);
    return 0;
}

typedef struct layer {
    const char *name;
    int N, C, H, K, KH, stride, pad;
} layer;

int main(int argc, char **argv)
{
    bu_args(argc, argv, 1, "[out.json]   (default build/bench_kernels.json)");
    const char *out = argc > 1 ? argv[1] : "build/bench_kernels.json";
    ti_ctx *ctx = ti_ctx_new(1, 2);
    if (!ctx)
        return 1;
    /* sgemm is measured before and after the convolutions and the best kept: on a shared
     * machine one measurement may fall into a busy moment */
    double gemm = bu_sgemm_gflops(1024, 7, ti_ctx_threads(ctx));

    /* the first layer is the headline (ResNet-18 layer1); the others show the grouping on
     * deep layers with tiny maps and on a 1x1 projection */
    static const layer layers[] = {
        {"conv3x3_64_32x32_b128", 128, 64, 32, 64, 3, 1, 1},
        {"conv3x3_256_8x8_b128", 128, 256, 8, 256, 3, 1, 1},
        {"conv3x3_512_4x4_b128", 128, 512, 4, 512, 3, 1, 1},
        {"conv1x1_64_128_32x32_b32", 32, 64, 32, 128, 1, 1, 0},
    };
    int nl = (int)(sizeof layers / sizeof layers[0]);
    printf("(conv GFLOP/s count the direct convolution's 2 N K OH OW C KH KW flops, so layers\n"
           " that run by Winograd F(2x2,3x3) can exceed sgemm)\n");
    conv_result res[4];
    for (int i = 0; i < nl; i++) {
        const layer *l = &layers[i];
        if (bench_conv(ctx, l->N, l->C, l->H, l->K, l->KH, l->stride, l->pad, &res[i])) {
            fprintf(stderr, "bench_kernels: %s failed: %s\n", l->name, ti_ctx_errmsg(ctx));
            return 1;
        }
    }
    double again = bu_sgemm_gflops(1024, 7, ti_ctx_threads(ctx));
    if (again > gemm)
        gemm = again;
    printf("sgemm 1024^3, 2 threads: %.1f GFLOP/s (best of before and after)\n", gemm);
    for (int i = 0; i < nl; i++) {
        const layer *l = &layers[i];
        printf("%-26s forward %6.1f GFLOP/s (%3.0f%% of sgemm)  backward-data %6.1f (%3.0f%%)  "
               "backward-weight %6.1f (%3.0f%%)\n",
               l->name, res[i].fwd, 100 * res[i].fwd / gemm, res[i].bwd_data,
               100 * res[i].bwd_data / gemm, res[i].bwd_weight, 100 * res[i].bwd_weight / gemm);
    }

    ti_jw *j = ti_jw_new();
    if (!j)
        return 1;
    ti_jw_begin_object(j);
    ti_jw_key(j, "threads");
    ti_jw_int(j, ti_ctx_threads(ctx));
    ti_jw_key(j, "sgemm_1024_gflops");
    ti_jw_number(j, gemm);
    ti_jw_key(j, "conv_flops_counted");
    ti_jw_string(j, "direct: 2 N K OH OW C KH KW");
    ti_jw_key(j, "conv");
    ti_jw_begin_array(j);
    for (int i = 0; i < nl; i++) {
        const double v[3] = {res[i].fwd, res[i].bwd_data, res[i].bwd_weight};
        static const char *const names[3] = {"forward", "backward_data", "backward_weight"};
        char key[64];
        ti_jw_begin_object(j);
        ti_jw_key(j, "layer");
        ti_jw_string(j, layers[i].name);
        for (int k = 0; k < 3; k++) {
            snprintf(key, sizeof key, "%s_gflops", names[k]);
            ti_jw_key(j, key);
            ti_jw_number(j, v[k]);
            snprintf(key, sizeof key, "%s_ratio", names[k]);
            ti_jw_key(j, key);
            ti_jw_number(j, v[k] / gemm);
        }
        ti_jw_end_object(j);
    }
    ti_jw_end_array(j);
    ti_jw_end_object(j);
    size_t len = 0;
    const char *text = ti_jw_text(j, &len);
    FILE *f = fopen(out, "w");
    if (!f && argc <= 1) { /* the default's folder may not exist in another BUILD */
        mkdir("build", 0777);
        f = fopen(out, "w");
    }
    if (!f || !text || fwrite(text, 1, len, f) != len || fputc('\n', f) == EOF) {
        fprintf(stderr, "bench_kernels: cannot write %s\n", out);
        if (f)
            fclose(f);
        ti_jw_free(j);
        return 1;
    }
    fclose(f);
    ti_jw_free(j);
    printf("wrote %s\n", out);
    ti_ctx_free(ctx);
    return 0;
}
