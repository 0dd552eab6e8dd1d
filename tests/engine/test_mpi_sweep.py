"""Real mpiexec, real ranks, tiny workloads: the sweep's files and its checks."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import fault_env, read_csv
from convbench.core import host
from convbench.workload import datagen
from convbench import kernel
from convbench.engine import launcher
from convbench.engine import sweep
from convbench.results import records
from convbench.workload.spec import preset

pytestmark = pytest.mark.mpi

TINY = preset("tiny")


def run_sweep(tmp_path, mode="strong", wl=TINY, procs=(1, 2, 4), env=None, **kw):
    plan = sweep.SweepPlan.of(mode=mode, workload=wl, procs=procs, repeats=2, warmup=1, launches=kw.pop("launches", 1), order=kw.pop("order", "sequential"),
                              out=str(tmp_path), timeout=120, **kw)
    return sweep.run(plan, argv=["test"], env=env)


@pytest.mark.parametrize("pass_", ["forward", "backward", "train"])
@pytest.mark.parametrize("data", ["scatter", "local"])
def test_strong_sweep_files_checksums_and_coverage(tmp_path, pass_, data):
    res = run_sweep(tmp_path, pass_=pass_, data=data)
    assert not res.failed, res.rows
    d = res.path
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["sweep"]["pass"] == pass_ and manifest["mpi"]["library"]
    assert manifest["points_done"] == [1, 2, 4] and manifest["finished"]

    summary = read_csv(d / "summary.csv")
    assert [int(r["procs"]) for r in summary] == [1, 2, 4]
    slots = host.core_count()
    for r in summary:
        p = int(r["procs"])
        assert r["status"] == "ok" and r["verified"] == "true" and r["pass"] == pass_
        assert int(r["batch"]) == TINY.batch
        assert r["oversubscribed"] == ("true" if p > slots else "false")
        assert float(r["time_min_s"]) <= float(r["time_s"]) <= float(r["time_max_s"])
        assert float(r["speedup"]) > 0 and float(r["efficiency"]) > 0
        assert len(r["mem_per_rank_mb"].split()) == p
        assert float(r["mem_total_mb"]) == pytest.approx(sum(map(float, r["mem_per_rank_mb"].split())), abs=0.1)
    # the output checksum is the same at every P (image i depends on (seed, i) alone)
    assert len({r["checksum"] for r in summary}) == 1
    # where each point's wall time went: every stage measured, together within the wall time
    for r in summary:
        stages = [float(r[k]) for k in records.STAGES]
        assert min(stages) >= 0 and float(r["repeats_s"]) > 0 and float(r["data_s"]) > 0
        assert sum(stages) <= float(r["wall_s"]) * 1.001 + 1e-3
        assert sum(stages) >= 0.5 * float(r["wall_s"])
        assert manifest["point_times"][r["procs"]]["wall_s"] == pytest.approx(float(r["wall_s"]))

    ranks = read_csv(d / "ranks.csv")
    assert len(ranks) == 2 * (1 + 2 + 4)           # repeats x ranks
    for p in (1, 2, 4):
        rows = [r for r in ranks if int(r["procs"]) == p and r["repeat"] == "0"]
        assert sorted(int(r["rank"]) for r in rows) == list(range(p))
        assert sum(int(r["images"]) for r in rows) == TINY.batch
        for r in rows:
            assert float(r["rss_peak_mb"]) >= float(r["rss_base_mb"]) > 0
            assert float(r["time_s"]) >= float(r["compute_s"]) > 0
            if data == "local":
                assert float(r["scatter_s"]) == 0 and float(r["gather_s"]) == 0
            if pass_ == "train" and p > 1:
                assert float(r["allreduce_s"]) > 0


@pytest.mark.parametrize("batch", [7, 3])
def test_uneven_and_small_batches_cover_every_image(tmp_path, batch):
    res = run_sweep(tmp_path, wl=TINY.with_batch(batch), procs=(1, 4), pass_="backward")
    assert not res.failed, res.rows
    ranks = [r for r in read_csv(res.path / "ranks.csv") if r["procs"] == "4" and r["repeat"] == "0"]
    ranges = sorted((int(r["start"]), int(r["end"])) for r in ranks)
    expected = {7: [(0, 2), (2, 4), (4, 6), (6, 7)], 3: [(0, 1), (1, 2), (2, 3), (3, 3)]}[batch]
    assert ranges == expected
    summary = read_csv(res.path / "summary.csv")
    assert summary[1]["idle_ranks"] == ("3" if batch == 3 else "")
    assert summary[0]["checksum"] == summary[1]["checksum"]


def test_train_weight_gradient_equals_single_process(tmp_path):
    wl = TINY.with_batch(9)
    res = run_sweep(tmp_path, wl=wl, procs=(4,), pass_="train", data="local")
    assert not res.failed, res.rows
    result = json.loads((res.path / "points" / "p0004" / "l000" / "result.json").read_text())
    x = datagen.images(wl.seed, datagen.INPUT, 0, wl.batch, wl.input_shape()[1:])
    dy = datagen.images(wl.seed, datagen.GRAD_OUTPUT, 0, wl.batch, wl.output_shape()[1:])
    w, _ = datagen.weights(wl.seed, wl.weight_shape())
    _, dw, db = kernel.backward(x, w, dy, stride=wl.stride, padding=wl.padding)
    np.testing.assert_allclose(np.array(result["dw"]).reshape(dw.shape), dw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result["db"], db, rtol=1e-5, atol=1e-5)


def test_weak_sweep_grows_the_batch_and_checks_shared_images(tmp_path):
    res = run_sweep(tmp_path, mode="weak", wl=TINY.with_batch(3), procs=(1, 2, 4), data="local")
    assert not res.failed, res.rows
    summary = read_csv(res.path / "summary.csv")
    assert [int(r["batch"]) for r in summary] == [3, 6, 12]
    assert [int(r["images_per_rank"]) for r in summary] == [3, 3, 3]
    t1 = float(summary[0]["time_s"])
    for r in summary:
        assert float(r["efficiency"]) == pytest.approx(t1 / float(r["time_s"]))
        assert float(r["speedup"]) == pytest.approx(int(r["procs"]) * t1 / float(r["time_s"]))


def test_the_original_bug_is_caught_and_gets_no_speedup(tmp_path):
    """A rank that computes only part of its shard (the report's double division) fails."""
    res = run_sweep(tmp_path, procs=(1, 2), env=fault_env(kind="skip", rank=1))
    rows = read_csv(res.path / "summary.csv")
    assert rows[0]["status"] == "ok"
    assert rows[1]["status"] == "failed" and rows[1]["verified"] == "false"
    assert rows[1]["speedup"] == "" and "never computed" in rows[1]["reason"]


def test_fault_switch_is_inert_without_the_test_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVBENCH_TEST_FAULTS", raising=False)
    env = fault_env(kind="skip", rank=1)
    del env["CONVBENCH_TEST_FAULTS"]
    res = run_sweep(tmp_path, procs=(2,), env=env)
    assert not res.failed


def test_hostfile_slots_decide_oversubscription(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("localhost:4\n" if launcher.detect(launcher.find_mpiexec()).vendor != "Open MPI"
                     else "localhost slots=4\n")
    # the 'host' has 4 slots on a 2-core machine: Open MPI would refuse to bind 4 ranks to cores
    res = run_sweep(tmp_path, procs=(4,), hostfile=str(hosts), bind="none")
    assert not res.failed, res.rows
    [row] = read_csv(res.path / "summary.csv")
    assert row["oversubscribed"] == "false"
    manifest = json.loads((res.path / "manifest.json").read_text())
    assert manifest["mpi"]["slots"] == 4 and manifest["sweep"]["hostfile"] == str(hosts)


def test_several_hosts_in_a_hostfile_ppn_binding_and_the_manifest(tmp_path, mpi):
    """'Hosts' that are this machine: slots, --ppn and --bind-to reach mpiexec, and the manifest
    lists the host each rank ran on. (Open MPI sees localhost and 127.0.0.1 as one node and
    refuses to have its slots given twice, so it gets one line.)"""
    hosts = tmp_path / "hosts"
    if mpi.vendor == "Open MPI":
        hosts.write_text("localhost slots=4\n")
        ppn, capped = 4, 1
    else:
        hosts.write_text("localhost:2\n127.0.0.1:2\n")
        ppn, capped = 2, 2
    assert sweep.slots(sweep.Placement((4,), hostfile=str(hosts))) == 4
    assert sweep.slots(sweep.Placement((4,), hostfile=str(hosts), ppn=1)) == capped
    res = run_sweep(tmp_path, procs=(2, 4), hostfile=str(hosts), ppn=ppn, bind="none")
    assert not res.failed, res.rows
    m = json.loads((res.path / "manifest.json").read_text())
    assert m["sweep"]["ppn"] == ppn and m["sweep"]["bind"] == "none"
    assert sum(n for per in m["hosts"].values() for n in per.values()) == 2 + 4
    [row2, row4] = read_csv(res.path / "summary.csv")
    assert row4["oversubscribed"] == "false" and int(row4["hosts"]) >= 1
    log = (res.path / "points" / "p0004" / "l000" / "mpiexec.log").read_text().splitlines()[0]
    assert (f"-ppn {ppn}" in log or f"ppr:{ppn}:node" in log) and "none" in log


def test_placement_flags_per_vendor():
    prog = ["p"]
    assert launcher.MpichLauncher("m").command(4, prog, ppn=2, bind="core", oversubscribe=True) == \
        ["m", "-n", "4", "-ppn", "2", "-bind-to", "core", "p"]
    assert launcher.OpenMpiLauncher("o").command(4, prog, ppn=2, bind="core", oversubscribe=True) == \
        ["o", "-n", "4", "--map-by", "ppr:2:node:OVERSUBSCRIBE", "--bind-to", "core", "p"]
    assert launcher.IntelLauncher("i").command(2, prog, ppn=1, bind="core") == \
        ["i", "-n", "2", "-ppn", "1", "-genv", "I_MPI_PIN_DOMAIN", "core", "p"]


def test_points_are_placed_against_the_cached_roofline(tmp_path, monkeypatch):
    from convbench.kernel import roofline as machine
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    res = run_sweep(tmp_path / "none", procs=(1,))
    [row] = read_csv(res.path / "summary.csv")
    assert row["roofline_frac"] == ""                        # no cache: nothing is measured
    path = machine.cache_file()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"peak_gflops_1core": 50.0, "bandwidth_gbs_by_cores": {"1": 10.0, "2": 15.0},
                                "cores": 2, "cpu_model": machine.cpu_model()}))
    res = run_sweep(tmp_path / "cached", procs=(1, 2))
    rows = read_csv(res.path / "summary.csv")
    manifest = json.loads((res.path / "manifest.json").read_text())
    assert manifest["roofline"]["peak_gflops_1core"] == 50.0
    for r in rows:
        assert float(r["bw_frac"]) == pytest.approx(float(r["gbs"]) / {1: 10.0, 2: 15.0}[int(r["procs"])])
        assert 0 < float(r["roofline_frac"]) and float(r["roofline_s"]) > 0
