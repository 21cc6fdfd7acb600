/* thinice-stats' two-sample comparison (compare.c): main.c parses the options into
 * compare_opts and calls stats_compare. */
#ifndef THINICE_APP_STATS_COMPARE_H
#define THINICE_APP_STATS_COMPARE_H

#include "thinice/stats.h"

typedef struct compare_opts {
    const char *csv, *value, *group, *groups, *col_a, *col_b; /* csv: the input */
    const char *json;                                          /* -o: JSON, or NULL */
    ti_stats_mwu_params mwu;
    double level;
    int quiet;
} compare_opts;

/* Reads the CSV, compares the two samples, prints and writes: the exit code. */
int stats_compare(const compare_opts *o);

#endif
