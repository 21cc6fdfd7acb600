/* safetensors reader and writer. The format (huggingface/safetensors, docs "Format"): u64
 * little-endian header size N, N bytes of JSON {name: {dtype, shape, data_offsets}, ...,
 * "__metadata__": {str: str}}, then the data section; offsets are relative to its start. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "thinice/fileio.h"
#include "thinice/json.h"
#include "thinice/safetensors.h"

/* The reference implementation refuses headers above 100 MB; so do we (a corrupt length
 * field would otherwise ask for an absurd allocation). */
#define ST_MAX_HEADER (100u * 1000u * 1000u)
#define ST_MAX_DIMS 8

static const char *const dtype_names[TI_DTYPE_COUNT] = {
    [TI_DTYPE_F32] = "F32", [TI_DTYPE_F64] = "F64", [TI_DTYPE_F16] = "F16",
    [TI_DTYPE_BF16] = "BF16", [TI_DTYPE_I64] = "I64", [TI_DTYPE_I32] = "I32",
    [TI_DTYPE_U8] = "U8", [TI_DTYPE_BOOL] = "BOOL",
};
static const size_t dtype_sizes[TI_DTYPE_COUNT] = {4, 8, 2, 2, 8, 4, 1, 1};

/* dtypes the format defines but thinice does not convert */
static const char *const other_dtypes[] = {"I8", "I16", "U16", "U32", "U64", "F8_E4M3",
                                           "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2",
                                           "C64"};

const char *ti_dtype_name(ti_dtype d)
{
    return (unsigned)d < TI_DTYPE_COUNT ? dtype_names[d] : "?";
}

size_t ti_dtype_size(ti_dtype d)
{
    return (unsigned)d < TI_DTYPE_COUNT ? dtype_sizes[d] : 0;
}

static int host_is_le(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* ---- reader ------------------------------------------------------------------------------ */

struct ti_st_file {
    char *path;
    char *buf;                  /* the whole file */
    size_t len;
    const unsigned char *data;  /* the data section: buf + 8 + N */
    size_t data_len;
    ti_json *hdr;               /* entry names and metadata point into it */
    const ti_json *meta;        /* "__metadata__" or NULL */
    ti_st_entry *e;
    int n;
};

void ti_st_close(ti_st_file *f)
{
    if (!f)
        return;
    free(f->path);
    free(f->buf);
    ti_json_free(f->hdr);
    free(f->e);
    free(f);
}

int ti_st_count(const ti_st_file *f)
{
    return f ? f->n : 0;
}

const ti_st_entry *ti_st_entry_at(const ti_st_file *f, int i)
{
    return f && i >= 0 && i < f->n ? &f->e[i] : NULL;
}

const ti_st_entry *ti_st_find(const ti_st_file *f, const char *name)
{
    if (!f || !name)
        return NULL;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->e[i].name, name) == 0)
            return &f->e[i];
    return NULL;
}

const char *ti_st_metadata(const ti_st_file *f, const char *key)
{
    return f ? ti_json_string(ti_json_get(f->meta, key)) : NULL;
}

/* A JSON number that is a whole number in [0, 2^53] (exact in a double). */
static int json_uint(const ti_json *v, uint64_t *out)
{
    if (ti_json_typeof(v) != TI_JSON_NUMBER)
        return 0;
    double x = ti_json_number(v);
    if (!(x >= 0 && x <= 9007199254740992.0) || floor(x) != x)
        return 0;
    *out = (uint64_t)x;
    return 1;
}

/* Fills e from the header member `name`; returns TI_OK or a format error naming both. */
static ti_status parse_entry(ti_ctx *ctx, const ti_st_file *f, const char *name,
                             const ti_json *v, ti_st_entry *e)
{
    const char *p = f->path;
    if (ti_json_typeof(v) != TI_JSON_OBJECT)
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: tensor \"%s\": header entry is not an object",
                            p, name);
    memset(e, 0, sizeof *e);
    e->name = name;
    const char *dt = ti_json_string(ti_json_get(v, "dtype"));
    if (!dt)
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: tensor \"%s\": missing or non-string \"dtype\"",
                            p, name);
    int d = 0;
    while (d < TI_DTYPE_COUNT && strcmp(dt, dtype_names[d]) != 0)
        d++;
    if (d == TI_DTYPE_COUNT) {
        for (size_t i = 0; i < sizeof other_dtypes / sizeof *other_dtypes; i++)
            if (strcmp(dt, other_dtypes[i]) == 0)
                return ti_ctx_error(ctx, TI_ERR_UNSUPPORTED, "%s: tensor \"%s\": dtype %s is "
                                    "valid safetensors but not supported by thinice", p, name, dt);
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%.40s\"", p,
                            name, dt);
    }
    e->dtype = (ti_dtype)d;
    const ti_json *shape = ti_json_get(v, "shape");
    if (ti_json_typeof(shape) != TI_JSON_ARRAY)
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: tensor \"%s\": missing or non-array \"shape\"",
                            p, name);
    size_t ndim = ti_json_length(shape);
    if (ndim > ST_MAX_DIMS)
        return ti_ctx_error(ctx, TI_ERR_UNSUPPORTED, "%s: tensor \"%s\": %zu dimensions (at most "
                            "%d supported)", p, name, ndim, ST_MAX_DIMS);
    e->ndim = (int)ndim;
    /* nelem overflow: every factor is checked against what can still fit in a size_t */
    size_t nelem = 1;
    int overflow = 0;
    for (size_t i = 0; i < ndim; i++) {
        uint64_t s;
        if (!json_uint(ti_json_at(shape, i), &s))
            return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: tensor \"%s\": shape[%zu] is not a "
                                "non-negative integer", p, name, i);
        e->shape[i] = (int64_t)s;
        if (s != 0 && nelem > SIZE_MAX / dtype_sizes[d] / s)
            overflow = 1;
        else
            nelem *= (size_t)s;
    }
    if (nelem == 0)
        overflow = 0;
    const ti_json *off = ti_json_get(v, "data_offsets");
    uint64_t b, end;
    if (ti_json_typeof(off) != TI_JSON_ARRAY || ti_json_length(off) != 2 ||
        !json_uint(ti_json_at(off, 0), &b) || !json_uint(ti_json_at(off, 1), &end))
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: tensor \"%s\": \"data_offsets\" must be an "
                            "array of two non-negative integers", p, name);
    if (b > end)
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] "
                            "end before they begin", p, name, (unsigned long long)b,
                            (unsigned long long)end);
    if (end > f->data_len)
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] lie "
                            "outside the data section (%zu bytes; file truncated?)", p, name,
                            (unsigned long long)b, (unsigned long long)end, f->data_len);
    if (overflow || (uint64_t)nelem * dtype_sizes[d] != end - b)
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: tensor \"%s\": shape and dtype %s need %s%zu "
                            "bytes but data_offsets [%llu, %llu] give %llu", p, name, dt,
                            overflow ? "more than " : "", overflow ? SIZE_MAX : nelem * dtype_sizes[d],
                            (unsigned long long)b, (unsigned long long)end,
                            (unsigned long long)(end - b));
    e->nelem = nelem;
    e->offset = (size_t)b;
    e->nbytes = (size_t)(end - b);
    return TI_OK;
}

static int cmp_offset(const void *a, const void *b)
{
    const ti_st_entry *x = *(const ti_st_entry *const *)a, *y = *(const ti_st_entry *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sorted by start, two ranges overlap iff one starts before the previous one ends. Empty
 * tensors occupy no bytes and overlap nothing. */
static ti_status check_overlaps(ti_ctx *ctx, ti_st_file *f)
{
    if (f->n < 2)
        return TI_OK;
    const ti_st_entry **s = malloc((size_t)f->n * sizeof *s);
    if (!s)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", f->path);
    int m = 0;
    for (int i = 0; i < f->n; i++)
        if (f->e[i].nbytes > 0)
            s[m++] = &f->e[i];
    qsort(s, (size_t)m, sizeof *s, cmp_offset);
    ti_status st = TI_OK;
    for (int i = 1; i < m && st == TI_OK; i++)
        if (s[i]->offset < s[i - 1]->offset + s[i - 1]->nbytes)
            st = ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: tensors \"%s\" [%zu, %zu) and \"%s\" [%zu, "
                              "%zu) overlap in the data section", f->path, s[i - 1]->name,
                              s[i - 1]->offset, s[i - 1]->offset + s[i - 1]->nbytes, s[i]->name,
                              s[i]->offset, s[i]->offset + s[i]->nbytes);
    free(s);
    return st;
}

static ti_status validate(ti_ctx *ctx, ti_st_file *f)
{
    const char *p = f->path;
    if (f->len < 8)
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: %zu bytes, too short for the 8-byte header "
                            "length of a safetensors file", p, f->len);
    const unsigned char *u = (const unsigned char *)f->buf;
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--)
        hn = hn << 8 | u[i];
    if (hn > f->len - 8)
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: header length %llu exceeds the %zu bytes "
                            "that follow it (truncated, or not a safetensors file)", p,
                            (unsigned long long)hn, f->len - 8);
    if (hn > ST_MAX_HEADER)
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: header length %llu is above the 100 MB "
                            "limit", p, (unsigned long long)hn);
    if (hn < 2 || f->buf[8] != '{')
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: the header does not start with a JSON "
                            "object ('{')", p);
    f->data = u + 8 + hn;
    f->data_len = f->len - 8 - (size_t)hn;
    ti_status st = ti_json_parse(ctx, f->buf + 8, (size_t)hn, &f->hdr);
    if (st != TI_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ti_ctx_errmsg(ctx));
        return ti_ctx_error(ctx, st, "%s: header: %s", p, msg);
    }
    if (ti_json_typeof(f->hdr) != TI_JSON_OBJECT)
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: the header is not a JSON object", p);
    size_t nmem = ti_json_length(f->hdr);
    f->e = calloc(nmem ? nmem : 1, sizeof *f->e);
    if (!f->e)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", p);
    for (size_t i = 0; i < nmem; i++) {
        const char *name = ti_json_key_at(f->hdr, i);
        const ti_json *v = ti_json_at(f->hdr, i);
        if (strcmp(name, "__metadata__") == 0) {
            if (ti_json_typeof(v) != TI_JSON_OBJECT)
                return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: \"__metadata__\" is not an object", p);
            for (size_t k = 0; k < ti_json_length(v); k++)
                if (ti_json_typeof(ti_json_at(v, k)) != TI_JSON_STRING)
                    return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: \"__metadata__\" value of "
                                        "\"%s\" is not a string", p, ti_json_key_at(v, k));
            f->meta = v;
            continue;
        }
        st = parse_entry(ctx, f, name, v, &f->e[f->n]);
        if (st != TI_OK)
            return st;
        f->n++;
    }
    return check_overlaps(ctx, f);
}

ti_status ti_st_open(ti_ctx *ctx, const char *path, ti_st_file **out)
{
    if (!path || !out)
        return ti_ctx_error(ctx, TI_ERR_ARG, "safetensors: NULL argument");
    *out = NULL;
    ti_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", path);
    }
    ti_status st = ti_read_file(ctx, path, &f->buf, &f->len);
    if (st == TI_OK)
        st = validate(ctx, f);
    if (st != TI_OK) {
        ti_st_close(f);
        return st;
    }
    *out = f;
    return TI_OK;
}

static uint64_t load_le(const unsigned char *p, int k)
{
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* IEEE half to single, by bits (exact for every half value, subnormals included). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, ex = h >> 10 & 0x1f, man = h & 0x3ff, bits;
    float f;
    if (ex == 0) {
        f = ldexpf((float)man, -24); /* zero or subnormal: man * 2^-24, a normal float */
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else if (ex == 31) {
        bits = sign | 0x7f800000u | man << 13; /* inf or NaN */
    } else {
        bits = sign | (ex + 127 - 15) << 23 | man << 13;
    }
    memcpy(&f, &bits, 4);
    return f;
}

ti_status ti_st_read_f32(ti_ctx *ctx, const ti_st_file *f, const ti_st_entry *e, float *dst)
{
    if (!f || !e || (!dst && e->nelem))
        return ti_ctx_error(ctx, TI_ERR_ARG, "safetensors: NULL argument");
    const unsigned char *src = f->data + e->offset;
    size_t n = e->nelem;
    if (n == 0)
        return TI_OK;
    switch (e->dtype) {
    case TI_DTYPE_F32:
        if (host_is_le()) {
            memcpy(dst, src, n * 4);
        } else {
            for (size_t i = 0; i < n; i++) {
                uint32_t b = (uint32_t)load_le(src + 4 * i, 4);
                memcpy(&dst[i], &b, 4);
            }
        }
        break;
    case TI_DTYPE_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t b = load_le(src + 8 * i, 8);
            double x;
            memcpy(&x, &b, 8);
            dst[i] = (float)x; /* beyond float range becomes inf, caught below */
        }
        break;
    case TI_DTYPE_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = half_to_float((uint16_t)load_le(src + 2 * i, 2));
        break;
    case TI_DTYPE_BF16:
        /* bfloat16 is the top half of a float32 */
        for (size_t i = 0; i < n; i++) {
            uint32_t b = (uint32_t)load_le(src + 2 * i, 2) << 16;
            memcpy(&dst[i], &b, 4);
        }
        break;
    case TI_DTYPE_I64:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)(int64_t)load_le(src + 8 * i, 8);
        break;
    case TI_DTYPE_I32:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)(int32_t)(uint32_t)load_le(src + 4 * i, 4);
        break;
    case TI_DTYPE_U8:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)src[i];
        break;
    case TI_DTYPE_BOOL:
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i] ? 1.0f : 0.0f;
        break;
    default:
        return ti_ctx_error(ctx, TI_ERR_UNSUPPORTED, "%s: tensor \"%s\": unsupported dtype",
                            f->path, e->name);
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i]))
            return ti_ctx_error(ctx, TI_ERR_NAN, "%s: tensor \"%s\": element %zu is %s", f->path,
                                e->name, i, isnan(dst[i]) ? "NaN" : "infinite (or out of float "
                                "range)");
    return TI_OK;
}

/* ---- writer ------------------------------------------------------------------------------ */

typedef struct wentry {
    char *name;
    ti_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nelem;
    const void *data; /* borrowed */
} wentry;

struct ti_st_writer {
    wentry *e;
    int n, cap;
    char **mkey, **mval;
    int nm, mcap;
    ti_status err;      /* first failure of an add, reported again by ti_st_write */
    char errmsg[256];
};

ti_st_writer *ti_st_writer_new(void)
{
    return calloc(1, sizeof(ti_st_writer));
}

void ti_st_writer_free(ti_st_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        free(w->e[i].name);
    for (int i = 0; i < w->nm; i++) {
        free(w->mkey[i]);
        free(w->mval[i]);
    }
    free(w->e);
    free(w->mkey);
    free(w->mval);
    free(w);
}

static ti_status wfail(ti_st_writer *w, ti_status s, const char *msg, const char *name)
{
    if (w->err == TI_OK) {
        w->err = s;
        snprintf(w->errmsg, sizeof w->errmsg, "%s \"%.120s\"", msg, name ? name : "(null)");
    }
    return s;
}

static ti_status add_tensor(ti_st_writer *w, ti_dtype dt, const char *name, int ndim,
                            const int64_t *shape, const void *data)
{
    if (!w)
        return TI_ERR_ARG;
    if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
        return wfail(w, TI_ERR_ARG, "safetensors writer: invalid tensor name", name);
    if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim > 0 && !shape))
        return wfail(w, TI_ERR_ARG, "safetensors writer: bad number of dimensions for", name);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return wfail(w, TI_ERR_ARG, "safetensors writer: duplicate tensor name", name);
    size_t nelem = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return wfail(w, TI_ERR_ARG, "safetensors writer: negative dimension in", name);
        nelem *= (size_t)shape[i];
    }
    if (nelem > 0 && !data)
        return wfail(w, TI_ERR_ARG, "safetensors writer: NULL data for", name);
    if (w->n == w->cap) {
        int ncap = w->cap ? w->cap * 2 : 16;
        wentry *ne = realloc(w->e, (size_t)ncap * sizeof *ne);
        if (!ne)
            return wfail(w, TI_ERR_NOMEM, "safetensors writer: out of memory adding", name);
        w->e = ne;
        w->cap = ncap;
    }
    wentry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return wfail(w, TI_ERR_NOMEM, "safetensors writer: out of memory adding", name);
    e->dtype = dt;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        e->shape[i] = shape[i];
    e->nelem = nelem;
    e->data = data;
    w->n++;
    return TI_OK;
}

ti_status ti_st_add_f32(ti_st_writer *w, const char *name, int ndim, const int64_t *shape,
                        const float *data)
{
    return add_tensor(w, TI_DTYPE_F32, name, ndim, shape, data);
}

ti_status ti_st_add_i64(ti_st_writer *w, const char *name, int ndim, const int64_t *shape,
                        const int64_t *data)
{
    return add_tensor(w, TI_DTYPE_I64, name, ndim, shape, data);
}

ti_status ti_st_add_bool(ti_st_writer *w, const char *name, int ndim, const int64_t *shape,
                         const uint8_t *data)
{
    return add_tensor(w, TI_DTYPE_BOOL, name, ndim, shape, data);
}

ti_status ti_st_add_metadata(ti_st_writer *w, const char *key, const char *value)
{
    if (!w)
        return TI_ERR_ARG;
    if (!key || !value)
        return wfail(w, TI_ERR_ARG, "safetensors writer: NULL metadata key or value for", key);
    for (int i = 0; i < w->nm; i++)
        if (strcmp(w->mkey[i], key) == 0) {
            char *v = strdup(value);
            if (!v)
                return wfail(w, TI_ERR_NOMEM, "safetensors writer: out of memory for", key);
            free(w->mval[i]);
            w->mval[i] = v;
            return TI_OK;
        }
    if (w->nm == w->mcap) {
        int ncap = w->mcap ? w->mcap * 2 : 8;
        char **nk = realloc(w->mkey, (size_t)ncap * sizeof *nk);
        if (nk)
            w->mkey = nk;
        char **nv = nk ? realloc(w->mval, (size_t)ncap * sizeof *nv) : NULL;
        if (!nv)
            return wfail(w, TI_ERR_NOMEM, "safetensors writer: out of memory for", key);
        w->mval = nv;
        w->mcap = ncap;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return wfail(w, TI_ERR_NOMEM, "safetensors writer: out of memory for", key);
    }
    w->mkey[w->nm] = k;
    w->mval[w->nm] = v;
    w->nm++;
    return TI_OK;
}

/* Writes n elements of k bytes each in little-endian order. */
static int write_le(FILE *fp, const void *data, size_t n, int k)
{
    if (host_is_le())
        return fwrite(data, (size_t)k, n, fp) == n;
    unsigned char buf[4096];
    const unsigned char *s = data;
    size_t per = sizeof buf / (size_t)k;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        for (size_t j = 0; j < m; j++)
            for (int b = 0; b < k; b++)
                buf[j * (size_t)k + (size_t)b] = s[(i + j) * (size_t)k + (size_t)(k - 1 - b)];
        if (fwrite(buf, (size_t)k, m, fp) != m)
            return 0;
    }
    return 1;
}

ti_status ti_st_write(ti_ctx *ctx, ti_st_writer *w, const char *path)
{
    if (!w || !path)
        return ti_ctx_error(ctx, TI_ERR_ARG, "safetensors writer: NULL argument");
    if (w->err != TI_OK)
        return ti_ctx_error(ctx, w->err, "%s: not written: %s", path, w->errmsg);
    ti_jw *j = ti_jw_new();
    if (!j)
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", path);
    ti_jw_begin_object(j);
    if (w->nm > 0) {
        ti_jw_key(j, "__metadata__");
        ti_jw_begin_object(j);
        for (int i = 0; i < w->nm; i++) {
            ti_jw_key(j, w->mkey[i]);
            ti_jw_string(j, w->mval[i]);
        }
        ti_jw_end_object(j);
    }
    size_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const wentry *e = &w->e[i];
        size_t nb = e->nelem * dtype_sizes[e->dtype];
        ti_jw_key(j, e->name);
        ti_jw_begin_object(j);
        ti_jw_key(j, "dtype");
        ti_jw_string(j, dtype_names[e->dtype]);
        ti_jw_key(j, "shape");
        ti_jw_begin_array(j);
        for (int d = 0; d < e->ndim; d++)
            ti_jw_int(j, (long long)e->shape[d]);
        ti_jw_end_array(j);
        ti_jw_key(j, "data_offsets");
        ti_jw_begin_array(j);
        ti_jw_int(j, (long long)off);
        ti_jw_int(j, (long long)(off + nb));
        ti_jw_end_array(j);
        ti_jw_end_object(j);
        off += nb;
    }
    ti_jw_end_object(j);
    size_t hlen;
    const char *htext = ti_jw_text(j, &hlen);
    if (!htext) {
        ti_jw_free(j);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    /* pad with spaces so that the data section starts 8-byte aligned, as the reference
     * implementation does (JSON ignores trailing white space) */
    size_t pad = (8 - hlen % 8) % 8;
    uint64_t total = hlen + pad;
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (unsigned char)(total >> (8 * i));
    ti_afile af;
    ti_status st = ti_afile_open(ctx, &af, path);
    if (st != TI_OK) {
        ti_jw_free(j);
        return st;
    }
    int ok = fwrite(lenb, 1, 8, af.fp) == 8 && fwrite(htext, 1, hlen, af.fp) == hlen &&
             fwrite("        ", 1, pad, af.fp) == pad;
    ti_jw_free(j);
    for (int i = 0; ok && i < w->n; i++)
        if (w->e[i].nelem > 0)
            ok = write_le(af.fp, w->e[i].data, w->e[i].nelem, (int)dtype_sizes[w->e[i].dtype]);
    if (!ok) {
        ti_afile_abort(&af);
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: write failed (the file was left unchanged)", path);
    }
    return ti_afile_commit(ctx, &af);
}
