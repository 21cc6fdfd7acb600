/* Model checkpoints: a PyTorch state_dict in safetensors, read and written with the same key
 * names (num_batches_tracked as I64, masks as "<weight>_mask"). Loading checks every key and
 * shape before it changes anything, so a failed load leaves the model as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "thinice/safetensors.h"

static void shape_str_st(const ti_st_entry *e, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < e->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %lld" : "%lld",
                                 (long long)e->shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, ")");
}

static int same_shape(const ti_st_entry *e, const ti_tensor *t)
{
    if (t->ndim == 0) /* a scalar; accept PyTorch's [] and an older [1] */
        return e->nelem == 1 && (e->ndim == 0 || (e->ndim == 1 && e->shape[0] == 1));
    if (e->ndim != t->ndim)
        return 0;
    for (int i = 0; i < t->ndim; i++)
        if (e->shape[i] != t->shape[i])
            return 0;
    return 1;
}

/* A hint for a wrong shape: the usual causes are a checkpoint for another input (channels or
 * size) or another number of classes. */
static const char *shape_hint(const ti_model *m, const ti_param *p, const ti_st_entry *e,
                              char *buf, size_t len)
{
    const ti_model_config *c = &m->cfg;
    buf[0] = '\0';
    if (p == &m->p[0] && e->ndim == 4 && e->shape[1] != c->C) {
        long long fc = (long long)e->shape[1];
        snprintf(buf, len, " (a %s checkpoint loaded into a %d-channel model?)",
                 fc == 3   ? "CIFAR-10 (3x32x32)"
                 : fc == 1 ? "Fashion-MNIST (1x28x28)"
                           : "different-input",
                 c->C);
    } else if (e->ndim >= 1 && e->ndim == p->t.ndim && e->shape[0] != p->t.shape[0] &&
               p->t.shape[0] == c->M)
        snprintf(buf, len, " (a checkpoint for %lld classes loaded into a %d-class model?)",
                 (long long)e->shape[0], c->M);
    else if (e->ndim == 2 && p->t.ndim == 2 && e->shape[1] != p->t.shape[1])
        snprintf(buf, len, " (a checkpoint for another input size than %dx%d?)", c->H, c->W);
    return buf;
}

/* The file's own description, for messages: "arch=resnet18, input=3x32x32". */
static void file_desc(const ti_st_file *f, char *buf, size_t len)
{
    const char *a = ti_st_metadata(f, "arch"), *in = ti_st_metadata(f, "input");
    if (a || in)
        snprintf(buf, len, "; the file says arch=%s, input=%s", a ? a : "?", in ? in : "?");
    else
        buf[0] = '\0';
}

/* The entry for name, also under DataParallel's "module." prefix. */
static const ti_st_entry *find_key(const ti_st_file *f, const char *name)
{
    const ti_st_entry *e = ti_st_find(f, name);
    if (!e) {
        char buf[160];
        snprintf(buf, sizeof buf, "module.%s", name);
        e = ti_st_find(f, buf);
    }
    return e;
}

/* Is e one of the model's keys (or masks)? Used to report the others. */
static int is_known(ti_model *m, const char *name)
{
    if (strncmp(name, "module.", 7) == 0)
        name += 7;
    if (ti_model_find(m, name))
        return 1;
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, "_mask") == 0) {
        char buf[128];
        if (n - 5 < sizeof buf) {
            memcpy(buf, name, n - 5);
            buf[n - 5] = '\0';
            const ti_param *p = ti_model_find(m, buf);
            return p && p->kind == TI_PARAM_WEIGHT;
        }
    }
    return 0;
}

/* Logs the keys the model does not use, grouped by HYDRA's known extras. */
static void report_unknown(ti_model *m, const ti_st_file *f, const char *path)
{
    int scores = 0, sub = 0, other = 0;
    const char *first_other = NULL;
    for (int i = 0; i < ti_st_count(f); i++) {
        const char *name = ti_st_entry_at(f, i)->name;
        if (is_known(m, name))
            continue;
        if (strstr(name, "sub_block1."))
            sub++;
        else if (strstr(name, "popup_scores"))
            scores++;
        else {
            other++;
            if (!first_other)
                first_other = name;
            ti_ctx_log(m->ctx, 1, "model_load: %s: ignored unknown tensor '%s'", path, name);
        }
    }
    if (sub)
        ti_ctx_log(m->ctx, 1,
                   "model_load: %s: ignored %d tensors of HYDRA's unused sub_block1 (not in the "
                   "forward pass)",
                   path, sub);
    if (scores) /* libprune's ti_prune_apply_scores turns them into masks */
        ti_ctx_log(m->ctx, 1,
                   "model_load: %s: %d HYDRA popup_scores tensors not applied: the weights are "
                   "loaded dense (to evaluate HYDRA's network, apply them as masks with the "
                   "model's sparsity: thinice-study's method:sparsity:file, or "
                   "scripts/pt2safetensors.py --hydra-sparsity)",
                   path, scores);
    if (sub || scores || other)
        ti_ctx_log(m->ctx, 0, "model_load: %s: %d tensors not used by %s (%d sub_block1, %d "
                   "popup_scores, %d other%s%s)",
                   path, sub + scores + other, m->arch->name, sub, scores, other,
                   first_other ? ", e.g. " : "", first_other ? first_other : "");
}

ti_status ti_model_load(ti_model *m, const char *path)
{
    if (!m || !path)
        return ti_ctx_error(m ? m->ctx : NULL, TI_ERR_ARG, "model_load: NULL argument");
    ti_ctx *ctx = m->ctx;
    ti__mi_weights_touched(m); /* even a failed load may have written some parameters */
    ti_st_file *f = NULL;
    ti_status s = ti_st_open(ctx, path, &f);
    if (s != TI_OK)
        return s;
    char desc[160], hint[128], sa[64], sb[64];
    file_desc(f, desc, sizeof desc);
    /* pass 1: every key present with the right shape, masks shaped as their weights */
    for (int i = 0; i < m->np && s == TI_OK; i++) {
        const ti_param *p = &m->p[i];
        const ti_st_entry *e = find_key(f, p->name);
        if (!e) {
            s = ti_ctx_error(ctx, TI_ERR_FORMAT,
                             "model_load: %s: missing tensor '%s' %s that a %s model needs (the "
                             "file has %d tensors%s)",
                             path, p->name, ti_shape_str(&p->t, sa, sizeof sa), m->arch->name,
                             ti_st_count(f), desc);
        } else if (!same_shape(e, &p->t)) {
            shape_str_st(e, sb, sizeof sb);
            s = ti_ctx_error(ctx, TI_ERR_SHAPE,
                             "model_load: %s: tensor '%s' has shape %s but the %s model (input "
                             "%dx%dx%d, %d classes) expects %s%s",
                             path, p->name, sb, m->arch->name, m->cfg.C, m->cfg.H, m->cfg.W,
                             m->cfg.M, ti_shape_str(&p->t, sa, sizeof sa),
                             shape_hint(m, p, e, hint, sizeof hint));
        } else if (p->kind == TI_PARAM_WEIGHT) {
            char mk[128];
            snprintf(mk, sizeof mk, "%s_mask", p->name);
            const ti_st_entry *me = find_key(f, mk);
            if (me && !same_shape(me, &p->t)) {
                shape_str_st(me, sb, sizeof sb);
                s = ti_ctx_error(ctx, TI_ERR_SHAPE,
                                 "model_load: %s: mask '%s' has shape %s but its weight is %s",
                                 path, mk, sb, ti_shape_str(&p->t, sa, sizeof sa));
            }
        }
    }
    if (s != TI_OK) {
        ti_st_close(f);
        return s;
    }
    /* pass 2: read into fresh blocks, so that a bad value (NaN) leaves the model untouched */
    float *pb = ti_alloc((m->npf ? m->npf : 1) * sizeof(float));
    float *bb = ti_alloc((m->nbf ? m->nbf : 1) * sizeof(float));
    float **masks = calloc((size_t)m->np, sizeof *masks);
    if (!pb || !bb || !masks)
        s = ti_ctx_error(ctx, TI_ERR_NOMEM, "model_load: %s: out of memory", path);
    for (int i = 0; i < m->np && s == TI_OK; i++) {
        const ti_param *p = &m->p[i];
        float *dst = (ti_param_kind_trainable(p->kind) ? pb : bb) + m->info[i].off;
        s = ti_st_read_f32(ctx, f, find_key(f, p->name), dst);
        if (s != TI_OK || p->kind != TI_PARAM_WEIGHT)
            continue;
        char mk[128];
        snprintf(mk, sizeof mk, "%s_mask", p->name);
        const ti_st_entry *me = find_key(f, mk);
        if (!me)
            continue;
        masks[i] = malloc(p->t.size * sizeof(float));
        if (!masks[i])
            s = ti_ctx_error(ctx, TI_ERR_NOMEM, "model_load: %s: out of memory", path);
        else
            s = ti_st_read_f32(ctx, f, me, masks[i]);
        for (size_t j = 0; s == TI_OK && j < p->t.size; j++)
            if (masks[i][j] != 0.0f && masks[i][j] != 1.0f)
                s = ti_ctx_error(ctx, TI_ERR_FORMAT,
                                 "model_load: %s: mask '%s' element %zu is %g (must be 0 or 1)",
                                 path, mk, j, masks[i][j]);
    }
    if (s == TI_OK) {
        memcpy(m->pblock, pb, m->npf * sizeof(float));
        memcpy(m->bblock, bb, m->nbf * sizeof(float));
        for (int i = 0; i < m->np; i++) {
            ti_param *p = &m->p[i];
            if (p->kind != TI_PARAM_WEIGHT)
                continue;
            free(p->mask);
            p->mask = masks[i]; /* the model owns it now; NULL = dense */
            masks[i] = NULL;
            if (p->mask) /* a masked weight is exactly zero, whatever the file says */
                for (size_t j = 0; j < p->t.size; j++)
                    if (p->mask[j] == 0.0f)
                        p->t.data[j] = 0.0f;
        }
        report_unknown(m, f, path);
    }
    if (masks)
        for (int i = 0; i < m->np; i++)
            free(masks[i]);
    free(masks);
    ti_free(pb);
    ti_free(bb);
    ti_st_close(f);
    return s;
}

ti_status ti_model_save(const ti_model *m, const char *path)
{
    if (!m || !path)
        return ti_ctx_error(m ? m->ctx : NULL, TI_ERR_ARG, "model_save: NULL argument");
    ti_ctx *ctx = m->ctx;
    ti_st_writer *w = ti_st_writer_new();
    int nbt = 0;
    for (int i = 0; i < m->np; i++)
        nbt += m->p[i].kind == TI_PARAM_BN_COUNT;
    int64_t *counts = calloc((size_t)nbt + 1, sizeof *counts);
    uint8_t **bits = calloc(m->np > 0 ? (size_t)m->np : 1, sizeof *bits); /* masks as BOOL */
    if (!w || !counts || !bits) {
        ti_st_writer_free(w);
        free(counts);
        free(bits);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "model_save: %s: out of memory", path);
    }
    ti_status s = TI_OK;
    int ci = 0;
    char mk[128];
    for (int i = 0; i < m->np && s == TI_OK; i++) {
        const ti_param *p = &m->p[i];
        int64_t shape[TI_MAX_DIMS];
        for (int d = 0; d < p->t.ndim; d++)
            shape[d] = p->t.shape[d];
        if (p->kind == TI_PARAM_BN_COUNT) {
            counts[ci] = (int64_t)p->t.data[0];
            s = ti_st_add_i64(w, p->name, 0, shape, &counts[ci++]);
            continue;
        }
        s = ti_st_add_f32(w, p->name, p->t.ndim, shape, p->t.data);
        if (s == TI_OK && p->mask) {
            snprintf(mk, sizeof mk, "%s_mask", p->name);
            if (!(bits[i] = malloc(p->t.size))) {
                s = TI_ERR_NOMEM;
                break;
            }
            for (size_t j = 0; j < p->t.size; j++)
                bits[i][j] = p->mask[j] != 0.0f;
            s = ti_st_add_bool(w, mk, p->t.ndim, shape, bits[i]);
        }
    }
    char buf[64];
    if (s == TI_OK)
        s = ti_st_add_metadata(w, "arch", m->arch->name);
    snprintf(buf, sizeof buf, "%dx%dx%d", m->cfg.C, m->cfg.H, m->cfg.W);
    if (s == TI_OK)
        s = ti_st_add_metadata(w, "input", buf);
    snprintf(buf, sizeof buf, "%d", m->cfg.M);
    if (s == TI_OK)
        s = ti_st_add_metadata(w, "classes", buf);
    if (s == TI_OK && m->cfg.normalize) {
        char nb[256];
        size_t u = 0;
        for (int c = 0; c < m->cfg.C; c++)
            u += (size_t)snprintf(nb + u, sizeof nb - u, "%s%.9g", c ? "," : "mean=",
                                  m->cfg.mean[c]);
        for (int c = 0; c < m->cfg.C; c++)
            u += (size_t)snprintf(nb + u, sizeof nb - u, "%s%.9g", c ? "," : ";std=",
                                  m->cfg.std[c]);
        s = ti_st_add_metadata(w, "normalize", nb);
    }
    if (s != TI_OK)
        s = ti_ctx_error(ctx, s, "model_save: %s: could not add a tensor (%s)", path,
                         ti_status_str(s));
    else
        s = ti_st_write(ctx, w, path);
    ti_st_writer_free(w);
    free(counts);
    for (int i = 0; i < m->np; i++)
        free(bits[i]);
    free(bits);
    return s;
}
