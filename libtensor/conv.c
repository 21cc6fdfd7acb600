/* 2-D convolution (cross-correlation, as PyTorch's Conv2d) with forward and backward as
 * matrix products: im2col + sgemm for the output, sgemm + col2im for the input gradient, and
 * sgemm against the column matrix for the weight gradient (darknet's layout; derivation in
 * docs/conv.md). The column matrix covers a GROUP of images so the GEMM is wide enough.
 * Wide 3x3 stride-1 layers use Winograd (conv_winograd.c) for the forward and dX. */
#include <cblas.h>
#include <string.h>

#include "thinice/ops.h"
#include "internal.h"

/* A group's GEMM should have at least this many columns (images x output pixels): OpenBLAS
 * runs at a third of its speed on the 16- or 64-column products of deep layers taken one
 * image at a time. The column buffer is capped so that it does not grow without bound on
 * wide layers; the cap never forces fewer columns than GROUP_MIN_COLS. */
#define GROUP_COLS 4096
#define GROUP_MIN_COLS 1024
#define GROUP_MAX_BYTES ((size_t)24 << 20)
/* Winograd F(2x2, 3x3) (conv_winograd.c) pays from 64 channels in and out: below that its
 * 16 GEMMs of inner dimension C are too thin and the transforms dominate (measured: 1.2x
 * faster than the row-shift GEMMs at 64 channels on 32x32, 1.4-1.8x at 128-512 channels,
 * slower at 16 and 32). */
#define WINO_MIN_CHANNELS 64

/* Everything a kernel needs to know about one convolution. */
typedef struct conv_shape {
    int N, C, H, W;    /* input (N, C, H, W) */
    int K, KH, KW;     /* weight (K, C, KH, KW) */
    int OH, OW;        /* output (N, K, OH, OW) */
    int stride, pad;
    int G;             /* images per group */
    int direct;        /* 1x1, stride 1, no padding: an image already is its column matrix */
    int wino;          /* 3x3, stride 1, pad <= 2, wide enough: forward and dX by Winograd */
    size_t CK;         /* C * KH * KW: rows of the column matrix */
    size_t P;          /* OH * OW: output pixels per image */
} conv_shape;

/* Images per group: enough for GROUP_COLS columns, at most N, and the column buffer under
 * GROUP_MAX_BYTES unless that would leave fewer than GROUP_MIN_COLS columns. */
static int group_size(const conv_shape *s)
{
    size_t g = (GROUP_COLS + s->P - 1) / s->P;
    size_t per_image = s->CK * s->P * sizeof(float);
    size_t cap = GROUP_MAX_BYTES / (per_image ? per_image : 1);
    size_t floor_g = (GROUP_MIN_COLS + s->P - 1) / s->P;
    if (cap < floor_g)
        cap = floor_g;
    if (g > cap)
        g = cap;
    if (g > (size_t)s->N)
        g = (size_t)s->N;
    return g < 1 ? 1 : (int)g;
}

static void shape_fill(conv_shape *s, const ti_tensor *x, const ti_tensor *w, int stride,
                       int pad)
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
    s->OH = (s->H + 2 * pad - s->KH) / stride + 1;
    s->OW = (s->W + 2 * pad - s->KW) / stride + 1;
    s->CK = (size_t)s->C * s->KH * s->KW;
    s->P = (size_t)s->OH * s->OW;
    s->direct = s->KH == 1 && s->KW == 1 && stride == 1 && pad == 0;
    s->wino = s->KH == 3 && s->KW == 3 && stride == 1 && pad <= 2 &&
              s->C >= WINO_MIN_CHANNELS && s->K >= WINO_MIN_CHANNELS;
    s->G = group_size(s);
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
    shape_fill(&s, &xt, &wt, stride, pad);
    k_conv2d_naive(y, x, w, b, &s);
}

/* ---- im2col and col2im ---------------------------------------------------------------------
 * Row r = (c, kh, kw) of the column matrix holds, for every output pixel (oh, ow), the input
 * x[c][oh*stride - pad + kh][ow*stride - pad + kw] (0 outside the image). One image fills
 * P columns starting at `col`; consecutive rows are `ld` floats apart, so several images can
 * sit side by side in one matrix. */

/* The range [lo, hi) of ow whose input column iw = ow*stride - pad + kw lies in [0, W). */
static void valid_range(int OW, int W, int stride, int pad, int kw, int *lo, int *hi)
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
                valid_range(OW, s->W, st, s->pad, kw, &lo, &hi);
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
                valid_range(OW, s->W, st, s->pad, kw, &lo, &hi);
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

/* Floats of workspace a group needs: the column matrix (CK, G P) and a (K, G P) matrix for
 * the GEMM's result (forward) or the gathered output gradient (backward). */
static size_t workspace_floats(const conv_shape *s)
{
    size_t cols = (size_t)s->G * s->P;
    return s->CK * cols + (size_t)s->K * cols;
}

/* y (N, K, OH, OW) = conv(x (N, C, H, W), w (K, CK)) + b (K).
 * Per group of g images: col (CK, g P) = im2col; out (K, g P) = w col; then each image's
 * (K, P) block of out is copied into y with the bias added. With g = 1 the GEMM writes
 * straight into y, and a direct (1x1) convolution needs no im2col either. */
static void k_conv2d_fwd(float *y, float *ws, const float *x, const float *w, const float *b,
                         const conv_shape *s)
{
    const int K = s->K;
    const size_t P = s->P, CK = s->CK, CHW = (size_t)s->C * s->H * s->W;
    float *col = ws;                          /* (CK, G P) */
    float *out = ws + CK * (size_t)s->G * P;  /* (K, G P) */
    for (int n0 = 0; n0 < s->N; n0 += s->G) {
        int g = s->N - n0 < s->G ? s->N - n0 : s->G;
        size_t cols = (size_t)g * P;
        const float *B = col;
        if (s->direct && g == 1)
            B = x + (size_t)n0 * CHW;
        else
            for (int i = 0; i < g; i++)
                k_im2col(col + (size_t)i * P, cols, x + (size_t)(n0 + i) * CHW, s);
        float *dst = g == 1 ? y + (size_t)n0 * K * P : out;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, (int)cols, (int)CK, 1.0f, w,
                    (int)CK, B, (int)cols, 0.0f, dst, (int)cols);
        /* scatter (K, g P) into g images of (K, P), adding the bias on the way */
        for (int i = 0; i < g; i++) {
            float *yi = y + (size_t)(n0 + i) * K * P;
            for (int k = 0; k < K; k++) {
                float bk = b ? b[k] : 0.0f;
                float *yk = yi + (size_t)k * P;
                if (g == 1) {
                    if (b)
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

/* ---- forward, row-shift variant for stride 1 on large maps --------------------------------
 * With stride 1, row (c, kh, kw) of the column matrix is row (c, 0, kw) moved on by kh output
 * rows. So it suffices to build the KW-times-smaller matrix col3 (C KW, Hp OW), which holds
 * every input row ih' in [0, Hp = H + 2 pad) shifted by kw, and to run one GEMM per kh against
 * a view of col3 offset by kh OW columns (the leading dimension stays the same):
 *   out (K, Hp OW) += W_kh (K, C KW) col3[:, kh OW ...].
 * Output rows oh >= OH of that grid read into the next image's block and are dropped; the
 * waste is Hp / OH (6% at 32x32), which is why small maps keep the full im2col. Images of a
 * group sit side by side, Hp OW columns each. */

/* Is the row-shift variant worth it? Stride 1, a kernel taller than one row, at most 1/8
 * of wasted output rows. */
static int use_rowshift(const conv_shape *s)
{
    int Hp = s->H + 2 * s->pad;
    return s->stride == 1 && s->KH > 1 && 8 * Hp <= 9 * s->OH;
}

static int rowshift_group(const conv_shape *s)
{
    size_t per = (size_t)(s->H + 2 * s->pad) * s->OW;
    size_t g = (GROUP_COLS + per - 1) / per;
    return g > (size_t)s->N ? s->N : (int)g;
}

/* Floats of workspace: the reordered weight, col3 with (KH - 1) OW columns of slack for the
 * last image's shifted views, and the GEMM's result. */
static size_t rowshift_floats(const conv_shape *s, int G)
{
    size_t L = (size_t)G * (s->H + 2 * s->pad) * s->OW;
    size_t ld = L + (size_t)(s->KH - 1) * s->OW;
    return (size_t)s->K * s->CK + (size_t)s->C * s->KW * ld + (size_t)s->K * L;
}

/* col3 (C KW, ld) for g images starting at x: row (c, kw), image i, padded input row ih'
 * holds x[i, c, ih' - pad, ow + kw - pad] for ow in [0, OW) (0 outside the image); the
 * (KH - 1) OW columns of slack after the last image are zeroed. */
static void k_im2row(float *col3, size_t ld, const float *x, int g, const conv_shape *s)
{
    const int C = s->C, KW = s->KW, H = s->H, W = s->W, OW = s->OW, Hp = H + 2 * s->pad;
    const size_t per = (size_t)Hp * OW, L = (size_t)g * per, CHW = (size_t)C * H * W;
    for (int c = 0; c < C; c++)
        for (int kw = 0; kw < KW; kw++) {
            float *row = col3 + ((size_t)c * KW + kw) * ld;
            int lo, hi;
            valid_range(OW, W, 1, s->pad, kw, &lo, &hi);
            for (int i = 0; i < g; i++) {
                const float *xc = x + (size_t)i * CHW + (size_t)c * H * W;
                for (int ihp = 0; ihp < Hp; ihp++) {
                    float *o = row + i * per + (size_t)ihp * OW;
                    int ih = ihp - s->pad;
                    if (ih < 0 || ih >= H) {
                        memset(o, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *in = xc + (size_t)ih * W - s->pad + kw;
                    for (int ow = 0; ow < lo; ow++)
                        o[ow] = 0.0f;
                    memcpy(o + lo, in + lo, (size_t)(hi - lo) * sizeof(float));
                    for (int ow = hi; ow < OW; ow++)
                        o[ow] = 0.0f;
                }
            }
            memset(row + L, 0, (size_t)(s->KH - 1) * OW * sizeof(float));
        }
}

/* The adjoint of k_im2row (the slack and the padding entries are dropped). */
static void k_row2im(float *dx, const float *col3, size_t ld, int g, const conv_shape *s)
{
    const int C = s->C, KW = s->KW, H = s->H, W = s->W, OW = s->OW, Hp = H + 2 * s->pad;
    const size_t per = (size_t)Hp * OW, CHW = (size_t)C * H * W;
    for (int c = 0; c < C; c++)
        for (int kw = 0; kw < KW; kw++) {
            const float *row = col3 + ((size_t)c * KW + kw) * ld;
            int lo, hi;
            valid_range(OW, W, 1, s->pad, kw, &lo, &hi);
            for (int i = 0; i < g; i++)
                for (int ih = 0; ih < H; ih++) {
                    const float *gr = row + i * per + (size_t)(ih + s->pad) * OW;
                    float *o = dx + (size_t)i * CHW + ((size_t)c * H + ih) * W - s->pad + kw;
                    for (int ow = lo; ow < hi; ow++)
                        o[ow] += gr[ow];
                }
        }
}

/* wr (KH, K, C KW): wr[kh][k][c KW + kw] = w[k][c][kh][kw], the weight split by kernel row. */
static void k_weight_rows(float *wr, const float *w, const conv_shape *s)
{
    const size_t CKW = (size_t)s->C * s->KW;
    for (int kh = 0; kh < s->KH; kh++)
        for (int k = 0; k < s->K; k++)
            for (int c = 0; c < s->C; c++)
                for (int kw = 0; kw < s->KW; kw++)
                    wr[((size_t)kh * s->K + k) * CKW + (size_t)c * s->KW + kw] =
                        w[(((size_t)k * s->C + c) * s->KH + kh) * s->KW + kw];
}

static void k_conv2d_fwd_rowshift(float *y, float *ws, const float *x, const float *w,
                                  const float *b, const conv_shape *s)
{
    const int K = s->K, C = s->C, KH = s->KH, KW = s->KW, H = s->H, W = s->W, OW = s->OW;
    const int Hp = H + 2 * s->pad, G = rowshift_group(s);
    const size_t P = s->P, CK = s->CK, CHW = (size_t)C * H * W, CKW = (size_t)C * KW;
    const size_t per = (size_t)Hp * OW;
    float *wr = ws;                  /* (KH, K, C KW): wr[kh][k][c KW + kw] = w[k][c][kh][kw] */
    float *col3 = wr + (size_t)K * CK; /* (C KW, ld) */
    k_weight_rows(wr, w, s);
    for (int n0 = 0; n0 < s->N; n0 += G) {
        int g = s->N - n0 < G ? s->N - n0 : G;
        size_t L = (size_t)g * per, ld = L + (size_t)(KH - 1) * OW;
        float *out = col3 + CKW * ld; /* (K, L) */
        k_im2row(col3, ld, x + (size_t)n0 * CHW, g, s);
        for (int kh = 0; kh < KH; kh++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, (int)L, (int)CKW, 1.0f,
                        wr + (size_t)kh * K * CKW, (int)CKW, col3 + (size_t)kh * OW, (int)ld,
                        kh ? 1.0f : 0.0f, out, (int)L);
        for (int i = 0; i < g; i++)
            for (int k = 0; k < K; k++) {
                float bk = b ? b[k] : 0.0f;
                float *yk = y + ((size_t)(n0 + i) * K + k) * P;
                const float *ok = out + (size_t)k * L + (size_t)i * per;
                for (size_t p = 0; p < P; p++)
                    yk[p] = ok[p] + bk;
            }
    }
}

/* ---- backward -----------------------------------------------------------------------------
 * With dY (K, g P) the output gradient of a group laid out like the forward's GEMM result:
 *   dW (K, CK) += dY col^T          (only if the weight wants a gradient)
 *   dcol (CK, g P) = W^T dY, then dX += col2im(dcol)   (only if the input wants one)
 *   db (K) += sum of dY over images and pixels. */
/* db (K) += dY summed over images and pixels. */
static void k_bias_bwd(float *db, const float *dy, const conv_shape *s)
{
    for (int n = 0; n < s->N; n++)
        for (int k = 0; k < s->K; k++) {
            const float *g = dy + ((size_t)n * s->K + k) * s->P;
            float acc = 0.0f;
            for (size_t p = 0; p < s->P; p++)
                acc += g[p];
            db[k] += acc;
        }
}

static void k_conv2d_bwd(float *dx, float *dw, float *db, float *ws, const float *x,
                         const float *w, const float *dy, const conv_shape *s)
{
    const int K = s->K;
    const size_t P = s->P, CK = s->CK, CHW = (size_t)s->C * s->H * s->W;
    float *col = ws;                          /* (CK, G P) */
    float *dyg = ws + CK * (size_t)s->G * P;  /* (K, G P) */
    if (db)
        k_bias_bwd(db, dy, s);
    if (!dx && !dw)
        return;
    for (int n0 = 0; n0 < s->N; n0 += s->G) {
        int g = s->N - n0 < s->G ? s->N - n0 : s->G;
        size_t cols = (size_t)g * P;
        const float *G = dyg;
        if (g == 1)
            G = dy + (size_t)n0 * K * P;
        else
            for (int i = 0; i < g; i++)
                for (int k = 0; k < K; k++)
                    memcpy(dyg + (size_t)k * cols + (size_t)i * P,
                           dy + ((size_t)(n0 + i) * K + k) * P, P * sizeof(float));
        int direct = s->direct && g == 1;
        if (dw) {
            const float *B = col;
            if (direct)
                B = x + (size_t)n0 * CHW;
            else
                for (int i = 0; i < g; i++)
                    k_im2col(col + (size_t)i * P, cols, x + (size_t)(n0 + i) * CHW, s);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, (int)CK, (int)cols, 1.0f, G,
                        (int)cols, B, (int)cols, 1.0f, dw, (int)CK);
        }
        if (dx) {
            if (direct) {
                /* dX of one image is exactly W^T dY: accumulate in place */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)CK, (int)P, K, 1.0f,
                            w, (int)CK, G, (int)P, 1.0f, dx + (size_t)n0 * CHW, (int)P);
            } else {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)CK, (int)cols, K, 1.0f,
                            w, (int)CK, G, (int)cols, 0.0f, col, (int)cols);
                for (int i = 0; i < g; i++)
                    k_col2im(dx + (size_t)(n0 + i) * CHW, col + (size_t)i * P, cols, s);
            }
        }
    }
}

/* Backward of the row-shift forward. dYp (K, g Hp OW) is the output gradient on the padded
 * row grid, ZERO on the dropped rows oh >= OH (their outputs were thrown away, so they must
 * send nothing back). Per kernel row kh, with V_kh the view of col3 kh OW columns on:
 *   dW_kh (K, C KW) += dYp V_kh^T          (then scattered into dW (K, C, KH, KW))
 *   dcol3 view kh   += W_kh^T dYp          (then dX += row2im(dcol3)) */
static size_t rowshift_bwd_floats(const conv_shape *s, int G)
{
    return rowshift_floats(s, G) + (size_t)s->K * s->CK;
}

static void k_conv2d_bwd_rowshift(float *dx, float *dw, float *db, float *ws, const float *x,
                                  const float *w, const float *dy, const conv_shape *s)
{
    const int K = s->K, KH = s->KH, OW = s->OW, Hp = s->H + 2 * s->pad, G = rowshift_group(s);
    const size_t P = s->P, CK = s->CK, CHW = (size_t)s->C * s->H * s->W;
    const size_t CKW = (size_t)s->C * s->KW, per = (size_t)Hp * OW;
    if (db)
        k_bias_bwd(db, dy, s);
    if (!dx && !dw)
        return;
    float *wr = ws;                      /* (KH, K, C KW) */
    float *dwr = wr + (size_t)K * CK;    /* (KH, K, C KW), summed over the groups */
    float *col3 = dwr + (size_t)K * CK;  /* (C KW, ld) */
    if (dx)
        k_weight_rows(wr, w, s);
    if (dw)
        memset(dwr, 0, (size_t)K * CK * sizeof(float));
    for (int n0 = 0; n0 < s->N; n0 += G) {
        int g = s->N - n0 < G ? s->N - n0 : G;
        size_t L = (size_t)g * per, ld = L + (size_t)(KH - 1) * OW;
        float *dyp = col3 + CKW * ld; /* (K, L) */
        for (int k = 0; k < K; k++)
            for (int i = 0; i < g; i++) {
                float *o = dyp + (size_t)k * L + (size_t)i * per;
                memcpy(o, dy + ((size_t)(n0 + i) * K + k) * P, P * sizeof(float));
                memset(o + P, 0, (per - P) * sizeof(float));
            }
        if (dw) {
            k_im2row(col3, ld, x + (size_t)n0 * CHW, g, s);
            for (int kh = 0; kh < KH; kh++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, (int)CKW, (int)L, 1.0f,
                            dyp, (int)L, col3 + (size_t)kh * OW, (int)ld, 1.0f,
                            dwr + (size_t)kh * K * CKW, (int)CKW);
        }
        if (dx) {
            /* view 0 covers [0, L) and is written first; the slack must start at zero */
            for (size_t r = 0; r < CKW; r++)
                memset(col3 + r * ld + L, 0, (size_t)(KH - 1) * OW * sizeof(float));
            for (int kh = 0; kh < KH; kh++)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)CKW, (int)L, K, 1.0f,
                            wr + (size_t)kh * K * CKW, (int)CKW, dyp, (int)L, kh ? 1.0f : 0.0f,
                            col3 + (size_t)kh * OW, (int)ld);
            k_row2im(dx + (size_t)n0 * CHW, col3, ld, g, s);
        }
    }
    if (dw)
        for (int k = 0; k < K; k++)
            for (int c = 0; c < s->C; c++)
                for (int kh = 0; kh < KH; kh++)
                    for (int kw = 0; kw < s->KW; kw++)
                        dw[(((size_t)k * s->C + c) * KH + kh) * s->KW + kw] +=
                            dwr[((size_t)kh * K + k) * CKW + (size_t)c * s->KW + kw];
}

static void conv2d_backward(ti_tape *tape, ti_node *n)
{
    ti_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    conv_shape s;
    shape_fill(&s, x, w, n->ip[0], n->ip[1]);
    float *dx = x->requires_grad ? x->grad : NULL;
    float *dw = w->requires_grad ? w->grad : NULL;
    float *db = b && b->requires_grad ? b->grad : NULL;
    if (dx && s.wino) {
        /* dX is the 3x3 convolution of dY with the weight flipped and transposed, padded by
         * 2 - pad: the Winograd forward, accumulating */
        size_t bytes = ti__winograd_floats(s.N, s.K, s.OH, s.OW, s.C, 2 - s.pad) * sizeof(float);
        float *ws = ti_ctx_workspace(ti_tape_ctx(tape), bytes);
        if (!ws) {
            ti__tape_fail(tape, TI_ERR_NOMEM,
                          "conv2d backward: out of memory for a %zu-byte workspace", bytes);
            return;
        }
        ti__conv3x3_winograd(dx, 1, ws, n->out->grad, w->data, 1, NULL, s.N, s.K, s.OH, s.OW,
                             s.C, 2 - s.pad);
        dx = NULL;
    }
    int rows = use_rowshift(&s);
    float *ws = NULL;
    if (dx || dw) {
        size_t bytes = (rows ? rowshift_bwd_floats(&s, rowshift_group(&s)) : workspace_floats(&s)) *
                       sizeof(float);
        ws = ti_ctx_workspace(ti_tape_ctx(tape), bytes);
        if (!ws) {
            ti__tape_fail(tape, TI_ERR_NOMEM,
                          "conv2d backward: out of memory for a %zu-byte workspace", bytes);
            return;
        }
    }
    if (rows)
        k_conv2d_bwd_rowshift(dx, dw, db, ws, x->data, w->data, n->out->grad, &s);
    else
        k_conv2d_bwd(dx, dw, db, ws, x->data, w->data, n->out->grad, &s);
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
    shape_fill(&s, x, w, stride, pad);
    ti_tensor *y = ti_tape_tensor(tape, 4, (int[]){s.N, s.K, s.OH, s.OW});
    if (!y)
        return NULL;
    if (y->size > 0) {
        int rows = !s.wino && use_rowshift(&s);
        size_t bytes = (s.wino ? ti__winograd_floats(s.N, s.C, s.H, s.W, s.K, s.pad)
                        : rows ? rowshift_floats(&s, rowshift_group(&s))
                               : workspace_floats(&s)) *
                       sizeof(float);
        float *ws = ti_ctx_workspace(ti_tape_ctx(tape), bytes);
        if (!ws)
            return ti__tape_fail(tape, TI_ERR_NOMEM,
                                 "conv2d: out of memory for a %zu-byte workspace", bytes);
        if (s.wino)
            ti__conv3x3_winograd(y->data, 0, ws, x->data, w->data, 0, b ? b->data : NULL, s.N,
                                 s.C, s.H, s.W, s.K, s.pad);
        else if (rows)
            k_conv2d_fwd_rowshift(y->data, ws, x->data, w->data, b ? b->data : NULL, &s);
        else
            k_conv2d_fwd(y->data, ws, x->data, w->data, b ? b->data : NULL, &s);
    }
    ti_node *n = ti__tape_record(tape, &op_conv2d, y, b ? 3 : 2, in);
    if (n) {
        n->ip[0] = stride;
        n->ip[1] = pad;
    }
    return y;
}
