"""convbench's C kernel as a PyTorch layer: an autograd Function and a drop-in ``Conv2d``.

    import torch
    from convbench.torch import Conv2d
    layer = Conv2d(3, 8, kernel_size=3, padding=1)      # like torch.nn.Conv2d(3, 8, 3, padding=1)
    y = layer(torch.randn(4, 3, 32, 32))                # forward: convbench.kernel.forward
    y.sum().backward()                                  # backward: convbench.kernel.backward

Needs PyTorch (``pip install 'convbench[torch]'``, torch==2.13.0); importing this module without
it raises ImportError saying so.

Tensors: float32, on the CPU, strided. They are handed to the kernel as numpy arrays that share
their memory (``.detach().numpy()``); a non-contiguous tensor (e.g. a transposed view, or the
expanded gradient of a ``sum()``) is made contiguous first, which copies it. Any other dtype is
refused with a TypeError and any other device with a ValueError: the C kernel computes in float32
only, and a float64 tensor is never cast silently. So ``torch.autograd.gradcheck`` cannot run in
float64 on this layer; tests/test_torch_layer.py runs it in float32 with a step and tolerances
that suit float32 (the layer is linear in each of x, w and b, so central differences are exact
but for rounding), and compares the gradients with torch's own float64 conv2d.

``Conv2d`` takes the constructor arguments of ``torch.nn.Conv2d``, has the same attributes,
parameter names and shapes (its state_dict loads into ``torch.nn.Conv2d`` and back), and
initialises its parameters with torch's own ``reset_parameters``: with the same seed both layers
get identical weights. What the kernel does not do is refused with a ValueError naming the
argument: ``groups`` != 1, ``dilation`` != 1, ``padding_mode`` other than 'zeros', a ``device``
other than the CPU, a ``dtype`` other than float32, and ``padding='same'`` with an even kernel
size or a stride > 1 (torch pads an even kernel asymmetrically; the kernel pads symmetrically).
``padding='valid'`` is 0 and ``padding='same'`` with odd kernel sizes and stride 1 is
``kernel_size // 2``. A 3-D (C, H, W) input is treated as a batch of one, as torch does.

The layer computes dX and dW together in its backward (the kernel's backward does both), even
when only one is needed, and it is differentiable once (no double backward).
"""
from __future__ import annotations

import numbers

try:
    import torch
except ImportError as _e:
    raise ImportError(
        "convbench.torch needs PyTorch: pip install 'convbench[torch]' (torch==2.13.0)") from _e

from torch.autograd.function import once_differentiable  # noqa: E402

from convbench import kernel  # noqa: E402
from convbench.core.parse import int_pair  # noqa: E402
from convbench.torch.backend import backend_backward, backend_forward  # noqa: E402,F401  (re-exported)

__all__ = ["ConvFunction", "Conv2d", "conv2d", "backend_forward", "backend_backward"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")   # torch's; only 'zeros' here


def _numpy(name: str, t: "torch.Tensor"):
    """A float32 CPU tensor as a C-contiguous numpy array sharing its memory where possible."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"convbench.torch: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype != torch.float32:
        raise TypeError(
            f"convbench.torch computes in float32 only (the C kernel's type): {name} is "
            f"{t.dtype}; convert it with .float() (float64 is not cast silently; use "
            "torch.nn.Conv2d for float64)")
    if t.device.type != "cpu" or t.layout != torch.strided:
        raise ValueError(f"convbench.torch runs on the CPU only: {name} is on {t.device} "
                         f"({t.layout}); move it with .cpu()")
    t = t.detach()
    if not t.is_contiguous():
        t = t.contiguous()              # a copy; the kernel needs C-contiguous arrays
    return t.numpy()


class ConvFunction(torch.autograd.Function):
    """conv2d(x, w, b) by the C kernel: ``ConvFunction.apply(x, w, b=None, stride=1, padding=0)``.

    x (N, C_in, H, W), w (C_out, C_in, KH, KW), b (C_out,) or None: float32 CPU tensors.
    stride, padding: an int or an (h, w) pair. Bad shapes raise convbench's ConvError (a
    ValueError) with the kernel's message.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=1, padding=0):
        y = kernel.forward(_numpy("input", x), _numpy("weight", weight),
                           None if bias is None else _numpy("bias", bias),
                           stride=stride, padding=padding)
        ctx.save_for_backward(x, weight)
        ctx.conv_args = dict(stride=stride, padding=padding)
        return torch.from_numpy(y)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        dx, dw, db = kernel.backward(_numpy("input", x), _numpy("weight", weight),
                                     _numpy("grad_output", grad_output), **ctx.conv_args)
        need = ctx.needs_input_grad
        return (torch.from_numpy(dx) if need[0] else None,
                torch.from_numpy(dw) if need[1] else None,
                torch.from_numpy(db) if len(need) > 2 and need[2] else None,
                None, None)


def conv2d(input, weight, bias=None, stride=1, padding=0):
    """Like ``torch.nn.functional.conv2d`` (no dilation, no groups), computed by the C kernel."""
    return ConvFunction.apply(input, weight, bias, stride, padding)


# ---- the module ---------------------------------------------------------------------------------

def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _padding(padding, kernel_size: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int]:
    """The kernel's (pad_h, pad_w) for torch's padding argument (an int, a pair, or a string)."""
    if not isinstance(padding, str):
        return int_pair("padding", padding, minimum=0)
    if padding == "valid":
        return (0, 0)
    if padding != "same":
        raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    if stride != (1, 1):
        raise ValueError(f"padding='same' is not supported with stride {stride} (nor by torch)")
    if any(k % 2 == 0 for k in kernel_size):
        raise ValueError(
            f"padding='same' needs odd kernel sizes here, got kernel_size={kernel_size}: an even "
            "kernel needs asymmetric padding, and convbench's kernel pads symmetrically")
    return (kernel_size[0] // 2, kernel_size[1] // 2)


class Conv2d(torch.nn.Module):
    """``torch.nn.Conv2d`` computed by convbench's C kernel (forward and backward).

    Same constructor, attributes (in_channels, out_channels, kernel_size, stride, padding,
    dilation, groups, padding_mode) and parameters (weight (out, in, kh, kw), bias (out,) or None)
    as torch.nn.Conv2d, initialised by torch's own reset_parameters. Refused with a ValueError
    naming the argument: groups != 1, dilation != 1, padding_mode != 'zeros', a non-CPU device,
    a dtype other than float32, padding='same' with an even kernel size or stride > 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not _is_int(v) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not _is_int(groups) or groups != 1:
            raise ValueError(f"groups={groups!r} is not supported by convbench.torch.Conv2d "
                             "(the C kernel has no grouped convolution); use groups=1")
        if int_pair("dilation", dilation, minimum=1) != (1, 1):
            raise ValueError(f"dilation={dilation!r} is not supported by convbench.torch.Conv2d "
                             "(the C kernel has no dilation); use dilation=1")
        if padding_mode != "zeros":
            known = "" if padding_mode in _PADDING_MODES else f" (torch's are {_PADDING_MODES})"
            raise ValueError(f"padding_mode={padding_mode!r} is not supported by "
                             f"convbench.torch.Conv2d: the C kernel pads with zeros only{known}")
        if device is not None and torch.device(device).type != "cpu":
            raise ValueError(f"device={device!r} is not supported by convbench.torch.Conv2d: "
                             "the C kernel runs on the CPU")
        if dtype is not None and dtype != torch.float32:
            raise ValueError(f"dtype={dtype!r} is not supported by convbench.torch.Conv2d: the C "
                             "kernel computes in float32 only")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = int_pair("kernel_size", kernel_size, minimum=1)
        self.stride = int_pair("stride", stride, minimum=1)
        self._kernel_padding = _padding(padding, self.kernel_size, self.stride)
        # as torch.nn.Conv2d: the string itself when a string was given, else the pair
        self.padding = padding if isinstance(padding, str) else self._kernel_padding
        self.dilation = (1, 1)
        self.groups = 1
        self.padding_mode = "zeros"
        factory = {"device": device, "dtype": dtype}
        self.weight = torch.nn.Parameter(
            torch.empty((self.out_channels, self.in_channels, *self.kernel_size), **factory))
        if bias:
            self.bias = torch.nn.Parameter(torch.empty(self.out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn.Conv2d's own initialisation (Kaiming-uniform weight, uniform bias)."""
        torch.nn.Conv2d.reset_parameters(self)  # type: ignore[arg-type]

    def forward(self, input: "torch.Tensor") -> "torch.Tensor":
        if input.dim() == 3:                         # unbatched (C, H, W), as torch allows
            return self.forward(input.unsqueeze(0)).squeeze(0)
        if input.dim() != 4:
            raise ValueError(f"Conv2d expects a 3-D (C, H, W) or 4-D (N, C, H, W) input, "
                             f"got {input.dim()}-D {tuple(input.shape)}")
        return ConvFunction.apply(input, self.weight, self.bias, self.stride, self._kernel_padding)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.bias is None:
            s += ", bias=False"
        return s
