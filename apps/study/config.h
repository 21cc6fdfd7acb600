/* thinice-study's configuration: what to train, prune, attack and analyse. Read from a JSON
 * file (such as configs/default.json) over the defaults; unknown keys are errors so that a typo
 * never silently runs the default. Two modes:
 *   trained:  "networks" x "methods" x "sparsities" (or "pairs": each network with its own
 *             methods), every model trained and pruned here;
 *   external: "models": networks someone else trained, each a dense checkpoint with its pruned
 *             versions (safetensors of a zoo architecture, or ONNX), only evaluated here. */
#ifndef THINICE_STUDY_CONFIG_H
#define THINICE_STUDY_CONFIG_H

#include "thinice/core.h"
#include "thinice/json.h"

#define SC_MAX_LIST 8
#define SC_MAX_PRUNED 16
#define SC_PATH 512

/* What a model's authors reported (Table 1's "reported" columns). */
typedef struct sc_reported {
    int given;
    float clean, robust; /* fractions */
    char attack[32];     /* e.g. "PGD-10" */
} sc_reported;

/* A pruned model brought by the user. */
typedef struct sc_pruned {
    char method[16];
    double sparsity;     /* nominal: the method's target */
    char file[SC_PATH];  /* safetensors (of the network's architecture) or .onnx */
    sc_reported reported;
} sc_pruned;

/* A network brought by the user: its dense model and the pruned models made from it. */
typedef struct sc_external {
    char name[32];       /* its label in tables and figures */
    char model[32];      /* the architecture of its safetensors files (not needed for ONNX) */
    char dense[SC_PATH];
    int npruned;
    sc_pruned pruned[SC_MAX_PRUNED];
} sc_external;

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
    /* trained mode: the methods of each network (none: every network with every method) */
    int npairs;
    struct {
        char network[32];
        int nmethod;
        char methods[SC_MAX_LIST][16];
    } pairs[SC_MAX_LIST];
    /* external mode (nexternal > 0): the user's networks; networks/methods are not used */
    int nexternal;
    sc_external external[SC_MAX_LIST];
    /* security curves: FMN distances on the first `count` test samples for every pruned model
     * (the dense models get them on all test_count), plotted up to eps_max (0: 4 eps) */
    struct {
        int count;
        float eps_max;
    } curves;
} study_config;

/* The methods network k runs in trained mode (its pair's, or every method) into out (room for
 * SC_MAX_LIST); returns how many. */
int study_config_methods(const study_config *c, int k, const char **out);
/* Reads "models" (external networks) or "pairs" from a parsed configuration member (config.c
 * hands them over; config_models.c). */
ti_status study_config_read_models(ti_ctx *ctx, const char *path, const ti_json *v,
                                   study_config *c);
ti_status study_config_read_pairs(ti_ctx *ctx, const char *path, const ti_json *v,
                                  study_config *c);
/* Adds the command line's external models: the dense file, the architecture, and
 * "METHOD:SPARSITY:FILE" for each pruned model (replacing any configured networks). */
ti_status study_config_set_external(ti_ctx *ctx, study_config *c, const char *dense,
                                    const char *model, const char *const *pruned, int npruned);
/* Checks the external networks: methods, sparsities, files that must exist, ONNX or a known
 * architecture, no repeated tag. */
ti_status study_config_check_models(ti_ctx *ctx, const study_config *c);
/* Writes "pairs" and "models" into the configuration's JSON. */
void study_config_models_json(ti_jw *w, const study_config *c);

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
