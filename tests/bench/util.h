/* What every benchmark shares: the sgemm figure each bench prints beside its own (so that
 * ratios can be read from one run on a noisy machine) and the check of its command line.
 * The clock is the library's, ti_clock (core.h). */
#ifndef THINICE_BENCH_UTIL_H
#define THINICE_BENCH_UTIL_H

#include <stdint.h>

/* GFLOP/s of an n x n x n cblas_sgemm on OpenBLAS's own `threads` threads (the machine's
 * reference): the best of 5 timed runs after one warm-up run; 0 if memory ran out. Inputs
 * uniform in [-1, 1) from seed. OpenBLAS is put back to one thread afterwards, as thinice
 * runs it. */
double bu_sgemm_gflops(int n, uint64_t seed, int threads);

/* Checks a benchmark's command line: --help prints usage and exits 0; an option or more than
 * max_positional arguments prints usage and exits 2 (so that a mistyped flag is never taken
 * for the output file's name). */
void bu_args(int argc, char **argv, int max_positional, const char *usage);

#endif
