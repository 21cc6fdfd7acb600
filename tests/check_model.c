/* Tests of the model zoo: parameter counts and MACs against docs/models.md, the
 * initialisations, parity with PyTorch 1.13 (fixtures made by scripts/make_model_fixtures.py:
 * the weights are a test pattern both sides compute bit-identically from the tensor names,
 * checked by checksums), checkpoints (round trip, HYDRA extras, masks, errors), training-mode
 * batch norm, masks, the weight hook and the classifier view. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "thinice/model.h"
#include "thinice/safetensors.h"

#define FIXTURES "tests/fixtures"

/* ---- helpers ----------------------------------------------------------------------------- */

static ti_model_config cfg_of(int C, int H, int W, int M)
{
    ti_model_config c;
    memset(&c, 0, sizeof c);
    c.C = C;
    c.H = H;
    c.W = W;
    c.M = M;
    return c;
}

static ti_model *new_model(ti_ctx *ctx, const char *arch, int C, int H, int W)
{
    ti_model_config c = cfg_of(C, H, W, 10);
    ti_model *m = NULL;
    ti_status s = ti_model_new(ctx, arch, &c, &m);
    ck_assert_msg(s == TI_OK, "%s: %s", arch, ti_ctx_errmsg(ctx));
    return m;
}

/* A log callback that keeps every line. */
typedef struct logbuf {
    char text[8192];
} logbuf;

static void log_keep(void *user, int level, const char *msg)
{
    (void)level;
    logbuf *b = user;
    size_t u = strlen(b->text);
    snprintf(b->text + u, sizeof b->text - u, "%s\n", msg);
}

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char buf[8][256]; /* a ring: a test holds at most 8 names at once */
    static int k;
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/thinice-model-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    }
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Removes the (by then empty) temporary directory of this test process. */
static void tmp_done(void)
{
    if (tmpdir[0])
        rmdir(tmpdir);
    tmpdir[0] = '\0';
}

/* logits and input gradient of the summed cross-entropy through the classifier view */
static void eval_ce(ti_model *m, int batch, const float *x, const int *labels, int N, float *z,
                    float *dx)
{
    ti_classifier f;
    ck_assert_int_eq(ti_model_classifier(m, batch, &f), TI_OK);
    int M = f.M;
    ck_assert_int_eq(f.forward(f.self, x, N, z), TI_OK);
    float *dz = malloc((size_t)N * M * sizeof(float));
    for (int n = 0; n < N; n++) { /* d/dz of sum CE = softmax(z) - onehot(y) */
        const float *r = z + (size_t)n * M;
        double mx = r[0], s = 0;
        for (int j = 1; j < M; j++)
            mx = r[j] > mx ? r[j] : mx;
        for (int j = 0; j < M; j++)
            s += exp(r[j] - mx);
        for (int j = 0; j < M; j++)
            dz[(size_t)n * M + j] = (float)(exp(r[j] - mx) / s) - (j == labels[n] ? 1.0f : 0.0f);
    }
    float *z2 = malloc((size_t)N * M * sizeof(float));
    ck_assert_int_eq(f.vjp(f.self, x, N, dz, z2, dx), TI_OK);
    ck_assert(tu_maxdiff(z, z2, (size_t)N * M) == 0.0);
    free(dz);
    free(z2);
}

/* ---- the test pattern of scripts/make_model_fixtures.py ---------------------------------- */

#define GOLDEN 0x9E3779B97F4A7C15ULL

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ULL;
    return h;
}

static int bitlen(size_t v)
{
    int b = 0;
    for (; v; v >>= 1)
        b++;
    return b;
}

static void pattern_fill(const char *name, char kind, size_t n, size_t rows, float *out)
{
    uint64_t h = fnv1a64(name);
    float scale = 1.0f;
    if (kind == 'W' || kind == 'S')
        scale = ldexpf(1.0f, 2 - (bitlen(n / rows) + 1) / 2);
    for (size_t i = 0; i < n; i++) {
        uint64_t z = h + (uint64_t)(i + 1) * GOLDEN;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        float u = (float)((int)(z >> 48) - 32768) / 32768.0f;
        switch (kind) {
        case 'W':
        case 'S': out[i] = u * scale; break;
        case 'B': out[i] = u / 16.0f; break;
        case 'G': out[i] = 1.0f + u / 4.0f; break;
        case 'E':
        case 'M': out[i] = u / 8.0f; break;
        case 'V': out[i] = 1.0f + u / 2.0f; break;
        default: ck_abort_msg("kind %c", kind);
        }
    }
}

static uint64_t checksum_f32(const float *a, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &a[i], 4);
        s += (uint64_t)b * (2 * (uint64_t)i + 1);
    }
    return s;
}

typedef struct sd_entry {
    char name[128];
    char kind;
    int ndim;
    int64_t shape[4];
    size_t n;
    uint64_t sum;
} sd_entry;

/* Parses "name|kind|d0,d1|checksum;..." into entries (malloc'd); returns the count. */
static int parse_state_dict(const char *text, sd_entry **out)
{
    int cap = 64, n = 0;
    sd_entry *e = malloc((size_t)cap * sizeof *e);
    const char *p = text;
    while (*p) {
        if (n == cap)
            e = realloc(e, (size_t)(cap *= 2) * sizeof *e);
        sd_entry *q = &e[n++];
        memset(q, 0, sizeof *q);
        const char *bar = strchr(p, '|');
        ck_assert_ptr_nonnull(bar);
        memcpy(q->name, p, (size_t)(bar - p));
        q->kind = bar[1];
        p = bar + 3;
        q->n = 1;
        while (*p != '|') {
            char *end;
            q->shape[q->ndim] = strtoll(p, &end, 10);
            q->n *= (size_t)q->shape[q->ndim++];
            p = *end == ',' ? end + 1 : end;
        }
        char *end;
        q->sum = strtoull(p + 1, &end, 16);
        p = *end == ';' ? end + 1 : end;
    }
    *out = e;
    return n;
}

static ti_param_kind kind_of(char k)
{
    switch (k) {
    case 'W': return TI_PARAM_WEIGHT;
    case 'B': return TI_PARAM_BIAS;
    case 'G': return TI_PARAM_BN_WEIGHT;
    case 'E': return TI_PARAM_BN_BIAS;
    case 'M': return TI_PARAM_BN_MEAN;
    case 'V': return TI_PARAM_BN_VAR;
    case 'N': return TI_PARAM_BN_COUNT;
    default: return TI_PARAM_KIND_COUNT; /* HYDRA's scores: not a model parameter */
    }
}

static void read_f32(ti_ctx *ctx, ti_st_file *f, const char *name, float *dst, size_t n)
{
    const ti_st_entry *e = ti_st_find(f, name);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->nelem, n);
    ck_assert_int_eq(ti_st_read_f32(ctx, f, e, dst), TI_OK);
}

/* Compares the model's logits and input gradient with PyTorch's: logits within 1e-4 of their
 * range, the input gradient within 1e-3 of its largest entry (docs/models.md). */
static void compare_reference(ti_ctx *ctx, ti_model *m, ti_st_file *f, int batch,
                              const char *tag)
{
    const ti_st_entry *ex = ti_st_find(f, "x");
    ck_assert_ptr_nonnull(ex);
    int N = (int)ex->shape[0], M = ti_model_get_config(m)->M;
    size_t D = ex->nelem / (size_t)N;
    float *x = malloc(ex->nelem * sizeof(float)), *g = malloc(ex->nelem * sizeof(float));
    float *dx = malloc(ex->nelem * sizeof(float));
    float *zr = malloc((size_t)N * M * sizeof(float)), *z = malloc((size_t)N * M * sizeof(float));
    float *lf = malloc((size_t)N * sizeof(float));
    int *labels = malloc((size_t)N * sizeof(int));
    read_f32(ctx, f, "x", x, (size_t)N * D);
    read_f32(ctx, f, "grad", g, (size_t)N * D);
    read_f32(ctx, f, "logits", zr, (size_t)N * M);
    read_f32(ctx, f, "labels", lf, (size_t)N);
    for (int n = 0; n < N; n++)
        labels[n] = (int)lf[n];
    eval_ce(m, batch, x, labels, N, z, dx);
    double lo = zr[0], hi = zr[0], gmax = 0;
    for (int i = 0; i < N * M; i++) {
        lo = zr[i] < lo ? zr[i] : lo;
        hi = zr[i] > hi ? zr[i] : hi;
    }
    for (size_t i = 0; i < (size_t)N * D; i++)
        gmax = fabs(g[i]) > gmax ? fabs(g[i]) : gmax;
    double el = tu_maxdiff(z, zr, (size_t)N * M) / (hi - lo);
    double eg = tu_maxdiff(dx, g, (size_t)N * D) / gmax;
    fprintf(stderr, "model parity %-18s logits %.2e of range %.3g, input grad %.2e of max %.3g\n",
            tag, el, hi - lo, eg, gmax);
    ck_assert_msg(hi - lo > 1e-3 && gmax > 1e-6, "%s: degenerate fixture", tag);
    ck_assert_msg(el <= 1e-4, "%s: logits differ from PyTorch by %g of their range", tag, el);
    ck_assert_msg(eg <= 1e-3, "%s: input gradient differs from PyTorch by %g", tag, eg);
    free(x);
    free(g);
    free(dx);
    free(zr);
    free(z);
    free(lf);
    free(labels);
}

/* The parity cases: (fixture tag, classifier batch). */
static const struct {
    const char *tag;
    int batch;
} cases[] = {
    {"smallcnn_fmnist", 3},  {"vgg16_bn_cifar", 4},   {"vgg16_bn_fmnist", 2},
    {"vgg16_admm_cifar", 4}, {"vgg16_admm_fmnist", 2}, {"resnet18_cifar", 4},
    {"resnet18_fmnist", 2},  {"resnet34_cifar", 2},   {"wrn_28_4_cifar", 2},
    {"wrn_28_4_fmnist", 2},  {"wrn_28_10_small", 2},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

START_TEST(test_parity)
{
    ti_ctx *ctx = ti_ctx_new(1, 2);
    char path[256];
    snprintf(path, sizeof path, FIXTURES "/model_%s.safetensors", cases[_i].tag);
    ti_st_file *f = NULL;
    ck_assert_msg(ti_st_open(ctx, path, &f) == TI_OK, "%s", ti_ctx_errmsg(ctx));
    const char *arch = ti_st_metadata(f, "arch"), *input = ti_st_metadata(f, "input");
    const char *classes = ti_st_metadata(f, "classes"), *norm = ti_st_metadata(f, "normalize");
    ck_assert(arch && input && classes && norm);
    ti_model_config c = cfg_of(0, 0, 0, atoi(classes));
    ck_assert_int_eq(sscanf(input, "%dx%dx%d", &c.C, &c.H, &c.W), 3);
    if (norm[0]) {
        c.normalize = 1;
        const char *p = norm + strlen("mean=");
        for (int i = 0; i < c.C; i++)
            c.mean[i] = strtof(p, (char **)&p), p++;
        p += strlen("std=");
        for (int i = 0; i < c.C; i++)
            c.std[i] = strtof(p, (char **)&p), p++;
    }
    ti_model *m = NULL;
    ck_assert_msg(ti_model_new(ctx, arch, &c, &m) == TI_OK, "%s", ti_ctx_errmsg(ctx));

    /* the state_dict keys of the PyTorch module, in order, are the model's (plus extras) */
    sd_entry *e = NULL;
    int ne = parse_state_dict(ti_st_metadata(f, "state_dict"), &e), k = 0, extras = 0;
    for (int i = 0; i < ne; i++) {
        if (strstr(e[i].name, "sub_block1.") || e[i].kind == 'S') {
            extras++;
            continue;
        }
        ti_param *p = ti_model_param(m, k++);
        ck_assert_msg(p != NULL, "%s: PyTorch has more keys than thinice (%s)", arch,
                      e[i].name);
        ck_assert_str_eq(p->name, e[i].name);
        ck_assert_int_eq(p->kind, kind_of(e[i].kind));
        ck_assert_int_eq(p->t.ndim, e[i].ndim);
        for (int d = 0; d < e[i].ndim; d++)
            ck_assert_int_eq(p->t.shape[d], (int)e[i].shape[d]);
    }
    ck_assert_int_eq(k, ti_model_nparams(m));

    /* the same weights as PyTorch, checked bit for bit, through a safetensors file */
    ti_st_writer *w = ti_st_writer_new();
    size_t nent = ne > 0 ? (size_t)ne : 1;
    float **bufs = calloc(nent, sizeof *bufs);
    int64_t *counts = calloc(nent, sizeof *counts);
    for (int i = 0; i < ne; i++) {
        if (e[i].kind == 'N') {
            counts[i] = (int64_t)(fnv1a64(e[i].name) % 1000);
            ck_assert_uint_eq((uint64_t)counts[i], e[i].sum);
            ck_assert_int_eq(ti_st_add_i64(w, e[i].name, e[i].ndim, e[i].shape, &counts[i]),
                             TI_OK);
            continue;
        }
        bufs[i] = malloc(e[i].n * sizeof(float));
        pattern_fill(e[i].name, e[i].kind, e[i].n, (size_t)(e[i].ndim ? e[i].shape[0] : 1),
                     bufs[i]);
        ck_assert_msg(checksum_f32(bufs[i], e[i].n) == e[i].sum, "%s: test pattern differs",
                      e[i].name);
        ck_assert_int_eq(ti_st_add_f32(w, e[i].name, e[i].ndim, e[i].shape, bufs[i]), TI_OK);
    }
    const char *wpath = tmp_path("parity.safetensors");
    ck_assert_int_eq(ti_st_write(ctx, w, wpath), TI_OK);
    ti_st_writer_free(w);
    for (int i = 0; i < ne; i++)
        free(bufs[i]);
    free(bufs);
    free(counts);

    logbuf lb = {{0}};
    ti_ctx_set_log(ctx, log_keep, &lb);
    ck_assert_msg(ti_model_load(m, wpath) == TI_OK, "%s", ti_ctx_errmsg(ctx));
    unlink(wpath);
    tmp_done();
    if (extras) { /* HYDRA's extras are accepted and reported */
        ck_assert_msg(strstr(lb.text, "sub_block1") && strstr(lb.text, "popup_scores"),
                      "log: %s", lb.text);
    } else {
        ck_assert_str_eq(lb.text, "");
    }
    ti_param *bn = NULL;
    for (int i = 0; i < ti_model_nparams(m) && !bn; i++)
        if (ti_model_param(m, i)->kind == TI_PARAM_BN_COUNT)
            bn = ti_model_param(m, i);
    compare_reference(ctx, m, f, cases[_i].batch, cases[_i].tag);
    if (bn) /* loaded from the I64 key, and the classifier view (evaluation) left it alone */
        ck_assert_float_eq(bn->t.data[0], (float)(fnv1a64(bn->name) % 1000));
    free(e);
    ti_st_close(f);
    ti_model_free(m);
    ti_ctx_free(ctx);
}
END_TEST

/* A smallcnn with PyTorch's own random init, converted by scripts/pt2safetensors.py. */
START_TEST(test_parity_real_weights)
{
    ti_ctx *ctx = ti_ctx_new(1, 2);
    ti_model *m = new_model(ctx, "smallcnn", 3, 16, 16);
    ck_assert_msg(ti_model_load(m, FIXTURES "/model_smallcnn_real.safetensors") == TI_OK, "%s",
                  ti_ctx_errmsg(ctx));
    ti_st_file *f = NULL;
    ck_assert_int_eq(ti_st_open(ctx, FIXTURES "/model_smallcnn_real_expected.safetensors", &f),
                     TI_OK);
    compare_reference(ctx, m, f, 4, "smallcnn_real");
    ti_st_close(f);
    ti_model_free(m);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- counts, MACs, init --------------------------------------------------------------- */

START_TEST(test_counts)
{
    static const struct {
        const char *arch;
        size_t params, macs, bnbuf, stem;
    } t[] = {
        {"smallcnn", 545098, 6128896, 0, 864},
        {"vgg16_bn", 15311818, 313788928, 8448, 1728},
        {"vgg16_admm", 14728266, 313201664, 8448, 1728},
        {"resnet18", 11173962, 555422720, 9600, 1728},
        {"resnet34", 21282122, 1159402496, 17024, 1728},
        {"wrn_28_4", 5849050, 845597184, 7200, 432},
        {"wrn_28_10", 36479194, 5243328768, 17952, 432},
    };
    ti_ctx *ctx = ti_ctx_new(1, 1);
    const char *const *names = ti_model_arch_names();
    for (int i = 0; i < 7; i++) {
        ck_assert_str_eq(names[i], t[i].arch);
        ti_model *m = new_model(ctx, t[i].arch, 3, 32, 32);
        ck_assert_str_eq(ti_model_arch(m), t[i].arch);
        ck_assert_uint_eq(ti_model_count_trainable(m), t[i].params);
        ck_assert_uint_eq(ti_model_macs(m), t[i].macs);
        size_t bnbuf = 0, all = 0;
        for (int j = 0; j < ti_model_nparams(m); j++) {
            ti_param *p = ti_model_param(m, j);
            if (p->kind == TI_PARAM_BN_MEAN || p->kind == TI_PARAM_BN_VAR)
                bnbuf += p->t.size;
            if (ti_param_kind_trainable(p->kind))
                all += p->t.size;
            ck_assert(ti_param_kind_trainable(p->kind) == (p->t.grad != NULL));
            ck_assert_ptr_eq(ti_model_find(m, p->name), p);
        }
        ck_assert_uint_eq(bnbuf, t[i].bnbuf);
        ck_assert_uint_eq(all, t[i].params);
        ck_assert_ptr_null(ti_model_find(m, "no.such.weight"));
        ck_assert_ptr_null(ti_model_param(m, ti_model_nparams(m)));
        ti_model_free(m);
        /* Fashion-MNIST: only the stem changes (a third of its weights); smallcnn's fc1 too */
        m = new_model(ctx, t[i].arch, 1, 28, 28);
        if (i > 0)
            ck_assert_uint_eq(ti_model_count_trainable(m), t[i].params - t[i].stem * 2 / 3);
        ti_model_free(m);
    }
    ck_assert_ptr_null(names[7]);
    ti_ctx_free(ctx);
}
END_TEST

static void moments(const ti_param *p, double *mean, double *sd, double *amax)
{
    double s = 0, s2 = 0, mx = 0;
    for (size_t j = 0; j < p->t.size; j++) {
        s += p->t.data[j];
        s2 += (double)p->t.data[j] * p->t.data[j];
        mx = fabs(p->t.data[j]) > mx ? fabs(p->t.data[j]) : mx;
    }
    *mean = s / p->t.size;
    *sd = sqrt(s2 / p->t.size - *mean * *mean);
    *amax = mx;
}

START_TEST(test_init)
{
    ti_ctx *ctx = ti_ctx_new(5, 1);
    double mean, sd, amax;
    /* PyTorch default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), sd = bound / sqrt 3 */
    ti_model *m = new_model(ctx, "resnet18", 3, 32, 32);
    ti_param *p = ti_model_find(m, "layer3.0.conv2.weight");
    moments(p, &mean, &sd, &amax);
    double b = 1 / sqrt(256 * 9.0);
    ck_assert(amax <= b && amax > 0.99 * b);
    ck_assert_double_eq_tol(sd, b / sqrt(3.0), 0.01 * b);
    ck_assert_float_eq(ti_model_find(m, "layer1.0.bn1.weight")->t.data[5], 1.0f);
    ck_assert_float_eq(ti_model_find(m, "layer1.0.bn1.bias")->t.data[5], 0.0f);
    ck_assert_float_eq(ti_model_find(m, "layer1.0.bn1.running_var")->t.data[5], 1.0f);
    ck_assert_float_eq(ti_model_find(m, "layer1.0.bn1.num_batches_tracked")->t.data[0], 0.0f);
    p = ti_model_find(m, "linear.bias");
    moments(p, &mean, &sd, &amax);
    ck_assert(amax <= 1 / sqrt(512.0) && amax > 0);
    ck_assert(ti_model_sparsity(m) < 1e-6); /* a uniform draw may hit 0.0 exactly */
    ti_model_free(m);
    /* HYDRA VGG: Kaiming normal fan-out convs, N(0, 0.01^2) linears with zero bias */
    m = new_model(ctx, "vgg16_bn", 3, 32, 32);
    moments(ti_model_find(m, "features.24.weight"), &mean, &sd, &amax);
    ck_assert_double_eq_tol(sd, sqrt(2.0 / (512 * 9)), 0.01 * sqrt(2.0 / (512 * 9)));
    moments(ti_model_find(m, "classifier.0.weight"), &mean, &sd, &amax);
    ck_assert_double_eq_tol(sd, 0.01, 2e-4);
    moments(ti_model_find(m, "classifier.4.bias"), &mean, &sd, &amax);
    ck_assert_double_eq(amax, 0.0);
    ti_model_free(m);
    /* HYDRA WRN: N(0, 2/(k k K)) convs, PyTorch-default fc weight, zero fc bias */
    m = new_model(ctx, "wrn_28_4", 3, 32, 32);
    moments(ti_model_find(m, "block3.layer.1.conv1.weight"), &mean, &sd, &amax);
    ck_assert_double_eq_tol(sd, sqrt(2.0 / (9 * 256)), 0.01 * sqrt(2.0 / (9 * 256)));
    moments(ti_model_find(m, "fc.weight"), &mean, &sd, &amax);
    ck_assert(amax <= 1 / sqrt(256.0) && amax > 0.9 / sqrt(256.0));
    moments(ti_model_find(m, "fc.bias"), &mean, &sd, &amax);
    ck_assert_double_eq(amax, 0.0);
    ti_model_free(m);
    /* the same seed gives the same model, another seed another */
    ti_ctx *c2 = ti_ctx_new(5, 1), *c3 = ti_ctx_new(6, 1);
    ti_model *a = new_model(c2, "smallcnn", 1, 28, 28), *d = new_model(c3, "smallcnn", 1, 28, 28);
    ti_model *a2 = new_model(ctx, "smallcnn", 1, 28, 28);
    ti_model_free(a2);
    ti_ctx_free(ctx);
    ctx = ti_ctx_new(5, 1);
    a2 = new_model(ctx, "smallcnn", 1, 28, 28);
    p = ti_model_param(a, 0);
    ck_assert(memcmp(p->t.data, ti_model_param(a2, 0)->t.data, p->t.size * 4) == 0);
    ck_assert(memcmp(p->t.data, ti_model_param(d, 0)->t.data, p->t.size * 4) != 0);
    ti_model_free(a);
    ti_model_free(a2);
    ti_model_free(d);
    ti_ctx_free(c2);
    ti_ctx_free(c3);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- training mode, gradients, masks, hook ---------------------------------------------- */

static float *random_input(ti_ctx *ctx, size_t n)
{
    float *x = malloc(n * sizeof(float));
    tu_fill(ti_ctx_rng(ctx), x, n, 0.0f, 1.0f);
    return x;
}

START_TEST(test_training_forward)
{
    ti_ctx *ctx = ti_ctx_new(2, 1);
    ti_model *m = new_model(ctx, "resnet18", 1, 16, 16);
    int N = 4, shape[4] = {N, 1, 16, 16}, labels[4] = {0, 1, 2, 3};
    float *x = random_input(ctx, (size_t)N * 256);
    ti_tape *tape = ti_tape_new(ctx);
    ti_param *rm = ti_model_find(m, "layer2.0.shortcut.1.running_mean");
    ti_param *cnt = ti_model_find(m, "layer2.0.shortcut.1.num_batches_tracked");
    for (int step = 1; step <= 2; step++) {
        ti_tape_reset(tape);
        ti_tensor *in = ti_tape_input(tape, x, 4, shape, 0);
        ti_tensor *z = ti_model_forward(m, tape, in, 1);
        ti_tensor *loss = ti_cross_entropy(tape, z, labels, TI_REDUCE_MEAN);
        ck_assert_msg(loss != NULL, "%s", ti_ctx_errmsg(ctx));
        ck_assert_int_eq(ti_tape_backward(tape, loss), TI_OK);
        ck_assert_float_eq(cnt->t.data[0], (float)step);
    }
    double g = 0, r = 0;
    for (size_t j = 0; j < rm->t.size; j++)
        r += fabs(rm->t.data[j]);
    ti_param *w = ti_model_find(m, "layer4.1.conv2.weight");
    for (size_t j = 0; j < w->t.size; j++)
        g += fabs(w->t.grad[j]);
    ck_assert(r > 0 && g > 0);
    ti_model_zero_grad(m);
    for (int i = 0; i < ti_model_nparams(m); i++) {
        ti_param *p = ti_model_param(m, i);
        if (p->t.grad)
            for (size_t j = 0; j < p->t.size; j++)
                ck_assert_float_eq(p->t.grad[j], 0.0f);
    }
    /* without parameter gradients nothing is recorded for an input that needs none */
    ti_model_set_requires_grad(m, 0);
    ck_assert_int_eq(w->t.requires_grad, 0);
    ti_tape_reset(tape);
    ti_tensor *z = ti_model_forward(m, tape, ti_tape_input(tape, x, 4, shape, 0), 0);
    ck_assert_ptr_nonnull(z);
    ck_assert_ptr_null(z->node);
    ti_model_set_requires_grad(m, 1);
    ck_assert_int_eq(w->t.requires_grad, 1);
    ck_assert_int_eq(ti_model_find(m, "bn1.running_var")->t.requires_grad, 0);
    ti_tape_free(tape);
    free(x);
    ti_model_free(m);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_masks)
{
    ti_ctx *ctx = ti_ctx_new(3, 1);
    ti_model *m = new_model(ctx, "smallcnn", 1, 28, 28);
    ti_param *w = ti_model_find(m, "fc1.weight");
    float *mask = malloc(w->t.size * sizeof(float));
    size_t total = 0, zeros = 0;
    for (int i = 0; i < ti_model_nparams(m); i++)
        if (ti_model_param(m, i)->kind == TI_PARAM_WEIGHT)
            total += ti_model_param(m, i)->t.size;
    for (size_t j = 0; j < w->t.size; j++) {
        mask[j] = j % 4 == 0 ? 0.0f : 1.0f;
        zeros += j % 4 == 0;
    }
    ck_assert_int_eq(ti_model_set_mask(m, w, mask), TI_OK);
    ck_assert_ptr_nonnull(w->mask);
    ck_assert_float_eq(w->t.data[0], 0.0f);
    ck_assert_float_ne(w->t.data[1], 0.0f);
    ck_assert_double_eq_tol(ti_model_sparsity(m), (double)zeros / total, 1e-12);
    /* errors: not a weight, not 0/1 */
    ck_assert_int_eq(ti_model_set_mask(m, ti_model_find(m, "fc1.bias"), mask), TI_ERR_ARG);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "fc1.bias") != NULL);
    mask[3] = 0.5f;
    ck_assert_int_eq(ti_model_set_mask(m, w, mask), TI_ERR_ARG);
    ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    ck_assert_int_eq(ti_model_set_mask(m, w, NULL), TI_OK);
    ck_assert_ptr_null(w->mask);
    free(mask);
    ti_model_free(m);
    ti_ctx_free(ctx);
}
END_TEST

/* Evaluation passes fold each batch norm into its convolution and keep the folded weights
 * between passes: they agree with the unfolded pass (conv, then BN; logits of about 0.02, so
 * a change of 1e-4 is well above the agreement of 1e-6), and follow the weights
 * when these change (a running variance through ti_model_find, a conv weight through a
 * pointer kept from earlier plus ti_model_weights_changed). */
static void eval_logits(ti_model *m, ti_tape *tape, float *x, int *shape, int folded, float *out)
{
    ti_tape_reset(tape);
    ti_tape_set_recording(tape, !folded); /* recording with parameter gradients: unfolded */
    ti_tensor *z = ti_model_forward(m, tape, ti_tape_input(tape, x, 4, shape, 0), 0);
    ck_assert_msg(z != NULL, "%s", ti_ctx_errmsg(ti_model_ctx(m)));
    memcpy(out, z->data, z->size * sizeof(float));
}

START_TEST(test_folded_bn_follows_weights)
{
    ti_ctx *ctx = ti_ctx_new(4, 1);
    ti_model *m = new_model(ctx, "resnet18", 1, 16, 16);
    int N = 2, shape[4] = {N, 1, 16, 16};
    float *x = random_input(ctx, (size_t)N * 256);
    ti_tape *tape = ti_tape_new(ctx);
    float a[20], b[20], c[20];
    ti_param *w = ti_model_find(m, "layer1.0.conv1.weight");
    eval_logits(m, tape, x, shape, 1, a);
    eval_logits(m, tape, x, shape, 1, b);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0); /* the kept fold: the same bits */
    eval_logits(m, tape, x, shape, 0, c);
    ck_assert_msg(tu_reldiff(a, c, 20) < 1e-6, "folded %g from unfolded", tu_reldiff(a, c, 20));

    ti_param *var = ti_model_find(m, "layer1.0.bn1.running_var");
    for (size_t j = 0; j < var->t.size; j++)
        var->t.data[j] = 0.25f + 0.01f * (float)j;
    eval_logits(m, tape, x, shape, 1, b);
    eval_logits(m, tape, x, shape, 0, c);
    ck_assert_msg(tu_reldiff(a, b, 20) > 1e-4, "a new running variance left the logits alone");
    ck_assert_msg(tu_reldiff(b, c, 20) < 1e-6, "stale fold after ti_model_find: %g",
                  tu_reldiff(b, c, 20));

    for (size_t j = 0; j < w->t.size; j++) /* w was handed out before the last passes */
        w->t.data[j] *= -2.0f;
    ti_model_weights_changed(m);
    eval_logits(m, tape, x, shape, 1, a);
    eval_logits(m, tape, x, shape, 0, c);
    ck_assert_msg(tu_reldiff(a, b, 20) > 1e-4, "a new conv weight left the logits alone");
    ck_assert_msg(tu_reldiff(a, c, 20) < 1e-6, "stale fold after ti_model_weights_changed: %g",
                  tu_reldiff(a, c, 20));
    ti_tape_free(tape);
    free(x);
    ti_model_free(m);
    ti_ctx_free(ctx);
}
END_TEST

typedef struct hook_state {
    int calls;
    const char *zero; /* the weight to replace by zeros */
} hook_state;

static ti_tensor *hook(void *user, ti_tape *tape, ti_param *w)
{
    hook_state *h = user;
    h->calls++;
    if (strcmp(w->name, h->zero) == 0)
        return ti_scale(tape, &w->t, 0.0f);
    return &w->t;
}

START_TEST(test_weight_hook)
{
    ti_ctx *ctx = ti_ctx_new(4, 1);
    ti_model *m = new_model(ctx, "smallcnn", 1, 28, 28);
    int shape[4] = {2, 1, 28, 28};
    float *x = random_input(ctx, 2 * 784);
    ti_tape *tape = ti_tape_new(ctx);
    ti_tensor *z0 = ti_model_forward(m, tape, ti_tape_input(tape, x, 4, shape, 0), 0);
    float ref[20];
    memcpy(ref, z0->data, sizeof ref);
    hook_state h = {0, "none"};
    ti_model_set_weight_fn(m, hook, &h);
    ti_tape_reset(tape);
    ti_tensor *z = ti_model_forward(m, tape, ti_tape_input(tape, x, 4, shape, 0), 0);
    ck_assert_int_eq(h.calls, 4); /* one per conv/linear weight */
    ck_assert(memcmp(z->data, ref, sizeof ref) == 0);
    h.zero = "fc2.weight";
    ti_tape_reset(tape);
    z = ti_model_forward(m, tape, ti_tape_input(tape, x, 4, shape, 0), 0);
    const float *b = ti_model_find(m, "fc2.bias")->t.data;
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 10; j++)
            ck_assert_float_eq(z->data[n * 10 + j], b[j]);
    ti_model_set_weight_fn(m, NULL, NULL);
    ti_tape_reset(tape);
    z = ti_model_forward(m, tape, ti_tape_input(tape, x, 4, shape, 0), 0);
    ck_assert(memcmp(z->data, ref, sizeof ref) == 0);
    ti_tape_free(tape);
    free(x);
    ti_model_free(m);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- the classifier view ---------------------------------------------------------------- */

START_TEST(test_classifier_view)
{
    ti_ctx *ctx = ti_ctx_new(8, 1);
    ti_model *m = new_model(ctx, "smallcnn", 1, 16, 16);
    int N = 5, M = 10;
    size_t D = 256;
    float *x = random_input(ctx, (size_t)N * D);
    float z1[50], z2[50], dz[50];
    ti_classifier f;
    ck_assert_int_eq(ti_model_classifier(m, 5, &f), TI_OK);
    ck_assert(f.C == 1 && f.H == 16 && f.W == 16 && f.M == 10);
    ck_assert_int_eq(f.forward(f.self, x, N, z1), TI_OK);
    ck_assert_int_eq(ti_model_classifier(m, 2, &f), TI_OK); /* replaces the first view */
    ck_assert_int_eq(f.forward(f.self, x, N, z2), TI_OK);
    ck_assert(tu_maxdiff(z1, z2, 50) < 1e-5);
    /* jacobian rows = vjp of one-hot seeds; no parameter gradient, requires_grad restored */
    float *jac = malloc((size_t)N * M * D * sizeof(float)), *dx = malloc((size_t)N * D * 4);
    ck_assert_int_eq(f.jacobian(f.self, x, N, z2, jac), TI_OK);
    ck_assert(tu_maxdiff(z1, z2, 50) < 1e-5);
    for (int k = 0; k < M; k += 3) {
        for (int i = 0; i < N * M; i++)
            dz[i] = i % M == k ? 1.0f : 0.0f;
        ck_assert_int_eq(f.vjp(f.self, x, N, dz, NULL, dx), TI_OK);
        for (int n = 0; n < N; n++)
            ck_assert(tu_maxdiff(dx + n * D, jac + ((size_t)n * M + k) * D, D) < 1e-6);
    }
    /* a vjp in batches of 2 equals one backward over the whole batch on a tape of our own
     * (the gradients themselves are checked against PyTorch in the parity cases; finite
     * differences are too noisy across this many ReLU and max-pool kinks) */
    ti_rng *r = ti_ctx_rng(ctx);
    for (int i = 0; i < N * M; i++)
        dz[i] = ti_rng_uniform(r, -1, 1);
    ck_assert_int_eq(f.vjp(f.self, x, N, dz, NULL, dx), TI_OK);
    ti_tape *tape = ti_tape_new(ctx);
    int shape[4] = {N, 1, 16, 16};
    ti_tensor *in = ti_tape_input(tape, x, 4, shape, 1);
    ti_tensor *z = ti_model_forward(m, tape, in, 0);
    ck_assert_int_eq(ti_tape_backward_seed(tape, z, dz), TI_OK);
    double gmax = 0;
    for (size_t i = 0; i < N * D; i++)
        gmax = fmax(gmax, fabs(in->grad[i]));
    ck_assert(gmax > 0 && tu_maxdiff(dx, in->grad, N * D) <= 1e-5 * gmax);
    ti_tape_free(tape);
    ti_model_zero_grad(m); /* the direct backward above did fill parameter gradients */
    ck_assert_int_eq(f.vjp(f.self, x, N, dz, NULL, dx), TI_OK);
    for (int i = 0; i < ti_model_nparams(m); i++) {
        ti_param *p = ti_model_param(m, i);
        if (p->t.grad) {
            ck_assert_int_eq(p->t.requires_grad, 1);
            for (size_t j = 0; j < p->t.size; j++)
                ck_assert_float_eq(p->t.grad[j], 0.0f);
        }
    }
    ck_assert_int_eq(ti_model_classifier(m, 0, &f), TI_ERR_ARG);
    free(jac);
    free(dx);
    free(x);
    ti_model_free(m);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- checkpoints ----------------------------------------------------------------------- */

START_TEST(test_save_load_roundtrip)
{
    ti_ctx *ctx = ti_ctx_new(9, 1);
    ti_model_config c = cfg_of(1, 16, 16, 10);
    c.normalize = 1;
    c.mean[0] = 0.25f;
    c.std[0] = 0.5f;
    ti_model *a = NULL, *b = NULL;
    ck_assert_int_eq(ti_model_new(ctx, "resnet18", &c, &a), TI_OK);
    /* a training forward gives non-trivial running statistics and counts */
    int shape[4] = {4, 1, 16, 16};
    float *x = random_input(ctx, 4 * 256);
    ti_tape *tape = ti_tape_new(ctx);
    ck_assert_ptr_nonnull(ti_model_forward(a, tape, ti_tape_input(tape, x, 4, shape, 0), 1));
    ti_param *w = ti_model_find(a, "layer1.1.conv2.weight");
    float *mask = malloc(w->t.size * sizeof(float));
    for (size_t j = 0; j < w->t.size; j++)
        mask[j] = j % 3 ? 1.0f : 0.0f;
    ck_assert_int_eq(ti_model_set_mask(a, w, mask), TI_OK);
    const char *path = tmp_path("roundtrip.safetensors");
    ck_assert_msg(ti_model_save(a, path) == TI_OK, "%s", ti_ctx_errmsg(ctx));

    ti_st_file *f = NULL;
    ck_assert_int_eq(ti_st_open(ctx, path, &f), TI_OK);
    ck_assert_str_eq(ti_st_metadata(f, "arch"), "resnet18");
    ck_assert_str_eq(ti_st_metadata(f, "input"), "1x16x16");
    ck_assert_str_eq(ti_st_metadata(f, "classes"), "10");
    const ti_st_entry *e = ti_st_find(f, "bn1.num_batches_tracked");
    ck_assert(e && e->dtype == TI_DTYPE_I64 && e->ndim == 0);
    /* the mask is a BOOL tensor: a byte per weight, not a float */
    e = ti_st_find(f, "layer1.1.conv2.weight_mask");
    ck_assert(e && e->dtype == TI_DTYPE_BOOL && e->nbytes == w->t.size);
    ck_assert_int_eq(ti_st_count(f), ti_model_nparams(a) + 1);
    ti_st_close(f);

    ti_ctx *c2 = ti_ctx_new(77, 1); /* another seed (other initial weights), same threads */
    ck_assert_int_eq(ti_model_new(c2, "resnet18", &c, &b), TI_OK);
    ck_assert_msg(ti_model_load(b, path) == TI_OK, "%s", ti_ctx_errmsg(c2));
    for (int i = 0; i < ti_model_nparams(a); i++) {
        ti_param *p = ti_model_param(a, i), *q = ti_model_param(b, i);
        ck_assert(memcmp(p->t.data, q->t.data, p->t.size * sizeof(float)) == 0);
        ck_assert((p->mask == NULL) == (q->mask == NULL));
    }
    ti_param *wb = ti_model_find(b, "layer1.1.conv2.weight");
    ck_assert(memcmp(wb->mask, mask, w->t.size * sizeof(float)) == 0);
    ck_assert_float_eq(ti_model_find(b, "bn1.num_batches_tracked")->t.data[0], 1.0f);
    float za[40], zb[40];
    ti_classifier fa, fb;
    ck_assert_int_eq(ti_model_classifier(a, 4, &fa), TI_OK);
    ck_assert_int_eq(ti_model_classifier(b, 4, &fb), TI_OK);
    ck_assert_int_eq(fa.forward(fa.self, x, 4, za), TI_OK);
    ck_assert_int_eq(fb.forward(fb.self, x, 4, zb), TI_OK);
    ck_assert(memcmp(za, zb, sizeof za) == 0);
    unlink(path);
    tmp_done();
    free(mask);
    free(x);
    ti_tape_free(tape);
    ti_model_free(a);
    ti_model_free(b);
    ti_ctx_free(ctx);
    ti_ctx_free(c2);
}
END_TEST

START_TEST(test_errors)
{
    ti_ctx *ctx = ti_ctx_new(10, 1);
    ti_model_config c = cfg_of(3, 32, 32, 10);
    ti_model *m = (ti_model *)&c;
    /* unknown architecture: the message lists the valid names */
    ck_assert_int_eq(ti_model_new(ctx, "resnet50", &c, &m), TI_ERR_ARG);
    ck_assert_ptr_null(m);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "resnet50") && strstr(ti_ctx_errmsg(ctx), "wrn_28_10"));
    ck_assert_int_eq(ti_model_new(ctx, "smallcnn", NULL, &m), TI_ERR_ARG);
    c.C = 0;
    ck_assert_int_eq(ti_model_new(ctx, "smallcnn", &c, &m), TI_ERR_ARG);
    ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    c = cfg_of(1, 28, 28, 10);
    c.normalize = 1; /* std 0 */
    ck_assert_int_eq(ti_model_new(ctx, "smallcnn", &c, &m), TI_ERR_ARG);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "std") != NULL);
    /* an input too small for four pools */
    c = cfg_of(1, 8, 8, 10);
    ck_assert_int_eq(ti_model_new(ctx, "vgg16_bn", &c, &m), TI_ERR_SHAPE);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "too small") != NULL);

    /* forward with the wrong input shape */
    m = new_model(ctx, "smallcnn", 1, 28, 28);
    ti_tape *tape = ti_tape_new(ctx);
    int shape[4] = {2, 3, 32, 32};
    float *x = random_input(ctx, 2 * 3 * 1024);
    ck_assert_ptr_null(ti_model_forward(m, tape, ti_tape_input(tape, x, 4, shape, 0), 0));
    ck_assert_int_eq(ti_tape_status(tape), TI_ERR_SHAPE);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "CIFAR-10") != NULL);
    ti_classifier f;
    ck_assert_int_eq(ti_model_classifier(m, 2, &f), TI_OK);

    /* a CIFAR-10 checkpoint into a 1-channel model: names the key and hints */
    ti_model *cif = new_model(ctx, "smallcnn", 3, 32, 32);
    const char *path = tmp_path("cifar.safetensors");
    ck_assert_int_eq(ti_model_save(cif, path), TI_OK);
    float before = ti_model_param(m, 0)->t.data[0];
    ck_assert_int_eq(ti_model_load(m, path), TI_ERR_SHAPE);
    const char *msg = ti_ctx_errmsg(ctx);
    ck_assert_msg(strstr(msg, path) && strstr(msg, "conv1.weight") && strstr(msg, "(32, 3, 3, 3)") &&
                      strstr(msg, "(32, 1, 3, 3)") && strstr(msg, "CIFAR-10"),
                  "%s", msg);
    ck_assert_float_eq(ti_model_param(m, 0)->t.data[0], before); /* untouched */

    /* a missing key */
    ti_st_writer *w = ti_st_writer_new();
    for (int i = 0; i < ti_model_nparams(m) - 1; i++) { /* all but fc2.bias */
        ti_param *p = ti_model_param(m, i);
        int64_t s[4];
        for (int d = 0; d < p->t.ndim; d++)
            s[d] = p->t.shape[d];
        ck_assert_int_eq(ti_st_add_f32(w, p->name, p->t.ndim, s, p->t.data), TI_OK);
    }
    const char *p2 = tmp_path("missing.safetensors");
    ck_assert_int_eq(ti_st_write(ctx, w, p2), TI_OK);
    ti_st_writer_free(w);
    ck_assert_int_eq(ti_model_load(m, p2), TI_ERR_FORMAT);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "fc2.bias") && strstr(ti_ctx_errmsg(ctx), "missing"));

    /* a truncated file, and no file at all */
    const char *p3 = tmp_path("ok.safetensors"), *p4 = tmp_path("truncated.safetensors");
    ck_assert_int_eq(ti_model_save(m, p3), TI_OK);
    FILE *in = fopen(p3, "rb"), *out = fopen(p4, "wb");
    char buf[4096];
    size_t got = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, got, out);
    fclose(in);
    fclose(out);
    ti_status s = ti_model_load(m, p4);
    ck_assert(s == TI_ERR_FORMAT || s == TI_ERR_IO);
    ck_assert(strstr(ti_ctx_errmsg(ctx), "truncated") != NULL || ti_ctx_errmsg(ctx)[0]);
    ck_assert_int_eq(ti_model_load(m, tmp_path("does-not-exist.safetensors")), TI_ERR_IO);
    ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    ck_assert_int_eq(ti_model_load(m, p3), TI_OK);
    unlink(path);
    unlink(p2);
    unlink(p3);
    unlink(p4);
    tmp_done();
    free(x);
    ti_tape_free(tape);
    ti_model_free(cif);
    ti_model_free(m);
    ti_model_free(NULL);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_model(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("zoo");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_counts);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_training_forward);
    tcase_add_test(tc, test_masks);
    tcase_add_test(tc, test_weight_hook);
    tcase_add_test(tc, test_folded_bn_follows_weights);
    tcase_add_test(tc, test_classifier_view);
    tcase_add_test(tc, test_save_load_roundtrip);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("parity");
    tcase_set_timeout(tp, 240);
    tcase_add_loop_test(tp, test_parity, 0, NCASES);
    tcase_add_test(tp, test_parity_real_weights);
    suite_add_tcase(s, tp);
    return s;
}
