"""Sweeps with another compute backend (naive C, PyTorch), with real images as input, and with
threads per rank: recorded, verified, and comparable with the default."""
from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import assert_clean_error, invoke
from convbench.engine import sweep
from convbench.workload.spec import preset

TINY = preset("tiny")
HAS_TORCH = importlib.util.find_spec("torch") is not None


def results_of(tmp_path, name, procs=(1, 2), **kw):
    plan = sweep.SweepPlan.of(mode="strong", workload=kw.pop("workload", TINY), procs=procs, repeats=1, launches=1, order="sequential",
                              warmup=0, out=str(tmp_path / name), timeout=120, **kw)
    res = sweep.run(plan, argv=["test"])
    assert not res.failed, res.rows
    manifest = json.loads((res.path / "manifest.json").read_text())
    return manifest, [json.loads((res.path / "points" / f"p{p:04d}" / "l000" / "result.json").read_text())
                      for p in procs]


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("pass_", ["forward", "train"])
def test_naive_backend_agrees_with_the_kernel(tmp_path, pass_):
    _, ref = results_of(tmp_path, "c", pass_=pass_, data="local")
    manifest, naive = results_of(tmp_path, "n", pass_=pass_, data="local", backend="naive")
    assert manifest["sweep"]["backend"] == "naive" and naive[0]["backend"] == "naive"
    assert naive[0]["checksum"] == naive[1]["checksum"] and naive[1]["verified"]
    assert naive[0]["checksum"] == pytest.approx(ref[0]["checksum"], rel=1e-5)
    if pass_ == "train":
        np.testing.assert_allclose(naive[1]["dw"], ref[1]["dw"], rtol=0, atol=1e-5 * np.abs(ref[1]["dw"]).max())


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
@pytest.mark.parametrize("pass_", ["forward", "train"])
def test_torch_backend_agrees_with_the_kernel(tmp_path, pass_):
    _, ref = results_of(tmp_path, "c", pass_=pass_, data="local")
    manifest, t = results_of(tmp_path, "t", pass_=pass_, data="local", backend="torch")
    assert manifest["sweep"]["backend"] == "torch" and t[1]["verified"]
    assert t[0]["checksum"] == pytest.approx(ref[0]["checksum"], rel=1e-5)
    if pass_ == "train":
        np.testing.assert_allclose(t[1]["dw"], ref[1]["dw"], rtol=0, atol=1e-5 * np.abs(ref[1]["dw"]).max())


def test_torch_backend_without_torch_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)       # this Python without PyTorch
    p = invoke("strong", "--launches", "1", "--order", "sequential", "--preset", "tiny", "--backend", "torch", "--out", str(tmp_path))
    assert_clean_error(p, 2, "pip install 'convbench[torch]'")


@pytest.mark.mpi
def test_sweep_over_real_images_is_rank_independent(tmp_path):
    d = tmp_path / "pictures"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (30 + i, 28, 3), dtype=np.uint8)).save(d / f"{i}.png")
    manifest, batch = results_of(tmp_path, "b", procs=(1, 2, 4), images=str(d))
    assert manifest["sweep"]["images"] == str(d)
    assert len({r["checksum"] for r in batch}) == 1
    _, spatial = results_of(tmp_path, "s", procs=(3,), images=str(d), decomp="spatial", data="local")
    assert spatial[0]["checksum"] == batch[0]["checksum"]
    _, synthetic = results_of(tmp_path, "x", procs=(1,))
    assert synthetic[0]["checksum"] != batch[0]["checksum"]


def test_bad_backend_images_and_threads_are_refused(tmp_path):
    assert_clean_error(invoke("strong", "--launches", "1", "--order", "sequential", "--backend", "fortran"), 2, "--backend must be one of")
    assert_clean_error(invoke("strong", "--launches", "1", "--order", "sequential", "--decomp", "diagonal"), 2, "--decomp must be one of")
    assert_clean_error(invoke("strong", "--launches", "1", "--order", "sequential", "--images", str(tmp_path / "none")), 2, "does not exist")
    assert_clean_error(invoke("strong", "--launches", "1", "--order", "sequential", "--threads", "0"), 2, "--threads must be")
    # spatial makes its data locally by default; scatter is refused with the reason
    assert_clean_error(invoke("weak", "--launches", "1", "--order", "sequential", "--decomp", "spatial", "--data", "scatter"), 2,
                       "--data local", "each rank makes its own rows")


@pytest.mark.mpi
def test_two_threads_per_rank_give_the_same_result(tmp_path):
    _, one = results_of(tmp_path, "1", procs=(2,), data="local")
    manifest, two = results_of(tmp_path, "2", procs=(2,), data="local", threads=2)
    assert manifest["sweep"]["threads"] == 2 and two[0]["verified"]
    assert two[0]["checksum"] == pytest.approx(one[0]["checksum"], rel=1e-6)
