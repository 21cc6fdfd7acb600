/* Tests of file I/O, JSON and safetensors: atomic writes, gzip reads, JSON parsing (escapes,
 * surrogates, errors with positions, depth) and exact double round trips, and safetensors
 * against a PyTorch-made fixture (scripts/make_st_fixture.py), in round trips and corrupted. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"
#include "thinice/fileio.h"
#include "thinice/json.h"
#include "thinice/safetensors.h"

#ifndef TI_FIXTURE_DIR
#define TI_FIXTURE_DIR "tests/fixtures"
#endif

static char tmpdir[256];

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static const char *tpath(const char *name)
{
    static char p[2][600];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* ---- fileio ------------------------------------------------------------------------------ */

START_TEST(test_atomic_write_and_read)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tu_tmpdir_make(tmpdir, sizeof tmpdir, "io");
    const char *p = tpath("a.txt");
    ck_assert_int_eq(ti_write_file_atomic(ctx, p, "hello", 5), TI_OK);
    ck_assert_int_eq(ti_write_file_atomic(ctx, p, "world!", 6), TI_OK);
    char *data;
    size_t len;
    ck_assert_int_eq(ti_read_file(ctx, p, &data, &len), TI_OK);
    ck_assert_uint_eq(len, 6);
    ck_assert_str_eq(data, "world!");
    free(data);
    ck_assert_int_eq(count_files(tmpdir), 1); /* no temporary left behind */

    /* an aborted write leaves the target as it was and removes the temporary */
    ti_afile f;
    ck_assert_int_eq(ti_afile_open(ctx, &f, p), TI_OK);
    fputs("garbage", f.fp);
    ck_assert_int_eq(count_files(tmpdir), 2);
    ti_afile_abort(&f);
    ck_assert_int_eq(count_files(tmpdir), 1);
    ck_assert_int_eq(ti_read_file(ctx, p, &data, &len), TI_OK);
    ck_assert_str_eq(data, "world!");
    free(data);

    /* an empty file reads as "" */
    ck_assert_int_eq(ti_write_file_atomic(ctx, tpath("empty"), "", 0), TI_OK);
    ck_assert_int_eq(ti_read_file(ctx, tpath("empty"), &data, &len), TI_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(data, "");
    free(data);

    /* gzip is read transparently, and a large file grows the buffer correctly */
    size_t big = 3 * 1000 * 1000 + 7;
    unsigned char *ref = malloc(big);
    for (size_t i = 0; i < big; i++)
        ref[i] = (unsigned char)(i * 2654435761u >> 13);
    gzFile gz = gzopen(tpath("b.gz"), "wb");
    ck_assert_int_eq(gzwrite(gz, ref, (unsigned)big), (int)big);
    gzclose(gz);
    ck_assert_int_eq(ti_read_file(ctx, tpath("b.gz"), &data, &len), TI_OK);
    ck_assert_uint_eq(len, big);
    ck_assert(memcmp(data, ref, big) == 0);
    free(data);

    /* a gzip file cut short is a format error */
    char *gzb;
    size_t gzn;
    FILE *fp = fopen(tpath("b.gz"), "rb");
    fseek(fp, 0, SEEK_END);
    gzn = (size_t)ftell(fp);
    rewind(fp);
    gzb = malloc(gzn);
    ck_assert_uint_eq(fread(gzb, 1, gzn, fp), gzn);
    fclose(fp);
    ck_assert_int_eq(ti_write_file_atomic(ctx, tpath("cut.gz"), gzb, gzn / 2), TI_OK);
    ck_assert_int_eq(ti_read_file(ctx, tpath("cut.gz"), &data, &len), TI_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "cut.gz"));
    ck_assert_ptr_null(data);
    free(gzb);
    free(ref);

    /* errors name the file */
    ck_assert_int_eq(ti_read_file(ctx, tpath("missing"), &data, &len), TI_ERR_IO);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "missing"));
    ck_assert_int_eq(ti_write_file_atomic(ctx, tpath("no/such/dir/x"), "x", 1), TI_ERR_IO);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "no/such/dir/x"));
    ck_assert_int_eq(ti_afile_commit(ctx, &(ti_afile){0}), TI_ERR_STATE);
    ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
    tu_tmpdir_remove(tmpdir);
    ti_ctx_free(ctx);
}
END_TEST

/* The kB of data memory (VmData in /proc/self/status) the process uses now; 0 if unknown. */
static long vm_data_kb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "VmData: %ld kB", &kb) == 1)
            break;
    if (fp)
        fclose(fp);
    return kb;
}

/* A 20-byte gzip file (header, an empty deflate block, CRC) whose size trailer claims
 * 4 GiB - 1: the reader must not believe the trailer. In a child whose data segment may
 * grow by 512 MiB at most (RLIMIT_DATA, which counts malloc's mmaps), the read must end in a
 * format error naming the file; an allocation sized from the trailer fails there (or aborts
 * under AddressSanitizer) instead. */
START_TEST(test_gzip_lying_trailer)
{
    tu_tmpdir_make(tmpdir, sizeof tmpdir, "io");
    static const unsigned char lie[20] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, /* header */
                                          0x03, 0x00,                       /* empty block */
                                          0, 0, 0, 0,                       /* CRC-32 of "" */
                                          0xff, 0xff, 0xff, 0xff};          /* ISIZE */
    ti_ctx *ctx = ti_ctx_new(1, 1);
    const char *p = tpath("lie.gz");
    ck_assert_int_eq(ti_write_file_atomic(ctx, p, lie, sizeof lie), TI_OK);
    long kb = vm_data_kb();
    ck_assert_int_gt(kb, 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit rl = {.rlim_cur = ((rlim_t)kb << 10) + ((rlim_t)512 << 20),
                            .rlim_max = RLIM_INFINITY};
        if (setrlimit(RLIMIT_DATA, &rl) != 0)
            _exit(90);
        char *data = NULL;
        size_t len;
        ti_status st = ti_read_file(ctx, p, &data, &len);
        _exit(st == TI_ERR_FORMAT && !data && strstr(ti_ctx_errmsg(ctx), "lie.gz") ? 0
              : st == TI_ERR_FORMAT ? 91 : 10 + (int)st);
    }
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    ck_assert_msg(WIFEXITED(ws), "the read died (signal %d): it allocated what the trailer "
                  "claims", WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    ck_assert_msg(WEXITSTATUS(ws) == 0, "child exit %d (10 + status, 90 setrlimit failed, 91 "
                  "message without the file name)", WEXITSTATUS(ws));
    /* the same file without a memory limit: the same error, in this process */
    char *data;
    size_t len;
    ck_assert_int_eq(ti_read_file(ctx, p, &data, &len), TI_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "lie.gz"));
    ti_ctx_free(ctx);
    tu_tmpdir_remove(tmpdir);
}
END_TEST

/* ---- JSON -------------------------------------------------------------------------------- */

static ti_json *parse_ok(ti_ctx *ctx, const char *s)
{
    ti_json *v = NULL;
    ti_status st = ti_json_parse(ctx, s, strlen(s), &v);
    ck_assert_msg(st == TI_OK, "parse of %s failed: %s", s, ti_ctx_errmsg(ctx));
    return v;
}

START_TEST(test_json_parse_values)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_json *v = parse_ok(ctx, " {\"a\": [1, -2.5e3, 0, -0, 1E-2, 12345678901234567890],\n"
                               "  \"s\": \"q\\\"b\\\\s\\/n\\n t\\t \\u00e9 \\ud83d\\ude00 \\u20ac\","
                               "  \"t\": true, \"f\": false, \"z\": null, \"o\": {}, \"e\": [],"
                               "  \"raw\": \"h\xc3\xa9\xe2\x82\xac\" } ");
    ck_assert_int_eq(ti_json_typeof(v), TI_JSON_OBJECT);
    ck_assert_uint_eq(ti_json_length(v), 8);
    ck_assert_str_eq(ti_json_key_at(v, 0), "a");
    const ti_json *a = ti_json_get(v, "a");
    ck_assert_uint_eq(ti_json_length(a), 6);
    ck_assert(ti_json_number(ti_json_at(a, 0)) == 1.0);
    ck_assert(ti_json_number(ti_json_at(a, 1)) == -2500.0);
    ck_assert(signbit(ti_json_number(ti_json_at(a, 3))));
    ck_assert(ti_json_number(ti_json_at(a, 4)) == 0.01);
    ck_assert(ti_json_number(ti_json_at(a, 5)) == 12345678901234567890.0);
    ck_assert_str_eq(ti_json_string(ti_json_get(v, "s")),
                     "q\"b\\s/n\n t\t \xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac");
    ck_assert_str_eq(ti_json_string(ti_json_get(v, "raw")), "h\xc3\xa9\xe2\x82\xac");
    ck_assert_int_eq(ti_json_typeof(ti_json_get(v, "t")), TI_JSON_BOOL);
    ck_assert_int_eq(ti_json_bool(ti_json_get(v, "t")), 1);
    ck_assert_int_eq(ti_json_bool(ti_json_get(v, "f")), 0);
    ck_assert_int_eq(ti_json_typeof(ti_json_get(v, "z")), TI_JSON_NULL);
    ck_assert_int_eq(ti_json_typeof(ti_json_get(v, "o")), TI_JSON_OBJECT);
    ck_assert_uint_eq(ti_json_length(ti_json_get(v, "e")), 0);
    ck_assert_ptr_null(ti_json_get(v, "absent"));
    ck_assert_ptr_null(ti_json_at(a, 6));
    ck_assert_ptr_null(ti_json_string(a));
    ck_assert(ti_json_number(ti_json_get(v, "s")) == 0.0);
    ti_json_free(v);
    /* a bare scalar is a valid document */
    v = parse_ok(ctx, "\"x\"");
    ck_assert_str_eq(ti_json_string(v), "x");
    ti_json_free(v);
    ti_json_free(NULL);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_json_errors)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    static const char *bad[] = {
        "", "   ", "{", "[1,]", "[1 2]", "{\"a\" 1}", "{\"a\":1,}", "{a:1}", "01", "1.", "-",
        "1e", ".5", "+1", "tru", "nul", "\"abc", "\"a\\x\"", "\"\\u12G4\"", "\"\\ud83d\"",
        "\"\\ude00\"", "\"\\ud83d\\u0041\"", "\"\\u0000\"", "\"a\x01\"", "\"\xc3\"",
        "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "[1] x", "{\"k\":1,\"k\":2}", "1e999", "NaN",
        "Infinity", "[\"a\"\n,]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ti_json *v = (ti_json *)1;
        ti_status st = ti_json_parse(ctx, bad[i], strlen(bad[i]), &v);
        ck_assert_msg(st == TI_ERR_FORMAT, "\"%s\" was accepted", bad[i]);
        ck_assert_ptr_null(v);
        ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "line"));
    }
    /* the position is that of the offending character */
    const char *s = "{\n  \"a\": 1,\n  \"b\" 2\n}";
    ti_json *v;
    ck_assert_int_eq(ti_json_parse(ctx, s, strlen(s), &v), TI_ERR_FORMAT);
    ck_assert_msg(strstr(ti_ctx_errmsg(ctx), "line 3, column 7") != NULL, "%s",
                  ti_ctx_errmsg(ctx));
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "':'"));
    /* the length bounds the text: a valid prefix of a longer buffer parses */
    ck_assert_int_eq(ti_json_parse(ctx, "[1]garbage", 3, &v), TI_OK);
    ti_json_free(v);
    ck_assert_int_eq(ti_json_parse(ctx, NULL, 0, NULL), TI_ERR_ARG);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_json_depth_limit)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    char buf[300];
    for (int depth = 63; depth <= 66; depth++) {
        int n = 0;
        for (int i = 0; i < depth; i++)
            buf[n++] = '[';
        for (int i = 0; i < depth; i++)
            buf[n++] = ']';
        ti_json *v;
        ti_status st = ti_json_parse(ctx, buf, (size_t)n, &v);
        if (depth <= 64) {
            ck_assert_int_eq(st, TI_OK);
            ti_json_free(v);
        } else {
            ck_assert_int_eq(st, TI_ERR_FORMAT);
            ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "64"));
        }
    }
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_json_writer)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_jw *w = ti_jw_new();
    ti_jw_begin_object(w);
    ti_jw_key(w, "s");
    ti_jw_string(w, "a\"b\\c\n\x01\xc3\xa9");
    ti_jw_key(w, "x");
    ti_jw_begin_array(w);
    ti_jw_number(w, 0.1);
    ti_jw_number(w, 1.0 / 3.0);
    ti_jw_number(w, 1e300);
    ti_jw_number(w, -0.0);
    ti_jw_number(w, NAN);
    ti_jw_number(w, -INFINITY);
    ti_jw_number(w, 100);
    ti_jw_end_array(w);
    ti_jw_key(w, "i");
    ti_jw_int(w, -9007199254740993LL);
    ti_jw_key(w, "o");
    ti_jw_begin_object(w);
    ti_jw_end_object(w);
    ti_jw_key(w, "b");
    ti_jw_bool(w, 1);
    ti_jw_key(w, "n");
    ti_jw_null(w);
    ti_jw_end_object(w);
    size_t len;
    const char *t = ti_jw_text(w, &len);
    ck_assert_str_eq(t, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\",\"x\":[0.1,0.3333333333333333,"
                        "1e+300,-0,null,null,100],\"i\":-9007199254740993,\"o\":{},\"b\":true,"
                        "\"n\":null}");
    ck_assert_uint_eq(len, strlen(t));
    ti_json *v = parse_ok(ctx, t);
    ck_assert_str_eq(ti_json_string(ti_json_get(v, "s")), "a\"b\\c\n\x01\xc3\xa9");
    ck_assert(ti_json_number(ti_json_at(ti_json_get(v, "x"), 1)) == 1.0 / 3.0);
    ti_json_free(v);
    ti_jw_free(w);
    ti_jw_free(NULL);

    /* every finite double survives write -> parse bit for bit */
    ti_rng r;
    ti_rng_seed(&r, 5);
    w = ti_jw_new();
    ti_jw_begin_array(w);
    double xs[2000];
    int n = 0;
    while (n < 2000) {
        uint64_t b = ti_rng_u64(&r);
        double x;
        memcpy(&x, &b, 8);
        if (n % 2)
            x = ti_rng_double(&r) * 1000 - 500; /* and ordinary magnitudes */
        if (!isfinite(x))
            continue;
        xs[n++] = x;
        ti_jw_number(w, x);
    }
    ti_jw_end_array(w);
    t = ti_jw_text(w, &len);
    v = parse_ok(ctx, t);
    ck_assert_uint_eq(ti_json_length(v), 2000);
    for (int i = 0; i < n; i++) {
        double y = ti_json_number(ti_json_at(v, (size_t)i));
        ck_assert_msg(memcmp(&y, &xs[i], 8) == 0, "%.17g read back as %.17g", xs[i], y);
    }
    ti_json_free(v);
    ti_jw_free(w);
    ti_ctx_free(ctx);
}
END_TEST

/* ---- safetensors ------------------------------------------------------------------------- */

static void check_vals(ti_ctx *ctx, ti_st_file *f, const char *name, ti_dtype dt,
                       const float *want, size_t n)
{
    const ti_st_entry *e = ti_st_find(f, name);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->dtype, dt);
    ck_assert_uint_eq(e->nelem, n);
    float got[16];
    ck_assert_int_eq(ti_st_read_f32(ctx, f, e, got), TI_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i] && signbit(got[i]) == signbit(want[i]),
                      "%s[%zu] = %.9g, want %.9g", name, i, got[i], want[i]);
}

/* values printed by scripts/make_st_fixture.py (PyTorch's conversions to F16/BF16) */
START_TEST(test_st_fixture)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    ti_st_file *f;
    ti_status st = ti_st_open(ctx, TI_FIXTURE_DIR "/st_mixed.safetensors", &f);
    ck_assert_msg(st == TI_OK, "%s", ti_ctx_errmsg(ctx));
    ck_assert_int_eq(ti_st_count(f), 4);
    ck_assert_str_eq(ti_st_entry_at(f, 0)->name, "conv.weight");
    ck_assert_str_eq(ti_st_entry_at(f, 3)->name, "steps");
    ck_assert_ptr_null(ti_st_entry_at(f, 4));
    const ti_st_entry *e = ti_st_find(f, "conv.weight");
    ck_assert_int_eq(e->ndim, 2);
    ck_assert_int_eq(e->shape[0], 2);
    ck_assert_int_eq(e->shape[1], 3);
    check_vals(ctx, f, "conv.weight", TI_DTYPE_F32,
               (float[]){0.10000000149011612f, -2.5f, 3.0f, 0.0010000000474974513f, 65504.0f,
                         -0.0f}, 6);
    check_vals(ctx, f, "half", TI_DTYPE_F16,
               (float[]){0.0999755859375f, -1.25f, 65504.0f, 5.960464477539063e-08f, 3.140625f},
               5);
    check_vals(ctx, f, "bf", TI_DTYPE_BF16,
               (float[]){0.10009765625f, -3.00405527047391e+38f, 1.0f, -7.5f}, 4);
    check_vals(ctx, f, "steps", TI_DTYPE_I64, (float[]){0.0f, -1.0f, 123456792.0f, 7.0f}, 4);
    ck_assert_str_eq(ti_st_metadata(f, "format"), "pt");
    ck_assert_str_eq(ti_st_metadata(f, "note"), "thinice fixture \xc3\xa9");
    ck_assert_ptr_null(ti_st_metadata(f, "absent"));
    ck_assert_ptr_null(ti_st_find(f, "__metadata__"));
    ck_assert_str_eq(ti_dtype_name(TI_DTYPE_BF16), "BF16");
    ck_assert_uint_eq(ti_dtype_size(TI_DTYPE_I64), 8);
    ti_st_close(f);
    ti_st_close(NULL);
    ti_ctx_free(ctx);
}
END_TEST

START_TEST(test_st_roundtrip)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tu_tmpdir_make(tmpdir, sizeof tmpdir, "io");
    float w1[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, 7.0f};
    int64_t steps[3] = {-5, 0, 1LL << 40};
    float scalar = 42.0f;
    ti_st_writer *w = ti_st_writer_new();
    /* inserted out of alphabetical order: the file must keep this order */
    ck_assert_int_eq(ti_st_add_f32(w, "z.weight", 2, (int64_t[]){2, 3}, w1), TI_OK);
    ck_assert_int_eq(ti_st_add_i64(w, "a.steps", 1, (int64_t[]){3}, steps), TI_OK);
    ck_assert_int_eq(ti_st_add_f32(w, "m.scalar", 0, NULL, &scalar), TI_OK);
    ck_assert_int_eq(ti_st_add_f32(w, "empty", 2, (int64_t[]){0, 5}, NULL), TI_OK);
    ck_assert_int_eq(ti_st_add_metadata(w, "arch", "resnet18"), TI_OK);
    ck_assert_int_eq(ti_st_add_metadata(w, "q\"uote", "line\nbreak"), TI_OK);
    ck_assert_int_eq(ti_st_add_metadata(w, "arch", "vgg16"), TI_OK); /* replaces */
    const char *p = tpath("m.safetensors");
    ck_assert_int_eq(ti_st_write(ctx, w, p), TI_OK);
    ti_st_writer_free(w);
    ck_assert_int_eq(count_files(tmpdir), 1);

    /* the header length is a multiple of 8, padded with spaces */
    char *raw;
    size_t len;
    ck_assert_int_eq(ti_read_file(ctx, p, &raw, &len), TI_OK);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--)
        hn = hn << 8 | (unsigned char)raw[i];
    ck_assert_uint_eq(hn % 8, 0);
    ck_assert_uint_eq(len, 8 + hn + 24 + 24 + 4);
    ck_assert(raw[8 + hn - 1] == '}' || raw[8 + hn - 1] == ' ');
    free(raw);

    ti_st_file *f;
    ck_assert_int_eq(ti_st_open(ctx, p, &f), TI_OK);
    ck_assert_int_eq(ti_st_count(f), 4);
    ck_assert_str_eq(ti_st_entry_at(f, 0)->name, "z.weight");
    ck_assert_str_eq(ti_st_entry_at(f, 1)->name, "a.steps");
    ck_assert_str_eq(ti_st_entry_at(f, 2)->name, "m.scalar");
    check_vals(ctx, f, "z.weight", TI_DTYPE_F32, w1, 6);
    check_vals(ctx, f, "a.steps", TI_DTYPE_I64, (float[]){-5.0f, 0.0f, 1099511627776.0f}, 3);
    check_vals(ctx, f, "m.scalar", TI_DTYPE_F32, &scalar, 1);
    ck_assert_int_eq(ti_st_find(f, "m.scalar")->ndim, 0);
    const ti_st_entry *e = ti_st_find(f, "empty");
    ck_assert_uint_eq(e->nelem, 0);
    ck_assert_int_eq(e->shape[1], 5);
    ck_assert_int_eq(ti_st_read_f32(ctx, f, e, NULL), TI_OK);
    ck_assert_str_eq(ti_st_metadata(f, "arch"), "vgg16");
    ck_assert_str_eq(ti_st_metadata(f, "q\"uote"), "line\nbreak");
    ti_st_close(f);

    /* writer errors are sticky and reported by ti_st_write, which then writes nothing */
    w = ti_st_writer_new();
    ck_assert_int_eq(ti_st_add_f32(w, "a", 1, (int64_t[]){1}, &scalar), TI_OK);
    ck_assert_int_eq(ti_st_add_f32(w, "a", 1, (int64_t[]){1}, &scalar), TI_ERR_ARG);
    ck_assert_int_eq(ti_st_add_f32(w, "__metadata__", 1, (int64_t[]){1}, &scalar), TI_ERR_ARG);
    ck_assert_int_eq(ti_st_add_f32(w, "b", 1, (int64_t[]){-1}, &scalar), TI_ERR_ARG);
    ck_assert_int_eq(ti_st_add_f32(w, "c", 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, &scalar),
                     TI_ERR_ARG);
    ck_assert_int_eq(ti_st_write(ctx, w, tpath("dup.safetensors")), TI_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "duplicate tensor name \"a\""));
    ck_assert_int_eq(count_files(tmpdir), 1);
    ti_st_writer_free(w);
    ti_st_writer_free(NULL);
    tu_tmpdir_remove(tmpdir);
    ti_ctx_free(ctx);
}
END_TEST

/* Writes a safetensors file from a header text and data bytes; hlen overrides the length
 * field when non-negative. */
static const char *write_st(const char *name, const char *header, long long hlen,
                            const void *data, size_t dlen)
{
    const char *p = tpath(name);
    FILE *fp = fopen(p, "wb");
    ck_assert_ptr_nonnull(fp);
    uint64_t n = hlen >= 0 ? (uint64_t)hlen : strlen(header);
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(n >> (8 * i));
    fwrite(b, 1, 8, fp);
    fwrite(header, 1, strlen(header), fp);
    if (dlen)
        fwrite(data, 1, dlen, fp);
    fclose(fp);
    return p;
}

static void expect_bad(ti_ctx *ctx, const char *path, ti_status want, const char *needle,
                       const char *needle2)
{
    ti_st_file *f = (ti_st_file *)1;
    ti_status st = ti_st_open(ctx, path, &f);
    const char *m = ti_ctx_errmsg(ctx);
    ck_assert_msg(st == want, "%s: status %d, want %d (%s)", path, st, want, m);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(m, path) != NULL, "message does not name the file: %s", m);
    ck_assert_msg(strstr(m, needle) != NULL, "message lacks \"%s\": %s", needle, m);
    if (needle2)
        ck_assert_msg(strstr(m, needle2) != NULL, "message lacks \"%s\": %s", needle2, m);
}

START_TEST(test_st_corrupt)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tu_tmpdir_make(tmpdir, sizeof tmpdir, "io");
    float d[4] = {1, 2, 3, 4};
    const char *ok = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    ti_st_file *f;
    ck_assert_int_eq(ti_st_open(ctx, write_st("ok", ok, -1, d, 16), &f), TI_OK);
    ti_st_close(f);

    /* truncated data section */
    expect_bad(ctx, write_st("trunc", ok, -1, d, 10), TI_ERR_FORMAT, "outside", "\"t\"");
    /* truncated inside the length field */
    expect_bad(ctx, write_st("short", "", 0, NULL, 0), TI_ERR_FORMAT, "header", NULL);
    FILE *fp = fopen(tpath("tiny"), "wb");
    fwrite("abc", 1, 3, fp);
    fclose(fp);
    expect_bad(ctx, tpath("tiny"), TI_ERR_FORMAT, "too short", NULL);
    /* header length beyond the file */
    expect_bad(ctx, write_st("hlen", ok, 1000000, d, 16), TI_ERR_FORMAT, "exceeds", NULL);
    expect_bad(ctx, write_st("hlen2", ok, 1LL << 62, d, 16), TI_ERR_FORMAT, "exceeds", NULL);
    /* bad JSON, and JSON that is not an object */
    expect_bad(ctx, write_st("json", "{\"t\":{\"dtype\":\"F32\",}}", -1, d, 16), TI_ERR_FORMAT,
               "header: JSON: line 1", NULL);
    expect_bad(ctx, write_st("arr", "[1,2]", -1, d, 16), TI_ERR_FORMAT, "JSON object", NULL);
    /* offsets outside, reversed */
    expect_bad(ctx, write_st("off", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                                    "\"data_offsets\":[8,24]}}", -1, d, 16),
               TI_ERR_FORMAT, "outside the data section", "\"t\"");
    expect_bad(ctx, write_st("rev", "{\"t\":{\"dtype\":\"F32\",\"shape\":[0],"
                                    "\"data_offsets\":[8,0]}}", -1, d, 16),
               TI_ERR_FORMAT, "end before", "\"t\"");
    /* shape that does not match the byte range */
    expect_bad(ctx, write_st("shape", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3,2],"
                                      "\"data_offsets\":[0,16]}}", -1, d, 16),
               TI_ERR_FORMAT, "need 24 bytes", "\"w\"");
    expect_bad(ctx, write_st("shape2", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],"
                                       "\"data_offsets\":[0,16]}}", -1, d, 16),
               TI_ERR_FORMAT, "shape[0]", "\"w\"");
    expect_bad(ctx, write_st("huge", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,"
                                     "4294967296,4294967296],\"data_offsets\":[0,16]}}", -1, d,
                             16),
               TI_ERR_FORMAT, "more than", "\"w\"");
    /* unknown and unsupported dtypes */
    expect_bad(ctx, write_st("dtype", "{\"w\":{\"dtype\":\"F31\",\"shape\":[4],"
                                      "\"data_offsets\":[0,16]}}", -1, d, 16),
               TI_ERR_FORMAT, "unknown dtype \"F31\"", "\"w\"");
    expect_bad(ctx, write_st("i16", "{\"w\":{\"dtype\":\"I16\",\"shape\":[8],"
                                    "\"data_offsets\":[0,16]}}", -1, d, 16),
               TI_ERR_UNSUPPORTED, "I16", "\"w\"");
    /* missing fields */
    expect_bad(ctx, write_st("nodt", "{\"w\":{\"shape\":[4],\"data_offsets\":[0,16]}}", -1, d,
                             16),
               TI_ERR_FORMAT, "dtype", "\"w\"");
    expect_bad(ctx, write_st("nooff", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4]}}", -1, d, 16),
               TI_ERR_FORMAT, "data_offsets", "\"w\"");
    expect_bad(ctx, write_st("noobj", "{\"w\":3}", -1, d, 16), TI_ERR_FORMAT, "not an object",
               "\"w\"");
    /* overlapping ranges */
    expect_bad(ctx, write_st("overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                                        "\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\","
                                        "\"shape\":[2],\"data_offsets\":[4,12]}}", -1, d, 16),
               TI_ERR_FORMAT, "overlap", "\"b\"");
    /* metadata must be an object of strings */
    expect_bad(ctx, write_st("meta", "{\"__metadata__\":{\"k\":1}}", -1, d, 0), TI_ERR_FORMAT,
               "__metadata__", "\"k\"");
    expect_bad(ctx, write_st("meta2", "{\"__metadata__\":[]}", -1, d, 0), TI_ERR_FORMAT,
               "__metadata__", NULL);
    /* a missing file */
    expect_bad(ctx, tpath("absent.safetensors"), TI_ERR_IO, "cannot open", NULL);

    /* NaN in the data is found when converting, naming the tensor */
    float nan4[4] = {1, NAN, 3, 4};
    ck_assert_int_eq(ti_st_open(ctx, write_st("nan", ok, -1, nan4, 16), &f), TI_OK);
    float out[4];
    ck_assert_int_eq(ti_st_read_f32(ctx, f, ti_st_find(f, "t"), out), TI_ERR_NAN);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "\"t\": element 1 is NaN"));
    ti_st_close(f);
    tu_tmpdir_remove(tmpdir);
    ti_ctx_free(ctx);
}
END_TEST

/* F64, I32, U8, BOOL and F16 specials, written by hand */
START_TEST(test_st_other_dtypes)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tu_tmpdir_make(tmpdir, sizeof tmpdir, "io");
    unsigned char data[64];
    size_t n = 0;
    double f64[2] = {-1.5, 1e-3};
    memcpy(data + n, f64, 16);
    n += 16;
    int32_t i32[2] = {-7, 2147483647};
    memcpy(data + n, i32, 8);
    n += 8;
    unsigned char u8[3] = {0, 128, 255};
    memcpy(data + n, u8, 3);
    n += 3;
    unsigned char bl[2] = {1, 0};
    memcpy(data + n, bl, 2);
    n += 2;
    uint16_t h[3] = {0x8000, 0x0001, 0x7c00}; /* -0, smallest subnormal, +inf */
    memcpy(data + n, h, 6);
    n += 6;
    const char *hdr =
        "{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
        "\"i\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[16,24]},"
        "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[24,27]},"
        "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[27,29]},"
        "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[29,35]}}";
    ti_st_file *f;
    ck_assert_int_eq(ti_st_open(ctx, write_st("o", hdr, -1, data, n), &f), TI_OK);
    check_vals(ctx, f, "d", TI_DTYPE_F64, (float[]){-1.5f, 1e-3f}, 2);
    check_vals(ctx, f, "i", TI_DTYPE_I32, (float[]){-7.0f, 2147483647.0f}, 2);
    check_vals(ctx, f, "u", TI_DTYPE_U8, (float[]){0.0f, 128.0f, 255.0f}, 3);
    check_vals(ctx, f, "b", TI_DTYPE_BOOL, (float[]){1.0f, 0.0f}, 2);
    float out[3];
    ck_assert_int_eq(ti_st_read_f32(ctx, f, ti_st_find(f, "h"), out), TI_ERR_NAN);
    ck_assert_ptr_nonnull(strstr(ti_ctx_errmsg(ctx), "element 2 is infinite"));
    ck_assert(out[0] == 0.0f && signbit(out[0]));
    ck_assert(out[1] == 0x1p-24f);
    ti_st_close(f);
    tu_tmpdir_remove(tmpdir);
    ti_ctx_free(ctx);
}
END_TEST

/* Truncations (every length up to the end of the header, every 5th after) and 300 random
 * corruptions of the fixture: each either opens and converts cleanly or fails with a
 * message; none crashes (run under ASan by make san). */
START_TEST(test_st_mutations)
{
    ti_ctx *ctx = ti_ctx_new(1, 1);
    tu_tmpdir_make(tmpdir, sizeof tmpdir, "io");
    char *orig;
    size_t len;
    ck_assert_int_eq(ti_read_file(ctx, TI_FIXTURE_DIR "/st_mixed.safetensors", &orig, &len),
                     TI_OK);
    char *buf = malloc(len);
    ti_rng r;
    ti_rng_seed(&r, 3);
    const char *p = tpath("mut.safetensors");
    int opened = 0;
    for (size_t t = 0; t < len + 300; t++) {
        if (t < len && t > 330 && t % 5)
            continue;
        memcpy(buf, orig, len);
        size_t n = len;
        if (t < len) {
            n = t; /* truncated to t bytes: never valid, since the data is needed */
        } else {
            int k = 1 + (int)ti_rng_below(&r, 3);
            for (int i = 0; i < k; i++)
                buf[ti_rng_below(&r, len)] = (char)ti_rng_below(&r, 256);
        }
        FILE *fp = fopen(p, "wb"); /* not the atomic writer: fsyncs are slow */
        ck_assert_ptr_nonnull(fp);
        ck_assert_uint_eq(fwrite(buf, 1, n, fp), n);
        fclose(fp);
        ti_st_file *f;
        ti_status st = ti_st_open(ctx, p, &f);
        if (t < len)
            ck_assert_int_eq(st, TI_ERR_FORMAT);
        if (st != TI_OK) {
            ck_assert(ti_ctx_errmsg(ctx)[0] != '\0');
            continue;
        }
        opened++;
        for (int i = 0; i < ti_st_count(f); i++) {
            const ti_st_entry *e = ti_st_entry_at(f, i);
            float *dst = malloc(e->nelem * sizeof(float) + 1);
            st = ti_st_read_f32(ctx, f, e, dst);
            ck_assert(st == TI_OK || st == TI_ERR_NAN);
            free(dst);
        }
        ti_st_close(f);
    }
    ck_assert_int_gt(opened, 0); /* flips inside the data mostly still open */
    free(buf);
    free(orig);
    tu_tmpdir_remove(tmpdir);
    ti_ctx_free(ctx);
}
END_TEST

Suite *suite_io(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("fileio");
    tcase_add_test(tc, test_atomic_write_and_read);
    tcase_add_test(tc, test_gzip_lying_trailer);
    suite_add_tcase(s, tc);
    tc = tcase_create("json");
    tcase_add_test(tc, test_json_parse_values);
    tcase_add_test(tc, test_json_errors);
    tcase_add_test(tc, test_json_depth_limit);
    tcase_add_test(tc, test_json_writer);
    suite_add_tcase(s, tc);
    tc = tcase_create("safetensors");
    tcase_set_timeout(tc, 30); /* the mutation test writes ~500 files; slow on a busy disk */
    tcase_add_test(tc, test_st_fixture);
    tcase_add_test(tc, test_st_roundtrip);
    tcase_add_test(tc, test_st_corrupt);
    tcase_add_test(tc, test_st_other_dtypes);
    tcase_add_test(tc, test_st_mutations);
    suite_add_tcase(s, tc);
    return s;
}
