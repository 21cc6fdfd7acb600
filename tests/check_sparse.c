/* Tests of the sparse convolution (libtensor/sparse_*.c, model_sparse.c): the op against
 * conv.c's naive 7-loop convolution and plain-loop input gradients over every layer shape
 * the zoo uses (1x1 and 3x3, strides 1 and 2, padding 0 and 1) and odd ones (5x5, stride 3,
 * padding 2, batch splits), with empty and fully dense output channels; finite differences
 * of the input gradient; the AVX2 kernel against the C reference; bits independent of the
 * thread count; models run sparse against the same models run dense, through the classifier
 * view; the rebuild after a weight changes; every error path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/model.h"
#include "thinice/optim.h"
#include "../libtensor/sparse_internal.h"

typedef struct sp_case {
    int N, C, H, W, K, KH, KW, stride, pad;
} sp_case;

/* The zoo's shapes (ResNet's 3x3 stride 1 and 2, its 1x1 stride-2 shortcut, VGG's 3x3 on a
 * 2x2 map, the stem's 3 channels, the linear layers as 1x1 maps), odd ones, and enough
 * channels for the kernel to take the planes in several chunks. */
static const sp_case CASES[] = {
    {2, 3, 8, 8, 16, 3, 3, 1, 1},   {3, 16, 8, 8, 16, 3, 3, 1, 1},  {2, 16, 8, 8, 32, 3, 3, 2, 1},
    {2, 16, 8, 8, 32, 1, 1, 2, 0},  {5, 32, 4, 4, 32, 3, 3, 1, 1},  {1, 32, 2, 2, 32, 3, 3, 1, 1},
    {7, 24, 1, 1, 10, 1, 1, 1, 0},  {1, 16, 1, 1, 8, 1, 1, 1, 0},   {3, 5, 9, 7, 6, 3, 3, 2, 1},
    {2, 4, 11, 10, 3, 5, 5, 2, 0},  {2, 3, 7, 6, 4, 5, 5, 1, 2},    {4, 6, 10, 9, 5, 3, 3, 3, 2},
    {9, 8, 5, 5, 8, 1, 1, 1, 0},    {1, 8, 3, 3, 4, 3, 3, 1, 0},    {3, 2, 6, 6, 3, 2, 2, 2, 0},
    {2, 4, 5, 5, 3, 3, 3, 1, 2},    {1, 16, 32, 32, 8, 3, 3, 1, 1}, {33, 8, 4, 4, 8, 3, 3, 1, 1},
    {2, 128, 6, 6, 16, 3, 3, 1, 1}, {2, 16, 6, 6, 128, 3, 3, 2, 1}, /* several plane chunks */
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static int out_size(int in, int k, int s, int p)
{
    return (in + 2 * p - k) / s + 1;
}

/* A weight (K, C, KH, KW) with about `density` of its entries nonzero, output channel 0
 * empty and channel K - 1 fully dense (when K > 1): the kernel's corner rows. */
static void sparse_weight(ti_rng *r, float *w, const sp_case *c, double density)
{
    size_t per = (size_t)c->C * c->KH * c->KW;
    for (size_t i = 0; i < (size_t)c->K * per; i++) {
        size_t k = i / per;
        int keep = k == (size_t)c->K - 1 && c->K > 1 ? 1
                   : k == 0                          ? 0
                                                     : ti_rng_uniform(r, 0, 1) < density;
        w[i] = keep ? ti_rng_uniform(r, -1, 1) : 0.0f;
    }
}

/* dx (N, C, H, W) += the input gradient of conv(x, w) given dy, by plain loops. */
static void naive_dx(float *dx, const float *w, const float *dy, const sp_case *c)
{
    int OH = out_size(c->H, c->KH, c->stride, c->pad), OW = out_size(c->W, c->KW, c->stride, c->pad);
    for (int n = 0; n < c->N; n++)
        for (int k = 0; k < c->K; k++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    float g = dy[(((size_t)n * c->K + k) * OH + oh) * OW + ow];
                    for (int ch = 0; ch < c->C; ch++)
                        for (int kh = 0; kh < c->KH; kh++)
                            for (int kw = 0; kw < c->KW; kw++) {
                                int ih = oh * c->stride - c->pad + kh, iw = ow * c->stride - c->pad + kw;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                                    continue;
                                dx[(((size_t)n * c->C + ch) * c->H + ih) * c->W + iw] +=
                                    g * w[(((size_t)k * c->C + ch) * c->KH + kh) * c->KW + kw];
                            }
                }
}

/* Forward and input gradient of every case at three densities (0: an all-zero layer), half
 * of them with the fused ReLU, with the reference kernel and the AVX2 one, against the plain
 * loops; the gradient must ADD. Returns the number of (case, density) pairs compared. */
static int check_cases(int threads, int simd)
{
    int compared = 0;
    ti_ctx *ctx = ti_ctx_new(1, threads);
    ti_tape *tape = ti_tape_new(ctx);
    ti_rng r;
    ti_rng_seed(&r, 21);
    static const double dens[3] = {0.1, 0.5, 0.0};
    for (int ci = 0; ci < NCASES; ci++)
        for (int di = 0; di < 3; di++) {
            const sp_case *c = &CASES[ci];
            int lin = c->H == 1 && c->W == 1 && c->KH == 1 && c->pad == 0 && c->stride == 1;
            size_t nw = (size_t)c->K * c->C * c->KH * c->KW;
            float *w = malloc(nw * sizeof(float)), *b = malloc((size_t)c->K * sizeof(float));
            sparse_weight(&r, w, c, dens[di]);
            tu_fill(&r, b, (size_t)c->K, -1, 1);
            ti__sp_conv sc = {.simd = simd};
            ck_assert_int_eq(ti__sp_conv_build(ctx, &sc, w, NULL, b, c->K, c->C, c->KH, c->KW,
                                               c->stride, c->pad, lin),
                             TI_OK);
            ti_tape_reset(tape);
            size_t nx = (size_t)c->N * c->C * c->H * c->W;
            float *xb = malloc(nx * sizeof(float));
            tu_fill(&r, xb, nx, -1, 1);
            ti_tensor *x = lin ? ti_tape_input(tape, xb, 2, (int[]){c->N, c->C}, 1)
                               : ti_tape_input(tape, xb, 4, (int[]){c->N, c->C, c->H, c->W}, 1);
            ck_assert_ptr_nonnull(x);
            int relu = (ci + di) % 2; /* half the cases with the fused ReLU */
            ti_tensor *y = ti__sparse_conv2d(tape, x, &sc, relu);
            ck_assert_msg(y != NULL, "case %d: %s", ci, ti_ctx_errmsg(ctx));
            int OH = out_size(c->H, c->KH, c->stride, c->pad);
            int OW = out_size(c->W, c->KW, c->stride, c->pad);
            ck_assert_int_eq((int)y->size, c->N * c->K * OH * OW);
            float *ref = malloc(y->size * sizeof(float));
            ti__conv2d_naive(ref, x->data, w, b, c->N, c->C, c->H, c->W, c->K, c->KH, c->KW,
                             c->stride, c->pad);
            for (size_t i = 0; relu && i < y->size; i++)
                ref[i] = ref[i] > 0.0f ? ref[i] : 0.0f;
            /* a float sum of over 500 terms (the 128-channel case) rounds more */
            double tol = (size_t)c->C * c->KH * c->KW > 512 ? 5e-5 : 1e-5;
            double e = tu_reldiff(y->data, ref, y->size);
            ck_assert_msg(e < tol, "case %d density %g simd %d: forward error %g", ci,
                          dens[di], simd, e);
            /* input gradient: dx starts at 1 so that adding (not overwriting) is checked */
            float *dy = malloc(y->size * sizeof(float));
            float *dx = malloc(nx * sizeof(float));
            tu_fill(&r, dy, y->size, -1, 1);
            for (size_t i = 0; i < nx; i++)
                x->grad[i] = dx[i] = 1.0f;
            ck_assert_int_eq(ti_tape_backward_seed(tape, y, dy), TI_OK);
            /* the tape zeroes nothing that is a leaf: x->grad held 1 + the gradient; the
             * ReLU passes the gradient where its output is positive */
            for (size_t i = 0; relu && i < y->size; i++)
                dy[i] = ref[i] > 0.0f ? dy[i] : 0.0f;
            naive_dx(dx, w, dy, c);
            e = tu_reldiff(x->grad, dx, nx);
            ck_assert_msg(e < tol, "case %d density %g simd %d: input-gradient error %g", ci,
                          dens[di], simd, e);
            compared++;
            free(ref);
            free(xb);
            free(dy);
            free(dx);
            free(w);
            free(b);
            ti__sp_conv_release(&sc);
        }
    ti_tape_free(tape);
    ti_ctx_free(ctx);
    return compared;
}

/* _i: 0 reference 1 thread, 1 reference 2 threads, 2 AVX2 1 thread, 3 AVX2 3 threads. */
START_TEST(test_sparse_vs_naive)
{
    static const int threads[4] = {1, 2, 1, 3};
    ck_assert_int_eq(check_cases(threads[_i], _i >= 2), 3 * NCASES); /* none skipped */
}
END_TEST

/* The AVX2 kernel and the C reference sum in the same order: they agree to the last bits
 * up to the one rounding an FMA saves (the reference may be compiled without FMA). */
START_TEST(test_sparse_kernel_simd_vs_reference)
{
    ti_rng r;
    ti_rng_seed(&r, 5);
    ti__sp_mat a = {.rows = 5};
    int rowptr[6] = {0, 0, 3, 4, 10, 30}; /* an empty row, short rows, a long one */
    int32_t off[30];
    float val[30], bias[5];
    a.rowptr = rowptr;
    a.off = off;
    a.val = val;
    a.nnz = 30;
    float *in = malloc(600 * sizeof(float)), *o1 = malloc(5 * 200 * sizeof(float));
    float *o2 = malloc(5 * 200 * sizeof(float));
    tu_fill(&r, in, 600, -1, 1);
    tu_fill(&r, val, 30, -1, 1);
    tu_fill(&r, bias, 5, -1, 1);
    for (int j = 0; j < 30; j++)
        off[j] = (int32_t)ti_rng_uniform(&r, 0, 399);
    /* every block width: 64, 32, 16, 8 and combinations (column counts up to 200) */
    for (size_t ncols = 8; ncols <= 200; ncols += 8) {
        ti__sp_kernel(o1, 200, &a, 0, 5, bias, in, ncols, 0);
        ti__sp_kernel(o2, 200, &a, 0, 5, bias, in, ncols, 1);
        for (int rr = 0; rr < 5; rr++) {
            double e = tu_reldiff(o1 + rr * 200, o2 + rr * 200, ncols);
            ck_assert_msg(e < 1e-6, "ncols %zu row %d: %g", ncols, rr, e);
        }
        /* the empty row is its bias */
        for (size_t q = 0; q < ncols; q++)
            ck_assert_float_eq(o2[q], bias[0]);
    }
    free(in);
    free(o1);
    free(o2);
}
END_TEST

/* Central differences of sum(R * sparse_conv(x)) in x. */
static ti_tensor *build_sparse(ti_tape *tape, ti_tensor **in, void *user)
{
    return ti__sparse_conv2d(tape, in[0], user, 0);
}

START_TEST(test_sparse_gradcheck)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_rng r;
    ti_rng_seed(&r, 8);
    static const sp_case cases[] = {
        {2, 3, 5, 5, 4, 3, 3, 1, 1}, {2, 3, 6, 5, 4, 3, 3, 2, 1}, {1, 4, 4, 4, 3, 1, 1, 2, 0},
        {2, 2, 6, 6, 3, 5, 5, 3, 2},
    };
    for (int ci = 0; ci < 4; ci++) {
        const sp_case *c = &cases[ci];
        size_t nw = (size_t)c->K * c->C * c->KH * c->KW;
        float *w = malloc(nw * sizeof(float)), *b = malloc((size_t)c->K * sizeof(float));
        sparse_weight(&r, w, c, 0.4);
        tu_fill(&r, b, (size_t)c->K, -1, 1);
        ti__sp_conv sc = {.simd = 1};
        ck_assert_int_eq(ti__sp_conv_build(ctx, &sc, w, NULL, b, c->K, c->C, c->KH, c->KW,
                                           c->stride, c->pad, 0),
                         TI_OK);
        ti_tensor *x = ti_tensor_new(4, (int[]){c->N, c->C, c->H, c->W});
        tu_fill(&r, x->data, x->size, -1, 1);
        ti_tensor_alloc_grad(x);
        x->requires_grad = 1;
        double err = tu_gradcheck(build_sparse, &x, 1, &sc, 1e-2, 1e-2);
        ck_assert_msg(err < 1e-2, "case %d: relative error %g", ci, err);
        ti_tensor_free(x);
        ti__sp_conv_release(&sc);
        free(w);
        free(b);
    }
    ti_ctx_free(ctx);
}
END_TEST

/* The same batch with 1 and 2 threads, and a batch of 1 (the rows split over the pool)
 * against the same image inside the batch: the same bits, forward and input gradient. */
START_TEST(test_sparse_thread_independent)
{
    const sp_case c = {12, 16, 6, 6, 24, 3, 3, 1, 1};
    ti_rng r;
    ti_rng_seed(&r, 9);
    size_t nw = (size_t)c.K * c.C * 9;
    float *w = malloc(nw * sizeof(float));
    sparse_weight(&r, w, &c, 0.2);
    float *x = malloc((size_t)c.N * c.C * 36 * sizeof(float));
    tu_fill(&r, x, (size_t)c.N * c.C * 36, -1, 1);
    float *out[3], *grad[3];
    for (int v = 0; v < 3; v++) {
        ti_ctx *ctx = ti_ctx_new(1, v == 0 ? 1 : 2);
        ti_tape *tape = ti_tape_new(ctx);
        ti__sp_conv sc = {.simd = 1};
        ck_assert_int_eq(ti__sp_conv_build(ctx, &sc, w, NULL, NULL, c.K, c.C, 3, 3, 1, 1, 0),
                         TI_OK);
        int N = v == 2 ? 1 : c.N; /* v 2: image 5 alone */
        const float *xs = v == 2 ? x + (size_t)5 * c.C * 36 : x;
        ti_tensor *xt = ti_tape_input(tape, xs, 4, (int[]){N, c.C, 6, 6}, 1);
        ti_tensor *y = ti__sparse_conv2d(tape, xt, &sc, 0);
        ck_assert_ptr_nonnull(y);
        float *seed = malloc(y->size * sizeof(float));
        for (size_t i = 0; i < y->size; i++) /* the same seed for every image */
            seed[i] = (float)((int)(i % ((size_t)c.K * 36) % 7) - 3);
        ck_assert_int_eq(ti_tape_backward_seed(tape, y, seed), TI_OK);
        out[v] = malloc(y->size * sizeof(float));
        grad[v] = malloc(xt->size * sizeof(float));
        memcpy(out[v], y->data, y->size * sizeof(float));
        memcpy(grad[v], xt->grad, xt->size * sizeof(float));
        free(seed);
        ti__sp_conv_release(&sc);
        ti_tape_free(tape);
        ti_ctx_free(ctx);
    }
    size_t ny = (size_t)c.N * c.K * 36, per_y = (size_t)c.K * 36, per_x = (size_t)c.C * 36;
    ck_assert(memcmp(out[0], out[1], ny * sizeof(float)) == 0);
    ck_assert(memcmp(grad[0], grad[1], (size_t)c.N * per_x * sizeof(float)) == 0);
    ck_assert(memcmp(out[2], out[0] + 5 * per_y, per_y * sizeof(float)) == 0);
    ck_assert(memcmp(grad[2], grad[0] + 5 * per_x, per_x * sizeof(float)) == 0);
    for (int v = 0; v < 3; v++) {
        free(out[v]);
        free(grad[v]);
    }
    free(w);
    free(x);
}
END_TEST

/* ---- models ----------------------------------------------------------------------------- */

static ti_model *pruned_model(ti_ctx *ctx, const char *arch, int C, int H, double sparsity)
{
    ti_model_config cfg = {.C = C, .H = H, .W = H, .M = 10};
    ti_model *m = NULL;
    ck_assert_msg(ti_model_new(ctx, arch, &cfg, &m) == TI_OK, "%s", ti_ctx_errmsg(ctx));
    ti_rng r;
    ti_rng_seed(&r, 33);
    for (int i = 0; i < ti_model_nparams(m); i++) {
        ti_param *p = ti_model_param(m, i);
        /* non-trivial batch-norm statistics, so that the folding is tested */
        if (p->kind == TI_PARAM_BN_MEAN || p->kind == TI_PARAM_BN_BIAS)
            tu_fill(&r, p->t.data, p->t.size, -0.2f, 0.2f);
        if (p->kind == TI_PARAM_BN_VAR || p->kind == TI_PARAM_BN_WEIGHT)
            tu_fill(&r, p->t.data, p->t.size, 0.5f, 1.5f);
        if (p->kind == TI_PARAM_WEIGHT)
            for (size_t j = 0; j < p->t.size; j++)
                if (ti_rng_uniform(&r, 0, 1) < sparsity)
                    p->t.data[j] = 0.0f;
    }
    return m;
}

/* logits and the input gradient of a summed margin through the classifier view */
static void view_run(ti_model *m, const float *x, int N, float *logits, float *dx)
{
    ti_classifier f;
    ck_assert_int_eq(ti_model_classifier(m, 4, &f), TI_OK);
    int M = f.M;
    float *dl = malloc((size_t)N * M * sizeof(float));
    for (int i = 0; i < N * M; i++)
        dl[i] = (float)(i % M == i / M % M) - 0.1f * (float)(i % 3);
    ck_assert_int_eq(f.vjp(f.self, x, N, dl, logits, dx), TI_OK);
    free(dl);
}

/* A pruned model run sparse (on, and auto which must pick sparse at 95%) against the same
 * model run dense: logits and input gradients agree to 1e-5. Returns how many layers auto
 * ran sparse. */
static int check_model(const char *arch, int C, int H, int N)
{
    int auto_sparse = -1;
    ti_ctx *ctx = ti_ctx_new(4, 2);
    ti_model *m = pruned_model(ctx, arch, C, H, 0.95);
    ti_rng r;
    ti_rng_seed(&r, 44);
    size_t D = (size_t)C * H * H;
    float *x = malloc((size_t)N * D * sizeof(float));
    tu_fill(&r, x, (size_t)N * D, 0, 1);
    float *lg[3], *dx[3];
    static const ti_sparse_mode modes[3] = {TI_SPARSE_OFF, TI_SPARSE_ON, TI_SPARSE_AUTO};
    for (int v = 0; v < 3; v++) {
        lg[v] = malloc((size_t)N * 10 * sizeof(float));
        dx[v] = malloc((size_t)N * D * sizeof(float));
        ck_assert_int_eq(ti_model_set_sparse(m, modes[v]), TI_OK);
        view_run(m, x, N, lg[v], dx[v]);
        int sp, total;
        ti_model_sparse_layers(m, &sp, &total);
        ck_assert_int_gt(total, 0);
        if (v == 0)
            ck_assert_int_eq(sp, 0);
        else if (v == 1)
            ck_assert_int_eq(sp, total);
        else
            auto_sparse = sp;
    }
    for (int v = 1; v < 3; v++) {
        double e = tu_reldiff(lg[v], lg[0], (size_t)N * 10);
        ck_assert_msg(e < 1e-5, "%s mode %d: logits differ by %g", arch, v, e);
        e = tu_reldiff(dx[v], dx[0], (size_t)N * D);
        ck_assert_msg(e < 1e-5, "%s mode %d: input gradients differ by %g", arch, v, e);
    }
    for (int v = 0; v < 3; v++) {
        free(lg[v]);
        free(dx[v]);
    }
    free(x);
    ti_model_free(m);
    ti_ctx_free(ctx);
    return auto_sparse;
}

START_TEST(test_sparse_models)
{
    /* auto runs every conv with more than one tap sparse (not the 1x1s, not the linears) */
    ck_assert_int_eq(check_model("smallcnn", 1, 28, 5), 2);
    ck_assert_int_eq(check_model("resnet18", 3, 8, 3), 17);
    ck_assert_int_eq(check_model("vgg16_bn", 3, 16, 2), 13);
    ck_assert_int_eq(check_model("vgg16_admm", 1, 12, 2), 13);
}
END_TEST

/* A weight changed through ti_model_param, a mask, or an SGD step: the next forward sees it. */
START_TEST(test_sparse_rebuild)
{
    ti_ctx *ctx = ti_ctx_new(4, 1);
    ti_model *m = pruned_model(ctx, "smallcnn", 1, 12, 0.9);
    /* 12x12: two pools leave 3x3 */
    ck_assert_int_eq(ti_model_set_sparse(m, TI_SPARSE_ON), TI_OK);
    float x[144], a[10], b[10], c[10];
    for (int i = 0; i < 144; i++)
        x[i] = (float)(i % 13) / 13.0f;
    ti_classifier f;
    ck_assert_int_eq(ti_model_classifier(m, 1, &f), TI_OK);
    ck_assert_int_eq(f.forward(f.self, x, 1, a), TI_OK);
    ti_param *w = ti_model_find(m, "fc2.weight");
    ck_assert_ptr_nonnull(w);
    for (size_t j = 0; j < w->t.size; j++)
        w->t.data[j] *= 2.0f;
    ck_assert_int_eq(f.forward(f.self, x, 1, b), TI_OK);
    ti_model_set_sparse(m, TI_SPARSE_OFF);
    ck_assert_int_eq(f.forward(f.self, x, 1, c), TI_OK);
    ck_assert_msg(tu_reldiff(b, c, 10) < 1e-5, "stale sparse weights after ti_model_find");
    ck_assert_msg(tu_reldiff(a, b, 10) > 1e-3, "the change did not change the logits");
    /* an SGD step of an optimizer over the model */
    ti_model_set_sparse(m, TI_SPARSE_ON);
    ck_assert_int_eq(f.forward(f.self, x, 1, a), TI_OK);
    ti_sgd *opt = NULL;
    ti_sgd_params sp = ti_sgd_params_default();
    ck_assert_int_eq(ti_sgd_new(ctx, &sp, &opt), TI_OK);
    ck_assert_int_eq(ti_sgd_add_model(opt, m), TI_OK);
    ck_assert_int_eq(f.forward(f.self, x, 1, a), TI_OK); /* built after add_model */
    for (size_t j = 0; j < w->t.size; j++)
        w->t.grad[j] = 1.0f;
    ck_assert_int_eq(ti_sgd_step(opt), TI_OK);
    ck_assert_int_eq(f.forward(f.self, x, 1, b), TI_OK);
    ti_model_set_sparse(m, TI_SPARSE_OFF);
    ck_assert_int_eq(f.forward(f.self, x, 1, c), TI_OK);
    ck_assert_msg(tu_reldiff(b, c, 10) < 1e-5, "stale sparse weights after an SGD step");
    ck_assert_msg(tu_reldiff(a, b, 10) > 1e-4, "the step did not change the logits");
    ti_sgd_free(opt);
    ti_model_free(m);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_sparse_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_model *m = pruned_model(ctx, "smallcnn", 1, 12, 0.5);
    ck_assert_int_eq(ti_model_set_sparse(m, (ti_sparse_mode)7), TI_ERR_ARG);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "sparse mode 7") != NULL);
    ck_assert_int_eq(ti_model_get_sparse(m), TI_SPARSE_AUTO);
    ti_sparse_mode mode;
    ck_assert_int_eq(ti_sparse_mode_parse("sometimes", &mode), TI_ERR_ARG);
    ck_assert_int_eq(ti_sparse_mode_parse(NULL, &mode), TI_ERR_ARG);
    for (int i = 0; i < TI_SPARSE_MODE_COUNT; i++) {
        ck_assert_int_eq(ti_sparse_mode_parse(ti_sparse_mode_name((ti_sparse_mode)i), &mode),
                         TI_OK);
        ck_assert_int_eq(mode, i);
    }
    ck_assert_str_eq(ti_sparse_mode_name(TI_SPARSE_MODE_COUNT), "unknown");
    /* the op given an input of the wrong shape */
    float w[2 * 3 * 9] = {1.0f};
    ti__sp_conv sc = {.simd = 1};
    ck_assert_int_eq(ti__sp_conv_build(ctx, &sc, w, NULL, NULL, 2, 3, 3, 3, 1, 0, 0), TI_OK);
    ti_tape *tape = ti_tape_new(ctx);
    float zeros[100] = {0};
    ti_tensor *x = ti_tape_input(tape, zeros, 4, (int[]){1, 4, 5, 5}, 0);
    ck_assert_ptr_null(ti__sparse_conv2d(tape, x, &sc, 0));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "3 input channels");
    x = ti_tape_input(tape, zeros, 4, (int[]){1, 3, 2, 2}, 0);
    ck_assert_ptr_null(ti__sparse_conv2d(tape, x, &sc, 0));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "kernel 3x3");
    ti__sp_conv_release(&sc);
    ti_tape_free(tape);
    ti_model_free(m);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_sparse(void)
{
    Suite *s = suite_create("sparse");
    TCase *tc = tcase_create("sparse");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_sparse_vs_naive, 0, 4);
    tcase_add_test(tc, test_sparse_kernel_simd_vs_reference);
    tcase_add_test(tc, test_sparse_gradcheck);
    tcase_add_test(tc, test_sparse_thread_independent);
    tcase_add_test(tc, test_sparse_models);
    tcase_add_test(tc, test_sparse_rebuild);
    tcase_add_test(tc, test_sparse_errors);
    suite_add_tcase(s, tc);
    return s;
}
