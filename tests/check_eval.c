/* Tests of the evaluation harness (libattack eval.h) and what it relies on: the one-pass
 * gradient path of the attacks' batched evaluation (libattack/batch.c through
 * ti_classifier_grad) gives bit for bit the results of the forward + vjp path, is actually
 * taken, and reports a failing classifier; a run interrupted after a batch and resumed from
 * its state file ends where an uninterrupted run ends, whatever the batch size; the exact
 * threat-set check; the parameters' checks; the CSV and JSON; PGD, FGSM and FMN runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/apgd.h"
#include "thinice/autoattack.h"
#include "thinice/eval.h"
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

/* A progress callback that cancels the run after its first batch (the first "eval" count
 * that reaches a batch's worth of sample-attacks). */
typedef struct stopper {
    long stop_at;
} stopper;
static int stop_cb(void *user, const char *label, long done, long total)
{
    stopper *st = user;
    return total > 0 && !strcmp(label, "eval") && done >= st->stop_at;
}

static ti_eval_params aa_params(const char *list)
{
    ti_eval_params p;
    ck_assert_int_eq(ti_eval_params_init(NULL, list, TI_NORM_LINF, 0.04f, &p), TI_OK);
    p.aa.square.n_queries = 100;
    p.aa.apgd_ce.n_iter = p.aa.apgd_t.n_iter = p.aa.fab_t.n_iter = 20;
    p.seed = 9;
    return p;
}

/* --resume's contract: a run cancelled after its first batch, its state saved and loaded into
 * a fresh evaluation (as a new process does), finished with another batch size, gives the
 * records of one uninterrupted run; a state of another configuration is refused. */
START_TEST(test_eval_resume_same_records)
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
    ti_eval_params p = aa_params("apgd-ce,apgd-t,fab-t,square");
    p.batch_size = 5;
    ti_eval *full_r, *a, *b2;
    ck_assert_int_eq(ti_eval_new(ctx, &p, 100, N, &full_r), TI_OK);
    ck_assert_int_eq(ti_eval_run(ctx, full_r, &fg, x, y, NULL, NULL), TI_OK);
    char dir[256], state[300];
    tu_tmpdir_make(dir, sizeof dir, "eval");
    snprintf(state, sizeof state, "%s/run.state", dir);
    /* "killed" after the first batch */
    stopper st = {5 * 4};
    ti_ctx_set_progress(ctx, stop_cb, &st);
    ck_assert_int_eq(ti_eval_new(ctx, &p, 100, N, &a), TI_OK);
    ck_assert_int_eq(ti_eval_set_run(ctx, a, "model=lin"), TI_OK);
    ck_assert_int_eq(ti_eval_run(ctx, a, &fg, x, y, NULL, state), TI_ERR_CANCELLED);
    ti_ctx_set_progress(ctx, NULL, NULL);
    int done = 0, found = 0;
    for (int i = 0; i < N; i++)
        done += a->samples[i].done;
    ck_assert_int_eq(done, 0); /* the cancelled batch left nothing behind */
    ck_assert_int_eq(ti_eval_state_save(ctx, a, state), TI_OK);
    /* a new process: the first batch again, then cancelled state; now finish everything */
    st.stop_at = 1L << 40;
    p.batch_size = 3;
    ck_assert_int_eq(ti_eval_new(ctx, &p, 100, N, &b2), TI_OK);
    ck_assert_int_eq(ti_eval_set_run(ctx, b2, "model=lin"), TI_OK);
    ck_assert_int_eq(ti_eval_state_load(ctx, b2, state, &found), TI_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(ti_eval_run(ctx, b2, &fg, x, y, NULL, state), TI_OK);
    ti_eval_free(b2);
    /* reloading the finished state gives every record of the uninterrupted run */
    ck_assert_int_eq(ti_eval_new(ctx, &p, 100, N, &b2), TI_OK);
    ck_assert_int_eq(ti_eval_set_run(ctx, b2, "model=lin"), TI_OK);
    ck_assert_int_eq(ti_eval_state_load(ctx, b2, state, &found), TI_OK);
    for (int i = 0; i < N; i++) {
        const ti_eval_sample *u = &full_r->samples[i], *v = &b2->samples[i];
        ck_assert_int_eq(v->done, 1);
        ck_assert_int_eq(memcmp(u, v, sizeof *u), 0);
    }
    ck_assert_int_eq(full_r->samples[3].attack, TI_EVAL_CLEAN_WRONG);
    /* another model's state, or another eps, is refused with the setting that differs */
    ck_assert_int_eq(ti_eval_set_run(ctx, b2, "model=other"), TI_OK);
    ck_assert_int_eq(ti_eval_state_load(ctx, b2, state, &found), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "run=model=lin"));
    ck_assert(!b2->samples[0].done);
    ti_eval_free(b2);
    p.eps = 0.05f;
    ck_assert_int_eq(ti_eval_new(ctx, &p, 100, N, &b2), TI_OK);
    ck_assert_int_eq(ti_eval_set_run(ctx, b2, "model=lin"), TI_OK);
    ck_assert_int_eq(ti_eval_state_load(ctx, b2, state, &found), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "eps=0.0399999991"));
    ti_eval_free(b2);
    ti_eval_free(full_r);
    ti_eval_free(a);
    tu_tmpdir_remove(dir);
    ti_ctx_free(ctx);
}
END_TEST

/* Broken means misclassified and inside the ball exactly: a point a hair outside eps (what
 * a 1e-6 tolerance would have accepted) is not. */
START_TEST(test_eval_threat_set_exact)
{
    float x[4] = {0.2f, 0.5f, 0.7f, 0.9f}, a[4];
    const float eps = 0.03137255f;
    memcpy(a, x, sizeof a);
    a[0] = x[0] + eps;
    if ((double)a[0] - x[0] > eps)
        a[0] = nextafterf(a[0], 0.0f);
    ck_assert(ti_eval_in_threat_set(TI_NORM_LINF, a, x, 4, eps));
    a[0] = nextafterf(a[0], 1.0f); /* one ulp further: about 1.5e-8 beyond */
    ck_assert((double)a[0] - x[0] > eps && (double)a[0] - x[0] < eps + 1e-6);
    ck_assert(!ti_eval_in_threat_set(TI_NORM_LINF, a, x, 4, eps));
    memcpy(a, x, sizeof a);
    a[3] = 1.0f + 1e-7f; /* outside the box */
    ck_assert(!ti_eval_in_threat_set(TI_NORM_LINF, a, x, 4, 1.0f));
    a[3] = NAN;
    ck_assert(!ti_eval_in_threat_set(TI_NORM_L2, a, x, 4, 1.0f));
}
END_TEST

/* Every check of the parameters names the problem. */
START_TEST(test_eval_params_errors)
{
    ti_ctx *ctx = ti_ctx_new(0, 1);
    ti_eval_params p;
    ck_assert_int_eq(ti_eval_params_init(ctx, "apgd-cee", TI_NORM_LINF, 0.1f, &p), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "did you mean 'apgd-ce'"));
    ck_assert_int_eq(ti_eval_params_init(ctx, "apgd-ce,pgd", TI_NORM_LINF, 0.1f, &p), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "pgd runs alone"));
    ck_assert_int_eq(ti_eval_params_init(ctx, "apgd-ce,", TI_NORM_LINF, 0.1f, &p), TI_ERR_ARG);
    ck_assert_int_eq(ti_eval_params_init(ctx, "standard", TI_NORM_L1, 0.1f, &p), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "no l1 version"));
    ck_assert_int_eq(ti_eval_params_init(ctx, "pgd", TI_NORM_L0, 0.1f, &p), TI_ERR_ARG);
    ck_assert_int_eq(ti_eval_params_init(ctx, "pgd", TI_NORM_LINF, -0.1f, &p), TI_ERR_ARG);
    ck_assert_int_eq(ti_eval_params_init(ctx, "pgd", TI_NORM_LINF, INFINITY, &p), TI_ERR_ARG);
    ck_assert_int_eq(ti_eval_params_init(ctx, "fmn", TI_NORM_L0, INFINITY, &p), TI_OK);
    ck_assert_int_eq(ti_eval_params_init(ctx, "apgd-ce,apgd-t", TI_NORM_L1, 1.0f, &p), TI_OK);
    ck_assert_int_eq(p.aa.n_attacks, 2);
    ck_assert_int_eq(ti_eval_params_init(ctx, "plus", TI_NORM_L2, 0.5f, &p), TI_OK);
    ck_assert_int_eq(p.aa.n_attacks, 6);
    ti_ctx_free(ctx);
}
END_TEST

/* The CSV: one header, one row per sample, the global indices, the per-attack passes that
 * add up to the totals; the JSON: the eps as given (0.04, not 0.03999999910593033). */
START_TEST(test_eval_csv_json)
{
    float Wt[M * D], b[M], x[N * D];
    int y[N];
    setup(Wt, b, x, y, 14);
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, Wt, b, M, C, H, W_);
    ti_ctx *ctx = ti_ctx_new(0, 1);
    ti_eval_params p = aa_params("apgd-ce,square");
    ti_eval *ev;
    ck_assert_int_eq(ti_eval_new(ctx, &p, 40, N, &ev), TI_OK);
    ck_assert_int_eq(ti_eval_run(ctx, ev, &lc.base, x, y, NULL, NULL), TI_OK);
    char dir[256], csv[300];
    tu_tmpdir_make(dir, sizeof dir, "evalcsv");
    snprintf(csv, sizeof csv, "%s/r.csv", dir);
    ck_assert_int_eq(ti_eval_write_csv(ctx, ev, csv), TI_OK);
    FILE *fp = fopen(csv, "r");
    char line[512];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_str_eq(line, "index,label,clean_pred,adv_pred,success,attack,linf,l2,l1,min_norm,"
                           "forwards,backwards,forwards_apgd-ce,backwards_apgd-ce,"
                           "forwards_square,backwards_square\n");
    int rows = 0;
    while (fgets(line, sizeof line, fp)) {
        int idx, label, cp, ap, succ;
        long f, bw, f1, b1, f2, b2;
        char att[32];
        ck_assert_int_eq(sscanf(line, "%d,%d,%d,%d,%d,%31[^,],%*[^,],%*[^,],%*[^,],,%ld,%ld,%ld,"
                                      "%ld,%ld,%ld", &idx, &label, &cp, &ap, &succ, att, &f, &bw,
                                &f1, &b1, &f2, &b2), 12);
        ck_assert_int_eq(idx, 40 + rows);
        ck_assert_int_eq(label, y[rows]);
        ck_assert_int_eq(succ, strcmp(att, "none") != 0 && strcmp(att, "clean") != 0);
        ck_assert_int_eq(bw, b1 + b2);
        ck_assert_int_eq(b2, 0); /* square needs no gradient */
        ck_assert_int_gt(f, f1 + f2); /* plus the clean pass and the checks */
        rows++;
    }
    fclose(fp);
    ck_assert_int_eq(rows, N);
    ti_jw *w = ti_jw_new();
    ti_jw_begin_object(w);
    ck_assert_int_eq(ti_eval_json(ctx, ev, w), TI_OK);
    ti_jw_end_object(w);
    size_t len;
    const char *txt = ti_jw_text(w, &len);
    ck_assert_ptr_nonnull(strstr(txt, "\"eps\":0.04"));
    ck_assert_ptr_null(strstr(txt, "0.0399999"));
    ti_jw_free(w);
    ti_eval_free(ev);
    tu_tmpdir_remove(dir);
    ti_ctx_free(ctx);
}
END_TEST

/* PGD and FGSM through the harness: the same records at any batch size; eps 0 runs nothing
 * (robust = clean), as for AutoAttack. FMN: distances of the correctly classified points;
 * with the predicted class, the misclassified ones get one too. */
START_TEST(test_eval_single_attacks)
{
    float Wt[M * D], b[M], x[N * D];
    int y[N];
    setup(Wt, b, x, y, 15);
    y[2] = (y[2] + 1) % M;
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, Wt, b, M, C, H, W_);
    ti_ctx *ctx = ti_ctx_new(0, 1);
    const char *kinds[2] = {"pgd", "fgsm"};
    for (int k = 0; k < 2; k++) {
        ti_eval *e1, *e2;
        ti_eval_params p;
        ck_assert_int_eq(ti_eval_params_init(ctx, kinds[k], TI_NORM_LINF, 0.05f, &p), TI_OK);
        p.batch_size = 1;
        ck_assert_int_eq(ti_eval_new(ctx, &p, 0, N, &e1), TI_OK);
        ck_assert_int_eq(ti_eval_run(ctx, e1, &lc.base, x, y, NULL, NULL), TI_OK);
        p.batch_size = 7;
        ck_assert_int_eq(ti_eval_new(ctx, &p, 0, N, &e2), TI_OK);
        ck_assert_int_eq(ti_eval_run(ctx, e2, &lc.base, x, y, NULL, NULL), TI_OK);
        for (int i = 0; i < N; i++)
            ck_assert_int_eq(memcmp(&e1->samples[i], &e2->samples[i], sizeof e1->samples[i]), 0);
        ti_eval_summary s1;
        ck_assert_int_eq(ti_eval_summarize(ctx, e1, &s1), TI_OK);
        ck_assert(s1.robust_final < s1.clean_acc);
        ti_eval_free(e1);
        ti_eval_free(e2);
        ck_assert_int_eq(ti_eval_params_init(ctx, kinds[k], TI_NORM_LINF, 0.0f, &p), TI_OK);
        ck_assert_int_eq(ti_eval_new(ctx, &p, 0, N, &e1), TI_OK);
        ck_assert_int_eq(ti_eval_run(ctx, e1, &lc.base, x, y, NULL, NULL), TI_OK);
        ck_assert_int_eq(ti_eval_summarize(ctx, e1, &s1), TI_OK);
        ck_assert_double_eq(s1.robust_final, s1.clean_acc);
        ti_eval_free(e1);
    }
    for (int pred = 0; pred < 2; pred++) {
        ti_eval *e;
        ti_eval_params p;
        ck_assert_int_eq(ti_eval_params_init(ctx, "fmn", TI_NORM_L2, INFINITY, &p), TI_OK);
        p.fmn.steps = 100;
        p.fmn_predicted = pred;
        ck_assert_int_eq(ti_eval_new(ctx, &p, 0, N, &e), TI_OK);
        ck_assert_int_eq(ti_eval_run(ctx, e, &lc.base, x, y, NULL, NULL), TI_OK);
        int found = 0;
        for (int i = 0; i < N; i++) {
            const ti_eval_sample *r = &e->samples[i];
            if (r->attack == TI_EVAL_CLEAN_WRONG) {
                ck_assert(pred ? r->min_norm > 0 : r->min_norm == 0);
            } else if (isfinite(r->min_norm)) { /* broken (no radius), at FMN's distance */
                ck_assert_int_eq(r->attack, 0);
                ck_assert_float_eq_tol(r->min_norm, r->l2, 1e-6f * r->l2);
                found++;
            } else { /* FMN lands on a linear boundary from one side: not always across */
                ck_assert_int_eq(r->attack, TI_EVAL_ROBUST);
            }
            /* misclassified points are attacked only for distances to the predicted class */
            ck_assert_int_eq(r->backwards[0],
                             pred || r->attack != TI_EVAL_CLEAN_WRONG ? 100 : 0);
        }
        ck_assert_int_gt(found, 3);
        ti_eval_free(e);
    }
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_eval(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_grad_path_same_bits);
    tcase_add_test(tc, test_grad_path_failure);
    tcase_add_test(tc, test_eval_resume_same_records);
    tcase_add_test(tc, test_eval_threat_set_exact);
    tcase_add_test(tc, test_eval_params_errors);
    tcase_add_test(tc, test_eval_csv_json);
    tcase_add_test(tc, test_eval_single_attacks);
    suite_add_tcase(s, tc);
    return s;
}
