"""What ``--resume DIR`` takes from the results directory, and what it never takes from it.

A results directory is data: it travels in tarballs and sits on shared disks, so nothing named
in it is ever run. Its manifest gives the *measured* settings (workload, pass, data, rank
counts, repeats, ...), each checked on load as a command-line option would be
(:func:`load_plan`). The *launch* settings - the launcher, mpiexec, its extra arguments and the
hostfile - come from the current command line and environment, as in a fresh sweep
(:class:`Launch`); :func:`reconcile` puts them into the plan and says, one line each, where
they differ from what the manifest recorded. A session records both.

Messages name the manifest and the key, never the value found there.
"""
# no "from __future__ import annotations": results.typed reads the fields' types
import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from convbench.core.errors import UsageError
from convbench.engine import checks
from convbench.engine.plan import Placement, SweepPlan, Measured, Policy
from convbench.results import records
from convbench.results.records import Record, RecordError, column
from convbench.results.store import MANIFEST
from convbench.workload.spec import Workload

#: a manifest larger than this is not one convbench wrote (it holds a few KB per point)
MAX_MANIFEST_BYTES = 64 * 2**20


@dataclass
class RecordedSweep(Record):
    """The manifest's "sweep" object (engine.plan.SweepPlan.to_dict) as read back: every key
    typed; the keys older manifests lack take their defaults."""

    mode: str
    procs: list[int]
    pass_: str = column("pass", default=Measured.pass_)
    data: str = Measured.data
    decomp: str = Measured.decomp
    backend: str = Measured.backend
    images: str | None = None
    hostfile: str | None = None
    mpi_args: list[str] = field(default_factory=list)
    launcher: str = Placement.launcher
    threads: int = Placement.threads
    ppn: int | None = None
    bind: str | None = None
    repeats: int = Policy.repeats
    warmup: int = Policy.warmup
    timeout: float | None = Policy.timeout
    verify: bool = Policy.verify
    force: bool = Policy.force
    fail_fast: bool = Policy.fail_fast
    per_rank: int | None = None
    # schema 1-2 sweeps ran one launch per point, in ascending P
    launches: int = 1
    order: str = "sequential"
    order_seed: int | None = None
    target_ci: float | None = None
    max_launches: int | None = None
    budget: float | None = None


@dataclass(frozen=True)
class Launch:
    """The launch settings of this command line and environment (None: detected, as a fresh
    sweep detects them)."""

    launcher: str = Placement.launcher
    mpiexec: str | None = None
    mpi_args: tuple[str, ...] = ()
    hostfile: str | None = None

    def of(self) -> dict:
        return {"launcher": self.launcher, "mpiexec": self.mpiexec,
                "mpi_args": list(self.mpi_args), "hostfile": self.hostfile}


def read(d: Path) -> dict:
    """DIR/manifest.json as a dict, checked against the Manifest record (UsageError naming the
    file and the key, never echoing what it holds)."""
    f = d / MANIFEST
    try:
        if f.is_symlink() or not f.is_file():
            raise FileNotFoundError
        if f.stat().st_size > MAX_MANIFEST_BYTES:
            raise UsageError(f"--resume {str(d)!r}: its {MANIFEST} is larger than "
                             f"{MAX_MANIFEST_BYTES >> 20} MiB: not one convbench wrote")
        raw = json.loads(f.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except FileNotFoundError:
        raise UsageError(f"--resume {str(d)!r} is not a convbench sweep directory (no {MANIFEST})") from None
    except (OSError, ValueError) as e:
        why = "it is not UTF-8" if isinstance(e, UnicodeDecodeError) else type(e).__name__
        raise UsageError(f"--resume {str(d)!r}: its {MANIFEST} is unreadable or corrupt ({why})") from None
    try:
        records.Manifest.from_json(raw, MANIFEST)
    except RecordError as e:
        raise UsageError(f"--resume {str(d)!r}: {e}") from None
    return raw


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def load_plan(d: Path, manifest: dict) -> SweepPlan:
    """The plan a manifest recorded, every field checked for its type (the ranges are checked
    by engine.checks.validate, as for a fresh sweep). The launch settings are the manifest's:
    :func:`reconcile` replaces them."""
    where = f"--resume {str(d)!r}: {MANIFEST}"
    s = manifest.get("sweep")
    if not isinstance(s, dict):
        raise UsageError(f"{where} has no sweep settings")
    known = set(records.columns(RecordedSweep))
    try:
        rec = records.from_dict(RecordedSweep, {k: v for k, v in s.items() if k in known},
                                f"{MANIFEST}.sweep")
    except RecordError as e:
        raise UsageError(f"--resume {str(d)!r}: {_first_line(e)}") from None
    if not isinstance(manifest.get("workload"), dict):
        raise UsageError(f"{where} has no workload")
    try:
        wl = Workload.from_dict(manifest["workload"])
    except (UsageError, TypeError, ValueError) as e:
        raise UsageError(f"{where}: workload is not a valid workload: {_redact(_first_line(e))}") from None
    timeout = None if s.get("timeout") is None else rec.timeout
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"{where}: sweep.timeout must be a number of seconds > 0")
    if rec.mode == "weak" and rec.per_rank is not None and rec.per_rank != wl.batch:
        raise UsageError(f"{where}: sweep.per_rank disagrees with the workload's batch")
    measured = Measured(wl, pass_=rec.pass_, data=rec.data, decomp=rec.decomp,
                        backend=rec.backend, images=rec.images)
    mpi = manifest.get("mpi") if isinstance(manifest.get("mpi"), dict) else {}
    recorded_mpiexec = mpi.get("mpiexec") if isinstance(mpi.get("mpiexec"), str) else None
    placement = Placement(tuple(rec.procs), launcher=rec.launcher, mpiexec=recorded_mpiexec,
                          mpi_args=tuple(rec.mpi_args), hostfile=rec.hostfile, ppn=rec.ppn,
                          bind=rec.bind, threads=rec.threads)
    policy = Policy(repeats=rec.repeats, warmup=rec.warmup, timeout=timeout, verify=rec.verify,
                    force=rec.force, fail_fast=rec.fail_fast, launches=rec.launches,
                    order=rec.order, order_seed=rec.order_seed,
                    target_ci=None if s.get("target_ci") is None else rec.target_ci,
                    max_launches=rec.max_launches,
                    budget=None if s.get("budget") is None else rec.budget)
    for key, text in (("workload.name", wl.name), ("sweep.images", rec.images or ""),
                      ("sweep.bind", rec.bind or "")):
        if len(text) > 255 or not text.isprintable():
            raise UsageError(f"{where}: {key} is not a printable string of at most 255 characters")
    plan = SweepPlan(rec.mode, measured, placement, policy, str(d.parent))
    try:            # the ranges, as for a fresh sweep (the launch settings are not the manifest's)
        checks.check_policy(policy)
        checks.check_placement(dataclasses.replace(placement, hostfile=None, mpi_args=()))
        checks.check_measured(measured)
    except UsageError as e:
        raise UsageError(f"{where} records a setting convbench refuses: {_redact(str(e))}") from None
    return plan


def _redact(message: str) -> str:
    """A check's message without the strings it quotes (they are what the file holds)."""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "(the recorded value)", message)


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def reconcile(plan: SweepPlan, now: Launch) -> tuple[SweepPlan, dict, list[str]]:
    """The plan with this command line's launch settings; the settings that differ from the
    recorded ones ({key: {"recorded": ..., "now": ...}}) and one line for each."""
    recorded = {"launcher": plan.placement.launcher, "mpiexec": plan.placement.mpiexec,
                "mpi_args": list(plan.placement.mpi_args), "hostfile": plan.placement.hostfile}
    current = now.of()
    changed, notes = {}, []
    for key, flag in (("launcher", "--launcher"), ("mpi_args", "--mpi-args"),
                      ("hostfile", "--hostfile")):
        if recorded[key] != current[key]:
            changed[key] = {"recorded": recorded[key], "now": current[key]}
            notes.append(f"--resume uses {flag} {_show(current[key])} of this command line; the "
                         f"manifest recorded {_show(recorded[key])} (give it again to use it)")
    placement = dataclasses.replace(plan.placement, launcher=now.launcher, mpiexec=now.mpiexec,
                                    mpi_args=tuple(now.mpi_args), hostfile=now.hostfile)
    return dataclasses.replace(plan, placement=placement), changed, notes


def note_mpiexec(recorded: str | None, used: str, changed: dict) -> str | None:
    """One line when the launcher found now is not the one the manifest recorded."""
    if recorded is None or recorded == used:
        return None
    changed["mpiexec"] = {"recorded": recorded, "now": used}
    return (f"--resume runs {used}; the manifest recorded {_show(recorded)} "
            "(name it with --mpiexec to use it)")


def _show(v) -> str:
    if v is None or v == []:
        return "(none)"
    if isinstance(v, list):
        import shlex
        return repr(shlex.join(v))
    return repr(v)
