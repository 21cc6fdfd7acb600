/* Magnitude pruning, the baseline (docs/pruning.md#magnitude-pruning-lwm; HYDRA's "LWM"): keep the largest |w| of each
 * layer (or over all layers with `global`), then fine-tune the surviving weights with the
 * adversarial loss and the mask fixed. */
#include "internal.h"

ti_status ti__tp_magnitude(ti__tp_run *r)
{
    int resumed;
    ti_status s = ti__tp_phase_begin(r, "magnitude-finetune", r->p.epochs_finetune, &resumed);
    if (s != TI_OK || resumed)
        return s;
    s = ti__tp_mask_by_magnitude(r, r->p.sparsity, r->p.global);
    ti_schedule sched;
    if (s == TI_OK)
        s = ti__tp_schedule_cosine(r, &sched, r->p.lr_finetune, r->p.epochs_finetune);
    double loss = 0;
    if (s == TI_OK)
        s = ti__tp_finetune(r, &sched, &loss);
    return s == TI_OK ? ti__tp_phase_end(r, loss) : s;
}
