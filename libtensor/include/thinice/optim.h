/* Stochastic gradient descent exactly as PyTorch's torch.optim.SGD (no dampening), over a list
 * of tensors in frozen-able groups with optional 0/1 masks, and learning-rate schedules as a
 * function of the (fractional) epoch. See docs/app-train.md and docs/pruning.md (#conventions,
 * #learning-rate-schedules) for the conventions and the reference recipes. */
#ifndef THINICE_OPTIM_H
#define THINICE_OPTIM_H

#include "thinice/model.h"
#include "thinice/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- SGD (optim.c) ---------------------------------------------------------------------
 * One step, per tensor w with gradient grad, weight decay wd, momentum mu, learning rate lr:
 *     g   <- grad + wd * w
 *     buf <- mu * buf + g          (buf starts at 0, so the first step gives buf = g)
 *     w   <- w - lr * buf          (Nesterov: w <- w - lr * (g + mu * buf))
 * With mu = 0 there is no buffer: w <- w - lr * g.
 * Where a mask is 0 the gradient and the momentum are set to 0 and the weight is kept at
 * exactly 0 after every step (weight decay included), so a pruned entry never comes back.
 * Tensors whose grad is NULL and tensors in a frozen group are skipped entirely (no weight
 * decay, buffers untouched), as PyTorch skips parameters without a gradient. */

/* Groups that ti_sgd_add_model uses; callers may use any group in [0, TI_SGD_MAX_GROUPS),
 * e.g. TI_SGD_GROUP_USER for HYDRA's scores. */
#define TI_SGD_GROUP_WEIGHTS 0 /* conv and linear weights (the prunable kind) */
#define TI_SGD_GROUP_BIASES 1  /* conv and linear biases */
#define TI_SGD_GROUP_BN 2      /* batch-norm gamma and beta */
#define TI_SGD_GROUP_USER 3    /* first group free for the caller */
#define TI_SGD_MAX_GROUPS 8

typedef struct ti_sgd_params {
    float lr;           /* initial learning rate (a schedule usually overrides it per batch) */
    float momentum;     /* mu; 0 disables the momentum buffer */
    float weight_decay; /* the wd ti_sgd_add_model gives every tensor */
    int nesterov;       /* non-zero: Nesterov momentum (needs momentum > 0) */
    int decay_bn_bias;  /* non-zero (the PyTorch reference code): weight decay also on biases
                           and batch-norm gamma/beta; 0: only on conv and linear weights */
} ti_sgd_params;

/* The paper's recipe (docs/pruning.md#learning-rate-schedules): lr 0.1, momentum 0.9, weight decay 1e-4, no
 * Nesterov, weight decay on every parameter. */
ti_sgd_params ti_sgd_params_default(void);

typedef struct ti_sgd ti_sgd;

/* A new optimizer with no tensors. Checks the parameters (finite, momentum in [0, 1),
 * weight_decay >= 0, Nesterov only with momentum): TI_ERR_ARG with a message otherwise.
 * ctx is borrowed for error messages and must outlive the optimizer. */
ti_status ti_sgd_new(ti_ctx *ctx, const ti_sgd_params *p, ti_sgd **out);
/* Frees the optimizer and its momentum buffers (not the tensors). NULL is fine. */
void ti_sgd_free(ti_sgd *opt);

/* Adds tensor t (borrowed: it must outlive opt and keep its data/grad pointers) to `group`
 * with its own weight decay. mask (t->size floats of 0/1, borrowed, may be NULL) is read at
 * every step; the masked weights are zeroed at once. All momentum buffers live in one
 * allocation, which grows here (never in ti_sgd_step). */
ti_status ti_sgd_add(ti_sgd *opt, ti_tensor *t, const float *mask, float weight_decay,
                     int group);
/* Adds every trainable parameter of m in state_dict order: conv/linear weights to
 * TI_SGD_GROUP_WEIGHTS, biases to TI_SGD_GROUP_BIASES, batch-norm gamma/beta to
 * TI_SGD_GROUP_BN, each with the parameters' weight_decay (0 for biases and BN when
 * decay_bn_bias is off). The weights' masks are followed through the model, so a mask set
 * later with ti_model_set_mask is honoured. m must outlive opt. */
ti_status ti_sgd_add_model(ti_sgd *opt, ti_model *m);

/* Freezes (frozen != 0) or thaws a group: frozen tensors are left bit-identical by steps. */
void ti_sgd_set_group_frozen(ti_sgd *opt, int group, int frozen);
int ti_sgd_group_frozen(const ti_sgd *opt, int group);

void ti_sgd_set_lr(ti_sgd *opt, float lr);
float ti_sgd_lr(const ti_sgd *opt);

/* Zeroes the gradient of every tensor in the optimizer that has one (frozen ones too). */
void ti_sgd_zero_grad(ti_sgd *opt);
/* A data-parallel step's gradients: every tensor's gradient (frozen groups left out) times
 * `scale`, summed over the processes of r. The pack buffer is kept between calls. */
ti_status ti_sgd_reduce(ti_sgd *opt, const ti_reducer *r, float scale);
/* One SGD step over every tensor of every group that is not frozen. Returns TI_ERR_NAN if
 * the learning rate is not finite (nothing is changed then). */
ti_status ti_sgd_step(ti_sgd *opt);

/* Number of tensors added, and the momentum buffer of tensor i (its size floats, in the
 * shared allocation; NULL when momentum is 0). Borrowed; valid until the next ti_sgd_add.
 * Exposed for checkpoints of the optimizer state and for tests. */
int ti_sgd_count(const ti_sgd *opt);
float *ti_sgd_momentum(ti_sgd *opt, int i);

/* ---- learning-rate schedules (schedule.c) -----------------------------------------------
 * A schedule maps a fractional epoch e (epoch + batch / batches_per_epoch, from 0) to a
 * learning rate. Fill one with a ti_schedule_* initialiser, then read it with
 * ti_schedule_lr. Two knobs reproduce how reference code steps its schedulers:
 *   per_epoch: evaluate at floor(e) (a PyTorch scheduler stepped once per epoch);
 *   shift:     evaluate at e + shift (HYDRA's cosine uses epoch - 1: shift = -1; ADMM steps
 *              before each update: shift = +1 / batches_per_epoch). */
typedef enum ti_sched_kind {
    TI_SCHED_CONSTANT = 0, /* lr0 */
    TI_SCHED_STEP,         /* lr0 * gamma^(number of milestones <= e) */
    TI_SCHED_COSINE,       /* optional linear warm-up from 0, then cosine to lr_min */
    TI_SCHED_LINEAR,       /* piecewise linear through (epoch, lr) points */
    TI_SCHED_KIND_COUNT
} ti_sched_kind;

#define TI_SCHED_MAX_POINTS 16

typedef struct ti_schedule {
    ti_sched_kind kind;
    float lr0;                /* constant, step, cosine: the initial learning rate */
    float gamma;              /* step: factor at each milestone */
    int n;                    /* step: milestones; linear: points */
    double at[TI_SCHED_MAX_POINTS]; /* step: milestones; linear: epochs of the points */
    float lr[TI_SCHED_MAX_POINTS];  /* linear: learning rates of the points */
    double epochs;            /* cosine: the epoch where it reaches lr_min (T_max) */
    double warmup;            /* cosine: warm-up epochs (lr0 * e / warmup); 0 for none */
    float lr_min;             /* cosine: the final value (eta_min) */
    int per_epoch;
    double shift;
} ti_schedule;

/* Each initialiser checks its arguments (finite, positive where needed, milestones and
 * point epochs increasing, at most TI_SCHED_MAX_POINTS) and returns TI_ERR_ARG with a message
 * in ctx otherwise. per_epoch and shift start at 0; set them afterwards if needed. */
ti_status ti_schedule_constant(ti_ctx *ctx, ti_schedule *s, float lr);
ti_status ti_schedule_step(ti_ctx *ctx, ti_schedule *s, float lr, float gamma, int n,
                           const double *milestones);
/* lr(e) = lr_min + (lr0 - lr_min) (1 + cos(pi (e - warmup) / (epochs - warmup))) / 2 for
 * warmup <= e <= epochs, lr0 e / warmup before, lr_min after (PyTorch's CosineAnnealingLR
 * with T_max = epochs when warmup = 0). */
ti_status ti_schedule_cosine(ti_ctx *ctx, ti_schedule *s, float lr, double epochs,
                             double warmup, float lr_min);
/* Linear interpolation between the points; constant before the first and after the last. */
ti_status ti_schedule_linear(ti_ctx *ctx, ti_schedule *s, int n, const double *epochs,
                             const float *lrs);
/* The learning rate at fractional epoch e. */
float ti_schedule_lr(const ti_schedule *s, double e);
/* "cosine", "step", ...; "?" for an unknown kind. */
const char *ti_sched_kind_name(ti_sched_kind k);

#ifdef __cplusplus
}
#endif
#endif
