"""A point is several launches in rounds (engine/rounds.py): real mpiexec, tiny workloads."""
from __future__ import annotations

import json
import math

import pytest

from conftest import read_csv, run_cli
from convbench.engine import schedule, sweep
from convbench.engine.point import LaunchOutcome
from convbench.engine.schedule import Slot
from convbench.workload.spec import preset

TINY = preset("tiny")


def run_sweep(tmp_path, procs=(1, 2), **kw):
    kw = {"repeats": 2, "warmup": 1, "launches": 3, "order_seed": 7, **kw}
    plan = sweep.SweepPlan.of(mode="strong", workload=TINY, procs=procs, out=str(tmp_path),
                              timeout=120, **kw)
    return sweep.run(plan, argv=["test"])


@pytest.mark.mpi
@pytest.mark.slow
def test_launches_in_rounds_keep_their_own_files_and_say_where_each_number_came_from(tmp_path):
    res = run_sweep(tmp_path, procs=(1, 2, 4))
    assert not res.failed, res.rows
    d = res.path
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["schema_version"] == 3 and manifest["sweep"]["order"] == "rounds"
    assert manifest["sweep"]["order_seed"] == 7 and manifest["stops"] == {"1": "launches", "2": "launches", "4": "launches"}
    assert set(manifest["noise"]) >= {"load", "cores", "warning"}
    # every launch has its own files
    for p in (1, 2, 4):
        for launch in range(3):
            ld = d / "points" / f"p{p:04d}" / f"l{launch:03d}"
            assert all((ld / f).is_file() for f in ("spec.json", "result.json", "mpiexec.log", "outcome.json"))
    # launches.csv follows the seeded order; the reference check on sample images ran once per P
    launches = read_csv(d / "launches.csv")
    planned = schedule.slots((1, 2, 4), 3, "rounds", 7)
    got = sorted(launches, key=lambda r: int(r["position"]))
    assert [(int(r["procs"]), int(r["launch"]), int(r["round"])) for r in got] == \
        [(s.procs, s.launch, s.round) for s in planned]
    assert all(r["status"] == "ok" and r["verified"] == "true" for r in launches)
    assert sorted((int(r["procs"]), int(r["launch"])) for r in launches if r["sampled"] == "true") == \
        [(1, 0), (2, 0), (4, 0)]
    assert [float(r["started"]) for r in got] == sorted(float(r["started"]) for r in got)
    assert all(math.isfinite(float(r["load_before"])) for r in launches)
    # ranks.csv: launch, round, position and a timestamp for every repeat of every rank
    ranks = read_csv(d / "ranks.csv")
    assert len(ranks) == 3 * 2 * (1 + 2 + 4)
    pos = {(s.procs, s.launch): s.position for s in planned}
    for r in ranks:
        assert int(r["round"]) == int(r["launch"]) and int(r["position"]) == pos[(int(r["procs"]), int(r["launch"]))]
        assert float(r["t_wall"]) > 1e9
    # the point pools every repeat of every launch: its median is theirs
    for row in read_csv(d / "summary.csv"):
        p = int(row["procs"])
        per_repeat = {}
        for r in ranks:
            if int(r["procs"]) == p:
                key = (r["launch"], r["repeat"])
                per_repeat[key] = max(per_repeat.get(key, 0.0), float(r["time_s"]))
        times = sorted(per_repeat.values())
        assert len(times) == 6 and int(row["launches"]) == 3 and row["stopped"] == "launches"
        assert float(row["time_s"]) == pytest.approx((times[2] + times[3]) / 2)
        assert float(row["time_min_s"]) == times[0] and float(row["time_max_s"]) == times[-1]
        walls = [float(x["wall_s"]) for x in launches if int(x["procs"]) == p]
        assert float(row["wall_s"]) == pytest.approx(sum(walls))


@pytest.mark.mpi
@pytest.mark.slow
def test_resume_keeps_finished_launches_and_runs_only_the_lost_ones(tmp_path):
    res = run_sweep(tmp_path)
    d = res.path
    lost = d / "points" / "p0002" / "l002" / "outcome.json"
    kept = (d / "points" / "p0001" / "l001" / "outcome.json").read_text()
    lost.unlink()
    p = run_cli("strong", "--resume", str(d))
    assert p.returncode == 0, p.stdout + p.stderr
    m = json.loads((d / "manifest.json").read_text())
    assert m["sessions"][-1]["launches_kept"] == 5 and m["sessions"][-1]["launches_run"] == 1
    assert (d / "points" / "p0001" / "l001" / "outcome.json").read_text() == kept
    assert lost.is_file()
    assert len(read_csv(d / "launches.csv")) == 6
    assert all(int(r["launches"]) == 3 for r in read_csv(d / "summary.csv"))


@pytest.mark.mpi
@pytest.mark.slow
def test_target_ci_adds_rounds_up_to_max_launches_and_records_why_each_point_stopped(tmp_path):
    # an interval narrower than any tiny point can give: more rounds until --max-launches
    res = run_sweep(tmp_path, repeats=1, warmup=0, target_ci=0.001, max_launches=4)
    assert not res.failed, res.rows
    rows = {r["procs"]: r for r in res.rows}
    assert {p: r["launches"] for p, r in rows.items()} == {1: 4, 2: 4}
    assert {p: r["stopped"] for p, r in rows.items()} == {1: "max-launches", 2: "max-launches"}
    launches = read_csv(res.path / "launches.csv")
    extra = [r for r in launches if int(r["round"]) == 3]
    assert sorted(int(r["procs"]) for r in extra) == [1, 2]     # the base paired with P=2
    m = json.loads((res.path / "manifest.json").read_text())
    assert m["stops"] == {"1": "max-launches", "2": "max-launches"}


@pytest.mark.mpi
def test_a_budget_stops_the_rounds_after_the_first(tmp_path):
    res = run_sweep(tmp_path, repeats=1, warmup=0, budget=0.001)
    assert not res.failed, res.rows
    assert {r["procs"]: (r["launches"], r["stopped"]) for r in res.rows} == \
        {1: (1, "budget"), 2: (1, "budget")}
    assert all(r["ci_note"] for r in res.rows)          # no interval from one launch


def _outcome(p: int, launch: int, checksum: float) -> LaunchOutcome:
    row = {"procs": p, "status": "ok", "verified": True, "reason": ""}
    return LaunchOutcome(Slot(p, launch, launch, 0), [], row,
                         {"checksum_ref": checksum, "checksum_exact": True})


def test_a_launch_whose_checksum_differs_from_the_others_fails():
    good = [_outcome(1, 0, 5.0), _outcome(1, 1, 5.0), _outcome(2, 0, 5.0)]
    bad = _outcome(2, 1, 5.5)
    sweep.cross_check(good + [bad], "strong")
    assert all(o.ok for o in good)
    assert not bad.ok and "differs from 5.0 at P=1 (launch 0)" in bad.row["reason"]


@pytest.mark.mpi
@pytest.mark.slow
def test_a_sweep_written_before_launches_resumes_keeping_its_points(tmp_path):
    """Schema 2 kept one launch per point in points/pNNNN and recorded no launches: a resume
    keeps that launch as launch 0 and runs the missing point once, in ascending order."""
    res = run_sweep(tmp_path, launches=1, repeats=1, warmup=0)
    d = res.path
    for p in (1, 2):
        pd = d / "points" / f"p{p:04d}"
        for f in (pd / "l000").iterdir():
            f.rename(pd / f.name)
        (pd / "l000").rmdir()
    (d / "launches.csv").unlink()
    m = json.loads((d / "manifest.json").read_text())
    m["schema_version"] = 2
    for k in ("launches", "order", "order_seed", "target_ci", "max_launches", "budget"):
        m["sweep"].pop(k)
    m.pop("stops"), m.pop("noise")
    (d / "manifest.json").write_text(json.dumps(m))
    import shutil
    shutil.rmtree(d / "points" / "p0002")
    p = run_cli("strong", "--resume", str(d))
    assert p.returncode == 0, p.stdout + p.stderr
    m = json.loads((d / "manifest.json").read_text())
    assert m["schema_version"] == 3 and m["sessions"][-1]["launches_kept"] == 1
    assert m["sessions"][-1]["points_run"] == [2]
    rows = read_csv(d / "summary.csv")
    assert [(r["procs"], r["launches"], r["status"]) for r in rows] == [("1", "1", "ok"), ("2", "1", "ok")]


@pytest.mark.mpi
def test_rank_0_streams_each_repeat_to_disk_and_holds_none(tmp_path):
    """The ranks keep no repeat rows: rank 0 writes one line per repeat as it ends (a StepTimes
    per rank), result.json holds none, and ranks.csv has them all."""
    res = run_sweep(tmp_path, procs=(2,), launches=1, repeats=4, warmup=1)
    assert not res.failed, res.rows
    ld = res.path / "points" / "p0002" / "l000"
    result = json.loads((ld / "result.json").read_text())
    assert [r["repeats"] for r in result["ranks"]] == [[], []]
    lines = (ld / result["repeats_file"]).read_text().splitlines()
    assert len(lines) == 4 and all(len(json.loads(x)) == 2 for x in lines)
    assert len(read_csv(res.path / "ranks.csv")) == 4 * 2


def test_a_damaged_repeats_file_fails_the_launch_with_its_reason(tmp_path):
    from convbench.engine import point
    from convbench.results.records import PointSpec
    spec = PointSpec(workload=TINY, procs=2, pass_="forward", repeats=2)
    good = json.dumps([{"time_s": 1.0, "comm_s": 0.0}, {"time_s": 1.1, "comm_s": 0.0}])
    (tmp_path / "r.jsonl").write_text(good + "\n" + json.dumps([{"time_s": 1.0, "comm_s": 0.0}]) + "\n")
    with pytest.raises(Exception, match="line 2: not one entry per rank"):
        point.read_repeats(tmp_path / "r.jsonl", 2, 2)
    (tmp_path / "r.jsonl").write_text((good + "\n") * 3)
    with pytest.raises(Exception, match="more than the 2 repeats"):
        point.read_repeats(tmp_path / "r.jsonl", 2, 2)
    (tmp_path / "r.jsonl").write_text(good + "\n")
    with pytest.raises(Exception, match="holds 1 of the 2 repeats"):
        point.read_repeats(tmp_path / "r.jsonl", 2, 2)
    assert [len(r) for r in point.read_repeats(tmp_path / "r.jsonl", 2, 1)] == [1, 1]
    # a result naming a file outside its launch directory is refused, not followed
    o = point.collect(spec, {"bogus": 1}, Slot(2, 0, 0, 0), mode="strong", oversubscribed=False,
                      started_at=0.0, where=tmp_path)
    assert not o.ok and o.row["reason"]
