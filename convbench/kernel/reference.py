"""Plain numpy 2-D convolution, forward and backward: the reference the C kernel is checked against.

Same contract as the kernel (native/conv.h): NCHW, weights (C_out, C_in, KH, KW), zero
padding, cross-correlation as torch.nn.functional.conv2d. Written for clarity and for being
obviously right, not for speed, but vectorised: the loops run over the KH x KW kernel taps
only, each tap a strided view of the padded input contracted over the channels with
numpy.tensordot. Inputs of any real dtype are accepted; everything is computed and returned
in float64 (so a float32 kernel result can be compared with it at a relative tolerance).

stride and padding are an int or an (h, w) pair, as in convbench.kernel.
"""
from __future__ import annotations

import numpy as np

from convbench.core.parse import int_pair

__all__ = ["conv2d_forward", "conv2d_backward"]


def _geometry(x_shape, w_shape, stride, padding):
    n, c, h, w = x_shape
    k, c2, kh, kw = w_shape
    sh, sw = int_pair("stride", stride)
    ph, pw = int_pair("padding", padding)
    if c != c2:
        raise ValueError(f"channels mismatch: x has {c} input channels but w expects {c2}")
    if sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError(f"stride must be >= 1 and padding >= 0, got {stride!r}, {padding!r}")
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"kernel {kh}x{kw} is larger than the padded input "
                         f"{h + 2 * ph}x{w + 2 * pw}")
    return (sh, sw), (ph, pw), (n, k, oh, ow)


def _tap(kh: int, kw: int, oh: int, ow: int, sh: int, sw: int):
    """The index of the input pixels that kernel tap (kh, kw) meets, in the padded input."""
    return (slice(None), slice(None),
            slice(kh, kh + (oh - 1) * sh + 1, sh), slice(kw, kw + (ow - 1) * sw + 1, sw))


def conv2d_forward(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """y = conv2d(x, w) + b in float64, shape (N, C_out, OH, OW)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    (sh, sw), (ph, pw), (n, k, oh, ow) = _geometry(x.shape, w.shape, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    y = np.zeros((k, n, oh, ow), dtype=np.float64)  # channel-first while accumulating
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            # (K, C) . (N, C, OH, OW) over C -> (K, N, OH, OW)
            y += np.tensordot(w[:, :, i, j], xp[_tap(i, j, oh, ow, sh, sw)], axes=([1], [1]))
    if b is not None:
        y += np.asarray(b, dtype=np.float64).reshape(k, 1, 1, 1)
    return np.ascontiguousarray(y.transpose(1, 0, 2, 3))


def conv2d_backward(x, w, dy, stride=1, padding=0):
    """(dx, dw, db) in float64 for dy = dL/dy: the gradients of L with respect to x, w and b."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    (sh, sw), (ph, pw), y_shape = _geometry(x.shape, w.shape, stride, padding)
    if dy.shape != y_shape:
        raise ValueError(f"dy has shape {dy.shape}, expected {y_shape}")
    _, _, oh, ow = y_shape
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    dxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=np.float64)
    dw = np.empty_like(w)
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            tap = _tap(i, j, oh, ow, sh, sw)
            # dW[:, :, i, j] = sum over n, oh, ow of dy (N, K, OH, OW) times x tap (N, C, OH, OW)
            dw[:, :, i, j] = np.tensordot(dy, xp[tap], axes=([0, 2, 3], [0, 2, 3]))
            # dX tap += W[:, :, i, j]^T dy: (K, C) . (N, K, OH, OW) over K -> (C, N, OH, OW)
            dxp[tap] += np.tensordot(w[:, :, i, j], dy, axes=([0], [1])).transpose(1, 0, 2, 3)
    dx = np.ascontiguousarray(dxp[:, :, ph:ph + h, pw:pw + wd])
    db = dy.sum(axis=(0, 2, 3))
    return dx, dw, db
