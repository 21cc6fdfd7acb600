/* The batched attack view (classifier.h) shared by ti_model_classifier and ti_onnx_classifier:
 * inputs cut into batches of at most `batch` samples, evaluation mode, no parameter
 * gradients. vjp = one recorded forward + one seeded backward; grad = the same with the seed
 * computed from the forward's logits; jacobian = one forward + M one-hot seeds. */
#include <stdlib.h>
#include <string.h>

#include "classifier_tape.h"

/* One batch of n samples at x: the input on a fresh tape and the logits. */
static ti_tensor *run(ti__cls_tape *c, const float *x, int n, int want_grad, ti_tensor **in)
{
    const ti__cls_net *net = &c->net;
    ti_tape_reset(c->tape);
    ti_tape_set_recording(c->tape, want_grad);
    *in = ti_tape_input(c->tape, x, 4, (int[]){n, net->C, net->H, net->W}, want_grad);
    return net->forward(net->net, c->tape, *in);
}

/* Trainable parameters stop asking for gradients during the calls, and ask again after. */
static int begin(ti__cls_tape *c)
{
    return c->net.set_requires_grad(c->net.net, 0);
}

static ti_status end(ti__cls_tape *c, int was, ti_status s)
{
    if (was)
        c->net.set_requires_grad(c->net.net, 1);
    return s;
}

static ti_status cls_forward(void *self, const float *x, int N, float *logits)
{
    ti__cls_tape *c = self;
    size_t D = (size_t)c->net.C * c->net.H * c->net.W;
    int M = c->net.M, was = begin(c);
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
    ti__cls_tape *c = self;
    size_t D = (size_t)c->net.C * c->net.H * c->net.W;
    int M = c->net.M, was = begin(c);
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

/* The loss gradient in one pass: the forward's logits go to fn, whose dlogits seed the
 * backward (forward + vjp would run the forward twice). */
static ti_status cls_grad(void *self, const float *x, int N, ti_dlogits_fn fn, void *user,
                          float *logits, float *dx)
{
    ti__cls_tape *c = self;
    size_t D = (size_t)c->net.C * c->net.H * c->net.W;
    int M = c->net.M, was = begin(c);
    for (int i = 0; i < N; i += c->batch) {
        int n = N - i < c->batch ? N - i : c->batch;
        ti_tensor *in, *z = run(c, x + (size_t)i * D, n, 1, &in);
        if (!z)
            return end(c, was, ti_tape_status(c->tape));
        memcpy(logits + (size_t)i * M, z->data, (size_t)n * M * sizeof(float));
        fn(user, z->data, n, M, c->seed); /* c->seed: (batch, M) scratch */
        ti_status s = ti_tape_backward_seed(c->tape, z, c->seed);
        if (s != TI_OK)
            return end(c, was, s);
        memcpy(dx + (size_t)i * D, in->grad, (size_t)n * D * sizeof(float));
    }
    return end(c, was, TI_OK);
}

static ti_status cls_jacobian(void *self, const float *x, int N, float *logits, float *jac)
{
    ti__cls_tape *c = self;
    size_t D = (size_t)c->net.C * c->net.H * c->net.W;
    int M = c->net.M, was = begin(c);
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

ti_status ti__cls_tape_init(ti__cls_tape *c, ti_ctx *ctx, const ti__cls_net *net, int batch,
                            const char *who, ti_classifier *out)
{
    c->net = *net;
    c->batch = batch;
    c->tape = ti_tape_new(ctx);
    c->seed = malloc((size_t)batch * net->M * sizeof(float));
    if (!c->tape || !c->seed)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", who);
    *out = (ti_classifier){.C = net->C,
                           .H = net->H,
                           .W = net->W,
                           .M = net->M,
                           .self = c,
                           .forward = cls_forward,
                           .vjp = cls_vjp,
                           .jacobian = cls_jacobian,
                           .grad = cls_grad};
    return TI_OK;
}

void ti__cls_tape_release(ti__cls_tape *c)
{
    if (!c)
        return;
    ti_tape_free(c->tape);
    free(c->seed);
}
