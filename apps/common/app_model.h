/* Shared by every app: the model named by `--model NAME --weights FILE`, built for the input
 * shape of the data set it will see and loaded from a safetensors checkpoint, or an ONNX model
 * (`--model onnx:FILE`, thinice-attack only), with errors that name the file and say what does
 * not fit (architecture, input shape, classes). */
#ifndef THINICE_APP_MODEL_H
#define THINICE_APP_MODEL_H

#include "thinice/data.h"
#include "thinice/model.h"
#include "thinice/onnx.h"

/* The architectures as one string for --help and messages: "smallcnn, vgg16_bn, ...". */
const char *app_model_names(void);
/* 1 if `name` is an architecture of the zoo. */
int app_model_known(const char *name);

/* Builds architecture `name` for inputs C x H x W and M classes and loads `weights` into it.
 * Before building, the checkpoint's metadata (written by ti_model_save) is compared with the
 * request: a file saved for another architecture, input shape or class count is refused with
 * a message naming the file, what it holds and what was asked; a per-channel normalisation
 * stored in the file ("normalize" metadata as ti_model_save writes it, or "mean" and "std"
 * lists as a converter writes them) is restored into the model, so that eps applies to the
 * [0,1] pixels. Files without
 * metadata (converted from PyTorch) are loaded as they are, and ti_model_load reports keys or
 * shapes that do not fit. weights NULL builds the model with fresh random weights.
 * An ONNX spec ("onnx:FILE", "FILE.onnx") is refused with TI_ERR_ARG: an imported graph is
 * not a ti_model (APP_MODEL_ONNX_REFUSAL says so); thinice-attack opens it with
 * app_model_open_onnx instead.
 * On failure *out is NULL and ctx holds the message. The model keeps ctx (see ti_model_new). */
ti_status app_model_open(ti_ctx *ctx, const char *name, const char *weights, int C, int H,
                         int W, int M, ti_model **out);

/* The same with the shape and classes of data set d ("a Fashion-MNIST model given CIFAR-10
 * data" is caught here). */
ti_status app_model_open_for(ti_ctx *ctx, const char *name, const char *weights,
                             const ti_dataset *d, ti_model **out);

/* The message of the apps that take a ti_model (train, prune, study) for an ONNX spec. */
#define APP_MODEL_ONNX_REFUSAL                                                                 \
    "ONNX models can be attacked (thinice-attack) but not trained or pruned yet"

/* For an app's option check: if `name` is an ONNX spec, prints "prog: --model NAME: <refusal>"
 * as a usage error and returns APP_EXIT_USAGE (2); otherwise -1 (go on). */
int app_model_refuse_onnx(const char *name);

/* Loads the ONNX model of `spec` ("onnx:FILE" or "FILE.onnx") and checks that its input
 * (C, H, W) and class count fit data set d; a model for another input shape or number of
 * classes is refused with a message naming the file, its shape and the data's. On failure
 * *out is NULL and ctx holds the message (a truncated or malformed file, an unsupported
 * operator: ti_onnx_load's message, which names the file). The model keeps ctx. */
ti_status app_model_open_onnx(ti_ctx *ctx, const char *spec, const ti_dataset *d,
                              ti_onnx **out);

/* A network to evaluate: a zoo model loaded from its checkpoint, or an imported ONNX graph,
 * with its classifier view (batches of at most `batch`). */
typedef struct app_net {
    ti_model *model;  /* NULL for an ONNX graph */
    ti_onnx *onnx;    /* NULL for a zoo model */
    ti_classifier f;
    const char *file; /* the file that holds the weights: the checkpoint or the .onnx */
} app_net;

/* Opens `model` (an architecture with `weights`, or an ONNX spec) for data set d, as
 * app_model_open_for and app_model_open_onnx do, and makes its classifier view. On failure
 * nothing is left open and ctx holds the message. */
ti_status app_net_open(ti_ctx *ctx, const char *model, const char *weights, const ti_dataset *d,
                       int batch, app_net *out);
void app_net_close(app_net *n);
/* Zeros among the conv and linear weights (the project's sparsity) of either kind of model. */
double app_net_sparsity(app_net *n);
/* "smallcnn (w.safetensors)" or "m.onnx (ONNX, opset 17, 23 nodes, producer pytorch)". */
void app_net_describe(const app_net *n, const char *model, char *buf, size_t len);

#endif
