/* The adversaries used inside adversarial training (docs/pruning.md#the-adversary-inside-training): PGD on the
 * cross-entropy (Madry et al. 2018) and TRADES' maximisation of KL(p(x) || p(x')) (Zhang et
 * al. 2019). Both ascend with the sign of the input gradient and project on the L-inf ball
 * of radius eps around x and on the box [0,1] after every step; the model is queried through
 * its classifier view, i.e. in evaluation mode. */
#include <math.h>
#include <stdlib.h>

#include "thinice/advtrain.h"
#include "thinice/losses.h"

/* x_adv <- clip01(clip(x_adv, x - eps, x + eps)) */
static void project(float *xa, const float *x, size_t n, float eps)
{
    for (size_t i = 0; i < n; i++) {
        float v = fminf(fmaxf(xa[i], x[i] - eps), x[i] + eps);
        xa[i] = fminf(fmaxf(v, 0.0f), 1.0f);
    }
}

/* x_adv <- project(x_adv + step sign(g)) */
static void ascend(float *xa, const float *x, const float *g, size_t n, float step, float eps)
{
    for (size_t i = 0; i < n; i++)
        xa[i] += step * (float)((g[i] > 0.0f) - (g[i] < 0.0f));
    project(xa, x, n, eps);
}

static void softmax_row(const float *z, int M, float *out)
{
    float mx = z[0];
    for (int m = 1; m < M; m++)
        mx = fmaxf(mx, z[m]);
    double sum = 0;
    for (int m = 0; m < M; m++)
        sum += exp((double)z[m] - mx);
    for (int m = 0; m < M; m++)
        out[m] = (float)(exp((double)z[m] - mx) / sum);
}

typedef struct ce_labels {
    const int *y;
} ce_labels;

/* dlogits of the summed cross-entropy: softmax(z) - e_y per row */
static void ce_dlogits(void *user, const float *logits, int N, int M, float *dl)
{
    const int *y = ((ce_labels *)user)->y;
    for (int n = 0; n < N; n++)
        ti_loss_ce(logits + (size_t)n * M, M, y[n], dl + (size_t)n * M);
}

static ti_status check_params(ti_ctx *ctx, const ti_adv_params *p)
{
    if (!(p->eps >= 0) || !(p->step >= 0) || p->steps < 0)
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "adversary: eps %g, step %g and steps %d must be non-negative",
                            p->eps, p->step, p->steps);
    return TI_OK;
}

ti_status ti_adv_pgd(ti_ctx *ctx, const ti_classifier *f, const ti_adv_params *p,
                     const float *x, const int *y, int N, ti_rng *rng, float *x_adv)
{
    ti_status s = check_params(ctx, p);
    if (s != TI_OK)
        return s;
    size_t D = ti_classifier_dim(f), n = (size_t)N * D;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        /* the references do not clip the random start; the first step's projection does */
        if (p->random_start)
            v += ti_rng_uniform(rng, -p->eps, p->eps);
        x_adv[i] = v;
    }
    float *logits = malloc((size_t)N * f->M * sizeof(float)), *g = malloc(n * sizeof(float));
    if (!logits || !g)
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "pgd: out of memory for a batch of %d", N);
    ce_labels lab = {y};
    for (int t = 0; t < p->steps && s == TI_OK; t++) {
        s = ti_classifier_grad(f, x_adv, N, ce_dlogits, &lab, logits, g);
        if (s == TI_OK)
            ascend(x_adv, x, g, n, p->step, p->eps);
    }
    if (s == TI_OK && p->steps == 0) /* keep x_adv in the box even without a step */
        project(x_adv, x, n, p->eps);
    free(logits);
    free(g);
    return s;
}

typedef struct kl_target {
    const float *p; /* (N, M) softmax of the clean logits */
} kl_target;

/* d KL(p || softmax(z')) / dz' = softmax(z') - p */
static void kl_dlogits(void *user, const float *logits, int N, int M, float *dl)
{
    const float *p = ((kl_target *)user)->p;
    for (size_t i = 0; i < (size_t)N * M; i += (size_t)M) {
        softmax_row(logits + i, M, dl + i);
        for (int m = 0; m < M; m++)
            dl[i + m] -= p[i + m];
    }
}

ti_status ti_adv_trades_inner(ti_ctx *ctx, const ti_classifier *f, const ti_adv_params *p,
                              const float *x, int N, ti_rng *rng, float *x_adv)
{
    ti_status s = check_params(ctx, p);
    if (s != TI_OK)
        return s;
    int M = f->M;
    size_t D = ti_classifier_dim(f), n = (size_t)N * D;
    float *prob = malloc((size_t)N * M * sizeof(float));
    float *logits = malloc((size_t)N * M * sizeof(float)), *g = malloc(n * sizeof(float));
    if (!prob || !logits || !g) {
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "trades: out of memory for a batch of %d", N);
        goto done;
    }
    /* p(x) is computed once and held constant while x' moves */
    s = f->forward(f->self, x, N, logits);
    if (s != TI_OK)
        goto done;
    for (size_t i = 0; i < (size_t)N * M; i += (size_t)M)
        softmax_row(logits + i, M, prob + i);
    for (size_t i = 0; i < n; i++)
        x_adv[i] = x[i] + 0.001f * ti_rng_normal(rng);
    kl_target tgt = {prob};
    for (int t = 0; t < p->steps && s == TI_OK; t++) {
        s = ti_classifier_grad(f, x_adv, N, kl_dlogits, &tgt, logits, g);
        if (s == TI_OK)
            ascend(x_adv, x, g, n, p->step, p->eps);
    }
    if (s == TI_OK && p->steps == 0)
        project(x_adv, x, n, p->eps);
done:
    free(prob);
    free(logits);
    free(g);
    return s;
}
