/* Losses of the attacks, on the logits of one sample, with their gradient w.r.t. the logits
 * (the attacks backpropagate it through the classifier's vjp). Definitions and the DLR
 * derivation: docs/attacks.md#losses.
 *
 * Conventions: z holds the M logits of one sample, y the true label, t a target label.
 * "Largest", "2nd largest", ... use one fixed tie rule everywhere in libattack: among equal
 * logits the LOWEST index ranks first (as ti_argmax_rows). dz (M floats, may be NULL)
 * receives the gradient; at ties it is the subgradient of the indices the tie rule picks.
 * Sums are taken in double; the value is returned as float, as the reference is float32. */
#ifndef THINICE_LOSSES_H
#define THINICE_LOSSES_H

#include "thinice/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ti_loss {
    TI_LOSS_CE = 0,  /* cross-entropy log sum exp z - z_y (maximised by untargeted attacks) */
    TI_LOSS_MARGIN,  /* CW margin z_y - max_{j != y} z_j (minimised by Square, FMN) */
    TI_LOSS_DLR,     /* -(z_y - max_{j != y} z_j) / (z_(1) - z_(3) + 1e-12), needs M >= 3 */
    TI_LOSS_DLR_T,   /* -(z_y - z_t) / (z_(1) - (z_(3) + z_(4))/2 + 1e-12), needs M >= 4 */
    TI_LOSS_CE_T,    /* targeted CE: -CE(z, t) (maximised); not used by AutoAttack */
    TI_LOSS_COUNT
} ti_loss;

const char *ti_loss_name(ti_loss l); /* "ce", "margin", "dlr", "dlr-t", "ce-t" */
/* Smallest number of classes the loss is defined for (2, 2, 3, 4, 2). */
int ti_loss_min_classes(ti_loss l);

/* CE(z, y) = log sum_k exp z_k - z_y, computed with the max shift; dz = softmax(z) - e_y. */
float ti_loss_ce(const float *z, int M, int y, float *dz);
/* M(z, y) = z_y - max_{j != y} z_j; dz = e_y - e_m with m the tie-rule argmax over j != y. */
float ti_loss_margin(const float *z, int M, int y, float *dz);
/* DLR(z, y) (M >= 3, an assertion): dz treats the sorted indices as fixed. */
float ti_loss_dlr(const float *z, int M, int y, float *dz);
/* DLR_T(z, y, t) (M >= 4, an assertion). */
float ti_loss_dlr_targeted(const float *z, int M, int y, int t, float *dz);
/* Dispatches on l; t is ignored by the untargeted losses. */
float ti_loss_eval(ti_loss l, const float *z, int M, int y, int t, float *dz);

/* The indices of z ordered by decreasing value, ties to the lowest index (a stable sort),
 * into order (M ints). The rank-r class (r = 1 the argmax) is order[r - 1]. */
void ti_logits_order(const float *z, int M, int *order);

#ifdef __cplusplus
}
#endif
#endif
