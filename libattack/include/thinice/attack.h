/* libattack: adversarial attacks on any ti_classifier (classifier.h), batched over samples,
 * inputs in [0,1], the model in evaluation mode. This header holds what every attack shares:
 * the norms, the per-call statistics and the common calling convention. Each attack has its
 * own header (pgd.h, apgd.h, fab.h, square.h, fmn.h, autoattack.h) and file.
 *
 * Calling convention of every attack:
 *   ti_status ti_atk_<name>(ti_ctx *ctx, const ti_classifier *f, const ti_<name>_params *p,
 *                           const float *x, const int *y, int N, float *x_adv,
 *                           ti_atk_stats *st);
 * x and x_adv are (N, C, H, W); x_adv may not alias x. Randomness comes from p->seed (each
 * sample's stream derived from the seed and the sample's position), never from global state.
 * st (may be NULL) receives counts of forward and backward passes per sample. */
#ifndef THINICE_ATTACK_H
#define THINICE_ATTACK_H

#include "thinice/classifier.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ti_norm {
    TI_NORM_LINF = 0,
    TI_NORM_L2,
    TI_NORM_L1,
    TI_NORM_L0,
    TI_NORM_COUNT
} ti_norm;

const char *ti_norm_name(ti_norm p);                  /* "linf", "l2", "l1", "l0" */
ti_status ti_norm_parse(const char *s, ti_norm *out); /* accepts those names (and "inf") */
/* ||v||_p of n floats, accumulated in double. */
double ti_norm_of(ti_norm p, const float *v, size_t n);
/* ||a - b||_p */
double ti_norm_dist(ti_norm p, const float *a, const float *b, size_t n);

typedef struct ti_atk_stats {
    long forwards;  /* forward passes, summed over samples */
    long backwards; /* vector-Jacobian products, summed over samples */
} ti_atk_stats;

#ifdef __cplusplus
}
#endif
#endif
