/* Splitting a CSV's column into two samples by the labels of another column (stats.h): what
 * thinice-stats compares when given --value and --group. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thinice/stats.h"

/* Copies a label of n bytes into s; a label too long for it is refused, as a cut one would
 * match no cell (and two cut alike would look like one group). */
static ti_stats_status set_label(ti_stats_sample *s, const char *text, size_t n,
                                 ti_stats_err *err)
{
    if (n >= sizeof s->label)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "group label '%.40s...' is %zu bytes long "
                              "(at most %zu)", text, n, sizeof s->label - 1);
    memcpy(s->label, text, n);
    s->label[n] = '\0';
    return TI_STATS_OK;
}

/* The two labels: from "A,B", or the column's first two distinct labels (exactly two). */
static ti_stats_status labels(const ti_stats_csv *c, long gc, const char *group,
                              const char *groups, ti_stats_sample *a, ti_stats_sample *b,
                              ti_stats_err *err)
{
    ti_stats_status s;
    if (groups) {
        const char *comma = strchr(groups, ',');
        if (!comma || strchr(comma + 1, ',') || comma == groups || !comma[1])
            return ti_stats__fail(err, TI_STATS_ERR_ARG, "groups '%s' is not two names A,B",
                                  groups);
        if ((s = set_label(a, groups, (size_t)(comma - groups), err)) != TI_STATS_OK ||
            (s = set_label(b, comma + 1, strlen(comma + 1), err)) != TI_STATS_OK)
            return s;
        if (strcmp(a->label, b->label) == 0)
            return ti_stats__fail(err, TI_STATS_ERR_ARG, "the two groups are both '%s'",
                                  a->label);
        return TI_STATS_OK;
    }
    int k = 0;
    for (size_t r = 0; r < ti_stats_csv_nrows(c); r++) {
        const char *g = ti_stats_csv_cell(c, r, (size_t)gc);
        if ((k >= 1 && strcmp(g, a->label) == 0) || (k >= 2 && strcmp(g, b->label) == 0))
            continue;
        if (k == 2)
            return ti_stats__fail(err, TI_STATS_ERR_ARG, "line %ld: column '%s' has a third "
                                  "group '%s' (after '%s' and '%s'): pick two",
                                  ti_stats_csv_line(c, r), group, g, a->label, b->label);
        if ((s = set_label(k == 0 ? a : b, g, strlen(g), err)) != TI_STATS_OK)
            return s;
        k++;
    }
    if (k < 2)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "column '%s' has %s; two are needed",
                              group, k == 0 ? "no rows" : "a single group");
    return TI_STATS_OK;
}

static ti_stats_status split(const ti_stats_csv *c, long vc, long gc, ti_stats_sample *a,
                             ti_stats_sample *b, ti_stats_err *err)
{
    size_t nrows = ti_stats_csv_nrows(c);
    a->v = malloc((nrows ? nrows : 1) * sizeof *a->v);
    b->v = malloc((nrows ? nrows : 1) * sizeof *b->v);
    if (!a->v || !b->v)
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "csv: out of memory");
    for (size_t r = 0; r < nrows; r++) {
        const char *g = ti_stats_csv_cell(c, r, (size_t)gc);
        ti_stats_sample *s = !strcmp(g, a->label) ? a : !strcmp(g, b->label) ? b : NULL;
        ti_stats_status st = s ? ti_stats_csv_number(c, r, (size_t)vc, &s->v[s->n], err) : 0;
        if (st)
            return st;
        s ? s->n++ : 0;
    }
    return TI_STATS_OK;
}

ti_stats_status ti_stats_csv_groups(const ti_stats_csv *c, const char *value, const char *group,
                                    const char *groups, ti_stats_sample *a, ti_stats_sample *b,
                                    ti_stats_err *err)
{
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    if (!c || !value || !group)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "csv: NULL argument");
    long vc = ti_stats_csv_find(c, value), gc = ti_stats_csv_find(c, group);
    double *probe = NULL;
    size_t n;
    /* an unknown column: ti_stats_csv_column's message lists the columns there are */
    if (vc < 0 || gc < 0)
        return ti_stats_csv_column(c, vc < 0 ? value : group, 1, &probe, &n, err);
    ti_stats_status s = labels(c, gc, group, groups, a, b, err);
    if (s == TI_STATS_OK)
        s = split(c, vc, gc, a, b, err);
    if (s != TI_STATS_OK) {
        free(a->v);
        free(b->v);
        a->v = b->v = NULL;
        a->n = b->n = 0;
    }
    return s;
}
