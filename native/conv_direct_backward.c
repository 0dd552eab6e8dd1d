/*
 * convbench C kernel, method DIRECT, backward: the input gradient and the weight gradient of
 * few-channel shapes, and the bias gradient (which both methods use).
 *
 * - The input gradient is the direct forward core (conv_direct_forward.c) applied to dy,
 *   zero-padded by (k - 1 - pad) and, for stride > 1, dilated by the stride, with the kernel
 *   flipped and its channel axes swapped (dx_flip_weights); conv.c makes that padded copy.
 *   A large image at stride 1 skips the padded copy (dx_frame_rows, here): the interior runs
 *   on dy in place, the thin frame around it on small padded copies of the dy it needs.
 * - The weight gradient is a set of dot products over output rows (bww_rows), a block of TB
 *   kernel columns at a time, in VW independent lanes (so the compiler can vectorise a
 *   float sum without reassociation flags); 3x3 stride-1 kernels use bww33_row (wide images:
 *   row by row, each x row loaded once for every dy row it meets) or bww33_col (rows of
 *   fewer than two vectors, down the columns). The last chunk of a row overlaps the
 *   previous one with the already-counted lanes masked by a select (not a multiply:
 *   0 * inf is NaN). Lanes are summed per image (part, or band) in float and accumulated
 *   across images in double (bww_direct_rows).
 * - The bias gradient (bias_rows) sums each dy plane in VW lanes, then in double.
 */
#include "conv_internal.h"

#define TB 4  /* kernel columns per backward-weight block */

/* ------------------------------------------------------------------------------------------
 * The input gradient: the kernel flipped; a large image's interior and frame
 * ------------------------------------------------------------------------------------------ */

void dx_flip_weights(int64_t C, int64_t K, int64_t KH, int64_t KW, const float *restrict wt,
                     float *restrict wa)
{
    for (int64_t oc = 0; oc < K; oc++)
        for (int64_t ic = 0; ic < C; ic++)
            for (int64_t kh = 0; kh < KH; kh++)
                for (int64_t kw = 0; kw < KW; kw++)
                    wa[((ic * K + oc) * KH + (KH - 1 - kh)) * KW + (KW - 1 - kw)] =
                        wt[((oc * C + ic) * KH + kh) * KW + kw];
}

/* Backward-input, direct method, stride 1, pad <= k - 1, without a padded copy of the whole
 * dy (dx_frame_rows, below): rows [h0, h1) of dx for one image. dx[ic][ih][iw] = sum over
 * oc, a, b of dy[oc][ih - top + a][iw - left + b] * wa[ic][oc][a][b] (wa: the kernel flipped,
 * its channel axes swapped; top = kh - 1 - pad_h, left = kw - 1 - pad_w), taps outside dy
 * being zero. The interior, where every tap lies inside dy, is the forward core
 * (fwd_core_rows_s1) on dy itself, written into dx in place; each part of the frame around it
 * (kh - 1 - pad rows and kw - 1 - pad columns on each side) is the forward core on a small
 * zero-padded copy of the dy it needs (dx_region), so
 * every pixel is the same sum, in the same order, as with the padded copy of the whole dy.
 * buf: nbuf >= 2 * K * KH * (W + 2 * KW) floats of scratch (bwd_plan.dx_buf). */

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
        fwd_core_rows_s1(K, bh, bw, C, KH, KW, re - r, cb - ca, 0, re - r, buf, wa, NULL,
                         dx + r * W + ca, W, H * W);
    }
}

void dx_frame_rows(int64_t C, int64_t K, int64_t H, int64_t W, int64_t OH, int64_t OW,
                   int64_t KH, int64_t KW, int64_t ph, int64_t pw, const float *restrict dy,
                   const float *restrict wa, float *restrict dx, int64_t h0, int64_t h1,
                   float *restrict buf, int64_t nbuf)
{
    const int64_t top = KH - 1 - ph, left = KW - 1 - pw;
    const int64_t ihn = OH >= KH ? OH - KH + 1 : 0, iwn = OW >= KW ? OW - KW + 1 : 0;
    const int64_t r0 = h0 > top ? h0 : top, r1 = h1 < top + ihn ? h1 : top + ihn;
    if (iwn <= 0 || r1 <= r0) { /* no interior in these rows: all frame */
        dx_region(C, K, H, W, OH, OW, KH, KW, top, left, dy, wa, dx, h0, h1, 0, W, buf, nbuf);
        return;
    }
    fwd_core_rows_s1(K, OH, OW, C, KH, KW, ihn, iwn, r0 - top, r1 - top, dy, wa, NULL,
                     dx + top * W + left, W, H * W);
    dx_region(C, K, H, W, OH, OW, KH, KW, top, left, dy, wa, dx, h0, r0, 0, W, buf, nbuf);
    dx_region(C, K, H, W, OH, OW, KH, KW, top, left, dy, wa, dx, r1, h1, 0, W, buf, nbuf);
    dx_region(C, K, H, W, OH, OW, KH, KW, top, left, dy, wa, dx, r0, r1, 0, left, buf, nbuf);
    dx_region(C, K, H, W, OH, OW, KH, KW, top, left, dy, wa, dx, r0, r1, left + iwn, W, buf,
              nbuf);
}

/* ------------------------------------------------------------------------------------------
 * The weight gradient of any kernel: dot products over rows, TB kernel columns, VW lanes
 * ------------------------------------------------------------------------------------------ */

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
 * The weight gradient of a 3x3 stride-1 kernel: row walk and column walk (vector code only)
 * ------------------------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------------------------
 * One thread's share of an image's weight and bias gradients (bww_direct_rows, bias_rows)
 * ------------------------------------------------------------------------------------------ */

/* The sum of VW lanes, in lane order. */
static inline float lane_sum(const float *restrict a)
{
    float sum = 0.0f;
    for (int v = 0; v < VW; v++) sum += a[v];
    return sum;
}

/* One thread's share of the weight gradient of image rows [oh0, oh1), direct method:
 * acc[k] += the kernel tap k's sum (lanes: nw * VW floats of scratch). The rows go in bands
 * that stay in cache across the kernel taps. */
void bww_direct_rows(const conv_shape *s, int64_t OH, int64_t OW, const float *xi, int64_t hp,
                     int64_t wp, const float *dyi, int64_t oh0, int64_t oh1, float *lanes,
                     double *acc)
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

/* acc[oc] += sum of dy plane oc over elements [e0, e1) */
void bias_rows(int64_t K, int64_t plane, const float *dyi, int64_t e0, int64_t e1, double *acc)
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
