/* The evaluation harness's files (eval.h): the per-sample CSV, the JSON summary and the
 * resumable state. The state is a text file, rewritten atomically after every batch:
 *   thinice-eval state 1
 *   config <configuration line>
 *   seconds <clean> <attack 1> ... <attack n>
 *   checkfail <n>
 *   rec <i> <label> <clean_pred> <adv_pred> <attack> <linf> <l2> <l1> <min_norm> <check fwd>
 *       <fwd 1> <bwd 1> ... <fwd n> <bwd n>        (one line per done sample)
 *   end
 * Floats are written with 9 significant digits, which read back to the same float. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "thinice/fileio.h"

static const char *kind_name(ti_eval_kind k)
{
    static const char *const names[TI_EVAL_KIND_COUNT] = {"autoattack", "pgd", "fgsm", "fmn"};
    return (unsigned)k < TI_EVAL_KIND_COUNT ? names[k] : "?";
}

static const char *outcome(const ti_eval *ev, const ti_eval_sample *r)
{
    return r->attack == TI_EVAL_CLEAN_WRONG ? "clean"
           : r->attack == TI_EVAL_ROBUST    ? "none"
                                            : ev->names[r->attack];
}

static long total(const long *v, int n)
{
    long t = 0;
    for (int a = 0; a < n; a++)
        t += v[a];
    return t;
}

/* ---- CSV ----------------------------------------------------------------------------------- */

void ti__eval_csv_header(FILE *fp, const ti_eval *ev)
{
    fputs("index,label,clean_pred,adv_pred,success,attack,linf,l2,l1,min_norm,forwards,"
          "backwards", fp);
    for (int a = 0; a < ev->n_attacks; a++)
        fprintf(fp, ",forwards_%s,backwards_%s", ev->names[a], ev->names[a]);
}

void ti__eval_csv_row(FILE *fp, const ti_eval *ev, int i)
{
    const ti_eval_sample *r = &ev->samples[i];
    fprintf(fp, "%d,%d,%d,%d,%d,%s,%.9g,%.9g,%.9g,", ev->first + i, r->label, r->clean_pred,
            r->adv_pred, r->attack >= 0, outcome(ev, r), (double)r->linf, (double)r->l2,
            (double)r->l1);
    if (ev->p.kind == TI_EVAL_FMN)
        fprintf(fp, "%.9g", (double)r->min_norm);
    fprintf(fp, ",%ld,%ld", r->check_forwards + total(r->forwards, ev->n_attacks),
            total(r->backwards, ev->n_attacks));
    for (int a = 0; a < ev->n_attacks; a++)
        fprintf(fp, ",%ld,%ld", r->forwards[a], r->backwards[a]);
}

ti_status ti_eval_write_csv(ti_ctx *ctx, const ti_eval *ev, const char *path)
{
    ti_afile f;
    ti_status s = ti_afile_open(ctx, &f, path);
    if (s != TI_OK)
        return s;
    ti__eval_csv_header(f.fp, ev);
    fputc('\n', f.fp);
    for (int i = 0; i < ev->N; i++)
        if (ev->samples[i].done) {
            ti__eval_csv_row(f.fp, ev, i);
            fputc('\n', f.fp);
        }
    if (ferror(f.fp)) {
        ti_afile_abort(&f);
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: write failed", path);
    }
    return ti_afile_commit(ctx, &f);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void json_config(ti_jw *w, const ti_eval *ev)
{
    const ti_eval_params *p = &ev->p;
    ti_jw_key(w, "config");
    ti_jw_begin_object(w);
    ti_jw_key(w, "attack");
    ti_jw_string(w, p->attack);
    ti_jw_key(w, "attacks");
    ti_jw_begin_array(w);
    for (int a = 0; a < ev->n_attacks; a++)
        ti_jw_string(w, ev->names[a]);
    ti_jw_end_array(w);
    ti_jw_key(w, "norm");
    ti_jw_string(w, ti_norm_name(p->norm));
    ti_jw_key(w, "eps");
    ti_jw_float(w, p->eps); /* null for FMN without a radius */
    ti_jw_key(w, "seed");
    ti_jw_int(w, (long long)p->seed);
    ti_jw_key(w, "first");
    ti_jw_int(w, ev->first);
    ti_jw_key(w, "count");
    ti_jw_int(w, ev->N);
    if (p->kind == TI_EVAL_PGD || p->kind == TI_EVAL_FGSM) {
        ti_jw_key(w, "steps");
        ti_jw_int(w, p->pgd.steps);
        ti_jw_key(w, "step");
        ti_jw_float(w, p->pgd.step);
    }
    if (p->kind == TI_EVAL_FMN) {
        ti_jw_key(w, "steps");
        ti_jw_int(w, p->fmn.steps);
        ti_jw_key(w, "predicted_class");
        ti_jw_bool(w, p->fmn_predicted);
    }
    ti_jw_end_object(w);
}

static void json_attacks(ti_jw *w, const ti_eval *ev, const ti_eval_summary *s)
{
    ti_jw_key(w, "attacks");
    ti_jw_begin_array(w);
    for (int a = 0; a < ev->n_attacks; a++) {
        ti_jw_begin_object(w);
        ti_jw_key(w, "name");
        ti_jw_string(w, ev->names[a]);
        ti_jw_key(w, "robust_accuracy");
        ti_jw_number(w, s->robust_acc[a]);
        ti_jw_key(w, "robust");
        ti_jw_int(w, s->n_robust[a]);
        ti_jw_key(w, "seconds");
        ti_jw_number(w, ev->seconds[a]);
        ti_jw_key(w, "forwards");
        ti_jw_int(w, s->forwards[a]);
        ti_jw_key(w, "backwards");
        ti_jw_int(w, s->backwards[a]);
        ti_jw_end_object(w);
    }
    ti_jw_end_array(w);
}

ti_status ti_eval_json(ti_ctx *ctx, const ti_eval *ev, ti_jw *w)
{
    ti_eval_summary s;
    ti_status st = ti_eval_summarize(ctx, ev, &s);
    if (st != TI_OK)
        return st;
    ti_jw_key(w, "run");
    ti_jw_string(w, ev->run);
    json_config(w, ev);
    ti_jw_key(w, "samples");
    ti_jw_int(w, s.n_done);
    ti_jw_key(w, "clean_accuracy");
    ti_jw_number(w, s.clean_acc);
    ti_jw_key(w, "robust_accuracy");
    ti_jw_number(w, s.robust_final);
    json_attacks(w, ev, &s);
    ti_jw_key(w, "check_failed");
    ti_jw_int(w, ev->n_check_failed);
    if (ev->p.kind == TI_EVAL_FMN) {
        ti_jw_key(w, "fmn");
        ti_jw_begin_object(w);
        ti_jw_key(w, "median_norm");
        ti_jw_number(w, s.fmn_median_all);
        ti_jw_key(w, "median_norm_clean_correct");
        ti_jw_number(w, s.fmn_median_correct);
        ti_jw_key(w, "found");
        ti_jw_int(w, s.fmn_found);
        ti_jw_end_object(w);
    }
    ti_jw_key(w, "passes");
    ti_jw_begin_object(w);
    ti_jw_key(w, "forwards");
    ti_jw_int(w, s.total_forwards);
    ti_jw_key(w, "backwards");
    ti_jw_int(w, s.total_backwards);
    ti_jw_end_object(w);
    ti_jw_key(w, "seconds");
    ti_jw_begin_object(w);
    ti_jw_key(w, "clean_and_checks");
    ti_jw_number(w, ev->seconds_clean);
    double sum = ev->seconds_clean;
    for (int a = 0; a < ev->n_attacks; a++)
        sum += ev->seconds[a];
    ti_jw_key(w, "compute");
    ti_jw_number(w, sum);
    ti_jw_end_object(w);
    return TI_OK;
}

/* ---- the state ------------------------------------------------------------------------------ */

#define STATE_MAGIC "thinice-eval state 1"

/* "key=value ..." of everything that changes the records (not the batch size: it does not) */
static void config_line(const ti_eval *ev, char *buf, size_t len)
{
    const ti_eval_params *p = &ev->p;
    snprintf(buf, len, "kind=%s attack=%s norm=%s eps=%.9g seed=%llu first=%d count=%d "
             "pgd_steps=%d pgd_step=%.9g fmn_steps=%d fmn_predicted=%d run=%s",
             kind_name(p->kind), p->attack, ti_norm_name(p->norm), (double)p->eps,
             (unsigned long long)p->seed, ev->first, ev->N, p->pgd.steps, (double)p->pgd.step,
             p->fmn.steps, p->fmn_predicted, ev->run);
}

/* The first space-separated setting that differs between two configuration lines. */
static void config_diff(const char *a, const char *b, char *out, size_t len)
{
    size_t i = 0;
    while (a[i] && a[i] == b[i])
        i++;
    while (i > 0 && a[i - 1] != ' ')
        i--;
    size_t ea = strcspn(a + i, " "), eb = strcspn(b + i, " ");
    snprintf(out, len, "the state has %.*s, this run %.*s", (int)(ea < 300 ? ea : 300), a + i,
             (int)(eb < 300 ? eb : 300), b + i);
}

ti_status ti_eval_state_save(ti_ctx *ctx, const ti_eval *ev, const char *path)
{
    ti_afile f;
    ti_status s = ti_afile_open(ctx, &f, path);
    if (s != TI_OK)
        return s;
    char config[2048];
    config_line(ev, config, sizeof config);
    fprintf(f.fp, "%s\nconfig %s\nseconds %.17g", STATE_MAGIC, config, ev->seconds_clean);
    for (int a = 0; a < ev->n_attacks; a++)
        fprintf(f.fp, " %.17g", ev->seconds[a]);
    fprintf(f.fp, "\ncheckfail %d\n", ev->n_check_failed);
    for (int i = 0; i < ev->N; i++) {
        const ti_eval_sample *r = &ev->samples[i];
        if (!r->done)
            continue;
        fprintf(f.fp, "rec %d %d %d %d %d %.9g %.9g %.9g %.9g %ld", i, r->label, r->clean_pred,
                r->adv_pred, r->attack, (double)r->linf, (double)r->l2, (double)r->l1,
                (double)r->min_norm, r->check_forwards);
        for (int a = 0; a < ev->n_attacks; a++)
            fprintf(f.fp, " %ld %ld", r->forwards[a], r->backwards[a]);
        fputc('\n', f.fp);
    }
    fprintf(f.fp, "end\n");
    if (ferror(f.fp)) {
        ti_afile_abort(&f);
        return ti_ctx_error(ctx, TI_ERR_IO, "state file %s: write failed", path);
    }
    return ti_afile_commit(ctx, &f);
}

/* One "rec" line into ev; 0 if malformed. */
static int parse_rec(ti_eval *ev, char *line)
{
    ti_eval_sample r;
    memset(&r, 0, sizeof r);
    int i, used;
    if (sscanf(line, "%d %d %d %d %d %f %f %f %f %ld%n", &i, &r.label, &r.clean_pred,
               &r.adv_pred, &r.attack, &r.linf, &r.l2, &r.l1, &r.min_norm, &r.check_forwards,
               &used) != 10 ||
        i < 0 || i >= ev->N || r.attack < TI_EVAL_CLEAN_WRONG || r.attack >= ev->n_attacks)
        return 0;
    char *p = line + used;
    for (int a = 0; a < ev->n_attacks; a++) {
        char *e1, *e2;
        r.forwards[a] = strtol(p, &e1, 10);
        r.backwards[a] = strtol(e1, &e2, 10);
        if (e1 == p || e2 == e1)
            return 0;
        p = e2;
    }
    while (*p == ' ')
        p++;
    if (*p)
        return 0;
    r.done = 1;
    ev->samples[i] = r;
    return 1;
}

/* One line of a state file (after the magic); sets *ended at "end". */
static ti_status state_line(ti_ctx *ctx, ti_eval *ev, const char *path, int line, char *l,
                            const char *config, int *ended)
{
    if (line == 2) {
        if (strncmp(l, "config ", 7) != 0)
            return ti_ctx_error(ctx, TI_ERR_FORMAT, "state file %s: line 2 is not the "
                                "configuration", path);
        if (strcmp(l + 7, config) != 0) {
            char why[700];
            config_diff(l + 7, config, why, sizeof why);
            return ti_ctx_error(ctx, TI_ERR_ARG, "state file %s was written by a run with other "
                                "settings (%s); rerun with the same settings, or give another "
                                "state file", path, why);
        }
    } else if (!strncmp(l, "seconds ", 8)) {
        char *p = l + 8, *e;
        ev->seconds_clean = strtod(p, &e);
        for (int a = 0; a < ev->n_attacks && e != p; a++)
            ev->seconds[a] = strtod(p = e, &e);
    } else if (!strncmp(l, "checkfail ", 10)) {
        ev->n_check_failed = atoi(l + 10);
    } else if (!strncmp(l, "rec ", 4)) {
        if (!parse_rec(ev, l + 4))
            return ti_ctx_error(ctx, TI_ERR_FORMAT, "state file %s: line %d is not a valid "
                                "record", path, line);
    } else if (!strcmp(l, "end")) {
        *ended = 1;
    } else {
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "state file %s: line %d: unknown entry "
                            "'%.20s'", path, line, l);
    }
    return TI_OK;
}

ti_status ti_eval_state_load(ti_ctx *ctx, ti_eval *ev, const char *path, int *found)
{
    *found = 0;
    if (access(path, F_OK) != 0)
        return TI_OK;
    char *buf, config[2048];
    size_t len;
    ti_status s = ti_read_file(ctx, path, &buf, &len);
    if (s != TI_OK)
        return s;
    config_line(ev, config, sizeof config);
    int line = 0, ended = 0;
    char *save, *l = strtok_r(buf, "\n", &save);
    for (; l && s == TI_OK && !ended; l = strtok_r(NULL, "\n", &save)) {
        if (++line == 1 && strcmp(l, STATE_MAGIC) != 0)
            s = ti_ctx_error(ctx, TI_ERR_FORMAT, "%s is not a thinice evaluation state file "
                             "(first line '%.40s')", path, l);
        else if (line > 1)
            s = state_line(ctx, ev, path, line, l, config, &ended);
    }
    if (s == TI_OK && !ended)
        s = ti_ctx_error(ctx, TI_ERR_FORMAT, "state file %s is truncated (no 'end' line)", path);
    free(buf);
    if (s != TI_OK) { /* nothing half-read stays behind */
        for (int i = 0; i < ev->N; i++)
            ev->samples[i] = (ti_eval_sample){.attack = TI_EVAL_ROBUST};
        ev->seconds_clean = 0;
        memset(ev->seconds, 0, sizeof ev->seconds);
        ev->n_check_failed = 0;
    }
    *found = s == TI_OK;
    return s;
}

/* The evaluation a configuration line describes (the inverse of config_line). */
static ti_status config_parse(ti_ctx *ctx, const char *path, const char *line, ti_eval **out)
{
    char kind[16], attack[128], norm[8];
    double eps, pgd_step;
    unsigned long long seed;
    int first, count, pgd_steps, fmn_steps, fmn_pred, used = 0;
    ti_norm nm;
    if (sscanf(line, "kind=%15s attack=%127s norm=%7s eps=%lf seed=%llu first=%d count=%d "
               "pgd_steps=%d pgd_step=%lf fmn_steps=%d fmn_predicted=%d run=%n", kind, attack,
               norm, &eps, &seed, &first, &count, &pgd_steps, &pgd_step, &fmn_steps,
               &fmn_pred, &used) != 11 || used == 0 || ti_norm_parse(norm, &nm) != TI_OK)
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "state file %s: a configuration line thinice "
                            "cannot read", path);
    ti_eval_params p;
    ti_status s = ti_eval_params_init(ctx, attack, nm, (float)eps, &p);
    if (s != TI_OK || strcmp(kind_name(p.kind), kind) != 0)
        return s != TI_OK ? s : ti_ctx_error(ctx, TI_ERR_FORMAT, "state file %s: kind %s does "
                                             "not match attack %s", path, kind, attack);
    p.seed = seed;
    p.pgd.steps = pgd_steps;
    p.pgd.step = (float)pgd_step;
    p.fmn.steps = fmn_steps;
    p.fmn_predicted = fmn_pred;
    if ((s = ti_eval_new(ctx, &p, first, count, out)) == TI_OK &&
        (s = ti_eval_set_run(ctx, *out, line + used)) != TI_OK) {
        ti_eval_free(*out);
        *out = NULL;
    }
    return s;
}

ti_status ti_eval_state_read(ti_ctx *ctx, const char *path, ti_eval **out)
{
    *out = NULL;
    char *buf;
    size_t len;
    ti_status s = ti_read_file(ctx, path, &buf, &len);
    if (s != TI_OK)
        return s;
    char *nl1 = strchr(buf, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    if (!nl2 || strncmp(buf, STATE_MAGIC "\n", sizeof STATE_MAGIC) != 0 ||
        strncmp(nl1 + 1, "config ", 7) != 0)
        s = ti_ctx_error(ctx, TI_ERR_FORMAT, "%s is not a thinice evaluation state file", path);
    if (s == TI_OK) {
        *nl2 = '\0';
        s = config_parse(ctx, path, nl1 + 8, out);
    }
    free(buf);
    int found;
    if (s == TI_OK && (s = ti_eval_state_load(ctx, *out, path, &found)) != TI_OK) {
        ti_eval_free(*out);
        *out = NULL;
    }
    return s;
}
