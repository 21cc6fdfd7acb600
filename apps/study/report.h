/* thinice-study's outputs: Tables 1 and 2 (markdown and CSV), Figure 2 (PNG and SVG) and
 * report.md, from the models and per-sample results of the steps. */
#ifndef THINICE_STUDY_REPORT_H
#define THINICE_STUDY_REPORT_H

#include "steps.h"

/* One pruned model with its dense parent's per-sample results. */
typedef struct study_entry {
    const study_model *dense, *pruned;
    const study_samples *dense_s, *pruned_s;
} study_entry;

/* Writes table1.{md,csv}, table2.{md,csv}, figure2.{png,svg} and report.md into st->out.
 * `config_json` is the configuration as run. */
ti_status study_write_report(study *st, const study_model *dense, int ndense,
                             const study_entry *e, int n, const char *config_json);

#endif
