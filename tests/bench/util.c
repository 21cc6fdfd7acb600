/* The clock, the sgemm reference and the argument check shared by the benchmarks (util.h). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thinice/core.h"
#include "util.h"

double bu_sgemm_gflops(int n, uint64_t seed, int threads)
{
    openblas_set_num_threads(threads);
    size_t nn = (size_t)n * n;
    float *a = ti_alloc(nn * sizeof(float)), *b = ti_alloc(nn * sizeof(float));
    float *c = ti_alloc(nn * sizeof(float));
    double best = 1e30;
    if (a && b && c) {
        ti_rng r;
        ti_rng_seed(&r, seed);
        for (size_t i = 0; i < nn; i++) {
            a[i] = ti_rng_uniform(&r, -1, 1);
            b[i] = ti_rng_uniform(&r, -1, 1);
        }
        for (int rep = 0; rep < 6; rep++) {
            double t0 = ti_clock();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
                        0.0f, c, n);
            double t = ti_clock() - t0;
            if (rep > 0 && t < best)
                best = t;
        }
    }
    ti_free(a);
    ti_free(b);
    ti_free(c);
    openblas_set_num_threads(1);
    return best < 1e30 ? 2.0 * n * n * (double)n / best * 1e-9 : 0.0;
}

void bu_args(int argc, char **argv, int max_positional, const char *usage)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("Usage: %s %s\n", argv[0], usage);
            exit(0);
        }
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' || i > max_positional) {
            fprintf(stderr, "%s: unexpected argument '%s'\nUsage: %s %s\n", argv[0], argv[i],
                    argv[0], usage);
            exit(2);
        }
}
