/* The primitives of app_procs.h for the plain build: one process, no MPI. */
#include "app_procs.h"

static long counter;

void app_procs_init(int *argc, char ***argv)
{
    (void)argc, (void)argv;
}

int app_procs_exit(int rc)
{
    return rc;
}

int app_procs_rank(void)
{
    return 0;
}

int app_procs_size(void)
{
    return 1;
}

int app_procs_local_size(void)
{
    return 1;
}

const ti_reducer *app_procs_reducer(void)
{
    return NULL;
}

ti_status app_procs_counter_reset(ti_ctx *ctx)
{
    (void)ctx;
    counter = 0;
    return TI_OK;
}

long app_procs_counter_next(void)
{
    return counter++;
}

ti_status app_procs_gather(ti_ctx *ctx, ti_eval *ev)
{
    (void)ctx, (void)ev;
    return TI_OK;
}

void app_procs_barrier(void)
{
}

double app_procs_comm_seconds(void)
{
    return 0;
}
