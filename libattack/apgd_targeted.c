/* APGD-T (Croce & Hein, ICML 2020, §3.3 and AutoAttack): APGD with the targeted DLR loss,
 * run towards each of the classes of clean-logit rank 2..n+1 in turn, on the points that
 * no earlier target fooled. Success is any misclassification (not reaching the target), as
 * in AutoAttack. Spec: shared/specs/attacks.md §4.6. */
#include <stdlib.h>
#include <string.h>

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
    size_t D = ti_classifier_dim(f);
    memcpy(x_adv, x, (size_t)N * D * sizeof *x_adv);
    if (io && io->fooled)
        memset(io->fooled, 0, (size_t)N);
    if (N == 0)
        return TI_OK;
    ti__apgd_ws w;
    s = ti__apgd_ws_init(ctx, &w, N, D, M, p->n_iter);
    if (s != TI_OK)
        return s;
    int *targets = malloc((size_t)N * nt * sizeof *targets); /* (N, nt) */
    if (!targets) {
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "apgd-t: out of memory for %d samples", N);
        goto done;
    }

    /* the clean pass picks the points to attack and, once, every point's targets (the
     * reference recomputes them on the same clean x before each target: same result) */
    s = ti__atk_eval(ctx, f, TI_LOSS_CE, x, y, NULL, N, w.logits, w.dl, NULL, w.pred, NULL);
    if (s != TI_OK)
        goto done;
    ti__atk_count(st, io, NULL, NULL, N, 1, 0);
    for (int i = 0; i < N; i++) {
        w.robust[i] = w.pred[i] == y[i];
        ti_apgd_targets(w.logits + (size_t)i * M, M, nt, targets + (size_t)i * nt);
    }

    for (int rank = 2; rank <= nt + 1; rank++)
        for (int run = 0; run < p->n_restarts; run++) {
            int m = 0;
            for (int i = 0; i < N; i++)
                if (w.robust[i]) {
                    w.map[m] = i;
                    w.yr[m] = y[i];
                    w.tr[m] = targets[(size_t)i * nt + rank - 2];
                    memcpy(w.xo + m * D, x + i * D, D * sizeof(float));
                    m++;
                }
            if (m == 0)
                goto done;
            s = ti_ctx_progress(ctx, "apgd-t", (long)(rank - 2) * p->n_restarts + run,
                                (long)nt * p->n_restarts);
            if (s != TI_OK)
                goto done;
            s = ti__apgd_run(ctx, f, p, TI_LOSS_DLR_T, &w, m,
                             ti__salt(TI__SALT_APGD_T, rank, run), io, st,
                             rank == 2 && run == 0);
            if (s != TI_OK)
                goto done;
            for (int r = 0; r < m; r++)
                if (w.fooled[r]) {
                    int i = w.map[r];
                    w.robust[i] = 0;
                    memcpy(x_adv + i * D, w.xa + r * D, D * sizeof(float));
                    if (io && io->fooled)
                        io->fooled[i] = 1;
                }
        }
done:
    free(targets);
    ti__apgd_ws_free(&w);
    return s;
}

ti_status ti_atk_apgd_targeted(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                               const float *x, const int *y, int N, float *x_adv,
                               ti_atk_stats *st)
{
    return ti__apgd_targeted(ctx, f, p, x, y, N, x_adv, st, NULL);
}
