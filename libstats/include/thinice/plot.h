/* Scatter-plot figures as SVG and PNG, with no dependency beyond libm: the thin-ice study's
 * Figure 2 (dense margin against distance to the boundary, one colour and marker per
 * population, one panel per pruned model). Both writers render into memory; the caller
 * writes the bytes (atomically, e.g. with libtensor's ti_write_file_atomic). */
#ifndef THINICE_PLOT_H
#define THINICE_PLOT_H

#include <stddef.h>
#include <stdint.h>

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

typedef struct ti_plot_series {
    const char *label;  /* legend text */
    const double *x, *y; /* n points; non-finite points are skipped (and counted in the legend) */
    size_t n;
    uint32_t rgb;       /* 0xRRGGBB */
    ti_marker marker;
} ti_plot_series;

typedef struct ti_plot_panel {
    const char *title, *xlabel, *ylabel;
    const ti_plot_series *series;
    int nseries;
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

#ifdef __cplusplus
}
#endif
#endif
