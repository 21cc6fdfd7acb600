/* Tests of the thin-ice analysis: populations, AUC direction, p-values against scipy, and
 * the tables' text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinice/study.h"

START_TEST(test_table2_row)
{
    /* 10: eps 0.01 0.02 0.03; 11: 0.02 0.05 0.06 0.08; 01: 0.5 0.1; 00: 0.2 0.3 0.4 */
    int d[12] = {1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    int p[12] = {0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0};
    double eps[12] = {0.01, 0.02, 0.03, 0.02, 0.05, 0.06, 0.08, 0.5, 0.1, 0.2, 0.3, 0.4};
    ti_study_row2 r;
    ck_assert_int_eq(ti_study_table2_row(d, p, eps, 12, &r, NULL), TI_STATS_OK);
    ck_assert_uint_eq(r.count[TI_POP_10], 3);
    ck_assert_uint_eq(r.count[TI_POP_11], 4);
    ck_assert_uint_eq(r.count[TI_POP_01], 2);
    ck_assert_uint_eq(r.count[TI_POP_00], 3);
    ck_assert_double_eq_tol(r.pct[TI_POP_11], 100.0 * 4 / 12, 1e-12);
    /* P(eps_10 < eps_11) with ties one half: (4 + 3.5 + 3) / 12 */
    ck_assert_double_eq_tol(r.sep_10_11.auc, 10.5 / 12, 1e-12);
    ck_assert(r.sep_10_11.auc_lo <= r.sep_10_11.auc && r.sep_10_11.auc <= r.sep_10_11.auc_hi);
    /* scipy.stats.mannwhitneyu(a, b, alternative='two-sided').pvalue */
    ck_assert_double_eq_tol(r.sep_10_11.p, 0.15357639654998376, 1e-9);
    ck_assert_double_eq_tol(r.sep_01_00.auc, 3.0 / 6, 1e-12); /* 0.1 < all, 0.5 > all */
    ck_assert_double_eq_tol(r.sep_01_00.p, 1.0, 1e-12);
    /* an empty population gives n/a, not an error */
    int all[3] = {1, 1, 1};
    double e3[3] = {0.1, 0.2, INFINITY};
    ck_assert_int_eq(ti_study_table2_row(all, all, e3, 3, &r, NULL), TI_STATS_OK);
    ck_assert(isnan(r.sep_10_11.auc));
    e3[1] = NAN;
    ti_stats_err err = {0};
    ck_assert_int_eq(ti_study_table2_row(all, all, e3, 3, &r, &err), TI_STATS_ERR_NAN);
    ck_assert_ptr_nonnull(strstr(err.msg, "sample 1"));
}
END_TEST

START_TEST(test_format_and_tables)
{
    char buf[32];
    ti_study_format_p(-248.3, buf, sizeof buf);
    ck_assert_str_eq(buf, "5.0e-249");
    ti_study_format_p(-1, buf, sizeof buf);
    ck_assert_str_eq(buf, "0.1");
    ti_study_format_p(NAN, buf, sizeof buf);
    ck_assert_str_eq(buf, "n/a");
    ti_study_row1 r1 = ti_study_row1_empty();
    snprintf(r1.method, sizeof r1.method, "hydra");
    snprintf(r1.network, sizeof r1.network, "smallcnn");
    snprintf(r1.reported_by, sizeof r1.reported_by, "PGD-10 (thinice)");
    r1.sparsity = 0.9;
    r1.sparsity_measured = 0.9;
    r1.clean = 0.8;
    r1.pgd = 0.55;
    r1.aa = 0.5;
    r1.aa_lo = 0.45;
    r1.aa_hi = 0.55;
    r1.n = 100;
    char *md = ti_study_table1_md(&r1, 1), *csv = ti_study_table1_csv(&r1, 1);
    ck_assert_ptr_nonnull(strstr(md, "| smallcnn | hydra | 90% (90.00%) | PGD-10 (thinice) | "
                                     "80.00 | 55.00 | 50.00 [45.0, 55.0] | 5.00 | n/a | n/a | "
                                     "n/a |"));
    ck_assert_ptr_nonnull(strstr(csv, "smallcnn,hydra,0.9000,0.9,\"PGD-10 (thinice)\",0.8,0.55,"
                                      "nan,0.5,100,0.45,0.55,0.05,nan,nan,nan,nan,nan"));
    free(md);
    free(csv);
    int d[4] = {1, 1, 1, 0}, p[4] = {0, 1, 1, 0};
    double eps[4] = {0.01, 0.2, 0.3, 0.05};
    ti_study_row2 r2;
    ck_assert_int_eq(ti_study_table2_row(d, p, eps, 4, &r2, NULL), TI_STATS_OK);
    const char *names[1] = {"hydra-90"};
    md = ti_study_table2_md(names, &r2, 1);
    csv = ti_study_table2_csv(names, &r2, 1);
    ck_assert_ptr_nonnull(strstr(md, "| hydra-90 | 4 | 25.00 | 0.00 | 25.00 | 50.00 | 1.000 |"));
    ck_assert_ptr_nonnull(strstr(csv, "hydra-90,4,25.0000,0.0000,25.0000,50.0000,1,2,1.000000"));
    free(md);
    free(csv);
}
END_TEST

Suite *suite_study(void)
{
    Suite *s = suite_create("study");
    TCase *tc = tcase_create("study");
    tcase_add_test(tc, test_table2_row);
    tcase_add_test(tc, test_format_and_tables);
    suite_add_tcase(s, tc);
    return s;
}
