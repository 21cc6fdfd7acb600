/* Drawing a panel's data inside its axes, shared by the SVG and PNG writers: markers for
 * scatter series, polylines for line and step series (each segment clipped to the plot area
 * by the Liang-Barsky algorithm, 1984), and dashed vertical reference lines with labels. */
#include <math.h>
#include <string.h>

#include "plot_internal.h"

/* Pixel coordinates stay finite however far outside the axes a value lies (a data value of
 * 1e300 on a 0..1 axis); clamping keeps axis-parallel segments, the steps, exact. */
#define FAR 1e6

static double clampf(double v)
{
    return fmax(-FAR, fmin(FAR, v));
}

/* Clips the segment p0-p1 to the plot area of a; 0 if nothing of it is inside. */
static int clip(const ti__axes *a, double *x0, double *y0, double *x1, double *y1)
{
    double dx = *x1 - *x0, dy = *y1 - *y0, t0 = 0.0, t1 = 1.0;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {*x0 - a->ax, a->ax + a->aw - *x0, *y0 - a->ay, a->ay + a->ah - *y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) { /* parallel to this edge: inside or out as a whole */
            if (q[i] < 0)
                return 0;
            continue;
        }
        double t = q[i] / p[i];
        if (p[i] < 0)
            t0 = fmax(t0, t);
        else
            t1 = fmin(t1, t);
        if (t0 > t1)
            return 0;
    }
    double sx = *x0, sy = *y0;
    *x0 = sx + t0 * dx;
    *y0 = sy + t0 * dy;
    *x1 = sx + t1 * dx;
    *y1 = sy + t1 * dy;
    return 1;
}

/* A stroke made of clipped segments: a segment that starts where the previous one ended
 * continues the line (so joins are joins), any other starts with a move. */
typedef struct pen {
    const ti__canvas *c;
    const ti__axes *a;
    double x, y;
    int down;
} pen;

static void pen_segment(pen *p, double x0, double y0, double x1, double y1)
{
    x0 = clampf(ti__px(p->a, x0));
    y0 = clampf(ti__py(p->a, y0));
    x1 = clampf(ti__px(p->a, x1));
    y1 = clampf(ti__py(p->a, y1));
    if (!clip(p->a, &x0, &y0, &x1, &y1))
        return;
    if (!p->down || x0 != p->x || y0 != p->y)
        p->c->path_to(p->c->self, x0, y0, 0);
    p->c->path_to(p->c->self, x1, y1, 1);
    p->x = x1;
    p->y = y1;
    p->down = 1;
}

static int finite_pt(const ti_plot_series *s, size_t i)
{
    return isfinite(s->x[i]) && isfinite(s->y[i]);
}

static void draw_line(const ti_plot_series *s, pen *p)
{
    for (size_t i = 1; i < s->n; i++)
        if (finite_pt(s, i - 1) && finite_pt(s, i))
            pen_segment(p, s->x[i - 1], s->y[i - 1], s->x[i], s->y[i]);
}

/* y[k] from x[k] to the next finite point's x, a vertical jump there, and the last value on
 * to the right edge. */
static void draw_steps(const ti_plot_series *s, pen *p)
{
    size_t prev = s->n; /* none yet */
    for (size_t i = 0; i < s->n; i++) {
        if (!finite_pt(s, i))
            continue;
        if (prev < s->n) {
            pen_segment(p, s->x[prev], s->y[prev], s->x[i], s->y[prev]);
            pen_segment(p, s->x[i], s->y[prev], s->x[i], s->y[i]);
        }
        prev = i;
    }
    if (prev < s->n && s->x[prev] < p->a->xhi)
        pen_segment(p, s->x[prev], s->y[prev], p->a->xhi, s->y[prev]);
}

static void draw_vline(const ti_plot_vline *v, const ti__axes *a, const ti__canvas *c)
{
    if (!(v->x >= a->xlo && v->x <= a->xhi))
        return;
    double x = ti__px(a, v->x);
    c->path_begin(c->self, v->rgb, 1.5, 1);
    c->path_to(c->self, x, a->ay, 0);
    c->path_to(c->self, x, a->ay + a->ah, 1);
    c->path_end(c->self);
    if (!v->label)
        return;
    /* right of the line, or left of it when the text would leave the plot area */
    double w = (double)strlen(v->label) * ti__font_w;
    int right = x + 4 + w <= a->ax + a->aw;
    c->text(c->self, right ? x + 4 : x - 4, a->ay + 4, v->label, right ? TI__LEFT : TI__RIGHT,
            0);
}

void ti__plot_series(const ti_plot_panel *p, const ti__axes *a, const ti__canvas *c)
{
    for (int i = 0; i < p->nvlines; i++)
        draw_vline(&p->vlines[i], a, c);
    for (int k = 0; k < p->nseries; k++) {
        const ti_plot_series *s = &p->series[k];
        if (s->style == TI_PLOT_LINE || s->style == TI_PLOT_STEPS) {
            pen pn = {c, a, 0, 0, 0};
            c->path_begin(c->self, s->rgb, TI__LINE_W, 0);
            if (s->style == TI_PLOT_LINE)
                draw_line(s, &pn);
            else
                draw_steps(s, &pn);
            c->path_end(c->self);
            continue;
        }
        for (size_t i = 0; i < s->n; i++)
            if (finite_pt(s, i))
                c->marker(c->self, ti__px(a, s->x[i]), ti__py(a, s->y[i]), s->marker, s->rgb);
    }
}

void ti__plot_legend_sample(const ti_plot_series *s, double x, double y, const ti__canvas *c)
{
    double ym = y + ti__font_h / 2.0;
    if (s->style == TI_PLOT_LINE || s->style == TI_PLOT_STEPS) {
        c->path_begin(c->self, s->rgb, TI__LINE_W, 0);
        c->path_to(c->self, x - 1, ym, 0);
        c->path_to(c->self, x + 11, ym, 1);
        c->path_end(c->self);
    } else {
        c->marker(c->self, x + 5, ym, s->marker, s->rgb);
    }
}
