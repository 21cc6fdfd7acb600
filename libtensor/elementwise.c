/* Element-wise arithmetic of same-shaped tensors and with scalars, clamp and sign: the
 * pieces attacks and training losses are built from. */
#include "thinice/ops.h"
#include "internal.h"

/* Checks that a and b have the same shape and makes the output; NULL on error. */
static ti_tensor *binary_out(ti_tape *tape, const char *op, ti_tensor *a, ti_tensor *b)
{
    ti_tensor *in[2] = {a, b};
    if (ti__tape_bad(tape, 2, in))
        return NULL;
    if (!ti__same_shape(a, b)) {
        char sa[64], sb[64];
        return ti__tape_fail(tape, TI_ERR_SHAPE, "%s: shapes %s and %s differ", op,
                             ti_shape_str(a, sa, sizeof sa), ti_shape_str(b, sb, sizeof sb));
    }
    return ti__tape_like(tape, a);
}

/* The passes of add, sub and add_relu over a range of elements, for the pool. */
typedef struct ew_job {
    float *y, *ga, *gb;
    const float *a, *b, *g;
    float s;
} ew_job;

/* y = a + s b */
static void addsub_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const ew_job *j = arg;
    float *y = j->y, s = j->s; /* locals: see ti_relu's passes (activation.c) */
    const float *a = j->a, *b = j->b;
    for (size_t i = lo; i < hi; i++)
        y[i] = a[i] + s * b[i];
}

/* ga += g and gb += s g, for the inputs that want them */
static void addsub_bwd_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const ew_job *j = arg;
    float *ga = j->ga, *gb = j->gb, s = j->s;
    const float *g = j->g;
    if (ga)
        for (size_t i = lo; i < hi; i++)
            ga[i] += g[i];
    if (gb)
        for (size_t i = lo; i < hi; i++)
            gb[i] += s * g[i];
}

/* d(a + s b) = da + s db: add and sub share a backward, with s in fp[0]. */
static void addsub_backward(ti_tape *tape, ti_node *n)
{
    ti_tensor *a = n->in[0], *b = n->in[1];
    ew_job j = {.ga = a->requires_grad ? a->grad : NULL, .gb = b->requires_grad ? b->grad : NULL,
                .g = n->out->grad, .s = n->fp[0]};
    ti__parallel_for(ti_tape_ctx(tape), n->out->size, TI_GRAIN_ELEMS, addsub_bwd_range, &j);
}

static const ti_op_def op_addsub = {"add", addsub_backward};

static ti_tensor *addsub(ti_tape *tape, const char *name, ti_tensor *a, ti_tensor *b, float s)
{
    ti_tensor *y = binary_out(tape, name, a, b);
    if (!y)
        return NULL;
    ew_job j = {.y = y->data, .a = a->data, .b = b->data, .s = s};
    ti__parallel_for(ti_tape_ctx(tape), y->size, TI_GRAIN_ELEMS, addsub_range, &j);
    ti_tensor *in[2] = {a, b};
    ti_node *n = ti__tape_record(tape, &op_addsub, y, 2, in);
    if (n)
        n->fp[0] = s;
    return y;
}

ti_tensor *ti_add(ti_tape *tape, ti_tensor *a, ti_tensor *b)
{
    return addsub(tape, "add", a, b, 1.0f);
}

ti_tensor *ti_sub(ti_tape *tape, ti_tensor *a, ti_tensor *b)
{
    return addsub(tape, "sub", a, b, -1.0f);
}

/* y = max(y + b, 0) in place over a's data */
static void add_relu_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const ew_job *j = arg;
    float *y = j->y;
    const float *b = j->b;
    for (size_t i = lo; i < hi; i++) {
        float v = y[i] + b[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

/* dy masked by y > 0, added to both inputs' gradients (one pass over y and dy for both in
 * the usual case of two distinct buffers) */
static void add_relu_bwd_range(void *arg, size_t lo, size_t hi, int t)
{
    (void)t;
    const ew_job *j = arg;
    const float *y = j->a, *g = j->g;
    float *ga = j->ga, *gb = j->gb;
    if (ga && gb && ga != gb) {
        for (size_t i = lo; i < hi; i++) {
            float v = y[i] > 0.0f ? g[i] : 0.0f;
            ga[i] += v;
            gb[i] += v;
        }
        return;
    }
    if (ga)
        for (size_t i = lo; i < hi; i++)
            ga[i] += y[i] > 0.0f ? g[i] : 0.0f;
    if (gb)
        for (size_t i = lo; i < hi; i++)
            gb[i] += y[i] > 0.0f ? g[i] : 0.0f;
}

/* y = max(a + b, 0), written over a's data (ti__add_relu, the residual join of ResNet):
 * one pass instead of two and one activation instead of two. dy is masked by y > 0 and added
 * to both inputs' gradients. */
static void add_relu_backward(ti_tape *tape, ti_node *n)
{
    ti_tensor *a = n->in[0], *b = n->in[1];
    ew_job j = {.a = n->out->data, .g = n->out->grad,
                .ga = a->requires_grad ? a->grad : NULL, .gb = b->requires_grad ? b->grad : NULL};
    ti__parallel_for(ti_tape_ctx(tape), n->out->size, TI_GRAIN_ELEMS, add_relu_bwd_range, &j);
}

static const ti_op_def op_add_relu = {"add_relu", add_relu_backward};

ti_tensor *ti__add_relu(ti_tape *tape, ti_tensor *a, ti_tensor *b)
{
    ti_tensor *in[2] = {a, b};
    if (ti__tape_bad(tape, 2, in))
        return NULL;
    if (!ti__same_shape(a, b)) {
        char sa[64], sb[64];
        return ti__tape_fail(tape, TI_ERR_SHAPE, "add_relu: shapes %s and %s differ",
                             ti_shape_str(a, sa, sizeof sa), ti_shape_str(b, sb, sizeof sb));
    }
    ti_tensor *y = ti__tape_alloc(tape, sizeof *y);
    if (!y)
        return NULL;
    ti_tensor_view(y, a->data, NULL, a->ndim, a->shape);
    ew_job j = {.y = y->data, .b = b->data};
    ti__parallel_for(ti_tape_ctx(tape), y->size, TI_GRAIN_ELEMS, add_relu_range, &j);
    ti__tape_record(tape, &op_add_relu, y, 2, in);
    return y;
}

static void mul_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const float *g = n->out->grad;
    ti_tensor *a = n->in[0], *b = n->in[1];
    if (a->requires_grad)
        for (size_t i = 0; i < a->size; i++)
            a->grad[i] += g[i] * b->data[i];
    if (b->requires_grad)
        for (size_t i = 0; i < b->size; i++)
            b->grad[i] += g[i] * a->data[i];
}

static const ti_op_def op_mul = {"mul", mul_backward};

ti_tensor *ti_mul(ti_tape *tape, ti_tensor *a, ti_tensor *b)
{
    ti_tensor *y = binary_out(tape, "mul", a, b);
    if (!y)
        return NULL;
    for (size_t i = 0; i < y->size; i++)
        y->data[i] = a->data[i] * b->data[i];
    ti_tensor *in[2] = {a, b};
    ti__tape_record(tape, &op_mul, y, 2, in);
    return y;
}

/* y = s x + c: scale and add_scalar share it, s in fp[0]. */
static void affine_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const float *g = n->out->grad;
    float *gx = n->in[0]->grad, s = n->fp[0];
    for (size_t i = 0; i < n->out->size; i++)
        gx[i] += s * g[i];
}

static const ti_op_def op_affine = {"scale", affine_backward};

static ti_tensor *affine(ti_tape *tape, ti_tensor *x, float s, float c)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    ti_tensor *y = ti__tape_like(tape, x);
    if (!y)
        return NULL;
    for (size_t i = 0; i < y->size; i++)
        y->data[i] = s * x->data[i] + c;
    ti_node *n = ti__tape_record(tape, &op_affine, y, 1, &x);
    if (n)
        n->fp[0] = s;
    return y;
}

ti_tensor *ti_scale(ti_tape *tape, ti_tensor *x, float s)
{
    return affine(tape, x, s, 0.0f);
}

ti_tensor *ti_add_scalar(ti_tape *tape, ti_tensor *x, float c)
{
    return affine(tape, x, 1.0f, c);
}

static void clamp_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const float *x = n->in[0]->data, *g = n->out->grad;
    float *gx = n->in[0]->grad, lo = n->fp[0], hi = n->fp[1];
    for (size_t i = 0; i < n->out->size; i++)
        gx[i] += (x[i] >= lo && x[i] <= hi) ? g[i] : 0.0f;
}

static const ti_op_def op_clamp = {"clamp", clamp_backward};

ti_tensor *ti_clamp(ti_tape *tape, ti_tensor *x, float lo, float hi)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    if (!(lo <= hi))
        return ti__tape_fail(tape, TI_ERR_ARG, "clamp: lo %g is above hi %g", lo, hi);
    ti_tensor *y = ti__tape_like(tape, x);
    if (!y)
        return NULL;
    for (size_t i = 0; i < y->size; i++) {
        float v = x->data[i];
        y->data[i] = v < lo ? lo : (v > hi ? hi : v);
    }
    ti_node *n = ti__tape_record(tape, &op_clamp, y, 1, &x);
    if (n) {
        n->fp[0] = lo;
        n->fp[1] = hi;
    }
    return y;
}

static void sign_backward(ti_tape *tape, ti_node *n)
{
    /* piecewise constant: no gradient flows (the input's buffer stays as it is) */
    (void)tape;
    (void)n;
}

static const ti_op_def op_sign = {"sign", sign_backward};

ti_tensor *ti_sign(ti_tape *tape, ti_tensor *x)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    ti_tensor *y = ti__tape_like(tape, x);
    if (!y)
        return NULL;
    for (size_t i = 0; i < y->size; i++)
        y->data[i] = (float)((x->data[i] > 0.0f) - (x->data[i] < 0.0f));
    ti__tape_record(tape, &op_sign, y, 1, &x);
    return y;
}
