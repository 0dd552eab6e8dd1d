"""Real images as a workload's input: the PNG and JPEG files of a directory as float32 NCHW.

Image ``i`` of a batch is file ``i % n_files`` of the directory (its PNG/JPEG files sorted by
name), so, as with the synthetic data (datagen.py), any rank can build any range of the batch by
itself and image ``i`` depends only on the directory and ``i``.

What a file becomes (all by Pillow, which matplotlib depends on):

- **Files**: ``*.png``, ``*.jpg``, ``*.jpeg`` (any case) directly in the directory, sorted by
  name; sub-directories and other files are ignored. A JPEG's EXIF orientation is applied.
- **Values**: 8-bit samples ``p`` become ``(p - 128) / 128`` and 16-bit ones
  ``(p - 32768) / 32768``: uniform steps in [-1, 1), the range of the synthetic data (exact in
  float32). Palette images are expanded, 1-bit ones are 0 or 255.
- **Channels**: alpha is dropped. Grey (1 channel) asked for ``c`` channels is replicated; RGB
  asked for 1 channel is the plain mean of R, G and B; otherwise channel ``k`` of the result is
  channel ``k % 3`` of the RGB image (``c = 3``: RGB as is; ``c = 4``: R, G, B, R; ...).
- **Size**: an image at least ``h x w`` is center-cropped to ``h x w`` (pixels kept exactly,
  top-left corner at ``((H - h) // 2, (W - w) // 2)``). An image smaller than ``h x w`` in either
  dimension is first scaled up, keeping its aspect ratio, by the smallest factor that makes it
  cover ``h x w`` (bilinear, Pillow), then center-cropped.

Errors (:class:`convbench.core.errors.UsageError`, one line): the directory is missing or not a
directory, it holds no PNG/JPEG file, a file cannot be read or decoded, or it declares more
pixels than :func:`pixel_budget` allows (checked from its header, before it is decoded); the
message names the file.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from convbench.core.errors import UsageError

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "pixel_budget", "list_images", "read_image",
           "check_files", "fit", "load_image", "load_batch"]

#: file name endings taken as images (compared in lower case)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_images(directory) -> list[Path]:
    """The PNG/JPEG files directly in ``directory``, sorted by name (UsageError if none)."""
    d = Path(directory)
    if not d.exists():
        raise UsageError(f"image directory {d} does not exist")
    if not d.is_dir():
        raise UsageError(f"image directory {d} is not a directory")
    try:
        files = sorted((p for p in d.iterdir()
                        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                       key=lambda p: p.name)
    except OSError as e:
        raise UsageError(f"cannot list image directory {d}: {e.strerror or e}") from None
    if not files:
        raise UsageError(f"image directory {d} holds no PNG or JPEG file "
                         f"({', '.join('*' + s for s in IMAGE_SUFFIXES)})")
    return files


def _to_array(img) -> np.ndarray:
    """A decoded Pillow image as float32 (H, W, 1 or 3) in [-1, 1); alpha dropped."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img, dtype=np.float64)                 # 16-bit grey (PNG)
        return ((np.clip(a, 0, 65535) - 32768.0) / 32768.0).astype(np.float32)[:, :, None]
    if mode == "F":
        a = np.asarray(img, dtype=np.float64)
        return ((np.clip(a, 0, 255) - 128.0) / 128.0).astype(np.float32)[:, :, None]
    if mode in ("1", "L", "LA", "La") or (mode == "P" and _grey_palette(img)):
        img = img.convert("L")
    elif mode != "RGB":
        img = img.convert("RGB")                               # RGBA, P, CMYK, YCbCr, ...
    a = np.asarray(img, dtype=np.float32)
    a = (a - np.float32(128.0)) / np.float32(128.0)
    return a[:, :, None] if a.ndim == 2 else a


def _grey_palette(img) -> bool:
    pal = img.getpalette()
    if not pal:
        return False
    rgb = np.asarray(pal, dtype=np.int64).reshape(-1, 3)
    return bool(np.all(rgb == rgb[:, :1]))


#: the most pixels a file may declare before it is decoded (a few KB of PNG can declare
#: 12000 x 12000 and take minutes and gigabytes to decode); a larger workload raises it
MAX_PIXELS = 2**26


def pixel_budget(h: int | None = None, w: int | None = None) -> int:
    """Pixels a file may have for a workload of h x w images: MAX_PIXELS, or 4 h w if larger."""
    return max(MAX_PIXELS, 4 * (h or 0) * (w or 0))


def _open_checked(path: Path, max_pixels: int):
    """The file opened by Pillow, its header read and its size checked: nothing decoded yet."""
    import warnings
    from PIL import Image
    with warnings.catch_warnings():     # our own budget decides, with a message of its own
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img = Image.open(path)
    width, height = img.size
    if width * height > max_pixels:
        img.close()
        raise UsageError(f"image {path} declares {width} x {height} pixels, more than the "
                         f"{max_pixels} convbench decodes (--images holds too large a file, "
                         "or a decompression bomb)")
    return img


def read_image(path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """One file at its own size as float32 (H, W, 1) for grey or (H, W, 3) for colour, values
    in [-1, 1). UsageError naming the file if it cannot be read or decoded, or if it declares
    more than max_pixels pixels (refused before it is decoded)."""
    from PIL import Image, ImageOps
    path = Path(path)
    try:
        with _open_checked(path, max_pixels) as img:
            img.load()
            if img.format == "JPEG":
                img = ImageOps.exif_transpose(img)
            return _to_array(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise UsageError(f"cannot read image {path}: {reason}") from None


def check_files(directory, h: int, w: int) -> int:
    """Every PNG/JPEG file of a directory opened and checked (size within the pixel budget of
    an h x w workload, the file's structure intact) without decoding it: before anything is
    launched, not only the first file. Returns how many there are."""
    from PIL import Image
    budget = pixel_budget(h, w)
    files = list_images(directory)
    for f in files:
        try:
            with _open_checked(f, budget) as img:
                img.verify()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            raise UsageError(f"cannot read image {f}: {reason}") from None
    return len(files)


def _channels(a: np.ndarray, c: int) -> np.ndarray:
    """(H, W, 1|3) -> (c, H, W) by the rules in the module docstring."""
    src = a.shape[2]
    if c == src:
        out = a
    elif src == 3 and c == 1:
        out = a.mean(axis=2, keepdims=True, dtype=np.float32)
    else:
        out = a[:, :, [k % src for k in range(c)]]
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """(C, H0, W0) float32 -> (C, h, w), bilinear, one channel at a time (Pillow mode 'F')."""
    from PIL import Image
    out = np.empty((a.shape[0], h, w), dtype=np.float32)
    for k in range(a.shape[0]):
        out[k] = np.asarray(Image.fromarray(a[k]).resize(
            (w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    return out


def fit(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """(C, H, W) -> (C, h, w): scale up to cover h x w when smaller, then center-crop."""
    _, h0, w0 = a.shape
    if h0 < h or w0 < w:
        s = max(h / h0, w / w0)
        h1, w1 = max(h, math.ceil(h0 * s - 1e-9)), max(w, math.ceil(w0 * s - 1e-9))
        a = _resize(a, h1, w1)
        h0, w0 = h1, w1
    top, left = (h0 - h) // 2, (w0 - w) // 2
    return np.ascontiguousarray(a[:, top:top + h, left:left + w])


def _positive(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise UsageError(f"{name} must be a positive int, got {v!r}")
    return int(v)


def load_image(path, c: int, h: int | None = None, w: int | None = None) -> np.ndarray:
    """One file as float32 (c, h, w); h and w default to the image's own size (no resizing)."""
    c = _positive("c", c)
    h = None if h is None else _positive("h", h)
    w = None if w is None else _positive("w", w)
    a = _channels(read_image(path, pixel_budget(h, w)), c)
    return fit(a, a.shape[1] if h is None else h, a.shape[2] if w is None else w)


def load_batch(directory, start: int, count: int, c: int, h: int, w: int,
               out: np.ndarray | None = None) -> np.ndarray:
    """Images [start, start + count) of the batch as float32 (count, c, h, w).

    Image i is file ``i % n_files`` of ``list_images(directory)``; each file is decoded once
    per call however often it recurs. ``out``: an optional float32 array (count, c, h, w) that
    receives the images and is returned.
    """
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise UsageError(f"start must be an int >= 0, got {start!r}")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise UsageError(f"count must be an int >= 0, got {count!r}")
    c, h, w = _positive("c", c), _positive("h", h), _positive("w", w)
    files = list_images(directory)
    shape = (int(count), c, h, w)
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != shape:
        raise UsageError(f"out must be a float32 array of shape {shape}")
    n = len(files)
    first = {}                                  # file index -> first batch slot holding it
    for j in range(int(count)):
        f = (start + j) % n
        if f in first:
            out[j] = out[first[f]]
        else:
            out[j] = load_image(files[f], c, h, w)
            first[f] = j
    return out
