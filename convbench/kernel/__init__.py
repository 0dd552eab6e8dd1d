"""numpy API over the compiled C kernel (``convbench._native``, built from native/conv*.c).

This is the only module that touches the extension. Every argument is checked here, before a
pointer is taken (like python-soundfile): arrays must be numpy float32 (float64 is an error,
never a silent cast), C-contiguous, aligned, of the right number of dimensions and shapes;
outputs must also be writeable and must not overlap an input. Anything wrong raises
:class:`ConvError` naming the problem. The C side checks everything again, and every C call
goes through :func:`_check`, which turns a status code into a ConvError with the C message.

cffi in API mode releases the GIL around each C call (the generated wrapper brackets it with
Py_BEGIN_ALLOW_THREADS / Py_END_ALLOW_THREADS), so other Python threads run meanwhile.

Layout and meaning (see native/conv.h): x is (N, C_in, H, W), w is (C_out, C_in, KH, KW),
b is (C_out,), y is (N, C_out, OH, OW) with OH = (H + 2*pad_h - KH) // stride_h + 1;
cross-correlation with zero padding, as torch.nn.functional.conv2d.

Threads and methods: forward() and backward() take ``threads`` (an int >= 1, default 1: the C
kernel splits the batch, or an image's rows, over that many OpenMP threads; a build without
OpenMP runs one, see :func:`max_threads`) and ``method`` ("auto", the default, lets the C
dispatcher choose by shape; "direct" or "gemm" force one, for tests and benchmarks).
An image's forward output is bit-identical whatever the batch it is in, its position there and
the thread count. A call too small to pay for its threads runs fewer: each gets at least
:data:`THREAD_MIN_FLOPS` FLOPs of work, read once, at import, from the environment variable
``CONVBENCH_THREAD_MIN_FLOPS`` (default 4e6; 0: always the threads asked for, for tests).
"""
from __future__ import annotations

import math
import os

import numpy as np

from convbench.core.errors import ConvbenchError
from convbench.core.parse import int_pair, strict_int

try:
    from convbench._native import ffi, lib
except ImportError as _e:  # a source tree never built, or a build for another Python
    raise ConvbenchError(
        f"the compiled kernel convbench._native cannot be loaded ({_e}); "
        "reinstall convbench with 'pip install .' (or 'make install')") from None

__all__ = ["ConvError", "forward", "backward", "forward_naive", "backward_naive", "stream",
           "output_shape", "build_info", "method_for", "max_threads", "METHODS",
           "THREAD_MIN_FLOPS"]

#: method names for the ``method`` keyword, and the C constants they stand for
METHODS = {"auto": lib.CONV_METHOD_AUTO, "direct": lib.CONV_METHOD_DIRECT,
           "gemm": lib.CONV_METHOD_GEMM}
_METHOD_NAMES = {v: k for k, v in METHODS.items()}
_PARTS = {"forward": lib.CONV_PART_FORWARD, "backward_input": lib.CONV_PART_BACKWARD_INPUT,
          "backward_weight": lib.CONV_PART_BACKWARD_WEIGHT}

_INT64_MAX = 2**63 - 1


def _thread_min_flops(environ=os.environ) -> float:
    """CONVBENCH_THREAD_MIN_FLOPS as a number >= 0, or the C default (CONV_THREAD_MIN_FLOPS)
    when it is unset, empty or not such a number."""
    text = environ.get("CONVBENCH_THREAD_MIN_FLOPS", "").strip()
    try:
        value = float(text)
    except ValueError:
        return float(lib.CONV_THREAD_MIN_FLOPS)
    return value if value >= 0.0 and not math.isnan(value) else float(lib.CONV_THREAD_MIN_FLOPS)


#: the least work (FLOPs) worth another C thread in forward() and backward(), passed to every
#: call: CONVBENCH_THREAD_MIN_FLOPS read once, at import (0: always the threads asked for)
THREAD_MIN_FLOPS = _thread_min_flops()


class ConvError(ConvbenchError, ValueError):
    """A bad argument for the convolution kernel, or an error status from the C kernel."""

    exit_code = 2

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        #: the C status code (CONV_E*) when the error came from the C kernel, else None
        self.code = code


def _check(status: int) -> None:
    """Raise ConvError for a non-zero C status."""
    if status != lib.CONV_OK:
        msg = ffi.string(lib.conv_strerror(status)).decode("utf-8", "replace")
        raise ConvError(f"C kernel: {msg} (status {status})", code=int(status))


# ---- argument checks --------------------------------------------------------------------------

def _int(name: str, value) -> int:
    """A Python/numpy integer (bools rejected) as int."""
    return strict_int(name, value, ConvError)


def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, each >= minimum, that fits in int64."""
    pair = int_pair(name, value, minimum=minimum, error=ConvError)
    if max(pair) > _INT64_MAX:
        raise ConvError(f"{name} {max(pair)} does not fit in int64")
    return pair


def _shape4(name: str, shape) -> tuple[int, int, int, int]:
    try:
        dims = tuple(shape)
    except TypeError:
        raise ConvError(f"{name} must be a shape of 4 ints, got {shape!r}") from None
    if len(dims) != 4:
        raise ConvError(f"{name} must have 4 dimensions, got {len(dims)}")
    dims = tuple(_int(name, d) for d in dims)
    if name.startswith("x") and dims[0] <= 0:
        raise ConvError(f"x has an empty batch (N = {dims[0]}); N must be >= 1")
    for d in dims:
        if d <= 0:
            raise ConvError(f"{name} {dims} has an extent <= 0 (empty batches are not supported)")
        if d > _INT64_MAX:
            raise ConvError(f"{name} {dims} has an extent that does not fit in int64")
    return dims  # type: ignore[return-value]


def _threads(value) -> int:
    t = _int("threads", value)
    if t < 1:
        raise ConvError(f"threads must be >= 1, got {t}")
    if t > 2**31 - 1:
        raise ConvError(f"threads {t} is too large")
    return t


def _method(value) -> int:
    if not isinstance(value, str) or value not in METHODS:
        raise ConvError(f"method must be one of {', '.join(METHODS)}, got {value!r}")
    return METHODS[value]


def _array(name: str, a, ndim: int, axes: str) -> np.ndarray:
    """An input array: numpy, float32 (native byte order), C-contiguous, aligned, ndim."""
    if not isinstance(a, np.ndarray):
        raise ConvError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise ConvError(f"{name} must be float32, got {a.dtype}")
    if a.ndim != ndim:
        axes = f" {axes}" if axes else ""
        raise ConvError(f"{name} must have {ndim} dimensions{axes}, got {a.ndim}")
    if not a.flags.c_contiguous:
        raise ConvError(f"{name} must be C-contiguous (use numpy.ascontiguousarray)")
    if not a.flags.aligned:
        raise ConvError(f"{name} must be aligned")
    return a


def _output(name: str, a, shape: tuple, inputs: dict) -> np.ndarray:
    """An output array: like an input, plus exact shape, writeable, no overlap with inputs."""
    a = _array(name, a, len(shape), "")
    if a.shape != tuple(shape):
        raise ConvError(f"{name} has shape {a.shape}, expected {tuple(shape)}")
    if not a.flags.writeable:
        raise ConvError(f"{name} must be writeable")
    for other, arr in inputs.items():
        if arr is not None and np.may_share_memory(a, arr):
            raise ConvError(f"{name} must not overlap {other}")
    return a


def _new_or_check(name: str, a, shape: tuple, inputs: dict) -> np.ndarray:
    if a is None:
        return np.empty(shape, dtype=np.float32)
    return _output(name, a, shape, inputs)


def _geometry(x_shape, w_shape, stride, padding):
    """Validated (x_shape, w_shape, (sh, sw), (ph, pw), y_shape)."""
    xs = _shape4("x shape", x_shape)
    ws = _shape4("w shape", w_shape)
    sh, sw = _pair("stride", stride, 1)
    ph, pw = _pair("padding", padding, 0)
    n, c, h, w = xs
    k, c2, kh, kw = ws
    if c != c2:
        raise ConvError(f"channels mismatch: x has {c} input channels but w expects {c2}")
    hp, wp = h + 2 * ph, w + 2 * pw
    if kh > hp or kw > wp:
        raise ConvError(f"kernel {kh}x{kw} is larger than the padded input {hp}x{wp}")
    y_shape = (n, k, (hp - kh) // sh + 1, (wp - kw) // sw + 1)
    s = _struct(xs, ws, (sh, sw), (ph, pw))
    _check(lib.conv_output_size(s, ffi.NULL, ffi.NULL))  # int64 overflow of sizes, in C
    return xs, ws, (sh, sw), (ph, pw), y_shape, s


def _struct(xs, ws, stride, padding):
    n, c, h, w = xs
    k, _, kh, kw = ws
    s = ffi.new("conv_shape *")
    s.n, s.c_in, s.h, s.w = n, c, h, w
    s.c_out, s.kh, s.kw = k, kh, kw
    s.stride_h, s.stride_w = stride
    s.pad_h, s.pad_w = padding
    return s


def _in_ptr(a: np.ndarray):
    return ffi.from_buffer("float[]", a)


def _out_ptr(a: np.ndarray):
    return ffi.from_buffer("float[]", a, require_writable=True)


def _bias(b, c_out: int):
    if b is None:
        return None
    b = _array("b", b, 1, "(C_out,)")
    if b.shape != (c_out,):
        raise ConvError(f"b has shape {b.shape}, expected ({c_out},)")
    return b


# ---- public API -------------------------------------------------------------------------------

def output_shape(x_shape, w_shape, stride=1, padding=0) -> tuple[int, int, int, int]:
    """(N, C_out, OH, OW) of a convolution; validates everything (raises ConvError)."""
    return _geometry(x_shape, w_shape, stride, padding)[4]


def _forward_args(x, w, b, stride, padding, out):
    x = _array("x", x, 4, "(N, C, H, W)")
    w = _array("w", w, 4, "(C_out, C_in, KH, KW)")
    _, ws, _, _, y_shape, s = _geometry(x.shape, w.shape, stride, padding)
    b = _bias(b, ws[0])
    out = _new_or_check("out", out, y_shape, {"x": x, "w": w, "b": b})
    return s, x, w, b, out


def forward(x, w, b=None, *, stride=1, padding=0, out=None, threads=1,
            method="auto") -> np.ndarray:
    """y = conv2d(x, w) + b, float32 (N, C_out, OH, OW).

    stride, padding: an int or an (h, w) pair. out: an optional float32 C-contiguous array of
    the output shape that receives y (and is returned). threads: C threads (int >= 1).
    method: "auto" (by shape), "direct" or "gemm".
    """
    t, m = _threads(threads), _method(method)
    s, x, w, b, out = _forward_args(x, w, b, stride, padding, out)
    _check(lib.conv_forward_ex(s, _in_ptr(x), _in_ptr(w), ffi.NULL if b is None else _in_ptr(b),
                               _out_ptr(out), t, m, THREAD_MIN_FLOPS))
    return out


def forward_naive(x, w, b=None, *, stride=1, padding=0, out=None, threads=1) -> np.ndarray:
    """forward() computed by the textbook 7-loop C algorithm (for benchmarks only). It runs
    one thread: threads is validated and otherwise ignored (so callers can pass it alike)."""
    _threads(threads)
    s, x, w, b, out = _forward_args(x, w, b, stride, padding, out)
    _check(lib.conv_forward_naive(s, _in_ptr(x), _in_ptr(w),
                                  ffi.NULL if b is None else _in_ptr(b), _out_ptr(out)))
    return out


def _backward_args(x, w, dy, stride, padding, dx, dw, db):
    x = _array("x", x, 4, "(N, C, H, W)")
    w = _array("w", w, 4, "(C_out, C_in, KH, KW)")
    dy = _array("dy", dy, 4, "(N, C_out, OH, OW)")
    xs, ws, _, _, y_shape, s = _geometry(x.shape, w.shape, stride, padding)
    if dy.shape != y_shape:
        raise ConvError(f"dy has shape {dy.shape}, expected {y_shape}")
    inputs = {"x": x, "w": w, "dy": dy}
    dx = _new_or_check("dx", dx, xs, inputs)
    dw = _new_or_check("dw", dw, ws, inputs)
    db = _new_or_check("db", db, (ws[0],), inputs)
    outs = {"dx": dx, "dw": dw, "db": db}
    for name, arr in outs.items():
        for other, arr2 in outs.items():
            if name < other and np.may_share_memory(arr, arr2):
                raise ConvError(f"{name} must not overlap {other}")
    return s, x, w, dy, dx, dw, db


def backward(x, w, dy, *, stride=1, padding=0, dx=None, dw=None, db=None, threads=1,
             method="auto"):
    """(dx, dw, db): the gradients of a loss L given dy = dL/dy, all float32.

    dx has x's shape, dw w's shape, db is (C_out,). dx, dw, db may be given as preallocated
    float32 C-contiguous arrays (they are overwritten and returned). Both gradients are
    computed in one pass over the batch. threads, method: as in forward().
    """
    t, m = _threads(threads), _method(method)
    s, x, w, dy, dx, dw, db = _backward_args(x, w, dy, stride, padding, dx, dw, db)
    _check(lib.conv_backward_ex(s, _in_ptr(x), _in_ptr(dy), _in_ptr(w), _out_ptr(dx),
                                _out_ptr(dw), _out_ptr(db), t, m, THREAD_MIN_FLOPS))
    return dx, dw, db


def backward_naive(x, w, dy, *, stride=1, padding=0, dx=None, dw=None, db=None, threads=1):
    """backward() computed by textbook loops in C (for benchmarks only; one thread, threads is
    validated and ignored; dw and db are summed in float over the whole batch, so they lose
    precision on big batches)."""
    _threads(threads)
    s, x, w, dy, dx, dw, db = _backward_args(x, w, dy, stride, padding, dx, dw, db)
    _check(lib.conv_backward_naive(s, _in_ptr(x), _in_ptr(dy), _in_ptr(w), _out_ptr(dx),
                                   _out_ptr(dw), _out_ptr(db)))
    return dx, dw, db


def stream(x, w, dy=None, *, stride=1, padding=0, out=None, threads=1) -> np.ndarray:
    """The memory floor of a pass, for benchmarks (no convolution, no gradient): reads what
    the pass must read and writes what it must write, once, with the images split over
    ``threads`` as forward()/backward() split them and plain stores.

    dy None (forward): reads x, writes ``out`` of y's shape (out = the leading elements of
    x). dy given (backward): reads x and dy, writes ``out`` of x's shape (x + dy where dy has
    elements). What is read past out's length is summed into its last element. w only gives
    the geometry; its bytes and dw's are not moved (they are a few KB).
    """
    t = _threads(threads)
    x = _array("x", x, 4, "(N, C, H, W)")
    w = _array("w", w, 4, "(C_out, C_in, KH, KW)")
    xs, _, _, _, y_shape, s = _geometry(x.shape, w.shape, stride, padding)
    inputs = {"x": x}
    if dy is not None:
        dy = _array("dy", dy, 4, "(N, C_out, OH, OW)")
        if dy.shape != y_shape:
            raise ConvError(f"dy has shape {dy.shape}, expected {y_shape}")
        inputs["dy"] = dy
    out = _new_or_check("out", out, y_shape if dy is None else xs, inputs)
    _check(lib.conv_stream_ex(s, 0 if dy is None else 1, _in_ptr(x),
                              ffi.NULL if dy is None else _in_ptr(dy), _out_ptr(out), t))
    return out


def method_for(x_shape, w_shape, stride=1, padding=0) -> dict:
    """What method="auto" chooses for each part of this geometry (never depends on N):
    {"forward": "direct"|"gemm", "backward_input": ..., "backward_weight": ...}."""
    s = _geometry(x_shape, w_shape, stride, padding)[5]
    out = {}
    for part, code in _PARTS.items():
        m = lib.conv_method(s, code)
        if m < 0:
            _check(-m)
        out[part] = _METHOD_NAMES[m]
    return out


def max_threads() -> int:
    """The most threads the C kernel runs (1 when it was built without OpenMP)."""
    return int(lib.conv_max_threads())


def build_info() -> dict:
    """How the kernel was built: {'compiler', 'flags', 'isa', 'vector_width', ...} as strings."""
    text = ffi.string(lib.conv_build_info()).decode("utf-8", "replace")
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            info[key.strip()] = value.strip()
    return info
