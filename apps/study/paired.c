/* report.md's comparison of each pruned model with its dense parent under AutoAttack, sample
 * by sample: both were attacked on the same first attack.count test images, so the drop in
 * robust accuracy is a paired difference, with Newcombe's interval and the exact McNemar
 * test on the samples only one of the two keeps (libstats paired.c). Read from the
 * evaluations' state files, which hold every sample's record. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "report.h"
#include "thinice/eval.h"
#include "thinice/stats.h"
#include "thinice/study.h"

/* The AutoAttack evaluation of model m, read back from its state file. */
static ti_status read_aa(study *st, const study_model *m, ti_eval **out)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/samples/%s-autoattack.state", st->out, m->tag);
    return ti_eval_state_read(st->ctx, path, out);
}

static int robust(const ti_eval_sample *r)
{
    return r->done && r->attack == TI_EVAL_ROBUST;
}

/* One row: the discordant pairs b (dense robust only) and c (pruned robust only). */
static ti_status row(study *st, FILE *f, const study_model *dense, const study_model *pruned)
{
    ti_eval *d = NULL, *p = NULL;
    ti_status s = read_aa(st, dense, &d);
    if (s == TI_OK)
        s = read_aa(st, pruned, &p);
    if (s == TI_OK && (d->N != p->N || d->first != p->first))
        s = ti_ctx_error(st->ctx, TI_ERR_STATE, "%s and %s were attacked on other samples",
                         dense->tag, pruned->tag);
    size_t n11 = 0, b = 0, c = 0, n00 = 0;
    for (int i = 0; s == TI_OK && i < d->N; i++) {
        int rd = robust(&d->samples[i]), rp = robust(&p->samples[i]);
        n11 += rd && rp;
        b += rd && !rp;
        c += !rd && rp;
        n00 += !rd && !rp;
    }
    ti_stats_paired_ci ci;
    ti_stats_mcnemar mc;
    char pv[32];
    if (s == TI_OK && ti_stats_paired_diff_ci(n11, b, c, n00, 0.95, &ci, NULL) == TI_STATS_OK &&
        ti_stats_mcnemar_exact(b, c, &mc, NULL) == TI_STATS_OK) {
        ti_study_format_p(mc.log10_p, pv, sizeof pv);
        double n = (double)(n11 + b + c + n00);
        fprintf(f, "| %s | %.2f | %.2f | %.2f [%.2f, %.2f] | %zu | %zu | %s | %s |\n",
                pruned->tag, 100 * (n11 + b) / n, 100 * (n11 + c) / n, 100 * ci.diff,
                100 * ci.lo, 100 * ci.hi, b, c, pv,
                ci.lo > 0 || ci.hi < 0 ? "yes" : "no: the interval holds 0");
    }
    ti_eval_free(d);
    ti_eval_free(p);
    return s;
}

ti_status study_paired_section(study *st, FILE *f, const study_net *nets, int n)
{
    fprintf(f, "## AutoAttack: each pruned model against its dense parent\n\n"
               "Both attacked on the same %d test images: the drop is a paired difference "
               "(Newcombe's 95%% interval), tested with the exact McNemar test on the images "
               "only one of the two keeps robust. With a few hundred images a drop of a few "
               "points is often within the noise: the last column says whether this one "
               "is.\n\n| pruned model | dense robust %% | pruned robust %% | drop (pp) [95%% CI] "
               "| robust for dense only | robust for pruned only | McNemar p | significant |\n"
               "|---|---:|---:|---:|---:|---:|---:|---|\n",
            nets[0].dense.aa_n);
    ti_status s = TI_OK;
    for (int k = 0; k < n && s == TI_OK; k++)
        for (int i = 0; i < nets[k].np && s == TI_OK; i++)
            s = row(st, f, &nets[k].dense, &nets[k].pruned[i]);
    fprintf(f, "\n");
    return s;
}
