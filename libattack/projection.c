/* Every projection of libattack but FAB's: onto the threat sets around a clean point x that
 * the attacks step in (L-inf exact; L2 as AutoAttack does it, scale then clip; L1 exact onto
 * the L1 ball intersected with the box [0,1]^n, Croce & Hein, "Mind the box", ICML 2021, for
 * L1-APGD), onto norm balls at 0 for FMN's delta (L-inf, L2, L1 by Duchi et al. ICML 2008, L0
 * by top-k), and the O(n) radix sort of non-negative float keys that they and FAB's projection
 * share. Derivations: docs/attacks.md#conventions and #l1-apgd-norm--ti_norm_l1, docs/fmn.md. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"
#include "thinice/projection.h"

size_t ti_proj_work_bytes(size_t n)
{
    /* two key arrays and two index arrays (the radix sort's ping-pong buffers), then the
     * keys and indices that the L1 and L0 projections sort: 32-bit words each */
    return 6 * (n + 1) * sizeof(uint32_t);
}

static uint32_t key_bits(float v)
{
    uint32_t u;
    if (!(v > 0.0f)) /* -0, +0 (and NaN, which callers must not pass) sort as 0 */
        v = 0.0f;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* LSD radix sort, 4 passes of 8 bits; a pass whose byte is the same for every key is skipped
 * (frequent: keys in [0,1] share their top byte). Stable, so ties keep their input order. */
void ti_proj_sort_pairs(float *key, uint32_t *idx, size_t n, void *work)
{
    if (n < 2)
        return;
    uint32_t *ka = work, *ia = ka + n, *kb = ia + n, *ib = kb + n;
    for (size_t i = 0; i < n; i++) {
        ka[i] = key_bits(key[i]);
        ia[i] = idx[i];
    }
    for (int shift = 0; shift < 32; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[((ka[i] >> shift) & 255u) + 1]++;
        if (count[((ka[0] >> shift) & 255u) + 1] == n)
            continue; /* every key has the same byte here */
        for (int b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++) {
            size_t pos = count[(ka[i] >> shift) & 255u]++;
            kb[pos] = ka[i];
            ib[pos] = ia[i];
        }
        uint32_t *t = ka; ka = kb; kb = t;
        t = ia; ia = ib; ib = t;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(&key[i], &ka[i], sizeof(float));
        idx[i] = ia[i];
    }
}

static void proj_linf(float *delta, size_t n, float eps)
{
    for (size_t i = 0; i < n; i++)
        delta[i] = delta[i] > eps ? eps : (delta[i] < -eps ? -eps : delta[i]);
}

static void proj_l2(float *delta, size_t n, float eps)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)delta[i] * delta[i];
    double nrm = sqrt(s);
    if (nrm <= eps)
        return;
    float scale = (float)(eps / nrm);
    for (size_t i = 0; i < n; i++)
        delta[i] *= scale;
}

/* Duchi et al. 2008, Fig. 1: with mu = |delta| sorted descending, rho is the largest j with
 * mu_j > (sum_{k<=j} mu_k - eps) / j, theta = (sum_{k<=rho} mu_k - eps) / rho, and the
 * projection soft-thresholds |delta| by theta (keeping signs). */
static void proj_l1(float *delta, size_t n, float eps, void *work)
{
    double l1 = 0;
    for (size_t i = 0; i < n; i++)
        l1 += fabs((double)delta[i]);
    if (l1 <= eps)
        return;
    if (eps <= 0) {
        memset(delta, 0, n * sizeof *delta);
        return;
    }
    /* the sort buffers follow the radix sort's own scratch in work */
    float *mu = (float *)((uint32_t *)work + 4 * (n + 1));
    uint32_t *idx = (uint32_t *)(mu + n);
    for (size_t i = 0; i < n; i++) {
        mu[i] = fabsf(delta[i]);
        idx[i] = (uint32_t)i;
    }
    ti_proj_sort_pairs(mu, idx, n, work); /* ascending: walk it from the end */
    double cum = 0, theta = 0;
    for (size_t j = 1; j <= n; j++) {
        double m = mu[n - j];
        cum += m;
        double th = (cum - eps) / (double)j;
        if (m > th)
            theta = th; /* the condition holds for j = 1..rho and fails after */
        else
            break;
    }
    for (size_t i = 0; i < n; i++) {
        double a = fabs((double)delta[i]) - theta;
        delta[i] = a > 0 ? copysignf((float)a, delta[i]) : 0.0f;
    }
}

static void proj_l0(float *delta, size_t n, float eps, void *work)
{
    size_t k = eps >= 1.0f ? (size_t)floorf(eps) : 0;
    if (k == 0 || k >= n)
        return; /* k = 0: the authors' threshold is the smallest |delta_i|: nothing goes */
    float *mu = (float *)((uint32_t *)work + 4 * (n + 1));
    uint32_t *idx = (uint32_t *)(mu + n);
    for (size_t i = 0; i < n; i++) {
        mu[i] = fabsf(delta[i]);
        idx[i] = (uint32_t)i;
    }
    ti_proj_sort_pairs(mu, idx, n, work);
    float thr = mu[n - k]; /* the k-th largest magnitude */
    for (size_t i = 0; i < n; i++)
        if (fabsf(delta[i]) < thr)
            delta[i] = 0.0f;
}

void ti_proj_ball(ti_norm p, float *delta, size_t n, float eps, void *work)
{
    if (p != TI_NORM_L0 && !(eps > 0))
        eps = 0;
    switch (p) {
    case TI_NORM_LINF: proj_linf(delta, n, eps); break;
    case TI_NORM_L2: proj_l2(delta, n, eps); break;
    case TI_NORM_L1: proj_l1(delta, n, eps, work); break;
    case TI_NORM_L0: proj_l0(delta, n, eps, work); break;
    default: assert(!"ti_proj_ball: unknown norm");
    }
}

/* ---- the L-inf and L2 threat sets around x, exact in float (internal.h) ----------------- */

void ti__proj_linf(float *xa, const float *x, float eps, size_t D)
{
    for (size_t i = 0; i < D; i++) {
        float v = ti__clampf(xa[i], ti__within(x[i], -eps), ti__within(x[i], eps));
        xa[i] = ti__clampf(v, 0.0f, 1.0f);
    }
}

void ti__linf_bounds(float *lo, float *hi, const float *x, float eps, size_t D)
{
    for (size_t i = 0; i < D; i++) {
        lo[i] = ti__clampf(ti__within(x[i], -eps), 0.0f, 1.0f);
        hi[i] = ti__clampf(ti__within(x[i], eps), 0.0f, 1.0f);
    }
}

void ti__proj_l2(float *xa, const float *x, float eps, size_t D)
{
    double s = 0;
    for (size_t i = 0; i < D; i++) {
        double d = (double)xa[i] - x[i];
        s += d * d;
    }
    float nrm = (float)sqrt(s);
    float scale = (nrm < eps ? nrm : eps) / (nrm + 1e-12f);
    for (size_t i = 0; i < D; i++)
        xa[i] = ti__clampf(x[i] + (xa[i] - x[i]) * scale, 0.0f, 1.0f);
    ti__fit_l2(xa, x, eps, D);
}

void ti__fit_l2(float *xa, const float *x, float eps, size_t D)
{
    /* shrink by the measured excess plus a margin that doubles, in case rounding bites
     * again; x and xa are in the box, so every point between them is too */
    for (int tries = 0; tries < 16; tries++) {
        double n = ti_norm_dist(TI_NORM_L2, xa, x, D);
        if (n <= (double)eps)
            return;
        float k = (float)((double)eps / n * (1.0 - 1e-7 * (double)(1 << tries)));
        for (size_t i = 0; i < D; i++)
            xa[i] = x[i] + (xa[i] - x[i]) * k;
    }
    memcpy(xa, x, D * sizeof *xa); /* unreachable in practice: the clean point is inside */
}

/* ---- the L1 ball ∩ box ------------------------------------------------------------------ */

/* The room of the box from x in the direction of y: how far coordinate i can move. */
static double box_room(float x, double y)
{
    double r = y > 0 ? 1.0 - (double)x : (double)x;
    return r > 0 ? r : 0;
}

/* The soft-threshold level lambda > 0 at which G(lambda) = sum_i min(max(a_i - lambda, 0), r_i)
 * equals eps, given G(0) > eps (a_i = |xa_i - x_i|, r_i = box_room). G is continuous,
 * piecewise linear and non-increasing; walking lambda down from max a_i, coordinate i starts
 * to move at lambda = a_i (the slope steepens by 1) and reaches its face at lambda = a_i - r_i
 * (the slope flattens by 1). The breakpoints are sorted once (radix sort, O(n)); the segment
 * where G crosses eps gives lambda by linear interpolation. */
static double l1box_level(const float *xa, const float *x, size_t n, double eps, void *work)
{
    size_t n2 = 2 * n;
    uint32_t *scratch = work; /* the radix sort's own 4 (n2 + 1) words come first */
    float *key = (float *)(scratch + 4 * (n2 + 1));
    uint32_t *code = (uint32_t *)(key + n2); /* i: starts to move; n + i: reaches its face */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double y = (double)xa[i] - x[i], a = fabs(y), sat = a - box_room(x[i], y);
        if (!(a > 0)) /* also skips NaN: such a coordinate stays at x */
            continue;
        key[m] = (float)a;
        code[m++] = (uint32_t)i;
        if (sat > 0) {
            key[m] = (float)sat;
            code[m++] = (uint32_t)(n + i);
        }
    }
    if (m == 0)
        return 0;
    ti_proj_sort_pairs(key, code, m, scratch); /* ascending: walk it from the end */
    double g = 0, lam = key[m - 1];
    long act = 0; /* coordinates strictly between 0 and their face on the current segment */
    for (size_t j = m; j-- > 0;) {
        double next = key[j], gn = g + (double)act * (lam - next);
        if (gn >= eps) /* g < eps <= gn: act > 0, the crossing is on this segment */
            return lam - (eps - g) / (double)act;
        g = gn;
        lam = next;
        act += code[j] < n ? 1 : -1;
    }
    /* the last segment, down to lambda = 0, where G(0) > eps (up to the rounding of the keys
     * to float, which l1box_refine corrects) */
    double l = act > 0 ? lam - (eps - g) / (double)act : 0;
    return l > 0 ? l : 0;
}

/* G and its slope at lam, in double: lam moves by the error over the slope (G is linear
 * between breakpoints). The sweep's level comes from breakpoints rounded to float; two such
 * steps make it exact in double, so the result sits on the sphere to rounding (one ulp per
 * coordinate) instead of a few 1e-7 of eps inside. A step that makes |G - eps| worse (a
 * breakpoint crossed) is not taken. */
static double l1box_refine(const float *xa, const float *x, size_t n, double eps, double lam)
{
    double err_best = INFINITY, lam_best = lam;
    for (int pass = 0; pass < 3; pass++) {
        double g = 0;
        long act = 0;
        for (size_t i = 0; i < n; i++) {
            double y = (double)xa[i] - x[i], d = fabs(y) - lam, r = box_room(x[i], y);
            if (!(d > 0))
                continue;
            if (d >= r) {
                g += r;
            } else {
                g += d;
                act++;
            }
        }
        if (fabs(g - eps) >= err_best)
            break;
        err_best = fabs(g - eps);
        lam_best = lam;
        if (act == 0)
            break;
        double next = lam + (g - eps) / (double)act;
        lam = next > 0 ? next : 0;
    }
    return lam_best;
}

static float clip01(float v)
{
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

/* x + (y shrunk to magnitude a >= 0), rounded towards x so that |z - x| <= a exactly, in the
 * box because a never exceeds the room. */
static float toward(float x, double y, double a)
{
    float z = (float)((double)x + (y > 0 ? a : -a));
    if (fabs((double)z - x) > a)
        z = nextafterf(z, x);
    return clip01(z);
}

/* Makes sum_i |z_i - x_i| (in double, in index order, as ti_norm_dist) at most eps: float
 * rounding can leave it a few ulps above; the excess comes off the largest move. Rarely runs
 * more than its first measuring pass. */
static void l1box_fit(float *z, const float *x, size_t n, double eps)
{
    for (int pass = 0; pass < 16; pass++) {
        double s = 0, big = -1;
        size_t ib = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)z[i] - x[i]);
            s += d;
            if (d > big) {
                big = d;
                ib = i;
            }
        }
        if (s <= eps)
            return;
        double want = big - (s - eps);
        z[ib] = toward(x[ib], (double)z[ib] - x[ib], want > 0 ? want : 0);
    }
}

void ti_proj_l1_box(float *xa, const float *x, size_t n, float eps, void *work)
{
    if (!(eps > 0)) {
        memcpy(xa, x, n * sizeof *xa);
        return;
    }
    /* lambda = 0 (only the box acts) if that already lands in the ball */
    double g0 = 0;
    for (size_t i = 0; i < n; i++) {
        double y = (double)xa[i] - x[i], a = fabs(y), r = box_room(x[i], y);
        if (a > 0) /* NaN coordinates go back to x, here and below */
            g0 += a < r ? a : r;
    }
    if (!(g0 > eps)) { /* clip to the box: exact, in the ball */
        for (size_t i = 0; i < n; i++)
            xa[i] = isnan(xa[i]) ? x[i] : clip01(xa[i]);
        return;
    }
    double lam = l1box_refine(xa, x, n, eps, l1box_level(xa, x, n, eps, work));
    float *v = work; /* the sort is done: keep the input there */
    memcpy(v, xa, n * sizeof *v);
    for (int pass = 0; pass < 3; pass++) {
        /* nearest floats; when their rounding errors add up above eps (they can all fall the
         * same way on a grid of pixel values), raise lam by the excess over the moving
         * coordinates and round again, so that no single coordinate takes the correction */
        double sum = 0;
        long act = 0;
        for (size_t i = 0; i < n; i++) {
            double y = (double)v[i] - x[i], a = fabs(y) - lam, r = box_room(x[i], y);
            float z = x[i];
            if (a > 0 && r > 0) {
                act += a < r;
                double d = a < r ? a : r;
                z = clip01((float)((double)x[i] + (y > 0 ? d : -d)));
            }
            xa[i] = z;
            sum += fabs((double)z - x[i]);
        }
        if (sum <= eps || act == 0)
            break;
        lam += (sum - eps) / (double)act;
    }
    l1box_fit(xa, x, n, eps); /* what rounding still left above eps comes off */
}
