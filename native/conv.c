/*
 * convbench C kernel: implements conv.h (read that first for the contract).
 *
 * Layout: NCHW float32, C-contiguous; weights c_out x c_in x kh x kw. Cross-correlation with
 * zero padding, as torch.nn.functional.conv2d. Single-threaded, portable C11: the speed comes
 * from the compiler's auto-vectoriser, so the hot loops are written for it:
 *
 *   - One core routine, fwd_core(), computes an UNPADDED strided correlation. Its micro-kernel
 *     (fwd_chunk) keeps a block of OCB output channels x VW consecutive output columns in
 *     local arrays of compile-time size (registers after unrolling) and runs the whole
 *     c_in x kh x kw reduction over them, so every output element is stored exactly once.
 *     A row whose width is not a multiple of VW ends with a chunk that overlaps the previous
 *     one (the overlapping outputs are recomputed to the identical values), so there is no
 *     scalar tail and no branch in the inner loops.
 *   - Padding is handled outside the hot loops: the padded image is copied into a scratch
 *     buffer (one image at a time), then fwd_core() runs on it.
 *   - backward_input is fwd_core() applied to dy, zero-padded by (k - 1 - pad) and, for
 *     stride > 1, dilated by the stride, with the kernel flipped and its channel axes swapped.
 *   - backward_weight is a set of dot products over output rows (bww_rows), a block of TB
 *     kernel columns at a time, in VW independent lanes (so the compiler can vectorise a
 *     float sum without reassociation flags). The last chunk of a row overlaps the previous
 *     one with the already-counted lanes masked by a select (not a multiply: 0 * inf is NaN).
 *     Lanes are summed per image in float and accumulated across images in double.
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

#if defined(__GNUC__) || defined(__clang__)
#define CONV_INLINE static inline __attribute__((always_inline))
#else
#define CONV_INLINE static inline
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
#define OCB 4 /* output channels per forward block */
#define TB 4  /* kernel columns per backward-weight block */

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

static const char conv_build_info_text[] =
    "compiler=" CONV_COMPILER "\n"
    "flags=" CONVBENCH_BUILD_FLAGS "\n"
    "isa=" CONV_ARCH CONV_ISA_AVX512F CONV_ISA_AVX2 CONV_ISA_AVX CONV_ISA_FMA CONV_ISA_SSE42
    CONV_ISA_SSE2 CONV_ISA_NEON CONV_ISA_SVE "\n"
    "vector_width=" CONV_VW_TEXT "\n"
    "vector_code=" CONV_VEC_TEXT;

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
    if (s->kh - 1 > INT64_MAX - s->h || s->kw - 1 > INT64_MAX - s->w) return CONV_EOVERFLOW;
    if (!count_ok(1, s->c_in, hp, wp, fsz) ||
        !count_ok(1, s->c_out, s->h + s->kh - 1, s->w + s->kw - 1, fsz) ||
        !count_ok(s->c_out * s->c_in, s->kh, s->kw, VW, (int64_t)sizeof(double)))
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

/* ------------------------------------------------------------------------------------------
 * Forward core: unpadded, strided correlation
 * ------------------------------------------------------------------------------------------ */

/* One chunk: y[o][ow0 + v] for o < ocb, v < vw (VW or VH), the whole c_in x kh x kw
 * reduction in registers. xr0 points at x[ic=0][oh*sh][ow0*sw]; w at wt[oc0][0][0][0]. */
CONV_INLINE void fwd_chunk(const int ocb, const int vw, const int64_t sw,
                           const float *restrict xr0, const int64_t xplane, const int64_t W,
                           const float *restrict w, const int64_t wstr, const int64_t cin,
                           const int64_t KH, const int64_t KW, const float *restrict b,
                           float *restrict y0, const int64_t yplane)
{
#if CONV_VEC
    const int nv = vw / L;
    const vf zero = {0};
    vf acc[OCB][NV];
    for (int o = 0; o < ocb; o++)
        for (int j = 0; j < nv; j++) acc[o][j] = zero;
    for (int64_t ic = 0; ic < cin; ic++) {
        for (int64_t kh = 0; kh < KH; kh++) {
            const float *restrict xr = xr0 + ic * xplane + kh * W;
            const float *restrict wr = w + (ic * KH + kh) * KW;
            for (int64_t kw = 0; kw < KW; kw++) {
                vf xv[NV];
                for (int j = 0; j < nv; j++) {
                    if (sw == 1) {
                        xv[j] = VLD(xr + kw + j * L);
                    } else {
                        float t[L];
                        for (int v = 0; v < L; v++) t[v] = xr[kw + (j * L + v) * sw];
                        xv[j] = VLD(t);
                    }
                }
                for (int o = 0; o < ocb; o++) {
                    const vf wv = zero + wr[o * wstr + kw];
                    for (int j = 0; j < nv; j++) acc[o][j] += wv * xv[j];
                }
            }
        }
    }
    for (int o = 0; o < ocb; o++) {
        const vf bo = zero + (b ? b[o] : 0.0f);
        for (int j = 0; j < nv; j++) VST(y0 + o * yplane + j * L, acc[o][j] + bo);
    }
#else
    float acc[OCB][VW];
    for (int o = 0; o < ocb; o++)
        for (int v = 0; v < vw; v++) acc[o][v] = 0.0f;
    for (int64_t ic = 0; ic < cin; ic++) {
        for (int64_t kh = 0; kh < KH; kh++) {
            const float *restrict xr = xr0 + ic * xplane + kh * W;
            const float *restrict wr = w + (ic * KH + kh) * KW;
            for (int64_t kw = 0; kw < KW; kw++) {
                float xv[VW];
                for (int v = 0; v < vw; v++) xv[v] = xr[kw + v * sw];
                for (int o = 0; o < ocb; o++) {
                    const float wv = wr[o * wstr + kw];
                    for (int v = 0; v < vw; v++) acc[o][v] += wv * xv[v];
                }
            }
        }
    }
    for (int o = 0; o < ocb; o++) {
        const float bo = b ? b[o] : 0.0f;
        float *restrict yo = y0 + o * yplane;
        for (int v = 0; v < vw; v++) yo[v] = acc[o][v] + bo;
    }
#endif
}

/* One output pixel for ocb channels, scalar: rows narrower than VH. */
CONV_INLINE void fwd_pixel(const int ocb, const int64_t sw, const float *restrict xr0,
                           const int64_t xplane, const int64_t W, const float *restrict w,
                           const int64_t wstr, const int64_t cin, const int64_t KH,
                           const int64_t KW, const float *restrict b, float *restrict y0,
                           const int64_t yplane)
{
    (void)sw;
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

/* One output row for a block of ocb output channels. */
CONV_INLINE void fwd_row(const int ocb, const int64_t sw, const float *restrict xrow,
                         const int64_t xplane, const int64_t W, const float *restrict w,
                         const int64_t wstr, const int64_t cin, const int64_t KH,
                         const int64_t KW, const float *restrict b, float *restrict yrow,
                         const int64_t yplane, const int64_t OW)
{
    if (OW >= VW) {
        for (int64_t ow = 0; ow < OW; ow += VW) {
            const int64_t o0 = ow + VW <= OW ? ow : OW - VW; /* last chunk overlaps */
            fwd_chunk(ocb, VW, sw, xrow + o0 * sw, xplane, W, w, wstr, cin, KH, KW, b, yrow + o0,
                      yplane);
        }
    } else if (OW >= VH) {
        for (int64_t ow = 0; ow < OW; ow += VH) {
            const int64_t o0 = ow + VH <= OW ? ow : OW - VH;
            fwd_chunk(ocb, VH, sw, xrow + o0 * sw, xplane, W, w, wstr, cin, KH, KW, b, yrow + o0,
                      yplane);
        }
    } else {
        for (int64_t ow = 0; ow < OW; ow++)
            fwd_pixel(ocb, sw, xrow + ow * sw, xplane, W, w, wstr, cin, KH, KW, b, yrow + ow,
                      yplane);
    }
}

/* Specialise on the block size and on unit stride so that both are constants inside. */
static void fwd_row_dispatch(int ocb, int64_t sw, const float *restrict xrow, int64_t xplane,
                             int64_t W, const float *restrict w, int64_t wstr, int64_t cin,
                             int64_t KH, int64_t KW, const float *restrict b,
                             float *restrict yrow, int64_t yplane, int64_t OW)
{
#define CONV_FWD_CASE(N)                                                                       \
    case N:                                                                                    \
        if (sw == 1 && KW == 3) /* the common 3-wide kernel, fully unrolled */                 \
            fwd_row(N, 1, xrow, xplane, W, w, wstr, cin, KH, 3, b, yrow, yplane, OW);          \
        else if (sw == 1)                                                                      \
            fwd_row(N, 1, xrow, xplane, W, w, wstr, cin, KH, KW, b, yrow, yplane, OW);         \
        else                                                                                   \
            fwd_row(N, sw, xrow, xplane, W, w, wstr, cin, KH, KW, b, yrow, yplane, OW);        \
        break;
    switch (ocb) {
        CONV_FWD_CASE(1)
        CONV_FWD_CASE(2)
        CONV_FWD_CASE(3)
        CONV_FWD_CASE(4)
    default: break;
    }
#undef CONV_FWD_CASE
}

/* y (n x cout x OH x OW) = x (n x cin x H x W) correlated with w, no padding, (+ b). Every
 * tap of every output lies inside x: OH = (H - KH) / sh + 1 and likewise OW. */
static void fwd_core(int64_t n, int64_t cin, int64_t H, int64_t W, int64_t cout, int64_t KH,
                     int64_t KW, int64_t sh, int64_t sw, int64_t OH, int64_t OW,
                     const float *restrict x, const float *restrict w, const float *restrict b,
                     float *restrict y)
{
    const int64_t xplane = H * W, yplane = OH * OW, wstr = cin * KH * KW;
    for (int64_t i = 0; i < n; i++) {
        const float *restrict xi = x + i * cin * xplane;
        float *restrict yi = y + i * cout * yplane;
        for (int64_t oh = 0; oh < OH; oh++) {
            const float *restrict xrow = xi + oh * sh * W;
            for (int64_t oc = 0; oc < cout; oc += OCB) {
                const int ocb = (int)(cout - oc < OCB ? cout - oc : OCB);
                fwd_row_dispatch(ocb, sw, xrow, xplane, W, w + oc * wstr, wstr, cin, KH, KW,
                                 b ? b + oc : NULL, yi + oc * yplane + oh * OW, yplane, OW);
            }
        }
    }
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
 * Entry points
 * ------------------------------------------------------------------------------------------ */

int conv_forward(const conv_shape *s, const float *x, const float *wt, const float *b, float *y)
{
    if (s == NULL || x == NULL || wt == NULL || y == NULL) return CONV_ENULL;
    int64_t OH, OW;
    const int rc = check_shape(s, &OH, &OW);
    if (rc != CONV_OK) return rc;
    if (s->pad_h == 0 && s->pad_w == 0) {
        fwd_core(s->n, s->c_in, s->h, s->w, s->c_out, s->kh, s->kw, s->stride_h, s->stride_w,
                 OH, OW, x, wt, b, y);
        return CONV_OK;
    }
    const int64_t hp = s->h + 2 * s->pad_h, wp = s->w + 2 * s->pad_w;
    float *pad = zeroed_floats(s->c_in * hp * wp);
    if (pad == NULL) return CONV_ENOMEM;
    for (int64_t i = 0; i < s->n; i++) {
        place(s->c_in, s->h, s->w, x + i * s->c_in * s->h * s->w, s->pad_h, s->pad_w, 1, 1, hp,
              wp, pad);
        fwd_core(1, s->c_in, hp, wp, s->c_out, s->kh, s->kw, s->stride_h, s->stride_w, OH, OW,
                 pad, wt, b, y + i * s->c_out * OH * OW);
    }
    free(pad);
    return CONV_OK;
}

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

int conv_backward_input(const conv_shape *s, const float *dy, const float *wt, float *dx)
{
    if (s == NULL || dy == NULL || wt == NULL || dx == NULL) return CONV_ENULL;
    int64_t OH, OW;
    const int rc = check_shape(s, &OH, &OW);
    if (rc != CONV_OK) return rc;
    const int64_t C = s->c_in, K = s->c_out, KH = s->kh, KW = s->kw, H = s->h, W = s->w;
    /* dx = fwd_core(dy placed with stride and padding k-1-pad into Hd x Wd, flipped w^T) */
    const int64_t Hd = H + KH - 1, Wd = W + KW - 1;
    float *wf = alloc_floats(C * K * KH * KW);
    float *dyd = zeroed_floats(K * Hd * Wd);
    if (wf == NULL || dyd == NULL) {
        free(wf);
        free(dyd);
        return CONV_ENOMEM;
    }
    for (int64_t oc = 0; oc < K; oc++)
        for (int64_t ic = 0; ic < C; ic++)
            for (int64_t kh = 0; kh < KH; kh++)
                for (int64_t kw = 0; kw < KW; kw++)
                    wf[((ic * K + oc) * KH + (KH - 1 - kh)) * KW + (KW - 1 - kw)] =
                        wt[((oc * C + ic) * KH + kh) * KW + kw];
    for (int64_t i = 0; i < s->n; i++) {
        place(K, OH, OW, dy + i * K * OH * OW, KH - 1 - s->pad_h, KW - 1 - s->pad_w,
              s->stride_h, s->stride_w, Hd, Wd, dyd);
        fwd_core(1, K, Hd, Wd, C, KH, KW, 1, 1, H, W, dyd, wf, NULL, dx + i * C * H * W);
    }
    free(wf);
    free(dyd);
    return CONV_OK;
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
    for (int t = 0; t < tb; t++)
        for (int j = 0; j < NV; j++) acc[t][j] = zero;
    /* lanes v >= VW - rem of the overlapping last chunk are new: all ones there */
    vi mask[NV];
    {
        const vi lane0 = {0, 1, 2, 3, 4, 5, 6, 7};
        for (int j = 0; j < NV; j++) mask[j] = (lane0 + j * L) >= (VW - rem);
    }
    for (int64_t oh = oh0; oh < oh1; oh++) {
        const float *restrict dyr = dyp + oh * OW;
        const float *restrict xr = xr0 + oh * sh * W;
        for (int64_t c = 0; c < full; c += VW) {
            for (int j = 0; j < NV; j++) {
                const vf dv = VLD(dyr + c + j * L);
                for (int t = 0; t < tb; t++) {
                    vf xv;
                    if (sw == 1) {
                        xv = VLD(xr + c + j * L + t);
                    } else {
                        float tmp[L];
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
            for (int j = 0; j < NV; j++) {
                const vf dv = VLD(dyr + c + j * L);
                for (int t = 0; t < tb; t++) {
                    vf xv;
                    if (sw == 1) {
                        xv = VLD(xr + c + j * L + t);
                    } else {
                        float tmp[L];
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
                for (int t = 0; t < tb; t++) a[t][ow] += dyr[ow] * xr[ow * sw + t];
            for (int t = 0; t < tb; t++)
                for (int j = 0; j < NV; j++) acc[t][j] += VLD(&a[t][j * L]);
        }
    }
    for (int t = 0; t < tb; t++)
        for (int j = 0; j < NV; j++) VST(lane + t * VW + j * L, VLD(lane + t * VW + j * L) + acc[t][j]);
#else
    float acc[TB][VW];
    for (int t = 0; t < tb; t++)
        for (int v = 0; v < VW; v++) acc[t][v] = 0.0f;
    for (int64_t oh = oh0; oh < oh1; oh++) {
        const float *restrict dyr = dyp + oh * OW;
        const float *restrict xr = xr0 + oh * sh * W;
        for (int64_t c = 0; c < full; c += VW)
            for (int t = 0; t < tb; t++)
                for (int v = 0; v < VW; v++) acc[t][v] += dyr[c + v] * xr[(c + v) * sw + t];
        if (full > 0 && rem > 0) {
            const int64_t c = OW - VW;
            const int skip = VW - rem;
            for (int t = 0; t < tb; t++)
                for (int v = 0; v < VW; v++) {
                    const float p = dyr[c + v] * xr[(c + v) * sw + t];
                    acc[t][v] += v >= skip ? p : 0.0f;
                }
        } else if (full == 0) {
            for (int64_t ow = 0; ow < OW; ow++)
                for (int t = 0; t < tb; t++) acc[t][ow] += dyr[ow] * xr[ow * sw + t];
        }
    }
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

int conv_backward_weight(const conv_shape *s, const float *x, const float *dy, float *dw,
                         float *db)
{
    if (s == NULL || x == NULL || dy == NULL || dw == NULL) return CONV_ENULL;
    int64_t OH, OW;
    const int rc = check_shape(s, &OH, &OW);
    if (rc != CONV_OK) return rc;
    const int64_t C = s->c_in, K = s->c_out, KH = s->kh, KW = s->kw, H = s->h, W = s->w;
    const int64_t sh = s->stride_h, sw = s->stride_w;
    const int padded = s->pad_h != 0 || s->pad_w != 0;
    const int64_t hp = H + 2 * s->pad_h, wp = W + 2 * s->pad_w;
    const int64_t nw = K * C * KH * KW;
    float *lanes = alloc_floats(nw * VW);
    double *dacc = (double *)calloc((size_t)(nw + K), sizeof(double));
    float *pad = padded ? zeroed_floats(C * hp * wp) : NULL;
    if (lanes == NULL || dacc == NULL || (padded && pad == NULL)) {
        free(lanes);
        free(dacc);
        free(pad);
        return CONV_ENOMEM;
    }
    double *dbacc = dacc + nw;
    /* rows per band: the band's dy rows and x rows stay in cache across the kernel taps */
    int64_t band = (int64_t)49152 / (K * OW + C * (sh < hp ? sh : hp) * wp + 1);
    if (band < 1) band = 1;
    for (int64_t i = 0; i < s->n; i++) {
        const float *restrict xi = x + i * C * H * W;
        const float *restrict dyi = dy + i * K * OH * OW;
        if (padded) {
            place(C, H, W, xi, s->pad_h, s->pad_w, 1, 1, hp, wp, pad);
            xi = pad;
        }
        memset(lanes, 0, (size_t)(nw * VW) * sizeof(float));
        for (int64_t oh0 = 0; oh0 < OH; oh0 += band) {
            const int64_t oh1 = oh0 + band < OH ? oh0 + band : OH;
            for (int64_t oc = 0; oc < K; oc++)
                for (int64_t ic = 0; ic < C; ic++)
                    for (int64_t kh = 0; kh < KH; kh++)
                        for (int64_t kw = 0; kw < KW; kw += TB) {
                            const int tb = (int)(KW - kw < TB ? KW - kw : TB);
                            float *lane = lanes + (((oc * C + ic) * KH + kh) * KW + kw) * VW;
                            bww_dispatch(tb, sw, dyi + oc * OH * OW,
                                         xi + ic * hp * wp + kh * wp + kw, oh0, oh1, sh, wp, OW,
                                         lane);
                        }
        }
        for (int64_t k = 0; k < nw; k++) {
            float sum = 0.0f;
            for (int v = 0; v < VW; v++) sum += lanes[k * VW + v];
            dacc[k] += (double)sum;
        }
        if (db != NULL) {
            const int64_t plane = OH * OW, full = plane - plane % VW;
            for (int64_t oc = 0; oc < K; oc++) {
                const float *restrict p = dyi + oc * plane;
                float acc[VW] = {0.0f};
                for (int64_t j = 0; j < full; j += VW)
                    for (int v = 0; v < VW; v++) acc[v] += p[j + v];
                for (int64_t j = full; j < plane; j++) acc[j - full] += p[j];
                float sum = 0.0f;
                for (int v = 0; v < VW; v++) sum += acc[v];
                dbacc[oc] += (double)sum;
            }
        }
    }
    for (int64_t k = 0; k < nw; k++) dw[k] = (float)dacc[k];
    if (db != NULL)
        for (int64_t oc = 0; oc < K; oc++) db[oc] = (float)dbacc[oc];
    free(lanes);
    free(dacc);
    free(pad);
    return CONV_OK;
}
