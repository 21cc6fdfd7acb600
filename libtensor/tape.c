/* The autodiff tape: an arena for activations and nodes, recording, and the reverse walk.
 *
 * The arena is a list of big chunks. ti_tape_reset rewinds it; if one batch needed more than
 * one chunk, the chunks are merged into a single one of the total size, so from the second
 * batch on a training or attack loop allocates nothing (and glibc never unmaps and remaps
 * the big blocks, which costs PyTorch 30% on this machine).
 * During a backward, an activation's gradient is dead once its producing node has run: its
 * buffer goes on a free list and serves a later gradient of the same size, so the gradients
 * alive at once are the "frontier" of the walk, not one per activation (this halves the peak
 * memory of a training step, as PyTorch's autograd frees them too). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define ARENA_MIN_CHUNK ((size_t)16 << 20)

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    unsigned char *mem;
} chunk;

/* A released gradient buffer, linked through its own first bytes (buffers are >= 64 bytes). */
typedef struct free_buf {
    struct free_buf *next;
    size_t bytes;
} free_buf;

struct ti_tape {
    ti_ctx *ctx;
    free_buf *free; /* released gradient buffers, valid until the next reset */
    chunk *chunks; /* the current chunk is the head */
    size_t total;  /* bytes of all chunks */
    ti_node *last; /* most recent node; nodes link backwards */
    int recording;
    ti_status status;
};

static chunk *chunk_new(size_t size)
{
    chunk *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    c->mem = ti_alloc(size);
    if (!c->mem) {
        free(c);
        return NULL;
    }
    c->size = size;
    c->used = 0;
    c->next = NULL;
    return c;
}

static void chunks_free(chunk *c)
{
    while (c) {
        chunk *n = c->next;
        ti_free(c->mem);
        free(c);
        c = n;
    }
}

ti_tape *ti_tape_new(ti_ctx *ctx)
{
    ti_tape *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ctx = ctx;
    t->recording = 1;
    return t;
}

void ti_tape_free(ti_tape *tape)
{
    if (!tape)
        return;
    chunks_free(tape->chunks);
    free(tape);
}

ti_ctx *ti_tape_ctx(ti_tape *tape)
{
    return tape->ctx;
}

void ti_tape_reset(ti_tape *tape)
{
    if (tape->chunks && tape->chunks->next) {
        chunk *one = chunk_new(tape->total);
        if (one) {
            chunks_free(tape->chunks);
            tape->chunks = one;
        }
    }
    for (chunk *c = tape->chunks; c; c = c->next)
        c->used = 0;
    tape->last = NULL;
    tape->free = NULL;
    tape->status = TI_OK;
}

void ti_tape_set_recording(ti_tape *tape, int on)
{
    tape->recording = on;
}

int ti_tape_recording(const ti_tape *tape)
{
    return tape->recording;
}

ti_status ti_tape_status(const ti_tape *tape)
{
    return tape->status;
}

size_t ti_tape_arena_bytes(const ti_tape *tape)
{
    return tape->total;
}

void *ti__tape_fail(ti_tape *tape, ti_status s, const char *fmt, ...)
{
    if (tape->status != TI_OK)
        return NULL; /* keep the first error: later ones are usually its consequences */
    tape->status = s;
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ti_ctx_error(tape->ctx, s, "%s", buf);
    return NULL;
}

void *ti__tape_alloc(ti_tape *tape, size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    /* the head chunk is the one being filled; earlier chunks in the list are full */
    chunk *c = tape->chunks;
    if (!c || c->size - c->used < bytes) {
        /* after a reset a later chunk may have room: chunks are rewound together */
        for (chunk *p = c ? c->next : NULL, *q = c; p; q = p, p = p->next)
            if (p->size - p->used >= bytes) {
                q->next = p->next;
                p->next = tape->chunks;
                tape->chunks = p;
                c = p;
                goto have;
            }
        size_t size = bytes > ARENA_MIN_CHUNK ? bytes : ARENA_MIN_CHUNK;
        if (size < tape->total / 2)
            size = tape->total / 2; /* grow geometrically */
        c = chunk_new(size);
        if (!c)
            return ti__tape_fail(tape, TI_ERR_NOMEM, "tape: out of memory allocating %zu bytes",
                                 bytes);
        c->next = tape->chunks;
        tape->chunks = c;
        tape->total += size;
    }
have:;
    void *p = c->mem + c->used;
    c->used += bytes;
    return p;
}

bool ti__tape_bad(ti_tape *tape, int nin, ti_tensor *const *in)
{
    if (tape->status != TI_OK)
        return true;
    for (int i = 0; i < nin; i++)
        if (!in[i]) {
            ti__tape_fail(tape, TI_ERR_ARG, "an op was given a NULL tensor");
            return true;
        }
    return false;
}

ti_tensor *ti_tape_tensor(ti_tape *tape, int ndim, const int *shape)
{
    if (tape->status != TI_OK)
        return NULL;
    if (ndim < 0 || ndim > TI_MAX_DIMS)
        return ti__tape_fail(tape, TI_ERR_SHAPE, "tensor: %d dimensions (at most %d)", ndim,
                             TI_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return ti__tape_fail(tape, TI_ERR_SHAPE, "tensor: negative size %d in dimension %d",
                                 shape[i], i);
    ti_tensor *t = ti__tape_alloc(tape, sizeof *t);
    if (!t)
        return NULL;
    size_t n = ti_shape_size(ndim, shape);
    float *data = ti__tape_alloc(tape, n * sizeof(float));
    if (!data)
        return NULL;
    ti_tensor_view(t, data, NULL, ndim, shape);
    return t;
}

ti_tensor *ti__tape_like(ti_tape *tape, const ti_tensor *t)
{
    return ti_tape_tensor(tape, t->ndim, t->shape);
}

ti_tensor *ti_tape_input(ti_tape *tape, const float *data, int ndim, const int *shape,
                         int requires_grad)
{
    ti_tensor *t = ti_tape_tensor(tape, ndim, shape);
    if (!t)
        return NULL;
    memcpy(t->data, data, t->size * sizeof(float));
    if (requires_grad) {
        t->grad = ti__tape_alloc(tape, t->size * sizeof(float));
        if (!t->grad)
            return NULL;
        memset(t->grad, 0, t->size * sizeof(float));
        t->requires_grad = 1;
    }
    return t;
}

ti_node *ti__tape_record(ti_tape *tape, const ti_op_def *def, ti_tensor *out, int nin,
                         ti_tensor *const *in)
{
    if (!tape->recording)
        return NULL;
    int any = 0;
    for (int i = 0; i < nin; i++)
        any |= in[i]->requires_grad;
    if (!any)
        return NULL;
    ti_node *n = ti__tape_alloc(tape, sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->def = def;
    n->out = out;
    n->nin = nin;
    for (int i = 0; i < nin; i++)
        n->in[i] = in[i];
    n->prev = tape->last;
    tape->last = n;
    out->node = n;
    out->requires_grad = 1;
    return n;
}

static size_t grad_bytes(const ti_tensor *t)
{
    return (t->size * sizeof(float) + 63) & ~(size_t)63;
}

/* A zeroed gradient buffer for t: the smallest released one that fits (and is not more than
 * twice too big, so that a small gradient does not pin a large block), else fresh arena. */
static float *grad_acquire(ti_tape *tape, const ti_tensor *t)
{
    size_t bytes = grad_bytes(t);
    free_buf **best = NULL;
    for (free_buf **p = &tape->free; *p; p = &(*p)->next)
        if ((*p)->bytes >= bytes && (*p)->bytes <= 2 * bytes &&
            (!best || (*p)->bytes < (*best)->bytes))
            best = p;
    float *g;
    if (best) {
        g = (float *)*best;
        *best = (*best)->next;
    } else {
        g = ti__tape_alloc(tape, bytes);
        if (!g)
            return NULL;
    }
    ti__parallel_zero(tape->ctx, g, t->size);
    return g;
}

/* Puts an activation's gradient buffer on the free list (the activation keeps grad NULL). */
static void grad_release(ti_tape *tape, ti_tensor *t)
{
    free_buf *b = (free_buf *)(void *)t->grad;
    b->bytes = grad_bytes(t);
    b->next = tape->free;
    tape->free = b;
    t->grad = NULL;
}

/* Gives every input of n that needs one a gradient buffer (zeroed); leaves must own theirs. */
static ti_status prepare_inputs(ti_tape *tape, ti_node *n)
{
    for (int i = 0; i < n->nin; i++) {
        ti_tensor *x = n->in[i];
        if (!x->requires_grad || x->grad)
            continue;
        if (!x->node) {
            ti__tape_fail(tape, TI_ERR_STATE,
                          "backward: a leaf that requires a gradient has no gradient buffer "
                          "(give it one with ti_tensor_alloc_grad)");
            return tape->status;
        }
        x->grad = grad_acquire(tape, x);
        if (!x->grad)
            return tape->status;
    }
    return TI_OK;
}

ti_status ti_tape_backward_seed(ti_tape *tape, ti_tensor *out, const float *seed)
{
    if (tape->status != TI_OK)
        return tape->status;
    if (!out || !out->node) {
        ti__tape_fail(tape, TI_ERR_STATE,
                      "backward: the output was not recorded (recording off, or nothing it "
                      "depends on requires a gradient)");
        return tape->status;
    }
    /* a previous backward over this tape (or one that failed half-way) may have left
     * activation gradients: release them, so every one starts at zero */
    for (ti_node *n = tape->last; n; n = n->prev) {
        n->reached = 0;
        if (n->out->grad && n->out != out)
            grad_release(tape, n->out);
    }
    if (!out->grad) {
        out->grad = grad_acquire(tape, out);
        if (!out->grad)
            return tape->status;
    }
    memcpy(out->grad, seed, out->size * sizeof(float));
    out->node->reached = 1;
    /* only nodes that `out` depends on are visited; the others keep zero gradients */
    for (ti_node *n = tape->last; n; n = n->prev) {
        if (!n->reached)
            continue;
        if (prepare_inputs(tape, n) != TI_OK)
            return tape->status;
        for (int i = 0; i < n->nin; i++)
            if (n->in[i]->node)
                n->in[i]->node->reached = 1;
        n->def->backward(tape, n);
        /* every use of n->out comes later on the tape, so its gradient is complete and
         * has been consumed: only the seeded output keeps one */
        if (n->out != out)
            grad_release(tape, n->out);
    }
    return tape->status;
}

ti_status ti_tape_backward(ti_tape *tape, ti_tensor *loss)
{
    if (loss && loss->size != 1) {
        char b[64];
        ti__tape_fail(tape, TI_ERR_SHAPE,
                      "backward: the loss must be a scalar, got shape %s (use "
                      "ti_tape_backward_seed for a vector)",
                      ti_shape_str(loss, b, sizeof b));
        return tape->status;
    }
    const float one = 1.0f;
    return ti_tape_backward_seed(tape, loss, &one);
}
