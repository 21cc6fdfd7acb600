/* The Square attack (Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a
 * query-efficient black-box adversarial attack via random search", ECCV 2020), L-inf, in
 * AutoAttack's version: margin loss, vertical-stripe start, square windows of side from the
 * p schedule. Uses forward passes only. Spec: shared/specs/attacks.md §6. Follows the
 * calling convention of attack.h. */
#ifndef THINICE_SQUARE_H
#define THINICE_SQUARE_H

#include "thinice/attack.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ti_square_params {
    ti_norm norm;    /* TI_NORM_LINF (L2 is not implemented) */
    float eps;
    int n_queries;   /* iterations after the initial query (AutoAttack: 5000); a point uses
                      * at most n_queries + 1 queries, plus one final check */
    float p_init;    /* initial fraction of pixels changed (0.8) */
    int n_restarts;  /* runs on the points not yet fooled (1) */
    int shared_window; /* 0 (thinice): every point draws its own window and signs from its
                        * own stream, so results do not depend on the batch; 1: one window
                        * and one sign per channel for the whole batch each iteration, as
                        * AutoAttack's code (docs/attacks.md) */
    uint64_t seed;
} ti_square_params;

/* AutoAttack's values: L-inf, eps 8/255, 5000 queries, p_init 0.8, 1 restart, per-point
 * windows (shared_window 0), seed 0. */
ti_square_params ti_square_params_default(void);

/* The fraction of pixels p at iteration it (0-based) for p_init (spec §6.3), and the side
 * of the square on an H x W image: max(round(sqrt(p H W)), 1), at most min(H, W). */
float ti_square_p(float p_init, int it);
int ti_square_side(float p_init, int it, int H, int W);

/* Square attack. Only points with pred(x) == y are attacked; x_adv is, per point, the best
 * point found (every coordinate clip01(x +- eps)) where the attack succeeded (pred != y on
 * a final forward pass) and x elsewhere. Errors: TI_ERR_ARG (bad parameters, labels),
 * TI_ERR_UNSUPPORTED (L2, L1, L0), TI_ERR_NOMEM, TI_ERR_CANCELLED, the classifier's status. */
ti_status ti_atk_square(ti_ctx *ctx, const ti_classifier *f, const ti_square_params *p,
                        const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st);

#ifdef __cplusplus
}
#endif
#endif
