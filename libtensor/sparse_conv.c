/* The sparse convolution op (sparse_internal.h; derivation in docs/sparse.md): the grids a
 * layer's input and output gradient are copied onto, the copies in and out, and the op's
 * forward and input gradient, split over the context's pool.
 *
 * A batch is cut into groups of G images. With at least as many groups as threads, each
 * thread takes whole groups (copy in, kernel, copy out, all in its own scratch); with fewer
 * (batch 1), the groups run one after the other with the kernel's rows split over the pool.
 * Each output value is summed by the same instructions either way, so the result does not
 * depend on the thread count. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sparse_internal.h"
#include "thinice/ops.h"

/* Columns of a group's output grid to aim for: enough for several 64-column register blocks
 * of the kernel, while the group's grids stay near the L2 cache (measured with bench_sparse:
 * 256 to 1024 are within a few percent of each other; 64 is slower on 4x4 maps). */
#define SP_GROUP_COLS 512

/* Bytes of input a 64-column block of one chunk of planes may read (sparse_internal.h): about
 * half of Zen 3's 32 KiB L1 data cache, the rest being the nonzeros streaming by and the
 * partial sums (measured with bench_sparse: 8 to 24 KiB within a few percent; without
 * chunks, deep layers ran 1.3-1.6x slower, their loads missing L1). */
#define SP_CHUNK_BYTES 16384

static size_t round8(size_t n)
{
    return (n + SP_LANES - 1) / SP_LANES * SP_LANES;
}

/* ---- geometry -------------------------------------------------------------------------- */

static int shift_of(const ti__sp_geom *g, int kh, int kw)
{
    return (kh / g->stride - g->dsh) * g->Wg + kw / g->stride - g->dsh;
}

static void geom_fill(ti__sp_geom *g, const ti__sp_conv *sc, int H, int W, int N, int threads)
{
    *g = (ti__sp_geom){.C = sc->C, .H = H, .W = W, .K = sc->K, .KH = sc->KH, .KW = sc->KW,
                       .stride = sc->stride, .pad = sc->pad};
    int s = sc->stride, p = sc->pad;
    g->OH = (H + 2 * p - sc->KH) / s + 1;
    g->OW = (W + 2 * p - sc->KW) / s + 1;
    g->shared = s == 1 && p < sc->KH && p < sc->KW;
    g->ph = g->shared ? 1 : (s < sc->KH ? s : sc->KH);
    g->pw = g->shared ? 1 : (s < sc->KW ? s : sc->KW);
    g->o = g->shared ? 0 : p;
    g->dsh = g->shared ? p : 0;
    g->Hg = g->shared ? H + p : g->OH + (sc->KH - 1) / s;
    g->Wg = g->shared ? W + p : g->OW + (sc->KW - 1) / s;
    g->Pg = (size_t)g->Hg * g->Wg;
    g->nplanes = sc->C * g->ph * g->pw;
    size_t G = (SP_GROUP_COLS + g->Pg - 1) / g->Pg;
    size_t share = ((size_t)N + threads - 1) / (threads > 0 ? threads : 1);
    if (G > share)
        G = share;
    g->G = G < 1 ? 1 : (int)G;
    g->cols = round8((size_t)g->G * g->Pg);
    /* the shifts' range decides the zero margins around a group's images */
    int lo = shift_of(g, 0, 0), hi = shift_of(g, sc->KH - 1, sc->KW - 1);
    size_t neg = lo < 0 ? (size_t)-lo : 0, pos = hi > 0 ? (size_t)hi : 0;
    g->lead_in = neg;
    g->ps_in = round8(neg + g->cols + pos);
    g->lead_dy = pos;
    g->ps_dy = round8(pos + g->cols + neg);
}

/* The chunk table of a (sparse_internal.h): planes in chunks of `per` (plane_of(key) / per
 * is the chunk; entries are sorted by it), none when one chunk holds every plane. */
static ti_status chunk(ti_ctx *ctx, ti__sp_mat *a, int nplanes, int per,
                       int (*plane_of)(const ti__sp_conv *, const ti__sp_geom *, int),
                       const ti__sp_conv *sc, const ti__sp_geom *g)
{
    int nch = (nplanes + per - 1) / per;
    if (nch != a->nchunks || nch <= 1) { /* the same input size keeps its table's size */
        free(a->seg);
        a->seg = NULL;
        a->nchunks = 0;
        if (nch <= 1)
            return TI_OK;
        a->seg = malloc((size_t)a->rows * (nch + 1) * sizeof *a->seg);
        if (!a->seg)
            return ti_ctx_error(ctx, TI_ERR_NOMEM, "sparse conv: out of memory");
        a->nchunks = nch;
    }
    for (int r = 0; r < a->rows; r++) {
        int *seg = a->seg + (size_t)r * (nch + 1), e = a->rowptr[r];
        for (int b = 0; b < nch; b++) {
            seg[b] = e;
            while (e < a->rowptr[r + 1] && plane_of(sc, g, a->key[e]) / per == b)
                e++;
        }
        seg[nch] = e;
    }
    return TI_OK;
}

static int fwd_plane(const ti__sp_conv *sc, const ti__sp_geom *g, int j)
{
    int kw = j % sc->KW, kh = j / sc->KW % sc->KH, c = j / (sc->KW * sc->KH);
    return (c * g->ph + kh % g->stride % g->ph) * g->pw + kw % g->stride % g->pw;
}

static int bwd_plane(const ti__sp_conv *sc, const ti__sp_geom *g, int key)
{
    (void)g;
    return (int)((size_t)key / ((size_t)sc->C * sc->KH * sc->KW));
}

ti_status ti__sp_conv_layout(ti_ctx *ctx, ti__sp_conv *sc, int H, int W, int N, int threads)
{
    ti__sp_geom g;
    geom_fill(&g, sc, H, W, N, threads);
    if (sc->g.H == H && sc->g.W == W && sc->g.G == g.G)
        return TI_OK;
    if ((double)g.nplanes * g.ps_in >= INT32_MAX || (double)g.K * g.ps_dy >= INT32_MAX)
        return ti_ctx_error(ctx, TI_ERR_UNSUPPORTED,
                            "sparse conv: a %dx%d input with %d channels is too large for the "
                            "sparse kernel's 32-bit offsets",
                            H, W, sc->C);
    size_t CK = (size_t)sc->C * sc->KH * sc->KW;
    for (size_t e = 0; e < sc->fwd.nnz; e++) {
        int j = sc->fwd.key[e], kw = j % sc->KW, kh = j / sc->KW % sc->KH;
        sc->fwd.off[e] = (int32_t)((size_t)fwd_plane(sc, &g, j) * g.ps_in) + shift_of(&g, kh, kw);
    }
    for (size_t e = 0; e < sc->bwd.nnz; e++) {
        int key = sc->bwd.key[e], k = (int)((size_t)key / CK), j = (int)((size_t)key % CK);
        int kw = j % sc->KW, kh = j / sc->KW % sc->KH;
        sc->bwd.off[e] = (int32_t)((size_t)k * g.ps_dy) - shift_of(&g, kh, kw);
    }
    /* a block of one plane spans its 64 columns and the shifts' range */
    size_t block = (SP_BLOCK + (size_t)(shift_of(&g, sc->KH - 1, sc->KW - 1) - shift_of(&g, 0, 0))) *
                   sizeof(float);
    int per = (int)(SP_CHUNK_BYTES / block), pc = g.ph * g.pw;
    int per_in = per < pc ? pc : per / pc * pc; /* whole channels: their entries are in order */
    ti_status s = chunk(ctx, &sc->fwd, g.nplanes, per_in, fwd_plane, sc, &g);
    if (s == TI_OK)
        s = chunk(ctx, &sc->bwd, g.K, per < 1 ? 1 : per, bwd_plane, sc, &g);
    if (s != TI_OK)
        return s;
    sc->g = g;
    return TI_OK;
}

/* ---- copies onto and off the grids ---------------------------------------------------------
 * Each works on a range of planes (or channels) of a group of n images, so that batch 1 can
 * split them over the pool too. */

/* Forward input grid planes [p0, p1) from the group's images x (n, C, H, W). */
static void pack_in(const ti__sp_geom *g, float *grid, const float *x, int n, int p0, int p1)
{
    const int s = g->stride, Wg = g->Wg;
    const size_t HW = (size_t)g->H * g->W;
    for (int p = p0; p < p1; p++) {
        int c = p / (g->ph * g->pw), a = p / g->pw % g->ph, b = p % g->pw;
        float *pl = grid + (size_t)p * g->ps_in;
        memset(pl, 0, g->lead_in * sizeof(float));
        float *base = pl + g->lead_in;
        for (int i = 0; i < n * g->Hg; i++) {
            float *row = base + (size_t)i * Wg;
            int r = i % g->Hg * s + a - g->o, img = i / g->Hg;
            if (r < 0 || r >= g->H) {
                memset(row, 0, (size_t)Wg * sizeof(float));
                continue;
            }
            const float *src = x + ((size_t)img * g->C + c) * HW + (size_t)r * g->W;
            if (g->shared) { /* columns [0, W) of the image, then the shared padding */
                memcpy(row, src, (size_t)g->W * sizeof(float));
                memset(row + g->W, 0, (size_t)(Wg - g->W) * sizeof(float));
                continue;
            }
            for (int j = 0; j < Wg; j++) {
                int col = j * s + b - g->o;
                row[j] = col >= 0 && col < g->W ? src[col] : 0.0f;
            }
        }
        size_t used = g->lead_in + (size_t)n * g->Pg;
        memset(pl + used, 0, (g->ps_in - used) * sizeof(float));
    }
}

/* y (n, K, OH, OW) channels [k0, k1) from the output grid, through a ReLU if asked. */
static void unpack_out(const ti__sp_geom *g, float *y, const float *out, int n, int k0, int k1,
                       int relu)
{
    const size_t OHW = (size_t)g->OH * g->OW;
    for (int k = k0; k < k1; k++)
        for (int img = 0; img < n; img++)
            for (int oh = 0; oh < g->OH; oh++) {
                float *d = y + ((size_t)img * g->K + k) * OHW + (size_t)oh * g->OW;
                const float *src = out + (size_t)k * g->cols + ((size_t)img * g->Hg + oh) * g->Wg;
                if (!relu) {
                    memcpy(d, src, (size_t)g->OW * sizeof(float));
                    continue;
                }
                for (int ow = 0; ow < g->OW; ow++)
                    d[ow] = src[ow] > 0.0f ? src[ow] : 0.0f;
            }
}

/* Output-gradient grid planes [k0, k1) from dy (n, K, OH, OW): zeros wherever the forward
 * computed a column it threw away, so that the transposed product adds nothing from there.
 * With y (the op's output after its ReLU) the ReLU's gradient is applied on the way: dy
 * passes where y > 0. */
static void pack_dy(const ti__sp_geom *g, float *grid, const float *dy, const float *y, int n,
                    int k0, int k1)
{
    const size_t OHW = (size_t)g->OH * g->OW;
    const int Wg = g->Wg;
    for (int k = k0; k < k1; k++) {
        float *pl = grid + (size_t)k * g->ps_dy;
        memset(pl, 0, g->lead_dy * sizeof(float));
        float *base = pl + g->lead_dy;
        for (int i = 0; i < n * g->Hg; i++) {
            float *row = base + (size_t)i * Wg;
            int oh = i % g->Hg, img = i / g->Hg;
            if (oh >= g->OH) {
                memset(row, 0, (size_t)Wg * sizeof(float));
                continue;
            }
            size_t at = ((size_t)img * g->K + k) * OHW + (size_t)oh * g->OW;
            if (y)
                for (int ow = 0; ow < g->OW; ow++)
                    row[ow] = y[at + ow] > 0.0f ? dy[at + ow] : 0.0f;
            else
                memcpy(row, dy + at, (size_t)g->OW * sizeof(float));
            memset(row + g->OW, 0, (size_t)(Wg - g->OW) * sizeof(float));
        }
        size_t used = g->lead_dy + (size_t)n * g->Pg;
        memset(pl + used, 0, (g->ps_dy - used) * sizeof(float));
    }
}

/* dx (n, C, H, W) channels [c0, c1) += the input-gradient grid. An input pixel that no
 * output reads (a phase the kernel never reaches, or rows cut off by the stride) has no
 * grid entry and gets nothing. */
static void unpack_dx(const ti__sp_geom *g, float *dx, const float *grid, int n, int c0, int c1)
{
    const int s = g->stride, Wg = g->Wg;
    const size_t HW = (size_t)g->H * g->W;
    for (int c = c0; c < c1; c++)
        for (int img = 0; img < n; img++)
            for (int r = 0; r < g->H; r++) {
                int i = (r + g->o) / s, a = (r + g->o) % s;
                if (a >= g->ph || i >= g->Hg)
                    continue;
                float *d = dx + ((size_t)img * g->C + c) * HW + (size_t)r * g->W;
                size_t at = ((size_t)img * g->Hg + i) * Wg;
                if (g->shared) {
                    const float *src = grid + (size_t)c * g->cols + at;
                    for (int col = 0; col < g->W; col++)
                        d[col] += src[col];
                    continue;
                }
                for (int col = 0; col < g->W; col++) {
                    int j = (col + g->o) / s, b = (col + g->o) % s;
                    if (b < g->pw && j < Wg)
                        d[col] += grid[(size_t)((c * g->ph + a) * g->pw + b) * g->cols + at + j];
                }
            }
}

/* ---- the jobs ------------------------------------------------------------------------------ */

typedef struct sp_job {
    const ti__sp_conv *sc;
    int N;
    const float *x, *dy; /* forward input / output gradient (N, ...) */
    float *y, *dx;       /* forward output / input gradient to add to */
    int relu;            /* a ReLU after the convolution */
    float *ws;           /* scratch: per worker (image split) or shared (row split) */
    size_t slice;        /* floats of one worker's scratch */
    int n;               /* row split: images of the current group */
    int what;            /* row split: 0 pack, 1 kernel, 2 unpack */
} sp_job;

/* Columns a group of n images needs: up to its last image's last output pixel. */
static size_t group_cols(const ti__sp_geom *g, int n, int backward)
{
    if (backward)
        return round8((size_t)n * g->Pg);
    return round8(((size_t)n - 1) * g->Pg + (size_t)(g->OH - 1) * g->Wg + (size_t)g->OW);
}

static size_t fwd_floats(const ti__sp_geom *g)
{
    return (size_t)g->nplanes * g->ps_in + (size_t)g->K * g->cols;
}

static size_t bwd_floats(const ti__sp_geom *g)
{
    return (size_t)g->K * g->ps_dy + (size_t)g->nplanes * g->cols;
}

/* Image split: groups [lo, hi) on worker t, forward. */
static void fwd_groups(void *arg, size_t lo, size_t hi, int t)
{
    const sp_job *j = arg;
    const ti__sp_geom *g = &j->sc->g;
    float *grid = j->ws + (size_t)t * j->slice, *out = grid + (size_t)g->nplanes * g->ps_in;
    size_t in_img = (size_t)g->C * g->H * g->W, out_img = (size_t)g->K * g->OH * g->OW;
    for (size_t gi = lo; gi < hi; gi++) {
        size_t n0 = gi * (size_t)g->G;
        int n = j->N - n0 < (size_t)g->G ? (int)(j->N - n0) : g->G;
        pack_in(g, grid, j->x + n0 * in_img, n, 0, g->nplanes);
        ti__sp_kernel(out, g->cols, &j->sc->fwd, 0, g->K, j->sc->bias, grid + g->lead_in,
                      group_cols(g, n, 0), j->sc->simd);
        unpack_out(g, j->y + n0 * out_img, out, n, 0, g->K, j->relu);
    }
}

/* Image split: groups [lo, hi) on worker t, input gradient. */
static void bwd_groups(void *arg, size_t lo, size_t hi, int t)
{
    const sp_job *j = arg;
    const ti__sp_geom *g = &j->sc->g;
    float *grid = j->ws + (size_t)t * j->slice, *dxg = grid + (size_t)g->K * g->ps_dy;
    size_t in_img = (size_t)g->C * g->H * g->W, out_img = (size_t)g->K * g->OH * g->OW;
    for (size_t gi = lo; gi < hi; gi++) {
        size_t n0 = gi * (size_t)g->G;
        int n = j->N - n0 < (size_t)g->G ? (int)(j->N - n0) : g->G;
        pack_dy(g, grid, j->dy + n0 * out_img, j->relu ? j->y + n0 * out_img : NULL, n, 0, g->K);
        ti__sp_kernel(dxg, g->cols, &j->sc->bwd, 0, g->nplanes, NULL, grid + g->lead_dy,
                      group_cols(g, n, 1), j->sc->simd);
        unpack_dx(g, j->dx + n0 * in_img, dxg, n, 0, g->C);
    }
}

/* Row split, one step of one group (j->x .. point at the group's first image): ranges of
 * planes, kernel rows or channels. */
static void fwd_rows(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const sp_job *j = arg;
    const ti__sp_geom *g = &j->sc->g;
    float *grid = j->ws, *out = grid + (size_t)g->nplanes * g->ps_in;
    if (j->what == 0)
        pack_in(g, grid, j->x, j->n, (int)lo, (int)hi);
    else if (j->what == 1)
        ti__sp_kernel(out, g->cols, &j->sc->fwd, (int)lo, (int)hi, j->sc->bias,
                      grid + g->lead_in, group_cols(g, j->n, 0), j->sc->simd);
    else
        unpack_out(g, j->y, out, j->n, (int)lo, (int)hi, j->relu);
}

static void bwd_rows(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const sp_job *j = arg;
    const ti__sp_geom *g = &j->sc->g;
    float *grid = j->ws, *dxg = grid + (size_t)g->K * g->ps_dy;
    if (j->what == 0)
        pack_dy(g, grid, j->dy, j->relu ? j->y : NULL, j->n, (int)lo, (int)hi);
    else if (j->what == 1)
        ti__sp_kernel(dxg, g->cols, &j->sc->bwd, (int)lo, (int)hi, NULL, grid + g->lead_dy,
                      group_cols(g, j->n, 1), j->sc->simd);
    else
        unpack_dx(g, j->dx, dxg, j->n, (int)lo, (int)hi);
}

/* Runs the forward (backward = 0) or the input gradient over the batch. */
static ti_status run(ti_tape *tape, sp_job *j, int backward)
{
    ti_ctx *ctx = ti_tape_ctx(tape);
    const ti__sp_geom *g = &j->sc->g;
    int T = ti__ctx_pool_threads(ctx);
    size_t groups = ((size_t)j->N + g->G - 1) / (size_t)g->G;
    int split_images = groups >= (size_t)T || T == 1;
    j->slice = backward ? bwd_floats(g) : fwd_floats(g);
    size_t bytes = (split_images ? (size_t)T : 1) * j->slice * sizeof(float);
    j->ws = ti_ctx_workspace(ctx, bytes);
    if (!j->ws) {
        ti__tape_fail(tape, TI_ERR_NOMEM, "sparse conv: out of memory for a %zu-byte workspace",
                      bytes);
        return TI_ERR_NOMEM;
    }
    if (split_images) {
        ti__parallel_for(ctx, groups, 1, backward ? bwd_groups : fwd_groups, j);
        return TI_OK;
    }
    size_t in_img = (size_t)g->C * g->H * g->W, out_img = (size_t)g->K * g->OH * g->OW;
    sp_job r = *j;
    for (size_t gi = 0; gi < groups; gi++) {
        size_t n0 = gi * (size_t)g->G;
        r.n = j->N - n0 < (size_t)g->G ? (int)(j->N - n0) : g->G;
        if (backward) {
            r.dy = j->dy + n0 * out_img;
            r.dx = j->dx + n0 * in_img;
            r.y = j->y ? j->y + n0 * out_img : NULL;
        } else {
            r.x = j->x + n0 * in_img;
            r.y = j->y + n0 * out_img;
        }
        const size_t steps[3] = {backward ? (size_t)g->K : (size_t)g->nplanes,
                                 backward ? (size_t)g->nplanes : (size_t)g->K,
                                 backward ? (size_t)g->C : (size_t)g->K};
        for (r.what = 0; r.what < 3; r.what++)
            ti__parallel_for(ctx, steps[r.what], 1, backward ? bwd_rows : fwd_rows, &r);
    }
    return TI_OK;
}

/* ---- the op -------------------------------------------------------------------------------- */

static void sparse_conv_backward(ti_tape *tape, ti_node *n)
{
    ti_tensor *x = n->in[0];
    ti__sp_conv *sc = n->saved;
    if (!x->requires_grad)
        return;
    int N = x->shape[0], H = sc->linear ? 1 : x->shape[2], W = sc->linear ? 1 : x->shape[3];
    ti_ctx *ctx = ti_tape_ctx(tape);
    /* another forward (another batch size) may have moved the grids since this one */
    ti_status s = ti__sp_conv_layout(ctx, sc, H, W, N, ti__ctx_pool_threads(ctx));
    if (s != TI_OK) {
        ti__tape_fail(tape, s, "%s", ti_ctx_errmsg(ctx));
        return;
    }
    sp_job j = {.sc = sc, .N = N, .dy = n->out->grad, .dx = x->grad, .relu = n->ip[0],
                .y = n->out->data};
    run(tape, &j, 1);
}

static const ti_op_def op_sparse_conv = {"sparse_conv2d", sparse_conv_backward};

ti_tensor *ti__sparse_conv2d(ti_tape *tape, ti_tensor *x, ti__sp_conv *sc, int relu)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    char sx[64];
    int ok = sc->linear ? x->ndim == 2 && x->shape[1] == sc->C
                        : x->ndim == 4 && x->shape[1] == sc->C &&
                              x->shape[2] + 2 * sc->pad >= sc->KH &&
                              x->shape[3] + 2 * sc->pad >= sc->KW;
    if (!ok)
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "sparse conv: input %s does not fit a %s of %d input channels, "
                             "kernel %dx%d, padding %d",
                             ti_shape_str(x, sx, sizeof sx), sc->linear ? "linear layer" : "conv",
                             sc->C, sc->KH, sc->KW, sc->pad);
    ti_ctx *ctx = ti_tape_ctx(tape);
    int N = x->shape[0], H = sc->linear ? 1 : x->shape[2], W = sc->linear ? 1 : x->shape[3];
    ti_status s = ti__sp_conv_layout(ctx, sc, H, W, N, ti__ctx_pool_threads(ctx));
    if (s != TI_OK)
        return ti__tape_fail(tape, s, "%s", ti_ctx_errmsg(ctx));
    const ti__sp_geom *g = &sc->g;
    ti_tensor *y = sc->linear ? ti_tape_tensor(tape, 2, (int[]){N, sc->K})
                              : ti_tape_tensor(tape, 4, (int[]){N, sc->K, g->OH, g->OW});
    if (!y)
        return NULL;
    if (y->size > 0) {
        sp_job j = {.sc = sc, .N = N, .x = x->data, .y = y->data, .relu = relu != 0};
        if (run(tape, &j, 0) != TI_OK)
            return NULL;
    }
    ti_node *n = ti__tape_record(tape, &op_sparse_conv, y, 1, &x);
    if (n) {
        n->saved = sc;
        n->ip[0] = relu != 0;
    }
    return y;
}
