/* The PNG writer: rasterises the layout of plot_layout.c into an RGB image (anti-aliased
 * circles, glyphs from the DejaVu coverage atlas in font.c) and encodes it (png_encode.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"
#include "png_encode.h"

typedef struct raster {
    unsigned char *rgb; /* (H, W, 3) */
    int W, H;
} raster;

/* Blends colour rgb over pixel (x, y) with opacity a in [0, 1]. */
static void blend(raster *r, int x, int y, uint32_t rgb, double a)
{
    if (x < 0 || y < 0 || x >= r->W || y >= r->H || a <= 0)
        return;
    if (a > 1)
        a = 1;
    unsigned char *p = r->rgb + ((size_t)y * r->W + x) * 3;
    for (int k = 0; k < 3; k++) {
        double c = (double)((rgb >> (16 - 8 * k)) & 0xff);
        p[k] = (unsigned char)lround(p[k] * (1 - a) + c * a);
    }
}

static void png_line(void *self, double x0, double y0, double x1, double y1, uint32_t rgb)
{
    double dx = x1 - x0, dy = y1 - y0;
    int steps = (int)ceil(fmax(fabs(dx), fabs(dy)));
    if (steps == 0)
        steps = 1;
    for (int i = 0; i <= steps; i++)
        blend(self, (int)floor(x0 + dx * i / steps), (int)floor(y0 + dy * i / steps), rgb, 1.0);
}

static void png_rect(void *self, double x, double y, double w, double h, uint32_t stroke)
{
    png_line(self, x, y, x + w, y, stroke);
    png_line(self, x, y + h, x + w, y + h, stroke);
    png_line(self, x, y, x, y + h, stroke);
    png_line(self, x + w, y, x + w, y + h, stroke);
}

/* Is pixel centre (px, py) inside the triangle (a, b, c)? Sign of the three edge tests. */
static int in_triangle(double px, double py, const double *t)
{
    int neg = 0, pos = 0;
    for (int i = 0; i < 3; i++) {
        const double *a = t + 2 * i, *b = t + 2 * ((i + 1) % 3);
        double e = (b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0]);
        neg |= e < 0;
        pos |= e > 0;
    }
    return !(neg && pos);
}

static void png_marker(void *self, double x, double y, ti_marker m, uint32_t rgb)
{
    const double r = TI__MARKER_R, alpha = 0.75;
    if (m == TI_MARKER_CROSS) {
        png_line(self, x - r, y - r, x + r, y + r, rgb);
        png_line(self, x - r, y + r, x + r, y - r, rgb);
        return;
    }
    double tri[6] = {x, y - r * 1.2, x - r * 1.1, y + r * 0.8, x + r * 1.1, y + r * 0.8};
    for (int py = (int)floor(y - r - 1); py <= (int)ceil(y + r + 1); py++)
        for (int px = (int)floor(x - r - 1); px <= (int)ceil(x + r + 1); px++) {
            double cx = px + 0.5, cy = py + 0.5, cover;
            if (m == TI_MARKER_SQUARE)
                cover = fabs(cx - x) <= r && fabs(cy - y) <= r;
            else if (m == TI_MARKER_TRIANGLE)
                cover = in_triangle(cx, cy, tri);
            else /* circle: coverage falls off over the last pixel of the radius */
                cover = fmin(1.0, fmax(0.0, r + 0.5 - hypot(cx - x, cy - y)));
            blend(self, px, py, rgb, cover * alpha);
        }
}

static void png_text(void *self, double x, double y, const char *s, int anchor, int vertical)
{
    double w = (double)strlen(s) * ti__font_w;
    double start = anchor == TI__CENTER ? w / 2 : (anchor == TI__RIGHT ? w : 0);
    int ox = (int)lround(vertical ? x : x - start);
    int oy = (int)lround(vertical ? y + start : y);
    for (int i = 0; s[i]; i++) {
        int c = (unsigned char)s[i];
        if (c < 32 || c > 126)
            c = '?';
        const unsigned char *g = ti__font[c - 32];
        for (int gy = 0; gy < ti__font_h; gy++)
            for (int gx = 0; gx < ti__font_w; gx++) {
                double a = g[gy * ti__font_w + gx] / 255.0;
                int along = i * ti__font_w + gx;
                if (vertical) /* rotated 90 degrees counter-clockwise: text runs upwards */
                    blend(self, ox + gy, oy - along, 0x222222, a);
                else
                    blend(self, ox + along, oy + gy, 0x222222, a);
            }
    }
}

int ti_plot_png(const ti_plot_figure *f, unsigned char **out, size_t *len)
{
    if (!f || f->npanels <= 0)
        return -1;
    raster r;
    ti__plot_size(f, &r.W, &r.H);
    r.rgb = malloc((size_t)r.W * r.H * 3);
    if (!r.rgb)
        return -1;
    memset(r.rgb, 0xff, (size_t)r.W * r.H * 3);
    ti__canvas c = {&r, png_line, png_rect, png_marker, png_text};
    ti__plot_draw(f, &c);
    int rc = ti__png_encode(r.rgb, r.W, r.H, out, len);
    free(r.rgb);
    return rc;
}
