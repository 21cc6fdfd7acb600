/* Tests of the audit of an evaluation (libattack audit.h): hand-made classifiers built to
 * trip each check and indicator - a randomized model (noise on the logits), a softmax-output
 * model (probabilities, saturated), a gradient-masking model (its input quantised: zero
 * gradients, yet Square breaks it), a model with a cone-shaped loss (APGD cut short is
 * still climbing), a classifier whose gradient is unsupported, a 4-class model under "standard" -
 * and a healthy linear model that raises none. Besides the verdicts: the counts agree with
 * the evaluation's records, every fired check is logged as a warning, the passes are
 * counted, same seed gives the same audit, the JSON mirrors the result, and bad calls fail
 * with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/audit.h"
#include "thinice/eval.h"
#include "thinice/json.h"

enum { H = 8, W_ = 8, D = H * W_, MMAX = 4 };

/* ---- the models -------------------------------------------------------------------------- */

typedef enum kind { LIN, NOISY, SOFTMAX, QUANT, BUMP } kind;

typedef struct tmodel {
    ti_classifier base;
    kind k;
    const float *Wt, *b; /* (M, D), (M) */
    float sigma;         /* NOISY: std of the noise added to every logit */
    float scale;         /* SOFTMAX: the logits' scale before the softmax */
    float levels;        /* QUANT: the input is rounded to multiples of 1 / levels */
    const float *c;      /* BUMP: the centre (D) */
    ti_rng rng;          /* NOISY: its own noise, seeded */
    int unsupported;     /* the vjp reports TI_ERR_UNSUPPORTED */
} tmodel;

/* z (M) = W u + b for one input u (D) */
static void affine(const tmodel *t, const float *u, float *z)
{
    int M = t->base.M;
    for (int m = 0; m < M; m++) {
        double s = t->b[m];
        for (int j = 0; j < D; j++)
            s += (double)t->Wt[m * D + j] * u[j];
        z[m] = (float)s;
    }
}

static void softmax_row(float *z, int M)
{
    float mx = z[0];
    for (int m = 1; m < M; m++)
        mx = z[m] > mx ? z[m] : mx;
    double s = 0;
    for (int m = 0; m < M; m++)
        s += z[m] = expf(z[m] - mx);
    for (int m = 0; m < M; m++)
        z[m] = (float)(z[m] / s);
}

static ti_status tm_forward(void *self, const float *x, int n, float *logits)
{
    tmodel *t = self;
    int M = t->base.M;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * D;
        float *z = logits + (size_t)i * M, q[D];
        switch (t->k) {
        case LIN: affine(t, xi, z); break;
        case NOISY:
            affine(t, xi, z);
            for (int m = 0; m < M; m++)
                z[m] += t->sigma * ti_rng_normal(&t->rng);
            break;
        case SOFTMAX:
            affine(t, xi, z);
            for (int m = 0; m < M; m++)
                z[m] *= t->scale;
            softmax_row(z, M);
            break;
        case QUANT:
            for (int j = 0; j < D; j++)
                q[j] = floorf(xi[j] * t->levels + 0.5f) / t->levels;
            affine(t, q, z);
            break;
        case BUMP: { /* class 0: a constant; class 1: a cone around c that never wins */
            double s = 0;
            for (int j = 0; j < D; j++)
                s += fabs((double)xi[j] - t->c[j]);
            z[0] = t->b[0];
            z[1] = (float)(-t->scale * s);
            break;
        }
        }
    }
    return TI_OK;
}

/* dx (n, D) = dlogits^T d logits / dx: the exact derivative of each model (the
 * quantiser's is zero almost everywhere, as autodiff gives it) */
static ti_status tm_vjp(void *self, const float *x, int n, const float *dl, float *logits,
                        float *dx)
{
    tmodel *t = self;
    int M = t->base.M;
    if (t->unsupported)
        return TI_ERR_UNSUPPORTED;
    if (logits)
        tm_forward(self, x, n, logits);
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * D, *g = dl + (size_t)i * M;
        float *di = dx + (size_t)i * D, u[MMAX];
        memset(di, 0, D * sizeof *di);
        switch (t->k) {
        case QUANT: break;
        case BUMP:
            for (int j = 0; j < D; j++)
                di[j] = g[1] * -t->scale * (float)((xi[j] > t->c[j]) - (xi[j] < t->c[j]));
            break;
        case SOFTMAX: { /* through the softmax: u = p * (g - p.g), times the scale */
            float p[MMAX];
            affine(t, xi, p);
            for (int m = 0; m < M; m++)
                p[m] *= t->scale;
            softmax_row(p, M);
            double pg = 0;
            for (int m = 0; m < M; m++)
                pg += (double)p[m] * g[m];
            for (int m = 0; m < M; m++)
                u[m] = t->scale * p[m] * (float)(g[m] - pg);
            break;
        }
        default:
            memcpy(u, g, (size_t)M * sizeof *u);
        }
        if (t->k == QUANT || t->k == BUMP)
            continue;
        for (int m = 0; m < M; m++)
            for (int j = 0; j < D; j++)
                di[j] += u[m] * t->Wt[m * D + j];
    }
    return TI_OK;
}

static void tm_init(tmodel *t, kind k, int M, const float *Wt, const float *b)
{
    memset(t, 0, sizeof *t);
    t->base = (ti_classifier){.C = 1, .H = H, .W = W_, .M = M, .self = t,
                              .forward = tm_forward, .vjp = tm_vjp};
    t->k = k;
    t->Wt = Wt;
    t->b = b;
    t->sigma = 1.0f;
    t->scale = 1.0f;
    t->levels = 10.0f;
    ti_rng_seed(&t->rng, 99);
}

/* Labels: the prediction of the noise-free model, except every `wrong`-th sample, whose
 * label is the next class (a misclassified sample the attacks skip). */
static void label(tmodel *t, const float *x, int n, int wrong, int *y)
{
    kind k = t->k;
    float z[MMAX];
    t->k = k == NOISY ? LIN : k;
    for (int i = 0; i < n; i++) {
        tm_forward(t, x + (size_t)i * D, 1, z);
        ti_argmax_rows(z, 1, t->base.M, &y[i]);
        if (wrong && i % wrong == wrong - 1)
            y[i] = (y[i] + 1) % t->base.M;
    }
    t->k = k;
}

/* ---- evaluations and the log ------------------------------------------------------------- */

typedef struct logcap {
    char text[16384];
    int warnings;
} logcap;

static void log_keep(void *user, int level, const char *msg)
{
    logcap *l = user;
    if (level != 1)
        return;
    l->warnings++;
    size_t have = strlen(l->text);
    snprintf(l->text + have, sizeof l->text - have, "%s\n", msg);
}

/* The list at L-inf eps with short budgets, on n samples; every APGD n_iter iterations,
 * APGD-T with all M - 1 targets, Square nq queries. */
static ti_eval *evaluate(ti_ctx *ctx, const ti_classifier *f, const char *list, float eps,
                         int n_iter, int nq, const float *x, const int *y, int n)
{
    ti_eval_params p;
    ck_assert_msg(ti_eval_params_init(ctx, list, TI_NORM_LINF, eps, &p) == TI_OK, "%s",
                  ti_ctx_errmsg(ctx));
    p.seed = 5;
    p.batch_size = 16;
    p.aa.apgd_ce.n_iter = p.aa.apgd_t.n_iter = n_iter;
    p.aa.apgd_t.n_target_classes = f->M - 1;
    p.aa.square.n_queries = nq;
    ti_eval *ev = NULL;
    ck_assert_int_eq(ti_eval_new(ctx, &p, 0, n, &ev), TI_OK);
    ck_assert_msg(ti_eval_run(ctx, ev, f, x, y, NULL, NULL) == TI_OK, "%s", ti_ctx_errmsg(ctx));
    return ev;
}

static ti_audit *audit(ti_ctx *ctx, const ti_eval *ev, const ti_classifier *f, const float *x,
                       const int *y, const ti_audit_params *p)
{
    ti_audit *a = NULL;
    ck_assert_msg(ti_audit_run(ctx, ev, f, x, y, p, &a) == TI_OK, "%s", ti_ctx_errmsg(ctx));
    ck_assert_ptr_nonnull(a);
    return a;
}

/* Every check that fired is logged (with its name), and no other; the counts agree with the
 * per-sample bits. */
static void check_consistent(const ti_audit *a, const logcap *lc)
{
    int fired = 0;
    for (int c = 0; c < TI_AUDIT_COUNT; c++) {
        const ti_audit_item *it = &a->item[c];
        char key[64];
        snprintf(key, sizeof key, "audit: %s: ", ti_audit_check_name((ti_audit_check)c));
        ck_assert_msg(!it->triggered == !strstr(lc->text, key), "%s: logged? %s", key, lc->text);
        ck_assert(it->message[0] != '\0');
        ck_assert(!it->triggered || it->run);
        fired += it->triggered;
        if (!ti_audit_check_per_sample((ti_audit_check)c) || !it->run)
            continue;
        int tested = 0, flagged = 0;
        for (int i = 0; i < a->N; i++) {
            tested += !!(a->tested[i] & TI_AUDIT_BIT(c));
            flagged += !!(a->flags[i] & TI_AUDIT_BIT(c));
            ck_assert(!(a->flags[i] & ~a->tested[i]));
        }
        ck_assert_msg(tested == it->tested && flagged == it->flagged, "%s: %d/%d vs %d/%d",
                      key, tested, flagged, it->tested, it->flagged);
    }
    ck_assert_int_eq(fired, a->n_triggered);
    ck_assert_int_eq(lc->warnings >= fired, 1);
}

static ti_audit_params all_on(void)
{
    ti_audit_params p = ti_audit_params_default();
    p.unstable = 1;
    p.unconstrained = 1;
    p.n_noise = 40;
    return p;
}

/* ---- the healthy model -------------------------------------------------------------------- */

enum { NH = 40 };

static void healthy_setup(tmodel *t, float *Wt, float *b, float *x, int *y, int M)
{
    ti_rng r;
    ti_rng_seed(&r, 21);
    tu_fill(&r, Wt, (size_t)M * D, -0.5f, 0.5f);
    tu_fill(&r, b, (size_t)M, -0.2f, 0.2f);
    tu_fill(&r, x, (size_t)NH * D, 0, 1);
    tm_init(t, LIN, M, Wt, b);
    label(t, x, NH, 10, y);
}

/* A linear model under APGD-CE, APGD-T (exact on linear models) and Square raises nothing,
 * with every check and indicator on. */
START_TEST(test_audit_healthy)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    logcap lc = {{0}, 0};
    tmodel t;
    float Wt[MMAX * D], b[MMAX], x[NH * D];
    int y[NH];
    healthy_setup(&t, Wt, b, x, y, 4);
    ti_eval *ev = evaluate(ctx, &t.base, "apgd-ce,apgd-t,square", 0.03f, 30, 300, x, y, NH);
    ti_eval_summary s;
    ck_assert_int_eq(ti_eval_summarize(ctx, ev, &s), TI_OK);
    ck_assert(s.robust_final > 0.15 && s.robust_final < s.clean_acc - 0.15); /* nontrivial */
    ti_ctx_set_log(ctx, log_keep, &lc);
    ti_audit_params p = all_on();
    ti_audit *a = audit(ctx, ev, &t.base, x, y, &p);
    for (int c = 0; c < TI_AUDIT_COUNT; c++)
        ck_assert_msg(a->item[c].run && !a->item[c].triggered, "%s: %s",
                      ti_audit_check_name((ti_audit_check)c), a->item[c].message);
    ck_assert_int_eq(a->n_triggered, 0);
    ck_assert_int_eq(lc.warnings, 0);
    check_consistent(a, &lc);
    /* a deterministic model: identical passes are identical, bit for bit */
    ck_assert(a->item[TI_AUDIT_RANDOMIZED].value == 0.0);
    ck_assert_int_eq(a->n_check, NH);
    ck_assert_int_eq(a->n_probe, s.n_clean);
    ck_assert_int_eq(a->probe_iter, 30);
    ck_assert_int_eq(a->item[TI_AUDIT_N_CLASSES].value, 4);
    ck_assert_int_eq(a->item[TI_AUDIT_N_CLASSES].threshold, 4);
    /* the probe and the unconstrained attack ran on the correctly classified samples only */
    for (int i = 0; i < NH; i++) {
        uint32_t probe = TI_AUDIT_BIT(TI_AUDIT_SILENT_SUCCESS) | TI_AUDIT_BIT(TI_AUDIT_TRANSFER) |
                         TI_AUDIT_BIT(TI_AUDIT_UNSTABLE) | TI_AUDIT_BIT(TI_AUDIT_UNCONSTRAINED);
        int correct = ev->samples[i].attack != TI_EVAL_CLEAN_WRONG;
        ck_assert_int_eq((a->tested[i] & probe) == probe, correct);
        ck_assert_int_eq(!(a->tested[i] & probe), !correct);
    }
    ti_audit_free(a);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

/* Passes: with the probe off, the checks cost n_repeat forwards per checked sample and one
 * gradient per sample of zero_gradient and of unavailable_gradients; same seed, same audit. */
START_TEST(test_audit_passes_and_determinism)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tmodel t;
    float Wt[MMAX * D], b[MMAX], x[NH * D];
    int y[NH];
    healthy_setup(&t, Wt, b, x, y, 4);
    ti_eval *ev = evaluate(ctx, &t.base, "apgd-ce,square", 0.03f, 10, 100, x, y, NH);
    ti_audit_params p = ti_audit_params_default();
    p.probe = 0;
    p.n_check = 25;
    ti_audit *a = audit(ctx, ev, &t.base, x, y, &p);
    /* zero_gradient looks at the correctly classified ones: all but samples 9 and 19 */
    ck_assert_int_eq(a->n_check, 25);
    ck_assert_int_eq(a->item[TI_AUDIT_ZERO_GRADIENT].tested, 23);
    ck_assert_int_eq(a->item[TI_AUDIT_UNAVAILABLE].tested, 25);
    ck_assert_int_eq(a->forwards, (long)p.n_repeat * 25 + 23 + 25);
    ck_assert_int_eq(a->backwards, 23L + 25);
    ck_assert(!a->item[TI_AUDIT_SILENT_SUCCESS].run && isnan(a->item[TI_AUDIT_INCOMPLETE].value));
    ck_assert(strstr(a->item[TI_AUDIT_UNSTABLE].message, "off") != NULL);
    ti_audit_free(a);

    p = all_on();
    ti_audit *a1 = audit(ctx, ev, &t.base, x, y, &p), *a2 = audit(ctx, ev, &t.base, x, y, &p);
    ck_assert_int_eq(memcmp(a1->flags, a2->flags, NH * sizeof *a1->flags), 0);
    ck_assert_int_eq(memcmp(a1->tested, a2->tested, NH * sizeof *a1->tested), 0);
    for (int c = 0; c < TI_AUDIT_COUNT; c++) {
        ck_assert(a1->item[c].value == a2->item[c].value ||
                  (isnan(a1->item[c].value) && isnan(a2->item[c].value)));
        ck_assert_str_eq(a1->item[c].message, a2->item[c].message);
    }
    ck_assert_int_eq(a1->forwards, a2->forwards);
    /* the probe: n_iter + 1 gradients and a clean pass in APGD, two checks after */
    ck_assert_int_ge(a1->backwards, 2L * NH + (long)a1->n_probe * 10);
    ti_audit_free(a1);
    ti_audit_free(a2);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- the randomized model ----------------------------------------------------------------- */

START_TEST(test_audit_randomized)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    logcap lc = {{0}, 0};
    tmodel t;
    float Wt[MMAX * D], b[MMAX], x[NH * D];
    int y[NH];
    healthy_setup(&t, Wt, b, x, y, 4);
    t.k = NOISY;
    ti_eval *ev = evaluate(ctx, &t.base, "apgd-ce,square", 0.03f, 20, 100, x, y, NH);
    ti_ctx_set_log(ctx, log_keep, &lc);
    ti_audit_params p = all_on();
    ti_audit *a = audit(ctx, ev, &t.base, x, y, &p);
    check_consistent(a, &lc);
    const ti_audit_item *r = &a->item[TI_AUDIT_RANDOMIZED];
    ck_assert_msg(r->triggered && r->flagged == NH && r->value > 1e-2, "%s", r->message);
    ck_assert(strstr(r->message, "predictions change") != NULL);
    ck_assert_msg(a->item[TI_AUDIT_UNSTABLE].triggered, "%s", a->item[TI_AUDIT_UNSTABLE].message);
    ck_assert_msg(a->item[TI_AUDIT_SILENT_SUCCESS].triggered, "%s",
                  a->item[TI_AUDIT_SILENT_SUCCESS].message);
    ck_assert_msg(a->item[TI_AUDIT_TRANSFER].triggered, "%s", a->item[TI_AUDIT_TRANSFER].message);
    /* noise does not make the outputs probabilities nor CE's gradient vanish (DLR's may:
     * it is flat where a noisy pass ranks the label third) */
    ti_audit_check quiet[] = {TI_AUDIT_SOFTMAX, TI_AUDIT_UNAVAILABLE};
    for (size_t k = 0; k < sizeof quiet / sizeof *quiet; k++)
        ck_assert_msg(!a->item[quiet[k]].triggered, "%s", a->item[quiet[k]].message);
    ti_audit_free(a);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- the softmax-output model -------------------------------------------------------------- */

START_TEST(test_audit_softmax)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    logcap lc = {{0}, 0};
    tmodel t;
    float Wt[MMAX * D], b[MMAX], x[NH * D];
    int y[NH];
    healthy_setup(&t, Wt, b, x, y, 4);
    t.k = SOFTMAX;
    t.scale = 1000.0f; /* saturated: most rows are exactly one-hot in float */
    ti_eval *ev = evaluate(ctx, &t.base, "apgd-ce,square", 0.03f, 10, 100, x, y, NH);
    ti_ctx_set_log(ctx, log_keep, &lc);
    ti_audit *a = audit(ctx, ev, &t.base, x, y, NULL);
    check_consistent(a, &lc);
    const ti_audit_item *s = &a->item[TI_AUDIT_SOFTMAX];
    ck_assert_msg(s->triggered && s->value < 1e-5, "%s", s->message);
    /* saturated probabilities have no gradient: the checks on the gradient fire too */
    ck_assert_msg(a->item[TI_AUDIT_ZERO_GRADIENT].triggered, "%s",
                  a->item[TI_AUDIT_ZERO_GRADIENT].message);
    ck_assert(strstr(a->item[TI_AUDIT_ZERO_GRADIENT].message, "dlr") != NULL); /* M = 4 */
    ck_assert(a->item[TI_AUDIT_UNAVAILABLE].triggered);
    ck_assert(!a->item[TI_AUDIT_RANDOMIZED].triggered);
    ti_audit_free(a);

    /* the same model with a mild scale: still probabilities, the gradient survives */
    t.scale = 1.0f;
    ti_eval_free(ev);
    ev = evaluate(ctx, &t.base, "apgd-ce", 0.03f, 10, 100, x, y, NH);
    a = audit(ctx, ev, &t.base, x, y, NULL);
    ck_assert(a->item[TI_AUDIT_SOFTMAX].triggered && !a->item[TI_AUDIT_ZERO_GRADIENT].triggered);
    /* and the linear model is not mistaken for one */
    t.k = LIN;
    ti_audit_free(a);
    a = audit(ctx, ev, &t.base, x, y, NULL);
    ck_assert(!a->item[TI_AUDIT_SOFTMAX].triggered);
    ti_audit_free(a);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- the gradient-masking model -------------------------------------------------------------- */

enum { NQ = 32 };

/* Inputs on the quantiser's grid k / 10, k = 2..8 (eps 0.1 moves a value one step), labels
 * its predictions. */
static void quant_setup(tmodel *t, float *Wt, float *b, float *x, int *y)
{
    ti_rng r;
    ti_rng_seed(&r, 31);
    tu_fill(&r, Wt, (size_t)4 * D, -1, 1);
    tu_fill(&r, b, 4, -0.2f, 0.2f);
    for (int i = 0; i < NQ * D; i++)
        x[i] = (float)(2 + (int)ti_rng_below(&r, 7)) / 10.0f;
    tm_init(t, QUANT, 4, Wt, b);
    label(t, x, NQ, 0, y);
}

START_TEST(test_audit_masked)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    logcap lc = {{0}, 0};
    tmodel t;
    float Wt[4 * D], b[4], x[NQ * D];
    int y[NQ];
    quant_setup(&t, Wt, b, x, y);
    ti_eval *ev = evaluate(ctx, &t.base, "apgd-ce,square", 0.1f, 20, 1000, x, y, NQ);
    ti_ctx_set_log(ctx, log_keep, &lc);
    ti_audit_params p = all_on();
    ti_audit *a = audit(ctx, ev, &t.base, x, y, &p);
    check_consistent(a, &lc);
    /* Square's successes are exactly the records' */
    int sq = 0, done = 0;
    for (int i = 0; i < NQ; i++) {
        sq += ev->samples[i].attack == 1;
        done += ev->samples[i].done;
        ck_assert_int_eq(!!(a->flags[i] & TI_AUDIT_BIT(TI_AUDIT_SQUARE)),
                         ev->samples[i].attack == 1);
    }
    const ti_audit_item *s = &a->item[TI_AUDIT_SQUARE];
    ck_assert_msg(s->triggered && s->flagged == sq && sq > 0, "%s", s->message);
    ck_assert(s->value == (double)sq / done);
    /* zero gradients everywhere: at the random start (DLR) and at x (CE) */
    ck_assert(a->item[TI_AUDIT_ZERO_GRADIENT].triggered && a->item[TI_AUDIT_ZERO_GRADIENT].value == 1.0);
    ck_assert(a->item[TI_AUDIT_UNAVAILABLE].triggered && a->item[TI_AUDIT_UNAVAILABLE].value == 1.0);
    ck_assert_msg(a->item[TI_AUDIT_UNCONSTRAINED].triggered, "%s",
                  a->item[TI_AUDIT_UNCONSTRAINED].message);
    /* noise narrower than half a grid step never changes the quantised input: the loss is
     * exactly constant */
    ck_assert(!a->item[TI_AUDIT_UNSTABLE].triggered && a->item[TI_AUDIT_UNSTABLE].value == 0.0);
    ck_assert(!a->item[TI_AUDIT_RANDOMIZED].triggered && !a->item[TI_AUDIT_SOFTMAX].triggered);
    ck_assert(strstr(lc.text, "audit: square_only: Square broke") != NULL);
    ti_audit_free(a);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- the curved model: incomplete optimisation ---------------------------------------------- */

enum { NB = 12 };

/* Class 1's logit is a cone -k ||x - c||_1 that never beats class 0's constant 0.5: every
 * point is robust, and the CE loss is largest at c, which lies inside each point's ball
 * (0.6 eps away per coordinate), so APGD's sign steps oscillate around it and only get
 * there as its step halves: 12 iterations are too few, 100 enough. */
START_TEST(test_audit_incomplete)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tmodel t;
    float c[D], x[NB * D], b[2] = {0.5f, 0.0f};
    int y[NB];
    const float eps = 0.1f;
    ti_rng r;
    ti_rng_seed(&r, 41);
    tu_fill(&r, c, D, 0.3f, 0.7f);
    for (int i = 0; i < NB * D; i++)
        x[i] = c[i % D] + (ti_rng_below(&r, 2) ? 0.6f : -0.6f) * eps;
    tm_init(&t, BUMP, 2, NULL, b);
    t.c = c;
    t.scale = 2.0f;
    label(&t, x, NB, 0, y);
    for (int i = 0; i < NB; i++)
        ck_assert_int_eq(y[i], 0);
    ti_eval *ev = evaluate(ctx, &t.base, "apgd-ce", eps, 100, 0, x, y, NB);
    ti_audit_params p = ti_audit_params_default();
    p.probe_iter = 12; /* cut short: still climbing */
    ti_audit *a = audit(ctx, ev, &t.base, x, y, &p);
    const ti_audit_item *it = &a->item[TI_AUDIT_INCOMPLETE];
    ck_assert_msg(it->triggered && it->tested == NB && it->flagged > NB / 2, "%s", it->message);
    ck_assert_int_eq(a->probe_iter, 12);
    ti_audit_free(a);
    p.probe_iter = 0; /* the evaluation's 100 iterations: settled */
    a = audit(ctx, ev, &t.base, x, y, &p);
    it = &a->item[TI_AUDIT_INCOMPLETE];
    ck_assert_msg(!it->triggered && it->tested == NB, "%s", it->message);
    ck_assert_int_eq(a->probe_iter, 100);
    ck_assert(!a->item[TI_AUDIT_SILENT_SUCCESS].triggered && !a->item[TI_AUDIT_TRANSFER].triggered);
    ti_audit_free(a);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

/* Other threat models: at L2 the unconstrained radius is the box's diameter sqrt(D); with
 * eps 0 nothing can be broken, so the probe does not run (the unconstrained attack, which
 * ignores eps, does); FMN measuring distances (eps = inf) has no threat set to probe. */
START_TEST(test_audit_threat_models)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tmodel t;
    float Wt[MMAX * D], b[MMAX], x[NH * D];
    int y[NH];
    healthy_setup(&t, Wt, b, x, y, 4);
    ti_audit_params p = all_on();
    ti_eval_params ep;
    ti_eval *ev = NULL;
    ck_assert_int_eq(ti_eval_params_init(ctx, "apgd-ce", TI_NORM_L2, 0.3f, &ep), TI_OK);
    ep.aa.apgd_ce.n_iter = 30;
    ck_assert_int_eq(ti_eval_new(ctx, &ep, 0, NH, &ev), TI_OK);
    ck_assert_int_eq(ti_eval_run(ctx, ev, &t.base, x, y, NULL, NULL), TI_OK);
    ti_audit *a = audit(ctx, ev, &t.base, x, y, &p);
    ck_assert_int_eq(a->n_triggered, 0);
    ck_assert(strstr(a->item[TI_AUDIT_UNCONSTRAINED].message, "(l2 8)") != NULL);
    ti_audit_free(a);
    ti_eval_free(ev);

    ck_assert_int_eq(ti_eval_params_init(ctx, "apgd-ce", TI_NORM_LINF, 0.0f, &ep), TI_OK);
    ck_assert_int_eq(ti_eval_new(ctx, &ep, 0, NH, &ev), TI_OK);
    ck_assert_int_eq(ti_eval_run(ctx, ev, &t.base, x, y, NULL, NULL), TI_OK);
    a = audit(ctx, ev, &t.base, x, y, &p);
    ck_assert(!a->item[TI_AUDIT_SILENT_SUCCESS].run && !a->item[TI_AUDIT_TRANSFER].run);
    ck_assert(strstr(a->item[TI_AUDIT_INCOMPLETE].message, "nothing to attack") != NULL);
    ck_assert(a->item[TI_AUDIT_UNCONSTRAINED].run && !a->item[TI_AUDIT_UNCONSTRAINED].triggered);
    ck_assert(a->item[TI_AUDIT_ZERO_GRADIENT].run && !a->item[TI_AUDIT_ZERO_GRADIENT].triggered);
    ti_audit_free(a);
    ti_eval_free(ev);

    ck_assert_int_eq(ti_eval_params_init(ctx, "fmn", TI_NORM_L2, INFINITY, &ep), TI_OK);
    ep.fmn.steps = 20;
    ck_assert_int_eq(ti_eval_new(ctx, &ep, 0, NH, &ev), TI_OK);
    ck_assert_int_eq(ti_eval_run(ctx, ev, &t.base, x, y, NULL, NULL), TI_OK);
    a = audit(ctx, ev, &t.base, x, y, &p);
    ck_assert(!a->item[TI_AUDIT_SILENT_SUCCESS].run && !a->item[TI_AUDIT_SQUARE].run);
    ck_assert(a->item[TI_AUDIT_UNSTABLE].run && a->item[TI_AUDIT_UNCONSTRAINED].run);
    ck_assert_int_eq(a->n_triggered, 0);
    ti_audit_free(a);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- the setup checks, an unsupported gradient, the JSON ------------------------------------ */

/* "standard" asks APGD-T and FAB-T for 9 targets: a 4-class model has 3 (no run needed). */
START_TEST(test_audit_n_classes)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tmodel t;
    float Wt[MMAX * D], b[MMAX], x[NH * D];
    int y[NH];
    healthy_setup(&t, Wt, b, x, y, 4);
    ti_eval_params ep;
    ti_eval *ev = NULL;
    ck_assert_int_eq(ti_eval_params_init(ctx, "standard", TI_NORM_LINF, 0.03f, &ep), TI_OK);
    ck_assert_int_eq(ti_eval_new(ctx, &ep, 0, NH, &ev), TI_OK);
    ti_audit *a = audit(ctx, ev, &t.base, x, y, NULL);
    const ti_audit_item *n = &a->item[TI_AUDIT_N_CLASSES];
    ck_assert_msg(n->triggered && n->value == 4 && n->threshold == 10, "%s", n->message);
    ck_assert(strstr(n->message, "clamped") != NULL);
    /* nothing evaluated yet: the record-based checks and the probe say why they did not run */
    ck_assert(!a->item[TI_AUDIT_SQUARE].run && !a->item[TI_AUDIT_SILENT_SUCCESS].run);
    ck_assert(strstr(a->item[TI_AUDIT_SQUARE].message, "no evaluated samples") != NULL);
    ck_assert_int_eq(a->n_probe, 0);
    ti_audit_free(a);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

/* A classifier whose vjp reports TI_ERR_UNSUPPORTED (an interrupted graph): every gradient
 * is unavailable, which the audit reports rather than failing; the checks that need a
 * gradient say why they did not run. */
START_TEST(test_audit_unsupported_gradient)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    logcap lc = {{0}, 0};
    tmodel t;
    float Wt[MMAX * D], b[MMAX], x[NH * D];
    int y[NH];
    healthy_setup(&t, Wt, b, x, y, 4);
    ti_eval *ev = evaluate(ctx, &t.base, "apgd-ce", 0.03f, 10, 0, x, y, NH);
    ti_ctx_set_log(ctx, log_keep, &lc);
    t.unsupported = 1;
    ti_audit_params p = all_on();
    ti_audit *a = audit(ctx, ev, &t.base, x, y, &p);
    check_consistent(a, &lc);
    const ti_audit_item *u = &a->item[TI_AUDIT_UNAVAILABLE];
    ck_assert_msg(u->triggered && u->flagged == NH && u->value == 1.0, "%s", u->message);
    ck_assert(strstr(u->message, "unsupported") != NULL);
    ti_audit_check need[] = {TI_AUDIT_ZERO_GRADIENT, TI_AUDIT_SILENT_SUCCESS, TI_AUDIT_INCOMPLETE,
                             TI_AUDIT_TRANSFER, TI_AUDIT_UNCONSTRAINED};
    for (size_t k = 0; k < sizeof need / sizeof *need; k++)
        ck_assert_msg(!a->item[need[k]].run && strstr(a->item[need[k]].message, "no gradient"),
                      "%s", a->item[need[k]].message);
    /* forward-only checks still ran */
    ck_assert(a->item[TI_AUDIT_RANDOMIZED].run && a->item[TI_AUDIT_UNSTABLE].run);
    ck_assert_str_eq(ti_ctx_errmsg(ctx), "");
    ti_audit_free(a);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_audit_json)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tmodel t;
    float Wt[4 * D], b[4], x[NQ * D];
    int y[NQ];
    quant_setup(&t, Wt, b, x, y);
    ti_eval *ev = evaluate(ctx, &t.base, "apgd-ce,square", 0.1f, 10, 300, x, y, NQ);
    ti_audit *a = audit(ctx, ev, &t.base, x, y, NULL);
    ti_jw *w = ti_jw_new();
    ti_jw_begin_object(w);
    ck_assert_int_eq(ti_audit_json(ctx, a, w), TI_OK);
    ti_jw_end_object(w);
    size_t len;
    const char *txt = ti_jw_text(w, &len);
    ti_json *j = NULL;
    ck_assert_msg(ti_json_parse(ctx, txt, len, &j) == TI_OK, "%s", ti_ctx_errmsg(ctx));
    const ti_json *au = ti_json_get(j, "audit"), *trig = ti_json_get(au, "triggered");
    const ti_json *checks = ti_json_get(au, "checks");
    ck_assert_int_eq(ti_json_length(checks), TI_AUDIT_COUNT);
    ck_assert_int_eq(ti_json_length(trig), a->n_triggered);
    ck_assert_int_ge(a->n_triggered, 2);
    size_t k = 0;
    for (int c = 0; c < TI_AUDIT_COUNT; c++) {
        const ti_audit_item *it = &a->item[c];
        const ti_json *o = ti_json_get(checks, ti_audit_check_name((ti_audit_check)c));
        ck_assert_ptr_nonnull(o);
        ck_assert_int_eq(ti_json_bool(ti_json_get(o, "triggered")), it->triggered);
        ck_assert_int_eq(ti_json_bool(ti_json_get(o, "run")), it->run);
        ck_assert_str_eq(ti_json_string(ti_json_get(o, "message")), it->message);
        ck_assert_int_eq((int)ti_json_number(ti_json_get(o, "flagged")), it->flagged);
        if (it->run)
            ck_assert(ti_json_number(ti_json_get(o, "value")) == it->value);
        else /* a value that was never measured is null */
            ck_assert_int_eq(ti_json_typeof(ti_json_get(o, "value")), TI_JSON_NULL);
        if (it->triggered)
            ck_assert_str_eq(ti_json_string(ti_json_at(trig, k++)),
                             ti_audit_check_name((ti_audit_check)c));
    }
    ck_assert_int_eq((long)ti_json_number(ti_json_get(ti_json_get(au, "passes"), "forwards")),
                     a->forwards);
    /* float thresholds print as given: 1e-4, not the double 9.99999974737875e-05 */
    ck_assert(ti_json_number(ti_json_get(ti_json_get(checks, "randomized"), "threshold")) == 1e-4);
    ti_json_free(j);
    ti_jw_free(w);
    ti_audit_free(a);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

/* The CSV with the audit's columns: the evaluation's row, then per per-sample check 1 where
 * it fired, 0 where it ran and passed, empty where it did not run. */
START_TEST(test_audit_csv)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tmodel t;
    float Wt[4 * D], b[4], x[NQ * D];
    int y[NQ];
    quant_setup(&t, Wt, b, x, y);
    ti_eval *ev = evaluate(ctx, &t.base, "apgd-ce,square", 0.1f, 10, 300, x, y, NQ);
    ti_audit *a = audit(ctx, ev, &t.base, x, y, NULL);
    char dir[256], path[300], plain[300], line[4096], pline[4096];
    tu_tmpdir_make(dir, sizeof dir, "auditcsv");
    snprintf(path, sizeof path, "%s/a.csv", dir);
    snprintf(plain, sizeof plain, "%s/p.csv", dir);
    ck_assert_int_eq(ti_audit_write_csv(ctx, ev, a, path), TI_OK);
    ck_assert_int_eq(ti_eval_write_csv(ctx, ev, plain), TI_OK);
    FILE *fa = fopen(path, "r"), *fp = fopen(plain, "r");
    ck_assert(fa && fp);
    int per_sample = 0, row = -1;
    for (int c = 0; c < TI_AUDIT_COUNT; c++)
        per_sample += ti_audit_check_per_sample((ti_audit_check)c);
    while (fgets(line, sizeof line, fa)) {
        ck_assert_ptr_nonnull(fgets(pline, sizeof pline, fp));
        size_t n = strlen(pline) - 1; /* the evaluation's columns come first, unchanged */
        ck_assert_int_eq(strncmp(line, pline, n), 0);
        char *extra = line + n;
        if (row < 0) {
            ck_assert_ptr_nonnull(strstr(extra, ",audit_zero_gradient"));
            ck_assert_ptr_null(strstr(extra, "audit_softmax_output"));
        } else {
            /* each per-sample check: its bit as a digit, or nothing */
            char *f = extra;
            for (int k = 0; k < TI_AUDIT_COUNT; k++) {
                if (!ti_audit_check_per_sample((ti_audit_check)k))
                    continue;
                ck_assert_int_eq(*f, ',');
                f++;
                uint32_t bit = TI_AUDIT_BIT(k);
                if (a->tested[row] & bit)
                    ck_assert_int_eq(*f++, (a->flags[row] & bit) ? '1' : '0');
            }
        }
        row++;
    }
    ck_assert_int_eq(row, NQ);
    ck_assert_int_gt(per_sample, 0);
    fclose(fa);
    fclose(fp);
    /* an audit of another evaluation is refused */
    ti_eval *other = evaluate(ctx, &t.base, "apgd-ce", 0.1f, 10, 300, x, y, NQ - 1);
    ck_assert_int_eq(ti_audit_write_csv(ctx, other, a, path), TI_ERR_ARG);
    ti_eval_free(other);
    tu_tmpdir_remove(dir);
    ti_audit_free(a);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- errors --------------------------------------------------------------------------------- */

static int cancel_audit(void *user, const char *label, long done, long total)
{
    return strcmp(label, "audit") == 0 && total > 0 && done >= 2;
}

START_TEST(test_audit_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tmodel t;
    float Wt[MMAX * D], b[MMAX], x[NH * D];
    int y[NH];
    healthy_setup(&t, Wt, b, x, y, 4);
    ti_eval *ev = evaluate(ctx, &t.base, "apgd-ce", 0.03f, 5, 0, x, y, NH);
    ti_audit *a = (ti_audit *)&a; /* set to NULL by every failing call */
    ck_assert_int_eq(ti_audit_run(ctx, NULL, &t.base, x, y, NULL, &a), TI_ERR_ARG);
    ck_assert_ptr_null(a);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "NULL evaluation") != NULL);
    ck_assert_int_eq(ti_audit_run(ctx, ev, &t.base, x, y, NULL, NULL), TI_ERR_ARG);
    ck_assert_int_eq(ti_audit_run(ctx, ev, &t.base, NULL, y, NULL, &a), TI_ERR_ARG);
    ti_audit_params p = ti_audit_params_default();
    p.n_repeat = 1;
    ck_assert_int_eq(ti_audit_run(ctx, ev, &t.base, x, y, &p, &a), TI_ERR_ARG);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "n_repeat >= 2") != NULL);
    p = ti_audit_params_default();
    p.noise = NAN;
    ck_assert_int_eq(ti_audit_run(ctx, ev, &t.base, x, y, &p, &a), TI_ERR_ARG);
    /* labels that are not the evaluation's */
    int y2[NH];
    memcpy(y2, y, sizeof y2);
    y2[3] = (y2[3] + 1) % 4;
    ck_assert_int_eq(ti_audit_run(ctx, ev, &t.base, x, y2, NULL, &a), TI_ERR_ARG);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "sample 3 has label") != NULL);
    y2[3] = 7;
    ck_assert_int_eq(ti_audit_run(ctx, ev, &t.base, x, y2, NULL, &a), TI_ERR_ARG);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "outside the model's 4 classes") != NULL);
    /* cancelled through the progress callback */
    ti_ctx_set_progress(ctx, cancel_audit, NULL);
    ck_assert_int_eq(ti_audit_run(ctx, ev, &t.base, x, y, NULL, &a), TI_ERR_CANCELLED);
    ck_assert_ptr_null(a);
    ti_audit_free(NULL);
    ti_eval_free(ev);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_audit(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_audit_healthy);
    tcase_add_test(tc, test_audit_passes_and_determinism);
    tcase_add_test(tc, test_audit_randomized);
    tcase_add_test(tc, test_audit_softmax);
    tcase_add_test(tc, test_audit_masked);
    tcase_add_test(tc, test_audit_incomplete);
    tcase_add_test(tc, test_audit_threat_models);
    tcase_add_test(tc, test_audit_n_classes);
    tcase_add_test(tc, test_audit_unsupported_gradient);
    tcase_add_test(tc, test_audit_json);
    tcase_add_test(tc, test_audit_csv);
    tcase_add_test(tc, test_audit_errors);
    suite_add_tcase(s, tc);
    return s;
}
