/* What the sparse files share (sparse_format.c, sparse_kernels.c, sparse_conv.c,
 * model_sparse.c): a pruned convolution's compressed weight, its grid geometry and the
 * shifted sparse x dense kernel. Not installed. The derivation is in docs/sparse.md.
 *
 * The idea (Park et al., "Faster CNNs with direct sparse convolutions and guided pruning",
 * ICLR 2017): lay each input channel out flat on a grid whose rows are a little wider than
 * the image, with zeros around it. Then the input pixel that the weight (c, kh, kw) multiplies
 * into output pixel q sits at a FIXED distance from q: in + plane(c) + shift(kh, kw) + q.
 * A convolution becomes a sparse matrix (one row per output channel, one entry per nonzero
 * weight holding its value and that distance) times shifted copies of one dense vector: no
 * im2col, no multiplication by a zero weight. Strides are handled by splitting the input into
 * stride x stride phase grids (every s-th row and column), on which a strided convolution is
 * a stride-1 one. The input gradient is the same product with the transposed matrix and the
 * negated distances, applied to the output gradient laid out on the output grid. */
#ifndef THINICE_SPARSE_INTERNAL_H
#define THINICE_SPARSE_INTERNAL_H

#include <stdint.h>

#include "internal.h"

/* Columns of one register block of the AVX2 kernel: 8 vectors of 8 floats, the accumulators
 * of one output row (the rest of the 16 registers hold the loads). Every column count the
 * kernel is given is a multiple of 8 (SP_LANES). */
#define SP_LANES 8
#define SP_BLOCK 64

/* A sparse matrix whose columns are shifts: row r of out (rows, ncols) is
 *   out[r][q] = bias[r] + sum_{j in row r} val[j] * in[off[j] + q]     for q in [0, ncols)
 * (CSR: row r's entries are rowptr[r] .. rowptr[r + 1] - 1, sorted by input plane, so that
 * the sum's order, and so its rounding, is fixed). `key` is the column's index in the dense
 * weight (forward: (c KH + kh) KW + kw; transposed: k CK + that) from which `off` is
 * computed for a given grid (ti__sp_conv_layout).
 * The AVX2 kernel takes the input planes in chunks small enough that a 64-column block of a
 * chunk stays in the L1 cache while every output row reads it: chunk b of row r is entries
 * seg[r (nchunks + 1) + b] .. seg[r (nchunks + 1) + b + 1] - 1. Chunks are consecutive
 * planes, so the sum's order is the same as without them. */
typedef struct ti__sp_mat {
    int rows;
    size_t nnz;
    int *rowptr;  /* (rows + 1) */
    int *key;     /* (nnz) */
    int32_t *off; /* (nnz) */
    float *val;   /* (nnz) */
    int nchunks;  /* 0: no chunk table (one chunk) */
    int *seg;     /* (rows (nchunks + 1)) */
} ti__sp_mat;

/* The kernel (sparse_kernels.c) for rows [r0, r1) of out (row stride ldo), columns
 * [0, ncols) with ncols a multiple of SP_LANES; bias may be NULL. simd != 0 takes the AVX2 +
 * FMA path when the CPU has it (checked at run time, so a portable build gets it too); 0 the
 * plain C reference. Both sum in the same order. */
void ti__sp_kernel(float *out, size_t ldo, const ti__sp_mat *a, int r0, int r1,
                   const float *bias, const float *in, size_t ncols, int simd);
/* Whether ti__sp_kernel(..., simd = 1) runs the AVX2 + FMA code on this CPU. */
int ti__sp_have_avx2(void);

/* Where a convolution's input, output and their gradients sit on the grids, for one layer
 * shape and a group of up to G images (sparse_conv.c). A group's grids hold its images one
 * after the other, each on Hg rows of Wg floats:
 *  - stride 1 ("shared"): the image itself at rows [0, H), columns [0, W), zeros at columns
 *    [W, Wg) and rows [H, Hg): with Wg = W + pad those zeros are the right padding of one row
 *    AND the left padding of the next (and the same for images), so fewer wasted columns;
 *    shift(kh, kw) = (kh - pad) Wg + kw - pad may be negative (a lead margin covers it);
 *  - stride s > 1 ("phases"): channel c becomes ph x pw phase planes, plane (a, b) holding
 *    the padded input's rows a, a + s, ... and columns b, b + s, ...; Hg = OH + (KH-1)/s,
 *    Wg = OW + (KW-1)/s; shift(kh, kw) = (kh / s) Wg + kw / s in plane (kh % s, kw % s).
 * Output pixel (n, oh, ow) of the group sits at column (n Hg + oh) Wg + ow of the output
 * grid; the other columns are computed and thrown away (the waste: Hg Wg / (OH OW)). */
typedef struct ti__sp_geom {
    int C, H, W, K, KH, KW, OH, OW, stride, pad;
    int shared;       /* 1: stride-1 layout, 0: phase planes */
    int ph, pw;       /* phases along rows and columns (1 when shared) */
    int o;            /* input pixel row r sits at grid row (r + o) / s, phase (r + o) % s */
    int dsh;          /* shift(kh, kw) = (kh / s - dsh) Wg + kw / s - dsh */
    int Hg, Wg;
    size_t Pg;        /* Hg Wg: grid columns per image */
    int G;            /* images per group */
    int nplanes;      /* C ph pw input planes */
    size_t cols;      /* round8(G Pg): columns of the output and input-gradient grids */
    size_t lead_in, ps_in; /* forward input grid: zeros before image 0, plane stride */
    size_t lead_dy, ps_dy; /* backward output-gradient grid: the same */
} ti__sp_geom;

/* A convolution (or a linear layer, as a 1x1 convolution of a 1x1 map) with fixed weights in
 * compressed form: built once from the dense weight (times a per-output-channel scale: folded
 * batch norm) and the bias, then run on any batch. */
typedef struct ti__sp_conv {
    int K, C, KH, KW, stride, pad;
    int linear;       /* 1: input (N, C) and output (N, K) */
    size_t total;     /* K C KH KW */
    ti__sp_mat fwd;   /* rows: output channels; keys (c KH + kh) KW + kw */
    ti__sp_mat bwd;   /* rows: input channels; keys k (C KH KW) + (c KH + kh) KW + kw */
    float *bias;      /* (K) */
    ti__sp_geom g;    /* the grids of the last layout (H = W = 0: none yet) */
    int simd;         /* 1: AVX2 kernel when the CPU has it (tests set 0 for the reference) */
} ti__sp_conv;

/* sparse_format.c. Builds (or rebuilds, reusing memory) sc from w (K, C, KH, KW) scaled per
 * output channel by scale (K, or NULL for 1), and bias (K, or NULL for 0). Entries equal to
 * zero after scaling are left out. TI_ERR_NOMEM (message in ctx) on failure; sc stays
 * freeable. */
ti_status ti__sp_conv_build(ti_ctx *ctx, ti__sp_conv *sc, const float *w, const float *scale,
                            const float *bias, int K, int C, int KH, int KW, int stride,
                            int pad, int linear);
void ti__sp_conv_release(ti__sp_conv *sc);
/* Fraction of nonzeros of a weight of n floats. */
double ti__sp_density(const float *w, size_t n);

/* The measured rule (docs/PERFORMANCE.md, "Sparse models"): is the sparse kernel faster than
 * the dense convolution on a layer of this shape with this fraction of nonzero weights? */
int ti__sp_pays(double density, int C, int K, int KH, int KW, int stride, int linear);

/* sparse_conv.c. Points sc's grids and offsets at a batch of N inputs of H x W on `threads`
 * threads (a no-op when they already are: the offsets depend on the group size, which is
 * capped so that every thread gets a group); TI_ERR_UNSUPPORTED when a grid would be too
 * large for 32-bit offsets. */
ti_status ti__sp_conv_layout(ti_ctx *ctx, ti__sp_conv *sc, int H, int W, int N, int threads);
/* The op: y = conv(x, sc) + bias, (N, K, OH, OW) (or (N, K) for a linear layer), followed
 * by a ReLU when relu != 0 (fused: one pass less each way), recorded on the tape with its
 * input gradient dx += conv^T(dy) when x asks for one. The weights are constants: no weight
 * gradient exists. sc must stay alive and unchanged while the tape may run the backward. */
ti_tensor *ti__sparse_conv2d(ti_tape *tape, ti_tensor *x, ti__sp_conv *sc, int relu);

#endif
