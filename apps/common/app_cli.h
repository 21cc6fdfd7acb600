/* Helpers every thinice app shares: strict parsing of option values, the standard exit codes,
 * error and log output on stderr, --version text, and a progress line (rate, ETA) drawn on
 * stderr only when stderr is a terminal. Apps stay thin: parse, call the library, print. */
#ifndef THINICE_APP_CLI_H
#define THINICE_APP_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "thinice/core.h"
#include "thinice/json.h"
#include "thinice/model.h"

/* Exit codes of every app. */
enum { APP_EXIT_OK = 0, APP_EXIT_FAIL = 1, APP_EXIT_USAGE = 2 };

/* The program name used in messages (set once by app_init from argv[0], "thinice" before).
 * app_init also turns on flush-to-zero and denormals-are-zero for the process's main thread. */
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

/* --shard K/N (0 <= K < N, as Slurm's --array=0-<N-1> counts); same failure behaviour. */
int app_parse_shard(const char *s, int *k, int *n);
/* --sparse auto|on|off; same failure behaviour. */
int app_parse_sparse(const char *s, ti_sparse_mode *out);

/* The log callback for ti_ctx_set_log: "prog: [warning: ]msg" on stderr. user is unused. */
void app_log(void *user, int level, const char *msg);

/* Progress of long work on stderr: on a terminal a line redrawn at most ten times a second,
 * "label  done/total unit  rate unit/s  ETA m:ss" (erased when the work ends); into a pipe or
 * a file (batch jobs) the same as a plain line every `period` seconds (30, or the environment's
 * THINICE_PROGRESS_SECONDS). done and total
 * are the library's counts times `scale` (e.g. 1 / attacks, to count the evaluation's
 * sample-attacks as images). The library's heartbeats (total 0) keep the display alive.
 * Install with app_progress_install; enabled = 0 (--quiet, --no-progress) draws nothing. */
typedef struct app_progress {
    int enabled;
    double scale;
    const char *unit;
    double period;
    /* private */
    int tty, drawn;
    char label[64];
    double t0, last_draw;
    long done, total, first_done;
} app_progress;

void app_progress_install(ti_ctx *ctx, app_progress *p, int enabled, double scale,
                          const char *unit);
/* Erases the terminal line if one is drawn (before printing anything else). */
void app_progress_clear(app_progress *p);
/* The callback itself (exposed for apps that chain it); user is an app_progress. */
int app_progress_cb(void *user, const char *label, long done, long total);

/* The log callback apps install when they draw progress: erases the progress line first, and
 * with quiet drops the info messages (warnings pass, except on the ranks other than 0 of an
 * MPI job, whose messages repeat rank 0's). user is an app_logger. */
typedef struct app_logger {
    int quiet;
    app_progress *progress;
} app_logger;
void app_logger_cb(void *user, int level, const char *msg);

/* The members every app's JSON summary starts with: "program" (e.g. "thinice-attack") and
 * "version". */
/* Writes w's document to path (atomically when path is a regular file or new; "-" is
 * standard output), the error left in ctx. */
ti_status app_write_json(ti_ctx *ctx, ti_jw *w, const char *path);
void app_json_program(ti_jw *w);

/* Checks an output path before any work (ti_check_output): prints "prog: --flag PATH: why"
 * and returns -1 if it cannot be written, 0 otherwise (path NULL: nothing to check). */
int app_check_output(ti_ctx *ctx, const char *flag, const char *path);
/* The same for an output directory: one that exists and can be written, or a new one whose
 * parent exists and can be written. */
int app_check_output_dir(ti_ctx *ctx, const char *flag, const char *dir);

#endif
