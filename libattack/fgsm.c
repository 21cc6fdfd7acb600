/* FGSM, the Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy, "Explaining and
 * harnessing adversarial examples", ICLR 2015): one step of size eps along the sign of the
 * loss gradient (L2: along the normalised gradient). Spec: shared/specs/attacks.md §2. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thinice/pgd.h"

ti_fgsm_params ti_fgsm_params_default(void)
{
    return (ti_fgsm_params){.norm = TI_NORM_LINF, .eps = 8.0f / 255.0f, .loss = TI_LOSS_CE,
                            .random_start = 0, .seed = 0};
}

ti_status ti_atk_fgsm(ti_ctx *ctx, const ti_classifier *f, const ti_fgsm_params *p,
                      const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st)
{
    ti_status s = ti__atk_check_args(ctx, "fgsm", f, p, x, y, N, x_adv, p ? p->norm : 0,
                                     p ? p->eps : 0);
    if (s != TI_OK)
        return s;
    if (p->norm != TI_NORM_LINF && p->norm != TI_NORM_L2)
        return ti_ctx_error(ctx, TI_ERR_ARG, "fgsm: norm %s not supported (linf or l2)",
                            ti_norm_name(p->norm));
    if (p->loss != TI_LOSS_CE && p->loss != TI_LOSS_MARGIN && p->loss != TI_LOSS_DLR)
        return ti_ctx_error(ctx, TI_ERR_ARG, "fgsm: loss %s is not an untargeted loss",
                            ti_loss_name(p->loss));
    if (f->M < ti_loss_min_classes(p->loss))
        return ti_ctx_error(ctx, TI_ERR_ARG, "fgsm: loss %s needs at least %d classes (M=%d)",
                            ti_loss_name(p->loss), ti_loss_min_classes(p->loss), f->M);
    if (N == 0)
        return TI_OK;
    size_t D = ti_classifier_dim(f);
    int M = f->M;
    float *xs = malloc((size_t)N * D * sizeof *xs), *g = malloc((size_t)N * D * sizeof *g);
    float *logits = malloc((size_t)N * M * sizeof *logits), *dl = malloc((size_t)N * M * sizeof *dl);
    if (!xs || !g || !logits || !dl) {
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "fgsm: out of memory for %d samples", N);
        goto done;
    }
    for (int i = 0; i < N; i++) {
        if (p->random_start) {
            ti_rng r;
            ti__atk_stream(&r, p->seed, (uint64_t)i, ti__salt(TI__SALT_FGSM, 0, 0));
            ti__random_start(&r, p->norm, x + i * D, p->eps, D, xs + i * D);
        } else {
            memcpy(xs + i * D, x + i * D, D * sizeof *xs);
        }
    }
    s = ti__atk_eval(ctx, f, p->loss, xs, y, NULL, N, logits, dl, NULL, NULL, g);
    if (s != TI_OK)
        goto done;
    ti__atk_count(st, NULL, NULL, NULL, N, 1, 1);
    for (int i = 0; i < N; i++)
        ti__ascent_step(p->norm, x_adv + i * D, xs + i * D, x + i * D, g + i * D,
                        p->loss == TI_LOSS_MARGIN ? -p->eps : p->eps, p->eps, D);
done:
    free(xs);
    free(g);
    free(logits);
    free(dl);
    return s;
}
