/* Shared helpers of the test suite: random data and the finite-difference gradient check. */
#ifndef THINICE_TESTUTIL_H
#define THINICE_TESTUTIL_H

#include <check.h>

#include "thinice/ops.h"
#include "thinice/tensor.h"

/* Fills a with uniform values in [lo, hi) from r. */
void tu_fill(ti_rng *r, float *a, size_t n, float lo, float hi);

/* Builds the op under test on `tape` from the given leaf inputs; returns its output. */
typedef ti_tensor *(*tu_build_fn)(ti_tape *tape, ti_tensor **in, void *user);

/* Gradient check: loss = sum(R * build(in)) with a fixed random R. The analytic gradient of
 * every input with requires_grad (from ti_tape_backward_seed) is compared with central
 * differences of step h computed in double over the float forward. Returns the largest
 * error relative to max(|numeric|, |analytic|, floor) over all checked entries; `floor`
 * keeps near-zero gradients from dominating. Inputs must be ti_tensor_new leaves. */
double tu_gradcheck(tu_build_fn build, ti_tensor **in, int nin, void *user, double h,
                    double floor);

/* Largest absolute difference of two arrays. */
double tu_maxdiff(const float *a, const float *b, size_t n);

#endif
