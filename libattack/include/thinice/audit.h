/* The audit of an evaluation: the evidence that the attacks behind a robust accuracy worked.
 * After ti_eval_run (eval.h), ti_audit_run reads the evaluation's records and re-queries the
 * classifier on a few samples to run two families of tests:
 *
 *  - AutoAttack's own checks (Croce & Hein, "Reliable evaluation of adversarial robustness
 *    with an ensemble of diverse parameter-free attacks", ICML 2020; fra31/auto-attack,
 *    autoattack/checks.py and flags_doc.md): outputs that change between identical passes,
 *    outputs that look like probabilities, zero input gradients, too few classes for the
 *    DLR and targeted attacks, and Square breaking points that the gradient-based attacks
 *    before it could not (a sign of gradient masking);
 *  - the indicators of attack failure (Pintor, Demetrio, Sotgiu, Demontis, Carlini, Biggio &
 *    Roli, "Indicators of attack failure: debugging and improving optimization of
 *    adversarial examples", NeurIPS 2022; pralab/IndicatorsOfAttackFailure,
 *    src/indicators/indicators.py): silent success, incomplete optimisation, transfer
 *    failure, unavailable gradients, unstable predictions and unconstrained attack failure.
 *
 * Every check that fires is logged as a warning (ti_ctx_log level 1) with its numbers; the
 * result holds each check's numbers, whether it fired and a one-line message, and per sample
 * a bitmask of the checks that ran on it and of those that fired. docs/audit.md explains
 * each check with an example. */
#ifndef THINICE_AUDIT_H
#define THINICE_AUDIT_H

#include <stdint.h>

#include "thinice/eval.h"
#include "thinice/json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The checks, with the number each one reports as ti_audit_item.value (compared with
 * .threshold; the check fires when value > threshold unless said otherwise). "check set":
 * the first n_check samples of the evaluation; "probe set": its first n_probe samples that
 * were classified correctly at x (ti_audit_params). */
typedef enum ti_audit_check {
    /* ---- AutoAttack's checks ---- */
    TI_AUDIT_RANDOMIZED = 0, /* "randomized", per sample (check set): n_repeat identical
                              * forward passes; value: the largest L2 distance between two
                              * passes' outputs, each scaled to unit L2 norm; a sample fires
                              * when that exceeds random_tol or its prediction changes */
    TI_AUDIT_SOFTMAX,        /* "softmax_output" (check set): every output in
                              * [-tol, 1 + tol] and every row summing to 1 within tol;
                              * value: the largest |row sum - 1| (fires when all three hold) */
    TI_AUDIT_ZERO_GRADIENT,  /* "zero_gradient", per sample (the check set's samples that the
                              * first pass classifies correctly: the ones APGD attacks): the
                              * DLR loss's input gradient (CE with 2 classes) at a random
                              * point of the ball (APGD's start) is all zeros; value: share
                              * of such samples */
    TI_AUDIT_N_CLASSES,      /* "n_classes": the attacks of the list need more classes than
                              * the model has (DLR 3, APGD-T 4, a targeted attack with n
                              * targets n + 1: its targets were clamped); value: the model's
                              * classes, threshold: the classes needed (fires when below) */
    TI_AUDIT_SQUARE,         /* "square_only", per sample (evaluated samples): broken by
                              * Square after every gradient-based attack before it failed;
                              * value: share of the evaluated samples */
    /* ---- the indicators of attack failure ---- */
    TI_AUDIT_SILENT_SUCCESS, /* "silent_success", per sample (probe set): the probe attack's
                              * own forward saw an adversarial iterate on its path, but the
                              * point it returned is not adversarial on a new forward pass */
    TI_AUDIT_INCOMPLETE,     /* "incomplete_optimization", per sample (probe set, points the
                              * probe did not break): the best loss still rose by more than
                              * incomplete_tol of the run's loss range over the last window
                              * iterations; value: the largest such rise */
    TI_AUDIT_TRANSFER,       /* "transfer_failure", per sample (probe set): the probe's point
                              * is adversarial on one forward pass and not on the next; in
                              * aggregate also the evaluation's examples that its final check
                              * turned back (ti_eval.n_check_failed) */
    TI_AUDIT_UNAVAILABLE,    /* "unavailable_gradients", per sample (check set): the CE
                              * loss's input gradient at x is all zeros or not finite, or the
                              * classifier's vjp reports TI_ERR_UNSUPPORTED */
    TI_AUDIT_UNSTABLE,       /* "unstable_predictions", per sample (probe set, costly): the
                              * mean over n_noise draws of |CE(x + noise) - CE(x)| / |CE(x)|,
                              * capped at 1, exceeds unstable_tol */
    TI_AUDIT_UNCONSTRAINED,  /* "unconstrained_attack_failure", per sample (probe set,
                              * costly): APGD-CE with a radius that covers the whole box
                              * (L-inf 1, L2 sqrt(D), L1 D) fails without a silent success */
    TI_AUDIT_COUNT
} ti_audit_check;

/* The bit of check c in ti_audit.flags and ti_audit.tested. */
#define TI_AUDIT_BIT(c) (1u << (unsigned)(c))

/* Its name above ("?" if out of range): JSON keys and CSV column suffixes. */
const char *ti_audit_check_name(ti_audit_check c);
/* 1 if check c has per-sample results (bits in flags/tested), 0 for the setup checks
 * (softmax_output, n_classes). */
int ti_audit_check_per_sample(ti_audit_check c);

typedef struct ti_audit_params {
    /* AutoAttack's checks, on the check set */
    int n_check;          /* the first n_check samples (250: the reference's batch) */
    int n_repeat;         /* randomized: identical passes compared (5) */
    float random_tol;     /* randomized: 1e-4 */
    float softmax_tol;    /* softmax_output: 1e-5 */
    float square_tol;     /* square_only: share of the evaluated samples (0.002) */
    /* the indicators, on the probe set */
    int n_probe;          /* the first n_probe correctly classified samples (100) */
    int probe;            /* 1: run the probe attack (silent success, incomplete optimisation,
                           * transfer failure): APGD-CE at the evaluation's norm, eps and
                           * seed, traced (1) */
    int probe_iter;       /* its iterations; 0: those of the evaluation's APGD-CE (100) */
    int window;           /* incomplete: the last iterations looked at (10; at most half
                           * the probe's iterations) */
    float incomplete_tol; /* incomplete: 0.05 */
    int unstable;         /* 1: unstable predictions (0: costly, n_noise forwards a sample) */
    int n_noise;          /* its draws per sample (100) */
    float noise;          /* each input value moves by uniform [-noise/2, noise/2] (8/255),
                           * then is clipped to [0, 1] */
    float unstable_tol;   /* 0.1 */
    int unconstrained;    /* 1: the unconstrained attack (0: costly, one APGD-CE run of
                           * probe_iter iterations a sample) */
} ti_audit_params;

/* The values above: the reference's thresholds and batch, the probe on, the costly
 * indicators off. */
ti_audit_params ti_audit_params_default(void);

typedef struct ti_audit_item {
    int run;           /* 1 if the check ran (the message says why not otherwise) */
    int triggered;     /* 1 if it fired */
    int tested;        /* samples it looked at (0 for n_classes) */
    int flagged;       /* samples it fired on */
    double value;      /* its number (see ti_audit_check); NAN if it did not run */
    double threshold;  /* what value is compared with */
    char message[320]; /* one line for a person: what was measured and what it means */
} ti_audit_item;

/* The audit of one evaluation. Plain data: callers read it directly. */
typedef struct ti_audit {
    int first, N;      /* the evaluation's samples first .. first + N - 1 */
    ti_audit_item item[TI_AUDIT_COUNT];
    int n_triggered;   /* checks that fired */
    uint32_t *flags;   /* (N) TI_AUDIT_BIT(c) set where per-sample check c fired */
    uint32_t *tested;  /* (N) TI_AUDIT_BIT(c) set where it ran */
    int n_check, n_probe, probe_iter; /* the sets and the probe as they ran */
    long forwards, backwards; /* model passes the audit spent, summed over samples */
    double seconds;
} ti_audit;

/* Audits the evaluation ev of classifier f: x (N, C, H, W) and y (N) are ev's samples, in
 * order, as given to ti_eval_run. Reads ev's records (done samples only: square_only, the
 * probe set, transfer_failure's count of final-check failures) and queries f on the check
 * set and the probe set; every random draw derives from ev's seed and the sample's global
 * index. Each check that fires is logged as a warning. *out owned by the caller
 * (ti_audit_free). p may be NULL (the defaults). Errors: TI_ERR_ARG (NULL data, a
 * classifier that does not fit ev, bad parameters), TI_ERR_NOMEM, TI_ERR_CANCELLED (the
 * progress callback, label "audit"), or the classifier's status (its TI_ERR_UNSUPPORTED
 * from a vjp is an unavailable gradient, not an error). */
ti_status ti_audit_run(ti_ctx *ctx, const ti_eval *ev, const ti_classifier *f, const float *x,
                       const int *y, const ti_audit_params *p, ti_audit **out);
void ti_audit_free(ti_audit *a);

/* Writes the member "audit" into the JSON object w is writing: the names of the checks
 * that fired ("triggered"), the sets and the probe, the passes and seconds spent, and under
 * "checks" one object per check with run, triggered, value, threshold, tested, flagged and
 * message. */
ti_status ti_audit_json(ti_ctx *ctx, const ti_audit *a, ti_jw *w);

/* The evaluation's per-sample CSV (ti_eval_write_csv's columns) with one more column per
 * per-sample check, audit_<name>: 1 where it fired on the sample, 0 where it ran and passed,
 * empty where it did not run. a must be the audit of ev. Written like ti_eval_write_csv. */
ti_status ti_audit_write_csv(ti_ctx *ctx, const ti_eval *ev, const ti_audit *a,
                             const char *path);

#ifdef __cplusplus
}
#endif
#endif
