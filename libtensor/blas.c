/* The one place that talks to OpenBLAS's threads. OpenBLAS runs single-threaded: thinice's
 * own pool (parallel.c) splits the work, because two pools on two cores fight (OpenBLAS's
 * idle workers spin in sched_yield while ours run). A GEMM called outside a job is split
 * here, over the pool, by blocks of columns (or rows) of C, each one single-threaded sgemm;
 * the blocks depend only on the shape and the thread count, so the same thread count gives
 * the same bits. */
#include <pthread.h>

#include "internal.h"

/* Below this many multiply-adds a GEMM is not worth a hand-off (about 20 microseconds). */
#define SPLIT_MIN_MACS ((size_t)1 << 20)
/* Blocks are whole multiples of this many columns or rows (the micro-kernel's tiles). */
#define SPLIT_UNIT 16

/* OpenBLAS's thread count belongs to the process, not to a context: while any context lives
 * it is 1, and the caller's own setting comes back when the last context is freed. The one
 * piece of state thinice keeps across contexts, under a lock. */
static pthread_mutex_t blas_mu = PTHREAD_MUTEX_INITIALIZER;
static int blas_users, blas_saved;

void ti__blas_acquire(void)
{
    pthread_mutex_lock(&blas_mu);
    if (blas_users++ == 0) {
        blas_saved = openblas_get_num_threads();
        openblas_set_num_threads(1);
    }
    pthread_mutex_unlock(&blas_mu);
}

void ti__blas_release(void)
{
    pthread_mutex_lock(&blas_mu);
    if (--blas_users == 0 && blas_saved > 1)
        openblas_set_num_threads(blas_saved);
    pthread_mutex_unlock(&blas_mu);
}

/* One single-threaded sgemm. For beta = 0 we zero C with memset and pass beta = 1: OpenBLAS
 * would clear C with its own loop (sgemm_beta, 14% of a Square attack's profile), and the
 * memset + beta 1 pair measured 10-28% faster on the Winograd GEMMs of 32-64 channels
 * (64-128 x 256 x 32-64, where the products are short) and 3% at 256^3. The kernel adds A B
 * to zeros either way: same bits. */
static void sgemm1(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                   const float *A, int lda, const float *B, int ldb, float beta, float *C,
                   int ldc)
{
    if (beta == 0.0f) {
        if (ldc == N)
            memset(C, 0, (size_t)M * N * sizeof(float));
        else
            for (int i = 0; i < M; i++)
                memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

typedef struct gemm_job {
    CBLAS_TRANSPOSE ta, tb;
    int M, N, K, by_cols;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
} gemm_job;

static void gemm_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const gemm_job *g = arg;
    int a = (int)lo * SPLIT_UNIT, b = (int)hi * SPLIT_UNIT;
    if (g->by_cols) {
        if (b > g->N)
            b = g->N;
        const float *B = g->tb == CblasNoTrans ? g->B + a : g->B + (size_t)a * g->ldb;
        sgemm1(g->ta, g->tb, g->M, b - a, g->K, g->alpha, g->A, g->lda, B, g->ldb, g->beta,
               g->C + a, g->ldc);
    } else {
        if (b > g->M)
            b = g->M;
        const float *A = g->ta == CblasNoTrans ? g->A + (size_t)a * g->lda : g->A + a;
        sgemm1(g->ta, g->tb, b - a, g->N, g->K, g->alpha, A, g->lda, g->B, g->ldb, g->beta,
               g->C + (size_t)a * g->ldc, g->ldc);
    }
}

void ti__sgemm(ti_ctx *ctx, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
               float alpha, const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc)
{
    size_t macs = (size_t)M * N * K;
    int T = ctx ? ti__ctx_pool_threads(ctx) : 1;
    if (T < 2 || ti__in_parallel() || macs < 2 * SPLIT_MIN_MACS) {
        sgemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    gemm_job g = {ta, tb, M, N, K, N >= M, alpha, beta, A, B, C, lda, ldb, ldc};
    int len = g.by_cols ? N : M;
    size_t units = ((size_t)len + SPLIT_UNIT - 1) / SPLIT_UNIT;
    size_t per_unit = macs / units + 1;
    ti__parallel_for(ctx, units, (SPLIT_MIN_MACS + per_unit - 1) / per_unit, gemm_range, &g);
}
