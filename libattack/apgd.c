/* APGD, Auto-PGD (Croce & Hein, "Reliable evaluation of adversarial robustness with an
 * ensemble of diverse parameter-free attacks", ICML 2020, Algorithm 1): PGD with momentum
 * 0.75 and a per-sample step size that halves at fixed checkpoints when the loss oscillates
 * or stalls, restarting from the best point. Reference quirks kept (fra31/auto-attack,
 * autoattack/autopgd_base.py): docs/attacks.md#reference-quirks-kept. L1 (Croce & Hein, "Mind the box: l1-APGD for sparse adversarial
 * attacks on image classifiers", ICML 2021): sparse steps, the exact projection onto the L1
 * ball ∩ box, no momentum, and checkpoints that adapt the sparsity and the step instead.
 * This file: the single run, and the restarts that both APGD and APGD-T (apgd_targeted.c)
 * drive. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thinice/apgd.h"
#include "thinice/projection.h"

ti_apgd_params ti_apgd_params_default(void)
{
    return (ti_apgd_params){.norm = TI_NORM_LINF, .eps = 8.0f / 255.0f, .n_iter = 100,
                            .n_restarts = 1, .loss = TI_LOSS_CE, .n_target_classes = 9,
                            .rho = 0.75f, .stop_on_success = 0, .seed = 0};
}

static int imax(int a, int b)
{
    return a > b ? a : b;
}

int ti_apgd_checkpoints(int n_iter, int *ckpt, int max)
{
    /* the reference's integer form of p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06):
     * a period k that starts at 22% of the run and shrinks by 3% down to 6% */
    int k = imax((int)(0.22 * n_iter), 1);
    int decr = imax((int)(0.03 * n_iter), 1), kmin = imax((int)(0.06 * n_iter), 1);
    int n = 0;
    for (int it = k; it <= n_iter; it += k) {
        if (n < max)
            ckpt[n] = it;
        n++;
        k = imax(k - decr, kmin);
    }
    return n;
}

ti_status ti__apgd_ws_init(ti_ctx *ctx, ti__apgd_ws *w, int N, size_t D, int M, int n_iter)
{
    memset(w, 0, sizeof *w);
    w->D = D;
    w->M = M;
    w->N = N;
    w->n_iter = n_iter;
    size_t nd = (size_t)N * D * sizeof(float), nm = (size_t)N * M * sizeof(float);
    float **big[] = {&w->xo, &w->xc, &w->xp, &w->xb, &w->xa, &w->g, &w->gb, &w->xin, &w->gin,
                     &w->lo, &w->hi};
    int ok = 1;
    for (size_t i = 0; i < sizeof big / sizeof *big; i++)
        ok &= (*big[i] = ti_alloc(nd)) != NULL;
    ok &= (w->logits = ti_alloc(nm)) != NULL;
    ok &= (w->dl = ti_alloc(nm)) != NULL;
    float **small[] = {&w->lossv, &w->eta, &w->lbest, &w->lckpt};
    for (size_t i = 0; i < sizeof small / sizeof *small; i++)
        ok &= (*small[i] = ti_alloc((size_t)N * sizeof(float))) != NULL;
    ok &= (w->hist = ti_alloc((size_t)N * n_iter * sizeof(float))) != NULL;
    int **ints[] = {&w->pred, &w->map, &w->yr, &w->tr, &w->rows, &w->yg, &w->tg, &w->l1k,
                    &w->l1sp};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        ok &= (*ints[i] = ti_alloc((size_t)N * sizeof(int))) != NULL;
    ok &= (w->fooled = ti_alloc((size_t)N)) != NULL;
    ok &= (w->reduced = ti_alloc((size_t)N)) != NULL;
    ok &= (w->robust = ti_alloc((size_t)N)) != NULL;
    ok &= (w->l1work = ti_alloc(ti_proj_work_bytes(2 * D))) != NULL;
    w->n_ckpt = ti_apgd_checkpoints(n_iter, NULL, 0);
    ok &= (w->ckpt = ti_alloc((size_t)(w->n_ckpt + 1) * sizeof(int))) != NULL;
    if (!ok) {
        ti__apgd_ws_free(w);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "apgd: out of memory for %d samples of %zu values",
                            N, D);
    }
    ti_apgd_checkpoints(n_iter, w->ckpt, w->n_ckpt);
    return TI_OK;
}

void ti__apgd_ws_free(ti__apgd_ws *w)
{
    void *all[] = {w->xo, w->xc, w->xp, w->xb, w->xa, w->g, w->gb, w->xin, w->gin, w->lo, w->hi,
                   w->logits, w->dl, w->lossv, w->eta, w->lbest, w->lckpt, w->hist,
                   w->pred, w->map, w->yr, w->tr, w->rows, w->yg, w->tg, w->fooled, w->reduced,
                   w->robust, w->ckpt, w->l1k, w->l1sp, w->l1work};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        ti_free(all[i]);
    memset(w, 0, sizeof *w);
}

ti_status ti__apgd_check(ti_ctx *ctx, const char *who, const ti_apgd_params *p)
{
    if (p->norm == TI_NORM_L0)
        return ti_ctx_error(ctx, TI_ERR_UNSUPPORTED,
                            "%s: norm %s is not implemented (linf, l2 or l1)", who,
                            ti_norm_name(p->norm));
    if (p->n_iter < 1 || p->n_restarts < 1)
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: need n_iter >= 1 and n_restarts >= 1 (got %d, %d)",
                            who, p->n_iter, p->n_restarts);
    if (!(p->rho > 0.0f && p->rho <= 1.0f))
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: rho must be in (0, 1] (got %g)", who,
                            (double)p->rho);
    return TI_OK;
}

/* Loss, gradient and prediction at the current iterate of the active rows w->rows[0..n).
 * When every row is active the batch is evaluated in place, otherwise it is gathered. */
static ti_status eval_active(ti_ctx *ctx, const ti_classifier *f, ti_loss loss, ti__apgd_ws *w,
                             int m, int n)
{
    size_t D = w->D;
    if (n == m) /* rows[k] == k: the active rows are rows 0..m-1 */
        return ti__atk_eval(ctx, f, loss, w->xc, w->yr, w->tr, n, w->logits, w->dl, w->lossv,
                            w->pred, w->g);
    int *yg = w->yg, *tg = w->tg;
    for (int k = 0; k < n; k++) {
        int r = w->rows[k];
        memcpy(w->xin + k * D, w->xc + r * D, D * sizeof(float));
        yg[k] = w->yr[r];
        tg[k] = w->tr[r];
    }
    ti_status s = ti__atk_eval(ctx, f, loss, w->xin, yg, tg, n, w->logits, w->dl, w->lossv,
                               w->pred, w->gin);
    for (int k = 0; k < n && s == TI_OK; k++)
        memcpy(w->g + w->rows[k] * D, w->gin + k * D, D * sizeof(float));
    return s;
}

/* The random start: L-inf a uniform direction scaled so that max |delta_i| = eps, L2 a
 * Gaussian direction of norm eps; then clipped to the box. L1: x plus a standard Gaussian
 * (far outside the ball), projected onto ball ∩ box, as the reference: a point on the
 * sphere whose support is the coordinates the noise pushed furthest. work: l1work. */
static void apgd_start(ti_rng *rng, ti_norm norm, const float *x, float eps, size_t D, float *xc,
                       void *work)
{
    if (norm == TI_NORM_L1) {
        for (size_t i = 0; i < D; i++)
            xc[i] = x[i] + ti_rng_normal(rng);
        ti_proj_l1_box(xc, x, D, eps, work);
    } else if (norm == TI_NORM_LINF) {
        float mx = 0.0f;
        for (size_t i = 0; i < D; i++) {
            xc[i] = ti_rng_uniform(rng, -1.0f, 1.0f);
            mx = fabsf(xc[i]) > mx ? fabsf(xc[i]) : mx;
        }
        for (size_t i = 0; i < D; i++)
            xc[i] = ti__clampf(ti__within(x[i], eps * xc[i] / mx), 0.0f, 1.0f);
    } else {
        double s = 0;
        for (size_t i = 0; i < D; i++) {
            xc[i] = ti_rng_normal(rng);
            s += (double)xc[i] * xc[i];
        }
        float inv = 1.0f / ((float)sqrt(s) + 1e-12f);
        for (size_t i = 0; i < D; i++)
            xc[i] = ti__clampf(x[i] + eps * (xc[i] * inv), 0.0f, 1.0f);
        ti__fit_l2(xc, x, eps, D);
    }
}

/* One iteration's move of one row at L2: a projected step of size eta, then the momentum
 * mix x + a (z - x) + (1 - a)(x - x_prev), projected again; x_prev takes the old x.
 * z is scratch (D). */
static void apgd_move_l2(float *xc, float *xp, const float *g, const float *x, float eta,
                         float eps, float a, float *z, size_t D)
{
    ti__ascent_step(TI_NORM_L2, z, xc, x, g, eta, eps, D);
    for (size_t i = 0; i < D; i++) {
        float c = xc[i];
        z[i] = c + (z[i] - c) * a + (c - xp[i]) * (1.0f - a);
        xp[i] = c;
    }
    ti__proj_l2(z, x, eps, D);
    memcpy(xc, z, D * sizeof *z);
}

/* The same at L-inf in one pass: both projections are clamps to the row's bounds lo, hi
 * (ti__linf_bounds; the same values as ti__ascent_step and ti__proj_linf give). */
static void apgd_move_linf(float *restrict xc, float *restrict xp, const float *restrict g,
                           const float *restrict lo, const float *restrict hi, float eta,
                           float a, size_t D)
{
    for (size_t i = 0; i < D; i++) {
        float c = xc[i];
        float z = ti__clampf(c + eta * ti__signf(g[i]), lo[i], hi[i]);
        z = c + (z - c) * a + (c - xp[i]) * (1.0f - a);
        xp[i] = c;
        xc[i] = ti__clampf(z, lo[i], hi[i]);
    }
}

/* The L1 iteration (Croce & Hein 2021, §3): the steepest ascent direction over an L1 ball
 * moves one coordinate only, which makes slow progress and which the box often blocks; so
 * the step moves the k coordinates of largest |g| by eta / k each, with the sign of g (L1 norm
 * eta), then projects exactly onto ball ∩ box. Coordinates already at the face of the box
 * that g points through cannot move: they are skipped, so that the budget goes to
 * coordinates that can. Ties at the k-th largest |g| are all moved, as the reference does.
 * No momentum: both reference implementations use none at L1 (a momentum mix would undo the
 * sparsity of the step). xc becomes the new iterate; z is scratch (D). */
static void apgd_move_l1(float *xc, const float *g, const float *x, float eta, float eps,
                         int k, float *z, void *work, size_t D)
{
    uint32_t *scratch = work; /* the radix sort's 4 (D + 1) words, then keys and indices */
    float *key = (float *)(scratch + 4 * (D + 1));
    uint32_t *idx = (uint32_t *)(key + D);
    size_t m = 0;
    for (size_t i = 0; i < D; i++) {
        int blocked = (g[i] > 0.0f && xc[i] >= 1.0f) || (g[i] < 0.0f && xc[i] <= 0.0f);
        if (g[i] != 0.0f && !blocked) {
            key[m] = fabsf(g[i]);
            idx[m++] = (uint32_t)i;
        }
    }
    memcpy(z, xc, D * sizeof *z);
    if (m > 0) {
        ti_proj_sort_pairs(key, idx, m, scratch); /* ascending */
        size_t lo = m - ((size_t)k < m ? (size_t)k : m);
        while (lo > 0 && key[lo - 1] >= key[lo]) /* ties with the k-th largest */
            lo--;
        float s = eta / (float)(m - lo);
        for (size_t j = lo; j < m; j++) {
            size_t i = idx[j];
            z[i] = xc[i] + s * ti__signf(g[i]);
        }
    }
    ti_proj_l1_box(z, x, D, eps, work);
    memcpy(xc, z, D * sizeof *z);
}

/* The L-inf/L2 checkpoint with period kper ending at iteration it (0-based), for the active
 * rows: over the last kper iterations, did the loss rise often enough, and did the best loss
 * move since the last checkpoint? If not, halve the step and go back to the best point. */
static void apgd_checkpoint(const ti_apgd_params *p, ti__apgd_ws *w, int n, int it, int kper)
{
    size_t D = w->D;
    int n_iter = w->n_iter;
    for (int k = 0; k < n; k++) {
        int r = w->rows[k];
        const float *h = w->hist + (size_t)r * n_iter;
        int cnt = 0;
        for (int c = 0; c < kper; c++) {
            /* Python-style negative indices: at the first checkpoint the oldest
             * predecessor wraps to the unfilled last slot (0), as the reference */
            int j1 = ((it - c) % n_iter + n_iter) % n_iter;
            int j0 = ((it - c - 1) % n_iter + n_iter) % n_iter;
            cnt += h[j1] > h[j0];
        }
        int osc = (double)cnt <= (double)kper * p->rho;
        int stall = !w->reduced[r] && w->lckpt[r] >= w->lbest[r];
        int red = osc || stall;
        w->reduced[r] = (unsigned char)red;
        w->lckpt[r] = w->lbest[r];
        if (red) { /* x_prev is NOT reset: the next momentum uses x_best - x_prev */
            w->eta[r] /= 2.0f;
            memcpy(w->xc + r * D, w->xb + r * D, D * sizeof(float));
            memcpy(w->g + r * D, w->gb + r * D, D * sizeof(float));
        }
    }
}

/* The L1 checkpoint (every 4% of the run, Croce & Hein 2021 §3.3 and the reference): the
 * sparsity of the best point sets how many coordinates the next steps move
 * (k = ceil(||x_best - x||_0 / 1.5), at least 1), so that steps get sparser as the attack
 * finds which pixels matter. If that sparsity fell by more than 5% since the last
 * checkpoint, the search is still reshaping its support: the step goes back to eps and the
 * iterate to the best point; otherwise the step shrinks by 1.5. The step stays in
 * [eps/10, eps]. (rho and the loss history play no part at L1.) */
static void apgd_checkpoint_l1(ti__apgd_ws *w, int n, float eps)
{
    size_t D = w->D;
    for (int k = 0; k < n; k++) {
        int r = w->rows[k];
        int sp = (int)ti_norm_dist(TI_NORM_L0, w->xb + r * D, w->xo + r * D, D);
        int reset = (double)sp < 0.95 * (double)w->l1sp[r];
        int kk = (int)ceil((double)sp / 1.5);
        w->l1k[r] = kk < 1 ? 1 : kk;
        w->l1sp[r] = sp;
        float eta = reset ? eps : w->eta[r] / 1.5f;
        w->eta[r] = ti__clampf(eta, eps / 10.0f, eps);
        if (reset) {
            memcpy(w->xc + r * D, w->xb + r * D, D * sizeof(float));
            memcpy(w->g + r * D, w->gb + r * D, D * sizeof(float));
        }
    }
}

ti_status ti__apgd_run(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                       ti_loss loss, ti__apgd_ws *w, int m, uint64_t salt,
                       const ti__atk_io *io, ti_atk_stats *st, int trace)
{
    size_t D = w->D;
    int n_iter = p->n_iter;
    float eps = p->eps;
    const float momentum = 0.75f;

    /* x0: the random start of each row, from the row's own stream */
    for (int r = 0; r < m; r++) {
        ti_rng rng;
        ti__atk_stream(&rng, p->seed, ti__atk_id(io, w->map[r]), salt);
        apgd_start(&rng, p->norm, w->xo + r * D, eps, D, w->xc + r * D, w->l1work);
        if (p->norm == TI_NORM_LINF)
            ti__linf_bounds(w->lo + r * D, w->hi + r * D, w->xo + r * D, eps, D);
        w->rows[r] = r;
    }
    int n = m; /* active rows: w->rows[0..n) */

    /* l0, g0 at the start: the first best point, the first "last adversarial" point */
    ti_status s = eval_active(ctx, f, loss, w, m, n);
    if (s != TI_OK)
        return s;
    ti__atk_count(st, io, w->map, w->rows, n, 1, 1);
    int zero_grad = 0;
    for (int r = 0; r < m; r++) {
        float *xc = w->xc + r * D;
        w->fooled[r] = w->pred[r] != w->yr[r];
        memcpy(w->xa + r * D, xc, D * sizeof *xc);
        memcpy(w->xb + r * D, xc, D * sizeof *xc);
        memcpy(w->xp + r * D, xc, D * sizeof *xc);
        memcpy(w->gb + r * D, w->g + r * D, D * sizeof *xc);
        w->lbest[r] = w->lckpt[r] = w->lossv[r];
        w->eta[r] = (p->norm == TI_NORM_L1 ? 1.0f : 2.0f) * eps; /* as the reference */
        w->reduced[r] = 1; /* so the no-progress test cannot fire at the first checkpoint */
        /* L1: the first steps move 20% of the coordinates; the first checkpoint compares
         * the best point's sparsity with D */
        w->l1k[r] = (int)ceil(0.2 * (double)D);
        w->l1sp[r] = (int)D;
        memset(w->hist + (size_t)r * n_iter, 0, (size_t)n_iter * sizeof(float));
        int nz = 0;
        for (size_t i = 0; i < D && !nz; i++)
            nz = w->g[r * D + i] != 0.0f;
        zero_grad += !nz;
    }
    if (zero_grad && (loss == TI_LOSS_DLR || loss == TI_LOSS_DLR_T))
        ti_ctx_log(ctx, 1, "apgd: %d of %d points have an all-zero gradient at the start "
                   "(a flat or quantised model? the attack may fail on them)", zero_grad, m);
    if (trace && m > 0 && p->trace_best)
        p->trace_best[0] = w->lbest[0];

    int next_ckpt = 0, prev_ckpt = 0;
    int l1_period = imax((int)(0.04 * n_iter), 1);
    for (int it = 0; it < n_iter; it++) {
        ti_status hb = it % 8 == 7 ? ti_ctx_progress(ctx, "apgd", it, 0) : TI_OK; /* heartbeat */
        if (hb != TI_OK)
            return hb;
        if (p->stop_on_success) { /* fooled rows leave the batch; their x_adv is final */
            int k2 = 0;
            for (int k = 0; k < n; k++)
                if (!w->fooled[w->rows[k]])
                    w->rows[k2++] = w->rows[k];
            n = k2;
            if (n == 0)
                break;
        }
        /* the first step has no momentum (there is no previous step yet) */
        float a = it == 0 ? 1.0f : momentum;
        for (int k = 0; k < n; k++) {
            int r = w->rows[k];
            if (trace && r == 0 && p->trace_eta)
                p->trace_eta[it] = w->eta[0];
            if (p->norm == TI_NORM_L1)
                apgd_move_l1(w->xc + r * D, w->g + r * D, w->xo + r * D, w->eta[r], eps,
                             w->l1k[r], w->gin + k * D, w->l1work, D);
            else if (p->norm == TI_NORM_LINF)
                apgd_move_linf(w->xc + r * D, w->xp + r * D, w->g + r * D, w->lo + r * D,
                               w->hi + r * D, w->eta[r], a, D);
            else
                apgd_move_l2(w->xc + r * D, w->xp + r * D, w->g + r * D, w->xo + r * D,
                             w->eta[r], eps, a, w->gin + k * D, D);
        }
        s = eval_active(ctx, f, loss, w, m, n);
        if (s != TI_OK)
            return s;
        ti__atk_count(st, io, w->map, w->rows, n, 1, 1);
        for (int k = 0; k < n; k++) {
            int r = w->rows[k];
            float l = w->lossv[k];
            if (w->pred[k] != w->yr[r]) { /* the LAST misclassified iterate is kept */
                w->fooled[r] = 1;
                memcpy(w->xa + r * D, w->xc + r * D, D * sizeof(float));
            }
            w->hist[(size_t)r * n_iter + it] = l;
            if (l > w->lbest[r]) { /* strict: ties keep the older best point */
                memcpy(w->xb + r * D, w->xc + r * D, D * sizeof(float));
                memcpy(w->gb + r * D, w->g + r * D, D * sizeof(float));
                w->lbest[r] = l;
            }
            if (trace && r == 0) {
                if (p->trace_best)
                    p->trace_best[it + 1] = w->lbest[0];
                if (p->trace_loss)
                    p->trace_loss[it] = l;
            }
        }
        if (p->norm == TI_NORM_L1) {
            if ((it + 1) % l1_period == 0)
                apgd_checkpoint_l1(w, n, eps);
        } else if (next_ckpt < w->n_ckpt && it + 1 == w->ckpt[next_ckpt]) {
            apgd_checkpoint(p, w, n, it, w->ckpt[next_ckpt] - prev_ckpt);
            prev_ckpt = w->ckpt[next_ckpt++];
        }
    }
    return TI_OK;
}

ti_status ti__apgd_restarts(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                            ti_loss loss, int nt, const float *x, const int *y, int N,
                            float *x_adv, ti_atk_stats *st, const ti__atk_io *io)
{
    size_t D = ti_classifier_dim(f);
    int M = f->M;
    memcpy(x_adv, x, (size_t)N * D * sizeof *x_adv);
    if (io && io->fooled)
        memset(io->fooled, 0, (size_t)N);
    if (N == 0)
        return TI_OK;
    ti__apgd_ws w;
    ti_status s = ti__apgd_ws_init(ctx, &w, N, D, M, p->n_iter);
    if (s != TI_OK)
        return s;
    int *targets = NULL; /* (N, nt) */
    if (nt > 0 && !(targets = malloc((size_t)N * nt * sizeof *targets))) {
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "apgd-t: out of memory for %d samples", N);
        goto done;
    }

    /* only points classified correctly at clean are attacked; the clean pass also picks,
     * once, every point's targets (the reference recomputes them on the same clean x
     * before each target: same result) */
    s = ti__atk_eval(ctx, f, TI_LOSS_CE, x, y, NULL, N, w.logits, w.dl, NULL, w.pred, NULL);
    if (s != TI_OK)
        goto done;
    ti__atk_count(st, io, NULL, NULL, N, 1, 0);
    for (int i = 0; i < N; i++) {
        w.robust[i] = w.pred[i] == y[i];
        if (targets)
            ti_apgd_targets(w.logits + (size_t)i * M, M, nt, targets + (size_t)i * nt);
    }

    int passes = nt > 0 ? nt : 1; /* pass t attacks target rank t + 2 */
    for (int t = 0; t < passes; t++)
        for (int run = 0; run < p->n_restarts; run++) {
            int m = 0;
            for (int i = 0; i < N; i++)
                if (w.robust[i]) {
                    w.map[m] = i;
                    w.yr[m] = y[i];
                    w.tr[m] = targets ? targets[(size_t)i * nt + t] : 0;
                    memcpy(w.xo + m * D, x + i * D, D * sizeof(float));
                    m++;
                }
            if (m == 0)
                goto done;
            uint64_t salt = targets ? ti__salt(TI__SALT_APGD_T, t + 2, run)
                                    : ti__salt(TI__SALT_APGD, loss, run);
            s = ti__apgd_run(ctx, f, p, loss, &w, m, salt, io, st, t == 0 && run == 0);
            if (s != TI_OK)
                goto done;
            for (int r = 0; io && io->trace && t == 0 && run == 0 && r < m; r++)
                memcpy(io->trace + (size_t)w.map[r] * p->n_iter, w.hist + (size_t)r * p->n_iter,
                       (size_t)p->n_iter * sizeof(float));
            for (int r = 0; r < m; r++)
                if (w.fooled[r]) {
                    int i = w.map[r];
                    w.robust[i] = 0;
                    memcpy(x_adv + i * D, w.xa + r * D, D * sizeof(float));
                    if (io && io->fooled)
                        io->fooled[i] = 1;
                }
        }
done:
    free(targets);
    ti__apgd_ws_free(&w);
    return s;
}

ti_status ti__apgd(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                   const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st,
                   const ti__atk_io *io)
{
    ti_status s = ti__atk_check_args(ctx, "apgd", f, p, x, y, N, x_adv, p ? p->norm : 0,
                                     p ? p->eps : 0);
    if (s == TI_OK)
        s = ti__apgd_check(ctx, "apgd", p);
    if (s != TI_OK)
        return s;
    if (p->loss != TI_LOSS_CE && p->loss != TI_LOSS_DLR)
        return ti_ctx_error(ctx, TI_ERR_ARG, "apgd: loss must be ce or dlr (got %s; use "
                            "ti_atk_apgd_targeted for the targeted DLR)", ti_loss_name(p->loss));
    if (f->M < ti_loss_min_classes(p->loss))
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "apgd: the DLR loss needs at least 3 classes (the model has %d); "
                            "use the CE loss", f->M);
    return ti__apgd_restarts(ctx, f, p, p->loss, 0, x, y, N, x_adv, st, io);
}

ti_status ti_atk_apgd(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                      const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st)
{
    return ti__apgd(ctx, f, p, x, y, N, x_adv, st, NULL);
}
