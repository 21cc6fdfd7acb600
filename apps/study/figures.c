/* thinice-study's figures (report.h): Figure 2 (dense margin against the dense model's
 * boundary distance, one colour and marker per population, one panel per pruned model) and,
 * per network, the security curves (robust accuracy at every eps from the FMN distances, with
 * AutoAttack's robust accuracy at the study's eps) as PNG, SVG and CSV, and each model's
 * per-sample distances as CSV. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "thinice/fileio.h"
#include "thinice/plot.h"
#include "thinice/study.h"

ti_status study_write_bytes(study *st, const char *name, const void *data, size_t len, int rc)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", st->out, name);
    if (rc != 0 || !data)
        return ti_ctx_error(st->ctx, TI_ERR_NOMEM, "%s: out of memory", path);
    if (!study_writer(st))
        return TI_OK;
    return ti_write_file_atomic(st->ctx, path, data, len);
}

/* ---- Figure 2 ------------------------------------------------------------------------------ */

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

ti_status study_write_figure2(study *st, const study_entry *e, int n)
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
    ti_plot_figure fig = {panels, n, n < 3 ? n : 3, 520, 380};
    unsigned char *png = NULL;
    char *svg = NULL;
    size_t len = 0;
    if (s == TI_OK)
        s = study_write_bytes(st, "figure2.png", png, len, ti_plot_png(&fig, &png, &len));
    if (s == TI_OK)
        s = study_write_bytes(st, "figure2.svg", svg, len, ti_plot_svg(&fig, &svg, &len));
    free(png);
    free(svg);
    for (int i = 0; pd && i < n; i++)
        for (int k = 0; k < TI_POP_COUNT; k++) {
            free(pd[i].x[k]);
            free(pd[i].y[k]);
        }
    free(pd);
    free(panels);
    return s;
}

/* ---- security curves ----------------------------------------------------------------------- */

double *study_curve_distances(const study_samples *s)
{
    double *d = malloc((size_t)(s->nfmn > 0 ? s->nfmn : 1) * sizeof *d);
    for (int i = 0; d && i < s->nfmn; i++)
        d[i] = s->right[i] ? s->eps[i] : 0.0; /* misclassified: broken at any budget */
    return d;
}

double study_curve_eps_max(const study *st)
{
    return st->cfg->curves.eps_max > 0 ? st->cfg->curves.eps_max : 4.0 * st->cfg->eps;
}

/* samples/<tag>-distances.csv: index,label,prediction,distance (0: misclassified, inf: no
 * adversarial example found), keyed by the sample's index in the test set. */
static ti_status write_distances(study *st, const study_model *m, const study_samples *s,
                                 const double *d)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/samples/%s-distances.csv", st->out, m->tag);
    ti_afile f;
    ti_status r = ti_afile_open(st->ctx, &f, path);
    if (r != TI_OK)
        return r;
    fprintf(f.fp, "index,label,prediction,distance\n");
    for (int i = 0; i < s->nfmn; i++)
        fprintf(f.fp, "%d,%d,%d,%.9g\n", i, st->test->y[i], s->pred[i], d[i]);
    return ti_afile_commit(st->ctx, &f);
}

/* securitycurves-<network>.csv: the robust accuracy of every model on a grid of 101 budgets
 * from 0 to eps_max. */
static ti_status write_curves_csv(study *st, const study_net *net, double *const *d,
                                  const int *nd, double eps_max)
{
    enum { GRID = 101 };
    double eps[GRID], acc[STUDY_MAX_PRUNED + 1][GRID];
    for (int j = 0; j < GRID; j++)
        eps[j] = eps_max * j / (GRID - 1);
    ti_stats_err err = {0};
    for (int m = 0; m <= net->np; m++)
        if (ti_stats_robust_accuracy(d[m], (size_t)nd[m], eps, GRID, acc[m], &err))
            return ti_ctx_error(st->ctx, TI_ERR_ARG, "security curve: %s", err.msg);
    char path[1400];
    snprintf(path, sizeof path, "%s/securitycurves-%s.csv", st->out, net->dense.network);
    ti_afile f;
    ti_status r = ti_afile_open(st->ctx, &f, path);
    if (r != TI_OK)
        return r;
    fprintf(f.fp, "eps");
    for (int m = 0; m <= net->np; m++)
        fprintf(f.fp, ",%s", m ? net->pruned[m - 1].tag : net->dense.tag);
    for (int j = 0; j < GRID; j++) {
        fprintf(f.fp, "\n%.9g", eps[j]);
        for (int m = 0; m <= net->np; m++)
            fprintf(f.fp, ",%.6f", acc[m][j]);
    }
    fputc('\n', f.fp);
    return ti_afile_commit(st->ctx, &f);
}

static const uint32_t curve_rgb[10] = {0x000000, 0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e,
                                       0x9467bd, 0x8c564b, 0xe377c2, 0x17becf, 0xbcbd22};

/* securitycurves-<network>.{png,svg}: the dense model and its pruned models. */
static ti_status write_curves_figure(study *st, const study_net *net, double *const *d,
                                     const int *nd, double eps_max)
{
    ti_plot_security_curve c[STUDY_MAX_PRUNED + 1];
    char labels[STUDY_MAX_PRUNED + 1][64], title[96], xlabel[64], name[128];
    for (int m = 0; m <= net->np; m++) {
        const study_model *sm = m ? &net->pruned[m - 1] : &net->dense;
        if (m)
            snprintf(labels[m], sizeof labels[m], "%s %g%%", sm->method, 100 * sm->sparsity);
        else
            snprintf(labels[m], sizeof labels[m], "dense");
        c[m] = (ti_plot_security_curve){labels[m], d[m], (size_t)nd[m], sm->aa_robust,
                                        curve_rgb[m % 10]};
    }
    snprintf(title, sizeof title, "security curves: %s", net->dense.network);
    snprintf(xlabel, sizeof xlabel, "eps (FMN %s distance)", st->cfg->fmn.norm);
    ti_plot_security fig = {title, xlabel, c, net->np + 1, st->cfg->eps, eps_max, 0, 0};
    ti_stats_err err = {0};
    unsigned char *png = NULL;
    char *svg = NULL;
    size_t len = 0;
    ti_status s = TI_OK;
    if (ti_plot_security_png(&fig, &png, &len, &err) || !png)
        s = ti_ctx_error(st->ctx, TI_ERR_ARG, "security curves: %s", err.msg);
    snprintf(name, sizeof name, "securitycurves-%s.png", net->dense.network);
    if (s == TI_OK)
        s = study_write_bytes(st, name, png, len, 0);
    if (s == TI_OK && (ti_plot_security_svg(&fig, &svg, &len, &err) || !svg))
        s = ti_ctx_error(st->ctx, TI_ERR_ARG, "security curves: %s", err.msg);
    snprintf(name, sizeof name, "securitycurves-%s.svg", net->dense.network);
    if (s == TI_OK)
        s = study_write_bytes(st, name, svg, len, 0);
    free(png);
    free(svg);
    return s;
}

ti_status study_write_curves(study *st, const study_net *net, const study_net_samples *smp)
{
    double *d[STUDY_MAX_PRUNED + 1] = {0};
    int nd[STUDY_MAX_PRUNED + 1];
    ti_status s = TI_OK;
    for (int m = 0; m <= net->np && s == TI_OK; m++) {
        const study_samples *sm = m ? &smp->pruned[m - 1] : &smp->dense;
        nd[m] = sm->nfmn;
        if (!(d[m] = study_curve_distances(sm)))
            s = ti_ctx_error(st->ctx, TI_ERR_NOMEM, "out of memory");
        else
            s = write_distances(st, m ? &net->pruned[m - 1] : &net->dense, sm, d[m]);
    }
    double eps_max = study_curve_eps_max(st);
    if (s == TI_OK)
        s = write_curves_csv(st, net, d, nd, eps_max);
    if (s == TI_OK)
        s = write_curves_figure(st, net, d, nd, eps_max);
    for (int m = 0; m <= net->np; m++)
        free(d[m]);
    return s;
}
