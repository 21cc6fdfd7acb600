/* Adversarial training: the adversaries used inside training (PGD of Madry et al. 2018, the
 * KL maximisation of TRADES, Zhang et al. 2019) and the hooks that plug them into
 * ti_train_epoch (train.h). The inner maximisation always runs the model in evaluation mode
 * (through its classifier view); the outer loss runs it in training mode.
 * docs/pruning.md#adversarial-training. */
#ifndef THINICE_ADVTRAIN_H
#define THINICE_ADVTRAIN_H

#include "thinice/classifier.h"
#include "thinice/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ti_adv_kind {
    TI_ADV_NATURAL = 0, /* no adversary: plain cross-entropy */
    TI_ADV_PGD,         /* Madry: CE on PGD examples only (ADMM's loss) */
    TI_ADV_TRADES,      /* CE(x) + beta KL(p(x) || p(x')) with x' maximising the KL (HYDRA) */
    TI_ADV_MIXED,       /* w CE(x) + (1 - w) CE(x'), x' from PGD (ATMC: w = 1/2) */
    TI_ADV_KIND_COUNT
} ti_adv_kind;

const char *ti_adv_kind_name(ti_adv_kind k); /* "natural", "pgd", "trades", "mixed" */
ti_status ti_adv_kind_parse(const char *s, ti_adv_kind *out);

typedef struct ti_adv_params {
    ti_adv_kind kind;
    float eps;          /* L-inf radius */
    float step;         /* step size of the sign-gradient ascent */
    int steps;          /* ascent steps */
    int random_start;   /* PGD: start uniformly in the ball (TRADES always starts at x +
                           0.001 N(0, I)) */
    float beta;         /* TRADES: weight of the KL term */
    float clean_weight; /* MIXED: weight of the clean cross-entropy */
    uint64_t seed;
} ti_adv_params;

/* The CIFAR defaults: eps 8/255, step 2/255, 10 steps, random start, beta 6, clean weight
 * 1/2, seed 0, with the given kind. */
ti_adv_params ti_adv_params_default(ti_adv_kind kind);
/* The defaults for a data set's usual threat model: eps 0.1, step 0.025 on Fashion-MNIST
 * (the thin-ice study's), 8/255 and 2/255 on CIFAR-10 (and anything else). */
ti_adv_params ti_adv_params_for_data(ti_adv_kind kind, const ti_dataset *d);

/* Training-time PGD: from x (+ a uniform start in the ball when p->random_start), p->steps
 * sign-gradient steps on the cross-entropy, each projected on the eps-ball and [0,1]; every
 * point is attacked, and x_adv (N, C, H, W) is the last iterate. rng draws the start. */
ti_status ti_adv_pgd(ti_ctx *ctx, const ti_classifier *f, const ti_adv_params *p,
                     const float *x, const int *y, int N, ti_rng *rng, float *x_adv);
/* TRADES' inner maximisation: from x + 0.001 N(0, I), p->steps sign-gradient steps on
 * KL(softmax(f(x)) || softmax(f(x'))), projected as above. */
ti_status ti_adv_trades_inner(ti_ctx *ctx, const ti_classifier *f, const ti_adv_params *p,
                              const float *x, int N, ti_rng *rng, float *x_adv);

/* The hooks for ti_train_epoch: an inputs hook that makes the adversarial batch and a loss
 * hook for TRADES and MIXED (PGD keeps the default cross-entropy on the replaced inputs). */
typedef struct ti_adv_trainer ti_adv_trainer;
/* m and view (m's classifier view, from ti_model_classifier) are borrowed and must outlive
 * the trainer; max_batch bounds the batch size. */
ti_status ti_adv_trainer_new(ti_ctx *ctx, ti_model *m, const ti_classifier *view,
                             const ti_adv_params *p, int max_batch, ti_adv_trainer **out);
void ti_adv_trainer_free(ti_adv_trainer *t);
/* Restarts the adversary's random stream (PGD's random start, TRADES' Gaussian start) at
 * `seed`: a pruning run does it at the start of each phase, so that a phase resumed from its
 * predecessor's checkpoint draws the same numbers as in an uninterrupted run. */
void ti_adv_trainer_reseed(ti_adv_trainer *t, uint64_t seed);
/* Hooks with user = t; after_backward is NULL. Methods that need more (ADMM) wrap these. */
ti_train_hooks ti_adv_trainer_hooks(ti_adv_trainer *t);
ti_status ti_adv_trainer_inputs(void *t, ti_train_batch *b);
ti_status ti_adv_trainer_loss(void *t, ti_train_batch *b, ti_tensor **loss, ti_tensor **logits);

/* ---- a whole training run --------------------------------------------------------------
 * What thinice-train and the study's dense model do: SGD (PyTorch's, momentum, weight decay
 * on every parameter), a learning-rate schedule over the epochs, shuffled mini-batches
 * (with CIFAR-style augmentation if asked), the adversary of `adv` (TI_ADV_NATURAL: plain
 * training), and after each epoch the accuracy on a test set. */
typedef enum ti_lr_schedule {
    TI_LR_COSINE = 0, /* cosine from lr to 0 over the epochs */
    TI_LR_STEP,       /* x0.1 at 50% and 75% of the epochs */
    TI_LR_CONSTANT,
    TI_LR_SCHEDULE_COUNT
} ti_lr_schedule;

const char *ti_lr_schedule_name(ti_lr_schedule s); /* "cosine", "step", "constant" */
ti_status ti_lr_schedule_parse(const char *s, ti_lr_schedule *out);

/* One finished epoch, as the callback and the caller see it. */
typedef struct ti_adv_train_epoch {
    int epoch, epochs;    /* 1-based */
    ti_train_stats train; /* loss, accuracy, time of the training pass */
    ti_eval_stats test;   /* accuracy on the test set (zeroed without one) */
} ti_adv_train_epoch;

typedef struct ti_adv_train_params {
    ti_adv_params adv;         /* the adversary; its seed draws its random starts */
    int epochs, batch;
    float lr, momentum, weight_decay;
    ti_lr_schedule schedule;
    int augment;               /* pad-4 random crop and horizontal flip (CIFAR-10) */
    int eval_batch;            /* samples per test-evaluation batch (256) */
    uint64_t seed;             /* the mini-batches' shuffles */
    /* NULL: one process. Else a data-parallel run over the processes of reduce (MPI ranks,
     * say; see ti_train_setup.reduce): each trains on its share of every batch */
    const ti_reducer *reduce;
    /* called after every epoch (may be NULL): apps print their per-epoch line here */
    void (*on_epoch)(void *user, const ti_adv_train_epoch *e);
    void *user;
} ti_adv_train_params;

/* Natural training, 5 epochs, batch 128, lr 0.1, momentum 0.9, weight decay 5e-4, cosine,
 * no augmentation, evaluation batch 256, seed 0. */
ti_adv_train_params ti_adv_train_params_default(void);

/* Trains m on `train` with p, evaluating on `test` (may be NULL) after every epoch; *last
 * (may be NULL) receives the last epoch. Progress goes through the context ("epoch k",
 * "evaluate"). Errors: TI_ERR_ARG for bad settings (checked before any work), the data's,
 * the model's, TI_ERR_NAN for a diverging loss, TI_ERR_CANCELLED. */
ti_status ti_adv_train_run(ti_ctx *ctx, ti_model *m, const ti_dataset *train,
                           const ti_dataset *test, const ti_adv_train_params *p,
                           ti_adv_train_epoch *last);

/* Clean accuracy and accuracy under an evaluation PGD (eps, step, steps, one random start;
 * libattack's ti_atk_pgd) of the classifier f on d, `batch` samples at a time. steps 0
 * gives the clean accuracy for both. Used for every report. */
ti_status ti_adv_evaluate(ti_ctx *ctx, const ti_classifier *f, const ti_dataset *d, int batch,
                          float eps, float step, int steps, uint64_t seed, double *clean_acc,
                          double *pgd_acc);

#ifdef __cplusplus
}
#endif
#endif
