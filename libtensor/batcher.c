/* Mini-batches over a data set: a Fisher-Yates permutation per epoch and the standard CIFAR
 * augmentation (He et al. 2016, sec. 4.2: pad 4 with zeros, random 32x32 crop, horizontal
 * flip with p = 1/2; torchvision's RandomCrop(32, padding=4) + RandomHorizontalFlip). */
#include <stdlib.h>
#include <string.h>

#include "thinice/data.h"

#define AUG_PAD 4

struct ti_batcher {
    const ti_dataset *d;  /* borrowed */
    int batch, shuffle, augment;
    ti_rng base;          /* seeded once; never advanced */
    ti_rng rng;           /* this epoch's stream: split from base by the epoch number */
    int *perm;            /* (N) sample order of the current epoch */
    int pos;              /* next position in perm */
    long epoch;
    int started;          /* the current epoch's permutation has been drawn */
};

ti_status ti_batcher_new(ti_ctx *ctx, const ti_dataset *d, int batch, int shuffle, int augment,
                         uint64_t seed, ti_batcher **out)
{
    if (out)
        *out = NULL;
    if (!d || !out)
        return ti_ctx_error(ctx, TI_ERR_ARG, "batcher: NULL argument");
    if (d->N <= 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "batcher: data set %s is empty", d->name);
    if (batch <= 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "batcher: batch size %d must be positive", batch);
    ti_batcher *b = calloc(1, sizeof *b);
    if (!b || !(b->perm = malloc((size_t)d->N * sizeof(int)))) {
        free(b);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "batcher: out of memory");
    }
    b->d = d;
    b->batch = batch;
    b->shuffle = shuffle;
    b->augment = augment;
    ti_rng_seed(&b->base, seed);
    *out = b;
    return TI_OK;
}

void ti_batcher_free(ti_batcher *b)
{
    if (!b)
        return;
    free(b->perm);
    free(b);
}

int ti_batcher_batches_per_epoch(const ti_batcher *b)
{
    return (b->d->N + b->batch - 1) / b->batch;
}

long ti_batcher_epoch(const ti_batcher *b)
{
    return b->epoch;
}

void ti_batcher_set_epoch(ti_batcher *b, long epoch)
{
    b->epoch = epoch;
    b->started = 0;
    b->pos = 0;
}

/* Each epoch's stream depends only on (seed, epoch), so a resumed run that sets the epoch
 * sees the same order and the same crops as an uninterrupted one. */
static void start_epoch(ti_batcher *b)
{
    ti_rng_split(&b->rng, &b->base, (uint64_t)b->epoch);
    for (int i = 0; i < b->d->N; i++)
        b->perm[i] = i;
    if (b->shuffle)
        ti_rng_shuffle(&b->rng, b->perm, (size_t)b->d->N);
    b->pos = 0;
    b->started = 1;
}

/* out = flip?(crop(pad(src))): out[c][r][j] = src[c][r + dy - 4][j' + dx - 4] with
 * j' = W-1-j when flipped, and 0 where that falls in the padding. */
static void augment_one(float *out, const float *src, int C, int H, int W, int dy, int dx,
                        int flip)
{
    for (int c = 0; c < C; c++) {
        const float *s = src + (size_t)c * H * W;
        float *o = out + (size_t)c * H * W;
        for (int r = 0; r < H; r++) {
            int sr = r + dy - AUG_PAD;
            float *orow = o + (size_t)r * W;
            if (sr < 0 || sr >= H) {
                memset(orow, 0, (size_t)W * sizeof(float));
                continue;
            }
            const float *srow = s + (size_t)sr * W;
            for (int j = 0; j < W; j++) {
                int sc = (flip ? W - 1 - j : j) + dx - AUG_PAD;
                orow[j] = sc >= 0 && sc < W ? srow[sc] : 0.0f;
            }
        }
    }
}

void ti_batcher_next(ti_batcher *b, float *x, int *y, int *idx, int *n)
{
    const ti_dataset *d = b->d;
    if (!b->started)
        start_epoch(b);
    if (b->pos >= d->N) {
        *n = 0;
        b->epoch++;
        b->started = 0;
        return;
    }
    int m = d->N - b->pos < b->batch ? d->N - b->pos : b->batch;
    size_t per = (size_t)d->C * d->H * d->W;
    for (int k = 0; k < m; k++) {
        int i = b->perm[b->pos + k];
        const float *src = d->x + (size_t)i * per;
        if (b->augment) {
            int dy = (int)ti_rng_below(&b->rng, 2 * AUG_PAD + 1);
            int dx = (int)ti_rng_below(&b->rng, 2 * AUG_PAD + 1);
            int flip = (int)(ti_rng_u64(&b->rng) >> 63);
            augment_one(x + (size_t)k * per, src, d->C, d->H, d->W, dy, dx, flip);
        } else {
            memcpy(x + (size_t)k * per, src, per * sizeof(float));
        }
        y[k] = d->y[i];
        if (idx)
            idx[k] = i;
    }
    b->pos += m;
    *n = m;
}
