/* AttackBench's local optimality of a minimum-norm attack (Cina et al., "AttackBench:
 * Evaluating Gradient-based Attacks for Adversarial Examples", AAAI 2025; reference code
 * attackbench/AttackBench, analysis/utils.py eval_optimality): the area between the attack's
 * security curve and the envelope of all attacks of the run over [0, eps*], normalised by the
 * area between the clean accuracy and the envelope. The areas are exact integrals of the step
 * functions (the reference code uses trapezoids through the curve's points instead; the
 * difference is discussed in docs/stats.md). */
#include <math.h>

#include "internal.h"

ti_stats_status ti_stats_envelope(const double *const *dist, size_t nattacks, size_t n,
                                  double *best, ti_stats_err *err)
{
    if (!dist || !best)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "envelope: NULL argument");
    if (nattacks == 0)
        return ti_stats__fail(err, TI_STATS_ERR_EMPTY, "envelope: no attacks");
    for (size_t j = 0; j < nattacks; j++) {
        ti_stats_status s = ti_stats__check_distances(dist[j], n, "envelope", err);
        if (s)
            return s;
    }
    for (size_t i = 0; i < n; i++) {
        double m = dist[0][i];
        for (size_t j = 1; j < nattacks; j++)
            m = fmin(m, dist[j][i]);
        best[i] = m;
    }
    return TI_STATS_OK;
}

ti_stats_status ti_stats_attack_optimality(const double *dist, const double *best, size_t n,
                                           ti_stats_optimality *out, ti_stats_err *err)
{
    if (!out)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "attack_optimality: NULL argument");
    ti_stats_status s = ti_stats__check_distances(dist, n, "attack_optimality", err);
    if (!s)
        s = ti_stats__check_distances(best, n, "attack_optimality (envelope)", err);
    if (s)
        return s;
    /* eps*: where the envelope's curve reaches its floor */
    double emax = 0.0;
    size_t broken0 = 0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(best[i]))
            emax = fmax(emax, best[i]);
        broken0 += best[i] == 0.0;
    }
    /* A - A* and c eps* - A* (the area between the clean accuracy and the envelope: the most
     * an attack can lose, as one that breaks nothing has A = c eps*) as sums of per-sample
     * non-negative terms, so that a "room" of zero is exactly zero */
    double gap = 0.0, room = 0.0;
    for (size_t i = 0; i < n; i++) {
        double bi = fmin(best[i], emax);
        gap += fmin(dist[i], emax) - bi;
        room += best[i] > 0.0 ? emax - bi : 0.0;
    }
    double N = (double)n;
    *out = (ti_stats_optimality){.eps_max = emax, .clean_acc = (double)(n - broken0) / N,
                                 .area = ti_stats__mean_clipped(dist, n, emax),
                                 .area_best = ti_stats__mean_clipped(best, n, emax),
                                 .optimality = room > 0 ? 1.0 - gap / room : NAN};
    return TI_STATS_OK;
}
