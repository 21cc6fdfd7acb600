/* Tests of libstats: Mann-Whitney U, AUC, ROC curve and DeLong interval against scipy,
 * sklearn and mpmath references (tests/fixtures/stats_*.txt, made by
 * scripts/make_stats_fixtures.py), ranks and descriptive statistics against scipy/numpy, the
 * normal log-tail, the beta distribution, Clopper-Pearson and Wilson intervals, the exact
 * McNemar test and Newcombe's paired interval against scipy/statsmodels, security curves and
 * AttackBench optimality against numpy, invariants (symmetries, exact distributions known by
 * hand, closed forms), the CSV reader, and every error path. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thinice/stats.h"
#include "../libstats/internal.h" /* white-box: the exact distribution's limits */

#ifndef TI_FIXTURE_DIR
#define TI_FIXTURE_DIR "tests/fixtures"
#endif

/* ---- the fixture format: "case NAME", then "key value..." lines, then "end" ------------ */

#define FX_MAX_KV 16

typedef struct fx_case {
    char name[128];
    int nkv;
    char key[FX_MAX_KV][32];
    char *val[FX_MAX_KV]; /* the rest of the line, malloc'd */
} fx_case;

typedef struct fx_file {
    fx_case *c;
    int n;
} fx_file;

static void fx_free(fx_file *f)
{
    for (int i = 0; i < f->n; i++)
        for (int k = 0; k < f->c[i].nkv; k++)
            free(f->c[i].val[k]);
    free(f->c);
    free(f);
}

static fx_file *fx_load(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TI_FIXTURE_DIR, name);
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "cannot open fixture %s", path);
    fx_file *f = calloc(1, sizeof *f);
    int cap = 0;
    size_t lcap = 0;
    char *line = NULL;
    fx_case *cur = NULL;
    while (getline(&line, &lcap, fp) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (strncmp(line, "case ", 5) == 0) {
            if (f->n == cap) {
                cap = cap ? 2 * cap : 64;
                f->c = realloc(f->c, (size_t)cap * sizeof *f->c);
            }
            cur = &f->c[f->n++];
            memset(cur, 0, sizeof *cur);
            snprintf(cur->name, sizeof cur->name, "%s", line + 5);
        } else if (strcmp(line, "end") == 0) {
            cur = NULL;
        } else {
            ck_assert_ptr_nonnull(cur);
            ck_assert_int_lt(cur->nkv, FX_MAX_KV);
            char *sp = strchr(line, ' ');
            ck_assert_ptr_nonnull(sp);
            *sp = '\0';
            snprintf(cur->key[cur->nkv], sizeof cur->key[0], "%s", line);
            cur->val[cur->nkv] = strdup(sp + 1);
            cur->nkv++;
        }
    }
    free(line);
    fclose(fp);
    ck_assert_int_gt(f->n, 0);
    return f;
}

static const char *fx_str(const fx_case *c, const char *key)
{
    for (int k = 0; k < c->nkv; k++)
        if (strcmp(c->key[k], key) == 0)
            return c->val[k];
    ck_abort_msg("fixture case %s has no key %s", c->name, key);
    return NULL;
}

static double fx_num(const fx_case *c, const char *key)
{
    return strtod(fx_str(c, key), NULL);
}

/* "n v1 v2 ..." as a malloc'd array. */
static double *fx_arr(const fx_case *c, const char *key, size_t *n)
{
    const char *s = fx_str(c, key);
    char *end;
    *n = strtoul(s, &end, 10);
    double *v = malloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) {
        s = end;
        v[i] = strtod(s, &end);
        ck_assert_msg(end != s, "case %s key %s: short array", c->name, key);
    }
    return v;
}

/* |a - b| <= rel * max(|a|, |b|), with exact equality for zeros and infinities. */
static int close_rel(double a, double b, double rel)
{
    if (a == b)
        return 1;
    if (isnan(a) && isnan(b))
        return 1;
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

#define ASSERT_REL(a, b, rel, name)                                                            \
    ck_assert_msg(close_rel((a), (b), (rel)), "%s: %s = %.17g, reference %.17g", (name), #a,   \
                  (double)(a), (double)(b))

/* ---- Mann-Whitney U against scipy ------------------------------------------------------ */

START_TEST(test_mwu_scipy)
{
    fx_file *f = fx_load("stats_mwu.txt");
    int far_tail = 0, exact = 0, asym = 0;
    for (int i = 0; i < f->n; i++) {
        const fx_case *c = &f->c[i];
        size_t n1, n2;
        double *x = fx_arr(c, "x", &n1), *y = fx_arr(c, "y", &n2);
        ti_stats_mwu_params prm = ti_stats_mwu_params_default();
        ti_stats_err e = {0};
        ck_assert_int_eq(ti_stats_alternative_parse(fx_str(c, "alt"), &prm.alternative, &e), 0);
        const char *m = fx_str(c, "method");
        prm.method = strcmp(m, "exact") == 0        ? TI_STATS_EXACT
                     : strcmp(m, "asymptotic") == 0 ? TI_STATS_ASYMPTOTIC
                                                    : TI_STATS_AUTO;
        ti_stats_mwu_result r;
        ck_assert_msg(ti_stats_mwu(x, n1, y, n2, &prm, &r, &e) == TI_STATS_OK, "%s: %s",
                      c->name, e.msg);
        ck_assert_str_eq(ti_stats_method_name(r.method), fx_str(c, "method_used"));
        ck_assert_uint_eq(r.n1, n1);
        ck_assert_uint_eq(r.n2, n2);
        ASSERT_REL(r.u1, fx_num(c, "u1"), 1e-9, c->name);
        ASSERT_REL(r.u1 + r.u2, (double)n1 * n2, 1e-15, c->name);
        double p = fx_num(c, "p"), l10 = fx_num(c, "log10p");
        if (p > 1e-300) {
            ASSERT_REL(r.p, p, 1e-9, c->name);
        } else {
            ck_assert_msg(r.p <= 1e-290, "%s: p = %g where scipy underflows", c->name, r.p);
        }
        if (l10 == 0.0)
            ck_assert_msg(fabs(r.log10_p) < 1e-15, "%s: log10 p = %g", c->name, r.log10_p);
        else
            ASSERT_REL(r.log10_p, l10, 1e-9, c->name);
        if (r.method == TI_STATS_ASYMPTOTIC) {
            ASSERT_REL(r.z, fx_num(c, "z"), 1e-9, c->name);
            asym++;
        } else {
            ck_assert(isnan(r.z));
            exact++;
        }
        far_tail += l10 < -200.0;
        free(x);
        free(y);
    }
    /* the fixtures really cover the far tail and both methods */
    ck_assert_int_ge(far_tail, 4);
    ck_assert_int_ge(exact, 20);
    ck_assert_int_ge(asym, 20);
    fx_free(f);
}
END_TEST

/* Hand-checked exact distributions: for m = n = 2 the six orderings give U = 0,1,2,2,3,4. */
START_TEST(test_mwu_exact_by_hand)
{
    double cdf;
    ti_stats_err e = {0};
    const double want[5] = {1.0 / 6, 2.0 / 6, 4.0 / 6, 5.0 / 6, 1.0};
    for (int k = 0; k < 5; k++) {
        ck_assert_int_eq(ti_stats__mwu_exact_cdf(2, 2, k, &cdf, &e), 0);
        ck_assert_double_eq_tol(cdf, want[k], 1e-15);
    }
    ck_assert_int_eq(ti_stats__mwu_exact_cdf(2, 2, -1, &cdf, &e), 0);
    ck_assert_double_eq(cdf, 0.0);
    /* m = 1: U is uniform on 0..n */
    for (int k = 0; k <= 9; k++) {
        ck_assert_int_eq(ti_stats__mwu_exact_cdf(1, 9, k, &cdf, &e), 0);
        ck_assert_double_eq_tol(cdf, (k + 1) / 10.0, 1e-15);
    }
    /* symmetric: P(U <= k) + P(U <= mn - k - 1) = 1, through both halves of the code */
    for (int k = 0; k < 56; k++) {
        double a, b;
        ck_assert_int_eq(ti_stats__mwu_exact_cdf(7, 8, k, &a, &e), 0);
        ck_assert_int_eq(ti_stats__mwu_exact_cdf(8, 7, 55 - k, &b, &e), 0);
        ck_assert_double_eq_tol(a + b, 1.0, 1e-14);
    }
    /* the smallest tail is 1 / C(m+n, m): C(16, 8) = 12870 */
    ck_assert_int_eq(ti_stats__mwu_exact_cdf(8, 8, 0, &cdf, &e), 0);
    ck_assert(close_rel(cdf, 1.0 / 12870, 1e-14));
    /* limits: the table size is refused before any allocation */
    ck_assert_int_eq(ti_stats__mwu_exact_cdf(8, 5000000, 2e7, &cdf, &e), TI_STATS_ERR_TOO_LARGE);
    ck_assert(strstr(e.msg, "asymptotic") != NULL);
}
END_TEST

static void fill_ramp(double *v, size_t n, double a, double step)
{
    for (size_t i = 0; i < n; i++)
        v[i] = a + step * (double)((i * 7919) % n); /* a permutation of a ramp */
}

START_TEST(test_mwu_invariants)
{
    double x[40], y[55];
    fill_ramp(x, 40, 0.3, 0.11);
    fill_ramp(y, 55, 0.0, 0.09);
    ti_stats_mwu_params pg = ti_stats_mwu_params_default(), pl = pg, pt = pg;
    pg.alternative = TI_STATS_GREATER;
    pl.alternative = TI_STATS_LESS;
    ti_stats_mwu_result a, b, t, s;
    ck_assert_int_eq(ti_stats_mwu(x, 40, y, 55, &pg, &a, NULL), 0);
    ck_assert_int_eq(ti_stats_mwu(y, 55, x, 40, &pl, &b, NULL), 0);
    ck_assert_int_eq(ti_stats_mwu(x, 40, y, 55, &pt, &t, NULL), 0);
    ck_assert_int_eq(ti_stats_mwu(x, 40, y, 55, NULL, &s, NULL), 0); /* NULL = defaults */
    /* swapping the samples swaps U1 and U2 and the direction of the alternative */
    ck_assert_double_eq(a.u1, b.u2);
    ck_assert_double_eq(a.p, b.p);
    /* two-sided is twice the one-sided tail of the larger U */
    ti_stats_mwu_result l;
    ck_assert_int_eq(ti_stats_mwu(x, 40, y, 55, &pl, &l, NULL), 0);
    ck_assert(a.u1 > a.u2);
    ck_assert(a.p < l.p);
    ck_assert_double_eq(t.p, 2 * a.p);
    ck_assert(close_rel(t.log10_p, log10(2.0) + a.log10_p, 1e-14));
    ck_assert_double_eq(t.p, s.p);
    ck_assert(t.p <= 1.0 && t.p > 0.0);
    ck_assert(close_rel(pow(10.0, t.log10_p), t.p, 1e-12));
    /* shifting y far down drives p into the far tail but never to a flat 0 in log space */
    double yy[55];
    for (int i = 0; i < 55; i++)
        yy[i] = y[i] - 100.0;
    ck_assert_int_eq(ti_stats_mwu(x, 40, yy, 55, &pg, &a, NULL), 0);
    ck_assert_double_eq(a.u1, 40.0 * 55.0);
    ck_assert(a.log10_p < -15 && isfinite(a.log10_p));
}
END_TEST

START_TEST(test_mwu_large_far_tail)
{
    /* 3000 vs 3000 fully separated: z ~ 67, p ~ 1e-980, far below any double */
    size_t n = 3000;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        x[i] = 10.0 + (double)i;
        y[i] = -(double)i;
    }
    ti_stats_mwu_result r;
    ti_stats_err e = {0};
    ck_assert_int_eq(ti_stats_mwu(x, n, y, n, NULL, &r, &e), 0);
    ck_assert_int_eq(r.method, TI_STATS_ASYMPTOTIC);
    double N = 2.0 * n, z = (n * (double)n / 2 - 0.5) / sqrt(n * (double)n * (N + 1) / 12);
    ck_assert(close_rel(r.z, z, 1e-14));
    /* log10(2 sf(z)) with sf(z) ~ phi(z)/z (1 - 1/z^2 + 3/z^4): accurate to 1e-7 here */
    double lsf = -0.5 * z * z - log(z * sqrt(2 * M_PI)) + log(1 - 1 / (z * z) + 3 / pow(z, 4));
    ck_assert(close_rel(r.log10_p, (log(2.0) + lsf) / log(10.0), 1e-9));
    ck_assert(r.log10_p < -900);
    ck_assert_double_eq(r.p, 0.0);
    free(x);
    free(y);
}
END_TEST

/* ---- AUC, ROC curve, DeLong against sklearn and numpy ---------------------------------- */

START_TEST(test_auc_sklearn)
{
    fx_file *f = fx_load("stats_auc.txt");
    for (int i = 0; i < f->n; i++) {
        const fx_case *c = &f->c[i];
        size_t n1, n2, nf, nt, nth;
        double *x = fx_arr(c, "x", &n1), *y = fx_arr(c, "y", &n2);
        double *rf = fx_arr(c, "fpr", &nf), *rt = fx_arr(c, "tpr", &nt),
               *rth = fx_arr(c, "thr", &nth);
        ti_stats_err e = {0};
        double auc;
        ck_assert_int_eq(ti_stats_auc(x, n1, y, n2, &auc, &e), 0);
        ASSERT_REL(auc, fx_num(c, "auc"), 1e-9, c->name);
        /* AUC = U1 / (n1 n2), and swapping the classes gives 1 - AUC */
        ti_stats_mwu_result r;
        ck_assert_int_eq(ti_stats_mwu(x, n1, y, n2, NULL, &r, &e), 0);
        ASSERT_REL(auc, r.u1 / ((double)n1 * n2), 1e-15, c->name);
        double sw;
        ck_assert_int_eq(ti_stats_auc(y, n2, x, n1, &sw, &e), 0);
        ck_assert_double_eq_tol(auc + sw, 1.0, 1e-14);

        size_t cap = n1 + n2 + 1, np = 0;
        double *fpr = malloc(cap * sizeof *fpr), *tpr = malloc(cap * sizeof *tpr),
               *thr = malloc(cap * sizeof *thr);
        ck_assert_int_eq(ti_stats_roc_curve(x, n1, y, n2, fpr, tpr, thr, &np, &e), 0);
        ck_assert_uint_eq(np, nf);
        for (size_t k = 0; k < np; k++) {
            ASSERT_REL(fpr[k], rf[k], 1e-12, c->name);
            ASSERT_REL(tpr[k], rt[k], 1e-12, c->name);
            ASSERT_REL(thr[k], rth[k], 1e-12, c->name);
        }
        /* the trapezoid area under the curve is the AUC */
        double area = 0;
        for (size_t k = 1; k < np; k++)
            area += (fpr[k] - fpr[k - 1]) * (tpr[k] + tpr[k - 1]) / 2;
        ASSERT_REL(area, auc, 1e-12, c->name);

        ti_stats_delong d;
        double level = fx_num(c, "level");
        ck_assert_int_eq(ti_stats_auc_delong(x, n1, y, n2, level, &d, &e), 0);
        ASSERT_REL(d.auc, auc, 1e-15, c->name);
        ASSERT_REL(d.var, fx_num(c, "var"), 1e-9, c->name);
        ck_assert_double_eq_tol(d.lo, fx_num(c, "lo"), 1e-12);
        ck_assert_double_eq_tol(d.hi, fx_num(c, "hi"), 1e-12);
        ck_assert(d.lo >= 0.0 && d.lo <= d.auc && d.auc <= d.hi && d.hi <= 1.0);
        ck_assert_double_eq(d.level, level);
        ASSERT_REL(d.se * d.se, d.var, 1e-14, c->name);
        free(fpr);
        free(tpr);
        free(thr);
        free(rf);
        free(rt);
        free(rth);
        free(x);
        free(y);
    }
    fx_free(f);
}
END_TEST

/* ---- ranks, descriptive statistics, the normal distribution ---------------------------- */

START_TEST(test_describe_ranks)
{
    fx_file *f = fx_load("stats_misc.txt");
    int seen = 0;
    for (int i = 0; i < f->n; i++) {
        const fx_case *c = &f->c[i];
        if (strncmp(c->name, "describe/", 9) != 0)
            continue;
        seen++;
        size_t n, nr;
        double *x = fx_arr(c, "x", &n), *rr = fx_arr(c, "ranks", &nr);
        double *ranks = malloc(n * sizeof *ranks), tt;
        ti_stats_err e = {0};
        ck_assert_int_eq(ti_stats_rankdata(x, n, ranks, &tt, &e), 0);
        for (size_t k = 0; k < n; k++)
            ck_assert_double_eq(ranks[k], rr[k]);
        ck_assert_double_eq(tt, fx_num(c, "tie_term"));
        ti_stats_summary s;
        ck_assert_int_eq(ti_stats_describe(x, n, &s, &e), 0);
        ck_assert_uint_eq(s.n, n);
        ASSERT_REL(s.mean, fx_num(c, "mean"), 1e-12, c->name);
        ASSERT_REL(s.var, fx_num(c, "var"), 1e-9, c->name);
        ASSERT_REL(s.min, fx_num(c, "min"), 0, c->name);
        ASSERT_REL(s.max, fx_num(c, "max"), 0, c->name);
        ASSERT_REL(s.q1, fx_num(c, "q1"), 1e-14, c->name);
        ASSERT_REL(s.median, fx_num(c, "median"), 1e-14, c->name);
        ASSERT_REL(s.q3, fx_num(c, "q3"), 1e-14, c->name);
        free(ranks);
        free(rr);
        free(x);
    }
    ck_assert_int_eq(seen, 5);
    fx_free(f);
}
END_TEST

START_TEST(test_normal)
{
    fx_file *f = fx_load("stats_misc.txt");
    for (int i = 0; i < f->n; i++) {
        const fx_case *c = &f->c[i];
        size_t n, m;
        if (strcmp(c->name, "normal/logsf") == 0) {
            double *z = fx_arr(c, "z", &n), *l = fx_arr(c, "logsf", &m);
            for (size_t k = 0; k < n; k++) {
                ASSERT_REL(ti_stats_norm_logsf(z[k]), l[k], 1e-13, "logsf");
                if (l[k] > -700) /* where exp does not underflow */
                    ASSERT_REL(ti_stats_norm_sf(z[k]), exp(l[k]), 1e-12, "sf");
            }
            free(z);
            free(l);
        } else if (strcmp(c->name, "normal/ppf") == 0) {
            double *p = fx_arr(c, "prob", &n), *q = fx_arr(c, "ppf", &m);
            for (size_t k = 0; k < n; k++)
                ASSERT_REL(ti_stats_norm_ppf(p[k]), q[k], 1e-13, "ppf");
            free(p);
            free(q);
        }
    }
    fx_free(f);
    ck_assert(isinf(ti_stats_norm_logsf(INFINITY)) && ti_stats_norm_logsf(INFINITY) < 0);
    ck_assert_double_eq(ti_stats_norm_logsf(-INFINITY), 0.0);
    ck_assert(isnan(ti_stats_norm_logsf(NAN)));
    ck_assert(isinf(ti_stats_norm_ppf(0.0)) && isinf(ti_stats_norm_ppf(1.0)));
    ck_assert(isnan(ti_stats_norm_ppf(1.5)) && isnan(ti_stats_norm_ppf(NAN)));
    ck_assert_double_eq(ti_stats_norm_ppf(0.5), 0.0);
    /* logsf is continuous across the switch from erfc to the continued fraction */
    double z0 = 25.0 * sqrt(2.0);
    double a = ti_stats_norm_logsf(nextafter(z0, 0)), b = ti_stats_norm_logsf(z0);
    ck_assert(close_rel(a, b, 1e-13));
}
END_TEST

/* ---- the beta distribution, binomial intervals, McNemar, paired differences ------------- */

START_TEST(test_beta_scipy)
{
    fx_file *f = fx_load("stats_binom.txt");
    int seen = 0;
    for (int i = 0; i < f->n; i++) {
        const fx_case *c = &f->c[i];
        if (strncmp(c->name, "beta/", 5) != 0)
            continue;
        seen++;
        double a = fx_num(c, "a"), b = fx_num(c, "b");
        size_t n, m;
        double *x = fx_arr(c, "x", &n), *cdf = fx_arr(c, "cdf", &m);
        ck_assert_uint_eq(n, m);
        for (size_t k = 0; k < n; k++) {
            ASSERT_REL(ti_stats_beta_cdf(x[k], a, b), cdf[k], 1e-12, c->name);
        }
        double *p = fx_arr(c, "prob", &n), *q = fx_arr(c, "ppf", &m);
        ck_assert_uint_eq(n, m);
        for (size_t k = 0; k < n; k++) {
            ASSERT_REL(ti_stats_beta_ppf(p[k], a, b), q[k], 3e-12, c->name);
            /* and back */
            if (q[k] > 0 && q[k] < 1 && p[k] > 1e-250)
                ASSERT_REL(ti_stats_beta_cdf(ti_stats_beta_ppf(p[k], a, b), a, b), p[k], 1e-11,
                           c->name);
        }
        free(x);
        free(cdf);
        free(p);
        free(q);
    }
    ck_assert_int_eq(seen, 8);
    fx_free(f);
    /* limits and bad arguments */
    ck_assert_double_eq(ti_stats_beta_cdf(-0.5, 2, 3), 0.0);
    ck_assert_double_eq(ti_stats_beta_cdf(1.0, 2, 3), 1.0);
    ck_assert_double_eq(ti_stats_beta_ppf(0.0, 2, 3), 0.0);
    ck_assert_double_eq(ti_stats_beta_ppf(1.0, 2, 3), 1.0);
    ck_assert(isnan(ti_stats_beta_cdf(0.5, 0.0, 3)) && isnan(ti_stats_beta_cdf(NAN, 1, 3)));
    ck_assert(isnan(ti_stats_beta_ppf(1.5, 2, 3)) && isnan(ti_stats_beta_ppf(0.5, 2, INFINITY)));
    /* closed forms: I_x(1, b) = 1 - (1 - x)^b, I_x(a, 1) = x^a */
    ASSERT_REL(ti_stats_beta_cdf(1e-3, 1, 5000), -expm1(5000 * log1p(-1e-3)), 1e-13, "I(1,b)");
    ASSERT_REL(ti_stats_beta_ppf(1e-20, 7, 1), pow(1e-20, 1.0 / 7), 1e-13, "I(a,1)");
}
END_TEST

START_TEST(test_proportion_statsmodels)
{
    fx_file *f = fx_load("stats_binom.txt");
    int seen = 0;
    for (int i = 0; i < f->n; i++) {
        const fx_case *c = &f->c[i];
        if (strncmp(c->name, "proportion/", 11) != 0)
            continue;
        seen++;
        size_t nk, m;
        size_t n = (size_t)fx_num(c, "n");
        double level = fx_num(c, "level");
        double *k = fx_arr(c, "k", &nk), *clo = fx_arr(c, "cp_lo", &m),
               *chi = fx_arr(c, "cp_hi", &m), *wlo = fx_arr(c, "wilson_lo", &m),
               *whi = fx_arr(c, "wilson_hi", &m);
        for (size_t j = 0; j < nk; j++) {
            double lo, hi;
            ti_stats_err e = {0};
            ck_assert_int_eq(ti_stats_proportion_ci((size_t)k[j], n, level,
                                                    TI_STATS_CI_CLOPPER_PEARSON, &lo, &hi, &e), 0);
            ASSERT_REL(lo, clo[j], 1e-11, c->name);
            ASSERT_REL(hi, chi[j], 1e-11, c->name);
            ck_assert(lo <= k[j] / n && k[j] / n <= hi);
            ck_assert_int_eq(ti_stats_proportion_ci((size_t)k[j], n, level, TI_STATS_CI_WILSON,
                                                    &lo, &hi, &e), 0);
            /* statsmodels' Wilson lower bound at k = 0 is a rounding residue (~1e-17), ours 0 */
            ck_assert_msg(fabs(lo - wlo[j]) <= 1e-12 * fmax(wlo[j], 1e-3), "%s: wilson lo %g %g",
                          c->name, lo, wlo[j]);
            ck_assert_msg(fabs(hi - whi[j]) <= 1e-12 * whi[j], "%s: wilson hi %.17g %.17g",
                          c->name, hi, whi[j]);
        }
        free(k);
        free(clo);
        free(chi);
        free(wlo);
        free(whi);
    }
    ck_assert_int_eq(seen, 21);
    fx_free(f);
    /* closed forms at the extremes: k = 0 gives hi = 1 - (alpha/2)^(1/n), k = n gives
     * lo = (alpha/2)^(1/n) */
    double lo, hi;
    ck_assert_int_eq(ti_stats_proportion_ci(0, 100000, 0.95, TI_STATS_CI_CLOPPER_PEARSON, &lo, &hi,
                                            NULL), 0);
    ck_assert_double_eq(lo, 0.0);
    ASSERT_REL(hi, -expm1(log(0.025) / 100000), 1e-12, "k = 0");
    ck_assert_int_eq(ti_stats_proportion_ci(100000, 100000, 0.95, TI_STATS_CI_CLOPPER_PEARSON,
                                            &lo, &hi, NULL), 0);
    ck_assert_double_eq(hi, 1.0);
    ASSERT_REL(lo, exp(log(0.025) / 100000), 1e-15, "k = n");
}
END_TEST

/* log10 of scipy.stats.binomtest(k, n, p0, alternative='less').pvalue (scipy 1.10), for
 * k, n, p0 in order */
START_TEST(test_binom_test_scipy)
{
    static const struct {
        size_t k, n;
        double p0, log10_p;
    } c[] = {{0, 10, 0.5, -3.010299956639812},    {3, 10, 0.5, -0.7647872888256622},
             {37, 100, 0.45, -1.1866224020518836}, {40, 100, 0.4, -0.26496470277622236},
             {120, 1000, 0.2, -10.87867944057007}, {5, 1000, 0.3, -143.82026967760208},
             {999, 1000, 0.5, 0.0},                {50, 50, 0.9, 0.0},
             {10, 50, 0.0001, 0.0}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        double l;
        ck_assert_int_eq(ti_stats_binom_test_less(c[i].k, c[i].n, c[i].p0, &l, NULL),
                         TI_STATS_OK);
        ck_assert_msg(fabs(l - c[i].log10_p) <= 1e-9 * fmax(1, fabs(c[i].log10_p)),
                      "case %zu: %.15g, scipy %.15g", i, l, c[i].log10_p);
    }
    double l;
    ck_assert_int_eq(ti_stats_binom_test_less(3, 10, 1.0, &l, NULL), TI_STATS_OK);
    ck_assert(isinf(l) && l < 0);
    ti_stats_err err = {0};
    ck_assert_int_eq(ti_stats_binom_test_less(11, 10, 0.5, &l, &err), TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_binom_test_less(1, 10, NAN, &l, &err), TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_binom_test_less(0, 0, 0.5, &l, &err), TI_STATS_ERR_EMPTY);
}
END_TEST

START_TEST(test_mcnemar_statsmodels)
{
    fx_file *f = fx_load("stats_binom.txt");
    int seen = 0;
    for (int i = 0; i < f->n; i++) {
        const fx_case *c = &f->c[i];
        if (strcmp(c->name, "mcnemar") != 0)
            continue;
        seen++;
        size_t n, m;
        double *b = fx_arr(c, "b", &n), *cc = fx_arr(c, "c", &m), *p = fx_arr(c, "p", &m),
               *l10 = fx_arr(c, "log10p", &m);
        for (size_t j = 0; j < n; j++) {
            ti_stats_mcnemar r, r2;
            ck_assert_int_eq(ti_stats_mcnemar_exact((size_t)b[j], (size_t)cc[j], &r, NULL), 0);
            ck_assert_double_eq(r.statistic, fmin(b[j], cc[j]));
            if (p[j] > 1e-300) {
                ASSERT_REL(r.p, p[j], 1e-11, "mcnemar p");
            }
            if (l10[j] == 0.0)
                ck_assert_double_eq(r.log10_p, 0.0);
            else
                ASSERT_REL(r.log10_p, l10[j], 1e-12, "mcnemar log10 p");
            /* the test does not care which classifier is first */
            ck_assert_int_eq(ti_stats_mcnemar_exact((size_t)cc[j], (size_t)b[j], &r2, NULL), 0);
            ck_assert_double_eq(r.log10_p, r2.log10_p);
        }
        free(b);
        free(cc);
        free(p);
        free(l10);
    }
    ck_assert_int_eq(seen, 1);
    fx_free(f);
    /* by hand: b = 0 leaves P(X <= 0) = 2^-c, so p = 2^(1-c), far below any double */
    ti_stats_mcnemar r;
    ti_stats_err e = {0};
    ck_assert_int_eq(ti_stats_mcnemar_exact(0, 5000, &r, &e), 0);
    ASSERT_REL(r.log10_p, -4999 * log10(2.0), 1e-13, "2^-4999");
    ck_assert_double_eq(r.p, 0.0);
    ck_assert_int_eq(ti_stats_mcnemar_exact(0, 0, &r, &e), 0);
    ck_assert_double_eq(r.p, 1.0);
    ck_assert_int_eq(ti_stats_mcnemar_exact(2, 3, &r, &e), 0); /* 2 * (1 + 5 + 10) / 32 = 1 */
    ck_assert_double_eq(r.p, 1.0);
    ck_assert_int_eq(ti_stats_mcnemar_exact(1, 4, &r, &e), 0); /* 2 * (1 + 5) / 32 */
    ASSERT_REL(r.p, 12.0 / 32, 1e-14, "1 vs 4");
    ck_assert_int_eq(ti_stats_mcnemar_exact(1, 4, NULL, &e), TI_STATS_ERR_ARG);
}
END_TEST

START_TEST(test_paired_newcombe)
{
    fx_file *f = fx_load("stats_binom.txt");
    int seen = 0;
    for (int i = 0; i < f->n; i++) {
        const fx_case *c = &f->c[i];
        if (strncmp(c->name, "paired/", 7) != 0)
            continue;
        seen++;
        size_t n, m;
        double level = fx_num(c, "level");
        double *a = fx_arr(c, "n11", &n), *b = fx_arr(c, "b", &m), *cc = fx_arr(c, "c", &m),
               *d = fx_arr(c, "n00", &m), *diff = fx_arr(c, "diff", &m), *lo = fx_arr(c, "lo", &m),
               *hi = fx_arr(c, "hi", &m);
        for (size_t j = 0; j < n; j++) {
            ti_stats_paired_ci r, sw;
            ti_stats_err e = {0};
            ck_assert_int_eq(ti_stats_paired_diff_ci((size_t)a[j], (size_t)b[j], (size_t)cc[j],
                                                     (size_t)d[j], level, &r, &e), 0);
            ck_assert_double_eq_tol(r.diff, diff[j], 1e-15);
            ck_assert_msg(fabs(r.lo - lo[j]) < 1e-12 && fabs(r.hi - hi[j]) < 1e-12,
                          "%s table %zu: [%.17g, %.17g] against [%.17g, %.17g]", c->name, j, r.lo,
                          r.hi, lo[j], hi[j]);
            ck_assert(r.lo <= r.diff && r.diff <= r.hi && r.lo >= -1 && r.hi <= 1);
            /* swapping the classifiers mirrors the interval */
            ck_assert_int_eq(ti_stats_paired_diff_ci((size_t)a[j], (size_t)cc[j], (size_t)b[j],
                                                     (size_t)d[j], level, &sw, &e), 0);
            ck_assert_double_eq_tol(sw.lo, -r.hi, 1e-15);
            ck_assert_double_eq_tol(sw.hi, -r.lo, 1e-15);
        }
        free(a);
        free(b);
        free(cc);
        free(d);
        free(diff);
        free(lo);
        free(hi);
    }
    ck_assert_int_eq(seen, 2);
    fx_free(f);
}
END_TEST

START_TEST(test_binomial_errors)
{
    double lo, hi;
    ti_stats_err e = {0};
    ck_assert_int_eq(ti_stats_proportion_ci(3, 0, 0.95, 0, &lo, &hi, &e), TI_STATS_ERR_EMPTY);
    ck_assert_int_eq(ti_stats_proportion_ci(5, 4, 0.95, 0, &lo, &hi, &e), TI_STATS_ERR_ARG);
    ck_assert(strstr(e.msg, "5 successes out of 4") != NULL);
    ck_assert_int_eq(ti_stats_proportion_ci(1, 4, 1.0, 0, &lo, &hi, &e), TI_STATS_ERR_ARG);
    ck_assert(strstr(e.msg, "level") != NULL);
    ck_assert_int_eq(ti_stats_proportion_ci(1, 4, 0.9, TI_STATS_CI_METHOD_COUNT, &lo, &hi, &e),
                     TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_proportion_ci(1, 4, 0.9, 0, NULL, &hi, &e), TI_STATS_ERR_ARG);
    ti_stats_paired_ci r;
    ck_assert_int_eq(ti_stats_paired_diff_ci(0, 0, 0, 0, 0.95, &r, &e), TI_STATS_ERR_EMPTY);
    ck_assert_int_eq(ti_stats_paired_diff_ci(1, 0, 0, 0, NAN, &r, &e), TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_paired_diff_ci(1, 0, 0, 0, 0.95, NULL, &e), TI_STATS_ERR_ARG);
}
END_TEST

/* ---- security curves and AttackBench optimality --------------------------------------- */

START_TEST(test_security_numpy)
{
    fx_file *f = fx_load("stats_security.txt");
    int seen = 0;
    for (int i = 0; i < f->n; i++) {
        const fx_case *c = &f->c[i];
        if (strncmp(c->name, "security/", 9) != 0)
            continue;
        seen++;
        size_t n, np_, m, ng;
        double *d = fx_arr(c, "d", &n), *re = fx_arr(c, "eps", &np_), *ra = fx_arr(c, "acc", &m),
               *grid = fx_arr(c, "grid", &ng), *ga = fx_arr(c, "grid_acc", &m);
        double *eps = malloc((n + 1) * sizeof *eps), *acc = malloc((n + 1) * sizeof *acc);
        size_t k;
        ti_stats_err e = {0};
        ck_assert_int_eq(ti_stats_security_curve(d, n, eps, acc, &k, &e), 0);
        ck_assert_uint_eq(k, np_);
        for (size_t j = 0; j < k; j++) {
            ck_assert_double_eq(eps[j], re[j]);
            ck_assert_double_eq_tol(acc[j], ra[j], 1e-15);
        }
        double *out = malloc((ng > n + 1 ? ng : n + 1) * sizeof *out);
        ck_assert_int_eq(ti_stats_robust_accuracy(d, n, grid, ng, out, &e), 0);
        for (size_t j = 0; j < ng; j++)
            ck_assert_double_eq_tol(out[j], ga[j], 1e-15);
        /* the grid at the breakpoints gives the breakpoints' values (equality breaks) */
        ck_assert_int_eq(ti_stats_robust_accuracy(d, n, eps, k, out, &e), 0);
        for (size_t j = 0; j < k; j++)
            ck_assert_double_eq(out[j], acc[j]);
        size_t ne, na;
        double *emax = fx_arr(c, "eps_max", &ne), *auc = fx_arr(c, "auc", &na);
        for (size_t j = 0; j < ne; j++) {
            ti_stats_security s;
            ck_assert_int_eq(ti_stats_security_summary(d, n, emax[j], &s, &e), 0);
            ASSERT_REL(s.auc, auc[j], 1e-12, c->name);
            ck_assert_double_eq(s.median, fx_num(c, "median"));
            ck_assert_uint_eq(s.n_zero, (size_t)fx_num(c, "n_zero"));
            ck_assert_uint_eq(s.n_inf, (size_t)fx_num(c, "n_inf"));
            ck_assert_double_eq(s.clean_acc, acc[0]);
            ck_assert(s.auc <= s.clean_acc + 1e-15);
        }
        free(emax);
        free(auc);
        free(out);
        free(eps);
        free(acc);
        free(d);
        free(re);
        free(ra);
        free(grid);
        free(ga);
    }
    ck_assert_int_eq(seen, 7);
    fx_free(f);
}
END_TEST

START_TEST(test_optimality_attackbench)
{
    fx_file *f = fx_load("stats_security.txt");
    const fx_case *c = NULL;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->c[i].name, "optimality/four_attacks") == 0)
            c = &f->c[i];
    ck_assert_ptr_nonnull(c);
    size_t n, m;
    double *a[4], *best = fx_arr(c, "best", &n), *opt = fx_arr(c, "optimality", &m),
                  *area = fx_arr(c, "area", &m);
    char key[16];
    for (int j = 0; j < 4; j++) {
        snprintf(key, sizeof key, "a%d", j);
        a[j] = fx_arr(c, key, &m);
        ck_assert_uint_eq(m, n);
    }
    double *env = malloc(n * sizeof *env);
    ti_stats_err e = {0};
    ck_assert_int_eq(ti_stats_envelope((const double *const *)a, 4, n, env, &e), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_double_eq(env[i], best[i]);
    for (int j = 0; j < 4; j++) {
        ti_stats_optimality o;
        ck_assert_int_eq(ti_stats_attack_optimality(a[j], env, n, &o, &e), 0);
        ASSERT_REL(o.optimality, opt[j], 1e-12, "optimality");
        ASSERT_REL(o.area, area[j], 1e-12, "area");
        ASSERT_REL(o.area_best, fx_num(c, "area_best"), 1e-12, "area_best");
        ck_assert_double_eq(o.eps_max, fx_num(c, "eps_max"));
        ASSERT_REL(o.clean_acc, fx_num(c, "clean_acc"), 1e-15, "clean_acc");
        ck_assert(o.optimality <= 1.0 && o.optimality >= 0.0);
    }
    /* the envelope itself is optimal; an attack that breaks nothing scores 0 */
    ti_stats_optimality o;
    ck_assert_int_eq(ti_stats_attack_optimality(env, env, n, &o, &e), 0);
    ck_assert_double_eq(o.optimality, 1.0);
    double *none = malloc(n * sizeof *none);
    for (size_t i = 0; i < n; i++)
        none[i] = env[i] == 0 ? 0.0 : INFINITY;
    ck_assert_int_eq(ti_stats_attack_optimality(none, env, n, &o, &e), 0);
    ck_assert_double_eq_tol(o.optimality, 0.0, 1e-15);
    /* no room between the clean accuracy and the envelope: NaN */
    const double flat[4] = {0.0, 0.5, 0.5, INFINITY};
    ck_assert_int_eq(ti_stats_attack_optimality(flat, flat, 4, &o, &e), 0);
    ck_assert(isnan(o.optimality));
    ck_assert_double_eq(o.eps_max, 0.5);
    free(none);
    free(env);
    for (int j = 0; j < 4; j++)
        free(a[j]);
    free(best);
    free(opt);
    free(area);
    fx_free(f);
}
END_TEST

START_TEST(test_security_errors)
{
    const double d[4] = {0.1, NAN, 0.2, 0.3}, neg[3] = {0.1, -0.2, 0.3}, ok[2] = {0.1, 0.2};
    double eps[5], acc[5];
    size_t k;
    ti_stats_err e = {0};
    ck_assert_int_eq(ti_stats_security_curve(d, 4, eps, acc, &k, &e), TI_STATS_ERR_NAN);
    ck_assert_str_eq(e.msg, "security_curve: distance[1] is NaN");
    ck_assert_int_eq(ti_stats_security_curve(neg, 3, eps, acc, &k, &e), TI_STATS_ERR_ARG);
    ck_assert(strstr(e.msg, "distance[1] = -0.2 is negative") != NULL);
    ck_assert_int_eq(ti_stats_security_curve(ok, 0, eps, acc, &k, &e), TI_STATS_ERR_EMPTY);
    ck_assert_int_eq(ti_stats_security_curve(ok, 2, NULL, acc, &k, &e), TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_robust_accuracy(ok, 2, d, 4, acc, &e), TI_STATS_ERR_NAN);
    ck_assert(strstr(e.msg, "eps[1]") != NULL);
    ck_assert_int_eq(ti_stats_robust_accuracy(ok, 2, NULL, 0, NULL, &e), TI_STATS_OK);
    ti_stats_security s;
    ck_assert_int_eq(ti_stats_security_summary(ok, 2, 0.0, &s, &e), TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_security_summary(ok, 2, INFINITY, &s, &e), TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_security_summary(neg, 3, 1.0, &s, &e), TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_security_summary(ok, 2, 1.0, NULL, &e), TI_STATS_ERR_ARG);
    const double *two[2] = {ok, neg}, *same[2] = {ok, ok};
    double best[3];
    ck_assert_int_eq(ti_stats_envelope(same, 2, 2, best, &e), TI_STATS_OK);
    ck_assert_double_eq(best[1], 0.2);
    ck_assert_int_eq(ti_stats_envelope(two, 2, 2, best, &e), TI_STATS_ERR_ARG);
    ck_assert(strstr(e.msg, "distance[1] = -0.2") != NULL);
    ck_assert_int_eq(ti_stats_envelope(two, 0, 2, best, &e), TI_STATS_ERR_EMPTY);
    ck_assert_int_eq(ti_stats_envelope(NULL, 2, 2, best, &e), TI_STATS_ERR_ARG);
    ti_stats_optimality o;
    ck_assert_int_eq(ti_stats_attack_optimality(ok, d, 2, &o, &e), TI_STATS_ERR_NAN);
    ck_assert(strstr(e.msg, "envelope") != NULL);
    ck_assert_int_eq(ti_stats_attack_optimality(ok, ok, 2, NULL, &e), TI_STATS_ERR_ARG);
}
END_TEST

/* ---- CSV ------------------------------------------------------------------------------- */

START_TEST(test_csv_parse)
{
    const char *text = "id, group ,\"value, in m\"\r\n"
                       "1,a,0.5\r\n"
                       "\r\n"
                       "2, b , 1e-3 \n"
                       "3,\"multi\nline \"\"quoted\"\"\",-2\n"
                       "4,a,\n"
                       "5,b,inf";
    ti_stats_csv *c;
    ti_stats_err e = {0};
    ck_assert_int_eq(ti_stats_csv_parse(text, strlen(text), "t.csv", &c, &e), 0);
    ck_assert_uint_eq(ti_stats_csv_ncols(c), 3);
    ck_assert_uint_eq(ti_stats_csv_nrows(c), 5);
    ck_assert_str_eq(ti_stats_csv_colname(c, 1), "group");
    ck_assert_str_eq(ti_stats_csv_colname(c, 2), "value, in m");
    ck_assert_ptr_null(ti_stats_csv_colname(c, 3));
    ck_assert_int_eq(ti_stats_csv_find(c, "value, in m"), 2);
    ck_assert_int_eq(ti_stats_csv_find(c, "nope"), -1);
    ck_assert_str_eq(ti_stats_csv_cell(c, 1, 1), "b");
    ck_assert_str_eq(ti_stats_csv_cell(c, 2, 1), "multi\nline \"quoted\"");
    ck_assert_ptr_null(ti_stats_csv_cell(c, 5, 0));
    /* rows start on lines 2, 4, 5, 7 and 8 (the blank line 3 is skipped, row 3 spans two) */
    const long lines[5] = {2, 4, 5, 7, 8};
    for (size_t r = 0; r < 5; r++)
        ck_assert_int_eq(ti_stats_csv_line(c, r), lines[r]);
    double v;
    ck_assert_int_eq(ti_stats_csv_number(c, 1, 2, &v, &e), 0);
    ck_assert_double_eq(v, 1e-3);
    ck_assert_int_eq(ti_stats_csv_number(c, 4, 2, &v, &e), 0);
    ck_assert(isinf(v));
    /* an empty cell: an error with its line, or skipped on request */
    ck_assert_int_eq(ti_stats_csv_number(c, 3, 2, &v, &e), TI_STATS_ERR_FORMAT);
    ck_assert(strstr(e.msg, "t.csv:7") && strstr(e.msg, "empty"));
    double *col;
    size_t n;
    ck_assert_int_eq(ti_stats_csv_column(c, "value, in m", 0, &col, &n, &e),
                     TI_STATS_ERR_FORMAT);
    ck_assert_ptr_null(col);
    ck_assert_int_eq(ti_stats_csv_column(c, "value, in m", 1, &col, &n, &e), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_double_eq(col[0], 0.5);
    ck_assert_double_eq(col[2], -2.0);
    free(col);
    ck_assert_int_eq(ti_stats_csv_column(c, "id", 0, &col, &n, &e), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_double_eq(col[4], 5.0);
    free(col);
    /* not a number, unknown column (the message lists the columns there are) */
    ck_assert_int_eq(ti_stats_csv_column(c, "group", 0, &col, &n, &e), TI_STATS_ERR_FORMAT);
    ck_assert(strstr(e.msg, "t.csv:2") && strstr(e.msg, "'a' is not a decimal number"));
    ck_assert_int_eq(ti_stats_csv_column(c, "valu", 0, &col, &n, &e), TI_STATS_ERR_COLUMN);
    ck_assert(strstr(e.msg, "'valu'") && strstr(e.msg, "'group'"));
    ti_stats_csv_free(c);
    ti_stats_csv_free(NULL);

    /* a NaN cell, and a header-only file */
    const char *t2 = "x\nnan\n";
    ck_assert_int_eq(ti_stats_csv_parse(t2, strlen(t2), NULL, &c, &e), 0);
    ck_assert_int_eq(ti_stats_csv_column(c, "x", 0, &col, &n, &e), TI_STATS_ERR_NAN);
    ck_assert(strstr(e.msg, "<csv>:2") != NULL);
    ti_stats_csv_free(c);
    /* an overflow and hex are not numbers of a CSV of measurements; infinity spelled out is */
    const char *t3 = "x\n1e400\n0x1p3\n-infinity\n 2.5e-3 \n";
    ck_assert_int_eq(ti_stats_csv_parse(t3, strlen(t3), NULL, &c, &e), 0);
    double val;
    for (size_t r = 0; r < 2; r++) {
        ck_assert_int_eq(ti_stats_csv_number(c, r, 0, &val, &e), TI_STATS_ERR_FORMAT);
        ck_assert(strstr(e.msg, r == 0 ? "out of a double's range" : "not a decimal number"));
    }
    ck_assert_int_eq(ti_stats_csv_number(c, 2, 0, &val, &e), 0);
    ck_assert(isinf(val) && val < 0);
    ck_assert_int_eq(ti_stats_csv_number(c, 3, 0, &val, &e), 0);
    ck_assert_double_eq(val, 2.5e-3);
    ti_stats_csv_free(c);
    /* a byte-order mark does not become part of the first column's name */
    const char *t4 = "\xef\xbb\xbfscore,label\n1,0\n";
    ck_assert_int_eq(ti_stats_csv_parse(t4, strlen(t4), NULL, &c, &e), 0);
    ck_assert_int_eq(ti_stats_csv_find(c, "score"), 0);
    ti_stats_csv_free(c);
    ck_assert_int_eq(ti_stats_csv_parse("a,b\n", 4, NULL, &c, &e), 0);
    ck_assert_uint_eq(ti_stats_csv_nrows(c), 0);
    ck_assert_int_eq(ti_stats_csv_column(c, "b", 0, &col, &n, &e), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(col);
    ti_stats_csv_free(c);
}
END_TEST

START_TEST(test_csv_errors)
{
    struct {
        const char *text, *want;
    } bad[] = {
        {"a,b\n1,2\n3\n", "x.csv:3: 1 field, but the header has 2"},
        {"a,b\n1,2,3\n", "x.csv:2: 3 fields"},
        {"a,b\n1,\"open\n\n", "x.csv:4: unterminated quoted field (opened on line 2)"},
        {"a,b\n1,x\"y\n", "x.csv:2: quote inside an unquoted field"},
        {"a,b\n1,\"x\"y\n", "x.csv:2: unexpected 'y' after a closing quote"},
        {"", "x.csv: empty"},
        {"\n\n  \n", "x.csv: empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ti_stats_csv *c = (ti_stats_csv *)&c; /* must be reset to NULL on failure */
        ti_stats_err e = {0};
        ck_assert_int_eq(ti_stats_csv_parse(bad[i].text, strlen(bad[i].text), "x.csv", &c, &e),
                         TI_STATS_ERR_FORMAT);
        ck_assert_ptr_null(c);
        ck_assert_int_eq(e.status, TI_STATS_ERR_FORMAT);
        ck_assert_msg(strstr(e.msg, bad[i].want) != NULL, "message '%s' lacks '%s'", e.msg,
                      bad[i].want);
    }
    ti_stats_csv *c;
    ti_stats_err e = {0};
    ck_assert_int_eq(ti_stats_csv_read("/nonexistent/dir/f.csv", &c, &e), TI_STATS_ERR_IO);
    ck_assert(strstr(e.msg, "/nonexistent/dir/f.csv") != NULL);
    ck_assert_int_eq(ti_stats_csv_parse(NULL, 3, NULL, &c, &e), TI_STATS_ERR_ARG);
}
END_TEST

/* thinice-stats --value/--group: the split, and labels too long to keep (once cut to 255
 * bytes, a 300-byte label matched no cell and two such labels looked like one group). */
START_TEST(test_csv_groups)
{
    char text[1024], lab[301];
    memset(lab, 'g', 300);
    lab[300] = '\0';
    snprintf(text, sizeof text, "group,value\na,1\nb,2\na,3\n%s,4\n", lab);
    ti_stats_csv *c;
    ti_stats_err e = {0};
    ck_assert_int_eq(ti_stats_csv_parse(text, strlen(text), "g.csv", &c, &e), 0);
    ti_stats_sample a, b;
    ck_assert_int_eq(ti_stats_csv_groups(c, "value", "group", "a,b", &a, &b, &e), 0);
    ck_assert_str_eq(a.label, "a");
    ck_assert_uint_eq(a.n, 2);
    ck_assert_double_eq(a.v[1], 3.0);
    ck_assert_uint_eq(b.n, 1);
    ck_assert_double_eq(b.v[0], 2.0);
    free(a.v);
    free(b.v);
    /* without "A,B": a third label is an error, and so is the long one */
    ck_assert_int_eq(ti_stats_csv_groups(c, "value", "group", NULL, &a, &b, &e),
                     TI_STATS_ERR_ARG);
    ck_assert(strstr(e.msg, "third group") != NULL);
    ck_assert_ptr_null(a.v);
    char groups[400];
    snprintf(groups, sizeof groups, "a,%s", lab);
    ck_assert_int_eq(ti_stats_csv_groups(c, "value", "group", groups, &a, &b, &e),
                     TI_STATS_ERR_ARG);
    ck_assert_msg(strstr(e.msg, "300 bytes long (at most 255)") != NULL, "%s", e.msg);
    ti_stats_csv_free(c);
    snprintf(text, sizeof text, "group,value\n%s,1\n%s,2\n", lab, lab);
    ck_assert_int_eq(ti_stats_csv_parse(text, strlen(text), "g.csv", &c, &e), 0);
    ck_assert_int_eq(ti_stats_csv_groups(c, "value", "group", NULL, &a, &b, &e),
                     TI_STATS_ERR_ARG);
    ck_assert_msg(strstr(e.msg, "300 bytes long") != NULL, "%s", e.msg);
    ti_stats_csv_free(c);
}
END_TEST

START_TEST(test_csv_file)
{
    ti_stats_csv *c;
    ti_stats_err e = {0};
    ck_assert_msg(ti_stats_csv_read(TI_FIXTURE_DIR "/stats_groups.csv", &c, &e) == 0, "%s",
                  e.msg);
    ck_assert_uint_eq(ti_stats_csv_ncols(c), 3);
    ck_assert_uint_eq(ti_stats_csv_nrows(c), 20);
    long g = ti_stats_csv_find(c, "population");
    ck_assert_int_ge(g, 0);
    ck_assert_str_eq(ti_stats_csv_cell(c, 0, (size_t)g), "10");
    ti_stats_csv_free(c);
}
END_TEST

/* ---- error paths of the statistics ----------------------------------------------------- */

START_TEST(test_errors)
{
    double x[3] = {1, 2, 3}, y[3] = {4, NAN, 6}, out[8];
    ti_stats_mwu_result r;
    ti_stats_err e = {0};
    ck_assert_int_eq(ti_stats_mwu(x, 0, x, 3, NULL, &r, &e), TI_STATS_ERR_EMPTY);
    ck_assert(strstr(e.msg, "n1=0") != NULL);
    ck_assert_int_eq(ti_stats_mwu(x, 3, y, 3, NULL, &r, &e), TI_STATS_ERR_NAN);
    ck_assert_str_eq(e.msg, "mwu: y[1] is NaN");
    ck_assert_int_eq(ti_stats_mwu(y, 3, x, 3, NULL, &r, &e), TI_STATS_ERR_NAN);
    ck_assert_str_eq(e.msg, "mwu: x[1] is NaN");
    ck_assert_int_eq(ti_stats_mwu(NULL, 3, x, 3, NULL, &r, &e), TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_mwu(x, 3, x, 3, NULL, &r, NULL), TI_STATS_OK); /* err optional */
    ti_stats_mwu_params p = ti_stats_mwu_params_default();
    p.alternative = (ti_stats_alternative)7;
    ck_assert_int_eq(ti_stats_mwu(x, 3, x, 3, &p, &r, &e), TI_STATS_ERR_ARG);
    p = ti_stats_mwu_params_default();
    p.method = TI_STATS_METHOD_COUNT;
    ck_assert_int_eq(ti_stats_mwu(x, 3, x, 3, &p, &r, &e), TI_STATS_ERR_ARG);
    ti_stats_alternative alt;
    ck_assert_int_eq(ti_stats_alternative_parse("bigger", &alt, &e), TI_STATS_ERR_ARG);
    ck_assert(strstr(e.msg, "'bigger'") && strstr(e.msg, "two-sided"));

    /* an explicit exact test whose tail underflows a double: refused, not a silent 0 */
    enum { N = 600 };
    double *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    for (int i = 0; i < N; i++) {
        a[i] = i + 1000.0;
        b[i] = i;
    }
    p = ti_stats_mwu_params_default();
    p.method = TI_STATS_EXACT;
    ck_assert_int_eq(ti_stats_mwu(a, N, b, N, &p, &r, &e), TI_STATS_ERR_TOO_LARGE);
    ck_assert(strstr(e.msg, "underflows") != NULL);
    p.method = TI_STATS_AUTO; /* auto picks the asymptotic method here */
    ck_assert_int_eq(ti_stats_mwu(a, N, b, N, &p, &r, &e), TI_STATS_OK);
    ck_assert(r.log10_p < -100);
    free(a);
    free(b);

    double auc;
    ck_assert_int_eq(ti_stats_auc(x, 3, y, 3, &auc, &e), TI_STATS_ERR_NAN);
    ck_assert_int_eq(ti_stats_auc(x, 3, x, 0, &auc, &e), TI_STATS_ERR_EMPTY);
    ck_assert_int_eq(ti_stats_auc(x, 3, x, 3, NULL, &e), TI_STATS_ERR_ARG);
    size_t np;
    ck_assert_int_eq(ti_stats_roc_curve(x, 3, x, 0, out, out, out, &np, &e), TI_STATS_ERR_EMPTY);
    ck_assert_int_eq(ti_stats_roc_curve(x, 3, x, 3, NULL, out, out, &np, &e), TI_STATS_ERR_ARG);
    ti_stats_delong d;
    ck_assert_int_eq(ti_stats_auc_delong(x, 1, x, 3, 0.95, &d, &e), TI_STATS_ERR_EMPTY);
    ck_assert(strstr(e.msg, "at least 2") != NULL);
    ck_assert_int_eq(ti_stats_auc_delong(x, 3, x, 3, 1.0, &d, &e), TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_auc_delong(x, 3, x, 3, NAN, &d, &e), TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_auc_delong(x, 3, y, 3, 0.95, &d, &e), TI_STATS_ERR_NAN);
    /* perfect separation: zero variance, the interval collapses onto the AUC */
    ck_assert_int_eq(ti_stats_auc_delong(x, 3, (double[]){-1, -2}, 2, 0.95, &d, &e), 0);
    ck_assert_double_eq(d.auc, 1.0);
    ck_assert_double_eq(d.var, 0.0);
    ck_assert_double_eq(d.lo, 1.0);

    ti_stats_summary s;
    ck_assert_int_eq(ti_stats_describe(x, 0, &s, &e), TI_STATS_ERR_EMPTY);
    ck_assert_int_eq(ti_stats_describe(y, 3, &s, &e), TI_STATS_ERR_NAN);
    ck_assert_int_eq(ti_stats_describe(NULL, 3, &s, &e), TI_STATS_ERR_ARG);
    ck_assert_int_eq(ti_stats_rankdata(y, 3, out, NULL, &e), TI_STATS_ERR_NAN);
    ck_assert_int_eq(ti_stats_rankdata(x, 0, out, NULL, &e), TI_STATS_ERR_EMPTY);
    ck_assert_int_eq(ti_stats_rankdata(x, 3, NULL, NULL, &e), TI_STATS_ERR_ARG);
    ck_assert_int_eq(e.status, TI_STATS_ERR_ARG);
    ck_assert(e.msg[0] != '\0');

    for (int k = 0; k < TI_STATS_STATUS_COUNT; k++)
        ck_assert(ti_stats_status_str((ti_stats_status)k)[0] != '\0');
    ck_assert_str_eq(ti_stats_status_str((ti_stats_status)99), "unknown status");
    ck_assert_str_eq(ti_stats_alternative_name(TI_STATS_LESS), "less");
    ck_assert_str_eq(ti_stats_method_name(TI_STATS_EXACT), "exact");
}
END_TEST

Suite *suite_stats(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("reference");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_mwu_scipy);
    tcase_add_test(tc, test_mwu_exact_by_hand);
    tcase_add_test(tc, test_mwu_invariants);
    tcase_add_test(tc, test_mwu_large_far_tail);
    tcase_add_test(tc, test_auc_sklearn);
    tcase_add_test(tc, test_describe_ranks);
    tcase_add_test(tc, test_normal);
    suite_add_tcase(s, tc);
    TCase *tbin = tcase_create("binomial");
    tcase_set_timeout(tbin, 30);
    tcase_add_test(tbin, test_beta_scipy);
    tcase_add_test(tbin, test_proportion_statsmodels);
    tcase_add_test(tbin, test_mcnemar_statsmodels);
    tcase_add_test(tbin, test_binom_test_scipy);
    tcase_add_test(tbin, test_paired_newcombe);
    tcase_add_test(tbin, test_binomial_errors);
    suite_add_tcase(s, tbin);
    TCase *tsec = tcase_create("security");
    tcase_add_test(tsec, test_security_numpy);
    tcase_add_test(tsec, test_optimality_attackbench);
    tcase_add_test(tsec, test_security_errors);
    suite_add_tcase(s, tsec);
    TCase *tcsv = tcase_create("csv");
    tcase_add_test(tcsv, test_csv_parse);
    tcase_add_test(tcsv, test_csv_errors);
    tcase_add_test(tcsv, test_csv_groups);
    tcase_add_test(tcsv, test_csv_file);
    suite_add_tcase(s, tcsv);
    TCase *terr = tcase_create("errors");
    tcase_add_test(terr, test_errors);
    suite_add_tcase(s, terr);
    return s;
}
