/* Security curves (robust accuracy against the perturbation budget) from per-sample minimal
 * adversarial distances, as drawn since Biggio & Roli (2018) and by minimum-norm attack
 * papers (FMN, Pintor et al. 2021): acc(eps) = #{i : d_i > eps} / n, its exact breakpoints,
 * its values on a grid, the median distance and the normalised area under it. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

ti_stats_status ti_stats__check_distances(const double *d, size_t n, const char *fn,
                                          ti_stats_err *err)
{
    if (!d)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "%s: NULL distances", fn);
    if (n == 0)
        return ti_stats__fail(err, TI_STATS_ERR_EMPTY, "%s: no samples", fn);
    ti_stats_status s = ti_stats__check_nan(d, n, fn, "distance", err);
    if (s)
        return s;
    for (size_t i = 0; i < n; i++)
        if (d[i] < 0)
            return ti_stats__fail(err, TI_STATS_ERR_ARG,
                                  "%s: distance[%zu] = %g is negative (use 0 for a sample "
                                  "misclassified clean, +inf when no adversarial was found)",
                                  fn, i, d[i]);
    return TI_STATS_OK;
}

/* A checked, ascending copy of d in *out (malloc'd). */
static ti_stats_status sorted_copy(const double *d, size_t n, const char *fn, double **out,
                                   ti_stats_err *err)
{
    ti_stats_status s = ti_stats__check_distances(d, n, fn, err);
    if (s)
        return s;
    double *v = malloc(n * sizeof *v);
    if (!v)
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "%s: out of memory for %zu distances",
                              fn, n);
    memcpy(v, d, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_double);
    *out = v;
    return TI_STATS_OK;
}

/* numpy.median of ascending v: the middle value, or the mean of the two middle ones, so that
 * a finite and an infinite middle give +inf (the quantile's interpolation would give NaN). */
static double median_sorted(const double *v, size_t n)
{
    return n % 2 ? v[n / 2] : 0.5 * v[n / 2 - 1] + 0.5 * v[n / 2];
}

/* #{i : v_i <= e} for ascending v: the first index whose value exceeds e. */
static size_t count_le(const double *v, size_t n, double e)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] <= e)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

ti_stats_status ti_stats_security_curve(const double *d, size_t n, double *eps, double *acc,
                                        size_t *npoints, ti_stats_err *err)
{
    if (!eps || !acc || !npoints)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "security_curve: NULL argument");
    double *v;
    ti_stats_status s = sorted_copy(d, n, "security_curve", &v, err);
    if (s)
        return s;
    double N = (double)n;
    size_t i = count_le(v, n, 0.0), k = 0; /* the zeros break at eps = 0 already */
    eps[k] = 0.0;
    acc[k++] = (double)(n - i) / N;
    while (i < n && isfinite(v[i])) {
        double e = v[i];
        while (i < n && v[i] == e) /* the whole tie group falls at e */
            i++;
        eps[k] = e;
        acc[k++] = (double)(n - i) / N;
    }
    *npoints = k;
    free(v);
    return TI_STATS_OK;
}

ti_stats_status ti_stats_robust_accuracy(const double *d, size_t n, const double *eps, size_t m,
                                         double *acc, ti_stats_err *err)
{
    if (m > 0 && (!eps || !acc))
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "robust_accuracy: NULL argument");
    ti_stats_status s = ti_stats__check_nan(eps, m, "robust_accuracy", "eps", err);
    if (s)
        return s;
    double *v;
    if ((s = sorted_copy(d, n, "robust_accuracy", &v, err)))
        return s;
    for (size_t j = 0; j < m; j++)
        acc[j] = (double)(n - count_le(v, n, eps[j])) / (double)n;
    free(v);
    return TI_STATS_OK;
}

double ti_stats__mean_clipped(const double *d, size_t n, double e)
{
    /* integral over [0, e] of #{i : d_i > t} / n dt = (1/n) sum_i integral 1[t < d_i] dt
     * = (1/n) sum_i min(d_i, e): exact, and no sort */
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += fmin(d[i], e);
    return sum / (double)n;
}

ti_stats_status ti_stats_security_summary(const double *d, size_t n, double eps_max,
                                          ti_stats_security *out, ti_stats_err *err)
{
    if (!out)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "security_summary: NULL argument");
    if (!(eps_max > 0 && eps_max < INFINITY))
        return ti_stats__fail(err, TI_STATS_ERR_ARG,
                              "security_summary: eps_max = %g must be positive and finite",
                              eps_max);
    double *v;
    ti_stats_status s = sorted_copy(d, n, "security_summary", &v, err);
    if (s)
        return s;
    size_t zeros = count_le(v, n, 0.0), infs = n - count_le(v, n, DBL_MAX);
    *out = (ti_stats_security){.n = n, .n_zero = zeros, .n_inf = infs,
                               .clean_acc = (double)(n - zeros) / (double)n,
                               .median = median_sorted(v, n),
                               .eps_max = eps_max,
                               .auc = ti_stats__mean_clipped(v, n, eps_max) / eps_max};
    free(v);
    return TI_STATS_OK;
}
