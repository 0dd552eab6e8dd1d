"""Strong and weak sweeps: a validated plan, one launch per point, results saved after each.

The sweep checks what the ranks cannot check alone: that the forward checksum (or, for weak
sweeps, the checksum of the images every point shares) is the same at every P, and for
backward/train that the whole-batch weight gradient agrees. A point that fails any check is
marked failed and gets no speedup.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from convbench.core import host
from convbench.reporting import stats
from convbench.engine import environment
from convbench.engine import launcher as launch
from convbench.engine import point as pt
from convbench.engine import slurm
from convbench.core.errors import UsageError
from convbench.results.store import MANIFEST, Recorder, new_sweep_dir, point_dir
from convbench.workload.spec import DATA_MODES, PASSES, Workload

MODES = ("strong", "weak", "run")
LAUNCHERS = ("mpiexec", "slurm")
GRAD_RTOL = 1e-4     # whole-batch dW across P: the float32 sums are taken in another order


@dataclass(frozen=True)
class SweepPlan:
    """Everything a sweep needs, validated before anything is launched."""

    mode: str                           # strong | weak | run
    workload: Workload                  # strong/run: the whole batch; weak: batch = per rank
    procs: tuple[int, ...]
    pass_: str = "forward"
    data: str = "scatter"
    repeats: int = 3
    warmup: int = 1
    timeout: float | None = None        # seconds per point (None: no limit)
    verify: bool = True
    hostfile: str | None = None
    mpiexec: str | None = None
    mpi_args: tuple[str, ...] = ()
    out: str = "results"
    force: bool = False                 # run even if the memory estimate exceeds the machine
    fail_fast: bool = False
    decomp: str = "batch"               # batch: images over ranks; spatial: rows over ranks
    backend: str = "convbench"          # convbench | torch | naive
    images: str | None = None           # PNG/JPEG directory instead of synthetic images
    threads: int = 1                    # threads per rank
    ppn: int | None = None              # ranks per node (with a hostfile)
    bind: str | None = None             # binding of ranks (core, socket, none, ...)
    launcher: str = "mpiexec"           # mpiexec | slurm (srun in an allocation, else sbatch)

    def batch_at(self, procs: int) -> int:
        return self.workload.batch * procs if self.mode == "weak" else self.workload.batch

    def workload_at(self, procs: int) -> Workload:
        return self.workload.with_batch(self.batch_at(procs))

    def to_dict(self) -> dict:
        return {
            "mode": self.mode, "procs": list(self.procs), "pass": self.pass_, "data": self.data,
            "repeats": self.repeats, "warmup": self.warmup, "timeout": self.timeout,
            "verify": self.verify, "hostfile": self.hostfile, "mpi_args": list(self.mpi_args),
            "per_rank": self.workload.batch if self.mode == "weak" else None,
            "force": self.force, "fail_fast": self.fail_fast, "decomp": self.decomp,
            "backend": self.backend, "images": self.images, "threads": self.threads,
            "ppn": self.ppn, "bind": self.bind, "launcher": self.launcher,
        }


def validate(plan: SweepPlan) -> None:
    """Refuse a plan that cannot run, with one line saying why (UsageError, exit 2)."""
    if plan.mode not in MODES:
        raise UsageError(f"unknown mode {plan.mode!r}")
    if not plan.procs:
        raise UsageError("--procs is empty: give process counts such as 1,2,4,8")
    bad = [p for p in plan.procs if p < 1]
    if bad:
        raise UsageError(f"--procs must be positive, got {bad[0]}")
    dup = sorted({p for p in plan.procs if plan.procs.count(p) > 1})
    if dup:
        raise UsageError(f"--procs lists {dup[0]} more than once")
    if plan.pass_ not in PASSES:
        raise UsageError(f"--pass must be one of {', '.join(PASSES)}, got {plan.pass_!r}")
    if plan.data not in DATA_MODES:
        raise UsageError(f"--data must be one of {', '.join(DATA_MODES)}, got {plan.data!r}")
    if plan.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {plan.repeats}")
    if plan.warmup < 0:
        raise UsageError(f"--warmup must be >= 0, got {plan.warmup}")
    if plan.ppn is not None and (isinstance(plan.ppn, bool) or plan.ppn < 1):
        raise UsageError(f"--ppn must be >= 1, got {plan.ppn}")
    if plan.bind is not None and not plan.bind.replace("-", "").replace(":", "").isalnum():
        raise UsageError(f"--bind-to {plan.bind!r} is not a binding (core, socket, numa, none, ...)")
    if plan.timeout is not None and not plan.timeout > 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {plan.timeout}")
    if plan.launcher not in LAUNCHERS:
        raise UsageError(f"--launcher must be one of {', '.join(LAUNCHERS)}, got {plan.launcher!r}")
    if plan.launcher == "slurm" and plan.hostfile:
        raise UsageError("--hostfile is for mpiexec: with --launcher slurm the allocation decides the hosts")
    if plan.hostfile:
        launch.hostfile_slots(plan.hostfile)          # raises if missing or unreadable
    check_compute(plan)
    for p in plan.procs:
        plan.workload_at(p)                           # raises if a weak batch gets too large
    if not plan.force:
        check_memory(plan)


DECOMPS = ("batch", "spatial")
BACKENDS = ("convbench", "torch", "naive")


def check_compute(plan: SweepPlan) -> None:
    """Decomposition, backend, threads and image directory: usable before anything runs."""
    if plan.decomp not in DECOMPS:
        raise UsageError(f"--decomp must be one of {', '.join(DECOMPS)}, got {plan.decomp!r}")
    if plan.decomp == "spatial" and plan.data != "local":
        raise UsageError("--decomp spatial splits every image's rows over the ranks and needs "
                         "--data local (each rank makes its own rows)")
    if plan.backend not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {plan.backend!r}")
    if isinstance(plan.threads, bool) or not isinstance(plan.threads, int) or plan.threads < 1:
        raise UsageError(f"--threads must be an integer >= 1, got {plan.threads!r}")
    if plan.backend == "torch":
        import importlib.util
        if importlib.util.find_spec("torch") is None:
            raise UsageError("--backend torch needs PyTorch in this Python: "
                             "pip install 'convbench[torch]' (torch==2.13.0)")
    if plan.backend == "naive" and plan.pass_ != "forward":
        from convbench import kernel
        if not hasattr(kernel, "backward_naive"):
            raise UsageError("--backend naive has a forward pass only: use --pass forward")
    if plan.threads > 1 and plan.backend != "torch":
        import inspect
        from convbench import kernel
        if "threads" not in inspect.signature(kernel.forward).parameters:
            raise UsageError("this build of the kernel runs one thread per rank: use --threads 1")
    if plan.images:
        from convbench.workload import images
        wl = plan.workload
        images.load_batch(plan.images, 0, 1, wl.c_in, wl.height, wl.width)   # raises if unusable


def check_memory(plan: SweepPlan) -> None:
    """Refuse points whose buffers would not fit in this machine's available memory."""
    avail = host.mem_available_bytes()
    if not avail:
        return
    for p in plan.procs:
        wl = plan.workload_at(p)
        if plan.hostfile:   # ranks spread over hosts: only rank 0's share must fit here
            need = wl.memory_per_rank(plan.pass_, plan.data, p)[0]
        else:
            need = wl.memory_total(plan.pass_, plan.data, p)
        need += p * 80 * 2**20      # each rank's Python, numpy and MPI
        if need > 0.9 * avail:
            raise UsageError(
                f"P={p} needs about {need / 2**30:.1f} GiB ({wl.describe()}, {plan.pass_}, "
                f"{plan.data}) but this machine has {avail / 2**30:.1f} GiB available; "
                f"lower --batch/--per-rank, use --data local, or pass --force")


def slots(plan: SweepPlan) -> int:
    """Ranks that fit without sharing a core: the hostfile's slots (at most --ppn a host)."""
    if plan.launcher == "slurm":
        return slurm.allocation_slots()
    if plan.hostfile:
        hosts = launch.hostfile_slots(plan.hostfile)
        return sum(min(n, plan.ppn) if plan.ppn else n for n in hosts.values())
    return min(host.core_count(), plan.ppn) if plan.ppn else host.core_count()


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
            scale = max(max(map(abs, ref.result["dw"]), default=0.0), 1e-30)
            diff = max((abs(x - y) for x, y in zip(ref.result["dw"], o.result["dw"])), default=0.0)
            if not diff / scale <= GRAD_RTOL:
                errs.append(f"weight gradient differs from P={ref.procs} by {diff / scale:.1e} (relative)")
        if errs:
            o.row.update(status="failed", verified=False, reason="; ".join(errs))


def run(plan: SweepPlan, progress: Progress | None = None, *, argv: list[str] | None = None,
        env: dict | None = None) -> SweepResult:
    """Run every point of a plan in a new sweep directory; results are on disk after each point.
    With --launcher slurm outside an allocation, submit a job that will run them instead."""
    validate(plan)
    submitting = plan.launcher == "slurm" and not slurm.in_allocation()
    if submitting:
        slurm.command_path("sbatch")                  # before a directory is made
    mpi = select(plan)
    n_slots = None if submitting else slots(plan)
    sweep_dir = new_sweep_dir(Path(plan.out), plan.mode, plan.workload.name)
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
    if submitting:
        return SweepResult(sweep_dir, job_id=slurm.submit(plan, sweep_dir, manifest, fresh=True))
    return _execute(plan, mpi, n_slots, sweep_dir, manifest, [], progress, argv, env)


def select(plan: SweepPlan) -> launch.Launcher:
    """The launcher of a plan's points: srun for --launcher slurm, else the detected mpiexec."""
    if plan.launcher == "slurm":
        return slurm.srun_launcher()
    return launch.detect(launch.find_mpiexec(plan.mpiexec))


def resume(path: str | Path, mode: str, progress: Progress | None = None, *,
           argv: list[str] | None = None, env: dict | None = None) -> SweepResult:
    """Continue an interrupted sweep in its own directory: points measured and verified are
    kept, the others (missing or failed) are run; the manifest records every session."""
    d = Path(path)
    try:
        manifest = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
        plan = plan_from_manifest(manifest, out=str(d.parent))
    except FileNotFoundError:
        raise UsageError(f"--resume {str(d)!r} is not a convbench sweep directory (no {MANIFEST})") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"--resume {str(d)!r}: its {MANIFEST} is unreadable or corrupt ({e})") from None
    if plan.mode != mode:
        raise UsageError(f"--resume {str(d)!r} is a {plan.mode} sweep; resume it with 'convbench {plan.mode} --resume'")
    validate(plan)
    if plan.launcher == "slurm" and not slurm.in_allocation():   # a new job runs the rest
        return SweepResult(d, job_id=slurm.submit(plan, d, manifest))
    mpi = select(plan)
    if plan.launcher == "slurm":        # record the job's nodes, not the machine that submitted it
        manifest["mpi"].update(mpiexec=mpi.path, vendor=mpi.vendor, launcher_version=mpi.version,
                               slots=slots(plan))
        manifest["environment"] = environment.describe()
    done = []
    for p in plan.procs:
        o = pt.PointOutcome.load(point_dir(d, p))
        if o is not None and o.ok:
            done.append(o)
    return _execute(plan, mpi, slots(plan), d, manifest, done, progress, argv, env)


def plan_from_manifest(m: dict, out: str) -> SweepPlan:
    s = m["sweep"]
    wl = Workload.from_dict(m["workload"])
    return SweepPlan(
        mode=s["mode"], workload=wl, procs=tuple(int(p) for p in s["procs"]), pass_=s["pass"],
        data=s["data"], repeats=int(s["repeats"]), warmup=int(s["warmup"]), timeout=s["timeout"],
        verify=bool(s["verify"]), hostfile=s["hostfile"], mpiexec=m["mpi"]["mpiexec"],
        mpi_args=tuple(s["mpi_args"]), out=out, force=bool(s["force"]), fail_fast=bool(s["fail_fast"]),
        decomp=s.get("decomp", "batch"), backend=s.get("backend", "convbench"),
        images=s.get("images"), threads=int(s.get("threads", 1)), ppn=s.get("ppn"),
        bind=s.get("bind"), launcher=s.get("launcher", "mpiexec"),
    )


def _roofline() -> dict | None:
    """This machine's cached roofline ('convbench machine' measures it), or None."""
    from convbench.kernel import roofline as machine
    try:
        return machine.cached()
    except Exception:       # a broken cache must not stop a sweep
        return None


def add_roofline(row: dict, plan: SweepPlan, roof: dict | None) -> None:
    """GFLOP/s and GB/s against the roofline of the cores the point used (one machine)."""
    t = row.get("time_s")
    if not roof or plan.hostfile or plan.launcher != "mpiexec" or t is None or math.isnan(t):
        return
    wl = plan.workload_at(row["procs"])
    cores = row["procs"] * plan.threads
    row.update(stats.roofline_columns(row["time_s"], row.get("gbs", math.nan),
                                         wl.flops(plan.pass_), wl.bytes_moved(plan.pass_), roof,
                                         cores))


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
             argv: list[str] | None, env: dict | None) -> SweepResult:
    progress = progress or NullProgress()
    session = {"command": list(argv if argv is not None else sys.argv), "started": _now(),
               "finished": None, "interrupted": False, "points_kept": [o.procs for o in done],
               "points_run": []}
    manifest.setdefault("sessions", []).append(session)
    rec = Recorder(sweep_dir, manifest)
    result = SweepResult(sweep_dir)
    outcomes = {o.procs: o for o in done}
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
            spec = pt.PointSpec(
                workload=plan.workload_at(p), procs=p, pass_=plan.pass_, data=plan.data,
                repeats=plan.repeats, warmup=plan.warmup, verify=plan.verify,
                checksum_images=shared, decomp=plan.decomp, backend=plan.backend,
                images=plan.images, threads=plan.threads,
            )
            o = pt.run(spec, mpi, sweep_dir, mode=plan.mode, oversubscribe=over,
                       hostfile=plan.hostfile, mpi_args=plan.mpi_args, timeout=plan.timeout,
                       env=env, ppn=plan.ppn, bind=plan.bind)
            outcomes[p] = o
            add_roofline(o.row, plan, manifest.get("roofline"))
            record_hosts(manifest, p, o.result.get("ranks", []))
            session["points_run"].append(p)
            if o.result.get("mpi_library") and not manifest["mpi"].get("library"):
                manifest["mpi"]["library"] = o.result["mpi_library"]
            record()
            o.save(point_dir(sweep_dir, p))
            progress.point_finished(next(r for r in result.rows if r["procs"] == p))
            if plan.fail_fast and not o.ok:
                break
        if done and not session["points_run"]:
            record()
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        session.update(finished=_now(), interrupted=result.interrupted)
        rec.update_manifest(finished=_now(), interrupted=result.interrupted,
                            points_done=[p for p in plan.procs if p in outcomes])
        progress.sweep_finished()
    return result


def parse_procs(text: str) -> tuple[int, ...]:
    """'1,2,4,8' -> (1, 2, 4, 8); one clear error for anything else."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise UsageError("--procs is empty: give process counts such as 1,2,4,8")
    out = []
    for p in parts:
        if not p:
            raise UsageError(f"--procs {text!r} has an empty entry")
        try:
            n = int(p)
        except ValueError:
            raise UsageError(f"--procs must be comma-separated integers, got {p!r}") from None
        if n < 1:
            raise UsageError(f"--procs must be positive, got {n}")
        if n in out:
            raise UsageError(f"--procs lists {n} more than once")
        out.append(n)
    return tuple(out)
