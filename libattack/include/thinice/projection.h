/* Euclidean projections onto norm balls centred at 0 (applied to a perturbation delta), as
 * FMN and the L1 attacks need them, and the radix sort they share with FAB's projection.
 * L1: Duchi, Shalev-Shwartz, Singer & Chandra, "Efficient projections onto the l1-ball for
 * learning in high dimensions", ICML 2008. Spec: shared/specs/attacks.md §8.5. */
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
 *      rest; eps < 1 keeps delta unchanged (FMN authors' quirk, spec §8.5).
 * eps < 0 is treated as 0 (except for L0, as said). work: ti_proj_work_bytes(n) bytes
 * (only L1 and L0 use it; may be NULL for L-inf and L2). */
void ti_proj_ball(ti_norm p, float *delta, size_t n, float eps, void *work);

#ifdef __cplusplus
}
#endif
#endif
