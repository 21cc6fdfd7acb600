/* FAB, the Fast Adaptive Boundary attack: Croce & Hein, "Minimally distorted adversarial
 * examples with a fast adaptive boundary attack", ICML 2020 (Alg. 1), in the version of
 * AutoAttack (fra31/auto-attack, fab_base.py); docs/fab.md.
 *
 * One run, per sample, from x1 (x0 = the clean point):
 *   repeat n_iter times:
 *     linearise the classifier at x1 and pick the nearest linearised boundary l*:
 *       untargeted: argmin_{l != y} |z_l - z_y| / ||grad(z_l - z_y)||_q;  FAB-T: l* = t
 *     hyperplane {u : <w, u> = b}, w = grad(z_l* - z_y), b = <w, x1> - (z_l* - z_y)
 *     d1 = proj(x1), d2 = proj(x0) onto hyperplane-and-box (fab_projection.c)
 *     alpha = min(a1 / (a1 + a2), alpha_max), a_i = max(||d_i||_p, 1e-8)
 *     x1 = clip01((1 - alpha)(x1 + eta d1) + alpha (x0 + eta d2))
 *     if pred(x1) != y: keep x1 if it is the smallest so far; x1 = x0 + beta (x1 - x0)
 * Around it (docs/fab.md#restarts-and-fab-t): runs only on correctly classified points; run 1
 * starts at x0, later restarts at a random point of radius eps/2; FAB-T loops over the targets
 * of clean-logit rank 2..n+1; a point leaves once it has an adversarial point within eps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thinice/fab.h"

ti_fab_params ti_fab_params_default(void)
{
    return (ti_fab_params){.norm = TI_NORM_LINF, .eps = 8.0f / 255.0f, .n_iter = 100,
                           .n_restarts = 1, .alpha_max = 0.1f, .eta = 1.05f, .beta = 0.9f,
                           .targeted = 0, .n_target_classes = 9, .seed = 0};
}

/* Everything one call needs, allocated once (sizes for B samples of D values, M classes). */
typedef struct fab_work {
    ti_ctx *ctx;
    const ti_classifier *f;
    const ti_fab_params *p;
    const ti__atk_io *io; /* the ensemble's per-point counters and stream keys (or NULL) */
    int *map;       /* (B) row of the current batch -> index of the point in the call */
    int B, M;
    size_t D;
    float *x0;      /* (B, D) clean points of the active samples */
    float *x1;      /* (B, D) current iterates */
    float *adv;     /* (B, D) best adversarial point of the current run */
    float *w;       /* (B, D) hyperplane normals */
    float *jac;     /* untargeted: (B, M, D) grad(z_l - z_y), row y zero; FAB-T: (B, D) */
    float *dlog;    /* (B, M) seeds of vector-Jacobian products */
    float *logits;  /* (B, M) */
    int T;          /* threads of the step's per-point loop */
    float *d1, *d2; /* (T, D) per thread: projections of x1 and x0 */
    double *bias;   /* (B) hyperplane offsets b */
    double *best;   /* (B) norm of adv, +inf if none in this run */
    int *y, *t, *pred; /* (B) labels, targets, predictions */
    int *stale;        /* (B) moved since its last linearisation? */
    int *rows, *rows2; /* (B) row lists of the current evaluation */
    int *robust;       /* (B) per point of the chunk: still to attack? */
    int *act;          /* (B) row of the batch -> point of the chunk */
    int *order;        /* (B, M) classes by decreasing clean logit */
    double *bestall;   /* (B) norm of the point's x_adv over all runs */
    float *lg;         /* (B, M) logits of gathered rows */
    float *xg, *wg;    /* (B, D) those rows gathered, and their normals */
    double *biasg;     /* (B) their offsets */
    int *yg, *tg;      /* (B) their labels and targets */
    void *pwork;    /* (T) per thread: projection scratch of pbytes */
    size_t pbytes;
    ti_atk_stats st;
} fab_work;

/* ---- linearisation: w and b of the chosen boundary for every active sample ------------- */

/* Untargeted: grad(z_l - z_y) for every class l, through f->jacobian if the classifier has
 * one (then subtract row y), else with M - 1 vector-Jacobian products seeded e_l - e_y
 * (scratch: w). Rows x1 (n, D), labels y; out: wk->jac (n, M, D) with row y zero, logits. */
static ti_status grads_untargeted(fab_work *wk, const float *x1, const int *y, int n,
                                  float *logits, float *w)
{
    const ti_classifier *f = wk->f;
    int M = wk->M;
    size_t D = wk->D;
    if (f->jacobian) {
        ti_status s = f->jacobian(f->self, x1, n, logits, wk->jac);
        if (s != TI_OK)
            return s;
        for (int k = 0; k < n; k++) {
            float *J = wk->jac + (size_t)k * M * D, *gy = J + (size_t)y[k] * D;
            for (int l = 0; l < M; l++)
                if (l != y[k])
                    for (size_t i = 0; i < D; i++)
                        J[(size_t)l * D + i] -= gy[i];
            memset(gy, 0, D * sizeof *gy);
        }
        return TI_OK;
    }
    for (int j = 0; j < M - 1; j++) {
        /* slot j is class l = j for l < y and j + 1 above: every class but y exactly once */
        memset(wk->dlog, 0, (size_t)n * M * sizeof *wk->dlog);
        for (int k = 0; k < n; k++) {
            int l = j < y[k] ? j : j + 1;
            wk->dlog[(size_t)k * M + l] = 1.0f;
            wk->dlog[(size_t)k * M + y[k]] = -1.0f;
        }
        ti_status s = f->vjp(f->self, x1, n, wk->dlog, j == 0 ? logits : NULL, w);
        if (s != TI_OK)
            return s;
        for (int k = 0; k < n; k++) {
            int l = j < y[k] ? j : j + 1;
            memcpy(wk->jac + ((size_t)k * M + l) * D, w + (size_t)k * D, D * sizeof(float));
        }
    }
    for (int k = 0; k < n; k++)
        memset(wk->jac + ((size_t)k * M + y[k]) * D, 0, D * sizeof(float));
    return TI_OK;
}

/* dual-norm of v: L1 for L-inf, L2 for L2, L-inf for L1 */
static double dual_norm(ti_norm p, const float *v, size_t D)
{
    return ti_norm_of(p == TI_NORM_LINF ? TI_NORM_L1 : p == TI_NORM_L1 ? TI_NORM_LINF : p, v, D);
}

/* The linearised boundary at the rows x1 (n, D): hyperplane normals w (n, D), offsets
 * bias (n) and the logits (n, M) at x1. */
static ti_status linearise(fab_work *wk, const float *x1, const int *y, const int *t, int n,
                           float *w, double *bias, float *logits)
{
    int M = wk->M;
    size_t D = wk->D;
    if (wk->p->targeted) {
        /* one backward: grad(z_t - z_y) */
        memset(wk->dlog, 0, (size_t)n * M * sizeof *wk->dlog);
        for (int k = 0; k < n; k++) {
            wk->dlog[(size_t)k * M + t[k]] = 1.0f;
            wk->dlog[(size_t)k * M + y[k]] = -1.0f;
        }
        ti_status s = wk->f->vjp(wk->f->self, x1, n, wk->dlog, logits, w);
        if (s != TI_OK)
            return s;
        for (int k = 0; k < n; k++) {
            const float *z = logits + (size_t)k * M, *wv = w + (size_t)k * D;
            double df = (double)z[t[k]] - z[y[k]], dot = 0;
            for (size_t i = 0; i < D; i++)
                dot += (double)wv[i] * x1[(size_t)k * D + i];
            bias[k] = dot - df;
        }
        return TI_OK;
    }
    ti_status s = grads_untargeted(wk, x1, y, n, logits, w);
    if (s != TI_OK)
        return s;
    for (int k = 0; k < n; k++) {
        const float *z = logits + (size_t)k * M, *J = wk->jac + (size_t)k * M * D;
        int lstar = -1;
        double dmin = INFINITY;
        for (int l = 0; l < M; l++) { /* the nearest linearised boundary; ties: lowest l */
            if (l == y[k])
                continue;
            double df = fabs((double)z[l] - z[y[k]]);
            double dist = df / (1e-12 + dual_norm(wk->p->norm, J + (size_t)l * D, D));
            if (lstar < 0 || dist < dmin) {
                dmin = dist;
                lstar = l;
            }
        }
        const float *g = J + (size_t)lstar * D;
        float *wv = w + (size_t)k * D;
        double dot = 0;
        for (size_t i = 0; i < D; i++) {
            wv[i] = g[i];
            dot += (double)g[i] * x1[(size_t)k * D + i];
        }
        bias[k] = dot - ((double)z[lstar] - z[y[k]]);
    }
    return TI_OK;
}

/* The model passes one linearisation costs a point: one forward, and one backward for FAB-T
 * (the target's gradient), M for the untargeted attack with a Jacobian callback, M - 1
 * vector-Jacobian products without. */
static int lin_backwards(const fab_work *wk)
{
    return wk->p->targeted ? 1 : wk->f->jacobian ? wk->M : wk->M - 1;
}

/* Counts nf forward and nb backward passes for rows[0..nr) of the batch (NULL: 0..nr-1). */
static void fab_count(fab_work *wk, const int *rows, int nr, int nf, int nb)
{
    ti__atk_count(&wk->st, wk->io, wk->map, rows, nr, nf, nb);
}

/* Evaluates the rows[0..nr) of the batch x1: with lin, linearises them (w, bias and logits
 * at those rows), else only the forward pass (logits). Rows are gathered into a compact
 * batch unless they are all n of them. */
static ti_status eval_rows(fab_work *wk, const int *rows, int nr, int n, int lin)
{
    size_t D = wk->D;
    int M = wk->M;
    if (nr == 0)
        return TI_OK;
    fab_count(wk, nr == n ? NULL : rows, nr, 1, lin ? lin_backwards(wk) : 0);
    if (nr == n) {
        if (lin)
            return linearise(wk, wk->x1, wk->y, wk->t, n, wk->w, wk->bias, wk->logits);
        return wk->f->forward(wk->f->self, wk->x1, n, wk->logits);
    }
    for (int r = 0; r < nr; r++) {
        int k = rows[r];
        memcpy(wk->xg + (size_t)r * D, wk->x1 + (size_t)k * D, D * sizeof(float));
        wk->yg[r] = wk->y[k];
        wk->tg[r] = wk->t[k];
    }
    ti_status s;
    if (lin)
        s = linearise(wk, wk->xg, wk->yg, wk->tg, nr, wk->wg, wk->biasg, wk->lg);
    else
        s = wk->f->forward(wk->f->self, wk->xg, nr, wk->lg);
    if (s != TI_OK)
        return s;
    for (int r = 0; r < nr; r++) {
        int k = rows[r];
        memcpy(wk->logits + (size_t)k * M, wk->lg + (size_t)r * M, M * sizeof(float));
        if (lin) {
            memcpy(wk->w + (size_t)k * D, wk->wg + (size_t)r * D, D * sizeof(float));
            wk->bias[k] = wk->biasg[r];
        }
    }
    return TI_OK;
}

/* FAB's step for the points [lo, hi) of a run, on thread t (its own d1, d2 and scratch). */
static void step_range(void *arg, size_t lo, size_t hi, int t)
{
    fab_work *wk = arg;
    const ti_fab_params *p = wk->p;
    size_t D = wk->D;
    float *d1 = wk->d1 + (size_t)t * D, *d2 = wk->d2 + (size_t)t * D;
    void *pwork = (char *)wk->pwork + (size_t)t * wk->pbytes;
    for (size_t k = lo; k < hi; k++) {
        float *x1 = wk->x1 + k * D;
        const float *x0 = wk->x0 + k * D, *w = wk->w + k * D;
        ti_fab_project(p->norm, x1, w, wk->bias[k], D, d1, pwork);
        ti_fab_project(p->norm, x0, w, wk->bias[k], D, d2, pwork);
        /* bias towards the original point: the further x1 is from the boundary compared
         * with x0, the more weight x0's projection gets (at most alpha_max) */
        double a1 = fmax(ti_norm_of(p->norm, d1, D), 1e-8);
        double a2 = fmax(ti_norm_of(p->norm, d2, D), 1e-8);
        float alpha = (float)fmin(fmax(a1 / (a1 + a2), 0.0), p->alpha_max);
        for (size_t i = 0; i < D; i++) {
            float v = (x1[i] + p->eta * d1[i]) * (1.0f - alpha) + (x0[i] + p->eta * d2[i]) * alpha;
            x1[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
    }
}

/* ---- one FAB run on n active samples (x0, x1, y, t filled) -----------------------------
 * The reference evaluates each new iterate twice: a forward pass to test it, and at the next
 * iteration the gradients at the same point. For the points not yet fooled in this run, the
 * test here reuses the logits of the next iteration's linearisation, computed right after
 * the step (saving a forward pass per iteration on robust points, the common case inside
 * AutoAttack); a point that turns out adversarial steps back and is linearised again. Points
 * already fooled in this run usually are again, so they are tested with a plain forward pass,
 * as in the reference. Same points, same values either way. */
static ti_status fab_run(fab_work *wk, int n)
{
    const ti_fab_params *p = wk->p;
    size_t D = wk->D;
    for (int k = 0; k < n; k++) {
        wk->best[k] = INFINITY;
        wk->stale[k] = 1;
    }
    for (int it = 0; it < p->n_iter; it++) {
        ti_status s = it % 4 == 3 ? ti_ctx_progress(wk->ctx, "fab", it, 0) : TI_OK; /* heartbeat */
        if (s != TI_OK)
            return s;
        int nr = 0;
        for (int k = 0; k < n; k++)
            if (wk->stale[k])
                wk->rows[nr++] = k;
        if ((s = eval_rows(wk, wk->rows, nr, n, 1)) != TI_OK)
            return s;
        /* the step: two projections per point (most of the attack's time outside the model),
         * each point on its own, so over the context's threads */
        ti_ctx_parallel_for(wk->ctx, (size_t)n, 1, step_range, wk);
        /* test the new iterates: linearise the not-yet-fooled ones (unless this was the last
         * iteration), plain forward for the others */
        int last = it + 1 == p->n_iter, nl = 0, nf = 0;
        for (int k = 0; k < n; k++) {
            int lin = !last && !(wk->best[k] < INFINITY);
            wk->stale[k] = !lin;
            if (lin)
                wk->rows[nl++] = k;
            else
                wk->rows2[nf++] = k;
        }
        if ((s = eval_rows(wk, wk->rows, nl, n, 1)) != TI_OK ||
            (s = eval_rows(wk, wk->rows2, nf, n, 0)) != TI_OK)
            return s;
        ti_argmax_rows(wk->logits, n, wk->M, wk->pred);
        for (int k = 0; k < n; k++) {
            if (wk->pred[k] == wk->y[k])
                continue;
            float *x1 = wk->x1 + (size_t)k * D;
            const float *x0 = wk->x0 + (size_t)k * D;
            double nrm = ti_norm_dist(p->norm, x1, x0, D);
            if (nrm < wk->best[k]) {
                wk->best[k] = nrm;
                memcpy(wk->adv + (size_t)k * D, x1, D * sizeof *x1);
            }
            /* adversarial: step back towards x0, to search for a closer boundary point */
            for (size_t i = 0; i < D; i++)
                x1[i] = x0[i] + (x1[i] - x0[i]) * p->beta;
            wk->stale[k] = 1;
        }
    }
    return TI_OK;
}

/* Random start of radius eps/2 around x0 in the attack's norm (restarts 2..), clipped. */
static void random_start(const ti_fab_params *p, ti_rng *r, const float *x0, float *x1,
                         size_t D)
{
    for (size_t i = 0; i < D; i++)
        x1[i] = p->norm == TI_NORM_LINF ? ti_rng_uniform(r, -1.0f, 1.0f) : ti_rng_normal(r);
    double nrm = ti_norm_of(p->norm, x1, D);
    float scale = nrm > 0 ? (float)(0.5 * p->eps / nrm) : 0.0f;
    for (size_t i = 0; i < D; i++) {
        float v = x0[i] + scale * x1[i];
        x1[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
    }
}

static ti_status check_params(ti_ctx *ctx, const ti_classifier *f, const ti_fab_params *p,
                              const float *x, const int *y, int N, float *x_adv)
{
    if (!f || !p || (N > 0 && (!x || !y || !x_adv)) || N < 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "fab: NULL classifier, parameters or buffers, or N < 0");
    if (!f->forward || !f->vjp || f->M < 2)
        return ti_ctx_error(ctx, TI_ERR_ARG, "fab: the classifier needs forward, vjp and M >= 2 (M=%d)",
                            f->M);
    if (p->norm != TI_NORM_LINF && p->norm != TI_NORM_L2 && p->norm != TI_NORM_L1)
        return ti_ctx_error(ctx, TI_ERR_ARG, "fab: norm %s not supported (linf, l2, l1)",
                            ti_norm_name(p->norm));
    if (!(p->eps > 0) || p->n_iter < 0 || p->n_restarts < 1)
        return ti_ctx_error(ctx, TI_ERR_ARG, "fab: need eps > 0, n_iter >= 0, n_restarts >= 1 "
                            "(got eps=%g, n_iter=%d, n_restarts=%d)", p->eps, p->n_iter,
                            p->n_restarts);
    if (p->n_restarts > 1 && !isfinite(p->eps))
        return ti_ctx_error(ctx, TI_ERR_ARG, "fab: random restarts start at radius eps/2: eps "
                            "must be finite");
    if (!(p->alpha_max >= 0 && p->alpha_max <= 1) || !(p->eta > 0) ||
        !(p->beta >= 0 && p->beta <= 1))
        return ti_ctx_error(ctx, TI_ERR_ARG, "fab: need 0 <= alpha_max <= 1, eta > 0, "
                            "0 <= beta <= 1 (got %g, %g, %g)", p->alpha_max, p->eta, p->beta);
    if (p->targeted && (p->n_target_classes < 1 || p->n_target_classes > f->M - 1))
        return ti_ctx_error(ctx, TI_ERR_ARG, "fab: FAB-T with %d target classes needs 1 <= "
                            "n_target_classes <= M-1 = %d", p->n_target_classes, f->M - 1);
    for (int i = 0; i < N; i++)
        if (y[i] < 0 || y[i] >= f->M)
            return ti_ctx_error(ctx, TI_ERR_ARG, "fab: label y[%d]=%d outside [0, %d)", i, y[i],
                                f->M);
    return TI_OK;
}

static void fab_work_free(fab_work *wk)
{
    free(wk->x0); free(wk->x1); free(wk->adv); free(wk->w); free(wk->jac);
    free(wk->dlog); free(wk->logits); free(wk->d1); free(wk->d2); free(wk->bias);
    free(wk->best); free(wk->y); free(wk->t); free(wk->pred); free(wk->pwork);
    free(wk->stale); free(wk->rows); free(wk->rows2); free(wk->lg); free(wk->xg); free(wk->wg);
    free(wk->biasg); free(wk->yg); free(wk->tg); free(wk->map);
    free(wk->robust); free(wk->act); free(wk->order); free(wk->bestall);
}

/* Points per chunk: samples are independent, and a chunk's untargeted Jacobian (B, M, D)
 * should stay within 2^24 floats (64 MiB); at most 512 points either way. */
static int fab_chunk_size(int targeted, int M, size_t D, int N)
{
    size_t cap = targeted ? 512 : ((size_t)1 << 24) / ((size_t)M * D);
    int B = (int)(cap < 1 ? 1 : cap > 512 ? 512 : cap);
    return B < N ? B : N;
}

static ti_status fab_work_alloc(fab_work *wk)
{
    int B = wk->B, M = wk->M;
    size_t D = wk->D, BD = (size_t)B * D;
    wk->x0 = malloc(BD * sizeof(float));
    wk->x1 = malloc(BD * sizeof(float));
    wk->adv = malloc(BD * sizeof(float));
    wk->w = malloc(BD * sizeof(float));
    wk->jac = malloc((wk->p->targeted ? 1 : (size_t)M) * BD * sizeof(float));
    wk->dlog = malloc((size_t)B * M * sizeof(float));
    wk->logits = malloc((size_t)B * M * sizeof(float));
    wk->d1 = malloc((size_t)wk->T * D * sizeof(float));
    wk->d2 = malloc((size_t)wk->T * D * sizeof(float));
    wk->bias = malloc((size_t)B * sizeof(double));
    wk->best = malloc((size_t)B * sizeof(double));
    wk->y = malloc((size_t)B * sizeof(int));
    wk->t = malloc((size_t)B * sizeof(int));
    wk->pred = malloc((size_t)B * sizeof(int));
    /* whole cache lines apiece, so that two threads' scratch never shares one */
    wk->pbytes = (ti_fab_project_work_bytes(D) + 63) / 64 * 64;
    wk->pwork = malloc((size_t)wk->T * wk->pbytes);
    wk->stale = malloc((size_t)B * sizeof(int));
    wk->rows = malloc((size_t)B * sizeof(int));
    wk->rows2 = malloc((size_t)B * sizeof(int));
    wk->lg = malloc((size_t)B * M * sizeof(float));
    wk->xg = malloc(BD * sizeof(float));
    wk->wg = malloc(BD * sizeof(float));
    wk->biasg = malloc((size_t)B * sizeof(double));
    wk->yg = malloc((size_t)B * sizeof(int));
    wk->tg = malloc((size_t)B * sizeof(int));
    wk->map = malloc((size_t)B * sizeof(int));
    wk->robust = malloc((size_t)B * sizeof(int));
    wk->act = malloc((size_t)B * sizeof(int));
    wk->order = malloc((size_t)B * M * sizeof(int));
    wk->bestall = malloc((size_t)B * sizeof(double));
    if (!wk->x0 || !wk->x1 || !wk->adv || !wk->w || !wk->jac || !wk->dlog || !wk->logits ||
        !wk->d1 || !wk->d2 || !wk->bias || !wk->best || !wk->y || !wk->t || !wk->pred ||
        !wk->pwork || !wk->stale || !wk->rows || !wk->rows2 || !wk->lg || !wk->xg || !wk->wg ||
        !wk->biasg || !wk->yg || !wk->tg || !wk->map || !wk->robust || !wk->act ||
        !wk->order || !wk->bestall)
        return ti_ctx_error(wk->ctx, TI_ERR_NOMEM, "fab: out of memory for %d samples of %zu "
                            "values", B, D);
    return TI_OK;
}

/* The clean pass of a chunk (x (nb, D), points c0.. of the call): which points are
 * attacked (correctly classified), and each point's classes by decreasing clean logit
 * (ties: lowest index first), FAB-T's targets. */
static ti_status fab_chunk_start(fab_work *wk, const float *x, const int *y, int c0, int nb)
{
    int M = wk->M;
    for (int i = 0; i < nb; i++)
        wk->map[i] = c0 + i;
    fab_count(wk, NULL, nb, 1, 0);
    ti_status s = wk->f->forward(wk->f->self, x, nb, wk->logits);
    if (s != TI_OK)
        return s;
    ti_argmax_rows(wk->logits, nb, M, wk->pred);
    for (int i = 0; i < nb; i++) {
        wk->robust[i] = wk->pred[i] == y[c0 + i];
        wk->bestall[i] = INFINITY;
        int *o = wk->order + (size_t)i * M;
        const float *z = wk->logits + (size_t)i * M;
        for (int m = 0; m < M; m++) {
            int j = m;
            while (j > 0 && z[o[j - 1]] < z[m]) {
                o[j] = o[j - 1];
                j--;
            }
            o[j] = m;
        }
    }
    return TI_OK;
}

/* Sets up restart r against the target of clean-logit rank `rank` (FAB-T; 0 untargeted) for
 * the chunk's points still robust; returns how many. Restart 0 starts at x, later ones at a
 * random point whose stream is keyed on the point's index in the call (or the ensemble's
 * global sample index), so results do not depend on how the samples are chunked or batched. */
static int fab_restart_setup(fab_work *wk, const float *xc, const int *y, int c0, int nb,
                             int rank, int r)
{
    const ti_fab_params *p = wk->p;
    size_t D = wk->D;
    int n = 0;
    for (int i = 0; i < nb; i++)
        if (wk->robust[i])
            wk->act[n++] = i;
    for (int k = 0; k < n; k++) {
        int i = wk->act[k];
        const float *xi = xc + (size_t)i * D;
        wk->map[k] = c0 + i;
        memcpy(wk->x0 + (size_t)k * D, xi, D * sizeof(float));
        wk->y[k] = y[c0 + i];
        wk->t[k] = wk->order[(size_t)i * wk->M + (rank > 0 ? rank - 1 : 0)];
        if (r == 0) {
            memcpy(wk->x1 + (size_t)k * D, xi, D * sizeof(float));
        } else {
            ti_rng rs;
            ti__atk_stream(&rs, p->seed, ti__atk_id(wk->io, c0 + i),
                           ti__salt(TI__SALT_FAB, rank, r));
            random_start(p, &rs, xi, wk->x1 + (size_t)k * D, D);
        }
    }
    return n;
}

/* After a run on n points: an independent check of each run's best point, as the reference
 * does; the smallest adversarial point so far goes to x_adv (chunk rows from c0), and a
 * point with one within eps leaves. */
static ti_status fab_restart_finish(fab_work *wk, const int *y, int c0, int n, float *x_adv)
{
    size_t D = wk->D;
    fab_count(wk, NULL, n, 1, 0);
    ti_status s = wk->f->forward(wk->f->self, wk->adv, n, wk->logits);
    if (s != TI_OK)
        return s;
    ti_argmax_rows(wk->logits, n, wk->M, wk->pred);
    for (int k = 0; k < n; k++) {
        int i = wk->act[k];
        if (!(wk->best[k] < INFINITY) || wk->pred[k] == y[c0 + i])
            continue;
        if (wk->best[k] < wk->bestall[i]) {
            wk->bestall[i] = wk->best[k];
            memcpy(x_adv + (size_t)(c0 + i) * D, wk->adv + (size_t)k * D, D * sizeof(float));
        }
        if (wk->best[k] <= wk->p->eps)
            wk->robust[i] = 0;
    }
    return TI_OK;
}

ti_status ti__fab(ti_ctx *ctx, const ti_classifier *f, const ti_fab_params *p, const float *x,
                  const int *y, int N, float *x_adv, ti_atk_stats *st, const ti__atk_io *io)
{
    ti_status s = check_params(ctx, f, p, x, y, N, x_adv);
    if (s != TI_OK)
        return s;
    if (st)
        *st = (ti_atk_stats){0, 0};
    if (N == 0)
        return TI_OK;
    size_t D = ti_classifier_dim(f);
    fab_work wk = {.ctx = ctx, .f = f, .p = p, .io = io, .M = f->M, .D = D,
                   .B = fab_chunk_size(p->targeted, f->M, D, N),
                   .T = ctx ? ti_ctx_threads(ctx) : 1};
    memcpy(x_adv, x, (size_t)N * D * sizeof *x);
    s = fab_work_alloc(&wk);
    int rank_lo = p->targeted ? 2 : 0, rank_hi = p->targeted ? p->n_target_classes + 1 : 0;
    for (int c0 = 0; c0 < N && s == TI_OK; c0 += wk.B) {
        int nb = N - c0 < wk.B ? N - c0 : wk.B;
        const float *xc = x + (size_t)c0 * D;
        s = fab_chunk_start(&wk, xc, y, c0, nb);
        for (int rank = rank_lo; rank <= rank_hi && s == TI_OK; rank++)
            for (int r = 0; r < p->n_restarts && s == TI_OK; r++) {
                int n = fab_restart_setup(&wk, xc, y, c0, nb, rank, r);
                if (n == 0)
                    break;
                s = fab_run(&wk, n);
                if (s == TI_OK)
                    s = fab_restart_finish(&wk, y, c0, n, x_adv);
            }
    }
    if (st)
        *st = wk.st;
    fab_work_free(&wk);
    return s;
}

ti_status ti_atk_fab(ti_ctx *ctx, const ti_classifier *f, const ti_fab_params *p, const float *x,
                     const int *y, int N, float *x_adv, ti_atk_stats *st)
{
    return ti__fab(ctx, f, p, x, y, N, x_adv, st, NULL);
}
