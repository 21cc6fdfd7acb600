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

ti_status ti_afile_open(ti_ctx *ctx, ti_afile *f, const char *path)
{
    if (!f || !path || !path[0])
        return ti_ctx_error(ctx, TI_ERR_ARG, "atomic write: no file name given");
    memset(f, 0, sizeof *f);
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
    fclose(f->fp);
    f->fp = NULL;
    unlink(f->tmp);
}

/* fsync of the directory makes the rename itself durable; best effort (some file systems
 * refuse to open or sync directories, which loses nothing but durability). */
static void sync_parent_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
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

/* A size to allocate first: the file's size, or for a gzip file the uncompressed size its
 * trailer records (ISIZE, modulo 2^32). Only a hint: the reader grows the buffer as needed. */
static size_t size_hint(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || sb.st_size <= 0)
        return 4096;
    size_t hint = (size_t)sb.st_size;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return hint;
    unsigned char m[2], t[4];
    if (fread(m, 1, 2, fp) == 2 && m[0] == 0x1f && m[1] == 0x8b && sb.st_size >= 18 &&
        fseek(fp, -4, SEEK_END) == 0 && fread(t, 1, 4, fp) == 4) {
        size_t isize = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 |
                       (size_t)t[3] << 24;
        hint = isize > 0 ? isize : hint * 4;
    }
    fclose(fp);
    return hint;
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
