/* FMN, the Fast Minimum-Norm attack (Pintor, Roli, Brendel & Biggio, "Fast minimum-norm
 * adversarial attacks through adaptive norm constraints", NeurIPS 2021), for L0, L1, L2 and
 * L-inf, untargeted and targeted, with the authors' code's details
 * (pralab/Fast-Minimum-Norm-FMN-Attack); the epsilon step is explained in docs/fmn.md. It measures each sample's distance to the decision boundary. */
#ifndef THINICE_FMN_H
#define THINICE_FMN_H

#include "thinice/attack.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ti_fmn_params {
    ti_norm norm;      /* TI_NORM_LINF, TI_NORM_L2, TI_NORM_L1 or TI_NORM_L0 */
    int steps;         /* K iterations (authors' default 10; the distance study passes 1000) */
    float alpha0;      /* initial step of delta (1.0) */
    float alpha_final; /* final step of delta; < 0 means alpha0 / 100 (the default) */
    float gamma0;      /* initial step of epsilon (0.05) */
    float gamma_final; /* final step of epsilon (0.001) */
    int targeted;      /* 0: y are true labels, success = pred != y;
                        * 1: y are target labels, success = pred == y */
    uint64_t seed;     /* FMN draws no random numbers (it starts at delta = 0); kept for the
                        * common calling convention, results never depend on it */
} ti_fmn_params;

/* The authors' defaults: L-inf, 10 steps, alpha0 1, alpha_final alpha0/100, gamma0 0.05,
 * gamma_final 0.001, untargeted. */
ti_fmn_params ti_fmn_params_default(void);

/* Runs FMN on the N samples x (N, C, H, W) with labels y (N): true labels, or targets when
 * p->targeted. Per sample, x_adv (N, C, H, W, caller-owned, not aliasing x) receives the
 * smallest-norm adversarial point found, and norms (N, caller-owned) its norm
 * ||x_adv - x||_p (L0: number of changed values), computed by ti_norm_dist: 0 for a point
 * already adversarial at x (x_adv = x), +INFINITY where none was found (x_adv = x).
 * Cost: one forward and one backward pass per step (ti_classifier_grad). Work buffers are
 * allocated once per call. Errors: TI_ERR_ARG (NULL pointers, bad parameters, labels out of
 * range), TI_ERR_NOMEM, or the classifier's status. */
ti_status ti_atk_fmn(ti_ctx *ctx, const ti_classifier *f, const ti_fmn_params *p,
                     const float *x, const int *y, int N, float *x_adv, float *norms,
                     ti_atk_stats *st);

/* The same, also recording per sample and step (each (N, steps), may be NULL) the epsilon
 * after its update (eps_trace) and the best norm so far (norm_trace; +INFINITY until the
 * first adversarial point). For tests and for studying convergence. */
ti_status ti_atk_fmn_trace(ti_ctx *ctx, const ti_classifier *f, const ti_fmn_params *p,
                           const float *x, const int *y, int N, float *x_adv, float *norms,
                           float *eps_trace, float *norm_trace, ti_atk_stats *st);

#ifdef __cplusplus
}
#endif
#endif
