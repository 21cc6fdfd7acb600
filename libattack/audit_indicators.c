/* Two indicators of attack failure that need no attack run (Pintor et al., "Indicators of
 * attack failure: debugging and improving optimization of adversarial examples", NeurIPS 2022,
 * §3; pralab/IndicatorsOfAttackFailure, src/indicators/indicators.py):
 *  - unavailable gradients: the attack's loss has an all-zero input gradient (the reference
 *    counts ||g||_0 = 0), or no gradient at all (the reference catches a failing backward;
 *    here a vjp that reports TI_ERR_UNSUPPORTED, or non-finite values);
 *  - unstable predictions: the loss's mean relative change under small uniform noise,
 *    (1/gamma) sum_k |L(x + d_k) - L(x)| / |L(x)| with d_k uniform in [-r/2, r/2]^D, capped
 *    at 1 (the reference's gamma = 100 draws of radius r = 8/255). The reference leaves the
 *    cut to the reader; thinice flags a sample above 0.1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- unavailable gradients: CE's input gradient at x --------------------------------------- */

static void unavailable_note(ti_ctx *ctx, ti_audit *a, int n, int bad, const char *why)
{
    if (bad)
        ti__audit_note(ctx, a, TI_AUDIT_UNAVAILABLE, 1, n, bad, (double)bad / n, 0,
                       "%d of %d samples have no usable gradient of the CE loss at x (%s): "
                       "gradient-based attacks are blind there, so their failures are no "
                       "evidence of robustness", bad, n, why);
    else
        ti__audit_note(ctx, a, TI_AUDIT_UNAVAILABLE, 0, n, 0, 0, 0,
                       "the gradient of the CE loss at x is finite and non-zero on all %d "
                       "samples", n);
}

ti_status ti__audit_unavailable(ti_ctx *ctx, ti_audit *a, const ti_classifier *f,
                                const ti__audit_set *chk)
{
    int n = chk->n, M = f->M;
    size_t D = ti_classifier_dim(f);
    if (n == 0) {
        ti__audit_skip(a, TI_AUDIT_UNAVAILABLE, "no samples to check");
        return TI_OK;
    }
    float *g = malloc((size_t)n * D * sizeof *g), *logits = malloc((size_t)n * M * sizeof *logits);
    ti_status s = g && logits ? TI_OK
                              : ti_ctx_error(ctx, TI_ERR_NOMEM, "audit: out of memory for %d "
                                             "samples", n);
    if (s == TI_OK)
        s = ti__audit_eval(ctx, a, f, TI_LOSS_CE, chk, NULL, logits, NULL, NULL, g);
    if (ti__audit_no_gradient(ctx, &s)) { /* the graph is interrupted: no gradient at all */
        for (int i = 0; i < n; i++)
            ti__audit_mark(a, chk->idx[i], TI_AUDIT_UNAVAILABLE, 1);
        unavailable_note(ctx, a, n, n, "the classifier's gradient is unsupported");
    } else if (s == TI_OK) {
        int zero = 0, nonfinite = 0;
        for (int i = 0; i < n; i++) {
            const float *gi = g + (size_t)i * D;
            int nz = 0, fin = 1;
            for (size_t k = 0; k < D; k++) {
                nz |= gi[k] != 0.0f;
                fin &= isfinite(gi[k]) != 0;
            }
            ti__audit_mark(a, chk->idx[i], TI_AUDIT_UNAVAILABLE, !nz || !fin);
            zero += !nz && fin;
            nonfinite += !fin;
        }
        char why[96];
        snprintf(why, sizeof why, "%d all-zero, %d not finite", zero, nonfinite);
        unavailable_note(ctx, a, n, zero + nonfinite, why);
    }
    free(g);
    free(logits);
    return s;
}

/* ---- unstable predictions: the loss under small uniform noise ------------------------------- */

typedef struct unstable_work {
    float *xs, *logits, *l0, *l;
    double *acc;
    ti_rng *rng;
} unstable_work;

static void unstable_free(unstable_work *w)
{
    free(w->xs); free(w->logits); free(w->l0); free(w->l); free(w->acc); free(w->rng);
}

static ti_status unstable_alloc(ti_ctx *ctx, unstable_work *w, int n, size_t D, int M)
{
    w->xs = malloc((size_t)n * D * sizeof *w->xs);
    w->logits = malloc((size_t)n * M * sizeof *w->logits);
    w->l0 = malloc((size_t)n * sizeof *w->l0);
    w->l = malloc((size_t)n * sizeof *w->l);
    w->acc = calloc((size_t)n, sizeof *w->acc);
    w->rng = malloc((size_t)n * sizeof *w->rng);
    if (!w->xs || !w->logits || !w->l0 || !w->l || !w->acc || !w->rng)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "audit: out of memory for %d samples", n);
    return TI_OK;
}

/* The per-sample metrics acc / draws (capped at 1) against tol. */
static void unstable_note(ti_ctx *ctx, ti_audit *a, const ti__audit_set *pr,
                          const double *acc, int draws, float noise, float tol)
{
    int n = pr->n, flagged = 0;
    double worst = 0, mean = 0;
    for (int i = 0; i < n; i++) {
        double m = acc[i] / draws;
        m = m < 1.0 || isnan(m) ? m : 1.0;
        int fired = !(m <= tol);
        ti__audit_mark(a, pr->idx[i], TI_AUDIT_UNSTABLE, fired);
        flagged += fired;
        worst = m > worst || isnan(m) ? m : worst;
        mean += m / n;
    }
    if (flagged)
        ti__audit_note(ctx, a, TI_AUDIT_UNSTABLE, 1, n, flagged, worst, tol,
                       "on %d of %d samples the CE loss changes by more than %.0f%% on "
                       "average under uniform noise of width %.3g (largest %.3g, mean %.3g): "
                       "the loss surface is noisy or erratic, so gradient steps mislead",
                       flagged, n, 100 * (double)tol, (double)noise, worst, mean);
    else
        ti__audit_note(ctx, a, TI_AUDIT_UNSTABLE, 0, n, 0, worst, tol,
                       "the CE loss changes by %.3g on average under uniform noise of width "
                       "%.3g (largest %.3g <= %g over %d samples)", mean, (double)noise, worst,
                       (double)tol, n);
}

ti_status ti__audit_unstable(ti_ctx *ctx, ti_audit *a, const ti_eval *ev,
                             const ti_classifier *f, const ti__audit_set *pr,
                             const ti_audit_params *p)
{
    int n = pr->n, M = f->M;
    size_t D = ti_classifier_dim(f);
    if (n == 0) {
        ti__audit_skip(a, TI_AUDIT_UNSTABLE, "no correctly classified samples to probe");
        return TI_OK;
    }
    unstable_work w = {0};
    ti_status s = unstable_alloc(ctx, &w, n, D, M);
    if (s == TI_OK)
        s = ti__audit_eval(ctx, a, f, TI_LOSS_CE, pr, NULL, w.logits, w.l0, NULL, NULL);
    for (int i = 0; s == TI_OK && i < n; i++)
        ti__atk_stream(&w.rng[i], ev->p.seed, pr->ids[i], ti__salt(TI__SALT_AUDIT, 1, 0));
    for (int k = 0; s == TI_OK && k < p->n_noise; k++) {
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < D; j++) {
                float d = (ti_rng_uniform(&w.rng[i], 0.0f, 1.0f) - 0.5f) * p->noise;
                w.xs[(size_t)i * D + j] = ti__clampf(pr->x[(size_t)i * D + j] + d, 0.0f, 1.0f);
            }
        s = ti__audit_eval(ctx, a, f, TI_LOSS_CE, pr, w.xs, w.logits, w.l, NULL, NULL);
        for (int i = 0; s == TI_OK && i < n; i++) {
            double ref = fabs((double)w.l0[i]);
            w.acc[i] += fabs((double)w.l[i] - w.l0[i]) / (ref > 0 ? ref : 1.0);
        }
        if (s == TI_OK && k % 8 == 7)
            s = ti_ctx_progress(ctx, "audit", k, 0); /* a heartbeat */
    }
    if (s == TI_OK)
        unstable_note(ctx, a, pr, w.acc, p->n_noise, p->noise, p->unstable_tol);
    unstable_free(&w);
    return s;
}
