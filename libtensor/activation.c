/* Element-wise activations. ReLU: y = max(x, 0); dy/dx = 1 where x > 0 (0 at x = 0, as
 * PyTorch). ti__relu_inplace writes y over x's data (one activation fewer and no second buffer
 * to stream through); the models use it where nothing else reads x afterwards.
 * The others, for imported models (docs/onnx.md): sigmoid, tanh, SiLU x sigmoid(x) (Elfwing
 * et al. 2018; Swish with beta = 1 in Ramachandran et al. 2017), GELU x Phi(x) with Phi the
 * normal CDF, or its tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 * (Hendrycks & Gimpel 2016), ELU (Clevert et al. 2016), LeakyReLU and erf. Their derivatives
 * and the side taken at a kink (x = 0 counts as negative) follow PyTorch's backward formulas. */
#include <math.h>

#include "thinice/ops.h"
#include "internal.h"

/* Both passes over a range of elements, for the pool: y = max(x, 0), or gx += dy where
 * y > 0 (x may be y, in place). */
typedef struct relu_job {
    float *y;
    const float *x;
    float *gx;
    const float *gy;
} relu_job;

/* The job's pointers are read into locals first: written through j->y, a store could change
 * j itself as far as the compiler knows, which kept these loops scalar (the backward was 11%
 * of an APGD-T attack on a small CIFAR ResNet). */
static void fwd_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const relu_job *j = arg;
    float *y = j->y;
    const float *x = j->x;
    for (size_t i = lo; i < hi; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void bwd_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const relu_job *j = arg;
    float *gx = j->gx;
    const float *y = j->y, *gy = j->gy;
    for (size_t i = lo; i < hi; i++)
        gx[i] += y[i] > 0.0f ? gy[i] : 0.0f;
}

static void relu_backward(ti_tape *tape, ti_node *n)
{
    relu_job j = {.y = n->out->data, .gx = n->in[0]->grad, .gy = n->out->grad};
    ti__parallel_for(ti_tape_ctx(tape), n->out->size, TI_GRAIN_ELEMS, bwd_range, &j);
}

static const ti_op_def op_relu = {"relu", relu_backward};

ti_tensor *ti_relu(ti_tape *tape, ti_tensor *x)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    ti_tensor *y = ti__tape_like(tape, x);
    if (!y)
        return NULL;
    relu_job j = {.y = y->data, .x = x->data};
    ti__parallel_for(ti_tape_ctx(tape), x->size, TI_GRAIN_ELEMS, fwd_range, &j);
    ti__tape_record(tape, &op_relu, y, 1, &x);
    return y;
}

ti_tensor *ti__relu_inplace(ti_tape *tape, ti_tensor *x)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    ti_tensor *y = ti__tape_alloc(tape, sizeof *y);
    if (!y)
        return NULL;
    ti_tensor_view(y, x->data, NULL, x->ndim, x->shape);
    relu_job j = {.y = y->data, .x = y->data};
    ti__parallel_for(ti_tape_ctx(tape), x->size, TI_GRAIN_ELEMS, fwd_range, &j);
    /* the backward reads y only, so x's values are not needed any more */
    ti__tape_record(tape, &op_relu, y, 1, &x);
    return y;
}

/* ---- sigmoid, tanh, SiLU, GELU, ELU, LeakyReLU, erf --------------------------------------- */

typedef enum act_kind {
    ACT_SIGMOID = 0, ACT_TANH, ACT_SILU, ACT_GELU, ACT_GELU_TANH, ACT_ELU, ACT_LEAKY, ACT_ERF
} act_kind;

static const char *const act_names[] = {"sigmoid", "tanh", "silu", "gelu", "gelu_tanh",
                                        "elu", "leaky_relu", "erf"};

/* sqrt(2 / pi) and the cubic coefficient of GELU's tanh form; 1 / sqrt(2 pi), 2 / sqrt(pi) */
#define GELU_K0 0.7978845608028654f
#define GELU_K1 0.044715f
#define INV_SQRT_2PI 0.3989422804014327f
#define TWO_OVER_SQRT_PI 1.1283791670955126f

/* One activation's passes over a range of elements (the kind is switched on once per range,
 * not per element). alpha: ELU's scale of the negative side, LeakyReLU's slope. */
typedef struct act_job {
    act_kind kind;
    float alpha;
    float *y, *gx;
    const float *x, *gy;
} act_job;

static float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static void act_fwd_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const act_job *j = arg;
    const float *x = j->x, a = j->alpha;
    float *y = j->y;
    switch (j->kind) {
    case ACT_SIGMOID:
        for (size_t i = lo; i < hi; i++) y[i] = sigmoidf(x[i]);
        break;
    case ACT_TANH:
        for (size_t i = lo; i < hi; i++) y[i] = tanhf(x[i]);
        break;
    case ACT_SILU:
        for (size_t i = lo; i < hi; i++) y[i] = x[i] * sigmoidf(x[i]);
        break;
    case ACT_GELU:
        for (size_t i = lo; i < hi; i++)
            y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
        break;
    case ACT_GELU_TANH:
        for (size_t i = lo; i < hi; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(GELU_K0 * (v + GELU_K1 * v * v * v)));
        }
        break;
    case ACT_ELU:
        for (size_t i = lo; i < hi; i++) y[i] = x[i] > 0.0f ? x[i] : a * expm1f(x[i]);
        break;
    case ACT_LEAKY:
        for (size_t i = lo; i < hi; i++) y[i] = x[i] > 0.0f ? x[i] : a * x[i];
        break;
    case ACT_ERF:
        for (size_t i = lo; i < hi; i++) y[i] = erff(x[i]);
        break;
    }
}

/* gx += gy f'(x); where the output gives f' more cheaply than x (sigmoid, tanh, ELU) it is
 * read instead */
static void act_bwd_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const act_job *j = arg;
    const float *x = j->x, *y = j->y, *gy = j->gy, a = j->alpha;
    float *gx = j->gx;
    switch (j->kind) {
    case ACT_SIGMOID:
        for (size_t i = lo; i < hi; i++) gx[i] += gy[i] * y[i] * (1.0f - y[i]);
        break;
    case ACT_TANH:
        for (size_t i = lo; i < hi; i++) gx[i] += gy[i] * (1.0f - y[i] * y[i]);
        break;
    case ACT_SILU:
        for (size_t i = lo; i < hi; i++) {
            float s = sigmoidf(x[i]);
            gx[i] += gy[i] * s * (1.0f + x[i] * (1.0f - s));
        }
        break;
    case ACT_GELU: /* Phi(x) + x phi(x) */
        for (size_t i = lo; i < hi; i++) {
            float v = x[i];
            float cdf = 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
            gx[i] += gy[i] * (cdf + v * INV_SQRT_2PI * expf(-0.5f * v * v));
        }
        break;
    case ACT_GELU_TANH:
        for (size_t i = lo; i < hi; i++) {
            /* beyond |x| = 10 the tanh is +-1 in float and 1 - th^2 is 0: clamping x there
             * changes nothing but keeps 0 * inf (a NaN) out of the far tails */
            float v = fminf(fmaxf(x[i], -10.0f), 10.0f);
            float th = tanhf(GELU_K0 * (v + GELU_K1 * v * v * v));
            float du = GELU_K0 * (1.0f + 3.0f * GELU_K1 * v * v);
            gx[i] += gy[i] * (0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * du);
        }
        break;
    case ACT_ELU: /* alpha e^x = y + alpha on the negative side */
        for (size_t i = lo; i < hi; i++) gx[i] += x[i] > 0.0f ? gy[i] : gy[i] * (y[i] + a);
        break;
    case ACT_LEAKY:
        for (size_t i = lo; i < hi; i++) gx[i] += x[i] > 0.0f ? gy[i] : a * gy[i];
        break;
    case ACT_ERF:
        for (size_t i = lo; i < hi; i++) gx[i] += gy[i] * TWO_OVER_SQRT_PI * expf(-x[i] * x[i]);
        break;
    }
}

static void act_backward(ti_tape *tape, ti_node *n)
{
    act_job j = {.kind = (act_kind)n->ip[0], .alpha = n->fp[0], .y = n->out->data,
                 .x = n->in[0]->data, .gx = n->in[0]->grad, .gy = n->out->grad};
    ti__parallel_for(ti_tape_ctx(tape), n->out->size, TI_GRAIN_ELEMS, act_bwd_range, &j);
}

static const ti_op_def op_act = {"activation", act_backward};

static ti_tensor *activation(ti_tape *tape, ti_tensor *x, act_kind kind, float alpha)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    if (!isfinite(alpha))
        return ti__tape_fail(tape, TI_ERR_ARG, "%s: alpha %g is not finite", act_names[kind],
                             (double)alpha);
    ti_tensor *y = ti__tape_like(tape, x);
    if (!y)
        return NULL;
    act_job j = {.kind = kind, .alpha = alpha, .y = y->data, .x = x->data};
    ti__parallel_for(ti_tape_ctx(tape), x->size, TI_GRAIN_ELEMS, act_fwd_range, &j);
    ti_node *n = ti__tape_record(tape, &op_act, y, 1, &x);
    if (n) {
        n->ip[0] = kind;
        n->fp[0] = alpha;
    }
    return y;
}

ti_tensor *ti_sigmoid(ti_tape *tape, ti_tensor *x)
{
    return activation(tape, x, ACT_SIGMOID, 0.0f);
}

ti_tensor *ti_tanh(ti_tape *tape, ti_tensor *x)
{
    return activation(tape, x, ACT_TANH, 0.0f);
}

ti_tensor *ti_silu(ti_tape *tape, ti_tensor *x)
{
    return activation(tape, x, ACT_SILU, 0.0f);
}

ti_tensor *ti_gelu(ti_tape *tape, ti_tensor *x, int tanh_approx)
{
    return activation(tape, x, tanh_approx ? ACT_GELU_TANH : ACT_GELU, 0.0f);
}

ti_tensor *ti_elu(ti_tape *tape, ti_tensor *x, float alpha)
{
    return activation(tape, x, ACT_ELU, alpha);
}

ti_tensor *ti_leaky_relu(ti_tape *tape, ti_tensor *x, float alpha)
{
    return activation(tape, x, ACT_LEAKY, alpha);
}

ti_tensor *ti_erf(ti_tape *tape, ti_tensor *x)
{
    return activation(tape, x, ACT_ERF, 0.0f);
}
