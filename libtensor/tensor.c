/* Leaf tensors: creation, views, shape helpers and the finiteness check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

size_t ti_shape_size(int ndim, const int *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    return n;
}

static void set_shape(ti_tensor *t, int ndim, const int *shape)
{
    t->ndim = ndim;
    for (int i = 0; i < TI_MAX_DIMS; i++)
        t->shape[i] = i < ndim ? shape[i] : 1;
    t->size = ti_shape_size(ndim, shape);
}

ti_tensor *ti_tensor_new(int ndim, const int *shape)
{
    if (ndim < 0 || ndim > TI_MAX_DIMS)
        return NULL;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return NULL;
    ti_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    set_shape(t, ndim, shape);
    t->data = ti_calloc(t->size * sizeof(float));
    if (!t->data) {
        free(t);
        return NULL;
    }
    return t;
}

void ti_tensor_free(ti_tensor *t)
{
    if (!t)
        return;
    ti_free(t->data);
    ti_free(t->grad);
    free(t);
}

ti_status ti_tensor_alloc_grad(ti_tensor *t)
{
    if (t->grad)
        return TI_OK;
    t->grad = ti_calloc(t->size * sizeof(float));
    return t->grad ? TI_OK : TI_ERR_NOMEM;
}

void ti_tensor_view(ti_tensor *t, float *data, float *grad, int ndim, const int *shape)
{
    memset(t, 0, sizeof *t);
    set_shape(t, ndim, shape);
    t->data = data;
    t->grad = grad;
}

const char *ti_shape_str(const ti_tensor *t, char *buf, size_t len)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < t->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %d" : "%d", t->shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, ")");
    return buf;
}

ti_status ti_tensor_check_finite(ti_ctx *ctx, const ti_tensor *t, const char *what)
{
    for (size_t i = 0; i < t->size; i++)
        if (!isfinite(t->data[i]))
            return ti_ctx_error(ctx, TI_ERR_NAN, "%s: element %zu is %s", what, i,
                                isnan(t->data[i]) ? "NaN" : "infinite");
    return TI_OK;
}

bool ti__same_shape(const ti_tensor *a, const ti_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}
