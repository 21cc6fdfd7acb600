/* ONNX loading benchmark: writes a generated ~50 MB model (Conv -> Relu -> Flatten -> Gemm
 * 3072 -> 4096 -> Relu -> Gemm 4096 -> 10 on 3x32x32 inputs, random weights) to a temporary
 * file with a small protobuf encoder, then times ti_onnx_load (read + decode + compile + a
 * one-image dry run) over 5 runs, in wall time and in CPU time of the process (user + system:
 * what the load costs, independent of other jobs on a shared machine). Fails if the best CPU
 * time reaches a second (the goal is well under a second). One thread. Usage:
 * bench_onnx [out.json]. The file is deleted. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "thinice/onnx.h"
#include "util.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- a growable byte buffer and the wire format (varints, tags, length prefixes) ---- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            fprintf(stderr, "bench_onnx: out of memory\n");
            exit(1);
        }
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void varint(buf *b, uint64_t v)
{
    uint8_t t[10];
    int n = 0;
    do {
        t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(b, t, (size_t)n);
}

static void f_varint(buf *b, int field, uint64_t v)
{
    varint(b, (uint64_t)field << 3);
    varint(b, v);
}

static void f_bytes(buf *b, int field, const void *d, size_t n)
{
    varint(b, (uint64_t)field << 3 | 2);
    varint(b, n);
    put(b, d, n);
}

static void f_str(buf *b, int field, const char *s)
{
    f_bytes(b, field, s, strlen(s));
}

static void f_msg(buf *b, int field, buf *m)
{
    f_bytes(b, field, m->p, m->n);
    m->n = 0;
}

/* TensorProto with raw float data */
static void tensor(buf *g, const char *name, int ndim, const int64_t *dims, uint64_t *seed)
{
    buf t = {0};
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        f_varint(&t, 1, (uint64_t)dims[i]);
        n *= (size_t)dims[i];
    }
    f_varint(&t, 2, 1);
    f_str(&t, 8, name);
    float *d = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) { /* small uniform values from an LCG */
        *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
        d[i] = ((float)(*seed >> 40) / (float)(1 << 24) - 0.5f) * 0.02f;
    }
    f_bytes(&t, 9, d, n * sizeof(float));
    free(d);
    f_msg(g, 5, &t);
    free(t.p);
}

static void attr_ints(buf *node, const char *name, const int64_t *v, int n)
{
    buf a = {0};
    f_str(&a, 1, name);
    for (int i = 0; i < n; i++)
        f_varint(&a, 8, (uint64_t)v[i]);
    f_varint(&a, 20, 7);
    f_msg(node, 5, &a);
    free(a.p);
}

static void node(buf *g, const char *op, const char *name, const char *in0, const char *in1,
                 const char *in2, const char *out, int conv_or_gemm)
{
    buf n = {0};
    f_str(&n, 1, in0);
    if (in1)
        f_str(&n, 1, in1);
    if (in2)
        f_str(&n, 1, in2);
    f_str(&n, 2, out);
    f_str(&n, 3, name);
    f_str(&n, 4, op);
    if (conv_or_gemm == 1) {
        int64_t k[2] = {3, 3}, p[4] = {1, 1, 1, 1};
        attr_ints(&n, "kernel_shape", k, 2);
        attr_ints(&n, "pads", p, 4);
    } else if (conv_or_gemm == 2) {
        buf a = {0};
        f_str(&a, 1, "transB");
        f_varint(&a, 3, 1);
        f_varint(&a, 20, 2);
        f_msg(&n, 5, &a);
        free(a.p);
    }
    f_msg(g, 1, &n);
    free(n.p);
}

static void vinfo(buf *g, int field, const char *name, int ndim, const int64_t *dims)
{
    buf shape = {0}, dim = {0}, tt = {0}, type = {0}, vi = {0};
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            f_str(&dim, 2, "N");
        else
            f_varint(&dim, 1, (uint64_t)dims[i]);
        f_msg(&shape, 1, &dim);
    }
    f_varint(&tt, 1, 1);
    f_msg(&tt, 2, &shape);
    f_msg(&type, 1, &tt);
    f_str(&vi, 1, name);
    f_msg(&vi, 2, &type);
    f_msg(g, field, &vi);
    free(shape.p);
    free(dim.p);
    free(tt.p);
    free(type.p);
    free(vi.p);
}

static buf make_model(void)
{
    buf g = {0}, m = {0}, op = {0};
    uint64_t seed = 42;
    node(&g, "Conv", "conv", "x", "cw", "cb", "c", 1);
    node(&g, "Relu", "relu1", "c", NULL, NULL, "r1", 0);
    node(&g, "Flatten", "flat", "r1", NULL, NULL, "f", 0);
    node(&g, "Gemm", "fc1", "f", "w1", "b1", "h", 2);
    node(&g, "Relu", "relu2", "h", NULL, NULL, "r2", 0);
    node(&g, "Gemm", "fc2", "r2", "w2", "b2", "y", 2);
    f_str(&g, 2, "bench");
    tensor(&g, "cw", 4, (int64_t[]){3, 3, 3, 3}, &seed);
    tensor(&g, "cb", 1, (int64_t[]){3}, &seed);
    tensor(&g, "w1", 2, (int64_t[]){4096, 3072}, &seed);
    tensor(&g, "b1", 1, (int64_t[]){4096}, &seed);
    tensor(&g, "w2", 2, (int64_t[]){10, 4096}, &seed);
    tensor(&g, "b2", 1, (int64_t[]){10}, &seed);
    vinfo(&g, 11, "x", 4, (int64_t[]){-1, 3, 32, 32});
    vinfo(&g, 12, "y", 2, (int64_t[]){-1, 10});
    f_varint(&m, 1, 8);
    f_str(&m, 2, "bench_onnx");
    f_msg(&m, 7, &g);
    f_varint(&op, 2, 13);
    f_msg(&m, 8, &op);
    free(g.p);
    free(op.p);
    return m;
}

int main(int argc, char **argv)
{
    bu_args(argc, argv, 1, "[out.json]");
    buf m = make_model();
    char path[] = "/tmp/thinice_bench_onnx_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, m.p, m.n) != (ssize_t)m.n) {
        fprintf(stderr, "bench_onnx: cannot write %s\n", path);
        return 1;
    }
    close(fd);
    ti_ctx *ctx = ti_ctx_new(1, 1);
    double best = 1e9, best_cpu = 1e9, total = 0;
    int runs = 5, M = 0;
    for (int r = 0; r < runs; r++) {
        ti_onnx *g;
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        ti_status st = ti_onnx_load(ctx, path, &g);
        double dt = clock_s(CLOCK_MONOTONIC) - t0, dc = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (st != TI_OK) {
            fprintf(stderr, "bench_onnx: %s\n", ti_ctx_errmsg(ctx));
            unlink(path);
            return 1;
        }
        ti_onnx_shape(g, NULL, NULL, NULL, &M);
        ti_onnx_free(g);
        best = dt < best ? dt : best;
        best_cpu = dc < best_cpu ? dc : best_cpu;
        total += dt;
    }
    unlink(path);
    double mb = (double)m.n / 1e6;
    printf("onnx load: %.1f MB model, %d classes: best %.1f ms wall (mean %.1f ms), "
           "%.1f ms CPU (%.0f MB/s)\n",
           mb, M, 1e3 * best, 1e3 * total / runs, 1e3 * best_cpu, mb / best_cpu);
    if (argc > 1) {
        FILE *f = fopen(argv[1], "w");
        if (f) {
            fprintf(f, "{\"model_mb\": %.3f, \"best_wall_ms\": %.3f, \"mean_wall_ms\": %.3f, "
                       "\"best_cpu_ms\": %.3f}\n",
                    mb, 1e3 * best, 1e3 * total / runs, 1e3 * best_cpu);
            fclose(f);
        }
    }
    if (best_cpu >= 1.0) {
        fprintf(stderr, "bench_onnx: loading took %.2f s of CPU (should be well under a "
                        "second)\n",
                best_cpu);
        free(m.p);
        ti_ctx_free(ctx);
        return 1;
    }
    free(m.p);
    ti_ctx_free(ctx);
    return 0;
}
