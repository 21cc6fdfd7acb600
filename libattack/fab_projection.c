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
    return ti_proj_work_bytes(D); /* radix scratch + one key and one index array */
}

/* After the sign normalisation every usable coordinate i moves in the direction s_i that
 * lowers <w, t + d> (s_i = -sign(w_i), w already multiplied by sgn), by at most its
 * capacity cap_i (the distance to the box face in that direction). */
static inline float dir_of(float w, float sgn) { return w * sgn > 0 ? -1.0f : 1.0f; }
static inline float cap_of(float t, float dir) { return dir < 0 ? t : 1.0f - t; }

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
 * ascending order; while l would pass the next cap, that coordinate saturates. */
static void proj_linf(const float *t, const float *w, size_t D, float sgn, double c,
                      float *d, void *work)
{
    double w1 = 0;
    float capmin = INFINITY;
    for (size_t i = 0; i < D; i++)
        if (w[i] != 0.0f) {
            w1 += fabsf(w[i]);
            float cp = cap_of(t[i], dir_of(w[i], sgn));
            capmin = cp < capmin ? cp : capmin;
        }
    double lam = c / w1;
    if (!(lam <= capmin)) { /* some coordinate saturates: sort the positive caps */
        float *key = (float *)((uint32_t *)work + 4 * (D + 1));
        uint32_t *idx = (uint32_t *)(key + D);
        size_t n = 0;
        double wrem = 0, sat = 0;
        for (size_t i = 0; i < D; i++)
            if (w[i] != 0.0f) {
                float cp = cap_of(t[i], dir_of(w[i], sgn));
                if (cp > 0.0f) { /* a zero-capacity coordinate can never help */
                    key[n] = cp;
                    idx[n++] = (uint32_t)i;
                    wrem += fabsf(w[i]);
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
            double aw = fabsf(w[idx[k]]);
            sat += aw * key[k];
            wrem -= aw;
        }
    }
    float lf = (float)lam;
    for (size_t i = 0; i < D; i++) {
        if (w[i] != 0.0f) {
            float s = dir_of(w[i], sgn), cp = cap_of(t[i], s);
            d[i] = s * (lf < cp ? lf : cp);
        } else {
            d[i] = 0.0f;
        }
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
            double r = cap_of(t[i], dir_of(w[i], sgn)) / aw;
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
                float aw = fabsf(w[i]), cp = cap_of(t[i], dir_of(w[i], sgn));
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
            sat += aw * cap_of(t[i], dir_of(w[i], sgn));
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
        if (fabsf(w[i]) > wmin && cap_of(t[i], dir_of(w[i], sgn)) > 0.0f &&
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
        if (fabsf(w[i]) > wmin && cap_of(t[i], dir_of(w[i], sgn)) > 0.0f) {
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

int ti_fab_project(ti_norm p, const float *t, const float *w, double b, size_t D, float *d,
                   void *work)
{
    assert(p == TI_NORM_LINF || p == TI_NORM_L2 || p == TI_NORM_L1);
    const float wmin = p == TI_NORM_LINF ? 0.0f : 1e-8f;
    /* c = <w, t> - b; flip the hyperplane's orientation so that c >= 0 (reference: c >= 0
     * keeps the sign) and the coordinates must lower <w, t + d> by c. */
    double c = -(double)b;
    for (size_t i = 0; i < D; i++)
        c += (double)w[i] * t[i];
    float sgn = c >= 0 ? 1.0f : -1.0f;
    c = fabs(c);
    /* total reachable reduction: every usable coordinate at its face */
    double total = 0;
    for (size_t i = 0; i < D; i++)
        if (fabsf(w[i]) > wmin)
            total += (double)fabsf(w[i]) * cap_of(t[i], dir_of(w[i], sgn));
    if (c >= total) { /* infeasible (or exactly the vertex): the face vertex */
        vertex(t, w, D, sgn, wmin, d);
        return c <= total;
    }
    switch (p) {
    case TI_NORM_LINF: proj_linf(t, w, D, sgn, c, d, work); break;
    case TI_NORM_L2: proj_l2(t, w, D, sgn, c, d, work); break;
    default: proj_l1(t, w, D, sgn, c, d, work); break;
    }
    return 1;
}
