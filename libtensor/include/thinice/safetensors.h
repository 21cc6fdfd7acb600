/* safetensors files: an 8-byte little-endian header length, a JSON header mapping names to
 * {dtype, shape, data_offsets} (plus optional "__metadata__" of strings), then raw
 * little-endian data. The format PyTorch users exchange weights in. */
#ifndef THINICE_SAFETENSORS_H
#define THINICE_SAFETENSORS_H

#include <stdint.h>

#include "thinice/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ti_dtype {
    TI_DTYPE_F32 = 0, TI_DTYPE_F64, TI_DTYPE_F16, TI_DTYPE_BF16, TI_DTYPE_I64, TI_DTYPE_I32,
    TI_DTYPE_U8, TI_DTYPE_BOOL, TI_DTYPE_COUNT
} ti_dtype;

const char *ti_dtype_name(ti_dtype d); /* "F32", ... as in the format */
/* Bytes per element of d (4 for F32, 2 for BF16, ...); 0 for an invalid value. */
size_t ti_dtype_size(ti_dtype d);

typedef struct ti_st_entry {
    const char *name;   /* valid while the file is open */
    ti_dtype dtype;
    int ndim;
    int64_t shape[8];
    size_t nelem;
    size_t offset;      /* of the data, relative to the start of the data section */
    size_t nbytes;
} ti_st_entry;

typedef struct ti_st_file ti_st_file;

/* Opens and validates a file: header length within the file, JSON well formed, known dtypes,
 * shapes consistent with the byte ranges, ranges inside the data section and not overlapping.
 * The first problem found is reported with the file name. */
ti_status ti_st_open(ti_ctx *ctx, const char *path, ti_st_file **out);
void ti_st_close(ti_st_file *f);
int ti_st_count(const ti_st_file *f);
const ti_st_entry *ti_st_entry_at(const ti_st_file *f, int i);
const ti_st_entry *ti_st_find(const ti_st_file *f, const char *name); /* NULL if absent */
const char *ti_st_metadata(const ti_st_file *f, const char *key);     /* NULL if absent */
/* Converts entry e to float32 into dst (e->nelem floats): F32, F64, F16, BF16, I64, I32, U8,
 * BOOL are accepted; NaN/inf in the data are an error naming the tensor. */
ti_status ti_st_read_f32(ti_ctx *ctx, const ti_st_file *f, const ti_st_entry *e, float *dst);

typedef struct ti_st_writer ti_st_writer;
ti_st_writer *ti_st_writer_new(void);
void ti_st_writer_free(ti_st_writer *w);
/* Adds a tensor; the data is borrowed until ti_st_write returns. Names must be unique. */
ti_status ti_st_add_f32(ti_st_writer *w, const char *name, int ndim, const int64_t *shape,
                        const float *data);
ti_status ti_st_add_i64(ti_st_writer *w, const char *name, int ndim, const int64_t *shape,
                        const int64_t *data);
/* A BOOL tensor (one byte per element, 0 or 1): masks take a quarter of a float's room. */
ti_status ti_st_add_bool(ti_st_writer *w, const char *name, int ndim, const int64_t *shape,
                         const uint8_t *data);
ti_status ti_st_add_metadata(ti_st_writer *w, const char *key, const char *value);
/* Writes the file atomically (temporary file, then rename). */
ti_status ti_st_write(ti_ctx *ctx, ti_st_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
