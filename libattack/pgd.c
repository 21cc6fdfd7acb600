/* The sign-gradient attacks of pgd.h. FGSM, the Fast Gradient Sign Method (Goodfellow,
 * Shlens & Szegedy, "Explaining and harnessing adversarial examples", ICLR 2015): one step of
 * size eps along the sign of the loss gradient (L2: along the normalised gradient). PGD,
 * projected gradient descent on the loss (Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards
 * deep learning models resistant to adversarial attacks", ICLR 2018): from a random point of
 * the ball, repeated such steps, each projected back onto the ball and the box.
 * docs/attacks.md#fgsm-and-pgd. Every point's random start is keyed on its index in the
 * call, or on its global sample index when the evaluation harness calls (ti__pgd). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thinice/pgd.h"

/* What FGSM and PGD accept alike: the L-inf or L2 ball and an untargeted loss the model has
 * enough classes for. who names the attack in the message. */
static ti_status check_sign_attack(ti_ctx *ctx, const char *who, const ti_classifier *f,
                                   ti_norm norm, ti_loss loss)
{
    if (norm != TI_NORM_LINF && norm != TI_NORM_L2)
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: norm %s not supported (linf or l2)", who,
                            ti_norm_name(norm));
    if (loss != TI_LOSS_CE && loss != TI_LOSS_MARGIN && loss != TI_LOSS_DLR)
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: loss %s is not an untargeted loss", who,
                            ti_loss_name(loss));
    if (f->M < ti_loss_min_classes(loss))
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: loss %s needs at least %d classes (M=%d)", who,
                            ti_loss_name(loss), ti_loss_min_classes(loss), f->M);
    return TI_OK;
}

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
    if (s == TI_OK)
        s = check_sign_attack(ctx, "fgsm", f, p->norm, p->loss);
    if (s != TI_OK)
        return s;
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

ti_pgd_params ti_pgd_params_default(void)
{
    return (ti_pgd_params){.norm = TI_NORM_LINF, .eps = 8.0f / 255.0f, .step = 2.0f / 255.0f,
                           .steps = 20, .random_start = 1, .restarts = 1, .loss = TI_LOSS_CE,
                           .seed = 0};
}

ti_status ti_atk_pgd(ti_ctx *ctx, const ti_classifier *f, const ti_pgd_params *p,
                     const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st)
{
    return ti__pgd(ctx, f, p, x, y, N, x_adv, st, NULL);
}

ti_status ti__pgd(ti_ctx *ctx, const ti_classifier *f, const ti_pgd_params *p, const float *x,
                  const int *y, int N, float *x_adv, ti_atk_stats *st, const ti__atk_io *io)
{
    ti_status s = ti__atk_check_args(ctx, "pgd", f, p, x, y, N, x_adv, p ? p->norm : 0,
                                     p ? p->eps : 0);
    if (s == TI_OK)
        s = check_sign_attack(ctx, "pgd", f, p->norm, p->loss);
    if (s != TI_OK)
        return s;
    if (p->steps < 1 || p->restarts < 1 || !(p->step > 0.0f))
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "pgd: need steps >= 1, restarts >= 1 and step > 0 (got %d, %d, %g)",
                            p->steps, p->restarts, (double)p->step);
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
    ti__atk_count(st, io, NULL, NULL, N, 1, 0);
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
                ti__atk_stream(&rng, p->seed, ti__atk_id(io, map[r]),
                               ti__salt(TI__SALT_PGD, 0, run));
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
            ti__atk_count(st, io, map, NULL, m, 1, last ? 0 : 1);
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
