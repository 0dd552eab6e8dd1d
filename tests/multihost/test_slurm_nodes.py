"""--launcher slurm across two nodes: slurmctld here, a slurmd in each emulated host.

Inside a 2-node allocation (salloc -N 2) every point runs with srun and its ranks land on both
nodes; outside one, the sweep is submitted with sbatch, runs in its job (whose script itself
runs on node1) and is read back with `convbench collect`.
"""
from __future__ import annotations

import pytest

from conftest import sweep_dirs
from engine.test_slurm import collect_when_done, convbench, which
from multihost.helpers import manifest, rank_hosts, summary

pytestmark = [pytest.mark.multihost, pytest.mark.slurm, pytest.mark.mpi]

TINY = ("--launches", "1", "--order", "sequential", "--launcher", "slurm", "--preset", "tiny", "--procs", "1,2,4", "--repeats", "1",
        "--warmup", "0")


def assert_across_both_nodes(d, nodes):
    rows = summary(d)
    assert sorted(rows) == [1, 2, 4]
    assert all(r["status"] == "ok" and r["verified"] == "true" for r in rows.values()), rows
    assert len({r["checksum"] for r in rows.values()}) == 1
    placed = rank_hosts(d)
    assert {h for h, _ in placed[4].values()} == set(nodes), placed
    m = manifest(d)
    assert m["sweep"]["launcher"] == "slurm" and m["mpi"]["vendor"] == "Slurm srun"
    assert sum(m["hosts"][n]["4"] for n in nodes) == 4
    return placed


def test_a_sweep_in_a_two_node_allocation(slurm2, hosts, tmp_path):
    p = convbench("strong", *TINY, "--out", str(tmp_path), env=slurm2.env,
                  prefix=(which("salloc"), "-N", "2", "-n", "2", "--time=5"))
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(tmp_path)
    placed = assert_across_both_nodes(d, hosts.names)
    assert [placed[2][r][0] for r in (0, 1)] == ["node1", "node2"]   # one task a node
    assert manifest(d)["mpi"]["slots"] == 2


def test_a_submitted_sweep_runs_on_both_nodes_and_is_collected(slurm2, hosts, tmp_path):
    p = convbench("strong", *TINY, "--out", str(tmp_path), env=slurm2.env)
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(tmp_path)
    job = manifest(d)["slurm"]["job_id"]
    c = collect_when_done(d, slurm2.env)
    assert c.returncode == 0, c.stdout + c.stderr
    assert f"job {job}: COMPLETED" in c.stdout
    assert_across_both_nodes(d, hosts.names)     # 4 tasks > one node's 2 CPUs: both nodes
