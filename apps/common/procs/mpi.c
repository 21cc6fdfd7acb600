/* The primitives of app_procs.h over MPI (make MPI=1): the ranks of MPI_COMM_WORLD. Only the
 * apps' main threads call MPI (the library's threads never do), hence MPI_THREAD_FUNNELED.
 * An MPI error stops the job (MPI's default handler); a failing rank stops it through
 * app_procs_exit. */
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>

#include "app_procs.h"

static int rank, size = 1, local_size = 1;
static MPI_Win counter_win = MPI_WIN_NULL;
static long *counter_mem;
static double comm_seconds;

void app_procs_init(int *argc, char ***argv)
{
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &local_size);
    MPI_Comm_free(&node);
}

int app_procs_exit(int rc)
{
    fflush(stdout);
    fflush(stderr);
    if (rc != 0 && size > 1)
        MPI_Abort(MPI_COMM_WORLD, rc); /* the other ranks may be waiting for this one */
    if (counter_win != MPI_WIN_NULL)
        MPI_Win_free(&counter_win);
    MPI_Finalize();
    return rc;
}

int app_procs_rank(void)
{
    return rank;
}

int app_procs_size(void)
{
    return size;
}

int app_procs_local_size(void)
{
    return local_size;
}

double app_procs_comm_seconds(void)
{
    return comm_seconds;
}

/* The sum as MPI_Reduce to rank 0 and MPI_Bcast from it: MPI_Allreduce does not promise the
 * same bits on every rank, and data-parallel training needs them (the ranks must take the
 * same step). Counts above INT_MAX go in pieces. */
static ti_status sum(void *user, float *buf, size_t n)
{
    (void)user;
    double t0 = MPI_Wtime();
    for (size_t off = 0; off < n; off += INT_MAX / 2) {
        int cnt = n - off < INT_MAX / 2 ? (int)(n - off) : INT_MAX / 2;
        MPI_Reduce(rank == 0 ? MPI_IN_PLACE : buf + off, buf + off, cnt, MPI_FLOAT, MPI_SUM, 0,
                   MPI_COMM_WORLD);
        MPI_Bcast(buf + off, cnt, MPI_FLOAT, 0, MPI_COMM_WORLD);
    }
    comm_seconds += MPI_Wtime() - t0;
    return TI_OK;
}

/* Every rank's model hash equal: the largest of h and of ~h equal to this rank's. */
static ti_status check(void *user, uint64_t h)
{
    (void)user;
    uint64_t v[2] = {h, ~h}, m[2];
    MPI_Allreduce(v, m, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return m[0] == h && ~m[1] == h ? TI_OK : TI_ERR_STATE;
}

const ti_reducer *app_procs_reducer(void)
{
    static ti_reducer r;
    r = (ti_reducer){.rank = rank, .size = size, .sum = sum, .check = check};
    return size > 1 ? &r : NULL;
}

/* The counter lives in a window on rank 0; the others fetch-and-add it (one-sided, so rank 0
 * need not stop its own work to answer). */
ti_status app_procs_counter_reset(ti_ctx *ctx)
{
    (void)ctx;
    if (counter_win == MPI_WIN_NULL)
        MPI_Win_allocate(rank == 0 ? (MPI_Aint)sizeof(long) : 0, sizeof(long), MPI_INFO_NULL,
                         MPI_COMM_WORLD, &counter_mem, &counter_win);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        long zero = 0;
        MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, counter_win);
        MPI_Put(&zero, 1, MPI_LONG, 0, 0, 1, MPI_LONG, counter_win);
        MPI_Win_unlock(0, counter_win);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return TI_OK;
}

long app_procs_counter_next(void)
{
    long one = 1, got;
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, counter_win);
    MPI_Fetch_and_op(&one, &got, MPI_LONG, 0, 0, MPI_SUM, counter_win);
    MPI_Win_unlock(0, counter_win);
    return got;
}

ti_status app_procs_gather(ti_ctx *ctx, ti_eval *ev)
{
    size_t bytes = (size_t)ev->N * sizeof *ev->samples;
    if (bytes > INT_MAX)
        return ti_ctx_error(ctx, TI_ERR_ARG, "gathering %d records: too many for one message; "
                            "split the run with --shard", ev->N);
    ti_eval_sample *got = rank == 0 ? malloc(bytes ? bytes : 1) : NULL;
    if (rank == 0 && !got)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "gathering the records: out of memory");
    for (int r = 1; r < size; r++) {
        if (rank == r)
            MPI_Send(ev->samples, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        if (rank != 0)
            continue;
        MPI_Recv(got, (int)bytes, MPI_BYTE, r, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        for (int i = 0; i < ev->N; i++)
            if (got[i].done && !ev->samples[i].done)
                ev->samples[i] = got[i];
    }
    free(got);
    MPI_Bcast(ev->samples, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    double t[TI_EVAL_MAX_ATTACKS + 2] = {ev->seconds_clean, ev->n_check_failed};
    for (int a = 0; a < ev->n_attacks; a++)
        t[2 + a] = ev->seconds[a];
    MPI_Allreduce(MPI_IN_PLACE, t, 2 + ev->n_attacks, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    ev->seconds_clean = t[0];
    ev->n_check_failed = (int)t[1];
    for (int a = 0; a < ev->n_attacks; a++)
        ev->seconds[a] = t[2 + a];
    return TI_OK;
}

void app_procs_barrier(void)
{
    MPI_Barrier(MPI_COMM_WORLD);
}
