/* The exact null distribution of the Mann-Whitney U for samples of sizes m and n without
 * ties. The number of orderings with U = k is the coefficient of q^k in the Gaussian binomial
 * [m+n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i) (Mann & Whitney 1947; Di
 * Bucchianico 1999), built one factor at a time and scaled to probabilities as it goes. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "internal.h"

/* P(U <= K) by building the distribution's first K + 1 coefficients. Step i turns
 * [n+i-1 choose i-1]_q into [n+i choose i]_q: multiplying by 1 - q^(n+i) is one backward
 * pass, dividing by 1 - q^i a forward running sum with stride i. The factor i / (n+i) keeps
 * the total mass at 1, so nothing overflows even when C(m+n, m) would. */
static double cdf_table(size_t m, size_t n, size_t K, double *a)
{
    for (size_t j = 0; j <= K; j++)
        a[j] = 0.0;
    a[0] = 1.0;
    for (size_t i = 1; i <= m; i++) {
        size_t s = n + i;
        for (size_t j = K; j >= s && j <= K; j--)
            a[j] -= a[j - s];
        for (size_t j = i; j <= K; j++)
            a[j] += a[j - i];
        double scale = (double)i / (double)(n + i);
        for (size_t j = 0; j <= K; j++)
            a[j] *= scale;
    }
    double c = 0.0;
    for (size_t j = 0; j <= K; j++)
        c += a[j];
    return c;
}

ti_stats_status ti_stats__mwu_exact_cdf(size_t m, size_t n, double k, double *cdf,
                                        ti_stats_err *err)
{
    double mn = (double)m * (double)n;
    if (k < 0) {
        *cdf = 0.0;
        return TI_STATS_OK;
    }
    if (k >= mn) {
        *cdf = 1.0;
        return TI_STATS_OK;
    }
    /* The distribution is symmetric about mn / 2: for the upper half use
     * P(U <= k) = 1 - P(U <= mn - k - 1), so the table never exceeds mn / 2 + 1 entries. */
    int upper = k > 0.5 * mn;
    double kk = upper ? mn - k - 1.0 : k;
    size_t small = m < n ? m : n, large = m < n ? n : m;
    /* Limits: the table's size and the work (small * table), about 0.2 s at most. */
    if (kk + 1.0 > (double)TI_STATS__EXACT_MAX_TABLE ||
        (kk + 1.0) * (double)small > 8.0 * (double)TI_STATS__EXACT_MAX_TABLE)
        return ti_stats__fail(err, TI_STATS_ERR_TOO_LARGE,
                              "mwu: the exact distribution for n1=%zu, n2=%zu needs a table of "
                              "%.0f entries (limit %zu); use the asymptotic method",
                              m, n, kk + 1.0, TI_STATS__EXACT_MAX_TABLE);
    size_t K = (size_t)kk;
    double *a = malloc((K + 1) * sizeof *a);
    if (!a)
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM,
                              "mwu: out of memory for the exact table (%zu entries)", K + 1);
    double c = cdf_table(small, large, K, a);
    free(a);
    if (!(c >= DBL_MIN))
        return ti_stats__fail(err, TI_STATS_ERR_TOO_LARGE,
                              "mwu: the exact tail for n1=%zu, n2=%zu underflows a double; "
                              "use the asymptotic method", m, n);
    *cdf = upper ? 1.0 - c : c;
    return TI_STATS_OK;
}
