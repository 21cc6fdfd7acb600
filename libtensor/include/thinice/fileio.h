/* Atomic file writes: write to a temporary file in the same directory, flush, fsync, then
 * rename over the target, so a reader (or a resumed run) never sees a half-written file. */
#ifndef THINICE_FILEIO_H
#define THINICE_FILEIO_H

#include <stdio.h>

#include "thinice/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ti_afile {
    FILE *fp;         /* write through this between open and commit */
    char path[4096];  /* the final name */
    char tmp[4096];   /* the temporary name */
} ti_afile;

/* Opens "<path>.tmp.<pid>" for writing. Errors name the file. */
ti_status ti_afile_open(ti_ctx *ctx, ti_afile *f, const char *path);
/* Flushes, fsyncs, closes and renames onto the final path; on any failure the temporary is
 * removed and the target left as it was. */
ti_status ti_afile_commit(ti_ctx *ctx, ti_afile *f);
/* Closes and removes the temporary (after an error while writing). */
void ti_afile_abort(ti_afile *f);
/* Convenience: writes len bytes atomically. */
ti_status ti_write_file_atomic(ti_ctx *ctx, const char *path, const void *data, size_t len);
/* Reads a whole file (plain or gzip, through zlib) into a malloc'd buffer (NUL-terminated,
 * *len excludes the NUL). Free with free(). */
ti_status ti_read_file(ti_ctx *ctx, const char *path, char **data, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
