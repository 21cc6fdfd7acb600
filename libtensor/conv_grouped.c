/* Grouped, depthwise and dilated 2-D convolution (PyTorch's Conv2d with `groups` and
 * `dilation`): the C input channels split into `groups` slices of Cg = C / groups, each
 * convolved with its own Kg = K / groups filters (depthwise when Cg = 1), and the kernel taps
 * `dilation` pixels apart. The scheme is conv.c's (docs/conv.md): per image, im2col gives the
 * column matrix (C KH KW, P), whose rows of group g (Cg KH KW of them, contiguous) meet the
 * group's (Kg, Cg KH KW) block of the weight in one GEMM; the input gradient goes back through
 * W^T and col2im. Depthwise convolutions (one input channel per group) run as plain loops
 * instead. The batch is split over the context's pool by images. groups = dilation = 1 goes to
 * ti_conv2d and its specialised kernels. */
#include <string.h>

#include "thinice/ops.h"
#include "conv_internal.h"

typedef struct gconv_job {
    int N, C, H, W, K, KH, KW, OH, OW, stride, pad, dil, groups;
    int T;          /* threads of the pool */
    int direct;     /* 1x1, stride 1, no padding: an image is its own column matrix */
    int depthwise;  /* one input channel per group: plain loops, no im2col */
    size_t CKg;     /* Cg KH KW: a group's rows of the column matrix, a weight row */
    size_t P;       /* OH OW */
    ti_ctx *ctx;
    float *y;                /* (N, K, OH, OW) */
    const float *x, *w, *b;  /* (N, C, H, W), (K, CKg), (K) or NULL */
    float *dx, *dw;          /* gradients to add to, or NULL */
    const float *dy;         /* (N, K, OH, OW) */
    float *ws;               /* per worker: a column matrix (C KH KW, P), unless direct */
    size_t slice;            /* floats of ws per worker */
    float *dw_part;          /* weight gradients of workers 1 .. T-1, (K, CKg) each */
} gconv_job;

/* Row (c, kh, kw) of col holds x[c][oh*stride - pad + kh*dil][ow*stride - pad + kw*dil] for
 * every (oh, ow), 0 outside the image. */
static void k_im2col_dil(float *col, const float *x, const gconv_job *s)
{
    const int st = s->stride, OW = s->OW;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                float *row = col + (((size_t)c * s->KH + kh) * s->KW + kw) * s->P;
                int lo, hi, off = kw * s->dil;
                ti__conv_valid_range(OW, s->W, st, s->pad, off, &lo, &hi);
                for (int oh = 0; oh < s->OH; oh++) {
                    float *out = row + (size_t)oh * OW;
                    int ih = oh * st - s->pad + kh * s->dil;
                    if (ih < 0 || ih >= s->H) {
                        memset(out, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *in = x + ((size_t)c * s->H + ih) * s->W - s->pad + off;
                    for (int ow = 0; ow < lo; ow++)
                        out[ow] = 0.0f;
                    for (int ow = lo; ow < hi; ow++)
                        out[ow] = in[ow * st];
                    for (int ow = hi; ow < OW; ow++)
                        out[ow] = 0.0f;
                }
            }
}

/* The adjoint: dx[c][ih][iw] += every column entry copied from it. */
static void k_col2im_dil(float *dx, const float *col, const gconv_job *s)
{
    const int st = s->stride, OW = s->OW;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                const float *row = col + (((size_t)c * s->KH + kh) * s->KW + kw) * s->P;
                int lo, hi, off = kw * s->dil;
                ti__conv_valid_range(OW, s->W, st, s->pad, off, &lo, &hi);
                for (int oh = 0; oh < s->OH; oh++) {
                    int ih = oh * st - s->pad + kh * s->dil;
                    if (ih < 0 || ih >= s->H)
                        continue;
                    const float *g = row + (size_t)oh * OW;
                    float *out = dx + ((size_t)c * s->H + ih) * s->W - s->pad + off;
                    for (int ow = lo; ow < hi; ow++)
                        out[ow * st] += g[ow];
                }
            }
}

/* ---- depthwise: Cg = 1 ----------------------------------------------------------------------
 * Output channel k reads input channel k / Kg alone. A group's GEMM would be (Kg, KH KW) by
 * (KH KW, P), one or two rows, behind an im2col that copies the input KH KW times; plain loops
 * over output rows, one kernel tap at a time, stream each row in cache instead (1.9x faster
 * both ways on 3x3 over 64 channels of 32x32; docs/conv.md). */

/* y_n = the depthwise convolution of x_n, bias included */
static void k_dw_fwd(float *yn, const float *xn, const gconv_job *s)
{
    const int Kg = s->K / s->groups, st = s->stride, OW = s->OW;
    for (int k = 0; k < s->K; k++) {
        float *yk = yn + (size_t)k * s->P;
        const float *xc = xn + (size_t)(k / Kg) * s->H * s->W;
        const float *wk = s->w + (size_t)k * s->KH * s->KW;
        float bk = s->b ? s->b[k] : 0.0f;
        for (size_t p = 0; p < s->P; p++)
            yk[p] = bk;
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                float wv = wk[kh * s->KW + kw];
                int lo, hi, off = kw * s->dil;
                ti__conv_valid_range(OW, s->W, st, s->pad, off, &lo, &hi);
                for (int oh = 0; oh < s->OH; oh++) {
                    int ih = oh * st - s->pad + kh * s->dil;
                    if (ih < 0 || ih >= s->H)
                        continue;
                    const float *in = xc + (size_t)ih * s->W - s->pad + off;
                    float *out = yk + (size_t)oh * OW;
                    if (st == 1)
                        for (int ow = lo; ow < hi; ow++)
                            out[ow] += wv * in[ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            out[ow] += wv * in[ow * st];
                }
            }
    }
}

/* dx_n += the input gradient, dw += the weight gradient (either may be NULL) */
static void k_dw_bwd(float *dxn, float *dw, const float *xn, const float *dyn,
                     const gconv_job *s)
{
    const int Kg = s->K / s->groups, st = s->stride, OW = s->OW;
    for (int k = 0; k < s->K; k++) {
        const float *gk = dyn + (size_t)k * s->P;
        size_t plane = (size_t)(k / Kg) * s->H * s->W;
        const float *wk = s->w + (size_t)k * s->KH * s->KW;
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                float wv = wk[kh * s->KW + kw], acc = 0.0f;
                int lo, hi, off = kw * s->dil;
                ti__conv_valid_range(OW, s->W, st, s->pad, off, &lo, &hi);
                for (int oh = 0; oh < s->OH; oh++) {
                    int ih = oh * st - s->pad + kh * s->dil;
                    if (ih < 0 || ih >= s->H)
                        continue;
                    size_t at = plane + (size_t)ih * s->W - s->pad + off;
                    const float *g = gk + (size_t)oh * OW;
                    if (dw)
                        for (int ow = lo; ow < hi; ow++)
                            acc += g[ow] * xn[at + (size_t)ow * st];
                    if (dxn)
                        for (int ow = lo; ow < hi; ow++)
                            dxn[at + (size_t)ow * st] += wv * g[ow];
                }
                if (dw)
                    dw[((size_t)k * s->KH + kh) * s->KW + kw] += acc;
            }
    }
}

/* ---- the general case: im2col and one GEMM per group ------------------------------------ */

/* y_n[g] (Kg, P) = w[g] (Kg, CKg) col_n[g] (CKg, P) + b, for the images [lo, hi). */
static void fwd_range(void *job, size_t lo, size_t hi, int t)
{
    const gconv_job *j = job;
    const int Kg = j->K / j->groups;
    const size_t P = j->P, CKg = j->CKg, CHW = (size_t)j->C * j->H * j->W;
    const size_t HWg = (size_t)(j->C / j->groups) * j->H * j->W; /* a group's input floats */
    float *col = j->ws + (size_t)t * j->slice;
    for (size_t n = lo; n < hi; n++) {
        const float *xn = j->x + n * CHW;
        float *yn = j->y + n * (size_t)j->K * P;
        if (j->depthwise) {
            k_dw_fwd(yn, xn, j);
            continue;
        }
        if (!j->direct)
            k_im2col_dil(col, xn, j);
        for (int g = 0; g < j->groups; g++) {
            const float *B = j->direct ? xn + g * HWg : col + g * CKg * P;
            ti__sgemm(j->ctx, CblasNoTrans, CblasNoTrans, Kg, (int)P, (int)CKg, 1.0f,
                      j->w + (size_t)g * Kg * CKg, (int)CKg, B, (int)P, 0.0f,
                      yn + (size_t)g * Kg * P, (int)P);
        }
        if (j->b)
            for (int k = 0; k < j->K; k++)
                for (size_t p = 0; p < P; p++)
                    yn[(size_t)k * P + p] += j->b[k];
    }
}

/* For the images [lo, hi), per group: dW[g] += dY[g] col[g]^T, dcol[g] = W[g]^T dY[g], then
 * dX += col2im(dcol). Worker 0's weight gradient goes into dw, the others' into dw_part. */
static void bwd_range(void *job, size_t lo, size_t hi, int t)
{
    const gconv_job *j = job;
    const int Kg = j->K / j->groups;
    const size_t P = j->P, CKg = j->CKg, CHW = (size_t)j->C * j->H * j->W;
    const size_t HWg = (size_t)(j->C / j->groups) * j->H * j->W;
    float *col = j->ws + (size_t)t * j->slice;
    float *dw = NULL;
    if (j->dw) {
        dw = t == 0 ? j->dw : j->dw_part + (size_t)(t - 1) * j->K * CKg;
        if (t > 0)
            memset(dw, 0, (size_t)j->K * CKg * sizeof(float));
    }
    for (size_t n = lo; n < hi; n++) {
        const float *xn = j->x + n * CHW, *dyn = j->dy + n * (size_t)j->K * P;
        float *dxn = j->dx ? j->dx + n * CHW : NULL;
        if (j->depthwise) {
            k_dw_bwd(dxn, dw, xn, dyn, j);
            continue;
        }
        if (dw) {
            if (!j->direct)
                k_im2col_dil(col, xn, j);
            for (int g = 0; g < j->groups; g++) {
                const float *B = j->direct ? xn + g * HWg : col + g * CKg * P;
                ti__sgemm(j->ctx, CblasNoTrans, CblasTrans, Kg, (int)CKg, (int)P, 1.0f,
                          dyn + (size_t)g * Kg * P, (int)P, B, (int)P, 1.0f,
                          dw + (size_t)g * Kg * CKg, (int)CKg);
            }
        }
        if (!dxn)
            continue;
        for (int g = 0; g < j->groups; g++) /* direct: straight into dX */
            ti__sgemm(j->ctx, CblasTrans, CblasNoTrans, (int)CKg, (int)P, Kg, 1.0f,
                      j->w + (size_t)g * Kg * CKg, (int)CKg, dyn + (size_t)g * Kg * P, (int)P,
                      j->direct ? 1.0f : 0.0f, j->direct ? dxn + g * HWg : col + g * CKg * P,
                      (int)P);
        if (!j->direct)
            k_col2im_dil(dxn, col, j);
    }
}

/* Points j->ws and j->dw_part into the context's workspace; NULL (and the tape's error) when
 * out of memory. */
static float *job_workspace(ti_tape *tape, gconv_job *j, int parts_dw)
{
    size_t slice = j->direct || j->depthwise ? 0 : (size_t)j->C * j->KH * j->KW * j->P;
    size_t floats = (size_t)j->T * slice + (parts_dw ? (size_t)(j->T - 1) * j->K * j->CKg : 0);
    float *ws = ti_ctx_workspace(j->ctx, (floats + 1) * sizeof(float));
    if (!ws)
        return ti__tape_fail(tape, TI_ERR_NOMEM,
                             "conv2d_grouped: out of memory for a %zu-byte workspace",
                             floats * sizeof(float));
    j->ws = ws;
    j->slice = slice;
    j->dw_part = ws + (size_t)j->T * slice;
    return ws;
}

static void job_fill(gconv_job *j, ti_ctx *ctx, const ti_tensor *x, const ti_tensor *w,
                     int stride, int pad, int dil, int groups)
{
    memset(j, 0, sizeof *j);
    j->ctx = ctx;
    j->N = x->shape[0];
    j->C = x->shape[1];
    j->H = x->shape[2];
    j->W = x->shape[3];
    j->K = w->shape[0];
    j->KH = w->shape[2];
    j->KW = w->shape[3];
    j->stride = stride;
    j->pad = pad;
    j->dil = dil;
    j->groups = groups;
    j->T = ti__ctx_pool_threads(ctx);
    j->OH = (j->H + 2 * pad - dil * (j->KH - 1) - 1) / stride + 1;
    j->OW = (j->W + 2 * pad - dil * (j->KW - 1) - 1) / stride + 1;
    j->CKg = (size_t)w->shape[1] * j->KH * j->KW;
    j->P = (size_t)j->OH * j->OW;
    j->direct = j->KH == 1 && j->KW == 1 && stride == 1 && pad == 0;
    j->depthwise = w->shape[1] == 1 && groups > 1;
    j->x = x->data;
    j->w = w->data;
}

static void gconv_backward(ti_tape *tape, ti_node *n)
{
    ti_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    gconv_job j;
    job_fill(&j, ti_tape_ctx(tape), x, w, n->ip[0], n->ip[1], n->ip[2], n->ip[3]);
    j.dy = n->out->grad;
    j.dx = x->requires_grad ? x->grad : NULL;
    j.dw = w->requires_grad ? w->grad : NULL;
    if (b && b->requires_grad)
        for (int i = 0; i < j.N; i++)
            for (int k = 0; k < j.K; k++) {
                const float *g = j.dy + ((size_t)i * j.K + k) * j.P;
                float s = 0.0f;
                for (size_t p = 0; p < j.P; p++)
                    s += g[p];
                b->grad[k] += s;
            }
    if (!j.dx && !j.dw)
        return;
    if (!job_workspace(tape, &j, j.dw != NULL))
        return;
    int parts = ti__parallel_for(j.ctx, (size_t)j.N, 1, bwd_range, &j);
    for (int p = 1; j.dw && p < parts; p++) {
        const float *src = j.dw_part + (size_t)(p - 1) * j.K * j.CKg;
        for (size_t i = 0; i < (size_t)j.K * j.CKg; i++)
            j.dw[i] += src[i];
    }
}

static const ti_op_def op_gconv = {"conv2d_grouped", gconv_backward};

ti_tensor *ti_conv2d_grouped(ti_tape *tape, ti_tensor *x, ti_tensor *w, ti_tensor *b, int stride,
                             int pad, int dilation, int groups)
{
    ti_tensor *in[3] = {x, w, b};
    if (ti__tape_bad(tape, 2, in))
        return NULL;
    if (groups == 1 && dilation == 1)
        return ti_conv2d(tape, x, w, b, stride, pad);
    const char *op = "conv2d_grouped";
    char sx[64], sw[64];
    ti_shape_str(x, sx, sizeof sx);
    ti_shape_str(w, sw, sizeof sw);
    if (groups < 1 || dilation < 1 || stride < 1 || pad < 0)
        return ti__tape_fail(tape, TI_ERR_ARG,
                             "%s: groups %d, dilation %d and stride %d must be >= 1 and pad %d "
                             ">= 0",
                             op, groups, dilation, stride, pad);
    if (x->ndim != 4 || w->ndim != 4)
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "%s: input %s must be (N, C, H, W) and weight %s (K, C / groups, "
                             "KH, KW)",
                             op, sx, sw);
    if (w->shape[0] < 1 || w->shape[1] < 1 || w->shape[2] < 1 || w->shape[3] < 1)
        return ti__tape_fail(tape, TI_ERR_SHAPE, "%s: empty weight %s", op, sw);
    if ((long)w->shape[1] * groups != x->shape[1] || w->shape[0] % groups)
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "%s: input %s and weight %s do not fit %d groups (the weight must "
                             "be (K, C / groups, KH, KW) with K a multiple of groups)",
                             op, sx, sw, groups);
    if (b && !(b->ndim == 1 && b->shape[0] == w->shape[0])) {
        char sb[64];
        return ti__tape_fail(tape, TI_ERR_SHAPE, "%s: bias must be (%d) for weight %s, got %s", op,
                             w->shape[0], sw, ti_shape_str(b, sb, sizeof sb));
    }
    long span_h = (long)dilation * (w->shape[2] - 1) + 1;
    long span_w = (long)dilation * (w->shape[3] - 1) + 1;
    if (x->shape[2] + 2L * pad < span_h || x->shape[3] + 2L * pad < span_w)
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "%s: a %ldx%ld dilated kernel does not fit the input %s padded by %d",
                             op, span_h, span_w, sx, pad);
    gconv_job j;
    job_fill(&j, ti_tape_ctx(tape), x, w, stride, pad, dilation, groups);
    ti_tensor *y = ti_tape_tensor(tape, 4, (int[]){j.N, j.K, j.OH, j.OW});
    if (!y)
        return NULL;
    j.y = y->data;
    j.b = b ? b->data : NULL;
    if (y->size > 0) {
        if (!job_workspace(tape, &j, 0))
            return NULL;
        ti__parallel_for(j.ctx, (size_t)j.N, 1, fwd_range, &j);
    }
    ti_node *n = ti__tape_record(tape, &op_gconv, y, b ? 3 : 2, in);
    if (n) {
        n->ip[0] = stride;
        n->ip[1] = pad;
        n->ip[2] = dilation;
        n->ip[3] = groups;
    }
    return y;
}
