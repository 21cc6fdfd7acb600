/* FGSM (Goodfellow et al., ICLR 2015) and PGD (Madry et al., ICLR 2018), L-inf and L2, with
 * random start and restarts on the points not yet fooled. docs/attacks.md#fgsm-and-pgd.
 * Both follow the calling convention of attack.h. */
#ifndef THINICE_PGD_H
#define THINICE_PGD_H

#include "thinice/attack.h"
#include "thinice/losses.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ti_fgsm_params {
    ti_norm norm;     /* TI_NORM_LINF (x + eps sign g) or TI_NORM_L2 (x + eps g / ||g||_2) */
    float eps;
    ti_loss loss;     /* untargeted loss maximised (TI_LOSS_CE) */
    int random_start; /* 0: start at x (the classic FGSM); 1: uniform point of the ball */
    uint64_t seed;
} ti_fgsm_params;

/* L-inf, eps 8/255, CE, no random start, seed 0. */
ti_fgsm_params ti_fgsm_params_default(void);

/* One gradient step of size eps from x (or from the random start), projected on the ball
 * and the box. Every point is attacked, also the ones misclassified at clean (FGSM has no
 * notion of success). x_adv (N, C, H, W) caller-owned. Errors: TI_ERR_ARG (bad parameters,
 * labels out of range, L1/L0), the classifier's status. Cost: N forwards + N vjps. */
ti_status ti_atk_fgsm(ti_ctx *ctx, const ti_classifier *f, const ti_fgsm_params *p,
                      const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st);

typedef struct ti_pgd_params {
    ti_norm norm;     /* TI_NORM_LINF (sign steps) or TI_NORM_L2 (normalised steps) */
    float eps;
    float step;       /* step size alpha (L-inf: 2/255 for eps 8/255) */
    int steps;        /* iterations per run (20 for evaluation) */
    int random_start; /* 1: each run starts at a uniform random point of the ball */
    int restarts;     /* runs; run r > 1 only on the points not yet fooled */
    ti_loss loss;     /* TI_LOSS_CE (default) or another untargeted loss */
    uint64_t seed;
} ti_pgd_params;

/* L-inf, eps 8/255, step 2/255, 20 steps, random start, 1 restart, CE, seed 0. */
ti_pgd_params ti_pgd_params_default(void);

/* PGD. Only points with pred(x) == y are attacked (others: x_adv = x). Per point x_adv is
 * the last misclassified iterate of the first run that found one, else the last iterate of
 * the last run. With steps 1, step eps and no random start it equals FGSM on the attacked
 * points. Errors as ti_atk_fgsm, plus TI_ERR_ARG for steps < 1, restarts < 1, step <= 0.
 * Cost per run and attacked point: steps + 1 forwards, steps vjps; plus one clean forward. */
ti_status ti_atk_pgd(ti_ctx *ctx, const ti_classifier *f, const ti_pgd_params *p,
                     const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st);

#ifdef __cplusplus
}
#endif
#endif
