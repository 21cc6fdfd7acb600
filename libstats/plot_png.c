/* The PNG writer: rasterises the layout of plot_layout.c into an RGB image (anti-aliased
 * circles and thick lines, glyphs from the DejaVu coverage atlas in font.c) and encodes it
 * (png_encode.c). A thick line is the union of capsules around its segments: each pixel takes
 * the largest coverage any segment gives it, in a mask blended once when the path ends, so
 * joins and dense steps are not darkened by overlapping blends. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"
#include "png_encode.h"

typedef struct raster {
    unsigned char *rgb; /* (H, W, 3) */
    int W, H;
    float *mask;        /* (H, W) coverage of the path being drawn, 0 outside bx0..by1 */
    int bx0, by0, bx1, by1; /* the mask's dirty box (bx0 > bx1: clean) */
    uint32_t pen_rgb;
    double pen_w, pen_x, pen_y;
    int dashed;
    double dash_pos;    /* distance along a dashed path, for the pattern's phase */
} raster;

#define DASH_ON 6.0
#define DASH_OFF 4.0

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

/* Coverage of a capsule of half-width r around the segment (x0, y0)-(x1, y1) into the mask:
 * for each pixel centre, clamp(r + 1/2 - distance to the segment, 0, 1). */
static void mask_capsule(raster *r, double x0, double y0, double x1, double y1, double hw)
{
    int ix0 = (int)floor(fmin(x0, x1) - hw - 1), ix1 = (int)ceil(fmax(x0, x1) + hw + 1);
    int iy0 = (int)floor(fmin(y0, y1) - hw - 1), iy1 = (int)ceil(fmax(y0, y1) + hw + 1);
    ix0 = ix0 < 0 ? 0 : ix0;
    iy0 = iy0 < 0 ? 0 : iy0;
    ix1 = ix1 >= r->W ? r->W - 1 : ix1;
    iy1 = iy1 >= r->H ? r->H - 1 : iy1;
    if (ix0 > ix1 || iy0 > iy1)
        return;
    double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    for (int py = iy0; py <= iy1; py++)
        for (int px = ix0; px <= ix1; px++) {
            double cx = px + 0.5 - x0, cy = py + 0.5 - y0;
            double t = len2 > 0 ? fmax(0.0, fmin(1.0, (cx * dx + cy * dy) / len2)) : 0.0;
            double dist = hypot(cx - t * dx, cy - t * dy);
            float cov = (float)fmax(0.0, fmin(1.0, hw + 0.5 - dist));
            float *m = &r->mask[(size_t)py * r->W + px];
            if (cov > *m)
                *m = cov;
        }
    r->bx0 = ix0 < r->bx0 ? ix0 : r->bx0;
    r->by0 = iy0 < r->by0 ? iy0 : r->by0;
    r->bx1 = ix1 > r->bx1 ? ix1 : r->bx1;
    r->by1 = iy1 > r->by1 ? iy1 : r->by1;
}

static void png_path_begin(void *self, uint32_t rgb, double width, int dashed)
{
    raster *r = self;
    r->pen_rgb = rgb;
    r->pen_w = width;
    r->dashed = dashed;
    r->dash_pos = 0.0;
}

static void png_path_to(void *self, double x, double y, int draw)
{
    raster *r = self;
    double x0 = r->pen_x, y0 = r->pen_y;
    r->pen_x = x;
    r->pen_y = y;
    if (!draw)
        return;
    double len = hypot(x - x0, y - y0), hw = 0.5 * r->pen_w;
    if (!r->dashed) {
        mask_capsule(r, x0, y0, x, y, hw);
        return;
    }
    /* the "on" stretches of the dash pattern that fall on this segment */
    const double period = DASH_ON + DASH_OFF;
    double t = 0.0;
    while (t < len) {
        double phase = fmod(r->dash_pos + t, period);
        double stop = fmin(len, t + (phase < DASH_ON ? DASH_ON - phase : period - phase));
        if (phase < DASH_ON && len > 0)
            mask_capsule(r, x0 + (x - x0) * t / len, y0 + (y - y0) * t / len,
                         x0 + (x - x0) * stop / len, y0 + (y - y0) * stop / len, hw);
        t = stop;
    }
    r->dash_pos += len;
}

static void png_path_end(void *self)
{
    raster *r = self;
    for (int y = r->by0; y <= r->by1; y++)
        for (int x = r->bx0; x <= r->bx1; x++) {
            float *m = &r->mask[(size_t)y * r->W + x];
            blend(r, x, y, r->pen_rgb, *m);
            *m = 0.0f;
        }
    r->bx0 = r->by0 = 1 << 30;
    r->bx1 = r->by1 = -1;
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

/* Does any panel stroke a path (line or step series, reference lines)? Scatter figures then
 * need no coverage mask. */
static int has_paths(const ti_plot_figure *f)
{
    for (int i = 0; i < f->npanels; i++) {
        const ti_plot_panel *p = &f->panels[i];
        if (p->nvlines > 0)
            return 1;
        for (int k = 0; k < p->nseries; k++)
            if (p->series[k].style == TI_PLOT_LINE || p->series[k].style == TI_PLOT_STEPS)
                return 1;
    }
    return 0;
}

int ti_plot_png(const ti_plot_figure *f, unsigned char **out, size_t *len)
{
    if (!f || f->npanels <= 0)
        return -1;
    raster r = {.bx0 = 1 << 30, .by0 = 1 << 30, .bx1 = -1, .by1 = -1};
    ti__plot_size(f, &r.W, &r.H);
    r.rgb = malloc((size_t)r.W * r.H * 3);
    int paths = has_paths(f);
    r.mask = paths ? calloc((size_t)r.W * r.H, sizeof *r.mask) : NULL;
    int rc = -1;
    if (r.rgb && (r.mask || !paths)) {
        memset(r.rgb, 0xff, (size_t)r.W * r.H * 3);
        ti__canvas c = {&r,        png_line,       png_rect,    png_marker,
                        png_text,  png_path_begin, png_path_to, png_path_end};
        ti__plot_draw(f, &c);
        rc = ti__png_encode(r.rgb, r.W, r.H, out, len);
    }
    free(r.rgb);
    free(r.mask);
    return rc;
}
