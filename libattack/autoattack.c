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

/* Classes each attack needs; n_target_classes are clamped to M - 1 with a warning (the
 * reference crashes there, users asked for this: fra31/auto-attack#110 on GitHub). */
ti_status ti__aa_check(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *p,
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

/* The ensemble's work buffers for one batch of n points of D values, M classes. */
typedef struct aa_work {
    float *xa, *xsub, *asub, *logits;
    int *pred, *ysub, *sub;
    uint64_t *ids;
    long *fsub, *bsub;
} aa_work;

static void aa_work_free(aa_work *w)
{
    free(w->xa); free(w->xsub); free(w->asub); free(w->logits); free(w->pred);
    free(w->ysub); free(w->sub); free(w->ids); free(w->fsub); free(w->bsub);
}

static ti_status aa_work_alloc(ti_ctx *ctx, aa_work *w, int n, size_t D, int M)
{
    size_t nD = (size_t)n * D;
    w->xa = malloc(nD * sizeof(float));
    w->xsub = malloc(nD * sizeof(float));
    w->asub = malloc(nD * sizeof(float));
    w->logits = malloc((size_t)n * M * sizeof(float));
    w->pred = malloc((size_t)n * sizeof(int));
    w->ysub = malloc((size_t)n * sizeof(int));
    w->sub = malloc((size_t)n * sizeof(int));
    w->ids = malloc((size_t)n * sizeof(uint64_t));
    w->fsub = malloc((size_t)n * sizeof(long));
    w->bsub = malloc((size_t)n * sizeof(long));
    if (!w->xa || !w->xsub || !w->asub || !w->logits || !w->pred || !w->ysub || !w->sub ||
        !w->ids || !w->fsub || !w->bsub)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "autoattack: out of memory for %d samples", n);
    return TI_OK;
}

/* Attack a of the list on the batch's points still robust, from their clean x; a point it
 * fools (misclassified on an independent forward pass, inside the threat set: FAB returns
 * its smallest adversarial point even outside the ball) records a and its example. */
static ti_status aa_one_attack(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *q,
                               int a, const float *x, const int *y, const uint64_t *ids,
                               int n, ti_eval_sample *rec, aa_work *w)
{
    size_t D = ti_classifier_dim(f);
    ti_aa_attack k = q->attacks[a];
    int m = 0;
    for (int r = 0; r < n; r++)
        if (rec[r].attack == TI_EVAL_ROBUST) {
            w->sub[m] = r;
            w->ysub[m] = y[r];
            w->ids[m] = ids[r];
            w->fsub[m] = w->bsub[m] = 0;
            memcpy(w->xsub + (size_t)m * D, x + (size_t)r * D, D * sizeof(float));
            m++;
        }
    if (m == 0)
        return TI_OK;
    ti_status s = aa_attack(ctx, f, q, k, w->xsub, w->ysub, w->ids, m, w->asub, w->fsub,
                            w->bsub);
    if (s == TI_OK)
        s = ti__atk_eval(ctx, f, TI_LOSS_CE, w->asub, w->ysub, NULL, m, w->logits, NULL, NULL,
                         w->pred, NULL);
    if (s != TI_OK)
        return s;
    int fooled = 0;
    for (int j = 0; j < m; j++) {
        ti_eval_sample *rc = &rec[w->sub[j]];
        rc->forwards[a] += w->fsub[j];
        rc->backwards[a] += w->bsub[j];
        rc->check_forwards++;
        const float *aj = w->asub + (size_t)j * D;
        if (w->pred[j] != w->ysub[j] &&
            ti_eval_in_threat_set(q->norm, aj, w->xsub + (size_t)j * D, D, q->eps)) {
            rc->attack = a;
            rc->adv_pred = w->pred[j];
            memcpy(w->xa + (size_t)w->sub[j] * D, aj, D * sizeof(float));
            fooled++;
        }
    }
    ti_ctx_log(ctx, 0, "autoattack: %s - %d out of %d successfully perturbed (samples %llu..)",
               ti_aa_attack_name(k), fooled, m, (unsigned long long)ids[0]);
    return TI_OK;
}

/* The final independent check of every reported adversarial example (a new forward pass,
 * the threat set): a failure is logged and the point counted robust. */
static ti_status aa_final_check(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *p,
                                const float *x, const int *y, const uint64_t *ids, int n,
                                ti_eval_sample *rec, aa_work *w, int *check_failed)
{
    size_t D = ti_classifier_dim(f);
    int m = 0;
    for (int r = 0; r < n; r++)
        if (rec[r].attack >= 0) {
            w->sub[m] = r;
            w->ysub[m] = y[r];
            memcpy(w->xsub + (size_t)m * D, w->xa + (size_t)r * D, D * sizeof(float));
            m++;
        }
    ti_status s = ti__atk_eval(ctx, f, TI_LOSS_CE, w->xsub, w->ysub, NULL, m, w->logits, NULL,
                               NULL, w->pred, NULL);
    if (s != TI_OK)
        return s;
    for (int j = 0; j < m; j++) {
        int r = w->sub[j];
        rec[r].check_forwards++;
        const float *a = w->xa + (size_t)r * D, *x0 = x + (size_t)r * D;
        if (w->pred[j] == y[r] || !ti_eval_in_threat_set(p->norm, a, x0, D, p->eps)) {
            ti_ctx_log(ctx, 1, "autoattack: sample %llu: the example reported by %s fails the "
                       "final check (%s); counted robust", (unsigned long long)ids[r],
                       ti_aa_attack_name(p->attacks[rec[r].attack]),
                       w->pred[j] == y[r] ? "classified correctly" : "outside the ball or box");
            rec[r].attack = TI_EVAL_ROBUST;
            rec[r].adv_pred = rec[r].clean_pred;
            memcpy(w->xa + (size_t)r * D, x0, D * sizeof(float));
            (*check_failed)++;
        } else {
            rec[r].adv_pred = w->pred[j];
        }
    }
    return TI_OK;
}

ti_status ti__aa_batch(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *p,
                       const float *x, const int *y, const uint64_t *ids, int n,
                       ti_eval_sample *rec, float *x_adv, double *secs, int *check_failed,
                       ti__eval_tick *tick)
{
    ti_aa_params q;
    ti_status s = ti__aa_check(ctx, f, p, &q);
    if (s != TI_OK || n == 0)
        return s;
    size_t D = ti_classifier_dim(f);
    aa_work w = {0};
    if ((s = aa_work_alloc(ctx, &w, n, D, f->M)) != TI_OK)
        goto done;
    memcpy(w.xa, x, (size_t)n * D * sizeof(float));

    /* 1. clean accuracy: misclassified points are never attacked */
    double t0 = ti_clock();
    s = ti__atk_eval(ctx, f, TI_LOSS_CE, x, y, NULL, n, w.logits, NULL, NULL, w.pred, NULL);
    if (s != TI_OK)
        goto done;
    for (int r = 0; r < n; r++)
        ti__eval_record_clean(&rec[r], y[r], w.pred[r]);
    secs[0] += ti_clock() - t0;

    /* 2. each attack on the points still robust. With eps = 0 the threat set is {x} itself:
     * no attack can succeed, none is run. */
    for (int a = 0; a < p->n_attacks; a++) {
        t0 = ti_clock();
        if (p->eps > 0.0f && (s = aa_one_attack(ctx, f, &q, a, x, y, ids, n, rec, &w)) != TI_OK)
            goto done;
        secs[1 + a] += ti_clock() - t0;
        if ((s = ti__eval_tick_add(ctx, tick, n)) != TI_OK)
            goto done;
    }

    /* 3. the final check */
    t0 = ti_clock();
    s = aa_final_check(ctx, f, &q, x, y, ids, n, rec, &w, check_failed);
    secs[0] += ti_clock() - t0;
    if (s == TI_OK && x_adv)
        memcpy(x_adv, w.xa, (size_t)n * D * sizeof(float));
done:
    aa_work_free(&w);
    return s;
}
