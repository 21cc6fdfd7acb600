/* libFuzzer harness: the JSON reader and writer, and thinice-study's configuration reader
 * (apps/study/config.c and config_models.c, linked in). A document that parses is walked
 * through the accessors, written back with the writer and parsed again: the two trees must be
 * equal, numbers to the bit. Then the input is read as a study configuration (from a file, as
 * the app does) and checked whole; one that loads must survive its own JSON form: loading
 * study_config_json's text gives a configuration with the same text. */
#include <math.h>

#include "fuzz.h"
#include "thinice/json.h"
#include "../../apps/study/config.h"

/* Writes v with the writer (the same calls the library's own writers make). */
static void write_tree(ti_jw *w, const ti_json *v)
{
    switch (ti_json_typeof(v)) {
    case TI_JSON_NULL: ti_jw_null(w); break;
    case TI_JSON_BOOL: ti_jw_bool(w, ti_json_bool(v)); break;
    case TI_JSON_NUMBER: ti_jw_number(w, ti_json_number(v)); break;
    case TI_JSON_STRING: ti_jw_string(w, ti_json_string(v)); break;
    case TI_JSON_ARRAY:
        ti_jw_begin_array(w);
        for (size_t i = 0; i < ti_json_length(v); i++)
            write_tree(w, ti_json_at(v, i));
        ti_jw_end_array(w);
        break;
    case TI_JSON_OBJECT:
        ti_jw_begin_object(w);
        for (size_t i = 0; i < ti_json_length(v); i++) {
            ti_jw_key(w, ti_json_key_at(v, i));
            write_tree(w, ti_json_at(v, i));
        }
        ti_jw_end_object(w);
        break;
    default: abort();
    }
}

/* Deep equality; numbers by their bits (a round trip must be exact). Also checks that
 * ti_json_get finds every member of an object under its key. */
static int same_tree(const ti_json *a, const ti_json *b)
{
    ti_json_type t = ti_json_typeof(a);
    if (t != ti_json_typeof(b) || ti_json_length(a) != ti_json_length(b))
        return 0;
    double x = ti_json_number(a), y = ti_json_number(b);
    const char *sa = ti_json_string(a), *sb = ti_json_string(b);
    switch (t) {
    case TI_JSON_NULL: return 1;
    case TI_JSON_BOOL: return ti_json_bool(a) == ti_json_bool(b);
    case TI_JSON_NUMBER: return isfinite(x) && memcmp(&x, &y, sizeof x) == 0;
    case TI_JSON_STRING: return sa && sb && strcmp(sa, sb) == 0;
    case TI_JSON_ARRAY:
    case TI_JSON_OBJECT:
        for (size_t i = 0; i < ti_json_length(a); i++) {
            if (t == TI_JSON_OBJECT) {
                const char *k = ti_json_key_at(a, i);
                if (!k || strcmp(k, ti_json_key_at(b, i)) != 0 || ti_json_get(a, k) !=
                    ti_json_at(a, i))
                    return 0;
            }
            if (!same_tree(ti_json_at(a, i), ti_json_at(b, i)))
                return 0;
        }
        return ti_json_at(a, ti_json_length(a)) == NULL;
    default: return 0;
    }
}

static void fuzz_json(ti_ctx *ctx, const uint8_t *data, size_t size)
{
    ti_json *v = NULL, *again = NULL;
    ti_ctx_clear_error(ctx);
    ti_status st = ti_json_parse(ctx, (const char *)data, size, &v);
    fuzz_check_status(st);
    if ((st == TI_OK) != (v != NULL))
        abort();
    if (!v)
        return;
    ti_jw *w = ti_jw_new();
    if (!w)
        abort();
    write_tree(w, v);
    size_t len;
    const char *text = ti_jw_text(w, &len);
    if (!text || strlen(text) != len)
        abort();
    if (ti_json_parse(ctx, text, len, &again) != TI_OK || !same_tree(v, again))
        abort();
    ti_json_free(again);
    ti_jw_free(w);
    ti_json_free(v);
}

/* Loads the configuration at path over the defaults; returns its JSON text or NULL. */
static char *load_config(ti_ctx *ctx, const char *path)
{
    study_config c;
    study_config_default(&c);
    ti_ctx_clear_error(ctx);
    ti_status st = study_config_load(ctx, path, &c);
    fuzz_check_status(st);
    if (st != TI_OK)
        return NULL;
    ti_ctx_clear_error(ctx);
    fuzz_check_status(study_config_check(ctx, &c));
    char *text = study_config_json(&c);
    if (!text)
        abort();
    return text;
}

static void fuzz_config(ti_ctx *ctx, const uint8_t *data, size_t size)
{
    const char *path = fuzz_path("study.json");
    fuzz_write(path, data, size);
    char *text = load_config(ctx, path);
    if (!text)
        return;
    fuzz_write(path, (const uint8_t *)text, strlen(text));
    char *again = load_config(ctx, path);
    if (!again || strcmp(text, again) != 0)
        abort();
    free(again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ti_ctx *ctx = fuzz_ctx();
    fuzz_json(ctx, data, size);
    fuzz_config(ctx, data, size);
    return 0;
}
