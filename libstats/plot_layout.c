/* The layout of a scatter figure, shared by the SVG and PNG writers: panels on a grid, data
 * ranges, "nice" ticks (steps of 1, 2 or 5 times a power of ten), grid, points, legend and
 * labels, drawn through the canvas interface of plot_internal.h. */
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

/* Finite data range of a panel, padded by 5%, never empty. */
static void data_range(const ti_plot_panel *p, int axis, double *lo, double *hi)
{
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

typedef struct axes {
    double ax, ay, aw, ah;         /* plot area in pixels */
    double xlo, xhi, ylo, yhi;     /* data range */
} axes;

static double px(const axes *a, double x)
{
    return a->ax + (x - a->xlo) / (a->xhi - a->xlo) * a->aw;
}

static double py(const axes *a, double y)
{
    return a->ay + a->ah - (y - a->ylo) / (a->yhi - a->ylo) * a->ah;
}

static void draw_ticks(const axes *a, const ti__canvas *c)
{
    double t[16];
    char buf[32];
    int n = ti_plot_ticks(a->xlo, a->xhi, 7, t);
    double step = n > 1 ? t[1] - t[0] : 1;
    for (int i = 0; i < n; i++) {
        double x = px(a, t[i]);
        c->line(c->self, x, a->ay, x, a->ay + a->ah, 0xe4e4e4);
        c->line(c->self, x, a->ay + a->ah, x, a->ay + a->ah + 4, 0x333333);
        format_tick(buf, sizeof buf, t[i], step);
        c->text(c->self, x, a->ay + a->ah + 6, buf, TI__CENTER, 0);
    }
    n = ti_plot_ticks(a->ylo, a->yhi, 7, t);
    step = n > 1 ? t[1] - t[0] : 1;
    for (int i = 0; i < n; i++) {
        double y = py(a, t[i]);
        c->line(c->self, a->ax, y, a->ax + a->aw, y, t[i] == 0.0 ? 0x9a9a9a : 0xe4e4e4);
        c->line(c->self, a->ax - 4, y, a->ax, y, 0x333333);
        format_tick(buf, sizeof buf, t[i], step);
        c->text(c->self, a->ax - 6, y - ti__font_h / 2.0, buf, TI__RIGHT, 0);
    }
}

static void draw_points(const ti_plot_panel *p, const axes *a, const ti__canvas *c)
{
    for (int s = 0; s < p->nseries; s++) {
        const ti_plot_series *se = &p->series[s];
        for (size_t i = 0; i < se->n; i++)
            if (isfinite(se->x[i]) && isfinite(se->y[i]))
                c->marker(c->self, px(a, se->x[i]), py(a, se->y[i]), se->marker, se->rgb);
    }
}

/* The legend sits under the x label, two entries per row, so it never hides points. */

/* Legend columns: two when the longest entry fits in half a panel, else one. */
static int legend_cols(const ti_plot_figure *f, int pw)
{
    char buf[160];
    size_t widest = 0;
    for (int i = 0; i < f->npanels; i++)
        for (int s = 0; s < f->panels[i].nseries; s++) {
            const ti_plot_series *se = &f->panels[i].series[s];
            size_t n = (size_t)snprintf(buf, sizeof buf, "%s (%zu)", se->label, se->n);
            widest = n > widest ? n : widest;
        }
    return (double)widest * ti__font_w + 24 <= (pw - 16) / 2.0 ? 2 : 1;
}

static int legend_rows(const ti_plot_figure *f)
{
    int most = 0, cols = legend_cols(f, f->panel_w > 0 ? f->panel_w : 460);
    for (int i = 0; i < f->npanels; i++)
        most = f->panels[i].nseries > most ? f->panels[i].nseries : most;
    return (most + cols - 1) / cols;
}

static void draw_legend(const ti_plot_panel *p, double x0, double y0, double w, int cols,
                        const ti__canvas *c)
{
    char buf[160];
    for (int s = 0; s < p->nseries; s++) {
        double x = x0 + (s % cols) * (w / cols), y = y0 + (s / cols) * LEGEND_ROW;
        c->marker(c->self, x + 5, y + ti__font_h / 2.0, p->series[s].marker, p->series[s].rgb);
        snprintf(buf, sizeof buf, "%s (%zu)", p->series[s].label, p->series[s].n);
        c->text(c->self, x + 14, y, buf, TI__LEFT, 0);
    }
}

static void draw_panel(const ti_plot_panel *p, double x0, double y0, int pw, int ph,
                       int lrows, int lcols, const ti__canvas *c)
{
    axes a = {.ax = x0 + MARGIN_L, .ay = y0 + MARGIN_T, .aw = pw - MARGIN_L - MARGIN_R,
              .ah = ph - MARGIN_T - MARGIN_B - lrows * LEGEND_ROW};
    data_range(p, 0, &a.xlo, &a.xhi);
    data_range(p, 1, &a.ylo, &a.yhi);
    draw_ticks(&a, c);
    draw_points(p, &a, c);
    c->rect(c->self, a.ax, a.ay, a.aw, a.ah, 0x333333);
    draw_legend(p, x0 + 8, a.ay + a.ah + MARGIN_B - 4, pw - 16, lcols, c);
    if (p->title)
        c->text(c->self, a.ax + a.aw / 2, y0 + 8, p->title, TI__CENTER, 0);
    if (p->xlabel)
        c->text(c->self, a.ax + a.aw / 2, a.ay + a.ah + 8 + ti__font_h, p->xlabel, TI__CENTER, 0);
    if (p->ylabel)
        c->text(c->self, x0 + 6, a.ay + a.ah / 2, p->ylabel, TI__CENTER, 1);
}

void ti__plot_draw(const ti_plot_figure *f, const ti__canvas *c)
{
    int cols, rows, pw, ph;
    panel_dims(f, &cols, &rows, &pw, &ph);
    for (int i = 0; i < f->npanels; i++)
        draw_panel(&f->panels[i], (double)(i % cols) * pw, (double)(i / cols) * ph, pw, ph,
                   legend_rows(f), legend_cols(f, pw), c);
}
