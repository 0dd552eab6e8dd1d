/*
 * convbench C kernel: the single contract between the C code and Python.
 *
 * 2-D convolution (cross-correlation, as torch.nn.functional.conv2d), NCHW float32,
 * C-contiguous buffers, zero padding, stride >= 1, separate for height and width.
 *   x  : n x c_in  x h  x w
 *   wt : c_out x c_in x kh x kw
 *   b  : c_out                      (optional: NULL means no bias)
 *   y  : n x c_out x oh x ow,  oh = (h + 2*pad_h - kh) / stride_h + 1, likewise ow
 *
 * All extents and index arithmetic are int64_t. Every entry point checks its arguments and
 * returns a status: CONV_OK (0) on success, otherwise one of the CONV_E* codes below, whose
 * message conv_strerror() gives. Nothing here prints, exits or allocates unchecked.
 */
#ifndef CONVBENCH_CONV_H
#define CONVBENCH_CONV_H

#include <stdint.h>

#define CONV_OK 0
#define CONV_ENULL 1      /* a required pointer is NULL */
#define CONV_EEXTENT 2    /* an extent (n, c_in, h, w, c_out, kh, kw) is <= 0 */
#define CONV_ESTRIDE 3    /* a stride is <= 0 */
#define CONV_EPADDING 4   /* a padding is < 0 */
#define CONV_EKERNEL 5    /* the kernel is larger than the padded input */
#define CONV_EOVERFLOW 6  /* an element count or byte size overflows int64 */
#define CONV_ENOMEM 7     /* a scratch allocation failed */
#define CONV_ETHREADS 8   /* threads is < 1 */
#define CONV_EMETHOD 9    /* method is not one of the CONV_METHOD_* values */
#define CONV_EOPTION 10   /* thread_min_flops is < 0 or NaN */

/* The least work (FLOPs) worth another thread: the usual thread_min_flops argument of
 * conv_forward_ex and conv_backward_ex (the one-thread entry points pass it). */
#define CONV_THREAD_MIN_FLOPS 4000000

/* Methods (the `method` argument of the _ex entry points). AUTO lets the dispatcher choose by
 * shape, separately for forward, backward-input and backward-weight (never by batch size or
 * thread count, so an image's forward output does not depend on them); the others force one
 * method for every part, for tests and benchmarks. conv_method() says what AUTO chooses. */
#define CONV_METHOD_AUTO 0
#define CONV_METHOD_DIRECT 1  /* register-blocked direct convolution: few channels */
#define CONV_METHOD_GEMM 2    /* im2col blocks + a 6 x 16 GEMM micro-kernel: many channels */

/* Parts, for conv_method(). */
#define CONV_PART_FORWARD 0
#define CONV_PART_BACKWARD_INPUT 1
#define CONV_PART_BACKWARD_WEIGHT 2

typedef struct conv_shape {
    int64_t n, c_in, h, w;        /* input extents */
    int64_t c_out, kh, kw;        /* weight extents (c_in is shared with the input) */
    int64_t stride_h, stride_w;   /* >= 1 */
    int64_t pad_h, pad_w;         /* >= 0, zero padding on both sides */
} conv_shape;

/* Validate a shape and give the output height and width (either pointer may be NULL). */
int conv_output_size(const conv_shape *s, int64_t *oh, int64_t *ow);

/* y = conv(x, wt) + b. b may be NULL. y is fully overwritten. */
int conv_forward(const conv_shape *s, const float *x, const float *wt, const float *b, float *y);

/* dx = dL/dx given dy = dL/dy. dx is fully overwritten. */
int conv_backward_input(const conv_shape *s, const float *dy, const float *wt, float *dx);

/* dw = dL/dwt and db = dL/db given x and dy. db may be NULL. Both are fully overwritten. */
int conv_backward_weight(const conv_shape *s, const float *x, const float *dy, float *dw, float *db);

/* The same with the work split over up to `threads` threads (>= 1; OpenMP, or 1 thread when
 * built without it: see conv_max_threads) and a chosen method. A call runs no more threads
 * than its work pays for: at most its FLOPs / thread_min_flops, and one at least
 * (thread_min_flops >= 0, usually CONV_THREAD_MIN_FLOPS; 0: always the threads asked for).
 * Splitting is over images and, when there are fewer images than threads, over rows (or
 * pixel blocks) of an image; every output element is summed in the same order whatever the
 * batch size, the image's position in it and the thread count, so y is bit-identical for an
 * image in any batch. */
int conv_forward_ex(const conv_shape *s, const float *x, const float *wt, const float *b, float *y,
                    int threads, int method, double thread_min_flops);

/* Backward in one pass over the batch (each image's x and dy are read once for both
 * gradients). dx == NULL skips the input gradient (wt may then be NULL), dw == NULL the weight
 * gradient (x may then be NULL), db == NULL the bias gradient. dw, db are sums over the batch
 * in an order fixed by the shape and the thread count the call runs. */
int conv_backward_ex(const conv_shape *s, const float *x, const float *dy, const float *wt,
                     float *dx, float *dw, float *db, int threads, int method,
                     double thread_min_flops);

/* The method CONV_METHOD_AUTO picks for a part (CONV_PART_*) of a valid shape, or a negative
 * status (-CONV_E*) for an invalid shape or part. */
int conv_method(const conv_shape *s, int part);

/* 1 when built without OpenMP (the _ex calls then run one thread whatever they are asked),
 * else omp_get_max_threads() (OpenMP's default; the _ex calls use the count they are given). */
int conv_max_threads(void);

/* The textbook 7-loop forward of the original work (64-bit indices), kept for comparison. */
int conv_forward_naive(const conv_shape *s, const float *x, const float *wt, const float *b, float *y);

/* The textbook loops for backward (dx, dw, db; scatter form, 64-bit indices), for comparison.
 * db may be NULL. */
int conv_backward_naive(const conv_shape *s, const float *x, const float *dy, const float *wt,
                        float *dx, float *dw, float *db);

/* The memory floor of a pass, for benchmarks (no convolution): every image's input is read
 * and its output written once, the images split over threads as the kernel splits them, with
 * plain (cached) stores. backward 0: reads x, writes out shaped like y (out[j] = x[j]);
 * backward 1: reads x and dy, writes out shaped like x (out[j] = x[j] + dy[j], dy counted
 * where it exists); elements read past the output's length are summed into its last element.
 * dy is ignored (may be NULL) when backward is 0. */
int conv_stream_ex(const conv_shape *s, int backward, const float *x, const float *dy, float *out,
                   int threads);

/* The message of a status code; never NULL. */
const char *conv_strerror(int code);

/* How the kernel was built: compiler, flags, instruction set (a static string). */
const char *conv_build_info(void);

#endif /* CONVBENCH_CONV_H */
