/* thinice-study's outputs: Tables 1 and 2 (markdown and CSV), Figure 2 and the security
 * curves (PNG and SVG, CSV), each model's per-sample distances, and report.md, from the
 * models and per-sample results of the steps. */
#ifndef THINICE_STUDY_REPORT_H
#define THINICE_STUDY_REPORT_H

#include "steps.h"

/* The per-sample results of a network's models. */
typedef struct study_net_samples {
    study_samples dense;
    study_samples pruned[STUDY_MAX_PRUNED];
} study_net_samples;

/* One pruned model with its dense parent and their per-sample results. */
typedef struct study_entry {
    const study_model *dense, *pruned;
    const study_samples *dense_s, *pruned_s;
} study_entry;

/* Writes table1.{md,csv}, table2.{md,csv}, figure2.{png,svg}, the security curves and
 * report.md into st->out. `config_json` is the configuration as run. */
ti_status study_write_report(study *st, const study_net *nets, const study_net_samples *smp,
                             int n, const char *config_json);

/* ---- paired.c ---------------------------------------------------------------------------- */

/* report.md's table of AutoAttack's drop from each dense model to its pruned models, paired
 * per sample (read from the evaluations' state files). */
ti_status study_paired_section(study *st, FILE *f, const study_net *nets, int n);

/* ---- figures.c -------------------------------------------------------------------------- */

/* Writes len bytes to <out>/name atomically; rc != 0 or no data means the writer ran out of
 * memory. */
ti_status study_write_bytes(study *st, const char *name, const void *data, size_t len, int rc);
ti_status study_write_figure2(study *st, const study_entry *e, int n);
/* securitycurves-<network>.{png,svg,csv} and samples/<tag>-distances.csv of every model. */
ti_status study_write_curves(study *st, const study_net *net, const study_net_samples *smp);
/* A model's minimal adversarial distances for its security curve (nfmn values, malloc'd):
 * FMN's distance for correctly classified samples, 0 for misclassified ones. */
double *study_curve_distances(const study_samples *s);
/* The right end of the security curves: curves.eps_max, or 4 eps. */
double study_curve_eps_max(const study *st);

#endif
