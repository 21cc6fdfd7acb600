/* thinice-study's outputs (study_report.h): the paper's Tables 1 and 2, Figure 2 (dense margin
 * against the dense model's boundary distance, one colour and marker per population, one
 * panel per pruned model) and report.md tying them together. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "thinice/fileio.h"
#include "thinice/plot.h"
#include "thinice/study.h"

static ti_status write_text(study *st, const char *name, const char *text)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", st->out, name);
    if (!text)
        return ti_ctx_error(st->ctx, TI_ERR_NOMEM, "%s: out of memory", path);
    return ti_write_file_atomic(st->ctx, path, text, strlen(text));
}

static ti_status write_bytes(study *st, const char *name, const void *data, size_t len, int rc)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", st->out, name);
    if (rc != 0)
        return ti_ctx_error(st->ctx, TI_ERR_NOMEM, "%s: out of memory", path);
    return ti_write_file_atomic(st->ctx, path, data, len);
}

/* Per-population point sets of one panel (x = eps, y = dense margin). */
typedef struct panel_data {
    double *x[TI_POP_COUNT], *y[TI_POP_COUNT];
    size_t n[TI_POP_COUNT];
    ti_plot_series series[TI_POP_COUNT];
    char title[160];
} panel_data;

static const uint32_t pop_rgb[TI_POP_COUNT] = {0x7f7f7f, 0x1f77b4, 0xd62728, 0x2ca02c};
static const ti_marker pop_marker[TI_POP_COUNT] = {TI_MARKER_CROSS, TI_MARKER_SQUARE,
                                                   TI_MARKER_TRIANGLE, TI_MARKER_CIRCLE};
/* drawing order: the big population first, the one the paper is about last (on top) */
static const ti_population draw_order[TI_POP_COUNT] = {TI_POP_11, TI_POP_00, TI_POP_01,
                                                       TI_POP_10};

static int fill_panel(const study_entry *e, panel_data *p)
{
    int n = e->dense_s->n;
    for (int k = 0; k < TI_POP_COUNT; k++) {
        p->x[k] = malloc((size_t)n * sizeof(double) + 1);
        p->y[k] = malloc((size_t)n * sizeof(double) + 1);
        if (!p->x[k] || !p->y[k])
            return -1;
    }
    for (int i = 0; i < n; i++) {
        int k = 2 * e->dense_s->right[i] + e->pruned_s->right[i];
        p->x[k][p->n[k]] = e->dense_s->eps[i];
        p->y[k][p->n[k]++] = e->dense_s->margin[i];
    }
    for (int j = 0; j < TI_POP_COUNT; j++) {
        ti_population k = draw_order[j];
        p->series[j] = (ti_plot_series){.label = ti_population_label(k), .x = p->x[k],
                                        .y = p->y[k], .n = p->n[k], .rgb = pop_rgb[k],
                                        .marker = pop_marker[k]};
    }
    snprintf(p->title, sizeof p->title, "%s %g%% (%s)", e->pruned->method,
             100 * e->pruned->sparsity, e->pruned->network);
    return 0;
}

static ti_status write_figure(study *st, const study_entry *e, int n)
{
    panel_data *pd = calloc((size_t)n, sizeof *pd);
    ti_plot_panel *panels = calloc((size_t)n, sizeof *panels);
    ti_status s = pd && panels ? TI_OK : ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
    char xlabel[96];
    snprintf(xlabel, sizeof xlabel, "epsilon* (FMN %s distance to the dense boundary)",
             st->cfg->fmn.norm);
    for (int i = 0; i < n && s == TI_OK; i++) {
        if (fill_panel(&e[i], &pd[i]) != 0)
            s = ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
        panels[i] = (ti_plot_panel){.title = pd[i].title, .xlabel = xlabel,
                                    .ylabel = "dense margin (true - best other logit)",
                                    .series = pd[i].series, .nseries = TI_POP_COUNT};
    }
    int cols = n < 3 ? n : 3;
    ti_plot_figure fig = {panels, n, cols, 520, 380};
    if (s == TI_OK) {
        unsigned char *png = NULL;
        size_t len = 0;
        int rc = ti_plot_png(&fig, &png, &len);
        s = write_bytes(st, "figure2.png", png, len, rc);
        free(png);
    }
    if (s == TI_OK) {
        char *svg = NULL;
        size_t len = 0;
        int rc = ti_plot_svg(&fig, &svg, &len);
        s = write_bytes(st, "figure2.svg", svg, len, rc);
        free(svg);
    }
    for (int i = 0; pd && i < n; i++)
        for (int k = 0; k < TI_POP_COUNT; k++) {
            free(pd[i].x[k]);
            free(pd[i].y[k]);
        }
    free(pd);
    free(panels);
    return s;
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

static ti_status write_report_md(study *st, const study_model *dense, int ndense, int n,
                                 const char *md1,
                                 const char *md2, const char *const *names,
                                 const ti_study_row2 *r2, const char *config_json)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/report.md", st->out);
    ti_afile f;
    ti_status s = ti_afile_open(st->ctx, &f, path);
    if (s != TI_OK)
        return s;
    const study_config *c = st->cfg;
    fprintf(f.fp, "# thinice study: %s\n\n", c->name);
    fprintf(f.fp, "Samples on thin ice (Piras et al. 2023), reproduced with thinice %s on %s "
                  "(%d training and %d test images).\n\n",
            TI_VERSION, st->test->name, st->train->N, st->test->N);
    fprintf(f.fp, "## Dense models\n\n| network | clean %% | PGD-%d %% | AutoAttack %% |\n"
                  "|---|---:|---:|---:|\n", c->attack.pgd_steps);
    for (int i = 0; i < ndense; i++)
        fprintf(f.fp, "| %s | %.2f | %.2f | %.2f |\n", dense[i].network, 100 * dense[i].clean,
                100 * dense[i].pgd, 100 * dense[i].aa_robust);
    fprintf(f.fp, "\n## Table 1: robustness as reported and under AutoAttack\n\n"
                  "Clean and PGD-%d accuracy are the methods' own evaluation; AutoAttack "
                  "\"%s\" at L-inf eps %g; both on the first %d test images.\n\n%s\n",
            c->attack.pgd_steps, c->attack.version, c->eps, c->attack.count, md1);
    fprintf(f.fp, "## Table 2: populations and distance to the dense boundary\n\n"
                  "Populations by (dense right, pruned right) on the first %d test images; "
                  "AUC = P(eps of a sample of the first population < eps of one of the "
                  "second), with the DeLong 95%% interval and the two-sided Mann-Whitney U "
                  "p-value. eps: FMN %s, %d steps, towards the dense model's predicted "
                  "label.\n\n%s\n",
            st->test->N, c->fmn.norm, c->fmn.steps, md2);
    fprintf(f.fp, "## Figure 2\n\n![dense margin against distance to the dense "
                  "boundary](figure2.png)\n\n([SVG](figure2.svg))\n\n## Findings\n\n");
    for (int i = 0; i < n; i++)
        finding(f.fp, names[i], &r2[i]);
    fprintf(f.fp, "\n## Files\n\n- `table1.md`, `table1.csv`, `table2.md`, `table2.csv`, "
                  "`figure2.png`, `figure2.svg`\n- `models/`: every checkpoint (safetensors, "
                  "masks included); `samples/`: per-sample AutoAttack and FMN results; "
                  "`steps/`: the cache of finished steps\n\n## Configuration\n\n```json\n%s\n"
                  "```\n",
            config_json);
    return ti_afile_commit(st->ctx, &f);
}

ti_status study_write_report(study *st, const study_model *dense, int ndense,
                             const study_entry *e, int n, const char *config_json)
{
    ti_study_row1 *t1 = calloc((size_t)n + 1, sizeof *t1);
    ti_study_row2 *t2 = calloc((size_t)n + 1, sizeof *t2);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    ti_status s = t1 && t2 && names ? TI_OK : ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && s == TI_OK; i++) {
        const study_model *p = e[i].pruned;
        snprintf(t1[i].method, sizeof t1[i].method, "%s", p->method);
        snprintf(t1[i].network, sizeof t1[i].network, "%s", p->network);
        t1[i].sparsity = p->sparsity;
        t1[i].clean = p->clean;
        t1[i].pgd = p->pgd;
        t1[i].aa = p->aa_robust;
        names[i] = p->tag;
        ti_stats_err err = {0};
        if (ti_study_table2_row(e[i].dense_s->right, e[i].pruned_s->right, e[i].dense_s->eps,
                                (size_t)e[i].dense_s->n, &t2[i], &err) != TI_STATS_OK)
            s = ti_ctx_error(st->ctx, TI_ERR_ARG, "table 2 (%s): %s", p->tag, err.msg);
    }
    char *md1 = NULL, *md2 = NULL;
    if (s == TI_OK) {
        md1 = ti_study_table1_md(t1, n);
        md2 = ti_study_table2_md(names, t2, n);
        char *csv1 = ti_study_table1_csv(t1, n), *csv2 = ti_study_table2_csv(names, t2, n);
        s = write_text(st, "table1.md", md1);
        if (s == TI_OK)
            s = write_text(st, "table1.csv", csv1);
        if (s == TI_OK)
            s = write_text(st, "table2.md", md2);
        if (s == TI_OK)
            s = write_text(st, "table2.csv", csv2);
        free(csv1);
        free(csv2);
    }
    if (s == TI_OK && n > 0)
        s = write_figure(st, e, n);
    if (s == TI_OK)
        s = write_report_md(st, dense, ndense, n, md1, md2, names, t2, config_json);
    free(md1);
    free(md2);
    free(t1);
    free(t2);
    free(names);
    return s;
}
