/* The generic part of a model: the architecture table, parameter registration into three
 * blocks (parameters, gradients, buffers) with the references' initialisations
 * (docs/models.md#initialisation),
 * lookup, masks, sparsity, the weight hook and the layer helpers the architectures share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "sparse_internal.h"

static const ti__mi_arch *const archs[] = {&ti__mi_arch_smallcnn, &ti__mi_arch_vgg16_bn,
                                       &ti__mi_arch_vgg16_admm, &ti__mi_arch_resnet18,
                                       &ti__mi_arch_resnet34, &ti__mi_arch_wrn_28_4,
                                       &ti__mi_arch_wrn_28_10};
#define NARCH ((int)(sizeof archs / sizeof archs[0]))

const char *const *ti_model_arch_names(void)
{
    static const char *const names[] = {"smallcnn", "vgg16_bn", "vgg16_admm", "resnet18",
                                        "resnet34", "wrn_28_4", "wrn_28_10", NULL};
    return names;
}

int ti_param_kind_trainable(ti_param_kind k)
{
    return k == TI_PARAM_WEIGHT || k == TI_PARAM_BIAS || k == TI_PARAM_BN_WEIGHT ||
           k == TI_PARAM_BN_BIAS;
}

/* ---- registration ---------------------------------------------------------------------- */

int ti__mi_add(ti_model *m, const char *prefix, const char *suffix, ti_param_kind kind, int ndim,
           const int *shape, ti__mi_init init)
{
    if (m->np == m->cap) {
        int cap = m->cap ? 2 * m->cap : 64;
        ti_param *p = realloc(m->p, (size_t)cap * sizeof *p);
        if (p)
            m->p = p;
        ti__mi_pinfo *in = realloc(m->info, (size_t)cap * sizeof *in);
        if (in)
            m->info = in;
        if (!p || !in) {
            ti_ctx_error(m->ctx, TI_ERR_NOMEM, "model: out of memory registering parameters");
            return -1;
        }
        m->cap = cap;
    }
    ti_param *p = &m->p[m->np];
    memset(p, 0, sizeof *p);
    int len = snprintf(p->name, sizeof p->name, "%s%s%s", prefix, *prefix ? "." : "", suffix);
    if (len < 0 || (size_t)len >= sizeof p->name) {
        ti_ctx_error(m->ctx, TI_ERR_ARG, "model: parameter name '%s.%s' is too long", prefix,
                     suffix);
        return -1;
    }
    p->kind = kind;
    /* data is attached once every parameter is known (finalize); the shape is kept now */
    ti_tensor_view(&p->t, NULL, NULL, ndim, shape);
    m->info[m->np].init = init;
    if (ti_param_kind_trainable(kind)) {
        m->info[m->np].off = m->npf;
        m->npf += p->t.size;
    } else {
        m->info[m->np].off = m->nbf;
        m->nbf += p->t.size;
    }
    return m->np++;
}

ti__mi_init ti__mi_init_torch(int fan_in)
{
    /* kaiming_uniform_(a = sqrt 5): gain sqrt(2 / (1 + 5)), bound gain sqrt(3 / fan_in) */
    return (ti__mi_init){MI_INIT_UNIFORM, (float)(1.0 / sqrt((double)fan_in))};
}

static const ti__mi_init init_zero = {MI_INIT_CONST, 0.0f}, init_one = {MI_INIT_CONST, 1.0f};

ti_status ti__mi_conv_add(ti_model *m, ti__mi_conv *c, const char *prefix, int C, int K, int k,
                      int stride, int pad, int bias, ti__mi_init winit, int *H, int *W)
{
    int OH = (*H + 2 * pad - k) / stride + 1, OW = (*W + 2 * pad - k) / stride + 1;
    if (*H + 2 * pad < k || *W + 2 * pad < k || OH < 1 || OW < 1)
        return ti_ctx_error(m->ctx, TI_ERR_SHAPE,
                            "%s: the input %dx%dx%d is too small: layer %s gets a %dx%d map "
                            "(kernel %d, padding %d)",
                            m->arch->name, m->cfg.C, m->cfg.H, m->cfg.W, prefix, *H, *W, k, pad);
    int ws[4] = {K, C, k, k};
    *c = (ti__mi_conv){.C = C, .K = K, .k = k, .stride = stride, .pad = pad, .b = -1,
                       .slot = m->nslots++};
    c->w = ti__mi_add(m, prefix, "weight", TI_PARAM_WEIGHT, 4, ws, winit);
    if (c->w < 0)
        return TI_ERR_NOMEM;
    if (bias) {
        c->b = ti__mi_add(m, prefix, "bias", TI_PARAM_BIAS, 1, &K, ti__mi_init_torch(C * k * k));
        if (c->b < 0)
            return TI_ERR_NOMEM;
    }
    m->macs += (size_t)K * C * k * k * OH * OW;
    *H = OH;
    *W = OW;
    return TI_OK;
}

ti_status ti__mi_bn_add(ti_model *m, ti__mi_bn *bn, const char *prefix, int C)
{
    bn->C = C;
    bn->w = ti__mi_add(m, prefix, "weight", TI_PARAM_BN_WEIGHT, 1, &C, init_one);
    bn->b = ti__mi_add(m, prefix, "bias", TI_PARAM_BN_BIAS, 1, &C, init_zero);
    bn->mean = ti__mi_add(m, prefix, "running_mean", TI_PARAM_BN_MEAN, 1, &C, init_zero);
    bn->var = ti__mi_add(m, prefix, "running_var", TI_PARAM_BN_VAR, 1, &C, init_one);
    bn->count = ti__mi_add(m, prefix, "num_batches_tracked", TI_PARAM_BN_COUNT, 0, NULL, init_zero);
    if (bn->w < 0 || bn->b < 0 || bn->mean < 0 || bn->var < 0 || bn->count < 0)
        return TI_ERR_NOMEM;
    return TI_OK;
}

ti_status ti__mi_linear_add(ti_model *m, ti__mi_linear *l, const char *prefix, int C, int K,
                        ti__mi_init winit, ti__mi_init binit)
{
    int ws[2] = {K, C};
    *l = (ti__mi_linear){.C = C, .K = K, .slot = m->nslots++};
    l->w = ti__mi_add(m, prefix, "weight", TI_PARAM_WEIGHT, 2, ws, winit);
    l->b = ti__mi_add(m, prefix, "bias", TI_PARAM_BIAS, 1, &K, binit);
    if (l->w < 0 || l->b < 0)
        return TI_ERR_NOMEM;
    m->macs += (size_t)K * C;
    return TI_OK;
}

ti_status ti__mi_pool_check(ti_model *m, const char *where, int *H, int *W)
{
    if (*H < 2 || *W < 2)
        return ti_ctx_error(m->ctx, TI_ERR_SHAPE,
                            "%s: the input %dx%dx%d is too small: the max-pool after %s gets a "
                            "%dx%d map",
                            m->arch->name, m->cfg.C, m->cfg.H, m->cfg.W, where, *H, *W);
    *H /= 2;
    *W /= 2;
    return TI_OK;
}

/* Allocates the three blocks, points every parameter at its slice and initialises it in
 * state_dict order from the context's generator. */
static ti_status finalize(ti_model *m)
{
    m->pblock = ti_calloc((m->npf ? m->npf : 1) * sizeof(float));
    m->gblock = ti_calloc((m->npf ? m->npf : 1) * sizeof(float));
    m->bblock = ti_calloc((m->nbf ? m->nbf : 1) * sizeof(float));
    if (!m->pblock || !m->gblock || !m->bblock)
        return ti_ctx_error(m->ctx, TI_ERR_NOMEM,
                            "%s: out of memory for %zu parameters and %zu buffer values",
                            m->arch->name, m->npf, m->nbf);
    ti_rng *r = ti_ctx_rng(m->ctx);
    for (int i = 0; i < m->np; i++) {
        ti_param *p = &m->p[i];
        int train = ti_param_kind_trainable(p->kind);
        float *d = (train ? m->pblock : m->bblock) + m->info[i].off;
        int ndim = p->t.ndim, shape[TI_MAX_DIMS];
        memcpy(shape, p->t.shape, sizeof shape); /* the view below clears p->t first */
        ti_tensor_view(&p->t, d, train ? m->gblock + m->info[i].off : NULL, ndim, shape);
        p->t.requires_grad = train;
        ti__mi_init in = m->info[i].init;
        for (size_t j = 0; j < p->t.size; j++)
            d[j] = in.kind == MI_INIT_CONST     ? in.a
                   : in.kind == MI_INIT_UNIFORM ? ti_rng_uniform(r, -in.a, in.a)
                                                : in.a * ti_rng_normal(r);
    }
    return TI_OK;
}

/* vgg16_admm's five pools empty a map smaller than 32: pad the image with zeros first
 * (docs/models.md#other-input-sizes) by a 1x1 identity convolution with padding, which keeps the input
 * gradient exact and needs no extra op. */
static ti_status setup_pad(ti_model *m, int pad)
{
    int C = m->cfg.C, s[4] = {C, C, 1, 1};
    m->pad = pad;
    m->pad_wdata = ti_calloc((size_t)C * C * sizeof(float));
    if (!m->pad_wdata)
        return ti_ctx_error(m->ctx, TI_ERR_NOMEM, "model: out of memory");
    for (int c = 0; c < C; c++)
        m->pad_wdata[c * C + c] = 1.0f;
    ti_tensor_view(&m->pad_w, m->pad_wdata, NULL, 4, s);
    return TI_OK;
}

static ti_status check_config(ti_ctx *ctx, const char *arch, const ti_model_config *c)
{
    if (c->C < 1 || c->C > 4 || c->H < 1 || c->W < 1 || c->M < 2)
        return ti_ctx_error(ctx, TI_ERR_ARG,
                            "model %s: bad configuration: input %dx%dx%d with %d classes "
                            "(need 1 to 4 channels, sizes >= 1, at least 2 classes)",
                            arch, c->C, c->H, c->W, c->M);
    if (c->normalize)
        for (int i = 0; i < c->C; i++)
            if (!(c->std[i] > 0.0f) || !isfinite(c->std[i]) || !isfinite(c->mean[i]))
                return ti_ctx_error(ctx, TI_ERR_ARG,
                                    "model %s: normalization channel %d has mean %g, std %g "
                                    "(std must be finite and > 0)",
                                    arch, i, c->mean[i], c->std[i]);
    return TI_OK;
}

ti_status ti_model_new(ti_ctx *ctx, const char *arch, const ti_model_config *cfg,
                       ti_model **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !arch || !cfg || !out)
        return ti_ctx_error(ctx, TI_ERR_ARG, "ti_model_new: NULL argument");
    const ti__mi_arch *a = NULL;
    for (int i = 0; i < NARCH; i++)
        if (strcmp(archs[i]->name, arch) == 0)
            a = archs[i];
    if (!a) {
        char list[256] = "";
        for (int i = 0; i < NARCH; i++) {
            strcat(list, i ? ", " : "");
            strcat(list, archs[i]->name);
        }
        return ti_ctx_error(ctx, TI_ERR_ARG, "unknown architecture '%s' (valid names: %s)", arch,
                            list);
    }
    ti_status s = check_config(ctx, arch, cfg);
    if (s != TI_OK)
        return s;
    ti_model *m = calloc(1, sizeof *m);
    if (!m)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "model: out of memory");
    m->ctx = ctx;
    m->arch = a;
    m->cfg = *cfg;
    m->requires_grad = 1;
    m->wgen = 1; /* sparse entries start at generation 0: not decided yet */
    s = a->build(m);
    if (s == TI_OK)
        s = finalize(m);
    if (s == TI_OK && a == &ti__mi_arch_vgg16_admm && ti__mi_vgg_admm_pad(cfg->H, cfg->W) > 0)
        s = setup_pad(m, ti__mi_vgg_admm_pad(cfg->H, cfg->W));
    if (s != TI_OK) {
        ti_model_free(m);
        return s;
    }
    *out = m;
    return TI_OK;
}

void ti_model_free(ti_model *m)
{
    if (!m)
        return;
    ti__mi_cls_free(m->cls);
    ti__mi_sparse_free(m->sp);
    ti__mi_fold_free(m->fold);
    for (int i = 0; i < m->np; i++)
        free(m->p[i].mask);
    free(m->p);
    free(m->info);
    ti_free(m->pblock);
    ti_free(m->gblock);
    ti_free(m->bblock);
    ti_free(m->pad_wdata);
    free(m->net);
    free(m);
}

const char *ti_model_arch(const ti_model *m)
{
    return m->arch->name;
}

const ti_model_config *ti_model_get_config(const ti_model *m)
{
    return &m->cfg;
}

ti_ctx *ti_model_ctx(const ti_model *m)
{
    return m->ctx;
}

int ti_model_nparams(const ti_model *m)
{
    return m->np;
}

/* Both hand out a parameter the caller may write: its sparse form may be stale after. */
ti_param *ti_model_param(ti_model *m, int i)
{
    ti__mi_weights_touched(m);
    return i >= 0 && i < m->np ? &m->p[i] : NULL;
}

ti_param *ti_model_find(ti_model *m, const char *name)
{
    ti__mi_weights_touched(m);
    for (int i = 0; i < m->np; i++)
        if (strcmp(m->p[i].name, name) == 0)
            return &m->p[i];
    return NULL;
}

size_t ti_model_count_trainable(const ti_model *m)
{
    return m->npf;
}

size_t ti_model_macs(const ti_model *m)
{
    return m->macs;
}

void ti_model_set_requires_grad(ti_model *m, int on)
{
    m->requires_grad = on != 0;
    for (int i = 0; i < m->np; i++)
        if (ti_param_kind_trainable(m->p[i].kind))
            m->p[i].t.requires_grad = m->requires_grad;
}

void ti_model_zero_grad(ti_model *m)
{
    memset(m->gblock, 0, m->npf * sizeof(float));
}

ti_status ti_model_set_mask(ti_model *m, ti_param *p, const float *mask)
{
    if (!p || p < m->p || p >= m->p + m->np)
        return ti_ctx_error(m->ctx, TI_ERR_ARG, "set_mask: the parameter is not in this model");
    if (p->kind != TI_PARAM_WEIGHT)
        return ti_ctx_error(m->ctx, TI_ERR_ARG,
                            "set_mask: %s is not a conv or linear weight (only those are pruned)",
                            p->name);
    ti__mi_weights_touched(m);
    if (!mask) {
        free(p->mask);
        p->mask = NULL;
        return TI_OK;
    }
    for (size_t j = 0; j < p->t.size; j++)
        if (mask[j] != 0.0f && mask[j] != 1.0f)
            return ti_ctx_error(m->ctx, TI_ERR_ARG,
                                "set_mask: %s: mask element %zu is %g (must be 0 or 1)", p->name,
                                j, mask[j]);
    if (!p->mask) {
        p->mask = malloc(p->t.size * sizeof(float));
        if (!p->mask)
            return ti_ctx_error(m->ctx, TI_ERR_NOMEM, "set_mask: out of memory for %s",
                                p->name);
    }
    memcpy(p->mask, mask, p->t.size * sizeof(float));
    for (size_t j = 0; j < p->t.size; j++)
        if (mask[j] == 0.0f)
            p->t.data[j] = 0.0f;
    return TI_OK;
}

double ti_model_sparsity(const ti_model *m)
{
    size_t zeros = 0, total = 0;
    for (int i = 0; i < m->np; i++) {
        const ti_param *p = &m->p[i];
        if (p->kind != TI_PARAM_WEIGHT)
            continue;
        total += p->t.size;
        for (size_t j = 0; j < p->t.size; j++)
            zeros += p->t.data[j] == 0.0f;
    }
    return total ? (double)zeros / (double)total : 0.0;
}

ti_status ti_model_average_stats(ti_model *m, const ti_reducer *r)
{
    if (!r || r->size <= 1 || m->nbf == 0)
        return TI_OK;
    /* the buffer block holds the running means and variances (and the batch counts, which
     * are equal everywhere and come back unchanged: n c / n is exact) */
    ti_status s = r->sum(r->user, m->bblock, m->nbf);
    if (s != TI_OK)
        return ti_ctx_error(m->ctx, s, "model: averaging the batch-norm statistics over %d "
                            "processes failed", r->size);
    for (size_t i = 0; i < m->nbf; i++)
        m->bblock[i] /= (float)r->size;
    ti_model_weights_changed(m); /* the sparse forms fold batch norm in */
    return TI_OK;
}

/* FNV-1a's xor-and-multiply over 64-bit words (then a last half word): eight times fewer
 * steps than over bytes, which matters when it runs after every data-parallel step. */
static uint64_t hash_floats(uint64_t h, const float *a, size_t n)
{
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        uint64_t w;
        memcpy(&w, a + i, sizeof w);
        h = (h ^ w) * 0x100000001B3ULL;
    }
    if (i < n) {
        uint32_t w;
        memcpy(&w, a + i, sizeof w);
        h = (h ^ w) * 0x100000001B3ULL;
    }
    return h;
}

uint64_t ti_model_hash(ti_model *m)
{
    uint64_t h = 0xCBF29CE484222325ULL;
    for (int i = 0; i < m->np; i++) {
        const ti_param *p = &m->p[i];
        h = hash_floats(h, p->t.data, p->t.size);
        if (p->mask)
            h = hash_floats(h, p->mask, p->t.size);
    }
    return h;
}

void ti_model_set_weight_fn(ti_model *m, ti_weight_fn fn, void *user)
{
    m->wfn = fn;
    m->wuser = fn ? user : NULL;
    ti__mi_weights_touched(m);
}

/* ---- forward ---------------------------------------------------------------------------- */

static ti_tensor *weight(ti_model *m, ti_tape *tape, int i)
{
    if (!m->wfn)
        return &m->p[i].t;
    ti_tensor *w = m->wfn(m->wuser, tape, &m->p[i]);
    if (!w && ti_tape_status(tape) == TI_OK)
        return ti__tape_fail(tape, TI_ERR_STATE, "%s: the weight hook returned NULL for %s",
                             m->arch->name, m->p[i].name);
    return w;
}

ti_tensor *ti__mi_conv_fwd(ti_model *m, ti_tape *tape, const ti__mi_conv *c, ti_tensor *x)
{
    struct ti__sp_conv *sc = ti__mi_sparse_conv(m, tape, c, NULL);
    if (sc)
        return ti__sparse_conv2d(tape, x, sc, 0);
    ti_tensor *w = weight(m, tape, c->w);
    return ti_conv2d(tape, x, w, c->b >= 0 ? &m->p[c->b].t : NULL, c->stride, c->pad);
}

ti_tensor *ti__mi_bn_fwd(ti_model *m, ti_tape *tape, const ti__mi_bn *bn, ti_tensor *x, int training)
{
    ti_tensor *y = ti_batchnorm2d(tape, x, &m->p[bn->w].t, &m->p[bn->b].t, &m->p[bn->mean].t,
                                  &m->p[bn->var].t, training, MI_BN_MOMENTUM, MI_BN_EPS);
    if (y && training)
        m->p[bn->count].t.data[0] += 1.0f; /* PyTorch's num_batches_tracked */
    return y;
}

ti_tensor *ti__mi_bn_relu_fwd(ti_model *m, ti_tape *tape, const ti__mi_bn *bn, ti_tensor *x,
                          int training)
{
    ti_tensor *y = ti__batchnorm2d_relu(tape, x, &m->p[bn->w].t, &m->p[bn->b].t,
                                        &m->p[bn->mean].t, &m->p[bn->var].t, training,
                                        MI_BN_MOMENTUM, MI_BN_EPS);
    if (y && training)
        m->p[bn->count].t.data[0] += 1.0f;
    return y;
}

/* The folded weight and bias of conv c followed by bn for this pass: kept in the model
 * (model_fold.c) unless a weight hook gives w, which is then folded on the tape (constants:
 * no gradient). NULL without an error when a running variance makes folding impossible (the
 * unfolded path then reports it). */
static ti_tensor *fold_bn(ti_model *m, ti_tape *tape, const ti__mi_conv *c, const ti__mi_bn *bn,
                          const ti_tensor *w, ti_tensor **bias)
{
    ti_tensor *wf;
    int kept = ti__mi_fold_get(m, c, bn, &wf, bias);
    if (kept >= 0)
        return kept ? wf : NULL;
    wf = ti_tape_tensor(tape, w->ndim, w->shape);
    *bias = ti_tape_tensor(tape, 1, &c->K);
    if (!wf || !*bias || !ti__mi_fold_values(m, c, bn, w->data, wf->data, (*bias)->data))
        return NULL;
    return wf;
}

ti_tensor *ti__mi_conv_bn_fwd(ti_model *m, ti_tape *tape, const ti__mi_conv *c, const ti__mi_bn *bn,
                          ti_tensor *x, int training, int relu)
{
    if (!training) {
        struct ti__sp_conv *sc = ti__mi_sparse_conv(m, tape, c, bn);
        if (sc) /* BN folded into the compressed weight and its bias, the ReLU fused */
            return ti__sparse_conv2d(tape, x, sc, relu);
        ti_tensor *w = weight(m, tape, c->w);
        if (!w)
            return NULL;
        int recording = ti_tape_recording(tape);
        int frozen = !recording || (!w->requires_grad && !m->p[bn->w].t.requires_grad &&
                                    !m->p[bn->b].t.requires_grad &&
                                    !(c->b >= 0 && m->p[c->b].t.requires_grad));
        ti_tensor *bf = NULL, *wf = frozen ? fold_bn(m, tape, c, bn, w, &bf) : NULL;
        if (wf) {
            ti_tensor *y = ti_conv2d(tape, x, wf, bf, c->stride, c->pad);
            return relu ? ti__relu_inplace(tape, y) : y;
        }
        if (ti_tape_status(tape) != TI_OK)
            return NULL;
        ti_tensor *y = ti_conv2d(tape, x, w, c->b >= 0 ? &m->p[c->b].t : NULL, c->stride,
                                 c->pad);
        return relu ? ti__mi_bn_relu_fwd(m, tape, bn, y, 0) : ti__mi_bn_fwd(m, tape, bn, y, 0);
    }
    ti_tensor *y = ti__mi_conv_fwd(m, tape, c, x);
    return relu ? ti__mi_bn_relu_fwd(m, tape, bn, y, training)
                : ti__mi_bn_fwd(m, tape, bn, y, training);
}

ti_tensor *ti__mi_linear_fwd(ti_model *m, ti_tape *tape, const ti__mi_linear *l, ti_tensor *x)
{
    struct ti__sp_conv *sc = ti__mi_sparse_linear(m, tape, l);
    if (sc)
        return ti__sparse_conv2d(tape, x, sc, 0);
    ti_tensor *w = weight(m, tape, l->w);
    return ti_linear(tape, x, w, l->b >= 0 ? &m->p[l->b].t : NULL);
}

ti_tensor *ti_model_forward(ti_model *m, ti_tape *tape, ti_tensor *x, int training)
{
    if (!m || !tape)
        return NULL;
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    const ti_model_config *c = &m->cfg;
    if (x->ndim != 4 || x->shape[1] != c->C || x->shape[2] != c->H || x->shape[3] != c->W) {
        char sx[64];
        const char *hint = "";
        if (x->ndim == 4 && x->shape[1] != c->C)
            hint = x->shape[1] == 3 ? " (CIFAR-10 data given to a 1-channel model?)"
                                    : " (grey-scale data given to a colour model?)";
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "%s: input has shape %s but the model expects (N, %d, %d, %d)%s",
                             m->arch->name, ti_shape_str(x, sx, sizeof sx), c->C, c->H, c->W,
                             hint);
    }
    /* a pass that trains or can yield weight gradients may precede a change of the weights */
    if (training || (ti_tape_recording(tape) && m->requires_grad))
        ti__mi_weights_touched(m);
    m->eval_pass = !training;
    if (m->pad)
        x = ti_conv2d(tape, x, &m->pad_w, NULL, 1, m->pad);
    if (c->normalize)
        x = ti_normalize(tape, x, c->mean, c->std);
    return m->arch->forward(m, tape, x, training);
}
