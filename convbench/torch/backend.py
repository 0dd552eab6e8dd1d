"""PyTorch as the compute backend of a sweep (``--backend torch``): the same convolution as
convbench.kernel, computed by ``torch.nn.functional.conv2d`` and its backward op.

The two functions mirror :func:`convbench.kernel.forward` and :func:`convbench.kernel.backward`
(same arrays in and out, same optional preallocated outputs), so the MPI worker can call either
backend the same way. Inputs are numpy float32 arrays; they are wrapped with
``torch.from_numpy`` (no copy). torch writes its results into tensors it allocates itself, so a
preallocated ``out`` / ``dx`` / ``dw`` / ``db`` costs one extra copy of the result.

Threads: these functions do not touch torch's thread count. An MPI rank should run
``torch.set_num_threads(1)`` once before timing anything (the C kernel is single-threaded;
P ranks of an intra-op pool of all the cores would oversubscribe the machine); that is the
caller's job.

The backward is ``torch.ops.aten.convolution_backward``, the op ``torch.autograd`` runs for the
backward of ``conv2d``: it computes dX, dW and db from dY without recomputing the forward, which
is what the C kernel's backward does too (tests/test_torch_layer.py checks it against
``torch.autograd.grad``).

Needs PyTorch: ``pip install 'convbench[torch]'`` (torch==2.13.0). Importing this module
without it raises ImportError with that instruction; ``importlib.util.find_spec("torch")``
tells beforehand, without the slow import.
"""
from __future__ import annotations

import numpy as np

#: the pinned PyTorch of the ``torch`` extra (pyproject.toml)
TORCH_REQUIREMENT = "torch==2.13.0"


def _missing(module: str) -> ImportError:
    return ImportError(f"{module} needs PyTorch: pip install 'convbench[torch]' ({TORCH_REQUIREMENT})")


try:
    import torch
except ImportError as _e:
    raise _missing("convbench.torch.backend") from _e

from convbench.core.parse import int_pair  # noqa: E402
from convbench.core.torchconv import conv2d_backward  # noqa: E402
from convbench.kernel import ConvError, output_shape  # noqa: E402  (after the torch check)

__all__ = ["backend_forward", "backend_backward", "TORCH_REQUIREMENT"]


def _tensor(name: str, a, ndim: int) -> "torch.Tensor":
    """A numpy float32 array of ndim dimensions as a tensor sharing its memory."""
    if not isinstance(a, np.ndarray):
        raise ConvError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise ConvError(f"{name} must be float32, got {a.dtype}")
    if a.ndim != ndim:
        raise ConvError(f"{name} must have {ndim} dimensions, got {a.ndim}")
    return torch.from_numpy(a)


def _store(name: str, result: "torch.Tensor", dest):
    """The result as numpy; copied into dest (checked) when one is given."""
    arr = result.numpy()
    if dest is None:
        return np.ascontiguousarray(arr)
    if not isinstance(dest, np.ndarray) or dest.dtype != np.float32 or dest.shape != arr.shape:
        got = (f"{dest.dtype} {dest.shape}" if isinstance(dest, np.ndarray)
               else type(dest).__name__)
        raise ConvError(f"{name} must be a float32 array of shape {arr.shape}, got {got}")
    np.copyto(dest, arr)
    return dest


def backend_forward(x_np: np.ndarray, w_np: np.ndarray, b_np: np.ndarray | None = None,
                    stride=1, padding=0, *, out: np.ndarray | None = None) -> np.ndarray:
    """y = conv2d(x, w) + b by ``torch.nn.functional.conv2d``: float32 (N, C_out, OH, OW).

    x_np (N, C_in, H, W), w_np (C_out, C_in, KH, KW), b_np (C_out,) or None: numpy float32.
    stride, padding: an int or an (h, w) pair. out: an optional float32 array of the output
    shape that receives y (one copy) and is returned. The geometry is checked as
    convbench.kernel checks it (ConvError).
    """
    x = _tensor("x", x_np, 4)
    w = _tensor("w", w_np, 4)
    b = None if b_np is None else _tensor("b", b_np, 1)
    output_shape(x.shape, w.shape, stride, padding)      # the kernel's checks and messages
    with torch.no_grad():
        y = torch.nn.functional.conv2d(x, w, b, stride=int_pair("stride", stride),
                                       padding=int_pair("padding", padding))
    return _store("out", y, out)


def backend_backward(x_np: np.ndarray, w_np: np.ndarray, dy_np: np.ndarray,
                     stride=1, padding=0, *, dx: np.ndarray | None = None,
                     dw: np.ndarray | None = None, db: np.ndarray | None = None):
    """(dx, dw, db) for dy = dL/dy, as numpy float32 arrays, by the backward op of torch's conv2d.

    Same arrays as convbench.kernel.backward: dx has x's shape, dw w's shape, db is (C_out,);
    given dx / dw / db arrays receive the results (one copy each) and are returned.
    """
    x = _tensor("x", x_np, 4)
    w = _tensor("w", w_np, 4)
    g = _tensor("dy", dy_np, 4)
    y_shape = output_shape(x.shape, w.shape, stride, padding)
    if tuple(g.shape) != y_shape:
        raise ConvError(f"dy has shape {tuple(g.shape)}, expected {y_shape}")
    gx, gw, gb = conv2d_backward(g, x, w, int_pair("stride", stride), int_pair("padding", padding))
    return _store("dx", gx, dx), _store("dw", gw, dw), _store("db", gb, db)
