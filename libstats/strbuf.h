/* A growing text buffer with printf-style appends, shared by libstats' text writers (SVG,
 * tables). Internal to libstats. */
#ifndef THINICE_STRBUF_H
#define THINICE_STRBUF_H

#include <stddef.h>

typedef struct ti__sb {
    char *s;     /* NUL-terminated text so far (NULL before the first append) */
    size_t len, cap;
    int failed;  /* an allocation failed: later appends do nothing */
} ti__sb;

void ti__sb_printf(ti__sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text (ownership passes to the caller), or NULL (and the buffer freed) after a failure. */
char *ti__sb_take(ti__sb *b, size_t *len);

#endif
