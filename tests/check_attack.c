/* Tests of libattack's losses, FGSM, PGD, APGD, APGD-T, Square and the AutoAttack ensemble
 * against analytic answers: the loss values of docs/attacks.md, finite differences, linear
 * models whose exact L-inf robustness is known in closed form, and invariants (ball, box,
 * determinism, untouched misclassified points). A tiny ReLU network gives a nonlinear case. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/apgd.h"
#include "thinice/autoattack.h"
#include "thinice/losses.h"
#include "thinice/pgd.h"
#include "thinice/square.h"

/* ---- a 2-layer ReLU network with hand-written forward and vjp ------------------------- */
typedef struct mlp {
    ti_classifier base;
    int D, Hd, M;
    float *W1, *b1, *W2, *b2; /* (Hd, D) (Hd) (M, Hd) (M) */
    float *pre;               /* (Hd) scratch */
} mlp;

static void mlp_hidden(const mlp *n, const float *x, float *pre)
{
    for (int h = 0; h < n->Hd; h++) {
        double s = n->b1[h];
        for (int i = 0; i < n->D; i++)
            s += (double)n->W1[h * n->D + i] * x[i];
        pre[h] = (float)s;
    }
}

static ti_status mlp_forward(void *self, const float *x, int N, float *logits)
{
    mlp *n = self;
    for (int k = 0; k < N; k++) {
        mlp_hidden(n, x + (size_t)k * n->D, n->pre);
        for (int m = 0; m < n->M; m++) {
            double s = n->b2[m];
            for (int h = 0; h < n->Hd; h++)
                s += (double)n->W2[m * n->Hd + h] * (n->pre[h] > 0 ? n->pre[h] : 0);
            logits[(size_t)k * n->M + m] = (float)s;
        }
    }
    return TI_OK;
}

static ti_status mlp_vjp(void *self, const float *x, int N, const float *dl, float *logits,
                         float *dx)
{
    mlp *n = self;
    if (logits)
        mlp_forward(self, x, N, logits);
    for (int k = 0; k < N; k++) {
        mlp_hidden(n, x + (size_t)k * n->D, n->pre);
        float *d = dx + (size_t)k * n->D;
        memset(d, 0, (size_t)n->D * sizeof *d);
        for (int h = 0; h < n->Hd; h++) {
            if (n->pre[h] <= 0)
                continue;
            double g = 0;
            for (int m = 0; m < n->M; m++)
                g += (double)dl[(size_t)k * n->M + m] * n->W2[m * n->Hd + h];
            for (int i = 0; i < n->D; i++)
                d[i] += (float)(g * n->W1[h * n->D + i]);
        }
    }
    return TI_OK;
}

static void mlp_init(mlp *n, int C, int H, int W, int Hd, int M, uint64_t seed)
{
    ti_rng r;
    ti_rng_seed(&r, seed);
    n->D = C * H * W;
    n->Hd = Hd;
    n->M = M;
    n->W1 = malloc((size_t)Hd * n->D * sizeof(float));
    n->b1 = malloc((size_t)Hd * sizeof(float));
    n->W2 = malloc((size_t)M * Hd * sizeof(float));
    n->b2 = malloc((size_t)M * sizeof(float));
    n->pre = malloc((size_t)Hd * sizeof(float));
    tu_fill(&r, n->W1, (size_t)Hd * n->D, -1.0f, 1.0f);
    tu_fill(&r, n->b1, Hd, -0.5f, 0.5f);
    tu_fill(&r, n->W2, (size_t)M * Hd, -1.0f, 1.0f);
    tu_fill(&r, n->b2, M, -0.2f, 0.2f);
    n->base = (ti_classifier){.C = C, .H = H, .W = W, .M = M, .self = n,
                              .forward = mlp_forward, .vjp = mlp_vjp, .jacobian = NULL};
}

static void mlp_free(mlp *n)
{
    free(n->W1);
    free(n->b1);
    free(n->W2);
    free(n->b2);
    free(n->pre);
}

/* Data for a classifier: x uniform in [lo, hi), labels = the clean prediction for most points
 * and a wrong label for every 5th (so some points are misclassified at clean). */
static void make_data(const ti_classifier *f, int N, uint64_t seed, float lo, float hi, float *x,
                      int *y)
{
    ti_rng r;
    ti_rng_seed(&r, seed);
    size_t D = ti_classifier_dim(f);
    tu_fill(&r, x, (size_t)N * D, lo, hi);
    float *z = malloc((size_t)N * f->M * sizeof *z);
    f->forward(f->self, x, N, z);
    ti_argmax_rows(z, N, f->M, y);
    for (int i = 0; i < N; i += 5)
        y[i] = (y[i] + 1) % f->M;
    free(z);
}

/* Exact L-inf robustness of a linear classifier at (x, y) (docs/attacks.md#linear-models-as-oracles). */
static int linear_robust(const float *W, const float *b, int M, size_t D, const float *x, int y,
                         float eps)
{
    for (int j = 0; j < M; j++) {
        if (j == y)
            continue;
        double m = (double)b[y] - b[j];
        for (size_t i = 0; i < D; i++) {
            double v = (double)W[y * D + i] - W[j * D + i];
            double lo = fmax(-eps, -x[i]), hi = fmin(eps, 1.0 - x[i]);
            m += v * x[i] + fmin(v * lo, v * hi);
        }
        if (m <= 0)
            return 0;
    }
    return 1;
}

static float clamp01(float v)
{
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

/* The vertex x + e of the ball as a float: fl(x + e), or the float next to it towards x when
 * the rounding went beyond |e| (the point must stay inside the ball exactly). */
static float vertex(float x, float e)
{
    float v = x + e;
    return fabs((double)v - x) > fabs((double)e) ? nextafterf(v, x) : v;
}

/* every point in ball and box, finite; misclassified-at-clean points untouched */
static void check_invariants(const ti_classifier *f, ti_norm norm, float eps, const float *x,
                             const int *y, int N, const float *xa)
{
    size_t D = ti_classifier_dim(f);
    float *z = malloc((size_t)N * f->M * sizeof *z);
    int *pred = malloc((size_t)N * sizeof *pred);
    f->forward(f->self, x, N, z);
    ti_argmax_rows(z, N, f->M, pred);
    for (int i = 0; i < N; i++) {
        for (size_t j = 0; j < D; j++) {
            float v = xa[i * D + j];
            ck_assert(isfinite(v) && v >= 0.0f && v <= 1.0f);
        }
        /* inside the ball exactly: no tolerance, as the ensemble's check */
        ck_assert(ti_norm_dist(norm, xa + i * D, x + i * D, D) <= (double)eps);
        if (pred[i] != y[i])
            ck_assert(memcmp(xa + i * D, x + i * D, D * sizeof(float)) == 0);
    }
    free(z);
    free(pred);
}

/* ---- losses --------------------------------------------------------------------------- */
START_TEST(test_loss_values)
{
    const float z[4] = {3, 1, 2, 0};
    float dz[4];
    ck_assert_float_eq_tol(ti_loss_ce(z, 4, 0, dz), 0.4401897f, 1e-6f);
    const float sm[4] = {0.643914f, 0.087144f, 0.236883f, 0.032059f};
    for (int m = 0; m < 4; m++)
        ck_assert_float_eq_tol(dz[m], sm[m] - (m == 0), 1e-6f);
    ck_assert_float_eq_tol(ti_loss_dlr(z, 4, 0, NULL), -0.5f, 1e-6f);
    ck_assert_float_eq_tol(ti_loss_dlr(z, 4, 1, NULL), 1.0f, 1e-6f);
    ck_assert_float_eq_tol(ti_loss_dlr_targeted(z, 4, 0, 3, NULL), -1.2f, 1e-6f);
    ck_assert_float_eq(ti_loss_margin(z, 4, 0, dz), 1.0f);
    ck_assert(dz[0] == 1 && dz[2] == -1 && dz[1] == 0 && dz[3] == 0);
    /* tie rule: the lowest index wins */
    const float t[4] = {1, 2, 2, 0};
    ti_loss_margin(t, 4, 0, dz);
    ck_assert(dz[1] == -1 && dz[2] == 0);
    int order[4];
    ti_logits_order(t, 4, order);
    ck_assert(order[0] == 1 && order[1] == 2 && order[2] == 0 && order[3] == 3);
    ck_assert_str_eq(ti_loss_name(TI_LOSS_DLR_T), "dlr-t");
    ck_assert_int_eq(ti_loss_min_classes(TI_LOSS_DLR), 3);
}
END_TEST

START_TEST(test_loss_gradients)
{
    ti_rng r;
    ti_rng_seed(&r, 11);
    const int M = 10;
    for (int trial = 0; trial < 20; trial++) {
        float z[10], dz[10], zp[10];
        int perm[10];
        for (int m = 0; m < M; m++)
            perm[m] = m;
        ti_rng_shuffle(&r, perm, M);
        /* logits at least 0.3 apart: the finite differences never cross a sorting kink */
        for (int m = 0; m < M; m++)
            z[m] = 0.5f * (float)(perm[m] - 5) + ti_rng_uniform(&r, -0.1f, 0.1f);
        int y = (int)ti_rng_below(&r, M), t = (y + 1 + (int)ti_rng_below(&r, M - 1)) % M;
        for (int l = 0; l < TI_LOSS_COUNT; l++) {
            ti_loss_eval((ti_loss)l, z, M, y, t, dz);
            for (int m = 0; m < M; m++) {
                const double h = 1e-2;
                memcpy(zp, z, sizeof zp);
                zp[m] = z[m] + (float)h;
                double fp = ti_loss_eval((ti_loss)l, zp, M, y, t, NULL);
                zp[m] = z[m] - (float)h;
                double fm = ti_loss_eval((ti_loss)l, zp, M, y, t, NULL);
                double num = (fp - fm) / (2 * h);
                ck_assert_msg(fabs(num - dz[m]) <= 2e-3 * fmax(1.0, fabs(num)),
                              "loss %s dz[%d]: analytic %g numeric %g",
                              ti_loss_name((ti_loss)l), m, dz[m], num);
            }
        }
    }
}
END_TEST

START_TEST(test_dlr_invariance)
{
    ti_rng r;
    ti_rng_seed(&r, 5);
    const float as[3] = {0.1f, 3.0f, 100.0f}, cs[2] = {-5.0f, 7.0f};
    for (int trial = 0; trial < 50; trial++) {
        float z[10], w[10];
        tu_fill(&r, z, 10, -2.0f, 2.0f);
        int y = trial % 10, t = (y + 3) % 10;
        float d = ti_loss_dlr(z, 10, y, NULL), dt = ti_loss_dlr_targeted(z, 10, y, t, NULL);
        float mg = ti_loss_margin(z, 10, y, NULL);
        ck_assert(d >= -1.0f - 1e-6f);
        ck_assert((d > 0) == (mg < 0));
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 2; k++) {
                for (int m = 0; m < 10; m++)
                    w[m] = as[i] * z[m] + cs[k];
                ck_assert_float_eq_tol(ti_loss_dlr(w, 10, y, NULL), d, 2e-4f);
                ck_assert_float_eq_tol(ti_loss_dlr_targeted(w, 10, y, t, NULL), dt, 2e-4f);
            }
    }
}
END_TEST

/* ---- FGSM and PGD on a 2-class linear model: the analytic vertex ---------------------- */
START_TEST(test_fgsm_pgd_linear_vertex)
{
    enum { N = 12, D = 16 };
    float W[2 * D], b[2] = {0.1f, -0.1f}, x[N * D], xa[N * D];
    int y[N];
    ti_rng r;
    ti_rng_seed(&r, 3);
    tu_fill(&r, W, 2 * D, -1.0f, 1.0f);
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, W, b, 2, 1, 4, 4);
    make_data(&lc.base, N, 9, 0.2f, 0.8f, x, y);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_fgsm_params fp = ti_fgsm_params_default();
    fp.eps = 0.05f;
    ck_assert_int_eq(ti_atk_fgsm(ctx, &lc.base, &fp, x, y, N, xa, NULL), TI_OK);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            float v = W[y[i] * D + j] - W[(1 - y[i]) * D + j];
            float want = vertex(x[i * D + j], -fp.eps * (float)((v > 0) - (v < 0)));
            ck_assert_float_eq(xa[i * D + j], want);
        }
    /* PGD with small steps reaches the same vertex on the attacked points */
    ti_pgd_params pp = ti_pgd_params_default();
    pp.eps = 0.05f;
    pp.step = 0.05f / 4;
    pp.steps = 10;
    ti_atk_stats st = {0, 0};
    ck_assert_int_eq(ti_atk_pgd(ctx, &lc.base, &pp, x, y, N, xa, &st), TI_OK);
    for (int i = 0; i < N; i++) {
        if (i % 5 == 0) { /* misclassified at clean: untouched */
            ck_assert(memcmp(xa + i * D, x + i * D, sizeof(float) * D) == 0);
            continue;
        }
        for (int j = 0; j < D; j++) {
            float v = W[y[i] * D + j] - W[(1 - y[i]) * D + j];
            float want = vertex(x[i * D + j], -pp.eps * (float)((v > 0) - (v < 0)));
            ck_assert_float_eq(xa[i * D + j], want);
        }
    }
    ck_assert_int_eq(st.backwards, (long)(N - 3) * pp.steps);
    /* 1 step of size eps without random start is FGSM */
    pp.steps = 1;
    pp.step = pp.eps;
    pp.random_start = 0;
    float xf[N * D];
    ck_assert_int_eq(ti_atk_pgd(ctx, &lc.base, &pp, x, y, N, xa, NULL), TI_OK);
    ck_assert_int_eq(ti_atk_fgsm(ctx, &lc.base, &fp, x, y, N, xf, NULL), TI_OK);
    for (int i = 1; i < N; i++)
        if (i % 5)
            ck_assert(memcmp(xa + i * D, xf + i * D, sizeof(float) * D) == 0);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- APGD ----------------------------------------------------------------------------- */
START_TEST(test_apgd_checkpoints)
{
    int c[64];
    const int want[8] = {22, 41, 57, 70, 80, 87, 93, 99};
    ck_assert_int_eq(ti_apgd_checkpoints(100, c, 64), 8);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(c[i], want[i]);
    const int want1k[8] = {220, 410, 570, 700, 800, 870, 930, 990};
    ck_assert_int_eq(ti_apgd_checkpoints(1000, c, 64), 8);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(c[i], want1k[i]);
    ck_assert_int_eq(ti_apgd_checkpoints(1, c, 64), 1);
    ck_assert_int_eq(c[0], 1);
}
END_TEST

START_TEST(test_apgd_schedule_and_budget)
{
    enum { N = 6 };
    mlp net;
    mlp_init(&net, 1, 4, 4, 12, 5, 21);

    float x[N * 16], xa[N * 16], best[101], eta[100], loss[100];
    int y[N];
    make_data(&net.base, N, 4, 0.0f, 1.0f, x, y);
    y[0] = 0; /* make sample 0 attacked: label it with its own prediction */
    {
        float z[5];
        mlp_forward(&net, x, 1, z);
        ti_argmax_rows(z, 1, 5, &y[0]);
    }
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_apgd_params p = ti_apgd_params_default();
    p.eps = 0.02f;
    p.loss = TI_LOSS_DLR;
    p.trace_best = best;
    p.trace_eta = eta;
    p.trace_loss = loss;
    ti_atk_stats st = {0, 0};
    ck_assert_int_eq(ti_atk_apgd(ctx, &net.base, &p, x, y, N, xa, &st), TI_OK);
    int attacked = N - 1; /* sample 5 is mislabelled (i % 5 == 0), sample 0 was fixed */
    ck_assert_int_eq(st.backwards, (long)attacked * (p.n_iter + 1));
    int ck[16], nck = ti_apgd_checkpoints(100, ck, 16);
    ck_assert_float_eq(eta[0], 2 * p.eps);
    for (int i = 1; i < 100; i++) {
        ck_assert(best[i + 1] >= best[i]);
        if (eta[i] != eta[i - 1]) { /* only halvings, right after a checkpoint */
            ck_assert_float_eq(eta[i], eta[i - 1] / 2);
            int at_ck = 0;
            for (int c = 0; c < nck; c++)
                at_ck |= ck[c] == i;
            ck_assert(at_ck);
        }
        ck_assert(loss[i] <= best[i + 1]);
    }
    check_invariants(&net.base, TI_NORM_LINF, p.eps, x, y, N, xa);
    mlp_free(&net);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_apgd_targets)
{
    const float z[10] = {0.5f, 3, -1, 2, 2, 0, 7, 1, -2, 0.5f};
    int t[9];
    ti_apgd_targets(z, 10, 9, t);
    const int want[9] = {1, 3, 4, 7, 0, 9, 5, 2, 8};
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(t[i], want[i]);
    /* on random logits: distinct, never the argmax (= y for a correct point), decreasing */
    ti_rng r;
    ti_rng_seed(&r, 8);
    float w[10];
    for (int trial = 0; trial < 20; trial++) {
        tu_fill(&r, w, 10, -1, 1);
        int y;
        ti_argmax_rows(w, 1, 10, &y);
        ti_apgd_targets(w, 10, 9, t);
        int seen[10] = {0};
        for (int i = 0; i < 9; i++) {
            ck_assert_int_ne(t[i], y);
            ck_assert_int_eq(seen[t[i]]++, 0);
            if (i)
                ck_assert(w[t[i]] <= w[t[i - 1]]);
        }
    }
}
END_TEST

/* On random linear models APGD-CE then APGD-T finds exactly the non-robust points. */
START_TEST(test_apgd_linear_exact)
{
    enum { N = 40, M = 4 };
    const size_t D = 12;
    ti_ctx *ctx = ti_ctx_new(2, 1);
    for (int model = 0; model < 3; model++) {
        float W[M * 12], b[M], x[N * 12], xa[N * 12], xt[N * 12];
        int y[N];
        ti_rng r;
        ti_rng_seed(&r, 100 + model);
        tu_fill(&r, W, M * D, -1, 1);
        tu_fill(&r, b, M, -0.3f, 0.3f);
        ti_linear_classifier lc;
        ti_linear_classifier_init(&lc, W, b, M, 1, 3, 4);
        make_data(&lc.base, N, 50 + model, 0.0f, 1.0f, x, y);
        float eps = 0.06f;
        ti_apgd_params p = ti_apgd_params_default();
        p.eps = eps;
        p.n_target_classes = M - 1;
        ck_assert_int_eq(ti_atk_apgd(ctx, &lc.base, &p, x, y, N, xa, NULL), TI_OK);
        ck_assert_int_eq(ti_atk_apgd_targeted(ctx, &lc.base, &p, x, y, N, xt, NULL), TI_OK);
        check_invariants(&lc.base, TI_NORM_LINF, eps, x, y, N, xa);
        check_invariants(&lc.base, TI_NORM_LINF, eps, x, y, N, xt);
        float z[N * M];
        int pa[N], pt[N], pc[N];
        lc.base.forward(&lc, x, N, z);
        ti_argmax_rows(z, N, M, pc);
        lc.base.forward(&lc, xa, N, z);
        ti_argmax_rows(z, N, M, pa);
        lc.base.forward(&lc, xt, N, z);
        ti_argmax_rows(z, N, M, pt);
        int exact = 0, found = 0;
        for (int i = 0; i < N; i++) {
            int rob = pc[i] == y[i] && linear_robust(W, b, M, D, x + i * D, y[i], eps);
            int att = pc[i] == y[i] && pa[i] == y[i] && pt[i] == y[i];
            ck_assert_msg(att >= rob, "APGD fooled a provably robust point");
            exact += rob;
            found += att;
        }
        ck_assert_int_eq(found, exact);
        ck_assert(exact > 0 && exact < N - 8); /* a nontrivial model */
    }
    ti_ctx_free(ctx);
}
END_TEST

/* same seed: same bits; other seed: other random start */
START_TEST(test_determinism)
{
    enum { N = 8 };
    mlp net;
    mlp_init(&net, 1, 4, 4, 10, 5, 31);
    float x[N * 16], a1[N * 16], a2[N * 16];
    int y[N];
    make_data(&net.base, N, 6, 0.0f, 1.0f, x, y);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_apgd_params p = ti_apgd_params_default();
    p.eps = 0.03f;
    p.n_iter = 10;
    ck_assert_int_eq(ti_atk_apgd(ctx, &net.base, &p, x, y, N, a1, NULL), TI_OK);
    ck_assert_int_eq(ti_atk_apgd(ctx, &net.base, &p, x, y, N, a2, NULL), TI_OK);
    ck_assert(memcmp(a1, a2, sizeof a1) == 0);
    ti_pgd_params q = ti_pgd_params_default();
    q.eps = 0.03f;
    q.steps = 2;
    q.step = 1e-4f; /* tiny steps: the result is essentially the random start */
    ck_assert_int_eq(ti_atk_pgd(ctx, &net.base, &q, x, y, N, a1, NULL), TI_OK);
    ck_assert_int_eq(ti_atk_pgd(ctx, &net.base, &q, x, y, N, a2, NULL), TI_OK);
    ck_assert(memcmp(a1, a2, sizeof a1) == 0);
    q.seed = 1;
    ck_assert_int_eq(ti_atk_pgd(ctx, &net.base, &q, x, y, N, a2, NULL), TI_OK);
    ck_assert(memcmp(a1 + 16, a2 + 16, 16 * sizeof(float)) != 0); /* sample 1 is attacked */
    mlp_free(&net);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- Square ---------------------------------------------------------------------------- */
START_TEST(test_square_schedule)
{
    const int its[8] = {0, 11, 51, 201, 501, 1001, 2001, 4001};
    const int side[8] = {29, 20, 14, 10, 7, 5, 4, 3};
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(ti_square_side(0.8f, its[i], 32, 32), side[i]);
    ck_assert_int_eq(ti_square_side(0.8f, 10, 32, 32), 29);
    ck_assert_int_eq(ti_square_side(0.8f, 3000, 2, 2), 1);
    ck_assert_float_eq(ti_square_p(0.8f, 9000), 0.8f / 512);
}
END_TEST

START_TEST(test_square_budget_and_vertices)
{
    enum { N = 10 };
    mlp net;
    mlp_init(&net, 3, 6, 6, 16, 4, 41);
    size_t D = 108;
    float x[N * 108], xa[N * 108], xb[N * 108];
    int y[N];
    make_data(&net.base, N, 7, 0.0f, 1.0f, x, y);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_square_params p = ti_square_params_default();
    p.eps = 0.1f;
    p.n_queries = 300;
    ti_atk_stats st = {0, 0};
    ck_assert_int_eq(ti_atk_square(ctx, &net.base, &p, x, y, N, xa, &st), TI_OK);
    /* per point: clean pass + at most n_queries + 1 + final check */
    ck_assert(st.forwards <= (long)N * (p.n_queries + 3));
    ck_assert_int_eq(st.backwards, 0);
    check_invariants(&net.base, TI_NORM_LINF, p.eps, x, y, N, xa);
    float z[N * 4];
    int pa[N], fooled = 0;
    net.base.forward(&net, xa, N, z);
    ti_argmax_rows(z, N, 4, pa);
    for (int i = 0; i < N; i++) {
        if (memcmp(xa + i * D, x + i * D, D * sizeof(float)) == 0)
            continue;
        fooled++;
        ck_assert_int_ne(pa[i], y[i]);
        for (size_t j = 0; j < D; j++) {
            float v = xa[i * D + j], lo = clamp01(vertex(x[i * D + j], -p.eps)),
                  hi = clamp01(vertex(x[i * D + j], p.eps));
            ck_assert(v == lo || v == hi);
        }
    }
    ck_assert_int_gt(fooled, 0);
    /* determinism, and the batch-shared variant also stays on vertices */
    ck_assert_int_eq(ti_atk_square(ctx, &net.base, &p, x, y, N, xb, NULL), TI_OK);
    ck_assert(memcmp(xa, xb, sizeof xa) == 0);
    p.shared_window = 1;
    ck_assert_int_eq(ti_atk_square(ctx, &net.base, &p, x, y, N, xb, NULL), TI_OK);
    check_invariants(&net.base, TI_NORM_LINF, p.eps, x, y, N, xb);
    mlp_free(&net);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- AutoAttack ------------------------------------------------------------------------ */
static void aa_checks(const ti_eval *ev, const ti_eval_summary *sum, int N)
{
    ck_assert_int_eq(sum->n_done, N);
    double prev = sum->clean_acc;
    for (int a = 0; a < ev->n_attacks; a++) {
        ck_assert(sum->robust_acc[a] <= prev);
        prev = sum->robust_acc[a];
    }
    for (int i = 0; i < N; i++) {
        const ti_eval_sample *s = &ev->samples[i];
        ck_assert(s->done);
        if (s->attack == TI_EVAL_ROBUST) /* robust implies clean-correct */
            ck_assert_int_eq(s->clean_pred, s->label);
        if (s->attack >= 0)
            ck_assert_int_ne(s->adv_pred, s->label);
    }
}

START_TEST(test_aa_linear_exact)
{
    enum { N = 30, M = 5 };
    const size_t D = 12;
    float W[M * 12], b[M], x[N * 12], xa[N * 12];
    int y[N];
    ti_rng r;
    ti_rng_seed(&r, 77);
    tu_fill(&r, W, M * D, -1, 1);
    tu_fill(&r, b, M, -0.3f, 0.3f);
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, W, b, M, 1, 3, 4);
    make_data(&lc.base, N, 78, 0.0f, 1.0f, x, y);
    ti_ctx *ctx = ti_ctx_new(3, 1);
    ti_aa_params p;
    ck_assert_int_eq(ti_aa_params_version(ctx, "apgd-ce,apgd-t,square", TI_NORM_LINF, 0.05f, &p),
                     TI_OK);
    p.square.n_queries = 200;
    ti_eval *res, *res2;
    ti_eval_summary sum;
    ck_assert_int_eq(tu_aa_run(ctx, &lc.base, &p, x, y, N, 7, xa, &res, &sum), TI_OK);
    aa_checks(res, &sum, N);
    check_invariants(&lc.base, TI_NORM_LINF, p.eps, x, y, N, xa);
    int exact = 0, clean = 0;
    for (int i = 0; i < N; i++) {
        clean += res->samples[i].attack != TI_EVAL_CLEAN_WRONG;
        exact += res->samples[i].clean_pred == y[i] &&
                 linear_robust(W, b, M, D, x + i * D, y[i], p.eps);
    }
    ck_assert_double_eq_tol(sum.clean_acc, (double)clean / N, 1e-12);
    ck_assert_double_eq_tol(sum.robust_acc[2], (double)exact / N, 1e-12);
    ck_assert(exact > 0 && exact < clean);

    /* another batch size does not change any per-sample record (per-sample streams) */
    ck_assert_int_eq(tu_aa_run(ctx, &lc.base, &p, x, y, N, 4, NULL, &res2, NULL), TI_OK);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(memcmp(&res->samples[i], &res2->samples[i], sizeof res->samples[i]), 0);
    ti_eval_free(res);
    ti_eval_free(res2);
    ti_eval_free(NULL);
    ti_ctx_free(ctx);
}
END_TEST

static double aa_robust(ti_ctx *ctx, const ti_classifier *f, const char *version, float eps,
                        const float *x, const int *y, int N, double *clean)
{
    ti_aa_params p;
    ck_assert_int_eq(ti_aa_params_version(ctx, version, TI_NORM_LINF, eps, &p), TI_OK);
    p.square.n_queries = 100;
    p.apgd_ce.n_iter = p.apgd_t.n_iter = p.apgd_dlr.n_iter = 20;
    p.fab.n_iter = p.fab_t.n_iter = 20;
    ti_eval *res;
    ti_eval_summary sum;
    float *xa = malloc((size_t)N * ti_classifier_dim(f) * sizeof *xa);
    ti_status s = tu_aa_run(ctx, f, &p, x, y, N, 250, xa, &res, &sum);
    ck_assert_msg(s == TI_OK, "%s", ti_ctx_errmsg(ctx));
    aa_checks(res, &sum, N);
    check_invariants(f, TI_NORM_LINF, eps, x, y, N, xa);
    *clean = sum.clean_acc;
    free(xa);
    ti_eval_free(res);
    return sum.robust_final;
}

START_TEST(test_aa_mlp_eps_limits)
{
    enum { N = 20 };
    mlp net;
    mlp_init(&net, 1, 4, 4, 16, 5, 51);
    float x[N * 16];
    int y[N];
    make_data(&net.base, N, 52, 0.0f, 1.0f, x, y);
    ti_ctx *ctx = ti_ctx_new(4, 1);
    double clean;
    const char *lists[2] = {"apgd-ce,apgd-dlr,apgd-t,square", "standard"};
    for (int v = 0; v < 2; v++) {
        ck_assert_double_eq_tol(aa_robust(ctx, &net.base, lists[v], 0.0f, x, y, N, &clean), clean,
                                1e-12);
        ck_assert_double_eq_tol(clean, 16.0 / N, 1e-12); /* every 5th point mislabelled */
        ck_assert(aa_robust(ctx, &net.base, lists[v], 0.5f, x, y, N, &clean) <= 1.0 / N);
    }
    mlp_free(&net);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- errors: every status path names the problem --------------------------------------- */
START_TEST(test_attack_errors)
{
    float W[3 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}, b[3] = {0}, x[4] = {0.5f, 0.2f, 0.1f, 0.3f},
          xa[4];
    int y[1] = {0};
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, W, b, 3, 1, 2, 2);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_apgd_params p = ti_apgd_params_default();
    ck_assert_int_eq(ti_atk_apgd_targeted(ctx, &lc.base, &p, x, y, 1, xa, NULL), TI_ERR_ARG);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "4 classes"));
    lc.base.M = 2;
    p.loss = TI_LOSS_DLR;
    ck_assert_int_eq(ti_atk_apgd(ctx, &lc.base, &p, x, y, 1, xa, NULL), TI_ERR_ARG);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "3 classes"));
    lc.base.M = 3;
    p.norm = TI_NORM_L0;
    ck_assert_int_eq(ti_atk_apgd(ctx, &lc.base, &p, x, y, 1, xa, NULL), TI_ERR_UNSUPPORTED);
    ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    p = ti_apgd_params_default();
    p.n_iter = 0;
    ck_assert_int_eq(ti_atk_apgd(ctx, &lc.base, &p, x, y, 1, xa, NULL), TI_ERR_ARG);
    p = ti_apgd_params_default();
    y[0] = 7;
    ck_assert_int_eq(ti_atk_apgd(ctx, &lc.base, &p, x, y, 1, xa, NULL), TI_ERR_ARG);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "label"));
    y[0] = 0;
    ck_assert_int_eq(ti_atk_apgd(ctx, &lc.base, &p, x, y, 1, (float *)x, NULL), TI_ERR_ARG);
    p.eps = -1;
    ck_assert_int_eq(ti_atk_apgd(ctx, &lc.base, &p, x, y, 1, xa, NULL), TI_ERR_ARG);
    ti_square_params sq = ti_square_params_default();
    sq.norm = TI_NORM_L1;
    ck_assert_int_eq(ti_atk_square(ctx, &lc.base, &sq, x, y, 1, xa, NULL), TI_ERR_UNSUPPORTED);
    sq = ti_square_params_default();
    sq.p_init = 0;
    ck_assert_int_eq(ti_atk_square(ctx, &lc.base, &sq, x, y, 1, xa, NULL), TI_ERR_ARG);
    ti_pgd_params pg = ti_pgd_params_default();
    pg.steps = 0;
    ck_assert_int_eq(ti_atk_pgd(ctx, &lc.base, &pg, x, y, 1, xa, NULL), TI_ERR_ARG);
    ti_fgsm_params fg = ti_fgsm_params_default();
    fg.loss = TI_LOSS_DLR_T;
    ck_assert_int_eq(ti_atk_fgsm(ctx, &lc.base, &fg, x, y, 1, xa, NULL), TI_ERR_ARG);
    ti_aa_params ap;
    ck_assert_int_eq(ti_aa_params_version(ctx, "apgd-ce,bogus", TI_NORM_LINF, 0.1f, &ap), TI_ERR_ARG);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "bogus"));
    ck_assert_int_eq(ti_aa_params_version(ctx, "standard", TI_NORM_LINF, 0.1f, &ap), TI_OK);
    ti_eval *res;
    ck_assert_int_eq(tu_aa_run(ctx, &lc.base, &ap, x, y, 1, 250, xa, &res, NULL), TI_ERR_ARG);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "apgd-t")); /* M = 3 */
    ck_assert(!res->samples[0].done);
    ti_eval_free(res);
    ck_assert_str_eq(ti_aa_attack_name(TI_AA_FAB_T), "fab-t");
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_attack(void)
{
    Suite *s = suite_create("attack");
    TCase *tc = tcase_create("losses");
    tcase_add_test(tc, test_loss_values);
    tcase_add_test(tc, test_loss_gradients);
    tcase_add_test(tc, test_dlr_invariance);
    suite_add_tcase(s, tc);
    tc = tcase_create("attacks");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_fgsm_pgd_linear_vertex);
    tcase_add_test(tc, test_apgd_checkpoints);
    tcase_add_test(tc, test_apgd_schedule_and_budget);
    tcase_add_test(tc, test_apgd_targets);
    tcase_add_test(tc, test_apgd_linear_exact);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_square_schedule);
    tcase_add_test(tc, test_square_budget_and_vertices);
    tcase_add_test(tc, test_attack_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("autoattack");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_aa_linear_exact);
    tcase_add_test(tc, test_aa_mlp_eps_limits);
    suite_add_tcase(s, tc);
    return s;
}
