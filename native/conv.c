/*
 * convbench C kernel: implements conv.h (read that first for the contract).
 *
 * Layout: NCHW float32, C-contiguous; weights c_out x c_in x kh x kw. Cross-correlation with
 * zero padding, as torch.nn.functional.conv2d. C11 with GNU C vector extensions where the
 * compiler has them (a portable C fallback elsewhere), OpenMP threads where the compiler has
 * OpenMP (one thread otherwise). Two methods, chosen per part by shape (choose_method):
 *
 * DIRECT (few channels):
 *   - One core routine, fwd_core_rows(), computes an UNPADDED strided correlation. Its
 *     micro-kernel (fwd_chunk) keeps a block of ocb <= OCB output channels x R output rows x
 *     a chunk of consecutive output columns (at most 12 vectors; block_rows and the dispatch
 *     table choose them per ocb) in registers and runs the whole c_in x kh x kw reduction over
 *     them, so every output element is stored exactly once; each x vector is loaded once and
 *     used for all ocb channels. A row whose width is not a multiple of the chunk ends with a
 *     chunk that overlaps the previous one (the overlapping outputs are recomputed to the
 *     identical values), so there is no scalar tail and no branch in the inner loops. Three
 *     input channels with a 3x3 kernel (RGB-like) get the block fully unrolled.
 *   - One input channel, 3x3, stride 1 (fwd33_c1, the sliding-row kernel): the nine weights
 *     stay in registers and every input row is loaded once for the three output rows it
 *     meets, four vectors of columns at a time. Each output sums kh, kw in the same order from
 *     zero, so both routines give the same bits.
 *   - Padding is handled outside the hot loops: the padded image is copied into a scratch
 *     buffer (one image at a time), then fwd_core_rows() runs on it.
 *   - backward_input is fwd_core_rows() applied to dy, zero-padded by (k - 1 - pad) and, for
 *     stride > 1, dilated by the stride, with the kernel flipped and its channel axes swapped.
 *     A large image at stride 1 skips the padded copy (dx_frame_rows): the interior runs on dy
 *     in place, the thin frame around it on small padded copies of the dy it needs.
 *   - backward_weight is a set of dot products over output rows (bww_rows), a block of TB
 *     kernel columns at a time, in VW independent lanes (so the compiler can vectorise a
 *     float sum without reassociation flags); 3x3 stride-1 kernels use bww33_row (wide images:
 *     row by row, each x row loaded once for every dy row it meets) or bww33_col (rows of
 *     fewer than two vectors, down the columns). The last chunk of a row overlaps the
 *     previous one with the already-counted lanes masked by a select (not a multiply:
 *     0 * inf is NaN). Lanes are summed per image (part, or band) in float and accumulated
 *     across images in double.
 *   - The two gradients of a large image go by bands of rows (dx, then dw of the same rows),
 *     so each band of dy comes from memory once.
 *
 * GEMM (many channels): at stride 1 an "implicit GEMM" (gemm_implicit_rows): a 6 x 16
 *   register-blocked micro-kernel whose B rows are read in place from the (padded) image
 *   through a table of tap offsets; otherwise im2col of a block of pixels into an L2-sized
 *   buffer and the same micro-kernel (see the GEMM section); both give the same bits.
 *   Padding and stride are handled in the im2col; backward-input gathers dy directly (no
 *   flipped copy of dy), backward-weight multiplies the im2col of x by dy transposed.
 *
 * Threads split the batch (and, with fewer images than threads, the rows or pixel blocks of an
 * image); backward computes both gradients of an image in one pass (x, dy read once), each
 * thread summing its images' dw, db in double, the threads' sums added in thread order.
 *
 * All extents and index arithmetic are int64_t; every entry point validates its arguments
 * (including that every element count and byte size, scratch buffers too, fits in int64)
 * before it touches memory.
 */
#include "conv.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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
#define VW (NV * L) /* output columns per chunk */
#define VH L        /* the narrower chunk, for rows narrower than VW */
#define OCB 4  /* output channels per direct forward block */
#define RMAX 4 /* output rows per direct forward block */
#define FWD_NV 4 /* vectors of columns per direct forward block, at most */
#ifndef ROWS1
#define ROWS1 4
#endif
#ifndef ROWS2
#define ROWS2 2
#endif
#ifndef ROWS3
#define ROWS3 1
#endif
#ifndef NVC1
#define NVC1 2
#endif
#ifndef NVC2
#define NVC2 2
#endif
#ifndef NVC3
#define NVC3 3
#endif
#if ROWS1 > RMAX || ROWS2 > RMAX || ROWS3 > RMAX || NVC1 > FWD_NV || NVC2 > FWD_NV || \
    NVC3 > FWD_NV
#error "a direct forward block (ROWSn x NVCn) is larger than its accumulators (RMAX x FWD_NV)"
#endif
#define MR 6   /* GEMM micro-kernel: rows (output channels) */
#define NR VW  /* GEMM micro-kernel: columns (pixels) */
#define PBMAX 1024 /* GEMM: the most pixels per im2col block */
#define KB 256     /* GEMM: the reduction block */
#define GEMM_MIN_M 8   /* auto: GEMM needs at least this many output rows */
#define GEMM_MIN_KD 32 /* and a reduction at least this long (c_in * kh * kw) */
#define MIN_THREAD_FLOPS 4.0e6 /* the least work worth another thread */
#define TB 4  /* kernel columns per backward-weight block */
#define DX_PLACE_MAX 65536 /* direct dx: the largest padded dy image (floats) worth a copy */
#define BAND_ROWS 16 /* direct backward of a large image: rows per band (dx then dw) */

/* ------------------------------------------------------------------------------------------
 * Messages and build information
 * ------------------------------------------------------------------------------------------ */

const char *conv_strerror(int code)
{
    switch (code) {
    case CONV_OK: return "success";
    case CONV_ENULL: return "a required pointer is NULL";
    case CONV_EEXTENT: return "an extent (n, c_in, h, w, c_out, kh, kw) is <= 0";
    case CONV_ESTRIDE: return "a stride is <= 0";
    case CONV_EPADDING: return "a padding is < 0";
    case CONV_EKERNEL: return "the kernel is larger than the padded input";
    case CONV_EOVERFLOW: return "an element count or byte size overflows int64";
    case CONV_ENOMEM: return "a scratch allocation failed";
    case CONV_ETHREADS: return "threads must be >= 1";
    case CONV_EMETHOD: return "unknown method (or part)";
    default: return "unknown error";
    }
}

/* The flags are handed in by native/build.py (or native/sanitize.sh) as a string literal. */
#ifndef CONVBENCH_BUILD_FLAGS
#define CONVBENCH_BUILD_FLAGS "unknown"
#endif

#if defined(__clang__)
#define CONV_COMPILER __VERSION__
#elif defined(__GNUC__)
#define CONV_COMPILER "gcc " __VERSION__
#elif defined(__VERSION__)
#define CONV_COMPILER __VERSION__
#else
#define CONV_COMPILER "unknown"
#endif

#if defined(__x86_64__) || defined(_M_X64)
#define CONV_ARCH "x86_64"
#elif defined(__aarch64__) || defined(_M_ARM64)
#define CONV_ARCH "aarch64"
#elif defined(__i386__) || defined(_M_IX86)
#define CONV_ARCH "x86"
#elif defined(__arm__)
#define CONV_ARCH "arm"
#elif defined(__powerpc64__)
#define CONV_ARCH "ppc64"
#else
#define CONV_ARCH "unknown"
#endif

#ifdef __AVX512F__
#define CONV_ISA_AVX512F " avx512f"
#else
#define CONV_ISA_AVX512F ""
#endif
#ifdef __AVX2__
#define CONV_ISA_AVX2 " avx2"
#else
#define CONV_ISA_AVX2 ""
#endif
#ifdef __AVX__
#define CONV_ISA_AVX " avx"
#else
#define CONV_ISA_AVX ""
#endif
#ifdef __FMA__
#define CONV_ISA_FMA " fma"
#else
#define CONV_ISA_FMA ""
#endif
#ifdef __SSE4_2__
#define CONV_ISA_SSE42 " sse4.2"
#else
#define CONV_ISA_SSE42 ""
#endif
#ifdef __SSE2__
#define CONV_ISA_SSE2 " sse2"
#else
#define CONV_ISA_SSE2 ""
#endif
#ifdef __ARM_NEON
#define CONV_ISA_NEON " neon"
#else
#define CONV_ISA_NEON ""
#endif
#ifdef __ARM_FEATURE_SVE
#define CONV_ISA_SVE " sve"
#else
#define CONV_ISA_SVE ""
#endif

#ifdef _OPENMP
#define CONV_STR2(x) #x
#define CONV_STR(x) CONV_STR2(x)
#define CONV_OMP_TEXT CONV_STR(_OPENMP)
#else
#define CONV_OMP_TEXT "no"
#endif

static const char conv_build_info_text[] =
    "compiler=" CONV_COMPILER "\n"
    "flags=" CONVBENCH_BUILD_FLAGS "\n"
    "isa=" CONV_ARCH CONV_ISA_AVX512F CONV_ISA_AVX2 CONV_ISA_AVX CONV_ISA_FMA CONV_ISA_SSE42
    CONV_ISA_SSE2 CONV_ISA_NEON CONV_ISA_SVE "\n"
    "vector_width=" CONV_VW_TEXT "\n"
    "vector_code=" CONV_VEC_TEXT "\n"
    "openmp=" CONV_OMP_TEXT "\n"
    "methods=direct gemm";

const char *conv_build_info(void) { return conv_build_info_text; }

/* ------------------------------------------------------------------------------------------
 * Argument checks
 * ------------------------------------------------------------------------------------------ */

/* *r = a * b for a, b >= 0; 0 if it overflows int64. */
static int mul_ok(int64_t a, int64_t b, int64_t *r)
{
    if (a != 0 && b > INT64_MAX / a) return 0;
    *r = a * b;
    return 1;
}

/* a * b * c * d elements of `size` bytes fit in int64 and in a size_t/ptrdiff_t. */
static int count_ok(int64_t a, int64_t b, int64_t c, int64_t d, int64_t size)
{
    int64_t r;
    if (!mul_ok(a, b, &r) || !mul_ok(r, c, &r) || !mul_ok(r, d, &r) || !mul_ok(r, size, &r))
        return 0;
    return (uint64_t)r <= (uint64_t)PTRDIFF_MAX;
}

/* Everything a shape must satisfy for every entry point; gives the output size. */
static int check_shape(const conv_shape *s, int64_t *oh, int64_t *ow)
{
    if (s == NULL) return CONV_ENULL;
    if (s->n <= 0 || s->c_in <= 0 || s->h <= 0 || s->w <= 0 || s->c_out <= 0 || s->kh <= 0 ||
        s->kw <= 0)
        return CONV_EEXTENT;
    if (s->stride_h <= 0 || s->stride_w <= 0) return CONV_ESTRIDE;
    if (s->pad_h < 0 || s->pad_w < 0) return CONV_EPADDING;
    if (s->pad_h > (INT64_MAX - s->h) / 2 || s->pad_w > (INT64_MAX - s->w) / 2)
        return CONV_EOVERFLOW;
    const int64_t hp = s->h + 2 * s->pad_h, wp = s->w + 2 * s->pad_w;
    if (s->kh > hp || s->kw > wp) return CONV_EKERNEL;
    const int64_t o_h = (hp - s->kh) / s->stride_h + 1, o_w = (wp - s->kw) / s->stride_w + 1;
    const int64_t fsz = (int64_t)sizeof(float);
    /* the buffers the caller hands in */
    if (!count_ok(s->n, s->c_in, s->h, s->w, fsz) ||
        !count_ok(s->c_out, s->c_in, s->kh, s->kw, fsz) ||
        !count_ok(s->n, s->c_out, o_h, o_w, fsz))
        return CONV_EOVERFLOW;
    /* the scratch buffers: a padded image, a dilated+padded dy image, the weight lanes */
    if (s->kh - 1 > INT64_MAX - s->h || s->kw > (INT64_MAX - s->w) / 2) return CONV_EOVERFLOW;
    if (!count_ok(1, s->c_in, hp, wp, fsz) ||
        !count_ok(1, s->c_out, s->h + s->kh - 1, s->w + s->kw - 1, fsz) ||
        !count_ok(2, s->c_out, s->kh, s->w + 2 * s->kw, fsz) || /* dx_frame_rows' scratch */
        !count_ok(s->c_out * s->c_in, s->kh, s->kw, VW, (int64_t)sizeof(double)))
        return CONV_EOVERFLOW;
    /* GEMM: packed weights, im2col blocks (PBMAX + NR columns), dy^T and dW^T blocks */
    if (!count_ok(s->c_out + MR, s->c_in, s->kh, s->kw, fsz) ||
        !count_ok(s->c_in + MR, s->c_out, s->kh, s->kw, fsz) ||
        !count_ok(s->c_in * s->kh * s->kw + s->c_out * s->kh * s->kw + MR, PBMAX + NR, 1, 1, fsz) ||
        !count_ok(s->c_in * s->kh * s->kw + MR, s->c_out + NR, 1, 1, fsz) ||
        !count_ok(PBMAX + NR, s->c_out + NR, 1, 1, fsz) ||
        !count_ok(s->c_in * s->kh * s->kw + s->c_out * s->kh * s->kw + s->c_in + s->c_out + 2 * MR,
                  PBMAX + NR, 1, 1, fsz))
        return CONV_EOVERFLOW;
    if (oh) *oh = o_h;
    if (ow) *ow = o_w;
    return CONV_OK;
}

int conv_output_size(const conv_shape *s, int64_t *oh, int64_t *ow)
{
    return check_shape(s, oh, ow);
}

static float *alloc_floats(int64_t count)
{
    return (float *)malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
}



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

/* Place src (c x H x W) into dst (c x Hd x Wd) at dst[top + r*sh][left + q*sw]; top/left may
 * be negative (the parts outside dst are dropped). Only those positions are written: dst must
 * have been zeroed once (calloc) and is reused with the same geometry for every image, so
 * everything else in it stays zero. */
static void place(int64_t c, int64_t H, int64_t W, const float *restrict src, int64_t top,
                  int64_t left, int64_t sh, int64_t sw, int64_t Hd, int64_t Wd,
                  float *restrict dst)
{
    /* source columns q with 0 <= left + q*sw < Wd, and q < W; likewise rows r */
    int64_t q0 = left >= 0 ? 0 : (-left + sw - 1) / sw;
    int64_t q1 = Wd - 1 - left < 0 ? 0 : (Wd - 1 - left) / sw + 1;
    if (q1 > W) q1 = W;
    if (q0 >= q1) return;
    int64_t r0 = top >= 0 ? 0 : (-top + sh - 1) / sh;
    int64_t r1 = Hd - 1 - top < 0 ? 0 : (Hd - 1 - top) / sh + 1;
    if (r1 > H) r1 = H;
    for (int64_t ch = 0; ch < c; ch++) {
        const float *restrict sc = src + ch * H * W;
        float *restrict dc = dst + ch * Hd * Wd;
        for (int64_t r = r0; r < r1; r++) {
            float *restrict drow = dc + (top + r * sh) * Wd + left;
            const float *restrict srow = sc + r * W;
            if (sw == 1)
                copy_row(drow + q0, srow + q0, q1 - q0);
            else
                for (int64_t q = q0; q < q1; q++) drow[q * sw] = srow[q];
        }
    }
}

static float *zeroed_floats(int64_t count)
{
    return (float *)calloc((size_t)(count > 0 ? count : 1), sizeof(float));
}


/* ------------------------------------------------------------------------------------------
 * Method DIRECT, forward core: unpadded, strided correlation, register-blocked
 * ------------------------------------------------------------------------------------------ */

/* One chunk: y[o][r][ow0 + v] for o < ocb, r < R rows, v < vw (VW or VH), the whole
 * c_in x kh x kw reduction in registers (ocb * R * vw / L <= 12 vector accumulators).
 * xr0 points at x[ic=0][oh*sh][ow0*sw], xrs is the x offset between two output rows (sh*W);
 * w at wt[oc0][0][0][0]; y0 at y[oc0][oh][ow0], yrs the y row stride (OW). */
CONV_INLINE void fwd_chunk(const int ocb, const int R, const int vw, const int64_t sw,
                           const float *restrict xr0, const int64_t xrs, const int64_t xplane,
                           const int64_t W, const float *restrict w, const int64_t wstr,
                           const int64_t cin, const int64_t KH, const int64_t KW,
                           const float *restrict b, float *restrict y0, const int64_t yrs,
                           const int64_t yplane)
{
#if CONV_VEC
    const int nv = vw / L;
    const vf zero = {0};
    vf acc[OCB][RMAX][FWD_NV];
    UNROLL
    for (int o = 0; o < ocb; o++)
        UNROLL
        for (int r = 0; r < R; r++)
            UNROLL
            for (int j = 0; j < nv; j++) acc[o][r][j] = zero;
    for (int64_t ic = 0; ic < cin; ic++) {
        for (int64_t kh = 0; kh < KH; kh++) {
            const float *restrict xr = xr0 + ic * xplane + kh * W;
            const float *restrict wr = w + (ic * KH + kh) * KW;
            for (int64_t kw = 0; kw < KW; kw++) {
                vf wv[OCB];
                UNROLL
                for (int o = 0; o < ocb; o++) wv[o] = VBC(wr[o * wstr + kw]);
                UNROLL
                for (int r = 0; r < R; r++) {
                    vf xv[FWD_NV];
                    UNROLL
                    for (int j = 0; j < nv; j++) {
                        if (sw == 1) {
                            xv[j] = VLD(xr + r * xrs + kw + j * L);
                        } else {
                            float t[L];
                            UNROLL
                            for (int v = 0; v < L; v++) t[v] = xr[r * xrs + kw + (j * L + v) * sw];
                            xv[j] = VLD(t);
                        }
                        if (ocb > 1) INREG(xv[j]);
                    }
                    UNROLL
                    for (int o = 0; o < ocb; o++)
                        UNROLL
                        for (int j = 0; j < nv; j++) acc[o][r][j] += wv[o] * xv[j];
                }
            }
        }
    }
    UNROLL
    for (int o = 0; o < ocb; o++) {
        const vf bo = VBC((b ? b[o] : 0.0f));
        UNROLL
        for (int r = 0; r < R; r++)
            UNROLL
            for (int j = 0; j < nv; j++) VST(y0 + o * yplane + r * yrs + j * L, acc[o][r][j] + bo);
    }
#else
    float acc[OCB][RMAX][FWD_NV * L];
    UNROLL
    for (int o = 0; o < ocb; o++)
        UNROLL
        for (int r = 0; r < R; r++)
            for (int v = 0; v < vw; v++) acc[o][r][v] = 0.0f;
    for (int64_t ic = 0; ic < cin; ic++) {
        for (int64_t kh = 0; kh < KH; kh++) {
            const float *restrict xr = xr0 + ic * xplane + kh * W;
            const float *restrict wr = w + (ic * KH + kh) * KW;
            for (int64_t kw = 0; kw < KW; kw++) {
                UNROLL
                for (int r = 0; r < R; r++) {
                    float xv[FWD_NV * L];
                    for (int v = 0; v < vw; v++) xv[v] = xr[r * xrs + kw + v * sw];
                    UNROLL
                    for (int o = 0; o < ocb; o++) {
                        const float wv = wr[o * wstr + kw];
                        for (int v = 0; v < vw; v++) acc[o][r][v] += wv * xv[v];
                    }
                }
            }
        }
    }
    UNROLL
    for (int o = 0; o < ocb; o++) {
        const float bo = b ? b[o] : 0.0f;
        UNROLL
        for (int r = 0; r < R; r++) {
            float *restrict yo = y0 + o * yplane + r * yrs;
            for (int v = 0; v < vw; v++) yo[v] = acc[o][r][v] + bo;
        }
    }
#endif
}

/* One output pixel for ocb channels, scalar: rows narrower than VH. */
CONV_INLINE void fwd_pixel(const int ocb, const float *restrict xr0, const int64_t xplane,
                           const int64_t W, const float *restrict w, const int64_t wstr,
                           const int64_t cin, const int64_t KH, const int64_t KW,
                           const float *restrict b, float *restrict y0, const int64_t yplane)
{
    UNROLL
    for (int o = 0; o < ocb; o++) {
        float acc = 0.0f;
        const float *restrict wo = w + o * wstr;
        for (int64_t ic = 0; ic < cin; ic++)
            for (int64_t kh = 0; kh < KH; kh++) {
                const float *restrict xr = xr0 + ic * xplane + kh * W;
                const float *restrict wr = wo + (ic * KH + kh) * KW;
                for (int64_t kw = 0; kw < KW; kw++) acc += wr[kw] * xr[kw];
            }
        y0[o * yplane] = acc + (b ? b[o] : 0.0f);
    }
}

/* R output rows for a block of ocb output channels. A row whose width is not a multiple of
 * the chunk ends with a chunk that overlaps the previous one (recomputing identical values). */
CONV_INLINE void fwd_rows(const int ocb, const int R, const int nvc, const int64_t sw,
                          const float *restrict xrow, const int64_t xrs, const int64_t xplane,
                          const int64_t W, const float *restrict w, const int64_t wstr,
                          const int64_t cin, const int64_t KH, const int64_t KW,
                          const float *restrict b, float *restrict yrow, const int64_t ys,
                          const int64_t yplane, const int64_t OW)
{
    const int64_t cw = nvc * L; /* columns per chunk */
    if (OW >= cw) {
        for (int64_t ow = 0; ow < OW; ow += cw) {
            const int64_t o0 = ow + cw <= OW ? ow : OW - cw;
            fwd_chunk(ocb, R, nvc * L, sw, xrow + o0 * sw, xrs, xplane, W, w, wstr, cin, KH, KW,
                      b, yrow + o0, ys, yplane);
        }
    } else if (OW >= VH) {
        for (int64_t ow = 0; ow < OW; ow += VH) {
            const int64_t o0 = ow + VH <= OW ? ow : OW - VH;
            fwd_chunk(ocb, R, VH, sw, xrow + o0 * sw, xrs, xplane, W, w, wstr, cin, KH, KW, b,
                      yrow + o0, ys, yplane);
        }
    } else {
        for (int r = 0; r < R; r++)
            for (int64_t ow = 0; ow < OW; ow++)
                fwd_pixel(ocb, xrow + r * xrs + ow * sw, xplane, W, w, wstr, cin, KH, KW, b,
                          yrow + r * ys + ow, yplane);
    }
}

/* The register block for a block of ocb output channels: R rows x NVC vectors of columns,
 * at most 12 accumulators plus the ocb weight broadcasts and one x vector in 16 registers
 * (so each x vector is loaded once and used ocb times). */
static const int block_rows[OCB + 1] = {1, ROWS1, ROWS2, ROWS3, 1};

/* Specialise on the block size, the row count and unit stride so all are constants inside. */
static void fwd_rows_dispatch(int ocb, int R, int64_t sw, const float *restrict xrow,
                              int64_t xrs, int64_t xplane, int64_t W, const float *restrict w,
                              int64_t wstr, int64_t cin, int64_t KH, int64_t KW,
                              const float *restrict b, float *restrict yrow, int64_t ys,
                              int64_t yplane, int64_t OW)
{
#define CONV_FWD_CASE(N, RR, NVC)                                                              \
    if (ocb == N && R == RR) {                                                                 \
        if (sw == 1 && KW == 3 && KH == 3 && cin == 3) /* RGB-like input, fully unrolled */     \
            fwd_rows(N, RR, NVC, 1, xrow, xrs, xplane, W, w, wstr, 3, 3, 3,                    \
                     b, yrow, ys, yplane, OW);                                                 \
        else if (sw == 1 && KW == 3) /* the common 3-wide kernel, its rows unrolled */          \
            fwd_rows(N, RR, NVC, 1, xrow, xrs, xplane, W, w, wstr, cin, KH, 3,                 \
                     b, yrow, ys, yplane, OW);                                                 \
        else if (sw == 1)                                                                      \
            fwd_rows(N, RR, NVC, 1, xrow, xrs, xplane, W, w, wstr, cin, KH, KW,                \
                     b, yrow, ys, yplane, OW);                                                 \
        else                                                                                   \
            fwd_rows(N, RR, NVC, sw, xrow, xrs, xplane, W, w, wstr, cin, KH, KW,               \
                     b, yrow, ys, yplane, OW);                                                 \
        return;                                                                                \
    }
#if NV > 1
    CONV_FWD_CASE(1, ROWS1, NVC1)
    CONV_FWD_CASE(2, ROWS2, NVC2)
    CONV_FWD_CASE(3, ROWS3, NVC3)
    CONV_FWD_CASE(4, 1, 2)
    CONV_FWD_CASE(1, 1, NVC1)
    CONV_FWD_CASE(2, 1, NVC2)
    CONV_FWD_CASE(3, 1, NVC3)
#else
    CONV_FWD_CASE(1, ROWS1, 1)
    CONV_FWD_CASE(2, ROWS2, 1)
    CONV_FWD_CASE(3, ROWS3, 1)
    CONV_FWD_CASE(4, 1, 1)
    CONV_FWD_CASE(1, 1, 1)
    CONV_FWD_CASE(2, 1, 1)
    CONV_FWD_CASE(3, 1, 1)
#endif
#undef CONV_FWD_CASE
}

#if CONV_VEC
/* Method DIRECT, one input channel, 3 x 3, stride 1 (the sliding-row kernel): every input row
 * is loaded once (three shifted vectors per vector of columns) and meets the three output
 * rows it belongs to, with the nine weights in registers; a(j) holds output row i-2, bm(j)
 * row i-1 and c(j) row i while input row i is read. Each output still sums kh, kw in order
 * from zero and adds the bias last, exactly as fwd_chunk does, so the results are the same
 * bits whichever of the two computes them. */
CONV_INLINE void c1_step(const int ns, const int doA, const int doB, const int doC,
                         const float *restrict xr, const int64_t last, const vf *restrict wv,
                         vf *restrict a, vf *restrict bm, vf *restrict c)
{
    const vf zero = {0};
    vf na[4], nb[4], nc[4];
    UNROLL
    for (int j = 0; j < ns; j++) {
        na[j] = doA ? bm[j] : zero; /* (only the sums begun in earlier steps are read) */
        nb[j] = doB ? c[j] : zero;
        nc[j] = zero;
    }
    UNROLL
    for (int kw = 0; kw < 3; kw++) {
        const vf w0 = wv[kw], w1 = wv[3 + kw], w2 = wv[6 + kw];
        UNROLL
        for (int j = 0; j < ns; j++) {
            vf s = VLD(xr + (j == ns - 1 ? last : j * L) + kw);
            INREG(s);
            if (doA) na[j] += w2 * s;
            if (doB) nb[j] += w1 * s;
            if (doC) nc[j] += w0 * s;
        }
    }
    UNROLL
    for (int j = 0; j < ns; j++) {
        a[j] = na[j];
        bm[j] = nb[j];
        c[j] = nc[j];
    }
}

CONV_INLINE void c1_store(const int ns, const vf *restrict a, const int64_t last,
                          const vf *restrict bias, float *restrict yr)
{
    UNROLL
    for (int j = 0; j < ns; j++) VST(yr + (j == ns - 1 ? last : j * L), a[j] + *bias);
}

/* Output rows [oh0, oh1) (oh1 > oh0) of one output plane, ns vectors of columns: vector j at
 * column j*L, the last at `last` (which may overlap the one before it). */
CONV_INLINE void c1_strip(const int ns, const float *restrict x, const int64_t W,
                          const int64_t last, const vf *restrict wv, const float b,
                          float *restrict y, const int64_t ys, const int64_t oh0,
                          const int64_t oh1)
{
    const vf bias = VBC(b);
    vf a[4], bm[4], c[4];
    const int64_t n = oh1 - oh0;
    c1_step(ns, 0, 0, 1, x + oh0 * W, last, wv, a, bm, c);
    if (n == 1) {
        c1_step(ns, 0, 1, 0, x + (oh0 + 1) * W, last, wv, a, bm, c);
        c1_step(ns, 1, 0, 0, x + (oh0 + 2) * W, last, wv, a, bm, c);
        c1_store(ns, a, last, &bias, y + oh0 * ys);
        return;
    }
    c1_step(ns, 0, 1, 1, x + (oh0 + 1) * W, last, wv, a, bm, c);
    for (int64_t i = oh0 + 2; i < oh1; i++) {
        c1_step(ns, 1, 1, 1, x + i * W, last, wv, a, bm, c);
        c1_store(ns, a, last, &bias, y + (i - 2) * ys);
    }
    c1_step(ns, 1, 1, 0, x + oh1 * W, last, wv, a, bm, c);
    c1_store(ns, a, last, &bias, y + (oh1 - 2) * ys);
    c1_step(ns, 1, 0, 0, x + (oh1 + 1) * W, last, wv, a, bm, c);
    c1_store(ns, a, last, &bias, y + (oh1 - 1) * ys);
}

/* Rows [oh0, oh1) of one output plane from one input plane (OW >= L): strips of four vectors
 * (the last strip overlapping the one before when OW is not a multiple of 4L); narrower rows
 * are one strip of ceil(OW / L) vectors, the last of them overlapping. Four vectors by three
 * rows are twelve independent sums, enough to keep both FMA units busy. */
static void fwd33_c1(const float *restrict x, int64_t W, const float *restrict w9, float b,
                     float *restrict y, int64_t ys, int64_t OW, int64_t oh0, int64_t oh1)
{
    if (oh1 <= oh0) return;
    vf wv[9];
    for (int k = 0; k < 9; k++) wv[k] = VBC(w9[k]);
    if (OW >= 4 * L) {
        for (int64_t c0 = 0; c0 < OW; c0 += 4 * L) {
            const int64_t o0 = c0 + 4 * L <= OW ? c0 : OW - 4 * L;
            c1_strip(4, x + o0, W, 3 * L, wv, b, y + o0, ys, oh0, oh1);
        }
        return;
    }
    const int64_t last = OW - L;
    switch ((OW + L - 1) / L) {
    case 1: c1_strip(1, x, W, last, wv, b, y, ys, oh0, oh1); break;
    case 2: c1_strip(2, x, W, last, wv, b, y, ys, oh0, oh1); break;
    case 3: c1_strip(3, x, W, last, wv, b, y, ys, oh0, oh1); break;
    default: c1_strip(4, x, W, last, wv, b, y, ys, oh0, oh1); break;
    }
}
#endif

/* Output rows [oh0, oh1) of one image: y (cout x OH x OW) = x (cin x H x W) correlated with
 * w, no padding, (+ b). Every tap of every output lies inside x. */
static void fwd_core_rows(int64_t cin, int64_t H, int64_t W, int64_t cout, int64_t KH,
                          int64_t KW, int64_t sh, int64_t sw, int64_t OH, int64_t OW,
                          int64_t oh0, int64_t oh1, const float *restrict x,
                          const float *restrict w, const float *restrict b, float *restrict y,
                          int64_t ys, int64_t yplane)
{
    const int64_t xplane = H * W, wstr = cin * KH * KW;
    const int64_t xrs = OH > 1 ? sh * W : 0; /* (sh * W may overflow when there is one row) */
#if CONV_VEC
    if (cin == 1 && KH == 3 && KW == 3 && sh == 1 && sw == 1 && OW >= L) {
        for (int64_t oc = 0; oc < cout; oc++)
            fwd33_c1(x, W, w + oc * 9, b ? b[oc] : 0.0f, y + oc * yplane, ys, OW, oh0, oh1);
        return;
    }
#endif
    for (int64_t oc = 0; oc < cout; oc += OCB) {
        const int ocb = (int)(cout - oc < OCB ? cout - oc : OCB);
        const int R = block_rows[ocb];
        const float *restrict wo = w + oc * wstr;
        const float *restrict bo = b ? b + oc : NULL;
        float *restrict yo = y + oc * yplane;
        int64_t oh = oh0;
        for (; oh + R <= oh1 && R > 1; oh += R)
            fwd_rows_dispatch(ocb, R, sw, x + oh * xrs, xrs, xplane, W, wo, wstr, cin, KH, KW,
                              bo, yo + oh * ys, ys, yplane, OW);
        for (; oh < oh1; oh++) /* the last rows of the range, one at a time */
            fwd_rows_dispatch(ocb, 1, sw, x + oh * xrs, xrs, xplane, W, wo, wstr, cin, KH, KW,
                              bo, yo + oh * ys, ys, yplane, OW);
    }
}

/* ------------------------------------------------------------------------------------------
 * Method GEMM: im2col of a block of pixels, then a MR x NR register-blocked micro-kernel
 * ------------------------------------------------------------------------------------------
 * Forward and backward-input are Y (M x P) = A (M x Kd) . cols (Kd x P): for forward M is
 * c_out, Kd = c_in*kh*kw (A is the weight as it lies) and cols is the im2col of the input
 * image; for backward-input M is c_in, Kd = c_out*kh*kw, A[ic][(oc,kh,kw)] = wt[oc][ic][kh][kw]
 * and cols[(oc,kh,kw)][(ih,iw)] is the dy element that meets x[ih][iw] through tap (kh,kw),
 * or 0 (so stride and padding are handled by the im2col, never in the micro-kernel).
 * A is packed once per call into panels of MR rows (zero rows past M): panel[k][o]. cols is
 * built for PB pixels at a time (a block that stays in L2) with NR-padded rows; every output
 * is the sum over k = 0..Kd-1 in order, then + bias, wherever its block lies.
 * Backward-weight is dW^T (Kd x c_out) = cols (Kd x P) . dy^T (P x c_out): the same im2col of
 * x, dy transposed per block, and a micro-kernel over MR rows of Kd x NR output channels. */

/* Pixels per im2col block: the block (Kd x PB floats) about 192 KiB, a multiple of NR. */
static int64_t gemm_block(int64_t Kd)
{
    int64_t pb = (int64_t)49152 / (Kd > 0 ? Kd : 1);
    pb -= pb % NR;
    if (pb < NR) pb = NR;
    if (pb > PBMAX) pb = PBMAX;
    return pb;
}

/* panels of A (M x Kd, row stride lda; element (m, k) at a[m*lda + k], or for the transposed
 * backward-input weight at a[...] via the index function below) */
static void pack_a_fwd(int64_t M, int64_t Kd, const float *restrict a, float *restrict ap)
{
    const int64_t panels = (M + MR - 1) / MR;
    for (int64_t p = 0; p < panels; p++)
        for (int64_t k = 0; k < Kd; k++)
            UNROLL
            for (int o = 0; o < MR; o++) {
                const int64_t m = p * MR + o;
                ap[(p * Kd + k) * MR + o] = m < M ? a[m * Kd + k] : 0.0f;
            }
}

/* A[ic][(oc, t)] = wt[oc][ic][t] for backward-input (t = kh*KW + kw) */
static void pack_a_bwd(int64_t C, int64_t K, int64_t T, const float *restrict wt,
                       float *restrict ap)
{
    const int64_t panels = (C + MR - 1) / MR, Kd = K * T;
    for (int64_t p = 0; p < panels; p++)
        for (int64_t oc = 0; oc < K; oc++)
            for (int64_t t = 0; t < T; t++)
                UNROLL
                for (int o = 0; o < MR; o++) {
                    const int64_t ic = p * MR + o;
                    ap[(p * Kd + oc * T + t) * MR + o] = ic < C ? wt[(oc * C + ic) * T + t] : 0.0f;
                }
}

/* cols[k][0:np] for pixels p0.. of an OH x OW output: x (C x H x W, one image) through tap
 * k = (ic, kh, kw), with zero padding and stride; columns np..round_up(np, NR) are zeroed. */
static void im2col_fwd(int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t sh,
                       int64_t sw, int64_t ph, int64_t pw, int64_t OW, const float *restrict x,
                       int64_t p0, int64_t np, float *restrict cols, int64_t ldc)
{
    const int64_t npad = (np + NR - 1) / NR * NR;
    for (int64_t ic = 0; ic < C; ic++)
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) {
                float *restrict dst = cols + ((ic * KH + kh) * KW + kw) * ldc;
                int64_t p = p0, q = 0;
                while (q < np) {
                    const int64_t oh = p / OW, ow = p % OW;
                    const int64_t run = OW - ow < np - q ? OW - ow : np - q;
                    const int64_t ih = oh * sh - ph + kh;
                    float *restrict d = dst + q;
                    if (ih < 0 || ih >= H) {
                        for (int64_t j = 0; j < run; j++) d[j] = 0.0f;
                    } else {
                        const float *restrict row = x + (ic * H + ih) * W;
                        if (sw == 1) {
                            /* iw = ow + j - pw + kw must lie in [0, W) */
                            int64_t ja = pw - kw - ow, jb = W + pw - kw - ow;
                            if (ja < 0) ja = 0;
                            if (jb > run) jb = run;
                            if (jb < 0) jb = 0;
                            if (ja > jb) ja = jb;
                            for (int64_t j = 0; j < ja; j++) d[j] = 0.0f;
                            if (jb > ja) copy_row(d + ja, row + ow + ja - pw + kw, jb - ja);
                            for (int64_t j = jb > ja ? jb : ja; j < run; j++) d[j] = 0.0f;
                        } else {
                            for (int64_t j = 0; j < run; j++) {
                                const int64_t iw = (ow + j) * sw - pw + kw;
                                d[j] = iw >= 0 && iw < W ? row[iw] : 0.0f;
                            }
                        }
                    }
                    p += run;
                    q += run;
                }
                for (; q < npad; q++) dst[q] = 0.0f;
            }
}

/* cols[(oc, kh, kw)][0:np] for pixels p0.. of the H x W input gradient: the dy element
 * (K x OH x OW, one image) that x[ih][iw] meets through tap (kh, kw), or 0. */
static void im2col_bwd(int64_t K, int64_t OH, int64_t OW, int64_t KH, int64_t KW, int64_t sh,
                       int64_t sw, int64_t ph, int64_t pw, int64_t W, const float *restrict dy,
                       int64_t p0, int64_t np, float *restrict cols, int64_t ldc)
{
    const int64_t npad = (np + NR - 1) / NR * NR;
    for (int64_t oc = 0; oc < K; oc++)
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) {
                float *restrict dst = cols + ((oc * KH + kh) * KW + kw) * ldc;
                int64_t p = p0, q = 0;
                while (q < np) {
                    const int64_t ih = p / W, iw = p % W;
                    const int64_t run = W - iw < np - q ? W - iw : np - q;
                    const int64_t t = ih + ph - kh; /* = oh * sh */
                    float *restrict d = dst + q;
                    if (t < 0 || t % sh != 0 || t / sh >= OH) {
                        for (int64_t j = 0; j < run; j++) d[j] = 0.0f;
                    } else {
                        const float *restrict row = dy + (oc * OH + t / sh) * OW;
                        if (sw == 1) {
                            /* ow = iw + j + pw - kw must lie in [0, OW) */
                            int64_t ja = kw - pw - iw, jb = OW + kw - pw - iw;
                            if (ja < 0) ja = 0;
                            if (jb > run) jb = run;
                            if (jb < 0) jb = 0;
                            if (ja > jb) ja = jb;
                            for (int64_t j = 0; j < ja; j++) d[j] = 0.0f;
                            if (jb > ja) copy_row(d + ja, row + iw + ja + pw - kw, jb - ja);
                            for (int64_t j = jb > ja ? jb : ja; j < run; j++) d[j] = 0.0f;
                        } else {
                            for (int64_t j = 0; j < run; j++) {
                                const int64_t u = iw + j + pw - kw;
                                d[j] = u >= 0 && u % sw == 0 && u / sw < OW ? row[u / sw] : 0.0f;
                            }
                        }
                    }
                    p += run;
                    q += run;
                }
                for (; q < npad; q++) dst[q] = 0.0f;
            }
}

/* acc (MR x nv*L, row stride lda) = (first ? 0 : acc) + sum_{k < kn} ap[k][o] * B[k][0:nv*L]:
 * one k-block of a tile. Row k of B is bp + k*ldc (an im2col block), or, with `implicit`,
 * bp + off[k] (the image itself, see gemm_implicit_rows). The running sums go through acc as
 * float, which changes nothing: every output is still the FMA chain over k = 0..Kd-1 in order,
 * whichever way B is addressed. */
CONV_INLINE void gemm_tile_any(const int nv, const int implicit, const float *restrict ap,
                               const float *restrict bp, const int64_t ldc,
                               const int64_t *restrict off, const int64_t kn, const int first,
                               float *restrict acc_out, const int64_t lda)
{
#if CONV_VEC
    const vf zero = {0};
    vf acc[MR][NV];
    UNROLL
    for (int o = 0; o < MR; o++)
        UNROLL
        for (int j = 0; j < nv; j++) acc[o][j] = first ? zero : VLD(acc_out + o * lda + j * L);
    for (int64_t k = 0; k < kn; k++) {
        const float *restrict bk = implicit ? bp + off[k] : bp + k * ldc;
        vf bv[NV];
        UNROLL
        for (int j = 0; j < nv; j++) bv[j] = VLD(bk + j * L);
        UNROLL
        for (int o = 0; o < MR; o++) {
            const vf av = VBC(ap[k * MR + o]);
            UNROLL
            for (int j = 0; j < nv; j++) acc[o][j] += av * bv[j];
        }
    }
    UNROLL
    for (int o = 0; o < MR; o++)
        UNROLL
        for (int j = 0; j < nv; j++) VST(acc_out + o * lda + j * L, acc[o][j]);
#else
    float acc[MR][NR];
    const int w = nv * L;
    for (int o = 0; o < MR; o++)
        for (int v = 0; v < w; v++) acc[o][v] = first ? 0.0f : acc_out[o * lda + v];
    for (int64_t k = 0; k < kn; k++) {
        const float *restrict bk = implicit ? bp + off[k] : bp + k * ldc;
        for (int o = 0; o < MR; o++) {
            const float av = ap[k * MR + o];
            for (int v = 0; v < w; v++) acc[o][v] += av * bk[v];
        }
    }
    for (int o = 0; o < MR; o++)
        for (int v = 0; v < w; v++) acc_out[o * lda + v] = acc[o][v];
#endif
}

static void gemm_tile(const float *restrict ap, const float *restrict bp, int64_t ldc,
                      int64_t kn, int first, float *restrict acc_out, int64_t lda)
{
    gemm_tile_any(NV, 0, ap, bp, ldc, NULL, kn, first, acc_out, lda);
}

/* y (M x P, row stride P) columns [p0, p0 + np) = A . cols (+ bias), cols built for them;
 * acc is scratch of round_up(M, MR) x ldc floats. The reduction runs in blocks of KB so that
 * a 16-column slice of cols (KB x NR) stays in L1 while every panel of A passes over it. */
static void gemm_block_mul(int64_t M, int64_t Kd, const float *restrict ap,
                           const float *restrict cols, int64_t ldc, const float *restrict bias,
                           int64_t p0, int64_t np, float *restrict y, int64_t P,
                           float *restrict acc)
{
    const int64_t panels = (M + MR - 1) / MR, npad = (np + NR - 1) / NR * NR;
    for (int64_t k0 = 0; k0 < Kd; k0 += KB) {
        const int64_t kn = Kd - k0 < KB ? Kd - k0 : KB;
        for (int64_t c = 0; c < npad; c += NR)
            for (int64_t pa = 0; pa < panels; pa++)
                gemm_tile(ap + (pa * Kd + k0) * MR, cols + k0 * ldc + c, ldc, kn, k0 == 0,
                          acc + pa * MR * ldc + c, ldc);
    }
    for (int64_t m = 0; m < M; m++) {
        const float bo = bias ? bias[m] : 0.0f;
        const float *restrict a = acc + m * ldc;
        float *restrict ym = y + m * P + p0;
        for (int64_t v = 0; v < np; v++) ym[v] = a[v] + bo;
    }
}

/* Method GEMM at stride 1 without im2col (an "implicit GEMM"): row k = (ic, kh, kw) of the
 * B block for the nv*L output pixels at (oh, ow0) lies in the (padded) image itself, at
 * base + off[k] with base = xp + oh*wp + ow0 and off[k] = (ic*hp + kh)*wp + kw; the tile is
 * gemm_tile_any's, so the bits equal the im2col path's. */
/* Output rows [oh0, oh1) of one image (M x OH x OW, plane P; OW >= L) from the image xp
 * (rows of wp floats, padding already in it): column blocks of NR pixels, then of L, the last
 * block overlapping the one before when the row ends inside it (identical values). acc is
 * round_up(M, MR) x NR floats of scratch. */
static void gemm_implicit_rows(int64_t M, int64_t Kd, const float *restrict ap,
                               const float *restrict xp, int64_t wp,
                               const int64_t *restrict off, const float *restrict bias,
                               int64_t OW, int64_t P, int64_t oh0, int64_t oh1,
                               float *restrict y, float *restrict acc)
{
    const int64_t panels = (M + MR - 1) / MR;
    for (int64_t oh = oh0; oh < oh1; oh++) {
        for (int64_t ow0 = 0; ow0 < OW;) {
            const int wide = OW - ow0 >= NR;
            const int64_t c0 = wide || OW - ow0 >= L ? ow0 : OW - L;
            const float *restrict base = xp + oh * wp + c0;
            for (int64_t k0 = 0; k0 < Kd; k0 += KB) {
                const int64_t kn = Kd - k0 < KB ? Kd - k0 : KB;
                for (int64_t pa = 0; pa < panels; pa++) {
                    const float *restrict apk = ap + (pa * Kd + k0) * MR;
                    float *restrict accp = acc + pa * MR * NR;
                    if (wide)
                        gemm_tile_any(NV, 1, apk, base, 0, off + k0, kn, k0 == 0, accp, NR);
                    else
                        gemm_tile_any(1, 1, apk, base, 0, off + k0, kn, k0 == 0, accp, NR);
                }
            }
            const int64_t w = wide ? NR : L;
            for (int64_t m = 0; m < M; m++) {
                const float bo = bias ? bias[m] : 0.0f;
                const float *restrict a = acc + m * NR;
                float *restrict ym = y + m * P + oh * OW + c0;
                for (int64_t v = 0; v < w; v++) ym[v] = a[v] + bo;
            }
            ow0 = c0 + w;
        }
    }
}

/* dwt[k][0:NR] += sum_{p < np} cols[k][p] * dyt[p][0:NR] for k < MR rows (dyt row stride
 * ldt, cols row stride ldc); dwt row stride ldt. */
static void gemm_wtile(const float *restrict cols, int64_t ldc, const float *restrict dyt,
                       int64_t ldt, int64_t np, float *restrict dwt)
{
#if CONV_VEC
    const vf zero = {0};
    vf acc[MR][NV];
    UNROLL
    for (int o = 0; o < MR; o++)
        UNROLL
        for (int j = 0; j < NV; j++) acc[o][j] = zero;
    for (int64_t p = 0; p < np; p++) {
        vf dv[NV];
        UNROLL
        for (int j = 0; j < NV; j++) dv[j] = VLD(dyt + p * ldt + j * L);
        UNROLL
        for (int o = 0; o < MR; o++) {
            const vf cv = VBC(cols[o * ldc + p]);
            UNROLL
            for (int j = 0; j < NV; j++) acc[o][j] += cv * dv[j];
        }
    }
    UNROLL
    for (int o = 0; o < MR; o++)
        UNROLL
        for (int j = 0; j < NV; j++)
            VST(dwt + o * ldt + j * L, VLD(dwt + o * ldt + j * L) + acc[o][j]);
#else
    float acc[MR][NR];
    UNROLL
    for (int o = 0; o < MR; o++)
        for (int v = 0; v < NR; v++) acc[o][v] = 0.0f;
    for (int64_t p = 0; p < np; p++)
        UNROLL
        for (int o = 0; o < MR; o++) {
            const float cv = cols[o * ldc + p];
            for (int v = 0; v < NR; v++) acc[o][v] += cv * dyt[p * ldt + v];
        }
    UNROLL
    for (int o = 0; o < MR; o++)
        for (int v = 0; v < NR; v++) dwt[o * ldt + v] += acc[o][v];
#endif
}

/* lane[t][v] += sum over rows oh in [oh0, oh1) and columns of dy[oh][ow] * x[oh*sh][ow*sw + t]
 * for t < tb, in VW lanes (column ow goes to some lane; the caller sums the lanes). dyp is
 * the dy plane, xr0 points at x[kh][kw0] of an unpadded x plane of width W. */
CONV_INLINE void bww_rows(const int tb, const int64_t sw, const float *restrict dyp,
                          const float *restrict xr0, const int64_t oh0, const int64_t oh1,
                          const int64_t sh, const int64_t W, const int64_t OW,
                          float *restrict lane)
{
    const int64_t full = OW >= VW ? OW - OW % VW : 0;
    const int rem = (int)(OW % VW);
#if CONV_VEC
    const vf zero = {0};
    vf acc[TB][NV];
    UNROLL
    for (int t = 0; t < tb; t++)
        UNROLL
        for (int j = 0; j < NV; j++) acc[t][j] = zero;
    /* lanes v >= VW - rem of the overlapping last chunk are new: all ones there */
    vi mask[NV];
    {
        const vi lane0 = {0, 1, 2, 3, 4, 5, 6, 7};
        UNROLL
        for (int j = 0; j < NV; j++) mask[j] = (lane0 + j * L) >= (VW - rem);
    }
    for (int64_t oh = oh0; oh < oh1; oh++) {
        const float *restrict dyr = dyp + oh * OW;
        const float *restrict xr = xr0 + oh * sh * W;
        for (int64_t c = 0; c < full; c += VW) {
            UNROLL
            for (int j = 0; j < NV; j++) {
                const vf dv = VLD(dyr + c + j * L);
                UNROLL
                for (int t = 0; t < tb; t++) {
                    vf xv;
                    if (sw == 1) {
                        xv = VLD(xr + c + j * L + t);
                    } else {
                        float tmp[L];
                        UNROLL
                        for (int v = 0; v < L; v++) tmp[v] = xr[(c + j * L + v) * sw + t];
                        xv = VLD(tmp);
                    }
                    acc[t][j] += dv * xv;
                }
            }
        }
        if (full > 0 && rem > 0) {
            /* the last VW columns, of which the first VW - rem were counted above: the products
             * of those are masked off bitwise (not multiplied by 0: 0 * inf is NaN) */
            const int64_t c = OW - VW;
            UNROLL
            for (int j = 0; j < NV; j++) {
                const vf dv = VLD(dyr + c + j * L);
                UNROLL
                for (int t = 0; t < tb; t++) {
                    vf xv;
                    if (sw == 1) {
                        xv = VLD(xr + c + j * L + t);
                    } else {
                        float tmp[L];
                        UNROLL
                        for (int v = 0; v < L; v++) tmp[v] = xr[(c + j * L + v) * sw + t];
                        xv = VLD(tmp);
                    }
                    const vf p = dv * xv;
                    acc[t][j] += (vf)((vi)p & mask[j]);
                }
            }
        } else if (full == 0) {
            float a[TB][VW] = {{0.0f}};
            for (int64_t ow = 0; ow < OW; ow++)
                UNROLL
                for (int t = 0; t < tb; t++) a[t][ow] += dyr[ow] * xr[ow * sw + t];
            UNROLL
            for (int t = 0; t < tb; t++)
                UNROLL
                for (int j = 0; j < NV; j++) acc[t][j] += VLD(&a[t][j * L]);
        }
    }
    UNROLL
    for (int t = 0; t < tb; t++)
        UNROLL
        for (int j = 0; j < NV; j++) VST(lane + t * VW + j * L, VLD(lane + t * VW + j * L) + acc[t][j]);
#else
    float acc[TB][VW];
    UNROLL
    for (int t = 0; t < tb; t++)
        for (int v = 0; v < VW; v++) acc[t][v] = 0.0f;
    for (int64_t oh = oh0; oh < oh1; oh++) {
        const float *restrict dyr = dyp + oh * OW;
        const float *restrict xr = xr0 + oh * sh * W;
        for (int64_t c = 0; c < full; c += VW)
            UNROLL
            for (int t = 0; t < tb; t++)
                for (int v = 0; v < VW; v++) acc[t][v] += dyr[c + v] * xr[(c + v) * sw + t];
        if (full > 0 && rem > 0) {
            const int64_t c = OW - VW;
            const int skip = VW - rem;
            UNROLL
            for (int t = 0; t < tb; t++)
                for (int v = 0; v < VW; v++) {
                    const float p = dyr[c + v] * xr[(c + v) * sw + t];
                    acc[t][v] += v >= skip ? p : 0.0f;
                }
        } else if (full == 0) {
            for (int64_t ow = 0; ow < OW; ow++)
                UNROLL
                for (int t = 0; t < tb; t++) acc[t][ow] += dyr[ow] * xr[ow * sw + t];
        }
    }
    UNROLL
    for (int t = 0; t < tb; t++)
        for (int v = 0; v < VW; v++) lane[t * VW + v] += acc[t][v];
#endif
}

static void bww_dispatch(int tb, int64_t sw, const float *restrict dyp,
                         const float *restrict xr0, int64_t oh0, int64_t oh1, int64_t sh,
                         int64_t W, int64_t OW, float *restrict lane)
{
#define CONV_BWW_CASE(N)                                                                       \
    case N:                                                                                    \
        if (sw == 1)                                                                           \
            bww_rows(N, 1, dyp, xr0, oh0, oh1, sh, W, OW, lane);                               \
        else                                                                                   \
            bww_rows(N, sw, dyp, xr0, oh0, oh1, sh, W, OW, lane);                              \
        break;
    switch (tb) {
        CONV_BWW_CASE(1)
        CONV_BWW_CASE(2)
        CONV_BWW_CASE(3)
        CONV_BWW_CASE(4)
    default: break;
    }
#undef CONV_BWW_CASE
}

/* ------------------------------------------------------------------------------------------
 * Threads and the dispatcher
 * ------------------------------------------------------------------------------------------ */

#ifdef _OPENMP
#define THREAD_ID() omp_get_thread_num()
#define THREAD_COUNT() omp_get_num_threads()
#else
#define THREAD_ID() 0
#define THREAD_COUNT() 1
#endif

int conv_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* The start of part `idx` of `total` items split into `parts` near-equal contiguous parts
 * (no overflow for any int64 total). */
static int64_t split_at(int64_t total, int64_t parts, int64_t idx)
{
    if (parts == 1) return idx == 0 ? 0 : total; /* the common case, without a division */
    const int64_t q = total / parts, r = total % parts;
    return idx * q + (idx < r ? idx : r);
}

/* Parts per image: 1 when there are at least as many images as threads, else enough for
 * every thread to get a part (rows or pixel blocks of an image; empty parts are harmless). */
static int64_t parts_per_image(int64_t n, int threads)
{
    return n >= threads ? 1 : (threads + n - 1) / n;
}

/* No more threads than the work pays for: waking a thread costs microseconds (milliseconds
 * on a busy machine), so each gets at least MIN_THREAD_FLOPS. Depends only on the shape and
 * the thread count asked for. */
static int useful_threads(int threads, double flops)
{
    double least = MIN_THREAD_FLOPS;
    const char *env = getenv("CONVBENCH_THREAD_MIN_FLOPS");
    if (env != NULL && *env != '\0') {
        char *end;
        const double v = strtod(env, &end);
        if (*end == '\0' && v >= 0.0) least = v;
    }
    if (least <= 0.0) return threads;
    const double most = flops / least;
    return most < (double)threads ? (most < 1.0 ? 1 : (int)most) : threads;
}

static int choose_method(const conv_shape *s, int part)
{
    int64_t m, kd;
    switch (part) {
    case CONV_PART_FORWARD: m = s->c_out; kd = s->c_in * s->kh * s->kw; break;
    case CONV_PART_BACKWARD_INPUT: m = s->c_in; kd = s->c_out * s->kh * s->kw; break;
    default: m = s->c_out; kd = s->c_in * s->kh * s->kw; break;
    }
    /* GEMM wants enough rows for its MR x NR tiles and a reduction long enough to pay for
     * the im2col copy; below that the direct kernel (OCB channels a block) is faster. */
    return m >= GEMM_MIN_M && kd >= GEMM_MIN_KD ? CONV_METHOD_GEMM : CONV_METHOD_DIRECT;
}

int conv_method(const conv_shape *s, int part)
{
    const int rc = check_shape(s, NULL, NULL);
    if (rc != CONV_OK) return -rc;
    if (part < CONV_PART_FORWARD || part > CONV_PART_BACKWARD_WEIGHT) return -CONV_EMETHOD;
    return choose_method(s, part);
}

static int check_call(int threads, int method)
{
    if (threads < 1) return CONV_ETHREADS;
    if (method != CONV_METHOD_AUTO && method != CONV_METHOD_DIRECT && method != CONV_METHOD_GEMM)
        return CONV_EMETHOD;
    return CONV_OK;
}

/* ------------------------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------------------------ */

int conv_forward_ex(const conv_shape *s, const float *x, const float *wt, const float *b, float *y,
                    int threads, int method)
{
    if (s == NULL || x == NULL || wt == NULL || y == NULL) return CONV_ENULL;
    int64_t OH, OW;
    int rc = check_shape(s, &OH, &OW);
    if (rc != CONV_OK) return rc;
    rc = check_call(threads, method);
    if (rc != CONV_OK) return rc;
    const int m = method == CONV_METHOD_AUTO ? choose_method(s, CONV_PART_FORWARD) : method;
    const int64_t N = s->n, C = s->c_in, H = s->h, W = s->w, K = s->c_out, KH = s->kh,
                  KW = s->kw, sh = s->stride_h, sw = s->stride_w, ph = s->pad_h, pw = s->pad_w;
    const int64_t P = OH * OW, hp = H + 2 * ph, wp = W + 2 * pw, Kd = C * KH * KW;
    const int padded = ph != 0 || pw != 0;
    threads = useful_threads(threads, 2.0 * (double)(N * K * P) * (double)Kd);
    const int64_t R = parts_per_image(N, threads), items = N * R;
#ifdef _OPENMP
    const int T = items < threads ? (int)items : threads;
#else
    const int T = 1;
    (void)T;
#endif
    float *ap = NULL;
    int64_t *off = NULL;
    /* GEMM at stride 1 reads the image in place (gemm_implicit_rows) instead of im2col */
    const int implicit = m == CONV_METHOD_GEMM && sh == 1 && sw == 1 && OW >= L;
    const int64_t ldc = m == CONV_METHOD_GEMM && !implicit ? gemm_block(Kd) : 0;
    if (m == CONV_METHOD_GEMM) {
        ap = alloc_floats((K + MR - 1) / MR * MR * Kd);
        if (ap == NULL) return CONV_ENOMEM;
        pack_a_fwd(K, Kd, wt, ap);
    }
    if (implicit) {
        off = (int64_t *)malloc((size_t)Kd * sizeof(int64_t));
        if (off == NULL) {
            free(ap);
            return CONV_ENOMEM;
        }
        for (int64_t ic = 0; ic < C; ic++)
            for (int64_t kh = 0; kh < KH; kh++)
                for (int64_t kw = 0; kw < KW; kw++)
                    off[(ic * KH + kh) * KW + kw] = (ic * hp + kh) * wp + kw;
    }
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(T) if (T > 1) reduction(| : failed)
#endif
    {
        const int t = THREAD_ID(), nt = THREAD_COUNT();
        float *scratch = NULL, *sums = NULL;
        if (implicit) {
            sums = alloc_floats((K + MR - 1) / MR * MR * NR);
            if (padded) scratch = zeroed_floats(C * hp * wp);
        } else if (m == CONV_METHOD_GEMM) {
            scratch = alloc_floats((Kd + (K + MR - 1) / MR * MR) * ldc); /* cols, sums */
        } else if (padded) {
            scratch = zeroed_floats(C * hp * wp);
        }
        if ((((m == CONV_METHOD_GEMM && !implicit) || padded) && scratch == NULL) ||
            (implicit && sums == NULL)) {
            failed = 1;
        } else {
            int64_t last = -1;
            const int64_t it1 = split_at(items, nt, t + 1);
            for (int64_t it = split_at(items, nt, t); it < it1; it++) {
                const int64_t i = R == 1 ? it : it / R, r = R == 1 ? 0 : it % R;
                const float *xi = x + i * C * H * W;
                float *yi = y + i * K * P;
                if (implicit) {
                    if (padded) {
                        if (last != i) place(C, H, W, xi, ph, pw, 1, 1, hp, wp, scratch);
                        last = i;
                        xi = scratch;
                    }
                    gemm_implicit_rows(K, Kd, ap, xi, wp, off, b, OW, P, split_at(OH, R, r),
                                       split_at(OH, R, r + 1), yi, sums);
                } else if (m == CONV_METHOD_GEMM) {
                    const int64_t e = split_at(P, R, r + 1);
                    for (int64_t p = split_at(P, R, r); p < e; p += ldc) {
                        const int64_t np = e - p < ldc ? e - p : ldc;
                        im2col_fwd(C, H, W, KH, KW, sh, sw, ph, pw, OW, xi, p, np, scratch, ldc);
                        gemm_block_mul(K, Kd, ap, scratch, ldc, b, p, np, yi, P,
                                       scratch + Kd * ldc);
                    }
                } else {
                    if (padded) {
                        if (last != i) place(C, H, W, xi, ph, pw, 1, 1, hp, wp, scratch);
                        last = i;
                        xi = scratch;
                    }
                    fwd_core_rows(C, hp, wp, K, KH, KW, sh, sw, OH, OW, split_at(OH, R, r),
                                  split_at(OH, R, r + 1), xi, wt, b, yi, OW, P);
                }
            }
        }
        free(scratch);
        free(sums);
    }
    free(ap);
    free(off);
    return failed ? CONV_ENOMEM : CONV_OK;
}

int conv_forward(const conv_shape *s, const float *x, const float *wt, const float *b, float *y)
{
    return conv_forward_ex(s, x, wt, b, y, 1, CONV_METHOD_AUTO);
}

/* Backward-input, direct method, stride 1, pad <= k - 1, without a padded copy of the whole
 * dy: rows [h0, h1) of dx for one image. dx[ic][ih][iw] = sum over oc, a, b of
 * dy[oc][ih - top + a][iw - left + b] * wa[ic][oc][a][b] (wa: the kernel flipped, its channel
 * axes swapped; top = kh - 1 - pad_h, left = kw - 1 - pad_w), taps outside dy being zero.
 * The interior, where every tap lies inside dy, is fwd_core_rows() on dy itself, written into
 * dx in place; each part of the frame around it (kh - 1 - pad rows and kw - 1 - pad columns on
 * each side) is fwd_core_rows() on a small zero-padded copy of the dy it needs (dx_region), so
 * every pixel is the same sum, in the same order, as with the padded copy of the whole dy.
 * buf: DX_FRAME_BUF(K, KH, KW, W) floats of scratch. */
#define DX_FRAME_BUF(K, KH, KW, W) (2 * (K) * (KH) * ((W) + 2 * (KW)))

/* dx rows [ra, rb), columns [ca, cb) through a zero-padded copy of the dy they need (in the
 * coordinates of the whole padded dy: rows [ra, rb + KH - 1), columns [ca, cb + KW - 1)),
 * as many rows at a time as fit in buf (nbuf floats). */
static void dx_region(int64_t C, int64_t K, int64_t H, int64_t W, int64_t OH, int64_t OW,
                      int64_t KH, int64_t KW, int64_t top, int64_t left,
                      const float *restrict dy, const float *restrict wa, float *restrict dx,
                      int64_t ra, int64_t rb, int64_t ca, int64_t cb, float *restrict buf,
                      int64_t nbuf)
{
    if (rb <= ra || cb <= ca) return;
    const int64_t bw = cb - ca + KW - 1;
    const int64_t rc = nbuf / (K * bw) - (KH - 1); /* >= KH + 1, as bw <= W + 2 * KW */
    for (int64_t r = ra; r < rb; r += rc) {
        const int64_t re = r + rc < rb ? r + rc : rb, bh = re - r + KH - 1;
        memset(buf, 0, (size_t)(K * bh * bw) * sizeof(float));
        place(K, OH, OW, dy, top - r, left - ca, 1, 1, bh, bw, buf);
        fwd_core_rows(K, bh, bw, C, KH, KW, 1, 1, re - r, cb - ca, 0, re - r, buf, wa, NULL,
                      dx + r * W + ca, W, H * W);
    }
}

static void dx_frame_rows(int64_t C, int64_t K, int64_t H, int64_t W, int64_t OH, int64_t OW,
                          int64_t KH, int64_t KW, int64_t ph, int64_t pw,
                          const float *restrict dy, const float *restrict wa,
                          float *restrict dx, int64_t h0, int64_t h1, float *restrict buf)
{
    const int64_t top = KH - 1 - ph, left = KW - 1 - pw, nbuf = DX_FRAME_BUF(K, KH, KW, W);
    const int64_t ihn = OH >= KH ? OH - KH + 1 : 0, iwn = OW >= KW ? OW - KW + 1 : 0;
    const int64_t r0 = h0 > top ? h0 : top, r1 = h1 < top + ihn ? h1 : top + ihn;
    if (iwn <= 0 || r1 <= r0) { /* no interior in these rows: all frame */
        dx_region(C, K, H, W, OH, OW, KH, KW, top, left, dy, wa, dx, h0, h1, 0, W, buf, nbuf);
        return;
    }
    fwd_core_rows(K, OH, OW, C, KH, KW, 1, 1, ihn, iwn, r0 - top, r1 - top, dy, wa, NULL,
                  dx + top * W + left, W, H * W);
    dx_region(C, K, H, W, OH, OW, KH, KW, top, left, dy, wa, dx, h0, r0, 0, W, buf, nbuf);
    dx_region(C, K, H, W, OH, OW, KH, KW, top, left, dy, wa, dx, r1, h1, 0, W, buf, nbuf);
    dx_region(C, K, H, W, OH, OW, KH, KW, top, left, dy, wa, dx, r0, r1, 0, left, buf, nbuf);
    dx_region(C, K, H, W, OH, OW, KH, KW, top, left, dy, wa, dx, r0, r1, left + iwn, W, buf,
              nbuf);
}

/* One thread's share of the weight gradient of image rows [oh0, oh1), direct method:
 * acc[k] += the kernel tap k's sum (lanes: nw * VW floats of scratch). */
#if CONV_VEC
/* The 3x3 stride-1 weight gradient of one (oc, ic) pair over dy rows [b0, b1):
 * lane[(kh*3 + kw)*VW + v] += sum over rows and columns c of dy[oh][c] * x[oh+kh][c+kw], in
 * L lanes. The traversal is row-major (consecutive addresses, as the prefetchers like): `rb`
 * dy rows at a time, each x row of the step loaded once (three shifted vectors) for every dy
 * row it meets. A row whose width is not a multiple of L ends with a chunk overlapping the one
 * before, its already-counted lanes masked off bitwise (a select, not a multiply by 0:
 * 0 * inf is NaN). */
CONV_INLINE void bww33_step(const int rb, const int masked, const float *restrict dyr,
                            const float *restrict xr, const int64_t OW, const int64_t wp,
                            const vi *restrict maskp, vf acc[3][3])
{
    vf d[3];
    UNROLL
    for (int q = 0; q < rb; q++) {
        d[q] = VLD(dyr + q * OW);
        INREG(d[q]);
    }
    UNROLL
    for (int xrow = 0; xrow < rb + 2; xrow++)
        UNROLL
        for (int kw = 0; kw < 3; kw++) {
            vf sx = VLD(xr + xrow * wp + kw);
            INREG(sx);
            UNROLL
            for (int q = 0; q < rb; q++) {
                const int kh = xrow - q;
                if (kh < 0 || kh > 2) continue;
                if (masked)
                    acc[kh][kw] += (vf)((vi)(d[q] * sx) & *maskp);
                else
                    acc[kh][kw] += d[q] * sx;
            }
        }
}

CONV_INLINE void bww33_rows(const int rb, const float *restrict dyr, const float *restrict xr,
                            const int64_t OW, const int64_t wp, const vi *restrict maskp,
                            const int rem, vf acc[3][3])
{
    int64_t c = 0;
    for (; c + L <= OW; c += L) bww33_step(rb, 0, dyr + c, xr + c, OW, wp, maskp, acc);
    if (rem) bww33_step(rb, 1, dyr + OW - L, xr + OW - L, OW, wp, maskp, acc);
}

/* the nine sums of a 3x3 weight gradient: zeroed, and added to their lanes */
CONV_INLINE void acc9_zero(vf acc[3][3])
{
    const vf zero = {0};
    UNROLL
    for (int i = 0; i < 3; i++)
        UNROLL
        for (int j = 0; j < 3; j++) acc[i][j] = zero;
}

CONV_INLINE void acc9_to_lanes(vf acc[3][3], float *restrict lane)
{
    UNROLL
    for (int i = 0; i < 3; i++)
        UNROLL
        for (int j = 0; j < 3; j++)
            VST(lane + (i * 3 + j) * VW, VLD(lane + (i * 3 + j) * VW) + acc[i][j]);
}

static void bww33_row(const float *restrict dyp, const float *restrict xp, int64_t b0,
                      int64_t b1, int64_t OW, int64_t wp, float *restrict lane)
{
    const vi lane0 = {0, 1, 2, 3, 4, 5, 6, 7};
    const int rem = (int)(OW % L);
    const vi mask = lane0 >= (L - rem); /* the lanes of the last chunk not counted before */
    vf acc[3][3];
    acc9_zero(acc);
    int64_t oh = b0;
    for (; oh + 3 <= b1; oh += 3)
        bww33_rows(3, dyp + oh * OW, xp + oh * wp, OW, wp, &mask, rem, acc);
    for (; oh < b1; oh++) bww33_rows(1, dyp + oh * OW, xp + oh * wp, OW, wp, &mask, rem, acc);
    acc9_to_lanes(acc, lane);
}

/* The same, column-major (for narrow images, rows of under 2L, all in L1): one chunk of L
 * columns at c, walking down the rows: lane[(kh*3 + kw)*VW + v] += sum of
 * dy[oh][c+v] * x[oh+kh][c+v+kw]. Each x row is loaded once for the three kernel rows it
 * meets (6 loads for 9 FMAs); with `masked`, the lanes the previous chunk already counted
 * are masked off bitwise (0 * inf would be NaN). */
CONV_INLINE void bww33c_chunk(const int masked, const float *restrict dyp,
                             const float *restrict xp, const int64_t b0, const int64_t b1,
                             const int64_t OW, const int64_t wp, const vi *restrict maskp,
                             float *restrict lane)
{
    vf acc[3][3];
    acc9_zero(acc);
    for (int64_t r = b0; r < b1 + 2; r++) {
        const float *restrict xr = xp + r * wp;
        vf xv[3];
        UNROLL
        for (int j = 0; j < 3; j++) {
            xv[j] = VLD(xr + j);
            INREG(xv[j]);
        }
        UNROLL
        for (int i = 0; i < 3; i++) {
            const int64_t oh = r - i;
            if (oh < b0 || oh >= b1) continue;
            vf dv = VLD(dyp + oh * OW);
            INREG(dv);
            UNROLL
            for (int j = 0; j < 3; j++) {
                if (masked)
                    acc[i][j] += (vf)((vi)(dv * xv[j]) & *maskp);
                else
                    acc[i][j] += dv * xv[j];
            }
        }
    }
    acc9_to_lanes(acc, lane);
}

static void bww33_col(const float *restrict dyp, const float *restrict xp, int64_t b0, int64_t b1,
                  int64_t OW, int64_t wp, float *restrict lane)
{
    const vi lane0 = {0, 1, 2, 3, 4, 5, 6, 7};
    const int rem = (int)(OW % L);
    const vi mask = lane0 >= (L - rem); /* the lanes of the last chunk not counted before */
    int64_t c = 0;
    for (; c + L <= OW; c += L) bww33c_chunk(0, dyp + c, xp + c, b0, b1, OW, wp, &mask, lane);
    if (rem) bww33c_chunk(1, dyp + OW - L, xp + OW - L, b0, b1, OW, wp, &mask, lane);
}
#endif

/* The sum of VW lanes, in lane order. */
static inline float lane_sum(const float *restrict a)
{
    float sum = 0.0f;
    for (int v = 0; v < VW; v++) sum += a[v];
    return sum;
}

static void bww_direct_rows(const conv_shape *s, int64_t OH, int64_t OW, const float *xi,
                            int64_t hp, int64_t wp, const float *dyi, int64_t oh0, int64_t oh1,
                            float *lanes, double *acc)
{
    const int64_t C = s->c_in, K = s->c_out, KH = s->kh, KW = s->kw, sh = s->stride_h,
                  sw = s->stride_w, nw = K * C * KH * KW;
    memset(lanes, 0, (size_t)(nw * VW) * sizeof(float));
    /* rows per band: the band's dy rows and x rows stay in cache across the kernel taps */
    int64_t band = (int64_t)65536 / (K * OW + C * (sh < hp ? sh : hp) * wp + 1);
    if (band > 3) band -= band % 3; /* whole steps of the 3x3 kernel's three rows */
    if (band < 1) band = 1;
    for (int64_t b0 = oh0; b0 < oh1; b0 += band) {
        const int64_t b1 = b0 + band < oh1 ? b0 + band : oh1;
#if CONV_VEC
        if (KH == 3 && KW == 3 && sh == 1 && sw == 1 && OW >= L) {
            /* rows of fewer than two vectors are walked down their columns (each x row
             * loaded once for all nine taps; a row walk would spend much of its work on the
             * masked last chunk), wider ones row by row. Measured interleaved, in cache: the
             * column walk faster at 10 columns, the two within noise at 14, the row walk
             * faster at 30 (light: 0.61 against 0.78 us an image) and 62, and streaming */
            const int narrow = OW < 2 * L && (b1 - b0 + 2) * wp <= 4096;
            for (int64_t oc = 0; oc < K; oc++)
                for (int64_t ic = 0; ic < C; ic++)
                    (narrow ? bww33_col : bww33_row)(dyi + oc * OH * OW, xi + ic * hp * wp, b0, b1,
                                                     OW, wp, lanes + (oc * C + ic) * 9 * VW);
            continue;
        }
#endif
        for (int64_t oc = 0; oc < K; oc++)
            for (int64_t ic = 0; ic < C; ic++)
                for (int64_t kh = 0; kh < KH; kh++)
                    for (int64_t kw = 0; kw < KW; kw += TB) {
                        const int tb = (int)(KW - kw < TB ? KW - kw : TB);
                        float *lane = lanes + (((oc * C + ic) * KH + kh) * KW + kw) * VW;
                        bww_dispatch(tb, sw, dyi + oc * OH * OW, xi + ic * hp * wp + kh * wp + kw,
                                     b0, b1, sh, wp, OW, lane);
                    }
    }
    for (int64_t k = 0; k < nw; k++) {
        acc[k] += (double)lane_sum(lanes + k * VW);
    }
}

/* The same with the GEMM method: cols (KdWpad x ldc, rows past Kd zero), dyt (ldc x Kpad,
 * columns past K zero), dwt (KdWpad x Kpad) are this thread's scratch. */
static void bww_gemm_rows(const conv_shape *s, int64_t OH, int64_t OW, const float *xi,
                          const float *dyi, int64_t oh0, int64_t oh1, float *cols, int64_t ldc,
                          float *dyt, int64_t Kpad, float *dwt, double *acc)
{
    const int64_t C = s->c_in, K = s->c_out, H = s->h, W = s->w, KH = s->kh, KW = s->kw;
    const int64_t Kd = C * KH * KW, Kdp = (Kd + MR - 1) / MR * MR, P = OH * OW;
    memset(dwt, 0, (size_t)(Kdp * Kpad) * sizeof(float));
    const int64_t e = oh1 * OW;
    for (int64_t p = oh0 * OW; p < e; p += ldc) {
        const int64_t np = e - p < ldc ? e - p : ldc;
        im2col_fwd(C, H, W, KH, KW, s->stride_h, s->stride_w, s->pad_h, s->pad_w, OW, xi, p,
                   np, cols, ldc);
        for (int64_t oc = 0; oc < K; oc++) {
            const float *restrict src = dyi + oc * P + p;
            for (int64_t q = 0; q < np; q++) dyt[q * Kpad + oc] = src[q];
        }
        for (int64_t k0 = 0; k0 < Kdp; k0 += MR)
            for (int64_t oc0 = 0; oc0 < Kpad; oc0 += NR)
                gemm_wtile(cols + k0 * ldc, ldc, dyt + oc0, Kpad, np, dwt + k0 * Kpad + oc0);
    }
    for (int64_t oc = 0; oc < K; oc++)
        for (int64_t k = 0; k < Kd; k++) acc[oc * Kd + k] += (double)dwt[k * Kpad + oc];
}

/* acc[oc] += sum of dy plane oc over elements [e0, e1) */
static void bias_rows(int64_t K, int64_t plane, const float *dyi, int64_t e0, int64_t e1,
                      double *acc)
{
    const int64_t full = e0 + (e1 - e0) / VW * VW;
    for (int64_t oc = 0; oc < K; oc++) {
        const float *restrict p = dyi + oc * plane;
        float a[VW] = {0.0f};
        for (int64_t j = e0; j < full; j += VW)
            for (int v = 0; v < VW; v++) a[v] += p[j + v];
        for (int64_t j = full; j < e1; j++) a[j - full] += p[j];
        acc[oc] += (double)lane_sum(a);
    }
}

int conv_backward_ex(const conv_shape *s, const float *x, const float *dy, const float *wt,
                     float *dx, float *dw, float *db, int threads, int method)
{
    if (s == NULL || dy == NULL || (dx != NULL && wt == NULL) || (dw != NULL && x == NULL))
        return CONV_ENULL;
    int64_t OH, OW;
    int rc = check_shape(s, &OH, &OW);
    if (rc != CONV_OK) return rc;
    rc = check_call(threads, method);
    if (rc != CONV_OK) return rc;
    if (dx == NULL && dw == NULL && db == NULL) return CONV_OK;
    const int mi = method == CONV_METHOD_AUTO ? choose_method(s, CONV_PART_BACKWARD_INPUT) : method;
    const int mw = method == CONV_METHOD_AUTO ? choose_method(s, CONV_PART_BACKWARD_WEIGHT) : method;
    const int64_t N = s->n, C = s->c_in, H = s->h, W = s->w, K = s->c_out, KH = s->kh,
                  KW = s->kw, sh = s->stride_h, sw = s->stride_w, ph = s->pad_h, pw = s->pad_w;
    const int64_t P = OH * OW, hp = H + 2 * ph, wp = W + 2 * pw, nw = K * C * KH * KW;
    const int64_t Hd = H + KH - 1, Wd = W + KW - 1;      /* direct dx: dy dilated and padded */
    const int64_t KdI = K * KH * KW, KdW = C * KH * KW;  /* GEMM reductions */
    const int64_t KdWp = (KdW + MR - 1) / MR * MR, Kpad = (K + NR - 1) / NR * NR;
    const int64_t ldci = gemm_block(KdI), ldcw = gemm_block(KdWp);
    const int padded = ph != 0 || pw != 0;
    const int do_dx = dx != NULL, do_dw = dw != NULL, do_db = db != NULL;
    /* direct dx of a large image at stride 1: no padded copy of dy (see dx_frame_rows) */
    const int dx_frame = mi == CONV_METHOD_DIRECT && sh == 1 && sw == 1 && ph <= KH - 1 &&
                         pw <= KW - 1 && K * Hd * Wd > DX_PLACE_MAX;
    const int banded = dx_frame && do_dx && do_dw && mw == CONV_METHOD_DIRECT;
    threads = useful_threads(threads, 2.0 * (double)(N * K * P) * (double)(C * KH * KW) *
                                          (do_dx + do_dw + (do_db && !do_dw && !do_dx)));
    const int64_t R = parts_per_image(N, threads), items = N * R;
#ifdef _OPENMP
    const int T = items < threads ? (int)items : threads;
#else
    const int T = 1;
#endif
    /* shared: the weights arranged for the input gradient; per thread: the sums of dw, db */
    float *wa = NULL;
    if (do_dx) {
        if (mi == CONV_METHOD_GEMM) {
            wa = alloc_floats((C + MR - 1) / MR * MR * KdI);
            if (wa != NULL) pack_a_bwd(C, K, KH * KW, wt, wa);
        } else {
            wa = alloc_floats(C * K * KH * KW);
            if (wa != NULL) /* flipped, channel axes swapped */
                for (int64_t oc = 0; oc < K; oc++)
                    for (int64_t ic = 0; ic < C; ic++)
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++)
                                wa[((ic * K + oc) * KH + (KH - 1 - kh)) * KW + (KW - 1 - kw)] =
                                    wt[((oc * C + ic) * KH + kh) * KW + kw];
        }
        if (wa == NULL) return CONV_ENOMEM;
    }
    const int64_t nacc = nw + K;
    double *accs = NULL;
    if (do_dw || do_db) {
        if ((uint64_t)nacc > (uint64_t)PTRDIFF_MAX / sizeof(double) / (uint64_t)T ||
            (accs = (double *)calloc((size_t)nacc * (size_t)T, sizeof(double))) == NULL) {
            free(wa);
            return CONV_ENOMEM;
        }
    }
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(T) if (T > 1) reduction(| : failed)
#endif
    {
        const int t = THREAD_ID(), nt = THREAD_COUNT();
        double *acc = accs ? accs + (int64_t)t * nacc : NULL;
        float *in_s = NULL, *w_s = NULL, *w_pad = NULL, *w_dyt = NULL, *w_dwt = NULL;
        int ok = 1;
        if (do_dx) {
            if (mi == CONV_METHOD_GEMM)
                in_s = alloc_floats((KdI + (C + MR - 1) / MR * MR) * ldci);
            else if (dx_frame)
                in_s = alloc_floats(DX_FRAME_BUF(K, KH, KW, W));
            else
                in_s = zeroed_floats(K * Hd * Wd);
            ok = ok && in_s != NULL;
        }
        if (do_dw) {
            if (mw == CONV_METHOD_GEMM) {
                w_s = zeroed_floats(KdWp * ldcw);
                w_dyt = zeroed_floats(ldcw * Kpad);
                w_dwt = alloc_floats(KdWp * Kpad);
                ok = ok && w_s != NULL && w_dyt != NULL && w_dwt != NULL;
            } else {
                w_s = alloc_floats(nw * VW);
                if (padded) w_pad = zeroed_floats(C * hp * wp);
                ok = ok && w_s != NULL && (!padded || w_pad != NULL);
            }
        }
        if (!ok) {
            failed = 1;
        } else {
            int64_t last_in = -1, last_w = -1;
            const int64_t it1 = split_at(items, nt, t + 1);
            for (int64_t it = split_at(items, nt, t); it < it1; it++) {
                const int64_t i = R == 1 ? it : it / R, r = R == 1 ? 0 : it % R;
                const float *dyi = dy + i * K * P;
                const int64_t h0 = split_at(H, R, r), h1 = split_at(H, R, r + 1);
                const int64_t oh0 = split_at(OH, R, r), oh1 = split_at(OH, R, r + 1);
                /* a large image's two direct gradients go by bands of rows, dx then dw, so
                 * each band of dy is read from memory once for both */
                const int64_t nb = banded && h1 - h0 >= 2 * BAND_ROWS ? (h1 - h0) / BAND_ROWS : 1;
                for (int64_t bi = 0; bi < nb; bi++) {
                    const int64_t hb0 = h0 + split_at(h1 - h0, nb, bi);
                    const int64_t hb1 = h0 + split_at(h1 - h0, nb, bi + 1);
                    const int64_t ob0 = oh0 + split_at(oh1 - oh0, nb, bi);
                    const int64_t ob1 = oh0 + split_at(oh1 - oh0, nb, bi + 1);
                    if (do_dx) {
                        float *dxi = dx + i * C * H * W;
                        if (mi == CONV_METHOD_GEMM) {
                            const int64_t e = split_at(H * W, R, r + 1);
                            for (int64_t p = split_at(H * W, R, r); p < e; p += ldci) {
                                const int64_t np = e - p < ldci ? e - p : ldci;
                                im2col_bwd(K, OH, OW, KH, KW, sh, sw, ph, pw, W, dyi, p, np, in_s,
                                           ldci);
                                gemm_block_mul(C, KdI, wa, in_s, ldci, NULL, p, np, dxi, H * W,
                                               in_s + KdI * ldci);
                            }
                        } else if (dx_frame) {
                            dx_frame_rows(C, K, H, W, OH, OW, KH, KW, ph, pw, dyi, wa, dxi, hb0,
                                          hb1, in_s);
                        } else {
                            /* dx = correlation of dy placed with stride and padding k-1-pad
                             * into Hd x Wd with the flipped, transposed weights */
                            if (last_in != i)
                                place(K, OH, OW, dyi, KH - 1 - ph, KW - 1 - pw, sh, sw, Hd, Wd,
                                      in_s);
                            last_in = i;
                            fwd_core_rows(K, Hd, Wd, C, KH, KW, 1, 1, H, W, hb0, hb1, in_s, wa,
                                          NULL, dxi, W, H * W);
                        }
                    }
                    if (do_dw && ob1 > ob0) {
                        const float *xi = x + i * C * H * W;
                        if (mw == CONV_METHOD_GEMM) {
                            bww_gemm_rows(s, OH, OW, xi, dyi, ob0, ob1, w_s, ldcw, w_dyt, Kpad,
                                          w_dwt, acc);
                        } else {
                            if (padded) {
                                if (last_w != i) place(C, H, W, xi, ph, pw, 1, 1, hp, wp, w_pad);
                                last_w = i;
                                xi = w_pad;
                            }
                            bww_direct_rows(s, OH, OW, xi, hp, wp, dyi, ob0, ob1, w_s, acc);
                        }
                    }
                }
                if (do_db && oh1 > oh0) bias_rows(K, P, dyi, oh0 * OW, oh1 * OW, acc + nw);
            }
        }
        free(in_s);
        free(w_s);
        free(w_pad);
        free(w_dyt);
        free(w_dwt);
    }
    if (!failed) { /* the threads' sums, in thread order */
        if (do_dw)
            for (int64_t k = 0; k < nw; k++) {
                double sum = 0.0;
                for (int t = 0; t < T; t++) sum += accs[(int64_t)t * nacc + k];
                dw[k] = (float)sum;
            }
        if (do_db)
            for (int64_t oc = 0; oc < K; oc++) {
                double sum = 0.0;
                for (int t = 0; t < T; t++) sum += accs[(int64_t)t * nacc + nw + oc];
                db[oc] = (float)sum;
            }
    }
    free(wa);
    free(accs);
    return failed ? CONV_ENOMEM : CONV_OK;
}

int conv_backward_input(const conv_shape *s, const float *dy, const float *wt, float *dx)
{
    if (s == NULL || dy == NULL || wt == NULL || dx == NULL) return CONV_ENULL;
    return conv_backward_ex(s, NULL, dy, wt, dx, NULL, NULL, 1, CONV_METHOD_AUTO);
}

int conv_backward_weight(const conv_shape *s, const float *x, const float *dy, float *dw,
                         float *db)
{
    if (s == NULL || x == NULL || dy == NULL || dw == NULL) return CONV_ENULL;
    return conv_backward_ex(s, x, dy, NULL, NULL, dw, db, 1, CONV_METHOD_AUTO);
}

/* ------------------------------------------------------------------------------------------
 * The memory floor, for comparison: the bytes of a pass moved with no convolution
 * ------------------------------------------------------------------------------------------ */

/* The sum of a[0:n] (many partial sums, so it runs at the speed of the loads). */
static float stream_sum(const float *restrict a, int64_t n)
{
    int64_t j = 0;
    float sum = 0.0f;
#if CONV_VEC
    vf s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    for (; j + 4 * L <= n; j += 4 * L) {
        s0 += VLD(a + j);
        s1 += VLD(a + j + L);
        s2 += VLD(a + j + 2 * L);
        s3 += VLD(a + j + 3 * L);
    }
    float lanes[L];
    VST(lanes, (s0 + s1) + (s2 + s3));
    for (int v = 0; v < L; v++) sum += lanes[v];
#endif
    for (; j < n; j++) sum += a[j];
    return sum;
}

/* o[0:no] from a[0:na] (+ b[0:nb]); what is read past no is summed into o[no - 1]. */
static void stream_range(const float *restrict a, int64_t na, const float *restrict b,
                         int64_t nb, float *restrict o, int64_t no)
{
    const int64_t ab = na < nb ? (na < no ? na : no) : (nb < no ? nb : no);
    const int64_t aa = na < no ? na : no;
    int64_t j = 0;
    for (; j < ab; j++) o[j] = a[j] + b[j];
    for (; j < aa; j++) o[j] = a[j] + 0.0f; /* (an add, so the compiler keeps plain stores) */
    for (; j < no; j++) o[j] = j < nb ? b[j] : 0.0f;
    const float rest = (na > no ? stream_sum(a + no, na - no) : 0.0f) +
                       (nb > no ? stream_sum(b + no, nb - no) : 0.0f);
    if (no > 0) o[no - 1] += rest;
}

int conv_stream_ex(const conv_shape *s, int backward, const float *x, const float *dy, float *out,
                   int threads)
{
    if (s == NULL || x == NULL || out == NULL || (backward && dy == NULL)) return CONV_ENULL;
    int64_t OH, OW;
    int rc = check_shape(s, &OH, &OW);
    if (rc != CONV_OK) return rc;
    rc = check_call(threads, CONV_METHOD_AUTO);
    if (rc != CONV_OK) return rc;
    const int64_t N = s->n, nx = s->c_in * s->h * s->w, ny = s->c_out * OH * OW;
    const int64_t no = backward ? nx : ny, nb = backward ? ny : 0;
    const int64_t R = parts_per_image(N, threads), items = N * R;
#ifdef _OPENMP
    const int T = items < threads ? (int)items : threads;
#pragma omp parallel num_threads(T) if (T > 1)
#endif
    {
        const int t = THREAD_ID(), nt = THREAD_COUNT();
        const int64_t it1 = split_at(items, nt, t + 1);
        for (int64_t it = split_at(items, nt, t); it < it1; it++) {
            const int64_t i = R == 1 ? it : it / R, r = R == 1 ? 0 : it % R;
            const int64_t a0 = split_at(nx, R, r), a1 = split_at(nx, R, r + 1);
            const int64_t b0 = split_at(nb, R, r), b1 = split_at(nb, R, r + 1);
            const int64_t o0 = split_at(no, R, r), o1 = split_at(no, R, r + 1);
            stream_range(x + i * nx + a0, a1 - a0, backward ? dy + i * nb + b0 : x, b1 - b0,
                         out + i * no + o0, o1 - o0);
        }
    }
    return CONV_OK;
}

/* ------------------------------------------------------------------------------------------
 * The textbook loops, for comparison
 * ------------------------------------------------------------------------------------------ */

int conv_forward_naive(const conv_shape *s, const float *x, const float *wt, const float *b,
                       float *y)
{
    if (s == NULL || x == NULL || wt == NULL || y == NULL) return CONV_ENULL;
    int64_t OH, OW;
    const int rc = check_shape(s, &OH, &OW);
    if (rc != CONV_OK) return rc;
    const int64_t N = s->n, C = s->c_in, H = s->h, W = s->w, K = s->c_out, KH = s->kh,
                  KW = s->kw;
    for (int64_t n = 0; n < N; n++)
        for (int64_t oc = 0; oc < K; oc++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    float sum = 0.0f;
                    for (int64_t ic = 0; ic < C; ic++)
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++) {
                                const int64_t ih = oh * s->stride_h - s->pad_h + kh;
                                const int64_t iw = ow * s->stride_w - s->pad_w + kw;
                                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                    sum += x[((n * C + ic) * H + ih) * W + iw] *
                                           wt[((oc * C + ic) * KH + kh) * KW + kw];
                            }
                    y[((n * K + oc) * OH + oh) * OW + ow] = sum + (b ? b[oc] : 0.0f);
                }
    return CONV_OK;
}

int conv_backward_naive(const conv_shape *s, const float *x, const float *dy, const float *wt,
                        float *dx, float *dw, float *db)
{
    if (s == NULL || x == NULL || dy == NULL || wt == NULL || dx == NULL || dw == NULL)
        return CONV_ENULL;
    int64_t OH, OW;
    const int rc = check_shape(s, &OH, &OW);
    if (rc != CONV_OK) return rc;
    const int64_t N = s->n, C = s->c_in, H = s->h, W = s->w, K = s->c_out, KH = s->kh,
                  KW = s->kw;
    memset(dx, 0, (size_t)(N * C * H * W) * sizeof(float));
    memset(dw, 0, (size_t)(K * C * KH * KW) * sizeof(float));
    if (db != NULL) memset(db, 0, (size_t)K * sizeof(float));
    for (int64_t n = 0; n < N; n++)
        for (int64_t oc = 0; oc < K; oc++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    const float g = dy[((n * K + oc) * OH + oh) * OW + ow];
                    if (db != NULL) db[oc] += g;
                    for (int64_t ic = 0; ic < C; ic++)
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++) {
                                const int64_t ih = oh * s->stride_h - s->pad_h + kh;
                                const int64_t iw = ow * s->stride_w - s->pad_w + kw;
                                if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                                    const int64_t xi = ((n * C + ic) * H + ih) * W + iw;
                                    const int64_t wi = ((oc * C + ic) * KH + kh) * KW + kw;
                                    dx[xi] += g * wt[wi];
                                    dw[wi] += g * x[xi];
                                }
                            }
                }
    return CONV_OK;
}
