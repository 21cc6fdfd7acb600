/* The audit's outputs (audit.h): the member "audit" of the summary thinice-attack and the
 * study write, beside the evaluation's own (ti_eval_json), and the per-sample CSV with the
 * audit's columns. */
#include "internal.h"
#include "thinice/fileio.h"

static void json_item(ti_jw *w, const ti_audit_item *it)
{
    ti_jw_begin_object(w);
    ti_jw_key(w, "run");
    ti_jw_bool(w, it->run);
    ti_jw_key(w, "triggered");
    ti_jw_bool(w, it->triggered);
    ti_jw_key(w, "value");
    ti_jw_number(w, it->value); /* null when it did not run */
    ti_jw_key(w, "threshold");
    ti_jw_float(w, (float)it->threshold); /* a float parameter or a count: 1e-4, not 9.99e-05 */
    ti_jw_key(w, "tested");
    ti_jw_int(w, it->tested);
    ti_jw_key(w, "flagged");
    ti_jw_int(w, it->flagged);
    ti_jw_key(w, "message");
    ti_jw_string(w, it->message);
    ti_jw_end_object(w);
}

ti_status ti_audit_json(ti_ctx *ctx, const ti_audit *a, ti_jw *w)
{
    if (!a || !w)
        return ti_ctx_error(ctx, TI_ERR_ARG, "audit: NULL audit or writer");
    ti_jw_key(w, "audit");
    ti_jw_begin_object(w);
    ti_jw_key(w, "triggered");
    ti_jw_begin_array(w);
    for (int c = 0; c < TI_AUDIT_COUNT; c++)
        if (a->item[c].triggered)
            ti_jw_string(w, ti_audit_check_name((ti_audit_check)c));
    ti_jw_end_array(w);
    ti_jw_key(w, "check_samples");
    ti_jw_int(w, a->n_check);
    ti_jw_key(w, "probe_samples");
    ti_jw_int(w, a->n_probe);
    ti_jw_key(w, "probe_iterations");
    ti_jw_int(w, a->probe_iter);
    ti_jw_key(w, "passes");
    ti_jw_begin_object(w);
    ti_jw_key(w, "forwards");
    ti_jw_int(w, a->forwards);
    ti_jw_key(w, "backwards");
    ti_jw_int(w, a->backwards);
    ti_jw_end_object(w);
    ti_jw_key(w, "seconds");
    ti_jw_number(w, a->seconds);
    ti_jw_key(w, "checks");
    ti_jw_begin_object(w);
    for (int c = 0; c < TI_AUDIT_COUNT; c++) {
        ti_jw_key(w, ti_audit_check_name((ti_audit_check)c));
        json_item(w, &a->item[c]);
    }
    ti_jw_end_object(w);
    ti_jw_end_object(w);
    return TI_OK;
}

ti_status ti_audit_write_csv(ti_ctx *ctx, const ti_eval *ev, const ti_audit *a,
                             const char *path)
{
    if (!ev || !a || a->first != ev->first || a->N != ev->N)
        return ti_ctx_error(ctx, TI_ERR_ARG, "audit: the CSV needs an evaluation and its own "
                            "audit");
    ti_afile f;
    ti_status s = ti_afile_open(ctx, &f, path);
    if (s != TI_OK)
        return s;
    ti__eval_csv_header(f.fp, ev);
    for (int c = 0; c < TI_AUDIT_COUNT; c++)
        if (ti_audit_check_per_sample((ti_audit_check)c))
            fprintf(f.fp, ",audit_%s", ti_audit_check_name((ti_audit_check)c));
    fputc('\n', f.fp);
    for (int i = 0; i < ev->N; i++) {
        if (!ev->samples[i].done)
            continue;
        ti__eval_csv_row(f.fp, ev, i);
        for (int c = 0; c < TI_AUDIT_COUNT; c++) {
            uint32_t bit = TI_AUDIT_BIT(c);
            if (!ti_audit_check_per_sample((ti_audit_check)c))
                continue;
            if (a->tested[i] & bit)
                fprintf(f.fp, ",%d", (a->flags[i] & bit) != 0);
            else
                fputc(',', f.fp);
        }
        fputc('\n', f.fp);
    }
    if (ferror(f.fp)) {
        ti_afile_abort(&f);
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: write failed", path);
    }
    return ti_afile_commit(ctx, &f);
}
