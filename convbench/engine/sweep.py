"""Strong and weak sweeps: a validated plan, one launch per point, results saved after each.

The sweep checks what the ranks cannot check alone: that the forward checksum (or, for weak
sweeps, the checksum of the images every point shares) is the same at every P, and for
backward/train that the whole-batch weight gradient agrees. A point that fails any check is
marked failed and gets no speedup.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from convbench.core import host
from convbench.core.errors import UsageError
from convbench.core.numeric import rel_err
from convbench.engine import environment
from convbench.engine import resume as resuming
from convbench.engine import launcher as launch
from convbench.engine import network
from convbench.engine import point as pt
from convbench.engine import slurm
from convbench.engine.checks import validate
from convbench.engine.lock import SweepLock
from convbench.engine.reaper import signum_of
from convbench.engine.plan import Measured, Placement, Policy, SweepPlan
from convbench.reporting import stats
from convbench.results.store import MANIFEST, Recorder, new_sweep_dir, point_dir
from convbench.workload.spec import Workload

__all__ = ["SweepPlan", "Measured", "Placement", "Policy", "validate", "run", "resume", "slots",
           "select", "SweepResult", "Progress", "NullProgress", "cross_check"]

GRAD_RTOL = 1e-4     # whole-batch dW across P: the float32 sums are taken in another order


def slots(placement: Placement) -> int:
    """Ranks that fit without sharing a core: the hostfile's slots (at most --ppn a host)."""
    if placement.launcher == "slurm":
        return slurm.allocation_slots()
    ppn = placement.ppn
    if placement.hostfile:
        hosts = launch.hostfile_slots(placement.hostfile)
        return sum(min(n, ppn) if ppn else n for n in hosts.values())
    return min(host.core_count(), ppn) if ppn else host.core_count()


def select(placement: Placement) -> launch.Launcher:
    """The launcher of a plan's points: srun for --launcher slurm, else the detected mpiexec."""
    if placement.launcher == "slurm":
        return slurm.srun_launcher()
    return launch.detect(launch.find_mpiexec(placement.mpiexec))


class Progress(Protocol):
    """What a sweep tells its caller while it runs (report.LiveProgress draws it)."""

    def sweep_started(self, plan: SweepPlan, sweep_dir: Path, mpi: launch.Launcher,
                      slots: int) -> None: ...
    def point_started(self, procs: int, batch: int, oversubscribed: bool) -> None: ...
    def point_finished(self, row: dict) -> None: ...
    def point_kept(self, row: dict) -> None: ...
    def sweep_finished(self) -> None: ...


class NullProgress:
    def sweep_started(self, *a, **k): pass
    def point_started(self, *a, **k): pass
    def point_finished(self, *a, **k): pass
    def point_kept(self, *a, **k): pass
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


def cross_check(outcomes: list[pt.PointOutcome], mode: str) -> None:
    """Mark points failed whose checksum or gradient disagrees with the first good point."""
    good = [o for o in outcomes if o.ok and o.row["verified"]]
    if not good:
        return
    ref = good[0]
    for o in good[1:]:
        errs = []
        a, b = ref.result.get("checksum_ref"), o.result.get("checksum_ref")
        exact = ref.result.get("checksum_exact", True) and o.result.get("checksum_exact", True)
        scale = max(ref.result.get("checksum_abs") or 0.0, o.result.get("checksum_abs") or 0.0)
        if a is not None and b is not None and not exact and abs(a - b) <= GRAD_RTOL * scale:
            pass        # an input gradient summed over halo rows: equal up to rounding
        elif a is not None and a != b:
            what = "checksum of the shared images" if mode == "weak" else "output checksum"
            errs.append(f"{what} {b!r} differs from {a!r} at P={ref.procs}")
        if mode != "weak" and "dw" in ref.result and "dw" in o.result:
            err = rel_err(o.result["dw"], ref.result["dw"])
            if not err <= GRAD_RTOL:
                errs.append(f"weight gradient differs from P={ref.procs} by {err:.1e} (relative)")
        if errs:
            o.row.update(status="failed", verified=False, reason="; ".join(errs))


def run(plan: SweepPlan, progress: Progress | None = None, *, argv: list[str] | None = None,
        env: dict | None = None) -> SweepResult:
    """Run every point of a plan in a new sweep directory; results are on disk after each point.
    With --launcher slurm outside an allocation, submit a job that will run them instead."""
    validate(plan)
    submitting = plan.placement.launcher == "slurm" and not slurm.in_allocation()
    if submitting:
        slurm.command_path("sbatch")                  # before a directory is made
    mpi = select(plan.placement)
    check_launch(plan, mpi)
    n_slots = None if submitting else slots(plan.placement)
    check_room(Path(plan.out), plan.workload.name)
    sweep_dir = new_sweep_dir(Path(plan.out), plan.mode, plan.workload.name)
    with SweepLock(sweep_dir):
        manifest = {
            "command": list(argv if argv is not None else sys.argv),
            "started": _now(),
            "finished": None,
            "workload": plan.workload.to_dict(),
            "sweep": plan.to_dict(),
            "mpi": {"mpiexec": mpi.path, "vendor": mpi.vendor, "launcher_version": mpi.version,
                    "library": None, "slots": n_slots},
            "environment": environment.describe(),
            "roofline": _roofline(),
            "sessions": [],
        }
        net = network.for_sweep(plan.placement.hostfile, plan.placement.launcher)
        if net:                                     # 'convbench machine' measured it
            manifest["network"] = net
        if submitting:
            return SweepResult(sweep_dir, job_id=slurm.submit(plan, sweep_dir, manifest, fresh=True))
        return _execute(plan, mpi, n_slots, sweep_dir, manifest, [], progress, argv, env)


def resume(path: str | Path, mode: str, progress: Progress | None = None, *,
           argv: list[str] | None = None, env: dict | None = None,
           launch: resuming.Launch = resuming.Launch(), note=None) -> SweepResult:
    """Continue an interrupted sweep in its own directory: points measured and verified are
    kept, the others (missing or failed) are run; the manifest records every session.

    The directory is data: its manifest gives what is measured (checked as user input), never
    what runs. The launcher, its arguments and the hostfile are `launch` (this command line);
    where they differ from the recorded ones, `note` gets one line each and the session
    records both. A second writer of the directory is refused (engine.lock)."""
    note = note or (lambda line: None)
    d = Path(path)
    if not (d / MANIFEST).is_file():
        resuming.read(d)                    # the one-line error of a directory without one
    with SweepLock(d, note=note):
        manifest = resuming.read(d)
        plan = resuming.load_plan(d, manifest)
        if plan.mode != mode:
            raise UsageError(f"--resume {str(d)!r} is a {plan.mode} sweep; resume it with 'convbench {plan.mode} --resume'")
        recorded_mpiexec = plan.placement.mpiexec
        plan, changed, notes = resuming.reconcile(plan, launch)
        validate(plan)
        placement = plan.placement
        for line in notes:
            note(line)
        if placement.launcher == "slurm" and not slurm.in_allocation():   # a new job runs the rest
            return SweepResult(d, job_id=slurm.submit(plan, d, manifest))
        mpi = select(placement)
        check_launch(plan, mpi)
        if placement.launcher != "slurm":
            line = resuming.note_mpiexec(recorded_mpiexec, mpi.path, changed)
            if line:
                note(line)
        else:           # record the job's nodes, not the machine that submitted it
            manifest["mpi"].update(mpiexec=mpi.path, vendor=mpi.vendor,
                                   launcher_version=mpi.version, slots=slots(placement))
            manifest["environment"] = environment.describe()
        done = []
        for p in plan.procs:
            o = pt.PointOutcome.load(point_dir(d, p))
            if o is not None and o.ok:
                done.append(o)
        launched = {"launch": {**launch.of(), "mpiexec": mpi.path, "vendor": mpi.vendor},
                    "changed": changed}
        return _execute(plan, mpi, slots(placement), d, manifest, done, progress, argv, env,
                        launched)


#: the longest names a sweep directory holds: its own (timestamp, mode, a -NNN suffix) beside
#: the workload's name, and a point's files below it, temporary names included
_DIR_EXTRA = len("20260101-000000-strong--999")
_BELOW = "/points/p0000/.outcome.json.tmp4194304"


def check_room(out: Path, name: str) -> None:
    """Refuse an --out or a workload name too long for the files a sweep writes, before its
    directory is made (not after its first point)."""
    try:
        limit = os.pathconf(out if out.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if len(name.encode()) + _DIR_EXTRA > limit:
        raise UsageError(f"the workload's name is {len(name.encode())} bytes long: a sweep "
                         f"directory's name must fit in {limit}; choose a shorter name")
    full = len(str(out.resolve()).encode()) + 1 + len(name.encode()) + _DIR_EXTRA + len(_BELOW)
    if full > PATH_MAX:
        raise UsageError(f"--out {str(out)!r} is too long: the files of a sweep below it would "
                         f"have paths longer than {PATH_MAX} bytes")


PATH_MAX = 4096


def check_launch(plan: SweepPlan, mpi: launch.Launcher) -> None:
    """What needs the launcher found: the hostfile in the syntax of the vendor that reads it."""
    pl = plan.placement
    if pl.hostfile:
        hosts = launch.hostfile_slots(pl.hostfile, vendor=mpi.vendor)
        limit = mpi.most_ranks(pl.ppn, len(hosts)) if pl.ppn else None
        if limit is not None and max(pl.procs) > limit:     # refused before a launch fails
            raise UsageError(
                f"--ppn {pl.ppn} over the {len(hosts)} host(s) of the hostfile places at most "
                f"{limit} ranks with {mpi.vendor}, and --procs asks for {max(pl.procs)}: raise "
                "--ppn, add hosts, or leave --ppn out")


def _roofline() -> dict | None:
    """This machine's cached roofline ('convbench machine' measures it), or None."""
    from convbench.kernel import roofline as machine
    try:
        return machine.cached()
    except Exception:       # a broken cache must not stop a sweep
        return None


def add_roofline(row: dict, wl: Workload, pass_: str, placement: Placement,
                 roof: dict | None) -> None:
    """GFLOP/s and GB/s against the roofline of the cores the point used (one machine);
    wl: the point's workload (its whole batch)."""
    t = row.get("time_s")
    if not roof or placement.hostfile or placement.launcher != "mpiexec" or t is None or math.isnan(t):
        return
    cores = row["procs"] * placement.threads
    row.update(stats.roofline_columns(t, row.get("gbs", math.nan), wl.flops(pass_),
                                      wl.bytes_moved(pass_), roof, cores))


def point_spec(m: Measured, policy: Policy, threads: int, wl: Workload, procs: int,
               checksum_images: int) -> pt.PointSpec:
    """What the ranks of one point run: wl is the point's workload (its whole batch)."""
    return pt.PointSpec(
        workload=wl, procs=procs, pass_=m.pass_, data=m.data, repeats=policy.repeats,
        warmup=policy.warmup, verify=policy.verify, checksum_images=checksum_images,
        decomp=m.decomp, backend=m.backend, images=m.images, threads=threads)


def record_hosts(manifest: dict, procs: int, ranks: list[dict]) -> None:
    """manifest["hosts"][host][P] = ranks of the P-rank point that ran on host."""
    hosts = manifest.setdefault("hosts", {})
    for r in ranks:
        per = hosts.setdefault(r["host"], {})
        per[str(procs)] = per.get(str(procs), 0) + 1


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _execute(plan: SweepPlan, mpi: launch.Launcher, n_slots: int, sweep_dir: Path,
             manifest: dict, done: list[pt.PointOutcome], progress: Progress | None,
             argv: list[str] | None, env: dict | None, launched: dict | None = None) -> SweepResult:
    progress = progress or NullProgress()
    session = {"command": list(argv if argv is not None else sys.argv), "started": _now(),
               "finished": None, "interrupted": False, "points_kept": [o.procs for o in done],
               "points_run": [], **(launched or {})}
    manifest.setdefault("sessions", []).append(session)
    rec = Recorder(sweep_dir, manifest)
    result = SweepResult(sweep_dir)
    outcomes = {o.procs: o for o in done}
    pl = plan.placement
    shared = min(plan.batch_at(p) for p in plan.procs)

    def record() -> None:
        ordered = [outcomes[p] for p in plan.procs if p in outcomes]
        cross_check(ordered, plan.mode)
        result.rows = stats.add_scaling([o.row for o in ordered], plan.mode)
        rec.write([r for o in ordered for r in o.rank_rows], result.rows)

    progress.sweep_started(plan, sweep_dir, mpi, n_slots)
    try:
        for p in plan.procs:
            if p in outcomes:
                progress.point_kept(outcomes[p].row)
                continue
            over = p > n_slots
            progress.point_started(p, plan.batch_at(p), over)
            wl = plan.workload_at(p)
            spec = point_spec(plan.measured, plan.policy, pl.threads, wl, p, shared)
            o = pt.run(spec, mpi, sweep_dir, mode=plan.mode, oversubscribe=over,
                       hostfile=pl.hostfile, mpi_args=pl.mpi_args, timeout=plan.policy.timeout,
                       env=env, ppn=pl.ppn, bind=pl.bind)
            outcomes[p] = o
            add_roofline(o.row, wl, plan.measured.pass_, pl, manifest.get("roofline"))
            record_hosts(manifest, p, o.result.get("ranks", []))
            manifest.setdefault("point_times", {})[str(p)] = pt.stage_times(o.row)
            session["points_run"].append(p)
            if o.result.get("mpi_library") and not manifest["mpi"].get("library"):
                manifest["mpi"]["library"] = o.result["mpi_library"]
            record()
            o.save(point_dir(sweep_dir, p))
            progress.point_finished(next(r for r in result.rows if r["procs"] == p))
            if plan.policy.fail_fast and not o.ok:
                break
        if done and not session["points_run"]:
            record()
    except KeyboardInterrupt as e:      # Ctrl-C, or a signal (engine.reaper.Interrupted)
        result.interrupted = True
        result.signal = signal.Signals(signum_of(e)).name
    finally:
        session.update(finished=_now(), interrupted=result.interrupted)
        if result.signal:
            session["signal"] = result.signal
        rec.update_manifest(finished=_now(), interrupted=result.interrupted,
                            points_done=[p for p in plan.procs if p in outcomes])
        progress.sweep_finished()
    return result
