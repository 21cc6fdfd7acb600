/* The training loop (mini-batch SGD on cross-entropy, or on a loss a hook builds, e.g. PGD-AT
 * or TRADES from libprune) and the evaluation of accuracy. Buffers are allocated once per
 * call; inside the batch loop only the tape's arena is used, and it is reused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thinice/classifier.h"
#include "thinice/ops.h"
#include "thinice/train.h"

/* Samples of logits (n, M) whose argmax is the label; pred is scratch (n). */
static long count_correct(const float *logits, const int *y, int n, int M, int *pred)
{
    ti_argmax_rows(logits, n, M, pred);
    long c = 0;
    for (int i = 0; i < n; i++)
        c += pred[i] == y[i];
    return c;
}

static ti_status check_data(ti_ctx *ctx, const char *who, ti_model *m, const ti_dataset *d,
                            int batch)
{
    if (!d)
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: no data set given", who);
    if (batch < 1)
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: batch size %d must be at least 1", who, batch);
    const ti_model_config *c = ti_model_get_config(m);
    if (d->C != c->C || d->H != c->H || d->W != c->W)
        return ti_ctx_error(ctx, TI_ERR_SHAPE,
                            "%s: the data set %s has images %dx%dx%d but the %s model expects "
                            "%dx%dx%d%s",
                            who, d->name, d->C, d->H, d->W, ti_model_arch(m), c->C, c->H, c->W,
                            d->C != c->C ? " (a model made for another data set?)" : "");
    if (d->M > c->M)
        return ti_ctx_error(ctx, TI_ERR_SHAPE, "%s: the data set %s has %d classes but the "
                            "model only %d outputs", who, d->name, d->M, c->M);
    return TI_OK;
}

/* The default loss: mean cross-entropy of the model's logits in training mode. */
static ti_status default_loss(ti_train_batch *b, ti_tensor **loss, ti_tensor **logits)
{
    *logits = ti_model_forward(b->model, b->tape, b->xt, 1);
    *loss = ti_cross_entropy(b->tape, *logits, b->y, TI_REDUCE_MEAN);
    return ti_tape_status(b->tape);
}

/* One step on the batch in bt->x / y: returns the loss, adds the correct count. */
static ti_status train_step(ti_ctx *ctx, const ti_train_setup *S, ti_train_batch *b, int *pred,
                            double *loss_out, long *correct)
{
    const ti_train_hooks *h = S->hooks;
    const ti_model_config *c = ti_model_get_config(S->model);
    ti_status st;
    ti_tape_set_recording(S->tape, 1);
    if (h && h->inputs) {
        ti_tape_reset(S->tape);
        if ((st = h->inputs(h->user, b)) != TI_OK)
            return st;
        ti_tape_set_recording(S->tape, 1); /* the hook may have turned it off */
    }
    ti_tape_reset(S->tape);
    int shape[4] = {b->n, c->C, c->H, c->W};
    b->xt = ti_tape_input(S->tape, b->x, 4, shape, 0);
    ti_tensor *loss = NULL, *logits = NULL;
    st = h && h->loss ? h->loss(h->user, b, &loss, &logits) : default_loss(b, &loss, &logits);
    if (st == TI_OK && (st = ti_tape_status(S->tape)) == TI_OK && (!loss || loss->size != 1))
        st = ti_ctx_error(ctx, TI_ERR_STATE, "train: the loss hook gave no scalar loss");
    if (st != TI_OK)
        return st;
    if (!isfinite(loss->data[0]))
        return ti_ctx_error(ctx, TI_ERR_NAN,
                            "train: the loss is %g at epoch %d, batch %d (learning rate %g "
                            "too high?)",
                            loss->data[0], b->epoch + 1, b->batch + 1, b->lr);
    ti_model_zero_grad(S->model);
    ti_sgd_zero_grad(S->opt); /* also the extra tensors (HYDRA's scores) */
    if ((st = ti_tape_backward(S->tape, loss)) != TI_OK)
        return st;
    *loss_out = loss->data[0];
    if (logits && logits->ndim == 2 && logits->shape[0] == b->n)
        *correct += count_correct(logits->data, b->y, b->n, logits->shape[1], pred);
    return TI_OK;
}

/* After the backward (or, for a process with no rows of this batch, zero gradients): the
 * data-parallel sum, the hooks around the SGD step, the step, the statistics' average. */
static ti_status finish_step(ti_ctx *ctx, const ti_train_setup *S, ti_train_batch *b,
                             int global_n)
{
    const ti_train_hooks *h = S->hooks;
    ti_status st = TI_OK;
    if (S->reduce)
        st = ti_sgd_reduce(S->opt, S->reduce, (float)b->n / (float)global_n);
    if (st == TI_OK && h && h->after_backward)
        st = h->after_backward(h->user, b);
    if (st == TI_OK)
        st = ti_sgd_step(S->opt);
    if (st == TI_OK && S->reduce)
        st = ti_model_average_stats(S->model, S->reduce);
    if (st == TI_OK && S->reduce && S->reduce->check &&
        (st = S->reduce->check(S->reduce->user, ti_model_hash(S->model))) != TI_OK)
        st = ti_ctx_error(ctx, st, "train: the processes' models differ after batch %d of "
                          "epoch %d: the data-parallel run is out of step", b->batch + 1,
                          b->epoch + 1);
    if (st == TI_OK && h && h->after_step)
        st = h->after_step(h->user, b);
    return st;
}

/* This process's rows of a global batch of n: a contiguous share, sizes differing by one. */
static void share(const ti_reducer *r, int n, int *lo, int *cnt)
{
    int base = n / r->size, extra = n % r->size;
    *lo = r->rank * base + (r->rank < extra ? r->rank : extra);
    *cnt = base + (r->rank < extra);
}

/* The epoch's loss sum, correct count and images over every process. */
static ti_status sum_stats(ti_ctx *ctx, const ti_reducer *r, double *loss_sum, long *correct,
                           long *images)
{
    float v[3] = {(float)*loss_sum, (float)*correct, (float)*images};
    ti_status s = r->sum(r->user, v, 3);
    if (s != TI_OK)
        return ti_ctx_error(ctx, s, "train: summing the epoch's statistics failed");
    *loss_sum = v[0];
    *correct = lroundf(v[1]);
    *images = lroundf(v[2]);
    return TI_OK;
}

ti_status ti_train_epoch(ti_ctx *ctx, const ti_train_setup *S, int epoch, ti_train_stats *stats)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!S || !S->model || !S->tape || !S->opt || !S->batcher)
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "train: the setup needs a model, a tape, an optimizer and a batcher");
    const ti_reducer *r = S->reduce;
    if (r && (r->size < 1 || r->rank < 0 || r->rank >= r->size || !r->sum))
        return ti_ctx_error(ctx, TI_ERR_ARG, "train: a data-parallel run needs 0 <= rank < "
                            "size and a sum (rank %d of %d)", r->rank, r->size);
    ti_status st = check_data(ctx, "train", S->model, S->data, S->batch);
    if (st != TI_OK)
        return st;
    const ti_dataset *d = S->data;
    size_t D = (size_t)d->C * d->H * d->W;
    float *x = ti_alloc((size_t)S->batch * D * sizeof(float));     /* (batch, C, H, W) */
    int *y = ti_alloc((size_t)S->batch * 3 * sizeof(int));          /* y, idx, pred */
    if (!x || !y) {
        ti_free(x);
        ti_free(y);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "train: out of memory for a batch of %d",
                            S->batch);
    }
    int *idx = y + S->batch, *pred = y + 2 * S->batch;
    int nb = ti_batcher_batches_per_epoch(S->batcher);
    char label[32];
    snprintf(label, sizeof label, "epoch %d", epoch + 1);

    double t0 = ti_clock(), loss_sum = 0;
    long images = 0, correct = 0;
    int batches = 0;
    float lr = ti_sgd_lr(S->opt);
    for (;;) {
        int n = 0;
        ti_batcher_next(S->batcher, x, y, idx, &n);
        if (n == 0)
            break;
        double fe = epoch + (double)batches / (nb > 0 ? nb : 1);
        if (S->schedule) {
            lr = ti_schedule_lr(S->schedule, fe);
            ti_sgd_set_lr(S->opt, lr);
        }
        int lo = 0, cnt = n;
        if (S->reduce)
            share(S->reduce, n, &lo, &cnt);
        ti_train_batch b = {.model = S->model, .tape = S->tape, .x = x + (size_t)lo * D,
                            .y = y + lo, .idx = idx + lo, .n = cnt, .epoch = epoch,
                            .batch = batches, .batches = nb, .fepoch = fe, .lr = lr};
        double l = 0;
        if (cnt > 0) {
            st = train_step(ctx, S, &b, pred, &l, &correct);
        } else { /* a batch smaller than the processes: this one only takes part in the sum */
            ti_model_zero_grad(S->model);
            ti_sgd_zero_grad(S->opt);
        }
        if (st == TI_OK)
            st = finish_step(ctx, S, &b, n);
        if (st != TI_OK)
            break;
        loss_sum += l * cnt;
        images += cnt;
        batches++;
        /* a data-parallel process counts its share: the whole run did about size times it */
        long seen = S->reduce ? images * S->reduce->size : images;
        if ((st = ti_ctx_progress(ctx, label, seen < d->N ? seen : d->N, d->N)) != TI_OK)
            break;
    }
    if (st == TI_OK && S->reduce)
        st = sum_stats(ctx, S->reduce, &loss_sum, &correct, &images);
    double secs = ti_clock() - t0;
    ti_free(x);
    ti_free(y);
    if (stats) {
        stats->loss = images ? loss_sum / images : 0;
        stats->accuracy = images ? (double)correct / images : 0;
        stats->seconds = secs;
        stats->images_per_s = secs > 0 ? images / secs : 0;
        stats->images = images;
        stats->batches = batches;
        stats->last_lr = lr;
    }
    return st;
}

ti_status ti_evaluate(ti_ctx *ctx, ti_model *m, const ti_dataset *d, int batch,
                      ti_eval_stats *out, float *logits, int *pred)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!m)
        return ti_ctx_error(ctx, TI_ERR_ARG, "evaluate: no model given");
    ti_status st = check_data(ctx, "evaluate", m, d, batch);
    if (st != TI_OK)
        return st;
    int M = ti_model_get_config(m)->M;
    size_t D = (size_t)d->C * d->H * d->W;
    ti_tape *tape = ti_tape_new(ctx);
    int *bpred = ti_alloc((size_t)batch * sizeof(int));
    if (!tape || !bpred) {
        ti_tape_free(tape);
        ti_free(bpred);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "evaluate: out of memory");
    }
    double t0 = ti_clock(), loss_sum = 0;
    long correct = 0;
    int nb = (d->N + batch - 1) / batch;
    for (int b = 0; b < nb && st == TI_OK; b++) {
        int off = b * batch, n = d->N - off < batch ? d->N - off : batch;
        ti_tape_reset(tape);
        ti_tape_set_recording(tape, 0);
        /* a view of the data set's own memory: nothing is copied, nothing asks for gradients */
        ti_tensor xv;
        int shape[4] = {n, d->C, d->H, d->W};
        ti_tensor_view(&xv, d->x + (size_t)off * D, NULL, 4, shape);
        xv.requires_grad = 0;
        ti_tensor *z = ti_model_forward(m, tape, &xv, 0);
        ti_tensor *l = ti_cross_entropy(tape, z, d->y + off, TI_REDUCE_SUM);
        if ((st = ti_tape_status(tape)) != TI_OK)
            break;
        loss_sum += l->data[0];
        int *p = pred ? pred + off : bpred;
        correct += count_correct(z->data, d->y + off, n, M, p);
        if (logits)
            memcpy(logits + (size_t)off * M, z->data, (size_t)n * M * sizeof(float));
        st = ti_ctx_progress(ctx, "evaluate", off + n, d->N);
    }
    double secs = ti_clock() - t0;
    ti_tape_free(tape);
    ti_free(bpred);
    if (out && st == TI_OK) {
        out->n = d->N;
        out->correct = correct;
        out->accuracy = d->N ? (double)correct / d->N : 0;
        out->loss = d->N ? loss_sum / d->N : 0;
        out->seconds = secs;
    }
    return st;
}

ti_status ti_model_check_file(ti_model *m, const char *path, const ti_dataset *d, int batch,
                              double *max_diff, int *count)
{
    ti_ctx *ctx = ti_model_ctx(m);
    const ti_model_config *cfg = ti_model_get_config(m);
    ti_model *m2 = NULL;
    ti_dataset *part = NULL;
    int n = d->N < 256 ? d->N : 256;
    float *a = malloc((size_t)n * cfg->M * sizeof(float));
    float *b = malloc((size_t)n * cfg->M * sizeof(float));
    ti_status s = a && b ? TI_OK : ti_ctx_error(ctx, TI_ERR_NOMEM, "check: out of memory");
    if (s == TI_OK)
        s = ti_dataset_slice(ctx, d, 0, n, &part);
    if (s == TI_OK)
        s = ti_model_new(ctx, ti_model_arch(m), cfg, &m2);
    if (s == TI_OK)
        s = ti_model_load(m2, path);
    if (s == TI_OK)
        s = ti_evaluate(ctx, m, part, batch, NULL, a, NULL);
    if (s == TI_OK)
        s = ti_evaluate(ctx, m2, part, batch, NULL, b, NULL);
    *max_diff = 0;
    for (size_t i = 0; s == TI_OK && i < (size_t)n * cfg->M; i++) {
        double diff = fabs((double)a[i] - b[i]);
        *max_diff = diff > *max_diff || diff != diff ? diff : *max_diff;
    }
    if (s == TI_OK && ti_model_sparsity(m2) != ti_model_sparsity(m))
        s = ti_ctx_error(ctx, TI_ERR_STATE, "%s has sparsity %.8f, the model %.8f", path,
                         ti_model_sparsity(m2), ti_model_sparsity(m));
    *count = n;
    ti_model_free(m2);
    ti_dataset_free(part);
    free(a);
    free(b);
    return s;
}
