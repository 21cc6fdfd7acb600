/* ONNX import: a CNN exported from PyTorch, TensorFlow or a benchmark suite, read into a
 * differentiable graph of thinice ops, so that every attack runs on it (ti_classifier) and
 * its weights can be inspected, trained or pruned (ti_param). See docs/onnx.md for the
 * supported operators (opsets 9 to 17) and an example.
 *
 * The file is decoded by a small protobuf wire-format reader (no protobuf library). A
 * malformed file, an unsupported operator or attribute, or shapes that do not fit are a status
 * with a message naming the file, the node, the operator and the problem; never a crash. */
#ifndef THINICE_ONNX_H
#define THINICE_ONNX_H

#include "thinice/classifier.h"
#include "thinice/model.h"
#include "thinice/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ti_onnx ti_onnx;

/* What the graph's output holds. Attacks want logits. A model exported with its Softmax gives
 * probabilities, whose gradients shrink and underflow to zero wherever the softmax saturates
 * (confidently classified points): gradient attacks on them are weaker and can overstate
 * robustness, a classic evaluation mistake (docs/onnx.md measures it). Log-probabilities (a LogSoftmax head) differ from the logits by one
 * constant per sample, which argmax, cross-entropy, DLR and margin losses do not see: attacks
 * on them are as strong as on the logits. */
typedef enum ti_onnx_output {
    TI_ONNX_LOGITS = 0,
    TI_ONNX_PROBS,     /* the output is computed by a Softmax */
    TI_ONNX_LOG_PROBS, /* by a LogSoftmax */
    TI_ONNX_OUTPUT_COUNT
} ti_onnx_output;

/* Loads an ONNX classifier: one image input (N, C, H, W) with fixed C, H, W (the batch may be
 * symbolic) and one output (N, M) of logits (or probabilities: see ti_onnx_output_kind). The
 * graph is checked by a forward pass of one zero image at load time, so shape mismatches are
 * found here. `path` may carry the prefix "onnx:" (ti_onnx_spec_path). The model keeps ctx
 * (borrowed: it must outlive the model). */
ti_status ti_onnx_load(ti_ctx *ctx, const char *path, ti_onnx **out);
/* The same from bytes in memory (copied); `name` is used in messages. */
ti_status ti_onnx_load_buffer(ti_ctx *ctx, const void *data, size_t len, const char *name,
                              ti_onnx **out);
void ti_onnx_free(ti_onnx *g);

/* True for "onnx:FILE" and for a file name ending in ".onnx": how apps recognise an ONNX
 * model given to --model. */
int ti_onnx_is_spec(const char *spec);
/* The file name of a spec: spec without its "onnx:" prefix (a pointer into spec). */
const char *ti_onnx_spec_path(const char *spec);

/* Input shape (C, H, W) and number of classes M. */
void ti_onnx_shape(const ti_onnx *g, int *C, int *H, int *W, int *M);
/* The default-domain opset the file imports, and its producer ("pytorch", ...; "" if none). */
int ti_onnx_opset(const ti_onnx *g);
const char *ti_onnx_producer(const ti_onnx *g);
/* Number of operator nodes in the graph. */
int ti_onnx_nodes(const ti_onnx *g);
/* Whether the output is logits or comes out of a Softmax / LogSoftmax at the end (reached
 * through shape-only nodes such as Flatten or Identity). The model is kept as the file has it;
 * loading a TI_ONNX_PROBS model logs a warning (level 1) through the context, and an
 * evaluation should report it (docs/onnx.md, "Softmax at the end"). */
ti_onnx_output ti_onnx_output_kind(const ti_onnx *g);
/* A fixed name: "logits", "probabilities", "log-probabilities". */
const char *ti_onnx_output_name(ti_onnx_output kind);

/* The forward pass on a tape: x (N, C, H, W) -> logits (N, M). training != 0 runs batch norm
 * with batch statistics and updates its running statistics (PyTorch's momentum convention,
 * 1 - the file's momentum); 0 is evaluation mode. NULL with the tape's sticky error on
 * failure (the message names the node). */
ti_tensor *ti_onnx_forward(ti_onnx *g, ti_tape *tape, ti_tensor *x, int training);

/* The initializers that play a role a training or pruning method cares about, as ti_params
 * named like the initializers (PyTorch exports keep the state_dict keys): conv, Gemm and
 * MatMul weights (TI_PARAM_WEIGHT, shape (K, C, KH, KW), (K, C / groups, KH, KW) for a
 * grouped or depthwise conv, or (K, C): a MatMul or a transB = 0 Gemm weight is stored
 * transposed), their biases, and the four batch-norm tensors. Other constants
 * (normalisation means, reshape shapes) are not listed. Borrowed; valid while g lives. */
int ti_onnx_nparams(const ti_onnx *g);
ti_param *ti_onnx_param(ti_onnx *g, int i);
ti_param *ti_onnx_find(ti_onnx *g, const char *name);
/* Whether trainable params ask the tape for gradients. Off after loading (an imported model
 * is usually attacked, not trained); turning it on allocates the gradient block (zeroed). */
ti_status ti_onnx_set_requires_grad(ti_onnx *g, int on);

/* A classifier view for attacks: evaluation mode, no parameter gradients, batches of at most
 * `batch` samples on a tape kept between calls. Valid while g lives (one per model: a second
 * call replaces the first). */
ti_status ti_onnx_classifier(ti_onnx *g, int batch, ti_classifier *out);

#ifdef __cplusplus
}
#endif
#endif
