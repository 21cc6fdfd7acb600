/* Shared command-line helpers of the thinice apps: strict option parsing, exit codes, error
 * and log output, --version, and the terminal progress line (see app_cli.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_cli.h"

const char *app_prog = "thinice";

void app_init(const char *argv0)
{
    if (argv0 && *argv0) {
        const char *slash = strrchr(argv0, '/');
        app_prog = slash ? slash + 1 : argv0;
    }
}

void app_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", app_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int app_fail(ti_ctx *ctx, ti_status s, const char *what)
{
    const char *msg = ctx ? ti_ctx_errmsg(ctx) : "";
    app_error("%s: %s", what, msg && *msg ? msg : ti_status_str(s));
    return APP_EXIT_FAIL;
}

void app_print_version(void)
{
    printf("%s %s (thinice %s)\n", app_prog, TI_VERSION, TI_VERSION);
}

int app_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", app_prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s --help'.\n", app_prog);
    va_end(ap);
    return APP_EXIT_USAGE;
}

int app_parse_long(const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = s && *s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end != '\0') {
        app_error("%s: '%s' is not an integer", flag, s ? s : "");
        return -1;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        app_error("%s: %s is out of range [%ld, %ld]", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int app_getopt_error(int c, char **argv)
{
    if (c == ':')
        return app_usage_error("option %s needs a value", argv[optind - 1]);
    return app_usage_error("unknown option '%s'", argv[optind - 1]);
}

int app_parse_done(int bad, int argc, char **argv)
{
    if (bad)
        return APP_EXIT_USAGE;
    if (optind < argc)
        return app_usage_error("unexpected argument '%s'", argv[optind]);
    return -1;
}

int app_parse_int(const char *flag, const char *s, long lo, long hi, int *out)
{
    long v;
    if (app_parse_long(flag, s, lo, hi, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

int app_parse_u64(const char *flag, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    /* strtoull accepts "-1" and wraps it: refuse signs explicitly */
    if (!s || !*s || *s == '-' || *s == '+') {
        app_error("%s: '%s' is not a non-negative integer", flag, s ? s : "");
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') {
        app_error("%s: '%s' is not a non-negative integer", flag, s);
        return -1;
    }
    if (errno == ERANGE) {
        app_error("%s: %s is too large", flag, s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int app_parse_double(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = s && *s ? strtod(s, &end) : 0;
    if (!s || !*s || *end != '\0' || !isfinite(v)) {
        app_error("%s: '%s' is not a finite number", flag, s ? s : "");
        return -1;
    }
    if (errno == ERANGE && fabs(v) > 1) {
        app_error("%s: %s is too large", flag, s);
        return -1;
    }
    if (v < lo || v > hi) {
        app_error("%s: %s is out of range [%g, %g]", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int app_parse_float(const char *flag, const char *s, double lo, double hi, float *out)
{
    double v;
    if (app_parse_double(flag, s, lo, hi, &v) != 0)
        return -1;
    *out = (float)v;
    return 0;
}

int app_parse_fraction(const char *flag, const char *s, double hi, float *out)
{
    const char *slash = strchr(s, '/');
    if (!slash)
        return app_parse_float(flag, s, 0, hi, out);
    char num[64];
    size_t n = (size_t)(slash - s);
    double a, b;
    if (n == 0 || n >= sizeof num) {
        app_error("%s: '%s' is not a number or a fraction like 8/255", flag, s);
        return -1;
    }
    memcpy(num, s, n);
    num[n] = '\0';
    if (app_parse_double(flag, num, 0, 1e6, &a) || app_parse_double(flag, slash + 1, 1e-6, 1e6, &b))
        return -1;
    if (a / b > hi) {
        app_error("%s: '%s' is %g, above %g", flag, s, a / b, hi);
        return -1;
    }
    *out = (float)(a / b);
    return 0;
}

void app_log(void *user, int level, const char *msg)
{
    (void)user;
    fprintf(stderr, "%s: %s%s\n", app_prog, level > 0 ? "warning: " : "", msg);
}

double app_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void app_progress_clear(app_progress *p)
{
    if (p && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = 0;
    }
}

int app_progress_cb(void *user, const char *label, long done, long total)
{
    app_progress *p = user;
    if (!p->enabled)
        return 0;
    double t = app_now();
    /* a new task starts when the label changes or the count goes back */
    if (strncmp(p->label, label, sizeof p->label - 1) != 0 || done < p->last_done) {
        snprintf(p->label, sizeof p->label, "%s", label);
        p->t0 = t;
        p->first_done = done; /* the rate counts the units done from here on */
        p->last_draw = t;     /* first draw after 0.1 s, once a rate exists */
    }
    p->last_done = done;
    if (done >= total) {
        app_progress_clear(p);
        p->label[0] = '\0';
        p->last_done = 0;
        return 0;
    }
    if (t - p->last_draw < 0.1)
        return 0;
    p->last_draw = t;
    double el = t - p->t0;
    double rate = el > 0 ? (done - p->first_done) / el : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    fprintf(stderr, "\r\033[K%s  %ld/%ld  %.0f %s/s  ETA %d:%02d", label, done, total,
            rate * p->scale, p->unit ? p->unit : "it", (int)eta / 60, (int)eta % 60);
    fflush(stderr);
    p->drawn = 1;
    return 0;
}

void app_progress_install(ti_ctx *ctx, app_progress *p, int enabled, double scale,
                          const char *unit)
{
    memset(p, 0, sizeof *p);
    p->enabled = enabled && isatty(STDERR_FILENO);
    p->scale = scale > 0 ? scale : 1;
    p->unit = unit;
    ti_ctx_set_progress(ctx, app_progress_cb, p);
}
