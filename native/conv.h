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

/* The textbook 7-loop forward of the original work (64-bit indices), kept for comparison. */
int conv_forward_naive(const conv_shape *s, const float *x, const float *wt, const float *b, float *y);

/* The message of a status code; never NULL. */
const char *conv_strerror(int code);

/* How the kernel was built: compiler, flags, instruction set (a static string). */
const char *conv_build_info(void);

#endif /* CONVBENCH_CONV_H */
