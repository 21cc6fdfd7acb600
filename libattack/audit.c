/* The audit of an evaluation (audit.h): its parameters, the two sets of samples it queries
 * the classifier on, the bookkeeping every check shares (its numbers, its warning, its
 * per-sample bits) and the order the checks run in. The checks themselves:
 * audit_checks.c (AutoAttack's), audit_indicators.c and audit_probe.c (the indicators of
 * attack failure); the JSON in audit_io.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const names[TI_AUDIT_COUNT] = {
    "randomized",     "softmax_output",          "zero_gradient",    "n_classes",
    "square_only",    "silent_success",          "incomplete_optimization",
    "transfer_failure", "unavailable_gradients", "unstable_predictions",
    "unconstrained_attack_failure"};

const char *ti_audit_check_name(ti_audit_check c)
{
    return (unsigned)c < TI_AUDIT_COUNT ? names[c] : "?";
}

int ti_audit_check_per_sample(ti_audit_check c)
{
    return (unsigned)c < TI_AUDIT_COUNT && c != TI_AUDIT_SOFTMAX && c != TI_AUDIT_N_CLASSES;
}

ti_audit_params ti_audit_params_default(void)
{
    return (ti_audit_params){.n_check = 250, .n_repeat = 5, .random_tol = 1e-4f,
                             .softmax_tol = 1e-5f, .square_tol = 0.002f, .n_probe = 100,
                             .probe = 1, .probe_iter = 0, .window = 10,
                             .incomplete_tol = 0.05f, .unstable = 0, .n_noise = 100,
                             .noise = 8.0f / 255.0f, .unstable_tol = 0.1f,
                             .unconstrained = 0};
}

/* ---- what every check shares ----------------------------------------------------------- */

void ti__audit_note(ti_ctx *ctx, ti_audit *a, ti_audit_check c, int triggered, int tested,
                    int flagged, double value, double threshold, const char *fmt, ...)
{
    ti_audit_item *it = &a->item[c];
    it->run = 1;
    it->triggered = triggered;
    it->tested = tested;
    it->flagged = flagged;
    it->value = value;
    it->threshold = threshold;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->message, sizeof it->message, fmt, ap);
    va_end(ap);
    if (triggered) { /* never silent */
        a->n_triggered++;
        ti_ctx_log(ctx, 1, "audit: %s: %s", names[c], it->message);
    }
}

void ti__audit_skip(ti_audit *a, ti_audit_check c, const char *fmt, ...)
{
    ti_audit_item *it = &a->item[c];
    memset(it, 0, sizeof *it);
    it->value = it->threshold = NAN;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->message, sizeof it->message, fmt, ap);
    va_end(ap);
}

void ti__audit_mark(ti_audit *a, int i, ti_audit_check c, int fired)
{
    a->tested[i] |= TI_AUDIT_BIT(c);
    if (fired)
        a->flags[i] |= TI_AUDIT_BIT(c);
}

ti_status ti__audit_eval(ti_ctx *ctx, ti_audit *a, const ti_classifier *f, ti_loss loss,
                         const ti__audit_set *s, const float *xs, float *logits,
                         float *lossv, int *pred, float *grad)
{
    float *dl = NULL; /* d loss / d logits, scratch of the forward + vjp path */
    if (grad && !(dl = malloc((size_t)(s->n > 0 ? s->n : 1) * f->M * sizeof *dl)))
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "audit: out of memory for %d samples", s->n);
    ti_status st = ti__atk_eval(ctx, f, loss, xs ? xs : s->x, s->y, NULL, s->n, logits, dl,
                                lossv, pred, grad);
    free(dl);
    a->forwards += s->n;
    a->backwards += grad ? s->n : 0;
    return st;
}

int ti__audit_no_gradient(ti_ctx *ctx, ti_status *s)
{
    if (*s != TI_ERR_UNSUPPORTED)
        return 0;
    ti_ctx_clear_error(ctx);
    *s = TI_OK;
    return 1;
}

/* ---- the sets ------------------------------------------------------------------------------ */

void ti__audit_set_free(ti__audit_set *s)
{
    free(s->idx); free(s->ids); free(s->x); free(s->y);
    memset(s, 0, sizeof *s);
}

static ti_status set_alloc(ti_ctx *ctx, ti__audit_set *s, int cap, size_t D)
{
    cap = cap > 0 ? cap : 1;
    s->n = 0;
    s->idx = malloc((size_t)cap * sizeof *s->idx);
    s->ids = malloc((size_t)cap * sizeof *s->ids);
    s->x = malloc((size_t)cap * D * sizeof *s->x);
    s->y = malloc((size_t)cap * sizeof *s->y);
    if (!s->idx || !s->ids || !s->x || !s->y)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "audit: out of memory for %d samples", cap);
    return TI_OK;
}

ti_status ti__audit_subset(ti_ctx *ctx, const ti__audit_set *s, const unsigned char *keep,
                           size_t D, ti__audit_set *out)
{
    ti_status st = set_alloc(ctx, out, s->n, D);
    for (int k = 0; st == TI_OK && k < s->n; k++)
        if (keep[k]) {
            int n = out->n++;
            out->idx[n] = s->idx[k];
            out->ids[n] = s->ids[k];
            out->y[n] = s->y[k];
            memcpy(out->x + (size_t)n * D, s->x + (size_t)k * D, D * sizeof(float));
        }
    return st;
}

/* Up to max samples of ev in index order: all of them, or (correct) those done and
 * classified correctly at x. */
static ti_status set_make(ti_ctx *ctx, const ti_eval *ev, const float *x, const int *y,
                          size_t D, int max, int correct, ti__audit_set *s)
{
    ti_status st = set_alloc(ctx, s, max < ev->N ? max : ev->N, D);
    if (st != TI_OK)
        return st;
    for (int i = 0; i < ev->N && s->n < max; i++) {
        const ti_eval_sample *r = &ev->samples[i];
        if (correct && !(r->done && r->attack != TI_EVAL_CLEAN_WRONG))
            continue;
        s->idx[s->n] = i;
        s->ids[s->n] = (uint64_t)ev->first + (uint64_t)i;
        s->y[s->n] = y[i];
        memcpy(s->x + (size_t)s->n * D, x + (size_t)i * D, D * sizeof(float));
        s->n++;
    }
    return TI_OK;
}

/* ---- the run ------------------------------------------------------------------------------- */

static ti_status check_params(ti_ctx *ctx, const ti_audit_params *p)
{
    int ok = p->n_check >= 0 && p->n_repeat >= 2 && p->n_probe >= 0 && p->probe_iter >= 0 &&
             p->window >= 1 && p->n_noise >= 1;
    float tol[] = {p->random_tol, p->softmax_tol, p->square_tol, p->incomplete_tol,
                   p->unstable_tol, p->noise};
    for (size_t k = 0; k < sizeof tol / sizeof *tol; k++)
        ok &= tol[k] >= 0.0f && isfinite(tol[k]);
    return ok ? TI_OK
              : ti_ctx_error(ctx, TI_ERR_ARG, "audit: bad parameters (need n_check, n_probe, "
                             "probe_iter >= 0, n_repeat >= 2, window, n_noise >= 1, and finite "
                             "tolerances and noise >= 0)");
}

/* The data must be the evaluation's: every done record's label is y's. */
static ti_status check_data(ti_ctx *ctx, const ti_eval *ev, const ti_classifier *f,
                            const float *x, const int *y)
{
    if (!f || !f->forward || !f->vjp || f->M < 2 || ti_classifier_dim(f) == 0 ||
        (ev->N > 0 && (!x || !y)))
        return ti_ctx_error(ctx, TI_ERR_ARG, "audit: NULL data, or a classifier without "
                            "forward and vjp or with fewer than 2 classes");
    for (int i = 0; i < ev->N; i++) {
        if (y[i] < 0 || y[i] >= f->M)
            return ti_ctx_error(ctx, TI_ERR_ARG, "audit: sample %d has label %d, outside the "
                                "model's %d classes", ev->first + i, y[i], f->M);
        if (ev->samples[i].done && ev->samples[i].label != y[i])
            return ti_ctx_error(ctx, TI_ERR_ARG, "audit: sample %d has label %d but the "
                                "evaluation recorded %d: x and y must be the evaluation's "
                                "samples, in order", ev->first + i, y[i],
                                ev->samples[i].label);
    }
    return TI_OK;
}

static ti_status audit_new(ti_ctx *ctx, const ti_eval *ev, ti_audit **out)
{
    ti_audit *a = calloc(1, sizeof *a);
    size_t n = ev->N > 0 ? (size_t)ev->N : 1;
    if (!a || !(a->flags = calloc(n, sizeof *a->flags)) ||
        !(a->tested = calloc(n, sizeof *a->tested))) {
        ti_audit_free(a);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "audit: out of memory for %d samples", ev->N);
    }
    a->first = ev->first;
    a->N = ev->N;
    for (int c = 0; c < TI_AUDIT_COUNT; c++)
        ti__audit_skip(a, (ti_audit_check)c, "not run");
    *out = a;
    return TI_OK;
}

void ti_audit_free(ti_audit *a)
{
    if (!a)
        return;
    free(a->flags);
    free(a->tested);
    free(a);
}

/* The checks in order of cost, each a step of the progress count. */
static ti_status run_all(ti_ctx *ctx, ti_audit *a, const ti_eval *ev, const ti_classifier *f,
                         const ti__audit_set *chk, const ti__audit_set *pr,
                         const ti_audit_params *p)
{
    ti_status s = ti__audit_aa_checks(ctx, a, ev, f, chk, p);
    if (s == TI_OK && (s = ti_ctx_progress(ctx, "audit", 1, 4)) == TI_OK)
        s = ti__audit_unavailable(ctx, a, f, chk);
    if (s == TI_OK && (s = ti_ctx_progress(ctx, "audit", 2, 4)) == TI_OK)
        s = ti__audit_probe(ctx, a, ev, f, pr, p);
    if (s == TI_OK && (s = ti_ctx_progress(ctx, "audit", 3, 4)) == TI_OK) {
        if (p->unstable)
            s = ti__audit_unstable(ctx, a, ev, f, pr, p);
        else
            ti__audit_skip(a, TI_AUDIT_UNSTABLE, "off (costly: %d forward passes a sample; "
                           "on with the full audit)", p->n_noise);
    }
    if (s == TI_OK) {
        if (p->unconstrained)
            s = ti__audit_unconstrained(ctx, a, ev, f, pr, p);
        else
            ti__audit_skip(a, TI_AUDIT_UNCONSTRAINED, "off (costly: an attack run a sample; "
                           "on with the full audit)");
    }
    return s == TI_OK ? ti_ctx_progress(ctx, "audit", 4, 4) : s;
}

ti_status ti_audit_run(ti_ctx *ctx, const ti_eval *ev, const ti_classifier *f, const float *x,
                       const int *y, const ti_audit_params *p, ti_audit **out)
{
    if (!out)
        return ti_ctx_error(ctx, TI_ERR_ARG, "audit: NULL output");
    *out = NULL;
    ti_audit_params def = ti_audit_params_default();
    p = p ? p : &def;
    if (!ev)
        return ti_ctx_error(ctx, TI_ERR_ARG, "audit: NULL evaluation");
    ti_status s = check_params(ctx, p);
    if (s == TI_OK)
        s = check_data(ctx, ev, f, x, y);
    if (s != TI_OK)
        return s;
    double t0 = ti_clock();
    size_t D = ti_classifier_dim(f);
    ti_audit *a = NULL;
    ti__audit_set chk = {0}, pr = {0};
    if ((s = audit_new(ctx, ev, &a)) != TI_OK ||
        (s = set_make(ctx, ev, x, y, D, p->n_check, 0, &chk)) != TI_OK ||
        (s = set_make(ctx, ev, x, y, D, p->n_probe, 1, &pr)) != TI_OK)
        goto done;
    a->n_check = chk.n;
    a->n_probe = pr.n;
    s = run_all(ctx, a, ev, f, &chk, &pr, p);
    a->seconds = ti_clock() - t0;
done:
    ti__audit_set_free(&chk);
    ti__audit_set_free(&pr);
    if (s != TI_OK) {
        ti_audit_free(a);
        return s;
    }
    *out = a;
    return TI_OK;
}
