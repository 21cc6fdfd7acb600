/* Tests of libprune's mask arithmetic against the worked examples of docs/pruning.md (HYDRA,
 * ADMM, ATMC), brute force, and the HYDRA straight-through gradient of ti_masked_weight. */
#include <math.h>
#include <stdlib.h>

#include "testutil.h"
#include "thinice/prune.h"

START_TEST(test_keep_count)
{
    /* docs/pruning.md#hydra: conv1 of VGG-16-BN, 1728 weights: 1555 zeros at 90%, 1641 at 95% */
    ck_assert_uint_eq(1728 - ti_prune_keep_count(1728, 0.9), 1555);
    ck_assert_uint_eq(1728 - ti_prune_keep_count(1728, 0.95), 1641);
    ck_assert_uint_eq(2359296 - ti_prune_keep_count(2359296, 0.9), 2123366);
    ck_assert_uint_eq(ti_prune_keep_count(10, 0.9), 1);
    ck_assert_uint_eq(ti_prune_keep_count(5, 0.6), 2);
    ck_assert_uint_eq(ti_prune_keep_count(7, 0.0), 7);
    ck_assert_uint_eq(ti_prune_keep_count(7, 1.0), 0);
}
END_TEST

START_TEST(test_topk_worked_example_and_ties)
{
    /* HYDRA's example: S = [0.3, -0.9, 0.1, 0.5, -0.2], keep 2 -> M = [0, 1, 0, 1, 0] */
    float s[5] = {0.3f, -0.9f, 0.1f, 0.5f, -0.2f}, m[6];
    ck_assert_int_eq(ti_prune_topk_mask(s, 5, 2, m, NULL), TI_OK);
    float want[5] = {0, 1, 0, 1, 0};
    for (int i = 0; i < 5; i++)
        ck_assert_float_eq(m[i], want[i]);
    /* ties: equal magnitudes, the lower index is pruned first */
    float t[6] = {1, -1, 1, 1, 0.5f, 1};
    ck_assert_int_eq(ti_prune_topk_mask(t, 6, 3, m, NULL), TI_OK);
    float want_t[6] = {0, 0, 1, 1, 0, 1};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(m[i], want_t[i]);
}
END_TEST

START_TEST(test_topk_random_exact_count)
{
    ti_rng r;
    ti_rng_seed(&r, 3);
    size_t n = 10007;
    float *v = malloc(n * sizeof(float)), *m = malloc(n * sizeof(float));
    float *scratch = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) /* coarse values: many ties */
        v[i] = (float)((int)ti_rng_below(&r, 200) - 100) / 10.0f;
    for (double sp = 0.0; sp < 1.0; sp += 0.15) {
        size_t keep = ti_prune_keep_count(n, sp);
        ck_assert_int_eq(ti_prune_topk_mask(v, n, keep, m, sp < 0.5 ? NULL : scratch), TI_OK);
        size_t ones = 0;
        float min_kept = INFINITY, max_dropped = 0;
        for (size_t i = 0; i < n; i++) {
            ones += m[i] != 0;
            if (m[i] != 0)
                min_kept = fminf(min_kept, fabsf(v[i]));
            else
                max_dropped = fmaxf(max_dropped, fabsf(v[i]));
        }
        ck_assert_uint_eq(ones, keep);
        ck_assert(min_kept >= max_dropped); /* every kept |v| >= every dropped |v| */
    }
    free(v);
    free(m);
    free(scratch);
}
END_TEST

START_TEST(test_global_worked_example)
{
    /* ATMC's example: layer 1 = [0.5, -0.2], layer 2 = [1.0, -0.05, 0.3], k = 2 */
    float a[2] = {0.5f, -0.2f}, b[3] = {1.0f, -0.05f, 0.3f}, ma[2], mb[3];
    const float *v[2] = {a, b};
    size_t n[2] = {2, 3};
    float *masks[2] = {ma, mb};
    ck_assert_int_eq(ti_prune_topk_mask_global(v, n, 2, 2, masks, NULL), TI_OK);
    ck_assert_float_eq(ma[0], 1);
    ck_assert_float_eq(ma[1], 0);
    ck_assert_float_eq(mb[0], 1);
    ck_assert_float_eq(mb[1], 0);
    ck_assert_float_eq(mb[2], 0);
}
END_TEST

START_TEST(test_l0_projection)
{
    /* ADMM's example: v = [0.5, -3, 2, 0.1, -1], p = 0.6 -> keep 2 -> [0, -3, 2, 0, 0], distance 1.26 */
    float v[5] = {0.5f, -3, 2, 0.1f, -1}, z[5], zz[5];
    ck_assert_int_eq(ti_prune_project_l0(v, 5, ti_prune_keep_count(5, 0.6), z), TI_OK);
    float want[5] = {0, -3, 2, 0, 0};
    double d = 0;
    for (int i = 0; i < 5; i++) {
        ck_assert_float_eq(z[i], want[i]);
        d += (v[i] - z[i]) * (v[i] - z[i]);
    }
    ck_assert_double_eq_tol(d, 1.26, 1e-6);
    /* idempotent, and no feasible point is closer (brute force over all 2-subsets) */
    ti_prune_project_l0(z, 5, 2, zz);
    for (int i = 0; i < 5; i++)
        ck_assert_float_eq(zz[i], z[i]);
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++) {
            double e = 0;
            for (int k = 0; k < 5; k++)
                e += (k == i || k == j) ? 0 : v[k] * v[k];
            ck_assert(d <= e + 1e-9);
        }
}
END_TEST

static ti_tensor *build_masked(ti_tape *t, ti_tensor **in, void *user)
{
    return ti_masked_weight(t, in[0], user, in[1]);
}

START_TEST(test_hydra_straight_through)
{
    /* HYDRA's worked example: W = [1..5], S as above, G = [0.1..0.5] ->
     * dS = [0.1, -0.4, 0.9, 1.6, -2.5], dW = [0, 0.2, 0, 0.4, 0] */
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    float wd[5] = {1, 2, 3, 4, 5}, sd[5] = {0.3f, -0.9f, 0.1f, 0.5f, -0.2f}, m[5];
    float g[5] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
    ti_prune_topk_mask(sd, 5, 2, m, NULL);
    ti_tensor *w = ti_tape_input(tape, wd, 1, (int[]){5}, 1);
    ti_tensor *s = ti_tape_input(tape, sd, 1, (int[]){5}, 1);
    ti_tensor *y = ti_masked_weight(tape, w, m, s);
    ck_assert_float_eq(y->data[1], 2);
    ck_assert_float_eq(y->data[2], 0);
    ck_assert_int_eq(ti_tape_backward_seed(tape, y, g), TI_OK);
    float ds[5] = {0.1f, -0.4f, 0.9f, 1.6f, -2.5f}, dw[5] = {0, 0.2f, 0, 0.4f, 0};
    for (int i = 0; i < 5; i++) {
        ck_assert_float_eq_tol(s->grad[i], ds[i], 1e-6);
        ck_assert_float_eq_tol(w->grad[i], dw[i], 1e-6);
    }
    /* the weight gradient also against finite differences (the score's is not a true
     * gradient: that is the point of the straight-through estimator) */
    ti_tensor *wt = ti_tensor_new(1, (int[]){5}), *st = ti_tensor_new(1, (int[]){5});
    memcpy(wt->data, wd, sizeof wd);
    memcpy(st->data, sd, sizeof sd);
    wt->requires_grad = 1;
    ti_tensor *in[2] = {wt, st};
    ck_assert(tu_gradcheck(build_masked, in, 2, m, 1e-3, 1e-3) < 1e-3);
    ti_tensor_free(wt);
    ti_tensor_free(st);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_prune_mask(void)
{
    Suite *s = suite_create("prune_mask");
    TCase *tc = tcase_create("mask");
    tcase_add_test(tc, test_keep_count);
    tcase_add_test(tc, test_topk_worked_example_and_ties);
    tcase_add_test(tc, test_topk_random_exact_count);
    tcase_add_test(tc, test_global_worked_example);
    tcase_add_test(tc, test_l0_projection);
    tcase_add_test(tc, test_hydra_straight_through);
    suite_add_tcase(s, tc);
    return s;
}
