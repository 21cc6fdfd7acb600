/* The shifted sparse x dense product at the heart of the sparse convolution
 * (sparse_internal.h): out[r][q] = bias[r] + sum_j val[j] in[off[j] + q].
 *
 * The AVX2 kernel follows Elsen et al., "Fast sparse ConvNets" (CVPR 2020, the kernels
 * XNNPACK ships): the output is cut into blocks of 64 columns; for one block, each output
 * row keeps its 64 sums in 8 vector registers while its nonzeros stream by, each one a
 * broadcast of the weight and 8 fused multiply-adds against the 64 input floats its shift
 * points at. Nothing but the sums is written, and the block's input (a few rows of every
 * input plane) is read again by every output row, from the L1 or L2 cache. Unlike theirs,
 * the dense operand needs no im2col: a shift per nonzero stands for (channel, kh, kw).
 * The plain C reference beside it sums in the same order (per column: bias, then the
 * nonzeros in row order) and is what a CPU without AVX2 runs. */
#include <immintrin.h>

#include "sparse_internal.h"

static void k_sp_ref(float *out, size_t ldo, const ti__sp_mat *a, int r0, int r1,
                     const float *bias, const float *in, size_t ncols)
{
    for (int r = r0; r < r1; r++) {
        float *o = out + (size_t)r * ldo, b = bias ? bias[r] : 0.0f;
        for (size_t q = 0; q < ncols; q++)
            o[q] = b;
        for (int j = a->rowptr[r]; j < a->rowptr[r + 1]; j++) {
            const float *x = in + a->off[j], v = a->val[j];
            for (size_t q = 0; q < ncols; q++)
                o[q] += v * x[q];
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#define TARGET_AVX2 __attribute__((target("avx2,fma")))

/* NV vectors (8 NV columns) of one output row: sums in registers across the nonzeros
 * [j0, j1), starting from the bias (first chunk) or from what earlier chunks stored. */
static inline TARGET_AVX2 __attribute__((always_inline)) void
row_block(float *o, const int32_t *off, const float *val, int j0, int j1, float b, int first,
          const float *x, const int NV)
{
    __m256 acc[SP_BLOCK / SP_LANES];
    for (int v = 0; v < NV; v++)
        acc[v] = first ? _mm256_set1_ps(b) : _mm256_loadu_ps(o + SP_LANES * v);
    for (int j = j0; j < j1; j++) {
        const float *p = x + off[j];
        __m256 w = _mm256_broadcast_ss(val + j);
        for (int v = 0; v < NV; v++)
            acc[v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(p + SP_LANES * v), acc[v]);
    }
    for (int v = 0; v < NV; v++)
        _mm256_storeu_ps(o + SP_LANES * v, acc[v]);
}

static TARGET_AVX2 void k_sp_avx2(float *out, size_t ldo, const ti__sp_mat *a, int r0, int r1,
                                  const float *bias, const float *in, size_t ncols)
{
    const int nch = a->nchunks > 0 ? a->nchunks : 1;
    for (size_t q = 0; q < ncols; q += SP_BLOCK) {
        size_t nb = ncols - q < SP_BLOCK ? ncols - q : SP_BLOCK;
        const float *x = in + q;
        for (int ch = 0; ch < nch; ch++)
            for (int r = r0; r < r1; r++) {
                int j0 = a->seg ? a->seg[(size_t)r * (nch + 1) + ch] : a->rowptr[r];
                int j1 = a->seg ? a->seg[(size_t)r * (nch + 1) + ch + 1] : a->rowptr[r + 1];
                if (ch > 0 && j0 == j1)
                    continue; /* nothing to add to what the earlier chunks stored */
                float b = bias ? bias[r] : 0.0f, *o = out + (size_t)r * ldo + q;
                int first = ch == 0;
                if (nb == SP_BLOCK) {
                    row_block(o, a->off, a->val, j0, j1, b, first, x, 8);
                    continue;
                }
                /* the last block of a row: 32, 16 and 8 columns as needed */
                size_t c = 0;
                if (nb - c >= 32) {
                    row_block(o + c, a->off, a->val, j0, j1, b, first, x + c, 4);
                    c += 32;
                }
                if (nb - c >= 16) {
                    row_block(o + c, a->off, a->val, j0, j1, b, first, x + c, 2);
                    c += 16;
                }
                if (nb - c >= 8)
                    row_block(o + c, a->off, a->val, j0, j1, b, first, x + c, 1);
            }
    }
}

int ti__sp_have_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
int ti__sp_have_avx2(void)
{
    return 0;
}
#endif

void ti__sp_kernel(float *out, size_t ldo, const ti__sp_mat *a, int r0, int r1,
                   const float *bias, const float *in, size_t ncols, int simd)
{
#if defined(__x86_64__) || defined(__i386__)
    if (simd && ti__sp_have_avx2()) {
        k_sp_avx2(out, ldo, a, r0, r1, bias, in, ncols);
        return;
    }
#endif
    k_sp_ref(out, ldo, a, r0, r1, bias, in, ncols);
}
