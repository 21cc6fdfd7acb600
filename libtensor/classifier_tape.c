/* The batched attack view (classifier.h) shared by ti_model_classifier and ti_onnx_classifier:
 * inputs cut into batches of at most `batch` samples, evaluation mode, no parameter
 * gradients. vjp = one recorded forward + one seeded backward; grad = the same with the seed
 * computed from the forward's logits; jacobian = one forward + M one-hot seeds.
 *
 * Threads: a batch is split over the context's pool by images, each thread running the
 * whole pass (forward, and backward) of its images on a tape of its own, with its kernels
 * serial. The alternative, every kernel splitting its own work over the pool, hands work
 * over some fifty times per pass (twice per op); on the small networks and batches of an
 * attack (a few dozen images of a CIFAR ResNet with 16-32 channels, the points still robust)
 * those hand-offs and the serial glue between them were a quarter of the time. Per-image
 * results do not depend on how the images are grouped (every kernel computes an image the
 * same way whatever else is in its batch), so the split changes no bits. Thread 0 is the
 * caller with the view's own tape; each other thread has a context of one thread (its own
 * workspace and messages), a tape and a view of the network (ti__cls_net.view_new). */
#include <stdlib.h>
#include <string.h>

#include "classifier_tape.h"
#include "internal.h"

typedef struct ti__cls_worker ti__cls_worker;

typedef enum { PASS_FORWARD, PASS_VJP, PASS_GRAD_FWD, PASS_GRAD_BWD, PASS_JACOBIAN } pass_kind;

/* One batch of a call: images [i0, i0 + n) of the call's x, split over the workers. */
typedef struct pass_job {
    ti__cls_tape *c;
    pass_kind kind;
    size_t i0;
    const float *x, *dlogits; /* dlogits: the call's (VJP) or the view's seed (GRAD_BWD) */
    float *logits, *dx, *jac;
    ti_status st[TI__CLS_MAX_WORKERS];
} pass_job;

static ti_status run_forward(ti__cls_tape *c, ti__cls_worker *w, const float *x, int n,
                             int want_grad)
{
    const ti__cls_net *net = &c->net;
    ti_tape_reset(w->tape);
    ti_tape_set_recording(w->tape, want_grad);
    w->in = ti_tape_input(w->tape, x, 4, (int[]){n, net->C, net->H, net->W}, want_grad);
    w->z = net->forward(w->net, w->tape, w->in);
    return w->z ? TI_OK : ti_tape_status(w->tape);
}

/* The rows j0 .. j0 + n - 1 of the batch (images i0 + j0 .. of the call) on worker w. */
static ti_status pass_rows(pass_job *j, ti__cls_worker *w, size_t j0, int n)
{
    ti__cls_tape *c = j->c;
    size_t D = (size_t)c->net.C * c->net.H * c->net.W, row = j->i0 + j0;
    int M = c->net.M;
    ti_status s = TI_OK;
    if (j->kind != PASS_GRAD_BWD &&
        (s = run_forward(c, w, j->x + row * D, n, j->kind != PASS_FORWARD)) != TI_OK)
        return s;
    if (j->logits && j->kind != PASS_GRAD_BWD)
        memcpy(j->logits + row * M, w->z->data, (size_t)n * M * sizeof(float));
    switch (j->kind) {
    case PASS_FORWARD:
    case PASS_GRAD_FWD:
        return TI_OK;
    case PASS_VJP:
        s = ti_tape_backward_seed(w->tape, w->z, j->dlogits + row * M);
        break;
    case PASS_GRAD_BWD: /* the seed is the view's, rows from the batch's start */
        s = ti_tape_backward_seed(w->tape, w->z, j->dlogits + j0 * M);
        break;
    case PASS_JACOBIAN: {
        float *seed = c->seed + j0 * M; /* this worker's rows of the view's seed */
        memset(seed, 0, (size_t)n * M * sizeof(float));
        for (int k = 0; k < M && s == TI_OK; k++) {
            for (int r = 0; r < n; r++)
                seed[(size_t)r * M + k] = 1.0f;
            /* input gradients accumulate across backward calls: start each row at zero */
            memset(w->in->grad, 0, (size_t)n * D * sizeof(float));
            s = ti_tape_backward_seed(w->tape, w->z, seed);
            for (int r = 0; r < n; r++) {
                seed[(size_t)r * M + k] = 0.0f;
                memcpy(j->jac + ((row + r) * M + k) * D, w->in->grad + (size_t)r * D,
                       D * sizeof(float));
            }
        }
        return s;
    }
    }
    if (s == TI_OK)
        memcpy(j->dx + row * D, w->in->grad, (size_t)n * D * sizeof(float));
    return s;
}

static void pass_range(void *arg, size_t lo, size_t hi, int t)
{
    pass_job *j = arg;
    j->st[t] = pass_rows(j, &j->c->w[t], lo, (int)(hi - lo));
}

/* Over how many threads can the view split a batch now: the pool's size if it has a worker
 * for each thread of the pool (made on first use) and the network runs on several threads
 * at once, else 1. */
static int split_workers(ti__cls_tape *c)
{
    int T = ti__ctx_pool_threads(c->ctx);
    if (T < 2 || T > TI__CLS_MAX_WORKERS || !c->net.view_new ||
        (c->net.concurrent && !c->net.concurrent(c->net.net)))
        return 1;
    while (c->nw < T) {
        ti__cls_worker *w = &c->w[c->nw];
        w->ctx = ti_ctx_new(0, 1);
        w->tape = w->ctx ? ti_tape_new(w->ctx) : NULL;
        w->net = w->tape ? c->net.view_new(c->net.net, w->ctx) : NULL;
        if (!w->net) { /* out of memory: run with the workers there are */
            ti_tape_free(w->tape);
            ti_ctx_free(w->ctx);
            *w = (ti__cls_worker){0};
            break;
        }
        c->nw++;
    }
    return c->nw >= T ? T : 1;
}

/* One phase of a batch of n images over `parts` threads (1: on the caller alone). On
 * failure, the message of the first thread that failed goes to the view's context. */
static ti_status run_phase(pass_job *j, int n, int parts)
{
    ti__cls_tape *c = j->c;
    if (parts < 2 || n < parts)
        return pass_rows(j, &c->w[0], 0, n);
    /* parts is the pool's size: one range per thread, range t on worker t */
    int used = ti__parallel_for(c->ctx, (size_t)n, 1, pass_range, j);
    for (int t = 0; t < used; t++)
        if (j->st[t] != TI_OK) {
            if (t > 0)
                ti_ctx_error(c->ctx, j->st[t], "%s", ti_ctx_errmsg(c->w[t].ctx));
            return j->st[t];
        }
    return TI_OK;
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

/* Every batch of the call through one pass kind. */
static ti_status run_call(ti__cls_tape *c, pass_job *j, int N)
{
    int was = begin(c), parts = split_workers(c);
    ti_status s = TI_OK;
    for (int i = 0; i < N && s == TI_OK; i += c->batch) {
        int n = N - i < c->batch ? N - i : c->batch;
        j->i0 = (size_t)i;
        s = run_phase(j, n, parts);
    }
    return end(c, was, s);
}

static ti_status cls_forward(void *self, const float *x, int N, float *logits)
{
    pass_job j = {.c = self, .kind = PASS_FORWARD, .x = x, .logits = logits};
    return run_call(self, &j, N);
}

static ti_status cls_vjp(void *self, const float *x, int N, const float *dlogits, float *logits,
                         float *dx)
{
    pass_job j = {.c = self, .kind = PASS_VJP, .x = x, .dlogits = dlogits, .logits = logits,
                  .dx = dx};
    return run_call(self, &j, N);
}

/* The loss gradient in one pass: the forward's logits go to fn, whose dlogits seed the
 * backward (forward + vjp would run the forward again). Two phases per batch: every
 * thread's forward, fn on the whole batch (on the caller: fn sees the batch's rows in
 * order, as without threads), every thread's backward. */
static ti_status cls_grad(void *self, const float *x, int N, ti_dlogits_fn fn, void *user,
                          float *logits, float *dx)
{
    ti__cls_tape *c = self;
    int M = c->net.M, was = begin(c), parts = split_workers(c);
    pass_job j = {.c = c, .x = x, .logits = logits, .dx = dx, .dlogits = c->seed};
    ti_status s = TI_OK;
    for (int i = 0; i < N && s == TI_OK; i += c->batch) {
        int n = N - i < c->batch ? N - i : c->batch;
        j.i0 = (size_t)i;
        j.kind = PASS_GRAD_FWD;
        if ((s = run_phase(&j, n, parts)) != TI_OK)
            break;
        fn(user, logits + (size_t)i * M, n, M, c->seed); /* c->seed: (batch, M) scratch */
        j.kind = PASS_GRAD_BWD;
        s = run_phase(&j, n, parts);
    }
    return end(c, was, s);
}

static ti_status cls_jacobian(void *self, const float *x, int N, float *logits, float *jac)
{
    pass_job j = {.c = self, .kind = PASS_JACOBIAN, .x = x, .logits = logits, .jac = jac};
    return run_call(self, &j, N);
}

ti_status ti__cls_tape_init(ti__cls_tape *c, ti_ctx *ctx, const ti__cls_net *net, int batch,
                            const char *who, ti_classifier *out)
{
    memset(c->w, 0, sizeof c->w);
    c->net = *net;
    c->ctx = ctx;
    c->batch = batch;
    c->tape = ti_tape_new(ctx);
    c->seed = malloc((size_t)batch * net->M * sizeof(float));
    c->w[0] = (ti__cls_worker){.tape = c->tape, .net = net->net};
    c->nw = 1;
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
    for (int t = 1; t < c->nw; t++) {
        if (c->net.view_free)
            c->net.view_free(c->w[t].net);
        ti_tape_free(c->w[t].tape);
        ti_ctx_free(c->w[t].ctx);
    }
    ti_tape_free(c->tape);
    free(c->seed);
}
