/* Euclidean projections onto norm balls centred at 0 (applied to a perturbation delta), as
 * FMN and the L1 attacks need them, onto the L1 ball ∩ [0,1]^n (L1-APGD), and the radix sort
 * they share with FAB's projection (docs/fmn.md#the-ball-projections).
 * L1: Duchi, Shalev-Shwartz, Singer & Chandra, "Efficient projections onto the l1-ball for
 * learning in high dimensions", ICML 2008. */
#ifndef THINICE_PROJECTION_H
#define THINICE_PROJECTION_H

#include <stdint.h>

#include "thinice/attack.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scratch needed by the functions below for n values: ti_proj_work_bytes(n) bytes. */
size_t ti_proj_work_bytes(size_t n);

/* Sorts n (key, idx) pairs by key ascending, stably (equal keys keep their order). Keys must
 * be >= 0 and not NaN (-0 counts as 0): their float bits then sort like unsigned integers,
 * which allows an O(n) LSD radix sort. work: ti_proj_work_bytes(n) bytes. */
void ti_proj_sort_pairs(float *key, uint32_t *idx, size_t n, void *work);

/* delta <- the nearest point (in L2) of {||delta||_p <= eps}, in place, n values.
 *  L-inf: clamp to [-eps, eps].   L2: scale by min(1, eps/||delta||_2).
 *  L1: Duchi et al. (soft-thresholding by the theta that makes the L1 norm eps).
 *  L0: keep the floor(eps) largest |delta_i| (ties at the threshold: all kept), zero the
 *      rest; eps < 1 keeps delta unchanged (the FMN authors' quirk, docs/fmn.md#l0).
 * eps < 0 is treated as 0 (except for L0, as said). work: ti_proj_work_bytes(n) bytes
 * (only L1 and L0 use it; may be NULL for L-inf and L2). */
void ti_proj_ball(ti_norm p, float *delta, size_t n, float eps, void *work);

/* xa <- the Euclidean projection of xa onto {z : ||z - x||_1 <= eps} ∩ [0,1]^n, in place, n
 * values, for a centre x in [0,1]^n. Exact (Croce & Hein, "Mind the box", ICML 2021): with
 * y = xa - x, the solution is z_i = x_i + sign(y_i) min(max(|y_i| - lambda, 0), r_i), r_i the
 * room of the box in the direction of y_i (1 - x_i or x_i), and lambda >= 0 the smallest
 * level that makes ||z - x||_1 <= eps, found by one sweep over the sorted breakpoints (not
 * the L1-ball projection followed by clipping, which can land well inside the ball). Float
 * rounding is corrected so that ||z - x||_1 <= eps holds exactly when summed in double (as
 * ti_norm_dist does), and z is in the box. eps <= 0 (or NaN) gives z = x; a NaN coordinate
 * of xa gives x_i.
 * work: ti_proj_work_bytes(2 * n) bytes. docs/attacks.md derives it. */
void ti_proj_l1_box(float *xa, const float *x, size_t n, float eps, void *work);

#ifdef __cplusplus
}
#endif
#endif
