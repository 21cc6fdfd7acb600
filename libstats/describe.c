/* Descriptive statistics: mean, sample variance (two-pass, divisor n - 1), min, max and the
 * quartiles by numpy's default quantile definition ('linear', Hyndman & Fan 1996 type 7). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

double ti_stats_quantile_sorted(const double *sorted, size_t n, double q)
{
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1)
        return sorted[n - 1];
    double t = h - (double)lo, a = sorted[lo], b = sorted[lo + 1];
    if (a == b) /* also keeps infinite neighbours from giving inf - inf */
        return a;
    /* numpy's _lerp: interpolate from the nearer end, so t = 1 gives b exactly */
    return t < 0.5 ? a + t * (b - a) : b - (1.0 - t) * (b - a);
}

ti_stats_status ti_stats_describe(const double *x, size_t n, ti_stats_summary *out,
                                  ti_stats_err *err)
{
    if (!x || !out)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "describe: NULL argument");
    if (n == 0)
        return ti_stats__fail(err, TI_STATS_ERR_EMPTY, "describe: no values");
    ti_stats_status s = ti_stats__check_nan(x, n, "describe", "x", err);
    if (s)
        return s;
    double *v = malloc(n * sizeof *v);
    if (!v)
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "describe: out of memory for %zu values",
                              n);
    memcpy(v, x, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_double);

    /* Two passes: the mean first, then squared deviations from it, which avoids the
     * cancellation of sum(x^2) - n mean^2 when the mean is large against the spread. */
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    double mean = sum / (double)n, ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - mean) * (v[i] - mean);

    out->n = n;
    out->mean = mean;
    out->var = n > 1 ? ss / (double)(n - 1) : NAN;
    out->sd = sqrt(out->var);
    out->min = v[0];
    out->max = v[n - 1];
    out->q1 = ti_stats_quantile_sorted(v, n, 0.25);
    out->median = ti_stats_quantile_sorted(v, n, 0.5);
    out->q3 = ti_stats_quantile_sorted(v, n, 0.75);
    free(v);
    return TI_STATS_OK;
}
