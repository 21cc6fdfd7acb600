/* Tests of what thinice-attack relies on in libattack: the one-pass gradient path of the
 * attacks' batched evaluation (libattack/batch.c through ti_classifier_grad) gives bit for bit
 * the results of the forward + vjp path, is actually taken, and reports a failing classifier;
 * and the slice-by-slice ensemble with records carried over (what --resume does) ends where
 * an uninterrupted run ends. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/apgd.h"
#include "thinice/autoattack.h"
#include "thinice/classifier.h"
#include "thinice/pgd.h"

enum { M = 5, C = 1, H = 3, W_ = 4, D = C * H * W_, N = 12 };

/* A linear classifier that also offers the one-pass grad callback (forward, fn, then the
 * transpose product), counting its calls; fail_at makes call number fail_at fail. */
typedef struct gradlin {
    ti_linear_classifier lc;
    int grads, fail_at;
} gradlin;

static ti_status gl_grad(void *self, const float *x, int n, ti_dlogits_fn fn, void *user,
                         float *logits, float *dx)
{
    gradlin *g = self;
    if (++g->grads == g->fail_at)
        return TI_ERR_NAN;
    const ti_classifier *b = &g->lc.base;
    ti_status s = b->forward(b->self, x, n, logits);
    if (s != TI_OK)
        return s;
    float dl[64 * M];
    ck_assert_int_le(n, 64);
    fn(user, logits, n, M, dl);
    return b->vjp(b->self, x, n, dl, NULL, dx);
}

static void setup(float *Wt, float *b, float *x, int *y, uint64_t seed)
{
    ti_rng r;
    ti_rng_seed(&r, seed);
    tu_fill(&r, Wt, M * D, -1, 1);
    tu_fill(&r, b, M, -0.3f, 0.3f);
    tu_fill(&r, x, N * D, 0, 1);
    for (int i = 0; i < N; i++) { /* the clean prediction as label: every point attacked */
        int best = 0;
        double zb = -1e30;
        for (int m = 0; m < M; m++) {
            double z = b[m];
            for (int k = 0; k < D; k++)
                z += (double)Wt[m * D + k] * x[i * D + k];
            if (z > zb) {
                zb = z;
                best = m;
            }
        }
        y[i] = best;
    }
}

static void make_pair(ti_linear_classifier *plain, gradlin *g, const float *Wt, const float *b)
{
    ti_linear_classifier_init(plain, Wt, b, M, C, H, W_);
    memset(g, 0, sizeof *g);
    ti_linear_classifier_init(&g->lc, Wt, b, M, C, H, W_);
}

/* forward/vjp wrappers so that f.self can be the gradlin */
static ti_status gw_forward(void *self, const float *x, int n, float *logits)
{
    gradlin *g = self;
    return g->lc.base.forward(g->lc.base.self, x, n, logits);
}
static ti_status gw_vjp(void *self, const float *x, int n, const float *dl, float *logits,
                        float *dx)
{
    gradlin *g = self;
    return g->lc.base.vjp(g->lc.base.self, x, n, dl, logits, dx);
}

/* the classifier the attacks see: the linear one's shape, callbacks on g, and grad */
static ti_classifier full(gradlin *g)
{
    ti_classifier f = g->lc.base;
    f.self = g;
    f.forward = gw_forward;
    f.vjp = gw_vjp;
    f.grad = gl_grad;
    return f;
}

START_TEST(test_grad_path_same_bits)
{
    float Wt[M * D], b[M], x[N * D], xa[N * D], xg[N * D];
    int y[N];
    setup(Wt, b, x, y, 11);
    ti_linear_classifier plain;
    gradlin g;
    make_pair(&plain, &g, Wt, b);
    ti_classifier fg = full(&g);
    ti_ctx *ctx = ti_ctx_new(0, 1);

    ti_pgd_params pp = ti_pgd_params_default();
    pp.eps = 0.05f;
    pp.step = 0.0125f;
    ck_assert_int_eq(ti_atk_pgd(ctx, &plain.base, &pp, x, y, N, xa, NULL), TI_OK);
    ck_assert_int_eq(ti_atk_pgd(ctx, &fg, &pp, x, y, N, xg, NULL), TI_OK);
    ck_assert_mem_eq(xa, xg, sizeof xa);
    ck_assert_int_gt(g.grads, 0); /* the one-pass path was taken */

    ti_apgd_params ap = ti_apgd_params_default();
    ap.eps = 0.05f;
    ap.n_iter = 30;
    ap.n_target_classes = M - 1;
    for (int loss = 0; loss < 2; loss++) {
        ap.loss = loss ? TI_LOSS_DLR : TI_LOSS_CE;
        int before = g.grads;
        ck_assert_int_eq(ti_atk_apgd(ctx, &plain.base, &ap, x, y, N, xa, NULL), TI_OK);
        ck_assert_int_eq(ti_atk_apgd(ctx, &fg, &ap, x, y, N, xg, NULL), TI_OK);
        ck_assert_mem_eq(xa, xg, sizeof xa);
        ck_assert_int_gt(g.grads, before);
    }
    ck_assert_int_eq(ti_atk_apgd_targeted(ctx, &plain.base, &ap, x, y, N, xa, NULL), TI_OK);
    ck_assert_int_eq(ti_atk_apgd_targeted(ctx, &fg, &ap, x, y, N, xg, NULL), TI_OK);
    ck_assert_mem_eq(xa, xg, sizeof xa);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_grad_path_failure)
{
    float Wt[M * D], b[M], x[N * D], xa[N * D];
    int y[N];
    setup(Wt, b, x, y, 12);
    ti_linear_classifier plain;
    gradlin g;
    make_pair(&plain, &g, Wt, b);
    g.fail_at = 3;
    ti_classifier fg = full(&g);
    ti_ctx *ctx = ti_ctx_new(0, 1);
    ti_pgd_params pp = ti_pgd_params_default();
    pp.eps = 0.05f;
    ck_assert_int_eq(ti_atk_pgd(ctx, &fg, &pp, x, y, N, xa, NULL), TI_ERR_NAN);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "grad"));
    ti_ctx_free(ctx);
}
END_TEST

/* --resume's contract: slices run one by one, their records copied into a fresh result (as
 * the state file carries them), give the records of one uninterrupted ti_aa_run */
START_TEST(test_slices_resume_same_records)
{
    float Wt[M * D], b[M], x[N * D];
    int y[N];
    setup(Wt, b, x, y, 13);
    y[3] = (y[3] + 1) % M; /* one clean-misclassified point */
    ti_linear_classifier plain;
    gradlin g;
    make_pair(&plain, &g, Wt, b);
    ti_classifier fg = full(&g);
    ti_ctx *ctx = ti_ctx_new(0, 1);
    ti_aa_params p;
    ck_assert_int_eq(ti_aa_params_version(ctx, "apgd-ce,apgd-t,fab-t,square", TI_NORM_LINF, 0.04f,
                                          &p), TI_OK);
    p.batch_size = 5;
    p.square.n_queries = 100;
    p.apgd_ce.n_iter = p.apgd_t.n_iter = p.fab_t.n_iter = 20;
    ti_aa_result *full_r, *a, *b2;
    ck_assert_int_eq(ti_aa_result_new(ctx, &p, N, &full_r), TI_OK);
    ck_assert_int_eq(ti_aa_run(ctx, &fg, &p, x, y, N, NULL, full_r), TI_OK);
    /* "killed" after the first slice: a new process reloads its records */
    ck_assert_int_eq(ti_aa_result_new(ctx, &p, N, &a), TI_OK);
    ck_assert_int_eq(ti_aa_run_slice(ctx, &fg, &p, x, y, 0, 5, NULL, a), TI_OK);
    ck_assert_int_eq(ti_aa_result_new(ctx, &p, N, &b2), TI_OK);
    memcpy(b2->samples, a->samples, 5 * sizeof *a->samples);
    ck_assert_int_eq(ti_aa_run(ctx, &fg, &p, x, y, N, NULL, b2), TI_OK);
    for (int i = 0; i < N; i++) {
        const ti_aa_sample *u = &full_r->samples[i], *v = &b2->samples[i];
        ck_assert_int_eq(u->done, 1);
        ck_assert_int_eq(v->done, 1);
        ck_assert_int_eq(u->attack, v->attack);
        ck_assert_int_eq(u->adv_pred, v->adv_pred);
        ck_assert_float_eq(u->linf, v->linf);
        ck_assert_float_eq(u->l2, v->l2);
        ck_assert_int_eq(u->forwards, v->forwards);
    }
    ck_assert_int_eq(full_r->samples[3].attack, TI_AA_CLEAN_WRONG);
    ck_assert_double_eq(full_r->clean_acc, b2->clean_acc);
    for (int k = 0; k < p.n_attacks; k++)
        ck_assert_double_eq(full_r->robust_acc[k], b2->robust_acc[k]);
    ti_aa_result_free(full_r);
    ti_aa_result_free(a);
    ti_aa_result_free(b2);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_attack_app(void)
{
    Suite *s = suite_create("attack_app");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_grad_path_same_bits);
    tcase_add_test(tc, test_grad_path_failure);
    tcase_add_test(tc, test_slices_resume_same_records);
    suite_add_tcase(s, tc);
    return s;
}
