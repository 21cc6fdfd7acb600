/* The layout of a figure, shared by the SVG and PNG writers: panels on a grid, data ranges,
 * "nice" ticks (steps of 1, 2 or 5 times a power of ten), grid, legend and labels, drawn
 * through the canvas interface of plot_internal.h (the data inside the axes: plot_series.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plot_internal.h"

#define MARGIN_L 64 /* room for y tick labels and the y label */
#define MARGIN_R 14
#define MARGIN_T 30 /* the title */
#define MARGIN_B 46 /* x tick labels and the x label */
#define LEGEND_ROW 18

int ti_plot_ticks(double lo, double hi, int max_ticks, double *ticks)
{
    if (!(hi > lo) || max_ticks < 2)
        return 0;
    /* the smallest step of 1, 2 or 5 times a power of ten that needs at most max_ticks */
    double mag = pow(10.0, floor(log10((hi - lo) / (max_ticks - 1))));
    static const double mult[4] = {1, 2, 5, 10};
    double step = 10 * mag;
    for (int i = 0; i < 4; i++)
        if (floor((hi - lo) / (mult[i] * mag)) + 1 <= max_ticks) {
            step = mult[i] * mag;
            break;
        }
    int n = 0;
    for (double t = ceil(lo / step) * step; t <= hi + step * 1e-9 && n < max_ticks; t += step)
        ticks[n++] = fabs(t) < step * 1e-9 ? 0.0 : t; /* print 0, never -1e-17 */
    return n;
}

static int legend_rows(const ti_plot_figure *f);

static void panel_dims(const ti_plot_figure *f, int *cols, int *rows, int *pw, int *ph)
{
    *cols = f->cols > 0 ? f->cols : f->npanels;
    *rows = (f->npanels + *cols - 1) / *cols;
    *pw = f->panel_w > 0 ? f->panel_w : 460;
    *ph = (f->panel_h > 0 ? f->panel_h : 360) + legend_rows(f) * LEGEND_ROW;
}

void ti__plot_size(const ti_plot_figure *f, int *W, int *H)
{
    int cols, rows, pw, ph;
    panel_dims(f, &cols, &rows, &pw, &ph);
    *W = cols * pw;
    *H = rows * ph;
}

/* Range of a panel's axis: the fixed one if given, else the finite data (points and, on x,
 * reference lines) padded by 5%, never empty. */
static void data_range(const ti_plot_panel *p, int axis, double *lo, double *hi)
{
    double fmin_ = axis ? p->ymin : p->xmin, fmax_ = axis ? p->ymax : p->xmax;
    if (fmin_ < fmax_) {
        *lo = fmin_;
        *hi = fmax_;
        return;
    }
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int s = 0; s < p->nseries; s++)
        for (size_t i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            double v = axis ? y : x;
            if (!isfinite(x) || !isfinite(y))
                continue;
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
        }
    for (int i = 0; !axis && i < p->nvlines; i++)
        if (isfinite(p->vlines[i].x)) {
            *lo = fmin(*lo, p->vlines[i].x);
            *hi = fmax(*hi, p->vlines[i].x);
        }
    if (!isfinite(*lo)) {
        *lo = 0;
        *hi = 1;
    }
    if (*hi - *lo < 1e-12) {
        double d = fabs(*lo) > 0 ? fabs(*lo) * 0.5 : 0.5;
        *lo -= d;
        *hi += d;
    }
    double pad = 0.05 * (*hi - *lo);
    *lo -= pad;
    *hi += pad;
}

static void format_tick(char *buf, size_t len, double v, double step)
{
    int dec = step > 0 ? (int)ceil(-log10(step) - 1e-9) : 0;
    if (fabs(v) >= 1e5 || dec > 6)
        snprintf(buf, len, "%.3g", v);
    else
        snprintf(buf, len, "%.*f", dec > 0 ? dec : 0, v);
}

static void draw_ticks(const ti__axes *a, const ti__canvas *c)
{
    double t[16];
    char buf[32];
    int n = ti_plot_ticks(a->xlo, a->xhi, 7, t);
    double step = n > 1 ? t[1] - t[0] : 1;
    for (int i = 0; i < n; i++) {
        double x = ti__px(a, t[i]);
        c->line(c->self, x, a->ay, x, a->ay + a->ah, 0xe4e4e4);
        c->line(c->self, x, a->ay + a->ah, x, a->ay + a->ah + 4, 0x333333);
        format_tick(buf, sizeof buf, t[i], step);
        c->text(c->self, x, a->ay + a->ah + 6, buf, TI__CENTER, 0);
    }
    n = ti_plot_ticks(a->ylo, a->yhi, 7, t);
    step = n > 1 ? t[1] - t[0] : 1;
    for (int i = 0; i < n; i++) {
        double y = ti__py(a, t[i]);
        c->line(c->self, a->ax, y, a->ax + a->aw, y, t[i] == 0.0 ? 0x9a9a9a : 0xe4e4e4);
        c->line(c->self, a->ax - 4, y, a->ax, y, 0x333333);
        format_tick(buf, sizeof buf, t[i], step);
        c->text(c->self, a->ax - 6, y - ti__font_h / 2.0, buf, TI__RIGHT, 0);
    }
}

/* The legend sits under the x label, two entries per row, so it never hides points. */

/* A series' legend text: "label (n)" for points (n counts the points, drawn or not),
 * "label" for lines. */
static int legend_text(const ti_plot_series *se, char *buf, size_t len)
{
    if (se->style == TI_PLOT_LINE || se->style == TI_PLOT_STEPS)
        return snprintf(buf, len, "%s", se->label);
    return snprintf(buf, len, "%s (%zu)", se->label, se->n);
}

/* Legend columns: two when the longest entry fits in half a panel, else one. */
static int legend_cols(const ti_plot_figure *f, int pw)
{
    char buf[160];
    size_t widest = 0;
    for (int i = 0; i < f->npanels; i++)
        for (int s = 0; s < f->panels[i].nseries; s++) {
            const ti_plot_series *se = &f->panels[i].series[s];
            if (!se->label)
                continue;
            size_t n = (size_t)legend_text(se, buf, sizeof buf);
            widest = n > widest ? n : widest;
        }
    return (double)widest * ti__font_w + 24 <= (pw - 16) / 2.0 ? 2 : 1;
}

static int legend_entries(const ti_plot_panel *p)
{
    int n = 0;
    for (int s = 0; s < p->nseries; s++)
        n += p->series[s].label != NULL;
    return n;
}

static int legend_rows(const ti_plot_figure *f)
{
    int most = 0, cols = legend_cols(f, f->panel_w > 0 ? f->panel_w : 460);
    for (int i = 0; i < f->npanels; i++) {
        int n = legend_entries(&f->panels[i]);
        most = n > most ? n : most;
    }
    return (most + cols - 1) / cols;
}

static void draw_legend(const ti_plot_panel *p, double x0, double y0, double w, int cols,
                        const ti__canvas *c)
{
    char buf[160];
    int k = 0;
    for (int s = 0; s < p->nseries; s++) {
        const ti_plot_series *se = &p->series[s];
        if (!se->label)
            continue;
        double x = x0 + (k % cols) * (w / cols), y = y0 + (k / cols) * LEGEND_ROW;
        k++;
        ti__plot_legend_sample(se, x, y, c);
        legend_text(se, buf, sizeof buf);
        c->text(c->self, x + 14, y, buf, TI__LEFT, 0);
    }
}

void ti__plot_axes(const ti_plot_figure *f, int i, ti__axes *a)
{
    int cols, rows, pw, ph;
    panel_dims(f, &cols, &rows, &pw, &ph);
    double x0 = (double)(i % cols) * pw, y0 = (double)(i / cols) * ph;
    *a = (ti__axes){.ax = x0 + MARGIN_L, .ay = y0 + MARGIN_T, .aw = pw - MARGIN_L - MARGIN_R,
                    .ah = ph - MARGIN_T - MARGIN_B - legend_rows(f) * LEGEND_ROW};
    data_range(&f->panels[i], 0, &a->xlo, &a->xhi);
    data_range(&f->panels[i], 1, &a->ylo, &a->yhi);
}

/* Panel p whose top-left corner is (x0, y0), pw pixels wide, with axes a. */
static void draw_panel(const ti_plot_panel *p, double x0, double y0, int pw, const ti__axes *a,
                       int lcols, const ti__canvas *c)
{
    draw_ticks(a, c);
    ti__plot_series(p, a, c);
    c->rect(c->self, a->ax, a->ay, a->aw, a->ah, 0x333333);
    draw_legend(p, x0 + 8, a->ay + a->ah + MARGIN_B - 4, pw - 16, lcols, c);
    if (p->title)
        c->text(c->self, a->ax + a->aw / 2, y0 + 8, p->title, TI__CENTER, 0);
    if (p->xlabel)
        c->text(c->self, a->ax + a->aw / 2, a->ay + a->ah + 8 + ti__font_h, p->xlabel,
                TI__CENTER, 0);
    if (p->ylabel)
        c->text(c->self, x0 + 6, a->ay + a->ah / 2, p->ylabel, TI__CENTER, 1);
}

void ti__plot_draw(const ti_plot_figure *f, const ti__canvas *c)
{
    int cols, rows, pw, ph;
    panel_dims(f, &cols, &rows, &pw, &ph);
    for (int i = 0; i < f->npanels; i++) {
        ti__axes a;
        ti__plot_axes(f, i, &a);
        draw_panel(&f->panels[i], (double)(i % cols) * pw, (double)(i / cols) * ph, pw, &a,
                   legend_cols(f, pw), c);
    }
}
