/* AutoAttack's checks of the model and of the run (Croce & Hein, ICML 2020; fra31/auto-attack,
 * autoattack/checks.py, with the explanations of its flags_doc.md): a randomized model
 * (outputs that change between identical passes), probabilities given instead of logits,
 * zero input gradients at APGD's random start, too few classes for the DLR and targeted
 * attacks, and Square breaking points the gradient-based attacks could not. The thresholds
 * are the reference's; the numbers are kept per sample where the reference only warns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- randomized and softmax_output: n_repeat identical passes --------------------------- */

/* The L2 distance of two rows of M outputs, each scaled to unit L2 norm (+1e-10, as the
 * reference), in double. */
static double unit_dist(const float *u, const float *v, int M)
{
    double nu = 0, nv = 0, d = 0;
    for (int m = 0; m < M; m++) {
        nu += (double)u[m] * u[m];
        nv += (double)v[m] * v[m];
    }
    nu = sqrt(nu) + 1e-10;
    nv = sqrt(nv) + 1e-10;
    for (int m = 0; m < M; m++) {
        double e = u[m] / nu - v[m] / nv;
        d += e * e;
    }
    return sqrt(d);
}

/* Per sample: the largest distance between two passes, and whether the prediction changed;
 * the check fires on either. out (R, n, M) and pred (R, n) hold the R passes. */
static void randomized(ti_ctx *ctx, ti_audit *a, const ti__audit_set *chk, int R, int M,
                       const float *out, const int *pred, float tol)
{
    int n = chk->n, flagged = 0, changed = 0, corr_differs = 0;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double di = 0;
        int flip = 0;
        for (int c = 0; c < R; c++)
            for (int e = c + 1; e < R; e++) {
                double d = unit_dist(out + ((size_t)c * n + i) * M, out + ((size_t)e * n + i) * M,
                                     M);
                di = d > di || isnan(d) ? d : di;
                flip |= pred[(size_t)c * n + i] != pred[(size_t)e * n + i];
            }
        int fired = flip || !(di <= tol);
        ti__audit_mark(a, chk->idx[i], TI_AUDIT_RANDOMIZED, fired);
        flagged += fired;
        changed += flip;
        worst = di > worst || isnan(di) ? di : worst;
    }
    for (int c = 1; c < R; c++) { /* the reference also compares the passes' accuracies */
        int k0 = 0, kc = 0;
        for (int i = 0; i < n; i++) {
            k0 += pred[i] == chk->y[i];
            kc += pred[(size_t)c * n + i] == chk->y[i];
        }
        corr_differs |= k0 != kc;
    }
    if (flagged)
        ti__audit_note(ctx, a, TI_AUDIT_RANDOMIZED, 1, n, flagged, worst, tol,
                       "%d identical passes over %d samples disagree on %d of them (largest "
                       "distance of unit-scaled outputs %.3g > %g; %d predictions change%s): a "
                       "randomized model, which fixed-gradient attacks overestimate; evaluate "
                       "it with expectation over transformation", R, n, flagged, worst,
                       (double)tol, changed, corr_differs ? ", and so does the accuracy" : "");
    else
        ti__audit_note(ctx, a, TI_AUDIT_RANDOMIZED, 0, n, 0, worst, tol,
                       "%d identical passes over %d samples agree (largest distance of "
                       "unit-scaled outputs %.3g <= %g)", R, n, worst, (double)tol);
}

/* All outputs in [-tol, 1 + tol] with every row summing to 1 within tol: probabilities. */
static void softmax_output(ti_ctx *ctx, ti_audit *a, int n, int M, const float *out, float tol)
{
    double lo = INFINITY, hi = -INFINITY, dev = 0;
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int m = 0; m < M; m++) {
            double v = out[(size_t)i * M + m];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += v;
        }
        double e = fabs(sum - 1.0);
        dev = e > dev || isnan(e) ? e : dev;
    }
    int fired = hi < 1.0 + tol && lo > -(double)tol && dev < tol;
    if (fired)
        ti__audit_note(ctx, a, TI_AUDIT_SOFTMAX, 1, n, n, dev, tol,
                       "the outputs of %d samples look like probabilities (all in [%.3g, %.3g], "
                       "rows sum to 1 within %.2g): attacks need the logits before the "
                       "softmax; on probabilities their gradients vanish or lose precision",
                       n, lo, hi, dev);
    else
        ti__audit_note(ctx, a, TI_AUDIT_SOFTMAX, 0, n, 0, dev, tol,
                       "the outputs are not probabilities (range [%.3g, %.3g], rows sum to 1 "
                       "within %.3g)", lo, hi, dev);
}

/* The passes, then both checks; pred0 (n) keeps the first pass's predictions. */
static ti_status repeated_passes(ti_ctx *ctx, ti_audit *a, const ti_classifier *f,
                                 const ti__audit_set *chk, const ti_audit_params *p,
                                 int *pred0)
{
    int n = chk->n, M = f->M, R = p->n_repeat;
    float *out = malloc((size_t)R * n * M * sizeof *out);
    int *pred = malloc((size_t)R * n * sizeof *pred);
    ti_status s = out && pred ? TI_OK
                              : ti_ctx_error(ctx, TI_ERR_NOMEM, "audit: out of memory for %d "
                                             "passes of %d samples", R, n);
    for (int c = 0; c < R && s == TI_OK; c++)
        s = ti__audit_eval(ctx, a, f, TI_LOSS_CE, chk, NULL, out + (size_t)c * n * M, NULL,
                           pred + (size_t)c * n, NULL);
    if (s == TI_OK) {
        randomized(ctx, a, chk, R, M, out, pred, p->random_tol);
        softmax_output(ctx, a, n, M, out, p->softmax_tol);
        memcpy(pred0, pred, (size_t)n * sizeof *pred0);
    }
    free(out);
    free(pred);
    return s;
}

/* ---- zero_gradient: the DLR loss's gradient at a random point of the ball --------------- */

/* On the samples chk of the check set that are classified correctly: the ones APGD attacks
 * (at a misclassified point DLR can be flat for good reason: it is the constant 1 where the
 * label ranks third). */
static ti_status zero_gradient(ti_ctx *ctx, ti_audit *a, const ti_eval *ev,
                               const ti_classifier *f, const ti__audit_set *chk)
{
    int n = chk->n, M = f->M;
    size_t D = ti_classifier_dim(f);
    const ti_eval_params *ep = &ev->p;
    ti_loss loss = M >= ti_loss_min_classes(TI_LOSS_DLR) ? TI_LOSS_DLR : TI_LOSS_CE;
    if (n == 0) {
        ti__audit_skip(a, TI_AUDIT_ZERO_GRADIENT, "no correctly classified samples to check");
        return TI_OK;
    }
    float *xs = malloc((size_t)n * D * sizeof *xs), *g = malloc((size_t)n * D * sizeof *g);
    float *logits = malloc((size_t)n * M * sizeof *logits);
    ti_status s = xs && g && logits ? TI_OK
                                    : ti_ctx_error(ctx, TI_ERR_NOMEM, "audit: out of memory "
                                                   "for %d samples", n);
    /* APGD starts at a random point of the ball (L-inf, L2); elsewhere at x */
    int ball = (ep->norm == TI_NORM_LINF || ep->norm == TI_NORM_L2) && isfinite(ep->eps);
    for (int i = 0; s == TI_OK && i < n; i++) {
        const float *x0 = chk->x + (size_t)i * D;
        if (ball) {
            ti_rng r;
            ti__atk_stream(&r, ep->seed, chk->ids[i], ti__salt(TI__SALT_AUDIT, 0, 0));
            ti__random_start(&r, ep->norm, x0, ep->eps, D, xs + (size_t)i * D);
        } else {
            memcpy(xs + (size_t)i * D, x0, D * sizeof *xs);
        }
    }
    if (s == TI_OK)
        s = ti__audit_eval(ctx, a, f, loss, chk, xs, logits, NULL, NULL, g);
    if (ti__audit_no_gradient(ctx, &s))
        ti__audit_skip(a, TI_AUDIT_ZERO_GRADIENT, "the classifier gives no gradient "
                       "(TI_ERR_UNSUPPORTED; see unavailable_gradients)");
    else if (s == TI_OK) {
        int zero = 0;
        for (int i = 0; i < n; i++) {
            int nz = 0;
            for (size_t k = 0; k < D && !nz; k++)
                nz = g[(size_t)i * D + k] != 0.0f;
            ti__audit_mark(a, chk->idx[i], TI_AUDIT_ZERO_GRADIENT, !nz);
            zero += !nz;
        }
        if (zero)
            ti__audit_note(ctx, a, TI_AUDIT_ZERO_GRADIENT, 1, n, zero, (double)zero / n, 0,
                           "%d of %d samples have an all-zero gradient of the %s loss at a "
                           "random point of the ball: gradient-based attacks cannot move "
                           "there (saturated outputs, or a quantising or non-differentiable "
                           "step: try BPDA, or attacks that need no gradient such as Square)",
                           zero, n, ti_loss_name(loss));
        else
            ti__audit_note(ctx, a, TI_AUDIT_ZERO_GRADIENT, 0, n, 0, 0, 0,
                           "the gradient of the %s loss at a random point of the ball is "
                           "non-zero on all %d samples", ti_loss_name(loss), n);
    }
    free(xs);
    free(g);
    free(logits);
    return s;
}

/* ---- n_classes: what the attacks of the list need ------------------------------------------ */

static void n_classes(ti_ctx *ctx, ti_audit *a, const ti_eval *ev, int M)
{
    const ti_aa_params *aa = &ev->p.aa;
    int need = 2;
    const char *who = "every attack";
    char why[200] = "";
    for (int k = 0; ev->p.kind == TI_EVAL_AUTOATTACK && k < aa->n_attacks; k++) {
        int nk = 2, nt = 0;
        switch (aa->attacks[k]) {
        case TI_AA_APGD_DLR: nk = 3; break;
        case TI_AA_APGD_T: nt = aa->apgd_t.n_target_classes; nk = nt + 1 > 4 ? nt + 1 : 4; break;
        case TI_AA_FAB_T: nt = aa->fab_t.n_target_classes; nk = nt + 1; break;
        default: break;
        }
        if (nk > need) {
            need = nk;
            who = ti_aa_attack_name(aa->attacks[k]);
            if (nt > 0)
                snprintf(why, sizeof why, " (%d target classes%s)", nt,
                         nt > M - 1 ? ", clamped to the model's M - 1: the run attacked fewer "
                                      "targets than its version asks" : "");
        }
    }
    if (M < need)
        ti__audit_note(ctx, a, TI_AUDIT_N_CLASSES, 1, 0, 0, M, need,
                       "%s needs %d classes%s but the model has %d: the evaluation is weaker "
                       "than the version it names", who, need, why, M);
    else
        ti__audit_note(ctx, a, TI_AUDIT_N_CLASSES, 0, 0, 0, M, need,
                       "the model's %d classes are enough for %s (%d needed)", M, who, need);
}

/* ---- square_only: Square broke what the gradient-based attacks before it could not ------- */

static void square_only(ti_ctx *ctx, ti_audit *a, const ti_eval *ev, float tol)
{
    int sq = -1;
    for (int k = 0; ev->p.kind == TI_EVAL_AUTOATTACK && k < ev->n_attacks && sq < 0; k++)
        if (ev->p.aa.attacks[k] == TI_AA_SQUARE)
            sq = k;
    if (sq < 0) {
        ti__audit_skip(a, TI_AUDIT_SQUARE, "Square is not in the attack list");
        return;
    }
    if (sq == 0) {
        ti__audit_skip(a, TI_AUDIT_SQUARE, "Square runs first: no gradient-based attack ran "
                       "before it to compare with");
        return;
    }
    int done = 0, reached = 0, broke = 0;
    for (int i = 0; i < ev->N; i++) {
        const ti_eval_sample *r = &ev->samples[i];
        if (!r->done)
            continue;
        done++;
        /* Square saw the points that every attack before it left robust */
        if (r->attack == TI_EVAL_ROBUST || r->attack >= sq) {
            reached++;
            broke += r->attack == sq;
            ti__audit_mark(a, i, TI_AUDIT_SQUARE, r->attack == sq);
        }
    }
    if (done == 0) {
        ti__audit_skip(a, TI_AUDIT_SQUARE, "no evaluated samples");
        return;
    }
    char before[160] = "";
    for (int k = 0; k < sq; k++) {
        size_t len = strlen(before);
        snprintf(before + len, sizeof before - len, "%s%s", k ? ", " : "",
                 ti_aa_attack_name(ev->p.aa.attacks[k]));
    }
    double share = (double)broke / done;
    if (share > tol)
        ti__audit_note(ctx, a, TI_AUDIT_SQUARE, 1, reached, broke, share, tol,
                       "Square broke %d of the %d samples that the attacks before it (%s) left "
                       "robust, lowering the robust accuracy by %.2f%% (> %.2f%%): those "
                       "attacks are failing on this model (gradient masking?); give Square "
                       "more queries and restarts, or design an adaptive attack", broke,
                       reached, before, 100 * share, 100 * (double)tol);
    else
        ti__audit_note(ctx, a, TI_AUDIT_SQUARE, 0, reached, broke, share, tol,
                       "Square broke %d of the %d samples that the attacks before it (%s) left "
                       "robust (%.2f%% of the evaluated samples, <= %.2f%%)", broke, reached,
                       before, 100 * share, 100 * (double)tol);
}

ti_status ti__audit_aa_checks(ti_ctx *ctx, ti_audit *a, const ti_eval *ev,
                              const ti_classifier *f, const ti__audit_set *chk,
                              const ti_audit_params *p)
{
    int n = chk->n;
    int *pred = malloc((size_t)(n > 0 ? n : 1) * sizeof *pred);
    unsigned char *ok = malloc((size_t)(n > 0 ? n : 1));
    ti__audit_set good = {0};
    ti_status s = pred && ok ? TI_OK
                             : ti_ctx_error(ctx, TI_ERR_NOMEM, "audit: out of memory for %d "
                                            "samples", n);
    if (s == TI_OK && n == 0) {
        ti__audit_skip(a, TI_AUDIT_RANDOMIZED, "no samples to check (n_check = 0 or none)");
        ti__audit_skip(a, TI_AUDIT_SOFTMAX, "no samples to check (n_check = 0 or none)");
        ti__audit_skip(a, TI_AUDIT_ZERO_GRADIENT, "no samples to check");
    } else if (s == TI_OK && (s = repeated_passes(ctx, a, f, chk, p, pred)) == TI_OK) {
        for (int i = 0; i < n; i++)
            ok[i] = pred[i] == chk->y[i];
        s = ti__audit_subset(ctx, chk, ok, ti_classifier_dim(f), &good);
        if (s == TI_OK)
            s = zero_gradient(ctx, a, ev, f, &good);
    }
    ti__audit_set_free(&good);
    free(pred);
    free(ok);
    if (s != TI_OK)
        return s;
    n_classes(ctx, a, ev, f->M);
    square_only(ctx, a, ev, p->square_tol);
    return TI_OK;
}
