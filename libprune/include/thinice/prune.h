/* libprune: masks, sparsity and the adversarial pruning methods of the thin-ice study
 * (HYDRA, ADMM, ATMC, magnitude pruning) with the adversarial training they build on.
 * This header holds the mask arithmetic every method shares (see ../shared/specs/pruning.md
 * sections 3.2, 4.3, 5.4 and 6). Sparsity s is the fraction of weights REMOVED; the fraction
 * kept is k = 1 - s. */
#ifndef THINICE_PRUNE_H
#define THINICE_PRUNE_H

#include <stddef.h>

#include "thinice/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of weights kept in a tensor of n weights at sparsity s: n - floor(s n), computed so
 * that decimal sparsities (0.9, 0.95) give the exact-rational answer (HYDRA's rule). */
size_t ti_prune_keep_count(size_t n, double sparsity);

/* The exact top-k mask by magnitude: mask[i] = 1 for the `keep` entries of largest |v|,
 * 0 elsewhere. Ties are broken deterministically: among equal magnitudes the LOWER index is
 * pruned first. O(n) expected (selection, not a full sort). scratch: NULL, or room for n
 * floats, reused by callers that mask at every step so that no step allocates.
 * TI_OK or TI_ERR_NOMEM. */
ti_status ti_prune_topk_mask(const float *v, size_t n, size_t keep, float *mask, float *scratch);

/* Global top-k over several tensors at once (ATMC's projection): v[t] has n[t] entries;
 * keeps the `keep` largest magnitudes over all of them (same tie rule, by tensor then
 * index) and writes masks[t]. */
ti_status ti_prune_topk_mask_global(const float *const *v, const size_t *n, int ntensors,
                                    size_t keep, float *const *masks, float *scratch);

/* Euclidean projection onto {u : ||u||_0 <= keep}: out = v on the top-k support, 0 elsewhere
 * (ADMM's Z step). out may alias v. */
ti_status ti_prune_project_l0(const float *v, size_t n, size_t keep, float *out);

/* Per-layer report over a model's conv and linear weights. */
typedef struct ti_prune_layer {
    const char *name; /* the weight's state_dict name (borrowed from the model) */
    size_t n;         /* weights */
    size_t zeros;     /* exact zeros */
} ti_prune_layer;

/* Fills up to `cap` layers (returns how many weights layers the model has). Global sparsity
 * = sum zeros / sum n; HYDRA's figure = mean over layers of zeros/n. */
int ti_prune_layers(ti_model *m, ti_prune_layer *out, int cap);
double ti_prune_layer_mean_sparsity(const ti_prune_layer *l, int nl);

#ifdef __cplusplus
}
#endif
#endif
