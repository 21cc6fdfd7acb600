/* What the plot files share: the drawing back-end interface (SVG and PNG implement it), the
 * layout pass that drives it, and the bitmap font. */
#ifndef THINICE_PLOT_INTERNAL_H
#define THINICE_PLOT_INTERNAL_H

#include "thinice/plot.h"

/* Text anchors */
enum { TI__LEFT = 0, TI__CENTER = 1, TI__RIGHT = 2 };

/* A drawing surface in pixel coordinates (origin top left, y down). */
typedef struct ti__canvas {
    void *self;
    void (*line)(void *self, double x0, double y0, double x1, double y1, uint32_t rgb);
    void (*rect)(void *self, double x, double y, double w, double h, uint32_t stroke);
    void (*marker)(void *self, double x, double y, ti_marker m, uint32_t rgb);
    /* text whose baseline box starts at (x, y) top; vertical: rotated 90 degrees
     * counter-clockwise around (x, y) */
    void (*text)(void *self, double x, double y, const char *s, int anchor, int vertical);
} ti__canvas;

/* Size of the whole figure in pixels. */
void ti__plot_size(const ti_plot_figure *f, int *W, int *H);
/* Draws every panel of f on the canvas. */
void ti__plot_draw(const ti_plot_figure *f, const ti__canvas *c);

#define TI__MARKER_R 3.0 /* marker radius in pixels */

extern const int ti__font_w, ti__font_h;
extern const unsigned char ti__font[95][105];

#endif
