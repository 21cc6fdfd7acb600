/* Helpers every thinice app shares: strict parsing of option values, the standard exit codes,
 * error and log output on stderr, --version text, and a progress line (rate, ETA) drawn on
 * stderr only when stderr is a terminal. Apps stay thin: parse, call the library, print. */
#ifndef THINICE_APP_CLI_H
#define THINICE_APP_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "thinice/core.h"

/* Exit codes of every app. */
enum { APP_EXIT_OK = 0, APP_EXIT_FAIL = 1, APP_EXIT_USAGE = 2 };

/* The program name used in messages (set once by app_init from argv[0], "thinice" before). */
extern const char *app_prog;
void app_init(const char *argv0);

/* "prog: message" on stderr. */
void app_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: <what>: <ctx message or status string>" on stderr; returns APP_EXIT_FAIL. */
int app_fail(ti_ctx *ctx, ti_status s, const char *what);
/* Prints the --version text to stdout: "<prog> <version> (thinice <version>)". */
void app_print_version(void);
/* "prog: <msg>\nTry '<prog> --help'." on stderr; returns APP_EXIT_USAGE. */
int app_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The shared ends of every app's getopt_long loop (optstring starting with ':'):
 * app_getopt_error turns ':' (missing value) and anything unknown into a usage error;
 * app_parse_done, after the loop, returns APP_EXIT_USAGE if a value was bad (bad != 0; the
 * parser already said why) or an argument is left over, else -1 to go on. */
int app_getopt_error(int c, char **argv);
int app_parse_done(int bad, int argc, char **argv);

/* Strict number parsing for option `flag`: the whole string must be a number inside
 * [lo, hi] (no trailing characters, no overflow, finite). On failure prints
 * "prog: --flag: 'text' is not ..." and returns -1; 0 on success. */
int app_parse_int(const char *flag, const char *s, long lo, long hi, int *out);
int app_parse_long(const char *flag, const char *s, long lo, long hi, long *out);
int app_parse_u64(const char *flag, const char *s, uint64_t *out);
int app_parse_float(const char *flag, const char *s, double lo, double hi, float *out);
int app_parse_double(const char *flag, const char *s, double lo, double hi, double *out);
/* A radius or step in [0, hi], as a number ("0.1") or a fraction ("8/255"); same failure
 * behaviour. */
int app_parse_fraction(const char *flag, const char *s, double hi, float *out);

/* The log callback for ti_ctx_set_log: "prog: [warning: ]msg" on stderr. user is unused. */
void app_log(void *user, int level, const char *msg);

/* The progress line. Install with app_progress_install; the callback redraws at most ten
 * times a second "label  done/total  rate unit/s  ETA m:ss", where the rate counts
 * done * scale units (e.g. scale = batch size, unit = "img"). It draws only when enabled
 * and stderr is a terminal, and erases itself when done reaches total. */
typedef struct app_progress {
    int enabled;
    double scale;
    const char *unit;
    /* private */
    char label[64];
    double t0, last_draw;
    long last_done, first_done;
    int drawn;
} app_progress;

void app_progress_install(ti_ctx *ctx, app_progress *p, int enabled, double scale,
                          const char *unit);
/* Erases the line if one is drawn (before printing anything else on the terminal). */
void app_progress_clear(app_progress *p);
/* The callback itself (exposed for apps that chain it); user is an app_progress. */
int app_progress_cb(void *user, const char *label, long done, long total);

/* Monotonic seconds, for timing what the apps print. */
double app_now(void);

#endif
