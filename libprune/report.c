/* The pruning report as JSON (prune.h): a phase's record (also each phase checkpoint's
 * .json) and the whole run's report that thinice-prune writes: the method, the sparsity
 * reached per layer and overall, the accuracy after each phase, and every setting. */
#include "thinice/prune.h"

void ti_prune_phase_json(ti_jw *w, const ti_prune_phase *ph)
{
    ti_jw_key(w, "name");
    ti_jw_string(w, ph->name);
    ti_jw_key(w, "epochs");
    ti_jw_int(w, ph->epochs);
    ti_jw_key(w, "clean_accuracy");
    ti_jw_number(w, ph->clean_acc);
    ti_jw_key(w, "pgd_accuracy");
    ti_jw_number(w, ph->pgd_acc);
    ti_jw_key(w, "sparsity");
    ti_jw_number(w, ph->sparsity);
    ti_jw_key(w, "seconds");
    ti_jw_number(w, ph->seconds);
    ti_jw_key(w, "seconds_per_epoch");
    if (ph->epochs > 0 && !ph->resumed)
        ti_jw_number(w, ph->seconds / ph->epochs);
    else
        ti_jw_null(w);
    ti_jw_key(w, "last_loss");
    ti_jw_number(w, ph->last_loss);
    ti_jw_key(w, "resumed");
    ti_jw_bool(w, ph->resumed);
}

static void json_layers(ti_jw *w, const ti_prune_layer *layers, int nl)
{
    size_t zeros = 0, total = 0;
    for (int l = 0; l < nl; l++) {
        zeros += layers[l].zeros;
        total += layers[l].n;
    }
    ti_jw_key(w, "sparsity");
    ti_jw_number(w, total ? (double)zeros / total : 0);
    ti_jw_key(w, "sparsity_layer_mean");
    ti_jw_number(w, ti_prune_layer_mean_sparsity(layers, nl));
    ti_jw_key(w, "weights_total");
    ti_jw_int(w, (long long)total);
    ti_jw_key(w, "weights_zero");
    ti_jw_int(w, (long long)zeros);
    ti_jw_key(w, "layers");
    ti_jw_begin_array(w);
    for (int l = 0; l < nl; l++) {
        ti_jw_begin_object(w);
        ti_jw_key(w, "name");
        ti_jw_string(w, layers[l].name);
        ti_jw_key(w, "n");
        ti_jw_int(w, (long long)layers[l].n);
        ti_jw_key(w, "zeros");
        ti_jw_int(w, (long long)layers[l].zeros);
        ti_jw_key(w, "sparsity");
        ti_jw_number(w, layers[l].n ? (double)layers[l].zeros / layers[l].n : 0);
        ti_jw_end_object(w);
    }
    ti_jw_end_array(w);
}

static void json_adv(ti_jw *w, const ti_adv_params *a)
{
    ti_jw_key(w, "loss");
    ti_jw_string(w, ti_adv_kind_name(a->kind));
    ti_jw_key(w, "eps");
    ti_jw_float(w, a->eps);
    ti_jw_key(w, "step");
    ti_jw_float(w, a->step);
    ti_jw_key(w, "steps");
    ti_jw_int(w, a->steps);
    ti_jw_key(w, "random_start");
    ti_jw_bool(w, a->random_start);
    ti_jw_key(w, "trades_beta");
    ti_jw_float(w, a->beta);
    ti_jw_key(w, "mixed_clean_weight");
    ti_jw_float(w, a->clean_weight);
}

static void json_params(ti_jw *w, const ti_prune_params *p)
{
    ti_jw_key(w, "params");
    ti_jw_begin_object(w);
    ti_jw_key(w, "eval_count");
    ti_jw_int(w, p->eval_count);
    ti_jw_key(w, "eval_pgd_steps");
    ti_jw_int(w, p->eval_steps);
    ti_jw_key(w, "global");
    ti_jw_bool(w, p->global);
    json_adv(w, &p->adv);
    ti_jw_key(w, "epochs_prune");
    ti_jw_int(w, p->epochs_prune);
    ti_jw_key(w, "epochs_finetune");
    ti_jw_int(w, p->epochs_finetune);
    ti_jw_key(w, "lr_prune");
    ti_jw_float(w, p->lr_prune);
    ti_jw_key(w, "lr_finetune");
    ti_jw_float(w, p->lr_finetune);
    ti_jw_key(w, "momentum");
    ti_jw_float(w, p->momentum);
    ti_jw_key(w, "weight_decay");
    ti_jw_float(w, p->weight_decay);
    if (p->method == TI_PRUNE_ADMM) {
        ti_jw_key(w, "admm_period");
        ti_jw_int(w, p->admm_period);
        ti_jw_key(w, "admm_rho");
        ti_jw_float(w, p->admm_rho);
        ti_jw_key(w, "admm_rho_mult");
        ti_jw_float(w, p->admm_rho_mult);
    }
    ti_jw_key(w, "batch_size");
    ti_jw_int(w, p->batch);
    ti_jw_key(w, "seed");
    ti_jw_int(w, (long long)p->seed);
    ti_jw_end_object(w);
}

static void json_phase(ti_jw *w, const ti_prune_phase *ph)
{
    ti_jw_begin_object(w);
    ti_prune_phase_json(w, ph);
    ti_jw_end_object(w);
}

void ti_prune_report_json(ti_jw *w, const ti_prune_params *p, const ti_prune_report *rep,
                          const ti_prune_layer *layers, int nl)
{
    ti_jw_key(w, "method");
    ti_jw_string(w, ti_prune_method_name(p->method));
    ti_jw_key(w, "sparsity_target");
    ti_jw_number(w, p->sparsity);
    json_layers(w, layers, nl);
    /* the final model's accuracy first; every phase's follows under "phases" */
    const ti_prune_phase *last = rep->nphases ? &rep->phases[rep->nphases - 1] : &rep->start;
    ti_jw_key(w, "clean_accuracy");
    ti_jw_number(w, last->clean_acc);
    ti_jw_key(w, "pgd_accuracy");
    ti_jw_number(w, last->pgd_acc);
    ti_jw_key(w, "start");
    json_phase(w, &rep->start);
    ti_jw_key(w, "phases");
    ti_jw_begin_array(w);
    for (int i = 0; i < rep->nphases; i++)
        json_phase(w, &rep->phases[i]);
    ti_jw_end_array(w);
    json_params(w, p);
}
