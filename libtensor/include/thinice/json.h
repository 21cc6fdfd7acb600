/* A small JSON reader (a tree of values) and writer (into a growing string), enough for
 * safetensors headers, configuration files and the apps' JSON summaries. */
#ifndef THINICE_JSON_H
#define THINICE_JSON_H

#include <stddef.h>

#include "thinice/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ti_json_type {
    TI_JSON_NULL = 0, TI_JSON_BOOL, TI_JSON_NUMBER, TI_JSON_STRING, TI_JSON_ARRAY,
    TI_JSON_OBJECT, TI_JSON_TYPE_COUNT
} ti_json_type;

typedef struct ti_json ti_json;

/* Parses text[0..len) (UTF-8; nesting depth limited to 64). On error returns TI_ERR_FORMAT
 * with the line, column and what was expected in ctx's message. Free with ti_json_free. */
ti_status ti_json_parse(ti_ctx *ctx, const char *text, size_t len, ti_json **out);
void ti_json_free(ti_json *v);

ti_json_type ti_json_typeof(const ti_json *v);
double ti_json_number(const ti_json *v);     /* 0 if not a number */
int ti_json_bool(const ti_json *v);          /* 0 if not a bool */
const char *ti_json_string(const ti_json *v); /* NULL if not a string; valid while v lives */
size_t ti_json_length(const ti_json *v);     /* elements of an array or members of an object */
const ti_json *ti_json_at(const ti_json *v, size_t i); /* i-th element / member value */
const char *ti_json_key_at(const ti_json *v, size_t i); /* i-th member key of an object */
const ti_json *ti_json_get(const ti_json *v, const char *key); /* NULL if absent */

/* The writer: values are appended to a growing buffer; commas and nesting are tracked. */
typedef struct ti_jw ti_jw;
ti_jw *ti_jw_new(void);
void ti_jw_free(ti_jw *w);
void ti_jw_begin_object(ti_jw *w);
void ti_jw_end_object(ti_jw *w);
void ti_jw_begin_array(ti_jw *w);
void ti_jw_end_array(ti_jw *w);
void ti_jw_key(ti_jw *w, const char *key);   /* inside an object, before each value */
void ti_jw_string(ti_jw *w, const char *s);
void ti_jw_number(ti_jw *w, double x);      /* shortest round-trip form; NaN/inf as null */
/* A float as the shortest decimal that reads back to the same float: a value the user gave
 * as 0.1 prints 0.1, not the double 0.10000000149011612 that the float widens to. */
void ti_jw_float(ti_jw *w, float x);
void ti_jw_int(ti_jw *w, long long x);
void ti_jw_bool(ti_jw *w, int b);
void ti_jw_null(ti_jw *w);
/* The text so far (valid until the next write); NULL if an allocation failed. */
const char *ti_jw_text(const ti_jw *w, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
