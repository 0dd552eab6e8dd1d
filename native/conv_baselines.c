/*
 * convbench C kernel, the comparison baselines (conv.h): the textbook loops
 * (conv_forward_naive, conv_backward_naive: 64-bit indices, one thread) and the memory floor
 * of a pass (conv_stream_ex: the bytes a pass must move, with no convolution). None of the
 * kernel's methods uses them; benchmarks and tests compare with them.
 */
#include "conv_internal.h"

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
    const int rc = conv_output_size(s, &OH, &OW);
    if (rc != CONV_OK) return rc;
    if (threads < 1) return CONV_ETHREADS;
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
    const int rc = conv_output_size(s, &OH, &OW);
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
    const int rc = conv_output_size(s, &OH, &OW);
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
