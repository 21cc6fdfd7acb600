/* A model's sparse execution (model.h, "Sparse execution"): per conv and linear layer, the
 * decision dense or sparse and the compressed weight (sparse_internal.h), built on the first
 * evaluation forward that can use it and rebuilt when the model's weight generation moved on
 * (any call that may have changed a weight bumps it: see ti__mi_weights_touched's callers).
 * Only evaluation forwards that need no gradient for the layer's parameters run sparse:
 * attacks, evaluation, the classifier view. */
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "sparse_internal.h"

typedef struct sp_entry {
    unsigned long gen; /* the model generation this entry was decided for (0: never) */
    int use;           /* 1: the layer runs sparse */
    ti__sp_conv sc;
} sp_entry;

struct ti__mi_sparse {
    int n;
    sp_entry *e; /* (n): one per layer slot */
};

static const char *const mode_names[TI_SPARSE_MODE_COUNT] = {"auto", "on", "off"};

const char *ti_sparse_mode_name(ti_sparse_mode mode)
{
    return (unsigned)mode < TI_SPARSE_MODE_COUNT ? mode_names[mode] : "unknown";
}

ti_status ti_sparse_mode_parse(const char *s, ti_sparse_mode *out)
{
    for (int i = 0; s && i < TI_SPARSE_MODE_COUNT; i++)
        if (strcmp(s, mode_names[i]) == 0) {
            *out = (ti_sparse_mode)i;
            return TI_OK;
        }
    return TI_ERR_ARG;
}

ti_status ti_model_set_sparse(ti_model *m, ti_sparse_mode mode)
{
    if ((unsigned)mode >= TI_SPARSE_MODE_COUNT)
        return ti_ctx_error(m->ctx, TI_ERR_ARG,
                            "model: sparse mode %d is not auto (0), on (1) or off (2)", (int)mode);
    if (mode != m->sparse_mode) {
        m->sparse_mode = mode;
        ti__mi_weights_touched(m); /* decide again under the new mode */
    }
    return TI_OK;
}

ti_sparse_mode ti_model_get_sparse(const ti_model *m)
{
    return m->sparse_mode;
}

void ti_model_weights_changed(ti_model *m)
{
    if (m)
        ti__mi_weights_touched(m);
}

void ti_model_sparse_layers(const ti_model *m, int *sparse, int *total)
{
    int s = 0;
    for (int i = 0; m->sp && i < m->sp->n; i++)
        s += m->sp->e[i].gen == m->wgen && m->sp->e[i].use;
    *sparse = s;
    *total = m->nslots;
}

int ti__mi_sparse_decided(const ti_model *m)
{
    if (m->sparse_mode == TI_SPARSE_OFF)
        return 1;
    for (int i = 0; m->sp && i < m->sp->n; i++)
        if (m->sp->e[i].gen != m->wgen)
            return 0;
    return m->sp != NULL;
}

int ti__mi_sparse_idle(const ti_model *m)
{
    if (m->sparse_mode == TI_SPARSE_OFF)
        return 1;
    if (!ti__mi_sparse_decided(m)) /* also: m->sp exists */
        return 0;
    for (int i = 0; i < m->sp->n; i++)
        if (m->sp->e[i].use)
            return 0;
    return 1;
}

void ti__mi_sparse_free(struct ti__mi_sparse *sp)
{
    if (!sp)
        return;
    for (int i = 0; i < sp->n; i++)
        ti__sp_conv_release(&sp->e[i].sc);
    free(sp->e);
    free(sp);
}

/* The entry of a slot, allocating the table on first use (NULL when out of memory: the
 * layer then runs dense). */
static sp_entry *entry(ti_model *m, int slot)
{
    if (!m->sp) {
        struct ti__mi_sparse *sp = calloc(1, sizeof *sp);
        sp_entry *e = calloc((size_t)(m->nslots ? m->nslots : 1), sizeof *e);
        if (!sp || !e) {
            free(sp);
            free(e);
            return NULL;
        }
        for (int i = 0; i < m->nslots; i++)
            e[i].sc.simd = 1;
        sp->n = m->nslots;
        sp->e = e;
        m->sp = sp;
    }
    return slot >= 0 && slot < m->sp->n ? &m->sp->e[slot] : NULL;
}

/* Decides (and builds) the entry for weight w (K, C, KH, KW) with the folded scale and bias. */
static ti__sp_conv *decide(ti_model *m, sp_entry *e, const ti_tensor *w, const float *scale,
                           const float *bias, int stride, int pad, int linear)
{
    int K = w->shape[0], C = w->shape[1];
    int KH = linear ? 1 : w->shape[2], KW = linear ? 1 : w->shape[3];
    e->gen = m->wgen;
    e->use = 0;
    if (m->sparse_mode == TI_SPARSE_OFF)
        return NULL;
    if (m->sparse_mode == TI_SPARSE_AUTO &&
        !ti__sp_pays(ti__sp_density(w->data, w->size), C, K, KH, KW, stride, linear))
        return NULL;
    if (ti__sp_conv_build(m->ctx, &e->sc, w->data, scale, bias, K, C, KH, KW, stride, pad,
                          linear) != TI_OK)
        return NULL; /* out of memory: the dense path still works */
    e->use = 1;
    return &e->sc;
}

/* Are the layer's parameters all without gradients on this tape? */
static int frozen(ti_tape *tape, const ti_tensor *const *p, int n)
{
    if (!ti_tape_recording(tape))
        return 1;
    for (int i = 0; i < n; i++)
        if (p[i] && p[i]->requires_grad)
            return 0;
    return 1;
}

ti__sp_conv *ti__mi_sparse_conv(ti_model *m, ti_tape *tape, const ti__mi_conv *c,
                                const ti__mi_bn *bn)
{
    if (!m->eval_pass || m->wfn || m->sparse_mode == TI_SPARSE_OFF)
        return NULL;
    const ti_tensor *p[4] = {&m->p[c->w].t, c->b >= 0 ? &m->p[c->b].t : NULL,
                             bn ? &m->p[bn->w].t : NULL, bn ? &m->p[bn->b].t : NULL};
    if (!frozen(tape, p, 4))
        return NULL;
    sp_entry *e = entry(m, c->slot);
    if (!e)
        return NULL;
    if (e->gen == m->wgen)
        return e->use ? &e->sc : NULL;
    int K = c->K;
    float *fold = malloc(2 * (size_t)K * sizeof *fold); /* scale, then bias */
    if (!fold)
        return NULL;
    const float *scale = NULL, *bias = c->b >= 0 ? m->p[c->b].t.data : NULL;
    if (bn) { /* the same folding as the dense path */
        for (int k = 0; k < K; k++) {
            double s;
            if (!ti__mi_fold_channel(m, c, bn, k, &s, &fold[K + k])) {
                free(fold);
                return NULL; /* the dense path reports it */
            }
            fold[k] = (float)s;
        }
        scale = fold;
        bias = fold + K;
    }
    ti__sp_conv *sc = decide(m, e, &m->p[c->w].t, scale, bias, c->stride, c->pad, 0);
    free(fold);
    return sc;
}

ti__sp_conv *ti__mi_sparse_linear(ti_model *m, ti_tape *tape, const ti__mi_linear *l)
{
    if (!m->eval_pass || m->wfn || m->sparse_mode == TI_SPARSE_OFF)
        return NULL;
    const ti_tensor *p[2] = {&m->p[l->w].t, l->b >= 0 ? &m->p[l->b].t : NULL};
    if (!frozen(tape, p, 2))
        return NULL;
    sp_entry *e = entry(m, l->slot);
    if (!e)
        return NULL;
    if (e->gen == m->wgen)
        return e->use ? &e->sc : NULL;
    return decide(m, e, &m->p[l->w].t, NULL, l->b >= 0 ? m->p[l->b].t.data : NULL, 1, 0, 1);
}
