/* The Mann-Whitney U test, following scipy.stats.mannwhitneyu (scipy 1.10) step by step:
 * pooled midranks, U1 = R1 - n1 (n1 + 1) / 2, the exact null distribution for small samples
 * without ties, else the normal approximation with tie and continuity correction. p-values
 * also come as log10 so that values like 1e-400 survive. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define LN10 2.30258509299404568402

ti_stats_mwu_params ti_stats_mwu_params_default(void)
{
    ti_stats_mwu_params p = {TI_STATS_TWO_SIDED, TI_STATS_AUTO, 1};
    return p;
}

/* The asymptotic p-value of statistic U (the upper tail, times f = 1 or 2). */
static void mwu_asymptotic(ti_stats_mwu_result *r, double U, double f, int continuity)
{
    double n1 = (double)r->n1, n2 = (double)r->n2, n = n1 + n2;
    double mu = n1 * n2 / 2.0;
    /* variance n1 n2 / 12 ((n + 1) - sum(t^3 - t) / (n (n - 1))): scipy's form of the
     * tie-corrected variance (the same as tiecorrect() * n1 n2 (n + 1) / 12) */
    double s = sqrt(n1 * n2 / 12.0 * ((n + 1.0) - r->tie_term / (n * (n - 1.0))));
    /* U is the larger or the requested tail, so its upper tail is the p-value; the
     * continuity correction always moves it towards the mean. */
    double num = U - mu;
    if (continuity)
        num -= 0.5;
    r->z = num / s;
    if (!(s > 0.0)) {
        /* every value tied: no evidence either way (scipy: z = -inf, p = 1; NaN without the
         * continuity correction, where we also report 1) */
        r->p = 1.0;
        r->log10_p = 0.0;
        return;
    }
    double lsf = ti_stats_norm_logsf(r->z);
    double l10 = (log(f) + lsf) / LN10;
    r->log10_p = l10 < 0.0 ? l10 : 0.0;
    /* p directly from erfc where representable, which is what scipy computes */
    double p = f * ti_stats_norm_sf(r->z);
    r->p = p < 1.0 ? p : 1.0;
}

ti_stats_status ti_stats_mwu(const double *x, size_t n1, const double *y, size_t n2,
                             const ti_stats_mwu_params *params, ti_stats_mwu_result *out,
                             ti_stats_err *err)
{
    ti_stats_mwu_params prm = params ? *params : ti_stats_mwu_params_default();
    if (!x || !y || !out)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "mwu: NULL argument");
    if ((unsigned)prm.alternative >= TI_STATS_ALTERNATIVE_COUNT)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "mwu: unknown alternative %d",
                              (int)prm.alternative);
    if ((unsigned)prm.method >= TI_STATS_METHOD_COUNT)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "mwu: unknown method %d", (int)prm.method);
    if (n1 == 0 || n2 == 0)
        return ti_stats__fail(err, TI_STATS_ERR_EMPTY,
                              "mwu: both samples need values (n1=%zu, n2=%zu)", n1, n2);
    ti_stats_status st = ti_stats__check_nan(x, n1, "mwu", "x", err);
    if (!st)
        st = ti_stats__check_nan(y, n2, "mwu", "y", err);
    if (st)
        return st;

    size_t n = n1 + n2;
    double *xy = malloc(2 * n * sizeof *xy); /* (n) pooled values, then (n) their ranks */
    ti_stats__item *it = malloc(n * sizeof *it);
    if (!xy || !it) {
        free(xy);
        free(it);
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "mwu: out of memory for %zu values", n);
    }
    double *ranks = xy + n;
    memcpy(xy, x, n1 * sizeof *xy);
    memcpy(xy + n1, y, n2 * sizeof *xy);

    ti_stats_mwu_result r;
    memset(&r, 0, sizeof r);
    r.n1 = n1;
    r.n2 = n2;
    r.tie_term = ti_stats__midranks(xy, n, ranks, it);
    double R1 = 0.0;
    for (size_t i = 0; i < n1; i++)
        R1 += ranks[i];
    free(xy);
    free(it);
    /* ranks are multiples of 1/2, so R1 and U1 are exact in double up to 2^52 */
    r.u1 = R1 - (double)n1 * ((double)n1 + 1.0) / 2.0;
    r.u2 = (double)n1 * (double)n2 - r.u1;
    r.z = NAN;

    ti_stats_method method = prm.method;
    if (method == TI_STATS_AUTO)
        method = (n1 > 8 && n2 > 8) || r.tie_term > 0.0 ? TI_STATS_ASYMPTOTIC : TI_STATS_EXACT;

    double U, f;
    if (prm.alternative == TI_STATS_GREATER) {
        U = r.u1;
        f = 1.0;
    } else if (prm.alternative == TI_STATS_LESS) {
        U = r.u2; /* by symmetry, the upper tail of U2 is the lower tail of U1 */
        f = 1.0;
    } else {
        U = r.u1 > r.u2 ? r.u1 : r.u2;
        f = 2.0;
    }

    if (method == TI_STATS_EXACT) {
        /* P(U' >= U) = P(U' <= n1 n2 - U) by symmetry; scipy truncates a tied (half-integer)
         * U to an integer first, which only matters for an explicit 'exact' with ties. */
        double k = (double)n1 * (double)n2 - trunc(U), cdf;
        ti_stats_err e2;
        st = ti_stats__mwu_exact_cdf(n1, n2, k, &cdf, &e2);
        if (st == TI_STATS_ERR_TOO_LARGE && prm.method == TI_STATS_AUTO) {
            method = TI_STATS_ASYMPTOTIC; /* documented fallback: see stats.h */
        } else if (st) {
            if (err)
                *err = e2;
            return st;
        } else {
            double p = f * cdf;
            r.p = p < 1.0 ? p : 1.0;
            r.log10_p = log10(r.p);
        }
    }
    if (method == TI_STATS_ASYMPTOTIC)
        mwu_asymptotic(&r, U, f, prm.use_continuity);
    r.method = method;
    *out = r;
    return TI_STATS_OK;
}
