/* What app_procs.h builds on its primitives, the same for one process and for MPI ranks:
 * the resumable state files of a distributed evaluation, the chunked run, the thread count. */
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_procs.h"

int app_procs_threads(int requested)
{
    if (requested > 0)
        return requested;
    /* a rank that mpirun bound to some cores uses those; an unbound one its share */
    long all = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    int mine = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)all;
    if (all > 0 && mine < all)
        return mine > 0 ? mine : 1;
    int share = (int)(all / app_procs_local_size());
    return share > 0 ? share : 1;
}

/* ---- state files ------------------------------------------------------------------------ */

/* This process's state file: `state` itself for one process, "<state>.rank<k>" for rank k. */
static void own_state(const char *state, char *buf, size_t n)
{
    if (app_procs_size() == 1)
        snprintf(buf, n, "%s", state);
    else
        snprintf(buf, n, "%s.rank%d", state, app_procs_rank());
}

/* Calls fn(path) for every part of `state` beside it: "<state>.rank<digits>" (a process of
 * a distributed run) and "<state>.shard<digits>" (a shard of the study); stops at an error. */
static ti_status each_part(ti_ctx *ctx, const char *state,
                                ti_status (*fn)(ti_ctx *ctx, const char *path, void *u),
                                void *u)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", state);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : state;
    if (slash)
        *slash = '\0';
    size_t bl = strlen(base);
    DIR *d = opendir(slash ? (dir[0] ? dir : "/") : ".");
    if (!d)
        return TI_OK; /* no directory: no files (ti_eval_state_save says why it cannot write) */
    ti_status s = TI_OK;
    struct dirent *e;
    while (s == TI_OK && (e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) != 0)
            continue;
        const char *num = !strncmp(n + bl, ".rank", 5) ? n + bl + 5
                          : !strncmp(n + bl, ".shard", 6) ? n + bl + 6 : NULL;
        if (!num || !*num || strspn(num, "0123456789") != strlen(num))
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s%s%s", slash ? (dir[0] ? dir : "") : "",
                 slash ? "/" : "", n);
        s = fn(ctx, path, u);
    }
    closedir(d);
    return s;
}

/* Adds the done records of the state file at path, of the same run over all or part of
 * the samples of the evaluation u, to u. */
static ti_status load_more(ti_ctx *ctx, const char *path, void *u)
{
    ti_eval *ev = u, *part;
    ti_status s = ti_eval_state_read(ctx, path, &part);
    if (s == TI_OK && (s = ti_eval_same_run(ctx, ev, part)) != TI_OK) {
        char why[1500]; /* the message is rewritten from itself: copy it first */
        snprintf(why, sizeof why, "%s", ti_ctx_errmsg(ctx));
        s = ti_ctx_error(ctx, s, "%s: %s", path, why);
    }
    if (s == TI_OK && (part->first < ev->first || part->first + part->N > ev->first + ev->N))
        s = ti_ctx_error(ctx, TI_ERR_ARG, "%s holds samples [%d, %d), outside this run's "
                         "[%d, %d)", path, part->first, part->first + part->N, ev->first,
                         ev->first + ev->N);
    for (int j = 0; s == TI_OK && j < part->N; j++) {
        ti_eval_sample *dst = &ev->samples[part->first - ev->first + j];
        if (part->samples[j].done && !dst->done)
            *dst = part->samples[j];
    }
    ti_eval_free(part);
    return s;
}

static ti_status remove_file(ti_ctx *ctx, const char *path, void *u)
{
    (void)ctx, (void)u;
    unlink(path);
    return TI_OK;
}

ti_status app_procs_resume(ti_ctx *ctx, ti_eval *ev, const char *state, int *found)
{
    *found = 0;
    if (!state)
        return TI_OK;
    int done0 = 0, done1 = 0;
    ti_status s = ti_eval_state_load(ctx, ev, state, found);
    for (int i = 0; i < ev->N; i++)
        done0 += ev->samples[i].done;
    if (s == TI_OK)
        s = each_part(ctx, state, load_more, ev);
    for (int i = 0; i < ev->N; i++)
        done1 += ev->samples[i].done;
    *found |= done1 > done0;
    char own[4200];
    own_state(state, own, sizeof own);
    return s == TI_OK ? ti_eval_state_save(ctx, ev, own) : s;
}

/* ---- the chunked run -------------------------------------------------------------------- */

/* Rank 0's progress over the whole run: the chunk's own counts after those handed out. */
typedef struct whole {
    app_progress *pg;
    long base, total;
} whole;

static int whole_cb(void *user, const char *label, long done, long total)
{
    whole *w = user;
    if (total == 0) /* a heartbeat */
        return app_progress_cb(w->pg, label, done, 0);
    long d = w->base + done;
    return app_progress_cb(w->pg, label, d < w->total ? d : w->total, w->total);
}

static ti_status run_chunks(ti_ctx *ctx, ti_eval *ev, const ti_classifier *f, const float *x,
                            const int *y, const char *own, app_progress *pg)
{
    /* a chunk is a batch of one process's run: whole batches give the same bits (the
     * outputs' rounding depends on the batch, see ti_eval_shard_range) */
    int chunk = ev->p.batch_size;
    whole w = {pg, 0, (long)ev->N * ev->n_attacks};
    if (pg && app_procs_rank() == 0)
        ti_ctx_set_progress(ctx, whole_cb, &w);
    ti_status s = app_procs_counter_reset(ctx);
    for (long k; s == TI_OK && (k = app_procs_counter_next()) * chunk < ev->N;) {
        int lo = (int)(k * chunk), hi = ev->N - lo < chunk ? ev->N : lo + chunk;
        w.base = (long)lo * ev->n_attacks;
        s = ti_eval_run_range(ctx, ev, f, x, y, NULL, own, lo, hi);
    }
    if (pg && app_procs_rank() == 0)
        ti_ctx_set_progress(ctx, app_progress_cb, pg);
    return s;
}

ti_status app_procs_eval(ti_ctx *ctx, ti_eval *ev, const ti_classifier *f, const float *x,
                         const int *y, const char *state, app_progress *pg)
{
    char own[4200];
    if (state)
        own_state(state, own, sizeof own);
    if (app_procs_size() == 1) {
        ti_status s = ti_eval_run(ctx, ev, f, x, y, NULL, state);
        return s == TI_OK && state ? each_part(ctx, state, remove_file, NULL) : s;
    }
    /* every process counts its own times from zero; the gather sums them */
    double clean0 = ev->seconds_clean, att0[TI_EVAL_MAX_ATTACKS];
    int fail0 = ev->n_check_failed;
    for (int a = 0; a < ev->n_attacks; a++)
        att0[a] = ev->seconds[a], ev->seconds[a] = 0;
    ev->seconds_clean = 0;
    ev->n_check_failed = 0;
    ti_status s = run_chunks(ctx, ev, f, x, y, state ? own : NULL, pg);
    if (s == TI_OK)
        s = app_procs_gather(ctx, ev);
    ev->seconds_clean += clean0;
    ev->n_check_failed += fail0;
    for (int a = 0; a < ev->n_attacks; a++)
        ev->seconds[a] += att0[a];
    if (s == TI_OK && state && app_procs_rank() == 0 &&
        (s = ti_eval_state_save(ctx, ev, state)) == TI_OK)
        s = each_part(ctx, state, remove_file, NULL);
    return s;
}
