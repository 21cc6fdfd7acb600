/* APGD, Auto-PGD (Croce & Hein, "Reliable evaluation of adversarial robustness with an
 * ensemble of diverse parameter-free attacks", ICML 2020), untargeted with the CE or DLR
 * loss and targeted (APGD-T, targeted DLR over the classes of clean-logit rank 2..n+1),
 * L-inf and L2, as AutoAttack runs them, reference quirks included (docs/attacks.md), and
 * L1-APGD (Croce & Hein, "Mind the box", ICML 2021) on the L1 ball ∩ [0,1]^d.
 * docs/attacks.md#apgd. Both follow the calling convention of attack.h. */
#ifndef THINICE_APGD_H
#define THINICE_APGD_H

#include "thinice/attack.h"
#include "thinice/losses.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ti_apgd_params {
    ti_norm norm;         /* TI_NORM_LINF, TI_NORM_L2 or TI_NORM_L1. L1 is L1-APGD: the
                           * threat set is the L1 ball ∩ [0,1]^d with its exact projection,
                           * steps move the k coordinates of largest |gradient| (k adapted
                           * per point), the first step is eps, no momentum, and a checkpoint
                           * every 4% of the run adapts k and the step instead of the
                           * L-inf/L2 schedule (rho is unused; docs/attacks.md) */
    float eps;
    int n_iter;           /* iterations per run (AutoAttack: 100) */
    int n_restarts;       /* runs per point (per target for APGD-T) on the points not yet
                           * fooled, each from a fresh random start */
    ti_loss loss;         /* untargeted: TI_LOSS_CE or TI_LOSS_DLR (APGD-T always uses
                           * TI_LOSS_DLR_T and ignores this) */
    int n_target_classes; /* APGD-T: targets of clean-logit rank 2..n+1 (AutoAttack: 9) */
    float rho;            /* oscillation threshold of the step-size checkpoints (0.75;
                           * L-inf and L2 only) */
    int stop_on_success;  /* 0 (reference): a fooled point keeps iterating to the end of the
                           * run and x_adv is its LAST misclassified iterate; 1: a point
                           * leaves the batch once fooled and x_adv is its FIRST
                           * misclassified iterate. Which points are fooled is the same
                           * either way (points do not interact), 1 is faster. */
    uint64_t seed;        /* random starts: sample i's stream derives from (seed, i) */
    /* Optional trace of the first run's sample 0 (NULL: none), caller-owned arrays:
     * trace_best (n_iter + 1) the best loss after iteration i (index 0: the start),
     * trace_eta (n_iter) the step size used by iteration i, trace_loss (n_iter) the loss
     * after iteration i. For tests and teaching. */
    float *trace_best, *trace_eta, *trace_loss;
} ti_apgd_params;

/* AutoAttack's values: L-inf, eps 8/255, 100 iterations, 1 restart, CE, 9 target classes,
 * rho 0.75, stop_on_success 0, seed 0, no trace. (Momentum 0.75 and the initial step 2 eps
 * are fixed by the method; at L1, no momentum and an initial step of eps.) */
ti_apgd_params ti_apgd_params_default(void);

/* The checkpoint iterations (1-based, docs/attacks.md#the-schedule) of a run of n_iter iterations into ckpt
 * (at most max entries); returns how many there are. For n_iter 100: 22 41 57 70 80 87 93 99.
 * L-inf and L2; at L1 a checkpoint falls every max(floor(0.04 n_iter), 1) iterations. */
int ti_apgd_checkpoints(int n_iter, int *ckpt, int max);

/* Untargeted APGD with p->loss. Only points with pred(x) == y are attacked; x_adv receives,
 * per fooled point, a misclassified iterate (see stop_on_success) and x itself elsewhere.
 * Success means pred(x_adv) != y. Work buffers are allocated once per call.
 * Errors: TI_ERR_ARG (bad parameters, NULL pointers, labels out of range, DLR with fewer
 * than 3 classes), TI_ERR_UNSUPPORTED (L0), TI_ERR_NOMEM, TI_ERR_CANCELLED (progress
 * callback), or the classifier's status. Cost per run and attacked point: n_iter + 1
 * gradient evaluations (forward + vjp), plus one clean forward per call. */
ti_status ti_atk_apgd(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                      const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st);

/* APGD-T: for rank = 2 .. n_target_classes + 1 and each restart, the points still not
 * fooled are attacked with the targeted DLR loss towards their class of clean-logit rank
 * `rank` (ties: lowest index first). Success means pred(x_adv) != y (not == target), as in
 * AutoAttack. Errors as ti_atk_apgd, plus TI_ERR_ARG for fewer than 4 classes or
 * n_target_classes outside [1, M-1]. */
ti_status ti_atk_apgd_targeted(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                               const float *x, const int *y, int N, float *x_adv,
                               ti_atk_stats *st);

/* The targets APGD-T uses for one sample with clean logits z (M): the classes of rank
 * 2..n+1 in order, into t (n ints). */
void ti_apgd_targets(const float *z, int M, int n, int *t);

#ifdef __cplusplus
}
#endif
#endif
