/* Shared command-line helpers of the thinice apps: strict option parsing, exit codes, error
 * and log output, --version, and the terminal progress line (see app_cli.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xmmintrin.h>

#include "app_cli.h"
#include "app_procs.h"
#include "thinice/fileio.h"

const char *app_prog = "thinice";

void app_init(const char *argv0)
{
    if (argv0 && *argv0) {
        const char *slash = strrchr(argv0, '/');
        app_prog = slash ? slash + 1 : argv0;
    }
    /* the apps own their process: flush denormals everywhere (the library does so only on
     * its own threads and inside its parallel kernels) */
    _mm_setcsr(_mm_getcsr() | 0x8040u);
}

/* "prog: ", or "prog (rank k of n): " in a job of several processes. */
static void error_prefix(void)
{
    if (app_procs_size() > 1)
        fprintf(stderr, "%s (rank %d of %d): ", app_prog, app_procs_rank(), app_procs_size());
    else
        fprintf(stderr, "%s: ", app_prog);
}

void app_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_prefix();
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
    error_prefix();
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

/* A plain decimal number: digits, one point, an exponent; no "inf", "nan" or hex, which
 * strtod would take. */
static int plain_decimal(const char *s)
{
    return s[strspn(s, "0123456789+-.eE")] == '\0' && strpbrk(s, "0123456789");
}

int app_parse_double(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = s && plain_decimal(s) ? strtod(s, &end) : 0;
    if (!s || !plain_decimal(s) || *end != '\0' || !isfinite(v)) {
        app_error("%s: '%s' is not a finite decimal number", flag, s ? s : "");
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
    char *end;
    if (n == 0 || n >= sizeof num || !plain_decimal(slash + 1)) {
        app_error("%s: '%s' is not a number or a fraction like 8/255", flag, s);
        return -1;
    }
    memcpy(num, s, n);
    num[n] = '\0';
    b = strtod(slash + 1, &end);
    if (*end != '\0' || !(b > 0) || !isfinite(b)) {
        app_error("%s: '%s': the denominator must be a positive number", flag, s);
        return -1;
    }
    if (app_parse_double(flag, num, 0, 1e6, &a))
        return -1;
    if (a / b > hi) {
        app_error("%s: '%s' is %g, above %g", flag, s, a / b, hi);
        return -1;
    }
    *out = (float)(a / b);
    return 0;
}

int app_parse_shard(const char *s, int *k, int *n)
{
    int a, b, used = 0;
    if (sscanf(s, "%d/%d%n", &a, &b, &used) == 2 && !s[used] && b >= 1 && a >= 0 && a < b) {
        *k = a;
        *n = b;
        return 0;
    }
    app_error("--shard: '%s' is not K/N with 0 <= K < N (shards count from 0, as Slurm's "
              "--array=0-<N-1> does)", s);
    return -1;
}

int app_parse_sparse(const char *s, ti_sparse_mode *out)
{
    if (ti_sparse_mode_parse(s, out) == TI_OK)
        return 0;
    app_error("--sparse: '%s' is not auto, on or off", s);
    return -1;
}

void app_log(void *user, int level, const char *msg)
{
    (void)user;
    fprintf(stderr, "%s: %s%s\n", app_prog, level > 0 ? "warning: " : "", msg);
}

void app_progress_clear(app_progress *p)
{
    if (p && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = 0;
    }
}

/* "label  120/500 img  3.2 img/s  ETA 2:05" */
static void progress_text(const app_progress *p, double t, char *buf, size_t len)
{
    double el = t - p->t0, done = p->done * p->scale, total = p->total * p->scale;
    double rate = el > 0 ? (p->done - p->first_done) * p->scale / el : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    const char *u = p->unit ? p->unit : "it";
    snprintf(buf, len, "%s  %.0f/%.0f %s  %.3g %s/s  ETA %d:%02d", p->label, done, total, u,
             rate, u, (int)eta / 60, (int)eta % 60);
}

/* A new task starts when the counting label changes or its count goes back. */
static void progress_track(app_progress *p, const char *label, long done, long total, double t)
{
    if (strncmp(p->label, label, sizeof p->label - 1) != 0 || done < p->done) {
        snprintf(p->label, sizeof p->label, "%s", label);
        p->t0 = p->last_draw = t;
        p->first_done = done; /* the rate counts the units done from here on */
    }
    p->done = done;
    p->total = total;
}

int app_progress_cb(void *user, const char *label, long done, long total)
{
    app_progress *p = user;
    if (!p->enabled)
        return 0;
    double t = ti_clock();
    if (total > 0) {
        progress_track(p, label, done, total, t);
        if (done >= total) {
            app_progress_clear(p);
            p->label[0] = '\0';
            p->done = 0;
            return 0;
        }
    } else if (!p->label[0]) {
        return 0; /* a heartbeat outside any counted task */
    }
    if (t - p->last_draw < (p->tty ? 0.1 : p->period))
        return 0;
    p->last_draw = t;
    char text[256];
    progress_text(p, t, text, sizeof text);
    if (p->tty) {
        fprintf(stderr, "\r\033[K%s", text);
        p->drawn = 1;
    } else {
        fprintf(stderr, "%s: %s\n", app_prog, text);
    }
    fflush(stderr);
    return 0;
}

void app_progress_install(ti_ctx *ctx, app_progress *p, int enabled, double scale,
                          const char *unit)
{
    memset(p, 0, sizeof *p);
    p->enabled = enabled;
    p->tty = isatty(STDERR_FILENO);
    p->scale = scale > 0 ? scale : 1;
    p->unit = unit;
    const char *period = getenv("THINICE_PROGRESS_SECONDS"); /* batch systems may want another */
    p->period = period && atof(period) > 0 ? atof(period) : 30;
    ti_ctx_set_progress(ctx, app_progress_cb, p);
}

int app_check_output(ti_ctx *ctx, const char *flag, const char *path)
{
    if (!path || ti_check_output(ctx, path) == TI_OK)
        return 0;
    app_error("%s %s: %s", flag, path, ti_ctx_errmsg(ctx));
    return -1;
}

void app_logger_cb(void *user, int level, const char *msg)
{
    app_logger *lg = user;
    /* rank 0 speaks for an MPI job: the others' warnings repeat its own (errors still pass,
     * through app_fail) */
    if ((lg->quiet && level == 0) || app_procs_rank() != 0)
        return;
    app_progress_clear(lg->progress);
    app_log(NULL, level, msg);
}

void app_json_program(ti_jw *w)
{
    ti_jw_key(w, "program");
    ti_jw_string(w, app_prog);
    ti_jw_key(w, "version");
    ti_jw_string(w, TI_VERSION);
}

int app_check_output_dir(ti_ctx *ctx, const char *flag, const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (S_ISDIR(sb.st_mode) && access(dir, W_OK | X_OK) == 0)
            return 0;
        app_error("%s %s: %s", flag, dir, S_ISDIR(sb.st_mode) ? "the directory cannot be "
                  "written" : "exists and is not a directory");
        return -1;
    }
    /* a new directory: its parent must take it (checked like a new file there) */
    return app_check_output(ctx, flag, dir);
}

ti_status app_write_json(ti_ctx *ctx, ti_jw *w, const char *path)
{
    size_t len;
    const char *text = ti_jw_text(w, &len);
    if (!text)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", path);
    return ti_write_file_atomic(ctx, path, text, len);
}
