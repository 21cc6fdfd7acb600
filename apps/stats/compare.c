/* thinice-stats' comparison of two samples from a CSV (two groups of one column, or two
 * columns): descriptive statistics, the Mann-Whitney U test and the ROC AUC with its DeLong
 * interval (libstats), printed and optionally written as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "compare.h"
#include "thinice/fileio.h"
#include "thinice/json.h"

/* One side of the comparison: its label, its values, and their summary. */
typedef struct side {
    ti_stats_sample s;
    ti_stats_summary sum;
} side;

/* A number as %12.6g, or n/a where it is undefined (the spread of a sample with an
 * infinity, which %g would print as -nan). */
static void cell(double v)
{
    if (v != v)
        printf(" %12s", "n/a");
    else
        printf(" %12.6g", v);
}

/* The two samples: by group labels or as two columns. */
static int load(const compare_opts *o, const ti_stats_csv *c, side *a, side *b)
{
    ti_stats_err e = {0};
    ti_stats_status s;
    if (o->group) {
        s = ti_stats_csv_groups(c, o->value, o->group, o->groups, &a->s, &b->s, &e);
    } else {
        snprintf(a->s.label, sizeof a->s.label, "%s", o->col_a);
        snprintf(b->s.label, sizeof b->s.label, "%s", o->col_b);
        s = ti_stats_csv_column(c, o->col_a, 1, &a->s.v, &a->s.n, &e);
        if (!s)
            s = ti_stats_csv_column(c, o->col_b, 1, &b->s.v, &b->s.n, &e);
    }
    if (s) { /* the message may name the file itself ("FILE:LINE: ...") */
        size_t l = strlen(o->csv);
        if (strncmp(e.msg, o->csv, l) == 0 && e.msg[l] == ':')
            app_error("%s", e.msg);
        else
            app_error("%s: %s", o->csv, e.msg);
        return APP_EXIT_FAIL;
    }
    return APP_EXIT_OK;
}

/* p as a number where a double holds it, else as a power of ten from log10 p. */
static void format_p(char *buf, size_t cap, double p, double log10_p)
{
    if (p >= 1e-300)
        snprintf(buf, cap, "%.6g", p);
    else
        snprintf(buf, cap, "10^%.4f (below a double's range)", log10_p);
}

static void print_results(const compare_opts *o, const side *a, const side *b,
                          const ti_stats_mwu_result *r, const ti_stats_delong *d, int have_ci)
{
    if (o->group)
        printf("%s: column '%s' by '%s': A = '%s', B = '%s'\n\n", o->csv, o->value, o->group,
               a->s.label, b->s.label);
    else
        printf("%s: A = column '%s', B = column '%s'\n\n", o->csv, a->s.label, b->s.label);
    printf("     %8s %12s %12s %12s %12s %12s %12s %12s\n", "n", "mean", "sd", "min", "q1",
           "median", "q3", "max");
    const side *s2[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const ti_stats_summary *s = &s2[i]->sum;
        printf("  %c  %8zu", 'A' + i, s->n);
        const double v[7] = {s->mean, s->sd, s->min, s->q1, s->median, s->q3, s->max};
        for (int k = 0; k < 7; k++)
            cell(v[k]);
        printf("\n");
    }
    char pbuf[96];
    format_p(pbuf, sizeof pbuf, r->p, r->log10_p);
    printf("\nMann-Whitney U (%s, %s%s):\n", ti_stats_alternative_name(o->mwu.alternative),
           ti_stats_method_name(r->method),
           r->method == TI_STATS_ASYMPTOTIC && o->mwu.use_continuity ? ", continuity-corrected"
                                                                     : "");
    printf("  U1 = %.10g  U2 = %.10g", r->u1, r->u2);
    if (r->method == TI_STATS_ASYMPTOTIC)
        printf("  z = %.6g", r->z);
    printf("\n  p = %s  log10 p = %.6f\n", pbuf, r->log10_p);
    printf("AUC = P(A > B) + P(A = B)/2 = %.6f", r->u1 / ((double)r->n1 * (double)r->n2));
    if (have_ci)
        printf("  %g%% DeLong CI [%.6f, %.6f]  (se %.6f)\n", 100 * d->level, d->lo, d->hi, d->se);
    else
        printf("  (no DeLong interval: it needs at least 2 values per group)\n");
}

static void json_summary(ti_jw *w, const side *s)
{
    ti_jw_begin_object(w);
    ti_jw_key(w, "label");
    ti_jw_string(w, s->s.label);
    ti_jw_key(w, "n");
    ti_jw_int(w, (long long)s->sum.n);
    const char *keys[8] = {"mean", "sd", "min", "q1", "median", "q3", "max", "var"};
    const double vals[8] = {s->sum.mean, s->sum.sd, s->sum.min, s->sum.q1,
                            s->sum.median, s->sum.q3, s->sum.max, s->sum.var};
    for (int i = 0; i < 8; i++) {
        ti_jw_key(w, keys[i]);
        ti_jw_number(w, vals[i]);
    }
    ti_jw_end_object(w);
}

static int write_json(const compare_opts *o, const side *a, const side *b, const ti_stats_mwu_result *r,
                      const ti_stats_delong *d, int have_ci)
{
    ti_jw *w = ti_jw_new();
    if (!w) {
        app_error("out of memory");
        return APP_EXIT_FAIL;
    }
    ti_jw_begin_object(w);
    app_json_program(w);
    ti_jw_key(w, "input");
    ti_jw_string(w, o->csv);
    ti_jw_key(w, "mode");
    ti_jw_string(w, o->group ? "groups" : "columns");
    if (o->group) {
        ti_jw_key(w, "value");
        ti_jw_string(w, o->value);
        ti_jw_key(w, "group");
        ti_jw_string(w, o->group);
    }
    ti_jw_key(w, "a");
    json_summary(w, a);
    ti_jw_key(w, "b");
    json_summary(w, b);
    ti_jw_key(w, "mann_whitney");
    ti_jw_begin_object(w);
    ti_jw_key(w, "alternative");
    ti_jw_string(w, ti_stats_alternative_name(o->mwu.alternative));
    ti_jw_key(w, "method");
    ti_jw_string(w, ti_stats_method_name(r->method));
    ti_jw_key(w, "continuity");
    ti_jw_bool(w, o->mwu.use_continuity);
    ti_jw_key(w, "u1");
    ti_jw_number(w, r->u1);
    ti_jw_key(w, "u2");
    ti_jw_number(w, r->u2);
    ti_jw_key(w, "z");
    ti_jw_number(w, r->z); /* null for the exact method */
    ti_jw_key(w, "p");
    ti_jw_number(w, r->p);
    ti_jw_key(w, "log10_p");
    ti_jw_number(w, r->log10_p);
    ti_jw_key(w, "tie_term");
    ti_jw_number(w, r->tie_term);
    ti_jw_end_object(w);
    ti_jw_key(w, "auc");
    ti_jw_begin_object(w);
    ti_jw_key(w, "definition");
    ti_jw_string(w, "P(A > B) + P(A = B)/2");
    ti_jw_key(w, "value");
    ti_jw_number(w, r->u1 / ((double)r->n1 * (double)r->n2));
    ti_jw_key(w, "delong");
    if (have_ci) {
        ti_jw_begin_object(w);
        ti_jw_key(w, "level");
        ti_jw_number(w, d->level);
        ti_jw_key(w, "se");
        ti_jw_number(w, d->se);
        ti_jw_key(w, "lo");
        ti_jw_number(w, d->lo);
        ti_jw_key(w, "hi");
        ti_jw_number(w, d->hi);
        ti_jw_end_object(w);
    } else {
        ti_jw_null(w);
    }
    ti_jw_end_object(w);
    ti_jw_end_object(w);
    int rc = APP_EXIT_OK;
    ti_ctx *ctx = ti_ctx_new(0, 1);
    ti_status s = ctx ? app_write_json(ctx, w, o->json) : TI_ERR_NOMEM;
    if (s != TI_OK)
        rc = app_fail(ctx, s, "writing the JSON summary");
    ti_ctx_free(ctx);
    ti_jw_free(w);
    return rc;
}

int stats_compare(const compare_opts *o)
{
    int rc;
    ti_stats_err e = {0};
    ti_stats_csv *c = NULL;
    side a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    ti_ctx *ctx = ti_ctx_new(0, 1);
    int unwritable = !ctx || app_check_output(ctx, "--output", o->json);
    ti_ctx_free(ctx);
    if (unwritable)
        return APP_EXIT_FAIL;
    if (ti_stats_csv_read(o->csv, &c, &e)) {
        app_error("%s", e.msg);
        return APP_EXIT_FAIL;
    }
    rc = load(o, c, &a, &b);
    ti_stats_csv_free(c);
    if (rc != APP_EXIT_OK)
        goto done;
    if (a.s.n == 0 || b.s.n == 0) {
        app_error("%s: %s '%s' has no values", o->csv, o->group ? "group" : "column",
                  a.s.n == 0 ? a.s.label : b.s.label);
        rc = APP_EXIT_FAIL;
        goto done;
    }

    ti_stats_mwu_result r;
    ti_stats_delong d;
    if (ti_stats_describe(a.s.v, a.s.n, &a.sum, &e) ||
        ti_stats_describe(b.s.v, b.s.n, &b.sum, &e) ||
        ti_stats_mwu(a.s.v, a.s.n, b.s.v, b.s.n, &o->mwu, &r, &e)) {
        app_error("%s", e.msg);
        rc = APP_EXIT_FAIL;
        goto done;
    }
    int have_ci = 1;
    ti_stats_status s = ti_stats_auc_delong(a.s.v, a.s.n, b.s.v, b.s.n, o->level, &d, &e);
    if (s == TI_STATS_ERR_EMPTY) {
        have_ci = 0; /* a group of one value: report U and p, no interval */
    } else if (s) {
        app_error("%s", e.msg);
        rc = APP_EXIT_FAIL;
        goto done;
    }
    if (!o->quiet)
        print_results(o, &a, &b, &r, &d, have_ci);
    if (o->json)
        rc = write_json(o, &a, &b, &r, &d, have_ci);
done:
    free(a.s.v);
    free(b.s.v);
    return rc;
}
