/* The row-shift convolution for stride 1 on large maps (docs/conv.md, "Row-shift forward").
 * With stride 1, row (c, kh, kw) of the column matrix is row (c, 0, kw) moved on by kh output
 * rows. So it suffices to build the KW-times-smaller matrix col3 (C KW, Hp OW), which holds
 * every input row ih' in [0, Hp = H + 2 pad) shifted by kw, and to run one GEMM per kh against
 * a view of col3 offset by kh OW columns (the leading dimension stays the same):
 *   out (K, Hp OW) += W_kh (K, C KW) col3[:, kh OW ...].
 * Output rows oh >= OH of that grid read into the next image's block and are dropped; the
 * waste is Hp / OH (6% at 32x32), which is why small maps keep the full im2col. Images of a
 * group sit side by side, Hp OW columns each. Each worker of the pool runs its own images
 * (conv_job); the reordered weight is shared. */
#include <string.h>

#include "conv_internal.h"

/* Is the row-shift variant worth it? Stride 1, a kernel taller than one row, at most 1/8
 * of wasted output rows. */
int ti__conv_use_rowshift(const conv_shape *s)
{
    int Hp = s->H + 2 * s->pad;
    return s->stride == 1 && s->KH > 1 && 8 * Hp <= 9 * s->OH;
}

/* Images per group: GROUP_COLS columns, at most a worker's share of the batch. */
static int rowshift_group(const conv_shape *s)
{
    size_t per = (size_t)(s->H + 2 * s->pad) * s->OW;
    size_t g = (GROUP_COLS + per - 1) / per;
    size_t share = ((size_t)s->N + s->T - 1) / s->T;
    if (g > share)
        g = share;
    return g < 1 ? 1 : (int)g;
}

/* Shared: the weight split by kernel row, wr (KH, K, C KW). */
size_t ti__conv_rowshift_shared_floats(const conv_shape *s, int backward)
{
    (void)backward;
    return (size_t)s->K * s->CK;
}

/* Per worker: col3 with (KH - 1) OW columns of slack for the last image's shifted views, the
 * GEMM's result (or the gathered output gradient) and, backward, the weight gradient in wr's
 * layout. */
size_t ti__conv_rowshift_worker_floats(const conv_shape *s, int backward)
{
    size_t L = (size_t)rowshift_group(s) * (s->H + 2 * s->pad) * s->OW;
    size_t ld = L + (size_t)(s->KH - 1) * s->OW;
    size_t f = (size_t)s->C * s->KW * ld + (size_t)s->K * L;
    return backward ? f + (size_t)s->K * s->CK : f;
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
            ti__conv_valid_range(OW, W, 1, s->pad, kw, &lo, &hi);
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
            ti__conv_valid_range(OW, W, 1, s->pad, kw, &lo, &hi);
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

void ti__conv_rowshift_prepare(conv_job *j, int backward)
{
    if (!backward || j->dx)
        k_weight_rows(j->shared, j->w, j->s);
}

void ti__conv_rowshift_fwd_range(void *job, size_t lo, size_t hi, int t)
{
    const conv_job *j = job;
    const conv_shape *s = j->s;
    const int K = s->K, KH = s->KH, OW = s->OW, Hp = s->H + 2 * s->pad, G = rowshift_group(s);
    const size_t P = s->P, CHW = (size_t)s->C * s->H * s->W, CKW = (size_t)s->C * s->KW;
    const size_t per = (size_t)Hp * OW;
    const float *wr = j->shared;
    float *col3 = j->ws + (size_t)t * j->slice; /* (C KW, ld), then out (K, L) */
    for (size_t n0 = lo; n0 < hi; n0 += (size_t)G) {
        int g = hi - n0 < (size_t)G ? (int)(hi - n0) : G;
        size_t L = (size_t)g * per, ld = L + (size_t)(KH - 1) * OW;
        float *out = col3 + CKW * ld;
        k_im2row(col3, ld, j->x + n0 * CHW, g, s);
        for (int kh = 0; kh < KH; kh++)
            ti__sgemm(j->ctx, CblasNoTrans, CblasNoTrans, K, (int)L, (int)CKW, 1.0f,
                      wr + (size_t)kh * K * CKW, (int)CKW, col3 + (size_t)kh * OW, (int)ld,
                      kh ? 1.0f : 0.0f, out, (int)L);
        for (int i = 0; i < g; i++)
            for (int k = 0; k < K; k++) {
                float bk = j->b ? j->b[k] : 0.0f;
                float *yk = j->y + ((n0 + i) * K + k) * P;
                const float *ok = out + (size_t)k * L + (size_t)i * per;
                for (size_t p = 0; p < P; p++)
                    yk[p] = ok[p] + bk;
            }
    }
}

/* Backward of the row-shift forward. dYp (K, g Hp OW) is the output gradient on the padded
 * row grid, ZERO on the dropped rows oh >= OH (their outputs were thrown away, so they must
 * send nothing back). Per kernel row kh, with V_kh the view of col3 kh OW columns on:
 *   dW_kh (K, C KW) += dYp V_kh^T          (summed per worker, scattered into dW at the end)
 *   dcol3 view kh   += W_kh^T dYp          (then dX += row2im(dcol3)) */
void ti__conv_rowshift_bwd_range(void *job, size_t lo, size_t hi, int t)
{
    const conv_job *j = job;
    const conv_shape *s = j->s;
    const int K = s->K, KH = s->KH, OW = s->OW, Hp = s->H + 2 * s->pad, G = rowshift_group(s);
    const size_t P = s->P, CK = s->CK, CHW = (size_t)s->C * s->H * s->W;
    const size_t CKW = (size_t)s->C * s->KW, per = (size_t)Hp * OW;
    const float *wr = j->shared;
    float *dwr = j->ws + (size_t)t * j->slice; /* (KH, K, C KW), this worker's sum */
    float *col3 = dwr + (size_t)K * CK;        /* (C KW, ld), then dYp (K, L) */
    if (j->dw)
        memset(dwr, 0, (size_t)K * CK * sizeof(float));
    for (size_t n0 = lo; n0 < hi; n0 += (size_t)G) {
        int g = hi - n0 < (size_t)G ? (int)(hi - n0) : G;
        size_t L = (size_t)g * per, ld = L + (size_t)(KH - 1) * OW;
        float *dyp = col3 + CKW * ld;
        for (int k = 0; k < K; k++)
            for (int i = 0; i < g; i++) {
                float *o = dyp + (size_t)k * L + (size_t)i * per;
                memcpy(o, j->dy + ((n0 + i) * K + k) * P, P * sizeof(float));
                memset(o + P, 0, (per - P) * sizeof(float));
            }
        if (j->dw) {
            k_im2row(col3, ld, j->x + n0 * CHW, g, s);
            for (int kh = 0; kh < KH; kh++)
                ti__sgemm(j->ctx, CblasNoTrans, CblasTrans, K, (int)CKW, (int)L, 1.0f, dyp,
                          (int)L, col3 + (size_t)kh * OW, (int)ld, 1.0f,
                          dwr + (size_t)kh * K * CKW, (int)CKW);
        }
        if (j->dx) {
            /* view 0 covers [0, L) and is written first; the slack must start at zero */
            for (size_t r = 0; r < CKW; r++)
                memset(col3 + r * ld + L, 0, (size_t)(KH - 1) * OW * sizeof(float));
            for (int kh = 0; kh < KH; kh++)
                ti__sgemm(j->ctx, CblasTrans, CblasNoTrans, (int)CKW, (int)L, K, 1.0f,
                          wr + (size_t)kh * K * CKW, (int)CKW, dyp, (int)L, kh ? 1.0f : 0.0f,
                          col3 + (size_t)kh * OW, (int)ld);
            k_row2im(j->dx + n0 * CHW, col3, ld, g, s);
        }
    }
}

typedef struct scatter_job {
    const conv_job *j;
    int parts;
} scatter_job;

/* dw[k][c][kh][kw] += the workers' dwr[kh][k][c KW + kw], for output channels [lo, hi). */
static void scatter_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const scatter_job *sj = arg;
    const conv_shape *s = sj->j->s;
    const int K = s->K, C = s->C, KH = s->KH, KW = s->KW;
    const size_t CKW = (size_t)C * KW;
    for (size_t k = lo; k < hi; k++)
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++) {
                    float acc = 0.0f;
                    for (int p = 0; p < sj->parts; p++)
                        acc += sj->j->ws[(size_t)p * sj->j->slice +
                                         ((size_t)kh * K + k) * CKW + (size_t)c * KW + kw];
                    sj->j->dw[((k * C + c) * KH + kh) * KW + kw] += acc;
                }
}

void ti__conv_rowshift_bwd_finish(conv_job *j, int parts)
{
    if (!j->dw)
        return;
    scatter_job sj = {j, parts};
    ti__parallel_for(j->ctx, (size_t)j->s->K, 8, scatter_range, &sj);
}
