/* Differentiable ops. Each returns a new activation on the tape, or NULL after recording a
 * sticky error (see tensor.h). Shapes use one letter per dimension: N batch, C channels in,
 * H W input size, K channels out, KH KW kernel, OH OW output, M classes.
 * Every op's backward is tested against central finite differences (tests/check_ops_*.c). */
#ifndef THINICE_OPS_H
#define THINICE_OPS_H

#include "thinice/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ti_reduction {
    TI_REDUCE_MEAN = 0, /* scalar: mean over the batch */
    TI_REDUCE_SUM,      /* scalar: sum over the batch */
    TI_REDUCE_NONE,     /* (N): one value per sample */
    TI_REDUCTION_COUNT
} ti_reduction;

/* ---- convolution and pooling (conv.c, pool.c) ----------------------------------------- */

/* x (N, C, H, W), w (K, C, KH, KW), b (K) or NULL -> (N, K, OH, OW) with zero padding `pad`
 * and `stride`: OH = (H + 2 pad - KH) / stride + 1. im2col + sgemm over groups of images;
 * 1x1 stride-1 convolutions skip im2col. */
ti_tensor *ti_conv2d(ti_tape *tape, ti_tensor *x, ti_tensor *w, ti_tensor *b, int stride, int pad);
/* The general convolution (conv_grouped.c): x (N, C, H, W), w (K, C / groups, KH, KW), b (K)
 * or NULL -> (N, K, OH, OW) with OH = (H + 2 pad - dilation (KH - 1) - 1) / stride + 1. The
 * channels split into `groups` slices, each convolved with its own K / groups filters
 * (groups = C is a depthwise convolution); the kernel taps are `dilation` pixels apart.
 * PyTorch's Conv2d(groups, dilation). groups = dilation = 1 is ti_conv2d. */
ti_tensor *ti_conv2d_grouped(ti_tape *tape, ti_tensor *x, ti_tensor *w, ti_tensor *b, int stride,
                             int pad, int dilation, int groups);
/* Max pooling, window k, stride s, no padding: (N, C, H, W) -> (N, C, OH, OW).
 * Ties: the first maximum in row-major window order receives the gradient. */
ti_tensor *ti_maxpool2d(ti_tape *tape, ti_tensor *x, int k, int s);
/* Average pooling, window k, stride s, no padding. */
ti_tensor *ti_avgpool2d(ti_tape *tape, ti_tensor *x, int k, int s);
/* Adaptive average pooling to (OH, OW): bin i spans [floor(i H / OH), ceil((i+1) H / OH)),
 * as PyTorch's AdaptiveAvgPool2d. (1, 1) is global average pooling. */
ti_tensor *ti_adaptive_avgpool2d(ti_tape *tape, ti_tensor *x, int OH, int OW);

/* ---- dense layers and normalisation (linear.c, batchnorm.c, normalize.c) ---------------- */

/* x (N, C) (or any (N, ...), flattened), w (K, C), b (K) or NULL -> (N, K): x w^T + b. */
ti_tensor *ti_linear(ti_tape *tape, ti_tensor *x, ti_tensor *w, ti_tensor *b);
/* Batch norm over (N, C, H, W) per channel (PyTorch semantics). training != 0: normalise
 * with the batch's biased variance and update running_mean/var (C) as
 * r <- (1 - momentum) r + momentum stat, with the unbiased variance; otherwise normalise with
 * the running statistics. gamma, beta (C); running_* are leaves without gradients. */
ti_tensor *ti_batchnorm2d(ti_tape *tape, ti_tensor *x, ti_tensor *gamma, ti_tensor *beta,
                          ti_tensor *running_mean, ti_tensor *running_var, int training,
                          float momentum, float eps);
/* Per-channel (x - mean[c]) / std[c] with constant mean, std (C floats, copied): the input
 * normalisation layer that sits inside a model. Differentiable in x. */
ti_tensor *ti_normalize(ti_tape *tape, ti_tensor *x, const float *mean, const float *std);

/* ---- element-wise and shapes (activation.c, elementwise.c, shape.c, concat.c) ---------- */

ti_tensor *ti_relu(ti_tape *tape, ti_tensor *x);
/* Smooth and leaky activations (activation.c); at a kink x = 0 takes the negative side's
 * derivative, as PyTorch. */
ti_tensor *ti_sigmoid(ti_tape *tape, ti_tensor *x); /* 1 / (1 + e^-x) */
ti_tensor *ti_tanh(ti_tape *tape, ti_tensor *x);
ti_tensor *ti_silu(ti_tape *tape, ti_tensor *x);    /* x sigmoid(x), also called Swish */
/* GELU x Phi(x) (Phi the standard normal CDF), or with tanh_approx != 0 its approximation
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): PyTorch's approximate='none' / 'tanh'. */
ti_tensor *ti_gelu(ti_tape *tape, ti_tensor *x, int tanh_approx);
ti_tensor *ti_elu(ti_tape *tape, ti_tensor *x, float alpha); /* x > 0 ? x : alpha (e^x - 1) */
ti_tensor *ti_leaky_relu(ti_tape *tape, ti_tensor *x, float alpha); /* x > 0 ? x : alpha x */
ti_tensor *ti_erf(ti_tape *tape, ti_tensor *x);
ti_tensor *ti_add(ti_tape *tape, ti_tensor *a, ti_tensor *b); /* same shapes */
ti_tensor *ti_sub(ti_tape *tape, ti_tensor *a, ti_tensor *b); /* same shapes */
ti_tensor *ti_mul(ti_tape *tape, ti_tensor *a, ti_tensor *b); /* same shapes */
ti_tensor *ti_scale(ti_tape *tape, ti_tensor *x, float s);   /* s x */
ti_tensor *ti_add_scalar(ti_tape *tape, ti_tensor *x, float c);
/* min(max(x, lo), hi); the gradient passes where lo <= x <= hi (PyTorch's choice). */
ti_tensor *ti_clamp(ti_tape *tape, ti_tensor *x, float lo, float hi);
/* sign(x) with sign(0) = 0; its gradient is zero everywhere. */
ti_tensor *ti_sign(ti_tape *tape, ti_tensor *x);
/* a op b with NumPy broadcasting (broadcast.c): shapes aligned at the right, a size-1
 * dimension stretches, at most 4-D. Differentiable in both; a stretched input's gradient is
 * summed over the stretched dimensions. For per-channel constants ((1, C, 1, 1)) and biases. */
typedef enum ti_binop {
    TI_BINOP_ADD = 0, TI_BINOP_SUB, TI_BINOP_MUL, TI_BINOP_DIV, TI_BINOP_COUNT
} ti_binop;
ti_tensor *ti_broadcast(ti_tape *tape, ti_binop op, ti_tensor *a, ti_tensor *b);
/* Same data, new shape (sizes must agree; one dimension may be -1). */
ti_tensor *ti_reshape(ti_tape *tape, ti_tensor *x, int ndim, const int *shape);
/* (N, ...) -> (N, rest). */
ti_tensor *ti_flatten(ti_tape *tape, ti_tensor *x);
/* The n inputs joined along `axis` (negative counts from the end; concat.c): equal shapes
 * except along the axis. Channels of feature maps are axis 1. */
ti_tensor *ti_concat(ti_tape *tape, int n, ti_tensor *const *xs, int axis);

/* ---- masked weights (masked.c) --------------------------------------------------------- */

/* y = w * mask (element-wise, mask constant, same shape as w). Backward: dw += mask * dy, and
 * when `score` is given and requires a gradient, the straight-through estimator of a top-k
 * mask over |score| (HYDRA, docs/pruning.md#hydra): dscore += sign(score) * w * dy, for every entry
 * including the masked ones. score may be NULL. */
ti_tensor *ti_masked_weight(ti_tape *tape, ti_tensor *w, const float *mask, ti_tensor *score);

/* ---- reductions (reduce.c) and losses (loss.c) ------------------------------------------- */

ti_tensor *ti_sum(ti_tape *tape, ti_tensor *x);  /* scalar */
ti_tensor *ti_mean(ti_tape *tape, ti_tensor *x); /* scalar */
/* Row-wise softmax and log-softmax of (N, M). */
ti_tensor *ti_softmax(ti_tape *tape, ti_tensor *logits);
ti_tensor *ti_log_softmax(ti_tape *tape, ti_tensor *logits);
/* Softmax cross-entropy of logits (N, M) against labels[N] in [0, M): log sum exp z - z_y. */
ti_tensor *ti_cross_entropy(ti_tape *tape, ti_tensor *logits, const int *labels,
                            ti_reduction red);
/* KL(softmax(p_logits) || softmax(q_logits)) per row = sum_j p_j (log p_j - log q_j), both
 * (N, M), differentiable in both. TRADES uses p = clean, q = adversarial, reduction SUM / N
 * ("batchmean"): pass TI_REDUCE_MEAN for that. */
ti_tensor *ti_kl_div(ti_tape *tape, ti_tensor *p_logits, ti_tensor *q_logits, ti_reduction red);

#ifdef __cplusplus
}
#endif
#endif
