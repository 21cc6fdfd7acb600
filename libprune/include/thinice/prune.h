/* libprune: the adversarial pruning methods of the thin-ice study (HYDRA, ADMM, ATMC and
 * magnitude pruning) run from a dense adversarially trained model, and the mask arithmetic
 * every method shares. Sparsity s is the fraction of weights REMOVED; the fraction kept is
 * k = 1 - s. Each method does what its authors' code does (docs/pruning.md):
 *   magnitude: per-layer (or global) magnitude masks, then masked adversarial fine-tuning;
 *   HYDRA:     importance scores trained with the weights frozen (prune phase), then masked
 *              fine-tuning of the weights (finetune phase);
 *   ADMM:      augmented-Lagrangian training towards the per-layer l0 sets (admm phase),
 *              hard pruning, then masked adversarial retraining (retrain phase);
 *   ATMC:      projected adversarial SGD with a global top-k after every step (prune phase).
 * Every conv and linear weight is pruned (HYDRA's rule; ADMM and magnitude layer-wise at the
 * same sparsity, ATMC globally), so each model meets its target sparsity exactly. */
#ifndef THINICE_PRUNE_H
#define THINICE_PRUNE_H

#include <stddef.h>

#include "thinice/advtrain.h"
#include "thinice/json.h"
#include "thinice/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the pruning run ------------------------------------------------------------------- */

typedef enum ti_prune_method {
    TI_PRUNE_MAGNITUDE = 0,
    TI_PRUNE_HYDRA,
    TI_PRUNE_ADMM,
    TI_PRUNE_ATMC,
    TI_PRUNE_METHOD_COUNT
} ti_prune_method;

const char *ti_prune_method_name(ti_prune_method m); /* "magnitude", "hydra", "admm", "atmc" */
ti_status ti_prune_method_parse(const char *s, ti_prune_method *out);

typedef struct ti_prune_params {
    ti_prune_method method;
    double sparsity;      /* fraction of conv and linear weights removed (0.9, 0.95) */
    int global;           /* magnitude: one threshold over all layers instead of per layer */
    ti_adv_params adv;    /* the adversarial loss of every phase */
    int batch;
    int epochs_prune;     /* HYDRA prune, ADMM admm, ATMC projected training (magnitude: 0) */
    int epochs_finetune;  /* HYDRA finetune, ADMM retrain, magnitude finetune (ATMC: 0) */
    float lr_prune;       /* initial learning rates of the two phases */
    float lr_finetune;
    float momentum, weight_decay;
    int admm_period;      /* ADMM: epochs between Z/U updates (the reference: 20 of 200) */
    float admm_rho, admm_rho_mult; /* ADMM: initial rho 1e-3, times 1.3 at each update */
    int eval_count;       /* test samples for the per-phase clean/PGD report (0: all) */
    int eval_steps;       /* PGD steps of that report (eps and step from adv) */
    uint64_t seed;
    /* NULL: one process. Else a data-parallel run (ti_train_setup.reduce): every process
     * calls ti_prune_run alike and trains on its share of each batch; only rank 0 writes the
     * checkpoints, every one reads them */
    const ti_reducer *reduce;
} ti_prune_params;

/* The method's reference settings scaled to short schedules: HYDRA with TRADES, lr 0.1 for
 * the scores and 0.01 to fine-tune (cosine); ADMM with PGD-AT, lr 0.01 periodic then 0.01
 * step; ATMC with the 50/50 mixed loss, lr 0.01 step; magnitude with PGD-AT, lr 0.01
 * cosine. Sparsity 0.9, batch 128, momentum 0.9, wd 1e-4, 2 + 2 epochs, PGD-10 report on
 * 1000 test samples. */
ti_prune_params ti_prune_params_default(ti_prune_method m);

#define TI_PRUNE_MAX_PHASES 4
typedef struct ti_prune_phase {
    char name[32];     /* "hydra-prune", "hydra-finetune", "admm", "retrain", ... */
    int epochs;
    double clean_acc, pgd_acc; /* after the phase, on the report's test samples */
    double sparsity;   /* global sparsity over conv and linear weights after the phase */
    double seconds;    /* training time of the phase (0 when resumed from its checkpoint) */
    double last_loss;  /* mean training loss of the last epoch */
    int resumed;       /* non-zero: loaded from its checkpoint, not trained in this run */
} ti_prune_phase;

typedef struct ti_prune_report {
    ti_prune_phase start;  /* the dense model as given */
    ti_prune_phase phases[TI_PRUNE_MAX_PHASES];
    int nphases;
} ti_prune_report;

/* Writes the phase's fields (name, epochs, clean_accuracy, pgd_accuracy, sparsity, seconds,
 * seconds_per_epoch, last_loss, resumed) as members of the JSON object w is writing. */
void ti_prune_phase_json(ti_jw *w, const ti_prune_phase *ph);

/* Prunes m in place (weights, masks) with the method of p, training on `train` and reporting
 * on `test`. With ckpt_dir (may be NULL) each finished phase is written there atomically as
 * "<phase>.safetensors" (weights and masks) with "<phase>.json" (its report), and a run
 * whose checkpoints exist resumes after the last finished phase. Progress goes through the
 * context's callback. */
ti_status ti_prune_run(ti_ctx *ctx, ti_model *m, const ti_dataset *train,
                       const ti_dataset *test, const ti_prune_params *p, const char *ckpt_dir,
                       ti_prune_report *rep);

/* ---- masks and sparsity (docs/pruning.md#conventions, #counting-sparsity) ---------------- */

/* Number of weights kept in a tensor of n weights at sparsity s: n - floor(s n), computed so
 * that decimal sparsities (0.9, 0.95) give the exact-rational answer (HYDRA's rule). */
size_t ti_prune_keep_count(size_t n, double sparsity);

/* The exact top-k mask by magnitude: mask[i] = 1 for the `keep` entries of largest |v|,
 * 0 elsewhere. Ties are broken deterministically: among equal magnitudes the LOWER index is
 * pruned first. O(n) expected (selection, not a full sort). scratch: NULL, or room for n
 * floats, reused by callers that mask at every step so that no step allocates.
 * TI_OK or TI_ERR_NOMEM. */
ti_status ti_prune_topk_mask(const float *v, size_t n, size_t keep, float *mask, float *scratch);

/* Global top-k over several tensors at once (ATMC's projection): v[t] has n[t] entries;
 * keeps the `keep` largest magnitudes over all of them (same tie rule, by tensor then
 * index) and writes masks[t]. */
ti_status ti_prune_topk_mask_global(const float *const *v, const size_t *n, int ntensors,
                                    size_t keep, float *const *masks, float *scratch);

/* Euclidean projection onto {u : ||u||_0 <= keep}: out = v on the top-k support, 0 elsewhere
 * (ADMM's Z step). out may alias v. */
ti_status ti_prune_project_l0(const float *v, size_t n, size_t keep, float *out);

/* Per-layer report over a model's conv and linear weights. */
typedef struct ti_prune_layer {
    const char *name; /* the weight's state_dict name (borrowed from the model) */
    size_t n;         /* weights */
    size_t zeros;     /* exact zeros */
} ti_prune_layer;

/* Fills up to `cap` layers (returns how many weights layers the model has). Global sparsity
 * = sum zeros / sum n; HYDRA's figure = mean over layers of zeros/n. */
int ti_prune_layers(ti_model *m, ti_prune_layer *out, int cap);
double ti_prune_layer_mean_sparsity(const ti_prune_layer *l, int nl);

/* A HYDRA checkpoint (weights plus "<layer>.popup_scores", as HYDRA's code saves them) turned
 * into the network HYDRA evaluates: every weight with scores gets the mask topk(|scores|)
 * keeping ti_prune_keep_count(n, sparsity) entries (its masked weights set to zero). m holds
 * the checkpoint's weights already (ti_model_load); *layers receives how many layers had
 * scores (0: a plain checkpoint, left as it is). Errors name the file and the tensor. */
ti_status ti_prune_apply_scores(ti_model *m, const char *path, double sparsity, int *layers);

/* Writes a whole run's report as members of the object w is writing: method,
 * sparsity_target, the sparsity reached (overall, per-layer mean, per layer from layers (nl),
 * ti_prune_layers), the final clean and PGD accuracy, start and phases, and "params" (every
 * setting of p). */
void ti_prune_report_json(ti_jw *w, const ti_prune_params *p, const ti_prune_report *rep,
                          const ti_prune_layer *layers, int nl);

#ifdef __cplusplus
}
#endif
#endif
