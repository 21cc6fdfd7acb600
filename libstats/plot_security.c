/* Security-curve figures: one step curve of robust accuracy against the budget per model
 * (ti_stats_security_curve), the study's budget as a dashed line and AutoAttack's robust
 * accuracy at that budget as a square per model, laid out by the generic figure writers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "thinice/plot.h"

#define LABEL_LEN 96

/* What a figure owns while it is drawn: per curve its breakpoints, legend text and the
 * AutoAttack point; two series per curve (the steps, then the point). */
typedef struct sec_fig {
    double *xy;             /* per curve c: eps at xy[2 c off], acc at xy[(2 c + 1) off] */
    char (*labels)[LABEL_LEN];
    double *aa;             /* (x, y) per curve */
    ti_plot_series *series;
    ti_plot_vline vline;
    char vlabel[48];
    ti_plot_panel panel;
    ti_plot_figure fig;
} sec_fig;

static void sec_free(sec_fig *f)
{
    free(f->xy);
    free(f->labels);
    free(f->aa);
    free(f->series);
}

static ti_stats_status sec_build(const ti_plot_security *s, sec_fig *f, ti_stats_err *err)
{
    if (!s || (s->ncurves > 0 && !s->curves))
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "security figure: NULL argument");
    if (s->ncurves <= 0)
        return ti_stats__fail(err, TI_STATS_ERR_EMPTY, "security figure: no curve");
    int nc = s->ncurves;
    size_t off = 0; /* the largest curve's n + 1 */
    for (int c = 0; c < nc; c++)
        off = s->curves[c].n + 1 > off ? s->curves[c].n + 1 : off;
    f->xy = malloc(2 * (size_t)nc * off * sizeof *f->xy);
    f->labels = malloc((size_t)nc * sizeof *f->labels);
    f->aa = malloc(2 * (size_t)nc * sizeof *f->aa);
    f->series = calloc(2 * (size_t)nc, sizeof *f->series);
    if (!f->xy || !f->labels || !f->aa || !f->series)
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "security figure: out of memory");
    double right = s->eps > 0 ? s->eps : 0.0;
    for (int c = 0; c < nc; c++) {
        const ti_plot_security_curve *cv = &s->curves[c];
        double *ex = f->xy + 2 * c * off, *ac = ex + off;
        size_t np;
        ti_stats_err e = {0};
        if (ti_stats_security_curve(cv->dist, cv->n, ex, ac, &np, &e))
            return ti_stats__fail(err, e.status, "security figure: curve %d ('%s'): %s", c,
                                  cv->label ? cv->label : "", e.msg);
        right = fmax(right, ex[np - 1]);
        int has_aa = s->eps > 0 && isfinite(cv->aa_acc);
        if (has_aa)
            snprintf(f->labels[c], LABEL_LEN, "%s (AutoAttack %.1f%%)",
                     cv->label ? cv->label : "", 100 * cv->aa_acc);
        else
            snprintf(f->labels[c], LABEL_LEN, "%s", cv->label ? cv->label : "");
        f->aa[2 * c] = has_aa ? s->eps : NAN;
        f->aa[2 * c + 1] = cv->aa_acc;
        f->series[c] = (ti_plot_series){.label = f->labels[c], .x = ex, .y = ac, .n = np,
                                        .rgb = cv->rgb, .style = TI_PLOT_STEPS};
        /* the squares after every curve, so that no curve hides one */
        f->series[nc + c] = (ti_plot_series){.x = &f->aa[2 * c], .y = &f->aa[2 * c + 1],
                                             .n = 1, .rgb = cv->rgb,
                                             .marker = TI_MARKER_SQUARE};
    }
    double xmax = s->eps_max > 0 ? s->eps_max : (right > 0 ? 1.05 * right : 1.0);
    int nv = s->eps > 0, any_aa = 0;
    for (int c = 0; c < nc; c++)
        any_aa |= isfinite(f->aa[2 * c]);
    if (nv) {
        snprintf(f->vlabel, sizeof f->vlabel, any_aa ? "eps = %.4g (squares: AutoAttack)"
                                                     : "eps = %.4g", s->eps);
        f->vline = (ti_plot_vline){.x = s->eps, .label = f->vlabel, .rgb = 0x555555};
    }
    /* y a little beyond [0, 1], so that curves at 0 % and 100 % stay off the frame */
    f->panel = (ti_plot_panel){.title = s->title,
                               .xlabel = s->xlabel ? s->xlabel : "perturbation budget eps",
                               .ylabel = "robust accuracy", .series = f->series,
                               .nseries = 2 * nc, .vlines = &f->vline, .nvlines = nv,
                               .xmin = 0.0, .xmax = xmax, .ymin = -0.02, .ymax = 1.02};
    f->fig = (ti_plot_figure){.panels = &f->panel, .npanels = 1, .cols = 1,
                              .panel_w = s->width > 0 ? s->width : 560,
                              .panel_h = s->height > 0 ? s->height : 400};
    return TI_STATS_OK;
}

ti_stats_status ti_plot_security_png(const ti_plot_security *s, unsigned char **out,
                                     size_t *len, ti_stats_err *err)
{
    sec_fig f = {0};
    ti_stats_status st = out && len ? sec_build(s, &f, err)
                                    : ti_stats__fail(err, TI_STATS_ERR_ARG,
                                                     "security figure: NULL argument");
    if (!st && ti_plot_png(&f.fig, out, len) != 0)
        st = ti_stats__fail(err, TI_STATS_ERR_NOMEM, "security figure: out of memory");
    sec_free(&f);
    return st;
}

ti_stats_status ti_plot_security_svg(const ti_plot_security *s, char **out, size_t *len,
                                     ti_stats_err *err)
{
    sec_fig f = {0};
    ti_stats_status st = out && len ? sec_build(s, &f, err)
                                    : ti_stats__fail(err, TI_STATS_ERR_ARG,
                                                     "security figure: NULL argument");
    if (!st && ti_plot_svg(&f.fig, out, len) != 0)
        st = ti_stats__fail(err, TI_STATS_ERR_NOMEM, "security figure: out of memory");
    sec_free(&f);
    return st;
}
