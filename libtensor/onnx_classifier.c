/* The attack view of an imported ONNX model (classifier.h): evaluation mode, no parameter
 * gradients, inputs cut into batches of at most `batch` samples on one tape kept between
 * calls (reset per batch, so a long attack allocates nothing after its first batch).
 * vjp = one recorded forward + one seeded backward; jacobian = one forward + M seeds. */
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

typedef struct ox_cls {
    ti_onnx *g;
    ti_tape *tape;
    int batch;
    float *seed; /* (batch, M) one-hot columns for the Jacobian */
} ox_cls;

void ox_cls_free(ox_cls *c)
{
    if (!c)
        return;
    ti_tape_free(c->tape);
    free(c->seed);
    free(c);
}

/* One batch of n samples: the input on a fresh tape and the logits. */
static ti_tensor *run(ox_cls *c, const float *x, int n, int want_grad, ti_tensor **in)
{
    ti_onnx *g = c->g;
    ti_tape_reset(c->tape);
    ti_tape_set_recording(c->tape, want_grad);
    *in = ti_tape_input(c->tape, x, 4, (int[]){n, g->C, g->H, g->W}, want_grad);
    return ti_onnx_forward(g, c->tape, *in, 0);
}

/* Parameters stop asking for gradients during a call and ask again after. */
static int begin(ox_cls *c)
{
    int was = c->g->requires_grad;
    if (was)
        ti_onnx_set_requires_grad(c->g, 0);
    return was;
}

static ti_status end(ox_cls *c, int was, ti_status s)
{
    if (was)
        ti_onnx_set_requires_grad(c->g, 1);
    return s;
}

static ti_status cls_forward(void *self, const float *x, int N, float *logits)
{
    ox_cls *c = self;
    size_t D = (size_t)c->g->C * c->g->H * c->g->W;
    int M = c->g->M, was = begin(c);
    for (int i = 0; i < N; i += c->batch) {
        int n = N - i < c->batch ? N - i : c->batch;
        ti_tensor *in, *z = run(c, x + (size_t)i * D, n, 0, &in);
        if (!z)
            return end(c, was, ti_tape_status(c->tape));
        memcpy(logits + (size_t)i * M, z->data, (size_t)n * M * sizeof(float));
    }
    return end(c, was, TI_OK);
}

static ti_status cls_vjp(void *self, const float *x, int N, const float *dlogits, float *logits,
                         float *dx)
{
    ox_cls *c = self;
    size_t D = (size_t)c->g->C * c->g->H * c->g->W;
    int M = c->g->M, was = begin(c);
    for (int i = 0; i < N; i += c->batch) {
        int n = N - i < c->batch ? N - i : c->batch;
        ti_tensor *in, *z = run(c, x + (size_t)i * D, n, 1, &in);
        if (!z)
            return end(c, was, ti_tape_status(c->tape));
        ti_status s = ti_tape_backward_seed(c->tape, z, dlogits + (size_t)i * M);
        if (s != TI_OK)
            return end(c, was, s);
        if (logits)
            memcpy(logits + (size_t)i * M, z->data, (size_t)n * M * sizeof(float));
        memcpy(dx + (size_t)i * D, in->grad, (size_t)n * D * sizeof(float));
    }
    return end(c, was, TI_OK);
}

static ti_status cls_jacobian(void *self, const float *x, int N, float *logits, float *jac)
{
    ox_cls *c = self;
    size_t D = (size_t)c->g->C * c->g->H * c->g->W;
    int M = c->g->M, was = begin(c);
    for (int i = 0; i < N; i += c->batch) {
        int n = N - i < c->batch ? N - i : c->batch;
        ti_tensor *in, *z = run(c, x + (size_t)i * D, n, 1, &in);
        if (!z)
            return end(c, was, ti_tape_status(c->tape));
        if (logits)
            memcpy(logits + (size_t)i * M, z->data, (size_t)n * M * sizeof(float));
        memset(c->seed, 0, (size_t)n * M * sizeof(float));
        for (int k = 0; k < M; k++) {
            for (int j = 0; j < n; j++)
                c->seed[(size_t)j * M + k] = 1.0f;
            /* input gradients accumulate across backward calls: start each row at zero */
            memset(in->grad, 0, (size_t)n * D * sizeof(float));
            ti_status s = ti_tape_backward_seed(c->tape, z, c->seed);
            if (s != TI_OK)
                return end(c, was, s);
            for (int j = 0; j < n; j++) {
                c->seed[(size_t)j * M + k] = 0.0f;
                memcpy(jac + ((size_t)(i + j) * M + k) * D, in->grad + (size_t)j * D,
                       D * sizeof(float));
            }
        }
    }
    return end(c, was, TI_OK);
}

ti_status ti_onnx_classifier(ti_onnx *g, int batch, ti_classifier *out)
{
    if (!g || !out)
        return ti_ctx_error(g ? g->ctx : NULL, TI_ERR_ARG, "onnx_classifier: NULL argument");
    if (batch < 1)
        return ti_ctx_error(g->ctx, TI_ERR_ARG, "onnx_classifier: batch %d must be >= 1", batch);
    ox_cls *c = calloc(1, sizeof *c);
    if (c) {
        c->g = g;
        c->batch = batch;
        c->tape = ti_tape_new(g->ctx);
        c->seed = malloc((size_t)batch * g->M * sizeof(float));
    }
    if (!c || !c->tape || !c->seed) {
        ox_cls_free(c);
        return ti_ctx_error(g->ctx, TI_ERR_NOMEM, "onnx_classifier: out of memory");
    }
    ox_cls_free(g->cls); /* one view per model: the new one replaces the old */
    g->cls = c;
    *out = (ti_classifier){.C = g->C,
                           .H = g->H,
                           .W = g->W,
                           .M = g->M,
                           .self = c,
                           .forward = cls_forward,
                           .vjp = cls_vjp,
                           .jacobian = cls_jacobian};
    return TI_OK;
}
