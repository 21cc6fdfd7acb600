/* The fused ops the model zoo runs on (batch norm + ReLU in one pass, in-place ReLU, in-place
 * ReLU(a + b)) against the unfused public ops they replace, values and gradients, plus finite
 * differences; and a model whose batch norms are folded into its convolutions (evaluation,
 * frozen weights) against the same model unfolded. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/model.h"
#include "../libtensor/internal.h"

#define BN_N 3
#define BN_C 4
#define BN_HW 25

static ti_tensor *leaf(ti_rng *r, int ndim, const int *shape, float lo, float hi, int grad)
{
    ti_tensor *t = ti_tensor_new(ndim, shape);
    ck_assert_ptr_nonnull(t);
    tu_fill(r, t->data, t->size, lo, hi);
    if (grad) {
        ck_assert_int_eq(ti_tensor_alloc_grad(t), TI_OK);
        t->requires_grad = 1;
    }
    return t;
}

static void zero_grads(ti_tensor **t, int n)
{
    for (int i = 0; i < n; i++)
        if (t[i]->grad)
            memset(t[i]->grad, 0, t[i]->size * sizeof(float));
}

START_TEST(test_bn_relu_matches_unfused)
{
    ti_ctx *ctx = ti_ctx_new(3, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_rng r;
    ti_rng_seed(&r, 11);
    int xs[4] = {BN_N, BN_C, 5, 5};
    ti_tensor *x = leaf(&r, 4, xs, -2, 3, 1), *g = leaf(&r, 1, (int[]){BN_C}, 0.5f, 1.5f, 1);
    ti_tensor *b = leaf(&r, 1, (int[]){BN_C}, -0.5f, 0.5f, 1);
    ti_tensor *rm = leaf(&r, 1, (int[]){BN_C}, -0.3f, 0.3f, 0), *rv = leaf(&r, 1, (int[]){BN_C}, 0.5f, 1.5f, 0);
    ti_tensor *in[3] = {x, g, b};
    float seed[BN_N * BN_C * BN_HW], rm0[BN_C], rv0[BN_C];
    tu_fill(&r, seed, BN_N * BN_C * BN_HW, -1, 1);
    memcpy(rm0, rm->data, sizeof rm0);
    memcpy(rv0, rv->data, sizeof rv0);
    for (int training = 0; training < 2; training++) {
        float y1[BN_N * BN_C * BN_HW], gx1[BN_N * BN_C * BN_HW], gg1[BN_C], gb1[BN_C], rm1[BN_C], rv1[BN_C];
        for (int fused = 0; fused < 2; fused++) {
            memcpy(rm->data, rm0, sizeof rm0);
            memcpy(rv->data, rv0, sizeof rv0);
            zero_grads(in, 3);
            ti_tape_reset(tape);
            ti_tensor *y = fused ? ti__batchnorm2d_relu(tape, x, g, b, rm, rv, training, 0.1f, 1e-5f)
                                 : ti_relu(tape, ti_batchnorm2d(tape, x, g, b, rm, rv, training,
                                                                0.1f, 1e-5f));
            ck_assert_ptr_nonnull(y);
            ck_assert_int_eq(ti_tape_backward_seed(tape, y, seed), TI_OK);
            if (!fused) {
                memcpy(y1, y->data, sizeof y1);
                memcpy(gx1, x->grad, sizeof gx1);
                memcpy(gg1, g->grad, sizeof gg1);
                memcpy(gb1, b->grad, sizeof gb1);
                memcpy(rm1, rm->data, sizeof rm1);
                memcpy(rv1, rv->data, sizeof rv1);
                continue;
            }
            ck_assert_double_le(tu_maxdiff(y->data, y1, BN_N * BN_C * BN_HW), 1e-6);
            ck_assert_double_le(tu_maxdiff(x->grad, gx1, BN_N * BN_C * BN_HW), 1e-5);
            ck_assert_double_le(tu_maxdiff(g->grad, gg1, BN_C), 1e-5);
            ck_assert_double_le(tu_maxdiff(b->grad, gb1, BN_C), 1e-5);
            ck_assert_double_le(tu_maxdiff(rm->data, rm1, BN_C), 0.0);
            ck_assert_double_le(tu_maxdiff(rv->data, rv1, BN_C), 0.0);
        }
    }
    ti_tensor_free(x), ti_tensor_free(g), ti_tensor_free(b), ti_tensor_free(rm), ti_tensor_free(rv);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* ReLU(a + b) in place over a copy of a, and ReLU in place over a copy of x: the same values
 * and gradients as the out-of-place ops. */
START_TEST(test_inplace_match)
{
    ti_ctx *ctx = ti_ctx_new(3, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_rng r;
    ti_rng_seed(&r, 12);
    int s[2] = {7, 9};
    ti_tensor *a = leaf(&r, 2, s, -1, 1, 1), *b = leaf(&r, 2, s, -1, 1, 1);
    ti_tensor *in[2] = {a, b};
    float seed[63], y1[63], ga[63], gb[63];
    tu_fill(&r, seed, 63, -1, 1);
    for (int op = 0; op < 2; op++)
        for (int fused = 0; fused < 2; fused++) {
            zero_grads(in, 2);
            ti_tape_reset(tape);
            ti_tensor *y;
            if (op == 0) /* the copy (scale by 1) is what the in-place op may overwrite */
                y = fused ? ti__add_relu(tape, ti_scale(tape, a, 1.0f), b)
                          : ti_relu(tape, ti_add(tape, a, b));
            else
                y = fused ? ti__relu_inplace(tape, ti_scale(tape, a, 1.0f)) : ti_relu(tape, a);
            ck_assert_ptr_nonnull(y);
            ck_assert_int_eq(ti_tape_backward_seed(tape, y, seed), TI_OK);
            if (!fused) {
                memcpy(y1, y->data, sizeof y1);
                memcpy(ga, a->grad, sizeof ga);
                memcpy(gb, b->grad, sizeof gb);
                continue;
            }
            ck_assert_double_le(tu_maxdiff(y->data, y1, 63), 0.0);
            ck_assert_double_le(tu_maxdiff(a->grad, ga, 63), 0.0);
            ck_assert_double_le(tu_maxdiff(b->grad, gb, 63), 0.0);
        }
    /* the error path: shapes must agree */
    ti_tape_reset(tape);
    ti_tensor *c = ti_tape_tensor(tape, 2, (int[]){9, 7});
    ck_assert_ptr_null(ti__add_relu(tape, ti_scale(tape, a, 1.0f), c));
    ck_assert_int_eq(ti_tape_status(tape), TI_ERR_SHAPE);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "add_relu") != NULL);
    ti_tensor_free(a), ti_tensor_free(b);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

static ti_tensor *build_bn_relu(ti_tape *tape, ti_tensor **in, void *user)
{
    int training = *(int *)user;
    return ti__batchnorm2d_relu(tape, in[0], in[1], in[2], in[3], in[4], training, 0.0f, 1e-5f);
}

static ti_tensor *build_add_relu(ti_tape *tape, ti_tensor **in, void *user)
{
    (void)user;
    return ti__add_relu(tape, ti_scale(tape, in[0], 1.0f), in[1]);
}

/* Finite differences across a ReLU kink are meaningless: the data are drawn again (from a
 * fixed sequence of seeds, so the test is deterministic) until every output of the batch
 * norm is at least 0.1 away from zero in both modes. */
START_TEST(test_fused_gradcheck)
{
    int xs[4] = {2, 2, 3, 3}, cs[1] = {2};
    ti_tensor *in[5] = {NULL};
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    int found = 0;
    for (uint64_t seed = 100; seed < 300 && !found; seed++) {
        ti_rng r;
        ti_rng_seed(&r, seed);
        for (int i = 0; i < 5; i++)
            ti_tensor_free(in[i]);
        in[0] = leaf(&r, 4, xs, -2, 3, 1);
        in[1] = leaf(&r, 1, cs, 0.5f, 1.5f, 1);
        in[2] = leaf(&r, 1, cs, -0.5f, 0.5f, 1);
        in[3] = leaf(&r, 1, cs, -0.3f, 0.3f, 0);
        in[4] = leaf(&r, 1, cs, 0.5f, 1.5f, 0);
        found = 1;
        for (int training = 0; training < 2; training++) {
            ti_tape_reset(tape);
            ti_tensor *y = ti_batchnorm2d(tape, in[0], in[1], in[2], in[3], in[4], training,
                                          0.0f, 1e-5f);
            for (size_t j = 0; j < y->size; j++)
                found &= fabsf(y->data[j]) > 0.1f;
        }
    }
    ck_assert(found);
    for (int training = 0; training < 2; training++) {
        /* momentum 0 keeps the running statistics fixed across the finite differences */
        double err = tu_gradcheck(build_bn_relu, in, 5, &training, 1e-2, 1e-2);
        ck_assert_msg(err < 5e-3, "bn_relu training=%d: relative error %g", training, err);
    }
    for (int i = 0; i < 5; i++)
        ti_tensor_free(in[i]);
    ti_rng r;
    ti_rng_seed(&r, 13);
    ti_tensor *ar[2] = {leaf(&r, 2, (int[]){6, 5}, -1, 1, 1), leaf(&r, 2, (int[]){6, 5}, -1, 1, 1)};
    double err = tu_gradcheck(build_add_relu, ar, 2, NULL, 1e-3, 1e-2);
    ck_assert_msg(err < 1e-2, "add_relu: relative error %g", err);
    ti_tensor_free(ar[0]), ti_tensor_free(ar[1]);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* Evaluation with frozen weights folds every BN into its convolution; with the weights asking
 * for gradients nothing is folded. Both must give the same logits and input gradient. */
START_TEST(test_model_fold)
{
    static const char *const archs[] = {"resnet18", "vgg16_bn", "wrn_28_4"};
    for (int a = 0; a < 3; a++) {
        ti_ctx *ctx = ti_ctx_new(5, 1);
        ti_model *m;
        ti_model_config cfg = {.C = 3, .H = 16, .W = 16, .M = 10};
        ck_assert_int_eq(ti_model_new(ctx, archs[a], &cfg, &m), TI_OK);
        ti_rng *r = ti_ctx_rng(ctx);
        for (int i = 0; i < ti_model_nparams(m); i++) { /* non-trivial BN statistics */
            ti_param *p = ti_model_param(m, i);
            if (p->kind == TI_PARAM_BN_MEAN || p->kind == TI_PARAM_BN_BIAS)
                tu_fill(r, p->t.data, p->t.size, -0.2f, 0.2f);
            if (p->kind == TI_PARAM_BN_VAR || p->kind == TI_PARAM_BN_WEIGHT)
                tu_fill(r, p->t.data, p->t.size, 0.5f, 1.5f);
        }
        enum { NB = 2 };
        int xs[4] = {NB, 3, 16, 16}, labels[NB] = {1, 7};
        float x[NB * 3 * 256], z0[NB * 10], g0[NB * 3 * 256];
        tu_fill(r, x, NB * 3 * 256, 0, 1);
        ti_tape *tape = ti_tape_new(ctx);
        for (int frozen = 0; frozen < 2; frozen++) {
            ti_model_set_requires_grad(m, !frozen);
            ti_tape_reset(tape);
            ti_tensor *in = ti_tape_input(tape, x, 4, xs, 1);
            ti_tensor *z = ti_model_forward(m, tape, in, 0);
            ti_tensor *loss = ti_cross_entropy(tape, z, labels, TI_REDUCE_SUM);
            ck_assert_ptr_nonnull(loss);
            ck_assert_int_eq(ti_tape_backward(tape, loss), TI_OK);
            if (!frozen) {
                memcpy(z0, z->data, sizeof z0);
                memcpy(g0, in->grad, sizeof g0);
                continue;
            }
            double zr = 0, gr = 0;
            for (int i = 0; i < NB * 10; i++)
                zr = fmax(zr, fabs(z0[i]));
            for (int i = 0; i < NB * 3 * 256; i++)
                gr = fmax(gr, fabs(g0[i]));
            ck_assert_msg(tu_maxdiff(z->data, z0, NB * 10) <= 1e-5 * zr, "%s logits", archs[a]);
            ck_assert_msg(tu_maxdiff(in->grad, g0, NB * 3 * 256) <= 1e-4 * gr, "%s grad",
                          archs[a]);
        }
        ti_tape_free(tape);
        ti_model_free(m);
        ti_ctx_free(ctx);
    }
}
END_TEST

Suite *suite_fused(void)
{
    Suite *s = suite_create("fused");
    TCase *tc = tcase_create("fused");
    tcase_set_timeout(tc, 120); /* the fold test builds three full-size models */
    tcase_add_test(tc, test_bn_relu_matches_unfused);
    tcase_add_test(tc, test_inplace_match);
    tcase_add_test(tc, test_fused_gradcheck);
    tcase_add_test(tc, test_model_fold);
    suite_add_tcase(s, tc);
    return s;
}
