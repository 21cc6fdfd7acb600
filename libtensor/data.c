/* Data set loaders: Fashion-MNIST in the IDX format of LeCun's MNIST page (big-endian magic
 * 2051/2049 and dimensions, then bytes) and CIFAR-10's binary batches (Krizhevsky 2009:
 * 3073-byte records, label then the R, G, B planes), plain or gzip. Pixels become p / 255. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "thinice/data.h"
#include "thinice/fileio.h"
#include "io_internal.h"

#define NCLASS 10
#define CIFAR_RECORD 3073
#define CIFAR_PIXELS 3072
#define CIFAR_TRAIN_FILES 5

/* pixel byte -> float in [0,1]: a table is faster than a division per pixel, and gives the
 * same value as (float)p / 255.0f (what torchvision's ToTensor computes) */
static void byte_lut(float lut[256])
{
    for (int i = 0; i < 256; i++)
        lut[i] = (float)i / 255.0f;
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Finds dir/base or dir/base.gz; writes the one found into out. */
static int find_file(const char *dir, const char *base, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, base);
    if (is_file(out))
        return 1;
    snprintf(out, cap, "%s/%s.gz", dir, base);
    return is_file(out);
}

static ti_status missing(ti_ctx *ctx, const char *kind, const char *dir, const char *base)
{
    return ti_ctx_error(ctx, TI_ERR_IO, "%s: missing file %s/%s (also looked for %s.gz)", kind,
                        dir, base, base);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static ti_dataset *dataset_new(const char *name, int N, int C, int H, int W)
{
    ti_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    snprintf(d->name, sizeof d->name, "%s", name);
    d->N = N;
    d->C = C;
    d->H = H;
    d->W = W;
    d->M = NCLASS;
    d->x = ti_alloc((size_t)N * C * H * W * sizeof(float));
    d->y = ti_alloc((size_t)N * sizeof(int));
    if (!d->x || !d->y) {
        ti_dataset_free(d);
        return NULL;
    }
    return d;
}

void ti_dataset_free(ti_dataset *d)
{
    if (!d)
        return;
    ti_free(d->x);
    ti_free(d->y);
    free(d);
}

/* ---- Fashion-MNIST (IDX) ----------------------------------------------------------------- */

/* Reads an IDX file, checks its magic and that its size is exactly header + payload; *count,
 * *rows, *cols get the dimensions (rows = cols = 1 for a label file). */
static ti_status read_idx(ti_ctx *ctx, const char *path, uint32_t magic, unsigned char **buf,
                          size_t *len, uint32_t *count, uint32_t *rows, uint32_t *cols)
{
    char *data;
    ti_status st = ti_read_file(ctx, path, &data, len);
    if (st != TI_OK)
        return st;
    unsigned char *u = (unsigned char *)data;
    size_t hdr = magic == 2051 ? 16 : 8;
    const char *what = magic == 2051 ? "IDX image file (idx3)" : "IDX label file (idx1)";
    if (*len < hdr) {
        free(data);
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: truncated: expected at least %zu header "
                            "bytes, found %zu", path, hdr, *len);
    }
    uint32_t m = be32(u);
    if (m != magic) {
        free(data);
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: wrong magic number %u (0x%08x), expected "
                            "%u (0x%08x) for an %s", path, m, m, magic, magic, what);
    }
    *count = be32(u + 4);
    *rows = magic == 2051 ? be32(u + 8) : 1;
    *cols = magic == 2051 ? be32(u + 12) : 1;
    if (*count == 0 || *count > (1u << 30) || *rows == 0 || *cols == 0 || *rows > 4096 ||
        *cols > 4096) {
        free(data);
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: implausible dimensions %u x %u x %u", path,
                            *count, *rows, *cols);
    }
    uint64_t expect = hdr + (uint64_t)*count * *rows * *cols;
    if (*len != expect) {
        free(data);
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: %s: expected %llu bytes (%u items of "
                            "%ux%u), found %zu", path, *len < expect ? "truncated" : "too long",
                            (unsigned long long)expect, *count, *rows, *cols, *len);
    }
    *buf = u;
    return TI_OK;
}

static ti_status load_fashion(ti_ctx *ctx, const char *dir, ti_split split, ti_dataset **out)
{
    const char *pre = split == TI_SPLIT_TRAIN ? "train" : "t10k";
    char ib[64], lb[64], ipath[4200], lpath[4200];
    snprintf(ib, sizeof ib, "%s-images-idx3-ubyte", pre);
    snprintf(lb, sizeof lb, "%s-labels-idx1-ubyte", pre);
    if (!find_file(dir, ib, ipath, sizeof ipath))
        return missing(ctx, "fashion-mnist", dir, ib);
    if (!find_file(dir, lb, lpath, sizeof lpath))
        return missing(ctx, "fashion-mnist", dir, lb);
    unsigned char *img = NULL, *lab = NULL;
    size_t ilen, llen;
    uint32_t n, h, w, nl, one;
    ti_status st = read_idx(ctx, ipath, 2051, &img, &ilen, &n, &h, &w);
    if (st != TI_OK)
        return st;
    st = read_idx(ctx, lpath, 2049, &lab, &llen, &nl, &one, &one);
    if (st != TI_OK) {
        free(img);
        return st;
    }
    if (nl != n) {
        st = ti_ctx_error(ctx, TI_ERR_FORMAT, "fashion-mnist: %s holds %u images but %s holds "
                          "%u labels", ipath, n, lpath, nl);
        goto done;
    }
    for (uint32_t i = 0; i < n; i++)
        if (lab[8 + i] >= NCLASS) {
            st = ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: label %u of sample %u is not a class "
                              "0..9", lpath, lab[8 + i], i);
            goto done;
        }
    ti_dataset *d = dataset_new("fashion-mnist", (int)n, 1, (int)h, (int)w);
    if (!d) {
        st = ti_ctx_error(ctx, TI_ERR_NOMEM, "fashion-mnist: cannot allocate %u images", n);
        goto done;
    }
    float lut[256];
    byte_lut(lut);
    size_t np = (size_t)n * h * w;
    const unsigned char *px = img + 16;
    for (size_t i = 0; i < np; i++)
        d->x[i] = lut[px[i]];
    for (uint32_t i = 0; i < n; i++)
        d->y[i] = lab[8 + i];
    *out = d;
done:
    free(img);
    free(lab);
    return st;
}

/* ---- CIFAR-10 (binary batches) ----------------------------------------------------------- */

/* One batch file: read and checked in a worker thread, then converted into its slice of x. */
typedef struct cifar_job {
    const char *path;
    char *raw;
    size_t len, nrec;
    ti_status st;
    char err[1024];
    float *x;         /* (nrec, 3, 32, 32): this file's slice of the data set */
    int *y;           /* (nrec) */
    const float *lut;
} cifar_job;

static void cifar_read(cifar_job *j)
{
    j->st = ti__read_file_msg(j->path, &j->raw, &j->len, j->err, sizeof j->err);
    if (j->st != TI_OK)
        return;
    if (j->len == 0 || j->len % CIFAR_RECORD != 0) {
        size_t whole = j->len / CIFAR_RECORD;
        snprintf(j->err, sizeof j->err, "%s: %zu bytes is not a whole number of %d-byte "
                 "records (truncated? expected %zu bytes for %zu records)", j->path, j->len,
                 CIFAR_RECORD, (whole + 1) * CIFAR_RECORD, whole + 1);
        j->st = TI_ERR_FORMAT;
        return;
    }
    j->nrec = j->len / CIFAR_RECORD;
    const unsigned char *u = (const unsigned char *)j->raw;
    for (size_t r = 0; r < j->nrec; r++)
        if (u[r * CIFAR_RECORD] >= NCLASS) {
            snprintf(j->err, sizeof j->err, "%s: label %u of record %zu is not a class 0..9",
                     j->path, u[r * CIFAR_RECORD], r);
            j->st = TI_ERR_FORMAT;
            return;
        }
}

static void cifar_convert(cifar_job *j)
{
    const unsigned char *u = (const unsigned char *)j->raw;
    /* a record's planes are already in (C, H, W) order */
    for (size_t r = 0; r < j->nrec; r++) {
        const unsigned char *rec = u + r * CIFAR_RECORD + 1;
        float *x = j->x + r * CIFAR_PIXELS;
        j->y[r] = u[r * CIFAR_RECORD];
        for (int p = 0; p < CIFAR_PIXELS; p++)
            x[p] = j->lut[rec[p]];
    }
    free(j->raw);
    j->raw = NULL;
}

typedef struct worker {
    cifar_job *jobs;
    int njobs, first, step;
    void (*fn)(cifar_job *);
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = w->first; i < w->njobs; i += w->step)
        w->fn(&w->jobs[i]);
    return NULL;
}

/* Runs fn on every job with up to `threads` threads (job i on thread i mod threads): the
 * batches are independent, and inflating 150 MB is the slow part of loading CIFAR-10. */
static void run_jobs(cifar_job *jobs, int njobs, int threads, void (*fn)(cifar_job *))
{
    if (threads > njobs)
        threads = njobs;
    if (threads < 1)
        threads = 1;
    if (threads > CIFAR_TRAIN_FILES)
        threads = CIFAR_TRAIN_FILES;
    pthread_t tid[CIFAR_TRAIN_FILES];
    worker w[CIFAR_TRAIN_FILES];
    int started[CIFAR_TRAIN_FILES] = {0};
    for (int t = 0; t < threads; t++) {
        w[t] = (worker){jobs, njobs, t, threads, fn};
        if (t > 0)
            started[t] = pthread_create(&tid[t], NULL, worker_main, &w[t]) == 0;
    }
    worker_main(&w[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            worker_main(&w[t]); /* no thread to be had: do its share here */
    }
}

static ti_status load_cifar(ti_ctx *ctx, const char *dir, ti_split split, ti_dataset **out)
{
    char names[CIFAR_TRAIN_FILES][32], paths[CIFAR_TRAIN_FILES][4200];
    cifar_job jobs[CIFAR_TRAIN_FILES];
    memset(jobs, 0, sizeof jobs);
    int nf = split == TI_SPLIT_TRAIN ? CIFAR_TRAIN_FILES : 1;
    for (int i = 0; i < nf; i++) {
        if (split == TI_SPLIT_TRAIN)
            snprintf(names[i], sizeof names[i], "data_batch_%d.bin", i + 1);
        else
            snprintf(names[i], sizeof names[i], "test_batch.bin");
        if (!find_file(dir, names[i], paths[i], sizeof paths[i]))
            return missing(ctx, "cifar10", dir, names[i]);
        jobs[i].path = paths[i];
    }
    int threads = ctx ? ti_ctx_threads(ctx) : 1;
    /* read and check every file first, so that the images are allocated once */
    run_jobs(jobs, nf, threads, cifar_read);
    ti_status st = TI_OK;
    size_t total = 0;
    for (int i = 0; i < nf; i++) {
        if (jobs[i].st != TI_OK && st == TI_OK)
            st = ti_ctx_error(ctx, jobs[i].st, "%s", jobs[i].err);
        total += jobs[i].nrec;
    }
    if (st == TI_OK && total > (1u << 30))
        st = ti_ctx_error(ctx, TI_ERR_FORMAT, "cifar10: %zu records is implausibly many", total);
    ti_dataset *d = NULL;
    if (st == TI_OK && !(d = dataset_new("cifar10", (int)total, 3, 32, 32)))
        st = ti_ctx_error(ctx, TI_ERR_NOMEM, "cifar10: cannot allocate %zu images", total);
    if (st == TI_OK) {
        float lut[256];
        byte_lut(lut);
        size_t k = 0;
        for (int i = 0; i < nf; i++) {
            jobs[i].x = d->x + k * CIFAR_PIXELS;
            jobs[i].y = d->y + k;
            jobs[i].lut = lut;
            k += jobs[i].nrec;
        }
        run_jobs(jobs, nf, threads, cifar_convert);
        *out = d;
    }
    for (int i = 0; i < nf; i++)
        free(jobs[i].raw);
    return st;
}

ti_status ti_data_load(ti_ctx *ctx, const char *path, ti_split split, ti_dataset **out)
{
    if (out)
        *out = NULL;
    if (!path || !out || (unsigned)split >= TI_SPLIT_COUNT)
        return ti_ctx_error(ctx, TI_ERR_ARG, "data: NULL path or output, or bad split");
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ti_ctx_error(ctx, TI_ERR_IO, "data: %s is not a directory (give the folder that "
                            "holds the data set's files)", path);
    char p[4200];
    static const char *const fashion[] = {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte",
                                          "train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"};
    static const char *const cifar[] = {"data_batch_1.bin", "test_batch.bin"};
    for (size_t i = 0; i < sizeof fashion / sizeof *fashion; i++)
        if (find_file(path, fashion[i], p, sizeof p))
            return load_fashion(ctx, path, split, out);
    for (size_t i = 0; i < sizeof cifar / sizeof *cifar; i++)
        if (find_file(path, cifar[i], p, sizeof p))
            return load_cifar(ctx, path, split, out);
    return ti_ctx_error(ctx, TI_ERR_IO, "data: %s holds neither Fashion-MNIST "
                        "({train,t10k}-images-idx3-ubyte[.gz], ...) nor CIFAR-10 "
                        "(data_batch_1.bin[.gz], test_batch.bin[.gz], ...) files", path);
}

ti_status ti_data_load_range(ti_ctx *ctx, const char *path, ti_split split, int offset,
                             int count, ti_dataset **out)
{
    ti_dataset *all;
    *out = NULL;
    ti_status s = ti_data_load(ctx, path, split, &all);
    if (s != TI_OK)
        return s;
    if (offset < 0 || offset >= all->N || count > all->N - offset) {
        s = ti_ctx_error(ctx, TI_ERR_ARG, "samples %d..%d asked, but the %s split of %s (%s) "
                         "has %d", offset, offset + (count > 0 ? count : 1) - 1,
                         split == TI_SPLIT_TRAIN ? "train" : "test", all->name, path, all->N);
    } else if (offset == 0 && (count <= 0 || count == all->N)) {
        *out = all;
        return TI_OK;
    } else {
        s = ti_dataset_slice(ctx, all, offset, count > 0 ? count : all->N - offset, out);
    }
    ti_dataset_free(all);
    return s;
}

ti_status ti_dataset_slice(ti_ctx *ctx, const ti_dataset *d, int offset, int count,
                           ti_dataset **out)
{
    if (out)
        *out = NULL;
    if (!d || !out)
        return ti_ctx_error(ctx, TI_ERR_ARG, "dataset_slice: NULL argument");
    if (offset < 0 || count < 0 || offset > d->N || count > d->N - offset)
        return ti_ctx_error(ctx, TI_ERR_ARG, "dataset_slice: samples [%d, %d) are outside the "
                            "%d samples of %s", offset, offset + count, d->N, d->name);
    ti_dataset *s = dataset_new(d->name, count, d->C, d->H, d->W);
    if (!s)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "dataset_slice: cannot allocate %d samples", count);
    s->M = d->M;
    size_t per = (size_t)d->C * d->H * d->W;
    if (count > 0) {
        memcpy(s->x, d->x + (size_t)offset * per, (size_t)count * per * sizeof(float));
        memcpy(s->y, d->y + offset, (size_t)count * sizeof(int));
    }
    *out = s;
    return TI_OK;
}
