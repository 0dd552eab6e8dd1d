"""convbench apply: one image through the C kernel, input and output in one figure."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convbench.kernel import filters
from convbench.kernel import reference
from convbench.core.errors import UsageError
from conftest import run_cli


@pytest.fixture
def picture(tmp_path):
    """An RGB PNG 48 x 64: a bright square on a gradient, with a little noise."""
    h, w = 48, 64
    rng = np.random.default_rng(5)
    a = np.zeros((h, w, 3), dtype=np.float64)
    a += np.linspace(0, 120, w)[None, :, None]
    a[12:36, 20:44] = 230
    a += rng.integers(0, 20, size=a.shape)
    a = np.clip(a, 0, 255).astype(np.uint8)
    path = tmp_path / "pic.png"
    Image.fromarray(a).save(path)
    return path, a


def test_cli_writes_a_figure(tmp_path, picture):
    path, _ = picture
    out = tmp_path / "figs" / "sobel.png"
    p = run_cli("apply", str(path), "--kernel", "sobel", "--out", str(out), "--size", "40x40",
                timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert str(out) in p.stdout and "40x40" in p.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as img:
        px = np.asarray(img.convert("RGB"))
    assert px.shape[0] > 200 and px.shape[1] > 400
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 50     # drawn images, not a blank page


def test_cli_refusals(tmp_path, picture):
    """In-process (typer's CliRunner): one line, exit status 2, no traceback."""
    from typer.testing import CliRunner
    from convbench.cli import app
    path, _ = picture
    out = str(tmp_path / "x.png")
    for argv, needles in [
        ([str(path), "--kernel", "blur"], ("blur", "sobel")),
        ([str(tmp_path / "missing.png")], ("missing.png",)),
        ([str(path), "--size", "4by4"], ("--size",)),
        ([str(path), "--out", str(tmp_path / "fig.unknown")], ("format",)),
    ]:
        full = ["apply", *argv] + ([] if "--out" in argv else ["--out", out])
        r = CliRunner().invoke(app, full)
        text = r.output
        assert r.exit_code == 2, (argv, text)
        assert isinstance(r.exception, SystemExit) and "Traceback" not in text, (argv, text)
        for n in needles:
            assert n.lower() in text.lower(), (argv, text)
    assert not (tmp_path / "x.png").exists()


def test_identity_output_equals_input(tmp_path, picture):
    path, a = picture
    r = filters.apply_to_file(path, "identity", tmp_path / "id.png", size=(32, 40))
    grey = ((a.astype(np.float32) - 128) / 128).mean(axis=2, dtype=np.float32)
    np.testing.assert_array_equal(r["input"], grey[8:40, 12:52])   # the center crop
    np.testing.assert_array_equal(r["output"], r["input"])
    assert (tmp_path / "id.png").stat().st_size > 1000


@pytest.mark.parametrize("name", ["sobel", "gaussian", "random"])
def test_filters_match_the_reference(tmp_path, picture, name):
    path, _ = picture
    r = filters.apply_to_file(path, name, tmp_path / f"{name}.svg", seed=3)
    assert r["input"].shape == (48, 64) == r["output"].shape
    w = filters.weights(name, seed=3)
    ref = reference.conv2d_forward(r["input"][None, None], w, padding=w.shape[2] // 2)[0]
    np.testing.assert_allclose(r["raw"], ref, rtol=1e-5, atol=1e-5)
    assert (tmp_path / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_kernels():
    assert filters.weights("gaussian").sum() == pytest.approx(1.0, abs=1e-6)
    assert filters.weights("sobel").shape == (2, 1, 3, 3)
    np.testing.assert_array_equal(filters.weights("random", 1), filters.weights("random", 1))
    assert not np.array_equal(filters.weights("random", 1), filters.weights("random", 2))
    assert filters.parse_size("12x34") == (12, 34) and filters.parse_size("8") == (8, 8)
    for bad in ("0x3", "3x", "x3", "99999x2", "-2"):
        with pytest.raises(UsageError, match="--size"):
            filters.parse_size(bad)
    with pytest.raises(UsageError, match="--seed"):
        filters.weights("random", -1)
    with pytest.raises(UsageError, match="format"):
        filters.apply_to_file("x.png", "sobel", "out.unknown")


def test_apply_never_overwrites_its_input_nor_an_existing_file(tmp_path, picture):
    from conftest import assert_clean_error, invoke
    path, _ = picture
    before = path.read_bytes()
    assert_clean_error(invoke("apply", str(path), "--out", str(path)), 2, "is the input image")
    assert_clean_error(invoke("apply", str(path), "--out", str(path), "--force"), 2,
                       "is the input image")
    link = tmp_path / "link.png"
    link.symlink_to(path)
    assert_clean_error(invoke("apply", str(path), "--out", str(link), "--force"), 2,
                       "is the input image")
    assert path.read_bytes() == before
    other = tmp_path / "other.png"
    other.write_bytes(b"keep")
    assert_clean_error(invoke("apply", str(path), "--out", str(other)), 2, "exists", "--force")
    assert other.read_bytes() == b"keep"
    p = invoke("apply", str(path), "--out", str(other), "--force")
    assert p.returncode == 0, p.stdout + p.stderr
    assert other.read_bytes()[:4] == b"\x89PNG"
