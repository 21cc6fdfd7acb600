/* The attack view of a model (classifier.h): evaluation-mode batch norm, no parameter
 * gradients, inputs cut into batches of at most `batch` samples, one tape kept in the model
 * and reset per batch so that a long attack allocates nothing after its first batch.
 * vjp = one recorded forward + a seeded backward; jacobian = one forward + M seeds. */
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

typedef struct mi_cls {
    ti_model *m;
    ti_tape *tape;
    int batch;
    float *seed; /* (batch, M) one-hot columns for the Jacobian */
} mi_cls;

void mi_cls_free(mi_cls *c)
{
    if (!c)
        return;
    ti_tape_free(c->tape);
    free(c->seed);
    free(c);
}

/* One batch of n samples at x: the input on a fresh tape and the logits, with trainable
 * parameters asking for no gradient (restored by the caller through end()). */
static ti_tensor *run(mi_cls *c, const float *x, int n, int want_grad, ti_tensor **in)
{
    const ti_model_config *cfg = &c->m->cfg;
    int shape[4] = {n, cfg->C, cfg->H, cfg->W};
    ti_tape_reset(c->tape);
    ti_tape_set_recording(c->tape, want_grad);
    *in = ti_tape_input(c->tape, x, 4, shape, want_grad);
    return ti_model_forward(c->m, c->tape, *in, 0);
}

/* Trainable parameters stop asking for gradients during the calls, and ask again after. */
static int begin(mi_cls *c)
{
    int was = c->m->requires_grad;
    if (was)
        ti_model_set_requires_grad(c->m, 0);
    return was;
}

static ti_status end(mi_cls *c, int was, ti_status s)
{
    if (was)
        ti_model_set_requires_grad(c->m, 1);
    return s;
}

static ti_status cls_forward(void *self, const float *x, int N, float *logits)
{
    mi_cls *c = self;
    size_t D = (size_t)c->m->cfg.C * c->m->cfg.H * c->m->cfg.W;
    int M = c->m->cfg.M, was = begin(c);
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
    mi_cls *c = self;
    size_t D = (size_t)c->m->cfg.C * c->m->cfg.H * c->m->cfg.W;
    int M = c->m->cfg.M, was = begin(c);
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
    mi_cls *c = self;
    size_t D = (size_t)c->m->cfg.C * c->m->cfg.H * c->m->cfg.W;
    int M = c->m->cfg.M, was = begin(c);
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
    mi_cls *c = self;
    size_t D = (size_t)c->m->cfg.C * c->m->cfg.H * c->m->cfg.W;
    int M = c->m->cfg.M, was = begin(c);
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

ti_status ti_model_classifier(ti_model *m, int batch, ti_classifier *out)
{
    if (!m || !out)
        return ti_ctx_error(m ? m->ctx : NULL, TI_ERR_ARG, "model_classifier: NULL argument");
    if (batch < 1)
        return ti_ctx_error(m->ctx, TI_ERR_ARG, "model_classifier: batch %d must be >= 1",
                            batch);
    mi_cls *c = calloc(1, sizeof *c);
    if (c) {
        c->m = m;
        c->batch = batch;
        c->tape = ti_tape_new(m->ctx);
        c->seed = malloc((size_t)batch * m->cfg.M * sizeof(float));
    }
    if (!c || !c->tape || !c->seed) {
        mi_cls_free(c);
        return ti_ctx_error(m->ctx, TI_ERR_NOMEM, "model_classifier: out of memory");
    }
    mi_cls_free(m->cls); /* one view per model: the new one replaces the old */
    m->cls = c;
    *out = (ti_classifier){.C = m->cfg.C,
                           .H = m->cfg.H,
                           .W = m->cfg.W,
                           .M = m->cfg.M,
                           .self = c,
                           .forward = cls_forward,
                           .vjp = cls_vjp,
                           .jacobian = cls_jacobian,
                           .grad = cls_grad};
    return TI_OK;
}
