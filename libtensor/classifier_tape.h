/* The batched attack view (classifier.h) of any network that records its forward on a tape:
 * what ti_model_classifier (model_classifier.c) and ti_onnx_classifier (onnx_classifier.c)
 * share, so that the batching, the seeded backwards and the Jacobian live in one place
 * (classifier_tape.c). Not installed. */
#ifndef THINICE_CLASSIFIER_TAPE_H
#define THINICE_CLASSIFIER_TAPE_H

#include "thinice/classifier.h"
#include "thinice/tensor.h"

/* What the view needs to know about the network it wraps. */
typedef struct ti__cls_net {
    void *net; /* the ti_model or ti_onnx, borrowed */
    /* Records net's evaluation-mode forward of `in` (n, C, H, W) on `tape` and returns the
     * logits (n, M), or NULL with the failure recorded in the tape. */
    ti_tensor *(*forward)(void *net, ti_tape *tape, ti_tensor *in);
    /* Makes net's trainable parameters ask for gradients (on = 1) or not (on = 0) and
     * returns whether they did before: the view switches them off during a call (attacks
     * want the input gradient only) and back on after. */
    int (*set_requires_grad)(void *net, int on);
    /* Optional (NULL: the view never splits a batch over threads): a view of net that
     * another thread can run at the same time as net itself, sending its messages to ctx
     * (a context of that thread's own); view_free releases it. concurrent (optional) says
     * whether net can run on several threads at this moment. */
    void *(*view_new)(void *net, ti_ctx *ctx);
    void (*view_free)(void *view);
    int (*concurrent)(void *net);
    int C, H, W; /* one input sample */
    int M;       /* classes */
} ti__cls_net;

/* Threads a batch is split over, at most (classifier_tape.c). */
#define TI__CLS_MAX_WORKERS 16

/* The view's state: the network, a tape kept between calls (reset per batch, so a long
 * attack allocates nothing after its first batch), a (batch, M) seed buffer, and per thread
 * of the pool what it runs its share of a batch with (w[0]: the caller, with `tape`;
 * the others made on first use). */
typedef struct ti__cls_tape {
    ti__cls_net net;
    ti_ctx *ctx;
    int batch;
    ti_tape *tape;
    float *seed;
    int nw; /* workers made, w[0] included */
    struct ti__cls_worker {
        ti_ctx *ctx; /* NULL for w[0] (the view's context) */
        ti_tape *tape;
        void *net;   /* w[0]: the network; others: net.view_new's view */
        ti_tensor *in, *z; /* the worker's input and logits, between the phases of a pass */
    } w[TI__CLS_MAX_WORKERS];
} ti__cls_tape;

/* Allocates the tape and the seed for batches of at most `batch` (>= 1) samples and fills
 * out's shape and callbacks (self = c). TI_ERR_NOMEM, with a message naming `who`, on
 * failure; c then holds nothing to release beyond what ti__cls_tape_release frees. */
ti_status ti__cls_tape_init(ti__cls_tape *c, ti_ctx *ctx, const ti__cls_net *net, int batch,
                            const char *who, ti_classifier *out);
/* Frees the tape, the seed and the workers (not c itself); NULL-safe. */
void ti__cls_tape_release(ti__cls_tape *c);

#endif
