/* thinice-stats: the study's statistics for anyone's CSV. Two groups of one column (or two
 * columns) are compared by the Mann-Whitney U test and the ROC AUC with its DeLong interval;
 * or (--optimality, optimality.c) the per-sample CSVs of several minimum-norm attacks are
 * scored against the best distances found. Results are printed and optionally written as
 * JSON. Thin: options, libstats, printing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "optimality.h"
#include "thinice/fileio.h"
#include "thinice/json.h"
#include "thinice/stats.h"

typedef struct opts {
    const char *csv, *value, *group, *groups, *col_a, *col_b, *json; /* csv: the input */
    ti_stats_mwu_params mwu;
    double level;
    int quiet;
    int optimality;          /* --optimality: the files are the arguments, into opt */
    optimality_opts opt;
    const char *compare_opt; /* the first option of the two-sample comparison given */
} opts;

/* One side of the comparison: its label, its values, and their summary. */
typedef struct side {
    ti_stats_sample s;
    ti_stats_summary sum;
} side;

static void usage(void)
{
    printf("Usage: %s FILE.csv --value COL --group COL [--groups A,B] [OPTION]...\n"
           "   or: %s FILE.csv --a COL --b COL [OPTION]...\n"
           "   or: %s --optimality A.csv B.csv [C.csv]... [--column COL] [--names a,b,...]\n"
           "Compare two samples from a CSV file (with a header row): the Mann-Whitney U test\n"
           "(as scipy.stats.mannwhitneyu) and the ROC AUC (as sklearn's roc_auc_score) with\n"
           "its DeLong confidence interval, plus descriptive statistics of both samples.\n"
           "Or score minimum-norm attacks run on the same samples against the smallest\n"
           "distances any of them found (AttackBench's optimality, Cina et al. 2025).\n\n"
           "  FILE.csv, --input FILE  the input CSV (comma-separated, quoted fields\n"
           "                        allowed; values are decimals, or inf)\n"
           "  --value COL           the numeric column whose values are compared ...\n"
           "  --group COL           ... between the groups named in this column\n"
           "  --groups A,B          the two groups, A first (default: the column's two\n"
           "                        values in order of first appearance)\n"
           "  --a COL, --b COL      compare column A with column B instead (empty cells are\n"
           "                        skipped, so the columns may have different lengths)\n"
           "  --alternative ALT     two-sided (default), less (A stochastically less than B)\n"
           "                        or greater\n"
           "  --method M            auto (default: exact when a sample has at most 8 values\n"
           "                        and nothing is tied), exact or asymptotic\n"
           "  --no-continuity       no continuity correction in the normal approximation\n"
           "  --level X             confidence level of the AUC interval (default 0.95)\n"
           "  --optimality          the files are per-sample CSVs of minimum-norm attacks\n"
           "                        (thinice-attack --attack fmn -o): an 'index' column and\n"
           "                        a distance column (inf: none found), the same indices\n"
           "                        in every file, in any order\n"
           "  --column COL          the distance column (default min_norm)\n"
           "  --names a,b,...       the attacks' names (default: the file names without\n"
           "                        directory and extension)\n"
           "  -o, --output FILE     also write the results as JSON (- for standard output)\n"
           "  --json FILE           the same as --output\n"
           "  --quiet               print nothing on success\n"
           "  -h, --help            this text\n"
           "  --version             version\n\n"
           "The AUC is P(A > B) + P(A = B) / 2 = U1 / (nA nB), with U1 the statistic of A;\n"
           "1 - AUC is the probability that A is the smaller. p-values below 1e-300 are\n"
           "reported through log10 p, which stays exact however small p is.\n"
           "An attack's optimality is 1 - (A - A*) / (c eps* - A*): A and A* the areas under\n"
           "its robust-accuracy curve and the best one over [0, eps*], eps* the largest\n"
           "finite best distance, c the clean accuracy; 1 is as good as the best found.\n"
           "Exit status: 0 on success, 1 on a runtime failure, 2 on bad usage.\n",
           app_prog, app_prog, app_prog);
}

/* The rest of the command line of --optimality: its files. */
static int optimality_args(int argc, char **argv, opts *o)
{
    if (o->compare_opt)
        return app_usage_error("--%s belongs to the two-sample comparison, not --optimality "
                               "(whose files are its arguments)", o->compare_opt);
    o->opt.files = argv + optind;
    o->opt.nfiles = argc - optind;
    if (o->opt.nfiles < 2)
        return app_usage_error("--optimality needs the CSVs of at least two attacks (%d "
                               "given)", o->opt.nfiles);
    if (!o->opt.column)
        o->opt.column = "min_norm";
    o->opt.json = o->json;
    o->opt.quiet = o->quiet;
    return APP_EXIT_OK;
}

static int parse_args(int argc, char **argv, opts *o)
{
    /* O_INPUT .. O_LEVEL: the options of the two-sample comparison only */
    enum { O_INPUT = 256, O_VALUE, O_GROUP, O_GROUPS, O_A, O_B, O_ALT, O_METHOD, O_NOCONT,
           O_LEVEL, O_JSON, O_QUIET, O_VERSION, O_OPTIMALITY, O_COLUMN, O_NAMES };
    static const struct option lo[] = {
        {"input", required_argument, 0, O_INPUT},
        {"output", required_argument, 0, 'o'},
        {"value", required_argument, 0, O_VALUE},
        {"group", required_argument, 0, O_GROUP},
        {"groups", required_argument, 0, O_GROUPS},
        {"a", required_argument, 0, O_A},
        {"b", required_argument, 0, O_B},
        {"alternative", required_argument, 0, O_ALT},
        {"method", required_argument, 0, O_METHOD},
        {"no-continuity", no_argument, 0, O_NOCONT},
        {"level", required_argument, 0, O_LEVEL},
        {"json", required_argument, 0, O_JSON},
        {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, O_VERSION},
        {"optimality", no_argument, 0, O_OPTIMALITY},
        {"column", required_argument, 0, O_COLUMN},
        {"names", required_argument, 0, O_NAMES},
        {0, 0, 0, 0},
    };
    memset(o, 0, sizeof *o);
    o->mwu = ti_stats_mwu_params_default();
    o->level = 0.95;
    int c, li = -1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:", lo, &li)) != -1) {
        ti_stats_err e = {0};
        if (c >= O_INPUT && c <= O_LEVEL && !o->compare_opt)
            o->compare_opt = lo[li].name;
        switch (c) {
        case O_INPUT: o->csv = optarg; break;
        case O_VALUE: o->value = optarg; break;
        case O_GROUP: o->group = optarg; break;
        case O_GROUPS: o->groups = optarg; break;
        case O_A: o->col_a = optarg; break;
        case O_B: o->col_b = optarg; break;
        case O_ALT:
            if (ti_stats_alternative_parse(optarg, &o->mwu.alternative, &e))
                return app_usage_error("--alternative: %s", e.msg);
            break;
        case O_METHOD:
            if (strcmp(optarg, "auto") == 0)
                o->mwu.method = TI_STATS_AUTO;
            else if (strcmp(optarg, "exact") == 0)
                o->mwu.method = TI_STATS_EXACT;
            else if (strcmp(optarg, "asymptotic") == 0)
                o->mwu.method = TI_STATS_ASYMPTOTIC;
            else
                return app_usage_error("--method: unknown method '%s' (use auto, exact or "
                                       "asymptotic)", optarg);
            break;
        case O_NOCONT: o->mwu.use_continuity = 0; break;
        case O_LEVEL:
            if (app_parse_double("--level", optarg, 1e-9, 1 - 1e-9, &o->level))
                return APP_EXIT_USAGE;
            break;
        case 'o':
        case O_JSON: o->json = optarg; break;
        case O_QUIET: o->quiet = 1; break;
        case O_OPTIMALITY: o->optimality = 1; break;
        case O_COLUMN: o->opt.column = optarg; break;
        case O_NAMES: o->opt.names = optarg; break;
        case 'h': usage(); return -2;
        case O_VERSION: app_print_version(); return -2;
        default:
            return app_getopt_error(c, argv);
        }
    }
    if (o->optimality)
        return optimality_args(argc, argv, o);
    if (o->opt.column || o->opt.names)
        return app_usage_error("--column and --names go with --optimality");
    if (!o->csv && optind < argc) /* the input as the one positional argument */
        o->csv = argv[optind++];
    int rc = app_parse_done(0, argc, argv);
    if (rc >= 0)
        return rc;
    if (!o->csv)
        return app_usage_error("an input CSV is required (FILE.csv or --input FILE)");
    int by_group = o->value || o->group || o->groups, by_cols = o->col_a || o->col_b;
    if (by_group && by_cols)
        return app_usage_error("use either --value/--group or --a/--b, not both");
    if (by_group && !(o->value && o->group))
        return app_usage_error("--value COL and --group COL go together");
    if (by_cols && !(o->col_a && o->col_b))
        return app_usage_error("--a COL and --b COL go together");
    if (!by_group && !by_cols)
        return app_usage_error("say what to compare: --value COL --group COL, or --a COL --b COL");
    if (o->groups) {
        const char *comma = strchr(o->groups, ',');
        if (!comma || strchr(comma + 1, ',') || comma == o->groups || !comma[1])
            return app_usage_error("--groups: '%s' is not two names A,B", o->groups);
    }
    return APP_EXIT_OK;
}

/* A number as %12.6g, or n/a where it is undefined (the spread of a sample with an
 * infinity, which %g would print as -nan). */
static void cell(double v)
{
    if (v != v)
        printf(" %12s", "n/a");
    else
        printf(" %12.6g", v);
}

/* The two samples: by group labels or as two columns. */
static int load(const opts *o, const ti_stats_csv *c, side *a, side *b)
{
    ti_stats_err e = {0};
    ti_stats_status s;
    if (o->group) {
        s = ti_stats_csv_groups(c, o->value, o->group, o->groups, &a->s, &b->s, &e);
    } else {
        snprintf(a->s.label, sizeof a->s.label, "%s", o->col_a);
        snprintf(b->s.label, sizeof b->s.label, "%s", o->col_b);
        s = ti_stats_csv_column(c, o->col_a, 1, &a->s.v, &a->s.n, &e);
        if (!s)
            s = ti_stats_csv_column(c, o->col_b, 1, &b->s.v, &b->s.n, &e);
    }
    if (s) {
        app_error("%s: %s", o->csv, e.msg);
        return APP_EXIT_FAIL;
    }
    return APP_EXIT_OK;
}

/* p as a number where a double holds it, else as a power of ten from log10 p. */
static void format_p(char *buf, size_t cap, double p, double log10_p)
{
    if (p >= 1e-300)
        snprintf(buf, cap, "%.6g", p);
    else
        snprintf(buf, cap, "10^%.4f (below a double's range)", log10_p);
}

static void print_results(const opts *o, const side *a, const side *b,
                          const ti_stats_mwu_result *r, const ti_stats_delong *d, int have_ci)
{
    if (o->group)
        printf("%s: column '%s' by '%s': A = '%s', B = '%s'\n\n", o->csv, o->value, o->group,
               a->s.label, b->s.label);
    else
        printf("%s: A = column '%s', B = column '%s'\n\n", o->csv, a->s.label, b->s.label);
    printf("     %8s %12s %12s %12s %12s %12s %12s %12s\n", "n", "mean", "sd", "min", "q1",
           "median", "q3", "max");
    const side *s2[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const ti_stats_summary *s = &s2[i]->sum;
        printf("  %c  %8zu", 'A' + i, s->n);
        const double v[7] = {s->mean, s->sd, s->min, s->q1, s->median, s->q3, s->max};
        for (int k = 0; k < 7; k++)
            cell(v[k]);
        printf("\n");
    }
    char pbuf[96];
    format_p(pbuf, sizeof pbuf, r->p, r->log10_p);
    printf("\nMann-Whitney U (%s, %s%s):\n", ti_stats_alternative_name(o->mwu.alternative),
           ti_stats_method_name(r->method),
           r->method == TI_STATS_ASYMPTOTIC && o->mwu.use_continuity ? ", continuity-corrected"
                                                                     : "");
    printf("  U1 = %.10g  U2 = %.10g", r->u1, r->u2);
    if (r->method == TI_STATS_ASYMPTOTIC)
        printf("  z = %.6g", r->z);
    printf("\n  p = %s  log10 p = %.6f\n", pbuf, r->log10_p);
    printf("AUC = P(A > B) + P(A = B)/2 = %.6f", r->u1 / ((double)r->n1 * (double)r->n2));
    if (have_ci)
        printf("  %g%% DeLong CI [%.6f, %.6f]  (se %.6f)\n", 100 * d->level, d->lo, d->hi, d->se);
    else
        printf("  (no DeLong interval: it needs at least 2 values per group)\n");
}

static void json_summary(ti_jw *w, const side *s)
{
    ti_jw_begin_object(w);
    ti_jw_key(w, "label");
    ti_jw_string(w, s->s.label);
    ti_jw_key(w, "n");
    ti_jw_int(w, (long long)s->sum.n);
    const char *keys[8] = {"mean", "sd", "min", "q1", "median", "q3", "max", "var"};
    const double vals[8] = {s->sum.mean, s->sum.sd, s->sum.min, s->sum.q1,
                            s->sum.median, s->sum.q3, s->sum.max, s->sum.var};
    for (int i = 0; i < 8; i++) {
        ti_jw_key(w, keys[i]);
        ti_jw_number(w, vals[i]);
    }
    ti_jw_end_object(w);
}

static int write_json(const opts *o, const side *a, const side *b, const ti_stats_mwu_result *r,
                      const ti_stats_delong *d, int have_ci)
{
    ti_jw *w = ti_jw_new();
    if (!w) {
        app_error("out of memory");
        return APP_EXIT_FAIL;
    }
    ti_jw_begin_object(w);
    app_json_program(w);
    ti_jw_key(w, "input");
    ti_jw_string(w, o->csv);
    ti_jw_key(w, "mode");
    ti_jw_string(w, o->group ? "groups" : "columns");
    if (o->group) {
        ti_jw_key(w, "value");
        ti_jw_string(w, o->value);
        ti_jw_key(w, "group");
        ti_jw_string(w, o->group);
    }
    ti_jw_key(w, "a");
    json_summary(w, a);
    ti_jw_key(w, "b");
    json_summary(w, b);
    ti_jw_key(w, "mann_whitney");
    ti_jw_begin_object(w);
    ti_jw_key(w, "alternative");
    ti_jw_string(w, ti_stats_alternative_name(o->mwu.alternative));
    ti_jw_key(w, "method");
    ti_jw_string(w, ti_stats_method_name(r->method));
    ti_jw_key(w, "continuity");
    ti_jw_bool(w, o->mwu.use_continuity);
    ti_jw_key(w, "u1");
    ti_jw_number(w, r->u1);
    ti_jw_key(w, "u2");
    ti_jw_number(w, r->u2);
    ti_jw_key(w, "z");
    ti_jw_number(w, r->z); /* null for the exact method */
    ti_jw_key(w, "p");
    ti_jw_number(w, r->p);
    ti_jw_key(w, "log10_p");
    ti_jw_number(w, r->log10_p);
    ti_jw_key(w, "tie_term");
    ti_jw_number(w, r->tie_term);
    ti_jw_end_object(w);
    ti_jw_key(w, "auc");
    ti_jw_begin_object(w);
    ti_jw_key(w, "definition");
    ti_jw_string(w, "P(A > B) + P(A = B)/2");
    ti_jw_key(w, "value");
    ti_jw_number(w, r->u1 / ((double)r->n1 * (double)r->n2));
    ti_jw_key(w, "delong");
    if (have_ci) {
        ti_jw_begin_object(w);
        ti_jw_key(w, "level");
        ti_jw_number(w, d->level);
        ti_jw_key(w, "se");
        ti_jw_number(w, d->se);
        ti_jw_key(w, "lo");
        ti_jw_number(w, d->lo);
        ti_jw_key(w, "hi");
        ti_jw_number(w, d->hi);
        ti_jw_end_object(w);
    } else {
        ti_jw_null(w);
    }
    ti_jw_end_object(w);
    ti_jw_end_object(w);
    size_t len;
    const char *text = ti_jw_text(w, &len);
    int rc = APP_EXIT_OK;
    if (!text) {
        app_error("out of memory");
        rc = APP_EXIT_FAIL;
    } else {
        ti_ctx *ctx = ti_ctx_new(0, 1);
        ti_status s = ctx ? ti_write_file_atomic(ctx, o->json, text, len) : TI_ERR_NOMEM;
        if (s != TI_OK)
            rc = app_fail(ctx, s, "writing the JSON summary");
        ti_ctx_free(ctx);
    }
    ti_jw_free(w);
    return rc;
}

int main(int argc, char **argv)
{
    app_init(argv[0]);
    opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc != APP_EXIT_OK)
        return rc == -2 ? APP_EXIT_OK : rc;
    if (o.optimality)
        return stats_optimality(&o.opt);

    ti_stats_err e = {0};
    ti_stats_csv *c = NULL;
    side a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    ti_ctx *ctx = ti_ctx_new(0, 1);
    int unwritable = !ctx || app_check_output(ctx, "--output", o.json);
    ti_ctx_free(ctx);
    if (unwritable)
        return APP_EXIT_FAIL;
    if (ti_stats_csv_read(o.csv, &c, &e)) {
        app_error("%s", e.msg);
        return APP_EXIT_FAIL;
    }
    rc = load(&o, c, &a, &b);
    ti_stats_csv_free(c);
    if (rc != APP_EXIT_OK)
        goto done;
    if (a.s.n == 0 || b.s.n == 0) {
        app_error("%s: %s '%s' has no values", o.csv, o.group ? "group" : "column",
                  a.s.n == 0 ? a.s.label : b.s.label);
        rc = APP_EXIT_FAIL;
        goto done;
    }

    ti_stats_mwu_result r;
    ti_stats_delong d;
    if (ti_stats_describe(a.s.v, a.s.n, &a.sum, &e) ||
        ti_stats_describe(b.s.v, b.s.n, &b.sum, &e) ||
        ti_stats_mwu(a.s.v, a.s.n, b.s.v, b.s.n, &o.mwu, &r, &e)) {
        app_error("%s", e.msg);
        rc = APP_EXIT_FAIL;
        goto done;
    }
    int have_ci = 1;
    ti_stats_status s = ti_stats_auc_delong(a.s.v, a.s.n, b.s.v, b.s.n, o.level, &d, &e);
    if (s == TI_STATS_ERR_EMPTY) {
        have_ci = 0; /* a group of one value: report U and p, no interval */
    } else if (s) {
        app_error("%s", e.msg);
        rc = APP_EXIT_FAIL;
        goto done;
    }
    if (!o.quiet)
        print_results(&o, &a, &b, &r, &d, have_ci);
    if (o.json)
        rc = write_json(&o, &a, &b, &r, &d, have_ci);
done:
    free(a.s.v);
    free(b.s.v);
    return rc;
}
