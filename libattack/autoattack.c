/* AutoAttack's ensemble (Croce & Hein, ICML 2020, §4 and the reference's
 * run_standard_evaluation): clean pass, then every attack of the list on the points still
 * robust, each from the clean x, with an independent verification after each attack and a
 * final check of every reported adversarial example. docs/attacks.md#autoattack. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "thinice/autoattack.h"

static const char *const aa_names[TI_AA_ATTACK_COUNT] = {"apgd-ce", "apgd-dlr", "fab",
                                                         "square",  "apgd-t",   "fab-t"};

const char *ti_aa_attack_name(ti_aa_attack a)
{
    return (unsigned)a < TI_AA_ATTACK_COUNT ? aa_names[a] : "?";
}

int ti_aa_attack_has_norm(ti_aa_attack a, ti_norm norm)
{
    if ((unsigned)a >= TI_AA_ATTACK_COUNT)
        return 0;
    if (norm == TI_NORM_L1)
        return a == TI_AA_APGD_CE || a == TI_AA_APGD_DLR || a == TI_AA_APGD_T;
    return norm == TI_NORM_LINF || norm == TI_NORM_L2;
}

ti_status ti_aa_attack_parse(const char *name, ti_aa_attack *out)
{
    for (int i = 0; i < TI_AA_ATTACK_COUNT; i++)
        if (strcmp(name, aa_names[i]) == 0) {
            *out = (ti_aa_attack)i;
            return TI_OK;
        }
    return TI_ERR_ARG;
}

/* standard's settings for every attack (the versions' table of docs/attacks.md#autoattack) */
static void aa_base(ti_aa_params *p, ti_norm norm, float eps)
{
    memset(p, 0, sizeof *p);
    p->norm = norm;
    p->eps = eps;
    p->batch_size = 250;
    p->apgd_ce = ti_apgd_params_default();
    p->apgd_ce.stop_on_success = 1;
    p->apgd_dlr = p->apgd_ce;
    p->apgd_dlr.loss = TI_LOSS_DLR;
    p->apgd_t = p->apgd_ce;
    p->apgd_t.n_target_classes = 9;
    p->fab = ti_fab_params_default();
    p->fab_t = p->fab;
    p->fab_t.targeted = 1;
    p->fab_t.n_target_classes = 9;
    p->fab_t.n_restarts = 1;
    p->square = ti_square_params_default();
}

ti_aa_params ti_aa_params_default(void)
{
    ti_aa_params p;
    ti_aa_params_version(NULL, "standard", TI_NORM_LINF, 8.0f / 255.0f, &p);
    return p;
}

ti_status ti_aa_params_version(ti_ctx *ctx, const char *version, ti_norm norm, float eps,
                               ti_aa_params *out)
{
    static const ti_aa_attack standard[] = {TI_AA_APGD_CE, TI_AA_APGD_T, TI_AA_FAB_T,
                                            TI_AA_SQUARE};
    static const ti_aa_attack plus[] = {TI_AA_APGD_CE, TI_AA_APGD_DLR,
                                        TI_AA_FAB,     TI_AA_SQUARE,
                                        TI_AA_APGD_T,  TI_AA_FAB_T};
    aa_base(out, norm, eps);
    if (!version)
        return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: NULL version");
    if (strcmp(version, "standard") == 0) {
        out->n_attacks = 4;
        memcpy(out->attacks, standard, sizeof standard);
        snprintf(out->version, sizeof out->version, "standard");
        return TI_OK;
    }
    if (strcmp(version, "plus") == 0) {
        out->n_attacks = 6;
        memcpy(out->attacks, plus, sizeof plus);
        out->apgd_ce.n_restarts = 5;
        out->apgd_dlr.n_restarts = 5;
        out->fab.n_restarts = 5;
        snprintf(out->version, sizeof out->version, "plus");
        return TI_OK;
    }
    /* a custom list "a,b,c" */
    snprintf(out->version, sizeof out->version, "custom");
    const char *s = version;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char name[32];
        ti_aa_attack a;
        if (len == 0 || len >= sizeof name)
            return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: bad attack list '%s'", version);
        memcpy(name, s, len);
        name[len] = '\0';
        if (ti_aa_attack_parse(name, &a) != TI_OK)
            return ti_ctx_error(ctx, TI_ERR_ARG,
                                "autoattack: unknown attack '%s' (standard, plus, or a list of "
                                "apgd-ce, apgd-dlr, fab, square, apgd-t, fab-t)", name);
        if (out->n_attacks == TI_AA_MAX_ATTACKS)
            return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: more than %d attacks in '%s'",
                                TI_AA_MAX_ATTACKS, version);
        out->attacks[out->n_attacks++] = a;
        s += len;
        if (*s == ',')
            s++;
    }
    if (out->n_attacks == 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: empty attack list");
    return TI_OK;
}

ti_status ti_aa_result_new(ti_ctx *ctx, const ti_aa_params *p, int N, ti_aa_result **out)
{
    *out = NULL;
    if (!p || N < 0 || p->n_attacks < 0 || p->n_attacks > TI_AA_MAX_ATTACKS)
        return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: bad parameters or N = %d", N);
    ti_aa_result *r = calloc(1, sizeof *r);
    if (!r || !(r->samples = calloc(N > 0 ? (size_t)N : 1, sizeof *r->samples))) {
        free(r);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "autoattack: out of memory for %d results", N);
    }
    r->N = N;
    r->n_attacks = p->n_attacks;
    memcpy(r->attacks, p->attacks, sizeof r->attacks);
    for (int i = 0; i < N; i++)
        r->samples[i].attack = TI_AA_ROBUST;
    *out = r;
    return TI_OK;
}

void ti_aa_result_free(ti_aa_result *r)
{
    if (!r)
        return;
    free(r->samples);
    free(r);
}

void ti_aa_result_summarize(ti_aa_result *r)
{
    int done = 0, clean = 0, robust[TI_AA_MAX_ATTACKS] = {0};
    for (int i = 0; i < r->N; i++) {
        const ti_aa_sample *s = &r->samples[i];
        if (!s->done)
            continue;
        done++;
        if (s->attack == TI_AA_CLEAN_WRONG)
            continue;
        clean++;
        /* robust after attack a unless an attack up to a fooled it */
        for (int a = 0; a < r->n_attacks; a++)
            robust[a] += s->attack == TI_AA_ROBUST || s->attack > a;
    }
    r->n_done = done;
    r->clean_acc = done ? (double)clean / done : 0.0;
    for (int a = 0; a < r->n_attacks; a++)
        r->robust_acc[a] = done ? (double)robust[a] / done : 0.0;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Classes each attack needs; n_target_classes are clamped to M - 1 with a warning (the
 * reference crashes there, users asked for this: fra31/auto-attack#110 on GitHub). */
static ti_status aa_check(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *p,
                          ti_aa_params *q)
{
    *q = *p;
    if (p->n_attacks < 1 || p->n_attacks > TI_AA_MAX_ATTACKS)
        return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: %d attacks (1..%d)", p->n_attacks,
                            TI_AA_MAX_ATTACKS);
    if (p->norm != TI_NORM_LINF && p->norm != TI_NORM_L2 && p->norm != TI_NORM_L1)
        return ti_ctx_error(ctx, TI_ERR_UNSUPPORTED, "autoattack: norm %s not supported (linf, l2)",
                            ti_norm_name(p->norm));
    int M = f->M;
    for (int a = 0; a < p->n_attacks; a++) {
        ti_aa_attack k = p->attacks[a];
        if ((unsigned)k >= TI_AA_ATTACK_COUNT)
            return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: unknown attack %d", (int)k);
        /* L1: only L1-APGD; AutoAttack's own L1 "standard" version (its 3eps-2eps-eps
         * schedule, L1 FAB-T and Square) is left out */
        if (!ti_aa_attack_has_norm(k, p->norm))
            return ti_ctx_error(ctx, TI_ERR_UNSUPPORTED,
                                "autoattack: %s has no l1 version; at l1 only lists of "
                                "apgd-ce, apgd-dlr and apgd-t run", ti_aa_attack_name(k));
        if (k == TI_AA_APGD_DLR && M < 3)
            return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: apgd-dlr needs at least 3 classes "
                                "(the model has %d); drop it from the list", M);
        if (k == TI_AA_APGD_T && M < 4)
            return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: apgd-t needs at least 4 classes "
                                "(the model has %d); use a custom list without it", M);
    }
    ti_apgd_params *ap[] = {&q->apgd_ce, &q->apgd_dlr, &q->apgd_t};
    for (int i = 0; i < 3; i++) {
        ap[i]->norm = p->norm;
        ap[i]->eps = p->eps;
        ap[i]->seed = p->seed;
    }
    ti_fab_params *fp[] = {&q->fab, &q->fab_t};
    for (int i = 0; i < 2; i++) {
        fp[i]->norm = p->norm;
        fp[i]->eps = p->eps;
        fp[i]->seed = p->seed;
    }
    q->square.norm = p->norm;
    q->square.eps = p->eps;
    q->square.seed = p->seed;
    if (q->apgd_t.n_target_classes > M - 1 || q->fab_t.n_target_classes > M - 1) {
        ti_ctx_log(ctx, 1, "autoattack: %d target classes asked but the model has %d classes; "
                   "using %d", q->apgd_t.n_target_classes, M, M - 1);
        if (q->apgd_t.n_target_classes > M - 1)
            q->apgd_t.n_target_classes = M - 1;
        if (q->fab_t.n_target_classes > M - 1)
            q->fab_t.n_target_classes = M - 1;
    }
    return TI_OK;
}

/* Runs attack k on the m points xs (m, D); the per-point counters go to fwd/bwd. */
static ti_status aa_attack(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *q,
                           ti_aa_attack k, const float *xs, const int *ys, const uint64_t *ids,
                           int m, float *adv, long *fwd, long *bwd)
{
    ti__atk_io io = {.ids = ids, .fwd = fwd, .bwd = bwd, .fooled = NULL};
    switch (k) {
    case TI_AA_APGD_CE: return ti__apgd(ctx, f, &q->apgd_ce, xs, ys, m, adv, NULL, &io);
    case TI_AA_APGD_DLR: return ti__apgd(ctx, f, &q->apgd_dlr, xs, ys, m, adv, NULL, &io);
    case TI_AA_APGD_T: return ti__apgd_targeted(ctx, f, &q->apgd_t, xs, ys, m, adv, NULL, &io);
    case TI_AA_SQUARE: return ti__square(ctx, f, &q->square, xs, ys, m, adv, NULL, &io);
    case TI_AA_FAB: return ti__fab(ctx, f, &q->fab, xs, ys, m, adv, NULL, &io);
    case TI_AA_FAB_T: return ti__fab(ctx, f, &q->fab_t, xs, ys, m, adv, NULL, &io);
    default: return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: unknown attack %d", (int)k);
    }
}

/* In the threat set and in the box, exactly: ||xa - x|| <= eps with no tolerance, as
 * AutoAttack counts FAB's successes (a point at res > eps is robust). The attacks' own
 * projections land inside in exact arithmetic (ti__within, ti__fit_l2), so nothing they
 * find at the edge of the ball is lost. */
static int in_threat_set(ti_norm norm, const float *xa, const float *x, size_t D, float eps)
{
    for (size_t i = 0; i < D; i++)
        if (!(xa[i] >= 0.0f && xa[i] <= 1.0f)) /* also rejects NaN */
            return 0;
    return ti_norm_dist(norm, xa, x, D) <= (double)eps;
}

ti_status ti_aa_run_slice(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *p,
                          const float *x, const int *y, int first, int count, float *x_adv,
                          ti_aa_result *res)
{
    ti_ctx_clear_error(ctx);
    if (!f || !p || !res || !x || !y)
        return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: NULL argument");
    if (first < 0 || count < 0 || first + count > res->N)
        return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: slice [%d, %d) outside the %d samples",
                            first, first + count, res->N);
    if (res->n_attacks != p->n_attacks ||
        memcmp(res->attacks, p->attacks, (size_t)p->n_attacks * sizeof *p->attacks) != 0)
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "autoattack: the result was made for another attack list");
    ti_aa_params q;
    ti_status s = aa_check(ctx, f, p, &q);
    if (s != TI_OK)
        return s;
    size_t D = ti_classifier_dim(f);
    int M = f->M;

    /* the slice's samples not done yet, gathered: local row r is sample idx[r] */
    int n = 0;
    for (int i = first; i < first + count; i++)
        n += !res->samples[i].done;
    if (n == 0)
        return TI_OK;
    float *xs = malloc((size_t)n * D * sizeof *xs), *xa = malloc((size_t)n * D * sizeof *xa);
    float *xsub = malloc((size_t)n * D * sizeof *xsub), *asub = malloc((size_t)n * D * sizeof *asub);
    float *logits = malloc((size_t)n * M * sizeof *logits);
    int *idx = malloc((size_t)n * sizeof *idx), *ys = malloc((size_t)n * sizeof *ys);
    int *pred = malloc((size_t)n * sizeof *pred), *ysub = malloc((size_t)n * sizeof *ysub);
    int *sub = malloc((size_t)n * sizeof *sub);
    uint64_t *ids = malloc((size_t)n * sizeof *ids);
    long *fsub = malloc((size_t)n * sizeof *fsub), *bsub = malloc((size_t)n * sizeof *bsub);
    ti_aa_sample *rec = calloc((size_t)n, sizeof *rec);
    double secs[TI_AA_MAX_ATTACKS] = {0}, t0;
    if (!xs || !xa || !xsub || !asub || !logits || !idx || !ys || !pred || !ysub || !sub ||
        !ids || !fsub || !bsub || !rec) {
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "autoattack: out of memory for a slice of %d", n);
        goto done;
    }
    n = 0;
    for (int i = first; i < first + count; i++)
        if (!res->samples[i].done) {
            if (y[i] < 0 || y[i] >= M) {
                s = ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: label y[%d] = %d not in [0, %d)",
                                 i, y[i], M);
                goto done;
            }
            idx[n] = i;
            ys[n] = y[i];
            ids[n] = (uint64_t)i;
            memcpy(xs + (size_t)n * D, x + (size_t)i * D, D * sizeof *xs);
            n++;
        }
    memcpy(xa, xs, (size_t)n * D * sizeof *xa);

    /* 1. clean accuracy: misclassified points are never attacked */
    t0 = now_seconds();
    s = ti__atk_eval(ctx, f, TI_LOSS_CE, xs, ys, NULL, n, logits, NULL, NULL, pred, NULL);
    if (s != TI_OK)
        goto done;
    double t_clean = now_seconds() - t0;
    for (int r = 0; r < n; r++) {
        rec[r] = (ti_aa_sample){.done = 1, .label = ys[r], .clean_pred = pred[r],
                                .adv_pred = pred[r], .forwards = 1,
                                .attack = pred[r] == ys[r] ? TI_AA_ROBUST : TI_AA_CLEAN_WRONG};
    }

    /* 2. each attack on the points still robust, from their clean x. With eps = 0 the
     * threat set is {x} itself: no attack can succeed, none is run. */
    for (int a = 0; a < p->n_attacks && p->eps > 0.0f; a++) {
        ti_aa_attack k = p->attacks[a];
        char label[48];
        snprintf(label, sizeof label, "autoattack:%s", ti_aa_attack_name(k));
        if ((s = ti_ctx_progress(ctx, label, a, p->n_attacks)) != TI_OK)
            goto done;
        int m = 0;
        for (int r = 0; r < n; r++)
            if (rec[r].attack == TI_AA_ROBUST) {
                sub[m] = r;
                ysub[m] = ys[r];
                ids[m] = (uint64_t)idx[r];
                fsub[m] = bsub[m] = 0;
                memcpy(xsub + (size_t)m * D, xs + (size_t)r * D, D * sizeof *xs);
                m++;
            }
        if (m == 0)
            continue;
        t0 = now_seconds();
        s = aa_attack(ctx, f, &q, k, xsub, ysub, ids, m, asub, fsub, bsub);
        if (s != TI_OK)
            goto done;
        /* independent verification: misclassified, and inside the threat set (FAB returns
         * its smallest adversarial point even when it lies outside the eps ball) */
        s = ti__atk_eval(ctx, f, TI_LOSS_CE, asub, ysub, NULL, m, logits, NULL, NULL, pred, NULL);
        if (s != TI_OK)
            goto done;
        secs[a] += now_seconds() - t0;
        int fooled = 0;
        for (int j = 0; j < m; j++) {
            ti_aa_sample *rc = &rec[sub[j]];
            rc->forwards += fsub[j] + 1;
            rc->backwards += bsub[j];
            const float *aj = asub + (size_t)j * D;
            if (pred[j] != ysub[j] &&
                in_threat_set(p->norm, aj, xsub + (size_t)j * D, D, p->eps)) {
                rc->attack = a;
                rc->adv_pred = pred[j];
                memcpy(xa + (size_t)sub[j] * D, aj, D * sizeof *xa);
                fooled++;
            }
        }
        ti_ctx_log(ctx, 0, "autoattack: %s - %d out of %d successfully perturbed (samples %d..%d)",
                   ti_aa_attack_name(k), fooled, m, first, first + count - 1);
    }

    /* 3. final independent check of every reported adversarial example */
    {
        int m = 0;
        for (int r = 0; r < n; r++)
            if (rec[r].attack >= 0) {
                sub[m] = r;
                ysub[m] = ys[r];
                memcpy(xsub + (size_t)m * D, xa + (size_t)r * D, D * sizeof *xa);
                m++;
            }
        s = ti__atk_eval(ctx, f, TI_LOSS_CE, xsub, ysub, NULL, m, logits, NULL, NULL, pred, NULL);
        if (s != TI_OK)
            goto done;
        for (int j = 0; j < m; j++) {
            int r = sub[j];
            rec[r].forwards++;
            const float *a = xa + (size_t)r * D, *x0 = xs + (size_t)r * D;
            if (pred[j] == ys[r] || !in_threat_set(p->norm, a, x0, D, p->eps)) {
                ti_ctx_log(ctx, 1, "autoattack: sample %d: the example reported by %s fails the "
                           "final check (%s); counted robust", idx[r],
                           ti_aa_attack_name(p->attacks[rec[r].attack]),
                           pred[j] == ys[r] ? "classified correctly" : "outside the ball or box");
                rec[r].attack = TI_AA_ROBUST;
                rec[r].adv_pred = rec[r].clean_pred;
                memcpy(xa + (size_t)r * D, x0, D * sizeof *xa);
                res->n_check_failed++;
            } else {
                rec[r].adv_pred = pred[j];
            }
        }
    }

    /* 4. commit the slice */
    for (int r = 0; r < n; r++) {
        const float *a = xa + (size_t)r * D, *x0 = xs + (size_t)r * D;
        rec[r].linf = (float)ti_norm_dist(TI_NORM_LINF, a, x0, D);
        rec[r].l2 = (float)ti_norm_dist(TI_NORM_L2, a, x0, D);
        res->samples[idx[r]] = rec[r];
        if (x_adv)
            memcpy(x_adv + (size_t)idx[r] * D, a, D * sizeof *xa);
    }
    res->seconds_clean += t_clean;
    for (int a = 0; a < p->n_attacks; a++)
        res->seconds[a] += secs[a];
done:
    free(xs);
    free(xa);
    free(xsub);
    free(asub);
    free(logits);
    free(idx);
    free(ys);
    free(pred);
    free(ysub);
    free(sub);
    free(ids);
    free(fsub);
    free(bsub);
    free(rec);
    return s;
}

ti_status ti_aa_run(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *p, const float *x,
                    const int *y, int N, float *x_adv, ti_aa_result *res)
{
    if (!p || !res || res->N != N)
        return ti_ctx_error(ctx, TI_ERR_ARG, "autoattack: result made for %d samples, run on %d",
                            res ? res->N : -1, N);
    int bs = p->batch_size > 0 ? p->batch_size : 250;
    for (int first = 0; first < N; first += bs) {
        int count = N - first < bs ? N - first : bs;
        ti_status s = ti_aa_run_slice(ctx, f, p, x, y, first, count, x_adv, res);
        if (s != TI_OK)
            return s;
    }
    ti_aa_result_summarize(res);
    /* the reference's warning: Square much stronger than every other attack suggests
     * that the gradient-based attacks are failing (gradient masking) */
    for (int a = 0; a < p->n_attacks; a++)
        if (p->attacks[a] == TI_AA_SQUARE && p->n_attacks >= 2) {
            double other = res->clean_acc;
            for (int b = 0; b < p->n_attacks; b++)
                if (b != a && res->robust_acc[b] < other)
                    other = res->robust_acc[b];
            if (res->robust_acc[a] < other - 0.002)
                ti_ctx_log(ctx, 1, "autoattack: Square lowered robust accuracy to %.2f%%, below "
                           "%.2f%% of the other attacks: the gradient-based attacks may be "
                           "failing (gradient masking?)", 100 * res->robust_acc[a], 100 * other);
        }
    return TI_OK;
}
