/* Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2016): each 2x2 output tile is A^T [(G g G^T) . (B^T d B)] A
 * over a 4x4 input tile d, 16 multiplications instead of 36; over channels that is 16 GEMMs.
 * conv.c uses it for the forward, (with the flipped, transposed weight) the input gradient,
 * and the weight gradient, which is the same algorithm run backwards: with dM = A dY A^T per
 * output tile (the adjoint of the output transform), dU = sum over tiles of dM . V, again 16
 * GEMMs, and dg = G^T dU G (the adjoint of the weight transform).
 * The images are split over the context's pool: each worker transforms its own tiles, runs
 * the 16 GEMMs single-threaded and transforms them back, so the transforms are as parallel
 * as the GEMMs. */
#include <string.h>

#include "internal.h"

/* Tiles per GEMM: enough columns for OpenBLAS, while the transformed input and the GEMM
 * result (16 x channels x tiles each, 1 MiB each at 64 channels) stay near the caches.
 * Measured against 512 to 4096 tiles: 10-20% faster at 32-128 channels, the same above. */
#define WINO_TILES 256
/* The 16 transformed matrices are written and read together; were they a power of two apart
 * (C T = 64 x 2048 floats is 512 KiB), all 16 streams would fall into the same cache sets.
 * A few floats between them avoid that. */
#define WINO_SKEW 48

/* Images per group: WINO_TILES tiles, at most a worker's share of the batch. */
static int wino_group(int N, int TH, int TW, int threads)
{
    int per = TH * TW;
    int g = (WINO_TILES + per - 1) / per;
    int share = (N + threads - 1) / threads;
    return g > share ? share : g;
}

/* One worker's scratch: V (16, C, T) and M (16, K, T) with their skews, one padded plane and
 * two output rows. */
static size_t worker_floats(int C, int K, int TH, int TW, size_t T)
{
    return 16 * ((size_t)C * T + (size_t)K * T + 2 * WINO_SKEW) +
           (size_t)(2 * TH + 2) * (2 * TW + 2) + 4 * (size_t)TW;
}

size_t ti__winograd_floats(int N, int C, int H, int W, int K, int pad, int threads)
{
    int OH = H + 2 * pad - 2, OW = W + 2 * pad - 2;
    int TH = (OH + 1) / 2, TW = (OW + 1) / 2;
    threads = threads < 1 ? 1 : threads;
    size_t T = (size_t)wino_group(N, TH, TW, threads) * TH * TW;
    return 16 * (size_t)K * C + (size_t)threads * worker_floats(C, K, TH, TW, T);
}

/* U (16, K, C) = G g G^T for every (k, c) with k in [k0, k1), with
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
 * flip: g(k, c) = w[c][k] rotated by 180 degrees, for the input gradient. */
static void weight_transform(float *U, const float *w, int K, int C, int flip, int k0, int k1)
{
    size_t KC = (size_t)K * C;
    for (int k = k0; k < k1; k++)
        for (int c = 0; c < C; c++) {
            float g[9];
            if (!flip)
                memcpy(g, w + ((size_t)k * C + c) * 9, sizeof g);
            else
                for (int i = 0; i < 9; i++)
                    g[i] = w[((size_t)c * K + k) * 9 + 8 - i];
            float t[4][3]; /* G g */
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; i++) { /* (G g) G^T */
                float u[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]),
                              0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
                for (int j = 0; j < 4; j++)
                    U[(size_t)(i * 4 + j) * KC + (size_t)k * C + c] = u[j];
            }
        }
}

/* V (16, C, T) = B^T d B for every channel and tile of g images, with
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]; tile t = i TH TW + th TW + tw covers input rows
 * 2 th - pad .. 2 th - pad + 3. Each plane is first copied into `pad_buf`, zero-padded to
 * (2 TH + 2, 2 TW + 2), so that the loop over a row of tiles has no edge cases and vectorizes
 * across tiles (the transform is as much work as the GEMMs if done one tile at a time). */
static void input_transform(float *restrict V, float *restrict pad_buf, const float *restrict x, int g, int C, int H,
                            int W, int pad, int TH, int TW, size_t T)
{
    const size_t CT = (size_t)C * T + WINO_SKEW;
    const int PH = 2 * TH + 2, PW = 2 * TW + 2;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < g; i++) {
            const float *xc = x + ((size_t)i * C + c) * H * W;
            memset(pad_buf, 0, (size_t)PH * PW * sizeof(float));
            for (int h = 0; h < H && h + pad < PH; h++) {
                int n = W < PW - pad ? W : PW - pad;
                memcpy(pad_buf + (size_t)(h + pad) * PW + pad, xc + (size_t)h * W,
                       (size_t)n * sizeof(float));
            }
            for (int th = 0; th < TH; th++) {
                const float *restrict r0 = pad_buf + (size_t)(2 * th) * PW;
                const float *restrict r1 = r0 + PW, *restrict r2 = r1 + PW, *restrict r3 = r2 + PW;
                float *restrict v = V + (size_t)c * T + ((size_t)i * TH + th) * TW;
                for (int tw = 0; tw < TW; tw++) {
                    float t[4][4]; /* B^T d, column b of the tile at input column 2 tw + b */
                    for (int b = 0; b < 4; b++) {
                        int o = 2 * tw + b;
                        t[0][b] = r0[o] - r2[o];
                        t[1][b] = r1[o] + r2[o];
                        t[2][b] = r2[o] - r1[o];
                        t[3][b] = r1[o] - r3[o];
                    }
                    for (int a = 0; a < 4; a++) { /* (B^T d) B */
                        v[(size_t)(a * 4 + 0) * CT + tw] = t[a][0] - t[a][2];
                        v[(size_t)(a * 4 + 1) * CT + tw] = t[a][1] + t[a][2];
                        v[(size_t)(a * 4 + 2) * CT + tw] = t[a][2] - t[a][1];
                        v[(size_t)(a * 4 + 3) * CT + tw] = t[a][1] - t[a][3];
                    }
                }
            }
        }
}

/* y (+)= A^T m A (+ bias) for every tile and output channel k in [k0, k1), with
 * A^T = [1 1 1 0; 0 1 -1 -1]. A row of tiles is computed into two full output rows `rows`
 * (2, 2 TW), vectorized across tiles, then the part inside the output (odd sizes cut the last
 * tile) is stored or added. */
static void output_transform(float *restrict y, int accumulate, const float *restrict M,
                             float *restrict rows, const float *b, int g, int K, int k0, int k1,
                             int OH, int OW, int TH, int TW, size_t T)
{
    const size_t KT = (size_t)K * T + WINO_SKEW;
    float *restrict o0 = rows, *restrict o1 = rows + 2 * TW;
    for (int i = 0; i < g; i++)
        for (int k = k0; k < k1; k++) {
            float *yk = y + ((size_t)i * K + k) * OH * OW;
            float bk = b ? b[k] : 0.0f;
            for (int th = 0; th < TH; th++) {
                const float *restrict m = M + (size_t)k * T + ((size_t)i * TH + th) * TW;
                for (int tw = 0; tw < TW; tw++) {
                    float s[2][4]; /* A^T m */
                    for (int j = 0; j < 4; j++) {
                        float m0 = m[(size_t)j * KT + tw], m1 = m[(size_t)(4 + j) * KT + tw];
                        float m2 = m[(size_t)(8 + j) * KT + tw], m3 = m[(size_t)(12 + j) * KT + tw];
                        s[0][j] = m0 + m1 + m2;
                        s[1][j] = m1 - m2 - m3;
                    }
                    o0[2 * tw] = s[0][0] + s[0][1] + s[0][2] + bk;
                    o0[2 * tw + 1] = s[0][1] - s[0][2] - s[0][3] + bk;
                    o1[2 * tw] = s[1][0] + s[1][1] + s[1][2] + bk;
                    o1[2 * tw + 1] = s[1][1] - s[1][2] - s[1][3] + bk;
                }
                for (int a = 0; a < 2 && 2 * th + a < OH; a++) {
                    float *dst = yk + (size_t)(2 * th + a) * OW;
                    const float *src = a ? o1 : o0;
                    if (accumulate)
                        for (int ow = 0; ow < OW; ow++)
                            dst[ow] += src[ow];
                    else
                        memcpy(dst, src, (size_t)OW * sizeof(float));
                }
            }
        }
}

/* Everything the workers of one convolution share. */
typedef struct wino_job {
    ti_ctx *ctx;
    float *y;
    int accumulate, flip;
    const float *x, *w, *b;
    int N, C, H, W, K, pad, OH, OW, TH, TW, G;
    float *U;     /* (16, K, C), shared */
    float *ws;    /* worker t's scratch at ws + t * slice */
    size_t slice;
} wino_job;

static void weight_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const wino_job *j = arg;
    weight_transform(j->U, j->w, j->K, j->C, j->flip, (int)lo, (int)hi);
}

/* Images [lo, hi), a group of G at a time: transform, 16 GEMMs, transform back. */
static void image_range(void *arg, size_t lo, size_t hi, int t)
{
    const wino_job *j = arg;
    const int C = j->C, K = j->K, TH = j->TH, TW = j->TW;
    const size_t Tmax = (size_t)j->G * TH * TW;
    float *V = j->ws + (size_t)t * j->slice;                /* (16, C, T) */
    float *M = V + 16 * ((size_t)C * Tmax + WINO_SKEW);     /* (16, K, T) */
    float *pad_buf = M + 16 * ((size_t)K * Tmax + WINO_SKEW); /* (2 TH + 2, 2 TW + 2) */
    float *rows = pad_buf + (size_t)(2 * TH + 2) * (2 * TW + 2); /* (2, 2 TW) */
    for (size_t n0 = lo; n0 < hi; n0 += (size_t)j->G) {
        int g = hi - n0 < (size_t)j->G ? (int)(hi - n0) : j->G;
        size_t T = (size_t)g * TH * TW;
        input_transform(V, pad_buf, j->x + n0 * C * j->H * j->W, g, C, j->H, j->W, j->pad, TH,
                        TW, T);
        for (int e = 0; e < 16; e++)
            ti__sgemm(j->ctx, CblasNoTrans, CblasNoTrans, K, (int)T, C, 1.0f,
                      j->U + (size_t)e * K * C, C, V + (size_t)e * ((size_t)C * T + WINO_SKEW),
                      (int)T, 0.0f, M + (size_t)e * ((size_t)K * T + WINO_SKEW), (int)T);
        output_transform(j->y + n0 * K * j->OH * j->OW, j->accumulate, M, rows, j->b, g, K, 0,
                         K, j->OH, j->OW, TH, TW, T);
    }
}

/* ---- few tiles per thread: the threads split the output channels --------------------------
 * A handful of images on a 4x4 or 8x8 map (the points an attack has left, on ResNet-18's last
 * layers) gives each thread's 16 GEMMs fewer than WINO_SPLIT_TILES columns, where OpenBLAS
 * runs far below peak, and every thread reads all of U. Then the batch is transformed once
 * into a shared V (16, C, N TH TW), and each thread runs the 16 GEMMs and the output
 * transform for its own output channels over all the tiles: GEMMs as wide as the batch, U
 * read once. ResNet-18's 256 -> 256 layer on 8x8 with its weight kept, 3 images, 2 threads:
 * 1.00-1.06 against 1.20-1.24 ms; the same at 6 images (64 tiles a thread: not split). */
#define WINO_SPLIT_TILES 64

static int split_channels(int N, int TH, int TW, int K, int threads)
{
    size_t share = ((size_t)N + threads - 1) / threads;
    return threads > 1 && share * TH * TW < WINO_SPLIT_TILES && K >= 16 * threads;
}

/* The workspace of the channel split: V (16, C, T) and M (16, K, T) shared over all T = N TH
 * TW tiles of the batch, then each thread's plane and rows. It is sized for the image split
 * (ti__winograd_floats), which holds at least this. */
static size_t split_tiles(const wino_job *j)
{
    return (size_t)j->N * j->TH * j->TW;
}

static float *split_m(const wino_job *j)
{
    return j->ws + 16 * ((size_t)j->C * split_tiles(j) + WINO_SKEW);
}

static float *split_scratch(const wino_job *j, int t)
{
    float *own = split_m(j) + 16 * ((size_t)j->K * split_tiles(j) + WINO_SKEW);
    return own + (size_t)t * ((size_t)(2 * j->TH + 2) * (2 * j->TW + 2) + 4 * (size_t)j->TW);
}

static void split_input_range(void *arg, size_t lo, size_t hi, int t)
{
    const wino_job *j = arg;
    input_transform(j->ws + lo * j->TH * j->TW, split_scratch(j, t),
                    j->x + lo * j->C * j->H * j->W, (int)(hi - lo), j->C, j->H, j->W, j->pad,
                    j->TH, j->TW, split_tiles(j));
}

static void split_channel_range(void *arg, size_t lo, size_t hi, int t)
{
    const wino_job *j = arg;
    const int C = j->C, K = j->K;
    size_t T = split_tiles(j);
    const float *V = j->ws;
    float *M = split_m(j);
    for (int e = 0; e < 16; e++)
        ti__sgemm(j->ctx, CblasNoTrans, CblasNoTrans, (int)(hi - lo), (int)T, C, 1.0f,
                  j->U + (size_t)e * K * C + lo * C, C, V + (size_t)e * ((size_t)C * T + WINO_SKEW),
                  (int)T, 0.0f, M + (size_t)e * ((size_t)K * T + WINO_SKEW) + lo * T, (int)T);
    float *rows = split_scratch(j, t) + (size_t)(2 * j->TH + 2) * (2 * j->TW + 2);
    output_transform(j->y, j->accumulate, M, rows, j->b, j->N, K, (int)lo, (int)hi, j->OH, j->OW,
                     j->TH, j->TW, T);
}

void ti__conv3x3_winograd(ti_ctx *ctx, float *y, int accumulate, float *ws, const float *x,
                          const float *w, int flip, const float *b, int N, int C, int H, int W,
                          int K, int pad)
{
    int threads = ti__ctx_pool_threads(ctx);
    int OH = H + 2 * pad - 2, OW = W + 2 * pad - 2, TH = (OH + 1) / 2, TW = (OW + 1) / 2;
    int G = wino_group(N, TH, TW, threads);
    /* U is kept across calls while w's values stay the same (a frozen model under attack) */
    int fresh;
    float *U = ti__ctx_derived(ctx, flip ? TI__DERIVED_WINO_FLIP : TI__DERIVED_WINO, w,
                               (size_t)K * C * 9 * sizeof(float),
                               16 * (size_t)K * C * sizeof(float), &fresh);
    wino_job j = {.ctx = ctx, .y = y, .accumulate = accumulate, .flip = flip, .x = x, .w = w,
                  .b = b, .N = N, .C = C, .H = H, .W = W, .K = K, .pad = pad, .OH = OH,
                  .OW = OW, .TH = TH, .TW = TW, .G = G, .U = U ? U : ws,
                  .ws = ws + 16 * (size_t)K * C,
                  .slice = worker_floats(C, K, TH, TW, (size_t)G * TH * TW)};
    if (fresh)
        ti__parallel_for(ctx, (size_t)K, 8, weight_range, &j);
    if (split_channels(N, TH, TW, K, threads)) {
        ti__parallel_for(ctx, (size_t)N, 1, split_input_range, &j);
        ti__parallel_for(ctx, (size_t)K, 16, split_channel_range, &j);
    } else {
        ti__parallel_for(ctx, (size_t)N, 1, image_range, &j);
    }
}

/* ---- the weight gradient ------------------------------------------------------------------ */

/* dM (16, K, T) = A dY A^T for every (k, tile) of g images, A = [1 0; 1 1; 1 -1; 0 -1]: the
 * adjoint of output_transform. Outputs outside OH x OW (odd sizes) count as zero. Each row
 * of tiles reads two output rows zero-padded to 2 TW into `rows`, so the loop over tiles
 * has no edge cases. */
static void output_adjoint(float *restrict dM, float *restrict rows, const float *restrict dy,
                           int g, int K, int OH, int OW, int TH, int TW, size_t T)
{
    const size_t KT = (size_t)K * T + WINO_SKEW;
    float *restrict y0 = rows, *restrict y1 = rows + 2 * TW;
    memset(rows, 0, 4 * (size_t)TW * sizeof(float));
    for (int i = 0; i < g; i++)
        for (int k = 0; k < K; k++) {
            const float *yk = dy + ((size_t)i * K + k) * OH * OW;
            for (int th = 0; th < TH; th++) {
                memcpy(y0, yk + (size_t)(2 * th) * OW, (size_t)OW * sizeof(float));
                if (2 * th + 1 < OH)
                    memcpy(y1, yk + (size_t)(2 * th + 1) * OW, (size_t)OW * sizeof(float));
                else
                    memset(y1, 0, (size_t)OW * sizeof(float));
                float *restrict m = dM + (size_t)k * T + ((size_t)i * TH + th) * TW;
                for (int tw = 0; tw < TW; tw++) {
                    float d00 = y0[2 * tw], d01 = y0[2 * tw + 1];
                    float d10 = y1[2 * tw], d11 = y1[2 * tw + 1];
                    float q[4][2] = {{d00, d01}, /* A dY */
                                     {d00 + d10, d01 + d11},
                                     {d00 - d10, d01 - d11},
                                     {-d10, -d11}};
                    for (int a = 0; a < 4; a++) { /* (A dY) A^T */
                        m[(size_t)(a * 4 + 0) * KT + tw] = q[a][0];
                        m[(size_t)(a * 4 + 1) * KT + tw] = q[a][0] + q[a][1];
                        m[(size_t)(a * 4 + 2) * KT + tw] = q[a][0] - q[a][1];
                        m[(size_t)(a * 4 + 3) * KT + tw] = -q[a][1];
                    }
                }
            }
        }
}

/* Everything the workers of one weight gradient share. */
typedef struct wino_dw_job {
    ti_ctx *ctx;
    float *dw;
    const float *x, *dy;
    int N, C, H, W, K, pad, OH, OW, TH, TW, G, parts;
    float *ws;    /* worker t's scratch at ws + t * slice: dU (16, K, C) first */
    size_t slice;
} wino_dw_job;

/* Images [lo, hi), a group at a time: V from x, dM from dY, dU_t += dM V^T (16 GEMMs). */
static void dw_image_range(void *arg, size_t lo, size_t hi, int t)
{
    const wino_dw_job *j = arg;
    const int C = j->C, K = j->K, TH = j->TH, TW = j->TW;
    const size_t Tmax = (size_t)j->G * TH * TW;
    float *dU = j->ws + (size_t)t * j->slice;               /* (16, K, C) */
    float *V = dU + 16 * (size_t)K * C;                       /* (16, C, T) */
    float *dM = V + 16 * ((size_t)C * Tmax + WINO_SKEW);      /* (16, K, T) */
    float *pad_buf = dM + 16 * ((size_t)K * Tmax + WINO_SKEW);
    memset(dU, 0, 16 * (size_t)K * C * sizeof(float));
    for (size_t n0 = lo; n0 < hi; n0 += (size_t)j->G) {
        int g = hi - n0 < (size_t)j->G ? (int)(hi - n0) : j->G;
        size_t T = (size_t)g * TH * TW;
        input_transform(V, pad_buf, j->x + n0 * C * j->H * j->W, g, C, j->H, j->W, j->pad, TH,
                        TW, T);
        output_adjoint(dM, pad_buf, j->dy + n0 * K * j->OH * j->OW, g, K, j->OH, j->OW, TH, TW,
                       T);
        for (int e = 0; e < 16; e++)
            ti__sgemm(j->ctx, CblasNoTrans, CblasTrans, K, C, (int)T, 1.0f,
                      dM + (size_t)e * ((size_t)K * T + WINO_SKEW), (int)T,
                      V + (size_t)e * ((size_t)C * T + WINO_SKEW), (int)T, 1.0f,
                      dU + (size_t)e * K * C, C);
    }
}

/* dw[k][c] += G^T (sum over the workers' dU[k][c]) G for output channels [lo, hi). */
static void dw_weight_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const wino_dw_job *j = arg;
    const int K = j->K, C = j->C;
    const size_t KC = (size_t)K * C;
    for (size_t k = lo; k < hi; k++)
        for (int c = 0; c < C; c++) {
            float u[4][4] = {{0}};
            for (int p = 0; p < j->parts; p++) {
                const float *dU = j->ws + (size_t)p * j->slice + k * C + c;
                for (int e = 0; e < 16; e++)
                    u[e / 4][e % 4] += dU[(size_t)e * KC];
            }
            float r[3][4]; /* G^T dU */
            for (int b = 0; b < 4; b++) {
                r[0][b] = u[0][b] + 0.5f * (u[1][b] + u[2][b]);
                r[1][b] = 0.5f * (u[1][b] - u[2][b]);
                r[2][b] = 0.5f * (u[1][b] + u[2][b]) + u[3][b];
            }
            float *g = j->dw + (k * C + c) * 9;
            for (int i = 0; i < 3; i++) { /* (G^T dU) G */
                g[3 * i + 0] += r[i][0] + 0.5f * (r[i][1] + r[i][2]);
                g[3 * i + 1] += 0.5f * (r[i][1] - r[i][2]);
                g[3 * i + 2] += 0.5f * (r[i][1] + r[i][2]) + r[i][3];
            }
        }
}

size_t ti__winograd_dw_floats(int N, int C, int H, int W, int K, int pad, int threads)
{
    int OH = H + 2 * pad - 2, OW = W + 2 * pad - 2;
    int TH = (OH + 1) / 2, TW = (OW + 1) / 2;
    threads = threads < 1 ? 1 : threads;
    size_t T = (size_t)wino_group(N, TH, TW, threads) * TH * TW;
    return (size_t)threads * (16 * (size_t)K * C + worker_floats(C, K, TH, TW, T));
}

void ti__conv3x3_winograd_dw(ti_ctx *ctx, float *dw, float *ws, const float *x, const float *dy,
                             int N, int C, int H, int W, int K, int pad)
{
    int threads = ti__ctx_pool_threads(ctx);
    int OH = H + 2 * pad - 2, OW = W + 2 * pad - 2, TH = (OH + 1) / 2, TW = (OW + 1) / 2;
    int G = wino_group(N, TH, TW, threads);
    wino_dw_job j = {.ctx = ctx, .dw = dw, .x = x, .dy = dy, .N = N, .C = C, .H = H, .W = W,
                     .K = K, .pad = pad, .OH = OH, .OW = OW, .TH = TH, .TW = TW, .G = G,
                     .ws = ws,
                     .slice = 16 * (size_t)K * C + worker_floats(C, K, TH, TW, (size_t)G * TH * TW)};
    j.parts = ti__parallel_for(ctx, (size_t)N, 1, dw_image_range, &j);
    ti__parallel_for(ctx, (size_t)K, 8, dw_weight_range, &j);
}
