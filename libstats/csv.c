/* A small CSV reader (RFC 4180 with a header row) for thinice-stats and the study: cells
 * kept as strings in one buffer, numbers parsed on request, errors with file and line. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct ti_stats_csv {
    char name[256];  /* file name for messages */
    char *text;      /* every cell, NUL-terminated, one after another */
    size_t text_len, text_cap;
    size_t *cell;    /* (nrows + 1, ncols) offsets into text; row 0 is the header */
    size_t ncell, cell_cap;
    long *line;      /* (nrows + 1) the line on which each row starts */
    size_t ncols, nrows;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int put_char(ti_stats_csv *c, char ch)
{
    if (grow((void **)&c->text, &c->text_cap, c->text_len + 1, 1))
        return -1;
    c->text[c->text_len++] = ch;
    return 0;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

void ti_stats_csv_free(ti_stats_csv *c)
{
    if (!c)
        return;
    free(c->text);
    free(c->cell);
    free(c->line);
    free(c);
}

/* The parser's position in the text. */
typedef struct cursor {
    const char *s;
    size_t len, pos;
    long line;
} cursor;

/* At a line end (LF, CRLF or a lone CR)? Consumes it and counts the line if so. */
static int eat_eol(cursor *cu)
{
    if (cu->pos >= cu->len)
        return 0;
    char ch = cu->s[cu->pos];
    if (ch == '\n') {
        cu->pos++;
    } else if (ch == '\r') {
        cu->pos++;
        if (cu->pos < cu->len && cu->s[cu->pos] == '\n')
            cu->pos++;
    } else {
        return 0;
    }
    cu->line++;
    return 1;
}

/* Parses one field at the cursor into c->text (NUL-terminated). Sets *quoted. Leaves the
 * cursor on the delimiter (',', a line end, or the end of the text). */
static ti_stats_status parse_field(ti_stats_csv *c, cursor *cu, int *quoted, ti_stats_err *err)
{
    const char *s = cu->s;
    size_t start_text = c->text_len;
    size_t p = cu->pos;
    while (p < cu->len && is_blank(s[p]))
        p++;
    *quoted = p < cu->len && s[p] == '"';
    if (*quoted) {
        long open_line = cu->line;
        p++;
        for (;;) {
            if (p >= cu->len)
                return ti_stats__fail(err, TI_STATS_ERR_FORMAT,
                                      "%s:%ld: unterminated quoted field (opened on line %ld)",
                                      c->name, cu->line, open_line);
            char ch = s[p];
            if (ch == '"') {
                if (p + 1 < cu->len && s[p + 1] == '"') { /* "" is a literal quote */
                    if (put_char(c, '"'))
                        goto nomem;
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            if (ch == '\0')
                return ti_stats__fail(err, TI_STATS_ERR_FORMAT, "%s:%ld: NUL byte in the text",
                                      c->name, cu->line);
            if (ch == '\n' || (ch == '\r' && !(p + 1 < cu->len && s[p + 1] == '\n')))
                cu->line++;
            if (put_char(c, ch))
                goto nomem;
            p++;
        }
        while (p < cu->len && is_blank(s[p]))
            p++;
        if (p < cu->len && s[p] != ',' && s[p] != '\n' && s[p] != '\r')
            return ti_stats__fail(err, TI_STATS_ERR_FORMAT,
                                  "%s:%ld: unexpected '%c' after a closing quote (a field "
                                  "is either fully quoted or not at all)",
                                  c->name, cu->line, s[p]);
    } else {
        p = cu->pos;
        while (p < cu->len && s[p] != ',' && s[p] != '\n' && s[p] != '\r') {
            if (s[p] == '"')
                return ti_stats__fail(err, TI_STATS_ERR_FORMAT,
                                      "%s:%ld: quote inside an unquoted field (quote the "
                                      "whole field and double the inner quotes)",
                                      c->name, cu->line);
            if (s[p] == '\0')
                return ti_stats__fail(err, TI_STATS_ERR_FORMAT, "%s:%ld: NUL byte in the text",
                                      c->name, cu->line);
            p++;
        }
        size_t a = cu->pos, b = p;
        while (a < b && is_blank(s[a]))
            a++;
        while (b > a && is_blank(s[b - 1]))
            b--;
        if (grow((void **)&c->text, &c->text_cap, c->text_len + (b - a) + 1, 1))
            goto nomem;
        memcpy(c->text + c->text_len, s + a, b - a);
        c->text_len += b - a;
    }
    if (put_char(c, '\0'))
        goto nomem;
    if (grow((void **)&c->cell, &c->cell_cap, c->ncell + 1, sizeof *c->cell))
        goto nomem;
    c->cell[c->ncell++] = start_text;
    cu->pos = p;
    return TI_STATS_OK;
nomem:
    return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "%s: out of memory", c->name);
}

static ti_stats_status parse(ti_stats_csv *c, const char *text, size_t len, ti_stats_err *err)
{
    cursor cu = {text, len, 0, 1};
    size_t line_cap = 0;
    size_t rows = 0; /* rows stored so far, header included */
    while (cu.pos < len) {
        long start_line = cu.line;
        size_t first_cell = c->ncell, first_text = c->text_len;
        size_t nf = 0;
        int quoted = 0;
        for (;;) {
            ti_stats_status s = parse_field(c, &cu, &quoted, err);
            if (s)
                return s;
            nf++;
            if (cu.pos < len && text[cu.pos] == ',') {
                cu.pos++;
                continue;
            }
            eat_eol(&cu);
            break;
        }
        /* a line with nothing on it: skip it */
        if (nf == 1 && !quoted && c->text[c->cell[first_cell]] == '\0') {
            c->ncell = first_cell;
            c->text_len = first_text;
            continue;
        }
        if (rows == 0) {
            c->ncols = nf;
        } else if (nf != c->ncols) {
            return ti_stats__fail(err, TI_STATS_ERR_FORMAT,
                                  "%s:%ld: %zu field%s, but the header has %zu", c->name,
                                  start_line, nf, nf == 1 ? "" : "s", c->ncols);
        }
        if (grow((void **)&c->line, &line_cap, rows + 1, sizeof *c->line))
            return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "%s: out of memory", c->name);
        c->line[rows++] = start_line;
    }
    if (rows == 0)
        return ti_stats__fail(err, TI_STATS_ERR_FORMAT, "%s: empty (no header row)", c->name);
    c->nrows = rows - 1;
    return TI_STATS_OK;
}

ti_stats_status ti_stats_csv_parse(const char *text, size_t len, const char *name,
                                   ti_stats_csv **out, ti_stats_err *err)
{
    if (!out || (!text && len))
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "csv: NULL argument");
    *out = NULL;
    ti_stats_csv *c = calloc(1, sizeof *c);
    if (!c)
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "csv: out of memory");
    snprintf(c->name, sizeof c->name, "%s", name ? name : "<csv>");
    /* a UTF-8 byte-order mark (spreadsheets write one) is not part of the first name */
    if (text && len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) {
        text += 3;
        len -= 3;
    }
    ti_stats_status s = parse(c, text ? text : "", len, err);
    if (s) {
        ti_stats_csv_free(c);
        return s;
    }
    *out = c;
    return TI_STATS_OK;
}

ti_stats_status ti_stats_csv_read(const char *path, ti_stats_csv **out, ti_stats_err *err)
{
    if (!path || !out)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "csv: NULL argument");
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ti_stats__fail(err, TI_STATS_ERR_IO, "cannot open '%s': %s", path,
                              strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (grow((void **)&buf, &cap, len + 65536, 1)) {
            free(buf);
            fclose(fp);
            return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "%s: out of memory", path);
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        return ti_stats__fail(err, TI_STATS_ERR_IO, "cannot read '%s'", path);
    }
    ti_stats_status s = ti_stats_csv_parse(buf, len, path, out, err);
    free(buf);
    return s;
}

size_t ti_stats_csv_ncols(const ti_stats_csv *c)
{
    return c ? c->ncols : 0;
}

size_t ti_stats_csv_nrows(const ti_stats_csv *c)
{
    return c ? c->nrows : 0;
}

const char *ti_stats_csv_colname(const ti_stats_csv *c, size_t col)
{
    if (!c || col >= c->ncols)
        return NULL;
    return c->text + c->cell[col];
}

long ti_stats_csv_find(const ti_stats_csv *c, const char *name)
{
    if (!c || !name)
        return -1;
    for (size_t j = 0; j < c->ncols; j++)
        if (strcmp(c->text + c->cell[j], name) == 0)
            return (long)j;
    return -1;
}

const char *ti_stats_csv_cell(const ti_stats_csv *c, size_t row, size_t col)
{
    if (!c || row >= c->nrows || col >= c->ncols)
        return NULL;
    return c->text + c->cell[(row + 1) * c->ncols + col];
}

long ti_stats_csv_line(const ti_stats_csv *c, size_t row)
{
    if (!c || row >= c->nrows)
        return 0;
    return c->line[row + 1];
}

ti_stats_status ti_stats_csv_number(const ti_stats_csv *c, size_t row, size_t col,
                                    double *out, ti_stats_err *err)
{
    if (!c || !out)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "csv: NULL argument");
    const char *cell = ti_stats_csv_cell(c, row, col);
    if (!cell)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "%s: no cell at row %zu, column %zu",
                              c->name, row, col);
    const char *name = ti_stats_csv_colname(c, col);
    long line = ti_stats_csv_line(c, row);
    if (cell[0] == '\0')
        return ti_stats__fail(err, TI_STATS_ERR_FORMAT, "%s:%ld: column '%s' is empty", c->name,
                              line, name);
    /* decimals, and infinity spelled out (an FMN distance where no adversarial example was
     * found); strtod would also take "nan" and hex floats */
    char *end;
    errno = 0;
    double v = strtod(cell, &end);
    const char *e2 = end;
    while (is_blank(*e2))
        e2++;
    size_t body = strspn(cell, " \t+-.0123456789eE");
    int word_inf = isinf(v) && strpbrk(cell, "iI");
    if (end == cell || *e2 != '\0' || (cell + body < end && !word_inf))
        return ti_stats__fail(err, v != v ? TI_STATS_ERR_NAN : TI_STATS_ERR_FORMAT,
                              "%s:%ld: column '%s': '%.40s' is not a decimal number", c->name,
                              line, name, cell);
    if ((isinf(v) && !word_inf) || (errno == ERANGE && fabs(v) > 1))
        return ti_stats__fail(err, TI_STATS_ERR_FORMAT, "%s:%ld: column '%s': '%.40s' is out of "
                              "a double's range", c->name, line, name, cell);
    *out = v;
    return TI_STATS_OK;
}

/* "a, b, c" (as many names as fit) for the message of an unknown column. */
static void list_columns(const ti_stats_csv *c, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < c->ncols && used + 1 < cap; j++) {
        int w = snprintf(buf + used, cap - used, "%s'%s'", j ? ", " : "", c->text + c->cell[j]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (used >= cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
}

ti_stats_status ti_stats_csv_column(const ti_stats_csv *c, const char *name, int skip_empty,
                                    double **out, size_t *n, ti_stats_err *err)
{
    if (!c || !name || !out || !n)
        return ti_stats__fail(err, TI_STATS_ERR_ARG, "csv: NULL argument");
    *out = NULL;
    *n = 0;
    long col = ti_stats_csv_find(c, name);
    if (col < 0) {
        char cols[300];
        list_columns(c, cols, sizeof cols);
        return ti_stats__fail(err, TI_STATS_ERR_COLUMN, "%s: no column '%s' (columns: %s)",
                              c->name, name, cols);
    }
    if (c->nrows == 0)
        return TI_STATS_OK;
    double *v = malloc(c->nrows * sizeof *v);
    if (!v)
        return ti_stats__fail(err, TI_STATS_ERR_NOMEM, "%s: out of memory", c->name);
    size_t k = 0;
    for (size_t r = 0; r < c->nrows; r++) {
        if (skip_empty && ti_stats_csv_cell(c, r, (size_t)col)[0] == '\0')
            continue;
        ti_stats_status s = ti_stats_csv_number(c, r, (size_t)col, &v[k], err);
        if (s) {
            free(v);
            return s;
        }
        k++;
    }
    if (k == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = k;
    return TI_STATS_OK;
}
