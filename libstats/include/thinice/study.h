/* The thin-ice analysis on plain arrays (Piras et al. 2023, section 4): each test sample's
 * population by the correctness of the dense (d) and pruned (p) models, the separability of
 * the dense model's boundary distance epsilon between populations (AUC and Mann-Whitney U),
 * and the paper's Tables 1 and 2 as markdown and CSV text. Like the rest of libstats it needs
 * only libm. */
#ifndef THINICE_STUDY_H
#define THINICE_STUDY_H

#include "thinice/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Populations named by (dense right, pruned right); the index is 2 d + p. */
typedef enum ti_population {
    TI_POP_00 = 0, /* both wrong */
    TI_POP_01,     /* dense wrong, pruned right */
    TI_POP_10,     /* dense right, pruned wrong: the samples pruning broke */
    TI_POP_11,     /* both right */
    TI_POP_COUNT
} ti_population;

const char *ti_population_name(ti_population p); /* "00", "01", "10", "11" */
const char *ti_population_label(ti_population p); /* "10 (dense right, pruned wrong)" ... */

/* One separability test: AUC = P(eps_a < eps_b) + P(eps_a = eps_b) / 2 for a random sample a
 * of the first population and b of the second, and the two-sided Mann-Whitney U p-value
 * (with log10 p, finite however small). NaN when a population is empty. */
typedef struct ti_study_sep {
    size_t n_a, n_b;
    double auc, auc_lo, auc_hi; /* with the DeLong 95% interval */
    double p, log10_p;
} ti_study_sep;

/* Table 2's row for one pruned model. */
typedef struct ti_study_row2 {
    size_t n;                     /* samples */
    size_t count[TI_POP_COUNT];
    double pct[TI_POP_COUNT];     /* percentages of n */
    ti_study_sep sep_10_11;       /* dense right: do the broken samples sit closer? */
    ti_study_sep sep_01_00;       /* dense wrong: do the fixed samples sit closer? */
} ti_study_row2;

/* Table 2's row from per-sample correctness of the dense and pruned models (0/1) and the
 * dense model's boundary distance eps (finite or +inf; NaN is an error). */
ti_stats_status ti_study_table2_row(const int *dense_right, const int *pruned_right,
                                    const double *eps, size_t n, ti_study_row2 *row,
                                    ti_stats_err *err);

/* Table 1's row for one pruned model: accuracy and robustness as reported (by the method's own
 * evaluation, by the model's authors, or by thinice's PGD when nobody reported anything) and
 * under AutoAttack, with its uncertainty and the model's distances to the boundary. Fields
 * that are unknown are NaN and print as n/a. */
typedef struct ti_study_row1 {
    char method[32], network[32];
    double sparsity;              /* the target (nominal) */
    double sparsity_measured;     /* zeros among the conv and linear weights */
    char reported_by[48];         /* who reported clean and robust, e.g. "PGD-10 (thinice)" */
    double clean, pgd;            /* reported clean and robust accuracy, fractions in [0,1] */
    double aa_clean, aa;          /* AutoAttack's clean and robust accuracy */
    size_t n;                     /* samples AutoAttack evaluated */
    double aa_lo, aa_hi;          /* the Clopper-Pearson 95% interval of aa */
    double drop_lo, drop_hi;      /* 95% interval of the drop pgd - aa: pgd taken as a fixed
                                   * value (often a number from a paper, without per-sample
                                   * results), pgd minus aa's interval */
    double drop_log10_p;          /* log10 p of the exact binomial test "aa below pgd"
                                   * (ti_stats_binom_test_less) */
    double fmn_median;            /* median minimal adversarial distance (FMN) */
    double curve_auc;             /* normalised area under the security curve, [0, eps_max] */
} ti_study_row1;

/* A row with every optional field NaN (to fill the known ones). */
ti_study_row1 ti_study_row1_empty(void);

/* The tables as text (malloc'd, free with free()); names[i] labels rows2[i]. NULL if memory
 * ran out. Percentages with two decimals, p-values in scientific notation (from log10 p,
 * so 1e-248 prints as such). */
char *ti_study_table1_md(const ti_study_row1 *rows, int n);
char *ti_study_table1_csv(const ti_study_row1 *rows, int n);
char *ti_study_table2_md(const char *const *names, const ti_study_row2 *rows, int n);
char *ti_study_table2_csv(const char *const *names, const ti_study_row2 *rows, int n);
/* Formats a p-value given by its log10 as "2.1e-248" (or "1" / "n/a"). */
void ti_study_format_p(double log10_p, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
