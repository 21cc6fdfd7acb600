/* ROC AUC (the Mann-Whitney U1 / (n1 n2)), the ROC curve as sklearn's roc_curve, and the
 * DeLong et al. (1988) variance of the AUC by the midrank algorithm of Sun & Xu (2014):
 * V10_i = (Tz_i - Tx_i) / n2 and V01_j = 1 - (Tz_j - Ty_j) / n1 from three rankings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static ti_stats_status check_two(const char *fn, const double *x, size_t n1, const double *y,
                                 size_t n2, ti_stats_err *err)
{
    if (!x || !y)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "%s: NULL argument", fn);
    if (n1 == 0 || n2 == 0)
        return ti_stats__fail(err, TI_STATS_ERR_EMPTY,
                              "%s: both samples need values (n1=%zu, n2=%zu)", fn, n1, n2);
    ti_stats_status s = ti_stats__check_nan(x, n1, fn, "x", err);
    if (!s)
        s = ti_stats__check_nan(y, n2, fn, "y", err);
    return s;
}

/* Pooled midranks of x ++ y into tz (n1 + n2); `it` is scratch of n1 + n2 items and `xy`
 * of n1 + n2 doubles. Returns the AUC. */
static double pooled_auc(const double *x, size_t n1, const double *y, size_t n2, double *xy,
                         double *tz, ti_stats__item *it)
{
    memcpy(xy, x, n1 * sizeof *xy);
    memcpy(xy + n1, y, n2 * sizeof *xy);
    ti_stats__midranks(xy, n1 + n2, tz, it);
    double R1 = 0.0;
    for (size_t i = 0; i < n1; i++)
        R1 += tz[i];
    double u1 = R1 - (double)n1 * ((double)n1 + 1.0) / 2.0;
    return u1 / ((double)n1 * (double)n2);
}

ti_stats_status ti_stats_auc(const double *x, size_t n1, const double *y, size_t n2,
                             double *auc, ti_stats_err *err)
{
    ti_stats_status s = check_two("auc", x, n1, y, n2, err);
    if (s)
        return s;
    if (!auc)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "auc: NULL argument");
    size_t n = n1 + n2;
    double *buf = malloc(2 * n * sizeof *buf);
    ti_stats__item *it = malloc(n * sizeof *it);
    if (!buf || !it) {
        free(buf);
        free(it);
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "auc: out of memory for %zu values", n);
    }
    *auc = pooled_auc(x, n1, y, n2, buf, buf + n, it);
    free(buf);
    free(it);
    return TI_STATS_OK;
}

ti_stats_status ti_stats_roc_curve(const double *x, size_t n1, const double *y, size_t n2,
                                   double *fpr, double *tpr, double *thr, size_t *npoints,
                                   ti_stats_err *err)
{
    ti_stats_status s = check_two("roc_curve", x, n1, y, n2, err);
    if (s)
        return s;
    if (!fpr || !tpr || !thr || !npoints)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "roc_curve: NULL argument");
    size_t n = n1 + n2;
    ti_stats__item *it = malloc(n * sizeof *it);
    if (!it)
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "roc_curve: out of memory for %zu values",
                              n);
    /* positions below n1 are positives */
    for (size_t i = 0; i < n1; i++)
        it[i] = (ti_stats__item){x[i], i};
    for (size_t j = 0; j < n2; j++)
        it[n1 + j] = (ti_stats__item){y[j], n1 + j};
    ti_stats__sort_items(it, n);

    /* Walk from the highest score down; after each group of equal scores, every sample with
     * a score >= that threshold is predicted positive: one point per distinct score. */
    fpr[0] = 0.0;
    tpr[0] = 0.0;
    thr[0] = it[n - 1].v + 1.0; /* sklearn 1.2's "no sample predicted positive" threshold */
    size_t k = 1, tp = 0, fp = 0, b = n;
    while (b > 0) {
        size_t a = b - 1;
        while (a > 0 && it[a - 1].v == it[b - 1].v)
            a--;
        for (size_t j = a; j < b; j++) {
            if (it[j].i < n1)
                tp++;
            else
                fp++;
        }
        fpr[k] = (double)fp / (double)n2;
        tpr[k] = (double)tp / (double)n1;
        thr[k] = it[a].v;
        k++;
        b = a;
    }
    free(it);
    *npoints = k;
    return TI_STATS_OK;
}

ti_stats_status ti_stats_auc_delong(const double *x, size_t n1, const double *y, size_t n2,
                                    double level, ti_stats_delong *out, ti_stats_err *err)
{
    ti_stats_status s = check_two("auc_delong", x, n1, y, n2, err);
    if (s)
        return s;
    if (!out)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "auc_delong: NULL argument");
    if ((s = ti_stats__check_level(level, "auc_delong", err)))
        return s;
    if (n1 < 2 || n2 < 2)
        return ti_stats__fail(err, TI_STATS_ERR_EMPTY,
                              "auc_delong: the DeLong variance needs at least 2 values per "
                              "sample (n1=%zu, n2=%zu)", n1, n2);
    size_t n = n1 + n2;
    /* xy (n), tz (n), tx (n1) and ty (n2): 3n doubles in one block */
    double *buf = malloc(3 * n * sizeof *buf);
    ti_stats__item *it = malloc(n * sizeof *it);
    if (!buf || !it) {
        free(buf);
        free(it);
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "auc_delong: out of memory for %zu values",
                              n);
    }
    double *xy = buf, *tz = buf + n, *tx = buf + 2 * n, *ty = tx + n1;
    double auc = pooled_auc(x, n1, y, n2, xy, tz, it);
    ti_stats__midranks(x, n1, tx, it);
    ti_stats__midranks(y, n2, ty, it);

    /* Structural components: V10_i is the fraction of negatives below positive i (ties
     * half): its pooled rank minus its rank among positives counts the negatives below it.
     * V01_j is the fraction of positives above negative j. Their sample variances (divisor
     * n - 1) give var(AUC) = S10 / n1 + S01 / n2. */
    double s10 = 0.0, s01 = 0.0;
    for (size_t i = 0; i < n1; i++) {
        double v = (tz[i] - tx[i]) / (double)n2 - auc;
        s10 += v * v;
    }
    for (size_t j = 0; j < n2; j++) {
        double v = 1.0 - (tz[n1 + j] - ty[j]) / (double)n1 - auc;
        s01 += v * v;
    }
    free(buf);
    free(it);
    s10 /= (double)(n1 - 1);
    s01 /= (double)(n2 - 1);

    out->auc = auc;
    out->var = s10 / (double)n1 + s01 / (double)n2;
    out->se = sqrt(out->var);
    out->level = level;
    /* the two-sided critical value, from the lower tail for full precision */
    double zc = -ti_stats_norm_ppf(0.5 * (1.0 - level));
    double lo = auc - zc * out->se, hi = auc + zc * out->se;
    out->lo = lo > 0.0 ? lo : 0.0;
    out->hi = hi < 1.0 ? hi : 1.0;
    return TI_STATS_OK;
}
