/* Tests of the figure writers: tick choice, the PNG encoder against zlib's inflate, the SVG's
 * content (one element per finite point, escaped text, one path per line), line and step
 * series in the PNG (pixels of the curve where the axes put it, nothing outside the plot
 * area, same bytes twice), and the security-curve figure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../libstats/plot_internal.h" /* white-box: where the layout puts the axes */
#include "../libstats/png_encode.h"
#include "testutil.h"
#include "thinice/plot.h"

START_TEST(test_ticks)
{
    double t[16];
    int n = ti_plot_ticks(-4.3, 8.5, 7, t);
    ck_assert_int_eq(n, 7); /* -4 -2 0 2 4 6 8 */
    ck_assert_double_eq(t[0], -4);
    ck_assert_double_eq(t[2], 0);
    ck_assert_double_eq(t[6], 8);
    n = ti_plot_ticks(0.0, 0.126, 7, t);
    ck_assert_int_eq(n, 7); /* 0 .. 0.12 by 0.02 */
    ck_assert_double_eq_tol(t[6], 0.12, 1e-12);
    ck_assert_int_eq(ti_plot_ticks(1, 1, 7, t), 0);
}
END_TEST

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

START_TEST(test_png_roundtrip_through_zlib)
{
    enum { W = 37, H = 23 };
    unsigned char rgb[W * H * 3];
    ti_rng r;
    ti_rng_seed(&r, 9);
    for (int i = 0; i < W * H * 3; i++) /* flat areas (matches) and noise (literals) */
        rgb[i] = i < W * H ? 255 : (unsigned char)ti_rng_below(&r, 256);
    unsigned char *png;
    size_t len;
    ck_assert_int_eq(ti__png_encode(rgb, W, H, &png, &len), 0);
    ck_assert_int_eq(memcmp(png, "\x89PNG\r\n\x1a\n", 8), 0);
    ck_assert_uint_eq(be32(png + 16), W);
    ck_assert_uint_eq(be32(png + 20), H);
    /* walk the chunks, checking every CRC, and inflate the IDAT */
    size_t off = 8;
    unsigned char raw[(W * 3 + 1) * H];
    uLongf rawlen = sizeof raw;
    int seen_idat = 0;
    while (off < len) {
        uint32_t n = be32(png + off);
        uint32_t crc = (uint32_t)crc32(0, png + off + 4, n + 4);
        ck_assert_uint_eq(crc, be32(png + off + 8 + n));
        if (memcmp(png + off + 4, "IDAT", 4) == 0) {
            ck_assert_int_eq(uncompress(raw, &rawlen, png + off + 8, n), Z_OK);
            seen_idat = 1;
        }
        off += 12 + n;
    }
    ck_assert_uint_eq(off, len);
    ck_assert(seen_idat);
    ck_assert_uint_eq(rawlen, sizeof raw);
    for (int y = 0; y < H; y++) {
        ck_assert_int_eq(raw[y * (W * 3 + 1)], 0);
        ck_assert_int_eq(memcmp(raw + y * (W * 3 + 1) + 1, rgb + y * W * 3, W * 3), 0);
    }
    free(png);
}
END_TEST

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

START_TEST(test_figure_svg_and_png)
{
    double x[5] = {0.1, 0.2, NAN, 0.3, INFINITY}, y[5] = {1, -1, 0, 2, 3};
    ti_plot_series s[2] = {{.label = "11 <both right>", .x = x, .y = y, .n = 5, .rgb = 0x2ca02c,
                            .marker = TI_MARKER_CIRCLE},
                           {.label = "10", .x = x, .y = y, .n = 2, .rgb = 0xd62728,
                            .marker = TI_MARKER_TRIANGLE}};
    ti_plot_panel p = {.title = "panel & title", .xlabel = "eps", .ylabel = "margin",
                       .series = s, .nseries = 2};
    ti_plot_figure f = {&p, 1, 1, 300, 200};
    char *svg;
    size_t n;
    ck_assert_int_eq(ti_plot_svg(&f, &svg, &n), 0);
    ck_assert_uint_eq(strlen(svg), n);
    ck_assert_uint_eq(count(svg, "<circle"), 3 + 1); /* 3 finite points + its legend entry */
    ck_assert_uint_eq(count(svg, "<polygon"), 2 + 1);
    ck_assert_ptr_nonnull(strstr(svg, "11 &lt;both right&gt; (5)"));
    ck_assert_ptr_nonnull(strstr(svg, "panel &amp; title"));
    ck_assert_ptr_nonnull(strstr(svg, "</svg>"));
    free(svg);
    unsigned char *png;
    ck_assert_int_eq(ti_plot_png(&f, &png, &n), 0);
    ck_assert_uint_eq(be32(png + 16), 300);
    ck_assert_uint_gt(be32(png + 20), 200); /* plus the legend rows */
    free(png);
    ti_plot_figure empty = {&p, 0, 1, 0, 0};
    ck_assert_int_eq(ti_plot_svg(&empty, &svg, &n), -1);
}
END_TEST

/* The RGB pixels of a PNG from ti__png_encode (filter 0 on every row), malloc'd. */
static unsigned char *decode_png(const unsigned char *png, size_t len, int *W, int *H)
{
    *W = (int)be32(png + 16);
    *H = (int)be32(png + 20);
    size_t rowlen = (size_t)*W * 3 + 1, off = 8;
    uLongf rawlen = rowlen * (size_t)*H;
    unsigned char *raw = malloc(rawlen), *rgb = malloc(rawlen);
    while (off < len) {
        uint32_t n = be32(png + off);
        if (memcmp(png + off + 4, "IDAT", 4) == 0)
            ck_assert_int_eq(uncompress(raw, &rawlen, png + off + 8, n), Z_OK);
        off += 12 + n;
    }
    for (int y = 0; y < *H; y++) {
        ck_assert_int_eq(raw[y * rowlen], 0);
        memcpy(rgb + (size_t)y * *W * 3, raw + y * rowlen + 1, (size_t)*W * 3);
    }
    free(raw);
    return rgb;
}

static uint32_t pixel(const unsigned char *rgb, int W, double x, double y)
{
    const unsigned char *p = rgb + ((size_t)floor(y) * W + (size_t)floor(x)) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

START_TEST(test_lines_png_and_svg)
{
    /* a step curve 0.8 -> 0.5 at x = 0.4 -> 0.2 at x = 0.7, a straight line from (0, 0) out
     * of the axes at (2, 1.2), and a reference line at x = 0.25; fixed axes 0..1 */
    const double sx[3] = {0.0, 0.4, 0.7}, sy[3] = {0.8, 0.5, 0.2};
    const double lx[3] = {0.0, NAN, 2.0}, ly[3] = {0.0, 0.0, 1.2}, lx2[2] = {0.0, 2.0};
    const uint32_t STEP = 0xff00ff, LINE = 0x00c0c0, VL = 0x123456;
    ti_plot_series s[3] = {{.label = "steps", .x = sx, .y = sy, .n = 3, .rgb = STEP,
                            .style = TI_PLOT_STEPS},
                           {.label = NULL, .x = lx2, .y = ly + 1, .n = 2, .rgb = LINE,
                            .style = TI_PLOT_LINE},
                           {.label = "broken line", .x = lx, .y = ly, .n = 3, .rgb = LINE,
                            .style = TI_PLOT_LINE}};
    ti_plot_vline v = {0.25, "eps", VL};
    ti_plot_panel p = {.title = "lines", .xlabel = "x", .ylabel = "y", .series = s,
                       .nseries = 3, .vlines = &v, .nvlines = 1, .xmin = 0, .xmax = 1,
                       .ymin = 0, .ymax = 1};
    ti_plot_figure f = {&p, 1, 1, 400, 300};
    ti__axes a;
    ti__plot_axes(&f, 0, &a);
    ck_assert_double_eq(a.xlo, 0.0);
    ck_assert_double_eq(a.yhi, 1.0);

    unsigned char *png, *png2;
    size_t n, n2;
    ck_assert_int_eq(ti_plot_png(&f, &png, &n), 0);
    ck_assert_int_eq(ti_plot_png(&f, &png2, &n2), 0);
    ck_assert_uint_eq(n, n2); /* same figure, same bytes */
    ck_assert_int_eq(memcmp(png, png2, n), 0);
    int W, H;
    unsigned char *rgb = decode_png(png, n, &W, &H);
    ck_assert_int_eq(W, 400);
    /* on each level of the steps, and on its jumps, the pixel is the curve's colour */
    ck_assert_uint_eq(pixel(rgb, W, ti__px(&a, 0.2), ti__py(&a, 0.8)), STEP);
    ck_assert_uint_eq(pixel(rgb, W, ti__px(&a, 0.55), ti__py(&a, 0.5)), STEP);
    ck_assert_uint_eq(pixel(rgb, W, ti__px(&a, 0.4), ti__py(&a, 0.65)), STEP);
    ck_assert_uint_eq(pixel(rgb, W, ti__px(&a, 0.85), ti__py(&a, 0.2)), STEP); /* to the edge */
    /* and 6 pixels off a level it is not */
    ck_assert_uint_ne(pixel(rgb, W, ti__px(&a, 0.2), ti__py(&a, 0.8) + 6), STEP);
    ck_assert_uint_ne(pixel(rgb, W, ti__px(&a, 0.2), ti__py(&a, 0.5)), STEP);
    /* the line from (0, 0) to (2, 1.2) passes (1, 0.6) at the right edge, clipped there */
    ck_assert_uint_eq(pixel(rgb, W, ti__px(&a, 0.5), ti__py(&a, 0.3)), LINE);
    int outside = 0, dashes = 0;
    for (int y = 0; y < H; y++)
        for (int x = (int)(a.ax + a.aw) + 3; x < W; x++)
            outside += pixel(rgb, W, x, y) == LINE || pixel(rgb, W, x, y) == STEP;
    for (int y = (int)a.ay; y < (int)(a.ay + a.ah); y++)
        dashes += pixel(rgb, W, ti__px(&a, 0.25), y) == VL;
    ck_assert_int_eq(outside, 0);
    /* dashed: 6 on, 4 off along the whole height */
    ck_assert_int_gt(dashes, (int)(0.45 * a.ah));
    ck_assert_int_lt(dashes, (int)(0.75 * a.ah));
    free(rgb);
    free(png);
    free(png2);

    char *svg;
    ck_assert_int_eq(ti_plot_svg(&f, &svg, &n), 0);
    /* one path per line series, the reference line, and two legend samples (the unlabelled
     * series has none) */
    ck_assert_uint_eq(count(svg, "<path"), 3 + 1 + 2);
    ck_assert_uint_eq(count(svg, "stroke-dasharray"), 1);
    ck_assert_uint_eq(count(svg, "stroke=\"#ff00ff\""), 2);
    ck_assert_ptr_nonnull(strstr(svg, ">steps</text>"));     /* lines: no "(n)" */
    ck_assert_ptr_nonnull(strstr(svg, ">broken line</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">eps</text>"));
    free(svg);
}
END_TEST

START_TEST(test_security_figure)
{
    enum { N = 200 };
    double d[2][N];
    for (int i = 0; i < N; i++) { /* distances 0, 0.001, ..., two +inf per model */
        d[0][i] = i < 198 ? 0.001 * i : INFINITY;
        d[1][i] = i < 198 ? 0.0005 * i : INFINITY;
    }
    ti_plot_security_curve cv[2] = {{"dense", d[0], N, 0.473, 0x1f77b4},
                                    {"pruned <90%>", d[1], N, NAN, 0xd62728}};
    ti_plot_security s = {.title = "security", .curves = cv, .ncurves = 2, .eps = 0.05};
    char *svg;
    size_t n;
    ti_stats_err e = {0};
    ck_assert_int_eq(ti_plot_security_svg(&s, &svg, &n, &e), 0);
    ck_assert_ptr_nonnull(strstr(svg, "dense (AutoAttack 47.3%)"));
    ck_assert_ptr_nonnull(strstr(svg, ">pruned &lt;90%&gt;</text>"));
    ck_assert_ptr_nonnull(strstr(svg, "eps = 0.05 (squares: AutoAttack)"));
    ck_assert_uint_eq(count(svg, "<path"), 2 + 1 + 2); /* curves, eps line, legend samples */
    ck_assert_uint_eq(count(svg, "fill-opacity"), 1);   /* one AutoAttack square */
    free(svg);
    unsigned char *png;
    ck_assert_int_eq(ti_plot_security_png(&s, &png, &n, &e), 0);
    int W, H;
    unsigned char *rgb = decode_png(png, n, &W, &H);
    ck_assert_int_eq(W, 560);
    ck_assert_int_eq(H, 400 + 18); /* one legend row */
    /* both curves are drawn: runs of their exact colours (the line geometry itself is
     * checked in test_lines_png_and_svg) */
    int blue = 0, red = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            blue += pixel(rgb, W, x, y) == 0x1f77b4;
            red += pixel(rgb, W, x, y) == 0xd62728;
        }
    ck_assert_int_gt(blue, 400);
    ck_assert_int_gt(red, 400);
    free(rgb);
    free(png);
    /* bad distances name their curve */
    d[1][7] = NAN;
    ck_assert_int_eq(ti_plot_security_png(&s, &png, &n, &e), TI_STATS_ERR_NAN);
    ck_assert(strstr(e.msg, "curve 1 ('pruned <90%>')") && strstr(e.msg, "distance[7]"));
    s.ncurves = 0;
    ck_assert_int_eq(ti_plot_security_svg(&s, &svg, &n, &e), TI_STATS_ERR_EMPTY);
}
END_TEST

Suite *suite_plot(void)
{
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_add_test(tc, test_ticks);
    tcase_add_test(tc, test_png_roundtrip_through_zlib);
    tcase_add_test(tc, test_figure_svg_and_png);
    tcase_add_test(tc, test_lines_png_and_svg);
    tcase_add_test(tc, test_security_figure);
    suite_add_tcase(s, tc);
    return s;
}
