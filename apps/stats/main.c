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
#include "compare.h"
#include "optimality.h"
#include "thinice/stats.h"

typedef struct opts {
    compare_opts cmp;        /* the two-sample comparison (compare.c) */
    int optimality;          /* --optimality: the files are the arguments, into opt */
    optimality_opts opt;
    const char *compare_opt; /* the first option of the two-sample comparison given */
} opts;

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
    o->opt.json = o->cmp.json;
    o->opt.quiet = o->cmp.quiet;
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
    o->cmp.mwu = ti_stats_mwu_params_default();
    o->cmp.level = 0.95;
    int c, li = -1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:", lo, &li)) != -1) {
        ti_stats_err e = {0};
        if (c >= O_INPUT && c <= O_LEVEL && !o->compare_opt)
            o->compare_opt = lo[li].name;
        switch (c) {
        case O_INPUT: o->cmp.csv = optarg; break;
        case O_VALUE: o->cmp.value = optarg; break;
        case O_GROUP: o->cmp.group = optarg; break;
        case O_GROUPS: o->cmp.groups = optarg; break;
        case O_A: o->cmp.col_a = optarg; break;
        case O_B: o->cmp.col_b = optarg; break;
        case O_ALT:
            if (ti_stats_alternative_parse(optarg, &o->cmp.mwu.alternative, &e))
                return app_usage_error("--alternative: %s", e.msg);
            break;
        case O_METHOD:
            if (strcmp(optarg, "auto") == 0)
                o->cmp.mwu.method = TI_STATS_AUTO;
            else if (strcmp(optarg, "exact") == 0)
                o->cmp.mwu.method = TI_STATS_EXACT;
            else if (strcmp(optarg, "asymptotic") == 0)
                o->cmp.mwu.method = TI_STATS_ASYMPTOTIC;
            else
                return app_usage_error("--method: unknown method '%s' (use auto, exact or "
                                       "asymptotic)", optarg);
            break;
        case O_NOCONT: o->cmp.mwu.use_continuity = 0; break;
        case O_LEVEL:
            if (app_parse_double("--level", optarg, 1e-9, 1 - 1e-9, &o->cmp.level))
                return APP_EXIT_USAGE;
            break;
        case 'o':
        case O_JSON: o->cmp.json = optarg; break;
        case O_QUIET: o->cmp.quiet = 1; break;
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
    if (!o->cmp.csv && optind < argc) /* the input as the one positional argument */
        o->cmp.csv = argv[optind++];
    int rc = app_parse_done(0, argc, argv);
    if (rc >= 0)
        return rc;
    if (!o->cmp.csv)
        return app_usage_error("an input CSV is required (FILE.csv or --input FILE)");
    const compare_opts *k = &o->cmp;
    int by_group = k->value || k->group || k->groups, by_cols = k->col_a || k->col_b;
    if (by_group && by_cols)
        return app_usage_error("use either --value/--group or --a/--b, not both");
    if (by_group && !(o->cmp.value && o->cmp.group))
        return app_usage_error("--value COL and --group COL go together");
    if (by_cols && !(o->cmp.col_a && o->cmp.col_b))
        return app_usage_error("--a COL and --b COL go together");
    if (!by_group && !by_cols)
        return app_usage_error("say what to compare: --value COL --group COL, or --a COL --b COL");
    if (o->cmp.groups) {
        const char *comma = strchr(o->cmp.groups, ',');
        if (!comma || strchr(comma + 1, ',') || comma == o->cmp.groups || !comma[1])
            return app_usage_error("--groups: '%s' is not two names A,B", o->cmp.groups);
    }
    return APP_EXIT_OK;
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
    return stats_compare(&o.cmp);
}
