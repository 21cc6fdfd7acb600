/* Tests of the ONNX importer: PyTorch parity of logits and input gradients on six exported
 * CNNs (tests/fixtures/onnx_*.onnx and onnx_*_ref.safetensors, made by
 * scripts/make_onnx_fixtures.py), the fusion of SiLU and GELU patterns, Softmax and
 * LogSoftmax heads (the output kind and its warning), the imported parameters, the
 * broadcasting and padding ops against finite differences, and the error paths: truncated,
 * garbage and mutated files, unknown operators, unsupported attributes, shape mismatches,
 * unsupported opsets. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/fileio.h"
#include "thinice/onnx.h"
#include "thinice/safetensors.h"
#include "../libtensor/onnx_internal.h"

#define FIX "tests/fixtures/"
#define CORPUS "tests/fuzz/corpus/onnx/" /* the fuzzer's seeds and findings (regress_*) */

/* Reads tensor `name` of a reference file into a new malloc'd array. */
static float *ref_read(ti_ctx *ctx, ti_st_file *f, const char *name, size_t *n)
{
    const ti_st_entry *e = ti_st_find(f, name);
    ck_assert_msg(e != NULL, "reference tensor %s missing", name);
    float *d = malloc(e->nelem * sizeof(float));
    ck_assert_int_eq(ti_st_read_f32(ctx, f, e, d), TI_OK);
    *n = e->nelem;
    return d;
}

/* The logit gradient of the loss 0.5 |z|^2: z itself. */
static void half_sq_dlogits(void *user, const float *logits, int N, int M, float *dlogits)
{
    (void)user;
    memcpy(dlogits, logits, (size_t)N * M * sizeof(float));
}

/* ---- parity with PyTorch ------------------------------------------------------------------ */

static void assert_parity(const char *name, int C, int H, int W, int M)
{
    char path[256], refp[256];
    snprintf(path, sizeof path, FIX "onnx_%s.onnx", name);
    snprintf(refp, sizeof refp, FIX "onnx_%s_ref.safetensors", name);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_onnx *g;
    ck_assert_msg(ti_onnx_load(ctx, path, &g) == TI_OK, "%s", ti_ctx_errmsg(ctx));
    int c, h, w, m;
    ti_onnx_shape(g, &c, &h, &w, &m);
    ck_assert_int_eq(c, C);
    ck_assert_int_eq(h, H);
    ck_assert_int_eq(w, W);
    ck_assert_int_eq(m, M);
    ti_st_file *rf;
    ck_assert_int_eq(ti_st_open(ctx, refp, &rf), TI_OK);
    size_t nx, nr, nl, ng;
    float *x = ref_read(ctx, rf, "x", &nx), *r = ref_read(ctx, rf, "r", &nr);
    float *logits = ref_read(ctx, rf, "logits", &nl), *grad = ref_read(ctx, rf, "grad", &ng);
    int N = (int)(nl / (size_t)M);
    ck_assert_uint_eq(nx, (size_t)N * C * H * W);

    /* batch 2 makes the last batch of 3 samples a partial one */
    ti_classifier f;
    ck_assert_int_eq(ti_onnx_classifier(g, 2, &f), TI_OK);
    float *z = malloc(nl * sizeof(float)), *z2 = malloc(nl * sizeof(float));
    float *dx = malloc(nx * sizeof(float));
    ck_assert_msg(f.forward(f.self, x, N, z) == TI_OK, "%s", ti_ctx_errmsg(ctx));
    double el = tu_reldiff(z, logits, nl);
    ck_assert_msg(el <= 1e-4, "%s: logits differ from PyTorch by %g", name, el);
    ck_assert_msg(f.vjp(f.self, x, N, r, z2, dx) == TI_OK, "%s", ti_ctx_errmsg(ctx));
    ck_assert_double_le(tu_reldiff(z2, logits, nl), 1e-4);
    /* input gradients are small (about 1e-2): compare relative to the largest one */
    double gmax = 0, eg = 0;
    for (size_t i = 0; i < nx; i++) {
        gmax = fmax(gmax, fabs(grad[i]));
        eg = fmax(eg, fabs((double)dx[i] - grad[i]));
    }
    ck_assert_double_gt(gmax, 1e-3); /* not all zero: the comparison means something */
    ck_assert_msg(eg <= 1e-3 * gmax, "%s: input gradient differs from PyTorch by %g (max %g)",
                  name, eg, gmax);

    /* the Jacobian of one sample agrees with the vjp: r^T J = dx */
    float *jac = malloc((size_t)M * C * H * W * sizeof(float));
    ck_assert_int_eq(f.jacobian(f.self, x, 1, z2, jac), TI_OK);
    size_t D = (size_t)C * H * W;
    double ej = 0;
    for (size_t d = 0; d < D; d++) {
        double s = 0;
        for (int k = 0; k < M; k++)
            s += (double)r[k] * jac[(size_t)k * D + d];
        ej = fmax(ej, fabs(s - grad[d]));
    }
    ck_assert_msg(ej <= 1e-3 * gmax, "%s: Jacobian rows disagree with the gradient by %g", name, ej);

    /* the one-pass grad agrees with forward + vjp, batch by batch (the last one partial) */
    ck_assert_ptr_nonnull(f.grad);
    float *dx2 = malloc(nx * sizeof(float));
    ck_assert_int_eq(f.grad(f.self, x, N, half_sq_dlogits, NULL, z2, dx2), TI_OK);
    ck_assert_double_le(tu_reldiff(z2, z, nl), 1e-5);
    ck_assert_int_eq(f.vjp(f.self, x, N, z, NULL, dx), TI_OK);
    ck_assert_double_le(tu_reldiff(dx2, dx, nx), 1e-5);
    free(dx2);

    free(jac);
    free(z);
    free(z2);
    free(dx);
    free(x);
    free(r);
    free(logits);
    free(grad);
    ti_st_close(rf);
    ti_onnx_free(g);
    ti_ctx_free(ctx);
}

START_TEST(test_parity_resnet)
{
    assert_parity("resnet", 3, 16, 16, 10); /* opset 9: biased convs, residual Adds, Pad, pools, Gemm */
}
END_TEST

START_TEST(test_parity_bnnorm)
{
    assert_parity("bnnorm", 3, 16, 16, 10); /* opset 13: Sub/Div prefix, BatchNormalization, Reshape */
}
END_TEST

START_TEST(test_parity_misc)
{
    assert_parity("misc", 3, 16, 16, 10); /* opset 17: asymmetric pads, MatMul, Shape/Gather/Concat */
}
END_TEST

/* How many steps of g run the operator called name (fused ones included). */
static int count_op(const ti_onnx *g, const char *name)
{
    int n = 0;
    for (int k = 0; k < g->nsteps; k++)
        n += !strcmp(g->steps[k].op->name, name);
    return n;
}

/* Loads a fixture, checks its output kind and its steps' operators: pairs (name, count)
 * ending with NULL. */
static void assert_graph(const char *name, ti_onnx_output kind, ...)
{
    char path[256];
    snprintf(path, sizeof path, FIX "onnx_%s.onnx", name);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_onnx *g;
    ck_assert_msg(ti_onnx_load(ctx, path, &g) == TI_OK, "%s", ti_ctx_errmsg(ctx));
    ck_assert_int_eq(ti_onnx_output_kind(g), kind);
    va_list ap;
    va_start(ap, kind);
    for (const char *op = va_arg(ap, const char *); op; op = va_arg(ap, const char *)) {
        int want = va_arg(ap, int);
        ck_assert_msg(count_op(g, op) == want, "%s: %d steps run %s, expected %d", name,
                      count_op(g, op), op, want);
    }
    va_end(ap);
    ti_onnx_free(g);
    ti_ctx_free(ctx);
}

START_TEST(test_parity_robust)
{
    /* opset 13: depthwise, grouped and dilated Conv, SiLU, LeakyRelu, Elu, a Sigmoid gate with
     * a broadcast Mul, Concat of feature maps, exact GELU, GlobalAveragePool */
    assert_parity("robust", 3, 16, 16, 10);
    /* x * Sigmoid(x) became one SiLU, the GELU's five nodes one op; the gate's Sigmoid and
     * Mul stay (the Sigmoid reads another value) */
    assert_graph("robust", TI_ONNX_LOGITS, "SiLU (fused)", 1, "GELU (fused)", 1, "Erf", 0,
                 "Sigmoid", 1, "Mul", 1, "Concat", 2, NULL);
}
END_TEST

START_TEST(test_parity_softmax)
{
    /* opset 11: tanh-form GELU, depthwise with a channel multiplier, Tanh, a Sigmoid read
     * twice (not fused), ReduceMean, a Softmax head: probabilities and their gradients */
    assert_parity("softmax", 3, 16, 16, 10);
    assert_graph("softmax", TI_ONNX_PROBS, "GELU (fused)", 1, "Tanh", 1, "Sigmoid", 1,
                 "SiLU (fused)", 0, "Softmax", 1, NULL);
}
END_TEST

START_TEST(test_parity_logsoftmax)
{
    /* opset 17: five branches in one Concat (plain, dilated, depthwise dilated convs and a
     * max pool), an erf GELU written by hand in another order, SiLU, an unfused Erf, a
     * LogSoftmax head */
    assert_parity("logsoftmax", 3, 16, 16, 10);
    assert_graph("logsoftmax", TI_ONNX_LOG_PROBS, "GELU (fused)", 1, "SiLU (fused)", 1,
                 "Erf", 1, "Concat", 1, "LogSoftmax", 1, NULL);
}
END_TEST

/* ---- the output kind: a Softmax at the end is loaded, reported and logged ----------------- */

typedef struct log_capture {
    int warnings;
    char last[1024];
} log_capture;

static void capture_log(void *user, int level, const char *msg)
{
    log_capture *c = user;
    if (level == 1) {
        c->warnings++;
        snprintf(c->last, sizeof c->last, "%s", msg);
    }
}

START_TEST(test_output_kind)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    log_capture cap = {0};
    ti_ctx_set_log(ctx, capture_log, &cap);
    ti_onnx *g;
    ck_assert_int_eq(ti_onnx_load(ctx, FIX "onnx_softmax.onnx", &g), TI_OK);
    ck_assert_int_eq(ti_onnx_output_kind(g), TI_ONNX_PROBS);
    ck_assert_str_eq(ti_onnx_output_name(ti_onnx_output_kind(g)), "probabilities");
    ck_assert_int_eq(cap.warnings, 1);
    ck_assert_ptr_nonnull(strstr(cap.last, "onnx_softmax.onnx"));
    ck_assert_ptr_nonnull(strstr(cap.last, "probabilities, not logits"));
    ck_assert_ptr_nonnull(strstr(cap.last, "classic evaluation mistake"));
    /* the user's model as it is: rows of probabilities */
    float x[2 * 768], p[20];
    tu_fill(ti_ctx_rng(ctx), x, 2 * 768, 0.0f, 1.0f);
    ti_classifier f;
    ck_assert_int_eq(ti_onnx_classifier(g, 2, &f), TI_OK);
    ck_assert_int_eq(f.forward(f.self, x, 2, p), TI_OK);
    for (int i = 0; i < 2; i++) {
        double sum = 0;
        for (int k = 0; k < 10; k++) {
            ck_assert(p[i * 10 + k] >= 0.0f);
            sum += p[i * 10 + k];
        }
        ck_assert_double_eq_tol(sum, 1.0, 1e-5);
    }
    ti_onnx_free(g);
    /* log-probabilities and logits load without a warning */
    ck_assert_int_eq(ti_onnx_load(ctx, FIX "onnx_logsoftmax.onnx", &g), TI_OK);
    ck_assert_int_eq(ti_onnx_output_kind(g), TI_ONNX_LOG_PROBS);
    ti_onnx_free(g);
    ck_assert_int_eq(ti_onnx_load(ctx, FIX "onnx_resnet.onnx", &g), TI_OK);
    ck_assert_int_eq(ti_onnx_output_kind(g), TI_ONNX_LOGITS);
    ck_assert_str_eq(ti_onnx_output_name(TI_ONNX_LOGITS), "logits");
    ck_assert_str_eq(ti_onnx_output_name(TI_ONNX_OUTPUT_COUNT), "unknown");
    ti_onnx_free(g);
    ck_assert_int_eq(cap.warnings, 1);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- parameters ---------------------------------------------------------------------------- */

START_TEST(test_params)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_onnx *g;
    ck_assert_int_eq(ti_onnx_load(ctx, "onnx:" FIX "onnx_bnnorm.onnx", &g), TI_OK);
    ck_assert_int_eq(ti_onnx_opset(g), 13);
    ck_assert_str_eq(ti_onnx_producer(g), "pytorch");
    /* conv1/2 weights, 3 x 4 BN tensors, fc1/fc2 weight and bias; mean/std have no role */
    ck_assert_int_eq(ti_onnx_nparams(g), 2 + 12 + 4);
    ti_param *p = ti_onnx_find(g, "conv1.weight");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->kind, TI_PARAM_WEIGHT);
    ck_assert_int_eq(p->t.ndim, 4);
    ck_assert_int_eq(p->t.shape[0], 8);
    ck_assert_int_eq(ti_onnx_find(g, "bn2.running_var")->kind, TI_PARAM_BN_VAR);
    ck_assert_int_eq(ti_onnx_find(g, "bn3.bias")->kind, TI_PARAM_BN_BIAS);
    ck_assert_ptr_null(ti_onnx_find(g, "mean"));
    ck_assert_ptr_null(ti_onnx_param(g, -1));

    /* parameter gradients: d sum(r * logits) / d fc2.bias = sum over the batch of r */
    ck_assert_int_eq(ti_onnx_set_requires_grad(g, 1), TI_OK);
    ti_param *b = ti_onnx_find(g, "fc2.bias");
    ck_assert_int_eq(b->kind, TI_PARAM_BIAS);
    ck_assert_ptr_nonnull(b->t.grad);
    ti_tape *tape = ti_tape_new(ctx);
    float x[2 * 3 * 16 * 16], r[20];
    tu_fill(ti_ctx_rng(ctx), x, 2 * 768, 0.0f, 1.0f);
    tu_fill(ti_ctx_rng(ctx), r, 20, -1.0f, 1.0f);
    ti_tensor *in = ti_tape_input(tape, x, 4, (int[]){2, 3, 16, 16}, 0);
    ti_tensor *y = ti_onnx_forward(g, tape, in, 0);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(ti_tape_backward_seed(tape, y, r), TI_OK);
    for (int k = 0; k < 10; k++)
        ck_assert_double_le(fabs(b->t.grad[k] - (r[k] + r[10 + k])), 1e-5);
    /* the classifier view turns parameter gradients off during its calls and back on after */
    ti_classifier f;
    ck_assert_int_eq(ti_onnx_classifier(g, 4, &f), TI_OK);
    float dx[2 * 768];
    float keep = b->t.grad[0];
    ck_assert_int_eq(f.vjp(f.self, x, 2, r, NULL, dx), TI_OK);
    ck_assert_float_eq(b->t.grad[0], keep);
    ck_assert_int_eq(b->t.requires_grad, 1);
    ti_tape_free(tape);
    ti_onnx_free(g);
    ti_ctx_free(ctx);
}
END_TEST

/* Training mode: batch norm uses batch statistics and updates the running ones. */
START_TEST(test_training_mode)
{
    ti_ctx *ctx = ti_ctx_new(2, 1);
    ti_onnx *g;
    ck_assert_int_eq(ti_onnx_load(ctx, FIX "onnx_bnnorm.onnx", &g), TI_OK);
    ti_param *rm = ti_onnx_find(g, "bn1.running_mean");
    float before = rm->t.data[0];
    ti_tape *tape = ti_tape_new(ctx);
    float x[4 * 768];
    tu_fill(ti_ctx_rng(ctx), x, 4 * 768, 0.0f, 1.0f);
    ti_tensor *in = ti_tape_input(tape, x, 4, (int[]){4, 3, 16, 16}, 0);
    ck_assert_ptr_nonnull(ti_onnx_forward(g, tape, in, 1));
    ck_assert_float_ne(rm->t.data[0], before);
    ti_tape_free(tape);
    ti_onnx_free(g);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- the ops: finite differences ---------------------------------------------------------- */

static ti_tensor *leaf(ti_rng *r, int ndim, const int *shape, float lo, float hi)
{
    ti_tensor *t = ti_tensor_new(ndim, shape);
    tu_fill(r, t->data, t->size, lo, hi);
    t->requires_grad = 1;
    return t;
}

static ti_tensor *build_bc(ti_tape *t, ti_tensor **in, void *user)
{
    return ti_broadcast(t, *(ti_binop *)user, in[0], in[1]);
}

START_TEST(test_broadcast_gradients)
{
    ti_rng r;
    ti_rng_seed(&r, 5);
    static const int sa[][5] = {{4, 2, 3, 4, 5}, {4, 2, 3, 4, 5}, {2, 4, 3, 0, 0},
                                {4, 2, 1, 4, 1}, {1, 5, 0, 0, 0}};
    static const int sb[][5] = {{4, 1, 3, 1, 1}, {3, 3, 1, 1, 0}, {1, 3, 0, 0, 0},
                                {3, 3, 1, 5, 0}, {0, 0, 0, 0, 0}};
    for (int c = 0; c < 5; c++)
        for (int op = 0; op < TI_BINOP_COUNT; op++) {
            ti_tensor *in[2] = {leaf(&r, sa[c][0], sa[c] + 1, -1.0f, 1.0f),
                                /* divisors away from zero */
                                leaf(&r, sb[c][0], sb[c] + 1, 0.5f, 1.5f)};
            ti_binop o = (ti_binop)op;
            double err = tu_gradcheck(build_bc, in, 2, &o, 1e-2, 1e-2);
            ck_assert_msg(err < 2e-3, "case %d op %d: relative error %g", c, op, err);
            ti_tensor_free(in[0]);
            ti_tensor_free(in[1]);
        }
}
END_TEST

START_TEST(test_broadcast_values_and_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30};
    ti_tensor *ta = ti_tape_input(tape, a, 2, (int[]){2, 3}, 0);
    ti_tensor *tb = ti_tape_input(tape, b, 1, (int[]){3}, 0);
    ti_tensor *y = ti_broadcast(tape, TI_BINOP_SUB, ta, tb);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->ndim, 2);
    ck_assert_float_eq(y->data[4], 5.0f - 20.0f);
    y = ti_broadcast(tape, TI_BINOP_DIV, tb, ta); /* (3) / (2, 3) -> (2, 3) */
    ck_assert_float_eq(y->data[5], 30.0f / 6.0f);
    ti_tensor *tc = ti_tape_input(tape, b, 1, (int[]){2}, 0);
    ck_assert_ptr_null(ti_broadcast(tape, TI_BINOP_ADD, ta, tc));
    ck_assert_int_eq(ti_tape_status(tape), TI_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "do not broadcast"));
    ti_tape_reset(tape);
    ck_assert_ptr_null(ti_broadcast(tape, TI_BINOP_COUNT, ta, ta));
    ck_assert_int_eq(ti_tape_status(tape), TI_ERR_ARG);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
}
END_TEST

static ti_tensor *build_pad(ti_tape *t, ti_tensor **in, void *user)
{
    const int *p = user;
    return ti__ox_pad2d(t, in[0], p[0], p[1], p[2], p[3], 0.5f);
}

START_TEST(test_pad_gradients)
{
    ti_rng r;
    ti_rng_seed(&r, 6);
    int pads[4] = {0, 2, 1, 3};
    ti_tensor *in[1] = {leaf(&r, 4, (int[]){2, 2, 3, 4}, -1.0f, 1.0f)};
    double err = tu_gradcheck(build_pad, in, 1, pads, 1e-2, 1e-2);
    ck_assert_msg(err < 1e-3, "relative error %g", err);
    /* values: the border holds the constant, the interior the input */
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_tape *tape = ti_tape_new(ctx);
    ti_tensor *y = ti__ox_pad2d(tape, in[0], 0, 2, 1, 3, 0.5f);
    ck_assert_int_eq(y->shape[2], 4);
    ck_assert_int_eq(y->shape[3], 9);
    ck_assert_float_eq(y->data[0], 0.5f);
    ck_assert_float_eq(y->data[2], in[0]->data[0]);
    ck_assert_ptr_null(ti__ox_pad2d(tape, in[0], -1, 0, 0, 0, 0.0f));
    ck_assert_int_eq(ti_tape_status(tape), TI_ERR_UNSUPPORTED);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
    ti_tensor_free(in[0]);
}
END_TEST

/* ---- errors --------------------------------------------------------------------------- */

/* Loading `path` fails with status s and a message containing each of the parts. */
static void assert_load_error(const char *path, ti_status s, const char *part1,
                              const char *part2)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_onnx *g = (ti_onnx *)1;
    ti_status st = ti_onnx_load(ctx, path, &g);
    const char *msg = ti_ctx_errmsg(ctx);
    ck_assert_msg(st == s, "%s: status %d (%s), expected %d", path, st, msg, s);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(msg, part1), "message \"%s\" lacks \"%s\"", msg, part1);
    ck_assert_msg(!part2 || strstr(msg, part2), "message \"%s\" lacks \"%s\"", msg, part2);
    ti_ctx_free(ctx);
}

START_TEST(test_unsupported_files)
{
    assert_load_error(FIX "onnx_bad_unknown_op.onnx", TI_ERR_UNSUPPORTED, "node 'soft'",
                      "unknown or unsupported operator 'Softsign'");
    assert_load_error(FIX "onnx_bad_dilation.onnx", TI_ERR_UNSUPPORTED, "node 'pool0' (MaxPool)",
                      "dilations=[2, 2] (only 1 for pooling)");
    assert_load_error(FIX "onnx_bad_group.onnx", TI_ERR_SHAPE, "node 'conv0' (Conv)",
                      "group=3 does not divide the 2 output channels");
    assert_load_error(FIX "onnx_bad_softmax_axis.onnx", TI_ERR_UNSUPPORTED, "node 'soft' (Softmax)",
                      "over axis 1 of (1, 2, 4, 4) is not supported");
    assert_load_error(FIX "onnx_bad_attr.onnx", TI_ERR_UNSUPPORTED, "node 'conv0' (Conv)",
                      "unsupported attribute 'fancy_option'");
    assert_load_error(FIX "onnx_bad_shape.onnx", TI_ERR_SHAPE, "node 'fc' (Gemm)", "C=32");
    assert_load_error(FIX "onnx_bad_opset.onnx", TI_ERR_UNSUPPORTED, "opset 18", "9 to 17");
    assert_load_error(FIX "onnx_bad_missing.onnx", TI_ERR_FORMAT, "node 'flat'",
                      "'nowhere' is not produced");
    assert_load_error(FIX "no_such_file.onnx", TI_ERR_IO, "no_such_file.onnx", NULL);
    /* a safetensors file is not an ONNX model */
    assert_load_error(FIX "onnx_resnet_ref.safetensors", TI_ERR_FORMAT, "not a valid ONNX file",
                      NULL);
}
END_TEST

START_TEST(test_malformed_bytes)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    char *data;
    size_t len;
    ck_assert_int_eq(ti_read_file(ctx, FIX "onnx_resnet.onnx", &data, &len), TI_OK);
    ti_onnx *g = NULL;
    /* truncated: half the file */
    ck_assert_int_eq(ti_onnx_load_buffer(ctx, data, len / 2, "half.onnx", &g), TI_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "half.onnx"));
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "truncated"));
    /* empty */
    ck_assert_int_eq(ti_onnx_load_buffer(ctx, data, 0, "empty.onnx", &g), TI_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "empty"));
    /* text */
    const char *text = "hello, this is not a model\n";
    ck_assert_int_eq(ti_onnx_load_buffer(ctx, text, strlen(text), "text.onnx", &g),
                     TI_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "not a valid ONNX file"));
    /* every prefix length in steps fails cleanly (never a crash, never success) */
    for (size_t n = 1; n < len; n += 97) {
        ti_status st = ti_onnx_load_buffer(ctx, data, n, "prefix.onnx", &g);
        ck_assert_msg(st != TI_OK, "a %zu-byte prefix loaded", n);
        ck_assert_ptr_null(g);
        ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    }
    /* random byte changes: any status, a message when failing, never a crash */
    ti_rng r;
    ti_rng_seed(&r, 77);
    char *m = malloc(len);
    for (int trial = 0; trial < 150; trial++) {
        memcpy(m, data, len);
        int changes = 1 + (int)ti_rng_below(&r, 4);
        for (int k = 0; k < changes; k++)
            m[ti_rng_below(&r, len)] = (char)ti_rng_below(&r, 256);
        ti_status st = ti_onnx_load_buffer(ctx, m, len, "mutated.onnx", &g);
        if (st == TI_OK)
            ti_onnx_free(g);
        else
            ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    }
    free(m);
    free(data);
    ti_ctx_free(ctx);
}
END_TEST

/* Inputs the fuzzer found, and implausibly large models (docs/fuzzing.md): each is refused
 * with a clear message before any large allocation or long computation. */
START_TEST(test_fuzz_regressions)
{
    /* an initializer declaring 8.6e9 floats in a 603-byte message once sized a 34 GB block */
    assert_load_error(CORPUS "regress_huge_initializer.onnx", TI_ERR_FORMAT,
                      "tensor 'conv2.weight' declares 8573018064 elements", "603 bytes");
    /* files of a few hundred bytes whose dry run asked for gigabytes (the Pad one also ran for
     * half a minute): refused at the node that would grow past 2^24 values per image */
    assert_load_error(CORPUS "huge_input_opset13.onnx", TI_ERR_UNSUPPORTED,
                      "graph input 'x' is a 1 x 20000 x 20000 image", "16777216");
    assert_load_error(CORPUS "huge_conv_pads_opset13.onnx", TI_ERR_UNSUPPORTED,
                      "node #0 (Conv", "an output of 1600160004 values per image");
    assert_load_error(CORPUS "huge_pad_op_opset9.onnx", TI_ERR_UNSUPPORTED, "node #0 (Pad",
                      "gives 1600320016 values per image");
    assert_load_error(CORPUS "huge_broadcast_opset9.onnx", TI_ERR_UNSUPPORTED, "node #1 (Add",
                      "a result of 32128128 values per image");
    assert_load_error(CORPUS "huge_patches_opset9.onnx", TI_ERR_UNSUPPORTED, "node #1 (Conv",
                      "patches of 100000000 values per image (at most 67108864)");
    assert_load_error(CORPUS "huge_concat_opset13.onnx", TI_ERR_UNSUPPORTED, "node #3 (Concat",
                      "a concatenation of 130056192 values per image");
}
END_TEST

START_TEST(test_spec_and_input_shape)
{
    ck_assert(ti_onnx_is_spec("onnx:model.bin"));
    ck_assert(ti_onnx_is_spec("runs/resnet.onnx"));
    ck_assert(!ti_onnx_is_spec("resnet18"));
    ck_assert(!ti_onnx_is_spec(".onnx"));
    ck_assert(!ti_onnx_is_spec(NULL));
    ck_assert_str_eq(ti_onnx_spec_path("onnx:a/b.bin"), "a/b.bin");
    ck_assert_str_eq(ti_onnx_spec_path("a/b.onnx"), "a/b.onnx");

    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_onnx *g;
    ck_assert_int_eq(ti_onnx_load(ctx, FIX "onnx_resnet.onnx", &g), TI_OK);
    ti_tape *tape = ti_tape_new(ctx);
    float x[2 * 16 * 16] = {0};
    ti_tensor *in = ti_tape_input(tape, x, 4, (int[]){1, 2, 16, 16}, 0);
    ck_assert_ptr_null(ti_onnx_forward(g, tape, in, 0));
    ck_assert_int_eq(ti_tape_status(tape), TI_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "expects (N, 3, 16, 16)"));
    ck_assert_int_eq(ti_onnx_classifier(g, 0, &(ti_classifier){0}), TI_ERR_ARG);
    ti_tape_free(tape);
    ti_onnx_free(g);
    ti_onnx_free(NULL);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_onnx(void)
{
    Suite *s = suite_create("onnx");
    TCase *tc = tcase_create("parity");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_parity_resnet);
    tcase_add_test(tc, test_parity_bnnorm);
    tcase_add_test(tc, test_parity_misc);
    tcase_add_test(tc, test_parity_robust);
    tcase_add_test(tc, test_parity_softmax);
    tcase_add_test(tc, test_parity_logsoftmax);
    tcase_add_test(tc, test_output_kind);
    tcase_add_test(tc, test_params);
    tcase_add_test(tc, test_training_mode);
    suite_add_tcase(s, tc);
    tc = tcase_create("ops");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_broadcast_gradients);
    tcase_add_test(tc, test_broadcast_values_and_errors);
    tcase_add_test(tc, test_pad_gradients);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_unsupported_files);
    tcase_add_test(tc, test_malformed_bytes);
    tcase_add_test(tc, test_fuzz_regressions);
    tcase_add_test(tc, test_spec_and_input_shape);
    suite_add_tcase(s, tc);
    return s;
}
