"""The direct method's shape-specialised paths, each against the numpy reference at its edges:

- forward with one input channel, 3 x 3, stride 1: the sliding-row kernel (strips of 1-4
  vectors, the last vector or strip overlapping; 1, 2 and more output rows; rows split
  between threads);
- forward with three input channels, 3 x 3, stride 1: the fully unrolled block (one row of
  three vectors), with the pixel, 8-column and 24-column paths and 1-5 output channels;
- backward-input of a large image at stride 1 without a padded copy of dy (interior plus
  frame), including an image narrower than the kernel (all frame) and row splits;
- backward-weight walked row by row (rows of 16 columns and more) or down the columns
  (narrower), with an inf in the overlapping last chunk.
"""
from __future__ import annotations

import numpy as np
import pytest

from convbench import kernel, reference

from test_kernel import assert_close, make


@pytest.fixture(autouse=True)
def every_thread(monkeypatch):
    """The C kernel gives small calls fewer threads than asked; these tests want them all."""
    monkeypatch.setattr(kernel, "THREAD_MIN_FLOPS", 0.0)


def check_forward(n, c, k, h, w, kh, kw, padding=0, stride=1, threads=1, seed=0):
    rng = np.random.default_rng(seed)
    x, wt, b = make(rng, n, c, k, h, w, kh, kw)
    y = kernel.forward(x, wt, b, stride=stride, padding=padding, threads=threads)
    assert_close(y, reference.conv2d_forward(x, wt, b, stride=stride, padding=padding))
    return x, wt, b, y


def check_backward(n, c, k, h, w, kh, kw, padding=0, stride=1, threads=1, seed=0):
    rng = np.random.default_rng(seed)
    x, wt, _ = make(rng, n, c, k, h, w, kh, kw)
    oh, ow = kernel.output_shape(x.shape, wt.shape, stride, padding)[2:]
    dy = rng.standard_normal((n, k, oh, ow), dtype=np.float32)
    got = kernel.backward(x, wt, dy, stride=stride, padding=padding, threads=threads)
    ref = reference.conv2d_backward(x, wt, dy, stride=stride, padding=padding)
    for g, r in zip(got, ref):
        assert_close(g, r)


# ---- one input channel, 3 x 3, stride 1 --------------------------------------------------

@pytest.mark.parametrize("w", [10, 11, 17, 18, 19, 25, 26, 27, 33, 34, 35, 42, 65, 66, 67, 99])
@pytest.mark.parametrize("h", [3, 4, 5, 7, 12])
def test_single_channel_every_strip_width_and_row_count(h, w):
    # output widths 8..97: strips of 1, 2, 3, 4 vectors, overlapping last vector / strip;
    # output rows 1, 2, 3, 5, 10 (the kernel's prologue, steady rows and epilogue)
    check_forward(2, 1, 2, h, w, 3, 3)


@pytest.mark.parametrize("padding", [1, 2, (0, 1), (2, 0)])
def test_single_channel_padded(padding):
    check_forward(3, 1, 3, 9, 30, 3, 3, padding=padding)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("h", [4, 9, 34])
def test_single_channel_rows_split_between_threads(h, threads):
    # one image: each thread gets a block of rows (some with one or two rows)
    x, wt, b, y = check_forward(1, 1, 2, h, 37, 3, 3, threads=threads)
    assert np.array_equal(y, kernel.forward(x, wt, b, threads=1))  # the same bits


def test_single_channel_light_shape_backward():
    check_backward(4, 1, 1, 32, 32, 3, 3)


# ---- three input channels, 3 x 3, stride 1 (RGB-like) ------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("w", [5, 9, 10, 17, 25, 26, 27, 40, 51])
def test_three_channels_unrolled(k, w):
    # output widths 3 (one pixel at a time), 7 (8-column chunks with overlap), 8, 15, 23,
    # 24, 25, 38, 49 (24-column chunks and their overlapping tail)
    check_forward(2, 3, k, 6, w, 3, 3)


@pytest.mark.parametrize("threads", [1, 3])
def test_three_channels_rows_split(threads):
    x, wt, b, y = check_forward(1, 3, 3, 20, 60, 3, 3, threads=threads)
    assert np.array_equal(y, kernel.forward(x, wt, b, threads=1))


# ---- backward-input of a large image: interior + frame, no padded copy -------------------

@pytest.mark.parametrize("padding", [0, 1, 2, (0, 2), (2, 1)])
def test_large_image_input_gradient(padding):
    # 3 x (150 + 2) x (151 + 2) floats of padded dy is past the copy threshold
    check_backward(1, 3, 3, 150, 151, 3, 3, padding=padding)


@pytest.mark.parametrize("threads", [2, 3])
def test_large_image_input_gradient_rows_split(threads):
    check_backward(1, 2, 3, 160, 150, 3, 3, padding=1, threads=threads)


def test_large_image_non_square_kernel():
    check_backward(1, 2, 2, 120, 300, 3, 5, padding=(1, 4))


def test_large_image_narrower_than_kernel():
    # dy is 4 wide, the kernel 5: no interior, every dx pixel is in the frame
    check_backward(1, 2, 2, 20000, 4, 3, 5, padding=(1, 2))


def test_large_image_padding_beyond_kernel_uses_the_copy():
    # padding 3 > k - 1: the padded-copy path, still right
    check_backward(1, 2, 2, 150, 160, 3, 3, padding=3)


# ---- backward-weight of wide images, row by row ----------------------------------------

@pytest.mark.parametrize("w", [300, 301, 307])
def test_wide_image_weight_gradient(w):
    check_backward(2, 2, 3, 40, w, 3, 3)


# output widths 8-15 walk the columns, 16 and up the rows; each with a masked last chunk
# (but 8 and 16) and 1, 2, 3, 4 and 31 output rows (the row walk goes 3 dy rows at a time)
@pytest.mark.parametrize("w", [10, 15, 17, 18, 25, 32, 33])
@pytest.mark.parametrize("h", [3, 4, 5, 6, 33])
def test_small_image_weight_gradient_either_walk(h, w):
    check_backward(3, 1, 2, h, w, 3, 3, seed=h * 100 + w)


# output 11 (column walk: chunks at 0 and 3) and 30 (row walk: 0, 8, 16 and 22); the inf sits
# in x columns whose products fall in the lanes the last chunk masks off
@pytest.mark.parametrize("w,col", [(13, 5), (32, 23)])
def test_small_image_inf_in_overlapping_tail_gives_no_nan(w, col):
    x = np.ones((2, 1, 9, w), np.float32)
    x[1, 0, 4, col] = np.inf
    wt = np.ones((1, 1, 3, 3), np.float32)
    dy = np.ones((2, 1, 7, w - 2), np.float32)
    dx, dw, db = kernel.backward(x, wt, dy)
    assert not np.isnan(dw).any() and np.isinf(dw).any()
    np.testing.assert_allclose(dw, reference.conv2d_backward(x, wt, dy)[1], rtol=1e-6)
    assert db[0] == 2 * 7 * (w - 2)


def test_wide_image_inf_in_overlapping_tail_gives_no_nan():
    x = np.ones((1, 1, 40, 301), np.float32)
    x[0, 0, 20, 299] = np.inf
    w = np.ones((1, 1, 3, 3), np.float32)
    dy = np.ones((1, 1, 38, 299), np.float32)
    dx, dw, db = kernel.backward(x, w, dy)
    assert not np.isnan(dw).any() and np.isinf(dw).any()
    assert np.isfinite(dw[0, 0, :, 0]).all()   # tap column 0 never reaches x column 299
    assert db[0] == 38 * 299 and np.isfinite(dx).all()


# ---- forward GEMM at stride 1 without im2col (implicit GEMM) ------------------------------

def check_gemm_forward(n, c, k, h, w, kh, kw, padding=0, threads=1):
    rng = np.random.default_rng(7)
    x, wt, b = make(rng, n, c, k, h, w, kh, kw)
    y = kernel.forward(x, wt, b, padding=padding, threads=threads, method="gemm")
    assert_close(y, reference.conv2d_forward(x, wt, b, padding=padding))
    return x, wt, b, y


@pytest.mark.parametrize("w", [10, 17, 18, 25, 26, 33, 58, 59])
@pytest.mark.parametrize("k", [6, 13])
def test_implicit_gemm_column_blocks(w, k):
    # output widths 8 .. 57: blocks of 16, of 8, and an overlapping last block of 8;
    # 6 and 13 output channels: whole and partial MR panels
    check_gemm_forward(2, 9, k, 5, w, 3, 3)


@pytest.mark.parametrize("padding", [1, 2, (0, 2), (1, 0)])
def test_implicit_gemm_padded_non_square_kernel(padding):
    check_gemm_forward(2, 8, 9, 11, 30, 3, 5, padding=padding)


def test_implicit_gemm_long_reduction():
    # c_in * kh * kw = 300 > the reduction block: the sums pass through memory between blocks
    check_gemm_forward(1, 100, 8, 6, 20, 1, 3, padding=(0, 1))


@pytest.mark.parametrize("threads", [2, 3])
def test_implicit_gemm_rows_split_same_bits(threads):
    x, wt, b, y = check_gemm_forward(1, 16, 16, 9, 21, 3, 3, padding=1, threads=threads)
    assert np.array_equal(y, kernel.forward(x, wt, b, padding=1, method="gemm"))


def test_implicit_gemm_same_bits_as_im2col():
    # stride 1 (implicit) and the same image sampled every other column by stride (1, 2)
    # through im2col compute the same sums in the same order: equal bits where they overlap
    rng = np.random.default_rng(3)
    x, wt, b = make(rng, 1, 12, 8, 7, 40, 3, 3)
    y1 = kernel.forward(x, wt, b, method="gemm")
    y2 = kernel.forward(x, wt, b, stride=(1, 2), method="gemm")
    assert np.array_equal(y1[..., ::2], y2)
