/* What the ONNX importer's files share (onnx_protobuf.c, onnx_graph.c, onnx_ops.c,
 * onnx_ops_act.c, onnx_fuse.c, onnx_classifier.c): the decoded protobuf messages, the
 * compiled graph and the operator table. Field numbers follow onnx.proto (ONNX 1.12); see
 * docs/onnx.md. Not installed. */
#ifndef THINICE_ONNX_INTERNAL_H
#define THINICE_ONNX_INTERNAL_H

#include <stdint.h>

#include "internal.h"
#include "thinice/classifier.h"
#include "thinice/model.h"
#include "thinice/onnx.h"
#include "thinice/ops.h"

/* ---- the decoded file (onnx_protobuf.c) -------------------------------------------------
 * Strings are NUL-terminated copies in the decoder's arena; tensor data stays in the file
 * buffer (`msg` is the whole TensorProto) and is converted by ti__ox_tensor_read_*. */

#define OX_MAX_DIMS 8

enum { OX_DT_FLOAT = 1, OX_DT_INT32 = 6, OX_DT_INT64 = 7, OX_DT_DOUBLE = 11 };
enum { OX_AT_FLOAT = 1, OX_AT_INT = 2, OX_AT_STRING = 3, OX_AT_TENSOR = 4, OX_AT_FLOATS = 6,
       OX_AT_INTS = 7 };

typedef struct ti__ox_tensor {
    const char *name;
    int ndim;
    int64_t dims[OX_MAX_DIMS];
    size_t n;               /* number of elements */
    int dtype;              /* TensorProto.DataType */
    const uint8_t *msg;     /* the TensorProto's bytes in the file buffer */
    size_t msg_len;
} ti__ox_tensor;

typedef struct ti__ox_attr {
    const char *name;
    int type;               /* AttributeProto.AttributeType, inferred when absent */
    float f;
    int64_t i;
    const char *s;
    ti__ox_tensor *t;
    int nfloats, nints;
    float *floats;
    int64_t *ints;
} ti__ox_attr;

typedef struct ti__ox_node {
    const char *name, *op, *domain;
    int nin, nout, nattr;
    const char **in, **out; /* "" for an omitted optional input */
    ti__ox_attr *attr;
} ti__ox_node;

typedef struct ti__ox_vinfo {
    const char *name;
    int elem_type;
    int ndim;               /* -1: no shape given */
    int64_t dims[OX_MAX_DIMS]; /* -1: symbolic (dim_param) or unknown */
} ti__ox_vinfo;

typedef struct ti__ox_arena ti__ox_arena;

typedef struct ti__ox_file {
    int64_t ir_version;
    int64_t opset;          /* of the default domain ("" or "ai.onnx"); 0 if not imported */
    const char *producer;
    ti__ox_node *nodes;
    int nnodes;
    ti__ox_tensor *inits;
    int ninits;
    ti__ox_vinfo *inputs, *outputs;
    int ninputs, noutputs;
    ti__ox_arena *arena;
} ti__ox_file;

/* Decodes a ModelProto held in buf[len] (which must outlive the result). Errors (truncated
 * or garbage bytes, wrong wire types, missing graph, a float or integer tensor declaring
 * more elements than its bytes can hold, external data) go to ctx prefixed with `what`. */
ti_status ti__ox_decode(ti_ctx *ctx, const char *what, const uint8_t *buf, size_t len,
                    ti__ox_file **out);
void ti__ox_file_free(ti__ox_file *f);
/* Converts a tensor's data (raw_data or the typed repeated field) to float / int64 into
 * dst[t->n]. TI_ERR_FORMAT when the byte count does not match the dims, TI_ERR_UNSUPPORTED for
 * other element types (external data is refused by the decoder). */
ti_status ti__ox_tensor_read_f32(ti_ctx *ctx, const char *what, const ti__ox_tensor *t, float *dst);
ti_status ti__ox_tensor_read_i64(ti_ctx *ctx, const char *what, const ti__ox_tensor *t, int64_t *dst);

/* ---- the compiled graph (onnx_graph.c, onnx_ops.c) ------------------------------------- */

/* thinice imports image classifiers: the input image and every activation may hold at most
 * this many values per image (64 MB of floats; an ImageNet ResNet-50's largest holds 0.8 M),
 * and a convolution at most four times as many per image and output channel in its patches.
 * Larger ones are refused before they are allocated: otherwise a few hundred bytes of
 * attributes (a 20000-pixel pad, a 20000x20000 input) ask for gigabytes and minutes. */
#define OX_MAX_VALUES ((size_t)1 << 24)

/* A small integer tensor: shape vectors and the indices that compute them. */
#define OX_IVAL_MAX 8
typedef struct ti__ox_ival {
    int ndim;               /* 0 (scalar) or 1 */
    int n;
    int64_t v[OX_IVAL_MAX];
} ti__ox_ival;

typedef enum ti__ox_vkind {
    OXV_ACT = 0,            /* computed by a node at run time (float or integer) */
    OXV_INPUT,              /* the image batch */
    OXV_FLOAT,              /* a float constant: initializer or Constant node */
    OXV_INT,                /* an integer constant */
} ti__ox_vkind;

typedef struct ti__ox_value {
    const char *name;
    ti__ox_vkind kind;
    ti_tensor *t;           /* OXV_FLOAT: the constant's tensor (in g->consts) */
    int param;              /* OXV_FLOAT: index in g->params, or -1 when it has no role */
    ti__ox_ival iv;             /* OXV_INT */
    int producer;           /* node index, or -1 */
    int uses;               /* how many node inputs read it */
} ti__ox_value;

struct ti__ox_op;

/* One node, checked and ready to run. */
typedef struct ti__ox_step {
    const struct ti__ox_op *op;
    const ti__ox_node *node;
    int index;              /* position in the file, for messages of unnamed nodes */
    int in[8], nin;         /* value indices, -1 for an omitted optional input */
    int out;
    /* parsed attributes (which ones mean something depends on the op) */
    int k[2], stride[2], pads[4]; /* pads: top, left, bottom, right */
    int auto_pad;           /* 0 NOTSET/VALID, 1 SAME_UPPER, 2 SAME_LOWER */
    int ceil_mode, count_include_pad, axis, trans_b, start, end;
    int dil, group;         /* Conv's (equal) dilations and groups */
    int64_t axes[OX_IVAL_MAX];
    int naxes;
    float alpha, beta, eps, momentum, value, lo, hi;
} ti__ox_step;

struct ti_onnx {
    ti_ctx *ctx;
    char path[256];         /* for messages */
    ti__ox_file *file;
    uint8_t *buf;           /* the file's bytes (tensor data is read from here) */
    ti__ox_value *vals;
    int nvals;
    int *hash;              /* open addressing: value index + 1, 0 = empty (hcap slots) */
    int hcap;
    ti__ox_step *steps;         /* in topological order */
    int nsteps;
    int input, output;      /* value indices */
    int C, H, W, M;
    int64_t batch_decl;     /* the batch size the graph input declares, or -1 */
    ti_tensor *consts;      /* (nconsts) float constants, data in cblock */
    int nconsts;
    float *cblock, *gblock; /* constant values, gradients of the params (lazily) */
    size_t ncf;
    ti_param *params;       /* (nparams) constants with a role (weights, biases, BN) */
    int nparams;
    int requires_grad;
    int *param_const;       /* (nparams) index in consts */
    /* run-time value slots, reused across forwards */
    ti_tensor **act;        /* (nvals) */
    ti__ox_ival *iact;          /* (nvals) */
    unsigned char *is_int;  /* (nvals) computed integer values (found when compiling) */
    size_t cused;           /* floats of cblock in use */
    ti_onnx_output out_kind; /* logits, or a Softmax / LogSoftmax head */
    struct ti__ox_cls *cls;
};

/* An operator: its ONNX name, the attributes it knows, and two functions. compile checks
 * the node (inputs, attributes, constants) at load time and fills the step; run computes
 * the node on the tape. Both return NULL-free statuses with messages naming the node. */
typedef struct ti__ox_op {
    const char *name;
    const char *attrs;      /* known attribute names, space-separated */
    int min_in, max_in, max_out;
    ti_status (*compile)(ti_onnx *g, ti__ox_step *s);
    ti_status (*run)(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training);
} ti__ox_op;

/* The table (onnx_ops.c, which asks onnx_ops_act.c's for the activations and softmax
 * heads); NULL if op_type is not supported. */
const ti__ox_op *ti__ox_find_op(const char *op_type);
const ti__ox_op *ti__ox_find_op_act(const char *op_type);

/* Helpers of the operators (onnx_ops.c). Float input i at run time (an activation or a
 * constant); NULL after an error, which goes into *st (if *st is still TI_OK). */
ti_tensor *ti__ox_fin(ti_onnx *g, const ti__ox_step *s, int i, ti_status *st);
/* Stores the node's output (a NULL y has put the error in the tape); returns TI_OK. */
ti_status ti__ox_set_out(ti_onnx *g, const ti__ox_step *s, ti_tensor *y);
/* An int or float attribute of s's node, or dflt when absent. */
int64_t ti__ox_attr_i(const ti__ox_step *s, const char *name, int64_t dflt);
float ti__ox_attr_f(const ti__ox_step *s, const char *name, float dflt);

/* Rewrites the exporters' multi-node forms of SiLU and GELU into one thinice op each
 * (onnx_fuse.c); runs after every step has compiled. */
void ti__ox_fuse(ti_onnx *g);
/* "node 'name' (Op)" or "node #i (Op, output 'y')" into buf; returns buf. */
const char *ti__ox_node_label(const ti__ox_step *s, char *buf, size_t len);
/* Records an error about node s: "<file>: node 'x' (Conv): <message>". */
ti_status ti__ox_fail(ti_onnx *g, const ti__ox_step *s, ti_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The attribute called name on s's node, or NULL. */
const ti__ox_attr *ti__ox_attr_get(const ti__ox_step *s, const char *name);
/* Gives a float constant a role (and so a ti_param entry with that kind); a constant that
 * already has a different role is an error. */
ti_status ti__ox_set_role(ti_onnx *g, const ti__ox_step *s, int v, ti_param_kind kind);

/* Makes value v a float constant of the given shape in the constant block and returns its
 * data (to fill), or NULL with an error naming the node. */
float *ti__ox_const_floats(ti_onnx *g, const ti__ox_step *s, int v, int ndim, const int *shape);
/* Makes value v the constant t holds (float, or a small integer vector). */
ti_status ti__ox_const_tensor(ti_onnx *g, int v, const ti__ox_tensor *t);

/* Zero padding (or any constant) of the last two dimensions of x (N, C, H, W) by
 * top/left/bottom/right, differentiable in x. NULL with a sticky error on failure. */
ti_tensor *ti__ox_pad2d(ti_tape *tape, ti_tensor *x, int top, int left, int bottom, int right,
                    float value);

/* The classifier view's cleanup (onnx_classifier.c). */
struct ti__ox_cls;
void ti__ox_cls_free(struct ti__ox_cls *c);

#endif
