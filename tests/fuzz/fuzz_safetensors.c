/* libFuzzer harness: safetensors files and model checkpoints. The input is written to a file
 * (both readers take a path), opened with ti_st_open, every tensor looked up by name and
 * converted to float32; then opened as the apps open a checkpoint (apps/common/app_model.c,
 * linked in: the metadata compared with the request and its normalisation parsed, then
 * ti_model_load) as a small CNN for 1x4x4 inputs and 2 classes (27,394 values, so a valid
 * checkpoint in U8 fits a 28 kB seed). */
#include "fuzz.h"
#include "thinice/model.h"
#include "thinice/safetensors.h"
#include "../../apps/common/app_model.h"

/* Every entry the reader accepted is consistent and reads without touching memory outside
 * its byte range (which ASan would report). */
static void read_entries(ti_ctx *ctx, const ti_st_file *f)
{
    for (int i = 0; i < ti_st_count(f); i++) {
        const ti_st_entry *e = ti_st_entry_at(f, i);
        if (!e || ti_st_find(f, e->name) != e)  /* names are unique (duplicate JSON keys
                                                   are an error) */
            abort();
        if (e->nbytes != e->nelem * ti_dtype_size(e->dtype) || e->ndim < 0 || e->ndim > 8)
            abort();
        float *dst = malloc((e->nelem ? e->nelem : 1) * sizeof *dst);
        if (!dst)
            abort();
        ti_ctx_clear_error(ctx);
        fuzz_check_status(ti_st_read_f32(ctx, f, e, dst));
        free(dst);
    }
    if (ti_st_entry_at(f, ti_st_count(f)) || ti_st_entry_at(f, -1))
        abort();
    (void)ti_st_metadata(f, "arch");
    (void)ti_st_metadata(f, "input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ti_ctx *ctx = fuzz_ctx();
    const char *path = fuzz_path("in.safetensors");
    fuzz_write(path, data, size);
    ti_st_file *f = NULL;
    ti_ctx_clear_error(ctx);
    ti_status st = ti_st_open(ctx, path, &f);
    fuzz_check_status(st);
    if ((st == TI_OK) != (f != NULL))
        abort();
    if (!f)
        return 0; /* opening the checkpoint would stop at the same ti_st_open */
    read_entries(ctx, f);
    ti_st_close(f);
    ti_model *m = NULL;
    ti_ctx_clear_error(ctx);
    ti_status st2 = app_model_open(ctx, "smallcnn", path, 1, 4, 4, 2, &m);
    fuzz_check_status(st2);
    if ((st2 == TI_OK) != (m != NULL))
        abort();
    ti_model_free(m);
    return 0;
}
