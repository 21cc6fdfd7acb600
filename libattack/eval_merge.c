/* Putting a split run back together (eval.h): shards of one evaluation, made by several
 * processes or jobs, merged into the evaluation one process would have made. Records do not
 * depend on how samples were split (every random stream keys on the global sample index), so
 * the merged records, hence the CSV, are the single run's bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void ti_eval_shard_range(int first, int count, int batch, int k, int n, int *shard_first,
                         int *shard_count)
{
    int batches = batch > 0 ? (count + batch - 1) / batch : 0;
    int base = n > 0 ? batches / n : 0, extra = n > 0 ? batches % n : 0;
    int b0 = k * base + (k < extra ? k : extra), nb = base + (k < extra);
    int lo = b0 * batch < count ? b0 * batch : count;
    int hi = (b0 + nb) * batch < count ? (b0 + nb) * batch : count;
    *shard_first = first + lo;
    *shard_count = hi > lo ? hi - lo : 0;
}

/* The first setting of a and b that differs: its name, and both values in va and vb. */
static const char *differs(const ti_eval *a, const ti_eval *b, char *va, char *vb, size_t n)
{
    const ti_eval_params *p = &a->p, *q = &b->p;
#define DIFF(cond, name, fmt, x, y)                                                          \
    if (cond) {                                                                              \
        snprintf(va, n, fmt, x);                                                             \
        snprintf(vb, n, fmt, y);                                                             \
        return name;                                                                         \
    }
    DIFF(strcmp(a->run, b->run), "run (model, weights, data)", "%s", a->run, b->run)
    DIFF(p->kind != q->kind || strcmp(p->attack, q->attack), "attack", "%s", p->attack,
         q->attack)
    DIFF(p->norm != q->norm, "norm", "%s", ti_norm_name(p->norm), ti_norm_name(q->norm))
    DIFF(!(p->eps == q->eps || (isnan(p->eps) && isnan(q->eps))), "eps", "%.9g",
         (double)p->eps, (double)q->eps)
    DIFF(p->seed != q->seed, "seed", "%llu", (unsigned long long)p->seed,
         (unsigned long long)q->seed)
    DIFF(p->pgd.steps != q->pgd.steps || p->pgd.step != q->pgd.step, "PGD steps", "%d",
         p->pgd.steps, q->pgd.steps)
    DIFF(p->fmn.steps != q->fmn.steps, "FMN steps", "%d", p->fmn.steps, q->fmn.steps)
    DIFF(p->fmn_predicted != q->fmn_predicted, "FMN label", "%d", p->fmn_predicted,
         q->fmn_predicted)
#undef DIFF
    return NULL;
}

ti_status ti_eval_same_run(ti_ctx *ctx, const ti_eval *a, const ti_eval *b)
{
    char va[1100], vb[1100];
    const char *what = differs(a, b, va, vb, sizeof va);
    if (what)
        return ti_ctx_error(ctx, TI_ERR_ARG, "not the same run: the %s differs ('%s' and '%s')",
                            what, va, vb);
    return TI_OK;
}

static int by_first(const void *a, const void *b)
{
    const ti_eval *x = *(ti_eval *const *)a, *y = *(ti_eval *const *)b;
    return (x->first > y->first) - (x->first < y->first);
}

/* The shards, sorted by first sample, must tile [lo, hi) and be complete. */
static ti_status check_tiling(ti_ctx *ctx, ti_eval **s, int n)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < s[i]->N; j++)
            if (!s[i]->samples[j].done)
                return ti_ctx_error(ctx, TI_ERR_ARG, "merge: sample %d of the shard [%d, %d) "
                                    "is not done (an unfinished shard?)", s[i]->first + j,
                                    s[i]->first, s[i]->first + s[i]->N);
        if (i == 0)
            continue;
        int end = s[i - 1]->first + s[i - 1]->N;
        if (s[i]->first > end)
            return ti_ctx_error(ctx, TI_ERR_ARG, "merge: samples %d..%d are in no shard", end,
                                s[i]->first - 1);
        if (s[i]->first < end)
            return ti_ctx_error(ctx, TI_ERR_ARG, "merge: samples %d..%d are in two shards",
                                s[i]->first, end - 1);
    }
    return TI_OK;
}

ti_status ti_eval_merge(ti_ctx *ctx, ti_eval *const *shards, int n, ti_eval **out)
{
    *out = NULL;
    if (n < 1 || !shards)
        return ti_ctx_error(ctx, TI_ERR_ARG, "merge: no shard given");
    ti_eval **s = malloc((size_t)n * sizeof *s);
    if (!s)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "merge: out of memory");
    memcpy(s, shards, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, by_first);
    ti_status st = TI_OK;
    for (int i = 1; i < n && st == TI_OK; i++)
        st = ti_eval_same_run(ctx, s[0], s[i]);
    if (st == TI_OK)
        st = check_tiling(ctx, s, n);
    int first = s[0]->first, total = s[n - 1]->first + s[n - 1]->N - first;
    ti_eval *m = NULL;
    if (st == TI_OK && (st = ti_eval_new(ctx, &s[0]->p, first, total, &m)) == TI_OK) {
        memcpy(m->run, s[0]->run, sizeof m->run);
        for (int i = 0; i < n; i++) {
            memcpy(m->samples + (s[i]->first - first), s[i]->samples,
                   (size_t)s[i]->N * sizeof *m->samples);
            m->seconds_clean += s[i]->seconds_clean;
            for (int a = 0; a < m->n_attacks; a++)
                m->seconds[a] += s[i]->seconds[a];
            m->n_check_failed += s[i]->n_check_failed;
        }
        *out = m;
    }
    free(s);
    return st;
}
