/* The Square attack (Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a
 * query-efficient black-box adversarial attack via random search", ECCV 2020), L-inf (paper §3.1)
 * and L2 (paper §3.2), in AutoAttack's version: margin loss, one query per point and iteration,
 * square windows of side from the p schedule. L-inf starts from vertical stripes and sets
 * windows to vertices of the eps box; L2 starts from a grid of centre-weighted "eta"
 * patterns and moves the perturbation's mass between two windows. Uses forward passes only.
 * Details and the reference's quirks in docs/attacks.md#square. Follows the calling convention of
 * attack.h. */
#ifndef THINICE_SQUARE_H
#define THINICE_SQUARE_H

#include "thinice/attack.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ti_square_params {
    ti_norm norm;    /* TI_NORM_LINF or TI_NORM_L2 (L2 needs images of at least 5x5) */
    float eps;       /* radius of the ball, in the norm above */
    int n_queries;   /* iterations after the initial query (AutoAttack: 5000); a point uses
                      * at most n_queries + 1 queries, plus one final check */
    float p_init;    /* initial fraction of pixels changed (0.8); sets the side of the windows
                      * (ti_square_side, ti_square_side_l2) */
    int n_restarts;  /* runs on the points not yet fooled (1) */
    int shared_window; /* 0 (thinice): every point draws its own windows, signs (and, at L2,
                        * eta's transposition) from its own stream, so results do not depend
                        * on the batch; 1: one draw per iteration for the whole batch, as
                        * AutoAttack's code: the window and one sign per channel (L-inf), the
                        * two windows and the transposition (L2; the signs stay per point and
                        * channel, drawn from the batch's stream) (docs/attacks.md) */
    uint64_t seed;
} ti_square_params;

/* AutoAttack's values: L-inf, eps 8/255, 5000 queries, p_init 0.8, 1 restart, per-point
 * windows (shared_window 0), seed 0. */
ti_square_params ti_square_params_default(void);

/* The fraction of pixels p at iteration it (0-based) for p_init (the schedule's table in
 * docs/attacks.md#square), and the side
 * of the square on an H x W image: max(round(sqrt(p H W)), 1), at most min(H, W). */
float ti_square_p(float p_init, int it);
int ti_square_side(float p_init, int it, int H, int W);

/* The side of L2's windows: max(round(sqrt(p H W)), 3), plus 1 if even, at most min(H, W)
 * and still odd (min(H, W) - 1 if that is even; the reference does not cap). H, W >= 3. */
int ti_square_side_l2(float p_init, int it, int H, int W);

/* L2's update pattern eta(s) into eta (s, s), row-major, not transposed (the attack
 * transposes it with probability 1/2). Rows 0 .. s/2 - 1 hold eta_rect(s/2, s) and rows
 * s/2 .. s - 1 hold -eta_rect(s - s/2, s), where eta_rect(a, b) adds 1/(k+1)^2 on the
 * rectangle of rows a/2 - k .. a/2 + k and columns b/2 - k .. b/2 + k (clipped) for
 * k = 0 .. max(a/2, b/2) and is scaled to unit L2 norm; the whole is scaled to unit L2 norm
 * (each half then has norm 1/sqrt(2); eta(1) = -1). Does nothing for s < 1. */
void ti_square_eta(float *eta, int s);

/* Square attack. Only points with pred(x) == y are attacked; x_adv is, per point, the best
 * point found where the attack succeeded (pred != y on a final forward pass) and x
 * elsewhere. L-inf: every coordinate of x_adv is clip01(x +- eps). L2: x_adv =
 * clip01(x + eps * delta / ||delta||_2) for the search's perturbation delta, so x_adv is in
 * [0, 1] and ||x_adv - x||_2 <= eps up to float rounding (far below the ensemble's 1e-6
 * tolerance), equal to eps where the box does not clip. A point uses at most
 * n_queries + 1 queries per restart, plus the clean pass and one final check per restart;
 * no backward pass. Errors: TI_ERR_ARG (bad parameters, eps, labels, an L2 image smaller
 * than 5x5), TI_ERR_UNSUPPORTED (L1, L0), TI_ERR_NOMEM, TI_ERR_CANCELLED, the classifier's
 * status. */
ti_status ti_atk_square(ti_ctx *ctx, const ti_classifier *f, const ti_square_params *p,
                        const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st);

#ifdef __cplusplus
}
#endif
#endif
