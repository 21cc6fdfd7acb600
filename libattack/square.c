/* The Square attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020, Algorithm 1) in
 * AutoAttack's version: random search on the margin loss, one query per point and iteration,
 * a proposal kept when the margin drops; forward passes only. L-inf (paper §3.1): every coordinate
 * a vertex clip01(x +- eps), starting from vertical stripes, each step recolouring one square
 * window. L2 (paper §3.2): a grid of centre-weighted "eta" patterns to start, each step moving the
 * perturbation's mass from a second window into the first, the result rescaled to norm eps.
 * The schedule, the reference's quirks, L2 and the per-point streams: docs/attacks.md#square. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thinice/square.h"

ti_square_params ti_square_params_default(void)
{
    return (ti_square_params){.norm = TI_NORM_LINF, .eps = 8.0f / 255.0f, .n_queries = 5000,
                              .p_init = 0.8f, .n_restarts = 1, .shared_window = 0, .seed = 0};
}

/* ---- the schedule ---------------------------------------------------------------------- */

float ti_square_p(float p_init, int it)
{
    /* halve p at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 (no rescaling
     * of the schedule to n_queries, as AutoAttack) */
    static const int bounds[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};
    float p = p_init;
    for (size_t i = 0; i < sizeof bounds / sizeof *bounds; i++)
        if (it > bounds[i])
            p = p_init / (float)(2 << i);
    return p;
}

static int side_of(float p_init, int it, int H, int W)
{
    return (int)nearbyint(sqrt((double)ti_square_p(p_init, it) * H * W)); /* half to even */
}

int ti_square_side(float p_init, int it, int H, int W)
{
    int s = side_of(p_init, it, H, W);
    s = s < 1 ? 1 : s;
    int hw = H < W ? H : W;
    return s < hw ? s : hw;
}

int ti_square_side_l2(float p_init, int it, int H, int W)
{
    int s = side_of(p_init, it, H, W);
    s = s < 3 ? 3 : s;
    s += s % 2 == 0; /* odd, as the reference */
    int hw = H < W ? H : W;
    if (s > hw) /* the reference does not cap; thinice keeps the window inside the image */
        s = hw % 2 ? hw : hw - 1;
    return s;
}

/* ---- eta: the L2 update pattern (paper §3.2) ------------------------------------------- */

static double sumsq(const float *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return s;
}

static void scale_to_unit(float *v, size_t n)
{
    double nrm = sqrt(sumsq(v, n));
    if (nrm > 0)
        for (size_t i = 0; i < n; i++)
            v[i] = (float)(v[i] / nrm);
}

/* out (a, b) = sgn * the reference's eta_rectangles(a, b): concentric rectangles around
 * (a/2, b/2), the k-th (k = 0, 1, ...) covering rows a/2 - k .. a/2 + k and columns
 * b/2 - k .. b/2 + k and adding 1/(k+1)^2, up to k = max(a/2, b/2); scaled to unit norm.
 * A pixel at Chebyshev distance d from the centre thus holds sum_{k=d}^{kmax} 1/(k+1)^2. */
static void eta_rect(float *out, int a, int b, float sgn)
{
    int kmax = (a > b ? a : b) / 2;
    for (int i = 0; i < a; i++)
        for (int j = 0; j < b; j++) {
            int d = abs(i - a / 2) > abs(j - b / 2) ? abs(i - a / 2) : abs(j - b / 2);
            double v = 0;
            for (int k = d; k <= kmax; k++)
                v += 1.0 / ((double)(k + 1) * (k + 1));
            out[i * b + j] = (float)v;
        }
    scale_to_unit(out, (size_t)a * b);
    for (int i = 0; i < a * b; i++)
        out[i] *= sgn;
}

void ti_square_eta(float *eta, int s)
{
    if (s < 1)
        return;
    int t = s / 2;
    eta_rect(eta, t, s, 1.0f);                      /* rows 0 .. t-1: positive */
    eta_rect(eta + (size_t)t * s, s - t, s, -1.0f); /* rows t .. s-1: negative */
    scale_to_unit(eta, (size_t)s * s);
}

/* ---- one call's buffers ---------------------------------------------------------------- */

typedef struct sq_ws {
    int C, H, W, M;
    size_t D;
    float *xo, *xb, *xin;     /* (N, D) clean x, best point, proposals (L2 start: deltas) */
    float *logits;            /* (N, M) */
    float *mbest, *marg;      /* (N) best margin, margins of the proposals */
    int *pred, *map, *yr, *rows, *yg; /* (N) map: row -> index in the call */
    unsigned char *robust;    /* (N) by index in the call */
    ti_rng *rng;              /* (N) each row's stream */
    float *sig;               /* (C) one sign per channel */
    float *eta, *win;         /* (E, E), E = max(H, W): eta(eta_side), one channel's window */
    int eta_side;
} sq_ws;

static void ws_free(sq_ws *w)
{
    void *bufs[] = {w->xo,  w->xb, w->xin,  w->logits, w->mbest, w->marg, w->pred, w->map,
                    w->yr,  w->rows, w->yg, w->robust, w->rng, w->sig, w->eta, w->win};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        ti_free(bufs[i]);
}

static ti_status ws_init(ti_ctx *ctx, sq_ws *w, const ti_classifier *f, int N)
{
    *w = (sq_ws){.C = f->C, .H = f->H, .W = f->W, .M = f->M, .D = ti_classifier_dim(f)};
    size_t n = (size_t)N, E = (size_t)(w->H > w->W ? w->H : w->W);
    w->xo = ti_alloc(n * w->D * sizeof(float));
    w->xb = ti_alloc(n * w->D * sizeof(float));
    w->xin = ti_alloc(n * w->D * sizeof(float));
    w->logits = ti_alloc(n * w->M * sizeof(float));
    w->mbest = ti_alloc(n * sizeof(float));
    w->marg = ti_alloc(n * sizeof(float));
    w->pred = ti_alloc(n * sizeof(int));
    w->map = ti_alloc(n * sizeof(int));
    w->yr = ti_alloc(n * sizeof(int));
    w->rows = ti_alloc(n * sizeof(int));
    w->yg = ti_alloc(n * sizeof(int));
    w->robust = ti_alloc(n);
    w->rng = ti_alloc(n * sizeof(ti_rng));
    w->sig = ti_alloc((size_t)w->C * sizeof(float));
    w->eta = ti_alloc(E * E * sizeof(float));
    w->win = ti_alloc(E * E * sizeof(float));
    if (!w->xo || !w->xb || !w->xin || !w->logits || !w->mbest || !w->marg || !w->pred ||
        !w->map || !w->yr || !w->rows || !w->yg || !w->robust || !w->rng || !w->sig ||
        !w->eta || !w->win) {
        ws_free(w);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "square: out of memory for %d samples", N);
    }
    return TI_OK;
}

/* w->eta = eta(s), computed when the side changes */
static void eta_for(sq_ws *w, int s)
{
    if (w->eta_side != s)
        ti_square_eta(w->eta, s);
    w->eta_side = s;
}

static float eta_at(const sq_ws *w, int i, int j, int transposed)
{
    int s = w->eta_side;
    return transposed ? w->eta[j * s + i] : w->eta[i * s + j];
}

/* ---- random choices -------------------------------------------------------------------- */

/* One iteration's choice for a point: side s, window 1 (the only one at L-inf) and, at L2,
 * window 2 and whether eta is transposed. */
typedef struct sq_draw {
    int s, vh, vw, vh2, vw2, tr;
} sq_draw;

static int coin(ti_rng *r)
{
    return (int)(ti_rng_u64(r) >> 63);
}

static void draw_signs(ti_rng *r, int C, float *sig)
{
    for (int c = 0; c < C; c++)
        sig[c] = coin(r) ? 1.0f : -1.0f;
}

/* Window corners drawn from [0, H - s) x [0, W - s) as the reference (the last position is
 * reachable only when s equals the side of the image). */
static void draw_windows(ti_rng *r, ti_norm norm, int H, int W, sq_draw *d)
{
    d->vh = (int)floor(ti_rng_double(r) * (H - d->s));
    d->vw = (int)floor(ti_rng_double(r) * (W - d->s));
    if (norm == TI_NORM_L2) {
        d->vh2 = (int)floor(ti_rng_double(r) * (H - d->s));
        d->vw2 = (int)floor(ti_rng_double(r) * (W - d->s));
        d->tr = coin(r);
    }
}

/* ---- L-inf: start and proposal (paper §3.1) -------------------------------------------- */

/* Vertical stripes: x_best = clip01(x + eps * sign), one sign per (channel, column). */
static void linf_init(sq_ws *w, const ti_square_params *p, ti_rng *batch, int m)
{
    int C = w->C, H = w->H, W = w->W;
    for (int r = 0; r < m; r++) {
        ti_rng *g = p->shared_window ? batch : &w->rng[r];
        const float *x0 = w->xo + r * w->D;
        float *xb = w->xb + r * w->D;
        for (int c = 0; c < C; c++)
            for (int v = 0; v < W; v++) {
                float e = coin(g) ? p->eps : -p->eps;
                for (int h = 0; h < H; h++) {
                    size_t j = ((size_t)c * H + h) * W + v;
                    xb[j] = ti__clampf(ti__within(x0[j], e), 0.0f, 1.0f);
                }
            }
    }
}

/* x_best with window 1 set, in every channel c, to the vertex clip01(x + eps * sig[c]). */
static void linf_propose(const sq_ws *w, float eps, const sq_draw *d, const float *sig,
                         const float *x0, const float *xb, float *xn)
{
    int H = w->H, W = w->W;
    memcpy(xn, xb, w->D * sizeof(float));
    for (int c = 0; c < w->C; c++)
        for (int h = d->vh; h < d->vh + d->s; h++)
            for (int v = d->vw; v < d->vw + d->s; v++) {
                size_t j = ((size_t)c * H + h) * W + v;
                xn[j] = ti__clampf(ti__within(x0[j], eps * sig[c]), 0.0f, 1.0f);
            }
}

/* ---- L2: start and proposal (paper §3.2) ----------------------------------------------- */

/* xn = clip01(x + eps * delta / (||delta||_2 + 1e-12)); delta may alias xn. */
static void l2_apply(float *xn, const float *delta, const float *x0, float eps, size_t D)
{
    double k = eps / (sqrt(sumsq(delta, D)) + 1e-12);
    for (size_t j = 0; j < D; j++)
        xn[j] = ti__clampf(x0[j] + (float)(k * delta[j]), 0.0f, 1.0f);
    ti__fit_l2(xn, x0, eps, D);
}

/* A grid of (H/s0) x (W/s0) windows of side s0 = H/5 from (sp, sp), sp = (H - 5 s0)/2, each
 * holding eta(s0) (transposed at random) times one sign per channel, clipped to the image;
 * then x_best = x + delta at norm eps, clipped. Windows draw in grid order; shared_window
 * draws each window's transposition once for the batch and the signs per point from the
 * batch stream, as the reference. */
static void l2_init(sq_ws *w, const ti_square_params *p, ti_rng *batch, int m)
{
    int C = w->C, H = w->H, W = w->W, s0 = H / 5, sp = (H - 5 * s0) / 2;
    float *delta = w->xin; /* (m, D) */
    memset(delta, 0, (size_t)m * w->D * sizeof *delta);
    eta_for(w, s0);
    for (int vh = sp; vh < sp + H / s0 * s0; vh += s0)
        for (int vw = sp; vw < sp + W / s0 * s0; vw += s0) {
            int tr = p->shared_window ? coin(batch) : 0;
            for (int r = 0; r < m; r++) {
                ti_rng *g = p->shared_window ? batch : &w->rng[r];
                if (!p->shared_window)
                    tr = coin(g);
                draw_signs(g, C, w->sig);
                for (int c = 0; c < C; c++)
                    for (int i = 0; i < s0 && vh + i < H; i++)
                        for (int j = 0; j < s0 && vw + j < W; j++)
                            delta[r * w->D + ((size_t)c * H + vh + i) * W + vw + j] +=
                                eta_at(w, i, j, tr) * w->sig[c];
            }
        }
    for (int r = 0; r < m; r++)
        l2_apply(w->xb + r * w->D, delta + r * w->D, w->xo + r * w->D, p->eps, w->D);
}

static int in_window(int h, int v, int vh, int vw, int s)
{
    return h >= vh && h < vh + s && v >= vw && v < vw + s;
}

/* Sum of squares of one channel a (H, W) over window 1, or over window 2 minus window 1. */
static double window_sumsq(const float *a, int W, const sq_draw *d, int second)
{
    int vh = second ? d->vh2 : d->vh, vw = second ? d->vw2 : d->vw;
    double s2 = 0;
    for (int h = vh; h < vh + d->s; h++)
        for (int v = vw; v < vw + d->s; v++)
            if (!second || !in_window(h, v, d->vh, d->vw, d->s))
                s2 += (double)a[h * W + v] * a[h * W + v];
    return s2;
}

/* With delta = x_best - x: in each channel c, window 1 becomes eta * sig[c] plus delta's own
 * window-1 pattern at unit norm, rescaled to norm sqrt(max(eps^2 - ||delta||^2, 0) / C +
 * ||delta[c] on windows 1 u 2||^2): the mass the two windows held in that channel plus a
 * C-th of the unused budget (the window norms are per channel, as the reference's
 * (N, C, 1, 1) tensors; only ||delta|| is over the whole image); window 2 is emptied first;
 * then x + delta at norm eps, clipped. */
static void l2_propose(sq_ws *w, float eps, const sq_draw *d, const float *sig,
                       const float *x0, const float *xb, float *xn)
{
    int C = w->C, H = w->H, W = w->W, s = d->s;
    size_t HW = (size_t)H * W;
    float *delta = xn; /* built in place */
    for (size_t j = 0; j < w->D; j++)
        delta[j] = xb[j] - x0[j];
    double budget2 = fmax((double)eps * eps - sumsq(delta, w->D), 0.0) / C;
    for (int c = 0; c < C; c++) {
        float *a = delta + c * HW, *nw = w->win; /* nw (s, s) */
        double n1_2 = window_sumsq(a, W, d, 0);
        double n1 = sqrt(n1_2), target = sqrt(budget2 + n1_2 + window_sumsq(a, W, d, 1));
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++)
                nw[i * s + j] = eta_at(w, i, j, d->tr) * sig[c] +
                                (float)(a[(d->vh + i) * W + d->vw + j] / (1e-12 + n1));
        double k = target / (1e-12 + sqrt(sumsq(nw, (size_t)s * s)));
        for (int i = 0; i < s; i++)
            memset(a + (d->vh2 + i) * W + d->vw2, 0, (size_t)s * sizeof *a);
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++)
                a[(d->vh + i) * W + d->vw + j] = (float)(k * nw[i * s + j]);
    }
    l2_apply(xn, delta, x0, eps, w->D);
}

/* ---- Algorithm 1 ----------------------------------------------------------------------- */

/* The proposal for row r (into xn) at one iteration. d holds the side and, with
 * shared_window, the batch's windows; sig the batch's L-inf signs. Each point otherwise
 * draws from its own stream; L2 signs are per point even with shared_window (drawn from the
 * batch stream), as the reference draws them. */
static void propose(sq_ws *w, const ti_square_params *p, ti_rng *batch, sq_draw d, int r,
                    float *xn)
{
    if (!p->shared_window)
        draw_windows(&w->rng[r], p->norm, w->H, w->W, &d);
    if (!p->shared_window || p->norm == TI_NORM_L2)
        draw_signs(p->shared_window ? batch : &w->rng[r], w->C, w->sig);
    const float *x0 = w->xo + r * w->D, *xb = w->xb + r * w->D;
    if (p->norm == TI_NORM_L2)
        l2_propose(w, p->eps, &d, w->sig, x0, xb, xn);
    else
        linf_propose(w, p->eps, &d, w->sig, x0, xb, xn);
}

/* One run on rows 0..m-1 of w (xo, yr and map filled): the start, then n_queries iterations
 * on the points whose margin is still positive; leaves xb and mbest. */
static ti_status square_run(ti_ctx *ctx, const ti_classifier *f, const ti_square_params *p,
                            sq_ws *w, int m, int run, const ti__atk_io *io, ti_atk_stats *st)
{
    /* one stream per point, and one for the batch (shared_window) */
    ti_rng batch;
    ti__atk_stream(&batch, p->seed, 0, ti__salt(TI__SALT_SQUARE, 1, run));
    for (int r = 0; r < m; r++)
        ti__atk_stream(&w->rng[r], p->seed, ti__atk_id(io, w->map[r]),
                       ti__salt(TI__SALT_SQUARE, 0, run));
    if (p->norm == TI_NORM_L2)
        l2_init(w, p, &batch, m);
    else
        linf_init(w, p, &batch, m);
    ti_status s = ti__atk_eval(ctx, f, TI_LOSS_MARGIN, w->xb, w->yr, NULL, m, w->logits, NULL,
                               w->mbest, NULL, NULL);
    if (s != TI_OK)
        return s;
    ti__atk_count(st, io, w->map, NULL, m, 1, 0);

    for (int it = 0; it < p->n_queries; it++) {
        int n = 0; /* the points whose margin is still positive */
        for (int r = 0; r < m; r++)
            if (w->mbest[r] > 0.0f)
                w->rows[n++] = r;
        if (n == 0)
            break;
        if (it % 50 == 49 && (s = ti_ctx_progress(ctx, "square", it, 0)) != TI_OK) /* heartbeat */
            return s;
        sq_draw d = {.s = p->norm == TI_NORM_L2 ? ti_square_side_l2(p->p_init, it, w->H, w->W)
                                                : ti_square_side(p->p_init, it, w->H, w->W)};
        if (p->norm == TI_NORM_L2)
            eta_for(w, d.s);
        if (p->shared_window) {
            draw_windows(&batch, p->norm, w->H, w->W, &d);
            if (p->norm == TI_NORM_LINF)
                draw_signs(&batch, w->C, w->sig);
        }
        for (int k = 0; k < n; k++) {
            propose(w, p, &batch, d, w->rows[k], w->xin + k * w->D);
            w->yg[k] = w->yr[w->rows[k]];
        }
        /* margins of the proposals, one query each */
        s = ti__atk_eval(ctx, f, TI_LOSS_MARGIN, w->xin, w->yg, NULL, n, w->logits, NULL,
                         w->marg, NULL, NULL);
        if (s != TI_OK)
            return s;
        ti__atk_count(st, io, w->map, w->rows, n, 1, 0);
        for (int k = 0; k < n; k++) {
            int r = w->rows[k];
            /* with the margin as loss, "improved" (m < best) and "accept" (improved or
             * m <= 0) coincide for points still positive */
            if (w->marg[k] < w->mbest[r]) {
                w->mbest[r] = w->marg[k];
                memcpy(w->xb + r * w->D, w->xin + k * w->D, w->D * sizeof(float));
            }
        }
    }
    return TI_OK;
}

static ti_status square_check(ti_ctx *ctx, const ti_classifier *f, const ti_square_params *p)
{
    if (p->norm != TI_NORM_LINF && p->norm != TI_NORM_L2)
        return ti_ctx_error(ctx, TI_ERR_UNSUPPORTED,
                            "square: norm %s is not implemented (linf, l2)",
                            ti_norm_name(p->norm));
    if (p->n_queries < 0 || p->n_restarts < 1 || !(p->p_init > 0.0f && p->p_init <= 1.0f))
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "square: need n_queries >= 0, n_restarts >= 1 and p_init in (0, 1] "
                            "(got %d, %d, %g)", p->n_queries, p->n_restarts, (double)p->p_init);
    if (p->norm == TI_NORM_L2 && (f->H < 5 || f->W < 5))
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "square: l2 needs images of at least 5x5 (its start is a grid of "
                            "windows of side H/5); got %dx%d", f->H, f->W);
    return TI_OK;
}

ti_status ti__square(ti_ctx *ctx, const ti_classifier *f, const ti_square_params *p,
                     const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st,
                     const ti__atk_io *io)
{
    ti_status s = ti__atk_check_args(ctx, "square", f, p, x, y, N, x_adv, p ? p->norm : 0,
                                     p ? p->eps : 0);
    if (s != TI_OK || (s = square_check(ctx, f, p)) != TI_OK)
        return s;
    size_t D = ti_classifier_dim(f);
    memcpy(x_adv, x, (size_t)N * D * sizeof *x_adv);
    if (io && io->fooled)
        memset(io->fooled, 0, (size_t)N);
    if (N == 0)
        return TI_OK;
    sq_ws w;
    if ((s = ws_init(ctx, &w, f, N)) != TI_OK)
        return s;

    s = ti__atk_eval(ctx, f, TI_LOSS_MARGIN, x, y, NULL, N, w.logits, NULL, NULL, w.pred, NULL);
    if (s != TI_OK)
        goto done;
    ti__atk_count(st, io, NULL, NULL, N, 1, 0);
    for (int i = 0; i < N; i++)
        w.robust[i] = w.pred[i] == y[i];

    for (int run = 0; run < p->n_restarts; run++) {
        int m = 0; /* gather the points still robust */
        for (int i = 0; i < N; i++)
            if (w.robust[i]) {
                w.map[m] = i;
                w.yr[m] = y[i];
                memcpy(w.xo + m * D, x + i * D, D * sizeof(float));
                m++;
            }
        if (m == 0)
            break;
        if ((s = square_run(ctx, f, p, &w, m, run, io, st)) != TI_OK)
            goto done;
        /* success is re-verified by a forward pass: a zero margin may still predict y */
        s = ti__atk_eval(ctx, f, TI_LOSS_MARGIN, w.xb, w.yr, NULL, m, w.logits, NULL, NULL,
                         w.pred, NULL);
        if (s != TI_OK)
            goto done;
        ti__atk_count(st, io, w.map, NULL, m, 1, 0);
        for (int r = 0; r < m; r++)
            if (w.pred[r] != w.yr[r]) {
                w.robust[w.map[r]] = 0;
                memcpy(x_adv + w.map[r] * D, w.xb + r * D, D * sizeof(float));
                if (io && io->fooled)
                    io->fooled[w.map[r]] = 1;
            }
    }
done:
    ws_free(&w);
    return s;
}

ti_status ti_atk_square(ti_ctx *ctx, const ti_classifier *f, const ti_square_params *p,
                        const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st)
{
    return ti__square(ctx, f, p, x, y, N, x_adv, st, NULL);
}
