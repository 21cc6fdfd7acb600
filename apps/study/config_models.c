/* thinice-study's configuration, the parts that are lists of objects (config.h): "pairs" (each
 * trained network with its own methods, as the paper pairs them) and "models" (the user's
 * networks: a dense checkpoint and its pruned versions), their command-line form and their
 * checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "thinice/model.h"
#include "thinice/onnx.h"
#include "thinice/prune.h"

static ti_status bad(ti_ctx *ctx, const char *path, const char *where, const char *what)
{
    return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: %s %s", path, where, what);
}

/* A string member into dst (cap bytes); missing: "" (optional) or an error (required). */
static ti_status get_string(ti_ctx *ctx, const char *path, const ti_json *o, const char *key,
                            char *dst, size_t cap, int required, const char *where)
{
    const ti_json *v = ti_json_get(o, key);
    const char *s = v ? ti_json_string(v) : NULL;
    char at[160];
    snprintf(at, sizeof at, "%s.%s", where, key);
    if (!v) {
        dst[0] = '\0';
        return required ? bad(ctx, path, at, "is missing") : TI_OK;
    }
    if (!s)
        return bad(ctx, path, at, "must be a string");
    if (strlen(s) >= cap)
        return bad(ctx, path, at, "is too long");
    memcpy(dst, s, strlen(s) + 1);
    return TI_OK;
}

static ti_status get_number(ti_ctx *ctx, const char *path, const ti_json *o, const char *key,
                            double lo, double hi, double *out, const char *where)
{
    const ti_json *v = ti_json_get(o, key);
    char at[160];
    snprintf(at, sizeof at, "%s.%s", where, key);
    if (!v || ti_json_typeof(v) != TI_JSON_NUMBER)
        return bad(ctx, path, at, v ? "must be a number" : "is missing");
    *out = ti_json_number(v);
    if (!(*out >= lo && *out <= hi)) {
        char msg[80];
        snprintf(msg, sizeof msg, "is %g, outside [%g, %g]", *out, lo, hi);
        return bad(ctx, path, at, msg);
    }
    return TI_OK;
}

/* Only the keys of `keys` (NULL-terminated) in object o: a typo is an error. */
static ti_status known_keys(ti_ctx *ctx, const char *path, const ti_json *o,
                            const char *const *keys, const char *where)
{
    if (ti_json_typeof(o) != TI_JSON_OBJECT)
        return bad(ctx, path, where, "must be an object");
    for (size_t i = 0; i < ti_json_length(o); i++) {
        const char *k = ti_json_key_at(o, i);
        int ok = k[0] == '_';
        for (const char *const *q = keys; *q && !ok; q++)
            ok = strcmp(k, *q) == 0;
        if (!ok) {
            char at[200];
            snprintf(at, sizeof at, "%s.%s", where, k);
            return bad(ctx, path, at, "is not a configuration key (see docs/app-study.md)");
        }
    }
    return TI_OK;
}

static ti_status read_reported(ti_ctx *ctx, const char *path, const ti_json *o,
                               sc_reported *r, const char *where)
{
    static const char *const keys[] = {"clean", "robust", "attack", NULL};
    double clean = 0, robust = 0;
    ti_status s = known_keys(ctx, path, o, keys, where);
    if (s == TI_OK)
        s = get_number(ctx, path, o, "clean", 0, 1, &clean, where);
    if (s == TI_OK)
        s = get_number(ctx, path, o, "robust", 0, 1, &robust, where);
    if (s == TI_OK)
        s = get_string(ctx, path, o, "attack", r->attack, sizeof r->attack, 0, where);
    r->given = s == TI_OK;
    r->clean = (float)clean;
    r->robust = (float)robust;
    if (s == TI_OK && !r->attack[0])
        snprintf(r->attack, sizeof r->attack, "reported");
    return s;
}

static ti_status read_pruned(ti_ctx *ctx, const char *path, const ti_json *o, sc_pruned *p,
                             const char *where)
{
    static const char *const keys[] = {"method", "sparsity", "file", "reported", NULL};
    ti_status s = known_keys(ctx, path, o, keys, where);
    if (s == TI_OK)
        s = get_string(ctx, path, o, "method", p->method, sizeof p->method, 1, where);
    if (s == TI_OK)
        s = get_number(ctx, path, o, "sparsity", 0, 0.999999, &p->sparsity, where);
    if (s == TI_OK)
        s = get_string(ctx, path, o, "file", p->file, sizeof p->file, 1, where);
    const ti_json *r = ti_json_get(o, "reported");
    if (s == TI_OK && r) {
        char at[200];
        snprintf(at, sizeof at, "%.150s.reported", where);
        s = read_reported(ctx, path, r, &p->reported, at);
    }
    return s;
}

static ti_status read_network(ti_ctx *ctx, const char *path, const ti_json *o, sc_external *e,
                              const char *where)
{
    static const char *const keys[] = {"name", "model", "dense", "pruned", NULL};
    ti_status s = known_keys(ctx, path, o, keys, where);
    if (s == TI_OK)
        s = get_string(ctx, path, o, "dense", e->dense, sizeof e->dense, 1, where);
    if (s == TI_OK)
        s = get_string(ctx, path, o, "model", e->model, sizeof e->model, 0, where);
    if (s == TI_OK)
        s = get_string(ctx, path, o, "name", e->name, sizeof e->name, 0, where);
    if (s == TI_OK && !e->name[0])
        snprintf(e->name, sizeof e->name, "%s", e->model[0] ? e->model : "model");
    const ti_json *pr = ti_json_get(o, "pruned");
    size_t n = pr ? ti_json_length(pr) : 0;
    if (s == TI_OK && (!pr || ti_json_typeof(pr) != TI_JSON_ARRAY || n < 1 || n > SC_MAX_PRUNED))
        s = bad(ctx, path, where, "needs \"pruned\": a list of 1 to 16 pruned models");
    for (size_t i = 0; i < n && s == TI_OK; i++) {
        char at[160];
        snprintf(at, sizeof at, "%s.pruned[%zu]", where, i);
        s = read_pruned(ctx, path, ti_json_at(pr, i), &e->pruned[i], at);
    }
    e->npruned = (int)n;
    return s;
}

ti_status study_config_read_models(ti_ctx *ctx, const char *path, const ti_json *v,
                                   study_config *c)
{
    size_t n = ti_json_length(v);
    if (ti_json_typeof(v) != TI_JSON_ARRAY || n < 1 || n > SC_MAX_LIST)
        return bad(ctx, path, "models", "must be a list of 1 to 8 networks");
    ti_status s = TI_OK;
    for (size_t i = 0; i < n && s == TI_OK; i++) {
        char at[32];
        snprintf(at, sizeof at, "models[%zu]", i);
        memset(&c->external[i], 0, sizeof c->external[i]);
        s = read_network(ctx, path, ti_json_at(v, i), &c->external[i], at);
    }
    c->nexternal = (int)n;
    return s;
}

ti_status study_config_read_pairs(ti_ctx *ctx, const char *path, const ti_json *v,
                                  study_config *c)
{
    size_t n = ti_json_length(v);
    if (ti_json_typeof(v) != TI_JSON_OBJECT || n < 1 || n > SC_MAX_LIST)
        return bad(ctx, path, "pairs", "must map 1 to 8 networks to their methods");
    for (size_t i = 0; i < n; i++) {
        const ti_json *m = ti_json_at(v, i);
        size_t k = ti_json_length(m);
        char at[64];
        snprintf(at, sizeof at, "pairs.%.40s", ti_json_key_at(v, i));
        if (ti_json_typeof(m) != TI_JSON_ARRAY || k < 1 || k > SC_MAX_LIST ||
            strlen(ti_json_key_at(v, i)) >= sizeof c->pairs[i].network)
            return bad(ctx, path, at, "must be a list of 1 to 8 methods");
        snprintf(c->pairs[i].network, sizeof c->pairs[i].network, "%s", ti_json_key_at(v, i));
        for (size_t j = 0; j < k; j++) {
            const char *s = ti_json_string(ti_json_at(m, j));
            if (!s || strlen(s) >= sizeof c->pairs[i].methods[j])
                return bad(ctx, path, at, "must be a list of method names");
            snprintf(c->pairs[i].methods[j], sizeof c->pairs[i].methods[j], "%s", s);
        }
        c->pairs[i].nmethod = (int)k;
    }
    c->npairs = (int)n;
    return TI_OK;
}

int study_config_methods(const study_config *c, int k, const char **out)
{
    for (int i = 0; i < c->npairs; i++)
        if (strcmp(c->pairs[i].network, c->networks[k]) == 0) {
            for (int j = 0; j < c->pairs[i].nmethod; j++)
                out[j] = c->pairs[i].methods[j];
            return c->pairs[i].nmethod;
        }
    if (c->npairs > 0)
        return 0;
    for (int j = 0; j < c->nmethod; j++)
        out[j] = c->methods[j];
    return c->nmethod;
}

/* "METHOD:SPARSITY:FILE" into p; the file may hold colons itself. */
static ti_status parse_pruned_spec(ti_ctx *ctx, const char *spec, sc_pruned *p)
{
    const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    char num[32], *end;
    memset(p, 0, sizeof *p);
    if (!c1 || !c2 || c1 == spec || c2 == c1 + 1 || !c2[1] || (size_t)(c1 - spec) >= sizeof p->method ||
        (size_t)(c2 - c1 - 1) >= sizeof num || strlen(c2 + 1) >= sizeof p->file)
        return ti_ctx_error(ctx, TI_ERR_ARG, "--pruned %s: expected METHOD:SPARSITY:FILE, e.g. "
                            "hydra:0.9:resnet18_hydra90.safetensors", spec);
    snprintf(p->method, sizeof p->method, "%.*s", (int)(c1 - spec), spec);
    snprintf(num, sizeof num, "%.*s", (int)(c2 - c1 - 1), c1 + 1);
    p->sparsity = strtod(num, &end);
    if (*end || !(p->sparsity >= 0 && p->sparsity < 1))
        return ti_ctx_error(ctx, TI_ERR_ARG, "--pruned %s: the sparsity '%s' is not a fraction "
                            "in [0, 1) such as 0.9", spec, num);
    snprintf(p->file, sizeof p->file, "%s", c2 + 1);
    return TI_OK;
}

ti_status study_config_set_external(ti_ctx *ctx, study_config *c, const char *dense,
                                    const char *model, const char *const *pruned, int npruned)
{
    sc_external *e = &c->external[0];
    memset(e, 0, sizeof *e);
    if (npruned < 1 || npruned > SC_MAX_PRUNED)
        return ti_ctx_error(ctx, TI_ERR_ARG, "--dense needs 1 to %d --pruned models",
                            SC_MAX_PRUNED);
    if (strlen(dense) >= sizeof e->dense || (model && strlen(model) >= sizeof e->model))
        return ti_ctx_error(ctx, TI_ERR_ARG, "--dense or --model is too long");
    snprintf(e->dense, sizeof e->dense, "%s", dense);
    snprintf(e->model, sizeof e->model, "%s", model ? model : "");
    snprintf(e->name, sizeof e->name, "%s", model ? model : "model");
    ti_status s = TI_OK;
    for (int i = 0; i < npruned && s == TI_OK; i++)
        s = parse_pruned_spec(ctx, pruned[i], &e->pruned[i]);
    e->npruned = npruned;
    c->nexternal = 1;
    return s;
}

/* One external model file: it exists, and is ONNX or has an architecture to build. */
static ti_status check_file(ti_ctx *ctx, const sc_external *e, const char *file,
                            const char *what)
{
    struct stat sb;
    if (stat(file, &sb) != 0 || !S_ISREG(sb.st_mode))
        return ti_ctx_error(ctx, TI_ERR_IO, "models %s: %s %s is not a readable file", e->name,
                            what, file);
    if (ti_onnx_is_spec(file))
        return TI_OK;
    int known = 0;
    for (const char *const *a = ti_model_arch_names(); *a; a++)
        known |= strcmp(*a, e->model) == 0;
    if (!known)
        return ti_ctx_error(ctx, TI_ERR_ARG, "models %s: %s %s is a safetensors file: give its "
                            "architecture (\"model\" or --model: one of smallcnn, vgg16_bn, "
                            "vgg16_admm, resnet18, resnet34, wrn_28_4, wrn_28_10)%s%s", e->name,
                            what, file, e->model[0] ? ", not " : "", e->model);
    return TI_OK;
}

ti_status study_config_check_models(ti_ctx *ctx, const study_config *c)
{
    for (int k = 0; k < c->nexternal; k++) {
        const sc_external *e = &c->external[k];
        for (int j = 0; j < k; j++)
            if (strcmp(c->external[j].name, e->name) == 0)
                return ti_ctx_error(ctx, TI_ERR_ARG, "models: two networks are named %s (give "
                                    "each a \"name\")", e->name);
        ti_status s = check_file(ctx, e, e->dense, "dense model");
        for (int i = 0; i < e->npruned && s == TI_OK; i++) {
            const sc_pruned *p = &e->pruned[i];
            ti_prune_method m;
            if (ti_prune_method_parse(p->method, &m) != TI_OK)
                return ti_ctx_error(ctx, TI_ERR_ARG, "models %s: method '%s' is not hydra, "
                                    "admm, atmc or magnitude", e->name, p->method);
            for (int j = 0; j < i; j++)
                if (!strcmp(e->pruned[j].method, p->method) &&
                    e->pruned[j].sparsity == p->sparsity)
                    return ti_ctx_error(ctx, TI_ERR_ARG, "models %s: %s at %g appears twice",
                                        e->name, p->method, p->sparsity);
            s = check_file(ctx, e, p->file, "pruned model");
        }
        if (s != TI_OK)
            return s;
    }
    return TI_OK;
}

static void json_reported(ti_jw *w, const sc_reported *r)
{
    ti_jw_key(w, "reported");
    ti_jw_begin_object(w);
    ti_jw_key(w, "clean");
    ti_jw_float(w, r->clean);
    ti_jw_key(w, "robust");
    ti_jw_float(w, r->robust);
    ti_jw_key(w, "attack");
    ti_jw_string(w, r->attack);
    ti_jw_end_object(w);
}

void study_config_models_json(ti_jw *w, const study_config *c)
{
    if (c->npairs) {
        ti_jw_key(w, "pairs");
        ti_jw_begin_object(w);
        for (int i = 0; i < c->npairs; i++) {
            ti_jw_key(w, c->pairs[i].network);
            ti_jw_begin_array(w);
            for (int j = 0; j < c->pairs[i].nmethod; j++)
                ti_jw_string(w, c->pairs[i].methods[j]);
            ti_jw_end_array(w);
        }
        ti_jw_end_object(w);
    }
    if (!c->nexternal)
        return;
    ti_jw_key(w, "models");
    ti_jw_begin_array(w);
    for (int k = 0; k < c->nexternal; k++) {
        const sc_external *e = &c->external[k];
        ti_jw_begin_object(w);
        ti_jw_key(w, "name");
        ti_jw_string(w, e->name);
        ti_jw_key(w, "model");
        ti_jw_string(w, e->model);
        ti_jw_key(w, "dense");
        ti_jw_string(w, e->dense);
        ti_jw_key(w, "pruned");
        ti_jw_begin_array(w);
        for (int i = 0; i < e->npruned; i++) {
            ti_jw_begin_object(w);
            ti_jw_key(w, "method");
            ti_jw_string(w, e->pruned[i].method);
            ti_jw_key(w, "sparsity");
            ti_jw_number(w, e->pruned[i].sparsity);
            ti_jw_key(w, "file");
            ti_jw_string(w, e->pruned[i].file);
            if (e->pruned[i].reported.given)
                json_reported(w, &e->pruned[i].reported);
            ti_jw_end_object(w);
        }
        ti_jw_end_array(w);
        ti_jw_end_object(w);
    }
    ti_jw_end_array(w);
}
