/* The protobuf wire format (developers.google.com/protocol-buffers/docs/encoding) decoded by
 * hand for the few ONNX messages a CNN needs: ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, ValueInfoProto (field numbers from onnx.proto, ONNX 1.12).
 * Every length is checked against what is left before it is used, so a truncated or garbage
 * file is an error message with a byte offset, never a read past the buffer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* ---- an arena for the decoded messages ------------------------------------------------ */

typedef struct ablock {
    struct ablock *next;
    size_t used, cap;
    _Alignas(16) unsigned char mem[];
} ablock;

struct ti__ox_arena {
    ablock *head;
};

static void *arena_alloc(ti__ox_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > ((size_t)64 << 10) ? n : ((size_t)64 << 10);
        ablock *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = a->head->mem + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(ti__ox_arena *a)
{
    if (!a)
        return;
    for (ablock *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(a);
}

/* ---- the wire format ------------------------------------------------------------------- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct dec {
    ti_ctx *ctx;
    const char *what;         /* file name for messages */
    const uint8_t *base;      /* start of the buffer, for byte offsets */
    ti__ox_arena *a;
    ti_status st;             /* first error */
} dec;

typedef struct span {
    const uint8_t *p, *end;
} span;

/* One field: its number, wire type, the value of scalar types and the payload of WT_LEN. */
typedef struct field {
    uint32_t num;
    int wt;
    uint64_t v;
    span sub;
    const uint8_t *at;        /* where the field's tag starts */
} field;

static ti_status bad(dec *d, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ti_status bad(dec *d, const uint8_t *at, const char *fmt, ...)
{
    if (d->st != TI_OK)
        return d->st;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->st = ti_ctx_error(d->ctx, TI_ERR_FORMAT, "%s: not a valid ONNX file: %s (at byte %zu)",
                         d->what, msg, (size_t)(at - d->base));
    return d->st;
}

static ti_status nomem(dec *d)
{
    if (d->st == TI_OK)
        d->st = ti_ctx_error(d->ctx, TI_ERR_NOMEM, "%s: out of memory while decoding", d->what);
    return d->st;
}

/* A base-128 varint of at most 10 bytes; 0 on success. */
static int get_varint(span *s, uint64_t *v)
{
    uint64_t r = 0;
    for (int i = 0; i < 10; i++) {
        if (s->p >= s->end)
            return -1;
        uint8_t b = *s->p++;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Reads the next field of s into f. Returns 1 on a field, 0 at the end, -1 on an error
 * (recorded in d), naming `msg`, the message being decoded. */
static int next_field(dec *d, span *s, field *f, const char *msg)
{
    if (d->st != TI_OK)
        return -1;
    if (s->p >= s->end)
        return 0;
    f->at = s->p;
    uint64_t tag;
    if (get_varint(s, &tag) != 0)
        return bad(d, f->at, "%s: truncated field tag", msg), -1;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (int)(tag & 7);
    if (f->num == 0 || tag >> 3 > 0x1fffffff)
        return bad(d, f->at, "%s: field number %llu is invalid", msg,
                   (unsigned long long)(tag >> 3)), -1;
    switch (f->wt) {
    case WT_VARINT:
        if (get_varint(s, &f->v) != 0)
            return bad(d, f->at, "%s: field %u: truncated varint", msg, f->num), -1;
        return 1;
    case WT_I64:
        if (s->end - s->p < 8)
            return bad(d, f->at, "%s: field %u: truncated 8-byte value", msg, f->num), -1;
        f->v = le(s->p, 8);
        s->p += 8;
        return 1;
    case WT_I32:
        if (s->end - s->p < 4)
            return bad(d, f->at, "%s: field %u: truncated 4-byte value", msg, f->num), -1;
        f->v = le(s->p, 4);
        s->p += 4;
        return 1;
    case WT_LEN: {
        uint64_t n;
        if (get_varint(s, &n) != 0)
            return bad(d, f->at, "%s: field %u: truncated length", msg, f->num), -1;
        if (n > (uint64_t)(s->end - s->p))
            return bad(d, f->at,
                       "%s: field %u claims %llu bytes but only %zu are left (truncated file?)",
                       msg, f->num, (unsigned long long)n, (size_t)(s->end - s->p)), -1;
        f->sub.p = s->p;
        f->sub.end = s->p + n;
        s->p += n;
        return 1;
    }
    default:
        return bad(d, f->at, "%s: field %u has wire type %d, which ONNX never uses (garbage?)",
                   msg, f->num, f->wt), -1;
    }
}

static const char *wt_name(int wt)
{
    switch (wt) {
    case WT_VARINT: return "varint";
    case WT_I64: return "64-bit";
    case WT_LEN: return "length-delimited";
    case WT_I32: return "32-bit";
    default: return "unknown";
    }
}

/* The field must have wire type wt; otherwise an error naming message and field. */
static int expect(dec *d, const field *f, int wt, const char *msg, const char *name)
{
    if (f->wt == wt)
        return 1;
    bad(d, f->at, "%s.%s (field %u) has wire type %s, expected %s", msg, name, f->num,
        wt_name(f->wt), wt_name(wt));
    return 0;
}

static const char *get_string(dec *d, const field *f)
{
    size_t n = (size_t)(f->sub.end - f->sub.p);
    char *s = arena_alloc(d->a, n + 1);
    if (!s) {
        nomem(d);
        return "";
    }
    memcpy(s, f->sub.p, n);
    s[n] = '\0';
    return s;
}

/* Repeated integers come unpacked (one varint field each) or packed (one length-delimited
 * field of varints); both must be accepted (protobuf's rule for parsers). count_ints counts
 * the values of one field occurrence, get_ints appends them. */
static int count_ints(dec *d, const field *f, const char *msg, size_t *count)
{
    if (f->wt == WT_VARINT) {
        (*count)++;
        return 1;
    }
    if (f->wt != WT_LEN)
        return expect(d, f, WT_VARINT, msg, "ints");
    span s = f->sub;
    uint64_t v;
    while (s.p < s.end) {
        if (get_varint(&s, &v) != 0)
            return bad(d, f->at, "%s: truncated packed integer list", msg), 0;
        (*count)++;
    }
    return 1;
}

static void get_ints(const field *f, int64_t *dst, size_t *k)
{
    if (f->wt == WT_VARINT) {
        dst[(*k)++] = (int64_t)f->v;
        return;
    }
    span s = f->sub;
    uint64_t v;
    while (s.p < s.end && get_varint(&s, &v) == 0)
        dst[(*k)++] = (int64_t)v;
}

/* Repeated floats: unpacked (32-bit fields) or packed (4 bytes each). */
static int count_floats(dec *d, const field *f, const char *msg, size_t *count)
{
    if (f->wt == WT_I32) {
        (*count)++;
        return 1;
    }
    if (f->wt != WT_LEN)
        return expect(d, f, WT_I32, msg, "floats");
    size_t n = (size_t)(f->sub.end - f->sub.p);
    if (n % 4)
        return bad(d, f->at, "%s: packed float list of %zu bytes (not a multiple of 4)", msg,
                   n), 0;
    *count += n / 4;
    return 1;
}

static float f32_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static void get_floats(const field *f, float *dst, size_t *k)
{
    if (f->wt == WT_I32) {
        dst[(*k)++] = f32_of((uint32_t)f->v);
        return;
    }
    for (const uint8_t *p = f->sub.p; p < f->sub.end; p += 4)
        dst[(*k)++] = f32_of((uint32_t)le(p, 4));
}

/* ---- TensorProto ------------------------------------------------------------------------ */

static size_t dtype_size(int dt)
{
    switch (dt) {
    case OX_DT_FLOAT: case OX_DT_INT32: return 4;
    case OX_DT_INT64: case OX_DT_DOUBLE: return 8;
    default: return 0;
    }
}

static int decode_tensor(dec *d, span s, ti__ox_tensor *t)
{
    const char *M = "TensorProto";
    field f;
    int r;
    size_t nd = 0;
    int external = 0;
    t->msg = s.p;
    t->msg_len = (size_t)(s.end - s.p);
    t->name = "";
    span s2 = s;
    /* pass 1: the number of dims (they may come packed or not) */
    while ((r = next_field(d, &s2, &f, M)) == 1)
        if (f.num == 1 && !count_ints(d, &f, "TensorProto.dims", &nd))
            return 0;
    if (r < 0)
        return 0;
    if (nd > OX_MAX_DIMS)
        return bad(d, s.p, "tensor with %zu dimensions (at most %d)", nd, OX_MAX_DIMS), 0;
    t->ndim = (int)nd;
    size_t k = 0;
    while ((r = next_field(d, &s, &f, M)) == 1) {
        switch (f.num) {
        case 1: get_ints(&f, t->dims, &k); break;
        case 2:
            if (!expect(d, &f, WT_VARINT, M, "data_type"))
                return 0;
            t->dtype = (int)f.v;
            break;
        case 3: return bad(d, f.at, "segmented tensors are not supported"), 0;
        case 8:
            if (!expect(d, &f, WT_LEN, M, "name"))
                return 0;
            t->name = get_string(d, &f);
            break;
        case 14:
            if (!expect(d, &f, WT_VARINT, M, "data_location"))
                return 0;
            external = f.v == 1;
            break;
        default: break; /* data fields are read by ti__ox_tensor_read_*; others are skipped */
        }
    }
    if (r < 0)
        return 0;
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->dims[i] < 0 || t->dims[i] > ((int64_t)1 << 40))
            return bad(d, s.end, "tensor '%s' has dimension %d of size %lld", t->name, i,
                       (long long)t->dims[i]), 0;
        if (t->dims[i] && n > ((size_t)1 << 40) / (size_t)t->dims[i])
            return bad(d, s.end, "tensor '%s' is too large", t->name), 0;
        n *= (size_t)t->dims[i];
    }
    t->n = n;
    /* the element types thinice reads: each element takes at least one byte of this message
     * (a varint), so a larger count is a lie, refused before it sizes the constant block;
     * data kept in an external file cannot be read at all */
    if (dtype_size(t->dtype) && external) {
        if (d->st == TI_OK)
            d->st = ti_ctx_error(d->ctx, TI_ERR_UNSUPPORTED,
                                 "%s: tensor '%s' keeps its data in an external file "
                                 "(unsupported: save the model with its data inside)",
                                 d->what, t->name);
        return 0;
    }
    if (dtype_size(t->dtype) && n > t->msg_len)
        return bad(d, s.end, "tensor '%s' declares %zu elements but holds only %zu bytes",
                   t->name, n, t->msg_len), 0;
    return 1;
}

/* Reads every number of t into dst as float (to_float) or int64; `count` is checked. */
static ti_status read_data(ti_ctx *ctx, const char *what, const ti__ox_tensor *t, void *dst,
                           int to_float)
{
    const char *kind = to_float ? "float" : "integer";
    int ok_type = to_float ? (t->dtype == OX_DT_FLOAT || t->dtype == OX_DT_DOUBLE)
                           : (t->dtype == OX_DT_INT64 || t->dtype == OX_DT_INT32);
    if (!ok_type)
        return ti_ctx_error(ctx, TI_ERR_UNSUPPORTED,
                            "%s: tensor '%s' has element type %d where a %s tensor is needed "
                            "(thinice reads float32/float64 and int64/int32 tensors)",
                            what, t->name, t->dtype, kind);
    dec d = {.ctx = ctx, .what = what, .base = t->msg};
    span s = {t->msg, t->msg + t->msg_len};
    field f;
    int r;
    size_t k = 0, esz = dtype_size(t->dtype);
    float *df = dst;
    int64_t *di = dst;
    while ((r = next_field(&d, &s, &f, "TensorProto")) == 1) {
        if (f.num == 9) { /* raw_data: little-endian values, as the ONNX spec fixes */
            size_t nb = (size_t)(f.sub.end - f.sub.p);
            if (f.wt != WT_LEN || nb != t->n * esz || k)
                return ti_ctx_error(ctx, TI_ERR_FORMAT,
                                    "%s: tensor '%s': raw_data holds %zu bytes but %zu "
                                    "elements of %zu bytes are declared",
                                    what, t->name, nb, t->n, esz);
            const uint8_t *p = f.sub.p;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            if (t->dtype == OX_DT_FLOAT || t->dtype == OX_DT_INT64) { /* already our layout */
                memcpy(dst, p, nb);
                k = t->n;
                continue;
            }
#endif
            for (size_t i = 0; i < t->n; i++, p += esz) {
                uint64_t u = le(p, (int)esz);
                if (t->dtype == OX_DT_FLOAT)
                    df[i] = f32_of((uint32_t)u);
                else if (t->dtype == OX_DT_DOUBLE) {
                    double x;
                    memcpy(&x, &u, 8);
                    df[i] = (float)x;
                } else if (t->dtype == OX_DT_INT64)
                    di[i] = (int64_t)u;
                else
                    di[i] = (int32_t)(uint32_t)u;
            }
            k = t->n;
            continue;
        }
        size_t cnt = 0;
        if (f.num == 4 && t->dtype == OX_DT_FLOAT) {
            if (!count_floats(&d, &f, "TensorProto.float_data", &cnt))
                return d.st;
            if (k + cnt > t->n)
                break;
            get_floats(&f, df, &k);
        } else if ((f.num == 7 && t->dtype == OX_DT_INT64) ||
                   (f.num == 5 && t->dtype == OX_DT_INT32)) {
            if (!count_ints(&d, &f, "TensorProto.int_data", &cnt))
                return d.st;
            if (k + cnt > t->n)
                break;
            get_ints(&f, di, &k);
            if (t->dtype == OX_DT_INT32)
                for (size_t i = k - cnt; i < k; i++)
                    di[i] = (int32_t)di[i];
        } else if (f.num == 10 && t->dtype == OX_DT_DOUBLE) {
            if (f.wt == WT_I64) {
                cnt = 1;
            } else if (f.wt == WT_LEN && (f.sub.end - f.sub.p) % 8 == 0) {
                cnt = (size_t)(f.sub.end - f.sub.p) / 8;
            } else {
                return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: tensor '%s': bad double_data",
                                    what, t->name);
            }
            if (k + cnt > t->n)
                break;
            if (f.wt == WT_I64) {
                double x;
                memcpy(&x, &f.v, 8);
                df[k++] = (float)x;
            } else {
                for (const uint8_t *p = f.sub.p; p < f.sub.end; p += 8) {
                    uint64_t u = le(p, 8);
                    double x;
                    memcpy(&x, &u, 8);
                    df[k++] = (float)x;
                }
            }
        }
    }
    if (r < 0)
        return d.st;
    if (k != t->n)
        return ti_ctx_error(ctx, TI_ERR_FORMAT,
                            "%s: tensor '%s' declares %zu elements but holds %s%zu", what,
                            t->name, t->n, k > t->n ? "more than " : "", k);
    return TI_OK;
}

ti_status ti__ox_tensor_read_f32(ti_ctx *ctx, const char *what, const ti__ox_tensor *t, float *dst)
{
    return read_data(ctx, what, t, dst, 1);
}

ti_status ti__ox_tensor_read_i64(ti_ctx *ctx, const char *what, const ti__ox_tensor *t, int64_t *dst)
{
    return read_data(ctx, what, t, dst, 0);
}

/* ---- AttributeProto, NodeProto, ValueInfoProto -------------------------------------------- */

static int decode_attr(dec *d, span s, ti__ox_attr *a)
{
    const char *M = "AttributeProto";
    field f;
    int r;
    size_t nf = 0, ni = 0;
    span s2 = s;
    while ((r = next_field(d, &s2, &f, M)) == 1) {
        if (f.num == 7 && !count_floats(d, &f, "AttributeProto.floats", &nf))
            return 0;
        if (f.num == 8 && !count_ints(d, &f, "AttributeProto.ints", &ni))
            return 0;
    }
    if (r < 0)
        return 0;
    a->name = "";
    a->s = "";
    a->floats = arena_alloc(d->a, (nf + 1) * sizeof(float));
    a->ints = arena_alloc(d->a, (ni + 1) * sizeof(int64_t));
    if (!a->floats || !a->ints)
        return nomem(d), 0;
    size_t kf = 0, ki = 0;
    int type = 0, seen = 0;
    while ((r = next_field(d, &s, &f, M)) == 1) {
        switch (f.num) {
        case 1:
            if (!expect(d, &f, WT_LEN, M, "name"))
                return 0;
            a->name = get_string(d, &f);
            break;
        case 2:
            if (!expect(d, &f, WT_I32, M, "f"))
                return 0;
            a->f = f32_of((uint32_t)f.v);
            seen = OX_AT_FLOAT;
            break;
        case 3:
            if (!expect(d, &f, WT_VARINT, M, "i"))
                return 0;
            a->i = (int64_t)f.v;
            seen = OX_AT_INT;
            break;
        case 4:
            if (!expect(d, &f, WT_LEN, M, "s"))
                return 0;
            a->s = get_string(d, &f);
            seen = OX_AT_STRING;
            break;
        case 5:
            if (!expect(d, &f, WT_LEN, M, "t"))
                return 0;
            a->t = arena_alloc(d->a, sizeof *a->t);
            if (!a->t)
                return nomem(d), 0;
            if (!decode_tensor(d, f.sub, a->t))
                return 0;
            seen = OX_AT_TENSOR;
            break;
        case 6: seen = 5; break; /* a subgraph (If, Loop): no supported op takes one */
        case 7: get_floats(&f, a->floats, &kf); seen = OX_AT_FLOATS; break;
        case 8: get_ints(&f, a->ints, &ki); seen = OX_AT_INTS; break;
        case 20:
            if (!expect(d, &f, WT_VARINT, M, "type"))
                return 0;
            type = (int)f.v;
            break;
        default: break;
        }
    }
    if (r < 0)
        return 0;
    a->nfloats = (int)kf;
    a->nints = (int)ki;
    /* IR version 1 files may omit the type: infer it from the field that was set */
    a->type = type ? type : seen;
    return 1;
}

/* Counts the repeated fields numbered nums[i] of a message (any wire type; checked later). */
static int count_fields(dec *d, span s, const char *msg, const uint32_t *nums, size_t *cnt,
                        int k)
{
    field f;
    int r;
    for (int i = 0; i < k; i++)
        cnt[i] = 0;
    while ((r = next_field(d, &s, &f, msg)) == 1)
        for (int i = 0; i < k; i++)
            cnt[i] += f.num == nums[i];
    return r == 0;
}

static int decode_node(dec *d, span s, ti__ox_node *n)
{
    const char *M = "NodeProto";
    static const uint32_t nums[3] = {1, 2, 5};
    size_t cnt[3];
    if (!count_fields(d, s, M, nums, cnt, 3))
        return 0;
    n->in = arena_alloc(d->a, (cnt[0] + 1) * sizeof *n->in);
    n->out = arena_alloc(d->a, (cnt[1] + 1) * sizeof *n->out);
    n->attr = arena_alloc(d->a, (cnt[2] + 1) * sizeof *n->attr);
    if (!n->in || !n->out || !n->attr)
        return nomem(d), 0;
    n->name = n->op = n->domain = "";
    field f;
    int r;
    while ((r = next_field(d, &s, &f, M)) == 1) {
        switch (f.num) {
        case 1:
            if (!expect(d, &f, WT_LEN, M, "input"))
                return 0;
            n->in[n->nin++] = get_string(d, &f);
            break;
        case 2:
            if (!expect(d, &f, WT_LEN, M, "output"))
                return 0;
            n->out[n->nout++] = get_string(d, &f);
            break;
        case 3:
            if (!expect(d, &f, WT_LEN, M, "name"))
                return 0;
            n->name = get_string(d, &f);
            break;
        case 4:
            if (!expect(d, &f, WT_LEN, M, "op_type"))
                return 0;
            n->op = get_string(d, &f);
            break;
        case 5:
            if (!expect(d, &f, WT_LEN, M, "attribute") ||
                !decode_attr(d, f.sub, &n->attr[n->nattr++]))
                return 0;
            break;
        case 7:
            if (!expect(d, &f, WT_LEN, M, "domain"))
                return 0;
            n->domain = get_string(d, &f);
            break;
        default: break;
        }
    }
    return r == 0;
}

/* TensorShapeProto.Dimension: dim_value (1) or dim_param (2, symbolic: -1 here). */
static int decode_shape(dec *d, span s, ti__ox_vinfo *v)
{
    field f, g;
    int r, r2;
    v->ndim = 0;
    while ((r = next_field(d, &s, &f, "TensorShapeProto")) == 1) {
        if (f.num != 1)
            continue;
        if (!expect(d, &f, WT_LEN, "TensorShapeProto", "dim"))
            return 0;
        int64_t val = -1;
        span ds = f.sub;
        while ((r2 = next_field(d, &ds, &g, "Dimension")) == 1)
            if (g.num == 1 && g.wt == WT_VARINT)
                val = (int64_t)g.v;
        if (r2 < 0)
            return 0;
        if (v->ndim < OX_MAX_DIMS)
            v->dims[v->ndim] = val;
        v->ndim++;
    }
    return r == 0;
}

static int decode_vinfo(dec *d, span s, ti__ox_vinfo *v)
{
    field f = {0}, g = {0}, h = {0};
    int r, r2, r3;
    v->name = "";
    v->ndim = -1;
    while ((r = next_field(d, &s, &f, "ValueInfoProto")) == 1) {
        if (f.num == 1 && expect(d, &f, WT_LEN, "ValueInfoProto", "name"))
            v->name = get_string(d, &f);
        if (f.num != 2 || !expect(d, &f, WT_LEN, "ValueInfoProto", "type"))
            continue;
        span ts = f.sub;
        while ((r2 = next_field(d, &ts, &g, "TypeProto")) == 1) {
            if (g.num != 1 || !expect(d, &g, WT_LEN, "TypeProto", "tensor_type"))
                continue;
            span tt = g.sub;
            while ((r3 = next_field(d, &tt, &h, "TypeProto.Tensor")) == 1) {
                if (h.num == 1 && h.wt == WT_VARINT)
                    v->elem_type = (int)h.v;
                if (h.num == 2 && expect(d, &h, WT_LEN, "TypeProto.Tensor", "shape") &&
                    !decode_shape(d, h.sub, v))
                    return 0;
            }
            if (r3 < 0)
                return 0;
        }
        if (r2 < 0)
            return 0;
    }
    return r == 0 && d->st == TI_OK;
}

/* ---- GraphProto and ModelProto ------------------------------------------------------------ */

static int decode_graph(dec *d, span s, ti__ox_file *m)
{
    const char *M = "GraphProto";
    static const uint32_t nums[5] = {1, 5, 11, 12, 15};
    size_t cnt[5];
    if (!count_fields(d, s, M, nums, cnt, 5))
        return 0;
    if (cnt[4])
        return bad(d, s.p, "the graph has sparse initializers (unsupported)"), 0;
    if (cnt[0] > (1u << 24) || cnt[1] > (1u << 24))
        return bad(d, s.p, "the graph has %zu nodes and %zu initializers", cnt[0], cnt[1]), 0;
    m->nodes = arena_alloc(d->a, (cnt[0] + 1) * sizeof *m->nodes);
    m->inits = arena_alloc(d->a, (cnt[1] + 1) * sizeof *m->inits);
    m->inputs = arena_alloc(d->a, (cnt[2] + 1) * sizeof *m->inputs);
    m->outputs = arena_alloc(d->a, (cnt[3] + 1) * sizeof *m->outputs);
    if (!m->nodes || !m->inits || !m->inputs || !m->outputs)
        return nomem(d), 0;
    m->nnodes = m->ninits = m->ninputs = m->noutputs = 0;
    field f;
    int r;
    while ((r = next_field(d, &s, &f, M)) == 1) {
        switch (f.num) {
        case 1:
            if (!expect(d, &f, WT_LEN, M, "node") ||
                !decode_node(d, f.sub, &m->nodes[m->nnodes++]))
                return 0;
            break;
        case 5:
            if (!expect(d, &f, WT_LEN, M, "initializer") ||
                !decode_tensor(d, f.sub, &m->inits[m->ninits++]))
                return 0;
            break;
        case 11:
            if (!expect(d, &f, WT_LEN, M, "input") ||
                !decode_vinfo(d, f.sub, &m->inputs[m->ninputs++]))
                return 0;
            break;
        case 12:
            if (!expect(d, &f, WT_LEN, M, "output") ||
                !decode_vinfo(d, f.sub, &m->outputs[m->noutputs++]))
                return 0;
            break;
        default: break;
        }
    }
    return r == 0;
}

ti_status ti__ox_decode(ti_ctx *ctx, const char *what, const uint8_t *buf, size_t len,
                    ti__ox_file **out)
{
    *out = NULL;
    ti__ox_file *m = calloc(1, sizeof *m);
    ti__ox_arena *a = calloc(1, sizeof *a);
    if (!m || !a) {
        free(m);
        free(a);
        return ti_ctx_error(ctx, TI_ERR_NOMEM, "%s: out of memory", what);
    }
    m->arena = a;
    m->producer = "";
    dec d = {.ctx = ctx, .what = what, .base = buf, .a = a};
    span s = {buf, buf + len};
    field f;
    int r, graphs = 0;
    if (len == 0) {
        ti__ox_file_free(m);
        return ti_ctx_error(ctx, TI_ERR_FORMAT, "%s: the file is empty", what);
    }
    while ((r = next_field(&d, &s, &f, "ModelProto")) == 1) {
        switch (f.num) {
        case 1:
            if (expect(&d, &f, WT_VARINT, "ModelProto", "ir_version"))
                m->ir_version = (int64_t)f.v;
            break;
        case 2:
            if (expect(&d, &f, WT_LEN, "ModelProto", "producer_name"))
                m->producer = get_string(&d, &f);
            break;
        case 7:
            if (expect(&d, &f, WT_LEN, "ModelProto", "graph") && decode_graph(&d, f.sub, m))
                graphs++;
            break;
        case 8: {
            if (!expect(&d, &f, WT_LEN, "ModelProto", "opset_import"))
                break;
            field g;
            span os = f.sub;
            const char *domain = "";
            int64_t version = 0;
            while ((r = next_field(&d, &os, &g, "OperatorSetIdProto")) == 1) {
                if (g.num == 1 && expect(&d, &g, WT_LEN, "OperatorSetIdProto", "domain"))
                    domain = get_string(&d, &g);
                if (g.num == 2 && expect(&d, &g, WT_VARINT, "OperatorSetIdProto", "version"))
                    version = (int64_t)g.v;
            }
            if (!strcmp(domain, "") || !strcmp(domain, "ai.onnx"))
                m->opset = version;
            break;
        }
        default: break;
        }
        if (d.st != TI_OK)
            break;
    }
    if (d.st == TI_OK && graphs != 1)
        bad(&d, buf + len,
            graphs ? "the model holds %d graphs" : "the model holds no graph%.0d (is this an "
                                                   "ONNX model file?)",
            graphs);
    if (d.st == TI_OK && m->ir_version <= 0)
        bad(&d, buf, "ir_version is missing (is this an ONNX model file?)");
    if (d.st != TI_OK) {
        ti__ox_file_free(m);
        return d.st;
    }
    *out = m;
    return TI_OK;
}

void ti__ox_file_free(ti__ox_file *f)
{
    if (!f)
        return;
    arena_free(f->arena);
    free(f);
}
