/* Tests of the activations besides ReLU (sigmoid, tanh, SiLU, GELU and its tanh form, ELU,
 * LeakyReLU, erf), softmax and concat: central finite differences for every backward,
 * values against the formulas and PyTorch (torch 1.13, printed with 7 digits), and the error
 * paths. PyTorch parity of whole exported graphs using them is in check_onnx.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static ti_tensor *leaf(ti_rng *r, int ndim, const int *shape, float lo, float hi)
{
    ti_tensor *t = ti_tensor_new(ndim, shape);
    ck_assert_ptr_nonnull(t);
    tu_fill(r, t->data, t->size, lo, hi);
    t->requires_grad = 1;
    return t;
}

enum { A_SIGMOID, A_TANH, A_SILU, A_GELU, A_GELU_TANH, A_ELU, A_LEAKY, A_ERF, A_COUNT };

static ti_tensor *act(ti_tape *t, ti_tensor *x, int which)
{
    switch (which) {
    case A_SIGMOID: return ti_sigmoid(t, x);
    case A_TANH: return ti_tanh(t, x);
    case A_SILU: return ti_silu(t, x);
    case A_GELU: return ti_gelu(t, x, 0);
    case A_GELU_TANH: return ti_gelu(t, x, 1);
    case A_ELU: return ti_elu(t, x, 0.7f);
    case A_LEAKY: return ti_leaky_relu(t, x, 0.1f);
    default: return ti_erf(t, x);
    }
}

static ti_tensor *build_act(ti_tape *t, ti_tensor **in, void *user)
{
    return act(t, in[0], *(int *)user);
}

START_TEST(test_act_gradients)
{
    ti_rng r;
    ti_rng_seed(&r, 31);
    ti_tensor *x = leaf(&r, 4, (int[]){2, 3, 4, 5}, -3.0f, 3.0f);
    for (size_t i = 0; i < x->size; i++) /* keep central differences off the kinks at 0 */
        if (fabsf(x->data[i]) < 0.05f)
            x->data[i] += 0.1f;
    for (int which = 0; which < A_COUNT; which++) {
        double err = tu_gradcheck(build_act, &x, 1, &which, 1e-2, 1e-2);
        ck_assert_msg(err < 2e-3, "activation %d: relative error %g", which, err);
    }
    ti_tensor_free(x);
}
END_TEST

/* Values at x = -2, -0.5, 0, 0.5, 2 from PyTorch: torch.sigmoid, tanh, F.silu, F.gelu
 * (approximate 'none' and 'tanh'), F.elu(alpha=0.7), F.leaky_relu(0.1), torch.erf. */
START_TEST(test_act_values)
{
    static const float xs[5] = {-2.0f, -0.5f, 0.0f, 0.5f, 2.0f};
    static const float ref[A_COUNT][5] = {
        {0.1192029f, 0.3775407f, 0.5f, 0.6224594f, 0.8807970f},
        {-0.9640276f, -0.4621172f, 0.0f, 0.4621172f, 0.9640276f},
        {-0.2384058f, -0.1887703f, 0.0f, 0.3112297f, 1.7615941f},
        {-0.0455001f, -0.1542688f, 0.0f, 0.3457312f, 1.9545000f},
        {-0.0454023f, -0.1542860f, 0.0f, 0.3457140f, 1.9545977f},
        {-0.6052653f, -0.2754285f, 0.0f, 0.5f, 2.0f},
        {-0.2f, -0.05f, 0.0f, 0.5f, 2.0f},
        {-0.9953223f, -0.5204999f, 0.0f, 0.5204999f, 0.9953223f},
    };
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_tensor *x = ti_tape_input(tape, xs, 1, (int[]){5}, 1);
    for (int which = 0; which < A_COUNT; which++) {
        ti_tensor *y = act(tape, x, which);
        ck_assert_ptr_nonnull(y);
        for (int i = 0; i < 5; i++)
            ck_assert_msg(fabsf(y->data[i] - ref[which][i]) < 2e-6f,
                          "activation %d at %g: %.7f, PyTorch %.7f", which, (double)xs[i],
                          (double)y->data[i], (double)ref[which][i]);
    }
    /* the kink: at x = 0, ELU's derivative is alpha and LeakyReLU's the slope (PyTorch) */
    ti_tape_reset(tape);
    x = ti_tape_input(tape, xs, 1, (int[]){5}, 1);
    ck_assert_int_eq(ti_tape_backward(tape, ti_sum(tape, ti_elu(tape, x, 0.7f))), TI_OK);
    ck_assert_float_eq_tol(x->grad[2], 0.7f, 1e-7f);
    ti_tape_reset(tape);
    x = ti_tape_input(tape, xs, 1, (int[]){5}, 1);
    ck_assert_int_eq(ti_tape_backward(tape, ti_sum(tape, ti_leaky_relu(tape, x, 0.1f))), TI_OK);
    ck_assert_float_eq_tol(x->grad[2], 0.1f, 1e-7f);
    ck_assert_float_eq_tol(x->grad[4], 1.0f, 1e-7f);
    /* far tails: finite values and gradients, and the asymptotes (1, or x itself) */
    float big[4] = {-200.0f, 200.0f, -1e30f, 1e30f};
    for (int which = 0; which < A_COUNT; which++) {
        ti_tape_reset(tape);
        x = ti_tape_input(tape, big, 1, (int[]){4}, 1);
        ti_tensor *y = act(tape, x, which);
        int bounded = which == A_SIGMOID || which == A_TANH || which == A_ERF;
        ck_assert_float_eq_tol(y->data[1], bounded ? 1.0f : 200.0f, 1e-4f);
        ck_assert_int_eq(ti_tape_backward(tape, ti_sum(tape, y)), TI_OK);
        for (int i = 0; i < 4; i++)
            ck_assert_msg(isfinite(y->data[i]) && isfinite(x->grad[i]),
                          "activation %d at %g: %g, gradient %g", which, (double)big[i],
                          (double)y->data[i], (double)x->grad[i]);
    }
    /* bad alpha */
    ti_tape_reset(tape);
    x = ti_tape_input(tape, xs, 1, (int[]){5}, 0);
    ck_assert_ptr_null(ti_elu(tape, x, NAN));
    tu_expect_tape_error(tape, TI_ERR_ARG, "elu: alpha");
    ck_assert_ptr_null(ti_sigmoid(tape, NULL));
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- softmax ----------------------------------------------------------------------------- */

static ti_tensor *build_softmax(ti_tape *t, ti_tensor **in, void *user)
{
    (void)user;
    return ti_softmax(t, in[0]);
}

START_TEST(test_softmax)
{
    ti_rng r;
    ti_rng_seed(&r, 32);
    ti_tensor *z = leaf(&r, 2, (int[]){4, 6}, -3.0f, 3.0f);
    double err = tu_gradcheck(build_softmax, &z, 1, NULL, 1e-2, 1e-2);
    ck_assert_msg(err < 2e-3, "relative error %g", err);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    /* rows sum to 1; exp(log_softmax) = softmax; huge logits do not overflow */
    ti_tensor *p = ti_softmax(tape, z), *lp = ti_log_softmax(tape, z);
    for (int i = 0; i < 4; i++) {
        double s = 0;
        for (int j = 0; j < 6; j++) {
            s += p->data[i * 6 + j];
            ck_assert_float_eq_tol(p->data[i * 6 + j], expf(lp->data[i * 6 + j]), 1e-6f);
        }
        ck_assert_double_eq_tol(s, 1.0, 1e-6);
    }
    float big[3] = {1000.0f, 0.0f, 999.0f};
    p = ti_softmax(tape, ti_tape_input(tape, big, 2, (int[]){1, 3}, 0));
    ck_assert_float_eq_tol(p->data[0], 1.0f / (1.0f + expf(-1.0f)), 1e-6f);
    ck_assert_float_eq(p->data[1], 0.0f);
    /* a saturated softmax passes almost no gradient: why attacks on probabilities are weak */
    ti_tape_reset(tape);
    float sat[3] = {30.0f, 0.0f, 1.0f};
    ti_tensor *zs = ti_tape_input(tape, sat, 2, (int[]){1, 3}, 1);
    p = ti_softmax(tape, zs);
    ck_assert_int_eq(ti_tape_backward_seed(tape, p, (float[]){0.0f, 1.0f, 0.0f}), TI_OK);
    ck_assert_float_lt(fabsf(zs->grad[1]), 1e-12f);
    ck_assert_ptr_null(ti_softmax(tape, ti_tape_input(tape, big, 1, (int[]){3}, 0)));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "softmax: logits must be (N, M)");
    ti_tape_free(tape);
    ti_ctx_free(ctx);
    ti_tensor_free(z);
}
END_TEST

/* ---- concat ------------------------------------------------------------------------------ */

typedef struct concat_case {
    int n, axis;
} concat_case;

static ti_tensor *build_concat(ti_tape *t, ti_tensor **in, void *user)
{
    const concat_case *c = user;
    /* a sigmoid after, so that the gradient reaching each input is not the random seed */
    return ti_sigmoid(t, ti_concat(t, c->n, in, c->axis));
}

START_TEST(test_concat)
{
    ti_rng r;
    ti_rng_seed(&r, 33);
    /* channels of feature maps; more inputs than one tape node holds; axis 0; axis -1 */
    static const int sizes[6] = {2, 1, 3, 2, 1, 4};
    static const concat_case cases[4] = {{2, 1}, {6, 1}, {3, 0}, {5, -1}};
    for (int ci = 0; ci < 4; ci++) {
        const concat_case *c = &cases[ci];
        ti_tensor *in[6];
        int a = c->axis < 0 ? 4 + c->axis : c->axis;
        for (int i = 0; i < c->n; i++) {
            int shape[4] = {2, 3, 2, 3};
            shape[a] = sizes[i];
            in[i] = leaf(&r, 4, shape, -1.0f, 1.0f);
        }
        in[1]->requires_grad = ci != 1; /* an input without a gradient in between */
        double err = tu_gradcheck(build_concat, in, c->n, (void *)c, 1e-2, 1e-2);
        ck_assert_msg(err < 2e-3, "case %d: relative error %g", ci, err);

        /* values: output element (o, j) is input i's (o, j - offset_i) */
        ti_ctx *ctx = ti_ctx_new(1, 1);
        ti_tape *tape = ti_tape_new(ctx);
        ti_tensor *y = ti_concat(tape, c->n, in, c->axis);
        ck_assert_ptr_nonnull(y);
        int total = 0;
        for (int i = 0; i < c->n; i++)
            total += sizes[i];
        ck_assert_int_eq(y->shape[a], total);
        size_t outer = 1, inner = 1;
        for (int d = 0; d < a; d++)
            outer *= (size_t)y->shape[d];
        for (int d = a + 1; d < 4; d++)
            inner *= (size_t)y->shape[d];
        for (size_t o = 0; o < outer; o++) {
            size_t off = 0;
            for (int i = 0; i < c->n; i++) {
                size_t len = (size_t)sizes[i] * inner;
                ck_assert_int_eq(memcmp(y->data + o * total * inner + off, in[i]->data + o * len,
                                        len * sizeof(float)),
                                 0);
                off += len;
            }
        }
        ti_tape_free(tape);
        ti_ctx_free(ctx);
        for (int i = 0; i < c->n; i++)
            ti_tensor_free(in[i]);
    }
}
END_TEST

START_TEST(test_concat_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    float d[24] = {0};
    /* views, not tape inputs: they outlive the resets after each error */
    ti_tensor av, bv, cv, *a = &av, *b = &bv, *c = &cv;
    ti_tensor_view(a, d, NULL, 4, (int[]){1, 2, 3, 4});
    ti_tensor_view(b, d, NULL, 4, (int[]){1, 2, 4, 3});
    ti_tensor_view(c, d, NULL, 3, (int[]){2, 3, 4});
    ti_tensor *one[1] = {a};
    ti_tensor *y = ti_concat(tape, 1, one, 1); /* one input: a copy */
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_ne(y->data, a->data);
    ck_assert_int_eq(memcmp(y->data, a->data, 24 * sizeof(float)), 0);
    ck_assert_ptr_null(ti_concat(tape, 2, (ti_tensor *[]){a, b}, 1));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "does not fit input 0");
    ck_assert_ptr_null(ti_concat(tape, 2, (ti_tensor *[]){a, c}, 1));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "input 1 (2, 3, 4)");
    ck_assert_ptr_null(ti_concat(tape, 2, (ti_tensor *[]){a, a}, 4));
    tu_expect_tape_error(tape, TI_ERR_ARG, "axis 4 is out of range");
    ck_assert_ptr_null(ti_concat(tape, 0, one, 1));
    tu_expect_tape_error(tape, TI_ERR_ARG, "0 inputs");
    /* the same input twice, axis counted from the end: (1, 4, 3, 4) */
    y = ti_concat(tape, 2, (ti_tensor *[]){a, a}, -3);
    ck_assert_int_eq(y->shape[1], 4);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_ops_act(void)
{
    Suite *s = suite_create("ops_act");
    TCase *tc = tcase_create("activations");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_act_gradients);
    tcase_add_test(tc, test_act_values);
    tcase_add_test(tc, test_softmax);
    tcase_add_test(tc, test_concat);
    tcase_add_test(tc, test_concat_errors);
    suite_add_tcase(s, tc);
    return s;
}
