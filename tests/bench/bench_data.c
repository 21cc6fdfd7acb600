/* Loads the real data sets, times it, and checks facts known about them: Fashion-MNIST from
 * Debian's dataset-fashion-mnist (60000/10000 images of 28x28, 6000/1000 per class) and, if
 * present, CIFAR-10 from ../shared/data/cifar10 (50000/10000, 5000/1000 per class, test
 * labels 0-4 = 3, 8, 8, 0, 6). Exits non-zero if a fact fails or a present set won't load. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"
#include "thinice/data.h"

static int failures;

#define FACT(cond, ...)                                                                      \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            printf("  FAIL: ");                                                              \
            printf(__VA_ARGS__);                                                             \
            printf("\n");                                                                    \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

static ti_dataset *load(ti_ctx *ctx, const char *dir, ti_split split)
{
    ti_dataset *d = NULL;
    double t = ti_clock();
    ti_status st = ti_data_load(ctx, dir, split, &d);
    t = ti_clock() - t;
    if (st != TI_OK) {
        printf("  FAIL: %s\n", ti_ctx_errmsg(ctx));
        failures++;
        return NULL;
    }
    printf("  %-13s %-5s %6d x %dx%dx%d loaded in %.3f s (%.0f MB of floats)\n", d->name,
           split == TI_SPLIT_TRAIN ? "train" : "test", d->N, d->C, d->H, d->W, t,
           (double)d->N * d->C * d->H * d->W * 4 / 1e6);
    return d;
}

/* Every class has `per` samples; pixel values lie in [0, 1] and use the full range. */
static void check_common(const ti_dataset *d, int n, int c, int hw, int per)
{
    FACT(d->N == n, "%s: %d samples, expected %d", d->name, d->N, n);
    FACT(d->C == c && d->H == hw && d->W == hw, "%s: images %dx%dx%d, expected %dx%dx%d",
         d->name, d->C, d->H, d->W, c, hw, hw);
    int count[10] = {0};
    for (int i = 0; i < d->N; i++)
        if (d->y[i] >= 0 && d->y[i] < 10)
            count[d->y[i]]++;
    for (int k = 0; k < 10; k++)
        FACT(count[k] == per, "%s: class %d has %d samples, expected %d", d->name, k, count[k],
             per);
    size_t np = (size_t)d->N * d->C * d->H * d->W;
    float lo = 1, hi = 0;
    double sum = 0;
    for (size_t i = 0; i < np; i++) {
        float v = d->x[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    FACT(lo == 0.0f && hi == 1.0f, "%s: pixels span [%g, %g], expected [0, 1]", d->name, lo, hi);
    printf("  %-13s mean pixel %.4f\n", d->name, sum / (double)np);
}

int main(int argc, char **argv)
{
    bu_args(argc, argv, 2, "[FASHION_MNIST_DIR [CIFAR10_DIR]]");
    const char *fashion = TI_DATA_DEFAULT_DIR, *cifar = "../shared/data/cifar10";
    if (argc > 1)
        fashion = argv[1];
    if (argc > 2)
        cifar = argv[2];
    ti_ctx *ctx = ti_ctx_new(0, 0); /* all cores: CIFAR batches inflate in parallel */
    struct stat sb;

    printf("Fashion-MNIST (%s)\n", fashion);
    ti_dataset *d = load(ctx, fashion, TI_SPLIT_TRAIN);
    if (d) {
        check_common(d, 60000, 1, 28, 6000);
        ti_dataset_free(d);
    }
    if ((d = load(ctx, fashion, TI_SPLIT_TEST))) {
        check_common(d, 10000, 1, 28, 1000);
        ti_dataset_free(d);
    }

    if (stat(cifar, &sb) == 0) {
        printf("CIFAR-10 (%s)\n", cifar);
        if ((d = load(ctx, cifar, TI_SPLIT_TRAIN))) {
            check_common(d, 50000, 3, 32, 5000);
            ti_dataset_free(d);
        }
        if ((d = load(ctx, cifar, TI_SPLIT_TEST))) {
            check_common(d, 10000, 3, 32, 1000);
            static const int first[5] = {3, 8, 8, 0, 6};
            for (int i = 0; i < 5 && d->N >= 5; i++)
                FACT(d->y[i] == first[i], "cifar10 test label %d is %d, expected %d", i, d->y[i],
                     first[i]);
            ti_dataset_free(d);
        }
    } else {
        printf("CIFAR-10: %s not present, skipped\n", cifar);
    }
    ti_ctx_free(ctx);
    printf("%s: %d failed\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
