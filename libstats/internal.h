/* What libstats' own files share: the error helper and the sorted-with-index helper used by
 * ranks, the AUC and the ROC curve. Not installed. */
#ifndef THINICE_STATS_INTERNAL_H
#define THINICE_STATS_INTERNAL_H

#include <stddef.h>

#include "thinice/stats.h"

/* Records a failure in err (if not NULL): sets err->status and formats the message
 * (printf-style). Returns s so that code can write `return ti_stats__fail(err, ...);`. */
ti_stats_status ti_stats__fail(ti_stats_err *err, ti_stats_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A value with its position in the input, so that a sort keeps track of where each came
 * from. */
typedef struct ti_stats__item {
    double v;
    size_t i;
} ti_stats__item;

/* Sorts items ascending by value (ties by position, so the order is deterministic). */
void ti_stats__sort_items(ti_stats__item *it, size_t n);

/* Midranks of x[0..n) into ranks (1-based, ties averaged), using `it` (n items) as scratch;
 * returns sum over tie groups of t^3 - t. No checks. */
double ti_stats__midranks(const double *x, size_t n, double *ranks, ti_stats__item *it);

/* Checks x[0..n) for NaN: returns TI_STATS_ERR_NAN naming `what` and the index, else OK. */
ti_stats_status ti_stats__check_nan(const double *x, size_t n, const char *fn,
                                    const char *what, ti_stats_err *err);

/* Checks 0 < level < 1 (a confidence level): TI_STATS_ERR_ARG naming fn otherwise. */
ti_stats_status ti_stats__check_level(double level, const char *fn, ti_stats_err *err);

/* Wilson's score interval for k successes in n trials at normal quantile z (proportion.c);
 * exactly 0 at k = 0 and 1 at k = n. */
void ti_stats__wilson(double k, double n, double z, double *lo, double *hi);

/* Checks per-sample adversarial distances (security.c): not NULL, n >= 1, no NaN, none
 * negative. */
ti_stats_status ti_stats__check_distances(const double *d, size_t n, const char *fn,
                                          ti_stats_err *err);
/* (1/n) sum_i min(d_i, e): the integral of the security curve of d over [0, e]. */
double ti_stats__mean_clipped(const double *d, size_t n, double e);

/* The exact null distribution of the Mann-Whitney U: P(U <= k) for samples of sizes m, n
 * without ties (mwu_exact.c). TI_STATS_ERR_TOO_LARGE if the table would exceed the limit or
 * the result underflows; TI_STATS_ERR_NOMEM. */
#define TI_STATS__EXACT_MAX_TABLE ((size_t)1 << 24)
ti_stats_status ti_stats__mwu_exact_cdf(size_t m, size_t n, double k, double *cdf,
                                        ti_stats_err *err);

/* log of the lower (upper = 0) or upper (upper = 1) tail of the Beta(a, b) distribution at x,
 * i.e. log I_x(a, b) or log(1 - I_x(a, b)), given x, y = 1 - x and their logs (each computed
 * where it has full precision), a, b > 0 (beta.c). Accurate to ~1e-14 relative however small
 * the tail; NaN if the continued fraction does not converge. */
double ti_stats__beta_logtail(double x, double y, double lx, double ly, double a, double b,
                              int upper);
/* The x at which that tail equals exp(logq) (logq <= 0). */
double ti_stats__beta_tail_inv(double logq, double a, double b, int upper);

#endif
