/* Shared by every app: the model named by `--model NAME --weights FILE`, built for the input
 * shape of the data set it will see and loaded from a safetensors checkpoint, with errors
 * that name the file and say what does not fit (architecture, input shape, classes). */
#ifndef THINICE_APP_MODEL_H
#define THINICE_APP_MODEL_H

#include "thinice/data.h"
#include "thinice/model.h"

/* The architectures as one string for --help and messages: "smallcnn, vgg16_bn, ...". */
const char *app_model_names(void);
/* 1 if `name` is an architecture of the zoo. */
int app_model_known(const char *name);

/* Builds architecture `name` for inputs C x H x W and M classes and loads `weights` into it.
 * Before building, the checkpoint's metadata (written by ti_model_save) is compared with the
 * request: a file saved for another architecture, input shape or class count is refused with
 * a message naming the file, what it holds and what was asked; a per-channel normalisation
 * stored in the file ("normalize" metadata) is restored into the model. Files without
 * metadata (converted from PyTorch) are loaded as they are, and ti_model_load reports keys or
 * shapes that do not fit. weights NULL builds the model with fresh random weights.
 * On failure *out is NULL and ctx holds the message. The model keeps ctx (see ti_model_new). */
ti_status app_model_open(ti_ctx *ctx, const char *name, const char *weights, int C, int H,
                         int W, int M, ti_model **out);

/* The same with the shape and classes of data set d ("a Fashion-MNIST model given CIFAR-10
 * data" is caught here). */
ti_status app_model_open_for(ti_ctx *ctx, const char *name, const char *weights,
                             const ti_dataset *d, ti_model **out);

#endif
