/* Data sets: Fashion-MNIST (IDX files, plain or gzip) and CIFAR-10 (binary batches, plain or
 * gzip), as float images in [0,1] (N, C, H, W) with integer labels, and a mini-batch iterator
 * with seeded shuffling and CIFAR augmentation. Any mean/std normalisation belongs inside the
 * model, never here. */
#ifndef THINICE_DATA_H
#define THINICE_DATA_H

#include "thinice/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ti_dataset {
    char name[32];   /* "fashion-mnist" or "cifar10" */
    int N, C, H, W;  /* N samples of C x H x W */
    int M;           /* classes (10) */
    float *x;        /* (N, C, H, W) in [0,1], owned */
    int *y;          /* (N) in [0, M), owned */
} ti_dataset;

typedef enum ti_split { TI_SPLIT_TRAIN = 0, TI_SPLIT_TEST, TI_SPLIT_COUNT } ti_split;

/* Loads a split from `path` into a new data set (free with ti_dataset_free; x and y are
 * 64-byte aligned, from ti_alloc): a directory holding either Fashion-MNIST's four IDX files
 * ({train,t10k}-{images-idx3,labels-idx1}-ubyte, each optionally .gz) or CIFAR-10's binary
 * batches (data_batch_1..5.bin, test_batch.bin, each optionally .gz); the kind is detected
 * from the names. A missing, truncated, wrong-magic or mislabeled file is TI_ERR_IO /
 * TI_ERR_FORMAT with a message naming the file and the problem. */
ti_status ti_data_load(ti_ctx *ctx, const char *path, ti_split split, ti_dataset **out);
/* The default data directory (Debian's dataset-fashion-mnist). */
#define TI_DATA_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
void ti_dataset_free(ti_dataset *d);
/* ti_data_load keeping only the samples offset .. offset + count - 1 (count <= 0: all from
 * offset): what every app's --offset, --count, --train-count and --test-count do. A range
 * beyond the split is refused (TI_ERR_ARG, naming the split and its size), never clamped. */
ti_status ti_data_load_range(ti_ctx *ctx, const char *path, ti_split split, int offset,
                             int count,
                             ti_dataset **out);
/* A new data set holding samples [offset, offset + count) of d (copied). */
ti_status ti_dataset_slice(ti_ctx *ctx, const ti_dataset *d, int offset, int count,
                           ti_dataset **out);

/* Mini-batches over a data set. Each epoch draws a new permutation from the generator (when
 * shuffle is on); with augment on, each image is zero-padded by 4, randomly cropped back to
 * H x W and flipped horizontally with probability 1/2 (the CIFAR recipe). The last batch of
 * an epoch may be smaller. The batcher has its own generator seeded with `seed`; epoch e's
 * order and crops depend only on (seed, e), never on the context's generator. The data set
 * is borrowed and must outlive the batcher. batch <= 0 or an empty data set is TI_ERR_ARG. */
typedef struct ti_batcher ti_batcher;
ti_status ti_batcher_new(ti_ctx *ctx, const ti_dataset *d, int batch, int shuffle, int augment,
                         uint64_t seed, ti_batcher **out);
void ti_batcher_free(ti_batcher *b);
/* Fills x (batch, C, H, W) and y (batch) with the next batch; *n gets its size, 0 at the end
 * of the epoch (then the next call starts a new epoch). idx (may be NULL) gets the data set
 * indices of the samples. */
void ti_batcher_next(ti_batcher *b, float *x, int *y, int *idx, int *n);
int ti_batcher_batches_per_epoch(const ti_batcher *b);
/* The epoch the batcher is in (0 first); it advances when ti_batcher_next returns *n = 0. */
long ti_batcher_epoch(const ti_batcher *b);
/* Restarts at the beginning of epoch e (for --resume): the batches that follow are those an
 * uninterrupted run would produce in epoch e. */
void ti_batcher_set_epoch(ti_batcher *b, long epoch);

#ifdef __cplusplus
}
#endif
#endif
