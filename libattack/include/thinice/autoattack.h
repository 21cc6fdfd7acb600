/* AutoAttack (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble
 * of diverse parameter-free attacks", ICML 2020): clean accuracy first, then each attack of
 * a list in order, each on the points still robust and each starting from the clean x; a
 * point is non-robust if any attack fooled it. Versions "standard" (APGD-CE, APGD-T,
 * FAB-T, Square) and "plus" (APGD-CE, APGD-DLR, FAB, Square, APGD-T, FAB-T with restarts),
 * or a custom list. docs/attacks.md#autoattack.
 *
 * The ensemble runs one slice of samples at a time through all its attacks. Every sample's
 * random streams derive from (seed, sample index), so the result of every attack does not
 * depend on how the samples are sliced or batched. An app that wants to
 * resume keeps the per-sample records of ti_aa_result (they are plain data) in a state file
 * written after each slice, reloads them, and calls ti_aa_run again: samples already marked
 * done are skipped. */
#ifndef THINICE_AUTOATTACK_H
#define THINICE_AUTOATTACK_H

#include "thinice/apgd.h"
#include "thinice/attack.h"
#include "thinice/fab.h"
#include "thinice/square.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ti_aa_attack {
    TI_AA_APGD_CE = 0, /* "apgd-ce" */
    TI_AA_APGD_DLR,    /* "apgd-dlr" */
    TI_AA_FAB,         /* "fab" (untargeted) */
    TI_AA_SQUARE,      /* "square" */
    TI_AA_APGD_T,      /* "apgd-t" */
    TI_AA_FAB_T,       /* "fab-t" */
    TI_AA_ATTACK_COUNT
} ti_aa_attack;

#define TI_AA_MAX_ATTACKS 16

const char *ti_aa_attack_name(ti_aa_attack a); /* the names above; "?" if out of range */
ti_status ti_aa_attack_parse(const char *name, ti_aa_attack *out);
/* 1 if attack a runs at this norm: every attack at L-inf and L2, the APGD attacks (apgd-ce,
 * apgd-dlr, apgd-t: L1-APGD) at L1; FAB, FAB-T and Square have no L1 version here. */
int ti_aa_attack_has_norm(ti_aa_attack a, ti_norm norm);

typedef struct ti_aa_params {
    ti_norm norm;     /* TI_NORM_LINF or TI_NORM_L2; TI_NORM_L1 for lists of APGD attacks
                       * only (L1-APGD; no L1 "standard" version) */
    float eps;
    uint64_t seed;
    int batch_size;   /* samples per slice in ti_aa_run (250, the reference's default) */
    char version[16]; /* "standard", "plus" or "custom" (informative) */
    int n_attacks;
    ti_aa_attack attacks[TI_AA_MAX_ATTACKS]; /* in order */
    /* the settings of each attack; norm, eps and seed are overwritten from the fields above
     * when the ensemble runs */
    ti_apgd_params apgd_ce, apgd_dlr, apgd_t;
    ti_fab_params fab, fab_t;
    ti_square_params square;
} ti_aa_params;

/* "standard" at L-inf, eps 8/255, seed 0, batch 250. */
ti_aa_params ti_aa_params_default(void);

/* Parameters of a version: "standard", "plus", or a comma-separated list of attack names
 * (each with standard's settings, apgd-dlr and fab with 1 restart); the settings are in
 * docs/attacks.md#autoattack. APGD runs with stop_on_success = 1 (same robust accuracy as the reference,
 * faster; docs/attacks.md). Errors: TI_ERR_ARG for an unknown name or a too long list. */
ti_status ti_aa_params_version(ti_ctx *ctx, const char *version, ti_norm norm, float eps,
                               ti_aa_params *out);

/* What became of one sample. attack: the index in the params' attack list of the attack
 * that fooled it, or one of the codes below. */
enum { TI_AA_ROBUST = -1, TI_AA_CLEAN_WRONG = -2 };

typedef struct ti_aa_sample {
    int done;            /* 1 once the sample went through the whole ensemble */
    int label, clean_pred, adv_pred; /* adv_pred = prediction at x_adv (clean_pred if robust) */
    int attack;          /* see above */
    long forwards, backwards; /* model passes spent on this sample (clean pass, attacks,
                                 checks), counted per point by every attack */
    float linf, l2;      /* ||x_adv - x|| (0 for robust or clean-misclassified samples) */
} ti_aa_sample;

typedef struct ti_aa_result {
    int N;
    int n_attacks;
    ti_aa_attack attacks[TI_AA_MAX_ATTACKS];
    ti_aa_sample *samples;                   /* (N), owned */
    double seconds_clean;                    /* wall time of the clean passes */
    double seconds[TI_AA_MAX_ATTACKS];       /* wall time of each attack, summed over slices */
    int n_check_failed;                      /* points the final check turned back to robust */
    /* summary over the done samples, filled by ti_aa_result_summarize */
    int n_done;
    double clean_acc;
    double robust_acc[TI_AA_MAX_ATTACKS];    /* cumulative: robust accuracy after attack a */
} ti_aa_result;

/* A result for N samples and p's attack list, every sample not done. *out owned by the
 * caller (ti_aa_result_free). Errors: TI_ERR_ARG, TI_ERR_NOMEM. */
ti_status ti_aa_result_new(ti_ctx *ctx, const ti_aa_params *p, int N, ti_aa_result **out);
void ti_aa_result_free(ti_aa_result *r);
/* Recomputes n_done, clean_acc and robust_acc from the per-sample records (denominator:
 * the done samples). */
void ti_aa_result_summarize(ti_aa_result *r);

/* Runs the ensemble on the samples first .. first+count-1 of x (N, C, H, W) and y (N) that
 * are not done yet, fills their records in res and, if x_adv is not NULL, their rows of
 * x_adv (N, C, H, W): the adversarial example, or x for robust points. The records are
 * written only when the whole slice has finished, so a cancelled or failed call leaves res
 * as it was. A final independent check verifies every reported adversarial example (ball
 * exactly, with no tolerance; box [0,1]; misclassified on a new forward pass); failures are
 * reported robust and logged as warnings. Progress: ti_ctx_progress with label
 * "autoattack:<attack>" and done/total counting the attacks of the slice.
 * Errors: TI_ERR_ARG (bad parameters, range, labels, classes too few for an attack),
 * TI_ERR_UNSUPPORTED (a norm an attack lacks), TI_ERR_NOMEM, TI_ERR_CANCELLED, or an
 * attack's or the classifier's status. */
ti_status ti_aa_run_slice(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *p,
                          const float *x, const int *y, int first, int count, float *x_adv,
                          ti_aa_result *res);

/* The whole ensemble on N samples in slices of p->batch_size (skipping done samples), then
 * ti_aa_result_summarize and the reference's Square warning. res must come from
 * ti_aa_result_new with the same p and N. */
ti_status ti_aa_run(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *p, const float *x,
                    const int *y, int N, float *x_adv, ti_aa_result *res);

#ifdef __cplusplus
}
#endif
#endif
