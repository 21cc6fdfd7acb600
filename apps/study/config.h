/* thinice-study's configuration: what to train, prune, attack and analyse. Read from a JSON
 * file (such as configs/default.json) over the defaults; unknown keys are errors so that a typo never
 * silently runs the default. */
#ifndef THINICE_STUDY_CONFIG_H
#define THINICE_STUDY_CONFIG_H

#include "thinice/core.h"

#define SC_MAX_LIST 8

typedef struct study_config {
    char name[64];
    char data[1024];
    int nnet;
    char networks[SC_MAX_LIST][32];
    int nmethod;
    char methods[SC_MAX_LIST][16];
    int nsparsity;
    double sparsities[SC_MAX_LIST];
    int train_count, test_count; /* 0: all */
    int batch;
    uint64_t seed;
    /* the dense model: adversarial training from scratch */
    struct {
        int epochs;
        float lr, weight_decay;
        char loss[16]; /* natural, pgd, trades, mixed */
    } dense;
    /* the attack of training and of the methods' own PGD evaluation */
    float eps, step;
    int steps;
    struct {
        int epochs_prune, epochs_finetune;
        int train_count; /* 0: the dense training set */
    } prune;
    struct {
        char version[64]; /* standard, plus, or a list */
        int count;        /* first test samples attacked */
        int pgd_steps;    /* the methods' own evaluation: PGD-<pgd_steps> */
    } attack;
    struct {
        char norm[8];
        int steps;
    } fmn;
} study_config;

/* The default configuration: Fashion-MNIST, small CNN, HYDRA/ADMM/ATMC at 90% and 95%,
 * short schedules (minutes on 2 cores). */
void study_config_default(study_config *c);
/* Overrides c with the JSON file at path. Errors (missing file, bad JSON, unknown key, wrong
 * type, value out of range) name the file and the key. */
ti_status study_config_load(ti_ctx *ctx, const char *path, study_config *c);
/* Checks the whole configuration before any work: architecture, method, loss, norm and
 * attack names, repeated entries, the data directory, counts that fit together. Errors name
 * the key. */
ti_status study_config_check(ti_ctx *ctx, const study_config *c);
/* The configuration as JSON text (malloc'd), for the report and the step keys. */
char *study_config_json(const study_config *c);

#endif
