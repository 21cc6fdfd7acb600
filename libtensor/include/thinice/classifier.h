/* A classifier as attacks see it: a batch of images in [0,1] in, logits out, and
 * vector-Jacobian products back to the images. ti_model (model.h) provides one, the linear
 * classifier below is the analytic test bed, and users can wrap anything else.
 * Every callback works on N samples laid out (N, C, H, W) and returns a ti_status; details of
 * a failure go to the context the implementation was built with. */
#ifndef THINICE_CLASSIFIER_H
#define THINICE_CLASSIFIER_H

#include "thinice/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills dlogits (N, M) with the gradient of a loss at the given logits (N, M): how attacks
 * and adversarial training say what they differentiate, in ti_classifier_grad. */
typedef void (*ti_dlogits_fn)(void *user, const float *logits, int N, int M, float *dlogits);

typedef struct ti_classifier {
    int C, H, W; /* shape of one input sample */
    int M;       /* number of classes */
    void *self;  /* the implementation's state */
    /* logits (N, M) of x (N, C, H, W), evaluation mode */
    ti_status (*forward)(void *self, const float *x, int N, float *logits);
    /* logits (N, M) at x (may be NULL if not wanted) and
     * dx (N, C, H, W) = sum_m dlogits[n, m] * d logits[n, m] / d x[n] */
    ti_status (*vjp)(void *self, const float *x, int N, const float *dlogits, float *logits,
                     float *dx);
    /* Optional (may be NULL): logits (N, M) and the full Jacobian jac (N, M, C*H*W) in one go,
     * sharing one forward pass. ti_classifier_jacobian falls back to M vjp calls. */
    ti_status (*jacobian)(void *self, const float *x, int N, float *logits, float *jac);
    /* Optional (may be NULL): the gradient of a loss of the logits in ONE forward and one
     * backward pass: logits at x, then fn(user, logits, N, M, dlogits), then
     * dx = dlogits^T d logits / dx. ti_classifier_grad falls back to forward + vjp. */
    ti_status (*grad)(void *self, const float *x, int N, ti_dlogits_fn fn, void *user,
                      float *logits, float *dx);
} ti_classifier;

static inline size_t ti_classifier_dim(const ti_classifier *f)
{
    return (size_t)f->C * f->H * f->W;
}

/* The full Jacobian through f->jacobian, or M vector-Jacobian products. scratch-free for the
 * caller: it uses f's own callbacks only. */
ti_status ti_classifier_jacobian(const ti_classifier *f, const float *x, int N, float *logits,
                                 float *jac);

/* logits (N, M) and dx (N, C, H, W): the input gradient of the loss whose logit gradient fn
 * gives, through f->grad or else f->forward + f->vjp. The fallback needs N*M floats of
 * scratch, taken from malloc once per call. */
ti_status ti_classifier_grad(const ti_classifier *f, const float *x, int N, ti_dlogits_fn fn,
                             void *user, float *logits, float *dx);

/* The logits (N, M) of the N samples x (N, C, H, W), `batch` samples per forward call (the
 * batch of the classifier's view). */
ti_status ti_classifier_logits(const ti_classifier *f, const float *x, int N, int batch,
                               float *logits);

/* Predicted labels: argmax of each row of logits (N, M); ties go to the lowest index. */
void ti_argmax_rows(const float *logits, int N, int M, int *pred);

/* ---- the linear classifier: logits = W x + b ------------------------------------------- */
typedef struct ti_linear_classifier {
    ti_classifier base; /* fill by ti_linear_classifier_init; pass &lc.base to attacks */
    const float *Wt;    /* (M, D) borrowed */
    const float *b;     /* (M) borrowed */
    long forwards, vjps; /* call counters, for tests of attack budgets */
} ti_linear_classifier;

/* W (M, C*H*W) and b (M) are borrowed and must outlive lc. */
void ti_linear_classifier_init(ti_linear_classifier *lc, const float *W, const float *b, int M,
                               int C, int H, int W_);

#ifdef __cplusplus
}
#endif
#endif
