/* Tests of the training loop and evaluation on a tiny synthetic data set made here (8x8
 * grey images, 4 classes: a bright 3x3 blob in one quadrant over uniform noise), with the
 * small CNN: it must learn it, masks must hold, frozen groups must not move, hooks and
 * errors must behave. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/train.h"

#define S 8  /* image side */
#define NCLS 4

/* A hand-filled data set: class k has its blob in quadrant k at a random offset. */
static ti_dataset *make_blobs(int N, uint64_t seed)
{
    ti_dataset *d = calloc(1, sizeof *d);
    ck_assert_ptr_nonnull(d);
    strcpy(d->name, "blobs");
    d->N = N;
    d->C = 1;
    d->H = d->W = S;
    d->M = NCLS;
    d->x = ti_alloc((size_t)N * S * S * sizeof(float));
    d->y = ti_alloc((size_t)N * sizeof(int));
    ck_assert(d->x && d->y);
    ti_rng r;
    ti_rng_seed(&r, seed);
    for (int i = 0; i < N; i++) {
        float *img = d->x + (size_t)i * S * S;
        tu_fill(&r, img, S * S, 0.0f, 0.3f);
        int k = (int)ti_rng_below(&r, NCLS);
        int r0 = (k / 2) * 4 + (int)ti_rng_below(&r, 2), c0 = (k % 2) * 4 + (int)ti_rng_below(&r, 2);
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                img[(r0 + a) * S + c0 + b] = 0.7f + 0.3f * ti_rng_uniform(&r, 0, 1);
        d->y[i] = k;
    }
    return d;
}

typedef struct fixture {
    ti_ctx *ctx;
    ti_model *m;
    ti_sgd *opt;
    ti_tape *tape;
    ti_batcher *bt;
    ti_dataset *train, *test;
    ti_schedule sched;
    ti_train_setup setup;
} fixture;

static void fx_init(fixture *f, int N, int batch, float wd)
{
    memset(f, 0, sizeof *f);
    f->ctx = ti_ctx_new(11, 1);
    ti_model_config cfg = {.C = 1, .H = S, .W = S, .M = NCLS};
    ck_assert_int_eq(ti_model_new(f->ctx, "smallcnn", &cfg, &f->m), TI_OK);
    ti_sgd_params p = {.lr = 0.05f, .momentum = 0.9f, .weight_decay = wd, .decay_bn_bias = 1};
    ck_assert_int_eq(ti_sgd_new(f->ctx, &p, &f->opt), TI_OK);
    f->tape = ti_tape_new(f->ctx);
    f->train = make_blobs(N, 1);
    f->test = make_blobs(256, 2);
    ck_assert_int_eq(ti_batcher_new(f->ctx, f->train, batch, 1, 0, 5, &f->bt), TI_OK);
    ck_assert_int_eq(ti_schedule_cosine(f->ctx, &f->sched, 0.05f, 3, 0, 0), TI_OK);
    f->setup = (ti_train_setup){.model = f->m, .tape = f->tape, .opt = f->opt, .batcher = f->bt,
                                .data = f->train, .batch = batch, .schedule = &f->sched};
}

static void fx_free(fixture *f)
{
    ti_batcher_free(f->bt);
    ti_dataset_free(f->train);
    ti_dataset_free(f->test);
    ti_tape_free(f->tape);
    ti_sgd_free(f->opt);
    ti_model_free(f->m);
    ti_ctx_free(f->ctx);
}

START_TEST(test_train_learns_blobs)
{
    fixture f;
    fx_init(&f, 512, 32, 5e-4f);
    ck_assert_int_eq(ti_sgd_add_model(f.opt, f.m), TI_OK);
    ck_assert_int_eq(ti_sgd_count(f.opt), 8); /* 4 weights, 4 biases */
    ti_train_stats st[3];
    size_t arena = 0;
    for (int e = 0; e < 3; e++) {
        ck_assert_int_eq(ti_train_epoch(f.ctx, &f.setup, e, &st[e]), TI_OK);
        ck_assert_int_eq(st[e].images, 512);
        ck_assert_int_eq(st[e].batches, 16);
        ck_assert(st[e].images_per_s > 0 && st[e].seconds > 0);
        if (e == 1)
            arena = ti_tape_arena_bytes(f.tape);
        if (e == 2) /* steady state: the tape's memory does not grow */
            ck_assert_uint_eq(arena, ti_tape_arena_bytes(f.tape));
    }
    ck_assert_msg(st[2].loss < 0.5 * st[0].loss, "loss %g -> %g", st[0].loss, st[2].loss);
    ck_assert_float_eq_tol(st[2].last_lr, ti_schedule_lr(&f.sched, 2 + 15.0 / 16), 1e-9f);

    ti_eval_stats es;
    float *logits = malloc(256 * NCLS * sizeof(float));
    int *pred = malloc(256 * sizeof(int));
    ck_assert_int_eq(ti_evaluate(f.ctx, f.m, f.test, 100, &es, logits, pred), TI_OK);
    ck_assert_msg(es.accuracy > 0.95, "test accuracy %g", es.accuracy);
    ck_assert_int_eq(es.n, 256);
    long correct = 0;
    for (int i = 0; i < 256; i++) {
        for (int j = 0; j < NCLS; j++) /* pred is the argmax of the logits */
            ck_assert(logits[i * NCLS + j] <= logits[i * NCLS + pred[i]]);
        correct += pred[i] == f.test->y[i];
    }
    ck_assert_int_eq(correct, es.correct);
    ck_assert(es.loss > 0 && es.loss < 0.5);
    /* the same numbers without the optional outputs and with another batch size */
    ti_eval_stats es2;
    ck_assert_int_eq(ti_evaluate(f.ctx, f.m, f.test, 256, &es2, NULL, NULL), TI_OK);
    ck_assert_int_eq(es2.correct, es.correct);
    ck_assert_double_eq_tol(es2.loss, es.loss, 1e-5);
    free(logits);
    free(pred);
    fx_free(&f);
}
END_TEST

/* Masked weights stay exactly 0 through epochs with momentum and weight decay, whether the
 * mask was set before or after the model went into the optimizer. */
START_TEST(test_train_masks_hold)
{
    fixture f;
    fx_init(&f, 128, 32, 5e-3f);
    ti_param *c1 = ti_model_find(f.m, "conv1.weight"), *fc1 = ti_model_find(f.m, "fc1.weight");
    ck_assert(c1 && fc1);
    float *mask = malloc(fc1->t.size * sizeof(float));
    for (size_t i = 0; i < fc1->t.size; i++)
        mask[i] = (float)(i % 3 != 0);
    ck_assert_int_eq(ti_model_set_mask(f.m, c1, mask), TI_OK); /* before */
    ck_assert_int_eq(ti_sgd_add_model(f.opt, f.m), TI_OK);
    ck_assert_int_eq(ti_model_set_mask(f.m, fc1, mask), TI_OK); /* after */
    float *before = malloc(fc1->t.size * sizeof(float));
    memcpy(before, fc1->t.data, fc1->t.size * sizeof(float));
    for (int e = 0; e < 2; e++)
        ck_assert_int_eq(ti_train_epoch(f.ctx, &f.setup, e, NULL), TI_OK);
    ti_param *ps[2] = {c1, fc1};
    for (int k = 0; k < 2; k++) {
        size_t moved = 0;
        float *buf = ti_sgd_momentum(f.opt, k == 0 ? 0 : 4); /* conv1.w, then fc1.w */
        for (size_t i = 0; i < ps[k]->t.size; i++) {
            if (mask[i] == 0.0f)
                ck_assert_msg(ps[k]->t.data[i] == 0.0f && buf[i] == 0.0f, "%s[%zu] = %g",
                              ps[k]->name, i, ps[k]->t.data[i]);
            else if (k == 1)
                moved += ps[k]->t.data[i] != before[i];
        }
        if (k == 1)
            ck_assert_uint_gt(moved, fc1->t.size / 2);
    }
    free(mask);
    free(before);
    fx_free(&f);
}
END_TEST

/* Frozen weights are bit-identical after an epoch while the biases train; and with
 * decay_bn_bias off, weight decay touches the weights only. */
START_TEST(test_train_frozen_weights)
{
    fixture f;
    fx_init(&f, 128, 32, 1e-3f);
    ck_assert_int_eq(ti_sgd_add_model(f.opt, f.m), TI_OK);
    ti_sgd_set_group_frozen(f.opt, TI_SGD_GROUP_WEIGHTS, 1);
    size_t npf = ti_model_count_trainable(f.m);
    float *before = malloc(npf * sizeof(float)), *p = before;
    for (int i = 0; i < ti_model_nparams(f.m); i++) {
        ti_param *q = ti_model_param(f.m, i);
        memcpy(p, q->t.data, q->t.size * sizeof(float));
        p += q->t.size;
    }
    ck_assert_int_eq(ti_train_epoch(f.ctx, &f.setup, 0, NULL), TI_OK);
    p = before;
    for (int i = 0; i < ti_model_nparams(f.m); i++) {
        ti_param *q = ti_model_param(f.m, i);
        int same = memcmp(p, q->t.data, q->t.size * sizeof(float)) == 0;
        ck_assert_msg(q->kind == TI_PARAM_WEIGHT ? same : !same, "%s", q->name);
        p += q->t.size;
    }
    free(before);

    ti_sgd *opt;
    ti_sgd_params sp = {.lr = 1.0f, .momentum = 0.0f, .weight_decay = 0.1f, .decay_bn_bias = 0};
    ck_assert_int_eq(ti_sgd_new(f.ctx, &sp, &opt), TI_OK);
    ck_assert_int_eq(ti_sgd_add_model(opt, f.m), TI_OK);
    ti_model_zero_grad(f.m);
    ti_param *w = ti_model_find(f.m, "fc2.weight"), *b = ti_model_find(f.m, "fc2.bias");
    float w0 = w->t.data[3], b0 = b->t.data[1];
    ck_assert_int_eq(ti_sgd_step(opt), TI_OK);
    ck_assert_float_eq(w->t.data[3], w0 - 0.1f * w0);
    ck_assert_float_eq(b->t.data[1], b0);
    ti_sgd_free(opt);
    fx_free(&f);
}
END_TEST

typedef struct hook_state {
    int inputs, losses, afters;
    int fail_inputs_at; /* return an error from the inputs hook at this call (0: never) */
    int nan_loss, null_loss;
} hook_state;

static ti_status h_inputs(void *user, ti_train_batch *b)
{
    hook_state *h = user;
    h->inputs++;
    if (h->fail_inputs_at && h->inputs == h->fail_inputs_at)
        return ti_ctx_error(ti_tape_ctx(b->tape), TI_ERR_ARG, "hook: asked to fail");
    /* an "adversary" that darkens the images a little: the batch is writable */
    for (size_t i = 0; i < (size_t)b->n * S * S; i++)
        b->x[i] *= 0.9f;
    ck_assert(b->batch >= 0 && b->batch < b->batches && b->lr >= 0);
    return TI_OK;
}

static ti_status h_loss(void *user, ti_train_batch *b, ti_tensor **loss, ti_tensor **logits)
{
    hook_state *h = user;
    h->losses++;
    ck_assert_ptr_nonnull(b->xt);
    *logits = ti_model_forward(b->model, b->tape, b->xt, 1);
    *loss = ti_cross_entropy(b->tape, *logits, b->y, TI_REDUCE_MEAN);
    if (h->nan_loss)
        *loss = ti_scale(b->tape, *loss, NAN);
    if (h->null_loss)
        *loss = NULL;
    return ti_tape_status(b->tape);
}

static ti_status h_after(void *user, ti_train_batch *b)
{
    hook_state *h = user;
    h->afters++;
    /* gradients exist now, before the step */
    ti_param *w = ti_model_find(b->model, "fc2.weight");
    double g = 0;
    for (size_t i = 0; i < w->t.size; i++)
        g += fabsf(w->t.grad[i]);
    ck_assert(g > 0);
    return TI_OK;
}

/* progress counts images: 3 batches of 32 */
static int cancel_at_3(void *user, const char *label, long done, long total)
{
    (void)user;
    ck_assert_str_eq(label, "epoch 1");
    ck_assert_int_eq(total, 128);
    return done >= 3 * 32;
}

START_TEST(test_train_hooks)
{
    fixture f;
    fx_init(&f, 128, 32, 5e-4f);
    ck_assert_int_eq(ti_sgd_add_model(f.opt, f.m), TI_OK);
    hook_state h = {0};
    ti_train_hooks hooks = {.user = &h, .inputs = h_inputs, .loss = h_loss,
                            .after_backward = h_after};
    f.setup.hooks = &hooks;
    ti_train_stats st;
    ck_assert_int_eq(ti_train_epoch(f.ctx, &f.setup, 0, &st), TI_OK);
    ck_assert_int_eq(h.inputs, 4);
    ck_assert_int_eq(h.losses, 4);
    ck_assert_int_eq(h.afters, 4);
    ck_assert(st.accuracy > 0 && isfinite(st.loss));

    h = (hook_state){.fail_inputs_at = 2};
    ck_assert_int_eq(ti_train_epoch(f.ctx, &f.setup, 1, &st), TI_ERR_ARG);
    ck_assert_str_eq(ti_ctx_errmsg(f.ctx), "hook: asked to fail");
    ck_assert_int_eq(h.losses, 1);

    h = (hook_state){.nan_loss = 1};
    ck_assert_int_eq(ti_train_epoch(f.ctx, &f.setup, 2, &st), TI_ERR_NAN);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(f.ctx), "epoch 3, batch 1"));

    h = (hook_state){.null_loss = 1};
    ck_assert_int_eq(ti_train_epoch(f.ctx, &f.setup, 3, &st), TI_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(f.ctx), "loss"));

    /* a progress callback can cancel; stats count what was done */
    f.setup.hooks = NULL;
    ti_ctx_set_progress(f.ctx, cancel_at_3, NULL);
    ti_batcher_free(f.bt);
    ck_assert_int_eq(ti_batcher_new(f.ctx, f.train, 32, 1, 0, 5, &f.bt), TI_OK);
    f.setup.batcher = f.bt;
    ck_assert_int_eq(ti_train_epoch(f.ctx, &f.setup, 0, &st), TI_ERR_CANCELLED);
    ck_assert_int_eq(st.batches, 3);
    ck_assert_str_ne(ti_ctx_errmsg(f.ctx), "");
    ti_ctx_set_progress(f.ctx, NULL, NULL);
    fx_free(&f);
}
END_TEST

START_TEST(test_train_errors)
{
    fixture f;
    fx_init(&f, 64, 32, 0);
    ti_train_stats st;
    ti_train_setup bad = f.setup;
    bad.opt = NULL;
    ck_assert_int_eq(ti_train_epoch(f.ctx, &bad, 0, &st), TI_ERR_ARG);
    ck_assert_str_ne(ti_ctx_errmsg(f.ctx), "");
    ck_assert_int_eq(ti_train_epoch(f.ctx, NULL, 0, &st), TI_ERR_ARG);
    bad = f.setup;
    bad.batch = 0;
    ck_assert_int_eq(ti_train_epoch(f.ctx, &bad, 0, &st), TI_ERR_ARG);
    bad.batch = 32;
    bad.data = NULL;
    ck_assert_int_eq(ti_train_epoch(f.ctx, &bad, 0, &st), TI_ERR_ARG);

    /* a 3-channel model given grey images */
    ti_model *rgb;
    ti_model_config cfg = {.C = 3, .H = S, .W = S, .M = NCLS};
    ck_assert_int_eq(ti_model_new(f.ctx, "smallcnn", &cfg, &rgb), TI_OK);
    bad = f.setup;
    bad.model = rgb;
    ck_assert_int_eq(ti_train_epoch(f.ctx, &bad, 0, &st), TI_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(f.ctx), "1x8x8"));
    ti_eval_stats es;
    ck_assert_int_eq(ti_evaluate(f.ctx, rgb, f.test, 64, &es, NULL, NULL), TI_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(f.ctx), "3x8x8"));
    ck_assert_int_eq(ti_evaluate(f.ctx, f.m, f.test, 0, &es, NULL, NULL), TI_ERR_ARG);
    ck_assert_int_eq(ti_evaluate(f.ctx, NULL, f.test, 8, &es, NULL, NULL), TI_ERR_ARG);
    ck_assert_int_eq(ti_evaluate(f.ctx, f.m, NULL, 8, &es, NULL, NULL), TI_ERR_ARG);
    ti_model_free(rgb);
    /* an empty optimizer trains nothing but the loop runs; the loss is finite */
    ck_assert_int_eq(ti_train_epoch(f.ctx, &f.setup, 0, &st), TI_OK);
    ck_assert(isfinite(st.loss) && st.images == 64);
    fx_free(&f);
}
END_TEST

Suite *suite_train(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("loop");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_train_learns_blobs);
    tcase_add_test(tc, test_train_masks_hold);
    tcase_add_test(tc, test_train_frozen_weights);
    tcase_add_test(tc, test_train_hooks);
    tcase_add_test(tc, test_train_errors);
    suite_add_tcase(s, tc);
    return s;
}
