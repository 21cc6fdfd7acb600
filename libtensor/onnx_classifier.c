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

/* Another thread's view of the graph: the same steps and constants, its own slots for the
 * values of a forward (the only state ti_onnx_forward writes: the ops' run functions set
 * act and iact, nothing else) and its own context for messages. */
static void *onnx_view_new(void *net, ti_ctx *ctx)
{
    const ti_onnx *g = net;
    ti_onnx *v = malloc(sizeof *v);
    if (!v)
        return NULL;
    *v = *g;
    v->ctx = ctx;
    v->cls = NULL;
    v->act = calloc((size_t)g->nvals + 1, sizeof *v->act);
    v->iact = calloc((size_t)g->nvals + 1, sizeof *v->iact);
    if (!v->act || !v->iact) {
        free(v->act);
        free(v->iact);
        free(v);
        return NULL;
    }
    return v;
}

static void onnx_view_free(void *view)
{
    ti_onnx *v = view;
    if (!v)
        return;
    free(v->act);
    free(v->iact);
    free(v);
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
                       .view_new = onnx_view_new,
                       .view_free = onnx_view_free,
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
