"""The one call of torch's convolution backward op (for the torch backend and the kernel
benchmark). torch is imported when it is called, never by importing this module."""
from __future__ import annotations


def conv2d_backward(dy, x, w, stride: tuple[int, int], padding: tuple[int, int]):
    """(dx, dw, db) tensors of y = conv2d(x, w, b, stride, padding) for dy = dL/dy, by
    ``torch.ops.aten.convolution_backward``, the op ``torch.autograd`` runs for conv2d."""
    import torch
    with torch.no_grad():
        return torch.ops.aten.convolution_backward(
            dy, x, w, [w.shape[0]], list(stride), list(padding), [1, 1], False, [0, 0], 1,
            [True, True, True])
