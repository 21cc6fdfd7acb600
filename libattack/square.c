/* The Square attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020, Algorithm 1 with
 * the L-inf square updates of §3.1), in AutoAttack's version: random search over vertices of
 * the eps box, starting from vertical stripes, each step recolouring one square window of
 * side set by the p schedule, accepted when the margin loss drops. Forward passes only.
 * Spec: shared/specs/attacks.md §6; the batch-shared window choice is in docs/attacks.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thinice/square.h"

ti_square_params ti_square_params_default(void)
{
    return (ti_square_params){.norm = TI_NORM_LINF, .eps = 8.0f / 255.0f, .n_queries = 5000,
                              .p_init = 0.8f, .n_restarts = 1, .shared_window = 0, .seed = 0};
}

float ti_square_p(float p_init, int it)
{
    /* halve p at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 (no rescaling
     * of the schedule to n_queries, as AutoAttack) */
    static const int bounds[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};
    float p = p_init;
    for (size_t i = 0; i < sizeof bounds / sizeof *bounds; i++)
        if (it > bounds[i])
            p = p_init / (float)(2 << i);
    return p;
}

int ti_square_side(float p_init, int it, int H, int W)
{
    int s = (int)nearbyint(sqrt((double)ti_square_p(p_init, it) * H * W)); /* half to even */
    s = s < 1 ? 1 : s;
    int hw = H < W ? H : W;
    return s < hw ? s : hw;
}

/* Window top-left corner, drawn from [0, H - s) x [0, W - s) as the reference (the last
 * position is reachable only when s equals the side of the image), and one sign per channel */
static void draw_window(ti_rng *r, int C, int H, int W, int s, int *vh, int *vw, float *sig)
{
    *vh = (int)floor(ti_rng_double(r) * (H - s));
    *vw = (int)floor(ti_rng_double(r) * (W - s));
    for (int c = 0; c < C; c++)
        sig[c] = (ti_rng_u64(r) >> 63) ? 1.0f : -1.0f;
}

ti_status ti__square(ti_ctx *ctx, const ti_classifier *f, const ti_square_params *p,
                     const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st,
                     const ti__atk_io *io)
{
    ti_status s = ti__atk_check_args(ctx, "square", f, p, x, y, N, x_adv, p ? p->norm : 0,
                                     p ? p->eps : 0);
    if (s != TI_OK)
        return s;
    if (p->norm != TI_NORM_LINF)
        return ti_ctx_error(ctx, TI_ERR_UNSUPPORTED, "square: norm %s is not implemented (linf)",
                            ti_norm_name(p->norm));
    if (p->n_queries < 0 || p->n_restarts < 1 || !(p->p_init > 0.0f && p->p_init <= 1.0f))
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "square: need n_queries >= 0, n_restarts >= 1 and p_init in (0, 1] "
                            "(got %d, %d, %g)", p->n_queries, p->n_restarts, (double)p->p_init);
    size_t D = ti_classifier_dim(f);
    int C = f->C, H = f->H, W = f->W, M = f->M;
    memcpy(x_adv, x, (size_t)N * D * sizeof *x_adv);
    if (io && io->fooled)
        memset(io->fooled, 0, (size_t)N);
    if (N == 0)
        return TI_OK;
    float *xo = ti_alloc((size_t)N * D * sizeof *xo), *xb = ti_alloc((size_t)N * D * sizeof *xb);
    float *xin = ti_alloc((size_t)N * D * sizeof *xin);
    float *logits = ti_alloc((size_t)N * M * sizeof *logits);
    float *mbest = ti_alloc((size_t)N * sizeof *mbest), *marg = ti_alloc((size_t)N * sizeof *marg), *sig = ti_alloc((size_t)C * sizeof *sig);
    int *pred = ti_alloc((size_t)N * sizeof *pred), *map = ti_alloc((size_t)N * sizeof *map);
    int *yr = ti_alloc((size_t)N * sizeof *yr), *rows = ti_alloc((size_t)N * sizeof *rows);
    int *yg = ti_alloc((size_t)N * sizeof *yg);
    unsigned char *robust = ti_alloc((size_t)N);
    ti_rng *rng = ti_alloc((size_t)N * sizeof *rng);
    if (!xo || !xb || !xin || !logits || !mbest || !marg || !sig || !pred || !map || !yr || !rows ||
        !yg || !robust || !rng) {
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "square: out of memory for %d samples", N);
        goto done;
    }

    s = ti__atk_eval(ctx, f, TI_LOSS_MARGIN, x, y, NULL, N, logits, NULL, NULL, pred, NULL);
    if (s != TI_OK)
        goto done;
    ti__atk_count(st, io, NULL, NULL, N, 1, 0);
    for (int i = 0; i < N; i++)
        robust[i] = pred[i] == y[i];

    for (int run = 0; run < p->n_restarts; run++) {
        int m = 0;
        for (int i = 0; i < N; i++)
            if (robust[i]) {
                map[m] = i;
                yr[m] = y[i];
                memcpy(xo + m * D, x + i * D, D * sizeof(float));
                m++;
            }
        if (m == 0)
            break;
        /* one stream per point, or (shared_window) one for the batch in rng[0] */
        ti_rng batch;
        ti__atk_stream(&batch, p->seed, 0, ti__salt(TI__SALT_SQUARE, 1, run));
        for (int r = 0; r < m; r++)
            ti__atk_stream(&rng[r], p->seed, ti__atk_id(io, map[r]),
                           ti__salt(TI__SALT_SQUARE, 0, run));

        /* start: vertical stripes, one sign per (channel, column), every row alike */
        for (int r = 0; r < m; r++) {
            ti_rng *g = p->shared_window ? &batch : &rng[r];
            for (int c = 0; c < C; c++)
                for (int w = 0; w < W; w++) {
                    float e = (ti_rng_u64(g) >> 63) ? p->eps : -p->eps;
                    for (int h = 0; h < H; h++) {
                        size_t j = ((size_t)c * H + h) * W + w;
                        xb[r * D + j] = ti__clampf(xo[r * D + j] + e, 0.0f, 1.0f);
                    }
                }
        }
        s = ti__atk_eval(ctx, f, TI_LOSS_MARGIN, xb, yr, NULL, m, logits, NULL, mbest, NULL,
                         NULL);
        if (s != TI_OK)
            goto done;
        ti__atk_count(st, io, map, NULL, m, 1, 0);

        for (int it = 0; it < p->n_queries; it++) {
            int n = 0; /* the points whose margin is still positive */
            for (int r = 0; r < m; r++)
                if (mbest[r] > 0.0f)
                    rows[n++] = r;
            if (n == 0)
                break;
            if (it % 250 == 0 && (s = ti_ctx_progress(ctx, "square", it, p->n_queries)) != TI_OK)
                goto done;
            int side = ti_square_side(p->p_init, it, H, W), vh = 0, vw = 0;
            if (p->shared_window)
                draw_window(&batch, C, H, W, side, &vh, &vw, sig);
            /* proposals: x_best with one window set to the vertex x + eps * sign_c */
            for (int k = 0; k < n; k++) {
                int r = rows[k];
                if (!p->shared_window)
                    draw_window(&rng[r], C, H, W, side, &vh, &vw, sig);
                float *xn = xin + k * D;
                const float *x0 = xo + r * D;
                memcpy(xn, xb + r * D, D * sizeof(float));
                for (int c = 0; c < C; c++)
                    for (int h = vh; h < vh + side; h++)
                        for (int w = vw; w < vw + side; w++) {
                            size_t j = ((size_t)c * H + h) * W + w;
                            xn[j] = ti__clampf(x0[j] + p->eps * sig[c], 0.0f, 1.0f);
                        }
                yg[k] = yr[r];
            }
            /* margins of the proposals, one query each */
            s = ti__atk_eval(ctx, f, TI_LOSS_MARGIN, xin, yg, NULL, n, logits, NULL, marg, NULL,
                             NULL);
            if (s != TI_OK)
                goto done;
            ti__atk_count(st, io, map, rows, n, 1, 0);
            for (int k = 0; k < n; k++) {
                int r = rows[k];
                /* with the margin as loss, "improved" (m < best) and "accept" (improved or
                 * m <= 0) coincide for points still positive */
                if (marg[k] < mbest[r]) {
                    mbest[r] = marg[k];
                    memcpy(xb + r * D, xin + k * D, D * sizeof(float));
                }
            }
        }

        /* success is re-verified by a forward pass: a zero margin may still predict y */
        s = ti__atk_eval(ctx, f, TI_LOSS_MARGIN, xb, yr, NULL, m, logits, NULL, NULL, pred, NULL);
        if (s != TI_OK)
            goto done;
        ti__atk_count(st, io, map, NULL, m, 1, 0);
        for (int r = 0; r < m; r++)
            if (pred[r] != yr[r]) {
                robust[map[r]] = 0;
                memcpy(x_adv + map[r] * D, xb + r * D, D * sizeof(float));
                if (io && io->fooled)
                    io->fooled[map[r]] = 1;
            }
    }
done:
    ti_free(xo);
    ti_free(xb);
    ti_free(xin);
    ti_free(logits);
    ti_free(mbest);
    ti_free(marg);
    ti_free(sig);
    ti_free(pred);
    ti_free(map);
    ti_free(yr);
    ti_free(rows);
    ti_free(yg);
    ti_free(robust);
    ti_free(rng);
    return s;
}

ti_status ti_atk_square(ti_ctx *ctx, const ti_classifier *f, const ti_square_params *p,
                        const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st)
{
    return ti__square(ctx, f, p, x, y, N, x_adv, st, NULL);
}
