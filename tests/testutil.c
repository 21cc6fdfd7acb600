/* Test helpers: random fills, the central-difference gradient check every op uses, scratch
 * directories, and the 2-class linear model of the minimum-norm attack tests. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

void tu_fill(ti_rng *r, float *a, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        a[i] = ti_rng_uniform(r, lo, hi);
}

double tu_maxdiff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || isnan(d))
            m = isnan(d) ? INFINITY : d;
    }
    return m;
}

double tu_reldiff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (fabs((double)b[i]) + 1.0);
        m = (d > m || isnan(d)) ? (isnan(d) ? INFINITY : d) : m;
    }
    return m;
}

void tu_expect_tape_error(ti_tape *tape, ti_status s, const char *part)
{
    const char *msg = ti_ctx_errmsg(ti_tape_ctx(tape));
    ck_assert_int_eq(ti_tape_status(tape), s);
    ck_assert_msg(msg[0] != '\0', "empty error message");
    ck_assert_msg(strstr(msg, part) != NULL, "message \"%s\" lacks \"%s\"", msg, part);
    ti_tape_reset(tape);
}

/* loss = sum(R * out) in double, on a fresh forward without recording */
static double eval_loss(ti_tape *tape, tu_build_fn build, ti_tensor **in, void *user,
                        const float *R)
{
    ti_tape_reset(tape);
    ti_tape_set_recording(tape, 0);
    ti_tensor *out = build(tape, in, user);
    ck_assert_msg(out != NULL, "forward failed: %s", ti_ctx_errmsg(ti_tape_ctx(tape)));
    double s = 0;
    for (size_t i = 0; i < out->size; i++)
        s += (double)R[i] * out->data[i];
    ti_tape_set_recording(tape, 1);
    return s;
}

double tu_gradcheck(tu_build_fn build, ti_tensor **in, int nin, void *user, double h,
                    double floor)
{
    ti_ctx *ctx = ti_ctx_new(1234, 1);
    ti_tape *tape = ti_tape_new(ctx);
    for (int i = 0; i < nin; i++)
        if (in[i]->requires_grad) {
            ck_assert_int_eq(ti_tensor_alloc_grad(in[i]), TI_OK);
            memset(in[i]->grad, 0, in[i]->size * sizeof(float));
        }
    ti_tensor *out = build(tape, in, user);
    ck_assert_msg(out != NULL, "forward failed: %s", ti_ctx_errmsg(ctx));
    float *R = malloc(out->size * sizeof(float));
    tu_fill(ti_ctx_rng(ctx), R, out->size, -1.0f, 1.0f);
    ck_assert_int_eq(ti_tape_backward_seed(tape, out, R), TI_OK);

    double worst = 0;
    for (int k = 0; k < nin; k++) {
        ti_tensor *t = in[k];
        if (!t->requires_grad)
            continue;
        float *analytic = malloc(t->size * sizeof(float));
        memcpy(analytic, t->grad, t->size * sizeof(float));
        for (size_t i = 0; i < t->size; i++) {
            float keep = t->data[i];
            t->data[i] = (float)(keep + h);
            double hi = (double)t->data[i];
            double lp = eval_loss(tape, build, in, user, R);
            t->data[i] = (float)(keep - h);
            double lo = (double)t->data[i];
            double lm = eval_loss(tape, build, in, user, R);
            t->data[i] = keep;
            double num = (lp - lm) / (hi - lo);
            double den = fmax(fmax(fabs(num), fabs((double)analytic[i])), floor);
            double err = fabs(num - analytic[i]) / den;
            if (err > worst || isnan(err))
                worst = isnan(err) ? INFINITY : err;
        }
        free(analytic);
    }
    free(R);
    ti_tape_free(tape);
    ti_ctx_free(ctx);
    return worst;
}

void tu_tmpdir_make(char *dir, size_t size, const char *tag)
{
    snprintf(dir, size, "/tmp/thinice-%s-XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

void tu_tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[600];
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

ti_norm tu_dual_norm(ti_norm p)
{
    return p == TI_NORM_LINF ? TI_NORM_L1 : p == TI_NORM_L1 ? TI_NORM_LINF : TI_NORM_L2;
}

void tu_two_class(ti_rng *r, size_t D, int label, float *W, float *b, float *x, int *y)
{
    tu_fill(r, W, 2 * D, -1.0f, 1.0f);
    tu_fill(r, x, D, 0.35f, 0.65f);
    double m = 0; /* logit 0 - logit 1 at x, before the bias */
    for (size_t i = 0; i < D; i++)
        m += (double)(W[i] - W[D + i]) * x[i];
    double size = 0.05 + 0.2 * ti_rng_double(r);
    *y = label >= 0 ? label : ti_rng_double(r) < 0.5;
    double target = *y ? -size : size; /* the margin logit 0 - logit 1 we want */
    b[0] = (float)(target - m);
    b[1] = 0.0f;
}

double tu_two_class_distance(ti_norm p, size_t D, const float *W, const float *b,
                             const float *x, int y)
{
    float *dw = malloc(D * sizeof *dw);
    ck_assert_ptr_nonnull(dw);
    int j = 1 - y;
    double m = b[y] - b[j];
    for (size_t i = 0; i < D; i++) {
        dw[i] = W[y * D + i] - W[j * D + i];
        m += (double)dw[i] * x[i];
    }
    double dist = fabs(m) / ti_norm_of(tu_dual_norm(p), dw, D);
    free(dw);
    return dist;
}

ti_status tu_aa_run(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *ap,
                    const float *x, const int *y, int N, int batch, float *x_adv,
                    ti_eval **out, ti_eval_summary *sum)
{
    ti_eval_params p;
    memset(&p, 0, sizeof p);
    p.kind = TI_EVAL_AUTOATTACK;
    snprintf(p.attack, sizeof p.attack, "%s", ap->version);
    p.norm = ap->norm;
    p.eps = ap->eps;
    p.seed = ap->seed;
    p.batch_size = batch;
    p.aa = *ap;
    ck_assert_int_eq(ti_eval_new(ctx, &p, 0, N, out), TI_OK);
    ti_status s = ti_eval_run(ctx, *out, f, x, y, x_adv, NULL);
    if (sum)
        ck_assert_int_eq(ti_eval_summarize(ctx, *out, sum), TI_OK);
    return s;
}
