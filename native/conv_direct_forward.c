/*
 * convbench C kernel, method DIRECT, forward: the register-blocked direct convolution that the
 * forward pass of few-channel shapes runs, and that the direct input gradient runs too (on dy,
 * with the kernel flipped). Also the padded copy of an image (place), which the forward pass
 * (direct and implicit GEMM) and the direct backward pass use.
 *
 * - One core routine, fwd_core_any(), computes an UNPADDED strided correlation. Its
 *   micro-kernel (fwd_chunk) keeps a block of ocb <= OCB output channels x R output rows x
 *   a chunk of consecutive output columns (at most 12 vectors; block_rows and the dispatch
 *   table choose them per ocb) in registers and runs the whole c_in x kh x kw reduction over
 *   them, so every output element is stored exactly once; each x vector is loaded once and
 *   used for all ocb channels. A row whose width is not a multiple of the chunk ends with a
 *   chunk that overlaps the previous one (the overlapping outputs are recomputed to the
 *   identical values), so there is no scalar tail and no branch in the inner loops. Three
 *   input channels with a 3x3 kernel (RGB-like) get the block fully unrolled.
 * - One input channel, 3x3, stride 1 (fwd33_c1, the sliding-row kernel): the nine weights
 *   stay in registers and every input row is loaded once for the three output rows it
 *   meets, four vectors of columns at a time. Each output sums kh, kw in the same order from
 *   zero, so both routines give the same bits.
 * - Padding is handled outside the hot loops: the padded image is copied into a scratch
 *   buffer (one image at a time, by place()), then the core runs on it. fwd_direct_items()
 *   does that for a thread's images (or parts of images) of a forward call.
 * - fwd_core_rows_s1() is the core at stride 1, for the input gradient (conv.c and
 *   conv_direct_backward.c), so that caller keeps a copy specialised for unit stride.
 */
#include "conv_internal.h"

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

/* ------------------------------------------------------------------------------------------
 * The padded copy of an image
 * ------------------------------------------------------------------------------------------ */

/* Place src (c x H x W) into dst (c x Hd x Wd) at dst[top + r*sh][left + q*sw]; top/left may
 * be negative (the parts outside dst are dropped). Only those positions are written: dst must
 * have been zeroed once (calloc) and is reused with the same geometry for every image, so
 * everything else in it stays zero. */
void place(int64_t c, int64_t H, int64_t W, const float *restrict src, int64_t top,
           int64_t left, int64_t sh, int64_t sw, int64_t Hd, int64_t Wd, float *restrict dst)
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


/* ------------------------------------------------------------------------------------------
 * The register-blocked micro-kernel (fwd_chunk), its rows and its dispatch table
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

/* ------------------------------------------------------------------------------------------
 * One input channel, 3 x 3, stride 1: the sliding-row kernel (vector code only)
 * ------------------------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------------------------
 * The core: rows of an unpadded, strided correlation (fwd_direct_items, fwd_core_rows_s1)
 * ------------------------------------------------------------------------------------------ */

/* Output rows [oh0, oh1) of one image: y (cout x OH x OW) = x (cin x H x W) correlated with
 * w, no padding, (+ b). Every tap of every output lies inside x. */
CONV_INLINE void fwd_core_any(const int64_t cin, const int64_t H, const int64_t W,
                              const int64_t cout, const int64_t KH, const int64_t KW,
                              const int64_t sh, const int64_t sw, const int64_t OH,
                              const int64_t OW, const int64_t oh0, const int64_t oh1,
                              const float *restrict x, const float *restrict w,
                              const float *restrict b, float *restrict y, const int64_t ys,
                              const int64_t yplane)
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

/* Items [it0, it1) of a direct forward call, one thread's: item it is part it % R of image
 * it / R (its output rows split_at(OH, R, r) ...). With padding, an image is first copied into
 * `image` (zeroed scratch, C x hp x wp, reused: *last is the image it holds, or -1). The item
 * loop lives here, with the core inlined into it (as it was in the threads' loop before the
 * kernel was split into files): a small image costs a fraction of a microsecond (light: 0.3
 * us), so a call into another file per image with 18 arguments is avoided. */
void fwd_direct_items(const conv_shape *s, int64_t OH, int64_t OW, const float *x,
                      const float *wt, const float *b, float *y, int64_t R, int64_t it0,
                      int64_t it1, float *image, int64_t *last)
{
    const int64_t C = s->c_in, H = s->h, W = s->w, K = s->c_out, KH = s->kh, KW = s->kw;
    const int64_t P = OH * OW, hp = H + 2 * s->pad_h, wp = W + 2 * s->pad_w;
    const int padded = s->pad_h != 0 || s->pad_w != 0;
    for (int64_t it = it0; it < it1; it++) {
        const int64_t i = R == 1 ? it : it / R, r = R == 1 ? 0 : it % R;
        const float *xi = x + i * C * H * W;
        if (padded) {
            if (*last != i) place(C, H, W, xi, s->pad_h, s->pad_w, 1, 1, hp, wp, image);
            *last = i;
            xi = image;
        }
        fwd_core_any(C, hp, wp, K, KH, KW, s->stride_h, s->stride_w, OH, OW, split_at(OH, R, r),
                     split_at(OH, R, r + 1), xi, wt, b, y + i * K * P, OW, P);
    }
}

/* Stride 1 (the input gradient's form; its callers pass b = NULL): with the strides inlined as
 * constants, its calls of fwd_rows_dispatch get a copy of that table specialised for unit
 * stride, as when the input gradient shared a file with it. b stays a run-time argument, so
 * that copy is the one d570967 had (gcc 12: byte for byte); a copy specialised for b == NULL
 * as well measured 17% slower on fat's input gradient alone. */
void fwd_core_rows_s1(int64_t cin, int64_t H, int64_t W, int64_t cout, int64_t KH, int64_t KW,
                      int64_t OH, int64_t OW, int64_t oh0, int64_t oh1,
                      const float *restrict x, const float *restrict w, const float *restrict b,
                      float *restrict y, int64_t ys, int64_t yplane)
{
    fwd_core_any(cin, H, W, cout, KH, KW, 1, 1, OH, OW, oh0, oh1, x, w, b, y, ys, yplane);
}
