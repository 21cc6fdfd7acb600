/* FMN, the Fast Minimum-Norm attack: Pintor, Roli, Brendel & Biggio, "Fast minimum-norm
 * adversarial attacks through adaptive norm constraints", NeurIPS 2021 (Alg. 1), with the
 * authors' code's details (docs/fmn.md; pralab/Fast-Minimum-Norm-FMN-Attack, src/attacks/fmn.py).
 *
 * Per sample, delta = 0, epsilon = +inf (L0: 1), best = worst = ||max(x, 1 - x)||_p:
 *   for i = 0 .. K-1:
 *     alpha_i, gamma_i by cosine annealing from (alpha0, gamma0) to (alpha_K, gamma_K)
 *     L = margin at x + delta (untargeted z_y - max_{j!=y} z_j; targeted max_{j!=t} z_j - z_t)
 *     g = grad of -L;  n = ||delta||_p
 *     if adversarial and n <= best: best = n, best_adv = x + delta
 *     epsilon: adversarial      -> min(epsilon (1 - gamma_i), best)     (shrink)
 *              found before     -> epsilon (1 + gamma_i)                (grow back)
 *              never found      -> n + |L| / ||g||_dual                 (linear estimate)
 *     epsilon = min(epsilon, worst)
 *     delta = clip01(x + proj_eps(delta + alpha_i g / ||g||_2)) - x */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thinice/fmn.h"
#include "thinice/projection.h"

ti_fmn_params ti_fmn_params_default(void)
{
    return (ti_fmn_params){.norm = TI_NORM_LINF, .steps = 10, .alpha0 = 1.0f,
                           .alpha_final = -1.0f, .gamma0 = 0.05f, .gamma_final = 0.001f,
                           .targeted = 0, .seed = 0};
}

/* runner-up class: argmax_{j != c} z_j (ties: lowest index) */
static int best_other(const float *z, int M, int c)
{
    int j = c == 0 ? 1 : 0;
    for (int m = j + 1; m < M; m++)
        if (m != c && z[m] > z[j])
            j = m;
    return j;
}

/* d(-L)/dlogits at the logits of this very pass, so the runner-up class is exact:
 * untargeted -L = z_j - z_y, targeted -L = z_t - z_j (j the runner-up, kept in guess). */
typedef struct margin_seed {
    const int *y;
    int targeted;
    int *guess;
} margin_seed;

static void margin_dlogits(void *user, const float *logits, int N, int M, float *dl)
{
    margin_seed *ms = user;
    memset(dl, 0, (size_t)N * M * sizeof *dl);
    for (int k = 0; k < N; k++) {
        int y = ms->y[k], j = best_other(logits + (size_t)k * M, M, y);
        ms->guess[k] = j;
        dl[(size_t)k * M + (ms->targeted ? y : j)] += 1.0f;
        dl[(size_t)k * M + (ms->targeted ? j : y)] -= 1.0f;
    }
}

static ti_status check_params(ti_ctx *ctx, const ti_classifier *f, const ti_fmn_params *p,
                              const float *x, const int *y, int N, float *x_adv, float *norms)
{
    if (!f || !p || N < 0 || (N > 0 && (!x || !y || !x_adv || !norms)))
        return ti_ctx_error(ctx, TI_ERR_ARG, "fmn: NULL classifier, parameters or buffers, or N < 0");
    if (!f->forward || !f->vjp || f->M < 2)
        return ti_ctx_error(ctx, TI_ERR_ARG, "fmn: the classifier needs forward, vjp and M >= 2 (M=%d)",
                            f->M);
    if ((unsigned)p->norm >= TI_NORM_COUNT)
        return ti_ctx_error(ctx, TI_ERR_ARG, "fmn: unknown norm %d", (int)p->norm);
    if (p->steps < 1 || !(p->alpha0 > 0) || !(p->alpha_final <= p->alpha0) ||
        !(p->gamma0 >= 0 && p->gamma0 < 1) || !(p->gamma_final >= 0 && p->gamma_final < 1))
        return ti_ctx_error(ctx, TI_ERR_ARG, "fmn: need steps >= 1, alpha0 > 0, alpha_final <= "
                            "alpha0, 0 <= gamma < 1 (got steps=%d alpha0=%g alpha_final=%g "
                            "gamma0=%g gamma_final=%g)", p->steps, p->alpha0, p->alpha_final,
                            p->gamma0, p->gamma_final);
    for (int i = 0; i < N; i++)
        if (y[i] < 0 || y[i] >= f->M)
            return ti_ctx_error(ctx, TI_ERR_ARG, "fmn: %s y[%d]=%d outside [0, %d)",
                                p->targeted ? "target" : "label", i, y[i], f->M);
    return TI_OK;
}

ti_status ti_atk_fmn_trace(ti_ctx *ctx, const ti_classifier *f, const ti_fmn_params *p,
                           const float *x, const int *y, int N, float *x_adv, float *norms,
                           float *eps_trace, float *norm_trace, ti_atk_stats *st)
{
    return ti__fmn(ctx, f, p, x, y, N, x_adv, norms, eps_trace, norm_trace, st, NULL);
}

ti_status ti__fmn(ti_ctx *ctx, const ti_classifier *f, const ti_fmn_params *p, const float *x,
                  const int *y, int N, float *x_adv, float *norms, float *eps_trace,
                  float *norm_trace, ti_atk_stats *st, const ti__atk_io *io)
{
    ti_status s = check_params(ctx, f, p, x, y, N, x_adv, norms);
    if (s != TI_OK)
        return s;
    ti_atk_stats cnt = {0, 0};
    if (st)
        *st = cnt;
    if (N == 0)
        return TI_OK;
    const ti_norm pn = p->norm;
    const ti_norm dual = pn == TI_NORM_LINF ? TI_NORM_L1 : pn == TI_NORM_L1 ? TI_NORM_LINF : TI_NORM_L2;
    const int M = f->M, K = p->steps;
    const size_t D = ti_classifier_dim(f);
    const float a0 = p->alpha0, aK = p->alpha_final < 0 ? p->alpha0 / 100 : p->alpha_final;
    memcpy(x_adv, x, (size_t)N * D * sizeof *x);

    int B = N < 512 ? N : 512; /* samples are independent: chunks bound the memory */
    size_t BD = (size_t)B * D;
    float *xa = malloc(BD * sizeof(float));      /* (B, D) current points x + delta */
    float *g = malloc(BD * sizeof(float));       /* (B, D) gradients of -L */
    float *logits = malloc((size_t)B * M * sizeof(float));
    float *delta = malloc(D * sizeof(float));
    double *eps = malloc((size_t)B * sizeof(double)), *best = malloc((size_t)B * sizeof(double));
    double *worst = malloc((size_t)B * sizeof(double));
    int *guess = malloc((size_t)B * sizeof(int));
    int *pred = malloc((size_t)B * sizeof(int));
    unsigned char *found = malloc((size_t)B);
    void *pwork = malloc(ti_proj_work_bytes(D));
    if (!xa || !g || !logits || !delta || !eps || !best || !worst || !guess || !pred ||
        !found || !pwork) {
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "fmn: out of memory for %d samples of %zu values", B, D);
        goto done;
    }

    for (int c0 = 0; c0 < N && s == TI_OK; c0 += B) {
        int n = N - c0 < B ? N - c0 : B;
        const float *xc = x + (size_t)c0 * D;
        const int *yc = y + c0;
        float *advc = x_adv + (size_t)c0 * D;
        memcpy(xa, xc, (size_t)n * D * sizeof(float));
        margin_seed ms = {yc, p->targeted, guess};
        for (int k = 0; k < n; k++) {
            found[k] = 0;
            eps[k] = pn == TI_NORM_L0 ? 1.0 : INFINITY;
            /* the largest norm a perturbation inside the box can have */
            const float *xk = xc + (size_t)k * D;
            for (size_t i = 0; i < D; i++)
                delta[i] = xk[i] > 1.0f - xk[i] ? xk[i] : 1.0f - xk[i];
            worst[k] = pn == TI_NORM_L0 ? (double)D : ti_norm_of(pn, delta, D);
            best[k] = worst[k];
        }
        for (int it = 0; it < K; it++) {
            double c = (1.0 + cos(M_PI * it / K)) / 2.0; /* cosine annealing, 1 -> 0 */
            double alpha = aK + (a0 - aK) * c;
            double gamma = p->gamma_final + (p->gamma0 - p->gamma_final) * c;

            /* gradient of -L in one forward and one backward (the margin's runner-up comes
             * from the same pass's logits) */
            s = ti_classifier_grad(f, xa, n, margin_dlogits, &ms, logits, g);
            if (s == TI_OK && it % 16 == 15) /* a heartbeat for long runs, and cancellation */
                s = ti_ctx_progress(ctx, "fmn", it + 1, 0);
            if (s != TI_OK)
                goto done;
            ti__atk_count_range(&cnt, io, c0, n, 1, 1);
            ti_argmax_rows(logits, n, M, pred);

            for (int k = 0; k < n; k++) {
                const float *z = logits + (size_t)k * M, *xk = xc + (size_t)k * D;
                float *xak = xa + (size_t)k * D, *gk = g + (size_t)k * D;
                int yk = yc[k], j = guess[k];
                double L = p->targeted ? (double)z[j] - z[yk] : (double)z[yk] - z[j];
                int is_adv = p->targeted ? pred[k] == yk : pred[k] != yk;
                double nrm = ti_norm_dist(pn, xak, xk, D);
                if (is_adv && (nrm <= best[k] || !found[k])) {
                    best[k] = nrm;
                    memcpy(advc + (size_t)k * D, xak, D * sizeof(float));
                }
                found[k] |= is_adv;

                /* the epsilon step (docs/fmn.md) */
                if (pn == TI_NORM_L0) {
                    if (is_adv)
                        eps[k] = fmin(fmin(eps[k] - 1, floor(eps[k] * (1 - gamma))), best[k]);
                    else
                        eps[k] = fmax(eps[k] + 1, floor(eps[k] * (1 + gamma)));
                    eps[k] = fmax(eps[k], 0.0);
                } else if (is_adv) {
                    eps[k] = fmin(eps[k] * (1 - gamma), best[k]);
                } else if (found[k]) {
                    eps[k] = eps[k] * (1 + gamma);
                } else {
                    eps[k] = nrm + fabs(L) / fmax(ti_norm_of(dual, gk, D), 1e-12);
                }
                eps[k] = fmin(eps[k], worst[k]);

                /* the delta step: L2-normalised gradient for every norm, then the ball, then
                 * the box */
                double g2 = fmax(ti_norm_of(TI_NORM_L2, gk, D), 1e-12);
                float sc = (float)(alpha / g2);
                for (size_t i = 0; i < D; i++)
                    delta[i] = (xak[i] - xk[i]) + sc * gk[i];
                ti_proj_ball(pn, delta, D, (float)eps[k], pwork);
                for (size_t i = 0; i < D; i++) {
                    float v = xk[i] + delta[i];
                    xak[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
                }
                if (eps_trace)
                    eps_trace[(size_t)(c0 + k) * K + it] = (float)eps[k];
                if (norm_trace)
                    norm_trace[(size_t)(c0 + k) * K + it] = found[k] ? (float)best[k] : INFINITY;
            }
        }
        /* the reported norm is re-measured on the stored point, so that it is exactly
         * ||x_adv - x||_p as a caller computes it */
        for (int k = 0; k < n; k++)
            norms[c0 + k] = found[k] ? (float)ti_norm_dist(pn, advc + (size_t)k * D,
                                                            xc + (size_t)k * D, D)
                                     : INFINITY;
    }
done:
    if (st)
        *st = cnt;
    free(xa); free(g); free(logits); free(delta);
    free(eps); free(best); free(worst); free(guess); free(pred); free(found);
    free(pwork);
    return s;
}

ti_status ti_atk_fmn(ti_ctx *ctx, const ti_classifier *f, const ti_fmn_params *p,
                     const float *x, const int *y, int N, float *x_adv, float *norms,
                     ti_atk_stats *st)
{
    return ti_atk_fmn_trace(ctx, f, p, x, y, N, x_adv, norms, NULL, NULL, st);
}
