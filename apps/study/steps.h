/* thinice-study's steps: each runs a piece of the study through the libraries and is cached
 * on disk under the output directory with the configuration it ran with, so a re-run skips
 * what is finished, a killed run starts again at the step it was in (pruning resumes inside
 * its step after the last finished phase, evaluations after the last finished batch), and
 * models added to a finished study cost only their own steps. */
#ifndef THINICE_STUDY_STEPS_H
#define THINICE_STUDY_STEPS_H

#include "app_cli.h"
#include "app_procs.h"
#include "app_model.h"
#include "config.h"
#include "thinice/data.h"
#include "thinice/json.h"
#include "thinice/model.h"

typedef struct study {
    ti_ctx *ctx;
    const study_config *cfg;
    const char *out;          /* output directory */
    ti_dataset *train, *test; /* train_count / test_count samples (no train set when every
                               * model is the user's) */
    app_progress *progress;
    int quiet;
    int step, nsteps;         /* for the "[k/n]" prefix of the step lines */
    double seconds;           /* time spent in steps run (not skipped) */
    int models_only;          /* --models-only: the model steps, then stop */
    ti_sparse_mode sparse;    /* --sparse: how the evaluations run pruned zoo models */
    int shard, shards;        /* --shard K/N: the evaluation steps run only shard K of their
                               * samples and record nothing (shards 0: the whole study) */
} study;

/* A model of the study: who it is, where its weights are, what the steps found. */
typedef struct study_model {
    char tag[96];             /* "smallcnn-dense", "smallcnn-hydra-90" */
    char network[32], method[16];
    double sparsity;          /* nominal: the method's target (0 for dense models) */
    char spec[SC_PATH + 8];   /* what opens it: an architecture name or "onnx:FILE" */
    char path[1200];          /* its weights: a checkpoint of this study, or the user's file */
    int external;             /* brought by the user: evaluated, never trained */
    sc_reported reported;     /* external: what its authors reported, if given */
    char key[2048];           /* the step key, chained into the keys of the steps that use it */
    /* what the steps found */
    double sparsity_measured; /* zeros among the conv and linear weights */
    double clean, pgd;        /* reported clean and robust accuracy ... */
    char reported_by[48];     /* ... and by whom: the method's or thinice's PGD, or the authors */
    double aa_clean, aa_robust;
    int aa_n, aa_robust_n;    /* samples AutoAttack evaluated, and those it left robust */
    unsigned audit_fired;     /* the audit of its AutoAttack run: TI_AUDIT_BIT of each check
                               * that fired (samples/<tag>-autoattack-audit.json: numbers) */
} study_model;

/* A network: its dense model and the pruned models made from it. */
#define STUDY_MAX_PRUNED (SC_MAX_LIST * SC_MAX_LIST)
typedef struct study_net {
    study_model dense;
    int np;
    study_model pruned[STUDY_MAX_PRUNED];
} study_net;

/* Per-sample results on the first test_count test samples. */
typedef struct study_samples {
    int n;
    int *pred;       /* clean prediction */
    int *right;      /* pred == label */
    double *margin;  /* logit of the label minus the largest other logit */
    int nfmn;        /* samples with an FMN distance: the first nfmn */
    double *eps;     /* FMN distance to the boundary of the predicted class (nfmn) */
} study_samples;

ti_status study_open(study *st);   /* loads the data sets, makes the directories */
void study_close(study *st);

/* The study's networks and models from the configuration (names, tags, files); the steps
 * fill in the rest. *n receives the number of networks. */
void study_plan(const study *st, study_net *nets, int *n);
/* Steps per network: model steps (training or checking), AutoAttack, samples and FMN. */
int study_plan_steps(const study_net *net);

/* Trained mode: adversarially trains (or loads) the dense model; prunes it. */
ti_status study_step_dense(study *st, study_model *dense);
ti_status study_step_prune(study *st, const study_model *dense, study_model *pruned);
/* External mode: checks that every model of the networks opens on the study's data (before
 * any work), measuring their sparsity. */
ti_status study_check_external(study *st, study_net *nets, int n);
/* External mode: the model's reported accuracies, or thinice's PGD evaluation of it when
 * its authors reported none (a cached step). */
ti_status study_step_external(study *st, study_model *m);
/* AutoAttack on the first attack.count test samples: fills aa_*. */
ti_status study_step_autoattack(study *st, study_model *m);
/* Clean predictions and margins of a model on the test samples, and FMN boundary distances
 * of the first nfmn (a cached step). Free with study_samples_free. */
ti_status study_step_samples(study *st, const study_model *m, int nfmn, study_samples *out);
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
/* With several processes (MPI) only rank 0 writes the study's files; the others wait for
 * it to finish a model's checkpoint before any of them reads it. */
int study_writer(const study *st);

/* Any model of the study as attacks see it (a zoo model, an ONNX graph), with HYDRA's
 * scores applied as masks for a user's HYDRA checkpoint. Close with app_net_close. */
ti_status study_open_net(study *st, const study_model *sm, app_net *out);

#endif
