/* Tests of the Square attack at L2 (square.c, Andriushchenko et al. 2020 §3.2): eta against
 * worked examples, the side schedule, the start and the first proposal (seen by the model)
 * against the reference's formulas, the ball and the box, the query budget without any
 * backward pass, per-point determinism, linear models whose L2 distance to the boundary is
 * known, the ensemble at L2, and the errors. L-inf Square is tested in check_attack.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/autoattack.h"
#include "thinice/square.h"

/* ---- a forward-only classifier: z_k = b_k + sum_i W_ki x_i + V_ki x_i^2 ---------------- */
/* Its vjp fails, so an attack that asked for a gradient would fail; it counts the rows it
 * evaluates, independently of the attack's own statistics. */
typedef struct quad {
    ti_classifier base;
    int D, M;
    float *W, *V, *b; /* (M, D) (M, D) (M) */
    long rows;
    int calls, capture; /* forward calls so far; the call (1-based) whose rows go to seen */
    float *seen;
} quad;

static ti_status quad_forward(void *self, const float *x, int N, float *z)
{
    quad *q = self;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < q->M; k++) {
            double s = q->b[k];
            for (int i = 0; i < q->D; i++) {
                double v = x[(size_t)n * q->D + i];
                s += q->W[k * q->D + i] * v + q->V[k * q->D + i] * v * v;
            }
            z[(size_t)n * q->M + k] = (float)s;
        }
    q->rows += N;
    if (++q->calls == q->capture && q->seen)
        memcpy(q->seen, x, (size_t)N * q->D * sizeof *x);
    return TI_OK;
}

static ti_status quad_vjp(void *self, const float *x, int N, const float *dl, float *logits,
                          float *dx)
{
    return TI_ERR_UNSUPPORTED;
}

static void quad_init(quad *q, int C, int H, int W, int M, uint64_t seed)
{
    ti_rng r;
    ti_rng_seed(&r, seed);
    q->D = C * H * W;
    q->M = M;
    q->W = malloc((size_t)M * q->D * sizeof(float));
    q->V = malloc((size_t)M * q->D * sizeof(float));
    q->b = malloc((size_t)M * sizeof(float));
    tu_fill(&r, q->W, (size_t)M * q->D, -1.0f, 1.0f);
    tu_fill(&r, q->V, (size_t)M * q->D, -1.0f, 1.0f);
    tu_fill(&r, q->b, M, -0.2f, 0.2f);
    q->rows = 0;
    q->calls = q->capture = 0;
    q->seen = NULL;
    q->base = (ti_classifier){.C = C, .H = H, .W = W, .M = M, .self = q,
                              .forward = quad_forward, .vjp = quad_vjp, .jacobian = NULL};
}

static void quad_free(quad *q)
{
    free(q->W);
    free(q->V);
    free(q->b);
}

/* N points uniform in [lo, hi) labelled with their clean prediction, except every 4th,
 * given a wrong label (so the attack must leave it alone). */
static void quad_data(quad *q, int N, uint64_t seed, float lo, float hi, float *x, int *y)
{
    ti_rng r;
    ti_rng_seed(&r, seed);
    tu_fill(&r, x, (size_t)N * q->D, lo, hi);
    float *z = malloc((size_t)N * q->M * sizeof *z);
    quad_forward(q, x, N, z);
    ti_argmax_rows(z, N, q->M, y);
    for (int i = 0; i < N; i += 4)
        y[i] = (y[i] + 1) % q->M;
    free(z);
    q->rows = 0;
    q->calls = 0;
}

static int predict(const ti_classifier *f, const float *x)
{
    float z[16];
    ck_assert_int_le(f->M, 16);
    ck_assert_int_eq(f->forward(f->self, x, 1, z), TI_OK);
    int p;
    ti_argmax_rows(z, 1, f->M, &p);
    return p;
}

/* Every x_adv in [0,1] and in the L2 ball (1e-5); a changed point is misclassified; a point
 * misclassified at x is untouched. Returns the number of changed points. */
static int check_l2_output(const ti_classifier *f, float eps, const float *x, const int *y,
                           int N, const float *xa)
{
    size_t D = ti_classifier_dim(f);
    int changed = 0;
    for (int i = 0; i < N; i++) {
        const float *a = xa + i * D, *x0 = x + i * D;
        for (size_t j = 0; j < D; j++)
            ck_assert(isfinite(a[j]) && a[j] >= 0.0f && a[j] <= 1.0f);
        ck_assert_msg(ti_norm_dist(TI_NORM_L2, a, x0, D) <= eps + 1e-5, "point %d: %g > %g", i,
                      ti_norm_dist(TI_NORM_L2, a, x0, D), (double)eps);
        int same = memcmp(a, x0, D * sizeof(float)) == 0;
        if (predict(f, x0) != y[i])
            ck_assert(same);
        if (!same) {
            ck_assert_int_ne(predict(f, a), y[i]);
            changed++;
        }
    }
    return changed;
}

static ti_square_params l2_params(float eps, int n_queries)
{
    ti_square_params p = ti_square_params_default();
    p.norm = TI_NORM_L2;
    p.eps = eps;
    p.n_queries = n_queries;
    return p;
}

/* ---- eta ------------------------------------------------------------------------------- */

/* eta(s) from integer tables worked out by hand. eta_rect(a, b) at Chebyshev distance d
 * from (a/2, b/2) holds sum_{k=d}^{kmax} 1/(k+1)^2 with kmax = max(a/2, b/2).
 * s = 3: kmax = 1, so in quarters a pixel holds 4 + 1 = 5 at d = 0 and 1 at d = 1.
 *   top = eta_rect(1, 3) = [1 5 1] (sum of squares 27), bottom = eta_rect(2, 3) (centre row
 *   1) = [1 1 1; 1 5 1] (30); each half at unit norm, the whole divided by sqrt(2).
 * s = 5: kmax = 2, so in 36ths: 36 + 9 + 4 = 49 at d = 0, 9 + 4 = 13 at d = 1, 4 at d = 2.
 *   top = eta_rect(2, 5) = [4 13 13 13 4; 4 13 49 13 4] (539 + 2771 = 3310), bottom =
 *   eta_rect(3, 5) = [4 13 13 13 4; 4 13 49 13 4; 4 13 13 13 4] (3849). */
START_TEST(test_square_eta_values)
{
    float e[25];
    ti_square_eta(e, 1);
    ck_assert_float_eq(e[0], -1.0f);

    static const int t3[9] = {1, 5, 1, 1, 1, 1, 1, 5, 1};
    ti_square_eta(e, 3);
    for (int i = 0; i < 9; i++) {
        double want = i < 3 ? t3[i] / sqrt(2.0 * 27) : -t3[i] / sqrt(2.0 * 30);
        ck_assert_msg(fabs(e[i] - want) < 1e-6, "eta(3)[%d] = %g, want %g", i, e[i], want);
    }
    static const int t5[25] = {4, 13, 13, 13, 4, 4, 13, 49, 13, 4, 4, 13, 13, 13, 4,
                               4, 13, 49, 13, 4, 4, 13, 13, 13, 4};
    ti_square_eta(e, 5);
    for (int i = 0; i < 25; i++) {
        double want = i < 10 ? t5[i] / sqrt(2.0 * 3310) : -t5[i] / sqrt(2.0 * 3849);
        ck_assert_msg(fabs(e[i] - want) < 1e-6, "eta(5)[%d] = %g, want %g", i, e[i], want);
    }
    /* s < 1 writes nothing */
    e[0] = 7.0f;
    ti_square_eta(e, 0);
    ck_assert_float_eq(e[0], 7.0f);
}
END_TEST

START_TEST(test_square_eta_shape)
{
    float e[24 * 24];
    for (int s = 1; s <= 24; s++) {
        ti_square_eta(e, s);
        int t = s / 2;
        double top = 0, bot = 0;
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) {
                float v = e[i * s + j];
                ck_assert_msg(i < t ? v > 0 : v < 0, "eta(%d)[%d][%d] = %g", s, i, j, v);
                *(i < t ? &top : &bot) += (double)v * v;
                if (s % 2) /* odd: symmetric about the centre column */
                    ck_assert_float_eq(v, e[i * s + s - 1 - j]);
                if (s % 2 == 0 && i < t) /* even: the bottom half is minus the top half */
                    ck_assert_float_eq(e[(i + t) * s + j], -v);
            }
        ck_assert_double_eq_tol(top + bot, 1.0, 1e-6);
        if (s > 1) { /* each half of norm 1/sqrt(2) */
            ck_assert_double_eq_tol(top, 0.5, 1e-6);
            ck_assert_double_eq_tol(bot, 0.5, 1e-6);
        }
        /* the largest magnitude of the top half is at its centre (t/2, s/2) */
        for (int i = 0; i < t; i++)
            for (int j = 0; j < s; j++)
                ck_assert(e[i * s + j] <= e[(t / 2) * s + s / 2]);
    }
}
END_TEST

/* sides max(round(sqrt(p H W)), 3), made odd, capped at min(H, W) and kept odd */
START_TEST(test_square_side_l2)
{
    const int its[8] = {0, 11, 51, 201, 501, 1001, 2001, 4001};
    /* sqrt(p 784): 25.0 17.7 12.5 8.9 6.3 4.4 3.1 2.2; sqrt(p 1024): 28.6 20.2 14.3 10.1 7.2
     * 5.1 3.6 2.5 */
    const int s28[8] = {25, 19, 13, 9, 7, 5, 3, 3};
    const int s32[8] = {29, 21, 15, 11, 7, 5, 5, 3};
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(ti_square_side_l2(0.8f, its[i], 28, 28), s28[i]);
        ck_assert_int_eq(ti_square_side_l2(0.8f, its[i], 32, 32), s32[i]);
    }
    ck_assert_int_eq(ti_square_side_l2(0.8f, 10, 28, 28), 25);
    ck_assert_int_eq(ti_square_side_l2(1.0f, 0, 6, 6), 5);   /* 6 -> 7 -> capped to 5 */
    ck_assert_int_eq(ti_square_side_l2(1.0f, 0, 5, 9), 5);   /* 6.7 -> 7 -> capped to 5 */
    ck_assert_int_eq(ti_square_side_l2(1.0f, 0, 9, 7), 7);   /* 7.9 -> 8 -> 9 -> 7 */
    ck_assert_int_eq(ti_square_side_l2(0.1f, 100, 5, 5), 3); /* 0.8 -> at least 3 */
}
END_TEST

/* ---- the attack ------------------------------------------------------------------------ */

START_TEST(test_square_l2_ball_box_budget)
{
    enum { N = 12, C = 3, H = 7, W = 6, D = C * H * W };
    quad q;
    quad_init(&q, C, H, W, 4, 11);
    float x[N * D], xa[N * D];
    int y[N];
    quad_data(&q, N, 12, 0.0f, 1.0f, x, y);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_square_params p = l2_params(1.0f, 200);
    ti_atk_stats st = {0, 0};
    ti_status s = ti_atk_square(ctx, &q.base, &p, x, y, N, xa, &st);
    ck_assert_msg(s == TI_OK, "%s", ti_ctx_errmsg(ctx));
    /* per point: clean pass, start, at most n_queries proposals, final check */
    ck_assert_int_le(q.rows, (long)N * (p.n_queries + 3));
    ck_assert_int_eq(st.forwards, q.rows);
    ck_assert_int_eq(st.backwards, 0);
    int fooled = check_l2_output(&q.base, p.eps, x, y, N, xa);
    ck_assert_int_gt(fooled, 0);
    ck_assert_int_lt(fooled, 9); /* 9 clean-correct points: some resist */

    /* two restarts: at most one more start, n_queries and check per point */
    p.n_restarts = 2;
    q.rows = 0;
    ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, y, N, xa, &st), TI_OK);
    ck_assert_int_le(q.rows, (long)N * (1 + 2 * (p.n_queries + 2)));
    ck_assert_int_ge(check_l2_output(&q.base, p.eps, x, y, N, xa), fooled);

    quad_free(&q);
    ti_ctx_free(ctx);
}
END_TEST

/* Whether a's 3x3 window at (vh, vw) is 0.5 + k * eta(3) (transposed if t), within 1e-6. */
static int window_is(const float *a, int W, int vh, int vw, const float *e, int t, double k)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double want = 0.5 + k * (t ? e[j * 3 + i] : e[i * 3 + j]);
            if (fabs(a[(vh + i) * W + vw + j] - want) >= 1e-6)
                return 0;
        }
    return 1;
}

/* The start, seen by the model as the second forward pass (after the clean one). x = 0.5
 * so nothing is clipped. On 2x17x16 images, s0 = 3 and sp = (17 - 15) / 2 = 1: a 5x5 grid
 * of windows from (1, 1), rows 0 and 16 and column 0 left empty; each window of each
 * channel holds +-eta(3) or its transpose, all at the scale eps / sqrt(C * 25) that gives
 * the whole norm eps. One transposition per window and point, shared by the channels
 * (and, with shared_window, by the points). */
START_TEST(test_square_l2_start)
{
    enum { N = 3, C = 2, H = 17, W = 16, D = C * H * W, G = 5 };
    quad q;
    quad_init(&q, C, H, W, 3, 71);
    float x[N * D], xa[N * D], seen[N * D], z[N * 3], e[9];
    int y[N];
    for (int i = 0; i < N * D; i++)
        x[i] = 0.5f;
    quad_forward(&q, x, N, z);
    ti_argmax_rows(z, N, 3, y);
    ti_square_eta(e, 3);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_square_params p = l2_params(0.5f, 0);
    const double k = p.eps / sqrt(C * G * G);
    for (int shared = 0; shared < 2; shared++) {
        p.shared_window = shared;
        q.calls = 0;
        q.capture = 2;
        q.seen = seen;
        ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, y, N, xa, NULL), TI_OK);
        int tr[N][C][G * G], n_tr = 0, n_neg = 0, differ = 0;
        for (int n = 0; n < N; n++) {
            ck_assert_double_eq_tol(ti_norm_dist(TI_NORM_L2, seen + n * D, x, D), p.eps, 1e-5);
            for (int c = 0; c < C; c++) {
                const float *a = seen + n * D + c * H * W;
                for (int h = 0; h < H; h++)
                    for (int v = 0; v < W; v++)
                        if (h == 0 || h == H - 1 || v == 0)
                            ck_assert_float_eq(a[h * W + v], 0.5f);
                for (int g = 0; g < G * G; g++) {
                    int found = 0;
                    for (int t = 0; t < 2; t++)
                        for (int sg = -1; sg <= 1; sg += 2)
                            if (window_is(a, W, 1 + 3 * (g / G), 1 + 3 * (g % G), e, t, sg * k)) {
                                found = 1;
                                tr[n][c][g] = t;
                                n_tr += t;
                                n_neg += sg < 0;
                            }
                    ck_assert_msg(found, "point %d channel %d window %d is not +-eta(3)", n, c, g);
                    ck_assert_int_eq(tr[n][c][g], tr[n][0][g]);
                    if (shared)
                        ck_assert_int_eq(tr[n][c][g], tr[0][c][g]);
                    else
                        differ |= tr[n][c][g] != tr[0][c][g];
                }
            }
        }
        int total = N * C * G * G;
        ck_assert(n_tr > 0 && n_tr < total && n_neg > 0 && n_neg < total);
        ck_assert_int_eq(differ, !shared);
    }
    quad_free(&q);
    ti_ctx_free(ctx);
}
END_TEST

/* The L2 proposal written the reference's way (fra31/auto-attack, square.py, L2 branch of
 * attack_single_run), with 0/1 masks over the whole image (D = C H W) and every window norm
 * taken per channel, as the reference's tensors of shape (N, C, 1, 1) are: delta = xb - x;
 * in window 1 of each channel c, eta (s, s, already transposed or not) * sig[c] +
 * delta[c] / ||delta[c, window 1]||, rescaled to sqrt(max(eps^2 - ||delta||^2, 0) / C +
 * ||delta[c] * (mask 1 or mask 2)||^2) (the image norm is the only one over all channels);
 * window 2 zeroed, window 1 set; out = clip01(x + eps delta / ||delta||). */
static void naive_l2_proposal(const float *x, const float *xb, int C, int H, int W, int s,
                              const int v[4], const float *eta, const float *sig, float eps,
                              double *out)
{
    int D = C * H * W;
    double *delta = malloc((size_t)D * sizeof *delta), n_img2 = 0;
    unsigned char *m1 = malloc((size_t)D), *m2 = malloc((size_t)D);
    for (int i = 0; i < D; i++) {
        int h = i / W % H, w = i % W;
        m1[i] = h >= v[0] && h < v[0] + s && w >= v[1] && w < v[1] + s;
        m2[i] = h >= v[2] && h < v[2] + s && w >= v[3] && w < v[3] + s;
        delta[i] = (double)xb[i] - x[i];
        n_img2 += delta[i] * delta[i];
    }
    double *nw = malloc((size_t)D * sizeof *nw);
    for (int c = 0; c < C; c++) {
        double n1 = 0, nn = 0, n_win2 = 0;
        for (int i = c * H * W; i < (c + 1) * H * W; i++) {
            n1 += m1[i] ? delta[i] * delta[i] : 0;
            n_win2 += (m1[i] || m2[i]) ? delta[i] * delta[i] : 0;
        }
        double target = sqrt(fmax((double)eps * eps - n_img2, 0) / C + n_win2);
        for (int i = c * H * W; i < (c + 1) * H * W; i++)
            if (m1[i]) {
                int h = i / W % H - v[0], w = i % W - v[1];
                nw[i] = eta[h * s + w] * sig[c] + delta[i] / (1e-12 + sqrt(n1));
                nn += nw[i] * nw[i];
            }
        for (int i = c * H * W; i < (c + 1) * H * W; i++)
            if (m1[i])
                nw[i] *= target / (1e-12 + sqrt(nn));
    }
    double nd = 0;
    for (int i = 0; i < D; i++) {
        delta[i] = m1[i] ? nw[i] : m2[i] ? 0 : delta[i];
        nd += delta[i] * delta[i];
    }
    for (int i = 0; i < D; i++)
        out[i] = fmin(fmax(x[i] + eps * delta[i] / (sqrt(nd) + 1e-12), 0), 1);
    free(delta);
    free(m1);
    free(m2);
    free(nw);
}

/* The first proposal (the model's third forward pass) equals naive_l2_proposal applied to
 * the start (the second) for some choice of the two windows, transposition and signs, within
 * 2e-6, over six seeds that between them draw eta both ways. x near 0 clips the start, so
 * ||delta|| < eps and the unused budget enters the new window's norm. */
START_TEST(test_square_l2_proposal)
{
    enum { C = 2, H = 9, W = 10, D = C * H * W };
    quad q;
    quad_init(&q, C, H, W, 3, 81);
    float x[D], xs[D], xp[D], e[25], et[25], z[3];
    int y;
    ti_rng r;
    ti_rng_seed(&r, 82);
    tu_fill(&r, x, D, 0.0f, 0.1f);
    quad_forward(&q, x, 1, z);
    ti_argmax_rows(z, 1, 3, &y);
    q.b[y] += 1000.0f; /* never fooled: the third pass is the proposal, not the final check */
    ti_square_params p = l2_params(1.0f, 1);
    p.p_init = 0.3f; /* side round(sqrt(0.3 * 90)) = 5 */
    ck_assert_int_eq(ti_square_side_l2(p.p_init, 0, H, W), 5);
    ti_square_eta(e, 5);
    for (int i = 0; i < 25; i++)
        et[i] = e[i % 5 * 5 + i / 5];
    double *want = malloc(D * sizeof *want);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    int seen_tr[2] = {0, 0};
    for (int seed = 0; seed < 6; seed++) {
        p.seed = (uint64_t)seed;
        float xa[D];
        q.calls = 0, q.capture = 2, q.seen = xs;
        ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, &y, 1, xa, NULL), TI_OK);
        ck_assert_double_lt(ti_norm_dist(TI_NORM_L2, xs, x, D), 0.99 * p.eps); /* clipped */
        q.calls = 0, q.capture = 3, q.seen = xp;
        ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, &y, 1, xa, NULL), TI_OK);
        ck_assert(memcmp(xs, xp, sizeof xs) != 0);
        int found = 0;
        for (int v0 = 0; v0 < H - 5; v0++)
            for (int v1 = 0; v1 < W - 5; v1++)
                for (int v2 = 0; v2 < H - 5; v2++)
                    for (int v3 = 0; v3 < W - 5; v3++)
                        for (int t = 0; t < 2 * 4; t++) {
                            const int v[4] = {v0, v1, v2, v3};
                            const float sig[2] = {t & 2 ? 1.0f : -1.0f, t & 4 ? 1.0f : -1.0f};
                            naive_l2_proposal(x, xs, C, H, W, 5, v, t & 1 ? et : e, sig, p.eps,
                                              want);
                            double err = 0;
                            for (int i = 0; i < D; i++)
                                err = fmax(err, fabs(want[i] - xp[i]));
                            found += err < 2e-6;
                            seen_tr[t & 1] += err < 2e-6;
                        }
        ck_assert_msg(found >= 1, "seed %d: the proposal matches no choice of windows", seed);
    }
    ck_assert(seen_tr[0] > 0 && seen_tr[1] > 0); /* eta drawn both ways */
    free(want);
    quad_free(&q);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_square_l2_determinism)
{
    enum { N = 12, C = 2, H = 8, W = 8, D = C * H * W, K = 5 };
    quad q;
    quad_init(&q, C, H, W, 3, 21);
    float x[N * D], a1[N * D], a2[N * D], a3[K * D];
    int y[N];
    quad_data(&q, N, 22, 0.0f, 1.0f, x, y);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_square_params p = l2_params(0.8f, 150);
    for (int shared = 0; shared < 2; shared++) {
        p.shared_window = shared;
        p.seed = 0;
        ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, y, N, a1, NULL), TI_OK);
        ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, y, N, a2, NULL), TI_OK);
        ck_assert(memcmp(a1, a2, sizeof a1) == 0);
        ck_assert_int_gt(check_l2_output(&q.base, p.eps, x, y, N, a1), 0);
        p.seed = 5;
        ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, y, N, a2, NULL), TI_OK);
        ck_assert(memcmp(a1, a2, sizeof a1) != 0);
    }
    /* per-point streams: the first K points come out the same when attacked alone */
    p.shared_window = 0;
    p.seed = 0;
    ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, y, N, a1, NULL), TI_OK);
    ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, y, K, a3, NULL), TI_OK);
    ck_assert(memcmp(a1, a3, sizeof a3) == 0);
    quad_free(&q);
    ti_ctx_free(ctx);
}
END_TEST

/* 2-class linear models on 3x5x5 images with a known L2 distance d to the boundary: eps =
 * 4 d fools (the search needs cos(delta, w_1 - w_0) >= 1/4; 300 of 300 such models fell
 * within 200 queries when this test was written), eps = 0.95 d never can. x is in
 * [0.35, 0.65] and eps < 0.2, so the box never binds and every candidate, hence every
 * adversarial example, is at distance exactly eps. */
START_TEST(test_square_l2_linear_distance)
{
    enum { C = 3, H = 5, W = 5, D = C * H * W, MODELS = 12 };
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_rng r;
    ti_rng_seed(&r, 31);
    for (int k = 0; k < MODELS; k++) {
        float Wt[2 * D], b[2], x[D], xa[D];
        int y;
        tu_two_class(&r, D, -1, Wt, b, x, &y);
        double d = tu_two_class_distance(TI_NORM_L2, D, Wt, b, x, y);
        ti_linear_classifier lc;
        ti_linear_classifier_init(&lc, Wt, b, 2, C, H, W);
        ck_assert_int_eq(predict(&lc.base, x), y);
        ti_square_params p = l2_params((float)(4.0 * d), 300);
        p.seed = (uint64_t)k;
        ck_assert_int_eq(ti_atk_square(ctx, &lc.base, &p, x, &y, 1, xa, NULL), TI_OK);
        ck_assert_msg(check_l2_output(&lc.base, p.eps, x, &y, 1, xa) == 1,
                      "model %d: not fooled at eps = 4 d = %g", k, (double)p.eps);
        ck_assert_double_eq_tol(ti_norm_dist(TI_NORM_L2, xa, x, D), p.eps, 1e-5);
        p.eps = (float)(0.95 * d);
        ck_assert_int_eq(ti_atk_square(ctx, &lc.base, &p, x, &y, 1, xa, NULL), TI_OK);
        ck_assert(memcmp(xa, x, sizeof x) == 0);
    }
    ti_ctx_free(ctx);
}
END_TEST

/* the smallest images (start windows of side 1), non-square ones, eps = 0, no queries */
START_TEST(test_square_l2_limits)
{
    enum { N = 6 };
    const int shapes[4][3] = {{1, 5, 5}, {2, 5, 9}, {3, 9, 5}, {1, 12, 7}};
    ti_ctx *ctx = ti_ctx_new(1, 1);
    for (int t = 0; t < 4; t++) {
        quad q;
        quad_init(&q, shapes[t][0], shapes[t][1], shapes[t][2], 3, 40 + t);
        float *x = malloc((size_t)N * q.D * sizeof *x), *xa = malloc((size_t)N * q.D * sizeof *xa);
        int y[N];
        quad_data(&q, N, 50 + t, 0.0f, 1.0f, x, y);
        ti_square_params p = l2_params(1.0f, 100);
        ti_status s = ti_atk_square(ctx, &q.base, &p, x, y, N, xa, NULL);
        ck_assert_msg(s == TI_OK, "%dx%dx%d: %s", shapes[t][0], shapes[t][1], shapes[t][2],
                      ti_ctx_errmsg(ctx));
        check_l2_output(&q.base, p.eps, x, y, N, xa);
        p.eps = 0.0f;
        ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, y, N, xa, NULL), TI_OK);
        ck_assert(memcmp(xa, x, (size_t)N * q.D * sizeof *x) == 0);
        p = l2_params(1.0f, 0);
        q.rows = 0;
        ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, y, N, xa, NULL), TI_OK);
        ck_assert_int_le(q.rows, 3 * N);
        check_l2_output(&q.base, p.eps, x, y, N, xa);
        ck_assert_int_eq(ti_atk_square(ctx, &q.base, &p, x, y, 0, xa, NULL), TI_OK);
        free(x);
        free(xa);
        quad_free(&q);
    }
    ti_ctx_free(ctx);
}
END_TEST

/* The ensemble at L2: "square" alone gives each point the outcome of ti_atk_square (the
 * streams key on the sample index) and passes the ensemble's own check (ball within 1e-6);
 * "standard" runs Square too. */
START_TEST(test_square_l2_autoattack)
{
    enum { N = 16, M = 4, C = 1, H = 6, W = 6, D = C * H * W };
    float Wt[M * D], b[M], x[N * D], xa[N * D], xd[N * D];
    int y[N];
    ti_rng r;
    ti_rng_seed(&r, 61);
    tu_fill(&r, Wt, M * D, -1.0f, 1.0f);
    tu_fill(&r, b, M, -0.3f, 0.3f);
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, Wt, b, M, C, H, W);
    tu_fill(&r, x, N * D, 0.0f, 1.0f);
    float z[N * M];
    lc.base.forward(lc.base.self, x, N, z);
    ti_argmax_rows(z, N, M, y);
    y[0] = (y[0] + 1) % M;
    ti_ctx *ctx = ti_ctx_new(1, 1);
    const float eps = 0.3f;

    ti_aa_params p;
    ck_assert_int_eq(ti_aa_params_version(ctx, "square", TI_NORM_L2, eps, &p), TI_OK);
    p.square.n_queries = 200;
    ti_eval *res;
    ti_eval_summary sum;
    ti_status s = tu_aa_run(ctx, &lc.base, &p, x, y, N, 5, xa, &res, NULL);
    ck_assert_msg(s == TI_OK, "%s", ti_ctx_errmsg(ctx));
    ck_assert_int_eq(res->n_check_failed, 0);
    ti_square_params sq = l2_params(eps, 200);
    ck_assert_int_eq(ti_atk_square(ctx, &lc.base, &sq, x, y, N, xd, NULL), TI_OK);
    int fooled = 0;
    for (int i = 0; i < N; i++) {
        int direct = memcmp(xd + i * D, x + i * D, sizeof(float) * D) != 0;
        ck_assert_int_eq(res->samples[i].attack == 0, direct);
        ck_assert(memcmp(xa + i * D, xd + i * D, sizeof(float) * D) == 0);
        fooled += direct;
    }
    ck_assert_int_gt(fooled, 0);
    ck_assert_int_lt(fooled, N - 1);
    ti_eval_free(res);

    ck_assert_int_eq(ti_aa_params_version(ctx, "standard", TI_NORM_L2, eps, &p), TI_OK);
    p.apgd_ce.n_iter = p.apgd_t.n_iter = 10;
    p.fab_t.n_iter = 10;
    p.square.n_queries = 100;
    s = tu_aa_run(ctx, &lc.base, &p, x, y, N, 250, xa, &res, &sum);
    ck_assert_msg(s == TI_OK, "%s", ti_ctx_errmsg(ctx));
    ck_assert_int_eq(res->n_attacks, 4);
    ck_assert_str_eq(res->names[3], "square");
    ck_assert(sum.robust_acc[3] <= sum.robust_acc[2]);
    check_l2_output(&lc.base, eps, x, y, N, xa);
    ti_eval_free(res);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------------- */

static void expect_error(ti_ctx *ctx, const ti_classifier *f, const ti_square_params *p,
                         ti_status want, const char *part)
{
    float x[2 * 8 * 8] = {0}, xa[2 * 8 * 8];
    int y[1] = {0};
    ck_assert_int_le(ti_classifier_dim(f), 2 * 8 * 8);
    ck_assert_int_eq(ti_atk_square(ctx, f, p, x, y, 1, xa, NULL), want);
    ck_assert_msg(strstr(ti_ctx_errmsg(ctx), part), "message '%s' lacks '%s'",
                  ti_ctx_errmsg(ctx), part);
}

START_TEST(test_square_l2_errors)
{
    float Wt[2 * 64] = {0}, b[2] = {0};
    ti_linear_classifier small, tall, wide, ok;
    ti_linear_classifier_init(&small, Wt, b, 2, 1, 4, 4);
    ti_linear_classifier_init(&tall, Wt, b, 2, 1, 8, 4);
    ti_linear_classifier_init(&wide, Wt, b, 2, 1, 4, 8);
    ti_linear_classifier_init(&ok, Wt, b, 2, 1, 5, 5);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_square_params p = l2_params(0.5f, 10);
    expect_error(ctx, &small.base, &p, TI_ERR_ARG, "5x5");
    expect_error(ctx, &tall.base, &p, TI_ERR_ARG, "8x4");
    expect_error(ctx, &wide.base, &p, TI_ERR_ARG, "4x8");
    p.norm = TI_NORM_LINF; /* L-inf has no minimum size */
    float x[16] = {0}, xa[16];
    int y[1] = {0};
    ck_assert_int_eq(ti_atk_square(ctx, &small.base, &p, x, y, 1, xa, NULL), TI_OK);

    const float bad_eps[3] = {-0.1f, NAN, INFINITY};
    for (int i = 0; i < 3; i++) {
        p = l2_params(bad_eps[i], 10);
        expect_error(ctx, &ok.base, &p, TI_ERR_ARG, "eps");
    }
    p = l2_params(0.5f, -1);
    expect_error(ctx, &ok.base, &p, TI_ERR_ARG, "n_queries");
    p = l2_params(0.5f, 10);
    p.p_init = 1.5f;
    expect_error(ctx, &ok.base, &p, TI_ERR_ARG, "p_init");
    p = l2_params(0.5f, 10);
    p.n_restarts = 0;
    expect_error(ctx, &ok.base, &p, TI_ERR_ARG, "n_restarts");
    p.n_restarts = 1;
    p.norm = TI_NORM_L1;
    expect_error(ctx, &ok.base, &p, TI_ERR_UNSUPPORTED, "l1");
    p.norm = TI_NORM_L0;
    expect_error(ctx, &ok.base, &p, TI_ERR_UNSUPPORTED, "l0");
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_square(void)
{
    Suite *s = suite_create("square");
    TCase *tc = tcase_create("eta");
    tcase_add_test(tc, test_square_eta_values);
    tcase_add_test(tc, test_square_eta_shape);
    tcase_add_test(tc, test_square_side_l2);
    suite_add_tcase(s, tc);
    tc = tcase_create("l2");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_square_l2_start);
    tcase_add_test(tc, test_square_l2_proposal);
    tcase_add_test(tc, test_square_l2_ball_box_budget);
    tcase_add_test(tc, test_square_l2_determinism);
    tcase_add_test(tc, test_square_l2_linear_distance);
    tcase_add_test(tc, test_square_l2_limits);
    tcase_add_test(tc, test_square_l2_autoattack);
    tcase_add_test(tc, test_square_l2_errors);
    suite_add_tcase(s, tc);
    return s;
}
