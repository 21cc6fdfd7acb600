/* Whole-file reads (plain or gzip, through zlib's transparent gzread) and atomic writes: a
 * temporary file in the same directory, fflush + fsync, then rename(2), which POSIX makes
 * atomic, so a reader never sees half a checkpoint even if the writer dies mid-way. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "thinice/fileio.h"
#include "io_internal.h"

/* Where the output of `path` goes: *mode 0 for an atomic write onto resolved (the path, or a
 * symbolic link's target), 1 for a FIFO or device written in place, 2 for stdout. */
static ti_status output_kind(ti_ctx *ctx, const char *path, char *resolved, size_t len,
                             int *mode)
{
    struct stat sb;
    *mode = 0;
    snprintf(resolved, len, "%s", path);
    if (!strcmp(path, "-")) {
        *mode = 2;
        return TI_OK;
    }
    if (lstat(path, &sb) != 0)
        return TI_OK; /* a new file */
    if (S_ISLNK(sb.st_mode)) {
        char *r = realpath(path, NULL); /* NULL for a dangling link: write through it */
        if (!r || stat(r, &sb) != 0) {
            free(r);
            *mode = 1;
            return TI_OK;
        }
        snprintf(resolved, len, "%s", r);
        free(r);
    }
    if (S_ISDIR(sb.st_mode))
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: is a directory, not a file", path);
    *mode = S_ISREG(sb.st_mode) ? 0 : 1;
    return TI_OK;
}

/* The directory part of path ("." for a bare name). */
static void parent_dir(const char *path, char *dir, size_t len)
{
    snprintf(dir, len, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, len, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
}

ti_status ti_check_output(ti_ctx *ctx, const char *path)
{
    if (!path || !path[0])
        return ti_ctx_error(ctx, TI_ERR_ARG, "no output file name given");
    char resolved[4096], dir[4096];
    int mode;
    ti_status s = output_kind(ctx, path, resolved, sizeof resolved, &mode);
    if (s != TI_OK || mode == 2)
        return s;
    if (mode == 1 || access(resolved, F_OK) == 0) {
        if (access(resolved, W_OK) != 0)
            return ti_ctx_error(ctx, TI_ERR_IO, "%s: cannot be written: %s", path,
                                strerror(errno));
        if (mode == 1)
            return TI_OK;
    }
    struct stat sb;
    parent_dir(resolved, dir, sizeof dir);
    if (stat(dir, &sb) != 0)
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: the directory %s does not exist", path, dir);
    if (!S_ISDIR(sb.st_mode))
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: no permission to create files in %s", path,
                            dir);
    return TI_OK;
}

/* A FIFO, a device or stdout: written directly, nothing to rename. */
static ti_status open_in_place(ti_ctx *ctx, ti_afile *f, const char *path, int mode)
{
    f->in_place = mode;
    f->fp = mode == 2 ? stdout : fopen(path, "wb");
    if (!f->fp)
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: cannot open for writing: %s", path,
                            strerror(errno));
    return TI_OK;
}

ti_status ti_afile_open(ti_ctx *ctx, ti_afile *f, const char *path)
{
    if (!f || !path || !path[0])
        return ti_ctx_error(ctx, TI_ERR_ARG, "atomic write: no file name given");
    memset(f, 0, sizeof *f);
    char resolved[4096];
    int mode;
    ti_status s = output_kind(ctx, path, resolved, sizeof resolved, &mode);
    if (s != TI_OK)
        return s;
    if (mode != 0) {
        snprintf(f->path, sizeof f->path, "%s", path);
        return open_in_place(ctx, f, path, mode);
    }
    path = resolved;
    int n1 = snprintf(f->path, sizeof f->path, "%s", path);
    int n2 = snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n1 < 0 || n2 < 0 || (size_t)n2 >= sizeof f->tmp)
        return ti_ctx_error(ctx, TI_ERR_ARG, "%s: file name too long (at most %zu bytes)", path,
                            sizeof f->tmp - 32);
    /* open(2) rather than fopen so that the mode is the usual 0666 & ~umask; O_TRUNC also
     * takes care of a temporary left behind by an earlier crash with the same pid. */
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: cannot create temporary file %s: %s", path,
                            f->tmp, strerror(errno));
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        int e = errno;
        close(fd);
        unlink(f->tmp);
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: fdopen: %s", path, strerror(e));
    }
    return TI_OK;
}

void ti_afile_abort(ti_afile *f)
{
    if (!f || !f->fp)
        return;
    if (f->in_place != 2)
        fclose(f->fp);
    f->fp = NULL;
    if (!f->in_place)
        unlink(f->tmp);
}

/* Commit of an output written in place: everything flushed, the stream's errors reported
 * (a full device, a closed pipe). */
static ti_status commit_in_place(ti_ctx *ctx, ti_afile *f, FILE *fp)
{
    int bad = fflush(fp) != 0 || ferror(fp), e = errno;
    if (f->in_place != 2 && fclose(fp) != 0 && !bad)
        bad = 1, e = errno;
    if (bad)
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: write failed: %s", f->path,
                            e ? strerror(e) : "stream error");
    return TI_OK;
}

/* fsync of the directory makes the rename itself durable; best effort (some file systems
 * refuse to open or sync directories, which loses nothing but durability). */
static void sync_parent_dir(const char *path)
{
    char dir[4096];
    parent_dir(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

ti_status ti_afile_commit(ti_ctx *ctx, ti_afile *f)
{
    if (!f || !f->fp)
        return ti_ctx_error(ctx, TI_ERR_STATE, "atomic write: commit without an open file");
    FILE *fp = f->fp;
    f->fp = NULL;
    if (f->in_place)
        return commit_in_place(ctx, f, fp);
    const char *what = NULL;
    int e = 0;
    if (fflush(fp) != 0 || ferror(fp))
        what = "write", e = errno;
    else if (fsync(fileno(fp)) != 0)
        what = "fsync", e = errno;
    if (fclose(fp) != 0 && !what)
        what = "close", e = errno;
    if (!what && rename(f->tmp, f->path) != 0)
        what = "rename", e = errno;
    if (what) {
        unlink(f->tmp);
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: %s failed: %s (the file was left unchanged)",
                            f->path, what, e ? strerror(e) : "stream error");
    }
    sync_parent_dir(f->path);
    return TI_OK;
}

ti_status ti_write_file_atomic(ti_ctx *ctx, const char *path, const void *data, size_t len)
{
    ti_afile f;
    ti_status st = ti_afile_open(ctx, &f, path);
    if (st != TI_OK)
        return st;
    if (len > 0 && fwrite(data, 1, len, f.fp) != len) {
        int e = errno;
        ti_afile_abort(&f);
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: write failed: %s (the file was left unchanged)",
                            path, strerror(e));
    }
    return ti_afile_commit(ctx, &f);
}

/* DEFLATE expands at most 1032:1 (zlib's technical details), so no honest gzip file holds
 * more than 1032 times its own size; and no first buffer is larger than 64 MiB (every data
 * file thinice reads is smaller; larger ones grow the buffer as they are read). */
#define GZ_MAX_RATIO 1032
#define HINT_MAX ((size_t)64 << 20)

/* A size to allocate first: the file's size, or for a gzip file the uncompressed size its
 * trailer records (ISIZE, modulo 2^32). Only a hint: the reader grows the buffer as needed.
 * The trailer is a claim of the file, not a fact: a 20-byte file may say 4 GiB, so the hint
 * is capped by what the compressed size can possibly hold; zlib checks the claim against
 * the data (a mismatch is an "incorrect length check" error). */
static size_t size_hint(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || sb.st_size <= 0)
        return 4096;
    size_t fsize = (size_t)sb.st_size, hint = fsize;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return hint < HINT_MAX ? hint : HINT_MAX;
    unsigned char m[2], t[4];
    if (fread(m, 1, 2, fp) == 2 && m[0] == 0x1f && m[1] == 0x8b && sb.st_size >= 18 &&
        fseek(fp, -4, SEEK_END) == 0 && fread(t, 1, 4, fp) == 4) {
        size_t isize = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 |
                       (size_t)t[3] << 24;
        size_t most = fsize < HINT_MAX / GZ_MAX_RATIO ? fsize * GZ_MAX_RATIO : HINT_MAX;
        hint = isize > 0 && isize < most ? isize : most;
    }
    fclose(fp);
    return hint < HINT_MAX ? hint : HINT_MAX;
}

/* The reader behind ti_read_file, with the message written into err[errcap] instead of a
 * context so that worker threads can use it (io_internal.h). */
ti_status ti__read_file_msg(const char *path, char **data, size_t *len, char *err,
                            size_t errcap)
{
    *data = NULL;
    *len = 0;
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        snprintf(err, errcap, "%s: cannot open: %s", path,
                 errno ? strerror(errno) : "out of memory");
        return TI_ERR_IO;
    }
    gzbuffer(gz, 1 << 17);
    /* +2: after a read that fills the hinted size exactly, a 1-byte probe finds the end
     * without growing the buffer */
    size_t cap = size_hint(path) + 2, n = 0;
    char *buf = malloc(cap);
    ti_status st = TI_OK;
    if (!buf) {
        snprintf(err, errcap, "%s: cannot allocate %zu bytes", path, cap);
        st = TI_ERR_NOMEM;
    }
    while (st == TI_OK) {
        if (cap - n < 2) {
            size_t ncap = cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                snprintf(err, errcap, "%s: cannot allocate %zu bytes", path, ncap);
                st = TI_ERR_NOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        /* gzread takes an unsigned count: read at most 1 GiB at a time */
        size_t want = cap - n - 1;
        if (want > (1u << 30))
            want = 1u << 30;
        int got = gzread(gz, buf + n, (unsigned)want);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            st = zerr == Z_ERRNO ? TI_ERR_IO : TI_ERR_FORMAT;
            snprintf(err, errcap, "%s: read failed after %zu bytes: %s", path, n,
                     zerr == Z_ERRNO ? strerror(errno) : msg);
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (st == TI_OK) {
        /* a gzip stream cut short reads as a clean end of file with Z_BUF_ERROR set */
        int zerr;
        const char *msg = gzerror(gz, &zerr);
        if (zerr != Z_OK) {
            snprintf(err, errcap, "%s: compressed data ends early or is corrupt after %zu "
                     "bytes: %s", path, n, msg);
            st = TI_ERR_FORMAT;
        }
    }
    gzclose(gz);
    if (st != TI_OK) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return TI_OK;
}

ti_status ti_read_file(ti_ctx *ctx, const char *path, char **data, size_t *len)
{
    if (!path || !data || !len)
        return ti_ctx_error(ctx, TI_ERR_ARG, "read_file: NULL argument");
    char err[1024];
    ti_status st = ti__read_file_msg(path, data, len, err, sizeof err);
    return st == TI_OK ? TI_OK : ti_ctx_error(ctx, st, "%s", err);
}

ti_status ti_file_fnv1a(ti_ctx *ctx, const char *path, uint64_t *out)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t h = 0xcbf29ce484222325ULL;
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        for (size_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 0x100000001b3ULL;
    int bad = ferror(fp);
    fclose(fp);
    if (bad)
        return ti_ctx_error(ctx, TI_ERR_IO, "%s: read failed", path);
    *out = h;
    return TI_OK;
}
