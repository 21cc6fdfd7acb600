/* AutoAttack (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble
 * of diverse parameter-free attacks", ICML 2020): clean accuracy first, then each attack of
 * a list in order, each on the points still robust and each starting from the clean x; a
 * point is non-robust if any attack fooled it. Versions "standard" (APGD-CE, APGD-T,
 * FAB-T, Square) and "plus" (APGD-CE, APGD-DLR, FAB, Square, APGD-T, FAB-T with restarts),
 * or a custom list. docs/attacks.md#autoattack.
 *
 * This header holds the attack names and the ensemble's settings; the ensemble runs through
 * the evaluation harness (eval.h: ti_eval_params_init with the version, then ti_eval_run),
 * which processes the samples batch by batch, keys every random stream on the global sample
 * index (so results do not depend on the batch size) and resumes from a state file. */
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
    char version[16]; /* "standard", "plus" or "custom" (informative) */
    int n_attacks;
    ti_aa_attack attacks[TI_AA_MAX_ATTACKS]; /* in order */
    /* the settings of each attack; norm, eps and seed are overwritten from the fields above
     * when the ensemble runs */
    ti_apgd_params apgd_ce, apgd_dlr, apgd_t;
    ti_fab_params fab, fab_t;
    ti_square_params square;
} ti_aa_params;

/* "standard" at L-inf, eps 8/255, seed 0. */
ti_aa_params ti_aa_params_default(void);

/* Parameters of a version: "standard", "plus", or a comma-separated list of attack names
 * (each with standard's settings, apgd-dlr and fab with 1 restart); the settings are in
 * docs/attacks.md#autoattack. APGD runs with stop_on_success = 1 (same robust accuracy as the reference,
 * faster; docs/attacks.md). Errors: TI_ERR_ARG for an unknown name or a too long list. */
ti_status ti_aa_params_version(ti_ctx *ctx, const char *version, ti_norm norm, float eps,
                               ti_aa_params *out);

#ifdef __cplusplus
}
#endif
#endif
