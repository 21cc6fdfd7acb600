/* APGD-T (Croce & Hein, ICML 2020, §3.3 and AutoAttack): APGD with the targeted DLR loss,
 * run towards each of the classes of clean-logit rank 2..n+1 in turn, on the points that
 * no earlier target fooled. Success is any misclassification (not reaching the target), as
 * in AutoAttack (docs/attacks.md#restarts-and-apgd-t). This file: the choice of targets and
 * the checks; the target loop is ti__apgd_restarts (apgd.c). */
#include "internal.h"
#include "thinice/apgd.h"

void ti_apgd_targets(const float *z, int M, int n, int *t)
{
    /* selection of ranks 2..n+1 by decreasing logit, lowest index first among equals */
    int prev = -1;
    for (int rank = 1; rank <= n + 1; rank++) {
        int best = -1;
        for (int m = 0; m < M; m++) {
            /* m is still free if it ranks after prev: smaller logit, or equal and later */
            int after = prev < 0 || z[m] < z[prev] || (z[m] == z[prev] && m > prev);
            if (after && (best < 0 || z[m] > z[best]))
                best = m;
        }
        if (rank >= 2)
            t[rank - 2] = best;
        prev = best;
    }
}

ti_status ti__apgd_targeted(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                            const float *x, const int *y, int N, float *x_adv,
                            ti_atk_stats *st, const ti__atk_io *io)
{
    ti_status s = ti__atk_check_args(ctx, "apgd-t", f, p, x, y, N, x_adv, p ? p->norm : 0,
                                     p ? p->eps : 0);
    if (s == TI_OK)
        s = ti__apgd_check(ctx, "apgd-t", p);
    if (s != TI_OK)
        return s;
    int M = f->M, nt = p->n_target_classes;
    if (M < 4)
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "apgd-t: the targeted DLR loss needs at least 4 classes (the model "
                            "has %d); use apgd-ce or apgd-dlr", M);
    if (nt < 1 || nt > M - 1)
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "apgd-t: n_target_classes = %d, but a %d-class model has only %d "
                            "classes besides the true one", nt, M, M - 1);
    return ti__apgd_restarts(ctx, f, p, TI_LOSS_DLR_T, nt, x, y, N, x_adv, st, io);
}

ti_status ti_atk_apgd_targeted(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                               const float *x, const int *y, int N, float *x_adv,
                               ti_atk_stats *st)
{
    return ti__apgd_targeted(ctx, f, p, x, y, N, x_adv, st, NULL);
}
