/* Model-zoo benchmark (docs/PERFORMANCE.md#model-zoo): ResNet-18, VGG-16-BN and WRN-28-4 at batch 128 on 3x32x32,
 * three workloads each: forward (evaluation, nothing recorded), a training step without the
 * optimizer (zero grads, training-mode forward, mean cross-entropy, backward to every parameter)
 * and the input gradient attacks use (evaluation mode, parameters frozen, summed cross-entropy,
 * backward to the image only). Each workload runs in a child process so that its peak memory
 * (max RSS minus the RSS before the model was made) is its own. Printed with the OpenBLAS
 * sgemm GFLOP/s of the same run (the machine is shared: compare ratios), as a table and JSON.
 * PyTorch's side: scripts/bench_pytorch_models.py.
 * Usage: bench_models [out.json]   (default build/bench_models.json)
 * Environment: THINICE_THREADS (2), THINICE_BENCH_REPS (timed steps per workload, 3),
 * THINICE_BENCH_MODELS (comma-separated architectures), THINICE_BENCH_BATCH (128). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "thinice/json.h"
#include "thinice/model.h"
#include "thinice/ops.h"

enum { W_FORWARD, W_TRAIN, W_INPUT_GRAD, W_COUNT };
static const char *const wnames[W_COUNT] = {"forward", "train", "input_grad"};

/* What a child sends back through its pipe. */
typedef struct result {
    int ok;
    double images_per_s; /* best of the timed steps */
    double median_ips;   /* median of the timed steps */
    double cpu_ms;       /* least CPU time (all threads) of a timed step, per image, ms */
    double peak_mib;     /* max RSS minus the RSS before the model existed */
    double arena_mib;    /* the tape's arena after the run */
    int arena_grew;      /* did the arena grow after the warm-up step? (it must not) */
    char err[200];
} result;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int env_int(const char *name, int dflt)
{
    const char *s = getenv(name);
    return s && atoi(s) > 0 ? atoi(s) : dflt;
}

/* Resident set size now, in bytes (/proc/self/statm: pages). */
static double rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One step of workload w on a batch; returns its logits' tensor or NULL. */
static ti_tensor *step(ti_model *m, ti_tape *tape, int w, const float *x, const int *labels,
                       int N)
{
    const ti_model_config *c = ti_model_get_config(m);
    int shape[4] = {N, c->C, c->H, c->W};
    ti_tape_reset(tape);
    ti_tape_set_recording(tape, w != W_FORWARD);
    if (w == W_TRAIN)
        ti_model_zero_grad(m);
    ti_tensor *in = ti_tape_input(tape, x, 4, shape, w == W_INPUT_GRAD);
    ti_tensor *z = ti_model_forward(m, tape, in, w == W_TRAIN);
    if (w == W_FORWARD)
        return z;
    ti_tensor *loss = ti_cross_entropy(tape, z, labels,
                                       w == W_TRAIN ? TI_REDUCE_MEAN : TI_REDUCE_SUM);
    if (!loss || ti_tape_backward(tape, loss) != TI_OK)
        return NULL;
    return z;
}

/* The child's work: make the model, warm up once, time `reps` steps. */
static void run_workload(const char *arch, int w, int N, int threads, int reps, result *res)
{
    memset(res, 0, sizeof *res);
    double rss0 = rss_bytes();
    ti_ctx *ctx = ti_ctx_new(1, threads);
    ti_model *m = NULL;
    ti_model_config cfg = {.C = 3, .H = 32, .W = 32, .M = 10};
    if (!ctx || ti_model_new(ctx, arch, &cfg, &m) != TI_OK) {
        snprintf(res->err, sizeof res->err, "model %s: %s", arch, ti_ctx_errmsg(ctx));
        return;
    }
    ti_tape *tape = ti_tape_new(ctx);
    float *x = malloc((size_t)N * 3 * 32 * 32 * sizeof(float));
    int *labels = malloc((size_t)N * sizeof(int));
    double *times = malloc((size_t)reps * sizeof(double));
    if (!tape || !x || !labels || !times) {
        snprintf(res->err, sizeof res->err, "out of memory");
        return;
    }
    ti_rng *r = ti_ctx_rng(ctx);
    for (size_t i = 0; i < (size_t)N * 3 * 32 * 32; i++)
        x[i] = ti_rng_uniform(r, 0, 1);
    for (int i = 0; i < N; i++)
        labels[i] = (int)ti_rng_below(r, 10);
    /* attacks freeze the weights; the forward workload records nothing anyway.
     * Batch norm keeps its initial running statistics (mean 0, var 1), as in PyTorch. */
    ti_model_set_requires_grad(m, w == W_TRAIN);
    size_t arena = 0;
    double cpu = 1e30;
    for (int rep = -1; rep < reps; rep++) { /* rep -1 warms up the arena and the threads */
        double c0 = cpu_now(), t0 = ti_clock();
        ti_tensor *z = step(m, tape, w, x, labels, N);
        double t = ti_clock() - t0, ct = cpu_now() - c0;
        if (!z) {
            snprintf(res->err, sizeof res->err, "%s %s: %s", arch, wnames[w],
                     ti_ctx_errmsg(ctx));
            return;
        }
        if (rep < 0)
            arena = ti_tape_arena_bytes(tape);
        else {
            times[rep] = t;
            cpu = ct < cpu ? ct : cpu;
        }
    }
    res->cpu_ms = 1e3 * cpu / N;
    res->arena_grew = ti_tape_arena_bytes(tape) != arena;
    res->arena_mib = (double)ti_tape_arena_bytes(tape) / (1 << 20);
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    res->images_per_s = N / times[0];
    res->median_ips = N / times[reps / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    res->peak_mib = ((double)ru.ru_maxrss * 1024.0 - rss0) / (1 << 20);
    res->ok = 1;
    /* the child exits right after: the OS takes the memory back */
}

/* Runs one workload in a child process and collects its result. */
static void run_child(const char *arch, int w, int N, int threads, int reps, result *res)
{
    int fd[2];
    memset(res, 0, sizeof *res);
    if (pipe(fd) != 0) {
        snprintf(res->err, sizeof res->err, "pipe failed");
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        result r;
        run_workload(arch, w, N, threads, reps, &r);
        ssize_t n = write(fd[1], &r, sizeof r);
        _exit(n == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    if (pid < 0 || read(fd[0], res, sizeof *res) != (ssize_t)sizeof *res) {
        memset(res, 0, sizeof *res);
        snprintf(res->err, sizeof res->err, "the child process failed");
    }
    close(fd[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    bu_args(argc, argv, 1, "[out.json]   (default build/bench_models.json)");
    const char *out = argc > 1 ? argv[1] : "build/bench_models.json";
    int threads = env_int("THINICE_THREADS", 2), reps = env_int("THINICE_BENCH_REPS", 3);
    int N = env_int("THINICE_BENCH_BATCH", 128);
    const char *list = getenv("THINICE_BENCH_MODELS");
    char archs[256];
    snprintf(archs, sizeof archs, "%s", list && *list ? list : "resnet18,vgg16_bn,wrn_28_4");
    const char *names[16];
    int na = 0;
    for (char *save = NULL, *t = strtok_r(archs, ",", &save); t && na < 16;
         t = strtok_r(NULL, ",", &save))
        names[na++] = t;

    /* sgemm in a child too, before and after the models (best kept), so the parent never
     * starts OpenBLAS's threads before forking */
    double gemm = 0;
    result (*res)[W_COUNT] = calloc((size_t)na, sizeof *res);
    if (!res)
        return 1;
    for (int pass = 0; pass < 2; pass++) {
        int fd[2];
        if (pipe(fd) != 0)
            return 1;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            close(fd[0]);
            ti_ctx *ctx = ti_ctx_new(1, threads);
            double g = ctx ? bu_sgemm_gflops(1024, 7, threads) : 0;
            ssize_t n = write(fd[1], &g, sizeof g);
            _exit(n == (ssize_t)sizeof g ? 0 : 1);
        }
        close(fd[1]);
        double g = 0;
        if (pid < 0 || read(fd[0], &g, sizeof g) != (ssize_t)sizeof g)
            g = 0;
        close(fd[0]);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        if (g > gemm)
            gemm = g;
        if (pass == 1)
            break;
        for (int a = 0; a < na; a++)
            for (int w = 0; w < W_COUNT; w++) {
                run_child(names[a], w, N, threads, reps, &res[a][w]);
                if (!res[a][w].ok) {
                    fprintf(stderr, "bench_models: %s\n", res[a][w].err);
                    return 1;
                }
                fprintf(stderr, "  %s %s: %.1f images/s\n", names[a], wnames[w],
                        res[a][w].images_per_s);
            }
    }

    printf("thinice, batch %d, 3x32x32, %d threads; sgemm 1024^3 %.1f GFLOP/s "
           "(best of before and after)\n",
           N, threads, gemm);
    printf("best (median) images/s of %d steps; peak = max RSS - RSS before the model, MiB\n",
           reps);
    printf("%-10s | %-15s | %-15s | %-15s | %-17s | %-20s\n", "model", "forward",
           "fwd+bwd (train)", "input grad", "CPU ms/img f/t/g", "peak MiB f/t/g");
    for (int a = 0; a < na; a++) {
        printf("%-10s", names[a]);
        for (int w = 0; w < W_COUNT; w++)
            printf(" | %6.1f (%6.1f)", res[a][w].images_per_s, res[a][w].median_ips);
        printf(" | %5.1f/%5.1f/%5.1f", res[a][W_FORWARD].cpu_ms, res[a][W_TRAIN].cpu_ms,
               res[a][W_INPUT_GRAD].cpu_ms);
        printf(" | %5.0f/%5.0f/%5.0f\n", res[a][W_FORWARD].peak_mib, res[a][W_TRAIN].peak_mib,
               res[a][W_INPUT_GRAD].peak_mib);
    }
    for (int a = 0; a < na; a++)
        for (int w = 0; w < W_COUNT; w++)
            if (res[a][w].arena_grew)
                printf("warning: %s %s: the tape's arena grew after the warm-up step\n",
                       names[a], wnames[w]);

    ti_jw *j = ti_jw_new();
    if (!j)
        return 1;
    ti_jw_begin_object(j);
    ti_jw_key(j, "library");
    ti_jw_string(j, "thinice");
    ti_jw_key(j, "threads");
    ti_jw_int(j, threads);
    ti_jw_key(j, "batch");
    ti_jw_int(j, N);
    ti_jw_key(j, "reps");
    ti_jw_int(j, reps);
    ti_jw_key(j, "sgemm_1024_gflops");
    ti_jw_number(j, gemm);
    ti_jw_key(j, "models");
    ti_jw_begin_object(j);
    for (int a = 0; a < na; a++) {
        ti_jw_key(j, names[a]);
        ti_jw_begin_object(j);
        for (int w = 0; w < W_COUNT; w++) {
            ti_jw_key(j, wnames[w]);
            ti_jw_begin_object(j);
            ti_jw_key(j, "images_per_s");
            ti_jw_number(j, res[a][w].images_per_s);
            ti_jw_key(j, "median_images_per_s");
            ti_jw_number(j, res[a][w].median_ips);
            ti_jw_key(j, "cpu_ms_per_image");
            ti_jw_number(j, res[a][w].cpu_ms);
            ti_jw_key(j, "peak_mib");
            ti_jw_number(j, res[a][w].peak_mib);
            ti_jw_key(j, "arena_mib");
            ti_jw_number(j, res[a][w].arena_mib);
            ti_jw_key(j, "arena_grew_after_warmup");
            ti_jw_bool(j, res[a][w].arena_grew);
            ti_jw_end_object(j);
        }
        ti_jw_end_object(j);
    }
    ti_jw_end_object(j);
    ti_jw_end_object(j);
    size_t len = 0;
    const char *text = ti_jw_text(j, &len);
    if (argc <= 1)
        mkdir("build", 0777); /* the default's folder may not exist in another BUILD */
    FILE *f = text ? fopen(out, "w") : NULL;
    int rc = 0;
    if (!f || fwrite(text, 1, len, f) != len) {
        fprintf(stderr, "bench_models: cannot write %s\n", out);
        rc = 1;
    }
    if (f && fclose(f) != 0)
        rc = 1;
    ti_jw_free(j);
    free(res);
    return rc;
}
