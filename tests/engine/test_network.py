"""The network, measured: the ping-pong program at 2 ranks on this host, its summary (latency,
bandwidth), its cache beside the roofline, and what a sweep's manifest records of it."""
from __future__ import annotations

import json

import pytest

from conftest import assert_clean_error, invoke, run_cli
from convbench.core.errors import ConvbenchError, UsageError
from convbench.engine import network
from convbench.kernel import roofline as machine
from convbench.rank.pingpong import DEFAULT_SIZES, iterations

SIZES = (8, 512, 65536)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "convbench" / "machine.json"


def hostfile(tmp_path, *lines: str):
    p = tmp_path / "hosts"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


def test_default_sizes_and_iterations():
    assert DEFAULT_SIZES[0] == 8 and DEFAULT_SIZES[-1] == 64 * 2 ** 20
    assert list(DEFAULT_SIZES) == sorted(set(DEFAULT_SIZES))
    assert iterations(8) == 200 and iterations(64 * 2 ** 20) == 2


def test_summarize_takes_the_small_messages_latency_and_the_large_ones_bandwidth():
    mib = 2 ** 20
    sizes = [8, 512, 4096, mib, 8 * mib, 32 * mib, 64 * mib]
    times = [3e-6, 2e-6, 4e-6, 1e-3, 2e-4, 40e-3, 64e-3]    # 8 MiB fits in a cache: 40 GB/s
    lat, bw, per = network.summarize(sizes, times)
    assert lat == 2e-6                            # the least of the sizes up to 1 KiB
    assert bw == pytest.approx(mib / 1e-3)        # the median of the sizes from 8 MiB on
    assert per[0] == pytest.approx(8 / 3e-6) and per[4] == pytest.approx(8 * mib / 2e-4)
    lat, bw, _ = network.summarize([4096, 65536], [4e-6, 2e-5])
    assert lat == 4e-6                            # no small message: the smallest size
    assert bw == pytest.approx(65536 / 2e-5)      # no large one: the best
    with pytest.raises(ConvbenchError, match="no positive time"):
        network.summarize([8], [0.0])


@pytest.mark.mpi
def test_pingpong_within_this_host(cache):
    rec = network.measure(sizes=SIZES, repeats=2, warmup=1, timeout=120)
    assert rec["link"] == "within" and rec["sizes"] == list(SIZES)
    assert len(rec["hosts"]) == 2 and rec["hosts"][0] == rec["hosts"][1]
    assert all(t > 0 for t in rec["one_way_s"]) and rec["latency_s"] > 0
    assert rec["bandwidth_bps"] == max(rec["bandwidth_by_size_bps"]) > 0   # no size >= 8 MiB
    assert rec["one_way_s"][-1] > rec["one_way_s"][0]        # 64 KiB takes longer than 8 B
    assert rec["launcher"] and rec["mpi_library"]
    # network() caches it beside the roofline; the next call reads it back
    cached = network.network(sizes=SIZES, repeats=1, timeout=120)
    assert machine.cached_network() == {"within": cached}
    assert network.network(sizes=SIZES, repeats=1) == cached


def test_between_hosts_needs_two_hosts(tmp_path, cache):
    with pytest.raises(UsageError, match="names one host"):
        network.measure(hostfile=hostfile(tmp_path, "localhost:2"), sizes=SIZES)
    with pytest.raises(UsageError, match="inside salloc"):
        network.measure(use_slurm=True, sizes=SIZES)


def test_a_sweep_records_the_links_that_fit_its_placement(tmp_path, cache):
    assert network.for_sweep(None, "mpiexec") is None            # nothing measured yet
    within = {"link": "within", "hosts": ["n0", "n0"], "latency_s": 1e-6, "bandwidth_bps": 9e9}
    between = {"link": "between", "hosts": ["node1", "node2"], "names": ["node1", "node2"],
               "latency_s": 3e-5, "bandwidth_bps": 1e9}
    machine.save_network(network.WITHIN, within)
    machine.save_network(network.link_key(["node2", "node1"]), between)
    assert network.for_sweep(None, "mpiexec") == {"within": within}
    two = hostfile(tmp_path, "node1:2", "node2:2")
    assert network.for_sweep(two, "mpiexec") == {"within": within, "between": between}
    other = hostfile(tmp_path, "node1:1", "node3:1")
    assert network.for_sweep(other, "mpiexec") == {"within": within}


def test_cli_machine_bad_launcher(tmp_path):
    proc = invoke("machine", "--launcher", "ssh", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert_clean_error(proc, 2, "--launcher must be mpiexec or slurm")


@pytest.mark.mpi
@pytest.mark.slow
def test_cli_machine_measures_the_network(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    proc = run_cli("machine", "--matmul-n", "64", "--stream-mb", "0.5", "--repeats", "1",
                   "--max-cores", "1", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "network" in proc.stdout and "within host" in proc.stdout
    assert "64 MiB" in proc.stdout and "latency" in proc.stdout
    cached = json.loads((tmp_path / "convbench" / "machine.json").read_text())
    assert cached["network"]["within"]["sizes"] == list(DEFAULT_SIZES)
