/* Output files: a regular file (or a new one) is written atomically (a temporary file in the
 * same directory, flush, fsync, then rename over the target), so a reader (or a resumed run)
 * never sees a half-written file; a symbolic link is followed and its target written that
 * way; anything else that exists (a FIFO, a device such as /dev/null) is opened and written
 * in place; "-" is standard output. */
#ifndef THINICE_FILEIO_H
#define THINICE_FILEIO_H

#include <stdint.h>
#include <stdio.h>

#include "thinice/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ti_afile {
    FILE *fp;         /* write through this between open and commit */
    char path[4096];  /* the final name (a symbolic link's target) */
    char tmp[4096];   /* the temporary name ("" when writing in place) */
    int in_place;     /* 1: a FIFO or device written directly; 2: standard output */
} ti_afile;

/* Opens the output: "<path>.tmp.<pid>" for a regular or new file, the file itself for a
 * FIFO or a device, stdout for "-". Errors (a directory, a missing directory, no permission)
 * name the file. */
ti_status ti_afile_open(ti_ctx *ctx, ti_afile *f, const char *path);
/* Flushes, fsyncs, closes and renames onto the final path; on any failure the temporary is
 * removed and the target left as it was. */
ti_status ti_afile_commit(ti_ctx *ctx, ti_afile *f);
/* Closes and removes the temporary (after an error while writing). */
void ti_afile_abort(ti_afile *f);
/* Checks, before any long work, that path can be written as above: "-", an existing file
 * that is not a directory and can be written, or a new file in an existing, writable
 * directory. The message says what is wrong ("no such directory", "is a directory", ...). */
ti_status ti_check_output(ti_ctx *ctx, const char *path);
/* Convenience: writes len bytes as above. */
ti_status ti_write_file_atomic(ti_ctx *ctx, const char *path, const void *data, size_t len);
/* FNV-1a (64 bit) of a file's bytes (plain: gzip is not decompressed): ties a resumable state
 * or a shard to the exact weights it was computed with. */
ti_status ti_file_fnv1a(ti_ctx *ctx, const char *path, uint64_t *out);
/* Reads a whole file (plain or gzip, through zlib) into a malloc'd buffer (NUL-terminated,
 * *len excludes the NUL). Free with free(). */
ti_status ti_read_file(ti_ctx *ctx, const char *path, char **data, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
