/* Direct convolution for layers with few channels (docs/conv.md, "Direct convolution"): the
 * 3x3 and 1x1 layers of small CIFAR / Fashion-MNIST networks (3-64 channels, stride 1 or 2)
 * whose im2col + GEMM runs far below the machine's peak (a column matrix 9 times the input,
 * then GEMMs with 8-64 rows and 27-576 inner products, mostly packing), and whose Winograd
 * path on 8x8 or 4x4 maps pays more for its transforms than it saves.
 *
 * Each output row is computed 8 pixels at a time in a vector register (GCC vector
 * extensions: AVX with FMA in the native build, two SSE halves in the portable one), for a
 * block of KB output channels and RB output rows at once: per tap (c, kh, kw) the kernel
 * loads RB input vectors, broadcasts KB weights and issues KB * RB multiply-adds (KB = 4,
 * RB = 2: 8 accumulators, 2 inputs and 4 weights in 16 registers, FMA-bound; at KB = 6 the
 * compiler spilled accumulators to the stack and ran at half the speed). Inputs are read straight from a padded copy of the
 * image split by column phase (column s j + phi of the padded row goes to phase phi,
 * position j), so that tap kw of a stride-s layer reads phase kw % s at offset kw / s: one
 * contiguous vector load whatever the stride, and no column matrix at all.
 *
 * The input gradient of a stride-1 layer is the same kernel on the output gradient (padded by
 * KH - 1 - pad) with the weight transposed and rotated by 180 degrees.
 *
 * Every output element is the bias plus the sum over (c, kh, kw) in that order: the result
 * of an image does not depend on the batch it is in, nor on the threads. Weights are packed
 * per block of KB output channels, once per weight tensor and value (ti__ctx_derived). */
#include <string.h>

#include "conv_internal.h"

typedef float vf __attribute__((vector_size(32)));
typedef float vfu __attribute__((vector_size(32), aligned(4))); /* unaligned access */
#define VW 8 /* floats per vector */
#define KB 4 /* output channels per block */

/* Loads, stores and broadcasts as macros: functions returning a 32-byte vector would draw
 * GCC's -Wpsabi note in the portable build (no AVX), although nothing crosses an ABI here. */
#define VLOAD(p) (*(const vfu *)(p))
#define VSTORE(p, v) (*(vfu *)(p) = (v))
#define VSPLAT(a) ({ float a_ = (a); (vf){a_, a_, a_, a_, a_, a_, a_, a_}; }) /* not 0 + a: an add */

/* Half vectors, for maps 4 pixels wide: one vector holds two rows of 4. */
typedef float vh __attribute__((vector_size(16)));
typedef float vhu __attribute__((vector_size(16), aligned(4)));
#if defined(__clang__) || __GNUC__ >= 12
#define VLOAD2(a, b) __builtin_shufflevector(*(const vhu *)(a), *(const vhu *)(b), 0, 1, 2, 3, \
                                             4, 5, 6, 7) /* one vinsertf128 */
#else
#define VLOAD2(a, b)                                                                        \
    ({                                                                                      \
        vh lo_ = *(const vhu *)(a), hi_ = *(const vhu *)(b);                                \
        (vf){lo_[0], lo_[1], lo_[2], lo_[3], hi_[0], hi_[1], hi_[2], hi_[3]};               \
    })
#endif

/* ---- shapes ------------------------------------------------------------------------------ */

/* One correlation the kernel runs: input planes (C, rows of the phase buffers), output
 * (K, OH, OW), taps (KH, KW) with stride s reading phase kw % s at column offset kw / s. */
typedef struct dshape {
    int C, K, KH, KW, s;
    int OH, OW;
    int Hp, L;   /* rows and row length of each phase buffer */
    int phases;  /* min(s, KW) */
    int half;    /* OW == 4: each vector holds two output rows of 4 */
    size_t off[9]; /* tap (kh, kw): its offset in channel 0's phase buffers from row 0 */
} dshape;

/* Which layers the direct kernel takes (measured, one thread, 32 images, against the paths
 * it replaces; docs/PERFORMANCE.md): 3x3 stride-2 layers with up to 32 input channels
 * (3 -> 16 on 32x32: 5.2 against 8.8 us per image by im2col + GEMM; 16 -> 32 on 16x16: 12.3
 * against 17.7; 64 -> 128 loses, 660 against 545), and 3x3 stride-1 layers that Winograd does
 * not take (3 -> 64 on 32x32, the ResNet stem: 56 against 87). Winograd keeps the layers it
 * takes in training even on small maps where the direct kernel is faster (32 -> 32 on 8x8:
 * 16.0 against 18.1): there the direct kernel changed the rounding of the small CNN's
 * training enough that the data-parallel test's three ranks and one process parted after two
 * epochs (1-channel 8x8 noise, where a ReLU or max-pool decision flips on the last bit); with
 * frozen weights (evaluation, attacks) conv.c hands those small-map layers to this kernel.
 * Never a 1-channel input (the row-shift GEMM
 * of the small CNN's first layer is as fast) nor 1x1 layers (their GEMM has no im2col to
 * save). Output rows of at least one vector (8 pixels). */
int ti__conv_direct_ok(const conv_shape *s)
{
    int wide = s->OW >= VW || (s->OW == 4 && s->OH % 2 == 0);
    if (s->KH != 3 || s->KW != 3 || s->pad > 1 || !wide || s->C < 2 || s->C > 64 ||
        s->K > 128)
        return 0;
    if (s->stride == 2)
        return s->C <= 32;
    return s->stride == 1 && !s->wino;
}

static dshape dshape_of(int C, int K, int KH, int KW, int s, int OH, int OW)
{
    dshape d = {.C = C, .K = K, .KH = KH, .KW = KW, .s = s, .OH = OH, .OW = OW};
    d.phases = s < KW ? s : KW;
    d.Hp = (OH - 1) * s + KH;
    d.half = OW == 4 && OH % 2 == 0;
    /* each phase row: the columns the taps read, whole vectors of output columns (the last
     * one may run past OW: those lanes are dropped) plus the taps' reach (KW - 1) / s */
    d.L = (d.half ? 4 : (OW + VW - 1) / VW * VW) + (KW - 1) / s;
    for (int kh = 0; kh < KH; kh++)
        for (int kw = 0; kw < KW; kw++)
            d.off[kh * KW + kw] = (size_t)(kw % s) * C * d.Hp * d.L + (size_t)kh * d.L + kw / s;
    return d;
}

/* Floats of one image's phase buffers. */
static size_t phase_floats(const dshape *d)
{
    return (size_t)d->phases * d->C * d->Hp * d->L;
}

/* Packed weights: per block of KB output channels, (C, KH, KW, KB), zeros past K. */
static size_t packed_floats(const dshape *d)
{
    size_t blocks = ((size_t)d->K + KB - 1) / KB;
    return blocks * d->C * d->KH * d->KW * KB;
}

/* ---- weights ----------------------------------------------------------------------------- */

/* wp = w (K, C, KH, KW) in blocks (forward), or for the input gradient (flip) the weight of
 * the correlation that gives dx from dy: output channels are w's input channels, taps
 * rotated by 180 degrees: w'[c][k][kh][kw] = w[k][c][KH-1-kh][KW-1-kw]. d is the shape of
 * the correlation run (its C and K are w's K and C when flipped). */
static void pack_weights(float *wp, const float *w, const dshape *d, int flip)
{
    const int C = d->C, K = d->K, T = d->KH * d->KW;
    memset(wp, 0, packed_floats(d) * sizeof(float));
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++)
            for (int t = 0; t < T; t++) {
                float v = flip ? w[((size_t)c * K + k) * T + (T - 1 - t)]
                               : w[((size_t)k * C + c) * T + t];
                wp[(((size_t)(k / KB) * C + c) * T + t) * KB + k % KB] = v;
            }
}

/* ---- the input, padded and split by column phase ----------------------------------------- */

/* ph[phi][c][r][j] = x[c][r - top][s j + phi - left] (0 outside the image), for r < Hp and
 * j < L. x is one image (C, H, W). The zeros sit in the same places for every image of a
 * layer: with `interior`, only the values from x are written (the buffer already holds the
 * previous image's, with its zeros). */
static void fill_phases(float *ph, const float *x, int H, int W, int top, int left,
                        const dshape *d, int interior)
{
    const int s = d->s, L = d->L;
    /* rows r whose source r - top lies in [0, H) */
    const int r0 = top > 0 ? top : 0, r1 = H + top < d->Hp ? H + top : d->Hp;
    for (int phi = 0; phi < d->phases; phi++) {
        /* columns j whose source s j + phi - left lies in [0, W) */
        int lo = left - phi <= 0 ? 0 : (left - phi + s - 1) / s;
        int hi = W + left - phi <= 0 ? 0 : (W + left - phi + s - 1) / s;
        hi = hi < L ? hi : L;
        lo = lo < hi ? lo : hi;
        for (int c = 0; c < d->C; c++) {
            float *pl = ph + ((size_t)phi * d->C + c) * d->Hp * L;
            if (!interior) {
                memset(pl, 0, (size_t)r0 * L * sizeof(float));
                memset(pl + (size_t)r1 * L, 0, (size_t)(d->Hp - r1) * L * sizeof(float));
            }
            for (int r = r0; r < r1; r++) {
                float *o = pl + (size_t)r * L;
                const float *in = x + ((size_t)c * H + r - top) * W + phi - left;
                if (!interior) {
                    for (int j = 0; j < lo; j++)
                        o[j] = 0.0f;
                    for (int j = hi; j < L; j++)
                        o[j] = 0.0f;
                }
                if (s == 1)
                    for (int j = lo; j < hi; j++)
                        o[j] = in[j];
                else
                    for (int j = lo; j < hi; j++)
                        o[j] = in[(size_t)s * j];
            }
        }
    }
}

/* ---- the kernel -------------------------------------------------------------------------- */

/* out rows oh0 .. oh0 + rb - 1 (rb <= 2), columns ow0 .. ow0 + 7, output channels
 * k0 .. k0 + kb - 1 (kb <= KB) of block wp, from the phase buffers ph; y (K, OH, OW) gets
 * bias + sum (accumulate: y += sum). Columns past OW are computed and dropped. */
static inline __attribute__((always_inline)) void tile(float *y, const float *ph,
                                                       const float *wp, const float *bias,
                                                       const dshape *d, int k0, int kb, int oh0,
                                                       int rb, int ow0, int accumulate, int half)
{
    const int C = d->C, T = d->KH * d->KW;
    const size_t plane = (size_t)d->Hp * d->L, down = (size_t)d->s * d->L;
    vf acc[KB][2];
    for (int i = 0; i < KB; i++)
        acc[i][0] = acc[i][1] = VSPLAT(0.0f);
    for (int c = 0; c < C; c++) {
        const float *row = ph + c * plane + (size_t)oh0 * down + ow0;
        const float *wk = wp + (size_t)c * T * KB;
        for (int t = 0; t < T; t++, wk += KB) {
            const float *p = row + d->off[t];
            vf x0, x1 = VSPLAT(0.0f);
            if (half) { /* vector r: output rows oh0 + 2r and oh0 + 2r + 1 */
                x0 = VLOAD2(p, p + down);
                if (rb > 1)
                    x1 = VLOAD2(p + 2 * down, p + 3 * down);
            } else { /* vector r: output row oh0 + r */
                x0 = VLOAD(p);
                if (rb > 1)
                    x1 = VLOAD(p + down);
            }
            for (int i = 0; i < kb; i++) {
                vf wv = VSPLAT(wk[i]);
                acc[i][0] += wv * x0;
                if (rb > 1)
                    acc[i][1] += wv * x1;
            }
        }
    }
    int n = d->OW - ow0 < VW ? d->OW - ow0 : VW;
    for (int i = 0; i < kb; i++) {
        float bk = bias && !accumulate ? bias[k0 + i] : 0.0f;
        for (int r = 0; r < rb; r++) {
            vf v = acc[i][r] + VSPLAT(bk);
            if (half) { /* lanes 0-3: row oh0 + 2r, lanes 4-7: the next row */
                float *o = y + ((size_t)(k0 + i) * d->OH + oh0 + 2 * r) * 4;
                if (accumulate)
                    v += VLOAD2(o, o + 4);
                VSTORE(o, v); /* the two rows are adjacent in y */
                continue;
            }
            float *o = y + ((size_t)(k0 + i) * d->OH + oh0 + r) * d->OW + ow0;
            if (accumulate)
                v += n == VW ? VLOAD(o) : VSPLAT(0.0f);
            if (n == VW) {
                VSTORE(o, v);
            } else {
                float tmp[VW];
                VSTORE(tmp, v);
                for (int j = 0; j < n; j++)
                    o[j] = accumulate ? o[j] + tmp[j] : tmp[j];
            }
        }
    }
}

/* One block of kb output channels over the whole output, kb known at compile time at each
 * call site (the tile's loops unroll, the accumulators stay in registers). A tile covers two
 * output rows, or four in half mode (OW = 4, OH even). */
static inline __attribute__((always_inline)) void block(float *y, const float *ph,
                                                        const float *wb, const float *bias,
                                                        const dshape *d, int k0, int kb,
                                                        int accumulate)
{
    if (d->half) {
        for (int oh = 0; oh < d->OH; oh += 4) {
            if (d->OH - oh >= 4)
                tile(y, ph, wb, bias, d, k0, kb, oh, 2, 0, accumulate, 1);
            else
                tile(y, ph, wb, bias, d, k0, kb, oh, 1, 0, accumulate, 1);
        }
        return;
    }
    for (int oh = 0; oh < d->OH; oh += 2)
        for (int ow = 0; ow < d->OW; ow += VW) {
            if (d->OH - oh >= 2)
                tile(y, ph, wb, bias, d, k0, kb, oh, 2, ow, accumulate, 0);
            else
                tile(y, ph, wb, bias, d, k0, kb, oh, 1, ow, accumulate, 0);
        }
}

/* The whole correlation for one image: y (K, OH, OW) from its phase buffers. */
static void correlate(float *y, const float *ph, const float *wp, const float *bias,
                      const dshape *d, int accumulate)
{
    for (int k0 = 0; k0 < d->K; k0 += KB) {
        const float *wb = wp + (size_t)(k0 / KB) * d->C * d->KH * d->KW * KB;
        switch (d->K - k0 < KB ? d->K - k0 : KB) {
        case 1: block(y, ph, wb, bias, d, k0, 1, accumulate); break;
        case 2: block(y, ph, wb, bias, d, k0, 2, accumulate); break;
        case 3: block(y, ph, wb, bias, d, k0, 3, accumulate); break;
        default: block(y, ph, wb, bias, d, k0, KB, accumulate); break;
        }
    }
}

/* ---- forward ----------------------------------------------------------------------------- */

typedef struct direct_job {
    const conv_shape *s;
    dshape d;
    float *y;
    const float *x, *wp, *b;
    float *ws;     /* per worker: phase buffers */
    size_t slice;
} direct_job;

static void fwd_images(void *arg, size_t lo, size_t hi, int t)
{
    const direct_job *j = arg;
    const conv_shape *s = j->s;
    float *ph = j->ws + (size_t)t * j->slice;
    const size_t CHW = (size_t)s->C * s->H * s->W, KP = (size_t)s->K * s->P;
    for (size_t n = lo; n < hi; n++) {
        fill_phases(ph, j->x + n * CHW, s->H, s->W, s->pad, s->pad, &j->d, n > lo);
        correlate(j->y + n * KP, ph, j->wp, j->b, &j->d, 0);
    }
}

/* The packed weights of w for shape d (cached while w keeps its values). */
static const float *packed(ti_ctx *ctx, float *scratch, const float *w, const dshape *d,
                           int flip)
{
    int fresh;
    size_t wbytes = (size_t)d->K * d->C * d->KH * d->KW * sizeof(float);
    float *wp = ti__ctx_derived(ctx, flip ? TI__DERIVED_DIRECT_FLIP : TI__DERIVED_DIRECT, w,
                                wbytes, packed_floats(d) * sizeof(float), &fresh);
    if (!wp)
        wp = scratch;
    if (fresh)
        pack_weights(wp, w, d, flip);
    return wp;
}

void ti__conv_direct_fwd(ti_ctx *ctx, float *ws, float *y, const float *x, const float *w,
                         const float *b, const conv_shape *s)
{
    direct_job j = {.s = s, .y = y, .x = x, .b = b};
    j.d = dshape_of(s->C, s->K, s->KH, s->KW, s->stride, s->OH, s->OW);
    j.wp = packed(ctx, ws, w, &j.d, 0);
    j.ws = ws + packed_floats(&j.d);
    j.slice = phase_floats(&j.d);
    ti__parallel_for(ctx, (size_t)s->N, 1, fwd_images, &j);
}

/* ---- input gradient ------------------------------------------------------------------------
 * dx[c][ih][iw] = sum_k sum_taps w[k][c][kh][kw] dy[k][ih + pad - kh][iw + pad - kw] at stride
 * 1: the correlation of dy, padded by KH - 1 - pad, with the transposed weight rotated by 180
 * degrees, into C channels. (At stride 2 the input gradient splits into four parity
 * correlations plus a scatter; measured, that lost to GEMM + col2im on the layers this file
 * takes, so conv.c keeps the GEMM for it.) */

/* The stride-1 layers only (32 -> 32 on 8x8: 16.4 against 18.2 us per image; the stem
 * 3 -> 64 on 32x32: 112 against 120-132). */
int ti__conv_direct_bwd_ok(const conv_shape *s)
{
    return ti__conv_direct_ok(s) && s->stride == 1;
}

typedef struct direct_bwd_job {
    const conv_shape *s;
    float *dx;
    const float *dy, *wp;
    float *ws;
    size_t slice;
} direct_bwd_job;

static void bwd_images(void *arg, size_t lo, size_t hi, int t)
{
    const direct_bwd_job *j = arg;
    const conv_shape *s = j->s;
    dshape d = dshape_of(s->K, s->C, s->KH, s->KW, 1, s->H, s->W);
    float *ph = j->ws + (size_t)t * j->slice;
    const size_t CHW = (size_t)s->C * s->H * s->W, KP = (size_t)s->K * s->P;
    for (size_t n = lo; n < hi; n++) {
        fill_phases(ph, j->dy + n * KP, s->OH, s->OW, s->KH - 1 - s->pad, s->KW - 1 - s->pad,
                    &d, n > lo);
        correlate(j->dx + n * CHW, ph, j->wp, NULL, &d, 1);
    }
}

size_t ti__conv_direct_floats(const conv_shape *s, int backward)
{
    int T = s->T < 1 ? 1 : s->T;
    dshape d = backward ? dshape_of(s->K, s->C, s->KH, s->KW, 1, s->H, s->W)
                        : dshape_of(s->C, s->K, s->KH, s->KW, s->stride, s->OH, s->OW);
    return packed_floats(&d) + (size_t)T * phase_floats(&d);
}

void ti__conv_direct_bwd(ti_ctx *ctx, float *ws, float *dx, const float *dy, const float *w,
                         const conv_shape *s)
{
    dshape d = dshape_of(s->K, s->C, s->KH, s->KW, 1, s->H, s->W);
    direct_bwd_job j = {.s = s, .dx = dx, .dy = dy};
    j.wp = packed(ctx, ws, w, &d, 1);
    j.ws = ws + packed_floats(&d);
    j.slice = phase_floats(&d);
    ti__parallel_for(ctx, (size_t)s->N, 1, bwd_images, &j);
}
