/* Tests of the data sets and the batcher on tiny IDX and CIFAR files written here (plain and
 * gzip): values, shapes, every error path, the batcher's determinism and coverage, and the
 * augmentation's invariants (a crop/flip is the padded original shifted; padding is zero). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"
#include "thinice/data.h"

static char dir[256];

/* Writes bytes to dir/name, through gzip when the name ends in .gz. */
static void put_file(const char *name, const unsigned char *b, size_t n)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    size_t L = strlen(name);
    if (L > 3 && strcmp(name + L - 3, ".gz") == 0) {
        gzFile gz = gzopen(p, "wb");
        ck_assert_ptr_nonnull(gz);
        if (n)
            ck_assert_int_eq(gzwrite(gz, b, (unsigned)n), (int)n);
        gzclose(gz);
    } else {
        FILE *fp = fopen(p, "wb");
        ck_assert_ptr_nonnull(fp);
        if (n)
            ck_assert_uint_eq(fwrite(b, 1, n, fp), n);
        fclose(fp);
    }
}

static void del_file(const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static unsigned char pix(int seed, int i, int k)
{
    return (unsigned char)((seed * 31 + i * 57 + k * 13) & 255);
}

/* An IDX image file of n images of h x w (pixel k of image i = pix(seed, i, k)); `cut` bytes
 * removed from the end; a given magic. Returns the byte count written. */
static size_t idx_images(const char *name, uint32_t magic, int n, int h, int w, int seed,
                         size_t cut)
{
    size_t len = 16 + (size_t)n * h * w;
    unsigned char *b = malloc(len);
    be32(b, magic);
    be32(b + 4, (uint32_t)n);
    be32(b + 8, (uint32_t)h);
    be32(b + 12, (uint32_t)w);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < h * w; k++)
            b[16 + (size_t)i * h * w + k] = pix(seed, i, k);
    put_file(name, b, len - cut);
    free(b);
    return len - cut;
}

static void idx_labels(const char *name, int n, int seed, int bad_at)
{
    unsigned char *b = malloc(8 + (size_t)n);
    be32(b, 2049);
    be32(b + 4, (uint32_t)n);
    for (int i = 0; i < n; i++)
        b[8 + i] = (unsigned char)(i == bad_at ? 10 : (i + seed) % 10);
    put_file(name, b, 8 + (size_t)n);
    free(b);
}

static void fashion_files(void)
{
    idx_images("train-images-idx3-ubyte", 2051, 5, 3, 4, 1, 0);
    idx_labels("train-labels-idx1-ubyte", 5, 1, -1);
    idx_images("t10k-images-idx3-ubyte.gz", 2051, 3, 3, 4, 2, 0);
    idx_labels("t10k-labels-idx1-ubyte.gz", 3, 2, -1);
}

static void check_fashion(const ti_dataset *d, int n, int seed)
{
    ck_assert_str_eq(d->name, "fashion-mnist");
    ck_assert_int_eq(d->N, n);
    ck_assert_int_eq(d->C, 1);
    ck_assert_int_eq(d->H, 3);
    ck_assert_int_eq(d->W, 4);
    ck_assert_int_eq(d->M, 10);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(d->y[i], (i + seed) % 10);
        for (int k = 0; k < 12; k++)
            ck_assert(d->x[i * 12 + k] == (float)pix(seed, i, k) / 255.0f);
    }
}

static void assert_load_error(ti_ctx *ctx, const char *path, ti_split split, ti_status want,
                       const char *n1, const char *n2)
{
    ti_dataset *d = (ti_dataset *)1;
    ti_status st = ti_data_load(ctx, path, split, &d);
    const char *m = ti_ctx_errmsg(ctx);
    ck_assert_msg(st == want, "status %d, want %d: %s", st, want, m);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(m, n1) != NULL, "message lacks \"%s\": %s", n1, m);
    if (n2)
        ck_assert_msg(strstr(m, n2) != NULL, "message lacks \"%s\": %s", n2, m);
}

START_TEST(test_fashion_load)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tu_tmpdir_make(dir, sizeof dir, "data");
    fashion_files();
    ti_dataset *d;
    ck_assert_int_eq(ti_data_load(ctx, dir, TI_SPLIT_TRAIN, &d), TI_OK);
    check_fashion(d, 5, 1);
    ti_dataset_free(d);
    ck_assert_int_eq(ti_data_load(ctx, dir, TI_SPLIT_TEST, &d), TI_OK); /* the .gz pair */
    check_fashion(d, 3, 2);
    /* the first samples only: the same values as the whole split's first rows */
    ti_dataset *first;
    ck_assert_int_eq(ti_data_load_range(ctx, dir, TI_SPLIT_TEST, 0, 2, &first), TI_OK);
    ck_assert_int_eq(first->N, 2);
    ck_assert_int_eq(memcmp(first->x, d->x, 2 * (size_t)d->C * d->H * d->W * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(first->y, d->y, 2 * sizeof(int)), 0);
    ti_dataset_free(first);
    ck_assert_int_eq(ti_data_load_range(ctx, dir, TI_SPLIT_TEST, 0, 0, &first), TI_OK);
    ck_assert_int_eq(first->N, 3);
    ti_dataset_free(first);
    /* a range inside the split: the same rows; beyond it: refused, never clamped */
    ck_assert_int_eq(ti_data_load_range(ctx, dir, TI_SPLIT_TEST, 1, 2, &first), TI_OK);
    ck_assert_int_eq(first->N, 2);
    ck_assert_int_eq(first->y[0], d->y[1]);
    ti_dataset_free(first);
    ck_assert_int_eq(ti_data_load_range(ctx, dir, TI_SPLIT_TEST, 0, 4, &first), TI_ERR_ARG);
    ck_assert_ptr_null(first);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "has 3"));
    ck_assert_int_eq(ti_data_load_range(ctx, dir, TI_SPLIT_TEST, 3, 0, &first), TI_ERR_ARG);
    ti_dataset_free(d);
    ti_dataset_free(NULL);
    tu_tmpdir_remove(dir);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_fashion_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tu_tmpdir_make(dir, sizeof dir, "data");
    fashion_files();
    /* missing labels: the message names the file looked for */
    del_file("train-labels-idx1-ubyte");
    assert_load_error(ctx, dir, TI_SPLIT_TRAIN, TI_ERR_IO, "train-labels-idx1-ubyte", "missing");
    idx_labels("train-labels-idx1-ubyte", 5, 1, -1);
    /* truncated images: expected and found sizes */
    size_t got = idx_images("train-images-idx3-ubyte", 2051, 5, 3, 4, 1, 7);
    char found[64];
    snprintf(found, sizeof found, "found %zu", got);
    assert_load_error(ctx, dir, TI_SPLIT_TRAIN, TI_ERR_FORMAT, "expected 76 bytes", found);
    idx_images("train-images-idx3-ubyte", 2051, 5, 3, 4, 1, 70);
    assert_load_error(ctx, dir, TI_SPLIT_TRAIN, TI_ERR_FORMAT, "truncated", "header");
    /* wrong magic: the value found */
    idx_images("train-images-idx3-ubyte", 2049, 5, 3, 4, 1, 0);
    assert_load_error(ctx, dir, TI_SPLIT_TRAIN, TI_ERR_FORMAT, "magic number 2049", "train-images");
    idx_images("train-images-idx3-ubyte", 2051, 5, 3, 4, 1, 0);
    /* a label out of range */
    idx_labels("train-labels-idx1-ubyte", 5, 1, 3);
    assert_load_error(ctx, dir, TI_SPLIT_TRAIN, TI_ERR_FORMAT, "label 10 of sample 3", "train-labels");
    /* counts that disagree */
    idx_labels("train-labels-idx1-ubyte", 4, 1, -1);
    assert_load_error(ctx, dir, TI_SPLIT_TRAIN, TI_ERR_FORMAT, "5 images", "4 labels");
    /* a corrupt gzip file */
    put_file("t10k-images-idx3-ubyte.gz", (const unsigned char *)"\x1f\x8b\x08\x00garbage", 11);
    assert_load_error(ctx, dir, TI_SPLIT_TEST, TI_ERR_FORMAT, "t10k-images-idx3-ubyte.gz", NULL);
    /* not a directory, and a directory without either data set */
    char f[600];
    snprintf(f, sizeof f, "%s/train-images-idx3-ubyte", dir);
    assert_load_error(ctx, f, TI_SPLIT_TRAIN, TI_ERR_IO, "not a directory", NULL);
    tu_tmpdir_remove(dir);
    tu_tmpdir_make(dir, sizeof dir, "data");
    assert_load_error(ctx, dir, TI_SPLIT_TRAIN, TI_ERR_IO, "neither", dir);
    assert_load_error(ctx, NULL, TI_SPLIT_TRAIN, TI_ERR_ARG, "NULL", NULL);
    tu_tmpdir_remove(dir);
    ti_ctx_free(ctx);
}
END_TEST

/* CIFAR records: label = (rec + seed) % 10, byte p = pix(seed, rec, p); bad_at gets label 10 */
static void cifar_file(const char *name, int nrec, int seed, int bad_at, size_t cut)
{
    size_t len = (size_t)nrec * 3073;
    unsigned char *b = malloc(len);
    for (int r = 0; r < nrec; r++) {
        b[(size_t)r * 3073] = (unsigned char)(r == bad_at ? 10 : (r + seed) % 10);
        for (int p = 0; p < 3072; p++)
            b[(size_t)r * 3073 + 1 + p] = pix(seed, r, p);
    }
    put_file(name, b, len - cut);
    free(b);
}

static void cifar_files(void)
{
    char name[64];
    for (int i = 1; i <= 5; i++) {
        snprintf(name, sizeof name, i % 2 ? "data_batch_%d.bin.gz" : "data_batch_%d.bin", i);
        cifar_file(name, 2, i, -1, 0);
    }
    cifar_file("test_batch.bin", 3, 9, -1, 0);
}

START_TEST(test_cifar_load)
{
    ti_ctx *ctx = ti_ctx_new(1, 2); /* two threads: the batches are read in parallel */
    tu_tmpdir_make(dir, sizeof dir, "data");
    cifar_files();
    ti_dataset *d;
    ck_assert_int_eq(ti_data_load(ctx, dir, TI_SPLIT_TRAIN, &d), TI_OK);
    ck_assert_str_eq(d->name, "cifar10");
    ck_assert_int_eq(d->N, 10);
    ck_assert_int_eq(d->C, 3);
    ck_assert_int_eq(d->H, 32);
    ck_assert_int_eq(d->W, 32);
    /* files in order 1..5, records in order; channel planes land as (C, H, W) */
    for (int i = 0; i < 10; i++) {
        int file = i / 2 + 1, r = i % 2;
        ck_assert_int_eq(d->y[i], (r + file) % 10);
        for (int p = 0; p < 3072; p++)
            ck_assert(d->x[(size_t)i * 3072 + p] == (float)pix(file, r, p) / 255.0f);
    }
    /* pixel (c=1, h=2, w=5) of image 3 is byte 1 + 1024 + 2*32 + 5 of its record */
    ck_assert(d->x[3 * 3072 + 1024 + 64 + 5] == (float)pix(2, 1, 1024 + 64 + 5) / 255.0f);
    ti_dataset_free(d);
    ck_assert_int_eq(ti_data_load(ctx, dir, TI_SPLIT_TEST, &d), TI_OK);
    ck_assert_int_eq(d->N, 3);
    ck_assert_int_eq(d->y[2], (2 + 9) % 10);
    ti_dataset_free(d);

    /* errors: missing batch, partial record, bad label */
    del_file("data_batch_4.bin");
    assert_load_error(ctx, dir, TI_SPLIT_TRAIN, TI_ERR_IO, "data_batch_4.bin", "missing");
    cifar_file("data_batch_4.bin", 2, 4, -1, 100);
    assert_load_error(ctx, dir, TI_SPLIT_TRAIN, TI_ERR_FORMAT, "6046 bytes", "expected 6146");
    cifar_file("data_batch_4.bin", 2, 4, 1, 0);
    assert_load_error(ctx, dir, TI_SPLIT_TRAIN, TI_ERR_FORMAT, "label 10 of record 1", "data_batch_4");
    cifar_file("test_batch.bin", 0, 9, -1, 0);
    assert_load_error(ctx, dir, TI_SPLIT_TEST, TI_ERR_FORMAT, "test_batch.bin", "0 bytes");
    tu_tmpdir_remove(dir);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_slice)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tu_tmpdir_make(dir, sizeof dir, "data");
    fashion_files();
    ti_dataset *d, *s;
    ck_assert_int_eq(ti_data_load(ctx, dir, TI_SPLIT_TRAIN, &d), TI_OK);
    ck_assert_int_eq(ti_dataset_slice(ctx, d, 1, 3, &s), TI_OK);
    ck_assert_int_eq(s->N, 3);
    ck_assert_int_eq(s->H, 3);
    ck_assert_str_eq(s->name, "fashion-mnist");
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(s->y[i], d->y[i + 1]);
        ck_assert(memcmp(s->x + i * 12, d->x + (i + 1) * 12, 12 * sizeof(float)) == 0);
    }
    ti_dataset_free(s);
    ck_assert_int_eq(ti_dataset_slice(ctx, d, 5, 0, &s), TI_OK);
    ck_assert_int_eq(s->N, 0);
    ti_dataset_free(s);
    s = (ti_dataset *)1;
    ck_assert_int_eq(ti_dataset_slice(ctx, d, 3, 3, &s), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "[3, 6)"));
    ck_assert_ptr_null(s);
    ck_assert_int_eq(ti_dataset_slice(ctx, d, -1, 1, &s), TI_ERR_ARG);
    ti_dataset_free(d);
    tu_tmpdir_remove(dir);
    ti_ctx_free(ctx);
}
END_TEST

/* A synthetic data set: image i is filled with values (i + 1) / 1000 + k * 1e-6, all > 0 */
static ti_dataset *synth(int N, int C, int H, int W)
{
    ti_dataset *d = calloc(1, sizeof *d);
    snprintf(d->name, sizeof d->name, "synthetic");
    d->N = N, d->C = C, d->H = H, d->W = W, d->M = 10;
    size_t per = (size_t)C * H * W;
    d->x = ti_alloc((size_t)N * per * sizeof(float));
    d->y = ti_alloc((size_t)N * sizeof(int));
    for (int i = 0; i < N; i++) {
        d->y[i] = i % 10;
        for (size_t k = 0; k < per; k++)
            d->x[i * per + k] = (float)(i + 1) / 1000.0f + (float)k * 1e-6f;
    }
    return d;
}

/* Runs one epoch; order gets the indices; returns the number of batches. */
static int run_epoch(ti_batcher *b, const ti_dataset *d, int batch, int *order)
{
    size_t per = (size_t)d->C * d->H * d->W;
    float *x = malloc((size_t)batch * per * sizeof(float));
    int *y = malloc((size_t)batch * sizeof(int)), *idx = malloc((size_t)batch * sizeof(int));
    int n, nb = 0, got = 0;
    for (;;) {
        ti_batcher_next(b, x, y, idx, &n);
        if (n == 0)
            break;
        ck_assert_int_le(n, batch);
        for (int k = 0; k < n; k++) {
            ck_assert_int_eq(y[k], d->y[idx[k]]);
            order[got++] = idx[k];
        }
        nb++;
    }
    ck_assert_int_eq(got, d->N);
    free(x);
    free(y);
    free(idx);
    return nb;
}

START_TEST(test_batcher_order)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_dataset *d = synth(103, 1, 2, 2);
    ti_batcher *a, *b, *c, *plain;
    ck_assert_int_eq(ti_batcher_new(ctx, d, 10, 1, 0, 7, &a), TI_OK);
    ck_assert_int_eq(ti_batcher_new(ctx, d, 10, 1, 0, 7, &b), TI_OK);
    ck_assert_int_eq(ti_batcher_new(ctx, d, 10, 1, 0, 8, &c), TI_OK);
    ck_assert_int_eq(ti_batcher_new(ctx, d, 10, 0, 0, 7, &plain), TI_OK);
    ck_assert_int_eq(ti_batcher_batches_per_epoch(a), 11);
    int oa[103], ob[103], oc[103], oa2[103], op[103];
    ck_assert_int_eq(run_epoch(a, d, 10, oa), 11);
    ck_assert_int_eq(ti_batcher_epoch(a), 1);
    run_epoch(b, d, 10, ob);
    run_epoch(c, d, 10, oc);
    run_epoch(plain, d, 10, op);
    ck_assert(memcmp(oa, ob, sizeof oa) == 0); /* same seed, same order */
    ck_assert(memcmp(oa, oc, sizeof oa) != 0); /* another seed, another order */
    int seen[103] = {0}, moved = 0;
    for (int i = 0; i < 103; i++) {
        seen[oa[i]]++;
        moved += oa[i] != i;
        ck_assert_int_eq(op[i], i); /* no shuffle: data set order */
    }
    for (int i = 0; i < 103; i++)
        ck_assert_int_eq(seen[i], 1); /* every index once per epoch */
    ck_assert_int_gt(moved, 50);
    /* the next epoch has a new order, again a permutation */
    run_epoch(a, d, 10, oa2);
    ck_assert(memcmp(oa, oa2, sizeof oa) != 0);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 103; i++)
        seen[oa2[i]]++;
    for (int i = 0; i < 103; i++)
        ck_assert_int_eq(seen[i], 1);
    /* resuming at epoch 1 reproduces it; going back to 0 reproduces the first */
    ti_batcher_set_epoch(b, 1);
    run_epoch(b, d, 10, ob);
    ck_assert(memcmp(oa2, ob, sizeof oa) == 0);
    ti_batcher_set_epoch(c, 0);
    run_epoch(c, d, 10, oc);
    ck_assert(memcmp(oa, oc, sizeof oa) != 0);
    ti_batcher_free(a);
    ti_batcher_free(b);
    ti_batcher_free(c);
    ti_batcher_free(plain);
    ti_batcher_free(NULL);

    /* errors */
    ti_batcher *e = (ti_batcher *)1;
    ck_assert_int_eq(ti_batcher_new(ctx, d, 0, 1, 0, 1, &e), TI_ERR_ARG);
    ck_assert_ptr_null(e);
    ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    ti_dataset empty = {.name = "empty"};
    ck_assert_int_eq(ti_batcher_new(ctx, &empty, 4, 1, 0, 1, &e), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "empty"));
    ti_dataset_free(d);
    ti_ctx_free(ctx);
}
END_TEST

/* Is out the image src padded by 4, cropped at (dy, dx) and then flipped? Built the slow way:
 * an explicit padded copy, a crop, then a mirror of the crop. */
static int is_aug_of(const float *out, const float *src, int C, int H, int W, int dy, int dx,
                     int flip)
{
    int PH = H + 8, PW = W + 8;
    float *pad = calloc((size_t)C * PH * PW, sizeof(float));
    for (int c = 0; c < C; c++)
        for (int r = 0; r < H; r++)
            for (int j = 0; j < W; j++)
                pad[(c * PH + r + 4) * PW + j + 4] = src[(c * H + r) * W + j];
    int ok = 1;
    for (int c = 0; c < C && ok; c++)
        for (int r = 0; r < H && ok; r++)
            for (int j = 0; j < W && ok; j++) {
                int jj = flip ? W - 1 - j : j;
                ok = out[(c * H + r) * W + j] == pad[(c * PH + r + dy) * PW + jj + dx];
            }
    free(pad);
    return ok;
}

START_TEST(test_batcher_augment)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    const int N = 400, C = 3, H = 6, W = 5, B = 64;
    ti_dataset *d = synth(N, C, H, W);
    size_t per = (size_t)C * H * W;
    ti_batcher *b, *b2;
    ck_assert_int_eq(ti_batcher_new(ctx, d, B, 1, 1, 11, &b), TI_OK);
    ck_assert_int_eq(ti_batcher_new(ctx, d, B, 1, 1, 11, &b2), TI_OK);
    float *x = malloc(B * per * sizeof(float)), *x2 = malloc(B * per * sizeof(float));
    int y[64], idx[64], y2[64], idx2[64], n, n2;
    int flips = 0, total = 0, crops[9][9] = {{0}}, identity = 0;
    for (;;) {
        ti_batcher_next(b, x, y, idx, &n);
        ti_batcher_next(b2, x2, y2, idx2, &n2);
        ck_assert_int_eq(n, n2);
        if (n == 0)
            break;
        /* the same seed gives the same crops and flips */
        ck_assert(memcmp(x, x2, (size_t)n * per * sizeof(float)) == 0);
        for (int k = 0; k < n; k++) {
            const float *o = x + k * per, *s = d->x + (size_t)idx[k] * per;
            int found = 0;
            for (int dy = 0; dy < 9 && !found; dy++)
                for (int dx = 0; dx < 9 && !found; dx++)
                    for (int f = 0; f < 2 && !found; f++)
                        if (is_aug_of(o, s, C, H, W, dy, dx, f)) {
                            found = 1;
                            flips += f;
                            crops[dy][dx]++;
                            identity += dy == 4 && dx == 4 && !f;
                        }
            ck_assert_msg(found, "sample %d is no crop/flip of its original", idx[k]);
            total++;
        }
    }
    ck_assert_int_eq(total, N);
    /* flips about half the time, and the 81 crop offsets spread out (400 draws miss any
     * given offset with probability (80/81)^400 < 1%, so nearly all appear) */
    ck_assert_int_gt(flips, N * 4 / 10);
    ck_assert_int_lt(flips, N * 6 / 10);
    int distinct = 0;
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 9; j++)
            distinct += crops[i][j] > 0;
    ck_assert_int_gt(distinct, 70);
    ck_assert_int_lt(identity, N / 20);
    free(x);
    free(x2);
    ti_batcher_free(b);
    ti_batcher_free(b2);
    ti_dataset_free(d);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_data(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_fashion_load);
    tcase_add_test(tc, test_fashion_errors);
    tcase_add_test(tc, test_cifar_load);
    tcase_add_test(tc, test_slice);
    suite_add_tcase(s, tc);
    tc = tcase_create("batcher");
    tcase_add_test(tc, test_batcher_order);
    tcase_add_test(tc, test_batcher_augment);
    suite_add_tcase(s, tc);
    return s;
}
