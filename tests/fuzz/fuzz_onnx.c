/* libFuzzer harness: the ONNX importer (protobuf decoder, graph compiler and the dry run
 * ti_onnx_load_buffer makes). A graph that loads then runs once more with gradients, as an
 * attack runs it: a forward of one image on a recording tape with the input and the
 * parameters asking for gradients, and a backward from the logits; and a forward of two
 * images in training mode (batch statistics), without recording. */
#include "fuzz.h"
#include "thinice/onnx.h"

/* The logits of one image, then their backward (seed: all ones). */
static void forward_backward(ti_ctx *ctx, ti_onnx *g, int C, int H, int W, int M)
{
    size_t n = (size_t)C * H * W;
    float *x = malloc(2 * n * sizeof *x);
    ti_tape *tape = ti_tape_new(ctx);
    if (!x || !tape)
        abort();
    for (size_t i = 0; i < 2 * n; i++)  /* a fixed pattern in [0, 1) */
        x[i] = (float)((i * 2654435761u) % 1000u) / 1000.0f;
    ti_ctx_clear_error(ctx);
    fuzz_check_status(ti_onnx_set_requires_grad(g, 1));
    ti_tensor *in = ti_tape_input(tape, x, 4, (int[]){1, C, H, W}, 1);
    ti_tensor *y = ti_onnx_forward(g, tape, in, 0);
    fuzz_check_status(ti_tape_status(tape));
    if (y) {
        /* the dry run at load time gave (1, M) for the same shape */
        if (y->ndim != 2 || y->shape[0] != 1 || y->shape[1] != M)
            abort();
        float *seed = malloc(y->size * sizeof *seed);
        if (!seed)
            abort();
        for (size_t i = 0; i < y->size; i++)
            seed[i] = 1.0f;
        ti_ctx_clear_error(ctx);
        fuzz_check_status(ti_tape_backward_seed(tape, y, seed));
        free(seed);
    }
    ti_tape_reset(tape);
    ti_tape_set_recording(tape, 0);
    ti_ctx_clear_error(ctx);
    in = ti_tape_input(tape, x, 4, (int[]){2, C, H, W}, 0);
    (void)ti_onnx_forward(g, tape, in, 1);
    fuzz_check_status(ti_tape_status(tape));
    ti_tape_free(tape);
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ti_ctx *ctx = fuzz_ctx();
    ti_onnx *g = NULL;
    ti_ctx_clear_error(ctx);
    ti_status st = ti_onnx_load_buffer(ctx, data, size, "fuzz.onnx", &g);
    fuzz_check_status(st);
    if ((st == TI_OK) != (g != NULL))
        abort();
    if (!g)
        return 0;
    int C, H, W, M;
    ti_onnx_shape(g, &C, &H, &W, &M);
    if (C < 1 || H < 1 || W < 1 || M < 1 || ti_onnx_nodes(g) < 1)
        abort();
    (void)ti_onnx_producer(g);
    for (int i = 0; i < ti_onnx_nparams(g); i++) {
        ti_param *p = ti_onnx_param(g, i);
        if (!p || ti_onnx_find(g, p->name) != p || !p->t.data)
            abort();
    }
    forward_backward(ctx, g, C, H, W, M);
    ti_onnx_free(g);
    return 0;
}
