/* thinice-study's configuration: defaults, the JSON reader (strict: unknown keys and wrong
 * types are errors naming the key) and the JSON writer used by the report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study_config.h"
#include "thinice/data.h"
#include "thinice/fileio.h"
#include "thinice/json.h"

void study_config_default(study_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "default");
    snprintf(c->data, sizeof c->data, "%s", TI_DATA_DEFAULT_DIR);
    c->nnet = 1;
    snprintf(c->networks[0], sizeof c->networks[0], "smallcnn");
    c->nmethod = 3;
    snprintf(c->methods[0], sizeof c->methods[0], "hydra");
    snprintf(c->methods[1], sizeof c->methods[1], "admm");
    snprintf(c->methods[2], sizeof c->methods[2], "atmc");
    c->nsparsity = 2;
    c->sparsities[0] = 0.9;
    c->sparsities[1] = 0.95;
    c->train_count = 0;
    c->test_count = 1000;
    c->batch = 128;
    c->seed = 0;
    c->dense.epochs = 3;
    c->dense.lr = 0.05f;
    c->dense.weight_decay = 5e-4f;
    snprintf(c->dense.loss, sizeof c->dense.loss, "pgd");
    c->eps = 0.1f;
    c->step = 0.025f;
    c->steps = 7;
    c->prune.epochs_prune = 1;
    c->prune.epochs_finetune = 1;
    c->prune.train_count = 20000;
    snprintf(c->attack.version, sizeof c->attack.version, "standard");
    c->attack.count = 200;
    c->attack.pgd_steps = 10;
    snprintf(c->fmn.norm, sizeof c->fmn.norm, "linf");
    c->fmn.steps = 100;
}

typedef struct reader {
    ti_ctx *ctx;
    const char *path;
} reader;

static ti_status bad(reader *r, const char *key, const char *what)
{
    return ti_ctx_error(r->ctx, TI_ERR_FORMAT, "%s: \"%s\" %s", r->path, key, what);
}

static ti_status get_number(reader *r, const ti_json *v, const char *key, double lo, double hi,
                            double *out)
{
    if (ti_json_typeof(v) != TI_JSON_NUMBER)
        return bad(r, key, "must be a number");
    double x = ti_json_number(v);
    if (!(x >= lo && x <= hi)) {
        char msg[96];
        snprintf(msg, sizeof msg, "is %g, outside [%g, %g]", x, lo, hi);
        return bad(r, key, msg);
    }
    *out = x;
    return TI_OK;
}

static ti_status get_int(reader *r, const ti_json *v, const char *key, int lo, int hi, int *out)
{
    double x;
    ti_status s = get_number(r, v, key, lo, hi, &x);
    if (s == TI_OK && x != (double)(int)x)
        return bad(r, key, "must be a whole number");
    if (s == TI_OK)
        *out = (int)x;
    return s;
}

static ti_status get_float(reader *r, const ti_json *v, const char *key, double lo, double hi,
                           float *out)
{
    double x;
    ti_status s = get_number(r, v, key, lo, hi, &x);
    if (s == TI_OK)
        *out = (float)x;
    return s;
}

static ti_status get_string(reader *r, const ti_json *v, const char *key, char *out, size_t n)
{
    const char *s = ti_json_string(v);
    if (!s)
        return bad(r, key, "must be a string");
    if (strlen(s) >= n)
        return bad(r, key, "is too long");
    snprintf(out, n, "%s", s);
    return TI_OK;
}

/* A list of strings into rows of `width` chars. */
static ti_status get_strings(reader *r, const ti_json *v, const char *key, char *rows,
                             size_t width, int *n)
{
    if (ti_json_typeof(v) != TI_JSON_ARRAY || ti_json_length(v) == 0 ||
        ti_json_length(v) > SC_MAX_LIST)
        return bad(r, key, "must be a non-empty list of at most 8 strings");
    *n = (int)ti_json_length(v);
    for (int i = 0; i < *n; i++) {
        ti_status s = get_string(r, ti_json_at(v, (size_t)i), key, rows + (size_t)i * width,
                                 width);
        if (s != TI_OK)
            return s;
    }
    return TI_OK;
}

static ti_status read_dense(reader *r, const ti_json *o, study_config *c)
{
    for (size_t i = 0; i < ti_json_length(o); i++) {
        const char *k = ti_json_key_at(o, i);
        const ti_json *v = ti_json_at(o, i);
        ti_status s;
        if (!strcmp(k, "epochs"))
            s = get_int(r, v, "dense.epochs", 0, 100000, &c->dense.epochs);
        else if (!strcmp(k, "lr"))
            s = get_float(r, v, "dense.lr", 0, 10, &c->dense.lr);
        else if (!strcmp(k, "weight_decay"))
            s = get_float(r, v, "dense.weight_decay", 0, 1, &c->dense.weight_decay);
        else if (!strcmp(k, "loss"))
            s = get_string(r, v, "dense.loss", c->dense.loss, sizeof c->dense.loss);
        else
            s = bad(r, k, "is not a key of \"dense\" (epochs, lr, weight_decay, loss)");
        if (s != TI_OK)
            return s;
    }
    return TI_OK;
}

static ti_status read_prune(reader *r, const ti_json *o, study_config *c)
{
    for (size_t i = 0; i < ti_json_length(o); i++) {
        const char *k = ti_json_key_at(o, i);
        const ti_json *v = ti_json_at(o, i);
        ti_status s;
        if (!strcmp(k, "epochs_prune"))
            s = get_int(r, v, "prune.epochs_prune", 0, 100000, &c->prune.epochs_prune);
        else if (!strcmp(k, "epochs_finetune"))
            s = get_int(r, v, "prune.epochs_finetune", 0, 100000, &c->prune.epochs_finetune);
        else if (!strcmp(k, "train_count"))
            s = get_int(r, v, "prune.train_count", 0, 100000000, &c->prune.train_count);
        else
            s = bad(r, k, "is not a key of \"prune\" (epochs_prune, epochs_finetune, "
                          "train_count)");
        if (s != TI_OK)
            return s;
    }
    return TI_OK;
}

static ti_status read_attack(reader *r, const ti_json *o, study_config *c)
{
    for (size_t i = 0; i < ti_json_length(o); i++) {
        const char *k = ti_json_key_at(o, i);
        const ti_json *v = ti_json_at(o, i);
        ti_status s;
        if (!strcmp(k, "version"))
            s = get_string(r, v, "attack.version", c->attack.version, sizeof c->attack.version);
        else if (!strcmp(k, "count"))
            s = get_int(r, v, "attack.count", 1, 100000000, &c->attack.count);
        else if (!strcmp(k, "pgd_steps"))
            s = get_int(r, v, "attack.pgd_steps", 1, 100000, &c->attack.pgd_steps);
        else
            s = bad(r, k, "is not a key of \"attack\" (version, count, pgd_steps)");
        if (s != TI_OK)
            return s;
    }
    return TI_OK;
}

static ti_status read_fmn(reader *r, const ti_json *o, study_config *c)
{
    for (size_t i = 0; i < ti_json_length(o); i++) {
        const char *k = ti_json_key_at(o, i);
        const ti_json *v = ti_json_at(o, i);
        ti_status s;
        if (!strcmp(k, "norm"))
            s = get_string(r, v, "fmn.norm", c->fmn.norm, sizeof c->fmn.norm);
        else if (!strcmp(k, "steps"))
            s = get_int(r, v, "fmn.steps", 1, 1000000, &c->fmn.steps);
        else
            s = bad(r, k, "is not a key of \"fmn\" (norm, steps)");
        if (s != TI_OK)
            return s;
    }
    return TI_OK;
}

static ti_status read_top(reader *r, const ti_json *j, study_config *c)
{
    if (ti_json_typeof(j) != TI_JSON_OBJECT)
        return ti_ctx_error(r->ctx, TI_ERR_FORMAT, "%s: the configuration must be an object",
                            r->path);
    for (size_t i = 0; i < ti_json_length(j); i++) {
        const char *k = ti_json_key_at(j, i);
        const ti_json *v = ti_json_at(j, i);
        ti_status s;
        int is_obj = ti_json_typeof(v) == TI_JSON_OBJECT;
        double seed;
        if (!strcmp(k, "name"))
            s = get_string(r, v, k, c->name, sizeof c->name);
        else if (!strcmp(k, "data"))
            s = get_string(r, v, k, c->data, sizeof c->data);
        else if (!strcmp(k, "networks"))
            s = get_strings(r, v, k, &c->networks[0][0], sizeof c->networks[0], &c->nnet);
        else if (!strcmp(k, "methods"))
            s = get_strings(r, v, k, &c->methods[0][0], sizeof c->methods[0], &c->nmethod);
        else if (!strcmp(k, "sparsities")) {
            s = ti_json_typeof(v) == TI_JSON_ARRAY && ti_json_length(v) > 0 &&
                        ti_json_length(v) <= SC_MAX_LIST
                    ? TI_OK
                    : bad(r, k, "must be a non-empty list of at most 8 numbers");
            c->nsparsity = (int)ti_json_length(v);
            for (int q = 0; q < c->nsparsity && s == TI_OK; q++)
                s = get_number(r, ti_json_at(v, (size_t)q), k, 0.0, 0.9999, &c->sparsities[q]);
        } else if (!strcmp(k, "train_count"))
            s = get_int(r, v, k, 0, 100000000, &c->train_count);
        else if (!strcmp(k, "test_count"))
            s = get_int(r, v, k, 0, 100000000, &c->test_count);
        else if (!strcmp(k, "batch_size"))
            s = get_int(r, v, k, 1, 100000, &c->batch);
        else if (!strcmp(k, "seed")) {
            s = get_number(r, v, k, 0, 9e15, &seed);
            c->seed = s == TI_OK ? (uint64_t)seed : c->seed;
        }
        else if (!strcmp(k, "eps"))
            s = get_float(r, v, k, 0, 1, &c->eps);
        else if (!strcmp(k, "step"))
            s = get_float(r, v, k, 0, 1, &c->step);
        else if (!strcmp(k, "steps"))
            s = get_int(r, v, k, 0, 100000, &c->steps);
        else if (!strcmp(k, "dense"))
            s = is_obj ? read_dense(r, v, c) : bad(r, k, "must be an object");
        else if (!strcmp(k, "prune"))
            s = is_obj ? read_prune(r, v, c) : bad(r, k, "must be an object");
        else if (!strcmp(k, "attack"))
            s = is_obj ? read_attack(r, v, c) : bad(r, k, "must be an object");
        else if (!strcmp(k, "fmn"))
            s = is_obj ? read_fmn(r, v, c) : bad(r, k, "must be an object");
        else if (k[0] == '_')
            s = TI_OK; /* "_comment" and friends */
        else
            s = bad(r, k, "is not a configuration key (see docs/app-study.md)");
        if (s != TI_OK)
            return s;
    }
    return TI_OK;
}

ti_status study_config_load(ti_ctx *ctx, const char *path, study_config *c)
{
    char *text;
    size_t len;
    ti_status s = ti_read_file(ctx, path, &text, &len);
    if (s != TI_OK)
        return s;
    ti_json *j = NULL;
    s = ti_json_parse(ctx, text, len, &j);
    free(text);
    if (s != TI_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ti_ctx_errmsg(ctx));
        return ti_ctx_error(ctx, s, "%s: %s", path, msg);
    }
    reader r = {ctx, path};
    s = read_top(&r, j, c);
    ti_json_free(j);
    return s;
}

static void kv_str(ti_jw *w, const char *key, const char *v)
{
    ti_jw_key(w, key);
    ti_jw_string(w, v);
}

static void kv_int(ti_jw *w, const char *key, long long v)
{
    ti_jw_key(w, key);
    ti_jw_int(w, v);
}

/* A float as the shortest decimal that reads back to it (0.1f prints as 0.1). */
static double f2d(float v)
{
    char b[32];
    snprintf(b, sizeof b, "%.7g", v);
    return strtod(b, NULL);
}

static void kv_num(ti_jw *w, const char *key, double v)
{
    ti_jw_key(w, key);
    ti_jw_number(w, v);
}

static void put_strings(ti_jw *w, const char *key, const char *rows, size_t width, int n)
{
    ti_jw_key(w, key);
    ti_jw_begin_array(w);
    for (int i = 0; i < n; i++)
        ti_jw_string(w, rows + (size_t)i * width);
    ti_jw_end_array(w);
}

char *study_config_json(const study_config *c)
{
    ti_jw *w = ti_jw_new();
    if (!w)
        return NULL;
    ti_jw_begin_object(w);
    kv_str(w, "name", c->name);
    kv_str(w, "data", c->data);
    put_strings(w, "networks", &c->networks[0][0], sizeof c->networks[0], c->nnet);
    put_strings(w, "methods", &c->methods[0][0], sizeof c->methods[0], c->nmethod);
    ti_jw_key(w, "sparsities");
    ti_jw_begin_array(w);
    for (int i = 0; i < c->nsparsity; i++)
        ti_jw_number(w, c->sparsities[i]);
    ti_jw_end_array(w);
    kv_int(w, "train_count", c->train_count);
    kv_int(w, "test_count", c->test_count);
    kv_int(w, "batch_size", c->batch);
    kv_int(w, "seed", (long long)c->seed);
    kv_num(w, "eps", f2d(c->eps));
    kv_num(w, "step", f2d(c->step));
    kv_int(w, "steps", c->steps);
    ti_jw_key(w, "dense");
    ti_jw_begin_object(w);
    kv_int(w, "epochs", c->dense.epochs);
    kv_num(w, "lr", f2d(c->dense.lr));
    kv_num(w, "weight_decay", f2d(c->dense.weight_decay));
    kv_str(w, "loss", c->dense.loss);
    ti_jw_end_object(w);
    ti_jw_key(w, "prune");
    ti_jw_begin_object(w);
    kv_int(w, "epochs_prune", c->prune.epochs_prune);
    kv_int(w, "epochs_finetune", c->prune.epochs_finetune);
    kv_int(w, "train_count", c->prune.train_count);
    ti_jw_end_object(w);
    ti_jw_key(w, "attack");
    ti_jw_begin_object(w);
    kv_str(w, "version", c->attack.version);
    kv_int(w, "count", c->attack.count);
    kv_int(w, "pgd_steps", c->attack.pgd_steps);
    ti_jw_end_object(w);
    ti_jw_key(w, "fmn");
    ti_jw_begin_object(w);
    kv_str(w, "norm", c->fmn.norm);
    kv_int(w, "steps", c->fmn.steps);
    ti_jw_end_object(w);
    ti_jw_end_object(w);
    size_t len;
    const char *t = ti_jw_text(w, &len);
    char *out = t ? strdup(t) : NULL;
    ti_jw_free(w);
    return out;
}
