/* libstats: the statistics of the thin-ice study on plain arrays of doubles. Descriptive
 * statistics, ranks with ties, the Mann-Whitney U test (as scipy.stats.mannwhitneyu 1.10),
 * ROC AUC and curve (as sklearn.metrics 1.2), the DeLong interval of the AUC, the normal tail
 * in log space, and a small CSV reader. It needs nothing but libm: no tensors, no context.
 *
 * Errors. libstats does not use libtensor's ti_status/ti_ctx (it must stand alone), but it
 * follows the same pattern: every function that can fail returns a ti_stats_status
 * (TI_STATS_OK is 0), writes its results through out-parameters, and, when the caller passes
 * a ti_stats_err, leaves a detailed message in it ("mwu: x[3] is NaN"). err may be NULL;
 * ti_stats_status_str() gives a fixed string per code. The library never prints, never exits,
 * and holds no global state, so it is safe to call from several threads at once. */
#ifndef THINICE_STATS_H
#define THINICE_STATS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ti_stats_status {
    TI_STATS_OK = 0,
    TI_STATS_ERR_NOMEM,     /* an allocation failed */
    TI_STATS_ERR_ARG,       /* a bad argument (NULL pointer, option out of range) */
    TI_STATS_ERR_EMPTY,     /* a sample with no values (or too few for the statistic) */
    TI_STATS_ERR_NAN,       /* a NaN in the data */
    TI_STATS_ERR_IO,        /* a file could not be opened or read */
    TI_STATS_ERR_FORMAT,    /* malformed CSV, or a cell that is not a number */
    TI_STATS_ERR_COLUMN,    /* a CSV column that does not exist */
    TI_STATS_ERR_TOO_LARGE, /* valid, but too large for the requested exact computation */
    TI_STATS_STATUS_COUNT
} ti_stats_status;

/* A fixed English string per code; never NULL ("unknown status" for a bad code). */
const char *ti_stats_status_str(ti_stats_status s);

/* The detailed message of a failure, filled by the failing call (msg[0] == '\0' otherwise
 * untouched). Callers usually keep one on the stack: `ti_stats_err e = {0};`. */
typedef struct ti_stats_err {
    ti_stats_status status;
    char msg[512];
} ti_stats_err;

/* ---- descriptive statistics --------------------------------------------------------- */

typedef struct ti_stats_summary {
    size_t n;
    double mean;
    double var;    /* sample variance, divisor n - 1 (numpy var(ddof=1)); NaN when n == 1 */
    double sd;     /* sqrt(var) */
    double min, q1, median, q3, max; /* quartiles by numpy's default (linear) definition */
} ti_stats_summary;

/* Mean, variance, min, quartiles, median and max of x[0..n). n >= 1, no NaN (infinities are
 * allowed and propagate as IEEE arithmetic says). Allocates a sorted copy internally. */
ti_stats_status ti_stats_describe(const double *x, size_t n, ti_stats_summary *out,
                                  ti_stats_err *err);

/* The q-quantile (0 <= q <= 1) of an ascending array by numpy's default method 'linear'
 * (Hyndman-Fan type 7): h = (n-1) q, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 * No checks: sorted must hold n >= 1 ascending values. */
double ti_stats_quantile_sorted(const double *sorted, size_t n, double q);

/* ---- ranks --------------------------------------------------------------------------- */

/* Ranks 1..n of x[0..n) with ties given their average rank (scipy.stats.rankdata,
 * method='average'), written to ranks[0..n). If tie_term is not NULL it receives
 * sum over groups of tied values of t^3 - t (t = group size), the term of the tie-corrected
 * variance of U. n >= 1, no NaN. ranks must not alias x. */
ti_stats_status ti_stats_rankdata(const double *x, size_t n, double *ranks, double *tie_term,
                                  ti_stats_err *err);

/* ---- the normal distribution ---------------------------------------------------------- */

/* Survival function P(Z > z) of the standard normal. Underflows to 0 beyond z ~ 38. */
double ti_stats_norm_sf(double z);
/* Natural log of P(Z > z), accurate to a few ulp relative over the whole line: it uses
 * erfc where that is a normal number and a continued fraction for the tail beyond, so
 * z = 100 gives -5005.52... rather than -inf. logsf(+inf) = -inf, logsf(-inf) = 0. */
double ti_stats_norm_logsf(double z);
/* Quantile function (inverse CDF) for 0 < p < 1 (-inf at 0, +inf at 1, NaN outside). */
double ti_stats_norm_ppf(double p);

/* ---- Mann-Whitney U ------------------------------------------------------------------- */

typedef enum ti_stats_alternative {
    TI_STATS_TWO_SIDED = 0,
    TI_STATS_LESS,    /* x is stochastically less than y */
    TI_STATS_GREATER, /* x is stochastically greater than y */
    TI_STATS_ALTERNATIVE_COUNT
} ti_stats_alternative;

typedef enum ti_stats_method {
    TI_STATS_AUTO = 0,   /* exact when min(n1, n2) <= 8 and there are no ties, else asymptotic */
    TI_STATS_EXACT,      /* exact null distribution (no tie correction) */
    TI_STATS_ASYMPTOTIC, /* normal approximation with tie (and continuity) correction */
    TI_STATS_METHOD_COUNT
} ti_stats_method;

/* "two-sided", "less", "greater" and "auto", "exact", "asymptotic". */
const char *ti_stats_alternative_name(ti_stats_alternative a);
const char *ti_stats_method_name(ti_stats_method m);
/* Parses a name as above; TI_STATS_ERR_ARG (with the accepted names in err) otherwise. */
ti_stats_status ti_stats_alternative_parse(const char *s, ti_stats_alternative *out,
                                           ti_stats_err *err);

typedef struct ti_stats_mwu_params {
    ti_stats_alternative alternative; /* default TI_STATS_TWO_SIDED */
    ti_stats_method method;           /* default TI_STATS_AUTO */
    int use_continuity;               /* default 1: subtract 1/2 from |U - mu| (asymptotic) */
} ti_stats_mwu_params;

/* scipy's defaults: two-sided, auto, continuity correction. */
ti_stats_mwu_params ti_stats_mwu_params_default(void);

typedef struct ti_stats_mwu_result {
    size_t n1, n2;
    double u1;        /* U of the first sample: R1 - n1 (n1 + 1) / 2 (scipy's statistic);
                       * u1 / (n1 n2) is the AUC of x against y */
    double u2;        /* n1 n2 - u1 */
    double p;         /* the p-value; may underflow to 0 (or lose digits as a subnormal)
                       * below ~1e-300: use log10_p there */
    double log10_p;   /* log10 of the p-value, finite however small p is; 0 when p = 1 */
    double z;         /* the standardized statistic (asymptotic method); NaN for exact */
    ti_stats_method method; /* the method actually used: EXACT or ASYMPTOTIC */
    double tie_term;  /* sum of t^3 - t over groups of tied values of x and y pooled */
} ti_stats_mwu_result;

/* The Mann-Whitney U test of x[0..n1) against y[0..n2), exactly as scipy 1.10's
 * mannwhitneyu(x, y, use_continuity, alternative, method):
 *   ranks of x and y pooled (average ranks for ties), U1 = R1 - n1 (n1 + 1) / 2;
 *   'greater' uses U = U1, 'less' U = U2, 'two-sided' U = max(U1, U2) and doubles the
 *   one-sided p (then clips to 1);
 *   exact: P(U' >= U) under the null, from the recurrence of the number of arrangements
 *   (counts of U over all C(n1 + n2, n1) orderings, Mann & Whitney 1947);
 *   asymptotic: z = (U - n1 n2 / 2 - 1/2) / s with
 *   s = sqrt(n1 n2 / 12 ((n + 1) - tie_term / (n (n - 1)))), p = P(Z > z).
 * 'auto' picks exact when min(n1, n2) <= 8 and no value is tied (scipy 1.10's rule; its
 * docstring says "< 8", its code says "not both > 8"). Two differences from scipy, both
 * documented in docs/stats.md: when every value is tied (s = 0) p is 1 (scipy gives 1 with
 * continuity, NaN without); 'auto' falls back to asymptotic when the exact table would need
 * more than 2^24 entries (min(n1,n2) <= 8 with the other above ~4 million), where scipy
 * would still be summing. An explicit TI_STATS_EXACT that large, or whose tail underflows,
 * fails with TI_STATS_ERR_TOO_LARGE.
 * Errors: NULL pointers or bad params (ARG), n1 == 0 or n2 == 0 (EMPTY), NaN (NAN); infinite
 * values are allowed (they rank first or last, as in scipy). Allocates O(n1 + n2) scratch. */
ti_stats_status ti_stats_mwu(const double *x, size_t n1, const double *y, size_t n2,
                             const ti_stats_mwu_params *params, ti_stats_mwu_result *out,
                             ti_stats_err *err);

/* ---- ROC AUC, ROC curve, DeLong interval -----------------------------------------------
 * Two-sample form: x holds the scores of the positives (label 1), y those of the negatives
 * (label 0), i.e. sklearn's y_true = [1]*n1 + [0]*n2, y_score = x ++ y. The AUC is
 * P(X > Y) + P(X = Y) / 2 = U1 / (n1 n2). For "the probability that a sample of the first group
 * has a LOWER value than one of the second" (the paper's epsilon AUC), pass the groups the
 * other way round (or negate the values). */

/* AUC of x (positives) against y (negatives), equal to sklearn.metrics.roc_auc_score.
 * n1, n2 >= 1, no NaN. */
ti_stats_status ti_stats_auc(const double *x, size_t n1, const double *y, size_t n2,
                             double *auc, ti_stats_err *err);

/* The ROC curve as sklearn.metrics.roc_curve(y_true, y_score, drop_intermediate=False)
 * (sklearn 1.2): one point per distinct score, by decreasing threshold, after the point
 * (0, 0) whose threshold is max(score) + 1. fpr, tpr, thr must each hold n1 + n2 + 1
 * values; *npoints receives the number written (number of distinct scores + 1). */
ti_stats_status ti_stats_roc_curve(const double *x, size_t n1, const double *y, size_t n2,
                                   double *fpr, double *tpr, double *thr, size_t *npoints,
                                   ti_stats_err *err);

typedef struct ti_stats_delong {
    double auc;       /* as ti_stats_auc */
    double var;       /* DeLong variance of the AUC: S10 / n1 + S01 / n2 */
    double se;        /* sqrt(var) */
    double level;     /* confidence level, e.g. 0.95 */
    double lo, hi;    /* auc -/+ z_{(1+level)/2} se, clipped to [0, 1] */
} ti_stats_delong;

/* The AUC with its DeLong et al. (1988) variance and a normal confidence interval at `level`
 * (0 < level < 1; 0.95 is the usual choice), computed by the midrank algorithm of Sun & Xu
 * (2014) in O((n1 + n2) log(n1 + n2)). Needs n1 >= 2 and n2 >= 2 (the structural components'
 * variances use divisor n - 1): TI_STATS_ERR_EMPTY otherwise. A zero variance (perfect
 * separation) gives the interval [auc, auc]. */
ti_stats_status ti_stats_auc_delong(const double *x, size_t n1, const double *y, size_t n2,
                                    double level, ti_stats_delong *out, ti_stats_err *err);

/* ---- the beta distribution ------------------------------------------------------------ */

/* The regularized incomplete beta function I_x(a, b), the CDF of Beta(a, b) at x (0 below 0,
 * 1 above 1; NaN for a or b not positive and finite, or x NaN), as scipy.stats.beta.cdf. */
double ti_stats_beta_cdf(double x, double a, double b);
/* Its inverse: the x with I_x(a, b) = p, 0 <= p <= 1 (NaN outside or for bad a, b), as
 * scipy.stats.beta.ppf. Relative error ~1e-15 typically, 1.1e-12 at worst on the tests'
 * shapes up to a + b = 1e5 (one parameter small, the other large; see docs/stats.md). */
double ti_stats_beta_ppf(double p, double a, double b);

/* ---- binomial proportions --------------------------------------------------------------- */

typedef enum ti_stats_ci_method {
    TI_STATS_CI_CLOPPER_PEARSON = 0, /* exact (equal-tailed beta quantiles) */
    TI_STATS_CI_WILSON,              /* score interval, no continuity correction */
    TI_STATS_CI_METHOD_COUNT
} ti_stats_ci_method;

/* Two-sided confidence interval [lo, hi] for a binomial proportion k / n at `level`
 * (0 < level < 1; alpha = 1 - level), as statsmodels.stats.proportion.proportion_confint with
 * method 'beta' or 'wilson'. Clopper-Pearson: lo = Beta(k, n - k + 1) quantile alpha / 2
 * (0 when k = 0), hi = Beta(k + 1, n - k) quantile 1 - alpha / 2 (1 when k = n); it covers
 * with probability >= level. Wilson: the roots of |k / n - p| = z sqrt(p (1 - p) / n), z the
 * normal quantile 1 - alpha / 2. Errors: n = 0 (EMPTY); k > n, a bad level or method, NULL
 * outputs (ARG). */
ti_stats_status ti_stats_proportion_ci(size_t k, size_t n, double level,
                                       ti_stats_ci_method method, double *lo, double *hi,
                                       ti_stats_err *err);

/* The exact one-sided binomial test of k successes in n trials against the proportion p0,
 * alternative "less": log10 of P(X <= k) for X ~ Bin(n, p0), as scipy.stats.binomtest(k, n,
 * p0, alternative='less'), in log space so that tiny p-values stay exact. Is a robust accuracy
 * measured on n samples significantly below an accuracy reported elsewhere (p0, taken as a
 * fixed value)? Errors: n = 0 (EMPTY); k > n, p0 outside [0, 1] or NaN, NULL out (ARG). */
ti_stats_status ti_stats_binom_test_less(size_t k, size_t n, double p0, double *log10_p,
                                         ti_stats_err *err);

/* ---- two classifiers on the same samples ------------------------------------------------
 * b = samples the first classifier gets right and the second wrong, c = the reverse (the
 * discordant pairs); n11 / n00 = both right / both wrong. For "the accuracy pruning costs",
 * the first is the dense model and the second the pruned one: b - c is the drop in correct
 * samples. */

typedef struct ti_stats_mcnemar {
    size_t b, c;
    double statistic; /* min(b, c), statsmodels' statistic for exact=True */
    double p;         /* two-sided exact p-value; underflows to 0 below ~1e-308 */
    double log10_p;   /* log10 of p, finite however small p is; 0 when p = 1 */
} ti_stats_mcnemar;

/* The exact McNemar test, as statsmodels.stats.contingency_tables.mcnemar(exact=True):
 * under H0 (both classifiers equally accurate) b ~ Binomial(b + c, 1/2), and
 * p = min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2): exactly 1 when
 * 2 min(b, c) + 1 >= b + c (b = c = 0 included). The tail
 * is I_{1/2}(b + c - min, min + 1) computed in log space, so b = 0, c = 5000 gives
 * log10 p = log10(2) - 5000 log10(2) rather than 0. Errors: out NULL (ARG). */
ti_stats_status ti_stats_mcnemar_exact(size_t b, size_t c, ti_stats_mcnemar *out,
                                       ti_stats_err *err);

typedef struct ti_stats_paired_ci {
    double diff;   /* p1 - p2 = (b - c) / n: accuracy of the first minus the second */
    double lo, hi; /* the interval, inside [-1, 1] */
    double level;
} ti_stats_paired_ci;

/* Confidence interval for the difference of two paired proportions (accuracies of two
 * classifiers on the same n = n11 + b + c + n00 samples) by Newcombe's hybrid score method
 * (Newcombe 1998, method 10): Wilson intervals (l1, u1) for p1 = (n11 + b) / n and (l2, u2)
 * for p2 = (n11 + c) / n, combined with the phi correlation of the 2x2 table,
 * phi = (n11 n00 - b c) / sqrt((n11 + b)(c + n00)(n11 + c)(b + n00)) (0 if a margin is 0):
 *   lo = diff - sqrt((p1 - l1)^2 - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)^2)
 *   hi = diff + sqrt((u1 - p1)^2 - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)^2).
 * Errors: n = 0 (EMPTY), bad level (ARG). */
ti_stats_status ti_stats_paired_diff_ci(size_t n11, size_t b, size_t c, size_t n00,
                                        double level, ti_stats_paired_ci *out,
                                        ti_stats_err *err);

/* ---- security curves --------------------------------------------------------------------
 * Input: per-sample minimal adversarial distances d[0..n) in the attack's norm: 0 for a sample
 * the model misclassifies clean, +inf when no adversarial example was found, else the norm of
 * the smallest perturbation found (a minimum-norm attack such as FMN). NaN is an error
 * (TI_STATS_ERR_NAN), a negative value too (TI_STATS_ERR_ARG).
 * The robust accuracy at budget eps >= 0 is acc(eps) = #{i : d_i > eps} / n. A sample whose
 * distance equals eps exactly counts as broken (its adversarial example is within the budget,
 * as a misclassified clean sample is within any budget), so acc is a non-increasing,
 * right-continuous step function with acc(0) = clean accuracy and acc(inf) = fraction of +inf. */

/* The curve exactly, as its breakpoints: eps[0] = 0, acc[0] = acc(0); then one point per
 * distinct finite positive distance, ascending, with acc[k] = acc(eps[k]), so that
 * acc(e) = acc[k] for eps[k] <= e < eps[k + 1] and acc[last] beyond. eps and acc must hold
 * n + 1 values each; *npoints receives the number written. n >= 1. Sorts a copy of d. */
ti_stats_status ti_stats_security_curve(const double *d, size_t n, double *eps, double *acc,
                                        size_t *npoints, ti_stats_err *err);

/* acc(eps[j]) for j < m (any order, any values; eps[j] < 0 gives 1) into acc[0..m). n >= 1.
 * O((n + m) log n). */
ti_stats_status ti_stats_robust_accuracy(const double *d, size_t n, const double *eps, size_t m,
                                         double *acc, ti_stats_err *err);

typedef struct ti_stats_security {
    size_t n;
    size_t n_zero;    /* samples at distance 0 (misclassified clean) */
    size_t n_inf;     /* samples at +inf (no adversarial example found) */
    double clean_acc; /* acc(0) = (n - n_zero) / n */
    double median;    /* median of all n distances (numpy.median: zeros and +inf included;
                       * +inf when more than half are +inf) */
    double eps_max;
    double auc;       /* (1 / eps_max) * integral over [0, eps_max] of acc(e) de, in
                       * [0, clean_acc]: the mean of min(d_i, eps_max) / eps_max */
} ti_stats_security;

/* Counts, clean accuracy, median distance and the normalised area under the curve over
 * [0, eps_max] (eps_max > 0 and finite, else ARG). */
ti_stats_status ti_stats_security_summary(const double *d, size_t n, double eps_max,
                                          ti_stats_security *out, ti_stats_err *err);

/* ---- attack optimality (AttackBench) ----------------------------------------------------
 * Cina et al., "AttackBench: Evaluating Gradient-based Attacks for Adversarial Examples"
 * (AAAI 2025). Several minimum-norm attacks run on the same samples; the envelope holds, per
 * sample, the smallest distance any of them found, and its security curve acc* is the best
 * the run knows. An attack's local optimality compares the area under its own curve with
 * the envelope's over [0, eps*], eps* the largest finite envelope distance:
 *   optimality = 1 - (A - A*) / (c eps* - A*),
 * A = integral of the attack's acc over [0, eps*], A* the envelope's, c = acc*(0) (the clean
 * accuracy): 1 for an attack as good as the envelope everywhere, 0 for one that breaks
 * nothing (its curve stays at the clean accuracy). */

/* best[i] = min over j < nattacks of dist[j][i] (each dist[j] holds n distances, as for the
 * security curves). best may alias dist[0]. */
ti_stats_status ti_stats_envelope(const double *const *dist, size_t nattacks, size_t n,
                                  double *best, ti_stats_err *err);

typedef struct ti_stats_optimality {
    double eps_max;    /* eps*: the largest finite envelope distance (0 if there is none) */
    double clean_acc;  /* c: fraction of envelope distances > 0 */
    double area;       /* A: integral of the attack's acc over [0, eps*] */
    double area_best;  /* A*: the envelope's */
    double optimality; /* 1 - (A - A*) / (c eps* - A*); NaN when c eps* = A* (every broken
                        * sample at distance 0 or eps*: no attack can do worse) */
} ti_stats_optimality;

/* The local optimality of one attack's distances dist[0..n) against the envelope best[0..n)
 * of its run. Areas are exact integrals of the step functions:
 * A = (1/n) sum_i min(dist_i, eps*). An attack that is not part of the envelope may beat it
 * on some samples and score above 1. */
ti_stats_status ti_stats_attack_optimality(const double *dist, const double *best, size_t n,
                                           ti_stats_optimality *out, ti_stats_err *err);

/* ---- CSV reader ------------------------------------------------------------------------
 * RFC 4180 with a header row: comma-separated fields, fields in double quotes may hold
 * commas, newlines and doubled quotes (""), CRLF or LF line ends. Unquoted fields are
 * trimmed of surrounding spaces and tabs; empty lines are skipped; every row must have as
 * many fields as the header. Cells are kept as strings; numbers are parsed on request. */
typedef struct ti_stats_csv ti_stats_csv;

/* Reads and parses the file at path. Errors: IO (cannot open/read, the path in the message),
 * FORMAT ("FILE:LINE: ..."), NOMEM. Free with ti_stats_csv_free. */
ti_stats_status ti_stats_csv_read(const char *path, ti_stats_csv **out, ti_stats_err *err);
/* Parses text[0..len) (need not be NUL-terminated); `name` is used in messages (may be
 * NULL: "<csv>"). */
ti_stats_status ti_stats_csv_parse(const char *text, size_t len, const char *name,
                                   ti_stats_csv **out, ti_stats_err *err);
void ti_stats_csv_free(ti_stats_csv *c); /* NULL is fine */

size_t ti_stats_csv_ncols(const ti_stats_csv *c);
size_t ti_stats_csv_nrows(const ti_stats_csv *c); /* data rows, header excluded */
/* Column name; borrowed, valid while c lives. NULL if col is out of range. */
const char *ti_stats_csv_colname(const ti_stats_csv *c, size_t col);
/* Index of the first column named `name`, or -1 if there is none. */
long ti_stats_csv_find(const ti_stats_csv *c, const char *name);
/* The cell's text (unquoted, NUL-terminated); borrowed, valid while c lives. NULL if out of
 * range. */
const char *ti_stats_csv_cell(const ti_stats_csv *c, size_t row, size_t col);
/* 1-based line of the file on which data row `row` starts (for messages). */
long ti_stats_csv_line(const ti_stats_csv *c, size_t row);
/* Parses one cell as a double: a decimal number or infinity spelled out ("inf", "-inf":
 * FMN's distance where it found nothing). FORMAT if it is empty, not such a number (hex,
 * words) or beyond a double's range (1e400), NAN if it is NaN; the message names file, line
 * and column. */
ti_stats_status ti_stats_csv_number(const ti_stats_csv *c, size_t row, size_t col,
                                    double *out, ti_stats_err *err);
/* The numbers of the column `name` in row order, in a malloc'd array (*out, free with
 * free(); NULL when *n is 0). With skip_empty, empty cells are left out (columns of different
 * lengths); otherwise they are FORMAT errors. COLUMN if no column has that name (the message
 * lists the columns there are). */
ti_stats_status ti_stats_csv_column(const ti_stats_csv *c, const char *name, int skip_empty,
                                    double **out, size_t *n, ti_stats_err *err);

/* Two samples of one column split by the labels of another. */
typedef struct ti_stats_sample {
    char label[256];
    double *v; /* malloc'd, free() */
    size_t n;
} ti_stats_sample;

/* The numbers of column `value` of the rows whose column `group` holds label A into a, label
 * B into b. groups "A,B" names the two labels (rows of other labels are skipped); NULL: the
 * column must hold exactly two labels, taken in order of first appearance. Errors: COLUMN
 * (no such column, the columns listed), ARG (a bad "A,B", a third label, fewer than two, a
 * label longer than 255 bytes), FORMAT/NAN (a cell that is not a number), NOMEM. a and b are
 * empty on error. */
ti_stats_status ti_stats_csv_groups(const ti_stats_csv *c, const char *value, const char *group,
                                    const char *groups, ti_stats_sample *a, ti_stats_sample *b,
                                    ti_stats_err *err);

#ifdef __cplusplus
}
#endif
#endif
