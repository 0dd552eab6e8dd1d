"""Every method the dispatcher can choose (forced with method=), with 1-3 threads, against the
numpy reference: tails of the register blocks, stride, padding, one image and fewer images
than threads; the forward determinism the MPI sweep relies on; the threads/method arguments.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convbench import kernel
from convbench.kernel import reference

from test_kernel import assert_close, conv_cases, make

METHODS = ["auto", "direct", "gemm"]


pytestmark = pytest.mark.usefixtures("every_thread")     # all the threads asked for, even for small calls


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases(), st.sampled_from(["direct", "gemm"]), st.integers(1, 3))
def test_each_method_matches_reference(case, method, threads):
    rng = np.random.default_rng(case["seed"])
    x, w, b = make(rng, case["n"], case["c"], case["k"], case["h"], case["w"], case["kh"],
                   case["kw"])
    b = b if case["bias"] else None
    geo = dict(stride=case["stride"], padding=case["padding"])
    y = kernel.forward(x, w, b, threads=threads, method=method, **geo)
    assert_close(y, reference.conv2d_forward(x, w, b, **geo))
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    got = kernel.backward(x, w, dy, threads=threads, method=method, **geo)
    for g, r in zip(got, reference.conv2d_backward(x, w, dy, **geo)):
        assert_close(g, r)


# shapes that exercise the blocks of each method: GEMM rows (MR = 6) and columns (16) with
# tails, several im2col blocks, many channels; direct blocks of 1-4 output channels x rows
SHAPES = [
    # n, c, k, h, w, kh, kw, stride, padding
    (2, 9, 13, 11, 21, 3, 3, 1, 1),
    (3, 8, 8, 5, 7, 3, 2, (2, 3), (1, 2)),
    (1, 7, 20, 30, 40, 3, 3, 1, 1),          # several im2col blocks
    (2, 16, 16, 9, 9, 5, 5, 2, 2),
    (1, 64, 64, 14, 14, 3, 3, 1, 1),         # resnet-like: GEMM by shape
    (2, 3, 3, 37, 70, 3, 3, 1, 0),           # fat-like: direct by shape
    (5, 1, 1, 32, 32, 3, 3, 1, 0),           # light-like
    (3, 2, 2, 13, 19, 3, 3, 1, 0),           # 2 output channels: a 2-row block
    (1, 1, 1, 3, 40, 3, 3, 1, 0),            # one output row: the single-row fallback
    (2, 4, 7, 12, 12, 1, 1, 1, 0),           # K = 1
    (1, 3, 6, 20, 33, 3, 4, 3, 2),           # stride 3
]


@pytest.mark.parametrize("n,c,k,h,w,kh,kw,stride,padding", SHAPES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_fixed_shapes_every_method(n, c, k, h, w, kh, kw, stride, padding, method, threads):
    rng = np.random.default_rng(99)
    x, wt, b = make(rng, n, c, k, h, w, kh, kw)
    geo = dict(stride=stride, padding=padding)
    y = kernel.forward(x, wt, b, threads=threads, method=method, **geo)
    assert_close(y, reference.conv2d_forward(x, wt, b, **geo))
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    for g, r in zip(kernel.backward(x, wt, dy, threads=threads, method=method, **geo),
                    reference.conv2d_backward(x, wt, dy, **geo)):
        assert_close(g, r)
    for g, r in zip(kernel.backward_naive(x, wt, dy, **geo),
                    reference.conv2d_backward(x, wt, dy, **geo)):
        assert_close(g, r)


@pytest.mark.parametrize("shape", [(3, 3, 40, 70, 3), (2, 32, 12, 12, 24), (1, 1, 33, 33, 1)])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_forward_image_bit_identical_in_any_batch(shape, method, threads):
    """What the sweep checks: image i's output does not depend on the batch around it."""
    n, c, h, w, k = 5, shape[0], shape[2], shape[3], shape[4] if len(shape) > 4 else shape[0]
    c = shape[0] if shape[1] == shape[0] else shape[1]
    rng = np.random.default_rng(5)
    x, wt, b = make(rng, n, c, k, h, w, 3, 3)
    full = kernel.forward(x, wt, b, padding=1, threads=threads, method=method)
    for lo, hi in [(0, 1), (4, 5), (1, 4), (2, 5)]:
        part = kernel.forward(x[lo:hi], wt, b, padding=1, threads=threads, method=method)
        assert np.array_equal(part.view(np.uint32), full[lo:hi].view(np.uint32))


def test_small_calls_get_fewer_threads_same_results(monkeypatch):
    rng = np.random.default_rng(10)
    x, wt, b = make(rng, 4, 2, 3, 9, 20, 3, 3)
    dy = rng.standard_normal(kernel.output_shape(x.shape, wt.shape), dtype=np.float32)
    y0 = kernel.forward(x, wt, b, threads=4)
    g0 = kernel.backward(x, wt, dy, threads=4)
    monkeypatch.setattr(kernel, "THREAD_MIN_FLOPS", 1e12)  # every call: one thread
    assert np.array_equal(kernel.forward(x, wt, b, threads=4), y0)
    for got, ref in zip(kernel.backward(x, wt, dy, threads=4), g0):
        assert_close(got, ref, rtol=1e-6)
    for got, ref in zip(kernel.backward(x, wt, dy, threads=4), kernel.backward(x, wt, dy)):
        assert np.array_equal(got, ref)


def test_thread_min_flops_read_once_from_the_environment():
    """CONVBENCH_THREAD_MIN_FLOPS is read at import into kernel.THREAD_MIN_FLOPS, which every
    call passes to C; unset, empty, negative or not a number: the C default (4e6)."""
    default = float(kernel.lib.CONV_THREAD_MIN_FLOPS)
    read = kernel._thread_min_flops
    assert read({}) == default == 4e6
    assert read({"CONVBENCH_THREAD_MIN_FLOPS": "0"}) == 0.0
    assert read({"CONVBENCH_THREAD_MIN_FLOPS": " 1e12 "}) == 1e12
    for bad in ("", "-1", "nan", "lots"):
        assert read({"CONVBENCH_THREAD_MIN_FLOPS": bad}) == default
    code = "from convbench import kernel; print(kernel.THREAD_MIN_FLOPS)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "CONVBENCH_THREAD_MIN_FLOPS": "123"}, check=True)
    assert float(out.stdout) == 123.0


def test_bad_thread_min_flops_is_a_conv_error(monkeypatch):
    rng = np.random.default_rng(11)
    x, wt, b = make(rng, 2, 2, 3, 9, 20, 3, 3)
    monkeypatch.setattr(kernel, "THREAD_MIN_FLOPS", -1.0)
    with pytest.raises(kernel.ConvError, match="thread_min_flops") as info:
        kernel.forward(x, wt, b, threads=2)
    assert info.value.code == kernel.lib.CONV_EOPTION


def test_threads_do_not_change_forward():
    rng = np.random.default_rng(8)
    x, wt, b = make(rng, 3, 4, 5, 30, 41, 3, 3)
    y1 = kernel.forward(x, wt, b)
    for t in (2, 3, 7):
        assert np.array_equal(kernel.forward(x, wt, b, threads=t), y1)


def test_backward_weight_deterministic_per_thread_count():
    rng = np.random.default_rng(9)
    x, wt, _ = make(rng, 6, 3, 4, 20, 30, 3, 3)
    dy = rng.standard_normal(kernel.output_shape(x.shape, wt.shape), dtype=np.float32)
    for t in (1, 2, 3):
        a = kernel.backward(x, wt, dy, threads=t)
        b = kernel.backward(x, wt, dy, threads=t)
        for u, v in zip(a, b):
            assert np.array_equal(u, v)


def test_nan_propagation_gemm():
    x = np.ones((1, 8, 6, 20), np.float32)
    x[0, 3, 0, 0] = np.nan
    w = np.ones((8, 8, 2, 2), np.float32)
    y = kernel.forward(x, w, method="gemm")
    assert np.isnan(y[:, :, 0, 0]).all() and np.isfinite(y[:, :, 1:]).all()
    assert np.isfinite(y[:, :, 0, 1:]).all()


@pytest.mark.parametrize("bad,needle", [
    (0, "threads must be >= 1, got 0"), (-2, "threads must be >= 1"),
    (1.5, "threads must be an int, got float"), (True, "threads must be an int, got bool"),
    ("2", "threads must be an int, got str"), (2**40, "threads 1099511627776 is too large"),
])
def test_threads_rejected(bad, needle):
    x = np.zeros((1, 1, 5, 5), np.float32)
    w = np.zeros((1, 1, 3, 3), np.float32)
    for call in (lambda: kernel.forward(x, w, threads=bad),
                 lambda: kernel.backward(x, w, np.zeros((1, 1, 3, 3), np.float32), threads=bad)):
        with pytest.raises(kernel.ConvError) as info:
            call()
        assert needle in str(info.value)


def test_method_rejected_and_reported():
    x = np.zeros((1, 1, 5, 5), np.float32)
    w = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(kernel.ConvError, match="method must be one of auto, direct, gemm"):
        kernel.forward(x, w, method="fft")
    with pytest.raises(kernel.ConvError, match="method must be one of"):
        kernel.backward(x, w, np.zeros((1, 1, 3, 3), np.float32), method=None)
    assert kernel.method_for((8, 3, 1024, 1024), (3, 3, 3, 3)) == {
        "forward": "direct", "backward_input": "direct", "backward_weight": "direct"}
    assert kernel.method_for((32, 64, 56, 56), (64, 64, 3, 3), padding=1) == {
        "forward": "gemm", "backward_input": "gemm", "backward_weight": "gemm"}
    assert kernel.method_for((1, 64, 56, 56), (64, 64, 3, 3)) == \
        kernel.method_for((10**6, 64, 56, 56), (64, 64, 3, 3))
    with pytest.raises(kernel.ConvError, match="channels mismatch"):
        kernel.method_for((1, 2, 5, 5), (1, 3, 3, 3))
    assert kernel.max_threads() >= 1
    assert "openmp" in kernel.build_info()


@pytest.mark.parametrize("method", ["direct", "gemm"])
def test_inf_in_overlapping_tail_gives_no_nan(method):
    """The last column chunk of a row overlaps the previous one; its counted lanes are masked
    bitwise, so an inf there stays inf in dw (0 * inf would make NaN)."""
    x = np.ones((1, 1, 5, 21), np.float32)
    x[0, 0, 2, 19] = np.inf
    w = np.ones((1, 1, 3, 3), np.float32)
    dy = np.ones((1, 1, 3, 19), np.float32)
    dx, dw, db = kernel.backward(x, w, dy, method=method)
    assert not np.isnan(dw).any() and np.isinf(dw).any()
    assert np.isfinite(dw[0, 0, :, 0]).all()   # tap column 0 never reaches x column 19
    assert db[0] == 57 and np.isfinite(dx).all()
