/* Tests of FMN (libattack/fmn.c) and the ball projections (libattack/projection.c): the
 * analytic distance of a linear classifier |(w_y - w_j).x + b_y - b_j| / ||w_y - w_j||_dual,
 * reached within 1% and hit exactly by the first epsilon; monotone best norms; 0 for points
 * already misclassified, +inf when unreachable; the box; targets; determinism; errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/fmn.h"
#include "thinice/projection.h"

enum { LC = 1, LH = 4, LW = 5, LD = LC * LH * LW };

/* ---- ball projections -------------------------------------------------------------------- */

START_TEST(test_proj_balls)
{
    enum { n = 40 };
    ti_rng r;
    ti_rng_seed(&r, 2);
    float v[n], u[n], keep[n];
    void *work = malloc(ti_proj_work_bytes(n));
    for (int trial = 0; trial < 50; trial++) {
        tu_fill(&r, v, n, -1.0f, 1.0f);
        float eps = 0.05f + 2.0f * (float)ti_rng_double(&r);
        /* L1 (Duchi): the result has norm eps, and it is the soft-threshold of v: check by
         * the optimality condition (every kept |u_i| = |v_i| - theta with one theta, and
         * every dropped |v_i| <= theta) */
        memcpy(u, v, sizeof v);
        ti_proj_ball(TI_NORM_L1, u, n, eps, work);
        double l1v = ti_norm_of(TI_NORM_L1, v, n);
        if (l1v <= eps) {
            ck_assert_int_eq(memcmp(u, v, sizeof v), 0);
        } else {
            ck_assert_double_eq_tol(ti_norm_of(TI_NORM_L1, u, n), eps, 1e-5);
            double theta = -1;
            for (int i = 0; i < n; i++)
                if (u[i] != 0.0f) {
                    double th = fabs(v[i]) - fabs(u[i]);
                    if (theta < 0)
                        theta = th;
                    ck_assert_double_eq_tol(th, theta, 1e-5);
                    ck_assert(signbit(u[i]) == signbit(v[i]));
                }
            for (int i = 0; i < n; i++)
                if (u[i] == 0.0f)
                    ck_assert_double_le(fabs(v[i]), theta + 1e-6);
        }
        /* L2 and L-inf */
        memcpy(u, v, sizeof v);
        ti_proj_ball(TI_NORM_L2, u, n, eps, NULL);
        ck_assert_double_le(ti_norm_of(TI_NORM_L2, u, n), eps + 1e-6);
        memcpy(u, v, sizeof v);
        ti_proj_ball(TI_NORM_LINF, u, n, eps * 0.3f, NULL);
        for (int i = 0; i < n; i++)
            ck_assert_float_eq(u[i], fminf(fmaxf(v[i], -eps * 0.3f), eps * 0.3f));
        /* L0: the k largest magnitudes survive */
        int k = 1 + trial % 10;
        memcpy(u, v, sizeof v);
        ti_proj_ball(TI_NORM_L0, u, n, (float)k + 0.5f, work);
        ck_assert_double_eq(ti_norm_of(TI_NORM_L0, u, n), k);
        memcpy(keep, v, sizeof v);
        for (int i = 0; i < n; i++)
            if (u[i] != 0.0f)
                for (int j = 0; j < n; j++)
                    if (u[j] == 0.0f)
                        ck_assert(fabsf(v[j]) <= fabsf(v[i]));
    }
    /* the sort is stable and ascending */
    float key[6] = {0.5f, 0.0f, 0.25f, 0.5f, -0.0f, 3.0f};
    uint32_t idx[6] = {0, 1, 2, 3, 4, 5};
    ti_proj_sort_pairs(key, idx, 6, work);
    uint32_t want[6] = {1, 4, 2, 0, 3, 5};
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(idx[i], want[i]);
    free(work);
}
END_TEST

/* ---- FMN on linear models ------------------------------------------------------------------ */

/* The linear models (testutil.h) classify x as y = 1: on an exactly linear model FMN's first
 * step lands exactly on the boundary (docs/fmn.md), where the logits can tie; ties go to the
 * lowest index, so with y = 0 a point on the boundary would count as not crossed and the
 * iterate could sit there for ever. Real networks do not produce exact ties. */

START_TEST(test_fmn_linear_distance)
{
    enum { N = 6, K = 1000 };
    static const ti_norm ps[3] = {TI_NORM_LINF, TI_NORM_L2, TI_NORM_L1};
    ti_rng r;
    ti_rng_seed(&r, 31);
    float W[2 * LD], b[2], x[LD], xa[LD], nrm, z[2];
    float *et = malloc(sizeof(float) * K), *nt = malloc(sizeof(float) * K);
    int y, pred;
    double worst_rel = 0;
    for (int n = 0; n < N; n++) {
        tu_two_class(&r, LD, 1, W, b, x, &y);
        ti_linear_classifier lc;
        ti_linear_classifier_init(&lc, W, b, 2, LC, LH, LW);
        for (int pi = 0; pi < 3; pi++) {
            ti_fmn_params p = ti_fmn_params_default();
            p.norm = ps[pi];
            p.steps = K;
            ti_atk_stats st;
            ck_assert_int_eq(ti_atk_fmn_trace(NULL, &lc.base, &p, x, &y, 1, xa, &nrm, et, nt,
                                              &st), TI_OK);
            double want = tu_two_class_distance(p.norm, LD, W, b, x, y);
            /* the first epsilon is the linear (DeepFool) estimate: exact for a linear model */
            ck_assert_double_eq_tol(et[0], want, 1e-5 * want);
            ck_assert(isfinite(nrm));
            ck_assert_double_ge(nrm, want * (1 - 1e-5));
            ck_assert_double_le(nrm, want * 1.01);
            worst_rel = fmax(worst_rel, nrm / want - 1);
            /* the reported norm is the norm of the returned point, and it is adversarial */
            ck_assert_float_eq(nrm, (float)ti_norm_dist(p.norm, xa, x, LD));
            lc.base.forward(&lc, xa, 1, z);
            ti_argmax_rows(z, 1, 2, &pred);
            ck_assert_int_ne(pred, y);
            for (int i = 0; i < LD; i++)
                ck_assert(xa[i] >= 0.0f && xa[i] <= 1.0f);
            /* the best norm never increases */
            for (int it = 1; it < K; it++)
                ck_assert(nt[it] <= nt[it - 1]);
            ck_assert_float_eq(nt[K - 1], nrm);
            /* exactly one forward and one backward per step */
            ck_assert_int_eq(st.backwards, K);
            ck_assert_int_eq(st.forwards, K);
        }
    }
    ck_assert_double_lt(worst_rel, 0.01);
    free(et);
    free(nt);
}
END_TEST

START_TEST(test_fmn_l0)
{
    enum { N = 4, K = 200 };
    ti_rng r;
    ti_rng_seed(&r, 41);
    float W[2 * LD], b[2], x[LD], xa[LD], nrm, z[2];
    int y, pred;
    for (int n = 0; n < N; n++) {
        tu_two_class(&r, LD, 1, W, b, x, &y);
        ti_linear_classifier lc;
        ti_linear_classifier_init(&lc, W, b, 2, LC, LH, LW);
        ti_fmn_params p = ti_fmn_params_default();
        p.norm = TI_NORM_L0;
        p.steps = K;
        ck_assert_int_eq(ti_atk_fmn(NULL, &lc.base, &p, x, &y, 1, xa, &nrm, NULL), TI_OK);
        ck_assert(isfinite(nrm));
        ck_assert_float_eq(nrm, floorf(nrm)); /* a count of changed values */
        ck_assert_float_eq(nrm, (float)ti_norm_dist(TI_NORM_L0, xa, x, LD));
        lc.base.forward(&lc, xa, 1, z);
        ti_argmax_rows(z, 1, 2, &pred);
        ck_assert_int_ne(pred, y);
    }
}
END_TEST

START_TEST(test_fmn_misclassified_and_unreachable)
{
    enum { N = 3 };
    ti_rng r;
    ti_rng_seed(&r, 51);
    float W[2 * LD], b[2], x[N * LD], xa[N * LD], nrm[N];
    int y[N];
    tu_two_class(&r, LD, 1, W, b, x, &y[0]);
    tu_fill(&r, x + LD, 2 * LD, 0.0f, 1.0f);
    float z[N * 2];
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, W, b, 2, LC, LH, LW);
    lc.base.forward(&lc, x, N, z);
    ti_argmax_rows(z, N, 2, y);
    y[1] = 1 - y[1]; /* misclassified at x: distance 0, x_adv = x */
    for (int pn = 0; pn < TI_NORM_COUNT; pn++) {
        ti_fmn_params p = ti_fmn_params_default();
        p.norm = (ti_norm)pn;
        ck_assert_int_eq(ti_atk_fmn(NULL, &lc.base, &p, x, y, N, xa, nrm, NULL), TI_OK);
        ck_assert_float_eq(nrm[1], 0.0f);
        ck_assert_int_eq(memcmp(xa + LD, x + LD, LD * sizeof(float)), 0);
    }
    /* a constant classifier: nothing is ever adversarial */
    float W0[2 * LD] = {0}, b0[2] = {1.0f, 0.0f};
    int y0[N] = {0, 0, 0};
    ti_linear_classifier c0;
    ti_linear_classifier_init(&c0, W0, b0, 2, LC, LH, LW);
    for (int pn = 0; pn < TI_NORM_COUNT; pn++) {
        ti_fmn_params p = ti_fmn_params_default();
        p.norm = (ti_norm)pn;
        p.steps = 20;
        ck_assert_int_eq(ti_atk_fmn(NULL, &c0.base, &p, x, y0, N, xa, nrm, NULL), TI_OK);
        for (int n = 0; n < N; n++)
            ck_assert(isinf(nrm[n]) && nrm[n] > 0);
        ck_assert_int_eq(memcmp(xa, x, sizeof x), 0);
    }
}
END_TEST

/* 4 classes; targeted FMN: whenever a point is found, it is classified as the target. Also
 * the box, the epsilon bound and determinism. */
START_TEST(test_fmn_targeted_box_determinism)
{
    enum { N = 8, M = 4, K = 300 };
    ti_rng r;
    ti_rng_seed(&r, 61);
    float W[M * LD], b[M], x[N * LD], xa[N * LD], xb[N * LD], nrm[N], nrm2[N], z[N * M];
    float *et = malloc(sizeof(float) * N * K);
    int y[N], t[N], pred[N];
    tu_fill(&r, W, M * LD, -1.0f, 1.0f);
    tu_fill(&r, b, M, -0.3f, 0.3f);
    tu_fill(&r, x, N * LD, 0.0f, 1.0f);
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, W, b, M, LC, LH, LW);
    lc.base.forward(&lc, x, N, z);
    ti_argmax_rows(z, N, M, y);
    for (int n = 0; n < N; n++)
        t[n] = (y[n] + 1 + n % (M - 1)) % M;
    for (int pn = 0; pn < TI_NORM_COUNT; pn++) {
        ti_fmn_params p = ti_fmn_params_default();
        p.norm = (ti_norm)pn;
        p.steps = K;
        p.targeted = 1;
        ck_assert_int_eq(ti_atk_fmn_trace(NULL, &lc.base, &p, x, t, N, xa, nrm, et, NULL, NULL),
                         TI_OK);
        ck_assert_int_eq(ti_atk_fmn(NULL, &lc.base, &p, x, t, N, xb, nrm2, NULL), TI_OK);
        ck_assert_int_eq(memcmp(xa, xb, sizeof xa), 0);
        ck_assert_int_eq(memcmp(nrm, nrm2, sizeof nrm), 0);
        lc.base.forward(&lc, xa, N, z);
        ti_argmax_rows(z, N, M, pred);
        int found = 0;
        for (int n = 0; n < N; n++) {
            const float *xn = x + n * LD;
            float worst[LD];
            for (int i = 0; i < LD; i++) {
                ck_assert(xa[n * LD + i] >= 0.0f && xa[n * LD + i] <= 1.0f);
                worst[i] = fmaxf(xn[i], 1.0f - xn[i]);
            }
            double wn = pn == TI_NORM_L0 ? LD : ti_norm_of((ti_norm)pn, worst, LD);
            for (int it = 0; it < K; it++)
                ck_assert_double_le(et[n * K + it], wn * (1 + 1e-6));
            if (isfinite(nrm[n])) {
                found++;
                ck_assert_int_eq(pred[n], t[n]);
            }
        }
        ck_assert_int_gt(found, N / 2);
    }
    free(et);
}
END_TEST

START_TEST(test_fmn_schedule_first_step)
{
    /* On a 2-class linear model with L2 the first step moves delta by exactly alpha0 along
     * the gradient, clipped to the first epsilon: so with 1 step the point stays where it
     * was (nothing recorded) and with alpha0 tiny the second epsilon is the distance again. */
    enum { K = 2 };
    float W[2 * LD] = {0}, b[2] = {0.2f, 0.0f}, x[LD], xa[LD], nrm, et[K], nt[K];
    W[0] = 1.0f; /* z0 - z1 = x0 + 0.2: boundary at x0 = -0.2, outside the box */
    for (int i = 0; i < LD; i++)
        x[i] = 0.5f;
    int y = 0;
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, W, b, 2, LC, LH, LW);
    ti_fmn_params p = ti_fmn_params_default();
    p.norm = TI_NORM_L2;
    p.steps = K;
    ck_assert_int_eq(ti_atk_fmn_trace(NULL, &lc.base, &p, x, &y, 1, xa, &nrm, et, nt, NULL),
                     TI_OK);
    ck_assert_double_eq_tol(et[0], 0.7, 1e-6); /* linear estimate |0.7| / ||e_0||_2 */
    ck_assert(isinf(nrm));                     /* unreachable inside the box */
    ck_assert(isinf(nt[0]) && isinf(nt[1]));
    /* after the step x0 sits on the face 0: the estimate is now its distance 0.5 + 0.2
     * minus the 0.5 moved, plus the 0.5 norm = 0.7 again, capped by worst = sqrt(20)/2 */
    ck_assert_double_eq_tol(et[1], 0.7, 1e-6);
}
END_TEST

START_TEST(test_fmn_errors)
{
    float W[2 * LD] = {0}, b[2] = {0}, x[LD] = {0}, xa[LD], nrm;
    int y = 0, bad = -1;
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, W, b, 2, LC, LH, LW);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_fmn_params p = ti_fmn_params_default();
    ck_assert_int_eq(ti_atk_fmn(ctx, &lc.base, &p, x, &y, 1, xa, NULL, NULL), TI_ERR_ARG);
    ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    ck_assert_int_eq(ti_atk_fmn(ctx, &lc.base, &p, x, &bad, 1, xa, &nrm, NULL), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "y[0]=-1"));
    p.steps = 0;
    ck_assert_int_eq(ti_atk_fmn(ctx, &lc.base, &p, x, &y, 1, xa, &nrm, NULL), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "steps"));
    p = ti_fmn_params_default();
    p.norm = TI_NORM_COUNT;
    ck_assert_int_eq(ti_atk_fmn(ctx, &lc.base, &p, x, &y, 1, xa, &nrm, NULL), TI_ERR_ARG);
    ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    p = ti_fmn_params_default();
    p.gamma0 = 1.5f;
    ck_assert_int_eq(ti_atk_fmn(ctx, &lc.base, &p, x, &y, 1, xa, &nrm, NULL), TI_ERR_ARG);
    ck_assert_int_eq(ti_atk_fmn(ctx, &lc.base, &p, x, &y, 0, xa, &nrm, NULL), TI_ERR_ARG);
    p = ti_fmn_params_default();
    ck_assert_int_eq(ti_atk_fmn(ctx, &lc.base, &p, x, &y, 0, NULL, NULL, NULL), TI_OK);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_fmn(void)
{
    Suite *s = suite_create("fmn");
    TCase *tc = tcase_create("fmn");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_proj_balls);
    tcase_add_test(tc, test_fmn_linear_distance);
    tcase_add_test(tc, test_fmn_l0);
    tcase_add_test(tc, test_fmn_misclassified_and_unreachable);
    tcase_add_test(tc, test_fmn_targeted_box_determinism);
    tcase_add_test(tc, test_fmn_schedule_first_step);
    tcase_add_test(tc, test_fmn_errors);
    suite_add_tcase(s, tc);
    return s;
}
