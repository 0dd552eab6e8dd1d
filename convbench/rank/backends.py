"""What a rank computes with and on: the compute backend and the input images.

- :class:`Backend`: forward and backward of one implementation (convbench's C kernel, its
  naive loops, or torch), with the layer's stride and padding;
- :func:`input_images` / :func:`input_rows`: images (or rows of images) of the batch, synthetic
  (datagen: the same values whatever the rank and P) or read from ``--images DIR``.
"""
from __future__ import annotations

import numpy as np

from convbench import kernel
from convbench.workload import datagen
from convbench.workload.spec import Workload


class Backend:
    """forward(x, w, b, out) and backward(x, w, dy, dx, dw, db) of one implementation."""

    def __init__(self, name: str, stride, padding, threads: int = 1):
        self.name, self.kw = name, dict(stride=stride, padding=padding)
        self.threads = threads
        if name == "torch":
            from convbench.torch import backend as torch_backend
            import torch
            torch.set_num_threads(threads)
            self._fwd, self._bwd = torch_backend.backend_forward, torch_backend.backend_backward
        elif name == "naive":
            self._fwd = kernel.forward_naive
            self._bwd = getattr(kernel, "backward_naive", None)
        else:
            self._fwd, self._bwd = kernel.forward, kernel.backward
        if threads > 1 and name != "torch":
            self.kw["threads"] = threads

    def forward(self, x, w, b, out, **geometry) -> None:
        self._fwd(x, w, b, out=out, **{**self.kw, **geometry})

    def backward(self, x, w, dy, dx, dw, db, **geometry) -> None:
        self._bwd(x, w, dy, dx=dx, dw=dw, db=db, **{**self.kw, **geometry})


def input_images(images_dir: str | None, wl: Workload, start: int, count: int,
                 out=None, threads: int = 1) -> np.ndarray:
    """Images [start, start + count) of the batch: synthetic (made by `threads` threads), or
    from --images DIR."""
    if images_dir:
        from convbench.workload import images
        batch = images.load_batch(images_dir, start, count, wl.c_in, wl.height, wl.width)
        if out is None:
            return batch
        out[...] = batch
        return out
    return datagen.images(wl.seed, datagen.INPUT, start, count, wl.input_shape()[1:], out=out,
                          threads=threads)


def input_rows(images_dir: str | None, wl: Workload, row0: int, row1: int, start: int = 0,
               count: int | None = None) -> np.ndarray:
    """Rows [row0, row1) of images [start, start + count) (spatial decomposition)."""
    count = wl.batch - start if count is None else count
    if images_dir:
        return np.ascontiguousarray(input_images(images_dir, wl, start, count)[:, :, row0:row1])
    return datagen.rows(wl.seed, datagen.INPUT, start, count, wl.input_shape()[1:], row0, row1)
