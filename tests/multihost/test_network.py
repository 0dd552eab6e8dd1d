"""The network between two emulated hosts, measured: convbench machine's ping-pong with one rank
on each host (a hostfile, or two nodes of a Slurm allocation), its bytes over the hosts' link,
its numbers sane, and a sweep across the hosts that records it and models its communication
with it.

The link is a veth pair on one machine: its latency and bandwidth are a memory copy through the
kernel's network stack, so they are NOT guaranteed to be worse than the network within a host
(shared memory); only what is true of any network is checked.
"""
from __future__ import annotations

import json

import pytest

from conftest import run_cli, sweep_dirs
from engine.test_slurm import convbench, which
from convbench.engine import network
from convbench.kernel import roofline as machine
from convbench.rank.pingpong import iterations
from multihost.helpers import manifest

pytestmark = [pytest.mark.multihost, pytest.mark.mpi]

SIZES = tuple(8 * 8 ** k for k in range(8)) + (32 * 2 ** 20,)   # 8 B .. 16 MiB, 32 MiB
REPEATS = 3


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_pingpong_between_two_hosts(hosts, mpi, tmp_path, cache):
    hostfile = hosts.hostfile(tmp_path / "hosts", slots=1, vendor=mpi.vendor)
    before = hosts.counters()
    rec = network.network(hostfile=str(hostfile), sizes=SIZES, repeats=REPEATS, timeout=180)
    after = hosts.counters()
    assert rec["link"] == "between" and rec["hosts"] == hosts.names[:2]
    assert rec["names"] == hosts.names[:2]
    # every timed message went over the link, both ways: node2 received and sent them all
    timed = sum(n * iterations(n) * REPEATS for n in SIZES)
    assert after["node2"][0] - before["node2"][0] >= timed
    assert after["node2"][1] - before["node2"][1] >= timed
    # sane numbers: positive; the time grows with the size; the bandwidth grows with it up to
    # a plateau: the large messages' far above the small ones', the best among the large half.
    # (How flat the plateau is depends on the machine's load: the veth is a memory copy.)
    t, bw = rec["one_way_s"], rec["bandwidth_by_size_bps"]
    assert all(x > 0 for x in t) and rec["latency_s"] > 0
    assert t[-1] > t[0] and t[-1] == max(t)
    assert bw.index(max(bw)) >= len(SIZES) // 2 and max(bw) > 100 * bw[0]
    plateau = [b for n, b in zip(SIZES, bw) if n >= network.PLATEAU_BYTES]
    small = [b for n, b in zip(SIZES, bw) if n <= 512]
    assert min(plateau) > 10 * max(small)
    assert min(plateau) <= rec["bandwidth_bps"] <= max(plateau)
    assert 1e-7 < rec["latency_s"] < 0.05          # a microsecond-to-millisecond link
    # cached beside the roofline, under the hosts' link; read back, not measured again
    assert machine.cached_network() == {network.link_key(hosts.names[:2]): rec}
    assert network.network(hostfile=str(hostfile), sizes=SIZES) == rec


@pytest.mark.slow
def test_a_sweep_across_hosts_records_and_models_the_measured_network(hosts, mpi, tmp_path, cache):
    hostfile = hosts.hostfile(tmp_path / "hosts", slots=1, vendor=mpi.vendor)
    between = network.network(hostfile=str(hostfile), sizes=SIZES, repeats=2, timeout=180)
    within = network.network(sizes=SIZES, repeats=2, timeout=180)
    p = run_cli("strong", "--launches", "1", "--order", "sequential", "--preset", "tiny", "--batch", "64", "--procs", "1,2", "--repeats", "2",
                "--warmup", "1", "--hostfile", str(hostfile), "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(tmp_path / "out")
    assert manifest(d)["network"] == {"within": within, "between": between}
    out = run_cli("model", str(d), "-p", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Network: measured" in out.stdout
    assert f"between {hosts.names[0]} and {hosts.names[1]}" in out.stdout
    fit = run_cli("model", str(d), "--network", "fit")
    assert fit.returncode == 0 and "Network: fitted" in fit.stdout


@pytest.mark.slurm
def test_machine_measures_between_two_nodes_of_an_allocation(slurm2, hosts, tmp_path):
    p = convbench("machine", "--launcher", "slurm", "--no-network", "--matmul-n", "64",
                  "--stream-mb", "0.5", "--repeats", "1", "--max-cores", "1",
                  env={**slurm2.env, "XDG_CACHE_HOME": str(tmp_path)},
                  prefix=(which("salloc"), "-N", "2", "-n", "2", "--time=5"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"between {hosts.names[0]} and {hosts.names[1]}" in p.stdout
    cached = json.loads((tmp_path / "convbench" / "machine.json").read_text())
    [rec] = cached["network"].values()
    assert rec["link"] == "between" and rec["launcher"] == "Slurm srun"
    assert rec["hosts"] == rec["names"] == hosts.names[:2] and rec["bandwidth_bps"] > 0
