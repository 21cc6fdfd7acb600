/* Sparse against dense execution of pruned layers and models (docs/PERFORMANCE.md, "Sparse
 * models"), all ratios from the same run with dense and sparse alternating in every round:
 *  - per layer: the ResNet-18 and VGG-16 shapes at batch 128 and 1, 80/90/95/99% random
 *    unstructured sparsity, forward and input gradient: dense time / sparse time, and the
 *    sparse kernel's GFLOP/s of useful work (2 flops per nonzero weight per output pixel);
 *  - whole models: ResNet-18 and VGG-16-BN (CIFAR shape) pruned per layer to 90% and 95%,
 *    batch 128, forward and input gradient through the classifier view with ti_model_set_sparse
 *    off against auto.
 * Times are the median of the rounds' best-of-reps.
 * Usage: bench_sparse [out.json]   (default build/bench_sparse.json)
 * Environment: THINICE_THREADS (2), THINICE_BENCH_ROUNDS (3), THINICE_SPARSE_PART
 * (layers, models or all: all). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "thinice/json.h"
#include "thinice/model.h"
#include "thinice/ops.h"
#include "../../libtensor/sparse_internal.h"

#define MAXR 9
static const double SPARSITY[4] = {0.80, 0.90, 0.95, 0.99};

static int env_int(const char *name, int dflt)
{
    const char *s = getenv(name);
    return s && atoi(s) > 0 ? atoi(s) : dflt;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- per layer ---------------------------------------------------------------------------- */

typedef struct layer {
    const char *name;
    int C, H, K, k, stride, pad, linear;
} layer;

static const layer LAYERS[] = {
    {"3x3 3->64 32x32 (stem)", 3, 32, 64, 3, 1, 1, 0},
    {"3x3 64->64 32x32 (R18 layer1, VGG)", 64, 32, 64, 3, 1, 1, 0},
    {"3x3 64->128 s2 32x32 (R18 layer2.0)", 64, 32, 128, 3, 2, 1, 0},
    {"1x1 64->128 s2 32x32 (R18 shortcut)", 64, 32, 128, 1, 2, 0, 0},
    {"3x3 128->128 16x16 (R18 layer2, VGG)", 128, 16, 128, 3, 1, 1, 0},
    {"3x3 256->256 8x8 (R18 layer3, VGG)", 256, 8, 256, 3, 1, 1, 0},
    {"3x3 512->512 4x4 (R18 layer4, VGG)", 512, 4, 512, 3, 1, 1, 0},
    {"3x3 512->512 2x2 (VGG block 5)", 512, 2, 512, 3, 1, 1, 0},
    {"linear 2048->256 (VGG classifier)", 2048, 1, 256, 1, 1, 0, 1},
};
#define NLAYERS ((int)(sizeof LAYERS / sizeof LAYERS[0]))

typedef struct cell {
    double dense[2][MAXR], sparse[2][MAXR]; /* [forward, input grad][round] seconds */
    double useful_flop;                      /* per call */
} cell;

/* Best of `reps` calls of one op: forward (recording off) or its input gradient (the op's
 * backward called directly, so the tape's bookkeeping is not counted). */
static double time_op(ti_tape *tape, ti_tensor *x, ti_tensor *w, ti_tensor *b,
                      ti__sp_conv *sc, const layer *l, int backward, int reps)
{
    double best = 1e30;
    ti_tape_reset(tape);
    ti_tape_set_recording(tape, backward);
    ti_tensor *y = NULL;
    for (int r = 0; r < (backward ? 1 : reps); r++) {
        ti_tape_reset(tape);
        double t0 = ti_clock();
        y = sc ? ti__sparse_conv2d(tape, x, sc, 0)
               : l->linear ? ti_linear(tape, x, w, b) : ti_conv2d(tape, x, w, b, l->stride, l->pad);
        double t = ti_clock() - t0;
        if (!y)
            return -1;
        if (t < best)
            best = t;
    }
    if (!backward)
        return best;
    float *seed = malloc(y->size * sizeof(float));
    for (size_t i = 0; i < y->size; i++)
        seed[i] = (float)(i % 5) * 0.25f - 0.5f;
    if (ti_tape_backward_seed(tape, y, seed) != TI_OK) /* allocates the buffers, warms up */
        return -1;
    free(seed);
    best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = ti_clock();
        y->node->def->backward(tape, y->node);
        double t = ti_clock() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

static int bench_layer(ti_ctx *ctx, const layer *l, int N, int rounds, cell *cells)
{
    ti_rng *r = ti_ctx_rng(ctx);
    ti_tape *tape = ti_tape_new(ctx);
    ti_tensor *x = l->linear ? ti_tensor_new(2, (int[]){N, l->C})
                             : ti_tensor_new(4, (int[]){N, l->C, l->H, l->H});
    ti_tensor *w = l->linear ? ti_tensor_new(2, (int[]){l->K, l->C})
                             : ti_tensor_new(4, (int[]){l->K, l->C, l->k, l->k});
    ti_tensor *b = ti_tensor_new(1, (int[]){l->K});
    float *wd = malloc(w->size * sizeof(float));
    if (!tape || !x || !w || !b || !wd || ti_tensor_alloc_grad(x))
        return 1;
    for (size_t i = 0; i < x->size; i++)
        x->data[i] = ti_rng_uniform(r, -1, 1);
    for (size_t i = 0; i < w->size; i++)
        wd[i] = ti_rng_uniform(r, -0.1f, 0.1f);
    x->requires_grad = 1;
    w->requires_grad = b->requires_grad = 0;
    ti__sp_conv sc[4];
    int OH = (l->H + 2 * l->pad - l->k) / l->stride + 1;
    for (int s = 0; s < 4; s++) {
        /* random unstructured pruning at SPARSITY[s]; the dense path gets the same weights */
        for (size_t i = 0; i < w->size; i++)
            w->data[i] = ti_rng_uniform(r, 0, 1) < SPARSITY[s] ? 0.0f : wd[i];
        sc[s] = (ti__sp_conv){.simd = 1};
        if (ti__sp_conv_build(ctx, &sc[s], w->data, NULL, b->data, l->K, l->C, l->k, l->k,
                              l->stride, l->pad, l->linear) != TI_OK)
            return 1;
        cells[s].useful_flop = 2.0 * (double)sc[s].fwd.nnz * OH * OH * N;
    }
    int reps = N == 1 ? 20 : 3;
    for (int round = 0; round < rounds; round++)
        for (int dir = 0; dir < 2; dir++) {
            double td = time_op(tape, x, w, b, NULL, l, dir, reps);
            for (int s = 0; s < 4; s++) {
                cells[s].dense[dir][round] = td; /* the dense time does not depend on zeros */
                cells[s].sparse[dir][round] = time_op(tape, x, w, b, &sc[s], l, dir, reps);
                if (cells[s].sparse[dir][round] < 0 || td < 0)
                    return 1;
            }
        }
    for (int s = 0; s < 4; s++)
        ti__sp_conv_release(&sc[s]);
    free(wd);
    ti_tensor_free(x);
    ti_tensor_free(w);
    ti_tensor_free(b);
    ti_tape_free(tape);
    return 0;
}

/* ---- whole models --------------------------------------------------------------------------- */

typedef struct model_cell {
    double t[2][2][MAXR]; /* [dense, sparse][forward, input grad][round] seconds */
    int sparse_layers, layers;
} model_cell;

static void dl_ce(void *user, const float *logits, int N, int M, float *dl)
{
    (void)user;
    (void)logits;
    for (int i = 0; i < N * M; i++)
        dl[i] = (i % M == 3) ? -1.0f : 0.1f; /* any fixed seed: only the time is measured */
}

static int bench_model(ti_ctx *ctx, const char *arch, double sparsity, int N, int rounds,
                       model_cell *mc, double *max_rel)
{
    ti_model_config cfg = {.C = 3, .H = 32, .W = 32, .M = 10};
    ti_model *m = NULL;
    if (ti_model_new(ctx, arch, &cfg, &m) != TI_OK)
        return 1;
    ti_rng *r = ti_ctx_rng(ctx);
    for (int i = 0; i < ti_model_nparams(m); i++) {
        ti_param *p = ti_model_param(m, i);
        if (p->kind == TI_PARAM_WEIGHT) /* per layer, random unstructured */
            for (size_t j = 0; j < p->t.size; j++)
                if (ti_rng_uniform(r, 0, 1) < sparsity)
                    p->t.data[j] = 0.0f;
    }
    size_t D = 3 * 32 * 32;
    float *x = malloc((size_t)N * D * sizeof(float)), *lg[2], *dx = malloc(N * D * sizeof(float));
    lg[0] = malloc((size_t)N * 10 * sizeof(float));
    lg[1] = malloc((size_t)N * 10 * sizeof(float));
    for (size_t i = 0; i < (size_t)N * D; i++)
        x[i] = ti_rng_uniform(r, 0, 1);
    ti_classifier f;
    if (ti_model_classifier(m, N, &f) != TI_OK)
        return 1;
    *max_rel = 0;
    for (int round = 0; round < rounds + 1; round++) /* round 0 warms up */
        for (int sp = 0; sp < 2; sp++) {
            /* switching decides and builds the sparse forms again: not part of the timing */
            ti_model_set_sparse(m, sp ? TI_SPARSE_AUTO : TI_SPARSE_OFF);
            if (f.forward(f.self, x, N, lg[sp]) != TI_OK)
                return 1;
            for (int dir = 0; dir < 2; dir++) {
                double t0 = ti_clock();
                ti_status s = dir ? f.grad(f.self, x, N, dl_ce, NULL, lg[sp], dx)
                                  : f.forward(f.self, x, N, lg[sp]);
                double t = ti_clock() - t0;
                if (s != TI_OK)
                    return 1;
                if (round > 0)
                    mc->t[sp][dir][round - 1] = t;
            }
            if (sp)
                ti_model_sparse_layers(m, &mc->sparse_layers, &mc->layers);
            else
                continue;
            for (int i = 0; i < N * 10; i++) {
                double d = (double)lg[1][i] - lg[0][i], a = lg[0][i] < 0 ? -lg[0][i] : lg[0][i];
                double rel = (d < 0 ? -d : d) / (a + 1e-3);
                if (rel > *max_rel)
                    *max_rel = rel;
            }
        }
    free(x);
    free(dx);
    free(lg[0]);
    free(lg[1]);
    ti_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    bu_args(argc, argv, 1, "[out.json]   (default build/bench_sparse.json)");
    const char *out = argc > 1 ? argv[1] : "build/bench_sparse.json";
    int threads = env_int("THINICE_THREADS", 2), rounds = env_int("THINICE_BENCH_ROUNDS", 3);
    if (rounds > MAXR)
        rounds = MAXR;
    const char *part = getenv("THINICE_SPARSE_PART") ? getenv("THINICE_SPARSE_PART") : "all";
    int do_layers = strcmp(part, "models") != 0, do_models = strcmp(part, "layers") != 0;
    ti_ctx *ctx = ti_ctx_new(1, threads);
    ti_jw *j = ti_jw_new();
    if (!ctx || !j)
        return 1;
    printf("sparse kernel: %s; %d threads, %d rounds, dense and sparse alternating\n",
           ti__sp_have_avx2() ? "AVX2+FMA" : "C reference", ti_ctx_threads(ctx), rounds);
    ti_jw_begin_object(j);
    ti_jw_key(j, "threads");
    ti_jw_int(j, ti_ctx_threads(ctx));
    ti_jw_key(j, "layers");
    ti_jw_begin_array(j);
    static const int batches[2] = {128, 1};
    for (int bi = 0; do_layers && bi < 2; bi++) {
        int N = batches[bi];
        printf("\nper layer, batch %d: dense time / sparse time (sparse GFLOP/s of useful work)\n"
               "%-38s %-6s %18s %18s %18s %18s\n",
               N, "layer", "", "80%", "90%", "95%", "99%");
        for (int li = 0; li < NLAYERS; li++) {
            cell cells[4];
            if (bench_layer(ctx, &LAYERS[li], N, rounds, cells)) {
                fprintf(stderr, "bench_sparse: %s failed: %s\n", LAYERS[li].name,
                        ti_ctx_errmsg(ctx));
                return 1;
            }
            for (int dir = 0; dir < 2; dir++) {
                printf("%-38s %-6s", dir ? "" : LAYERS[li].name, dir ? "dX" : "fwd");
                for (int s = 0; s < 4; s++) {
                    double ratio[MAXR], ts[MAXR];
                    for (int r = 0; r < rounds; r++) {
                        ratio[r] = cells[s].dense[dir][r] / cells[s].sparse[dir][r];
                        ts[r] = cells[s].sparse[dir][r];
                    }
                    double rt = median(ratio, rounds), t = median(ts, rounds);
                    double gf = cells[s].useful_flop / t * 1e-9;
                    printf(" %8.2fx (%5.1f)  ", rt, gf);
                    ti_jw_begin_object(j);
                    ti_jw_key(j, "layer");
                    ti_jw_string(j, LAYERS[li].name);
                    ti_jw_key(j, "batch");
                    ti_jw_int(j, N);
                    ti_jw_key(j, "pass");
                    ti_jw_string(j, dir ? "input_grad" : "forward");
                    ti_jw_key(j, "sparsity");
                    ti_jw_number(j, SPARSITY[s]);
                    ti_jw_key(j, "speedup");
                    ti_jw_number(j, rt);
                    ti_jw_key(j, "sparse_useful_gflops");
                    ti_jw_number(j, gf);
                    ti_jw_end_object(j);
                }
                printf("\n");
            }
            fflush(stdout);
        }
    }
    ti_jw_end_array(j);
    ti_jw_key(j, "models");
    ti_jw_begin_array(j);
    static const char *const archs[2] = {"resnet18", "vgg16_bn"};
    static const double msp[2] = {0.90, 0.95};
    if (do_models)
        printf("\nwhole models, batch 128, 3x32x32, pruned per layer: images/s dense -> sparse "
               "(speedup)\n");
    for (int a = 0; do_models && a < 2; a++)
        for (int s = 0; s < 2; s++) {
            model_cell mc = {0};
            double rel = 0;
            if (bench_model(ctx, archs[a], msp[s], 128, rounds, &mc, &rel)) {
                fprintf(stderr, "bench_sparse: %s failed: %s\n", archs[a], ti_ctx_errmsg(ctx));
                return 1;
            }
            for (int dir = 0; dir < 2; dir++) {
                double ratio[MAXR], td[MAXR], tsp[MAXR];
                for (int r = 0; r < rounds; r++) {
                    ratio[r] = mc.t[0][dir][r] / mc.t[1][dir][r];
                    td[r] = mc.t[0][dir][r];
                    tsp[r] = mc.t[1][dir][r];
                }
                double rt = median(ratio, rounds), d = 128 / median(td, rounds);
                double sps = 128 / median(tsp, rounds);
                printf("%-9s %2.0f%% %-10s %7.1f -> %7.1f images/s  %5.2fx  (%d of %d layers "
                       "sparse; logits agree to %.1e)\n",
                       archs[a], 100 * msp[s], dir ? "input grad" : "forward", d, sps, rt,
                       mc.sparse_layers, mc.layers, rel);
                ti_jw_begin_object(j);
                ti_jw_key(j, "model");
                ti_jw_string(j, archs[a]);
                ti_jw_key(j, "sparsity");
                ti_jw_number(j, msp[s]);
                ti_jw_key(j, "pass");
                ti_jw_string(j, dir ? "input_grad" : "forward");
                ti_jw_key(j, "dense_images_per_s");
                ti_jw_number(j, d);
                ti_jw_key(j, "sparse_images_per_s");
                ti_jw_number(j, sps);
                ti_jw_key(j, "speedup");
                ti_jw_number(j, rt);
                ti_jw_key(j, "logits_max_rel_diff");
                ti_jw_number(j, rel);
                ti_jw_end_object(j);
            }
            fflush(stdout);
        }
    ti_jw_end_array(j);
    ti_jw_end_object(j);
    size_t len = 0;
    const char *text = ti_jw_text(j, &len);
    FILE *fo = fopen(out, "w");
    if (!fo && argc <= 1) {
        mkdir("build", 0777);
        fo = fopen(out, "w");
    }
    if (!fo || !text || fwrite(text, 1, len, fo) != len || fputc('\n', fo) == EOF) {
        fprintf(stderr, "bench_sparse: cannot write %s\n", out);
        return 1;
    }
    fclose(fo);
    ti_jw_free(j);
    ti_ctx_free(ctx);
    printf("wrote %s\n", out);
    return 0;
}
