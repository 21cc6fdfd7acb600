/* Projections onto norm balls at 0 (L-inf, L2, L1 by Duchi et al. ICML 2008, L0 by top-k)
 * and the O(n) radix sort of non-negative float keys that they and FAB's projection share.
 * Spec: shared/specs/attacks.md §8.5. */
#include <assert.h>
#include <math.h>
#include <string.h>

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
