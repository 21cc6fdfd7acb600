/* Batch normalisation per channel with PyTorch's semantics (Ioffe & Szegedy 2015, Eq. 1-2 and
 * the backward in docs/batchnorm.md). Training normalises with the batch's biased variance and
 * moves the running statistics toward the unbiased one; evaluation uses the running
 * statistics. Works on (N, C, H, W) and also on (N, C) or (N, C, L), with H*W = the product of
 * the trailing dimensions. Sums over a channel are accumulated in double.
 * ti__batchnorm2d_relu is the same followed by ReLU in one pass (one tensor, not two: the
 * models use it for every BN + ReLU pair); its backward masks dy by the output's sign. */
#include <math.h>

#include "thinice/ops.h"
#include "internal.h"

typedef struct bn_saved {
    int N, C, HW;
    int training;
    int relu;             /* fused ReLU: the output is max(bn(x), 0) */
    int gi, bi;           /* index of gamma / beta in the node's inputs, -1 if absent */
    float *mean, *invstd; /* (C): the statistics the forward normalised with */
} bn_saved;

/* Sum of a contiguous plane in double, four accumulators to shorten the dependency chain. */
static double plane_sum(const float *p, int n)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
    }
    for (; i < n; i++)
        a0 += p[i];
    return (a0 + a1) + (a2 + a3);
}

/* Sum of (p - m)^2 in double: the two-pass variance, which does not cancel like E[x^2]-m^2. */
static double plane_sumsq_dev(const float *p, int n, double m)
{
    double a0 = 0, a1 = 0;
    int i = 0;
    for (; i + 2 <= n; i += 2) {
        double d0 = p[i] - m, d1 = p[i + 1] - m;
        a0 += d0 * d0;
        a1 += d1 * d1;
    }
    for (; i < n; i++) {
        double d = p[i] - m;
        a0 += d * d;
    }
    return a0 + a1;
}

/* Sums of dy and of dy * (x - m) over a plane, in double. With a fused ReLU, dy is first
 * masked by its output y (NULL: no ReLU). */
static void plane_grad_sums_relu(const float *dy, const float *y, const float *x, int n,
                                 double m, double *sdy, double *sdyx)
{
    double s0 = 0, s1 = 0, t0 = 0, t1 = 0;
    int i = 0;
    for (; i + 2 <= n; i += 2) {
        float g0 = y[i] > 0.0f ? dy[i] : 0.0f, g1 = y[i + 1] > 0.0f ? dy[i + 1] : 0.0f;
        s0 += g0;
        s1 += g1;
        t0 += g0 * (x[i] - m);
        t1 += g1 * (x[i + 1] - m);
    }
    for (; i < n; i++) {
        float g = y[i] > 0.0f ? dy[i] : 0.0f;
        s0 += g;
        t0 += g * (x[i] - m);
    }
    *sdy += s0 + s1;
    *sdyx += t0 + t1;
}

static void plane_grad_sums(const float *dy, const float *x, int n, double m, double *sdy,
                            double *sdyx)
{
    double s0 = 0, s1 = 0, t0 = 0, t1 = 0;
    int i = 0;
    for (; i + 2 <= n; i += 2) {
        s0 += dy[i];
        s1 += dy[i + 1];
        t0 += dy[i] * (x[i] - m);
        t1 += dy[i + 1] * (x[i + 1] - m);
    }
    for (; i < n; i++) {
        s0 += dy[i];
        t0 += dy[i] * (x[i] - m);
    }
    *sdy += s0 + s1;
    *sdyx += t0 + t1;
}

/* With xhat = (x - mean) invstd and y = gamma xhat + beta (M = N H W values per channel):
 *   dbeta = sum dy,  dgamma = sum dy xhat,
 *   training: dx = gamma invstd (dy - sum(dy)/M - xhat sum(dy xhat)/M)
 *   evaluation (mean, invstd are constants): dx = gamma invstd dy. */
typedef struct bwd_job {
    const bn_saved *s;
    ti_tensor *x, *gamma, *beta;
    const float *gy, *yr; /* output gradient; the output if a ReLU is fused, else NULL */
    int want_g, want_b, need_sums;
} bwd_job;

/* The backward of channels [lo, hi): each channel's sums and dx are its own, so the pool
 * splits the channels. */
static void bwd_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const bwd_job *j = arg;
    const bn_saved *s = j->s;
    int N = s->N, C = s->C, HW = s->HW;
    ti_tensor *x = j->x, *gamma = j->gamma, *beta = j->beta;
    const float *gy = j->gy, *yr = j->yr;
    double M = (double)N * HW;
    for (size_t c = lo; c < hi; c++) {
        double mean = s->mean[c], invstd = s->invstd[c];
        double g = gamma ? gamma->data[c] : 1.0;
        double sdy = 0, sdyx = 0; /* sum dy, sum dy (x - mean) */
        if (j->need_sums)
            for (int i = 0; i < N; i++) {
                size_t off = ((size_t)i * C + c) * HW;
                if (yr)
                    plane_grad_sums_relu(gy + off, yr + off, x->data + off, HW, mean, &sdy,
                                         &sdyx);
                else
                    plane_grad_sums(gy + off, x->data + off, HW, mean, &sdy, &sdyx);
            }
        if (j->want_g)
            gamma->grad[c] += (float)(sdyx * invstd);
        if (j->want_b)
            beta->grad[c] += (float)sdy;
        if (!x->requires_grad)
            continue;
        /* dx = a dy + k (x - mean) + d with per-channel constants, so the plane loop
         * vectorises; subtracting the mean first avoids cancellation when |mean| >> std */
        float a = (float)(g * invstd), k = 0.0f, d = 0.0f, m = s->mean[c];
        if (s->training && M > 0) {
            k = (float)(-g * invstd * invstd * invstd * sdyx / M);
            d = (float)(-g * invstd * sdy / M);
        }
        for (int i = 0; i < N; i++) {
            size_t off = ((size_t)i * C + c) * HW;
            const float *dy = gy + off, *xs = x->data + off;
            float *dx = x->grad + off;
            if (yr) {
                const float *ys = yr + off;
                for (int q = 0; q < HW; q++)
                    dx[q] += a * (ys[q] > 0.0f ? dy[q] : 0.0f) + k * (xs[q] - m) + d;
            } else {
                for (int q = 0; q < HW; q++)
                    dx[q] += a * dy[q] + k * (xs[q] - m) + d;
            }
        }
    }
}

/* With xhat = (x - mean) invstd and y = gamma xhat + beta (M = N H W values per channel):
 *   dbeta = sum dy,  dgamma = sum dy xhat,
 *   training: dx = gamma invstd (dy - sum(dy)/M - xhat sum(dy xhat)/M)
 *   evaluation (mean, invstd are constants): dx = gamma invstd dy. */
static void bn_backward(ti_tape *tape, ti_node *n)
{
    const bn_saved *s = n->saved;
    bwd_job j = {.s = s, .x = n->in[0], .gamma = s->gi >= 0 ? n->in[s->gi] : NULL,
                 .beta = s->bi >= 0 ? n->in[s->bi] : NULL, .gy = n->out->grad,
                 .yr = s->relu ? n->out->data : NULL};
    j.want_g = j.gamma && j.gamma->requires_grad;
    j.want_b = j.beta && j.beta->requires_grad;
    j.need_sums = j.want_g || j.want_b || (s->training && j.x->requires_grad);
    ti__parallel_for(ti_tape_ctx(tape), (size_t)s->C, 1, bwd_range, &j);
}

static const ti_op_def op_batchnorm = {"batchnorm2d", bn_backward};

typedef struct fwd_job {
    bn_saved *s;
    const ti_tensor *x;
    ti_tensor *y, *gamma, *beta, *running_mean, *running_var;
    int training;
    float momentum, eps;
    int relu;
} fwd_job;

/* The forward of channels [lo, hi): statistics (training) or the running ones, then
 * y = (x - mean) scale + beta (and the ReLU if fused). */
static void fwd_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    fwd_job *j = arg;
    bn_saved *s = j->s;
    int N = s->N, C = s->C, HW = s->HW;
    size_t M = (size_t)N * HW;
    const ti_tensor *x = j->x, *gamma = j->gamma, *beta = j->beta;
    for (size_t c = lo; c < hi; c++) {
        double mean, var;
        if (j->training) {
            double sum = 0, ss = 0;
            for (int i = 0; i < N; i++)
                sum += plane_sum(x->data + ((size_t)i * C + c) * HW, HW);
            mean = sum / (double)M;
            for (int i = 0; i < N; i++)
                ss += plane_sumsq_dev(x->data + ((size_t)i * C + c) * HW, HW, mean);
            var = ss / (double)M; /* biased: what the batch is normalised with */
            if (j->running_mean)
                j->running_mean->data[c] =
                    (float)((1.0 - j->momentum) * j->running_mean->data[c] + j->momentum * mean);
            if (j->running_var) /* unbiased, as PyTorch keeps it */
                j->running_var->data[c] = (float)((1.0 - j->momentum) * j->running_var->data[c] +
                                                  j->momentum * ss / (double)(M - 1));
        } else {
            mean = j->running_mean->data[c];
            var = j->running_var->data[c]; /* var + eps > 0: bn_forward checked */
        }
        double invstd = 1.0 / sqrt(var + j->eps);
        s->mean[c] = (float)mean;
        s->invstd[c] = (float)invstd;
        /* y = (x - mean) scale + beta with scale = gamma invstd (mean subtracted first: with
         * |mean| >> std, x scale - mean scale would cancel catastrophically in float) */
        float m = s->mean[c], scale = (float)((gamma ? gamma->data[c] : 1.0) * invstd);
        float b = beta ? beta->data[c] : 0.0f;
        for (int i = 0; i < N; i++) {
            size_t off = ((size_t)i * C + c) * HW;
            const float *xs = x->data + off;
            float *ys = j->y->data + off;
            if (j->relu)
                for (int q = 0; q < HW; q++) {
                    float v = (xs[q] - m) * scale + b;
                    ys[q] = v > 0.0f ? v : 0.0f;
                }
            else
                for (int q = 0; q < HW; q++)
                    ys[q] = (xs[q] - m) * scale + b;
        }
    }
}

/* NULL, or a 1-D tensor of C values; else a message naming which. */
static int bad_param(ti_tape *tape, const ti_tensor *t, const char *what, int C,
                     const ti_tensor *x)
{
    if (!t || (t->ndim == 1 && t->shape[0] == C))
        return 0;
    char st[64], sx[64];
    ti__tape_fail(tape, TI_ERR_SHAPE, "batchnorm2d: %s is %s but x %s has C=%d channels", what,
                  ti_shape_str(t, st, sizeof st), ti_shape_str(x, sx, sizeof sx), C);
    return 1;
}

static ti_tensor *bn_forward(ti_tape *tape, ti_tensor *x, ti_tensor *gamma, ti_tensor *beta,
                             ti_tensor *running_mean, ti_tensor *running_var, int training,
                             float momentum, float eps, int relu)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    char sx[64];
    if (x->ndim < 2)
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "batchnorm2d: x must be (N, C, H, W) (or (N, C)), got %s",
                             ti_shape_str(x, sx, sizeof sx));
    int N = x->shape[0], C = x->shape[1];
    int HW = (int)ti_shape_size(x->ndim - 2, x->shape + 2);
    if (bad_param(tape, gamma, "gamma", C, x) || bad_param(tape, beta, "beta", C, x) ||
        bad_param(tape, running_mean, "running_mean", C, x) ||
        bad_param(tape, running_var, "running_var", C, x))
        return NULL;
    if (!(eps >= 0.0f) || !isfinite(eps) || !isfinite(momentum))
        return ti__tape_fail(tape, TI_ERR_ARG,
                             "batchnorm2d: eps %g must be finite and >= 0, momentum %g finite",
                             eps, momentum);
    size_t M = (size_t)N * HW;
    if (training && M < 2)
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "batchnorm2d: training needs more than one value per channel, x is "
                             "%s (evaluate a single image in evaluation mode)",
                             ti_shape_str(x, sx, sizeof sx));
    if (!training && (!running_mean || !running_var))
        return ti__tape_fail(tape, TI_ERR_ARG,
                             "batchnorm2d: evaluation mode needs running_mean and running_var");

    ti_tensor *y = ti__tape_like(tape, x);
    bn_saved *s = ti__tape_alloc(tape, sizeof *s);
    float *stats = ti__tape_alloc(tape, 2 * (size_t)C * sizeof(float) + 1);
    if (!y || !s || !stats)
        return NULL;
    s->N = N;
    s->C = C;
    s->HW = HW;
    s->training = training != 0;
    s->relu = relu;
    s->mean = stats;
    s->invstd = stats + C;

    for (int c = 0; !training && c < C; c++)
        if (!((double)running_var->data[c] + eps > 0.0))
            return ti__tape_fail(tape, TI_ERR_NAN,
                                 "batchnorm2d: channel %d has running_var %g and eps %g: "
                                 "var + eps must be positive",
                                 c, running_var->data[c], (double)eps);
    fwd_job j = {s, x, y, gamma, beta, running_mean, running_var, training, momentum, eps, relu};
    ti__parallel_for(ti_tape_ctx(tape), (size_t)C, 1, fwd_range, &j);

    ti_tensor *in[3] = {x, NULL, NULL};
    int nin = 1;
    s->gi = s->bi = -1;
    if (gamma) {
        s->gi = nin;
        in[nin++] = gamma;
    }
    if (beta) {
        s->bi = nin;
        in[nin++] = beta;
    }
    ti_node *n = ti__tape_record(tape, &op_batchnorm, y, nin, in);
    if (n)
        n->saved = s;
    return y;
}

ti_tensor *ti_batchnorm2d(ti_tape *tape, ti_tensor *x, ti_tensor *gamma, ti_tensor *beta,
                          ti_tensor *running_mean, ti_tensor *running_var, int training,
                          float momentum, float eps)
{
    return bn_forward(tape, x, gamma, beta, running_mean, running_var, training, momentum, eps,
                      0);
}

ti_tensor *ti__batchnorm2d_relu(ti_tape *tape, ti_tensor *x, ti_tensor *gamma, ti_tensor *beta,
                                ti_tensor *running_mean, ti_tensor *running_var, int training,
                                float momentum, float eps)
{
    return bn_forward(tape, x, gamma, beta, running_mean, running_var, training, momentum, eps,
                      1);
}
