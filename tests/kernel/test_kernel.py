"""The C kernel against the numpy reference: forward, backward, stride, padding, odd shapes.

Tolerance: float32 kernel against the float64 reference, relative to the magnitude of the
result (rtol 1e-4, atol 1e-4 * max|ref|), since a sum of products of mixed signs has no
meaningful per-element relative error where it nearly cancels.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convbench import kernel
from convbench.kernel import reference

RTOL = 1e-4


def assert_close(got, ref, rtol=RTOL):
    ref = np.asarray(ref, dtype=np.float64)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), ref, rtol=rtol,
                               atol=rtol * max(scale, 1e-30))


def make(rng, n, c, k, h, w, kh, kw):
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((k, c, kh, kw), dtype=np.float32)
    b = rng.standard_normal(k, dtype=np.float32)
    return x, wt, b


@st.composite
def conv_cases(draw):
    """Small random geometries: stride 1-3 and padding 0-2 (separate for h and w),
    non-square images and kernels, batch 1, one channel, K = 1, kernels as large as the
    padded input, and rows wide enough for the vectorised chunks (and their overlap)."""
    n = draw(st.integers(1, 3))
    c = draw(st.integers(1, 4))
    k = draw(st.integers(1, 6))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(1, 12))
    w = draw(st.one_of(st.integers(1, 12), st.integers(13, 45)))
    kh = draw(st.integers(1, h + 2 * ph))
    kw = draw(st.integers(1, min(w + 2 * pw, 7)) | st.just(w + 2 * pw))
    seed = draw(st.integers(0, 2**32 - 1))
    bias = draw(st.booleans())
    return dict(n=n, c=c, k=k, h=h, w=w, kh=kh, kw=kw, stride=(sh, sw), padding=(ph, pw),
                seed=seed, bias=bias)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases())
def test_forward_and_backward_match_reference(case):
    rng = np.random.default_rng(case["seed"])
    x, w, b = make(rng, case["n"], case["c"], case["k"], case["h"], case["w"], case["kh"],
                   case["kw"])
    b = b if case["bias"] else None
    geo = dict(stride=case["stride"], padding=case["padding"])

    y = kernel.forward(x, w, b, **geo)
    ref = reference.conv2d_forward(x, w, b, **geo)
    assert y.dtype == np.float32 and y.shape == ref.shape
    assert y.shape == kernel.output_shape(x.shape, w.shape, **geo)
    assert_close(y, ref)
    assert_close(kernel.forward_naive(x, w, b, **geo), ref)

    dy = rng.standard_normal(y.shape, dtype=np.float32)
    dx, dw, db = kernel.backward(x, w, dy, **geo)
    rdx, rdw, rdb = reference.conv2d_backward(x, w, dy, **geo)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, (w.shape[0],))
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    assert_close(dx, rdx)
    assert_close(dw, rdw)
    assert_close(db, rdb)


@pytest.mark.parametrize("n,c,k,h,w,kh,kw,stride,padding", [
    (2, 3, 3, 37, 70, 3, 3, 1, 0),          # fat-like: 3 -> 3 channels, 3x3
    (5, 1, 1, 32, 32, 3, 3, 1, 0),          # light-like: 1 -> 1 channel
    (1, 2, 9, 20, 33, 5, 4, (2, 1), (1, 2)),  # more than one block of output channels
    (2, 3, 2, 9, 17, 9, 17, 1, 0),          # kernel == input: one output pixel
    (1, 1, 1, 8, 8, 12, 12, 1, 2),          # kernel == padded input
    (3, 2, 2, 15, 40, 1, 1, 1, 0),          # K = 1
    (1, 1, 1, 5, 7, 1, 1, 1, 2),            # K = 1 with padding: outputs that see only padding
    (1, 2, 3, 11, 50, 3, 3, 3, 2),          # stride 3, padding 2
    (1, 1, 1, 1, 64, 1, 3, 1, (0, 1)),      # one row
])
def test_fixed_shapes(n, c, k, h, w, kh, kw, stride, padding):
    rng = np.random.default_rng(1234)
    x, wt, b = make(rng, n, c, k, h, w, kh, kw)
    y = kernel.forward(x, wt, b, stride=stride, padding=padding)
    assert_close(y, reference.conv2d_forward(x, wt, b, stride, padding))
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    for got, ref in zip(kernel.backward(x, wt, dy, stride=stride, padding=padding),
                        reference.conv2d_backward(x, wt, dy, stride, padding)):
        assert_close(got, ref)


def test_reference_backward_matches_finite_differences():
    """The reference's gradients are those of L = sum(y * g) (float64 central differences),
    and the kernel's gradients match them too: neither is only checked against the other."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 5, 6))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    geo = dict(stride=(2, 1), padding=(1, 2))
    g = rng.standard_normal(reference.conv2d_forward(x, w, b, **geo).shape)

    def loss(x_, w_, b_):
        return float(np.sum(reference.conv2d_forward(x_, w_, b_, **geo) * g))

    def numeric(arr, f, eps=1e-6):
        grad = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + eps
            up = f()
            arr[i] = old - eps
            down = f()
            arr[i] = old
            grad[i] = (up - down) / (2 * eps)
        return grad

    ndx = numeric(x, lambda: loss(x, w, b))
    ndw = numeric(w, lambda: loss(x, w, b))
    ndb = numeric(b, lambda: loss(x, w, b))
    rdx, rdw, rdb = reference.conv2d_backward(x, w, g, **geo)
    for r, nref in [(rdx, ndx), (rdw, ndw), (rdb, ndb)]:
        assert_close(r, nref, rtol=1e-7)
    f32 = np.float32
    kdx, kdw, kdb = kernel.backward(x.astype(f32), w.astype(f32), g.astype(f32), **geo)
    for k, nref in [(kdx, ndx), (kdw, ndw), (kdb, ndb)]:
        assert_close(k, nref, rtol=1e-4)


def test_forward_naive_equals_forward():
    rng = np.random.default_rng(3)
    x, w, b = make(rng, 2, 3, 5, 19, 41, 3, 5)
    for geo in [dict(), dict(stride=2, padding=1), dict(stride=(1, 3), padding=(2, 0))]:
        assert_close(kernel.forward_naive(x, w, b, **geo), kernel.forward(x, w, b, **geo))


def test_bias_none_and_given():
    rng = np.random.default_rng(4)
    x, w, b = make(rng, 2, 2, 3, 10, 20, 3, 3)
    y0 = kernel.forward(x, w)
    y1 = kernel.forward(x, w, b)
    np.testing.assert_allclose(y1 - y0, np.broadcast_to(b[None, :, None, None], y0.shape),
                               rtol=1e-5, atol=1e-5)
    assert_close(y0, reference.conv2d_forward(x, w))


def test_out_parameter():
    rng = np.random.default_rng(5)
    x, w, b = make(rng, 2, 2, 3, 10, 20, 3, 3)
    out = np.full(kernel.output_shape(x.shape, w.shape), np.nan, dtype=np.float32)
    y = kernel.forward(x, w, b, out=out)
    assert y is out
    assert_close(out, reference.conv2d_forward(x, w, b))
    # a slice of a bigger array along the batch axis is C-contiguous: fine (the MPI worker
    # computes into such slices)
    big = np.zeros((4,) + out.shape[1:], dtype=np.float32)
    kernel.forward(x, w, b, out=big[1:3])
    assert_close(big[1:3], out, rtol=1e-6)
    assert not big[0].any() and not big[3].any()


def test_backward_preallocated_outputs():
    rng = np.random.default_rng(6)
    x, w, _ = make(rng, 2, 2, 3, 10, 20, 3, 3)
    dy = rng.standard_normal(kernel.output_shape(x.shape, w.shape), dtype=np.float32)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty(3, np.float32)
    got = kernel.backward(x, w, dy, dx=dx, dw=dw, db=db)
    assert got[0] is dx and got[1] is dw and got[2] is db
    for g, r in zip(got, reference.conv2d_backward(x, w, dy)):
        assert_close(g, r)


def test_nan_and_inf_propagate_like_ieee():
    """No -ffast-math: NaN in, NaN out, only where the NaN reaches."""
    x = np.ones((1, 1, 4, 20), np.float32)
    x[0, 0, 0, 0] = np.nan
    w = np.ones((1, 1, 2, 2), np.float32)
    y = kernel.forward(x, w)
    assert np.isnan(y[0, 0, 0, 0]) and np.isfinite(y[0, 0, 0, 1:]).all()
    assert np.isfinite(y[0, 0, 1:]).all()
    # the overlapping tail of a backward-weight row must not turn inf into NaN
    x = np.ones((1, 1, 1, 21), np.float32)
    x[0, 0, 0, 5] = np.inf
    dy = np.ones((1, 1, 1, 21), np.float32)
    _, dw, db = kernel.backward(x, np.ones((1, 1, 1, 1), np.float32), dy)
    assert dw[0, 0, 0, 0] == np.inf and db[0] == 21


def test_build_info():
    info = kernel.build_info()
    assert {"compiler", "flags", "isa"} <= set(info)
    assert "-O3" in info["flags"] or "/O2" in info["flags"]
    assert info["compiler"]


# ---- argument checks in Python ------------------------------------------------------------

X = np.zeros((2, 3, 8, 8), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(x=X.astype(np.float64)), "x must be float32, got float64"),
    (dict(x=X.astype(np.float16)), "x must be float32, got float16"),
    (dict(x=X.astype(">f4")), "x must be float32"),
    (dict(x=X.tolist()), "x must be a numpy.ndarray, got list"),
    (dict(x=X[0]), "x must have 4 dimensions (N, C, H, W), got 3"),
    (dict(x=X[:, :, :, ::2]), "x must be C-contiguous"),
    (dict(x=np.zeros((0, 3, 8, 8), np.float32)), "empty batch"),
    (dict(x=np.zeros((2, 3, 0, 8), np.float32)), "extent <= 0"),
    (dict(w=W.astype(np.float64)), "w must be float32, got float64"),
    (dict(w=W[0]), "w must have 4 dimensions"),
    (dict(w=np.zeros((4, 2, 3, 3), np.float32)),
     "channels mismatch: x has 3 input channels but w expects 2"),
    (dict(w=np.zeros((4, 3, 9, 3), np.float32)), "kernel 9x3 is larger than the padded input 8x8"),
    (dict(w=np.zeros((4, 3, 11, 3), np.float32), padding=1),
     "kernel 11x3 is larger than the padded input 10x10"),
    (dict(b=np.zeros(3, np.float32)), "b has shape (3,), expected (4,)"),
    (dict(b=np.zeros(4, np.float64)), "b must be float32, got float64"),
    (dict(b=np.zeros((4, 1), np.float32)), "b must have 1 dimensions"),
    (dict(stride=0), "stride must be >= 1"),
    (dict(stride=(1, -1)), "stride must be >= 1"),
    (dict(stride=True), "stride must be an int, got bool"),
    (dict(stride=1.0), "stride must be an int, got float"),
    (dict(stride=(1, 2, 3)), "stride must be an int or a pair"),
    (dict(padding=-1), "padding must be >= 0"),
    (dict(padding=(0, False)), "padding must be an int, got bool"),
    (dict(padding="1"), "padding must be an int, got str"),
])
def test_forward_rejects_bad_arguments(kwargs, needle):
    args = dict(x=X, w=W, b=None)
    args.update(kwargs)
    x, w, b = args.pop("x"), args.pop("w"), args.pop("b")
    with pytest.raises(kernel.ConvError) as info:
        kernel.forward(x, w, b, **args)
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)


def test_forward_rejects_misaligned_input():
    buf = np.zeros(X.size * 4 + 1, np.uint8)
    x = buf[1:].view(np.float32).reshape(X.shape)
    assert not x.flags.aligned
    with pytest.raises(kernel.ConvError, match="x must be aligned"):
        kernel.forward(x, W)


@pytest.mark.parametrize("out,needle", [
    (np.zeros((2, 4, 6, 5), np.float32), "out has shape (2, 4, 6, 5), expected (2, 4, 6, 6)"),
    (np.zeros((2, 4, 6, 6), np.float64), "out must be float32, got float64"),
    (np.zeros((2, 4, 6, 12), np.float32)[..., ::2], "out must be C-contiguous"),
    (np.zeros((2, 4, 6), np.float32), "out must have 4 dimensions"),
])
def test_forward_rejects_bad_out(out, needle):
    with pytest.raises(kernel.ConvError) as info:
        kernel.forward(X, W, out=out)
    assert needle in str(info.value)


def test_forward_rejects_readonly_or_overlapping_out():
    out = np.zeros((2, 4, 6, 6), np.float32)
    out.flags.writeable = False
    with pytest.raises(kernel.ConvError, match="out must be writeable"):
        kernel.forward(X, W, out=out)
    x = np.zeros((2, 4, 6, 6), np.float32)
    w = np.zeros((4, 4, 1, 1), np.float32)
    with pytest.raises(kernel.ConvError, match="out must not overlap x"):
        kernel.forward(x, w, out=x)


def test_backward_rejects_bad_arguments():
    dy = np.zeros((2, 4, 6, 6), np.float32)
    with pytest.raises(kernel.ConvError, match=r"dy has shape \(2, 4, 6, 5\), expected \(2, 4, 6, 6\)"):
        kernel.backward(X, W, dy[..., :5].copy())
    with pytest.raises(kernel.ConvError, match="dy must be float32, got float64"):
        kernel.backward(X, W, dy.astype(np.float64))
    with pytest.raises(kernel.ConvError, match="dx has shape"):
        kernel.backward(X, W, dy, dx=np.zeros((2, 3, 8, 7), np.float32))
    with pytest.raises(kernel.ConvError, match="dw must not overlap dy"):
        kernel.backward(X, W, dy, dw=dy.reshape(-1)[:W.size].reshape(W.shape))
    with pytest.raises(kernel.ConvError, match="stride must be >= 1"):
        kernel.backward(X, W, dy, stride=0)


def test_output_shape():
    assert kernel.output_shape((8, 3, 1024, 1024), (3, 3, 3, 3)) == (8, 3, 1022, 1022)
    assert kernel.output_shape((1, 1, 32, 32), (1, 1, 3, 3), 1, 0) == (1, 1, 30, 30)
    assert kernel.output_shape((1, 2, 7, 9), (5, 2, 3, 2), (2, 3), (1, 0)) == (1, 5, 4, 3)
    with pytest.raises(kernel.ConvError, match="channels mismatch"):
        kernel.output_shape((1, 2, 7, 9), (5, 3, 3, 2))
    with pytest.raises(kernel.ConvError, match="must have 4 dimensions"):
        kernel.output_shape((2, 7, 9), (5, 2, 3, 2))
    # sizes beyond int64 are refused by the C check, with its message
    with pytest.raises(kernel.ConvError, match="overflows int64") as info:
        kernel.output_shape((2**62, 1, 4, 4), (1, 1, 1, 1))
    assert info.value.code == 6
    with pytest.raises(kernel.ConvError, match="does not fit in int64"):
        kernel.output_shape((1, 1, 4, 4), (1, 1, 1, 1), padding=2**63)
