/* Tests of a run split into shards and put back together (eval.h): shard ranges of whole
 * batches that tile the run, an evaluation of part of the range (ti_eval_run_range), a state
 * file read on its own (ti_eval_state_read), and the merge: the shards' records and CSV equal
 * the single run's byte for byte, and shards with a gap, an overlap, an unfinished sample or
 * another setting are refused with a message naming it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/eval.h"

enum { M = 5, C = 1, H = 3, W_ = 4, D = C * H * W_, N = 30, BATCH = 4 };

typedef struct fixture {
    float Wt[M * D], b[M], x[N * D];
    int y[N];
    ti_linear_classifier lc;
    ti_ctx *ctx;
    char dir[256];
} fixture;

static void fx_init(fixture *f)
{
    ti_rng r;
    ti_rng_seed(&r, 41);
    tu_fill(&r, f->Wt, M * D, -1, 1);
    tu_fill(&r, f->b, M, -0.3f, 0.3f);
    tu_fill(&r, f->x, N * D, 0, 1);
    for (int i = 0; i < N; i++)
        f->y[i] = (int)ti_rng_below(&r, M);
    ti_linear_classifier_init(&f->lc, f->Wt, f->b, M, C, H, W_);
    f->ctx = ti_ctx_new(3, 1);
    tu_tmpdir_make(f->dir, sizeof f->dir, "shards");
}

static void fx_free(fixture *f)
{
    tu_tmpdir_remove(f->dir);
    ti_ctx_free(f->ctx);
}

static ti_eval_params params(fixture *f, const char *attack, float eps)
{
    ti_eval_params p;
    ck_assert_int_eq(ti_eval_params_init(f->ctx, attack, TI_NORM_LINF, eps, &p), TI_OK);
    p.seed = 9;
    p.batch_size = BATCH;
    p.fmn.steps = 30;
    return p;
}

/* A finished evaluation of samples [first, first + count) with p, its state in `path` (may
 * be NULL). */
static ti_eval *run(fixture *f, const ti_eval_params *p, int first, int count, const char *path)
{
    ti_eval *ev;
    ck_assert_int_eq(ti_eval_new(f->ctx, p, first, count, &ev), TI_OK);
    ck_assert_int_eq(ti_eval_set_run(f->ctx, ev, "model=linear test"), TI_OK);
    ck_assert_int_eq(ti_eval_run(f->ctx, ev, &f->lc.base, f->x + (size_t)first * D,
                                 f->y + first, NULL, path),
                     TI_OK);
    return ev;
}

static char *read_all(const char *path)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    char *buf = calloc(1, 1 << 16);
    ck_assert_uint_lt(fread(buf, 1, (1 << 16) - 1, fp), (1 << 16) - 1);
    fclose(fp);
    return buf;
}

/* The CSV of ev, as text. */
static char *csv_text(fixture *f, const ti_eval *ev, const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    ck_assert_int_eq(ti_eval_write_csv(f->ctx, ev, path), TI_OK);
    return read_all(path);
}

START_TEST(test_shard_ranges_tile)
{
    int counts[] = {1, 7, 30, 100, 101}, batches[] = {1, 4, 7, 250};
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 4; b++)
            for (int n = 1; n <= 9; n++) {
                int count = counts[a], batch = batches[b], next = 17, lo = 1 << 30, hi = 0;
                int nb = (count + batch - 1) / batch;
                for (int k = 0; k < n; k++) {
                    int first, cnt;
                    ti_eval_shard_range(17, count, batch, k, n, &first, &cnt);
                    ck_assert_int_eq(first, next); /* contiguous, in order */
                    ck_assert(cnt == 0 || (first - 17) % batch == 0); /* whole batches */
                    ck_assert(cnt % batch == 0 || first + cnt == 17 + count);
                    int mine = (cnt + batch - 1) / batch; /* balanced in batches */
                    ck_assert_int_ge(mine, nb / n);
                    ck_assert_int_le(mine, nb / n + 1);
                    ck_assert(cnt > 0 || k >= nb);
                    next = first + cnt;
                    lo = cnt && first < lo ? first : lo;
                    hi = cnt && first + cnt > hi ? first + cnt : hi;
                }
                ck_assert_int_eq(lo, 17);
                ck_assert_int_eq(hi, 17 + count);
            }
}
END_TEST

/* Three shards of AutoAttack (APGD-CE and APGD-T) and of FMN, through their state files:
 * the merge is the single run, CSV byte for byte. */
START_TEST(test_merge_equals_single_run)
{
    fixture f;
    fx_init(&f);
    const char *attacks[2] = {"apgd-ce,apgd-t", "fmn"};
    float eps[2] = {0.05f, INFINITY};
    for (int a = 0; a < 2; a++) {
        ti_eval_params p = params(&f, attacks[a], eps[a]);
        ti_eval *whole = run(&f, &p, 0, N, NULL), *parts[3], *merged;
        for (int k = 0; k < 3; k++) {
            int first, count;
            char path[400];
            ti_eval_shard_range(0, N, BATCH, k, 3, &first, &count);
            snprintf(path, sizeof path, "%s/part%d", f.dir, k);
            ti_eval_free(run(&f, &p, first, count, path));
            ck_assert_int_eq(ti_eval_state_read(f.ctx, path, &parts[k]), TI_OK);
            ck_assert_int_eq(parts[k]->first, first);
            ck_assert_int_eq(parts[k]->N, count);
            ck_assert_str_eq(parts[k]->run, "model=linear test");
        }
        ti_eval *order[3] = {parts[2], parts[0], parts[1]}; /* any order */
        ck_assert_int_eq(ti_eval_merge(f.ctx, order, 3, &merged), TI_OK);
        ck_assert_int_eq(merged->N, N);
        ck_assert_int_eq(ti_eval_same_run(f.ctx, whole, merged), TI_OK);
        ck_assert(memcmp(whole->samples, merged->samples, N * sizeof *whole->samples) == 0);
        char *c1 = csv_text(&f, whole, "whole.csv"), *c2 = csv_text(&f, merged, "merged.csv");
        ck_assert_str_eq(c1, c2);
        free(c1);
        free(c2);
        ti_eval_free(merged);
        for (int k = 0; k < 3; k++)
            ti_eval_free(parts[k]);
        ti_eval_free(whole);
    }
    fx_free(&f);
}
END_TEST

/* Part of the range, then the rest: the records of one run. */
START_TEST(test_run_range)
{
    fixture f;
    fx_init(&f);
    ti_eval_params p = params(&f, "fmn", INFINITY);
    ti_eval *whole = run(&f, &p, 0, N, NULL), *ev;
    ck_assert_int_eq(ti_eval_new(f.ctx, &p, 0, N, &ev), TI_OK);
    ck_assert_int_eq(ti_eval_run_range(f.ctx, ev, &f.lc.base, f.x, f.y, NULL, NULL, 8, 16),
                     TI_OK);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(ev->samples[i].done, i >= 8 && i < 16);
    ck_assert_int_eq(ti_eval_run_range(f.ctx, ev, &f.lc.base, f.x, f.y, NULL, NULL, 0, N),
                     TI_OK);
    ck_assert(memcmp(whole->samples, ev->samples, N * sizeof *ev->samples) == 0);
    ck_assert_int_eq(ti_eval_run_range(f.ctx, ev, &f.lc.base, f.x, f.y, NULL, NULL, 5, N + 1),
                     TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(f.ctx), "outside"));
    ti_eval_free(ev);
    ti_eval_free(whole);
    fx_free(&f);
}
END_TEST

/* merges that must fail, and the words their messages must hold */
START_TEST(test_merge_refuses)
{
    fixture f;
    fx_init(&f);
    ti_eval_params p = params(&f, "apgd-ce", 0.05f), q = p;
    q.eps = 0.06f;
    ti_eval *a = run(&f, &p, 0, 12, NULL), *b = run(&f, &p, 12, 8, NULL);
    ti_eval *c = run(&f, &p, 16, 14, NULL), *d = run(&f, &p, 20, 10, NULL);
    ti_eval *e = run(&f, &q, 20, 10, NULL), *g = run(&f, &p, 20, 10, NULL), *out;
    ti_eval_set_run(f.ctx, g, "model=other");
    struct {
        ti_eval *s[3];
        const char *msg;
    } bad[] = {
        {{a, d, NULL}, "samples 12..19 are in no shard"},
        {{a, b, c}, "samples 16..19 are in two shards"},
        {{a, b, e}, "eps differs ('0.0500000007' and '0.0599999987')"},
        {{a, b, g}, "run (model, weights, data) differs"},
    };
    for (int i = 0; i < 4; i++) {
        int n = bad[i].s[2] ? 3 : 2;
        ck_assert_int_eq(ti_eval_merge(f.ctx, bad[i].s, n, &out), TI_ERR_ARG);
        ck_assert_ptr_null(out);
        ck_assert_msg(strstr(ti_ctx_errmsg(f.ctx), bad[i].msg), "case %d: '%s'", i,
                      ti_ctx_errmsg(f.ctx));
    }
    b->samples[3].done = 0; /* an unfinished shard */
    ti_eval *unfinished[3] = {a, b, d};
    ck_assert_int_eq(ti_eval_merge(f.ctx, unfinished, 3, &out), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(f.ctx), "sample 15 of the shard [12, 20) is "
                                                       "not done"));
    ck_assert_int_eq(ti_eval_merge(f.ctx, unfinished, 0, &out), TI_ERR_ARG);
    ti_eval *all[] = {a, b, c, d, e, g};
    for (int i = 0; i < 6; i++)
        ti_eval_free(all[i]);
    fx_free(&f);
}
END_TEST

/* A state file read on its own: its settings and records; files that are not one. */
START_TEST(test_state_read)
{
    fixture f;
    fx_init(&f);
    ti_eval_params p = params(&f, "pgd", 0.05f);
    p.pgd.steps = 7;
    char path[400], bad[400];
    snprintf(path, sizeof path, "%s/pgd.state", f.dir);
    ti_eval *ev = run(&f, &p, 3, 9, path), *back;
    ck_assert_int_eq(ti_eval_state_read(f.ctx, path, &back), TI_OK);
    ck_assert_str_eq(back->p.attack, "pgd");
    ck_assert_int_eq(back->p.pgd.steps, 7);
    ck_assert_int_eq(back->p.seed, 9);
    ck_assert_float_eq(back->p.eps, 0.05f);
    ck_assert_int_eq(ti_eval_same_run(f.ctx, ev, back), TI_OK);
    ck_assert(memcmp(ev->samples, back->samples, 9 * sizeof *ev->samples) == 0);
    ti_eval_free(back);
    /* truncated: no end line */
    char *text = read_all(path);
    snprintf(bad, sizeof bad, "%s/bad.state", f.dir);
    FILE *fp = fopen(bad, "w");
    fwrite(text, 1, strlen(text) - 4, fp);
    fclose(fp);
    ck_assert_int_ne(ti_eval_state_read(f.ctx, bad, &back), TI_OK);
    ck_assert_ptr_null(back);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(f.ctx), "truncated"));
    fp = fopen(bad, "w");
    fputs("index,label\n", fp);
    fclose(fp);
    ck_assert_int_eq(ti_eval_state_read(f.ctx, bad, &back), TI_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(f.ctx), "not a thinice evaluation state"));
    free(text);
    ti_eval_free(ev);
    fx_free(&f);
}
END_TEST

Suite *suite_eval_shards(void)
{
    Suite *s = suite_create("eval_shards");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_shard_ranges_tile);
    tcase_add_test(tc, test_merge_equals_single_run);
    tcase_add_test(tc, test_run_range);
    tcase_add_test(tc, test_merge_refuses);
    tcase_add_test(tc, test_state_read);
    suite_add_tcase(s, tc);
    return s;
}
