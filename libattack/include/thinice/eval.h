/* The evaluation harness: a classifier on a range of samples under an attack, with one
 * per-sample record, one CSV schema, one JSON summary and a resumable state. thinice-attack,
 * thinice-study and C users all evaluate through it.
 *
 * What runs: the AutoAttack ensemble ("standard", "plus", one of its attacks or a comma-
 * separated list of them: autoattack.h), or PGD, FGSM or FMN alone (pgd.h, fmn.h). The
 * samples are processed in batches; each batch goes through the whole evaluation (clean
 * pass, the attacks on the points still robust, an independent check of every adversarial
 * example) and its records are committed at once, so a cancelled or failed run loses at most
 * the batch in flight. Every random stream is keyed on the sample's global index, so the
 * records do not depend on the batch size, on how a run was split over processes or shards,
 * or on where it was interrupted and resumed.
 *
 * A point counts as broken only when it is misclassified, inside the box [0,1] and inside the
 * ball ||x_adv - x|| <= eps exactly, with no tolerance (as AutoAttack counts FAB's
 * successes); FMN's points count when they lie within eps (FMN with eps = INFINITY measures
 * distances only). */
#ifndef THINICE_EVAL_H
#define THINICE_EVAL_H

#include "thinice/autoattack.h"
#include "thinice/fmn.h"
#include "thinice/json.h"
#include "thinice/pgd.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TI_EVAL_MAX_ATTACKS TI_AA_MAX_ATTACKS

typedef enum ti_eval_kind {
    TI_EVAL_AUTOATTACK = 0, /* the ensemble, or a list of its attacks */
    TI_EVAL_PGD,
    TI_EVAL_FGSM,
    TI_EVAL_FMN,
    TI_EVAL_KIND_COUNT
} ti_eval_kind;

typedef struct ti_eval_params {
    ti_eval_kind kind;
    char attack[128];     /* as given: "standard", "plus", a list, "pgd", "fgsm" or "fmn" */
    ti_norm norm;         /* the threat model */
    float eps;            /* its radius (>= 0; 0: no attack runs, robust = clean); FMN: the
                           * success radius, INFINITY to measure distances only */
    uint64_t seed;        /* every random stream derives from it and the sample index */
    int batch_size;       /* samples per batch: the unit of commits and state saves (250) */
    int fmn_predicted;    /* FMN: measure every sample's distance to the boundary of its
                           * PREDICTED class, so that misclassified samples get one too (the
                           * thin-ice study's epsilon); 0: only correctly classified samples
                           * are attacked and misclassified ones get 0 */
    /* the settings of each kind; their norm, eps and seed are replaced by the fields above
     * when the evaluation runs */
    ti_aa_params aa;      /* AUTOATTACK: the ensemble's settings (the version's defaults) */
    ti_pgd_params pgd;    /* PGD: 20 steps of eps/4 from a random start; FGSM: one step of eps
                           * from x (the same struct, steps 1) */
    ti_fmn_params fmn;    /* FMN: 1000 steps (the paper's study) */
} ti_eval_params;

/* The parameters of an evaluation with `attack` at (norm, eps), every other setting at its
 * default. Checks everything that can be checked before a model is seen: the attack's name
 * (with a suggestion for a near miss), the norm each attack supports, eps (finite and >= 0;
 * FMN also takes INFINITY). Errors: TI_ERR_ARG with a message for a user. */
ti_status ti_eval_params_init(ti_ctx *ctx, const char *attack, ti_norm norm, float eps,
                              ti_eval_params *out);

/* Record codes for ti_eval_sample.attack (otherwise the index of the attack that fooled the
 * sample in the run's list). */
enum { TI_EVAL_ROBUST = -1, TI_EVAL_CLEAN_WRONG = -2 };

/* What became of one sample. */
typedef struct ti_eval_sample {
    int done;              /* 1 once the sample went through the whole evaluation */
    int label, clean_pred; /* its label and the prediction at x */
    int adv_pred;          /* the prediction at x_adv (clean_pred where not fooled) */
    int attack;            /* see above */
    float linf, l2, l1;    /* ||x_adv - x|| where fooled, else 0 */
    float min_norm;        /* FMN: the smallest adversarial norm it found, in the run's norm
                            * (0 at a misclassified x, INFINITY if none); NAN otherwise */
    long check_forwards;   /* forward passes outside the attacks: clean pass and checks */
    long forwards[TI_EVAL_MAX_ATTACKS];  /* model passes each attack of the list spent on */
    long backwards[TI_EVAL_MAX_ATTACKS]; /* this sample (0 for attacks it never reached) */
} ti_eval_sample;

/* An evaluation: its parameters, the sample range and the records. Plain data: callers read
 * the records directly. */
typedef struct ti_eval {
    ti_eval_params p;
    int first, N;          /* the samples first .. first + N - 1 of the data set */
    int n_attacks;         /* the attack list (1 for PGD, FGSM and FMN) */
    char names[TI_EVAL_MAX_ATTACKS][16];
    char run[1024];        /* the caller's identity of the run: model, weights hash, data
                            * (ti_eval_set_run); part of the state's configuration and the
                            * JSON, so that a state or a shard from another run is refused */
    ti_eval_sample *samples; /* (N) */
    double seconds_clean;  /* wall time of the clean passes and checks, summed over batches */
    double seconds[TI_EVAL_MAX_ATTACKS]; /* of each attack */
    int n_check_failed;    /* examples the final check turned back to robust */
} ti_eval;

/* A new evaluation of samples first .. first + N - 1 with parameters p (copied), every record
 * not done. *out owned by the caller (ti_eval_free). Errors: TI_ERR_ARG, TI_ERR_NOMEM. */
ti_status ti_eval_new(ti_ctx *ctx, const ti_eval_params *p, int first, int N, ti_eval **out);
void ti_eval_free(ti_eval *ev);
/* Sets the run's identity (at most 1023 bytes, no newline), e.g.
 * "model=resnet18 weights_fnv=... data=cifar10 split=test". */
ti_status ti_eval_set_run(ti_ctx *ctx, ti_eval *ev, const char *run);

/* Evaluates the samples not done yet: x (N, C, H, W) and y (N) hold the N samples of ev, in
 * order; x_adv (N, C, H, W; may be NULL) receives the adversarial example of every sample
 * this call evaluates (x itself where none was found). Batch by batch, with progress through
 * ti_ctx_progress(ctx, "eval", done, total), counting each batch's samples once per attack
 * of the list (total = samples to do x attacks), and the attacks' own progress calls in
 * between as a heartbeat. With state (a path, may be NULL) the state is written atomically
 * after every batch (ti_eval_state_save). Errors: TI_ERR_ARG (classifier shape, labels,
 * classes too few for an attack), TI_ERR_UNSUPPORTED, TI_ERR_NOMEM, TI_ERR_CANCELLED, I/O
 * errors of the state, or the classifier's status; the records of finished batches stay.
 * The evidence that the attacks worked (AutoAttack's checks, such as Square breaking what the
 * gradient-based attacks could not, and the indicators of attack failure) comes from
 * ti_audit_run (audit.h) on the finished evaluation. */
ti_status ti_eval_run(ti_ctx *ctx, ti_eval *ev, const ti_classifier *f, const float *x,
                      const int *y, float *x_adv, const char *state);
/* The same for the samples lo .. hi - 1 of ev only (0 <= lo <= hi <= N; batches start at lo):
 * what one process of a distributed run does with each chunk of samples it is handed. */
ti_status ti_eval_run_range(ti_ctx *ctx, ti_eval *ev, const ti_classifier *f, const float *x,
                            const int *y, float *x_adv, const char *state, int lo, int hi);

/* The summary of the done samples. */
typedef struct ti_eval_summary {
    int n_done;
    int n_clean;                 /* correctly classified at x */
    int n_robust[TI_EVAL_MAX_ATTACKS]; /* still robust after attack a (cumulative) */
    double clean_acc;            /* n_clean / n_done (0 if none done) */
    double robust_acc[TI_EVAL_MAX_ATTACKS];
    double robust_final;         /* after the whole list */
    long forwards[TI_EVAL_MAX_ATTACKS], backwards[TI_EVAL_MAX_ATTACKS]; /* per attack */
    long check_forwards, total_forwards, total_backwards;
    /* FMN: medians of min_norm (INFINITY counts as the largest), over all samples and over
     * the correctly classified ones, and how many of those got a finite norm */
    double fmn_median_all, fmn_median_correct;
    int fmn_found;
} ti_eval_summary;

ti_status ti_eval_summarize(ti_ctx *ctx, const ti_eval *ev, ti_eval_summary *s);

/* Whether x_adv (D) counts as broken for the ensemble and the harness: inside [0,1]^D and
 * ||x_adv - x||_norm <= eps exactly (computed by ti_norm_dist, no tolerance). The prediction
 * is checked by the caller. */
int ti_eval_in_threat_set(ti_norm norm, const float *x_adv, const float *x, size_t D,
                          float eps);

/* ---- files ------------------------------------------------------------------------------
 * The per-sample CSV, one schema for every kind: a header line, then one line per done
 * sample in index order:
 *   index,label,clean_pred,adv_pred,success,attack,linf,l2,l1,min_norm,forwards,backwards,
 *   forwards_<attack>,backwards_<attack>  (for each attack of the list)
 * index is the global sample index; attack is the name of the attack that fooled the sample,
 * "none" (robust) or "clean" (misclassified at x); min_norm is empty except for FMN (inf
 * where none was found); forwards/backwards are the sample's totals (checks included).
 * Written through ti_afile (fileio.h): atomically for a regular file, "-" for standard
 * output, in place for a FIFO or a device. */
ti_status ti_eval_write_csv(ti_ctx *ctx, const ti_eval *ev, const char *path);

/* Writes the evaluation's members into the JSON object w is writing: "run", "config" (attack,
 * attacks, norm, eps, seed, first, count and the kind's settings), "samples", the
 * accuracies, per attack its robust accuracy, seconds and passes, "check_failed", "fmn"
 * (FMN only), "passes" and "seconds". Numbers that came from floats are printed as the
 * shortest decimal that reads back to the same float (0.1, not 0.10000000149). */
ti_status ti_eval_json(ti_ctx *ctx, const ti_eval *ev, ti_jw *w);

/* The state file: a text file holding the configuration line (parameters, range, run) and
 * the records of the done samples. save writes it atomically. load reads path into ev; *found
 * is 0 (and TI_OK) when the file does not exist; a state of another configuration is refused
 * with TI_ERR_ARG naming the first setting that differs, a malformed one with TI_ERR_FORMAT;
 * on any error ev is left with no record done. The batch size is not part of the
 * configuration: records do not depend on it. */
ti_status ti_eval_state_save(ti_ctx *ctx, const ti_eval *ev, const char *path);
ti_status ti_eval_state_load(ti_ctx *ctx, ti_eval *ev, const char *path, int *found);
/* Reads a state file on its own: the evaluation its configuration line describes (kind,
 * attack, norm, eps, seed, range, the kind's step counts, the run's identity; other settings
 * at their defaults) with its records. *out owned by the caller. */
ti_status ti_eval_state_read(ti_ctx *ctx, const char *path, ti_eval **out);

/* ---- shards ------------------------------------------------------------------------------
 * A run split over processes or jobs (thinice-attack --shard K/N, one state file each) is put
 * back together here: the shards must be of the same run (every setting equal but the range)
 * and their ranges must tile one range without gap or overlap, every record done. *out is
 * the evaluation one process would have made: the same records in the same order (so the
 * same CSV), the seconds and the final check's failures summed. Errors name the setting that
 * differs, or the samples missing or evaluated twice. */
ti_status ti_eval_merge(ti_ctx *ctx, ti_eval *const *shards, int n, ti_eval **out);
/* TI_OK if a and b are of the same run (identity, attack, norm, eps, seed, step counts; the
 * range and batch size may differ), else TI_ERR_ARG naming the first setting that differs. */
ti_status ti_eval_same_run(ti_ctx *ctx, const ti_eval *a, const ti_eval *b);
/* Shard k (0-based) of n of `count` samples from `first`, in whole batches of `batch` (the
 * last one may be short): contiguous, their batch counts differing by at most one, the first
 * ones the larger; empty when there are fewer batches than shards. Whole batches because the
 * bits of a model's outputs depend on how many samples share a batch (OpenBLAS's kernels
 * round differently for different matrix sizes): a shard run with the same batch size and
 * threads then computes exactly the batches one process would. */
void ti_eval_shard_range(int first, int count, int batch, int k, int n, int *shard_first,
                         int *shard_count);

#ifdef __cplusplus
}
#endif
#endif
