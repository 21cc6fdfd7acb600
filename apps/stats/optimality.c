/* thinice-stats --optimality: reads the per-sample CSVs of several minimum-norm attacks run on
 * the same samples, checks that they hold the same sample indices, and scores each attack
 * against the envelope of all of them by AttackBench's local optimality (Cina et al.,
 * "AttackBench: Evaluating Gradient-based Attacks for Adversarial Examples", AAAI 2025). The
 * math is libstats' (ti_stats_envelope, ti_stats_attack_optimality); this file reads, checks,
 * prints and writes JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "optimality.h"
#include "thinice/fileio.h"
#include "thinice/json.h"
#include "thinice/stats.h"

/* One sample of a file: its index and the line it is on (for messages). */
typedef struct keyed {
    double index;
    long line;
    size_t row;
} keyed;

/* One attack's file, or the envelope (path NULL). */
typedef struct run {
    const char *path;
    char name[256];
    keyed *key;  /* (n) the samples by ascending index */
    double *d;   /* (n) their distances, in the order of key */
    size_t n;
    ti_stats_optimality opt;
    ti_stats_security sec; /* for the median and the count of +inf */
} run;

/* The attacks' names: --names a,b,c (as many as files, none empty, no two alike), else the
 * file names without directory and extension. */
static int set_names(const optimality_opts *o, run *r)
{
    const char *p = o->names;
    for (int j = 0; j < o->nfiles; j++) {
        if (p) {
            size_t len = strcspn(p, ",");
            if (len == 0 || len >= sizeof r[j].name)
                return app_usage_error("--names: name %d of '%s' is %s", j + 1, o->names,
                                       len ? "too long" : "empty");
            memcpy(r[j].name, p, len);
            r[j].name[len] = '\0';
            p += len;
            if (*p == ',' ? j + 1 == o->nfiles : j + 1 < o->nfiles)
                return app_usage_error("--names: '%s' does not name the %d files one each",
                                       o->names, o->nfiles);
            p += *p == ',';
        } else {
            const char *base = strrchr(o->files[j], '/');
            base = base ? base + 1 : o->files[j];
            const char *dot = strrchr(base, '.');
            int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
            snprintf(r[j].name, sizeof r[j].name, "%.*s", len, base);
        }
        for (int k = 0; k < j; k++)
            if (strcmp(r[k].name, r[j].name) == 0)
                return app_usage_error("two attacks named '%s' (%s and %s): name them with "
                                       "--names a,b,...", r[j].name, o->files[k], o->files[j]);
    }
    return APP_EXIT_OK;
}

static int by_index(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Checks the indices (whole numbers, each once) and the distances (none negative) of one
 * file, and keeps them sorted by index. */
static int check_and_sort(run *r, const ti_stats_csv *c, const char *column, const double *idx,
                          const double *dist)
{
    size_t icol = (size_t)ti_stats_csv_find(c, "index");
    for (size_t i = 0; i < r->n; i++) {
        long line = ti_stats_csv_line(c, i);
        if (!(idx[i] >= 0 && idx[i] <= 9007199254740992.0 && idx[i] == floor(idx[i]))) {
            app_error("%s:%ld: index '%s' is not a sample index (a whole number from 0)",
                      r->path, line, ti_stats_csv_cell(c, i, icol));
            return APP_EXIT_FAIL;
        }
        if (dist[i] < 0) {
            app_error("%s:%ld: column '%s': %g is negative (a distance is 0 for a sample "
                      "misclassified clean, inf where no adversarial example was found)",
                      r->path, line, column, dist[i]);
            return APP_EXIT_FAIL;
        }
        r->key[i] = (keyed){.index = idx[i], .line = line, .row = i};
    }
    qsort(r->key, r->n, sizeof *r->key, by_index);
    for (size_t i = 0; i < r->n; i++) {
        if (i > 0 && r->key[i].index == r->key[i - 1].index) {
            app_error("%s:%ld: index %.0f again (first on line %ld)", r->path, r->key[i].line,
                      r->key[i].index, r->key[i - 1].line);
            return APP_EXIT_FAIL;
        }
        r->d[i] = dist[r->key[i].row];
    }
    return APP_EXIT_OK;
}

/* Reads one file's indices and distances. A distance column that is empty from its first row
 * is most likely the CSV of a run that was not FMN. */
static int load(run *r, const char *column)
{
    ti_stats_err e = {0};
    ti_stats_csv *c = NULL;
    double *idx = NULL, *dist = NULL;
    size_t n = 0;
    int rc = APP_EXIT_FAIL;
    if (ti_stats_csv_read(r->path, &c, &e) ||
        ti_stats_csv_column(c, "index", 0, &idx, &n, &e)) {
        app_error("%s", e.msg);
        goto done;
    }
    if (ti_stats_csv_column(c, column, 0, &dist, &n, &e)) {
        long col = ti_stats_csv_find(c, column);
        const char *first = col < 0 ? NULL : ti_stats_csv_cell(c, 0, (size_t)col);
        int not_fmn = strcmp(column, "min_norm") == 0 && first && first[0] == '\0';
        app_error("%s%s", e.msg, not_fmn ? " (thinice-attack fills min_norm only for --attack "
                                           "fmn)" : "");
        goto done;
    }
    if (n == 0) {
        app_error("%s: no samples (only a header)", r->path);
        goto done;
    }
    r->n = n;
    r->key = malloc(n * sizeof *r->key);
    r->d = malloc(n * sizeof *r->d);
    if (!r->key || !r->d)
        app_error("%s: out of memory for %zu samples", r->path, n);
    else
        rc = check_and_sort(r, c, column, idx, dist);
done:
    free(idx);
    free(dist);
    ti_stats_csv_free(c);
    return rc;
}

/* Do a and b hold the same indices? If not, names the smallest index one of them lacks. */
static int same_samples(const run *a, const run *b)
{
    size_t i = 0;
    while (i < a->n && i < b->n && a->key[i].index == b->key[i].index)
        i++;
    if (i == a->n && i == b->n)
        return APP_EXIT_OK;
    /* both ascending and equal before i: the smaller of the two keys at i is missing from
     * the other file */
    int a_has = i < a->n && (i == b->n || a->key[i].index < b->key[i].index);
    const run *has = a_has ? a : b, *lacks = a_has ? b : a;
    app_error("%s has no sample with index %.0f (%s:%ld has it): the files must hold the same "
              "samples", lacks->path, has->key[i].index, has->path, has->key[i].line);
    return APP_EXIT_FAIL;
}

/* The envelope (r[na], whose key is the first file's) and every score. */
static int compute(run *r, int na)
{
    size_t n = r[0].n;
    ti_stats_err e = {0};
    const double **dist = malloc((size_t)na * sizeof *dist);
    run *env = &r[na];
    env->n = n;
    env->key = r[0].key;
    env->d = malloc(n * sizeof *env->d);
    snprintf(env->name, sizeof env->name, "(envelope)");
    if (!dist || !env->d) {
        free(dist);
        app_error("out of memory");
        return APP_EXIT_FAIL;
    }
    for (int j = 0; j < na; j++)
        dist[j] = r[j].d;
    ti_stats_status s = ti_stats_envelope(dist, (size_t)na, n, env->d, &e);
    free(dist);
    for (int j = 0; j <= na && !s; j++) {
        s = ti_stats_attack_optimality(r[j].d, env->d, n, &r[j].opt, &e);
        /* the summary's eps_max sets only its normalised area, which is not used here; any
         * positive value does when no finite distance is above 0 */
        double emax = r[j].opt.eps_max > 0 ? r[j].opt.eps_max : 1.0;
        if (!s)
            s = ti_stats_security_summary(r[j].d, n, emax, &r[j].sec, &e);
    }
    if (s) {
        app_error("%s", e.msg);
        return APP_EXIT_FAIL;
    }
    return APP_EXIT_OK;
}

static void print_table(const optimality_opts *o, const run *r, int na)
{
    int w = 10;
    for (int j = 0; j < na; j++)
        w = (int)strlen(r[j].name) > w ? (int)strlen(r[j].name) : w;
    const ti_stats_optimality *env = &r[na].opt;
    printf("Optimality of %d minimum-norm attacks on %zu samples (column '%s')\n\n", na,
           r[0].n, o->column);
    printf("  %-*s %8s %8s %12s %12s %12s %10s\n", w, "attack", "samples", "finite", "median",
           "A", "A*", "optimality");
    for (int j = 0; j <= na; j++) {
        printf("  %-*s %8zu %8zu %12.6g %12.6g %12.6g", w, r[j].name, r[j].n,
               r[j].n - r[j].sec.n_inf, r[j].sec.median, r[j].opt.area, r[j].opt.area_best);
        if (isnan(r[j].opt.optimality))
            printf(" %10s\n", "n/a");
        else
            printf(" %10.4f\n", r[j].opt.optimality);
    }
    printf("\neps* = %.6g (the largest finite best distance), c = %.6g (clean accuracy)\n",
           env->eps_max, env->clean_acc);
    printf("A, A*: areas under the attack's and the best robust-accuracy curve over "
           "[0, eps*]\noptimality = 1 - (A - A*) / (c eps* - A*): 1 as good as the best, 0 "
           "no better than no attack\n");
    if (isnan(env->optimality))
        printf("(n/a: every best distance is 0, eps* or inf, so no attack can fall behind)\n");
}

/* The members of one attack (or the envelope) in the JSON. */
static void json_run(ti_jw *w, const run *r)
{
    ti_jw_begin_object(w);
    if (r->path) {
        ti_jw_key(w, "name");
        ti_jw_string(w, r->name);
        ti_jw_key(w, "file");
        ti_jw_string(w, r->path);
    }
    ti_jw_key(w, "samples");
    ti_jw_int(w, (long long)r->n);
    ti_jw_key(w, "finite");
    ti_jw_int(w, (long long)(r->n - r->sec.n_inf));
    ti_jw_key(w, "median");
    ti_jw_number(w, r->sec.median); /* null when +inf */
    ti_jw_key(w, "area");
    ti_jw_number(w, r->opt.area);
    if (r->path) {
        ti_jw_key(w, "optimality");
        ti_jw_number(w, r->opt.optimality); /* null when undefined */
    }
    ti_jw_end_object(w);
}

static int write_json(const optimality_opts *o, const run *r, int na)
{
    ti_jw *w = ti_jw_new();
    if (!w) {
        app_error("out of memory");
        return APP_EXIT_FAIL;
    }
    const ti_stats_optimality *env = &r[na].opt;
    ti_jw_begin_object(w);
    app_json_program(w);
    ti_jw_key(w, "mode");
    ti_jw_string(w, "optimality");
    ti_jw_key(w, "column");
    ti_jw_string(w, o->column);
    ti_jw_key(w, "samples");
    ti_jw_int(w, (long long)r[0].n);
    ti_jw_key(w, "eps_max");
    ti_jw_number(w, env->eps_max);
    ti_jw_key(w, "clean_accuracy");
    ti_jw_number(w, env->clean_acc);
    ti_jw_key(w, "area_best");
    ti_jw_number(w, env->area_best);
    ti_jw_key(w, "attacks");
    ti_jw_begin_array(w);
    for (int j = 0; j < na; j++)
        json_run(w, &r[j]);
    ti_jw_end_array(w);
    ti_jw_key(w, "envelope");
    json_run(w, &r[na]);
    ti_jw_end_object(w);
    int rc = APP_EXIT_OK;
    ti_ctx *ctx = ti_ctx_new(0, 1);
    ti_status s = ctx ? app_write_json(ctx, w, o->json) : TI_ERR_NOMEM;
    if (s != TI_OK)
        rc = app_fail(ctx, s, "writing the JSON summary");
    ti_ctx_free(ctx);
    ti_jw_free(w);
    return rc;
}

int stats_optimality(const optimality_opts *o)
{
    int na = o->nfiles;
    run *r = calloc((size_t)na + 1, sizeof *r); /* the attacks, then the envelope */
    if (!r) {
        app_error("out of memory");
        return APP_EXIT_FAIL;
    }
    int rc = set_names(o, r);
    if (rc == APP_EXIT_OK) {
        ti_ctx *ctx = ti_ctx_new(0, 1);
        rc = !ctx || app_check_output(ctx, "--output", o->json) ? APP_EXIT_FAIL : APP_EXIT_OK;
        ti_ctx_free(ctx);
    }
    for (int j = 0; j < na && rc == APP_EXIT_OK; j++) {
        r[j].path = o->files[j];
        rc = load(&r[j], o->column);
    }
    for (int j = 1; j < na && rc == APP_EXIT_OK; j++)
        rc = same_samples(&r[0], &r[j]);
    if (rc == APP_EXIT_OK)
        rc = compute(r, na);
    if (rc == APP_EXIT_OK && !o->quiet)
        print_table(o, r, na);
    if (rc == APP_EXIT_OK && o->json)
        rc = write_json(o, r, na);
    for (int j = 0; j < na; j++) {
        free(r[j].key);
        free(r[j].d);
    }
    free(r[na].d); /* its key is the first file's */
    free(r);
    return rc;
}
