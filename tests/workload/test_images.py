"""Real images as input: PNG/JPEG files generated here, read back as float32 NCHW batches."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convbench.workload import images
from convbench.core.errors import UsageError


def _pattern(h, w, channels, seed):
    """A deterministic uint8 image (h, w) or (h, w, channels) with structure and noise."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)
    a[: h // 2, :, 0] = np.arange(w, dtype=np.uint8)[None, :]     # a ramp, to see crops
    return a[:, :, 0] if channels == 1 else a


def _smooth(h, w):
    """A smooth RGB uint8 image (JPEG keeps it well)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    rgb = np.stack([np.sin(3 * xx), np.cos(2 * yy), np.sin(2 * (xx + yy))], axis=2)
    return ((rgb + 1) * 127.5).astype(np.uint8)


def _save(path, a, **kw):
    Image.fromarray(a).save(path, **kw)
    return a


@pytest.fixture
def folder(tmp_path):
    """Four files, sorted: a.png grey 40x50, b.png RGBA 10x12, c.jpg RGB 64x64, d.png RGB 20x30."""
    d = tmp_path / "imgs"
    d.mkdir()
    arrays = {
        "a.png": _save(d / "a.png", _pattern(40, 50, 1, 1)),
        "b.png": _save(d / "b.png", _pattern(10, 12, 4, 2)),
        "c.jpg": _save(d / "c.jpg", _smooth(64, 64), quality=95),
        "d.png": _save(d / "d.png", _pattern(20, 30, 3, 4)),
    }
    (d / "notes.txt").write_text("not an image")
    (d / "sub.png").mkdir()                     # a directory with an image's name: ignored
    return d, arrays


def _scaled(a):
    return (a.astype(np.float32) - 128) / 128


def test_listing_sorted_and_filtered(folder):
    d, arrays = folder
    assert [p.name for p in images.list_images(d)] == sorted(arrays)


def test_grey_crop_is_exact_and_replicated(folder):
    d, arrays = folder
    a = arrays["a.png"]                                       # 40 x 50 grey
    x = images.load_image(d / "a.png", 3, 30, 36)
    assert x.shape == (3, 30, 36) and x.dtype == np.float32
    ref = _scaled(a[5:35, 7:43])                              # center crop: (40-30)//2, (50-36)//2
    for k in range(3):
        np.testing.assert_array_equal(x[k], ref)
    assert x.min() >= -1 and x.max() < 1


def test_rgb_to_grey_is_mean_and_alpha_dropped(folder):
    d, arrays = folder
    a = arrays["d.png"]                                       # 20 x 30 RGB
    g = images.load_image(d / "d.png", 1, 20, 30)
    np.testing.assert_allclose(g[0], _scaled(a).mean(axis=2), rtol=0, atol=1e-6)
    rgb = images.load_image(d / "d.png", 3)                   # own size, no resize
    np.testing.assert_array_equal(rgb, _scaled(a).transpose(2, 0, 1))
    b = arrays["b.png"]                                       # RGBA: alpha dropped
    rgba = images.load_image(d / "b.png", 3)
    np.testing.assert_array_equal(rgba, _scaled(b[:, :, :3]).transpose(2, 0, 1))
    four = images.load_image(d / "d.png", 4)                  # channel k is RGB channel k % 3
    np.testing.assert_array_equal(four[3], four[0])


def test_smaller_image_is_scaled_up_then_cropped(folder):
    d, _ = folder
    x = images.load_image(d / "b.png", 1, 32, 32)             # 10 x 12 -> covers 32 x 32
    assert x.shape == (1, 32, 32)
    assert np.all(np.isfinite(x)) and x.min() >= -1 and x.max() < 1
    assert x.std() > 0.05                                     # an image, not a constant
    wide = images.load_image(d / "a.png", 1, 60, 20)          # taller than the image only
    assert wide.shape == (1, 60, 20)


def test_jpeg_is_read(folder):
    d, arrays = folder
    x = images.load_image(d / "c.jpg", 3, 64, 64)
    ref = _scaled(arrays["c.jpg"]).transpose(2, 0, 1)
    assert np.abs(x - ref).mean() < 0.02                      # lossy, but the same picture


def test_16_bit_png(tmp_path):
    a = (np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 300).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "deep.png")
    x = images.load_image(tmp_path / "deep.png", 1)
    np.testing.assert_array_equal(x[0], (a.astype(np.float32) - 32768) / 32768)


def test_batch_ranges_equal_one_by_one_and_cycle(folder):
    d, _ = folder
    files = images.list_images(d)
    one = [images.load_image(files[i % 4], 3, 16, 24) for i in range(11)]
    whole = images.load_batch(d, 0, 11, 3, 16, 24)
    assert whole.shape == (11, 3, 16, 24) and whole.dtype == np.float32
    for i in range(11):
        np.testing.assert_array_equal(whole[i], one[i])
    np.testing.assert_array_equal(whole[4], whole[0])        # image i is file i % 4
    for start, count in [(0, 3), (3, 5), (7, 4), (10, 1), (5, 0)]:
        part = images.load_batch(d, start, count, 3, 16, 24)
        np.testing.assert_array_equal(part, whole[start:start + count])
    buf = np.full((2, 3, 16, 24), np.nan, dtype=np.float32)
    assert images.load_batch(d, 9, 2, 3, 16, 24, out=buf) is buf
    np.testing.assert_array_equal(buf, whole[9:11])


def test_errors_name_the_problem(tmp_path, folder):
    with pytest.raises(UsageError, match="does not exist"):
        images.load_batch(tmp_path / "nope", 0, 1, 1, 8, 8)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(UsageError, match="no PNG or JPEG"):
        images.load_batch(tmp_path / "empty", 0, 1, 1, 8, 8)
    with pytest.raises(UsageError, match="not a directory"):
        images.list_images(tmp_path / "empty" / "readme.md")
    d, _ = folder
    (d / "e.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(UsageError, match="e.png"):
        images.load_batch(d, 0, 5, 1, 8, 8)
    images.load_batch(d, 0, 4, 1, 8, 8)                       # files before it still load
    good = (d / "c.jpg").read_bytes()
    (d / "e.png").unlink()
    (d / "f.jpg").write_bytes(good[: len(good) // 2])         # a truncated JPEG
    with pytest.raises(UsageError, match="f.jpg"):
        images.load_batch(d, 4, 1, 1, 8, 8)
    with pytest.raises(UsageError, match="c must be"):
        images.load_batch(d, 0, 1, 0, 8, 8)


def bomb(path, width=12000, height=12000):
    """A PNG of a few hundred bytes that declares width x height grey pixels (all zero): the
    header and one compressed stream of zero rows, cut short (decoding would take gigabytes)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 64, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows)
                     + chunk(b"IEND", b""))
    return path


def test_a_bomb_is_refused_before_it_is_decoded(tmp_path):
    import time
    f = bomb(tmp_path / "bomb.png")
    assert f.stat().st_size < 4096
    t0 = time.monotonic()
    with pytest.raises(UsageError, match=r"bomb.png declares 12000 x 12000 pixels, more than"):
        images.read_image(f)
    with pytest.raises(UsageError, match="declares 12000 x 12000"):
        images.check_files(tmp_path, 32, 32)
    assert time.monotonic() - t0 < 2
    # a workload of large images raises the budget with them
    assert images.pixel_budget(8192, 8192) == 4 * 8192 * 8192 > 12000 * 12000


def test_every_file_is_checked_not_only_the_first(tmp_path, folder):
    folder, _ = folder
    n = images.check_files(folder, 8, 8)
    assert n == len(images.list_images(folder))
    last = images.list_images(folder)[-1]
    broken = folder / ("zz" + last.name)
    broken.write_bytes(last.read_bytes()[:40])         # cut short
    images.load_batch(folder, 0, 1, 1, 8, 8)            # the first file alone still reads
    with pytest.raises(UsageError, match=f"cannot read image .*{broken.name}"):
        images.check_files(folder, 8, 8)
