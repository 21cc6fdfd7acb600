/* The attacks' losses on logits and their gradients w.r.t. the logits: cross-entropy, the
 * Carlini-Wagner margin, DLR and targeted DLR (Croce & Hein, ICML 2020, eq. 3 and §3.3).
 * Definitions and the derivation of the DLR gradient: docs/attacks.md#losses. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"

static const char *const loss_names[TI_LOSS_COUNT] = {"ce", "margin", "dlr", "dlr-t", "ce-t"};
static const int loss_min_classes[TI_LOSS_COUNT] = {2, 2, 3, 4, 2};

const char *ti_loss_name(ti_loss l)
{
    return (unsigned)l < TI_LOSS_COUNT ? loss_names[l] : "?";
}

int ti_loss_min_classes(ti_loss l)
{
    return (unsigned)l < TI_LOSS_COUNT ? loss_min_classes[l] : 2;
}

/* The indices of the k largest logits, best first, lowest index first among equals. */
static void top_k(const float *z, int M, int k, int *idx)
{
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (int m = 0; m < M; m++) {
            int taken = 0;
            for (int q = 0; q < r; q++)
                taken |= idx[q] == m;
            if (!taken && (best < 0 || z[m] > z[best]))
                best = m;
        }
        idx[r] = best;
    }
}

/* argmax over j != y with the tie rule */
static int argmax_other(const float *z, int M, int y)
{
    int best = -1;
    for (int m = 0; m < M; m++)
        if (m != y && (best < 0 || z[m] > z[best]))
            best = m;
    return best;
}

void ti_logits_order(const float *z, int M, int *order)
{
    /* insertion sort of the indices, stable: equal logits keep increasing index order */
    for (int m = 0; m < M; m++) {
        int j = m;
        while (j > 0 && z[order[j - 1]] < z[m]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = m;
    }
}

float ti_loss_ce(const float *z, int M, int y, float *dz)
{
    double mx = z[0];
    for (int m = 1; m < M; m++)
        mx = z[m] > mx ? z[m] : mx;
    double s = 0;
    for (int m = 0; m < M; m++)
        s += exp((double)z[m] - mx);
    if (dz)
        for (int m = 0; m < M; m++)
            dz[m] = (float)(exp((double)z[m] - mx) / s - (m == y));
    return (float)(mx + log(s) - z[y]);
}

float ti_loss_margin(const float *z, int M, int y, float *dz)
{
    int j = argmax_other(z, M, y);
    if (dz) {
        memset(dz, 0, (size_t)M * sizeof *dz);
        dz[y] = 1.0f;
        dz[j] = -1.0f;
    }
    return (float)((double)z[y] - z[j]);
}

float ti_loss_dlr(const float *z, int M, int y, float *dz)
{
    assert(M >= 3);
    int p[3], j = argmax_other(z, M, y);
    top_k(z, M, 3, p);
    double num = (double)z[y] - z[j];
    double den = (double)z[p[0]] - z[p[2]] + 1e-12;
    if (dz) {
        /* d(-num/den) = -dnum/den + num*dden/den^2 with dnum = e_y - e_j and
         * dden = e_p1 - e_p3; indices may coincide, so the contributions add up */
        double a = 1.0 / den, b = num / (den * den);
        memset(dz, 0, (size_t)M * sizeof *dz);
        dz[y] -= (float)a;
        dz[j] += (float)a;
        dz[p[0]] += (float)b;
        dz[p[2]] -= (float)b;
    }
    return (float)(-num / den);
}

float ti_loss_dlr_targeted(const float *z, int M, int y, int t, float *dz)
{
    assert(M >= 4);
    int p[4];
    top_k(z, M, 4, p);
    double num = (double)z[y] - z[t];
    double den = (double)z[p[0]] - 0.5 * ((double)z[p[2]] + z[p[3]]) + 1e-12;
    if (dz) {
        /* numerator gradient e_y - e_t, denominator gradient e_p1 - e_p3/2 - e_p4/2 */
        double a = 1.0 / den, b = num / (den * den);
        memset(dz, 0, (size_t)M * sizeof *dz);
        dz[y] -= (float)a;
        dz[t] += (float)a;
        dz[p[0]] += (float)b;
        dz[p[2]] -= (float)(0.5 * b);
        dz[p[3]] -= (float)(0.5 * b);
    }
    return (float)(-num / den);
}

float ti_loss_eval(ti_loss l, const float *z, int M, int y, int t, float *dz)
{
    switch (l) {
    case TI_LOSS_CE: return ti_loss_ce(z, M, y, dz);
    case TI_LOSS_MARGIN: return ti_loss_margin(z, M, y, dz);
    case TI_LOSS_DLR: return ti_loss_dlr(z, M, y, dz);
    case TI_LOSS_DLR_T: return ti_loss_dlr_targeted(z, M, y, t, dz);
    case TI_LOSS_CE_T: {
        float v = ti_loss_ce(z, M, t, dz);
        if (dz)
            for (int m = 0; m < M; m++)
                dz[m] = -dz[m];
        return -v;
    }
    default: assert(0 && "unknown loss"); return 0.0f;
    }
}
