/* thinice-study's configuration: defaults, and a table of fields that both the strict JSON
 * reader (unknown keys and wrong types are errors naming the key) and the writer walk. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "config.h"
#include "thinice/data.h"
#include "thinice/eval.h"
#include "thinice/fileio.h"
#include "thinice/json.h"
#include "thinice/prune.h"

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
    c->train_count = 20000;
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
    c->prune.train_count = 5000;
    /* AutoAttack standard, as the paper's evaluation (which uses "plus": configs/paper.json);
     * it is 60% of the default study's 15 minutes */
    snprintf(c->attack.version, sizeof c->attack.version, "standard");
    c->attack.count = 100;
    c->attack.pgd_steps = 10;
    snprintf(c->fmn.norm, sizeof c->fmn.norm, "linf");
    c->fmn.steps = 300;
    c->curves.count = 100;
}

/* ---- the field table ---------------------------------------------------------------------- */

typedef enum ftype { F_INT, F_FLOAT, F_U64, F_STR, F_STRS, F_NUMS } ftype;

typedef struct field {
    const char *section; /* NULL: top level */
    const char *key;
    ftype type;
    size_t off, size;    /* the member; F_STR: its capacity; F_STRS: one row's width */
    size_t count_off;    /* F_STRS, F_NUMS: the member holding the list's length */
    double lo, hi;       /* numbers: the accepted range (list lengths: 1..SC_MAX_LIST) */
} field;

#define M(member) offsetof(study_config, member), sizeof(((study_config *)0)->member)
#define ROW(member) offsetof(study_config, member), sizeof(((study_config *)0)->member[0])

static const field fields[] = {
    {NULL, "name", F_STR, M(name), 0, 0, 0},
    {NULL, "data", F_STR, M(data), 0, 0, 0},
    {NULL, "networks", F_STRS, ROW(networks), offsetof(study_config, nnet), 0, 0},
    {NULL, "methods", F_STRS, ROW(methods), offsetof(study_config, nmethod), 0, 0},
    {NULL, "sparsities", F_NUMS, ROW(sparsities), offsetof(study_config, nsparsity), 0, 0.9999},
    {NULL, "train_count", F_INT, M(train_count), 0, 0, 1e8},
    {NULL, "test_count", F_INT, M(test_count), 0, 0, 1e8},
    {NULL, "batch_size", F_INT, M(batch), 0, 1, 1e5},
    {NULL, "seed", F_U64, M(seed), 0, 0, 9e15},
    {NULL, "eps", F_FLOAT, M(eps), 0, 0, 1},
    {NULL, "step", F_FLOAT, M(step), 0, 0, 1},
    {NULL, "steps", F_INT, M(steps), 0, 0, 1e5},
    {"dense", "epochs", F_INT, M(dense.epochs), 0, 0, 1e5},
    {"dense", "lr", F_FLOAT, M(dense.lr), 0, 0, 10},
    {"dense", "weight_decay", F_FLOAT, M(dense.weight_decay), 0, 0, 1},
    {"dense", "loss", F_STR, M(dense.loss), 0, 0, 0},
    {"prune", "epochs_prune", F_INT, M(prune.epochs_prune), 0, 0, 1e5},
    {"prune", "epochs_finetune", F_INT, M(prune.epochs_finetune), 0, 0, 1e5},
    {"prune", "train_count", F_INT, M(prune.train_count), 0, 0, 1e8},
    {"attack", "version", F_STR, M(attack.version), 0, 0, 0},
    {"attack", "count", F_INT, M(attack.count), 0, 1, 1e8},
    {"attack", "pgd_steps", F_INT, M(attack.pgd_steps), 0, 1, 1e5},
    {"fmn", "norm", F_STR, M(fmn.norm), 0, 0, 0},
    {"fmn", "steps", F_INT, M(fmn.steps), 0, 1, 1e6},
    {"curves", "count", F_INT, M(curves.count), 0, 1, 1e8},
    {"curves", "eps_max", F_FLOAT, M(curves.eps_max), 0, 0, 1e3},
};
#define NFIELDS (sizeof fields / sizeof fields[0])
static const char *const sections[] = {"dense", "prune", "attack", "fmn", "curves"};

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct reader {
    ti_ctx *ctx;
    const char *path;
} reader;

static ti_status bad(reader *r, const char *sec, const char *key, const char *what)
{
    return ti_ctx_error(r->ctx, TI_ERR_FORMAT, "%s: \"%s%s%s\" %s", r->path, sec ? sec : "",
                        sec ? "." : "", key, what);
}

static ti_status read_number(reader *r, const field *f, const ti_json *v, double *x)
{
    if (ti_json_typeof(v) != TI_JSON_NUMBER)
        return bad(r, f->section, f->key, "must be a number");
    *x = ti_json_number(v);
    if (!(*x >= f->lo && *x <= f->hi)) {
        char msg[96];
        snprintf(msg, sizeof msg, "is %g, outside [%g, %g]", *x, f->lo, f->hi);
        return bad(r, f->section, f->key, msg);
    }
    if (f->type != F_FLOAT && f->type != F_NUMS && *x != (double)(long long)*x)
        return bad(r, f->section, f->key, "must be a whole number");
    return TI_OK;
}

static ti_status read_string(reader *r, const field *f, const ti_json *v, char *dst)
{
    const char *s = ti_json_string(v);
    if (!s)
        return bad(r, f->section, f->key, "must be a string");
    if (strlen(s) >= f->size)
        return bad(r, f->section, f->key, "is too long");
    memcpy(dst, s, strlen(s) + 1);
    return TI_OK;
}

static ti_status read_field(reader *r, const field *f, const ti_json *v, study_config *c)
{
    char *at = (char *)c + f->off;
    double x;
    ti_status s = TI_OK;
    switch (f->type) {
    case F_STR:
        return read_string(r, f, v, at);
    case F_STRS:
    case F_NUMS: {
        size_t n = ti_json_length(v);
        if (ti_json_typeof(v) != TI_JSON_ARRAY || n == 0 || n > SC_MAX_LIST)
            return bad(r, f->section, f->key, "must be a list of 1 to 8 values");
        for (size_t i = 0; i < n && s == TI_OK; i++) {
            if (f->type == F_STRS)
                s = read_string(r, f, ti_json_at(v, i), at + i * f->size);
            else if ((s = read_number(r, f, ti_json_at(v, i), &x)) == TI_OK)
                ((double *)at)[i] = x;
        }
        *(int *)((char *)c + f->count_off) = (int)n;
        return s;
    }
    default:
        if ((s = read_number(r, f, v, &x)) != TI_OK)
            return s;
        if (f->type == F_INT)
            *(int *)at = (int)x;
        else if (f->type == F_FLOAT)
            *(float *)at = (float)x;
        else
            *(uint64_t *)at = (uint64_t)x;
        return TI_OK;
    }
}

/* The members of one object (the top level, or a section). */
static ti_status read_object(reader *r, const char *sec, const ti_json *o, study_config *c)
{
    for (size_t i = 0; i < ti_json_length(o); i++) {
        const char *k = ti_json_key_at(o, i);
        const ti_json *v = ti_json_at(o, i);
        if (k[0] == '_') /* "_comment" and friends */
            continue;
        int is_section = 0;
        for (size_t q = 0; !sec && q < sizeof sections / sizeof sections[0]; q++)
            is_section |= strcmp(k, sections[q]) == 0;
        ti_status s;
        if (!sec && !strcmp(k, "models"))
            s = study_config_read_models(r->ctx, r->path, v, c);
        else if (!sec && !strcmp(k, "pairs"))
            s = study_config_read_pairs(r->ctx, r->path, v, c);
        else if (is_section)
            s = ti_json_typeof(v) == TI_JSON_OBJECT ? read_object(r, k, v, c)
                                                   : bad(r, NULL, k, "must be an object");
        else {
            const field *f = NULL;
            for (size_t q = 0; q < NFIELDS && !f; q++)
                if ((sec ? fields[q].section && !strcmp(sec, fields[q].section)
                         : !fields[q].section) && !strcmp(k, fields[q].key))
                    f = &fields[q];
            s = f ? read_field(r, f, v, c)
                  : bad(r, sec, k, "is not a configuration key (see docs/app-study.md)");
        }
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
    s = ti_json_typeof(j) == TI_JSON_OBJECT
            ? read_object(&r, NULL, j, c)
            : ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: the configuration must be an object", path);
    ti_json_free(j);
    return s;
}

/* ---- checking ------------------------------------------------------------------------------ */

/* The index of the first repeated entry of a list of n strings of width w, or -1. */
static int repeated(const char *list, int n, size_t w)
{
    for (int i = 1; i < n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(list + (size_t)i * w, list + (size_t)j * w))
                return i;
    return -1;
}

static ti_status check_names(ti_ctx *ctx, const study_config *c)
{
    for (int i = 0; i < c->nnet; i++) {
        int known = 0;
        for (const char *const *a = ti_model_arch_names(); *a; a++)
            known |= !strcmp(*a, c->networks[i]);
        if (!known)
            return ti_ctx_error(ctx, TI_ERR_ARG, "networks: unknown architecture \"%s\"",
                                c->networks[i]);
    }
    for (int i = 0; i < c->nmethod; i++) {
        ti_prune_method m;
        if (ti_prune_method_parse(c->methods[i], &m) != TI_OK)
            return ti_ctx_error(ctx, TI_ERR_ARG, "methods: \"%s\" is not magnitude, hydra, "
                                "admm or atmc", c->methods[i]);
    }
    if (repeated(c->networks[0], c->nnet, sizeof c->networks[0]) >= 0 ||
        repeated(c->methods[0], c->nmethod, sizeof c->methods[0]) >= 0)
        return ti_ctx_error(ctx, TI_ERR_ARG, "networks and methods must not repeat an entry");
    for (int i = 1; i < c->nsparsity; i++)
        for (int j = 0; j < i; j++)
            if (c->sparsities[i] == c->sparsities[j])
                return ti_ctx_error(ctx, TI_ERR_ARG, "sparsities: %g appears twice",
                                    c->sparsities[i]);
    return TI_OK;
}

/* Every network of a trained study has methods; pairs name known networks and methods. */
static ti_status check_pairs(ti_ctx *ctx, const study_config *c)
{
    for (int i = 0; i < c->npairs; i++) {
        int known = 0;
        for (int k = 0; k < c->nnet; k++)
            known |= !strcmp(c->networks[k], c->pairs[i].network);
        if (!known)
            return ti_ctx_error(ctx, TI_ERR_ARG, "pairs: %s is not one of the networks",
                                c->pairs[i].network);
        for (int j = 0; j < c->pairs[i].nmethod; j++) {
            ti_prune_method m;
            if (ti_prune_method_parse(c->pairs[i].methods[j], &m) != TI_OK)
                return ti_ctx_error(ctx, TI_ERR_ARG, "pairs.%s: \"%s\" is not magnitude, "
                                    "hydra, admm or atmc", c->pairs[i].network,
                                    c->pairs[i].methods[j]);
        }
    }
    const char *m[SC_MAX_LIST];
    for (int k = 0; k < c->nnet; k++)
        if (study_config_methods(c, k, m) == 0)
            return ti_ctx_error(ctx, TI_ERR_ARG, "pairs: network %s has no methods",
                                c->networks[k]);
    return TI_OK;
}

ti_status study_config_check(ti_ctx *ctx, const study_config *c)
{
    ti_adv_kind k;
    ti_norm n;
    ti_eval_params p;
    struct stat sb;
    ti_status s = c->nexternal ? study_config_check_models(ctx, c) : check_names(ctx, c);
    if (s == TI_OK && !c->nexternal)
        s = check_pairs(ctx, c);
    if (s != TI_OK)
        return s;
    if (ti_adv_kind_parse(c->dense.loss, &k) != TI_OK)
        return ti_ctx_error(ctx, TI_ERR_ARG, "dense.loss: \"%s\" is not natural, pgd, trades or "
                            "mixed", c->dense.loss);
    if (ti_norm_parse(c->fmn.norm, &n) != TI_OK)
        return ti_ctx_error(ctx, TI_ERR_ARG, "fmn.norm: \"%s\" is not linf, l2, l1 or l0",
                            c->fmn.norm);
    if (ti_eval_params_init(ctx, c->attack.version, TI_NORM_LINF, c->eps, &p) != TI_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", ti_ctx_errmsg(ctx));
        return ti_ctx_error(ctx, TI_ERR_ARG, "attack.version: %s", msg);
    }
    if (stat(c->data, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ti_ctx_error(ctx, TI_ERR_ARG, "data: %s is not a directory (point \"data\" or "
                            "--data at a Fashion-MNIST or CIFAR-10 copy)", c->data);
    if (c->test_count > 0 && c->attack.count > c->test_count)
        return ti_ctx_error(ctx, TI_ERR_ARG, "attack.count %d is more than test_count %d",
                            c->attack.count, c->test_count);
    return TI_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */

static void write_field(ti_jw *w, const field *f, const study_config *c)
{
    const char *at = (const char *)c + f->off;
    int n = f->count_off ? *(const int *)((const char *)c + f->count_off) : 0;
    ti_jw_key(w, f->key);
    switch (f->type) {
    case F_INT: ti_jw_int(w, *(const int *)at); break;
    case F_FLOAT: ti_jw_float(w, *(const float *)at); break;
    case F_U64: ti_jw_int(w, (long long)*(const uint64_t *)at); break;
    case F_STR: ti_jw_string(w, at); break;
    case F_STRS:
    case F_NUMS:
        ti_jw_begin_array(w);
        for (int i = 0; i < n; i++) {
            if (f->type == F_STRS)
                ti_jw_string(w, at + (size_t)i * f->size);
            else
                ti_jw_number(w, ((const double *)at)[i]);
        }
        ti_jw_end_array(w);
        break;
    }
}

char *study_config_json(const study_config *c)
{
    ti_jw *w = ti_jw_new();
    if (!w)
        return NULL;
    ti_jw_begin_object(w);
    for (size_t q = 0; q < NFIELDS; q++)
        if (!fields[q].section)
            write_field(w, &fields[q], c);
    study_config_models_json(w, c);
    for (size_t k = 0; k < sizeof sections / sizeof sections[0]; k++) {
        ti_jw_key(w, sections[k]);
        ti_jw_begin_object(w);
        for (size_t q = 0; q < NFIELDS; q++)
            if (fields[q].section && !strcmp(fields[q].section, sections[k]))
                write_field(w, &fields[q], c);
        ti_jw_end_object(w);
    }
    ti_jw_end_object(w);
    size_t len;
    const char *t = ti_jw_text(w, &len);
    char *out = t ? strdup(t) : NULL;
    ti_jw_free(w);
    return out;
}
