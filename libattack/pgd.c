/* PGD, projected gradient descent on the loss (Madry, Makelov, Schmidt, Tsipras & Vladu,
 * "Towards deep learning models resistant to adversarial attacks", ICLR 2018): from a random
 * point of the ball, repeated steps along sign(gradient) (L2: the normalised gradient), each
 * projected back onto the ball and the box. Spec: shared/specs/attacks.md §3. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thinice/pgd.h"

ti_pgd_params ti_pgd_params_default(void)
{
    return (ti_pgd_params){.norm = TI_NORM_LINF, .eps = 8.0f / 255.0f, .step = 2.0f / 255.0f,
                           .steps = 20, .random_start = 1, .restarts = 1, .loss = TI_LOSS_CE,
                           .seed = 0};
}

ti_status ti_atk_pgd(ti_ctx *ctx, const ti_classifier *f, const ti_pgd_params *p,
                     const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st)
{
    ti_status s = ti__atk_check_args(ctx, "pgd", f, p, x, y, N, x_adv, p ? p->norm : 0,
                                     p ? p->eps : 0);
    if (s != TI_OK)
        return s;
    if (p->norm != TI_NORM_LINF && p->norm != TI_NORM_L2)
        return ti_ctx_error(ctx, TI_ERR_ARG, "pgd: norm %s not supported (linf or l2)",
                            ti_norm_name(p->norm));
    if (p->steps < 1 || p->restarts < 1 || !(p->step > 0.0f))
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "pgd: need steps >= 1, restarts >= 1 and step > 0 (got %d, %d, %g)",
                            p->steps, p->restarts, (double)p->step);
    if (p->loss != TI_LOSS_CE && p->loss != TI_LOSS_MARGIN && p->loss != TI_LOSS_DLR)
        return ti_ctx_error(ctx, TI_ERR_ARG, "pgd: loss %s is not an untargeted loss",
                            ti_loss_name(p->loss));
    if (f->M < ti_loss_min_classes(p->loss))
        return ti_ctx_error(ctx, TI_ERR_ARG, "pgd: loss %s needs at least %d classes (M=%d)",
                            ti_loss_name(p->loss), ti_loss_min_classes(p->loss), f->M);
    memcpy(x_adv, x, (size_t)N * ti_classifier_dim(f) * sizeof *x_adv);
    if (N == 0)
        return TI_OK;
    size_t D = ti_classifier_dim(f);
    int M = f->M;
    float step = p->loss == TI_LOSS_MARGIN ? -p->step : p->step; /* the margin is minimised */
    /* per attacked row: clean point, iterate, gradient; row r is sample map[r] */
    float *xo = malloc((size_t)N * D * sizeof *xo), *xc = malloc((size_t)N * D * sizeof *xc);
    float *xn = malloc((size_t)N * D * sizeof *xn), *g = malloc((size_t)N * D * sizeof *g);
    float *logits = malloc((size_t)N * M * sizeof *logits), *dl = malloc((size_t)N * M * sizeof *dl);
    int *pred = malloc((size_t)N * sizeof *pred), *map = malloc((size_t)N * sizeof *map);
    int *yr = malloc((size_t)N * sizeof *yr);
    unsigned char *robust = malloc((size_t)N), *fooled = malloc((size_t)N);
    if (!xo || !xc || !xn || !g || !logits || !dl || !pred || !map || !yr || !robust || !fooled) {
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "pgd: out of memory for %d samples", N);
        goto done;
    }

    /* only the points classified correctly at clean are attacked */
    s = ti__atk_eval(ctx, f, p->loss, x, y, NULL, N, logits, dl, NULL, pred, NULL);
    if (s != TI_OK)
        goto done;
    ti__atk_count(st, NULL, NULL, NULL, N, 1, 0);
    for (int i = 0; i < N; i++)
        robust[i] = pred[i] == y[i];

    for (int run = 0; run < p->restarts; run++) {
        int m = 0;
        for (int i = 0; i < N; i++)
            if (robust[i]) {
                map[m] = i;
                yr[m] = y[i];
                memcpy(xo + m * D, x + i * D, D * sizeof *xo);
                m++;
            }
        if (m == 0)
            break;
        for (int r = 0; r < m; r++) {
            fooled[r] = 0;
            if (p->random_start) {
                ti_rng rng;
                ti__atk_stream(&rng, p->seed, (uint64_t)map[r], ti__salt(TI__SALT_PGD, 0, run));
                ti__random_start(&rng, p->norm, xo + r * D, p->eps, D, xc + r * D);
            } else {
                memcpy(xc + r * D, xo + r * D, D * sizeof *xc);
            }
        }
        /* steps gradient steps; every iterate (start included) is checked for success */
        for (int k = 0; k <= p->steps; k++) {
            int last = k == p->steps;
            s = ti__atk_eval(ctx, f, p->loss, xc, yr, NULL, m, logits, dl, NULL, pred,
                             last ? NULL : g);
            if (s != TI_OK)
                goto done;
            ti__atk_count(st, NULL, NULL, NULL, m, 1, last ? 0 : 1);
            for (int r = 0; r < m; r++) {
                if (pred[r] != yr[r]) { /* keep the last misclassified iterate */
                    fooled[r] = 1;
                    memcpy(x_adv + map[r] * D, xc + r * D, D * sizeof *xc);
                }
                if (!last) {
                    ti__ascent_step(p->norm, xn + r * D, xc + r * D, xo + r * D, g + r * D, step,
                                    p->eps, D);
                    memcpy(xc + r * D, xn + r * D, D * sizeof *xc);
                }
            }
        }
        for (int r = 0; r < m; r++) {
            if (fooled[r])
                robust[map[r]] = 0;
            else if (run == p->restarts - 1)
                memcpy(x_adv + map[r] * D, xc + r * D, D * sizeof *xc);
        }
    }
done:
    free(xo);
    free(xc);
    free(xn);
    free(g);
    free(logits);
    free(dl);
    free(pred);
    free(map);
    free(yr);
    free(robust);
    free(fooled);
    return s;
}
