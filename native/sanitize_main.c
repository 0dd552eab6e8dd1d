/*
 * Test driver for `make sanitize` (native/sanitize.sh): the kernel (native/conv*.c) under
 * AddressSanitizer and UndefinedBehaviorSanitizer. Runs every entry point, every method (auto,
 * direct, gemm) with 1, 2 and 3 threads (each call given every thread it asks for:
 * thread_min_flops 0), over the shapes the Python tests use
 * (stride 1-3, padding 0-2, K = 1, kernel == padded input, non-square, batch 1, one channel,
 * rows wide and narrow enough for every code path), compares against a naive forward and a
 * naive backward written here, checks that an image's forward output is bit-identical alone and
 * in a batch, and checks the argument errors. Exit status 0 only if all agree.
 * The buffers are allocated to their exact sizes, so any overrun is an ASan report.
 */
#include "conv.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

/* thread_min_flops for the _ex calls: the small test shapes get every thread they ask for */
#define ALL_THREADS 0.0

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
        }                                                                                      \
    } while (0)

static uint64_t rng_state = 88172645463325252ull;
static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* 0 <= rnd(m) < m */
static int64_t rnd(int64_t m)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (int64_t)((rng_state >> 11) % (uint64_t)m);
}

static float *fill(int64_t count)
{
    float *p = malloc((size_t)count * sizeof(float));
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (int64_t i = 0; i < count; i++) p[i] = frand();
    return p;
}

/* max |a - b| <= tol * max(max |b|, tiny) */
static int close_enough(const float *a, const double *b, int64_t count, double tol)
{
    double scale = 1e-30, err = 0.0;
    for (int64_t i = 0; i < count; i++) {
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= err)) err = d; /* NaN makes err NaN, which fails below */
    }
    return err <= tol * scale;
}

/* The reference: plain loops in double, forward and backward (scatter form). */
static void ref_all(const conv_shape *s, int64_t OH, int64_t OW, const float *x, const float *w,
                    const float *b, const float *dy, double *y, double *dx, double *dw,
                    double *db)
{
    const int64_t N = s->n, C = s->c_in, H = s->h, W = s->w, K = s->c_out, KH = s->kh,
                  KW = s->kw;
    memset(dx, 0, (size_t)(N * C * H * W) * sizeof(double));
    memset(dw, 0, (size_t)(K * C * KH * KW) * sizeof(double));
    memset(db, 0, (size_t)K * sizeof(double));
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    const int64_t yi = ((n * K + k) * OH + oh) * OW + ow;
                    double acc = b ? b[k] : 0.0;
                    db[k] += dy[yi];
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t i = 0; i < KH; i++)
                            for (int64_t j = 0; j < KW; j++) {
                                const int64_t ih = oh * s->stride_h - s->pad_h + i;
                                const int64_t iw = ow * s->stride_w - s->pad_w + j;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                const int64_t xi = ((n * C + c) * H + ih) * W + iw;
                                const int64_t wi = ((k * C + c) * KH + i) * KW + j;
                                acc += (double)x[xi] * w[wi];
                                dx[xi] += (double)dy[yi] * w[wi];
                                dw[wi] += (double)dy[yi] * x[xi];
                            }
                    y[yi] = acc;
                }
}

static void run_case(int64_t n, int64_t c, int64_t k, int64_t h, int64_t w, int64_t kh,
                     int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw)
{
    const conv_shape s = {n, c, h, w, k, kh, kw, sh, sw, ph, pw};
    int64_t OH = 0, OW = 0;
    int rc = conv_output_size(&s, &OH, &OW);
    CHECK(rc == CONV_OK, "output_size rc %d", rc);
    if (rc != CONV_OK) return;
    const int64_t nx = n * c * h * w, nw = k * c * kh * kw, ny = n * k * OH * OW;
    float *x = fill(nx), *wt = fill(nw), *b = fill(k), *dy = fill(ny);
    float *y = fill(ny), *yn = fill(ny), *dx = fill(nx), *dw = fill(nw), *db = fill(k);
    double *ry = malloc((size_t)ny * sizeof(double)), *rdx = malloc((size_t)nx * sizeof(double));
    double *rdw = malloc((size_t)nw * sizeof(double)), *rdb = malloc((size_t)k * sizeof(double));
    if (!ry || !rdx || !rdw || !rdb) exit(2);

#define SHAPE_FMT "shape n%ld c%ld k%ld %ldx%ld kernel %ldx%ld stride %ld,%ld pad %ld,%ld"
#define SHAPE_ARGS (long)n, (long)c, (long)k, (long)h, (long)w, (long)kh, (long)kw, (long)sh, \
                   (long)sw, (long)ph, (long)pw
    static const int methods[] = {CONV_METHOD_AUTO, CONV_METHOD_DIRECT, CONV_METHOD_GEMM};
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        const float *bb = with_bias ? b : NULL;
        ref_all(&s, OH, OW, x, wt, bb, dy, ry, rdx, rdw, rdb);
        rc = conv_forward(&s, x, wt, bb, y);
        CHECK(rc == CONV_OK && close_enough(y, ry, ny, 1e-4), "forward rc %d " SHAPE_FMT, rc,
              SHAPE_ARGS);
        rc = conv_forward_naive(&s, x, wt, bb, yn);
        CHECK(rc == CONV_OK && close_enough(yn, ry, ny, 1e-4), "forward_naive rc %d", rc);
        for (int mi = 0; mi < 3; mi++)
            for (int t = 1; t <= 3; t++) {
                rc = conv_forward_ex(&s, x, wt, bb, y, t, methods[mi], ALL_THREADS);
                CHECK(rc == CONV_OK && close_enough(y, ry, ny, 1e-4),
                      "forward_ex method %d threads %d rc %d " SHAPE_FMT, methods[mi], t, rc,
                      SHAPE_ARGS);
                /* the last image alone: bit-identical to its place in the batch */
                conv_shape one = s;
                one.n = 1;
                const int64_t per = k * OH * OW;
                rc = conv_forward_ex(&one, x + (n - 1) * c * h * w, wt, bb, yn, t, methods[mi],
                                     ALL_THREADS);
                CHECK(rc == CONV_OK && memcmp(yn, y + (n - 1) * per, (size_t)per * sizeof(float)) == 0,
                      "forward_ex method %d threads %d: image alone differs " SHAPE_FMT,
                      methods[mi], t, SHAPE_ARGS);
            }
    }
    rc = conv_backward_input(&s, dy, wt, dx);
    CHECK(rc == CONV_OK && close_enough(dx, rdx, nx, 1e-4), "backward_input rc %d " SHAPE_FMT, rc,
          SHAPE_ARGS);
    rc = conv_backward_weight(&s, x, dy, dw, db);
    CHECK(rc == CONV_OK && close_enough(dw, rdw, nw, 1e-4) && close_enough(db, rdb, k, 1e-4),
          "backward_weight rc %d " SHAPE_FMT, rc, SHAPE_ARGS);
    rc = conv_backward_weight(&s, x, dy, dw, NULL); /* db is optional */
    CHECK(rc == CONV_OK && close_enough(dw, rdw, nw, 1e-4), "backward_weight db=NULL rc %d", rc);
    for (int mi = 0; mi < 3; mi++)
        for (int t = 1; t <= 3; t++) {
            rc = conv_backward_ex(&s, x, dy, wt, dx, dw, db, t, methods[mi], ALL_THREADS);
            CHECK(rc == CONV_OK && close_enough(dx, rdx, nx, 1e-4) &&
                      close_enough(dw, rdw, nw, 1e-4) && close_enough(db, rdb, k, 1e-4),
                  "backward_ex method %d threads %d rc %d " SHAPE_FMT, methods[mi], t, rc,
                  SHAPE_ARGS);
            rc = conv_backward_ex(&s, NULL, dy, wt, dx, NULL, NULL, t, methods[mi], ALL_THREADS);
            CHECK(rc == CONV_OK && close_enough(dx, rdx, nx, 1e-4),
                  "backward_ex dx only method %d threads %d rc %d", methods[mi], t, rc);
            rc = conv_backward_ex(&s, x, dy, NULL, NULL, dw, NULL, t, methods[mi], ALL_THREADS);
            CHECK(rc == CONV_OK && close_enough(dw, rdw, nw, 1e-4),
                  "backward_ex dw only method %d threads %d rc %d", methods[mi], t, rc);
        }
    rc = conv_backward_naive(&s, x, dy, wt, dx, dw, db);
    CHECK(rc == CONV_OK && close_enough(dx, rdx, nx, 1e-4) && close_enough(dw, rdw, nw, 1e-4) &&
              close_enough(db, rdb, k, 1e-4),
          "backward_naive rc %d " SHAPE_FMT, rc, SHAPE_ARGS);
    /* the memory floor: every element read and written (ASan checks the bounds); with one
     * part per image, out = x (+ dy) but for each image's last element */
    const int64_t pxi = c * h * w, pyi = k * OH * OW;
    for (int back = 0; back < 2; back++)
        for (int t = 1; t <= 3; t++) {
            float *o = back ? dx : y;
            const int64_t po = back ? pxi : pyi;
            rc = conv_stream_ex(&s, back, x, back ? dy : NULL, o, t);
            int same = rc == CONV_OK;
            for (int64_t i = 0; same && i < n && n >= t; i++)
                for (int64_t j = 0; j + 1 < po && j < pxi; j++) {
                    const float want = x[i * pxi + j] + (back && j < pyi ? dy[i * pyi + j] : 0.0f);
                    if (o[i * po + j] != want) { same = 0; break; }
                }
            CHECK(same, "stream backward %d threads %d rc %d " SHAPE_FMT, back, t, rc, SHAPE_ARGS);
        }
#undef SHAPE_FMT
#undef SHAPE_ARGS

    free(x); free(wt); free(b); free(dy); free(y); free(yn); free(dx); free(dw); free(db);
    free(ry); free(rdx); free(rdw); free(rdb);
}

static void bad_arguments(void)
{
    static float xb[4096], wb[4096], bb[64], yb[4096];
    conv_shape ok = {2, 3, 8, 9, 4, 3, 2, 1, 1, 0, 0};
    conv_shape s;
    int64_t oh, ow;

    CHECK(conv_output_size(NULL, &oh, &ow) == CONV_ENULL, "output_size NULL");
    CHECK(conv_output_size(&ok, NULL, NULL) == CONV_OK, "output_size NULL outputs");
    CHECK(conv_forward(&ok, NULL, wb, NULL, yb) == CONV_ENULL, "forward x NULL");
    CHECK(conv_forward(&ok, xb, NULL, NULL, yb) == CONV_ENULL, "forward wt NULL");
    CHECK(conv_forward(&ok, xb, wb, NULL, NULL) == CONV_ENULL, "forward y NULL");
    CHECK(conv_forward_naive(NULL, xb, wb, NULL, yb) == CONV_ENULL, "naive s NULL");
    CHECK(conv_backward_input(&ok, NULL, wb, xb) == CONV_ENULL, "bwd_in dy NULL");
    CHECK(conv_backward_input(&ok, yb, wb, NULL) == CONV_ENULL, "bwd_in dx NULL");
    CHECK(conv_backward_weight(&ok, xb, yb, NULL, bb) == CONV_ENULL, "bwd_w dw NULL");
    CHECK(conv_backward_weight(&ok, NULL, yb, wb, bb) == CONV_ENULL, "bwd_w x NULL");
    CHECK(conv_backward_ex(&ok, xb, NULL, wb, xb, wb, bb, 1, 0, 0.0) == CONV_ENULL,
          "bwd_ex dy NULL");
    CHECK(conv_backward_ex(&ok, xb, yb, NULL, xb, wb, bb, 1, 0, 0.0) == CONV_ENULL,
          "bwd_ex wt NULL");
    CHECK(conv_backward_ex(&ok, NULL, yb, wb, xb, wb, bb, 1, 0, 0.0) == CONV_ENULL,
          "bwd_ex x NULL");
    CHECK(conv_backward_ex(&ok, NULL, yb, NULL, NULL, NULL, NULL, 1, 0, 0.0) == CONV_OK,
          "bwd_ex none");
    CHECK(conv_backward_naive(&ok, xb, yb, wb, NULL, wb, bb) == CONV_ENULL, "bwd_naive dx NULL");
    CHECK(conv_forward_ex(&ok, xb, wb, NULL, yb, 0, 0, 0.0) == CONV_ETHREADS, "fwd_ex threads 0");
    CHECK(conv_forward_ex(&ok, xb, wb, NULL, yb, -3, 0, 0.0) == CONV_ETHREADS,
          "fwd_ex threads < 0");
    CHECK(conv_forward_ex(&ok, xb, wb, NULL, yb, 1, 3, 0.0) == CONV_EMETHOD, "fwd_ex method 3");
    CHECK(conv_forward_ex(&ok, xb, wb, NULL, yb, 1, -1, 0.0) == CONV_EMETHOD, "fwd_ex method -1");
    CHECK(conv_backward_ex(&ok, xb, yb, wb, xb, wb, bb, 0, 0, 0.0) == CONV_ETHREADS,
          "bwd_ex threads");
    CHECK(conv_backward_ex(&ok, xb, yb, wb, xb, wb, bb, 1, 7, 0.0) == CONV_EMETHOD,
          "bwd_ex method");
    CHECK(conv_forward_ex(&ok, xb, wb, NULL, yb, 1, 0, -1.0) == CONV_EOPTION, "fwd_ex min < 0");
    CHECK(conv_forward_ex(&ok, xb, wb, NULL, yb, 1, 0, NAN) == CONV_EOPTION, "fwd_ex min NaN");
    CHECK(conv_backward_ex(&ok, xb, yb, wb, xb, wb, bb, 1, 0, -1e-300) == CONV_EOPTION,
          "bwd_ex min < 0");
    CHECK(conv_backward_ex(&ok, xb, yb, wb, xb, wb, bb, 1, 0, NAN) == CONV_EOPTION,
          "bwd_ex min NaN");
    CHECK(conv_forward_ex(&ok, xb, wb, NULL, yb, 3, 0, INFINITY) == CONV_OK, "fwd_ex min inf");
    {
        static float dxb[4096], dwb[4096], dbb[64];
        CHECK(conv_backward_ex(&ok, xb, yb, wb, dxb, dwb, dbb, 3, 0, CONV_THREAD_MIN_FLOPS) ==
                  CONV_OK,
              "bwd_ex min default");
    }
    CHECK(conv_stream_ex(NULL, 0, xb, NULL, yb, 1) == CONV_ENULL, "stream s NULL");
    CHECK(conv_stream_ex(&ok, 0, NULL, NULL, yb, 1) == CONV_ENULL, "stream x NULL");
    CHECK(conv_stream_ex(&ok, 1, xb, NULL, xb, 1) == CONV_ENULL, "stream backward dy NULL");
    CHECK(conv_stream_ex(&ok, 0, xb, NULL, NULL, 1) == CONV_ENULL, "stream out NULL");
    CHECK(conv_stream_ex(&ok, 0, xb, NULL, yb, 0) == CONV_ETHREADS, "stream threads 0");
    CHECK(conv_method(&ok, CONV_PART_FORWARD) == CONV_METHOD_DIRECT, "method fat-like");
    CHECK(conv_method(&ok, 3) == -CONV_EMETHOD, "method bad part");
    CHECK(conv_method(NULL, 0) == -CONV_ENULL, "method NULL");
    {
        const conv_shape many = {1, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1};
        CHECK(conv_method(&many, CONV_PART_FORWARD) == CONV_METHOD_GEMM, "method many channels");
        CHECK(conv_method(&many, CONV_PART_BACKWARD_INPUT) == CONV_METHOD_GEMM, "method bwd in");
        CHECK(conv_method(&many, CONV_PART_BACKWARD_WEIGHT) == CONV_METHOD_GEMM, "method bwd w");
    }
    CHECK(conv_max_threads() >= 1, "max threads");

#define EXPECT(field, value, code)                                                             \
    do {                                                                                       \
        s = ok;                                                                                \
        s.field = (value);                                                                     \
        CHECK(conv_output_size(&s, &oh, &ow) == (code), "output_size " #field);               \
        CHECK(conv_forward(&s, xb, wb, bb, yb) == (code), "forward " #field);                 \
        CHECK(conv_forward_naive(&s, xb, wb, bb, yb) == (code), "naive " #field);             \
        CHECK(conv_backward_input(&s, yb, wb, xb) == (code), "bwd_in " #field);               \
        CHECK(conv_backward_weight(&s, xb, yb, wb, bb) == (code), "bwd_w " #field);           \
        CHECK(conv_forward_ex(&s, xb, wb, bb, yb, 2, 2, 0.0) == (code), "fwd_ex " #field);    \
        CHECK(conv_backward_ex(&s, xb, yb, wb, xb, wb, bb, 2, 1, 0.0) == (code),              \
              "bwd_ex " #field);                                                               \
        CHECK(conv_backward_naive(&s, xb, yb, wb, xb, wb, bb) == (code), "bwd_naive " #field); \
        CHECK((code) == CONV_OK || conv_method(&s, 0) == -(code), "method " #field);          \
    } while (0)
    EXPECT(n, 0, CONV_EEXTENT);
    EXPECT(c_in, -1, CONV_EEXTENT);
    EXPECT(h, 0, CONV_EEXTENT);
    EXPECT(w, 0, CONV_EEXTENT);
    EXPECT(c_out, 0, CONV_EEXTENT);
    EXPECT(kh, 0, CONV_EEXTENT);
    EXPECT(kw, -5, CONV_EEXTENT);
    EXPECT(stride_h, 0, CONV_ESTRIDE);
    EXPECT(stride_w, -1, CONV_ESTRIDE);
    EXPECT(pad_h, -1, CONV_EPADDING);
    EXPECT(pad_w, INT64_MIN, CONV_EPADDING);
    EXPECT(kh, 9, CONV_EKERNEL);
    EXPECT(kw, 10, CONV_EKERNEL);
    EXPECT(n, (int64_t)1 << 62, CONV_EOVERFLOW);
    EXPECT(n, INT64_MAX, CONV_EOVERFLOW);
    EXPECT(h, INT64_MAX, CONV_EOVERFLOW);
    EXPECT(pad_h, INT64_MAX, CONV_EOVERFLOW);
    EXPECT(pad_w, (int64_t)1 << 62, CONV_EOVERFLOW);
    EXPECT(c_out, (int64_t)1 << 61, CONV_EOVERFLOW);
    EXPECT(stride_h, INT64_MAX, CONV_OK); /* one output row: legal */
#undef EXPECT

    for (int code = -2; code < 12; code++) CHECK(conv_strerror(code) != NULL, "strerror");
    CHECK(strcmp(conv_strerror(99), "unknown error") == 0, "strerror unknown");
    CHECK(strstr(conv_strerror(CONV_EOPTION), "thread_min_flops") != NULL, "strerror option");
    CHECK(strstr(conv_build_info(), "compiler=") != NULL, "build_info");
}

int main(void)
{
    static const int64_t cases[][11] = {
        /* n  c  k   h   w  kh kw sh sw ph pw */
        {2, 3, 3, 37, 70, 3, 3, 1, 1, 0, 0},   /* fat-like */
        {5, 1, 1, 32, 32, 3, 3, 1, 1, 0, 0},   /* light-like */
        {1, 2, 9, 20, 33, 5, 4, 2, 1, 1, 2},   /* several output-channel blocks */
        {2, 3, 2, 9, 17, 9, 17, 1, 1, 0, 0},   /* kernel == input */
        {1, 1, 1, 8, 8, 12, 12, 1, 1, 2, 2},   /* kernel == padded input */
        {3, 2, 2, 15, 40, 1, 1, 1, 1, 0, 0},   /* K = 1 */
        {1, 1, 1, 5, 7, 1, 1, 1, 1, 2, 2},     /* K = 1, padding > K - 1 */
        {1, 2, 3, 11, 50, 3, 3, 3, 3, 2, 2},   /* stride 3 */
        {1, 1, 1, 1, 64, 1, 3, 1, 1, 0, 1},    /* one row */
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},     /* one pixel */
        {1, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1},     /* one pixel, padded */
        {2, 4, 5, 13, 9, 2, 3, 2, 3, 1, 0},
        {1, 3, 7, 6, 25, 3, 5, 1, 2, 0, 2},
        {3, 1, 2, 12, 15, 4, 2, 3, 1, 2, 1},
        {1, 2, 2, 17, 16, 3, 1, 1, 1, 1, 0},   /* OW == 16: no tail */
        {1, 2, 2, 7, 24, 2, 2, 1, 1, 0, 0},    /* OW == 23 */
        {1, 1, 3, 5, 10, 2, 2, 1, 1, 0, 0},    /* OW == 9: the narrow chunk */
        {2, 2, 3, 6, 6, 6, 6, 1, 1, 2, 2},
        {2, 9, 13, 11, 21, 3, 3, 1, 1, 1, 1},  /* GEMM by shape: tails of MR and NR */
        {3, 8, 8, 5, 7, 3, 2, 2, 3, 1, 2},     /* GEMM by shape, strided, padded */
        {1, 7, 20, 30, 40, 3, 3, 1, 1, 1, 1},  /* several im2col blocks */
        {2, 16, 16, 9, 9, 5, 5, 2, 2, 2, 2},
        {1, 1, 6, 8, 8, 6, 7, 2, 1, 0, 0},     /* kernel wider than most im2col runs */
        {3, 4, 4, 6, 38, 3, 38, 3, 1, 1, 0},   /* kernel as wide as the input */
        {1, 3, 1, 11, 6, 7, 8, 1, 1, 0, 1},
        {2, 1, 2, 7, 43, 3, 3, 1, 1, 0, 0},    /* one channel: a 4-vector strip + overlap */
        {1, 1, 1, 4, 27, 3, 3, 1, 1, 0, 1},    /* one channel: 3 vectors, the last overlapping */
        {2, 3, 5, 5, 33, 3, 3, 1, 1, 0, 0},    /* RGB-like, unrolled: 24-column chunks + tail */
        {1, 3, 3, 150, 151, 3, 3, 1, 1, 1, 2}, /* dx interior + frame (no padded copy of dy) */
        {1, 2, 2, 9000, 4, 3, 5, 1, 1, 1, 2},  /* dx all frame: dy narrower than the kernel */
        {1, 2, 3, 40, 301, 3, 3, 1, 1, 0, 0},  /* dw of a wide image, row by row */
    };
    const size_t ncases = sizeof cases / sizeof cases[0];
    int combos = 0;
    for (size_t i = 0; i < ncases; i++) {
        const int64_t *p = cases[i];
        run_case(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10]);
    }
    /* every stride 1-3 and padding 0-2 combination on small non-square shapes */
    for (int64_t sh = 1; sh <= 3; sh++)
        for (int64_t sw = 1; sw <= 3; sw++)
            for (int64_t ph = 0; ph <= 2; ph++)
                for (int64_t pw = 0; pw <= 2; pw++)
                    for (int64_t kh = 1; kh <= 3; kh += 2) {
                        run_case(2, 2, 3, 7, 29, kh, 3, sh, sw, ph, pw);
                        run_case(1, 1, 1, 4, 11, kh, 2, sh, sw, ph, pw);
                        combos += 2;
                    }
    /* random small geometries (the Python tests' hypothesis strategy, with a fixed seed):
     * kernels up to the padded input, rows narrow and wide */
    int randoms = 0;
    for (int i = 0; i < 40; i++) {
        const int64_t n = 1 + rnd(3), c = 1 + rnd(5), k = 1 + rnd(9), sh = 1 + rnd(3),
                      sw = 1 + rnd(3), ph = rnd(3), pw = rnd(3), h = 1 + rnd(12),
                      w = 1 + rnd(45);
        const int64_t kh = 1 + rnd(h + 2 * ph);
        const int64_t kw = rnd(5) == 0 ? w + 2 * pw : 1 + rnd(w + 2 * pw < 7 ? w + 2 * pw : 7);
        run_case(n, c, k, h, w, kh, kw, sh, sw, ph, pw);
        randoms++;
    }
    bad_arguments();
    if (failures) {
        fprintf(stderr, "sanitize: %d check(s) failed\n", failures);
        return 1;
    }
    printf("sanitize: %zu shapes, %d stride/padding combinations, %d random shapes (each with "
           "every method and 1-3 threads), argument checks: all OK\n", ncases, combos, randoms);
    return 0;
}
