"""convbench kernels: descriptor parsing, the measurement rows, CSV round trip, the CLI."""
from __future__ import annotations

import json
import math

import pytest

from convbench.kernel import bench as kb
from convbench.kernel import roofline as machine
from convbench.core.errors import UsageError
from convbench.reporting import kernel_table
from convbench.workload import cost

from conftest import assert_clean_error, invoke, run_cli

FAKE_ROOF = {"peak_gflops_1core": 50.0, "bandwidth_gbs_by_cores": {1: 10.0, 2: 16.0},
             "measured_at": "2025-01-01T00:00:00+00:00", "cores": 2, "matmul_n": 64,
             "stream_mb": 1}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A temporary cache directory holding a (fake) roofline of this CPU."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = machine.cache_file()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**FAKE_ROOF, "cpu_model": machine.cpu_model()}))
    return tmp_path / "cache"


@pytest.mark.parametrize("text,expected", [
    ("mb32ic64ih56oc64kh3ph1", dict(batch=32, c_in=64, height=56, width=56, c_out=64, kh=3,
                                    kw=3, stride_h=1, stride_w=1, pad_h=1, pad_w=1)),
    ("mb2ic3ih10iw20oc4kh3kw5sh2sw1ph0pw2", dict(batch=2, c_in=3, height=10, width=20, c_out=4,
                                                kh=3, kw=5, stride_h=2, stride_w=1, pad_h=0,
                                                pad_w=2)),
    ("MB1IC1IH8OC1KH3", dict(batch=1, c_in=1, height=8, width=8, c_out=1, kh=3, kw=3,
                             stride_h=1, stride_w=1, pad_h=0, pad_w=0)),
    ("oc2kh1mb1ic1ih4sh2", dict(batch=1, c_in=1, height=4, width=4, c_out=2, kh=1, kw=1,
                                stride_h=2, stride_w=2, pad_h=0, pad_w=0)),
])
def test_parse_descriptor(text, expected):
    wl = kb.parse_shape(text)
    for k, v in expected.items():
        assert getattr(wl, k) == v, k
    assert kb.parse_shape(kb.describe(wl)) == wl.__class__(**{**wl.to_dict(),
                                                             "name": kb.describe(wl)})


def test_parse_presets():
    fat = kb.parse_shape("fat")
    assert (fat.batch, fat.c_in, fat.height, fat.c_out, fat.kh) == (8, 3, 1024, 3, 3)
    assert kb.parse_shape("fat8") == fat
    assert kb.parse_shape("light").batch == 160000
    assert kb.parse_shape("resnet").padding == (1, 1)


@pytest.mark.parametrize("text,needle", [
    ("", "empty --shape"),
    ("mb2ic3xx", "cannot parse 'xx'"),
    ("mb2ic3ih8", "missing oc, kh"),
    ("mb2mb3ic1ih8oc1kh3", "mb is given twice"),
    ("mb0ic1ih8oc1kh3", "batch must be an integer >= 1"),
    ("mb1ic1ih4oc1kh9", "larger than the padded image"),
    ("mb1ic1ih4oc1kh3 x", "cannot parse"),
    ("nosuchpreset", "unknown preset"),
])
def test_parse_errors(text, needle):
    with pytest.raises(UsageError) as info:
        kb.parse_shape(text)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_parse_compare_and_threads():
    assert kb.parse_compare("naive, torch,naive") == ("naive", "torch")
    assert kb.parse_compare("") == ()
    assert kb.parse_compare("convbench,numpy") == ("numpy",)
    with pytest.raises(UsageError, match="unknown implementation"):
        kb.parse_compare("naive,fft")
    assert kb.parse_threads("1,2,2") == (1, 2)
    for bad in ("0", "1,x", "", "-1"):
        with pytest.raises(UsageError, match="--threads"):
            kb.parse_threads(bad)


@pytest.mark.parametrize("pass_", ["forward", "backward"])
def test_run_rows(pass_):
    wl = kb.parse_shape("mb2ic3ih12iw17oc5kh3ph1")
    rows = kb.run(wl, pass_, impls=("naive", "numpy", "torch", "stream"), threads=(1, 2),
                  repeats=3, roof={**FAKE_ROOF, "cpu_model": "x"}, shape_name="tiny")
    impls = [(r.impl, r.threads) for r in rows]
    assert impls[:4] == [("convbench", 1), ("convbench", 2), ("naive", 1), ("numpy", 1)]
    assert impls[-2:] == [("stream", 1), ("stream", 2)]  # the floor, at each thread count
    for r in rows:
        assert r.repeats == 3 and r.shape == "tiny" and r.pass_ == pass_
        assert 0 < r.min_s <= r.median_s <= r.max_s
        assert len(r.times_s) == 3 and sorted(r.times_s)[1] == r.median_s
        if r.impl == "stream":  # not a convolution: no error against convbench
            assert math.isnan(r.rel_err)
        else:
            assert r.rel_err < 1e-4, r
        flops, nbytes = cost.flops(wl, pass_), cost.kernel_bytes(wl, pass_)
        assert math.isclose(r.gflops, flops / r.median_s / 1e9)
        assert math.isclose(r.gbs, nbytes / r.median_s / 1e9)
        bound = max(flops / (50e9 * r.threads), nbytes / ({1: 10e9, 2: 16e9}[r.threads]))
        assert math.isclose(r.bound_s, bound) and math.isclose(r.roofline, bound / r.median_s)
    assert rows[0].method == "direct" and rows[2].method == ""
    # without a roofline the bound columns are nan, and the table still renders
    rows = kb.run(wl, pass_, impls=(), threads=(1,), repeats=1)
    assert len(rows) == 1 and math.isnan(rows[0].bound_s)
    assert kernel_table.table(rows, "t").row_count == 1


def test_budget_cuts_repeats():
    wl = kb.parse_shape("mb1ic2ih30oc2kh3")
    rows = kb.run(wl, "forward", impls=("naive",), repeats=4, budget_s=1e-9)
    assert [r.repeats for r in rows] == [1, 1]


def test_csv_round_trip(tmp_path):
    wl = kb.parse_shape("mb1ic2ih9oc3kh2")
    rows = kb.run(wl, "backward", impls=("naive",), threads=(1,), repeats=2,
                  roof={**FAKE_ROOF, "cpu_model": "x"})
    path = kernel_table.to_csv(rows, tmp_path / "k.csv")
    back = kernel_table.read_csv(path)
    assert len(back) == len(rows)
    for a, b in zip(rows, back):
        assert (a.impl, a.threads, a.pass_, a.repeats, a.descriptor) == \
            (b.impl, b.threads, b.pass_, b.repeats, b.descriptor)
        assert math.isclose(a.median_s, b.median_s, rel_tol=1e-3, abs_tol=1e-7)
        assert math.isclose(a.roofline, b.roofline, rel_tol=1e-3, abs_tol=1e-4)
    with pytest.raises(UsageError, match="cannot write --csv"):
        kernel_table.to_csv(rows, tmp_path / "no" / "such" / "dir.csv")


def test_cli_kernels(cache, tmp_path):
    out = tmp_path / "k.csv"
    proc = run_cli("kernels", "--shape", "mb2ic2ih12oc3kh3,mb1ic8ih6oc9kh3ph1",
                   "--pass", "forward,backward", "--threads", "1,2", "--compare", "naive,numpy",
                   "--repeats", "2", "--csv", str(out), "--roofline", "cached",
                   env={"XDG_CACHE_HOME": str(cache)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "convbench" in proc.stdout and "naive" in proc.stdout and "of bound" in proc.stdout
    assert "vs 1 thr" in proc.stdout and "(too few pairs)" in proc.stdout     # 2 repeats
    assert "peak 50.0 GFLOP/s" in proc.stdout
    rows = kernel_table.read_csv(out)
    assert {(r.shape, r.pass_) for r in rows} == {
        (s, p) for s in ("mb2ic2ih12oc3kh3", "mb1ic8ih6oc9kh3ph1")
        for p in ("forward", "backward")}
    assert {r.impl for r in rows} == {"convbench", "naive", "numpy"}
    assert {r.method for r in rows if r.impl == "convbench"} == {"direct", "gemm"}
    assert all(r.rel_err < 1e-4 for r in rows)


@pytest.mark.slow
def test_cli_kernels_default_compare_has_the_stream_floor(cache, tmp_path):
    """The default --compare includes the memory floor: its rows are in the table and the CSV
    at every thread count, with no error (a dash in the table, nan in the CSV)."""
    out = tmp_path / "k.csv"
    proc = run_cli("kernels", "--shape", "mb2ic2ih12oc3kh3", "--pass", "forward,backward",
                   "--threads", "1,2", "--repeats", "1", "--csv", str(out), "--roofline",
                   "cached", env={"XDG_CACHE_HOME": str(cache)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stream" in proc.stdout and "memory floor" in " ".join(proc.stdout.split())
    rows = kernel_table.read_csv(out)
    assert {(r.pass_, r.threads) for r in rows if r.impl == "stream"} == {
        (p, t) for p in ("forward", "backward") for t in (1, 2)}
    assert all(math.isnan(r.rel_err) for r in rows if r.impl == "stream")


def test_plan_measures_nothing_and_benchmark_measures_once(monkeypatch):
    """plan() (what the CLI validates with before the roofline) runs no case; benchmark() runs
    each (shape, pass) exactly once."""
    calls = []
    real = kb.run

    def counting_run(wl, pass_, **kw):
        calls.append((kw.get("shape_name"), pass_))
        return real(wl, pass_, **kw)

    monkeypatch.setattr(kb, "run", counting_run)
    wls, ps, ts, impls, notes = kb.plan("mb1ic1ih9oc1kh3,mb1ic2ih9oc2kh3", "forward,backward",
                                       "1,2", "naive,stream", 1)
    assert calls == [] and [n for n, _ in wls] == ["mb1ic1ih9oc1kh3", "mb1ic2ih9oc2kh3"]
    assert ps == ["forward", "backward"] and ts == (1, 2) and impls == ("naive", "stream")
    assert not any("stream" in n for n in notes)
    rows, _ = kb.benchmark("mb1ic1ih9oc1kh3,mb1ic2ih9oc2kh3", "forward,backward", "1", "",
                           repeats=1)
    assert calls == [(s, p) for s in ("mb1ic1ih9oc1kh3", "mb1ic2ih9oc2kh3")
                     for p in ("forward", "backward")]
    assert len(rows) == 4


@pytest.mark.parametrize("args,needle", [
    (["--shape", "mb2ic3zz9"], "cannot parse 'zz9'"),
    (["--shape", "mb2ic3ih8"], "missing oc, kh"),
    (["--pass", "sideways"], "--pass must be forward or backward"),
    (["--threads", "0"], "--threads must be integers >= 1"),
    (["--compare", "naive,fft"], "unknown implementation"),
    (["--repeats", "0"], "--repeats must be >= 1"),
    (["--roofline", "guess"], "--roofline must be run or cached"),
])
def test_cli_kernels_bad_input(cache, args, needle):
    proc = invoke("kernels", *args, env={"XDG_CACHE_HOME": str(cache)})
    assert_clean_error(proc, 2, needle)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.slow
def test_cli_kernels_measures_the_roofline_in_the_same_run(cache):
    """By default the peak and the bandwidth are measured in the run itself (the cache, with
    its fake 50 GFLOP/s, is not used) and the title says so."""
    proc = run_cli("kernels", "--shape", "mb1ic1ih40oc1kh3", "--compare", "", "--repeats", "1",
                   env={"XDG_CACHE_HOME": str(cache)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "measured in this run" in proc.stdout.replace("\n", " ")
    assert "peak 50.0 GFLOP/s" not in proc.stdout


def test_cli_kernels_default_repeats_give_an_interval():
    """The default --repeats is the fewest a ratio's interval needs (uncertainty.MIN_LAUNCHES),
    and the help says so."""
    import inspect

    from convbench.cli.tools import kernels
    from convbench.reporting import uncertainty
    assert inspect.signature(kernels).parameters["repeats"].default == uncertainty.MIN_LAUNCHES
    proc = invoke("kernels", "--help")
    assert proc.returncode == 0
    assert f"interval needs {uncertainty.MIN_LAUNCHES};" in " ".join(proc.stdout.split())
