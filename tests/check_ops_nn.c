/* Tests of the dense, normalisation, shape and loss ops: finite-difference gradients of every
 * differentiable input, batch-norm invariants, analytic values, PyTorch reference values
 * (tests/fixtures/nn_ref.h, made by scripts/make_nn_fixtures.py) and the error paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "fixtures/nn_ref.h"

/* A leaf with the given shape filled from data (or uniform in [-1, 1) when data is NULL). */
static ti_tensor *leaf(ti_rng *r, int ndim, const int *shape, const float *data, int grad)
{
    ti_tensor *t = ti_tensor_new(ndim, shape);
    ck_assert_ptr_nonnull(t);
    if (data)
        memcpy(t->data, data, t->size * sizeof(float));
    else
        tu_fill(r, t->data, t->size, -1.0f, 1.0f);
    t->requires_grad = grad;
    return t;
}

/* ---- linear --------------------------------------------------------------------------- */

static ti_tensor *build_linear(ti_tape *t, ti_tensor **in, void *user)
{
    return ti_linear(t, in[0], in[1], *(int *)user ? in[2] : NULL);
}

START_TEST(test_linear_gradients)
{
    ti_rng r;
    ti_rng_seed(&r, 11);
    ti_tensor *in[3] = {leaf(&r, 3, (int[]){3, 2, 2}, NULL, 1), leaf(&r, 2, (int[]){5, 4}, NULL, 1),
                        leaf(&r, 1, (int[]){5}, NULL, 1)};
    for (int bias = 0; bias <= 1; bias++) {
        double err = tu_gradcheck(build_linear, in, 2 + bias, &bias, 1e-2, 1e-2);
        ck_assert_msg(err < 1e-3, "bias %d: relative error %g", bias, err);
    }
    for (int i = 0; i < 3; i++)
        ti_tensor_free(in[i]);
}
END_TEST

START_TEST(test_linear_reference_and_frozen)
{
    /* PyTorch's F.linear on a (2, 3, 2) input flattened to (2, 6) */
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_tensor *w = leaf(NULL, 2, (int[]){4, 6}, lin_w, 0);
    ti_tensor *b = leaf(NULL, 1, (int[]){4}, lin_b, 0);
    ti_tensor *x = ti_tape_input(tape, lin_x, 3, (int[]){2, 3, 2}, 1);
    ti_tensor *y = ti_linear(tape, x, w, b);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->ndim, 2);
    ck_assert_int_eq(y->shape[0], 2);
    ck_assert_int_eq(y->shape[1], 4);
    ck_assert_double_le(tu_reldiff(y->data, lin_y, 8), 1e-6);
    /* frozen weights (an attack): only dx is computed, the weights get no buffer */
    ck_assert_int_eq(ti_tape_backward(tape, ti_sum(tape, y)), TI_OK);
    ck_assert_ptr_null(w->grad);
    ck_assert_ptr_null(b->grad);
    for (int c = 0; c < 6; c++) { /* d sum(y) / dx[n][c] = sum_k w[k][c] */
        float s = 0;
        for (int k = 0; k < 4; k++)
            s += lin_w[k * 6 + c];
        ck_assert_float_eq_tol(x->grad[c], s, 1e-5f);
        ck_assert_float_eq_tol(x->grad[6 + c], s, 1e-5f);
    }
    ti_tensor_free(w);
    ti_tensor_free(b);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- batch norm ----------------------------------------------------------------------- */

typedef struct bn_case {
    ti_tensor *rm, *rv;
    int training, affine;
} bn_case;

static ti_tensor *build_bn(ti_tape *t, ti_tensor **in, void *user)
{
    bn_case *c = user;
    return ti_batchnorm2d(t, in[0], c->affine ? in[1] : NULL, c->affine ? in[2] : NULL, c->rm,
                          c->rv, c->training, 0.1f, 1e-5f);
}

START_TEST(test_bn_gradients)
{
    ti_rng r;
    ti_rng_seed(&r, 12);
    int shape[4] = {3, 2, 3, 4};
    ti_tensor *in[3] = {leaf(&r, 4, shape, NULL, 1), leaf(&r, 1, (int[]){2}, NULL, 1),
                        leaf(&r, 1, (int[]){2}, NULL, 1)};
    for (size_t i = 0; i < in[0]->size; i++) /* channel 1 off-centre and wider */
        if ((i / 12) % 2)
            in[0]->data[i] = 3.0f + 2.0f * in[0]->data[i];
    bn_case c = {leaf(NULL, 1, (int[]){2}, (float[]){0.3f, 2.5f}, 0),
                 leaf(NULL, 1, (int[]){2}, (float[]){0.5f, 1.5f}, 0), 0, 1};
    for (int training = 0; training <= 1; training++)
        for (int affine = 0; affine <= 1; affine++) {
            c.training = training;
            c.affine = affine;
            double err = tu_gradcheck(build_bn, in, affine ? 3 : 1, &c, 1e-2, 1e-2);
            ck_assert_msg(err < 5e-3, "training %d affine %d: relative error %g", training,
                          affine, err);
        }
    /* the running statistics are not differentiable inputs: they never get a gradient */
    ck_assert_ptr_null(c.rm->grad);
    ck_assert_ptr_null(c.rv->grad);
    for (int i = 0; i < 3; i++)
        ti_tensor_free(in[i]);
    ti_tensor_free(c.rm);
    ti_tensor_free(c.rv);
}
END_TEST

START_TEST(test_bn_invariants)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_rng r;
    ti_rng_seed(&r, 13);
    enum { N = 4, C = 3, HW = 25 };
    int shape[4] = {N, C, 5, 5};
    float xd[N * C * HW];
    tu_fill(&r, xd, N * C * HW, -2.0f, 6.0f);
    float rm0[C] = {0.1f, -0.2f, 0.3f}, rv0[C] = {1.0f, 2.0f, 0.5f};
    ti_tensor *rm = leaf(NULL, 1, (int[]){C}, rm0, 0), *rv = leaf(NULL, 1, (int[]){C}, rv0, 0);
    ti_tensor *x = ti_tape_input(tape, xd, 4, shape, 0);
    /* training, no affine: each channel comes out with mean 0 and biased variance ~1 */
    ti_tensor *y = ti_batchnorm2d(tape, x, NULL, NULL, rm, rv, 1, 0.1f, 1e-5f);
    ck_assert_ptr_nonnull(y);
    for (int c = 0; c < C; c++) {
        double s = 0, s2 = 0, xs = 0, xs2 = 0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < HW; j++) {
                double v = y->data[(i * C + c) * HW + j], u = xd[(i * C + c) * HW + j];
                s += v;
                s2 += v * v;
                xs += u;
                xs2 += u * u;
            }
        double M = N * HW, mean = xs / M, var = xs2 / M - mean * mean;
        ck_assert_double_eq_tol(s / M, 0.0, 1e-6);
        ck_assert_double_eq_tol(s2 / M, var / (var + 1e-5), 1e-5);
        /* running stats: 0.9 old + 0.1 stat, with the unbiased variance */
        ck_assert_double_eq_tol(rm->data[c], 0.9 * rm0[c] + 0.1 * mean, 1e-5);
        ck_assert_double_eq_tol(rv->data[c], 0.9 * rv0[c] + 0.1 * var * M / (M - 1), 1e-5);
    }
    /* evaluation uses the running stats (the ones just updated), not the batch's */
    float g[C] = {2.0f, -1.0f, 0.5f}, b[C] = {0.0f, 1.0f, -3.0f};
    ti_tensor *gamma = leaf(NULL, 1, (int[]){C}, g, 0), *beta = leaf(NULL, 1, (int[]){C}, b, 0);
    float rm1[C], rv1[C];
    memcpy(rm1, rm->data, sizeof rm1);
    memcpy(rv1, rv->data, sizeof rv1);
    y = ti_batchnorm2d(tape, x, gamma, beta, rm, rv, 0, 0.1f, 1e-5f);
    ck_assert_ptr_nonnull(y);
    for (int i = 0; i < N * C * HW; i++) {
        int c = (i / HW) % C;
        double want = (xd[i] - rm1[c]) / sqrt(rv1[c] + 1e-5) * g[c] + b[c];
        ck_assert_double_eq_tol(y->data[i], want, 1e-5 * (1 + fabs(want)));
    }
    ck_assert_float_eq(rm->data[0], rm1[0]); /* evaluation leaves them alone */
    ck_assert_float_eq(rv->data[2], rv1[2]);
    ti_tensor_free(rm);
    ti_tensor_free(rv);
    ti_tensor_free(gamma);
    ti_tensor_free(beta);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_bn_reference)
{
    /* PyTorch F.batch_norm, momentum 0.1, eps 1e-5; gradients of sum(R * y) */
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    int shape[4] = {3, 2, 2, 3};
    for (int training = 1; training >= 0; training--) {
        ti_tape_reset(tape);
        ti_tensor *gamma = leaf(NULL, 1, (int[]){2}, bn_gamma, 1);
        ti_tensor *beta = leaf(NULL, 1, (int[]){2}, bn_beta, 1);
        ti_tensor *rm = leaf(NULL, 1, (int[]){2}, bn_rm0, 0);
        ti_tensor *rv = leaf(NULL, 1, (int[]){2}, bn_rv0, 0);
        ck_assert_int_eq(ti_tensor_alloc_grad(gamma), TI_OK);
        ck_assert_int_eq(ti_tensor_alloc_grad(beta), TI_OK);
        ti_tensor *x = ti_tape_input(tape, bn_x, 4, shape, 1);
        ti_tensor *y = ti_batchnorm2d(tape, x, gamma, beta, rm, rv, training, 0.1f, 1e-5f);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(ti_tape_backward_seed(tape, y, bn_R), TI_OK);
        const float *wy = training ? bn_train_y : bn_eval_y;
        const float *wdx = training ? bn_train_dx : bn_eval_dx;
        const float *wdg = training ? bn_train_dgamma : bn_eval_dgamma;
        const float *wdb = training ? bn_train_dbeta : bn_eval_dbeta;
        ck_assert_double_le(tu_reldiff(y->data, wy, 36), 2e-6);
        ck_assert_double_le(tu_reldiff(x->grad, wdx, 36), 2e-5);
        ck_assert_double_le(tu_reldiff(gamma->grad, wdg, 2), 2e-5);
        ck_assert_double_le(tu_reldiff(beta->grad, wdb, 2), 2e-5);
        if (training) {
            ck_assert_double_le(tu_reldiff(rm->data, bn_train_rm, 2), 1e-6);
            ck_assert_double_le(tu_reldiff(rv->data, bn_train_rv, 2), 1e-6);
        }
        ti_tensor_free(gamma);
        ti_tensor_free(beta);
        ti_tensor_free(rm);
        ti_tensor_free(rv);
    }
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_bn_input_grad_only)
{
    /* an attack: evaluation mode, parameters frozen (no gradient buffers) */
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_tensor *gamma = leaf(NULL, 1, (int[]){2}, bn_gamma, 0);
    ti_tensor *beta = leaf(NULL, 1, (int[]){2}, bn_beta, 0);
    ti_tensor *rm = leaf(NULL, 1, (int[]){2}, bn_rm0, 0);
    ti_tensor *rv = leaf(NULL, 1, (int[]){2}, bn_rv0, 0);
    ti_tensor *x = ti_tape_input(tape, bn_x, 4, (int[]){3, 2, 2, 3}, 1);
    ti_tensor *y = ti_batchnorm2d(tape, x, gamma, beta, rm, rv, 0, 0.1f, 1e-5f);
    ck_assert_int_eq(ti_tape_backward_seed(tape, y, bn_R), TI_OK);
    ck_assert_double_le(tu_reldiff(x->grad, bn_eval_dx, 36), 2e-5);
    ck_assert_ptr_null(gamma->grad);
    ck_assert_ptr_null(beta->grad);
    /* nothing requires a gradient: no node is recorded */
    ti_tape_reset(tape);
    x = ti_tape_input(tape, bn_x, 4, (int[]){3, 2, 2, 3}, 0);
    y = ti_batchnorm2d(tape, x, gamma, beta, rm, rv, 0, 0.1f, 1e-5f);
    ck_assert_ptr_null(y->node);
    ti_tensor_free(gamma);
    ti_tensor_free(beta);
    ti_tensor_free(rm);
    ti_tensor_free(rv);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- normalize, reshape, flatten --------------------------------------------------------- */

static const float norm_mean[3] = {0.4914f, 0.4822f, 0.4465f};
static const float norm_std[3] = {0.2471f, 0.2435f, 0.2616f};

static ti_tensor *build_shape_ops(ti_tape *t, ti_tensor **in, void *user)
{
    switch (*(int *)user) {
    case 0: return ti_normalize(t, in[0], norm_mean, norm_std);
    case 1: return ti_reshape(t, in[0], 3, (int[]){-1, 4, 3});
    /* a view followed by an op that reads it: the gradient must still reach x */
    case 2: return ti_mul(t, ti_flatten(t, in[0]), ti_flatten(t, in[0]));
    default: return ti_relu(t, ti_reshape(t, ti_normalize(t, in[0], norm_mean, norm_std), 1,
                                          (int[]){-1}));
    }
}

START_TEST(test_shape_ops_gradients)
{
    ti_rng r;
    ti_rng_seed(&r, 14);
    ti_tensor *x = leaf(&r, 4, (int[]){2, 3, 2, 3}, NULL, 1);
    for (size_t i = 0; i < x->size; i++) /* keep away from relu's kink after normalize */
        if (fabsf(x->data[i] - norm_mean[(i / 6) % 3]) < 0.02f)
            x->data[i] += 0.05f;
    for (int which = 0; which < 4; which++) {
        double err = tu_gradcheck(build_shape_ops, &x, 1, &which, 1e-3, 1e-3);
        ck_assert_msg(err < 2e-3, "case %d: relative error %g", which, err);
    }
    ti_tensor_free(x);
}
END_TEST

START_TEST(test_shape_ops_values)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    float d[24];
    for (int i = 0; i < 24; i++)
        d[i] = (float)i / 24.0f;
    ti_tensor *x = ti_tape_input(tape, d, 4, (int[]){2, 3, 2, 2}, 0);
    ti_tensor *y = ti_normalize(tape, x, norm_mean, norm_std);
    for (int i = 0; i < 24; i++) {
        int c = (i / 4) % 3;
        ck_assert_float_eq_tol(y->data[i], (d[i] - norm_mean[c]) / norm_std[c], 1e-6f);
    }
    ti_tensor *f = ti_flatten(tape, x);
    ck_assert_int_eq(f->ndim, 2);
    ck_assert_int_eq(f->shape[0], 2);
    ck_assert_int_eq(f->shape[1], 12);
    ck_assert_float_eq(f->data[13], d[13]);
    ti_tensor *v = ti_reshape(tape, x, 3, (int[]){4, -1, 2});
    ck_assert_int_eq(v->shape[1], 3);
    ck_assert_uint_eq(v->size, 24);
    ti_tensor *s = ti_reshape(tape, ti_sum(tape, x), 2, (int[]){1, 1}); /* scalar -> (1, 1) */
    ck_assert_int_eq(s->ndim, 2);
    ck_assert_float_eq_tol(s->data[0], 11.5f, 1e-5f);
    ck_assert_int_eq(ti_tape_status(tape), TI_OK);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- losses ------------------------------------------------------------------------------ */

typedef struct loss_case {
    int which;
    ti_reduction red;
    const int *labels;
} loss_case;

static ti_tensor *build_loss(ti_tape *t, ti_tensor **in, void *user)
{
    loss_case *c = user;
    switch (c->which) {
    case 0: return ti_log_softmax(t, in[0]);
    case 1: return ti_cross_entropy(t, in[0], c->labels, c->red);
    default: return ti_kl_div(t, in[0], in[1], c->red);
    }
}

START_TEST(test_loss_gradients)
{
    ti_rng r;
    ti_rng_seed(&r, 15);
    ti_tensor *in[2] = {leaf(&r, 2, (int[]){4, 5}, NULL, 1), leaf(&r, 2, (int[]){4, 5}, NULL, 1)};
    for (size_t i = 0; i < in[0]->size; i++) {
        in[0]->data[i] *= 3.0f;
        in[1]->data[i] *= 3.0f;
    }
    const int labels[4] = {0, 4, 2, 2};
    for (int which = 0; which < 3; which++)
        for (int red = 0; red < TI_REDUCTION_COUNT; red++) {
            loss_case c = {which, (ti_reduction)red, labels};
            double err = tu_gradcheck(build_loss, in, which == 2 ? 2 : 1, &c, 1e-2, 1e-2);
            ck_assert_msg(err < 5e-3, "loss %d reduction %d: relative error %g", which, red,
                          err);
        }
    /* KL differentiable in q alone (p frozen), as TRADES' inner maximisation uses it */
    in[0]->requires_grad = 0;
    loss_case c = {2, TI_REDUCE_SUM, NULL};
    ck_assert_double_lt(tu_gradcheck(build_loss, in, 2, &c, 1e-3, 1e-3), 5e-3);
    ti_tensor_free(in[0]);
    ti_tensor_free(in[1]);
}
END_TEST

START_TEST(test_loss_known_values)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    /* CE of z = [3, 1, 2, 0], y = 0 is log(e^3 + e + e^2 + 1) - 3 */
    float z[4] = {3, 1, 2, 0};
    const float soft[4] = {0.643914f, 0.087144f, 0.236883f, 0.032059f};
    ti_tensor *x = ti_tape_input(tape, z, 2, (int[]){1, 4}, 1);
    ti_tensor *ce = ti_cross_entropy(tape, x, (int[]){0}, TI_REDUCE_MEAN);
    ck_assert_int_eq(ce->ndim, 0);
    ck_assert_float_eq_tol(ce->data[0], 0.4401897f, 1e-6f);
    ti_tensor *ls = ti_log_softmax(tape, x);
    for (int j = 0; j < 4; j++)
        ck_assert_float_eq_tol(expf(ls->data[j]), soft[j], 1e-6f);
    /* dCE/dz = softmax - onehot */
    ck_assert_int_eq(ti_tape_backward(tape, ce), TI_OK);
    for (int j = 0; j < 4; j++)
        ck_assert_float_eq_tol(x->grad[j], soft[j] - (j == 0), 1e-6f);
    /* huge logits do not overflow (log-sum-exp shift) */
    ti_tape_reset(tape);
    float big[4] = {1000.0f, 0.0f, -1000.0f, 999.0f};
    x = ti_tape_input(tape, big, 2, (int[]){2, 2}, 0);
    ce = ti_cross_entropy(tape, x, (int[]){1, 0}, TI_REDUCE_NONE);
    ck_assert_int_eq(ce->ndim, 1);
    ck_assert_float_eq_tol(ce->data[0], 1000.0f, 1e-3f);
    ck_assert_float_eq_tol(ce->data[1], (float)log1p(exp(-1999.0)) + 1999.0f, 1e-3f);
    ti_tensor *kl = ti_kl_div(tape, x, x, TI_REDUCE_SUM);
    ck_assert(isfinite(kl->data[0]));
    ck_assert_float_eq_tol(kl->data[0], 0.0f, 1e-6f);
    /* KL(p || p) = 0 with zero gradient in both arguments */
    ti_tape_reset(tape);
    ti_rng r;
    ti_rng_seed(&r, 16);
    float pd[12];
    tu_fill(&r, pd, 12, -3.0f, 3.0f);
    ti_tensor *p = ti_tape_input(tape, pd, 2, (int[]){3, 4}, 1);
    ti_tensor *q = ti_tape_input(tape, pd, 2, (int[]){3, 4}, 1);
    kl = ti_kl_div(tape, p, q, TI_REDUCE_MEAN);
    ck_assert_float_eq_tol(kl->data[0], 0.0f, 1e-7f);
    ck_assert_int_eq(ti_tape_backward(tape, kl), TI_OK);
    for (int i = 0; i < 12; i++) {
        ck_assert_float_eq_tol(p->grad[i], 0.0f, 1e-7f);
        ck_assert_float_eq_tol(q->grad[i], 0.0f, 1e-7f);
    }
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_loss_reference)
{
    /* PyTorch: kl_div(log_softmax(q), softmax(p), 'batchmean'), cross_entropy (mean) */
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_tensor *p = ti_tape_input(tape, kl_p, 2, (int[]){3, 5}, 1);
    ti_tensor *q = ti_tape_input(tape, kl_q, 2, (int[]){3, 5}, 1);
    ti_tensor *kl = ti_kl_div(tape, p, q, TI_REDUCE_MEAN);
    ti_tensor *rows = ti_kl_div(tape, p, q, TI_REDUCE_NONE);
    ck_assert_float_eq_tol(kl->data[0], kl_batchmean, 1e-6f * (1 + fabsf(kl_batchmean)));
    ck_assert_double_le(tu_reldiff(rows->data, kl_rows, 3), 1e-6);
    ck_assert_int_eq(ti_tape_backward(tape, kl), TI_OK);
    ck_assert_double_le(tu_reldiff(p->grad, kl_dp, 15), 1e-6);
    ck_assert_double_le(tu_reldiff(q->grad, kl_dq, 15), 1e-6);

    ti_tape_reset(tape);
    ti_tensor *z = ti_tape_input(tape, ce_z, 2, (int[]){4, 6}, 1);
    ti_tensor *ce = ti_cross_entropy(tape, z, ce_labels, TI_REDUCE_MEAN);
    ck_assert_float_eq_tol(ce->data[0], ce_mean, 1e-6f * (1 + fabsf(ce_mean)));
    ck_assert_int_eq(ti_tape_backward(tape, ce), TI_OK);
    ck_assert_double_le(tu_reldiff(z->grad, ce_dz, 24), 1e-6);
    ti_tensor *ls = ti_log_softmax(tape, z);
    ck_assert_double_le(tu_reldiff(ls->data, lsm_y, 24), 1e-6);
    /* SUM is N times MEAN */
    ti_tensor *cs = ti_cross_entropy(tape, z, ce_labels, TI_REDUCE_SUM);
    ck_assert_float_eq_tol(cs->data[0], 4.0f * ce_mean, 4e-6f * (1 + fabsf(ce_mean)));
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- limits: an empty batch and a single value -------------------------------------------- */

START_TEST(test_limits)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    float d[4] = {0.5f, -1.0f, 2.0f, 0.25f};
    /* N = 0 through linear and cross-entropy: empty (0, K) logits, loss 0, zero gradient */
    ti_tensor *w = ti_tensor_new(2, (int[]){3, 4});
    w->requires_grad = 1;
    ck_assert_int_eq(ti_tensor_alloc_grad(w), TI_OK);
    w->data[5] = 1.0f;
    ti_tensor *x = ti_tape_input(tape, d, 2, (int[]){0, 4}, 1);
    ti_tensor *y = ti_linear(tape, x, w, NULL);
    ck_assert_int_eq(y->shape[0], 0);
    ck_assert_int_eq(y->shape[1], 3);
    ti_tensor *l = ti_cross_entropy(tape, y, NULL, TI_REDUCE_MEAN);
    ck_assert_float_eq(l->data[0], 0.0f);
    ck_assert_int_eq(ti_tape_backward(tape, l), TI_OK);
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(w->grad[i], 0.0f);
    /* one image, one pixel, evaluation mode: y = (x - mean) / sqrt(var + eps) */
    ti_tape_reset(tape);
    ti_tensor *rm = leaf(NULL, 1, (int[]){1}, (float[]){1.0f}, 0);
    ti_tensor *rv = leaf(NULL, 1, (int[]){1}, (float[]){4.0f}, 0);
    x = ti_tape_input(tape, d + 2, 4, (int[]){1, 1, 1, 1}, 1);
    y = ti_batchnorm2d(tape, x, NULL, NULL, rm, rv, 0, 0.1f, 0.0f);
    ck_assert_float_eq_tol(y->data[0], 0.5f, 1e-7f);
    ck_assert_int_eq(ti_tape_backward(tape, y), TI_OK);
    ck_assert_float_eq_tol(x->grad[0], 0.5f, 1e-7f);
    /* one class: log-softmax is 0, cross-entropy 0, KL 0 */
    ti_tensor *z = ti_tape_input(tape, d, 2, (int[]){4, 1}, 1);
    ti_tensor *ls = ti_log_softmax(tape, z);
    l = ti_cross_entropy(tape, z, (int[]){0, 0, 0, 0}, TI_REDUCE_SUM);
    ti_tensor *kl = ti_kl_div(tape, z, ti_scale(tape, z, 2.0f), TI_REDUCE_SUM);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(ls->data[i], 0.0f);
    ck_assert_float_eq(l->data[0], 0.0f);
    ck_assert_float_eq(kl->data[0], 0.0f);
    ck_assert_int_eq(ti_tape_status(tape), TI_OK);
    ti_tensor_free(w);
    ti_tensor_free(rm);
    ti_tensor_free(rv);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- error paths ---------------------------------------------------------------------------- */

START_TEST(test_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    float d[64] = {0};
    ti_tensor *w = ti_tensor_new(2, (int[]){3, 5});
    ti_tensor *b = ti_tensor_new(1, (int[]){4});
    ti_tensor *c2 = ti_tensor_new(1, (int[]){2});
    ti_tensor *c3 = ti_tensor_new(1, (int[]){3});

#define X(ndim, ...) ti_tape_input(tape, d, ndim, (int[]){__VA_ARGS__}, 0)
    /* linear: feature count, bias length, a 1-D input */
    ck_assert_ptr_null(ti_linear(tape, X(2, 2, 4), w, NULL));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "C=4");
    ck_assert_ptr_null(ti_linear(tape, X(4, 2, 1, 1, 5), w, b));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "b must be");
    ck_assert_ptr_null(ti_linear(tape, X(1, 5), w, NULL));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "linear");
    ck_assert_ptr_null(ti_linear(tape, X(2, 2, 5), NULL, NULL));
    tu_expect_tape_error(tape, TI_ERR_ARG, "NULL");

    /* batch norm: parameter shapes, one value per channel in training, missing running stats */
    ck_assert_ptr_null(ti_batchnorm2d(tape, X(4, 2, 3, 2, 2), c2, NULL, c3, c3, 1, 0.1f, 1e-5f));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "gamma is (2)");
    ck_assert_ptr_null(ti_batchnorm2d(tape, X(4, 1, 3, 1, 1), NULL, NULL, c3, c3, 1, 0.1f, 1e-5f));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "more than one value");
    ck_assert_ptr_null(ti_batchnorm2d(tape, X(4, 2, 3, 2, 2), c3, c3, NULL, NULL, 0, 0.1f, 1e-5f));
    tu_expect_tape_error(tape, TI_ERR_ARG, "running_mean");
    ck_assert_ptr_null(ti_batchnorm2d(tape, X(4, 2, 3, 2, 2), c3, c3, c3, c3, 0, 0.1f, 0.0f));
    tu_expect_tape_error(tape, TI_ERR_NAN, "running_var"); /* zero variance, zero eps */
    ck_assert_ptr_null(ti_batchnorm2d(tape, X(1, 6), NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "batchnorm2d");

    /* normalize: a zero std */
    ck_assert_ptr_null(ti_normalize(tape, X(4, 1, 3, 2, 2), norm_mean, (float[]){1, 0, 1}));
    tu_expect_tape_error(tape, TI_ERR_ARG, "channel 1");

    /* reshape: size mismatch, two -1, an impossible -1; flatten of a scalar */
    ck_assert_ptr_null(ti_reshape(tape, X(2, 3, 4), 2, (int[]){5, 2}));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "(3, 4)");
    ck_assert_ptr_null(ti_reshape(tape, X(2, 3, 4), 3, (int[]){-1, 2, -1}));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "more than one -1");
    ck_assert_ptr_null(ti_reshape(tape, X(2, 3, 4), 2, (int[]){-1, 5}));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "(-1, 5)");
    ck_assert_ptr_null(ti_reshape(tape, X(2, 3, 4), 2, (int[]){-2, -6}));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "negative");
    ck_assert_ptr_null(ti_flatten(tape, X(0, 0)));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "flatten");

    /* losses: bad labels name the sample; shapes; reduction */
    ck_assert_ptr_null(ti_cross_entropy(tape, X(2, 3, 4), (int[]){0, 3, 4}, TI_REDUCE_MEAN));
    tu_expect_tape_error(tape, TI_ERR_ARG, "sample 2");
    ck_assert_ptr_null(ti_cross_entropy(tape, X(2, 3, 4), (int[]){-1, 3, 0}, TI_REDUCE_MEAN));
    tu_expect_tape_error(tape, TI_ERR_ARG, "label -1 of sample 0");
    ck_assert_ptr_null(ti_cross_entropy(tape, X(2, 3, 4), NULL, TI_REDUCE_MEAN));
    tu_expect_tape_error(tape, TI_ERR_ARG, "labels");
    ck_assert_ptr_null(ti_cross_entropy(tape, X(3, 3, 4, 1), (int[]){0, 0, 0}, TI_REDUCE_SUM));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "(N, M)");
    ck_assert_ptr_null(ti_cross_entropy(tape, X(2, 3, 4), (int[]){0, 0, 0}, (ti_reduction)7));
    tu_expect_tape_error(tape, TI_ERR_ARG, "reduction");
    ck_assert_ptr_null(ti_kl_div(tape, X(2, 3, 4), X(2, 4, 3), TI_REDUCE_MEAN));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "differ");
    ck_assert_ptr_null(ti_log_softmax(tape, X(1, 4)));
    tu_expect_tape_error(tape, TI_ERR_SHAPE, "log_softmax");
#undef X

    ti_tensor_free(w);
    ti_tensor_free(b);
    ti_tensor_free(c2);
    ti_tensor_free(c3);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_ops_nn(void)
{
    Suite *s = suite_create("ops_nn");
    TCase *tc = tcase_create("nn");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_linear_gradients);
    tcase_add_test(tc, test_linear_reference_and_frozen);
    tcase_add_test(tc, test_bn_gradients);
    tcase_add_test(tc, test_bn_invariants);
    tcase_add_test(tc, test_bn_reference);
    tcase_add_test(tc, test_bn_input_grad_only);
    tcase_add_test(tc, test_shape_ops_gradients);
    tcase_add_test(tc, test_shape_ops_values);
    tcase_add_test(tc, test_loss_gradients);
    tcase_add_test(tc, test_loss_known_values);
    tcase_add_test(tc, test_loss_reference);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
