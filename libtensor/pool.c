/* Pooling over (N, C, H, W): max and average with a k x k window and stride s (no padding),
 * and adaptive average pooling with PyTorch's bins [floor(i H / OH), ceil((i + 1) H / OH)).
 * Max pooling routes the gradient to the first maximum of each window (row-major order). */
#include <stdint.h>

#include "thinice/ops.h"
#include "internal.h"

/* The common checks: a 4-D input; returns false (with a sticky error) otherwise. */
static bool pool_input_ok(ti_tape *tape, const char *op, ti_tensor *x)
{
    if (ti__tape_bad(tape, 1, &x))
        return false;
    if (x->ndim != 4) {
        char sx[64];
        ti__tape_fail(tape, TI_ERR_SHAPE, "%s: input must be (N, C, H, W), got %s", op,
                      ti_shape_str(x, sx, sizeof sx));
        return false;
    }
    return true;
}

/* Window k and stride s must be positive and the window must fit the input. */
static bool window_ok(ti_tape *tape, const char *op, ti_tensor *x, int k, int s)
{
    if (k < 1 || s < 1) {
        ti__tape_fail(tape, TI_ERR_ARG, "%s: window %d and stride %d must both be >= 1", op, k, s);
        return false;
    }
    if (x->shape[2] < k || x->shape[3] < k) {
        char sx[64];
        ti__tape_fail(tape, TI_ERR_SHAPE, "%s: a %dx%d window does not fit the input %s", op, k,
                      k, ti_shape_str(x, sx, sizeof sx));
        return false;
    }
    return true;
}

/* ---- max pooling ----------------------------------------------------------------------- */

/* y (N C, OH, OW) = window maxima of x (N C, H, W); arg, if not NULL, receives the offset
 * ih * W + iw of each maximum within its plane (the first one on ties). */
/* The 2x2, stride-2 case of every CNN here, without the generic window loops: the four
 * candidates are compared with selects (same first-maximum rule), so it vectorizes. */
static void k_maxpool2x2_fwd(float *y, int32_t *arg, const float *x, size_t planes, int H,
                             int W, int OH, int OW)
{
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * (size_t)H * W;
        for (int oh = 0; oh < OH; oh++) {
            const float *r0 = xp + (size_t)(2 * oh) * W, *r1 = r0 + W;
            float *yr = y + (pl * OH + oh) * (size_t)OW;
            int32_t *ar = arg ? arg + (pl * OH + oh) * (size_t)OW : NULL;
            int base = 2 * oh * W;
            for (int ow = 0; ow < OW; ow++) {
                float m = r0[2 * ow];
                int32_t at = base + 2 * ow;
                float b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
                at = b > m ? base + 2 * ow + 1 : at;
                m = b > m ? b : m;
                at = c > m ? base + W + 2 * ow : at;
                m = c > m ? c : m;
                at = d > m ? base + W + 2 * ow + 1 : at;
                m = d > m ? d : m;
                yr[ow] = m;
                if (ar)
                    ar[ow] = at;
            }
        }
    }
}

static void k_maxpool_fwd(float *y, int32_t *arg, const float *x, size_t planes, int H, int W,
                          int k, int s, int OH, int OW)
{
    if (k == 2 && s == 2) {
        k_maxpool2x2_fwd(y, arg, x, planes, H, W, OH, OW);
        return;
    }
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * (size_t)H * W;
        float *yp = y + pl * (size_t)OH * OW;
        int32_t *ap = arg ? arg + pl * (size_t)OH * OW : NULL;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int best = oh * s * W + ow * s;
                float m = xp[best];
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int at = (oh * s + i) * W + ow * s + j;
                        if (xp[at] > m) { /* strict: the first maximum wins ties */
                            m = xp[at];
                            best = at;
                        }
                    }
                yp[oh * OW + ow] = m;
                if (ap)
                    ap[oh * OW + ow] = best;
            }
    }
}

/* Max pooling over a range of planes, for the pool. */
typedef struct maxpool_job {
    float *y, *gx;
    int32_t *arg;
    const float *x, *gy;
    int H, W, k, s, OH, OW;
} maxpool_job;

static void maxpool_fwd_range(void *job, size_t lo, size_t hi, int t)
{
    (void)t;
    const maxpool_job *j = job;
    size_t HW = (size_t)j->H * j->W, P = (size_t)j->OH * j->OW;
    k_maxpool_fwd(j->y + lo * P, j->arg ? j->arg + lo * P : NULL, j->x + lo * HW, hi - lo, j->H,
                  j->W, j->k, j->s, j->OH, j->OW);
}

static void maxpool_bwd_range(void *job, size_t lo, size_t hi, int t)
{
    (void)t;
    const maxpool_job *j = job;
    size_t HW = (size_t)j->H * j->W, P = (size_t)j->OH * j->OW;
    for (size_t pl = lo; pl < hi; pl++) {
        float *gx = j->gx + pl * HW;
        const float *gy = j->gy + pl * P;
        const int32_t *a = j->arg + pl * P;
        for (size_t p = 0; p < P; p++)
            gx[a[p]] += gy[p];
    }
}

static void maxpool_backward(ti_tape *tape, ti_node *n)
{
    const ti_tensor *x = n->in[0], *y = n->out;
    maxpool_job j = {.gx = x->grad, .gy = y->grad, .arg = n->saved, .H = x->shape[2],
                     .W = x->shape[3], .OH = y->shape[2], .OW = y->shape[3]};
    size_t planes = (size_t)x->shape[0] * x->shape[1];
    ti__parallel_for(ti_tape_ctx(tape), planes, TI_GRAIN_ELEMS / (j.H * j.W) + 1,
                     maxpool_bwd_range, &j);
}

static const ti_op_def op_maxpool = {"maxpool2d", maxpool_backward};

ti_tensor *ti_maxpool2d(ti_tape *tape, ti_tensor *x, int k, int s)
{
    if (!pool_input_ok(tape, "maxpool2d", x) || !window_ok(tape, "maxpool2d", x, k, s))
        return NULL;
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int OH = (H - k) / s + 1, OW = (W - k) / s + 1;
    ti_tensor *y = ti_tape_tensor(tape, 4, (int[]){N, C, OH, OW});
    if (!y)
        return NULL;
    /* record first, so that the argmax is kept only when a backward can need it */
    ti_node *n = ti__tape_record(tape, &op_maxpool, y, 1, &x);
    int32_t *arg = NULL;
    if (n) {
        arg = ti__tape_alloc(tape, y->size * sizeof(int32_t));
        if (!arg)
            return NULL;
        n->saved = arg;
    }
    maxpool_job j = {.y = y->data, .arg = arg, .x = x->data, .H = H, .W = W, .k = k, .s = s,
                     .OH = OH, .OW = OW};
    ti__parallel_for(ti_tape_ctx(tape), (size_t)N * C, TI_GRAIN_ELEMS / (H * W) + 1,
                     maxpool_fwd_range, &j);
    return y;
}

/* ---- average pooling ------------------------------------------------------------------- */

static void avgpool_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const ti_tensor *x = n->in[0], *y = n->out;
    int k = n->ip[0], s = n->ip[1];
    int H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    size_t planes = (size_t)x->shape[0] * x->shape[1];
    float inv = 1.0f / (float)(k * k);
    for (size_t pl = 0; pl < planes; pl++) {
        float *gx = x->grad + pl * (size_t)H * W;
        const float *gy = y->grad + pl * (size_t)OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float g = gy[oh * OW + ow] * inv;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++)
                        gx[(oh * s + i) * W + ow * s + j] += g;
            }
    }
}

static const ti_op_def op_avgpool = {"avgpool2d", avgpool_backward};

ti_tensor *ti_avgpool2d(ti_tape *tape, ti_tensor *x, int k, int s)
{
    if (!pool_input_ok(tape, "avgpool2d", x) || !window_ok(tape, "avgpool2d", x, k, s))
        return NULL;
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int OH = (H - k) / s + 1, OW = (W - k) / s + 1;
    ti_tensor *y = ti_tape_tensor(tape, 4, (int[]){N, C, OH, OW});
    if (!y)
        return NULL;
    size_t planes = (size_t)N * C;
    float inv = 1.0f / (float)(k * k);
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * (size_t)H * W;
        float *yp = y->data + pl * (size_t)OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float acc = 0.0f;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++)
                        acc += xp[(oh * s + i) * W + ow * s + j];
                yp[oh * OW + ow] = acc * inv;
            }
    }
    ti_node *n = ti__tape_record(tape, &op_avgpool, y, 1, &x);
    if (n) {
        n->ip[0] = k;
        n->ip[1] = s;
    }
    return y;
}

/* ---- adaptive average pooling ---------------------------------------------------------- */

/* Bin i of `out` bins over `in` cells spans [lo, hi) (PyTorch's start/end index). */
static void bin_range(int i, int in, int out, int *lo, int *hi)
{
    *lo = (int)(((long)i * in) / out);
    *hi = (int)(((long)(i + 1) * in + out - 1) / out);
}

static void adaptive_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const ti_tensor *x = n->in[0], *y = n->out;
    int H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    size_t planes = (size_t)x->shape[0] * x->shape[1];
    for (size_t pl = 0; pl < planes; pl++) {
        float *gx = x->grad + pl * (size_t)H * W;
        const float *gy = y->grad + pl * (size_t)OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            int h0, h1;
            bin_range(oh, H, OH, &h0, &h1);
            for (int ow = 0; ow < OW; ow++) {
                int w0, w1;
                bin_range(ow, W, OW, &w0, &w1);
                float g = gy[oh * OW + ow] / (float)((h1 - h0) * (w1 - w0));
                for (int i = h0; i < h1; i++)
                    for (int j = w0; j < w1; j++)
                        gx[i * W + j] += g;
            }
        }
    }
}

static const ti_op_def op_adaptive = {"adaptive_avgpool2d", adaptive_backward};

ti_tensor *ti_adaptive_avgpool2d(ti_tape *tape, ti_tensor *x, int OH, int OW)
{
    if (!pool_input_ok(tape, "adaptive_avgpool2d", x))
        return NULL;
    if (OH < 1 || OW < 1)
        return ti__tape_fail(tape, TI_ERR_ARG,
                             "adaptive_avgpool2d: output size %dx%d must be at least 1x1", OH, OW);
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    if (H < 1 || W < 1) {
        char sx[64];
        return ti__tape_fail(tape, TI_ERR_SHAPE, "adaptive_avgpool2d: empty input %s",
                             ti_shape_str(x, sx, sizeof sx));
    }
    ti_tensor *y = ti_tape_tensor(tape, 4, (int[]){N, C, OH, OW});
    if (!y)
        return NULL;
    size_t planes = (size_t)N * C;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * (size_t)H * W;
        float *yp = y->data + pl * (size_t)OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            int h0, h1;
            bin_range(oh, H, OH, &h0, &h1);
            for (int ow = 0; ow < OW; ow++) {
                int w0, w1;
                bin_range(ow, W, OW, &w0, &w1);
                float acc = 0.0f;
                for (int i = h0; i < h1; i++)
                    for (int j = w0; j < w1; j++)
                        acc += xp[i * W + j];
                yp[oh * OW + ow] = acc / (float)((h1 - h0) * (w1 - w0));
            }
        }
    }
    ti__tape_record(tape, &op_adaptive, y, 1, &x);
    return y;
}
