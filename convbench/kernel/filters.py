"""Classic image filters run through the C kernel, for ``convbench apply`` (see the kernel work
on a real picture: the original report's "output of rank 0, batch 0").

The image is processed in grey: it is read by :mod:`convbench.workload.images` with one channel (the
mean of R, G and B; values in [-1, 1)), optionally fitted to ``--size`` (center crop, or scaled up
first when smaller), and convolved by :func:`convbench.kernel.forward` as a batch of one image
with zero padding ``K // 2``, so the output has the input's size. The filters:

- ``sobel``: the 3x3 Sobel pair, x and y gradients as two output channels; shown is the
  gradient magnitude ``sqrt(gx**2 + gy**2)``.
- ``gaussian``: a 5x5 Gaussian blur, sigma 1, normalised to sum 1.
- ``identity``: a 3x3 centred delta: the output equals the input exactly.
- ``random``: a 3x3 kernel of standard normal values / 3 from ``numpy.random.default_rng(seed)``.

The figure (matplotlib, Agg) puts the input and the output side by side.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from convbench.core.errors import UsageError

__all__ = ["KERNELS", "weights", "parse_size", "convolve", "apply_to_file"]

#: the filter names ``convbench apply --kernel`` takes
KERNELS = ("sobel", "gaussian", "identity", "random")
#: the largest side ``--size`` takes (an image is scaled up to it, in memory)
MAX_SIDE = 8192


def weights(name: str, seed: int = 0) -> np.ndarray:
    """The filter's float32 weight (C_out, 1, K, K): C_out = 2 for sobel, else 1."""
    if name == "sobel":
        gx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
        w = np.stack([gx, gx.T])[:, None]
    elif name == "gaussian":
        t = np.arange(-2, 3, dtype=np.float64)
        g = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / 2.0)
        w = (g / g.sum())[None, None]
    elif name == "identity":
        w = np.zeros((1, 1, 3, 3))
        w[0, 0, 1, 1] = 1.0
    elif name == "random":
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UsageError(f"--seed must be an int >= 0, got {seed!r}")
        w = np.random.default_rng(seed).standard_normal((1, 1, 3, 3)) / 3.0
    else:
        raise UsageError(f"unknown kernel {name!r}; choose one of {', '.join(KERNELS)}")
    return np.ascontiguousarray(w, dtype=np.float32)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'HxW' (or 'N' for N x N) -> (H, W); None stays None. UsageError when malformed."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if not m:
        raise UsageError(f"--size must be HxW (e.g. 256x384) or N, got {text!r}")
    h = int(m.group(1))
    w = int(m.group(2)) if m.group(2) is not None else h
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise UsageError(f"--size must be between 1x1 and {MAX_SIDE}x{MAX_SIDE}, got {text!r}")
    return h, w


def convolve(image: np.ndarray, name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(raw, shown) for a grey float32 (H, W) image: raw is the kernel's (C_out, H, W) output,
    shown the (H, W) picture of it (the Sobel magnitude, else raw[0])."""
    from convbench import kernel
    w = weights(name, seed)
    x = np.ascontiguousarray(image, dtype=np.float32)[None, None]
    raw = kernel.forward(x, w, padding=w.shape[2] // 2)[0]
    shown = np.sqrt(raw[0] ** 2 + raw[1] ** 2) if name == "sobel" else raw[0]
    return raw, shown


def _figure(image_path: Path, name: str, image: np.ndarray, shown: np.ndarray):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    h, w = image.shape
    panel = 4.5
    fig = Figure(figsize=(2 * panel + 1.2, min(max(panel * h / w, 2.0), 9.0) + 1.0),
                 layout="constrained")
    FigureCanvasAgg(fig)
    ax_in, ax_out = fig.subplots(1, 2)
    im = ax_in.imshow(image, cmap="gray", vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax_in.set_title(f"input: {image_path.name} ({h}x{w}, grey)")
    fig.colorbar(im, ax=ax_in, shrink=0.8)
    same_scale = name in ("identity", "gaussian")
    im = ax_out.imshow(shown, cmap="magma" if name == "sobel" else "gray",
                       vmin=-1.0 if same_scale else None, vmax=1.0 if same_scale else None,
                       interpolation="nearest")
    what = "gradient magnitude" if name == "sobel" else "output"
    ax_out.set_title(f"{name} {weights(name).shape[-1]}x{weights(name).shape[-1]}: {what}")
    fig.colorbar(im, ax=ax_out, shrink=0.8)
    for ax in (ax_in, ax_out):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("convbench apply: the C kernel's forward on one image (batch 0)")
    return fig


def apply_to_file(image_path, kernel: str = "sobel", out_path="apply.png",
                  size: tuple[int, int] | None = None, seed: int = 0, dpi: int = 100,
                  force: bool = False) -> dict:
    """Filter one image with the C kernel and save input and output side by side.

    image_path: a PNG or JPEG file. kernel: one of KERNELS. out_path: the figure (its suffix
    picks the format: png, svg, pdf, ...; missing directories are made): never the input, and
    an existing file only with force. size: (h, w) to fit the
    image to, default its own size. seed: for the random kernel.

    Returns {'out': Path, 'kernel': name, 'weights': (C_out, 1, K, K), 'input': (h, w),
    'raw': (C_out, h, w), 'output': (h, w) as drawn}, all arrays float32.
    """
    from convbench.workload import images
    w = weights(kernel, seed)                                   # an unknown name fails first
    out = Path(out_path)
    fmt = out.suffix.lower().lstrip(".")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    formats = FigureCanvasAgg(Figure()).get_supported_filetypes()
    if fmt not in formats:
        raise UsageError(f"cannot tell the figure format of {out}: give a name ending in "
                         f"{', '.join('.' + f for f in ('png', 'svg', 'pdf', 'jpg'))}")
    image_path = Path(image_path)
    if not image_path.is_file():
        raise UsageError(f"image {image_path} does not exist or is not a file")
    if out.exists() or out.is_symlink():
        if out.resolve() == image_path.resolve() or (out.exists() and out.samefile(image_path)):
            raise UsageError(f"--out {str(out)!r} is the input image: give another name")
        if not force:
            raise UsageError(f"--out {str(out)!r} exists: give another name, or --force to "
                             "overwrite it")
    h, w_ = size if size is not None else (None, None)
    image = images.load_image(image_path, 1, h, w_)[0]
    raw, shown = convolve(image, kernel, seed)
    fig = _figure(image_path, kernel, image, shown)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format=fmt, dpi=dpi)
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror or e}") from None
    return {"out": out, "kernel": kernel, "weights": w, "input": image, "raw": raw,
            "output": shown}
