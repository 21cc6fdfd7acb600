/* JSON (RFC 8259): a recursive-descent parser into a small tree, and a writer into a growing
 * string. Strings are checked UTF-8, \uXXXX escapes (with surrogate pairs) become UTF-8, and
 * doubles are written in the shortest form that reads back to the same bits. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thinice/json.h"

#if defined(__SSE2__)
#include <xmmintrin.h>
/* thinice contexts turn on flush-to-zero and denormals-are-zero for speed; strtod and
 * comparisons would then read and write subnormal doubles as 0. Number conversion runs with
 * the IEEE default and restores the caller's mode. */
#define FP_EXACT_BEGIN unsigned int saved_csr_ = _mm_getcsr(); _mm_setcsr(saved_csr_ & ~0x8040u)
#define FP_EXACT_END _mm_setcsr(saved_csr_)
#else
#define FP_EXACT_BEGIN do {} while (0)
#define FP_EXACT_END do {} while (0)
#endif

#define JSON_MAX_DEPTH 64

struct ti_json {
    ti_json_type type;
    int b;              /* TI_JSON_BOOL */
    double num;         /* TI_JSON_NUMBER */
    char *str;          /* TI_JSON_STRING, NUL-terminated UTF-8 */
    size_t n, cap;      /* arrays and objects: count and capacity */
    ti_json **items;    /* element values / member values */
    char **keys;        /* object member keys (NULL for arrays) */
};

/* ---- parser ------------------------------------------------------------------------------ */

typedef struct parser {
    ti_ctx *ctx;
    const char *s;
    size_t len, pos;
    ti_status st;       /* first failure */
    char *sbuf;         /* reused buffer for decoding strings */
    size_t scap;
} parser;

/* Reports the first error, with its 1-based line and column (in bytes). */
static void perr(parser *p, size_t at, const char *fmt, const char *what)
{
    if (p->st != TI_OK)
        return;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char found[32];
    if (at >= p->len)
        snprintf(found, sizeof found, "end of input");
    else if ((unsigned char)p->s[at] >= 0x20 && (unsigned char)p->s[at] < 0x7f)
        snprintf(found, sizeof found, "'%c'", p->s[at]);
    else
        snprintf(found, sizeof found, "byte 0x%02x", (unsigned char)p->s[at]);
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    p->st = ti_ctx_error(p->ctx, TI_ERR_FORMAT, "JSON: line %zu, column %zu: %s (found %s)",
                         line, col, msg, found);
}

static void pnomem(parser *p)
{
    if (p->st == TI_OK)
        p->st = ti_ctx_error(p->ctx, TI_ERR_NOMEM, "JSON: out of memory");
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static ti_json *new_value(parser *p, ti_json_type t)
{
    ti_json *v = calloc(1, sizeof *v);
    if (!v)
        pnomem(p);
    else
        v->type = t;
    return v;
}

static int sbuf_put(parser *p, size_t *n, const char *bytes, size_t k)
{
    if (*n + k + 1 > p->scap) {
        size_t ncap = p->scap ? p->scap * 2 : 64;
        while (ncap < *n + k + 1)
            ncap *= 2;
        char *nb = realloc(p->sbuf, ncap);
        if (!nb) {
            pnomem(p);
            return 0;
        }
        p->sbuf = nb;
        p->scap = ncap;
    }
    memcpy(p->sbuf + *n, bytes, k);
    *n += k;
    return 1;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

static size_t utf8_encode(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the well-formed UTF-8 sequence at s[0..avail), or 0 if it is not one (overlong
 * forms, surrogates and code points above U+10FFFF are rejected, as RFC 3629 requires). */
static size_t utf8_valid(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t k;
    unsigned cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        k = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        k = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        k = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (avail < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

/* Parses a string at p->pos (which is at the opening quote); returns a malloc'd copy. */
static char *parse_string(parser *p)
{
    p->pos++; /* the opening quote */
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len) {
            perr(p, p->pos, "%s", "a closing '\"' (unterminated string)");
            return NULL;
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            perr(p, p->pos, "%s", "control character in a string (must be escaped)");
            return NULL;
        }
        if (c == '\\') {
            if (p->pos + 1 >= p->len) {
                perr(p, p->pos + 1, "%s", "escape sequence");
                return NULL;
            }
            char e = p->s[p->pos + 1], ch;
            switch (e) {
            case '"': ch = '"'; break;
            case '\\': ch = '\\'; break;
            case '/': ch = '/'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'u': ch = 0; break;
            default:
                perr(p, p->pos + 1, "%s", "a valid escape (one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
                return NULL;
            }
            if (e != 'u') {
                if (!sbuf_put(p, &n, &ch, 1))
                    return NULL;
                p->pos += 2;
                continue;
            }
            unsigned cp;
            if (p->pos + 6 > p->len || !hex4(p->s + p->pos + 2, &cp)) {
                perr(p, p->pos, "%s", "four hexadecimal digits after \\u");
                return NULL;
            }
            size_t esc_at = p->pos;
            p->pos += 6;
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                perr(p, esc_at, "%s", "a high surrogate before this low surrogate");
                return NULL;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* UTF-16 surrogate pair: the low half must follow at once */
                unsigned lo;
                if (p->pos + 6 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                    !hex4(p->s + p->pos + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                    perr(p, p->pos, "%s", "a \\u low surrogate after a high surrogate");
                    return NULL;
                }
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0) {
                /* the tree hands out C strings: an embedded NUL would silently cut them */
                perr(p, esc_at, "%s", "no \\u0000 (NUL characters are not supported)");
                return NULL;
            }
            char u[4];
            if (!sbuf_put(p, &n, u, utf8_encode(cp, u)))
                return NULL;
            continue;
        }
        size_t k = utf8_valid((const unsigned char *)p->s + p->pos, p->len - p->pos);
        if (k == 0) {
            perr(p, p->pos, "%s", "valid UTF-8 in a string");
            return NULL;
        }
        if (!sbuf_put(p, &n, p->s + p->pos, k))
            return NULL;
        p->pos += k;
    }
    char *out = malloc(n + 1);
    if (!out) {
        pnomem(p);
        return NULL;
    }
    if (n)
        memcpy(out, p->sbuf, n);
    out[n] = '\0';
    return out;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The JSON number grammar is checked here; strtod (C locale) then converts the span. */
static ti_json *parse_number(parser *p)
{
    size_t i = p->pos, start = p->pos;
    const char *s = p->s;
    if (i < p->len && s[i] == '-')
        i++;
    if (i < p->len && s[i] == '0') {
        i++;
    } else if (i < p->len && is_digit(s[i])) {
        while (i < p->len && is_digit(s[i]))
            i++;
    } else {
        perr(p, i, "%s", "a digit");
        return NULL;
    }
    if (i < p->len && s[i] == '.') {
        i++;
        if (i >= p->len || !is_digit(s[i])) {
            perr(p, i, "%s", "a digit after the decimal point");
            return NULL;
        }
        while (i < p->len && is_digit(s[i]))
            i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->len || !is_digit(s[i])) {
            perr(p, i, "%s", "a digit in the exponent");
            return NULL;
        }
        while (i < p->len && is_digit(s[i]))
            i++;
    }
    size_t k = i - start;
    char small[64], *tmp = k < sizeof small ? small : malloc(k + 1);
    if (!tmp) {
        pnomem(p);
        return NULL;
    }
    memcpy(tmp, s + start, k);
    tmp[k] = '\0';
    errno = 0;
    FP_EXACT_BEGIN;
    double x = strtod(tmp, NULL);
    FP_EXACT_END;
    int range = errno == ERANGE && isinf(x);
    if (tmp != small)
        free(tmp);
    if (range) {
        perr(p, start, "%s", "a number within the range of a double");
        return NULL;
    }
    ti_json *v = new_value(p, TI_JSON_NUMBER);
    if (v)
        v->num = x;
    p->pos = i;
    return v;
}

static int push_item(parser *p, ti_json *c, char *key, ti_json *item)
{
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 4;
        ti_json **ni = realloc(c->items, ncap * sizeof *ni);
        if (!ni) {
            pnomem(p);
            return 0;
        }
        c->items = ni;
        if (c->type == TI_JSON_OBJECT) {
            char **nk = realloc(c->keys, ncap * sizeof *nk);
            if (!nk) {
                pnomem(p);
                return 0;
            }
            c->keys = nk;
        }
        c->cap = ncap;
    }
    c->items[c->n] = item;
    if (c->type == TI_JSON_OBJECT)
        c->keys[c->n] = key;
    c->n++;
    return 1;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Duplicate member names make lookups ambiguous (and are a classic way to smuggle a second
 * definition into a header): rejected, found in O(n log n) by sorting a copy of the keys. */
static const char *find_duplicate_key(parser *p, const ti_json *o)
{
    if (o->n < 2)
        return NULL;
    char **k = malloc(o->n * sizeof *k);
    if (!k) {
        pnomem(p);
        return NULL;
    }
    memcpy(k, o->keys, o->n * sizeof *k);
    qsort(k, o->n, sizeof *k, cmp_keys);
    const char *dup = NULL;
    for (size_t i = 1; i < o->n && !dup; i++)
        if (strcmp(k[i - 1], k[i]) == 0)
            dup = k[i];
    free(k);
    return dup;
}

static ti_json *parse_value(parser *p, int depth);

static ti_json *parse_container(parser *p, int depth, int is_obj)
{
    size_t open_at = p->pos;
    if (depth >= JSON_MAX_DEPTH) {
        perr(p, open_at, "%s", "nesting no deeper than 64 levels");
        return NULL;
    }
    p->pos++; /* '[' or '{' */
    ti_json *c = new_value(p, is_obj ? TI_JSON_OBJECT : TI_JSON_ARRAY);
    if (!c)
        return NULL;
    char close = is_obj ? '}' : ']';
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return c;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(p);
        if (is_obj) {
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                perr(p, p->pos, "%s", "a member name in double quotes");
                goto fail;
            }
            key = parse_string(p);
            if (!key)
                goto fail;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                perr(p, p->pos, "%s", "':' after a member name");
                free(key);
                goto fail;
            }
            p->pos++;
        }
        ti_json *item = parse_value(p, depth + 1);
        if (!item) {
            free(key);
            goto fail;
        }
        if (!push_item(p, c, key, item)) {
            free(key);
            ti_json_free(item);
            goto fail;
        }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        perr(p, p->pos, "%s", is_obj ? "',' or '}' after an object member"
                                     : "',' or ']' after an array element");
        goto fail;
    }
    if (is_obj) {
        const char *dup = find_duplicate_key(p, c);
        if (dup) {
            char what[200];
            snprintf(what, sizeof what, "unique member names (\"%.100s\" appears twice in the "
                     "object opened here)", dup);
            perr(p, open_at, "%s", what);
            goto fail;
        }
        if (p->st != TI_OK)
            goto fail;
    }
    return c;
fail:
    ti_json_free(c);
    return NULL;
}

static int match_word(parser *p, const char *w)
{
    size_t k = strlen(w);
    if (p->len - p->pos >= k && memcmp(p->s + p->pos, w, k) == 0) {
        p->pos += k;
        return 1;
    }
    return 0;
}

static ti_json *parse_value(parser *p, int depth)
{
    skip_ws(p);
    if (p->pos >= p->len) {
        perr(p, p->pos, "%s", "a value");
        return NULL;
    }
    char c = p->s[p->pos];
    ti_json *v;
    switch (c) {
    case '{':
        return parse_container(p, depth, 1);
    case '[':
        return parse_container(p, depth, 0);
    case '"': {
        char *s = parse_string(p);
        if (!s)
            return NULL;
        v = new_value(p, TI_JSON_STRING);
        if (!v)
            free(s);
        else
            v->str = s;
        return v;
    }
    case 't':
    case 'f':
    case 'n':
        if (match_word(p, "true") || match_word(p, "false")) {
            v = new_value(p, TI_JSON_BOOL);
            if (v)
                v->b = c == 't';
            return v;
        }
        if (match_word(p, "null"))
            return new_value(p, TI_JSON_NULL);
        break;
    default:
        if (c == '-' || is_digit(c))
            return parse_number(p);
        break;
    }
    perr(p, p->pos, "%s", "a value (object, array, string, number, true, false or null)");
    return NULL;
}

ti_status ti_json_parse(ti_ctx *ctx, const char *text, size_t len, ti_json **out)
{
    if (!out || (!text && len))
        return ti_ctx_error(ctx, TI_ERR_ARG, "JSON: NULL argument");
    *out = NULL;
    parser p = {ctx, text ? text : "", len, 0, TI_OK, NULL, 0};
    ti_json *v = parse_value(&p, 0);
    if (v) {
        skip_ws(&p);
        if (p.pos < p.len) {
            perr(&p, p.pos, "%s", "the end of input after the value");
            ti_json_free(v);
            v = NULL;
        }
    }
    free(p.sbuf);
    if (!v)
        return p.st != TI_OK ? p.st : ti_ctx_error(ctx, TI_ERR_FORMAT, "JSON: parse failed");
    *out = v;
    return TI_OK;
}

void ti_json_free(ti_json *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        ti_json_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

ti_json_type ti_json_typeof(const ti_json *v)
{
    return v ? v->type : TI_JSON_NULL;
}

double ti_json_number(const ti_json *v)
{
    return v && v->type == TI_JSON_NUMBER ? v->num : 0.0;
}

int ti_json_bool(const ti_json *v)
{
    return v && v->type == TI_JSON_BOOL ? v->b : 0;
}

const char *ti_json_string(const ti_json *v)
{
    return v && v->type == TI_JSON_STRING ? v->str : NULL;
}

size_t ti_json_length(const ti_json *v)
{
    return v && (v->type == TI_JSON_ARRAY || v->type == TI_JSON_OBJECT) ? v->n : 0;
}

const ti_json *ti_json_at(const ti_json *v, size_t i)
{
    return i < ti_json_length(v) ? v->items[i] : NULL;
}

const char *ti_json_key_at(const ti_json *v, size_t i)
{
    return v && v->type == TI_JSON_OBJECT && i < v->n ? v->keys[i] : NULL;
}

const ti_json *ti_json_get(const ti_json *v, const char *key)
{
    if (!v || v->type != TI_JSON_OBJECT || !key)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0)
            return v->items[i];
    return NULL;
}

/* ---- writer ------------------------------------------------------------------------------ */

struct ti_jw {
    char *buf;
    size_t len, cap;
    int failed;           /* an allocation failed: the text is lost */
    int depth;
    int after_key;        /* the next value completes a member: no comma before it */
    unsigned char first[JSON_MAX_DEPTH + 1]; /* per level: nothing written yet */
};

ti_jw *ti_jw_new(void)
{
    ti_jw *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cap = 256;
    w->buf = malloc(w->cap);
    if (!w->buf) {
        free(w);
        return NULL;
    }
    w->buf[0] = '\0';
    w->first[0] = 1;
    return w;
}

void ti_jw_free(ti_jw *w)
{
    if (!w)
        return;
    free(w->buf);
    free(w);
}

static void put(ti_jw *w, const char *s, size_t k)
{
    if (w->failed)
        return;
    if (w->len + k + 1 > w->cap) {
        size_t ncap = w->cap * 2;
        while (ncap < w->len + k + 1)
            ncap *= 2;
        char *nb = realloc(w->buf, ncap);
        if (!nb) {
            w->failed = 1;
            return;
        }
        w->buf = nb;
        w->cap = ncap;
    }
    memcpy(w->buf + w->len, s, k);
    w->len += k;
    w->buf[w->len] = '\0';
}

static void puts_(ti_jw *w, const char *s)
{
    put(w, s, strlen(s));
}

/* Before every value or key: a comma unless it is the first in its container or the value
 * of a member whose key was just written. */
static void sep(ti_jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    int d = w->depth <= JSON_MAX_DEPTH ? w->depth : JSON_MAX_DEPTH;
    if (!w->first[d])
        put(w, ",", 1);
    w->first[d] = 0;
}

static void open_(ti_jw *w, char c)
{
    sep(w);
    put(w, &c, 1);
    w->depth++;
    if (w->depth <= JSON_MAX_DEPTH)
        w->first[w->depth] = 1;
}

static void close_(ti_jw *w, char c)
{
    put(w, &c, 1);
    if (w->depth > 0)
        w->depth--;
    w->after_key = 0;
}

void ti_jw_begin_object(ti_jw *w) { open_(w, '{'); }
void ti_jw_end_object(ti_jw *w) { close_(w, '}'); }
void ti_jw_begin_array(ti_jw *w) { open_(w, '['); }
void ti_jw_end_array(ti_jw *w) { close_(w, ']'); }

static void put_escaped(ti_jw *w, const char *s)
{
    put(w, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (esc) {
            put(w, run, (size_t)(s - run));
            puts_(w, esc);
            run = s + 1;
        }
    }
    put(w, run, (size_t)(s - run));
    put(w, "\"", 1);
}

void ti_jw_key(ti_jw *w, const char *key)
{
    sep(w);
    put_escaped(w, key ? key : "");
    put(w, ":", 1);
    w->after_key = 1;
}

void ti_jw_string(ti_jw *w, const char *s)
{
    if (!s) {
        ti_jw_null(w);
        return;
    }
    sep(w);
    put_escaped(w, s);
}

void ti_jw_number(ti_jw *w, double x)
{
    if (!isfinite(x)) {
        ti_jw_null(w);
        return;
    }
    /* the fewest significant digits (at most 17) that read back to the same double */
    char buf[40];
    FP_EXACT_BEGIN;
    if (x == floor(x) && fabs(x) < 1e15) {
        /* whole numbers read better as integers than as %g's "1e+02" (and are exact) */
        snprintf(buf, sizeof buf, "%.0f", x);
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, x);
            double y = strtod(buf, NULL);
            if (memcmp(&y, &x, sizeof x) == 0)
                break;
        }
    }
    FP_EXACT_END;
    sep(w);
    puts_(w, buf);
}

void ti_jw_float(ti_jw *w, float x)
{
    if (!isfinite(x)) {
        ti_jw_null(w);
        return;
    }
    char buf[40];
    FP_EXACT_BEGIN;
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x)
            break;
    }
    double d = strtod(buf, NULL);
    FP_EXACT_END;
    ti_jw_number(w, d);
}

void ti_jw_int(ti_jw *w, long long x)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", x);
    sep(w);
    puts_(w, buf);
}

void ti_jw_bool(ti_jw *w, int b)
{
    sep(w);
    puts_(w, b ? "true" : "false");
}

void ti_jw_null(ti_jw *w)
{
    sep(w);
    puts_(w, "null");
}

const char *ti_jw_text(const ti_jw *w, size_t *len)
{
    if (!w || w->failed) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = w->len;
    return w->buf;
}
