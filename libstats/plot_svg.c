/* The SVG writer: the layout of plot_layout.c emitted as SVG elements into a growing
 * string. Text uses a monospace font of the same metrics as the PNG writer's. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)(n > 0 ? n : 0) + 256;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static void put_escaped(sbuf *b, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '<': put(b, "&lt;"); break;
        case '>': put(b, "&gt;"); break;
        case '&': put(b, "&amp;"); break;
        case '"': put(b, "&quot;"); break;
        default: put(b, "%c", *s);
        }
}

static void svg_line(void *self, double x0, double y0, double x1, double y1, uint32_t rgb)
{
    put(self, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#%06x\"/>\n", x0,
        y0, x1, y1, rgb);
}

static void svg_rect(void *self, double x, double y, double w, double h, uint32_t stroke)
{
    put(self, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
              "stroke=\"#%06x\"/>\n", x, y, w, h, stroke);
}

static void svg_marker(void *self, double x, double y, ti_marker m, uint32_t rgb)
{
    double r = TI__MARKER_R;
    switch (m) {
    case TI_MARKER_SQUARE:
        put(self, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#%06x\" "
                  "fill-opacity=\"0.75\"/>\n", x - r, y - r, 2 * r, 2 * r, rgb);
        break;
    case TI_MARKER_TRIANGLE:
        put(self, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"#%06x\" "
                  "fill-opacity=\"0.75\"/>\n", x, y - r * 1.2, x - r * 1.1, y + r * 0.8,
            x + r * 1.1, y + r * 0.8, rgb);
        break;
    case TI_MARKER_CROSS:
        put(self, "<path d=\"M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f\" stroke=\"#%06x\" "
                  "stroke-width=\"1.5\"/>\n", x - r, y - r, x + r, y + r, x - r, y + r, x + r,
            y - r, rgb);
        break;
    default:
        put(self, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"#%06x\" "
                  "fill-opacity=\"0.75\"/>\n", x, y, r, rgb);
    }
}

static void svg_text(void *self, double x, double y, const char *s, int anchor, int vertical)
{
    static const char *const anchors[] = {"start", "middle", "end"};
    double asc = 12.0; /* baseline below the top of the text box */
    if (vertical)
        put(self, "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"%s\">",
            x + asc, y, anchors[anchor]);
    else
        put(self, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x, y + asc,
            anchors[anchor]);
    put_escaped(self, s);
    put(self, "</text>\n");
}

int ti_plot_svg(const ti_plot_figure *f, char **out, size_t *len)
{
    if (!f || f->npanels <= 0)
        return -1;
    int W, H;
    ti__plot_size(f, &W, &H);
    sbuf b = {0};
    put(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans Mono, monospace\" "
            "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
        W, H, W, H);
    ti__canvas c = {&b, svg_line, svg_rect, svg_marker, svg_text};
    ti__plot_draw(f, &c);
    put(&b, "</svg>\n");
    if (b.failed) {
        free(b.s);
        return -1;
    }
    *out = b.s;
    *len = b.len;
    return 0;
}
