/* The thin-ice analysis (Piras et al. 2023): populations of dense-vs-pruned correctness, the
 * separability of the dense boundary distance between them (AUC with its DeLong interval and
 * the two-sided Mann-Whitney U p-value), and Tables 1 and 2 as markdown and CSV. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "thinice/study.h"

static const char *const pop_names[TI_POP_COUNT] = {"00", "01", "10", "11"};
static const char *const pop_labels[TI_POP_COUNT] = {
    "00 (both wrong)", "01 (dense wrong, pruned right)", "10 (dense right, pruned wrong)",
    "11 (both right)"};

const char *ti_population_name(ti_population p)
{
    return (unsigned)p < TI_POP_COUNT ? pop_names[p] : "?";
}

const char *ti_population_label(ti_population p)
{
    return (unsigned)p < TI_POP_COUNT ? pop_labels[p] : "?";
}

/* AUC = P(a < b) + P(a = b)/2: libstats' AUC with b as the positives. */
static ti_stats_status separate(const double *a, size_t na, const double *b, size_t nb,
                                ti_study_sep *out, ti_stats_err *err)
{
    *out = (ti_study_sep){.n_a = na, .n_b = nb, .auc = NAN, .auc_lo = NAN, .auc_hi = NAN,
                          .p = NAN, .log10_p = NAN};
    if (na == 0 || nb == 0)
        return TI_STATS_OK;
    ti_stats_status s = ti_stats_auc(b, nb, a, na, &out->auc, err);
    ti_stats_delong dl;
    if (s == TI_STATS_OK && na >= 2 && nb >= 2 &&
        (s = ti_stats_auc_delong(b, nb, a, na, 0.95, &dl, err)) == TI_STATS_OK) {
        out->auc_lo = dl.lo;
        out->auc_hi = dl.hi;
    }
    ti_stats_mwu_params mp = ti_stats_mwu_params_default();
    ti_stats_mwu_result r;
    if (s == TI_STATS_OK && (s = ti_stats_mwu(a, na, b, nb, &mp, &r, err)) == TI_STATS_OK) {
        out->p = r.p;
        out->log10_p = r.log10_p;
    }
    return s;
}

ti_stats_status ti_study_table2_row(const int *dense_right, const int *pruned_right,
                                    const double *eps, size_t n, ti_study_row2 *row,
                                    ti_stats_err *err)
{
    *row = (ti_study_row2){.n = n};
    double *by_pop = malloc((n ? n : 1) * sizeof(double));
    if (!by_pop)
        return TI_STATS_ERR_NOMEM;
    /* group the distances by population, contiguously: offsets in start[] */
    size_t start[TI_POP_COUNT + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        if (isnan(eps[i])) {
            free(by_pop);
            if (err) {
                err->status = TI_STATS_ERR_NAN;
                snprintf(err->msg, sizeof err->msg, "table 2: epsilon of sample %zu is NaN", i);
            }
            return TI_STATS_ERR_NAN;
        }
        row->count[2 * (dense_right[i] != 0) + (pruned_right[i] != 0)]++;
    }
    for (int p = 0; p < TI_POP_COUNT; p++) {
        start[p + 1] = start[p] + row->count[p];
        row->pct[p] = n ? 100.0 * (double)row->count[p] / (double)n : 0.0;
    }
    size_t fill[TI_POP_COUNT];
    for (int p = 0; p < TI_POP_COUNT; p++)
        fill[p] = start[p];
    for (size_t i = 0; i < n; i++)
        by_pop[fill[2 * (dense_right[i] != 0) + (pruned_right[i] != 0)]++] = eps[i];
    const double *g[TI_POP_COUNT];
    for (int p = 0; p < TI_POP_COUNT; p++)
        g[p] = by_pop + start[p];
    ti_stats_status s = separate(g[TI_POP_10], row->count[TI_POP_10], g[TI_POP_11],
                                 row->count[TI_POP_11], &row->sep_10_11, err);
    if (s == TI_STATS_OK)
        s = separate(g[TI_POP_01], row->count[TI_POP_01], g[TI_POP_00], row->count[TI_POP_00],
                     &row->sep_01_00, err);
    free(by_pop);
    return s;
}

void ti_study_format_p(double log10_p, char *buf, size_t len)
{
    if (isnan(log10_p)) {
        snprintf(buf, len, "n/a");
    } else if (log10_p >= -3) {
        snprintf(buf, len, "%.3g", pow(10.0, log10_p));
    } else {
        /* mantissa and exponent from the log, so 1e-400 prints instead of 0 */
        double e = floor(log10_p), m = pow(10.0, log10_p - e);
        if (m >= 9.95) {
            m /= 10;
            e += 1;
        }
        snprintf(buf, len, "%.1fe%d", m, (int)e);
    }
}

static void fmt_auc(const ti_study_sep *s, char *buf, size_t len)
{
    if (isnan(s->auc))
        snprintf(buf, len, "n/a");
    else if (isnan(s->auc_lo))
        snprintf(buf, len, "%.3f", s->auc);
    else
        snprintf(buf, len, "%.3f [%.3f, %.3f]", s->auc, s->auc_lo, s->auc_hi);
}

char *ti_study_table2_md(const char *const *names, const ti_study_row2 *rows, int n)
{
    ti__sb b = {0};
    ti__sb_printf(&b, "| model | n | 00 %% | 01 %% | 10 %% | 11 %% | AUC 10 vs 11 [95%% CI] | "
                      "p | AUC 01 vs 00 [95%% CI] | p |\n"
                      "|---|---:|---:|---:|---:|---:|---|---:|---|---:|\n");
    for (int i = 0; i < n; i++) {
        const ti_study_row2 *r = &rows[i];
        char a1[64], a2[64], p1[32], p2[32];
        fmt_auc(&r->sep_10_11, a1, sizeof a1);
        fmt_auc(&r->sep_01_00, a2, sizeof a2);
        ti_study_format_p(r->sep_10_11.log10_p, p1, sizeof p1);
        ti_study_format_p(r->sep_01_00.log10_p, p2, sizeof p2);
        ti__sb_printf(&b, "| %s | %zu | %.2f | %.2f | %.2f | %.2f | %s | %s | %s | %s |\n",
                      names[i], r->n, r->pct[0], r->pct[1], r->pct[2], r->pct[3], a1, p1, a2,
                      p2);
    }
    return ti__sb_take(&b, NULL);
}

char *ti_study_table2_csv(const char *const *names, const ti_study_row2 *rows, int n)
{
    ti__sb b = {0};
    ti__sb_printf(&b, "model,n,pct_00,pct_01,pct_10,pct_11,n_10,n_11,auc_10_11,auc_10_11_lo,"
                      "auc_10_11_hi,p_10_11,log10_p_10_11,n_01,n_00,auc_01_00,auc_01_00_lo,"
                      "auc_01_00_hi,p_01_00,log10_p_01_00\n");
    for (int i = 0; i < n; i++) {
        const ti_study_row2 *r = &rows[i];
        const ti_study_sep *s1 = &r->sep_10_11, *s2 = &r->sep_01_00;
        ti__sb_printf(&b, "%s,%zu,%.4f,%.4f,%.4f,%.4f,%zu,%zu,%.6f,%.6f,%.6f,%.6g,%.4f,"
                          "%zu,%zu,%.6f,%.6f,%.6f,%.6g,%.4f\n",
                      names[i], r->n, r->pct[0], r->pct[1], r->pct[2], r->pct[3], s1->n_a,
                      s1->n_b, s1->auc, s1->auc_lo, s1->auc_hi, s1->p, s1->log10_p, s2->n_a,
                      s2->n_b, s2->auc, s2->auc_lo, s2->auc_hi, s2->p, s2->log10_p);
    }
    return ti__sb_take(&b, NULL);
}

ti_study_row1 ti_study_row1_empty(void)
{
    ti_study_row1 r;
    memset(&r, 0, sizeof r);
    r.sparsity_measured = r.clean = r.pgd = r.aa_clean = r.aa = NAN;
    r.aa_lo = r.aa_hi = r.drop_lo = r.drop_hi = r.drop_log10_p = NAN;
    r.fmn_median = r.curve_auc = NAN;
    return r;
}

/* A percentage with two decimals, or n/a. */
static void pct(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "n/a");
    else
        snprintf(buf, len, "%.2f", 100 * v);
}

/* "47.30 [44.2, 50.4]", or without the interval when it is unknown. */
static void pct_ci(char *buf, size_t len, double v, double lo, double hi)
{
    char a[32];
    pct(a, sizeof a, v);
    if (isnan(lo) || isnan(hi))
        snprintf(buf, len, "%s", a);
    else
        snprintf(buf, len, "%s [%.1f, %.1f]", a, 100 * lo, 100 * hi);
}

char *ti_study_table1_md(const ti_study_row1 *rows, int n)
{
    ti__sb b = {0};
    ti__sb_printf(&b, "| network | method | sparsity (measured) | reported by | clean %% | "
                      "robust %% | AutoAttack robust %% [95%% CI] | drop (pp) [95%% CI] | "
                      "p (AutoAttack below) | median distance | curve AUC |\n"
                      "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        const ti_study_row1 *r = &rows[i];
        char sp[48], c[16], rb[16], aa[48], dr[48], p[32], md[32], auc[32];
        snprintf(sp, sizeof sp, isnan(r->sparsity_measured) ? "%.0f%%" : "%.0f%% (%.2f%%)",
                 100 * r->sparsity, 100 * r->sparsity_measured);
        pct(c, sizeof c, r->clean);
        pct(rb, sizeof rb, r->pgd);
        pct_ci(aa, sizeof aa, r->aa, r->aa_lo, r->aa_hi);
        pct_ci(dr, sizeof dr, r->pgd - r->aa, r->drop_lo, r->drop_hi);
        ti_study_format_p(r->drop_log10_p, p, sizeof p);
        snprintf(md, sizeof md, isnan(r->fmn_median) ? "n/a" : "%.4g", r->fmn_median);
        snprintf(auc, sizeof auc, isnan(r->curve_auc) ? "n/a" : "%.4f", r->curve_auc);
        ti__sb_printf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                      r->network, r->method, sp, r->reported_by[0] ? r->reported_by : "n/a", c,
                      rb, aa, dr, p, md, auc);
    }
    return ti__sb_take(&b, NULL);
}

char *ti_study_table1_csv(const ti_study_row1 *rows, int n)
{
    ti__sb b = {0};
    ti__sb_printf(&b, "network,method,sparsity,sparsity_measured,reported_by,clean,robust,"
                      "autoattack_clean,autoattack,n,autoattack_lo,autoattack_hi,drop,drop_lo,"
                      "drop_hi,drop_log10_p,fmn_median,curve_auc\n");
    for (int i = 0; i < n; i++) {
        const ti_study_row1 *r = &rows[i];
        ti__sb_printf(&b, "%s,%s,%.4f,%.6g,\"%s\",%.6g,%.6g,%.6g,%.6g,%zu,%.6g,%.6g,%.6g,%.6g,"
                          "%.6g,%.6g,%.6g,%.6g\n", r->network, r->method, r->sparsity,
                      r->sparsity_measured, r->reported_by, r->clean, r->pgd, r->aa_clean,
                      r->aa, r->n, r->aa_lo, r->aa_hi, r->pgd - r->aa, r->drop_lo, r->drop_hi,
                      r->drop_log10_p, r->fmn_median, r->curve_auc);
    }
    return ti__sb_take(&b, NULL);
}
