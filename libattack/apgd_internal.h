/* What apgd.c and apgd_targeted.c share beyond internal.h: the restart loop of both APGD
 * variants (in apgd.c). Not installed. */
#ifndef THINICE_ATTACK_APGD_INTERNAL_H
#define THINICE_ATTACK_APGD_INTERNAL_H

#include "internal.h"

/* The attack after its checks (spec §4.3 restarts, §4.6 target loop): x_adv = x, one clean
 * pass that marks the correctly classified points as robust, then n_restarts runs of loss
 * on the points still robust, once (nt = 0: untargeted) or once per target, the classes of
 * clean-logit rank 2..nt+1. A point fooled by a run keeps that run's x_adv and is not
 * attacked again. */
ti_status ti__apgd_restarts(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                            ti_loss loss, int nt, const float *x, const int *y, int N,
                            float *x_adv, ti_atk_stats *st, const ti__atk_io *io);

#endif
