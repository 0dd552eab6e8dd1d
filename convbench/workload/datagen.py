"""Deterministic synthetic data: image i of a batch is a function of (seed, stream, i) alone.

So a rank can make any contiguous range of images by itself, and the same image has the same
values whichever rank makes it and however many ranks there are: the forward checksum of a
sweep is the same at every P. Values are uniform in [-1, 1).

How: one PCG64 stream per (seed, stream); image i takes the 64-bit draws
[i * D, (i + 1) * D) with D = ceil(E / 2) for E elements per image (numpy's float32 draws take
half of a 64-bit draw each). A range of images is made in pieces of PIECE elements, each drawn
after ``advance`` and scaled while in cache, by several threads if asked; an odd E is drawn as
E + 1 values per image with the last one dropped. tests/test_datagen.py checks that a bulk
range equals the images made one by one, with any number of threads.
"""
from __future__ import annotations

import numpy as np

#: stream ids: one independent sequence per kind of array
INPUT, GRAD_OUTPUT, WEIGHT, BIAS = 0, 1, 2, 3


#: elements made per piece: a piece is drawn, then scaled while it is still in cache
PIECE = 1 << 20


def images(seed: int, stream: int, start: int, count: int, shape: tuple[int, ...],
           out: np.ndarray | None = None, threads: int = 1) -> np.ndarray:
    """Images [start, start + count) of the stream, as a float32 array (count, *shape), made
    in pieces by up to `threads` threads (the values do not depend on either)."""
    elems = int(np.prod(shape))
    if out is None:
        out = np.empty((count, *shape), dtype=np.float32)
    if count == 0 or elems == 0:
        return out
    state = np.random.PCG64(np.random.SeedSequence([seed, stream])).state
    per = (elems + 1) // 2                      # 64-bit draws per image
    flat = out.reshape(count, elems)
    if elems % 2 == 0:
        # the range is one run of draws: element k of it is half of draw start * per + k // 2
        run = flat.reshape(-1)
        pieces = [(a, min(a + PIECE, run.size)) for a in range(0, run.size, PIECE)]

        def make(piece):
            a, b = piece
            _draw(state, start * per + a // 2, run[a:b])
    else:
        # an odd image is drawn as elems + 1 values with the last one dropped
        pieces = list(range(count))

        def make(i):
            tmp = np.empty(elems + 1, dtype=np.float32)
            _draw(state, (start + i) * per, tmp)
            flat[i] = tmp[:elems]
    if threads > 1 and len(pieces) > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(min(threads, len(pieces))) as pool:
            list(pool.map(make, pieces))      # numpy draws and scales without the GIL
    else:
        for piece in pieces:
            make(piece)
    return out


def _draw(state: dict, skip: int, out: np.ndarray) -> None:
    """out (float32, 1-d, even length or the whole image) = uniform [-1, 1) values from the
    stream whose state is `state`, `skip` 64-bit draws on."""
    bitgen = np.random.PCG64()
    bitgen.state = state
    bitgen.advance(skip)
    np.random.Generator(bitgen).random(out=out, dtype=np.float32)
    out *= 2.0
    out -= 1.0


def weights(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The layer's weight (shape) and bias (shape[0],), scaled like PyTorch's default init."""
    fan_in = int(np.prod(shape[1:]))
    scale = np.float32(1.0 / np.sqrt(fan_in))
    w = images(seed, WEIGHT, 0, 1, tuple(shape))[0] * scale
    b = images(seed, BIAS, 0, 1, (shape[0],))[0] * scale
    return np.ascontiguousarray(w), np.ascontiguousarray(b)


def rows(seed: int, stream: int, start: int, count: int, shape: tuple[int, int, int],
         row0: int, row1: int) -> np.ndarray:
    """Rows [row0, row1) of every channel of images [start, start + count): equal to
    ``images(...)[:, :, row0:row1, :]`` without making the other rows (spatial decomposition)."""
    c, h, w = shape
    elems = c * h * w
    per = (elems + 1) // 2
    n = max(0, row1 - row0) * w
    out = np.empty((count, c, max(0, row1 - row0), w), dtype=np.float32)
    if n == 0 or count == 0:
        return out
    base = np.random.PCG64(np.random.SeedSequence([seed, stream]))
    state = base.state
    for i in range(count):
        for ch in range(c):
            e0 = ch * h * w + row0 * w                 # first element wanted, in the image
            bitgen = np.random.PCG64()
            bitgen.state = state
            bitgen.advance((start + i) * per + e0 // 2)
            gen = np.random.Generator(bitgen)
            if e0 % 2 == 0:                            # straight into the output rows
                gen.random(out=out[i, ch].reshape(-1), dtype=np.float32)
            else:
                out[i, ch] = gen.random(n + 1, dtype=np.float32)[1:].reshape(row1 - row0, w)
    out *= 2.0
    out -= 1.0
    return out
