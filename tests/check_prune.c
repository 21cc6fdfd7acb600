/* Tests of libprune's adversarial training and methods on a tiny separable problem made
 * here: 1x8x8 images of two classes (a bright top-left or bottom-right quadrant, plus noise),
 * a small CNN, short schedules. Properties and worked examples from docs/pruning.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "thinice/methods.h"
#include "thinice/safetensors.h"

static ti_dataset *quadrants(int N, uint64_t seed)
{
    ti_dataset *d = calloc(1, sizeof *d);
    strcpy(d->name, "quadrants");
    d->N = N;
    d->C = 1;
    d->H = d->W = 8;
    d->M = 2;
    d->x = malloc((size_t)N * 64 * sizeof(float));
    d->y = malloc((size_t)N * sizeof(int));
    ti_rng r;
    ti_rng_seed(&r, seed);
    for (int n = 0; n < N; n++) {
        int c = (int)ti_rng_below(&r, 2);
        d->y[n] = c;
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++) {
                int lit = c == 0 ? (i < 4 && j < 4) : (i >= 4 && j >= 4);
                float v = (lit ? 0.8f : 0.2f) + ti_rng_uniform(&r, -0.1f, 0.1f);
                d->x[n * 64 + i * 8 + j] = v;
            }
    }
    return d;
}

static ti_model *small_model(ti_ctx *ctx)
{
    ti_model_config cfg = {.C = 1, .H = 8, .W = 8, .M = 2};
    ti_model *m = NULL;
    ck_assert_int_eq(ti_model_new(ctx, "smallcnn", &cfg, &m), TI_OK);
    return m;
}

/* Natural training for a few epochs: the dense starting point of every method. */
static void pretrain(ti_ctx *ctx, ti_model *m, const ti_dataset *d, int epochs)
{
    ti_tape *tape = ti_tape_new(ctx);
    ti_batcher *b;
    ti_sgd *opt;
    ti_sgd_params sp = ti_sgd_params_default();
    sp.lr = 0.05f;
    ck_assert_int_eq(ti_batcher_new(ctx, d, 32, 1, 0, 1, &b), TI_OK);
    ck_assert_int_eq(ti_sgd_new(ctx, &sp, &opt), TI_OK);
    ck_assert_int_eq(ti_sgd_add_model(opt, m), TI_OK);
    ti_train_setup setup = {.model = m, .tape = tape, .opt = opt, .batcher = b, .data = d,
                            .batch = 32};
    for (int e = 0; e < epochs; e++)
        ck_assert_int_eq(ti_train_epoch(ctx, &setup, e, NULL), TI_OK);
    ti_sgd_free(opt);
    ti_batcher_free(b);
    ti_tape_free(tape);
}

START_TEST(test_scaled_init_and_admm_lr)
{
    /* docs/pruning.md#hydra: fan_in 1, W = [1, -2, 4] -> S = [0.6123724, -1.2247449, 2.4494897] */
    float W[3] = {1, -2, 4}, S[3];
    ti_prune_hydra_scaled_init(W, 3, 1, S);
    ck_assert_float_eq_tol(S[0], 0.6123724f, 1e-6);
    ck_assert_float_eq_tol(S[1], -1.2247449f, 1e-6);
    ck_assert_float_eq_tol(S[2], 2.4494897f, 1e-6);
    /* ADMM's periodic rate: 0.01 for offsets 0..6, 0.001 for 7..13, 0.0001 for 14..19, then again */
    for (int e = 0; e < 40; e++) {
        int o = e % 20;
        float want = o < 7 ? 0.01f : (o < 14 ? 0.001f : 0.0001f);
        ck_assert_float_eq_tol(ti_prune_admm_lr(0.01f, e, 20), want, want * 1e-5f);
    }
    ti_prune_method m;
    ck_assert_int_eq(ti_prune_method_parse("atmc", &m), TI_OK);
    ck_assert_int_eq(m, TI_PRUNE_ATMC);
    ck_assert_int_eq(ti_prune_method_parse("lottery", &m), TI_ERR_ARG);
}
END_TEST

START_TEST(test_adversaries_stay_in_ball_and_box)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_model *m = small_model(ctx);
    ti_dataset *d = quadrants(16, 2);
    ti_classifier f;
    ck_assert_int_eq(ti_model_classifier(m, 16, &f), TI_OK);
    float *xa = malloc(16 * 64 * sizeof(float));
    ti_rng r;
    ti_rng_seed(&r, 5);
    ti_adv_params p = ti_adv_params_default(TI_ADV_PGD);
    p.eps = 0.1f;
    p.step = 0.04f;
    p.steps = 5;
    for (int k = 0; k < 2; k++) {
        if (k == 0)
            ck_assert_int_eq(ti_adv_pgd(ctx, &f, &p, d->x, d->y, 16, &r, xa), TI_OK);
        else
            ck_assert_int_eq(ti_adv_trades_inner(ctx, &f, &p, d->x, 16, &r, xa), TI_OK);
        double moved = 0;
        for (int i = 0; i < 16 * 64; i++) {
            ck_assert(xa[i] >= 0.0f && xa[i] <= 1.0f);
            ck_assert(fabsf(xa[i] - d->x[i]) <= p.eps + 1e-6f);
            moved += fabsf(xa[i] - d->x[i]);
        }
        ck_assert(moved > 0);
    }
    /* eps = 0 and no steps: x' = x */
    p.eps = 0;
    ck_assert_int_eq(ti_adv_pgd(ctx, &f, &p, d->x, d->y, 16, &r, xa), TI_OK);
    for (int i = 0; i < 16 * 64; i++)
        ck_assert_float_eq(xa[i], d->x[i]);
    p.eps = -1;
    ck_assert_int_eq(ti_adv_pgd(ctx, &f, &p, d->x, d->y, 16, &r, xa), TI_ERR_ARG);
    free(xa);
    ti_dataset_free(d);
    ti_model_free(m);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_pgd_reaches_linear_vertex)
{
    /* two classes, logits w.x + b: PGD with enough steps ends at clip01(x - eps sign(w_y - w_o)) */
    ti_ctx *ctx = ti_ctx_new(1, 1);
    float W[2 * 4] = {0.5f, -1.0f, 2.0f, -0.3f, -0.5f, 1.0f, -2.0f, 0.3f}, b[2] = {0.1f, -0.1f};
    ti_linear_classifier lc;
    ti_linear_classifier_init(&lc, W, b, 2, 1, 2, 2);
    float x[4] = {0.5f, 0.5f, 0.05f, 0.5f}, xa[4];
    int y = 0;
    ti_adv_params p = ti_adv_params_default(TI_ADV_PGD);
    p.eps = 0.1f;
    p.step = 0.03f;
    p.steps = 10;
    ti_rng r;
    ti_rng_seed(&r, 1);
    ck_assert_int_eq(ti_adv_pgd(ctx, &lc.base, &p, x, &y, 1, &r, xa), TI_OK);
    for (int i = 0; i < 4; i++) {
        float dw = W[i] - W[4 + i];
        float want = fminf(fmaxf(x[i] - p.eps * (dw > 0 ? 1.0f : -1.0f), 0.0f), 1.0f);
        ck_assert_float_eq_tol(xa[i], want, 1e-6);
    }
    ti_ctx_free(ctx);
}
END_TEST

/* One method end to end: exact sparsity, masked weights zero, accuracy kept. */
static void run_method(ti_prune_method method, double sparsity, const char *dir,
                       ti_prune_report *rep, float *weights_out)
{
    ti_ctx *ctx = ti_ctx_new(7, 1);
    ti_dataset *train = quadrants(256, 3), *test = quadrants(128, 4);
    ti_model *m = small_model(ctx);
    pretrain(ctx, m, train, 3);
    ti_prune_params p = ti_prune_params_default(method);
    p.sparsity = sparsity;
    p.batch = 32;
    p.adv.eps = 0.05f;
    p.adv.step = 0.02f;
    p.adv.steps = 3;
    p.epochs_prune = method == TI_PRUNE_MAGNITUDE ? 0 : 2;
    p.epochs_finetune = method == TI_PRUNE_ATMC ? 0 : 2;
    p.eval_steps = 3;
    p.lr_prune = method == TI_PRUNE_HYDRA ? 0.1f : 0.02f;
    p.lr_finetune = 0.02f;
    ck_assert_msg(ti_prune_run(ctx, m, train, test, &p, dir, rep) == TI_OK, "%s: %s",
                  ti_prune_method_name(method), ti_ctx_errmsg(ctx));
    ti_prune_layer layers[16];
    int nl = ti_prune_layers(m, layers, 16);
    ck_assert_int_eq(nl, 4);
    size_t zeros = 0, total = 0;
    for (int l = 0; l < nl; l++) {
        zeros += layers[l].zeros;
        total += layers[l].n;
        if (method != TI_PRUNE_ATMC) /* layer-wise methods: exact per layer */
            ck_assert_uint_eq(layers[l].n - layers[l].zeros,
                              ti_prune_keep_count(layers[l].n, sparsity));
    }
    if (method == TI_PRUNE_ATMC)
        ck_assert_uint_eq(total - zeros, ti_prune_keep_count(total, sparsity));
    /* masked positions hold exact zeros, and the masks are the model's */
    for (int i = 0; i < ti_model_nparams(m); i++) {
        ti_param *w = ti_model_param(m, i);
        if (w->kind != TI_PARAM_WEIGHT)
            continue;
        ck_assert_ptr_nonnull(w->mask);
        for (size_t j = 0; j < w->t.size; j++)
            if (w->mask[j] == 0.0f)
                ck_assert_float_eq(w->t.data[j], 0.0f);
    }
    const ti_prune_phase *last = &rep->phases[rep->nphases - 1];
    ck_assert_msg(last->clean_acc >= 0.9, "%s: clean accuracy %.3f after pruning",
                  ti_prune_method_name(method), last->clean_acc);
    if (weights_out) {
        ti_param *w = ti_model_find(m, "fc1.weight");
        memcpy(weights_out, w->t.data, w->t.size * sizeof(float));
    }
    ti_model_free(m);
    ti_dataset_free(train);
    ti_dataset_free(test);
    ti_ctx_free(ctx);
}

START_TEST(test_methods_hit_target_sparsity)
{
    static const ti_prune_method methods[4] = {TI_PRUNE_MAGNITUDE, TI_PRUNE_HYDRA,
                                               TI_PRUNE_ADMM, TI_PRUNE_ATMC};
    ti_prune_report rep;
    run_method(methods[_i], _i % 2 ? 0.95 : 0.9, NULL, &rep, NULL);
    ck_assert_int_eq(rep.nphases, methods[_i] == TI_PRUNE_MAGNITUDE || methods[_i] ==
                                  TI_PRUNE_ATMC ? 1 : 2);
}
END_TEST

static void remove_phase(const char *dir, const char *phase)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, phase);
    ck_assert_int_eq(unlink(path), 0);
    snprintf(path, sizeof path, "%s/%s.json", dir, phase);
    ck_assert_int_eq(unlink(path), 0);
}

START_TEST(test_resume_and_determinism)
{
    char dir[] = "/tmp/thinice-prune-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    size_t n = 256 * 128; /* fc1 of the 8x8 small CNN */
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    float *c = malloc(n * sizeof(float)), *d = malloc(n * sizeof(float));
    ti_prune_report r1, r2, r3, r4;
    run_method(TI_PRUNE_HYDRA, 0.9, dir, &r1, a);
    run_method(TI_PRUNE_HYDRA, 0.9, dir, &r2, b); /* every phase from its checkpoint */
    run_method(TI_PRUNE_HYDRA, 0.9, NULL, &r3, c);
    ck_assert(!r1.phases[0].resumed && r2.phases[0].resumed && r2.phases[1].resumed);
    ck_assert_int_eq(memcmp(a, b, n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a, c, n * sizeof(float)), 0); /* same seed, same bits */
    ck_assert_double_eq(r1.phases[1].clean_acc, r2.phases[1].clean_acc);
    /* a run killed after the prune phase: the fine-tuning resumes from the prune checkpoint
     * and must see the same batches and adversarial starts as the uninterrupted run */
    remove_phase(dir, "hydra-finetune");
    run_method(TI_PRUNE_HYDRA, 0.9, dir, &r4, d);
    ck_assert(r4.phases[0].resumed && !r4.phases[1].resumed);
    ck_assert_int_eq(memcmp(a, d, n * sizeof(float)), 0);
    ck_assert_double_eq(r1.phases[1].pgd_acc, r4.phases[1].pgd_acc);
    ck_assert_double_eq(r1.phases[1].last_loss, r4.phases[1].last_loss);
    free(a);
    free(b);
    free(c);
    free(d);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A checkpoint directory written with other settings or from other starting weights is
 * refused with a message instead of being resumed. */
START_TEST(test_resume_refuses_other_runs)
{
    char dir[] = "/tmp/thinice-prune-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ti_ctx *ctx = ti_ctx_new(3, 1);
    ti_dataset *train = quadrants(64, 3), *test = quadrants(32, 4);
    ti_model *m = small_model(ctx);
    ti_prune_params p = ti_prune_params_default(TI_PRUNE_MAGNITUDE);
    p.batch = 32;
    p.adv.steps = 1;
    p.epochs_finetune = 1;
    p.eval_steps = 1;
    ti_prune_report rep;
    ck_assert_int_eq(ti_prune_run(ctx, m, train, test, &p, dir, &rep), TI_OK);
    ti_model_free(m);
    m = small_model(ctx); /* other random starting weights, same settings */
    ck_assert_int_eq(ti_prune_run(ctx, m, train, test, &p, dir, &rep), TI_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "other settings"));
    ti_model_free(m);
    ti_dataset_free(train);
    ti_dataset_free(test);
    ti_ctx_free(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Phases of 0 epochs: one-shot magnitude pruning and a bare ATMC projection, each at its
 * exact sparsity (the schedules used to refuse a length of 0). */
START_TEST(test_zero_epoch_phases)
{
    ti_ctx *ctx = ti_ctx_new(5, 1);
    ti_dataset *train = quadrants(64, 3), *test = quadrants(32, 4);
    static const ti_prune_method methods[3] = {TI_PRUNE_MAGNITUDE, TI_PRUNE_ATMC, TI_PRUNE_HYDRA};
    for (int k = 0; k < 3; k++) {
        ti_model *m = small_model(ctx);
        ti_prune_params p = ti_prune_params_default(methods[k]);
        p.batch = 32;
        p.epochs_prune = 0;
        p.epochs_finetune = 0;
        p.eval_steps = 0;
        ti_prune_report rep;
        ck_assert_msg(ti_prune_run(ctx, m, train, test, &p, NULL, &rep) == TI_OK, "%s: %s",
                      ti_prune_method_name(methods[k]), ti_ctx_errmsg(ctx));
        ti_prune_layer l[8];
        int nl = ti_prune_layers(m, l, 8);
        size_t zeros = 0, total = 0, keep_layers = 0;
        for (int i = 0; i < nl; i++) {
            zeros += l[i].zeros;
            total += l[i].n;
            keep_layers += ti_prune_keep_count(l[i].n, 0.9);
        }
        /* ATMC keeps a global count, the others the count of each layer */
        ck_assert_uint_eq(total - zeros, k == 1 ? ti_prune_keep_count(total, 0.9) : keep_layers);
        ti_model_free(m);
    }
    ti_dataset_free(train);
    ti_dataset_free(test);
    ti_ctx_free(ctx);
}
END_TEST

/* The pruned model saved and loaded into a fresh model gives bit-identical logits, and the
 * file itself holds exact zeros at the masked positions (not only the mask). */
START_TEST(test_pruned_checkpoint_round_trip)
{
    ti_ctx *ctx = ti_ctx_new(9, 1);
    ti_dataset *train = quadrants(64, 3), *test = quadrants(32, 4);
    ti_model *m = small_model(ctx), *m2 = small_model(ctx);
    ti_prune_params p = ti_prune_params_default(TI_PRUNE_ATMC);
    p.batch = 32;
    p.adv.steps = 1;
    p.epochs_prune = 1;
    p.eval_steps = 0;
    ti_prune_report rep;
    ck_assert_int_eq(ti_prune_run(ctx, m, train, test, &p, NULL, &rep), TI_OK);
    char path[] = "/tmp/thinice-pruned-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(ti_model_save(m, path), TI_OK);
    ck_assert_int_eq(ti_model_load(m2, path), TI_OK);
    float la[32 * 2], lb[32 * 2];
    ck_assert_int_eq(ti_evaluate(ctx, m, test, 16, NULL, la, NULL), TI_OK);
    ck_assert_int_eq(ti_evaluate(ctx, m2, test, 16, NULL, lb, NULL), TI_OK);
    ck_assert_int_eq(memcmp(la, lb, sizeof la), 0);
    ck_assert_double_eq(ti_model_sparsity(m2), ti_model_sparsity(m));
    ti_st_file *f;
    ck_assert_int_eq(ti_st_open(ctx, path, &f), TI_OK);
    const ti_st_entry *e = ti_st_find(f, "fc1.weight"), *em = ti_st_find(f, "fc1.weight_mask");
    ck_assert(e && em);
    size_t n = 256 * 128;
    float *w = malloc(n * sizeof(float)), *mk = malloc(n * sizeof(float));
    ck_assert_int_eq(ti_st_read_f32(ctx, f, e, w), TI_OK);
    ck_assert_int_eq(ti_st_read_f32(ctx, f, em, mk), TI_OK);
    size_t masked = 0;
    for (size_t i = 0; i < n; i++)
        if (mk[i] == 0.0f) {
            masked++;
            ck_assert_float_eq(w[i], 0.0f);
        }
    ck_assert_uint_gt(masked, n / 2);
    free(w);
    free(mk);
    ti_st_close(f);
    unlink(path);
    ti_model_free(m);
    ti_model_free(m2);
    ti_dataset_free(train);
    ti_dataset_free(test);
    ti_ctx_free(ctx);
}
END_TEST

/* A HYDRA checkpoint (weights and popup_scores under DataParallel's prefix, as HYDRA's code
 * saves them): the scores become masks keeping exactly the top ti_prune_keep_count scores by
 * magnitude of each layer that has them; layers without scores stay dense. */
START_TEST(test_hydra_scores_to_masks)
{
    ti_ctx *ctx = ti_ctx_new(10, 1);
    ti_model *m = small_model(ctx), *m2 = small_model(ctx);
    ti_st_writer *w = ti_st_writer_new();
    ti_rng r;
    ti_rng_seed(&r, 3);
    float *scores[2] = {NULL, NULL};
    const char *with[2] = {"conv1", "fc1"};
    for (int i = 0; i < ti_model_nparams(m); i++) {
        ti_param *p = ti_model_param(m, i);
        int64_t shape[4];
        for (int d = 0; d < p->t.ndim; d++)
            shape[d] = p->t.shape[d];
        char name[128];
        snprintf(name, sizeof name, "module.%s", p->name);
        ck_assert_int_eq(ti_st_add_f32(w, name, p->t.ndim, shape, p->t.data), TI_OK);
        for (int k = 0; k < 2; k++) {
            char wname[64];
            snprintf(wname, sizeof wname, "%s.weight", with[k]);
            if (strcmp(p->name, wname) != 0)
                continue;
            scores[k] = malloc(p->t.size * sizeof(float));
            tu_fill(&r, scores[k], p->t.size, -1.0f, 1.0f);
            snprintf(name, sizeof name, "module.%s.popup_scores", with[k]);
            ck_assert_int_eq(ti_st_add_f32(w, name, p->t.ndim, shape, scores[k]), TI_OK);
        }
    }
    char path[] = "/tmp/thinice-hydra-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(ti_st_write(ctx, w, path), TI_OK);
    ti_st_writer_free(w);
    ck_assert_int_eq(ti_model_load(m2, path), TI_OK);
    int layers = 0;
    ck_assert_int_eq(ti_prune_apply_scores(m2, path, 0.9, &layers), TI_OK);
    ck_assert_int_eq(layers, 2);
    for (int k = 0; k < 2; k++) {
        char wname[64];
        snprintf(wname, sizeof wname, "%s.weight", with[k]);
        ti_param *p = ti_model_find(m2, wname);
        size_t n = p->t.size, keep = ti_prune_keep_count(n, 0.9), kept = 0;
        ck_assert_ptr_nonnull(p->mask);
        /* kept entries are the largest |scores|: every kept one beats every dropped one */
        float lo_kept = INFINITY, hi_dropped = 0;
        for (size_t j = 0; j < n; j++) {
            float a = fabsf(scores[k][j]);
            if (p->mask[j] == 1.0f) {
                kept++;
                lo_kept = fminf(lo_kept, a);
            } else {
                ck_assert_float_eq(p->t.data[j], 0.0f);
                hi_dropped = fmaxf(hi_dropped, a);
            }
        }
        ck_assert_uint_eq(kept, keep);
        ck_assert(lo_kept >= hi_dropped);
        free(scores[k]);
    }
    ck_assert_ptr_null(ti_model_find(m2, "conv2.weight")->mask);
    /* a bad sparsity and a missing file are errors */
    ck_assert_int_eq(ti_prune_apply_scores(m2, path, 1.0, &layers), TI_ERR_ARG);
    unlink(path);
    ck_assert_int_eq(ti_prune_apply_scores(m2, path, 0.9, &layers), TI_ERR_IO);
    ti_model_free(m);
    ti_model_free(m2);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_prune(void)
{
    Suite *s = suite_create("prune");
    TCase *tc = tcase_create("prune");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_scaled_init_and_admm_lr);
    tcase_add_test(tc, test_adversaries_stay_in_ball_and_box);
    tcase_add_test(tc, test_pgd_reaches_linear_vertex);
    tcase_add_loop_test(tc, test_methods_hit_target_sparsity, 0, 4);
    tcase_add_test(tc, test_resume_and_determinism);
    tcase_add_test(tc, test_resume_refuses_other_runs);
    tcase_add_test(tc, test_zero_epoch_phases);
    tcase_add_test(tc, test_pruned_checkpoint_round_trip);
    tcase_add_test(tc, test_hydra_scores_to_masks);
    suite_add_tcase(s, tc);
    return s;
}
