/* Tests of L1-APGD (Croce & Hein, "Mind the box: l1-APGD for sparse adversarial attacks on
 * image classifiers", ICML 2021): the exact projection onto the L1 ball ∩ [0,1]^d
 * (ti_proj_l1_box) against a bisection reference and the projection's variational
 * inequality; APGD-CE, APGD-DLR and APGD-T at L1 on linear models whose smallest L1
 * perturbation inside the box is computed exactly here (a fractional knapsack), so that which
 * points must and must not be fooled is known; the ball, the box, the step schedule and
 * determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/apgd.h"
#include "thinice/autoattack.h"
#include "thinice/projection.h"

/* ---- references -------------------------------------------------------------------------- */

/* How far coordinate x can move in the direction of the sign of y inside [0,1]. */
static double room(double x, double y)
{
    return y > 0 ? 1.0 - x : x;
}

/* The projection of v onto {z : ||z - x||_1 <= eps} ∩ [0,1]^n by bisection on the
 * soft-threshold level: z_i = x_i + sign(y_i) min(max(|y_i| - lambda, 0), room_i) with
 * y = v - x; G(lambda) = ||z(lambda) - x||_1 is non-increasing, so 200 halvings pin the level
 * to double precision. Independent of the library's breakpoint sweep. */
static void ref_l1_box(const float *v, const float *x, size_t n, double eps, double *z)
{
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++)
        hi = fmax(hi, fabs((double)v[i] - x[i]));
    for (int it = 0; it < 200; it++) {
        double lam = it == 0 ? 0 : 0.5 * (lo + hi), g = 0;
        for (size_t i = 0; i < n; i++) {
            double y = (double)v[i] - x[i];
            g += fmin(fmax(fabs(y) - lam, 0), room(x[i], y));
        }
        if (it == 0) {
            if (g <= eps) { /* the box alone is enough */
                hi = 0;
                break;
            }
            continue;
        }
        if (g > eps)
            lo = lam;
        else
            hi = lam;
    }
    for (size_t i = 0; i < n; i++) {
        double y = (double)v[i] - x[i], a = fmin(fmax(fabs(y) - hi, 0), room(x[i], y));
        z[i] = x[i] + (y > 0 ? a : -a);
    }
}

/* z in [0,1]^n and ||z - x||_1 <= eps, the sum taken in double as ti_norm_dist does. */
static int in_l1_box(const float *z, const float *x, size_t n, double eps)
{
    for (size_t i = 0; i < n; i++)
        if (!(z[i] >= 0.0f && z[i] <= 1.0f))
            return 0;
    return ti_norm_dist(TI_NORM_L1, z, x, n) <= eps;
}

/* The smallest ||delta||_1 with x + delta in [0,1]^D that lowers dw.x + c by m > 0: spend the
 * budget on the coordinates by |dw_i| descending (most margin per unit of L1 first), each up
 * to its room in the direction -sign(dw_i). Greedy is optimal for this fractional knapsack.
 * INFINITY if even the whole box cannot. */
static double l1_box_distance(const double *dw, const float *x, size_t D, double m)
{
    unsigned char *used = calloc(D, 1);
    ck_assert_ptr_nonnull(used);
    double dist = 0;
    while (m > 0) {
        size_t best = D;
        for (size_t i = 0; i < D; i++)
            if (!used[i] && dw[i] != 0 && (best == D || fabs(dw[i]) > fabs(dw[best])))
                best = i;
        if (best == D) {
            dist = INFINITY;
            break;
        }
        used[best] = 1;
        double cap = fabs(dw[best]) * room(x[best], -dw[best]); /* margin it can take off */
        if (cap >= m) {
            dist += m / fabs(dw[best]);
            m = 0;
        } else {
            dist += room(x[best], -dw[best]);
            m -= cap;
        }
    }
    free(used);
    return dist;
}

/* The inverse: the most margin an L1 budget t can take off inside the box. */
static double l1_box_reach(const double *dw, const float *x, size_t D, double t)
{
    unsigned char *used = calloc(D, 1);
    ck_assert_ptr_nonnull(used);
    double red = 0;
    while (t > 0) {
        size_t best = D;
        for (size_t i = 0; i < D; i++)
            if (!used[i] && dw[i] != 0 && (best == D || fabs(dw[i]) > fabs(dw[best])))
                best = i;
        if (best == D)
            break;
        used[best] = 1;
        double take = fmin(t, room(x[best], -dw[best]));
        red += take * fabs(dw[best]);
        t -= take;
    }
    free(used);
    return red;
}

/* The exact L1 robustness radius inside the box of a linear classifier W (M, D), b at (x, y):
 * the smallest box-aware distance to any pairwise boundary z_y = z_j. */
static double linear_l1_radius(const float *W, const float *b, int M, size_t D, const float *x,
                               int y)
{
    double *dw = malloc(D * sizeof *dw), best = INFINITY;
    ck_assert_ptr_nonnull(dw);
    for (int j = 0; j < M; j++) {
        if (j == y)
            continue;
        double m = (double)b[y] - b[j];
        for (size_t i = 0; i < D; i++) {
            dw[i] = (double)W[(size_t)y * D + i] - W[(size_t)j * D + i];
            m += dw[i] * x[i];
        }
        best = fmin(best, m <= 0 ? 0 : l1_box_distance(dw, x, D, m));
    }
    free(dw);
    return best;
}

static int predict(const ti_classifier *f, const float *x)
{
    float z[16];
    int p;
    ck_assert_int_le(f->M, 16);
    f->forward(f->self, x, 1, z);
    ti_argmax_rows(z, 1, f->M, &p);
    return p;
}

/* Every x_adv in ball and box; misclassified-at-clean points untouched. */
static void check_ball_box(const ti_classifier *f, float eps, const float *x, const int *y,
                           int N, const float *xa)
{
    size_t D = ti_classifier_dim(f);
    for (int i = 0; i < N; i++) {
        const float *a = xa + (size_t)i * D, *x0 = x + (size_t)i * D;
        ck_assert_msg(in_l1_box(a, x0, D, eps), "sample %d: ||x_adv - x||_1 = %.9g, eps %.9g", i,
                      ti_norm_dist(TI_NORM_L1, a, x0, D), (double)eps);
        if (predict(f, x0) != y[i])
            ck_assert(memcmp(a, x0, D * sizeof *a) == 0);
    }
}

/* ---- the projection ---------------------------------------------------------------------- */

/* A random case: x with some coordinates exactly on the faces (as pixels are), v = x + noise
 * of a random scale (often reaching far outside the box), eps from tiny to more than the box
 * allows; every 3rd case on a 1/8 grid so that breakpoints tie. */
static void draw_case(ti_rng *r, size_t n, float *x, float *v, float *eps)
{
    int grid = ti_rng_below(r, 3) == 0;
    float scale = (float[]){0.05f, 0.4f, 3.0f}[ti_rng_below(r, 3)];
    for (size_t i = 0; i < n; i++) {
        double u = ti_rng_double(r);
        x[i] = u < 0.2 ? 0.0f : u < 0.4 ? 1.0f : ti_rng_uniform(r, 0.0f, 1.0f);
        float d = ti_rng_uniform(r, -scale, scale);
        if (grid) {
            x[i] = floorf(x[i] * 8.0f) / 8.0f;
            d = roundf(d * 8.0f) / 8.0f;
        }
        v[i] = x[i] + d;
    }
    *eps = ti_rng_uniform(r, 0.0f, 1.0f) * (float)n * (ti_rng_below(r, 4) == 0 ? 1.0f : 0.2f);
}

/* Against the bisection reference: same point; in ball and box; on the sphere (to 1e-5)
 * whenever the box alone does not reach the ball; no feasible point nearer (the variational inequality
 * (v - z).(w - z) <= 0 for random feasible w); idempotent bit for bit; and coordinates do land
 * exactly on 0 and 1. */
START_TEST(test_proj_l1_box_optimal)
{
    enum { NMAX = 12, W_PER_CASE = 20 };
    ti_rng r;
    ti_rng_seed(&r, 2021);
    void *work = malloc(ti_proj_work_bytes(2 * NMAX));
    float x[NMAX], v[NMAX], z[NMAX], z2[NMAX], w[NMAX], eps;
    double zr[NMAX];
    int on_face = 0, on_sphere = 0;
    for (int trial = 0; trial < 4000; trial++) {
        size_t n = 1 + ti_rng_below(&r, NMAX);
        draw_case(&r, n, x, v, &eps);
        memcpy(z, v, sizeof z);
        ti_proj_l1_box(z, x, n, eps, work);
        ref_l1_box(v, x, n, eps, zr);
        ck_assert(in_l1_box(z, x, n, eps));
        for (size_t i = 0; i < n; i++) {
            ck_assert_msg(fabs(z[i] - zr[i]) <= 2e-6, "trial %d coordinate %zu: %.9g, reference %.9g",
                          trial, i, (double)z[i], zr[i]);
            on_face += z[i] != x[i] && (z[i] == 0.0f || z[i] == 1.0f);
        }
        double clip = 0; /* ||clip01(v) - x||_1: if above eps the ball must be active */
        for (size_t i = 0; i < n; i++)
            clip += fabs(fmin(fmax(v[i], 0.0), 1.0) - x[i]);
        if (clip > eps) {
            /* to rounding: half an ulp (<= 3e-8 below 1) per coordinate */
            ck_assert_double_ge(ti_norm_dist(TI_NORM_L1, z, x, n), eps * (1 - 1e-6) - 6e-8 * n);
            on_sphere++;
        }
        for (int k = 0; k < W_PER_CASE; k++) { /* w: a random point of the box pulled into the ball */
            for (size_t i = 0; i < n; i++)
                w[i] = ti_rng_uniform(&r, 0.0f, 1.0f);
            double d = ti_norm_dist(TI_NORM_L1, w, x, n), s = d > eps ? eps / d : 1.0;
            s *= ti_rng_double(&r) < 0.5 ? 1.0 : ti_rng_double(&r);
            double vi = 0;
            for (size_t i = 0; i < n; i++) {
                double wi = x[i] + s * ((double)w[i] - x[i]);
                vi += ((double)v[i] - z[i]) * (wi - z[i]);
            }
            ck_assert_msg(vi <= 1e-5, "trial %d: a feasible point is nearer (%.3g)", trial, vi);
        }
        memcpy(z2, z, sizeof z);
        ti_proj_l1_box(z2, x, n, eps, work);
        ck_assert(memcmp(z, z2, n * sizeof *z) == 0);
    }
    ck_assert_int_gt(on_face, 500);
    ck_assert_int_gt(on_sphere, 1500);
    free(work);
}
END_TEST

/* Image-sized vectors (1x28x28) on a 1/255 grid, many ties among the breakpoints. */
START_TEST(test_proj_l1_box_large)
{
    enum { n = 784 };
    ti_rng r;
    ti_rng_seed(&r, 7);
    void *work = malloc(ti_proj_work_bytes(2 * n));
    float *x = malloc(n * sizeof *x), *v = malloc(n * sizeof *v), *z = malloc(n * sizeof *z);
    double *zr = malloc(n * sizeof *zr);
    for (int trial = 0; trial < 30; trial++) {
        for (size_t i = 0; i < n; i++) {
            x[i] = (float)ti_rng_below(&r, 256) / 255.0f;
            v[i] = x[i] + (float)((int)ti_rng_below(&r, 121) - 60) / 255.0f * (trial % 3 + 1);
        }
        float eps = (float[]){0.5f, 5.0f, 20.0f}[trial % 3];
        memcpy(z, v, n * sizeof *z);
        ti_proj_l1_box(z, x, n, eps, work);
        ref_l1_box(v, x, n, eps, zr);
        ck_assert(in_l1_box(z, x, n, eps));
        /* on the sphere up to float rounding: one coordinate's ulp each, which on a grid can
         * all fall the same way */
        ck_assert_double_ge(ti_norm_dist(TI_NORM_L1, z, x, n), eps * (1 - 1e-5));
        for (size_t i = 0; i < n; i++)
            ck_assert_double_le(fabs(z[i] - zr[i]), 2e-6);
    }
    free(work);
    free(x);
    free(v);
    free(z);
    free(zr);
}
END_TEST

/* The intersection is not "project onto the ball, then clip": a worked case, and the limits. */
START_TEST(test_proj_l1_box_cases)
{
    void *work = malloc(ti_proj_work_bytes(2 * 4));
    /* x = (0.9, 0.5), v - x = (1.0, 0.3), eps = 0.5: the box caps the first move at 0.1, which
     * leaves 0.4 of budget for the second coordinate, so the projection is v clipped to the
     * box, (1.0, 0.8). The L1-ball projection keeps (0.5, 0) (threshold 0.5) and clipping
     * makes it (0.1, 0): a point 0.1 inside the ball and farther from v. */
    const float x[2] = {0.9f, 0.5f};
    float z[2] = {1.9f, 0.8f}, d[2] = {1.0f, 0.3f};
    ti_proj_l1_box(z, x, 2, 0.5f, work);
    ck_assert_float_eq(z[0], 1.0f);
    ck_assert_float_eq_tol(z[1], 0.8f, 1e-7f);
    ti_proj_ball(TI_NORM_L1, d, 2, 0.5f, work);
    float c[2] = {fminf(x[0] + d[0], 1.0f), fminf(x[1] + d[1], 1.0f)};
    ck_assert_float_eq_tol(c[0], 1.0f, 1e-7f);
    ck_assert_float_eq_tol(c[1], 0.5f, 1e-7f);
    double dz = hypot(1.9 - z[0], 0.8 - z[1]), dc = hypot(1.9 - c[0], 0.8 - c[1]);
    ck_assert_double_lt(dz, dc - 0.01);
    /* the same with the ball binding: x = (0.9, 0.5), v - x = (1.0, 0.6), eps = 0.5: the
     * first coordinate saturates (0.1), the second gets the remaining 0.4 */
    float z2[2] = {1.9f, 1.1f};
    ti_proj_l1_box(z2, x, 2, 0.5f, work);
    ck_assert_float_eq(z2[0], 1.0f);
    ck_assert_float_eq_tol(z2[1], 0.9f, 1e-6f);
    /* eps = 0 gives x; a point of the set is left bit for bit; coordinates whose face is
     * already reached cannot move; NaN goes back to x */
    const float x4[4] = {0.0f, 1.0f, 0.25f, 0.5f};
    float a[4] = {-0.5f, 1.5f, 0.5f, 0.0f};
    ti_proj_l1_box(a, x4, 4, 0.0f, work);
    ck_assert(memcmp(a, x4, sizeof a) == 0);
    float in[4] = {0.125f, 0.875f, 0.25f, 0.5f}, keep[4];
    memcpy(keep, in, sizeof in);
    ti_proj_l1_box(in, x4, 4, 0.25f, work);
    ck_assert(memcmp(in, keep, sizeof in) == 0);
    float out[4] = {-3.0f, 4.0f, 0.25f, NAN};
    ti_proj_l1_box(out, x4, 4, 1.0f, work);
    ck_assert(memcmp(out, x4, sizeof out) == 0);
    float one[1] = {0.2f};
    const float x1[1] = {0.7f};
    ti_proj_l1_box(one, x1, 1, 0.125f, work);
    ck_assert_float_eq_tol(one[0], 0.575f, 1e-7f);
    free(work);
}
END_TEST

/* ---- APGD at L1 on 2-class linear models -------------------------------------------------- */

/* A 2-class model from tu_two_class whose point x (label y) is at exactly box-aware L1
 * distance t from the boundary: b[0] is reset so that the margin is what a budget t can take
 * off. faces > 0: the `faces` coordinates of largest |w_y - w_j| are first moved next to the
 * face they would be pushed through (the first exactly onto it), so that the box binds and
 * the attack must spend its budget elsewhere. Returns the distance the reference computes
 * (== t), and checks it against tu_two_class_distance (the same without a box). */
static double two_class_at(ti_rng *r, size_t D, int label, int faces, double t, float *W,
                           float *b, float *x, int *y)
{
    tu_two_class(r, D, label, W, b, x, y);
    int j = 1 - *y;
    double *dw = malloc(D * sizeof *dw);
    ck_assert_ptr_nonnull(dw);
    for (size_t i = 0; i < D; i++)
        dw[i] = (double)W[(size_t)*y * D + i] - W[(size_t)j * D + i];
    for (int f = 0; f < faces; f++) {
        size_t best = D;
        for (size_t i = 0; i < D; i++)
            if (room(x[i], -dw[i]) > 0.3 && (best == D || fabs(dw[i]) > fabs(dw[best])))
                best = i;
        float gap = 0.05f * (float)f; /* 0, 0.05, 0.1, ... from the face */
        x[best] = dw[best] > 0 ? gap : 1.0f - gap;
    }
    double m = l1_box_reach(dw, x, D, t), base = 0;
    for (size_t i = 0; i < D; i++)
        base += (double)(W[i] - W[D + i]) * x[i];
    /* margin z_y - z_j = m: z_0 - z_1 = base + b0 */
    b[1] = 0.0f;
    b[0] = (float)(*y == 0 ? m - base : -m - base);
    double margin = (*y == 0 ? 1 : -1) * (base + b[0]);
    double dist = l1_box_distance(dw, x, D, margin);
    double free_dist = tu_two_class_distance(TI_NORM_L1, D, W, b, x, *y);
    ck_assert_double_ge(dist, free_dist * (1 - 1e-9));
    if (faces == 0 && t < 0.35) /* x in [0.35, 0.65]: the box cannot bind */
        ck_assert_double_eq_tol(dist, free_dist, 1e-9 * (1 + free_dist));
    free(dw);
    return dist;
}

/* APGD-CE at L1 fools every point at L1 distance (box-aware) up to 0.6 eps and none beyond
 * eps, with the box binding or not. (Between 0.6 eps and eps it fools most but not all: with
 * k = 2 coordinates left, a step that moves both by the same amount is a fixed point of
 * step + projection for any split of the budget between them, so L1-APGD is not exact on
 * linear models.) Also the ball and the box, and that both labels are attacked. */
START_TEST(test_apgd_l1_two_class)
{
    enum { D = 16 };
    const double ratio[6] = {0.2, 0.4, 0.6, 1.05, 1.3, 2.0};
    const float epss[2] = {0.5f, 1.5f};
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_rng r;
    ti_rng_seed(&r, 31);
    float W[2 * D], b[2], x[D], xa[D];
    int y, fooled = 0, cases = 0;
    for (int e = 0; e < 2; e++)
        for (int faces = 0; faces <= 3; faces += 3)
            for (int k = 0; k < 6; k++)
                for (int rep = 0; rep < 12; rep++) {
                    float eps = epss[e];
                    double dist = two_class_at(&r, D, rep % 2, faces, ratio[k] * eps, W, b, x, &y);
                    ck_assert_double_eq_tol(dist, ratio[k] * eps, 1e-5 * eps);
                    ti_linear_classifier lc;
                    ti_linear_classifier_init(&lc, W, b, 2, 1, 4, 4);
                    ck_assert_int_eq(predict(&lc.base, x), y);
                    ti_apgd_params p = ti_apgd_params_default();
                    p.norm = TI_NORM_L1;
                    p.eps = eps;
                    p.seed = (uint64_t)rep;
                    ck_assert_int_eq(ti_atk_apgd(ctx, &lc.base, &p, x, &y, 1, xa, NULL), TI_OK);
                    check_ball_box(&lc.base, eps, x, &y, 1, xa);
                    int f = predict(&lc.base, xa) != y;
                    if (ratio[k] <= 0.6)
                        ck_assert_msg(f, "eps %g, faces %d: a point at %.3g eps was not fooled",
                                      (double)eps, faces, ratio[k]);
                    else
                        ck_assert_msg(!f, "a point at %.3g eps was fooled", ratio[k]);
                    fooled += f;
                    cases++;
                }
    ck_assert_int_eq(fooled, cases / 2);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- APGD-CE, APGD-DLR, APGD-T at L1 on a 10-class linear model -------------------------- */

typedef struct lin10 {
    float W[10 * 64], b[10];
    ti_linear_classifier lc;
} lin10;

/* A 10-class linear model on 1x8x8 inputs and N points: pixels uniform, a quarter of them on
 * the faces; labels the clean prediction except every 5th (misclassified at clean). */
static void lin10_make(lin10 *m, uint64_t seed, int N, float *x, int *y)
{
    ti_rng r;
    ti_rng_seed(&r, seed);
    tu_fill(&r, m->W, 10 * 64, -1.0f, 1.0f);
    tu_fill(&r, m->b, 10, -0.5f, 0.5f);
    ti_linear_classifier_init(&m->lc, m->W, m->b, 10, 1, 8, 8);
    for (int i = 0; i < N * 64; i++) {
        double u = ti_rng_double(&r);
        x[i] = u < 0.125 ? 0.0f : u < 0.25 ? 1.0f : ti_rng_uniform(&r, 0.0f, 1.0f);
    }
    for (int i = 0; i < N; i++) {
        y[i] = predict(&m->lc.base, x + i * 64);
        if (i % 5 == 0)
            y[i] = (y[i] + 1) % 10;
    }
}

/* On every clean-correct point: no attack fools a point whose exact radius exceeds eps; the
 * union of APGD-CE, APGD-DLR and APGD-T fools every point whose radius is at most 0.6 eps, and
 * APGD-T alone (9 targets: every class) does too. Ball, box, untouched misclassified points. */
START_TEST(test_apgd_l1_multiclass)
{
    enum { N = 60 };
    static lin10 m;
    static float x[N * 64], xc[N * 64], xd[N * 64], xt[N * 64];
    int y[N];
    ti_ctx *ctx = ti_ctx_new(1, 1);
    int below = 0, beyond = 0;
    for (int model = 0; model < 3; model++) {
        lin10_make(&m, 500 + model, N, x, y);
        double rad[N];
        for (int i = 0; i < N; i++)
            rad[i] = linear_l1_radius(m.W, m.b, 10, 64, x + i * 64, y[i]);
        /* eps near the median radius: points on both sides */
        double sorted[N];
        memcpy(sorted, rad, sizeof rad);
        for (int i = 1; i < N; i++)
            for (int k = i; k > 0 && sorted[k] < sorted[k - 1]; k--) {
                double t = sorted[k];
                sorted[k] = sorted[k - 1];
                sorted[k - 1] = t;
            }
        float eps = (float)sorted[N / 2];
        ti_apgd_params p = ti_apgd_params_default();
        p.norm = TI_NORM_L1;
        p.eps = eps;
        ck_assert_int_eq(ti_atk_apgd(ctx, &m.lc.base, &p, x, y, N, xc, NULL), TI_OK);
        p.loss = TI_LOSS_DLR;
        ck_assert_int_eq(ti_atk_apgd(ctx, &m.lc.base, &p, x, y, N, xd, NULL), TI_OK);
        ck_assert_int_eq(ti_atk_apgd_targeted(ctx, &m.lc.base, &p, x, y, N, xt, NULL), TI_OK);
        check_ball_box(&m.lc.base, eps, x, y, N, xc);
        check_ball_box(&m.lc.base, eps, x, y, N, xd);
        check_ball_box(&m.lc.base, eps, x, y, N, xt);
        for (int i = 0; i < N; i++) {
            if (predict(&m.lc.base, x + i * 64) != y[i])
                continue;
            int fc = predict(&m.lc.base, xc + i * 64) != y[i];
            int fd = predict(&m.lc.base, xd + i * 64) != y[i];
            int ft = predict(&m.lc.base, xt + i * 64) != y[i];
            if (rad[i] > eps * 1.0001) {
                ck_assert_msg(!fc && !fd && !ft, "a point of radius %.4g > eps %.4g was fooled",
                              rad[i], (double)eps);
                beyond++;
            }
            if (rad[i] <= 0.6 * eps) {
                ck_assert_msg(ft, "model %d sample %d: radius %.3g eps, APGD-T failed", model, i,
                              rad[i] / eps);
                ck_assert(fc || fd || ft);
                below++;
            }
        }
    }
    ck_assert_int_gt(below, 20);
    ck_assert_int_gt(beyond, 20);
    ti_ctx_free(ctx);
}
END_TEST

/* The L1 step schedule on a point the attack cannot fool (it runs to the end): the first step
 * is eps; the step changes only at the checkpoints every 4 iterations, either back to eps or
 * down by 1.5, and stays in [eps/10, eps]; it does shrink; the best loss never decreases and
 * bounds every loss; n_iter + 1 gradients per attacked point. */
START_TEST(test_apgd_l1_schedule)
{
    enum { N = 10 };
    static lin10 m;
    static float x[N * 64], xa[N * 64];
    int y[N];
    float best[101], eta[100], loss[100];
    lin10_make(&m, 77, N, x, y);
    /* sample 0 is mislabelled: sample 1 is the first attacked one, whose run is traced */
    double rad1 = linear_l1_radius(m.W, m.b, 10, 64, x + 64, y[1]);
    ck_assert_int_eq(predict(&m.lc.base, x + 64), y[1]);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_apgd_params p = ti_apgd_params_default();
    p.norm = TI_NORM_L1;
    p.eps = (float)(0.5 * rad1);
    p.loss = TI_LOSS_DLR;
    p.trace_best = best;
    p.trace_eta = eta;
    p.trace_loss = loss;
    ti_atk_stats st = {0, 0};
    ck_assert_int_eq(ti_atk_apgd(ctx, &m.lc.base, &p, x, y, N, xa, &st), TI_OK);
    ck_assert_int_eq(st.backwards, (long)(N - 2) * (p.n_iter + 1)); /* samples 0, 5 mislabelled */
    ck_assert(memcmp(xa + 64, x + 64, 64 * sizeof *x) == 0); /* sample 1: not fooled */
    ck_assert_float_eq(eta[0], p.eps);
    /* the first checkpoint (after iteration 4) compares the best point's sparsity with d = 64:
     * a start on the sphere plus 4 steps of 13 coordinates is sparser than 0.95 d, so the
     * step goes back to eps (and not down to eps/1.5) */
    ck_assert_float_eq(eta[4], p.eps);
    int shrunk = 0;
    for (int i = 1; i < 100; i++) {
        ck_assert(eta[i] >= p.eps / 10 && eta[i] <= p.eps);
        if (eta[i] != eta[i - 1]) {
            ck_assert_int_eq(i % 4, 0);
            ck_assert(eta[i] == p.eps || eta[i] == fmaxf(eta[i - 1] / 1.5f, p.eps / 10));
        }
        shrunk |= eta[i] < eta[i - 1];
        ck_assert(best[i + 1] >= best[i]);
        ck_assert(loss[i] <= best[i + 1]);
    }
    ck_assert(shrunk);
    check_ball_box(&m.lc.base, p.eps, x, y, N, xa);
    ti_ctx_free(ctx);
}
END_TEST

/* Same seed: same bits (APGD-CE, APGD-DLR, APGD-T); another seed: another random start. */
START_TEST(test_apgd_l1_determinism)
{
    enum { N = 12 };
    static lin10 m;
    static float x[N * 64], a1[N * 64], a2[N * 64];
    int y[N];
    lin10_make(&m, 91, N, x, y);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_apgd_params p = ti_apgd_params_default();
    p.norm = TI_NORM_L1;
    p.eps = 2.0f;
    p.n_iter = 20;
    p.n_target_classes = 3;
    for (int l = 0; l < 3; l++) {
        p.loss = l == 1 ? TI_LOSS_DLR : TI_LOSS_CE;
        if (l < 2) {
            ck_assert_int_eq(ti_atk_apgd(ctx, &m.lc.base, &p, x, y, N, a1, NULL), TI_OK);
            ck_assert_int_eq(ti_atk_apgd(ctx, &m.lc.base, &p, x, y, N, a2, NULL), TI_OK);
        } else {
            ck_assert_int_eq(ti_atk_apgd_targeted(ctx, &m.lc.base, &p, x, y, N, a1, NULL), TI_OK);
            ck_assert_int_eq(ti_atk_apgd_targeted(ctx, &m.lc.base, &p, x, y, N, a2, NULL), TI_OK);
        }
        ck_assert(memcmp(a1, a2, sizeof a1) == 0);
    }
    /* one iteration from a huge budget: x_adv is close to the random start, which the seed
     * sets; some attacked sample must differ */
    p.loss = TI_LOSS_CE;
    p.n_iter = 1;
    p.eps = 20.0f;
    ck_assert_int_eq(ti_atk_apgd(ctx, &m.lc.base, &p, x, y, N, a1, NULL), TI_OK);
    p.seed = 1;
    ck_assert_int_eq(ti_atk_apgd(ctx, &m.lc.base, &p, x, y, N, a2, NULL), TI_OK);
    int differ = 0;
    for (int i = 1; i < N; i++)
        if (i % 5 && predict(&m.lc.base, a1 + i * 64) != y[i])
            differ |= memcmp(a1 + i * 64, a2 + i * 64, 64 * sizeof *a1) != 0;
    ck_assert(differ);
    ti_ctx_free(ctx);
}
END_TEST

/* The ensemble runs lists of APGD attacks at L1 (the final check passes every example) and
 * refuses lists with an attack that has no L1 version here, such as "standard". */
START_TEST(test_apgd_l1_ensemble)
{
    enum { N = 20 };
    static lin10 m;
    static float x[N * 64], xa[N * 64];
    int y[N];
    lin10_make(&m, 123, N, x, y);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_aa_params ap;
    ck_assert_int_eq(ti_aa_params_version(ctx, "apgd-ce,apgd-t", TI_NORM_L1, 1.0f, &ap), TI_OK);
    ap.apgd_t.n_target_classes = 3;
    ti_eval *res;
    ti_eval_summary sum;
    ck_assert_int_eq(tu_aa_run(ctx, &m.lc.base, &ap, x, y, N, 250, xa, &res, &sum), TI_OK);
    ck_assert_int_eq(res->n_check_failed, 0);
    ck_assert(sum.robust_acc[1] < sum.clean_acc);
    check_ball_box(&m.lc.base, 1.0f, x, y, N, xa);
    for (int i = 0; i < N; i++)
        if (res->samples[i].attack >= 0)
            ck_assert_int_ne(predict(&m.lc.base, xa + i * 64), y[i]);
    ti_eval_free(res);
    ck_assert_int_eq(ti_aa_params_version(ctx, "standard", TI_NORM_L1, 1.0f, &ap), TI_OK);
    ck_assert_int_eq(tu_aa_run(ctx, &m.lc.base, &ap, x, y, N, 250, xa, &res, NULL),
                     TI_ERR_UNSUPPORTED);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "l1"));
    ti_eval_free(res);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_apgd_l1(void)
{
    Suite *s = suite_create("apgd_l1");
    TCase *tc = tcase_create("projection");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_proj_l1_box_optimal);
    tcase_add_test(tc, test_proj_l1_box_large);
    tcase_add_test(tc, test_proj_l1_box_cases);
    suite_add_tcase(s, tc);
    tc = tcase_create("attack");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_apgd_l1_two_class);
    tcase_add_test(tc, test_apgd_l1_multiclass);
    tcase_add_test(tc, test_apgd_l1_schedule);
    tcase_add_test(tc, test_apgd_l1_determinism);
    tcase_add_test(tc, test_apgd_l1_ensemble);
    suite_add_tcase(s, tc);
    return s;
}
