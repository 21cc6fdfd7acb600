/* Shared by every app: builds the model of `--model NAME --weights FILE` for a data set's
 * input shape and loads the checkpoint, comparing the file's metadata (ti_model_save writes
 * arch, input, classes and normalize) with the request first so that mistakes read clearly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app_cli.h"
#include "app_model.h"
#include "thinice/safetensors.h"

const char *app_model_names(void)
{
    static char buf[256];
    if (!buf[0]) {
        size_t u = 0;
        for (const char *const *a = ti_model_arch_names(); *a && u < sizeof buf; a++)
            u += (size_t)snprintf(buf + u, sizeof buf - u, "%s%s", u ? ", " : "", *a);
    }
    return buf;
}

int app_model_known(const char *name)
{
    if (!name)
        return 0;
    for (const char *const *a = ti_model_arch_names(); *a; a++)
        if (strcmp(*a, name) == 0)
            return 1;
    return 0;
}

/* "mean=a,b,c;std=d,e,f" (ti_model_save's format) into cfg; 0 if malformed. */
static int parse_normalize(const char *s, ti_model_config *cfg)
{
    const char *m = strstr(s, "mean="), *sd = strstr(s, "std=");
    if (!m || !sd)
        return 0;
    const char *p[2] = {m + 5, sd + 4};
    float *dst[2] = {cfg->mean, cfg->std};
    for (int k = 0; k < 2; k++) {
        const char *q = p[k];
        for (int c = 0; c < cfg->C; c++) {
            char *end;
            errno = 0;
            double v = strtod(q, &end);
            if (end == q || errno || (k == 1 && !(v > 0)))
                return 0;
            dst[k][c] = (float)v;
            q = end;
            if (c + 1 < cfg->C) {
                if (*q != ',')
                    return 0;
                q++;
            }
        }
    }
    cfg->normalize = 1;
    return 1;
}

/* Compares the checkpoint's metadata with the request and fills cfg's normalisation. */
static ti_status check_file(ti_ctx *ctx, const char *name, const char *path,
                            ti_model_config *cfg)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ti_ctx_error(ctx, TI_ERR_IO, "weights file %s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return ti_ctx_error(ctx, TI_ERR_IO, "weights file %s: not a regular file", path);
    ti_st_file *f;
    ti_status s = ti_st_open(ctx, path, &f);
    if (s != TI_OK)
        return s; /* the message names the file and the problem */
    const char *arch = ti_st_metadata(f, "arch"), *in = ti_st_metadata(f, "input");
    const char *cls = ti_st_metadata(f, "classes"), *nrm = ti_st_metadata(f, "normalize");
    const char *mean = ti_st_metadata(f, "mean"), *std = ti_st_metadata(f, "std");
    char joined[600]; /* a converted checkpoint's "mean" and "std" keys, in our form */
    if (!nrm && mean && std) {
        snprintf(joined, sizeof joined, "mean=%.250s;std=%.250s", mean, std);
        nrm = joined;
    }
    char want[64];
    snprintf(want, sizeof want, "%dx%dx%d", cfg->C, cfg->H, cfg->W);
    if (arch && strcmp(arch, name) != 0)
        s = ti_ctx_error(ctx, TI_ERR_ARG, "weights file %s holds a %s checkpoint, not %s "
                         "(use --model %s)", path, arch, name, arch);
    else if (in && strcmp(in, want) != 0)
        s = ti_ctx_error(ctx, TI_ERR_SHAPE, "weights file %s is for %s inputs but the data are "
                         "%s (%s)", path, in, want,
                         cfg->C == 1 ? "a CIFAR-10 model given Fashion-MNIST data?"
                                     : "a Fashion-MNIST model given CIFAR-10 data?");
    else if (cls && atoi(cls) != cfg->M)
        s = ti_ctx_error(ctx, TI_ERR_SHAPE, "weights file %s is for %s classes but the data "
                         "have %d", path, cls, cfg->M);
    else if (nrm && !parse_normalize(nrm, cfg))
        s = ti_ctx_error(ctx, TI_ERR_FORMAT, "weights file %s: malformed normalisation "
                         "metadata '%s' (want one positive std and one mean per channel)",
                         path, nrm);
    else if ((mean != NULL) != (std != NULL))
        s = ti_ctx_error(ctx, TI_ERR_FORMAT, "weights file %s: metadata has %s but not %s",
                         path, mean ? "mean" : "std", mean ? "std" : "mean");
    ti_st_close(f);
    return s;
}

ti_status app_model_open(ti_ctx *ctx, const char *name, const char *weights, int C, int H,
                         int W, int M, ti_model **out)
{
    *out = NULL;
    if (name && ti_onnx_is_spec(name))
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: %s", name, APP_MODEL_ONNX_REFUSAL);
    if (!app_model_known(name))
        return ti_ctx_error(ctx, TI_ERR_ARG, "unknown model '%s' (one of %s)",
                            name ? name : "(none)", app_model_names());
    ti_model_config cfg = {.C = C, .H = H, .W = W, .M = M};
    ti_status s = TI_OK;
    if (weights && (s = check_file(ctx, name, weights, &cfg)) != TI_OK)
        return s;
    ti_model *m;
    if ((s = ti_model_new(ctx, name, &cfg, &m)) != TI_OK)
        return s;
    if (weights && (s = ti_model_load(m, weights)) != TI_OK) {
        ti_model_free(m);
        return s;
    }
    *out = m;
    return TI_OK;
}

ti_status app_model_open_for(ti_ctx *ctx, const char *name, const char *weights,
                             const ti_dataset *d, ti_model **out)
{
    return app_model_open(ctx, name, weights, d->C, d->H, d->W, d->M, out);
}

int app_model_refuse_onnx(const char *name)
{
    if (!name || !ti_onnx_is_spec(name))
        return -1;
    return app_usage_error("--model %s: %s", name, APP_MODEL_ONNX_REFUSAL);
}

ti_status app_model_open_onnx(ti_ctx *ctx, const char *spec, const ti_dataset *d,
                              ti_onnx **out)
{
    *out = NULL;
    ti_onnx *g;
    ti_status s = ti_onnx_load(ctx, spec, &g);
    if (s != TI_OK)
        return s; /* the message names the file and the problem */
    int C, H, W, M;
    ti_onnx_shape(g, &C, &H, &W, &M);
    const char *path = ti_onnx_spec_path(spec);
    if (C != d->C || H != d->H || W != d->W)
        s = ti_ctx_error(ctx, TI_ERR_SHAPE, "ONNX model %s takes %dx%dx%d inputs but the %s "
                         "data are %dx%dx%d", path, C, H, W, d->name, d->C, d->H, d->W);
    else if (M != d->M)
        s = ti_ctx_error(ctx, TI_ERR_SHAPE, "ONNX model %s has %d outputs but the %s data "
                         "have %d classes", path, M, d->name, d->M);
    if (s != TI_OK) {
        ti_onnx_free(g);
        return s;
    }
    *out = g;
    return TI_OK;
}

ti_status app_net_open(ti_ctx *ctx, const char *model, const char *weights, const ti_dataset *d,
                       int batch, app_net *out)
{
    memset(out, 0, sizeof *out);
    ti_status s;
    if (ti_onnx_is_spec(model)) {
        out->file = ti_onnx_spec_path(model);
        s = app_model_open_onnx(ctx, model, d, &out->onnx);
        if (s == TI_OK)
            s = ti_onnx_classifier(out->onnx, batch, &out->f);
    } else {
        out->file = weights;
        s = app_model_open_for(ctx, model, weights, d, &out->model);
        if (s == TI_OK)
            s = ti_model_classifier(out->model, batch, &out->f);
    }
    if (s != TI_OK)
        app_net_close(out);
    return s;
}

void app_net_close(app_net *n)
{
    ti_model_free(n->model);
    ti_onnx_free(n->onnx);
    memset(n, 0, sizeof *n);
}

void app_net_describe(const app_net *n, const char *model, char *buf, size_t len)
{
    if (n->onnx)
        snprintf(buf, len, "%s (ONNX, opset %d, %d nodes, producer %s)", n->file,
                 ti_onnx_opset(n->onnx), ti_onnx_nodes(n->onnx),
                 ti_onnx_producer(n->onnx)[0] ? ti_onnx_producer(n->onnx) : "unknown");
    else
        snprintf(buf, len, "%s (%s)", model, n->file ? n->file : "random weights");
}

double app_net_sparsity(app_net *n)
{
    if (n->model)
        return ti_model_sparsity(n->model);
    size_t zeros = 0, total = 0;
    for (int i = 0; n->onnx && i < ti_onnx_nparams(n->onnx); i++) {
        const ti_param *p = ti_onnx_param(n->onnx, i);
        if (p->kind != TI_PARAM_WEIGHT)
            continue;
        for (size_t j = 0; j < p->t.size; j++)
            zeros += p->t.data[j] == 0.0f;
        total += p->t.size;
    }
    return total ? (double)zeros / (double)total : 0.0;
}
