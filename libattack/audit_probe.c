/* The indicators of attack failure that run an attack (Pintor et al., "Indicators of attack
 * failure: debugging and improving optimization of adversarial examples", NeurIPS 2022, §3;
 * pralab/IndicatorsOfAttackFailure, src/indicators/indicators.py), on the probe set.
 *
 * The probe is APGD-CE at the evaluation's norm, eps and seed, with every sample's stream
 * keyed on its global index: for an AutoAttack evaluation it retraces the evaluation's own
 * APGD-CE run (up to the first success, where the evaluation stopped and the probe goes on).
 * It returns its own verdict per sample (an iterate was misclassified on the attack's forward
 * pass) and the loss after each iteration. From those and two new forward passes on the
 * returned points:
 *  - silent success: the path held an adversarial iterate but the returned point is not
 *    adversarial (the reference re-predicts the path x_seq);
 *  - incomplete optimisation (points the probe did not break): the losses scaled to [0, 1]
 *    over the run, made monotone (the best so far), still rise by more than 0.05 over the
 *    last 10 iterations (the reference's values);
 *  - transfer failure: the returned point's verdict changes from one forward pass to the
 *    next. The reference crafts on a surrogate and tests on the target; here the attacked
 *    and the evaluated model are the same, so the verdict can only fail to carry over when
 *    the model's answers change between queries, which the evaluation's final check also
 *    counts (ti_eval.n_check_failed).
 * The unconstrained attack failure runs APGD-CE again with a radius that covers the whole
 * box: a sound attack must then break every point; one that fails (without a silent success)
 * cannot be trusted within eps either. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The evaluation's APGD-CE, or APGD's defaults when it ran another attack, at the given
 * radius, one restart, on the CE loss. */
static ti_apgd_params probe_params(const ti_eval *ev, float eps, int iters)
{
    ti_apgd_params q = ev->p.kind == TI_EVAL_AUTOATTACK ? ev->p.aa.apgd_ce
                                                         : ti_apgd_params_default();
    q.norm = ev->p.norm;
    q.eps = eps;
    q.seed = ev->p.seed;
    q.loss = TI_LOSS_CE;
    q.n_restarts = 1;
    q.n_iter = iters > 0 ? iters : q.n_iter;
    q.trace_best = q.trace_eta = q.trace_loss = NULL;
    return q;
}

typedef struct probe_work {
    float *xa, *trace, *logits;
    int *pred1, *pred2;
    long *fwd, *bwd;
    unsigned char *fooled;
} probe_work;

static void probe_free(probe_work *w)
{
    free(w->xa); free(w->trace); free(w->logits); free(w->pred1); free(w->pred2);
    free(w->fwd); free(w->bwd); free(w->fooled);
}

static ti_status probe_alloc(ti_ctx *ctx, probe_work *w, int n, size_t D, int M, int K)
{
    w->xa = malloc((size_t)n * D * sizeof *w->xa);
    w->trace = malloc((size_t)n * (K > 0 ? K : 1) * sizeof *w->trace);
    w->logits = malloc((size_t)n * M * sizeof *w->logits);
    w->pred1 = malloc((size_t)n * sizeof *w->pred1);
    w->pred2 = malloc((size_t)n * sizeof *w->pred2);
    w->fwd = calloc((size_t)n, sizeof *w->fwd);
    w->bwd = calloc((size_t)n, sizeof *w->bwd);
    w->fooled = calloc((size_t)n, 1);
    if (!w->xa || !w->trace || !w->logits || !w->pred1 || !w->pred2 || !w->fwd || !w->bwd ||
        !w->fooled)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "audit: out of memory for %d samples", n);
    return TI_OK;
}

/* APGD-CE q on the probe set into w (x_adv, own verdicts, trace when asked), then `checks`
 * new forward passes on the returned points (pred1, pred2). */
static ti_status probe_attack(ti_ctx *ctx, ti_audit *a, const ti_classifier *f,
                              const ti_apgd_params *q, const ti__audit_set *pr, probe_work *w,
                              int traced, int checks)
{
    ti__atk_io io = {.ids = pr->ids, .fwd = w->fwd, .bwd = w->bwd, .fooled = w->fooled,
                     .trace = traced ? w->trace : NULL};
    ti_status s = ti__apgd(ctx, f, q, pr->x, pr->y, pr->n, w->xa, NULL, &io);
    for (int i = 0; i < pr->n; i++) {
        a->forwards += w->fwd[i];
        a->backwards += w->bwd[i];
    }
    if (s == TI_OK)
        s = ti__audit_eval(ctx, a, f, TI_LOSS_CE, pr, w->xa, w->logits, NULL, w->pred1, NULL);
    if (s == TI_OK && checks > 1)
        s = ti__audit_eval(ctx, a, f, TI_LOSS_CE, pr, w->xa, w->logits, NULL, w->pred2, NULL);
    return s;
}

/* Adversarial on a pass: misclassified, inside the threat set exactly. */
static int adversarial(const ti__audit_set *pr, int i, const float *xa, int pred, ti_norm norm,
                       float eps, size_t D)
{
    return pred != pr->y[i] &&
           ti_eval_in_threat_set(norm, xa + (size_t)i * D, pr->x + (size_t)i * D, D, eps);
}

/* Pintor et al.'s test on one run's losses t (K): scaled to [0, 1] by their range, made
 * monotone (APGD maximises: the running maximum), the rise over the last `window` entries
 * (window < K). */
static double late_rise(const float *t, int K, int window)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < K; k++) {
        lo = t[k] < lo ? t[k] : lo;
        hi = t[k] > hi ? t[k] : hi;
    }
    if (!(hi > lo) || !isfinite(hi - lo)) /* flat: nothing moved */
        return 0;
    int start = K - window;
    double best = 0; /* the best scaled loss up to the window's first entry */
    for (int k = 0; k <= start; k++)
        best = (t[k] - lo) / (hi - lo) > best ? (t[k] - lo) / (hi - lo) : best;
    return 1.0 - best; /* the best at the end is the maximum: 1 */
}

static void probe_notes(ti_ctx *ctx, ti_audit *a, const ti_eval *ev, const ti__audit_set *pr,
                        const probe_work *w, const ti_apgd_params *q, const ti_audit_params *p,
                        size_t D)
{
    int n = pr->n, K = q->n_iter, silent = 0, late = 0, judged = 0, flip = 0;
    /* the reference looks at the last min(10, K) steps, which for a run of 10 steps or fewer
     * is the whole run, where any progress at all would count: at most half the run */
    int win = p->window < K / 2 ? p->window : (K / 2 > 0 ? K / 2 : 1);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        int e = pr->idx[i];
        int adv1 = adversarial(pr, i, w->xa, w->pred1[i], q->norm, q->eps, D);
        int adv2 = adversarial(pr, i, w->xa, w->pred2[i], q->norm, q->eps, D);
        int ss = w->fooled[i] && !adv1;
        ti__audit_mark(a, e, TI_AUDIT_SILENT_SUCCESS, ss);
        ti__audit_mark(a, e, TI_AUDIT_TRANSFER, adv1 != adv2);
        silent += ss;
        flip += adv1 != adv2;
        /* only the points it attacked (their trace was written) and did not break */
        const float *t = w->trace + (size_t)i * K;
        if (!w->fooled[i] && isfinite(t[0])) {
            double rise = K > 1 ? late_rise(t, K, win) : 0.0;
            ti__audit_mark(a, e, TI_AUDIT_INCOMPLETE, rise > p->incomplete_tol);
            late += rise > p->incomplete_tol;
            judged++;
            worst = rise > worst ? rise : worst;
        }
    }
    if (silent)
        ti__audit_note(ctx, a, TI_AUDIT_SILENT_SUCCESS, 1, n, silent, (double)silent / n, 0,
                       "on %d of %d samples APGD-CE saw an adversarial iterate on its path but "
                       "the point it returned is not adversarial on a new forward pass: the "
                       "attack's verdicts do not hold (a randomized model?)", silent, n);
    else
        ti__audit_note(ctx, a, TI_AUDIT_SILENT_SUCCESS, 0, n, 0, 0, 0,
                       "on all %d samples APGD-CE returned an adversarial point wherever its "
                       "path held one", n);
    if (late)
        ti__audit_note(ctx, a, TI_AUDIT_INCOMPLETE, 1, judged, late, worst, p->incomplete_tol,
                       "on %d of the %d samples APGD-CE did not break, its best loss still "
                       "rose by up to %.0f%% of its range in the last %d of %d iterations (> "
                       "%.0f%%): the attack stopped before converging; give it more "
                       "iterations", late, judged, 100 * worst, win, K,
                       100 * (double)p->incomplete_tol);
    else
        ti__audit_note(ctx, a, TI_AUDIT_INCOMPLETE, 0, judged, 0, worst, p->incomplete_tol,
                       "on the %d samples APGD-CE did not break, its best loss had settled "
                       "(largest late rise %.3g of its range <= %g)", judged, worst,
                       (double)p->incomplete_tol);
    int cf = ev->n_check_failed;
    if (flip || cf)
        ti__audit_note(ctx, a, TI_AUDIT_TRANSFER, 1, n, flip, (double)flip / n, 0,
                       "the verdict on an adversarial point does not carry over to the next "
                       "query: %d of %d probe points changed verdict between two forward "
                       "passes, and the evaluation's final check turned back %d of its "
                       "examples", flip, n, cf);
    else
        ti__audit_note(ctx, a, TI_AUDIT_TRANSFER, 0, n, 0, 0, 0,
                       "every verdict carried over: %d probe points kept theirs on a second "
                       "forward pass, and the evaluation's final check turned back none", n);
}

/* Why the probe cannot run at this threat model, or NULL. */
static const char *no_probe(const ti_eval *ev, int n, int bounded)
{
    if (ev->p.norm == TI_NORM_L0)
        return "APGD has no L0 version";
    if (bounded && !(ev->p.eps > 0.0f && isfinite(ev->p.eps)))
        return "no finite eps > 0: nothing to attack";
    if (n == 0)
        return "no evaluated, correctly classified samples to probe";
    return NULL;
}

ti_status ti__audit_probe(ti_ctx *ctx, ti_audit *a, const ti_eval *ev, const ti_classifier *f,
                          const ti__audit_set *pr, const ti_audit_params *p)
{
    static const ti_audit_check probed[3] = {TI_AUDIT_SILENT_SUCCESS, TI_AUDIT_INCOMPLETE,
                                             TI_AUDIT_TRANSFER};
    const char *why = p->probe ? no_probe(ev, pr->n, 1) : "off (the probe was turned off)";
    for (int k = 0; why && k < 3; k++)
        ti__audit_skip(a, probed[k], "%s", why);
    if (why)
        return TI_OK;
    size_t D = ti_classifier_dim(f);
    ti_apgd_params q = probe_params(ev, ev->p.eps, p->probe_iter);
    q.stop_on_success = 0; /* the whole path of every point (same verdicts) */
    a->probe_iter = q.n_iter;
    probe_work w = {0};
    ti_status s = probe_alloc(ctx, &w, pr->n, D, f->M, q.n_iter);
    for (size_t k = 0; s == TI_OK && k < (size_t)pr->n * q.n_iter; k++)
        w.trace[k] = NAN; /* rows the attack does not write stay NAN */
    if (s == TI_OK)
        s = probe_attack(ctx, a, f, &q, pr, &w, 1, 2);
    if (ti__audit_no_gradient(ctx, &s))
        for (int k = 0; k < 3; k++)
            ti__audit_skip(a, probed[k], "the classifier gives no gradient (TI_ERR_UNSUPPORTED; "
                           "see unavailable_gradients)");
    else if (s == TI_OK)
        probe_notes(ctx, a, ev, pr, &w, &q, p, D);
    probe_free(&w);
    return s;
}

/* Per sample: the unbounded attack failed, and its verdict said so too (a silent success,
 * own verdict yes and new pass no, is not counted, as the reference). */
static void unconstrained_notes(ti_ctx *ctx, ti_audit *a, const ti__audit_set *pr,
                                const probe_work *w, const ti_apgd_params *q, size_t D)
{
    int failed = 0;
    for (int i = 0; i < pr->n; i++) {
        int fail = !w->fooled[i] && !adversarial(pr, i, w->xa, w->pred1[i], q->norm, q->eps, D);
        ti__audit_mark(a, pr->idx[i], TI_AUDIT_UNCONSTRAINED, fail);
        failed += fail;
    }
    if (failed)
        ti__audit_note(ctx, a, TI_AUDIT_UNCONSTRAINED, 1, pr->n, failed,
                       (double)failed / pr->n, 0,
                       "APGD-CE with a radius covering the whole box (%s %g, %d iterations) "
                       "failed on %d of %d samples: the attack cannot leave the class even "
                       "without a bound, so its failures within eps are no evidence of "
                       "robustness (zero or misleading gradients?)", ti_norm_name(q->norm),
                       (double)q->eps, q->n_iter, failed, pr->n);
    else
        ti__audit_note(ctx, a, TI_AUDIT_UNCONSTRAINED, 0, pr->n, 0, 0, 0,
                       "APGD-CE with a radius covering the whole box (%s %g) broke all %d "
                       "samples", ti_norm_name(q->norm), (double)q->eps, pr->n);
}

ti_status ti__audit_unconstrained(ti_ctx *ctx, ti_audit *a, const ti_eval *ev,
                                  const ti_classifier *f, const ti__audit_set *pr,
                                  const ti_audit_params *p)
{
    const char *why = no_probe(ev, pr->n, 0);
    if (why) {
        ti__audit_skip(a, TI_AUDIT_UNCONSTRAINED, "%s", why);
        return TI_OK;
    }
    size_t D = ti_classifier_dim(f);
    /* the diameter of [0,1]^D: every point of the box lies in the ball */
    float eps = ev->p.norm == TI_NORM_LINF ? 1.0f
                : ev->p.norm == TI_NORM_L2 ? (float)sqrt((double)D)
                                           : (float)D;
    ti_apgd_params q = probe_params(ev, eps, p->probe_iter);
    q.stop_on_success = 1;
    probe_work w = {0};
    ti_status s = probe_alloc(ctx, &w, pr->n, D, f->M, 0);
    if (s == TI_OK)
        s = probe_attack(ctx, a, f, &q, pr, &w, 0, 1);
    if (ti__audit_no_gradient(ctx, &s))
        ti__audit_skip(a, TI_AUDIT_UNCONSTRAINED, "the classifier gives no gradient "
                       "(TI_ERR_UNSUPPORTED; see unavailable_gradients)");
    else if (s == TI_OK)
        unconstrained_notes(ctx, a, pr, &w, &q, D);
    probe_free(&w);
    return s;
}
