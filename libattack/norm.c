/* Norms of perturbations: the one place that defines L-inf, L2, L1 and L0 for libattack. */
#include <math.h>
#include <string.h>

#include "thinice/attack.h"

static const char *const norm_names[TI_NORM_COUNT] = {"linf", "l2", "l1", "l0"};

const char *ti_norm_name(ti_norm p)
{
    return (unsigned)p < TI_NORM_COUNT ? norm_names[p] : "?";
}

ti_status ti_norm_parse(const char *s, ti_norm *out)
{
    for (int i = 0; i < TI_NORM_COUNT; i++)
        if (strcmp(s, norm_names[i]) == 0) {
            *out = (ti_norm)i;
            return TI_OK;
        }
    if (strcmp(s, "inf") == 0 || strcmp(s, "Linf") == 0) {
        *out = TI_NORM_LINF;
        return TI_OK;
    }
    return TI_ERR_ARG;
}

double ti_norm_of(ti_norm p, const float *v, size_t n)
{
    double r = 0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs((double)v[i]);
        switch (p) {
        case TI_NORM_LINF: r = a > r ? a : r; break;
        case TI_NORM_L2: r += a * a; break;
        case TI_NORM_L1: r += a; break;
        default: r += a != 0.0; break;
        }
    }
    return p == TI_NORM_L2 ? sqrt(r) : r;
}

double ti_norm_dist(ti_norm p, const float *a, const float *b, size_t n)
{
    double r = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        switch (p) {
        case TI_NORM_LINF: r = d > r ? d : r; break;
        case TI_NORM_L2: r += d * d; break;
        case TI_NORM_L1: r += d; break;
        default: r += d != 0.0; break;
        }
    }
    return p == TI_NORM_L2 ? sqrt(r) : r;
}
