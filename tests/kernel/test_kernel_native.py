"""The C entry points' own argument checks, called directly through the extension (bypassing
convbench.kernel's Python checks): every status code and its conv_strerror message."""
from __future__ import annotations

import numpy as np
import pytest

from convbench._native import ffi, lib

ENTRY_POINTS = ["conv_forward", "conv_forward_naive", "conv_backward_input",
                "conv_backward_weight", "conv_forward_ex", "conv_backward_ex",
                "conv_backward_naive"]


def shape(**over):
    s = ffi.new("conv_shape *")
    vals = dict(n=2, c_in=3, h=8, w=9, c_out=4, kh=3, kw=2, stride_h=1, stride_w=1, pad_h=0,
                pad_w=0)
    vals.update(over)
    for k, v in vals.items():
        setattr(s, k, v)
    return s


def buffers():
    """Valid buffers for the default shape (big enough for every argument of every call)."""
    big = np.zeros(2 * 4 * 8 * 9 + 64, np.float32)
    return [ffi.from_buffer("float[]", np.zeros_like(big)) for _ in range(6)]


#: pointer arguments of each entry point, and which of them may be NULL
NARGS = {"conv_backward_input": 3, "conv_forward_ex": 4, "conv_backward_ex": 6,
         "conv_backward_naive": 6}
OPTIONAL = {"conv_forward": {2}, "conv_forward_naive": {2}, "conv_backward_weight": {3},
            "conv_forward_ex": {2}, "conv_backward_naive": {5}, "conv_backward_ex": {3, 4, 5}}


def call(name, s, ptrs, threads=1, method=0, min_flops=0.0):
    fn = getattr(lib, name)
    n = NARGS.get(name, 4)
    if name in ("conv_forward_ex", "conv_backward_ex"):
        return fn(s, *ptrs[:n], threads, method, min_flops)
    return fn(s, *ptrs[:n])


def message(code):
    return ffi.string(lib.conv_strerror(code)).decode()


def test_constants_come_from_the_header():
    assert (lib.CONV_OK, lib.CONV_ENULL, lib.CONV_EEXTENT, lib.CONV_ESTRIDE, lib.CONV_EPADDING,
            lib.CONV_EKERNEL, lib.CONV_EOVERFLOW, lib.CONV_ENOMEM, lib.CONV_ETHREADS,
            lib.CONV_EMETHOD, lib.CONV_EOPTION) == (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    assert lib.CONV_THREAD_MIN_FLOPS == 4000000
    assert (lib.CONV_METHOD_AUTO, lib.CONV_METHOD_DIRECT, lib.CONV_METHOD_GEMM) == (0, 1, 2)


def test_strerror():
    assert message(lib.CONV_OK) == "success"
    assert "NULL" in message(lib.CONV_ENULL)
    assert "extent" in message(lib.CONV_EEXTENT)
    assert "stride" in message(lib.CONV_ESTRIDE)
    assert "padding" in message(lib.CONV_EPADDING)
    assert "kernel is larger than the padded input" in message(lib.CONV_EKERNEL)
    assert "overflows int64" in message(lib.CONV_EOVERFLOW)
    assert "allocation" in message(lib.CONV_ENOMEM)
    assert "threads" in message(lib.CONV_ETHREADS)
    assert "method" in message(lib.CONV_EMETHOD)
    assert "thread_min_flops" in message(lib.CONV_EOPTION)
    for code in (-1, 11, 1000, 2**31 - 1):
        assert message(code) == "unknown error"


def test_build_info_string():
    text = ffi.string(lib.conv_build_info()).decode()
    assert "compiler=" in text and "flags=" in text and "isa=" in text
    assert "openmp=" in text and "methods=direct gemm" in text


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_valid_call_succeeds(name):
    assert call(name, shape(), buffers()) == lib.CONV_OK


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_null_pointers(name):
    ptrs = buffers()
    assert call(name, ffi.NULL, ptrs) == lib.CONV_ENULL
    for i in range(NARGS.get(name, 4)):
        p = list(ptrs)
        p[i] = ffi.NULL
        expected = lib.CONV_OK if i in OPTIONAL.get(name, ()) else lib.CONV_ENULL  # bias / db
        assert call(name, shape(), p) == expected, i


def test_backward_ex_optional_outputs():
    """(x, dy, wt, dx, dw, db): dx NULL skips the input gradient (x then unused unless dw is
    wanted), dw NULL skips the weight gradient (wt unused unless dx is wanted)."""
    x, dy, wt, dx, dw, db = buffers()
    N = ffi.NULL
    assert lib.conv_backward_ex(shape(), N, dy, wt, dx, N, N, 1, 0, 0.0) == lib.CONV_OK
    assert lib.conv_backward_ex(shape(), x, dy, N, N, dw, db, 1, 0, 0.0) == lib.CONV_OK
    assert lib.conv_backward_ex(shape(), N, dy, N, N, N, db, 1, 0, 0.0) == lib.CONV_OK
    assert lib.conv_backward_ex(shape(), N, dy, N, N, N, N, 1, 0, 0.0) == lib.CONV_OK
    assert lib.conv_backward_ex(shape(), N, dy, wt, dx, dw, db, 1, 0, 0.0) == lib.CONV_ENULL
    assert lib.conv_backward_ex(shape(), x, dy, N, dx, dw, db, 1, 0, 0.0) == lib.CONV_ENULL


@pytest.mark.parametrize("name", ["conv_forward_ex", "conv_backward_ex"])
def test_threads_and_method_checked(name):
    ptrs = buffers()
    for t in (0, -1, -2**31):
        assert call(name, shape(), ptrs, threads=t) == lib.CONV_ETHREADS
    for m in (-1, 3, 99):
        assert call(name, shape(), ptrs, method=m) == lib.CONV_EMETHOD
    for m in (lib.CONV_METHOD_AUTO, lib.CONV_METHOD_DIRECT, lib.CONV_METHOD_GEMM):
        for t in (1, 2, 5):
            assert call(name, shape(), ptrs, threads=t, method=m) == lib.CONV_OK
    for f in (-1.0, -1e-300, float("nan")):
        assert call(name, shape(), ptrs, threads=2, min_flops=f) == lib.CONV_EOPTION
    for f in (0.0, 1.0, float(lib.CONV_THREAD_MIN_FLOPS), float("inf")):
        assert call(name, shape(), ptrs, threads=2, min_flops=f) == lib.CONV_OK
    # a bad shape is reported before a bad thread count
    assert call(name, shape(n=0), ptrs, threads=0) == lib.CONV_EEXTENT


def test_method_dispatch():
    assert lib.conv_method(shape(), lib.CONV_PART_FORWARD) == lib.CONV_METHOD_DIRECT
    many = shape(c_in=64, c_out=64, kh=3, kw=3)
    for part in (lib.CONV_PART_FORWARD, lib.CONV_PART_BACKWARD_INPUT,
                 lib.CONV_PART_BACKWARD_WEIGHT):
        assert lib.conv_method(many, part) == lib.CONV_METHOD_GEMM
        assert lib.conv_method(shape(c_in=1, c_out=1), part) == lib.CONV_METHOD_DIRECT
        # never the batch size
        assert lib.conv_method(shape(c_in=64, c_out=64, n=1), part) == \
            lib.conv_method(shape(c_in=64, c_out=64, n=10**6), part)
    assert lib.conv_method(shape(), 3) == -lib.CONV_EMETHOD
    assert lib.conv_method(shape(n=0), 0) == -lib.CONV_EEXTENT
    assert lib.conv_method(ffi.NULL, 0) == -lib.CONV_ENULL
    assert lib.conv_max_threads() >= 1


@pytest.mark.parametrize("name", ENTRY_POINTS)
@pytest.mark.parametrize("over,code", [
    (dict(n=0), "CONV_EEXTENT"), (dict(c_in=-1), "CONV_EEXTENT"), (dict(h=0), "CONV_EEXTENT"),
    (dict(w=0), "CONV_EEXTENT"), (dict(c_out=0), "CONV_EEXTENT"), (dict(kh=0), "CONV_EEXTENT"),
    (dict(kw=-3), "CONV_EEXTENT"),
    (dict(stride_h=0), "CONV_ESTRIDE"), (dict(stride_w=-1), "CONV_ESTRIDE"),
    (dict(pad_h=-1), "CONV_EPADDING"), (dict(pad_w=-2**63), "CONV_EPADDING"),
    (dict(kh=9), "CONV_EKERNEL"), (dict(kw=12, pad_w=1), "CONV_EKERNEL"),
    (dict(n=2**62), "CONV_EOVERFLOW"), (dict(n=2**40, c_in=2**20), "CONV_EOVERFLOW"),
    (dict(h=2**62, w=2**62), "CONV_EOVERFLOW"), (dict(pad_h=2**62), "CONV_EOVERFLOW"),
    (dict(c_out=2**61), "CONV_EOVERFLOW"), (dict(n=2**63 - 1, c_in=2**63 - 1), "CONV_EOVERFLOW"),
])
def test_bad_shapes(name, over, code):
    """Refused before any memory is touched (the buffers here are far too small)."""
    assert call(name, shape(**over), buffers()) == getattr(lib, code)


def test_output_size():
    oh = ffi.new("int64_t *")
    ow = ffi.new("int64_t *")
    assert lib.conv_output_size(shape(), oh, ow) == lib.CONV_OK
    assert (oh[0], ow[0]) == (6, 8)
    s = shape(h=1024, w=1000, kh=3, kw=3, stride_h=2, stride_w=3, pad_h=1, pad_w=2)
    assert lib.conv_output_size(s, oh, ow) == lib.CONV_OK
    assert (oh[0], ow[0]) == ((1024 + 2 - 3) // 2 + 1, (1000 + 4 - 3) // 3 + 1)
    assert lib.conv_output_size(s, ffi.NULL, ffi.NULL) == lib.CONV_OK
    assert lib.conv_output_size(ffi.NULL, oh, ow) == lib.CONV_ENULL
    assert lib.conv_output_size(shape(n=2**62), oh, ow) == lib.CONV_EOVERFLOW
    assert lib.conv_output_size(shape(kh=11, pad_h=1), oh, ow) == lib.CONV_EKERNEL
