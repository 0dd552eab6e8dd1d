"""Strong and weak sweeps across two emulated hosts from a hostfile, MPICH and Open MPI forms.

Each sweep must record the host of every rank, place the ranks as --ppn asks, verify, give the
single-host sweep's checksums, and move its scattered images over the hosts' link (the veth byte
counters). The MPICH cases run under `make test`, the Open MPI ones under `make test-openmpi`.
"""
from __future__ import annotations

import pytest

from conftest import run_cli, sweep_dirs
from multihost.helpers import (VENDORS, bytes_to_and_from, expected_placement, manifest,
                               only_vendor, rank_hosts, summary)

pytestmark = [pytest.mark.multihost, pytest.mark.mpi]

#: a tiny workload with enough images that its data dwarfs the launch's own traffic
SWEEP = {"strong": ("--batch", "512"), "weak": ("--per-rank", "128")}
COMMON = ("--launches", "1", "--order", "sequential", "--preset", "tiny", "--repeats", "1", "--warmup", "0")


def sweep(mode: str, out, *extra: str, procs: str = "1,2,4"):
    p = run_cli(mode, *COMMON, *SWEEP[mode], "--procs", procs, "--out", str(out), *extra)
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(out)
    return d


@pytest.fixture(scope="module")
def single_host(tmp_path_factory):
    """The same sweeps on this machine alone: their checksums, by mode and P."""
    out = {}
    for mode in SWEEP:
        d = sweep(mode, tmp_path_factory.mktemp(f"one-{mode}"))
        out[mode] = {p: r["checksum"] for p, r in summary(d).items()}
        assert all(r["status"] == "ok" for r in summary(d).values())
    return out


@pytest.mark.parametrize("ppn", [1, 2])
@pytest.mark.parametrize("mode", list(SWEEP))
@pytest.mark.parametrize("vendor", VENDORS)
def test_a_sweep_across_two_hosts(hosts, mpi, single_host, tmp_path, vendor, mode, ppn):
    only_vendor(mpi, vendor)
    hostfile = hosts.hostfile(tmp_path / "hosts", slots=2, vendor=vendor)
    # Open MPI's --map-by ppr:N:node places at most N ranks a host: P=4 needs --ppn 2 there
    procs = [1, 2, 4] if vendor == "MPICH" or ppn == 2 else [1, 2]
    before = hosts.counters()
    d = sweep(mode, tmp_path / "out", "--hostfile", str(hostfile), "--ppn", str(ppn),
              procs=",".join(map(str, procs)))
    after = hosts.counters()

    rows = summary(d)
    assert sorted(rows) == procs
    for p, r in rows.items():
        assert r["status"] == "ok" and r["verified"] == "true", r
        assert r["checksum"] == single_host[mode][p], (p, r["checksum"], single_host[mode][p])

    placed = rank_hosts(d)
    m = manifest(d)
    assert m["sweep"]["hostfile"] == str(hostfile) and m["sweep"]["ppn"] == ppn
    for p in procs:
        want = expected_placement(vendor, p, ppn, hosts.names)
        assert [placed[p][r][0] for r in range(p)] == want, (p, placed[p])
        for h in hosts.names:          # manifest["hosts"][host][P] = ranks of P on that host
            assert m["hosts"].get(h, {}).get(str(p), 0) == want.count(h), (h, p, m["hosts"])
        assert int(rows[p]["hosts"]) == len(set(want))

    # rank 0 is on node1: every image of node2's ranks went there over the link and back
    scatter, gather = bytes_to_and_from(d, "node2", runs=1)
    received = after["node2"][0] - before["node2"][0]
    sent = after["node2"][1] - before["node2"][1]
    assert scatter > 0
    assert received >= scatter and sent >= gather, (received, scatter, sent, gather)
