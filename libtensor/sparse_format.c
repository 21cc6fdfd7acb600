/* The compressed weight of a pruned convolution or linear layer (sparse_internal.h): the
 * nonzeros of each output channel in CSR order for the forward, the same nonzeros grouped by
 * input plane for the input gradient (the transposed product), and the rule that says when
 * the sparse kernel beats the dense convolution. */
#include <stdlib.h>

#include "sparse_internal.h"

double ti__sp_density(const float *w, size_t n)
{
    size_t nz = 0;
    for (size_t i = 0; i < n; i++)
        nz += w[i] != 0.0f;
    return n ? (double)nz / (double)n : 0.0;
}

/* Measured with bench_sparse (dense and sparse alternating, 2 threads, batch 128 and 1,
 * random unstructured sparsity; docs/PERFORMANCE.md "Sparse models"), forward and input
 * gradient together, with a margin for the machine's noise:
 *  - 3x3 stride-1 layers with 32 channels or more, which the dense path runs by Winograd
 *    F(2x2, 3x3) (2.25x fewer multiplications): sparse is faster from about 85% zeros on the
 *    deep layers (256 and 512 channels at 80%: 0.7-1.2x; at 90%: 1.1-2.8x), earlier on the
 *    wide maps (64 channels at 32x32: 1.3-1.6x at 80%);
 *  - other kernels with more than one tap (3x3 stride 2, the 3-channel stem): from 80%
 *    (1.3-1.7x at 80%);
 *  - 1x1 convolutions and linear layers: never (the copies onto and off the grids cost as
 *    much as the few products saved: 1.0-1.1x at batch 128, 0.4-0.8x at batch 1 even at
 *    99%), unless the weight is all zero. */
#define SP_MAX_DENSITY_WINO 0.15
#define SP_MAX_DENSITY_OTHER 0.20

int ti__sp_pays(double density, int C, int K, int KH, int KW, int stride, int linear)
{
    if (linear || KH * KW == 1)
        return density == 0.0;
    int wino = KH == 3 && KW == 3 && stride == 1 && C >= 32 && K >= 32;
    return density <= (wino ? SP_MAX_DENSITY_WINO : SP_MAX_DENSITY_OTHER);
}

static void mat_free(ti__sp_mat *a)
{
    free(a->rowptr);
    free(a->key);
    free(a->off);
    free(a->val);
    free(a->seg);
    *a = (ti__sp_mat){0};
}

static int mat_alloc(ti__sp_mat *a, int rows, size_t nnz)
{
    mat_free(a);
    a->rows = rows;
    a->nnz = nnz;
    size_t n = nnz ? nnz : 1;
    a->rowptr = calloc((size_t)rows + 1, sizeof *a->rowptr);
    a->key = malloc(n * sizeof *a->key);
    a->off = malloc(n * sizeof *a->off);
    a->val = malloc(n * sizeof *a->val);
    return a->rowptr && a->key && a->off && a->val;
}

void ti__sp_conv_release(ti__sp_conv *sc)
{
    if (!sc)
        return;
    mat_free(&sc->fwd);
    mat_free(&sc->bwd);
    free(sc->bias);
    sc->bias = NULL;
    sc->g.H = sc->g.W = 0;
}

/* Which input plane weight column (c, kh, kw) reads: stride 1 keeps one plane per channel,
 * a larger stride has ph x pw phase planes per channel (sparse_internal.h). */
static int plane_of(const ti__sp_conv *sc, int ph, int pw, int j)
{
    int kw = j % sc->KW, kh = j / sc->KW % sc->KH, c = j / (sc->KW * sc->KH);
    return (c * ph + kh % sc->stride % ph) * pw + kw % sc->stride % pw;
}

ti_status ti__sp_conv_build(ti_ctx *ctx, ti__sp_conv *sc, const float *w, const float *scale,
                            const float *bias, int K, int C, int KH, int KW, int stride,
                            int pad, int linear)
{
    int simd = sc->simd;
    ti__sp_conv_release(sc);
    *sc = (ti__sp_conv){.K = K, .C = C, .KH = KH, .KW = KW, .stride = stride, .pad = pad,
                        .linear = linear, .simd = simd};
    size_t CK = (size_t)C * KH * KW, nnz = 0;
    sc->total = (size_t)K * CK;
    for (size_t i = 0; i < sc->total; i++)
        nnz += w[i] * (scale ? scale[i / CK] : 1.0f) != 0.0f;
    int shared = stride == 1 && pad < KH && pad < KW;
    int ph = shared ? 1 : (stride < KH ? stride : KH), pw = shared ? 1 : (stride < KW ? stride : KW);
    sc->bias = calloc((size_t)K, sizeof *sc->bias);
    if (!sc->bias || !mat_alloc(&sc->fwd, K, nnz) || !mat_alloc(&sc->bwd, C * ph * pw, nnz)) {
        ti__sp_conv_release(sc);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "sparse: out of memory for %zu nonzero weights",
                            nnz);
    }
    if (bias)
        for (int k = 0; k < K; k++)
            sc->bias[k] = bias[k];
    /* forward: output channel k's nonzeros in memory order; count the planes' on the way */
    size_t e = 0;
    for (int k = 0; k < K; k++) {
        float s = scale ? scale[k] : 1.0f;
        for (size_t j = 0; j < CK; j++) {
            float v = w[(size_t)k * CK + j] * s;
            if (v == 0.0f)
                continue;
            sc->fwd.key[e] = (int)j;
            sc->fwd.val[e++] = v;
            sc->bwd.rowptr[plane_of(sc, ph, pw, (int)j) + 1]++;
        }
        sc->fwd.rowptr[k + 1] = (int)e;
    }
    /* transposed: plane p's nonzeros ordered by output channel, then weight position */
    for (int p = 0; p < sc->bwd.rows; p++)
        sc->bwd.rowptr[p + 1] += sc->bwd.rowptr[p];
    int *fill = malloc((size_t)sc->bwd.rows * sizeof *fill); /* next free entry per plane */
    if (!fill) {
        ti__sp_conv_release(sc);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "sparse: out of memory");
    }
    for (int p = 0; p < sc->bwd.rows; p++)
        fill[p] = sc->bwd.rowptr[p];
    for (int k = 0; k < K; k++)
        for (int i = sc->fwd.rowptr[k]; i < sc->fwd.rowptr[k + 1]; i++) {
            int j = sc->fwd.key[i], d = fill[plane_of(sc, ph, pw, j)]++;
            sc->bwd.key[d] = (int)((size_t)k * CK + (size_t)j);
            sc->bwd.val[d] = sc->fwd.val[i];
        }
    free(fill);
    return TI_OK;
}
