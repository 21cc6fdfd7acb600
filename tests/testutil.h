/* Shared helpers of the test suite: random data and the finite-difference gradient check. */
#ifndef THINICE_TESTUTIL_H
#define THINICE_TESTUTIL_H

#include <check.h>

#include "thinice/attack.h"
#include "thinice/eval.h"
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

/* Largest |a - b| / (|b| + 1) (INFINITY if any is NaN), so one tolerance fits values of any
 * size. */
double tu_reldiff(const float *a, const float *b, size_t n);

/* Asserts that the tape's error is `s` and that the context holds a non-empty message
 * containing `part`; then resets the tape for the next bad call. */
void tu_expect_tape_error(ti_tape *tape, ti_status s, const char *part);

/* ---- scratch directories for tests that write files ------------------------------------ */

/* Makes a fresh directory /tmp/thinice-<tag>-XXXXXX and writes its path into dir (size
 * bytes, enough for the path). */
void tu_tmpdir_make(char *dir, size_t size, const char *tag);

/* Deletes the files in dir (not subdirectories) and then dir itself; quiet if dir is gone. */
void tu_tmpdir_remove(const char *dir);

/* ---- a 2-class linear model whose minimal adversarial distance is known (FAB, FMN) ---- */

/* The dual of p: L-inf <-> L1, L2 <-> L2. */
ti_norm tu_dual_norm(ti_norm p);

/* Fills W (2, D) uniform in [-1, 1), x (D) in [0.35, 0.65) and b (2) so that x is classified
 * as *y with a margin of 0.05..0.25 (set through b[0]): far enough inside the box that it
 * never binds in L-inf, L2 or L1, so the minimal perturbation is exactly
 * tu_two_class_distance. label: the class x gets (0 or 1), or -1 for a random one. */
void tu_two_class(ti_rng *r, size_t D, int label, float *W, float *b, float *x, int *y);

/* The L-p distance from x (labelled y) to the model's boundary:
 * |(w_y - w_j).x + b_y - b_j| / ||w_y - w_j||_q with j = 1 - y and q the dual of p. */
double tu_two_class_distance(ti_norm p, size_t D, const float *W, const float *b,
                             const float *x, int y);

/* ---- the AutoAttack ensemble through the evaluation harness ----------------------------- */

/* Runs the ensemble of ap (its norm, eps and seed) on the N samples x, y through ti_eval_run,
 * `batch` samples at a time; x_adv may be NULL. Returns the run's status; *out (always made,
 * free with ti_eval_free) holds the records and *sum (may be NULL) their summary. */
ti_status tu_aa_run(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *ap,
                    const float *x, const int *y, int N, int batch, float *x_adv,
                    ti_eval **out, ti_eval_summary *sum);

#endif
