/* SGD with momentum, Nesterov and weight decay, step for step as torch.optim.SGD
 * (torch/optim/sgd.py, dampening 0), over tensors in groups that can be frozen, with 0/1 masks
 * that keep pruned weights at exactly zero. All momentum buffers share one allocation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "thinice/optim.h"

typedef struct sgd_entry {
    ti_tensor *t;
    const float *mask;       /* borrowed mask, or NULL */
    float *const *mask_ref;  /* for model weights: &param->mask, read at each step */
    float wd;
    int group;
    size_t off;              /* offset of the momentum buffer in opt->buf */
} sgd_entry;

struct ti_sgd {
    ti_ctx *ctx;
    ti_sgd_params p;
    sgd_entry *e;
    int n, cap;
    float *buf;   /* (total) momentum buffers of every entry, back to back */
    size_t total;
    int frozen[TI_SGD_MAX_GROUPS];
    float *pack;  /* (pack_cap) the gradients of a data-parallel step, back to back */
    size_t pack_cap;
    ti_model *model; /* the last model given to ti_sgd_add_model: told when a step ran */
};

ti_sgd_params ti_sgd_params_default(void)
{
    ti_sgd_params p = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 1e-4f, .nesterov = 0,
                       .decay_bn_bias = 1};
    return p;
}

ti_status ti_sgd_new(ti_ctx *ctx, const ti_sgd_params *p, ti_sgd **out)
{
    *out = NULL;
    if (!p)
        return ti_ctx_error(ctx, TI_ERR_ARG, "sgd: no parameters given");
    if (!isfinite(p->lr) || p->lr < 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "sgd: learning rate %g must be finite and >= 0",
                            p->lr);
    if (!(p->momentum >= 0 && p->momentum < 1))
        return ti_ctx_error(ctx, TI_ERR_ARG, "sgd: momentum %g must be in [0, 1)", p->momentum);
    if (!isfinite(p->weight_decay) || p->weight_decay < 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "sgd: weight decay %g must be finite and >= 0",
                            p->weight_decay);
    if (p->nesterov && p->momentum <= 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "sgd: Nesterov momentum needs momentum > 0");
    ti_sgd *o = calloc(1, sizeof *o);
    if (!o)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "sgd: out of memory");
    o->ctx = ctx;
    o->p = *p;
    *out = o;
    return TI_OK;
}

void ti_sgd_free(ti_sgd *opt)
{
    if (!opt)
        return;
    ti_free(opt->buf);
    ti_free(opt->pack);
    free(opt->e);
    free(opt);
}

/* Appends an entry and grows the single momentum allocation (copying the old buffers). */
static ti_status add_entry(ti_sgd *o, ti_tensor *t, const float *mask, float *const *mask_ref,
                           float wd, int group)
{
    if (!t || !t->data)
        return ti_ctx_error(o->ctx, TI_ERR_ARG, "sgd: tensor %d has no data", o->n);
    if (group < 0 || group >= TI_SGD_MAX_GROUPS)
        return ti_ctx_error(o->ctx, TI_ERR_ARG, "sgd: group %d is outside [0, %d)", group,
                            TI_SGD_MAX_GROUPS);
    if (!isfinite(wd) || wd < 0)
        return ti_ctx_error(o->ctx, TI_ERR_ARG, "sgd: weight decay %g must be finite and >= 0",
                            wd);
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 16;
        sgd_entry *e = realloc(o->e, (size_t)cap * sizeof *e);
        if (!e)
            return ti_ctx_error(o->ctx, TI_ERR_NOMEM, "sgd: out of memory");
        o->e = e;
        o->cap = cap;
    }
    if (o->p.momentum > 0) {
        float *buf = ti_calloc((o->total + t->size) * sizeof(float));
        if (!buf)
            return ti_ctx_error(o->ctx, TI_ERR_NOMEM,
                                "sgd: out of memory for %zu momentum floats", o->total + t->size);
        if (o->buf)
            memcpy(buf, o->buf, o->total * sizeof(float));
        ti_free(o->buf);
        o->buf = buf;
    }
    sgd_entry *e = &o->e[o->n++];
    e->t = t;
    e->mask = mask;
    e->mask_ref = mask_ref;
    e->wd = wd;
    e->group = group;
    e->off = o->total;
    o->total += t->size;
    const float *m = mask_ref ? *mask_ref : mask;
    if (m)
        for (size_t i = 0; i < t->size; i++)
            if (m[i] == 0.0f)
                t->data[i] = 0.0f;
    return TI_OK;
}

ti_status ti_sgd_add(ti_sgd *opt, ti_tensor *t, const float *mask, float weight_decay, int group)
{
    return add_entry(opt, t, mask, NULL, weight_decay, group);
}

ti_status ti_sgd_add_model(ti_sgd *opt, ti_model *m)
{
    if (!m)
        return ti_ctx_error(opt->ctx, TI_ERR_ARG, "sgd: no model given");
    for (int i = 0; i < ti_model_nparams(m); i++) {
        ti_param *p = ti_model_param(m, i);
        if (!ti_param_kind_trainable(p->kind))
            continue;
        int group = p->kind == TI_PARAM_WEIGHT ? TI_SGD_GROUP_WEIGHTS
                    : p->kind == TI_PARAM_BIAS ? TI_SGD_GROUP_BIASES
                                               : TI_SGD_GROUP_BN;
        float wd = (group == TI_SGD_GROUP_WEIGHTS || opt->p.decay_bn_bias) ? opt->p.weight_decay
                                                                           : 0.0f;
        ti_status s = add_entry(opt, &p->t, NULL, p->kind == TI_PARAM_WEIGHT ? &p->mask : NULL,
                                wd, group);
        if (s != TI_OK)
            return s;
    }
    opt->model = m;
    return TI_OK;
}

void ti_sgd_set_group_frozen(ti_sgd *opt, int group, int frozen)
{
    if (group >= 0 && group < TI_SGD_MAX_GROUPS)
        opt->frozen[group] = frozen != 0;
}

int ti_sgd_group_frozen(const ti_sgd *opt, int group)
{
    return group >= 0 && group < TI_SGD_MAX_GROUPS && opt->frozen[group];
}

void ti_sgd_set_lr(ti_sgd *opt, float lr)
{
    opt->p.lr = lr;
}

float ti_sgd_lr(const ti_sgd *opt)
{
    return opt->p.lr;
}

int ti_sgd_count(const ti_sgd *opt)
{
    return opt->n;
}

float *ti_sgd_momentum(ti_sgd *opt, int i)
{
    if (!opt->buf || i < 0 || i >= opt->n)
        return NULL;
    return opt->buf + opt->e[i].off;
}

void ti_sgd_zero_grad(ti_sgd *opt)
{
    for (int k = 0; k < opt->n; k++)
        if (opt->e[k].t->grad)
            memset(opt->e[k].t->grad, 0, opt->e[k].t->size * sizeof(float));
}

/* The update of one dense tensor of n floats. buf is NULL when mu = 0. The operations are
 * PyTorch's, in its order: d = grad + wd w; buf = mu buf + d; w += -lr (buf or d + mu buf). */
static void k_sgd_dense(float *w, const float *grad, float *buf, size_t n, float lr, float mu,
                        float wd, int nesterov)
{
    if (!buf) {
        for (size_t i = 0; i < n; i++)
            w[i] -= lr * (grad[i] + wd * w[i]);
        return;
    }
    if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            float d = grad[i] + wd * w[i];
            float b = mu * buf[i] + d;
            buf[i] = b;
            w[i] -= lr * (d + mu * b);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float b = mu * buf[i] + (grad[i] + wd * w[i]);
            buf[i] = b;
            w[i] -= lr * b;
        }
    }
}

/* The same under a 0/1 mask: masked entries get zero gradient, momentum and weight. */
static void k_sgd_masked(float *w, float *grad, float *buf, const float *mask, size_t n,
                         float lr, float mu, float wd, int nesterov)
{
    for (size_t i = 0; i < n; i++) {
        if (mask[i] == 0.0f) {
            w[i] = 0.0f;
            grad[i] = 0.0f;
            if (buf)
                buf[i] = 0.0f;
            continue;
        }
        float d = grad[i] + wd * w[i];
        if (buf) {
            float b = mu * buf[i] + d;
            buf[i] = b;
            d = nesterov ? d + mu * b : b;
        }
        w[i] -= lr * d;
    }
}

/* The gradients the step will use, back to back (into pack when `out`, else back out). */
static size_t pack_grads(ti_sgd *opt, float scale, int out)
{
    size_t u = 0;
    for (int k = 0; k < opt->n; k++) {
        ti_tensor *t = opt->e[k].t;
        if (opt->frozen[opt->e[k].group] || !t->grad)
            continue;
        for (size_t i = 0; i < t->size; i++)
            if (out)
                opt->pack[u + i] = t->grad[i] * scale;
            else
                t->grad[i] = opt->pack[u + i];
        u += t->size;
    }
    return u;
}

ti_status ti_sgd_reduce(ti_sgd *opt, const ti_reducer *r, float scale)
{
    size_t n = 0;
    for (int k = 0; k < opt->n; k++)
        if (!opt->frozen[opt->e[k].group] && opt->e[k].t->grad)
            n += opt->e[k].t->size;
    if (n > opt->pack_cap) {
        ti_free(opt->pack);
        if (!(opt->pack = ti_alloc(n * sizeof(float)))) {
            opt->pack_cap = 0;
            return ti_ctx_error(opt->ctx, TI_ERR_NOMEM, "sgd: out of memory for %zu gradients",
                                n);
        }
        opt->pack_cap = n;
    }
    pack_grads(opt, scale, 1);
    ti_status s = r->sum(r->user, opt->pack, n);
    if (s != TI_OK)
        return ti_ctx_error(opt->ctx, s, "sgd: summing the gradients over %d processes failed",
                            r->size);
    pack_grads(opt, 1.0f, 0);
    return TI_OK;
}

ti_status ti_sgd_step(ti_sgd *opt)
{
    float lr = opt->p.lr;
    if (!isfinite(lr))
        return ti_ctx_error(opt->ctx, TI_ERR_NAN, "sgd: learning rate is %g", lr);
    for (int k = 0; k < opt->n; k++) {
        sgd_entry *e = &opt->e[k];
        ti_tensor *t = e->t;
        if (opt->frozen[e->group] || !t->grad)
            continue;
        float *buf = opt->buf ? opt->buf + e->off : NULL;
        const float *mask = e->mask_ref ? *e->mask_ref : e->mask;
        if (mask)
            k_sgd_masked(t->data, t->grad, buf, mask, t->size, lr, opt->p.momentum, e->wd,
                         opt->p.nesterov);
        else
            k_sgd_dense(t->data, t->grad, buf, t->size, lr, opt->p.momentum, e->wd,
                        opt->p.nesterov);
    }
    ti_model_weights_changed(opt->model); /* its sparse forms are stale now */
    return TI_OK;
}
