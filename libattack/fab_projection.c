/* FAB's projection onto hyperplane-and-box: the smallest ||d||_p (p = inf, 2, 1) with
 * <w, t + d> = b and t + d in [0,1]^D (Croce & Hein, ICML 2020, Sec. 3.1; AutoAttack's
 * fab_projections). Each norm reduces to a 1-D monotone equation solved by one sorted sweep
 * over the saturation breakpoints; docs/fab.md has the derivation. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "thinice/fab.h"
#include "thinice/projection.h"

size_t ti_fab_project_work_bytes(size_t D)
{
    /* radix scratch, one key and one index array, then L-inf's caps */
    return ti_proj_work_bytes(D) + D * sizeof(float);
}

/* After the sign normalisation every usable coordinate i moves in the direction s_i that
 * lowers <w, t + d> (s_i = -sign(w_i), w already multiplied by sgn), by at most its
 * capacity cap_i (the distance to the box face in that direction). */
static inline float dir_of(float w, float sgn) { return w * sgn > 0 ? -1.0f : 1.0f; }
static inline float cap_of(float t, float dir) { return dir < 0 ? t : 1.0f - t; }

/* cap_of(t, dir_of(w, sgn)) selected by bit operations: in the scalar loops below, a
 * compiler left to itself branches on the sign of w, which is random from one coordinate to
 * the next, and the mispredictions cost more than the rest of the loop. */
static inline float cap_toward(float t, float w, float sgn)
{
    float up = 1.0f - t;
    uint32_t a, b, m = 0u - (uint32_t)(w * sgn > 0);
    memcpy(&a, &t, sizeof a);
    memcpy(&b, &up, sizeof b);
    b ^= (a ^ b) & m;
    memcpy(&up, &b, sizeof up);
    return up;
}

/* Infeasible or exactly tight: every usable coordinate goes to its face. */
static void vertex(const float *t, const float *w, size_t D, float sgn, float wmin, float *d)
{
    for (size_t i = 0; i < D; i++) {
        if (fabsf(w[i]) > wmin) {
            float s = dir_of(w[i], sgn);
            d[i] = s * cap_of(t[i], s);
        } else {
            d[i] = 0.0f;
        }
    }
}

/* L-inf: d_i(l) = s_i min(l, cap_i); G(l) = sum |w_i| min(l, cap_i) = c. Sweep the caps in
 * ascending order; while l would pass the next cap, that coordinate saturates.
 * Only the caps the sweep passes need sorting, and it passes a cap only if the level l it
 * has reached is above it. So the caps are sorted in slices: first those up to l0 = c / w1
 * (the level with nothing saturated, a lower bound of every later level); when the sweep has
 * passed them all, those up to its new level, and so on (after SLICES_MAX slices, all the
 * rest). Each slice holds larger caps than the one before, and the stable sort keeps index
 * order among equal caps, so the slices concatenate to the order one full sort gives and
 * the sums, hence the level, are the same bits; but only the saturated caps (a few percent
 * of an image's pixels, usually) are sorted. w1 and capmin: ti_fab_project's first pass. */
#define SLICES_MAX 4

/* The largest float <= x: for a float v, (double)v > x exactly when v > below_or_at(x), and
 * (double)v <= x exactly when v <= below_or_at(x). */
static float below_or_at(double x)
{
    float f = (float)x;
    return (double)f > x ? nextafterf(f, -INFINITY) : f;
}

/* The pass that opens the sweep: each coordinate's cap into caps (-1 if it cannot move: w_i
 * = 0 or no room), the sum of the usable |w_i| and their count, and the first slice (the
 * caps up to hi_f, in index order) into key and idx. Returns the slice's size. */
static size_t first_slice(const float *t, const float *w, size_t D, float sgn, float hi_f,
                          float *caps, float *key, uint32_t *idx, double *wrem, size_t *usable)
{
    size_t n = 0;
    for (size_t i = 0; i < D; i++) {
        float cp = cap_toward(t[i], w[i], sgn);
        int ok = w[i] != 0.0f && cp > 0.0f; /* a zero-capacity coordinate can never help */
        caps[i] = ok ? cp : -1.0f;
        if (ok) {
            *wrem += fabsf(w[i]);
            ++*usable;
            if (cp <= hi_f) {
                key[n] = cp;
                idx[n++] = (uint32_t)i;
            }
        }
    }
    return n;
}

/* A later slice: the caps in (lo_f, hi_f], in index order (lo_f >= -1 leaves the unusable
 * out). */
static size_t next_slice(const float *caps, size_t D, float lo_f, float hi_f, float *key,
                         uint32_t *idx)
{
    size_t n = 0;
    for (size_t i = 0; i < D; i++)
        if (caps[i] > lo_f && caps[i] <= hi_f) {
            key[n] = caps[i];
            idx[n++] = (uint32_t)i;
        }
    return n;
}

static void proj_linf(const float *t, const float *w, size_t D, float sgn, double c,
                      double w1, float capmin, float *d, void *work)
{
    double lam = c / w1;
    if (!(lam <= capmin)) { /* some coordinate saturates */
        float *key = (float *)((uint32_t *)work + 4 * (D + 1));
        uint32_t *idx = (uint32_t *)(key + D);
        float *caps = (float *)((uint32_t *)work + ti_proj_work_bytes(D) / sizeof(uint32_t));
        double wrem = 0, sat = 0;
        size_t usable = 0, swept = 0;
        double lo = -1.0, hi = lam; /* the slice: caps in (lo, hi], compared as floats */
        size_t n = first_slice(t, w, D, sgn, below_or_at(hi), caps, key, idx, &wrem, &usable);
        float last = 0.0f; /* the largest cap swept */
        for (int slice = 1;; slice++) {
            if (slice > 1) {
                if (slice == SLICES_MAX)
                    hi = INFINITY;
                n = next_slice(caps, D, below_or_at(lo), below_or_at(hi), key, idx);
            }
            ti_proj_sort_pairs(key, idx, n, work);
            double l = (c - sat) / wrem;
            for (size_t k = 0; k < n; k++) {
                if (l <= key[k]) {
                    lam = l;
                    goto done;
                }
                double aw = fabsf(w[idx[k]]);
                sat += aw * key[k];
                wrem -= aw;
                l = (c - sat) / wrem;
            }
            swept += n;
            if (n)
                last = key[n - 1];
            if (swept == usable) { /* every coordinate saturates: the largest cap */
                lam = usable ? last : 0.0;
                break;
            }
            if (!(l > hi)) { /* the next cap, above hi, is at or above l: the sweep stops */
                lam = l;
                break;
            }
            lo = hi;
            hi = l;
        }
    }
done:;
    float lf = (float)lam;
    for (size_t i = 0; i < D; i++) { /* branch-free, so that it vectorises */
        float s = dir_of(w[i], sgn), cp = cap_of(t[i], s);
        float v = s * (lf < cp ? lf : cp);
        d[i] = w[i] != 0.0f ? v : 0.0f;
    }
}

/* L2: d_i(l) = s_i min(l |w_i|, cap_i) (= clip(-l w_i) to the box); coordinate i saturates
 * at l = r_i = cap_i / |w_i|; H(l) = sum |w_i| min(l |w_i|, cap_i) = c. */
static void proj_l2(const float *t, const float *w, size_t D, float sgn, double c, float *d,
                    void *work)
{
    const float wmin = 1e-8f;
    double w2 = 0;
    double rmin = INFINITY;
    for (size_t i = 0; i < D; i++)
        if (fabsf(w[i]) > wmin) {
            double aw = fabsf(w[i]);
            w2 += aw * aw;
            double r = cap_toward(t[i], w[i], sgn) / aw;
            rmin = r < rmin ? r : rmin;
        }
    double lam = c / w2;
    if (!(lam <= rmin)) {
        float *key = (float *)((uint32_t *)work + 4 * (D + 1));
        uint32_t *idx = (uint32_t *)(key + D);
        size_t n = 0;
        double wrem = 0, sat = 0;
        for (size_t i = 0; i < D; i++)
            if (fabsf(w[i]) > wmin) {
                float aw = fabsf(w[i]), cp = cap_toward(t[i], w[i], sgn);
                if (cp > 0.0f) {
                    key[n] = cp / aw;
                    idx[n++] = (uint32_t)i;
                    wrem += (double)aw * aw;
                }
            }
        ti_proj_sort_pairs(key, idx, n, work);
        lam = n ? key[n - 1] : 0.0;
        for (size_t k = 0; k < n; k++) {
            double l = (c - sat) / wrem;
            if (l <= key[k]) {
                lam = l;
                break;
            }
            uint32_t i = idx[k];
            double aw = fabsf(w[i]);
            sat += aw * cap_toward(t[i], w[i], sgn);
            wrem -= aw * aw;
        }
    }
    for (size_t i = 0; i < D; i++) {
        if (fabsf(w[i]) > wmin) {
            float s = dir_of(w[i], sgn), cp = cap_of(t[i], s);
            float step = (float)(lam * fabsf(w[i]));
            d[i] = s * (step < cp ? step : cp);
        } else {
            d[i] = 0.0f;
        }
    }
}

/* L1: the cheapest coordinates are those with the largest |w_i| (each unit of d_i buys |w_i|
 * of the gap c). Greedy by |w| descending: saturate whole coordinates while their
 * contribution |w_i| cap_i is below the remaining gap, move the next one partially. */
static void proj_l1(const float *t, const float *w, size_t D, float sgn, double c, float *d,
                    void *work)
{
    const float wmin = 1e-8f;
    memset(d, 0, D * sizeof *d);
    size_t best = D;
    for (size_t i = 0; i < D; i++) /* argmax |w| over coordinates that can move */
        if (fabsf(w[i]) > wmin && cap_toward(t[i], w[i], sgn) > 0.0f &&
            (best == D || fabsf(w[i]) > fabsf(w[best])))
            best = i;
    if (best == D)
        return; /* nothing can move (c == 0 here, the caller handled the rest) */
    float s = dir_of(w[best], sgn);
    if ((double)fabsf(w[best]) * cap_of(t[best], s) >= c) { /* one coordinate suffices */
        d[best] = s * (float)(c / fabsf(w[best]));
        return;
    }
    float *key = (float *)((uint32_t *)work + 4 * (D + 1));
    uint32_t *idx = (uint32_t *)(key + D);
    size_t n = 0;
    for (size_t i = 0; i < D; i++)
        if (fabsf(w[i]) > wmin && cap_toward(t[i], w[i], sgn) > 0.0f) {
            key[n] = fabsf(w[i]);
            idx[n++] = (uint32_t)i;
        }
    ti_proj_sort_pairs(key, idx, n, work);
    /* the stable ascending sort puts the lowest index last among equal |w|; walk from the
     * end, so ties go to the highest index: harmless, all choices have the same norm */
    double rem = c;
    for (size_t k = n; k-- > 0;) {
        uint32_t i = idx[k];
        float si = dir_of(w[i], sgn), cp = cap_of(t[i], si);
        double gain = (double)key[k] * cp;
        if (gain >= rem) {
            d[i] = si * (float)(rem / key[k]);
            return;
        }
        d[i] = si * cp;
        rem -= gain;
    }
}

/* ti_fab_project's first pass at L-inf, for both orientations at once (the sign of c is
 * known only at the end): c = <w, t> - b, and for sgn = +1 and -1 the total reachable
 * reduction, the sum w1 of |w_i| over w_i != 0 and the smallest capacity. Four independent
 * sums in one pass instead of one per pass: each is the same sequence of operations as
 * before, so the same bits. */
typedef struct linf_sums {
    double c, total[2], w1;
    float capmin[2];
} linf_sums;

static linf_sums linf_first_pass(const float *t, const float *w, double b, size_t D)
{
    linf_sums r = {.c = -b};
    float mp = INFINITY, mn = INFINITY;
    for (size_t i = 0; i < D; i++) {
        r.c += (double)w[i] * t[i];
        float aw = fabsf(w[i]);
        float cp = cap_toward(t[i], w[i], 1.0f), cn = cap_toward(t[i], w[i], -1.0f);
        if (aw > 0.0f) {
            r.total[0] += (double)aw * cp;
            r.total[1] += (double)aw * cn;
        }
        int on = w[i] != 0.0f; /* differs from aw > 0 for NaN only, as before */
        if (on)
            r.w1 += aw;
        /* the minima as selects of floats, which compile to minss: a conditional update
         * became a compare, a move through an integer register and a cmov per element on
         * the loop's critical path */
        float cpo = on ? cp : INFINITY, cno = on ? cn : INFINITY;
        mp = cpo < mp ? cpo : mp;
        mn = cno < mn ? cno : mn;
    }
    r.capmin[0] = mp;
    r.capmin[1] = mn;
    return r;
}

int ti_fab_project(ti_norm p, const float *t, const float *w, double b, size_t D, float *d,
                   void *work)
{
    assert(p == TI_NORM_LINF || p == TI_NORM_L2 || p == TI_NORM_L1);
    /* c = <w, t> - b; flip the hyperplane's orientation so that c >= 0 (reference: c >= 0
     * keeps the sign) and the coordinates must lower <w, t + d> by c. */
    if (p == TI_NORM_LINF) {
        linf_sums r = linf_first_pass(t, w, b, D);
        int neg = !(r.c >= 0);
        float sgn = neg ? -1.0f : 1.0f;
        double c = fabs(r.c);
        if (c >= r.total[neg]) { /* infeasible (or exactly the vertex): the face vertex */
            vertex(t, w, D, sgn, 0.0f, d);
            return c <= r.total[neg];
        }
        proj_linf(t, w, D, sgn, c, r.w1, r.capmin[neg], d, work);
        return 1;
    }
    const float wmin = 1e-8f;
    double c = -(double)b;
    for (size_t i = 0; i < D; i++)
        c += (double)w[i] * t[i];
    float sgn = c >= 0 ? 1.0f : -1.0f;
    c = fabs(c);
    /* total reachable reduction: every usable coordinate at its face */
    double total = 0;
    for (size_t i = 0; i < D; i++)
        if (fabsf(w[i]) > wmin)
            total += (double)fabsf(w[i]) * cap_toward(t[i], w[i], sgn);
    if (c >= total) { /* infeasible (or exactly the vertex): the face vertex */
        vertex(t, w, D, sgn, wmin, d);
        return c <= total;
    }
    if (p == TI_NORM_L2)
        proj_l2(t, w, D, sgn, c, d, work);
    else
        proj_l1(t, w, D, sgn, c, d, work);
    return 1;
}
