/* Tests of the figure writers: tick choice, the PNG encoder against zlib's inflate, and the
 * SVG's content (one element per finite point, escaped text). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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
    ti_plot_series s[2] = {{"11 <both right>", x, y, 5, 0x2ca02c, TI_MARKER_CIRCLE},
                           {"10", x, y, 2, 0xd62728, TI_MARKER_TRIANGLE}};
    ti_plot_panel p = {"panel & title", "eps", "margin", s, 2};
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

Suite *suite_plot(void)
{
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_add_test(tc, test_ticks);
    tcase_add_test(tc, test_png_roundtrip_through_zlib);
    tcase_add_test(tc, test_figure_svg_and_png);
    suite_add_tcase(s, tc);
    return s;
}
