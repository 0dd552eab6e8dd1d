"""convbench machine: the roofline measurement, its cache, the bound, the CLI."""
from __future__ import annotations

import json

import pytest

from convbench.kernel import roofline as machine
from convbench.core.errors import UsageError

from conftest import assert_clean_error, invoke, run_cli

TINY = dict(matmul_n=64, stream_mb=0.5, repeats=1)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "convbench" / "machine.json"


def test_measure_and_cache(cache, monkeypatch):
    roof = machine.roofline(**TINY, max_cores=2)
    assert cache.is_file() and roof["cache_file"] == str(cache)
    assert roof["peak_gflops_1core"] > 0
    bw = roof["bandwidth_gbs_by_cores"]
    assert sorted(bw) == list(range(1, min(2, machine.core_count()) + 1))
    assert all(v > 0 for v in bw.values())
    assert roof["cpu_model"] == machine.cpu_model() and roof["matmul_n"] == 64
    # read back from the cache, not measured again
    monkeypatch.setattr(machine, "measure", lambda **kw: pytest.fail("measured again"))
    again = machine.roofline()
    assert again == roof
    assert isinstance(next(iter(again["bandwidth_gbs_by_cores"])), int)


def test_refresh_and_invalid_caches(cache, monkeypatch):
    calls = []

    def fake(**kw):
        calls.append(kw)
        return {"peak_gflops_1core": 10.0 + len(calls), "bandwidth_gbs_by_cores": {1: 5.0},
                "measured_at": "now", "cpu_model": machine.cpu_model(), "cores": 1,
                "matmul_n": 1, "stream_mb": 1}

    monkeypatch.setattr(machine, "measure", fake)
    assert machine.roofline()["peak_gflops_1core"] == 11.0
    assert machine.roofline()["peak_gflops_1core"] == 11.0
    assert machine.roofline(refresh=True)["peak_gflops_1core"] == 12.0
    d = json.loads(cache.read_text())
    cache.write_text(json.dumps({**d, "cpu_model": "another CPU"}))
    assert machine.roofline()["peak_gflops_1core"] == 13.0       # another CPU: measured again
    cache.write_text("{not json")
    assert machine.roofline()["peak_gflops_1core"] == 14.0       # unreadable: measured again
    assert len(calls) == 4


def test_measure_rejects_bad_sizes():
    for kw, needle in [(dict(matmul_n=4), "matmul size"), (dict(stream_mb=0), "array size"),
                       (dict(max_cores=0), "core count"), (dict(repeats=0), "repeats")]:
        with pytest.raises(UsageError, match=needle):
            machine.measure(**kw)


def test_cli_machine(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    proc = run_cli("machine", "--refresh", "--matmul-n", "64", "--stream-mb", "0.5",
                   "--repeats", "1", "--max-cores", "1", "--no-network", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "peak (1 core)" in proc.stdout and "bandwidth (1 core)" in proc.stdout
    cached = json.loads((tmp_path / "convbench" / "machine.json").read_text())
    assert cached["matmul_n"] == 64
    again = run_cli("machine", "--no-network", env=env)   # read back: the same measurement
    assert again.returncode == 0
    assert cached["measured_at"] in again.stdout
    assert f"{cached['peak_gflops_1core']:.1f} GFLOP/s" in again.stdout


def test_cli_machine_bad_input(tmp_path):
    proc = invoke("machine", "--refresh", "--matmul-n", "4", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert_clean_error(proc, 2, "matmul size must be >= 16")


# ---- the network's records, in the same cache ------------------------------------------------
LINK = {"link": "within", "hosts": ["h"], "latency_s": 2e-6, "bandwidth_bps": 5e9,
        "sizes": [8, 64], "one_way_s": [2e-6, 3e-6], "measured_at": "now"}


def test_network_records_live_beside_the_roofline(cache, monkeypatch):
    assert machine.cached_network() == {}
    roof = machine.roofline(**TINY, max_cores=1)
    machine.save_network("within", LINK)
    machine.save_network("between:a,b", {**LINK, "link": "between", "latency_s": 9e-6})
    net = machine.cached_network()
    assert set(net) == {"within", "between:a,b"} and net["within"] == LINK
    assert net["between:a,b"]["latency_s"] == 9e-6
    # the roofline is kept, and keeps the network out of its own record
    monkeypatch.setattr(machine, "measure", lambda **kw: pytest.fail("measured again"))
    again = machine.roofline()
    assert again == roof and "network" not in again and "network" not in machine.cached()


def test_network_records_follow_the_roofline_rules(cache, monkeypatch):
    machine.roofline(**TINY, max_cores=1)
    machine.save_network("within", LINK)
    machine.save_network("bad", {**LINK, "bandwidth_bps": 0})         # not positive: ignored
    assert set(machine.cached_network()) == {"within"}
    d = json.loads(cache.read_text())
    cache.write_text(json.dumps({**d, "cpu_model": "another CPU"}))
    assert machine.cached_network() == {}                              # another CPU: ignored
    cache.write_text(json.dumps(d))
    machine.roofline(refresh=True, **TINY, max_cores=1)                # measured anew: dropped
    assert machine.cached_network() == {}
    machine.save_network("within", LINK)
    d = json.loads(cache.read_text())
    del d["peak_gflops_1core"]                                         # a broken roofline
    cache.write_text(json.dumps(d))
    machine.roofline(**TINY, max_cores=1)                              # re-measured, not refreshed
    assert machine.cached_network() == {"within": LINK}                # the network is kept
