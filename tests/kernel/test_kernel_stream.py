"""kernel.stream, the memory floor `convbench kernels` compares the kernel with: it must read
every input element and write every output element of a pass, split over threads the way the
kernel splits a batch, and reject bad arguments like the kernel does."""
from __future__ import annotations

import numpy as np
import pytest

from convbench import kernel
from convbench.workload.partition import shard  # the C split_at's ranges: remainders to the first parts


def expected(x, dy, n_out: int, threads: int) -> np.ndarray:
    """What conv_stream_ex promises, per (image, part): out = a (+ b where b has elements),
    zeros past a, and what is read past the part's output summed into its last element."""
    n = x.shape[0]
    xs = x.reshape(n, -1).astype(np.float64)
    bs = dy.reshape(n, -1).astype(np.float64) if dy is not None else np.zeros((n, 0))
    parts = 1 if n >= threads else -(-threads // n)
    out = np.zeros((n, n_out))
    for i in range(n):
        for r in range(parts):
            a = xs[i, slice(*shard(xs.shape[1], parts, r))]
            b = bs[i, slice(*shard(bs.shape[1], parts, r))]
            o0, o1 = shard(n_out, parts, r)
            o = np.zeros(o1 - o0)
            o[:min(a.size, o.size)] += a[:o.size]
            o[:min(b.size, o.size)] += b[:o.size]
            if o.size:
                o[-1] += a[o.size:].sum() + b[o.size:].sum()
            out[i, o0:o1] = o
    return out


@pytest.mark.parametrize("n,c,k,h,w,kh,stride,padding,threads", [
    (3, 3, 3, 20, 37, 3, 1, 0, 1),    # valid: a little of x is past y's length
    (3, 3, 3, 20, 37, 3, 1, 0, 2),
    (1, 2, 5, 9, 11, 3, 2, 0, 2),     # stride 2, one image split in two parts
    (2, 1, 1, 8, 8, 1, 1, 2, 1),      # padding: y is longer than x (zeros past x)
    (2, 4, 2, 16, 64, 3, 1, 1, 3),
])
@pytest.mark.parametrize("backward", [False, True])
def test_stream_moves_every_element(n, c, k, h, w, kh, stride, padding, threads, backward):
    rng = np.random.default_rng(n * 100 + c * 10 + threads)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = np.zeros((k, c, kh, kh), np.float32)
    y_shape = kernel.output_shape(x.shape, wt.shape, stride, padding)
    dy = rng.standard_normal(y_shape, dtype=np.float32) if backward else None
    out = kernel.stream(x, wt, dy, stride=stride, padding=padding, threads=threads)
    assert out.shape == (x.shape if backward else y_shape) and out.dtype == np.float32
    ref = expected(x, dy, int(np.prod(out.shape[1:])), threads)
    np.testing.assert_allclose(out.reshape(n, -1), ref, rtol=1e-5, atol=1e-4)
    # preallocated output: the same numbers, into it
    again = np.full_like(out, np.nan)
    assert kernel.stream(x, wt, dy, stride=stride, padding=padding, out=again,
                         threads=threads) is again
    np.testing.assert_array_equal(again, out)


def test_stream_rejects_bad_arguments():
    x = np.zeros((2, 3, 8, 8), np.float32)
    w = np.zeros((4, 3, 3, 3), np.float32)
    with pytest.raises(kernel.ConvError, match=r"dy has shape \(2, 4, 6, 5\), expected"):
        kernel.stream(x, w, np.zeros((2, 4, 6, 5), np.float32))
    with pytest.raises(kernel.ConvError, match="out has shape"):
        kernel.stream(x, w, out=np.zeros((2, 4, 6, 5), np.float32))
    with pytest.raises(kernel.ConvError, match="out must not overlap x"):
        kernel.stream(x, w, np.zeros((2, 4, 6, 6), np.float32), out=x)
    with pytest.raises(kernel.ConvError, match="threads"):
        kernel.stream(x, w, threads=0)
    with pytest.raises(kernel.ConvError, match="channels mismatch"):
        kernel.stream(x, np.zeros((4, 2, 3, 3), np.float32))
    with pytest.raises(kernel.ConvError, match="x must be float32"):
        kernel.stream(x.astype(np.float64), w)
