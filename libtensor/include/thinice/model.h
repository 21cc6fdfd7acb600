/* thinice models: the paper's CIFAR model zoo and the small CNN, with PyTorch state_dict
 * names so that weights move both ways through safetensors (see docs/models.md).
 *
 * A model owns three blocks of floats: trainable parameters, their gradients, and buffers
 * (batch-norm running statistics). Each ti_param is a view into them, in the order of the
 * PyTorch state_dict, so a whole-model loop (zero the gradients, apply masks, save) is one
 * loop over ti_model_param(m, i). */
#ifndef THINICE_MODEL_H
#define THINICE_MODEL_H

#include "thinice/classifier.h"
#include "thinice/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ti_param_kind {
    TI_PARAM_WEIGHT = 0, /* conv or linear weight: the prunable kind */
    TI_PARAM_BIAS,       /* conv or linear bias */
    TI_PARAM_BN_WEIGHT,  /* batch-norm gamma */
    TI_PARAM_BN_BIAS,    /* batch-norm beta */
    TI_PARAM_BN_MEAN,    /* buffer: running mean */
    TI_PARAM_BN_VAR,     /* buffer: running variance */
    TI_PARAM_BN_COUNT,   /* buffer: num_batches_tracked (int64 in files, one float here) */
    TI_PARAM_KIND_COUNT
} ti_param_kind;

/* True for the kinds that are trained (have gradients); false for buffers. */
int ti_param_kind_trainable(ti_param_kind k);

typedef struct ti_param {
    char name[96];      /* the PyTorch state_dict key, e.g. "layer1.0.conv1.weight" */
    ti_param_kind kind;
    ti_tensor t;        /* view: data in the parameter (or buffer) block, grad in the gradient
                           block for trainable kinds (NULL for buffers) */
    float *mask;        /* TI_PARAM_WEIGHT only: NULL (dense) or (t.size) floats of 0/1, owned
                           by the model once set with ti_model_set_mask */
} ti_param;

typedef struct ti_model_config {
    int C, H, W;        /* input shape: 3x32x32 for CIFAR-10, 1x28x28 for Fashion-MNIST */
    int M;              /* classes */
    int normalize;      /* non-zero: a per-channel (x - mean) / std layer first */
    float mean[4], std[4];
} ti_model_config;

typedef struct ti_model ti_model;

/* Names of the architectures ti_model_new accepts ("smallcnn", "vgg16_bn", "vgg16_admm",
 * "resnet18", "resnet34", "wrn_28_4", "wrn_28_10"); NULL-terminated, static. */
const char *const *ti_model_arch_names(void);
/* A new model of architecture `arch`, initialised as PyTorch's reference code does, with
 * random numbers from ctx's generator. The model keeps ctx (borrowed; it must outlive m). */
ti_status ti_model_new(ti_ctx *ctx, const char *arch, const ti_model_config *cfg,
                       ti_model **out);
void ti_model_free(ti_model *m);
const char *ti_model_arch(const ti_model *m);
const ti_model_config *ti_model_get_config(const ti_model *m);
ti_ctx *ti_model_ctx(const ti_model *m);

int ti_model_nparams(const ti_model *m);         /* parameters and buffers, in state_dict order */
ti_param *ti_model_param(ti_model *m, int i);    /* borrowed; valid while m lives */
ti_param *ti_model_find(ti_model *m, const char *name); /* NULL if absent */
size_t ti_model_count_trainable(const ti_model *m); /* e.g. 11,173,962 for ResNet-18 */
size_t ti_model_macs(const ti_model *m);          /* conv + linear multiply-adds per sample */

/* The forward pass: x (N, C, H, W) in [0,1] -> logits (N, M). training != 0 uses batch
 * statistics in batch norm and updates the running ones; 0 is evaluation mode. */
ti_tensor *ti_model_forward(ti_model *m, ti_tape *tape, ti_tensor *x, int training);

/* Whether trainable parameters ask the tape for gradients (on by default). Attacks turn it
 * off so that backward computes the input gradient only. */
void ti_model_set_requires_grad(ti_model *m, int on);
void ti_model_zero_grad(ti_model *m);

/* Masks: sets (copies) the 0/1 mask of a TI_PARAM_WEIGHT and zeroes the masked weights;
 * mask NULL removes it. The optimizer keeps masked weights at exactly zero. */
ti_status ti_model_set_mask(ti_model *m, ti_param *p, const float *mask);
/* Fraction of exact zeros over all conv and linear weights (the project's sparsity). */
double ti_model_sparsity(const ti_model *m);

/* A 64-bit fingerprint of every parameter, buffer and mask (FNV-1a's step over 64-bit
 * words): a model's identity (checkpoint fingerprints; the check after every step that the
 * processes of a data-parallel run agree, about 10 ms for ResNet-18's 11M parameters). */
uint64_t ti_model_hash(ti_model *m);

/* A data-parallel run's batch-norm running statistics (means and variances) averaged over
 * the processes of r, so that every process keeps the same model: each updates them from
 * its own share of the batch (no synchronised batch norm). */
ti_status ti_model_average_stats(ti_model *m, const ti_reducer *r);

/* Weight hook: when set, the forward pass asks fn for the weight tensor it should use for
 * each TI_PARAM_WEIGHT (HYDRA's score-masked weights go through here). NULL restores the
 * plain weights. */
typedef ti_tensor *(*ti_weight_fn)(void *user, ti_tape *tape, ti_param *w);
void ti_model_set_weight_fn(ti_model *m, ti_weight_fn fn, void *user);

/* Loads a safetensors checkpoint holding a PyTorch state_dict of this architecture: every
 * expected key must be present with the right shape; unknown keys are reported through the
 * context's log (HYDRA's popup_scores) and ignored. Masks stored as "<weight>_mask" keys are
 * loaded. Errors name the file, the key and the problem. */
ti_status ti_model_load(ti_model *m, const char *path);
/* Writes the state_dict (and masks as BOOL "<weight>_mask" tensors) atomically, with metadata naming the
 * architecture and input shape. */
ti_status ti_model_save(const ti_model *m, const char *path);

/* ---- sparse execution ----------------------------------------------------------------------
 * A pruned model's zero weights cost nothing when its layers run as sparse x dense products
 * (docs/sparse.md): each conv and linear layer is kept a second time in compressed form
 * (its nonzeros, with batch norm folded in) and evaluation forwards that need no gradient for
 * the layer's parameters (attacks, the classifier view, evaluation) run it through the
 * sparse kernel; the input gradient runs through its transpose. Results agree with the
 * dense path to rounding (about 1e-6 relative).
 * TI_SPARSE_AUTO (the default) runs a layer sparse when its fraction of nonzero weights is
 * below the measured break-even point of its shape (docs/PERFORMANCE.md, "Sparse models"),
 * TI_SPARSE_ON runs every layer sparse, TI_SPARSE_OFF none. Training forwards and forwards
 * that record weight gradients always run dense. */
typedef enum ti_sparse_mode {
    TI_SPARSE_AUTO = 0,
    TI_SPARSE_ON,
    TI_SPARSE_OFF,
    TI_SPARSE_MODE_COUNT
} ti_sparse_mode;

/* "auto", "on", "off" (the apps' --sparse) to a mode: TI_ERR_ARG, without a message, for
 * anything else; and back (a static string). */
ti_status ti_sparse_mode_parse(const char *s, ti_sparse_mode *out);
const char *ti_sparse_mode_name(ti_sparse_mode mode);
/* Sets the model's mode (TI_ERR_ARG for a value outside the enum); the default is AUTO. */
ti_status ti_model_set_sparse(ti_model *m, ti_sparse_mode mode);
ti_sparse_mode ti_model_get_sparse(const ti_model *m);
/* The compressed forms, and the convolution weights with batch norm folded in that dense
 * evaluation forwards use, are built on the first evaluation forward that uses them and rebuilt
 * after anything that may have changed the weights: ti_model_load, ti_model_set_mask, a
 * forward in training mode or one that records weight gradients, an SGD step of an optimizer
 * set up with ti_sgd_add_model, and handing out a parameter (ti_model_param, ti_model_find).
 * Code that writes parameter data through a pointer it kept from earlier must call this
 * afterwards. */
void ti_model_weights_changed(ti_model *m);
/* After an evaluation forward: how many conv and linear layers ran sparse, out of how many. */
void ti_model_sparse_layers(const ti_model *m, int *sparse, int *total);

/* A classifier view of the model for attacks: evaluation mode, no parameter gradients,
 * batches of at most `batch` samples, with its own tape kept alive between calls. The view
 * stays valid while m lives (one per model; a second call replaces the first). */
ti_status ti_model_classifier(ti_model *m, int batch, ti_classifier *out);

#ifdef __cplusplus
}
#endif
#endif
