/* What the libFuzzer harnesses share: one context per process (single-threaded, fixed seed,
 * so every run of an input does the same thing), and a scratch directory for the parsers
 * that read files rather than buffers (safetensors, the data sets, the study configuration).
 * The directory is made under $TMPDIR (make fuzz points it at a fresh one it removes). */
#ifndef THINICE_FUZZ_H
#define THINICE_FUZZ_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "thinice/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harness's context: made on first use, never freed (libFuzzer exits the process). */
static inline ti_ctx *fuzz_ctx(void)
{
    static ti_ctx *ctx;
    if (!ctx && !(ctx = ti_ctx_new(1, 1)))
        abort();
    return ctx;
}

static char fuzz_dir[512];

/* Removes the scratch directory and the files in it (at exit). */
static inline void fuzz_dir_remove(void)
{
    DIR *d = opendir(fuzz_dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' && snprintf(p, sizeof p, "%s/%s", fuzz_dir, e->d_name) > 0)
            unlink(p);
    if (d)
        closedir(d);
    rmdir(fuzz_dir);
}

/* dir/name in the process's scratch directory (made on first use); a static buffer. */
static inline const char *fuzz_path(const char *name)
{
    static char path[1024];
    if (!fuzz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/thinice-fuzz-XXXXXX", t && t[0] ? t : "/tmp");
        if (!mkdtemp(fuzz_dir))
            abort();
        atexit(fuzz_dir_remove);
    }
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
    return path;
}

/* Writes data[0..size) to the file at path (a harness bug, not a finding, if it fails). */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0)
        abort();
}

/* A status must be one of the codes, and a failure must leave a message (harnesses clear
 * the context's message before each call they check). */
static inline void fuzz_check_status(ti_status st)
{
    if ((unsigned)st >= TI_STATUS_COUNT)
        abort();
    if (st != TI_OK && !ti_ctx_errmsg(fuzz_ctx())[0])
        abort();
}

#endif
