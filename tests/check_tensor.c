/* Tests of the core: RNG, context, tape (arena reuse, sticky errors, repeated backward) and
 * the element-wise ops' gradients against finite differences. */
#include <math.h>
#include <stdlib.h>

#include "testutil.h"

START_TEST(test_rng_deterministic)
{
    ti_rng a, b, c;
    ti_rng_seed(&a, 42);
    ti_rng_seed(&b, 42);
    ti_rng_seed(&c, 43);
    int same_c = 1;
    for (int i = 0; i < 100; i++) {
        uint64_t x = ti_rng_u64(&a);
        ck_assert_uint_eq(x, ti_rng_u64(&b));
        same_c &= x == ti_rng_u64(&c);
    }
    ck_assert(!same_c);
    /* uniform stays in range, mean near 1/2; normal has mean ~0 and variance ~1 */
    double s = 0, s2 = 0, m = 0;
    for (int i = 0; i < 20000; i++) {
        float u = ti_rng_uniform(&a, 0.0f, 1.0f);
        ck_assert(u >= 0.0f && u < 1.0f);
        m += u;
        double z = ti_rng_normal(&a);
        s += z;
        s2 += z * z;
    }
    ck_assert_double_eq_tol(m / 20000, 0.5, 0.01);
    ck_assert_double_eq_tol(s / 20000, 0.0, 0.03);
    ck_assert_double_eq_tol(s2 / 20000, 1.0, 0.05);
}
END_TEST

START_TEST(test_rng_below_and_shuffle)
{
    ti_rng r;
    ti_rng_seed(&r, 7);
    int counts[5] = {0};
    for (int i = 0; i < 5000; i++) {
        uint64_t v = ti_rng_below(&r, 5);
        ck_assert_uint_lt(v, 5);
        counts[v]++;
    }
    for (int i = 0; i < 5; i++)
        ck_assert_int_gt(counts[i], 850);
    int a[10], seen[10] = {0};
    for (int i = 0; i < 10; i++)
        a[i] = i;
    ti_rng_shuffle(&r, a, 10);
    for (int i = 0; i < 10; i++)
        seen[a[i]]++;
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(seen[i], 1);
    /* split streams do not advance the parent and differ by key */
    ti_rng c1, c2, p2 = r;
    ti_rng_split(&c1, &r, 1);
    ti_rng_split(&c2, &r, 2);
    ck_assert_uint_eq(ti_rng_u64(&p2), ti_rng_u64(&r));
    ck_assert_uint_ne(ti_rng_u64(&c1), ti_rng_u64(&c2));
}
END_TEST

START_TEST(test_ctx_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ck_assert_str_eq(ti_ctx_errmsg(ctx), "");
    ck_assert_int_eq(ti_ctx_error(ctx, TI_ERR_SHAPE, "bad %d", 3), TI_ERR_SHAPE);
    ck_assert_str_eq(ti_ctx_errmsg(ctx), "bad 3");
    for (int s = 0; s < TI_STATUS_COUNT; s++)
        ck_assert(ti_status_str((ti_status)s)[0] != '\0');
    ck_assert_str_eq(ti_status_str((ti_status)99), "unknown status");
    ck_assert_ptr_nonnull(ti_ctx_workspace(ctx, 1000));
    ti_ctx_free(ctx);
    ti_ctx_free(NULL);
}
END_TEST

START_TEST(test_tape_arena_reuse)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    int shape[2] = {1000, 5000}; /* 20 MB: more than one chunk over two tensors */
    size_t before = 0;
    for (int it = 0; it < 3; it++) {
        ti_tape_reset(tape);
        ti_tensor *a = ti_tape_tensor(tape, 2, shape);
        ti_tensor *b = ti_tape_tensor(tape, 2, shape);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        if (it == 1)
            before = ti_tape_arena_bytes(tape);
        if (it == 2)
            ck_assert_uint_eq(before, ti_tape_arena_bytes(tape)); /* steady state */
    }
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_tape_sticky_error)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    float d[6] = {1, 2, 3, 4, 5, 6};
    ti_tensor *a = ti_tape_input(tape, d, 2, (int[]){2, 3}, 1);
    ti_tensor *b = ti_tape_input(tape, d, 2, (int[]){3, 2}, 0);
    ti_tensor *c = ti_add(tape, a, b);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(ti_tape_status(tape), TI_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "(2, 3)"));
    ck_assert_ptr_null(ti_relu(tape, c)); /* propagates */
    ck_assert_int_eq(ti_tape_status(tape), TI_ERR_SHAPE);
    ti_tape_reset(tape);
    ck_assert_int_eq(ti_tape_status(tape), TI_OK);
    /* backward of a non-scalar and of something unrecorded are errors, not crashes */
    a = ti_tape_input(tape, d, 2, (int[]){2, 3}, 1);
    ck_assert_int_eq(ti_tape_backward(tape, ti_relu(tape, a)), TI_ERR_SHAPE);
    ti_tape_reset(tape);
    b = ti_tape_input(tape, d, 2, (int[]){3, 2}, 0);
    ck_assert_int_eq(ti_tape_backward(tape, ti_sum(tape, b)), TI_ERR_STATE);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_backward_twice_and_no_grad)
{
    /* y = x * x; two backward calls accumulate into the leaf, activations restart at 0 */
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    float d[3] = {1, -2, 3};
    ti_tensor *x = ti_tape_input(tape, d, 1, (int[]){3}, 1);
    ti_tensor *y = ti_mul(tape, x, x);
    ti_tensor *s = ti_sum(tape, y);
    ck_assert_int_eq(ti_tape_backward(tape, s), TI_OK);
    ck_assert_float_eq(x->grad[1], -4.0f);
    ck_assert_int_eq(ti_tape_backward(tape, s), TI_OK);
    ck_assert_float_eq(x->grad[1], -8.0f);
    /* recording off: no node, and the result does not require a gradient */
    ti_tape_reset(tape);
    ti_tape_set_recording(tape, 0);
    x = ti_tape_input(tape, d, 1, (int[]){3}, 1);
    y = ti_relu(tape, x);
    ck_assert_ptr_null(y->node);
    ck_assert_int_eq(y->requires_grad, 0);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

static ti_tensor *build_elementwise(ti_tape *t, ti_tensor **in, void *user)
{
    int which = *(int *)user;
    switch (which) {
    case 0: return ti_add(t, in[0], in[1]);
    case 1: return ti_sub(t, in[0], in[1]);
    case 2: return ti_mul(t, in[0], in[1]);
    case 3: return ti_scale(t, in[0], -2.5f);
    case 4: return ti_add_scalar(t, ti_relu(t, in[0]), 3.0f);
    default: return ti_clamp(t, in[0], -0.5f, 0.5f);
    }
}

START_TEST(test_elementwise_gradients)
{
    ti_rng r;
    ti_rng_seed(&r, 5);
    int shape[3] = {2, 3, 4};
    ti_tensor *a = ti_tensor_new(3, shape), *b = ti_tensor_new(3, shape);
    tu_fill(&r, a->data, a->size, -1, 1);
    tu_fill(&r, b->data, b->size, -1, 1);
    for (size_t i = 0; i < a->size; i++) /* keep away from the kinks of relu/clamp */
        if (fabsf(a->data[i]) < 0.05f || fabsf(fabsf(a->data[i]) - 0.5f) < 0.05f)
            a->data[i] += 0.12f;
    a->requires_grad = b->requires_grad = 1;
    ti_tensor *in[2] = {a, b};
    for (int which = 0; which < 6; which++) {
        double err = tu_gradcheck(build_elementwise, in, which <= 2 ? 2 : 1, &which, 1e-3, 1e-3);
        ck_assert_msg(err < 1e-2, "op %d: relative error %g", which, err);
    }
    ti_tensor_free(a);
    ti_tensor_free(b);
}
END_TEST

START_TEST(test_sign_values)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    float d[3] = {-2, 0, 0.5f};
    ti_tensor *s = ti_sign(tape, ti_tape_input(tape, d, 1, (int[]){3}, 0));
    ck_assert_float_eq(s->data[0], -1);
    ck_assert_float_eq(s->data[1], 0);
    ck_assert_float_eq(s->data[2], 1);
    ck_assert_ptr_null(ti_clamp(tape, s, 1.0f, 0.0f));
    ck_assert_int_eq(ti_tape_status(tape), TI_ERR_ARG);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_tensor(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rng_deterministic);
    tcase_add_test(tc, test_rng_below_and_shuffle);
    tcase_add_test(tc, test_ctx_errors);
    tcase_add_test(tc, test_tape_arena_reuse);
    tcase_add_test(tc, test_tape_sticky_error);
    tcase_add_test(tc, test_backward_twice_and_no_grad);
    tcase_add_test(tc, test_elementwise_gradients);
    tcase_add_test(tc, test_sign_values);
    suite_add_tcase(s, tc);
    return s;
}
