/* The processes of a run: one in the plain build, the ranks of an MPI job in the MPI build
 * (make MPI=1; docs/distributed.md). Every process runs the same command line on the same
 * files. The evaluation's samples are handed out in small chunks to whichever process is free
 * and the records gathered on every process; training is data-parallel (libtensor's
 * ti_reducer); only rank 0 prints results and writes outputs. The MPI build run without
 * mpirun is one process. apps/common/procs/ holds the two implementations of the
 * primitives; app_procs.c what is built on them. */
#ifndef THINICE_APP_PROCS_H
#define THINICE_APP_PROCS_H

#include "app_cli.h"
#include "thinice/eval.h"

/* Starts the processes (MPI_Init); the first call of every app's main. */
void app_procs_init(int *argc, char ***argv);
/* Ends them: rc back, after MPI_Finalize; with several processes and rc != 0, every rank is
 * stopped (MPI_Abort) so that none waits forever for the one that failed. */
int app_procs_exit(int rc);
int app_procs_rank(void);
int app_procs_size(void);
/* --threads: `requested`, or for 0 the cores of this machine shared by its processes. */
int app_procs_threads(int requested);
/* The gradient sum of data-parallel training, with the check that the processes' models
 * stay equal; NULL with one process. */
const ti_reducer *app_procs_reducer(void);
/* Wall seconds this process spent in the reducer's sums so far (0 with one process): the
 * communication share of data-parallel training. */
double app_procs_comm_seconds(void);

/* Loads a resumable evaluation's state: `state` and its parts, "<state>.rank<k>" (the
 * processes of an interrupted distributed run, any number of them) and "<state>.shard<k>"
 * (shards of the study, over part of the samples), each checked to be of the same run; then
 * writes this process's own file at once, so that a path that cannot be written fails
 * before any work. *found: some file was read. */
ti_status app_procs_resume(ti_ctx *ctx, ti_eval *ev, const char *state, int *found);
/* Runs ev over the processes (ti_eval_run with one): its batches to whichever process asks
 * (so the records are one process's with the same batch size and threads per process), each writing its own state file after every batch; at the end every process holds
 * every record and rank 0 writes the whole state to `state` (the per-process files are then
 * removed). pg (rank 0's progress) shows the whole run. */
ti_status app_procs_eval(ti_ctx *ctx, ti_eval *ev, const ti_classifier *f, const float *x,
                         const int *y, const char *state, app_progress *pg);

/* ---- the primitives (apps/common/procs/{single,mpi}.c) ------------------------------------ */
/* The cores' share and the number of processes on this machine. */
int app_procs_local_size(void);
/* A shared counter for handing out chunks: _reset before a run (collective), _next returns
 * 0, 1, 2, ... across all processes, each value once. */
ti_status app_procs_counter_reset(ti_ctx *ctx);
long app_procs_counter_next(void);
/* Every process's done records into every process's ev, and the times and final-check
 * failures summed over the processes. Collective. */
ti_status app_procs_gather(ti_ctx *ctx, ti_eval *ev);
/* Waits for every process (collective). */
void app_procs_barrier(void);

#endif
