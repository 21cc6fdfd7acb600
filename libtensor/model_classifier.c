/* The attack view of a model (classifier.h): the shared batched tape view (classifier_tape.c)
 * over ti_model_forward in evaluation mode. One view per model, kept in the model so that
 * ti_model_free releases it. */
#include <stdlib.h>
#include <string.h>

#include "classifier_tape.h"
#include "model_internal.h"

struct ti__mi_cls {
    ti__cls_tape view;
};

void ti__mi_cls_free(struct ti__mi_cls *c)
{
    if (!c)
        return;
    ti__cls_tape_release(&c->view);
    free(c);
}

static ti_tensor *model_forward(void *net, ti_tape *tape, ti_tensor *in)
{
    return ti_model_forward(net, tape, in, 0);
}

static int model_set_requires_grad(void *net, int on)
{
    ti_model *m = net;
    int was = m->requires_grad;
    if (was != on)
        ti_model_set_requires_grad(m, on);
    return was;
}

/* In evaluation mode the forward only reads the model, so another thread runs the model
 * itself; but a user's weight hook may not be safe to call from two threads at once, and
 * sparse layers keep per-batch state in the model (the first call, on one thread, decides
 * them and folds the batch norms; a model with none sparse runs split from then on). */
static void *model_view_new(void *net, ti_ctx *ctx)
{
    (void)ctx;
    return net;
}

/* One image's evaluation forward (zeros: the decisions depend on the weights only), which
 * decides every layer dense or sparse for the current weights and folds every batch norm
 * (model_fold.c); a failure leaves them undecided, and the pass that follows runs whole and
 * reports it. */
static void decide_layers(ti_model *m)
{
    ti_tape *tape = ti_tape_new(m->ctx);
    if (!tape)
        return;
    ti_tape_set_recording(tape, 0);
    ti_tensor *in = ti_tape_tensor(tape, 4, (int[]){1, m->cfg.C, m->cfg.H, m->cfg.W});
    if (in) {
        memset(in->data, 0, in->size * sizeof(float));
        if (ti_model_forward(m, tape, in, 0))
            ti__mi_fold_mark_ready(m);
    }
    ti_tape_free(tape);
}

static int model_concurrent(void *net)
{
    ti_model *m = net;
    if (m->wfn)
        return 0;
    if (!ti__mi_sparse_decided(m) || !ti__mi_fold_ready(m))
        decide_layers(m);
    return ti__mi_sparse_idle(m) && ti__mi_fold_ready(m);
}

ti_status ti_model_classifier(ti_model *m, int batch, ti_classifier *out)
{
    if (!m || !out)
        return ti_ctx_error(m ? m->ctx : NULL, TI_ERR_ARG, "model_classifier: NULL argument");
    if (batch < 1)
        return ti_ctx_error(m->ctx, TI_ERR_ARG, "model_classifier: batch %d must be >= 1",
                            batch);
    struct ti__mi_cls *c = calloc(1, sizeof *c);
    if (!c)
        return ti_ctx_error(m->ctx, TI_ERR_NOMEM, "model_classifier: out of memory");
    ti__cls_net net = {.net = m,
                       .forward = model_forward,
                       .set_requires_grad = model_set_requires_grad,
                       .view_new = model_view_new,
                       .concurrent = model_concurrent,
                       .C = m->cfg.C,
                       .H = m->cfg.H,
                       .W = m->cfg.W,
                       .M = m->cfg.M};
    ti_status s = ti__cls_tape_init(&c->view, m->ctx, &net, batch, "model_classifier", out);
    if (s != TI_OK) {
        ti__mi_cls_free(c);
        return s;
    }
    ti__mi_cls_free(m->cls); /* one view per model: the new one replaces the old */
    m->cls = c;
    return TI_OK;
}
