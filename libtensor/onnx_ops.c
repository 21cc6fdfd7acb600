/* The ONNX operators thinice runs, each mapped onto thinice ops (forward and backward come
 * from them): checks at load time (compile) and the computation on a tape (run). Semantics
 * from the ONNX operator specification (github.com/onnx/onnx/blob/main/docs/Operators.md),
 * opsets 9 to 17; where an attribute moved to an input across opsets both are read. Also
 * ti__ox_pad2d, the constant-padding op asymmetric convolution and pooling padding need, and
 * the helpers onnx_ops_act.c (activations, softmax heads) shares. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* ---- padding: an op of its own (forward copies into a larger map, backward gathers) ---- */

static void pad_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const ti_tensor *x = n->in[0], *y = n->out;
    int top = n->ip[0], left = n->ip[1];
    int H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    size_t planes = (size_t)x->shape[0] * x->shape[1];
    for (size_t p = 0; p < planes; p++)
        for (int h = 0; h < H; h++) {
            float *gx = x->grad + (p * H + h) * (size_t)W;
            const float *gy = y->grad + (p * OH + h + top) * (size_t)OW + left;
            for (int w = 0; w < W; w++)
                gx[w] += gy[w];
        }
}

static const ti_op_def op_pad2d = {"pad2d", pad_backward};

ti_tensor *ti__ox_pad2d(ti_tape *tape, ti_tensor *x, int top, int left, int bottom, int right,
                    float value)
{
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    char sx[64];
    if (x->ndim != 4)
        return ti__tape_fail(tape, TI_ERR_SHAPE, "pad2d: input must be (N, C, H, W), got %s",
                             ti_shape_str(x, sx, sizeof sx));
    if (top < 0 || left < 0 || bottom < 0 || right < 0)
        return ti__tape_fail(tape, TI_ERR_UNSUPPORTED,
                             "pad2d: negative padding (%d, %d, %d, %d) is not supported", top,
                             left, bottom, right);
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    double per_image = (double)C * ((double)H + top + bottom) * ((double)W + left + right);
    if (per_image > (double)OX_MAX_VALUES)
        return ti__tape_fail(tape, TI_ERR_UNSUPPORTED,
                             "pad2d: padding %s by (%d, %d, %d, %d) gives %.0f values per "
                             "image (at most %zu)", ti_shape_str(x, sx, sizeof sx), top, left,
                             bottom, right, per_image, OX_MAX_VALUES);
    int OH = H + top + bottom, OW = W + left + right;
    ti_tensor *y = ti_tape_tensor(tape, 4, (int[]){N, C, OH, OW});
    if (!y)
        return NULL;
    size_t planes = (size_t)N * C;
    for (size_t p = 0; p < planes; p++) {
        float *yp = y->data + p * OH * (size_t)OW;
        for (size_t i = 0; i < (size_t)OH * OW; i++)
            yp[i] = value;
        for (int h = 0; h < H; h++)
            memcpy(yp + (size_t)(h + top) * OW + left, x->data + (p * H + h) * (size_t)W,
                   (size_t)W * sizeof(float));
    }
    ti_node *n = ti__tape_record(tape, &op_pad2d, y, 1, &x);
    if (n) {
        n->ip[0] = top;
        n->ip[1] = left;
    }
    return y;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static const char *vname(const ti_onnx *g, const ti__ox_step *s, int i)
{
    return s->in[i] >= 0 ? g->vals[s->in[i]].name : "";
}

static int has_in(const ti__ox_step *s, int i)
{
    return i < s->nin && s->in[i] >= 0;
}

static int is_float_const(const ti_onnx *g, const ti__ox_step *s, int i)
{
    return has_in(s, i) && g->vals[s->in[i]].kind == OXV_FLOAT;
}

static int is_int_value(const ti_onnx *g, int v)
{
    return v >= 0 && (g->vals[v].kind == OXV_INT || g->is_int[v]);
}

/* Float input i at run time (an activation or a constant); NULL after an error. */
ti_tensor *ti__ox_fin(ti_onnx *g, const ti__ox_step *s, int i, ti_status *st)
{
    ti_tensor *t = has_in(s, i) ? g->act[s->in[i]] : NULL;
    if (!t && *st == TI_OK)
        *st = ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "input '%s' is not a float tensor",
                          vname(g, s, i));
    return t;
}

/* Integer input i at run time; NULL after an error. */
static const ti__ox_ival *iin(ti_onnx *g, const ti__ox_step *s, int i, ti_status *st)
{
    int v = has_in(s, i) ? s->in[i] : -1;
    if (v >= 0 && g->vals[v].kind == OXV_INT)
        return &g->vals[v].iv;
    if (v >= 0 && g->is_int[v])
        return &g->iact[v];
    if (*st == TI_OK)
        *st = ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "input '%s' must be an integer tensor",
                      vname(g, s, i));
    return NULL;
}

ti_status ti__ox_set_out(ti_onnx *g, const ti__ox_step *s, ti_tensor *y)
{
    g->act[s->out] = y;
    return TI_OK; /* a NULL y has put the error in the tape */
}

/* Refuses an output of `values` values in all, for the batch of this forward, when it is
 * above OX_MAX_VALUES per image (onnx_internal.h); `what` names it in the message. */
static ti_status check_values(ti_onnx *g, const ti__ox_step *s, double values, double limit,
                              const char *what)
{
    double n = g->act[g->input]->shape[0];
    if (values <= n * limit)
        return TI_OK;
    return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "%s of %.0f values per image (at most %.0f): implausible for an image "
                       "classifier", what, values / n, limit);
}

int64_t ti__ox_attr_i(const ti__ox_step *s, const char *name, int64_t dflt)
{
    const ti__ox_attr *a = ti__ox_attr_get(s, name);
    return a ? a->i : dflt;
}

float ti__ox_attr_f(const ti__ox_step *s, const char *name, float dflt)
{
    const ti__ox_attr *a = ti__ox_attr_get(s, name);
    return a ? a->f : dflt;
}

/* A list-of-ints attribute with exactly n entries that fit an int (or absent: dflt). */
static ti_status attr_ints(ti_onnx *g, const ti__ox_step *s, const char *name, int n, int *dst,
                           int dflt)
{
    const ti__ox_attr *a = ti__ox_attr_get(s, name);
    if (!a) {
        for (int i = 0; i < n; i++)
            dst[i] = dflt;
        return TI_OK;
    }
    if (a->nints != n)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "attribute '%s' has %d values; %d expected (only 2-D images are "
                       "supported)",
                       name, a->nints, n);
    for (int i = 0; i < n; i++) {
        if (a->ints[i] < -(1 << 20) || a->ints[i] > (1 << 20))
            return ti__ox_fail(g, s, TI_ERR_FORMAT, "attribute '%s' has value %lld", name,
                           (long long)a->ints[i]);
        dst[i] = (int)a->ints[i];
    }
    return TI_OK;
}

/* auto_pad: NOTSET (0) or VALID (0, with zero pads), SAME_UPPER (1), SAME_LOWER (2). */
static ti_status parse_auto_pad(ti_onnx *g, ti__ox_step *s)
{
    const ti__ox_attr *a = ti__ox_attr_get(s, "auto_pad");
    s->auto_pad = 0;
    if (!a || !strcmp(a->s, "NOTSET"))
        return TI_OK;
    if (!strcmp(a->s, "VALID")) {
        memset(s->pads, 0, sizeof s->pads);
        return TI_OK;
    }
    if (!strcmp(a->s, "SAME_UPPER") || !strcmp(a->s, "SAME_LOWER")) {
        s->auto_pad = a->s[5] == 'U' ? 1 : 2;
        return TI_OK;
    }
    return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "unsupported attribute value auto_pad='%s'", a->s);
}

/* Window attributes shared by Conv and the pools: strides (equal in both directions),
 * dilations (equal; only Conv takes more than 1), pads (top, left, bottom, right) and
 * auto_pad. */
static ti_status parse_window(ti_onnx *g, ti__ox_step *s)
{
    ti_status st;
    int dil[2], pads[4];
    if ((st = attr_ints(g, s, "strides", 2, s->stride, 1)) != TI_OK ||
        (st = attr_ints(g, s, "dilations", 2, dil, 1)) != TI_OK ||
        (st = attr_ints(g, s, "pads", 4, pads, 0)) != TI_OK)
        return st;
    int conv = !strcmp(s->node->op, "Conv");
    if (dil[0] != dil[1] || dil[0] < 1 || (!conv && dil[0] != 1))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                           "unsupported attribute value dilations=[%d, %d] (%s)", dil[0], dil[1],
                           conv ? "only equal dilations >= 1" : "only 1 for pooling");
    s->dil = dil[0];
    if (s->stride[0] != s->stride[1] || s->stride[0] < 1)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "unsupported attribute value strides=[%d, %d] (only equal strides >= 1)",
                       s->stride[0], s->stride[1]);
    for (int i = 0; i < 4; i++)
        if (pads[i] < 0)
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "negative pads are not supported");
    /* ONNX orders pads (x1_begin, x2_begin, x1_end, x2_end): top, left, bottom, right */
    memcpy(s->pads, pads, sizeof pads);
    return parse_auto_pad(g, s);
}

/* The padding of one run: s->pads, or SAME padding computed for this input size. */
static void window_pads(const ti__ox_step *s, int H, int W, int KH, int KW, int *p)
{
    memcpy(p, s->pads, 4 * sizeof(int));
    if (!s->auto_pad)
        return;
    int in[2] = {H, W}, k[2] = {KH, KW};
    for (int d = 0; d < 2; d++) {
        int st = s->stride[d], out = (in[d] + st - 1) / st;
        int total = (out - 1) * st + k[d] - in[d];
        if (total < 0)
            total = 0;
        int small = total / 2, big = total - small;
        p[d] = s->auto_pad == 1 ? small : big;     /* SAME_UPPER: the extra one at the end */
        p[d + 2] = s->auto_pad == 1 ? big : small;
    }
}

/* Transposes the 2-D constant input i in place ((R, C) -> (C, R)): MatMul and transB = 0
 * Gemm weights become PyTorch's (out, in) layout that ti_linear takes. */
static ti_status transpose_const(ti_onnx *g, const ti__ox_step *s, int i)
{
    ti__ox_value *v = &g->vals[s->in[i]];
    ti_tensor *t = v->t;
    if (v->uses > 1)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "weight '%s' is shared with another node and would need a transpose "
                       "(unsupported)",
                       v->name);
    int R = t->shape[0], C = t->shape[1];
    float *tmp = malloc(t->size * sizeof(float) + 1);
    if (!tmp)
        return ti__ox_fail(g, s, TI_ERR_NOMEM, "out of memory");
    memcpy(tmp, t->data, t->size * sizeof(float));
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            t->data[(size_t)c * R + r] = tmp[(size_t)r * C + c];
    free(tmp);
    t->shape[0] = C;
    t->shape[1] = R;
    return TI_OK;
}

static ti_status need_const(ti_onnx *g, const ti__ox_step *s, int i, int ndim, const char *what)
{
    if (!is_float_const(g, s, i))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "the %s '%s' must be a float constant (initializer)", what,
                       vname(g, s, i));
    const ti_tensor *t = g->vals[s->in[i]].t;
    if (ndim >= 0 && t->ndim != ndim) {
        char sh[64];
        return ti__ox_fail(g, s, TI_ERR_SHAPE, "the %s '%s' has shape %s; %d dimensions expected",
                       what, vname(g, s, i), ti_shape_str(t, sh, sizeof sh), ndim);
    }
    return TI_OK;
}

/* The value of input i, which must be a float constant with one element (Clip's bounds,
 * Pad's constant_value): read once at load time. */
static ti_status const_scalar(ti_onnx *g, const ti__ox_step *s, int i, const char *what, float *v)
{
    if (!is_float_const(g, s, i) || g->vals[s->in[i]].t->size != 1)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "%s '%s' must be a float constant scalar", what,
                       vname(g, s, i));
    *v = g->vals[s->in[i]].t->data[0];
    return TI_OK;
}

static ti_status compile_nothing(ti_onnx *g, ti__ox_step *s)
{
    (void)g;
    (void)s;
    return TI_OK;
}

/* ---- Conv ------------------------------------------------------------------------------- */

static ti_status conv_compile(ti_onnx *g, ti__ox_step *s)
{
    ti_status st;
    if ((st = need_const(g, s, 1, 4, "weight")) != TI_OK)
        return st;
    const ti_tensor *w = g->vals[s->in[1]].t;
    int64_t group = ti__ox_attr_i(s, "group", 1);
    if (group < 1 || w->shape[0] % group)
        return ti__ox_fail(g, s, TI_ERR_SHAPE,
                           "attribute group=%lld does not divide the %d output channels of the "
                           "weight '%s'",
                           (long long)group, w->shape[0], vname(g, s, 1));
    s->group = (int)group;
    if ((st = parse_window(g, s)) != TI_OK || (st = attr_ints(g, s, "kernel_shape", 2, s->k, 0)))
        return st;
    if (ti__ox_attr_get(s, "kernel_shape") && (s->k[0] != w->shape[2] || s->k[1] != w->shape[3]))
        return ti__ox_fail(g, s, TI_ERR_SHAPE,
                       "shape mismatch: kernel_shape [%d, %d] but the weight '%s' is %dx%d",
                       s->k[0], s->k[1], vname(g, s, 1), w->shape[2], w->shape[3]);
    if (has_in(s, 2)) {
        if ((st = need_const(g, s, 2, 1, "bias")) != TI_OK)
            return st;
        if (g->vals[s->in[2]].t->shape[0] != w->shape[0])
            return ti__ox_fail(g, s, TI_ERR_SHAPE,
                           "shape mismatch: bias '%s' has %d entries for %d output channels",
                           vname(g, s, 2), g->vals[s->in[2]].t->shape[0], w->shape[0]);
        if ((st = ti__ox_set_role(g, s, s->in[2], TI_PARAM_BIAS)) != TI_OK)
            return st;
    }
    return ti__ox_set_role(g, s, s->in[1], TI_PARAM_WEIGHT);
}

static ti_status conv_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st), *w = ti__ox_fin(g, s, 1, &st);
    ti_tensor *b = has_in(s, 2) ? ti__ox_fin(g, s, 2, &st) : NULL;
    if (st != TI_OK)
        return st;
    if (x->ndim != 4) {
        char sx[64];
        return ti__ox_fail(g, s, TI_ERR_SHAPE, "shape mismatch: input %s is not (N, C, H, W)",
                       ti_shape_str(x, sx, sizeof sx));
    }
    int p[4], KH = s->dil * (w->shape[2] - 1) + 1, KW = s->dil * (w->shape[3] - 1) + 1;
    window_pads(s, x->shape[2], x->shape[3], KH, KW, p); /* SAME covers the dilated span */
    /* the output, and the patches the kernels read (the work per output channel) */
    double OH = ((double)x->shape[2] + p[0] + p[2] - KH) / s->stride[0] + 1;
    double OW = ((double)x->shape[3] + p[1] + p[3] - KW) / s->stride[0] + 1;
    if (OH >= 1 && OW >= 1 &&
        ((st = check_values(g, s, (double)x->shape[0] * w->shape[0] * OH * OW,
                            (double)OX_MAX_VALUES, "an output")) != TI_OK ||
         (st = check_values(g, s, (double)x->shape[0] * w->shape[1] * w->shape[2] *
                                      w->shape[3] * OH * OW,
                            4.0 * OX_MAX_VALUES, "patches")) != TI_OK))
        return st;
    int pad = p[0];
    if (p[1] != pad || p[2] != pad || p[3] != pad) { /* asymmetric: pad first, then convolve */
        x = ti__ox_pad2d(tape, x, p[0], p[1], p[2], p[3], 0.0f);
        pad = 0;
    }
    return ti__ox_set_out(g, s, ti_conv2d_grouped(tape, x, w, b, s->stride[0], pad, s->dil,
                                                  s->group));
}

/* ---- Gemm and MatMul ---------------------------------------------------------------------- */

static ti_status gemm_compile(ti_onnx *g, ti__ox_step *s)
{
    ti_status st;
    if (ti__ox_attr_i(s, "transA", 0) != 0)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "unsupported attribute value transA=1");
    if ((st = need_const(g, s, 1, 2, "weight")) != TI_OK)
        return st;
    s->trans_b = ti__ox_attr_i(s, "transB", 0) != 0;
    s->alpha = ti__ox_attr_f(s, "alpha", 1.0f);
    s->beta = ti__ox_attr_f(s, "beta", 1.0f);
    if (!s->trans_b && (st = transpose_const(g, s, 1)) != TI_OK)
        return st;
    int K = g->vals[s->in[1]].t->shape[0];
    s->axis = 0; /* 1: C is a plain bias handed to ti_linear */
    if (has_in(s, 2)) {
        if (!is_float_const(g, s, 2))
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "C '%s' must be a float constant",
                           vname(g, s, 2));
        ti_tensor *c = g->vals[s->in[2]].t;
        int vec = (c->ndim == 1 && c->shape[0] == K) ||
                  (c->ndim == 2 && c->shape[0] == 1 && c->shape[1] == K);
        if (vec && s->alpha == 1.0f && s->beta == 1.0f && g->vals[s->in[2]].uses == 1) {
            ti_tensor_view(c, c->data, c->grad, 1, &K);
            if ((st = ti__ox_set_role(g, s, s->in[2], TI_PARAM_BIAS)) != TI_OK)
                return st;
            s->axis = 1;
        }
    }
    return ti__ox_set_role(g, s, s->in[1], TI_PARAM_WEIGHT);
}

static ti_status gemm_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *a = ti__ox_fin(g, s, 0, &st), *w = ti__ox_fin(g, s, 1, &st);
    ti_tensor *c = has_in(s, 2) ? ti__ox_fin(g, s, 2, &st) : NULL;
    if (st != TI_OK)
        return st;
    if (a->ndim != 2) {
        char sa[64];
        return ti__ox_fail(g, s, TI_ERR_SHAPE, "shape mismatch: input A %s is not 2-D",
                       ti_shape_str(a, sa, sizeof sa));
    }
    if (s->axis == 1)
        return ti__ox_set_out(g, s, ti_linear(tape, a, w, c));
    ti_tensor *y = ti_linear(tape, a, w, NULL);
    if (s->alpha != 1.0f)
        y = ti_scale(tape, y, s->alpha);
    if (c)
        y = ti_broadcast(tape, TI_BINOP_ADD, y, s->beta != 1.0f ? ti_scale(tape, c, s->beta) : c);
    return ti__ox_set_out(g, s, y);
}

static ti_status matmul_compile(ti_onnx *g, ti__ox_step *s)
{
    ti_status st;
    if (!is_float_const(g, s, 1))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "B '%s' must be a float constant (a product of two computed tensors is "
                       "not supported)",
                       vname(g, s, 1));
    if ((st = need_const(g, s, 1, 2, "weight")) != TI_OK ||
        (st = transpose_const(g, s, 1)) != TI_OK)
        return st;
    return ti__ox_set_role(g, s, s->in[1], TI_PARAM_WEIGHT);
}

static ti_status matmul_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *a = ti__ox_fin(g, s, 0, &st), *w = ti__ox_fin(g, s, 1, &st);
    if (st != TI_OK)
        return st;
    if (a->ndim != 2) {
        char sa[64];
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "input %s is not 2-D (only 2-D MatMul is supported)",
                       ti_shape_str(a, sa, sizeof sa));
    }
    return ti__ox_set_out(g, s, ti_linear(tape, a, w, NULL));
}

/* ---- element-wise --------------------------------------------------------------------- */

static ti_status relu_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    return st != TI_OK ? st : ti__ox_set_out(g, s, ti_relu(tape, x));
}

/* Clip: bounds from attributes min/max (opset < 11) or constant inputs 1, 2 (opset >= 11). */
static ti_status clip_compile(ti_onnx *g, ti__ox_step *s)
{
    s->lo = ti__ox_attr_f(s, "min", -FLT_MAX);
    s->hi = ti__ox_attr_f(s, "max", FLT_MAX);
    ti_status st = TI_OK;
    if (has_in(s, 1))
        st = const_scalar(g, s, 1, "bound", &s->lo);
    if (st == TI_OK && has_in(s, 2))
        st = const_scalar(g, s, 2, "bound", &s->hi);
    return st;
}

static ti_status clip_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    return st != TI_OK ? st : ti__ox_set_out(g, s, ti_clamp(tape, x, s->lo, s->hi));
}

static ti_status binary_compile(ti_onnx *g, ti__ox_step *s)
{
    if (is_int_value(g, s->in[0]) || is_int_value(g, s->in[1]))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "integer arithmetic is not supported");
    return TI_OK;
}

static ti_status binary_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *a = ti__ox_fin(g, s, 0, &st), *b = ti__ox_fin(g, s, 1, &st);
    if (st != TI_OK)
        return st;
    ti_binop op = (ti_binop)s->axis;
    /* NumPy broadcasting stretches both ways: (1, C, H, W) + (K, 1, 1, 1) is (K, C, H, W) */
    double values = 1;
    for (int i = 0; i < TI_MAX_DIMS; i++) {
        int ia = i - (TI_MAX_DIMS - a->ndim), ib = i - (TI_MAX_DIMS - b->ndim);
        int da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        values *= da > db ? da : db;
    }
    if ((st = check_values(g, s, values, (double)OX_MAX_VALUES, "a result")) != TI_OK)
        return st;
    if (ti__same_shape(a, b) && op == TI_BINOP_ADD)
        return ti__ox_set_out(g, s, ti_add(tape, a, b));
    if (ti__same_shape(a, b) && op == TI_BINOP_SUB)
        return ti__ox_set_out(g, s, ti_sub(tape, a, b));
    if (ti__same_shape(a, b) && op == TI_BINOP_MUL)
        return ti__ox_set_out(g, s, ti_mul(tape, a, b));
    return ti__ox_set_out(g, s, ti_broadcast(tape, op, a, b));
}

#define BINARY_COMPILE(NAME, OP)                                                              \
    static ti_status NAME(ti_onnx *g, ti__ox_step *s)                                             \
    {                                                                                         \
        s->axis = OP;                                                                         \
        return binary_compile(g, s);                                                          \
    }
BINARY_COMPILE(add_compile, TI_BINOP_ADD)
BINARY_COMPILE(sub_compile, TI_BINOP_SUB)
BINARY_COMPILE(mul_compile, TI_BINOP_MUL)
BINARY_COMPILE(div_compile, TI_BINOP_DIV)

/* ---- batch norm (inference; training mode through ti_onnx_forward's flag) ---------------- */

static ti_status bn_compile(ti_onnx *g, ti__ox_step *s)
{
    ti_status st;
    if (ti__ox_attr_i(s, "training_mode", 0) != 0)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "unsupported attribute value training_mode=1 (export in eval mode)");
    if (ti__ox_attr_i(s, "spatial", 1) != 1)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "unsupported attribute value spatial=0");
    s->eps = ti__ox_attr_f(s, "epsilon", 1e-5f);
    s->momentum = ti__ox_attr_f(s, "momentum", 0.9f);
    static const char *const what[4] = {"scale", "bias", "mean", "variance"};
    static const ti_param_kind kinds[4] = {TI_PARAM_BN_WEIGHT, TI_PARAM_BN_BIAS,
                                           TI_PARAM_BN_MEAN, TI_PARAM_BN_VAR};
    int C = -1;
    for (int i = 1; i <= 4; i++) {
        if ((st = need_const(g, s, i, 1, what[i - 1])) != TI_OK)
            return st;
        int c = g->vals[s->in[i]].t->shape[0];
        if (C >= 0 && c != C)
            return ti__ox_fail(g, s, TI_ERR_SHAPE, "shape mismatch: %s '%s' has %d entries, not %d",
                           what[i - 1], vname(g, s, i), c, C);
        C = c;
        if ((st = ti__ox_set_role(g, s, s->in[i], kinds[i - 1])) != TI_OK)
            return st;
    }
    return TI_OK;
}

static ti_status bn_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st), *in[4];
    for (int i = 0; i < 4; i++)
        in[i] = ti__ox_fin(g, s, i + 1, &st);
    if (st != TI_OK)
        return st;
    int nd = x->ndim, shape[4];
    if (nd < 2) {
        char sx[64];
        return ti__ox_fail(g, s, TI_ERR_SHAPE, "shape mismatch: input %s has no channel dimension",
                       ti_shape_str(x, sx, sizeof sx));
    }
    memcpy(shape, x->shape, sizeof shape);
    if (nd != 4) /* (N, C) or (N, C, L): batch norm over a 4-D view */
        x = ti_reshape(tape, x, 4, (int[]){x->shape[0], x->shape[1], nd == 3 ? x->shape[2] : 1, 1});
    /* ONNX's momentum weighs the old running value, PyTorch's the new batch statistic */
    ti_tensor *y = ti_batchnorm2d(tape, x, in[0], in[1], in[2], in[3], training,
                                  1.0f - s->momentum, s->eps);
    if (nd != 4)
        y = ti_reshape(tape, y, nd, shape);
    return ti__ox_set_out(g, s, y);
}

/* ---- pooling -------------------------------------------------------------------------- */

static ti_status pool_compile(ti_onnx *g, ti__ox_step *s)
{
    ti_status st;
    if (!ti__ox_attr_get(s, "kernel_shape"))
        return ti__ox_fail(g, s, TI_ERR_FORMAT, "attribute kernel_shape is missing");
    if ((st = attr_ints(g, s, "kernel_shape", 2, s->k, 0)) != TI_OK ||
        (st = parse_window(g, s)) != TI_OK)
        return st;
    if (s->k[0] != s->k[1] || s->k[0] < 1)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "unsupported attribute value kernel_shape=[%d, %d] (only square "
                       "windows)",
                       s->k[0], s->k[1]);
    s->ceil_mode = (int)ti__ox_attr_i(s, "ceil_mode", 0);
    s->count_include_pad = (int)ti__ox_attr_i(s, "count_include_pad", 0);
    if (!strcmp(s->node->op, "AveragePool") && !s->count_include_pad &&
        (s->pads[0] || s->pads[1] || s->pads[2] || s->pads[3]))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "unsupported attributes: padding with count_include_pad=0");
    return TI_OK;
}

/* Pads (with `value`) so that a plain k/s pool gives ONNX's output, including ceil_mode's
 * extra window (dropped when it would start in the end padding, as PyTorch and ONNX Runtime
 * do). *partial is set when ceil_mode adds a window that hangs over the edge. */
static ti_tensor *pool_input(ti_onnx *g, ti_tape *tape, ti__ox_step *s, ti_tensor *x, float value,
                             int *partial)
{
    int p[4], k = s->k[0], st = s->stride[0];
    window_pads(s, x->shape[2], x->shape[3], k, k, p);
    *partial = 0;
    if (s->ceil_mode)
        for (int d = 0; d < 2; d++) {
            int in = x->shape[2 + d] + p[d] + p[d + 2];
            if (in < k)
                continue;
            int out = (in - k + st - 1) / st + 1;
            if ((out - 1) * st >= x->shape[2 + d] + p[d])
                out--;
            int extra = (out - 1) * st + k - in;
            if (extra > 0) {
                p[d + 2] += extra;
                *partial = 1;
            }
        }
    (void)g;
    if (p[0] || p[1] || p[2] || p[3])
        x = ti__ox_pad2d(tape, x, p[0], p[1], p[2], p[3], value);
    return x;
}

static ti_status maxpool_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    if (st != TI_OK)
        return st;
    int partial;
    x = pool_input(g, tape, s, x, -INFINITY, &partial);
    return ti__ox_set_out(g, s, ti_maxpool2d(tape, x, s->k[0], s->stride[0]));
}

static ti_status avgpool_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    if (st != TI_OK)
        return st;
    int partial, p[4];
    window_pads(s, x->ndim == 4 ? x->shape[2] : 1, x->ndim == 4 ? x->shape[3] : 1, s->k[0],
                s->k[0], p);
    if (!s->count_include_pad && (p[0] || p[1] || p[2] || p[3]))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "SAME padding with count_include_pad=0 is not supported");
    x = pool_input(g, tape, s, x, 0.0f, &partial);
    if (partial)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "ceil_mode=1 with a window over the edge is not supported");
    return ti__ox_set_out(g, s, ti_avgpool2d(tape, x, s->k[0], s->stride[0]));
}

static ti_status gap_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    return st != TI_OK ? st : ti__ox_set_out(g, s, ti_adaptive_avgpool2d(tape, x, 1, 1));
}

/* ReduceMean over H and W of a feature map (x.mean((2, 3)) in PyTorch): global average
 * pooling; other axes are not supported. keepdims goes in s->start. */
static ti_status reducemean_compile(ti_onnx *g, ti__ox_step *s)
{
    const ti__ox_attr *a = ti__ox_attr_get(s, "axes");
    if (!a || a->nints != 2)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                           "only a mean over the two spatial axes (global average pooling) is "
                           "supported");
    s->naxes = 2;
    memcpy(s->axes, a->ints, 2 * sizeof(int64_t));
    s->start = (int)ti__ox_attr_i(s, "keepdims", 1);
    return TI_OK;
}

static ti_status reducemean_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    if (st != TI_OK)
        return st;
    int mark[4] = {0};
    for (int i = 0; i < 2 && x->ndim == 4; i++) {
        int64_t a = s->axes[i] < 0 ? s->axes[i] + 4 : s->axes[i];
        if (a >= 0 && a < 4)
            mark[a] = 1;
    }
    if (x->ndim != 4 || !mark[2] || !mark[3]) {
        char sx[64];
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                           "axes [%lld, %lld] of %s: only a mean over H and W of (N, C, H, W) "
                           "(global average pooling) is supported",
                           (long long)s->axes[0], (long long)s->axes[1],
                           ti_shape_str(x, sx, sizeof sx));
    }
    ti_tensor *y = ti_adaptive_avgpool2d(tape, x, 1, 1);
    if (!s->start && y)
        y = ti_reshape(tape, y, 2, y->shape);
    return ti__ox_set_out(g, s, y);
}

/* ---- shapes --------------------------------------------------------------------------- */

static ti_status flatten_compile(ti_onnx *g, ti__ox_step *s)
{
    s->axis = (int)ti__ox_attr_i(s, "axis", 1);
    if (is_int_value(g, s->in[0]))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "flattening an integer tensor");
    return TI_OK;
}

static ti_status flatten_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    if (st != TI_OK)
        return st;
    int axis = s->axis < 0 ? s->axis + x->ndim : s->axis;
    if (axis < 0 || axis > x->ndim)
        return ti__ox_fail(g, s, TI_ERR_SHAPE, "axis %d is out of range for a %d-D input", s->axis,
                       x->ndim);
    size_t a = ti_shape_size(axis, x->shape), b = x->size / (a ? a : 1);
    if (a > 0x7fffffff || b > 0x7fffffff)
        return ti__ox_fail(g, s, TI_ERR_SHAPE, "tensor too large");
    return ti__ox_set_out(g, s, ti_reshape(tape, x, 2, (int[]){(int)a, (int)b}));
}

static ti_status reshape_compile(ti_onnx *g, ti__ox_step *s)
{
    if (is_int_value(g, s->in[0]))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "reshaping an integer tensor");
    if (!is_int_value(g, s->in[1]))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "the shape '%s' must be an integer tensor (a constant or computed from "
                       "Shape)",
                       vname(g, s, 1));
    s->start = (int)ti__ox_attr_i(s, "allowzero", 0);
    return TI_OK;
}

static ti_status reshape_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    const ti__ox_ival *iv = iin(g, s, 1, &st);
    if (st != TI_OK)
        return st;
    if (iv->ndim != 1 || iv->n > TI_MAX_DIMS)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "a target shape of %d dimensions (at most %d)",
                       iv->n, TI_MAX_DIMS);
    int shape[TI_MAX_DIMS];
    for (int i = 0; i < iv->n; i++) {
        int64_t v = iv->v[i];
        if (v == 0 && !s->start)
            v = i < x->ndim ? x->shape[i] : 0;
        /* a shape baked in at export time holds the export's batch size: read it as N */
        if (i == 0 && g->vals[s->in[1]].kind == OXV_INT && g->batch_decl > 0 &&
            v == g->batch_decl && x->ndim > 0 && x->shape[0] != v)
            v = x->shape[0];
        if (v < -1 || v > 0x7fffffff)
            return ti__ox_fail(g, s, TI_ERR_SHAPE, "target shape entry %d is %lld", i, (long long)v);
        shape[i] = (int)v;
    }
    return ti__ox_set_out(g, s, ti_reshape(tape, x, iv->n, shape));
}

/* Unsqueeze and Squeeze: axes from the attribute (opset < 13) or a constant input. */
static ti_status axes_compile(ti_onnx *g, ti__ox_step *s)
{
    const ti__ox_attr *a = ti__ox_attr_get(s, "axes");
    s->naxes = -1; /* Squeeze without axes: every size-1 dimension */
    if (a) {
        if (a->nints > OX_IVAL_MAX)
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "too many axes");
        s->naxes = a->nints;
        memcpy(s->axes, a->ints, (size_t)a->nints * sizeof(int64_t));
    } else if (has_in(s, 1)) {
        if (g->vals[s->in[1]].kind != OXV_INT)
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "axes '%s' must be a constant",
                           vname(g, s, 1));
        s->naxes = g->vals[s->in[1]].iv.n;
        memcpy(s->axes, g->vals[s->in[1]].iv.v, (size_t)s->naxes * sizeof(int64_t));
    }
    if (s->naxes < 0 && !strcmp(s->node->op, "Unsqueeze"))
        return ti__ox_fail(g, s, TI_ERR_FORMAT, "axes are missing");
    g->is_int[s->out] = (unsigned char)is_int_value(g, s->in[0]);
    return TI_OK;
}

static ti_status unsqueeze_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    if (g->is_int[s->out]) {
        const ti__ox_ival *iv = iin(g, s, 0, &st);
        if (st != TI_OK)
            return st;
        if (iv->ndim != 0 || s->naxes != 1 || (s->axes[0] != 0 && s->axes[0] != -1))
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                           "only a scalar integer can be unsqueezed to a vector");
        g->iact[s->out] = *iv;
        g->iact[s->out].ndim = 1;
        return TI_OK;
    }
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    if (st != TI_OK)
        return st;
    int nd = x->ndim + s->naxes, shape[TI_MAX_DIMS], mark[8] = {0}, k = 0;
    if (nd > TI_MAX_DIMS)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "the result would have %d dimensions (at most %d)",
                       nd, TI_MAX_DIMS);
    for (int i = 0; i < s->naxes; i++) {
        int64_t a = s->axes[i] < 0 ? s->axes[i] + nd : s->axes[i];
        if (a < 0 || a >= nd || mark[a])
            return ti__ox_fail(g, s, TI_ERR_FORMAT, "bad axis %lld", (long long)s->axes[i]);
        mark[a] = 1;
    }
    for (int i = 0; i < nd; i++)
        shape[i] = mark[i] ? 1 : x->shape[k++];
    return ti__ox_set_out(g, s, ti_reshape(tape, x, nd, shape));
}

static ti_status squeeze_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    if (g->is_int[s->out]) {
        const ti__ox_ival *iv = iin(g, s, 0, &st);
        if (st != TI_OK)
            return st;
        if (iv->ndim != 1 || iv->n != 1)
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "only a 1-element vector can be squeezed");
        g->iact[s->out] = *iv;
        g->iact[s->out].ndim = 0;
        return TI_OK;
    }
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    if (st != TI_OK)
        return st;
    int drop[TI_MAX_DIMS] = {0}, shape[TI_MAX_DIMS], nd = 0;
    for (int i = 0; i < x->ndim; i++)
        drop[i] = s->naxes < 0 && x->shape[i] == 1;
    for (int i = 0; i < s->naxes; i++) {
        int64_t a = s->axes[i] < 0 ? s->axes[i] + x->ndim : s->axes[i];
        if (a < 0 || a >= x->ndim || x->shape[a] != 1)
            return ti__ox_fail(g, s, TI_ERR_SHAPE, "axis %lld is not a dimension of size 1",
                           (long long)s->axes[i]);
        drop[a] = 1;
    }
    for (int i = 0; i < x->ndim; i++)
        if (!drop[i])
            shape[nd++] = x->shape[i];
    return ti__ox_set_out(g, s, ti_reshape(tape, x, nd, shape));
}

static ti_status identity_compile(ti_onnx *g, ti__ox_step *s)
{
    if (s->node->nout > 1 && s->node->out[1][0]) {
        int v = -1;
        for (int i = 0; i < g->nvals; i++)
            if (!strcmp(g->vals[i].name, s->node->out[1]))
                v = i;
        if (v >= 0 && g->vals[v].uses)
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "the dropout mask output is used");
    }
    g->is_int[s->out] = (unsigned char)is_int_value(g, s->in[0]);
    return TI_OK;
}

static ti_status identity_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)tape;
    (void)training;
    if (g->is_int[s->out]) {
        ti_status st = TI_OK;
        const ti__ox_ival *iv = iin(g, s, 0, &st);
        if (iv)
            g->iact[s->out] = *iv;
        return st;
    }
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    return st != TI_OK ? st : ti__ox_set_out(g, s, x);
}

static ti_status cast_compile(ti_onnx *g, ti__ox_step *s)
{
    int64_t to = ti__ox_attr_i(s, "to", 0);
    int isint = is_int_value(g, s->in[0]);
    if ((isint && to != OX_DT_INT64 && to != OX_DT_INT32) || (!isint && to != OX_DT_FLOAT))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "unsupported attribute value to=%lld for a%s input", (long long)to,
                       isint ? "n integer" : " float");
    g->is_int[s->out] = (unsigned char)isint;
    return TI_OK;
}

/* Constant: folded at load time into a float or integer constant value. */
static ti_status constant_compile(ti_onnx *g, ti__ox_step *s)
{
    if (s->node->nattr != 1)
        return ti__ox_fail(g, s, TI_ERR_FORMAT, "a Constant needs exactly one value attribute");
    const ti__ox_attr *a = &s->node->attr[0];
    ti__ox_value *v = &g->vals[s->out];
    if (!strcmp(a->name, "value")) {
        if (!a->t)
            return ti__ox_fail(g, s, TI_ERR_FORMAT, "attribute 'value' holds no tensor");
        return ti__ox_const_tensor(g, s->out, a->t);
    }
    if (!strcmp(a->name, "value_float") || !strcmp(a->name, "value_floats")) {
        int vec = a->name[11] == 's', n = vec ? a->nfloats : 1;
        float *d = ti__ox_const_floats(g, s, s->out, vec, &n);
        if (!d)
            return TI_ERR_STATE;
        if (vec)
            memcpy(d, a->floats, (size_t)n * sizeof(float));
        else
            d[0] = a->f;
        return TI_OK;
    }
    /* value_int / value_ints */
    int vec = a->name[9] == 's';
    if (vec && a->nints > OX_IVAL_MAX)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "an integer constant of %d values (at most %d)",
                       a->nints, OX_IVAL_MAX);
    v->kind = OXV_INT;
    v->iv.ndim = vec;
    v->iv.n = vec ? a->nints : 1;
    if (vec)
        memcpy(v->iv.v, a->ints, (size_t)a->nints * sizeof(int64_t));
    else
        v->iv.v[0] = a->i;
    return TI_OK;
}

static ti_status nothing_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)g;
    (void)tape;
    (void)s;
    (void)training;
    return TI_OK;
}

/* Pad: constant mode on H and W only; pads from the attribute (opset < 11) or an integer
 * input, the value from the attribute or a constant input. */
static ti_status pad_compile(ti_onnx *g, ti__ox_step *s)
{
    const ti__ox_attr *m = ti__ox_attr_get(s, "mode");
    if (m && strcmp(m->s, "constant"))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "unsupported attribute value mode='%s'", m->s);
    s->value = ti__ox_attr_f(s, "value", 0.0f);
    ti_status st;
    if (has_in(s, 2) && (st = const_scalar(g, s, 2, "constant_value", &s->value)) != TI_OK)
        return st;
    const ti__ox_attr *p = ti__ox_attr_get(s, "pads");
    if (!p && !has_in(s, 1))
        return ti__ox_fail(g, s, TI_ERR_FORMAT, "the pads are missing");
    if (has_in(s, 1) && !is_int_value(g, s->in[1]))
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "pads '%s' must be an integer tensor",
                       vname(g, s, 1));
    if (p) {
        if (p->nints != 8 || p->ints[0] || p->ints[1] || p->ints[4] || p->ints[5])
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                           "unsupported attribute value: pads must pad H and W of a 4-D "
                           "tensor only");
        for (int i = 0; i < 4; i++)
            s->pads[i] = (int)p->ints[i < 2 ? 2 + i : 4 + i];
    }
    return TI_OK;
}

static ti_status pad_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    if (st != TI_OK)
        return st;
    int p[4];
    memcpy(p, s->pads, sizeof p);
    if (has_in(s, 1)) {
        const ti__ox_ival *iv = iin(g, s, 1, &st);
        if (st != TI_OK)
            return st;
        if (iv->n != 8 || iv->v[0] || iv->v[1] || iv->v[4] || iv->v[5])
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                           "pads must pad H and W of a 4-D tensor only");
        for (int i = 0; i < 4; i++) {
            int64_t v = iv->v[i < 2 ? 2 + i : 4 + i];
            if (v < 0 || v > (1 << 20))
                return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "pad %lld is not supported",
                               (long long)v);
            p[i] = (int)v;
        }
    }
    /* ONNX order (begin H, begin W, end H, end W) is already top, left, bottom, right */
    return ti__ox_set_out(g, s, ti__ox_pad2d(tape, x, p[0], p[1], p[2], p[3], s->value));
}

/* ---- integer shape arithmetic: Shape, Gather, Concat (x.view(x.size(0), -1)) ------------- */

static ti_status shape_compile(ti_onnx *g, ti__ox_step *s)
{
    s->start = (int)ti__ox_attr_i(s, "start", 0);
    s->end = (int)ti__ox_attr_i(s, "end", TI_MAX_DIMS + 1);
    g->is_int[s->out] = 1;
    return TI_OK;
}

static ti_status shape_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)tape;
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    if (st != TI_OK)
        return st;
    int a = s->start < 0 ? s->start + x->ndim : s->start;
    int b = s->end < 0 ? s->end + x->ndim : s->end;
    a = a < 0 ? 0 : (a > x->ndim ? x->ndim : a);
    b = b < 0 ? 0 : (b > x->ndim ? x->ndim : b);
    ti__ox_ival *o = &g->iact[s->out];
    o->ndim = 1;
    o->n = b > a ? b - a : 0;
    for (int i = 0; i < o->n; i++)
        o->v[i] = x->shape[a + i];
    return TI_OK;
}

static ti_status intop_compile(ti_onnx *g, ti__ox_step *s)
{
    for (int i = 0; i < s->nin; i++)
        if (!is_int_value(g, s->in[i]))
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                           "input '%s' is a float tensor: %s is supported on integer shape "
                           "vectors only",
                           vname(g, s, i), s->node->op);
    s->axis = (int)ti__ox_attr_i(s, "axis", 0);
    if (s->axis != 0 && s->axis != -1)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "unsupported attribute value axis=%d", s->axis);
    g->is_int[s->out] = 1;
    return TI_OK;
}

static ti_status gather_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)tape;
    (void)training;
    ti_status st = TI_OK;
    const ti__ox_ival *d = iin(g, s, 0, &st), *ix = iin(g, s, 1, &st);
    if (st != TI_OK)
        return st;
    ti__ox_ival *o = &g->iact[s->out];
    o->ndim = ix->ndim;
    o->n = ix->n;
    for (int i = 0; i < ix->n; i++) {
        int64_t k = ix->v[i] < 0 ? ix->v[i] + d->n : ix->v[i];
        if (d->ndim != 1 || k < 0 || k >= d->n)
            return ti__ox_fail(g, s, TI_ERR_SHAPE, "index %lld is out of range for %d values",
                           (long long)ix->v[i], d->n);
        o->v[i] = d->v[k];
    }
    return TI_OK;
}

/* Concat: of integer shape vectors (the dynamic-batch pattern above), or of float tensors
 * such as feature maps joined along the channels (DenseNet, Inception). */
static ti_status concat_compile(ti_onnx *g, ti__ox_step *s)
{
    int nint = 0;
    for (int i = 0; i < s->nin; i++)
        nint += is_int_value(g, s->in[i]);
    if (nint == s->nin)
        return intop_compile(g, s);
    if (nint)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "mixes integer and float inputs");
    if (!ti__ox_attr_get(s, "axis"))
        return ti__ox_fail(g, s, TI_ERR_FORMAT, "attribute axis is missing");
    s->axis = (int)ti__ox_attr_i(s, "axis", 1);
    return TI_OK;
}

static ti_status concat_int_run(ti_onnx *g, ti__ox_step *s)
{
    ti_status st = TI_OK;
    ti__ox_ival o = {.ndim = 1};
    for (int i = 0; i < s->nin; i++) {
        const ti__ox_ival *iv = iin(g, s, i, &st);
        if (st != TI_OK)
            return st;
        if (o.n + iv->n > OX_IVAL_MAX)
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "more than %d values", OX_IVAL_MAX);
        memcpy(o.v + o.n, iv->v, (size_t)iv->n * sizeof(int64_t));
        o.n += iv->n;
    }
    g->iact[s->out] = o;
    return TI_OK;
}

static ti_status concat_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    if (g->is_int[s->out])
        return concat_int_run(g, s);
    ti_status st = TI_OK;
    ti_tensor *xs[8];
    double values = 0; /* a chain of Concats of one map multiplies it by 8 at each step */
    for (int i = 0; i < s->nin; i++)
        if ((xs[i] = ti__ox_fin(g, s, i, &st)))
            values += (double)xs[i]->size;
    if (st != TI_OK ||
        (st = check_values(g, s, values, (double)OX_MAX_VALUES, "a concatenation")) != TI_OK)
        return st;
    return ti__ox_set_out(g, s, ti_concat(tape, s->nin, xs, s->axis));
}

/* ---- the table ------------------------------------------------------------------------- */

static const ti__ox_op ops[] = {
    {"Conv", "auto_pad dilations group kernel_shape pads strides", 2, 3, 1, conv_compile, conv_run},
    {"Gemm", "alpha beta transA transB", 2, 3, 1, gemm_compile, gemm_run},
    {"MatMul", "", 2, 2, 1, matmul_compile, matmul_run},
    {"Relu", "", 1, 1, 1, compile_nothing, relu_run},
    {"Clip", "min max", 1, 3, 1, clip_compile, clip_run},
    {"Add", "", 2, 2, 1, add_compile, binary_run},
    {"Sub", "", 2, 2, 1, sub_compile, binary_run},
    {"Mul", "", 2, 2, 1, mul_compile, binary_run},
    {"Div", "", 2, 2, 1, div_compile, binary_run},
    {"BatchNormalization", "epsilon momentum spatial training_mode", 5, 5, 1, bn_compile, bn_run},
    {"MaxPool", "auto_pad ceil_mode dilations kernel_shape pads storage_order strides", 1, 1, 1,
     pool_compile, maxpool_run},
    {"AveragePool", "auto_pad ceil_mode count_include_pad kernel_shape pads strides", 1, 1, 1,
     pool_compile, avgpool_run},
    {"GlobalAveragePool", "", 1, 1, 1, compile_nothing, gap_run},
    {"Flatten", "axis", 1, 1, 1, flatten_compile, flatten_run},
    {"Reshape", "allowzero", 2, 2, 1, reshape_compile, reshape_run},
    {"Unsqueeze", "axes", 1, 2, 1, axes_compile, unsqueeze_run},
    {"Squeeze", "axes", 1, 2, 1, axes_compile, squeeze_run},
    {"Identity", "", 1, 1, 1, identity_compile, identity_run},
    {"Dropout", "ratio seed", 1, 3, 2, identity_compile, identity_run},
    {"Cast", "to", 1, 1, 1, cast_compile, identity_run},
    {"Constant", "value value_float value_floats value_int value_ints", 0, 0, 1,
     constant_compile, nothing_run},
    {"Pad", "mode pads value", 1, 3, 1, pad_compile, pad_run},
    {"Shape", "start end", 1, 1, 1, shape_compile, shape_run},
    {"Gather", "axis", 2, 2, 1, intop_compile, gather_run},
    {"Concat", "axis", 1, 8, 1, concat_compile, concat_run},
    {"ReduceMean", "axes keepdims", 1, 1, 1, reducemean_compile, reducemean_run},
};

const ti__ox_op *ti__ox_find_op(const char *op_type)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(ops[i].name, op_type))
            return &ops[i];
    return ti__ox_find_op_act(op_type);
}
