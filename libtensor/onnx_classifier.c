/* The attack view of an imported ONNX model (classifier.h): the shared batched tape view
 * (classifier_tape.c) over ti_onnx_forward in evaluation mode. One view per graph, kept in
 * the graph so that ti_onnx_free releases it. */
#include <stdlib.h>

#include "classifier_tape.h"
#include "onnx_internal.h"

struct ti__ox_cls {
    ti__cls_tape view;
};

void ti__ox_cls_free(struct ti__ox_cls *c)
{
    if (!c)
        return;
    ti__cls_tape_release(&c->view);
    free(c);
}

static ti_tensor *onnx_forward(void *net, ti_tape *tape, ti_tensor *in)
{
    return ti_onnx_forward(net, tape, in, 0);
}

static int onnx_set_requires_grad(void *net, int on)
{
    ti_onnx *g = net;
    int was = g->requires_grad;
    if (was != on)
        ti_onnx_set_requires_grad(g, on);
    return was;
}

ti_status ti_onnx_classifier(ti_onnx *g, int batch, ti_classifier *out)
{
    if (!g || !out)
        return ti_ctx_error(g ? g->ctx : NULL, TI_ERR_ARG, "onnx_classifier: NULL argument");
    if (batch < 1)
        return ti_ctx_error(g->ctx, TI_ERR_ARG, "onnx_classifier: batch %d must be >= 1", batch);
    struct ti__ox_cls *c = calloc(1, sizeof *c);
    if (!c)
        return ti_ctx_error(g->ctx, TI_ERR_NOMEM, "onnx_classifier: out of memory");
    ti__cls_net net = {.net = g,
                       .forward = onnx_forward,
                       .set_requires_grad = onnx_set_requires_grad,
                       .C = g->C,
                       .H = g->H,
                       .W = g->W,
                       .M = g->M};
    ti_status s = ti__cls_tape_init(&c->view, g->ctx, &net, batch, "onnx_classifier", out);
    if (s != TI_OK) {
        ti__ox_cls_free(c);
        return s;
    }
    ti__ox_cls_free(g->cls); /* one view per graph: the new one replaces the old */
    g->cls = c;
    return TI_OK;
}
