"""Strong and weak sweeps: a validated plan, one launch per point, results saved after each.

The sweep checks what the ranks cannot check alone: that the forward checksum (or, for weak
sweeps, the checksum of the images every point shares) is the same at every P, and for
backward/train that the whole-batch weight gradient agrees. A point that fails any check is
marked failed and gets no speedup.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from convbench.core import host
from convbench.core.errors import UsageError
from convbench.engine import environment
from convbench.engine import resume as resuming
from convbench.engine import launcher as launch
from convbench.engine import network
from convbench.engine import point as pt
from convbench.engine import schedule
from convbench.engine import slurm
from convbench.engine.schedule import Slot
from convbench.engine.checks import validate
from convbench.engine.lock import SweepLock
from convbench.engine.plan import Measured, Placement, Policy, SweepPlan
from convbench.engine.launches import cross_check  # noqa: F401 (a public name)
from convbench.engine.rounds import (SweepResult, NullProgress, Progress,  # noqa: F401
                                     execute as _execute, _now)
from convbench.results.store import MANIFEST, launch_dir, new_sweep_dir, point_dir

__all__ = ["SweepPlan", "Measured", "Placement", "Policy", "validate", "run", "resume", "slots",
           "select", "SweepResult", "Progress", "NullProgress", "cross_check"]



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


def run(plan: SweepPlan, progress: Progress | None = None, *, argv: list[str] | None = None,
        env: dict | None = None, started: float | None = None) -> SweepResult:
    """Run every point of a plan in a new sweep directory; results are on disk after each point.
    With --launcher slurm outside an allocation, submit a job that will run them instead.
    started: time.monotonic() when the sweep began for --budget (the CLI: when the command's
    process started); default now, so the checks and probes count too."""
    started = time.monotonic() if started is None else started
    validate(plan)
    if plan.policy.order_seed is None:      # drawn once, recorded: a resume repeats the order
        plan = dataclasses.replace(plan, policy=dataclasses.replace(
            plan.policy, order_seed=schedule.draw_seed()))
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
        return _execute(plan, mpi, n_slots, sweep_dir, manifest, [], progress, argv, env,
                        started=started)


def resume(path: str | Path, mode: str, progress: Progress | None = None, *,
           argv: list[str] | None = None, env: dict | None = None,
           launch: resuming.Launch = resuming.Launch(), note=None,
           started: float | None = None) -> SweepResult:
    """Continue an interrupted sweep in its own directory: points measured and verified are
    kept, the others (missing or failed) are run; the manifest records every session.

    The directory is data: its manifest gives what is measured (checked as user input), never
    what runs. The launcher, its arguments and the hostfile are `launch` (this command line);
    where they differ from the recorded ones, `note` gets one line each and the session
    records both. A second writer of the directory is refused (engine.lock)."""
    started = time.monotonic() if started is None else started     # for --budget, as in run
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
        done = kept_launches(d, plan)
        launched = {"launch": {**launch.of(), "mpiexec": mpi.path, "vendor": mpi.vendor},
                    "changed": changed}
        return _execute(plan, mpi, slots(placement), d, manifest, done, progress, argv, env,
                        launched, started=started)


def kept_launches(d: Path, plan: SweepPlan) -> list[pt.LaunchOutcome]:
    """The launches of an earlier session that a resume keeps: measured and verified (ok),
    for the slots the recorded order gives (and the extra rounds --target-ci added). A
    schema 1-2 directory kept one launch per point in points/pNNNN."""
    po = plan.policy
    seed = po.order_seed if po.order_seed is not None else 0
    planned = {(s.procs, s.launch): s for s in schedule.slots(plan.procs, po.launches, po.order, seed)}
    done = []
    for p in plan.procs:
        for launch_no in range(po.most_launches):
            ld = launch_dir(d, p, launch_no, make=False)
            if launch_no == 0 and not ld.is_dir() and (point_dir(d, p) / "outcome.json").is_file():
                ld = point_dir(d, p)                        # schema 1-2: one launch per point
            if not ld.is_dir():
                break
            slot = planned.get((p, launch_no)) or _saved_slot(p, launch_no, ld)
            o = pt.LaunchOutcome.load(ld, slot)
            if o is None or not o.ok:
                break                   # the launches after a lost one run again, in order
            done.append(o)
    return done


def _saved_slot(p: int, launch_no: int, ld: Path) -> Slot:
    """The slot of a launch the plan does not list (an extra round of --target-ci): the one
    its outcome recorded."""
    try:
        saved = json.loads((ld / "outcome.json").read_text(encoding="utf-8"))["slot"]
        return Slot(p, launch_no, int(saved[2]), int(saved[3]))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return Slot(p, launch_no, launch_no, -1)


#: the longest names a sweep directory holds: its own (timestamp, mode, a -NNN suffix) beside
#: the workload's name, and a point's files below it, temporary names included
_DIR_EXTRA = len("20260101-000000-strong--999")
_BELOW = "/points/p0000/l000/.outcome.json.tmp4194304"


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


