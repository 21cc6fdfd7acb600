/* What the file and data readers share inside libtensor (not installed): the whole-file
 * reader with its message in a caller's buffer, usable from worker threads that have no
 * context of their own. */
#ifndef THINICE_IO_INTERNAL_H
#define THINICE_IO_INTERNAL_H

#include <stddef.h>

#include "thinice/core.h"

/* As ti_read_file, but a failure's message goes into err[errcap]. */
ti_status ti__read_file_msg(const char *path, char **data, size_t *len, char *err,
                            size_t errcap);

#endif
