/* Learning-rate schedules as functions of the fractional epoch: constant, step (PyTorch's
 * MultiStepLR), cosine (CosineAnnealingLR, with an optional linear warm-up) and piecewise
 * linear. The reference recipes and their quirks: docs/pruning.md#learning-rate-schedules. */
#include <math.h>
#include <string.h>

#include "thinice/optim.h"

static const char *const kind_names[TI_SCHED_KIND_COUNT] = {"constant", "step", "cosine",
                                                            "linear"};

const char *ti_sched_kind_name(ti_sched_kind k)
{
    return (unsigned)k < TI_SCHED_KIND_COUNT ? kind_names[k] : "?";
}

static ti_status check_lr(ti_ctx *ctx, const char *what, float lr)
{
    if (!isfinite(lr) || lr < 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "schedule: %s %g must be finite and >= 0", what, lr);
    return TI_OK;
}

static void clear(ti_schedule *s, ti_sched_kind kind, float lr)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->lr0 = lr;
    s->gamma = 1.0f;
}

ti_status ti_schedule_constant(ti_ctx *ctx, ti_schedule *s, float lr)
{
    ti_status st = check_lr(ctx, "learning rate", lr);
    if (st != TI_OK)
        return st;
    clear(s, TI_SCHED_CONSTANT, lr);
    return TI_OK;
}

/* n points or milestones: at most TI_SCHED_MAX_POINTS, finite, strictly increasing */
static ti_status check_epochs(ti_ctx *ctx, const char *what, int n, const double *at, int min_n)
{
    if (n < min_n || n > TI_SCHED_MAX_POINTS)
        return ti_ctx_error(ctx, TI_ERR_ARG, "schedule: %d %s given, between %d and %d allowed",
                            n, what, min_n, TI_SCHED_MAX_POINTS);
    if (n > 0 && !at)
        return ti_ctx_error(ctx, TI_ERR_ARG, "schedule: no %s array given", what);
    for (int i = 0; i < n; i++) {
        if (!isfinite(at[i]))
            return ti_ctx_error(ctx, TI_ERR_ARG, "schedule: %s %d is not finite", what, i);
        if (i > 0 && at[i] <= at[i - 1])
            return ti_ctx_error(ctx, TI_ERR_ARG,
                                "schedule: %s must increase, but %g follows %g", what, at[i],
                                at[i - 1]);
    }
    return TI_OK;
}

ti_status ti_schedule_step(ti_ctx *ctx, ti_schedule *s, float lr, float gamma, int n,
                           const double *milestones)
{
    ti_status st = check_lr(ctx, "learning rate", lr);
    if (st == TI_OK)
        st = check_lr(ctx, "gamma", gamma);
    if (st == TI_OK)
        st = check_epochs(ctx, "milestones", n, milestones, 0);
    if (st != TI_OK)
        return st;
    clear(s, TI_SCHED_STEP, lr);
    s->gamma = gamma;
    s->n = n;
    for (int i = 0; i < n; i++)
        s->at[i] = milestones[i];
    return TI_OK;
}

ti_status ti_schedule_cosine(ti_ctx *ctx, ti_schedule *s, float lr, double epochs, double warmup,
                             float lr_min)
{
    ti_status st = check_lr(ctx, "learning rate", lr);
    if (st == TI_OK)
        st = check_lr(ctx, "final learning rate", lr_min);
    if (st != TI_OK)
        return st;
    if (!isfinite(epochs) || epochs <= 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "schedule: cosine length %g epochs must be > 0",
                            epochs);
    if (!isfinite(warmup) || warmup < 0 || warmup >= epochs)
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "schedule: warm-up of %g epochs must be in [0, %g) (the length)",
                            warmup, epochs);
    clear(s, TI_SCHED_COSINE, lr);
    s->epochs = epochs;
    s->warmup = warmup;
    s->lr_min = lr_min;
    return TI_OK;
}

ti_status ti_schedule_linear(ti_ctx *ctx, ti_schedule *s, int n, const double *epochs,
                             const float *lrs)
{
    ti_status st = check_epochs(ctx, "points", n, epochs, 1);
    if (st != TI_OK)
        return st;
    if (!lrs)
        return ti_ctx_error(ctx, TI_ERR_ARG, "schedule: no learning rates given");
    for (int i = 0; i < n; i++)
        if ((st = check_lr(ctx, "learning rate of a point", lrs[i])) != TI_OK)
            return st;
    clear(s, TI_SCHED_LINEAR, lrs[0]);
    s->n = n;
    for (int i = 0; i < n; i++) {
        s->at[i] = epochs[i];
        s->lr[i] = lrs[i];
    }
    return TI_OK;
}

float ti_schedule_lr(const ti_schedule *s, double e)
{
    if (s->per_epoch)
        e = floor(e);
    e += s->shift;
    switch (s->kind) {
    case TI_SCHED_STEP: {
        /* MultiStepLR: one factor of gamma for every milestone already reached */
        double lr = s->lr0;
        for (int i = 0; i < s->n && s->at[i] <= e; i++)
            lr *= s->gamma;
        return (float)lr;
    }
    case TI_SCHED_COSINE: {
        if (s->warmup > 0 && e < s->warmup)
            return (float)(s->lr0 * (e > 0 ? e : 0) / s->warmup);
        double t = e - s->warmup, T = s->epochs - s->warmup;
        if (t >= T)
            return s->lr_min;
        /* cos is even: HYDRA's shift of -1 makes epoch 0 equal epoch 2, as in its code */
        return (float)(s->lr_min + (s->lr0 - s->lr_min) * 0.5 * (1.0 + cos(M_PI * t / T)));
    }
    case TI_SCHED_LINEAR: {
        if (e <= s->at[0])
            return s->lr[0];
        for (int i = 1; i < s->n; i++)
            if (e <= s->at[i]) {
                double f = (e - s->at[i - 1]) / (s->at[i] - s->at[i - 1]);
                return (float)(s->lr[i - 1] + f * (s->lr[i] - s->lr[i - 1]));
            }
        return s->lr[s->n - 1];
    }
    case TI_SCHED_CONSTANT:
    default:
        return s->lr0;
    }
}
