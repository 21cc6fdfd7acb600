/* 2-D convolution (cross-correlation, as PyTorch's Conv2d) with forward and backward as
 * matrix products: im2col + sgemm for the output, sgemm + col2im for the input gradient, and
 * sgemm against the column matrix for the weight gradient (darknet's layout; derivation in
 * docs/conv.md). The column matrix covers a GROUP of images so the GEMM is wide enough.
 * Stride-1 layers on large maps use the row-shift variant (conv_rowshift.c); wide 3x3
 * stride-1 layers use Winograd (conv_winograd.c) for the forward and dX.
 * The batch is split over the context's pool by images: each worker runs im2col, GEMM and the
 * copy back for its own images with a single-threaded sgemm, so nothing but the GEMMs waits
 * on one core (parallel.c). A batch smaller than the pool runs on the caller, whose GEMMs
 * are then split over the pool instead (ti__sgemm). */
#include <string.h>

#include "thinice/ops.h"
#include "conv_internal.h"

/* The column buffer is capped so that it does not grow without bound on wide layers; the
 * cap never forces fewer columns than GROUP_MIN_COLS. */
#define GROUP_MIN_COLS 1024
#define GROUP_MAX_BYTES ((size_t)24 << 20)
/* Winograd F(2x2, 3x3) (conv_winograd.c) pays from 32 channels in and out: below that its
 * 16 GEMMs of inner dimension C are too thin and the transforms dominate (measured with the
 * pool, interleaved in one process: 1.2x faster than the GEMM path at 32 -> 64 channels on
 * 14x14 and at 32 -> 32 on 32x32, 0.94x at 16 channels). */
#define WINO_MIN_CHANNELS 32

/* Images per group: enough for GROUP_COLS columns, at most a worker's share of the batch,
 * and the column buffer under GROUP_MAX_BYTES unless that would leave fewer than
 * GROUP_MIN_COLS columns. */
static int group_size(const conv_shape *s)
{
    size_t g = (GROUP_COLS + s->P - 1) / s->P;
    size_t per_image = s->CK * s->P * sizeof(float);
    size_t cap = GROUP_MAX_BYTES / (per_image ? per_image : 1);
    size_t floor_g = (GROUP_MIN_COLS + s->P - 1) / s->P;
    size_t share = ((size_t)s->N + s->T - 1) / s->T;
    if (cap < floor_g)
        cap = floor_g;
    if (g > cap)
        g = cap;
    if (g > share)
        g = share;
    return g < 1 ? 1 : (int)g;
}

/* Which kernel takes a 3x3 stride-1 layer depends on whether its weight trains (it is then
 * transformed again at every step, over a training batch) or is frozen (evaluation and
 * attacks: the same weights call after call, often on the few points an attack has left).
 * Frozen weights:
 * - Winograd needs the transformed weight kept between calls (ti__ctx_derived). A layer too
 *   large for that cache (ResNet-18's 512-channel layers) transforms its weight at every
 *   call, which pays only over enough images: below WINO_FROZEN_MIN_IMAGES per thread such a
 *   layer goes to im2col + GEMM (ResNet-18, 6 images per thread: the transforms were half of
 *   APGD-CE's time, 20.0 against 11.7 s; at 64 per thread Winograd's input gradient is 1.8x
 *   faster than the GEMM path's). A layer the cache keeps runs Winograd at any batch
 *   (ResNet-18's 256 -> 256 layers on 8x8, 7 images: 2.1 against 3.9 ms by im2col). For the
 *   layers it does not keep the kernel, hence the rounding, depends on the images per call,
 *   as OpenBLAS's GEMMs may anyway.
 * - On maps of 8x8 and less that the direct kernel takes (few channels, rows of 8 or 4
 *   pixels) it is faster than Winograd at any batch (32 -> 32 on 8x8: 16.0 against 18.1 us
 *   per image: the transforms of 16 or 4 tiles per image cost more than they save), and it
 *   sums an image the same way in any batch.
 * Training keeps Winograd (docs/conv.md#frozen-weights-evaluation-and-attacks). */
#define WINO_FROZEN_MIN_IMAGES 8
static int frozen_prefers_other(const conv_shape *s)
{
    size_t kc = (size_t)s->K * s->C;
    if (!ti__ctx_derived_keeps((9 + 16) * kc * sizeof(float)))
        return (s->N + s->T - 1) / s->T < WINO_FROZEN_MIN_IMAGES;
    conv_shape d = *s; /* would the direct kernel take it, were it not Winograd's? */
    d.wino = 0;
    return s->OH * s->OW <= 64 && ti__conv_direct_ok(&d);
}

static void shape_fill(conv_shape *s, const ti_tensor *x, const ti_tensor *w, int stride,
                       int pad, int threads, int frozen)
{
    s->N = x->shape[0];
    s->C = x->shape[1];
    s->H = x->shape[2];
    s->W = x->shape[3];
    s->K = w->shape[0];
    s->KH = w->shape[2];
    s->KW = w->shape[3];
    s->stride = stride;
    s->pad = pad;
    s->T = threads < 1 ? 1 : threads;
    s->OH = (s->H + 2 * pad - s->KH) / stride + 1;
    s->OW = (s->W + 2 * pad - s->KW) / stride + 1;
    s->CK = (size_t)s->C * s->KH * s->KW;
    s->P = (size_t)s->OH * s->OW;
    s->direct = s->KH == 1 && s->KW == 1 && stride == 1 && pad == 0;
    s->wino = s->KH == 3 && s->KW == 3 && stride == 1 && pad <= 2 &&
              s->C >= WINO_MIN_CHANNELS && s->K >= WINO_MIN_CHANNELS;
    if (s->wino && frozen && frozen_prefers_other(s))
        s->wino = 0;
    s->G = group_size(s);
    /* the direct kernel takes the forward and the input gradient of the layers it handles
     * (the weight gradient, wanted in training only, stays with Winograd or im2col) */
    s->dconv = ti__conv_direct_ok(s);
    s->dconv_bwd = ti__conv_direct_bwd_ok(s);
}

/* ---- the reference: seven plain loops ------------------------------------------------- */

static void k_conv2d_naive(float *y, const float *x, const float *w, const float *b,
                           const conv_shape *s)
{
    for (int n = 0; n < s->N; n++)
        for (int k = 0; k < s->K; k++)
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    double acc = b ? b[k] : 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int kh = 0; kh < s->KH; kh++)
                            for (int kw = 0; kw < s->KW; kw++) {
                                int ih = oh * s->stride - s->pad + kh;
                                int iw = ow * s->stride - s->pad + kw;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W)
                                    continue;
                                acc += (double)x[(((size_t)n * s->C + c) * s->H + ih) * s->W + iw] *
                                       w[(((size_t)k * s->C + c) * s->KH + kh) * s->KW + kw];
                            }
                    y[(((size_t)n * s->K + k) * s->OH + oh) * s->OW + ow] = (float)acc;
                }
}

void ti__conv2d_naive(float *y, const float *x, const float *w, const float *b, int N, int C,
                      int H, int W, int K, int KH, int KW, int stride, int pad)
{
    ti_tensor xt, wt;
    ti_tensor_view(&xt, (float *)x, NULL, 4, (int[]){N, C, H, W});
    ti_tensor_view(&wt, (float *)w, NULL, 4, (int[]){K, C, KH, KW});
    conv_shape s;
    shape_fill(&s, &xt, &wt, stride, pad, 1, 0);
    k_conv2d_naive(y, x, w, b, &s);
}

/* ---- im2col and col2im ---------------------------------------------------------------------
 * Row r = (c, kh, kw) of the column matrix holds, for every output pixel (oh, ow), the input
 * x[c][oh*stride - pad + kh][ow*stride - pad + kw] (0 outside the image). One image fills
 * P columns starting at `col`; consecutive rows are `ld` floats apart, so several images can
 * sit side by side in one matrix. */

void ti__conv_valid_range(int OW, int W, int stride, int pad, int kw, int *lo, int *hi)
{
    int a = pad - kw; /* iw >= 0  <=>  ow*stride >= a */
    *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    int bnd = W + pad - kw; /* iw < W  <=>  ow*stride < bnd */
    *hi = bnd <= 0 ? 0 : (bnd + stride - 1) / stride;
    if (*hi > OW)
        *hi = OW;
    if (*lo > *hi)
        *lo = *hi;
}

static void k_im2col(float *col, size_t ld, const float *x, const conv_shape *s)
{
    const int st = s->stride, OW = s->OW;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                float *row = col + (((size_t)c * s->KH + kh) * s->KW + kw) * ld;
                int lo, hi;
                ti__conv_valid_range(OW, s->W, st, s->pad, kw, &lo, &hi);
                for (int oh = 0; oh < s->OH; oh++) {
                    float *out = row + (size_t)oh * OW;
                    int ih = oh * st - s->pad + kh;
                    if (ih < 0 || ih >= s->H) {
                        memset(out, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *in = x + ((size_t)c * s->H + ih) * s->W - s->pad + kw;
                    for (int ow = 0; ow < lo; ow++)
                        out[ow] = 0.0f;
                    if (st == 1)
                        memcpy(out + lo, in + lo, (size_t)(hi - lo) * sizeof(float));
                    else
                        for (int ow = lo; ow < hi; ow++)
                            out[ow] = in[ow * st];
                    for (int ow = hi; ow < OW; ow++)
                        out[ow] = 0.0f;
                }
            }
}

/* The adjoint of k_im2col: dx[c][ih][iw] += every column entry that was copied from it. */
static void k_col2im(float *dx, const float *col, size_t ld, const conv_shape *s)
{
    const int st = s->stride, OW = s->OW;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                const float *row = col + (((size_t)c * s->KH + kh) * s->KW + kw) * ld;
                int lo, hi;
                ti__conv_valid_range(OW, s->W, st, s->pad, kw, &lo, &hi);
                for (int oh = 0; oh < s->OH; oh++) {
                    int ih = oh * st - s->pad + kh;
                    if (ih < 0 || ih >= s->H)
                        continue;
                    const float *g = row + (size_t)oh * OW;
                    float *out = dx + ((size_t)c * s->H + ih) * s->W - s->pad + kw;
                    if (st == 1)
                        for (int ow = lo; ow < hi; ow++)
                            out[ow] += g[ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            out[ow * st] += g[ow];
                }
            }
}

/* ---- forward ------------------------------------------------------------------------------ */

/* Floats of one worker's scratch: the column matrix (CK, G P) and a (K, G P) matrix for the
 * GEMM's result (forward) or the gathered output gradient (backward). */
static size_t worker_floats(const conv_shape *s)
{
    size_t cols = (size_t)s->G * s->P;
    return s->CK * cols + (size_t)s->K * cols;
}

/* y (N, K, OH, OW) = conv(x (N, C, H, W), w (K, CK)) + b (K), for the images [lo, hi).
 * Per group of g images: col (CK, g P) = im2col; out (K, g P) = w col; then each image's
 * (K, P) block of out is copied into y with the bias added. With g = 1 the GEMM writes
 * straight into y, and a direct (1x1) convolution needs no im2col either. */
static void fwd_range(void *job, size_t lo, size_t hi, int t)
{
    const conv_job *j = job;
    const conv_shape *s = j->s;
    const int K = s->K;
    const size_t P = s->P, CK = s->CK, CHW = (size_t)s->C * s->H * s->W;
    float *col = j->ws + (size_t)t * j->slice; /* (CK, G P) */
    float *out = col + CK * (size_t)s->G * P;  /* (K, G P) */
    for (size_t n0 = lo; n0 < hi; n0 += (size_t)s->G) {
        int g = hi - n0 < (size_t)s->G ? (int)(hi - n0) : s->G;
        size_t cols = (size_t)g * P;
        const float *B = col;
        if (s->direct && g == 1)
            B = j->x + n0 * CHW;
        else
            for (int i = 0; i < g; i++)
                k_im2col(col + (size_t)i * P, cols, j->x + (n0 + i) * CHW, s);
        float *dst = g == 1 ? j->y + n0 * K * P : out;
        ti__sgemm(j->ctx, CblasNoTrans, CblasNoTrans, K, (int)cols, (int)CK, 1.0f, j->w,
                  (int)CK, B, (int)cols, 0.0f, dst, (int)cols);
        /* scatter (K, g P) into g images of (K, P), adding the bias on the way */
        for (int i = 0; i < g; i++) {
            float *yi = j->y + (n0 + i) * K * P;
            for (int k = 0; k < K; k++) {
                float bk = j->b ? j->b[k] : 0.0f;
                float *yk = yi + (size_t)k * P;
                if (g == 1) {
                    if (j->b)
                        for (size_t p = 0; p < P; p++)
                            yk[p] += bk;
                } else {
                    const float *ok = out + (size_t)k * cols + (size_t)i * P;
                    for (size_t p = 0; p < P; p++)
                        yk[p] = ok[p] + bk;
                }
            }
        }
    }
}

/* ---- backward -----------------------------------------------------------------------------
 * With dY (K, g P) the output gradient of a group laid out like the forward's GEMM result:
 *   dW (K, CK) += dY col^T          (only if the weight wants a gradient)
 *   dcol (CK, g P) = W^T dY, then dX += col2im(dcol)   (only if the input wants one)
 *   db (K) += sum of dY over images and pixels. */

typedef struct bias_job {
    float *db;
    const float *dy;
    const conv_shape *s;
} bias_job;

/* db[k] += dY[:, k] summed over images and pixels, for output channels [lo, hi). */
static void bias_range(void *job, size_t lo, size_t hi, int t)
{
    (void)t;
    const bias_job *j = job;
    const conv_shape *s = j->s;
    for (size_t k = lo; k < hi; k++) {
        float acc = 0.0f;
        for (int n = 0; n < s->N; n++) {
            const float *g = j->dy + ((size_t)n * s->K + k) * s->P;
            float part = 0.0f;
            for (size_t p = 0; p < s->P; p++)
                part += g[p];
            acc += part;
        }
        j->db[k] += acc;
    }
}

/* Backward for the images [lo, hi): the weight gradient into this worker's own buffer (dw
 * itself for worker 0), the input gradient into dx's rows of those images. */
static void bwd_range(void *job, size_t lo, size_t hi, int t)
{
    const conv_job *j = job;
    const conv_shape *s = j->s;
    const int K = s->K;
    const size_t P = s->P, CK = s->CK, CHW = (size_t)s->C * s->H * s->W;
    float *col = j->ws + (size_t)t * j->slice; /* (CK, G P) */
    float *dyg = col + CK * (size_t)s->G * P;  /* (K, G P) */
    float *dw = NULL;
    if (j->dw) {
        dw = t == 0 ? j->dw : j->dw_part + (size_t)(t - 1) * K * CK;
        if (t > 0)
            memset(dw, 0, (size_t)K * CK * sizeof(float));
    }
    for (size_t n0 = lo; n0 < hi; n0 += (size_t)s->G) {
        int g = hi - n0 < (size_t)s->G ? (int)(hi - n0) : s->G;
        size_t cols = (size_t)g * P;
        const float *G = dyg;
        if (g == 1)
            G = j->dy + n0 * K * P;
        else
            for (int i = 0; i < g; i++)
                for (int k = 0; k < K; k++)
                    memcpy(dyg + (size_t)k * cols + (size_t)i * P,
                           j->dy + ((n0 + i) * K + k) * P, P * sizeof(float));
        int direct = s->direct && g == 1;
        if (dw) {
            const float *B = col;
            if (direct)
                B = j->x + n0 * CHW;
            else
                for (int i = 0; i < g; i++)
                    k_im2col(col + (size_t)i * P, cols, j->x + (n0 + i) * CHW, s);
            ti__sgemm(j->ctx, CblasNoTrans, CblasTrans, K, (int)CK, (int)cols, 1.0f, G,
                      (int)cols, B, (int)cols, 1.0f, dw, (int)CK);
        }
        if (j->dx) {
            if (direct) {
                /* dX of one image is exactly W^T dY: accumulate in place */
                ti__sgemm(j->ctx, CblasTrans, CblasNoTrans, (int)CK, (int)P, K, 1.0f, j->w,
                          (int)CK, G, (int)P, 1.0f, j->dx + n0 * CHW, (int)P);
            } else {
                ti__sgemm(j->ctx, CblasTrans, CblasNoTrans, (int)CK, (int)cols, K, 1.0f, j->w,
                          (int)CK, G, (int)cols, 0.0f, col, (int)cols);
                for (int i = 0; i < g; i++)
                    k_col2im(j->dx + (n0 + i) * CHW, col + (size_t)i * P, cols, s);
            }
        }
    }
}

typedef struct sum_job {
    float *dst;
    const float *parts; /* `n` blocks of `size` floats */
    size_t size;
    int n;
} sum_job;

/* dst[i] += the parts' [i], for i in [lo, hi) */
static void sum_range(void *job, size_t lo, size_t hi, int t)
{
    (void)t;
    const sum_job *j = job;
    for (int p = 0; p < j->n; p++) {
        const float *src = j->parts + (size_t)p * j->size;
        for (size_t i = lo; i < hi; i++)
            j->dst[i] += src[i];
    }
}

/* Scratch for a job: `shared` floats, then `slice` floats per worker, then `extra`. */
static float *job_workspace(ti_tape *tape, conv_job *j, size_t shared, size_t extra,
                            const char *what)
{
    size_t floats = shared + (size_t)j->s->T * j->slice + extra;
    float *ws = ti_ctx_workspace(j->ctx, floats * sizeof(float));
    if (!ws)
        return ti__tape_fail(tape, TI_ERR_NOMEM, "%s: out of memory for a %zu-byte workspace",
                             what, floats * sizeof(float));
    j->shared = ws;
    j->ws = ws + shared;
    j->dw_part = j->ws + (size_t)j->s->T * j->slice;
    return ws;
}

/* dW (when wanted) and dX (when wanted and not done by Winograd) by the row-shift or the
 * im2col backward, split over the pool by images. */
static void backward_gemm(ti_tape *tape, conv_job *j)
{
    const conv_shape *s = j->s;
    int rows = ti__conv_use_rowshift(s);
    if (rows) {
        j->slice = ti__conv_rowshift_worker_floats(s, 1);
        if (!job_workspace(tape, j, ti__conv_rowshift_shared_floats(s, 1), 0, "conv2d backward"))
            return;
        ti__conv_rowshift_prepare(j, 1);
        int parts = ti__parallel_for(j->ctx, (size_t)s->N, 1, ti__conv_rowshift_bwd_range, j);
        ti__conv_rowshift_bwd_finish(j, parts);
        return;
    }
    j->slice = worker_floats(s);
    size_t dw_floats = j->dw ? (size_t)(s->T - 1) * s->K * s->CK : 0;
    if (!job_workspace(tape, j, 0, dw_floats, "conv2d backward"))
        return;
    int parts = ti__parallel_for(j->ctx, (size_t)s->N, 1, bwd_range, j);
    if (j->dw && parts > 1) {
        sum_job sj = {j->dw, j->dw_part, (size_t)s->K * s->CK, parts - 1};
        ti__parallel_for(j->ctx, sj.size, 4096, sum_range, &sj);
    }
}

static void conv2d_backward(ti_tape *tape, ti_node *n)
{
    ti_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    ti_ctx *ctx = ti_tape_ctx(tape);
    conv_shape s;
    shape_fill(&s, x, w, n->ip[0], n->ip[1], ti__ctx_pool_threads(ctx), n->ip[2]);
    conv_job j = {.s = &s, .ctx = ctx, .x = x->data, .w = w->data, .dy = n->out->grad,
                  .dx = x->requires_grad ? x->grad : NULL,
                  .dw = w->requires_grad ? w->grad : NULL};
    if (b && b->requires_grad) {
        bias_job bj = {b->grad, n->out->grad, &s};
        ti__parallel_for(ctx, (size_t)s.K, 4, bias_range, &bj);
    }
    if (j.dx && s.dconv_bwd) {
        size_t bytes = ti__conv_direct_floats(&s, 1) * sizeof(float);
        float *ws = ti_ctx_workspace(ctx, bytes);
        if (!ws) {
            ti__tape_fail(tape, TI_ERR_NOMEM,
                          "conv2d backward: out of memory for a %zu-byte workspace", bytes);
            return;
        }
        ti__conv_direct_bwd(ctx, ws, j.dx, n->out->grad, w->data, &s);
        j.dx = NULL;
    }
    if (j.dx && s.wino) {
        /* dX is the 3x3 convolution of dY with the weight flipped and transposed, padded by
         * 2 - pad: the Winograd forward, accumulating */
        size_t bytes = ti__winograd_floats(s.N, s.K, s.OH, s.OW, s.C, 2 - s.pad, s.T) *
                       sizeof(float);
        float *ws = ti_ctx_workspace(ctx, bytes);
        if (!ws) {
            ti__tape_fail(tape, TI_ERR_NOMEM,
                          "conv2d backward: out of memory for a %zu-byte workspace", bytes);
            return;
        }
        ti__conv3x3_winograd(ctx, j.dx, 1, ws, n->out->grad, w->data, 1, NULL, s.N, s.K, s.OH,
                             s.OW, s.C, 2 - s.pad);
        j.dx = NULL;
    }
    if (j.dw && s.wino) {
        size_t bytes =
            ti__winograd_dw_floats(s.N, s.C, s.H, s.W, s.K, s.pad, s.T) * sizeof(float);
        float *ws = ti_ctx_workspace(ctx, bytes);
        if (!ws) {
            ti__tape_fail(tape, TI_ERR_NOMEM,
                          "conv2d backward: out of memory for a %zu-byte workspace", bytes);
            return;
        }
        ti__conv3x3_winograd_dw(ctx, j.dw, ws, x->data, n->out->grad, s.N, s.C, s.H, s.W, s.K,
                                s.pad);
        j.dw = NULL;
    }
    if (j.dx || j.dw)
        backward_gemm(tape, &j);
}

static void conv2d_forward(ti_tape *tape, ti_tensor *y, const ti_tensor *x, const ti_tensor *w,
                           const ti_tensor *b, const conv_shape *s)
{
    ti_ctx *ctx = ti_tape_ctx(tape);
    if (s->dconv) {
        size_t bytes = ti__conv_direct_floats(s, 0) * sizeof(float);
        float *ws = ti_ctx_workspace(ctx, bytes);
        if (!ws) {
            ti__tape_fail(tape, TI_ERR_NOMEM, "conv2d: out of memory for a %zu-byte workspace",
                          bytes);
            return;
        }
        ti__conv_direct_fwd(ctx, ws, y->data, x->data, w->data, b ? b->data : NULL, s);
        return;
    }
    if (s->wino) {
        size_t bytes =
            ti__winograd_floats(s->N, s->C, s->H, s->W, s->K, s->pad, s->T) * sizeof(float);
        float *ws = ti_ctx_workspace(ctx, bytes);
        if (!ws) {
            ti__tape_fail(tape, TI_ERR_NOMEM, "conv2d: out of memory for a %zu-byte workspace",
                          bytes);
            return;
        }
        ti__conv3x3_winograd(ctx, y->data, 0, ws, x->data, w->data, 0, b ? b->data : NULL,
                             s->N, s->C, s->H, s->W, s->K, s->pad);
        return;
    }
    conv_job j = {.s = s, .ctx = ctx, .y = y->data, .x = x->data, .w = w->data,
                  .b = b ? b->data : NULL};
    int rows = ti__conv_use_rowshift(s);
    j.slice = rows ? ti__conv_rowshift_worker_floats(s, 0) : worker_floats(s);
    if (!job_workspace(tape, &j, rows ? ti__conv_rowshift_shared_floats(s, 0) : 0, 0, "conv2d"))
        return;
    if (rows)
        ti__conv_rowshift_prepare(&j, 0);
    ti__parallel_for(ctx, (size_t)s->N, 1, rows ? ti__conv_rowshift_fwd_range : fwd_range, &j);
}

static const ti_op_def op_conv2d = {"conv2d", conv2d_backward};

/* ---- the op ------------------------------------------------------------------------------- */

ti_tensor *ti_conv2d(ti_tape *tape, ti_tensor *x, ti_tensor *w, ti_tensor *b, int stride, int pad)
{
    ti_tensor *in[3] = {x, w, b};
    if (ti__tape_bad(tape, 2, in))
        return NULL;
    char sx[64], sw[64];
    ti_shape_str(x, sx, sizeof sx);
    ti_shape_str(w, sw, sizeof sw);
    if (x->ndim != 4)
        return ti__tape_fail(tape, TI_ERR_SHAPE, "conv2d: input must be (N, C, H, W), got %s",
                             sx);
    if (w->ndim != 4)
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "conv2d: weight must be (K, C, KH, KW), got %s", sw);
    if (x->shape[1] != w->shape[1]) {
        int C = x->shape[1], WC = w->shape[1];
        const char *hint = "";
        if (C == 1 && WC == 3)
            hint = " (a CIFAR-10 model given Fashion-MNIST data?)";
        else if (C == 3 && WC == 1)
            hint = " (a Fashion-MNIST model given CIFAR-10 data?)";
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "conv2d: input %s has C=%d but the weight %s expects C=%d%s", sx, C,
                             sw, WC, hint);
    }
    if (b && !(b->ndim == 1 && b->shape[0] == w->shape[0])) {
        char sb[64];
        return ti__tape_fail(tape, TI_ERR_SHAPE, "conv2d: bias must be (%d) for weight %s, got %s",
                             w->shape[0], sw, ti_shape_str(b, sb, sizeof sb));
    }
    if (stride < 1 || pad < 0)
        return ti__tape_fail(tape, TI_ERR_ARG, "conv2d: stride %d must be >= 1 and pad %d >= 0",
                             stride, pad);
    if (w->shape[0] < 1 || w->shape[1] < 1 || w->shape[2] < 1 || w->shape[3] < 1)
        return ti__tape_fail(tape, TI_ERR_SHAPE, "conv2d: empty weight %s", sw);
    if (x->shape[2] + 2 * pad < w->shape[2] || x->shape[3] + 2 * pad < w->shape[3])
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "conv2d: a %dx%d kernel does not fit the input %s padded by %d",
                             w->shape[2], w->shape[3], sx, pad);

    conv_shape s;
    int frozen = !(ti_tape_recording(tape) && w->requires_grad);
    shape_fill(&s, x, w, stride, pad, ti__ctx_pool_threads(ti_tape_ctx(tape)), frozen);
    ti_tensor *y = ti_tape_tensor(tape, 4, (int[]){s.N, s.K, s.OH, s.OW});
    if (!y)
        return NULL;
    if (y->size > 0)
        conv2d_forward(tape, y, x, w, b, &s);
    if (ti_tape_status(tape) != TI_OK)
        return NULL;
    ti_node *n = ti__tape_record(tape, &op_conv2d, y, b ? 3 : 2, in);
    if (n) {
        n->ip[0] = stride;
        n->ip[1] = pad;
        n->ip[2] = frozen; /* the backward takes the forward's kernels */
    }
    return y;
}
