/* libstats' status codes: a fixed string per code, the error helpers (NaN and confidence
 * level checks), and the names of the Mann-Whitney alternatives and methods. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const status_names[TI_STATS_STATUS_COUNT] = {
    [TI_STATS_OK] = "ok",
    [TI_STATS_ERR_NOMEM] = "out of memory",
    [TI_STATS_ERR_ARG] = "bad argument",
    [TI_STATS_ERR_EMPTY] = "empty sample",
    [TI_STATS_ERR_NAN] = "NaN in the data",
    [TI_STATS_ERR_IO] = "input/output error",
    [TI_STATS_ERR_FORMAT] = "malformed CSV or number",
    [TI_STATS_ERR_COLUMN] = "no such column",
    [TI_STATS_ERR_TOO_LARGE] = "too large for the exact computation",
};

const char *ti_stats_status_str(ti_stats_status s)
{
    if ((unsigned)s >= TI_STATS_STATUS_COUNT)
        return "unknown status";
    return status_names[s];
}

ti_stats_status ti_stats__fail(ti_stats_err *err, ti_stats_status s, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = s;
    }
    return s;
}

ti_stats_status ti_stats__check_nan(const double *x, size_t n, const char *fn,
                                    const char *what, ti_stats_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] != x[i])
            return ti_stats__fail(err, TI_STATS_ERR_NAN, "%s: %s[%zu] is NaN", fn, what, i);
    return TI_STATS_OK;
}

ti_stats_status ti_stats__check_level(double level, const char *fn, ti_stats_err *err)
{
    if (!(level > 0.0 && level < 1.0))
        return ti_stats__fail(err, TI_STATS_ERR_ARG,
                              "%s: level %g must be between 0 and 1 (e.g. 0.95)", fn, level);
    return TI_STATS_OK;
}

static const char *const alt_names[TI_STATS_ALTERNATIVE_COUNT] = {
    [TI_STATS_TWO_SIDED] = "two-sided",
    [TI_STATS_LESS] = "less",
    [TI_STATS_GREATER] = "greater",
};

static const char *const method_names[TI_STATS_METHOD_COUNT] = {
    [TI_STATS_AUTO] = "auto",
    [TI_STATS_EXACT] = "exact",
    [TI_STATS_ASYMPTOTIC] = "asymptotic",
};

const char *ti_stats_alternative_name(ti_stats_alternative a)
{
    return (unsigned)a < TI_STATS_ALTERNATIVE_COUNT ? alt_names[a] : "unknown";
}

const char *ti_stats_method_name(ti_stats_method m)
{
    return (unsigned)m < TI_STATS_METHOD_COUNT ? method_names[m] : "unknown";
}

ti_stats_status ti_stats_alternative_parse(const char *s, ti_stats_alternative *out,
                                           ti_stats_err *err)
{
    if (!s || !out)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "alternative: NULL argument");
    for (int a = 0; a < TI_STATS_ALTERNATIVE_COUNT; a++)
        if (strcmp(s, alt_names[a]) == 0) {
            *out = (ti_stats_alternative)a;
            return TI_STATS_OK;
        }
    return ti_stats__fail(err, TI_STATS_ERR_ARG,
                          "unknown alternative '%s' (use two-sided, less or greater)", s);
}
