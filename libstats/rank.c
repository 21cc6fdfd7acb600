/* Ranks with ties: sort with positions, then give each group of equal values the average of
 * the ranks it spans (scipy.stats.rankdata method='average'), and the tie term
 * sum(t^3 - t) of the tie-corrected variance of the rank-sum statistics. */
#include <stdlib.h>

#include "internal.h"

static int cmp_items(const void *pa, const void *pb)
{
    const ti_stats__item *a = pa, *b = pb;
    if (a->v < b->v)
        return -1;
    if (a->v > b->v)
        return 1;
    return (a->i > b->i) - (a->i < b->i);
}

void ti_stats__sort_items(ti_stats__item *it, size_t n)
{
    qsort(it, n, sizeof *it, cmp_items);
}

double ti_stats__midranks(const double *x, size_t n, double *ranks, ti_stats__item *it)
{
    for (size_t i = 0; i < n; i++) {
        it[i].v = x[i];
        it[i].i = i;
    }
    ti_stats__sort_items(it, n);
    double tie_term = 0;
    size_t a = 0;
    while (a < n) {
        size_t b = a + 1;
        while (b < n && it[b].v == it[a].v)
            b++;
        /* positions a..b-1 (0-based) hold ranks a+1..b: their average is (a + 1 + b) / 2 */
        double r = 0.5 * (double)(a + 1 + b);
        for (size_t j = a; j < b; j++)
            ranks[it[j].i] = r;
        double t = (double)(b - a);
        tie_term += t * t * t - t;
        a = b;
    }
    return tie_term;
}

ti_stats_status ti_stats_rankdata(const double *x, size_t n, double *ranks, double *tie_term,
                                  ti_stats_err *err)
{
    if (!x || !ranks)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "rankdata: NULL argument");
    if (n == 0)
        return ti_stats__fail(err, TI_STATS_ERR_EMPTY, "rankdata: no values");
    ti_stats_status s = ti_stats__check_nan(x, n, "rankdata", "x", err);
    if (s)
        return s;
    ti_stats__item *it = malloc(n * sizeof *it);
    if (!it)
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "rankdata: out of memory for %zu values",
                              n);
    double tt = ti_stats__midranks(x, n, ranks, it);
    free(it);
    if (tie_term)
        *tie_term = tt;
    return TI_STATS_OK;
}
