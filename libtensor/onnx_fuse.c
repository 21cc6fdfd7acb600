/* Fusing the exporters' multi-node activations into one thinice op each. Opsets 9 to 17 have
 * no SiLU and no GELU operator (Gelu came with opset 20), so PyTorch (torch.onnx,
 * symbolic_opset9.py) writes them out:
 *   SiLU        Mul(x, Sigmoid(x))
 *   GELU        Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5)
 *   GELU tanh   Mul(0.5, Mul(x, Add(1, Tanh(Mul(sqrt(2/pi), Add(x, Mul(0.044715,
 *               Mul(x, Mul(x, x)))))))))
 * Run node by node these cost five to nine passes over the activation, each with its tape
 * node and gradient buffer; fused, one pass each way (ti_silu, ti_gelu). Products are matched
 * as trees of Mul nodes, so the factors may come in any order and grouping (the forms other
 * exporters and hand-written x * 0.5 * (1 + erf(x / sqrt 2)) give). A node is taken into a
 * pattern only if nothing outside reads its output; whatever does not match runs node by node
 * (Sigmoid, Erf, Tanh, Mul and Add are all supported), with the same result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

enum { FUSE_SILU = 0, FUSE_GELU, FUSE_GELU_TANH };

static ti_status fused_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)training;
    ti_status st = TI_OK;
    ti_tensor *x = ti__ox_fin(g, s, 0, &st);
    if (st != TI_OK)
        return st;
    if (s->axis == FUSE_SILU)
        return ti__ox_set_out(g, s, ti_silu(tape, x));
    return ti__ox_set_out(g, s, ti_gelu(tape, x, s->axis == FUSE_GELU_TANH));
}

/* A node taken into a fused one: its work is done there. */
static ti_status gone_run(ti_onnx *g, ti_tape *tape, ti__ox_step *s, int training)
{
    (void)g;
    (void)tape;
    (void)s;
    (void)training;
    return TI_OK;
}

static const ti__ox_op op_silu = {"SiLU (fused)", "", 1, 1, 1, NULL, fused_run};
static const ti__ox_op op_gelu = {"GELU (fused)", "", 1, 1, 1, NULL, fused_run};
static const ti__ox_op op_gone = {"(fused into a later node)", "", 0, 8, 1, NULL, gone_run};

#define MAX_EATEN 16
#define MAX_FACTORS 6

typedef struct fuser {
    ti_onnx *g;
    ti__ox_step **by_node;          /* (nnodes) the step of each live node, or NULL */
    ti__ox_step *eaten[MAX_EATEN];  /* the current match's inner nodes */
    int neaten;
} fuser;

/* The step computing v if it is an `op` node that only the pattern reads (one use, not the
 * graph output), recorded as eaten; else NULL. */
static ti__ox_step *inner(fuser *f, int v, const char *op)
{
    if (v < 0 || f->neaten == MAX_EATEN)
        return NULL;
    const ti__ox_value *val = &f->g->vals[v];
    if (val->producer < 0 || val->uses != 1 || v == f->g->output)
        return NULL;
    ti__ox_step *s = f->by_node[val->producer];
    if (!s || strcmp(s->op->name, op)) /* fused and eaten steps have other names */
        return NULL;
    f->eaten[f->neaten++] = s;
    return s;
}

/* Is v a float constant of one element that broadcasts to any shape without changing it
 * (0-D or 1-D)? Its value goes to *c. */
static int scalar(const fuser *f, int v, float *c)
{
    const ti__ox_value *val = v >= 0 ? &f->g->vals[v] : NULL;
    if (!val || val->kind != OXV_FLOAT || val->t->size != 1 || val->t->ndim > 1)
        return 0;
    *c = val->t->data[0];
    return 1;
}

static int near(float c, double want)
{
    return fabs(c - want) <= 1e-5 * fabs(want);
}

/* The factors of the product that computes v: Mul nodes only the product reads are opened,
 * scalar constants multiply into *c, anything else is a factor. 0 if there are too many. */
static int factors(fuser *f, int v, float *c, int *fac, int *nf)
{
    float k;
    if (scalar(f, v, &k)) {
        *c *= k;
        return 1;
    }
    ti__ox_step *m = inner(f, v, "Mul");
    if (m)
        return factors(f, m->in[0], c, fac, nf) && factors(f, m->in[1], c, fac, nf);
    if (*nf == MAX_FACTORS)
        return 0;
    fac[(*nf)++] = v;
    return 1;
}

/* v = the product of x and the constant `want`, alone */
static int times_const(fuser *f, int v, int x, double want)
{
    float c = 1.0f;
    int fac[MAX_FACTORS], nf = 0;
    return factors(f, v, &c, fac, &nf) && nf == 1 && fac[0] == x && near(c, want);
}

/* v = Add(1, u) in either order: the other input goes to *u */
static int one_plus(fuser *f, int v, int *u)
{
    ti__ox_step *a = inner(f, v, "Add");
    float c;
    for (int i = 0; a && i < 2; i++)
        if (scalar(f, a->in[i], &c) && near(c, 1.0)) {
            *u = a->in[1 - i];
            return 1;
        }
    return 0;
}

/* gate = Sigmoid(x) */
static int silu_gate(fuser *f, int gate, int x)
{
    ti__ox_step *s = inner(f, gate, "Sigmoid");
    return s && s->in[0] == x;
}

/* gate = 1 + erf(x / sqrt 2), the division possibly a product by 1 / sqrt 2 */
static int gelu_gate(fuser *f, int gate, int x)
{
    int e;
    ti__ox_step *erf = one_plus(f, gate, &e) ? inner(f, e, "Erf") : NULL;
    if (!erf)
        return 0;
    int mark = f->neaten;
    ti__ox_step *d = inner(f, erf->in[0], "Div");
    float c;
    if (d && d->in[0] == x && scalar(f, d->in[1], &c) && near(c, M_SQRT2))
        return 1;
    f->neaten = mark;
    return times_const(f, erf->in[0], x, M_SQRT1_2);
}

/* gate = 1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)) */
static int gelu_tanh_gate(fuser *f, int gate, int x)
{
    int t;
    ti__ox_step *th = one_plus(f, gate, &t) ? inner(f, t, "Tanh") : NULL;
    if (!th)
        return 0;
    float c = 1.0f;
    int fac[MAX_FACTORS], nf = 0;
    if (!factors(f, th->in[0], &c, fac, &nf) || nf != 1 || !near(c, sqrt(2.0 / M_PI)))
        return 0;
    ti__ox_step *sum = inner(f, fac[0], "Add");
    if (!sum || (sum->in[0] != x && sum->in[1] != x))
        return 0;
    int cube = sum->in[sum->in[0] == x ? 1 : 0];
    c = 1.0f;
    nf = 0;
    return factors(f, cube, &c, fac, &nf) && nf == 3 && fac[0] == x && fac[1] == x &&
           fac[2] == x && near(c, 0.044715);
}

/* Is the Mul step r the root of a pattern? Its input x goes to *x, the kind to *kind, and
 * f->eaten holds the inner nodes. */
static int match(fuser *f, ti__ox_step *r, int *x, int *kind)
{
    float c = 1.0f;
    int fac[MAX_FACTORS], nf = 0;
    f->neaten = 0;
    if (r->nin != 2 || !factors(f, r->in[0], &c, fac, &nf) ||
        !factors(f, r->in[1], &c, fac, &nf) || nf != 2)
        return 0;
    int mark = f->neaten;
    for (int i = 0; i < 2; i++) {
        *x = fac[i];
        int gate = fac[1 - i];
        f->neaten = mark;
        if (near(c, 1.0) && silu_gate(f, gate, *x)) {
            *kind = FUSE_SILU;
            return 1;
        }
        f->neaten = mark;
        if (near(c, 0.5) && gelu_gate(f, gate, *x)) {
            *kind = FUSE_GELU;
            return 1;
        }
        f->neaten = mark;
        if (near(c, 0.5) && gelu_tanh_gate(f, gate, *x)) {
            *kind = FUSE_GELU_TANH;
            return 1;
        }
    }
    return 0;
}

void ti__ox_fuse(ti_onnx *g)
{
    fuser f = {.g = g};
    f.by_node = calloc((size_t)g->file->nnodes + 1, sizeof *f.by_node);
    if (!f.by_node)
        return; /* fusing is an optimisation: the graph runs as it is */
    for (int k = 0; k < g->nsteps; k++)
        f.by_node[g->steps[k].index] = &g->steps[k];
    for (int k = 0; k < g->nsteps; k++) {
        ti__ox_step *r = &g->steps[k];
        int x, kind;
        if (strcmp(r->op->name, "Mul") || !match(&f, r, &x, &kind))
            continue;
        for (int i = 0; i < f.neaten; i++)
            f.eaten[i]->op = &op_gone;
        r->op = kind == FUSE_SILU ? &op_silu : &op_gelu;
        r->axis = kind;
        r->in[0] = x;
        r->nin = 1;
    }
    free(f.by_node);
}
