/* The ONNX activations besides Relu and Clip (onnx_ops.c), and the Softmax / LogSoftmax
 * heads, each mapped onto one thinice op (activation.c, loss.c). Semantics from the ONNX
 * operator specification (github.com/onnx/onnx/blob/main/docs/Operators.md), opsets 9 to 17:
 * Softmax and LogSoftmax changed at opset 13 from "flatten at axis (default 1) into a matrix"
 * to "along one axis (default -1)". */
#include <string.h>

#include "onnx_internal.h"

/* ---- element-wise ------------------------------------------------------------------------ */

typedef enum unary_kind { U_SIGMOID = 0, U_TANH, U_ERF, U_LEAKY, U_ELU } unary_kind;

/* The kind goes in s->axis, LeakyRelu's and Elu's alpha (ONNX defaults 0.01 and 1) in
 * s->alpha. */
static ti_status unary_compile(ti_onnx *g, ti__ox_step *s)
{
    static const char *const names[] = {"Sigmoid", "Tanh", "Erf", "LeakyRelu", "Elu"};
    static const float alphas[] = {0.0f, 0.0f, 0.0f, 0.01f, 1.0f};
    for (int k = 0; k <= U_ELU; k++)
        if (!strcmp(s->node->op, names[k])) {
            s->axis = k;
            s->alpha = ti__ox_attr_f(s, "alpha", alphas[k]);
            return TI_OK;
        }
    return ti__ox_fail(g, s, TI_ERR_STATE, "not an element-wise activation");
}

static ti_status unary_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st), *y = NULL;
    if (st != TI_OK)
        return st;
    switch ((unary_kind)s->axis) {
    case U_SIGMOID: y = ti_sigmoid(tape, x); break;
    case U_TANH: y = ti_tanh(tape, x); break;
    case U_ERF: y = ti_erf(tape, x); break;
    case U_LEAKY: y = ti_leaky_relu(tape, x, s->alpha); break;
    case U_ELU: y = ti_elu(tape, x, s->alpha); break;
    }
    return ti__ox_set_out(g, s, y);
}

/* ---- Softmax and LogSoftmax --------------------------------------------------------------- */

/* axis in s->axis; s->start is 1 for LogSoftmax */
static ti_status softmax_compile(ti_onnx *g, ti__ox_step *s)
{
    s->axis = (int)ti__ox_attr_i(s, "axis", g->file->opset >= 13 ? -1 : 1);
    s->start = !strcmp(s->node->op, "LogSoftmax");
    return TI_OK;
}

/* Both definitions read x as a matrix (rows before the axis, columns from it on) and
 * normalise each row: before opset 13 by definition, from 13 on when the axis is the last one
 * that is not 1 (a class axis). Other axes of later opsets are refused. */
static ti_status softmax_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    if (st != TI_OK)
        return st;
    int nd = x->ndim, a = s->axis < 0 ? s->axis + nd : s->axis;
    char sx[64];
    if (a < 0 || a >= nd)
        return ti__ox_fail(g, s, TI_ERR_SHAPE, "axis %d is out of range for %s", s->axis,
                           ti_shape_str(x, sx, sizeof sx));
    size_t rows = ti_shape_size(a, x->shape), cols = x->size / (rows ? rows : 1);
    if (g->file->opset >= 13 && ti_shape_size(nd - a - 1, x->shape + a + 1) != 1)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                           "%s over axis %d of %s is not supported (only over the last axis, "
                           "the classes)",
                           s->node->op, s->axis, ti_shape_str(x, sx, sizeof sx));
    if (rows > 0x7fffffff || cols > 0x7fffffff)
        return ti__ox_fail(g, s, TI_ERR_SHAPE, "tensor too large");
    int flat = nd != 2 || (size_t)x->shape[0] != rows;
    ti_tensor *m = flat ? ti_reshape(tape, x, 2, (int[]){(int)rows, (int)cols}) : x;
    ti_tensor *y = s->start ? ti_log_softmax(tape, m) : ti_softmax(tape, m);
    if (flat && y)
        y = ti_reshape(tape, y, nd, x->shape);
    return ti__ox_set_out(g, s, y);
}

/* ---- the table ------------------------------------------------------------------------- */

static const ti__ox_op ops[] = {
    {"Sigmoid", "", 1, 1, 1, unary_compile, unary_run},
    {"Tanh", "", 1, 1, 1, unary_compile, unary_run},
    {"Erf", "", 1, 1, 1, unary_compile, unary_run},
    {"LeakyRelu", "alpha", 1, 1, 1, unary_compile, unary_run},
    {"Elu", "alpha", 1, 1, 1, unary_compile, unary_run},
    {"Softmax", "axis", 1, 1, 1, softmax_compile, softmax_run},
    {"LogSoftmax", "axis", 1, 1, 1, softmax_compile, softmax_run},
};

const ti__ox_op *ti__ox_find_op_act(const char *op_type)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(ops[i].name, op_type))
            return &ops[i];
    return NULL;
}
