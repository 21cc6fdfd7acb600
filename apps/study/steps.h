/* thinice-study's steps: each runs a piece of the study through the libraries and is cached
 * on disk under the output directory with the configuration it ran with, so a re-run skips
 * what is finished and a killed run starts again at the step it was in (pruning resumes
 * inside its step, after the last finished phase). */
#ifndef THINICE_STUDY_STEPS_H
#define THINICE_STUDY_STEPS_H

#include "app_cli.h"
#include "config.h"
#include "thinice/data.h"
#include "thinice/json.h"
#include "thinice/model.h"

typedef struct study {
    ti_ctx *ctx;
    const study_config *cfg;
    const char *out;          /* output directory */
    ti_dataset *train, *test; /* train_count / test_count samples */
    app_progress *progress;
    int quiet;
    int step, nsteps;         /* for the "[k/n]" prefix of the step lines */
    double seconds;           /* time spent in steps run (not skipped) */
} study;

/* What a model step leaves: its weights file and its accuracies. */
typedef struct study_model {
    char tag[96];     /* "smallcnn-dense", "smallcnn-hydra-90" */
    char network[32], method[16];
    double sparsity;
    char path[1200];  /* weights (safetensors) */
    char key[2048];   /* the step key, chained into the keys of the steps that use it */
    double clean, pgd; /* the method's own evaluation (PGD-attack.pgd_steps on attack.count) */
    double aa_clean, aa_robust;
} study_model;

/* Per-sample results on the first test_count test samples. */
typedef struct study_samples {
    int n;
    int *pred;       /* clean prediction */
    int *right;      /* pred == label */
    double *margin;  /* logit of the label minus the largest other logit */
    double *eps;     /* FMN distance to the boundary (dense model only; NULL otherwise) */
} study_samples;

ti_status study_open(study *st);   /* loads the data sets, makes the directories */
void study_close(study *st);

/* Adversarially trains (or loads) the dense model of `network`. */
ti_status study_step_dense(study *st, const char *network, study_model *dense);
/* Prunes the dense model with `method` at `sparsity` (or loads the result). */
ti_status study_step_prune(study *st, const study_model *dense, const char *method,
                           double sparsity, study_model *pruned);
/* AutoAttack on the first attack.count test samples: fills aa_clean and aa_robust. */
ti_status study_step_autoattack(study *st, study_model *m);
/* Clean predictions and margins of a model on the test samples; with fmn, also the FMN
 * boundary distance of every sample (a cached step). Free with study_samples_free. */
ti_status study_step_samples(study *st, const study_model *m, int fmn, study_samples *out);
void study_samples_free(study_samples *s);

/* ---- what the step files share ---------------------------------------------------------- */

/* "[k/n] message" on stdout (nothing with --quiet), after erasing the progress line. */
void study_say(study *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The record of step `name` if it exists and ran with `key` (NULL otherwise). */
ti_json *study_record_load(study *st, const char *name, const char *key);
/* Writes the record {key, numbers...} of step `name` (names and values in pairs). */
ti_status study_record_save(study *st, const char *name, const char *key, int n,
                            const char *const *names, const double *values);
double study_rec_num(const ti_json *j, const char *name);
/* The model of sm, loaded from its weights file. */
ti_status study_load_model(study *st, const study_model *sm, ti_model **m);

#endif
