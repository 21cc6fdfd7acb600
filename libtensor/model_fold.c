/* Batch norms folded into the convolutions before them, kept between evaluation passes.
 *
 * An evaluation pass with frozen parameters runs BN(conv(x)) as one convolution with
 * w' = w gamma / sqrt(var + eps) and b' = beta + (b - mean) gamma / sqrt(var + eps)
 * (model.c, ti__mi_conv_bn_fwd). An attack runs thousands of such passes on the same weights:
 * folding at every pass rewrote the whole network's weights each time (8% of Square's time
 * on ResNet-18), and gave the convolution a new weight array each time, whose transformed
 * copies (ti__ctx_derived) had to be checked against it again. So the folded weight and bias
 * of each layer are kept here, made again only when the model's weight generation has moved
 * on (ti__mi_weights_touched). Models with a weight hook fold per pass: the hook may return
 * different weights at every call. */
#include <math.h>
#include <stdlib.h>

#include "model_internal.h"

typedef struct fold_entry {
    unsigned long gen; /* the weight generation the values were folded for (0: never) */
    ti_tensor *w, *b;
} fold_entry;

struct ti__mi_fold {
    int n;
    unsigned long ready;    /* every folded layer is current for this generation */
    fold_entry e[];         /* (n): one per layer slot */
};

int ti__mi_fold_channel(const ti_model *m, const ti__mi_conv *c, const ti__mi_bn *bn, int k,
                        double *scale, float *bias)
{
    double var = m->p[bn->var].t.data[k];
    if (!(var + MI_BN_EPS > 0.0))
        return 0;
    double s = m->p[bn->w].t.data[k] / sqrt(var + MI_BN_EPS);
    double b = c->b >= 0 ? m->p[c->b].t.data[k] : 0.0;
    *scale = s;
    *bias = (float)(m->p[bn->b].t.data[k] + (b - m->p[bn->mean].t.data[k]) * s);
    return 1;
}

int ti__mi_fold_values(const ti_model *m, const ti__mi_conv *c, const ti__mi_bn *bn,
                       const float *w, float *wf, float *bf)
{
    int K = c->K;
    size_t per = m->p[c->w].t.size / (size_t)K; /* C KH KW weights per output channel */
    for (int k = 0; k < K; k++) { /* on failure the caller drops wf and bf */
        double scale;
        if (!ti__mi_fold_channel(m, c, bn, k, &scale, &bf[k]))
            return 0;
        float sc = (float)scale;
        const float *src = w + (size_t)k * per;
        float *dst = wf + (size_t)k * per;
        for (size_t j = 0; j < per; j++)
            dst[j] = src[j] * sc;
    }
    return 1;
}

/* The model's table, allocated on first use (NULL when out of memory). */
static struct ti__mi_fold *table(ti_model *m)
{
    if (!m->fold) {
        m->fold = calloc(1, sizeof *m->fold + (size_t)m->nslots * sizeof(fold_entry));
        if (m->fold)
            m->fold->n = m->nslots;
    }
    return m->fold;
}

static fold_entry *entry(ti_model *m, int slot)
{
    struct ti__mi_fold *f = table(m);
    return f && slot >= 0 && slot < f->n ? &f->e[slot] : NULL;
}

int ti__mi_fold_get(ti_model *m, const ti__mi_conv *c, const ti__mi_bn *bn, ti_tensor **wf,
                    ti_tensor **bf)
{
    fold_entry *e = m->wfn ? NULL : entry(m, c->slot);
    if (!e)
        return -1;
    if (e->gen != m->wgen) {
        const ti_tensor *w = &m->p[c->w].t;
        if (!e->w) {
            e->w = ti_tensor_new(w->ndim, w->shape);
            e->b = ti_tensor_new(1, &c->K);
            if (!e->w || !e->b) {
                ti_tensor_free(e->w);
                ti_tensor_free(e->b);
                e->w = e->b = NULL;
                return -1;
            }
        }
        e->gen = 0;
        if (!ti__mi_fold_values(m, c, bn, w->data, e->w->data, e->b->data))
            return 0;
        e->gen = m->wgen;
    }
    *wf = e->w;
    *bf = e->b;
    return 1;
}

void ti__mi_fold_mark_ready(ti_model *m)
{
    if (table(m))
        m->fold->ready = m->wgen;
}

int ti__mi_fold_ready(const ti_model *m)
{
    return m->fold && m->fold->ready == m->wgen;
}

void ti__mi_fold_free(struct ti__mi_fold *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++) {
        ti_tensor_free(f->e[i].w);
        ti_tensor_free(f->e[i].b);
    }
    free(f);
}
