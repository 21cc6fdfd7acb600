/* The attack view of a model (classifier.h): the shared batched tape view (classifier_tape.c)
 * over ti_model_forward in evaluation mode. One view per model, kept in the model so that
 * ti_model_free releases it. */
#include <stdlib.h>

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
 * itself; but a user's weight hook may not be safe to call from two threads at once. */
static void *model_view_new(void *net, ti_ctx *ctx)
{
    (void)ctx;
    return net;
}

static int model_concurrent(void *net)
{
    return ((ti_model *)net)->wfn == NULL;
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
