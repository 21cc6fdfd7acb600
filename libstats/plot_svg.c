/* The SVG writer: the layout of plot_layout.c emitted as SVG elements into a growing
 * string. Text uses a monospace font of the same metrics as the PNG writer's. */
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"
#include "strbuf.h"

static void put_escaped(ti__sb *b, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '<': ti__sb_printf(b, "&lt;"); break;
        case '>': ti__sb_printf(b, "&gt;"); break;
        case '&': ti__sb_printf(b, "&amp;"); break;
        case '"': ti__sb_printf(b, "&quot;"); break;
        default: ti__sb_printf(b, "%c", *s);
        }
}

static void svg_line(void *self, double x0, double y0, double x1, double y1, uint32_t rgb)
{
    ti__sb_printf(self, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#%06x\"/>\n", x0,
        y0, x1, y1, rgb);
}

static void svg_rect(void *self, double x, double y, double w, double h, uint32_t stroke)
{
    ti__sb_printf(self, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
              "stroke=\"#%06x\"/>\n", x, y, w, h, stroke);
}

static void svg_marker(void *self, double x, double y, ti_marker m, uint32_t rgb)
{
    double r = TI__MARKER_R;
    switch (m) {
    case TI_MARKER_SQUARE:
        ti__sb_printf(self, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#%06x\" "
                  "fill-opacity=\"0.75\"/>\n", x - r, y - r, 2 * r, 2 * r, rgb);
        break;
    case TI_MARKER_TRIANGLE:
        ti__sb_printf(self, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"#%06x\" "
                  "fill-opacity=\"0.75\"/>\n", x, y - r * 1.2, x - r * 1.1, y + r * 0.8,
            x + r * 1.1, y + r * 0.8, rgb);
        break;
    case TI_MARKER_CROSS:
        ti__sb_printf(self, "<path d=\"M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f\" stroke=\"#%06x\" "
                  "stroke-width=\"1.5\"/>\n", x - r, y - r, x + r, y + r, x - r, y + r, x + r,
            y - r, rgb);
        break;
    default:
        ti__sb_printf(self, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"#%06x\" "
                  "fill-opacity=\"0.75\"/>\n", x, y, r, rgb);
    }
}

static void svg_text(void *self, double x, double y, const char *s, int anchor, int vertical)
{
    static const char *const anchors[] = {"start", "middle", "end"};
    double asc = 12.0; /* baseline below the top of the text box */
    if (vertical)
        ti__sb_printf(self, "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"%s\">",
            x + asc, y, anchors[anchor]);
    else
        ti__sb_printf(self, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x, y + asc,
            anchors[anchor]);
    put_escaped(self, s);
    ti__sb_printf(self, "</text>\n");
}

static void svg_path_begin(void *self, uint32_t rgb, double width, int dashed)
{
    ti__sb_printf(self, "<path fill=\"none\" stroke=\"#%06x\" stroke-width=\"%.1f\" "
                        "stroke-linejoin=\"round\" stroke-linecap=\"round\"%s d=\"",
                  rgb, width, dashed ? " stroke-dasharray=\"6 4\"" : "");
}

static void svg_path_to(void *self, double x, double y, int draw)
{
    ti__sb_printf(self, "%c%.1f %.1f", draw ? 'L' : 'M', x, y);
}

static void svg_path_end(void *self)
{
    ti__sb_printf(self, "\"/>\n");
}

int ti_plot_svg(const ti_plot_figure *f, char **out, size_t *len)
{
    if (!f || f->npanels <= 0)
        return -1;
    int W, H;
    ti__plot_size(f, &W, &H);
    ti__sb b = {0};
    ti__sb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans Mono, monospace\" "
            "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
        W, H, W, H);
    ti__canvas c = {&b,       svg_line,       svg_rect,    svg_marker,
                    svg_text, svg_path_begin, svg_path_to, svg_path_end};
    ti__plot_draw(f, &c);
    ti__sb_printf(&b, "</svg>\n");
    *out = ti__sb_take(&b, len);
    return *out ? 0 : -1;
}
