/* thinice-attack: evaluates a checkpoint or an imported ONNX model (--model onnx:FILE) on
 * samples [offset, offset + count) of a data set with AutoAttack (standard, plus, a custom list), PGD, FGSM or FMN; prints clean and robust
 * accuracy, writes a per-sample CSV and a JSON summary, and can resume from a state file
 * written atomically after every batch. Thin: options, library calls, files. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_cli.h"
#include "app_model.h"
#include "thinice/autoattack.h"
#include "thinice/data.h"
#include "thinice/fileio.h"
#include "thinice/fmn.h"
#include "thinice/json.h"
#include "thinice/pgd.h"

/* What runs: the AutoAttack ensemble (also for one of its attacks alone), or one of the
 * attacks outside it. */
enum { MODE_AA = 0, MODE_PGD, MODE_FGSM, MODE_FMN };

typedef struct opts {
    int onnx; /* --model is an ONNX file (onnx:FILE or FILE.onnx), not a zoo architecture */
    const char *model, *weights, *data, *attack, *csv, *json, *resume, *split_name;
    ti_split split;
    int offset, count, threads, batch, fmn_steps, pgd_steps, quiet, progress;
    int eps_given;
    ti_norm norm;
    float eps;
    uint64_t seed;
    int mode;
} opts;

/* The outcome of one sample, whatever the attack (the state file holds these). attack: the
 * index in the list of the attack that fooled it, or TI_AA_ROBUST / TI_AA_CLEAN_WRONG. */
typedef struct rec {
    int done, label, clean_pred, adv_pred, attack;
    float linf, l2;
    long fwd, bwd;
    float min_norm; /* FMN: the smallest adversarial norm found (0 clean-wrong, inf none) */
} rec;

/* Everything a run has done so far: the records and the accumulated compute times. */
typedef struct run {
    int N, n_attacks;
    const char *names[TI_AA_MAX_ATTACKS];
    rec *r;
    double sec_clean, sec[TI_AA_MAX_ATTACKS];
    int check_failed;
} run;

static void usage(void)
{
    printf("Usage: %s --weights FILE --eps X [OPTION]...\n"
           "       %s --model onnx:FILE --eps X [OPTION]...\n"
           "Evaluate a checkpoint under attack: clean accuracy, robust accuracy after each\n"
           "attack, a per-sample CSV and a JSON summary; resumable.\n\n"
           "  --model NAME          architecture (default smallcnn; %s), or an ONNX\n"
           "                        model: onnx:FILE or a file name ending in .onnx\n"
           "  --weights FILE        the checkpoint (safetensors; not with an ONNX model)\n"
           "  --data PATH           data directory (default %s)\n"
           "  --test-split, --train-split  which split (default test)\n"
           "  --offset N            first sample (default 0)\n"
           "  --count N             samples (default: all from the offset)\n"
           "  --attack NAME         standard (default), plus, one of apgd-ce, apgd-dlr,\n"
           "                        apgd-t, fab, fab-t, square, pgd, fgsm, fmn, or a\n"
           "                        comma-separated list of the AutoAttack ones\n"
           "  --norm linf|l2|l1|l0  threat model (default linf; AutoAttack, PGD and FGSM:\n"
           "                        linf or l2; the APGD attacks also l1; FMN: all four)\n"
           "  --eps X               radius, e.g. 0.1 or 8/255 (required, except for fmn where\n"
           "                        it only sets the success radius)\n"
           "  --seed N              random seed (default 0)\n"
           "  --threads N           threads, 0 = all cores (default 0)\n"
           "  --batch-size N        samples per batch (default 250, AutoAttack's); results of\n"
           "                        FAB depend on it, keep it when resuming\n"
           "  --fmn-steps N         FMN iterations (default 1000, as the paper's study)\n"
           "  --pgd-steps N         PGD iterations, step eps/4 (default 20)\n"
           "  --csv FILE            per-sample results (written atomically)\n"
           "  --json FILE           summary (written atomically)\n"
           "  --resume FILE         state file: continue a run interrupted with the same\n"
           "                        arguments; written after every batch\n"
           "  --quiet               print only the final robust accuracy and errors\n"
           "  --no-progress         no progress line on stderr\n"
           "  --help                this text\n"
           "  --version             version\n\n"
           "Exit status: 0 success, 1 runtime failure (files, data, model), 2 bad usage.\n",
           app_prog, app_prog, app_model_names(), TI_DATA_DEFAULT_DIR);
}

enum { O_MODEL = 256, O_WEIGHTS, O_DATA, O_TEST, O_TRAIN, O_OFFSET, O_COUNT, O_ATTACK, O_NORM,
       O_EPS, O_SEED, O_THREADS, O_BATCH, O_FMN_STEPS, O_PGD_STEPS, O_CSV, O_JSON, O_RESUME,
       O_QUIET, O_NOPROG, O_HELP, O_VERSION };

/* Returns -1 to go on, else the exit code. */
static int parse(int argc, char **argv, opts *o)
{
    static const struct option lo[] = {
        {"model", required_argument, 0, O_MODEL}, {"weights", required_argument, 0, O_WEIGHTS},
        {"data", required_argument, 0, O_DATA}, {"test-split", no_argument, 0, O_TEST},
        {"train-split", no_argument, 0, O_TRAIN}, {"offset", required_argument, 0, O_OFFSET},
        {"count", required_argument, 0, O_COUNT}, {"attack", required_argument, 0, O_ATTACK},
        {"norm", required_argument, 0, O_NORM}, {"eps", required_argument, 0, O_EPS},
        {"seed", required_argument, 0, O_SEED}, {"threads", required_argument, 0, O_THREADS},
        {"batch-size", required_argument, 0, O_BATCH},
        {"fmn-steps", required_argument, 0, O_FMN_STEPS},
        {"pgd-steps", required_argument, 0, O_PGD_STEPS}, {"csv", required_argument, 0, O_CSV},
        {"json", required_argument, 0, O_JSON}, {"resume", required_argument, 0, O_RESUME},
        {"quiet", no_argument, 0, O_QUIET}, {"no-progress", no_argument, 0, O_NOPROG},
        {"help", no_argument, 0, O_HELP}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    opterr = 0;
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
        switch (c) {
        case O_MODEL: o->model = optarg; break;
        case O_WEIGHTS: o->weights = optarg; break;
        case O_DATA: o->data = optarg; break;
        case O_TEST: o->split = TI_SPLIT_TEST; o->split_name = "test"; break;
        case O_TRAIN: o->split = TI_SPLIT_TRAIN; o->split_name = "train"; break;
        case O_OFFSET: bad |= app_parse_int("--offset", optarg, 0, 1 << 30, &o->offset); break;
        case O_COUNT: bad |= app_parse_int("--count", optarg, 1, 1 << 30, &o->count); break;
        case O_ATTACK: o->attack = optarg; break;
        case O_NORM:
            if (ti_norm_parse(optarg, &o->norm) != TI_OK) {
                app_error("--norm: '%s' is not linf, l2, l1 or l0", optarg);
                bad = 1;
            }
            break;
        case O_EPS: bad |= app_parse_fraction("--eps", optarg, 1e6, &o->eps); o->eps_given = 1; break;
        case O_SEED: bad |= app_parse_u64("--seed", optarg, &o->seed); break;
        case O_THREADS: bad |= app_parse_int("--threads", optarg, 0, 1024, &o->threads); break;
        case O_BATCH: bad |= app_parse_int("--batch-size", optarg, 1, 65536, &o->batch); break;
        case O_FMN_STEPS:
            bad |= app_parse_int("--fmn-steps", optarg, 1, 1000000, &o->fmn_steps);
            break;
        case O_PGD_STEPS:
            bad |= app_parse_int("--pgd-steps", optarg, 1, 1000000, &o->pgd_steps);
            break;
        case O_CSV: o->csv = optarg; break;
        case O_JSON: o->json = optarg; break;
        case O_RESUME: o->resume = optarg; break;
        case O_QUIET: o->quiet = 1; break;
        case O_NOPROG: o->progress = 0; break;
        case O_HELP: usage(); return APP_EXIT_OK;
        case O_VERSION: app_print_version(); return APP_EXIT_OK;
        default: return app_getopt_error(c, argv);
        }
    }
    int rc = app_parse_done(bad, argc, argv);
    if (rc >= 0)
        return rc;
    o->onnx = ti_onnx_is_spec(o->model);
    if (o->onnx) {
        if (o->weights)
            return app_usage_error("--weights: an ONNX model (%s) carries its weights; give "
                                   "--model onnx:FILE alone", o->model);
        if (!ti_onnx_spec_path(o->model)[0])
            return app_usage_error("--model onnx: needs a file name (onnx:FILE)");
    } else {
        if (!app_model_known(o->model))
            return app_usage_error("--model: unknown architecture '%s' (one of %s, or "
                                   "onnx:FILE)", o->model, app_model_names());
        if (!o->weights)
            return app_usage_error("--weights FILE is required (a safetensors checkpoint)");
    }
    if (!strcmp(o->attack, "pgd"))
        o->mode = MODE_PGD;
    else if (!strcmp(o->attack, "fgsm"))
        o->mode = MODE_FGSM;
    else if (!strcmp(o->attack, "fmn"))
        o->mode = MODE_FMN;
    else {
        ti_aa_params ap;
        if (ti_aa_params_version(NULL, o->attack, TI_NORM_LINF, 0.1f, &ap) != TI_OK) {
            if (strstr(o->attack, "pgd") || strstr(o->attack, "fgsm") || strstr(o->attack, "fmn"))
                return app_usage_error("--attack: pgd, fgsm and fmn run alone, not in a list "
                                       "('%s')", o->attack);
            return app_usage_error("--attack: '%s' is not standard, plus, an attack (apgd-ce, "
                                   "apgd-dlr, apgd-t, fab, fab-t, square, pgd, fgsm, fmn) or a "
                                   "comma-separated list of the AutoAttack ones", o->attack);
        }
    }
    int l1_ok = o->mode == MODE_AA; /* L1-APGD: lists of the APGD attacks also take l1 */
    if (l1_ok) {
        ti_aa_params ap;
        ti_aa_params_version(NULL, o->attack, TI_NORM_LINF, 0.1f, &ap);
        for (int a = 0; a < ap.n_attacks; a++)
            l1_ok &= ti_aa_attack_has_norm(ap.attacks[a], TI_NORM_L1);
    }
    if (o->mode != MODE_FMN && o->norm != TI_NORM_LINF && o->norm != TI_NORM_L2 &&
        !(o->norm == TI_NORM_L1 && l1_ok))
        return app_usage_error("--norm %s: %s supports linf and l2 only (l1: apgd-ce, apgd-dlr, "
                               "apgd-t and lists of them; fmn supports all four)",
                               ti_norm_name(o->norm), o->attack);
    if (o->mode != MODE_FMN && !o->eps_given)
        return app_usage_error("--eps is required for --attack %s (e.g. 0.1 for "
                               "Fashion-MNIST, 8/255 for CIFAR-10)", o->attack);
    if (o->mode == MODE_FMN && !o->eps_given)
        o->eps = INFINITY;
    return -1;
}

/* ---- the configuration a state file must match ------------------------------------------ */

/* The file holding the weights: the checkpoint, or the ONNX file (weights included). */
static const char *weights_file(const opts *o)
{
    return o->onnx ? ti_onnx_spec_path(o->model) : o->weights;
}

/* FNV-1a of the checkpoint's (or ONNX file's) bytes: a state file is tied to the weights,
 * not only the name */
static ti_status file_hash(ti_ctx *ctx, const char *path, uint64_t *h)
{
    char *buf;
    size_t len;
    ti_status s = ti_read_file(ctx, path, &buf, &len);
    if (s != TI_OK)
        return s;
    uint64_t v = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        v = (v ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
    free(buf);
    *h = v;
    return TI_OK;
}

/* "key=value key=value ...": every argument that changes the per-sample results */
static void config_string(const opts *o, uint64_t wh, char *buf, size_t len)
{
    snprintf(buf, len,
             "model=%s weights_fnv=%016llx data=%s split=%s offset=%d count=%d attack=%s "
             "norm=%s eps=%.9g seed=%llu batch_size=%d fmn_steps=%d pgd_steps=%d",
             o->model, (unsigned long long)wh, o->data, o->split_name, o->offset, o->count,
             o->attack, ti_norm_name(o->norm), (double)o->eps, (unsigned long long)o->seed,
             o->batch, o->fmn_steps, o->pgd_steps);
}

/* The first key whose value differs between two config strings, for the refusal message. */
static void config_diff(const char *a, const char *b, char *out, size_t len)
{
    char ka[1024], kb[1024];
    snprintf(ka, sizeof ka, "%s", a);
    snprintf(kb, sizeof kb, "%s", b);
    char *sa, *sb, *ta = strtok_r(ka, " ", &sa), *tb = strtok_r(kb, " ", &sb);
    while (ta && tb) {
        if (strcmp(ta, tb) != 0) {
            snprintf(out, len, "the state has %s, this run %s", ta, tb);
            return;
        }
        ta = strtok_r(NULL, " ", &sa);
        tb = strtok_r(NULL, " ", &sb);
    }
    snprintf(out, len, "the state has '%s'", a);
}

/* ---- the state file: a text file, rewritten atomically after every batch -----------------
 *   thinice-attack state 1
 *   config <config string>
 *   seconds <clean> <attack 1> ... <attack n>
 *   checkfail <n>
 *   rec <i> <label> <clean_pred> <adv_pred> <attack> <linf> <l2> <fwd> <bwd> <min_norm>
 *   ... (one line per done sample)
 *   end
 */
#define STATE_MAGIC "thinice-attack state 1"

static ti_status state_write(ti_ctx *ctx, const char *path, const char *config, const run *R)
{
    ti_afile f;
    ti_status s = ti_afile_open(ctx, &f, path);
    if (s != TI_OK)
        return s;
    fprintf(f.fp, "%s\nconfig %s\nseconds %.17g", STATE_MAGIC, config, R->sec_clean);
    for (int a = 0; a < R->n_attacks; a++)
        fprintf(f.fp, " %.17g", R->sec[a]);
    fprintf(f.fp, "\ncheckfail %d\n", R->check_failed);
    for (int i = 0; i < R->N; i++) {
        const rec *r = &R->r[i];
        if (r->done)
            fprintf(f.fp, "rec %d %d %d %d %d %.9g %.9g %ld %ld %.9g\n", i, r->label,
                    r->clean_pred, r->adv_pred, r->attack, (double)r->linf, (double)r->l2,
                    r->fwd, r->bwd, (double)r->min_norm);
    }
    fprintf(f.fp, "end\n");
    if (ferror(f.fp)) {
        ti_afile_abort(&f);
        return ti_ctx_error(ctx, TI_ERR_IO, "state file %s: write failed", path);
    }
    return ti_afile_commit(ctx, &f);
}

/* Reads a state file into R. *found = 0 (and TI_OK) when the file does not exist yet. */
static ti_status state_read(ti_ctx *ctx, const char *path, const char *config, run *R,
                            int *found)
{
    *found = 0;
    if (access(path, F_OK) != 0)
        return TI_OK;
    char *buf;
    size_t len;
    ti_status s = ti_read_file(ctx, path, &buf, &len);
    if (s != TI_OK)
        return s;
    s = TI_OK;
    int line = 0, ended = 0;
    char *save, *l = strtok_r(buf, "\n", &save);
    for (; l && s == TI_OK && !ended; l = strtok_r(NULL, "\n", &save)) {
        line++;
        if (line == 1) {
            if (strcmp(l, STATE_MAGIC) != 0)
                s = ti_ctx_error(ctx, TI_ERR_FORMAT, "state file %s is not a thinice-attack "
                                 "state file (first line '%.40s')", path, l);
        } else if (line == 2) {
            if (strncmp(l, "config ", 7) != 0)
                s = ti_ctx_error(ctx, TI_ERR_FORMAT, "state file %s: line 2 is not the "
                                 "configuration", path);
            else if (strcmp(l + 7, config) != 0) {
                char why[1200];
                config_diff(l + 7, config, why, sizeof why);
                s = ti_ctx_error(ctx, TI_ERR_ARG, "state file %s was written by a run with other "
                                 "arguments (%s); rerun with the same arguments, or give "
                                 "another --resume file", path, why);
            }
        } else if (!strncmp(l, "seconds ", 8)) {
            char *p = l + 8, *e;
            R->sec_clean = strtod(p, &e);
            for (int a = 0; a < R->n_attacks && e != p; a++)
                R->sec[a] = strtod(p = e, &e);
        } else if (!strncmp(l, "checkfail ", 10)) {
            R->check_failed = atoi(l + 10);
        } else if (!strncmp(l, "rec ", 4)) {
            rec r = {.done = 1};
            int i;
            if (sscanf(l + 4, "%d %d %d %d %d %f %f %ld %ld %f", &i, &r.label, &r.clean_pred,
                       &r.adv_pred, &r.attack, &r.linf, &r.l2, &r.fwd, &r.bwd,
                       &r.min_norm) != 10 ||
                i < 0 || i >= R->N || r.attack < TI_AA_CLEAN_WRONG || r.attack >= R->n_attacks)
                s = ti_ctx_error(ctx, TI_ERR_FORMAT, "state file %s: line %d is not a valid "
                                 "record", path, line);
            else
                R->r[i] = r;
        } else if (!strcmp(l, "end")) {
            ended = 1;
        } else {
            s = ti_ctx_error(ctx, TI_ERR_FORMAT, "state file %s: line %d: unknown entry "
                             "'%.20s'", path, line, l);
        }
    }
    if (s == TI_OK && !ended)
        s = ti_ctx_error(ctx, TI_ERR_FORMAT, "state file %s is truncated (no 'end' line)", path);
    free(buf);
    *found = s == TI_OK;
    return s;
}

/* ---- progress: the library's callbacks redraw our own line (samples done, rate, ETA) ----- */

typedef struct prog {
    app_progress line;
    long done, total; /* samples of this session */
} prog;

static int progress_cb(void *user, const char *label, long done, long total)
{
    (void)label;
    (void)done;
    (void)total;
    prog *p = user;
    return app_progress_cb(&p->line, "attack", p->done, p->total);
}

typedef struct logger {
    int quiet;
    prog *p;
} logger;

static void log_cb(void *user, int level, const char *msg)
{
    logger *lg = user;
    if (lg->quiet && level == 0)
        return;
    app_progress_clear(&lg->p->line);
    app_log(NULL, level, msg);
}

/* ---- one batch ----------------------------------------------------------------------------- */

/* The per-batch work of the attacks outside the ensemble: clean pass, the attack, an
 * independent check of every example (misclassified, in the ball and the box). The records
 * of [first, first + n) are written only once the whole batch is done. */
static ti_status single_batch(ti_ctx *ctx, const ti_classifier *f, const opts *o,
                              const ti_dataset *d, int first, int n, float *xa, float *logits,
                              int *pred, float *norms, run *R)
{
    size_t D = ti_classifier_dim(f);
    const float *x = d->x + (size_t)first * D;
    const int *y = d->y + first;
    ti_atk_stats st = {0, 0};
    double t0 = app_now();
    ti_status s = f->forward(f->self, x, n, logits);
    if (s != TI_OK)
        return s;
    ti_argmax_rows(logits, n, f->M, pred);
    double t1 = app_now();
    R->sec_clean += t1 - t0;
    rec *out = R->r + first;
    for (int i = 0; i < n; i++)
        out[i] = (rec){.label = y[i], .clean_pred = pred[i], .fwd = 1, .min_norm = 0,
                       .attack = pred[i] == y[i] ? TI_AA_ROBUST : TI_AA_CLEAN_WRONG};
    if (o->mode == MODE_PGD || o->mode == MODE_FGSM) {
        ti_pgd_params pp = ti_pgd_params_default();
        pp.norm = o->norm;
        pp.eps = o->eps;
        pp.step = o->eps / 4;
        pp.steps = o->mode == MODE_FGSM ? 1 : o->pgd_steps;
        pp.seed = o->seed ^ (uint64_t)(o->offset + first); /* per batch, fixed by the data */
        if (o->mode == MODE_FGSM) { /* FGSM = one step of size eps from x */
            pp.step = o->eps;
            pp.random_start = 0;
        }
        s = ti_atk_pgd(ctx, f, &pp, x, y, n, xa, &st);
    } else {
        ti_fmn_params fp = ti_fmn_params_default();
        fp.norm = o->norm;
        fp.steps = o->fmn_steps;
        s = ti_atk_fmn(ctx, f, &fp, x, y, n, xa, norms, &st);
    }
    if (s != TI_OK)
        return s;
    s = f->forward(f->self, xa, n, logits); /* the independent check */
    if (s != TI_OK)
        return s;
    ti_argmax_rows(logits, n, f->M, pred);
    R->sec[0] += app_now() - t1;
    for (int i = 0; i < n; i++) {
        rec *r = &out[i];
        const float *a = xa + (size_t)i * D, *x0 = x + (size_t)i * D;
        /* the passes of the attack are counted per call: spread evenly over the batch */
        r->fwd += st.forwards / n + 1;
        r->bwd = st.backwards / n;
        r->adv_pred = r->clean_pred;
        if (o->mode == MODE_FMN)
            r->min_norm = r->attack == TI_AA_CLEAN_WRONG ? 0.0f : norms[i];
        int in_box = 1;
        for (size_t k = 0; k < D; k++)
            in_box &= a[k] >= 0.0f && a[k] <= 1.0f;
        double dist = ti_norm_dist(o->norm, a, x0, D);
        if (r->attack == TI_AA_ROBUST && pred[i] != y[i] && in_box &&
            dist <= (double)o->eps + 1e-6) {
            r->attack = 0;
            r->adv_pred = pred[i];
            r->linf = (float)ti_norm_dist(TI_NORM_LINF, a, x0, D);
            r->l2 = (float)ti_norm_dist(TI_NORM_L2, a, x0, D);
        }
        r->done = 1;
    }
    return TI_OK;
}

/* Copies the ensemble's records of [first, first + n) into R. */
static void take_aa(const ti_aa_result *res, int first, int n, run *R)
{
    for (int i = first; i < first + n; i++) {
        const ti_aa_sample *a = &res->samples[i];
        R->r[i] = (rec){.done = a->done, .label = a->label, .clean_pred = a->clean_pred,
                        .adv_pred = a->adv_pred, .attack = a->attack, .linf = a->linf,
                        .l2 = a->l2, .fwd = a->forwards, .bwd = a->backwards};
    }
}

/* ---- outputs ------------------------------------------------------------------------------- */

static const char *rec_attack(const run *R, const rec *r)
{
    return r->attack == TI_AA_CLEAN_WRONG ? "clean" : r->attack == TI_AA_ROBUST ? "none"
                                                                                : R->names[r->attack];
}

static ti_status write_csv(ti_ctx *ctx, const char *path, const opts *o, const run *R)
{
    ti_afile f;
    ti_status s = ti_afile_open(ctx, &f, path);
    if (s != TI_OK)
        return s;
    fprintf(f.fp, "index,label,clean_pred,adv_pred,success,linf,l2,attack,queries,gradients%s\n",
            o->mode == MODE_FMN ? ",min_norm,steps" : "");
    for (int i = 0; i < R->N; i++) {
        const rec *r = &R->r[i];
        fprintf(f.fp, "%d,%d,%d,%d,%d,%.9g,%.9g,%s,%ld,%ld", o->offset + i, r->label,
                r->clean_pred, r->adv_pred, r->attack >= 0, (double)r->linf, (double)r->l2,
                rec_attack(R, r), r->fwd, r->bwd);
        if (o->mode == MODE_FMN)
            fprintf(f.fp, ",%.9g,%d", (double)r->min_norm, o->fmn_steps);
        fputc('\n', f.fp);
    }
    if (ferror(f.fp)) {
        ti_afile_abort(&f);
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: write failed", path);
    }
    return ti_afile_commit(ctx, &f);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median of v (n, sorted in place); +inf counts as the largest value. NAN when n is 0. */
static double median(float *v, int n)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    return n % 2 ? v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + v[n / 2]);
}

typedef struct summary {
    double clean_acc, robust[TI_AA_MAX_ATTACKS];
    double med_all, med_correct; /* FMN */
    int found;                   /* FMN: clean-correct samples with a finite norm */
} summary;

static ti_status summarize(const opts *o, const run *R, summary *S)
{
    int clean = 0, robust[TI_AA_MAX_ATTACKS] = {0};
    memset(S, 0, sizeof *S);
    for (int i = 0; i < R->N; i++) {
        const rec *r = &R->r[i];
        if (r->attack == TI_AA_CLEAN_WRONG)
            continue;
        clean++;
        for (int a = 0; a < R->n_attacks; a++)
            robust[a] += r->attack == TI_AA_ROBUST || r->attack > a;
    }
    S->clean_acc = (double)clean / R->N;
    for (int a = 0; a < R->n_attacks; a++)
        S->robust[a] = (double)robust[a] / R->N;
    if (o->mode == MODE_FMN) {
        float *v = malloc((size_t)R->N * sizeof *v);
        if (!v)
            return TI_ERR_NOMEM;
        int k = 0;
        for (int i = 0; i < R->N; i++) {
            v[i] = R->r[i].min_norm;
            S->found += R->r[i].attack != TI_AA_CLEAN_WRONG && isfinite(v[i]);
        }
        S->med_all = median(v, R->N);
        for (int i = 0; i < R->N; i++)
            if (R->r[i].attack != TI_AA_CLEAN_WRONG)
                v[k++] = R->r[i].min_norm;
        S->med_correct = median(v, k);
        free(v);
    }
    return TI_OK;
}

/* A float as the shortest decimal that reads back to it (0.1f prints 0.1, not 0.100000001) */
static double f2d(float v)
{
    char b[32];
    for (int digits = 6; digits < 9; digits++) {
        snprintf(b, sizeof b, "%.*g", digits, (double)v);
        if (strtof(b, NULL) == v)
            break;
    }
    return strtod(b, NULL);
}

static ti_status write_json(ti_ctx *ctx, const char *path, const opts *o, const run *R,
                            const summary *S, const ti_dataset *d, int threads, double wall,
                            int resumed)
{
    ti_jw *w = ti_jw_new();
    if (!w)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", path);
    ti_jw_begin_object(w);
    ti_jw_key(w, "program");
    ti_jw_string(w, "thinice-attack");
    ti_jw_key(w, "version");
    ti_jw_string(w, TI_VERSION);
    ti_jw_key(w, "config");
    ti_jw_begin_object(w);
    ti_jw_key(w, "model");
    ti_jw_string(w, o->model);
    ti_jw_key(w, "weights");
    ti_jw_string(w, weights_file(o));
    ti_jw_key(w, "data");
    ti_jw_string(w, o->data);
    ti_jw_key(w, "dataset");
    ti_jw_string(w, d->name);
    ti_jw_key(w, "split");
    ti_jw_string(w, o->split_name);
    ti_jw_key(w, "offset");
    ti_jw_int(w, o->offset);
    ti_jw_key(w, "count");
    ti_jw_int(w, R->N);
    ti_jw_key(w, "attack");
    ti_jw_string(w, o->attack);
    ti_jw_key(w, "attacks");
    ti_jw_begin_array(w);
    for (int a = 0; a < R->n_attacks; a++)
        ti_jw_string(w, R->names[a]);
    ti_jw_end_array(w);
    ti_jw_key(w, "norm");
    ti_jw_string(w, ti_norm_name(o->norm));
    ti_jw_key(w, "eps");
    if (isfinite(o->eps))
        ti_jw_number(w, f2d(o->eps));
    else
        ti_jw_null(w);
    ti_jw_key(w, "batch_size");
    ti_jw_int(w, o->batch);
    if (o->mode == MODE_FMN) {
        ti_jw_key(w, "fmn_steps");
        ti_jw_int(w, o->fmn_steps);
    }
    if (o->mode == MODE_PGD) {
        ti_jw_key(w, "pgd_steps");
        ti_jw_int(w, o->pgd_steps);
        ti_jw_key(w, "pgd_step_size");
        ti_jw_number(w, f2d(o->eps / 4));
    }
    ti_jw_end_object(w);
    ti_jw_key(w, "seed");
    ti_jw_int(w, (long long)o->seed);
    ti_jw_key(w, "threads");
    ti_jw_int(w, threads);
    ti_jw_key(w, "samples");
    ti_jw_int(w, R->N);
    ti_jw_key(w, "resumed_samples");
    ti_jw_int(w, resumed);
    ti_jw_key(w, "clean_accuracy");
    ti_jw_number(w, S->clean_acc);
    ti_jw_key(w, "robust_accuracy");
    ti_jw_number(w, R->n_attacks ? S->robust[R->n_attacks - 1] : S->clean_acc);
    ti_jw_key(w, "attacks");
    ti_jw_begin_array(w);
    for (int a = 0; a < R->n_attacks; a++) {
        ti_jw_begin_object(w);
        ti_jw_key(w, "name");
        ti_jw_string(w, R->names[a]);
        ti_jw_key(w, "robust_accuracy");
        ti_jw_number(w, S->robust[a]);
        ti_jw_key(w, "seconds");
        ti_jw_number(w, R->sec[a]);
        ti_jw_end_object(w);
    }
    ti_jw_end_array(w);
    ti_jw_key(w, "check_failed");
    ti_jw_int(w, R->check_failed);
    if (o->mode == MODE_FMN) {
        ti_jw_key(w, "fmn");
        ti_jw_begin_object(w);
        ti_jw_key(w, "steps");
        ti_jw_int(w, o->fmn_steps);
        ti_jw_key(w, "median_norm");
        ti_jw_number(w, S->med_all);
        ti_jw_key(w, "median_norm_clean_correct");
        ti_jw_number(w, S->med_correct);
        ti_jw_key(w, "found");
        ti_jw_int(w, S->found);
        ti_jw_end_object(w);
    }
    ti_jw_key(w, "seconds");
    ti_jw_begin_object(w);
    ti_jw_key(w, "clean");
    ti_jw_number(w, R->sec_clean);
    double sum = R->sec_clean;
    for (int a = 0; a < R->n_attacks; a++)
        sum += R->sec[a];
    ti_jw_key(w, "compute");
    ti_jw_number(w, sum);
    ti_jw_key(w, "wall_this_session");
    ti_jw_number(w, wall);
    ti_jw_end_object(w);
    ti_jw_end_object(w);
    size_t len;
    const char *txt = ti_jw_text(w, &len);
    ti_status s = txt ? ti_write_file_atomic(ctx, path, txt, len)
                      : ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", path);
    ti_jw_free(w);
    return s;
}

/* ---- main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    app_init(argv[0]);
    opts o = {.model = "smallcnn", .data = TI_DATA_DEFAULT_DIR, .attack = "standard",
              .split = TI_SPLIT_TEST, .split_name = "test", .batch = 250, .fmn_steps = 1000,
              .pgd_steps = 20, .progress = 1, .norm = TI_NORM_LINF};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;

    ti_ctx *ctx = ti_ctx_new(o.seed, o.threads);
    if (!ctx) {
        app_error("out of memory");
        return APP_EXIT_FAIL;
    }
    prog pg = {0};
    logger lg = {o.quiet, &pg};
    ti_ctx_set_log(ctx, log_cb, &lg);
    app_progress_install(ctx, &pg.line, o.progress && !o.quiet, 1, "img");
    ti_ctx_set_progress(ctx, progress_cb, &pg);

    ti_dataset *all = NULL, *d = NULL;
    ti_model *m = NULL;
    ti_onnx *g = NULL;
    ti_aa_result *res = NULL;
    run R = {0};
    float *xa = NULL, *logits = NULL, *norms = NULL;
    int *pred = NULL;
    ti_status s;
    rc = APP_EXIT_FAIL;
    double t_start = app_now();

    if ((s = ti_data_load(ctx, o.data, o.split, &all)) != TI_OK) {
        app_fail(ctx, s, "loading the data");
        goto done;
    }
    if (o.offset >= all->N || (o.count && o.count > all->N - o.offset)) {
        rc = app_usage_error("--offset %d --count %d: the %s split of %s has %d samples",
                             o.offset, o.count, o.split_name, all->name, all->N);
        goto done;
    }
    if (!o.count)
        o.count = all->N - o.offset;
    if ((s = ti_dataset_slice(ctx, all, o.offset, o.count, &d)) != TI_OK) {
        app_fail(ctx, s, "slicing the data");
        goto done;
    }
    ti_dataset_free(all);
    all = NULL;
    ti_classifier f;
    if (o.onnx)
        s = app_model_open_onnx(ctx, o.model, d, &g);
    else
        s = app_model_open_for(ctx, o.model, o.weights, d, &m);
    if (s != TI_OK) {
        app_fail(ctx, s, "loading the model");
        goto done;
    }
    if (o.onnx)
        s = ti_onnx_classifier(g, o.batch, &f);
    else
        s = ti_model_classifier(m, o.batch, &f);
    if (s != TI_OK) {
        app_fail(ctx, s, "preparing the model");
        goto done;
    }

    /* what runs, and the records */
    int N = d->N;
    size_t D = ti_classifier_dim(&f);
    ti_aa_params ap;
    if (o.mode == MODE_AA) {
        if ((s = ti_aa_params_version(ctx, o.attack, o.norm, o.eps, &ap)) != TI_OK ||
            (s = ti_aa_result_new(ctx, &ap, N, &res)) != TI_OK) {
            app_fail(ctx, s, "setting up AutoAttack");
            goto done;
        }
        ap.seed = o.seed;
        ap.batch_size = o.batch;
        R.n_attacks = ap.n_attacks;
        for (int a = 0; a < ap.n_attacks; a++)
            R.names[a] = ti_aa_attack_name(ap.attacks[a]);
    } else {
        R.n_attacks = 1;
        R.names[0] = o.attack;
    }
    R.N = N;
    R.r = calloc((size_t)N, sizeof *R.r);
    xa = malloc((size_t)o.batch * D * sizeof *xa);
    logits = malloc((size_t)o.batch * f.M * sizeof *logits);
    norms = malloc((size_t)o.batch * sizeof *norms);
    pred = malloc((size_t)o.batch * sizeof *pred);
    if (!R.r || !xa || !logits || !norms || !pred) {
        app_error("out of memory for %d samples", N);
        goto done;
    }

    /* resume */
    char config[1024];
    int resumed = 0;
    if (o.resume) {
        uint64_t wh;
        int found;
        if ((s = file_hash(ctx, weights_file(&o), &wh)) != TI_OK) {
            app_fail(ctx, s, "reading the weights");
            goto done;
        }
        config_string(&o, wh, config, sizeof config);
        if ((s = state_read(ctx, o.resume, config, &R, &found)) != TI_OK) {
            app_fail(ctx, s, "resuming");
            goto done;
        }
        for (int i = 0; i < N; i++)
            resumed += R.r[i].done;
        if (found && !o.quiet)
            printf("resuming from %s: %d of %d samples already done\n", o.resume, resumed, N);
        if (res) {
            for (int i = 0; i < N; i++)
                if (R.r[i].done) {
                    const rec *r = &R.r[i];
                    res->samples[i] = (ti_aa_sample){.done = 1, .label = r->label,
                        .clean_pred = r->clean_pred, .adv_pred = r->adv_pred,
                        .attack = r->attack, .forwards = r->fwd, .backwards = r->bwd,
                        .linf = r->linf, .l2 = r->l2};
                }
        }
        /* written once at the start: a wrong path fails now, not after the first batch */
        if ((s = state_write(ctx, o.resume, config, &R)) != TI_OK) {
            app_fail(ctx, s, "writing the state file");
            goto done;
        }
    }

    if (!o.quiet) {
        char eps[32];
        snprintf(eps, sizeof eps, isfinite(o.eps) ? "%g" : "inf", (double)o.eps);
        if (o.onnx)
            printf("%s (ONNX, opset %d, %d nodes, producer %s)", o.model, ti_onnx_opset(g),
                   ti_onnx_nodes(g), ti_onnx_producer(g)[0] ? ti_onnx_producer(g) : "unknown");
        else
            printf("%s (%s)", o.model, o.weights);
        printf(" on %s %s [%d, %d): %s, %s eps %s, seed %llu, batch %d, %d threads\n", d->name, o.split_name, o.offset, o.offset + N, o.attack,
               ti_norm_name(o.norm), eps, (unsigned long long)o.seed, o.batch,
               ti_ctx_threads(ctx));
        fflush(stdout);
    }

    /* the batches: each one completes fully (records, then the state file) or not at all */
    pg.total = N - resumed;
    for (int first = 0; first < N; first += o.batch) {
        int n = N - first < o.batch ? N - first : o.batch, todo = 0;
        for (int i = first; i < first + n; i++)
            todo += !R.r[i].done;
        if (!todo)
            continue;
        if (res) {
            double before[TI_AA_MAX_ATTACKS], before_clean = res->seconds_clean;
            memcpy(before, res->seconds, sizeof before);
            int cf = res->n_check_failed;
            s = ti_aa_run_slice(ctx, &f, &ap, d->x, d->y, first, n, NULL, res);
            if (s == TI_OK) {
                take_aa(res, first, n, &R);
                R.sec_clean += res->seconds_clean - before_clean;
                for (int a = 0; a < R.n_attacks; a++)
                    R.sec[a] += res->seconds[a] - before[a];
                R.check_failed += res->n_check_failed - cf;
            }
        } else {
            s = single_batch(ctx, &f, &o, d, first, n, xa, logits, pred, norms, &R);
        }
        if (s != TI_OK) {
            app_progress_clear(&pg.line);
            app_fail(ctx, s, "attacking");
            goto done;
        }
        if (o.resume && (s = state_write(ctx, o.resume, config, &R)) != TI_OK) {
            app_progress_clear(&pg.line);
            app_fail(ctx, s, "writing the state file");
            goto done;
        }
        pg.done += todo;
        app_progress_cb(&pg.line, "attack", pg.done, pg.total);
    }
    app_progress_clear(&pg.line);

    summary S;
    if ((s = summarize(&o, &R, &S)) != TI_OK) {
        app_fail(ctx, s, "summarizing");
        goto done;
    }
    double wall = app_now() - t_start;
    if (!o.quiet) {
        printf("clean accuracy:               %6.2f%%  (%.2f s)\n", 100 * S.clean_acc,
               R.sec_clean);
        for (int a = 0; a < R.n_attacks; a++)
            printf("robust accuracy after %-8s %6.2f%%  (%.2f s)\n", R.names[a],
                   100 * S.robust[a], R.sec[a]);
        if (o.mode == MODE_FMN)
            printf("FMN %s, %d steps: median norm %.6g (all samples), %.6g (correctly "
                   "classified); %d of %d points without an adversarial example\n",
                   ti_norm_name(o.norm), o.fmn_steps, S.med_all, S.med_correct,
                   (int)(S.clean_acc * N + 0.5) - S.found, (int)(S.clean_acc * N + 0.5));
        if (R.check_failed)
            printf("%d adversarial examples failed the final check (counted robust)\n",
                   R.check_failed);
    }
    printf("robust accuracy: %.2f%% (%d samples, %.1f s)\n",
           100 * S.robust[R.n_attacks - 1], N, wall);
    if (o.csv && (s = write_csv(ctx, o.csv, &o, &R)) != TI_OK) {
        app_fail(ctx, s, "writing the CSV");
        goto done;
    }
    if (o.json && (s = write_json(ctx, o.json, &o, &R, &S, d, ti_ctx_threads(ctx), wall,
                                  resumed)) != TI_OK) {
        app_fail(ctx, s, "writing the JSON summary");
        goto done;
    }
    rc = APP_EXIT_OK;
done:
    free(xa);
    free(logits);
    free(norms);
    free(pred);
    free(R.r);
    ti_aa_result_free(res);
    ti_model_free(m);
    ti_onnx_free(g);
    ti_dataset_free(d);
    ti_dataset_free(all);
    ti_ctx_free(ctx);
    return rc;
}
