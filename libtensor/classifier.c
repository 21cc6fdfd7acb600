/* The classifier interface's helpers and the linear classifier, whose decision boundaries
 * are known in closed form: the test bed for every attack. */
#include <stdlib.h>
#include <string.h>

#include "thinice/classifier.h"

void ti_argmax_rows(const float *logits, int N, int M, int *pred)
{
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * M;
        int best = 0;
        for (int m = 1; m < M; m++)
            if (z[m] > z[best])
                best = m;
        pred[n] = best;
    }
}

ti_status ti_classifier_logits(const ti_classifier *f, const float *x, int N, int batch,
                               float *logits)
{
    if (!f || !f->forward || batch < 1 || N < 0 || (N > 0 && (!x || !logits)))
        return TI_ERR_ARG;
    size_t D = ti_classifier_dim(f);
    for (int o = 0; o < N; o += batch) {
        int n = N - o < batch ? N - o : batch;
        ti_status s = f->forward(f->self, x + (size_t)o * D, n, logits + (size_t)o * f->M);
        if (s != TI_OK)
            return s;
    }
    return TI_OK;
}

ti_status ti_classifier_jacobian(const ti_classifier *f, const float *x, int N, float *logits,
                                 float *jac)
{
    if (f->jacobian)
        return f->jacobian(f->self, x, N, logits, jac);
    size_t D = ti_classifier_dim(f);
    float *seed = calloc((size_t)N * f->M, sizeof(float));
    float *dx = malloc((size_t)N * D * sizeof(float));
    ti_status s = (seed && dx) ? TI_OK : TI_ERR_NOMEM;
    for (int m = 0; m < f->M && s == TI_OK; m++) {
        for (int n = 0; n < N; n++)
            seed[(size_t)n * f->M + m] = 1.0f;
        s = f->vjp(f->self, x, N, seed, m == 0 ? logits : NULL, dx);
        for (int n = 0; n < N; n++) {
            seed[(size_t)n * f->M + m] = 0.0f;
            memcpy(jac + ((size_t)n * f->M + m) * D, dx + (size_t)n * D, D * sizeof(float));
        }
    }
    free(seed);
    free(dx);
    return s;
}

ti_status ti_classifier_grad(const ti_classifier *f, const float *x, int N, ti_dlogits_fn fn,
                             void *user, float *logits, float *dx)
{
    if (f->grad)
        return f->grad(f->self, x, N, fn, user, logits, dx);
    float *dl = malloc((size_t)N * f->M * sizeof(float) + 1);
    if (!dl)
        return TI_ERR_NOMEM;
    ti_status s = f->forward(f->self, x, N, logits);
    if (s == TI_OK) {
        fn(user, logits, N, f->M, dl);
        s = f->vjp(f->self, x, N, dl, NULL, dx);
    }
    free(dl);
    return s;
}

static ti_status linear_forward(void *self, const float *x, int N, float *logits)
{
    ti_linear_classifier *lc = self;
    int M = lc->base.M;
    size_t D = ti_classifier_dim(&lc->base);
    lc->forwards += N;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double s = lc->b[m];
            for (size_t i = 0; i < D; i++)
                s += (double)lc->Wt[(size_t)m * D + i] * x[(size_t)n * D + i];
            logits[(size_t)n * M + m] = (float)s;
        }
    return TI_OK;
}

static ti_status linear_vjp(void *self, const float *x, int N, const float *dlogits,
                            float *logits, float *dx)
{
    ti_linear_classifier *lc = self;
    int M = lc->base.M;
    size_t D = ti_classifier_dim(&lc->base);
    if (logits)
        linear_forward(self, x, N, logits);
    lc->vjps += N;
    for (int n = 0; n < N; n++)
        for (size_t i = 0; i < D; i++) {
            double s = 0;
            for (int m = 0; m < M; m++)
                s += (double)dlogits[(size_t)n * M + m] * lc->Wt[(size_t)m * D + i];
            dx[(size_t)n * D + i] = (float)s;
        }
    return TI_OK;
}

void ti_linear_classifier_init(ti_linear_classifier *lc, const float *W, const float *b, int M,
                               int C, int H, int W_)
{
    memset(lc, 0, sizeof *lc);
    lc->Wt = W;
    lc->b = b;
    lc->base = (ti_classifier){.C = C, .H = H, .W = W_, .M = M, .self = lc,
                               .forward = linear_forward, .vjp = linear_vjp, .jacobian = NULL};
}
