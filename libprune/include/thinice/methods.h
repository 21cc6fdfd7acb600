/* Building blocks of individual pruning methods, exposed for callers that assemble their own
 * schedules and for the tests: HYDRA's scaled score initialisation and ADMM's learning-rate
 * rule (docs/pruning.md#hydra, #admm). The pruning run itself (ti_prune_run) and the mask
 * arithmetic are in prune.h, which this header includes. */
#ifndef THINICE_METHODS_H
#define THINICE_METHODS_H

#include <stddef.h>

#include "thinice/prune.h"

#ifdef __cplusplus
extern "C" {
#endif

/* HYDRA's scaled score initialisation for one layer (docs/pruning.md#hydra):
 * S = sqrt(6 / fan_in) W / max|W|. n weights, fan_in inputs per output. */
void ti_prune_hydra_scaled_init(const float *W, size_t n, size_t fan_in, float *S);
/* ADMM's learning rate in the admm phase: lr0 0.1^floor((epoch mod P) / (P / 3))
 * (docs/pruning.md#learning-rate-schedules). */
float ti_prune_admm_lr(float lr0, int epoch, int period);

#ifdef __cplusplus
}
#endif
#endif
