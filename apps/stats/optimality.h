/* thinice-stats --optimality: how close several minimum-norm attacks, run on the same samples,
 * came to the smallest distances any of them found (AttackBench's local optimality, libstats'
 * ti_stats_envelope and ti_stats_attack_optimality). main.c parses the options, this mode
 * reads the per-sample CSVs, checks them, and prints and writes the results. */
#ifndef THINICE_APP_STATS_OPTIMALITY_H
#define THINICE_APP_STATS_OPTIMALITY_H

typedef struct optimality_opts {
    char **files;       /* the per-sample CSVs, nfiles >= 2 (main.c checks) */
    int nfiles;
    const char *column; /* the distance column (default min_norm) */
    const char *names;  /* "a,b,c": one name per file, or NULL for the file names */
    const char *json;   /* -o: the JSON summary, or NULL */
    int quiet;
} optimality_opts;

/* Runs the mode: the exit code (APP_EXIT_USAGE for bad --names, APP_EXIT_FAIL for a file that
 * cannot be read, is malformed or holds other samples than the first). */
int stats_optimality(const optimality_opts *o);

#endif
