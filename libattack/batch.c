/* Helpers every attack shares: per-sample random streams, one batched loss-and-gradient
 * evaluation (one forward and one backward through the classifier's grad callback when it has
 * one, else forward + vjp), call counting, argument checks, the random start and the projected
 * ascent step (the projections themselves are in projection.c). */
#include <math.h>

#include "internal.h"

void ti__atk_stream(ti_rng *r, uint64_t seed, uint64_t id, uint64_t salt)
{
    ti_rng base;
    ti_rng_seed(&base, seed);
    /* mix id and salt into one key; splitmix inside ti_rng_split spreads it */
    ti_rng_split(r, &base, id * 0x9e3779b97f4a7c15ULL ^ (salt + 0x632be59bd9b4e019ULL));
}

static ti_status classifier_failed(ti_ctx *ctx, ti_status s, const char *what)
{
    /* the classifier reports details to its own context; make sure ours says something */
    if (ctx && ti_ctx_errmsg(ctx)[0] == '\0')
        ti_ctx_error(ctx, s, "attack: the classifier's %s failed: %s", what, ti_status_str(s));
    return s;
}

/* What the loss callback of ti_classifier_grad needs to turn logits into d loss / d logits:
 * the loss, the labels (and targets) of the rows, and where to keep each row's value. */
typedef struct eval_loss {
    ti_loss loss;
    const int *y, *t;
    float *lossv; /* (n) or NULL */
} eval_loss;

/* ti_dlogits_fn: each row's loss value and its gradient w.r.t. the row's logits */
static void eval_dlogits(void *user, const float *logits, int n, int M, float *dl)
{
    const eval_loss *e = user;
    for (int r = 0; r < n; r++) {
        float v = ti_loss_eval(e->loss, logits + (size_t)r * M, M, e->y[r], e->t ? e->t[r] : 0,
                               dl + (size_t)r * M);
        if (e->lossv)
            e->lossv[r] = v;
    }
}

ti_status ti__atk_eval(ti_ctx *ctx, const ti_classifier *f, ti_loss loss, const float *xb,
                       const int *y, const int *t, int n, float *logits, float *dl,
                       float *lossv, int *pred, float *grad)
{
    if (n == 0)
        return TI_OK;
    int M = f->M;
    ti_status s;
    if (grad && f->grad) {
        /* one forward and one backward: the classifier asks for d loss / d logits between
         * the two (the loss needs the logits of this very forward) */
        eval_loss e = {loss, y, t, lossv};
        s = ti_classifier_grad(f, xb, n, eval_dlogits, &e, logits, grad);
        if (s != TI_OK)
            return classifier_failed(ctx, s, "grad");
    } else {
        /* forward, loss, then (for a gradient) a vjp, which may run the forward again; dl is
         * the caller's scratch, so nothing is allocated here */
        s = f->forward(f->self, xb, n, logits);
        if (s != TI_OK)
            return classifier_failed(ctx, s, "forward");
        for (int r = 0; r < n; r++) {
            const float *z = logits + (size_t)r * M;
            float v = ti_loss_eval(loss, z, M, y[r], t ? t[r] : 0,
                                   grad ? dl + (size_t)r * M : NULL);
            if (lossv)
                lossv[r] = v;
        }
        if (grad) {
            s = f->vjp(f->self, xb, n, dl, NULL, grad);
            if (s != TI_OK)
                return classifier_failed(ctx, s, "vjp");
        }
    }
    if (pred)
        ti_argmax_rows(logits, n, M, pred);
    return TI_OK;
}

void ti__atk_count(ti_atk_stats *st, const ti__atk_io *io, const int *map, const int *rows,
                   int n, int nf, int nb)
{
    if (st) {
        st->forwards += (long)n * nf;
        st->backwards += (long)n * nb;
    }
    if (!io || (!io->fwd && !io->bwd))
        return;
    for (int k = 0; k < n; k++) {
        int r = rows ? rows[k] : k;
        int i = map ? map[r] : r;
        if (io->fwd)
            io->fwd[i] += nf;
        if (io->bwd)
            io->bwd[i] += nb;
    }
}

void ti__atk_count_range(ti_atk_stats *st, const ti__atk_io *io, int first, int n, int nf,
                         int nb)
{
    if (st) {
        st->forwards += (long)n * nf;
        st->backwards += (long)n * nb;
    }
    for (int i = first; io && i < first + n; i++) {
        if (io->fwd)
            io->fwd[i] += nf;
        if (io->bwd)
            io->bwd[i] += nb;
    }
}

ti_status ti__atk_check_args(ti_ctx *ctx, const char *who, const ti_classifier *f,
                             const void *p, const float *x, const int *y, int N,
                             const float *x_adv, ti_norm norm, float eps)
{
    ti_ctx_clear_error(ctx);
    if (!f || !p || (N > 0 && (!x || !y || !x_adv)))
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: NULL classifier, parameters or buffer", who);
    if (N < 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: negative sample count %d", who, N);
    if (!f->forward || !f->vjp || f->M < 2 || ti_classifier_dim(f) == 0)
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "%s: the classifier needs forward and vjp callbacks, M >= 2 classes "
                            "and a non-empty input (M=%d, C=%d, H=%d, W=%d)",
                            who, f->M, f->C, f->H, f->W);
    if (N > 0 && x == x_adv)
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: x_adv may not alias x", who);
    if (!(eps >= 0.0f) || isinf(eps))
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: eps must be finite and >= 0 (got %g)", who,
                            (double)eps);
    if ((unsigned)norm >= TI_NORM_COUNT)
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: unknown norm %d", who, (int)norm);
    for (int i = 0; i < N; i++)
        if (y[i] < 0 || y[i] >= f->M)
            return ti_ctx_error(ctx, TI_ERR_ARG, "%s: label y[%d] = %d is not in [0, %d)", who,
                                i, y[i], f->M);
    return TI_OK;
}

void ti__random_start(ti_rng *r, ti_norm norm, const float *x, float eps, size_t D, float *out)
{
    if (norm == TI_NORM_LINF) {
        for (size_t i = 0; i < D; i++)
            out[i] = ti__clampf(ti__within(x[i], ti_rng_uniform(r, -eps, eps)), 0.0f, 1.0f);
        return;
    }
    double s = 0;
    for (size_t i = 0; i < D; i++) {
        out[i] = ti_rng_normal(r);
        s += (double)out[i] * out[i];
    }
    double radius = eps * pow(ti_rng_double(r), 1.0 / (double)D);
    float scale = (float)(radius / (sqrt(s) + 1e-12));
    for (size_t i = 0; i < D; i++)
        out[i] = ti__clampf(x[i] + out[i] * scale, 0.0f, 1.0f);
    ti__fit_l2(out, x, eps, D);
}

void ti__ascent_step(ti_norm norm, float *xa, const float *xs, const float *x, const float *g,
                     float step, float eps, size_t D)
{
    if (norm == TI_NORM_LINF) {
        for (size_t i = 0; i < D; i++)
            xa[i] = xs[i] + step * ti__signf(g[i]);
        ti__proj_linf(xa, x, eps, D);
    } else {
        double s = 0;
        for (size_t i = 0; i < D; i++)
            s += (double)g[i] * g[i];
        float scale = step / ((float)sqrt(s) + 1e-12f);
        for (size_t i = 0; i < D; i++)
            xa[i] = xs[i] + scale * g[i];
        ti__proj_l2(xa, x, eps, D);
    }
}
