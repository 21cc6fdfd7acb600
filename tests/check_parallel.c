/* Tests of the context's fork-join pool (parallel.c) and the split sgemm (blas.c): ranges
 * cover a job exactly once, range t on worker t; nested jobs run inline; thousands of jobs in
 * a row neither deadlock nor lose work, with more threads than cores; ti__sgemm against plain
 * loops for every transpose and both split directions; a network's forward and input
 * gradient agree across thread counts and are bit-identical for the same count; the
 * classifier views split a batch over the threads, each running its images' whole pass
 * (bit for bit a one-thread pass over those images), and not while a weight hook is set. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xmmintrin.h>

#include "testutil.h"
#include "thinice/model.h"
#include "thinice/onnx.h"
#include "../libtensor/internal.h"

#define MAXP 8

/* What each worker saw: its range and its thread. */
typedef struct seen {
    size_t lo[MAXP], hi[MAXP];
    pthread_t tid[MAXP];
    int calls[MAXP];
    int *hits; /* per item: how many ranges covered it */
} seen;

static void record(void *arg, size_t lo, size_t hi, int t)
{
    seen *s = arg;
    s->lo[t] = lo;
    s->hi[t] = hi;
    s->tid[t] = pthread_self();
    s->calls[t]++;
    for (size_t i = lo; i < hi; i++)
        s->hits[i]++;
}

/* With T threads, n items and a grain: every item once, min(T, n / grain) ranges (at least
 * one), contiguous and in worker order, worker 0 the caller and the others distinct
 * threads; through the public ti_ctx_parallel_for, which other libraries use. */
START_TEST(test_ranges_cover_once)
{
    static const size_t ns[] = {1, 2, 3, 7, 100, 1001};
    static const size_t grains[] = {1, 5, 1000};
    for (int T = 1; T <= 4; T++) {
        ti_ctx *ctx = ti_ctx_new(1, T);
        ck_assert_int_eq(ti_ctx_threads(ctx), T);
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (size_t b = 0; b < sizeof grains / sizeof grains[0]; b++) {
                size_t n = ns[a], grain = grains[b];
                seen s = {0};
                s.hits = calloc(n, sizeof(int));
                int parts = ti_ctx_parallel_for(ctx, n, grain, record, &s); /* = the pool's */
                size_t want = n / grain < 1 ? 1 : n / grain;
                ck_assert_int_eq(parts, want < (size_t)T ? (int)want : T);
                for (size_t i = 0; i < n; i++)
                    ck_assert_msg(s.hits[i] == 1, "T %d n %zu grain %zu: item %zu hit %d times",
                                  T, n, grain, i, s.hits[i]);
                ck_assert(pthread_equal(s.tid[0], pthread_self()));
                for (int t = 0; t < parts; t++) {
                    ck_assert_int_eq(s.calls[t], 1);
                    ck_assert_uint_eq(s.lo[t], t == 0 ? 0 : s.hi[t - 1]);
                    for (int u = 0; u < t; u++)
                        ck_assert(!pthread_equal(s.tid[t], s.tid[u]));
                }
                ck_assert_uint_eq(s.hi[parts - 1], n);
                for (int t = parts; t < MAXP; t++)
                    ck_assert_int_eq(s.calls[t], 0);
                free(s.hits);
            }
        ck_assert_int_eq(ti_ctx_parallel_for(ctx, 0, 1, record, NULL), 0);
        ti_ctx_free(ctx);
    }
}
END_TEST

typedef struct nest {
    ti_ctx *ctx;
    int inner_parts[MAXP];
    int inline_ok[MAXP];
    int in_parallel[MAXP];
} nest;

typedef struct nest_inner {
    pthread_t outer;
    int same;
} nest_inner;

static void inner(void *arg, size_t lo, size_t hi, int t)
{
    (void)lo;
    (void)hi;
    nest_inner *ni = arg;
    ni->same = t == 0 && pthread_equal(ni->outer, pthread_self());
}

static void outer(void *arg, size_t lo, size_t hi, int t)
{
    (void)lo;
    (void)hi;
    nest *n = arg;
    nest_inner ni = {pthread_self(), 0};
    n->in_parallel[t] = ti__in_parallel();
    n->inner_parts[t] = ti__parallel_for(n->ctx, 100, 1, inner, &ni);
    n->inline_ok[t] = ni.same;
}

/* A job inside a job runs as one range on the calling worker (no deadlock). */
START_TEST(test_nested_runs_inline)
{
    ti_ctx *ctx = ti_ctx_new(1, 3);
    nest n = {ctx, {0}, {0}, {0}};
    ck_assert_int_eq(ti__parallel_for(ctx, 3, 1, outer, &n), 3);
    for (int t = 0; t < 3; t++) {
        ck_assert_int_eq(n.in_parallel[t], 1);
        ck_assert_int_eq(n.inner_parts[t], 1);
        ck_assert_int_eq(n.inline_ok[t], 1);
    }
    ck_assert_int_eq(ti__in_parallel(), 0);
    ti_ctx_free(ctx);
}
END_TEST

static void add_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    long *a = arg;
    for (size_t i = lo; i < hi; i++)
        a[i] += 1;
}

/* 20000 back-to-back jobs of every size, 6 threads on however many cores: each adds 1 to
 * every item, so each item must end at exactly the number of jobs. */
START_TEST(test_many_jobs)
{
    ti_ctx *ctx = ti_ctx_new(1, 6);
    long a[64] = {0};
    for (int j = 0; j < 20000; j++)
        ti__parallel_for(ctx, 1 + (size_t)(j % 64), 1, add_range, a);
    for (int i = 0; i < 64; i++) {
        long want = 0;
        for (int j = 0; j < 20000; j++)
            want += i < 1 + j % 64;
        ck_assert_int_eq(a[i], want);
    }
    /* a new thread count replaces the pool; freeing it joins the workers */
    ti_ctx_set_threads(ctx, 2);
    ck_assert_int_eq(ti_ctx_threads(ctx), 2);
    ti__parallel_for(ctx, 64, 1, add_range, a);
    ck_assert_int_eq(a[63], 20000 / 64 + 1);
    ti_ctx_free(ctx);
}
END_TEST

/* C = alpha op(A) op(B) + beta C by plain loops, row-major, in double. */
static void ref_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                     const float *B, float beta, float *C)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * M + i] : A[(size_t)i * K + k];
                double b = tb ? B[(size_t)j * K + k] : B[(size_t)k * N + j];
                s += a * b;
            }
            C[(size_t)i * N + j] = (float)(alpha * s + beta * C[(size_t)i * N + j]);
        }
}

/* Large enough to be split (by columns when N >= M, else by rows), with every transpose,
 * sizes not multiples of the split unit, and beta 0 and 1. */
START_TEST(test_sgemm_split)
{
    static const int shapes[][3] = {{37, 301, 130}, {301, 37, 130}, {64, 1000, 40}};
    ti_ctx *ctx = ti_ctx_new(1, 3);
    ti_rng r;
    ti_rng_seed(&r, 5);
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
        for (int tr = 0; tr < 4; tr++)
            for (int bi = 0; bi < 2; bi++) {
                int M = shapes[sh][0], N = shapes[sh][1], K = shapes[sh][2];
                int ta = tr & 1, tb = tr >> 1;
                float beta = (float)bi;
                float *A = malloc((size_t)M * K * sizeof(float));
                float *B = malloc((size_t)K * N * sizeof(float));
                float *C = malloc((size_t)M * N * sizeof(float));
                float *R = malloc((size_t)M * N * sizeof(float));
                tu_fill(&r, A, (size_t)M * K, -1, 1);
                tu_fill(&r, B, (size_t)K * N, -1, 1);
                tu_fill(&r, C, (size_t)M * N, -1, 1);
                memcpy(R, C, (size_t)M * N * sizeof(float));
                ti__sgemm(ctx, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                          M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, beta, C, N);
                ref_gemm(ta, tb, M, N, K, 0.5f, A, B, beta, R);
                double e = tu_reldiff(C, R, (size_t)M * N);
                ck_assert_msg(e < 1e-5, "shape %zu ta %d tb %d beta %g: error %g", sh, ta, tb,
                              (double)beta, e);
                free(A);
                free(B);
                free(C);
                free(R);
            }
    ti_ctx_free(ctx);
}
END_TEST

/* Logits and input gradient of a small ResNet-18 batch with T threads. */
static void resnet_pass(int T, const float *x, int N, float *z, float *dx)
{
    ti_ctx *ctx = ti_ctx_new(3, T);
    ti_model_config cfg = {.C = 3, .H = 16, .W = 16, .M = 10};
    ti_model *m = NULL;
    ck_assert_int_eq(ti_model_new(ctx, "resnet18", &cfg, &m), TI_OK);
    ti_classifier f;
    ck_assert_int_eq(ti_model_classifier(m, N, &f), TI_OK);
    float *dz = malloc((size_t)N * 10 * sizeof(float));
    for (int i = 0; i < N * 10; i++)
        dz[i] = (float)(i % 7) - 3.0f;
    ck_assert_int_eq(f.vjp(f.self, x, N, dz, z, dx), TI_OK);
    free(dz);
    ti_model_free(m);
    ti_ctx_free(ctx);
}

/* The same network and batch with 1, 2 and 3 threads: the images are split differently, so
 * the bits may differ, but not by more than rounding; the same count twice: the same bits. */
START_TEST(test_threads_agree)
{
    enum { N = 5, D = 3 * 16 * 16 };
    ti_rng r;
    ti_rng_seed(&r, 9);
    float *x = malloc(N * D * sizeof(float));
    tu_fill(&r, x, N * D, 0, 1);
    float z[3][N * 10], dx[3][N * D], z2[N * 10], dx2[N * D];
    for (int T = 1; T <= 3; T++)
        resnet_pass(T, x, N, z[T - 1], dx[T - 1]);
    for (int T = 2; T <= 3; T++) {
        ck_assert_msg(tu_reldiff(z[T - 1], z[0], N * 10) < 1e-4, "logits, %d threads", T);
        ck_assert_msg(tu_reldiff(dx[T - 1], dx[0], N * D) < 1e-3, "input gradient, %d threads",
                      T);
    }
    resnet_pass(2, x, N, z2, dx2);
    ck_assert(memcmp(z2, z[1], sizeof z2) == 0);
    ck_assert(memcmp(dx2, dx[1], sizeof dx2) == 0);
    free(x);
}
END_TEST

/* Everything a classifier view computes for images [i0, i0 + n) of x: logits, vjp, the
 * loss gradient (fn: the seed is the logits times 0.5 minus 1 at each row's class 0) and
 * the Jacobian, into out (in that order). */
static void dl_half(void *user, const float *z, int n, int M, float *dl)
{
    (void)user;
    for (int i = 0; i < n * M; i++)
        dl[i] = 0.5f * z[i] - (i % M == 0);
}

static void view_all(const ti_classifier *f, const float *x, int i0, int n, float *out)
{
    size_t D = ti_classifier_dim(f);
    int M = f->M;
    float *seed = malloc((size_t)n * M * sizeof(float));
    for (int i = 0; i < n * M; i++)
        seed[i] = (float)((i0 * M + i) % 5) - 2.0f;
    const float *xi = x + (size_t)i0 * D;
    float *lg = out, *dx = lg + (size_t)n * M, *lg2 = dx + (size_t)n * D;
    float *gx = lg2 + (size_t)n * M, *jac = gx + (size_t)n * D;
    ck_assert_int_eq(f->forward(f->self, xi, n, lg), TI_OK);
    ck_assert_int_eq(f->vjp(f->self, xi, n, seed, NULL, dx), TI_OK);
    ck_assert_int_eq(f->grad(f->self, xi, n, dl_half, NULL, lg2, gx), TI_OK);
    ck_assert_int_eq(f->jacobian(f->self, xi, n, NULL, jac), TI_OK);
    free(seed);
}

/* The view's output layout for n images: 2 (n, M) logits, 2 (n, D) gradients, (n, M, D). */
static size_t view_floats(int n, int M, size_t D)
{
    return (size_t)n * (2 * M + 2 * D + M * D);
}

/* One ONNX model (or the zoo's ResNet-18 when path is NULL) on ctx with threads T. */
static void make_view(int T, const char *path, ti_ctx **ctx, ti_model **m, ti_onnx **g,
                      ti_classifier *f)
{
    *ctx = ti_ctx_new(5, T);
    *m = NULL;
    *g = NULL;
    if (path) {
        ck_assert_int_eq(ti_onnx_load(*ctx, path, g), TI_OK);
        ck_assert_int_eq(ti_onnx_classifier(*g, 16, f), TI_OK);
    } else {
        ti_model_config cfg = {.C = 3, .H = 16, .W = 16, .M = 10};
        ck_assert_int_eq(ti_model_new(*ctx, "resnet18", &cfg, m), TI_OK);
        ck_assert_int_eq(ti_model_classifier(*m, 16, f), TI_OK);
    }
}

static ti_tensor *same_weight(void *user, ti_tape *tape, ti_param *p)
{
    (void)user;
    (void)tape;
    return &p->t;
}

/* With 2 threads, a batch of 7 goes 3 + 4 to the two threads, each a one-thread pass: the
 * results are bit for bit those of a one-thread context on images 0-2 and 3-6 (forward,
 * vjp, grad, jacobian). With a weight hook the model runs on one thread (a user's hook need
 * not be thread-safe): bit for bit a one-thread context on the whole batch. */
START_TEST(test_view_split)
{
    const char *paths[2] = {NULL, "tests/fixtures/onnx_resnet.onnx"};
    for (int k = 0; k < 2; k++) {
        ti_ctx *c1, *c2;
        ti_model *m1, *m2;
        ti_onnx *g1, *g2;
        ti_classifier f1, f2;
        make_view(1, paths[k], &c1, &m1, &g1, &f1);
        make_view(2, paths[k], &c2, &m2, &g2, &f2);
        size_t D = ti_classifier_dim(&f1);
        int M = f1.M, N = 7;
        float *x = malloc((size_t)N * D * sizeof(float));
        ti_rng r;
        ti_rng_seed(&r, 21);
        tu_fill(&r, x, (size_t)N * D, 0, 1);
        float *two = malloc(view_floats(N, M, D) * sizeof(float));
        float *a = malloc(view_floats(3, M, D) * sizeof(float));
        float *b = malloc(view_floats(4, M, D) * sizeof(float));
        view_all(&f2, x, 0, N, two);
        view_all(&f1, x, 0, 3, a);
        view_all(&f1, x, 3, 4, b);
        /* block by block: rows 0-2 from a, 3-6 from b */
        size_t off2 = 0, offa = 0, offb = 0;
        size_t per[5] = {(size_t)M, D, (size_t)M, D, (size_t)M * D};
        for (int blk = 0; blk < 5; blk++) {
            ck_assert_msg(!memcmp(two + off2, a + offa, 3 * per[blk] * sizeof(float)),
                          "model %d, output %d, images 0-2", k, blk);
            ck_assert_msg(!memcmp(two + off2 + 3 * per[blk], b + offb,
                                  4 * per[blk] * sizeof(float)),
                          "model %d, output %d, images 3-6", k, blk);
            off2 += N * per[blk];
            offa += 3 * per[blk];
            offb += 4 * per[blk];
        }
        if (m2) { /* the hook: no split */
            ti_model_set_weight_fn(m2, same_weight, NULL);
            float *all = malloc(view_floats(N, M, D) * sizeof(float));
            view_all(&f2, x, 0, N, two);
            view_all(&f1, x, 0, N, all);
            ck_assert(!memcmp(two, all, view_floats(N, M, D) * sizeof(float)) ||
                      tu_reldiff(two, all, view_floats(N, M, D)) < 1e-5);
            free(all);
        }
        free(x);
        free(two);
        free(a);
        free(b);
        ti_model_free(m1);
        ti_model_free(m2);
        ti_onnx_free(g1);
        ti_onnx_free(g2);
        ti_ctx_free(c1);
        ti_ctx_free(c2);
    }
}
END_TEST

/* Flushes a denormal to zero: 1 if the caller's FTZ mode is on (the value is computed at run
 * time so that the compiler cannot fold it). */
static int flushes(volatile float tiny)
{
    volatile float r = tiny * 0.5f;
    return r == 0.0f;
}

typedef struct mode_probe {
    int flushed[2];
} mode_probe;
static void probe_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)lo;
    (void)hi;
    ((mode_probe *)arg)->flushed[t] = flushes(1e-38f);
}

/* A library embedded in someone's program leaves their process as it found it: the caller's
 * floating-point mode (no flush-to-zero here) after creating a context and running parallel
 * work, though that work itself ran with denormals flushed on both threads; and OpenBLAS's
 * thread count, 1 while a context lives and the caller's again after the last is freed. */
START_TEST(test_process_state_restored)
{
    unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr & ~0x8040u); /* the caller's mode: IEEE denormals */
    ck_assert(!flushes(1e-38f));
    openblas_set_num_threads(2);
    ti_ctx *a = ti_ctx_new(0, 2), *b = ti_ctx_new(0, 2);
    ck_assert(!flushes(1e-38f));
    ck_assert_int_eq(openblas_get_num_threads(), 1);
    mode_probe mp = {{0, 0}};
    ck_assert_int_eq(ti__parallel_for(a, 2, 1, probe_range, &mp), 2);
    ck_assert(mp.flushed[0] && mp.flushed[1]); /* inside: flushed, caller and worker */
    ck_assert(!flushes(1e-38f));                /* after: the caller's mode again */
    ti_ctx_free(a);
    ck_assert_int_eq(openblas_get_num_threads(), 1); /* b still lives */
    ti_ctx_free(b);
    ck_assert_int_eq(openblas_get_num_threads(), 2);
    _mm_setcsr(csr);
}
END_TEST

Suite *suite_parallel(void)
{
    Suite *s = suite_create("parallel");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ranges_cover_once);
    tcase_add_test(tc, test_nested_runs_inline);
    tcase_add_test(tc, test_many_jobs);
    tcase_add_test(tc, test_sgemm_split);
    tcase_add_test(tc, test_threads_agree);
    tcase_add_test(tc, test_view_split);
    tcase_add_test(tc, test_process_state_restored);
    suite_add_tcase(s, tc);
    return s;
}
