/* Row-wise softmax and log-softmax, softmax cross-entropy and the KL divergence between two
 * softmaxes (the TRADES regulariser, Zhang et al. 2019, Eq. 5). Every exponential goes through
 * the log-sum-exp shift by the row maximum, so large logits never overflow. Gradients are
 * derived in docs/batchnorm.md. */
#include <math.h>

#include "thinice/ops.h"
#include "internal.h"

/* log sum_j exp z_j of one row, shifted by its maximum; the sum is taken in double. */
static double row_lse(const float *z, int M)
{
    float mx = -INFINITY;
    for (int j = 0; j < M; j++)
        mx = z[j] > mx ? z[j] : mx;
    if (!isfinite(mx))
        return mx; /* all -inf (or a +inf/NaN): let it propagate */
    double s = 0;
    for (int j = 0; j < M; j++)
        s += exp((double)z[j] - mx);
    return mx + log(s);
}

/* Checks that t is a (N, M) matrix; the op's name goes into the message. */
static int bad_matrix(ti_tape *tape, const char *op, const char *what, const ti_tensor *t)
{
    if (t->ndim == 2)
        return 0;
    char st[64];
    ti__tape_fail(tape, TI_ERR_SHAPE, "%s: %s must be (N, M), got %s", op, what,
                  ti_shape_str(t, st, sizeof st));
    return 1;
}

/* A scalar for MEAN / SUM, (N) for NONE; NULL with a message for an unknown reduction. */
static ti_tensor *reduced_out(ti_tape *tape, const char *op, ti_reduction red, int N)
{
    if ((int)red < 0 || red >= TI_REDUCTION_COUNT)
        return ti__tape_fail(tape, TI_ERR_ARG, "%s: unknown reduction %d", op, (int)red);
    return red == TI_REDUCE_NONE ? ti_tape_tensor(tape, 1, &N) : ti_tape_tensor(tape, 0, NULL);
}

/* Fills per-row values v[N] into the output according to the reduction (sum in double). */
static void reduce_rows(ti_tensor *out, const double *v, int N, ti_reduction red)
{
    if (red == TI_REDUCE_NONE) {
        for (int i = 0; i < N; i++)
            out->data[i] = (float)v[i];
        return;
    }
    double s = 0;
    for (int i = 0; i < N; i++)
        s += v[i];
    out->data[0] = (float)(red == TI_REDUCE_MEAN ? s / (N > 0 ? N : 1) : s);
}

/* The upstream gradient of row i: dy[i] for NONE, dy scaled by 1/N for MEAN. */
static float row_grad(const ti_tensor *out, int i, int N, ti_reduction red)
{
    if (red == TI_REDUCE_NONE)
        return out->grad[i];
    return red == TI_REDUCE_MEAN ? out->grad[0] / (float)N : out->grad[0];
}

/* ---- log-softmax ------------------------------------------------------------------------ */

/* y_j = z_j - lse(z): dz_k = dy_k - softmax_k sum_j dy_j, with softmax = exp(y) */
static void log_softmax_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    int N = n->out->shape[0], M = n->out->shape[1];
    for (int i = 0; i < N; i++) {
        const float *y = n->out->data + (size_t)i * M, *gy = n->out->grad + (size_t)i * M;
        float *gz = n->in[0]->grad + (size_t)i * M;
        double s = 0;
        for (int j = 0; j < M; j++)
            s += gy[j];
        for (int j = 0; j < M; j++)
            gz[j] += gy[j] - expf(y[j]) * (float)s;
    }
}

static const ti_op_def op_log_softmax = {"log_softmax", log_softmax_backward};

/* log_softmax (exponentiate 0) or softmax (1) of every row of logits, recorded as op. */
static ti_tensor *row_softmax(ti_tape *tape, ti_tensor *logits, const ti_op_def *op,
                              int exponentiate)
{
    if (ti__tape_bad(tape, 1, &logits) || bad_matrix(tape, op->name, "logits", logits))
        return NULL;
    ti_tensor *y = ti__tape_like(tape, logits);
    if (!y)
        return NULL;
    int N = logits->shape[0], M = logits->shape[1];
    for (int i = 0; i < N; i++) {
        const float *z = logits->data + (size_t)i * M;
        double lse = row_lse(z, M);
        for (int j = 0; j < M; j++)
            y->data[(size_t)i * M + j] = (float)(exponentiate ? exp(z[j] - lse) : z[j] - lse);
    }
    ti__tape_record(tape, op, y, 1, &logits);
    return y;
}

ti_tensor *ti_log_softmax(ti_tape *tape, ti_tensor *logits)
{
    return row_softmax(tape, logits, &op_log_softmax, 0);
}

/* ---- softmax --------------------------------------------------------------------------- */

/* y_j = exp(z_j - lse(z)): dz_k = y_k (dy_k - sum_j y_j dy_j) */
static void softmax_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    int N = n->out->shape[0], M = n->out->shape[1];
    for (int i = 0; i < N; i++) {
        const float *y = n->out->data + (size_t)i * M, *gy = n->out->grad + (size_t)i * M;
        float *gz = n->in[0]->grad + (size_t)i * M;
        double s = 0;
        for (int j = 0; j < M; j++)
            s += (double)y[j] * gy[j];
        for (int j = 0; j < M; j++)
            gz[j] += y[j] * (gy[j] - (float)s);
    }
}

static const ti_op_def op_softmax = {"softmax", softmax_backward};

ti_tensor *ti_softmax(ti_tape *tape, ti_tensor *logits)
{
    return row_softmax(tape, logits, &op_softmax, 1);
}

/* ---- cross-entropy ----------------------------------------------------------------------- */

typedef struct ce_saved {
    int N, M;
    ti_reduction red;
    int *labels;  /* (N), copied */
    double *lse;  /* (N): log sum exp of each row */
} ce_saved;

/* l_i = lse(z_i) - z_{i,y_i}: dz_ij = g_i (softmax_ij - [j == y_i]) */
static void ce_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const ce_saved *s = n->saved;
    const float *z = n->in[0]->data;
    float *gz = n->in[0]->grad;
    for (int i = 0; i < s->N; i++) {
        float g = row_grad(n->out, i, s->N, s->red);
        const float *zi = z + (size_t)i * s->M;
        float *gi = gz + (size_t)i * s->M;
        for (int j = 0; j < s->M; j++)
            gi[j] += g * (float)exp(zi[j] - s->lse[i]);
        gi[s->labels[i]] -= g;
    }
}

static const ti_op_def op_cross_entropy = {"cross_entropy", ce_backward};

ti_tensor *ti_cross_entropy(ti_tape *tape, ti_tensor *logits, const int *labels,
                            ti_reduction red)
{
    const char *op = "cross_entropy";
    if (ti__tape_bad(tape, 1, &logits) || bad_matrix(tape, op, "logits", logits))
        return NULL;
    int N = logits->shape[0], M = logits->shape[1];
    if (!labels && N > 0)
        return ti__tape_fail(tape, TI_ERR_ARG, "%s: labels is NULL", op);
    for (int i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= M)
            return ti__tape_fail(tape, TI_ERR_ARG,
                                 "%s: label %d of sample %d is outside [0, %d) (M=%d classes)",
                                 op, labels[i], i, M, M);
    ti_tensor *y = reduced_out(tape, op, red, N);
    ce_saved *s = ti__tape_alloc(tape, sizeof *s);
    int *lab = ti__tape_alloc(tape, (size_t)N * sizeof(int) + 1);
    double *buf = ti__tape_alloc(tape, 2 * (size_t)N * sizeof(double) + 1);
    if (!y || !s || !lab || !buf)
        return NULL;
    double *lse = buf, *loss = buf + N; /* (N) each; lse is kept for backward */
    *s = (ce_saved){N, M, red, lab, lse};
    for (int i = 0; i < N; i++) {
        lab[i] = labels[i];
        lse[i] = row_lse(logits->data + (size_t)i * M, M);
        loss[i] = lse[i] - logits->data[(size_t)i * M + lab[i]];
    }
    reduce_rows(y, loss, N, red);
    ti_node *n = ti__tape_record(tape, &op_cross_entropy, y, 1, &logits);
    if (n)
        n->saved = s;
    return y;
}

/* ---- KL divergence between softmaxes ------------------------------------------------------ */

typedef struct kl_saved {
    int N, M;
    ti_reduction red;
    double *lse_p, *lse_q, *kl; /* (N) each */
} kl_saved;

/* KL_i = sum_j P_j (L_j) with L_j = log P_j - log Q_j:
 *   dKL/dp_k = P_k (L_k - KL_i),   dKL/dq_k = Q_k - P_k. */
static void kl_backward(ti_tape *tape, ti_node *n)
{
    (void)tape;
    const kl_saved *s = n->saved;
    ti_tensor *p = n->in[0], *q = n->in[1];
    for (int i = 0; i < s->N; i++) {
        double g = row_grad(n->out, i, s->N, s->red);
        size_t off = (size_t)i * s->M;
        for (int j = 0; j < s->M; j++) {
            double lp = p->data[off + j] - s->lse_p[i], lq = q->data[off + j] - s->lse_q[i];
            double P = exp(lp), Q = exp(lq);
            if (p->requires_grad && P > 0) /* P = 0 contributes 0 (0 log 0 = 0) */
                p->grad[off + j] += (float)(g * P * (lp - lq - s->kl[i]));
            if (q->requires_grad)
                q->grad[off + j] += (float)(g * (Q - P));
        }
    }
}

static const ti_op_def op_kl_div = {"kl_div", kl_backward};

ti_tensor *ti_kl_div(ti_tape *tape, ti_tensor *p_logits, ti_tensor *q_logits, ti_reduction red)
{
    const char *op = "kl_div";
    ti_tensor *in[2] = {p_logits, q_logits};
    if (ti__tape_bad(tape, 2, in) || bad_matrix(tape, op, "p_logits", p_logits) ||
        bad_matrix(tape, op, "q_logits", q_logits))
        return NULL;
    if (!ti__same_shape(p_logits, q_logits)) {
        char sp[64], sq[64];
        return ti__tape_fail(tape, TI_ERR_SHAPE, "%s: p_logits %s and q_logits %s differ", op,
                             ti_shape_str(p_logits, sp, sizeof sp),
                             ti_shape_str(q_logits, sq, sizeof sq));
    }
    int N = p_logits->shape[0], M = p_logits->shape[1];
    ti_tensor *y = reduced_out(tape, op, red, N);
    kl_saved *s = ti__tape_alloc(tape, sizeof *s);
    double *buf = ti__tape_alloc(tape, 3 * (size_t)N * sizeof(double) + 1);
    if (!y || !s || !buf)
        return NULL;
    *s = (kl_saved){N, M, red, buf, buf + N, buf + 2 * (size_t)N};
    for (int i = 0; i < N; i++) {
        const float *p = p_logits->data + (size_t)i * M, *q = q_logits->data + (size_t)i * M;
        double lp = row_lse(p, M), lq = row_lse(q, M), kl = 0;
        for (int j = 0; j < M; j++) {
            double a = p[j] - lp, b = q[j] - lq; /* log P_j, log Q_j */
            if (a > -INFINITY) /* 0 log 0 = 0, as PyTorch's kl_div */
                kl += exp(a) * (a - b);
        }
        s->lse_p[i] = lp;
        s->lse_q[i] = lq;
        s->kl[i] = kl;
    }
    reduce_rows(y, s->kl, N, red);
    ti_node *n = ti__tape_record(tape, &op_kl_div, y, 2, in);
    if (n)
        n->saved = s;
    return y;
}
