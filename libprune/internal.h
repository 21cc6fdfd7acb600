/* What libprune's method files share: the state of one pruning run and the phase machinery
 * (training epochs, per-phase evaluation, checkpoints) that run.c provides. */
#ifndef THINICE_PRUNE_INTERNAL_H
#define THINICE_PRUNE_INTERNAL_H

#include "thinice/methods.h"

typedef struct ti__tp_run {
    ti_ctx *ctx;
    ti_model *m;
    ti_classifier view;        /* m in evaluation mode (adversary and reports) */
    const ti_dataset *train;
    const ti_dataset *test;    /* the report's samples */
    ti_prune_params p;
    ti_adv_trainer *adv;
    ti_tape *tape;
    ti_batcher *batcher;
    const char *dir;           /* checkpoints, or NULL */
    char config[512];          /* fingerprint of the settings and of the starting weights,
                                  stored with each checkpoint */
    long epochs_before;        /* epochs of the phases before the current one: where the
                                  batcher starts, so a resumed phase sees the same batches */
    ti_prune_report *rep;
    double t0;                 /* start time of the current phase */
} ti__tp_run;

/* Starts phase `name`; if its checkpoint exists it is loaded, recorded in the report and
 * *resumed set to 1 (the caller then skips the training). */
ti_status ti__tp_phase_begin(ti__tp_run *r, const char *name, int epochs, int *resumed);
/* Ends the current phase: evaluates (clean and PGD), records it, writes its checkpoint. */
ti_status ti__tp_phase_end(ti__tp_run *r, double last_loss);
/* The learning-rate schedules of the methods, valid for 0 epochs too (a constant then, as no
 * step is taken): cosine from lr to 0 over `epochs`, and steps of x0.1 at the fractions
 * `at` (n of them, increasing) of `epochs`. */
ti_status ti__tp_schedule_cosine(ti__tp_run *r, ti_schedule *s, float lr, int epochs);
ti_status ti__tp_schedule_step(ti__tp_run *r, ti_schedule *s, float lr, int epochs, int n,
                           const double *at);
/* Trains `epochs` epochs with opt, the schedule (may be NULL) and hooks; *last_loss gets the
 * last epoch's mean loss. */
ti_status ti__tp_train(ti__tp_run *r, ti_sgd *opt, const ti_schedule *sched, const ti_train_hooks *h,
                   int epochs, double *last_loss);
/* The fine-tuning every method ends with: epochs_finetune epochs of the adversarial loss on
 * the masked model (masks honoured by the optimizer), learning rates from sched. */
ti_status ti__tp_finetune(ti__tp_run *r, const ti_schedule *sched, double *loss);
/* An SGD over every trainable parameter of the model (masks honoured), momentum and weight
 * decay from the run's parameters. */
ti_status ti__tp_sgd(ti__tp_run *r, float lr, ti_sgd **out);
/* The model's conv and linear weights, in state_dict order (at most cap). */
int ti__tp_weights(ti__tp_run *r, ti_param **out, int cap);
/* Masks every weight layer by its own magnitude at sparsity s (HYDRA's count rule). */
ti_status ti__tp_mask_by_magnitude(ti__tp_run *r, double s, int global);

#define TP_MAX_LAYERS 256

ti_status ti__tp_magnitude(ti__tp_run *r);
ti_status ti__tp_hydra(ti__tp_run *r);
ti_status ti__tp_admm(ti__tp_run *r);
ti_status ti__tp_atmc(ti__tp_run *r);

#endif
