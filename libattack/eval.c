/* The evaluation harness (eval.h): the parameters of an evaluation and their checks, the run
 * loop over batches of samples, and the summary. The batch runners are autoattack.c (the
 * ensemble) and eval_batch.c (PGD, FGSM, FMN); the CSV, JSON and state files are in
 * eval_io.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- parameters ------------------------------------------------------------------------- */

/* Every name --attack takes, for suggestions. */
static const char *const known[] = {"standard", "plus",  "apgd-ce", "apgd-dlr", "apgd-t", "fab",
                                    "fab-t",    "square", "pgd",    "fgsm",     "fmn"};
#define NKNOWN (sizeof known / sizeof known[0])

/* Levenshtein distance of two short strings (names of at most 31 characters). */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b), row[32];
    if (la > 31 || lb > 31)
        return 99;
    for (int j = 0; j <= lb; j++)
        row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* " (did you mean 'x'?)" for the nearest known name within two edits, else "". */
static const char *suggest(const char *name, char *buf, size_t len)
{
    int best = 3;
    buf[0] = '\0';
    for (size_t k = 0; k < NKNOWN; k++) {
        int d = edit_distance(name, known[k]);
        if (d < best) {
            best = d;
            snprintf(buf, len, " (did you mean '%s'?)", known[k]);
        }
    }
    return buf;
}

static int is_single(const char *name)
{
    return !strcmp(name, "pgd") || !strcmp(name, "fgsm") || !strcmp(name, "fmn");
}

/* Each element of a comma-separated list must be an attack of the ensemble. */
static ti_status check_list(ti_ctx *ctx, const char *list)
{
    const char *s = list;
    do {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char name[32], hint[64];
        if (len == 0 || len >= sizeof name)
            return ti_ctx_error(ctx, TI_ERR_ARG, "attack '%s': an empty or too long name in "
                                "the list", list);
        memcpy(name, s, len);
        name[len] = '\0';
        ti_aa_attack a;
        if (is_single(name))
            return ti_ctx_error(ctx, TI_ERR_ARG, "attack '%s': %s runs alone, not in a list "
                                "(lists take apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square)",
                                list, name);
        if (ti_aa_attack_parse(name, &a) != TI_OK)
            return ti_ctx_error(ctx, TI_ERR_ARG, "unknown attack '%s'%s; one of standard, plus, "
                                "apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square, pgd, fgsm, fmn, "
                                "or a comma-separated list of the AutoAttack ones", name,
                                suggest(name, hint, sizeof hint));
        s = e ? e + 1 : s + len;
    } while (*s || s[-1] == ',');
    return TI_OK;
}

/* The norms each kind supports. */
static ti_status check_norm(ti_ctx *ctx, const ti_eval_params *p)
{
    ti_norm n = p->norm;
    if ((unsigned)n >= TI_NORM_COUNT)
        return ti_ctx_error(ctx, TI_ERR_ARG, "unknown norm %d", (int)n);
    if (p->kind == TI_EVAL_FMN)
        return TI_OK;
    if (p->kind != TI_EVAL_AUTOATTACK) {
        if (n == TI_NORM_LINF || n == TI_NORM_L2)
            return TI_OK;
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s supports linf and l2, not %s", p->attack,
                            ti_norm_name(n));
    }
    for (int a = 0; a < p->aa.n_attacks; a++)
        if (!ti_aa_attack_has_norm(p->aa.attacks[a], n))
            return ti_ctx_error(ctx, TI_ERR_ARG, "attack '%s' at %s: %s has no %s version (at "
                                "l1 only lists of apgd-ce, apgd-dlr and apgd-t run; l0 only "
                                "fmn)", p->attack, ti_norm_name(n),
                                ti_aa_attack_name(p->aa.attacks[a]), ti_norm_name(n));
    return TI_OK;
}

ti_status ti_eval_params_init(ti_ctx *ctx, const char *attack, ti_norm norm, float eps,
                              ti_eval_params *out)
{
    memset(out, 0, sizeof *out);
    if (!attack || !attack[0])
        return ti_ctx_error(ctx, TI_ERR_ARG, "no attack given");
    if (strlen(attack) >= sizeof out->attack)
        return ti_ctx_error(ctx, TI_ERR_ARG, "attack list '%.40s...' is too long", attack);
    snprintf(out->attack, sizeof out->attack, "%s", attack);
    out->norm = norm;
    out->eps = eps;
    out->batch_size = 250;
    out->kind = !strcmp(attack, "pgd")    ? TI_EVAL_PGD
                : !strcmp(attack, "fgsm") ? TI_EVAL_FGSM
                : !strcmp(attack, "fmn")  ? TI_EVAL_FMN
                                          : TI_EVAL_AUTOATTACK;
    if (!(eps >= 0.0f) || (isinf(eps) && out->kind != TI_EVAL_FMN))
        return ti_ctx_error(ctx, TI_ERR_ARG, "eps %g: the radius must be a finite number >= 0%s",
                            (double)eps, out->kind == TI_EVAL_FMN ? " (or inf)" : "");
    out->pgd = ti_pgd_params_default();
    out->pgd.step = eps / 4;
    if (out->kind == TI_EVAL_FGSM) { /* one step of size eps from x */
        out->pgd.steps = 1;
        out->pgd.step = eps;
        out->pgd.random_start = 0;
    }
    out->fmn = ti_fmn_params_default();
    out->fmn.steps = 1000;
    ti_status s = TI_OK;
    int version = !strcmp(attack, "standard") || !strcmp(attack, "plus");
    if (out->kind == TI_EVAL_AUTOATTACK && (version || (s = check_list(ctx, attack)) == TI_OK))
        s = ti_aa_params_version(ctx, attack, norm, eps, &out->aa);
    return s == TI_OK ? check_norm(ctx, out) : s;
}

/* ---- records and progress ---------------------------------------------------------------- */

void ti__eval_record_clean(ti_eval_sample *rec, int label, int pred)
{
    memset(rec, 0, sizeof *rec);
    rec->done = 1;
    rec->label = label;
    rec->clean_pred = rec->adv_pred = pred;
    rec->attack = pred == label ? TI_EVAL_ROBUST : TI_EVAL_CLEAN_WRONG;
    rec->min_norm = NAN;
    rec->check_forwards = 1;
}

ti_status ti__eval_tick_add(ti_ctx *ctx, ti__eval_tick *t, int n)
{
    t->done += n;
    return ti_ctx_progress(ctx, "eval", t->done, t->total);
}

int ti_eval_in_threat_set(ti_norm norm, const float *x_adv, const float *x, size_t D, float eps)
{
    for (size_t i = 0; i < D; i++)
        if (!(x_adv[i] >= 0.0f && x_adv[i] <= 1.0f)) /* also rejects NaN */
            return 0;
    return ti_norm_dist(norm, x_adv, x, D) <= (double)eps;
}

/* ---- the evaluation ---------------------------------------------------------------------- */

ti_status ti_eval_new(ti_ctx *ctx, const ti_eval_params *p, int first, int N, ti_eval **out)
{
    *out = NULL;
    if (!p || (unsigned)p->kind >= TI_EVAL_KIND_COUNT || p->batch_size < 1 || first < 0 ||
        N < 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "eval: bad parameters, batch size or range "
                            "(first %d, N %d)", first, N);
    if (p->kind == TI_EVAL_AUTOATTACK &&
        (p->aa.n_attacks < 1 || p->aa.n_attacks > TI_EVAL_MAX_ATTACKS))
        return ti_ctx_error(ctx, TI_ERR_ARG, "eval: %d attacks (1..%d)", p->aa.n_attacks,
                            TI_EVAL_MAX_ATTACKS);
    ti_eval *ev = calloc(1, sizeof *ev);
    if (!ev || !(ev->samples = calloc(N > 0 ? (size_t)N : 1, sizeof *ev->samples))) {
        free(ev);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "eval: out of memory for %d records", N);
    }
    ev->p = *p;
    ev->first = first;
    ev->N = N;
    ev->n_attacks = p->kind == TI_EVAL_AUTOATTACK ? p->aa.n_attacks : 1;
    for (int a = 0; a < ev->n_attacks; a++) /* pgd, fgsm or fmn when alone */
        snprintf(ev->names[a], sizeof ev->names[a], "%.15s",
                 p->kind == TI_EVAL_AUTOATTACK ? ti_aa_attack_name(p->aa.attacks[a]) : p->attack);
    for (int i = 0; i < N; i++)
        ev->samples[i].attack = TI_EVAL_ROBUST;
    *out = ev;
    return TI_OK;
}

void ti_eval_free(ti_eval *ev)
{
    if (!ev)
        return;
    free(ev->samples);
    free(ev);
}

ti_status ti_eval_set_run(ti_ctx *ctx, ti_eval *ev, const char *run)
{
    if (!run || strlen(run) >= sizeof ev->run || strchr(run, '\n'))
        return ti_ctx_error(ctx, TI_ERR_ARG, "eval: the run's identity must be one line of at "
                            "most %zu bytes", sizeof ev->run - 1);
    snprintf(ev->run, sizeof ev->run, "%s", run);
    return TI_OK;
}

/* The ensemble's settings with the evaluation's threat model and seed. */
static ti_aa_params ensemble(const ti_eval_params *p)
{
    ti_aa_params a = p->aa;
    a.norm = p->norm;
    a.eps = p->eps;
    a.seed = p->seed;
    return a;
}

/* Everything a run checks before its first batch: the classifier, every label to evaluate,
 * what the attacks need of the model. */
static ti_status run_check(ti_ctx *ctx, const ti_eval *ev, const ti_classifier *f,
                           const float *x, const int *y)
{
    if (!f || !f->forward || !f->vjp || f->M < 2 || (ev->N > 0 && (!x || !y)))
        return ti_ctx_error(ctx, TI_ERR_ARG, "eval: NULL data, or a classifier without forward "
                            "and vjp or with fewer than 2 classes");
    for (int i = 0; i < ev->N; i++)
        if (!ev->samples[i].done && (y[i] < 0 || y[i] >= f->M))
            return ti_ctx_error(ctx, TI_ERR_ARG, "eval: sample %d has label %d, outside the "
                                "model's %d classes", ev->first + i, y[i], f->M);
    if (ev->p.kind != TI_EVAL_AUTOATTACK)
        return TI_OK;
    ti_aa_params a = ensemble(&ev->p), q;
    return ti__aa_check(ctx, f, &a, &q);
}

/* The norms of every fooled point's perturbation, then the records into ev. */
static void commit_batch(ti_eval *ev, const int *idx, int n, const ti_eval_sample *rec,
                         const float *xs, const float *xa, size_t D)
{
    for (int r = 0; r < n; r++) {
        ti_eval_sample c = rec[r];
        if (c.attack >= 0) {
            const float *a = xa + (size_t)r * D, *x0 = xs + (size_t)r * D;
            c.linf = (float)ti_norm_dist(TI_NORM_LINF, a, x0, D);
            c.l2 = (float)ti_norm_dist(TI_NORM_L2, a, x0, D);
            c.l1 = (float)ti_norm_dist(TI_NORM_L1, a, x0, D);
        }
        ev->samples[idx[r]] = c;
    }
}

typedef struct run_buf {
    float *xs, *xa;
    int *ys, *idx;
    uint64_t *ids;
    ti_eval_sample *rec;
} run_buf;

static ti_status run_buf_alloc(ti_ctx *ctx, run_buf *b, int n, size_t D)
{
    b->xs = malloc((size_t)n * D * sizeof(float));
    b->xa = malloc((size_t)n * D * sizeof(float));
    b->ys = malloc((size_t)n * sizeof(int));
    b->idx = malloc((size_t)n * sizeof(int));
    b->ids = malloc((size_t)n * sizeof(uint64_t));
    b->rec = malloc((size_t)n * sizeof(ti_eval_sample));
    if (!b->xs || !b->xa || !b->ys || !b->idx || !b->ids || !b->rec)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "eval: out of memory for a batch of %d", n);
    return TI_OK;
}

static void run_buf_free(run_buf *b)
{
    free(b->xs); free(b->xa); free(b->ys); free(b->idx); free(b->ids); free(b->rec);
}

/* The samples of [b0, b0 + count) not done yet, gathered into the batch; returns how many. */
static int gather(const ti_eval *ev, int b0, int count, const float *x, const int *y, size_t D,
                  run_buf *b)
{
    int n = 0;
    for (int i = b0; i < b0 + count; i++)
        if (!ev->samples[i].done) {
            b->idx[n] = i;
            b->ys[n] = y[i];
            b->ids[n] = (uint64_t)ev->first + (uint64_t)i;
            memcpy(b->xs + (size_t)n * D, x + (size_t)i * D, D * sizeof(float));
            n++;
        }
    return n;
}

ti_status ti_eval_run(ti_ctx *ctx, ti_eval *ev, const ti_classifier *f, const float *x,
                      const int *y, float *x_adv, const char *state)
{
    return ti_eval_run_range(ctx, ev, f, x, y, x_adv, state, 0, ev ? ev->N : 0);
}

ti_status ti_eval_run_range(ti_ctx *ctx, ti_eval *ev, const ti_classifier *f, const float *x,
                            const int *y, float *x_adv, const char *state, int lo, int hi)
{
    if (!ev || lo < 0 || hi < lo || hi > ev->N)
        return ti_ctx_error(ctx, TI_ERR_ARG, "eval: NULL evaluation or range [%d, %d) outside "
                            "its %d samples", lo, hi, ev ? ev->N : 0);
    ti_status s = run_check(ctx, ev, f, x, y);
    if (s != TI_OK)
        return s;
    size_t D = ti_classifier_dim(f);
    int bs = ev->p.batch_size, todo = 0;
    for (int i = lo; i < hi; i++)
        todo += !ev->samples[i].done;
    ti__eval_tick tick = {0, (long)todo * ev->n_attacks};
    ti_aa_params aa = ensemble(&ev->p);
    run_buf b = {0};
    s = run_buf_alloc(ctx, &b, bs < hi - lo ? bs : (hi > lo ? hi - lo : 1), D);
    for (int b0 = lo; b0 < hi && s == TI_OK; b0 += bs) {
        int count = hi - b0 < bs ? hi - b0 : bs, n = gather(ev, b0, count, x, y, D, &b);
        if (n == 0)
            continue;
        double secs[1 + TI_EVAL_MAX_ATTACKS] = {0};
        int cf = 0;
        memset(b.rec, 0, (size_t)n * sizeof *b.rec);
        if (ev->p.kind == TI_EVAL_AUTOATTACK)
            s = ti__aa_batch(ctx, f, &aa, b.xs, b.ys, b.ids, n, b.rec, b.xa, secs, &cf,
                             &tick);
        else
            s = ti__eval_single_batch(ctx, f, &ev->p, b.xs, b.ys, b.ids, n, b.rec, b.xa, secs,
                                      &tick);
        if (s != TI_OK)
            break;
        commit_batch(ev, b.idx, n, b.rec, b.xs, b.xa, D);
        ev->seconds_clean += secs[0];
        for (int a = 0; a < ev->n_attacks; a++)
            ev->seconds[a] += secs[1 + a];
        ev->n_check_failed += cf;
        for (int r = 0; x_adv && r < n; r++)
            memcpy(x_adv + (size_t)b.idx[r] * D, b.xa + (size_t)r * D, D * sizeof(float));
        if (state)
            s = ti_eval_state_save(ctx, ev, state);
    }
    run_buf_free(&b);
    return s;
}

/* ---- the summary --------------------------------------------------------------------------- */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median of v (n, sorted in place); INFINITY sorts last. NAN when n is 0. */
static double median(float *v, int n)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    return n % 2 ? v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + v[n / 2]);
}

static ti_status fmn_medians(ti_ctx *ctx, const ti_eval *ev, ti_eval_summary *s)
{
    float *all = malloc((size_t)(ev->N > 0 ? ev->N : 1) * 2 * sizeof *all), *ok = all + ev->N;
    if (!all)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "eval: out of memory");
    int na = 0, nc = 0;
    for (int i = 0; i < ev->N; i++) {
        const ti_eval_sample *r = &ev->samples[i];
        if (!r->done)
            continue;
        all[na++] = r->min_norm;
        if (r->attack != TI_EVAL_CLEAN_WRONG) {
            ok[nc++] = r->min_norm;
            s->fmn_found += isfinite(r->min_norm);
        }
    }
    s->fmn_median_all = median(all, na);
    s->fmn_median_correct = median(ok, nc);
    free(all);
    return TI_OK;
}

ti_status ti_eval_summarize(ti_ctx *ctx, const ti_eval *ev, ti_eval_summary *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < ev->N; i++) {
        const ti_eval_sample *r = &ev->samples[i];
        if (!r->done)
            continue;
        s->n_done++;
        s->check_forwards += r->check_forwards;
        for (int a = 0; a < ev->n_attacks; a++) {
            s->forwards[a] += r->forwards[a];
            s->backwards[a] += r->backwards[a];
        }
        if (r->attack == TI_EVAL_CLEAN_WRONG)
            continue;
        s->n_clean++;
        /* robust after attack a unless an attack up to a fooled it */
        for (int a = 0; a < ev->n_attacks; a++)
            s->n_robust[a] += r->attack == TI_EVAL_ROBUST || r->attack > a;
    }
    s->total_forwards = s->check_forwards;
    for (int a = 0; a < ev->n_attacks; a++) {
        s->total_forwards += s->forwards[a];
        s->total_backwards += s->backwards[a];
    }
    double n = s->n_done > 0 ? s->n_done : 1;
    s->clean_acc = s->n_clean / n;
    for (int a = 0; a < ev->n_attacks; a++)
        s->robust_acc[a] = s->n_robust[a] / n;
    s->robust_final = ev->n_attacks ? s->robust_acc[ev->n_attacks - 1] : s->clean_acc;
    s->fmn_median_all = s->fmn_median_correct = NAN;
    return ev->p.kind == TI_EVAL_FMN ? fmn_medians(ctx, ev, s) : TI_OK;
}
