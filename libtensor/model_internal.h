/* What the model files share (model.c, model_io.c, model_classifier.c, arch_*.c): the model
 * struct, parameter registration with its initialisation rule, and the layer helpers every
 * architecture builds its forward pass from. Not installed. */
#ifndef THINICE_MODEL_INTERNAL_H
#define THINICE_MODEL_INTERNAL_H

#include "internal.h"
#include "thinice/model.h"
#include "thinice/ops.h"

/* BatchNorm constants of PyTorch's defaults (docs/pruning.md#conventions). */
#define MI_BN_MOMENTUM 0.1f
#define MI_BN_EPS 1e-5f

/* How a parameter is initialised when the model is created (docs/models.md#initialisation). */
typedef enum ti__mi_init_kind {
    MI_INIT_CONST = 0, /* every element = a */
    MI_INIT_UNIFORM,   /* U(-a, a): PyTorch's default conv/linear weight and bias */
    MI_INIT_NORMAL,    /* N(0, a^2): HYDRA's Kaiming-normal convs and N(0, 0.01^2) linears */
} ti__mi_init_kind;

typedef struct ti__mi_init {
    ti__mi_init_kind kind;
    float a;
} ti__mi_init;

/* Layers hold indices into the model's parameter table (the table may move while it grows). */
typedef struct ti__mi_conv {
    int w, b;                    /* b = -1: no bias */
    int C, K, k, stride, pad;
    int slot;                    /* the layer's entry in the sparse table (model_sparse.c) */
} ti__mi_conv;

typedef struct ti__mi_bn {
    int w, b, mean, var, count;
    int C;
} ti__mi_bn;

typedef struct ti__mi_linear {
    int w, b;                    /* b = -1: no bias */
    int C, K;
    int slot;                    /* the layer's entry in the sparse table (model_sparse.c) */
} ti__mi_linear;

/* An architecture: build registers the parameters in state_dict order (and sets m->net,
 * m->macs); forward maps the (already padded and normalised) input to logits. */
typedef struct ti__mi_arch {
    const char *name;
    ti_status (*build)(ti_model *m);
    ti_tensor *(*forward)(ti_model *m, ti_tape *tape, ti_tensor *x, int training);
} ti__mi_arch;

extern const ti__mi_arch ti__mi_arch_smallcnn, ti__mi_arch_vgg16_bn, ti__mi_arch_vgg16_admm, ti__mi_arch_resnet18,
    ti__mi_arch_resnet34, ti__mi_arch_wrn_28_4, ti__mi_arch_wrn_28_10;

typedef struct ti__mi_pinfo {
    ti__mi_init init;
    size_t off;                  /* offset in the parameter or buffer block */
} ti__mi_pinfo;

struct ti__mi_cls;    /* the classifier view's state (model_classifier.c) */
struct ti__mi_sparse; /* the layers' sparse forms (model_sparse.c) */
struct ti__mi_fold;   /* the layers' folded batch norms (model_fold.c) */
struct ti__sp_conv;   /* one layer's compressed weight (sparse_internal.h) */

struct ti_model {
    ti_ctx *ctx;
    const ti__mi_arch *arch;
    ti_model_config cfg;
    ti_param *p;                 /* (np) parameters and buffers in state_dict order */
    ti__mi_pinfo *info;              /* (np) */
    int np, cap;
    float *pblock, *gblock;      /* trainable values and their gradients (npf) */
    float *bblock;               /* buffers (nbf) */
    size_t npf, nbf;
    size_t macs;                 /* conv + linear multiply-adds per sample */
    int requires_grad;
    ti_weight_fn wfn;
    void *wuser;
    void *net;                   /* the architecture's layer table (malloc'd, freed by free()) */
    int pad;                     /* zero padding added around the input before anything else */
    ti_tensor pad_w;             /* identity 1x1 conv (C, C, 1, 1) that does the padding */
    float *pad_wdata;
    struct ti__mi_cls *cls;
    /* sparse execution (model_sparse.c) */
    ti_sparse_mode sparse_mode;
    int nslots;                  /* conv and linear layers registered */
    unsigned long wgen;          /* weight generation: bumped by anything that may change a
                                    weight, BN statistic or bias; sparse forms built for an
                                    older one are rebuilt */
    int eval_pass;               /* set by ti_model_forward: this pass is in evaluation mode */
    struct ti__mi_sparse *sp;
    struct ti__mi_fold *fold;
};

/* The weights may have changed: sparse forms are decided and built again when next used. */
static inline void ti__mi_weights_touched(ti_model *m)
{
    m->wgen++;
}
/* The layer's compressed weight when this forward should run it sparse (evaluation, no
 * weight hook, no gradient wanted for its parameters, the mode and the measured rule say
 * so), built or rebuilt on the way; NULL: run it dense. bn may be NULL (a plain conv); with
 * one, the batch norm is folded in as the dense path folds it. */
struct ti__sp_conv *ti__mi_sparse_conv(ti_model *m, ti_tape *tape, const ti__mi_conv *c,
                                       const ti__mi_bn *bn);
struct ti__sp_conv *ti__mi_sparse_linear(ti_model *m, ti_tape *tape, const ti__mi_linear *l);
void ti__mi_sparse_free(struct ti__mi_sparse *sp);
/* Does no layer run sparse, with every layer decided for the current weights (or the mode
 * off)? Only then may several threads run the model's evaluation forward at once: deciding
 * builds a layer's sparse form, and a sparse layer lays out its grids per batch, in the
 * model. */
int ti__mi_sparse_idle(const ti_model *m);
/* Is every layer decided for the current weights (or the mode off)? */
int ti__mi_sparse_decided(const ti_model *m);

/* Registers a parameter or buffer; returns its index, or -1 (error in ctx) when out of
 * memory or when the name does not fit. */
int ti__mi_add(ti_model *m, const char *prefix, const char *suffix, ti_param_kind kind, int ndim,
           const int *shape, ti__mi_init init);

/* Layer registration. *H, *W are the input map size and become the output's; the layer's
 * multiply-adds are added to m->macs. An empty output map is TI_ERR_SHAPE naming the layer. */
ti_status ti__mi_conv_add(ti_model *m, ti__mi_conv *c, const char *prefix, int C, int K, int k,
                      int stride, int pad, int bias, ti__mi_init winit, int *H, int *W);
ti_status ti__mi_bn_add(ti_model *m, ti__mi_bn *bn, const char *prefix, int C);
ti_status ti__mi_linear_add(ti_model *m, ti__mi_linear *l, const char *prefix, int C, int K,
                        ti__mi_init winit, ti__mi_init binit);
/* Max pool 2x2 stride 2 on an *H x *W map (checks that the output is not empty). */
ti_status ti__mi_pool_check(ti_model *m, const char *where, int *H, int *W);

/* PyTorch's default init for a conv/linear with this fan-in: U(-1/sqrt(fan_in), ..). */
ti__mi_init ti__mi_init_torch(int fan_in);

/* Layer forwards: weights go through the model's weight hook when one is set. */
ti_tensor *ti__mi_conv_fwd(ti_model *m, ti_tape *tape, const ti__mi_conv *c, ti_tensor *x);
ti_tensor *ti__mi_bn_fwd(ti_model *m, ti_tape *tape, const ti__mi_bn *bn, ti_tensor *x, int training);
ti_tensor *ti__mi_linear_fwd(ti_model *m, ti_tape *tape, const ti__mi_linear *l, ti_tensor *x);
/* ReLU(BN(x)) in one fused pass (batchnorm.c), counting the batch like ti__mi_bn_fwd. */
ti_tensor *ti__mi_bn_relu_fwd(ti_model *m, ti_tape *tape, const ti__mi_bn *bn, ti_tensor *x,
                          int training);
/* BN(conv(x)), followed by ReLU when relu != 0. In evaluation mode, when no gradient can
 * reach the weight or the BN parameters, the BN is folded into the convolution's weight and
 * bias (w' = w gamma / sqrt(var + eps), b' = beta + (b - mean) gamma / sqrt(var + eps)) and
 * the ReLU runs in place: one convolution and one pass instead of three passes. Otherwise
 * conv, then BN (+ ReLU fused). */
ti_tensor *ti__mi_conv_bn_fwd(ti_model *m, ti_tape *tape, const ti__mi_conv *c, const ti__mi_bn *bn,
                          ti_tensor *x, int training, int relu);

/* vgg16_admm's five max-pools empty any map smaller than 32: the model zero-pads the input by
 * this many pixels on each side first, 28 -> 32 (docs/models.md#other-input-sizes). */
static inline int ti__mi_vgg_admm_pad(int H, int W)
{
    int small = H < W ? H : W;
    return small < 32 ? (32 - small + 1) / 2 : 0;
}

/* Batch norm bn folded into output channel k of conv c (model_fold.c): *scale = gamma /
 * sqrt(var + eps), *bias = beta + (b - mean) *scale (b: the conv's bias, 0 without one); 0
 * when var + eps is not > 0, else 1. The dense and the sparse paths both fold with it. */
int ti__mi_fold_channel(const ti_model *m, const ti__mi_conv *c, const ti__mi_bn *bn, int k,
                        double *scale, float *bias);
/* Batch norm folded into conv c: wf = w scale (w: c's K x C KH KW weight values), bf the
 * folded bias. 0 when a running variance makes it impossible (wf and bf then partly
 * written), else 1. */
int ti__mi_fold_values(const ti_model *m, const ti__mi_conv *c, const ti__mi_bn *bn,
                       const float *w, float *wf, float *bf);
/* The folded weight and bias of conv c and bn kept in the model for its current weights
 * (model_fold.c), made on the way when the weights changed: 1 with *wf and *bf set; 0 when
 * folding is impossible; -1 when the model does not keep them (a weight hook, out of
 * memory: fold on the tape instead). */
int ti__mi_fold_get(ti_model *m, const ti__mi_conv *c, const ti__mi_bn *bn, ti_tensor **wf,
                    ti_tensor **bf);
/* After an evaluation pass without recording: every layer's fold is current, so passes on
 * several threads only read them (ti__mi_fold_ready) until the weights change. */
void ti__mi_fold_mark_ready(ti_model *m);
int ti__mi_fold_ready(const ti_model *m);
void ti__mi_fold_free(struct ti__mi_fold *f);

/* The classifier view's cleanup (model_classifier.c), called by ti_model_free. */
void ti__mi_cls_free(struct ti__mi_cls *c);

#endif
