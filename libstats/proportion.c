/* Confidence intervals for a binomial proportion k / n: the exact interval of Clopper &
 * Pearson (1934) from beta quantiles (beta.c), and Wilson's (1927) score interval, which the
 * paired-difference interval (paired.c) is built from. */
#include <math.h>

#include "internal.h"

void ti_stats__wilson(double k, double n, double z, double *lo, double *hi)
{
    /* the roots of (k - n p)^2 = z^2 n p (1 - p):
     * p = (2k + z^2 -+ z sqrt(z^2 + 4 k (n - k) / n)) / (2 (n + z^2)); written this way the
     * lower root is exactly 0 at k = 0 */
    double z2 = z * z, r = z * sqrt(z2 + 4.0 * k * (n - k) / n), den = 2.0 * (n + z2);
    *lo = k == 0 ? 0.0 : fmax(0.0, (2.0 * k + z2 - r) / den);
    *hi = k == n ? 1.0 : fmin(1.0, (2.0 * k + z2 + r) / den);
}

ti_stats_status ti_stats_proportion_ci(size_t k, size_t n, double level,
                                       ti_stats_ci_method method, double *lo, double *hi,
                                       ti_stats_err *err)
{
    if (!lo || !hi)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "proportion_ci: NULL argument");
    if (n == 0)
        return ti_stats__fail(err, TI_STATS_ERR_EMPTY, "proportion_ci: n = 0 trials");
    if (k > n)
        return ti_stats__fail(err, TI_STATS_ERR_ARG,
                              "proportion_ci: %zu successes out of %zu trials", k, n);
    ti_stats_status s = ti_stats__check_level(level, "proportion_ci", err);
    if (s)
        return s;
    double alpha2 = 0.5 * (1.0 - level), K = (double)k, N = (double)n;
    switch (method) {
    case TI_STATS_CI_CLOPPER_PEARSON:
        /* P(X >= k | p = lo) = alpha/2 and P(X <= k | p = hi) = alpha/2, X ~ Bin(n, p), which
         * are the beta quantiles below (P(X >= k) = I_p(k, n - k + 1)) */
        *lo = k == 0 ? 0.0 : ti_stats__beta_tail_inv(log(alpha2), K, N - K + 1, 0);
        *hi = k == n ? 1.0 : ti_stats__beta_tail_inv(log(alpha2), K + 1, N - K, 1);
        break;
    case TI_STATS_CI_WILSON:
        ti_stats__wilson(K, N, -ti_stats_norm_ppf(alpha2), lo, hi);
        break;
    default:
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "proportion_ci: unknown method %d",
                              (int)method);
    }
    return TI_STATS_OK;
}

ti_stats_status ti_stats_binom_test_less(size_t k, size_t n, double p0, double *log10_p,
                                         ti_stats_err *err)
{
    if (!log10_p)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "binomial test: NULL argument");
    if (n == 0)
        return ti_stats__fail(err, TI_STATS_ERR_EMPTY, "binomial test: no trials");
    if (k > n || !(p0 >= 0 && p0 <= 1))
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "binomial test: k = %zu of n = %zu, p0 = %g",
                              k, n, p0);
    if (k == n || p0 == 0) { /* every outcome is <= k, or X is 0 for sure */
        *log10_p = 0;
        return TI_STATS_OK;
    }
    if (p0 == 1) { /* X = n > k for sure */
        *log10_p = -INFINITY;
        return TI_STATS_OK;
    }
    /* P(X <= k) = I_{1-p0}(n - k, k + 1), the lower tail of Beta(n - k, k + 1) at 1 - p0 */
    double l = ti_stats__beta_logtail(1 - p0, p0, log1p(-p0), log(p0), (double)(n - k),
                                      (double)k + 1, 0);
    if (l != l)
        return ti_stats__fail(err, TI_STATS_ERR_TOO_LARGE, "binomial test: the tail of n = %zu "
                              "did not converge", n);
    *log10_p = fmin(0.0, l) / 2.30258509299404568402;
    return TI_STATS_OK;
}
