/* Data-parallel training (ti_train_setup.reduce) with the "processes" played by threads of
 * this test, each with its own context, model and optimizer, and a reducer that sums through
 * shared memory in rank order. It must keep every process's weights identical bit for bit
 * after every step, match one process training on the whole batches (a model without batch
 * norm: the summed gradient is the batch's mean gradient), average the batch-norm running
 * statistics, and refuse a malformed reducer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/train.h"

#define MAXP 3
#define MAXSTEPS 64

/* The shared memory of the threads' reducer. */
typedef struct shared {
    pthread_barrier_t bar;
    int size;
    float *slot[MAXP];
    uint64_t hash[MAXP];
} shared;

typedef struct proc {
    shared *sh;
    ti_reducer red;
    const char *arch;
    int N, batch, epochs;
    ti_status status;
    int steps, checks;
    uint64_t hash[MAXSTEPS]; /* of the weights and buffers after each step */
    float *weights;          /* every parameter and buffer at the end, back to back */
    size_t nweights;
    ti_train_stats last;
} proc;

/* Sums in rank order into scratch, waits until every process has read every slot, copies
 * back: the same bits everywhere. */
static ti_status thread_sum(void *user, float *buf, size_t n)
{
    proc *p = user;
    shared *sh = p->sh;
    float *sum = malloc(n * sizeof *sum);
    ck_assert_ptr_nonnull(sum);
    sh->slot[p->red.rank] = buf;
    pthread_barrier_wait(&sh->bar);
    for (size_t i = 0; i < n; i++) {
        float s = 0;
        for (int r = 0; r < sh->size; r++)
            s += sh->slot[r][i];
        sum[i] = s;
    }
    pthread_barrier_wait(&sh->bar);
    memcpy(buf, sum, n * sizeof *sum);
    free(sum);
    return TI_OK;
}

/* The reducer's check: every process's model hash equal to rank 0's. */
static ti_status thread_check(void *user, uint64_t h)
{
    proc *p = user;
    shared *sh = p->sh;
    sh->hash[p->red.rank] = h;
    pthread_barrier_wait(&sh->bar);
    int same = 1;
    for (int r = 0; r < sh->size; r++)
        same &= sh->hash[r] == sh->hash[0];
    pthread_barrier_wait(&sh->bar);
    p->checks++;
    return same ? TI_OK : TI_ERR_STATE;
}

/* FNV-1a of every parameter and buffer (or their copy into out when out is not NULL). */
static uint64_t model_bytes(ti_model *m, float *out)
{
    uint64_t h = 0xCBF29CE484222325ULL;
    size_t u = 0;
    for (int i = 0; i < ti_model_nparams(m); i++) {
        const ti_tensor *t = &ti_model_param(m, i)->t;
        const unsigned char *b = (const unsigned char *)t->data;
        for (size_t j = 0; j < t->size * sizeof(float); j++)
            h = (h ^ b[j]) * 0x100000001B3ULL;
        if (out)
            memcpy(out + u, t->data, t->size * sizeof(float));
        u += t->size;
    }
    return h;
}

typedef struct step_user {
    proc *p;
    ti_model *m;
} step_user;

static ti_status after_step(void *user, ti_train_batch *b)
{
    (void)b;
    step_user *u = user;
    if (u->p->steps < MAXSTEPS)
        u->p->hash[u->p->steps] = model_bytes(u->m, NULL);
    u->p->steps++;
    return TI_OK;
}

/* Random 1x8x8 images with random labels: the data only has to give gradients. */
static ti_dataset *noise_data(int N)
{
    ti_dataset *d = calloc(1, sizeof *d);
    ck_assert_ptr_nonnull(d);
    strcpy(d->name, "noise");
    d->N = N;
    d->C = 1;
    d->H = d->W = 8;
    d->M = 4;
    d->x = ti_alloc((size_t)N * 64 * sizeof(float));
    d->y = ti_alloc((size_t)N * sizeof(int));
    ck_assert(d->x && d->y);
    ti_rng r;
    ti_rng_seed(&r, 3);
    tu_fill(&r, d->x, (size_t)N * 64, 0, 1);
    for (int i = 0; i < N; i++)
        d->y[i] = (int)ti_rng_below(&r, 4);
    return d;
}

/* A training setup of its own: context, model, optimizer, data, batcher, tape. */
typedef struct rig {
    ti_ctx *ctx;
    ti_model *m;
    ti_sgd *opt;
    ti_batcher *bt;
    ti_dataset *d;
    ti_tape *tape;
} rig;

static void rig_open(rig *g, const char *arch, int N, int batch)
{
    g->ctx = ti_ctx_new(11, 1);
    ti_model_config cfg = {.C = 1, .H = 8, .W = 8, .M = 4};
    ti_sgd_params sp = {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f};
    g->d = noise_data(N);
    g->tape = ti_tape_new(g->ctx);
    ck_assert_int_eq(ti_model_new(g->ctx, arch, &cfg, &g->m), TI_OK);
    ck_assert_int_eq(ti_sgd_new(g->ctx, &sp, &g->opt), TI_OK);
    ck_assert_int_eq(ti_sgd_add_model(g->opt, g->m), TI_OK);
    ck_assert_int_eq(ti_batcher_new(g->ctx, g->d, batch, 1, 0, 5, &g->bt), TI_OK);
}

static void rig_close(rig *g)
{
    ti_batcher_free(g->bt);
    ti_tape_free(g->tape);
    ti_sgd_free(g->opt);
    ti_model_free(g->m);
    ti_dataset_free(g->d);
    ti_ctx_free(g->ctx);
}

/* One process's run (p->sh NULL: a single process on whole batches). */
static void *train_proc(void *arg)
{
    proc *p = arg;
    rig g;
    rig_open(&g, p->arch, p->N, p->batch);
    step_user su = {p, g.m};
    ti_train_hooks hooks = {.user = &su, .after_step = after_step};
    ti_train_setup setup = {.model = g.m, .tape = g.tape, .opt = g.opt, .batcher = g.bt,
                            .data = g.d, .batch = p->batch, .hooks = &hooks,
                            .reduce = p->sh ? &p->red : NULL};
    for (int e = 0; e < p->epochs && p->status == TI_OK; e++)
        p->status = ti_train_epoch(g.ctx, &setup, e, &p->last);
    p->nweights = 0;
    for (int i = 0; i < ti_model_nparams(g.m); i++)
        p->nweights += ti_model_param(g.m, i)->t.size;
    p->weights = malloc(p->nweights * sizeof(float));
    ck_assert_ptr_nonnull(p->weights);
    model_bytes(g.m, p->weights);
    rig_close(&g);
    return NULL;
}

/* Runs `size` processes as threads; p[0..size-1] get their results. */
static void run_procs(shared *sh, proc *p, int size, const char *arch, int N, int batch,
                      int epochs)
{
    sh->size = size;
    ck_assert_int_eq(pthread_barrier_init(&sh->bar, NULL, (unsigned)size), 0);
    pthread_t tid[MAXP];
    for (int r = 0; r < size; r++) {
        p[r] = (proc){.sh = sh, .red = {.rank = r, .size = size, .sum = thread_sum,
                                        .check = thread_check, .user = &p[r]},
                      .arch = arch, .N = N, .batch = batch, .epochs = epochs};
        ck_assert_int_eq(pthread_create(&tid[r], NULL, train_proc, &p[r]), 0);
    }
    for (int r = 0; r < size; r++)
        pthread_join(tid[r], NULL);
    pthread_barrier_destroy(&sh->bar);
    for (int r = 0; r < size; r++) {
        ck_assert_int_eq(p[r].status, TI_OK);
        ck_assert_int_eq(p[r].steps, p[0].steps);
        ck_assert_int_eq(p[r].checks, p[0].steps);
        for (int k = 0; k < p[0].steps && k < MAXSTEPS; k++)
            ck_assert_msg(p[r].hash[k] == p[0].hash[k], "rank %d differs after step %d", r,
                          k + 1);
    }
}

START_TEST(test_three_processes_match_one)
{
    /* 226 = 7 x 32 + 2: the last batch of 2 leaves rank 2 with no rows (it still sums) */
    proc one = {.arch = "smallcnn", .N = 226, .batch = 32, .epochs = 2};
    train_proc(&one);
    ck_assert_int_eq(one.status, TI_OK);
    shared sh;
    proc p[3];
    run_procs(&sh, p, 3, "smallcnn", 226, 32, 2);
    ck_assert_int_eq(p[0].steps, 16);
    ck_assert_int_eq(p[0].last.images, 226); /* the epoch's statistics are global */
    ck_assert_int_eq(p[2].last.batches, 8);
    ck_assert_double_eq_tol(p[1].last.loss, one.last.loss, 1e-5);
    ck_assert_double_eq_tol(p[2].last.accuracy, one.last.accuracy, 1e-9);
    ck_assert_uint_eq(p[0].nweights, one.nweights);
    /* summing in another order moves the last bits only */
    double d = tu_reldiff(p[0].weights, one.weights, one.nweights);
    ck_assert_msg(d < 1e-5, "3 processes vs one: weights differ by %g", d);
    free(one.weights);
    for (int r = 0; r < 3; r++)
        free(p[r].weights);
}
END_TEST

/* Batch norm: each process normalises with its own share's statistics, and the running
 * statistics are averaged after each step, so the processes stay identical. */
START_TEST(test_batch_norm_stays_in_step)
{
    shared sh;
    proc p[2];
    run_procs(&sh, p, 2, "resnet18", 12, 6, 1);
    ck_assert_int_eq(p[0].steps, 2);
    ck_assert(memcmp(p[0].weights, p[1].weights, p[0].nweights * sizeof(float)) == 0);
    free(p[0].weights);
    free(p[1].weights);
}
END_TEST

/* The model's fingerprint: equal for equal models, changed by one bit of a weight, of a
 * buffer, or by a mask. */
START_TEST(test_model_hash)
{
    rig a, b;
    rig_open(&a, "resnet18", 4, 4);
    rig_open(&b, "resnet18", 4, 4); /* same seed: the same initial model */
    uint64_t h = ti_model_hash(a.m);
    ck_assert(h == ti_model_hash(b.m));
    int last = ti_model_nparams(a.m) - 1;
    ti_param *w = ti_model_param(a.m, 0), *buf = NULL;
    for (int i = 0; i <= last && !buf; i++)
        if (!ti_param_kind_trainable(ti_model_param(a.m, i)->kind))
            buf = ti_model_param(a.m, i);
    uint32_t bits;
    memcpy(&bits, &w->t.data[5], 4);
    bits ^= 1;
    memcpy(&w->t.data[5], &bits, 4);
    ck_assert(ti_model_hash(a.m) != h);
    bits ^= 1;
    memcpy(&w->t.data[5], &bits, 4);
    ck_assert(ti_model_hash(a.m) == h);
    buf->t.data[buf->t.size - 1] += 1; /* a batch-norm running mean */
    ck_assert(ti_model_hash(a.m) != h);
    buf->t.data[buf->t.size - 1] -= 1;
    float *mask = malloc(w->t.size * sizeof *mask);
    for (size_t j = 0; j < w->t.size; j++)
        mask[j] = 1;
    ck_assert_int_eq(ti_model_set_mask(a.m, w, mask), TI_OK);
    ck_assert(ti_model_hash(a.m) != h);
    free(mask);
    rig_close(&a);
    rig_close(&b);
}
END_TEST

/* A reducer that adds a fixed array: "the other process" holds `other`. */
static ti_status add_other(void *user, float *buf, size_t n)
{
    const float *other = user;
    for (size_t i = 0; i < n; i++)
        buf[i] += other[i];
    return TI_OK;
}

START_TEST(test_average_stats)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_model_config cfg = {.C = 1, .H = 8, .W = 8, .M = 4};
    ti_model *m;
    ck_assert_int_eq(ti_model_new(ctx, "resnet18", &cfg, &m), TI_OK);
    size_t nb = 0;
    for (int i = 0; i < ti_model_nparams(m); i++) {
        ti_param *q = ti_model_param(m, i);
        if (ti_param_kind_trainable(q->kind))
            continue;
        for (size_t j = 0; j < q->t.size; j++)
            q->t.data[j] = (float)((nb + j) % 50);
        nb += q->t.size;
    }
    ck_assert_uint_gt(nb, 0);
    float *other = malloc(nb * sizeof *other);
    for (size_t j = 0; j < nb; j++)
        other[j] = 3.0f * (float)(j % 50);
    ti_reducer r = {.rank = 0, .size = 2, .sum = add_other, .user = other};
    ck_assert_int_eq(ti_model_average_stats(m, &r), TI_OK);
    size_t u = 0;
    for (int i = 0; i < ti_model_nparams(m); i++) {
        ti_param *q = ti_model_param(m, i);
        if (ti_param_kind_trainable(q->kind)) {
            ck_assert_ptr_nonnull(q->t.grad); /* parameters are left alone */
            continue;
        }
        for (size_t j = 0; j < q->t.size; j++, u++)
            ck_assert_float_eq(q->t.data[j], 2.0f * (float)(u % 50));
    }
    free(other);
    ti_model_free(m);
    ti_ctx_free(ctx);
}
END_TEST

static ti_status add_zero(void *user, float *buf, size_t n)
{
    (void)user, (void)buf, (void)n;
    return TI_OK;
}

static ti_status differ(void *user, uint64_t h)
{
    (void)user, (void)h;
    return TI_ERR_STATE;
}

START_TEST(test_bad_reducer)
{
    rig g;
    rig_open(&g, "smallcnn", 8, 4);
    ti_reducer r = {.rank = 2, .size = 2, .sum = add_other};
    ti_train_setup setup = {.model = g.m, .tape = g.tape, .opt = g.opt, .batcher = g.bt,
                            .data = g.d, .batch = 4, .reduce = &r};
    ck_assert_int_eq(ti_train_epoch(g.ctx, &setup, 0, NULL), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(g.ctx), "rank 2 of 2"));
    r.rank = 0;
    r.sum = NULL;
    ck_assert_int_eq(ti_train_epoch(g.ctx, &setup, 0, NULL), TI_ERR_ARG);
    /* the processes' check says they differ: the epoch stops with a message */
    r.sum = add_zero;
    r.check = differ;
    ck_assert_int_eq(ti_train_epoch(g.ctx, &setup, 0, NULL), TI_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(g.ctx), "out of step"));
    rig_close(&g);
}
END_TEST

Suite *suite_dataparallel(void)
{
    Suite *s = suite_create("dataparallel");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_three_processes_match_one);
    tcase_add_test(tc, test_batch_norm_stays_in_step);
    tcase_add_test(tc, test_average_stats);
    tcase_add_test(tc, test_model_hash);
    tcase_add_test(tc, test_bad_reducer);
    suite_add_tcase(s, tc);
    return s;
}
