/*
 * convbench C kernel: implements conv.h (read that first for the contract). This file holds the
 * public entry points of the kernel proper, their argument validation, the scratch plans, the
 * choice of method and the threads; the numerical work is in the other files:
 *
 *   conv_internal.h         shared types, vector helpers, the scratch plans, internal prototypes
 *   conv_info.c             the status messages (conv_strerror) and conv_build_info
 *   conv_direct_forward.c   method DIRECT, forward (also run by the direct input gradient)
 *   conv_direct_backward.c  method DIRECT, input and weight gradients; the bias gradient
 *   conv_gemm.c             method GEMM: forward, input and weight gradients
 *   conv_baselines.c        the textbook loops and the memory floor (conv_*_naive, stream)
 *
 * Layout: NCHW float32, C-contiguous; weights c_out x c_in x kh x kw. Cross-correlation with
 * zero padding, as torch.nn.functional.conv2d. C11 with GNU C vector extensions where the
 * compiler has them (a portable C fallback elsewhere), OpenMP threads where the compiler has
 * OpenMP (one thread otherwise). Two methods, chosen per part by shape (choose_method):
 * DIRECT (few channels: register-blocked direct convolution) and GEMM (many channels: im2col
 * or implicit GEMM over a 6 x 16 micro-kernel); each file's header says how.
 *
 * Threads split the batch (and, with fewer images than threads, the rows or pixel blocks of an
 * image); no more threads than the work pays for (thread_min_flops, passed in by the caller).
 * Backward computes both gradients of an image in one pass (x, dy read once), each thread
 * summing its images' dw, db in double, the threads' sums added in thread order; a large
 * image's two direct gradients go by bands of rows (dx, then dw of the same rows), so each
 * band of dy comes from memory once.
 *
 * All extents and index arithmetic are int64_t; every entry point validates its arguments
 * (including that every element count and byte size, scratch buffers too, fits in int64: the
 * scratch plans below give every buffer's size, for that check and for the allocation) before
 * it touches memory.
 */
#include "conv_internal.h"

#include <stdint.h>
#include <stdlib.h>

#define PBMAX 1024     /* GEMM: the most pixels per im2col block */
#define GEMM_MIN_M 8   /* auto: GEMM needs at least this many output rows */
#define GEMM_MIN_KD 32 /* and a reduction at least this long (c_in * kh * kw) */
#define DX_PLACE_MAX 65536 /* direct dx: the largest padded dy image (floats) worth a copy */
#define BAND_ROWS 16 /* direct backward of a large image: rows per band (dx then dw) */

/* ------------------------------------------------------------------------------------------
 * Scratch plans: every scratch buffer's size (overflow-checked int64 arithmetic); allocation
 * ------------------------------------------------------------------------------------------ */

/* a * b, a + b and round_up(a, m) for a, b >= 0, m >= 1; on overflow *ok is cleared (and the
 * result is 0, so the sums and products after it stay defined). */
static int64_t ck_mul(int *ok, int64_t a, int64_t b)
{
    if (a != 0 && b > INT64_MAX / a) {
        *ok = 0;
        return 0;
    }
    return a * b;
}

static int64_t ck_add(int *ok, int64_t a, int64_t b)
{
    if (b > INT64_MAX - a) {
        *ok = 0;
        return 0;
    }
    return a + b;
}

static int64_t ck_round(int *ok, int64_t a, int64_t m)
{
    return ck_mul(ok, ck_add(ok, a, m - 1) / m, m);
}

/* count elements of `size` bytes fit in an int64 and a size_t/ptrdiff_t */
static void ck_bytes(int *ok, int64_t count, int64_t size)
{
    const int64_t bytes = ck_mul(ok, count, size);
    if ((uint64_t)bytes > (uint64_t)PTRDIFF_MAX) *ok = 0;
}

/* GEMM with im2col: pixels per block, the block (Kd x PB floats) about 192 KiB, a multiple of
 * NR. */
static int64_t gemm_block(int64_t Kd)
{
    int64_t pb = (int64_t)49152 / (Kd > 0 ? Kd : 1);
    pb -= pb % NR;
    if (pb < NR) pb = NR;
    if (pb > PBMAX) pb = PBMAX;
    return pb;
}

/* The forward pass's scratch with `method` (DIRECT or GEMM) for a shape whose extents, padded
 * extents and caller buffers check_shape has checked. CONV_OK, or CONV_EOVERFLOW when a size
 * does not fit. */
static int plan_forward(const conv_shape *s, int64_t OW, int method, fwd_plan *p)
{
    int ok = 1;
    const int64_t hp = s->h + 2 * s->pad_h, wp = s->w + 2 * s->pad_w;
    const int64_t Kd = ck_mul(&ok, ck_mul(&ok, s->c_in, s->kh), s->kw);
    const int64_t image = ck_mul(&ok, ck_mul(&ok, s->c_in, hp), wp);
    memset(p, 0, sizeof *p);
    p->method = method;
    p->padded = s->pad_h != 0 || s->pad_w != 0;
    if (method == CONV_METHOD_GEMM) {
        const int64_t Kp = ck_round(&ok, s->c_out, MR); /* the weights' rows in panels */
        /* at stride 1 the image is read in place (gemm_implicit_rows) instead of im2col */
        p->implicit = s->stride_h == 1 && s->stride_w == 1 && OW >= L;
        p->packed_a = ck_mul(&ok, Kp, Kd);
        if (p->implicit) {
            p->tap_offs = Kd;
            p->sums = ck_mul(&ok, Kp, NR);
            p->image = p->padded ? image : 0;
        } else {
            p->ldc = gemm_block(Kd);
            p->cols = ck_mul(&ok, ck_add(&ok, Kd, Kp), p->ldc); /* the block, then the sums */
        }
    } else {
        p->image = p->padded ? image : 0;
    }
    ck_bytes(&ok, p->packed_a, (int64_t)sizeof(float));
    ck_bytes(&ok, p->tap_offs, (int64_t)sizeof(int64_t));
    ck_bytes(&ok, p->image, (int64_t)sizeof(float));
    ck_bytes(&ok, p->cols, (int64_t)sizeof(float));
    ck_bytes(&ok, p->sums, (int64_t)sizeof(float));
    return ok ? CONV_OK : CONV_EOVERFLOW;
}

/* The backward pass's scratch with methods mi (input gradient) and mw (weight gradient), for
 * the gradients asked for (do_dx, do_dw, do_db), likewise. */
static int plan_backward(const conv_shape *s, int mi, int mw, int do_dx, int do_dw, int do_db,
                         bwd_plan *p)
{
    int ok = 1;
    const int64_t C = s->c_in, H = s->h, W = s->w, K = s->c_out, KH = s->kh, KW = s->kw;
    const int64_t hp = H + 2 * s->pad_h, wp = W + 2 * s->pad_w;
    const int64_t taps = ck_mul(&ok, KH, KW);
    const int64_t nw = ck_mul(&ok, ck_mul(&ok, K, C), taps);
    memset(p, 0, sizeof *p);
    p->mi = mi;
    p->mw = mw;
    p->padded = s->pad_h != 0 || s->pad_w != 0;
    if (do_dx && mi == CONV_METHOD_GEMM) {
        const int64_t KdI = ck_mul(&ok, K, taps), Cp = ck_round(&ok, C, MR);
        p->ldci = gemm_block(KdI);
        p->wa = ck_mul(&ok, Cp, KdI);                             /* packed weights */
        p->dx_buf = ck_mul(&ok, ck_add(&ok, KdI, Cp), p->ldci); /* im2col of dy, sums */
    } else if (do_dx) {
        /* dy dilated by the stride and zero-padded by k - 1 - pad: Hd x Wd */
        p->Hd = ck_add(&ok, H, KH - 1);
        p->Wd = ck_add(&ok, W, KW - 1);
        const int64_t dy_image = ck_mul(&ok, ck_mul(&ok, K, p->Hd), p->Wd);
        /* a large image at stride 1: no padded copy of dy (dx_frame_rows) */
        p->dx_frame = s->stride_h == 1 && s->stride_w == 1 && s->pad_h <= KH - 1 &&
                      s->pad_w <= KW - 1 && dy_image > DX_PLACE_MAX;
        p->wa = nw; /* flipped, channel axes swapped */
        p->dx_buf = p->dx_frame ? ck_mul(&ok, ck_mul(&ok, ck_mul(&ok, 2, K), KH),
                                         ck_add(&ok, W, ck_mul(&ok, 2, KW)))
                                : dy_image;
    }
    if (do_dw && mw == CONV_METHOD_GEMM) {
        const int64_t KdWp = ck_round(&ok, ck_mul(&ok, C, taps), MR);
        p->ldcw = gemm_block(KdWp);
        p->Kpad = ck_round(&ok, K, NR);
        p->cols = ck_mul(&ok, KdWp, p->ldcw);
        p->dyt = ck_mul(&ok, p->ldcw, p->Kpad);
        p->dwt = ck_mul(&ok, KdWp, p->Kpad);
    } else if (do_dw) {
        p->lanes = ck_mul(&ok, nw, VW);
        p->x_pad = p->padded ? ck_mul(&ok, ck_mul(&ok, C, hp), wp) : 0;
    }
    p->acc = do_dw || do_db ? ck_add(&ok, nw, K) : 0;
    ck_bytes(&ok, p->wa, (int64_t)sizeof(float));
    ck_bytes(&ok, p->acc, (int64_t)sizeof(double));
    ck_bytes(&ok, p->dx_buf, (int64_t)sizeof(float));
    ck_bytes(&ok, p->lanes, (int64_t)sizeof(float));
    ck_bytes(&ok, p->x_pad, (int64_t)sizeof(float));
    ck_bytes(&ok, p->cols, (int64_t)sizeof(float));
    ck_bytes(&ok, p->dyt, (int64_t)sizeof(float));
    ck_bytes(&ok, p->dwt, (int64_t)sizeof(float));
    return ok ? CONV_OK : CONV_EOVERFLOW;
}

/* a plan's buffer: count floats (one at least), uninitialised or zeroed */
static float *alloc_floats(int64_t count)
{
    return (float *)malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
}

static float *zeroed_floats(int64_t count)
{
    return (float *)calloc((size_t)(count > 0 ? count : 1), sizeof(float));
}

/* ------------------------------------------------------------------------------------------
 * Argument checks
 * ------------------------------------------------------------------------------------------ */

/* a * b * c * d elements of `size` bytes fit in int64 and in a size_t/ptrdiff_t. */
static int count_ok(int64_t a, int64_t b, int64_t c, int64_t d, int64_t size)
{
    int ok = 1;
    ck_bytes(&ok, ck_mul(&ok, ck_mul(&ok, ck_mul(&ok, a, b), c), d), size);
    return ok;
}

/* Everything a shape must satisfy for every entry point, the scratch of every method
 * included; gives the output size. */
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
    /* the scratch of every method: forward with each, backward with every gradient (a mixed
     * backward, DIRECT for one gradient and GEMM for the other, has the buffers of these two) */
    fwd_plan fp;
    bwd_plan bp;
    if (plan_forward(s, o_w, CONV_METHOD_DIRECT, &fp) != CONV_OK ||
        plan_forward(s, o_w, CONV_METHOD_GEMM, &fp) != CONV_OK ||
        plan_backward(s, CONV_METHOD_DIRECT, CONV_METHOD_DIRECT, 1, 1, 1, &bp) != CONV_OK ||
        plan_backward(s, CONV_METHOD_GEMM, CONV_METHOD_GEMM, 1, 1, 1, &bp) != CONV_OK)
        return CONV_EOVERFLOW;
    if (oh) *oh = o_h;
    if (ow) *ow = o_w;
    return CONV_OK;
}

int conv_output_size(const conv_shape *s, int64_t *oh, int64_t *ow)
{
    return check_shape(s, oh, ow);
}

/* The options of an _ex call. */
static int check_call(int threads, int method, double thread_min_flops)
{
    if (threads < 1) return CONV_ETHREADS;
    if (method != CONV_METHOD_AUTO && method != CONV_METHOD_DIRECT && method != CONV_METHOD_GEMM)
        return CONV_EMETHOD;
    if (!(thread_min_flops >= 0.0)) return CONV_EOPTION; /* (NaN too) */
    return CONV_OK;
}

/* ------------------------------------------------------------------------------------------
 * Threads and the choice of method
 * ------------------------------------------------------------------------------------------ */

int conv_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* No more threads than the work pays for: waking a thread costs microseconds (milliseconds
 * on a busy machine), so each gets at least `least` FLOPs (the caller's thread_min_flops; 0:
 * every thread asked for). Depends only on the shape, the thread count asked for and least. */
static int useful_threads(int threads, double flops, double least)
{
    if (least <= 0.0) return threads;
    const double most = flops / least;
    return most < (double)threads ? (most < 1.0 ? 1 : (int)most) : threads;
}

/* The threads a call runs: no more than its parts (items) */
static int team_size(int64_t items, int threads)
{
#ifdef _OPENMP
    return items < threads ? (int)items : threads;
#else
    (void)items;
    (void)threads;
    return 1;
#endif
}

/* How a call's work is split: parts per image (R), images x parts (items), threads (T), for
 * `flops` of work over n images and the threads asked for. */
static void split_work(int64_t n, int threads, double flops, double least, int64_t *R,
                       int64_t *items, int *T)
{
    threads = useful_threads(threads, flops, least);
    *R = parts_per_image(n, threads);
    *items = n * *R;
    *T = team_size(*items, threads);
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

/* ------------------------------------------------------------------------------------------
 * Forward: the plan, the shared buffers, then each thread's parts of images
 * ------------------------------------------------------------------------------------------ */

/* A forward call: its arguments, its plan, its split and the buffers its threads share. */
typedef struct fwd_call {
    const conv_shape *s;
    int64_t OH, OW;
    const float *x, *wt, *b;
    float *y;
    fwd_plan plan;
    int64_t R, items; /* parts per image; images x parts */
    int T;            /* threads */
    float *ap;        /* GEMM: the packed weights */
    int64_t *off;     /* implicit GEMM: the tap offsets */
} fwd_call;

/* One thread's scratch (the plan's per-thread buffers) and the image last placed in it. */
typedef struct fwd_scratch {
    float *image, *cols, *sums;
    int64_t last;
} fwd_scratch;

/* The method, the plan and the threads of a validated call. */
static int fwd_setup(fwd_call *c, int threads, int method, double thread_min_flops)
{
    const conv_shape *s = c->s;
    const int m = method == CONV_METHOD_AUTO ? choose_method(s, CONV_PART_FORWARD) : method;
    const int rc = plan_forward(s, c->OW, m, &c->plan);
    if (rc != CONV_OK) return rc;
    const int64_t N = s->n, K = s->c_out, P = c->OH * c->OW, Kd = s->c_in * s->kh * s->kw;
    split_work(N, threads, 2.0 * (double)(N * K * P) * (double)Kd, thread_min_flops, &c->R,
               &c->items, &c->T);
    return CONV_OK;
}

/* GEMM: the weights packed once, and for the implicit GEMM the tap offsets. */
static int fwd_shared(fwd_call *c)
{
    const conv_shape *s = c->s;
    const int64_t C = s->c_in, K = s->c_out, KH = s->kh, KW = s->kw;
    if (c->plan.method == CONV_METHOD_GEMM) {
        c->ap = alloc_floats(c->plan.packed_a);
        if (c->ap == NULL) return CONV_ENOMEM;
        gemm_pack_fwd(K, C * KH * KW, c->wt, c->ap);
    }
    if (c->plan.implicit) {
        c->off = (int64_t *)malloc((size_t)c->plan.tap_offs * sizeof(int64_t));
        if (c->off == NULL) return CONV_ENOMEM;
        gemm_tap_offsets(C, KH, KW, s->h + 2 * s->pad_h, s->w + 2 * s->pad_w, c->off);
    }
    return CONV_OK;
}

static int fwd_scratch_alloc(const fwd_plan *p, fwd_scratch *t)
{
    t->image = p->image ? zeroed_floats(p->image) : NULL;
    t->cols = p->cols ? alloc_floats(p->cols) : NULL;
    t->sums = p->sums ? alloc_floats(p->sums) : NULL;
    t->last = -1;
    return (!p->image || t->image) && (!p->cols || t->cols) && (!p->sums || t->sums);
}

/* GEMM: part r of R of image i, its output rows (or pixels, with im2col). (The direct method
 * runs a thread's items in conv_direct_forward.c: fwd_direct_items.) */
static void fwd_gemm_part(const fwd_call *c, fwd_scratch *t, int64_t i, int64_t r)
{
    const conv_shape *s = c->s;
    const fwd_plan *p = &c->plan;
    const int64_t C = s->c_in, H = s->h, W = s->w, K = s->c_out, KH = s->kh, KW = s->kw;
    const int64_t OH = c->OH, OW = c->OW, P = OH * OW, R = c->R;
    const int64_t hp = H + 2 * s->pad_h, wp = W + 2 * s->pad_w;
    const float *xi = c->x + i * C * H * W;
    float *yi = c->y + i * K * P;
    if (!p->implicit) { /* padding and stride in the im2col */
        gemm_forward_pixels(s, OH, OW, c->ap, xi, c->b, yi, split_at(P, R, r),
                            split_at(P, R, r + 1), p->ldc, t->cols);
        return;
    }
    if (p->padded) {
        if (t->last != i) place(C, H, W, xi, s->pad_h, s->pad_w, 1, 1, hp, wp, t->image);
        t->last = i;
        xi = t->image;
    }
    gemm_implicit_rows(K, C * KH * KW, c->ap, xi, wp, c->off, c->b, OW, P, split_at(OH, R, r),
                       split_at(OH, R, r + 1), yi, t->sums);
}

/* The parts of the images split over the threads, each with its own scratch. */
static int fwd_run(const fwd_call *c)
{
    int failed = 0;
    const int T = c->T;
    (void)T; /* (unused without OpenMP) */
#ifdef _OPENMP
#pragma omp parallel num_threads(T) if (T > 1) reduction(| : failed)
#endif
    {
        const int t = THREAD_ID(), nt = THREAD_COUNT();
        fwd_scratch sc;
        if (!fwd_scratch_alloc(&c->plan, &sc)) {
            failed = 1;
        } else {
            const int64_t R = c->R, it0 = split_at(c->items, nt, t);
            const int64_t it1 = split_at(c->items, nt, t + 1);
            if (c->plan.method == CONV_METHOD_DIRECT)
                fwd_direct_items(c->s, c->OH, c->OW, c->x, c->wt, c->b, c->y, R, it0, it1,
                                 sc.image, &sc.last);
            else
                for (int64_t it = it0; it < it1; it++)
                    fwd_gemm_part(c, &sc, R == 1 ? it : it / R, R == 1 ? 0 : it % R);
        }
        free(sc.image);
        free(sc.cols);
        free(sc.sums);
    }
    return failed ? CONV_ENOMEM : CONV_OK;
}

int conv_forward_ex(const conv_shape *s, const float *x, const float *wt, const float *b, float *y,
                    int threads, int method, double thread_min_flops)
{
    if (s == NULL || x == NULL || wt == NULL || y == NULL) return CONV_ENULL;
    fwd_call c = {.s = s, .x = x, .wt = wt, .b = b, .y = y};
    int rc = check_shape(s, &c.OH, &c.OW);
    if (rc != CONV_OK) return rc;
    rc = check_call(threads, method, thread_min_flops);
    if (rc == CONV_OK) rc = fwd_setup(&c, threads, method, thread_min_flops);
    if (rc == CONV_OK) rc = fwd_shared(&c);
    if (rc == CONV_OK) rc = fwd_run(&c);
    free(c.ap);
    free(c.off);
    return rc;
}

int conv_forward(const conv_shape *s, const float *x, const float *wt, const float *b, float *y)
{
    return conv_forward_ex(s, x, wt, b, y, 1, CONV_METHOD_AUTO, CONV_THREAD_MIN_FLOPS);
}

/* ------------------------------------------------------------------------------------------
 * Backward: the plan, the shared buffers, each thread's parts of images (by bands of rows:
 * dx, then dw), the bias, and the threads' sums of dw and db
 * ------------------------------------------------------------------------------------------ */

/* A backward call: its arguments, what it computes, its plan, its split and the buffers its
 * threads share. */
typedef struct bwd_call {
    const conv_shape *s;
    int64_t OH, OW;
    const float *x, *dy, *wt;
    float *dx, *dw, *db;
    int do_dx, do_dw, do_db;
    int banded;       /* a large image's two direct gradients by bands of rows */
    bwd_plan plan;
    int64_t R, items; /* parts per image; images x parts */
    int T;            /* threads */
    float *wa;        /* dx: the weights flipped and swapped (DIRECT) or packed (GEMM) */
    double *accs;     /* T x plan.acc: each thread's sums of dw, then db */
} bwd_call;

/* One thread's scratch (the plan's per-thread buffers), its sums, and the images last placed
 * in its padded copies. */
typedef struct bwd_scratch {
    float *dx_buf, *lanes, *x_pad, *cols, *dyt, *dwt;
    double *acc;
    int64_t last_dy, last_x;
} bwd_scratch;

/* The methods, the plan, the bands and the threads of a validated call. */
static int bwd_setup(bwd_call *c, int threads, int method, double thread_min_flops)
{
    const conv_shape *s = c->s;
    const int auto_m = method == CONV_METHOD_AUTO;
    const int mi = auto_m ? choose_method(s, CONV_PART_BACKWARD_INPUT) : method;
    const int mw = auto_m ? choose_method(s, CONV_PART_BACKWARD_WEIGHT) : method;
    const int rc = plan_backward(s, mi, mw, c->do_dx, c->do_dw, c->do_db, &c->plan);
    if (rc != CONV_OK) return rc;
    /* dx by the frame path and dw direct: both by bands, so a band of dy is read once */
    c->banded = c->plan.dx_frame && c->do_dx && c->do_dw && mw == CONV_METHOD_DIRECT;
    const int64_t N = s->n, C = s->c_in, K = s->c_out, KH = s->kh, KW = s->kw;
    const int64_t P = c->OH * c->OW;
    split_work(N, threads,
               2.0 * (double)(N * K * P) * (double)(C * KH * KW) *
                   (c->do_dx + c->do_dw + (c->do_db && !c->do_dw && !c->do_dx)),
               thread_min_flops, &c->R, &c->items, &c->T);
    return CONV_OK;
}

/* The weights arranged for the input gradient; every thread's sums of dw and db (zeroed). */
static int bwd_shared(bwd_call *c)
{
    const conv_shape *s = c->s;
    const int64_t C = s->c_in, K = s->c_out, KH = s->kh, KW = s->kw;
    if (c->do_dx) {
        c->wa = alloc_floats(c->plan.wa);
        if (c->wa == NULL) return CONV_ENOMEM;
        if (c->plan.mi == CONV_METHOD_GEMM)
            gemm_pack_bwd(C, K, KH * KW, c->wt, c->wa);
        else
            dx_flip_weights(C, K, KH, KW, c->wt, c->wa);
    }
    if (c->plan.acc > 0) {
        const int64_t nacc = c->plan.acc;
        if ((uint64_t)nacc > (uint64_t)PTRDIFF_MAX / sizeof(double) / (uint64_t)c->T)
            return CONV_ENOMEM;
        c->accs = (double *)calloc((size_t)nacc * (size_t)c->T, sizeof(double));
        if (c->accs == NULL) return CONV_ENOMEM;
    }
    return CONV_OK;
}

static int bwd_scratch_alloc(const bwd_call *c, int t, bwd_scratch *sc)
{
    const bwd_plan *p = &c->plan;
    /* zeroed: the padded copies (only their images' positions are written) and the GEMM
     * weight gradient's blocks (their rows and columns past the matrices stay zero) */
    const int dx_zeroed = p->mi == CONV_METHOD_DIRECT && !p->dx_frame;
    sc->dx_buf = !p->dx_buf ? NULL : dx_zeroed ? zeroed_floats(p->dx_buf) : alloc_floats(p->dx_buf);
    sc->lanes = p->lanes ? alloc_floats(p->lanes) : NULL;
    sc->x_pad = p->x_pad ? zeroed_floats(p->x_pad) : NULL;
    sc->cols = p->cols ? zeroed_floats(p->cols) : NULL;
    sc->dyt = p->dyt ? zeroed_floats(p->dyt) : NULL;
    sc->dwt = p->dwt ? alloc_floats(p->dwt) : NULL;
    sc->acc = c->accs ? c->accs + (int64_t)t * p->acc : NULL;
    sc->last_dy = sc->last_x = -1;
    return (!p->dx_buf || sc->dx_buf) && (!p->lanes || sc->lanes) && (!p->x_pad || sc->x_pad) &&
           (!p->cols || sc->cols) && (!p->dyt || sc->dyt) && (!p->dwt || sc->dwt);
}

static void bwd_scratch_free(bwd_scratch *sc)
{
    free(sc->dx_buf);
    free(sc->lanes);
    free(sc->x_pad);
    free(sc->cols);
    free(sc->dyt);
    free(sc->dwt);
}

/* The input gradient of image i: rows [hb0, hb1) (DIRECT), or part r's pixels (GEMM). */
static void bwd_dx(const bwd_call *c, bwd_scratch *sc, int64_t i, int64_t r, int64_t hb0,
                   int64_t hb1)
{
    const conv_shape *s = c->s;
    const bwd_plan *p = &c->plan;
    const int64_t C = s->c_in, H = s->h, W = s->w, K = s->c_out, KH = s->kh, KW = s->kw;
    const int64_t OH = c->OH, OW = c->OW, ph = s->pad_h, pw = s->pad_w;
    const float *dyi = c->dy + i * K * OH * OW;
    float *dxi = c->dx + i * C * H * W;
    if (p->mi == CONV_METHOD_GEMM) {
        gemm_dx_pixels(s, OH, OW, c->wa, dyi, dxi, split_at(H * W, c->R, r),
                       split_at(H * W, c->R, r + 1), p->ldci, sc->dx_buf);
    } else if (p->dx_frame) {
        dx_frame_rows(C, K, H, W, OH, OW, KH, KW, ph, pw, dyi, c->wa, dxi, hb0, hb1, sc->dx_buf,
                      p->dx_buf);
    } else {
        /* dx = correlation of dy placed with stride and padding k-1-pad into Hd x Wd with the
         * flipped, transposed weights */
        if (sc->last_dy != i)
            place(K, OH, OW, dyi, KH - 1 - ph, KW - 1 - pw, s->stride_h, s->stride_w, p->Hd,
                  p->Wd, sc->dx_buf);
        sc->last_dy = i;
        fwd_core_rows_s1(K, p->Hd, p->Wd, C, KH, KW, H, W, hb0, hb1, sc->dx_buf, c->wa, NULL,
                         dxi, W, H * W);
    }
}

/* The weight gradient of image i's output rows [ob0, ob1), into the thread's sums. */
static void bwd_dw(const bwd_call *c, bwd_scratch *sc, int64_t i, int64_t ob0, int64_t ob1)
{
    const conv_shape *s = c->s;
    const bwd_plan *p = &c->plan;
    const int64_t C = s->c_in, H = s->h, W = s->w, K = s->c_out, OH = c->OH, OW = c->OW;
    const int64_t hp = H + 2 * s->pad_h, wp = W + 2 * s->pad_w;
    const float *dyi = c->dy + i * K * OH * OW;
    const float *xi = c->x + i * C * H * W;
    if (p->mw == CONV_METHOD_GEMM) {
        bww_gemm_rows(s, OH, OW, xi, dyi, ob0, ob1, sc->cols, p->ldcw, sc->dyt, p->Kpad, sc->dwt,
                      sc->acc);
        return;
    }
    if (p->padded) {
        if (sc->last_x != i) place(C, H, W, xi, s->pad_h, s->pad_w, 1, 1, hp, wp, sc->x_pad);
        sc->last_x = i;
        xi = sc->x_pad;
    }
    bww_direct_rows(s, OH, OW, xi, hp, wp, dyi, ob0, ob1, sc->lanes, sc->acc);
}

/* Part r of image i: its rows' gradients, a large image's by bands (dx then dw of the same
 * rows, so each band of dy comes from memory once for both), then its bias gradient. */
static void bwd_part(const bwd_call *c, bwd_scratch *sc, int64_t i, int64_t r)
{
    const int64_t H = c->s->h, K = c->s->c_out, OH = c->OH, OW = c->OW, R = c->R;
    const int64_t h0 = split_at(H, R, r), h1 = split_at(H, R, r + 1);
    const int64_t oh0 = split_at(OH, R, r), oh1 = split_at(OH, R, r + 1);
    const int64_t nb = c->banded && h1 - h0 >= 2 * BAND_ROWS ? (h1 - h0) / BAND_ROWS : 1;
    for (int64_t bi = 0; bi < nb; bi++) {
        const int64_t hb0 = h0 + split_at(h1 - h0, nb, bi);
        const int64_t hb1 = h0 + split_at(h1 - h0, nb, bi + 1);
        const int64_t ob0 = oh0 + split_at(oh1 - oh0, nb, bi);
        const int64_t ob1 = oh0 + split_at(oh1 - oh0, nb, bi + 1);
        if (c->do_dx) bwd_dx(c, sc, i, r, hb0, hb1);
        if (c->do_dw && ob1 > ob0) bwd_dw(c, sc, i, ob0, ob1);
    }
    if (c->do_db && oh1 > oh0)
        bias_rows(K, OH * OW, c->dy + i * K * OH * OW, oh0 * OW, oh1 * OW,
                  sc->acc + (c->plan.acc - K));
}

/* The parts of the images split over the threads, each with its own scratch and sums. */
static int bwd_run(const bwd_call *c)
{
    int failed = 0;
    const int T = c->T;
    (void)T; /* (unused without OpenMP) */
#ifdef _OPENMP
#pragma omp parallel num_threads(T) if (T > 1) reduction(| : failed)
#endif
    {
        const int t = THREAD_ID(), nt = THREAD_COUNT();
        bwd_scratch sc;
        if (!bwd_scratch_alloc(c, t, &sc)) {
            failed = 1;
        } else {
            const int64_t R = c->R, it1 = split_at(c->items, nt, t + 1);
            for (int64_t it = split_at(c->items, nt, t); it < it1; it++)
                bwd_part(c, &sc, R == 1 ? it : it / R, R == 1 ? 0 : it % R);
        }
        bwd_scratch_free(&sc);
    }
    return failed ? CONV_ENOMEM : CONV_OK;
}

/* dw and db: the threads' sums, in thread order. */
static void bwd_sum_threads(const bwd_call *c)
{
    const int64_t nacc = c->plan.acc, K = c->s->c_out, nw = nacc - K;
    if (c->do_dw)
        for (int64_t k = 0; k < nw; k++) {
            double sum = 0.0;
            for (int t = 0; t < c->T; t++) sum += c->accs[(int64_t)t * nacc + k];
            c->dw[k] = (float)sum;
        }
    if (c->do_db)
        for (int64_t oc = 0; oc < K; oc++) {
            double sum = 0.0;
            for (int t = 0; t < c->T; t++) sum += c->accs[(int64_t)t * nacc + nw + oc];
            c->db[oc] = (float)sum;
        }
}

int conv_backward_ex(const conv_shape *s, const float *x, const float *dy, const float *wt,
                     float *dx, float *dw, float *db, int threads, int method,
                     double thread_min_flops)
{
    if (s == NULL || dy == NULL || (dx != NULL && wt == NULL) || (dw != NULL && x == NULL))
        return CONV_ENULL;
    bwd_call c = {.s = s, .x = x, .dy = dy, .wt = wt, .dx = dx, .dw = dw, .db = db,
                  .do_dx = dx != NULL, .do_dw = dw != NULL, .do_db = db != NULL};
    int rc = check_shape(s, &c.OH, &c.OW);
    if (rc != CONV_OK) return rc;
    rc = check_call(threads, method, thread_min_flops);
    if (rc != CONV_OK) return rc;
    if (!c.do_dx && !c.do_dw && !c.do_db) return CONV_OK;
    rc = bwd_setup(&c, threads, method, thread_min_flops);
    if (rc == CONV_OK) rc = bwd_shared(&c);
    if (rc == CONV_OK) rc = bwd_run(&c);
    if (rc == CONV_OK) bwd_sum_threads(&c);
    free(c.wa);
    free(c.accs);
    return rc;
}

int conv_backward_input(const conv_shape *s, const float *dy, const float *wt, float *dx)
{
    if (s == NULL || dy == NULL || wt == NULL || dx == NULL) return CONV_ENULL;
    return conv_backward_ex(s, NULL, dy, wt, dx, NULL, NULL, 1, CONV_METHOD_AUTO,
                            CONV_THREAD_MIN_FLOPS);
}

int conv_backward_weight(const conv_shape *s, const float *x, const float *dy, float *dw,
                         float *db)
{
    if (s == NULL || x == NULL || dy == NULL || dw == NULL) return CONV_ENULL;
    return conv_backward_ex(s, x, dy, NULL, NULL, dw, db, 1, CONV_METHOD_AUTO,
                            CONV_THREAD_MIN_FLOPS);
}
