/* Tests of the grouped, depthwise and dilated convolution (conv_grouped.c): forward and
 * backward against plain loops over many shapes with 1 to 3 threads, central finite
 * differences, the hand-over to ti_conv2d for groups = dilation = 1, and the error paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct gcase {
    int N, C, H, W, K, KH, KW, stride, pad, dil, groups, bias;
} gcase;

/* depthwise (groups = C, with and without a channel multiplier), grouped, dilated, both,
 * grouped 1x1 (the direct path), stride 2, a dilated kernel that just fits, batch 1 and 5 */
static const gcase CASES[] = {
    {2, 4, 7, 6, 4, 3, 3, 1, 1, 1, 4, 1},   {3, 3, 8, 8, 6, 3, 3, 2, 1, 1, 3, 0},
    {2, 6, 9, 7, 4, 3, 3, 1, 1, 1, 2, 1},   {1, 3, 9, 9, 5, 3, 3, 1, 2, 2, 1, 1},
    {5, 2, 10, 11, 3, 3, 2, 2, 0, 3, 1, 0}, {2, 8, 12, 12, 8, 3, 3, 1, 2, 2, 8, 1},
    {3, 6, 5, 5, 9, 1, 1, 1, 0, 1, 3, 1},   {2, 4, 7, 7, 4, 5, 5, 1, 0, 1, 2, 1},
    {1, 2, 5, 5, 2, 3, 3, 1, 0, 2, 2, 0},   {2, 6, 16, 16, 12, 3, 3, 2, 3, 3, 6, 1},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static int out_size(int in, int k, int s, int p, int d)
{
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* y (forward), or with dy given, dx/dw/db += the gradients of sum(dy * y), by plain loops. */
static void naive(const gcase *c, const float *x, const float *w, const float *b, float *y,
                  const float *dy, float *dx, float *dw, float *db)
{
    int OH = out_size(c->H, c->KH, c->stride, c->pad, c->dil);
    int OW = out_size(c->W, c->KW, c->stride, c->pad, c->dil);
    int Cg = c->C / c->groups, Kg = c->K / c->groups;
    for (int n = 0; n < c->N; n++)
        for (int k = 0; k < c->K; k++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    size_t yi = (((size_t)n * c->K + k) * OH + oh) * OW + ow;
                    double acc = b ? b[k] : 0.0;
                    float g = dy ? dy[yi] : 0.0f;
                    if (dy && db)
                        db[k] += g;
                    for (int cg = 0; cg < Cg; cg++)
                        for (int kh = 0; kh < c->KH; kh++)
                            for (int kw = 0; kw < c->KW; kw++) {
                                int ih = oh * c->stride - c->pad + kh * c->dil;
                                int iw = ow * c->stride - c->pad + kw * c->dil;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                                    continue;
                                int ch = (k / Kg) * Cg + cg;
                                size_t xi = (((size_t)n * c->C + ch) * c->H + ih) * c->W + iw;
                                size_t wi = (((size_t)k * Cg + cg) * c->KH + kh) * c->KW + kw;
                                acc += (double)x[xi] * w[wi];
                                if (dy) {
                                    dx[xi] += g * w[wi];
                                    dw[wi] += g * x[xi];
                                }
                            }
                    if (!dy)
                        y[yi] = (float)acc;
                }
}

/* New leaves for case c, uniform in [-1, 1) */
static void leaves(ti_rng *r, const gcase *c, ti_tensor **x, ti_tensor **w, ti_tensor **b)
{
    *x = ti_tensor_new(4, (int[]){c->N, c->C, c->H, c->W});
    *w = ti_tensor_new(4, (int[]){c->K, c->C / c->groups, c->KH, c->KW});
    *b = ti_tensor_new(1, &c->K);
    tu_fill(r, (*x)->data, (*x)->size, -1, 1);
    tu_fill(r, (*w)->data, (*w)->size, -1, 1);
    tu_fill(r, (*b)->data, (*b)->size, -1, 1);
}

/* Every case against the loops, forward and backward, with 1, 2 and 3 threads (_i). */
START_TEST(test_gconv_vs_naive)
{
    ti_ctx *ctx = ti_ctx_new(1, _i);
    ti_tape *tape = ti_tape_new(ctx);
    ti_rng r;
    ti_rng_seed(&r, 41);
    for (int ci = 0; ci < NCASES; ci++) {
        const gcase *c = &CASES[ci];
        ti_tensor *x, *w, *b;
        leaves(&r, c, &x, &w, &b);
        ti_tape_reset(tape);
        ti_tensor *xt = ti_tape_input(tape, x->data, 4, x->shape, 1);
        ti_tensor *wt = ti_tape_input(tape, w->data, 4, w->shape, 1);
        ti_tensor *bt = c->bias ? ti_tape_input(tape, b->data, 1, b->shape, 1) : NULL;
        ti_tensor *y = ti_conv2d_grouped(tape, xt, wt, bt, c->stride, c->pad, c->dil, c->groups);
        ck_assert_msg(y != NULL, "case %d: %s", ci, ti_ctx_errmsg(ctx));
        ck_assert_int_eq(y->shape[1], c->K);
        ck_assert_int_eq(y->shape[2], out_size(c->H, c->KH, c->stride, c->pad, c->dil));
        ck_assert_int_eq(y->shape[3], out_size(c->W, c->KW, c->stride, c->pad, c->dil));
        float *ref = calloc(y->size, sizeof(float)), *dy = malloc(y->size * sizeof(float));
        naive(c, x->data, w->data, c->bias ? b->data : NULL, ref, NULL, NULL, NULL, NULL);
        double e = tu_reldiff(y->data, ref, y->size);
        ck_assert_msg(e < 1e-5, "case %d: forward error %g", ci, e);

        tu_fill(&r, dy, y->size, -1, 1);
        ck_assert_int_eq(ti_tape_backward_seed(tape, y, dy), TI_OK);
        float *dx = calloc(x->size, sizeof(float)), *dw = calloc(w->size, sizeof(float));
        float *db = calloc(b->size, sizeof(float));
        naive(c, x->data, w->data, NULL, NULL, dy, dx, dw, db);
        ck_assert_msg(tu_reldiff(xt->grad, dx, x->size) < 1e-5, "case %d: dx", ci);
        ck_assert_msg(tu_reldiff(wt->grad, dw, w->size) < 1e-5, "case %d: dw", ci);
        if (bt)
            ck_assert_msg(tu_reldiff(bt->grad, db, b->size) < 1e-5, "case %d: db", ci);
        free(ref);
        free(dy);
        free(dx);
        free(dw);
        free(db);
        ti_tensor_free(x);
        ti_tensor_free(w);
        ti_tensor_free(b);
    }
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

static ti_tensor *build_gconv(ti_tape *t, ti_tensor **in, void *user)
{
    const gcase *c = user;
    return ti_conv2d_grouped(t, in[0], in[1], c->bias ? in[2] : NULL, c->stride, c->pad, c->dil,
                             c->groups);
}

/* The convolution is linear in each input, so central differences have no truncation error
 * and a large step only shrinks the float rounding noise of the forward (with step 1e-2 that
 * noise reaches 2e-3 of the small input gradients of strided dilated cases). */
START_TEST(test_gconv_gradcheck)
{
    ti_rng r;
    ti_rng_seed(&r, 42);
    for (int ci = 0; ci < NCASES; ci += 3) {
        const gcase *c = &CASES[ci];
        ti_tensor *in[3];
        leaves(&r, c, &in[0], &in[1], &in[2]);
        for (int i = 0; i < 3; i++)
            in[i]->requires_grad = 1;
        double err = tu_gradcheck(build_gconv, in, c->bias ? 3 : 2, (void *)c, 1e-1, 1e-2);
        ck_assert_msg(err < 2e-3, "case %d: relative error %g", ci, err);
        /* the input gradient alone (an attack's question) is the same */
        in[1]->requires_grad = 0;
        in[2]->requires_grad = 0;
        err = tu_gradcheck(build_gconv, in, c->bias ? 3 : 2, (void *)c, 1e-1, 1e-2);
        ck_assert_msg(err < 2e-3, "case %d, input only: relative error %g", ci, err);
        for (int i = 0; i < 3; i++)
            ti_tensor_free(in[i]);
    }
}
END_TEST

START_TEST(test_gconv_plain_and_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_rng r;
    ti_rng_seed(&r, 43);
    float xd[2 * 4 * 6 * 6], wd[6 * 4 * 3 * 3];
    tu_fill(&r, xd, 288, -1, 1);
    tu_fill(&r, wd, 216, -1, 1);
    /* views, not tape inputs: they outlive the resets after each error */
    ti_tensor xv, wv, w2v, bv, *x = &xv, *w = &wv, *w2 = &w2v, *bias = &bv;
    ti_tensor_view(x, xd, NULL, 4, (int[]){2, 4, 6, 6});
    ti_tensor_view(w, wd, NULL, 4, (int[]){6, 4, 3, 3});
    ti_tensor_view(w2, wd, NULL, 4, (int[]){3, 2, 3, 3});
    ti_tensor_view(bias, wd, NULL, 1, (int[]){5});
    /* groups = dilation = 1 is ti_conv2d, bit for bit */
    ti_tensor *a = ti_conv2d_grouped(tape, x, w, NULL, 1, 1, 1, 1);
    ti_tensor *b = ti_conv2d(tape, x, w, NULL, 1, 1);
    ck_assert_int_eq(memcmp(a->data, b->data, a->size * sizeof(float)), 0);
    /* the weight must be (K, C / groups, KH, KW) with K a multiple of groups */
    ck_assert_ptr_null(ti_conv2d_grouped(tape, x, w, NULL, 1, 1, 1, 2));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "do not fit 2 groups");
    ck_assert_ptr_null(ti_conv2d_grouped(tape, x, w2, NULL, 1, 1, 1, 2));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "K a multiple of groups");
    ck_assert_ptr_null(ti_conv2d_grouped(tape, x, w, NULL, 1, 1, 0, 1));
    tu_expect_tape_error(tape, TI_ERR_ARG, "dilation 0");
    ck_assert_ptr_null(ti_conv2d_grouped(tape, x, w, NULL, 1, 0, 3, 1));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "a 7x7 dilated kernel does not fit");
    ck_assert_ptr_null(ti_conv2d_grouped(tape, x, w, bias, 1, 2, 2, 1));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "bias must be (6)");
    ck_assert_ptr_null(ti_conv2d_grouped(tape, x, NULL, NULL, 1, 2, 2, 1));
    ck_assert_int_eq(ti_tape_status(tape), TI_ERR_ARG);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_ops_gconv(void)
{
    Suite *s = suite_create("ops_gconv");
    TCase *tc = tcase_create("gconv");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_gconv_vs_naive, 1, 4);
    tcase_add_test(tc, test_gconv_gradcheck);
    tcase_add_test(tc, test_gconv_plain_and_errors);
    suite_add_tcase(s, tc);
    return s;
}
