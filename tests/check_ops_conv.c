/* Tests of conv2d and the pooling ops: the im2col + sgemm path against conv.c's naive 7-loop
 * kernel over many shapes, the backward against plain-loop gradients and central finite
 * differences, hand-computed pooling values, and every error path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../libtensor/internal.h"

typedef struct conv_case {
    int N, C, H, W, K, KH, KW, stride, pad, bias;
} conv_case;

/* Small shapes covering stride 1/2/3 (widths that are and are not multiples of the
 * stride), pad 0/1/2, 1x1/3x3/5x5, odd sizes, batch 1 and 7, C 1/3,
 * plus shapes large enough to hit the grouping's corners: one image per group (64x64 maps),
 * a short last group (7 images of 28x28), the direct 1x1 path, the row-shift variant (stride
 * 1 on large maps, KH > 1), and Winograd (3x3 stride 1, 32 channels and more: the last five,
 * odd sizes for cut edge tiles, pad 0 to 2, more images than one group on 34x34 and on the
 * small CNN's 14x14), then the direct kernel's corners (conv_direct.c: 3x3 stride-2 layers
 * with few channels, stride-1 layers Winograd does not take or whose maps are 8x8 and
 * smaller when their weights are frozen; output rows of 8 and more pixels, cut ones, and rows
 * of 4 two to a vector; an odd last row; 1, 2 and 3 output channels past the last block of 4;
 * pad 0 and 1), and a layer whose transformed weights are too large to keep (512 -> 192,
 * frozen: im2col + GEMM below 8 images per thread, Winograd from 8 (9 images on 1 thread);
 * Winograd whenever the backward wants the weight's gradient). With 2 and 3 threads the
 * Winograd cases of fewer than 64 tiles per thread (9x7, 6x6 and 5x8 maps) split the output
 * channels instead of the images (conv_winograd.c, split_channels). */
static const conv_case CASES[] = {
    {1, 1, 5, 5, 1, 3, 3, 1, 0, 0},   {1, 3, 7, 6, 4, 3, 3, 1, 1, 1},
    {7, 3, 9, 9, 5, 3, 3, 2, 1, 1},   {7, 1, 8, 7, 2, 5, 5, 1, 2, 1},
    {2, 3, 11, 10, 3, 5, 5, 2, 0, 0}, {3, 4, 6, 6, 6, 1, 1, 1, 0, 1},
    {2, 5, 7, 9, 3, 1, 1, 2, 0, 1},   {1, 2, 4, 4, 3, 1, 1, 1, 1, 1},
    {7, 3, 5, 5, 8, 3, 3, 2, 0, 1},   {2, 2, 3, 3, 2, 3, 3, 1, 2, 1},
    {1, 3, 2, 2, 2, 3, 3, 1, 1, 0},   {3, 2, 8, 8, 4, 2, 2, 2, 0, 1},
    {2, 3, 11, 13, 4, 3, 3, 3, 1, 1}, {1, 2, 14, 12, 3, 5, 5, 3, 2, 0},
    {7, 1, 28, 28, 4, 3, 3, 1, 1, 1}, {2, 3, 64, 64, 4, 3, 3, 1, 1, 1},
    {2, 8, 64, 64, 5, 1, 1, 1, 0, 1}, {5, 8, 16, 16, 6, 1, 1, 1, 0, 0},
    {3, 2, 40, 37, 3, 5, 5, 1, 2, 1}, {2, 3, 30, 33, 4, 3, 3, 1, 0, 0},
    {2, 64, 9, 7, 64, 3, 3, 1, 1, 1}, {3, 64, 6, 6, 65, 3, 3, 1, 0, 1},
    {1, 70, 5, 8, 64, 3, 3, 1, 2, 0}, {2, 64, 34, 34, 64, 3, 3, 1, 1, 1},
    {9, 32, 14, 14, 48, 3, 3, 1, 1, 1},
    {3, 3, 32, 32, 16, 3, 3, 2, 1, 1}, {2, 16, 16, 16, 33, 3, 3, 2, 1, 0},
    {2, 32, 8, 8, 30, 3, 3, 1, 1, 1},  {3, 32, 8, 8, 32, 3, 3, 1, 1, 1},
    {2, 32, 8, 8, 35, 3, 3, 2, 1, 1},  {2, 32, 4, 4, 32, 3, 3, 1, 1, 1},
    {1, 5, 6, 4, 6, 3, 3, 1, 1, 1},    {2, 7, 19, 21, 9, 3, 3, 1, 0, 1},
    {2, 4, 21, 19, 5, 3, 3, 2, 0, 1},  {2, 64, 8, 8, 7, 3, 3, 1, 1, 1},
    {2, 512, 4, 4, 192, 3, 3, 1, 1, 1}, {9, 512, 4, 4, 192, 3, 3, 1, 1, 0},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static int out_size(int in, int k, int s, int p)
{
    return (in + 2 * p - k) / s + 1;
}

/* Gradients of sum(dy * conv(x, w, b)) by plain loops, accumulating into dx, dw, db. */
static void naive_conv_bwd(float *dx, float *dw, float *db, const float *x, const float *w,
                           const float *dy, const conv_case *c)
{
    int OH = out_size(c->H, c->KH, c->stride, c->pad), OW = out_size(c->W, c->KW, c->stride, c->pad);
    for (int n = 0; n < c->N; n++)
        for (int k = 0; k < c->K; k++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    float g = dy[(((size_t)n * c->K + k) * OH + oh) * OW + ow];
                    db[k] += g;
                    for (int ch = 0; ch < c->C; ch++)
                        for (int kh = 0; kh < c->KH; kh++)
                            for (int kw = 0; kw < c->KW; kw++) {
                                int ih = oh * c->stride - c->pad + kh, iw = ow * c->stride - c->pad + kw;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                                    continue;
                                size_t xi = (((size_t)n * c->C + ch) * c->H + ih) * c->W + iw;
                                size_t wi = (((size_t)k * c->C + ch) * c->KH + kh) * c->KW + kw;
                                dx[xi] += g * w[wi];
                                dw[wi] += g * x[xi];
                            }
                }
}

/* Winograd's transforms round more than a direct sum: its cases get a looser bound. */
static double tolerance(const conv_case *c)
{
    int wino = c->KH == 3 && c->KW == 3 && c->stride == 1 && c->C >= 32 && c->K >= 32;
    return wino ? 5e-5 : 1e-5;
}

/* New leaves x (N, C, H, W), w (K, C, KH, KW) and b (K) for case c, uniform in [-1, 1). */
static void case_leaves(ti_rng *r, const conv_case *c, ti_tensor **x, ti_tensor **w,
                        ti_tensor **b)
{
    *x = ti_tensor_new(4, (int[]){c->N, c->C, c->H, c->W});
    *w = ti_tensor_new(4, (int[]){c->K, c->C, c->KH, c->KW});
    *b = ti_tensor_new(1, &c->K);
    tu_fill(r, (*x)->data, (*x)->size, -1, 1);
    tu_fill(r, (*w)->data, (*w)->size, -1, 1);
    tu_fill(r, (*b)->data, (*b)->size, -1, 1);
}

/* Every case against the plain loops, with 1, 2 and 3 threads (_i): the images are split
 * over the pool, unevenly with 3. */
START_TEST(test_conv_forward_vs_naive)
{
    ti_ctx *ctx = ti_ctx_new(1, _i);
    ti_tape *tape = ti_tape_new(ctx);
    ti_rng r;
    ti_rng_seed(&r, 11);
    for (int ci = 0; ci < NCASES; ci++) {
        const conv_case *c = &CASES[ci];
        ti_tape_reset(tape);
        int xs[4] = {c->N, c->C, c->H, c->W}, ws[4] = {c->K, c->C, c->KH, c->KW};
        ti_tensor *x = ti_tape_tensor(tape, 4, xs), *w = ti_tape_tensor(tape, 4, ws);
        ti_tensor *b = c->bias ? ti_tape_tensor(tape, 1, &c->K) : NULL;
        tu_fill(&r, x->data, x->size, -1, 1);
        tu_fill(&r, w->data, w->size, -1, 1);
        if (b)
            tu_fill(&r, b->data, b->size, -1, 1);
        ti_tensor *y = ti_conv2d(tape, x, w, b, c->stride, c->pad);
        ck_assert_msg(y != NULL, "case %d: %s", ci, ti_ctx_errmsg(ctx));
        int OH = out_size(c->H, c->KH, c->stride, c->pad), OW = out_size(c->W, c->KW, c->stride, c->pad);
        ck_assert_int_eq(y->shape[0], c->N);
        ck_assert_int_eq(y->shape[1], c->K);
        ck_assert_int_eq(y->shape[2], OH);
        ck_assert_int_eq(y->shape[3], OW);
        float *ref = malloc(y->size * sizeof(float));
        ti__conv2d_naive(ref, x->data, w->data, b ? b->data : NULL, c->N, c->C, c->H, c->W, c->K,
                         c->KH, c->KW, c->stride, c->pad);
        double e = tu_reldiff(y->data, ref, y->size);
        ck_assert_msg(e < tolerance(c), "case %d: forward error %g", ci, e);
        free(ref);
    }
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* Backward of every case against the plain loops, for each subset of inputs that asks for a
 * gradient, with 1, 2 and 3 threads (_i); gradients must ADD to what the buffers held, and
 * untouched ones stay untouched. */
START_TEST(test_conv_backward_vs_naive)
{
    ti_ctx *ctx = ti_ctx_new(1, _i);
    ti_tape *tape = ti_tape_new(ctx);
    ti_rng r;
    ti_rng_seed(&r, 12);
    for (int ci = 0; ci < NCASES; ci++) {
        const conv_case *c = &CASES[ci];
        ti_tensor *x, *w, *b;
        case_leaves(&r, c, &x, &w, &b);
        ti_tensor_alloc_grad(x);
        ti_tensor_alloc_grad(w);
        ti_tensor_alloc_grad(b);
        for (int mask = 1; mask < 8; mask++) {
            x->requires_grad = mask & 1;
            w->requires_grad = (mask >> 1) & 1;
            b->requires_grad = (mask >> 2) & 1;
            /* start from a known non-zero content to see accumulation */
            for (size_t i = 0; i < x->size; i++)
                x->grad[i] = 0.5f;
            for (size_t i = 0; i < w->size; i++)
                w->grad[i] = 0.5f;
            for (size_t i = 0; i < b->size; i++)
                b->grad[i] = 0.5f;
            ti_tape_reset(tape);
            ti_tensor *y = ti_conv2d(tape, x, w, b, c->stride, c->pad);
            ck_assert_ptr_nonnull(y);
            float *dy = malloc(y->size * sizeof(float));
            tu_fill(&r, dy, y->size, -1, 1);
            ck_assert_int_eq(ti_tape_backward_seed(tape, y, dy), TI_OK);
            float *rx = malloc(x->size * sizeof(float)), *rw = malloc(w->size * sizeof(float));
            float *rb = malloc(b->size * sizeof(float));
            for (size_t i = 0; i < x->size; i++)
                rx[i] = 0.5f;
            for (size_t i = 0; i < w->size; i++)
                rw[i] = 0.5f;
            for (size_t i = 0; i < b->size; i++)
                rb[i] = 0.5f;
            naive_conv_bwd(rx, rw, rb, x->data, w->data, dy, c);
            /* inputs that did not ask keep their buffers as they were */
            if (!x->requires_grad)
                for (size_t i = 0; i < x->size; i++)
                    rx[i] = 0.5f;
            if (!w->requires_grad)
                for (size_t i = 0; i < w->size; i++)
                    rw[i] = 0.5f;
            if (!b->requires_grad)
                for (size_t i = 0; i < b->size; i++)
                    rb[i] = 0.5f;
            double ex = tu_reldiff(x->grad, rx, x->size), ew = tu_reldiff(w->grad, rw, w->size);
            double eb = tu_reldiff(b->grad, rb, b->size);
            /* dw and db sum over N OH OW terms: allow for float rounding */
            ck_assert_msg(ex < tolerance(c) && ew < 1e-4 && eb < 1e-4,
                          "case %d mask %d: dx %g dw %g db %g", ci, mask, ex, ew, eb);
            free(dy);
            free(rx);
            free(rw);
            free(rb);
        }
        ti_tensor_free(x);
        ti_tensor_free(w);
        ti_tensor_free(b);
    }
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* The direct kernel sums every output in one order whatever the batch: an image's output
 * (and, at stride 1, where the kernel also takes the backward, its input gradient) is the
 * same bits alone or among others, with 1 or 2 threads (the GEMM paths do not promise that:
 * OpenBLAS's kernels depend on the matrix sizes). */
START_TEST(test_conv_direct_batch_independent)
{
    static const conv_case direct[] = {
        {5, 3, 32, 32, 16, 3, 3, 2, 1, 1}, {5, 16, 8, 8, 32, 3, 3, 1, 1, 1},
        {5, 32, 8, 8, 32, 3, 3, 2, 1, 1}, {5, 3, 32, 32, 64, 3, 3, 1, 1, 0},
        {5, 32, 8, 8, 32, 3, 3, 1, 1, 1}, {4, 32, 4, 4, 32, 3, 3, 1, 1, 1}};
    ti_rng r;
    ti_rng_seed(&r, 13);
    for (size_t ci = 0; ci < sizeof direct / sizeof *direct; ci++) {
        const conv_case *c = &direct[ci];
        ti_tensor *x, *w, *b;
        case_leaves(&r, c, &x, &w, &b);
        size_t D = (size_t)c->C * c->H * c->W;
        float *yall = NULL, *dxall = NULL, *dy = NULL;
        for (int T = 1; T <= 2; T++) {
            ti_ctx *ctx = ti_ctx_new(1, T);
            ti_tape *tape = ti_tape_new(ctx);
            for (int n = -1; n < c->N; n++) { /* n = -1: the whole batch, else image n */
                int N = n < 0 ? c->N : 1;
                ti_tape_reset(tape);
                ti_tensor *in = ti_tape_input(tape, x->data + (n < 0 ? 0 : n) * D, 4,
                                              (int[]){N, c->C, c->H, c->W}, 1);
                ti_tensor *y = ti_conv2d(tape, in, w, b, c->stride, c->pad);
                ck_assert_ptr_nonnull(y);
                size_t O = y->size / (size_t)N;
                if (!dy) {
                    dy = malloc(y->size * sizeof(float));
                    tu_fill(&r, dy, y->size, -1, 1);
                }
                ck_assert_int_eq(ti_tape_backward_seed(tape, y, dy + (n < 0 ? 0 : n) * O), TI_OK);
                if (!yall) {
                    yall = malloc(y->size * sizeof(float));
                    dxall = malloc(in->size * sizeof(float));
                    memcpy(yall, y->data, y->size * sizeof(float));
                    memcpy(dxall, in->grad, in->size * sizeof(float));
                    continue;
                }
                size_t i0 = n < 0 ? 0 : (size_t)n;
                ck_assert_msg(!memcmp(y->data, yall + i0 * O, y->size * sizeof(float)),
                              "case %zu, %d threads, image %d: forward differs", ci, T, n);
                ck_assert_msg(c->stride > 1 ||
                                  !memcmp(in->grad, dxall + i0 * D, in->size * sizeof(float)),
                              "case %zu, %d threads, image %d: input gradient differs", ci, T,
                              n);
            }
            ti_tape_free(tape);
            ti_ctx_free(ctx);
        }
        free(yall);
        free(dxall);
        free(dy);
        ti_tensor_free(x);
        ti_tensor_free(w);
        ti_tensor_free(b);
    }
}
END_TEST

static ti_tensor *build_conv(ti_tape *t, ti_tensor **in, void *user)
{
    const conv_case *c = user;
    return ti_conv2d(t, in[0], in[1], c->bias ? in[2] : NULL, c->stride, c->pad);
}

START_TEST(test_conv_gradcheck)
{
    static const conv_case small[] = {
        {2, 3, 5, 5, 2, 3, 3, 1, 1, 1},
        {1, 2, 6, 5, 3, 3, 3, 2, 0, 1},
        {2, 1, 4, 4, 2, 1, 1, 1, 0, 0},
        {1, 2, 5, 6, 2, 5, 5, 2, 2, 1},
    };
    ti_rng r;
    ti_rng_seed(&r, 13);
    for (int ci = 0; ci < 4; ci++) {
        const conv_case *c = &small[ci];
        ti_tensor *x, *w, *b;
        case_leaves(&r, c, &x, &w, &b);
        x->requires_grad = w->requires_grad = 1;
        b->requires_grad = c->bias;
        ti_tensor *in[3] = {x, w, b};
        double err = tu_gradcheck(build_conv, in, c->bias ? 3 : 2, (void *)c, 1e-2, 1e-2);
        ck_assert_msg(err < 1e-2, "case %d: relative error %g", ci, err);
        ti_tensor_free(x);
        ti_tensor_free(w);
        ti_tensor_free(b);
    }
}
END_TEST

/* The attack's case: frozen weights, only the input's gradient; backward twice accumulates. */
START_TEST(test_conv_input_grad_only)
{
    ti_ctx *ctx = ti_ctx_new(3, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_rng r;
    ti_rng_seed(&r, 14);
    ti_tensor *w = ti_tensor_new(4, (int[]){4, 3, 3, 3});
    tu_fill(&r, w->data, w->size, -1, 1);
    float xd[2 * 3 * 6 * 6];
    tu_fill(&r, xd, 2 * 3 * 6 * 6, 0, 1);
    ti_tensor *x = ti_tape_input(tape, xd, 4, (int[]){2, 3, 6, 6}, 1);
    ti_tensor *loss = ti_sum(tape, ti_conv2d(tape, x, w, NULL, 1, 1));
    ck_assert_int_eq(ti_tape_backward(tape, loss), TI_OK);
    ck_assert_ptr_null(w->grad); /* never touched: it has no buffer and asked for nothing */
    float once[2 * 3 * 6 * 6];
    memcpy(once, x->grad, sizeof once);
    /* d sum / dx at an interior pixel is the sum of all weights of that channel */
    for (int c = 0; c < 3; c++) {
        double s = 0;
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < 9; i++)
                s += w->data[(k * 3 + c) * 9 + i];
        ck_assert_double_eq_tol(once[(0 * 3 + c) * 36 + 2 * 6 + 3], s, 1e-4);
    }
    ck_assert_int_eq(ti_tape_backward(tape, loss), TI_OK);
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
        ck_assert_float_eq_tol(x->grad[i], 2 * once[i], 1e-5);
    ti_tensor_free(w);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* Each bad call fails with its status, a message containing `needle`, and a sticky error. */
static void expect_fail(ti_tape *tape, ti_tensor *y, ti_status s, const char *needle)
{
    ck_assert_ptr_null(y);
    tu_expect_tape_error(tape, s, needle);
}

START_TEST(test_conv_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_tensor *x1 = ti_tensor_new(4, (int[]){2, 1, 28, 28});
    ti_tensor *x3 = ti_tensor_new(4, (int[]){2, 3, 32, 32});
    ti_tensor *w3 = ti_tensor_new(4, (int[]){8, 3, 3, 3});
    ti_tensor *w1 = ti_tensor_new(4, (int[]){8, 1, 3, 3});
    ti_tensor *b8 = ti_tensor_new(1, (int[]){8});
    ti_tensor *b5 = ti_tensor_new(1, (int[]){5});
    ti_tensor *flat = ti_tensor_new(2, (int[]){2, 3});
    expect_fail(tape, ti_conv2d(tape, x1, w3, b8, 1, 1), TI_ERR_SHAPE,
                "C=1 but the weight (8, 3, 3, 3) expects C=3 (a CIFAR-10 model given Fashion-MNIST");
    expect_fail(tape, ti_conv2d(tape, x3, w1, NULL, 1, 1), TI_ERR_SHAPE,
                "(a Fashion-MNIST model given CIFAR-10 data?)");
    expect_fail(tape, ti_conv2d(tape, x3, w3, b5, 1, 1), TI_ERR_SHAPE, "bias must be (8)");
    expect_fail(tape, ti_conv2d(tape, x3, w3, NULL, 0, 1), TI_ERR_ARG, "stride 0");
    expect_fail(tape, ti_conv2d(tape, x3, w3, NULL, 1, -1), TI_ERR_ARG, "pad -1");
    expect_fail(tape, ti_conv2d(tape, flat, w3, NULL, 1, 1), TI_ERR_SHAPE, "(N, C, H, W)");
    expect_fail(tape, ti_conv2d(tape, x3, flat, NULL, 1, 1), TI_ERR_SHAPE, "(K, C, KH, KW)");
    expect_fail(tape, ti_conv2d(tape, x3, NULL, NULL, 1, 1), TI_ERR_ARG, "NULL");
    ti_tensor *big = ti_tensor_new(4, (int[]){2, 3, 40, 40});
    expect_fail(tape, ti_conv2d(tape, x3, big, NULL, 1, 3), TI_ERR_SHAPE, "does not fit");
    /* a failed op makes the next one fail too, without a new message */
    ck_assert_ptr_null(ti_conv2d(tape, x1, w3, NULL, 1, 1));
    ck_assert_ptr_null(ti_relu(tape, ti_conv2d(tape, x3, w3, NULL, 1, 1)));
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "C=1"));
    ti_tensor *ts[] = {x1, x3, w3, w1, b8, b5, flat, big};
    for (int i = 0; i < 8; i++)
        ti_tensor_free(ts[i]);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- pooling -------------------------------------------------------------------------------- */

START_TEST(test_pool_values)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    /* one 4x5 plane:  1  2  3  4  5 / 6 7 8 9 10 / ... 20, with a tie planted at (0,0)-(1,1) */
    float d[20];
    for (int i = 0; i < 20; i++)
        d[i] = (float)(i + 1);
    d[0] = 7.0f; /* window (0..1, 0..1) = {7, 2, 6, 7}: the first 7 (row-major) is the max */
    ti_tensor *x = ti_tape_input(tape, d, 4, (int[]){1, 1, 4, 5}, 1);
    ti_tensor *mp = ti_maxpool2d(tape, x, 2, 2);
    ck_assert_int_eq(mp->shape[2], 2);
    ck_assert_int_eq(mp->shape[3], 2);
    float mexp[4] = {7, 9, 17, 19};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(mp->data[i], mexp[i]);
    ck_assert_int_eq(ti_tape_backward_seed(tape, mp, (float[]){1, 2, 3, 4}), TI_OK);
    float gexp[20] = {0};
    gexp[0] = 1;  /* the first of the tied 7s, not the one at (1, 1) */
    gexp[8] = 2;  /* 9 at (1, 3) */
    gexp[16] = 3; /* 17 at (3, 1) */
    gexp[18] = 4; /* 19 at (3, 3) */
    for (int i = 0; i < 20; i++)
        ck_assert_float_eq(x->grad[i], gexp[i]);

    /* average pooling, window 3 stride 1 over the same plane (first value back to 1) */
    ti_tape_reset(tape);
    d[0] = 1.0f;
    x = ti_tape_input(tape, d, 4, (int[]){1, 1, 4, 5}, 1);
    ti_tensor *ap = ti_avgpool2d(tape, x, 3, 1);
    ck_assert_int_eq(ap->shape[2], 2);
    ck_assert_int_eq(ap->shape[3], 3);
    /* mean of a 3x3 block of an arithmetic grid is its centre value */
    float aexp[6] = {7, 8, 9, 12, 13, 14};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(ap->data[i], aexp[i], 1e-5);
    ck_assert_int_eq(ti_tape_backward(tape, ti_sum(tape, ap)), TI_OK);
    /* (0,0) is in one window, (1,2) in all six */
    ck_assert_float_eq_tol(x->grad[0], 1.0f / 9, 1e-6);
    ck_assert_float_eq_tol(x->grad[7], 6.0f / 9, 1e-6);

    /* adaptive 4x5 -> 3x2: rows [0,2) [1,3) [2,4), columns [0,3) [2,5) */
    ti_tape_reset(tape);
    x = ti_tape_input(tape, d, 4, (int[]){1, 1, 4, 5}, 1);
    ti_tensor *aa = ti_adaptive_avgpool2d(tape, x, 3, 2);
    float adexp[6] = {4.5f, 6.5f, 9.5f, 11.5f, 14.5f, 16.5f};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(aa->data[i], adexp[i], 1e-5);
    ck_assert_int_eq(ti_tape_backward(tape, ti_sum(tape, aa)), TI_OK);
    /* (1, 2) lies in rows 0 and 1, columns 0 and 1: four bins of 6 cells */
    ck_assert_float_eq_tol(x->grad[7], 4.0f / 6, 1e-6);
    ck_assert_float_eq_tol(x->grad[0], 1.0f / 6, 1e-6);

    /* global average pooling is the plane mean */
    ti_tape_reset(tape);
    x = ti_tape_input(tape, d, 4, (int[]){2, 2, 1, 5}, 0);
    ti_tensor *gp = ti_adaptive_avgpool2d(tape, x, 1, 1);
    float gpexp[4] = {3, 8, 13, 18};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(gp->data[i], gpexp[i], 1e-5);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

typedef struct pool_case {
    int which, k, s, OH, OW;
} pool_case;

static ti_tensor *build_pool(ti_tape *t, ti_tensor **in, void *user)
{
    const pool_case *p = user;
    switch (p->which) {
    case 0: return ti_maxpool2d(t, in[0], p->k, p->s);
    case 1: return ti_avgpool2d(t, in[0], p->k, p->s);
    default: return ti_adaptive_avgpool2d(t, in[0], p->OH, p->OW);
    }
}

START_TEST(test_pool_gradcheck)
{
    static const pool_case cases[] = {
        {0, 2, 2, 0, 0}, {0, 3, 2, 0, 0}, {0, 3, 1, 0, 0}, {1, 2, 2, 0, 0}, {1, 3, 2, 0, 0},
        {2, 0, 0, 1, 1}, {2, 0, 0, 3, 2}, {2, 0, 0, 4, 7}, /* more bins than cells: overlap */
    };
    ti_rng r;
    ti_rng_seed(&r, 15);
    ti_tensor *x = ti_tensor_new(4, (int[]){2, 3, 7, 6});
    /* a shuffled grid of well separated values: no ties, so max pooling is differentiable
     * at the point and within the finite-difference step */
    int idx[2 * 3 * 7 * 6];
    for (int i = 0; i < 252; i++)
        idx[i] = i;
    ti_rng_shuffle(&r, idx, 252);
    for (int i = 0; i < 252; i++)
        x->data[i] = 0.1f * (float)idx[i] - 12.0f;
    x->requires_grad = 1;
    for (int i = 0; i < 8; i++) {
        double err = tu_gradcheck(build_pool, &x, 1, (void *)&cases[i], 1e-2, 1e-2);
        ck_assert_msg(err < 1e-2, "pool case %d: relative error %g", i, err);
    }
    ti_tensor_free(x);
}
END_TEST

START_TEST(test_pool_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_tensor *x = ti_tensor_new(4, (int[]){1, 2, 4, 4});
    ti_tensor *flat = ti_tensor_new(2, (int[]){2, 16});
    expect_fail(tape, ti_maxpool2d(tape, x, 0, 1), TI_ERR_ARG, "window 0");
    expect_fail(tape, ti_maxpool2d(tape, x, 2, 0), TI_ERR_ARG, "stride 0");
    expect_fail(tape, ti_maxpool2d(tape, x, 5, 1), TI_ERR_SHAPE, "5x5 window does not fit");
    expect_fail(tape, ti_avgpool2d(tape, x, 5, 5), TI_ERR_SHAPE, "does not fit");
    expect_fail(tape, ti_avgpool2d(tape, flat, 2, 2), TI_ERR_SHAPE, "(N, C, H, W)");
    expect_fail(tape, ti_maxpool2d(tape, NULL, 2, 2), TI_ERR_ARG, "NULL");
    expect_fail(tape, ti_adaptive_avgpool2d(tape, x, 0, 1), TI_ERR_ARG, "0x1");
    expect_fail(tape, ti_adaptive_avgpool2d(tape, flat, 1, 1), TI_ERR_SHAPE, "(2, 16)");
    /* a maxpool computed with recording off keeps no argmax and records no node */
    ti_tape_set_recording(tape, 0);
    x->requires_grad = 1;
    ti_tensor *y = ti_maxpool2d(tape, x, 2, 2);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_null(y->node);
    ti_tensor_free(x);
    ti_tensor_free(flat);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_ops_conv(void)
{
    Suite *s = suite_create("ops_conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_conv_forward_vs_naive, 1, 4);
    tcase_add_loop_test(tc, test_conv_backward_vs_naive, 1, 4);
    tcase_add_test(tc, test_conv_direct_batch_independent);
    tcase_add_test(tc, test_conv_gradcheck);
    tcase_add_test(tc, test_conv_input_grad_only);
    tcase_add_test(tc, test_conv_errors);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("pool");
    tcase_add_test(tp, test_pool_values);
    tcase_add_test(tp, test_pool_gradcheck);
    tcase_add_test(tp, test_pool_errors);
    suite_add_tcase(s, tp);
    return s;
}
