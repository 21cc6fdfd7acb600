/* Element-wise add, sub, mul and div with NumPy broadcasting (the rule ONNX adopted from
 * opset 7): shapes are aligned at the right and a dimension of size 1 stretches. Backward
 * sums the gradient of a stretched input over the dimensions it was stretched along. Used by
 * the ONNX importer for per-channel constants such as (1, C, 1, 1) normalisation. */
#include "thinice/ops.h"
#include "internal.h"

static const char *const binop_names[TI_BINOP_COUNT] = {"add", "sub", "mul", "div"};

/* Both inputs and the output seen as 4-D: sizes (padded with leading 1s) and strides, with
 * stride 0 along a stretched dimension. */
typedef struct bc_layout {
    int so[4];
    size_t sta[4], stb[4];
} bc_layout;

/* Fills l and the output shape; false if the shapes do not broadcast. */
static bool layout(const ti_tensor *a, const ti_tensor *b, bc_layout *l, int *ndim)
{
    int sa[4], sb[4];
    *ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < 4; i++) {
        int ia = i - (4 - a->ndim), ib = i - (4 - b->ndim);
        sa[i] = ia >= 0 ? a->shape[ia] : 1;
        sb[i] = ib >= 0 ? b->shape[ib] : 1;
        if (sa[i] != sb[i] && sa[i] != 1 && sb[i] != 1)
            return false;
        l->so[i] = sa[i] == 1 ? sb[i] : sa[i];
    }
    size_t ra = 1, rb = 1;
    for (int i = 3; i >= 0; i--) {
        l->sta[i] = sa[i] == 1 ? 0 : ra;
        l->stb[i] = sb[i] == 1 ? 0 : rb;
        ra *= (size_t)sa[i];
        rb *= (size_t)sb[i];
    }
    return true;
}

/* y = a op b over the layout; the op is chosen once per row, not per element. */
static void k_binop_fwd(float *y, const float *a, const float *b, const bc_layout *l,
                        ti_binop op)
{
    const int n3 = l->so[3];
    const size_t ta = l->sta[3], tb = l->stb[3];
    for (int i0 = 0; i0 < l->so[0]; i0++)
        for (int i1 = 0; i1 < l->so[1]; i1++)
            for (int i2 = 0; i2 < l->so[2]; i2++) {
                const float *pa = a + i0 * l->sta[0] + i1 * l->sta[1] + i2 * l->sta[2];
                const float *pb = b + i0 * l->stb[0] + i1 * l->stb[1] + i2 * l->stb[2];
                switch (op) {
                case TI_BINOP_ADD:
                    for (int j = 0; j < n3; j++) y[j] = pa[j * ta] + pb[j * tb];
                    break;
                case TI_BINOP_SUB:
                    for (int j = 0; j < n3; j++) y[j] = pa[j * ta] - pb[j * tb];
                    break;
                case TI_BINOP_MUL:
                    for (int j = 0; j < n3; j++) y[j] = pa[j * ta] * pb[j * tb];
                    break;
                default:
                    for (int j = 0; j < n3; j++) y[j] = pa[j * ta] / pb[j * tb];
                    break;
                }
                y += n3;
            }
}

/* da += dy * d(a op b)/da (when ga) and db += dy * d(a op b)/db (when gb), summed over the
 * stretched dimensions by the zero strides. */
static void k_binop_bwd(float *ga, float *gb, const float *gy, const float *a, const float *b,
                        const bc_layout *l, ti_binop op)
{
    const int n3 = l->so[3];
    const size_t ta = l->sta[3], tb = l->stb[3];
    for (int i0 = 0; i0 < l->so[0]; i0++)
        for (int i1 = 0; i1 < l->so[1]; i1++)
            for (int i2 = 0; i2 < l->so[2]; i2++) {
                size_t oa = i0 * l->sta[0] + i1 * l->sta[1] + i2 * l->sta[2];
                size_t ob = i0 * l->stb[0] + i1 * l->stb[1] + i2 * l->stb[2];
                const float *pa = a + oa, *pb = b + ob;
                if (ga) {
                    float *d = ga + oa;
                    switch (op) {
                    case TI_BINOP_ADD: case TI_BINOP_SUB:
                        for (int j = 0; j < n3; j++) d[j * ta] += gy[j];
                        break;
                    case TI_BINOP_MUL:
                        for (int j = 0; j < n3; j++) d[j * ta] += gy[j] * pb[j * tb];
                        break;
                    default:
                        for (int j = 0; j < n3; j++) d[j * ta] += gy[j] / pb[j * tb];
                        break;
                    }
                }
                if (gb) {
                    float *d = gb + ob;
                    switch (op) {
                    case TI_BINOP_ADD:
                        for (int j = 0; j < n3; j++) d[j * tb] += gy[j];
                        break;
                    case TI_BINOP_SUB:
                        for (int j = 0; j < n3; j++) d[j * tb] -= gy[j];
                        break;
                    case TI_BINOP_MUL:
                        for (int j = 0; j < n3; j++) d[j * tb] += gy[j] * pa[j * ta];
                        break;
                    default: /* d(a / b)/db = -a / b^2 */
                        for (int j = 0; j < n3; j++) {
                            float q = pb[j * tb];
                            d[j * tb] -= gy[j] * pa[j * ta] / (q * q);
                        }
                        break;
                    }
                }
                gy += n3;
            }
}

static void binop_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    ti_tensor *a = n->in[0], *b = n->in[1];
    bc_layout l;
    int nd;
    layout(a, b, &l, &nd); /* checked by the forward */
    k_binop_bwd(a->requires_grad ? a->grad : NULL, b->requires_grad ? b->grad : NULL,
                n->out->grad, a->data, b->data, &l, (ti_binop)n->ip[0]);
}

static const ti_op_def op_broadcast = {"broadcast", binop_backward};

ti_tensor *ti_broadcast(ti_tape *tape, ti_binop op, ti_tensor *a, ti_tensor *b)
{
    ti_tensor *in[2] = {a, b};
    if (ti__tape_bad(tape, 2, in))
        return NULL;
    if ((int)op < 0 || op >= TI_BINOP_COUNT)
        return ti__tape_fail(tape, TI_ERR_ARG, "broadcast: unknown operation %d", (int)op);
    bc_layout l;
    int nd;
    if (!layout(a, b, &l, &nd)) {
        char sa[64], sb[64];
        return ti__tape_fail(tape, TI_ERR_SHAPE, "broadcast %s: shapes %s and %s do not broadcast",
                             binop_names[op], ti_shape_str(a, sa, sizeof sa),
                             ti_shape_str(b, sb, sizeof sb));
    }
    int shape[4];
    for (int i = 0; i < nd; i++)
        shape[i] = l.so[4 - nd + i];
    ti_tensor *y = ti_tape_tensor(tape, nd, shape);
    if (!y)
        return NULL;
    if (y->size)
        k_binop_fwd(y->data, a->data, b->data, &l, op);
    ti_node *n = ti__tape_record(tape, &op_broadcast, y, 2, in);
    if (n)
        n->ip[0] = (int)op;
    return y;
}
