/* One batch of the evaluation harness for the attacks that run alone (PGD, FGSM, FMN): the
 * clean pass, the attack, and the independent check that decides what counts as broken
 * (misclassified on a new forward pass, in the box, inside the ball exactly). The ensemble's
 * batch is in autoattack.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct single_work {
    float *logits, *norms;
    int *pred, *target, *rows; /* rows: the points FMN attacks */
    long *fwd, *bwd;
} single_work;

static void single_work_free(single_work *w)
{
    free(w->logits); free(w->norms); free(w->pred); free(w->target); free(w->rows);
    free(w->fwd); free(w->bwd);
}

static ti_status single_work_alloc(ti_ctx *ctx, single_work *w, int n, int M)
{
    w->logits = malloc((size_t)n * M * sizeof(float));
    w->norms = malloc((size_t)n * sizeof(float));
    w->pred = malloc((size_t)n * sizeof(int));
    w->target = malloc((size_t)n * sizeof(int));
    w->rows = malloc((size_t)n * sizeof(int));
    w->fwd = calloc((size_t)n, sizeof(long));
    w->bwd = calloc((size_t)n, sizeof(long));
    if (!w->logits || !w->norms || !w->pred || !w->target || !w->rows || !w->fwd || !w->bwd)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "eval: out of memory for a batch of %d", n);
    return TI_OK;
}

/* FMN on the points whose distance it measures: all of them when it measures distances to
 * the predicted class, else the correctly classified ones only (a misclassified point's
 * distance is 0 without an attack; the reference implementations attack only those too).
 * Those rows are gathered into buffers of their own when some are left out. */
static ti_status run_fmn(ti_ctx *ctx, const ti_classifier *f, const ti_eval_params *p,
                         const float *x, const int *y, int n, float *x_adv, single_work *w)
{
    ti_fmn_params q = p->fmn;
    q.norm = p->norm;
    q.seed = p->seed;
    q.targeted = 0;
    int m = 0;
    for (int r = 0; r < n; r++) {
        w->norms[r] = INFINITY;
        if (p->fmn_predicted || w->pred[r] == y[r])
            w->rows[m++] = r;
    }
    for (int r = 0; r < n; r++)
        w->target[r] = p->fmn_predicted ? w->pred[r] : y[r];
    if (m == n) {
        ti__atk_io io = {.fwd = w->fwd, .bwd = w->bwd};
        return ti__fmn(ctx, f, &q, x, w->target, n, x_adv, w->norms, NULL, NULL, NULL, &io);
    }
    if (m == 0)
        return TI_OK;
    size_t D = ti_classifier_dim(f);
    float *xs = malloc(2 * (size_t)m * D * sizeof(float)), *as = xs ? xs + (size_t)m * D : NULL;
    float *ns = malloc((size_t)m * sizeof(float));
    int *ts = malloc((size_t)m * sizeof(int));
    long *cnt = calloc(2 * (size_t)m, sizeof(long));
    ti_status s = TI_ERR_NOMEM;
    if (xs && ns && ts && cnt) {
        for (int k = 0; k < m; k++) {
            memcpy(xs + (size_t)k * D, x + (size_t)w->rows[k] * D, D * sizeof(float));
            ts[k] = w->target[w->rows[k]];
        }
        ti__atk_io io = {.fwd = cnt, .bwd = cnt + m};
        s = ti__fmn(ctx, f, &q, xs, ts, m, as, ns, NULL, NULL, NULL, &io);
        for (int k = 0; k < m && s == TI_OK; k++) {
            int r = w->rows[k];
            memcpy(x_adv + (size_t)r * D, as + (size_t)k * D, D * sizeof(float));
            w->norms[r] = ns[k];
            w->fwd[r] += cnt[k];
            w->bwd[r] += cnt[m + k];
        }
    } else {
        ti_ctx_error(ctx, s, "fmn: out of memory for %d points", m);
    }
    free(xs);
    free(ns);
    free(ts);
    free(cnt);
    return s;
}

/* The attack itself on the whole batch (points misclassified at x are left alone by PGD,
 * and by FMN unless it measures distances to the predicted class). */
static ti_status run_attack(ti_ctx *ctx, const ti_classifier *f, const ti_eval_params *p,
                            const float *x, const int *y, const uint64_t *ids, int n,
                            float *x_adv, single_work *w)
{
    if (p->kind == TI_EVAL_FMN)
        return run_fmn(ctx, f, p, x, y, n, x_adv, w);
    ti__atk_io io = {.ids = ids, .fwd = w->fwd, .bwd = w->bwd, .fooled = NULL};
    ti_pgd_params q = p->pgd;
    q.norm = p->norm;
    q.eps = p->eps;
    q.seed = p->seed;
    return ti__pgd(ctx, f, &q, x, y, n, x_adv, NULL, &io);
}

ti_status ti__eval_single_batch(ti_ctx *ctx, const ti_classifier *f, const ti_eval_params *p,
                                const float *x, const int *y, const uint64_t *ids, int n,
                                ti_eval_sample *rec, float *x_adv, double *secs,
                                ti__eval_tick *tick)
{
    size_t D = ti_classifier_dim(f);
    single_work w = {0};
    ti_status s = single_work_alloc(ctx, &w, n, f->M);
    double t0 = ti_clock();
    if (s == TI_OK)
        s = ti__atk_eval(ctx, f, TI_LOSS_CE, x, y, NULL, n, w.logits, NULL, NULL, w.pred, NULL);
    if (s != TI_OK)
        goto done;
    for (int r = 0; r < n; r++)
        ti__eval_record_clean(&rec[r], y[r], w.pred[r]);
    secs[0] += ti_clock() - t0;
    memcpy(x_adv, x, (size_t)n * D * sizeof(float));
    /* with eps = 0 nothing can be broken: only FMN runs, to measure its distances */
    if (p->eps > 0.0f || p->kind == TI_EVAL_FMN) {
        t0 = ti_clock();
        if ((s = run_attack(ctx, f, p, x, y, ids, n, x_adv, &w)) != TI_OK ||
            (s = ti__atk_eval(ctx, f, TI_LOSS_CE, x_adv, y, NULL, n, w.logits, NULL, NULL,
                              w.pred, NULL)) != TI_OK)
            goto done;
        secs[1] += ti_clock() - t0;
    }
    for (int r = 0; r < n; r++) {
        ti_eval_sample *c = &rec[r];
        const float *a = x_adv + (size_t)r * D, *x0 = x + (size_t)r * D;
        c->forwards[0] = w.fwd[r];
        c->backwards[0] = w.bwd[r];
        if (p->kind == TI_EVAL_FMN)
            c->min_norm = c->attack == TI_EVAL_CLEAN_WRONG && !p->fmn_predicted ? 0.0f
                                                                                : w.norms[r];
        if (p->eps > 0.0f || p->kind == TI_EVAL_FMN)
            c->check_forwards++;
        if (c->attack == TI_EVAL_ROBUST && w.pred[r] != y[r] &&
            ti_eval_in_threat_set(p->norm, a, x0, D, p->eps)) {
            c->attack = 0;
            c->adv_pred = w.pred[r];
        } else {
            memcpy(x_adv + (size_t)r * D, x0, D * sizeof(float)); /* not an example */
        }
    }
    s = ti__eval_tick_add(ctx, tick, n);
done:
    single_work_free(&w);
    return s;
}
