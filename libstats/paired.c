/* Two classifiers on the same samples: the exact McNemar test on the discordant pairs
 * (McNemar 1947; the exact binomial form as statsmodels' mcnemar(exact=True)) and Newcombe's
 * hybrid score interval for the difference of the two accuracies (Newcombe 1998, "Improved
 * confidence intervals for the difference between binomial proportions based on paired
 * data", Statistics in Medicine 17, method 10). */
#include <math.h>

#include "internal.h"

#define LN2 0.69314718055994530942
#define LN10 2.30258509299404568402

ti_stats_status ti_stats_mcnemar_exact(size_t b, size_t c, ti_stats_mcnemar *out,
                                       ti_stats_err *err)
{
    if (!out)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "mcnemar: NULL argument");
    size_t k = b < c ? b : c, n = b + c;
    /* P(X <= k) for X ~ Bin(n, 1/2) is I_{1/2}(n - k, k + 1). For 2k + 1 >= n it is at least
     * 1/2 by symmetry, and p is exactly 1 (also for b = c = 0) */
    double lcdf = -LN2;
    if (2 * k + 1 < n) {
        lcdf = ti_stats__beta_logtail(0.5, 0.5, -LN2, -LN2, (double)(n - k), (double)k + 1, 0);
        if (lcdf != lcdf)
            return ti_stats__fail(err, TI_STATS_ERR_TOO_LARGE,
                                  "mcnemar: the binomial tail of b + c = %zu did not converge", n);
    }
    double lp = fmin(0.0, LN2 + lcdf);
    *out = (ti_stats_mcnemar){.b = b, .c = c, .statistic = (double)k, .p = exp(lp),
                              .log10_p = lp / LN10};
    return TI_STATS_OK;
}

static double hypot_phi(double A, double B, double phi)
{
    return sqrt((A - B) * (A - B) + 2.0 * (1.0 - phi) * A * B);
}

ti_stats_status ti_stats_paired_diff_ci(size_t n11, size_t b, size_t c, size_t n00,
                                        double level, ti_stats_paired_ci *out,
                                        ti_stats_err *err)
{
    if (!out)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "paired_diff_ci: NULL argument");
    ti_stats_status s = ti_stats__check_level(level, "paired_diff_ci", err);
    if (s)
        return s;
    size_t n = n11 + b + c + n00;
    if (n == 0)
        return ti_stats__fail(err, TI_STATS_ERR_EMPTY, "paired_diff_ci: no samples");
    double N = (double)n, A = (double)n11, B = (double)b, C = (double)c, D = (double)n00;
    double z = -ti_stats_norm_ppf(0.5 * (1.0 - level));
    double p1 = (A + B) / N, p2 = (A + C) / N, l1, u1, l2, u2;
    ti_stats__wilson(A + B, N, z, &l1, &u1);
    ti_stats__wilson(A + C, N, z, &l2, &u2);
    /* phi: the correlation of the two classifiers' correctness over the samples; Newcombe
     * sets it to 0 when a margin is empty (one classifier always right or always wrong) */
    double margins = (A + B) * (C + D) * (A + C) * (B + D);
    double phi = margins > 0 ? (A * D - B * C) / sqrt(margins) : 0.0;
    /* square-and-add: each bound combines the distances from the estimates to the Wilson
     * limits on the side that moves the difference that way,
     * sqrt(A^2 - 2 phi A B + B^2), evaluated as sqrt((A - B)^2 + 2 (1 - phi) A B): a sum of
     * non-negative terms, exact 0 where phi = 1 and A = B (the other form cancels to 1e-19,
     * whose root is 3e-10) */
    double dl = hypot_phi(p1 - l1, u2 - p2, phi), du = hypot_phi(u1 - p1, p2 - l2, phi);
    double diff = (B - C) / N;
    *out = (ti_stats_paired_ci){.diff = diff, .lo = fmax(-1.0, diff - dl),
                                .hi = fmin(1.0, diff + du), .level = level};
    return TI_STATS_OK;
}
