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
