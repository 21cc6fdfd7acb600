/* libFuzzer harness: the data set loaders (Fashion-MNIST's IDX files and CIFAR-10's binary
 * batches, plain or gzip: the reader inflates whatever starts with gzip's magic). They read a
 * directory, so the input becomes files in the scratch directory:
 *   byte 0      bits 0-1: 0 Fashion-MNIST test, 1 Fashion-MNIST train, 2 CIFAR-10 test,
 *               3 CIFAR-10 train; bits 2-4 and 5-7: the first sample and the number of
 *               samples ti_data_load_range keeps (0: all from the first)
 *   Fashion     bytes 1-2: length L of the image file (little-endian, cut to what is left),
 *               then L bytes of images-idx3, then the labels-idx1 file (the rest)
 *   CIFAR-10    the rest is the batch file (for the train split, each of the five) */
#include "fuzz.h"
#include "thinice/data.h"

static const char *const names[] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",  "data_batch_1.bin",        "data_batch_2.bin",
    "data_batch_3.bin",        "data_batch_4.bin",        "data_batch_5.bin",
    "test_batch.bin",
};

/* A loaded data set must be what the loaders promise: pixels in [0,1], labels 0..9. */
static void check_dataset(const ti_dataset *d)
{
    size_t per = (size_t)d->C * d->H * d->W;
    if (d->N < 1 || d->M != 10 || per == 0)
        abort();
    for (size_t i = 0; i < (size_t)d->N * per; i++)
        if (!(d->x[i] >= 0.0f && d->x[i] <= 1.0f))
            abort();
    for (int i = 0; i < d->N; i++)
        if (d->y[i] < 0 || d->y[i] >= d->M)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ti_ctx *ctx = fuzz_ctx();
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        unlink(fuzz_path(names[i]));
    int mode = data[0] & 3, offset = data[0] >> 2 & 7, count = data[0] >> 5;
    ti_split split = mode & 1 ? TI_SPLIT_TRAIN : TI_SPLIT_TEST;
    data++, size--;
    if (mode < 2) {
        size_t L = size >= 2 ? (size_t)data[0] | (size_t)data[1] << 8 : 0;
        size_t skip = size >= 2 ? 2 : size;
        data += skip, size -= skip;
        if (L > size)
            L = size;
        const char *pre = split == TI_SPLIT_TRAIN ? "train" : "t10k";
        char name[64];
        snprintf(name, sizeof name, "%s-images-idx3-ubyte", pre);
        fuzz_write(fuzz_path(name), data, L);
        snprintf(name, sizeof name, "%s-labels-idx1-ubyte", pre);
        fuzz_write(fuzz_path(name), data + L, size - L);
    } else if (split == TI_SPLIT_TEST) {
        fuzz_write(fuzz_path("test_batch.bin"), data, size);
    } else {
        for (int i = 4; i < 9; i++)
            fuzz_write(fuzz_path(names[i]), data, size);
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", fuzz_path(""));
    ti_dataset *d = NULL;
    ti_ctx_clear_error(ctx);
    ti_status st = ti_data_load_range(ctx, dir, split, offset, count, &d);
    fuzz_check_status(st);
    if ((st == TI_OK) != (d != NULL))
        abort();
    if (d) {
        check_dataset(d);
        if (count > 0 && d->N != count)
            abort();
    }
    ti_dataset_free(d);
    return 0;
}
