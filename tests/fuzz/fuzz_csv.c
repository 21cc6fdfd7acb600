/* libFuzzer harness: libstats's CSV reader (ti_stats_csv_parse, the buffer form of what
 * thinice-stats reads), every accessor on what it accepts, the split of the last column by
 * the labels of the first (ti_stats_csv_groups), and the statistics thinice-stats runs on two
 * samples (describe, Mann-Whitney U, AUC with DeLong's interval), whose results must stay in
 * their ranges whatever the numbers (infinities included). */
#include <math.h>

#include "fuzz.h"
#include "thinice/stats.h"

static void check(ti_stats_status s, const ti_stats_err *e)
{
    if ((unsigned)s >= TI_STATS_STATUS_COUNT || (s != TI_STATS_OK && !e->msg[0]))
        abort();
}

/* The statistics of thinice-stats --a A --b B on two columns of numbers. */
static void two_samples(const double *x, size_t n1, const double *y, size_t n2)
{
    ti_stats_err e = {0};
    ti_stats_summary sum;
    check(ti_stats_describe(x, n1, &sum, &e), &e);
    ti_stats_mwu_params mp = ti_stats_mwu_params_default();
    ti_stats_mwu_result r;
    for (int alt = 0; alt < TI_STATS_ALTERNATIVE_COUNT; alt++) {
        mp.alternative = (ti_stats_alternative)alt;
        e.msg[0] = '\0';
        ti_stats_status s = ti_stats_mwu(x, n1, y, n2, &mp, &r, &e);
        check(s, &e);
        if (s == TI_STATS_OK && (!(r.p >= 0 && r.p <= 1) || r.u1 + r.u2 != (double)n1 * n2 ||
                                 !(r.log10_p <= 0)))
            abort();
    }
    double auc;
    e.msg[0] = '\0';
    ti_stats_status s = ti_stats_auc(x, n1, y, n2, &auc, &e);
    check(s, &e);
    if (s == TI_STATS_OK && !(auc >= 0 && auc <= 1))
        abort();
    ti_stats_delong d;
    e.msg[0] = '\0';
    s = ti_stats_auc_delong(x, n1, y, n2, 0.95, &d, &e);
    check(s, &e);
    if (s == TI_STATS_OK && !(d.lo >= 0 && d.lo <= d.auc && d.auc <= d.hi && d.hi <= 1))
        abort();
}

/* thinice-stats --value V --group G: the column split by the labels of another, then the
 * two samples compared. */
static void groups(const ti_stats_csv *c, const char *value, const char *group)
{
    ti_stats_sample a, b;
    ti_stats_err e = {0};
    ti_stats_status s = ti_stats_csv_groups(c, value, group, NULL, &a, &b, &e);
    check(s, &e);
    if (s != TI_STATS_OK)
        return;
    if (a.n + b.n > ti_stats_csv_nrows(c) || !strcmp(a.label, b.label))
        abort();
    if (a.n && b.n)
        two_samples(a.v, a.n, b.v, b.n);
    free(a.v);
    free(b.v);
}

static void walk(const ti_stats_csv *c)
{
    size_t nc = ti_stats_csv_ncols(c), nr = ti_stats_csv_nrows(c);
    if (nc < 1 || ti_stats_csv_colname(c, nc) || ti_stats_csv_cell(c, nr, 0))
        abort();
    for (size_t r = 0; r < nr; r++) {
        if (ti_stats_csv_line(c, r) < 2 || (r && ti_stats_csv_line(c, r) <=
                                                 ti_stats_csv_line(c, r - 1)))
            abort();
        for (size_t j = 0; j < nc; j++) {
            ti_stats_err e = {0};
            double v;
            if (!ti_stats_csv_cell(c, r, j))
                abort();
            check(ti_stats_csv_number(c, r, j, &v, &e), &e);
        }
    }
    double *col[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    int got = 0;
    for (size_t j = 0; j < nc; j++) {
        const char *name = ti_stats_csv_colname(c, j);
        long k = ti_stats_csv_find(c, name);
        if (k < 0 || (size_t)k > j || strcmp(ti_stats_csv_colname(c, (size_t)k), name) != 0)
            abort();
        ti_stats_err e = {0};
        double *v;
        size_t m;
        ti_stats_status s = ti_stats_csv_column(c, name, 1, &v, &m, &e);
        check(s, &e);
        if (s == TI_STATS_OK && m > 0 && got < 2) {
            col[got] = v;
            n[got++] = m;
        } else {
            free(v);
        }
    }
    if (got == 2)
        two_samples(col[0], n[0], col[1], n[1]);
    free(col[0]);
    free(col[1]);
    if (nc >= 2)
        groups(c, ti_stats_csv_colname(c, nc - 1), ti_stats_csv_colname(c, 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ti_stats_csv *c = NULL;
    ti_stats_err e = {0};
    ti_stats_status s = ti_stats_csv_parse((const char *)data, size, "fuzz.csv", &c, &e);
    check(s, &e);
    if ((s == TI_STATS_OK) != (c != NULL))
        abort();
    if (c)
        walk(c);
    ti_stats_csv_free(c);
    return 0;
}
