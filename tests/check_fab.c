/* Tests of FAB (libattack/fab.c) and its projection onto hyperplane-and-box
 * (libattack/fab_projection.c): feasibility, the closed forms of docs/fab.md, the L-inf
 * level on an image-sized input against bisection and with a slice's bound on a capacity,
 * optimality against brute force in D <= 4, the infeasible vertex, and the attack on linear
 * models whose distance to the boundary is known:
 * |(w_y - w_j).x + b_y - b_j| / ||w_y - w_j||_dual. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/autoattack.h"
#include "thinice/fab.h"

static const ti_norm norms3[3] = {TI_NORM_LINF, TI_NORM_L2, TI_NORM_L1};

/* How far coordinate t can move in the direction that lowers <w, t>: to 0 if w > 0, else to 1. */
static float room(float t, float w)
{
    return w > 0 ? t : 1.0f - t;
}

/* The largest reduction of <w, t> the box allows: every coordinate to its face. */
static double reach_of(const float *t, const float *w, int D)
{
    double r = 0;
    for (int i = 0; i < D; i++)
        r += fabs(w[i]) * room(t[i], w[i]);
    return r;
}

static double dot(const float *a, const float *b, size_t D)
{
    double s = 0;
    for (size_t i = 0; i < D; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* ---- projection ------------------------------------------------------------------------ */

START_TEST(test_proj_feasible_and_box)
{
    enum { D = 64 };
    ti_rng r;
    ti_rng_seed(&r, 11);
    float t[D], w[D], d[D];
    void *work = malloc(ti_fab_project_work_bytes(D));
    for (int trial = 0; trial < 300; trial++) {
        ti_norm p = norms3[trial % 3];
        tu_fill(&r, t, D, 0.0f, 1.0f);
        tu_fill(&r, w, D, -1.0f, 1.0f);
        if (trial % 4 == 0) /* pixels on the faces, as in real images */
            for (int i = 0; i < D; i += 3)
                t[i] = (i % 2) ? 1.0f : 0.0f;
        if (trial % 5 == 0)
            for (int i = 1; i < D; i += 4)
                w[i] = 0.0f;
        /* a gap anywhere up to 90% of what the box can reach (both signs) */
        double c = ti_rng_double(&r) * 0.9 * reach_of(t, w, D);
        double b = dot(w, t, D) - c;
        if (trial % 2) { /* the other side: flip w and b */
            for (int i = 0; i < D; i++)
                w[i] = -w[i];
            b = -b;
        }
        ck_assert_int_eq(ti_fab_project(p, t, w, b, D, d, work), 1);
        float u[D];
        for (int i = 0; i < D; i++) {
            u[i] = t[i] + d[i];
            ck_assert(u[i] >= -1e-6f && u[i] <= 1.0f + 1e-6f);
        }
        ck_assert_double_le(fabs(dot(w, u, D) - b), 1e-5);
    }
    free(work);
}
END_TEST

START_TEST(test_proj_closed_forms)
{
    enum { D = 16 };
    ti_rng r;
    ti_rng_seed(&r, 5);
    float t[D], w[D], d[D];
    void *work = malloc(ti_fab_project_work_bytes(D));
    for (int trial = 0; trial < 50; trial++) {
        for (int i = 0; i < D; i++)
            t[i] = 0.5f;
        tu_fill(&r, w, D, -1.0f, 1.0f);
        double w1 = ti_norm_of(TI_NORM_L1, w, D), w2 = ti_norm_of(TI_NORM_L2, w, D);
        double winf = ti_norm_of(TI_NORM_LINF, w, D);
        double c = 0.05 * winf * ti_rng_double(&r); /* small: no coordinate saturates */
        double b = dot(w, t, D) - c;
        /* L-inf: ||d||_inf = |<w,t> - b| / ||w||_1, every coordinate moves by it */
        ti_fab_project(TI_NORM_LINF, t, w, b, D, d, work);
        ck_assert_double_eq_tol(ti_norm_of(TI_NORM_LINF, d, D), c / w1, 1e-6);
        for (int i = 0; i < D; i++)
            ck_assert_double_eq_tol(fabs(d[i]), c / w1, 1e-6);
        /* L2: d = -c w / ||w||^2 */
        ti_fab_project(TI_NORM_L2, t, w, b, D, d, work);
        for (int i = 0; i < D; i++)
            ck_assert_double_eq_tol(d[i], -c * w[i] / (w2 * w2), 1e-6);
        /* L1: only the argmax-|w| coordinate moves, by c / ||w||_inf */
        ti_fab_project(TI_NORM_L1, t, w, b, D, d, work);
        int nz = 0;
        for (int i = 0; i < D; i++)
            if (d[i] != 0.0f) {
                nz++;
                ck_assert_double_eq(fabs(w[i]), winf);
            }
        ck_assert_int_eq(nz, 1);
        ck_assert_double_eq_tol(ti_norm_of(TI_NORM_L1, d, D), c / winf, 1e-6);
    }
    free(work);
}
END_TEST

/* L-inf on an image's scale: 3072 pixels on the 1/255 grid (many equal capacities), |w_i| = 1
 * with random signs. The level is found by sorting the capacities in slices whose bounds
 * are doubles compared with floats; a capacity at or next to a slice's bound must fall in
 * exactly one slice. Against a bisection of G(l) = sum min(l, cap_i) = c in double, over gaps
 * that put the first level l0 = c / ||w||_1 on a capacity, a hair below one, and anywhere. */
START_TEST(test_proj_linf_image_level)
{
    enum { D = 3072 };
    ti_rng r;
    ti_rng_seed(&r, 5);
    float *t = malloc(D * sizeof *t), *w = malloc(D * sizeof *w), *d = malloc(D * sizeof *d);
    float *u = malloc(D * sizeof *u);
    void *work = malloc(ti_fab_project_work_bytes(D));
    for (int trial = 0; trial < 60; trial++) {
        for (int i = 0; i < D; i++) {
            t[i] = (float)ti_rng_below(&r, 256) / 255.0f;
            w[i] = ti_rng_below(&r, 2) ? 1.0f : -1.0f;
        }
        double reach = reach_of(t, w, D);
        /* c = cap_j * D (exact): l0 = c / D is the capacity cap_j itself; or a hair less:
         * l0 below cap_j, but the nearest float to it is cap_j; or any gap */
        int j = (int)ti_rng_below(&r, D);
        float capj = room(t[j], w[j]);
        double c = trial % 3 == 0   ? (double)capj * D
                   : trial % 3 == 1 ? (double)capj * D * (1.0 - 1e-12)
                                    : ti_rng_double(&r) * 0.9 * reach;
        if (!(c < reach))
            continue;
        double b = dot(w, t, D) - c;
        ck_assert_int_eq(ti_fab_project(TI_NORM_LINF, t, w, b, D, d, work), 1);
        double lo = 0, hi = 1;
        for (int it = 0; it < 200; it++) {
            double l = 0.5 * (lo + hi), g = 0;
            for (int i = 0; i < D; i++)
                g += fmin(l, room(t[i], w[i]));
            *(g < c ? &lo : &hi) = l;
        }
        ck_assert_double_eq_tol(ti_norm_of(TI_NORM_LINF, d, D), lo, 1e-6);
        for (int i = 0; i < D; i++)
            u[i] = t[i] + d[i];
        ck_assert_double_le(fabs(dot(w, u, D) - b), 1e-6 * D);
    }
    free(u);
    free(t);
    free(w);
    free(d);
    free(work);
}
END_TEST

/* A later slice's upper bound exactly on capacities the sweep must still saturate: 64
 * coordinates, |w_i| = 1, capacities 48 x 1/16, 4 x 1/4, 4 x 1/2, 8 x 1, gap c = 11. The first
 * slice takes the 1/16s (l0 = 11/64); after them the level is exactly 1/2, so the second slice
 * is (11/64, 1/2] and must hold the 1/2s, which the sweep passes once the 1/4s are in:
 * lambda = 5/8. A slice that dropped its upper bound would stop at 7/12. */
START_TEST(test_proj_linf_bound_on_cap)
{
    enum { D = 64 };
    float t[D], w[D], d[D];
    void *work = malloc(ti_fab_project_work_bytes(D));
    for (int i = 0; i < D; i++) {
        w[i] = 1.0f; /* capacity t */
        t[i] = i < 48 ? 0.0625f : i < 52 ? 0.25f : i < 56 ? 0.5f : 1.0f;
    }
    double b = dot(w, t, D) - 11.0;
    ck_assert_int_eq(ti_fab_project(TI_NORM_LINF, t, w, b, D, d, work), 1);
    ck_assert_double_eq_tol(ti_norm_of(TI_NORM_LINF, d, D), 0.625, 1e-7);
    free(work);
}
END_TEST

/* Brute force: minimise ||d||_p over a grid of the free coordinates, solving the hyperplane
 * for coordinate j (each j in turn), keeping the box. */
static double brute(ti_norm p, const float *t, const float *w, double b, int D, int G)
{
    double bestn = INFINITY;
    for (int j = 0; j < D; j++) {
        if (fabs(w[j]) < 1e-3)
            continue;
        int free_n = D - 1, total = 1;
        for (int k = 0; k < free_n; k++)
            total *= G;
        for (int idx = 0; idx < total; idx++) {
            double u[4], rest = b;
            int code = idx;
            for (int i = 0; i < D; i++) {
                if (i == j)
                    continue;
                u[i] = (double)(code % G) / (G - 1);
                code /= G;
                rest -= w[i] * u[i];
            }
            u[j] = rest / w[j];
            if (u[j] < 0 || u[j] > 1)
                continue;
            double n = 0;
            for (int i = 0; i < D; i++) {
                double a = fabs(u[i] - t[i]);
                n = p == TI_NORM_LINF ? fmax(n, a) : p == TI_NORM_L2 ? n + a * a : n + a;
            }
            if (p == TI_NORM_L2)
                n = sqrt(n);
            bestn = fmin(bestn, n);
        }
    }
    return bestn;
}

START_TEST(test_proj_optimal_bruteforce)
{
    ti_rng r;
    ti_rng_seed(&r, 3);
    float t[4], w[4], d[4];
    void *work = malloc(ti_fab_project_work_bytes(4));
    const int grid[5] = {0, 0, 4001, 301, 61};
    for (int D = 2; D <= 4; D++)
        for (int trial = 0; trial < (D == 4 ? 6 : 20); trial++) {
            ti_norm p = norms3[trial % 3];
            tu_fill(&r, t, D, 0.0f, 1.0f);
            tu_fill(&r, w, D, -2.0f, 2.0f);
            double b = dot(w, t, D) - ti_rng_double(&r) * 0.95 * reach_of(t, w, D);
            ck_assert_int_eq(ti_fab_project(p, t, w, b, D, d, work), 1);
            double mine = ti_norm_of(p, d, D);
            double bf = brute(p, t, w, b, D, grid[D]);
            /* nothing on the grid beats the projection; the grid comes close to it */
            ck_assert_double_le(mine, bf + 1e-6);
            ck_assert_double_le(bf, mine + (D == 4 ? 0.06 : 0.01));
        }
    free(work);
}
END_TEST

START_TEST(test_proj_infeasible_vertex)
{
    enum { D = 8 };
    float t[D] = {0.1f, 0.9f, 0.5f, 0.0f, 1.0f, 0.3f, 0.7f, 0.2f};
    float w[D] = {1.0f, -2.0f, 0.5f, 1.0f, -1.0f, 0.0f, 3.0f, -0.25f};
    float d[D];
    void *work = malloc(ti_fab_project_work_bytes(D));
    double reach = reach_of(t, w, D);
    for (int pi = 0; pi < 3; pi++) {
        /* the hyperplane lies beyond the box: every usable coordinate goes to its face */
        double b = dot(w, t, D) - 2.0 * reach;
        ck_assert_int_eq(ti_fab_project(norms3[pi], t, w, b, D, d, work), 0);
        for (int i = 0; i < D; i++) {
            float want = w[i] > 0 ? -t[i] : w[i] < 0 ? 1.0f - t[i] : 0.0f;
            ck_assert_float_eq(d[i], want);
        }
        /* same on the other side (mirror vertex) */
        b = dot(w, t, D) + 2.0 * (ti_norm_of(TI_NORM_L1, w, D));
        ck_assert_int_eq(ti_fab_project(norms3[pi], t, w, b, D, d, work), 0);
        for (int i = 0; i < D; i++) {
            float want = w[i] < 0 ? -t[i] : w[i] > 0 ? 1.0f - t[i] : 0.0f;
            ck_assert_float_eq(d[i], want);
        }
    }
    free(work);
}
END_TEST

/* ---- the attack on linear models --------------------------------------------------------- */

enum { LC = 1, LH = 4, LW = 5, LD = LC * LH * LW };

START_TEST(test_fab_linear_distance)
{
    enum { N = 6 };
    ti_rng r;
    ti_rng_seed(&r, 21);
    float W[2 * LD], b[2], x[LD], xa[LD], z[2];
    int y, pred;
    ti_ctx *ctx = ti_ctx_new(1, 1);
    double worst_rel = 0;
    for (int n = 0; n < N; n++) {
        tu_two_class(&r, LD, -1, W, b, x, &y);
        ti_linear_classifier lc;
        ti_linear_classifier_init(&lc, W, b, 2, LC, LH, LW);
        for (int pi = 0; pi < 3; pi++) {
            ti_fab_params p = ti_fab_params_default();
            p.norm = norms3[pi];
            p.eps = 100.0f; /* minimum-norm mode: any success ends the point after its run */
            ti_atk_stats st;
            ck_assert_int_eq(ti_atk_fab(ctx, &lc.base, &p, x, &y, 1, xa, &st), TI_OK);
            lc.base.forward(&lc, xa, 1, z);
            ti_argmax_rows(z, 1, 2, &pred);
            ck_assert_int_ne(pred, y); /* the returned point is adversarial */
            for (int i = 0; i < LD; i++)
                ck_assert(xa[i] >= 0.0f && xa[i] <= 1.0f);
            double got = ti_norm_dist(p.norm, xa, x, LD);
            double want = tu_two_class_distance(p.norm, LD, W, b, x, y);
            ck_assert_double_ge(got, want * (1 - 1e-4)); /* never below the true minimum */
            ck_assert_double_le(got, want * 1.03);       /* within a few % of it */
            worst_rel = fmax(worst_rel, got / want - 1);
            /* The point is fooled at every iteration. 1 clean pass; iteration 0: linearise
             * (M-1 = 1 vjp with its forward), then test by linearising the new iterate (it
             * is adversarial, so that one is wasted); iterations 1..99: linearise after
             * the backward step, test with a plain forward; 1 final check. */
            ck_assert_int_eq(st.forwards, 1 + 2 + 99 * 2 + 1);
            ck_assert_int_eq(st.backwards, 1 + 1 + 99);
        }
    }
    ck_assert_double_lt(worst_rel, 0.03);
    ti_ctx_free(ctx);
}
END_TEST

/* The same linear model behind a classifier with a jacobian callback: the two gradient paths
 * of untargeted FAB (full Jacobian, M-1 vjps) must agree. */
static ti_status jac_forward(void *self, const float *x, int N, float *logits)
{
    ti_linear_classifier *lc = self;
    return lc->base.forward(lc, x, N, logits);
}
static ti_status jac_vjp(void *self, const float *x, int N, const float *dl, float *logits,
                         float *dx)
{
    ti_linear_classifier *lc = self;
    return lc->base.vjp(lc, x, N, dl, logits, dx);
}
static ti_status jac_full(void *self, const float *x, int N, float *logits, float *jac)
{
    ti_linear_classifier *lc = self;
    return ti_classifier_jacobian(&lc->base, x, N, logits, jac);
}

START_TEST(test_fab_jacobian_path)
{
    enum { N = 5, M = 4 };
    ti_rng r;
    ti_rng_seed(&r, 8);
    float W[M * LD], b[M], x[N * LD], a1[N * LD], a2[N * LD], z[N * M];
    int y[N];
    tu_fill(&r, W, M * LD, -1.0f, 1.0f);
    tu_fill(&r, b, M, -0.2f, 0.2f);
    tu_fill(&r, x, N * LD, 0.2f, 0.8f);
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, W, b, M, LC, LH, LW);
    lc.base.forward(&lc, x, N, z);
    ti_argmax_rows(z, N, M, y);
    ti_classifier jf = {.C = LC, .H = LH, .W = LW, .M = M, .self = &lc,
                        .forward = jac_forward, .vjp = jac_vjp, .jacobian = jac_full};
    ti_fab_params p = ti_fab_params_default();
    p.eps = 0.05f;
    p.n_iter = 30;
    p.n_restarts = 2;
    ck_assert_int_eq(ti_atk_fab(NULL, &lc.base, &p, x, y, N, a1, NULL), TI_OK);
    ck_assert_int_eq(ti_atk_fab(NULL, &jf, &p, x, y, N, a2, NULL), TI_OK);
    ck_assert_double_le(tu_maxdiff(a1, a2, N * LD), 1e-5);
}
END_TEST

/* 3 classes, x = 0.5: class 0 leads (z = 1), class 1 is the runner-up (z = 0.5) with its
 * boundary 0.25 away along x0; class 2 (z = 0.4) is the nearest boundary, 0.015 away along
 * x1. FAB-T with target rank 2 must reach class 1; untargeted FAB finds class 2. */
START_TEST(test_fab_targeted_crafted)
{
    float W[3 * LD] = {0}, b[3] = {1.0f, -0.5f, -19.6f}, x[LD], xa[LD], z[3];
    W[LD + 0] = 2.0f;
    W[2 * LD + 1] = 40.0f;
    for (int i = 0; i < LD; i++)
        x[i] = 0.5f;
    int y = 0, pred;
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, W, b, 3, LC, LH, LW);
    ti_fab_params p = ti_fab_params_default();
    p.targeted = 1;
    p.n_target_classes = 1;
    p.eps = 1.0f;
    ck_assert_int_eq(ti_atk_fab(NULL, &lc.base, &p, x, &y, 1, xa, NULL), TI_OK);
    lc.base.forward(&lc, xa, 1, z);
    ti_argmax_rows(z, 1, 3, &pred);
    ck_assert_int_eq(pred, 1);
    double dist = ti_norm_dist(TI_NORM_LINF, xa, x, LD);
    ck_assert_double_ge(dist, 0.25 * (1 - 1e-4));
    ck_assert_double_le(dist, 0.25 * 1.03);
    p.targeted = 0;
    ck_assert_int_eq(ti_atk_fab(NULL, &lc.base, &p, x, &y, 1, xa, NULL), TI_OK);
    lc.base.forward(&lc, xa, 1, z);
    ti_argmax_rows(z, 1, 3, &pred);
    ck_assert_int_eq(pred, 2);
    ck_assert_double_le(ti_norm_dist(TI_NORM_LINF, xa, x, LD), 0.015 * 1.03);
}
END_TEST

/* A tiny nonlinear classifier: logits = V tanh(U x + c), written here with its vjp. */
typedef struct mlp {
    int D, Hd, M;
    float *U, *c, *V; /* (Hd, D), (Hd), (M, Hd) */
} mlp;

static ti_status mlp_vjp(void *self, const float *x, int N, const float *dl, float *logits,
                         float *dx)
{
    mlp *m = self;
    float h[16], gh[16];
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * m->D;
        for (int k = 0; k < m->Hd; k++) {
            double s = m->c[k];
            for (int i = 0; i < m->D; i++)
                s += (double)m->U[k * m->D + i] * xn[i];
            h[k] = tanhf((float)s);
        }
        for (int o = 0; o < m->M; o++) {
            double s = 0;
            for (int k = 0; k < m->Hd; k++)
                s += (double)m->V[o * m->Hd + k] * h[k];
            if (logits)
                logits[n * m->M + o] = (float)s;
        }
        if (!dx)
            continue;
        for (int k = 0; k < m->Hd; k++) {
            double s = 0;
            for (int o = 0; o < m->M; o++)
                s += (double)dl[n * m->M + o] * m->V[o * m->Hd + k];
            gh[k] = (float)s * (1 - h[k] * h[k]);
        }
        for (int i = 0; i < m->D; i++) {
            double s = 0;
            for (int k = 0; k < m->Hd; k++)
                s += (double)gh[k] * m->U[k * m->D + i];
            dx[(size_t)n * m->D + i] = (float)s;
        }
    }
    return TI_OK;
}
static ti_status mlp_forward(void *self, const float *x, int N, float *logits)
{
    return mlp_vjp(self, x, N, NULL, logits, NULL);
}

START_TEST(test_fab_nonlinear_invariants)
{
    enum { N = 12, Hd = 8, M = 4 };
    ti_rng r;
    ti_rng_seed(&r, 77);
    float U[Hd * LD], c[Hd], V[M * Hd], x[N * LD], xa[N * LD], xb[N * LD], z[N * M];
    int y[N], pred[N];
    tu_fill(&r, U, Hd * LD, -1.5f, 1.5f);
    tu_fill(&r, c, Hd, -0.5f, 0.5f);
    tu_fill(&r, V, M * Hd, -2.0f, 2.0f);
    tu_fill(&r, x, N * LD, 0.0f, 1.0f);
    mlp m = {LD, Hd, M, U, c, V};
    ti_classifier f = {.C = LC, .H = LH, .W = LW, .M = M, .self = &m, .forward = mlp_forward,
                       .vjp = mlp_vjp, .jacobian = NULL};
    f.forward(&m, x, N, z);
    ti_argmax_rows(z, N, M, y);
    y[0] = (y[0] + 1) % M; /* one point misclassified at x: must come back untouched */
    for (int targeted = 0; targeted <= 1; targeted++)
        for (int pi = 0; pi < 3; pi++) {
            ti_fab_params p = ti_fab_params_default();
            p.norm = norms3[pi];
            p.targeted = targeted;
            p.n_target_classes = 3;
            p.eps = pi == 0 ? 0.1f : pi == 1 ? 0.5f : 1.5f;
            p.n_restarts = 3;
            p.n_iter = 20;
            p.seed = 4;
            ck_assert_int_eq(ti_atk_fab(NULL, &f, &p, x, y, N, xa, NULL), TI_OK);
            ck_assert_int_eq(ti_atk_fab(NULL, &f, &p, x, y, N, xb, NULL), TI_OK);
            ck_assert_int_eq(memcmp(xa, xb, sizeof xa), 0); /* same seed, same bits */
            ck_assert_int_eq(memcmp(xa, x, LD * sizeof(float)), 0);
            f.forward(&m, xa, N, z);
            ti_argmax_rows(z, N, M, pred);
            int changed = 0;
            for (int n = 1; n < N; n++) {
                const float *an = xa + (size_t)n * LD;
                for (int i = 0; i < LD; i++)
                    ck_assert(an[i] >= 0.0f && an[i] <= 1.0f);
                if (memcmp(an, x + (size_t)n * LD, LD * sizeof(float)) != 0) {
                    changed++;
                    ck_assert_int_ne(pred[n], y[n]); /* a changed point is adversarial */
                }
            }
            ck_assert_int_gt(changed, 0);
        }
}
END_TEST

/* A classifier that counts its calls (not samples): a batched attack makes as many calls
 * for many points as for one. */
typedef struct counting {
    ti_linear_classifier lc;
    long calls;
} counting;
static ti_status count_forward(void *self, const float *x, int N, float *logits)
{
    counting *c = self;
    c->calls++;
    return c->lc.base.forward(&c->lc, x, N, logits);
}
static ti_status count_vjp(void *self, const float *x, int N, const float *dl, float *logits,
                           float *dx)
{
    counting *c = self;
    c->calls++;
    return c->lc.base.vjp(&c->lc, x, N, dl, logits, dx);
}

/* Untargeted FAB attacks the points of a call together (chunks of up to 512 points while the
 * (B, M, D) Jacobian stays within 2^24 floats): 16 points of 3x8x8 with 10 classes cost about
 * as many classifier calls as one point, not 16 times as many. */
START_TEST(test_fab_untargeted_chunk)
{
    enum { N = 16, M = 10, C = 3, H = 8, W_ = 8, D = C * H * W_ };
    ti_rng r;
    ti_rng_seed(&r, 91);
    float *W = malloc(sizeof(float) * M * D), b[M], *x = malloc(sizeof(float) * N * D);
    float *xa = malloc(sizeof(float) * N * D), z[N * M];
    int y[N];
    tu_fill(&r, W, (size_t)M * D, -0.05f, 0.05f);
    tu_fill(&r, b, M, -0.1f, 0.1f);
    tu_fill(&r, x, (size_t)N * D, 0.3f, 0.7f);
    counting c = {.calls = 0};
    ti_linear_classifier_init(&c.lc, W, b, M, C, H, W_);
    ti_classifier f = {.C = C, .H = H, .W = W_, .M = M, .self = &c, .forward = count_forward,
                       .vjp = count_vjp};
    f.forward(&c, x, N, z);
    ti_argmax_rows(z, N, M, y);
    ti_fab_params p = ti_fab_params_default();
    p.n_iter = 10;
    c.calls = 0;
    ck_assert_int_eq(ti_atk_fab(NULL, &f, &p, x, y, 1, xa, NULL), TI_OK);
    long one = c.calls;
    c.calls = 0;
    ck_assert_int_eq(ti_atk_fab(NULL, &f, &p, x, y, N, xa, NULL), TI_OK);
    ck_assert_msg(c.calls < 3 * one, "%ld calls for %d points, %ld for one", c.calls, N, one);
    free(W);
    free(x);
    free(xa);
}
END_TEST

/* In the ensemble, FAB's random restarts key on the global sample index: the per-sample
 * records and adversarial examples of "fab,fab-t" with restarts do not depend on the batch
 * size (1, 3 or all 12 points per slice), and its passes are counted per point. */
START_TEST(test_fab_batch_independent)
{
    enum { N = 12, Hd = 8, M = 4 };
    ti_rng r;
    ti_rng_seed(&r, 78);
    float U[Hd * LD], c[Hd], V[M * Hd], x[N * LD], xa[3][N * LD], z[N * M];
    int y[N];
    tu_fill(&r, U, Hd * LD, -1.5f, 1.5f);
    tu_fill(&r, c, Hd, -0.5f, 0.5f);
    tu_fill(&r, V, M * Hd, -2.0f, 2.0f);
    tu_fill(&r, x, N * LD, 0.0f, 1.0f);
    mlp m = {LD, Hd, M, U, c, V};
    ti_classifier f = {.C = LC, .H = LH, .W = LW, .M = M, .self = &m, .forward = mlp_forward,
                       .vjp = mlp_vjp, .jacobian = NULL};
    f.forward(&m, x, N, z);
    ti_argmax_rows(z, N, M, y);
    static const int batch[3] = {1, 3, N};
    ti_eval *res[3];
    int restart_wins = 0;
    for (int k = 0; k < 3; k++) {
        ti_aa_params p;
        ck_assert_int_eq(ti_aa_params_version(NULL, "fab,fab-t", TI_NORM_LINF, 0.4f, &p), TI_OK);
        p.fab.n_restarts = p.fab_t.n_restarts = 4;
        p.fab.n_iter = p.fab_t.n_iter = 3; /* short runs: restarts matter */
        p.fab_t.n_target_classes = 3;
        p.seed = 5;
        ck_assert_int_eq(tu_aa_run(NULL, &f, &p, x, y, N, batch[k], xa[k], &res[k], NULL), TI_OK);
        if (k == 0) { /* some point must need a random restart, or the test proves nothing */
            ti_aa_params q = p;
            q.fab.n_restarts = q.fab_t.n_restarts = 1;
            ti_eval *one;
            ck_assert_int_eq(tu_aa_run(NULL, &f, &q, x, y, N, N, NULL, &one, NULL), TI_OK);
            for (int i = 0; i < N; i++)
                restart_wins += one->samples[i].attack < 0 && res[0]->samples[i].attack >= 0;
            ti_eval_free(one);
        }
    }
    ck_assert_int_gt(restart_wins, 0);
    for (int k = 1; k < 3; k++) {
        ck_assert_int_eq(memcmp(xa[k], xa[0], sizeof xa[0]), 0);
        for (int i = 0; i < N; i++) {
            const ti_eval_sample *a = &res[0]->samples[i], *b2 = &res[k]->samples[i];
            ck_assert_int_eq(memcmp(a, b2, sizeof *a), 0);
        }
    }
    for (int i = 0; i < N; i++) /* FAB's own passes, counted per point */
        if (res[0]->samples[i].attack != TI_EVAL_CLEAN_WRONG)
            ck_assert_int_gt(res[0]->samples[i].backwards[0], 0);
    for (int k = 0; k < 3; k++)
        ti_eval_free(res[k]);
}
END_TEST

START_TEST(test_fab_errors)
{
    float W[2 * LD] = {0}, b[2] = {0}, x[LD] = {0}, xa[LD];
    int y = 0, bad = 2;
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, W, b, 2, LC, LH, LW);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_fab_params p = ti_fab_params_default();
    ck_assert_int_eq(ti_atk_fab(ctx, NULL, &p, x, &y, 1, xa, NULL), TI_ERR_ARG);
    ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    ck_assert_int_eq(ti_atk_fab(ctx, &lc.base, &p, x, &bad, 1, xa, NULL), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "y[0]=2"));
    p.norm = TI_NORM_L0;
    ck_assert_int_eq(ti_atk_fab(ctx, &lc.base, &p, x, &y, 1, xa, NULL), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "l0"));
    p = ti_fab_params_default();
    p.targeted = 1; /* 9 targets with M = 2 */
    ck_assert_int_eq(ti_atk_fab(ctx, &lc.base, &p, x, &y, 1, xa, NULL), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "M-1"));
    p = ti_fab_params_default();
    p.eps = INFINITY;
    p.n_restarts = 2;
    ck_assert_int_eq(ti_atk_fab(ctx, &lc.base, &p, x, &y, 1, xa, NULL), TI_ERR_ARG);
    ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    p = ti_fab_params_default();
    p.beta = 2.0f;
    ck_assert_int_eq(ti_atk_fab(ctx, &lc.base, &p, x, &y, 1, xa, NULL), TI_ERR_ARG);
    p = ti_fab_params_default();
    ck_assert_int_eq(ti_atk_fab(ctx, &lc.base, &p, x, &y, 0, xa, NULL), TI_OK); /* N = 0 */
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_fab(void)
{
    Suite *s = suite_create("fab");
    TCase *tc = tcase_create("projection");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_proj_feasible_and_box);
    tcase_add_test(tc, test_proj_closed_forms);
    tcase_add_test(tc, test_proj_linf_image_level);
    tcase_add_test(tc, test_proj_linf_bound_on_cap);
    tcase_add_test(tc, test_proj_optimal_bruteforce);
    tcase_add_test(tc, test_proj_infeasible_vertex);
    suite_add_tcase(s, tc);
    tc = tcase_create("attack");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_fab_linear_distance);
    tcase_add_test(tc, test_fab_jacobian_path);
    tcase_add_test(tc, test_fab_targeted_crafted);
    tcase_add_test(tc, test_fab_nonlinear_invariants);
    tcase_add_test(tc, test_fab_untargeted_chunk);
    tcase_add_test(tc, test_fab_batch_independent);
    tcase_add_test(tc, test_fab_errors);
    suite_add_tcase(s, tc);
    return s;
}
