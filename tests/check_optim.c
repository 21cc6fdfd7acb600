/* Tests of SGD and the learning-rate schedules against PyTorch 1.13 (values printed by
 * scripts/gen_optim_reference.py and pasted below), masks, frozen groups and error paths.
 * The loss is a separable quadratic, loss = sum(c * w * w + d * w), built from tape ops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/optim.h"

#define NW 5
static const float W0[NW] = {0.5f, -1.0f, 2.0f, 0.25f, -0.75f};
static const float CC[NW] = {1.0f, 0.5f, 0.25f, 2.0f, 1.5f};
static const float DD[NW] = {0.1f, -0.2f, 0.3f, 0.0f, 0.4f};

/* torch.optim.SGD(lr=0.1, momentum, weight_decay, nesterov): w after steps 1, 2, 3.
 * Check by hand for row 0, entry 0: grad = 2 c w + d = 1.1, g = 1.1 + 0.1 * 0.5 = 1.15,
 * buf = 1.15, w = 0.5 - 0.1 * 1.15 = 0.385. */
static const struct {
    float mu, wd;
    int nesterov;
    float w[3][NW];
} sgd_ref[] = {
    {0.9f, 0.1f, 0, {{0.38499999f, -0.870000005f, 1.85000002f, 0.147499993f, -0.557500005f}, {0.190649986f, -0.637300014f, 1.574f, -0.00522500183f, -0.251424998f}, {-0.0343015231f, -0.337767005f, 1.20115995f, -0.14053525f, 0.061984241f}}},
    {0.9f, 0.1f, 1, {{0.281500012f, -0.753000021f, 1.71500003f, 0.0552500114f, -0.384249985f}, {0.057031516f, -0.45232299f, 1.34099007f, -0.0708147436f, -0.0780017227f}, {-0.124542199f, -0.141725183f, 0.914118171f, -0.108721077f, 0.0963589698f}}},
    {0.0f, 0.01f, 0, {{0.389499992f, -0.879000008f, 1.86800003f, 0.149749994f, -0.564249992f}, {0.301210493f, -0.770220995f, 1.74273205f, 0.0897002444f, -0.434410751f}, {0.230667189f, -0.672428668f, 1.62385273f, 0.0537304468f, -0.343653113f}}},
    {0.5f, 0.0f, 0, {{0.389999986f, -0.879999995f, 1.87f, 0.150000006f, -0.564999998f}, {0.246999979f, -0.712000012f, 1.68149996f, 0.0400000028f, -0.342999995f}, {0.116099976f, -0.536800027f, 1.47317493f, -0.0310000014f, -0.169099987f}}},
};

/* PyTorch's MultiStepLR(lr 0.1, milestones [3, 6], gamma 0.1) and
 * CosineAnnealingLR(lr 0.05, T_max 5, eta_min 0.001), stepped once per epoch. */
static const float step_ref[8] = {0.1f, 0.1f, 0.1f, 0.01f, 0.01f, 0.01f, 0.001f, 0.001f};
static const float cosine_ref[6] = {0.05f, 0.0453209164f, 0.0330709164f, 0.0179290836f, 0.00567908364f, 0.001f};

/* Backward of the quadratic loss into w->grad (zeroed first). */
static void quad_grad(ti_tape *tape, ti_tensor *w)
{
    int shape[1] = {NW};
    ti_tape_reset(tape);
    memset(w->grad, 0, w->size * sizeof(float));
    ti_tensor *c = ti_tape_input(tape, CC, 1, shape, 0);
    ti_tensor *d = ti_tape_input(tape, DD, 1, shape, 0);
    ti_tensor *loss = ti_sum(tape, ti_add(tape, ti_mul(tape, ti_mul(tape, c, w), w),
                                          ti_mul(tape, d, w)));
    ck_assert_int_eq(ti_tape_backward(tape, loss), TI_OK);
}

static ti_tensor *new_w(void)
{
    int shape[1] = {NW};
    ti_tensor *w = ti_tensor_new(1, shape);
    ck_assert_int_eq(ti_tensor_alloc_grad(w), TI_OK);
    memcpy(w->data, W0, sizeof W0);
    w->requires_grad = 1;
    return w;
}

static void assert_close(const float *got, const float *want, size_t n, const char *what,
                         int row)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(got[i] - want[i]) <= 2e-6f * (1.0f + fabsf(want[i])),
                      "%s %d, entry %zu: got %.9g, PyTorch %.9g", what, row, i, got[i], want[i]);
}

START_TEST(test_sgd_matches_pytorch)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    for (size_t r = 0; r < sizeof sgd_ref / sizeof sgd_ref[0]; r++) {
        ti_tensor *w = new_w();
        ti_sgd_params p = {.lr = 0.1f, .momentum = sgd_ref[r].mu,
                           .weight_decay = sgd_ref[r].wd, .nesterov = sgd_ref[r].nesterov};
        ti_sgd *opt;
        ck_assert_int_eq(ti_sgd_new(ctx, &p, &opt), TI_OK);
        ck_assert_int_eq(ti_sgd_add(opt, w, NULL, sgd_ref[r].wd, 0), TI_OK);
        for (int step = 0; step < 3; step++) {
            quad_grad(tape, w);
            ck_assert_int_eq(ti_sgd_step(opt), TI_OK);
            assert_close(w->data, sgd_ref[r].w[step], NW, "config", (int)r);
        }
        ck_assert(sgd_ref[r].mu > 0 ? ti_sgd_momentum(opt, 0) != NULL
                                    : ti_sgd_momentum(opt, 0) == NULL);
        ti_sgd_free(opt);
        ti_tensor_free(w);
    }
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* Masked entries stay exactly 0 (with momentum, Nesterov and weight decay), their gradient
 * and momentum are 0, and the unmasked entries follow the dense run (the loss is separable). */
START_TEST(test_sgd_mask)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    const float mask[NW] = {1, 0, 1, 0, 1};
    for (int r = 0; r < 2; r++) {
        ti_tensor *w = new_w();
        ti_sgd_params p = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.1f, .nesterov = r};
        ti_sgd *opt;
        ck_assert_int_eq(ti_sgd_new(ctx, &p, &opt), TI_OK);
        ck_assert_int_eq(ti_sgd_add(opt, w, mask, 0.1f, 0), TI_OK);
        ck_assert(w->data[1] == 0.0f && w->data[3] == 0.0f); /* zeroed when added */
        for (int step = 0; step < 3; step++) {
            quad_grad(tape, w);
            ck_assert(w->grad[1] != 0.0f); /* the loss has a gradient there (d = -0.2) */
            ck_assert_int_eq(ti_sgd_step(opt), TI_OK);
            const float *buf = ti_sgd_momentum(opt, 0);
            for (int i = 0; i < NW; i++) {
                if (mask[i] == 0.0f) {
                    ck_assert(w->data[i] == 0.0f && w->grad[i] == 0.0f && buf[i] == 0.0f);
                } else {
                    assert_close(&w->data[i], &sgd_ref[r].w[step][i], 1, "masked config", r);
                    ck_assert(buf[i] != 0.0f);
                }
            }
        }
        ti_sgd_free(opt);
        ti_tensor_free(w);
    }
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* A frozen group is bit-identical after steps (weights and momentum); thawed it moves. */
START_TEST(test_sgd_frozen_groups)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_tensor *a = new_w(), *b = new_w();
    ti_sgd_params p = ti_sgd_params_default();
    ti_sgd *opt;
    ck_assert_int_eq(ti_sgd_new(ctx, &p, &opt), TI_OK);
    ck_assert_int_eq(ti_sgd_add(opt, a, NULL, 1e-4f, TI_SGD_GROUP_WEIGHTS), TI_OK);
    ck_assert_int_eq(ti_sgd_add(opt, b, NULL, 1e-4f, TI_SGD_GROUP_USER), TI_OK);
    ck_assert_int_eq(ti_sgd_count(opt), 2);
    /* one allocation: b's buffer follows a's */
    ck_assert_ptr_eq(ti_sgd_momentum(opt, 1), ti_sgd_momentum(opt, 0) + NW);
    ck_assert_ptr_null(ti_sgd_momentum(opt, 2));

    quad_grad(tape, a); /* one step with both: a has a momentum buffer now */
    quad_grad(tape, b);
    ck_assert_int_eq(ti_sgd_step(opt), TI_OK);
    ti_sgd_set_group_frozen(opt, TI_SGD_GROUP_WEIGHTS, 1);
    ck_assert(ti_sgd_group_frozen(opt, TI_SGD_GROUP_WEIGHTS));
    ck_assert(!ti_sgd_group_frozen(opt, TI_SGD_GROUP_USER));
    ck_assert(!ti_sgd_group_frozen(opt, 99));
    float a_before[NW], buf_before[NW], b_before[NW];
    memcpy(a_before, a->data, sizeof a_before);
    memcpy(buf_before, ti_sgd_momentum(opt, 0), sizeof buf_before);
    memcpy(b_before, b->data, sizeof b_before);
    for (int step = 0; step < 3; step++) {
        quad_grad(tape, a);
        quad_grad(tape, b);
        ck_assert_int_eq(ti_sgd_step(opt), TI_OK);
    }
    ck_assert(memcmp(a_before, a->data, sizeof a_before) == 0);
    ck_assert(memcmp(buf_before, ti_sgd_momentum(opt, 0), sizeof buf_before) == 0);
    ck_assert(memcmp(b_before, b->data, sizeof b_before) != 0);
    ti_sgd_set_group_frozen(opt, TI_SGD_GROUP_WEIGHTS, 0);
    ck_assert_int_eq(ti_sgd_step(opt), TI_OK);
    ck_assert(memcmp(a_before, a->data, sizeof a_before) != 0);

    /* zero_grad clears every gradient; a tensor without a gradient buffer is skipped */
    ti_sgd_zero_grad(opt);
    for (int i = 0; i < NW; i++)
        ck_assert(a->grad[i] == 0.0f && b->grad[i] == 0.0f);
    int shape[1] = {3};
    ti_tensor *nograd = ti_tensor_new(1, shape);
    nograd->data[0] = 1.0f;
    ck_assert_int_eq(ti_sgd_add(opt, nograd, NULL, 0.5f, 0), TI_OK);
    ck_assert_ptr_eq(ti_sgd_momentum(opt, 2), ti_sgd_momentum(opt, 1) + NW);
    ti_sgd_set_lr(opt, 0.5f);
    ck_assert_float_eq(ti_sgd_lr(opt), 0.5f);
    ck_assert_int_eq(ti_sgd_step(opt), TI_OK);
    ck_assert_float_eq(nograd->data[0], 1.0f); /* no gradient: no weight decay either */
    ti_sgd_free(opt);
    ti_sgd_free(NULL);
    ti_tensor_free(a);
    ti_tensor_free(b);
    ti_tensor_free(nograd);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_sgd_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_sgd *opt = (ti_sgd *)1;
    ti_sgd_params p = ti_sgd_params_default();
    ck_assert_float_eq(p.lr, 0.1f);
    ck_assert_float_eq(p.momentum, 0.9f);
    ck_assert_float_eq(p.weight_decay, 1e-4f);
    ti_sgd_params bad[4] = {p, p, p, p};
    bad[0].lr = NAN;
    bad[1].momentum = 1.0f;
    bad[2].weight_decay = -1.0f;
    bad[3].momentum = 0.0f;
    bad[3].nesterov = 1;
    for (int i = 0; i < 4; i++) {
        ti_ctx_clear_error(ctx);
        ck_assert_int_eq(ti_sgd_new(ctx, &bad[i], &opt), TI_ERR_ARG);
        ck_assert_ptr_null(opt);
        ck_assert_str_ne(ti_ctx_errmsg(ctx), "");
    }
    ck_assert_int_eq(ti_sgd_new(ctx, NULL, &opt), TI_ERR_ARG);
    ck_assert_int_eq(ti_sgd_new(ctx, &p, &opt), TI_OK);
    int shape[1] = {4};
    ti_tensor *t = ti_tensor_new(1, shape);
    ck_assert_int_eq(ti_sgd_add(opt, t, NULL, 0, TI_SGD_MAX_GROUPS), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "group"));
    ck_assert_int_eq(ti_sgd_add(opt, t, NULL, -1.0f, 0), TI_ERR_ARG);
    ck_assert_int_eq(ti_sgd_add(opt, NULL, NULL, 0, 0), TI_ERR_ARG);
    ck_assert_int_eq(ti_sgd_add_model(opt, NULL), TI_ERR_ARG);
    ck_assert_int_eq(ti_sgd_count(opt), 0);
    ti_sgd_set_lr(opt, INFINITY);
    ck_assert_int_eq(ti_sgd_step(opt), TI_ERR_NAN);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "learning rate"));
    ti_sgd_free(opt);
    ti_tensor_free(t);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_schedule_step_cosine_pytorch)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_schedule s;
    double ms[2] = {3, 6};
    ck_assert_int_eq(ti_schedule_step(ctx, &s, 0.1f, 0.1f, 2, ms), TI_OK);
    for (int e = 0; e < 8; e++) {
        ck_assert_float_eq_tol(ti_schedule_lr(&s, e), step_ref[e], 1e-9f);
        ck_assert_float_eq_tol(ti_schedule_lr(&s, e + 0.99), step_ref[e], 1e-9f);
    }
    ck_assert_int_eq(ti_schedule_cosine(ctx, &s, 0.05f, 5, 0, 0.001f), TI_OK);
    for (int e = 0; e < 6; e++)
        ck_assert_float_eq_tol(ti_schedule_lr(&s, e), cosine_ref[e], 1e-8f);
    ck_assert_float_eq(ti_schedule_lr(&s, 7.5), 0.001f); /* past the end: lr_min */
    /* per-iteration cosine is smooth: half way through epoch 0 lies between e=0 and e=1 */
    float mid = ti_schedule_lr(&s, 0.5);
    ck_assert(mid < cosine_ref[0] && mid > cosine_ref[1]);
    s.per_epoch = 1;
    ck_assert_float_eq(ti_schedule_lr(&s, 0.5), ti_schedule_lr(&s, 0.0));
    ck_assert_str_eq(ti_sched_kind_name(s.kind), "cosine");
    ck_assert_str_eq(ti_sched_kind_name(TI_SCHED_KIND_COUNT), "?");
    ti_ctx_free(ctx);
}
END_TEST

/* HYDRA's cosine, lr(e) = lr0 (1 + cos(pi (e - 1) / E)) / 2 per epoch: the test values of
 * docs/pruning.md#learning-rate-schedules. Warm-up and piecewise linear by hand. */
START_TEST(test_schedule_hydra_warmup_linear)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_schedule s;
    ck_assert_int_eq(ti_schedule_cosine(ctx, &s, 0.1f, 100, 0, 0), TI_OK);
    s.per_epoch = 1;
    s.shift = -1;
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 0), 0.09997533f, 1e-8f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 1), 0.1f, 1e-8f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 50.7), 0.05157054f, 1e-8f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 99), 9.866e-05f, 1e-8f);
    ck_assert_int_eq(ti_schedule_cosine(ctx, &s, 0.1f, 20, 0, 0), TI_OK);
    s.per_epoch = 1;
    s.shift = -1;
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 0), 0.09938442f, 1e-8f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 19), 0.00244717f, 1e-8f);

    /* warm-up 1 epoch then cosine over 4 more: 0 -> 0.1 linearly, then half way down at 3 */
    ck_assert_int_eq(ti_schedule_cosine(ctx, &s, 0.1f, 5, 1, 0), TI_OK);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 0), 0.0f, 1e-9f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 0.25), 0.025f, 1e-8f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 1), 0.1f, 1e-8f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 3), 0.05f, 1e-8f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 5), 0.0f, 1e-8f);

    double at[3] = {0, 2, 5};
    float lrs[3] = {0.0f, 0.2f, 0.02f};
    ck_assert_int_eq(ti_schedule_linear(ctx, &s, 3, at, lrs), TI_OK);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, -1), 0.0f, 1e-9f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 1), 0.1f, 1e-8f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 2), 0.2f, 1e-8f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 3.5), 0.11f, 1e-7f);
    ck_assert_float_eq_tol(ti_schedule_lr(&s, 9), 0.02f, 1e-8f);

    ck_assert_int_eq(ti_schedule_constant(ctx, &s, 0.3f), TI_OK);
    ck_assert_float_eq(ti_schedule_lr(&s, 123.4), 0.3f);
    ck_assert_int_eq(ti_schedule_step(ctx, &s, 0.3f, 0.5f, 0, NULL), TI_OK); /* no milestones */
    ck_assert_float_eq(ti_schedule_lr(&s, 50), 0.3f);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_schedule_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_schedule s;
    double dec[2] = {5, 3}, many[TI_SCHED_MAX_POINTS + 1] = {0};
    float lrs[2] = {0.1f, -0.1f};
#define EXPECT_ARG(call)                                                                       \
    do {                                                                                       \
        ti_ctx_clear_error(ctx);                                                               \
        ck_assert_int_eq(call, TI_ERR_ARG);                                                    \
        ck_assert_str_ne(ti_ctx_errmsg(ctx), "");                                              \
    } while (0)
    EXPECT_ARG(ti_schedule_constant(ctx, &s, NAN));
    EXPECT_ARG(ti_schedule_constant(ctx, &s, -1.0f));
    EXPECT_ARG(ti_schedule_step(ctx, &s, 0.1f, 0.1f, 2, dec));
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "increase"));
    EXPECT_ARG(ti_schedule_step(ctx, &s, 0.1f, 0.1f, TI_SCHED_MAX_POINTS + 1, many));
    EXPECT_ARG(ti_schedule_step(ctx, &s, 0.1f, NAN, 0, NULL));
    EXPECT_ARG(ti_schedule_step(ctx, &s, 0.1f, 0.1f, 1, NULL));
    EXPECT_ARG(ti_schedule_cosine(ctx, &s, 0.1f, 0, 0, 0));
    EXPECT_ARG(ti_schedule_cosine(ctx, &s, 0.1f, 5, 5, 0));
    EXPECT_ARG(ti_schedule_cosine(ctx, &s, 0.1f, 5, 0, -1));
    EXPECT_ARG(ti_schedule_linear(ctx, &s, 0, dec, lrs));
    EXPECT_ARG(ti_schedule_linear(ctx, &s, 2, dec, lrs));
    double inc[2] = {1, 2};
    EXPECT_ARG(ti_schedule_linear(ctx, &s, 2, inc, lrs)); /* negative lr */
    EXPECT_ARG(ti_schedule_linear(ctx, &s, 2, inc, NULL));
#undef EXPECT_ARG
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_optim(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("sgd");
    tcase_add_test(tc, test_sgd_matches_pytorch);
    tcase_add_test(tc, test_sgd_mask);
    tcase_add_test(tc, test_sgd_frozen_groups);
    tcase_add_test(tc, test_sgd_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("schedule");
    tcase_add_test(tc, test_schedule_step_cosine_pytorch);
    tcase_add_test(tc, test_schedule_hydra_warmup_linear);
    tcase_add_test(tc, test_schedule_errors);
    suite_add_tcase(s, tc);
    return s;
}
