/* What libattack's own files share: per-sample random streams, projections onto the threat
 * set, the batched loss-and-gradient evaluation, call counting, and the internal entry points
 * the AutoAttack ensemble uses (they take global sample ids so that every sample's random
 * stream, hence its result, does not depend on the batch it is processed in). Not installed. */
#ifndef THINICE_ATTACK_INTERNAL_H
#define THINICE_ATTACK_INTERNAL_H

#include <stdio.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>

#include "thinice/attack.h"
#include "thinice/losses.h"
#include "thinice/apgd.h"
#include "thinice/audit.h"
#include "thinice/eval.h"
#include "thinice/fab.h"
#include "thinice/fmn.h"
#include "thinice/pgd.h"
#include "thinice/square.h"

/* Salts that keep the random streams of different attacks (and restarts, targets) apart. */
enum {
    TI__SALT_FGSM = 1,
    TI__SALT_PGD = 2,
    TI__SALT_APGD = 3,
    TI__SALT_APGD_T = 4,
    TI__SALT_SQUARE = 5,
    TI__SALT_FAB = 6,
    TI__SALT_AUDIT = 7,
};

/* Extras of a call made by the ensemble (all fields optional; a zeroed struct, or NULL,
 * gives the public behaviour). */
typedef struct ti__atk_io {
    const uint64_t *ids;   /* (N) key of each sample's random stream; NULL: its position */
    long *fwd, *bwd;       /* (N) per-sample counters of forward / backward passes, added to */
    unsigned char *fooled; /* (N) out: 1 where the attack's own success test passed */
    float *trace;          /* (N, n_iter) out, APGD only: the loss after each iteration of
                            * the first run, per sample (0 after a point left the batch with
                            * stop_on_success; rows of points it did not attack are left
                            * alone); read by the audit's probe (audit_probe.c) */
} ti__atk_io;

static inline uint64_t ti__atk_id(const ti__atk_io *io, int i)
{
    return io && io->ids ? io->ids[i] : (uint64_t)i;
}

/* The stream of sample `id` for purpose `salt` (attack, restart, target) under `seed`. */
void ti__atk_stream(ti_rng *r, uint64_t seed, uint64_t id, uint64_t salt);
static inline uint64_t ti__salt(int attack, int rank, int restart)
{
    return ((uint64_t)attack << 40) | ((uint64_t)(unsigned)rank << 20) | (uint64_t)(unsigned)restart;
}

static inline float ti__clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}
static inline float ti__signf(float v)
{
    return (float)((v > 0.0f) - (v < 0.0f)); /* sign(0) = 0, as the references */
}

/* x + d as a float no further from x than |d| in exact arithmetic: fl(x + d) may round half
 * an ulp beyond x + d, and a point at the edge of the eps ball must pass the ensemble's
 * check ||x_adv - x|| <= eps, which is exact (counted as AutoAttack counts FAB's successes).
 * One step back towards x always suffices (the exact sum lies between the two floats). */
static inline float ti__within(float x, float d)
{
    float v = x + d;
    double dv = (double)v - (double)x;
    return (dv > 0 ? dv : -dv) > (d > 0 ? (double)d : -(double)d) ? nextafterf(v, x) : v;
}

/* The threat-set projections (projection.c, beside the L1 one of projection.h).
 * Pulls xa (D) straight towards x until ||xa - x||_2 <= eps holds exactly (the same rounding
 * issue at L2: scaling delta to norm eps and adding it to x can end a hair outside). Usually
 * one pass that measures and changes nothing. */
void ti__fit_l2(float *xa, const float *x, float eps, size_t D);

/* Projection of one sample xa (D) onto {||xa - x||_inf <= eps} ∩ [0,1]^D (exact, also in
 * float: every coordinate ends within eps of x by ti__within). */
void ti__proj_linf(float *xa, const float *x, float eps, size_t D);
/* The same set as per-coordinate bounds, lo = clip01(ti__within(x, -eps)) and
 * hi = clip01(ti__within(x, eps)), so that the projection is one clamp per coordinate,
 * bit for bit ti__proj_linf's result (clamping to [lo', hi'] and then to [0, 1] is clamping
 * to their intersection, which holds x). For attacks that project around the same x for
 * many iterations: the bounds cost one pass, the clamp a fraction of ti__within's. */
void ti__linf_bounds(float *lo, float *hi, const float *x, float eps, size_t D);
/* AutoAttack's L2 "projection": scale xa - x to norm min(eps, ||xa - x||_2), then clip to
 * [0,1] (not the exact projection onto ball ∩ box; docs/attacks.md#conventions), then
 * ti__fit_l2. */
void ti__proj_l2(float *xa, const float *x, float eps, size_t D);

/* xa = Proj(xs + step * dir(g)) with dir = sign (L-inf) or g/||g||_2 (L2), Proj onto the
 * eps threat set around x. A negative step descends (used for the margin, which attacks
 * minimise). */
void ti__ascent_step(ti_norm norm, float *xa, const float *xs, const float *x, const float *g,
                     float step, float eps, size_t D);

/* A random start in the ball around x (D): L-inf uniform per coordinate, L2 uniform in the
 * ball (Gaussian direction, radius eps*u^(1/D)); then clipped to [0,1]. */
void ti__random_start(ti_rng *r, ti_norm norm, const float *x, float eps, size_t D, float *out);

/* One batched evaluation on n samples xb (n, D): logits (n, M), the loss of each row (lossv,
 * may be NULL), the predictions (pred, may be NULL) and, if grad is not NULL, the input
 * gradient of each row's loss (dl (n, M) is scratch for d loss / d logits). t (targets) is
 * read only by the targeted losses. Without grad: one forward. With grad: f->grad (one
 * forward and one backward, dl unused) if the classifier has it, else forward + vjp. */
ti_status ti__atk_eval(ti_ctx *ctx, const ti_classifier *f, ti_loss loss, const float *xb,
                       const int *y, const int *t, int n, float *logits, float *dl,
                       float *lossv, int *pred, float *grad);

/* Adds nf forward and nb backward passes to st and, through map (row -> sample index of
 * the call; NULL = identity), to the per-sample counters of io, for rows[0..n) (NULL =
 * 0..n-1). */
void ti__atk_count(ti_atk_stats *st, const ti__atk_io *io, const int *map, const int *rows,
                   int n, int nf, int nb);

/* The same for the rows first .. first + n - 1 of the call (a chunk of points). */
void ti__atk_count_range(ti_atk_stats *st, const ti__atk_io *io, int first, int n, int nf,
                         int nb);

/* Checks the arguments every attack shares; returns TI_OK or TI_ERR_ARG with a message
 * naming `who`. */
ti_status ti__atk_check_args(ti_ctx *ctx, const char *who, const ti_classifier *f,
                             const void *p, const float *x, const int *y, int N,
                             const float *x_adv, ti_norm norm, float eps);

/* APGD's work buffers for up to N points, allocated once per call and shared by
 * apgd.c (the single run, untargeted restarts) and apgd_targeted.c (the target loop).
 * Row r of every per-row buffer is the point map[r] of the call. */
typedef struct ti__apgd_ws {
    size_t D;
    int M, N, n_iter;
    float *xo, *xc, *xp, *xb, *xa; /* (N, D) clean x, current, previous, best-loss, last
                                      misclassified iterate */
    float *g, *gb, *xin, *gin;     /* (N, D) gradient, gradient at x_best, gathered batch */
    float *lo, *hi;                /* (N, D) L-inf: the threat set's bounds (ti__linf_bounds) */
    float *logits, *dl;            /* (N, M) */
    float *lossv, *eta, *lbest, *lckpt; /* (N) */
    float *hist;                   /* (N, n_iter) loss after each iteration */
    int *pred, *map, *yr, *tr, *rows, *yg, *tg; /* (N); yg, tg: gathered labels */
    unsigned char *fooled, *reduced, *robust; /* (N) */
    int *ckpt, n_ckpt;             /* checkpoint iterations (1-based) */
    /* L1 only (Croce & Hein 2021): per row, the coordinates a step moves and the sparsity of
     * the best point at the last checkpoint; scratch of the sparse step and the projection */
    int *l1k, *l1sp;               /* (N) */
    void *l1work;                  /* ti_proj_work_bytes(2 D) */
} ti__apgd_ws;

ti_status ti__apgd_ws_init(ti_ctx *ctx, ti__apgd_ws *w, int N, size_t D, int M, int n_iter);
void ti__apgd_ws_free(ti__apgd_ws *w);
/* Checks the parameters shared by APGD and APGD-T (norm, n_iter, restarts, rho). */
ti_status ti__apgd_check(ti_ctx *ctx, const char *who, const ti_apgd_params *p);
/* One APGD run (docs/attacks.md#the-schedule) on rows 0..m-1 of w, whose xo, yr (and tr for DLR_T), map are
 * filled; leaves fooled[r] and, where fooled, xa row r. trace: record row 0 in p's trace. */
ti_status ti__apgd_run(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                       ti_loss loss, ti__apgd_ws *w, int m, uint64_t salt,
                       const ti__atk_io *io, ti_atk_stats *st, int trace);

/* The attack after its checks (docs/attacks.md#restarts-and-apgd-t): x_adv = x, one clean
 * pass that marks the correctly classified points as robust, then n_restarts runs of loss
 * on the points still robust, once (nt = 0: untargeted) or once per target, the classes of
 * clean-logit rank 2..nt+1. A point fooled by a run keeps that run's x_adv and is not
 * attacked again. */
ti_status ti__apgd_restarts(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                            ti_loss loss, int nt, const float *x, const int *y, int N,
                            float *x_adv, ti_atk_stats *st, const ti__atk_io *io);

/* The ensemble's entry points (same as the public ones, plus io). */
ti_status ti__apgd(ti_ctx *ctx, const ti_classifier *f, const ti_apgd_params *p,
                   const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st,
                   const ti__atk_io *io);
ti_status ti__apgd_targeted(ti_ctx *ctx, const ti_classifier *f,
                            const ti_apgd_params *p, const float *x, const int *y,
                            int N, float *x_adv, ti_atk_stats *st, const ti__atk_io *io);
ti_status ti__square(ti_ctx *ctx, const ti_classifier *f, const ti_square_params *p,
                     const float *x, const int *y, int N, float *x_adv, ti_atk_stats *st,
                     const ti__atk_io *io);
ti_status ti__fab(ti_ctx *ctx, const ti_classifier *f, const ti_fab_params *p, const float *x,
                  const int *y, int N, float *x_adv, ti_atk_stats *st, const ti__atk_io *io);
ti_status ti__pgd(ti_ctx *ctx, const ti_classifier *f, const ti_pgd_params *p, const float *x,
                  const int *y, int N, float *x_adv, ti_atk_stats *st, const ti__atk_io *io);
ti_status ti__fmn(ti_ctx *ctx, const ti_classifier *f, const ti_fmn_params *p, const float *x,
                  const int *y, int N, float *x_adv, float *norms, float *eps_trace,
                  float *norm_trace, ti_atk_stats *st, const ti__atk_io *io);

/* ---- the evaluation harness (eval.c) and its batch runners ------------------------------ */

/* Progress of a run in "sample-attacks": each batch adds its samples once per attack of the
 * list as the attack finishes; reported as ti_ctx_progress(ctx, "eval", done, total). */
typedef struct ti__eval_tick {
    long done, total;
} ti__eval_tick;
ti_status ti__eval_tick_add(ti_ctx *ctx, ti__eval_tick *t, int n);

/* The CSV's header and sample i's row (ti_eval_write_csv), without the line ends: the
 * audit's CSV adds its columns after them. */
void ti__eval_csv_header(FILE *fp, const ti_eval *ev);
void ti__eval_csv_row(FILE *fp, const ti_eval *ev, int i);

/* A record after the clean pass: done, label, clean prediction (= adv_pred), ROBUST or
 * CLEAN_WRONG, one check forward, no norms, min_norm NAN, no attack passes. */
void ti__eval_record_clean(ti_eval_sample *rec, int label, int pred);

/* One batch of n gathered samples (x (n, D), y (n), ids (n): their global indices, the keys
 * of their random streams) through the AutoAttack ensemble (autoattack.c) or a single attack
 * (eval_batch.c): fills rec (n) and x_adv (n, D) (the example, or x), adds the wall time of
 * the clean pass and checks to secs[0] and of attack a to secs[1 + a]; the ensemble adds the
 * points its final check turned back to *check_failed. tick advances once per attack. */
/* The ensemble's checks of p against the classifier (norms, classes each attack needs) and
 * q = p with norm, eps and seed copied into every attack's settings and the target counts
 * clamped to M - 1 (with a warning). */
ti_status ti__aa_check(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *p,
                       ti_aa_params *q);
ti_status ti__aa_batch(ti_ctx *ctx, const ti_classifier *f, const ti_aa_params *p,
                       const float *x, const int *y, const uint64_t *ids, int n,
                       ti_eval_sample *rec, float *x_adv, double *secs, int *check_failed,
                       ti__eval_tick *tick);
ti_status ti__eval_single_batch(ti_ctx *ctx, const ti_classifier *f, const ti_eval_params *p,
                                const float *x, const int *y, const uint64_t *ids, int n,
                                ti_eval_sample *rec, float *x_adv, double *secs,
                                ti__eval_tick *tick);

/* ---- the audit (audit.c) and its parts ----------------------------------------------------- */

/* A set of samples the audit queries the classifier on: their positions in the evaluation,
 * their global indices (the keys of their random streams), inputs and labels. */
typedef struct ti__audit_set {
    int n;
    int *idx;       /* (n) */
    uint64_t *ids;  /* (n) */
    float *x;       /* (n, D) */
    int *y;         /* (n) */
} ti__audit_set;

/* The samples of s where keep[k] is non-zero, in order, into out (owned: ti__audit_set_free). */
ti_status ti__audit_subset(ti_ctx *ctx, const ti__audit_set *s, const unsigned char *keep,
                           size_t D, ti__audit_set *out);
void ti__audit_set_free(ti__audit_set *s);

/* Fills check c of a (run, triggered, counts, numbers, the message from fmt); a check that
 * fires is logged as a warning. ti__audit_skip records why a check did not run. */
void ti__audit_note(ti_ctx *ctx, ti_audit *a, ti_audit_check c, int triggered, int tested,
                    int flagged, double value, double threshold, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));
void ti__audit_skip(ti_audit *a, ti_audit_check c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records the outcome of per-sample check c on the evaluation's sample i. */
void ti__audit_mark(ti_audit *a, int i, ti_audit_check c, int fired);
/* ti__atk_eval on the set's n samples (or on xs instead of its inputs, when not NULL),
 * counting the passes in a. */
ti_status ti__audit_eval(ti_ctx *ctx, ti_audit *a, const ti_classifier *f, ti_loss loss,
                         const ti__audit_set *s, const float *xs, float *logits,
                         float *lossv, int *pred, float *grad);

/* 1 (and *s = TI_OK, the context's error cleared) if *s is the classifier's
 * TI_ERR_UNSUPPORTED: a gradient it cannot give, which the audit reports instead of failing. */
int ti__audit_no_gradient(ti_ctx *ctx, ti_status *s);

/* AutoAttack's checks (audit_checks.c) on the check set. */
ti_status ti__audit_aa_checks(ti_ctx *ctx, ti_audit *a, const ti_eval *ev,
                              const ti_classifier *f, const ti__audit_set *chk,
                              const ti_audit_params *p);
/* The indicators on the gradient and on noise (audit_indicators.c): unavailable gradients
 * on the check set, unstable predictions on the probe set. */
ti_status ti__audit_unavailable(ti_ctx *ctx, ti_audit *a, const ti_classifier *f,
                                const ti__audit_set *chk);
ti_status ti__audit_unstable(ti_ctx *ctx, ti_audit *a, const ti_eval *ev,
                             const ti_classifier *f, const ti__audit_set *pr,
                             const ti_audit_params *p);
/* The indicators that run an attack (audit_probe.c) on the probe set: silent success,
 * incomplete optimisation and transfer failure from the traced probe, and the
 * unconstrained attack. */
ti_status ti__audit_probe(ti_ctx *ctx, ti_audit *a, const ti_eval *ev, const ti_classifier *f,
                          const ti__audit_set *pr, const ti_audit_params *p);
ti_status ti__audit_unconstrained(ti_ctx *ctx, ti_audit *a, const ti_eval *ev,
                                  const ti_classifier *f, const ti__audit_set *pr,
                                  const ti_audit_params *p);

#endif
