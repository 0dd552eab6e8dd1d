"""Slurm: run the points of a sweep with ``srun`` inside an allocation, or submit the whole
sweep as one ``sbatch`` job and read it back later with ``convbench collect``.

Inside an allocation (``SLURM_JOB_ID`` is set) :class:`SrunLauncher` starts each point's ranks
with ``srun``. Outside one, :func:`submit` writes ``job.sbatch`` into the new sweep directory:
a readable script whose only command is ``convbench MODE --resume DIR``, so the job runs the
points (with srun, inside its own allocation) into the usual results directory, keeps the
points a previous job finished, and records its session in the manifest. :func:`collect` asks
Slurm (``scontrol``, then ``sacct``) how the job stands and reads the results it wrote.
"""
from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from convbench.core.errors import ConvbenchError, UsageError
from convbench.core.host import core_count
from convbench.engine.launcher import Launcher, tail
from convbench.engine.reaper import run_bounded
from convbench.core.fsio import atomic_write
from convbench.results.store import MANIFEST, SUMMARY, write_json

SCRIPT = "job.sbatch"
#: Slurm job states in which the job has not ended yet
ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
          "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED"}
NEEDS = "--launcher slurm needs Slurm's commands on PATH"
OUTPUT_LIMIT = 1 << 20          # bytes of a Slurm command's output read
#: a job id as sbatch prints it and a manifest may record it: never an option of scontrol
JOB_ID = re.compile(r"^[0-9]{1,12}(_[0-9]{1,12})?$")


def in_allocation(env=None) -> bool:
    """True inside a Slurm job (salloc, sbatch, srun): points then run with srun directly."""
    return bool((os.environ if env is None else env).get("SLURM_JOB_ID"))


def command_path(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UsageError(f"{name} not found: {NEEDS}")
    return path


def _run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """argv's exit status and output (stdout and stderr, read up to OUTPUT_LIMIT bytes)."""
    try:
        rc, text = run_bounded(argv, limit=OUTPUT_LIMIT, timeout=timeout)
    except OSError as e:
        raise ConvbenchError(f"{Path(argv[0]).name} failed: {e.strerror or e}") from None
    if rc is None:
        raise ConvbenchError(f"{Path(argv[0]).name} did not end within {timeout:.0f} s")
    return subprocess.CompletedProcess(argv, rc, text, "")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


# ---- srun inside an allocation ------------------------------------------------------------------
#: mpiexec's binding words -> srun's --cpu-bind words (others are passed as they are)
CPU_BIND = {"core": "cores", "socket": "sockets", "numa": "ldoms", "hwthread": "threads"}


@dataclass(frozen=True)
class SrunLauncher(Launcher):
    """Starts P ranks as one job step of the current allocation."""

    vendor = "Slurm srun"
    mpi: str = "pmi2"       # srun --mpi=...: pmi2 is what the MPICH wheel speaks; "" omits it

    def command(self, procs: int, program: list[str], *, oversubscribe: bool = False,
                hostfile: str | None = None, extra: tuple[str, ...] = (),
                ppn: int | None = None, bind: str | None = None) -> list[str]:
        # one rank that exits or dies ends the step, as mpiexec does (srun would wait for the others)
        argv = [self.path, "-n", str(procs), "--kill-on-bad-exit=1"]
        if self.mpi:
            argv.append(f"--mpi={self.mpi}")
        if oversubscribe:            # more ranks than the allocation has CPUs
            argv.append("--overcommit")
        if ppn:
            argv += ["--ntasks-per-node", str(ppn)]
        if bind:
            argv.append(f"--cpu-bind={CPU_BIND.get(bind, bind)}")
        return argv + list(extra) + list(program)


def srun_launcher() -> SrunLauncher:
    """srun from PATH; ``CONVBENCH_SRUN_MPI`` overrides its --mpi plugin (empty: the site's)."""
    path = command_path("srun")
    proc = _run([path, "--version"], timeout=30)
    return SrunLauncher(path=path, version=_last_line(proc.stdout + proc.stderr),
                        mpi=os.environ.get("CONVBENCH_SRUN_MPI", "pmi2"))


def allocation_slots(env=None) -> int:
    """Ranks the allocation holds: SLURM_NTASKS, else the CPUs of its nodes ('4(x2),2' -> 10)."""
    env = os.environ if env is None else env
    try:
        if env.get("SLURM_NTASKS"):
            return int(env["SLURM_NTASKS"])
        cpus = re.findall(r"(\d+)(?:\(x(\d+)\))?", env.get("SLURM_JOB_CPUS_PER_NODE", ""))
        return sum(int(n) * int(rep or 1) for n, rep in cpus) or core_count()
    except ValueError:
        return core_count()


# ---- submitting a sweep as one batch job ---------------------------------------------------------
def time_limit(launches: int, timeout: float | None, budget: float | None = None,
               per_round: int = 1) -> str:
    """The job's --time: every launch may take its whole --timeout, plus 5 minutes to start
    (with a --budget: the budget and one more round of launches at most)."""
    seconds = launches * (timeout or 1200)
    if budget is not None:
        seconds = min(seconds, budget + per_round * (timeout or 1200))
    minutes = math.ceil(seconds / 60) + 5
    return f"{minutes // 60}:{minutes % 60:02d}:00"


def job_script(plan, sweep_dir: Path, python: str | None = None) -> str:
    """The readable batch script of a sweep: its only command resumes the sweep directory."""
    d = Path(sweep_dir).resolve()
    if re.search(r"[\s%\"'\\]", str(d)):
        raise UsageError(f"--launcher slurm: the sweep directory {str(d)!r} holds a space, quote "
                         "or '%', which #SBATCH lines cannot carry; choose another --out")
    python = os.path.abspath(python or sys.executable)     # the job uses this very Python
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", plan.workload.name)
    procs = ",".join(map(str, plan.procs))
    # --resume takes the launch settings from its command line, never from the directory
    extra = ["--mpi-args", shlex.join(plan.placement.mpi_args)] if plan.placement.mpi_args else []
    command = shlex.join([python, "-m", "convbench", plan.mode, "--launcher", "slurm", *extra,
                          "--resume", str(d)])
    return "\n".join([
        "#!/bin/bash",
        f"# convbench {plan.mode} sweep: {plan.describe()}, P = {procs}",
        "# Written and submitted by 'convbench ... --launcher slurm'. The job runs every point",
        "# with srun inside its allocation and writes the results into this directory.",
        f"# How it stands, and its table once it has ended:  convbench collect {d}",
        f"# Run the points it did not finish in a new job:   convbench {plan.mode} --resume {d}",
        f"#SBATCH --job-name=convbench-{plan.mode}-{name}",
        f"#SBATCH --ntasks={max(plan.procs)}",
        f"#SBATCH --time={time_limit(len(plan.procs) * plan.policy.most_launches, plan.policy.timeout, plan.policy.budget, len(plan.procs))}",
        f"#SBATCH --output={d}/slurm-%j.out",
        "",
        f"exec {command}",
        "",
    ])


def submit(plan, sweep_dir: Path, manifest: dict, *, fresh: bool = False) -> str:
    """Write job.sbatch and the manifest into sweep_dir, submit the job, return its id.

    The job is submitted held and released once its id is in the manifest, so the job never
    reads a manifest without it. If sbatch refuses the job, a fresh sweep directory is removed.
    """
    sbatch, scontrol = command_path("sbatch"), command_path("scontrol")
    d = Path(sweep_dir)
    if not fresh and (earlier := (manifest.get("slurm") or {}).get("job_id")):
        if not JOB_ID.match(str(earlier)):
            raise UsageError(f"{d / MANIFEST} is corrupt: its slurm.job_id is not a job id")
        job = job_state(str(earlier))
        if job.active:      # two jobs must not write one directory
            raise UsageError(f"job {earlier} of this sweep is still {job.state}: wait for it "
                             f"(convbench collect {d}) or scancel it first")
    try:
        atomic_write(d / SCRIPT, job_script(plan, d))
        (d / SCRIPT).chmod(0o755)
        proc = _run([sbatch, "--parsable", "--hold", str((d / SCRIPT).resolve())])
        if proc.returncode != 0 or not proc.stdout.strip():
            raise ConvbenchError(f"sbatch refused the job: {_last_line(proc.stderr or proc.stdout)}")
    except ConvbenchError:
        if fresh:
            shutil.rmtree(d, ignore_errors=True)
        raise
    ids = [ln.strip().split(";")[0] for ln in proc.stdout.splitlines()]   # "id" or "id;cluster"
    job_id = next((i for i in reversed(ids) if JOB_ID.match(i)), None)
    if job_id is None:
        raise ConvbenchError(f"sbatch printed no job id: {_last_line(proc.stdout)}")
    earlier = manifest.get("slurm", {}).get("jobs", [])
    manifest["slurm"] = {
        "job_id": job_id, "state": "submitted", "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "script": SCRIPT, "output": f"slurm-{job_id}.out", "jobs": [*earlier, job_id],
        "sessions_before": len(manifest.get("sessions", [])),
    }
    write_json(d / MANIFEST, manifest)
    release = _run([scontrol, "release", job_id])
    if release.returncode != 0:
        _run([command_path("scancel"), job_id])
        raise ConvbenchError(f"job {job_id} was submitted held and cannot be released "
                             f"({_last_line(release.stderr)}); it is cancelled")
    return job_id


# ---- collecting a submitted sweep ------------------------------------------------------------------
@dataclass(frozen=True)
class JobState:
    """What Slurm says about one job."""

    job_id: str
    state: str               # PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, ...; UNKNOWN: Slurm forgot it
    reason: str = ""         # why it waits or why it ended ("" for none)
    exit_code: str = ""      # the batch script's "status:signal"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def job_state(job_id: str) -> JobState:
    """scontrol knows a job until a few minutes after it ended; sacct, where accounting is
    stored, after that; otherwise the state is UNKNOWN."""
    if (scontrol := shutil.which("scontrol")):
        proc = _run([scontrol, "show", "job", "-o", job_id])
        fields = dict(tok.split("=", 1) for tok in proc.stdout.split() if "=" in tok)
        if proc.returncode == 0 and "JobState" in fields:
            reason = fields.get("Reason", "None")
            return JobState(job_id, fields["JobState"], "" if reason == "None" else reason,
                            fields.get("ExitCode", ""))
    if (sacct := shutil.which("sacct")):
        proc = _run([sacct, "-n", "-X", "-P", "-j", job_id, "-o", "State,ExitCode"])
        line = next((ln.strip() for ln in proc.stdout.splitlines() if "|" in ln), "")
        if proc.returncode == 0 and "|" in line:
            state, code = line.split("|", 1)
            return JobState(job_id, state.split()[0], "", code)
    return JobState(job_id, "UNKNOWN", "Slurm does not know the job (any more)")


@dataclass
class Collected:
    """A submitted sweep as it stands: its job and the summary rows written so far."""

    path: Path
    manifest: dict
    job: JobState
    finished: bool                               # the job ended: nothing more will be written
    session_ended: bool = False                  # the job's sweep ran to its end (not interrupted)
    rows: list[dict] = field(default_factory=list)
    output_tail: list[str] = field(default_factory=list)   # last lines of the job's output

    @property
    def points(self) -> int:
        return len((self.manifest.get("sweep") or {}).get("procs") or [])

    @property
    def title(self) -> str:
        from convbench.workload.spec import Workload
        mode = self.manifest["sweep"]["mode"]
        return (f"{mode} scaling: {Workload.from_dict(self.manifest['workload']).describe()}"
                + (" per rank" if mode == "weak" else ""))

    def problem(self) -> str:
        """Why the sweep is not a success, in one line ("" when it is)."""
        job = self.job
        failed = [r for r in self.rows if r.get("status") != "ok"]
        last = f": {self.output_tail[-1]}" if self.output_tail else ""
        if job.state not in ("COMPLETED", "UNKNOWN"):
            why = f" ({job.reason})" if job.reason else ""
            return f"job {job.job_id} ended {job.state}{why}, exit {job.exit_code or '?'}{last}"
        if job.state == "UNKNOWN" and not self.session_ended:
            return (f"Slurm does not know job {job.job_id} (any more) and the sweep did not run "
                    f"to its end{last}")
        if not self.rows:
            return f"job {job.job_id} measured no point (output: {self.path / self.output_name})"
        if failed:
            return f"{len(failed)} of {len(self.rows)} point(s) failed; logs in {self.path}/points"
        if len(self.rows) < self.points:
            return f"job {job.job_id} measured {len(self.rows)} of {self.points} point(s)"
        return ""

    @property
    def output_name(self) -> str:
        return self.manifest["slurm"].get("output", f"slurm-{self.job.job_id}.out")


def _rows(path: Path) -> list[dict]:
    """summary.csv's rows, typed (none before the job has finished its first point)."""
    from convbench.reporting.stats import points
    from convbench.results.store import load
    if not (path / SUMMARY).is_file():
        return []
    try:
        return points(load(path).summary)
    except UsageError:
        return []


def collect(path: str | Path) -> Collected:
    """How a sweep submitted with --launcher slurm stands; records the job's end in its manifest."""
    import json
    d = Path(path)
    try:
        manifest = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
        job_id = str(manifest["slurm"]["job_id"])
    except FileNotFoundError:
        raise UsageError(f"{str(d)!r} is not a convbench sweep directory (no {MANIFEST})") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{d / MANIFEST} is unreadable or corrupt ({e})") from None
    except (KeyError, TypeError):
        raise UsageError(f"{str(d)!r} is not a sweep submitted with --launcher slurm "
                         "(its manifest names no Slurm job)") from None
    if not JOB_ID.match(job_id) or not isinstance(manifest.get("sessions", []), list):
        raise UsageError(f"{d / MANIFEST} is corrupt: its slurm.job_id is not a job id")
    job = job_state(job_id)
    sessions = manifest.get("sessions") or []
    ours = sessions[manifest["slurm"].get("sessions_before", 0):]
    ended = bool(ours and ours[-1].get("finished") and not ours[-1].get("interrupted"))
    # a job Slurm no longer knows has ended; its session in the manifest says how
    finished = job.state == "UNKNOWN" or not job.active
    c = Collected(d, manifest, job, finished, ended, _rows(d))
    c.output_tail = tail(d / c.output_name, 5)
    if finished and job.state != "UNKNOWN" and manifest["slurm"].get("state") != job.state:
        _record_end(d, job)
    return c


def _record_end(d: Path, job: "JobState") -> None:
    """The job's end in the manifest, under the directory's lock (engine.lock), re-read inside
    it, so a writer still finishing there loses nothing. Held by another process: nothing is
    written now (the next collect records it)."""
    import json
    from convbench.engine.lock import SweepLock
    try:
        with SweepLock(d):
            manifest = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
            manifest["slurm"].update(state=job.state, exit_code=job.exit_code,
                                     collected=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            write_json(d / MANIFEST, manifest)
    except UsageError:
        pass
