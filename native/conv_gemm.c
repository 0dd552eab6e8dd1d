/*
 * convbench C kernel, method GEMM (many channels): the forward pass, the input gradient and the
 * weight gradient as matrix products over a 6 x 16 register-blocked micro-kernel.
 *
 * At stride 1 the forward pass is an "implicit GEMM" (gemm_implicit_rows): the micro-kernel's
 * B rows are read in place from the (padded) image through a table of tap offsets; otherwise
 * im2col of a block of pixels into an L2-sized buffer and the same micro-kernel
 * (gemm_forward_pixels); both give the same bits. Padding and stride are handled in the
 * im2col; the input gradient gathers dy directly (im2col_bwd: no flipped copy of dy,
 * gemm_dx_pixels), the weight gradient multiplies the im2col of x by dy transposed
 * (bww_gemm_rows). The block sizes (ldc) and every scratch buffer's size come from conv.c's
 * scratch plans.
 *
 * Forward and backward-input are Y (M x P) = A (M x Kd) . cols (Kd x P): for forward M is
 * c_out, Kd = c_in*kh*kw (A is the weight as it lies) and cols is the im2col of the input
 * image; for backward-input M is c_in, Kd = c_out*kh*kw, A[ic][(oc,kh,kw)] = wt[oc][ic][kh][kw]
 * and cols[(oc,kh,kw)][(ih,iw)] is the dy element that meets x[ih][iw] through tap (kh,kw),
 * or 0 (so stride and padding are handled by the im2col, never in the micro-kernel).
 * A is packed once per call into panels of MR rows (zero rows past M): panel[k][o]. cols is
 * built for PB pixels at a time (a block that stays in L2) with NR-padded rows; every output
 * is the sum over k = 0..Kd-1 in order, then + bias, wherever its block lies.
 * Backward-weight is dW^T (Kd x c_out) = cols (Kd x P) . dy^T (P x c_out): the same im2col of
 * x, dy transposed per block, and a micro-kernel over MR rows of Kd x NR output channels.
 */
#include "conv_internal.h"

#define KB 256     /* GEMM: the reduction block */

/* ------------------------------------------------------------------------------------------
 * Packing A, the implicit GEMM's tap offsets, im2col
 * ------------------------------------------------------------------------------------------ */

/* A (M x Kd, element (m, k) at a[m*Kd + k]) in panels of MR rows, zero rows past M:
 * ap[(p*Kd + k)*MR + o] = A[p*MR + o][k] */
void gemm_pack_fwd(int64_t M, int64_t Kd, const float *restrict a, float *restrict ap)
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
void gemm_pack_bwd(int64_t C, int64_t K, int64_t T, const float *restrict wt,
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

/* The taps of the implicit GEMM: row k = (ic, kh, kw) of B lies at off[k] in a hp x wp image */
void gemm_tap_offsets(int64_t C, int64_t KH, int64_t KW, int64_t hp, int64_t wp,
                      int64_t *restrict off)
{
    for (int64_t ic = 0; ic < C; ic++)
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++)
                off[(ic * KH + kh) * KW + kw] = (ic * hp + kh) * wp + kw;
}

/* ------------------------------------------------------------------------------------------
 * The MR x NR micro-kernels (A . B, and the weight gradient's) and the products built on them
 * ------------------------------------------------------------------------------------------ */

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
void gemm_implicit_rows(int64_t M, int64_t Kd, const float *restrict ap,
                        const float *restrict xp, int64_t wp, const int64_t *restrict off,
                        const float *restrict bias, int64_t OW, int64_t P, int64_t oh0,
                        int64_t oh1, float *restrict y, float *restrict acc)
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

/* The weight gradient's micro-kernel:
 * dwt[k][0:NR] += sum_{p < np} cols[k][p] * dyt[p][0:NR] for k < MR rows (dyt row stride
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

/* ------------------------------------------------------------------------------------------
 * The passes over one image by im2col blocks: forward, input and weight gradients
 * ------------------------------------------------------------------------------------------ */

/* Forward pixels [p0, p1) of one image: im2col blocks of ldc pixels into buf (Kd x ldc), each
 * multiplied by the packed weights ap, the sums in buf's tail (round_up(K, MR) x ldc). */
void gemm_forward_pixels(const conv_shape *s, int64_t OH, int64_t OW, const float *restrict ap,
                         const float *restrict xi, const float *restrict b, float *restrict yi,
                         int64_t p0, int64_t p1, int64_t ldc, float *restrict buf)
{
    const int64_t C = s->c_in, H = s->h, W = s->w, K = s->c_out, KH = s->kh, KW = s->kw;
    const int64_t Kd = C * KH * KW, P = OH * OW;
    for (int64_t p = p0; p < p1; p += ldc) {
        const int64_t np = p1 - p < ldc ? p1 - p : ldc;
        im2col_fwd(C, H, W, KH, KW, s->stride_h, s->stride_w, s->pad_h, s->pad_w, OW, xi, p,
                   np, buf, ldc);
        gemm_block_mul(K, Kd, ap, buf, ldc, b, p, np, yi, P, buf + Kd * ldc);
    }
}

/* Input-gradient pixels [p0, p1) of one image: the dy each meets through every tap gathered
 * into buf (K*KH*KW x ldc), multiplied by the packed weights wa; the sums in buf's tail. */
void gemm_dx_pixels(const conv_shape *s, int64_t OH, int64_t OW, const float *restrict wa,
                    const float *restrict dyi, float *restrict dxi, int64_t p0, int64_t p1,
                    int64_t ldc, float *restrict buf)
{
    const int64_t C = s->c_in, H = s->h, W = s->w, K = s->c_out, KH = s->kh, KW = s->kw;
    const int64_t KdI = K * KH * KW;
    for (int64_t p = p0; p < p1; p += ldc) {
        const int64_t np = p1 - p < ldc ? p1 - p : ldc;
        im2col_bwd(K, OH, OW, KH, KW, s->stride_h, s->stride_w, s->pad_h, s->pad_w, W, dyi, p,
                   np, buf, ldc);
        gemm_block_mul(C, KdI, wa, buf, ldc, NULL, p, np, dxi, H * W, buf + KdI * ldc);
    }
}

/* Weight-gradient rows [oh0, oh1) of one image: cols (KdWpad x ldc, rows past Kd zero), dyt
 * (ldc x Kpad, columns past K zero), dwt (KdWpad x Kpad) are this thread's scratch. */
void bww_gemm_rows(const conv_shape *s, int64_t OH, int64_t OW, const float *xi,
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
