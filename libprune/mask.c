/* Masks by magnitude: exact top-k with a deterministic tie rule (docs/pruning.md#conventions),
 * its global form over many tensors (ATMC) and the l0-ball projection (ADMM's Z step).
 * Selection instead of sorting: ATMC projects after every optimizer step over millions of
 * weights, so the O(n) quickselect matters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "thinice/prune.h"

size_t ti_prune_keep_count(size_t n, double sparsity)
{
    if (sparsity <= 0)
        return n;
    if (sparsity >= 1)
        return 0;
    /* floor(s n) with a relative tolerance far below any real fractional part, so that
     * 0.9 * 10 gives 9 even when the product rounds to 8.999999999999998 */
    double z = floor(sparsity * (double)n * (1.0 + 1e-12));
    if (z > (double)n)
        z = (double)n;
    return n - (size_t)z;
}

/* The k-th largest value (1-based) of a[0..n) by quickselect; a is reordered. */
static float kth_largest(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1, want = k - 1; /* index in descending order */
    while (lo < hi) {
        float pivot = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot)
                i++;
            while (a[j] < pivot)
                j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            return a[want];
    }
    return a[want];
}

/* Over the concatenation of the tensors: threshold t = keep-th largest magnitude; entries
 * above t are kept; of the entries equal to t, the ones with the highest (tensor, index)
 * positions are kept until `keep` is reached (the lower index is pruned first). */
static void mask_by_threshold(const float *const *v, const size_t *n, int nt, size_t keep,
                              float t, float *const *masks)
{
    size_t above = 0;
    for (int k = 0; k < nt; k++)
        for (size_t i = 0; i < n[k]; i++)
            above += fabsf(v[k][i]) > t;
    size_t ties_to_keep = keep - above;
    for (int k = nt - 1; k >= 0; k--)
        for (size_t i = n[k]; i-- > 0;) {
            float a = fabsf(v[k][i]);
            int on = a > t;
            if (a == t && ties_to_keep > 0) {
                on = 1;
                ties_to_keep--;
            }
            masks[k][i] = on ? 1.0f : 0.0f;
        }
}

ti_status ti_prune_topk_mask_global(const float *const *v, const size_t *n, int ntensors,
                                    size_t keep, float *const *masks, float *scratch)
{
    size_t total = 0;
    for (int k = 0; k < ntensors; k++)
        total += n[k];
    if (keep >= total || keep == 0) {
        for (int k = 0; k < ntensors; k++)
            for (size_t i = 0; i < n[k]; i++)
                masks[k][i] = keep ? 1.0f : 0.0f;
        return TI_OK;
    }
    float *mag = scratch ? scratch : malloc(total * sizeof(float));
    if (!mag)
        return TI_ERR_NOMEM;
    size_t o = 0;
    for (int k = 0; k < ntensors; k++)
        for (size_t i = 0; i < n[k]; i++)
            mag[o++] = fabsf(v[k][i]);
    float t = kth_largest(mag, total, keep);
    if (mag != scratch)
        free(mag);
    mask_by_threshold(v, n, ntensors, keep, t, masks);
    return TI_OK;
}

ti_status ti_prune_topk_mask(const float *v, size_t n, size_t keep, float *mask, float *scratch)
{
    return ti_prune_topk_mask_global(&v, &n, 1, keep, &mask, scratch);
}

ti_status ti_prune_project_l0(const float *v, size_t n, size_t keep, float *out)
{
    float *mask = malloc((n ? n : 1) * sizeof(float));
    if (!mask)
        return TI_ERR_NOMEM;
    ti_status s = ti_prune_topk_mask(v, n, keep, mask, NULL);
    for (size_t i = 0; i < n && s == TI_OK; i++)
        out[i] = mask[i] != 0.0f ? v[i] : 0.0f;
    free(mask);
    return s;
}
