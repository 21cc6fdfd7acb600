/* FAB, the Fast Adaptive Boundary attack (Croce & Hein, "Minimally distorted adversarial
 * examples with a fast adaptive boundary attack", ICML 2020), in AutoAttack's version:
 * untargeted (full Jacobian) and targeted (FAB-T, targets by clean-logit rank), L-inf, L2
 * and L1, random restarts as the reference does them (fra31/auto-attack, fab_base.py). The
 * attack and its projection onto hyperplane-and-box are derived in docs/fab.md. */
#ifndef THINICE_FAB_H
#define THINICE_FAB_H

#include "thinice/attack.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ti_fab_params {
    ti_norm norm;         /* TI_NORM_LINF, TI_NORM_L2 or TI_NORM_L1 */
    float eps;            /* success radius: a point is done once an adversarial point with
                           * ||x_adv - x||_p <= eps is found; also sets the random-start
                           * radius eps/2 of restarts 2.. (must then be finite) */
    int n_iter;           /* iterations per run (AutoAttack: 100) */
    int n_restarts;       /* runs per point (per target for FAB-T); run 1 starts at x itself,
                           * later runs at a random point of radius eps/2 */
    float alpha_max;      /* cap of the bias towards the original point (0.1) */
    float eta;            /* overshoot of the projection step (1.05) */
    float beta;           /* backward step towards x after an adversarial iterate (0.9) */
    int targeted;         /* 0: untargeted FAB; 1: FAB-T */
    int n_target_classes; /* FAB-T: targets = classes of clean-logit rank 2..n+1 (9) */
    uint64_t seed;        /* random starts; each sample's stream derives from it */
} ti_fab_params;

/* AutoAttack's values: L-inf, eps 8/255, n_iter 100, alpha_max 0.1, eta 1.05, beta 0.9,
 * 1 restart, untargeted, n_target_classes 9, seed 0. */
ti_fab_params ti_fab_params_default(void);

/* Runs FAB on the N samples x (N, C, H, W) with labels y (N). Only points with
 * pred(x) == y are attacked. x_adv (N, C, H, W, caller-owned, may not alias x) receives per
 * sample the best (smallest-norm) adversarial point found over all runs (and targets), or x
 * itself where none was found; a point found outside the eps ball is kept as the best so far
 * but the point stays under attack, as in the reference. The caller checks the eps ball.
 * Success means pred(x_adv) != y, also for FAB-T.
 * Work buffers are allocated once per call. Errors: TI_ERR_ARG (bad parameters, NULL
 * pointers, labels out of range, n_target_classes > M-1, restarts with infinite eps),
 * TI_ERR_NOMEM, or the classifier's own status. */
ti_status ti_atk_fab(ti_ctx *ctx, const ti_classifier *f, const ti_fab_params *p, const float *x,
                     const int *y, int N, float *x_adv, ti_atk_stats *st);

/* ---- the projection onto hyperplane-and-box (docs/fab.md) -------------------------------
 * d = argmin ||d||_p  subject to  <w, t + d> = b  and  0 <= t + d <= 1,  for t in [0,1]^D.
 * If no d in the box reaches the hyperplane, d is the vertex of the box face nearest to it
 * (every usable coordinate moved to its face in the direction that reduces |<w,t+d> - b|).
 * work is scratch of at least ti_fab_project_work_bytes(D) bytes (any alignment of malloc).
 * Returns 1 if the hyperplane was reachable, 0 for the infeasible case. p must be L-inf, L2
 * or L1 (anything else is an assertion). Cost O(D) when no coordinate saturates, else one
 * O(D) radix sort. */
size_t ti_fab_project_work_bytes(size_t D);
int ti_fab_project(ti_norm p, const float *t, const float *w, double b, size_t D, float *d,
                   void *work);

#ifdef __cplusplus
}
#endif
#endif
