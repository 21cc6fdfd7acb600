/* thinice-study's outputs (report.h): the paper's Tables 1 and 2 and report.md tying them to
 * the figures. Table 1: every model's reported robustness (by its method, its authors or
 * thinice's PGD) against AutoAttack's, with AutoAttack's 95% interval, and its distances to
 * the boundary (median FMN distance, area under the security curve); Table 2: the populations
 * and the separability of the dense model's boundary distance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "thinice/audit.h"
#include "thinice/fileio.h"
#include "thinice/study.h"

static ti_status write_text(study *st, const char *name, const char *text)
{
    return study_write_bytes(st, name, text, text ? strlen(text) : 0, !text);
}

/* Table 1's row of one model. */
static ti_study_row1 row1(const study *st, const study_model *m, const study_samples *s)
{
    ti_study_row1 r = ti_study_row1_empty();
    snprintf(r.method, sizeof r.method, "%s", m->method);
    snprintf(r.network, sizeof r.network, "%s", m->network);
    snprintf(r.reported_by, sizeof r.reported_by, "%s", m->reported_by);
    r.sparsity = m->sparsity;
    r.sparsity_measured = m->sparsity_measured;
    r.clean = m->clean;
    r.pgd = m->pgd;
    r.aa_clean = m->aa_clean;
    r.aa = m->aa_robust;
    r.n = (size_t)m->aa_n;
    ti_stats_proportion_ci((size_t)m->aa_robust_n, r.n, 0.95, TI_STATS_CI_CLOPPER_PEARSON,
                           &r.aa_lo, &r.aa_hi, NULL);
    /* the drop against the reported number, a fixed value (no per-sample results exist for
     * an author's number): its interval from AutoAttack's, an exact binomial test */
    if (!isnan(r.pgd) && !isnan(r.aa_lo)) {
        r.drop_lo = r.pgd - r.aa_hi;
        r.drop_hi = r.pgd - r.aa_lo;
        ti_stats_binom_test_less((size_t)m->aa_robust_n, r.n, r.pgd, &r.drop_log10_p, NULL);
    }
    double *d = study_curve_distances(s);
    ti_stats_security sec;
    if (d && s->nfmn > 0 &&
        ti_stats_security_summary(d, (size_t)s->nfmn, study_curve_eps_max(st), &sec, NULL) ==
            TI_STATS_OK) {
        r.fmn_median = sec.median;
        r.curve_auc = sec.auc;
    }
    free(d);
    return r;
}

/* A sentence per pruned model on what Table 2 says, for the report. */
static void finding(FILE *f, const char *name, const ti_study_row2 *r)
{
    char p[32];
    ti_study_format_p(r->sep_10_11.log10_p, p, sizeof p);
    if (isnan(r->sep_10_11.auc)) {
        fprintf(f, "- **%s**: no sample in population 10 or 11, so no AUC.\n", name);
        return;
    }
    fprintf(f, "- **%s**: %zu samples (%.2f%%) were right for the dense model and wrong after "
               "pruning; their distance to the dense boundary is smaller than that of the "
               "samples both get right with probability AUC = %.3f (p = %s): %s.\n",
            name, r->count[TI_POP_10], r->pct[TI_POP_10], r->sep_10_11.auc, p,
            r->sep_10_11.auc > 0.5 && r->sep_10_11.log10_p < -2
                ? "pruning breaks the samples on thin ice, as the paper found"
                : "no clear separation on this run");
}

/* The intro: which data, which models (trained here or the user's). */
static void intro(FILE *f, const study *st, const study_net *nets, int n)
{
    const study_config *c = st->cfg;
    fprintf(f, "# thinice study: %s\n\nSamples on thin ice (Piras et al. 2023), reproduced "
               "with thinice %s on %s (%d test images).\n\n", c->name, TI_VERSION,
            st->test->name, st->test->N);
    if (c->nexternal) {
        fprintf(f, "Models brought by the user (evaluated, not trained here):\n\n");
        for (int k = 0; k < n; k++)
            for (int i = -1; i < nets[k].np; i++) {
                const study_model *m = i < 0 ? &nets[k].dense : &nets[k].pruned[i];
                fprintf(f, "- `%s`: %s (sparsity %.2f%%)\n", m->tag, m->path,
                        100 * m->sparsity_measured);
            }
        fprintf(f, "\n");
    } else {
        fprintf(f, "Models trained and pruned here on %d training images.\n\n", st->train->N);
    }
}

/* The audit of every model's AutoAttack run: the checks that fired, or that none did. */
static void audit_section(FILE *f, const study_net *nets, int n)
{
    fprintf(f, "## Evaluation audit\n\nEvery AutoAttack run is audited with AutoAttack's own "
               "checks and the indicators of attack failure (what each means: the thinice "
               "documentation, docs/audit.md); the numbers are in "
               "`samples/<model>-autoattack-audit.json`, per sample in the AutoAttack CSV's "
               "`audit_*` columns.\n\n");
    int any = 0;
    for (int k = 0; k < n; k++)
        for (int i = -1; i < nets[k].np; i++) {
            const study_model *m = i < 0 ? &nets[k].dense : &nets[k].pruned[i];
            if (!m->audit_fired)
                continue;
            fprintf(f, "- **%s**:", m->tag);
            for (int c = 0; c < TI_AUDIT_COUNT; c++)
                if (m->audit_fired & TI_AUDIT_BIT(c))
                    fprintf(f, " `%s`", ti_audit_check_name((ti_audit_check)c));
            fprintf(f, "\n");
            any = 1;
        }
    fprintf(f, any ? "\nA check that fired means the robust accuracy of that model may be "
                     "overstated: read its JSON before trusting the number.\n\n"
                   : "No check fired on any model.\n\n");
}

static ti_status write_report_md(study *st, const study_net *nets, int n, const char *md1,
                                 const char *md2, const char *const *names,
                                 const ti_study_row2 *r2, int ne, const char *config_json)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/report.md", st->out);
    ti_afile f;
    ti_status s = ti_afile_open(st->ctx, &f, path);
    if (s != TI_OK)
        return s;
    const study_config *c = st->cfg;
    intro(f.fp, st, nets, n);
    fprintf(f.fp, "## Table 1: robustness as reported and under AutoAttack\n\n"
                  "Reported: the method's own evaluation (models pruned here), the authors' "
                  "numbers (given in the configuration) or thinice's PGD-%d when nobody "
                  "reported any; AutoAttack \"%s\" at L-inf eps %g; both on the first %d test "
                  "images, with AutoAttack's exact (Clopper-Pearson) 95%% interval. Drop: reported "
                  "minus AutoAttack, in points, its interval taking the reported number as "
                  "fixed (an author's number has no per-sample results), and p of the exact "
                  "binomial test that AutoAttack's robust accuracy is below it. Median distance "
                  "and curve AUC: FMN %s distances (the security curves below) up to eps "
                  "%g.\n\n%s\n",
            c->attack.pgd_steps, c->attack.version, c->eps, c->attack.count, c->fmn.norm,
            study_curve_eps_max(st), md1);
    fprintf(f.fp, "## Table 2: populations and distance to the dense boundary\n\n"
                  "Populations by (dense right, pruned right) on the first %d test images; "
                  "AUC = P(eps of a sample of the first population < eps of one of the "
                  "second), with the DeLong 95%% interval and the two-sided Mann-Whitney U "
                  "p-value. eps: FMN %s, %d steps, towards the dense model's predicted "
                  "label.\n\n%s\n",
            st->test->N, c->fmn.norm, c->fmn.steps, md2);
    fprintf(f.fp, "## Figure 2\n\n![dense margin against distance to the dense "
                  "boundary](figure2.png)\n\n([SVG](figure2.svg))\n\n## Security curves\n\n");
    for (int k = 0; k < n; k++)
        fprintf(f.fp, "![security curves of %s](securitycurves-%s.png) ([SVG](securitycurves-"
                      "%s.svg), [CSV](securitycurves-%s.csv))\n\n", nets[k].dense.network,
                nets[k].dense.network, nets[k].dense.network, nets[k].dense.network);
    if ((s = study_paired_section(st, f.fp, nets, n)) != TI_OK) {
        ti_afile_abort(&f);
        return s;
    }
    audit_section(f.fp, nets, n);
    fprintf(f.fp, "## Findings\n\n");
    for (int i = 0; i < ne; i++)
        finding(f.fp, names[i], &r2[i]);
    fprintf(f.fp, "\n## Files\n\n- `table1.md`, `table1.csv`, `table2.md`, `table2.csv`, "
                  "`figure2.png`, `figure2.svg`, `securitycurves-*.{png,svg,csv}`\n- "
                  "`samples/`: per-sample AutoAttack and FMN results (the harness's CSV) and "
                  "`<model>-distances.csv` (index, label, prediction, distance)\n- `models/`: "
                  "the checkpoints trained here; `steps/`: the cache of finished steps\n\n"
                  "## Configuration\n\n```json\n%s\n```\n", config_json);
    return ti_afile_commit(st->ctx, &f);
}

/* Table 1 (every model) and Table 2 (every pruned model against its dense parent). */
static ti_status tables(study *st, const study_net *nets, const study_net_samples *smp, int n,
                        ti_study_row1 *t1, int *n1, ti_study_row2 *t2, const char **names,
                        study_entry *e, int *ne)
{
    *n1 = *ne = 0;
    for (int k = 0; k < n; k++) {
        t1[(*n1)++] = row1(st, &nets[k].dense, &smp[k].dense);
        for (int i = 0; i < nets[k].np; i++) {
            const study_model *p = &nets[k].pruned[i];
            t1[(*n1)++] = row1(st, p, &smp[k].pruned[i]);
            e[*ne] = (study_entry){&nets[k].dense, p, &smp[k].dense, &smp[k].pruned[i]};
            names[*ne] = p->tag;
            ti_stats_err err = {0};
            const study_samples *d = &smp[k].dense;
            if (ti_study_table2_row(d->right, smp[k].pruned[i].right, d->eps, (size_t)d->n,
                                    &t2[*ne], &err) != TI_STATS_OK)
                return ti_ctx_error(st->ctx, TI_ERR_ARG, "table 2 (%s): %s", p->tag, err.msg);
            (*ne)++;
        }
    }
    return TI_OK;
}

ti_status study_write_report(study *st, const study_net *nets, const study_net_samples *smp,
                             int n, const char *config_json)
{
    if (!study_writer(st)) /* rank 0 writes the report */
        return TI_OK;
    int cap = n * (STUDY_MAX_PRUNED + 1) + 1, n1, ne;
    ti_study_row1 *t1 = calloc((size_t)cap, sizeof *t1);
    ti_study_row2 *t2 = calloc((size_t)cap, sizeof *t2);
    study_entry *e = calloc((size_t)cap, sizeof *e);
    const char **names = calloc((size_t)cap, sizeof *names);
    ti_status s = t1 && t2 && e && names
                      ? tables(st, nets, smp, n, t1, &n1, t2, names, e, &ne)
                      : ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
    char *md1 = s == TI_OK ? ti_study_table1_md(t1, n1) : NULL;
    char *md2 = s == TI_OK ? ti_study_table2_md(names, t2, ne) : NULL;
    char *csv1 = s == TI_OK ? ti_study_table1_csv(t1, n1) : NULL;
    char *csv2 = s == TI_OK ? ti_study_table2_csv(names, t2, ne) : NULL;
    if (s == TI_OK && (s = write_text(st, "table1.md", md1)) == TI_OK &&
        (s = write_text(st, "table1.csv", csv1)) == TI_OK &&
        (s = write_text(st, "table2.md", md2)) == TI_OK)
        s = write_text(st, "table2.csv", csv2);
    if (s == TI_OK && ne > 0)
        s = study_write_figure2(st, e, ne);
    for (int k = 0; k < n && s == TI_OK; k++)
        s = study_write_curves(st, &nets[k], &smp[k]);
    if (s == TI_OK)
        s = write_report_md(st, nets, n, md1, md2, names, t2, ne, config_json);
    free(md1);
    free(md2);
    free(csv1);
    free(csv2);
    free(t1);
    free(t2);
    free(e);
    free(names);
    return s;
}
