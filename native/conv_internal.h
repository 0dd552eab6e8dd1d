/*
 * convbench C kernel, internal header: what the kernel's .c files share and nothing public
 * (conv.h is the public contract).
 *
 *   - compiler helpers: CONV_INLINE (always inline), UNROLL (full unrolling of small loops);
 *   - vectors: the GNU C vector type vf / vi with VLD, VST, VBC, INREG (or CONV_VEC 0, the
 *     portable C fallback, with -DCONV_PORTABLE or another compiler), and the widths L, NV,
 *     VW and the GEMM micro-kernel's MR x NR that more than one file uses;
 *   - small static inline helpers: copy_row, split_at, parts_per_image, the thread id/count;
 *   - the scratch plans (fwd_plan, bwd_plan): the size of every scratch buffer of a call, in
 *     elements, computed by one function per pass (conv.c) for both the int64 overflow check
 *     and the allocation;
 *   - the prototypes of the internal functions each file gives the others:
 *       conv_direct_forward.c   place, fwd_direct_items, fwd_core_rows_s1
 *       conv_direct_backward.c  dx_flip_weights, dx_frame_rows, bww_direct_rows, bias_rows
 *       conv_gemm.c             gemm_pack_fwd, gemm_pack_bwd, gemm_tap_offsets,
 *                               gemm_forward_pixels, gemm_implicit_rows, gemm_dx_pixels,
 *                               bww_gemm_rows
 *     (conv.c: API, validation, dispatch and threads; conv_baselines.c: naive and stream.)
 */
#ifndef CONVBENCH_CONV_INTERNAL_H
#define CONVBENCH_CONV_INTERNAL_H

#include "conv.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CONV_INLINE static inline __attribute__((always_inline))
#else
#define CONV_INLINE static inline
#endif
/* Full unrolling of the small register-block loops (so their arrays become registers). */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define UNROLL _Pragma("GCC unroll 16")
#else
#define UNROLL
#endif

/* Vectors. With gcc or clang the micro-kernels use GNU C vector extensions (generic vectors
 * of 8 floats, no intrinsics: the compiler maps them to AVX/AVX-512, SSE or NEON registers),
 * which keep the accumulators in registers reliably; plain C11 loops do the same work
 * elsewhere (or with -DCONV_PORTABLE), correct but slower, since the auto-vectoriser tends to
 * vectorise the wrong loop of a register-blocked kernel. NV vectors make a chunk of VW output
 * columns: 2 with AVX or NEON (16 or 32 registers), 1 with 16 SSE registers. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(CONV_PORTABLE)
#define CONV_VEC 1
typedef float vf __attribute__((vector_size(32)));
typedef int32_t vi __attribute__((vector_size(32)));
/* unaligned load and store of one vector (a single vmovups / ldr q; memcpy keeps it legal) */
#define VLD(p) __extension__({ vf v_; memcpy(&v_, (p), sizeof v_); v_; })
#define VST(p, v) do { const vf w_ = (v); memcpy((p), &w_, sizeof w_); } while (0)
#define CONV_VEC_TEXT "gnu-vector-extensions"
/* Keep v in a register: gcc otherwise folds a vector load into every FMA that uses it, which
 * loads the same x vector once per output channel (load-port bound). */
#if defined(__x86_64__) && defined(__AVX__)
#define INREG(v) __asm__("" : "+x"(v))
#elif defined(__aarch64__)
#define INREG(v) __asm__("" : "+w"(v))
#else
#define INREG(v) ((void)0)
#endif
/* a vector of 8 copies of a (one vbroadcastss; `zero + a` would add 0.0f first: -0 -> +0) */
#define VBC(a) __extension__({ const float a_ = (a); (vf){a_, a_, a_, a_, a_, a_, a_, a_}; })
#else
#define CONV_VEC 0
#define CONV_VEC_TEXT "portable-c"
#endif
#define L 8 /* floats per vector */
#if defined(__AVX__) || defined(__ARM_NEON) || defined(__aarch64__)
#define NV 2
#define CONV_VW_TEXT "16"
#else
#define NV 1
#define CONV_VW_TEXT "8"
#endif
#define VW (NV * L) /* output columns per chunk; lanes of a direct weight-gradient sum */
#define MR 6        /* GEMM micro-kernel: rows (output channels) */
#define NR VW       /* GEMM micro-kernel: columns (pixels) */

/* ------------------------------------------------------------------------------------------
 * Small helpers (static inline: every file that uses them keeps them inlined)
 * ------------------------------------------------------------------------------------------ */

/* d[0:n] = s[0:n]; short rows inline (a libc call per short row costs more than the copy). */
static inline void copy_row(float *restrict d, const float *restrict s, int64_t n)
{
#if CONV_VEC
    if (n >= L && n <= 512) {
        int64_t i = 0;
        for (; i + L <= n; i += L) VST(d + i, VLD(s + i));
        if (i < n) VST(d + n - L, VLD(s + n - L)); /* overlapping last vector */
        return;
    }
#endif
    memcpy(d, s, (size_t)n * sizeof(float));
}

/* The start of part `idx` of `total` items split into `parts` near-equal contiguous parts
 * (no overflow for any int64 total). */
static inline int64_t split_at(int64_t total, int64_t parts, int64_t idx)
{
    if (parts == 1) return idx == 0 ? 0 : total; /* the common case, without a division */
    const int64_t q = total / parts, r = total % parts;
    return idx * q + (idx < r ? idx : r);
}

/* Parts per image: 1 when there are at least as many images as threads, else enough for
 * every thread to get a part (rows or pixel blocks of an image; empty parts are harmless). */
static inline int64_t parts_per_image(int64_t n, int threads)
{
    return n >= threads ? 1 : (threads + n - 1) / n;
}

#ifdef _OPENMP
#define THREAD_ID() omp_get_thread_num()
#define THREAD_COUNT() omp_get_num_threads()
#else
#define THREAD_ID() 0
#define THREAD_COUNT() 1
#endif

/* ------------------------------------------------------------------------------------------
 * Scratch plans: every scratch buffer of a call, in elements (0: not used). conv.c computes
 * them (plan_forward, plan_backward) with overflow-checked int64 arithmetic, once per method
 * when it validates a shape and again for the method a call runs, whose buffers it then
 * allocates with exactly these sizes.
 * ------------------------------------------------------------------------------------------ */

typedef struct fwd_plan {
    int method;         /* CONV_METHOD_DIRECT or CONV_METHOD_GEMM */
    int padded;         /* a padding is > 0 */
    int implicit;       /* GEMM at stride 1: B read from the (padded) image in place */
    int64_t ldc;        /* GEMM with im2col: pixels per block (the row stride of cols) */
    /* shared by the threads */
    int64_t packed_a;   /* floats: GEMM, the weights packed in panels of MR rows */
    int64_t tap_offs;   /* int64s: implicit GEMM, the offset of every tap in the image */
    /* per thread */
    int64_t image;      /* floats, zeroed: the padded image (direct, implicit GEMM) */
    int64_t cols;       /* floats: GEMM with im2col, the block and its sums */
    int64_t sums;       /* floats: implicit GEMM, the sums of a row of tiles */
} fwd_plan;

typedef struct bwd_plan {
    int mi, mw;         /* the methods of the input and the weight gradients */
    int padded;         /* a padding is > 0 */
    int dx_frame;       /* direct dx at stride 1 of a large image: no padded copy of dy */
    int64_t Hd, Wd;     /* direct dx: the dilated, padded dy image */
    int64_t ldci, ldcw; /* GEMM: pixels per im2col block, input and weight gradient */
    int64_t Kpad;       /* GEMM dw: c_out rounded up to NR */
    /* shared by the threads */
    int64_t wa;         /* floats: dx's weights (flipped and swapped, or packed for GEMM) */
    int64_t acc;        /* doubles per thread: the sums of dw then db */
    /* per thread */
    int64_t dx_buf;     /* floats: dx, the padded dy (zeroed), the frame's copies or im2col */
    int64_t lanes;      /* floats: direct dw, the lane sums of every tap */
    int64_t x_pad;      /* floats, zeroed: direct dw, the padded x image */
    int64_t cols;       /* floats, zeroed: GEMM dw, the im2col block of x */
    int64_t dyt;        /* floats, zeroed: GEMM dw, dy transposed */
    int64_t dwt;        /* floats: GEMM dw, the block's dW^T */
} bwd_plan;

/* The internal functions below are hidden: not exported from the shared library, so the calls
 * between the kernel's files are direct calls (no PLT) and gcc may inline and specialise them
 * within their own file, as when all of them were static in one file. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(hidden)
#endif

/* ------------------------------------------------------------------------------------------
 * Method DIRECT, forward (conv_direct_forward.c)
 * ------------------------------------------------------------------------------------------ */

/* Place src (c x H x W) into dst (c x Hd x Wd) at dst[top + r*sh][left + q*sw]; only those
 * positions are written (dst zeroed once and reused with the same geometry). */
void place(int64_t c, int64_t H, int64_t W, const float *restrict src, int64_t top,
           int64_t left, int64_t sh, int64_t sw, int64_t Hd, int64_t Wd, float *restrict dst);

/* Items [it0, it1) of a forward call (item it: part it % R of image it / R), by the direct
 * method; image: fwd_plan.image floats of zeroed scratch when the call pads (*last: the image
 * it holds, -1 at first). */
void fwd_direct_items(const conv_shape *s, int64_t OH, int64_t OW, const float *x,
                      const float *wt, const float *b, float *y, int64_t R, int64_t it0,
                      int64_t it1, float *image, int64_t *last);

/* Output rows [oh0, oh1) of one image at stride 1: y (cout x OH x OW, row stride ys, plane
 * yplane) = x (cin x H x W) correlated with w, no padding, (+ b; the direct input gradient, its
 * user, passes NULL). Every tap of every output lies in x. */
void fwd_core_rows_s1(int64_t cin, int64_t H, int64_t W, int64_t cout, int64_t KH, int64_t KW,
                      int64_t OH, int64_t OW, int64_t oh0, int64_t oh1,
                      const float *restrict x, const float *restrict w, const float *restrict b,
                      float *restrict y, int64_t ys, int64_t yplane);

/* ------------------------------------------------------------------------------------------
 * Method DIRECT, backward (conv_direct_backward.c)
 * ------------------------------------------------------------------------------------------ */

/* wa[ic][oc][KH-1-kh][KW-1-kw] = wt[oc][ic][kh][kw]: the kernel flipped, channel axes swapped */
void dx_flip_weights(int64_t C, int64_t K, int64_t KH, int64_t KW, const float *restrict wt,
                     float *restrict wa);

/* Rows [h0, h1) of one image's input gradient at stride 1, pad <= k - 1, without a padded
 * copy of the whole dy; buf: nbuf >= 2 * K * KH * (W + 2 * KW) floats (bwd_plan.dx_buf). */
void dx_frame_rows(int64_t C, int64_t K, int64_t H, int64_t W, int64_t OH, int64_t OW,
                   int64_t KH, int64_t KW, int64_t ph, int64_t pw, const float *restrict dy,
                   const float *restrict wa, float *restrict dx, int64_t h0, int64_t h1,
                   float *restrict buf, int64_t nbuf);

/* acc[k] += the weight gradient of tap k over output rows [oh0, oh1) of one image (xi: the
 * padded image, hp x wp); lanes: bwd_plan.lanes floats of scratch. */
void bww_direct_rows(const conv_shape *s, int64_t OH, int64_t OW, const float *xi, int64_t hp,
                     int64_t wp, const float *dyi, int64_t oh0, int64_t oh1, float *lanes,
                     double *acc);

/* acc[oc] += the sum of dy plane oc over elements [e0, e1) (the bias gradient, any method) */
void bias_rows(int64_t K, int64_t plane, const float *dyi, int64_t e0, int64_t e1, double *acc);

/* ------------------------------------------------------------------------------------------
 * Method GEMM (conv_gemm.c)
 * ------------------------------------------------------------------------------------------ */

/* The forward weights (M x Kd) packed in panels of MR rows (fwd_plan.packed_a floats). */
void gemm_pack_fwd(int64_t M, int64_t Kd, const float *restrict a, float *restrict ap);

/* The input gradient's A[ic][(oc, t)] = wt[oc][ic][t], packed likewise (bwd_plan.wa floats). */
void gemm_pack_bwd(int64_t C, int64_t K, int64_t T, const float *restrict wt,
                   float *restrict ap);

/* off[(ic*KH + kh)*KW + kw] = (ic*hp + kh)*wp + kw: the taps in a hp x wp image. */
void gemm_tap_offsets(int64_t C, int64_t KH, int64_t KW, int64_t hp, int64_t wp,
                      int64_t *restrict off);

/* Pixels [p0, p1) of one image's forward output by im2col blocks of ldc pixels;
 * buf: fwd_plan.cols floats. */
void gemm_forward_pixels(const conv_shape *s, int64_t OH, int64_t OW, const float *restrict ap,
                         const float *restrict xi, const float *restrict b, float *restrict yi,
                         int64_t p0, int64_t p1, int64_t ldc, float *restrict buf);

/* Output rows [oh0, oh1) of one image at stride 1 (OW >= L) from the padded image xp (rows of
 * wp floats) through the tap offsets; acc: fwd_plan.sums floats. */
void gemm_implicit_rows(int64_t M, int64_t Kd, const float *restrict ap,
                        const float *restrict xp, int64_t wp, const int64_t *restrict off,
                        const float *restrict bias, int64_t OW, int64_t P, int64_t oh0,
                        int64_t oh1, float *restrict y, float *restrict acc);

/* Pixels [p0, p1) of one image's input gradient by im2col blocks of dy (ldc pixels);
 * buf: bwd_plan.dx_buf floats. */
void gemm_dx_pixels(const conv_shape *s, int64_t OH, int64_t OW, const float *restrict wa,
                    const float *restrict dyi, float *restrict dxi, int64_t p0, int64_t p1,
                    int64_t ldc, float *restrict buf);

/* acc[oc*Kd + k] += the weight gradient over output rows [oh0, oh1) of one image; cols, dyt,
 * dwt: this thread's bwd_plan.cols, .dyt, .dwt floats. */
void bww_gemm_rows(const conv_shape *s, int64_t OH, int64_t OW, const float *xi,
                   const float *dyi, int64_t oh0, int64_t oh1, float *cols, int64_t ldc,
                   float *dyt, int64_t Kpad, float *dwt, double *acc);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif /* CONVBENCH_CONV_INTERNAL_H */
