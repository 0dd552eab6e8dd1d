"""The launches of a sweep, in rounds: run them, pool them into points, decide when to stop.

Planned launches run first (engine/schedule.py gives their order). With --target-ci, more
rounds follow for the points whose 95% interval is still wider than the target (each with the
base point, since speedups pair with it by round), until every point meets it, a point has
--max-launches, or the next round would end past --budget. Every launch is written to disk
(its directory, the three tables, the manifest) before the next starts. Why each point stopped
is recorded: launches (as planned), target, max-launches, budget, failed, interrupted.
"""
from __future__ import annotations

import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from typing import Protocol

from convbench.core import host
from convbench.engine import noise_probe, point as pt, schedule
from convbench.engine.launches import Launches, needs_more
from convbench.engine import launcher as launch
from convbench.engine.plan import Measured, Placement, Policy, SweepPlan
from convbench.engine.reaper import signum_of
from convbench.engine.schedule import Slot
from convbench.reporting import stats
from convbench.results.store import Recorder, launch_dir
from convbench.workload.spec import Workload


class Progress(Protocol):
    """What a sweep tells its caller while it runs (engine.live.LiveProgress draws it)."""

    def sweep_started(self, plan: SweepPlan, sweep_dir: Path, mpi: launch.Launcher,
                      slots: int) -> None: ...
    def note(self, line: str) -> None: ...
    def launches_planned(self, total: int) -> None: ...
    def launch_started(self, slot: Slot, batch: int, oversubscribed: bool) -> None: ...
    def launch_finished(self, slot: Slot, launch_row: dict, point_row: dict) -> None: ...
    def launches_kept(self, count: int) -> None: ...
    def sweep_finished(self) -> None: ...


class NullProgress:
    def sweep_started(self, *a, **k): pass
    def note(self, *a, **k): pass
    def launches_planned(self, *a, **k): pass
    def launch_started(self, *a, **k): pass
    def launch_finished(self, *a, **k): pass
    def launches_kept(self, *a, **k): pass
    def sweep_finished(self, *a, **k): pass


@dataclass
class SweepResult:
    """What a finished (or interrupted) sweep leaves: its directory and summary rows."""

    path: Path
    rows: list[dict] = field(default_factory=list)
    interrupted: bool = False
    signal: str | None = None           # the signal that interrupted it (SIGINT: Ctrl-C)
    job_id: str | None = None           # the Slurm job that will run it (nothing ran here)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] != "ok"]


def add_roofline(row: dict, wl: Workload, pass_: str, placement: Placement,
                 roof: dict | None) -> None:  # noqa: D401
    """GFLOP/s and GB/s against the roofline of the cores the point used (one machine);
    wl: the point's workload (its whole batch)."""
    t = row.get("time_s")
    if not roof or placement.hostfile or placement.launcher != "mpiexec" or t is None or math.isnan(t):
        return
    cores = row["procs"] * placement.threads
    row.update(stats.roofline_columns(t, row.get("gbs", math.nan), wl.flops(pass_),
                                      wl.bytes_moved(pass_), roof, cores))

def point_spec(m: Measured, policy: Policy, threads: int, wl: Workload, procs: int,
               checksum_images: int, *, sample: bool = True) -> pt.PointSpec:
    """What the ranks of one launch run: wl is the point's workload (its whole batch). Every
    launch checks coverage, finiteness and its checksum; the reference check on sample images
    runs in the first launch of a P (sample=True) and not again."""
    return pt.PointSpec(
        workload=wl, procs=procs, pass_=m.pass_, data=m.data, repeats=policy.repeats,
        warmup=policy.warmup, verify=policy.verify, checksum_images=checksum_images,
        decomp=m.decomp, backend=m.backend, images=m.images, threads=threads,
        **({} if sample else {"verify_samples": 0}))

def record_hosts(manifest: dict, procs: int, ranks: list[dict]) -> None:
    """manifest["hosts"][host][P] = ranks of the P-rank point that ran on host."""
    hosts = manifest.setdefault("hosts", {})
    for r in ranks:
        per = hosts.setdefault(r["host"], {})
        per[str(procs)] = per.get(str(procs), 0) + 1

def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def execute(plan: SweepPlan, mpi: launch.Launcher, n_slots: int, sweep_dir: Path,
            manifest: dict, done: list[pt.LaunchOutcome], progress: Progress | None,
            argv: list[str] | None, env: dict | None, launched: dict | None = None, *,
            started: float) -> SweepResult:
    """Run the launches a sweep still owes (done: those kept from an earlier session).
    started: time.monotonic() when the sweep (or this session of it) began, its checks and
    probes included (engine/sweep.py): --budget counts from there."""
    progress = progress or NullProgress()
    po, pl = plan.policy, plan.placement
    seed = po.order_seed if po.order_seed is not None else 0
    session = {"command": list(argv if argv is not None else sys.argv), "started": _now(),
               "finished": None, "interrupted": False,
               "points_kept": sorted({o.procs for o in done}), "launches_kept": len(done),
               "points_run": [], "launches_run": 0, **(launched or {})}
    manifest.setdefault("sessions", []).append(session)
    if not done or "noise" not in manifest:     # the machine as this session found it
        manifest["noise"] = noise_probe.machine_before_sweep(host.core_count())
    rec = Recorder(sweep_dir, manifest)
    result = SweepResult(sweep_dir)
    state = Launches(plan, done)
    shared = min(plan.batch_at(p) for p in plan.procs)

    def record() -> None:
        rows, rank_rows, launch_rows = state.rows(manifest.get("roofline"), add_roofline)
        result.rows = state.last_rows = rows
        manifest["point_times"] = {str(r["procs"]): pt.stage_times(r) for r in rows}
        manifest["stops"] = {str(p): why for p, why in sorted(state.stops.items())}
        rec.write(rank_rows, rows, launch_rows)
        rec.update_manifest()

    def over_budget(group: list[Slot]) -> bool:
        """Would this group of launches (a round) end past --budget? A P's first launch
        always runs."""
        if po.budget is None or all(state.count(s.procs) == 0 for s in group):
            return False
        guess = sum(state.mean_wall(s.procs) for s in group)
        return time.monotonic() - started + guess > po.budget

    def run_one(s: Slot) -> pt.LaunchOutcome:
        over = s.procs > n_slots
        progress.launch_started(s, plan.batch_at(s.procs), over)
        wl = plan.workload_at(s.procs)
        spec = point_spec(plan.measured, po, pl.threads, wl, s.procs, shared,
                          sample=not state.sampled(s.procs))
        before, usage = _probe(), noise_probe.Usage()
        o = pt.run(spec, s, mpi, sweep_dir, mode=plan.mode, oversubscribe=over,
                   hostfile=pl.hostfile, mpi_args=pl.mpi_args, timeout=po.timeout,
                   env=env, ppn=pl.ppn, bind=pl.bind)
        others = noise_probe.others_cores(usage, noise_probe.Usage())
        after = _probe()
        o.probe.update(load_before=before["load"], load_after=after["load"],
                       others_cores=others, governor=before["governor"], boost=before["boost"])
        state.add(o)
        record_hosts(manifest, s.procs, o.result.get("ranks", []))
        if o.result.get("mpi_library") and not manifest["mpi"].get("library"):
            manifest["mpi"]["library"] = o.result["mpi_library"]
        if s.procs not in session["points_run"]:
            session["points_run"].append(s.procs)
        session["launches_run"] += 1
        if not o.ok:
            state.stops[s.procs] = "failed"
        record()
        o.save(launch_dir(sweep_dir, s.procs, s.launch))
        progress.launch_finished(s, o.launch_row(),
                                 next(r for r in result.rows if r["procs"] == s.procs))
        return o

    def run_group(group: list[Slot]) -> bool:
        """Run a group of launches; False when the sweep must stop (budget, --fail-fast)."""
        group = [s for s in group if not state.failed(s.procs)]
        if over_budget(group):
            for s in group:
                state.stops.setdefault(s.procs, "budget")
            return False
        for s in group:
            o = run_one(s)
            if po.fail_fast and not o.ok:
                return False
        return True

    planned = schedule.slots(plan.procs, po.launches, po.order, seed)
    have = {(o.procs, o.slot.launch) for o in done}
    todo = [s for s in planned if (s.procs, s.launch) not in have]
    progress.sweep_started(plan, sweep_dir, mpi, n_slots)
    if manifest["noise"].get("warning"):
        progress.note(manifest["noise"]["warning"])
    progress.launches_planned(len(todo) + len(done))
    if done:
        progress.launches_kept(len(done))
    try:
        going = True
        # rounds run whole (their launches pair); the other orders launch by launch
        groups = _groups(todo, po.order)
        for group in groups:
            if not run_group(group):
                going = False
                break
        if going:
            for p in plan.procs:
                if state.count(p) and p not in state.stops:
                    state.stops[p] = "launches"
        if going and po.target_ci is not None:
            going = _more_rounds(plan, state, record, run_group, progress, seed)
        if done and not session["points_run"]:
            record()
    except KeyboardInterrupt as e:      # Ctrl-C, or a signal (engine.reaper.Interrupted)
        result.interrupted = True
        result.signal = signal.Signals(signum_of(e)).name
        for p in plan.procs:
            if p not in state.stops and state.count(p):
                state.stops[p] = "interrupted"
    finally:
        session.update(finished=_now(), interrupted=result.interrupted)
        if result.signal:
            session["signal"] = result.signal
        if state.all():
            record()
        rec.update_manifest(finished=_now(), interrupted=result.interrupted,
                            points_done=[p for p in plan.procs if state.count(p)])
        progress.sweep_finished()
    return result


def _probe() -> dict:
    """The machine around a launch: 1-minute load, frequency governor and boost."""
    return {"load": host.load_average(), **host.cpu_frequency()}


def _groups(slots: list[Slot], order: str) -> list[list[Slot]]:
    if order != "rounds":
        return [[s] for s in slots]
    out: list[list[Slot]] = []
    for s in slots:
        if out and out[-1][0].round == s.round:
            out[-1].append(s)
        else:
            out.append([s])
    return out


def _more_rounds(plan, state: Launches, record, run_group, progress, seed: int) -> bool:
    """--target-ci: rounds for the P whose interval is too wide, until none is or the limits
    stop them. False when the sweep must stop (budget, --fail-fast)."""
    po = plan.policy
    most = po.most_launches
    while True:
        record()
        rows = state.last_rows
        wide = needs_more(rows, po.target_ci)
        for r in rows:
            if r["procs"] not in wide and state.stops.get(r["procs"]) in (None, "launches"):
                state.stops[r["procs"]] = "target"
        capped = [p for p in wide if state.count(p) >= most]
        for p in capped:
            state.stops[p] = "max-launches"
        wide = [p for p in wide if p not in capped]
        if not wide:
            return True
        base = stats.baseline(rows)
        base_p = base[0] if base else None
        if base_p is not None and state.count(base_p) >= most and base_p not in wide:
            for p in wide:          # no base launch left to pair with
                state.stops[p] = "max-launches"
            return True
        group = schedule.extra_round(wide, base_p, state.next_round(),
                                     {p: state.count(p) for p in plan.procs},
                                     state.next_position(), seed)
        group = [s for s in group if s.procs == base_p or s.procs in wide]
        progress.launches_planned(len(state.all()) + len(group))
        for s in group:
            if state.stops.get(s.procs) in ("target", "launches"):
                del state.stops[s.procs]
        if not run_group(group):
            return False
