/* Building a runnable graph from a decoded ONNX file: the value table (initializers, the
 * image input, node outputs), the operators' checks in topological order (Kahn's algorithm),
 * constants copied into one block, the parameters they play a role for, dead-node removal,
 * and a dry run on one zero image that finds shape mismatches at load time. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thinice/fileio.h"
#include "onnx_internal.h"

/* ---- names ----------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static int find_value(const ti_onnx *g, const char *name)
{
    for (size_t i = hash_str(name) & (size_t)(g->hcap - 1);; i = (i + 1) & (size_t)(g->hcap - 1)) {
        int v = g->hash[i] - 1;
        if (v < 0)
            return -1;
        if (!strcmp(g->vals[v].name, name))
            return v;
    }
}

/* Adds a value (or returns the existing one with that name). */
static int add_value(ti_onnx *g, const char *name, ti__ox_vkind kind)
{
    int v = find_value(g, name);
    if (v >= 0)
        return v;
    v = g->nvals++;
    g->vals[v] = (ti__ox_value){.name = name, .kind = kind, .param = -1, .producer = -1};
    size_t i = hash_str(name) & (size_t)(g->hcap - 1);
    while (g->hash[i])
        i = (i + 1) & (size_t)(g->hcap - 1);
    g->hash[i] = v + 1;
    return v;
}

const char *ti__ox_node_label(const ti__ox_step *s, char *buf, size_t len)
{
    if (s->node->name[0])
        snprintf(buf, len, "node '%s' (%s)", s->node->name, s->node->op);
    else
        snprintf(buf, len, "node #%d (%s, output '%s')", s->index, s->node->op,
                 s->node->nout ? s->node->out[0] : "");
    return buf;
}

ti_status ti__ox_fail(ti_onnx *g, const ti__ox_step *s, ti_status st, const char *fmt, ...)
{
    char msg[600], label[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ti_ctx_error(g->ctx, st, "%s: %s: %s", g->path, ti__ox_node_label(s, label, sizeof label),
                        msg);
}

const ti__ox_attr *ti__ox_attr_get(const ti__ox_step *s, const char *name)
{
    for (int i = 0; i < s->node->nattr; i++)
        if (!strcmp(s->node->attr[i].name, name))
            return &s->node->attr[i];
    return NULL;
}

ti_status ti__ox_set_role(ti_onnx *g, const ti__ox_step *s, int v, ti_param_kind kind)
{
    ti__ox_value *val = &g->vals[v];
    if (val->kind != OXV_FLOAT)
        return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                       "input '%s' must be a float constant (an initializer), not a computed "
                       "value",
                       val->name);
    if (val->param >= 0) {
        if (g->params[val->param].kind != kind)
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                           "constant '%s' is used in two different roles (unsupported)",
                           val->name);
        return TI_OK;
    }
    int k = g->nparams++;
    ti_param *p = &g->params[k];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", val->name);
    p->kind = kind;
    p->t = *val->t;
    p->t.requires_grad = 0;
    val->t = &p->t;
    val->param = k;
    return TI_OK;
}

/* ---- constants ---------------------------------------------------------------------------- */

/* Floats a tensor will need in the constant block (0 for non-float tensors). */
static size_t float_count(const ti__ox_tensor *t)
{
    return (t->dtype == OX_DT_FLOAT || t->dtype == OX_DT_DOUBLE) ? t->n : 0;
}

/* Makes value v the constant held by t: floats into the block at *off, small integers into
 * the value itself. Other constants stay unusable (an error if a node reads them). */
static ti_status set_constant(ti_onnx *g, int v, const ti__ox_tensor *t, size_t *off)
{
    if (g->cused + float_count(t) > g->ncf)
        return ti_ctx_error(g->ctx, TI_ERR_STATE, "%s: constant block overflow", g->path);
    ti__ox_value *val = &g->vals[v];
    if (float_count(t) || (t->n == 0 && t->dtype == OX_DT_FLOAT)) {
        if (t->ndim > TI_MAX_DIMS)
            return ti_ctx_error(g->ctx, TI_ERR_UNSUPPORTED,
                                "%s: float constant '%s' has %d dimensions (at most %d)", g->path,
                                val->name, t->ndim, TI_MAX_DIMS);
        ti_tensor *c = &g->consts[g->nconsts++];
        int shape[TI_MAX_DIMS];
        for (int i = 0; i < t->ndim; i++) {
            if (t->dims[i] > 0x7fffffff)
                return ti_ctx_error(g->ctx, TI_ERR_UNSUPPORTED, "%s: constant '%s' is too large",
                                    g->path, val->name);
            shape[i] = (int)t->dims[i];
        }
        ti_tensor_view(c, g->cblock + *off, NULL, t->ndim, shape);
        ti_status st = ti__ox_tensor_read_f32(g->ctx, g->path, t, c->data);
        if (st != TI_OK)
            return st;
        *off += t->n;
        g->cused = *off;
        val->kind = OXV_FLOAT;
        val->t = c;
        return TI_OK;
    }
    if ((t->dtype == OX_DT_INT64 || t->dtype == OX_DT_INT32) && t->n <= OX_IVAL_MAX &&
        t->ndim <= 1) {
        val->kind = OXV_INT;
        val->iv.ndim = t->ndim;
        val->iv.n = (int)t->n;
        return ti__ox_tensor_read_i64(g->ctx, g->path, t, val->iv.v);
    }
    val->kind = OXV_ACT; /* unusable: no producer, so a reader gets a clear error */
    val->producer = -2;
    return TI_OK;
}

ti_status ti__ox_const_tensor(ti_onnx *g, int v, const ti__ox_tensor *t)
{
    size_t off = g->cused;
    ti_status st = set_constant(g, v, t, &off);
    if (st == TI_OK && g->vals[v].producer == -2)
        return ti_ctx_error(g->ctx, TI_ERR_UNSUPPORTED,
                            "%s: constant '%s' is neither float nor a short integer vector",
                            g->path, g->vals[v].name);
    return st;
}

float *ti__ox_const_floats(ti_onnx *g, const ti__ox_step *s, int v, int ndim, const int *shape)
{
    size_t n = ti_shape_size(ndim, shape);
    if (g->cused + n > g->ncf) {
        ti__ox_fail(g, s, TI_ERR_STATE, "constant block overflow");
        return NULL;
    }
    ti_tensor *c = &g->consts[g->nconsts++];
    ti_tensor_view(c, g->cblock + g->cused, NULL, ndim, shape);
    g->cused += n;
    g->vals[v].kind = OXV_FLOAT;
    g->vals[v].t = c;
    return c->data;
}

/* ---- loading ------------------------------------------------------------------------------ */

static ti_status fail_graph(ti_onnx *g, ti_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ti_status fail_graph(ti_onnx *g, ti_status st, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ti_ctx_error(g->ctx, st, "%s: %s", g->path, msg);
}

/* The value table: initializers, the image input, node outputs. */
static ti_status build_values(ti_onnx *g)
{
    const ti__ox_file *f = g->file;
    size_t cap = (size_t)f->ninits + f->ninputs + 1;
    size_t floats = 0;
    for (int i = 0; i < f->ninits; i++)
        floats += float_count(&f->inits[i]);
    for (int i = 0; i < f->nnodes; i++) {
        cap += (size_t)f->nodes[i].nout;
        for (int j = 0; j < f->nodes[i].nattr; j++) {
            const ti__ox_attr *a = &f->nodes[i].attr[j];
            floats += a->t ? float_count(a->t) : 0;
            floats += (size_t)a->nfloats + 1; /* Constant's value_float(s) */
        }
    }
    g->hcap = 16;
    while ((size_t)g->hcap < 2 * cap)
        g->hcap *= 2;
    g->vals = calloc(cap, sizeof *g->vals);
    g->hash = calloc((size_t)g->hcap, sizeof *g->hash);
    g->consts = calloc(cap, sizeof *g->consts);
    g->params = calloc(cap, sizeof *g->params);
    g->cblock = ti_alloc((floats + 1) * sizeof(float));
    g->ncf = floats;
    if (!g->vals || !g->hash || !g->consts || !g->params || !g->cblock)
        return fail_graph(g, TI_ERR_NOMEM, "out of memory for %zu values", cap);
    size_t off = 0;
    for (int i = 0; i < f->ninits; i++) {
        const ti__ox_tensor *t = &f->inits[i];
        if (find_value(g, t->name) >= 0)
            return fail_graph(g, TI_ERR_FORMAT, "initializer '%s' is defined twice", t->name);
        ti_status st = set_constant(g, add_value(g, t->name, OXV_FLOAT), t, &off);
        if (st != TI_OK)
            return st;
    }
    g->input = -1;
    for (int i = 0; i < f->ninputs; i++) {
        const ti__ox_vinfo *in = &f->inputs[i];
        if (find_value(g, in->name) >= 0)
            continue; /* an initializer listed as an input (IR version < 4 style) */
        if (g->input >= 0)
            return fail_graph(g, TI_ERR_UNSUPPORTED,
                              "the graph has two inputs, '%s' and '%s' (thinice takes models "
                              "with one image input)",
                              g->vals[g->input].name, in->name);
        g->input = add_value(g, in->name, OXV_INPUT);
        if (in->ndim != 4 || in->dims[1] <= 0 || in->dims[2] <= 0 || in->dims[3] <= 0 ||
            in->dims[1] > 65535 || in->dims[2] > 65535 || in->dims[3] > 65535) {
            char sh[128] = "unknown";
            if (in->ndim >= 0) {
                int n = snprintf(sh, sizeof sh, "(");
                for (int d = 0; d < in->ndim && d < OX_MAX_DIMS && n < 100; d++)
                    n += in->dims[d] < 0
                             ? snprintf(sh + n, sizeof sh - (size_t)n, "%s?", d ? ", " : "")
                             : snprintf(sh + n, sizeof sh - (size_t)n, "%s%lld", d ? ", " : "",
                                        (long long)in->dims[d]);
                snprintf(sh + n, sizeof sh - (size_t)n, ")");
            }
            return fail_graph(g, TI_ERR_UNSUPPORTED,
                              "the graph input '%s' has shape %s: thinice needs an image batch "
                              "(N, C, H, W) with fixed C, H and W",
                              in->name, sh);
        }
        if ((size_t)in->dims[1] * (size_t)in->dims[2] * (size_t)in->dims[3] > OX_MAX_VALUES)
            return fail_graph(g, TI_ERR_UNSUPPORTED,
                              "the graph input '%s' is a %lld x %lld x %lld image: more than "
                              "%zu values, implausible for an image classifier",
                              in->name, (long long)in->dims[1], (long long)in->dims[2],
                              (long long)in->dims[3], OX_MAX_VALUES);
        g->C = (int)in->dims[1];
        g->H = (int)in->dims[2];
        g->W = (int)in->dims[3];
        g->batch_decl = in->dims[0];
    }
    if (g->input < 0)
        return fail_graph(g, TI_ERR_FORMAT, "the graph has no input besides its initializers");
    if (f->noutputs < 1)
        return fail_graph(g, TI_ERR_FORMAT, "the graph declares no output");
    for (int i = 0; i < f->nnodes; i++) {
        const ti__ox_node *n = &f->nodes[i];
        for (int j = 0; j < n->nout; j++) {
            if (!n->out[j][0])
                continue;
            int v = find_value(g, n->out[j]);
            if (v >= 0)
                return fail_graph(g, TI_ERR_FORMAT,
                                  "value '%s' is produced twice (by node #%d (%s) and before)",
                                  n->out[j], i, n->op);
            v = add_value(g, n->out[j], OXV_ACT);
            g->vals[v].producer = i;
        }
    }
    g->output = find_value(g, f->outputs[0].name);
    if (g->output < 0 || g->vals[g->output].kind != OXV_ACT || g->vals[g->output].producer < 0)
        return fail_graph(g, TI_ERR_FORMAT, "the graph output '%s' is not computed by any node",
                          f->outputs[0].name);
    return TI_OK;
}

/* Topological order of the nodes the output needs (Kahn's algorithm on the live nodes). */
static ti_status order_nodes(ti_onnx *g)
{
    const ti__ox_file *f = g->file;
    int nn = f->nnodes;
    char *live = calloc((size_t)nn + 1, 1);
    int *stack = malloc(((size_t)nn + 1) * sizeof *stack);
    int *indeg = calloc((size_t)nn + 1, sizeof *indeg);
    int *order = malloc(((size_t)nn + 1) * sizeof *order);
    ti_status st = TI_OK;
    if (!live || !stack || !indeg || !order) {
        st = fail_graph(g, TI_ERR_NOMEM, "out of memory ordering %d nodes", nn);
        goto done;
    }
    /* live nodes: walk back from the output; every input must exist */
    int sp = 0;
    live[g->vals[g->output].producer] = 1;
    stack[sp++] = g->vals[g->output].producer;
    while (sp) {
        const ti__ox_node *n = &f->nodes[stack[--sp]];
        for (int j = 0; j < n->nin; j++) {
            if (!n->in[j][0])
                continue;
            int v = find_value(g, n->in[j]);
            if (v < 0 || g->vals[v].producer == -2) {
                ti__ox_step tmp = {.node = n, .index = (int)(n - f->nodes)};
                st = ti__ox_fail(g, &tmp, v < 0 ? TI_ERR_FORMAT : TI_ERR_UNSUPPORTED,
                             v < 0 ? "input '%s' is not produced by any node, initializer or "
                                     "graph input"
                                   : "input '%s' is a constant of a type thinice cannot use "
                                     "(not float, or a large integer tensor)",
                             n->in[j]);
                goto done;
            }
            g->vals[v].uses++;
            int p = g->vals[v].producer;
            if (p >= 0 && !live[p]) {
                live[p] = 1;
                stack[sp++] = p;
            }
        }
    }
    /* in-degrees count inputs made by live nodes */
    for (int i = 0; i < nn; i++) {
        if (!live[i])
            continue;
        for (int j = 0; j < f->nodes[i].nin; j++) {
            int v = f->nodes[i].in[j][0] ? find_value(g, f->nodes[i].in[j]) : -1;
            if (v >= 0 && g->vals[v].producer >= 0)
                indeg[i]++;
        }
    }
    int no = 0;
    sp = 0;
    for (int i = nn - 1; i >= 0; i--) /* reversed, so the file's order is kept when valid */
        if (live[i] && indeg[i] == 0)
            stack[sp++] = i;
    while (sp) {
        int i = stack[--sp];
        order[no++] = i;
        /* consumers: scan nodes reading any output of i (graphs are small; this is linear
         * in the total number of edges times node outputs) */
        for (int c = nn - 1; c >= 0; c--) {
            if (!live[c])
                continue;
            for (int j = 0; j < f->nodes[c].nin; j++) {
                int v = f->nodes[c].in[j][0] ? find_value(g, f->nodes[c].in[j]) : -1;
                if (v >= 0 && g->vals[v].producer == i && --indeg[c] == 0)
                    stack[sp++] = c;
            }
        }
    }
    int nlive = 0;
    for (int i = 0; i < nn; i++)
        nlive += live[i];
    if (no != nlive) {
        st = fail_graph(g, TI_ERR_FORMAT, "the graph has a cycle (%d of %d nodes ordered)", no,
                        nlive);
        goto done;
    }
    g->steps = calloc((size_t)no + 1, sizeof *g->steps);
    if (!g->steps) {
        st = fail_graph(g, TI_ERR_NOMEM, "out of memory");
        goto done;
    }
    g->nsteps = no;
    for (int k = 0; k < no; k++) {
        ti__ox_step *s = &g->steps[k];
        s->node = &f->nodes[order[k]];
        s->index = order[k];
    }
done:
    free(live);
    free(stack);
    free(indeg);
    free(order);
    return st;
}

/* Is `name` one of the space-separated words of list? */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == n && n && !strncmp(p, name, n))
            return 1;
        p = e;
    }
    return 0;
}

/* Checks each node's operator, domain, arity and attributes, then lets the op compile it. */
static ti_status compile_steps(ti_onnx *g)
{
    for (int k = 0; k < g->nsteps; k++) {
        ti__ox_step *s = &g->steps[k];
        const ti__ox_node *n = s->node;
        if (n->domain[0] && strcmp(n->domain, "ai.onnx"))
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                           "operator domain '%s' is not supported (only the default ONNX "
                           "domain)",
                           n->domain);
        s->op = ti__ox_find_op(n->op);
        if (!s->op)
            return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                           "unknown or unsupported operator '%s' (see docs/onnx.md for the "
                           "list)",
                           n->op);
        if (n->nin < s->op->min_in || n->nin > s->op->max_in)
            return ti__ox_fail(g, s, TI_ERR_FORMAT, "%d inputs given, %s takes %d to %d", n->nin,
                           n->op, s->op->min_in, s->op->max_in);
        if (n->nout < 1 || !n->out[0][0])
            return ti__ox_fail(g, s, TI_ERR_FORMAT, "the node has no output");
        for (int j = 1; j < n->nout; j++)
            if (n->out[j][0] && j >= s->op->max_out)
                return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED,
                               "output %d ('%s') is not supported (training-only outputs?)", j,
                               n->out[j]);
        for (int j = 0; j < n->nattr; j++)
            if (!in_list(s->op->attrs, n->attr[j].name))
                return ti__ox_fail(g, s, TI_ERR_UNSUPPORTED, "unsupported attribute '%s'",
                               n->attr[j].name);
        s->nin = n->nin;
        for (int j = 0; j < n->nin; j++)
            s->in[j] = n->in[j][0] ? find_value(g, n->in[j]) : -1;
        s->out = find_value(g, n->out[0]);
        ti_status st = s->op->compile(g, s);
        if (st != TI_OK)
            return st;
    }
    return TI_OK;
}

/* Logits, or a Softmax / LogSoftmax at the end: walks back from the output through nodes
 * that only reshape or pass values on. */
static ti_onnx_output output_kind(const ti_onnx *g)
{
    static const char *const pass[] = {"Identity", "Dropout", "Cast", "Flatten", "Reshape",
                                       "Squeeze", "Unsqueeze"};
    int v = g->output;
    for (int hops = 0; hops < g->nsteps; hops++) {
        int p = g->vals[v].producer;
        const ti__ox_step *s = NULL;
        for (int k = 0; k < g->nsteps && !s; k++)
            s = g->steps[k].index == p ? &g->steps[k] : NULL;
        if (!s)
            return TI_ONNX_LOGITS;
        if (!strcmp(s->node->op, "Softmax"))
            return TI_ONNX_PROBS;
        if (!strcmp(s->node->op, "LogSoftmax"))
            return TI_ONNX_LOG_PROBS;
        int through = 0;
        for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++)
            through |= !strcmp(s->node->op, pass[i]);
        if (!through || s->nin < 1 || s->in[0] < 0)
            return TI_ONNX_LOGITS;
        v = s->in[0];
    }
    return TI_ONNX_LOGITS;
}

/* Loads from bytes the model takes ownership of (freed once the constants are copied). */
static ti_status load_owned(ti_ctx *ctx, uint8_t *copy, size_t len, const char *name,
                            ti_onnx **out)
{
    ti_onnx *g = calloc(1, sizeof *g);
    if (!g) {
        free(copy);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "onnx: out of memory");
    }
    g->ctx = ctx;
    g->buf = copy;
    snprintf(g->path, sizeof g->path, "%s", name ? name : "onnx model");
    ti_status st = ti__ox_decode(ctx, g->path, g->buf, len, &g->file);
    if (st == TI_OK && (g->file->opset < 9 || g->file->opset > 17))
        st = fail_graph(g, TI_ERR_UNSUPPORTED,
                        g->file->opset ? "the model uses opset %lld; thinice reads opsets 9 "
                                         "to 17 (re-export with opset_version between 9 and 17)"
                                       : "the model imports no default-domain opset%.0lld",
                        (long long)g->file->opset);
    if (st == TI_OK)
        st = build_values(g);
    if (st == TI_OK)
        st = order_nodes(g);
    if (st == TI_OK) {
        g->act = calloc((size_t)g->nvals + 1, sizeof *g->act);
        g->iact = calloc((size_t)g->nvals + 1, sizeof *g->iact);
        g->is_int = calloc((size_t)g->nvals + 1, 1);
        if (!g->act || !g->iact || !g->is_int)
            st = fail_graph(g, TI_ERR_NOMEM, "out of memory");
    }
    if (st == TI_OK)
        st = compile_steps(g);
    if (st == TI_OK) {
        ti__ox_fuse(g);
        g->out_kind = output_kind(g);
    }
    /* the dry run: one zero image through the whole graph finds shape mismatches now */
    if (st == TI_OK) {
        ti_tape *tape = ti_tape_new(ctx);
        float *zero = calloc((size_t)g->C * g->H * g->W, sizeof(float));
        if (!tape || !zero) {
            st = fail_graph(g, TI_ERR_NOMEM, "out of memory");
        } else {
            ti_tape_set_recording(tape, 0);
            ti_tensor *x = ti_tape_input(tape, zero, 4, (int[]){1, g->C, g->H, g->W}, 0);
            ti_tensor *y = ti_onnx_forward(g, tape, x, 0);
            if (!y) {
                st = ti_tape_status(tape);
            } else if (y->ndim != 2 || y->shape[0] != 1 || y->shape[1] < 1) {
                char sy[64];
                st = fail_graph(g, TI_ERR_UNSUPPORTED,
                                "the output '%s' has shape %s for one image; a classifier "
                                "gives (N, M) logits",
                                g->vals[g->output].name, ti_shape_str(y, sy, sizeof sy));
            } else {
                g->M = y->shape[1];
            }
        }
        ti_tape_free(tape);
        free(zero);
    }
    /* the tensors' data now lives in the constant block: drop the file's bytes */
    free(g->buf);
    g->buf = NULL;
    if (st != TI_OK) {
        ti_onnx_free(g);
        return st;
    }
    if (g->out_kind == TI_ONNX_PROBS)
        ti_ctx_log(ctx, 1,
                   "%s: the output '%s' comes out of a Softmax: the model gives probabilities, "
                   "not logits. Gradient-based attacks on probabilities are weak where the "
                   "softmax saturates (its gradients shrink and underflow to zero), so "
                   "robustness measured on this output can be overstated, a classic evaluation "
                   "mistake; evaluate the model without its final Softmax (see docs/onnx.md)",
                   g->path, g->vals[g->output].name);
    *out = g;
    return TI_OK;
}

ti_status ti_onnx_load_buffer(ti_ctx *ctx, const void *data, size_t len, const char *name,
                              ti_onnx **out)
{
    if (!out || (!data && len))
        return ti_ctx_error(ctx, TI_ERR_ARG, "onnx_load_buffer: NULL argument");
    *out = NULL;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", name ? name : "onnx");
    if (len)
        memcpy(copy, data, len);
    return load_owned(ctx, copy, len, name, out);
}

int ti_onnx_is_spec(const char *spec)
{
    if (!spec)
        return 0;
    if (!strncmp(spec, "onnx:", 5))
        return 1;
    size_t n = strlen(spec);
    return n > 5 && !strcmp(spec + n - 5, ".onnx");
}

const char *ti_onnx_spec_path(const char *spec)
{
    return spec && !strncmp(spec, "onnx:", 5) ? spec + 5 : spec;
}

ti_status ti_onnx_load(ti_ctx *ctx, const char *path, ti_onnx **out)
{
    if (!path || !out)
        return ti_ctx_error(ctx, TI_ERR_ARG, "onnx_load: NULL argument");
    *out = NULL;
    path = ti_onnx_spec_path(path);
    char *data;
    size_t len;
    ti_status st = ti_read_file(ctx, path, &data, &len);
    if (st != TI_OK)
        return st;
    return load_owned(ctx, (uint8_t *)data, len, path, out); /* it frees data */
}

void ti_onnx_free(ti_onnx *g)
{
    if (!g)
        return;
    ti__ox_cls_free(g->cls);
    ti__ox_file_free(g->file);
    free(g->buf);
    free(g->vals);
    free(g->hash);
    free(g->steps);
    free(g->consts);
    free(g->params);
    ti_free(g->cblock);
    ti_free(g->gblock);
    free(g->act);
    free(g->iact);
    free(g->is_int);
    free(g);
}

/* ---- running -------------------------------------------------------------------------- */

ti_tensor *ti_onnx_forward(ti_onnx *g, ti_tape *tape, ti_tensor *x, int training)
{
    if (!g || !tape)
        return NULL;
    if (ti__tape_bad(tape, 1, &x))
        return NULL;
    if (x->ndim != 4 || x->shape[1] != g->C || x->shape[2] != g->H || x->shape[3] != g->W) {
        char sx[64];
        return ti__tape_fail(tape, TI_ERR_SHAPE,
                             "%s: input has shape %s but the model expects (N, %d, %d, %d)",
                             g->path, ti_shape_str(x, sx, sizeof sx), g->C, g->H, g->W);
    }
    for (int v = 0; v < g->nvals; v++) {
        g->act[v] = g->vals[v].kind == OXV_FLOAT ? g->vals[v].t : NULL;
    }
    g->act[g->input] = x;
    for (int k = 0; k < g->nsteps; k++) {
        ti__ox_step *s = &g->steps[k];
        ti_status st = s->op->run(g, tape, s, training);
        if (st == TI_OK && ti_tape_status(tape) == TI_OK)
            continue;
        char msg[1000], label[300];
        snprintf(msg, sizeof msg, "%s", ti_ctx_errmsg(g->ctx));
        if (ti_tape_status(tape) == TI_OK) /* the op's own check: already labelled */
            return ti__tape_fail(tape, st, "%s", msg);
        /* a thinice op failed: say which node it was */
        ti_ctx_error(g->ctx, ti_tape_status(tape), "%s: %s: %s", g->path,
                     ti__ox_node_label(s, label, sizeof label), msg);
        return NULL;
    }
    return g->act[g->output];
}

/* ---- accessors -------------------------------------------------------------------------- */

void ti_onnx_shape(const ti_onnx *g, int *C, int *H, int *W, int *M)
{
    if (C) *C = g->C;
    if (H) *H = g->H;
    if (W) *W = g->W;
    if (M) *M = g->M;
}

int ti_onnx_opset(const ti_onnx *g)
{
    return (int)g->file->opset;
}

const char *ti_onnx_producer(const ti_onnx *g)
{
    return g->file->producer;
}

int ti_onnx_nodes(const ti_onnx *g)
{
    return g->file->nnodes;
}

ti_onnx_output ti_onnx_output_kind(const ti_onnx *g)
{
    return g->out_kind;
}

const char *ti_onnx_output_name(ti_onnx_output kind)
{
    static const char *const names[TI_ONNX_OUTPUT_COUNT] = {"logits", "probabilities",
                                                            "log-probabilities"};
    return (int)kind >= 0 && kind < TI_ONNX_OUTPUT_COUNT ? names[kind] : "unknown";
}

int ti_onnx_nparams(const ti_onnx *g)
{
    return g->nparams;
}

ti_param *ti_onnx_param(ti_onnx *g, int i)
{
    return i >= 0 && i < g->nparams ? &g->params[i] : NULL;
}

ti_param *ti_onnx_find(ti_onnx *g, const char *name)
{
    for (int i = 0; i < g->nparams; i++)
        if (!strcmp(g->params[i].name, name))
            return &g->params[i];
    return NULL;
}

ti_status ti_onnx_set_requires_grad(ti_onnx *g, int on)
{
    if (on && !g->gblock) {
        g->gblock = ti_calloc((g->ncf + 1) * sizeof(float));
        if (!g->gblock)
            return ti_ctx_error(g->ctx, TI_ERR_NOMEM, "%s: out of memory for gradients",
                                g->path);
        for (int i = 0; i < g->nparams; i++)
            if (ti_param_kind_trainable(g->params[i].kind))
                g->params[i].t.grad = g->gblock + (g->params[i].t.data - g->cblock);
    }
    g->requires_grad = on != 0;
    for (int i = 0; i < g->nparams; i++)
        g->params[i].t.requires_grad = on && ti_param_kind_trainable(g->params[i].kind);
    return TI_OK;
}
