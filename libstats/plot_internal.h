/* What the plot files share: the drawing back-end interface (SVG and PNG implement it), the
 * axes of a panel, the layout pass that drives the back-end, the drawing of data series, and
 * the bitmap font. */
#ifndef THINICE_PLOT_INTERNAL_H
#define THINICE_PLOT_INTERNAL_H

#include "thinice/plot.h"

/* Text anchors */
enum { TI__LEFT = 0, TI__CENTER = 1, TI__RIGHT = 2 };

/* A drawing surface in pixel coordinates (origin top left, y down). */
typedef struct ti__canvas {
    void *self;
    /* a 1-pixel line (grid, ticks, frame) */
    void (*line)(void *self, double x0, double y0, double x1, double y1, uint32_t rgb);
    void (*rect)(void *self, double x, double y, double w, double h, uint32_t stroke);
    void (*marker)(void *self, double x, double y, ti_marker m, uint32_t rgb);
    /* text whose baseline box starts at (x, y) top; vertical: rotated 90 degrees
     * counter-clockwise around (x, y) */
    void (*text)(void *self, double x, double y, const char *s, int anchor, int vertical);
    /* A stroked polyline of the given width (anti-aliased, round joins), solid or dashed:
     * path_begin sets the pen, path_to moves to (x, y) (draw = 0) or draws a straight
     * segment there from the current point (draw = 1), path_end finishes the stroke. */
    void (*path_begin)(void *self, uint32_t rgb, double width, int dashed);
    void (*path_to)(void *self, double x, double y, int draw);
    void (*path_end)(void *self);
} ti__canvas;

/* A panel's plot area in pixels and the data range it shows. */
typedef struct ti__axes {
    double ax, ay, aw, ah;     /* plot area in pixels */
    double xlo, xhi, ylo, yhi; /* data range */
} ti__axes;

static inline double ti__px(const ti__axes *a, double x)
{
    return a->ax + (x - a->xlo) / (a->xhi - a->xlo) * a->aw;
}

static inline double ti__py(const ti__axes *a, double y)
{
    return a->ay + a->ah - (y - a->ylo) / (a->yhi - a->ylo) * a->ah;
}

/* Size of the whole figure in pixels. */
void ti__plot_size(const ti_plot_figure *f, int *W, int *H);
/* The axes of panel i of f: where its plot area lies and the data range it shows. */
void ti__plot_axes(const ti_plot_figure *f, int i, ti__axes *a);
/* Draws every panel of f on the canvas. */
void ti__plot_draw(const ti_plot_figure *f, const ti__canvas *c);

/* Draws a panel's reference lines and series inside its axes (plot_series.c). */
void ti__plot_series(const ti_plot_panel *p, const ti__axes *a, const ti__canvas *c);
/* The legend's sample of a series, left of its text at (x, y) (top of the text box): its
 * marker, or a short stretch of its line. */
void ti__plot_legend_sample(const ti_plot_series *s, double x, double y, const ti__canvas *c);

#define TI__MARKER_R 3.0 /* marker radius in pixels */
#define TI__LINE_W 2.0   /* width of the lines of line and step series */

extern const int ti__font_w, ti__font_h;
extern const unsigned char ti__font[95][105];

#endif
