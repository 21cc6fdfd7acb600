/* The installed-library check: a small program built with `pkg-config --cflags --libs thinice`
 * against `make install PREFIX=...` (tests/data/install.sh). Builds the small CNN and classifies
 * two blank images. */
#include <stdio.h>
#include <thinice/model.h>
#include <thinice/tensor.h>
int main(void)
{
    ti_ctx *ctx = ti_ctx_new(42, 1);
    ti_model_config cfg = {.C = 1, .H = 28, .W = 28, .M = 10};
    ti_model *m;
    if (ti_model_new(ctx, "smallcnn", &cfg, &m) != TI_OK) {
        fprintf(stderr, "%s\n", ti_ctx_errmsg(ctx));
        return 1;
    }
    ti_classifier f;
    ti_model_classifier(m, 8, &f);
    float x[2 * 784] = {0}, logits[20];
    f.forward(f.self, x, 2, logits);
    printf("%zu parameters, logit[0] = %f\n", ti_model_count_trainable(m), logits[0]);
    ti_model_free(m);
    ti_ctx_free(ctx);
    return 0;
}
