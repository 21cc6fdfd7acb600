/* What the convolution's files share (conv.c, conv_rowshift.c): the shape record and the
 * job that splits one convolution over the context's pool by images. Not installed. */
#ifndef THINICE_CONV_INTERNAL_H
#define THINICE_CONV_INTERNAL_H

#include "internal.h"

/* A group's GEMM should have about this many columns (images x output pixels): OpenBLAS
 * runs at a third of its speed on the 16- or 64-column products of deep layers taken one
 * image at a time, and a wider column matrix falls out of the caches (measured, 2 threads:
 * 1024 against 4096 columns, 1.6x faster on the 1-channel first layer of the small CNN,
 * 10% on ResNet's stride-2 layers, the same elsewhere). */
#define GROUP_COLS 1024

/* Everything a kernel needs to know about one convolution. */
typedef struct conv_shape {
    int N, C, H, W;    /* input (N, C, H, W) */
    int K, KH, KW;     /* weight (K, C, KH, KW) */
    int OH, OW;        /* output (N, K, OH, OW) */
    int stride, pad;
    int T;             /* threads that share the images (the pool's size) */
    int G;             /* images per group (a GEMM's worth), at most ceil(N / T) */
    int direct;        /* 1x1, stride 1, no padding: an image already is its column matrix */
    int wino;          /* 3x3, stride 1, pad <= 2, wide enough: forward and dX by Winograd */
    int dconv, dconv_bwd; /* few channels: forward / dX by the direct kernel (conv_direct.c) */
    size_t CK;         /* C * KH * KW: rows of the column matrix */
    size_t P;          /* OH * OW: output pixels per image */
} conv_shape;

/* One convolution's work, split over the pool by images: worker t takes the images
 * [lo, hi) and its own scratch, ws + t * slice floats. The weight gradient of worker 0 goes
 * straight into dw; the others' go to their own (K, CK) block of dw_part (worker t at
 * (t - 1) K CK), summed into dw after the job. */
typedef struct conv_job {
    const conv_shape *s;
    ti_ctx *ctx;
    float *y;                  /* forward output (N, K, OH, OW) */
    const float *x, *w, *b;    /* input, weight (K, CK), bias (K) or NULL */
    float *dx, *dw;            /* gradients to add to, or NULL when not wanted */
    const float *dy;           /* output gradient (N, K, OH, OW) */
    float *shared;             /* read-only scratch all workers use (a reordered weight) */
    float *ws;                 /* per-worker scratch */
    size_t slice;
    float *dw_part;            /* weight gradients of workers 1 .. T-1 */
} conv_job;

/* The range [lo, hi) of ow whose input column iw = ow*stride - pad + kw lies in [0, W). */
void ti__conv_valid_range(int OW, int W, int stride, int pad, int kw, int *lo, int *hi);

/* conv_rowshift.c: the row-shift forward and backward for stride-1 layers on large maps. */
int ti__conv_use_rowshift(const conv_shape *s);
/* Floats of the shared scratch (the weight split by kernel row, and for the backward its
 * gradient's sum) and of one worker's scratch. */
size_t ti__conv_rowshift_shared_floats(const conv_shape *s, int backward);
size_t ti__conv_rowshift_worker_floats(const conv_shape *s, int backward);
/* Before the job: fills j->shared (the reordered weight; with backward, dx wanted). */
void ti__conv_rowshift_prepare(conv_job *j, int backward);
void ti__conv_rowshift_fwd_range(void *job, size_t lo, size_t hi, int t);
void ti__conv_rowshift_bwd_range(void *job, size_t lo, size_t hi, int t);
/* After a backward job that ran `parts` workers: adds their weight gradients into dw. */
void ti__conv_rowshift_bwd_finish(conv_job *j, int parts);

/* conv_direct.c: the direct convolution for layers with few channels. ok: the forward
 * handles s (and bwd_ok: its input gradient); floats: the workspace, for a pool of s->T. */
int ti__conv_direct_ok(const conv_shape *s);
int ti__conv_direct_bwd_ok(const conv_shape *s);
size_t ti__conv_direct_floats(const conv_shape *s, int backward);
/* y (N, K, OH, OW) = conv(x, w) + b (b may be NULL), over the pool by images. */
void ti__conv_direct_fwd(ti_ctx *ctx, float *ws, float *y, const float *x, const float *w,
                         const float *b, const conv_shape *s);
/* dx (N, C, H, W) += the input gradient of conv(x, w) given dy (N, K, OH, OW). */
void ti__conv_direct_bwd(ti_ctx *ctx, float *ws, float *dx, const float *dy, const float *w,
                         const conv_shape *s);

#endif
