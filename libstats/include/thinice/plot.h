/* Figures as SVG and PNG, with no dependency beyond libm: scatter plots (the thin-ice study's
 * Figure 2: dense margin against distance to the boundary, one colour and marker per
 * population, one panel per pruned model) and line plots (security curves: robust accuracy
 * against the perturbation budget, one step curve per model, with reference lines). Both
 * writers render into memory; the caller writes the bytes (atomically, e.g. with libtensor's
 * ti_write_file_atomic). */
#ifndef THINICE_PLOT_H
#define THINICE_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "thinice/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ti_marker {
    TI_MARKER_CIRCLE = 0,
    TI_MARKER_SQUARE,
    TI_MARKER_TRIANGLE,
    TI_MARKER_CROSS,
    TI_MARKER_COUNT
} ti_marker;

/* How a series is drawn. */
typedef enum ti_plot_style {
    TI_PLOT_POINTS = 0, /* one marker per point (a scatter plot) */
    TI_PLOT_LINE,       /* consecutive points joined by straight lines; a non-finite point
                         * breaks the line */
    TI_PLOT_STEPS,      /* a step function: y[k] holds from x[k] to x[k + 1] (then a vertical
                         * jump), and y[n - 1] from x[n - 1] to the right edge of the axes, as
                         * ti_stats_security_curve returns it; x ascending */
    TI_PLOT_STYLE_COUNT
} ti_plot_style;

typedef struct ti_plot_series {
    const char *label;   /* legend text ("label (n)" for points, "label" for lines); NULL: no
                          * legend entry */
    const double *x, *y; /* n points; non-finite points are skipped (and counted in the legend) */
    size_t n;
    uint32_t rgb;        /* 0xRRGGBB */
    ti_marker marker;    /* for TI_PLOT_POINTS */
    ti_plot_style style; /* default (0): points */
} ti_plot_series;

/* A dashed vertical reference line across a panel, e.g. the budget eps of a study. */
typedef struct ti_plot_vline {
    double x;
    const char *label; /* written next to the top of the line; may be NULL */
    uint32_t rgb;
} ti_plot_vline;

/* The fields after nseries may be left zero: no reference lines, axis ranges from the data
 * (padded by 5%). A fixed range applies when its min < max. */
typedef struct ti_plot_panel {
    const char *title, *xlabel, *ylabel;
    const ti_plot_series *series;
    int nseries;
    const ti_plot_vline *vlines;
    int nvlines;
    double xmin, xmax, ymin, ymax;
} ti_plot_panel;

typedef struct ti_plot_figure {
    const ti_plot_panel *panels;
    int npanels;
    int cols;             /* panels per row (<= 0: all in one row) */
    int panel_w, panel_h; /* pixels per panel (<= 0: 460 x 360) */
} ti_plot_figure;

/* Renders the figure as SVG text into a malloc'd buffer (*out, *len; free with free()).
 * Returns 0, or -1 if memory ran out or the figure has no panel. */
int ti_plot_svg(const ti_plot_figure *f, char **out, size_t *len);
/* Renders the figure as a PNG (RGB, 8 bits, deflate with fixed Huffman codes) into a
 * malloc'd buffer. Returns 0 or -1 as above. */
int ti_plot_png(const ti_plot_figure *f, unsigned char **out, size_t *len);

/* "Nice" axis ticks covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, at most
 * max_ticks of them written to ticks[]; returns how many. */
int ti_plot_ticks(double lo, double hi, int max_ticks, double *ticks);

/* ---- security-curve figures -------------------------------------------------------------
 * Robust accuracy against the perturbation budget for several models on one axes (a dense
 * model and its pruned versions), each curve the exact step function of
 * ti_stats_security_curve, with a dashed line at the study's budget eps and a square on it at
 * each model's AutoAttack robust accuracy. */

typedef struct ti_plot_security_curve {
    const char *label;  /* legend text, e.g. "dense" or "HYDRA 90%"; the AutoAttack accuracy
                         * is appended when given: "dense (AutoAttack 47.3%)" */
    const double *dist; /* n per-sample minimal adversarial distances (0: misclassified clean,
                         * +inf: none found), as for ti_stats_security_curve */
    size_t n;
    double aa_acc;      /* AutoAttack's robust accuracy at eps, a fraction; NaN: none */
    uint32_t rgb;       /* 0xRRGGBB */
} ti_plot_security_curve;

typedef struct ti_plot_security {
    const char *title;  /* may be NULL */
    const char *xlabel; /* NULL: "perturbation budget eps" */
    const ti_plot_security_curve *curves;
    int ncurves;
    double eps;         /* the study's budget: the dashed line and the AutoAttack squares
                         * (<= 0: no line; the squares then need it and are left out) */
    double eps_max;     /* right end of the x axis (<= 0: the largest finite distance of any
                         * curve, and eps, plus 5%) */
    int width, height;  /* pixels (<= 0: 560 x 400, plus the legend) */
} ti_plot_security;

/* Renders the figure as PNG / SVG into a malloc'd buffer (free with free()). Errors: bad
 * distances as ti_stats_security_curve reports them (the message names the curve), no curve
 * (EMPTY), NOMEM. */
ti_stats_status ti_plot_security_png(const ti_plot_security *s, unsigned char **out,
                                     size_t *len, ti_stats_err *err);
ti_stats_status ti_plot_security_svg(const ti_plot_security *s, char **out, size_t *len,
                                     ti_stats_err *err);

#ifdef __cplusplus
}
#endif
#endif
