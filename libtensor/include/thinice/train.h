/* The training loop (one epoch of mini-batch SGD, with hooks where adversarial training plugs
 * in its adversary or its loss) and evaluation of a model's accuracy on a data set. */
#ifndef THINICE_TRAIN_H
#define THINICE_TRAIN_H

#include "thinice/data.h"
#include "thinice/model.h"
#include "thinice/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a hook sees of the current batch. Pointers are valid during the call only. */
typedef struct ti_train_batch {
    ti_model *model;
    ti_tape *tape;
    float *x;        /* (n, C, H, W) the batch's images; the inputs hook may overwrite them */
    const int *y;    /* (n) labels */
    const int *idx;  /* (n) indices of the samples in the data set */
    int n;           /* samples in this batch (the last one of an epoch may be smaller) */
    int epoch;       /* 0-based */
    int batch;       /* 0-based index in the epoch */
    int batches;     /* batches per epoch */
    double fepoch;   /* epoch + batch / batches: where the schedule is read */
    float lr;        /* the learning rate of this step */
    ti_tensor *xt;   /* the loss hook only: x as an input on the tape (no gradient) */
} ti_train_batch;

/* Hooks; any may be NULL. On a non-OK status the epoch stops and returns it (the hook should
 * have put a message into the context).
 *  inputs:         before the forward; may replace b->x in place (PGD's adversarial examples).
 *                  It may use b->tape and the model freely: the loop resets the tape and the
 *                  gradients afterwards.
 *  loss:           builds the scalar loss on b->tape from b->xt (e.g. TRADES), in training
 *                  mode; *logits (n, M) on the tape, or NULL, gives the train accuracy. The
 *                  default is mean cross-entropy of ti_model_forward(model, tape, xt, 1).
 *  after_backward: after the gradients are computed (and summed over the processes of a
 *                  data-parallel run), before the SGD step (e.g. ADMM adds rho (W - Z + U)
 *                  to the weights' gradients).
 *  after_step:     after the SGD step (e.g. ATMC's projection; a check that the processes
 *                  of a data-parallel run hold the same weights). */
typedef struct ti_train_hooks {
    void *user;
    ti_status (*inputs)(void *user, ti_train_batch *b);
    ti_status (*loss)(void *user, ti_train_batch *b, ti_tensor **loss, ti_tensor **logits);
    ti_status (*after_backward)(void *user, ti_train_batch *b);
    ti_status (*after_step)(void *user, ti_train_batch *b);
} ti_train_hooks;

typedef struct ti_train_stats {
    double loss;          /* mean training loss over the epoch's samples */
    double accuracy;      /* fraction of training samples classified right (during training) */
    double seconds;       /* wall time of the epoch */
    double images_per_s;  /* samples / seconds */
    long images;          /* samples seen */
    int batches;
    float last_lr;        /* the learning rate of the last step */
} ti_train_stats;

/* What an epoch trains with: all borrowed, filled by the caller and reused across epochs. */
typedef struct ti_train_setup {
    ti_model *model;
    ti_tape *tape;               /* reset before each batch; holds the last batch afterwards */
    ti_sgd *opt;
    ti_batcher *batcher;         /* over `data`, made with batch size `batch` */
    const ti_dataset *data;      /* the data set the batcher walks (for its sample shape) */
    int batch;
    const ti_schedule *schedule; /* NULL: keep the optimizer's learning rate */
    const ti_train_hooks *hooks; /* NULL: plain training with cross-entropy */
    /* NULL: one process. Else a data-parallel run: every process draws the same global batch
     * (same seed), works on its contiguous share of its rows (the hooks see only those), and
     * the gradients are summed before the step (each process's scaled by its share, so the
     * sum is the global batch's mean); the batch-norm running statistics are averaged after
     * each step; the epoch's loss and accuracy are over the global batches. */
    const ti_reducer *reduce;
} ti_train_setup;

/* One epoch of training: for each batch, lr = schedule(epoch + b / batches), inputs hook,
 * forward in training mode, loss, zero gradients (model and optimizer), backward,
 * after_backward hook, ti_sgd_step. Progress goes to ti_ctx_progress with the label
 * "epoch <epoch + 1>", counting images (a callback may cancel: TI_ERR_CANCELLED). A non-finite loss stops with
 * TI_ERR_NAN naming the epoch, batch and learning rate. The batch buffers are allocated once
 * per call, never inside the batch loop. Errors: TI_ERR_ARG for a missing piece,
 * TI_ERR_SHAPE if the data's images do not fit the model. stats (may be NULL) describe the
 * batches done, also after an error or a cancel; the batcher is then left where it stopped. */
ti_status ti_train_epoch(ti_ctx *ctx, const ti_train_setup *setup, int epoch,
                         ti_train_stats *stats);

typedef struct ti_eval_stats {
    double accuracy; /* fraction right */
    double loss;     /* mean cross-entropy */
    long correct, n;
    double seconds;
} ti_eval_stats;

/* Evaluates m on all of d in evaluation mode without recording, `batch` samples at a time,
 * with a tape of its own. Optional outputs (NULL if not wanted): logits (d->N, M) and
 * pred (d->N) the predicted labels (argmax, ties to the lowest index). Progress goes to
 * ti_ctx_progress with the label "evaluate", counting images. Errors: TI_ERR_SHAPE if d's images do not fit
 * the model's input, TI_ERR_ARG for batch < 1. */
ti_status ti_evaluate(ti_ctx *ctx, ti_model *m, const ti_dataset *d, int batch,
                      ti_eval_stats *out, float *logits, int *pred);

/* Whether a written checkpoint reproduces m: reloads path into a fresh model of m's
 * architecture and compares the logits of both on the first min(256, d->N) samples of d.
 * *max_diff receives the largest absolute difference (0 when the file reproduces the model
 * bit for bit) and *count the samples compared. A file with another sparsity (masks lost)
 * is TI_ERR_STATE. */
ti_status ti_model_check_file(ti_model *m, const char *path, const ti_dataset *d, int batch,
                              double *max_diff, int *count);

#ifdef __cplusplus
}
#endif
#endif
